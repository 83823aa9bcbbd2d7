/*
 * sdv/net.h - HTTP(S) downloads for OpenSDV clients, on libcurl.
 *
 * One sdv_net handle keeps one connection alive across requests (HTTP keep-alive). Bodies are
 * streamed into a sink and never held whole. Every download is bounded: a maximum body size
 * (endless-data defence), a connect timeout, and a minimum average speed over a window
 * (slow-retrieval defence).
 *
 * Thread safety: one handle is used by one thread at a time.
 */
#ifndef SDV_NET_H
#define SDV_NET_H

#include <sdv/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sdv_net_config {
    long connect_timeout_ms; /* 0: 10,000 */
    long timeout_ms;         /* whole request; 0: no limit (speed limit still applies) */
    long low_speed_bytes;    /* abort when slower than this many bytes/s ... (0: 1,024) */
    long low_speed_time_s;   /* ... for this many seconds (0: 30) */
    const char *user_agent;  /* NULL: "opensdv/<version>" */
    struct sdv_log log;
    /* TLS (https URLs). ca_file: the CA bundle that must have issued the server's certificate
     * (NULL: the system's). client_cert_file/client_key_file: PEM certificate and key this
     * device presents for mTLS (the fleet's device CA issued them; CN = VIN); NULL: none. */
    const char *ca_file;
    const char *client_cert_file;
    const char *client_key_file;
};

struct sdv_net;

/* Creates a handle; cfg may be NULL for the defaults. Caller destroys with sdv_net_destroy(). */
enum sdv_err sdv_net_create(const struct sdv_net_config *cfg, struct sdv_net **out);
void sdv_net_destroy(struct sdv_net *net);

/*
 * GETs url and streams the body into sink. Signature-compatible with sdv_tuf_fetch_fn (pass the
 * handle as fetch_ud). Returns SDV_ENOENT for HTTP 403/404 (and a missing file:// path),
 * SDV_ETOOBIG as soon as the body would exceed max_len bytes, SDV_ESLOW when the transfer stays
 * below the minimum speed or passes timeout_ms, SDV_ENET for any other transport or HTTP
 * failure, or the sink's error.
 * Only http, https and file URLs are allowed.
 */
enum sdv_err sdv_net_fetch(void *net, const char *url, uint64_t max_len, sdv_sink_fn sink,
                           void *sink_ud);

/* Detail of the last failure ("HTTP 500 from URL", curl's message); never NULL. */
const char *sdv_net_errmsg(const struct sdv_net *net);

/* Number of requests made through this handle (for tests and benchmarks). */
unsigned long sdv_net_request_count(const struct sdv_net *net);

/*
 * Resumes a download: GETs url with "Range: bytes=offset-" and streams the bytes from offset on
 * into sink (offset 0 sends no Range and is a plain GET). max_len bounds the whole file, so at
 * most max_len - offset bytes reach sink (SDV_ETOOBIG beyond). Only a 206 whose Content-Range
 * starts at offset is accepted. A server that ignored the Range (200), answered 416, or sent
 * another start makes it return SDV_EUNSUPPORTED before any byte reached sink: the caller then
 * discards what it has and fetches again from offset 0. offset >= max_len (offset > 0):
 * SDV_EINVAL. Other errors, the defences (minimum speed, connect timeout) and the connection
 * reuse are those of sdv_net_fetch. net is the handle (void * as in sdv_net_fetch).
 */
enum sdv_err sdv_net_fetch_range(void *net, const char *url, uint64_t offset, uint64_t max_len,
                                 sdv_sink_fn sink, void *sink_ud);

/*
 * Adds a request header line ("Name: value", copied) sent with every later request of this
 * handle: a vehicle identity behind a trusted proxy, an Authorization token. SDV_EINVAL for a
 * line without ':' or with CR/LF (header injection), SDV_ENOMEM.
 */
enum sdv_err sdv_net_add_header(struct sdv_net *net, const char *line);

/*
 * POSTs body[0..len) (borrowed) with the given Content-Type to url and streams at most max_len
 * bytes of the answer into sink (which may be NULL to drop it). *status receives the HTTP status
 * (an error status is not a failure here: the caller reads the answer). SDV_ETOOBIG when the
 * answer is longer, SDV_ENET when no answer came; the defences of sdv_net_fetch apply.
 */
enum sdv_err sdv_net_post(struct sdv_net *net, const char *url, const char *content_type,
                          const void *body, size_t len, uint64_t max_len, sdv_sink_fn sink,
                          void *sink_ud, long *status);

#ifdef __cplusplus
}
#endif
#endif /* SDV_NET_H */
