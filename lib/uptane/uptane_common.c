/*
 * uptane_common.c - rule names, error messages, strict JSON readers, hash lists and signatures
 * shared by the rest of lib/uptane.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/tuf_repo.h>

#include "uptane_int.h"

const char *sdv_uptane_rule_name(enum sdv_uptane_rule rule)
{
    switch (rule) {
#define SDV_UPTANE_RULE_NAME_(name, num, msg) \
    case SDV_UPTANE_RULE_##name:              \
        return "SDV_UPTANE_RULE_" #name;
        SDV_UPTANE_RULE_MAP(SDV_UPTANE_RULE_NAME_)
#undef SDV_UPTANE_RULE_NAME_
    }
    return "SDV_UPTANE_RULE_UNKNOWN";
}

const char *sdv_uptane_rule_str(enum sdv_uptane_rule rule)
{
    switch (rule) {
#define SDV_UPTANE_RULE_STR_(name, num, msg) \
    case SDV_UPTANE_RULE_##name:             \
        return msg;
        SDV_UPTANE_RULE_MAP(SDV_UPTANE_RULE_STR_)
#undef SDV_UPTANE_RULE_STR_
    }
    return "unknown rule";
}

void uptane_err_clear(struct sdv_uptane_err *e)
{
    if (e == NULL)
        return;
    e->rule = SDV_UPTANE_RULE_NONE;
    e->ecu_serial[0] = '\0';
    e->msg[0] = '\0';
}

enum sdv_err uptane_fail(struct sdv_uptane_err *e, enum sdv_err code, enum sdv_uptane_rule rule,
                         const char *ecu, const char *fmt, ...)
{
    char detail[sizeof(e->msg)];
    va_list ap;

    if (e == NULL)
        return code;
    e->rule = rule;
    e->ecu_serial[0] = '\0';
    if (ecu != NULL)
        snprintf(e->ecu_serial, sizeof(e->ecu_serial), "%s", ecu);
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(e->msg, sizeof(e->msg), "%s%s%s%s%s", e->ecu_serial[0] != '\0' ? "ECU " : "",
             e->ecu_serial, e->ecu_serial[0] != '\0' ? ": " : "", sdv_uptane_rule_str(rule),
             detail[0] != '\0' ? ": " : "");
    /* Appended separately so a long detail is cut, never the rule. */
    snprintf(e->msg + strlen(e->msg), sizeof(e->msg) - strlen(e->msg), "%s", detail);
    return code;
}

enum sdv_err uptane_fail_lib(struct sdv_uptane_err *e, enum sdv_err code, const char *ecu,
                             const char *what)
{
    enum sdv_uptane_rule rule = SDV_UPTANE_RULE_INTERNAL;

    if (code == SDV_ETOOBIG)
        rule = SDV_UPTANE_RULE_TOO_BIG;
    else if (code == SDV_EINVAL)
        rule = SDV_UPTANE_RULE_ARGUMENT;
    return uptane_fail(e, code, rule, ecu, "%s: %s", what, sdv_strerror(code));
}

enum sdv_err uptane_get_string(const json_t *obj, const char *key, size_t len_max, const char *what,
                               const char *ecu, struct sdv_uptane_err *e, const char **out)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_string(v))
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, ecu, "%s: field \"%s\" is %s",
                           what, key, v == NULL ? "missing" : "not a string");
    if (json_string_length(v) > len_max)
        return uptane_fail(e, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, ecu,
                           "%s: field \"%s\" is %zu bytes, more than %zu", what, key,
                           json_string_length(v), len_max);
    *out = json_string_value(v);
    return SDV_OK;
}

enum sdv_err uptane_get_uint(const json_t *obj, const char *key, const char *what, const char *ecu,
                             struct sdv_uptane_err *e, uint64_t *out)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, ecu, "%s: field \"%s\" is %s",
                           what, key, v == NULL ? "missing" : "not an integer >= 0");
    *out = (uint64_t)json_integer_value(v);
    return SDV_OK;
}

enum sdv_err uptane_get_object(const json_t *obj, const char *key, const char *what,
                               const char *ecu, struct sdv_uptane_err *e, const json_t **out)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_object(v))
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, ecu, "%s: field \"%s\" is %s",
                           what, key, v == NULL ? "missing" : "not an object");
    *out = v;
    return SDV_OK;
}

enum sdv_err uptane_exact_keys(const json_t *obj, const char *const *keys, const char *what,
                               const char *ecu, struct sdv_uptane_err *e)
{
    const char *key;
    const json_t *v;
    size_t n = 0;

    for (; keys[n] != NULL; n++)
        if (json_object_get(obj, keys[n]) == NULL)
            return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, ecu,
                               "%s: field \"%s\" is missing", what, keys[n]);
    if (json_object_size(obj) == n)
        return SDV_OK;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool known = false;

        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(keys[i], key) == 0;
        if (!known)
            return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, ecu,
                               "%s: unexpected field \"%.64s\"", what, key);
    }
    return SDV_OK;
}

