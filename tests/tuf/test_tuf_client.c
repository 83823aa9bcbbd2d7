/*
 * test_tuf_client.c - the TUF client workflow end to end against an in-memory repository:
 * request order and file names with and without consistent snapshots, percent-encoded role
 * names, reuse of unchanged metadata, unknown fields, download limits, and target downloads
 * (URLs, caching, hash and length checks, oversized bodies).
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

#include <sdv/limits.h>
#include <sdv/tuf.h>

#include "tuf_fixture.h"

static const char file_body[] = "firmware image 1.0\n";
static const char sub_body[] = "a file in a subdirectory\n";

static void assert_dir_list(const char *dir, const char *want)
{
    char *got = fx_dir_list(dir);

    assert_string_equal(got, want);
    free(got);
}

static void assert_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    uint8_t *got;
    size_t got_len;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    got = fx_read_file(path, &got_len);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, data, len);
    free(got);
}

/* Downloads path into the repository's target dir, asserting the result. */
static enum sdv_err download(struct fx_repo *r, struct sdv_tuf_client *c, const char *path,
                             int *downloaded)
{
    struct sdv_tuf_target t;

    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, path, &t), SDV_OK, "");
    return sdv_tuf_client_download_target(c, &t, r->target_dir, FX_TARGET_URL, downloaded);
}

static struct fx_repo *repo_with_targets(bool consistent)
{
    struct fx_repo *r = fx_repo_new(consistent);

    fx_target_add(r, "targets", "file.bin", file_body, strlen(file_body));
    fx_target_add(r, "targets", "dir/sub one.bin", sub_body, strlen(sub_body));
    return r;
}

/* ---- Happy paths ------------------------------------------------------------------------ */

