/*
 * brokerd_local.c - the binary frame protocol (docs/broker-protocol.md) on the Unix socket:
 * one session per connection, requests decoded in place from lws's receive buffer, answers and
 * subscription events written straight to the socket.
 *
 * Wire signal ids are the catalog's dense ids plus one: id 0 on the wire means "by path".
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <sdv/crypto.h>

#include "brokerd.h"

static uint16_t auth_wire(enum sdv_auth_status st)
{
    return (uint16_t)sdv_auth_status_http(st);
}

static void send_msg(struct brokerd_session *s, struct sdv_broker_msg *m)
{
    char why[160];

    if (sdv_broker_msg_encode(m, &s->out, why, sizeof(why)) != SDV_OK) {
        sdv_logf(&s->d->log, SDV_LOG_WARN, "local: cannot encode %s: %s",
                 sdv_broker_msg_type_name(m->type), why);
        s->closing = true; /* the client would wait for an answer forever: drop it */
    }
}

static void send_error(struct brokerd_session *s, uint32_t request_id, uint16_t status,
                       uint32_t signal_id, const char *message)
{
    struct sdv_broker_msg m;
    size_t n = strlen(message);

    sdv_broker_msg_init(&m, SDV_BROKER_MSG_ERROR, request_id);
    m.status = status;
    m.signal_id = signal_id;
    m.message.p = message;
    m.message.len = (uint32_t)(n > SDV_BROKER_MESSAGE_LEN_MAX ? SDV_BROKER_MESSAGE_LEN_MAX : n);
    send_msg(s, &m);
}

static void send_ok(struct brokerd_session *s, uint32_t request_id)
{
    struct sdv_broker_msg m;

    sdv_broker_msg_init(&m, SDV_BROKER_MSG_OK, request_id);
    send_msg(s, &m);
}

/* The signal an entry refers to (by wire id or path), or NULL. */
static const struct sdv_broker_signal *resolve(struct brokerd *d, const struct sdv_broker_entry *e)
{
    if (e->id != 0)
        return sdv_broker_catalog_signal(d->cat, e->id - 1);
    return sdv_broker_catalog_find(d->cat, e->path.p, e->path.len);
}

static void send_hello_ok(struct brokerd_session *s, uint32_t request_id)
{
    struct sdv_broker_msg a;

    sdv_broker_msg_init(&a, SDV_BROKER_MSG_HELLO_OK, request_id);
    a.version = SDV_BROKER_PROTO_VERSION;
    a.payload_max = SDV_BROKER_FRAME_PAYLOAD_MAX;
    a.name.p = "sdv-broker";
    a.name.len = 10;
    send_msg(s, &a);
}

/* A renewal (AUTH, or a HELLO on a session that already said hello): the token is verified in
 * full; a good one replaces the session's (brokerd_session_set_token), a refused one leaves the
 * token in force. It costs a take from the current token's bucket (a signature check is the
 * most expensive thing a client can ask for). True when renewed, else the error was sent. */
static bool renew(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    enum sdv_auth_status st;
    char msg[160];

    if (m->token.len == 0) {
        send_error(s, m->request_id, 400, 0, "a renewal needs a token");
        return false;
    }
    if (s->token != NULL && sdv_auth_rate_take(s->d->auth, s->token) != SDV_AUTH_OK) {
        send_error(s, m->request_id, 429, 0, "rate limit of the token in force exceeded");
        return false;
    }
    st = brokerd_session_set_token(s, m->token.p, m->token.len, msg, sizeof(msg));
    if (st != SDV_AUTH_OK) {
        char full[256];

        snprintf(full, sizeof(full), "%s (the previous token stays in force)", msg);
        send_error(s, m->request_id, auth_wire(st), 0, full);
        return false;
    }
    return true;
}

static void on_hello(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    char msg[160];

    if (s->hello) {
        if (renew(s, m))
            send_hello_ok(s, m->request_id);
        return;
    }
    if (m->token.len == 0) {
        send_error(s, m->request_id, 401, 0, "no access token in HELLO");
        return;
    }
    if (brokerd_session_set_token(s, m->token.p, m->token.len, msg, sizeof(msg)) != SDV_AUTH_OK) {
        send_error(s, m->request_id, auth_wire(s->token_status), 0, msg);
        return;
    }
    s->hello = true;
    send_hello_ok(s, m->request_id);
}

