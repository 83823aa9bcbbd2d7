/*
 * test_app_manifest.c - the manifest rules of `sdv app` (cmd/sdv/app_manifest.c): what a good
 * manifest turns into (absolute executable, argv, the grants joined exactly, limits, purpose),
 * and that each kind of bad manifest is refused with the member named and nothing leaked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include "../../cmd/sdv/app_sandbox.h"

static enum sdv_err parse(const char *text, struct sdv_app_manifest *m, char *err, size_t len)
{
    json_t *doc = NULL;
    enum sdv_err rc;

    assert_int_equal(sdv_json_parse(text, strlen(text), &doc, err, len), SDV_OK);
    rc = sdv_app_manifest_parse(doc, "/opt/apps/climate", m, err, len);
    json_decref(doc);
    return rc;
}

static void test_good_manifest(void **state)
{
    struct sdv_app_manifest m;
    char err[300];

    (void)state;
    assert_int_equal(parse("{\"id\": \"climate-2.x_y\", \"executable\": \"bin/climate\", \"args\": "
                           "[\"--target\", \"21\"], \"scopes\": [\"read:Vehicle.Speed\", "
                           "\"actuate:Vehicle.Cabin.HVAC\", \"provide:Vehicle.*.IsOpen\"], "
                           "\"limits\": {\"memory_mb\": 64, \"open_files\": 32, \"tmp_mb\": 4, "
                           "\"cpu_percent\": 150, \"processes\": 12}}",
                           &m, err, sizeof(err)),
                     SDV_OK);
    assert_string_equal(m.id, "climate-2.x_y");
    assert_string_equal(m.executable, "/opt/apps/climate/bin/climate");
    assert_int_equal(m.argc, 3);
    assert_string_equal(m.argv[0], "climate");
    assert_string_equal(m.argv[1], "--target");
    assert_string_equal(m.argv[2], "21");
    assert_null(m.argv[3]);
    assert_string_equal(m.scope,
                        "read:Vehicle.Speed actuate:Vehicle.Cabin.HVAC provide:Vehicle.*.IsOpen");
    assert_null(m.purpose);
    assert_int_equal(m.limits.memory_mb, 64);
    assert_int_equal(m.limits.open_files, 32);
    assert_int_equal(m.limits.tmp_mb, 4);
    assert_int_equal(m.limits.cpu_s, 0);
    assert_int_equal(m.limits.cpu_percent, 150);
    assert_int_equal(m.limits.processes, 12);
    sdv_app_manifest_free(&m);
    assert_null(m.executable);
    sdv_app_manifest_free(&m); /* twice is harmless */
}

static void test_purpose_manifest(void **state)
{
    struct sdv_app_manifest m;
    char err[300];

    (void)state;
    assert_int_equal(parse("{\"id\": \"fleet\", \"executable\": \"/usr/bin/fleet\", \"purpose\": "
                           "\"climate-comfort:v2\"}",
                           &m, err, sizeof(err)),
                     SDV_OK);
    assert_string_equal(m.executable, "/usr/bin/fleet");
    assert_int_equal(m.argc, 1);
    assert_null(m.scope);
    assert_string_equal(m.purpose, "climate-comfort:v2");
    sdv_app_manifest_free(&m);
}

static void test_bad_manifests(void **state)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
            {"[]", "must be a JSON object"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"extra\": 1}",
             "unknown member \"extra\""},
            {"{\"executable\": \"/a\", \"scopes\": [\"read:A\"]}", "id: missing"},
            {"{\"id\": 5, \"executable\": \"/a\", \"scopes\": [\"read:A\"]}",
             "id: must be a string"},
            {"{\"id\": \"\", \"executable\": \"/a\", \"scopes\": [\"read:A\"]}",
             "id: \"\" must be"},
            {"{\"id\": \"Climate\", \"executable\": \"/a\", \"scopes\": [\"read:A\"]}",
             "id: \"Climate\" must be"},
            {"{\"id\": \"-x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"]}", "id: \"-x\""},
            {"{\"id\": \"x\", \"executable\": \"/a/\", \"scopes\": [\"read:A\"]}",
             "executable: must name a file"},
            {"{\"id\": \"x\", \"executable\": \"..\", \"scopes\": [\"read:A\"]}",
             "executable: must name a file"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"args\": \"-v\", \"scopes\": [\"read:A\"]}",
             "args: must be an array"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": []}",
             "scopes: must be a non-empty"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [7]}",
             "scopes[0]: must be a string"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"openid\"]}",
             "scopes[0]: \"openid\" is not"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:\"]}", "scopes[0]:"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A.**\"]}", "scopes[0]:"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"purpose\": \"a b\"}", "purpose: must be"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"purpose\": 3}", "purpose: must be"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"limits\": []}",
             "limits: must be an object"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"limits\": "
             "{\"cpu_s\": 1.5}}",
             "limits.cpu_s: must be a whole number"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"limits\": "
             "{\"memory_mb\": -1}}",
             "limits.memory_mb: must be a whole number"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"limits\": "
             "{\"tmp_mb\": 5000}}",
             "limits.tmp_mb: must be a whole number 1..4096"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"limits\": "
             "{\"cpu_percent\": 0}}",
             "limits.cpu_percent: must be a whole number 1..6400"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"limits\": "
             "{\"cpu_percent\": 6401}}",
             "limits.cpu_percent: must be a whole number 1..6400"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"limits\": "
             "{\"cpu_percent\": \"20\"}}",
             "limits.cpu_percent: must be a whole number"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"limits\": "
             "{\"processes\": 65537}}",
             "limits.processes: must be a whole number 1..65536"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"limits\": "
             "{\"memory_mb\": 7}}",
             "limits.memory_mb: must be a whole number 8..1048576"},
            {"{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": [\"read:A\"], \"limits\": "
             "{\"cpu\": 20}}",
             "limits: unknown member \"cpu\" (memory_mb, cpu_percent, cpu_s,"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sdv_app_manifest m;
        char err[300];

        err[0] = '\0';
        assert_int_equal(parse(cases[i].json, &m, err, sizeof(err)), SDV_EPARSE);
        if (strstr(err, cases[i].msg) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].json, err, cases[i].msg);
        sdv_app_manifest_free(&m);
    }
}

static void test_too_many_args(void **state)
{
    struct sdv_app_manifest m;
    char text[2048], err[300];
    size_t n;

    (void)state;
    n = (size_t)snprintf(text, sizeof(text),
                         "{\"id\": \"x\", \"executable\": \"/a\", \"scopes\": "
                         "[\"read:A\"], \"args\": [");
    for (unsigned i = 0; i <= SDV_APP_ARGS_MAX; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\"a\"", i > 0 ? ", " : "");
    snprintf(text + n, sizeof(text) - n, "]}");
    assert_int_equal(parse(text, &m, err, sizeof(err)), SDV_EPARSE);
    assert_non_null(strstr(err, "args: at most 64"));
    sdv_app_manifest_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good_manifest),
            cmocka_unit_test(test_purpose_manifest),
            cmocka_unit_test(test_bad_manifests),
            cmocka_unit_test(test_too_many_args),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
