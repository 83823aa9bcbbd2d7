/*
 * brokerd_viss.c - VISS v3 requests over WebSocket (subprotocol "VISSv3") and HTTP (GET for
 * get, POST for set): path resolution, access checks, the core's operations, answers and
 * subscription notifications.
 *
 * A set on an actuator asks its provider (the answer waits for the provider's verdict); a set on
 * a sensor or attribute publishes it and needs a provide: grant. Notifications carry a
 * non-standard member "lost": N when the subscriber read too slowly and N older values were
 * dropped since the previous notification (docs/broker-daemon.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brokerd.h"

static enum sdv_broker_viss_error viss_of_auth(enum sdv_auth_status st)
{
    switch (st) {
    case SDV_AUTH_MISSING_TOKEN:
        return SDV_BROKER_VISS_MISSING_TOKEN;
    case SDV_AUTH_INVALID_TOKEN:
        return SDV_BROKER_VISS_INVALID_TOKEN;
    case SDV_AUTH_EXPIRED_TOKEN:
        return SDV_BROKER_VISS_EXPIRED_TOKEN;
    case SDV_AUTH_FORBIDDEN:
        return SDV_BROKER_VISS_FORBIDDEN;
    case SDV_AUTH_TOO_MANY_REQUESTS:
        return SDV_BROKER_VISS_TOO_MANY_REQUESTS;
    default:
        return SDV_BROKER_VISS_SERVICE_UNAVAILABLE;
    }
}

static enum sdv_broker_viss_error viss_of_err(enum sdv_err rc)
{
    switch (rc) {
    case SDV_EINVAL:
    case SDV_EPARSE:
    case SDV_ERANGE:
        return SDV_BROKER_VISS_BAD_REQUEST;
    case SDV_ENOENT:
        return SDV_BROKER_VISS_UNAVAILABLE_DATA;
    case SDV_EDENIED:
    case SDV_EREJECTED:
    case SDV_EEXIST:
        return SDV_BROKER_VISS_FORBIDDEN;
    case SDV_EUNAVAILABLE:
        return SDV_BROKER_VISS_SERVICE_UNAVAILABLE;
    case SDV_ELIMIT:
        return SDV_BROKER_VISS_TOO_MANY_REQUESTS;
    default:
        return SDV_BROKER_VISS_INTERNAL;
    }
}

enum sdv_err brokerd_viss_emit(struct brokerd_session *s, const struct sdv_buf *text,
                               int http_status)
{
    enum sdv_err rc;

    if (s->kind == BROKERD_HTTP) {
        sdv_buf_reset(&s->http_answer);
        rc = sdv_buf_append(&s->http_answer, text->data, text->len);
        if (rc != SDV_OK)
            return rc;
        s->http_status = http_status;
        s->http_ready = true;
        s->http_waiting = false;
        lws_callback_on_writable(s->wsi);
        return SDV_OK;
    }
    if (s->kind != BROKERD_WS)
        return SDV_EINVAL;
    {
        uint32_t n = (uint32_t)text->len;
        uint8_t pre[LWS_PRE];

        memset(pre, 0, sizeof(pre));
        if (s->out.len + 4 + LWS_PRE + n > s->out.max)
            return SDV_ETOOBIG;
        if ((rc = sdv_buf_append(&s->out, &n, 4)) != SDV_OK ||
            (rc = sdv_buf_append(&s->out, pre, LWS_PRE)) != SDV_OK ||
            (rc = sdv_buf_append(&s->out, text->data, n)) != SDV_OK)
            return rc;
    }
    lws_callback_on_writable(s->wsi);
    return SDV_OK;
}

void brokerd_viss_error(struct brokerd_session *s, enum sdv_broker_viss_action action,
                        const char *request_id, enum sdv_broker_viss_error e, const char *msg)
{
    struct brokerd *d = s->d;

    sdv_buf_reset(&d->text);
    if (sdv_broker_viss_write_error(action, request_id, NULL, e, msg, brokerd_now_us(), &d->text) !=
        SDV_OK)
        return;
    if (brokerd_viss_emit(s, &d->text, (int)sdv_broker_viss_error_number(e)) != SDV_OK)
        sdv_logf(&d->log, SDV_LOG_WARN, "viss: output full, answer dropped");
}

/* Expands the request's path (and its "paths" filter) into d->ids. */
static enum sdv_err resolve_ids(struct brokerd *d, const struct sdv_broker_viss_request *r,
                                size_t *n, char *msg, size_t msg_len)
{
    enum sdv_err rc;

    *n = 0;
    if (r->n_paths == 0) {
        rc = sdv_broker_catalog_match(d->cat, r->path, strlen(r->path), d->ids,
                                      SDV_BROKER_BATCH_MAX, n);
    } else {
        rc = SDV_OK;
        for (uint32_t i = 0; i < r->n_paths && rc == SDV_OK; i++) {
            char full[2 * SDV_BROKER_PATH_LEN_MAX + 2];
            size_t got = 0;
            int len = snprintf(full, sizeof(full), "%s.%s", r->path, r->paths[i]);

            if (len < 0 || (size_t)len >= sizeof(full)) {
                rc = SDV_EINVAL;
                break;
            }
            rc = sdv_broker_catalog_match(d->cat, full, (size_t)len, d->ids + *n,
                                          SDV_BROKER_BATCH_MAX - *n, &got);
            *n += got;
        }
    }
    if (rc == SDV_ENOENT)
        snprintf(msg, msg_len, "%s: no such signal or branch", r->path);
    else if (rc == SDV_ETOOBIG)
        snprintf(msg, msg_len, "%s: more than %u signals; ask for a narrower branch", r->path,
                 (unsigned)SDV_BROKER_BATCH_MAX);
    else if (rc != SDV_OK)
        snprintf(msg, msg_len, "%s: bad path", r->path);
    return rc;
}