void uptane_copy_str(char *out, size_t out_len, const char *s)
{
    size_t n = strlen(s);

    /* Callers checked the length against the limit that sized out: a programmer error, so it
     * stops the program in release builds too (assert() would vanish under NDEBUG). */
    if (n >= out_len)
        abort();
    memcpy(out, s, n + 1);
}

int uptane_hash_find(const struct sdv_tuf_hash *hashes, size_t count, enum sdv_hash_alg alg)
{
    for (size_t i = 0; i < count; i++)
        if (hashes[i].alg == alg)
            return (int)i;
    return -1;
}

enum sdv_err uptane_hashes_parse(const json_t *obj, const char *what, const char *ecu,
                                 struct sdv_uptane_err *e, struct sdv_tuf_hash *hashes,
                                 size_t *count)
{
    const char *alg_name;
    const json_t *h;

    *count = 0;
    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, ecu,
                           "%s: \"hashes\" is not a non-empty object", what);
    if (json_object_size(obj) > SDV_TUF_TARGET_HASHES_MAX)
        return uptane_fail(e, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, ecu, "%s: more than %d hashes",
                           what, SDV_TUF_TARGET_HASHES_MAX);
    json_object_foreach((json_t *)obj, alg_name, h)
    {
        struct sdv_tuf_hash *th = &hashes[*count];
        size_t n;

        if (sdv_hash_alg_from_name(alg_name, &th->alg) != SDV_OK)
            return uptane_fail(e, SDV_EUNSUPPORTED, SDV_UPTANE_RULE_MALFORMED, ecu,
                               "%s: unknown hash algorithm \"%.32s\"", what, alg_name);
        if (!json_is_string(h) ||
            sdv_hex_decode(json_string_value(h), json_string_length(h), th->digest,
                           sizeof(th->digest), &n) != SDV_OK ||
            n != sdv_hash_len(th->alg))
            return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, ecu,
                               "%s: %s hash is not %zu hex bytes", what, alg_name,
                               sdv_hash_len(th->alg));
        (*count)++;
    }
    return SDV_OK;
}

enum sdv_err uptane_hashes_json(const struct sdv_tuf_hash *hashes, size_t count, const char *what,
                                const char *ecu, struct sdv_uptane_err *e, json_t **out)
{
    json_t *obj;

    *out = NULL;
    if (count == 0 || count > SDV_TUF_TARGET_HASHES_MAX)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, ecu,
                           "%s: %zu hashes, expected 1 to %d", what, count,
                           SDV_TUF_TARGET_HASHES_MAX);
    obj = json_object();
    if (obj == NULL)
        return uptane_fail_lib(e, SDV_ENOMEM, ecu, what);
    for (size_t i = 0; i < count; i++) {
        const char *name = sdv_hash_alg_name(hashes[i].alg);
        char hex[2 * SDV_HASH_LEN_MAX + 1];

        if (name == NULL || sdv_hash_len(hashes[i].alg) == 0 ||
            uptane_hash_find(hashes, i, hashes[i].alg) >= 0) {
            json_decref(obj);
            return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, ecu,
                               "%s: hash %zu has an unknown or repeated algorithm", what, i);
        }
        sdv_hex_encode(hashes[i].digest, sdv_hash_len(hashes[i].alg), hex);
        if (json_object_set_new(obj, name, json_string(hex)) != 0) {
            json_decref(obj);
            return uptane_fail_lib(e, SDV_ENOMEM, ecu, what);
        }
    }
    *out = obj;
    return SDV_OK;
}

enum sdv_err uptane_signatures_shape(const json_t *sigs, const char *what, const char *ecu,
                                     struct sdv_uptane_err *e)
{
    static const char *const sig_keys[] = {"keyid", "sig", NULL};
    const json_t *s;
    size_t i;

    if (!json_is_array(sigs) || json_array_size(sigs) == 0)
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, ecu,
                           "%s: \"signatures\" is not a non-empty array", what);
    if (json_array_size(sigs) > SDV_UPTANE_SIGNATURES_MAX)
        return uptane_fail(e, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, ecu,
                           "%s: %zu signatures, more than %d", what, json_array_size(sigs),
                           SDV_UPTANE_SIGNATURES_MAX);
    json_array_foreach(sigs, i, s)
    {
        const char *str;
        enum sdv_err err;

        if (!json_is_object(s))
            return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, ecu,
                               "%s: signature %zu is not an object", what, i);
        err = uptane_exact_keys(s, sig_keys, what, ecu, e);
        if (err == SDV_OK)
            err = uptane_get_string(s, "keyid", SDV_KEYID_STR_LEN - 1, what, ecu, e, &str);
        if (err == SDV_OK)
            err = uptane_get_string(s, "sig", 2 * SDV_SIG_LEN_MAX, what, ecu, e, &str);
        if (err != SDV_OK)
            return err;
    }
    return SDV_OK;
}

