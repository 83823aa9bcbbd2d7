/*
 * sdv/uptane.h - the pure-logic parts of Uptane 2.x on top of the TUF 1.0 core (sdv/tuf.h):
 *
 *   1. Director repository metadata for one vehicle (server side): root, targets, snapshot and
 *      timestamp built from the vehicle's ECUs and their assigned images, signed with the
 *      director keys, versions that only go up, and only the roles that changed re-signed.
 *   2. The Uptane checks a primary runs after lib/tuf has verified both repositories: the
 *      director's targets against the vehicle's ECUs and against the image repository.
 *   3. ECU version reports and vehicle version manifests: build and sign (vehicle side), parse
 *      and verify (server side).
 *
 * Nothing here does I/O, reads the clock or draws randomness: the caller passes `now` and a
 * random callback. Documents are exchanged as bytes; signatures are TUF-style
 * {"keyid", "sig"} objects over the canonical JSON of "signed" (sdv_cjson_write).
 *
 * Every failure returns an enum sdv_err and, when the caller passes a struct sdv_uptane_err,
 * the broken rule (a stable number), the ECU it concerns and a sentence naming both.
 *
 * Thread safety: every function is reentrant; objects passed in are only read, so one vehicle
 * description may be shared by several threads.
 */
#ifndef SDV_UPTANE_H
#define SDV_UPTANE_H

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>
#include <sdv/tuf.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Limits ------------------------------------------------------------------------------
 * Kept here rather than in sdv/limits.h while the module settles; each bounds what a hostile
 * vehicle or a compromised director can make the other side parse, store or loop over. */

/* The Uptane limits (SDV_UPTANE_*_MAX, nonce and attack text bounds) are in sdv/limits.h. */
/* What sdv_uptane_report_build draws from the random callback. */
#define SDV_UPTANE_NONCE_LEN     32
#define SDV_UPTANE_NONCE_HEX_LEN (2 * SDV_UPTANE_NONCE_LEN_MAX + 1)

/* Default lifetimes of director metadata (seconds). The director is online and re-signs on
 * demand, so only root (offline keys) lives long. A role is re-signed when less than half of
 * its lifetime is left (see sdv_uptane_director_build). */
#define SDV_UPTANE_DIRECTOR_ROOT_EXPIRY_S      (365 * 86400)
#define SDV_UPTANE_DIRECTOR_TARGETS_EXPIRY_S   (30 * 86400)
#define SDV_UPTANE_DIRECTOR_SNAPSHOT_EXPIRY_S  (30 * 86400)
#define SDV_UPTANE_DIRECTOR_TIMESTAMP_EXPIRY_S (1 * 86400)

/* ---- Errors ------------------------------------------------------------------------------ */

/*
 * The rule a document broke. Stable numbers (they appear in logs and in the server's store).
 * X(NAME, number, short description).
 */
#define SDV_UPTANE_RULE_MAP(X)                                                              \
    X(NONE, 0, "no error")                                                                  \
    X(ARGUMENT, 1, "invalid argument")                                                      \
    X(MALFORMED, 2, "malformed document")                                                   \
    X(TOO_BIG, 3, "size limit exceeded")                                                    \
    X(DELEGATIONS, 4, "director targets must not delegate")                                 \
    X(UNKNOWN_ECU, 5, "ECU is not part of the vehicle")                                     \
    X(DUPLICATE_ECU, 6, "ECU listed more than once")                                        \
    X(HARDWARE_ID, 7, "hardware id mismatch")                                               \
    X(NO_IMAGE, 8, "image repository does not list the target")                             \
    X(LENGTH, 9, "length differs between director and image repository")                    \
    X(HASH, 10, "hashes differ between director and image repository")                      \
    X(RELEASE_COUNTER, 11, "release counter differs between director and image repository") \
    X(ROLLBACK, 12, "release counter lower than the installed one")                         \
    X(SIGNATURE, 13, "signature missing or invalid")                                        \
    X(SERIAL_MISMATCH, 14, "report filed under another ECU serial")                         \
    X(VIN, 15, "manifest names another vehicle")                                            \
    X(PRIMARY, 16, "manifest names another primary ECU")                                    \
    X(NONCE, 17, "nonce malformed or of bad length")                                        \
    X(KEY, 18, "key missing, private half missing, or cannot sign")                         \
    X(CONFLICT, 19, "one target path with two different descriptions")                      \
    X(INTERNAL, 20, "library failure (memory, cryptography)")

