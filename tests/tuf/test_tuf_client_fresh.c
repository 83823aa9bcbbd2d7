/*
 * test_tuf_client_fresh.c - freshness and consistency rules of the TUF client workflow: expiry
 * of every role, rollback of every version the client remembers, version mismatches between
 * roles, length and hash checks of metadata, download size limits (endless data), malformed
 * metadata, and unknown hash algorithms. Every failure must leave the trusted files as they
 * were, except those the specification lets an earlier step of the same refresh update.
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

static void bump(struct fx_repo *r, const char *const *roles)
{
    for (size_t i = 0; roles[i] != NULL; i++)
        fx_role(r, roles[i])->version++;
}

#define BUMP(r, ...) bump((r), (const char *[]){__VA_ARGS__, NULL})

/* After a successful refresh, looking up d.bin must fail with want, changing nothing. */
static void find_fails(struct fx_repo *r, enum sdv_err want, const char *needle)
{
    struct fx_dir_state *before;
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_trusted_top(r, c);
    before = fx_dir_capture(r->meta_dir);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "d.bin", &t), want, needle);
    fx_dir_assert(before, r->meta_dir);
    fx_dir_state_free(before);
    sdv_tuf_client_destroy(c);
}

/* ---- Expiry ----------------------------------------------------------------------------- */

static void test_expired_trusted_root(void **state)
{
    struct fx_repo *r = fx_repo_new(false);

    (void)state;
    r->root.expires = FX_NOW - 1;
    fx_publish(r);
    fx_trust_root(r, 1);
    FX_REFRESH_FAILS(r, SDV_EEXPIRED, "root: version 1 expired", NULL);
    fx_repo_free(r);
}

static void test_expired_new_root(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    r->root.version = 2;
    r->root.expires = FX_NOW; /* "expires" must be later than now */
    fx_publish(r);
    /* The new root is trusted (5.3.8) before the final expiry check (5.3.10). */
    FX_REFRESH_FAILS(r, SDV_EEXPIRED, "root: version 2 expired", "root");
    fx_repo_free(r);
}

static void test_expired_timestamp(void **state)
{
    struct fx_repo *r = fx_trusted_repo(true, 1);
    struct sdv_tuf_client *c;

    (void)state;
    BUMP(r, "timestamp");
    r->timestamp.expires = FX_NOW;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EEXPIRED, "timestamp", NULL);
    /* One second later is fine. */
    r->timestamp.expires = FX_NOW + 1;
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_trusted_top(r, c);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_expired_snapshot(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    BUMP(r, "timestamp", "snapshot");
    r->snapshot.expires = FX_NOW - FX_DAY;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EEXPIRED, "snapshot", "timestamp");
    fx_repo_free(r);
}

static void test_expired_targets(void **state)
{
    struct fx_repo *r = fx_trusted_repo(true, 1);

    (void)state;
    BUMP(r, "timestamp", "snapshot", "targets");
    r->targets.expires = FX_NOW - FX_DAY;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EEXPIRED, "targets", "timestamp", "snapshot");
    fx_repo_free(r);
}

static void test_expired_delegated(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    BUMP(r, "timestamp", "snapshot", "deleg");
    fx_role(r, "deleg")->expires = FX_NOW - FX_DAY;
    fx_publish(r);
    find_fails(r, SDV_EEXPIRED, "deleg");
    fx_repo_free(r);
}

/* The trusted snapshot, reused because the timestamp names it, is still checked for expiry. */
static void test_expired_reused_snapshot(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    r->cfg.now = FX_NOW + 31 * FX_DAY;
    r->root.version = 2;
    r->root.expires = FX_NOW + 90 * FX_DAY;
    r->timestamp.version = 2;
    r->timestamp.expires = FX_NOW + 90 * FX_DAY;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EEXPIRED, "snapshot", "root", "timestamp");
    fx_repo_free(r);
}

/* ---- Rollback --------------------------------------------------------------------------- */

