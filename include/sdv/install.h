/*
 * sdv/install.h - A/B installation with boot counting and rollback (see docs/install.md).
 *
 * An ECU has slot groups ("rootfs" with slots A and B, more groups such as "app"), each slot a
 * block device or an image file. Exactly one group is bootable: its slots carry bootloader names
 * and the bootloader picks one of them; every other group follows the booted slot by position
 * (slot i of "app" belongs with slot i of "rootfs", RAUC's "parent"). The active (booted) slot of
 * every group is never written.
 *
 * An update is a transaction, persisted atomically in state_dir/install-state.json after every
 * step, so that a power cut at any instant resumes or restarts it and never boots a half-written
 * slot:
 *
 *   idle -> downloading -> writing -> written -> activated -> booted -> committed
 *                                                     |          \---> rolled-back
 *                                                     \--------------> rolled-back
 *
 *   downloading  sdv_install_begin(): the images are announced (length, SHA-256); the caller
 *                fetches them (or runs the delta decoder).
 *   writing      sdv_install_write_open(): the "before writing" precondition passed, the target
 *                slot was marked unbootable in the bootloader, bytes stream into it
 *                (sdv_install_write(), or sdv_install_sink() as an sdv_sink_fn) while being
 *                hashed; sdv_install_write_checkpoint() makes a prefix durable for resumption.
 *   written      sdv_install_write_close() of the last image: length and streamed hash match,
 *                the slot was fsynced and read back and its hash matches again.
 *   activated    sdv_install_activate(): the "before activating" precondition passed and the
 *                bootloader will try the new slot (boot counter = boot_attempts), then fall back.
 *   booted       sdv_install_boot() after the reboot found the new slot booted: the trial boot.
 *   committed    the health check passed (or sdv_install_mark_good()): the slot is marked good.
 *   rolled-back  the health check failed or timed out (the slot is marked bad, a reboot returns
 *                to the old slot), or the bootloader had already fallen back (the boot counter
 *                ran out, detected by sdv_install_boot() on the old slot). The reason is kept.
 *
 * Every finished transaction (committed, rolled back, aborted) appends one record to a
 * hash-chained install log (state_dir/install-log.jsonl); see sdv_install_log_read().
 *
 * Bootloaders (one backend each, chosen in the configuration): "file" (a JSON state file, for
 * tests, simulated ECUs and secondaries, with a simulated reboot), "grub" (the 1024-byte GRUB
 * environment block; variables ORDER, <slot>_OK, <slot>_TRY) and "uboot" (fw_printenv /
 * fw_setenv of libubootenv; variables BOOT_ORDER, BOOT_<slot>_LEFT). The booted slot comes from
 * the kernel command line (sdv.slot=<bootname>), or for "file" from its state file.
 *
 * The library reads no clock and no environment of its own: time, the kernel command line and an
 * extra precondition hook (vehicle signals from sdv-broker) come through struct sdv_install_env.
 * It runs the configured precondition and health-check commands with /bin/sh -c.
 *
 * Thread safety: one sdv_install is used by one thread at a time. Two installers never share a
 * state_dir: sdv_install_create() takes an advisory lock (flock) on state_dir/lock.
 */
#ifndef SDV_INSTALL_H
#define SDV_INSTALL_H

#include <sdv/common.h>
#include <sdv/limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Configuration ---------------------------------------------------------------------- */

/*
 * The configuration, parsed from a JSON object that the agent's and the secondary's
 * configuration files embed (key "install"):
 *
 * {
 *   "bootloader": "file" | "grub" | "uboot",
 *   "boot_state": "bootstate.json",       file: its state file; grub: the grubenv file
 *   "fw_env_config": "fw_env.config",     uboot: the libubootenv configuration (default
 *                                          /etc/fw_env.config)
 *   "fw_printenv": "fw_printenv",         uboot: the tools (default names, found in PATH)
 *   "fw_setenv": "fw_setenv",
 *   "boot_attempts": 3,                    boots the bootloader tries a new slot (default 3;
 *                                          grub supports 1 only: try once)
 *   "cmdline": "/proc/cmdline",            where sdv.slot=<bootname> is read (default)
 *   "health_check": {"command": "...", "timeout_ms": 60000},      optional
 *   "precondition": {"command": "...", "timeout_ms": 10000},      optional
 *   "initial_version": "factory",         version reported for a slot nothing was installed in
 *   "groups": [
 *     {"name": "rootfs", "slots": [
 *        {"name": "A", "path": "/dev/mmcblk0p2", "size": 1073741824, "bootname": "A"},
 *        {"name": "B", "path": "/dev/mmcblk0p3", "size": 1073741824, "bootname": "B"}]},
 *     {"name": "app", "slots": [
 *        {"name": "A", "path": "app-a.img", "size": 67108864},
 *        {"name": "B", "path": "app-b.img", "size": 67108864}]}
 *   ]
 * }
 *
 * Relative paths are relative to base_dir. Unknown keys are errors (a typo must not silently
 * disable a health check). The bootable group is the one whose slots have a "bootname"; exactly
 * one group must, and every group has the same number of slots (2 to SDV_INSTALL_SLOTS_MAX).
 */
