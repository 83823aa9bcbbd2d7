/*
 * test_uptane_director.c - director metadata for one vehicle: the output is valid TUF (the real
 * client verifies it, with and without consistent snapshots, across rebuilds and key changes),
 * one target entry per image with the Uptane custom fields and never delegations, versions that
 * only go up, and only what changed is re-signed.
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

struct fixture {
    struct ut_vehicle *uv;
    struct ut_director *d;
    struct ut_server *srv;
    struct sdv_uptane_assignment as[UT_ECUS];
    size_t as_count;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->uv = ut_vehicle_new(0);
    f->d = ut_director_new();
    f->srv = ut_server_new();
    /* ecu-b and ecu-c share hardware and run the same zone image. */
    f->as[0] = (struct sdv_uptane_assignment){"ecu-a", ut_image("main-1.0.bin", "main 1.0", 3)};
    f->as[1] = (struct sdv_uptane_assignment){"ecu-b", ut_image("zone-1.0.bin", "zone 1.0", 1)};
    f->as[2] = (struct sdv_uptane_assignment){"ecu-c", ut_image("zone-1.0.bin", "zone 1.0", 1)};
    f->as_count = 3;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    ut_server_free(f->srv);
    ut_director_free(f->d);
    ut_vehicle_free(f->uv);
    free(f);
    return 0;
}

static enum sdv_err build(struct fixture *f, const struct sdv_uptane_director_out *prev_out,
                          const struct sdv_uptane_director_config *cfg, int64_t now,
                          struct sdv_uptane_director_out *out, struct sdv_uptane_err *e)
{
    struct sdv_uptane_director_prev prev;

    if (prev_out != NULL)
        prev = ut_prev_of(prev_out);
    return sdv_uptane_director_build(&f->d->keys, &f->uv->v, f->as, f->as_count,
                                     prev_out != NULL ? &prev : NULL, cfg, now, out, e);
}

static void build_ok(struct fixture *f, const struct sdv_uptane_director_out *prev_out,
                     const struct sdv_uptane_director_config *cfg, int64_t now,
                     struct sdv_uptane_director_out *out)
{
    struct sdv_uptane_err e;
    enum sdv_err err = build(f, prev_out, cfg, now, out, &e);

    if (err != SDV_OK)
        fail_msg("director build: %s (%s)", sdv_strerror(err), e.msg);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_NONE);
}

static void refresh_ok(struct fixture *f, int64_t now, struct sdv_tuf_client **c)
{
    enum sdv_err err = ut_refresh(f->srv, now, c);

    if (err != SDV_OK)
        fail_msg("refresh: %s: %s", sdv_strerror(err), sdv_tuf_client_errmsg(*c));
}

static json_t *signed_of(const struct sdv_uptane_role_out *r)
{
    json_t *doc = json_loadb((const char *)r->data, r->len, 0, NULL);

    assert_non_null(doc);
    return doc;
}

static void assert_versions(const struct sdv_uptane_director_out *o, int64_t root, int64_t targets,
                            int64_t snapshot, int64_t timestamp)
{
    assert_int_equal(o->root.version, root);
    assert_int_equal(o->targets.version, targets);
    assert_int_equal(o->snapshot.version, snapshot);
    assert_int_equal(o->timestamp.version, timestamp);
}

static void assert_changed(const struct sdv_uptane_director_out *o, int root, int targets,
                           int snapshot, int timestamp)
{
    assert_int_equal(o->root.changed, root);
    assert_int_equal(o->targets.changed, targets);
    assert_int_equal(o->snapshot.changed, snapshot);
    assert_int_equal(o->timestamp.changed, timestamp);
}

/* ---- Valid TUF ---------------------------------------------------------------------------- */