static void test_rollback_timestamp_version(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 5);

    (void)state;
    r->timestamp.version = 4;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EROLLBACK, "timestamp: version 4 is lower than trusted version 5",
                     NULL);
    fx_repo_free(r);
}

static void test_rollback_timestamp_snapshot_version(void **state)
{
    struct fx_repo *r = fx_trusted_repo(true, 5);

    (void)state;
    r->timestamp.version = 6;
    r->snapshot.version = 4;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EROLLBACK,
                     "snapshot version 4 is lower than trusted snapshot version 5", NULL);
    fx_repo_free(r);
}

static void test_rollback_snapshot_targets_version(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 5);

    (void)state;
    BUMP(r, "timestamp", "snapshot");
    r->targets.version = 4;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EROLLBACK, "targets.json version 4 is lower than trusted version 5",
                     "timestamp");
    fx_repo_free(r);
}

static void test_rollback_snapshot_delegated_version(void **state)
{
    struct fx_repo *r = fx_trusted_repo(true, 5);

    (void)state;
    BUMP(r, "timestamp", "snapshot");
    fx_role(r, "deleg")->version = 3;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EROLLBACK, "deleg.json version 3", "timestamp");
    fx_repo_free(r);
}

static void drop_meta_entry(json_t *s, void *ud)
{
    json_object_del(json_object_get(s, "meta"), ud);
}

static void test_rollback_snapshot_drops_role(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 2);

    (void)state;
    BUMP(r, "timestamp", "snapshot");
    r->snapshot.mutate = drop_meta_entry;
    r->snapshot.mutate_ud = (void *)"deleg.json";
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EROLLBACK, "deleg.json is listed by the trusted snapshot but missing",
                     "timestamp");
    BUMP(r, "timestamp", "snapshot");
    r->snapshot.mutate_ud = (void *)"targets.json";
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EROLLBACK, "targets.json is listed by the trusted snapshot",
                     "timestamp");
    fx_repo_free(r);
}

/* ---- Version mismatches ----------------------------------------------------------------- */

static void set_meta_version(json_t *s, void *ud)
{
    json_t *mf = json_object_get(json_object_get(s, "meta"), ud);

    json_object_set_new(mf, "version",
                        json_integer(json_integer_value(json_object_get(mf, "version")) + 1));
}

static void test_snapshot_version_differs_from_timestamp(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    BUMP(r, "timestamp", "snapshot");
    r->timestamp.mutate = set_meta_version;
    r->timestamp.mutate_ud = (void *)"snapshot.json";
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EVERSION,
                     "snapshot: version 2 does not match version 3 named by timestamp",
                     "timestamp");
    fx_repo_free(r);
}

static void test_targets_version_differs_from_snapshot(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    BUMP(r, "timestamp", "snapshot", "targets");
    r->snapshot.mutate = set_meta_version;
    r->snapshot.mutate_ud = (void *)"targets.json";
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EVERSION, "targets: version 2 does not match version 3 named by",
                     "timestamp", "snapshot");
    fx_repo_free(r);
}

static void test_delegated_version_differs_from_snapshot(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    BUMP(r, "timestamp", "snapshot", "deleg");
    r->snapshot.mutate = set_meta_version;
    r->snapshot.mutate_ud = (void *)"deleg.json";
    fx_publish(r);
    find_fails(r, SDV_EVERSION, "deleg: version 2 does not match version 3");
    fx_repo_free(r);
}

/* ---- Length and hashes of metadata ------------------------------------------------------ */

struct meta_edit {
    const char *entry; /* "snapshot.json", "targets.json" */
    const char *field; /* "length" or a hash algorithm */
    json_t *value;     /* borrowed */
};

static void edit_meta(json_t *s, void *ud)
{
    const struct meta_edit *e = ud;
    json_t *mf = json_object_get(json_object_get(s, "meta"), e->entry);

    if (strcmp(e->field, "length") == 0)
        json_object_set(mf, "length", e->value);
    else
        json_object_set(json_object_get(mf, "hashes"), e->field, e->value);
}

