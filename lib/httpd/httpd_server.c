/*
 * httpd_server.c - the server on libmicrohttpd: configuration, routing, authentication, request
 * bodies, graceful shutdown and the access log (see sdv/httpd.h and docs/httpd.md).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpd_int.h"

/* Step of the drain wait in sdv_httpd_shutdown. The wait counts steps, not clock readings. */
#define HTTPD_DRAIN_STEP_MS 10u

/* Longest path shown in an access-log line; longer ones end in "...". */
#define HTTPD_LOG_PATH_LEN 512u

/* Room for an Allow header: every route's method once, comma-separated. */
#define HTTPD_ALLOW_LEN_MAX 256u

static const char default_proxy_header[] = "X-Client-Verified-Identity";

int httpd_identity_ok(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if (i >= SDV_HTTPD_IDENTITY_LEN_MAX || s[i] < 0x21 || s[i] > 0x7e)
            return 0;
    }
    return i > 0;
}

static int parse_ip(const char *text, struct httpd_proxy *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, out->addr) == 1) {
        out->family = AF_INET;
        return 1;
    }
    if (inet_pton(AF_INET6, text, out->addr) == 1) {
        out->family = AF_INET6;
        return 1;
    }
    return 0;
}

static char *dup_opt(const char *s, int *failed)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

/* Resolves a limit field: 0 takes the default, anything above the maximum is refused. */
static int limit(unsigned *field, unsigned dflt, unsigned max)
{
    if (*field == 0)
        *field = dflt;
    return *field <= max;
}

enum sdv_err sdv_httpd_create(const struct sdv_httpd_config *cfg, struct sdv_httpd **out)
{
    struct sdv_httpd *h;
    struct httpd_proxy probe;
    int failed = 0;
    size_t i;

    *out = NULL;
    if (cfg == NULL)
        return SDV_EINVAL;
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return SDV_ENOMEM;
    h->cfg = *cfg;
    h->quiesced_sock = MHD_INVALID_SOCKET;
    atomic_init(&h->in_flight, 0);
    atomic_init(&h->draining, 0);

    snprintf(h->bind_addr, sizeof(h->bind_addr), "%s",
             cfg->bind_addr != NULL ? cfg->bind_addr : "127.0.0.1");
    h->cfg.bind_addr = h->bind_addr;
    if (!parse_ip(h->bind_addr, &probe)) {
        sdv_logf(&cfg->log, SDV_LOG_ERROR, "httpd: bind address '%s' is not an IP literal",
                 h->bind_addr);
        goto invalid;
    }
    if (!limit(&h->cfg.threads, SDV_HTTPD_THREADS_DEFAULT, SDV_HTTPD_THREADS_MAX) ||
        !limit(&h->cfg.header_len_max, SDV_HTTPD_HEADER_LEN_MAX, SDV_HTTPD_HEADER_LEN_MAX) ||
        !limit(&h->cfg.url_len_max, SDV_HTTPD_URL_LEN_MAX, SDV_HTTPD_URL_LEN_MAX) ||
        !limit(&h->cfg.connections_max, SDV_HTTPD_CONNECTIONS_MAX, SDV_HTTPD_CONNECTIONS_MAX) ||
        !limit(&h->cfg.timeout_s, SDV_HTTPD_TIMEOUT_S, SDV_HTTPD_TIMEOUT_S)) {
        sdv_logf(&cfg->log, SDV_LOG_ERROR, "httpd: a limit is above its SDV_HTTPD_* maximum");
        goto invalid;
    }

