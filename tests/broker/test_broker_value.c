/*
 * test_broker_value.c - the broker's value type: every VSS datatype converts from JSON exactly
 * (bounds of each integer type accepted, one past refused, fractions and junk refused, never
 * truncated), converts back to JSON and text, validates decoded values, and orders numbers of
 * different types exactly.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/broker.h>
#include <sdv/broker_proto.h>

#include "broker/value_text_ref.h"

static struct sdv_buf scratch;
static char err[256];

static int setup(void **state)
{
    (void)state;
    sdv_buf_init(&scratch, 1024 * 1024);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdv_buf_free(&scratch);
    return 0;
}

/* Parses JSON text as datatype dt; returns the error and fills *v. */
static enum sdv_err from(enum sdv_broker_datatype dt, const char *json_text,
                         struct sdv_broker_value *v)
{
    json_t *j = json_loads(json_text, JSON_DECODE_ANY, NULL);
    enum sdv_err rc;

    assert_non_null(j);
    err[0] = '\0';
    rc = sdv_broker_value_from_json(dt, j, &scratch, v, err, sizeof(err));
    json_decref(j);
    return rc;
}

static void test_datatype_names(void **state)
{
    unsigned e;
    enum sdv_broker_datatype dt;

    (void)state;
    for (e = SDV_BROKER_DT_BOOLEAN; e <= SDV_BROKER_DT_STRING; e++) {
        enum sdv_broker_datatype scalar = (enum sdv_broker_datatype)e;
        enum sdv_broker_datatype arr = (enum sdv_broker_datatype)(e | SDV_BROKER_DT_ARRAY);

        assert_true(sdv_broker_datatype_valid(e));
        assert_true(sdv_broker_datatype_valid(e | SDV_BROKER_DT_ARRAY));
        assert_int_equal(sdv_broker_datatype_parse(sdv_broker_datatype_name(scalar), &dt), SDV_OK);
        assert_int_equal(dt, scalar);
        assert_int_equal(sdv_broker_datatype_parse(sdv_broker_datatype_name(arr), &dt), SDV_OK);
        assert_int_equal(dt, arr);
    }
    assert_string_equal(sdv_broker_datatype_name(SDV_BROKER_DT_UINT8_ARRAY), "uint8[]");
    assert_false(sdv_broker_datatype_valid(0));
    assert_false(sdv_broker_datatype_valid(13));
    assert_false(sdv_broker_datatype_valid(0x20));
    assert_false(sdv_broker_datatype_valid(0x41));
    assert_false(sdv_broker_datatype_valid(0x2d));
    assert_int_equal(sdv_broker_datatype_parse("Types.MyStruct", &dt), SDV_EPARSE);
    assert_int_equal(sdv_broker_datatype_elem_size(SDV_BROKER_DT_INT16_ARRAY), 2);
    assert_int_equal(sdv_broker_datatype_elem_size(SDV_BROKER_DT_STRING), 0);
}

/* Each integer type: both bounds accepted (as JSON numbers and as VISS strings), one past each
 * refused with SDV_ERANGE and a message naming the type. */
static void test_integer_bounds(void **state)
{
    static const struct {
        enum sdv_broker_datatype dt;
        const char *min, *max, *below, *above;
    } cases[] = {
            {SDV_BROKER_DT_INT8, "-128", "127", "-129", "128"},
            {SDV_BROKER_DT_INT16, "-32768", "32767", "-32769", "32768"},
            {SDV_BROKER_DT_INT32, "-2147483648", "2147483647", "-2147483649", "2147483648"},
            {SDV_BROKER_DT_INT64, "-9223372036854775808", "9223372036854775807",
             "-9223372036854775809", "9223372036854775808"},
            {SDV_BROKER_DT_UINT8, "0", "255", "-1", "256"},
            {SDV_BROKER_DT_UINT16, "0", "65535", "-1", "65536"},
            {SDV_BROKER_DT_UINT32, "0", "4294967295", "-1", "4294967296"},
            {SDV_BROKER_DT_UINT64, "0", "18446744073709551615", "-1", "18446744073709551616"},
    };
    struct sdv_broker_value v;
    char text[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *name = sdv_broker_datatype_name(cases[i].dt);
        bool is_signed = cases[i].dt <= SDV_BROKER_DT_INT64;

        snprintf(text, sizeof(text), "\"%s\"", cases[i].min);
        assert_int_equal(from(cases[i].dt, text, &v), SDV_OK);
        assert_int_equal(v.type, cases[i].dt);
        if (is_signed)
            assert_true(v.v.i == strtoll(cases[i].min, NULL, 10));
        else
            assert_true(v.v.u == 0);
        snprintf(text, sizeof(text), "\"%s\"", cases[i].max);
        assert_int_equal(from(cases[i].dt, text, &v), SDV_OK);
        if (is_signed)
            assert_true(v.v.i == strtoll(cases[i].max, NULL, 10));
        else
            assert_true(v.v.u == strtoull(cases[i].max, NULL, 10));
        snprintf(text, sizeof(text), "\"%s\"", cases[i].below);
        assert_int_equal(from(cases[i].dt, text, &v), SDV_ERANGE);
        assert_non_null(strstr(err, name));
        snprintf(text, sizeof(text), "\"%s\"", cases[i].above);
        assert_int_equal(from(cases[i].dt, text, &v), SDV_ERANGE);
        assert_non_null(strstr(err, cases[i].above));
        /* As JSON numbers where jansson can carry them (up to int64). */
        if (cases[i].dt != SDV_BROKER_DT_UINT64 && cases[i].dt != SDV_BROKER_DT_INT64) {
            assert_int_equal(from(cases[i].dt, cases[i].max, &v), SDV_OK);
            assert_int_equal(from(cases[i].dt, cases[i].above, &v), SDV_ERANGE);
            assert_int_equal(from(cases[i].dt, cases[i].below, &v), SDV_ERANGE);
        }
    }
    /* uint64 above 2^63 as a string is exact, not rounded through a double. */
    assert_int_equal(from(SDV_BROKER_DT_UINT64, "\"18446744073709551615\"", &v), SDV_OK);
    assert_true(v.v.u == UINT64_MAX);
    /* Far beyond 64 bits. */
    assert_int_equal(from(SDV_BROKER_DT_INT64, "\"123456789012345678901234567890\"", &v),
                     SDV_ERANGE);
    assert_int_equal(from(SDV_BROKER_DT_UINT8, "\"-0\"", &v), SDV_OK);
    assert_true(v.v.u == 0);
}

