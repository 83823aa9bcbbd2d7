/*
 * httpd_response.c - the respond_* helpers: JSON, bytes, status, generated streams, and files
 * with Range, ETag, If-None-Match and If-Range (RFC 9110 sections 13 and 14).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpd_int.h"

/* An entity tag we emit: a hex digest or a similar token. 128 characters hold a SHA-512. */
#define HTTPD_ETAG_LEN_MAX 128u

/* Block size MHD asks generated streams for. */
#define HTTPD_STREAM_BLOCK 16384u

/* Largest decimal number in a Range header we parse exactly; longer ones saturate. */
#define HTTPD_RANGE_DIGITS_MAX 19u

const char *sdv_httpd_header(const struct sdv_httpd_request *req, const char *name)
{
    const struct httpd_req *r = (const struct httpd_req *)(const void *)req;

    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *sdv_httpd_query(const struct sdv_httpd_request *req, const char *name)
{
    const struct httpd_req *r = (const struct httpd_req *)(const void *)req;
    const char *v;

    v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    if (v == NULL && MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name,
                                                   strlen(name), NULL, NULL) == MHD_YES)
        return "";
    return v;
}

/* Installs resp as the request's answer; takes resp in every case. */
static enum sdv_err set_response(struct httpd_req *r, unsigned status, struct MHD_Response *resp,
                                 uint64_t bytes)
{
    if (resp == NULL)
        return SDV_ENOMEM;
    if (r->resp != NULL || r->queued) {
        MHD_destroy_response(resp);
        return SDV_EINVAL;
    }
    r->resp = resp;
    r->status = status;
    r->resp_bytes = bytes;
    return SDV_OK;
}

static int answered(const struct httpd_req *r)
{
    return r->resp != NULL || r->queued;
}

enum sdv_err sdv_httpd_respond_bytes(struct sdv_httpd_request *req, unsigned status,
                                     const char *content_type, const void *data, size_t len)
{
    struct httpd_req *r = httpd_req_of(req);
    struct MHD_Response *resp;
    enum sdv_err err;

    if (answered(r) || (data == NULL && len > 0) || status < 100 || status > 999)
        return SDV_EINVAL;
    resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);
    err = set_response(r, status, resp, len);
    if (err == SDV_OK &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type != NULL ? content_type : "application/octet-stream") !=
                MHD_YES)
        return SDV_ENOMEM;
    return err;
}

enum sdv_err sdv_httpd_respond_json(struct sdv_httpd_request *req, unsigned status,
                                    const json_t *body)
{
    char *text;
    enum sdv_err err;

    if (body == NULL)
        return SDV_EINVAL;
    text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        return SDV_ENOMEM;
    err = sdv_httpd_respond_bytes(req, status, "application/json", text, strlen(text));
    free(text);
    return err;
}

enum sdv_err sdv_httpd_respond_error(struct sdv_httpd_request *req, unsigned status,
                                     const char *message, const char *rule)
{
    struct httpd_req *r = httpd_req_of(req);
    json_t *body;
    enum sdv_err err;

    if (answered(r))
        return SDV_EINVAL;
    if (status == 204 || status == 304 || status < 200)
        return set_response(r, status,
                            MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT), 0);
    body = json_pack("{s:s}", status >= 400 ? "error" : "message", message != NULL ? message : "");
    if (body == NULL)
        return SDV_ENOMEM;
    if (rule != NULL && json_object_set_new(body, "rule", json_string(rule)) != 0) {
        json_decref(body);
        return SDV_ENOMEM;
    }
    err = sdv_httpd_respond_json(req, status, body);
    json_decref(body);
    return err;
}

enum sdv_err sdv_httpd_respond_status(struct sdv_httpd_request *req, unsigned status,
                                      const char *message)
{
    return sdv_httpd_respond_error(req, status, message, NULL);
}

enum sdv_err sdv_httpd_response_header(struct sdv_httpd_request *req, const char *name,
                                       const char *value)
{
    struct httpd_req *r = httpd_req_of(req);

    if (r->resp == NULL || name == NULL || value == NULL)
        return SDV_EINVAL;
    return MHD_add_response_header(r->resp, name, value) == MHD_YES ? SDV_OK : SDV_EINVAL;
}

/* ---- Generated streams ------------------------------------------------------------------ */

struct stream {
    sdv_httpd_read_fn read_fn;
    void *ud;
    void (*free_fn)(void *ud);
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    long n = s->read_fn(s->ud, pos, buf, max);

    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;

