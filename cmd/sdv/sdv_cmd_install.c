/*
 * sdv_cmd_install.c - `sdv slot`: A/B installation from the command line (lib/install), in the
 * manner of `rauc status|install|mark-good|mark-bad`.
 *
 *   sdv slot status   --config FILE      state, booted slot, every slot's version and tries
 *   sdv slot install  --config FILE --version V [--sha256 HEX] IMAGE [--image GROUP=FILE]...
 *   sdv slot boot     --config FILE      the verdict after a reboot (health check, commit,
 *                                        rollback, fallback detection); run on every boot
 *   sdv slot mark-good|mark-bad [--reason TEXT] --config FILE
 *   sdv slot abort    --config FILE      abandon a transaction not yet activated
 *   sdv slot boot-sim --config FILE      simulated firmware: pick and count the next boot
 *   sdv slot log      --config FILE [--from SEQ] [--verify]
 *
 * FILE is JSON: either {"state_dir": DIR, "ecu": SERIAL, "install": {...}} or the install
 * object alone with --state-dir DIR. --cmdline TEXT injects the kernel command line
 * ("sdv.slot=B"). Exit status: 0 done, 1 error, 2 usage, 3 refused by a precondition (retry
 * later), 4 rolled back.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/install.h>

#include "sdv_cmds.h"

#define SLOT_READ_LEN      (256u * 1024u)
#define SLOT_IMAGES_MAX    8u
#define SLOT_EXIT_REFUSED  3
#define SLOT_EXIT_ROLLBACK 4

struct slot_opts {
    const char *config;
    const char *state_dir;
    const char *cmdline;
    const char *version;
    const char *reason;
    const char *sha256;
    uint64_t from;
    uint64_t checkpoint;
    int verify;
    size_t image_count;
    const char *groups[SLOT_IMAGES_MAX];
    const char *files[SLOT_IMAGES_MAX];
};

struct slot_ctx {
    struct sdv_install_config *cfg;
    char state_dir[4096];
    char ecu[128];
    struct sdv_install *inst;
};

static void slot_usage(FILE *f)
{
    fputs("usage: sdv slot status|install|boot|mark-good|mark-bad|abort|boot-sim|log\n"
          "                --config FILE [--state-dir DIR] [--cmdline TEXT] [options]\n"
          "  status                      state, booted slot, versions and boot tries\n"
          "  install --version V IMAGE   write IMAGE into the inactive slot of the bootable\n"
          "          [--image GROUP=FILE]...  group (and FILE into GROUP), verify, activate\n"
          "          [--checkpoint BYTES]     durable resume point every BYTES (default 4 MiB)\n"
          "          [--sha256 HEX]           IMAGE's expected hash (else IMAGE is hashed first)\n"
          "  boot                        after a reboot: health check, commit or rollback\n"
          "  mark-good, mark-bad [--reason TEXT]   verdict on the booted slot\n"
          "  abort [--reason TEXT]       abandon a transaction that is not activated\n"
          "  boot-sim                    simulated firmware: boot the next slot\n"
          "  log [--from SEQ] [--verify] print (or only verify) the hash-chained install log\n"
          "exit status: 0 ok, 1 error, 2 usage, 3 refused by a precondition, 4 rolled back\n",
          f);
}

static int slot_fail(const char *what, enum sdv_err e, const char *detail)
{
    fprintf(stderr, "sdv slot: %s: %s%s%s\n", what, sdv_strerror(e),
            detail != NULL && detail[0] != '\0' ? ": " : "", detail != NULL ? detail : "");
    return 1;
}

static int64_t slot_clock(void *ud)
{
    (void)ud;
    return (int64_t)time(NULL);
}

static void slot_log(void *ud, enum sdv_log_level level, const char *msg)
{
    (void)ud;
    fprintf(stderr, "sdv slot: %s%s\n", level <= SDV_LOG_WARN ? "warning: " : "", msg);
}

static int slot_parse_u64(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0' ? 0 : -1;
}

static int slot_parse_args(int argc, char **argv, struct slot_opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--verify") == 0) {
            o->verify = 1;
            continue;
        }
        if (a[0] != '-') {
            if (o->image_count > 0 && o->groups[0] == NULL)
                return -1;
            if (o->image_count == SLOT_IMAGES_MAX)
                return -1;
            memmove(&o->groups[1], &o->groups[0], sizeof(o->groups[0]) * o->image_count);
            memmove(&o->files[1], &o->files[0], sizeof(o->files[0]) * o->image_count);
            o->groups[0] = NULL; /* the bootable group */
            o->files[0] = a;
            o->image_count++;
            continue;
        }
        if (v == NULL)
            return -1;
        i++;
        if (strcmp(a, "--config") == 0)
            o->config = v;
        else if (strcmp(a, "--state-dir") == 0)
            o->state_dir = v;
        else if (strcmp(a, "--cmdline") == 0)
            o->cmdline = v;
        else if (strcmp(a, "--version") == 0)
            o->version = v;
        else if (strcmp(a, "--reason") == 0)
            o->reason = v;
        else if (strcmp(a, "--sha256") == 0)
            o->sha256 = v;
        else if (strcmp(a, "--from") == 0) {
            if (slot_parse_u64(v, &o->from) != 0)
                return -1;
        } else if (strcmp(a, "--checkpoint") == 0) {
            if (slot_parse_u64(v, &o->checkpoint) != 0)
                return -1;
        } else if (strcmp(a, "--image") == 0) {
            const char *eq = strchr(v, '=');
            if (eq == NULL || eq == v || o->image_count == SLOT_IMAGES_MAX)
                return -1;
            o->groups[o->image_count] = v;
            o->files[o->image_count] = eq + 1;
            o->image_count++;
        } else {
            return -1;
        }
    }
    return o->config != NULL ? 0 : -1;
}