    if (cfg->loop != SDV_HTTPD_LOOP_POLL && cfg->loop != SDV_HTTPD_LOOP_EPOLL) {
        sdv_logf(&cfg->log, SDV_LOG_ERROR, "httpd: unknown event loop %d", (int)cfg->loop);
        goto invalid;
    }
    h->cfg.tls_cert_pem = h->cfg.tls_key_pem = h->cfg.tls_client_ca_pem = NULL;
    h->cfg.proxies = NULL;
    h->cfg.proxies_len = 0;
    h->cfg.proxy_header = NULL;
    switch (cfg->auth) {
    case SDV_HTTPD_AUTH_NONE:
        break;
    case SDV_HTTPD_AUTH_MTLS:
        if (cfg->tls_cert_pem == NULL || cfg->tls_key_pem == NULL ||
            cfg->tls_client_ca_pem == NULL) {
            sdv_logf(&cfg->log, SDV_LOG_ERROR,
                     "httpd: mTLS needs a server certificate, its key and the client CA");
            goto invalid;
        }
        h->tls_cert_pem = dup_opt(cfg->tls_cert_pem, &failed);
        h->tls_key_pem = dup_opt(cfg->tls_key_pem, &failed);
        h->tls_client_ca_pem = dup_opt(cfg->tls_client_ca_pem, &failed);
        break;
    case SDV_HTTPD_AUTH_PROXY:
        if (cfg->proxies_len > SDV_HTTPD_PROXIES_MAX ||
            (cfg->proxies_len > 0 && cfg->proxies == NULL)) {
            sdv_logf(&cfg->log, SDV_LOG_ERROR, "httpd: at most %u trusted proxies",
                     SDV_HTTPD_PROXIES_MAX);
            goto invalid;
        }
        for (i = 0; i < cfg->proxies_len; i++) {
            if (cfg->proxies[i] == NULL || !parse_ip(cfg->proxies[i], &h->proxies[i])) {
                sdv_logf(&cfg->log, SDV_LOG_ERROR, "httpd: trusted proxy '%s' is not an IP literal",
                         cfg->proxies[i] != NULL ? cfg->proxies[i] : "(null)");
                goto invalid;
            }
        }
        h->proxies_len = cfg->proxies_len;
        h->proxy_header = dup_opt(
                cfg->proxy_header != NULL ? cfg->proxy_header : default_proxy_header, &failed);
        break;
    default:
        sdv_logf(&cfg->log, SDV_LOG_ERROR, "httpd: unknown authentication mode %d", (int)cfg->auth);
        goto invalid;
    }
    if (failed) {
        sdv_httpd_destroy(h);
        return SDV_ENOMEM;
    }
    h->cfg.tls_cert_pem = h->tls_cert_pem;
    h->cfg.tls_key_pem = h->tls_key_pem;
    h->cfg.tls_client_ca_pem = h->tls_client_ca_pem;
    h->cfg.proxy_header = h->proxy_header;
    *out = h;
    return SDV_OK;

invalid:
    sdv_httpd_destroy(h);
    return SDV_EINVAL;
}

enum sdv_err sdv_httpd_route_add(struct sdv_httpd *h, const struct sdv_httpd_route *route)
{
    struct httpd_route *r;
    size_t mlen;

    if (h == NULL || route == NULL || h->started || route->method == NULL || route->path == NULL ||
        route->path[0] != '/' || route->handler == NULL)
        return SDV_EINVAL;
    mlen = strlen(route->method);
    if (mlen == 0 || mlen >= sizeof(r->method))
        return SDV_EINVAL;
    if (route->body_max >
        (route->on_body != NULL ? SDV_HTTPD_STREAM_LEN_MAX : (uint64_t)SDV_HTTPD_BUFFER_LEN_MAX))
        return SDV_EINVAL;
    if (h->routes_len >= SDV_HTTPD_ROUTES_MAX)
        return SDV_ELIMIT;
    r = &h->routes[h->routes_len];
    memset(r, 0, sizeof(*r));
    r->path = strdup(route->path);
    if (r->path == NULL)
        return SDV_ENOMEM;
    r->path_len = strlen(r->path);
    memcpy(r->method, route->method, mlen + 1);
    r->r = *route;
    r->r.path = r->path;
    r->r.method = r->method;
    h->routes_len++;
    return SDV_OK;
}

uint16_t sdv_httpd_port(const struct sdv_httpd *h)
{
    return h != NULL ? h->port : 0;
}

unsigned sdv_httpd_in_flight(const struct sdv_httpd *h)
{
    return h != NULL ? atomic_load(&h->in_flight) : 0;
}

/* ---- Routing ---------------------------------------------------------------------------- */