static void test_first_refresh_plain(void **state)
{
    struct fx_repo *r = repo_with_targets(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;
    uint8_t sha256[32];
    int downloaded = -1;

    (void)state;
    fx_publish(r);
    fx_trust_root(r, 1);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_requests(r, "2.root.json timestamp.json snapshot.json targets.json");
    fx_assert_trusted_top(r, c);
    assert_false(sdv_tuf_client_consistent_snapshot(c));
    assert_dir_list(r->meta_dir, "root.json snapshot.json targets.json timestamp.json");

    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "file.bin", &t), SDV_OK, "");
    assert_string_equal(t.path, "file.bin");
    assert_string_equal(t.role, "targets");
    assert_int_equal(t.length, strlen(file_body));
    assert_int_equal(t.hash_count, 2);
    assert_int_equal(t.hashes[0].alg, SDV_HASH_SHA256);
    assert_int_equal(t.hashes[1].alg, SDV_HASH_SHA512);
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, file_body, strlen(file_body), sha256), SDV_OK);
    assert_memory_equal(t.hashes[0].digest, sha256, 32);
    assert_null(t.custom);

    fx_requests_clear(r);
    FX_ASSERT_ERR(c,
                  sdv_tuf_client_download_target(c, &t, r->target_dir, FX_TARGET_URL, &downloaded),
                  SDV_OK, "");
    assert_int_equal(downloaded, 1);
    fx_assert_requests(r, "targets/file.bin");
    assert_int_equal(fx_request_max_len(r, "targets/file.bin"), strlen(file_body));
    assert_file(r->target_dir, "file.bin", file_body, strlen(file_body));
    assert_int_equal(download(r, c, "dir/sub one.bin", &downloaded), SDV_OK);
    assert_int_equal(downloaded, 1);
    fx_assert_requests(r, "targets/file.bin targets/dir/sub%20one.bin");
    assert_file(r->target_dir, "dir%2Fsub%20one.bin", sub_body, strlen(sub_body));
    assert_dir_list(r->target_dir, "dir%2Fsub%20one.bin file.bin");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_first_refresh_consistent(void **state)
{
    struct fx_repo *r = repo_with_targets(true);
    struct sdv_tuf_client *c;
    char want[512], h1[65], h2[65];
    int downloaded = -1;

    (void)state;
    /* Distinct versions so that each file name proves which version was asked for. */
    r->targets.version = 2;
    r->snapshot.version = 3;
    r->timestamp.version = 4;
    fx_publish(r);
    fx_trust_root(r, 1);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_requests(r, "2.root.json timestamp.json 3.snapshot.json 2.targets.json");
    fx_assert_trusted_top(r, c);
    assert_true(sdv_tuf_client_consistent_snapshot(c));
    /* Stored under unversioned names. */
    assert_dir_list(r->meta_dir, "root.json snapshot.json targets.json timestamp.json");

    fx_requests_clear(r);
    assert_int_equal(download(r, c, "file.bin", &downloaded), SDV_OK);
    assert_int_equal(downloaded, 1);
    assert_int_equal(download(r, c, "dir/sub one.bin", &downloaded), SDV_OK);
    assert_int_equal(downloaded, 1);
    fx_sha256_hex(file_body, strlen(file_body), h1);
    fx_sha256_hex(sub_body, strlen(sub_body), h2);
    snprintf(want, sizeof(want), "targets/%s.file.bin targets/dir/%s.sub%%20one.bin", h1, h2);
    fx_assert_requests(r, want);
    /* The local file name carries no hash prefix. */
    assert_file(r->target_dir, "file.bin", file_body, strlen(file_body));
    assert_file(r->target_dir, "dir%2Fsub%20one.bin", sub_body, strlen(sub_body));
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void check_encoded_role_names(bool consistent)
{
    static const char *const x_paths[] = {"x/*", NULL}, *const q_paths[] = {"q/*", NULL},
                             *const h_paths[] = {"h/*", NULL};
    struct fx_repo *r = fx_repo_new(consistent);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    fx_role_add(r, "../x");
    fx_role_add(r, "a?b")->version = 2;
    fx_role_add(r, "c#d")->version = 3;
    fx_delegate(r, "targets", "../x", false, x_paths, NULL);
    fx_delegate(r, "targets", "a?b", false, q_paths, NULL);
    fx_delegate(r, "targets", "c#d", false, h_paths, NULL);
    fx_target_add(r, "../x", "x/1", "one", 3);
    fx_target_add(r, "a?b", "q/2", "two", 3);
    fx_target_add(r, "c#d", "h/3", "three", 5);
    fx_first_refresh(r);

    c = fx_client(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_refresh(c), SDV_OK, "");
    fx_requests_clear(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "x/1", &t), SDV_OK, "");
    assert_string_equal(t.role, "../x");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "q/2", &t), SDV_OK, "");
    assert_string_equal(t.role, "a?b");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "h/3", &t), SDV_OK, "");
    assert_string_equal(t.role, "c#d");
    if (consistent)
        fx_assert_requests(r, "1...%2Fx.json 2.a%3Fb.json 3.c%23d.json");
    else
        fx_assert_requests(r, "..%2Fx.json a%3Fb.json c%23d.json");
    fx_assert_trusted(r, c, "../x");
    fx_assert_trusted(r, c, "a?b");
    fx_assert_trusted(r, c, "c#d");
    assert_dir_list(r->meta_dir, "..%2Fx.json a%3Fb.json c%23d.json root.json snapshot.json "
                                 "targets.json timestamp.json");
    /* Nothing was written next to the metadata directory. */
    assert_dir_list(r->tmp_dir, "meta targets");
    assert_dir_list(r->target_dir, "");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_encoded_role_names_plain(void **state)
{
    (void)state;
    check_encoded_role_names(false);
}

static void test_encoded_role_names_consistent(void **state)
{
    (void)state;
    check_encoded_role_names(true);
}

static void test_nothing_changed(void **state)
{
    struct fx_repo *r = repo_with_targets(true);
    struct sdv_tuf_client *c;
    struct fx_dir_state *before;
    struct sdv_tuf_target t;

    (void)state;
    fx_first_refresh(r);
    before = fx_dir_capture(r->meta_dir);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    /* Snapshot and targets are reused from disk: the timestamp names the same snapshot. */
    fx_assert_requests(r, "2.root.json timestamp.json");
    fx_assert_trusted_top(r, c);
    fx_dir_assert(before, r->meta_dir);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "file.bin", &t), SDV_OK, "");
    fx_dir_state_free(before);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_update_cycle(void **state)
{
    struct fx_repo *r = repo_with_targets(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    fx_first_refresh(r);
    fx_target_add(r, "targets", "new.bin", "new", 3);
    r->targets.version = 2;
    r->snapshot.version = 2;
    r->timestamp.version = 2;
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_requests(r, "2.root.json timestamp.json snapshot.json targets.json");
    fx_assert_trusted_top(r, c);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "new.bin", &t), SDV_OK, "");
    sdv_tuf_client_destroy(c);

    /* Only the timestamp moved: the snapshot it names is the trusted one. */
    fx_requests_clear(r);
    r->timestamp.version = 3;
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_requests(r, "2.root.json timestamp.json");
    fx_assert_trusted_top(r, c);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void add_unknown_fields(json_t *s, void *ud)
{
    json_t *first;
    const char *key;

    (void)ud;
    json_object_set_new(s, "x-vendor",
                        json_pack("{s:[i,s,{s:b}]}", "nested", 7, "text", "deep", 1));
    /* Inside the first "meta" or "targets" entry, and inside "roles" / "delegations". */
    first = json_object_get(s, "meta");
    if (first == NULL)
        first = json_object_get(s, "targets");
    if (first != NULL) {
        json_t *v;

        json_object_foreach(first, key, v)
        {
            json_object_set_new(v, "x-entry", json_string("kept"));
            break;
        }
    }
    if (json_object_get(s, "roles") != NULL)
        json_object_set_new(json_object_get(json_object_get(s, "roles"), "timestamp"), "x-role",
                            json_true());
    if (json_object_get(s, "delegations") != NULL)
        json_object_set_new(json_object_get(s, "delegations"), "x-deleg", json_integer(1));
}

