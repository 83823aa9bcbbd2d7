/*
 * test_agent_cycle.c - lib/agent's update cycle against an in-memory fleet server: a director
 * built with lib/uptane and an image repository built with lib/tuf's repository tooling, served
 * through the agent's transport callbacks. The manifests the agent sends are verified with
 * sdv_uptane_manifest_verify, as the server does. With A/B slots (lib/install, file bootloader):
 * a tampered stream into the slot is an attack and is never activated; honest bytes are
 * activated, and committed after the (simulated) reboot, each step's install log record
 * reported once.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdv/agent.h>
#include <sdv/tuf_repo.h>

#include "uptane/uptane_test_util.h"

#define SRV     "http://fleet.test"
#define VIN     "VIN-AGENT-1"
#define IMG_LEN 200000u

struct fleet {
    char dir[256];
    struct ut_director *director;
    struct sdv_key *image_key;
    struct sdv_key *primary_key;
    struct sdv_uptane_ecu ecu;
    struct sdv_uptane_vehicle vehicle;
    struct sdv_uptane_director_out dout;
    int have_dout;
    /* Transport behaviour and observations. */
    uint64_t fail_after; /* fetch_range: stop with SDV_ENET after this many bytes (0: never) */
    int tamper;          /* fetch_range: flip one byte of every image served */
    uint64_t offsets[16];
    size_t range_calls;
    unsigned manifests, manifests_verified;
    char last_attack[SDV_UPTANE_ATTACK_LEN_MAX + 1];
    char last_filepath[SDV_TUF_NAME_LEN_MAX + 1];
    size_t last_log_count;  /* install log records in the last verified primary report */
    char last_log[4][2048]; /* the first of them */
    uint8_t rnd;
};

static char *path_in(const struct fleet *f, const char *rel)
{
    static char p[4][512];
    static int k;

    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", f->dir, rel);
    return p[k];
}

static void write_image(const struct fleet *f, const char *name, char fill)
{
    char *buf = malloc(IMG_LEN);
    FILE *fp = fopen(path_in(f, name), "wb");

    assert_non_null(buf);
    assert_non_null(fp);
    for (size_t i = 0; i < IMG_LEN; i++)
        buf[i] = (char)(fill + (char)(i % 7));
    assert_int_equal(fwrite(buf, 1, IMG_LEN, fp), IMG_LEN);
    fclose(fp);
    free(buf);
}

/* Publishes a new image repository version listing image-v<counter> with that release counter. */
static void image_publish(struct fleet *f, const char *file, const char *path, int counter,
                          int first)
{
    struct sdv_tuf_repo *repo = NULL;
    json_t *custom = json_pack("{s:i}", "release_counter", counter);
    struct sdv_tuf_repo_target t = {path_in(f, file), path, custom};
    char msg[256] = "";

    if (first) {
        assert_int_equal(
                sdv_tuf_repo_init(path_in(f, "imagerepo"), 1, UT_NOW, &repo, msg, sizeof(msg)),
                SDV_OK);
        for (const char *const *r =
                     (const char *const[]){"root", "targets", "snapshot", "timestamp", NULL};
             *r; r++)
            assert_int_equal(sdv_tuf_repo_add_key(repo, *r, f->image_key, 1), SDV_OK);
        assert_int_equal(sdv_tuf_repo_sign(repo, "root", f->image_key), SDV_OK);
    } else {
        assert_int_equal(
                sdv_tuf_repo_open(path_in(f, "imagerepo"), UT_NOW, &repo, msg, sizeof(msg)),
                SDV_OK);
    }
    assert_int_equal(sdv_tuf_repo_add_targets(repo, "targets", &t, 1), SDV_OK);
    assert_int_equal(sdv_tuf_repo_sign(repo, "targets", f->image_key), SDV_OK);
    assert_int_equal(sdv_tuf_repo_snapshot(repo, f->image_key, 0), SDV_OK);
    assert_int_equal(sdv_tuf_repo_timestamp(repo, f->image_key), SDV_OK);
    if (sdv_tuf_repo_publish(repo) != SDV_OK)
        fail_msg("publish: %s", sdv_tuf_repo_errmsg(repo));
    sdv_tuf_repo_close(repo);
    json_decref(custom);
}

