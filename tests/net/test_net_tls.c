/*
 * test_net_tls.c - lib/net's TLS options against lib/httpd in mTLS mode on 127.0.0.1: a device
 * presenting a certificate from the fleet's device CA is identified by its CN (the VIN); without
 * one, or with a certificate from another CA, the server refuses; a server certificate that the
 * configured CA did not issue is refused by the client.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sdv/crypto.h>
#include <sdv/httpd.h>
#include <sdv/net.h>

#define VIN "WOPENSDV000000042"

struct pki {
    char dir[64];
    struct sdv_buf ca_key, ca_cert, srv_key, srv_cert;
    char ca_file[128], cert_file[128], key_file[128];
    char other_cert_file[128], other_key_file[128], other_ca_file[128];
};

static void write_file(const char *path, const struct sdv_buf *b)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
    fclose(f);
}

/* A key and a certificate issued by the CA (key_pem, cert_pem) for kind/CN. */
static void issue(const struct sdv_buf *ca_key, const struct sdv_buf *ca_cert,
                  enum sdv_cert_kind kind, const char *cn, struct sdv_buf *key_out,
                  struct sdv_buf *cert_out)
{
    struct sdv_key *k = NULL;
    struct sdv_cert_spec spec = {0};
    int64_t now = (int64_t)time(NULL);

    assert_int_equal(sdv_key_generate(SDV_KEY_ECDSA_P256, 0, &k), SDV_OK);
    sdv_buf_init(key_out, 1 << 16);
    sdv_buf_init(cert_out, 1 << 16);
    assert_int_equal(sdv_key_private_pem(k, key_out), SDV_OK);
    spec.kind = kind;
    spec.common_name = cn;
    spec.ip_addr = kind == SDV_CERT_SERVER ? "127.0.0.1" : NULL;
    spec.public_key_pem = key_out->data;
    spec.public_key_pem_len = key_out->len;
    spec.not_before = now - 3600;
    spec.not_after = now + 86400;
    assert_int_equal(
            sdv_ca_issue(ca_cert->data, ca_cert->len, ca_key->data, ca_key->len, &spec, cert_out),
            SDV_OK);
    sdv_key_destroy(k);
}

static void make_ca(const char *cn, struct sdv_buf *key, struct sdv_buf *cert)
{
    int64_t now = (int64_t)time(NULL);

    sdv_buf_init(key, 1 << 16);
    sdv_buf_init(cert, 1 << 16);
    assert_int_equal(sdv_ca_create(cn, now - 3600, now + 86400, key, cert), SDV_OK);
}

static void h_whoami(void *ctx, struct sdv_httpd_request *req)
{
    (void)ctx;
    sdv_httpd_respond_bytes(req, 200, "text/plain", req->identity != NULL ? req->identity : "-",
                            req->identity != NULL ? strlen(req->identity) : 1);
}

static enum sdv_err collect(void *ud, const void *data, size_t len)
{
    return sdv_buf_append(ud, data, len);
}

static enum sdv_err fetch(const struct sdv_net_config *cfg, const char *url, struct sdv_buf *out)
{
    struct sdv_net *net = NULL;
    enum sdv_err err;

    assert_int_equal(sdv_net_create(cfg, &net), SDV_OK);
    sdv_buf_init(out, 4096);
    err = sdv_net_fetch(net, url, 4096, collect, out);
    sdv_net_destroy(net);
    return err;
}