static int method_is(const struct httpd_route *r, const char *method)
{
    if (strcmp(r->method, method) == 0)
        return 1;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

/*
 * Finds the route for (method, path): exact routes beat prefix routes, longer prefixes beat
 * shorter ones. When the path matches only routes of other methods, *path_known is set so the
 * caller answers 405 instead of 404.
 */
static const struct httpd_route *route_find(const struct sdv_httpd *h, const char *method,
                                            const char *path, int *path_known)
{
    const struct httpd_route *best = NULL;
    size_t best_score = 0, i;

    *path_known = 0;
    for (i = 0; i < h->routes_len; i++) {
        const struct httpd_route *r = &h->routes[i];
        size_t score;

        if (r->r.flags & SDV_HTTPD_PREFIX) {
            if (strncmp(path, r->path, r->path_len) != 0)
                continue;
            score = r->path_len;
        } else {
            if (strcmp(path, r->path) != 0)
                continue;
            score = SIZE_MAX;
        }
        *path_known = 1;
        if (method_is(r, method) && (best == NULL || score > best_score)) {
            best = r;
            best_score = score;
        }
    }
    return best;
}

/* Builds the Allow header for path: each method of a matching route once, GET adding HEAD. */
static void allow_header(const struct sdv_httpd *h, const char *path, char *out, size_t out_len)
{
    struct sdv_buf b;
    size_t i;
    int get = 0;

    sdv_buf_init(&b, out_len - 1);
    for (i = 0; i < h->routes_len; i++) {
        const struct httpd_route *r = &h->routes[i];
        int match = (r->r.flags & SDV_HTTPD_PREFIX) ? strncmp(path, r->path, r->path_len) == 0
                                                    : strcmp(path, r->path) == 0;
        size_t j;
        int seen = 0;

        if (!match)
            continue;
        for (j = 0; j < i && !seen; j++) {
            const struct httpd_route *q = &h->routes[j];
            int qmatch = (q->r.flags & SDV_HTTPD_PREFIX) ? strncmp(path, q->path, q->path_len) == 0
                                                         : strcmp(path, q->path) == 0;

            seen = qmatch && strcmp(q->method, r->method) == 0;
        }
        if (seen)
            continue;
        if (b.len > 0)
            (void)sdv_buf_puts(&b, ", ");
        (void)sdv_buf_puts(&b, r->method);
        get |= strcmp(r->method, "GET") == 0;
    }
    if (get)
        (void)sdv_buf_puts(&b, ", HEAD");
    snprintf(out, out_len, "%s", b.data != NULL ? (const char *)b.data : "");
    sdv_buf_free(&b);
}

/* ---- Access log ------------------------------------------------------------------------- */

/* Copies s into out with every byte outside printable ASCII, space, '"' and '%' as %XX, so a
 * log line cannot be split or forged by a hostile path. */
static void log_escape(const char *s, char *out, size_t out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    assert(out_len >= 4);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = c > 0x20 && c < 0x7f && c != '"' && c != '%';

        if (o + (plain ? 1 : 3) + 4 > out_len) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

static void access_log(struct httpd_req *r, int completed)
{
    struct sdv_httpd *h = r->h;
    char path[HTTPD_LOG_PATH_LEN], method[32], ms[24];

    if (h->cfg.log.fn == NULL || h->cfg.log.level < SDV_LOG_INFO)
        return;
    log_escape(r->pub.path != NULL ? r->pub.path : "", path, sizeof(path));
    log_escape(r->pub.method != NULL ? r->pub.method : "", method, sizeof(method));
    if (h->cfg.clock != NULL)
        snprintf(ms, sizeof(ms), "%" PRIu64, h->cfg.clock(h->cfg.clock_ud) - r->start_ms);
    else
        snprintf(ms, sizeof(ms), "-");
    sdv_logf(&h->cfg.log, SDV_LOG_INFO,
             "access client=%s id=%s method=%s path=%s status=%u bytes=%" PRIu64 " ms=%s%s",
             r->hc != NULL ? r->hc->addr : "-", r->pub.identity != NULL ? r->pub.identity : "-",
             method, path, r->status, r->resp_bytes, ms, completed ? "" : " aborted=1");
}

/* ---- Responses owned by this file ------------------------------------------------------- */

/* Sets an error response unless the request already has one. */
static void respond_error(struct httpd_req *r, unsigned status, const char *message)
{
    if (r->resp == NULL && !r->queued)
        (void)sdv_httpd_respond_status(&r->pub, status, message);
}

static enum MHD_Result queue(struct httpd_req *r)
{
    enum MHD_Result ret;

    if (r->resp == NULL)
        respond_error(r, 500, "handler gave no response");
    if (r->resp == NULL)
        return MHD_NO;
    if (atomic_load(&r->h->draining))
        (void)MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (r->is_head)
        r->resp_bytes = 0;
    ret = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    r->queued = 1;
    return ret;
}

/* ---- Authentication --------------------------------------------------------------------- */

/* Sets r->pub.identity, or an error response (403) when the request must be refused. */
static void authenticate(struct httpd_req *r)
{
    struct sdv_httpd *h = r->h;
    struct httpd_conn *hc = r->hc;

    switch (h->cfg.auth) {
    case SDV_HTTPD_AUTH_NONE:
        break;
    case SDV_HTTPD_AUTH_MTLS:
        if (!hc->tls_checked) {
            enum sdv_err err = httpd_tls_identity(r->conn, hc->tls_identity,
                                                  sizeof(hc->tls_identity), &hc->tls_why);

            hc->tls_checked = 1;
            hc->tls_ok = err == SDV_OK;
            if (!hc->tls_ok)
                sdv_logf(&h->cfg.log, SDV_LOG_WARN, "httpd: client %s refused: %s", hc->addr,
                         hc->tls_why);
        }
        if (hc->tls_ok) {
            snprintf(r->identity, sizeof(r->identity), "%s", hc->tls_identity);
            r->pub.identity = r->identity;
        } else if (!(r->route->r.flags & SDV_HTTPD_ANON)) {
            /* Anonymous routes (the admin API with its bearer token, health checks) stay
             * reachable without a device certificate; every other route needs one. */
            respond_error(r, 403, hc->tls_why != NULL ? hc->tls_why : "client not authenticated");
        }
        return;
    case SDV_HTTPD_AUTH_PROXY: {
        const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, h->proxy_header);

        if (v == NULL)
            break;
        if (!hc->is_proxy) {
            sdv_logf(&h->cfg.log, SDV_LOG_WARN,
                     "httpd: %s header from %s, which is not a trusted proxy", h->proxy_header,
                     hc->addr);
            respond_error(r, 403, "identity header from an untrusted address");
            return;
        }
        if (!httpd_identity_ok(v)) {
            respond_error(r, 403, "malformed identity header");
            return;
        }
        snprintf(r->identity, sizeof(r->identity), "%s", v);
        r->pub.identity = r->identity;
        break;
    }
    }
    if (r->pub.identity == NULL && !(r->route->r.flags & SDV_HTTPD_ANON))
        respond_error(r, 403, "client not authenticated");
}

/* ---- Limits ----------------------------------------------------------------------------- */

struct head_sum {
    size_t len;
};

static enum MHD_Result add_len(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct head_sum *s = cls;

    (void)kind;
    s->len += strlen(key) + (value != NULL ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Sets an error response if the request head breaks a limit. MHD itself refuses heads that
 * do not fit SDV_HTTPD_CONN_MEMORY_MAX; these checks give the configured, smaller limits. */
static void check_limits(struct httpd_req *r, const char *url, const char *method)
{
    struct head_sum hs = {0}, qs = {0};

    (void)MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_len, &qs);
    if (strlen(url) + qs.len > r->h->cfg.url_len_max) {
        respond_error(r, 414, "request target too long");
        return;
    }
    (void)MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_len, &hs);
    if (hs.len + strlen(url) + qs.len + strlen(method) > r->h->cfg.header_len_max)
        respond_error(r, 431, "request header fields too large");
}

/* Parses a Content-Length value; 0 on anything that is not a plain decimal number. */
static int content_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (s == NULL || s[0] == '\0')
        return 0;
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 19)
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

