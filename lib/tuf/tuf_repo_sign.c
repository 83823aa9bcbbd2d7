/*
 * tuf_repo_sign.c - building blocks of the repository tooling that need no repository: signing
 * and verifying metadata documents, the file serialization and succinct hash-bin naming.
 */
#include <string.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>
#include <sdv/tuf_repo.h>

#include "tuf_repo_int.h"

json_t *tuf_repo_signed(const json_t *md)
{
    json_t *s = json_object_get(md, "signed");

    return json_is_object(s) ? s : NULL;
}

int tuf_repo_array_has(const json_t *array, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(array, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

enum sdv_err sdv_tuf_sign_json(json_t *metadata, const struct sdv_key *key)
{
    json_t *sigs, *sig_obj;
    struct sdv_buf canon;
    uint8_t sig[SDV_SIG_LEN_MAX];
    char sig_hex[2 * SDV_SIG_LEN_MAX + 1];
    char keyid[SDV_KEYID_STR_LEN];
    size_t sig_len, i;
    enum sdv_err err;

    if (metadata == NULL || key == NULL || tuf_repo_signed(metadata) == NULL)
        return SDV_EINVAL;
    if (!sdv_key_has_private(key))
        return SDV_EINVAL;
    err = sdv_key_id(key, keyid);
    if (err != SDV_OK)
        return err;
    sdv_buf_init(&canon, TUF_REPO_META_LEN_MAX);
    err = sdv_cjson_write(tuf_repo_signed(metadata), &canon);
    if (err == SDV_OK)
        err = sdv_key_sign(key, canon.data, canon.len, sig, sizeof(sig), &sig_len);
    sdv_buf_free(&canon);
    if (err != SDV_OK)
        return err;
    sdv_hex_encode(sig, sig_len, sig_hex);

    sigs = json_object_get(metadata, "signatures");
    if (!json_is_array(sigs)) {
        sigs = json_array();
        if (sigs == NULL || json_object_set_new(metadata, "signatures", sigs) != 0)
            return SDV_ENOMEM;
    }
    json_array_foreach(sigs, i, sig_obj)
    {
        const char *kid = json_string_value(json_object_get(sig_obj, "keyid"));

        if (kid != NULL && strcmp(kid, keyid) == 0) {
            if (json_object_set_new(sig_obj, "sig", json_string(sig_hex)) != 0)
                return SDV_ENOMEM;
            return SDV_OK;
        }
    }
    sig_obj = json_pack("{s:s, s:s}", "keyid", keyid, "sig", sig_hex);
    if (sig_obj == NULL || json_array_append_new(sigs, sig_obj) != 0)
        return SDV_ENOMEM;
    return SDV_OK;
}

static int dump_to_buf(const char *data, size_t size, void *ud)
{
    return sdv_buf_append(ud, data, size) == SDV_OK ? 0 : -1;
}

enum sdv_err sdv_tuf_serialize(const json_t *metadata, struct sdv_buf *out)
{
    size_t start;

    if (metadata == NULL || out == NULL)
        return SDV_EINVAL;
    start = out->len;
    if (json_dump_callback(metadata, dump_to_buf, out,
                           JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) != 0) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return SDV_ETOOBIG;
    }
    return sdv_buf_putc(out, '\n');
}

enum sdv_err sdv_tuf_bin_for_path(const char *target_path, unsigned bit_length, const char *prefix,
                                  uint32_t *index, char *name, size_t name_len)
{
    uint8_t digest[32];
    uint32_t first, bin;
    unsigned digits;
    enum sdv_err err;
    int n;

    if (target_path == NULL || bit_length < 1 || bit_length > SDV_TUF_SUCCINCT_BIT_LEN_MAX)
        return SDV_EINVAL;
    err = sdv_hash_buf(SDV_HASH_SHA256, target_path, strlen(target_path), digest);
    if (err != SDV_OK)
        return err;
    first = (uint32_t)digest[0] << 24 | (uint32_t)digest[1] << 16 | (uint32_t)digest[2] << 8 |
            (uint32_t)digest[3];
    bin = first >> (32 - bit_length);
    if (index != NULL)
        *index = bin;
    if (name != NULL) {
        if (prefix == NULL)
            return SDV_EINVAL;
        digits = (bit_length + 3) / 4;
        n = snprintf(name, name_len, "%s-%0*x", prefix, (int)digits, (unsigned)bin);
        if (n < 0 || (size_t)n >= name_len)
            return SDV_ETOOBIG;
    }
    return SDV_OK;
}

enum sdv_err tuf_repo_count_valid(const json_t *md, const json_t *keyids, const json_t *keys,
                                  const struct sdv_buf *canon, unsigned *valid)
{
    json_t *sigs = json_object_get(md, "signatures");
    json_t *seen, *sig_obj;
    uint8_t sig[SDV_SIG_LEN_MAX];
    enum sdv_err err = SDV_OK;
    size_t i, sig_len;

    *valid = 0;
    if (!json_is_array(sigs))
        return SDV_OK;
    if (json_array_size(sigs) > SDV_TUF_SIGNATURES_MAX)
        return SDV_ELIMIT;
    seen = json_object();
    if (seen == NULL)
        return SDV_ENOMEM;
    json_array_foreach(sigs, i, sig_obj)
    {
        const char *kid = json_string_value(json_object_get(sig_obj, "keyid"));
        const char *hex = json_string_value(json_object_get(sig_obj, "sig"));
        struct sdv_key *key = NULL;

        if (kid == NULL || hex == NULL || !tuf_repo_array_has(keyids, kid) ||
            json_object_get(seen, kid) != NULL)
            continue;
        if (sdv_key_from_tuf(json_object_get(keys, kid), &key) != SDV_OK)
            continue;
        if (sdv_hex_decode(hex, strlen(hex), sig, sizeof(sig), &sig_len) == SDV_OK) {
            err = sdv_key_verify(key, canon->data, canon->len, sig, sig_len);
            if (err == SDV_OK) {
                (*valid)++;
                json_object_set_new(seen, kid, json_true());
            } else if (err == SDV_ESIG) {
                err = SDV_OK;
            }
        }
        sdv_key_destroy(key);
        if (err != SDV_OK)
            break;
    }
    json_decref(seen);
    return err;
}

static int valid_segments(const char *s, int allow_slash)
{
    const char *seg = s;
    size_t len = strlen(s);

    if (len == 0 || len > SDV_TUF_NAME_LEN_MAX)
        return 0;
    for (const char *p = s;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - seg);

            if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return 0;
            if (*p == '\0')
                break;
            if (!allow_slash)
                return 0;
            seg = p + 1;
        } else if ((unsigned char)*p < 0x20 || *p == '\\') {
            return 0;
        }
    }
    return 1;
}

int tuf_repo_valid_target_path(const char *path)
{
    return path != NULL && valid_segments(path, 1);
}

int tuf_repo_valid_role_name(const char *name)
{
    static const char *const reserved[] = {"root", "timestamp", "snapshot", "targets"};

    if (name == NULL || strlen(name) == 0 || strlen(name) > SDV_TUF_NAME_LEN_MAX ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcmp(name, reserved[i]) == 0)
            return 0;
    }
    for (const char *p = name; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20)
            return 0;
    }
    return 1;
}