/* Access to every id for action; false after answering the error. */
static bool check_all(struct brokerd_session *s, const struct sdv_broker_viss_request *r, size_t n,
                      enum sdv_auth_action action)
{
    struct brokerd *d = s->d;
    char msg[256];

    for (size_t i = 0; i < n; i++) {
        const struct sdv_broker_signal *sig = sdv_broker_catalog_signal(d->cat, d->ids[i]);
        enum sdv_auth_status st = brokerd_access(s, sig, action, msg, sizeof(msg));

        if (st != SDV_AUTH_OK) {
            brokerd_viss_error(s, r->action, r->request_id, viss_of_auth(st), msg);
            return false;
        }
    }
    return true;
}

static void do_get(struct brokerd_session *s, const struct sdv_broker_viss_request *r)
{
    struct brokerd *d = s->d;
    struct sdv_broker_viss_dp *dp;
    json_t **vals;
    size_t n = 0, k = 0;
    char msg[256];
    enum sdv_err rc;

    rc = resolve_ids(d, r, &n, msg, sizeof(msg));
    if (rc != SDV_OK) {
        brokerd_viss_error(s, r->action, r->request_id,
                           viss_of_err(rc == SDV_EINVAL ? SDV_EINVAL : rc), msg);
        return;
    }
    if (!check_all(s, r, n, SDV_AUTH_READ))
        return;
    dp = calloc(n, sizeof(*dp));
    vals = calloc(n, sizeof(*vals));
    if (dp == NULL || vals == NULL) {
        free(dp);
        free(vals);
        brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_INTERNAL, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct sdv_broker_value v;
        int64_t ts = 0;

        if (sdv_broker_get(d->b, d->ids[i], &v, &ts) != SDV_OK || v.type == SDV_BROKER_DT_NONE)
            continue;
        if (sdv_broker_value_to_json(&v, SDV_BROKER_JSON_STRINGS, &vals[k]) != SDV_OK)
            continue;
        dp[k].path = sdv_broker_catalog_signal(d->cat, d->ids[i])->path;
        dp[k].value = vals[k];
        dp[k].ts_us = ts;
        k++;
    }
    if (k == 0) {
        snprintf(msg, sizeof(msg), "%s: no value yet (no provider has published it)", r->path);
        brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_UNAVAILABLE_DATA, msg);
    } else {
        sdv_buf_reset(&d->text);
        rc = sdv_broker_viss_write_get(r->request_id, dp, k, brokerd_now_us(), &d->text);
        if (rc == SDV_OK)
            rc = brokerd_viss_emit(s, &d->text, 200);
        if (rc != SDV_OK)
            brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_INTERNAL,
                               "answer too large");
    }
    for (size_t i = 0; i < k; i++)
        json_decref(vals[i]);
    free(vals);
    free(dp);
}

