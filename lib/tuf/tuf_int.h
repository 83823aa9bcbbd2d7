/*
 * tuf_int.h - private to lib/tuf: the parsed metadata model shared by the client files.
 *
 * Parsing validates every field the client relies on and keeps the parsed JSON document (which
 * carries unknown fields) alive next to the raw bytes it came from; the structures below point
 * into that document.
 */
#ifndef SDV_TUF_INT_H
#define SDV_TUF_INT_H

#include <stdbool.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>
#include <sdv/tuf.h>

enum tuf_role_type {
    TUF_ROOT = 0,
    TUF_TIMESTAMP = 1,
    TUF_SNAPSHOT = 2,
    TUF_TARGETS = 3,
};

/* One key listed in root or in delegations. key is NULL when its type or scheme is not
 * supported: such a key is kept (it is part of the signed content) but never verifies. */
struct tuf_key {
    const char *keyid; /* borrowed from the document */
    struct sdv_key *key;
    /* Our own id of the public key (sdv_key_id): the same key listed under two keyids (another
     * spelling of the key object) has one canonical id, so it counts once towards a threshold. */
    char canon_id[SDV_KEYID_STR_LEN];
};

struct tuf_keyring {
    struct tuf_key *keys;
    size_t count;
};

/* A role as a delegating role names it: which keys may sign and how many must. */
struct tuf_role_keys {
    const char **keyids; /* borrowed from the document, unique */
    size_t keyid_count;
    uint64_t threshold;
};

/* Common header of every metadata file. */
struct tuf_meta {
    json_t *doc; /* the whole parsed file; owns all borrowed strings */
    const json_t *signed_obj;
    struct sdv_buf raw; /* exact bytes as downloaded or read */
    int64_t version;
    int64_t expires;
    enum tuf_role_type type;
};

/* Length and hashes of another file as a metadata file lists them (timestamp's snapshot entry,
 * snapshot's targets entries). length -1 and hashes NULL when absent. */
struct tuf_metafile {
    int64_t version;
    int64_t length;
    const json_t *hashes;
};

struct tuf_root {
    struct tuf_meta meta;
    bool consistent_snapshot;
    struct tuf_keyring keyring;
    struct tuf_role_keys roles[4]; /* indexed by enum tuf_role_type */
};

struct tuf_timestamp {
    struct tuf_meta meta;
    struct tuf_metafile snapshot;
};

struct tuf_snapshot {
    struct tuf_meta meta;
    const json_t *files; /* "meta" object: "<role>.json" -> metafile, validated at parse */
};

struct tuf_delegated_role {
    const char *name;
    struct tuf_role_keys keys;
    bool terminating;
    const json_t *paths;         /* array of strings or NULL */
    const json_t *hash_prefixes; /* array of strings or NULL */
};

struct tuf_targets {
    struct tuf_meta meta;
    const json_t *targets; /* path -> target file object, validated at parse */
    bool has_delegations;
    struct tuf_keyring delegation_keys;
    struct tuf_delegated_role *roles;
    size_t role_count;
    /* succinct hash-bin delegation (roles is empty then) */
    bool succinct;
    struct tuf_role_keys succinct_keys;
    unsigned succinct_bit_len;
    const char *succinct_prefix;
};

/* Error detail: parse and verify functions write a sentence into msg (msg_len bytes). */
struct tuf_err {
    char *msg;
    size_t msg_len;
};
void tuf_errf(struct tuf_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse raw bytes (taken: the buffer is moved into the result) of a metadata file of the given
 * type. role is used for messages. The result is zeroed on failure. */
enum sdv_err tuf_root_parse(struct sdv_buf *raw, struct tuf_root *out, struct tuf_err *e);
enum sdv_err tuf_timestamp_parse(struct sdv_buf *raw, struct tuf_timestamp *out, struct tuf_err *e);
enum sdv_err tuf_snapshot_parse(struct sdv_buf *raw, struct tuf_snapshot *out, struct tuf_err *e);
enum sdv_err tuf_targets_parse(struct sdv_buf *raw, const char *role, struct tuf_targets *out,
                               struct tuf_err *e);

void tuf_root_free(struct tuf_root *r);
void tuf_timestamp_free(struct tuf_timestamp *t);
void tuf_snapshot_free(struct tuf_snapshot *s);
void tuf_targets_free(struct tuf_targets *t);

/*
 * Verifies meta's signatures: at least keys->threshold distinct keyids listed in keys, present
 * in keyring with a supported type, whose signature over the canonical JSON of "signed" is
 * valid. SDV_ESIG with a message naming role and the count otherwise.
 */
enum sdv_err tuf_verify_signatures(const struct tuf_meta *meta, const char *role,
                                   const struct tuf_keyring *keyring,
                                   const struct tuf_role_keys *keys, struct tuf_err *e);

/* Looks up a metafile entry ("targets.json", "<role>.json") in a snapshot. SDV_ENOENT if absent. */
enum sdv_err tuf_snapshot_lookup(const struct tuf_snapshot *s, const char *file_name,
                                 struct tuf_metafile *out);

/* Checks that data has the length (if >= 0) and every hash in hashes (if non-NULL). Unknown hash
 * algorithms are an error (SDV_EUNSUPPORTED), a mismatch SDV_EHASH. what names the file. */
enum sdv_err tuf_check_length_hashes(const void *data, size_t len, int64_t length,
                                     const json_t *hashes, const char *what, struct tuf_err *e);

/* Does the delegated role's paths / hash prefixes cover target_path? */
bool tuf_role_matches(const struct tuf_delegated_role *role, const char *target_path);

/* Glob match where '*' and '?' never match '/', the pattern and path having the same number of
 * '/'-separated segments; also supports [set], [!set] and ranges inside one segment. */
bool tuf_path_match(const char *pattern, const char *path);

/* Fills *out from a target file object (validated at parse). SDV_EUNSUPPORTED on an unknown hash
 * algorithm, naming it in e. */
enum sdv_err tuf_target_from_json(const char *path, const json_t *obj, const char *role,
                                  struct sdv_tuf_target *out, struct tuf_err *e);

/* Name of the bin that a succinct delegation assigns target_path to, into out. */
enum sdv_err tuf_succinct_bin_name(const struct tuf_targets *t, const char *target_path, char *out,
                                   size_t out_len);

/* Calls the client's fetch callback (for target downloads). */
enum sdv_err tuf_client_fetch(struct sdv_tuf_client *c, const char *url, uint64_t max_len,
                              sdv_sink_fn sink, void *sink_ud);

#endif /* SDV_TUF_INT_H */
