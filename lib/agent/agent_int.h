/*
 * agent_int.h - private to lib/agent: the agent handle, the persisted install state, and the
 * pieces of a cycle that live in their own files (agent_state.c, agent_secondary.c).
 */
#ifndef SDV_AGENT_INT_H
#define SDV_AGENT_INT_H

#include <stdint.h>

#include <sdv/agent.h>
#include <sdv/limits.h>

/* Length of a path under state_dir that the agent builds. */
#define AGENT_PATH_LEN_MAX 4096

/* Size of install.json: one entry per ECU, each well under 4 KiB (a 1 KiB path, hashes). */
#define AGENT_STATE_LEN_MAX (SDV_UPTANE_ECUS_MAX * 4096u)

/* What one ECU runs, as the primary last saw it installed. */
struct agent_installed {
    int present; /* 0: nothing installed through this agent yet */
    char filepath[SDV_TUF_NAME_LEN_MAX + 1];
    uint64_t length;
    size_t hash_count;
    struct sdv_tuf_hash hashes[SDV_TUF_TARGET_HASHES_MAX];
    uint64_t release_counter;
};

/* install.json: ecus[0] is the primary, ecus[1 + i] the config's secondary i. */
struct agent_state {
    struct agent_installed *ecus;
    size_t ecu_count;
    uint64_t manifest_counter;
    uint64_t report_counter;
    int64_t latest_verified_time;
    /* A/B (config.install): the primary's image activated for its trial boot, becoming ecus[0]
     * when it commits; the image that rolled back (not installed again until the director
     * names another); the last install log record the server acknowledged. */
    struct agent_installed pending;
    struct agent_installed failed;
    uint64_t install_log_acked;
};

/* Bytes between two durable checkpoints while an image streams into a slot: one fsync per MiB
 * keeps a slow flash busy for milliseconds, and a kill -9 loses at most this much download. */
#define AGENT_SLOT_CHECKPOINT_BYTES (1024u * 1024u)

struct sdv_agent {
    struct sdv_agent_config cfg; /* strings point into owned copies below */
    char *strings[8];
    struct sdv_agent_secondary *secondaries; /* owned copy */
    char **secondary_strings;                /* 3 per secondary */
    const char **serials;                    /* ecu index -> serial */
    char director_dir[AGENT_PATH_LEN_MAX];
    char image_dir[AGENT_PATH_LEN_MAX];
    char director_roots_dir[AGENT_PATH_LEN_MAX];
    char image_roots_dir[AGENT_PATH_LEN_MAX];
    char downloads_dir[AGENT_PATH_LEN_MAX];
    char slots_dir[AGENT_PATH_LEN_MAX];
    char state_path[AGENT_PATH_LEN_MAX];
    char install_dir[AGENT_PATH_LEN_MAX];
    struct agent_state state;
    /* A/B installer (config.install != NULL), its clock (the time of the running cycle) and
     * whether this process already ran the boot verdict. */
    struct sdv_install *inst;
    int64_t now;
    int boot_checked;
    /* Install log records put into the last report, acknowledged when the server took it. */
    uint64_t log_sent_upto;
    uint8_t *chunk; /* one ecu_link IMAGE_DATA chunk, allocated once */
    /* Of the last refresh, per repository (0 director, 1 image): with consistent snapshots a
     * secondary's TUF client asks for V.snapshot.json and V.targets.json, so they are handed
     * over under those names too. */
    int consistent[2];
    int64_t snapshot_version[2], targets_version[2];
};

/* Loads path into st (st->ecu_count entries already allocated, serials gives their names);
 * a missing file leaves everything zero. SDV_EPARSE with a reason for a broken file. */
enum sdv_err agent_state_load(const char *path, const char *const *serials, struct agent_state *st,
                              char *errmsg, size_t errmsg_len);

/* Replaces path atomically with st. */
enum sdv_err agent_state_save(const char *path, const char *const *serials,
                              const struct agent_state *st);

/* Does ECU state e run exactly target t (path, length, every hash)? */
int agent_installed_matches(const struct agent_installed *e, const struct sdv_uptane_target *t);

/* Records that target t is installed in e. */
void agent_installed_set(struct agent_installed *e, const struct sdv_uptane_target *t);

/*
 * One session with secondary sec: HELLO (its serial and hardware id must be the configured ones),
 * when send_metadata the trusted metadata of both repositories, when target is non-NULL the
 * image from image_path and INSTALL, and finally a version report request whose signed report
 * is appended to report. *installed is set when the secondary answered INSTALL with success.
 * errmsg receives the reason of a failure.
 */
enum sdv_err agent_secondary_session(struct sdv_agent *a, const struct sdv_agent_secondary *sec,
                                     int send_metadata, const struct sdv_uptane_target *target,
                                     const char *image_path, int *installed, struct sdv_buf *report,
                                     char *errmsg, size_t errmsg_len);

/* ---- A/B installation of the primary (agent_slot.c) ---- */

/* A delta patch the image repository lists for the director's target (found by the cycle):
 * its own TUF target, whose custom "delta" names the running image as source and the target
 * as result. */
struct agent_delta {
    struct sdv_uptane_target target; /* the patch: path, length, hashes */
    const char *url;
};

/* The name under which the image repository publishes the patch from the image whose SHA-256
 * is source_sha256 to target path: "<path>.from-<first 16 hex digits>.delta". */
#define AGENT_DELTA_NAME_FMT "%s.from-%.16s.delta"

/* Creates a->inst over config.install with state in a->install_dir. */
enum sdv_err agent_slot_create(struct sdv_agent *a, char *errmsg, size_t errmsg_len);

/* Once per process: the boot verdict (sdv_install_boot) and what it means for install.json
 * (pending -> ecus[0] on commit, -> failed on rollback). Sets res->reboot_required when the
 * trial failed on the new slot or an activation still waits for its reboot. */
enum sdv_err agent_slot_after_boot(struct sdv_agent *a, struct sdv_agent_result *res);

/* Streams target t from url into the inactive slot and verifies it there (every hash of t);
 * nothing to do when that transaction is already written. Bytes that are not the image fill
 * res->attack (the transaction is aborted, its log record says why). A refusal by the "before
 * writing" precondition returns SDV_EDENIED with the reason in res->reason and *refused set:
 * retried next cycle, never forced. */
enum sdv_err agent_slot_write(struct sdv_agent *a, const struct sdv_uptane_target *t,
                              const char *url, const struct agent_delta *delta,
                              struct sdv_agent_result *res, int *refused);

/* Activates the written transaction of t (pending := t first). Sets res->reboot_required, or
 * *refused when the "before activating" precondition said no (retried next cycle). */
enum sdv_err agent_slot_activate(struct sdv_agent *a, const struct sdv_uptane_target *t,
                                 struct sdv_agent_result *res, int *refused);

/* Is t the image that rolled back (the agent waits for another assignment)? */
int agent_slot_is_failed(const struct sdv_agent *a, const struct sdv_uptane_target *t);

/* Is t activated and waiting for its reboot or trial? */
int agent_slot_is_pending(const struct sdv_agent *a, const struct sdv_uptane_target *t);

/* Install log records after the acknowledged one, at most SDV_UPTANE_INSTALL_LOG_MAX, copied
 * into lines[] (caller frees each); remembers the last seq in a->log_sent_upto. */
enum sdv_err agent_slot_log_unsent(struct sdv_agent *a, char **lines, size_t *count);

/* The server took the report: records up to a->log_sent_upto are acknowledged. */
void agent_slot_log_acked(struct sdv_agent *a);

#endif /* SDV_AGENT_INT_H */
