/*
 * test_uptane_manifest.c - ECU version reports and vehicle version manifests: round trip with
 * ed25519, ECDSA and RSA ECU keys; a tampered report inside a validly signed manifest, a report
 * filed under another serial, an unknown ECU, a manifest signed by a key other than the primary's,
 * another VIN or primary; oversized and malformed input; and the builders' argument checks.
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

#include <sdv/tuf_repo.h>
#include <sdv/uptane.h>

#include "uptane_test_util.h"

struct fixture {
    struct ut_vehicle *uv;
    struct sdv_buf reports[UT_ECUS];
    char nonces[UT_ECUS][SDV_UPTANE_NONCE_HEX_LEN];
    struct sdv_buf manifest;
    uint8_t rnd;
};

static const char *const images[UT_ECUS] = {"main 2.0", "zone 2.0", "zone 2.0"};
static const char *const paths[UT_ECUS] = {"main-2.0.bin", "zone-2.0.bin", "zone-2.0.bin"};

static struct sdv_uptane_report_info info_for(struct fixture *f, int i)
{
    struct sdv_uptane_report_info in;

    memset(&in, 0, sizeof(in));
    in.ecu_serial = f->uv->ecus[i].serial;
    in.installed = ut_image(paths[i], images[i], (uint64_t)i + 1);
    in.latest_verified_time = UT_NOW - 60 * i;
    in.attack_detected = i == 2 ? "director targets: hardware id mismatch" : NULL;
    in.report_counter = 10 + (uint64_t)i;
    return in;
}

static void build_report(struct fixture *f, int i)
{
    struct sdv_uptane_report_info in = info_for(f, i);
    struct sdv_uptane_err e;
    enum sdv_err err;

    sdv_buf_reset(&f->reports[i]);
    err = sdv_uptane_report_build(&in, f->uv->ecu_keys[i], ut_random, &f->rnd, &f->reports[i],
                                  f->nonces[i], &e);
    if (err != SDV_OK)
        fail_msg("report %d: %s", i, e.msg);
}

static void build_manifest(struct fixture *f, const struct sdv_key *primary_key)
{
    struct sdv_uptane_report_bytes rb[UT_ECUS];
    struct sdv_uptane_err e;
    enum sdv_err err;

    for (int i = 0; i < UT_ECUS; i++)
        rb[i] = (struct sdv_uptane_report_bytes){f->reports[i].data, f->reports[i].len};
    sdv_buf_reset(&f->manifest);
    err = sdv_uptane_manifest_build(f->uv->v.vin, "ecu-a", rb, UT_ECUS, 7, primary_key,
                                    &f->manifest, &e);
    if (err != SDV_OK)
        fail_msg("manifest: %s", e.msg);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->uv = ut_vehicle_new(0);
    for (int i = 0; i < UT_ECUS; i++) {
        sdv_buf_init(&f->reports[i], 64 * 1024);
        build_report(f, i);
    }
    sdv_buf_init(&f->manifest, SDV_UPTANE_MANIFEST_LEN_MAX);
    build_manifest(f, f->uv->primary_key);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < UT_ECUS; i++)
        sdv_buf_free(&f->reports[i]);
    sdv_buf_free(&f->manifest);
    ut_vehicle_free(f->uv);
    free(f);
    return 0;
}

static enum sdv_err verify(struct fixture *f, const void *data, size_t len,
                           struct sdv_uptane_manifest *m, struct sdv_uptane_err *e)
{
    return sdv_uptane_manifest_verify(data, len, &f->uv->v, m, e);
}

#define EXPECT(f, data, len, want, rule, ecu, ...) \
    expect_((f), (data), (len), (want), (rule), (ecu), (const char *[]){__VA_ARGS__, NULL})

static void expect_(struct fixture *f, const void *data, size_t len, enum sdv_err want,
                    enum sdv_uptane_rule rule, const char *ecu, const char *const *needles)
{
    struct sdv_uptane_manifest m;
    struct sdv_uptane_err e;
    enum sdv_err err = verify(f, data, len, &m, &e);

    if (err != want || e.rule != rule)
        fail_msg("got %s / %s (%s), expected %s / %s", sdv_errname(err),
                 sdv_uptane_rule_name(e.rule), e.msg, sdv_errname(want),
                 sdv_uptane_rule_name(rule));
    assert_string_equal(e.ecu_serial, ecu);
    for (size_t i = 0; needles[i] != NULL; i++)
        if (strstr(e.msg, needles[i]) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", e.msg, needles[i]);
    assert_null(m.reports);
    assert_int_equal(m.report_count, 0);
}

static json_t *manifest_json(struct fixture *f)
{
    json_t *doc = json_loadb((const char *)f->manifest.data, f->manifest.len, 0, NULL);

    assert_non_null(doc);
    return doc;
}

static json_t *reports_of(json_t *doc)
{
    return json_object_get(json_object_get(doc, "signed"), "ecu_version_reports");
}

/* Re-signs doc with key (dropping the old signatures) and returns its compact text. */
static char *resign(json_t *doc, const struct sdv_key *key)
{
    json_object_set_new(doc, "signatures", json_array());
    assert_int_equal(sdv_tuf_sign_json(doc, key), SDV_OK);
    return json_dumps(doc, JSON_COMPACT);
}

