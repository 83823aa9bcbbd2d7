/*
 * broker_auth.c - the access-control context of sdv-broker: configuration, trusted keys,
 * purposes, the per-token rate buckets and the request check that ties them together with the
 * audit log.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/broker_auth.h>
#include <sdv/crypto.h>

#include "broker_auth_int.h"

/* Slots examined for one rate key (open addressing): a key lives in one of them. */
#define RATE_PROBE 8u

static const struct {
    int http;
    const char *viss;
} auth_status_table[] = {
#define SDV_AUTH_STATUS_ROW_(name, num, http, viss) [num] = {http, viss},
        SDV_AUTH_STATUS_MAP(SDV_AUTH_STATUS_ROW_)
#undef SDV_AUTH_STATUS_ROW_
};

int sdv_auth_status_http(enum sdv_auth_status status)
{
    if ((size_t)status >= sizeof(auth_status_table) / sizeof(auth_status_table[0]))
        return 500;
    return auth_status_table[status].http;
}

const char *sdv_auth_status_viss(enum sdv_auth_status status)
{
    if ((size_t)status >= sizeof(auth_status_table) / sizeof(auth_status_table[0]))
        return "internal_error";
    return auth_status_table[status].viss;
}

const char *sdv_auth_action_name(enum sdv_auth_action action)
{
    switch (action) {
    case SDV_AUTH_READ:
        return "read";
    case SDV_AUTH_ACTUATE:
        return "actuate";
    case SDV_AUTH_PROVIDE:
        return "provide";
    }
    return "?";
}

int auth_strlcpy(char *dst, size_t dst_len, const char *src)
{
    size_t n = strlen(src);

    if (n >= dst_len) {
        dst[0] = '\0';
        return 0;
    }
    memcpy(dst, src, n + 1);
    return 1;
}

const char *auth_printable(const char *s, size_t len, char *buf, size_t buf_len)
{
    size_t o = 0;

    for (size_t i = 0; s != NULL && i < len && s[i] != '\0' && o + 1 < buf_len; i++)
        buf[o++] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
    if (buf_len > 0)
        buf[o] = '\0';
    return buf;
}

uint64_t auth_hash64(const char *s)
{
    uint64_t h = 14695981039346656037ull;

    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h == 0 ? 1 : h;
}

static int config_string(char *dst, const char *src, int *has)
{
    if (has != NULL)
        *has = src != NULL;
    if (src == NULL) {
        dst[0] = '\0';
        return 1;
    }
    return src[0] != '\0' && auth_strlcpy(dst, SDV_AUTH_CLAIM_LEN_MAX + 1, src);
}

enum sdv_err sdv_auth_create(const struct sdv_auth_config *cfg, struct sdv_auth **out)
{
    struct sdv_auth *a;

    if (out == NULL)
        return SDV_EINVAL;
    *out = NULL;
    if (cfg == NULL || cfg->audience == NULL || cfg->clock == NULL ||
        cfg->leeway_s > SDV_AUTH_LEEWAY_S_MAX || cfg->buckets_max > SDV_AUTH_BUCKETS_MAX)
        return SDV_EINVAL;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return SDV_ENOMEM;
    if (!config_string(a->audience, cfg->audience, NULL) ||
        !config_string(a->issuer, cfg->issuer, &a->has_issuer) ||
        !config_string(a->vin, cfg->vin, &a->has_vin)) {
        free(a);
        return SDV_EINVAL;
    }
    a->accept_typ_jwt = cfg->accept_typ_jwt != 0;
    a->leeway_ms = (int64_t)cfg->leeway_s * 1000;
    a->clock = cfg->clock;
    a->clock_ud = cfg->clock_ud;
    a->rate_per_s = cfg->rate_per_s;
    a->burst = cfg->burst != 0 ? cfg->burst : cfg->rate_per_s;
    a->buckets_max = cfg->buckets_max != 0 ? cfg->buckets_max : SDV_AUTH_BUCKETS_DEFAULT;
    if (a->buckets_max < RATE_PROBE)
        a->buckets_max = RATE_PROBE;
    if (a->rate_per_s > 0) {
        a->buckets = calloc(a->buckets_max, sizeof(a->buckets[0]));
        if (a->buckets == NULL) {
            free(a);
            return SDV_ENOMEM;
        }
    }
    pthread_mutex_init(&a->deny_lock, NULL);
    pthread_mutex_init(&a->rate_lock, NULL);
    *out = a;
    return SDV_OK;
}

