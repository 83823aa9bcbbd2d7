/*
 * install_int.h - private to lib/install: the parsed configuration, the persisted transaction
 * state, the bootloader model shared by the backends, the command runner and the log writer.
 */
#ifndef SDV_INSTALL_INT_H
#define SDV_INSTALL_INT_H

#include <sdv/crypto.h>
#include <sdv/install.h>
#include <sdv/limits.h>

/* Precondition verdicts kept in one transaction (and in its log record): the newest are kept,
 * so a vehicle that refused for days does not grow its state file. */
#define INSTALL_PRECONDITIONS_KEPT 8u

/* Bytes of a command's output kept as a reason. */
#define INSTALL_OUTPUT_LEN_MAX 512u

enum install_boot_kind {
    INSTALL_BOOT_FILE = 1,
    INSTALL_BOOT_GRUB = 2,
    INSTALL_BOOT_UBOOT = 3,
};

struct install_slot {
    char name[SDV_INSTALL_NAME_LEN_MAX + 1];
    char bootname[SDV_INSTALL_NAME_LEN_MAX + 1]; /* "" outside the bootable group */
    char *path;
    uint64_t size;
};

struct install_group {
    char name[SDV_INSTALL_NAME_LEN_MAX + 1];
    struct install_slot slots[SDV_INSTALL_SLOTS_MAX];
};

struct install_command {
    char *command; /* NULL: none configured */
    uint32_t timeout_ms;
};

struct sdv_install_config {
    enum install_boot_kind boot;
    char *boot_state;    /* file: state file; grub: grubenv */
    char *fw_env_config; /* uboot */
    char *fw_printenv;
    char *fw_setenv;
    char *cmdline; /* file with the kernel command line; NULL: none (file backend default) */
    unsigned boot_attempts;
    struct install_command health;
    struct install_command precondition;
    char initial_version[SDV_INSTALL_VERSION_LEN_MAX + 1];
    struct install_group groups[SDV_INSTALL_GROUPS_MAX];
    size_t group_count;
    size_t slot_count; /* per group */
    size_t boot_group; /* index of the bootable group */
};

/* ---- Bootloader model -------------------------------------------------------------------- */

/*
 * What every backend stores, in the terms of the example boot scripts: the boot order (slot
 * indexes of the bootable group, first tried first) and the tries left per slot (0: not
 * bootable). GRUB stores tries as <slot>_OK/<slot>_TRY and so knows only 0 or 1.
 */
struct install_bootenv {
    size_t count;
    size_t order[SDV_INSTALL_SLOTS_MAX];
    unsigned left[SDV_INSTALL_SLOTS_MAX];
    /* Marked bad (GRUB: <slot>_OK=0), as opposed to tried until its counter ran out (GRUB:
     * <slot>_TRY=1); both are not bootable. The other backends store only left. */
    int bad[SDV_INSTALL_SLOTS_MAX];
    int missing; /* no environment of ours yet: the factory default was loaded */
    int booted;  /* file backend only: the slot the simulated firmware booted, -1 if unknown */
};

/* The backends (install_boot_file.c, install_boot_grub.c, install_boot_uboot.c). A missing
 * environment loads as the factory default (install_bootenv_default). store is atomic: after a
 * crash the old or the new environment is read, never a mix. */
struct install_boot_ops {
    const char *name;
    enum sdv_err (*load)(const struct sdv_install_config *cfg, const char *state_dir,
                         struct install_bootenv *env, char *err, size_t err_len);
    enum sdv_err (*store)(const struct sdv_install_config *cfg, const char *state_dir,
                          const struct install_bootenv *env, char *err, size_t err_len);
};

extern const struct install_boot_ops install_boot_file_ops;
extern const struct install_boot_ops install_boot_grub_ops;
extern const struct install_boot_ops install_boot_uboot_ops;

const struct install_boot_ops *install_boot_ops_for(const struct sdv_install_config *cfg);

/* Factory default: every slot in configuration order, only the first bootable. */
void install_bootenv_default(const struct sdv_install_config *cfg, struct install_bootenv *env);

/* Sets env->order from a bootloader's list of slot boot names separated by spaces (GRUB's
 * ORDER, U-Boot's BOOT_ORDER): the named slots first, the others after them in configuration
 * order. SDV_EPARSE for an unknown or repeated name, which goes to bad (bad_len bytes). */
enum sdv_err install_bootenv_order(const struct sdv_install_config *cfg,
                                   struct install_bootenv *env, const char *list, char *bad,
                                   size_t bad_len);