/* Expects the verification of doc, re-signed by the primary, to fail as given. */
#define EXPECT_RESIGNED(f, doc, want, rule, ecu, ...)                          \
    do {                                                                       \
        char *text_ = resign((doc), (f)->uv->primary_key);                     \
        EXPECT((f), text_, strlen(text_), (want), (rule), (ecu), __VA_ARGS__); \
        free(text_);                                                           \
    } while (0)

/* ---- Round trip ------------------------------------------------------------------------------ */

static void test_round_trip_all_key_types(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_manifest m;
    struct sdv_uptane_err e;

    assert_int_equal(verify(f, f->manifest.data, f->manifest.len, &m, &e), SDV_OK);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_NONE);
    assert_string_equal(m.vin, f->uv->v.vin);
    assert_string_equal(m.primary_ecu_serial, "ecu-a");
    assert_int_equal(m.manifest_counter, 7);
    assert_int_equal(m.report_count, 3);
    for (int i = 0; i < UT_ECUS; i++) {
        const struct sdv_uptane_report *r = &m.reports[i];
        struct sdv_uptane_report_info in = info_for(f, i);

        assert_string_equal(r->ecu_serial, f->uv->ecus[i].serial);
        assert_string_equal(r->filepath, paths[i]);
        assert_int_equal(r->length, strlen(images[i]));
        assert_int_equal(r->hash_count, 2);
        assert_memory_equal(r->hashes[0].digest, in.installed.hashes[0].digest, 32);
        assert_int_equal(r->release_counter, i + 1);
        assert_int_equal(r->latest_verified_time, UT_NOW - 60 * i);
        assert_int_equal(r->report_counter, 10 + i);
        assert_int_equal(r->nonce_len, SDV_UPTANE_NONCE_LEN);
        assert_string_equal(r->nonce_hex, f->nonces[i]);
        assert_string_equal(r->attack_detected,
                            i == 2 ? "director targets: hardware id mismatch" : "");
    }
    /* Fresh randomness per report: the nonces differ. */
    assert_string_not_equal(m.reports[0].nonce_hex, m.reports[1].nonce_hex);
    sdv_uptane_manifest_free(&m);
    sdv_uptane_manifest_free(&m);
}