static void test_first_build_verifies(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out o;
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;
    json_t *doc, *entry, *ids;

    build_ok(f, NULL, NULL, UT_NOW, &o);
    assert_versions(&o, 1, 1, 1, 1);
    assert_changed(&o, 1, 1, 1, 1);
    assert_int_equal(o.timestamp.expires, UT_NOW + SDV_UPTANE_DIRECTOR_TIMESTAMP_EXPIRY_S);
    assert_int_equal(o.root.expires, UT_NOW + SDV_UPTANE_DIRECTOR_ROOT_EXPIRY_S);

    ut_serve_director(f->srv, &o, 0);
    ut_trust_root(f->srv, o.root.data, o.root.len);
    refresh_ok(f, UT_NOW, &c);
    assert_int_equal(sdv_tuf_client_role_version(c, "targets"), 1);
    assert_int_equal(sdv_tuf_client_consistent_snapshot(c), 0);

    /* The client finds each assigned image with the director's description. */
    assert_int_equal(sdv_tuf_client_find_target(c, "main-1.0.bin", &t), SDV_OK);
    assert_int_equal(t.length, strlen("main 1.0"));
    assert_int_equal(t.hash_count, 2);
    assert_memory_equal(t.hashes[0].digest, f->as[0].image.hashes[0].digest, 32);
    assert_int_equal(json_integer_value(json_object_get(t.custom, "release_counter")), 3);
    assert_string_equal(
            json_string_value(json_object_get(
                    json_object_get(json_object_get(t.custom, "ecu_identifiers"), "ecu-a"),
                    "hardware_id")),
            "hw-main");
    assert_int_equal(sdv_tuf_client_find_target(c, "zone-1.0.bin", &t), SDV_OK);
    sdv_tuf_client_destroy(c);

    /* One entry per image: the two zone ECUs share one, keyed by serial. */
    doc = signed_of(&o.targets);
    entry = json_object_get(json_object_get(json_object_get(doc, "signed"), "targets"),
                            "zone-1.0.bin");
    ids = json_object_get(json_object_get(entry, "custom"), "ecu_identifiers");
    assert_int_equal(json_object_size(json_object_get(json_object_get(doc, "signed"), "targets")),
                     2);
    assert_int_equal(json_object_size(ids), 2);
    assert_non_null(json_object_get(ids, "ecu-b"));
    assert_non_null(json_object_get(ids, "ecu-c"));
    assert_null(json_object_get(json_object_get(doc, "signed"), "delegations"));
    json_decref(doc);
    sdv_uptane_director_out_free(&o);
    sdv_uptane_director_out_free(&o); /* harmless twice */
}

static void test_consistent_snapshot_verifies(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_config cfg = {0};
    struct sdv_uptane_director_out o1, o2;
    struct sdv_tuf_client *c;
    json_t *doc;

    cfg.consistent_snapshot = 1;
    cfg.targets_lifetime_s = 7 * UT_DAY;
    build_ok(f, NULL, &cfg, UT_NOW, &o1);
    doc = signed_of(&o1.root);
    assert_true(
            json_is_true(json_object_get(json_object_get(doc, "signed"), "consistent_snapshot")));
    json_decref(doc);
    assert_int_equal(o1.targets.expires, UT_NOW + 7 * UT_DAY);
    ut_serve_director(f->srv, &o1, 1);
    ut_trust_root(f->srv, o1.root.data, o1.root.len);
    refresh_ok(f, UT_NOW, &c);
    assert_int_equal(sdv_tuf_client_consistent_snapshot(c), 1);
    sdv_tuf_client_destroy(c);

    /* A new assignment: the client follows to V2 names. */
    f->as[0].image = ut_image("main-1.1.bin", "main 1.1", 4);
    build_ok(f, &o1, &cfg, UT_NOW + 60, &o2);
    assert_versions(&o2, 1, 2, 2, 2);
    ut_serve_director(f->srv, &o2, 1);
    refresh_ok(f, UT_NOW + 60, &c);
    assert_int_equal(sdv_tuf_client_role_version(c, "snapshot"), 2);
    sdv_tuf_client_destroy(c);
    sdv_uptane_director_out_free(&o1);
    sdv_uptane_director_out_free(&o2);
}