/* Assigns the image (as described by img) to the primary in the director. */
static void director_assign(struct fleet *f, struct sdv_uptane_image img)
{
    struct sdv_uptane_assignment as = {"ecu-a", img};
    struct sdv_uptane_director_prev prev = ut_prev_of(&f->dout);
    struct sdv_uptane_director_out out;
    struct sdv_uptane_err e;

    assert_int_equal(sdv_uptane_director_build(&f->director->keys, &f->vehicle, &as, 1,
                                               f->have_dout ? &prev : NULL, NULL, UT_NOW, &out, &e),
                     SDV_OK);
    sdv_uptane_director_out_free(&f->dout);
    f->dout = out;
    f->have_dout = 1;
}

static const char *strip(const char *url, const char *prefix)
{
    size_t n = strlen(prefix);

    return strncmp(url, prefix, n) == 0 ? url + n : NULL;
}

static enum sdv_err serve_file(const char *path, uint64_t offset, uint64_t max_len,
                               uint64_t fail_after, sdv_sink_fn sink, void *sink_ud)
{
    struct sdv_buf b;
    enum sdv_err err;
    uint64_t n;

    sdv_buf_init(&b, 64u << 20);
    err = sdv_fs_read(path, &b);
    if (err == SDV_OK && offset > b.len)
        err = SDV_EUNSUPPORTED;
    if (err == SDV_OK && b.len > max_len)
        err = SDV_ETOOBIG;
    if (err == SDV_OK) {
        n = b.len - offset;
        if (fail_after > 0 && n > fail_after)
            n = fail_after;
        err = sink(sink_ud, b.data + offset, (size_t)n);
        if (err == SDV_OK && n < b.len - offset)
            err = SDV_ENET;
    }
    sdv_buf_free(&b);
    return err;
}

static enum sdv_err fake_fetch(void *ud, const char *url, uint64_t max_len, sdv_sink_fn sink,
                               void *sink_ud)
{
    struct fleet *f = ud;
    const char *name;
    char path[600];

    if ((name = strip(url, SRV "/v1/vehicle/director/")) != NULL) {
        const struct sdv_uptane_role_out *r = NULL;
        char vroot[32];

        snprintf(vroot, sizeof(vroot), "%lld.root.json", (long long)f->dout.root.version);
        if (strcmp(name, "root.json") == 0 || strcmp(name, vroot) == 0)
            r = &f->dout.root;
        else if (strcmp(name, "timestamp.json") == 0)
            r = &f->dout.timestamp;
        else if (strcmp(name, "snapshot.json") == 0)
            r = &f->dout.snapshot;
        else if (strcmp(name, "targets.json") == 0)
            r = &f->dout.targets;
        if (r == NULL)
            return SDV_ENOENT;
        if (r->len > max_len)
            return SDV_ETOOBIG;
        return sink(sink_ud, r->data, r->len);
    }
    if ((name = strip(url, SRV "/v1/vehicle/image/metadata/")) != NULL) {
        snprintf(path, sizeof(path), "%s/imagerepo/metadata/%s", f->dir, name);
        return serve_file(path, 0, max_len, 0, sink, sink_ud);
    }
    fail_msg("unexpected metadata URL %s", url);
    return SDV_ENOENT;
}