enum sdv_err uptane_count_signatures(const json_t *envelope, const struct sdv_key *const *keys,
                                     size_t count, size_t *valid)
{
    const json_t *sigs = json_object_get(envelope, "signatures");
    struct sdv_buf canon;
    enum sdv_err err;

    *valid = 0;
    sdv_buf_init(&canon, SDV_TUF_ROOT_MAX_LEN + SDV_UPTANE_MANIFEST_LEN_MAX);
    err = sdv_cjson_write(json_object_get(envelope, "signed"), &canon);
    for (size_t k = 0; err == SDV_OK && k < count; k++) {
        char keyid[SDV_KEYID_STR_LEN];
        bool dup = false;
        const json_t *s;
        size_t i;

        /* The same key given twice counts once. */
        for (size_t j = 0; j < k && !dup; j++)
            dup = keys[j] == keys[k];
        if (dup)
            continue;
        err = sdv_key_id(keys[k], keyid);
        if (err != SDV_OK)
            break;
        json_array_foreach(sigs, i, s)
        {
            const char *kid = json_string_value(json_object_get(s, "keyid"));
            const char *hex = json_string_value(json_object_get(s, "sig"));
            uint8_t sig[SDV_SIG_LEN_MAX];
            size_t sig_len;
            enum sdv_err verr;

            if (kid == NULL || hex == NULL || strcmp(kid, keyid) != 0)
                continue;
            if (sdv_hex_decode(hex, strlen(hex), sig, sizeof(sig), &sig_len) != SDV_OK)
                continue;
            verr = sdv_key_verify(keys[k], canon.data, canon.len, sig, sig_len);
            if (verr == SDV_OK) {
                (*valid)++;
                break;
            }
            if (verr != SDV_ESIG) {
                err = verr;
                break;
            }
        }
    }
    sdv_buf_free(&canon);
    return err;
}

enum sdv_err uptane_sign(json_t *envelope, const struct sdv_key *key, const char *what,
                         const char *ecu, struct sdv_uptane_err *e)
{
    enum sdv_err err;

    if (key == NULL || !sdv_key_has_private(key))
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_KEY, ecu,
                           "%s: the signing key is missing or has no private half", what);
    err = sdv_tuf_sign_json(envelope, key);
    if (err != SDV_OK)
        return uptane_fail(e, err, SDV_UPTANE_RULE_KEY, ecu, "%s: signing failed: %s", what,
                           sdv_strerror(err));
    return SDV_OK;
}

enum sdv_err uptane_parse_object(const void *data, size_t len, size_t len_max, const char *what,
                                 struct sdv_uptane_err *e, json_t **out)
{
    char jerr[160];
    enum sdv_err err;

    *out = NULL;
    if (data == NULL && len > 0)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL, "%s: no data", what);
    if (len > len_max)
        return uptane_fail(e, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, NULL,
                           "%s: %zu bytes, more than %zu", what, len, len_max);
    err = sdv_json_parse(data == NULL ? "" : data, len, out, jerr, sizeof(jerr));
    if (err != SDV_OK) {
        *out = NULL;
        return uptane_fail(e, err == SDV_ENOMEM ? err : SDV_EPARSE,
                           err == SDV_ENOMEM ? SDV_UPTANE_RULE_INTERNAL : SDV_UPTANE_RULE_MALFORMED,
                           NULL, "%s: not valid JSON: %s", what, jerr);
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, NULL, "%s: not a JSON object",
                           what);
    }
    return SDV_OK;
}

static int dump_cb(const char *data, size_t size, void *ud)
{
    return sdv_buf_append(ud, data, size) == SDV_OK ? 0 : -1;
}

enum sdv_err uptane_dump_compact(const json_t *v, struct sdv_buf *out)
{
    size_t start = out->len;

    if (json_dump_callback(v, dump_cb, out, JSON_COMPACT | JSON_SORT_KEYS) != 0) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return SDV_ETOOBIG;
    }
    return SDV_OK;
}

bool uptane_id_ok(const char *s, size_t len_max)
{
    size_t n;

    if (s == NULL)
        return false;
    n = strnlen(s, len_max + 1);
    return n > 0 && n <= len_max;
}