static void check_timestamp_edit(const char *field, json_t *value, enum sdv_err want,
                                 const char *needle)
{
    struct fx_repo *r = fx_trusted_repo(true, 1);
    struct meta_edit e = {"snapshot.json", field, value};

    BUMP(r, "timestamp", "snapshot");
    r->timestamp.mutate = edit_meta;
    r->timestamp.mutate_ud = &e;
    fx_publish(r);
    FX_REFRESH_FAILS(r, want, needle, "timestamp");
    json_decref(value);
    fx_repo_free(r);
}

static void test_snapshot_hash_mismatch(void **state)
{
    char hex[65];

    (void)state;
    fx_sha256_hex("something else", 14, hex);
    check_timestamp_edit("sha256", json_string(hex), SDV_EHASH, "snapshot");
}

static void test_snapshot_length_mismatch(void **state)
{
    (void)state;
    /* Longer than served: the body is short. */
    check_timestamp_edit("length", json_integer(100000), SDV_EHASH, "length");
}

static void test_snapshot_unknown_hash_algorithm(void **state)
{
    (void)state;
    check_timestamp_edit("md5", json_string("00112233445566778899aabbccddeeff"), SDV_EUNSUPPORTED,
                         "unknown hash algorithm \"md5\"");
}

static void test_snapshot_longer_than_listed(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);
    const struct fx_file *f;
    char *padded;
    size_t len;

    (void)state;
    BUMP(r, "timestamp", "snapshot");
    fx_publish(r);
    /* The server appends whitespace: still valid JSON, but more than the timestamp listed. */
    f = fx_served(r, "snapshot.json");
    len = f->len;
    padded = malloc(len + 64);
    assert_non_null(padded);
    memcpy(padded, f->data, len);
    memset(padded + len, ' ', 64);
    fx_serve(r, "snapshot.json", padded, len + 64);
    FX_REFRESH_FAILS(r, SDV_ETOOBIG, "snapshot", "timestamp");
    assert_int_equal(fx_request_max_len(r, "snapshot.json"), len);
    /* A transport that ignores the limit: the client's own buffer stops it. */
    r->ignore_max_len = true;
    r->chunk_len = 10;
    FX_REFRESH_FAILS(r, SDV_ETOOBIG, "snapshot", "timestamp");
    free(padded);
    fx_repo_free(r);
}

static void test_targets_hash_mismatch(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);
    struct meta_edit e = {"targets.json", "sha256", NULL};
    char hex[65];

    (void)state;
    r->snapshot_hashes = true;
    BUMP(r, "timestamp", "snapshot", "targets");
    fx_sha256_hex("x", 1, hex);
    e.value = json_string(hex);
    r->snapshot.mutate = edit_meta;
    r->snapshot.mutate_ud = &e;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EHASH, "targets: sha256 hash mismatch", "timestamp", "snapshot");
    json_decref(e.value);

    /* An unknown algorithm for targets.json is refused too. */
    BUMP(r, "timestamp", "snapshot");
    e.field = "sha3-1024";
    e.value = json_string("abcd");
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EUNSUPPORTED, "sha3-1024", "timestamp", "snapshot");
    json_decref(e.value);
    fx_repo_free(r);
}

/* ---- Download limits -------------------------------------------------------------------- */

static void pad(json_t *s, void *ud)
{
    size_t n = *(const size_t *)ud;
    char *text = malloc(n + 1);

    assert_non_null(text);
    memset(text, 'p', n);
    text[n] = '\0';
    json_object_set_new(s, "x-padding", json_string(text));
    free(text);
}

