/*
 * brokerd_config.c - the JSON configuration of sdv-broker (reference: docs/broker-daemon.md).
 * Strict: unknown members are refused (a typo must not silently drop TLS or a rate limit), and
 * every error names the file and the member.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brokerd.h"

struct cfgp {
    const char *file; /* for messages */
    const char *dir;  /* relative paths are resolved here */
    char *err;
    size_t err_len;
};

static enum sdv_err cfail(struct cfgp *p, const char *member, const char *what)
{
    snprintf(p->err, p->err_len, "%s: %s: %s", p->file, member, what);
    return SDV_EPARSE;
}

static char *resolve(const char *dir, const char *name)
{
    size_t n;
    char *out;

    if (name[0] == '/' || dir[0] == '\0')
        return strdup(name);
    n = strlen(dir) + strlen(name) + 2;
    out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s/%s", dir, name);
    return out;
}

/* Checks that o has only members in allowed (NULL-terminated). */
static enum sdv_err only_keys(struct cfgp *p, const char *where, const json_t *o,
                              const char *const *allowed)
{
    const char *key;
    json_t *v;
    char member[160];

    json_object_foreach((json_t *)o, key, v)
    {
        size_t i;

        (void)v;
        for (i = 0; allowed[i] != NULL; i++) {
            if (strcmp(allowed[i], key) == 0)
                break;
        }
        if (allowed[i] == NULL) {
            snprintf(member, sizeof(member), "%s%s%s", where, where[0] ? "." : "", key);
            return cfail(p, member, "unknown member (see docs/broker-daemon.md)");
        }
    }
    return SDV_OK;
}

