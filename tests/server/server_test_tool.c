/*
 * server_test_tool.c - test-only: builds and signs ECU version reports and a vehicle version
 * manifest with lib/uptane from PEM key files, as a primary ECU would, so that the end-to-end
 * test can POST real manifests to sdv-server.
 *
 *   server_test_tool --vin V --primary SERIAL --primary-key KEY.pem
 *                    --report SERIAL:KEY.pem:TARGET_NAME:IMAGE_FILE:RELEASE_COUNTER ...
 *                    [--report-counter N] [--manifest-counter N]
 *                    [--attack SERIAL=TEXT] [--tamper SERIAL] --out FILE
 *
 * Length, SHA-256 and SHA-512 of each report come from IMAGE_FILE. --tamper changes the length
 * inside SERIAL's report after it was signed (its signature no longer verifies) while the
 * primary signs the manifest as usual: what a compromised primary forging a secondary's report
 * would send.
 *
 *   server_test_tool certs DIR VIN
 *
 * writes a device CA (DIR/ca.pem), a server certificate for 127.0.0.1 (DIR/server.pem,
 * DIR/server.key) and a vehicle's client certificate with CN=VIN (DIR/client.pem,
 * DIR/client.key), for the mTLS part of the test.
 *
 *   server_test_tool http [-X METHOD] [-H 'Name: value']... [-d TEXT | --data-binary @FILE |
 *                         -T FILE] [--cacert F] [--cert F --key F] [--path-as-is]
 *                         [-o OUT] [-D HEADERS] URL
 *
 * is a small HTTP client on libcurl with curl's option names (the curl program is not a
 * dependency of the project): it prints the status code, writes the body to OUT and the
 * response headers to HEADERS. -T sends FILE with the chunked transfer coding.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/httpd.h>
#include <sdv/uptane.h>

#define REPORTS_MAX 16

static enum sdv_err random_cb(void *ud, void *p, size_t n)
{
    (void)ud;
    return sdv_random_bytes(p, n);
}

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "server_test_tool: %s: %s\n", what, detail);
    return 1;
}

/* Changes signed.installed_image.fileinfo.length of a signed report in place (text in b). */
static int tamper(struct sdv_buf *b)
{
    json_t *j = NULL, *len;
    char *text;

    if (sdv_json_parse(b->data, b->len, &j, NULL, 0) != SDV_OK)
        return fail("tamper", "report does not parse");
    len = json_object_get(
            json_object_get(json_object_get(json_object_get(j, "signed"), "installed_image"),
                            "fileinfo"),
            "length");
    json_integer_set(len, json_integer_value(len) + 1);
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (text == NULL)
        return fail("tamper", "out of memory");
    sdv_buf_reset(b);
    sdv_buf_puts(b, text);
    free(text);
    return 0;
}

/* A new P-256 key: its PEM into DIR/name, the key's PEM text kept in pem. */
static enum sdv_err new_key(const char *dir, const char *name, struct sdv_buf *pem)
{
    struct sdv_key *k = NULL;
    char path[1024];
    enum sdv_err err = sdv_key_generate(SDV_KEY_ECDSA_P256, 0, &k);

    if (err == SDV_OK)
        err = sdv_key_private_pem(k, pem);
    sdv_key_destroy(k);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (err == SDV_OK)
        err = sdv_fs_write_atomic(path, pem->data, pem->len, 0600);
    return err;
}

static int certs(const char *dir, const char *vin)
{
    struct sdv_buf ca_key, ca_cert, srv_key, srv_cert, cli_key, cli_cert;
    int64_t now = (int64_t)time(NULL);
    struct sdv_cert_spec srv = {SDV_CERT_SERVER, "sdv-server", NULL, "127.0.0.1", NULL, 0,
                                now - 60,        now + 86400};
    struct sdv_cert_spec cli = {SDV_CERT_CLIENT, vin, NULL, NULL, NULL, 0, now - 60, now + 86400};
    char path[1024];
    enum sdv_err err;
    struct sdv_buf *bufs[] = {&ca_key, &ca_cert, &srv_key, &srv_cert, &cli_key, &cli_cert};

    for (size_t i = 0; i < 6; i++)
        sdv_buf_init(bufs[i], 64 * 1024);
    err = sdv_ca_create("sdv test device CA", now - 60, now + 86400, &ca_key, &ca_cert);
    if (err == SDV_OK)
        err = new_key(dir, "server.key", &srv_key);
    if (err == SDV_OK)
        err = new_key(dir, "client.key", &cli_key);
    srv.public_key_pem = srv_key.data;
    srv.public_key_pem_len = srv_key.len;
    cli.public_key_pem = cli_key.data;
    cli.public_key_pem_len = cli_key.len;
    if (err == SDV_OK)
        err = sdv_ca_issue(ca_cert.data, ca_cert.len, ca_key.data, ca_key.len, &srv, &srv_cert);
    if (err == SDV_OK)
        err = sdv_ca_issue(ca_cert.data, ca_cert.len, ca_key.data, ca_key.len, &cli, &cli_cert);
    snprintf(path, sizeof(path), "%s/ca.pem", dir);
    if (err == SDV_OK)
        err = sdv_fs_write_atomic(path, ca_cert.data, ca_cert.len, 0644);
    snprintf(path, sizeof(path), "%s/server.pem", dir);
    if (err == SDV_OK)
        err = sdv_fs_write_atomic(path, srv_cert.data, srv_cert.len, 0644);
    snprintf(path, sizeof(path), "%s/client.pem", dir);
    if (err == SDV_OK)
        err = sdv_fs_write_atomic(path, cli_cert.data, cli_cert.len, 0644);
    for (size_t i = 0; i < 6; i++)
        sdv_buf_free(bufs[i]);
    return err == SDV_OK ? 0 : fail("certs", sdv_strerror(err));
}