/* ---- Regenerate only what changed ----------------------------------------------------------- */

static void test_unchanged_rebuild_is_identical(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out o1, o2;

    build_ok(f, NULL, NULL, UT_NOW, &o1);
    /* Assignments given in another order describe the same vehicle. */
    {
        struct sdv_uptane_assignment tmp = f->as[0];

        f->as[0] = f->as[2];
        f->as[2] = tmp;
    }
    build_ok(f, &o1, NULL, UT_NOW + 3600, &o2);
    assert_changed(&o2, 0, 0, 0, 0);
    assert_versions(&o2, 1, 1, 1, 1);
    assert_int_equal(o2.timestamp.len, o1.timestamp.len);
    assert_memory_equal(o2.timestamp.data, o1.timestamp.data, o1.timestamp.len);
    assert_memory_equal(o2.targets.data, o1.targets.data, o1.targets.len);
    assert_int_equal(o2.timestamp.expires, o1.timestamp.expires);
    sdv_uptane_director_out_free(&o1);
    sdv_uptane_director_out_free(&o2);
}

static void test_near_expiry_bumps_timestamp_only(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out o1, o2, o3;
    struct sdv_uptane_director_config cfg = {0};
    struct sdv_tuf_client *c;
    const int64_t later = UT_NOW + 13 * 3600; /* less than half of the 1-day lifetime left */

    cfg.snapshot_lifetime_s = 7 * UT_DAY;
    build_ok(f, NULL, &cfg, UT_NOW, &o1);
    ut_serve_director(f->srv, &o1, 0);
    ut_trust_root(f->srv, o1.root.data, o1.root.len);
    refresh_ok(f, UT_NOW, &c);
    sdv_tuf_client_destroy(c);

    build_ok(f, &o1, &cfg, later, &o2);
    assert_changed(&o2, 0, 0, 0, 1);
    assert_versions(&o2, 1, 1, 1, 2);
    assert_int_equal(o2.timestamp.expires, later + UT_DAY);
    ut_serve_director(f->srv, &o2, 0);
    refresh_ok(f, later, &c);
    assert_int_equal(sdv_tuf_client_role_version(c, "timestamp"), 2);
    assert_int_equal(sdv_tuf_client_role_version(c, "snapshot"), 1);
    sdv_tuf_client_destroy(c);

    /* The old timestamp would have expired by now; the client would refuse it. */
    ut_serve_director(f->srv, &o1, 0);
    assert_int_not_equal(ut_refresh(f->srv, UT_NOW + UT_DAY + 60, &c), SDV_OK);
    sdv_tuf_client_destroy(c);

    /* A snapshot with a 7-day lifetime is renewed after 3.5 days, and with it the timestamp;
     * targets (30 days) stays. */
    build_ok(f, &o2, &cfg, UT_NOW + 4 * UT_DAY, &o3);
    assert_changed(&o3, 0, 0, 1, 1);
    assert_versions(&o3, 1, 1, 2, 3);
    assert_int_equal(o3.snapshot.expires, UT_NOW + 11 * UT_DAY);
    sdv_uptane_director_out_free(&o3);
    /* After 16 days targets (30 days) is renewed too, and everything above it. */
    build_ok(f, &o2, NULL, UT_NOW + 16 * UT_DAY, &o3);
    assert_changed(&o3, 0, 1, 1, 1);
    assert_versions(&o3, 1, 2, 2, 3);
    sdv_uptane_director_out_free(&o1);
    sdv_uptane_director_out_free(&o2);
    sdv_uptane_director_out_free(&o3);
}

