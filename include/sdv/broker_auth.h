/*
 * sdv/broker_auth.h - access control and data governance of sdv-broker (issue 6): JWT access
 * tokens, scopes, purposes, per-token rate limits and a hash-chained audit log. The daemon
 * verifies a token once per connection (or per request that carries one), keeps the resulting
 * struct sdv_auth_token for the session, and asks sdv_auth_request() on every get/set/subscribe
 * and sdv_auth_check() on every subscription event. See docs/broker-auth.md for the rules.
 *
 * Tokens (RFC 9068 JWT access tokens, RFC 7519/7515 compact JWS):
 *   header  typ "at+jwt" or "application/at+jwt" (and "JWT" only with accept_typ_jwt),
 *           alg "ES256" (P-256, signature r||s, 64 bytes) or "EdDSA" (Ed25519), optional kid;
 *           "crit" is refused (we implement no extension); jku/jwk/x5u are ignored: keys come
 *           only from the configuration.
 *   claims  exp (required), aud (required, string or array, must contain the audience),
 *           sub (required), nbf and iat (optional, checked with the leeway), iss (must equal
 *           the configured issuer when one is set), vin (must equal the configured VIN; a token
 *           with a vin is refused by a broker configured without one), jti and client_id/azp
 *           (optional, used for rate limits and the audit log), and exactly one of
 *           scope (space-separated, grammar below) or purpose (name of a configured purpose).
 *   The alg must belong to the type of the key that checks it: an ES256 token is never checked
 *   with an Ed25519 key and vice versa; "none", HS* and RS* are refused outright.
 *
 * Scope grammar (like KUKSA databroker's):
 *   scope   = grant *( " " grant )
 *   grant   = action ":" pattern          read | actuate | provide
 *   pattern = seg *( "." seg )            seg = 1*( ALPHA / DIGIT / "_" ) / "*"
 * A pattern covers every path whose first segments match it (its whole subtree); "*" matches
 * exactly one segment. actuate and provide imply read. Space-separated values without a ':'
 * or with another action before it (OAuth scopes such as "openid") are ignored; a grant with
 * one of our actions and a malformed pattern makes the whole token invalid.
 *
 * Statuses map to VISS error objects: sdv_auth_status_http() gives the number,
 * sdv_auth_status_viss() the reason ("invalid_token", ...), and every denying call writes a
 * human-readable message (never containing token bytes) for the "message"/"description".
 *
 * Thread safety: configure the context (keys, purposes, audit) before sharing it. After that,
 * sdv_auth_verify(), sdv_auth_check() and sdv_auth_request() may be called from several
 * threads at once (the rate table and the audit log have their own locks); a struct
 * sdv_auth_cache belongs to one thread (one session) at a time.
 */
#ifndef SDV_BROKER_AUTH_H
#define SDV_BROKER_AUTH_H

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The actions a grant allows, as bits of a mask. */
enum sdv_auth_action {
    SDV_AUTH_READ = 1u,    /* get, subscribe */
    SDV_AUTH_ACTUATE = 2u, /* set of an actuator's target value */
    SDV_AUTH_PROVIDE = 4u, /* publish sensor values, execute actuations */
};

/* "read", "actuate", "provide"; "?" for anything else. Static string. */
const char *sdv_auth_action_name(enum sdv_auth_action action);

/*
 * The decision of an access check and its VISS error: X(NAME, number, http status, VISS
 * reason). The numbers are stable. UNAVAILABLE means the broker could not decide (out of
 * memory, the audit log cannot be written for an actuation): the request is refused.
 */
#define SDV_AUTH_STATUS_MAP(X)                        \
    X(OK, 0, 200, "ok")                               \
    X(MISSING_TOKEN, 1, 401, "missing_token")         \
    X(INVALID_TOKEN, 2, 401, "invalid_token")         \
    X(EXPIRED_TOKEN, 3, 401, "expired_token")         \
    X(FORBIDDEN, 4, 403, "forbidden_request")         \
    X(TOO_MANY_REQUESTS, 5, 429, "too_many_requests") \
    X(UNAVAILABLE, 6, 503, "service_unavailable")