static void test_integer_syntax(void **state)
{
    struct sdv_broker_value v;

    (void)state;
    /* Fractions are refused, integral reals accepted exactly. */
    assert_int_equal(from(SDV_BROKER_DT_INT32, "3.5", &v), SDV_EINVAL);
    assert_non_null(strstr(err, "not an integer"));
    assert_int_equal(from(SDV_BROKER_DT_INT32, "3.0", &v), SDV_OK);
    assert_true(v.v.i == 3);
    assert_int_equal(from(SDV_BROKER_DT_UINT8, "256.0", &v), SDV_ERANGE);
    assert_int_equal(from(SDV_BROKER_DT_INT64, "1e30", &v), SDV_ERANGE);
    assert_int_equal(from(SDV_BROKER_DT_INT16, "\"3.5\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_INT16, "\"12abc\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_INT16, "\" 12\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_INT16, "\"+12\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_INT16, "\"0x10\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_INT16, "\"\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_INT16, "\"-\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_INT16, "true", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_INT16, "null", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_INT16, "[1]", &v), SDV_EINVAL);
}

static void test_float_double(void **state)
{
    struct sdv_broker_value v;

    (void)state;
    assert_int_equal(from(SDV_BROKER_DT_FLOAT, "\"42.5\"", &v), SDV_OK);
    assert_true(v.v.f == 42.5f);
    assert_int_equal(from(SDV_BROKER_DT_FLOAT, "-7", &v), SDV_OK);
    assert_true(v.v.f == -7.0f);
    assert_int_equal(from(SDV_BROKER_DT_FLOAT, "3.4028234e38", &v), SDV_OK);
    assert_int_equal(from(SDV_BROKER_DT_FLOAT, "1e39", &v), SDV_ERANGE);
    assert_non_null(strstr(err, "float"));
    assert_int_equal(from(SDV_BROKER_DT_FLOAT, "\"1e39\"", &v), SDV_ERANGE);
    assert_int_equal(from(SDV_BROKER_DT_DOUBLE, "\"1e39\"", &v), SDV_OK);
    assert_true(v.v.d == 1e39);
    assert_int_equal(from(SDV_BROKER_DT_DOUBLE, "\"1e400\"", &v), SDV_ERANGE);
    assert_int_equal(from(SDV_BROKER_DT_DOUBLE, "\"nan\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_DOUBLE, "\"inf\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_DOUBLE, "\"0x1p3\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_DOUBLE, "\"1.5 \"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_DOUBLE, "\"\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_DOUBLE, "\"-90.000001\"", &v), SDV_OK);
    assert_true(v.v.d == -90.000001);
    assert_int_equal(from(SDV_BROKER_DT_DOUBLE, "false", &v), SDV_EINVAL);
}

static void test_boolean_string(void **state)
{
    struct sdv_broker_value v;
    json_t *j;

    (void)state;
    assert_int_equal(from(SDV_BROKER_DT_BOOLEAN, "true", &v), SDV_OK);
    assert_true(v.v.b);
    assert_int_equal(from(SDV_BROKER_DT_BOOLEAN, "\"false\"", &v), SDV_OK);
    assert_false(v.v.b);
    assert_int_equal(from(SDV_BROKER_DT_BOOLEAN, "1", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_BOOLEAN, "\"TRUE\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_STRING, "\"UP\"", &v), SDV_OK);
    assert_int_equal(v.len, 2);
    assert_memory_equal(v.v.p, "UP", 2);
    assert_int_equal(from(SDV_BROKER_DT_STRING, "12", &v), SDV_EINVAL);
    /* A string with NUL inside is refused (jansson carries it with JSON_ALLOW_NUL). */
    j = json_stringn("a\0b", 3);
    assert_int_equal(
            sdv_broker_value_from_json(SDV_BROKER_DT_STRING, j, &scratch, &v, err, sizeof(err)),
            SDV_EINVAL);
    json_decref(j);
}

static void test_arrays(void **state)
{
    struct sdv_broker_value v;
    uint16_t u16[3];
    float f[2];

    (void)state;
    assert_int_equal(from(SDV_BROKER_DT_UINT16_ARRAY, "[1, \"2\", 65535]", &v), SDV_OK);
    assert_int_equal(v.count, 3);
    assert_int_equal(v.len, 6);
    memcpy(u16, v.v.p, sizeof(u16));
    assert_int_equal(u16[0], 1);
    assert_int_equal(u16[2], 65535);
    assert_int_equal(from(SDV_BROKER_DT_UINT16_ARRAY, "[1, 65536]", &v), SDV_ERANGE);
    assert_non_null(strstr(err, "element 1"));
    assert_int_equal(from(SDV_BROKER_DT_FLOAT_ARRAY, "[0.5, \"-1.25\"]", &v), SDV_OK);
    memcpy(f, v.v.p, sizeof(f));
    assert_true(f[0] == 0.5f && f[1] == -1.25f);
    assert_int_equal(from(SDV_BROKER_DT_STRING_ARRAY, "[\"ANDROID_AUTO\", \"\", \"x\"]", &v),
                     SDV_OK);
    assert_int_equal(v.count, 3);
    assert_int_equal(v.len, 13 + 1 + 2);
    assert_memory_equal(v.v.p, "ANDROID_AUTO\0\0x\0", 16);
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_OK);
    /* VISS clients may send an array as a string holding JSON. */
    assert_int_equal(from(SDV_BROKER_DT_BOOLEAN_ARRAY, "\"[true, false]\"", &v), SDV_OK);
    assert_int_equal(v.count, 2);
    assert_int_equal(((const uint8_t *)v.v.p)[0], 1);
    assert_int_equal(from(SDV_BROKER_DT_BOOLEAN_ARRAY, "\"true\"", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_INT8_ARRAY, "[]", &v), SDV_OK);
    assert_int_equal(v.count, 0);
    assert_int_equal(from(SDV_BROKER_DT_INT8_ARRAY, "5", &v), SDV_EINVAL);
    assert_int_equal(from(SDV_BROKER_DT_STRING_ARRAY, "[\"a\", 1]", &v), SDV_EINVAL);
}

/* A value read from the wire is checked for shape before anyone trusts it. */
static void test_validate(void **state)
{
    struct sdv_broker_value v;
    uint8_t bools[2] = {1, 2};
    int16_t i16 = 5;

    (void)state;
    memset(&v, 0, sizeof(v));
    v.type = SDV_BROKER_DT_INT8;
    v.v.i = 200;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
    v.type = SDV_BROKER_DT_UINT16;
    v.v.u = 70000;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
    v.type = SDV_BROKER_DT_FLOAT;
    v.v.f = NAN;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
    v.type = SDV_BROKER_DT_DOUBLE;
    v.v.d = INFINITY;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
    v.type = (enum sdv_broker_datatype)13;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
    v.type = SDV_BROKER_DT_STRING;
    v.v.p = "\xc3\x28";
    v.len = 2;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
    assert_non_null(strstr(err, "UTF-8"));
    v.v.p = "caf\xc3\xa9";
    v.len = 5;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_OK);
    v.type = SDV_BROKER_DT_BOOLEAN_ARRAY;
    v.v.p = bools;
    v.count = 2;
    v.len = 2;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
    v.type = SDV_BROKER_DT_INT16_ARRAY;
    v.v.p = &i16;
    v.count = 2; /* 2 elements need 4 bytes */
    v.len = 2;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
    v.type = SDV_BROKER_DT_STRING_ARRAY;
    v.v.p = "a\0b";
    v.count = 2;
    v.len = 3; /* the second string has no terminator */
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
    v.len = 4;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_OK);
    v.count = 1; /* bytes after the last string */
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
    v.type = SDV_BROKER_DT_UINT8_ARRAY;
    v.count = SDV_BROKER_ARRAY_LEN_MAX + 1;
    v.len = v.count;
    assert_int_equal(sdv_broker_value_validate(&v, err, sizeof(err)), SDV_EINVAL);
}