static void test_assignment_change_bumps_chain(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out o1, o2;
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    build_ok(f, NULL, NULL, UT_NOW, &o1);
    ut_serve_director(f->srv, &o1, 0);
    ut_trust_root(f->srv, o1.root.data, o1.root.len);
    refresh_ok(f, UT_NOW, &c);
    sdv_tuf_client_destroy(c);

    f->as[1].image = ut_image("zone-2.0.bin", "zone 2.0", 2);
    build_ok(f, &o1, NULL, UT_NOW + 60, &o2);
    assert_changed(&o2, 0, 1, 1, 1);
    assert_versions(&o2, 1, 2, 2, 2);
    ut_serve_director(f->srv, &o2, 0);
    refresh_ok(f, UT_NOW + 60, &c);
    assert_int_equal(sdv_tuf_client_find_target(c, "zone-2.0.bin", &t), SDV_OK);
    assert_int_equal(sdv_tuf_client_find_target(c, "zone-1.0.bin", &t), SDV_OK); /* ecu-c */
    assert_int_equal(sdv_tuf_client_find_target(c, "main-1.0.bin", &t), SDV_OK);
    sdv_tuf_client_destroy(c);

    /* Removing every assignment is a change too: an empty targets role. */
    f->as_count = 0;
    sdv_uptane_director_out_free(&o1);
    build_ok(f, &o2, NULL, UT_NOW + 120, &o1);
    assert_changed(&o1, 0, 1, 1, 1);
    assert_versions(&o1, 1, 3, 3, 3);
    ut_serve_director(f->srv, &o1, 0);
    refresh_ok(f, UT_NOW + 120, &c);
    assert_int_equal(sdv_tuf_client_find_target(c, "main-1.0.bin", &t), SDV_ENOTARGET);
    sdv_tuf_client_destroy(c);
    sdv_uptane_director_out_free(&o1);
    sdv_uptane_director_out_free(&o2);
}

static void test_versions_only_go_up(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out prev, next;
    struct sdv_tuf_client *c;
    int64_t now = UT_NOW;

    build_ok(f, NULL, NULL, now, &prev);
    ut_serve_director(f->srv, &prev, 0);
    ut_trust_root(f->srv, prev.root.data, prev.root.len);
    for (int round = 0; round < 12; round++) {
        const struct sdv_uptane_role_out *pr[] = {&prev.root, &prev.targets, &prev.snapshot,
                                                  &prev.timestamp};
        const struct sdv_uptane_role_out *nr[] = {&next.root, &next.targets, &next.snapshot,
                                                  &next.timestamp};

        /* Alternate between two releases, and let time pass unevenly. */
        f->as[0].image = round % 3 == 0 ? ut_image("main-1.0.bin", "main 1.0", 3)
                                        : ut_image("main-1.1.bin", "main 1.1", 4);
        now += (round % 2 == 0) ? 600 : 14 * 3600;
        build_ok(f, &prev, NULL, now, &next);
        for (int r = 0; r < 4; r++) {
            if (nr[r]->changed)
                assert_int_equal(nr[r]->version, pr[r]->version + 1);
            else
                assert_int_equal(nr[r]->version, pr[r]->version);
            assert_true(nr[r]->expires > now);
        }
        ut_serve_director(f->srv, &next, 0);
        refresh_ok(f, now, &c);
        assert_int_equal(sdv_tuf_client_role_version(c, "timestamp"), next.timestamp.version);
        sdv_tuf_client_destroy(c);
        sdv_uptane_director_out_free(&prev);
        prev = next;
    }
    assert_true(prev.timestamp.version >= 7);
    sdv_uptane_director_out_free(&prev);
}