static void test_partial_manifest_and_pretty_bytes(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_report_bytes rb = {f->reports[1].data, f->reports[1].len};
    struct sdv_uptane_manifest m;
    struct sdv_uptane_err e;
    struct sdv_buf out;
    json_t *doc;
    char *pretty;

    /* A manifest may omit unreachable ECUs, and may be formatted any way. */
    sdv_buf_init(&out, SDV_UPTANE_MANIFEST_LEN_MAX);
    assert_int_equal(sdv_uptane_manifest_build(f->uv->v.vin, "ecu-a", &rb, 1, 8, f->uv->primary_key,
                                               &out, &e),
                     SDV_OK);
    doc = json_loadb((const char *)out.data, out.len, 0, NULL);
    pretty = json_dumps(doc, JSON_INDENT(3));
    assert_int_equal(verify(f, pretty, strlen(pretty), &m, &e), SDV_OK);
    assert_int_equal(m.report_count, 1);
    assert_string_equal(m.reports[0].ecu_serial, "ecu-b");
    sdv_uptane_manifest_free(&m);
    free(pretty);
    json_decref(doc);
    sdv_buf_free(&out);
}

/* ---- Signatures and identities --------------------------------------------------------------- */

static void test_tampered_report_names_ecu(void **state)
{
    struct fixture *f = *state;
    json_t *doc = manifest_json(f);
    json_t *signed_b = json_object_get(json_object_get(reports_of(doc), "ecu-b"), "signed");

    /* The primary re-signs the manifest, but cannot re-sign ecu-b's report. */
    json_object_set_new(signed_b, "release_counter", json_integer(99));
    EXPECT_RESIGNED(f, doc, SDV_ESIG, SDV_UPTANE_RULE_SIGNATURE, "ecu-b", "ECU ecu-b", "signature");
    json_decref(doc);

    /* Same for the RSA-signed report, with a corrupted signature byte instead. */
    doc = manifest_json(f);
    {
        json_t *sig = json_array_get(
                json_object_get(json_object_get(reports_of(doc), "ecu-c"), "signatures"), 0);
        char *hex = strdup(json_string_value(json_object_get(sig, "sig")));

        hex[10] = hex[10] == '0' ? '1' : '0';
        json_object_set_new(sig, "sig", json_string(hex));
        free(hex);
    }
    EXPECT_RESIGNED(f, doc, SDV_ESIG, SDV_UPTANE_RULE_SIGNATURE, "ecu-c", "ECU ecu-c");
    json_decref(doc);
}

static void test_tampered_manifest_fails_primary(void **state)
{
    struct fixture *f = *state;
    json_t *doc = manifest_json(f);
    char *text;

    json_object_set_new(json_object_get(doc, "signed"), "manifest_counter", json_integer(8));
    text = json_dumps(doc, JSON_COMPACT);
    EXPECT(f, text, strlen(text), SDV_ESIG, SDV_UPTANE_RULE_SIGNATURE, "ecu-a", "manifest");
    free(text);
    json_decref(doc);
}

static void test_manifest_signed_by_non_primary(void **state)
{
    struct fixture *f = *state;

    /* ecu-b's own key is a valid vehicle key, but not the one that signs manifests. */
    build_manifest(f, f->uv->ecu_keys[1]);
    EXPECT(f, f->manifest.data, f->manifest.len, SDV_ESIG, SDV_UPTANE_RULE_SIGNATURE, "ecu-a",
           "manifest", "registered key");
}

static void test_report_moved_under_other_serial(void **state)
{
    struct fixture *f = *state;
    json_t *doc = manifest_json(f);
    json_t *reports = reports_of(doc);

    /* ecu-b's genuine report filed as ecu-c's: signature valid, identity wrong. */
    json_object_set(reports, "ecu-c", json_object_get(reports, "ecu-b"));
    EXPECT_RESIGNED(f, doc, SDV_EINVAL, SDV_UPTANE_RULE_SERIAL_MISMATCH, "ecu-c", "ECU ecu-c",
                    "report of ECU ecu-b");
    json_decref(doc);
}

