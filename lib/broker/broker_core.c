/*
 * broker_core.c - the broker: per-signal state (owner, current value), claims, publish, get,
 * actuation routing with a bounded table of pending requests, the timer entry point.
 *
 * Everything is allocated in sdv_broker_create() except a signal's value storage, which grows
 * (doubling) to its largest value once, and the subscription memory of sdv_broker_subscribe().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"

void broker_err(struct sdv_broker *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(b->errmsg, sizeof(b->errmsg), fmt, ap);
    va_end(ap);
}

int64_t broker_now(const struct sdv_broker *b)
{
    return b->cfg.clock(b->cfg.clock_ud);
}

void broker_schedule(struct sdv_broker *b, int64_t at_us)
{
    if (at_us < b->next_deadline_us)
        b->next_deadline_us = at_us;
}

const char *sdv_broker_errmsg(const struct sdv_broker *b)
{
    return b != NULL ? b->errmsg : "";
}

const struct sdv_broker_catalog *sdv_broker_catalog(const struct sdv_broker *b)
{
    return b != NULL ? b->cat : NULL;
}

enum sdv_err broker_store_value(struct sdv_broker *b, uint32_t id, const struct sdv_broker_value *v,
                                int64_t ts_us)
{
    struct broker_sig_state *st = &b->st[id];
    bool has_payload = v->type == SDV_BROKER_DT_STRING || SDV_BROKER_DT_IS_ARRAY(v->type);

    if (has_payload) {
        uint32_t need = v->len + 1u;

        if (need > st->payload_cap) {
            uint32_t cap = st->payload_cap ? st->payload_cap : 16u;
            uint8_t *p;

            while (cap < need)
                cap *= 2;
            p = realloc(st->payload, cap);
            if (p == NULL) {
                broker_err(b, "out of memory for a value of %u bytes", v->len);
                return SDV_ENOMEM;
            }
            st->payload = p;
            st->payload_cap = cap;
        }
        if (v->len > 0)
            memmove(st->payload, v->v.p, v->len);
        st->payload[v->len] = '\0';
        st->value = *v;
        st->value.v.p = st->payload;
    } else {
        st->value = *v;
    }
    st->ts_us = ts_us;
    return SDV_OK;
}

enum sdv_err sdv_broker_create(const struct sdv_broker_config *cfg, struct sdv_broker **out,
                               char *err, size_t err_len)
{
    struct sdv_broker *b = NULL;
    enum sdv_err rc = SDV_ENOMEM;
    uint32_t i;

    if (out == NULL || cfg == NULL || cfg->catalog == NULL || cfg->clock == NULL) {
        sdv_msgf(err, err_len, "a broker needs a catalog and a clock");
        return SDV_EINVAL;
    }
    *out = NULL;
    if (cfg->subscriptions_max > SDV_BROKER_SUBSCRIPTIONS_MAX ||
        cfg->actuations_max > SDV_BROKER_ACTUATIONS_MAX) {
        sdv_msgf(err, err_len, "at most %u subscriptions and %u pending actuations",
                 SDV_BROKER_SUBSCRIPTIONS_MAX, SDV_BROKER_ACTUATIONS_MAX);
        return SDV_EINVAL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        goto fail;
    b->cfg = *cfg;
    b->cfg.persist_path = NULL;
    b->cat = cfg->catalog;
    broker_catalog_freeze((struct sdv_broker_catalog *)cfg->catalog);
    b->nsigs = sdv_broker_catalog_count(b->cat);
    if (b->cfg.subscriptions_max == 0)
        b->cfg.subscriptions_max = SDV_BROKER_SUBSCRIPTIONS_DEFAULT;
    if (b->cfg.actuations_max == 0)
        b->cfg.actuations_max = SDV_BROKER_ACTUATIONS_DEFAULT;
    if (b->cfg.actuation_timeout_ms == 0)
        b->cfg.actuation_timeout_ms = SDV_BROKER_ACTUATION_TIMEOUT_MS_DEFAULT;
    if (b->cfg.queue_memory_max == 0)
        b->cfg.queue_memory_max = SDV_BROKER_QUEUE_MEMORY_DEFAULT;
    if (b->cfg.persist_interval_ms == 0)
        b->cfg.persist_interval_ms = SDV_BROKER_PERSIST_INTERVAL_MS_DEFAULT;
    b->next_deadline_us = INT64_MAX;
    b->st = calloc(b->nsigs ? b->nsigs : 1, sizeof(*b->st));
    b->mark = calloc(b->nsigs ? b->nsigs : 1, 1);
    b->acts_max = b->cfg.actuations_max;
    b->acts = calloc(b->acts_max, sizeof(*b->acts));
    b->act_free = calloc(b->acts_max, sizeof(*b->act_free));
    if (b->st == NULL || b->mark == NULL || b->acts == NULL || b->act_free == NULL)
        goto fail;
    for (i = 0; i < b->acts_max; i++)
        b->act_free[i] = b->acts_max - 1u - i;
    b->nact_free = b->acts_max;
    rc = broker_subs_init(b);
    if (rc != SDV_OK)
        goto fail;
    /* Attributes (and anything else with a default) start at their catalog default. */
    for (i = 0; i < b->nsigs; i++) {
        const struct sdv_broker_signal *sig = sdv_broker_catalog_signal(b->cat, i);

        if (sig->default_value.type != SDV_BROKER_DT_NONE) {
            rc = broker_store_value(b, i, &sig->default_value, 0);
            if (rc != SDV_OK)
                goto fail;
        }
    }
    b->last_persist_us = broker_now(b);
    if (cfg->persist_path != NULL) {
        b->persist_path = strdup(cfg->persist_path);
        if (b->persist_path == NULL) {
            rc = SDV_ENOMEM;
            goto fail;
        }
        rc = broker_persist_load(b, err, err_len);
        if (rc != SDV_OK) {
            sdv_broker_destroy(b);
            return rc;
        }
    }
    *out = b;
    return SDV_OK;
