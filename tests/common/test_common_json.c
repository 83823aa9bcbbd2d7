/* Tests of the canonical JSON writer and the untrusted-input JSON parser. */
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

#include <sdv/common.h>
#include <sdv/limits.h>

/* Parses text with sdv_json_parse, canonicalises it and compares with expect. */
static void expect_canonical(const char *text, const char *expect)
{
    char err[256];
    json_t *v = NULL;
    struct sdv_buf b;

    if (sdv_json_parse(text, strlen(text), &v, err, sizeof(err)) != SDV_OK)
        fail_msg("parse of %s failed: %s", text, err);
    sdv_buf_init(&b, 1 << 20);
    assert_int_equal(sdv_cjson_write(v, &b), SDV_OK);
    assert_string_equal((char *)b.data, expect);
    assert_int_equal(b.len, strlen(expect));
    sdv_buf_free(&b);
    json_decref(v);
}

static void test_known_vector(void **state)
{
    (void)state;
    expect_canonical("{\"b\":[1,\"x\\\"y\\\\z\",true,null],\"a\":{}}",
                     "{\"a\":{},\"b\":[1,\"x\\\"y\\\\z\",true,null]}");
}

static void test_whitespace_removed_and_scalars(void **state)
{
    (void)state;
    expect_canonical(" { \"k\" : [ 1 , -2 , false ] }\n", "{\"k\":[1,-2,false]}");
    expect_canonical("[]", "[]");
    expect_canonical("{}", "{}");
    expect_canonical("[9223372036854775807,-9223372036854775808,0]",
                     "[9223372036854775807,-9223372036854775808,0]");
    expect_canonical("\"top\"", "\"top\"");
    expect_canonical("null", "null");
}

static void test_key_order(void **state)
{
    (void)state;
    /* Byte order: uppercase before lowercase, a prefix before its extensions. */
    expect_canonical("{\"b\":1,\"a\":2,\"B\":3,\"ab\":4,\"\":5,\"a0\":6}",
                     "{\"\":5,\"B\":3,\"a\":2,\"a0\":6,\"ab\":4,\"b\":1}");
    /* UTF-8 bytes: U+00E9 (c3 a9) < U+4E2D (e4 b8 ad) < U+1F600 (f0 9f 98 80), all after z. */
    expect_canonical("{\"\\ud83d\\ude00\":1,\"\xe4\xb8\xad\":2,\"z\":3,\"\\u00e9\":4}",
                     "{\"z\":3,\"\xc3\xa9\":4,\"\xe4\xb8\xad\":2,\"\xf0\x9f\x98\x80\":1}");
    /* Objects nested in arrays are sorted too. */
    expect_canonical("[{\"y\":{\"d\":1,\"c\":2},\"x\":[{\"q\":1,\"p\":2}]}]",
                     "[{\"x\":[{\"p\":2,\"q\":1}],\"y\":{\"c\":2,\"d\":1}}]");
}

static void test_escaping(void **state)
{
    (void)state;
    /* Only '"' and '\\' are escaped; control characters and '/' go out raw. */
    expect_canonical("[\"a\\\"b\",\"c\\\\d\",\"e\\nf\",\"\\t\",\"\\/\",\"\\u0001\"]",
                     "[\"a\\\"b\",\"c\\\\d\",\"e\nf\",\"\t\",\"/\",\"\x01\"]");
    expect_canonical("{\"k\\\"ey\":\"\\\\\"}", "{\"k\\\"ey\":\"\\\\\"}");
    /* Non-ASCII stays as raw UTF-8, never \u escapes. */
    expect_canonical("[\"\\u00e9\xe2\x82\xac\"]", "[\"\xc3\xa9\xe2\x82\xac\"]");
}

