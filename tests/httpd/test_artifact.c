/*
 * Tests of the content-addressed artifact store, alone and served through lib/httpd: put, open,
 * stat, delete, deduplication, hash and size checks, interrupted puts (API, crash leftovers and
 * HTTP uploads cut off or refused), and a 10 MB artifact uploaded chunked and read back with
 * Range byte for byte.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/artifact.h>
#include <sdv/crypto.h>
#include <sdv/httpd.h>

#include "httpd_test_util.h"

#define HELLO_ID   "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define BIG_LEN    (10u * 1024u * 1024u)
#define UPLOAD_MAX (16u * 1024u * 1024u)

struct fx {
    char dir[128];
    char tmp[256];
    struct sdv_artifact_store *s;
    struct sdv_httpd *h;
    struct tlog log;
    char base[64];
};

/* ---- HTTP routes over the store --------------------------------------------------------- */

static enum sdv_err up_body(void *ctx, struct sdv_httpd_request *req, const void *data, size_t len)
{
    struct fx *f = ctx;

    if (req->stream_ud == NULL) {
        struct sdv_artifact_put *p = NULL;
        enum sdv_err err = sdv_artifact_put_begin(f->s, UPLOAD_MAX, &p);

        if (err != SDV_OK)
            return err;
        req->stream_ud = p;
    }
    return sdv_artifact_put_write(req->stream_ud, data, len);
}

static void up_handler(void *ctx, struct sdv_httpd_request *req)
{
    struct fx *f = ctx;
    char id[SDV_ARTIFACT_ID_LEN];
    uint64_t len = 0;
    int existed = 0;
    enum sdv_err err;
    json_t *j;

    if (req->stream_ud == NULL && (err = up_body(f, req, "", 0)) != SDV_OK) {
        sdv_httpd_respond_status(req, 500, sdv_strerror(err));
        return;
    }
    err = sdv_artifact_put_commit(req->stream_ud, sdv_httpd_query(req, "sha256"), id, &len,
                                  &existed);
    req->stream_ud = NULL; /* commit frees the put whatever happens */
    if (err != SDV_OK) {
        sdv_httpd_respond_status(req, err == SDV_EHASH ? 400 : 500, sdv_strerror(err));
        return;
    }
    j = json_pack("{s:s, s:I, s:b}", "sha256", id, "length", (json_int_t)len, "existed", existed);
    sdv_httpd_respond_json(req, existed ? 200 : 201, j);
    json_decref(j);
}

static void up_done(void *ctx, struct sdv_httpd_request *req, int completed)
{
    (void)ctx;
    (void)completed;
    /* Still set: the upload never reached the handler (refused, or the client went away). */
    sdv_artifact_put_abort(req->stream_ud);
    req->stream_ud = NULL;
}

static void get_handler(void *ctx, struct sdv_httpd_request *req)
{
    struct fx *f = ctx;
    uint64_t len;
    int fd;

    if (!sdv_artifact_id_ok(req->path_tail) ||
        sdv_artifact_open(f->s, req->path_tail, &fd, &len) != SDV_OK) {
        sdv_httpd_respond_status(req, 404, "no such artifact");
        return;
    }
    sdv_httpd_respond_fd(req, fd, len, req->path_tail, "application/octet-stream");
}

/* ---- Fixture ---------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct sdv_httpd_config cfg = {0};
    struct sdv_httpd_route up = {"POST",     "/artifacts", SDV_HTTPD_ANON, UPLOAD_MAX,
                                 up_handler, up_body,      up_done,        NULL};
    struct sdv_httpd_route get = {"GET", "/artifacts/", SDV_HTTPD_ANON | SDV_HTTPD_PREFIX,
                                  0,     get_handler,   NULL,
                                  NULL,  NULL};

    if (f == NULL)
        return -1;
    tlog_init(&f->log);
    test_tmpdir(f->dir, sizeof(f->dir), "artifact");
    snprintf(f->tmp, sizeof(f->tmp), "%s/tmp", f->dir);
    if (sdv_artifact_store_open(f->dir, &f->s) != SDV_OK)
        return -1;
    cfg.log.fn = tlog_fn;
    cfg.log.ud = &f->log;
    cfg.log.level = SDV_LOG_DEBUG;
    up.ctx = get.ctx = f;
    if (sdv_httpd_create(&cfg, &f->h) != SDV_OK || sdv_httpd_route_add(f->h, &up) != SDV_OK ||
        sdv_httpd_route_add(f->h, &get) != SDV_OK || sdv_httpd_start(f->h) != SDV_OK)
        return -1;
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", (unsigned)sdv_httpd_port(f->h));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    sdv_httpd_destroy(f->h);
    sdv_artifact_store_close(f->s);
    test_rmdir(f->dir);
    free(f);
    return 0;
}

static void put_bytes(struct fx *f, const void *data, size_t len, char *id, int *existed)
{
    struct sdv_artifact_put *p = NULL;

    assert_int_equal(sdv_artifact_put_begin(f->s, 0, &p), SDV_OK);
    assert_int_equal(sdv_artifact_put_write(p, data, len / 2), SDV_OK);
    assert_int_equal(sdv_artifact_put_write(p, (const char *)data + len / 2, len - len / 2),
                     SDV_OK);
    assert_int_equal(sdv_artifact_put_commit(p, NULL, id, NULL, existed), SDV_OK);
}

/* ---- Store API -------------------------------------------------------------------------- */