static void test_unknown_ecu(void **state)
{
    struct fixture *f = *state;
    json_t *doc;

    /* The server knows only two of the three ECUs. */
    f->uv->v.ecu_count = 2;
    EXPECT(f, f->manifest.data, f->manifest.len, SDV_EINVAL, SDV_UPTANE_RULE_UNKNOWN_ECU, "ecu-c",
           "ECU ecu-c", f->uv->v.vin);
    f->uv->v.ecu_count = 3;

    /* A report under a serial the vehicle does not have. */
    doc = manifest_json(f);
    json_object_set(reports_of(doc), "ecu-z", json_object_get(reports_of(doc), "ecu-b"));
    EXPECT_RESIGNED(f, doc, SDV_EINVAL, SDV_UPTANE_RULE_UNKNOWN_ECU, "ecu-z", "ECU ecu-z");
    json_decref(doc);

    /* An ECU without a registered key cannot report. */
    f->uv->ecus[1].key = NULL;
    EXPECT(f, f->manifest.data, f->manifest.len, SDV_EINVAL, SDV_UPTANE_RULE_KEY, "ecu-b",
           "ECU ecu-b");
    f->uv->ecus[1].key = f->uv->ecu_keys[1];
}

static void test_vin_and_primary(void **state)
{
    struct fixture *f = *state;
    json_t *doc = manifest_json(f);

    json_object_set_new(json_object_get(doc, "signed"), "vin", json_string("WOTHERVIN00000001"));
    EXPECT_RESIGNED(f, doc, SDV_EINVAL, SDV_UPTANE_RULE_VIN, "", "WOTHERVIN00000001");
    json_decref(doc);
    doc = manifest_json(f);
    json_object_set_new(json_object_get(doc, "signed"), "primary_ecu_serial", json_string("ecu-b"));
    EXPECT_RESIGNED(f, doc, SDV_EINVAL, SDV_UPTANE_RULE_PRIMARY, "ecu-b", "ecu-a");
    json_decref(doc);
}

/* ---- Malformed and oversized input ----------------------------------------------------------- */

static void test_malformed_manifest(void **state)
{
    struct fixture *f = *state;
    json_t *doc, *s, *rb;

    EXPECT(f, "", 0, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "", "manifest");
    EXPECT(f, "[]", 2, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "", "object");
    EXPECT(f, f->manifest.data, f->manifest.len - 1, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "",
           "JSON");
    EXPECT(f, "{\"signed\":{},\"signed\":{}}", 25, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "",
           "manifest");

    doc = manifest_json(f);
    json_object_set_new(doc, "extra", json_true());
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "", "extra");
    json_decref(doc);

    doc = manifest_json(f);
    s = json_object_get(doc, "signed");
    json_object_set_new(s, "manifest_counter", json_integer(-1));
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "", "manifest_counter");
    json_object_set_new(s, "manifest_counter", json_real(1.5));
    {
        char *text = json_dumps(doc, JSON_COMPACT);

        EXPECT(f, text, strlen(text), SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "",
               "manifest_counter");
        free(text);
    }
    json_object_set_new(s, "manifest_counter", json_integer(7));
    json_object_del(s, "vin");
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "", "vin");
    json_decref(doc);

    doc = manifest_json(f);
    json_object_set_new(doc, "signatures", json_array());
    {
        char *text = json_dumps(doc, JSON_COMPACT);

        EXPECT(f, text, strlen(text), SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "", "signatures");
        free(text);
    }
    json_decref(doc);

    /* Inside a report: each broken field names the ECU. */
    doc = manifest_json(f);
    rb = json_object_get(json_object_get(reports_of(doc), "ecu-b"), "signed");
    json_object_set_new(rb, "nonce", json_string("00112233445566778899aabbccddee")); /* 15 */
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_NONCE, "ecu-b", "ECU ecu-b", "nonce");
    json_object_set_new(rb, "nonce", json_string("zz112233445566778899aabbccddeeff"));
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_NONCE, "ecu-b", "ECU ecu-b");
    json_object_set_new(rb, "nonce", json_integer(5));
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_NONCE, "ecu-b", "ECU ecu-b");
    json_object_set_new(rb, "nonce", json_string(f->nonces[1]));
    json_object_set_new(rb, "latest_verified_time", json_string("yesterday"));
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ecu-b", "latest_verified_time");
    json_object_set_new(rb, "latest_verified_time", json_string("2027-01-15T07:59:00Z"));
    json_object_set_new(rb, "report_counter", json_string("11"));
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ecu-b", "report_counter");
    json_object_set_new(rb, "report_counter", json_integer(11));
    json_object_set_new(rb, "unexpected", json_null());
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ecu-b", "unexpected");
    json_object_del(rb, "unexpected");
    json_object_del(
            json_object_get(json_object_get(json_object_get(rb, "installed_image"), "fileinfo"),
                            "hashes"),
            "sha256");
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ecu-b", "sha256");
    json_object_set_new(json_object_get(reports_of(doc), "ecu-b"), "signed", json_string("x"));
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ecu-b", "signed");
    json_decref(doc);
}