/* JSON out and back gives the same value, for every type, in both JSON forms. */
static void test_json_round_trip(void **state)
{
    static const struct {
        enum sdv_broker_datatype dt;
        const char *json;
        const char *viss; /* SDV_BROKER_JSON_STRINGS form */
    } cases[] = {
            {SDV_BROKER_DT_BOOLEAN, "true", "\"true\""},
            {SDV_BROKER_DT_INT8, "-128", "\"-128\""},
            {SDV_BROKER_DT_INT64, "-9223372036854775808", "\"-9223372036854775808\""},
            {SDV_BROKER_DT_UINT64, "\"18446744073709551615\"", "\"18446744073709551615\""},
            {SDV_BROKER_DT_UINT32, "4294967295", "\"4294967295\""},
            {SDV_BROKER_DT_FLOAT, "0.1", "\"0.1\""},
            {SDV_BROKER_DT_FLOAT, "3.4028235e+38", "\"3.4028235e+38\""},
            {SDV_BROKER_DT_DOUBLE, "0.1", "\"0.1\""},
            {SDV_BROKER_DT_DOUBLE, "-90.000001", "\"-90.000001\""},
            {SDV_BROKER_DT_STRING, "\"h\\u00e9\\\"llo\"", "\"h\\u00e9\\\"llo\""},
            {SDV_BROKER_DT_UINT8_ARRAY, "[2, 3]", "[\"2\", \"3\"]"},
            /* Packed elements of every integer width keep their sign and extremes. */
            {SDV_BROKER_DT_INT8_ARRAY, "[-128, -1, 127]", "[\"-128\", \"-1\", \"127\"]"},
            {SDV_BROKER_DT_INT16_ARRAY, "[-32768, -2, 32767]", "[\"-32768\", \"-2\", \"32767\"]"},
            {SDV_BROKER_DT_INT32_ARRAY, "[-2147483648, -3, 2147483647]",
             "[\"-2147483648\", \"-3\", \"2147483647\"]"},
            {SDV_BROKER_DT_INT64_ARRAY, "[-9223372036854775808, -4, 9223372036854775807]",
             "[\"-9223372036854775808\", \"-4\", \"9223372036854775807\"]"},
            {SDV_BROKER_DT_UINT16_ARRAY, "[65535, 0]", "[\"65535\", \"0\"]"},
            {SDV_BROKER_DT_UINT32_ARRAY, "[4294967295, 1]", "[\"4294967295\", \"1\"]"},
            {SDV_BROKER_DT_UINT64_ARRAY, "[\"18446744073709551615\", 2]",
             "[\"18446744073709551615\", \"2\"]"},
            {SDV_BROKER_DT_BOOLEAN_ARRAY, "[true, false]", "[\"true\", \"false\"]"},
            {SDV_BROKER_DT_FLOAT_ARRAY, "[0.5, -0.25]", "[\"0.5\", \"-0.25\"]"},
            {SDV_BROKER_DT_STRING_ARRAY, "[\"A\", \"B\"]", "[\"A\", \"B\"]"},
            {SDV_BROKER_DT_DOUBLE_ARRAY, "[1.5, -2]", "[\"1.5\", \"-2\"]"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sdv_broker_value v, w;
        struct sdv_buf keep;
        json_t *out, *expect;
        unsigned flags;

        assert_int_equal(from(cases[i].dt, cases[i].json, &v), SDV_OK);
        sdv_buf_init(&keep, 1024);
        /* Keep v's payload while scratch is reused for w. */
        if (v.len > 0) {
            assert_int_equal(sdv_buf_append(&keep, v.v.p, v.len), SDV_OK);
            v.v.p = keep.data;
        }
        for (flags = 0; flags <= SDV_BROKER_JSON_STRINGS; flags += SDV_BROKER_JSON_STRINGS) {
            assert_int_equal(sdv_broker_value_to_json(&v, flags, &out), SDV_OK);
            if (flags != 0) {
                expect = json_loads(cases[i].viss, JSON_DECODE_ANY, NULL);
                assert_non_null(expect);
                if (!json_equal(out, expect)) {
                    char *d = json_dumps(out, JSON_ENCODE_ANY);

                    fail_msg("case %zu: got %s, expected %s", i, d, cases[i].viss);
                }
                json_decref(expect);
            }
            assert_int_equal(
                    sdv_broker_value_from_json(cases[i].dt, out, &scratch, &w, err, sizeof(err)),
                    SDV_OK);
            assert_true(sdv_broker_value_equal(&v, &w));
            json_decref(out);
        }
        sdv_buf_free(&keep);
    }
}

static void test_format_and_parse(void **state)
{
    struct sdv_buf out;
    struct sdv_broker_value v;

    (void)state;
    sdv_buf_init(&out, 4096);
    assert_int_equal(
            sdv_broker_value_parse(SDV_BROKER_DT_FLOAT, "22.5", 4, &scratch, &v, err, sizeof(err)),
            SDV_OK);
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_OK);
    assert_string_equal((char *)out.data, "22.5");
    sdv_buf_reset(&out);
    assert_int_equal(
            sdv_broker_value_parse(SDV_BROKER_DT_UINT8, "300", 3, &scratch, &v, err, sizeof(err)),
            SDV_ERANGE);
    assert_int_equal(sdv_broker_value_parse(SDV_BROKER_DT_STRING, "two words", 9, &scratch, &v, err,
                                            sizeof(err)),
                     SDV_OK);
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_OK);
    assert_string_equal((char *)out.data, "two words");
    sdv_buf_reset(&out);
    assert_int_equal(sdv_broker_value_parse(SDV_BROKER_DT_STRING_ARRAY, "[\"a\",\"b\\\"\"]", 11,
                                            &scratch, &v, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_OK);
    assert_string_equal((char *)out.data, "[\"a\",\"b\\\"\"]");
    sdv_buf_reset(&out);
    assert_int_equal(sdv_broker_value_parse(SDV_BROKER_DT_STRING_ARRAY, "[\"x\\ny\\u0001\"]", 14,
                                            &scratch, &v, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_OK);
    assert_string_equal((char *)out.data, "[\"x\\ny\\u0001\"]");
    sdv_buf_reset(&out);
    assert_int_equal(sdv_broker_value_parse(SDV_BROKER_DT_INT8_ARRAY, "1,2", 3, &scratch, &v, err,
                                            sizeof(err)),
                     SDV_EINVAL);
    memset(&v, 0, sizeof(v));
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_OK);
    assert_string_equal((char *)out.data, "null");
    sdv_buf_free(&out);
}

