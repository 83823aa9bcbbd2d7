/*
 * broker_sub.c - subscriptions: VISS filters, bounded queues that drop their oldest event, and
 * the fan-out of a published value.
 *
 * Fan-out walks the subscriber list of the one signal that changed (O(its subscribers)); each
 * subscriber's filter state sits in its own array, reached by index. A queue is a ring of fixed
 * entries plus, for string and array values, a FIFO byte ring (the arena) filled in queue order,
 * so freeing the oldest event frees the oldest payload. Both are allocated at subscribe time;
 * the only allocation after that is the pop buffer growing to the largest payload popped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"

#define AWRAP_NONE UINT32_MAX

enum sdv_err broker_subs_init(struct sdv_broker *b)
{
    uint32_t i;

    b->subs_max = b->cfg.subscriptions_max;
    b->subs = calloc(b->subs_max, sizeof(*b->subs));
    b->sub_free = calloc(b->subs_max, sizeof(*b->sub_free));
    if (b->subs == NULL || b->sub_free == NULL)
        return SDV_ENOMEM;
    for (i = 0; i < b->subs_max; i++)
        b->sub_free[i] = b->subs_max - 1u - i;
    b->nsub_free = b->subs_max;
    return SDV_OK;
}

static void sub_release_memory(struct broker_sub *s)
{
    free(s->sigs);
    free(s->q);
    free(s->arena);
    free(s->popbuf);
    s->sigs = NULL;
    s->q = NULL;
    s->arena = NULL;
    s->popbuf = NULL;
}

void broker_subs_free(struct sdv_broker *b)
{
    uint32_t i;

    if (b->subs != NULL)
        for (i = 0; i < b->subs_max; i++)
            sub_release_memory(&b->subs[i]);
    free(b->subs);
    free(b->sub_free);
    b->subs = NULL;
    b->sub_free = NULL;
}

/* The subscription with this id owned by who (who NULL: any owner), or NULL. */
static struct broker_sub *sub_find(const struct sdv_broker *b, const void *who, uint32_t sub_id)
{
    uint32_t slot = (sub_id & 0xffffu);
    struct broker_sub *s;

    if (slot == 0 || slot > b->subs_max)
        return NULL;
    s = &b->subs[slot - 1];
    if (s->id != sub_id || (who != NULL && s->who != who))
        return NULL;
    return s;
}

/* ---- Queue ---- */

/* Reserves n payload bytes at the arena's tail; false when they do not fit now. */
static bool arena_alloc(struct broker_sub *s, uint32_t n, uint32_t *off)
{
    if (s->alive == 0) {
        s->ahead = s->atail = 0;
        s->awrap = AWRAP_NONE;
    }
    if (s->awrap == AWRAP_NONE) {
        /* Live bytes are [ahead, atail): room at the end, else wrap to the start. */
        if (s->acap - s->atail >= n) {
            *off = s->atail;
            s->atail += n;
            return true;
        }
        if (s->ahead >= n && s->alive > 0) {
            s->awrap = s->atail;
            *off = 0;
            s->atail = n;
            return true;
        }
        return false;
    }
    /* Wrapped: live bytes are [ahead, awrap) and [0, atail). */
    if (s->ahead - s->atail >= n) {
        *off = s->atail;
        s->atail += n;
        return true;
    }
    return false;
}

/* Frees the oldest payload (off, n), which is at the arena's head. */
static void arena_free(struct broker_sub *s, uint32_t off, uint32_t n)
{
    s->alive--;
    s->ahead = off + n;
    if (s->awrap != AWRAP_NONE && s->ahead == s->awrap) {
        s->ahead = 0;
        s->awrap = AWRAP_NONE;
    }
}

static bool qent_has_payload(const struct broker_qent *e)
{
    return e->type == SDV_BROKER_DT_STRING || SDV_BROKER_DT_IS_ARRAY(e->type);
}

/* Empty strings and arrays take no arena bytes (a zero-length slot at the wrap point would
 * confuse the head's bookkeeping). */
static bool qent_in_arena(const struct broker_qent *e)
{
    return qent_has_payload(e) && e->len > 0;
}

static void queue_drop_oldest(struct broker_sub *s)
{
    struct broker_qent *e = &s->q[s->qhead];

    if (qent_in_arena(e))
        arena_free(s, e->off, e->len);
    s->qhead = (s->qhead + 1u) % s->qcap;
    s->qlen--;
}

