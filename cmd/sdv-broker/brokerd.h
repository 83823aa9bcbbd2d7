/*
 * brokerd.h - sdv-broker, the vehicle signal broker daemon (issue 6): shared state of the
 * program. One libwebsockets context runs the only event loop; it serves VISS v3 over WebSocket
 * and HTTP on a TCP vhost and the binary protocol on a raw Unix-socket vhost (docs/broker-
 * daemon.md explains why). The core (sdv/broker.h), access control (sdv/broker_auth.h) and the
 * codecs (sdv/broker_proto.h) do the work; this program parses the configuration, owns the
 * sessions and moves bytes.
 */
#ifndef SDV_BROKERD_H
#define SDV_BROKERD_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include <sdv/broker.h>
#include <sdv/broker_auth.h>
#include <sdv/broker_proto.h>
#include <sdv/common.h>

/* ---- Configuration (brokerd_config.c) ------------------------------------------------------ */

struct brokerd_key {
    char *kid; /* NULL: none */
    char *file;
};

struct brokerd_config {
    char *catalog;
    char **overlays;
    size_t n_overlays;
    char *vin;      /* NULL: none */
    char *audience; /* required */
    char *issuer;   /* NULL: any */
    struct brokerd_key *keys;
    size_t n_keys;
    json_t *purposes; /* {"purposes": {...}} or NULL */
    uint32_t rate_per_s, rate_burst;
    uint32_t leeway_s;
    char *persist_file; /* NULL: no persistence */
    uint32_t persist_interval_ms;
    char *listen_address; /* NULL: no TCP listener */
    int listen_port;      /* 0: any free port (printed when ready) */
    char *tls_cert, *tls_key;
    char *socket_path; /* NULL: no Unix socket */
    char *audit_log;   /* NULL: no audit log (refused unless allowed) */
    bool audit_sync;
    uint32_t actuation_timeout_ms;
    uint32_t queue_len;
    uint32_t shutdown_grace_ms;
    int log_level;          /* enum sdv_log_level */
    int32_t cpu_latency_us; /* -1: leave the kernel's default; else held via PM QoS */
    uint32_t busy_poll_us;  /* 0: block in poll() at once; else poll without blocking this long */
};

/* Bounds of the low-latency members: a PM QoS request above a second means nothing, and a
 * busy-poll window above a millisecond burns a core for no measurable gain. */
#define BROKERD_CPU_LATENCY_US_MAX 1000000u
#define BROKERD_BUSY_POLL_US_MAX   SDV_BROKER_CLIENT_BUSY_POLL_US_MAX

/* Loads and checks the JSON configuration at path. Relative file names are taken relative to
 * the configuration file's directory. On error: SDV_EPARSE/SDV_EIO/SDV_ENOENT with a message
 * naming the file and member ("broker.json: listen.port: must be an integer 0..65535"). */
enum sdv_err brokerd_config_load(const char *path, struct brokerd_config *c, char *err,
                                 size_t err_len);
void brokerd_config_free(struct brokerd_config *c);

/* True for 127.0.0.0/8, ::1 and "localhost". */
bool brokerd_is_loopback(const char *address);

/* ---- Sessions (brokerd_main.c) ------------------------------------------------------------- */

enum brokerd_kind {
    BROKERD_LOCAL = 1, /* binary protocol on the Unix socket */
    BROKERD_WS = 2,    /* VISS v3 over WebSocket */
    BROKERD_HTTP = 3,  /* one HTTP GET/POST */
};

/* Bounds of a session's output, so a client that does not read cannot grow the daemon's
 * memory: subscription events stay in the broker's drop-oldest queues until there is room. */
#define BROKERD_OUT_MAX       (4u * 1024u * 1024u)
#define BROKERD_OUT_LOW_WATER (64u * 1024u)
/* Actuations one session may have in flight (their request ids are remembered here). */
#define BROKERD_PENDING_MAX 64u
/* Events taken from the broker per subscription per pass, so one busy subscription cannot
 * starve the others of the same session. */
#define BROKERD_EVENTS_PER_PASS 256u

struct brokerd_pending {
    uint64_t actuation_id; /* 0: free */
    uint32_t wire_request_id;
    char viss_request_id[SDV_BROKER_VISS_ID_LEN_MAX + 1];
    bool has_viss_id;
};

struct brokerd;