/* ---- MHD callbacks ---------------------------------------------------------------------- */

static unsigned status_of(enum sdv_err err)
{
    switch (err) {
    case SDV_ETOOBIG:
        return 413;
    case SDV_EPARSE:
    case SDV_EINVAL:
    case SDV_EHASH:
        return 400;
    default:
        return 500;
    }
}

/* Refuses the rest of the body: the response is sent once the body has ended. */
static void reject_body(struct httpd_req *r, unsigned status, const char *message)
{
    r->rejecting = 1;
    respond_error(r, status, message);
    sdv_buf_free(&r->body);
}

/* First call of a request: everything is known but the body. Returns with r->resp set when
 * the request is answered without reading the body. */
static void request_begin(struct httpd_req *r, const char *url, const char *method)
{
    struct sdv_httpd *h = r->h;
    int path_known;
    uint64_t clen;

    if (atomic_load(&h->draining)) {
        respond_error(r, 503, "server shutting down");
        return;
    }
    check_limits(r, url, method);
    if (r->resp != NULL)
        return;
    r->route = route_find(h, method, url, &path_known);
    if (r->route == NULL) {
        if (path_known) {
            char allow[HTTPD_ALLOW_LEN_MAX];

            allow_header(h, url, allow, sizeof(allow));
            respond_error(r, 405, "method not allowed");
            (void)sdv_httpd_response_header(&r->pub, MHD_HTTP_HEADER_ALLOW, allow);
        } else {
            respond_error(r, 404, "not found");
        }
        return;
    }
    r->pub.path_tail = (r->route->r.flags & SDV_HTTPD_PREFIX) ? url + r->route->path_len : "";
    authenticate(r);
    if (r->resp != NULL)
        return;
    if (content_length(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_LENGTH),
                       &clen) &&
        clen > r->route->r.body_max) {
        respond_error(r, 413, "request body too large");
        return;
    }
    if (r->route->r.on_body == NULL)
        sdv_buf_init(&r->body, (size_t)r->route->r.body_max);
}

