/* Tests of the error table: numbers, names and messages are part of the ABI and of logs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/common.h>

static void test_numbers_are_stable(void **state)
{
    (void)state;
    assert_int_equal(SDV_OK, 0);
    assert_int_equal(SDV_ENOMEM, 1);
    assert_int_equal(SDV_EINVAL, 2);
    assert_int_equal(SDV_EIO, 3);
    assert_int_equal(SDV_ENOENT, 4);
    assert_int_equal(SDV_ETOOBIG, 5);
    assert_int_equal(SDV_EPARSE, 6);
    assert_int_equal(SDV_EUNSUPPORTED, 7);
    assert_int_equal(SDV_ECRYPTO, 8);
    assert_int_equal(SDV_ESIG, 9);
    assert_int_equal(SDV_EEXPIRED, 10);
    assert_int_equal(SDV_EROLLBACK, 11);
    assert_int_equal(SDV_EVERSION, 12);
    assert_int_equal(SDV_EHASH, 13);
    assert_int_equal(SDV_ENET, 14);
    assert_int_equal(SDV_ENOTARGET, 15);
    assert_int_equal(SDV_ELIMIT, 16);
    assert_int_equal(SDV_EEXIST, 17);
    assert_int_equal(SDV_ESLOW, 18);
}

static void test_names_and_messages(void **state)
{
    (void)state;
    assert_string_equal(sdv_errname(SDV_OK), "SDV_OK");
    assert_string_equal(sdv_errname(SDV_EPARSE), "SDV_EPARSE");
    assert_string_equal(sdv_errname(SDV_EEXIST), "SDV_EEXIST");
    assert_string_equal(sdv_errname(SDV_ENOTARGET), "SDV_ENOTARGET");
    assert_string_equal(sdv_strerror(SDV_OK), "success");
    assert_string_equal(sdv_strerror(SDV_ETOOBIG), "size limit exceeded");
    assert_string_equal(sdv_strerror(SDV_ESIG), "signature threshold not met");
    assert_string_equal(sdv_strerror(SDV_ELIMIT), "iteration bound reached");
}

static void test_every_code_has_distinct_text(void **state)
{
    int i, j;

    (void)state;
    for (i = 0; i <= SDV_EEXIST; i++) {
        const char *name = sdv_errname((enum sdv_err)i);

        assert_non_null(name);
        assert_int_equal(strncmp(name, "SDV_", 4), 0);
        assert_string_not_equal(sdv_strerror((enum sdv_err)i), "unknown error");
        for (j = 0; j < i; j++) {
            assert_string_not_equal(name, sdv_errname((enum sdv_err)j));
            assert_string_not_equal(sdv_strerror((enum sdv_err)i), sdv_strerror((enum sdv_err)j));
        }
    }
}

static void test_unknown_code_is_never_null(void **state)
{
    (void)state;
    assert_string_equal(sdv_strerror((enum sdv_err)9999), "unknown error");
    assert_non_null(sdv_errname((enum sdv_err) - 1));
    assert_string_equal(sdv_errname((enum sdv_err)9999), "SDV_EUNKNOWN");
}

static void test_errno_mapping(void **state)
{
    (void)state;
    assert_int_equal(sdv_err_from_errno(0), SDV_OK);
    assert_int_equal(sdv_err_from_errno(ENOENT), SDV_ENOENT);
    assert_int_equal(sdv_err_from_errno(ENOMEM), SDV_ENOMEM);
    assert_int_equal(sdv_err_from_errno(EINVAL), SDV_EINVAL);
    assert_int_equal(sdv_err_from_errno(EEXIST), SDV_EEXIST);
    assert_int_equal(sdv_err_from_errno(EFBIG), SDV_ETOOBIG);
    assert_int_equal(sdv_err_from_errno(ECONNREFUSED), SDV_ENET);
    assert_int_equal(sdv_err_from_errno(EACCES), SDV_EIO);
    assert_int_equal(sdv_err_from_errno(ENOSPC), SDV_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_numbers_are_stable),
            cmocka_unit_test(test_names_and_messages),
            cmocka_unit_test(test_every_code_has_distinct_text),
            cmocka_unit_test(test_unknown_code_is_never_null),
            cmocka_unit_test(test_errno_mapping),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
