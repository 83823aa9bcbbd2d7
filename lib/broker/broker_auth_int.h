/*
 * broker_auth_int.h - declarations shared by the broker_auth*.c files only (access control of
 * sdv-broker). Never included from another module or from the broker core.
 */
#ifndef SDV_BROKER_AUTH_INT_H
#define SDV_BROKER_AUTH_INT_H

#include <pthread.h>

#include <sdv/broker_auth.h>

/*
 * A compiled grant: the pattern's segments stored back to back in text (without dots), each
 * with its offset and length; a "*" segment has len 0. mask already includes the implied read.
 */
struct auth_grant {
    uint16_t seg_off[SDV_AUTH_PATH_SEGMENTS_MAX];
    uint8_t seg_len[SDV_AUTH_PATH_SEGMENTS_MAX];
    uint8_t segs;
    uint8_t mask;
    char text[SDV_AUTH_PATH_LEN_MAX];
};

struct sdv_auth_grants {
    size_t n;
    struct auth_grant g[]; /* n entries */
};

/* Compiles one grant "action:pattern". 1: compiled into *out; 0: foreign value (skipped);
 * -1: malformed (message in err). */
int auth_grant_compile(const char *s, size_t len, struct auth_grant *out, char *err,
                       size_t err_len);

/* Parses a grants array of strings (a purpose's "grants"). */
enum sdv_err auth_grants_from_json(const json_t *arr, struct sdv_auth_grants **out, char *err,
                                   size_t err_len);

/* A copy of grants (tokens copy their purpose's). */
enum sdv_err auth_grants_dup(const struct sdv_auth_grants *g, struct sdv_auth_grants **out);

/* A configured purpose. */
struct auth_purpose {
    char name[SDV_AUTH_NAME_LEN_MAX + 1];
    int64_t not_before_ms; /* INT64_MIN: none */
    int64_t expires_ms;
    struct sdv_auth_grants *grants; /* owned */
};

struct auth_key {
    char kid[SDV_AUTH_CLAIM_LEN_MAX + 1];
    int has_kid;
    struct sdv_key *key; /* owned */
};

/* A rate bucket. key_hash 0 marks a free slot. level is in thousandths of a request. */
struct auth_bucket {
    uint64_t key_hash;
    int64_t last_ms;
    uint64_t level_milli;
};

struct sdv_auth {
    char audience[SDV_AUTH_CLAIM_LEN_MAX + 1];
    char issuer[SDV_AUTH_CLAIM_LEN_MAX + 1];
    char vin[SDV_AUTH_CLAIM_LEN_MAX + 1];
    int has_issuer, has_vin, accept_typ_jwt;
    int64_t leeway_ms;
    sdv_auth_clock_fn clock;
    void *clock_ud;

    struct auth_key keys[SDV_AUTH_KEYS_MAX];
    size_t nkeys;

    struct auth_purpose *purposes; /* owned, sorted by name */
    size_t npurposes;

    struct sdv_auth_audit *audit; /* borrowed */
    pthread_mutex_t deny_lock;    /* the audit budget of denials, and token_serial */
    int64_t deny_window_s;
    uint32_t deny_count;
    uint64_t deny_suppressed;

    uint32_t rate_per_s, burst;
    pthread_mutex_t rate_lock;
    struct auth_bucket *buckets; /* buckets_max slots, open addressing */
    uint32_t buckets_max;

    uint64_t token_serial; /* guarded by deny_lock; tells caches which token they hold */
};

struct sdv_auth_token {
    char sub[SDV_AUTH_CLAIM_LEN_MAX + 1];
    char client[SDV_AUTH_CLAIM_LEN_MAX + 1];
    char jti[SDV_AUTH_CLAIM_LEN_MAX + 1];
    char purpose[SDV_AUTH_NAME_LEN_MAX + 1];
    int64_t exp_ms;                 /* exp plus the leeway */
    int64_t expiry_ms;              /* min(exp_ms, the purpose's expiry) */
    uint64_t serial;                /* unique per context, never 0 */
    uint64_t rate_key;              /* hash of jti, else sub; never 0 */
    struct sdv_auth_grants *grants; /* owned */
};

/* Copies src into dst (dst_len bytes) and NUL-terminates; 0 if it did not fit (dst then
 * holds ""). */
int auth_strlcpy(char *dst, size_t dst_len, const char *src);

/* Copies at most buf_len - 1 bytes of s[0..len) (len may be SIZE_MAX for a C string) into buf
 * for a message, printable ASCII only ('"' and every other byte become '?'), so that messages
 * are always valid UTF-8 and JSON-safe however the input was cut. Returns buf. */
const char *auth_printable(const char *s, size_t len, char *buf, size_t buf_len);

/* base64url without padding (RFC 7515 section 2). */
enum sdv_err auth_b64url_decode(const char *s, size_t len, uint8_t *out, size_t out_max,
                                size_t *out_len);
enum sdv_err auth_b64url_append(struct sdv_buf *b, const uint8_t *p, size_t n);

/* 64-bit FNV-1a hash, never 0. */
uint64_t auth_hash64(const char *s);

/* Writes an audit line for a denial, within the per-second budget of denial lines (the ones
 * over it are counted in the next line's "suppressed"). t may be NULL. */
void auth_audit_denial(struct sdv_auth *a, const struct sdv_auth_token *t, const char *action,
                       const char *path, enum sdv_auth_status st, const char *reason);

#endif /* SDV_BROKER_AUTH_INT_H */