static struct sdv_broker_value num_i(int64_t i)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_INT64, .count = 1, .v.i = i};

    return v;
}

static struct sdv_broker_value num_u(uint64_t u)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_UINT64, .count = 1, .v.u = u};

    return v;
}

static struct sdv_broker_value num_d(double d)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_DOUBLE, .count = 1, .v.d = d};

    return v;
}

static int cmp(struct sdv_broker_value a, struct sdv_broker_value b)
{
    int c = 99;

    assert_int_equal(sdv_broker_value_compare(&a, &b, &c), SDV_OK);
    return c;
}

/* Ordering across types never goes wrong through a double conversion. */
static void test_compare_exact(void **state)
{
    struct sdv_broker_value s1, s2, arr;

    (void)state;
    assert_int_equal(cmp(num_i(INT64_MAX), num_u((uint64_t)INT64_MAX + 1u)), -1);
    assert_int_equal(cmp(num_i(-1), num_u(0)), -1);
    assert_int_equal(cmp(num_u(UINT64_MAX), num_u(UINT64_MAX - 1)), 1);
    assert_int_equal(cmp(num_i(0), num_d(0.5)), -1);
    assert_int_equal(cmp(num_i(1), num_d(0.5)), 1);
    assert_int_equal(cmp(num_i(-1), num_d(-0.5)), -1);
    assert_int_equal(cmp(num_d(9007199254740992.0), num_i(9007199254740993)), -1);
    assert_int_equal(cmp(num_u(UINT64_MAX), num_d(18446744073709551616.0)), -1);
    assert_int_equal(cmp(num_i(5), num_d(5.0)), 0);
    s1.type = s2.type = SDV_BROKER_DT_STRING;
    s1.count = s2.count = 1;
    s1.v.p = "ab";
    s1.len = 2;
    s2.v.p = "abc";
    s2.len = 3;
    assert_int_equal(cmp(s1, s2), -1);
    memset(&arr, 0, sizeof(arr));
    arr.type = SDV_BROKER_DT_UINT8_ARRAY;
    assert_int_equal(sdv_broker_value_compare(&arr, &s1, &(int){0}), SDV_EINVAL);
    {
        struct sdv_broker_value one = num_i(1);

        assert_int_equal(sdv_broker_value_compare(&s1, &one, &(int){0}), SDV_EINVAL);
    }
    {
        struct sdv_broker_value z = num_d(0.0), nz = num_d(-0.0);

        assert_true(sdv_broker_value_equal(&z, &nz));
    }
    assert_false(sdv_broker_value_equal(
            &(struct sdv_broker_value){.type = SDV_BROKER_DT_INT64, .v.i = 1},
            &(struct sdv_broker_value){.type = SDV_BROKER_DT_UINT64, .v.u = 1}));
}