static void test_oversized_manifest(void **state)
{
    struct fixture *f = *state;
    json_t *doc, *reports, *sigs;
    char *big, attack[SDV_UPTANE_ATTACK_LEN_MAX + 2];

    big = malloc(SDV_UPTANE_MANIFEST_LEN_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', SDV_UPTANE_MANIFEST_LEN_MAX + 1);
    EXPECT(f, big, SDV_UPTANE_MANIFEST_LEN_MAX + 1, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, "",
           "manifest");
    free(big);

    /* More reports than a vehicle may have ECUs. */
    doc = manifest_json(f);
    reports = reports_of(doc);
    for (int i = 0; i <= SDV_UPTANE_ECUS_MAX; i++) {
        char serial[32];

        snprintf(serial, sizeof(serial), "ecu-%03d", i);
        json_object_set(reports, serial, json_object_get(reports, "ecu-a"));
    }
    EXPECT_RESIGNED(f, doc, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, "", "version reports");
    json_decref(doc);

    /* An attack description past the limit. */
    doc = manifest_json(f);
    memset(attack, 'a', sizeof(attack) - 1);
    attack[sizeof(attack) - 1] = '\0';
    json_object_set_new(json_object_get(json_object_get(reports_of(doc), "ecu-a"), "signed"),
                        "attack_detected", json_string(attack));
    EXPECT_RESIGNED(f, doc, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, "ecu-a", "attack_detected");
    json_decref(doc);

    /* Too many signatures: each would cost a verification. */
    doc = manifest_json(f);
    sigs = json_object_get(json_object_get(reports_of(doc), "ecu-b"), "signatures");
    for (int i = 0; i < SDV_UPTANE_SIGNATURES_MAX; i++)
        json_array_append(sigs, json_array_get(sigs, 0));
    EXPECT_RESIGNED(f, doc, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, "ecu-b", "signatures");
    json_decref(doc);

    /* A serial longer than the limit. */
    doc = manifest_json(f);
    {
        char serial[SDV_UPTANE_ID_LEN_MAX + 2];

        memset(serial, 's', sizeof(serial) - 1);
        serial[sizeof(serial) - 1] = '\0';
        json_object_set(reports_of(doc), serial, json_object_get(reports_of(doc), "ecu-a"));
    }
    EXPECT_RESIGNED(f, doc, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, "", "serial");
    json_decref(doc);
}

/* ---- Builders ---------------------------------------------------------------------------------
 */

static enum sdv_err failing_random(void *ud, void *p, size_t n)
{
    (void)ud;
    (void)p;
    (void)n;
    return SDV_EIO;
}

static void test_report_build_arguments(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_report_info in = info_for(f, 0);
    struct sdv_uptane_err e;
    struct sdv_buf out;
    char nonce[SDV_UPTANE_NONCE_HEX_LEN];
    uint8_t rnd = 0;
    char attack[SDV_UPTANE_ATTACK_LEN_MAX + 2];

    sdv_buf_init(&out, 64 * 1024);
    assert_int_equal(
            sdv_uptane_report_build(&in, f->uv->ecu_keys[0], ut_random, &rnd, &out, nonce, &e),
            SDV_OK);
    assert_int_equal(strlen(nonce), 2 * SDV_UPTANE_NONCE_LEN);
    assert_non_null(strstr((const char *)out.data, nonce));
    assert_int_equal(
            sdv_uptane_report_build(&in, f->uv->ecu_keys[0], failing_random, NULL, &out, NULL, &e),
            SDV_EIO);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_NONCE);
    in.installed.hashes[0].alg = SDV_HASH_SHA512; /* sha512 twice, no sha256 */
    assert_int_equal(
            sdv_uptane_report_build(&in, f->uv->ecu_keys[0], ut_random, &rnd, &out, NULL, &e),
            SDV_EINVAL);
    assert_string_equal(e.ecu_serial, "ecu-a");
    in = info_for(f, 0);
    in.ecu_serial = "";
    assert_int_equal(
            sdv_uptane_report_build(&in, f->uv->ecu_keys[0], ut_random, &rnd, &out, NULL, &e),
            SDV_EINVAL);
    in = info_for(f, 0);
    memset(attack, 'x', sizeof(attack) - 1);
    attack[sizeof(attack) - 1] = '\0';
    in.attack_detected = attack;
    assert_int_equal(
            sdv_uptane_report_build(&in, f->uv->ecu_keys[0], ut_random, &rnd, &out, NULL, &e),
            SDV_EINVAL);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_TOO_BIG);
    in = info_for(f, 0);
    assert_int_equal(sdv_uptane_report_build(&in, NULL, ut_random, &rnd, &out, NULL, &e),
                     SDV_EINVAL);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_KEY);
    sdv_buf_free(&out);
}