fail:
    sdv_msgf(err, err_len, "%s", sdv_strerror(rc));
    sdv_broker_destroy(b);
    return rc;
}

void sdv_broker_destroy(struct sdv_broker *b)
{
    uint32_t i;

    if (b == NULL)
        return;
    broker_persist_stop(b);
    broker_subs_free(b);
    if (b->st != NULL) {
        for (i = 0; i < b->nsigs; i++) {
            free(b->st[i].payload);
            free(b->st[i].refs);
        }
    }
    free(b->st);
    free(b->mark);
    free(b->acts);
    free(b->act_free);
    free(b->persist_path);
    free(b);
}

/* ---- Claims ---- */

enum sdv_err sdv_broker_claim(struct sdv_broker *b, const void *who, const uint32_t *ids, size_t n)
{
    size_t k;

    if (b == NULL || who == NULL || (ids == NULL && n > 0))
        return SDV_EINVAL;
    for (k = 0; k < n; k++) {
        if (ids[k] >= b->nsigs) {
            broker_err(b, "no signal with id %u", ids[k]);
            return SDV_ENOENT;
        }
        if (b->st[ids[k]].owner != NULL && b->st[ids[k]].owner != who) {
            broker_err(b, "%s is already provided by another provider",
                       sdv_broker_catalog_signal(b->cat, ids[k])->path);
            return SDV_EEXIST;
        }
    }
    for (k = 0; k < n; k++)
        b->st[ids[k]].owner = who;
    return SDV_OK;
}

const void *sdv_broker_owner(const struct sdv_broker *b, uint32_t id)
{
    if (b == NULL || id >= b->nsigs)
        return NULL;
    return b->st[id].owner;
}

/* Frees pending request slot s and reports result to its requester. */
static void act_finish(struct sdv_broker *b, uint32_t s, enum sdv_err result, const char *msg)
{
    struct broker_act a = b->acts[s];

    memset(&b->acts[s], 0, sizeof(b->acts[s]));
    b->act_free[b->nact_free++] = s;
    b->acts_used--;
    if (b->cfg.actuate_result != NULL && a.requester != NULL)
        b->cfg.actuate_result(b->cfg.actuate_ud, a.requester, a.id, result, msg != NULL ? msg : "");
}