static void test_ops(void **state)
{
    enum sdv_broker_op op;

    (void)state;
    assert_int_equal(sdv_broker_op_parse("gte", &op), SDV_OK);
    assert_int_equal(op, SDV_BROKER_OP_GE);
    assert_int_equal(sdv_broker_op_parse("le", &op), SDV_OK);
    assert_int_equal(op, SDV_BROKER_OP_LE);
    assert_int_equal(sdv_broker_op_parse("ne", &op), SDV_OK);
    assert_int_equal(op, SDV_BROKER_OP_NE);
    assert_int_equal(sdv_broker_op_parse("GT", &op), SDV_EPARSE);
    assert_int_equal(sdv_broker_op_parse("", &op), SDV_EPARSE);
}

/* ---- The text of numbers: the formatter without printf against the printf definition ---- */

/* ref_float_text (value_text_ref.h) is the definition every byte the formatter writes must
 * match. */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

/* splitmix64: a fixed sequence, so a failure reproduces. */
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned long fmt_checked;

/* Formats f through the public API and compares it with the definition, byte for byte, and
 * its reading back, bit for bit. */
static void check_float(float f)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT, .count = 1};
    struct sdv_buf out;
    char want[64];
    float back;

    if (!isfinite(f))
        return;
    v.v.f = f;
    sdv_buf_init(&out, 256);
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_OK);
    assert_int_equal(sdv_buf_putc(&out, '\0'), SDV_OK);
    ref_float_text(f, true, want, sizeof(want));
    if (strcmp((const char *)out.data, want) != 0)
        fail_msg("float %a: \"%s\", want \"%s\"", (double)f, (const char *)out.data, want);
    back = strtof((const char *)out.data, NULL);
    assert_memory_equal(&back, &f, sizeof(f));
    sdv_buf_free(&out);
    fmt_checked++;
}

static void check_double(double d)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_DOUBLE, .count = 1};
    struct sdv_buf out;
    char want[64];
    double back;

    if (!isfinite(d))
        return;
    v.v.d = d;
    sdv_buf_init(&out, 256);
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_OK);
    assert_int_equal(sdv_buf_putc(&out, '\0'), SDV_OK);
    ref_float_text(d, false, want, sizeof(want));
    if (strcmp((const char *)out.data, want) != 0)
        fail_msg("double %a: \"%s\", want \"%s\"", d, (const char *)out.data, want);
    back = strtod((const char *)out.data, NULL);
    assert_memory_equal(&back, &d, sizeof(d));
    sdv_buf_free(&out);
    fmt_checked++;
}

static float float_of_bits(uint32_t b)
{
    float f;

    memcpy(&f, &b, 4);
    return f;
}

static double double_of_bits(uint64_t b)
{
    double d;

    memcpy(&d, &b, 8);
    return d;
}

/* Each value, its neighbours and its negation. */
static void check_float_around(float f)
{
    check_float(f);
    check_float(-f);
    check_float(nextafterf(f, INFINITY));
    check_float(nextafterf(f, -INFINITY));
}

static void check_double_around(double d)
{
    check_double(d);
    check_double(-d);
    check_double(nextafter(d, INFINITY));
    check_double(nextafter(d, -INFINITY));
}

/* How many random values per type: SDV_TEST_FORMAT_COUNT for a longer run. */
static unsigned long random_count(void)
{
    const char *env = getenv("SDV_TEST_FORMAT_COUNT");
    unsigned long n = env != NULL ? strtoul(env, NULL, 10) : 0;

    return n > 0 ? n : 60000;
}