enum sdv_auth_status {
#define SDV_AUTH_STATUS_ENUM_(name, num, http, viss) SDV_AUTH_##name = num,
    SDV_AUTH_STATUS_MAP(SDV_AUTH_STATUS_ENUM_)
#undef SDV_AUTH_STATUS_ENUM_
};

/* HTTP status / VISS error number of a status (500 for an unknown value). */
int sdv_auth_status_http(enum sdv_auth_status status);
/* VISS error reason of a status ("invalid_token", ...). Static string, never NULL. */
const char *sdv_auth_status_viss(enum sdv_auth_status status);

/* Current time in milliseconds since the Unix epoch. Injected so that tests and simulations
 * control expiry and rate limits; the daemon passes the wall clock (CLOCK_REALTIME). */
typedef int64_t (*sdv_auth_clock_fn)(void *ud);

/* Configuration of a context. Strings are copied by sdv_auth_create(). */
struct sdv_auth_config {
    const char *audience;    /* required: the value the aud claim must contain */
    const char *issuer;      /* NULL: any iss is accepted; else iss must be equal */
    const char *vin;         /* the vehicle's VIN; NULL: tokens carrying a vin claim are refused */
    int accept_typ_jwt;      /* non-zero: typ "JWT" is accepted besides "at+jwt" */
    uint32_t leeway_s;       /* allowed clock skew for exp/nbf/iat, <= SDV_AUTH_LEEWAY_S_MAX */
    uint32_t rate_per_s;     /* sustained requests per second per token; 0: no rate limit */
    uint32_t burst;          /* bucket size in requests; 0: rate_per_s */
    uint32_t buckets_max;    /* rate buckets kept (LRU eviction); 0: SDV_AUTH_BUCKETS_DEFAULT */
    sdv_auth_clock_fn clock; /* required */
    void *clock_ud;
};

/* The verifier context: keys, purposes, rate buckets, audit sink. Opaque. */
struct sdv_auth;

/* Creates a context. SDV_EINVAL when audience or clock is missing, a string is longer than
 * SDV_AUTH_CLAIM_LEN_MAX, leeway_s or buckets_max is above its maximum. Caller destroys. */
enum sdv_err sdv_auth_create(const struct sdv_auth_config *cfg, struct sdv_auth **out);

/* Frees the context, its keys and buckets (not the audit log, which is borrowed). NULL: no-op.
 * Tokens verified by the context stay valid (they hold copies of what they need). */
void sdv_auth_destroy(struct sdv_auth *a);

/*
 * Adds a public key (PEM; a private key PEM is accepted and only its public half is used)
 * that may sign tokens. kid (NULL: none) is the key id tokens name in their header; a token
 * with a kid is checked only with the key of that kid, a token without one with every key of
 * the matching type. Only Ed25519 and P-256 keys: SDV_EUNSUPPORTED for others, SDV_EPARSE for
 * bad PEM, SDV_EEXIST for a duplicate kid, SDV_ELIMIT past SDV_AUTH_KEYS_MAX.
 */
enum sdv_err sdv_auth_add_key_pem(struct sdv_auth *a, const char *kid, const void *pem, size_t len);
/* The same from a file (read with sdv_key_load_pem_file()). */
enum sdv_err sdv_auth_add_key_file(struct sdv_auth *a, const char *kid, const char *path);

/*
 * Replaces the configured purposes with those of a JSON document (borrowed; usually parsed
 * with sdv_json_parse() by the daemon):
 *   {"purposes": {"<name>": {"expires": "2030-01-01T00:00:00Z",
 *                            "not_before": "2025-01-01T00:00:00Z",        (optional)
 *                            "description": "...",                       (optional)
 *                            "grants": ["read:Vehicle.Speed", "actuate:Vehicle.Cabin.HVAC"]}}}
 * Names are 1..SDV_AUTH_NAME_LEN_MAX characters of [A-Za-z0-9_.:-]; grants use the scope
 * grammar. Unknown fields are refused (a typo must not silently widen or narrow access). On any
 * error nothing changes, SDV_EPARSE (or SDV_ELIMIT, SDV_ENOMEM) is returned and err receives a
 * message naming the purpose and field. Tokens verified before keep the purpose they got.
 * Not synchronised with sdv_auth_verify(): a daemon that reloads purposes at run time holds its
 * own lock around both.
 */