/* A piece of the body. Returns MHD_NO to close the connection. */
static enum MHD_Result request_body(struct httpd_req *r, const char *data, size_t n)
{
    const struct sdv_httpd_route *rt = &r->route->r;

    if (r->rejecting) {
        r->discarded += n;
        return r->discarded <= SDV_HTTPD_DISCARD_LEN_MAX ? MHD_YES : MHD_NO;
    }
    if (n > rt->body_max - r->pub.body_received) {
        reject_body(r, 413, "request body too large");
        r->discarded = n;
        return MHD_YES;
    }
    if (rt->on_body == NULL) {
        if (sdv_buf_append(&r->body, data, n) != SDV_OK) {
            reject_body(r, 500, "out of memory");
            return MHD_YES;
        }
        r->pub.body_received += n;
    } else {
        enum sdv_err err = rt->on_body(rt->ctx, &r->pub, data, n);

        r->pub.body_received += n;
        if (err != SDV_OK)
            reject_body(r, status_of(err), sdv_strerror(err));
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct sdv_httpd *h = cls;
    struct httpd_req *r = *req_cls;
    const union MHD_ConnectionInfo *ci;

    (void)version;
    if (r == NULL) {
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO;
        *req_cls = r;
        atomic_fetch_add(&h->in_flight, 1);
        r->h = h;
        r->conn = conn;
        r->start_ms = h->cfg.clock != NULL ? h->cfg.clock(h->cfg.clock_ud) : 0;
        r->pub.method = method;
        r->pub.path = url;
        r->pub.path_tail = "";
        r->is_head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->hc = ci != NULL ? ci->socket_context : NULL;
        if (r->hc == NULL)
            return MHD_NO; /* the connection's own allocation failed */
        r->pub.client_addr = r->hc->addr;
        request_begin(r, url, method);
        return r->resp != NULL ? queue(r) : MHD_YES;
    }
    if (r->queued)
        return MHD_YES;
    if (*upload_data_size > 0) {
        enum MHD_Result ret = request_body(r, upload_data, *upload_data_size);

        *upload_data_size = 0;
        return ret;
    }
    if (!r->rejecting) {
        if (r->route->r.on_body == NULL) {
            r->pub.body = r->body.data;
            r->pub.body_len = r->body.len;
        }
        r->route->r.handler(r->route->r.ctx, &r->pub);
    }
    return queue(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct sdv_httpd *h = cls;
    struct httpd_req *r = *req_cls;
    int completed = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;

    (void)conn;
    if (r == NULL)
        return;
    *req_cls = NULL;
    if (r->route != NULL && r->route->r.on_done != NULL)
        r->route->r.on_done(r->route->r.ctx, &r->pub, completed);
    access_log(r, completed);
    if (r->resp != NULL)
        MHD_destroy_response(r->resp);
    sdv_buf_free(&r->body);
    free(r);
    atomic_fetch_sub(&h->in_flight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct sdv_httpd *h = cls;
    struct httpd_conn *hc;
    const union MHD_ConnectionInfo *ci;
    size_t i;

    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_context);
        *socket_context = NULL;
        return;
    }
    hc = calloc(1, sizeof(*hc));
    *socket_context = hc;
    if (hc == NULL)
        return;
    snprintf(hc->addr, sizeof(hc->addr), "-");
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci != NULL && ci->client_addr != NULL) {
        const struct sockaddr *sa = ci->client_addr;

        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

            hc->peer.family = AF_INET;
            memcpy(hc->peer.addr, &in->sin_addr, 4);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

            hc->peer.family = AF_INET6;
            memcpy(hc->peer.addr, &in6->sin6_addr, 16);
        }
        if (hc->peer.family != 0)
            (void)inet_ntop(hc->peer.family, hc->peer.addr, hc->addr, sizeof(hc->addr));
    }
    for (i = 0; i < h->proxies_len && hc->peer.family != 0; i++) {
        if (h->proxies[i].family == hc->peer.family &&
            memcmp(h->proxies[i].addr, hc->peer.addr, hc->peer.family == AF_INET ? 4 : 16) == 0)
            hc->is_proxy = 1;
    }
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct sdv_httpd *h = cls;
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    sdv_logf(&h->cfg.log, SDV_LOG_WARN, "httpd: libmicrohttpd: %s", msg);
}

