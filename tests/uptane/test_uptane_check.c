/*
 * test_uptane_check.c - the vehicle-side Uptane checks: each rule passes on consistent input and
 * fails with its own error, rule and an ECU-naming message when broken (length, each hash,
 * hardware id against the ECU and against the image repository, unknown ECU, release counter
 * mismatch, rollback, duplicate ECU, delegations present, missing image, malformed fields).
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

#include <sdv/tuf.h>
#include <sdv/uptane.h>

#include "uptane_test_util.h"

/* The image repository: a table of targets, looked up by path. */
struct image_repo {
    struct sdv_tuf_target t[4];
    json_t *custom[4];
    size_t count;
    unsigned lookups;
};

struct fixture {
    struct sdv_uptane_ecu ecus[UT_ECUS];
    struct sdv_uptane_image main_img, zone_img;
    json_t *doc; /* director targets metadata */
    struct image_repo repo;
};

static json_t *hashes_json(const struct sdv_uptane_image *img)
{
    json_t *h = json_object();

    for (size_t i = 0; i < img->hash_count; i++) {
        char hex[2 * SDV_HASH_LEN_MAX + 1];

        sdv_hex_encode(img->hashes[i].digest, sdv_hash_len(img->hashes[i].alg), hex);
        json_object_set_new(h, sdv_hash_alg_name(img->hashes[i].alg), json_string(hex));
    }
    return h;
}

static json_t *targets_obj(struct fixture *f)
{
    return json_object_get(json_object_get(f->doc, "signed"), "targets");
}

/* A director target entry for img assigned to serial (hwid). */
static void director_add(struct fixture *f, const struct sdv_uptane_image *img, const char *serial,
                         const char *hwid)
{
    json_t *entry = json_object_get(targets_obj(f), img->filepath);

    if (entry == NULL) {
        entry = json_pack("{s:I, s:o, s:{s:{}, s:I}}", "length", (json_int_t)img->length, "hashes",
                          hashes_json(img), "custom", "ecu_identifiers", "release_counter",
                          (json_int_t)img->release_counter);
        assert_non_null(entry);
        json_object_set_new(targets_obj(f), img->filepath, entry);
    }
    json_object_set_new(json_object_get(json_object_get(entry, "custom"), "ecu_identifiers"),
                        serial, json_pack("{s:s}", "hardware_id", hwid));
}

static void repo_add(struct image_repo *r, const struct sdv_uptane_image *img, json_t *custom)
{
    struct sdv_tuf_target *t = &r->t[r->count];

    memset(t, 0, sizeof(*t));
    t->path = img->filepath;
    t->length = img->length;
    t->hash_count = img->hash_count;
    memcpy(t->hashes, img->hashes, sizeof(t->hashes));
    t->custom = custom;
    t->role = "targets";
    r->custom[r->count++] = custom;
}

static enum sdv_err repo_lookup(void *ud, const char *path, struct sdv_tuf_target *out)
{
    struct image_repo *r = ud;

    r->lookups++;
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->t[i].path, path) == 0) {
            *out = r->t[i];
            return SDV_OK;
        }
    return SDV_ENOTARGET;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->ecus[0] = (struct sdv_uptane_ecu){"ecu-a", "hw-main", NULL, 2};
    f->ecus[1] = (struct sdv_uptane_ecu){"ecu-b", "hw-zone", NULL, 0};
    f->ecus[2] = (struct sdv_uptane_ecu){"ecu-c", "hw-zone", NULL, 1};
    f->main_img = ut_image("main-2.0.bin", "main 2.0", 3);
    f->zone_img = ut_image("zone-2.0.bin", "zone 2.0", 1);
    f->doc = json_pack("{s:{s:s, s:s, s:i, s:s, s:{}}, s:[]}", "signed", "_type", "targets",
                       "spec_version", "1.0.31", "version", 1, "expires", "2030-01-01T00:00:00Z",
                       "targets", "signatures");
    assert_non_null(f->doc);
    director_add(f, &f->main_img, "ecu-a", "hw-main");
    director_add(f, &f->zone_img, "ecu-b", "hw-zone");
    director_add(f, &f->zone_img, "ecu-c", "hw-zone");
    repo_add(&f->repo, &f->main_img,
             json_pack("{s:[s], s:i}", "hardware_ids", "hw-main", "release_counter", 3));
    repo_add(&f->repo, &f->zone_img,
             json_pack("{s:[s, s], s:i}", "hardware_ids", "hw-other", "hw-zone", "release_counter",
                       1));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* Every slot: tests may shrink count to hide entries. */
    for (size_t i = 0; i < sizeof(f->repo.custom) / sizeof(f->repo.custom[0]); i++)
        json_decref(f->repo.custom[i]);
    json_decref(f->doc);
    free(f);
    return 0;
}