enum sdv_err sdv_auth_set_purposes(struct sdv_auth *a, const json_t *config, char *err,
                                   size_t err_len);

/* ---- Tokens ----------------------------------------------------------------------------- */

/* A verified token: who, until when, and its compiled grants. Opaque, immutable. */
struct sdv_auth_token;

/*
 * Verifies a compact JWS access token (token[0..len), without "Bearer ") at the context's
 * current time and compiles its grants. Returns SDV_AUTH_OK and *out (caller destroys), or:
 *   MISSING_TOKEN      len 0 / NULL token
 *   INVALID_TOKEN      malformed, oversized (> SDV_AUTH_TOKEN_LEN_MAX), bad signature, unknown
 *                      kid, wrong alg or typ, wrong aud/iss/vin, not yet valid (nbf, iat)
 *   EXPIRED_TOKEN      exp (plus leeway) has passed
 *   FORBIDDEN          valid token whose purpose is unknown, not yet valid or expired, or
 *                      that grants nothing this broker knows
 *   UNAVAILABLE        out of memory
 * and writes a message into msg (msg_len bytes, may be NULL). Every refusal is also written
 * to the audit log (action "authenticate"; subject only once the signature is good), within
 * the denial budget described at sdv_auth_request().
 */
enum sdv_auth_status sdv_auth_verify(struct sdv_auth *a, const char *token, size_t len,
                                     struct sdv_auth_token **out, char *msg, size_t msg_len);

/*
 * Finds the token in an HTTP Authorization header value: "Bearer" (any case), one or more
 * spaces, the token, optional trailing spaces (RFC 6750 section 2.1). *tok points into value.
 * SDV_EPARSE for another scheme or an empty token.
 */
enum sdv_err sdv_auth_bearer(const char *value, const char **tok, size_t *len);

/* Accessors. Strings are owned by the token; "" when the claim is absent. */
const char *sdv_auth_token_subject(const struct sdv_auth_token *t);
const char *sdv_auth_token_client(const struct sdv_auth_token *t); /* client_id, else azp */
const char *sdv_auth_token_id(const struct sdv_auth_token *t);     /* jti */
const char *sdv_auth_token_purpose(const struct sdv_auth_token *t);
/* The instant the token stops granting anything: exp, or the purpose's expiry if earlier. */
int64_t sdv_auth_token_expiry_ms(const struct sdv_auth_token *t);
/* The action mask the token grants on a path (no expiry check). */
unsigned sdv_auth_token_actions(const struct sdv_auth_token *t, const char *path);

/* NULL is a no-op. */
void sdv_auth_token_destroy(struct sdv_auth_token *t);

/* ---- Grants (scope sets), usable without a token ---------------------------------------- */

/* A compiled set of grants: patterns and their action masks. Opaque, immutable. */
struct sdv_auth_grants;

/*
 * Compiles a scope string (scope grammar above; at most SDV_AUTH_GRANTS_MAX grants). Foreign
 * values are skipped as described. SDV_EPARSE with a message in err for a malformed grant,
 * SDV_ELIMIT for too many, SDV_ENOMEM. Caller destroys with sdv_auth_grants_destroy().
 */
enum sdv_err sdv_auth_grants_parse(const char *scope, size_t len, struct sdv_auth_grants **out,
                                   char *err, size_t err_len);

/*
 * Returns the mask of actions the grants allow on a dotted signal path (0: none). Costs one
 * pass over the path per grant, with no allocation. Paths are expected to be catalog paths
 * (the daemon resolves them first): only the levels a pattern names are examined, and an
 * empty one among those never matches.
 */
