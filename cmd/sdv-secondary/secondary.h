/*
 * secondary.h - the parts of sdv-secondary (one process per secondary ECU, see
 * docs/secondary.md): configuration, persistent state, metadata verification and the session
 * with one primary. Private to cmd/sdv-secondary.
 */
#ifndef SDV_SECONDARY_H
#define SDV_SECONDARY_H

#include <stddef.h>
#include <stdint.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/ecu_link.h>
#include <sdv/install.h>
#include <sdv/limits.h>
#include <sdv/uptane.h>

/* Longest path in the configuration file (PATH_MAX). */
#define SEC_PATH_LEN_MAX 4096

/* ---- Configuration (secondary_config.c) ------------------------------------------------- */

struct sec_config {
    char listen[SEC_PATH_LEN_MAX + 8];            /* tcp:HOST:PORT or unix:PATH */
    char serial[SDV_UPTANE_ID_LEN_MAX + 1];       /* ECU serial */
    char hardware_id[SDV_UPTANE_ID_LEN_MAX + 1];  /* which images fit this ECU */
    char key[SEC_PATH_LEN_MAX + 1];               /* private key PEM of the ECU */
    char state_dir[SEC_PATH_LEN_MAX + 1];         /* trusted metadata, install state */
    char slot[SEC_PATH_LEN_MAX + 1];              /* the file-backed install slot */
    enum sdv_ecu_link_mode mode;                  /* partial or full verification */
    char director_root[SEC_PATH_LEN_MAX + 1];     /* pinned / initial director root */
    char image_root[SEC_PATH_LEN_MAX + 1];        /* initial image repository root (full) */
    char factory_image[SDV_TUF_NAME_LEN_MAX + 1]; /* name of the image before any install */
    char ready_file[SEC_PATH_LEN_MAX + 1];        /* optional: bound address written here */
    char install[SEC_PATH_LEN_MAX + 1];           /* optional: A/B slots (JSON, sdv/install.h); then
                                                   * "slot" names the slot holding the factory image */
    int timeout_ms;                               /* per frame */
};

/* Reads a "key = value" file (one setting per line, '#' comments). On failure writes a reason
 * naming the line into errmsg and returns SDV_EPARSE / SDV_EINVAL / the read error. */
enum sdv_err sec_config_load(const char *path, struct sec_config *cfg, char *errmsg,
                             size_t errmsg_len);

/* ---- Persistent state (secondary_state.c) ----------------------------------------------- */

/* The installed image as the install-state file records it. */
struct sec_image {
    char filepath[SDV_TUF_NAME_LEN_MAX + 1];
    uint64_t length;
    size_t hash_count;
    struct sdv_tuf_hash hashes[SDV_TUF_TARGET_HASHES_MAX];
    uint64_t release_counter;
};

/* STATE_DIR/state.json, replaced atomically on every change. */
struct sec_state {
    struct sec_image installed;
    int has_pending; /* an install was under way: the slot holds either image */
    struct sec_image pending;
    uint64_t report_counter;
    int64_t latest_verified_time;
    char attack_detected[SDV_UPTANE_ATTACK_LEN_MAX + 1];
};

/* File names inside the state directory. */
#define SEC_STATE_FILE   "state.json"
#define SEC_IMAGE_PART   "image.part"   /* the image being received */
#define SEC_IMAGE_STAGED "image.staged" /* a received and verified image, not yet installed */
#define SEC_DIRECTOR_DIR "director"     /* trusted director metadata */
#define SEC_IMAGE_DIR    "image"        /* trusted image repository metadata (full mode) */

/*
 * Brings the state directory to a consistent state after a start (also after kill -9):
 * creates the directories, removes temporary and partial files, provisions the trusted roots
 * from the configuration when none is trusted yet, loads state.json (or records the slot's
 * current content as the factory image), and settles an interrupted install by hashing the
 * slot. log receives what was cleaned up.
 */
enum sdv_err sec_state_open(const struct sec_config *cfg, struct sec_state *st,
                            const struct sdv_log *log, char *errmsg, size_t errmsg_len);

/* Writes st to STATE_DIR/state.json atomically. */
enum sdv_err sec_state_save(const struct sec_config *cfg, const struct sec_state *st);

/* Hashes a file with every algorithm of img and compares length and digests: SDV_OK,
 * SDV_EHASH, or the read error. */
enum sdv_err sec_image_check_file(const struct sec_image *img, const char *path);