/* Generic operations on the model (install_boot.c). */
void install_bootenv_try(struct install_bootenv *env, size_t slot, unsigned attempts);
void install_bootenv_good(struct install_bootenv *env, size_t slot, unsigned attempts);
void install_bootenv_bad(struct install_bootenv *env, size_t slot);
/* The firmware's choice: first slot in order with tries left (decremented), else the first in
 * order with *degraded set. */
size_t install_bootenv_pick(struct install_bootenv *env, int *degraded);

/* Index of the slot of the bootable group named bootname, or -1. */
int install_slot_by_bootname(const struct sdv_install_config *cfg, const char *bootname);

/* Finds "sdv.slot=" in a kernel command line and copies its value to out. SDV_ENOENT if absent. */
enum sdv_err install_cmdline_slot(const char *cmdline, char *out, size_t out_len);

/* GRUB environment block codec (install_boot_grub.c), exposed for the fuzz target and tests:
 * parses a 1024-byte block into name=value pairs passed to fn; builds one from pairs. */
typedef enum sdv_err (*install_kv_fn)(void *ud, const char *name, const char *value);
enum sdv_err install_grubenv_parse(const void *data, size_t len, install_kv_fn fn, void *ud,
                                   char *err, size_t err_len);

/* ---- Commands (install_cmd.c) ------------------------------------------------------------ */

struct install_cmd_result {
    int started;   /* 0: could not run at all (output says why) */
    int timed_out; /* killed after timeout_ms */
    int exit_code; /* exit status, or 128 + signal */
    char output[INSTALL_OUTPUT_LEN_MAX + 1];
};

/* Runs argv (argv[0] looked up in PATH) in its own process group with the extra environment
 * variables envv (NULL-terminated "NAME=value", may be NULL), stdin from /dev/null, capturing
 * stdout and stderr: the first bytes into res->output, and all of it into all (may be NULL; its
 * max bounds it, more is dropped); kills the group after timeout_ms. SDV_OK once the command ran
 * to its end or was killed (res says how), an errno mapping if it could not be started. */
enum sdv_err install_cmd_run(char *const argv[], uint32_t timeout_ms, char *const *envv,
                             struct sdv_buf *all, struct install_cmd_result *res);

/* install_cmd_run() of /bin/sh -c command. */
enum sdv_err install_cmd_shell(const char *command, uint32_t timeout_ms, char *const *envv,
                               struct install_cmd_result *res);

/* ---- Transaction state (install_state.c) -------------------------------------------------- */

struct install_image_state {
    size_t group;
    uint64_t length;
    uint8_t sha256[32];
    int written;     /* verified in the slot */
    uint64_t offset; /* durable prefix of the last checkpoint */
    uint8_t token[SDV_INSTALL_TOKEN_LEN_MAX];
    size_t token_len;
};

struct install_precondition {
    enum sdv_install_phase phase;
    int ok;
    int64_t time;
    char output[INSTALL_OUTPUT_LEN_MAX + 1];
};

struct install_state {
    enum sdv_install_state state;
    uint64_t tx;     /* transaction number, 1, 2, ...; 0 before the first */
    int logged;      /* the finished transaction's log record was appended */
    char result[16]; /* "committed", "rolled-back", "failed" for a finished transaction */
    char version[SDV_INSTALL_VERSION_LEN_MAX + 1];
    char version_before[SDV_INSTALL_VERSION_LEN_MAX + 1];
    char reason[SDV_INSTALL_REASON_LEN_MAX + 1];
    int64_t started;
    size_t target; /* slot index written by the transaction */
    size_t image_count;
    struct install_image_state images[SDV_INSTALL_GROUPS_MAX];
    size_t pre_count;
    struct install_precondition pre[INSTALL_PRECONDITIONS_KEPT];
    /* What each slot holds: the version written completely, "" if unknown or being written. */
    char slot_version[SDV_INSTALL_GROUPS_MAX][SDV_INSTALL_SLOTS_MAX]
                     [SDV_INSTALL_VERSION_LEN_MAX + 1];
};

enum sdv_err install_state_load(const struct sdv_install_config *cfg, const char *path,
                                struct install_state *st, char *err, size_t err_len);
enum sdv_err install_state_save(const struct sdv_install_config *cfg, const char *path,
                                const struct install_state *st);

/* ---- Log (install_log.c) ------------------------------------------------------------------ */

/* Appends one record built from a finished transaction, unless the log's last record already
 * has this transaction number (a crash between append and state save). */
enum sdv_err install_log_append(const char *path, const char *ecu, int64_t now,
                                const struct sdv_install_config *cfg,
                                const struct install_state *st, char *err, size_t err_len);

/* ---- Small helpers (install_config.c) ----------------------------------------------------- */

/* Copies s into out (out_len bytes), truncating; always NUL-terminates. */
void install_copy(char *out, size_t out_len, const char *s);

#endif /* SDV_INSTALL_INT_H */
