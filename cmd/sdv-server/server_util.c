/*
 * server_util.c - small pieces every part of sdv-server uses: the store handle pool, the wall
 * clock, error answers, ETag matching for documents served from memory, hash and time JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

int64_t server_now(void)
{
    return (int64_t)time(NULL);
}

struct sdv_store *server_store_get(struct server *srv)
{
    struct server_store_pool *p = &srv->pool;
    struct sdv_store *s = NULL;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        for (size_t i = 0; i < p->n; i++) {
            if (!p->busy[i]) {
                p->busy[i] = true;
                s = p->h[i];
                break;
            }
        }
        if (s != NULL)
            break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return s;
}

void server_store_put(struct server *srv, struct sdv_store *s)
{
    struct server_store_pool *p = &srv->pool;

    if (s == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n; i++) {
        if (p->h[i] == s) {
            p->busy[i] = false;
            break;
        }
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void server_respond_store_error(struct sdv_httpd_request *req, struct sdv_store *st,
                                const char *what, enum sdv_err err)
{
    char msg[600];

    snprintf(msg, sizeof(msg), "%s: store failure (%s): %s", what, sdv_strerror(err),
             sdv_store_errmsg(st));
    sdv_httpd_respond_status(req, 500, msg);
}

const char *server_rule_name(enum sdv_uptane_rule rule)
{
    static const char prefix[] = "SDV_UPTANE_RULE_";
    const char *name = sdv_uptane_rule_name(rule);

    if (strncmp(name, prefix, sizeof(prefix) - 1) == 0)
        return name + sizeof(prefix) - 1;
    return name;
}

/* Compares one entity tag of an If-None-Match list (without W/) to "etag". */
static bool tag_equal(const char *p, size_t n, const char *etag)
{
    size_t len = strlen(etag);

    return n == len + 2 && p[0] == '"' && p[n - 1] == '"' && memcmp(p + 1, etag, len) == 0;
}

bool server_not_modified(struct sdv_httpd_request *req, const char *etag)
{
    const char *h = sdv_httpd_header(req, "If-None-Match"), *p;
    size_t guard = 0;

    if (h == NULL)
        return false;
    p = h;
    /* A bounded walk over "a", W/"b", * (the header itself is bounded by the server). */
    while (*p != '\0' && guard++ < SDV_HTTPD_HEADER_LEN_MAX) {
        const char *start, *end;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        start = p;
        if (strncmp(start, "W/", 2) == 0)
            start += 2;
        end = strchr(start, ',');
        if (end == NULL)
            end = start + strlen(start);
        p = end;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((end - start == 1 && start[0] == '*') ||
            tag_equal(start, (size_t)(end - start), etag)) {
            char quoted[160];

            snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
            sdv_httpd_respond_status(req, 304, NULL);
            sdv_httpd_response_header(req, "ETag", quoted);
            return true;
        }
    }
    return false;
}

json_t *server_hashes_json(const struct sdv_tuf_hash *hashes, size_t count)
{
    json_t *o = json_object();

    for (size_t i = 0; o != NULL && i < count; i++) {
        char hex[2 * SDV_HASH_LEN_MAX + 1];

        sdv_hex_encode(hashes[i].digest, sdv_hash_len(hashes[i].alg), hex);
        if (json_object_set_new(o, sdv_hash_alg_name(hashes[i].alg), json_string(hex)) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

enum sdv_err server_hashes_parse(const char *text, struct sdv_tuf_hash *hashes, size_t *count)
{
    json_t *o = NULL, *v;
    const char *name;
    enum sdv_err err = sdv_json_parse(text, strlen(text), &o, NULL, 0);

    *count = 0;
    if (err != SDV_OK)
        return SDV_EPARSE;
    if (!json_is_object(o) || json_object_size(o) == 0 ||
        json_object_size(o) > SDV_TUF_TARGET_HASHES_MAX) {
        json_decref(o);
        return SDV_EPARSE;
    }
    json_object_foreach(o, name, v)
    {
        struct sdv_tuf_hash *h = &hashes[*count];
        size_t n = 0;

        if (sdv_hash_alg_from_name(name, &h->alg) != SDV_OK || !json_is_string(v) ||
            sdv_hex_decode(json_string_value(v), json_string_length(v), h->digest,
                           sizeof(h->digest), &n) != SDV_OK ||
            n != sdv_hash_len(h->alg)) {
            json_decref(o);
            *count = 0;
            return SDV_EPARSE;
        }
        (*count)++;
    }
    json_decref(o);
    return SDV_OK;
}

json_t *server_time_json(int64_t t)
{
    char s[SDV_TIME_STR_LEN];

    if (sdv_time_format(t, s) != SDV_OK)
        return json_null();
    return json_string(s);
}

json_t *server_body_json(struct sdv_httpd_request *req)
{
    char err[160], msg[200];
    json_t *j = NULL;

    if (req->body == NULL || req->body_len == 0) {
        sdv_httpd_respond_status(req, 400, "request body: a JSON object is required");
        return NULL;
    }
    if (sdv_json_parse(req->body, req->body_len, &j, err, sizeof(err)) != SDV_OK) {
        snprintf(msg, sizeof(msg), "request body: not valid JSON: %s", err);
        sdv_httpd_respond_status(req, 400, msg);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        sdv_httpd_respond_status(req, 400, "request body: must be a JSON object");
        return NULL;
    }
    return j;
}

bool server_query_u64(struct sdv_httpd_request *req, const char *name, uint64_t def, uint64_t max,
                      uint64_t *out)
{
    const char *v = sdv_httpd_query(req, name);
    char *end, msg[160];
    unsigned long long n;

    *out = def;
    if (v == NULL)
        return true;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n > max) {
        snprintf(msg, sizeof(msg), "query parameter %s: must be a number from 0 to %llu", name,
                 (unsigned long long)max);
        sdv_httpd_respond_status(req, 400, msg);
        return false;
    }
    *out = n;
    return true;
}

bool server_id_ok(const char *s, size_t max)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++)
        if (n >= max || s[n] <= ' ' || s[n] > '~')
            return false;
    return n > 0;
}