static void test_unknown_fields_preserved(void **state)
{
    static const char *const all[] = {"*", NULL};
    struct fx_repo *r = repo_with_targets(false);
    struct fx_role *roles[] = {&r->root, &r->timestamp, &r->snapshot, &r->targets, NULL};
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    fx_role_add(r, "extra");
    fx_delegate(r, "targets", "extra", false, all, NULL);
    fx_target_add(r, "extra", "in-extra.bin", "x", 1);
    roles[4] = fx_role(r, "extra");
    for (size_t i = 0; i < 5; i++)
        roles[i]->mutate = add_unknown_fields;
    fx_publish(r);
    fx_trust_root(r, 1);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_trusted_top(r, c);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "in-extra.bin", &t), SDV_OK, "");
    fx_assert_trusted(r, c, "extra");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* An unknown field is covered by the signature: adding one after signing breaks it. */
static void test_unknown_field_added_after_signing(void **state)
{
    struct fx_repo *r = repo_with_targets(false);
    struct fx_dir_state *before;
    struct sdv_tuf_client *c;
    json_t *env;

    (void)state;
    fx_first_refresh(r);
    before = fx_dir_capture(r->meta_dir);
    r->timestamp.version = 2;
    fx_publish(r);
    env = fx_role_build(r, &r->timestamp);
    json_object_set_new(json_object_get(json_object_get(json_object_get(env, "signed"), "meta"),
                                        "snapshot.json"),
                        "x-late", json_string("not signed"));
    fx_serve_json(r, "timestamp.json", env);
    json_decref(env);
    FX_ASSERT_REFRESH(r, c, SDV_ESIG, "timestamp");
    fx_dir_assert(before, r->meta_dir);
    fx_dir_state_free(before);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* ---- Download limits the client asks for ------------------------------------------------ */

static void test_requested_max_len_defaults(void **state)
{
    struct fx_repo *r = repo_with_targets(false);
    struct sdv_tuf_client *c;

    (void)state;
    fx_publish(r);
    fx_trust_root(r, 1);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    assert_int_equal(fx_request_max_len(r, "2.root.json"), SDV_TUF_ROOT_MAX_LEN);
    assert_int_equal(fx_request_max_len(r, "timestamp.json"), SDV_TUF_TIMESTAMP_MAX_LEN);
    /* The timestamp lists the snapshot's length: that is the bound. */
    assert_int_equal(fx_request_max_len(r, "snapshot.json"), fx_served(r, "snapshot.json")->len);
    /* The snapshot lists no length for targets: the configured default applies. */
    assert_int_equal(fx_request_max_len(r, "targets.json"), SDV_TUF_TARGETS_MAX_LEN);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_requested_max_len_configured(void **state)
{
    struct fx_repo *r = repo_with_targets(true);
    struct sdv_tuf_client *c;

    (void)state;
    r->snapshot_hashes = true;
    r->cfg.root_max_len = 100000;
    r->cfg.timestamp_max_len = 5000;
    r->cfg.snapshot_max_len = 7000;
    r->cfg.targets_max_len = 9000;
    fx_publish(r);
    fx_trust_root(r, 1);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    assert_int_equal(fx_request_max_len(r, "2.root.json"), 100000);
    assert_int_equal(fx_request_max_len(r, "timestamp.json"), 5000);
    assert_int_equal(fx_request_max_len(r, "1.snapshot.json"),
                     fx_served(r, "1.snapshot.json")->len);
    /* Now the snapshot lists the length of targets.json. */
    assert_int_equal(fx_request_max_len(r, "1.targets.json"), fx_served(r, "1.targets.json")->len);
    fx_assert_trusted_top(r, c);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void drop_snapshot_length(json_t *s, void *ud)
{
    json_t *mf = json_object_get(json_object_get(s, "meta"), "snapshot.json");

    (void)ud;
    json_object_del(mf, "length");
    json_object_del(mf, "hashes");
}

static void test_snapshot_max_len_without_length(void **state)
{
    struct fx_repo *r = repo_with_targets(false);
    struct sdv_tuf_client *c;

    (void)state;
    r->timestamp.mutate = drop_snapshot_length;
    r->cfg.snapshot_max_len = 4321;
    fx_publish(r);
    fx_trust_root(r, 1);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    assert_int_equal(fx_request_max_len(r, "snapshot.json"), 4321);
    fx_assert_trusted_top(r, c);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* ---- API misuse ------------------------------------------------------------------------- */

static void test_refresh_once_and_find_before_refresh(void **state)
{
    struct fx_repo *r = repo_with_targets(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    fx_publish(r);
    fx_trust_root(r, 1);
    c = fx_client(r);
    assert_int_equal(sdv_tuf_client_role_version(c, "root"), 1);
    assert_int_equal(sdv_tuf_client_role_version(c, "timestamp"), 0);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "file.bin", &t), SDV_EINVAL, "refresh");
    FX_ASSERT_ERR(c, sdv_tuf_client_refresh(c), SDV_OK, "");
    FX_ASSERT_ERR(c, sdv_tuf_client_refresh(c), SDV_EINVAL, "refresh");
    sdv_tuf_client_destroy(c);
    sdv_tuf_client_destroy(NULL);
    fx_repo_free(r);
}

static void test_create_without_root(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c = (struct sdv_tuf_client *)&c;
    char msg[256] = "";

    (void)state;
    assert_int_equal(sdv_tuf_client_create(&r->cfg, &c, msg, sizeof(msg)), SDV_ENOENT);
    assert_null(c);
    assert_non_null(strstr(msg, "root"));
    fx_repo_free(r);
}

static void test_init_root_rejects_unsigned(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    const struct fx_file *f;
    char msg[256] = "";

    (void)state;
    r->root.bad_sig = true;
    fx_publish(r);
    f = fx_served(r, "1.root.json");
    assert_int_equal(sdv_tuf_client_init_root(r->meta_dir, f->data, f->len, msg, sizeof(msg)),
                     SDV_ESIG);
    assert_non_null(strstr(msg, "root"));
    assert_dir_list(r->meta_dir, "");
    fx_repo_free(r);
}

/* ---- Target downloads ------------------------------------------------------------------- */

static void test_target_cached(void **state)
{
    struct fx_repo *r = repo_with_targets(true);
    struct sdv_tuf_client *c;
    char path[1024];
    int downloaded = -1;

    (void)state;
    fx_first_refresh(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_requests_clear(r);
    assert_int_equal(download(r, c, "file.bin", &downloaded), SDV_OK);
    assert_int_equal(downloaded, 1);
    assert_int_equal(r->request_count, 1);
    assert_int_equal(download(r, c, "file.bin", &downloaded), SDV_OK);
    assert_int_equal(downloaded, 0);
    assert_int_equal(r->request_count, 1);

    /* A corrupted local copy (same length) is downloaded again. */
    snprintf(path, sizeof(path), "%s/file.bin", r->target_dir);
    assert_int_equal(sdv_fs_write_atomic(path, "X", 1, 0644), SDV_OK);
    assert_int_equal(download(r, c, "file.bin", &downloaded), SDV_OK);
    assert_int_equal(downloaded, 1);
    assert_int_equal(r->request_count, 2);
    assert_file(r->target_dir, "file.bin", file_body, strlen(file_body));
    assert_dir_list(r->target_dir, "file.bin");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* The server sends body instead of the listed target. */
static enum sdv_err download_tampered(bool consistent, const char *body, size_t len,
                                      size_t chunk_len, bool ignore_max_len, const char *needle)
{
    struct fx_repo *r = repo_with_targets(consistent);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;
    char name[256], hex[65];
    int downloaded = -1;
    enum sdv_err err;

    fx_first_refresh(r);
    fx_sha256_hex(file_body, strlen(file_body), hex);
    snprintf(name, sizeof(name), "targets/%s%sfile.bin", consistent ? hex : "",
             consistent ? "." : "");
    fx_serve(r, name, body, len);
    r->chunk_len = chunk_len;
    r->ignore_max_len = ignore_max_len;
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "file.bin", &t), SDV_OK, "");
    err = sdv_tuf_client_download_target(c, &t, r->target_dir, FX_TARGET_URL, &downloaded);
    if (err != SDV_OK) {
        assert_int_equal(downloaded, 0);
        assert_non_null(strstr(sdv_tuf_client_errmsg(c), "file.bin"));
        assert_non_null(strstr(sdv_tuf_client_errmsg(c), needle));
    }
    assert_true(fx_requested(r, name));
    /* Nothing stored, no temporary file left behind. */
    assert_dir_list(r->target_dir, "");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
    return err;
}

static void test_target_hash_mismatch(void **state)
{
    char body[sizeof(file_body)];

    (void)state;
    memcpy(body, file_body, sizeof(body));
    body[3] ^= 1;
    assert_int_equal(download_tampered(false, body, strlen(body), 0, false, "hash"), SDV_EHASH);
    assert_int_equal(download_tampered(true, body, strlen(body), 4, false, "hash"), SDV_EHASH);
}

static void test_target_too_short(void **state)
{
    (void)state;
    assert_int_equal(download_tampered(false, file_body, strlen(file_body) - 1, 0, false, "length"),
                     SDV_EHASH);
    assert_int_equal(download_tampered(false, "", 0, 0, false, "length"), SDV_EHASH);
}

static void test_target_too_long(void **state)
{
    char body[sizeof(file_body) + 8];

    (void)state;
    snprintf(body, sizeof(body), "%sEXTRA", file_body);
    /* A transport that honours max_len ... */
    assert_int_equal(download_tampered(false, body, strlen(body), 0, false, "more than"),
                     SDV_ETOOBIG);
    assert_int_equal(download_tampered(true, body, strlen(body), 3, false, "more than"),
                     SDV_ETOOBIG);
    /* ... and one that does not: the client's own sink stops the download. */
    assert_int_equal(download_tampered(false, body, strlen(body), 5, true, "more than"),
                     SDV_ETOOBIG);
    assert_int_equal(download_tampered(false, body, strlen(body), 0, true, "more than"),
                     SDV_ETOOBIG);
}

static void test_target_missing_on_server(void **state)
{
    struct fx_repo *r = repo_with_targets(false);
    struct sdv_tuf_client *c;
    int downloaded = -1;

    (void)state;
    fx_first_refresh(r);
    fx_unserve(r, "targets/file.bin");
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    FX_ASSERT_ERR(c, download(r, c, "file.bin", &downloaded), SDV_ENOENT, "file.bin");
    assert_int_equal(downloaded, 0);
    assert_dir_list(r->target_dir, "");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void unknown_target_hash(json_t *s, void *ud)
{
    json_t *hashes =
            json_object_get(json_object_get(json_object_get(s, "targets"), "file.bin"), "hashes");

    (void)ud;
    json_object_set_new(hashes, "blake9", json_string("00ff"));
}

static void test_target_unknown_hash_algorithm(void **state)
{
    struct fx_repo *r = repo_with_targets(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    r->targets.mutate = unknown_target_hash;
    fx_publish(r);
    fx_trust_root(r, 1);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "file.bin", &t), SDV_EUNSUPPORTED, "blake9",
                  "file.bin");
    /* Other targets of the same role are unaffected. */
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "dir/sub one.bin", &t), SDV_OK, "");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_target_not_listed(void **state)
{
    struct fx_repo *r = repo_with_targets(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    fx_first_refresh(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "nope.bin", &t), SDV_ENOTARGET, "nope.bin");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* A root rotation switches consistent snapshots on: the new root's flag names the files. */
static void test_consistent_snapshot_switched_by_root(void **state)
{
    struct fx_repo *r = repo_with_targets(false);
    struct sdv_tuf_client *c;
    char want[512], hex[65];
    int downloaded = 0;

    (void)state;
    fx_first_refresh(r);
    r->consistent_snapshot = true;
    r->root.version = 2;
    r->timestamp.version = 2;
    r->snapshot.version = 2;
    r->targets.version = 2;
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_requests(r, "2.root.json 3.root.json timestamp.json 2.snapshot.json 2.targets.json");
    assert_true(sdv_tuf_client_consistent_snapshot(c));
    fx_assert_trusted_top(r, c);
    fx_requests_clear(r);
    assert_int_equal(download(r, c, "file.bin", &downloaded), SDV_OK);
    fx_sha256_hex(file_body, strlen(file_body), hex);
    snprintf(want, sizeof(want), "targets/%s.file.bin", hex);
    fx_assert_requests(r, want);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static enum sdv_err failing_fetch(void *ud, const char *url, uint64_t max_len, sdv_tuf_sink_fn sink,
                                  void *sink_ud)
{
    struct fx_repo *r = ud;

    if (strcmp(url, FX_BASE_URL "timestamp.json") == 0)
        return SDV_ENET;
    return fx_fetch(r, url, max_len, sink, sink_ud);
}

static void test_transport_error(void **state)
{
    struct fx_repo *r = repo_with_targets(false);

    (void)state;
    fx_first_refresh(r);
    r->cfg.fetch = failing_fetch;
    FX_REFRESH_FAILS(r, SDV_ENET, "timestamp: downloading timestamp.json failed", NULL);
    /* A missing timestamp is an error too (only a missing N+1.root.json is normal). */
    r->cfg.fetch = fx_fetch;
    fx_unserve(r, "timestamp.json");
    FX_REFRESH_FAILS(r, SDV_ENOENT, "timestamp: timestamp.json not found", NULL);
    fx_repo_free(r);
}

/* Target paths are file names inside target_dir, whatever they contain. */
static void test_target_paths_stay_inside(void **state)
{
    static const char *const odd[] = {"..", ".", ""};
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    int downloaded = 0;

    (void)state;
    fx_target_add(r, "targets", "../../evil", "evil", 4);
    fx_target_add(r, "targets", "a/../../b", "b", 1);
    for (size_t i = 0; i < 3; i++)
        fx_target_add(r, "targets", odd[i], "odd", 3);
    fx_first_refresh(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    assert_int_equal(download(r, c, "../../evil", &downloaded), SDV_OK);
    assert_int_equal(downloaded, 1);
    assert_int_equal(download(r, c, "a/../../b", &downloaded), SDV_OK);
    assert_file(r->target_dir, "..%2F..%2Fevil", "evil", 4);
    assert_file(r->target_dir, "a%2F..%2F..%2Fb", "b", 1);
    /* "..", "." and "" cannot be file names: refused before any download. */
    fx_requests_clear(r);
    for (size_t i = 0; i < 3; i++)
        FX_ASSERT_ERR(c, download(r, c, odd[i], &downloaded), SDV_EINVAL, "file name");
    fx_assert_requests(r, "");
    assert_dir_list(r->target_dir, "..%2F..%2Fevil a%2F..%2F..%2Fb");
    assert_dir_list(r->tmp_dir, "meta targets");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_first_refresh_plain),
            cmocka_unit_test(test_first_refresh_consistent),
            cmocka_unit_test(test_encoded_role_names_plain),
            cmocka_unit_test(test_encoded_role_names_consistent),
            cmocka_unit_test(test_nothing_changed),
            cmocka_unit_test(test_update_cycle),
            cmocka_unit_test(test_unknown_fields_preserved),
            cmocka_unit_test(test_unknown_field_added_after_signing),
            cmocka_unit_test(test_requested_max_len_defaults),
            cmocka_unit_test(test_requested_max_len_configured),
            cmocka_unit_test(test_snapshot_max_len_without_length),
            cmocka_unit_test(test_refresh_once_and_find_before_refresh),
            cmocka_unit_test(test_create_without_root),
            cmocka_unit_test(test_init_root_rejects_unsigned),
            cmocka_unit_test(test_target_cached),
            cmocka_unit_test(test_target_hash_mismatch),
            cmocka_unit_test(test_target_too_short),
            cmocka_unit_test(test_target_too_long),
            cmocka_unit_test(test_target_missing_on_server),
            cmocka_unit_test(test_target_unknown_hash_algorithm),
            cmocka_unit_test(test_target_not_listed),
            cmocka_unit_test(test_consistent_snapshot_switched_by_root),
            cmocka_unit_test(test_transport_error),
            cmocka_unit_test(test_target_paths_stay_inside),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