/* Appends an event, dropping the oldest ones when the queue or its arena is full. */
static void queue_push(struct sdv_broker *b, struct broker_sub *s, uint32_t id,
                       const struct sdv_broker_value *v, int64_t ts_us)
{
    struct broker_qent *e;
    bool was_empty = s->qlen == 0;
    uint32_t off = 0;

    if (s->qlen == s->qcap) {
        queue_drop_oldest(s);
        s->lost++;
    }
    if ((v->type == SDV_BROKER_DT_STRING || SDV_BROKER_DT_IS_ARRAY(v->type)) && v->len > 0) {
        while (!arena_alloc(s, v->len, &off)) {
            /* The arena holds at least one largest value, so an empty queue always fits. */
            queue_drop_oldest(s);
            s->lost++;
        }
        memcpy(s->arena + off, v->v.p, v->len);
        s->alive++;
    }
    e = &s->q[(s->qhead + s->qlen) % s->qcap];
    e->id = id;
    e->type = v->type;
    e->count = v->count;
    e->len = v->len;
    e->off = off;
    e->ts_us = ts_us;
    switch (SDV_BROKER_DT_IS_ARRAY(v->type) ? SDV_BROKER_DT_STRING : v->type) {
    case SDV_BROKER_DT_BOOLEAN:
        e->s.b = v->v.b;
        break;
    case SDV_BROKER_DT_FLOAT:
        e->s.f = v->v.f;
        break;
    case SDV_BROKER_DT_DOUBLE:
        e->s.d = v->v.d;
        break;
    case SDV_BROKER_DT_UINT8:
    case SDV_BROKER_DT_UINT16:
    case SDV_BROKER_DT_UINT32:
    case SDV_BROKER_DT_UINT64:
        e->s.u = v->v.u;
        break;
    default:
        e->s.i = v->v.i;
        break;
    }
    s->qlen++;
    if (was_empty && b != NULL && b->cfg.notify != NULL)
        b->cfg.notify(b->cfg.notify_ud, s->who, s->id);
}

/* ---- Filters ---- */

static bool is_numeric_sig(const struct sdv_broker_signal *sig)
{
    return broker_dt_numeric(sig->datatype);
}

/* Whether v passes the change and range filters of s for signal state ss. */
static bool filters_pass(const struct broker_sub *s, const struct broker_sub_sig *ss,
                         const struct sdv_broker_signal *sig, const struct sdv_broker_value *v)
{
    const struct sdv_broker_filter *f = &s->f;
    uint32_t k;

    if (f->range_count > 0) {
        struct broker_num x = broker_num_of(v, 0);
        uint32_t holds = 0;

        for (k = 0; k < f->range_count; k++) {
            struct broker_num bound = broker_num_of(&f->range[k].boundary, 0);

            if (broker_op_holds(f->range[k].op, broker_num_cmp(&x, &bound)))
                holds++;
        }
        if (f->range_any ? holds == 0 : holds != f->range_count)
            return false;
    }
    if (f->change && ss->has_last) {
        if (is_numeric_sig(sig) || sig->datatype == SDV_BROKER_DT_BOOLEAN) {
            struct broker_num x = broker_num_of(v, 0);
            struct broker_num d, diff = {.is_int = true, .i = 0};

            if (f->change_op == SDV_BROKER_OP_ANY)
                return broker_num_cmp(&x, &ss->last_num) != 0;
            d = broker_num_sub(&x, &ss->last_num);
            if (f->change_diff.type != SDV_BROKER_DT_NONE)
                diff = broker_num_of(&f->change_diff, 0);
            return broker_op_holds(f->change_op, broker_num_cmp(&d, &diff));
        } else {
            uint32_t n = broker_value_payload_len(v);
            bool same = n == ss->last_len && broker_hash(v->v.p, n) == ss->last_hash;

            return f->change_op == SDV_BROKER_OP_EQ ? same : !same;
        }
    }
    return true;
}

static void remember(struct broker_sub_sig *ss, const struct sdv_broker_signal *sig,
                     const struct sdv_broker_value *v)
{
    ss->has_last = true;
    if (is_numeric_sig(sig) || sig->datatype == SDV_BROKER_DT_BOOLEAN) {
        ss->last_num = broker_num_of(v, 0);
    } else {
        ss->last_len = broker_value_payload_len(v);
        ss->last_hash = broker_hash(v->v.p, ss->last_len);
    }
}

