/*
 * sdv/httpd.h - the HTTP/1.1 server layer of sdv-server, on libmicrohttpd (MHD).
 *
 * A server is created with a configuration, gets its routes, is started on an address and port,
 * and is stopped with a graceful shutdown. Handlers receive a request (method, path, query,
 * headers, body, authenticated client identity) and answer through the sdv_httpd_respond_*
 * helpers. The layer does keep-alive, chunked request bodies (decoded by MHD), per-route body
 * limits (413), Range requests on file responses (206/416), strong ETags with If-None-Match
 * (304) and If-Range, request limits, client authentication (mTLS or a trusted TLS-terminating
 * proxy) and one access-log line per request. docs/httpd.md is the design note.
 *
 * Threading: MHD runs a poll(2) event loop (or, by choice, epoll) on a pool of internal threads
 * (cfg.threads, default 2); docs/httpd.md says why poll is the default. Handlers and body callbacks
 * of different requests run concurrently on those threads, so they, their context pointers and the
 * log sink must be thread-safe. All calls about one request happen on one thread, one at a time.
 *
 * Clock: the layer reads no clock. Request durations in the access log come from the monotonic
 * clock callback in the configuration (cmd/ binds it to CLOCK_MONOTONIC); without one the log
 * shows "ms=-". Certificate validity times are passed in by the caller.
 */
#ifndef SDV_HTTPD_H
#define SDV_HTTPD_H

#include <sdv/common.h>
#include <sdv/limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Limits ------------------------------------------------------------------------------
 * Every limit of the HTTP layer, in one place with its reason. The configuration can lower each
 * one per server (0 in a config field means "this default"); values above these are refused
 * with SDV_EINVAL, because each one bounds memory or threads a hostile client can make us use.
 */

/* The limits themselves (SDV_HTTPD_*) are in sdv/limits.h, section "HTTP server". */

/* ---- Configuration ----------------------------------------------------------------------- */

enum sdv_httpd_auth {
    /* No client authentication: only for loopback tools and tests. Routes that require an
     * identity answer 403 to everyone. */
    SDV_HTTPD_AUTH_NONE = 0,
    /* HTTPS; clients present a certificate issued by tls_client_ca_pem (checked for chain,
     * validity and the clientAuth purpose). The identity is its subject CN (the VIN). Without a
     * valid one only SDV_HTTPD_ANON routes answer; the others say 403 and why. */
    SDV_HTTPD_AUTH_MTLS = 1,
    /* Plain HTTP behind a TLS-terminating proxy: the identity comes from proxy_header, and only
     * on connections from one of proxies[]. That header from any other address is a 403. */
    SDV_HTTPD_AUTH_PROXY = 2,
};

/* MHD's internal event loop. Both run on a pool of cfg.threads threads. */
enum sdv_httpd_loop {
    /* poll(2): the default. With libmicrohttpd 0.9.75 it notices at once a client that
     * disconnects in the middle of a request body. */
    SDV_HTTPD_LOOP_POLL = 0,
    /* epoll, edge-triggered: cheaper with many idle connections, but libmicrohttpd 0.9.75 may
     * miss a disconnect during an upload until the idle timeout (see docs/httpd.md). */
    SDV_HTTPD_LOOP_EPOLL = 1,
};

/* Monotonic clock in milliseconds, used only to measure request durations for the log. */
typedef uint64_t (*sdv_httpd_clock_fn)(void *ud);

struct sdv_httpd_config {
    const char *bind_addr; /* IPv4 or IPv6 literal; NULL: "127.0.0.1" */
    uint16_t port;         /* 0: the kernel picks a free port (see sdv_httpd_port) */
    unsigned threads;      /* 0: SDV_HTTPD_THREADS_DEFAULT */
    enum sdv_httpd_loop loop;

    /* Limits; 0 means the SDV_HTTPD_* default above. */
    unsigned header_len_max;
    unsigned url_len_max;
    unsigned connections_max;
    unsigned timeout_s;