struct sdv_install_config;

/*
 * Parses the configuration object obj (borrowed) into a new configuration. base_dir (borrowed,
 * may be NULL for the current directory) resolves relative paths. Returns SDV_OK, SDV_EPARSE
 * (wrong type, missing or unknown key, bad value: errmsg says which key), SDV_ETOOBIG (a name or
 * path longer than its limit), SDV_ENOMEM. Caller frees with sdv_install_config_destroy().
 */
enum sdv_err sdv_install_config_parse(const json_t *obj, const char *base_dir,
                                      struct sdv_install_config **out, char *errmsg,
                                      size_t errmsg_len);

/* sdv_install_config_parse() of JSON text (strict parser: duplicate keys rejected). */
enum sdv_err sdv_install_config_parse_text(const void *text, size_t len, const char *base_dir,
                                           struct sdv_install_config **out, char *errmsg,
                                           size_t errmsg_len);

/* NULL is a no-op. */
void sdv_install_config_destroy(struct sdv_install_config *cfg);

/* ---- Environment ------------------------------------------------------------------------ */

/* Returns the current time in seconds since the Unix epoch. */
typedef int64_t (*sdv_install_clock_fn)(void *ud);

enum sdv_install_phase {
    SDV_INSTALL_PHASE_WRITE = 1,    /* before the first byte of a slot is written */
    SDV_INSTALL_PHASE_ACTIVATE = 2, /* before the bootloader is told to try the new slot */
};

/*
 * An extra safe-to-update check, run after the configured precondition command passed (the
 * hook for vehicle signals from sdv-broker: parked, battery, consent). Sets *ok to non-zero to
 * allow the phase, or to 0 with a reason (NUL-terminated, at most reason_len bytes) to refuse
 * it. A returned error is treated as a refusal too (never forced).
 */
typedef enum sdv_err (*sdv_install_check_fn)(void *ud, enum sdv_install_phase phase, int *ok,
                                             char *reason, size_t reason_len);

struct sdv_install_env {
    const char *state_dir;    /* required; created if missing (borrowed, copied) */
    const char *ecu;          /* ECU serial written into log records (borrowed, copied) */
    sdv_install_clock_fn now; /* required */
    void *now_ud;
    /* The kernel command line as text (borrowed, copied), overriding the configuration's
     * "cmdline" file: tests and simulated ECUs inject "sdv.slot=B" here. NULL: read the file. */
    const char *cmdline;
    sdv_install_check_fn check; /* may be NULL */
    void *check_ud;
    struct sdv_log log;
};

/* ---- The installer ---------------------------------------------------------------------- */

enum sdv_install_state {
    SDV_INSTALL_IDLE = 0,
    SDV_INSTALL_DOWNLOADING = 1,
    SDV_INSTALL_WRITING = 2,
    SDV_INSTALL_WRITTEN = 3,
    SDV_INSTALL_ACTIVATED = 4,
    SDV_INSTALL_BOOTED = 5,
    SDV_INSTALL_COMMITTED = 6,
    SDV_INSTALL_ROLLED_BACK = 7,
};

/* "idle", "downloading", "writing", "written", "activated", "booted", "committed",
 * "rolled-back"; "?" for an unknown value. Static string. */
const char *sdv_install_state_name(enum sdv_install_state state);

struct sdv_install;

/*
 * Creates an installer over cfg (borrowed: must outlive the installer) and env (copied; the
 * callbacks' user data is borrowed). Loads state_dir/install-state.json (a missing file is the
 * idle state) and takes the lock of state_dir. Does not touch any slot or the bootloader. Returns
 * SDV_OK, SDV_EINVAL (missing env field), SDV_EEXIST (another installer holds state_dir),
 * SDV_EPARSE (a damaged state file, or one made for another slot configuration: errmsg says
 * which), the file system's errors. Caller destroys with sdv_install_destroy() (which releases
 * the lock).
 */
