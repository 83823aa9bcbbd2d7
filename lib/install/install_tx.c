/*
 * install_tx.c - the installer: the transaction state machine (begin, streaming write with
 * checkpoints, read-back verification, activation), the verdict after a reboot (health check,
 * commit, rollback, fallback detection) and the preconditions. Every step first makes its
 * effect on the slot or the bootloader durable and then records the new state atomically, in
 * the order that keeps a half-written slot unbootable (see docs/install.md, power loss).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "install_int.h"

struct sdv_install {
    const struct sdv_install_config *cfg;
    const struct install_boot_ops *ops;
    char state_dir[SDV_INSTALL_PATH_LEN_MAX];
    char state_path[SDV_INSTALL_PATH_LEN_MAX];
    char log_path[SDV_INSTALL_PATH_LEN_MAX];
    char ecu[SDV_INSTALL_NAME_LEN_MAX * 4 + 1];
    char *cmdline; /* injected kernel command line, or NULL */
    sdv_install_clock_fn now;
    void *now_ud;
    sdv_install_check_fn check;
    void *check_ud;
    struct sdv_log log;
    int lock_fd;

    struct install_state st;
    char errmsg[SDV_INSTALL_REASON_LEN_MAX + 256];

    /* The open image. */
    int open_index; /* -1: none */
    int fd;
    int base_fd;
    struct sdv_hash *hash;
    uint64_t off;
    uint64_t ckpt_every;
    uint64_t last_ckpt;
    uint8_t resumed_token[SDV_INSTALL_TOKEN_LEN_MAX];
    size_t resumed_token_len;
    uint8_t *io; /* SDV_INSTALL_IO_LEN bytes, for read-back */
};

#define ERRF(inst, ...) sdv_msgf((inst)->errmsg, sizeof((inst)->errmsg), __VA_ARGS__)

static int64_t now_s(struct sdv_install *inst)
{
    return inst->now(inst->now_ud);
}

static enum sdv_err save(struct sdv_install *inst)
{
    enum sdv_err e = install_state_save(inst->cfg, inst->state_path, &inst->st);

    if (e != SDV_OK)
        ERRF(inst, "%s: cannot save the install state: %s", inst->state_path, sdv_strerror(e));
    return e;
}

static const char *slot_bootname(const struct sdv_install *inst, size_t i)
{
    return inst->cfg->groups[inst->cfg->boot_group].slots[i].bootname;
}

/* Appends the log record of a finished transaction once. */
static enum sdv_err flush_log(struct sdv_install *inst)
{
    struct install_state *st = &inst->st;
    int finished = st->state == SDV_INSTALL_COMMITTED || st->state == SDV_INSTALL_ROLLED_BACK ||
                   (st->state == SDV_INSTALL_IDLE && st->result[0] != '\0');
    enum sdv_err e;

    if (!finished || st->logged || st->tx == 0)
        return SDV_OK;
    e = install_log_append(inst->log_path, inst->ecu, now_s(inst), inst->cfg, st, inst->errmsg,
                           sizeof(inst->errmsg));
    if (e != SDV_OK)
        return e;
    st->logged = 1;
    return save(inst);
}

static enum sdv_err boot_load(struct sdv_install *inst, struct install_bootenv *env)
{
    enum sdv_err e =
            inst->ops->load(inst->cfg, inst->state_dir, env, inst->errmsg, sizeof(inst->errmsg));
    if (e != SDV_OK && inst->errmsg[0] == '\0')
        ERRF(inst, "%s bootloader: cannot read its environment: %s", inst->ops->name,
             sdv_strerror(e));
    return e;
}

static enum sdv_err boot_store(struct sdv_install *inst, const struct install_bootenv *env)
{
    enum sdv_err e =
            inst->ops->store(inst->cfg, inst->state_dir, env, inst->errmsg, sizeof(inst->errmsg));
    if (e != SDV_OK && inst->errmsg[0] == '\0')
        ERRF(inst, "%s bootloader: cannot write its environment: %s", inst->ops->name,
             sdv_strerror(e));
    return e;
}

/* The booted slot (index in the bootable group): from the injected or configured kernel command
 * line, else (file backend) from the simulated firmware's record. -1 if unknown. */
static int booted_slot(struct sdv_install *inst, const struct install_bootenv *env)
{
    char name[SDV_INSTALL_NAME_LEN_MAX + 1];
    const char *cl = inst->cmdline;
    struct sdv_buf b;
    int s = -1;

    sdv_buf_init(&b, 64u * 1024u);
    if (cl == NULL && inst->cfg->cmdline != NULL && sdv_fs_read(inst->cfg->cmdline, &b) == SDV_OK &&
        b.data != NULL)
        cl = (const char *)b.data;
    if (cl != NULL && install_cmdline_slot(cl, name, sizeof(name)) == SDV_OK)
        s = install_slot_by_bootname(inst->cfg, name);
    sdv_buf_free(&b);
    if (s < 0 && inst->cfg->boot == INSTALL_BOOT_FILE && env != NULL)
        s = env->booted;
    return s;
}

/* Loads the boot environment and the booted slot; SDV_EINVAL ("cannot tell the booted slot",
 * then what) when neither the kernel command line nor the file backend says which it is. */