/* Converts between the Uptane and the state form of an image description. */
void sec_image_from_target(struct sec_image *img, const struct sdv_uptane_target *t);

/* ---- Verification (secondary_verify.c) -------------------------------------------------- */

/* One metadata file the primary handed over in this session. */
struct sec_meta_file {
    enum sdv_ecu_link_repo repo;
    char name[SDV_ECU_LINK_FILE_NAME_LEN_MAX + 1];
    uint8_t *data;
    size_t len;
};

/* The metadata of one session, bounded in count and bytes (sdv/limits.h, ECU link). */
struct sec_meta_set {
    struct sec_meta_file files[2 * SDV_ECU_LINK_SESSION_FILES_MAX];
    size_t count;
    size_t total_len;
};

/* Adds or replaces a file (data copied). SDV_ELIMIT / SDV_ETOOBIG past the session bounds. */
enum sdv_err sec_meta_put(struct sec_meta_set *set, enum sdv_ecu_link_repo repo, const char *name,
                          const uint8_t *data, size_t len);
const struct sec_meta_file *sec_meta_get(const struct sec_meta_set *set,
                                         enum sdv_ecu_link_repo repo, const char *name);
void sec_meta_clear(struct sec_meta_set *set);

/*
 * Verifies the session's metadata the configured way (partial: director root rotations and
 * director targets against the trusted director root; full: the TUF workflow over both
 * repositories, then the image repository's entry for this ECU's target) and finds the
 * director's target for this ECU (hardware id and release counter checked against st).
 * Newly trusted metadata is persisted in the state directory. On failure returns the error
 * and a sentence for attack_detected in why.
 */
enum sdv_err sec_verify(const struct sec_config *cfg, const struct sec_state *st,
                        const struct sec_meta_set *set, int64_t now, const struct sdv_log *log,
                        struct sdv_uptane_target *own, char *why, size_t why_len);

/* ---- Session (secondary_session.c) ------------------------------------------------------ */

/* What a session needs from the program: configuration, key, state, clock and randomness. */
struct sec_ctx {
    const struct sec_config *cfg;
    const struct sdv_key *key;
    struct sec_state *st;
    struct sdv_log log;
    int64_t (*now)(void);           /* wall clock, seconds since the epoch */
    sdv_ecu_link_clock_fn clock_ms; /* monotonic clock for frame timeouts */
    sdv_uptane_random_fn random;    /* nonces */
    /* A/B installation (config "install"), or NULL: the image replaces the file "slot". */
    struct sdv_install_config *install_cfg;
    struct sdv_install *inst;
};

/* ---- A/B slots (secondary_slot.c) -------------------------------------------------------- */

/* Loads the "install" file, creates the installer (state in STATE_DIR/install) and gives the
 * boot verdict of this start (a secondary's process start is its boot). */
enum sdv_err sec_slot_open(struct sec_ctx *ctx, int64_t (*now)(void *), char *errmsg,
                           size_t errmsg_len);
void sec_slot_close(struct sec_ctx *ctx);

/* Installs the verified image at path (img) into the inactive slot: written and read back,
 * activated, a simulated reboot into it, the health check; committed or rolled back (then a
 * simulated reboot returns to the old slot). SDV_OK only when committed; why says what
 * happened otherwise. */
enum sdv_err sec_slot_install(struct sec_ctx *ctx, const char *path, const struct sec_image *img,
                              char *why, size_t why_len);

/* Bytes of install log records a secondary puts into one version report: the ECU link bounds a
 * report at SDV_ECU_LINK_REPORT_LEN_MAX (64 KiB), so half of it. */
#define SEC_REPORT_LOG_BYTES_MAX (32u * 1024u)

/* The newest install log records (at most SDV_UPTANE_INSTALL_LOG_MAX, together at most
 * SEC_REPORT_LOG_BYTES_MAX bytes), oldest first, copied into lines[] (caller frees each). A
 * secondary does not learn which records reached the server, so it sends its newest each time;
 * the server stores each record once. */
enum sdv_err sec_slot_log_recent(struct sec_ctx *ctx, char **lines, size_t *count);

/* Serves one primary connection (fd taken) until it closes, times out or breaks the
 * protocol. Returns SDV_OK when the peer closed normally. */
enum sdv_err sec_session_run(struct sec_ctx *ctx, int fd);

#endif /* SDV_SECONDARY_H */