enum sdv_uptane_rule {
#define SDV_UPTANE_RULE_ENUM_(name, num, msg) SDV_UPTANE_RULE_##name = num,
    SDV_UPTANE_RULE_MAP(SDV_UPTANE_RULE_ENUM_)
#undef SDV_UPTANE_RULE_ENUM_
};

/* "SDV_UPTANE_RULE_HASH" etc.; never NULL (unknown numbers included). Static string. */
const char *sdv_uptane_rule_name(enum sdv_uptane_rule rule);
/* The short description of the table above; never NULL. Static string. */
const char *sdv_uptane_rule_str(enum sdv_uptane_rule rule);

/* Detail of a failure, filled by every function that takes one (which may be NULL). On success
 * rule is NONE and the strings are empty. */
struct sdv_uptane_err {
    enum sdv_uptane_rule rule;
    char ecu_serial[SDV_UPTANE_ID_LEN_MAX + 1]; /* the ECU concerned, or "" */
    char msg[512]; /* "ECU ecu-7: hardware id mismatch: director says ..., ECU is ..." */
};

/* ---- The vehicle ------------------------------------------------------------------------- */

/* One ECU as the server registered it (or as the primary's configuration lists it). All
 * pointers are borrowed. Fields a function does not use may be left zero. */
struct sdv_uptane_ecu {
    const char *serial;      /* ECU identifier, unique in the vehicle */
    const char *hardware_id; /* hardware identifier (which images fit) */
    /* Public key of the ECU: verifies its version reports (manifest verification only). */
    const struct sdv_key *key;
    /* Release counter of the image installed now (vehicle-side rollback check only). */
    uint64_t installed_release_counter;
};

/* A vehicle. All pointers are borrowed. */
struct sdv_uptane_vehicle {
    const char *vin;
    const char *primary_ecu_serial;
    /* Public key the primary signs manifests with (manifest verification only). */
    const struct sdv_key *primary_key;
    const struct sdv_uptane_ecu *ecus;
    size_t ecu_count; /* at most SDV_UPTANE_ECUS_MAX */
};

/* An image as a target entry describes it. Borrowed pointers. */
struct sdv_uptane_image {
    const char *filepath; /* target path in both repositories */
    uint64_t length;
    size_t hash_count; /* 1..SDV_TUF_TARGET_HASHES_MAX, distinct algorithms */
    struct sdv_tuf_hash hashes[SDV_TUF_TARGET_HASHES_MAX];
    uint64_t release_counter; /* at most INT64_MAX (a JSON integer) */
};

/* ---- 1. Director repository metadata (server side) ---------------------------------------- */

/*
 * The director's keys. Borrowed. The targets, snapshot and timestamp keys are online and must
 * hold their private halves. The root keys are listed in root with root_threshold; root is
 * (re-)signed only when its content changes or it nears expiry, by every root key that holds a
 * private half plus every key in root_extra_signers (the previous root's keys during a
 * rotation, which TUF requires to sign the new root too). Keeping root keys offline therefore
 * works as long as root does not need to change: a previous root is reused byte for byte
 * until it expires (not renewed early when fewer than root_threshold private keys are given).
 */
struct sdv_uptane_director_keys {
    const struct sdv_key *const *root_keys;
    size_t root_key_count;   /* 1..SDV_UPTANE_ROOT_KEYS_MAX */
    unsigned root_threshold; /* 0 means 1 */
    const struct sdv_key *const *root_extra_signers;
    size_t root_extra_signer_count;
    const struct sdv_key *targets;
    const struct sdv_key *snapshot;
    const struct sdv_key *timestamp;
};

/* One assignment: the image an ECU must run. */
struct sdv_uptane_assignment {
    const char *ecu_serial; /* must be one of the vehicle's ECUs */
    struct sdv_uptane_image image;
};