static enum sdv_err fake_fetch_range(void *ud, const char *url, uint64_t offset, uint64_t max_len,
                                     sdv_sink_fn sink, void *sink_ud)
{
    struct fleet *f = ud;
    const char *name = strip(url, SRV "/v1/vehicle/image/targets/");
    char path[600];

    assert_non_null(name);
    if (f->range_calls < 16)
        f->offsets[f->range_calls] = offset;
    f->range_calls++;
    snprintf(path, sizeof(path), "%s/imagerepo/targets/%s", f->dir, name);
    if (f->tamper) {
        struct sdv_buf b;
        enum sdv_err err;

        sdv_buf_init(&b, 64u << 20);
        assert_int_equal(sdv_fs_read(path, &b), SDV_OK);
        b.data[b.len / 2] ^= 0x20;
        err = sink(sink_ud, b.data + offset, b.len - offset);
        sdv_buf_free(&b);
        return err;
    }
    return serve_file(path, offset, max_len, f->fail_after, sink, sink_ud);
}

static enum sdv_err fake_post(void *ud, const char *url, const void *body, size_t len, long *status,
                              struct sdv_buf *response)
{
    struct fleet *f = ud;
    struct sdv_uptane_manifest m;
    struct sdv_uptane_err e;

    (void)response;
    assert_string_equal(url, SRV "/v1/vehicle/manifest");
    f->manifests++;
    if (sdv_uptane_manifest_verify(body, len, &f->vehicle, &m, &e) != SDV_OK) {
        *status = 400;
        return SDV_OK;
    }
    f->manifests_verified++;
    assert_int_equal(m.report_count, 1);
    snprintf(f->last_attack, sizeof(f->last_attack), "%s", m.reports[0].attack_detected);
    snprintf(f->last_filepath, sizeof(f->last_filepath), "%s", m.reports[0].filepath);
    f->last_log_count = m.reports[0].install_log_count;
    for (size_t i = 0; i < m.reports[0].install_log_count && i < 4; i++)
        snprintf(f->last_log[i], sizeof(f->last_log[i]), "%s", m.reports[0].install_log[i]);
    assert_int_equal(m.manifest_counter, f->manifests);
    sdv_uptane_manifest_free(&m);
    *status = 200;
    return SDV_OK;
}

static int setup(void **state)
{
    struct fleet *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s/sdv-agent-test-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    f->director = ut_director_new();
    assert_int_equal(sdv_key_generate(SDV_KEY_ED25519, 0, &f->image_key), SDV_OK);
    assert_int_equal(sdv_key_generate(SDV_KEY_ED25519, 0, &f->primary_key), SDV_OK);
    f->ecu.serial = "ecu-a";
    f->ecu.hardware_id = "hw-main";
    f->ecu.key = f->primary_key;
    f->vehicle.vin = VIN;
    f->vehicle.primary_ecu_serial = "ecu-a";
    f->vehicle.primary_key = f->primary_key;
    f->vehicle.ecus = &f->ecu;
    f->vehicle.ecu_count = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fleet *f = *state;
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    sdv_uptane_director_out_free(&f->dout);
    ut_director_free(f->director);
    sdv_key_destroy(f->image_key);
    sdv_key_destroy(f->primary_key);
    free(f);
    return 0;
}

/* Describes a published image file like the image repository does (sha256 and sha512). */
static struct sdv_uptane_image describe(struct fleet *f, const char *file, const char *path,
                                        uint64_t counter)
{
    struct sdv_uptane_image img;

    memset(&img, 0, sizeof(img));
    img.filepath = path;
    img.hash_count = 2;
    img.hashes[0].alg = SDV_HASH_SHA256;
    img.hashes[1].alg = SDV_HASH_SHA512;
    assert_int_equal(
            sdv_hash_file(SDV_HASH_SHA256, path_in(f, file), img.hashes[0].digest, &img.length),
            SDV_OK);
    assert_int_equal(sdv_hash_file(SDV_HASH_SHA512, path_in(f, file), img.hashes[1].digest, NULL),
                     SDV_OK);
    img.release_counter = counter;
    return img;
}