    enum sdv_httpd_auth auth;
    /* SDV_HTTPD_AUTH_MTLS: PEM texts (NUL-terminated; copied by sdv_httpd_create): the server
     * certificate (chain), its private key, and the CA that issues device certificates. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
    const char *tls_client_ca_pem;
    /* SDV_HTTPD_AUTH_PROXY: IP literals of the proxies and the header carrying the verified
     * identity (NULL: "X-Client-Verified-Identity"); both copied by sdv_httpd_create. */
    const char *const *proxies;
    size_t proxies_len;
    const char *proxy_header;

    struct sdv_log log;       /* errors, and the access log at SDV_LOG_INFO; fn thread-safe */
    sdv_httpd_clock_fn clock; /* NULL: durations are not measured */
    void *clock_ud;
};

/* ---- Requests and handlers --------------------------------------------------------------- */

/*
 * One request as a handler sees it. Every pointer is owned by the layer and valid until the
 * request ends (after the handler's response is sent or the connection drops).
 */
struct sdv_httpd_request {
    const char *method;      /* "GET", "POST", ... as sent */
    const char *path;        /* percent-decoded by MHD, without the query */
    const char *path_tail;   /* prefix routes: the part after the prefix; exact routes: "" */
    const char *identity;    /* authenticated client (VIN), or NULL if none */
    const char *client_addr; /* peer IP address (the proxy's in proxy mode) */
    const uint8_t *body;     /* buffered routes: the whole body (NUL-terminated), else NULL */
    size_t body_len;
    uint64_t body_received; /* streaming routes: bytes passed to on_body so far */
    void *stream_ud;        /* streaming routes: free for the route's own per-request state */
};

/* Answers the request with one of the sdv_httpd_respond_* functions. ctx is the route's. A
 * handler that answers nothing produces a 500. */
typedef void (*sdv_httpd_handler_fn)(void *ctx, struct sdv_httpd_request *req);

/* Streaming routes: receives the body in pieces, in order, as it arrives (chunked or not). A
 * return other than SDV_OK stops the upload; the client gets the response the callback set
 * with sdv_httpd_respond_*, or else 413 for SDV_ETOOBIG, 400 for SDV_EPARSE/SDV_EINVAL/
 * SDV_EHASH and 500 for anything else; the handler is then not called. */
typedef enum sdv_err (*sdv_httpd_body_fn)(void *ctx, struct sdv_httpd_request *req,
                                          const void *data, size_t len);

/* Called once when a request ends, whatever happened (completed: 1 if the response was sent
 * in full), so a streaming route can release stream_ud (e.g. abort an unfinished upload). */
typedef void (*sdv_httpd_done_fn)(void *ctx, struct sdv_httpd_request *req, int completed);

/* Route flags. */
#define SDV_HTTPD_PREFIX 1u /* path is a prefix ("/artifacts/"); otherwise an exact match */
#define SDV_HTTPD_ANON   2u /* no identity required (admin API with its own token, health) */

struct sdv_httpd_route {
    const char *method; /* "GET" also answers HEAD */
    const char *path;   /* copied */
    unsigned flags;
    /* Largest accepted body; 0: none (any body is a 413). Buffered routes (on_body NULL):
     * at most SDV_HTTPD_BUFFER_LEN_MAX; streaming routes: at most SDV_HTTPD_STREAM_LEN_MAX. */
    uint64_t body_max;
    sdv_httpd_handler_fn handler; /* required; runs after the whole body arrived */
    sdv_httpd_body_fn on_body;    /* NULL: the body is buffered into req->body */
    sdv_httpd_done_fn on_done;    /* optional */
    void *ctx;                    /* borrowed; passed to the three callbacks */
};

/* Looks up a request header (case-insensitive name); NULL if absent. */
const char *sdv_httpd_header(const struct sdv_httpd_request *req, const char *name);

