/* Tests of sdv_logf: level filtering, a NULL sink and truncation of long messages. */
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

struct capture {
    int calls;
    enum sdv_log_level level;
    char msg[2048];
};

static void capture_fn(void *ud, enum sdv_log_level level, const char *msg)
{
    struct capture *c = ud;

    c->calls++;
    c->level = level;
    strncpy(c->msg, msg, sizeof(c->msg) - 1);
}

static void test_formats_and_filters(void **state)
{
    struct capture c = {0};
    struct sdv_log log = {capture_fn, &c, SDV_LOG_WARN};

    (void)state;
    sdv_logf(&log, SDV_LOG_ERROR, "role %s version %d", "root", 7);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.level, SDV_LOG_ERROR);
    assert_string_equal(c.msg, "role root version 7");
    sdv_logf(&log, SDV_LOG_WARN, "w");
    assert_int_equal(c.calls, 2);
    sdv_logf(&log, SDV_LOG_INFO, "dropped");
    sdv_logf(&log, SDV_LOG_DEBUG, "dropped");
    assert_int_equal(c.calls, 2);
    assert_string_equal(c.msg, "w");
}

static void test_null_sink_is_silent(void **state)
{
    struct sdv_log log = {NULL, NULL, SDV_LOG_DEBUG};

    (void)state;
    sdv_logf(NULL, SDV_LOG_ERROR, "x");
    sdv_logf(&log, SDV_LOG_ERROR, "x");
}

static void test_long_message_is_truncated(void **state)
{
    struct capture c = {0};
    struct sdv_log log = {capture_fn, &c, SDV_LOG_DEBUG};
    char big[1500];
    size_t n;

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sdv_logf(&log, SDV_LOG_INFO, "%s", big);
    assert_int_equal(c.calls, 1);
    n = strlen(c.msg);
    assert_true(n < sizeof(big) - 1);
    assert_memory_equal(c.msg + n - 3, "...", 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_formats_and_filters),
            cmocka_unit_test(test_null_sink_is_silent),
            cmocka_unit_test(test_long_message_is_truncated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