unsigned sdv_auth_grants_actions(const struct sdv_auth_grants *g, const char *path);

/* Number of grants. */
size_t sdv_auth_grants_count(const struct sdv_auth_grants *g);

/* NULL is a no-op. */
void sdv_auth_grants_destroy(struct sdv_auth_grants *g);

/* ---- Checks ----------------------------------------------------------------------------- */

/*
 * Per-session cache of decisions by signal id (the broker catalog's dense index), so the check
 * on a subscription event is one array load after the first event of each signal. It remembers
 * the token it was filled for and refills itself when a different token is passed. Allocates
 * signals bytes at creation, nothing afterwards. Caller destroys. SDV_EINVAL for 0 signals or
 * more than SDV_AUTH_CACHE_SIGNALS_MAX.
 */
struct sdv_auth_cache;
enum sdv_err sdv_auth_cache_create(uint32_t signals, struct sdv_auth_cache **out);
/* NULL is a no-op. */
void sdv_auth_cache_destroy(struct sdv_auth_cache *c);

/*
 * The check of a subscription event (or any check that must not be logged): OK if the token
 * is still valid (exp and purpose expiry, read from the context's clock) and grants action on
 * path; EXPIRED_TOKEN or FORBIDDEN otherwise. With a cache (may be NULL) and a signal_id below
 * its size, path is only looked at the first time. Never allocates, never audits, never takes a
 * lock. t, path borrowed.
 */
enum sdv_auth_status sdv_auth_check(struct sdv_auth *a, const struct sdv_auth_token *t,
                                    const char *path, enum sdv_auth_action action,
                                    struct sdv_auth_cache *cache, uint32_t signal_id);

/*
 * The check of a request (get, set, subscribe, provide), called once per client request with
 * the path as the client gave it (a branch is a path too; the daemon then checks each leaf it
 * expands to with sdv_auth_check()): token validity, then the rate limit
 * (TOO_MANY_REQUESTS), then the grants (FORBIDDEN). Writes an audit line for every actuation
 * and every denial. Denial lines (of this call and of sdv_auth_verify()) are limited to
 * SDV_AUTH_AUDIT_DENIALS_PER_S per second; the ones over the budget are counted in the next
 * line's "suppressed" field, so a flood cannot fill the disk.
 * An actuation that cannot be logged is refused with UNAVAILABLE (the log is the record of who
 * moved what). t may be NULL (no token): MISSING_TOKEN. msg as in sdv_auth_verify().
 */
enum sdv_auth_status sdv_auth_request(struct sdv_auth *a, const struct sdv_auth_token *t,
                                      const char *path, enum sdv_auth_action action, char *msg,
                                      size_t msg_len);

/*
 * The check of every further signal of a request that sdv_auth_request() admitted (a GET of
 * several signals, a branch expanded to its leaves, the entries of a PUBLISH): the same token
 * validity and grant checks and the same audit lines as sdv_auth_request(), but nothing is taken
 * from the rate bucket, so a request costs one take whatever number of signals it names.
 * Hot paths check with sdv_auth_check() first and call this only for a denial or an actuation
 * (which must be audited). Same arguments and results as sdv_auth_request(), never
 * TOO_MANY_REQUESTS.
 */
enum sdv_auth_status sdv_auth_request_more(struct sdv_auth *a, const struct sdv_auth_token *t,
                                           const char *path, enum sdv_auth_action action, char *msg,
                                           size_t msg_len);

/*
 * Takes one request from the token's rate bucket (keyed by jti, else sub): OK or
 * TOO_MANY_REQUESTS. sdv_auth_request() calls it; exposed for requests that touch no path.
 * Always OK when rate_per_s is 0.
 */
enum sdv_auth_status sdv_auth_rate_take(struct sdv_auth *a, const struct sdv_auth_token *t);

/* ---- Audit log -------------------------------------------------------------------------- */