/* Looks up a query parameter (percent-decoded); NULL if absent, "" for "?name". */
const char *sdv_httpd_query(const struct sdv_httpd_request *req, const char *name);

/* ---- Responses ----------------------------------------------------------------------------
 * Each request gets exactly one response: a second respond_* call returns SDV_EINVAL and
 * changes nothing. The response is sent after the handler returns. All return SDV_ENOMEM when
 * MHD cannot allocate the response.
 */

/* Serialises body (borrowed) compactly with Content-Type application/json. */
enum sdv_err sdv_httpd_respond_json(struct sdv_httpd_request *req, unsigned status,
                                    const json_t *body);

/* Copies data[0..len); content_type NULL means application/octet-stream. */
enum sdv_err sdv_httpd_respond_bytes(struct sdv_httpd_request *req, unsigned status,
                                     const char *content_type, const void *data, size_t len);

/* A status with the JSON body of docs/server_api.md: {"error": message} for 4xx/5xx,
 * {"message": message} otherwise, and no body for 1xx, 204 and 304. The layer's own refusals
 * (404, 405, 403, 413, ...) use this form too. */
enum sdv_err sdv_httpd_respond_status(struct sdv_httpd_request *req, unsigned status,
                                      const char *message);

/* The same with the optional "rule" member naming the rule that was broken (NULL: none). */
enum sdv_err sdv_httpd_respond_error(struct sdv_httpd_request *req, unsigned status,
                                     const char *message, const char *rule);

/*
 * Serves len bytes of the open file fd (taken: closed by the layer in every case, errors
 * included) with 200, or 206 for a satisfiable single "Range: bytes=" request (a-b, a-, -n),
 * 416 with "Content-Range: bytes * /LEN" (no space) for an unsatisfiable one, and a full 200
 * for several ranges or an unparsable Range header. etag (hex digest or other token without
 * quotes; NULL for none) becomes the strong ETag "etag"; a matching If-None-Match answers 304,
 * and an If-Range that does not match makes the answer a full 200. The bytes are sent from the
 * descriptor (sendfile where possible), never read into memory whole.
 */
enum sdv_err sdv_httpd_respond_fd(struct sdv_httpd_request *req, int fd, uint64_t len,
                                  const char *etag, const char *content_type);

/* Opens path read-only and serves it as sdv_httpd_respond_fd does. A missing file answers 404
 * and returns SDV_ENOENT. */
enum sdv_err sdv_httpd_respond_file(struct sdv_httpd_request *req, const char *path,
                                    const char *etag, const char *content_type);

/* Produces up to max bytes at offset pos into buf; returns the count, 0 at the end, or -1 to
 * abort the connection. Runs on the server's threads after the handler returned. */
typedef long (*sdv_httpd_read_fn)(void *ud, uint64_t pos, char *buf, size_t max);

/* Streams a generated body of len bytes (UINT64_MAX: unknown, sent chunked). free_fn (may be
 * NULL) gets ud when the response is destroyed, including when this function fails. */
enum sdv_err sdv_httpd_respond_stream(struct sdv_httpd_request *req, unsigned status,
                                      const char *content_type, uint64_t len,
                                      sdv_httpd_read_fn read_fn, void *ud,
                                      void (*free_fn)(void *ud));

/* Adds a header to the response already set by a respond_* call (SDV_EINVAL if none). */
enum sdv_err sdv_httpd_response_header(struct sdv_httpd_request *req, const char *name,
                                       const char *value);

/* ---- Server ------------------------------------------------------------------------------ */

struct sdv_httpd;

/* Validates cfg and creates a stopped server. Borrowed strings are copied. SDV_EINVAL (with a
 * log message) for an invalid configuration. Caller frees with sdv_httpd_destroy(). */
enum sdv_err sdv_httpd_create(const struct sdv_httpd_config *cfg, struct sdv_httpd **out);