static void test_reals_rejected(void **state)
{
    json_t *v = json_pack("{s:[i,f]}", "a", 1, 1.5);
    struct sdv_buf b;

    (void)state;
    sdv_buf_init(&b, 1024);
    assert_int_equal(sdv_buf_puts(&b, "keep"), SDV_OK);
    assert_int_equal(sdv_cjson_write(v, &b), SDV_EUNSUPPORTED);
    /* Nothing half-written is left behind. */
    assert_string_equal((char *)b.data, "keep");
    json_decref(v);
    v = json_real(0.0);
    assert_int_equal(sdv_cjson_write(v, &b), SDV_EUNSUPPORTED);
    json_decref(v);
    sdv_buf_free(&b);
}

/* Builds n nested arrays around an integer, without recursion. */
static json_t *nested_arrays(int n)
{
    json_t *v = json_integer(1);
    int i;

    for (i = 0; i < n; i++) {
        json_t *a = json_array();

        json_array_append_new(a, v);
        v = a;
    }
    return v;
}

static void test_write_depth_limit(void **state)
{
    json_t *ok = nested_arrays(SDV_JSON_DEPTH_MAX);
    json_t *deep = nested_arrays(SDV_JSON_DEPTH_MAX + 1);
    json_t *obj = json_object();
    struct sdv_buf b;

    (void)state;
    sdv_buf_init(&b, 1 << 16);
    assert_int_equal(sdv_cjson_write(ok, &b), SDV_OK);
    assert_int_equal(b.len, 2 * SDV_JSON_DEPTH_MAX + 1);
    sdv_buf_reset(&b);
    assert_int_equal(sdv_cjson_write(deep, &b), SDV_ELIMIT);
    assert_int_equal(b.len, 0);
    /* A deep value under object keys (with sorted member arrays to free) fails the same way. */
    json_object_set_new(obj, "b", json_integer(1));
    json_object_set(obj, "a", deep);
    assert_int_equal(sdv_cjson_write(obj, &b), SDV_ELIMIT);
    json_decref(obj);
    json_decref(deep);
    json_decref(ok);
    sdv_buf_free(&b);
}

static void test_write_cycle_is_bounded(void **state)
{
    json_t *a = json_array(), *c = json_array();
    struct sdv_buf b;

    (void)state;
    /* jansson refuses direct self-insertion, so build a two-step cycle. */
    json_array_append(a, c);
    json_array_append(c, a);
    sdv_buf_init(&b, 1 << 16);
    assert_int_equal(sdv_cjson_write(a, &b), SDV_ELIMIT);
    sdv_buf_free(&b);
    json_array_clear(c);
    json_decref(c);
    json_decref(a);
}

static void test_write_respects_buffer_max(void **state)
{
    json_t *v = json_pack("{s:s}", "key", "a fairly long value");
    struct sdv_buf b;

    (void)state;
    sdv_buf_init(&b, 10);
    assert_int_equal(sdv_cjson_write(v, &b), SDV_ETOOBIG);
    assert_int_equal(b.len, 0);
    sdv_buf_free(&b);
    sdv_buf_init(&b, strlen("{\"key\":\"a fairly long value\"}"));
    assert_int_equal(sdv_cjson_write(v, &b), SDV_OK);
    sdv_buf_free(&b);
    json_decref(v);
}

static void test_write_string_with_nul(void **state)
{
    json_t *v = json_array();
    struct sdv_buf b;

    (void)state;
    json_array_append_new(v, json_stringn("a\0b", 3));
    sdv_buf_init(&b, 64);
    assert_int_equal(sdv_cjson_write(v, &b), SDV_OK);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "[\"a\0b\"]", 7);
    sdv_buf_free(&b);
    json_decref(v);
}