static void test_float_text_exact(void **state)
{
    static const double grid[] = {1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1,  1,    10,
                                  100,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10,
                                  1e12, 1e15, 1e16, 1e17, 1e18, 1e20, 1e21, 1e22, 1e23};
    unsigned long i, n = random_count();
    int k;

    (void)state;
    fmt_checked = 0;
    /* Edges: zeros, subnormals, normal bounds, every power of two and of ten. */
    check_float(0.0f);
    check_float(-0.0f);
    check_float_around(float_of_bits(1));
    check_float_around(float_of_bits(0x007fffffu));
    check_float_around(FLT_MIN);
    check_float_around(FLT_MAX);
    check_float_around(FLT_EPSILON);
    for (k = -149; k <= 127; k++)
        check_float_around(ldexpf(1.0f, k));
    for (k = -45; k <= 38; k++)
        check_float_around(strtof("1", NULL) * (float)pow(10, k));
    for (k = -45; k <= 38; k++) {
        char t[16];

        snprintf(t, sizeof(t), "1e%d", k);
        check_float_around(strtof(t, NULL));
    }
    /* What sensors send: integers, decimals with a few digits, scaled grids. */
    for (i = 0; i < 20000; i++) {
        check_float((float)i);
        check_float((float)i / 10.0f);
        check_float((float)i / 100.0f);
        check_float((float)((double)i * 0.001));
    }
    for (k = 0; k < (int)(sizeof(grid) / sizeof(grid[0])); k++)
        for (i = 1; i < 1000; i++)
            check_float((float)(grid[k] * (double)i * 1.37));
    /* Random bit patterns and random values of every magnitude. */
    for (i = 0; i < n; i++) {
        uint64_t r = rng_next();

        check_float(float_of_bits((uint32_t)r));
        check_float((float)ldexp((double)(r >> 40) / 16777216.0, (int)((r >> 32) & 0xff) - 130));
    }
    /* The same for doubles. */
    check_double(0.0);
    check_double(-0.0);
    check_double_around(double_of_bits(1));
    check_double_around(double_of_bits(0x000fffffffffffffull));
    check_double_around(DBL_MIN);
    check_double_around(DBL_MAX);
    check_double_around(DBL_EPSILON);
    check_double_around(9007199254740992.0); /* 2^53 */
    check_double_around(1e17);
    check_double_around(99999999999999984.0);
    check_double_around((double)FLT_MAX);
    for (k = -1074; k <= 1023; k++)
        check_double_around(ldexp(1.0, k));
    for (k = -323; k <= 308; k++) {
        char t[16];

        snprintf(t, sizeof(t), "1e%d", k);
        check_double_around(strtod(t, NULL));
    }
    for (i = 0; i < 20000; i++) {
        check_double((double)i);
        check_double((double)i / 10.0);
        check_double((double)i / 100.0);
        check_double((double)i * 0.001);
        check_double((double)i * 1e15 + (double)i);
    }
    for (k = 0; k < (int)(sizeof(grid) / sizeof(grid[0])); k++)
        for (i = 1; i < 1000; i++)
            check_double(grid[k] * (double)i * 1.37);
    for (i = 0; i < n; i++) {
        uint64_t r = rng_next();

        check_double(double_of_bits(r));
        check_double(ldexp((double)(r >> 11) / 9007199254740992.0, (int)(rng_next() % 160) - 80));
        check_double((double)(float)double_of_bits(r)); /* floats held as doubles */
    }
    assert_true(fmt_checked > 6 * n);
}

/* Not-a-number and infinities are not values: formatting refuses them, as before. */
static void test_float_text_not_finite(void **state)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT, .count = 1};
    struct sdv_buf out;

    (void)state;
    sdv_buf_init(&out, 256);
    v.v.f = NAN;
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_EINVAL);
    v.v.f = -INFINITY;
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_EINVAL);
    v.type = SDV_BROKER_DT_DOUBLE;
    v.v.d = INFINITY;
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_EINVAL);
    v.v.d = NAN;
    assert_int_equal(sdv_broker_value_format(&v, &out), SDV_EINVAL);
    assert_int_equal(out.len, 0);
    sdv_buf_free(&out);
}

/* Every integer type's bounds (and a few values between) print as printf's %lld / %llu. */
static void test_integer_text_exact(void **state)
{
    static const struct {
        enum sdv_broker_datatype dt;
        int64_t min;
        uint64_t max;
    } types[] = {
            {SDV_BROKER_DT_INT8, INT8_MIN, INT8_MAX},
            {SDV_BROKER_DT_INT16, INT16_MIN, INT16_MAX},
            {SDV_BROKER_DT_INT32, INT32_MIN, INT32_MAX},
            {SDV_BROKER_DT_INT64, INT64_MIN, INT64_MAX},
            {SDV_BROKER_DT_UINT8, 0, UINT8_MAX},
            {SDV_BROKER_DT_UINT16, 0, UINT16_MAX},
            {SDV_BROKER_DT_UINT32, 0, UINT32_MAX},
            {SDV_BROKER_DT_UINT64, 0, UINT64_MAX},
    };
    size_t t;

    (void)state;
    for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        bool is_signed = types[t].dt <= SDV_BROKER_DT_INT64;
        uint64_t cases[8];
        size_t c;

        cases[0] = (uint64_t)types[t].min;
        cases[1] = types[t].max;
        cases[2] = 0;
        cases[3] = 1;
        cases[4] = types[t].max / 10;
        cases[5] = types[t].max - 1;
        cases[6] = is_signed ? (uint64_t)(types[t].min + 1) : 9;
        cases[7] = is_signed ? (uint64_t)(int64_t)-1 : 10;
        for (c = 0; c < 8; c++) {
            struct sdv_broker_value v = {.type = types[t].dt, .count = 1};
            struct sdv_buf out;
            char want[32];

            if (is_signed) {
                v.v.i = (int64_t)cases[c];
                snprintf(want, sizeof(want), "%lld", (long long)v.v.i);
            } else {
                v.v.u = cases[c];
                snprintf(want, sizeof(want), "%llu", (unsigned long long)v.v.u);
            }
            sdv_buf_init(&out, 64);
            assert_int_equal(sdv_broker_value_format(&v, &out), SDV_OK);
            assert_int_equal(sdv_buf_putc(&out, '\0'), SDV_OK);
            assert_string_equal((const char *)out.data, want);
            sdv_buf_free(&out);
        }
    }
}