/* Fails the requests routed to provider (for signal id, or all when id is UINT32_MAX). */
static void acts_fail_provider(struct sdv_broker *b, const void *provider, uint32_t id,
                               const char *why)
{
    uint32_t s;

    if (b->acts_used == 0)
        return;
    for (s = 0; s < b->acts_max; s++) {
        if (b->acts[s].id != 0 && b->acts[s].provider == provider &&
            (id == UINT32_MAX || b->acts[s].sig == id))
            act_finish(b, s, SDV_EUNAVAILABLE, why);
    }
}

void sdv_broker_release(struct sdv_broker *b, const void *who, const uint32_t *ids, size_t n)
{
    size_t k;

    if (b == NULL || who == NULL || ids == NULL)
        return;
    for (k = 0; k < n; k++) {
        if (ids[k] < b->nsigs && b->st[ids[k]].owner == who) {
            b->st[ids[k]].owner = NULL;
            acts_fail_provider(b, who, ids[k], "the provider released the signal");
        }
    }
}

void sdv_broker_session_close(struct sdv_broker *b, const void *who)
{
    uint32_t i;

    if (b == NULL || who == NULL)
        return;
    for (i = 0; i < b->nsigs; i++)
        if (b->st[i].owner == who)
            b->st[i].owner = NULL;
    /* Requests this session asked for: nobody is left to tell. */
    if (b->acts_used > 0) {
        for (i = 0; i < b->acts_max; i++)
            if (b->acts[i].id != 0 && b->acts[i].requester == who)
                b->acts[i].requester = NULL;
    }
    acts_fail_provider(b, who, UINT32_MAX, "the provider disconnected");
    broker_subs_close(b, who);
}

/* ---- Values ---- */

enum sdv_err sdv_broker_publish(struct sdv_broker *b, const void *who, uint32_t id,
                                const struct sdv_broker_value *v, int64_t ts_us)
{
    const struct sdv_broker_signal *sig;
    struct broker_sig_state *st;
    enum sdv_err rc;

    if (b == NULL || v == NULL)
        return SDV_EINVAL;
    if (id >= b->nsigs) {
        broker_err(b, "no signal with id %u", id);
        return SDV_ENOENT;
    }
    st = &b->st[id];
    sig = sdv_broker_catalog_signal(b->cat, id);
    if (st->owner != NULL && st->owner != who) {
        broker_err(b, "%s is provided by another provider", sig->path);
        return SDV_EDENIED;
    }
    rc = sdv_broker_signal_check(sig, v, b->errmsg, sizeof(b->errmsg));
    if (rc != SDV_OK)
        return rc;
    if (ts_us == 0)
        ts_us = broker_now(b);
    rc = broker_store_value(b, id, v, ts_us);
    if (rc != SDV_OK)
        return rc;
    if (b->persist_path != NULL && !b->dirty) {
        b->dirty = true;
        broker_schedule(b, b->last_persist_us + (int64_t)b->cfg.persist_interval_ms * 1000);
    }
    broker_fanout(b, id);
    return SDV_OK;
}

enum sdv_err sdv_broker_get(const struct sdv_broker *b, uint32_t id, struct sdv_broker_value *out,
                            int64_t *ts_us)
{
    if (b == NULL || out == NULL)
        return SDV_EINVAL;
    if (id >= b->nsigs)
        return SDV_ENOENT;
    *out = b->st[id].value;
    if (ts_us != NULL)
        *ts_us = b->st[id].ts_us;
    return SDV_OK;
}

/* ---- Actuation ---- */