/* Runs the full checks on the fixture's director targets. */
static enum sdv_err run(struct fixture *f, struct sdv_uptane_targets *out, struct sdv_uptane_err *e)
{
    char *text = json_dumps(f->doc, JSON_COMPACT);
    enum sdv_err err;

    assert_non_null(text);
    err = sdv_uptane_check_director_targets(text, strlen(text), f->ecus, UT_ECUS, repo_lookup,
                                            &f->repo, out, e);
    free(text);
    return err;
}

#define EXPECT(f, want, rule, ...) expect_((f), (want), (rule), (const char *[]){__VA_ARGS__, NULL})

static void expect_(struct fixture *f, enum sdv_err want, enum sdv_uptane_rule rule,
                    const char *const *needles)
{
    struct sdv_uptane_targets t;
    struct sdv_uptane_err e;
    enum sdv_err err = run(f, &t, &e);

    if (err != want || e.rule != rule)
        fail_msg("got %s / %s (%s), expected %s / %s", sdv_errname(err),
                 sdv_uptane_rule_name(e.rule), e.msg, sdv_errname(want),
                 sdv_uptane_rule_name(rule));
    for (size_t i = 0; needles[i] != NULL; i++)
        if (strstr(e.msg, needles[i]) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", e.msg, needles[i]);
    if (want != SDV_OK) {
        assert_null(t.items);
        assert_int_equal(t.count, 0);
    } else {
        sdv_uptane_targets_free(&t);
    }
}

static json_t *entry_of(struct fixture *f, const char *path)
{
    json_t *e = json_object_get(targets_obj(f), path);

    assert_non_null(e);
    return e;
}

static json_t *custom_of(struct fixture *f, const char *path)
{
    return json_object_get(entry_of(f, path), "custom");
}

/* ---- Passing -------------------------------------------------------------------------------- */

static void test_consistent_input_passes(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_targets t;
    struct sdv_uptane_err e;

    assert_int_equal(run(f, &t, &e), SDV_OK);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_NONE);
    assert_string_equal(e.msg, "");
    assert_int_equal(t.count, 3);
    assert_string_equal(t.items[0].ecu_serial, "ecu-a");
    assert_string_equal(t.items[0].filepath, "main-2.0.bin");
    assert_int_equal(t.items[0].length, strlen("main 2.0"));
    assert_int_equal(t.items[0].release_counter, 3);
    assert_string_equal(t.items[1].ecu_serial, "ecu-b");
    assert_string_equal(t.items[2].ecu_serial, "ecu-c");
    assert_string_equal(t.items[2].hardware_id, "hw-zone");
    assert_memory_equal(t.items[2].hashes[0].digest, f->zone_img.hashes[0].digest, 32);
    assert_int_equal(f->repo.lookups, 3);
    sdv_uptane_targets_free(&t);
    sdv_uptane_targets_free(&t);
}

static void test_empty_director_targets_pass(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_targets t;
    struct sdv_uptane_err e;

    json_object_clear(targets_obj(f));
    assert_int_equal(run(f, &t, &e), SDV_OK);
    assert_int_equal(t.count, 0);
    sdv_uptane_targets_free(&t);
}

static void test_optional_image_fields(void **state)
{
    struct fixture *f = *state;

    /* No hardware_ids in the image repository: nothing to compare. */
    json_object_del(f->repo.custom[0], "hardware_ids");
    EXPECT(f, SDV_OK, SDV_UPTANE_RULE_NONE, "");
    /* No release_counter counts as 0: the director must then say 0. */
    json_object_del(f->repo.custom[0], "release_counter");
    EXPECT(f, SDV_EINVAL, SDV_UPTANE_RULE_RELEASE_COUNTER, "ECU ecu-a", "director says 3");
    json_object_set_new(custom_of(f, "main-2.0.bin"), "release_counter", json_integer(0));
    f->ecus[0].installed_release_counter = 0;
    EXPECT(f, SDV_OK, SDV_UPTANE_RULE_NONE, "");
}