static enum sdv_err boot_load_booted(struct sdv_install *inst, struct install_bootenv *env,
                                     const char *what, int *booted)
{
    enum sdv_err e = boot_load(inst, env);

    if (e != SDV_OK)
        return e;
    *booted = booted_slot(inst, env);
    if (*booted < 0) {
        ERRF(inst, "cannot tell the booted slot%s", what);
        return SDV_EINVAL;
    }
    return SDV_OK;
}

static const char *running_version(const struct sdv_install *inst, int booted)
{
    const char *v;

    if (booted < 0)
        return "";
    v = inst->st.slot_version[inst->cfg->boot_group][booted];
    return v[0] != '\0' ? v : inst->cfg->initial_version;
}

/* Command output and reasons are kept as printable ASCII (they go into JSON). */
static void clean_copy(char *out, size_t out_len, const char *s)
{
    size_t n = 0;

    for (; *s != '\0' && n + 1 < out_len; s++)
        out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : (*s == '\n' || *s == '\t' ? ' ' : '?');
    out[n] = '\0';
}

/* Runs the precondition command and the hook for phase; records the verdict. */
static enum sdv_err precheck(struct sdv_install *inst, enum sdv_install_phase phase, int *refused)
{
    const char *pname = phase == SDV_INSTALL_PHASE_WRITE ? "write" : "activate";
    struct install_state *st = &inst->st;
    struct install_precondition *p;
    char why[SDV_INSTALL_REASON_LEN_MAX + 1] = "";
    int ok = 1;

    *refused = 0;
    if (inst->cfg->precondition.command != NULL) {
        struct install_cmd_result res;
        char ev1[64], ev2[SDV_INSTALL_VERSION_LEN_MAX + 32];
        char *envv[] = {ev1, ev2, NULL};
        enum sdv_err e;
        snprintf(ev1, sizeof(ev1), "SDV_INSTALL_PHASE=%s", pname);
        snprintf(ev2, sizeof(ev2), "SDV_INSTALL_VERSION=%s", st->version);
        e = install_cmd_shell(inst->cfg->precondition.command, inst->cfg->precondition.timeout_ms,
                              envv, &res);
        if (e != SDV_OK || !res.started) {
            ok = 0;
            sdv_msgf(why, sizeof(why), "cannot run: %s", res.output);
        } else if (res.timed_out) {
            ok = 0;
            sdv_msgf(why, sizeof(why), "timed out after %u ms", inst->cfg->precondition.timeout_ms);
        } else if (res.exit_code != 0) {
            ok = 0;
            sdv_msgf(why, sizeof(why), "exit status %d%s%s", res.exit_code,
                     res.output[0] != '\0' ? ": " : "", res.output);
        } else {
            sdv_msgf(why, sizeof(why), "%s", res.output);
        }
    }
    if (ok && inst->check != NULL) {
        char r[SDV_INSTALL_REASON_LEN_MAX + 1] = "";
        int hook_ok = 0;
        enum sdv_err e = inst->check(inst->check_ud, phase, &hook_ok, r, sizeof(r));
        r[sizeof(r) - 1] = '\0';
        if (e != SDV_OK || !hook_ok) {
            ok = 0;
            sdv_msgf(why, sizeof(why), "%s%s", r, e != SDV_OK ? " (the check failed to run)" : "");
        }
    }
    if (inst->cfg->precondition.command == NULL && inst->check == NULL)
        return SDV_OK;
    if (st->pre_count == INSTALL_PRECONDITIONS_KEPT) {
        memmove(&st->pre[0], &st->pre[1], sizeof(st->pre[0]) * (INSTALL_PRECONDITIONS_KEPT - 1));
        st->pre_count--;
    }
    p = &st->pre[st->pre_count++];
    p->phase = phase;
    p->ok = ok;
    p->time = now_s(inst);
    clean_copy(p->output, sizeof(p->output), why);
    if (!ok) {
        *refused = 1;
        ERRF(inst, "precondition before %s refused: %s", pname, p->output);
        sdv_logf(&inst->log, SDV_LOG_WARN, "%s", inst->errmsg);
    }
    return save(inst);
}