static void test_renew_timestamp(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out o1, o2;
    struct sdv_uptane_director_prev prev;
    struct sdv_uptane_err e;
    struct sdv_tuf_client *c;

    build_ok(f, NULL, NULL, UT_NOW, &o1);
    ut_serve_director(f->srv, &o1, 0);
    ut_trust_root(f->srv, o1.root.data, o1.root.len);
    prev = ut_prev_of(&o1);
    assert_int_equal(
            sdv_uptane_director_renew_timestamp(&f->d->keys, &prev, NULL, UT_NOW + 60, &o2, &e),
            SDV_OK);
    assert_changed(&o2, 0, 0, 0, 1);
    assert_versions(&o2, 1, 1, 1, 2);
    assert_int_equal(o2.timestamp.expires, UT_NOW + 60 + UT_DAY);
    assert_memory_equal(o2.snapshot.data, o1.snapshot.data, o1.snapshot.len);
    ut_serve_director(f->srv, &o2, 0);
    refresh_ok(f, UT_NOW + 60, &c);
    assert_int_equal(sdv_tuf_client_role_version(c, "timestamp"), 2);
    sdv_tuf_client_destroy(c);
    sdv_uptane_director_out_free(&o2);

    /* All four previous roles are needed. */
    prev.snapshot = NULL;
    prev.snapshot_len = 0;
    assert_int_equal(
            sdv_uptane_director_renew_timestamp(&f->d->keys, &prev, NULL, UT_NOW + 60, &o2, &e),
            SDV_EINVAL);
    assert_null(o2.timestamp.data);
    sdv_uptane_director_out_free(&o1);
}

/* ---- Keys ----------------------------------------------------------------------------------- */

static void test_online_key_change_rotates_root(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out o1, o2;
    struct sdv_tuf_client *c;
    struct sdv_key *new_ts = NULL;

    build_ok(f, NULL, NULL, UT_NOW, &o1);
    ut_serve_director(f->srv, &o1, 0);
    ut_trust_root(f->srv, o1.root.data, o1.root.len);
    refresh_ok(f, UT_NOW, &c);
    sdv_tuf_client_destroy(c);

    assert_int_equal(sdv_key_generate(SDV_KEY_ED25519, 0, &new_ts), SDV_OK);
    f->d->keys.timestamp = new_ts;
    build_ok(f, &o1, NULL, UT_NOW + 60, &o2);
    assert_changed(&o2, 1, 0, 0, 1);
    assert_versions(&o2, 2, 1, 1, 2);
    ut_serve_director(f->srv, &o2, 0);
    refresh_ok(f, UT_NOW + 60, &c);
    assert_int_equal(sdv_tuf_client_role_version(c, "root"), 2);
    assert_int_equal(sdv_tuf_client_role_version(c, "timestamp"), 2);
    sdv_tuf_client_destroy(c);
    f->d->keys.timestamp = f->d->timestamp;
    sdv_key_destroy(new_ts);
    sdv_uptane_director_out_free(&o1);
    sdv_uptane_director_out_free(&o2);
}

static struct sdv_key *public_half(const struct sdv_key *k)
{
    struct sdv_buf pem;
    struct sdv_key *pub = NULL;

    sdv_buf_init(&pem, 65536);
    assert_int_equal(sdv_key_public_pem(k, &pem), SDV_OK);
    assert_int_equal(sdv_key_load_pem(pem.data, pem.len, &pub), SDV_OK);
    sdv_buf_free(&pem);
    return pub;
}