/*
 * Append-only JSON lines, one object per event, each carrying the SHA-256 of the line before
 * it, so that editing, removing or reordering lines breaks the chain (truncation at the end is
 * only detectable against a copy of the last hash kept elsewhere). Fields, in this order:
 *   seq (1, 2, ...), time (RFC 3339), time_ms, sub, client, action, path, result ("allowed" or
 *   "denied"), status (HTTP), error (VISS reason, "" when allowed), reason, suppressed
 *   (refusals not written since the previous line), prev (hex SHA-256 of the previous line
 *   including its newline; 64 zeros for the first line).
 * Token bytes are never written.
 */
struct sdv_auth_audit;

/* Receives one complete line (with its '\n'). Returning an error makes the write fail. */
typedef enum sdv_err (*sdv_auth_audit_write_fn)(void *ud, const char *line, size_t len);

/* A log that hands its lines to fn, starting at seq 1 with a zero prev hash. Caller
 * destroys. */
enum sdv_err sdv_auth_audit_create(sdv_auth_audit_write_fn fn, void *ud,
                                   struct sdv_auth_audit **out);

/*
 * A log appended to a file (created 0600 if missing). An existing file continues its chain:
 * its last line gives seq and prev. A torn last line (no newline, left by a crash in the middle
 * of a write) is cut off first; a last line that does not parse is SDV_EPARSE (err says why).
 * With sync_each, every line is fsync()ed before the write returns. One open log per file: a
 * write that fails part-way is cut back to the last complete line, which assumes no other
 * writer appends meanwhile.
 */
enum sdv_err sdv_auth_audit_open(const char *path, int sync_each, struct sdv_auth_audit **out,
                                 char *err, size_t err_len);

/* Closes the file (if any) and frees. NULL is a no-op. */
void sdv_auth_audit_destroy(struct sdv_auth_audit *au);

/* One event. Strings are borrowed; NULL is written as "". */
struct sdv_auth_audit_record {
    int64_t time_ms;
    const char *subject;
    const char *client;
    const char *action; /* "read", "actuate", "provide", "authenticate", ... */
    const char *path;
    enum sdv_auth_status status; /* SDV_AUTH_OK: result "allowed" */
    const char *reason;
    uint64_t suppressed;
};

/* Appends one line. Safe from several threads (lines are serialised). SDV_EIO or the write
 * callback's error when it could not be written; the chain is then unchanged. */
enum sdv_err sdv_auth_audit_write(struct sdv_auth_audit *au,
                                  const struct sdv_auth_audit_record *rec);

/* Makes sdv_auth_verify() and sdv_auth_request() write to au (borrowed; NULL: no audit). */
void sdv_auth_set_audit(struct sdv_auth *a, struct sdv_auth_audit *au);

/*
 * Checks a whole log: every line is a JSON object of the format above, seq counts from 1,
 * and prev is the hash of the line before. *lines (may be NULL) receives the number of good
 * lines. SDV_EHASH for a broken chain or sequence, SDV_EPARSE for a malformed line or a torn
 * end; err names the line. Streams the file in bounded memory.
 */
enum sdv_err sdv_auth_audit_verify_file(const char *path, uint64_t *lines, char *err,
                                        size_t err_len);

/* ---- Minting (tests, demo, tools) ------------------------------------------------------- */

/*
 * Signs a token: header {"alg", "typ": "at+jwt", "kid" if non-NULL} and the claims object
 * (borrowed, written compactly as is). key must hold a private Ed25519 (alg "EdDSA") or P-256
 * (alg "ES256") key. Appends the compact JWS to out. SDV_EINVAL for a public-only key,
 * SDV_EUNSUPPORTED for another key type, SDV_ETOOBIG past SDV_AUTH_TOKEN_LEN_MAX.
 */
enum sdv_err sdv_auth_token_mint(const struct sdv_key *key, const char *kid, const json_t *claims,
                                 struct sdv_buf *out);

#ifdef __cplusplus
}
#endif
#endif /* SDV_BROKER_AUTH_H */