static size_t http_write(char *data, size_t size, size_t nmemb, void *ud)
{
    return fwrite(data, size, nmemb, ud);
}

static size_t http_read(char *data, size_t size, size_t nmemb, void *ud)
{
    return fread(data, size, nmemb, ud);
}

#define HTTP_HEADERS_MAX 16

static int http(int argc, char **argv)
{
    static const struct option opts[] = {
            {"data-binary", required_argument, NULL, 'b'}, {"cacert", required_argument, NULL, 'c'},
            {"cert", required_argument, NULL, 'e'},        {"key", required_argument, NULL, 'k'},
            {"path-as-is", no_argument, NULL, 'p'},        {NULL, 0, NULL, 0},
    };
    const char *method = NULL, *out = "/dev/null", *dump = NULL, *cacert = NULL, *cert = NULL;
    const char *key = NULL, *upload = NULL, *text = NULL, *data_file = NULL;
    struct curl_slist *hdrs = NULL;
    struct sdv_buf data;
    FILE *body = NULL, *head = NULL, *up = NULL;
    CURL *c;
    CURLcode rc;
    long status = 0;
    int opt, path_as_is = 0, ret = 1;

    optind = 2;
    while ((opt = getopt_long(argc, argv, "X:H:d:T:o:D:", opts, NULL)) != -1) {
        switch (opt) {
        case 'X':
            method = optarg;
            break;
        case 'H':
            hdrs = curl_slist_append(hdrs, optarg);
            break;
        case 'd':
            text = optarg;
            break;
        case 'b':
            if (optarg[0] != '@')
                return fail("--data-binary", "only @FILE is supported");
            data_file = optarg + 1;
            break;
        case 'T':
            upload = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'D':
            dump = optarg;
            break;
        case 'c':
            cacert = optarg;
            break;
        case 'e':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'p':
            path_as_is = 1;
            break;
        default:
            return fail("http", "unknown option");
        }
    }
    if (optind != argc - 1)
        return fail("http", "one URL expected");
    sdv_buf_init(&data, 64u * 1024u * 1024u);
    c = curl_easy_init();
    body = fopen(out, "wb");
    head = dump != NULL ? fopen(dump, "wb") : NULL;
    if (c == NULL || body == NULL || (dump != NULL && head == NULL)) {
        fail("http", "cannot set up");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, argv[optind]);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (head != NULL) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_write);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, head);
    }
    if (data_file != NULL) {
        if (sdv_fs_read(data_file, &data) != SDV_OK) {
            fail(data_file, "cannot read");
            goto out;
        }
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)data.data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)data.len);
    } else if (text != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    } else if (upload != NULL) {
        up = fopen(upload, "rb");
        if (up == NULL) {
            fail(upload, "cannot open");
            goto out;
        }
        /* No size given: libcurl sends the body with the chunked transfer coding. */
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, http_read);
        curl_easy_setopt(c, CURLOPT_READDATA, up);
    }
    if (method != NULL)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (cacert != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, cacert);
    if (cert != NULL)
        curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
    if (key != NULL)
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    if (path_as_is)
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    printf("%03ld", rc == CURLE_OK ? status : 0L);
    if (rc != CURLE_OK)
        fprintf(stderr, "server_test_tool http: %s\n", curl_easy_strerror(rc));
    ret = 0;
