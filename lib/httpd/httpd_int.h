/*
 * httpd_int.h - private to lib/httpd (and its tests): the server, connection and request
 * structures shared by httpd_server.c, httpd_response.c and httpd_tls.c, and the header parsers
 * that tests call directly.
 */
#ifndef SDV_HTTPD_INT_H
#define SDV_HTTPD_INT_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>

#include <sdv/httpd.h>

/* Text form of an IPv6 address with room to spare (INET6_ADDRSTRLEN is 46). */
#define HTTPD_ADDR_STR_LEN 64

struct httpd_route {
    struct sdv_httpd_route r; /* r.path and r.method point into path/method below */
    char *path;
    size_t path_len;
    char method[16];
};

struct httpd_proxy {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
};

struct sdv_httpd {
    struct sdv_httpd_config cfg; /* borrowed pointers replaced by the copies below or NULL */
    char *tls_cert_pem;
    char *tls_key_pem;
    char *tls_client_ca_pem;
    char *proxy_header;
    char bind_addr[HTTPD_ADDR_STR_LEN];
    struct httpd_proxy proxies[SDV_HTTPD_PROXIES_MAX];
    size_t proxies_len;
    struct httpd_route routes[SDV_HTTPD_ROUTES_MAX];
    size_t routes_len;

    struct MHD_Daemon *daemon;
    MHD_socket quiesced_sock; /* listen socket after quiesce, closed after MHD_stop_daemon */
    uint16_t port;
    int started;
    atomic_uint in_flight;
    atomic_int draining;
};

/* Per connection (MHD's socket context): the peer and, for mTLS, its identity, looked up on
 * the connection's first request and kept for the keep-alive requests after it. */
struct httpd_conn {
    char addr[HTTPD_ADDR_STR_LEN];
    struct httpd_proxy peer;
    int is_proxy;
    int tls_checked;
    int tls_ok;
    char tls_identity[SDV_HTTPD_IDENTITY_LEN_MAX + 1];
    const char *tls_why; /* static text: why tls_ok is 0 */
};

/* Per request (MHD's request context). pub is what handlers see. */
struct httpd_req {
    struct sdv_httpd_request pub;
    struct sdv_httpd *h;
    struct MHD_Connection *conn;
    struct httpd_conn *hc;
    const struct httpd_route *route;
    struct MHD_Response *resp; /* set by a respond_* call, queued after the handler */
    unsigned status;
    uint64_t resp_bytes; /* body bytes the response carries, for the access log */
    int queued;
    int is_head;
    int rejecting; /* the body was refused: discard the rest, then send resp */
    uint64_t discarded;
    struct sdv_buf body; /* buffered routes */
    uint64_t start_ms;
    char identity[SDV_HTTPD_IDENTITY_LEN_MAX + 1];
};

static inline struct httpd_req *httpd_req_of(struct sdv_httpd_request *pub)
{
    return (struct httpd_req *)(void *)pub;
}

/* Checks an identity from a certificate or a proxy header: 1 to SDV_HTTPD_IDENTITY_LEN_MAX
 * printable ASCII characters without spaces. Returns 1 if acceptable. */
int httpd_identity_ok(const char *s);

/* mTLS: verifies the peer certificate of conn against the trusted CA (chain, validity and the
 * clientAuth purpose) and writes its subject CN to out. SDV_ENOENT when the client sent no
 * certificate, SDV_ESIG when it does not verify, SDV_EINVAL for a missing, repeated or
 * unacceptable CN; *why gets a static reason in every failure. */
enum sdv_err httpd_tls_identity(struct MHD_Connection *conn, char *out, size_t out_len,
                                const char **why);

/* Result of parsing a Range header against a representation of len bytes. */
enum httpd_range {
    HTTPD_RANGE_NONE = 0,  /* absent, invalid, multiple ranges or another unit: send all */
    HTTPD_RANGE_ONE = 1,   /* one satisfiable range: *first..*last (inclusive) */
    HTTPD_RANGE_UNSAT = 2, /* syntactically valid but unsatisfiable: 416 */
};
enum httpd_range httpd_range_parse(const char *hdr, uint64_t len, uint64_t *first, uint64_t *last);

/* Whether the If-None-Match / If-Range style list hdr names etag (bare token, no quotes).
 * weak: 1 for the weak comparison of If-None-Match (W/"x" matches), 0 for the strong one of
 * If-Range (weak tags never match). "*" matches anything when allow_star is set. */
int httpd_etag_match(const char *hdr, const char *etag, int weak, int allow_star);

#endif /* SDV_HTTPD_INT_H */