static void test_manifest_build_checks_reports(void **state)
{
    struct fixture *f = *state;
    struct sdv_uptane_report_bytes rb[2] = {{f->reports[1].data, f->reports[1].len},
                                            {f->reports[1].data, f->reports[1].len}};
    struct sdv_uptane_err e;
    struct sdv_buf out;

    sdv_buf_init(&out, SDV_UPTANE_MANIFEST_LEN_MAX);
    assert_int_equal(sdv_uptane_manifest_build(f->uv->v.vin, "ecu-a", rb, 2, 1, f->uv->primary_key,
                                               &out, &e),
                     SDV_EINVAL);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_DUPLICATE_ECU);
    assert_string_equal(e.ecu_serial, "ecu-b");
    rb[1] = (struct sdv_uptane_report_bytes){"{\"signed\": 1}", 13};
    assert_int_equal(sdv_uptane_manifest_build(f->uv->v.vin, "ecu-a", rb, 2, 1, f->uv->primary_key,
                                               &out, &e),
                     SDV_EPARSE);
    assert_int_equal(e.rule, SDV_UPTANE_RULE_MALFORMED);
    assert_int_equal(sdv_uptane_manifest_build(f->uv->v.vin, "ecu-a", rb, 1, 1, f->uv->ecus[0].key,
                                               &out, &e),
                     SDV_OK);
    assert_int_equal(sdv_uptane_manifest_build("", "ecu-a", rb, 1, 1, f->uv->primary_key, &out, &e),
                     SDV_EINVAL);
    sdv_buf_free(&out);
}

/* ---- Install log records (OpenSDV extension) ---------------------------------------------------
 */

/* Report 0 rebuilt with install log records, then the manifest. */
static void build_with_log(struct fixture *f, const char *const *log, size_t count)
{
    struct sdv_uptane_report_info in = info_for(f, 0);
    struct sdv_uptane_err e;

    in.install_log = log;
    in.install_log_count = count;
    sdv_buf_reset(&f->reports[0]);
    if (sdv_uptane_report_build(&in, f->uv->ecu_keys[0], ut_random, &f->rnd, &f->reports[0],
                                f->nonces[0], &e) != SDV_OK)
        fail_msg("report: %s", e.msg);
    build_manifest(f, f->uv->primary_key);
}

