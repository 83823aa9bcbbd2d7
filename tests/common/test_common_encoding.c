/* Tests of hex, base64 (RFC 4648 section 10 vectors) and percent-encoding. */
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

static void test_hex_round_trip(void **state)
{
    uint8_t bytes[256], back[256];
    char hex[513];
    size_t i, n = 0;

    (void)state;
    for (i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)i;
    sdv_hex_encode(bytes, sizeof(bytes), hex);
    assert_int_equal(strlen(hex), 512);
    assert_memory_equal(hex, "000102", 6);
    assert_string_equal(hex + 506, "fdfeff");
    assert_int_equal(sdv_hex_decode(hex, 512, back, sizeof(back), &n), SDV_OK);
    assert_int_equal(n, 256);
    assert_memory_equal(back, bytes, 256);
    sdv_hex_encode(bytes, 0, hex);
    assert_string_equal(hex, "");
}

static void test_hex_decode_cases(void **state)
{
    uint8_t out[4];
    size_t n = 0;

    (void)state;
    assert_int_equal(sdv_hex_decode("DEADbeef", 8, out, sizeof(out), &n), SDV_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
    assert_int_equal(sdv_hex_decode("", 0, out, sizeof(out), &n), SDV_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sdv_hex_decode("abc", 3, out, sizeof(out), &n), SDV_EPARSE);
    assert_int_equal(sdv_hex_decode("zz", 2, out, sizeof(out), &n), SDV_EPARSE);
    assert_int_equal(sdv_hex_decode("0g", 2, out, sizeof(out), &n), SDV_EPARSE);
    assert_int_equal(sdv_hex_decode(" 00", 3, out, sizeof(out), &n), SDV_EPARSE);
    assert_int_equal(sdv_hex_decode("0x00", 4, out, sizeof(out), &n), SDV_EPARSE);
    assert_int_equal(sdv_hex_decode("0011223344", 10, out, sizeof(out), &n), SDV_ETOOBIG);
    /* hex_len bounds the read: the embedded NUL past it is never seen. */
    assert_int_equal(sdv_hex_decode("ab\0cd", 2, out, sizeof(out), &n), SDV_OK);
    assert_int_equal(n, 1);
}

static const struct {
    const char *plain;
    const char *encoded;
} b64_vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
};

static void test_base64_rfc4648_vectors(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
        const char *p = b64_vectors[i].plain, *e = b64_vectors[i].encoded;
        char enc[16];
        uint8_t dec[16];
        size_t n = 99;

        assert_int_equal(sdv_base64_encoded_len(strlen(p)), strlen(e) + 1);
        sdv_base64_encode((const uint8_t *)p, strlen(p), enc);
        assert_string_equal(enc, e);
        assert_int_equal(sdv_base64_decode(e, strlen(e), dec, sizeof(dec), &n), SDV_OK);
        assert_int_equal(n, strlen(p));
        assert_memory_equal(dec, p, n);
    }
}

static void test_base64_binary_round_trip(void **state)
{
    uint8_t bytes[255], back[255];
    char enc[345];
    size_t n, len;

    (void)state;
    for (n = 0; n < sizeof(bytes); n++)
        bytes[n] = (uint8_t)(255 - n);
    for (len = 0; len <= sizeof(bytes); len += 17) {
        size_t out_n = 0;

        assert_true(sdv_base64_encoded_len(len) <= sizeof(enc));
        sdv_base64_encode(bytes, len, enc);
        assert_int_equal(sdv_base64_decode(enc, strlen(enc), back, sizeof(back), &out_n), SDV_OK);
        assert_int_equal(out_n, len);
        assert_memory_equal(back, bytes, len);
    }
    sdv_base64_encode((const uint8_t *)"\xfb\xff", 2, enc);
    assert_string_equal(enc, "+/8=");
}

static void test_base64_rejects_bad_input(void **state)
{
    static const char *bad[] = {
            "Zg=",      /* length not a multiple of 4 */
            "Zg",       /* missing padding */
            "Z===",     /* too much padding */
            "====",     /* padding only */
            "Zg==Zg==", /* padding in the middle */
            "Zm9v=Zg=", /* padding in the middle */
            "Zm 9",     /* space */
            "Zm9\n",    /* newline */
            "Zm9-",     /* URL-safe alphabet */
            "Zm9_",     /* URL-safe alphabet */
            "Zh==",     /* non-zero bits under the padding */
            "Zm9=",     /* non-zero bits under the padding */
    };
    uint8_t out[16];
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sdv_base64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
                         SDV_EPARSE);
    assert_int_equal(sdv_base64_decode("Zm9vYmFy", 8, out, 5, &n), SDV_ETOOBIG);
    assert_int_equal(sdv_base64_decode("Zm9vYmE=", 8, out, 5, &n), SDV_OK);
    assert_int_equal(n, 5);
}

static void expect_percent(const char *in, const char *expect)
{
    char *s = sdv_percent_encode(in);

    assert_non_null(s);
    assert_string_equal(s, expect);
    free(s);
}

static void test_percent_encode(void **state)
{
    (void)state;
    expect_percent("../x", "..%2Fx");
    expect_percent("?", "%3F");
    expect_percent("#", "%23");
    expect_percent("%", "%25");
    expect_percent("a b+c", "a%20b%2Bc");
    expect_percent("AZaz09-._~", "AZaz09-._~");
    expect_percent("targets/foo.tgz", "targets%2Ffoo.tgz");
    expect_percent("\xc3\xa9", "%C3%A9"); /* U+00E9 in UTF-8 */
    expect_percent("\\", "%5C");
    expect_percent(".", ".");
    expect_percent("..", "..");
    expect_percent("", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_hex_round_trip),
            cmocka_unit_test(test_hex_decode_cases),
            cmocka_unit_test(test_base64_rfc4648_vectors),
            cmocka_unit_test(test_base64_binary_round_trip),
            cmocka_unit_test(test_base64_rejects_bad_input),
            cmocka_unit_test(test_percent_encode),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