static void test_offline_root_keys(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out o1, o2;
    struct sdv_uptane_err e;
    struct sdv_key *pub = public_half(f->d->root);
    const struct sdv_key *offline[] = {pub};
    struct sdv_key *new_ts = NULL;

    /* First build: root must be signed, and the root key is not here. */
    f->d->keys.root_keys = offline;
    assert_int_equal(build(f, NULL, NULL, UT_NOW, &o1, &e), SDV_ESIG);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_KEY);
    assert_non_null(strstr(e.msg, "root"));
    assert_null(o1.root.data);

    /* With a root signed earlier (keys at hand), the online roles keep working without them,
     * even when root is past half its lifetime... */
    f->d->keys.root_keys = f->d->root_list;
    build_ok(f, NULL, NULL, UT_NOW, &o1);
    f->d->keys.root_keys = offline;
    f->as[0].image = ut_image("main-1.1.bin", "main 1.1", 4);
    build_ok(f, &o1, NULL, UT_NOW + 200 * UT_DAY, &o2);
    assert_changed(&o2, 0, 1, 1, 1);
    sdv_uptane_director_out_free(&o2);

    /* ...but not once it expired, nor when its content must change. */
    assert_int_equal(build(f, &o1, NULL, UT_NOW + 366 * UT_DAY, &o2, &e), SDV_ESIG);
    assert_int_equal(sdv_key_generate(SDV_KEY_ED25519, 0, &new_ts), SDV_OK);
    f->d->keys.targets = new_ts;
    assert_int_equal(build(f, &o1, NULL, UT_NOW + 60, &o2, &e), SDV_ESIG);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_KEY);

    f->d->keys.targets = f->d->targets;
    f->d->keys.root_keys = f->d->root_list;
    sdv_key_destroy(new_ts);
    sdv_key_destroy(pub);
    sdv_uptane_director_out_free(&o1);
}

static void test_root_threshold_two(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out o;
    struct sdv_tuf_client *c;
    struct sdv_key *second = NULL;
    const struct sdv_key *roots[2];

    assert_int_equal(sdv_key_generate(SDV_KEY_ECDSA_P256, 0, &second), SDV_OK);
    roots[0] = f->d->root;
    roots[1] = second;
    f->d->keys.root_keys = roots;
    f->d->keys.root_key_count = 2;
    f->d->keys.root_threshold = 2;
    build_ok(f, NULL, NULL, UT_NOW, &o);
    ut_serve_director(f->srv, &o, 0);
    ut_trust_root(f->srv, o.root.data, o.root.len);
    refresh_ok(f, UT_NOW, &c);
    sdv_tuf_client_destroy(c);
    sdv_uptane_director_out_free(&o);
    f->d->keys.root_keys = f->d->root_list;
    f->d->keys.root_key_count = 1;
    f->d->keys.root_threshold = 1;
    sdv_key_destroy(second);
}

/* ---- Bad input ------------------------------------------------------------------------------ */

static void expect_fail(struct fixture *f, const struct sdv_uptane_director_out *prev,
                        enum sdv_err want, enum sdv_uptane_rule rule, const char *needle)
{
    struct sdv_uptane_director_out o;
    struct sdv_uptane_err e;