static void purposes_free(struct auth_purpose *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sdv_auth_grants_destroy(p[i].grants);
    free(p);
}

void sdv_auth_destroy(struct sdv_auth *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->nkeys; i++)
        sdv_key_destroy(a->keys[i].key);
    purposes_free(a->purposes, a->npurposes);
    free(a->buckets);
    pthread_mutex_destroy(&a->deny_lock);
    pthread_mutex_destroy(&a->rate_lock);
    free(a);
}

static enum sdv_err add_key(struct sdv_auth *a, const char *kid, struct sdv_key *key)
{
    struct auth_key *k;

    if (sdv_key_type(key) != SDV_KEY_ED25519 && sdv_key_type(key) != SDV_KEY_ECDSA_P256) {
        sdv_key_destroy(key);
        return SDV_EUNSUPPORTED;
    }
    if (a->nkeys == SDV_AUTH_KEYS_MAX) {
        sdv_key_destroy(key);
        return SDV_ELIMIT;
    }
    for (size_t i = 0; kid != NULL && i < a->nkeys; i++) {
        if (a->keys[i].has_kid && strcmp(a->keys[i].kid, kid) == 0) {
            sdv_key_destroy(key);
            return SDV_EEXIST;
        }
    }
    k = &a->keys[a->nkeys];
    k->has_kid = kid != NULL;
    if (kid != NULL && (kid[0] == '\0' || !auth_strlcpy(k->kid, sizeof(k->kid), kid))) {
        sdv_key_destroy(key);
        return SDV_EINVAL;
    }
    k->key = key;
    a->nkeys++;
    return SDV_OK;
}

enum sdv_err sdv_auth_add_key_pem(struct sdv_auth *a, const char *kid, const void *pem, size_t len)
{
    struct sdv_key *key = NULL;
    enum sdv_err err;

    if (a == NULL || pem == NULL)
        return SDV_EINVAL;
    err = sdv_key_load_pem(pem, len, &key);
    if (err != SDV_OK)
        return err;
    return add_key(a, kid, key);
}

enum sdv_err sdv_auth_add_key_file(struct sdv_auth *a, const char *kid, const char *path)
{
    struct sdv_key *key = NULL;
    enum sdv_err err;

    if (a == NULL || path == NULL)
        return SDV_EINVAL;
    err = sdv_key_load_pem_file(path, &key);
    if (err != SDV_OK)
        return err;
    return add_key(a, kid, key);
}

