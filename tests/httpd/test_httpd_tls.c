/*
 * Tests of mTLS in lib/httpd and of the device CA: a server on 127.0.0.1 whose certificate and
 * client CA come from sdv_ca_create/sdv_ca_issue, and libcurl clients with and without
 * certificates of that CA or of another one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/crypto.h>
#include <sdv/httpd.h>
#include <sdv/limits.h>

#include "httpd_test_util.h"

#define VIN     "WVWZZZ1JZXW000001"
#define PEM_MAX (64u * 1024u)

struct pair {
    struct sdv_buf key; /* private key PEM */
    struct sdv_buf pub; /* public key PEM */
    struct sdv_buf cert;
};

struct fx {
    int64_t now;
    struct sdv_buf ca_key, ca_cert;       /* the device CA */
    struct sdv_buf other_key, other_cert; /* an unrelated CA */
    struct pair server, client, foreign, expired;
    struct sdv_httpd *h;
    struct tlog log;
    char url[128];
};

static void pair_init(struct pair *p)
{
    struct sdv_key *k = NULL;

    sdv_buf_init(&p->key, PEM_MAX);
    sdv_buf_init(&p->pub, PEM_MAX);
    sdv_buf_init(&p->cert, PEM_MAX);
    assert_int_equal(sdv_key_generate(SDV_KEY_ECDSA_P256, 0, &k), SDV_OK);
    assert_int_equal(sdv_key_private_pem(k, &p->key), SDV_OK);
    assert_int_equal(sdv_key_public_pem(k, &p->pub), SDV_OK);
    sdv_key_destroy(k);
}

static void pair_free(struct pair *p)
{
    sdv_buf_free(&p->key);
    sdv_buf_free(&p->pub);
    sdv_buf_free(&p->cert);
}

static void issue(const struct sdv_buf *ca_cert, const struct sdv_buf *ca_key, struct pair *p,
                  enum sdv_cert_kind kind, const char *cn, int64_t nb, int64_t na)
{
    struct sdv_cert_spec spec = {0};

    spec.kind = kind;
    spec.common_name = cn;
    spec.ip_addr = kind == SDV_CERT_SERVER ? "127.0.0.1" : NULL;
    spec.public_key_pem = p->pub.data;
    spec.public_key_pem_len = p->pub.len;
    spec.not_before = nb;
    spec.not_after = na;
    assert_int_equal(
            sdv_ca_issue(ca_cert->data, ca_cert->len, ca_key->data, ca_key->len, &spec, &p->cert),
            SDV_OK);
}

static void h_whoami(void *ctx, struct sdv_httpd_request *req)
{
    (void)ctx;
    sdv_httpd_respond_bytes(req, 200, "text/plain", req->identity != NULL ? req->identity : "-",
                            req->identity != NULL ? strlen(req->identity) : 1);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct sdv_httpd_config cfg = {0};
    struct sdv_httpd_route rt = {"GET", "/whoami", 0, 0, h_whoami, NULL, NULL, NULL};
    struct sdv_httpd_route anon = {"GET", "/health", SDV_HTTPD_ANON, 0, h_whoami, NULL, NULL, NULL};

    if (f == NULL)
        return -1;
    /* GnuTLS checks validity against the real clock, so the test takes its times from it. */
    f->now = (int64_t)time(NULL);
    tlog_init(&f->log);
    sdv_buf_init(&f->ca_key, PEM_MAX);
    sdv_buf_init(&f->ca_cert, PEM_MAX);
    sdv_buf_init(&f->other_key, PEM_MAX);
    sdv_buf_init(&f->other_cert, PEM_MAX);
    assert_int_equal(sdv_ca_create("OpenSDV test device CA", f->now - 3600, f->now + 86400,
                                   &f->ca_key, &f->ca_cert),
                     SDV_OK);
    assert_int_equal(sdv_ca_create("Some other CA", f->now - 3600, f->now + 86400, &f->other_key,
                                   &f->other_cert),
                     SDV_OK);
    pair_init(&f->server);
    pair_init(&f->client);
    pair_init(&f->foreign);
    pair_init(&f->expired);
    issue(&f->ca_cert, &f->ca_key, &f->server, SDV_CERT_SERVER, "sdv-server", f->now - 3600,
          f->now + 86400);
    issue(&f->ca_cert, &f->ca_key, &f->client, SDV_CERT_CLIENT, VIN, f->now - 3600, f->now + 86400);
    issue(&f->other_cert, &f->other_key, &f->foreign, SDV_CERT_CLIENT, VIN, f->now - 3600,
          f->now + 86400);
    issue(&f->ca_cert, &f->ca_key, &f->expired, SDV_CERT_CLIENT, VIN, f->now - 7200, f->now - 3600);

    cfg.auth = SDV_HTTPD_AUTH_MTLS;
    cfg.tls_cert_pem = (const char *)f->server.cert.data;
    cfg.tls_key_pem = (const char *)f->server.key.data;
    cfg.tls_client_ca_pem = (const char *)f->ca_cert.data;
    cfg.log.fn = tlog_fn;
    cfg.log.ud = &f->log;
    cfg.log.level = SDV_LOG_DEBUG;
    assert_int_equal(sdv_httpd_create(&cfg, &f->h), SDV_OK);
    assert_int_equal(sdv_httpd_route_add(f->h, &rt), SDV_OK);
    assert_int_equal(sdv_httpd_route_add(f->h, &anon), SDV_OK);
    assert_int_equal(sdv_httpd_start(f->h), SDV_OK);
    snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%u/whoami", (unsigned)sdv_httpd_port(f->h));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    sdv_httpd_destroy(f->h);
    pair_free(&f->server);
    pair_free(&f->client);
    pair_free(&f->foreign);
    pair_free(&f->expired);
    sdv_buf_free(&f->ca_key);
    sdv_buf_free(&f->ca_cert);
    sdv_buf_free(&f->other_key);
    sdv_buf_free(&f->other_cert);
    free(f);
    return 0;
}

