/*
 * broker_auth_scope.c - the scope grammar: grants compiled once (per token or purpose) into
 * segment tables, and the check of a signal path against them, which runs on every request
 * and, through the per-session cache, on the first event of each signal of a subscription.
 * Matching compares whole segments, so read:Vehicle.Cab never covers Vehicle.Cabin.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/broker_auth.h>

#include "broker_auth_int.h"

/* A cache entry is 0 (not computed) or CACHE_KNOWN | the action mask. */
#define CACHE_KNOWN 0x80u

struct sdv_auth_cache {
    uint64_t serial; /* the token the entries were computed for; 0: none yet */
    uint32_t n;
    uint8_t e[];
};

static int seg_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int action_mask(const char *s, size_t len, uint8_t *mask)
{
    if (len == 4 && memcmp(s, "read", 4) == 0) {
        *mask = SDV_AUTH_READ;
    } else if (len == 7 && memcmp(s, "actuate", 7) == 0) {
        *mask = SDV_AUTH_READ | SDV_AUTH_ACTUATE;
    } else if (len == 7 && memcmp(s, "provide", 7) == 0) {
        *mask = SDV_AUTH_READ | SDV_AUTH_PROVIDE;
    } else {
        return 0;
    }
    return 1;
}

int auth_grant_compile(const char *s, size_t len, struct auth_grant *out, char *err, size_t err_len)
{
    const char *colon = memchr(s, ':', len);
    const char *p, *end = s + len;
    size_t text_len = 0;
    char shown[64];

    if (colon == NULL || !action_mask(s, (size_t)(colon - s), &out->mask))
        return 0;
    auth_printable(s, len, shown, sizeof(shown));
    p = colon + 1;
    if (p == end) {
        sdv_msgf(err, err_len, "grant \"%s\": empty path", shown);
        return -1;
    }
    if ((size_t)(end - p) >= SDV_AUTH_PATH_LEN_MAX) {
        sdv_msgf(err, err_len, "grant \"%s...\": path longer than %u bytes", shown,
                 SDV_AUTH_PATH_LEN_MAX - 1);
        return -1;
    }
    out->segs = 0;
    for (;;) {
        const char *q = p;

        while (q < end && *q != '.')
            q++;
        if (out->segs == SDV_AUTH_PATH_SEGMENTS_MAX) {
            sdv_msgf(err, err_len, "grant \"%s\": more than %u levels", shown,
                     SDV_AUTH_PATH_SEGMENTS_MAX);
            return -1;
        }
        if (q == p) {
            sdv_msgf(err, err_len, "grant \"%s\": empty path segment", shown);
            return -1;
        }
        if (q - p == 1 && *p == '*') {
            out->seg_off[out->segs] = (uint16_t)text_len;
            out->seg_len[out->segs] = 0;
        } else {
            for (const char *c = p; c < q; c++) {
                if (!seg_char_ok(*c)) {
                    sdv_msgf(err, err_len,
                             "grant \"%s\": character '%c' not allowed in a path "
                             "(letters, digits, '_', '.' and a whole-segment '*')",
                             shown, *c >= 0x20 && *c < 0x7f ? *c : '?');
                    return -1;
                }
            }
            out->seg_off[out->segs] = (uint16_t)text_len;
            out->seg_len[out->segs] = (uint8_t)(q - p);
            memcpy(out->text + text_len, p, (size_t)(q - p));
            text_len += (size_t)(q - p);
        }
        out->segs++;
        if (q == end)
            break;
        p = q + 1;
    }
    assert(text_len < sizeof(out->text));
    out->text[text_len] = '\0';
    return 1;
}

/*
 * 1 if the grant's pattern covers path: every pattern segment matches the path segment at the
 * same level (literally, or any non-empty segment for "*"), and the path ends or continues
 * with a '.' right after the last one. One pass, no allocation.
 */
static int grant_covers(const struct auth_grant *g, const char *path)
{
    const char *p = path;

    for (unsigned i = 0; i < g->segs; i++) {
        const char *q = p;

        while (*q != '\0' && *q != '.')
            q++;
        if (q == p)
            return 0;
        if (g->seg_len[i] != 0 && ((size_t)(q - p) != g->seg_len[i] ||
                                   memcmp(p, g->text + g->seg_off[i], g->seg_len[i]) != 0))
            return 0;
        if (*q == '\0')
            return i + 1 == g->segs;
        p = q + 1;
    }
    return 1;
}

unsigned sdv_auth_grants_actions(const struct sdv_auth_grants *g, const char *path)
{
    unsigned mask = 0;

    if (g == NULL || path == NULL || path[0] == '\0')
        return 0;
    for (size_t i = 0; i < g->n; i++) {
        if ((g->g[i].mask & ~mask) != 0 && grant_covers(&g->g[i], path))
            mask |= g->g[i].mask;
    }
    return mask;
}

size_t sdv_auth_grants_count(const struct sdv_auth_grants *g)
{
    return g == NULL ? 0 : g->n;
}

static struct sdv_auth_grants *grants_alloc(size_t n)
{
    struct sdv_auth_grants *g = calloc(1, sizeof(*g) + n * sizeof(g->g[0]));

    return g;
}