    assert_int_equal(build(f, prev, NULL, UT_NOW, &o, &e), want);
    assert_int_equal(e.rule, rule);
    if (strstr(e.msg, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
    assert_null(o.timestamp.data);
    assert_null(o.root.data);
}

static void test_bad_assignments(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_assignment saved = f->as[2];

    f->as[2].ecu_serial = "ecu-x";
    expect_fail(f, NULL, SDV_EINVAL, SDV_UPTANE_RULE_UNKNOWN_ECU, "ECU ecu-x");
    f->as[2].ecu_serial = "ecu-b";
    expect_fail(f, NULL, SDV_EINVAL, SDV_UPTANE_RULE_DUPLICATE_ECU, "ECU ecu-b");
    f->as[2] = saved;
    f->as[2].image.release_counter = 2; /* same path as ecu-b, other counter */
    expect_fail(f, NULL, SDV_EINVAL, SDV_UPTANE_RULE_CONFLICT, "zone-1.0.bin");
    f->as[2] = saved;
    f->as[2].image.hash_count = 0;
    expect_fail(f, NULL, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, "ECU ecu-c");
    f->as[2] = saved;
    f->as[2].image.hashes[1].alg = SDV_HASH_SHA256;
    expect_fail(f, NULL, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, "repeated");
    f->as[2] = saved;
    f->as[2].image.filepath = "";
    expect_fail(f, NULL, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, "path");
    f->as[2] = saved;
}

static void test_bad_keys_and_prev(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out o, good;
    struct sdv_uptane_director_prev prev;
    struct sdv_uptane_err e;
    struct sdv_key *pub = public_half(f->d->snapshot);

    f->d->keys.snapshot = pub;
    expect_fail(f, NULL, SDV_EINVAL, SDV_UPTANE_RULE_KEY, "snapshot");
    f->d->keys.snapshot = f->d->snapshot;
    f->d->keys.root_threshold = 2;
    expect_fail(f, NULL, SDV_EINVAL, SDV_UPTANE_RULE_KEY, "threshold");
    f->d->keys.root_threshold = 1;
    sdv_key_destroy(pub);

    /* Previous files that are not director metadata. */
    build_ok(f, NULL, NULL, UT_NOW, &good);
    prev = ut_prev_of(&good);
    prev.targets = "{\"signed\": {\"_type\": \"snapshot\"}}";
    prev.targets_len = strlen(prev.targets);
    assert_int_equal(sdv_uptane_director_build(&f->d->keys, &f->uv->v, f->as, f->as_count, &prev,
                                               NULL, UT_NOW, &o, &e),
                     SDV_EPARSE);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_MALFORMED);
    assert_non_null(strstr(e.msg, "previous director targets"));
    assert_null(o.targets.data);
    prev = ut_prev_of(&good);
    prev.snapshot = "not json";
    prev.snapshot_len = 8;
    assert_int_equal(sdv_uptane_director_build(&f->d->keys, &f->uv->v, f->as, f->as_count, &prev,
                                               NULL, UT_NOW, &o, &e),
                     SDV_EPARSE);
    assert_null(o.targets.data);
    sdv_uptane_director_out_free(&good);
}

/* The vehicle side reads back exactly what the director meant. */
static void test_round_trip_with_vehicle_parse(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_director_out o;
    struct sdv_uptane_targets t;
    struct sdv_uptane_err e;

    build_ok(f, NULL, NULL, UT_NOW, &o);
    assert_int_equal(sdv_uptane_director_targets_parse(o.targets.data, o.targets.len, f->uv->ecus,
                                                       UT_ECUS, &t, &e),
                     SDV_OK);
    assert_int_equal(t.count, 3);
    assert_string_equal(t.items[0].filepath, "main-1.0.bin");
    assert_string_equal(t.items[0].ecu_serial, "ecu-a");
    assert_string_equal(t.items[0].hardware_id, "hw-main");
    assert_int_equal(t.items[0].release_counter, 3);
    assert_string_equal(t.items[1].ecu_serial, "ecu-b");
    assert_string_equal(t.items[2].ecu_serial, "ecu-c");
    assert_string_equal(t.items[2].filepath, "zone-1.0.bin");
    assert_int_equal(t.items[2].hash_count, 2);
    sdv_uptane_targets_free(&t);
    sdv_uptane_director_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_first_build_verifies, setup, teardown),
            cmocka_unit_test_setup_teardown(test_consistent_snapshot_verifies, setup, teardown),
            cmocka_unit_test_setup_teardown(test_unchanged_rebuild_is_identical, setup, teardown),
            cmocka_unit_test_setup_teardown(test_near_expiry_bumps_timestamp_only, setup, teardown),
            cmocka_unit_test_setup_teardown(test_assignment_change_bumps_chain, setup, teardown),
            cmocka_unit_test_setup_teardown(test_versions_only_go_up, setup, teardown),
            cmocka_unit_test_setup_teardown(test_renew_timestamp, setup, teardown),
            cmocka_unit_test_setup_teardown(test_online_key_change_rotates_root, setup, teardown),
            cmocka_unit_test_setup_teardown(test_offline_root_keys, setup, teardown),
            cmocka_unit_test_setup_teardown(test_root_threshold_two, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bad_assignments, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bad_keys_and_prev, setup, teardown),
            cmocka_unit_test_setup_teardown(test_round_trip_with_vehicle_parse, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