static void do_set(struct brokerd_session *s, const struct sdv_broker_viss_request *r)
{
    struct brokerd *d = s->d;
    const struct sdv_broker_signal *sig;
    struct sdv_broker_value v;
    enum sdv_auth_status st;
    enum sdv_err rc;
    char msg[512];

    sig = sdv_broker_catalog_find(d->cat, r->path, strlen(r->path));
    if (sig == NULL) {
        snprintf(msg, sizeof(msg), "%s: no such signal (set takes one leaf)", r->path);
        brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_UNAVAILABLE_DATA, msg);
        return;
    }
    st = brokerd_access(s, sig,
                        sig->kind == SDV_BROKER_KIND_ACTUATOR ? SDV_AUTH_ACTUATE : SDV_AUTH_PROVIDE,
                        msg, sizeof(msg));
    if (st != SDV_AUTH_OK) {
        brokerd_viss_error(s, r->action, r->request_id, viss_of_auth(st), msg);
        return;
    }
    rc = sdv_broker_value_from_json(sig->datatype, r->value, &d->scratch, &v, msg, sizeof(msg));
    if (rc != SDV_OK) {
        char full[640];

        snprintf(full, sizeof(full), "%s: %s", sig->path, msg);
        brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_BAD_REQUEST, full);
        return;
    }
    if (sig->kind == SDV_BROKER_KIND_ACTUATOR) {
        struct brokerd_pending *p = brokerd_pending_slot(s);
        uint64_t aid = 0;

        if (p == NULL) {
            brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_SERVICE_UNAVAILABLE,
                               "too many actuations in flight on this connection");
            return;
        }
        rc = sdv_broker_actuate(d->b, s, sig->id, &v, &aid);
        if (rc != SDV_OK) {
            brokerd_viss_error(s, r->action, r->request_id, viss_of_err(rc),
                               sdv_broker_errmsg(d->b));
            return;
        }
        p->actuation_id = aid;
        p->has_viss_id = r->request_id != NULL;
        snprintf(p->viss_request_id, sizeof(p->viss_request_id), "%s",
                 r->request_id != NULL ? r->request_id : "");
        if (s->kind == BROKERD_HTTP)
            s->http_waiting = true;
        brokerd_tick_soon(d);
        return;
    }
    rc = sdv_broker_publish(d->b, s, sig->id, &v, 0);
    if (rc != SDV_OK) {
        brokerd_viss_error(s, r->action, r->request_id, viss_of_err(rc), sdv_broker_errmsg(d->b));
        return;
    }
    sdv_buf_reset(&d->text);
    if (sdv_broker_viss_write_set(r->request_id, brokerd_now_us(), &d->text) == SDV_OK)
        brokerd_viss_emit(s, &d->text, 200);
}

void brokerd_viss_actuate_result(struct brokerd_session *s, struct brokerd_pending *p,
                                 enum sdv_err result, const char *message)
{
    struct brokerd *d = s->d;
    const char *rid = p->has_viss_id ? p->viss_request_id : NULL;

    if (result == SDV_OK) {
        sdv_buf_reset(&d->text);
        if (sdv_broker_viss_write_set(rid, brokerd_now_us(), &d->text) == SDV_OK)
            brokerd_viss_emit(s, &d->text, 200);
        return;
    }
    brokerd_viss_error(s, SDV_BROKER_VISS_SET, rid, viss_of_err(result),
                       message != NULL && message[0] != '\0' ? message : sdv_strerror(result));
}

static void do_subscribe(struct brokerd_session *s, const struct sdv_broker_viss_request *r)
{
    struct brokerd *d = s->d;
    size_t n = 0;
    uint32_t sub_id = 0;
    char msg[256], sid[16];
    enum sdv_err rc;

    if (s->kind != BROKERD_WS) {
        brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_BAD_REQUEST,
                           "subscribe needs a WebSocket");
        return;
    }
    rc = resolve_ids(d, r, &n, msg, sizeof(msg));
    if (rc != SDV_OK) {
        brokerd_viss_error(s, r->action, r->request_id, viss_of_err(rc), msg);
        return;
    }
    if (!check_all(s, r, n, SDV_AUTH_READ))
        return;
    if (s->n_subs >= SDV_BROKER_CLIENT_SUBS_MAX) {
        brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_TOO_MANY_REQUESTS,
                           "too many subscriptions on this connection");
        return;
    }
    rc = sdv_broker_subscribe(d->b, s, d->ids, n, r->has_filter ? &r->filter : NULL,
                              d->cfg->queue_len, 0, &sub_id);
    if (rc != SDV_OK) {
        brokerd_viss_error(s, r->action, r->request_id, viss_of_err(rc), sdv_broker_errmsg(d->b));
        return;
    }
    if (!brokerd_session_add_sub(s, sub_id, d->ids, (uint32_t)n)) {
        (void)sdv_broker_unsubscribe(d->b, s, sub_id);
        brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_INTERNAL, "out of memory");
        return;
    }
    snprintf(sid, sizeof(sid), "%u", (unsigned)sub_id);
    sdv_buf_reset(&d->text);
    if (sdv_broker_viss_write_subscribe(r->request_id, sid, brokerd_now_us(), &d->text) == SDV_OK)
        brokerd_viss_emit(s, &d->text, 200);
    if (r->has_filter && r->filter.period_ms > 0)
        brokerd_tick_soon(d);
}