/* Loads the configuration file: the install object alone, or embedded under "install". */
static int slot_load(const struct slot_opts *o, struct slot_ctx *c)
{
    struct sdv_buf b;
    json_t *root = NULL, *install, *sd, *ecu;
    char err[512] = "", *dup, *base;
    enum sdv_err e;

    sdv_buf_init(&b, 1024u * 1024u);
    e = sdv_fs_read(o->config, &b);
    if (e == SDV_OK)
        e = sdv_json_parse(b.data, b.len, &root, err, sizeof(err));
    sdv_buf_free(&b);
    if (e != SDV_OK)
        return slot_fail(o->config, e, err);
    dup = strdup(o->config);
    if (dup == NULL) {
        json_decref(root);
        return slot_fail(o->config, SDV_ENOMEM, NULL);
    }
    base = dirname(dup);
    install = json_object_get(root, "install");
    sd = json_object_get(root, "state_dir");
    ecu = json_object_get(root, "ecu");
    if (install == NULL)
        install = root;
    e = sdv_install_config_parse(install, base, &c->cfg, err, sizeof(err));
    if (e == SDV_OK && o->state_dir != NULL)
        snprintf(c->state_dir, sizeof(c->state_dir), "%s", o->state_dir);
    else if (e == SDV_OK && json_is_string(sd))
        snprintf(c->state_dir, sizeof(c->state_dir), "%s%s%s",
                 json_string_value(sd)[0] == '/' ? "" : base,
                 json_string_value(sd)[0] == '/' ? "" : "/", json_string_value(sd));
    snprintf(c->ecu, sizeof(c->ecu), "%s", json_is_string(ecu) ? json_string_value(ecu) : "ecu");
    free(dup);
    json_decref(root);
    if (e != SDV_OK)
        return slot_fail(o->config, e, err);
    if (c->state_dir[0] == '\0') {
        fprintf(stderr, "sdv slot: no state directory (\"state_dir\" or --state-dir)\n");
        return 2;
    }
    return 0;
}

static int slot_open(const struct slot_opts *o, struct slot_ctx *c)
{
    struct sdv_install_env env;
    char err[512] = "";
    enum sdv_err e;

    memset(&env, 0, sizeof(env));
    env.state_dir = c->state_dir;
    env.ecu = c->ecu;
    env.now = slot_clock;
    env.cmdline = o->cmdline;
    env.log.fn = slot_log;
    env.log.level = SDV_LOG_WARN;
    e = sdv_install_create(c->cfg, &env, &c->inst, err, sizeof(err));
    return e == SDV_OK ? 0 : slot_fail("cannot open the installer", e, err);
}

static int slot_status(struct slot_ctx *c)
{
    static struct sdv_install_status st;
    enum sdv_err e = sdv_install_status(c->inst, &st);

    if (e != SDV_OK)
        return slot_fail("status", e, sdv_install_errmsg(c->inst));
    printf("state: %s%s%s\n", sdv_install_state_name(st.state), st.version[0] ? " version " : "",
           st.version);
    printf("booted: %s\n", st.booted[0] ? st.booted : "(unknown)");
    printf("running: %s\n", st.running);
    if (st.reason[0] != '\0')
        printf("reason: %s\n", st.reason);
    if (st.state == SDV_INSTALL_WRITING)
        printf("written: %llu\n", (unsigned long long)st.written);
    for (size_t i = 0; i < st.slot_count; i++) {
        const struct sdv_install_slot_status *s = &st.slots[i];
        printf("slot %s.%s: version %s%s", s->group, s->name, s->version[0] ? s->version : "-",
               s->active ? " [active]" : "");
        if (s->bootname[0] != '\0')
            printf(" bootname %s tries %u%s", s->bootname, s->tries, s->bootable ? "" : " [bad]");
        putchar('\n');
    }
    return 0;
}