    if (s->free_fn != NULL)
        s->free_fn(s->ud);
    free(s);
}

enum sdv_err sdv_httpd_respond_stream(struct sdv_httpd_request *req, unsigned status,
                                      const char *content_type, uint64_t len,
                                      sdv_httpd_read_fn read_fn, void *ud,
                                      void (*free_fn)(void *ud))
{
    struct httpd_req *r = httpd_req_of(req);
    struct MHD_Response *resp;
    struct stream *s;
    enum sdv_err err;

    if (answered(r) || read_fn == NULL) {
        if (free_fn != NULL)
            free_fn(ud);
        return SDV_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        if (free_fn != NULL)
            free_fn(ud);
        return SDV_ENOMEM;
    }
    s->read_fn = read_fn;
    s->ud = ud;
    s->free_fn = free_fn;
    resp = MHD_create_response_from_callback(len == UINT64_MAX ? MHD_SIZE_UNKNOWN : len,
                                             HTTPD_STREAM_BLOCK, stream_read, s, stream_free);
    if (resp == NULL) {
        stream_free(s);
        return SDV_ENOMEM;
    }
    err = set_response(r, status, resp, len == UINT64_MAX ? 0 : len);
    if (err == SDV_OK &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type != NULL ? content_type : "application/octet-stream") !=
                MHD_YES)
        return SDV_ENOMEM;
    return err;
}

/* ---- Range and entity tags -------------------------------------------------------------- */

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Parses a run of digits; saturates at UINT64_MAX past HTTPD_RANGE_DIGITS_MAX digits.
 * Returns the end, or NULL if there is no digit. */
static const char *parse_u64(const char *p, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;

    while (*p >= '0' && *p <= '9') {
        if (n < HTTPD_RANGE_DIGITS_MAX)
            v = v * 10 + (uint64_t)(*p - '0');
        else
            v = UINT64_MAX;
        n++;
        p++;
    }
    *out = v;
    return n > 0 ? p : NULL;
}

enum httpd_range httpd_range_parse(const char *hdr, uint64_t len, uint64_t *first, uint64_t *last)
{
    const char *p;
    uint64_t a, b;

    if (hdr == NULL || strncasecmp(hdr, "bytes", 5) != 0)
        return HTTPD_RANGE_NONE;
    p = skip_ows(hdr + 5);
    if (*p != '=')
        return HTTPD_RANGE_NONE;
    p = skip_ows(p + 1);
    if (strchr(p, ',') != NULL)
        return HTTPD_RANGE_NONE; /* several ranges: answered with the whole body */
    if (*p == '-') {
        p = parse_u64(p + 1, &b);
        if (p == NULL || *skip_ows(p) != '\0')
            return HTTPD_RANGE_NONE;
        if (b == 0 || len == 0)
            return HTTPD_RANGE_UNSAT;
        *first = b >= len ? 0 : len - b;
        *last = len - 1;
        return HTTPD_RANGE_ONE;
    }
    p = parse_u64(p, &a);
    if (p == NULL || *p != '-')
        return HTTPD_RANGE_NONE;
    p++;
    if (*skip_ows(p) == '\0') {
        b = UINT64_MAX;
    } else {
        p = parse_u64(p, &b);
        if (p == NULL || *skip_ows(p) != '\0' || b < a)
            return HTTPD_RANGE_NONE;
    }
    if (a >= len)
        return HTTPD_RANGE_UNSAT;
    *first = a;
    *last = b >= len ? len - 1 : b;
    return HTTPD_RANGE_ONE;
}