static void do_unsubscribe(struct brokerd_session *s, const struct sdv_broker_viss_request *r)
{
    struct brokerd *d = s->d;
    unsigned long id;
    char *end = NULL;

    id = strtoul(r->subscription_id, &end, 10);
    if (end == r->subscription_id || *end != '\0' || id == 0 || id > UINT32_MAX ||
        sdv_broker_unsubscribe(d->b, s, (uint32_t)id) != SDV_OK) {
        brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_UNAVAILABLE_DATA,
                           "no such subscription on this connection");
        return;
    }
    brokerd_session_del_sub(s, (uint32_t)id);
    sdv_buf_reset(&d->text);
    if (sdv_broker_viss_write_unsubscribe(r->request_id, r->subscription_id, brokerd_now_us(),
                                          &d->text) == SDV_OK)
        brokerd_viss_emit(s, &d->text, 200);
}

void brokerd_viss_handle(struct brokerd_session *s, struct sdv_broker_viss_request *r)
{
    struct brokerd *d = s->d;

    if (d->shutting_down) {
        brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_SERVICE_UNAVAILABLE,
                           "the broker is shutting down");
        return;
    }
    /* A token in the request is the session's from now on when it is good (it renews the one
     * the subscriptions run under); a refused one fails this request and changes nothing. */
    if (r->authorization != NULL) {
        char msg[160];
        enum sdv_auth_status st = brokerd_session_set_token(
                s, r->authorization, strlen(r->authorization), msg, sizeof(msg));

        if (st != SDV_AUTH_OK) {
            brokerd_viss_error(s, r->action, r->request_id, viss_of_auth(st), msg);
            return;
        }
    }
    brokerd_request_begin(s, r->action != SDV_BROKER_VISS_UNSUBSCRIBE);
    switch (r->action) {
    case SDV_BROKER_VISS_GET:
        do_get(s, r);
        break;
    case SDV_BROKER_VISS_SET:
        do_set(s, r);
        break;
    case SDV_BROKER_VISS_SUBSCRIBE:
        do_subscribe(s, r);
        break;
    case SDV_BROKER_VISS_UNSUBSCRIBE:
        do_unsubscribe(s, r);
        break;
    default:
        brokerd_viss_error(s, r->action, r->request_id, SDV_BROKER_VISS_BAD_REQUEST,
                           "unknown action");
        break;
    }
    brokerd_request_end(s);
}

void brokerd_viss_sub_ended(struct brokerd_session *s, uint32_t sub_id, enum sdv_auth_status st,
                            const char *message)
{
    struct brokerd *d = s->d;
    char sid[16];

    snprintf(sid, sizeof(sid), "%u", (unsigned)sub_id);
    sdv_buf_reset(&d->text);
    if (sdv_broker_viss_write_error(SDV_BROKER_VISS_SUBSCRIPTION, NULL, sid, viss_of_auth(st),
                                    message, brokerd_now_us(), &d->text) != SDV_OK ||
        brokerd_viss_emit(s, &d->text, 200) != SDV_OK)
        sdv_logf(&d->log, SDV_LOG_WARN, "viss: output full, end of subscription %s not sent", sid);
}

/* One subscription's queued events as one notification; false when there was nothing. */
static bool drain_one(struct brokerd_session *s, uint32_t sub)
{
    struct brokerd *d = s->d;
    struct sdv_broker_viss_notif w;
    uint64_t lost = 0;
    size_t k = 0;
    char sid[16];
    enum sdv_err rc;

    snprintf(sid, sizeof(sid), "%u", (unsigned)sub);
    sdv_buf_reset(&d->text);
    rc = sdv_broker_viss_notif_begin(&w, sid, &d->text);
    while (rc == SDV_OK && k < BROKERD_EVENTS_PER_PASS) {
        struct sdv_broker_event ev;
        bool got = false;

        if (sdv_broker_sub_pop(d->b, s, sub, &ev, &got) != SDV_OK)
            break;
        lost += ev.lost;
        if (!got)
            break;
        /* A data point that cannot be written (the notification is full, a time stamp past
         * year 9999) is a value the client does not get: counted as lost, as the queue's own. */
        if (sdv_broker_viss_notif_add(&w, ev.signal->path, &ev.value, ev.ts_us) == SDV_OK)
            k++;
        else
            lost++;
    }
    if (k == 0 && lost == 0)
        return false;
    if (rc == SDV_OK)
        rc = sdv_broker_viss_notif_end(&w, lost, brokerd_now_us());
    if (rc == SDV_OK)
        brokerd_viss_emit(s, &d->text, 200);
    return true;
}

void brokerd_viss_drain(struct brokerd_session *s)
{
    for (uint32_t i = 0; i < s->n_subs && s->out.len < BROKERD_OUT_LOW_WATER; i++)
        drain_one(s, s->subs[i]);
}