static void on_auth(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    if (renew(s, m))
        send_ok(s, m->request_id);
}

/* ---- Renewal from outside the session (SESSION_HANDLE, RENEW) ---------------------------- */

void brokerd_local_fini(struct brokerd_session *s)
{
    if (!s->has_handle)
        return;
    *s->prev_handle = s->next_handle;
    if (s->next_handle != NULL)
        s->next_handle->prev_handle = s->prev_handle;
    s->has_handle = false;
    OPENSSL_cleanse(s->handle, sizeof(s->handle));
}

/* The session's handle, made on the first request: 32 bytes of the CSPRNG, then the same. */
static void on_session_handle(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    struct brokerd *d = s->d;
    struct sdv_broker_msg a;

    if (!s->has_handle) {
        if (sdv_random_bytes(s->handle, sizeof(s->handle)) != SDV_OK) {
            send_error(s, m->request_id, 500, 0, "no random bytes for a session handle");
            return;
        }
        s->has_handle = true;
        s->next_handle = d->handles;
        s->prev_handle = &d->handles;
        if (d->handles != NULL)
            d->handles->prev_handle = &s->next_handle;
        d->handles = s;
    }
    sdv_broker_msg_init(&a, SDV_BROKER_MSG_SESSION_HANDLE_OK, m->request_id);
    memcpy(a.handle, s->handle, sizeof(a.handle));
    send_msg(s, &a);
}

/* A refused RENEW in the audit log (action "renew"); verification refusals are audited by
 * sdv_auth_verify itself. Within the same per-second budget as the other denials. */
static void audit_renew(struct brokerd *d, const struct sdv_auth_token *t, enum sdv_auth_status st,
                        const char *reason)
{
    struct sdv_auth_audit_record rec = {0};
    int64_t now_ms = brokerd_now_us() / 1000;

    if (d->audit == NULL)
        return;
    if (now_ms / 1000 != d->renew_audit_sec) {
        d->renew_audit_sec = now_ms / 1000;
        d->renew_audit_n = 0;
    }
    if (d->renew_audit_n >= SDV_AUTH_AUDIT_DENIALS_PER_S) {
        d->renew_audit_suppressed++;
        return;
    }
    d->renew_audit_n++;
    rec.suppressed = d->renew_audit_suppressed;
    d->renew_audit_suppressed = 0;
    rec.time_ms = now_ms;
    rec.subject = t != NULL ? sdv_auth_token_subject(t) : "";
    rec.client = t != NULL ? sdv_auth_token_client(t) : "";
    rec.action = "renew";
    rec.path = "";
    rec.status = st;
    rec.reason = reason;
    if (sdv_auth_audit_write(d->audit, &rec) != SDV_OK)
        sdv_logf(&d->log, SDV_LOG_WARN, "audit log: cannot write a refused renewal");
}

/*
 * RENEW, on any connection: the session named by the handle gets the token, as after AUTH, if
 * the token verifies and names the same subject (sub and client_id) as the session's token.
 * The handle is looked up before anything is verified (a guessed handle costs a list scan, not
 * a signature check); the renewal costs one take from the renewed session's current token.
 */