/* The configuration of the primary ecu-a on this fleet; iroot receives the image repository's
 * root, which c points into until the caller frees it with sdv_buf_free(). */
static void agent_config(struct fleet *f, struct sdv_agent_config *c, struct sdv_buf *iroot)
{
    sdv_buf_init(iroot, 1 << 20);
    assert_int_equal(sdv_fs_read(path_in(f, "imagerepo/metadata/1.root.json"), iroot), SDV_OK);
    memset(c, 0, sizeof(*c));
    c->server_url = SRV;
    c->vin = VIN;
    c->primary_serial = "ecu-a";
    c->primary_hardware_id = "hw-main";
    c->primary_key = f->primary_key;
    c->state_dir = path_in(f, "state");
    c->director_root = f->dout.root.data;
    c->director_root_len = f->dout.root.len;
    c->image_root = iroot->data;
    c->image_root_len = iroot->len;
    c->fetch = fake_fetch;
    c->fetch_range = fake_fetch_range;
    c->post = fake_post;
    c->transport_ud = f;
    c->random = ut_random;
    c->random_ud = &f->rnd;
}

static struct sdv_agent *agent_new(struct fleet *f)
{
    struct sdv_agent_config c;
    struct sdv_agent *a = NULL;
    struct sdv_buf iroot;
    char msg[512] = "";

    agent_config(f, &c, &iroot);
    c.download_attempts = 3;
    if (sdv_agent_create(&c, &a, msg, sizeof(msg)) != SDV_OK)
        fail_msg("agent: %s", msg);
    sdv_buf_free(&iroot);
    return a;
}

/* Publishes v1.bin as main/fw-1.bin (release counter 1) and assigns it to the primary. */
static void release_v1(struct fleet *f)
{
    write_image(f, "v1.bin", 'a');
    image_publish(f, "v1.bin", "main/fw-1.bin", 1, 1);
    director_assign(f, describe(f, "v1.bin", "main/fw-1.bin", 1));
}

static void assert_slot_is(struct fleet *f, const char *file)
{
    uint8_t want[32], got[32];

    assert_int_equal(sdv_hash_file(SDV_HASH_SHA256, path_in(f, file), want, NULL), SDV_OK);
    assert_int_equal(sdv_hash_file(SDV_HASH_SHA256, path_in(f, "state/slots/ecu-a"), got, NULL),
                     SDV_OK);
    assert_memory_equal(want, got, 32);
}

static void test_installs_v1_then_v2(void **state)
{
    struct fleet *f = *state;
    struct sdv_agent_result res;
    struct sdv_agent *a;

    release_v1(f);
    a = agent_new(f);

    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 60, &res), SDV_OK);
    assert_true(res.up_to_date);
    assert_int_equal(res.installed, 1);
    assert_string_equal(res.attack, "");
    assert_slot_is(f, "v1.bin");
    assert_string_equal(f->last_filepath, "main/fw-1.bin");
    assert_int_equal(f->range_calls, 1);

    /* Nothing new: no download, still a manifest. */
    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 120, &res), SDV_OK);
    assert_int_equal(res.installed, 0);
    assert_int_equal(f->range_calls, 1);
    assert_int_equal(f->manifests_verified, 2);
    sdv_agent_destroy(a);

    /* v2, with a fresh agent on the same state directory (a restart). */
    write_image(f, "v2.bin", 'q');
    image_publish(f, "v2.bin", "main/fw-2.bin", 2, 0);
    director_assign(f, describe(f, "v2.bin", "main/fw-2.bin", 2));
    a = agent_new(f);
    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 180, &res), SDV_OK);
    assert_int_equal(res.installed, 1);
    assert_slot_is(f, "v2.bin");
    assert_string_equal(f->last_filepath, "main/fw-2.bin");
    assert_int_equal(f->manifests_verified, 3);
    sdv_agent_destroy(a);
}

