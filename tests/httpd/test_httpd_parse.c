/* Unit tests of the header parsers of lib/httpd (Range, entity-tag lists, identities). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include "httpd_int.h"

static void range(const char *hdr, uint64_t len, enum httpd_range want, uint64_t first,
                  uint64_t last)
{
    uint64_t a = 7777, b = 7777;

    assert_int_equal(httpd_range_parse(hdr, len, &a, &b), want);
    if (want == HTTPD_RANGE_ONE) {
        assert_int_equal(a, first);
        assert_int_equal(b, last);
    }
}

static void test_range_parse(void **state)
{
    (void)state;
    range(NULL, 10, HTTPD_RANGE_NONE, 0, 0);
    range("bytes=0-0", 10, HTTPD_RANGE_ONE, 0, 0);
    range("bytes=2-5", 10, HTTPD_RANGE_ONE, 2, 5);
    range("BYTES = 2-5 ", 10, HTTPD_RANGE_ONE, 2, 5);
    range("bytes=2-", 10, HTTPD_RANGE_ONE, 2, 9);
    range("bytes=2-99", 10, HTTPD_RANGE_ONE, 2, 9);
    range("bytes=-3", 10, HTTPD_RANGE_ONE, 7, 9);
    range("bytes=-10", 10, HTTPD_RANGE_ONE, 0, 9);
    range("bytes=-11", 10, HTTPD_RANGE_ONE, 0, 9);
    range("bytes=9-9", 10, HTTPD_RANGE_ONE, 9, 9);
    range("bytes=10-", 10, HTTPD_RANGE_UNSAT, 0, 0);
    range("bytes=10-20", 10, HTTPD_RANGE_UNSAT, 0, 0);
    range("bytes=-0", 10, HTTPD_RANGE_UNSAT, 0, 0);
    range("bytes=0-", 0, HTTPD_RANGE_UNSAT, 0, 0);
    range("bytes=-5", 0, HTTPD_RANGE_UNSAT, 0, 0);
    /* Huge numbers saturate instead of wrapping. */
    range("bytes=99999999999999999999999-", 10, HTTPD_RANGE_UNSAT, 0, 0);
    range("bytes=0-99999999999999999999999", 10, HTTPD_RANGE_ONE, 0, 9);
    range("bytes=-99999999999999999999999", 10, HTTPD_RANGE_ONE, 0, 9);
    range("bytes=18446744073709551615-", 10, HTTPD_RANGE_UNSAT, 0, 0);
    /* Invalid or multiple ranges: ignored, the whole body is sent. */
    range("bytes=5-2", 10, HTTPD_RANGE_NONE, 0, 0);
    range("bytes=0-1,3-4", 10, HTTPD_RANGE_NONE, 0, 0);
    range("bytes=", 10, HTTPD_RANGE_NONE, 0, 0);
    range("bytes=-", 10, HTTPD_RANGE_NONE, 0, 0);
    range("bytes=a-b", 10, HTTPD_RANGE_NONE, 0, 0);
    range("bytes=1-2x", 10, HTTPD_RANGE_NONE, 0, 0);
    range("bytes=+1-2", 10, HTTPD_RANGE_NONE, 0, 0);
    range("bytes 1-2", 10, HTTPD_RANGE_NONE, 0, 0);
    range("items=1-2", 10, HTTPD_RANGE_NONE, 0, 0);
}

static void test_etag_match(void **state)
{
    (void)state;
    assert_false(httpd_etag_match(NULL, "abc", 1, 1));
    assert_true(httpd_etag_match("\"abc\"", "abc", 1, 1));
    assert_true(httpd_etag_match(" \"x\" , \"abc\"", "abc", 1, 1));
    assert_true(httpd_etag_match("W/\"abc\"", "abc", 1, 1));
    assert_false(httpd_etag_match("W/\"abc\"", "abc", 0, 0));
    assert_true(httpd_etag_match("\"abc\"", "abc", 0, 0));
    assert_true(httpd_etag_match("*", "abc", 1, 1));
    assert_false(httpd_etag_match("*", "abc", 0, 0));
    assert_false(httpd_etag_match("\"abcd\"", "abc", 1, 1));
    assert_false(httpd_etag_match("\"ab\"", "abc", 1, 1));
    assert_false(httpd_etag_match("abc", "abc", 1, 1));
    assert_false(httpd_etag_match("\"abc", "abc", 1, 1));
    assert_false(httpd_etag_match("Tue, 01 Jan 2030 00:00:00 GMT", "abc", 0, 0));
    assert_false(httpd_etag_match(",,,", "abc", 1, 1));
    assert_false(httpd_etag_match("", "abc", 1, 1));
}

static void test_identity_ok(void **state)
{
    char long_id[SDV_HTTPD_IDENTITY_LEN_MAX + 2];

    (void)state;
    assert_true(httpd_identity_ok("WVWZZZ1JZXW000001"));
    assert_false(httpd_identity_ok(""));
    assert_false(httpd_identity_ok("two words"));
    assert_false(httpd_identity_ok("tab\there"));
    assert_false(httpd_identity_ok("caf\xc3\xa9"));
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_false(httpd_identity_ok(long_id));
    long_id[SDV_HTTPD_IDENTITY_LEN_MAX] = '\0';
    assert_true(httpd_identity_ok(long_id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_range_parse),
            cmocka_unit_test(test_etag_match),
            cmocka_unit_test(test_identity_ok),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