static void on_renew(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    struct brokerd *d = s->d;
    struct brokerd_session *t = NULL;
    struct sdv_auth_token *nt = NULL;
    enum sdv_auth_status st;
    char why[160], full[256];

    for (struct brokerd_session *p = d->handles; p != NULL; p = p->next_handle)
        if (CRYPTO_memcmp(p->handle, m->handle, sizeof(p->handle)) == 0 && t == NULL)
            t = p;
    if (t == NULL || t->closing || t->token == NULL) {
        audit_renew(d, NULL, SDV_AUTH_INVALID_TOKEN, "RENEW: no session with this handle");
        send_error(s, m->request_id, 404, 0, "no session with this handle (it has closed?)");
        return;
    }
    if (sdv_auth_rate_take(d->auth, t->token) != SDV_AUTH_OK) {
        audit_renew(d, t->token, SDV_AUTH_TOO_MANY_REQUESTS, "RENEW: rate limit");
        send_error(s, m->request_id, 429, 0, "rate limit of the session's token exceeded");
        return;
    }
    st = sdv_auth_verify(d->auth, m->token.p, m->token.len, &nt, why, sizeof(why));
    if (st != SDV_AUTH_OK) {
        snprintf(full, sizeof(full), "%s (the session's token stays in force)", why);
        send_error(s, m->request_id, auth_wire(st), 0, full);
        return;
    }
    if (strcmp(sdv_auth_token_subject(nt), sdv_auth_token_subject(t->token)) != 0 ||
        strcmp(sdv_auth_token_client(nt), sdv_auth_token_client(t->token)) != 0) {
        snprintf(full, sizeof(full),
                 "the token's subject \"%.60s\" (client \"%.40s\") is not the session's: a "
                 "renewal cannot change identity",
                 sdv_auth_token_subject(nt), sdv_auth_token_client(nt));
        audit_renew(d, nt, SDV_AUTH_FORBIDDEN, "RENEW: another subject than the session's");
        sdv_auth_token_destroy(nt);
        send_error(s, m->request_id, 403, 0, full);
        return;
    }
    brokerd_session_install_token(t, nt, m->token.p, m->token.len);
    brokerd_session_wake(t);
    sdv_logf(&d->log, SDV_LOG_INFO, "session of %s renewed by handle", sdv_auth_token_subject(nt));
    send_ok(s, m->request_id);
}

void brokerd_local_sub_ended(struct brokerd_session *s, uint32_t sub_id, uint16_t status,
                             const char *message)
{
    struct sdv_broker_msg m;
    size_t n = strlen(message);

    sdv_broker_msg_init(&m, SDV_BROKER_MSG_SUB_ENDED, 0);
    m.sub_id = sub_id;
    m.status = status;
    m.message.p = message;
    m.message.len = (uint32_t)(n > SDV_BROKER_MESSAGE_LEN_MAX ? SDV_BROKER_MESSAGE_LEN_MAX : n);
    send_msg(s, &m);
    brokerd_session_wake(s);
}

/* LOOKUP and CLAIM: per path, id, datatype, kind and status. */
static void on_lookup(struct brokerd_session *s, const struct sdv_broker_msg *m, bool claim)
{
    struct brokerd *d = s->d;
    struct sdv_broker_entry *out = d->entries;
    struct sdv_broker_msg a;
    char msg[256];
    uint32_t n_ok = 0;

    /* m->entries is d->entries too: answer entries are written in place, index by index. */
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct sdv_broker_signal *sig = resolve(d, &m->entries[i]);
        enum sdv_auth_status st;

        memset(&out[i], 0, sizeof(out[i]));
        if (sig == NULL) {
            out[i].status = 404;
            continue;
        }
        st = brokerd_access(s, sig, claim ? SDV_AUTH_PROVIDE : SDV_AUTH_READ, msg, sizeof(msg));
        if (st == SDV_AUTH_TOO_MANY_REQUESTS || st == SDV_AUTH_UNAVAILABLE ||
            st == SDV_AUTH_EXPIRED_TOKEN || st == SDV_AUTH_INVALID_TOKEN ||
            st == SDV_AUTH_MISSING_TOKEN) {
            send_error(s, m->request_id, auth_wire(st), sig->id + 1, msg);
            return;
        }
        if (st != SDV_AUTH_OK) {
            out[i].status = auth_wire(st); /* a refused entry carries no id or type */
            continue;
        }
        out[i].id = sig->id + 1;
        out[i].datatype = (uint8_t)sig->datatype;
        out[i].entry_type = (uint8_t)sig->kind;
        d->ids[n_ok++] = sig->id;
    }
    if (claim && n_ok == m->n_entries && n_ok > 0) {
        enum sdv_err rc = sdv_broker_claim(d->b, s, d->ids, n_ok);

        if (rc != SDV_OK) {
            send_error(s, m->request_id, sdv_broker_status_from_err(rc), 0,
                       sdv_broker_errmsg(d->b));
            return;
        }
    }
    sdv_broker_msg_init(&a, SDV_BROKER_MSG_LOOKUP_RESULT, m->request_id);
    a.entries = out;
    a.n_entries = m->n_entries;
    send_msg(s, &a);
}

