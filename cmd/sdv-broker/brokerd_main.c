/*
 * brokerd_main.c - sdv-broker: configuration, the libwebsockets event loop, sessions, the core's
 * callbacks (actuation routing, subscription wake-ups, per-event access checks), timers and
 * shutdown. See docs/broker-daemon.md.
 *
 * One loop: lws's own poll loop runs a TCP vhost (VISS v3: WebSocket subprotocol "VISSv3" and
 * HTTP GET/POST, TLS when configured) and a Unix-socket vhost whose accepted connections are
 * bound to a raw protocol (the binary frame protocol). A publish on the Unix socket is decoded
 * in the RAW_RX callback, fanned out by the core in the same call, and the events of local
 * subscribers are written with send() straight from that callback (the "dirty" list), without
 * waiting for another poll round; only a socket that would block is left to lws's writeable
 * callback. WebSocket frames must be written from lws's writeable callback, so they take one
 * more poll round.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"

static struct brokerd *g_daemon; /* for the signal handler only (cmd/, not lib/) */

int64_t brokerd_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t clock_us(void *ud)
{
    (void)ud;
    return brokerd_now_us();
}

/* Access control needs milliseconds (token expiry, rate buckets) and asks on every subscription
 * event: the coarse clock (a few ms of resolution) costs a fraction of the precise one there. */
