/*
 * sdv/tuf.h - The Update Framework (TUF 1.0.x) client.
 *
 * The client follows the specification's detailed client workflow in its request order:
 * a fixed reference time, the root rotation loop, timestamp, snapshot, top-level targets, and
 * delegated targets found by a pre-order depth-first search. Trusted metadata lives in one
 * directory as the exact bytes that were downloaded and verified, under unversioned names
 * (root.json, timestamp.json, snapshot.json, targets.json, <percent-encoded role>.json), each
 * replaced atomically, so a failure at any point leaves the previous trusted state intact.
 *
 * The client performs no I/O of its own except on metadata_dir and on target files: every
 * network request goes through the fetch callback and the wall clock is passed in, so the same
 * code runs against libcurl in sdv tuf-client and against in-memory repositories in tests.
 *
 * Thread safety: one client is used by one thread at a time.
 */
#ifndef SDV_TUF_H
#define SDV_TUF_H

#include <sdv/common.h>
#include <sdv/crypto.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Receives downloaded bytes in order (see sdv_sink_fn in common.h). */
typedef sdv_sink_fn sdv_tuf_sink_fn;

/*
 * Fetches url and streams the body into sink. Must stop and return SDV_ETOOBIG as soon as more
 * than max_len bytes arrive (the sink also enforces this), SDV_ENOENT for a missing file (HTTP
 * 403/404), SDV_ENET for other transport failures. start_offset is 0 except when a caller
 * resumes a partial download (HTTP Range). The callback may write a short reason into the
 * client's error message through sdv_tuf_client_set_errmsg().
 */
typedef enum sdv_err (*sdv_tuf_fetch_fn)(void *fetch_ud, const char *url, uint64_t max_len,
                                         sdv_tuf_sink_fn sink, void *sink_ud);

struct sdv_tuf_client_config {
    const char *metadata_dir; /* trusted metadata; must contain root.json */
    const char *metadata_url; /* base URL of the metadata, ending with '/' */
    sdv_tuf_fetch_fn fetch;   /* required for refresh and download */
    void *fetch_ud;
    struct sdv_log log;
    /* Reference time (seconds since the Unix epoch), fixed for the whole refresh. */
    int64_t now;
    /* Limits; 0 selects the default from sdv/limits.h. */
    uint64_t root_max_len;
    uint64_t timestamp_max_len;
    uint64_t snapshot_max_len; /* used when timestamp gives no length */
    uint64_t targets_max_len;  /* used when snapshot gives no length */
    unsigned root_rotations_max;
    unsigned delegations_max;
};

struct sdv_tuf_client;

/*
 * Creates a client and loads the trusted root from metadata_dir/root.json (which must verify
 * against itself). The config strings are copied. Caller destroys with sdv_tuf_client_destroy().
 * On failure *out is NULL and, if errmsg is non-NULL, a reason is written there.
 */
enum sdv_err sdv_tuf_client_create(const struct sdv_tuf_client_config *config,
                                   struct sdv_tuf_client **out, char *errmsg, size_t errmsg_len);

void sdv_tuf_client_destroy(struct sdv_tuf_client *client);

/*
 * Installs data as the trusted root of metadata_dir (created if missing): it must parse as root
 * metadata and be signed by a threshold of its own root keys. Written atomically as root.json.
 * This is how a device is provisioned with its first root; no network is used.
 */
enum sdv_err sdv_tuf_client_init_root(const char *metadata_dir, const void *data, size_t len,
                                      char *errmsg, size_t errmsg_len);

/*
 * Runs the update workflow up to and including the top-level targets role (TUF 5.3 - 5.6).
 * Calling it twice on one client is an error (SDV_EINVAL): create a new client per refresh.
 */
enum sdv_err sdv_tuf_client_refresh(struct sdv_tuf_client *client);

/* The reason for the last failure: names the role and the rule it broke. Never NULL. */
const char *sdv_tuf_client_errmsg(const struct sdv_tuf_client *client);

/* For fetch callbacks: sets the detail message (printf-style). */
void sdv_tuf_client_set_errmsg(struct sdv_tuf_client *client, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* What the repository says about one target file. All pointers are borrowed from the client and
 * valid until it is destroyed. */
struct sdv_tuf_hash {
    enum sdv_hash_alg alg;
    uint8_t digest[SDV_HASH_LEN_MAX];
};
#define SDV_TUF_TARGET_HASHES_MAX 4
struct sdv_tuf_target {
    const char *path; /* the target path as listed */
    uint64_t length;
    size_t hash_count;
    struct sdv_tuf_hash hashes[SDV_TUF_TARGET_HASHES_MAX];
    const json_t *custom; /* the "custom" object or NULL */
    const char *role;     /* the role that listed it */
};

/*
 * Finds a target by path after a successful refresh, walking delegations (TUF 5.7): pre-order
 * depth-first search, a visited set, at most delegations_max roles, terminating delegations
 * honoured. Delegated targets metadata is downloaded and verified as it is reached.
 * SDV_ENOTARGET if no trusted role lists it.
 */
enum sdv_err sdv_tuf_client_find_target(struct sdv_tuf_client *client, const char *path,
                                        struct sdv_tuf_target *out);

/*
 * Downloads a target into target_dir (file name: the target path percent-encoded) from
 * target_base_url (ending with '/'), with the hash prefix when the repository uses consistent
 * snapshots (dirname/HASH.basename, the first listed hash), each path segment percent-encoded
 * and '/' kept. The file is written
 * to a temporary name, its length and every listed hash verified, then renamed into place.
 * A file already present that matches is not downloaded again (*downloaded = 0).
 */
enum sdv_err sdv_tuf_client_download_target(struct sdv_tuf_client *client,
                                            const struct sdv_tuf_target *target,
                                            const char *target_dir, const char *target_base_url,
                                            int *downloaded);

/* Checks that a file on disk has the target's length and hashes. SDV_EHASH if not. */
enum sdv_err sdv_tuf_target_check_file(const struct sdv_tuf_target *target, const char *path);

/* Accessors to the trusted state after refresh (0 before). */
int64_t sdv_tuf_client_role_version(const struct sdv_tuf_client *client, const char *role);
int sdv_tuf_client_consistent_snapshot(const struct sdv_tuf_client *client);

#ifdef __cplusplus
}
#endif
#endif /* SDV_TUF_H */