/* Runs the filters on an update. A boolean's change filter compares with the previous value,
 * delivered or not (VISS: gt 0 is every false -> true edge); numbers compare with the last
 * value delivered (a deadband: a slow drift is delivered once it adds up). */
static bool filter_step(const struct broker_sub *s, struct broker_sub_sig *ss,
                        const struct sdv_broker_signal *sig, const struct sdv_broker_value *v)
{
    bool pass = filters_pass(s, ss, sig, v);

    if (s->f.change && sig->datatype == SDV_BROKER_DT_BOOLEAN)
        remember(ss, sig, v);
    return pass;
}

/* Offers the current value of a signal to one subscriber. */
static void offer(struct sdv_broker *b, struct broker_sub *s, struct broker_sub_sig *ss,
                  const struct sdv_broker_signal *sig, bool filters, bool notify)
{
    const struct broker_sig_state *st = &b->st[ss->id];

    if (st->value.type == SDV_BROKER_DT_NONE)
        return;
    if (filters && !filter_step(s, ss, sig, &st->value))
        return;
    if (b->cfg.event_check != NULL && !b->cfg.event_check(b->cfg.event_check_ud, s->who, sig)) {
        s->denied++;
        return;
    }
    if (s->f.change && sig->datatype != SDV_BROKER_DT_BOOLEAN)
        remember(ss, sig, &st->value);
    queue_push(notify ? b : NULL, s, ss->id, &st->value, st->ts_us);
}

/* trigger_first: the first signal passed its filters, so every signal's value is queued. */
static void offer_all(struct sdv_broker *b, struct broker_sub *s,
                      const struct sdv_broker_signal *first, bool notify)
{
    const struct broker_sig_state *st = &b->st[s->sigs[0].id];
    uint32_t k;

    if (!filter_step(s, &s->sigs[0], first, &st->value))
        return;
    if (s->f.change && first->datatype != SDV_BROKER_DT_BOOLEAN)
        remember(&s->sigs[0], first, &st->value);
    for (k = 0; k < s->nsigs; k++)
        offer(b, s, &s->sigs[k], sdv_broker_catalog_signal(b->cat, s->sigs[k].id), false, notify);
}

void broker_fanout(struct sdv_broker *b, uint32_t id)
{
    struct broker_sig_state *st = &b->st[id];
    const struct sdv_broker_signal *sig;
    uint32_t r;

    if (st->nrefs == 0)
        return;
    sig = sdv_broker_catalog_signal(b->cat, id);
    for (r = 0; r < st->nrefs; r++) {
        struct broker_sub *s = &b->subs[st->refs[r].slot];

        if (s->f.period_ms > 0)
            continue; /* timebased: sampled by tick */
        if (s->f.trigger_first) {
            if (st->refs[r].idx == 0)
                offer_all(b, s, sig, true);
            continue;
        }
        offer(b, s, &s->sigs[st->refs[r].idx], sig, true, true);
    }
}

void broker_subs_tick(struct sdv_broker *b, int64_t now_us)
{
    uint32_t i, k;

    for (i = 0; i < b->subs_max; i++) {
        struct broker_sub *s = &b->subs[i];
        int64_t period_us;

        if (s->id == 0 || s->f.period_ms == 0)
            continue;
        period_us = (int64_t)s->f.period_ms * 1000;
        if (now_us >= s->next_due_us) {
            for (k = 0; k < s->nsigs; k++)
                offer(b, s, &s->sigs[k], sdv_broker_catalog_signal(b->cat, s->sigs[k].id), false,
                      true);
            s->next_due_us += period_us;
            if (s->next_due_us <= now_us)
                s->next_due_us = now_us + period_us; /* fell behind: do not burst */
        }
        broker_schedule(b, s->next_due_us);
    }
}

/* ---- Subscribe / unsubscribe ---- */

/* Bytes of a subscription's queue: entries and payload ring. */
static uint64_t sub_mem(const struct broker_sub *s)
{
    return (uint64_t)s->qcap * sizeof(struct broker_qent) + s->acap;
}