static void on_get(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    struct brokerd *d = s->d;
    struct sdv_broker_batch bt;
    char msg[256];

    /* Check everything before the answer is started, so a refusal is a clean ERROR. */
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct sdv_broker_signal *sig = resolve(d, &m->entries[i]);
        enum sdv_auth_status st;

        d->ids[i] = UINT32_MAX;
        if (sig == NULL)
            continue;
        st = brokerd_access(s, sig, SDV_AUTH_READ, msg, sizeof(msg));
        if (st != SDV_AUTH_OK && st != SDV_AUTH_FORBIDDEN) {
            send_error(s, m->request_id, auth_wire(st), sig->id + 1, msg);
            return;
        }
        d->ids[i] = st == SDV_AUTH_OK ? sig->id : UINT32_MAX - 1;
    }
    if (sdv_broker_batch_begin(&bt, &s->out, SDV_BROKER_MSG_GET_RESULT, m->request_id, 0) !=
        SDV_OK) {
        s->closing = true;
        return;
    }
    for (uint32_t i = 0; i < m->n_entries; i++) {
        struct sdv_broker_value v = {.type = SDV_BROKER_DT_NONE};
        int64_t ts = 0;
        uint32_t wire_id = m->entries[i].id;
        uint16_t status = 0;
        enum sdv_err rc;

        if (d->ids[i] == UINT32_MAX)
            status = 404;
        else if (d->ids[i] == UINT32_MAX - 1)
            status = 403;
        else {
            wire_id = d->ids[i] + 1;
            sdv_broker_get(d->b, d->ids[i], &v, &ts);
        }
        rc = sdv_broker_batch_add(&bt, wire_id == 0 ? 1 : wire_id, status, ts, &v);
        if (rc != SDV_OK) {
            sdv_broker_batch_end(&bt);
            s->out.len = bt.start; /* drop the partial answer */
            send_error(s, m->request_id, 500, wire_id, "answer too large: ask for fewer signals");
            return;
        }
    }
    sdv_broker_batch_end(&bt);
}

static void on_set(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    struct brokerd *d = s->d;
    const struct sdv_broker_signal *sig;
    struct brokerd_pending *p;
    enum sdv_auth_status st;
    enum sdv_err rc;
    uint64_t aid = 0;
    char msg[256];

    if (m->n_entries != 1) {
        send_error(s, m->request_id, 400, 0, "SET takes exactly one signal");
        return;
    }
    sig = resolve(d, &m->entries[0]);
    if (sig == NULL) {
        send_error(s, m->request_id, 404, m->entries[0].id, "unknown signal");
        return;
    }
    st = brokerd_access(s, sig, SDV_AUTH_ACTUATE, msg, sizeof(msg));
    if (st != SDV_AUTH_OK) {
        send_error(s, m->request_id, auth_wire(st), sig->id + 1, msg);
        return;
    }
    p = brokerd_pending_slot(s);
    if (p == NULL) {
        send_error(s, m->request_id, 503, sig->id + 1, "too many actuations in flight");
        return;
    }
    rc = sdv_broker_actuate(d->b, s, sig->id, &m->entries[0].value, &aid);
    if (rc != SDV_OK) {
        send_error(s, m->request_id, sdv_broker_status_from_err(rc), sig->id + 1,
                   sdv_broker_errmsg(d->b));
        return;
    }
    p->actuation_id = aid;
    p->wire_request_id = m->request_id;
    brokerd_tick_soon(d); /* the actuation's timeout is a new deadline */
}

void brokerd_local_actuate_result(struct brokerd_session *s, struct brokerd_pending *p,
                                  enum sdv_err result, const char *message)
{
    if (result == SDV_OK)
        send_ok(s, p->wire_request_id);
    else
        send_error(s, p->wire_request_id, sdv_broker_status_from_err(result), 0,
                   message != NULL && message[0] != '\0' ? message : sdv_strerror(result));
    brokerd_session_wake(s);
}

