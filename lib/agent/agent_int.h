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
};

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
    struct agent_state state;
    uint8_t *chunk; /* one ecu_link IMAGE_DATA chunk, allocated once */
    /* Of the last refresh, per repository (0 director, 1 image): with consistent snapshots a
     * secondary's TUF client asks for V.snapshot.json and V.targets.json, so they are handed
     * over under those names too. */
    int consistent[2];
    int64_t snapshot_version[2], targets_version[2];
};

/* snprintf that may truncate by design (messages for humans), without -Wformat-truncation. */
void agent_msgf(char *out, size_t out_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

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

#endif /* SDV_AGENT_INT_H */