/* ---- Start and stop --------------------------------------------------------------------- */

enum sdv_err sdv_httpd_start(struct sdv_httpd *h)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa;
    struct httpd_proxy bind_ip;
    struct MHD_OptionItem opts[16];
    unsigned flags = MHD_USE_ITC | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *di;
    size_t n = 0;

    if (h == NULL || h->started)
        return SDV_EINVAL;
    if (h->cfg.loop == SDV_HTTPD_LOOP_EPOLL) {
        flags |= MHD_USE_EPOLL_INTERNAL_THREAD;
        if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES)
            return SDV_EUNSUPPORTED;
    } else {
        flags |= MHD_USE_POLL_INTERNAL_THREAD;
        if (MHD_is_feature_supported(MHD_FEATURE_POLL) != MHD_YES)
            return SDV_EUNSUPPORTED;
    }
    if (h->cfg.auth == SDV_HTTPD_AUTH_MTLS && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return SDV_EUNSUPPORTED;
    (void)parse_ip(h->bind_addr, &bind_ip);
    if (bind_ip.family == AF_INET) {
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(h->cfg.port);
        memcpy(&sin.sin_addr, bind_ip.addr, 4);
        sa = (struct sockaddr *)(void *)&sin;
    } else {
        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(h->cfg.port);
        memcpy(&sin6.sin6_addr, bind_ip.addr, 16);
        sa = (struct sockaddr *)(void *)&sin6;
        flags |= MHD_USE_IPv6;
    }

#define OPT(o, v, p) opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)}
    OPT(MHD_OPTION_EXTERNAL_LOGGER, (void *)on_mhd_log, h); /* first, so MHD logs nothing itself */
    OPT(MHD_OPTION_SOCK_ADDR, 0, sa);
    OPT(MHD_OPTION_THREAD_POOL_SIZE, h->cfg.threads, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, h->cfg.connections_max, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, h->cfg.timeout_s, NULL);
    OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, SDV_HTTPD_CONN_MEMORY_MAX, NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, (void *)on_completed, h);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, (void *)on_connection, h);
    if (h->cfg.auth == SDV_HTTPD_AUTH_MTLS) {
        flags |= MHD_USE_TLS;
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert_pem);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key_pem);
        OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, h->tls_client_ca_pem);
    }
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    assert(n <= sizeof(opts) / sizeof(opts[0]));

    h->daemon = MHD_start_daemon(flags, h->cfg.port, NULL, NULL, on_request, h, MHD_OPTION_ARRAY,
                                 opts, MHD_OPTION_END);
    if (h->daemon == NULL) {
        sdv_logf(&h->cfg.log, SDV_LOG_ERROR, "httpd: cannot start on %s port %u", h->bind_addr,
                 (unsigned)h->cfg.port);
        return SDV_ENET;
    }
    di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di != NULL ? di->port : h->cfg.port;
    h->started = 1;
    sdv_logf(&h->cfg.log, SDV_LOG_INFO, "httpd: listening on %s port %u (%s, %u %s threads)",
             h->bind_addr, (unsigned)h->port,
             h->cfg.auth == SDV_HTTPD_AUTH_MTLS    ? "mTLS"
             : h->cfg.auth == SDV_HTTPD_AUTH_PROXY ? "behind proxy"
                                                   : "no client authentication",
             h->cfg.threads, h->cfg.loop == SDV_HTTPD_LOOP_EPOLL ? "epoll" : "poll");
    return SDV_OK;
}