struct brokerd_session {
    enum brokerd_kind kind;
    struct brokerd *d;
    struct lws *wsi;
    struct brokerd_session *next_dirty; /* on d->dirty while in_dirty */
    bool in_dirty;
    bool closing;
    /* Access: the token this session acts with (verified once; NULL: none or refused). */
    struct sdv_auth_token *token;
    enum sdv_auth_status token_status; /* why token is NULL when a token was offered */
    char token_msg[160];
    char *token_text; /* the text of token, to reuse it when a request repeats it */
    struct sdv_auth_cache *cache;
    bool rate_taken; /* the current request has had its one take from the rate bucket */
    /* Fires when the token stops granting: every subscription ends with a notice (401). */
    lws_sorted_usec_list_t sul_expiry;
    /* Output: LOCAL: frames; WS: a sequence of [u32 length][LWS_PRE][text]. */
    struct sdv_buf out;
    size_t out_off;
    /* Local protocol input. */
    struct sdv_broker_decoder *dec;
    bool hello;
    /* Renewal handle (SESSION_HANDLE), made on first request; while has_handle the session is
     * on d->handles, where RENEW looks it up. */
    bool has_handle;
    uint8_t handle[SDV_BROKER_SESSION_HANDLE_LEN];
    struct brokerd_session *next_handle, **prev_handle;
    /* Subscriptions of this session (broker sub ids). */
    uint32_t subs[SDV_BROKER_CLIENT_SUBS_MAX];
    uint32_t n_subs;
    /* Each subscription's signal ids (malloc'd, subs order), checked again when the token is
     * renewed: a subscription the new token does not fully grant ends (403). */
    uint32_t *sub_sigs[SDV_BROKER_CLIENT_SUBS_MAX];
    uint32_t sub_nsigs[SDV_BROKER_CLIENT_SUBS_MAX];
    struct brokerd_pending pending[BROKERD_PENDING_MAX];
    /* HTTP: request body and the answer. */
    struct sdv_buf body;
    bool is_post;
    char url[SDV_BROKER_PATH_LEN_MAX + 2];
    int http_status;
    struct sdv_buf http_answer;
    bool http_ready;   /* answer complete, waiting for HTTP_WRITEABLE */
    bool http_waiting; /* waiting for an actuation result */
};

struct brokerd {
    struct brokerd_config *cfg;
    struct sdv_log log;
    struct sdv_broker_catalog *cat;
    struct sdv_broker *b;
    struct sdv_auth *auth;
    struct sdv_auth_audit *audit;
    struct lws_context *ctx;
    struct lws_vhost *vh_viss, *vh_local;
    lws_sorted_usec_list_t sul_tick;
    lws_sorted_usec_list_t sul_stop;
    struct brokerd_session *dirty;
    struct brokerd_session *handles; /* local sessions with a renewal handle (few) */
    /* Refused-RENEW audit lines: at most SDV_AUTH_AUDIT_DENIALS_PER_S a second, the rest
     * counted in the next line's "suppressed" (a flood of guessed handles cannot fill the disk). */
    int64_t renew_audit_sec;
    uint32_t renew_audit_n;
    uint64_t renew_audit_suppressed;
    volatile int stop_requested; /* set by SIGTERM/SIGINT */
    bool shutting_down;          /* new requests get 503 */
    bool stop_now;               /* leave the loop */
    /* Scratch reused by every request (one thread). */
    struct sdv_buf scratch;
    struct sdv_buf text;
    struct sdv_broker_entry entries[SDV_BROKER_BATCH_MAX];
    uint32_t ids[SDV_BROKER_BATCH_MAX];
    /* Low-latency options (brokerd_tune.c). */
    int qos_fd;         /* the held PM QoS request, or -1 */
    int busy_epfd;      /* busy_poll_us: the local sessions' sockets, or -1 */
    int64_t last_rx_us; /* when a local client last sent something (busy_poll_us) */
};

int64_t brokerd_now_us(void);

/* Holds a PM QoS CPU latency request of us microseconds: returns the descriptor that keeps it
 * (close it to drop the request), or -1 with a message in err. */
int brokerd_cpu_latency_hold(int32_t us, char *err, size_t err_len);

/* busy_poll_us: brokerd_busy_init makes the epoll set (-1 with a message in err); watch adds
 * (on) or removes a local session's socket; wait returns when one of them is readable or
 * busy_poll_us after the last local message (d->last_rx_us), without sleeping meanwhile. */
int brokerd_busy_init(struct brokerd *d, char *err, size_t err_len);
void brokerd_busy_watch(struct brokerd *d, int fd, bool on);
void brokerd_busy_wait(struct brokerd *d);

/* Arms the session's output (WS and HTTP: ask lws for a writeable callback; LOCAL: queue it on
 * the dirty list, flushed after the current callback). */
void brokerd_session_wake(struct brokerd_session *s);

/* Runs sdv_broker_tick soon (after a subscribe or an actuation changed the deadlines). */
void brokerd_tick_soon(struct brokerd *d);

