/*
 * test_net_range.c - sdv_net_fetch_range against net_test_server.py on 127.0.0.1: a resumed
 * download continues at the asked offset, and a server that ignores the Range, answers 416 or
 * starts elsewhere is reported as "restart from 0" before any byte reaches the sink.
 *
 * Usage: test_net_range BASE_URL WORK_DIR
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <string.h>

#include <sdv/net.h>

static const char *base_url;

/* The server's /file: bytes 0..255 three times, then 232 'x'. */
static uint8_t file_byte(size_t i)
{
    return i < 768 ? (uint8_t)(i % 256) : (uint8_t)'x';
}

static enum sdv_err collect(void *ud, const void *data, size_t len)
{
    return sdv_buf_append(ud, data, len);
}

static enum sdv_err get_range(struct sdv_net *net, const char *path, uint64_t offset,
                              uint64_t max_len, struct sdv_buf *out)
{
    char url[512];

    snprintf(url, sizeof(url), "%s%s", base_url, path);
    sdv_buf_init(out, 1 << 20);
    return sdv_net_fetch_range(net, url, offset, max_len, collect, out);
}

static struct sdv_net *net_new(void)
{
    struct sdv_net *net = NULL;

    assert_int_equal(sdv_net_create(NULL, &net), SDV_OK);
    return net;
}

static void test_resume_continues_at_offset(void **state)
{
    struct sdv_net *net = net_new();
    struct sdv_buf b;

    (void)state;
    assert_int_equal(get_range(net, "range", 600, 1000, &b), SDV_OK);
    assert_int_equal(b.len, 400);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(b.data[i], file_byte(600 + i));
    sdv_buf_free(&b);
    /* Offset 0 is a plain GET of the whole file. */
    assert_int_equal(get_range(net, "range", 0, 1000, &b), SDV_OK);
    assert_int_equal(b.len, 1000);
    sdv_buf_free(&b);
    sdv_net_destroy(net);
}

static void test_restart_when_range_not_honoured(void **state)
{
    struct sdv_net *net = net_new();
    struct sdv_buf b;

    (void)state;
    /* 200 with the whole file: nothing reaches the sink, the caller must restart. */
    assert_int_equal(get_range(net, "range-ignored", 600, 1000, &b), SDV_EUNSUPPORTED);
    assert_int_equal(b.len, 0);
    assert_non_null(strstr(sdv_net_errmsg(net), "restart from 0"));
    sdv_buf_free(&b);
    /* 206 that starts elsewhere than asked. */
    assert_int_equal(get_range(net, "range-wrong", 600, 1000, &b), SDV_EUNSUPPORTED);
    assert_int_equal(b.len, 0);
    sdv_buf_free(&b);
    /* 416: the partial file is longer than the server's file. */
    assert_int_equal(get_range(net, "range", 1000, 5000, &b), SDV_EUNSUPPORTED);
    assert_int_equal(b.len, 0);
    sdv_buf_free(&b);
    /* The handle still works afterwards. */
    assert_int_equal(get_range(net, "range", 999, 1000, &b), SDV_OK);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 'x');
    sdv_buf_free(&b);
    sdv_net_destroy(net);
}

static void test_range_bounds(void **state)
{
    struct sdv_net *net = net_new();
    struct sdv_buf b;

    (void)state;
    /* max_len bounds the whole file: 400 bytes from 600 do not fit under 900. */
    assert_int_equal(get_range(net, "range", 600, 900, &b), SDV_ETOOBIG);
    assert_true(b.len <= 300);
    sdv_buf_free(&b);
    assert_int_equal(get_range(net, "range", 1000, 1000, &b), SDV_EINVAL);
    sdv_buf_free(&b);
    assert_int_equal(get_range(net, "missing", 10, 1000, &b), SDV_ENOENT);
    sdv_buf_free(&b);
    sdv_net_destroy(net);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_resume_continues_at_offset),
            cmocka_unit_test(test_restart_when_range_not_honoured),
            cmocka_unit_test(test_range_bounds),
    };

    if (argc != 3) {
        fprintf(stderr, "usage: %s BASE_URL WORK_DIR\n", argv[0]);
        return 2;
    }
    base_url = argv[1];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