enum sdv_err sdv_install_create(const struct sdv_install_config *cfg,
                                const struct sdv_install_env *env, struct sdv_install **out,
                                char *errmsg, size_t errmsg_len)
{
    struct sdv_install *inst;
    char lock[SDV_INSTALL_PATH_LEN_MAX];
    enum sdv_err e;

    sdv_msgf(errmsg, errmsg_len, "%s", "");
    if (out == NULL)
        return SDV_EINVAL;
    *out = NULL;
    if (cfg == NULL || env == NULL || env->state_dir == NULL || env->now == NULL) {
        sdv_msgf(errmsg, errmsg_len, "configuration, state_dir and clock are required");
        return SDV_EINVAL;
    }
    inst = calloc(1, sizeof(*inst));
    if (inst == NULL)
        return SDV_ENOMEM;
    inst->cfg = cfg;
    inst->ops = install_boot_ops_for(cfg);
    inst->now = env->now;
    inst->now_ud = env->now_ud;
    inst->check = env->check;
    inst->check_ud = env->check_ud;
    inst->log = env->log;
    inst->open_index = -1;
    inst->fd = -1;
    inst->base_fd = -1;
    inst->lock_fd = -1;
    install_copy(inst->ecu, sizeof(inst->ecu), env->ecu != NULL ? env->ecu : "");
    if (strlen(env->state_dir) >= sizeof(inst->state_dir) - 32) {
        e = SDV_ETOOBIG;
        goto fail;
    }
    install_copy(inst->state_dir, sizeof(inst->state_dir), env->state_dir);
    snprintf(inst->state_path, sizeof(inst->state_path), "%s/install-state.json", env->state_dir);
    snprintf(inst->log_path, sizeof(inst->log_path), "%s/install-log.jsonl", env->state_dir);
    snprintf(lock, sizeof(lock), "%s/lock", env->state_dir);
    if (env->cmdline != NULL && (inst->cmdline = strdup(env->cmdline)) == NULL) {
        e = SDV_ENOMEM;
        goto fail;
    }
    e = sdv_fs_mkdir_p(env->state_dir, 0755);
    if (e != SDV_OK) {
        sdv_msgf(errmsg, errmsg_len, "%s: %s", env->state_dir, sdv_strerror(e));
        goto fail;
    }
    inst->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (inst->lock_fd < 0 || flock(inst->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        sdv_msgf(errmsg, errmsg_len, "%s: another installer uses this state directory", lock);
        e = SDV_EEXIST;
        goto fail;
    }
    e = install_state_load(cfg, inst->state_path, &inst->st, errmsg, errmsg_len);
    if (e != SDV_OK)
        goto fail;
    *out = inst;
    return SDV_OK;
fail:
    sdv_install_destroy(inst);
    return e;
}

static void close_image(struct sdv_install *inst)
{
    if (inst->fd >= 0)
        close(inst->fd);
    if (inst->base_fd >= 0)
        close(inst->base_fd);
    inst->fd = -1;
    inst->base_fd = -1;
    sdv_hash_destroy(inst->hash);
    inst->hash = NULL;
    inst->open_index = -1;
}

void sdv_install_destroy(struct sdv_install *inst)
{
    if (inst == NULL)
        return;
    close_image(inst);
    if (inst->lock_fd >= 0)
        close(inst->lock_fd);
    free(inst->io);
    free(inst->cmdline);
    free(inst);
}

const char *sdv_install_errmsg(const struct sdv_install *inst)
{
    return inst != NULL ? inst->errmsg : "";
}

const char *sdv_install_log_path(const struct sdv_install *inst)
{
    return inst->log_path;
}

static int same_images(const struct install_state *st, const struct sdv_install_config *cfg,
                       const struct sdv_install_image *images, size_t count)
{
    if (st->image_count != count)
        return 0;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(cfg->groups[st->images[i].group].name, images[i].group) != 0 ||
            st->images[i].length != images[i].length ||
            memcmp(st->images[i].sha256, images[i].sha256, 32) != 0)
            return 0;
    }
    return 1;
}

enum sdv_err sdv_install_begin(struct sdv_install *inst, const char *version,
                               const struct sdv_install_image *images, size_t count)
{
    const struct sdv_install_config *cfg;
    struct install_state *st;
    struct install_bootenv env;
    size_t groups[SDV_INSTALL_GROUPS_MAX];
    int booted, has_boot = 0;
    enum sdv_err e;

    if (inst == NULL || version == NULL || images == NULL)
        return SDV_EINVAL;
    cfg = inst->cfg;
    st = &inst->st;
    inst->errmsg[0] = '\0';
    if (strlen(version) == 0 || strlen(version) > SDV_INSTALL_VERSION_LEN_MAX) {
        ERRF(inst, "version: 1 to %u bytes", SDV_INSTALL_VERSION_LEN_MAX);
        return SDV_EINVAL;
    }
    if (st->state == SDV_INSTALL_ACTIVATED || st->state == SDV_INSTALL_BOOTED) {
        ERRF(inst, "version %s is %s: reboot and give its verdict first", st->version,
             sdv_install_state_name(st->state));
        return SDV_EEXIST;
    }
    if (st->state == SDV_INSTALL_DOWNLOADING || st->state == SDV_INSTALL_WRITING ||
        st->state == SDV_INSTALL_WRITTEN) {
        if (strcmp(st->version, version) == 0 && same_images(st, cfg, images, count))
            return SDV_OK; /* resumed after a restart */
        ERRF(inst, "the installation of version %s is %s: abort it first", st->version,
             sdv_install_state_name(st->state));
        return SDV_EEXIST;
    }
    if ((e = flush_log(inst)) != SDV_OK)
        return e;
    if (st->state == SDV_INSTALL_ROLLED_BACK) {
        /* Still running the slot that failed? Then the only good slot is the other one, which
         * would be the target: reboot into it first. */
        struct install_bootenv env0;
        if ((e = boot_load(inst, &env0)) != SDV_OK)
            return e;
        if (booted_slot(inst, &env0) == (int)st->target) {
            ERRF(inst, "version %s was rolled back and slot %s still runs: reboot first",
                 st->version, slot_bootname(inst, st->target));
            return SDV_EEXIST;
        }
    }
    if (count == 0 || count > cfg->group_count) {
        ERRF(inst, "a transaction has 1 to %zu images", cfg->group_count);
        return SDV_EINVAL;
    }
    for (size_t i = 0; i < count; i++) {
        size_t g;
        for (g = 0; g < cfg->group_count; g++)
            if (images[i].group != NULL && strcmp(cfg->groups[g].name, images[i].group) == 0)
                break;
        if (g == cfg->group_count) {
            ERRF(inst, "image %zu: no slot group \"%s\"", i,
                 images[i].group != NULL ? images[i].group : "(null)");
            return SDV_ENOENT;
        }
        for (size_t k = 0; k < i; k++) {
            if (groups[k] == g) {
                ERRF(inst, "image %zu: group \"%s\" twice", i, images[i].group);
                return SDV_EINVAL;
            }
        }
        groups[i] = g;
        has_boot |= g == cfg->boot_group;
    }
    if (!has_boot) {
        ERRF(inst, "a transaction must include the bootable group \"%s\"",
             cfg->groups[cfg->boot_group].name);
        return SDV_EINVAL;
    }
    e = boot_load_booted(inst, &env,
                         " (no sdv.slot= on the kernel command line): refusing to write anything",
                         &booted);
    if (e != SDV_OK)
        return e;
    {
        size_t target = ((size_t)booted + 1) % cfg->slot_count;
        for (size_t i = 0; i < count; i++) {
            const struct install_slot *s = &cfg->groups[groups[i]].slots[target];
            if (images[i].length > s->size) {
                ERRF(inst, "image for %s: %llu bytes do not fit in slot %s (%llu bytes)",
                     images[i].group, (unsigned long long)images[i].length, s->name,
                     (unsigned long long)s->size);
                return SDV_ETOOBIG;
            }
        }
        install_copy(st->version_before, sizeof(st->version_before), running_version(inst, booted));
        st->target = target;
    }
    st->tx++;
    st->state = SDV_INSTALL_DOWNLOADING;
    st->logged = 0;
    st->result[0] = '\0';
    st->reason[0] = '\0';
    st->started = now_s(inst);
    install_copy(st->version, sizeof(st->version), version);
    st->image_count = count;
    st->pre_count = 0;
    for (size_t i = 0; i < count; i++) {
        memset(&st->images[i], 0, sizeof(st->images[i]));
        st->images[i].group = groups[i];
        st->images[i].length = images[i].length;
        memcpy(st->images[i].sha256, images[i].sha256, 32);
    }
    sdv_logf(&inst->log, SDV_LOG_INFO, "install %s into slot %s (running %s)", version,
             slot_bootname(inst, st->target), st->version_before);
    return save(inst);
}