/* Adds a route before sdv_httpd_start. Exact routes win over prefix routes, longer prefixes over
 * shorter ones; a path that matches but not for this method is a 405 with an Allow header.
 * SDV_ELIMIT past SDV_HTTPD_ROUTES_MAX, SDV_EINVAL for a bad route or a started server. */
enum sdv_err sdv_httpd_route_add(struct sdv_httpd *h, const struct sdv_httpd_route *route);

/* Binds, listens and starts the threads. SDV_ENET if the address cannot be bound or MHD does
 * not start (detail in the log), SDV_EUNSUPPORTED if MHD lacks TLS, poll or epoll. */
enum sdv_err sdv_httpd_start(struct sdv_httpd *h);

/* The bound port (the chosen one when cfg.port was 0); 0 before start. */
uint16_t sdv_httpd_port(const struct sdv_httpd *h);

/*
 * Graceful shutdown, for the program to call after SIGTERM (from its main thread, not from the
 * signal handler): stops accepting connections, answers requests that arrive on open keep-alive
 * connections with 503 and closes them, lets in-flight requests finish for up to drain_ms
 * (0: SDV_HTTPD_DRAIN_MS_DEFAULT), then stops every thread and closes every connection.
 * Returns SDV_OK when all in-flight requests finished, SDV_ELIMIT when the wait ran out and
 * some were cut off. A stopped or never started server returns SDV_OK at once.
 */
enum sdv_err sdv_httpd_shutdown(struct sdv_httpd *h, unsigned drain_ms);

/* Requests being handled now (for tests and metrics). */
unsigned sdv_httpd_in_flight(const struct sdv_httpd *h);

/* Shuts down without waiting if still running, then frees. NULL is a no-op. */
void sdv_httpd_destroy(struct sdv_httpd *h);

/* ---- Device certificates (OpenSSL X.509) -------------------------------------------------
 * The fleet's device CA issues one client certificate per vehicle with the VIN as subject CN;
 * the same functions make the server certificate for tests. Keys are ECDSA P-256 made with
 * sdv_key_generate() (sdv/crypto.h). Times are seconds since the Unix epoch, passed in.
 */

/* Creates a CA: a new P-256 key (its PKCS#8 PEM appended to key_pem_out) and a self-signed
 * certificate with subject CN=common_name valid from not_before to not_after (PEM appended to
 * cert_pem_out). */
enum sdv_err sdv_ca_create(const char *common_name, int64_t not_before, int64_t not_after,
                           struct sdv_buf *key_pem_out, struct sdv_buf *cert_pem_out);

enum sdv_cert_kind {
    SDV_CERT_CLIENT = 1, /* extendedKeyUsage clientAuth; CN = VIN */
    SDV_CERT_SERVER = 2, /* extendedKeyUsage serverAuth; subjectAltName from dns_name/ip_addr */
};

struct sdv_cert_spec {
    enum sdv_cert_kind kind;
    const char *common_name;
    const char *dns_name;       /* SDV_CERT_SERVER: DNS subjectAltName, or NULL */
    const char *ip_addr;        /* SDV_CERT_SERVER: IP subjectAltName ("127.0.0.1"), or NULL */
    const void *public_key_pem; /* the subject's public (or private) key PEM */
    size_t public_key_pem_len;
    int64_t not_before;
    int64_t not_after;
};

/* Issues a certificate for spec signed by the CA (certificate and private key PEM, borrowed)
 * and appends its PEM to cert_pem_out. SDV_EPARSE for unreadable PEM, SDV_EINVAL for a bad
 * spec (empty or over-long CN, times out of order), SDV_ECRYPTO when OpenSSL fails. */
enum sdv_err sdv_ca_issue(const void *ca_cert_pem, size_t ca_cert_pem_len, const void *ca_key_pem,
                          size_t ca_key_pem_len, const struct sdv_cert_spec *spec,
                          struct sdv_buf *cert_pem_out);

#ifdef __cplusplus
}
#endif
#endif /* SDV_HTTPD_H */
