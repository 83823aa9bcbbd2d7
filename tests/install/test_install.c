/*
 * test_install.c - unit tests of lib/install with the file-backed bootloader: the transaction's
 * states step by step, the active slot never written, streamed and read-back hash mismatches,
 * resumption from a checkpoint, health check pass / fail / timeout, boot counter exhaustion
 * detected after the fallback boot, preconditions refused and retried (command and hook), the
 * hash-chained log (tamper and torn line), and configuration errors.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdv/crypto.h>
#include <sdv/install.h>

#define IMG_LEN (200u * 1024u + 17u)

struct fx {
    char dir[256];
    char state[300];
    char a[300], b[300];
    struct sdv_install_config *cfg;
    struct sdv_install *inst;
    uint8_t v1[IMG_LEN], v2[IMG_LEN];
    struct sdv_install_image img;
    /* The hook's verdict. */
    int hook_ok;
    int hook_calls;
};

static int64_t fixed_clock(void *ud)
{
    (void)ud;
    return 1900000000;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (uint8_t)(s >> 16);
    }
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static int file_equals(const char *path, const void *p, size_t n)
{
    uint8_t *buf = malloc(n + 1);
    FILE *f = fopen(path, "rb");
    size_t got;
    int eq;

    if (f == NULL) {
        free(buf);
        return 0;
    }
    got = fread(buf, 1, n + 1, f);
    fclose(f);
    eq = got == n && memcmp(buf, p, n) == 0;
    free(buf);
    return eq;
}

static enum sdv_err hook(void *ud, enum sdv_install_phase phase, int *ok, char *reason,
                         size_t reason_len)
{
    struct fx *f = ud;
    f->hook_calls++;
    *ok = f->hook_ok;
    if (!f->hook_ok)
        snprintf(reason, reason_len, "vehicle not parked (phase %d)", (int)phase);
    return SDV_OK;
}

/* Makes the configuration with extra JSON members (each with a trailing comma). */
static void configure(struct fx *f, const char *extra)
{
    char json[4096], err[256] = "";
    snprintf(json, sizeof(json),
             "{\"bootloader\": \"file\", \"boot_state\": \"%s/bootstate.json\", %s"
             " \"initial_version\": \"1\","
             " \"groups\": [{\"name\": \"rootfs\", \"slots\": ["
             "  {\"name\": \"A\", \"path\": \"%s\", \"size\": 1048576, \"bootname\": \"A\"},"
             "  {\"name\": \"B\", \"path\": \"%s\", \"size\": 1048576, \"bootname\": \"B\"}]}]}",
             f->dir, extra, f->a, f->b);
    sdv_install_config_destroy(f->cfg);
    f->cfg = NULL;
    assert_int_equal(
            sdv_install_config_parse_text(json, strlen(json), NULL, &f->cfg, err, sizeof(err)),
            SDV_OK);
}

static void open_inst(struct fx *f, int with_hook)
{
    struct sdv_install_env env;
    char err[256] = "";

    sdv_install_destroy(f->inst);
    f->inst = NULL;
    memset(&env, 0, sizeof(env));
    env.state_dir = f->state;
    env.ecu = "ecu-test";
    env.now = fixed_clock;
    if (with_hook) {
        env.check = hook;
        env.check_ud = f;
    }
    assert_int_equal(sdv_install_create(f->cfg, &env, &f->inst, err, sizeof(err)), SDV_OK);
}

static char booted_now[16];