enum sdv_err sdv_install_abort(struct sdv_install *inst, const char *reason)
{
    struct install_state *st = &inst->st;

    if (st->state != SDV_INSTALL_DOWNLOADING && st->state != SDV_INSTALL_WRITING &&
        st->state != SDV_INSTALL_WRITTEN) {
        ERRF(inst, "nothing to abort in state %s", sdv_install_state_name(st->state));
        return SDV_EINVAL;
    }
    close_image(inst);
    st->state = SDV_INSTALL_IDLE;
    install_copy(st->result, sizeof(st->result), "failed");
    clean_copy(st->reason, sizeof(st->reason), reason != NULL ? reason : "aborted");
    st->logged = 0;
    if (save(inst) != SDV_OK)
        return SDV_EIO;
    return flush_log(inst);
}

/* Non-zero if a and b are the same file or device. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    if (strcmp(a, b) == 0)
        return 1;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return 0;
    if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
        return sa.st_rdev == sb.st_rdev;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static enum sdv_err io_buffer(struct sdv_install *inst)
{
    if (inst->io == NULL)
        inst->io = malloc(SDV_INSTALL_IO_LEN);
    return inst->io != NULL ? SDV_OK : SDV_ENOMEM;
}

/* Hashes fd[0..len) into out (a fresh context when h is NULL, else continues h). */
static enum sdv_err hash_fd(struct sdv_install *inst, int fd, uint64_t len, struct sdv_hash *h,
                            uint8_t *out)
{
    struct sdv_hash *own = NULL;
    enum sdv_err e = io_buffer(inst);

    if (e == SDV_OK && h == NULL && (e = sdv_hash_create(SDV_HASH_SHA256, &own)) == SDV_OK)
        h = own;
    for (uint64_t off = 0; e == SDV_OK && off < len;) {
        size_t n = len - off < SDV_INSTALL_IO_LEN ? (size_t)(len - off) : SDV_INSTALL_IO_LEN;
        e = sdv_fs_pread_all(fd, inst->io, n, off);
        if (e == SDV_OK)
            e = sdv_hash_update(h, inst->io, n);
        off += n;
    }
    if (e == SDV_OK && out != NULL)
        e = sdv_hash_final(h, out);
    sdv_hash_destroy(own);
    return e;
}