static bool num_value(const struct sdv_broker_value *v)
{
    return broker_dt_numeric(v->type) && sdv_broker_value_validate(v, NULL, 0) == SDV_OK;
}

static enum sdv_err filter_check(struct sdv_broker *b, const struct sdv_broker_filter *f,
                                 const uint32_t *ids, size_t n)
{
    size_t k;
    uint32_t r;

    if (f->period_ms > 0 && (f->change || f->range_count > 0)) {
        broker_err(b, "a timebased filter cannot be combined with change or range");
        return SDV_EINVAL;
    }
    if (f->change) {
        if ((unsigned)f->change_op > SDV_BROKER_OP_LE) {
            broker_err(b, "change filter: unknown logic-op %u", (unsigned)f->change_op);
            return SDV_EINVAL;
        }
        if (f->change_diff.type != SDV_BROKER_DT_NONE && !num_value(&f->change_diff)) {
            broker_err(b, "change filter: diff must be a number");
            return SDV_EINVAL;
        }
    }
    if (f->range_count > SDV_BROKER_RANGE_MAX) {
        broker_err(b, "range filter: at most %u boundaries", SDV_BROKER_RANGE_MAX);
        return SDV_EINVAL;
    }
    for (r = 0; r < f->range_count; r++) {
        if (f->range[r].op == SDV_BROKER_OP_ANY || (unsigned)f->range[r].op > SDV_BROKER_OP_LE ||
            !num_value(&f->range[r].boundary)) {
            broker_err(b, "range filter: boundary %u needs a logic-op and a number", r);
            return SDV_EINVAL;
        }
    }
    for (k = 0; k < n; k++) {
        const struct sdv_broker_signal *sig;

        if (ids[k] >= b->nsigs) {
            broker_err(b, "no signal with id %u", ids[k]);
            return SDV_ENOENT;
        }
        if (f->trigger_first && k > 0)
            continue; /* only the first signal is filtered */
        sig = sdv_broker_catalog_signal(b->cat, ids[k]);
        if (f->range_count > 0 && !is_numeric_sig(sig)) {
            broker_err(b, "range filter: %s is a %s, not a number", sig->path,
                       sdv_broker_datatype_name(sig->datatype));
            return SDV_EINVAL;
        }
        if (f->change && !is_numeric_sig(sig) && sig->datatype != SDV_BROKER_DT_BOOLEAN &&
            ((f->change_op != SDV_BROKER_OP_ANY && f->change_op != SDV_BROKER_OP_EQ &&
              f->change_op != SDV_BROKER_OP_NE) ||
             f->change_diff.type != SDV_BROKER_DT_NONE)) {
            broker_err(b, "change filter: %s is a %s: only any change, eq or ne without diff",
                       sig->path, sdv_broker_datatype_name(sig->datatype));
            return SDV_EINVAL;
        }
    }
    return SDV_OK;
}

/* Removes subscription slot's entries from the signals' subscriber lists. */
static void refs_remove(struct sdv_broker *b, uint32_t slot, struct broker_sub *s)
{
    uint32_t k, r;

    for (k = 0; k < s->nsigs; k++) {
        struct broker_sig_state *st = &b->st[s->sigs[k].id];

        for (r = 0; r < st->nrefs; r++) {
            if (st->refs[r].slot == slot) {
                st->refs[r] = st->refs[--st->nrefs];
                break;
            }
        }
    }
}