enum sdv_err sdv_install_create(const struct sdv_install_config *cfg,
                                const struct sdv_install_env *env, struct sdv_install **out,
                                char *errmsg, size_t errmsg_len);

/* NULL is a no-op. An open slot is closed without being trusted. */
void sdv_install_destroy(struct sdv_install *inst);

/* Why the last failed or refused call did what it did ("" if nothing). Owned by inst, valid
 * until the next call. */
const char *sdv_install_errmsg(const struct sdv_install *inst);

/* One image of a transaction: the group it goes into and what it must be. Borrowed strings. */
struct sdv_install_image {
    const char *group;  /* a configured group name, at most once per transaction */
    uint64_t length;    /* exact image length, at most the target slot's size */
    uint8_t sha256[32]; /* SHA-256 of the image */
};

/*
 * Starts a transaction installing version (at most SDV_INSTALL_VERSION_LEN_MAX bytes) from
 * images[0..count) into the inactive slots of their groups: state downloading. Nothing is written
 * yet. If a transaction for the same version and images is already downloading, writing or
 * written (a restart after a crash), it is kept and SDV_OK returned: continue with
 * sdv_install_write_open(). Returns SDV_EEXIST if another transaction is in progress, or an
 * activated or booted one awaits its reboot or verdict, or a rolled-back slot still runs (reboot
 * first); SDV_EINVAL if the images do not include the bootable group; SDV_ENOENT for an unknown
 * group;
 * SDV_ETOOBIG for an image larger than its slot; SDV_EINVAL if the booted slot cannot be
 * determined (nothing can be written safely then).
 */
enum sdv_err sdv_install_begin(struct sdv_install *inst, const char *version,
                               const struct sdv_install_image *images, size_t count);

/* Ends a transaction that is downloading, writing or written (not yet activated) with a
 * "failed" log record carrying reason (borrowed; may be NULL); state idle. The written slots are
 * left marked unbootable. SDV_EINVAL in any other state. */
enum sdv_err sdv_install_abort(struct sdv_install *inst, const char *reason);

struct sdv_install_write_opts {
    /* Non-zero: continue after the last checkpoint of this image (the prefix is read back and
     * re-hashed). Zero: start the image at offset 0. */
    int resume;
    /* Make the written prefix durable automatically every this many bytes (rounded to whole
     * writes; 0: only explicit sdv_install_write_checkpoint() calls). */
    uint64_t checkpoint_every;
};

/*
 * Opens image number index of the transaction for writing into its target slot. Runs the
 * "before writing" precondition (command, then env->check): if it refuses, *refused is set to
 * non-zero, sdv_install_errmsg() holds the reason (the command's output), nothing is written and
 * SDV_OK is returned: retry later, nothing is forced. Otherwise marks the target slot
 * unbootable in the bootloader (durably, before its first byte changes), opens it, and sets
 * *offset to where the caller continues: 0, or with opts->resume the durable offset of the last
 * checkpoint (fetch from there with an HTTP Range request). opts may be NULL (restart, no
 * automatic checkpoints). State writing.
 *
 * Refuses with SDV_EINVAL if the target slot is the booted one (or the same file or device), or
 * if the booted slot is unknown; SDV_EINVAL if the state is not downloading or writing or index
 * is out of range.
 */
enum sdv_err sdv_install_write_open(struct sdv_install *inst, size_t index,
                                    const struct sdv_install_write_opts *opts, uint64_t *offset,
                                    int *refused);

/* Writes the next len bytes of the open image (hashing them). SDV_ETOOBIG past the announced
 * length (nothing written), SDV_EINVAL without an open image, the file system's errors. */
enum sdv_err sdv_install_write(struct sdv_install *inst, const void *data, size_t len);

/* sdv_install_write() as an sdv_sink_fn (ud is the sdv_install): a download or
 * sdv_delta_decoder streams straight into the slot, without a temporary copy. */
enum sdv_err sdv_install_sink(void *ud, const void *data, size_t len);

/*
 * Makes everything written so far durable (fsync of the slot) and then records the offset with
 * token[0..token_len) (borrowed, at most SDV_INSTALL_TOKEN_LEN_MAX bytes, may be NULL when 0;
 * e.g. an encoded sdv_delta_checkpoint) in the state file. A resumed write_open() continues from
 * the last recorded offset and returns its token with sdv_install_write_token().
 */