static enum sdv_err get_str(struct cfgp *p, const json_t *o, const char *where, const char *key,
                            bool required, bool is_file, char **out)
{
    const json_t *v = json_object_get(o, key);
    char member[160];

    snprintf(member, sizeof(member), "%s%s%s", where, where[0] ? "." : "", key);
    *out = NULL;
    if (v == NULL) {
        if (required)
            return cfail(p, member, "missing (required)");
        return SDV_OK;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return cfail(p, member, "must be a non-empty string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return cfail(p, member, "must not contain NUL");
    *out = is_file ? resolve(p->dir, json_string_value(v)) : strdup(json_string_value(v));
    return *out == NULL ? SDV_ENOMEM : SDV_OK;
}

static enum sdv_err get_u32(struct cfgp *p, const json_t *o, const char *where, const char *key,
                            uint32_t min, uint32_t max, uint32_t *out)
{
    const json_t *v = json_object_get(o, key);
    char member[160], what[96];

    if (v == NULL)
        return SDV_OK;
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
        json_integer_value(v) > (json_int_t)max) {
        snprintf(member, sizeof(member), "%s%s%s", where, where[0] ? "." : "", key);
        snprintf(what, sizeof(what), "must be an integer %u..%u", (unsigned)min, (unsigned)max);
        return cfail(p, member, what);
    }
    *out = (uint32_t)json_integer_value(v);
    return SDV_OK;
}

static const json_t *get_obj(struct cfgp *p, const json_t *o, const char *key, enum sdv_err *rc)
{
    const json_t *v = json_object_get(o, key);

    *rc = SDV_OK;
    if (v != NULL && !json_is_object(v)) {
        *rc = cfail(p, key, "must be an object");
        return NULL;
    }
    return v;
}

bool brokerd_is_loopback(const char *address)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcmp(address, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, address, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127u;
    if (inet_pton(AF_INET6, address, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

static enum sdv_err load_keys(struct cfgp *p, const json_t *keys, struct brokerd_config *c)
{
    static const char *const key_members[] = {"file", "kid", NULL};
    size_t i;
    const json_t *k;
    char where[64];
    enum sdv_err rc;

    if (!json_is_array(keys) || json_array_size(keys) == 0)
        return cfail(p, "keys", "must be a non-empty array of public key files");
    c->keys = calloc(json_array_size(keys), sizeof(*c->keys));
    if (c->keys == NULL)
        return SDV_ENOMEM;
    json_array_foreach(keys, i, k)
    {
        snprintf(where, sizeof(where), "keys[%zu]", i);
        c->n_keys = i + 1;
        if (json_is_string(k)) {
            json_t *tmp = json_pack("{sO}", "file", k);

            if (tmp == NULL)
                return SDV_ENOMEM;
            rc = get_str(p, tmp, where, "file", true, true, &c->keys[i].file);
            json_decref(tmp);
            if (rc != SDV_OK)
                return rc;
            continue;
        }
        if (!json_is_object(k))
            return cfail(p, where, "must be a file name or {\"file\": ..., \"kid\": ...}");
        if ((rc = only_keys(p, where, k, key_members)) != SDV_OK ||
            (rc = get_str(p, k, where, "file", true, true, &c->keys[i].file)) != SDV_OK ||
            (rc = get_str(p, k, where, "kid", false, false, &c->keys[i].kid)) != SDV_OK)
            return rc;
    }
    return SDV_OK;
}

static enum sdv_err load_purposes(struct cfgp *p, const json_t *v, struct brokerd_config *c)
{
    if (json_is_object(v)) {
        c->purposes = json_pack("{sO}", "purposes", v);
        return c->purposes == NULL ? SDV_ENOMEM : SDV_OK;
    }
    if (json_is_string(v)) {
        char *file = resolve(p->dir, json_string_value(v));
        struct sdv_buf raw;
        char why[200];
        enum sdv_err rc;

        if (file == NULL)
            return SDV_ENOMEM;
        sdv_buf_init(&raw, 1u << 20);
        rc = sdv_fs_read(file, &raw);
        if (rc == SDV_OK)
            rc = sdv_json_parse(raw.data, raw.len, &c->purposes, why, sizeof(why));
        else
            snprintf(why, sizeof(why), "%s", sdv_strerror(rc));
        sdv_buf_free(&raw);
        if (rc != SDV_OK) {
            snprintf(p->err, p->err_len, "%s: purposes: %s: %s", p->file, file, why);
            free(file);
            return rc;
        }
        free(file);
        if (!json_is_object(c->purposes) || json_object_get(c->purposes, "purposes") == NULL)
            return cfail(p, "purposes", "the file must hold {\"purposes\": {...}}");
        return SDV_OK;
    }
    return cfail(p, "purposes", "must be an object of purposes or the name of a JSON file");
}

enum sdv_err brokerd_config_load(const char *path, struct brokerd_config *c, char *err,
                                 size_t err_len)
{
    static const char *const top[] = {"catalog",
                                      "overlays",
                                      "vin",
                                      "audience",
                                      "issuer",
                                      "keys",
                                      "purposes",
                                      "rate_limit",
                                      "persistence",
                                      "listen",
                                      "socket",
                                      "audit_log",
                                      "audit_sync",
                                      "actuation_timeout_ms",
                                      "queue_len",
                                      "token_leeway_s",
                                      "shutdown_grace_ms",
                                      "log_level",
                                      "cpu_latency_us",
                                      "busy_poll_us",
                                      NULL};
    static const char *const rate_m[] = {"per_second", "burst", NULL};
    static const char *const pers_m[] = {"file", "interval_ms", NULL};
    static const char *const listen_m[] = {"address", "port", "tls_cert", "tls_key", NULL};
    struct cfgp p;
    struct sdv_buf raw;
    json_t *doc = NULL;
    const json_t *o, *v;
    char dir[1024], why[200];
    const char *slash;
    enum sdv_err rc;
    uint32_t port = 0;

    memset(c, 0, sizeof(*c));
    c->listen_port = -1;
    c->shutdown_grace_ms = 300;
    c->log_level = SDV_LOG_INFO;
    c->cpu_latency_us = -1;
    slash = strrchr(path, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash == NULL ? 0 : (int)(slash - path), path);
    if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    p.file = path;
    p.dir = dir;
    p.err = err;
    p.err_len = err_len;

    sdv_buf_init(&raw, 1u << 20);
    rc = sdv_fs_read(path, &raw);
    if (rc != SDV_OK) {
        snprintf(err, err_len, "%s: cannot read: %s", path, sdv_strerror(rc));
        sdv_buf_free(&raw);
        return rc;
    }
    rc = sdv_json_parse(raw.data, raw.len, &doc, why, sizeof(why));
    sdv_buf_free(&raw);
    if (rc != SDV_OK) {
        snprintf(err, err_len, "%s: %s", path, why);
        return rc;
    }
    if (!json_is_object(doc)) {
        rc = cfail(&p, "(top level)", "must be a JSON object");
        goto out;
    }
    if ((rc = only_keys(&p, "", doc, top)) != SDV_OK ||
        (rc = get_str(&p, doc, "", "catalog", true, true, &c->catalog)) != SDV_OK ||
        (rc = get_str(&p, doc, "", "vin", false, false, &c->vin)) != SDV_OK ||
        (rc = get_str(&p, doc, "", "audience", true, false, &c->audience)) != SDV_OK ||
        (rc = get_str(&p, doc, "", "issuer", false, false, &c->issuer)) != SDV_OK ||
        (rc = get_str(&p, doc, "", "socket", false, true, &c->socket_path)) != SDV_OK ||
        (rc = get_str(&p, doc, "", "audit_log", false, true, &c->audit_log)) != SDV_OK ||
        (rc = get_u32(&p, doc, "", "actuation_timeout_ms", 1, 600000, &c->actuation_timeout_ms)) !=
                SDV_OK ||
        (rc = get_u32(&p, doc, "", "queue_len", 1, SDV_BROKER_SUB_QUEUE_LEN_MAX, &c->queue_len)) !=
                SDV_OK ||
        (rc = get_u32(&p, doc, "", "token_leeway_s", 0, SDV_AUTH_LEEWAY_S_MAX, &c->leeway_s)) !=
                SDV_OK ||
        (rc = get_u32(&p, doc, "", "shutdown_grace_ms", 0, 60000, &c->shutdown_grace_ms)) !=
                SDV_OK ||
        (rc = get_u32(&p, doc, "", "busy_poll_us", 0, BROKERD_BUSY_POLL_US_MAX,
                      &c->busy_poll_us)) != SDV_OK)
        goto out;
    if (json_object_get(doc, "cpu_latency_us") != NULL) {
        uint32_t us;

        rc = get_u32(&p, doc, "", "cpu_latency_us", 0, BROKERD_CPU_LATENCY_US_MAX, &us);
        if (rc != SDV_OK)
            goto out;
        c->cpu_latency_us = (int32_t)us;
    }
    v = json_object_get(doc, "log_level");
    if (v != NULL) {
        static const char *const levels[] = {"error", "warn", "info", "debug"};
        int i;

        for (i = 0; i < 4; i++) {
            if (json_is_string(v) && strcmp(json_string_value(v), levels[i]) == 0)
                break;
        }
        if (i == 4) {
            rc = cfail(&p, "log_level", "must be \"error\", \"warn\", \"info\" or \"debug\"");
            goto out;
        }
        c->log_level = i;
    }
    v = json_object_get(doc, "audit_sync");
    if (v != NULL) {
        if (!json_is_boolean(v)) {
            rc = cfail(&p, "audit_sync", "must be true or false");
            goto out;
        }
        c->audit_sync = json_is_true(v);
    }
    v = json_object_get(doc, "overlays");
    if (v != NULL) {
        size_t i;
        const json_t *f;

        if (!json_is_array(v)) {
            rc = cfail(&p, "overlays", "must be an array of file names");
            goto out;
        }
        c->overlays = calloc(json_array_size(v) + 1, sizeof(char *));
        if (c->overlays == NULL) {
            rc = SDV_ENOMEM;
            goto out;
        }
        json_array_foreach(v, i, f)
        {
            if (!json_is_string(f) || json_string_length(f) == 0) {
                snprintf(why, sizeof(why), "overlays[%zu]", i);
                rc = cfail(&p, why, "must be a file name");
                goto out;
            }
            c->overlays[i] = resolve(dir, json_string_value(f));
            c->n_overlays = i + 1;
            if (c->overlays[i] == NULL) {
                rc = SDV_ENOMEM;
                goto out;
            }
        }
    }
    v = json_object_get(doc, "keys");
    if (v == NULL) {
        rc = cfail(&p, "keys", "missing (required: the public keys that sign access tokens)");
        goto out;
    }
    if ((rc = load_keys(&p, v, c)) != SDV_OK)
        goto out;
    v = json_object_get(doc, "purposes");
    if (v != NULL && (rc = load_purposes(&p, v, c)) != SDV_OK)
        goto out;
    o = get_obj(&p, doc, "rate_limit", &rc);
    if (rc != SDV_OK)
        goto out;
    if (o != NULL &&
        ((rc = only_keys(&p, "rate_limit", o, rate_m)) != SDV_OK ||
         (rc = get_u32(&p, o, "rate_limit", "per_second", 0, 1000000, &c->rate_per_s)) != SDV_OK ||
         (rc = get_u32(&p, o, "rate_limit", "burst", 0, 1000000, &c->rate_burst)) != SDV_OK))
        goto out;
    o = get_obj(&p, doc, "persistence", &rc);
    if (rc != SDV_OK)
        goto out;
    if (o != NULL &&
        ((rc = only_keys(&p, "persistence", o, pers_m)) != SDV_OK ||
         (rc = get_str(&p, o, "persistence", "file", true, true, &c->persist_file)) != SDV_OK ||
         (rc = get_u32(&p, o, "persistence", "interval_ms", 10, 86400000,
                       &c->persist_interval_ms)) != SDV_OK))
        goto out;
    o = get_obj(&p, doc, "listen", &rc);
    if (rc != SDV_OK)
        goto out;
    if (o != NULL) {
        if ((rc = only_keys(&p, "listen", o, listen_m)) != SDV_OK ||
            (rc = get_str(&p, o, "listen", "address", true, false, &c->listen_address)) != SDV_OK ||
            (rc = get_u32(&p, o, "listen", "port", 0, 65535, &port)) != SDV_OK ||
            (rc = get_str(&p, o, "listen", "tls_cert", false, true, &c->tls_cert)) != SDV_OK ||
            (rc = get_str(&p, o, "listen", "tls_key", false, true, &c->tls_key)) != SDV_OK)
            goto out;
        if (json_object_get(o, "port") == NULL) {
            rc = cfail(&p, "listen.port", "missing (required; 0 picks a free port)");
            goto out;
        }
        c->listen_port = (int)port;
        if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
            rc = cfail(&p, "listen", "tls_cert and tls_key go together");
            goto out;
        }
        if (c->tls_cert == NULL && !brokerd_is_loopback(c->listen_address)) {
            rc = cfail(&p, "listen.address",
                       "plain ws:// and http:// are only allowed on a loopback address; set "
                       "tls_cert and tls_key");
            goto out;
        }
    }
    if (c->listen_address == NULL && c->socket_path == NULL) {
        rc = cfail(&p, "listen", "neither \"listen\" nor \"socket\" is set: nothing to serve");
        goto out;
    }
    if (c->socket_path != NULL && strlen(c->socket_path) >= 100) {
        rc = cfail(&p, "socket", "path too long for a Unix socket (at most 99 bytes)");
        goto out;
    }
    rc = SDV_OK;
out:
    json_decref(doc);
    if (rc != SDV_OK) {
        if (rc == SDV_ENOMEM)
            snprintf(err, err_len, "%s: out of memory", path);
        brokerd_config_free(c);
    }
    return rc;
}

void brokerd_config_free(struct brokerd_config *c)
{
    size_t i;

    free(c->catalog);
    for (i = 0; i < c->n_overlays; i++)
        free(c->overlays[i]);
    free(c->overlays);
    free(c->vin);
    free(c->audience);
    free(c->issuer);
    for (i = 0; i < c->n_keys; i++) {
        free(c->keys[i].kid);
        free(c->keys[i].file);
    }
    free(c->keys);
    json_decref(c->purposes);
    free(c->persist_file);
    free(c->listen_address);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->socket_path);
    free(c->audit_log);
    memset(c, 0, sizeof(*c));
}