enum sdv_err sdv_broker_actuate(struct sdv_broker *b, const void *who, uint32_t id,
                                const struct sdv_broker_value *v, uint64_t *request_id)
{
    const struct sdv_broker_signal *sig;
    struct sdv_broker_actuation req;
    struct broker_act *a;
    enum sdv_err rc;
    uint32_t s;

    if (b == NULL || v == NULL)
        return SDV_EINVAL;
    if (id >= b->nsigs) {
        broker_err(b, "no signal with id %u", id);
        return SDV_ENOENT;
    }
    sig = sdv_broker_catalog_signal(b->cat, id);
    if (sig->kind != SDV_BROKER_KIND_ACTUATOR) {
        broker_err(b, "%s is a %s, not an actuator", sig->path, sdv_broker_kind_name(sig->kind));
        return SDV_EINVAL;
    }
    rc = sdv_broker_signal_check(sig, v, b->errmsg, sizeof(b->errmsg));
    if (rc != SDV_OK)
        return rc;
    if (b->st[id].owner == NULL || b->cfg.actuate == NULL) {
        broker_err(b, "no provider for %s", sig->path);
        return SDV_EUNAVAILABLE;
    }
    if (b->nact_free == 0) {
        broker_err(b, "%u actuation requests are pending already", b->acts_max);
        return SDV_EUNAVAILABLE;
    }
    s = b->act_free[--b->nact_free];
    a = &b->acts[s];
    a->id = (++b->act_seq << 16) | s;
    a->provider = b->st[id].owner;
    a->requester = who;
    a->sig = id;
    a->deadline_us = broker_now(b) + (int64_t)b->cfg.actuation_timeout_ms * 1000;
    b->acts_used++;
    req.id = a->id;
    req.provider = a->provider;
    req.requester = who;
    req.signal = sig;
    req.value = *v;
    rc = b->cfg.actuate(b->cfg.actuate_ud, &req);
    /* A provider in the same process may have answered from inside the callback already. */
    if (rc != SDV_OK) {
        if (b->acts[s].id == req.id) {
            memset(&b->acts[s], 0, sizeof(b->acts[s]));
            b->act_free[b->nact_free++] = s;
            b->acts_used--;
        }
        broker_err(b, "the provider of %s cannot take the request: %s", sig->path,
                   sdv_strerror(rc));
        return rc;
    }
    if (b->acts[s].id == req.id)
        broker_schedule(b, b->acts[s].deadline_us);
    if (request_id != NULL)
        *request_id = req.id;
    return SDV_OK;
}

enum sdv_err sdv_broker_actuation_done(struct sdv_broker *b, const void *who, uint64_t id,
                                       enum sdv_err result, const char *message)
{
    uint32_t s;

    if (b == NULL)
        return SDV_EINVAL;
    s = (uint32_t)(id & 0xffffu);
    if (id == 0 || s >= b->acts_max || b->acts[s].id != id || b->acts[s].provider != who) {
        broker_err(b, "no pending actuation request %llu for this provider",
                   (unsigned long long)id);
        return SDV_ENOENT;
    }
    act_finish(b, s, result == SDV_OK ? SDV_OK : SDV_EREJECTED, message);
    return SDV_OK;
}

/* ---- Timers ---- */

int64_t sdv_broker_tick(struct sdv_broker *b)
{
    int64_t now;
    uint32_t s;

    if (b == NULL)
        return INT64_MAX;
    now = broker_now(b);
    if (now < b->next_deadline_us)
        return b->next_deadline_us;
    b->next_deadline_us = INT64_MAX;
    if (b->timebased > 0)
        broker_subs_tick(b, now);
    if (b->acts_used > 0) {
        for (s = 0; s < b->acts_max; s++) {
            if (b->acts[s].id == 0)
                continue;
            if (b->acts[s].deadline_us <= now) {
                char msg[96];

                snprintf(msg, sizeof(msg), "the provider did not answer within %u ms",
                         b->cfg.actuation_timeout_ms);
                act_finish(b, s, SDV_EUNAVAILABLE, msg);
            } else {
                broker_schedule(b, b->acts[s].deadline_us);
            }
        }
    }
    if (b->persist_path != NULL && (b->dirty || b->persist_inflight))
        broker_persist_tick(b, now);
    return b->next_deadline_us;
}

const char *sdv_broker_kind_name(enum sdv_broker_kind kind)
{
    switch (kind) {
    case SDV_BROKER_KIND_SENSOR:
        return "sensor";
    case SDV_BROKER_KIND_ACTUATOR:
        return "actuator";
    case SDV_BROKER_KIND_ATTRIBUTE:
        return "attribute";
    }
    return "invalid";
}