/* Access: verifies (or reuses) the token offered for this session (a HELLO, the upgrade's
 * Authorization header, a VISS request's authorization member, a binary AUTH). A good token
 * replaces the session's: its grants apply from then on (the decision cache refills, the rate
 * bucket is the new token's), the subscriptions stay and those it does not fully grant end with
 * a notice (403), and the expiry timer follows the new token. A refused token changes nothing
 * when one is in force (that one stays until it expires); without one, the refusal is remembered
 * for the session's requests. Returns the verdict, msg says why. */
enum sdv_auth_status brokerd_session_set_token(struct brokerd_session *s, const char *token,
                                               size_t len, char *msg, size_t msg_len);

/* Puts t (verified, taken) in force on s as brokerd_session_set_token does with a good token;
 * text/len is its text. */
void brokerd_session_install_token(struct brokerd_session *s, struct sdv_auth_token *t,
                                   const char *text, size_t len);

/* Records a subscription and its signal ids (copied); false when the session's table is full
 * or out of memory (the caller unsubscribes). */
bool brokerd_session_add_sub(struct brokerd_session *s, uint32_t sub_id, const uint32_t *ids,
                             uint32_t n);
bool brokerd_session_del_sub(struct brokerd_session *s, uint32_t sub_id);

/* One rate-limit take per request: brokerd_request_begin() before handling a request (charged
 * false for what is not rate-limited: a provider's PUBLISH, ACTUATE_REPLY, UNSUBSCRIBE), then
 * brokerd_access() takes on its first call and never again; brokerd_request_end() takes for a
 * request that named no known signal, so that it costs its take too. */
void brokerd_request_begin(struct brokerd_session *s, bool charged);
void brokerd_request_end(struct brokerd_session *s);

/* A free pending slot, or NULL when BROKERD_PENDING_MAX are in flight. */
struct brokerd_pending *brokerd_pending_slot(struct brokerd_session *s);

/* ---- VISS over WebSocket and HTTP (brokerd_viss.c) ---------------------------------------- */

/* Handles one VISS request (WebSocket text or HTTP): answers into the session's output. */
void brokerd_viss_handle(struct brokerd_session *s, struct sdv_broker_viss_request *r);
/* Writes a VISS error answer (WS: queued message; HTTP: status and body). */
void brokerd_viss_error(struct brokerd_session *s, enum sdv_broker_viss_action action,
                        const char *request_id, enum sdv_broker_viss_error e, const char *msg);
/* Moves queued subscription events into a WS session's output while there is room. */
void brokerd_viss_drain(struct brokerd_session *s);
/* Appends one text message to a WS session's output, or sets an HTTP session's answer. */
enum sdv_err brokerd_viss_emit(struct brokerd_session *s, const struct sdv_buf *text,
                               int http_status);
/* The error notification of a subscription the broker ended (token expired: 401 expired_token;
 * no longer granted: 403 forbidden_request). */
void brokerd_viss_sub_ended(struct brokerd_session *s, uint32_t sub_id, enum sdv_auth_status st,
                            const char *message);
/* The result of an actuation requested over VISS. */
void brokerd_viss_actuate_result(struct brokerd_session *s, struct brokerd_pending *p,
                                 enum sdv_err result, const char *message);

/* ---- Binary protocol on the Unix socket (brokerd_local.c) --------------------------------- */

/* Feeds received bytes; returns -1 when the connection must be closed. */
int brokerd_local_rx(struct brokerd_session *s, const uint8_t *p, size_t len);
/* Writes what is pending (events included) directly to the socket; -1: close. */
int brokerd_local_flush(struct brokerd_session *s);
/* Forgets the session's renewal handle (session_fini). */
void brokerd_local_fini(struct brokerd_session *s);
/* The ACTUATE frame to a provider session. */
enum sdv_err brokerd_local_send_actuate(struct brokerd_session *s,
                                        const struct sdv_broker_actuation *req);
void brokerd_local_actuate_result(struct brokerd_session *s, struct brokerd_pending *p,
                                  enum sdv_err result, const char *message);
/* The SUB_ENDED notice of a subscription the broker ended (status 401 or 403). */
void brokerd_local_sub_ended(struct brokerd_session *s, uint32_t sub_id, uint16_t status,
                             const char *message);

/* ---- Access helpers (brokerd_main.c) ------------------------------------------------------- */

/* Checks action on signal sig for the session's token: the first check of a charged request
 * goes through sdv_auth_request (its one rate-limit take, audit), the others through
 * sdv_auth_check and, when denied or for an actuation, sdv_auth_request_more (audited, no
 * take). Returns the status and a message. */
enum sdv_auth_status brokerd_access(struct brokerd_session *s, const struct sdv_broker_signal *sig,
                                    enum sdv_auth_action action, char *msg, size_t msg_len);

#endif /* SDV_BROKERD_H */