static void stop_now(struct sdv_httpd *h)
{
    if (h->daemon != NULL) {
        MHD_stop_daemon(h->daemon);
        h->daemon = NULL;
    }
    if (h->quiesced_sock != MHD_INVALID_SOCKET) {
        (void)close(h->quiesced_sock);
        h->quiesced_sock = MHD_INVALID_SOCKET;
    }
}

enum sdv_err sdv_httpd_shutdown(struct sdv_httpd *h, unsigned drain_ms)
{
    const struct timespec step = {0, (long)HTTPD_DRAIN_STEP_MS * 1000000L};
    unsigned waited = 0;
    enum sdv_err err = SDV_OK;

    if (h == NULL || h->daemon == NULL)
        return SDV_OK;
    if (drain_ms == 0)
        drain_ms = SDV_HTTPD_DRAIN_MS_DEFAULT;
    if (drain_ms > SDV_HTTPD_DRAIN_MS_MAX)
        drain_ms = SDV_HTTPD_DRAIN_MS_MAX;
    atomic_store(&h->draining, 1);
    /* MHD's threads may still look at the listen socket after the quiesce, so it is closed
     * only after MHD_stop_daemon; shutting it down now makes the kernel refuse new
     * connections at once instead of queueing them. */
    h->quiesced_sock = MHD_quiesce_daemon(h->daemon);
    if (h->quiesced_sock != MHD_INVALID_SOCKET)
        (void)shutdown(h->quiesced_sock, SHUT_RDWR);
    sdv_logf(&h->cfg.log, SDV_LOG_INFO, "httpd: shutting down, %u requests in flight",
             atomic_load(&h->in_flight));
    while (atomic_load(&h->in_flight) > 0 && waited < drain_ms) {
        (void)nanosleep(&step, NULL);
        waited += HTTPD_DRAIN_STEP_MS;
    }
    if (atomic_load(&h->in_flight) > 0) {
        sdv_logf(&h->cfg.log, SDV_LOG_WARN,
                 "httpd: %u requests still in flight after %u ms, closing them",
                 atomic_load(&h->in_flight), drain_ms);
        err = SDV_ELIMIT;
    }
    stop_now(h);
    sdv_logf(&h->cfg.log, SDV_LOG_INFO, "httpd: stopped");
    return err;
}

void sdv_httpd_destroy(struct sdv_httpd *h)
{
    size_t i;

    if (h == NULL)
        return;
    atomic_store(&h->draining, 1);
    stop_now(h);
    for (i = 0; i < h->routes_len; i++)
        free(h->routes[i].path);
    free(h->tls_cert_pem);
    if (h->tls_key_pem != NULL) {
        explicit_bzero(h->tls_key_pem, strlen(h->tls_key_pem));
        free(h->tls_key_pem);
    }
    free(h->tls_client_ca_pem);
    free(h->proxy_header);
    free(h);
}