/* The vehicle's previous director metadata: the exact bytes last produced (and served) for
 * each role, or NULL/0 for a first build. Borrowed. */
struct sdv_uptane_director_prev {
    const void *root;
    size_t root_len;
    const void *targets;
    size_t targets_len;
    const void *snapshot;
    size_t snapshot_len;
    const void *timestamp;
    size_t timestamp_len;
};

/* Options; a NULL config or a 0 field selects the default. */
struct sdv_uptane_director_config {
    int64_t root_lifetime_s;      /* default SDV_UPTANE_DIRECTOR_ROOT_EXPIRY_S */
    int64_t targets_lifetime_s;   /* default SDV_UPTANE_DIRECTOR_TARGETS_EXPIRY_S */
    int64_t snapshot_lifetime_s;  /* default SDV_UPTANE_DIRECTOR_SNAPSHOT_EXPIRY_S */
    int64_t timestamp_lifetime_s; /* default SDV_UPTANE_DIRECTOR_TIMESTAMP_EXPIRY_S */
    /* Non-zero: root says consistent_snapshot true, and the server must then serve snapshot
     * and targets as V.snapshot.json and V.targets.json (keeping older versions). Default
     * false: every vehicle fetches fixed names, and a vehicle that reads timestamp and snapshot
     * across a rebuild fails that cycle on the snapshot hash and retries on the next one. */
    int consistent_snapshot;
};

/* One role of the output. data is malloc()ed (NUL-terminated after len bytes) and owned by the
 * output; changed is non-zero when this call produced a new version (store and serve it), zero
 * when data is the previous bytes unchanged. */
struct sdv_uptane_role_out {
    uint8_t *data;
    size_t len;
    int64_t version;
    int64_t expires;
    int changed;
};

struct sdv_uptane_director_out {
    struct sdv_uptane_role_out root, targets, snapshot, timestamp;
};

/*
 * Builds the director metadata of one vehicle.
 *
 * targets lists one entry per distinct image path with custom
 *   {"ecu_identifiers": {SERIAL: {"hardware_id": H}, ...}, "release_counter": N}
 * (ECUs assigned the same path share the entry; their images must then be identical, else
 * SDV_EINVAL with rule CONFLICT) and never "delegations". snapshot lists targets.json with
 * version, length and sha256; timestamp lists snapshot.json likewise.
 *
 * Versions only go up: a role is rebuilt (version = previous + 1, expiry = now + lifetime, new
 * signature) when it has no previous version, its signed content differs from the previous one
 * (apart from version and expiry), the previous file is not signed by the current key, less
 * than half its lifetime is left, or the role it lists changed. Otherwise the previous bytes are
 * returned with changed = 0, so with unchanged assignments a call changes nothing until the
 * timestamp nears expiry, and then only the timestamp.
 *
 * keys, vehicle (vin, ecus with serial and hardware_id), assignments (assignment_count of them)
 * and prev are borrowed; prev may be NULL. On success *out holds all four roles: release it
 * with sdv_uptane_director_out_free(). On failure *out is empty.
 * Errors: SDV_EINVAL (bad or inconsistent input: unknown ECU, two assignments for one ECU,
 * missing key, ...), SDV_EPARSE (prev is not metadata this function could have produced),
 * SDV_ESIG (root must change but fewer than root_threshold root keys can sign here),
 * SDV_ENOMEM, SDV_ECRYPTO.
 */
enum sdv_err sdv_uptane_director_build(const struct sdv_uptane_director_keys *keys,
                                       const struct sdv_uptane_vehicle *vehicle,
                                       const struct sdv_uptane_assignment *assignments,
                                       size_t assignment_count,
                                       const struct sdv_uptane_director_prev *prev,
                                       const struct sdv_uptane_director_config *config, int64_t now,
                                       struct sdv_uptane_director_out *out,
                                       struct sdv_uptane_err *err);

/*
 * Re-signs the timestamp only: version + 1, expiry now + timestamp lifetime, pointing at the
 * previous snapshot bytes. For a periodic job that keeps idle vehicles' timestamps fresh without
 * loading their assignments. prev must hold all four roles (root, targets and snapshot are
 * returned unchanged). Same ownership and errors as sdv_uptane_director_build().
 */