enum sdv_err sdv_install_write_open(struct sdv_install *inst, size_t index,
                                    const struct sdv_install_write_opts *opts, uint64_t *offset,
                                    int *refused)
{
    const struct sdv_install_config *cfg;
    struct install_state *st;
    struct install_image_state *im;
    const struct install_group *g;
    struct install_bootenv env;
    int booted, resume, dummy;
    enum sdv_err e;

    if (inst == NULL || offset == NULL)
        return SDV_EINVAL;
    if (refused == NULL)
        refused = &dummy;
    *refused = 0;
    *offset = 0;
    cfg = inst->cfg;
    st = &inst->st;
    inst->errmsg[0] = '\0';
    close_image(inst);
    if ((st->state != SDV_INSTALL_DOWNLOADING && st->state != SDV_INSTALL_WRITING) ||
        index >= st->image_count) {
        ERRF(inst, "cannot write image %zu in state %s", index, sdv_install_state_name(st->state));
        return SDV_EINVAL;
    }
    im = &st->images[index];
    g = &cfg->groups[im->group];
    if ((e = boot_load(inst, &env)) != SDV_OK)
        return e;
    booted = booted_slot(inst, &env);
    if (booted < 0 || (size_t)booted == st->target) {
        ERRF(inst, "refusing to write slot %s.%s: %s", g->name, g->slots[st->target].name,
             booted < 0 ? "the booted slot is unknown" : "it is the booted (active) slot");
        return SDV_EINVAL;
    }
    if (same_file(g->slots[st->target].path, g->slots[booted].path)) {
        ERRF(inst, "refusing to write %s: it is the active slot %s.%s", g->slots[st->target].path,
             g->name, g->slots[booted].name);
        return SDV_EINVAL;
    }
    if ((e = precheck(inst, SDV_INSTALL_PHASE_WRITE, refused)) != SDV_OK || *refused)
        return e;
    /* The target becomes unbootable before its first byte changes. */
    install_bootenv_bad(&env, st->target);
    if ((e = boot_store(inst, &env)) != SDV_OK)
        return e;
    resume = opts != NULL && opts->resume && !im->written;
    if (!resume) {
        im->offset = 0;
        im->token_len = 0;
    }
    im->written = 0;
    st->slot_version[im->group][st->target][0] = '\0';
    st->state = SDV_INSTALL_WRITING;
    if ((e = save(inst)) != SDV_OK)
        return e;
    inst->fd = open(g->slots[st->target].path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (inst->fd < 0) {
        e = sdv_err_from_errno(errno);
        ERRF(inst, "%s: %s", g->slots[st->target].path, strerror(errno));
        return e;
    }
    inst->base_fd = open(g->slots[booted].path, O_RDONLY | O_CLOEXEC);
    if ((e = sdv_hash_create(SDV_HASH_SHA256, &inst->hash)) != SDV_OK)
        goto fail;
    if (im->offset > 0) {
        e = hash_fd(inst, inst->fd, im->offset, inst->hash, NULL);
        if (e != SDV_OK) {
            ERRF(inst, "%s: re-hashing the written prefix: %s", g->slots[st->target].path,
                 sdv_strerror(e));
            goto fail;
        }
    }
    if (lseek(inst->fd, (off_t)im->offset, SEEK_SET) < 0) {
        e = sdv_err_from_errno(errno);
        goto fail;
    }
    inst->open_index = (int)index;
    inst->off = im->offset;
    inst->last_ckpt = im->offset;
    inst->ckpt_every = opts != NULL ? opts->checkpoint_every : 0;
    memcpy(inst->resumed_token, im->token, im->token_len);
    inst->resumed_token_len = im->token_len;
    *offset = im->offset;
    return SDV_OK;
fail:
    close_image(inst);
    return e;
}

enum sdv_err sdv_install_write(struct sdv_install *inst, const void *data, size_t len)
{
    const struct install_image_state *im;
    enum sdv_err e;

    if (inst == NULL || inst->open_index < 0) {
        if (inst != NULL)
            ERRF(inst, "no image is open for writing");
        return SDV_EINVAL;
    }
    im = &inst->st.images[inst->open_index];
    if (len > im->length - inst->off) {
        ERRF(inst, "more than the announced %llu bytes", (unsigned long long)im->length);
        return SDV_ETOOBIG;
    }
    e = sdv_fs_write_all(inst->fd, data, len);
    if (e == SDV_OK)
        e = sdv_hash_update(inst->hash, data, len);
    if (e != SDV_OK) {
        ERRF(inst, "writing the slot at %llu: %s", (unsigned long long)inst->off, sdv_strerror(e));
        return e;
    }
    inst->off += len;
    if (inst->ckpt_every > 0 && inst->off - inst->last_ckpt >= inst->ckpt_every)
        return sdv_install_write_checkpoint(inst, NULL, 0);
    return SDV_OK;
}

enum sdv_err sdv_install_sink(void *ud, const void *data, size_t len)
{
    return sdv_install_write(ud, data, len);
}

enum sdv_err sdv_install_write_checkpoint(struct sdv_install *inst, const void *token,
                                          size_t token_len)
{
    struct install_image_state *im;

    if (inst == NULL || inst->open_index < 0 || token_len > SDV_INSTALL_TOKEN_LEN_MAX ||
        (token == NULL && token_len > 0))
        return SDV_EINVAL;
    im = &inst->st.images[inst->open_index];
    if (fdatasync(inst->fd) != 0) {
        ERRF(inst, "fsync of the slot: %s", strerror(errno));
        return sdv_err_from_errno(errno);
    }
    im->offset = inst->off;
    if (token_len > 0)
        memcpy(im->token, token, token_len);
    im->token_len = token_len;
    inst->last_ckpt = inst->off;
    return save(inst);
}

enum sdv_err sdv_install_write_token(const struct sdv_install *inst, void *buf, size_t buf_max,
                                     size_t *len)
{
    if (inst == NULL || len == NULL)
        return SDV_EINVAL;
    *len = 0;
    if (inst->resumed_token_len > buf_max)
        return SDV_ETOOBIG;
    if (inst->resumed_token_len > 0)
        memcpy(buf, inst->resumed_token, inst->resumed_token_len);
    *len = inst->resumed_token_len;
    return SDV_OK;
}

/* Forgets a bad image: the next write_open starts it at 0. */
static enum sdv_err image_reset(struct sdv_install *inst, struct install_image_state *im)
{
    im->offset = 0;
    im->token_len = 0;
    im->written = 0;
    close_image(inst);
    return save(inst);
}

enum sdv_err sdv_install_write_close(struct sdv_install *inst)
{
    struct install_state *st;
    struct install_image_state *im;
    const struct install_slot *slot;
    uint8_t digest[32];
    struct stat sb;
    enum sdv_err e;
    int all = 1, rfd;

    if (inst == NULL || inst->open_index < 0) {
        if (inst != NULL)
            ERRF(inst, "no image is open for writing");
        return SDV_EINVAL;
    }
    st = &inst->st;
    im = &st->images[inst->open_index];
    slot = &inst->cfg->groups[im->group].slots[st->target];
    if (inst->off != im->length) {
        ERRF(inst, "%s: %llu of %llu bytes written", slot->path, (unsigned long long)inst->off,
             (unsigned long long)im->length);
        image_reset(inst, im);
        return SDV_EHASH;
    }
    if ((e = sdv_hash_final(inst->hash, digest)) != SDV_OK)
        return e;
    if (memcmp(digest, im->sha256, 32) != 0) {
        ERRF(inst, "%s: the image written does not have the announced SHA-256", slot->path);
        image_reset(inst, im);
        return SDV_EHASH;
    }
    if (fstat(inst->fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
        ftruncate(inst->fd, (off_t)im->length) != 0) {
        ERRF(inst, "%s: truncate: %s", slot->path, strerror(errno));
        return sdv_err_from_errno(errno);
    }
    if (fsync(inst->fd) != 0) {
        ERRF(inst, "%s: fsync: %s", slot->path, strerror(errno));
        return sdv_err_from_errno(errno);
    }
    close_image(inst);
    /* Read back through a new descriptor, after asking the kernel to drop its cached pages, so
     * the check sees what the medium returns. */
    rfd = open(slot->path, O_RDONLY | O_CLOEXEC);
    if (rfd < 0) {
        ERRF(inst, "%s: %s", slot->path, strerror(errno));
        return sdv_err_from_errno(errno);
    }
    (void)posix_fadvise(rfd, 0, (off_t)im->length, POSIX_FADV_DONTNEED);
    e = hash_fd(inst, rfd, im->length, NULL, digest);
    close(rfd);
    if (e != SDV_OK || memcmp(digest, im->sha256, 32) != 0) {
        ERRF(inst, "%s: read-back verification failed: %s", slot->path,
             e != SDV_OK ? sdv_strerror(e) : "SHA-256 differs from the image");
        image_reset(inst, im);
        return SDV_EHASH;
    }
    im->written = 1;
    im->offset = im->length;
    install_copy(st->slot_version[im->group][st->target], sizeof(st->slot_version[0][0]),
                 st->version);
    for (size_t i = 0; i < st->image_count; i++)
        all = all && st->images[i].written;
    if (all)
        st->state = SDV_INSTALL_WRITTEN;
    return save(inst);
}

enum sdv_err sdv_install_read_target(void *ud, uint64_t off, void *buf, size_t len)
{
    struct sdv_install *inst = ud;

    if (inst == NULL || inst->fd < 0)
        return SDV_EINVAL;
    return sdv_fs_pread_all(inst->fd, buf, len, off);
}

enum sdv_err sdv_install_read_base(void *ud, uint64_t off, void *buf, size_t len)
{
    struct sdv_install *inst = ud;

    if (inst == NULL || inst->base_fd < 0)
        return SDV_EINVAL;
    return sdv_fs_pread_all(inst->base_fd, buf, len, off);
}

enum sdv_err sdv_install_activate(struct sdv_install *inst, int *refused)
{
    struct install_state *st;
    struct install_bootenv env;
    int dummy;
    enum sdv_err e;

    if (inst == NULL)
        return SDV_EINVAL;
    if (refused == NULL)
        refused = &dummy;
    *refused = 0;
    st = &inst->st;
    inst->errmsg[0] = '\0';
    if (st->state != SDV_INSTALL_WRITTEN) {
        ERRF(inst, "cannot activate in state %s", sdv_install_state_name(st->state));
        return SDV_EINVAL;
    }
    if ((e = precheck(inst, SDV_INSTALL_PHASE_ACTIVATE, refused)) != SDV_OK || *refused)
        return e;
    /* Intent first: a crash before the bootloader changes is recognised after the reboot (the
     * target is not first in the boot order) and the transaction returns to written. */
    st->state = SDV_INSTALL_ACTIVATED;
    if ((e = save(inst)) != SDV_OK)
        return e;
    if ((e = boot_load(inst, &env)) != SDV_OK)
        return e;
    install_bootenv_try(&env, st->target, inst->cfg->boot_attempts);
    if ((e = boot_store(inst, &env)) != SDV_OK)
        return e;
    sdv_logf(&inst->log, SDV_LOG_INFO, "version %s activated in slot %s: reboot to try it",
             st->version, slot_bootname(inst, st->target));
    return SDV_OK;
}

static enum sdv_err commit(struct sdv_install *inst, struct install_bootenv *env)
{
    struct install_state *st = &inst->st;
    enum sdv_err e;

    install_bootenv_good(env, st->target, inst->cfg->boot_attempts);
    if ((e = boot_store(inst, env)) != SDV_OK)
        return e;
    st->state = SDV_INSTALL_COMMITTED;
    install_copy(st->result, sizeof(st->result), "committed");
    st->reason[0] = '\0';
    st->logged = 0;
    if ((e = save(inst)) != SDV_OK)
        return e;
    sdv_logf(&inst->log, SDV_LOG_INFO, "version %s committed in slot %s", st->version,
             slot_bootname(inst, st->target));
    return flush_log(inst);
}

/* Ends the transaction as rolled back with reason; marks the target bad. */
static enum sdv_err rollback(struct sdv_install *inst, struct install_bootenv *env,
                             const char *reason)
{
    struct install_state *st = &inst->st;
    enum sdv_err e;

    /* The reason is durable before the bootloader changes: a crash in between still reports
     * it after the fallback boot. */
    if (strcmp(st->reason, reason) != 0) {
        clean_copy(st->reason, sizeof(st->reason), reason);
        if ((e = save(inst)) != SDV_OK)
            return e;
    }
    install_bootenv_bad(env, st->target);
    if ((e = boot_store(inst, env)) != SDV_OK)
        return e;
    st->state = SDV_INSTALL_ROLLED_BACK;
    install_copy(st->result, sizeof(st->result), "rolled-back");
    st->logged = 0;
    if ((e = save(inst)) != SDV_OK)
        return e;
    sdv_logf(&inst->log, SDV_LOG_WARN, "version %s rolled back: %s", st->version, st->reason);
    return flush_log(inst);
}

static void report_fill(struct sdv_install *inst, struct sdv_install_boot_report *r, int booted)
{
    r->state = inst->st.state;
    install_copy(r->booted, sizeof(r->booted),
                 booted >= 0 ? slot_bootname(inst, (size_t)booted) : "");
    install_copy(r->version, sizeof(r->version),
                 inst->st.state == SDV_INSTALL_IDLE && inst->st.result[0] == '\0'
                         ? ""
                         : inst->st.version);
}

static enum sdv_err run_health(struct sdv_install *inst, struct install_bootenv *env,
                               struct sdv_install_boot_report *r, int booted)
{
    const struct install_command *hc = &inst->cfg->health;
    struct install_state *st = &inst->st;
    struct install_cmd_result res;
    char ev1[SDV_INSTALL_NAME_LEN_MAX + 32], ev2[SDV_INSTALL_VERSION_LEN_MAX + 32];
    char *envv[] = {ev1, ev2, NULL};
    char why[SDV_INSTALL_REASON_LEN_MAX + 1];
    enum sdv_err e;

    if (hc->command == NULL) {
        r->event = SDV_INSTALL_EVENT_TRIAL;
        report_fill(inst, r, booted);
        return SDV_OK;
    }
    snprintf(ev1, sizeof(ev1), "SDV_INSTALL_SLOT=%s", slot_bootname(inst, st->target));
    snprintf(ev2, sizeof(ev2), "SDV_INSTALL_VERSION=%s", st->version);
    e = install_cmd_shell(hc->command, hc->timeout_ms, envv, &res);
    if (e == SDV_OK && res.started && !res.timed_out && res.exit_code == 0) {
        e = commit(inst, env);
        r->event = SDV_INSTALL_EVENT_COMMITTED;
    } else {
        if (e != SDV_OK || !res.started)
            sdv_msgf(why, sizeof(why), "health check could not run: %s", res.output);
        else if (res.timed_out)
            sdv_msgf(why, sizeof(why), "health check timed out after %u ms", hc->timeout_ms);
        else
            sdv_msgf(why, sizeof(why), "health check failed (exit status %d)%s%s", res.exit_code,
                     res.output[0] != '\0' ? ": " : "", res.output);
        e = rollback(inst, env, why);
        r->event = SDV_INSTALL_EVENT_ROLLED_BACK;
        r->reboot_required = 1;
        install_copy(r->reason, sizeof(r->reason), st->reason);
    }
    report_fill(inst, r, booted);
    return e;
}

enum sdv_err sdv_install_boot(struct sdv_install *inst, struct sdv_install_boot_report *r)
{
    struct install_state *st;
    struct install_bootenv env;
    int booted;
    enum sdv_err e;

    if (inst == NULL || r == NULL)
        return SDV_EINVAL;
    memset(r, 0, sizeof(*r));
    st = &inst->st;
    inst->errmsg[0] = '\0';
    if ((e = flush_log(inst)) != SDV_OK)
        return e;
    e = boot_load_booted(inst, &env, " (no sdv.slot= on the kernel command line)", &booted);
    if (e != SDV_OK)
        return e;
    if (st->state == SDV_INSTALL_ACTIVATED && (size_t)booted != st->target) {
        if (env.order[0] != st->target) {
            /* The activation never reached the bootloader (power loss in between). */
            st->state = SDV_INSTALL_WRITTEN;
            e = save(inst);
            report_fill(inst, r, booted);
            return e;
        }
        if (env.left[st->target] > 0 && !env.bad[st->target]) {
            report_fill(inst, r, booted); /* not rebooted yet */
            return SDV_OK;
        }
    }
    if ((st->state == SDV_INSTALL_ACTIVATED || st->state == SDV_INSTALL_BOOTED) &&
        (size_t)booted == st->target) {
        if (st->state == SDV_INSTALL_ACTIVATED) {
            st->state = SDV_INSTALL_BOOTED;
            if ((e = save(inst)) != SDV_OK)
                return e;
        }
        sdv_logf(&inst->log, SDV_LOG_INFO, "trial boot of version %s in slot %s", st->version,
                 slot_bootname(inst, st->target));
        return run_health(inst, &env, r, booted);
    }
    if (st->state == SDV_INSTALL_ACTIVATED || st->state == SDV_INSTALL_BOOTED) {
        char why[SDV_INSTALL_REASON_LEN_MAX + 1];
        if (st->reason[0] != '\0')
            install_copy(why, sizeof(why), st->reason);
        else
            sdv_msgf(why, sizeof(why),
                     "boot counter exhausted: slot %s was not confirmed good within %u "
                     "boot attempt(s); the bootloader fell back to slot %s",
                     slot_bootname(inst, st->target), inst->cfg->boot_attempts,
                     slot_bootname(inst, (size_t)booted));
        e = rollback(inst, &env, why);
        r->event = SDV_INSTALL_EVENT_ROLLED_BACK;
        install_copy(r->reason, sizeof(r->reason), st->reason);
        if (e == SDV_OK) {
            /* The slot we fell back to is good: reset its counter. */
            install_bootenv_good(&env, (size_t)booted, inst->cfg->boot_attempts);
            e = boot_store(inst, &env);
        }
        report_fill(inst, r, booted);
        return e;
    }
    if (st->state == SDV_INSTALL_ROLLED_BACK && (size_t)booted == st->target) {
        /* Still on the slot that failed: only a reboot helps. */
        r->event = SDV_INSTALL_EVENT_ROLLED_BACK;
        r->reboot_required = 1;
        install_copy(r->reason, sizeof(r->reason), st->reason);
        report_fill(inst, r, booted);
        return SDV_OK;
    }
    /* A normal boot: the running slot is good, so its boot counter is reset (GRUB: its _TRY
     * flag cleared), as RAUC's mark-good on every boot. */
    if (env.left[booted] != inst->cfg->boot_attempts || env.bad[booted] || env.missing) {
        install_bootenv_good(&env, (size_t)booted, inst->cfg->boot_attempts);
        if ((e = boot_store(inst, &env)) != SDV_OK)
            return e;
    }
    report_fill(inst, r, booted);
    return SDV_OK;
}

/* Marks the booted slot good or bad. When it is the target of an update that just booted, that
 * update commits (good) or rolls back (bad, for reason). */
static enum sdv_err mark_booted(struct sdv_install *inst, int good, const char *reason)
{
    struct install_bootenv env;
    int booted;
    enum sdv_err e;

    if (inst == NULL)
        return SDV_EINVAL;
    inst->errmsg[0] = '\0';
    if ((e = boot_load_booted(inst, &env, "", &booted)) != SDV_OK)
        return e;
    if (inst->st.state == SDV_INSTALL_BOOTED && (size_t)booted == inst->st.target)
        return good ? commit(inst, &env)
                    : rollback(inst, &env, reason != NULL ? reason : "marked bad");
    if (good)
        install_bootenv_good(&env, (size_t)booted, inst->cfg->boot_attempts);
    else
        install_bootenv_bad(&env, (size_t)booted);
    return boot_store(inst, &env);
}

enum sdv_err sdv_install_mark_good(struct sdv_install *inst)
{
    return mark_booted(inst, 1, NULL);
}

enum sdv_err sdv_install_mark_bad(struct sdv_install *inst, const char *reason)
{
    return mark_booted(inst, 0, reason);
}

enum sdv_err sdv_install_status(struct sdv_install *inst, struct sdv_install_status *out)
{
    const struct sdv_install_config *cfg;
    struct install_bootenv env;
    int booted;
    enum sdv_err e;

    if (inst == NULL || out == NULL)
        return SDV_EINVAL;
    cfg = inst->cfg;
    memset(out, 0, sizeof(*out));
    if ((e = boot_load(inst, &env)) != SDV_OK)
        return e;
    booted = booted_slot(inst, &env);
    out->state = inst->st.state;
    install_copy(out->booted, sizeof(out->booted),
                 booted >= 0 ? slot_bootname(inst, (size_t)booted) : "");
    install_copy(out->version, sizeof(out->version), inst->st.version);
    install_copy(out->running, sizeof(out->running), running_version(inst, booted));
    install_copy(out->reason, sizeof(out->reason), inst->st.reason);
    out->written = inst->open_index >= 0 ? inst->off : 0;
    for (size_t i = 0; i < inst->st.image_count && inst->open_index < 0; i++)
        if (!inst->st.images[i].written)
            out->written = inst->st.images[i].offset;
    for (size_t g = 0; g < cfg->group_count; g++) {
        for (size_t i = 0; i < cfg->slot_count; i++) {
            struct sdv_install_slot_status *s = &out->slots[out->slot_count++];
            install_copy(s->group, sizeof(s->group), cfg->groups[g].name);
            install_copy(s->name, sizeof(s->name), cfg->groups[g].slots[i].name);
            install_copy(s->bootname, sizeof(s->bootname), cfg->groups[g].slots[i].bootname);
            install_copy(s->version, sizeof(s->version), inst->st.slot_version[g][i]);
            s->active = booted >= 0 && (size_t)booted == i;
            s->tries = env.left[i];
            s->bootable = env.left[i] > 0 && !env.bad[i];
        }
    }
    return SDV_OK;
}