enum sdv_err brokerd_local_send_actuate(struct brokerd_session *s,
                                        const struct sdv_broker_actuation *req)
{
    struct sdv_broker_msg m;
    struct sdv_broker_entry e;
    char why[160];
    enum sdv_err rc;

    if (s->out.len - s->out_off > BROKERD_OUT_MAX / 2)
        return SDV_EUNAVAILABLE; /* the provider does not read: do not queue more */
    memset(&e, 0, sizeof(e));
    e.id = req->signal->id + 1;
    e.value = req->value;
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_ACTUATE, 0);
    m.actuation_id = req->id;
    m.entries = &e;
    m.n_entries = 1;
    rc = sdv_broker_msg_encode(&m, &s->out, why, sizeof(why));
    if (rc != SDV_OK)
        return SDV_EUNAVAILABLE;
    brokerd_session_wake(s);
    return SDV_OK;
}

static void on_actuate_reply(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    char msg[SDV_BROKER_MESSAGE_LEN_MAX + 1];
    enum sdv_err rc;

    snprintf(msg, sizeof(msg), "%.*s", (int)m->message.len, m->message.p);
    rc = sdv_broker_actuation_done(s->d->b, s, m->actuation_id,
                                   m->status == 0 ? SDV_OK : SDV_EREJECTED, msg);
    if (rc != SDV_OK)
        sdv_logf(&s->d->log, SDV_LOG_INFO, "local: reply to unknown actuation %llu (timed out?)",
                 (unsigned long long)m->actuation_id);
}

static void on_publish(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    struct brokerd *d = s->d;
    char msg[256];

    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct sdv_broker_signal *sig = resolve(d, &m->entries[i]);
        enum sdv_auth_status st;
        enum sdv_err rc;

        if (sig == NULL) {
            send_error(s, m->request_id, 404, m->entries[i].id, "unknown signal");
            continue;
        }
        /* A provider's stream is not rate-limited (only requests are): its cost is bounded by
         * the fan-out, and dropping sensor data would hurt every subscriber. Denials are still
         * audited (the frame is not charged: brokerd_access audits them with
         * sdv_auth_request_more, which takes nothing). */
        st = brokerd_access(s, sig, SDV_AUTH_PROVIDE, msg, sizeof(msg));
        if (st != SDV_AUTH_OK) {
            send_error(s, m->request_id, auth_wire(st), sig->id + 1, msg);
            if (st != SDV_AUTH_FORBIDDEN)
                return; /* rate limit, token expired: the rest of the frame is dropped */
            continue;
        }
        rc = sdv_broker_publish(d->b, s, sig->id, &m->entries[i].value, m->entries[i].ts_us);
        if (rc != SDV_OK)
            send_error(s, m->request_id, sdv_broker_status_from_err(rc), sig->id + 1,
                       sdv_broker_errmsg(d->b));
    }
}