enum sdv_err sdv_uptane_director_renew_timestamp(const struct sdv_uptane_director_keys *keys,
                                                 const struct sdv_uptane_director_prev *prev,
                                                 const struct sdv_uptane_director_config *config,
                                                 int64_t now, struct sdv_uptane_director_out *out,
                                                 struct sdv_uptane_err *err);

/* Frees the four buffers and zeroes *out. NULL is a no-op; freeing twice is harmless. */
void sdv_uptane_director_out_free(struct sdv_uptane_director_out *out);

/* ---- 2. Uptane checks on the vehicle ------------------------------------------------------ */

/* One director target for one ECU, as the checks return it. Owns its strings. */
struct sdv_uptane_target {
    char ecu_serial[SDV_UPTANE_ID_LEN_MAX + 1];
    char hardware_id[SDV_UPTANE_ID_LEN_MAX + 1];
    char filepath[SDV_TUF_NAME_LEN_MAX + 1];
    uint64_t length;
    size_t hash_count;
    struct sdv_tuf_hash hashes[SDV_TUF_TARGET_HASHES_MAX];
    uint64_t release_counter;
};

/* A list of director targets, one per ECU, in the order the director targets list them
 * (sorted by path, then by serial). Release with sdv_uptane_targets_free(). */
struct sdv_uptane_targets {
    struct sdv_uptane_target *items;
    size_t count;
};

/* Frees the items and zeroes *t. NULL is a no-op; freeing twice is harmless. */
void sdv_uptane_targets_free(struct sdv_uptane_targets *t);

/*
 * Parses director targets metadata (the exact bytes lib/tuf verified, at most
 * SDV_TUF_TARGETS_MAX_LEN) and runs the checks that need only the director and the vehicle:
 *   - "delegations" absent (DELEGATIONS);
 *   - every target has custom.ecu_identifiers (a non-empty object of SERIAL ->
 *     {"hardware_id": string}) and custom.release_counter (integer >= 0) (MALFORMED);
 *   - every serial is one of ecus (UNKNOWN_ECU) and appears in one target only
 *     (DUPLICATE_ECU);
 *   - its hardware id is the ECU's (HARDWARE_ID);
 *   - the release counter is not below the ECU's installed_release_counter (ROLLBACK).
 * ecus (serial, hardware_id, installed_release_counter; ecu_count of them) is borrowed. On
 * success *out lists one entry per (ECU, target); release with sdv_uptane_targets_free().
 * Errors: SDV_EPARSE (MALFORMED), SDV_ETOOBIG, SDV_EINVAL (DELEGATIONS, UNKNOWN_ECU,
 * DUPLICATE_ECU, HARDWARE_ID), SDV_EROLLBACK, SDV_EUNSUPPORTED (unknown hash algorithm).
 */
enum sdv_err sdv_uptane_director_targets_parse(const void *data, size_t len,
                                               const struct sdv_uptane_ecu *ecus, size_t ecu_count,
                                               struct sdv_uptane_targets *out,
                                               struct sdv_uptane_err *err);

/*
 * Checks one director target against the image repository's entry for the same path
 * (image, borrowed, as sdv_tuf_client_find_target returns it):
 *   - same length (LENGTH);
 *   - the same set of hash algorithms with equal digests (HASH);
 *   - if the image's custom has "hardware_ids" (array of strings), it lists the ECU's hardware
 *     id (HARDWARE_ID);
 *   - the image's custom "release_counter" (integer >= 0; absent counts as 0) equals the
 *     director's (RELEASE_COUNTER).
 * Errors: SDV_EHASH (LENGTH, HASH), SDV_EINVAL (HARDWARE_ID, RELEASE_COUNTER), SDV_EPARSE
 * (ill-typed custom fields in the image entry, MALFORMED).
 */
enum sdv_err sdv_uptane_check_image(const struct sdv_uptane_target *target,
                                    const struct sdv_tuf_target *image, struct sdv_uptane_err *err);

/* Finds the image repository's entry for path (bind to sdv_tuf_client_find_target on the image
 * repository's client). SDV_ENOTARGET if none; *out is borrowed from the callee. */