enum sdv_err sdv_install_write_checkpoint(struct sdv_install *inst, const void *token,
                                          size_t token_len);

/* Copies the token of the checkpoint write_open() resumed from into buf (buf_max bytes) and sets
 * *len (0 when there was none). SDV_ETOOBIG if buf is too small. */
enum sdv_err sdv_install_write_token(const struct sdv_install *inst, void *buf, size_t buf_max,
                                     size_t *len);

/*
 * Finishes the open image: checks that exactly its length was written and that the streamed
 * SHA-256 matches, fsyncs the slot (a regular file slot is truncated to the image length), then
 * reads the slot back and checks its SHA-256 again. Returns SDV_OK (the image is written; after
 * the last image, state written), SDV_EHASH (wrong length or hash, or the read-back differs:
 * the image must be written again from offset 0; errmsg says which), the file system's errors.
 */
enum sdv_err sdv_install_write_close(struct sdv_install *inst);

/*
 * Reads len bytes at off of the open image's target slot, or (base variant) of the active slot
 * of the same group: sdv_delta_read_fn-compatible (ud is the sdv_install), for the delta
 * decoder's resumption (re-hash of the written prefix) and its base image. SDV_EIO on a short
 * read, SDV_EINVAL without an open image.
 */
enum sdv_err sdv_install_read_target(void *ud, uint64_t off, void *buf, size_t len);
enum sdv_err sdv_install_read_base(void *ud, uint64_t off, void *buf, size_t len);

/*
 * Activates a written transaction for one trial boot: runs the "before activating"
 * precondition (a refusal sets *refused, keeps state written and returns SDV_OK), then records
 * state activated and tells the bootloader to try the new slot first with boot_attempts boots
 * before falling back. The caller then reboots (sdv_install_boot_sim() for a simulated ECU).
 * SDV_EINVAL unless written.
 */
enum sdv_err sdv_install_activate(struct sdv_install *inst, int *refused);

enum sdv_install_event {
    SDV_INSTALL_EVENT_NONE = 0,        /* nothing pending (or a committed slot re-marked good) */
    SDV_INSTALL_EVENT_TRIAL = 1,       /* booted the new slot, no health check: awaiting verdict */
    SDV_INSTALL_EVENT_COMMITTED = 2,   /* the new slot passed its health check */
    SDV_INSTALL_EVENT_ROLLED_BACK = 3, /* see reason; reboot_required if still on the new slot */
};

/* What sdv_install_boot() found and did. */
struct sdv_install_boot_report {
    enum sdv_install_event event;
    enum sdv_install_state state;                  /* the state afterwards */
    char booted[SDV_INSTALL_NAME_LEN_MAX + 1];     /* bootname of the booted slot */
    char version[SDV_INSTALL_VERSION_LEN_MAX + 1]; /* version of the transaction, or "" */
    int reboot_required; /* non-zero: reboot now to return to the old slot */
    char reason[SDV_INSTALL_REASON_LEN_MAX + 1]; /* why it rolled back, or "" */
};

/*
 * Called once after every (re)boot, before the caller reports anything. Reads the booted slot
 * and, for an activated transaction: on the new slot, enters the trial (state booted) and runs
 * the health check if one is configured: it passes (exit 0 within timeout_ms) -> mark good,
 * committed; it fails or times out -> mark bad, rolled back with the reason (exit status and
 * output, or the timeout), reboot_required. On the old slot, the bootloader fell back (the boot
 * counter ran out before the new slot was marked good): rolled back with that reason. A trial
 * that was interrupted (state booted) is checked again the same way. Outside a transaction, a
 * booted slot that is good is marked good again (resets its boot counter, as RAUC's
 * mark-good service does on every boot). Each verdict appends an install log record. Returns
 * SDV_OK with *report filled, or the bootloader's or file system's errors.
 */
enum sdv_err sdv_install_boot(struct sdv_install *inst, struct sdv_install_boot_report *report);

/*
 * The manual verdicts (`sdv slot mark-good|mark-bad`, RAUC's): in a trial (state booted), commit
 * or roll back the transaction (reason borrowed, may be NULL, recorded in the log). Outside a
 * trial they mark the booted slot good or bad in the bootloader. mark_bad of the booted slot
 * means a reboot returns to the other slot.
 */
