/*
 * test_net.c - lib/net against a real HTTP server on 127.0.0.1 (net_test_server.py, started by
 * run_net_test.sh): bodies streamed whole, 403/404 told apart from other failures, size limits
 * enforced with and without Content-Length, slow retrieval aborted, redirects bounded to http.
 *
 * Usage: test_net BASE_URL WORK_DIR
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
#include <time.h>

#include <sdv/net.h>

static const char *base_url;
static const char *work_dir;

static enum sdv_err collect(void *ud, const void *data, size_t len)
{
    return sdv_buf_append(ud, data, len);
}

static enum sdv_err get(struct sdv_net *net, const char *path, uint64_t max_len,
                        struct sdv_buf *out)
{
    char url[512];

    snprintf(url, sizeof(url), "%s%s", base_url, path);
    sdv_buf_init(out, 1 << 20);
    return sdv_net_fetch(net, url, max_len, collect, out);
}

static struct sdv_net *net_new(const struct sdv_net_config *cfg)
{
    struct sdv_net *net = NULL;

    assert_int_equal(sdv_net_create(cfg, &net), SDV_OK);
    return net;
}

static void test_file_whole(void **state)
{
    struct sdv_net *net = net_new(NULL);
    struct sdv_buf b;

    (void)state;
    assert_int_equal(get(net, "file", 1000, &b), SDV_OK);
    assert_int_equal(b.len, 1000);
    for (size_t i = 0; i < 768; i++)
        assert_int_equal(b.data[i], i % 256);
    sdv_buf_free(&b);
    /* The same handle serves the next request (keep-alive). */
    assert_int_equal(get(net, "file", 5000, &b), SDV_OK);
    assert_int_equal(b.len, 1000);
    assert_int_equal(sdv_net_request_count(net), 2);
    sdv_buf_free(&b);
    sdv_net_destroy(net);
}

static void test_not_found_and_forbidden(void **state)
{
    struct sdv_net *net = net_new(NULL);
    struct sdv_buf b;

    (void)state;
    assert_int_equal(get(net, "missing", 1000, &b), SDV_ENOENT);
    assert_int_equal(b.len, 0);
    sdv_buf_free(&b);
    assert_int_equal(get(net, "forbidden", 1000, &b), SDV_ENOENT);
    sdv_buf_free(&b);
    assert_int_equal(get(net, "error", 1000, &b), SDV_ENET);
    assert_non_null(strstr(sdv_net_errmsg(net), "HTTP 500"));
    sdv_buf_free(&b);
    sdv_net_destroy(net);
}

static void test_size_limit(void **state)
{
    struct sdv_net *net = net_new(NULL);
    struct sdv_buf b;

    (void)state;
    /* Announced length above the limit. */
    assert_int_equal(get(net, "big", 99999, &b), SDV_ETOOBIG);
    assert_true(b.len <= 99999);
    sdv_buf_free(&b);
    /* No announced length: cut off as the body passes the limit. */
    assert_int_equal(get(net, "endless", 4096, &b), SDV_ETOOBIG);
    assert_true(b.len <= 4096);
    sdv_buf_free(&b);
    /* Exactly at the limit is fine. */
    assert_int_equal(get(net, "big", 100000, &b), SDV_OK);
    assert_int_equal(b.len, 100000);
    sdv_buf_free(&b);
    assert_int_equal(get(net, "file", 999, &b), SDV_ETOOBIG);
    sdv_buf_free(&b);
    sdv_net_destroy(net);
}

static void test_slow_retrieval(void **state)
{
    struct sdv_net_config cfg = {.low_speed_bytes = 100, .low_speed_time_s = 2};
    struct sdv_net *net = net_new(&cfg);
    struct sdv_buf b;
    time_t start = time(NULL);

    (void)state;
    assert_int_equal(get(net, "slow", 1000, &b), SDV_ESLOW);
    /* Aborted after the 2 s window, long before the 400 s the server would take. */
    assert_true(time(NULL) - start < 20);
    assert_true(b.len < 1000);
    sdv_buf_free(&b);
    sdv_net_destroy(net);
}

static void test_redirects(void **state)
{
    struct sdv_net *net = net_new(NULL);
    struct sdv_buf b;

    (void)state;
    assert_int_equal(get(net, "redirect", 1000, &b), SDV_OK);
    assert_int_equal(b.len, 1000);
    sdv_buf_free(&b);
    assert_int_equal(get(net, "redirect-ftp", 1000, &b), SDV_ENET);
    sdv_buf_free(&b);
    sdv_net_destroy(net);
}

static enum sdv_err refuse(void *ud, const void *data, size_t len)
{
    (void)ud;
    (void)data;
    (void)len;
    return SDV_EHASH;
}

static void test_sink_error_propagates(void **state)
{
    struct sdv_net *net = net_new(NULL);
    char url[512];

    (void)state;
    snprintf(url, sizeof(url), "%sfile", base_url);
    assert_int_equal(sdv_net_fetch(net, url, 1000, refuse, NULL), SDV_EHASH);
    sdv_net_destroy(net);
}

static void test_protocols_and_files(void **state)
{
    struct sdv_net *net = net_new(NULL);
    struct sdv_buf b;
    char url[512], path[400];
    FILE *f;

    (void)state;
    sdv_buf_init(&b, 1 << 16);
    assert_int_equal(sdv_net_fetch(net, "ftp://127.0.0.1/x", 10, collect, &b), SDV_ENET);
    assert_int_equal(sdv_net_fetch(net, "gopher://127.0.0.1/x", 10, collect, &b), SDV_ENET);
    snprintf(path, sizeof(path), "%s/local.txt", work_dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("local file", f);
    fclose(f);
    snprintf(url, sizeof(url), "file://%s", path);
    assert_int_equal(sdv_net_fetch(net, url, 100, collect, &b), SDV_OK);
    assert_int_equal(b.len, 10);
    snprintf(url, sizeof(url), "file://%s/none", work_dir);
    assert_int_equal(sdv_net_fetch(net, url, 100, collect, &b), SDV_ENOENT);
    sdv_buf_free(&b);
    sdv_net_destroy(net);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_file_whole),
            cmocka_unit_test(test_not_found_and_forbidden),
            cmocka_unit_test(test_size_limit),
            cmocka_unit_test(test_slow_retrieval),
            cmocka_unit_test(test_redirects),
            cmocka_unit_test(test_sink_error_propagates),
            cmocka_unit_test(test_protocols_and_files),
    };

    if (argc != 3) {
        fprintf(stderr, "usage: test_net BASE_URL WORK_DIR (run through run_net_test.sh)\n");
        return 2;
    }
    base_url = argv[1];
    work_dir = argv[2];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