enum sdv_err sdv_broker_subscribe(struct sdv_broker *b, const void *who, const uint32_t *ids,
                                  size_t n, const struct sdv_broker_filter *f, uint32_t queue_len,
                                  uint32_t queue_bytes, uint32_t *sub_id)
{
    static const struct sdv_broker_filter no_filter;
    struct broker_sub *s;
    enum sdv_err rc;
    bool payload = false;
    uint32_t slot, k, m = 0;
    size_t i;

    if (b == NULL || sub_id == NULL || (ids == NULL && n > 0))
        return SDV_EINVAL;
    if (f == NULL)
        f = &no_filter;
    if (n == 0 || n > b->nsigs) {
        broker_err(b, "a subscription needs 1 to %u signals", b->nsigs);
        return SDV_EINVAL;
    }
    if (queue_len > SDV_BROKER_SUB_QUEUE_LEN_MAX || queue_bytes > SDV_BROKER_SUB_QUEUE_BYTES_MAX) {
        broker_err(b, "a queue holds at most %u events and %u bytes", SDV_BROKER_SUB_QUEUE_LEN_MAX,
                   SDV_BROKER_SUB_QUEUE_BYTES_MAX);
        return SDV_EINVAL;
    }
    rc = filter_check(b, f, ids, n);
    if (rc != SDV_OK)
        return rc;
    if (b->nsub_free == 0) {
        broker_err(b, "all %u subscriptions are in use", b->subs_max);
        return SDV_ELIMIT;
    }
    slot = b->sub_free[b->nsub_free - 1];
    s = &b->subs[slot];
    s->f = *f;
    s->qcap = queue_len ? queue_len : SDV_BROKER_SUB_QUEUE_LEN_DEFAULT;
    s->acap = 0;
    for (i = 0; i < n && !payload; i++) {
        enum sdv_broker_datatype dt = sdv_broker_catalog_signal(b->cat, ids[i])->datatype;

        payload = dt == SDV_BROKER_DT_STRING || SDV_BROKER_DT_IS_ARRAY(dt);
    }
    if (payload) {
        s->acap = queue_bytes ? queue_bytes : SDV_BROKER_SUB_QUEUE_BYTES_DEFAULT;
        if (s->acap < SDV_BROKER_STRING_LEN_MAX + 1u)
            s->acap = SDV_BROKER_STRING_LEN_MAX + 1u;
    }
    if (b->queue_mem + sub_mem(s) > b->cfg.queue_memory_max) {
        broker_err(b, "subscription queues would use more than %llu bytes",
                   (unsigned long long)b->cfg.queue_memory_max);
        return SDV_ELIMIT;
    }
    s->sigs = calloc(n, sizeof(*s->sigs));
    s->q = calloc(s->qcap, sizeof(*s->q));
    if (s->sigs == NULL || s->q == NULL)
        goto nomem;
    for (i = 0; i < n; i++) {
        if (b->mark[ids[i]])
            continue; /* listed twice */
        b->mark[ids[i]] = 1;
        s->sigs[m++].id = ids[i];
    }
    for (k = 0; k < m; k++)
        b->mark[s->sigs[k].id] = 0;
    s->nsigs = m;
    if (payload) {
        s->arena = malloc(s->acap);
        if (s->arena == NULL)
            goto nomem;
    }
    /* Grow the subscriber lists; on failure undo the ones already added. */
    for (k = 0; k < m; k++) {
        struct broker_sig_state *st = &b->st[s->sigs[k].id];

        if (st->nrefs == st->refs_cap) {
            uint32_t cap = st->refs_cap ? st->refs_cap * 2 : 4;
            struct broker_ref *r = realloc(st->refs, cap * sizeof(*r));

            if (r == NULL) {
                s->nsigs = k;
                refs_remove(b, slot, s);
                goto nomem;
            }
            st->refs = r;
            st->refs_cap = cap;
        }
        st->refs[st->nrefs].slot = slot;
        st->refs[st->nrefs].idx = k;
        st->nrefs++;
    }
    b->nsub_free--;
    b->subs_used++;
    b->queue_mem += sub_mem(s);
    s->gen++;
    s->id = ((uint32_t)s->gen << 16) | (slot + 1u);
    s->who = who;
    s->qhead = s->qlen = 0;
    s->alive = s->ahead = s->atail = 0;
    s->awrap = AWRAP_NONE;
    s->lost = s->denied = 0;
    /* The current values, so the subscriber starts with a complete picture (no notify: the
     * caller does not know the id yet and pops after this returns). */
    if (f->trigger_first && f->period_ms == 0) {
        if (b->st[s->sigs[0].id].value.type != SDV_BROKER_DT_NONE)
            offer_all(b, s, sdv_broker_catalog_signal(b->cat, s->sigs[0].id), false);
    } else {
        for (k = 0; k < m; k++)
            offer(b, s, &s->sigs[k], sdv_broker_catalog_signal(b->cat, s->sigs[k].id), true, false);
    }
    if (f->period_ms > 0) {
        b->timebased++;
        s->next_due_us = broker_now(b) + (int64_t)f->period_ms * 1000;
        broker_schedule(b, s->next_due_us);
    }
    *sub_id = s->id;
    return SDV_OK;
nomem:
    sub_release_memory(s);
    broker_err(b, "out of memory for a subscription");
    return SDV_ENOMEM;
}