/* Simulated reboot: firmware picks a slot; the installer is opened anew, as after a boot. */
static void reboot(struct fx *f, int with_hook)
{
    char err[256] = "";
    int degraded = 0;
    sdv_install_destroy(f->inst);
    f->inst = NULL;
    assert_int_equal(sdv_install_boot_sim(f->cfg, booted_now, sizeof(booted_now), &degraded, err,
                                          sizeof(err)),
                     SDV_OK);
    open_inst(f, with_hook);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct sdv_install_boot_report r;

    snprintf(f->dir, sizeof(f->dir), "/tmp/sdv-install-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    snprintf(f->a, sizeof(f->a), "%s/a.img", f->dir);
    snprintf(f->b, sizeof(f->b), "%s/b.img", f->dir);
    fill(f->v1, IMG_LEN, 1);
    fill(f->v2, IMG_LEN, 2);
    write_file(f->a, f->v1, IMG_LEN);
    f->img.group = "rootfs";
    f->img.length = IMG_LEN;
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, f->v2, IMG_LEN, f->img.sha256), SDV_OK);
    configure(f, "\"boot_attempts\": 2,");
    reboot(f, 0);
    assert_string_equal(booted_now, "A");
    assert_int_equal(sdv_install_boot(f->inst, &r), SDV_OK);
    assert_int_equal(r.event, SDV_INSTALL_EVENT_NONE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[400];
    sdv_install_destroy(f->inst);
    sdv_install_config_destroy(f->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static enum sdv_install_state state_of(struct fx *f)
{
    static struct sdv_install_status st;
    assert_int_equal(sdv_install_status(f->inst, &st), SDV_OK);
    return st.state;
}

/* Writes v2 in chunks and closes it; returns write_close's result. */
static enum sdv_err write_v2(struct fx *f, const uint8_t *data)
{
    uint64_t off = 1;
    int refused = 1;
    assert_int_equal(sdv_install_write_open(f->inst, 0, NULL, &off, &refused), SDV_OK);
    assert_int_equal(refused, 0);
    assert_int_equal(off, 0);
    for (size_t o = 0; o < IMG_LEN; o += 4096) {
        size_t n = IMG_LEN - o < 4096 ? IMG_LEN - o : 4096;
        assert_int_equal(sdv_install_sink(f->inst, data + o, n), SDV_OK);
    }
    return sdv_install_write_close(f->inst);
}

static void test_states_and_commit(void **state)
{
    struct fx *f = *state;
    struct sdv_install_boot_report r;
    int refused = 1;

    configure(f, "\"boot_attempts\": 2, \"health_check\": {\"command\": \"test "
                 "\\\"$SDV_INSTALL_SLOT\\\" = B\"},");
    open_inst(f, 0);
    assert_int_equal(state_of(f), SDV_INSTALL_IDLE);
    assert_int_equal(sdv_install_begin(f->inst, "2", &f->img, 1), SDV_OK);
    assert_int_equal(state_of(f), SDV_INSTALL_DOWNLOADING);
    /* Activating before writing is a programming error of the caller. */
    assert_int_equal(sdv_install_activate(f->inst, &refused), SDV_EINVAL);
    assert_int_equal(write_v2(f, f->v2), SDV_OK);
    assert_int_equal(state_of(f), SDV_INSTALL_WRITTEN);
    assert_true(file_equals(f->b, f->v2, IMG_LEN));
    /* A second transaction cannot start while one is in progress. */
    assert_int_equal(sdv_install_begin(f->inst, "3", &f->img, 1), SDV_EEXIST);
    assert_int_equal(sdv_install_activate(f->inst, &refused), SDV_OK);
    assert_int_equal(refused, 0);
    assert_int_equal(state_of(f), SDV_INSTALL_ACTIVATED);
    /* Restarting without a reboot changes nothing. */
    open_inst(f, 0);
    assert_int_equal(sdv_install_boot(f->inst, &r), SDV_OK);
    assert_int_equal(r.event, SDV_INSTALL_EVENT_NONE);
    assert_int_equal(r.state, SDV_INSTALL_ACTIVATED);
    reboot(f, 0);
    assert_string_equal(booted_now, "B");
    assert_int_equal(sdv_install_boot(f->inst, &r), SDV_OK);
    assert_int_equal(r.event, SDV_INSTALL_EVENT_COMMITTED);
    assert_int_equal(r.state, SDV_INSTALL_COMMITTED);
    assert_string_equal(r.version, "2");
    /* Committed: every later boot is B, its counter reset each time. */
    for (int i = 0; i < 4; i++) {
        reboot(f, 0);
        assert_string_equal(booted_now, "B");
        assert_int_equal(sdv_install_boot(f->inst, &r), SDV_OK);
        assert_int_equal(r.event, SDV_INSTALL_EVENT_NONE);
    }
    {
        static struct sdv_install_status st;
        assert_int_equal(sdv_install_status(f->inst, &st), SDV_OK);
        assert_string_equal(st.running, "2");
        assert_string_equal(st.booted, "B");
    }
}

static void test_active_slot_never_written(void **state)
{
    struct fx *f = *state;
    struct sdv_install_env env;
    char err[256];
    uint64_t off;
    int refused;
    uint8_t zero[16] = {0};

    open_inst(f, 0);
    assert_int_equal(sdv_install_begin(f->inst, "2", &f->img, 1), SDV_OK);
    /* The ECU now runs B (say, booted by hand): the transaction's target became the active slot
     * and must not be written. */
    sdv_install_destroy(f->inst);
    f->inst = NULL;
    memset(&env, 0, sizeof(env));
    env.state_dir = f->state;
    env.now = fixed_clock;
    env.cmdline = "quiet sdv.slot=B root=/dev/x";
    write_file(f->b, zero, sizeof(zero));
    assert_int_equal(sdv_install_create(f->cfg, &env, &f->inst, err, sizeof(err)), SDV_OK);
    assert_int_equal(sdv_install_write_open(f->inst, 0, NULL, &off, &refused), SDV_EINVAL);
    assert_non_null(strstr(sdv_install_errmsg(f->inst), "active"));
    assert_true(file_equals(f->b, zero, sizeof(zero)));

    /* Two slots naming the same file: refused as well. */
    {
        char json[2048];
        struct sdv_install_config *cfg = NULL;
        struct sdv_install *inst = NULL;
        snprintf(json, sizeof(json),
                 "{\"bootloader\": \"file\", \"boot_state\": \"%s/bs2.json\", \"groups\": [{"
                 "\"name\": \"rootfs\", \"slots\": [{\"name\": \"A\", \"path\": \"%s\", "
                 "\"size\": 1048576, \"bootname\": \"A\"}, {\"name\": \"B\", \"path\": "
                 "\"%s/../%s/a.img\", \"size\": 1048576, \"bootname\": \"B\"}]}]}",
                 f->dir, f->a, f->dir, strrchr(f->dir, '/') + 1); /* B is A, spelled apart */
        assert_int_equal(
                sdv_install_config_parse_text(json, strlen(json), NULL, &cfg, err, sizeof(err)),
                SDV_OK);
        env.cmdline = "sdv.slot=A";
        env.state_dir = f->dir; /* a second state directory */
        assert_int_equal(sdv_install_create(cfg, &env, &inst, err, sizeof(err)), SDV_OK);
        assert_int_equal(sdv_install_begin(inst, "2", &f->img, 1), SDV_OK);
        assert_int_equal(sdv_install_write_open(inst, 0, NULL, &off, &refused), SDV_EINVAL);
        sdv_install_destroy(inst);
        sdv_install_config_destroy(cfg);
    }
}

static void test_hash_mismatch_and_readback(void **state)
{
    struct fx *f = *state;
    uint8_t *bad = malloc(IMG_LEN);
    uint64_t off;
    int refused, fd;

    open_inst(f, 0);
    assert_int_equal(sdv_install_begin(f->inst, "2", &f->img, 1), SDV_OK);
    memcpy(bad, f->v2, IMG_LEN);
    bad[1000] ^= 1;
    assert_int_equal(write_v2(f, bad), SDV_EHASH);
    assert_int_equal(state_of(f), SDV_INSTALL_WRITING);
    /* Read-back mismatch: the medium changes what was written (a second descriptor plays the
     * faulty flash) after the stream hashed correctly. */
    assert_int_equal(sdv_install_write_open(f->inst, 0, NULL, &off, &refused), SDV_OK);
    assert_int_equal(sdv_install_write(f->inst, f->v2, IMG_LEN), SDV_OK);
    fd = open(f->b, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 5), 1);
    close(fd);
    assert_int_equal(sdv_install_write_close(f->inst), SDV_EHASH);
    assert_non_null(strstr(sdv_install_errmsg(f->inst), "read-back"));
    assert_int_equal(state_of(f), SDV_INSTALL_WRITING);
    {
        int refused2 = 0;
        assert_int_equal(sdv_install_activate(f->inst, &refused2), SDV_EINVAL);
    }
    /* Writing again succeeds. */
    assert_int_equal(write_v2(f, f->v2), SDV_OK);
    assert_int_equal(state_of(f), SDV_INSTALL_WRITTEN);
    /* Too many bytes are refused before writing. */
    free(bad);
}

static void test_resume_from_checkpoint(void **state)
{
    struct fx *f = *state;
    struct sdv_install_write_opts wo = {1, 0};
    uint64_t off = 0;
    int refused;
    uint8_t tok[8];
    size_t tl;

    open_inst(f, 0);
    assert_int_equal(sdv_install_begin(f->inst, "2", &f->img, 1), SDV_OK);
    assert_int_equal(sdv_install_write_open(f->inst, 0, &wo, &off, &refused), SDV_OK);
    assert_int_equal(off, 0);
    assert_int_equal(sdv_install_write(f->inst, f->v2, 70000), SDV_OK);
    assert_int_equal(sdv_install_write_checkpoint(f->inst, "tok1", 4), SDV_OK);
    assert_int_equal(sdv_install_write(f->inst, f->v2 + 70000, 5000), SDV_OK);
    /* Crash: the installer disappears without closing. */
    open_inst(f, 0);
    assert_int_equal(sdv_install_begin(f->inst, "2", &f->img, 1), SDV_OK);
    assert_int_equal(state_of(f), SDV_INSTALL_WRITING);
    assert_int_equal(sdv_install_write_open(f->inst, 0, &wo, &off, &refused), SDV_OK);
    assert_int_equal(off, 70000);
    assert_int_equal(sdv_install_write_token(f->inst, tok, sizeof(tok), &tl), SDV_OK);
    assert_int_equal(tl, 4);
    assert_memory_equal(tok, "tok1", 4);
    {
        uint8_t back[16];
        assert_int_equal(sdv_install_read_target(f->inst, 100, back, 16), SDV_OK);
        assert_memory_equal(back, f->v2 + 100, 16);
        assert_int_equal(sdv_install_read_base(f->inst, 100, back, 16), SDV_OK);
        assert_memory_equal(back, f->v1 + 100, 16);
    }
    assert_int_equal(sdv_install_write(f->inst, f->v2 + 70000, IMG_LEN - 70000), SDV_OK);
    assert_int_equal(sdv_install_write(f->inst, "x", 1), SDV_ETOOBIG);
    assert_int_equal(sdv_install_write_close(f->inst), SDV_OK);
    assert_true(file_equals(f->b, f->v2, IMG_LEN));
    /* A version that does not match the transaction in progress is refused. */
    assert_int_equal(sdv_install_begin(f->inst, "3", &f->img, 1), SDV_EEXIST);
    assert_int_equal(sdv_install_abort(f->inst, "operator"), SDV_OK);
    assert_int_equal(state_of(f), SDV_INSTALL_IDLE);
}

/* Installs v2 up to activation and reboots into it; returns the verdict. */
static void install_and_reboot(struct fx *f, struct sdv_install_boot_report *r)
{
    int refused = 1;
    open_inst(f, 0);
    assert_int_equal(sdv_install_begin(f->inst, "2", &f->img, 1), SDV_OK);
    assert_int_equal(write_v2(f, f->v2), SDV_OK);
    assert_int_equal(sdv_install_activate(f->inst, &refused), SDV_OK);
    reboot(f, 0);
    assert_string_equal(booted_now, "B");
    assert_int_equal(sdv_install_boot(f->inst, r), SDV_OK);
}

static void expect_back_on_a(struct fx *f)
{
    struct sdv_install_boot_report r;
    reboot(f, 0);
    assert_string_equal(booted_now, "A");
    assert_int_equal(sdv_install_boot(f->inst, &r), SDV_OK);
    assert_int_equal(r.event, SDV_INSTALL_EVENT_NONE);
    assert_true(file_equals(f->a, f->v1, IMG_LEN));
}

static void test_health_fail_rolls_back(void **state)
{
    struct fx *f = *state;
    struct sdv_install_boot_report r;

    configure(f, "\"boot_attempts\": 2, \"health_check\": {\"command\": \"echo service x down; "
                 "exit 3\"},");
    install_and_reboot(f, &r);
    assert_int_equal(r.event, SDV_INSTALL_EVENT_ROLLED_BACK);
    assert_int_equal(r.reboot_required, 1);
    assert_string_equal(r.reason, "health check failed (exit status 3): service x down");
    /* Still on the failed B: a new install would overwrite A, the only good slot. */
    assert_int_equal(sdv_install_begin(f->inst, "3", &f->img, 1), SDV_EEXIST);
    assert_non_null(strstr(sdv_install_errmsg(f->inst), "reboot first"));
    expect_back_on_a(f);
}

static void test_health_timeout_rolls_back(void **state)
{
    struct fx *f = *state;
    struct sdv_install_boot_report r;

    /* The script closes its output first: the deadline must hold without it. */
    configure(f, "\"health_check\": {\"command\": \"exec >/dev/null 2>&1; sleep 20\", "
                 "\"timeout_ms\": 300},");
    install_and_reboot(f, &r);
    assert_int_equal(r.event, SDV_INSTALL_EVENT_ROLLED_BACK);
    assert_string_equal(r.reason, "health check timed out after 300 ms");
    expect_back_on_a(f);
}

static void test_boot_counter_exhausted(void **state)
{
    struct fx *f = *state;
    struct sdv_install_boot_report r;
    char log[400], err[256];
    uint64_t n = 0;
    int found = 0;

    /* No health check: the new slot keeps booting in its trial until the counter runs out (the
     * kernel "hangs" before anyone marks it good: we never call boot() on B again). */
    configure(f, "\"boot_attempts\": 3,");
    install_and_reboot(f, &r);
    assert_int_equal(r.event, SDV_INSTALL_EVENT_TRIAL);
    reboot(f, 0);
    assert_string_equal(booted_now, "B");
    reboot(f, 0);
    assert_string_equal(booted_now, "B");
    reboot(f, 0);
    assert_string_equal(booted_now, "A");
    assert_int_equal(sdv_install_boot(f->inst, &r), SDV_OK);
    assert_int_equal(r.event, SDV_INSTALL_EVENT_ROLLED_BACK);
    assert_int_equal(r.reboot_required, 0);
    assert_non_null(strstr(r.reason, "boot counter exhausted"));
    assert_int_equal(r.state, SDV_INSTALL_ROLLED_BACK);
    expect_back_on_a(f);
    /* The log says so. */
    snprintf(log, sizeof(log), "%s/install-log.jsonl", f->state);
    assert_int_equal(sdv_install_log_verify(log, &n, err, sizeof(err)), SDV_OK);
    assert_int_equal(n, 1);
    {
        FILE *lf = fopen(log, "r");
        char line[4096];
        assert_non_null(lf);
        while (fgets(line, sizeof(line), lf) != NULL)
            found += strstr(line, "\"result\":\"rolled-back\"") != NULL &&
                     strstr(line, "boot counter exhausted") != NULL &&
                     strstr(line, "\"version_before\":\"1\"") != NULL;
        fclose(lf);
    }
    assert_int_equal(found, 1);
    /* Manual mark-bad of a trial returns as well. */
    configure(f, "\"boot_attempts\": 3,");
    install_and_reboot(f, &r);
    assert_int_equal(r.event, SDV_INSTALL_EVENT_TRIAL);
    assert_int_equal(sdv_install_mark_bad(f->inst, "operator says no"), SDV_OK);
    expect_back_on_a(f);
}

static void test_preconditions(void **state)
{
    struct fx *f = *state;
    char allow[400], extra[800];
    uint64_t off;
    int refused = 0;
    struct sdv_install_boot_report r;

    snprintf(allow, sizeof(allow), "%s/allow", f->dir);
    snprintf(extra, sizeof(extra),
             "\"precondition\": {\"command\": \"test -e %s || { echo speed 42 km/h >&2; exit 1; "
             "}\"},",
             allow);
    configure(f, extra);
    open_inst(f, 1);
    f->hook_ok = 1;
    assert_int_equal(sdv_install_begin(f->inst, "2", &f->img, 1), SDV_OK);
    assert_int_equal(sdv_install_write_open(f->inst, 0, NULL, &off, &refused), SDV_OK);
    assert_int_equal(refused, 1);
    assert_string_equal(sdv_install_errmsg(f->inst),
                        "precondition before write refused: exit status 1: speed 42 km/h");
    assert_int_equal(f->hook_calls, 0); /* the command refused first */
    assert_int_equal(state_of(f), SDV_INSTALL_DOWNLOADING);
    /* Retried later, when the vehicle is parked. */
    write_file(allow, "", 0);
    assert_int_equal(write_v2(f, f->v2), SDV_OK);
    /* The hook (vehicle signals) refuses activation. */
    f->hook_ok = 0;
    assert_int_equal(sdv_install_activate(f->inst, &refused), SDV_OK);
    assert_int_equal(refused, 1);
    assert_non_null(strstr(sdv_install_errmsg(f->inst), "vehicle not parked"));
    assert_int_equal(state_of(f), SDV_INSTALL_WRITTEN);
    f->hook_ok = 1;
    assert_int_equal(sdv_install_activate(f->inst, &refused), SDV_OK);
    assert_int_equal(refused, 0);
    reboot(f, 1);
    assert_int_equal(sdv_install_boot(f->inst, &r), SDV_OK);
    assert_int_equal(r.event, SDV_INSTALL_EVENT_TRIAL);
    assert_int_equal(sdv_install_mark_good(f->inst), SDV_OK);
    assert_int_equal(state_of(f), SDV_INSTALL_COMMITTED);
    /* The log record lists the refusals seen. */
    {
        char log[400], line[8192];
        FILE *lf;
        snprintf(log, sizeof(log), "%s/install-log.jsonl", f->state);
        lf = fopen(log, "r");
        assert_non_null(lf);
        assert_non_null(fgets(line, sizeof(line), lf));
        fclose(lf);
        assert_non_null(strstr(line, "speed 42 km/h"));
        assert_non_null(strstr(line, "vehicle not parked"));
        assert_non_null(strstr(line, "\"result\":\"committed\""));
    }
}

static enum sdv_err collect(void *ud, uint64_t seq, const char *json, size_t len)
{
    (void)json;
    (void)len;
    *(uint64_t *)ud += seq;
    return SDV_OK;
}

static void test_log_chain(void **state)
{
    struct fx *f = *state;
    char log[400], err[256];
    uint64_t n = 0, sum = 0;
    struct sdv_buf b;
    int refused;

    /* Three finished transactions: aborted, aborted, rolled back by hand. */
    open_inst(f, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sdv_install_begin(f->inst, "2", &f->img, 1), SDV_OK);
        assert_int_equal(sdv_install_abort(f->inst, "no"), SDV_OK);
    }
    (void)refused;
    snprintf(log, sizeof(log), "%s/install-log.jsonl", f->state);
    assert_int_equal(sdv_install_log_verify(log, &n, err, sizeof(err)), SDV_OK);
    assert_int_equal(n, 3);
    assert_int_equal(sdv_install_log_read(log, 2, collect, &sum, err, sizeof(err)), SDV_OK);
    assert_int_equal(sum, 2 + 3);
    /* A torn last line (power loss mid-append) is not a record and is cut at the next append. */
    {
        FILE *lf = fopen(log, "a");
        fputs("{\"seq\":4,\"half", lf);
        fclose(lf);
    }
    assert_int_equal(sdv_install_log_verify(log, &n, err, sizeof(err)), SDV_OK);
    assert_int_equal(n, 3);
    assert_int_equal(sdv_install_begin(f->inst, "2", &f->img, 1), SDV_OK);
    assert_int_equal(sdv_install_abort(f->inst, "again"), SDV_OK);
    assert_int_equal(sdv_install_log_verify(log, &n, err, sizeof(err)), SDV_OK);
    assert_int_equal(n, 4);
    /* Tampering with record 2 (its reason) breaks the chain at record 3. */
    sdv_buf_init(&b, 1u << 20);
    assert_int_equal(sdv_fs_read(log, &b), SDV_OK);
    {
        char *p = strstr(strchr((char *)b.data, '\n') + 1, "\"reason\":\"no\"");
        assert_non_null(p);
        p[10] = 'N';
    }
    assert_int_equal(sdv_fs_write_atomic(log, b.data, b.len, 0644), SDV_OK);
    assert_int_equal(sdv_install_log_verify(log, &n, err, sizeof(err)), SDV_EHASH);
    assert_non_null(strstr(err, ":3: hash chain broken"));
    /* Removing a record is detected too. */
    {
        char *l2 = strchr((char *)b.data, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
        memmove(l2, l3, b.len - (size_t)(l3 - (char *)b.data));
        b.len -= (size_t)(l3 - l2);
    }
    assert_int_equal(sdv_fs_write_atomic(log, b.data, b.len, 0644), SDV_OK);
    assert_int_equal(sdv_install_log_verify(log, &n, err, sizeof(err)), SDV_EHASH);
    sdv_buf_free(&b);
}

static void test_config_errors(void **state)
{
    static const char *const bad[] = {
            "{\"bootloader\": \"lilo\"}",
            "{\"bootloader\": \"file\", \"boot_state\": \"x\", \"helth_check\": {}, \"groups\": "
            "[]}",
            "{\"bootloader\": \"file\", \"boot_state\": \"x\", \"groups\": [{\"name\": \"r\", "
            "\"slots\": [{\"name\": \"A\", \"path\": \"a\", \"size\": 1}]}]}",
            "{\"bootloader\": \"file\", \"boot_state\": \"x\", \"groups\": [{\"name\": \"r\", "
            "\"slots\": [{\"name\": \"A\", \"path\": \"a\", \"size\": 1}, {\"name\": \"B\", "
            "\"path\": \"b\", \"size\": 1}]}]}",
            "{\"bootloader\": \"grub\", \"boot_state\": \"x\", \"boot_attempts\": 3, \"groups\": "
            "[]}",
            "{\"bootloader\": \"file\", \"boot_state\": \"x\", \"groups\": [{\"name\": \"r x\", "
            "\"slots\": []}]}",
    };
    struct sdv_install_config *cfg = NULL;
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(
                sdv_install_config_parse_text(bad[i], strlen(bad[i]), "/x", &cfg, err, sizeof(err)),
                SDV_EPARSE);
        assert_null(cfg);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(
            sdv_install_config_parse_text(bad[1], strlen(bad[1]), "/x", &cfg, err, sizeof(err)),
            SDV_EPARSE);
    assert_string_equal(err, "install: unknown key \"helth_check\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_states_and_commit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_active_slot_never_written, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hash_mismatch_and_readback, setup, teardown),
            cmocka_unit_test_setup_teardown(test_resume_from_checkpoint, setup, teardown),
            cmocka_unit_test_setup_teardown(test_health_fail_rolls_back, setup, teardown),
            cmocka_unit_test_setup_teardown(test_health_timeout_rolls_back, setup, teardown),
            cmocka_unit_test_setup_teardown(test_boot_counter_exhausted, setup, teardown),
            cmocka_unit_test_setup_teardown(test_preconditions, setup, teardown),
            cmocka_unit_test_setup_teardown(test_log_chain, setup, teardown),
            cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