enum sdv_err sdv_install_mark_good(struct sdv_install *inst);
enum sdv_err sdv_install_mark_bad(struct sdv_install *inst, const char *reason);

/* One slot as sdv_install_status() describes it. */
struct sdv_install_slot_status {
    char group[SDV_INSTALL_NAME_LEN_MAX + 1];
    char name[SDV_INSTALL_NAME_LEN_MAX + 1];
    char bootname[SDV_INSTALL_NAME_LEN_MAX + 1];   /* "" outside the bootable group */
    char version[SDV_INSTALL_VERSION_LEN_MAX + 1]; /* last version written completely, or "" */
    int active;                                    /* belongs with the booted slot */
    int bootable;   /* bootloader: tries left > 0 (bootable group only) */
    unsigned tries; /* bootloader: tries left */
};

struct sdv_install_status {
    enum sdv_install_state state;
    char booted[SDV_INSTALL_NAME_LEN_MAX + 1];     /* "" if unknown */
    char version[SDV_INSTALL_VERSION_LEN_MAX + 1]; /* the transaction's version, or "" */
    char running[SDV_INSTALL_VERSION_LEN_MAX + 1]; /* version of the booted slot */
    char reason[SDV_INSTALL_REASON_LEN_MAX + 1];   /* last rollback or failure reason */
    uint64_t written;                              /* durable bytes of the open image */
    size_t slot_count;
    struct sdv_install_slot_status slots[SDV_INSTALL_GROUPS_MAX * SDV_INSTALL_SLOTS_MAX];
};

/* Fills *st from the state and the bootloader (read only). */
enum sdv_err sdv_install_status(struct sdv_install *inst, struct sdv_install_status *st);

/*
 * A simulated reboot, picking the slot exactly as the example boot scripts do: the first slot in
 * the boot order with tries left; its counter is decremented (GRUB: its _TRY flag set), and for
 * the file backend it is recorded as the booted slot. If no slot has tries left, the first in
 * the order boots without decrement (and *degraded is set). Writes the bootname into booted
 * (booted_len bytes). For grub and uboot the caller passes "sdv.slot=<bootname>" as the next
 * env->cmdline. Works on the configuration alone, like firmware.
 */
enum sdv_err sdv_install_boot_sim(const struct sdv_install_config *cfg, char *booted,
                                  size_t booted_len, int *degraded, char *errmsg,
                                  size_t errmsg_len);

/* ---- Install log ------------------------------------------------------------------------ */

/*
 * The install log is state_dir/install-log.jsonl: one JSON object per line, appended and
 * fsynced, never rewritten. Fields: "seq" (1, 2, ...), "time" (RFC 3339), "ecu", "version_before",
 * "version_after", "group_slots" (e.g. "rootfs:B"), "result" ("committed", "rolled-back",
 * "failed"), "reason", "preconditions" (array of {"phase", "ok", "output"} seen by the
 * transaction), and "prev": the lowercase hex SHA-256 of the previous line's bytes (without its
 * newline; 64 zeros for the first). Changing, removing or reordering a record breaks the chain.
 * A last line cut by a power loss (no newline) is dropped when the next record is appended.
 */

/* Called for each record with its sequence number and its JSON text (borrowed, NUL-terminated,
 * without newline). Returning an error stops the walk with that error. */
typedef enum sdv_err (*sdv_install_log_fn)(void *ud, uint64_t seq, const char *json, size_t len);

/*
 * Walks the log at path in order, calling fn for every complete record with seq >= from_seq (the
 * agent passes the last seq it reported + 1). Verifies the chain while reading: SDV_EHASH at the
 * first record whose "prev" or "seq" does not follow (errmsg names the line), SDV_EPARSE for a
 * line that is not a record. A missing file is an empty log (SDV_OK).
 */
enum sdv_err sdv_install_log_read(const char *path, uint64_t from_seq, sdv_install_log_fn fn,
                                  void *ud, char *errmsg, size_t errmsg_len);

/* Verifies the whole chain; *records (may be NULL) receives the number of records. */
enum sdv_err sdv_install_log_verify(const char *path, uint64_t *records, char *errmsg,
                                    size_t errmsg_len);

/* The path of the installer's log (owned by inst). */
const char *sdv_install_log_path(const struct sdv_install *inst);

#ifdef __cplusplus
}
#endif
#endif /* SDV_INSTALL_H */
