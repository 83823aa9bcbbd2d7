/* Tests of RFC 3339 parsing and formatting, independent of the process time zone. */
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

static int64_t parse_ok(const char *s)
{
    int64_t t = -1;

    assert_int_equal(sdv_time_parse(s, &t), SDV_OK);
    return t;
}

static void test_parse_known_values(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2000-03-01T00:00:00Z"), 951868800);
    assert_int_equal(parse_ok("2030-01-01T00:00:00Z"), 1893456000);
    assert_int_equal(parse_ok("2024-02-29T12:34:56Z"), 1709210096);
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), 951782400);
    assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), -1);
    assert_int_equal(parse_ok("0000-01-01T00:00:00Z"), -62167219200);
    assert_int_equal(parse_ok("9999-12-31T23:59:59Z"), 253402300799);
    assert_int_equal(parse_ok("2024-12-31T23:59:59Z") + 1, parse_ok("2025-01-01T00:00:00Z"));
}

static void test_parse_year_2038_and_beyond(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2038-01-19T03:14:07Z"), INT64_C(2147483647));
    assert_int_equal(parse_ok("2038-01-19T03:14:08Z"), INT64_C(2147483648));
    assert_int_equal(parse_ok("2106-02-07T06:28:16Z"), INT64_C(4294967296));
}

static void test_parse_fractions_and_offsets(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2030-01-01T00:00:00.5Z"), 1893456000);
    assert_int_equal(parse_ok("2030-01-01T00:00:00.999999999Z"), 1893456000);
    assert_int_equal(parse_ok("2030-01-01t00:00:00z"), 1893456000);
    assert_int_equal(parse_ok("2030-01-01T01:00:00+01:00"), 1893456000);
    assert_int_equal(parse_ok("2029-12-31T19:30:00-04:30"), 1893456000);
    assert_int_equal(parse_ok("2030-01-01T00:00:00+00:00"), 1893456000);
    assert_int_equal(parse_ok("2030-01-01T00:00:00-00:00"), 1893456000);
    assert_int_equal(parse_ok("2030-01-01T05:45:00.123+05:45"), 1893456000);
}

static void test_parse_rejects(void **state)
{
    static const char *bad[] = {
            "2023-02-29T00:00:00Z", /* not a leap year */
            "1900-02-29T00:00:00Z", /* century, not a leap year */
            "2024-02-30T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-32T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00", /* missing Z */
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+01:60",
            "2024-01-01T00:00:00+1:00",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01T00:00:00Z ",
            " 2024-01-01T00:00:00Z",
            "24-01-01T00:00:00Z",
            "2024-1-01T00:00:00Z",
            "2024-01-01T0:00:00Z",
            "+2024-01-01T00:00:00Z",
            "2024-01-01",
            "2024",
            "",
    };
    size_t i;
    int64_t t;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sdv_time_parse(bad[i], &t) != SDV_EPARSE)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(sdv_time_parse(NULL, &t), SDV_EINVAL);
}

static void expect_format(int64_t t, const char *expect)
{
    char out[SDV_TIME_STR_LEN];

    assert_int_equal(sdv_time_format(t, out), SDV_OK);
    assert_string_equal(out, expect);
}

static void test_format(void **state)
{
    (void)state;
    expect_format(0, "1970-01-01T00:00:00Z");
    expect_format(-1, "1969-12-31T23:59:59Z");
    expect_format(1709210096, "2024-02-29T12:34:56Z");
    expect_format(INT64_C(2147483648), "2038-01-19T03:14:08Z");
    expect_format(INT64_C(253402300799), "9999-12-31T23:59:59Z");
    expect_format(INT64_C(-62167219200), "0000-01-01T00:00:00Z");
}

static void test_format_out_of_range(void **state)
{
    char out[SDV_TIME_STR_LEN];

    (void)state;
    assert_int_equal(sdv_time_format(INT64_C(253402300800), out), SDV_EINVAL);
    assert_int_equal(sdv_time_format(INT64_C(-62167219201), out), SDV_EINVAL);
    assert_int_equal(sdv_time_format(INT64_MAX, out), SDV_EINVAL);
    assert_int_equal(sdv_time_format(INT64_MIN, out), SDV_EINVAL);
}

static void test_round_trip_every_day(void **state)
{
    int64_t t;

    (void)state;
    /* Every day from 1900 to 2400 at an odd time of day, across all leap rules. */
    for (t = INT64_C(-2208988800) + 45296; t < INT64_C(13569465600); t += 86400) {
        char out[SDV_TIME_STR_LEN];

        assert_int_equal(sdv_time_format(t, out), SDV_OK);
        assert_int_equal(parse_ok(out), t);
    }
}

static void test_independent_of_tz(void **state)
{
    (void)state;
    setenv("TZ", "America/St_Johns", 1);
    assert_int_equal(parse_ok("2030-01-01T00:00:00Z"), 1893456000);
    expect_format(1893456000, "2030-01-01T00:00:00Z");
    unsetenv("TZ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_known_values),
            cmocka_unit_test(test_parse_year_2038_and_beyond),
            cmocka_unit_test(test_parse_fractions_and_offsets),
            cmocka_unit_test(test_parse_rejects),
            cmocka_unit_test(test_format),
            cmocka_unit_test(test_format_out_of_range),
            cmocka_unit_test(test_round_trip_every_day),
            cmocka_unit_test(test_independent_of_tz),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