static void test_timestamp_too_big(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);
    size_t n = SDV_TUF_TIMESTAMP_MAX_LEN;

    (void)state;
    BUMP(r, "timestamp");
    r->timestamp.mutate = pad;
    r->timestamp.mutate_ud = &n;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ETOOBIG, "timestamp", NULL);
    assert_int_equal(fx_request_max_len(r, "timestamp.json"), SDV_TUF_TIMESTAMP_MAX_LEN);

    /* A configured limit below the real size. */
    r->timestamp.mutate = NULL;
    fx_publish(r);
    r->cfg.timestamp_max_len = fx_served(r, "timestamp.json")->len - 1;
    FX_REFRESH_FAILS(r, SDV_ETOOBIG, "timestamp.json is larger than the limit", NULL);
    assert_int_equal(fx_request_max_len(r, "timestamp.json"), r->cfg.timestamp_max_len);
    r->ignore_max_len = true;
    FX_REFRESH_FAILS(r, SDV_ETOOBIG, "timestamp", NULL);
    fx_repo_free(r);
}

static void test_root_too_big(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);
    size_t n = 1000;

    (void)state;
    r->root.version = 2;
    r->root.mutate = pad;
    r->root.mutate_ud = &n;
    fx_publish(r);
    /* The trusted root still fits, the new one does not. */
    r->cfg.root_max_len = fx_served(r, "2.root.json")->len - 1;
    FX_REFRESH_FAILS(r, SDV_ETOOBIG, "root", NULL);
    assert_int_equal(fx_request_max_len(r, "2.root.json"), r->cfg.root_max_len);
    fx_repo_free(r);
}

static void test_targets_too_big(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    BUMP(r, "timestamp", "snapshot", "targets");
    fx_publish(r);
    r->cfg.targets_max_len = fx_served(r, "targets.json")->len - 1;
    FX_REFRESH_FAILS(r, SDV_ETOOBIG, "targets", "timestamp", "snapshot");
    fx_repo_free(r);
}

/* ---- Malformed metadata ----------------------------------------------------------------- */

struct field_edit {
    const char *field;
    json_t *value; /* NULL: remove the field */
};

static void edit_field(json_t *s, void *ud)
{
    const struct field_edit *e = ud;

    if (e->value == NULL)
        json_object_del(s, e->field);
    else
        json_object_set(s, e->field, e->value);
}

/* A signed timestamp whose "signed" has field replaced (or removed). */
static void check_bad_timestamp(const char *field, json_t *value, enum sdv_err want,
                                const char *needle)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);
    struct field_edit e = {field, value};

    BUMP(r, "timestamp");
    r->timestamp.mutate = edit_field;
    r->timestamp.mutate_ud = &e;
    fx_publish(r);
    FX_REFRESH_FAILS(r, want, "timestamp", NULL);
    FX_REFRESH_FAILS(r, want, needle, NULL);
    json_decref(value);
    fx_repo_free(r);
}

static void test_timestamp_not_json(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);
    static const char *const bodies[] = {"{\"signed\": {",
                                         "",
                                         "[]",
                                         "{\"signed\": 1}",
                                         "{\"signed\": {}, \"signatures\": {}}",
                                         NULL};

    (void)state;
    for (size_t i = 0; bodies[i] != NULL; i++) {
        fx_serve(r, "timestamp.json", bodies[i], strlen(bodies[i]));
        FX_REFRESH_FAILS(r, SDV_EPARSE, "timestamp", NULL);
    }
    fx_repo_free(r);
}

static void test_timestamp_wrong_type(void **state)
{
    (void)state;
    check_bad_timestamp("_type", json_string("snapshot"), SDV_EPARSE, "_type");
    check_bad_timestamp("_type", json_integer(1), SDV_EPARSE, "_type");
}

static void test_timestamp_missing_field(void **state)
{
    (void)state;
    check_bad_timestamp("expires", NULL, SDV_EPARSE, "missing");
    check_bad_timestamp("version", NULL, SDV_EPARSE, "version");
    check_bad_timestamp("meta", NULL, SDV_EPARSE, "meta");
    check_bad_timestamp("spec_version", NULL, SDV_EPARSE, "spec_version");
}

static void test_timestamp_version_zero(void **state)
{
    (void)state;
    check_bad_timestamp("version", json_integer(0), SDV_EPARSE, "version");
    check_bad_timestamp("version", json_integer(-3), SDV_EPARSE, "version");
    check_bad_timestamp("version", json_string("2"), SDV_EPARSE, "version");
}