typedef enum sdv_err (*sdv_uptane_image_lookup_fn)(void *ud, const char *path,
                                                   struct sdv_tuf_target *out);

/*
 * The full set of checks: sdv_uptane_director_targets_parse() and then, for every entry,
 * lookup (SDV_ENOTARGET with rule NO_IMAGE when the image repository lacks the path) and
 * sdv_uptane_check_image(). On success *out holds the verified (ECU serial, target)
 * assignments; on any failure it is empty and nothing should be installed.
 */
enum sdv_err sdv_uptane_check_director_targets(const void *data, size_t len,
                                               const struct sdv_uptane_ecu *ecus, size_t ecu_count,
                                               sdv_uptane_image_lookup_fn lookup, void *lookup_ud,
                                               struct sdv_uptane_targets *out,
                                               struct sdv_uptane_err *err);

/* ---- 3. ECU version reports and vehicle version manifests --------------------------------- */

/* Fills p with n random bytes (bind to sdv_random_bytes on a device; tests may be
 * deterministic). Returning anything but SDV_OK aborts the caller with that error. */
typedef enum sdv_err (*sdv_uptane_random_fn)(void *ud, void *p, size_t n);

/* What an ECU reports about itself. Borrowed pointers. */
struct sdv_uptane_report_info {
    const char *ecu_serial;
    /* The installed image; hashes must include sha256. */
    struct sdv_uptane_image installed;
    /* Latest time the ECU verified metadata (seconds since the epoch; RFC 3339 on the wire). */
    int64_t latest_verified_time;
    /* Description of a detected attack, or NULL / "" if none. */
    const char *attack_detected;
    /* Incremented by the ECU for every report it signs; the server refuses one that does not
     * increase (stored state, not checked here). At most INT64_MAX. */
    uint64_t report_counter;
    /* Install log records not yet acknowledged by the server (an OpenSDV extension of the
     * report, field "install_log"): each the exact bytes of one line of the ECU's hash-chained
     * install log (sdv/install.h), without its newline, borrowed. They travel as JSON strings so
     * that the server can check the chain byte for byte. At most SDV_UPTANE_INSTALL_LOG_MAX of
     * at most SDV_UPTANE_INSTALL_RECORD_LEN_MAX bytes each; 0: the field is left out. */
    const char *const *install_log;
    size_t install_log_count;
};

/*
 * Builds and signs an ECU version report:
 *   {"signed": {"ecu_serial", "installed_image": {"filepath", "fileinfo": {"length", "hashes"}},
 *               "release_counter", "latest_verified_time", "nonce", "attack_detected",
 *               "report_counter", optional "install_log": [string, ...]},
 *    "signatures": [{"keyid", "sig"}]}
 * with a fresh nonce of SDV_UPTANE_NONCE_LEN bytes from random (hex), signed by ecu_key
 * (borrowed, private half required). Appends compact JSON with sorted keys to out. If
 * nonce_hex is non-NULL it receives the nonce (SDV_UPTANE_NONCE_HEX_LEN bytes).
 * Errors: SDV_EINVAL (bad info or key), SDV_ETOOBIG (out->max), the random callback's error.
 */
enum sdv_err sdv_uptane_report_build(const struct sdv_uptane_report_info *info,
                                     const struct sdv_key *ecu_key, sdv_uptane_random_fn random,
                                     void *random_ud, struct sdv_buf *out, char *nonce_hex,
                                     struct sdv_uptane_err *err);

/* One report as bytes (what an ECU sent). Borrowed. */
struct sdv_uptane_report_bytes {
    const void *data;
    size_t len;
};

/*
 * Builds and signs a vehicle version manifest:
 *   {"signed": {"vin", "primary_ecu_serial", "ecu_version_reports": {SERIAL: <report>, ...},
 *               "manifest_counter"},
 *    "signatures": [{"keyid", "sig"}]}
 * Each report must be a well-formed signed report (its signature is not checked here: the
 * primary may not know the secondaries' keys; the server checks them) and is filed under its
 * own ecu_serial; two reports of one ECU are refused (DUPLICATE_ECU). manifest_counter, like
 * report_counter, only goes up. primary_key (borrowed) must hold its private half. Appends
 * compact JSON to out; at most SDV_UPTANE_MANIFEST_LEN_MAX bytes (SDV_ETOOBIG).
 */