static void test_put_get_stat_delete(void **state)
{
    struct fx *f = *state;
    char id[SDV_ARTIFACT_ID_LEN], path[512], buf[16];
    uint64_t len = 0;
    int fd = -1, existed = -1;
    struct stat st;

    put_bytes(f, "hello", 5, id, &existed);
    assert_string_equal(id, HELLO_ID);
    assert_int_equal(existed, 0);
    snprintf(path, sizeof(path), "%s/sha256/2c/%s", f->dir, HELLO_ID);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(sdv_artifact_stat(f->s, HELLO_ID, &len), SDV_OK);
    assert_int_equal(len, 5);
    assert_int_equal(sdv_artifact_open(f->s, HELLO_ID, &fd, &len), SDV_OK);
    assert_int_equal(read(fd, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(sdv_artifact_delete(f->s, HELLO_ID), SDV_OK);
    /* An open reader keeps its bytes after the delete. */
    assert_int_equal(pread(fd, buf, sizeof(buf), 0), 5);
    close(fd);
    assert_int_equal(sdv_artifact_stat(f->s, HELLO_ID, &len), SDV_ENOENT);
    assert_int_equal(sdv_artifact_open(f->s, HELLO_ID, &fd, &len), SDV_ENOENT);
    assert_int_equal(sdv_artifact_delete(f->s, HELLO_ID), SDV_ENOENT);
    assert_int_equal(test_dir_entries(f->tmp), 0);

    /* Only 64 lowercase hex digits name an artifact. */
    assert_int_equal(sdv_artifact_stat(f->s, "../../etc/passwd", &len), SDV_EINVAL);
    assert_int_equal(sdv_artifact_stat(f->s,
                                       "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362"
                                       "938B9824",
                                       &len),
                     SDV_EINVAL);
    assert_int_equal(sdv_artifact_stat(f->s, HELLO_ID "0", &len), SDV_EINVAL);
    assert_int_equal(sdv_artifact_delete(f->s, ""), SDV_EINVAL);
}

static void test_dedup(void **state)
{
    struct fx *f = *state;
    char id1[SDV_ARTIFACT_ID_LEN], id2[SDV_ARTIFACT_ID_LEN], shard[512];
    int existed = -1;

    put_bytes(f, "same bytes", 10, id1, &existed);
    assert_int_equal(existed, 0);
    put_bytes(f, "same bytes", 10, id2, &existed);
    assert_int_equal(existed, 1);
    assert_string_equal(id1, id2);
    snprintf(shard, sizeof(shard), "%s/sha256/%.2s", f->dir, id1);
    assert_int_equal(test_dir_entries(shard), 1);
    assert_int_equal(test_dir_entries(f->tmp), 0);
    assert_int_equal(sdv_artifact_delete(f->s, id1), SDV_OK);
}

static void test_expect_and_limit(void **state)
{
    struct fx *f = *state;
    struct sdv_artifact_put *p = NULL;
    char id[SDV_ARTIFACT_ID_LEN];
    uint64_t len;

    /* The content must hash to the announced id, or nothing is stored. */
    assert_int_equal(sdv_artifact_put_begin(f->s, 0, &p), SDV_OK);
    assert_int_equal(sdv_artifact_put_write(p, "hellO", 5), SDV_OK);
    assert_int_equal(sdv_artifact_put_commit(p, HELLO_ID, id, NULL, NULL), SDV_EHASH);
    assert_int_equal(sdv_artifact_stat(f->s, HELLO_ID, &len), SDV_ENOENT);
    assert_int_equal(test_dir_entries(f->tmp), 0);

    assert_int_equal(sdv_artifact_put_begin(f->s, 0, &p), SDV_OK);
    assert_int_equal(sdv_artifact_put_write(p, "hello", 5), SDV_OK);
    assert_int_equal(sdv_artifact_put_commit(p, HELLO_ID, id, &len, NULL), SDV_OK);
    assert_int_equal(len, 5);
    assert_int_equal(sdv_artifact_delete(f->s, HELLO_ID), SDV_OK);

    /* The size bound holds across writes. */
    assert_int_equal(sdv_artifact_put_begin(f->s, 8, &p), SDV_OK);
    assert_int_equal(sdv_artifact_put_write(p, "12345", 5), SDV_OK);
    assert_int_equal(sdv_artifact_put_write(p, "6789", 4), SDV_ETOOBIG);
    sdv_artifact_put_abort(p);
    assert_int_equal(test_dir_entries(f->tmp), 0);
}

static void test_interrupted_put(void **state)
{
    struct fx *f = *state;
    struct sdv_artifact_put *p = NULL;
    char leftover[512];
    uint64_t len;
    unsigned removed = 99;
    int fd;

    /* Aborted: no artifact, no temporary file. */
    assert_int_equal(sdv_artifact_put_begin(f->s, 0, &p), SDV_OK);
    assert_int_equal(sdv_artifact_put_write(p, "hel", 3), SDV_OK);
    assert_int_equal(test_dir_entries(f->tmp), 1);
    sdv_artifact_put_abort(p);
    assert_int_equal(test_dir_entries(f->tmp), 0);
    assert_int_equal(sdv_artifact_stat(f->s, HELLO_ID, &len), SDV_ENOENT);
    assert_int_equal(test_dir_entries(f->dir), 2); /* sha256/ and tmp/ only */

    /* A crash leaves only a temporary file, which the start-up clean removes. */
    snprintf(leftover, sizeof(leftover), "%s/put-0123456789abcdef", f->tmp);
    fd = open(leftover, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hel", 3), 3);
    close(fd);
    assert_int_equal(sdv_artifact_stat(f->s, HELLO_ID, &len), SDV_ENOENT);
    assert_int_equal(sdv_artifact_store_clean_tmp(f->s, &removed), SDV_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(test_dir_entries(f->tmp), 0);
}

/* ---- Through HTTP ----------------------------------------------------------------------- */

static void wait_idle(struct fx *f)
{
    for (int i = 0; i < 1000 && sdv_httpd_in_flight(f->h) > 0; i++)
        usleep(2000);
    assert_int_equal(sdv_httpd_in_flight(f->h), 0);
}

static void test_http_interrupted_upload(void **state)
{
    struct fx *f = *state;
    size_t n = 300000;
    uint8_t *body = malloc(n);
    char url[256];
    struct http_req req = {"POST", url, NULL, body, n, 1, 10000, 100000};
    struct http_resp r;
    CURL *c = curl_easy_init();

    assert_non_null(body);
    memset(body, 'q', n);
    snprintf(url, sizeof(url), "%s/artifacts", f->base);
    /* The client gives up after 100,000 bytes: the partial upload is discarded. */
    assert_int_equal(http_do(c, &req, &r), -1);
    assert_int_equal(r.rc, CURLE_ABORTED_BY_CALLBACK);
    http_resp_free(&r);
    curl_easy_cleanup(c);
    wait_idle(f);
    assert_int_equal(test_dir_entries(f->tmp), 0);
    assert_int_equal(test_dir_entries(f->dir), 2);

    /* A wrong announced hash is a 400 and stores nothing. */
    c = curl_easy_init();
    snprintf(url, sizeof(url), "%s/artifacts?sha256=" HELLO_ID, f->base);
    req.abort_at = 0;
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 400);
    http_resp_free(&r);
    curl_easy_cleanup(c);
    wait_idle(f);
    assert_int_equal(test_dir_entries(f->tmp), 0);
    assert_int_equal(test_dir_entries(f->dir), 2);
    free(body);
}

static void test_http_upload_too_big(void **state)
{
    struct fx *f = *state;
    size_t n = UPLOAD_MAX + 4096;
    uint8_t *body = calloc(1, n);
    char url[128];
    struct http_req req = {"POST", url, NULL, body, n, 1, 65536, 0};
    struct http_resp r;
    CURL *c = curl_easy_init();

    assert_non_null(body);
    snprintf(url, sizeof(url), "%s/artifacts", f->base);
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 413);
    http_resp_free(&r);
    curl_easy_cleanup(c);
    free(body);
    wait_idle(f);
    assert_int_equal(test_dir_entries(f->tmp), 0);
    assert_int_equal(test_dir_entries(f->dir), 2);
}

static void range_get(struct fx *f, CURL *c, const char *id, const char *range, const uint8_t *big,
                      uint64_t first, uint64_t last)
{
    char url[256], hdr[96], want[96], v[96];
    const char *hdrs[] = {hdr, NULL};
    struct http_req req = {"GET", url, hdrs, NULL, 0, 0, 0, 0};
    struct http_resp r;

    snprintf(url, sizeof(url), "%s/artifacts/%s", f->base, id);
    snprintf(hdr, sizeof(hdr), "Range: %s", range);
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 206);
    snprintf(want, sizeof(want), "bytes %llu-%llu/%u", (unsigned long long)first,
             (unsigned long long)last, BIG_LEN);
    assert_string_equal(http_resp_header(&r, "Content-Range", v, sizeof(v)), want);
    assert_int_equal(r.body.len, last - first + 1);
    assert_memory_equal(r.body.data, big + first, last - first + 1);
    http_resp_free(&r);
}

static void test_http_10mb_range(void **state)
{
    struct fx *f = *state;
    uint8_t *big = malloc(BIG_LEN), digest[32];
    char url[256], id[SDV_ARTIFACT_ID_LEN], v[128], etag[80], inm[96];
    const char *hdrs[] = {inm, NULL};
    struct http_req req = {"POST", url, NULL, big, BIG_LEN, 1, 65536, 0};
    struct http_resp r;
    uint32_t x = 12345;
    CURL *c = curl_easy_init();
    json_t *j;

    assert_non_null(big);
    for (size_t i = 0; i < BIG_LEN; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (uint8_t)(x >> 16);
    }
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, big, BIG_LEN, digest), SDV_OK);
    sdv_hex_encode(digest, sizeof(digest), id);

    /* Upload chunked into the store. */
    snprintf(url, sizeof(url), "%s/artifacts", f->base);
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 201);
    j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "sha256")), id);
    assert_int_equal(json_integer_value(json_object_get(j, "length")), BIG_LEN);
    json_decref(j);
    http_resp_free(&r);
    /* The same upload again is recognised as stored. */
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);

    /* Whole body, then ranges: byte for byte. */
    snprintf(url, sizeof(url), "%s/artifacts/%s", f->base, id);
    req.method = "GET";
    req.body = NULL;
    req.body_len = 0;
    req.chunked = 0;
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, BIG_LEN);
    assert_memory_equal(r.body.data, big, BIG_LEN);
    snprintf(etag, sizeof(etag), "\"%s\"", id);
    assert_string_equal(http_resp_header(&r, "ETag", v, sizeof(v)), etag);
    http_resp_free(&r);
    range_get(f, c, id, "bytes=0-0", big, 0, 0);
    range_get(f, c, id, "bytes=5000000-5999999", big, 5000000, 5999999);
    range_get(f, c, id, "bytes=-1000000", big, BIG_LEN - 1000000, BIG_LEN - 1);
    range_get(f, c, id, "bytes=10485759-", big, BIG_LEN - 1, BIG_LEN - 1);
    range_get(f, c, id, "bytes=3-10485759", big, 3, BIG_LEN - 1);

    /* Past the end: 416 with the length. */
    snprintf(inm, sizeof(inm), "Range: bytes=10485760-");
    req.headers = hdrs;
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 416);
    assert_string_equal(http_resp_header(&r, "Content-Range", v, sizeof(v)), "bytes */10485760");
    http_resp_free(&r);

    /* The client's copy is current: 304 without a body. */
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.body.len, 0);
    http_resp_free(&r);

    /* Unknown and ill-formed ids. */
    req.headers = NULL;
    snprintf(url, sizeof(url), "%s/artifacts/%s", f->base, HELLO_ID);
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 404);
    http_resp_free(&r);
    snprintf(url, sizeof(url), "%s/artifacts/..%%2F..%%2Fetc%%2Fpasswd", f->base);
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 404);
    http_resp_free(&r);

    assert_int_equal(sdv_artifact_delete(f->s, id), SDV_OK);
    curl_easy_cleanup(c);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_put_get_stat_delete),
            cmocka_unit_test(test_dedup),
            cmocka_unit_test(test_expect_and_limit),
            cmocka_unit_test(test_interrupted_put),
            cmocka_unit_test(test_http_interrupted_upload),
            cmocka_unit_test(test_http_upload_too_big),
            cmocka_unit_test(test_http_10mb_range),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
