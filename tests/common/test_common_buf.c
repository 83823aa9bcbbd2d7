/* Tests of bounded buffers: the maximum is a hard limit and a failed append changes nothing. */
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

static void test_append_and_nul_termination(void **state)
{
    struct sdv_buf b;

    (void)state;
    sdv_buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(sdv_buf_puts(&b, "abc"), SDV_OK);
    assert_int_equal(sdv_buf_putc(&b, 'd'), SDV_OK);
    assert_int_equal(sdv_buf_append(&b, "ef", 2), SDV_OK);
    assert_int_equal(sdv_buf_printf(&b, "-%d-%s", 42, "x"), SDV_OK);
    assert_int_equal(b.len, 11);
    assert_string_equal((char *)b.data, "abcdef-42-x");
    sdv_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal((char *)b.data, "");
    sdv_buf_free(&b);
    assert_null(b.data);
    sdv_buf_free(NULL);
}

static void test_max_is_enforced(void **state)
{
    struct sdv_buf b;

    (void)state;
    sdv_buf_init(&b, 8);
    assert_int_equal(sdv_buf_puts(&b, "12345"), SDV_OK);
    assert_int_equal(sdv_buf_puts(&b, "6789"), SDV_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal((char *)b.data, "12345");
    assert_int_equal(sdv_buf_printf(&b, "%s", "abcd"), SDV_ETOOBIG);
    assert_string_equal((char *)b.data, "12345");
    assert_int_equal(sdv_buf_puts(&b, "678"), SDV_OK);
    assert_int_equal(b.len, 8);
    assert_int_equal(sdv_buf_putc(&b, 'x'), SDV_ETOOBIG);
    assert_int_equal(sdv_buf_append(&b, "", 0), SDV_OK);
    assert_string_equal((char *)b.data, "12345678");
    sdv_buf_free(&b);
}

static void test_zero_max(void **state)
{
    struct sdv_buf b;

    (void)state;
    sdv_buf_init(&b, 0);
    assert_int_equal(sdv_buf_putc(&b, 'x'), SDV_ETOOBIG);
    assert_int_equal(b.len, 0);
    sdv_buf_free(&b);
}

static void test_growth_keeps_content(void **state)
{
    struct sdv_buf b;
    size_t i;

    (void)state;
    sdv_buf_init(&b, 100000);
    for (i = 0; i < 10000; i++)
        assert_int_equal(sdv_buf_putc(&b, (char)('a' + i % 26)), SDV_OK);
    assert_int_equal(b.len, 10000);
    for (i = 0; i < 10000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    assert_int_equal(b.data[10000], 0);
    assert_true(b.cap <= b.max + 1);
    sdv_buf_free(&b);
}

static void test_steal(void **state)
{
    struct sdv_buf b;
    size_t len = 99;
    char *s;

    (void)state;
    sdv_buf_init(&b, 64);
    s = sdv_buf_steal(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);

    assert_int_equal(sdv_buf_puts(&b, "hello"), SDV_OK);
    s = sdv_buf_steal(&b, &len);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 64);
    free(s);

    /* The buffer is reusable after a steal. */
    assert_int_equal(sdv_buf_puts(&b, "again"), SDV_OK);
    s = sdv_buf_steal(&b, NULL);
    assert_string_equal(s, "again");
    free(s);
    sdv_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_append_and_nul_termination),
            cmocka_unit_test(test_max_is_enforced),
            cmocka_unit_test(test_zero_max),
            cmocka_unit_test(test_growth_keeps_content),
            cmocka_unit_test(test_steal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