/* The agent's binding: the lookup is sdv_tuf_client_find_target on a verified repository. */
static enum sdv_err client_lookup(void *ud, const char *path, struct sdv_tuf_target *out)
{
    return sdv_tuf_client_find_target(ud, path, out);
}

static void test_lookup_through_tuf_client(void **state)
{
    struct fixture *f = *state;
    struct ut_vehicle *uv = ut_vehicle_new(0);
    struct ut_director *d = ut_director_new();
    struct ut_server *srv = ut_server_new();
    struct sdv_uptane_assignment as[2] = {{"ecu-a", f->main_img}, {"ecu-b", f->zone_img}};
    struct sdv_uptane_director_out o;
    struct sdv_uptane_targets t;
    struct sdv_uptane_err e;
    struct sdv_tuf_client *c;

    /* The director's own repository stands in for the image repository here: the same lengths,
     * hashes and release counters, no hardware_ids. */
    assert_int_equal(sdv_uptane_director_build(&d->keys, &uv->v, as, 2, NULL, NULL, UT_NOW, &o, &e),
                     SDV_OK);
    ut_serve_director(srv, &o, 0);
    ut_trust_root(srv, o.root.data, o.root.len);
    assert_int_equal(ut_refresh(srv, UT_NOW, &c), SDV_OK);
    assert_int_equal(sdv_uptane_check_director_targets(o.targets.data, o.targets.len, f->ecus,
                                                       UT_ECUS, client_lookup, c, &t, &e),
                     SDV_OK);
    assert_int_equal(t.count, 2);
    sdv_uptane_targets_free(&t);
    sdv_tuf_client_destroy(c);
    sdv_uptane_director_out_free(&o);
    ut_server_free(srv);
    ut_director_free(d);
    ut_vehicle_free(uv);
}

/* ---- Director against image repository -------------------------------------------------- */

static void test_length_mismatch(void **state)
{
    struct fixture *f = *state;

    f->repo.t[1].length++;
    EXPECT(f, SDV_EHASH, SDV_UPTANE_RULE_LENGTH, "ECU ecu-b", "zone-2.0.bin", "8 bytes",
           "9 for the image");
}

static void test_sha256_mismatch(void **state)
{
    struct fixture *f = *state;

    f->repo.t[0].hashes[0].digest[5] ^= 1;
    EXPECT(f, SDV_EHASH, SDV_UPTANE_RULE_HASH, "ECU ecu-a", "sha256 hashes differ");
}

static void test_sha512_mismatch(void **state)
{
    struct fixture *f = *state;

    f->repo.t[0].hashes[1].digest[63] ^= 0x80;
    EXPECT(f, SDV_EHASH, SDV_UPTANE_RULE_HASH, "ECU ecu-a", "sha512 hashes differ");
}

static void test_hash_sets_differ(void **state)
{
    struct fixture *f = *state;

    /* The image repository lists only sha256: the director's sha512 is unvouched for. */
    f->repo.t[0].hash_count = 1;
    EXPECT(f, SDV_EHASH, SDV_UPTANE_RULE_HASH, "ECU ecu-a", "image repository lists no sha512");
    f->repo.t[0].hash_count = 2;
    /* The director lists only sha256. */
    json_object_del(json_object_get(entry_of(f, "main-2.0.bin"), "hashes"), "sha512");
    EXPECT(f, SDV_EHASH, SDV_UPTANE_RULE_HASH, "ECU ecu-a", "director lists no sha512");
}

static void test_hardware_id_not_in_image_repo(void **state)
{
    struct fixture *f = *state;

    json_array_remove(json_object_get(f->repo.custom[1], "hardware_ids"), 1);
    EXPECT(f, SDV_EINVAL, SDV_UPTANE_RULE_HARDWARE_ID, "ECU ecu-b", "hw-zone");
    json_object_set_new(f->repo.custom[1], "hardware_ids", json_string("hw-zone"));
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ECU ecu-b", "not an array");
    json_object_set_new(f->repo.custom[1], "hardware_ids", json_pack("[s, i]", "hw-zone", 7));
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ECU ecu-b", "not a string");
}