static void on_subscribe(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    struct brokerd *d = s->d;
    struct sdv_broker_msg a;
    char msg[256];
    uint32_t sub_id = 0;
    enum sdv_err rc;

    if (m->n_entries == 0) {
        send_error(s, m->request_id, 400, 0, "SUBSCRIBE names no signal");
        return;
    }
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct sdv_broker_signal *sig = resolve(d, &m->entries[i]);
        enum sdv_auth_status st;

        if (sig == NULL) {
            send_error(s, m->request_id, 404, m->entries[i].id, "unknown signal");
            return;
        }
        st = brokerd_access(s, sig, SDV_AUTH_READ, msg, sizeof(msg));
        if (st != SDV_AUTH_OK) {
            send_error(s, m->request_id, auth_wire(st), sig->id + 1, msg);
            return;
        }
        d->ids[i] = sig->id;
    }
    if (s->n_subs >= SDV_BROKER_CLIENT_SUBS_MAX) {
        send_error(s, m->request_id, 429, 0, "too many subscriptions on this connection");
        return;
    }
    rc = sdv_broker_subscribe(d->b, s, d->ids, m->n_entries, &m->filter, d->cfg->queue_len, 0,
                              &sub_id);
    if (rc != SDV_OK) {
        send_error(s, m->request_id, sdv_broker_status_from_err(rc), 0, sdv_broker_errmsg(d->b));
        return;
    }
    if (!brokerd_session_add_sub(s, sub_id, d->ids, m->n_entries)) {
        (void)sdv_broker_unsubscribe(d->b, s, sub_id);
        send_error(s, m->request_id, 500, 0, "out of memory");
        return;
    }
    for (uint32_t i = 0; i < m->n_entries; i++) {
        memset(&d->entries[i], 0, sizeof(d->entries[i]));
        d->entries[i].id = d->ids[i] + 1;
    }
    sdv_broker_msg_init(&a, SDV_BROKER_MSG_SUBSCRIBED, m->request_id);
    a.sub_id = sub_id;
    a.entries = d->entries;
    a.n_entries = m->n_entries;
    send_msg(s, &a);
    brokerd_session_wake(s); /* the current values are queued already */
    if (m->filter.period_ms > 0)
        brokerd_tick_soon(d);
}

static void on_unsubscribe(struct brokerd_session *s, const struct sdv_broker_msg *m)
{
    if (sdv_broker_unsubscribe(s->d->b, s, m->sub_id) != SDV_OK) {
        send_error(s, m->request_id, 404, 0, "no such subscription");
        return;
    }
    brokerd_session_del_sub(s, m->sub_id);
    send_ok(s, m->request_id);
}

static void handle(struct brokerd_session *s, const struct sdv_broker_frame *f)
{
    struct brokerd *d = s->d;
    struct sdv_broker_msg m;
    char why[256];
    enum sdv_err rc;

    rc = sdv_broker_msg_parse(f, &m, d->entries, SDV_BROKER_BATCH_MAX, why, sizeof(why));
    if (rc != SDV_OK) {
        send_error(s, f->request_id, 400, 0, why);
        return;
    }
    if (m.type == SDV_BROKER_MSG_HELLO) {
        on_hello(s, &m);
        return;
    }
    if (m.type == SDV_BROKER_MSG_RENEW) { /* any connection, greeted or not */
        if (d->shutting_down)
            send_error(s, m.request_id, 503, 0, "the broker is shutting down");
        else
            on_renew(s, &m);
        return;
    }
    if (!s->hello) {
        send_error(s, m.request_id, 401, 0, s->token_msg[0] ? s->token_msg : "HELLO first");
        return;
    }
    if (d->shutting_down && m.type != SDV_BROKER_MSG_ACTUATE_REPLY &&
        m.type != SDV_BROKER_MSG_UNSUBSCRIBE) {
        send_error(s, m.request_id, 503, 0, "the broker is shutting down");
        return;
    }
    /* One take per request; a provider's stream, its answers and unsubscribing are free (AUTH
     * charges itself before it verifies). */
    brokerd_request_begin(
            s, m.type != SDV_BROKER_MSG_PUBLISH && m.type != SDV_BROKER_MSG_ACTUATE_REPLY &&
                       m.type != SDV_BROKER_MSG_UNSUBSCRIBE && m.type != SDV_BROKER_MSG_AUTH);
    switch (m.type) {
    case SDV_BROKER_MSG_AUTH:
        on_auth(s, &m);
        break;
    case SDV_BROKER_MSG_SESSION_HANDLE:
        on_session_handle(s, &m);
        break;
    case SDV_BROKER_MSG_LOOKUP:
        on_lookup(s, &m, false);
        break;
    case SDV_BROKER_MSG_CLAIM:
        on_lookup(s, &m, true);
        break;
    case SDV_BROKER_MSG_GET:
        on_get(s, &m);
        break;
    case SDV_BROKER_MSG_SET:
        on_set(s, &m);
        break;
    case SDV_BROKER_MSG_PUBLISH:
        on_publish(s, &m);
        break;
    case SDV_BROKER_MSG_ACTUATE_REPLY:
        on_actuate_reply(s, &m);
        break;
    case SDV_BROKER_MSG_SUBSCRIBE:
        on_subscribe(s, &m);
        break;
    case SDV_BROKER_MSG_UNSUBSCRIBE:
        on_unsubscribe(s, &m);
        break;
    default:
        snprintf(why, sizeof(why), "%s is not a request", sdv_broker_msg_type_name(m.type));
        send_error(s, m.request_id, 400, 0, why);
        break;
    }
    brokerd_request_end(s);
}