static void test_director_image_mismatch_installs_nothing(void **state)
{
    struct fleet *f = *state;
    struct sdv_agent_result res;
    struct sdv_uptane_image img;
    struct sdv_agent *a;
    struct stat st;

    write_image(f, "v1.bin", 'a');
    image_publish(f, "v1.bin", "main/fw-1.bin", 1, 1);
    /* A compromised director names the image with other hashes. */
    img = describe(f, "v1.bin", "main/fw-1.bin", 1);
    img.hashes[0].digest[0] ^= 1;
    director_assign(f, img);
    a = agent_new(f);

    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 60, &res), SDV_EHASH);
    assert_false(res.up_to_date);
    assert_non_null(strstr(res.attack, "hash"));
    assert_int_equal(f->range_calls, 0);
    assert_int_not_equal(stat(path_in(f, "state/slots/ecu-a"), &st), 0);
    /* The manifest still went out, with the attack in the primary's report. */
    assert_int_equal(f->manifests_verified, 1);
    assert_non_null(strstr(f->last_attack, "hash"));
    assert_string_equal(f->last_filepath, "none");

    /* Once the director is honest again, the vehicle recovers. */
    director_assign(f, describe(f, "v1.bin", "main/fw-1.bin", 1));
    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 120, &res), SDV_OK);
    assert_string_equal(f->last_attack, "");
    assert_slot_is(f, "v1.bin");
    sdv_agent_destroy(a);
}

static void test_download_resumes_after_failures(void **state)
{
    struct fleet *f = *state;
    struct sdv_agent_result res;
    struct sdv_agent *a;

    release_v1(f);
    a = agent_new(f);

    /* Every attempt delivers 30,000 bytes and breaks: 3 attempts are not enough ... */
    f->fail_after = 30000;
    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 60, &res), SDV_ENET);
    assert_int_equal(f->range_calls, 3);
    assert_int_equal(f->offsets[0], 0);
    assert_int_equal(f->offsets[1], 30000);
    assert_int_equal(f->offsets[2], 60000);
    assert_int_equal(res.installed, 0);
    assert_string_equal(res.attack, "");
    assert_int_equal(f->manifests_verified, 1);
    sdv_agent_destroy(a);

    /* ... and the next cycle, after a restart, continues where the partial file ends. */
    f->fail_after = 0;
    a = agent_new(f);
    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 120, &res), SDV_OK);
    assert_int_equal(f->range_calls, 4);
    assert_int_equal(f->offsets[3], 90000);
    assert_slot_is(f, "v1.bin");
    sdv_agent_destroy(a);
}

static void test_unreachable_secondary_reported_without(void **state)
{
    struct fleet *f = *state;
    struct sdv_agent_config c;
    struct sdv_agent_secondary sec = {"ecu-b", "hw-zone", "unix:/nonexistent/sdv-agent.sock"};
    struct sdv_agent_result res;
    struct sdv_agent *a = NULL;
    struct sdv_buf iroot;

    release_v1(f);
    agent_config(f, &c, &iroot);
    c.secondaries = &sec;
    c.secondary_count = 1;
    c.ecu_link_timeout_ms = 500;
    assert_int_equal(sdv_agent_create(&c, &a, NULL, 0), SDV_OK);
    sdv_buf_free(&iroot);
    /* The director names nothing for ecu-b: the cycle succeeds without its report. */
    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 60, &res), SDV_OK);
    assert_int_equal(res.secondaries_found, 0);
    assert_int_equal(f->manifests_verified, 1);
    sdv_agent_destroy(a);
}

/* ---- A/B installation ---------------------------------------------------------------------- */

/* File-backed slots A (booted, factory) and B with the file bootloader, powered on; extra
 * (may be "") adds members to the install object. */
static struct sdv_install_config *ab_config_with(struct fleet *f, const char *extra)
{
    char json[2048], msg[256] = "", booted[8];
    struct sdv_install_config *cfg = NULL;
    int degraded = 0;