/* Streams one image file into image index i from the resume offset on. */
static int slot_write_image(struct slot_ctx *c, const struct slot_opts *o, size_t i, int *refused)
{
    struct sdv_install_write_opts wo = {1, o->checkpoint > 0 ? o->checkpoint : 4u << 20};
    uint64_t off = 0;
    uint8_t *buf;
    int fd, rc = 0;
    enum sdv_err e;

    e = sdv_install_write_open(c->inst, i, &wo, &off, refused);
    if (e != SDV_OK)
        return slot_fail(o->files[i], e, sdv_install_errmsg(c->inst));
    if (*refused)
        return 0;
    fd = open(o->files[i], O_RDONLY | O_CLOEXEC);
    buf = malloc(SLOT_READ_LEN);
    if (fd < 0 || buf == NULL || lseek(fd, (off_t)off, SEEK_SET) < 0) {
        rc = slot_fail(o->files[i], fd < 0 ? sdv_err_from_errno(errno) : SDV_ENOMEM, NULL);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, SLOT_READ_LEN);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = slot_fail(o->files[i], sdv_err_from_errno(errno), NULL);
            goto out;
        }
        if (n == 0)
            break;
        e = sdv_install_write(c->inst, buf, (size_t)n);
        if (e != SDV_OK) {
            rc = slot_fail("write", e, sdv_install_errmsg(c->inst));
            goto out;
        }
    }
    e = sdv_install_write_close(c->inst);
    if (e != SDV_OK)
        rc = slot_fail("verify", e, sdv_install_errmsg(c->inst));
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int slot_install(struct slot_ctx *c, struct slot_opts *o)
{
    struct sdv_install_image images[SLOT_IMAGES_MAX];
    char names[SLOT_IMAGES_MAX][64];
    static struct sdv_install_status st;
    int refused = 0, rc;
    enum sdv_err e;

    if (o->version == NULL || o->image_count == 0 || o->groups[0] != NULL) {
        slot_usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < o->image_count; i++) {
        if (o->groups[i] == NULL) {
            /* The bootable group is the one whose status rows carry a bootname. */
            images[i].group = NULL;
        } else {
            size_t n = (size_t)(strchr(o->groups[i], '=') - o->groups[i]);
            snprintf(names[i], sizeof(names[i]), "%.*s", (int)n, o->groups[i]);
            images[i].group = names[i];
        }
        if (i == 0 && o->sha256 != NULL) {
            /* The expected hash comes from trusted metadata: the image is read once, while
             * it is written. */
            struct stat sb;
            size_t n = 0;
            if (sdv_hex_decode(o->sha256, strlen(o->sha256), images[0].sha256, 32, &n) != SDV_OK ||
                n != 32 || stat(o->files[0], &sb) != 0) {
                fprintf(stderr, "sdv slot: --sha256 wants 64 hex digits and IMAGE a file\n");
                return 2;
            }
            images[0].length = (uint64_t)sb.st_size;
            continue;
        }
        e = sdv_hash_file(SDV_HASH_SHA256, o->files[i], images[i].sha256, &images[i].length);
        if (e != SDV_OK)
            return slot_fail(o->files[i], e, NULL);
    }
    if ((e = sdv_install_status(c->inst, &st)) != SDV_OK)
        return slot_fail("status", e, sdv_install_errmsg(c->inst));
    for (size_t i = 0; i < st.slot_count; i++)
        if (st.slots[i].bootname[0] != '\0' && images[0].group == NULL)
            images[0].group = st.slots[i].group;
    e = sdv_install_begin(c->inst, o->version, images, o->image_count);
    if (e != SDV_OK)
        return slot_fail("install", e, sdv_install_errmsg(c->inst));
    if ((e = sdv_install_status(c->inst, &st)) != SDV_OK)
        return slot_fail("status", e, sdv_install_errmsg(c->inst));
    if (st.state != SDV_INSTALL_WRITTEN) {
        for (size_t i = 0; i < o->image_count; i++) {
            rc = slot_write_image(c, o, i, &refused);
            if (rc != 0)
                return rc;
            if (refused) {
                fprintf(stderr, "sdv slot: refused, retry later: %s\n",
                        sdv_install_errmsg(c->inst));
                return SLOT_EXIT_REFUSED;
            }
        }
    }
    e = sdv_install_activate(c->inst, &refused);
    if (e != SDV_OK)
        return slot_fail("activate", e, sdv_install_errmsg(c->inst));
    if (refused) {
        fprintf(stderr, "sdv slot: refused, retry later: %s\n", sdv_install_errmsg(c->inst));
        return SLOT_EXIT_REFUSED;
    }
    printf("version %s written, verified and activated: reboot to try it\n", o->version);
    return 0;
}

