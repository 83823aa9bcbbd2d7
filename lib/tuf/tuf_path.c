/*
 * tuf_path.c - which delegated role is trusted for which target path: glob patterns ("paths"),
 * hash prefixes ("path_hash_prefixes") and succinct hash bins ("succinct_roles").
 */
#include <stdio.h>
#include <string.h>

#include "tuf_int.h"

/* Matches one [set] at *pp against c; advances *pp past the set. Returns -1 for a malformed set
 * (no closing bracket), which is then treated as a literal '['. */
static int match_set(const char **pp, const char *end, char c)
{
    const char *p = *pp + 1;
    bool negate = false, found = false;

    if (p < end && (*p == '!' || *p == '^')) {
        negate = true;
        p++;
    }
    /* A ']' right after the opening bracket is a member, as in fnmatch. */
    for (const char *start = p; p < end && (*p != ']' || p == start); p++) {
        if (p + 2 < end && p[1] == '-' && p[2] != ']') {
            if ((unsigned char)c >= (unsigned char)p[0] && (unsigned char)c <= (unsigned char)p[2])
                found = true;
            p += 2;
        } else if (*p == c) {
            found = true;
        }
    }
    if (p >= end)
        return -1;
    *pp = p + 1;
    return found != negate;
}

/* Glob match of one segment (no '/' in either), iterative with single backtracking point. */
static bool match_segment(const char *p, const char *pend, const char *s, const char *send)
{
    const char *star_p = NULL, *star_s = NULL;

    while (s < send) {
        if (p < pend && *p == '*') {
            star_p = ++p;
            star_s = s;
            continue;
        }
        if (p < pend && *p == '?') {
            p++;
            s++;
            continue;
        }
        if (p < pend && *p == '[') {
            const char *q = p;
            int m = match_set(&q, pend, *s);

            if (m == 1) {
                p = q;
                s++;
                continue;
            }
            if (m == -1 && *s == '[') {
                p++;
                s++;
                continue;
            }
        } else if (p < pend && *p == *s) {
            p++;
            s++;
            continue;
        }
        if (star_p == NULL)
            return false;
        p = star_p;
        s = ++star_s;
    }
    while (p < pend && *p == '*')
        p++;
    return p == pend;
}

bool tuf_path_match(const char *pattern, const char *path)
{
    const char *p = pattern, *s = path;

    for (;;) {
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');

        if (pe == NULL)
            pe = p + strlen(p);
        if (se == NULL)
            se = s + strlen(s);
        if (!match_segment(p, pe, s, se))
            return false;
        if (*pe == '\0' || *se == '\0')
            return *pe == '\0' && *se == '\0';
        p = pe + 1;
        s = se + 1;
    }
}

static void path_digest_hex(const char *path, char hex[65])
{
    uint8_t d[32];

    if (sdv_hash_buf(SDV_HASH_SHA256, path, strlen(path), d) != SDV_OK) {
        hex[0] = '\0';
        return;
    }
    sdv_hex_encode(d, sizeof(d), hex);
}

bool tuf_role_matches(const struct tuf_delegated_role *role, const char *target_path)
{
    size_t i;

    if (role->paths != NULL) {
        for (i = 0; i < json_array_size(role->paths); i++)
            if (tuf_path_match(json_string_value(json_array_get(role->paths, i)), target_path))
                return true;
        return false;
    }
    if (role->hash_prefixes != NULL) {
        char hex[65];

        path_digest_hex(target_path, hex);
        for (i = 0; i < json_array_size(role->hash_prefixes); i++) {
            const char *prefix = json_string_value(json_array_get(role->hash_prefixes, i));

            if (hex[0] != '\0' && strncmp(hex, prefix, strlen(prefix)) == 0)
                return true;
        }
        return false;
    }
    return false;
}

enum sdv_err tuf_succinct_bin_name(const struct tuf_targets *t, const char *target_path, char *out,
                                   size_t out_len)
{
    uint8_t d[32];
    uint32_t first;
    unsigned bin, width;
    int n;

    if (sdv_hash_buf(SDV_HASH_SHA256, target_path, strlen(target_path), d) != SDV_OK)
        return SDV_ECRYPTO;
    first = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
    bin = first >> (32 - t->succinct_bit_len);
    width = (t->succinct_bit_len + 3) / 4;
    n = snprintf(out, out_len, "%s-%0*x", t->succinct_prefix, (int)width, bin);
    return n < 0 || (size_t)n >= out_len ? SDV_ETOOBIG : SDV_OK;
}