out:
    if (up != NULL)
        fclose(up);
    if (head != NULL)
        fclose(head);
    if (body != NULL)
        fclose(body);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    sdv_buf_free(&data);
    return ret;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
            {"vin", required_argument, NULL, 'v'},
            {"primary", required_argument, NULL, 'p'},
            {"primary-key", required_argument, NULL, 'k'},
            {"report", required_argument, NULL, 'r'},
            {"report-counter", required_argument, NULL, 'c'},
            {"manifest-counter", required_argument, NULL, 'm'},
            {"attack", required_argument, NULL, 'a'},
            {"tamper", required_argument, NULL, 't'},
            {"out", required_argument, NULL, 'o'},
            {NULL, 0, NULL, 0},
    };
    const char *vin = NULL, *primary = NULL, *primary_key = NULL, *out = NULL, *tamper_serial = "";
    const char *attack_spec = "";
    char *specs[REPORTS_MAX];
    size_t spec_count = 0;
    unsigned long long report_counter = 1, manifest_counter = 1;
    struct sdv_buf reports[REPORTS_MAX], manifest;
    struct sdv_uptane_report_bytes rb[REPORTS_MAX];
    struct sdv_key *pk = NULL;
    struct sdv_uptane_err uerr;
    enum sdv_err err;
    int c, rc = 1;

    if (argc == 4 && strcmp(argv[1], "certs") == 0)
        return certs(argv[2], argv[3]);
    if (argc > 1 && strcmp(argv[1], "http") == 0)
        return http(argc, argv);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'v':
            vin = optarg;
            break;
        case 'p':
            primary = optarg;
            break;
        case 'k':
            primary_key = optarg;
            break;
        case 'r':
            if (spec_count == REPORTS_MAX)
                return fail("--report", "too many");
            specs[spec_count++] = optarg;
            break;
        case 'c':
            report_counter = strtoull(optarg, NULL, 10);
            break;
        case 'm':
            manifest_counter = strtoull(optarg, NULL, 10);
            break;
        case 'a':
            attack_spec = optarg;
            break;
        case 't':
            tamper_serial = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        default:
            return fail("usage", "see the comment at the top of server_test_tool.c");
        }
    }
    if (vin == NULL || primary == NULL || primary_key == NULL || out == NULL || spec_count == 0)
        return fail("usage", "--vin, --primary, --primary-key, --report and --out are required");
    sdv_buf_init(&manifest, SDV_UPTANE_MANIFEST_LEN_MAX);
    for (size_t i = 0; i < REPORTS_MAX; i++)
        sdv_buf_init(&reports[i], 64 * 1024);
    err = sdv_key_load_pem_file(primary_key, &pk);
    if (err != SDV_OK) {
        fail(primary_key, sdv_strerror(err));
        goto out;
    }
    for (size_t i = 0; i < spec_count; i++) {
        char *f[5], *save = specs[i];
        struct sdv_uptane_report_info info = {0};
        struct sdv_key *ek = NULL;
        size_t alen = strlen(attack_spec);

        /* SERIAL:KEY:NAME:FILE:RC */
        for (int k = 0; k < 5; k++) {
            f[k] = save;
            save = save != NULL ? strchr(save, ':') : NULL;
            if (save != NULL)
                *save++ = '\0';
        }
        if (f[4] == NULL) {
            fail("--report", "expected SERIAL:KEY.pem:TARGET_NAME:IMAGE_FILE:RELEASE_COUNTER");
            goto out;
        }
        info.ecu_serial = f[0];
        info.installed.filepath = f[2];
        info.installed.hash_count = 2;
        info.installed.hashes[0].alg = SDV_HASH_SHA256;
        info.installed.hashes[1].alg = SDV_HASH_SHA512;
        info.installed.release_counter = strtoull(f[4], NULL, 10);
        if (sdv_hash_file(SDV_HASH_SHA256, f[3], info.installed.hashes[0].digest,
                          &info.installed.length) != SDV_OK ||
            sdv_hash_file(SDV_HASH_SHA512, f[3], info.installed.hashes[1].digest, NULL) != SDV_OK) {
            fail(f[3], "cannot hash the image file");
            goto out;
        }
        info.latest_verified_time = 1800000000;
        info.report_counter = report_counter;
        if (alen > strlen(f[0]) && strncmp(attack_spec, f[0], strlen(f[0])) == 0 &&
            attack_spec[strlen(f[0])] == '=')
            info.attack_detected = attack_spec + strlen(f[0]) + 1;
        err = sdv_key_load_pem_file(f[1], &ek);
        if (err == SDV_OK)
            err = sdv_uptane_report_build(&info, ek, random_cb, NULL, &reports[i], NULL, &uerr);
        sdv_key_destroy(ek);
        if (err != SDV_OK) {
            fail(f[0], err == SDV_OK ? "" : uerr.msg[0] ? uerr.msg : sdv_strerror(err));
            goto out;
        }
        if (strcmp(f[0], tamper_serial) == 0 && tamper(&reports[i]) != 0)
            goto out;
        rb[i].data = reports[i].data;
        rb[i].len = reports[i].len;
    }
    err = sdv_uptane_manifest_build(vin, primary, rb, spec_count, manifest_counter, pk, &manifest,
                                    &uerr);
    if (err != SDV_OK) {
        fail("manifest", uerr.msg);
        goto out;
    }
    err = sdv_fs_write_atomic(out, manifest.data, manifest.len, 0644);
    if (err != SDV_OK) {
        fail(out, sdv_strerror(err));
        goto out;
    }
    rc = 0;
out:
    sdv_key_destroy(pk);
    for (size_t i = 0; i < REPORTS_MAX; i++)
        sdv_buf_free(&reports[i]);
    sdv_buf_free(&manifest);
    return rc;
}