/* json_dumps() of sdv_broker_value_to_json(): what sdv_broker_value_write_json must equal. */
static void check_write_json(const struct sdv_broker_value *v)
{
    unsigned flags;

    for (flags = 0; flags <= SDV_BROKER_JSON_STRINGS; flags += SDV_BROKER_JSON_STRINGS) {
        json_t *j = NULL;
        char *want;
        struct sdv_buf out;

        assert_int_equal(sdv_broker_value_to_json(v, flags, &j), SDV_OK);
        want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(want);
        sdv_buf_init(&out, 1u << 20);
        assert_int_equal(sdv_broker_value_write_json(v, flags, &out), SDV_OK);
        assert_int_equal(sdv_buf_putc(&out, '\0'), SDV_OK);
        if (strcmp((const char *)out.data, want) != 0)
            fail_msg("type %s flags %u: %s, want %s", sdv_broker_datatype_name(v->type), flags,
                     (const char *)out.data, want);
        sdv_buf_free(&out);
        free(want);
        json_decref(j);
    }
}

/* The writer without jansson: every type, arrays, and strings with every byte that needs an
 * escape, give jansson's bytes. */
static void test_write_json(void **state)
{
    static const char *const cases[][2] = {
            {"boolean", "true"},
            {"boolean", "false"},
            {"int8", "-128"},
            {"int64", "-9223372036854775808"},
            {"uint64", "\"18446744073709551615\""},
            {"uint32", "4294967295"},
            {"float", "0.1"},
            {"float", "-3.4028234663852886e38"},
            {"float", "1e-45"},
            {"double", "21.3"},
            {"double", "1e22"},
            {"double", "-0.0"},
            {"double", "5e-324"},
            {"string", "\"\""},
            {"string", "\"plain\""},
            {"string", "\"quote \\\" backslash \\\\ slash / tab \\t nl \\n cr \\r bs \\b ff \\f\""},
            {"string", "\"\\u0001\\u001f\\u007f caf\\u00e9 \\u20ac \\ud83d\\ude97\""},
            {"boolean[]", "[true,false]"},
            {"int16[]", "[-32768,0,32767]"},
            {"uint64[]", "[0,\"18446744073709551615\"]"},
            {"float[]", "[0.5,-1e-7,3.4e38]"},
            {"double[]", "[]"},
            {"double[]", "[1.7976931348623157e308,2.2250738585072014e-308,0.3]"},
            {"string[]", "[\"a\",\"\",\"x\\ny\",\"\\\"\"]"},
            {"string[]", "[]"},
    };
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_NONE};
    struct sdv_buf out;
    char all[32];
    size_t i;

    (void)state;
    check_write_json(&v);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum sdv_broker_datatype dt;

        assert_int_equal(sdv_broker_datatype_parse(cases[i][0], &dt), SDV_OK);
        if (from(dt, cases[i][1], &v) != SDV_OK)
            fail_msg("%s %s: %s", cases[i][0], cases[i][1], err);
        check_write_json(&v);
    }
    /* Every control character, alone in a string. */
    for (i = 1; i < 32; i++) {
        json_t *js;
        char *want;

        all[0] = 'a';
        all[1] = (char)i;
        all[2] = 'z';
        js = json_stringn(all, 3);
        want = json_dumps(js, JSON_ENCODE_ANY);
        sdv_buf_init(&out, 64);
        assert_int_equal(sdv_broker_json_write_string(all, 3, &out), SDV_OK);
        assert_int_equal(sdv_buf_putc(&out, '\0'), SDV_OK);
        assert_string_equal((const char *)out.data, want);
        sdv_buf_free(&out);
        free(want);
        json_decref(js);
    }
    /* A full buffer is an error, not a truncated success. */
    sdv_buf_init(&out, 8);
    assert_int_not_equal(sdv_broker_json_write_string("0123456789", 10, &out), SDV_OK);
    sdv_buf_free(&out);
    v.type = SDV_BROKER_DT_FLOAT;
    v.count = 1;
    v.v.f = NAN;
    sdv_buf_init(&out, 64);
    assert_int_equal(sdv_broker_value_write_json(&v, SDV_BROKER_JSON_STRINGS, &out), SDV_EINVAL);
    sdv_buf_free(&out);
}

/* The events of one notification: path, value (JSON text and datatype), time stamp. */
struct notif_case {
    const char *path;
    const char *dt;
    const char *json;
    int64_t ts_us;
};