int httpd_etag_match(const char *hdr, const char *etag, int weak, int allow_star)
{
    size_t elen = strlen(etag);
    const char *p = hdr;

    if (hdr == NULL)
        return 0;
    if (allow_star && strcmp(skip_ows(hdr), "*") == 0)
        return 1;
    /* Each step consumes at least one character, so the loop ends with the string. */
    while (*p != '\0') {
        const char *q;
        int is_weak = 0;

        p = skip_ows(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (p[0] == 'W' && p[1] == '/') {
            is_weak = 1;
            p += 2;
        }
        if (*p != '"')
            return 0;
        q = strchr(p + 1, '"');
        if (q == NULL)
            return 0;
        if ((size_t)(q - p - 1) == elen && memcmp(p + 1, etag, elen) == 0 && (weak || !is_weak))
            return 1;
        p = q + 1;
    }
    return 0;
}

static int etag_ok(const char *etag)
{
    size_t i;

    for (i = 0; etag[i] != '\0'; i++) {
        if (i >= HTTPD_ETAG_LEN_MAX || etag[i] <= 0x20 || etag[i] >= 0x7f || etag[i] == '"')
            return 0;
    }
    return i > 0;
}

/* ---- Files ------------------------------------------------------------------------------ */

enum sdv_err sdv_httpd_respond_fd(struct sdv_httpd_request *req, int fd, uint64_t len,
                                  const char *etag, const char *content_type)
{
    struct httpd_req *r = httpd_req_of(req);
    struct MHD_Response *resp;
    char quoted[HTTPD_ETAG_LEN_MAX + 3], crange[96];
    const char *range, *if_range;
    uint64_t first = 0, last = 0;
    enum httpd_range kind;
    unsigned status;
    enum sdv_err err;

    if (answered(r) || fd < 0 || len > (uint64_t)INT64_MAX || (etag != NULL && !etag_ok(etag))) {
        if (fd >= 0)
            (void)close(fd);
        return SDV_EINVAL;
    }
    if (etag != NULL)
        snprintf(quoted, sizeof(quoted), "\"%s\"", etag);

    if (etag != NULL &&
        httpd_etag_match(sdv_httpd_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH), etag, 1, 1)) {
        (void)close(fd);
        err = set_response(r, 304, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
                           0);
        if (err == SDV_OK &&
            MHD_add_response_header(r->resp, MHD_HTTP_HEADER_ETAG, quoted) != MHD_YES)
            err = SDV_ENOMEM;
        return err;
    }

    range = sdv_httpd_header(req, MHD_HTTP_HEADER_RANGE);
    if_range = sdv_httpd_header(req, MHD_HTTP_HEADER_IF_RANGE);
    kind = httpd_range_parse(range, len, &first, &last);
    /* If-Range names the representation the client already has part of: a different one (or
     * a date, as we send no Last-Modified) means the client needs the whole new body. */
    if (kind != HTTPD_RANGE_NONE && if_range != NULL &&
        (etag == NULL || !httpd_etag_match(if_range, etag, 0, 0)))
        kind = HTTPD_RANGE_NONE;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        kind = HTTPD_RANGE_NONE;

    switch (kind) {
    case HTTPD_RANGE_UNSAT:
        (void)close(fd);
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = 416;
        snprintf(crange, sizeof(crange), "bytes */%" PRIu64, len);
        err = set_response(r, status, resp, 0);
        break;
    case HTTPD_RANGE_ONE:
        resp = MHD_create_response_from_fd_at_offset64(last - first + 1, fd, first);
        if (resp == NULL)
            (void)close(fd);
        status = 206;
        snprintf(crange, sizeof(crange), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last,
                 len);
        err = set_response(r, status, resp, last - first + 1);
        break;
    default:
        if (len == 0) {
            (void)close(fd);
            resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        } else {
            resp = MHD_create_response_from_fd_at_offset64(len, fd, 0);
            if (resp == NULL)
                (void)close(fd);
        }
        status = 200;
        crange[0] = '\0';
        err = set_response(r, status, resp, len);
        break;
    }
    if (err != SDV_OK)
        return err;
    if ((crange[0] != '\0' &&
         MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, crange) != MHD_YES) ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes") != MHD_YES ||
        (etag != NULL && MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, quoted) != MHD_YES) ||
        (status != 416 &&
         MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                 content_type != NULL ? content_type
                                                      : "application/octet-stream") != MHD_YES))
        return SDV_ENOMEM;
    return SDV_OK;
}

enum sdv_err sdv_httpd_respond_file(struct sdv_httpd_request *req, const char *path,
                                    const char *etag, const char *content_type)
{
    struct stat st;
    int fd, saved;

    if (answered(httpd_req_of(req)) || path == NULL)
        return SDV_EINVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        saved = errno;
        if (saved == ENOENT) {
            (void)sdv_httpd_respond_status(req, 404, "not found");
            return SDV_ENOENT;
        }
        return sdv_err_from_errno(saved);
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        (void)close(fd);
        (void)sdv_httpd_respond_status(req, 404, "not found");
        return SDV_ENOENT;
    }
    return sdv_httpd_respond_fd(req, fd, (uint64_t)st.st_size, etag, content_type);
}