static int purpose_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > SDV_AUTH_NAME_LEN_MAX)
        return 0;
    for (; *s != '\0'; s++) {
        char c = *s;

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

static int purpose_cmp(const void *x, const void *y)
{
    return strcmp(((const struct auth_purpose *)x)->name, ((const struct auth_purpose *)y)->name);
}

/* Parses one purpose object into p. */
static enum sdv_err purpose_parse(const char *name, const json_t *obj, struct auth_purpose *p,
                                  char *err, size_t err_len)
{
    char gerr[SDV_AUTH_MSG_LEN], shown[48];
    const char *key;
    const json_t *v;
    int64_t t;
    enum sdv_err e;

    if (!purpose_name_ok(name)) {
        sdv_msgf(err, err_len,
                 "purposes: name \"%s\" must be 1 to %u characters of A-Z a-z 0-9 _ . : -",
                 auth_printable(name, SIZE_MAX, shown, sizeof(shown)), SDV_AUTH_NAME_LEN_MAX);
        return SDV_EPARSE;
    }
    if (!json_is_object(obj)) {
        sdv_msgf(err, err_len, "purposes.%s: not an object", name);
        return SDV_EPARSE;
    }
    json_object_foreach((json_t *)obj, key, v)
    {
        if (strcmp(key, "expires") != 0 && strcmp(key, "not_before") != 0 &&
            strcmp(key, "description") != 0 && strcmp(key, "grants") != 0) {
            sdv_msgf(err, err_len, "purposes.%s: unknown field \"%s\"", name,
                     auth_printable(key, SIZE_MAX, shown, sizeof(shown)));
            return SDV_EPARSE;
        }
    }
    auth_strlcpy(p->name, sizeof(p->name), name);
    v = json_object_get(obj, "description");
    if (v != NULL && !json_is_string(v)) {
        sdv_msgf(err, err_len, "purposes.%s.description: not a string", name);
        return SDV_EPARSE;
    }
    v = json_object_get(obj, "expires");
    if (!json_is_string(v) || sdv_time_parse(json_string_value(v), &t) != SDV_OK ||
        t > INT64_MAX / 1000 || t < 0) {
        sdv_msgf(err, err_len,
                 "purposes.%s.expires: missing or not an RFC 3339 time (2030-01-01T00:00:00Z)",
                 name);
        return SDV_EPARSE;
    }
    p->expires_ms = t * 1000;
    p->not_before_ms = INT64_MIN;
    v = json_object_get(obj, "not_before");
    if (v != NULL) {
        if (!json_is_string(v) || sdv_time_parse(json_string_value(v), &t) != SDV_OK ||
            t > INT64_MAX / 1000 || t < 0) {
            sdv_msgf(err, err_len, "purposes.%s.not_before: not an RFC 3339 time", name);
            return SDV_EPARSE;
        }
        p->not_before_ms = t * 1000;
    }
    v = json_object_get(obj, "grants");
    if (v == NULL) {
        sdv_msgf(err, err_len, "purposes.%s.grants: missing", name);
        return SDV_EPARSE;
    }
    e = auth_grants_from_json(v, &p->grants, gerr, sizeof(gerr));
    if (e != SDV_OK) {
        sdv_msgf(err, err_len, "purposes.%s.%s", name, gerr);
        return e;
    }
    if (p->grants->n == 0) {
        sdv_msgf(err, err_len, "purposes.%s.grants: empty", name);
        return SDV_EPARSE;
    }
    return SDV_OK;
}

enum sdv_err sdv_auth_set_purposes(struct sdv_auth *a, const json_t *config, char *err,
                                   size_t err_len)
{
    struct auth_purpose *list = NULL;
    const json_t *purposes, *obj;
    const char *name;
    size_t n = 0, cap;
    enum sdv_err e;

    if (a == NULL || !json_is_object(config)) {
        sdv_msgf(err, err_len, "purposes: the configuration is not a JSON object");
        return SDV_EINVAL;
    }
    purposes = json_object_get(config, "purposes");
    if (!json_is_object(purposes)) {
        sdv_msgf(err, err_len, "purposes: missing or not an object of named purposes");
        return SDV_EPARSE;
    }
    cap = json_object_size(purposes);
    if (cap > SDV_AUTH_PURPOSES_MAX) {
        sdv_msgf(err, err_len, "purposes: more than %u", SDV_AUTH_PURPOSES_MAX);
        return SDV_ELIMIT;
    }
    if (cap > 0) {
        list = calloc(cap, sizeof(list[0]));
        if (list == NULL)
            return SDV_ENOMEM;
    }
    json_object_foreach((json_t *)purposes, name, obj)
    {
        e = purpose_parse(name, obj, &list[n], err, err_len);
        if (e != SDV_OK) {
            sdv_auth_grants_destroy(list[n].grants);
            purposes_free(list, n);
            return e;
        }
        n++;
    }
    if (n > 1)
        qsort(list, n, sizeof(list[0]), purpose_cmp);
    purposes_free(a->purposes, a->npurposes);
    a->purposes = list;
    a->npurposes = n;
    return SDV_OK;
}

void sdv_auth_set_audit(struct sdv_auth *a, struct sdv_auth_audit *au)
{
    a->audit = au;
}

/* ---- Rate limits ------------------------------------------------------------------------ */

enum sdv_auth_status sdv_auth_rate_take(struct sdv_auth *a, const struct sdv_auth_token *t)
{
    const uint64_t cap = (uint64_t)a->burst * 1000u, cost = 1000u;
    struct auth_bucket *b = NULL, *victim = NULL;
    enum sdv_auth_status st = SDV_AUTH_OK;
    uint32_t base;
    int64_t now;

    if (a->rate_per_s == 0)
        return SDV_AUTH_OK;
    now = a->clock(a->clock_ud);
    base = (uint32_t)(t->rate_key % a->buckets_max);
    pthread_mutex_lock(&a->rate_lock);
    for (uint32_t i = 0; i < RATE_PROBE; i++) {
        struct auth_bucket *s = &a->buckets[(base + i) % a->buckets_max];

        if (s->key_hash == t->rate_key) {
            b = s;
            break;
        }
        /* Free slots first, then the least recently used one. */
        if (victim == NULL ||
            (victim->key_hash != 0 && (s->key_hash == 0 || s->last_ms < victim->last_ms)))
            victim = s;
    }
    if (b == NULL) {
        b = victim;
        b->key_hash = t->rate_key;
        b->level_milli = cap;
        b->last_ms = now;
    }
    if (now > b->last_ms) {
        /* A rate of r requests/s refills r thousandths of a request per millisecond. */
        uint64_t elapsed = (uint64_t)(now - b->last_ms), room = cap - b->level_milli;

        /* Compared before multiplying: a long pause times a high rate would overflow. */
        if (elapsed >= room / a->rate_per_s + 1)
            b->level_milli = cap;
        else
            b->level_milli += elapsed * a->rate_per_s < room ? elapsed * a->rate_per_s : room;
        b->last_ms = now;
    }
    if (b->level_milli >= cost)
        b->level_milli -= cost;
    else
        st = SDV_AUTH_TOO_MANY_REQUESTS;
    pthread_mutex_unlock(&a->rate_lock);
    return st;
}

/* ---- Requests --------------------------------------------------------------------------- */

void auth_audit_denial(struct sdv_auth *a, const struct sdv_auth_token *t, const char *action,
                       const char *path, enum sdv_auth_status st, const char *reason)
{
    struct sdv_auth_audit_record rec;
    int64_t now, sec;
    uint64_t suppressed;

    if (a->audit == NULL)
        return;
    now = a->clock(a->clock_ud);
    sec = now / 1000;
    pthread_mutex_lock(&a->deny_lock);
    if (sec != a->deny_window_s) {
        a->deny_window_s = sec;
        a->deny_count = 0;
    }
    if (a->deny_count >= SDV_AUTH_AUDIT_DENIALS_PER_S) {
        a->deny_suppressed++;
        pthread_mutex_unlock(&a->deny_lock);
        return;
    }
    a->deny_count++;
    suppressed = a->deny_suppressed;
    a->deny_suppressed = 0;
    pthread_mutex_unlock(&a->deny_lock);

    memset(&rec, 0, sizeof(rec));
    rec.time_ms = now;
    rec.subject = t != NULL ? t->sub : "";
    rec.client = t != NULL ? t->client : "";
    rec.action = action;
    rec.path = path;
    rec.status = st;
    rec.reason = reason;
    rec.suppressed = suppressed;
    if (sdv_auth_audit_write(a->audit, &rec) != SDV_OK) {
        /* The denial stands either way; count it so the next line shows the gap. */
        pthread_mutex_lock(&a->deny_lock);
        a->deny_suppressed += suppressed + 1;
        pthread_mutex_unlock(&a->deny_lock);
    }
}

/* sdv_auth_request() and sdv_auth_request_more(): the same checks, audit and messages; only the
 * first signal of a request takes from the rate bucket. */
static enum sdv_auth_status request_check(struct sdv_auth *a, const struct sdv_auth_token *t,
                                          const char *path, enum sdv_auth_action action,
                                          bool take_rate, char *msg, size_t msg_len)
{
    char reason[SDV_AUTH_MSG_LEN];
    const char *aname = sdv_auth_action_name(action);
    enum sdv_auth_status st = SDV_AUTH_OK;
    int64_t now = a->clock(a->clock_ud);

    if (path == NULL)
        path = "";
    if (t == NULL) {
        st = SDV_AUTH_MISSING_TOKEN;
        sdv_msgf(reason, sizeof(reason), "no access token");
    } else if (now >= t->expiry_ms) {
        st = now >= t->exp_ms ? SDV_AUTH_EXPIRED_TOKEN : SDV_AUTH_FORBIDDEN;
        sdv_msgf(reason, sizeof(reason),
                 st == SDV_AUTH_EXPIRED_TOKEN ? "token expired" : "purpose \"%s\" has expired",
                 t->purpose);
    } else if (take_rate && sdv_auth_rate_take(a, t) != SDV_AUTH_OK) {
        st = SDV_AUTH_TOO_MANY_REQUESTS;
        sdv_msgf(reason, sizeof(reason), "rate limit of %u requests/s (burst %u) exceeded",
                 a->rate_per_s, a->burst);
    } else if ((sdv_auth_grants_actions(t->grants, path) & (unsigned)action) == 0) {
        st = SDV_AUTH_FORBIDDEN;
        char shown[128];

        sdv_msgf(reason, sizeof(reason), "token does not grant %s on %s", aname,
                 auth_printable(path, SIZE_MAX, shown, sizeof(shown)));
    }
    if (st != SDV_AUTH_OK) {
        sdv_msgf(msg, msg_len, "%s", reason);
        auth_audit_denial(a, t, aname, path, st, reason);
        return st;
    }
    if (action == SDV_AUTH_ACTUATE && a->audit != NULL) {
        struct sdv_auth_audit_record rec;

        if (t->purpose[0] != '\0')
            sdv_msgf(reason, sizeof(reason), "granted by purpose %s", t->purpose);
        else
            sdv_msgf(reason, sizeof(reason), "granted by scope");

        memset(&rec, 0, sizeof(rec));
        rec.time_ms = now;
        rec.subject = t->sub;
        rec.client = t->client;
        rec.action = aname;
        rec.path = path;
        rec.status = SDV_AUTH_OK;
        rec.reason = reason;
        if (sdv_auth_audit_write(a->audit, &rec) != SDV_OK) {
            sdv_msgf(msg, msg_len, "the audit log cannot be written; actuation refused");
            return SDV_AUTH_UNAVAILABLE;
        }
    }
    return SDV_AUTH_OK;
}

enum sdv_auth_status sdv_auth_request(struct sdv_auth *a, const struct sdv_auth_token *t,
                                      const char *path, enum sdv_auth_action action, char *msg,
                                      size_t msg_len)
{
    return request_check(a, t, path, action, true, msg, msg_len);
}

enum sdv_auth_status sdv_auth_request_more(struct sdv_auth *a, const struct sdv_auth_token *t,
                                           const char *path, enum sdv_auth_action action, char *msg,
                                           size_t msg_len)
{
    return request_check(a, t, path, action, false, msg, msg_len);
}