/* Writes the events with the incremental writer and with the jansson writer; same bytes. */
static void check_notif(const struct notif_case *c, size_t n, uint64_t lost, int64_t now_us)
{
    struct sdv_broker_viss_dp dp[8];
    json_t *vals[8];
    struct sdv_buf want, got;
    struct sdv_broker_viss_notif w;
    enum sdv_err rc_want, rc_got;
    size_t i;

    assert_true(n <= 8);
    sdv_buf_init(&want, 1u << 20);
    sdv_buf_init(&got, 1u << 20);
    assert_int_equal(sdv_buf_puts(&got, "junk before"), SDV_OK);
    rc_got = sdv_broker_viss_notif_begin(&w, "42", &got);
    assert_int_equal(rc_got, SDV_OK);
    for (i = 0; i < n; i++) {
        struct sdv_broker_value v;
        enum sdv_broker_datatype dt;

        assert_int_equal(sdv_broker_datatype_parse(c[i].dt, &dt), SDV_OK);
        if (from(dt, c[i].json, &v) != SDV_OK)
            fail_msg("%s %s: %s", c[i].dt, c[i].json, err);
        assert_int_equal(sdv_broker_value_to_json(&v, SDV_BROKER_JSON_STRINGS, &vals[i]), SDV_OK);
        dp[i].path = c[i].path;
        dp[i].value = vals[i];
        dp[i].ts_us = c[i].ts_us;
        /* The value's payload may live only until the next event: written at once. */
        assert_int_equal(sdv_broker_viss_notif_add(&w, c[i].path, &v, c[i].ts_us), SDV_OK);
    }
    rc_got = sdv_broker_viss_notif_end(&w, lost, now_us);
    rc_want = sdv_broker_viss_write_subscription("42", dp, n, lost, now_us, &want);
    assert_int_equal(rc_got, rc_want);
    assert_int_equal(w.start, 11);
    assert_int_equal(got.len - w.start, want.len);
    if (memcmp(got.data + w.start, want.data, want.len) != 0)
        fail_msg("%.*s\nwant %.*s", (int)(got.len - w.start), (const char *)got.data + w.start,
                 (int)want.len, (const char *)want.data);
    for (i = 0; i < n; i++)
        json_decref(vals[i]);
    sdv_buf_free(&want);
    sdv_buf_free(&got);
}

/* Subscription notifications without jansson: one data point (an object), several (an array),
 * none with a lost count, every kind of value, time stamps across seconds and before 1970. */
static void test_notification_writer(void **state)
{
    static const struct notif_case one[] = {
            {"Vehicle.Speed", "float", "88.5", 1795000000123456},
    };
    static const struct notif_case many[] = {
            {"Vehicle.Speed", "float", "0.1", 1795000000000000},
            {"Vehicle.Cabin.Name", "string", "\"say \\\"hi\\\"\\n\\u0001 \\u00e9\"",
             1795000000999999},
            {"Vehicle.A", "int64", "-9223372036854775808", 1795000001000001},
            {"Vehicle.B", "uint64", "\"18446744073709551615\"", -1},
            {"Vehicle.C", "double[]", "[1e300,-0.0,21.3]", 0},
            {"Vehicle.D", "string[]", "[\"a\",\"\\\\\"]", 253402300799999999},
            {"Vehicle.E", "boolean", "true", 1795000001000001},
            {"Vehicle.\"odd\"", "uint8[]", "[]", 1795000001000002},
    };
    struct sdv_buf out;
    struct sdv_broker_viss_notif w;

    (void)state;
    check_notif(one, 1, 0, 1795000000200000);
    check_notif(one, 1, 7, 1795000000200000);
    check_notif(many, 8, 0, 1795000002000000);
    check_notif(many, 2, UINT64_MAX, -86400000001);
    check_notif(many + 3, 2, 1, 1795000002000000);
    check_notif(many, 0, 3, 1795000002000000);
    /* Nothing to say is an error, as for the jansson writer. */
    sdv_buf_init(&out, 1024);
    assert_int_equal(sdv_broker_viss_notif_begin(&w, "1", &out), SDV_OK);
    assert_int_not_equal(sdv_broker_viss_notif_end(&w, 0, 0), SDV_OK);
    /* A time stamp RFC 3339 cannot write fails the data point and leaves out as it was. */
    {
        struct sdv_broker_value v = {.type = SDV_BROKER_DT_BOOLEAN, .count = 1};
        size_t len = out.len;

        assert_int_not_equal(sdv_broker_viss_notif_add(&w, "Vehicle.X", &v, INT64_MAX), SDV_OK);
        assert_int_equal(out.len, len);
        assert_int_equal(w.n, 0);
    }
    sdv_buf_free(&out);
    /* A full buffer fails without writing past its bound. */
    sdv_buf_init(&out, 64);
    assert_int_equal(sdv_broker_viss_notif_begin(&w, "1", &out), SDV_OK);
    {
        struct sdv_broker_value v = {.type = SDV_BROKER_DT_BOOLEAN, .count = 1};

        assert_int_not_equal(sdv_broker_viss_notif_add(&w, "Vehicle.Very.Long.Path.Name", &v, 0),
                             SDV_OK);
        assert_true(out.len <= 64);
    }
    sdv_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_datatype_names),
            cmocka_unit_test(test_integer_bounds),
            cmocka_unit_test(test_integer_syntax),
            cmocka_unit_test(test_float_double),
            cmocka_unit_test(test_boolean_string),
            cmocka_unit_test(test_arrays),
            cmocka_unit_test(test_validate),
            cmocka_unit_test(test_json_round_trip),
            cmocka_unit_test(test_format_and_parse),
            cmocka_unit_test(test_compare_exact),
            cmocka_unit_test(test_ops),
            cmocka_unit_test(test_float_text_exact),
            cmocka_unit_test(test_float_text_not_finite),
            cmocka_unit_test(test_integer_text_exact),
            cmocka_unit_test(test_write_json),
            cmocka_unit_test(test_notification_writer),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
