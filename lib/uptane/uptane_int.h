/*
 * uptane_int.h - private to lib/uptane: error reporting, strict JSON field readers, hash lists
 * and the sign/verify helpers shared by the director, the vehicle checks and the manifests.
 */
#ifndef SDV_UPTANE_INT_H
#define SDV_UPTANE_INT_H

#include <stdbool.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>
#include <sdv/tuf.h>
#include <sdv/uptane.h>

/* Clears e (NULL is a no-op). */
void uptane_err_clear(struct sdv_uptane_err *e);

/*
 * Records a failure and returns code, so callers write `return uptane_fail(...)`. The message is
 * "ECU <ecu>: <rule description>: <detail>" (without the ECU part when ecu is NULL or "", and
 * without ": <detail>" when fmt is ""). e may be NULL.
 */
enum sdv_err uptane_fail(struct sdv_uptane_err *e, enum sdv_err code, enum sdv_uptane_rule rule,
                         const char *ecu, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* Maps a library failure (ENOMEM, ECRYPTO) to rule INTERNAL; any other code to rule. */
enum sdv_err uptane_fail_lib(struct sdv_uptane_err *e, enum sdv_err code, const char *ecu,
                             const char *what);

/* Strict field readers. Each returns SDV_OK or records MALFORMED (SDV_EPARSE), or TOO_BIG
 * (SDV_ETOOBIG) for a string longer than len_max, naming `what` and `ecu`. */
enum sdv_err uptane_get_string(const json_t *obj, const char *key, size_t len_max, const char *what,
                               const char *ecu, struct sdv_uptane_err *e, const char **out);
enum sdv_err uptane_get_uint(const json_t *obj, const char *key, const char *what, const char *ecu,
                             struct sdv_uptane_err *e, uint64_t *out);
enum sdv_err uptane_get_object(const json_t *obj, const char *key, const char *what,
                               const char *ecu, struct sdv_uptane_err *e, const json_t **out);

/* Requires obj to have exactly the keys listed (a NULL-terminated list): MALFORMED naming the
 * first missing or unexpected key otherwise. */
enum sdv_err uptane_exact_keys(const json_t *obj, const char *const *keys, const char *what,
                               const char *ecu, struct sdv_uptane_err *e);

/* Copies s into out (out_len bytes), which must be large enough (abort() otherwise). */
void uptane_copy_str(char *out, size_t out_len, const char *s);

/* Parses a "hashes" object {alg: hex} into hashes[]/count: 1..SDV_TUF_TARGET_HASHES_MAX known
 * algorithms with digests of the right length. */
enum sdv_err uptane_hashes_parse(const json_t *obj, const char *what, const char *ecu,
                                 struct sdv_uptane_err *e, struct sdv_tuf_hash *hashes,
                                 size_t *count);

/* Builds a "hashes" object from a hash list (new reference). Checks count and distinctness:
 * SDV_EINVAL with rule ARGUMENT. */
enum sdv_err uptane_hashes_json(const struct sdv_tuf_hash *hashes, size_t count, const char *what,
                                const char *ecu, struct sdv_uptane_err *e, json_t **out);

/* Index of the hash of alg in hashes, or -1. */
int uptane_hash_find(const struct sdv_tuf_hash *hashes, size_t count, enum sdv_hash_alg alg);

/* Checks the shape of a "signatures" array: 1..SDV_UPTANE_SIGNATURES_MAX objects with exactly
 * string "keyid" and "sig" (hex, at most SDV_SIG_LEN_MAX bytes). MALFORMED / TOO_BIG. */
enum sdv_err uptane_signatures_shape(const json_t *sigs, const char *what, const char *ecu,
                                     struct sdv_uptane_err *e);

/*
 * Counts the distinct keys among keys[0..count) with a valid signature in envelope (an object
 * with "signed" and a well-shaped "signatures" array) over the canonical JSON of "signed".
 * Returns SDV_OK and sets *valid, or a library error (ENOMEM, ECRYPTO) or SDV_EUNSUPPORTED when
 * "signed" has no canonical form (a real number).
 */
enum sdv_err uptane_count_signatures(const json_t *envelope, const struct sdv_key *const *keys,
                                     size_t count, size_t *valid);

/* Adds the signature of key to envelope (sdv_tuf_sign_json), mapping failures to rule KEY. */
enum sdv_err uptane_sign(json_t *envelope, const struct sdv_key *key, const char *what,
                         const char *ecu, struct sdv_uptane_err *e);

/* Parses untrusted bytes as a JSON object (at most len_max bytes). MALFORMED / TOO_BIG. */
enum sdv_err uptane_parse_object(const void *data, size_t len, size_t len_max, const char *what,
                                 struct sdv_uptane_err *e, json_t **out);

/* Appends compact JSON with sorted keys to out. SDV_ETOOBIG when out->max is reached. */
enum sdv_err uptane_dump_compact(const json_t *v, struct sdv_buf *out);

/* Checks an identifier (serial, hardware id, VIN): non-NULL, 1..len_max bytes. */
bool uptane_id_ok(const char *s, size_t len_max);

#endif /* SDV_UPTANE_INT_H */