    snprintf(json, sizeof(json),
             "{\"bootloader\": \"file\", \"boot_state\": \"boot.json\", \"groups\": [{\"name\": "
             "\"rootfs\", \"slots\": [{\"name\": \"A\", \"path\": \"slot-a\", \"size\": 1048576, "
             "\"bootname\": \"A\"}, {\"name\": \"B\", \"path\": \"slot-b\", \"size\": 1048576, "
             "\"bootname\": \"B\"}]}]%s}",
             extra);
    if (sdv_install_config_parse_text(json, strlen(json), f->dir, &cfg, msg, sizeof(msg)) != SDV_OK)
        fail_msg("install config: %s", msg);
    assert_int_equal(sdv_install_boot_sim(cfg, booted, sizeof(booted), &degraded, msg, sizeof(msg)),
                     SDV_OK);
    assert_string_equal(booted, "A");
    return cfg;
}

static struct sdv_install_config *ab_config(struct fleet *f)
{
    return ab_config_with(f, "");
}

static struct sdv_agent *ab_agent_new(struct fleet *f, const struct sdv_install_config *cfg)
{
    struct sdv_agent_config c;
    struct sdv_agent *a = NULL;
    struct sdv_buf iroot;
    char msg[512] = "";

    agent_config(f, &c, &iroot);
    c.download_attempts = 2;
    c.install = cfg;
    if (sdv_agent_create(&c, &a, msg, sizeof(msg)) != SDV_OK)
        fail_msg("agent: %s", msg);
    sdv_buf_free(&iroot);
    return a;
}

/* The installer's state as its state file says (the agent holds the installer's lock). */
static const char *ab_state(struct fleet *f)
{
    static char name[32];
    struct sdv_buf b;
    json_t *j = NULL;

    sdv_buf_init(&b, 1 << 20);
    assert_int_equal(sdv_fs_read(path_in(f, "state/install/install-state.json"), &b), SDV_OK);
    assert_int_equal(sdv_json_parse(b.data, b.len, &j, NULL, 0), SDV_OK);
    assert_non_null(json_string_value(json_object_get(j, "state")));
    snprintf(name, sizeof(name), "%s", json_string_value(json_object_get(j, "state")));
    json_decref(j);
    sdv_buf_free(&b);
    return name;
}