static void test_timestamp_expires_garbage(void **state)
{
    (void)state;
    check_bad_timestamp("expires", json_string("next tuesday"), SDV_EPARSE, "expires");
    check_bad_timestamp("expires", json_integer(1900000000), SDV_EPARSE, "expires");
}

static void test_timestamp_spec_version_2(void **state)
{
    (void)state;
    check_bad_timestamp("spec_version", json_string("2.0.0"), SDV_EUNSUPPORTED, "spec_version");
    check_bad_timestamp("spec_version", json_string("10.0"), SDV_EUNSUPPORTED, "spec_version");
}

static void test_other_roles_malformed(void **state)
{
    struct fx_repo *r = fx_trusted_repo(true, 1);
    struct field_edit wrong_type = {"_type", NULL}, zero = {"version", NULL};
    struct field_edit spec2 = {"spec_version", NULL};

    (void)state;
    wrong_type.value = json_string("timestamp");
    zero.value = json_integer(0);
    spec2.value = json_string("2.0.0");

    BUMP(r, "timestamp", "snapshot");
    r->snapshot.mutate = edit_field;
    r->snapshot.mutate_ud = &wrong_type;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EPARSE, "snapshot: _type is \"timestamp\"", "timestamp");
    r->snapshot.mutate = NULL;

    BUMP(r, "timestamp", "snapshot", "targets");
    r->targets.mutate = edit_field;
    r->targets.mutate_ud = &spec2;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EUNSUPPORTED, "targets", "timestamp", "snapshot");
    r->targets.mutate = NULL;

    BUMP(r, "timestamp", "snapshot", "deleg");
    fx_role(r, "deleg")->mutate = edit_field;
    fx_role(r, "deleg")->mutate_ud = &wrong_type;
    fx_publish(r);
    find_fails(r, SDV_EPARSE, "deleg");
    fx_role(r, "deleg")->mutate = NULL;

    r->root.version = 2;
    r->root.mutate = edit_field;
    r->root.mutate_ud = &zero;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EPARSE, "root", NULL);

    json_decref(wrong_type.value);
    json_decref(zero.value);
    json_decref(spec2.value);
    fx_repo_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_expired_trusted_root),
            cmocka_unit_test(test_expired_new_root),
            cmocka_unit_test(test_expired_timestamp),
            cmocka_unit_test(test_expired_snapshot),
            cmocka_unit_test(test_expired_targets),
            cmocka_unit_test(test_expired_delegated),
            cmocka_unit_test(test_expired_reused_snapshot),
            cmocka_unit_test(test_rollback_timestamp_version),
            cmocka_unit_test(test_rollback_timestamp_snapshot_version),
            cmocka_unit_test(test_rollback_snapshot_targets_version),
            cmocka_unit_test(test_rollback_snapshot_delegated_version),
            cmocka_unit_test(test_rollback_snapshot_drops_role),
            cmocka_unit_test(test_snapshot_version_differs_from_timestamp),
            cmocka_unit_test(test_targets_version_differs_from_snapshot),
            cmocka_unit_test(test_delegated_version_differs_from_snapshot),
            cmocka_unit_test(test_snapshot_hash_mismatch),
            cmocka_unit_test(test_snapshot_length_mismatch),
            cmocka_unit_test(test_snapshot_unknown_hash_algorithm),
            cmocka_unit_test(test_snapshot_longer_than_listed),
            cmocka_unit_test(test_targets_hash_mismatch),
            cmocka_unit_test(test_timestamp_too_big),
            cmocka_unit_test(test_root_too_big),
            cmocka_unit_test(test_targets_too_big),
            cmocka_unit_test(test_timestamp_not_json),
            cmocka_unit_test(test_timestamp_wrong_type),
            cmocka_unit_test(test_timestamp_missing_field),
            cmocka_unit_test(test_timestamp_version_zero),
            cmocka_unit_test(test_timestamp_expires_garbage),
            cmocka_unit_test(test_timestamp_spec_version_2),
            cmocka_unit_test(test_other_roles_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