static int slot_boot(struct slot_ctx *c)
{
    static struct sdv_install_boot_report r;
    enum sdv_err e = sdv_install_boot(c->inst, &r);

    if (e != SDV_OK)
        return slot_fail("boot", e, sdv_install_errmsg(c->inst));
    printf("booted %s, state %s\n", r.booted, sdv_install_state_name(r.state));
    switch (r.event) {
    case SDV_INSTALL_EVENT_TRIAL:
        printf("trial boot of version %s: give the verdict with mark-good or mark-bad\n",
               r.version);
        return 0;
    case SDV_INSTALL_EVENT_COMMITTED:
        printf("committed version %s\n", r.version);
        return 0;
    case SDV_INSTALL_EVENT_ROLLED_BACK:
        printf("rolled back version %s: %s\n", r.version, r.reason);
        if (r.reboot_required)
            printf("reboot required to return to the previous slot\n");
        return SLOT_EXIT_ROLLBACK;
    case SDV_INSTALL_EVENT_NONE:
    default:
        return 0;
    }
}

static enum sdv_err slot_print_record(void *ud, uint64_t seq, const char *json, size_t len)
{
    (void)ud;
    (void)seq;
    fwrite(json, 1, len, stdout);
    putchar('\n');
    return SDV_OK;
}

static int slot_logcmd(struct slot_ctx *c, const struct slot_opts *o)
{
    char path[4200], err[512] = "";
    uint64_t n = 0;
    enum sdv_err e;

    snprintf(path, sizeof(path), "%s/install-log.jsonl", c->state_dir);
    if (o->verify) {
        e = sdv_install_log_verify(path, &n, err, sizeof(err));
        if (e != SDV_OK)
            return slot_fail("log verification failed", e, err);
        printf("log verified: %llu records\n", (unsigned long long)n);
        return 0;
    }
    e = sdv_install_log_read(path, o->from, slot_print_record, NULL, err, sizeof(err));
    return e == SDV_OK ? 0 : slot_fail("log", e, err);
}

int sdv_cmd_slot(int argc, char **argv)
{
    struct slot_opts o;
    struct slot_ctx c;
    const char *cmd;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&c, 0, sizeof(c));
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        slot_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    if (slot_parse_args(argc, argv, &o) != 0) {
        slot_usage(stderr);
        return 2;
    }
    if ((rc = slot_load(&o, &c)) != 0)
        goto out;
    if (strcmp(cmd, "boot-sim") == 0) {
        char booted[64], err[512] = "";
        int degraded = 0;
        enum sdv_err e =
                sdv_install_boot_sim(c.cfg, booted, sizeof(booted), &degraded, err, sizeof(err));
        rc = e == SDV_OK ? 0 : slot_fail("boot-sim", e, err);
        if (rc == 0)
            printf("%s%s\n", booted, degraded ? " (degraded: no slot had tries left)" : "");
        goto out;
    }
    if (strcmp(cmd, "log") == 0) {
        rc = slot_logcmd(&c, &o);
        goto out;
    }
    if ((rc = slot_open(&o, &c)) != 0)
        goto out;
    if (strcmp(cmd, "status") == 0) {
        rc = slot_status(&c);
    } else if (strcmp(cmd, "install") == 0) {
        rc = slot_install(&c, &o);
    } else if (strcmp(cmd, "boot") == 0) {
        rc = slot_boot(&c);
    } else if (strcmp(cmd, "mark-good") == 0 || strcmp(cmd, "mark-bad") == 0) {
        enum sdv_err e = cmd[5] == 'g' ? sdv_install_mark_good(c.inst)
                                       : sdv_install_mark_bad(c.inst, o.reason);
        rc = e == SDV_OK ? 0 : slot_fail(cmd, e, sdv_install_errmsg(c.inst));
    } else if (strcmp(cmd, "abort") == 0) {
        enum sdv_err e = sdv_install_abort(c.inst, o.reason);
        rc = e == SDV_OK ? 0 : slot_fail(cmd, e, sdv_install_errmsg(c.inst));
    } else {
        fprintf(stderr, "sdv slot: unknown command \"%s\"\n", cmd);
        slot_usage(stderr);
        rc = 2;
    }
out:
    sdv_install_destroy(c.inst);
    sdv_install_config_destroy(c.cfg);
    return rc;
}