int brokerd_local_rx(struct brokerd_session *s, const uint8_t *p, size_t len)
{
    while (len > 0) {
        struct sdv_broker_frame f;
        size_t used = 0;
        bool complete = false;
        enum sdv_err rc;

        rc = sdv_broker_decoder_feed(s->dec, p, len, &used, &f, &complete);
        if (rc != SDV_OK) {
            sdv_logf(&s->d->log, SDV_LOG_WARN, "local: protocol error, closing: %s",
                     sdv_broker_decoder_errmsg(s->dec));
            return -1;
        }
        if (complete)
            handle(s, &f);
        if (s->closing)
            return -1;
        p += used;
        len -= used;
    }
    return 0;
}

/* Appends queued subscription events as EVENT frames (and VALUES_LOST notices) while the
 * output is small. Returns true if anything was appended. */
static bool drain_events(struct brokerd_session *s)
{
    struct brokerd *d = s->d;
    bool added = false;

    for (uint32_t k = 0; k < s->n_subs && s->out.len - s->out_off < BROKERD_OUT_LOW_WATER; k++) {
        uint32_t sub = s->subs[k];
        struct sdv_broker_batch bt;
        bool open = false;

        for (uint32_t n = 0; n < BROKERD_EVENTS_PER_PASS; n++) {
            struct sdv_broker_event ev;
            bool got = false;

            if (sdv_broker_sub_pop(d->b, s, sub, &ev, &got) != SDV_OK)
                break;
            if (ev.lost > 0) {
                struct sdv_broker_msg lm;

                if (open) {
                    sdv_broker_batch_end(&bt);
                    open = false;
                }
                sdv_broker_msg_init(&lm, SDV_BROKER_MSG_VALUES_LOST, 0);
                lm.sub_id = sub;
                lm.lost = ev.lost > UINT32_MAX ? UINT32_MAX : (uint32_t)ev.lost;
                send_msg(s, &lm);
                added = true;
            }
            if (!got)
                break;
            if (!open) {
                if (sdv_broker_batch_begin(&bt, &s->out, SDV_BROKER_MSG_EVENT, 0, sub) != SDV_OK)
                    return added;
                open = true;
            }
            if (sdv_broker_batch_add(&bt, ev.signal->id + 1, 0, ev.ts_us, &ev.value) ==
                SDV_ETOOBIG) {
                sdv_broker_batch_end(&bt);
                if (sdv_broker_batch_begin(&bt, &s->out, SDV_BROKER_MSG_EVENT, 0, sub) != SDV_OK ||
                    sdv_broker_batch_add(&bt, ev.signal->id + 1, 0, ev.ts_us, &ev.value) != SDV_OK)
                    return true;
            }
            added = true;
        }
        if (open)
            sdv_broker_batch_end(&bt);
    }
    return added;
}

int brokerd_local_flush(struct brokerd_session *s)
{
    int fd = lws_get_socket_fd(s->wsi);

    if (s->kind != BROKERD_LOCAL)
        return 0;
    for (int rounds = 0; rounds < 64; rounds++) {
        while (s->out_off < s->out.len) {
            ssize_t n = send(fd, s->out.data + s->out_off, s->out.len - s->out_off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);

            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                lws_callback_on_writable(s->wsi);
                return 0;
            }
            if (n <= 0)
                return -1;
            s->out_off += (size_t)n;
        }
        sdv_buf_reset(&s->out);
        s->out_off = 0;
        if (s->closing)
            return -1;
        if (!drain_events(s))
            return 0;
    }
    lws_callback_on_writable(s->wsi); /* more later: let the other sessions run first */
    return 0;
}