/* A curl handle that trusts the device CA for the server and presents p (if not NULL). */
static CURL *client(struct fx *f, const struct pair *p)
{
    CURL *c = curl_easy_init();
    struct curl_blob ca = {f->ca_cert.data, f->ca_cert.len, CURL_BLOB_COPY};

    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
    if (p != NULL) {
        struct curl_blob cert = {p->cert.data, p->cert.len, CURL_BLOB_COPY};
        struct curl_blob key = {p->key.data, p->key.len, CURL_BLOB_COPY};

        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    }
    return c;
}

/* Asserts that the request was refused with a 403 that names the reason. The handshake itself
 * succeeds (the server only requests a certificate), so the client learns why. */
static void expect_refused(struct fx *f, const struct pair *p, const char *reason)
{
    CURL *c = client(f, p);
    struct http_req req = {"GET", f->url, NULL, NULL, 0, 0, 0, 0};
    struct http_resp r;

    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr((const char *)r.body.data, reason));
    assert_null(strstr((const char *)r.body.data, VIN));
    http_resp_free(&r);
    curl_easy_cleanup(c);
}

static void test_mtls_accepted(void **state)
{
    struct fx *f = *state;
    CURL *c = client(f, &f->client);
    struct http_req req = {"GET", f->url, NULL, NULL, 0, 0, 0, 0};
    struct http_resp r;
    const char *need[] = {"id=" VIN, "path=/whoami", "status=200", NULL};

    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.body.data, VIN);
    http_resp_free(&r);
    /* The identity stays with the kept-alive connection. */
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.num_connects, 0);
    assert_string_equal((const char *)r.body.data, VIN);
    http_resp_free(&r);
    curl_easy_cleanup(c);
    for (int i = 0; i < 200 && tlog_count(&f->log, need) < 2; i++)
        usleep(5000);
    assert_int_equal(tlog_count(&f->log, need), 2);
}

static void test_mtls_no_cert(void **state)
{
    struct fx *f = *state;
    CURL *c;
    struct http_resp r;
    char url[128];
    struct http_req req = {"GET", url, NULL, NULL, 0, 0, 0, 0};

    expect_refused(f, NULL, "no client certificate");
    /* Anonymous routes (the admin API, health checks) answer without a device certificate,
     * with no identity. */
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/health", (unsigned)sdv_httpd_port(f->h));
    c = client(f, NULL);
    assert_int_equal(http_do(c, &req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.body.data, "-");
    http_resp_free(&r);
    curl_easy_cleanup(c);
}

static void test_mtls_other_ca(void **state)
{
    expect_refused(*state, &((struct fx *)*state)->foreign, "not issued by the device CA");
}

static void test_mtls_expired(void **state)
{
    expect_refused(*state, &((struct fx *)*state)->expired, "expired");
}

static void test_mtls_server_cert_as_client(void **state)
{
    /* Issued by the right CA, but for serverAuth: not a device identity. */
    expect_refused(*state, &((struct fx *)*state)->server, "client authentication");
}

static void test_ca_errors(void **state)
{
    struct fx *f = *state;
    struct sdv_buf out;
    struct sdv_cert_spec spec = {0};
    char long_cn[80];

    sdv_buf_init(&out, PEM_MAX);
    assert_int_equal(sdv_ca_create("", 0, 10, &out, &out), SDV_EINVAL);
    assert_int_equal(sdv_ca_create("x", 10, 10, &out, &out), SDV_EINVAL);
    memset(long_cn, 'c', sizeof(long_cn) - 1);
    long_cn[sizeof(long_cn) - 1] = '\0';
    spec.kind = SDV_CERT_CLIENT;
    spec.common_name = long_cn;
    spec.public_key_pem = f->client.pub.data;
    spec.public_key_pem_len = f->client.pub.len;
    spec.not_before = f->now;
    spec.not_after = f->now + 10;
    assert_int_equal(sdv_ca_issue(f->ca_cert.data, f->ca_cert.len, f->ca_key.data, f->ca_key.len,
                                  &spec, &out),
                     SDV_EINVAL);
    spec.common_name = VIN;
    assert_int_equal(sdv_ca_issue("junk", 4, f->ca_key.data, f->ca_key.len, &spec, &out),
                     SDV_EPARSE);
    /* A CA certificate with a key that is not its own. */
    assert_int_equal(sdv_ca_issue(f->ca_cert.data, f->ca_cert.len, f->other_key.data,
                                  f->other_key.len, &spec, &out),
                     SDV_EINVAL);
    /* Servers need a subjectAltName. */
    spec.kind = SDV_CERT_SERVER;
    assert_int_equal(sdv_ca_issue(f->ca_cert.data, f->ca_cert.len, f->ca_key.data, f->ca_key.len,
                                  &spec, &out),
                     SDV_EINVAL);
    assert_int_equal(out.len, 0);
    sdv_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_mtls_accepted),
            cmocka_unit_test(test_mtls_no_cert),
            cmocka_unit_test(test_mtls_other_ca),
            cmocka_unit_test(test_mtls_expired),
            cmocka_unit_test(test_mtls_server_cert_as_client),
            cmocka_unit_test(test_ca_errors),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