static void test_ab_tampered_stream_never_activated(void **state)
{
    struct fleet *f = *state;
    struct sdv_install_config *cfg = ab_config(f);
    struct sdv_agent_result res;
    struct sdv_agent *a;
    struct sdv_buf boot;
    json_t *bj = NULL;
    char booted[8], msg[256];
    int degraded;

    release_v1(f);
    a = ab_agent_new(f, cfg);

    /* A byte changed on the way into the slot: an attack, the transaction aborted, B never
     * offered to the bootloader, and the failure is the first install log record reported. */
    f->tamper = 1;
    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 60, &res), SDV_EHASH);
    assert_non_null(strstr(res.attack, "does not match its length and hashes"));
    assert_false(res.reboot_required);
    assert_string_equal(ab_state(f), "idle");
    sdv_buf_init(&boot, 4096);
    assert_int_equal(sdv_fs_read(path_in(f, "boot.json"), &boot), SDV_OK);
    assert_int_equal(sdv_json_parse(boot.data, boot.len, &bj, NULL, 0), SDV_OK);
    assert_string_equal(json_string_value(json_array_get(json_object_get(bj, "order"), 0)), "A");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(bj, "left"), "B")), 0);
    json_decref(bj);
    sdv_buf_free(&boot);
    assert_non_null(strstr(f->last_attack, "does not match"));
    assert_string_equal(f->last_filepath, "none");
    assert_int_equal(f->last_log_count, 1);
    assert_non_null(strstr(f->last_log[0], "\"result\":\"failed\""));
    assert_non_null(strstr(f->last_log[0], "\"seq\":1"));

    /* Honest bytes: written, verified, activated; the reboot is asked for. Not up to date yet,
     * and the acknowledged record is not sent again. */
    f->tamper = 0;
    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 120, &res), SDV_EINVAL);
    assert_true(res.reboot_required);
    assert_false(res.up_to_date);
    assert_string_equal(res.attack, "");
    assert_non_null(strstr(res.install, "activated main/fw-1.bin in slot B"));
    assert_string_equal(ab_state(f), "activated");
    assert_int_equal(f->last_log_count, 0);
    assert_string_equal(f->last_filepath, "none");
    sdv_agent_destroy(a);

    /* The reboot, and the agent's next start: trial, no health check configured, committed. */
    assert_int_equal(sdv_install_boot_sim(cfg, booted, sizeof(booted), &degraded, msg, sizeof(msg)),
                     SDV_OK);
    assert_string_equal(booted, "B");
    a = ab_agent_new(f, cfg);
    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 180, &res), SDV_OK);
    assert_true(res.up_to_date);
    assert_non_null(strstr(res.install, "committed main/fw-1.bin in slot B"));
    assert_string_equal(ab_state(f), "committed");
    assert_string_equal(f->last_filepath, "main/fw-1.bin");
    assert_int_equal(f->last_log_count, 1);
    assert_non_null(strstr(f->last_log[0], "\"seq\":2"));
    assert_non_null(strstr(f->last_log[0], "\"result\":\"committed\""));
    /* No copy of the primary's image was kept outside the slot. */
    assert_int_not_equal(access(path_in(f, "state/slots/ecu-a"), F_OK), 0);
    sdv_agent_destroy(a);
    sdv_install_config_destroy(cfg);
}

/* UNECE R156's safe-to-update check: a refusing precondition writes nothing, is reported with
 * its reason, and the update goes ahead by itself once the vehicle is safe again. */
static void test_ab_precondition_refused_then_retried(void **state)
{
    struct fleet *f = *state;
    struct sdv_install_config *cfg;
    struct sdv_agent_result res;
    struct sdv_agent *a;
    struct stat st;
    char extra[700];
    FILE *fp;

    snprintf(extra, sizeof(extra),
             ", \"precondition\": {\"command\": \"if [ -e '%s/driving' ]; then echo vehicle "
             "moving at 50 km/h; exit 1; fi\", \"timeout_ms\": 5000}",
             f->dir);
    cfg = ab_config_with(f, extra);
    release_v1(f);
    fp = fopen(path_in(f, "driving"), "w");
    assert_non_null(fp);
    fclose(fp);
    a = ab_agent_new(f, cfg);

    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 60, &res), SDV_EDENIED);
    assert_non_null(strstr(res.reason, "not safe to update"));
    assert_non_null(strstr(res.reason, "vehicle moving at 50 km/h"));
    assert_string_equal(res.attack, "");
    assert_false(res.reboot_required);
    assert_int_equal(f->range_calls, 0);
    assert_true(stat(path_in(f, "slot-b"), &st) != 0 || st.st_size == 0);
    assert_int_equal(f->manifests_verified, 1);

    /* Parked: the next cycle installs and activates without anyone forcing it. */
    assert_int_equal(unlink(path_in(f, "driving")), 0);
    assert_int_equal(sdv_agent_cycle(a, UT_NOW + 120, &res), SDV_EINVAL);
    assert_true(res.reboot_required);
    assert_string_equal(ab_state(f), "activated");
    assert_int_equal(f->range_calls, 1);
    sdv_agent_destroy(a);
    sdv_install_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_installs_v1_then_v2, setup, teardown),
            cmocka_unit_test_setup_teardown(test_director_image_mismatch_installs_nothing, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_download_resumes_after_failures, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ab_tampered_stream_never_activated, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_ab_precondition_refused_then_retried, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_unreachable_secondary_reported_without, setup,
                                            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