enum sdv_err sdv_auth_grants_parse(const char *scope, size_t len, struct sdv_auth_grants **out,
                                   char *err, size_t err_len)
{
    struct auth_grant tmp[SDV_AUTH_GRANTS_MAX];
    struct sdv_auth_grants *g;
    size_t n = 0, i = 0;

    if ((scope == NULL && len > 0) || out == NULL)
        return SDV_EINVAL;
    *out = NULL;
    while (i < len) {
        size_t j = i;
        int rc;

        while (j < len && scope[j] != ' ')
            j++;
        if (j > i) {
            if (n == SDV_AUTH_GRANTS_MAX) {
                struct auth_grant extra;

                /* Foreign values past the limit are fine; one more grant is not. */
                rc = auth_grant_compile(scope + i, j - i, &extra, NULL, 0);
                if (rc != 0) {
                    sdv_msgf(err, err_len, "more than %u grants", SDV_AUTH_GRANTS_MAX);
                    return SDV_ELIMIT;
                }
            } else {
                rc = auth_grant_compile(scope + i, j - i, &tmp[n], err, err_len);
                if (rc < 0)
                    return SDV_EPARSE;
                n += (size_t)rc;
            }
        }
        i = j + 1;
    }
    g = grants_alloc(n);
    if (g == NULL)
        return SDV_ENOMEM;
    g->n = n;
    if (n > 0)
        memcpy(g->g, tmp, n * sizeof(tmp[0]));
    *out = g;
    return SDV_OK;
}

enum sdv_err auth_grants_from_json(const json_t *arr, struct sdv_auth_grants **out, char *err,
                                   size_t err_len)
{
    struct sdv_auth_grants *g;
    size_t n, i;

    if (!json_is_array(arr)) {
        sdv_msgf(err, err_len, "\"grants\" must be an array of strings");
        return SDV_EPARSE;
    }
    n = json_array_size(arr);
    if (n > SDV_AUTH_GRANTS_MAX) {
        sdv_msgf(err, err_len, "more than %u grants", SDV_AUTH_GRANTS_MAX);
        return SDV_ELIMIT;
    }
    g = grants_alloc(n);
    if (g == NULL)
        return SDV_ENOMEM;
    for (i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        const char *s = json_string_value(v);
        int rc;

        if (s == NULL) {
            sdv_msgf(err, err_len, "grants[%zu] is not a string", i);
            free(g);
            return SDV_EPARSE;
        }
        rc = auth_grant_compile(s, json_string_length(v), &g->g[i], err, err_len);
        if (rc == 0) {
            char shown[64];

            sdv_msgf(err, err_len, "grants[%zu] \"%s\": not read:, actuate: or provide:", i,
                     auth_printable(s, SIZE_MAX, shown, sizeof(shown)));
        }
        if (rc <= 0) {
            free(g);
            return SDV_EPARSE;
        }
    }
    g->n = n;
    *out = g;
    return SDV_OK;
}

enum sdv_err auth_grants_dup(const struct sdv_auth_grants *g, struct sdv_auth_grants **out)
{
    struct sdv_auth_grants *c = grants_alloc(g->n);

    if (c == NULL)
        return SDV_ENOMEM;
    c->n = g->n;
    if (g->n > 0)
        memcpy(c->g, g->g, g->n * sizeof(g->g[0]));
    *out = c;
    return SDV_OK;
}

void sdv_auth_grants_destroy(struct sdv_auth_grants *g)
{
    free(g);
}

enum sdv_err sdv_auth_cache_create(uint32_t signals, struct sdv_auth_cache **out)
{
    struct sdv_auth_cache *c;

    if (out == NULL || signals == 0 || signals > SDV_AUTH_CACHE_SIGNALS_MAX)
        return SDV_EINVAL;
    c = calloc(1, sizeof(*c) + signals);
    if (c == NULL)
        return SDV_ENOMEM;
    c->n = signals;
    *out = c;
    return SDV_OK;
}

void sdv_auth_cache_destroy(struct sdv_auth_cache *c)
{
    free(c);
}

unsigned sdv_auth_token_actions(const struct sdv_auth_token *t, const char *path)
{
    return t == NULL ? 0 : sdv_auth_grants_actions(t->grants, path);
}

enum sdv_auth_status sdv_auth_check(struct sdv_auth *a, const struct sdv_auth_token *t,
                                    const char *path, enum sdv_auth_action action,
                                    struct sdv_auth_cache *cache, uint32_t signal_id)
{
    unsigned mask;
    int64_t now;

    if (t == NULL)
        return SDV_AUTH_MISSING_TOKEN;
    now = a->clock(a->clock_ud);
    /* Past the purpose's expiry the token is still a valid token, but grants nothing. */
    if (now >= t->expiry_ms)
        return now >= t->exp_ms ? SDV_AUTH_EXPIRED_TOKEN : SDV_AUTH_FORBIDDEN;
    if (cache != NULL && signal_id < cache->n) {
        if (cache->serial != t->serial) {
            memset(cache->e, 0, cache->n);
            cache->serial = t->serial;
        }
        if (cache->e[signal_id] == 0)
            cache->e[signal_id] = (uint8_t)(CACHE_KNOWN | sdv_auth_grants_actions(t->grants, path));
        mask = cache->e[signal_id];
    } else {
        mask = sdv_auth_grants_actions(t->grants, path);
    }
    return (mask & (unsigned)action) != 0 ? SDV_AUTH_OK : SDV_AUTH_FORBIDDEN;
}