static void test_install_log_round_trip_and_checks(void **state)
{
    struct fixture *f = *state;
    static const char *const log[] = {
            "{\"seq\":1,\"result\":\"committed\",\"prev\":\"00\"}",
            "{\"seq\":2,\"result\":\"rolled-back\",\"reason\":\"health check failed: "
            "exit 1\"}"};
    const char *nine[SDV_UPTANE_INSTALL_LOG_MAX + 1];
    struct sdv_uptane_report_info in = info_for(f, 0);
    struct sdv_uptane_manifest m;
    struct sdv_uptane_err e;
    struct sdv_buf out;
    json_t *doc, *signed_;

    build_with_log(f, log, 2);
    assert_int_equal(verify(f, f->manifest.data, f->manifest.len, &m, &e), SDV_OK);
    assert_int_equal(m.reports[0].install_log_count, 2);
    assert_string_equal(m.reports[0].install_log[0], log[0]);
    assert_string_equal(m.reports[0].install_log[1], log[1]);
    assert_int_equal(m.reports[1].install_log_count, 0);
    assert_null(m.reports[1].install_log);
    sdv_uptane_manifest_free(&m);

    /* A record changed after the ECU signed: its signature no longer holds. */
    doc = manifest_json(f);
    signed_ = json_object_get(json_object_get(reports_of(doc), "ecu-a"), "signed");
    json_array_set_new(json_object_get(signed_, "install_log"), 1,
                       json_string("{\"seq\":2,\"result\":\"committed\"}"));
    EXPECT_RESIGNED(f, doc, SDV_ESIG, SDV_UPTANE_RULE_SIGNATURE, "ecu-a", "version report");
    /* Wrong shapes are refused before any signature is checked. */
    json_object_set_new(signed_, "install_log", json_string("x"));
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ecu-a", "install_log");
    json_object_set_new(signed_, "install_log", json_pack("[s, i]", "{}", 3));
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ecu-a", "install_log[1]");
    json_object_set_new(signed_, "install_log", json_pack("[s]", ""));
    EXPECT_RESIGNED(f, doc, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, "ecu-a", "install_log[0]");
    json_object_set_new(signed_, "install_log", json_array());
    for (int i = 0; i <= SDV_UPTANE_INSTALL_LOG_MAX; i++)
        json_array_append_new(json_object_get(signed_, "install_log"), json_string("{}"));
    EXPECT_RESIGNED(f, doc, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, "ecu-a", "install log records");
    json_decref(doc);

    /* The builder refuses what the verifier would. */
    for (int i = 0; i <= SDV_UPTANE_INSTALL_LOG_MAX; i++)
        nine[i] = "{}";
    sdv_buf_init(&out, 64 * 1024);
    in.install_log = nine;
    in.install_log_count = SDV_UPTANE_INSTALL_LOG_MAX + 1;
    assert_int_equal(
            sdv_uptane_report_build(&in, f->uv->ecu_keys[0], ut_random, &f->rnd, &out, NULL, &e),
            SDV_EINVAL);
    nine[0] = "";
    in.install_log_count = 1;
    assert_int_equal(
            sdv_uptane_report_build(&in, f->uv->ecu_keys[0], ut_random, &f->rnd, &out, NULL, &e),
            SDV_EINVAL);
    nine[0] = "\xff\xfe";
    assert_int_equal(
            sdv_uptane_report_build(&in, f->uv->ecu_keys[0], ut_random, &f->rnd, &out, NULL, &e),
            SDV_EINVAL);
    assert_int_equal(out.len, 0);
    sdv_buf_free(&out);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
            T(test_round_trip_all_key_types),
            T(test_partial_manifest_and_pretty_bytes),
            T(test_tampered_report_names_ecu),
            T(test_tampered_manifest_fails_primary),
            T(test_manifest_signed_by_non_primary),
            T(test_report_moved_under_other_serial),
            T(test_unknown_ecu),
            T(test_vin_and_primary),
            T(test_malformed_manifest),
            T(test_oversized_manifest),
            T(test_report_build_arguments),
            T(test_manifest_build_checks_reports),
            T(test_install_log_round_trip_and_checks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