static void test_mtls(void **state)
{
    struct pki p = {0};
    struct sdv_buf dev_key, dev_cert, o_key, o_cert, oca_key, oca_cert, body;
    struct sdv_httpd_config hc = {0};
    struct sdv_httpd_route rt = {"GET", "/whoami", 0, 0, h_whoami, NULL, NULL, NULL};
    struct sdv_net_config nc = {0};
    struct sdv_httpd *h = NULL;
    char url[128], cmd[160];

    (void)state;
    snprintf(p.dir, sizeof(p.dir), "%s/sdv-net-tls-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(p.dir));
    make_ca("OpenSDV device CA", &p.ca_key, &p.ca_cert);
    issue(&p.ca_key, &p.ca_cert, SDV_CERT_SERVER, "sdv-server", &p.srv_key, &p.srv_cert);
    issue(&p.ca_key, &p.ca_cert, SDV_CERT_CLIENT, VIN, &dev_key, &dev_cert);
    make_ca("Somebody else's CA", &oca_key, &oca_cert);
    issue(&oca_key, &oca_cert, SDV_CERT_CLIENT, VIN, &o_key, &o_cert);
    snprintf(p.ca_file, sizeof(p.ca_file), "%s/ca.pem", p.dir);
    snprintf(p.cert_file, sizeof(p.cert_file), "%s/dev.pem", p.dir);
    snprintf(p.key_file, sizeof(p.key_file), "%s/dev.key", p.dir);
    snprintf(p.other_cert_file, sizeof(p.other_cert_file), "%s/other.pem", p.dir);
    snprintf(p.other_key_file, sizeof(p.other_key_file), "%s/other.key", p.dir);
    snprintf(p.other_ca_file, sizeof(p.other_ca_file), "%s/otherca.pem", p.dir);
    write_file(p.ca_file, &p.ca_cert);
    write_file(p.cert_file, &dev_cert);
    write_file(p.key_file, &dev_key);
    write_file(p.other_cert_file, &o_cert);
    write_file(p.other_key_file, &o_key);
    write_file(p.other_ca_file, &oca_cert);

    hc.auth = SDV_HTTPD_AUTH_MTLS;
    hc.tls_cert_pem = (const char *)p.srv_cert.data;
    hc.tls_key_pem = (const char *)p.srv_key.data;
    hc.tls_client_ca_pem = (const char *)p.ca_cert.data;
    assert_int_equal(sdv_httpd_create(&hc, &h), SDV_OK);
    assert_int_equal(sdv_httpd_route_add(h, &rt), SDV_OK);
    assert_int_equal(sdv_httpd_start(h), SDV_OK);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/whoami", (unsigned)sdv_httpd_port(h));

    /* The device's certificate is its identity. */
    nc.ca_file = p.ca_file;
    nc.client_cert_file = p.cert_file;
    nc.client_key_file = p.key_file;
    assert_int_equal(fetch(&nc, url, &body), SDV_OK);
    assert_int_equal(body.len, strlen(VIN));
    assert_memory_equal(body.data, VIN, strlen(VIN));
    sdv_buf_free(&body);

    /* No client certificate: refused (403). */
    nc.client_cert_file = NULL;
    nc.client_key_file = NULL;
    assert_int_equal(fetch(&nc, url, &body), SDV_ENOENT);
    sdv_buf_free(&body);

    /* A certificate from another CA: refused. */
    nc.client_cert_file = p.other_cert_file;
    nc.client_key_file = p.other_key_file;
    assert_int_not_equal(fetch(&nc, url, &body), SDV_OK);
    sdv_buf_free(&body);

    /* The client only trusts servers its CA file vouches for. */
    nc.ca_file = p.other_ca_file;
    nc.client_cert_file = p.cert_file;
    nc.client_key_file = p.key_file;
    assert_int_equal(fetch(&nc, url, &body), SDV_ENET);
    sdv_buf_free(&body);

    sdv_httpd_destroy(h);
    sdv_buf_free(&p.ca_key);
    sdv_buf_free(&p.ca_cert);
    sdv_buf_free(&p.srv_key);
    sdv_buf_free(&p.srv_cert);
    sdv_buf_free(&dev_key);
    sdv_buf_free(&dev_cert);
    sdv_buf_free(&o_key);
    sdv_buf_free(&o_cert);
    sdv_buf_free(&oca_key);
    sdv_buf_free(&oca_cert);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p.dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_mtls),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