enum sdv_err sdv_uptane_manifest_build(const char *vin, const char *primary_ecu_serial,
                                       const struct sdv_uptane_report_bytes *reports,
                                       size_t report_count, uint64_t manifest_counter,
                                       const struct sdv_key *primary_key, struct sdv_buf *out,
                                       struct sdv_uptane_err *err);

/* One verified report. */
struct sdv_uptane_report {
    char ecu_serial[SDV_UPTANE_ID_LEN_MAX + 1];
    char filepath[SDV_TUF_NAME_LEN_MAX + 1];
    uint64_t length;
    size_t hash_count;
    struct sdv_tuf_hash hashes[SDV_TUF_TARGET_HASHES_MAX];
    uint64_t release_counter;
    int64_t latest_verified_time;
    /* The nonce as sent (lowercase hex); the server rejects a nonce it saw before. */
    char nonce_hex[SDV_UPTANE_NONCE_HEX_LEN];
    size_t nonce_len;                                    /* bytes */
    char attack_detected[SDV_UPTANE_ATTACK_LEN_MAX + 1]; /* "" if none */
    uint64_t report_counter;
    /* The report's "install_log" records (copies, NUL-terminated; freed with the manifest by
     * sdv_uptane_manifest_free()); NULL and 0 when the report has none. Their content is the
     * ECU's word, signed by its key: parse each as untrusted JSON. */
    char **install_log;
    size_t install_log_count;
};

/* A verified manifest. Release with sdv_uptane_manifest_free(). */
struct sdv_uptane_manifest {
    char vin[SDV_UPTANE_VIN_LEN_MAX + 1];
    char primary_ecu_serial[SDV_UPTANE_ID_LEN_MAX + 1];
    uint64_t manifest_counter;
    struct sdv_uptane_report *reports; /* sorted by ECU serial */
    size_t report_count;
};

/* Frees the reports and zeroes *m. NULL is a no-op; freeing twice is harmless. */
void sdv_uptane_manifest_free(struct sdv_uptane_manifest *m);

/*
 * Parses and verifies a vehicle version manifest received from a vehicle (untrusted bytes,
 * borrowed). vehicle (vin, primary_ecu_serial, primary_key, ecus with serial and key) is what
 * the server registered. Checks, each failure naming the ECU where there is one:
 *   - size at most SDV_UPTANE_MANIFEST_LEN_MAX (TOO_BIG), strict JSON and exact field sets with
 *     strict types (MALFORMED), lengths within the limits above (TOO_BIG);
 *   - a valid signature by vehicle->primary_key (SIGNATURE), "vin" and "primary_ecu_serial"
 *     are the vehicle's (VIN, PRIMARY);
 *   - every report key is an ECU of the vehicle (UNKNOWN_ECU) with a key, the report's own
 *     ecu_serial equals its key (SERIAL_MISMATCH), the report carries a valid signature by that
 *     ECU's key (SIGNATURE), its nonce is hex of SDV_UPTANE_NONCE_LEN_MIN..MAX bytes (NONCE),
 *     its latest_verified_time is RFC 3339 (MALFORMED).
 * ECUs that sent no report are allowed (an ECU may be unreachable); compare the result with the
 * vehicle's ECU list to find them. Counters, nonces and attack reports are returned, not judged:
 * monotonicity and replay need stored state.
 * On success *out holds the manifest (release with sdv_uptane_manifest_free()).
 * Errors: SDV_ETOOBIG, SDV_EPARSE, SDV_ESIG, SDV_EINVAL (identity rules), SDV_EUNSUPPORTED
 * (unknown hash algorithm), SDV_ENOMEM.
 */
enum sdv_err sdv_uptane_manifest_verify(const void *data, size_t len,
                                        const struct sdv_uptane_vehicle *vehicle,
                                        struct sdv_uptane_manifest *out,
                                        struct sdv_uptane_err *err);

#ifdef __cplusplus
}
#endif
#endif /* SDV_UPTANE_H */