static int64_t clock_ms(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_stderr(void *ud, enum sdv_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    (void)ud;
    fprintf(stderr, "sdv-broker: %s: %s\n", names[level], msg);
}

/* ---- Sessions ----------------------------------------------------------------------------- */

static enum sdv_err session_init(struct brokerd *d, struct brokerd_session *s,
                                 enum brokerd_kind kind, struct lws *wsi)
{
    enum sdv_err rc;

    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->d = d;
    s->wsi = wsi;
    s->token_status = SDV_AUTH_MISSING_TOKEN;
    snprintf(s->token_msg, sizeof(s->token_msg), "no access token");
    sdv_buf_init(&s->out, BROKERD_OUT_MAX);
    sdv_buf_init(&s->body, SDV_BROKER_VISS_REQUEST_LEN_MAX);
    sdv_buf_init(&s->http_answer, 1u << 20);
    rc = sdv_auth_cache_create(sdv_broker_catalog_count(d->cat), &s->cache);
    if (rc == SDV_OK && kind == BROKERD_LOCAL)
        rc = sdv_broker_decoder_create(0, &s->dec);
    return rc;
}

static void session_fini(struct brokerd_session *s)
{
    struct brokerd *d = s->d;

    if (s->kind == 0 || d == NULL)
        return;
    if (s->in_dirty) {
        struct brokerd_session **pp = &d->dirty;

        while (*pp != NULL && *pp != s)
            pp = &(*pp)->next_dirty;
        if (*pp == s)
            *pp = s->next_dirty;
        s->in_dirty = false;
    }
    s->closing = true;
    brokerd_local_fini(s);
    lws_sul_cancel(&s->sul_expiry);
    sdv_broker_session_close(d->b, s);
    for (uint32_t k = 0; k < s->n_subs; k++)
        free(s->sub_sigs[k]);
    s->n_subs = 0;
    sdv_auth_token_destroy(s->token);
    sdv_auth_cache_destroy(s->cache);
    sdv_broker_decoder_destroy(s->dec);
    free(s->token_text);
    sdv_buf_free(&s->out);
    sdv_buf_free(&s->body);
    sdv_buf_free(&s->http_answer);
    s->kind = 0;
}

static void flush_dirty(struct brokerd *d);

/* Ends subscription k of s on the broker's initiative and tells the client, once. */
static void session_end_sub(struct brokerd_session *s, uint32_t k, enum sdv_auth_status st,
                            const char *msg)
{
    uint32_t sub = s->subs[k];

    (void)sdv_broker_unsubscribe(s->d->b, s, sub);
    (void)brokerd_session_del_sub(s, sub);
    if (s->kind == BROKERD_LOCAL)
        brokerd_local_sub_ended(s, sub, (uint16_t)sdv_auth_status_http(st), msg);
    else if (s->kind == BROKERD_WS)
        brokerd_viss_sub_ended(s, sub, st, msg);
    sdv_logf(&s->d->log, SDV_LOG_INFO, "subscription %u ended: %s", (unsigned)sub, msg);
}

/* After a renewal: a subscription the new token does not grant in full ends (403), the others
 * go on, checked against the new grants event by event. */
static void session_regrant(struct brokerd_session *s)
{
    struct brokerd *d = s->d;

    for (uint32_t k = s->n_subs; k-- > 0;) {
        for (uint32_t i = 0; i < s->sub_nsigs[k]; i++) {
            const struct sdv_broker_signal *sig =
                    sdv_broker_catalog_signal(d->cat, s->sub_sigs[k][i]);
            char msg[SDV_BROKER_PATH_LEN_MAX + 96];

            if (sig == NULL || sdv_auth_check(d->auth, s->token, sig->path, SDV_AUTH_READ, s->cache,
                                              sig->id) == SDV_AUTH_OK)
                continue;
            snprintf(msg, sizeof(msg), "the renewed token does not grant read on %s",
                     sig != NULL ? sig->path : "?");
            session_end_sub(s, k, SDV_AUTH_FORBIDDEN, msg);
            break;
        }
    }
}

static void session_arm_expiry(struct brokerd_session *s);

/* The token stopped granting: its subscriptions end with one notice each (VISS and KUKSA
 * practice: an expired token does not keep a subscription alive; renewing before the expiry
 * does). Requests are refused per request as before. */
static void expiry_cb(lws_sorted_usec_list_t *sul)
{
    struct brokerd_session *s = lws_container_of(sul, struct brokerd_session, sul_expiry);
    struct brokerd *d = s->d;
    enum sdv_auth_status st;
    char msg[160];

    if (s->kind == 0 || s->closing || s->token == NULL)
        return;
    if (clock_ms(NULL) < sdv_auth_token_expiry_ms(s->token)) {
        session_arm_expiry(s); /* the two clocks disagree by a little: look again */
        return;
    }
    st = sdv_auth_check(d->auth, s->token, "", SDV_AUTH_READ, NULL, 0);
    if (st == SDV_AUTH_EXPIRED_TOKEN)
        snprintf(msg, sizeof(msg),
                 "token expired (renew it before it expires to keep "
                 "subscriptions)");
    else
        snprintf(msg, sizeof(msg), "purpose \"%s\" has expired", sdv_auth_token_purpose(s->token));
    for (uint32_t k = s->n_subs; k-- > 0;)
        session_end_sub(s, k, st == SDV_AUTH_EXPIRED_TOKEN ? st : SDV_AUTH_FORBIDDEN, msg);
    flush_dirty(d);
}

static void session_arm_expiry(struct brokerd_session *s)
{
    const int64_t day_ms = 86400000;
    int64_t left_ms;

    if (s->token == NULL || (s->kind != BROKERD_LOCAL && s->kind != BROKERD_WS)) {
        lws_sul_cancel(&s->sul_expiry);
        return;
    }
    left_ms = sdv_auth_token_expiry_ms(s->token) - clock_ms(NULL);
    if (left_ms < 0)
        left_ms = 0;
    if (left_ms > day_ms)
        left_ms = day_ms; /* checked again then */
    /* 2 ms later than due: the access clock is the coarse one (a few ms of resolution). */
    lws_sul_schedule(s->d->ctx, 0, &s->sul_expiry, expiry_cb, (lws_usec_t)left_ms * 1000 + 2000);
}

enum sdv_auth_status brokerd_session_set_token(struct brokerd_session *s, const char *token,
                                               size_t len, char *msg, size_t msg_len)
{
    struct sdv_auth_token *t = NULL;
    enum sdv_auth_status st;
    char why[sizeof(s->token_msg)];

    if (s->token_text != NULL && strlen(s->token_text) == len &&
        memcmp(s->token_text, token, len) == 0) {
        /* The same token again: its verdict stands (expiry is checked per request). */
        snprintf(msg, msg_len, "%s", s->token != NULL ? "" : s->token_msg);
        return s->token != NULL ? SDV_AUTH_OK : s->token_status;
    }
    st = sdv_auth_verify(s->d->auth, token, len, &t, why, sizeof(why));
    snprintf(msg, msg_len, "%s", why);
    if (st != SDV_AUTH_OK) {
        if (s->token == NULL) { /* nothing in force: the session's requests get this refusal */
            free(s->token_text);
            s->token_text = strndup(token, len);
            s->token_status = st;
            snprintf(s->token_msg, sizeof(s->token_msg), "%s", why);
        }
        return st; /* else the token in force stays, until it expires */
    }
    brokerd_session_install_token(s, t, token, len);
    return SDV_AUTH_OK;
}

void brokerd_session_install_token(struct brokerd_session *s, struct sdv_auth_token *t,
                                   const char *text, size_t len)
{
    bool renewed = s->token != NULL;

    sdv_auth_token_destroy(s->token);
    s->token = t;
    free(s->token_text);
    s->token_text = strndup(text, len);
    s->token_status = SDV_AUTH_OK;
    s->token_msg[0] = '\0';
    if (renewed)
        session_regrant(s);
    session_arm_expiry(s);
}

void brokerd_request_begin(struct brokerd_session *s, bool charged)
{
    s->rate_taken = !charged;
}

void brokerd_request_end(struct brokerd_session *s)
{
    if (!s->rate_taken && s->token != NULL)
        (void)sdv_auth_rate_take(s->d->auth, s->token);
    s->rate_taken = true;
}

enum sdv_auth_status brokerd_access(struct brokerd_session *s, const struct sdv_broker_signal *sig,
                                    enum sdv_auth_action action, char *msg, size_t msg_len)
{
    struct brokerd *d = s->d;
    enum sdv_auth_status st;

    if (d->shutting_down) {
        snprintf(msg, msg_len, "the broker is shutting down");
        return SDV_AUTH_UNAVAILABLE;
    }
    if (s->token == NULL) {
        s->rate_taken = true;
        if (s->token_status == SDV_AUTH_MISSING_TOKEN)
            return sdv_auth_request(d->auth, NULL, sig->path, action, msg, msg_len);
        snprintf(msg, msg_len, "%s", s->token_msg);
        return s->token_status;
    }
    if (!s->rate_taken) {
        s->rate_taken = true;
        return sdv_auth_request(d->auth, s->token, sig->path, action, msg, msg_len);
    }
    st = sdv_auth_check(d->auth, s->token, sig->path, action, s->cache, sig->id);
    if (st != SDV_AUTH_OK || action == SDV_AUTH_ACTUATE) /* audited: denials, actuations */
        st = sdv_auth_request_more(d->auth, s->token, sig->path, action, msg, msg_len);
    return st;
}

bool brokerd_session_add_sub(struct brokerd_session *s, uint32_t sub_id, const uint32_t *ids,
                             uint32_t n)
{
    uint32_t *copy;

    if (s->n_subs >= SDV_BROKER_CLIENT_SUBS_MAX || n == 0)
        return false;
    copy = malloc((size_t)n * sizeof(*copy));
    if (copy == NULL)
        return false;
    memcpy(copy, ids, (size_t)n * sizeof(*copy));
    s->subs[s->n_subs] = sub_id;
    s->sub_sigs[s->n_subs] = copy;
    s->sub_nsigs[s->n_subs] = n;
    s->n_subs++;
    return true;
}

bool brokerd_session_del_sub(struct brokerd_session *s, uint32_t sub_id)
{
    for (uint32_t i = 0; i < s->n_subs; i++) {
        if (s->subs[i] == sub_id) {
            free(s->sub_sigs[i]);
            s->n_subs--;
            s->subs[i] = s->subs[s->n_subs];
            s->sub_sigs[i] = s->sub_sigs[s->n_subs];
            s->sub_nsigs[i] = s->sub_nsigs[s->n_subs];
            return true;
        }
    }
    return false;
}

struct brokerd_pending *brokerd_pending_slot(struct brokerd_session *s)
{
    for (size_t i = 0; i < BROKERD_PENDING_MAX; i++) {
        if (s->pending[i].actuation_id == 0)
            return &s->pending[i];
    }
    return NULL;
}

void brokerd_session_wake(struct brokerd_session *s)
{
    if (s->closing || s->kind == 0)
        return;
    if (s->kind == BROKERD_LOCAL) {
        if (!s->in_dirty) {
            s->in_dirty = true;
            s->next_dirty = s->d->dirty;
            s->d->dirty = s;
        }
        return;
    }
    lws_callback_on_writable(s->wsi);
}

/* Writes the pending output of every local session that got something to send. */
static void flush_dirty(struct brokerd *d)
{
    while (d->dirty != NULL) {
        struct brokerd_session *s = d->dirty;

        d->dirty = s->next_dirty;
        s->in_dirty = false;
        if (brokerd_local_flush(s) < 0 && !s->closing) {
            s->closing = true;
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
    }
}

/* ---- The core's callbacks ------------------------------------------------------------------ */

static enum sdv_err on_actuate(void *ud, const struct sdv_broker_actuation *req)
{
    struct brokerd_session *p = (struct brokerd_session *)req->provider;

    (void)ud;
    if (p == NULL || p->kind != BROKERD_LOCAL || p->closing)
        return SDV_EUNAVAILABLE;
    return brokerd_local_send_actuate(p, req);
}

static void on_actuate_result(void *ud, const void *requester, uint64_t id, enum sdv_err result,
                              const char *message)
{
    struct brokerd_session *s = (struct brokerd_session *)requester;

    (void)ud;
    if (s == NULL || s->kind == 0 || s->closing)
        return;
    for (size_t i = 0; i < BROKERD_PENDING_MAX; i++) {
        struct brokerd_pending *p = &s->pending[i];

        if (p->actuation_id != id)
            continue;
        if (s->kind == BROKERD_LOCAL)
            brokerd_local_actuate_result(s, p, result, message);
        else
            brokerd_viss_actuate_result(s, p, result, message);
        p->actuation_id = 0;
        return;
    }
}

static void on_notify(void *ud, const void *who, uint32_t sub_id)
{
    (void)ud;
    (void)sub_id;
    brokerd_session_wake((struct brokerd_session *)who);
}

static bool on_event_check(void *ud, const void *who, const struct sdv_broker_signal *sig)
{
    struct brokerd *d = ud;
    struct brokerd_session *s = (struct brokerd_session *)who;

    if (s->token == NULL)
        return false;
    return sdv_auth_check(d->auth, s->token, sig->path, SDV_AUTH_READ, s->cache, sig->id) ==
           SDV_AUTH_OK;
}

/* ---- Timers -------------------------------------------------------------------------------- */

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    struct brokerd *d = lws_container_of(sul, struct brokerd, sul_tick);
    int64_t now, next, delay;

    next = sdv_broker_tick(d->b);
    flush_dirty(d);
    now = brokerd_now_us();
    delay = next == INT64_MAX ? 1000000 : next - now;
    if (delay < 100)
        delay = 100;
    if (delay > 1000000)
        delay = 1000000;
    lws_sul_schedule(d->ctx, 0, &d->sul_tick, tick_cb, delay);
}

void brokerd_tick_soon(struct brokerd *d)
{
    lws_sul_schedule(d->ctx, 0, &d->sul_tick, tick_cb, 1);
}

static void stop_cb(lws_sorted_usec_list_t *sul)
{
    struct brokerd *d = lws_container_of(sul, struct brokerd, sul_stop);

    d->stop_now = true;
}

/* ---- lws protocols ------------------------------------------------------------------------- */

static struct brokerd *daemon_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* The token of an "Authorization: Bearer ..." header, if any, into buf. */
static const char *bearer(struct lws *wsi, char *buf, size_t buf_len, size_t *len)
{
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    const char *p = buf;

    if (n <= 0 || (size_t)n >= buf_len)
        return NULL;
    if (lws_hdr_copy(wsi, buf, (int)buf_len, WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        return NULL;
    if (strncasecmp(p, "Bearer ", 7) == 0)
        p += 7;
    while (*p == ' ')
        p++;
    *len = strlen(p);
    return p;
}

static int http_write_answer(struct lws *wsi, struct brokerd_session *s)
{
    uint8_t hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr);
    unsigned char *body;
    size_t n = s->http_answer.len;

    if (lws_add_http_common_headers(wsi, (unsigned)s->http_status, "application/json",
                                    (lws_filepos_t)n, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    body = malloc(LWS_PRE + n + 1);
    if (body == NULL)
        return -1;
    memcpy(body + LWS_PRE, s->http_answer.data, n);
    if (lws_write(wsi, body + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) != (int)n) {
        free(body);
        return -1;
    }
    free(body);
    s->http_ready = false;
    sdv_buf_reset(&s->http_answer);
    if (lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

static void http_handle(struct brokerd_session *s, const char *method)
{
    struct sdv_broker_viss_request r;
    enum sdv_broker_viss_error verr = 0;
    char msg[256], abuf[SDV_BROKER_TOKEN_LEN_MAX + 16];
    const char *auth;
    size_t alen = 0;
    enum sdv_err rc;
    char *auth_z = NULL;

    auth = bearer(s->wsi, abuf, sizeof(abuf), &alen);
    if (auth != NULL)
        auth_z = strndup(auth, alen);
    rc = sdv_broker_viss_request_from_http(method, s->url, (const char *)s->body.data, s->body.len,
                                           auth_z, &r, &verr, msg, sizeof(msg));
    free(auth_z);
    if (rc != SDV_OK || verr != 0)
        brokerd_viss_error(s, r.action ? r.action : SDV_BROKER_VISS_GET, r.request_id,
                           verr ? verr : SDV_BROKER_VISS_BAD_REQUEST, msg);
    else
        brokerd_viss_handle(s, &r);
    sdv_broker_viss_request_free(&r);
}

static int cb_viss(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    struct brokerd *d = daemon_of(wsi);
    struct brokerd_session *s = user;
    int ret = 0;

    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;

        if (s->kind == 0 && session_init(d, s, BROKERD_HTTP, wsi) != SDV_OK)
            return -1;
        sdv_buf_reset(&s->body);
        s->is_post = post;
        snprintf(s->url, sizeof(s->url), "%.*s", (int)(len < sizeof(s->url) ? len : 0),
                 (const char *)in);
        if (in == NULL || len >= sizeof(s->url)) {
            brokerd_viss_error(s, SDV_BROKER_VISS_GET, NULL, SDV_BROKER_VISS_BAD_REQUEST,
                               "URL path too long");
            break;
        }
        if (!post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
            brokerd_viss_error(s, SDV_BROKER_VISS_GET, NULL, SDV_BROKER_VISS_BAD_REQUEST,
                               "only GET (get) and POST (set) are served");
            break;
        }
        if (!post)
            http_handle(s, "GET");
        break;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (s->kind == BROKERD_HTTP && sdv_buf_append(&s->body, in, len) != SDV_OK) {
            lws_return_http_status(wsi, 413, NULL);
            return -1;
        }
        break;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (s->kind == BROKERD_HTTP)
            http_handle(s, "POST");
        break;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (s->kind == BROKERD_HTTP && s->http_ready)
            ret = http_write_answer(wsi, s);
        break;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* DROP_PROTOCOL: a keep-alive transaction completed and lws frees the per-session data
         * before the next one; CLOSED_HTTP: the connection went away. */
        if (s != NULL && s->kind == BROKERD_HTTP)
            session_fini(s);
        break;
    case LWS_CALLBACK_ESTABLISHED: {
        char abuf[SDV_BROKER_TOKEN_LEN_MAX + 16];
        const char *auth;
        size_t alen = 0;

        if (session_init(d, s, BROKERD_WS, wsi) != SDV_OK)
            return -1;
        auth = bearer(wsi, abuf, sizeof(abuf), &alen);
        if (auth != NULL) {
            char why[160];

            (void)brokerd_session_set_token(s, auth, alen, why, sizeof(why));
        }
        break;
    }
    case LWS_CALLBACK_RECEIVE: {
        struct sdv_broker_viss_request r;
        enum sdv_broker_viss_error verr = 0;
        char msg[256];
        enum sdv_err rc;

        if (s->kind != BROKERD_WS)
            return -1;
        if (lws_frame_is_binary(wsi)) {
            brokerd_viss_error(s, SDV_BROKER_VISS_GET, NULL, SDV_BROKER_VISS_BAD_REQUEST,
                               "VISS requests are JSON text messages");
            break;
        }
        if (sdv_buf_append(&s->body, in, len) != SDV_OK) {
            sdv_buf_reset(&s->body);
            brokerd_viss_error(s, SDV_BROKER_VISS_GET, NULL, SDV_BROKER_VISS_BAD_REQUEST,
                               "request larger than the limit");
            break;
        }
        if (!lws_is_final_fragment(wsi))
            break;
        rc = sdv_broker_viss_request_parse((const char *)s->body.data, s->body.len, &r, &verr, msg,
                                           sizeof(msg));
        sdv_buf_reset(&s->body);
        if (rc != SDV_OK || verr != 0)
            brokerd_viss_error(s, r.action ? r.action : SDV_BROKER_VISS_GET, r.request_id,
                               verr ? verr : SDV_BROKER_VISS_BAD_REQUEST, msg);
        else
            brokerd_viss_handle(s, &r);
        sdv_broker_viss_request_free(&r);
        break;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        uint32_t n;

        if (s->kind != BROKERD_WS)
            break;
        if (s->out_off >= s->out.len) {
            sdv_buf_reset(&s->out);
            s->out_off = 0;
            brokerd_viss_drain(s);
        }
        if (s->out_off >= s->out.len)
            break;
        memcpy(&n, s->out.data + s->out_off, 4);
        if (lws_write(wsi, s->out.data + s->out_off + 4 + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n)
            return -1;
        s->out_off += 4 + LWS_PRE + n;
        if (s->out_off < s->out.len)
            lws_callback_on_writable(wsi);
        else {
            for (uint32_t i = 0; i < s->n_subs; i++) {
                if (sdv_broker_sub_pending(d->b, s->subs[i]) > 0) {
                    lws_callback_on_writable(wsi);
                    break;
                }
            }
        }
        break;
    }
    case LWS_CALLBACK_CLOSED:
        if (s != NULL && s->kind == BROKERD_WS)
            session_fini(s);
        break;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    flush_dirty(d);
    return ret;
}

static int cb_local(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct brokerd *d = daemon_of(wsi);
    struct brokerd_session *s = user;
    int ret = 0;

    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
        if (session_init(d, s, BROKERD_LOCAL, wsi) != SDV_OK)
            return -1;
        brokerd_busy_watch(d, lws_get_socket_fd(wsi), true);
        break;
    case LWS_CALLBACK_RAW_RX:
        if (d->cfg->busy_poll_us > 0)
            d->last_rx_us = brokerd_now_us();
        if (s->kind != BROKERD_LOCAL || brokerd_local_rx(s, in, len) < 0)
            ret = -1;
        else
            brokerd_session_wake(s);
        break;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (s->kind == BROKERD_LOCAL && brokerd_local_flush(s) < 0)
            ret = -1;
        break;
    case LWS_CALLBACK_RAW_CLOSE:
        brokerd_busy_watch(d, lws_get_socket_fd(wsi), false);
        session_fini(s);
        break;
    default:
        break;
    }
    flush_dirty(d);
    return ret;
}

static const struct lws_protocols viss_protocols[] = {
        {"VISSv3", cb_viss, sizeof(struct brokerd_session), 4096, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_protocols local_protocols[] = {
        {"sdv-broker-local", cb_local, sizeof(struct brokerd_session), 65536, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_signal(int sig)
{
    (void)sig;
    if (g_daemon != NULL) {
        g_daemon->stop_requested = 1;
        if (g_daemon->ctx != NULL)
            lws_cancel_service(g_daemon->ctx);
    }
}

/* ---- Start-up -------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: sdv-broker --config FILE.json [--check]\n"
          "  Serves COVESA VSS signals: VISS v3 over WebSocket/HTTP and the binary protocol on a\n"
          "  Unix socket (docs/broker-daemon.md). --check loads everything and exits.\n",
          f);
}

static int fail(const char *what)
{
    fprintf(stderr, "sdv-broker: %s\n", what);
    return 1;
}

static int setup_core(struct brokerd *d, struct brokerd_config *cfg, char *err, size_t err_len)
{
    struct sdv_broker_config bc;
    struct sdv_auth_config ac;
    enum sdv_err rc;

    rc = sdv_broker_catalog_create(&d->log, &d->cat);
    if (rc != SDV_OK) {
        snprintf(err, err_len, "catalog: %s", sdv_strerror(rc));
        return -1;
    }
    rc = sdv_broker_catalog_load_file(d->cat, cfg->catalog);
    if (rc != SDV_OK) {
        snprintf(err, err_len, "catalog %s: %s", cfg->catalog, sdv_broker_catalog_errmsg(d->cat));
        return -1;
    }
    for (size_t i = 0; i < cfg->n_overlays; i++) {
        rc = sdv_broker_catalog_load_file(d->cat, cfg->overlays[i]);
        if (rc != SDV_OK) {
            snprintf(err, err_len, "overlay %s: %s", cfg->overlays[i],
                     sdv_broker_catalog_errmsg(d->cat));
            return -1;
        }
    }
    memset(&ac, 0, sizeof(ac));
    ac.audience = cfg->audience;
    ac.issuer = cfg->issuer;
    ac.vin = cfg->vin;
    ac.leeway_s = cfg->leeway_s;
    ac.rate_per_s = cfg->rate_per_s;
    ac.burst = cfg->rate_burst;
    ac.clock = clock_ms;
    rc = sdv_auth_create(&ac, &d->auth);
    if (rc != SDV_OK) {
        snprintf(err, err_len, "access control: %s (audience, issuer, vin, token_leeway_s)",
                 sdv_strerror(rc));
        return -1;
    }
    for (size_t i = 0; i < cfg->n_keys; i++) {
        rc = sdv_auth_add_key_file(d->auth, cfg->keys[i].kid, cfg->keys[i].file);
        if (rc != SDV_OK) {
            snprintf(err, err_len, "keys[%zu] %s: %s (an Ed25519 or P-256 public key PEM)", i,
                     cfg->keys[i].file, sdv_strerror(rc));
            return -1;
        }
    }
    if (cfg->purposes != NULL) {
        char why[256];

        rc = sdv_auth_set_purposes(d->auth, cfg->purposes, why, sizeof(why));
        if (rc != SDV_OK) {
            snprintf(err, err_len, "purposes: %s", why);
            return -1;
        }
    }
    if (cfg->audit_log != NULL) {
        char why[256];

        rc = sdv_auth_audit_open(cfg->audit_log, cfg->audit_sync, &d->audit, why, sizeof(why));
        if (rc != SDV_OK) {
            snprintf(err, err_len, "audit_log %s: %s", cfg->audit_log, why);
            return -1;
        }
        sdv_auth_set_audit(d->auth, d->audit);
    }
    memset(&bc, 0, sizeof(bc));
    bc.catalog = d->cat;
    bc.clock = clock_us;
    bc.actuate = on_actuate;
    bc.actuate_result = on_actuate_result;
    bc.actuate_ud = d;
    bc.notify = on_notify;
    bc.notify_ud = d;
    bc.event_check = on_event_check;
    bc.event_check_ud = d;
    bc.actuation_timeout_ms = cfg->actuation_timeout_ms;
    bc.persist_path = cfg->persist_file;
    bc.persist_interval_ms = cfg->persist_interval_ms;
    bc.log = &d->log;
    rc = sdv_broker_create(&bc, &d->b, err, err_len);
    if (rc != SDV_OK) {
        if (rc == SDV_EPARSE && cfg->persist_file != NULL) {
            size_t n = strlen(err);

            snprintf(err + n, err_len - n,
                     " (persistence.file %s is damaged: move it away to start empty)",
                     cfg->persist_file);
        }
        return -1;
    }
    return 0;
}

static int setup_lws(struct brokerd *d, struct brokerd_config *cfg, char *err, size_t err_len)
{
    struct lws_context_creation_info info;

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.user = d;
    d->ctx = lws_create_context(&info);
    if (d->ctx == NULL) {
        snprintf(err, err_len, "libwebsockets: cannot create the context");
        return -1;
    }
    if (cfg->listen_address != NULL) {
        memset(&info, 0, sizeof(info));
        info.vhost_name = "viss";
        info.port = cfg->listen_port;
        info.iface = cfg->listen_address;
        info.protocols = viss_protocols;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
        /* lws enables TLS on a vhost only when this option is also set on the vhost. */
        info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.user = d;
        if (strcmp(cfg->listen_address, "localhost") == 0)
            info.iface = "127.0.0.1";
        d->vh_viss = lws_create_vhost(d->ctx, &info);
        if (d->vh_viss == NULL) {
            snprintf(err, err_len, "listen %s:%d: cannot listen (address in use or not local%s)",
                     cfg->listen_address, cfg->listen_port,
                     cfg->tls_cert != NULL ? ", or bad tls_cert/tls_key" : "");
            return -1;
        }
    }
    if (cfg->socket_path != NULL) {
        struct stat st;

        if (lstat(cfg->socket_path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                snprintf(err, err_len, "socket %s: exists and is not a socket", cfg->socket_path);
                return -1;
            }
            unlink(cfg->socket_path);
        }
        memset(&info, 0, sizeof(info));
        info.vhost_name = "local";
        info.port = 0;
        info.iface = cfg->socket_path;
        info.protocols = local_protocols;
        info.options =
                LWS_SERVER_OPTION_UNIX_SOCK | LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
        info.listen_accept_role = "raw-skt";
        info.listen_accept_protocol = "sdv-broker-local";
        info.user = d;
        d->vh_local = lws_create_vhost(d->ctx, &info);
        if (d->vh_local == NULL) {
            snprintf(err, err_len, "socket %s: cannot listen", cfg->socket_path);
            return -1;
        }
        chmod(cfg->socket_path, 0660);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct brokerd_config cfg;
    struct brokerd d;
    const char *config_path = NULL;
    bool check_only = false;
    char err[1024];
    struct sigaction sa;
    int status = 1;
    enum sdv_err rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (strcmp(argv[i], "--check") == 0)
            check_only = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "sdv-broker: unknown argument \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (config_path == NULL) {
        usage(stderr);
        return 2;
    }
    rc = brokerd_config_load(config_path, &cfg, err, sizeof(err));
    if (rc != SDV_OK)
        return fail(err);

    memset(&d, 0, sizeof(d));
    d.cfg = &cfg;
    d.qos_fd = -1;
    d.busy_epfd = -1;
    d.log.fn = log_stderr;
    d.log.level = (enum sdv_log_level)cfg.log_level;
    sdv_buf_init(&d.scratch, 2u * SDV_BROKER_STRING_LEN_MAX);
    sdv_buf_init(&d.text, 2u * SDV_BROKER_FRAME_PAYLOAD_MAX);
    g_daemon = &d;
    lws_set_log_level(cfg.log_level >= SDV_LOG_DEBUG ? (LLL_ERR | LLL_WARN) : LLL_ERR, NULL);

    if (setup_core(&d, &cfg, err, sizeof(err)) != 0) {
        fail(err);
        goto out;
    }
    if (check_only) {
        printf("sdv-broker: %s: configuration OK (%u signals)\n", config_path,
               (unsigned)sdv_broker_catalog_count(d.cat));
        status = 0;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (setup_lws(&d, &cfg, err, sizeof(err)) != 0) {
        fail(err);
        goto out;
    }
    if (brokerd_busy_init(&d, err, sizeof(err)) != 0) {
        fail(err);
        goto out;
    }
    if (cfg.cpu_latency_us >= 0) {
        d.qos_fd = brokerd_cpu_latency_hold(cfg.cpu_latency_us, err, sizeof(err));
        if (d.qos_fd < 0) {
            fail(err);
            goto out;
        }
    }
    lws_sul_schedule(d.ctx, 0, &d.sul_tick, tick_cb, 1000);
    printf("sdv-broker: ready: %u signals", (unsigned)sdv_broker_catalog_count(d.cat));
    if (d.vh_viss != NULL)
        printf(", %s://%s:%d (VISSv3)", cfg.tls_cert != NULL ? "wss" : "ws", cfg.listen_address,
               lws_get_vhost_listen_port(d.vh_viss));
    if (d.vh_local != NULL)
        printf(", unix:%s", cfg.socket_path);
    printf("\n");
    fflush(stdout);

    while (!d.stop_now) {
        /* busy_poll_us: right after local traffic, wait for more without sleeping. */
        if (cfg.busy_poll_us > 0)
            brokerd_busy_wait(&d);
        if (lws_service(d.ctx, 0) < 0)
            break;
        if (d.stop_requested && !d.shutting_down) {
            d.shutting_down = true;
            sdv_logf(&d.log, SDV_LOG_INFO, "stopping: answering 503 for %u ms",
                     (unsigned)cfg.shutdown_grace_ms);
            lws_sul_schedule(d.ctx, 0, &d.sul_stop, stop_cb,
                             (lws_usec_t)cfg.shutdown_grace_ms * 1000 + 1);
        }
    }
    rc = sdv_broker_persist(d.b);
    if (rc != SDV_OK) {
        fprintf(stderr, "sdv-broker: persist: %s\n", sdv_broker_errmsg(d.b));
    } else {
        status = 0;
    }
    sdv_logf(&d.log, SDV_LOG_INFO, "stopped%s", cfg.persist_file != NULL ? ", values saved" : "");
out:
    if (d.qos_fd >= 0)
        close(d.qos_fd);
    if (d.busy_epfd >= 0)
        close(d.busy_epfd);
    if (d.ctx != NULL)
        lws_context_destroy(d.ctx); /* closes every session (session_fini) */
    d.ctx = NULL;
    g_daemon = NULL;
    if (cfg.socket_path != NULL && d.vh_local != NULL)
        unlink(cfg.socket_path);
    sdv_broker_destroy(d.b);
    sdv_auth_destroy(d.auth);
    sdv_auth_audit_destroy(d.audit);
    sdv_broker_catalog_destroy(d.cat);
    sdv_buf_free(&d.scratch);
    sdv_buf_free(&d.text);
    brokerd_config_free(&cfg);
    return status;
}