static void test_release_counter_mismatch(void **state)
{
    struct fixture *f = *state;

    json_object_set_new(f->repo.custom[0], "release_counter", json_integer(4));
    EXPECT(f, SDV_EINVAL, SDV_UPTANE_RULE_RELEASE_COUNTER, "ECU ecu-a", "director says 3",
           "image repository 4");
    json_object_set_new(f->repo.custom[0], "release_counter", json_string("3"));
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ECU ecu-a", "release_counter");
}

static void test_image_missing(void **state)
{
    struct fixture *f = *state;

    f->repo.count = 1;
    EXPECT(f, SDV_ENOTARGET, SDV_UPTANE_RULE_NO_IMAGE, "ECU ecu-b", "zone-2.0.bin");
}

/* ---- Director against the vehicle ----------------------------------------------------------- */

static void test_hardware_id_mismatch(void **state)
{
    struct fixture *f = *state;

    json_object_set_new(json_object_get(custom_of(f, "zone-2.0.bin"), "ecu_identifiers"), "ecu-c",
                        json_pack("{s:s}", "hardware_id", "hw-main"));
    EXPECT(f, SDV_EINVAL, SDV_UPTANE_RULE_HARDWARE_ID, "ECU ecu-c", "hw-main", "hw-zone");
    assert_int_equal(f->repo.lookups, 0); /* refused before asking the image repository */
}

static void test_unknown_ecu(void **state)
{
    struct fixture *f = *state;

    director_add(f, &f->zone_img, "ecu-z", "hw-zone");
    EXPECT(f, SDV_EINVAL, SDV_UPTANE_RULE_UNKNOWN_ECU, "ECU ecu-z", "zone-2.0.bin");
}

static void test_rollback(void **state)
{
    struct fixture *f = *state;

    f->ecus[0].installed_release_counter = 3; /* equal is fine: a reinstall */
    EXPECT(f, SDV_OK, SDV_UPTANE_RULE_NONE, "");
    f->ecus[0].installed_release_counter = 4;
    EXPECT(f, SDV_EROLLBACK, SDV_UPTANE_RULE_ROLLBACK, "ECU ecu-a", "release counter 3",
           "installed image 4");
}

static void test_duplicate_ecu(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_image other = ut_image("zone-1.9.bin", "zone 1.9", 1);

    director_add(f, &other, "ecu-b", "hw-zone");
    repo_add(&f->repo, &other, json_pack("{s:i}", "release_counter", 1));
    EXPECT(f, SDV_EINVAL, SDV_UPTANE_RULE_DUPLICATE_ECU, "ECU ecu-b", "zone-1.9.bin",
           "zone-2.0.bin");
}

static void test_delegations_present(void **state)
{
    struct fixture *f = *state;
    json_t *s = json_object_get(f->doc, "signed");

    json_object_set_new(s, "delegations",
                        json_pack("{s:{}, s:[{s:s, s:[], s:i, s:b, s:[s]}]}", "keys", "roles",
                                  "name", "evil", "keyids", "threshold", 1, "terminating", 0,
                                  "paths", "*"));
    EXPECT(f, SDV_EINVAL, SDV_UPTANE_RULE_DELEGATIONS, "delegations");
    /* Even an empty one. */
    json_object_set_new(s, "delegations", json_pack("{s:{}, s:[]}", "keys", "roles"));
    EXPECT(f, SDV_EINVAL, SDV_UPTANE_RULE_DELEGATIONS, "delegations");
}

/* ---- Malformed director targets ------------------------------------------------------------- */