static void sub_remove(struct sdv_broker *b, struct broker_sub *s)
{
    uint32_t slot = (uint32_t)(s - b->subs);

    refs_remove(b, slot, s);
    b->queue_mem -= sub_mem(s);
    if (s->f.period_ms > 0)
        b->timebased--;
    sub_release_memory(s);
    s->id = 0;
    s->who = NULL;
    s->nsigs = 0;
    s->qlen = 0;
    s->popcap = 0;
    b->sub_free[b->nsub_free++] = slot;
    b->subs_used--;
}

enum sdv_err sdv_broker_unsubscribe(struct sdv_broker *b, const void *who, uint32_t sub_id)
{
    struct broker_sub *s;

    if (b == NULL)
        return SDV_EINVAL;
    s = sub_find(b, who, sub_id);
    if (s == NULL) {
        broker_err(b, "no subscription %u", sub_id);
        return SDV_ENOENT;
    }
    sub_remove(b, s);
    return SDV_OK;
}

void broker_subs_close(struct sdv_broker *b, const void *who)
{
    uint32_t i;

    if (b->subs_used == 0)
        return;
    for (i = 0; i < b->subs_max; i++)
        if (b->subs[i].id != 0 && b->subs[i].who == who)
            sub_remove(b, &b->subs[i]);
}

enum sdv_err sdv_broker_sub_pop(struct sdv_broker *b, const void *who, uint32_t sub_id,
                                struct sdv_broker_event *ev, bool *got)
{
    struct broker_sub *s;
    struct broker_qent *e;

    if (b == NULL || ev == NULL || got == NULL)
        return SDV_EINVAL;
    s = sub_find(b, who, sub_id);
    if (s == NULL) {
        broker_err(b, "no subscription %u", sub_id);
        return SDV_ENOENT;
    }
    memset(ev, 0, sizeof(*ev));
    ev->sub_id = sub_id;
    ev->lost = s->lost;
    ev->denied = s->denied;
    *got = false;
    if (s->qlen == 0) {
        s->lost = s->denied = 0;
        return SDV_OK;
    }
    e = &s->q[s->qhead];
    ev->signal = sdv_broker_catalog_signal(b->cat, e->id);
    ev->ts_us = e->ts_us;
    ev->value.type = e->type;
    ev->value.count = e->count;
    ev->value.len = e->len;
    if (qent_has_payload(e) && e->len == 0) {
        ev->value.v.p = "";
    } else if (qent_has_payload(e)) {
        if (e->len + 1u > s->popcap) {
            uint32_t cap = s->popcap ? s->popcap : 64u;
            uint8_t *p;

            while (cap < e->len + 1u)
                cap *= 2;
            p = realloc(s->popbuf, cap);
            if (p == NULL) {
                /* Keep the event queued: the caller may retry. */
                broker_err(b, "out of memory for a value of %u bytes", e->len);
                return SDV_ENOMEM;
            }
            s->popbuf = p;
            s->popcap = cap;
        }
        memcpy(s->popbuf, s->arena + e->off, e->len);
        s->popbuf[e->len] = '\0';
        ev->value.v.p = s->popbuf;
    } else {
        switch (e->type) {
        case SDV_BROKER_DT_BOOLEAN:
            ev->value.v.b = e->s.b;
            break;
        case SDV_BROKER_DT_FLOAT:
            ev->value.v.f = e->s.f;
            break;
        case SDV_BROKER_DT_DOUBLE:
            ev->value.v.d = e->s.d;
            break;
        case SDV_BROKER_DT_UINT8:
        case SDV_BROKER_DT_UINT16:
        case SDV_BROKER_DT_UINT32:
        case SDV_BROKER_DT_UINT64:
            ev->value.v.u = e->s.u;
            break;
        default:
            ev->value.v.i = e->s.i;
            break;
        }
    }
    queue_drop_oldest(s);
    s->lost = s->denied = 0; /* reported with this event */
    *got = true;
    return SDV_OK;
}

uint32_t sdv_broker_sub_pending(const struct sdv_broker *b, uint32_t sub_id)
{
    const struct broker_sub *s = b != NULL ? sub_find(b, NULL, sub_id) : NULL;

    return s != NULL ? s->qlen : 0;
}