static void expect_parse_error(const char *text, size_t len, const char *fragment)
{
    char err[256] = "untouched";
    json_t *v = (json_t *)&v;

    assert_int_equal(sdv_json_parse(text, len, &v, err, sizeof(err)), SDV_EPARSE);
    assert_null(v);
    if (strstr(err, fragment) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err, fragment);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    expect_parse_error("{\"a\":1,\"a\":2}", 13, "line 1 column");
    expect_parse_error("{\"a\":1} x", 9, "line 1 column");
    expect_parse_error("{\"a\":1}{}", 9, "line");
    expect_parse_error("[\"\\u0000\"]", 10, "line 1 column");
    expect_parse_error("[\"a\0\"]", 6, "line 1 column");
    expect_parse_error("[1]\0", 4, "line");
    expect_parse_error("", 0, "line");
    expect_parse_error("[\"\xff\"]", 5, "line");
    expect_parse_error("{\n\"a\":\n}", 8, "line 3 column 1");
}

static void test_parse_depth(void **state)
{
    char text[2 * (SDV_JSON_DEPTH_MAX + 1) + 8];
    char err[128];
    json_t *v = NULL;
    int i;

    (void)state;
    for (i = 0; i < SDV_JSON_DEPTH_MAX; i++) {
        text[i] = '[';
        text[SDV_JSON_DEPTH_MAX + i] = ']';
    }
    assert_int_equal(sdv_json_parse(text, 2 * SDV_JSON_DEPTH_MAX, &v, err, sizeof(err)), SDV_OK);
    json_decref(v);
    for (i = 0; i <= SDV_JSON_DEPTH_MAX; i++) {
        text[i] = '[';
        text[SDV_JSON_DEPTH_MAX + 1 + i] = ']';
    }
    expect_parse_error(text, 2 * (SDV_JSON_DEPTH_MAX + 1), "nesting deeper than");
}

static void test_parse_deep_objects(void **state)
{
    struct sdv_buf b;
    json_t *v = NULL;
    int i;

    (void)state;
    sdv_buf_init(&b, 1 << 16);
    for (i = 0; i <= SDV_JSON_DEPTH_MAX; i++)
        assert_int_equal(sdv_buf_puts(&b, i % 2 ? "{\"k\":" : "["), SDV_OK);
    for (i = SDV_JSON_DEPTH_MAX; i >= 0; i--)
        assert_int_equal(sdv_buf_puts(&b, i % 2 ? "}" : "]"), SDV_OK);
    assert_int_equal(sdv_json_parse(b.data, b.len, &v, NULL, 0), SDV_EPARSE);
    assert_null(v);
    /* jansson's own limit (far deeper) is an ordinary parse error as well. */
    sdv_buf_reset(&b);
    for (i = 0; i < 5000; i++)
        assert_int_equal(sdv_buf_putc(&b, '['), SDV_OK);
    assert_int_equal(sdv_json_parse(b.data, b.len, &v, NULL, 0), SDV_EPARSE);
    sdv_buf_free(&b);
}

static void test_parse_accepts_tuf_like(void **state)
{
    const char *text = "{\"signed\":{\"_type\":\"root\",\"version\":1,"
                       "\"expires\":\"2030-01-01T00:00:00Z\",\"keys\":{}},\"signatures\":[]}";
    char err[64];
    json_t *v = NULL;

    (void)state;
    assert_int_equal(sdv_json_parse(text, strlen(text), &v, err, sizeof(err)), SDV_OK);
    assert_string_equal(err, "");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "signed"), "version")),
                     1);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_known_vector),
            cmocka_unit_test(test_whitespace_removed_and_scalars),
            cmocka_unit_test(test_key_order),
            cmocka_unit_test(test_escaping),
            cmocka_unit_test(test_reals_rejected),
            cmocka_unit_test(test_write_depth_limit),
            cmocka_unit_test(test_write_cycle_is_bounded),
            cmocka_unit_test(test_write_respects_buffer_max),
            cmocka_unit_test(test_write_string_with_nul),
            cmocka_unit_test(test_parse_rejects),
            cmocka_unit_test(test_parse_depth),
            cmocka_unit_test(test_parse_deep_objects),
            cmocka_unit_test(test_parse_accepts_tuf_like),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