static void test_malformed_director_targets(void **state)
{
    struct fixture *f = *state;
    json_t *custom = custom_of(f, "main-2.0.bin");
    struct sdv_uptane_targets t;
    struct sdv_uptane_err e;
    char *big;

    json_object_set_new(custom, "release_counter", json_integer(-1));
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "release_counter");
    json_object_set_new(custom, "release_counter", json_real(3.0));
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "release_counter");
    json_object_set_new(custom, "release_counter", json_integer(3));
    json_object_set_new(custom, "ecu_identifiers", json_object());
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "empty");
    json_object_set_new(custom, "ecu_identifiers", json_pack("{s:s}", "ecu-a", "hw-main"));
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ECU ecu-a", "not an object");
    json_object_set_new(custom, "ecu_identifiers",
                        json_pack("{s:{s:i}}", "ecu-a", "hardware_id", 1));
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ECU ecu-a", "hardware_id");
    json_object_del(entry_of(f, "main-2.0.bin"), "custom");
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "main-2.0.bin", "custom");
    json_object_set_new(entry_of(f, "main-2.0.bin"), "custom", json_object());
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "main-2.0.bin");
    json_object_set_new(entry_of(f, "main-2.0.bin"), "hashes", json_pack("{s:s}", "md5", "00"));
    EXPECT(f, SDV_EUNSUPPORTED, SDV_UPTANE_RULE_MALFORMED, "md5");
    json_object_set_new(entry_of(f, "main-2.0.bin"), "hashes", json_pack("{s:s}", "sha256", "00"));
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "32 hex bytes");
    json_object_set_new(entry_of(f, "main-2.0.bin"), "length", json_string("8"));
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "length");
    json_object_set_new(json_object_get(f->doc, "signed"), "_type", json_string("snapshot"));
    EXPECT(f, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "_type");

    /* Bytes that are not a JSON object, trailing garbage, oversized input. */
    assert_int_equal(sdv_uptane_director_targets_parse("[1]", 3, f->ecus, UT_ECUS, &t, &e),
                     SDV_EPARSE);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_MALFORMED);
    assert_int_equal(sdv_uptane_director_targets_parse("{} x", 4, f->ecus, UT_ECUS, &t, &e),
                     SDV_EPARSE);
    big = calloc(1, SDV_TUF_TARGETS_MAX_LEN + 2);
    assert_non_null(big);
    memset(big, ' ', SDV_TUF_TARGETS_MAX_LEN + 1);
    assert_int_equal(sdv_uptane_director_targets_parse(big, SDV_TUF_TARGETS_MAX_LEN + 1, f->ecus,
                                                       UT_ECUS, &t, &e),
                     SDV_ETOOBIG);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_TOO_BIG);
    free(big);
    assert_int_equal(
            sdv_uptane_check_director_targets("{}", 2, f->ecus, UT_ECUS, NULL, NULL, &t, &e),
            SDV_EINVAL);
}

static void test_too_many_targets(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i <= SDV_UPTANE_ECUS_MAX; i++) {
        char path[32];

        snprintf(path, sizeof(path), "img-%d.bin", i);
        json_object_set(targets_obj(f), path, entry_of(f, "main-2.0.bin"));
    }
    EXPECT(f, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, "more than");
}

static void test_rule_names(void **state)
{
    (void)state;
    assert_string_equal(sdv_uptane_rule_name(SDV_UPTANE_RULE_ROLLBACK), "SDV_UPTANE_RULE_ROLLBACK");
    assert_int_equal(SDV_UPTANE_RULE_ROLLBACK, 12);
    assert_string_equal(sdv_uptane_rule_str(SDV_UPTANE_RULE_DELEGATIONS),
                        "director targets must not delegate");
    assert_string_equal(sdv_uptane_rule_name((enum sdv_uptane_rule)999), "SDV_UPTANE_RULE_UNKNOWN");
    assert_string_equal(sdv_uptane_rule_str((enum sdv_uptane_rule)999), "unknown rule");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
            T(test_consistent_input_passes),
            T(test_empty_director_targets_pass),
            T(test_optional_image_fields),
            T(test_lookup_through_tuf_client),
            T(test_length_mismatch),
            T(test_sha256_mismatch),
            T(test_sha512_mismatch),
            T(test_hash_sets_differ),
            T(test_hardware_id_not_in_image_repo),
            T(test_release_counter_mismatch),
            T(test_image_missing),
            T(test_hardware_id_mismatch),
            T(test_unknown_ecu),
            T(test_rollback),
            T(test_duplicate_ecu),
            T(test_delegations_present),
            T(test_malformed_director_targets),
            T(test_too_many_targets),
            T(test_rule_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
