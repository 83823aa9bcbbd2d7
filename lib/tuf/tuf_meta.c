/*
 * tuf_meta.c - parsing and validation of TUF metadata files (root, timestamp, snapshot, targets
 * and delegated targets). Every field the client relies on is type- and range-checked here, so
 * the workflow code can trust the structures; unknown fields are left in the document untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tuf_int.h"

void tuf_errf(struct tuf_err *e, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL || e->msg == NULL || e->msg_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(e->msg, e->msg_len, fmt, ap);
    va_end(ap);
}

static const char *const type_names[] = {"root", "timestamp", "snapshot", "targets"};

static enum sdv_err get_int(const json_t *obj, const char *key, const char *role, int64_t min,
                            int64_t *out, struct tuf_err *e)
{
    const json_t *v = json_object_get(obj, key);

    if (v == NULL) {
        tuf_errf(e, "%s: missing field \"%s\"", role, key);
        return SDV_EPARSE;
    }
    if (!json_is_integer(v)) {
        tuf_errf(e, "%s: field \"%s\" is not an integer", role, key);
        return SDV_EPARSE;
    }
    if (json_integer_value(v) < min) {
        tuf_errf(e, "%s: field \"%s\" is %lld, below the minimum %lld", role, key,
                 (long long)json_integer_value(v), (long long)min);
        return SDV_EPARSE;
    }
    *out = json_integer_value(v);
    return SDV_OK;
}

static enum sdv_err get_string(const json_t *obj, const char *key, const char *role,
                               const char **out, struct tuf_err *e)
{
    const json_t *v = json_object_get(obj, key);

    if (v == NULL || !json_is_string(v)) {
        tuf_errf(e, "%s: field \"%s\" is %s", role, key, v == NULL ? "missing" : "not a string");
        return SDV_EPARSE;
    }
    *out = json_string_value(v);
    return SDV_OK;
}

static enum sdv_err get_object(const json_t *obj, const char *key, const char *role,
                               const json_t **out, struct tuf_err *e)
{
    const json_t *v = json_object_get(obj, key);

    if (v == NULL || !json_is_object(v)) {
        tuf_errf(e, "%s: field \"%s\" is %s", role, key, v == NULL ? "missing" : "not an object");
        return SDV_EPARSE;
    }
    *out = v;
    return SDV_OK;
}

static void meta_free(struct tuf_meta *m)
{
    json_decref(m->doc);
    sdv_buf_free(&m->raw);
    memset(m, 0, sizeof(*m));
}

/* Parses the envelope and the header fields common to every role. Takes raw. */
static enum sdv_err meta_parse(struct sdv_buf *raw, enum tuf_role_type type, const char *role,
                               struct tuf_meta *m, struct tuf_err *e)
{
    char jerr[160];
    const json_t *sigs, *v;
    const char *s;
    enum sdv_err err;
    size_t i;

    memset(m, 0, sizeof(*m));
    m->raw = *raw;
    sdv_buf_init(raw, raw->max);
    m->type = type;

    err = sdv_json_parse(m->raw.data, m->raw.len, &m->doc, jerr, sizeof(jerr));
    if (err != SDV_OK) {
        tuf_errf(e, "%s: not valid JSON: %s", role, jerr);
        return SDV_EPARSE;
    }
    if (!json_is_object(m->doc)) {
        tuf_errf(e, "%s: metadata is not a JSON object", role);
        return SDV_EPARSE;
    }
    err = get_object(m->doc, "signed", role, &m->signed_obj, e);
    if (err != SDV_OK)
        return err;
    sigs = json_object_get(m->doc, "signatures");
    if (sigs == NULL || !json_is_array(sigs)) {
        tuf_errf(e, "%s: field \"signatures\" is missing or not an array", role);
        return SDV_EPARSE;
    }
    if (json_array_size(sigs) > SDV_TUF_SIGNATURES_MAX) {
        tuf_errf(e, "%s: %zu signatures, more than the limit %d", role, json_array_size(sigs),
                 SDV_TUF_SIGNATURES_MAX);
        return SDV_ETOOBIG;
    }
    json_array_foreach(sigs, i, v)
    {
        const char *keyid, *sig;

        if (!json_is_object(v) || get_string(v, "keyid", role, &keyid, e) != SDV_OK ||
            get_string(v, "sig", role, &sig, e) != SDV_OK) {
            tuf_errf(e, "%s: signature %zu is not an object with string \"keyid\" and \"sig\"",
                     role, i);
            return SDV_EPARSE;
        }
    }

    err = get_string(m->signed_obj, "_type", role, &s, e);
    if (err != SDV_OK)
        return err;
    if (strcmp(s, type_names[type]) != 0) {
        tuf_errf(e, "%s: _type is \"%s\", expected \"%s\"", role, s, type_names[type]);
        return SDV_EPARSE;
    }
    err = get_string(m->signed_obj, "spec_version", role, &s, e);
    if (err != SDV_OK)
        return err;
    /* Clients must refuse metadata of another major version of the specification. */
    if (s[0] != '1' || s[1] != '.') {
        tuf_errf(e, "%s: unsupported spec_version \"%s\" (this client implements 1.x)", role, s);
        return SDV_EUNSUPPORTED;
    }
    err = get_int(m->signed_obj, "version", role, 1, &m->version, e);
    if (err != SDV_OK)
        return err;
    err = get_string(m->signed_obj, "expires", role, &s, e);
    if (err != SDV_OK)
        return err;
    if (sdv_time_parse(s, &m->expires) != SDV_OK) {
        tuf_errf(e, "%s: \"expires\" is not an RFC 3339 time: \"%s\"", role, s);
        return SDV_EPARSE;
    }
    return SDV_OK;
}

static void keyring_free(struct tuf_keyring *kr)
{
    for (size_t i = 0; i < kr->count; i++)
        sdv_key_destroy(kr->keys[i].key);
    free(kr->keys);
    memset(kr, 0, sizeof(*kr));
}

static enum sdv_err keyring_parse(const json_t *keys, const char *role, struct tuf_keyring *kr,
                                  struct tuf_err *e)
{
    const char *keyid;
    const json_t *v;

    if (json_object_size(keys) > SDV_TUF_KEYS_MAX) {
        tuf_errf(e, "%s: %zu keys, more than the limit %d", role, json_object_size(keys),
                 SDV_TUF_KEYS_MAX);
        return SDV_ETOOBIG;
    }
    kr->keys = calloc(json_object_size(keys) + 1, sizeof(*kr->keys));
    if (kr->keys == NULL)
        return SDV_ENOMEM;
    json_object_foreach((json_t *)keys, keyid, v)
    {
        struct tuf_key *k = &kr->keys[kr->count++];
        enum sdv_err err;

        k->keyid = keyid;
        if (!json_is_object(v) || !json_is_string(json_object_get(v, "keytype")) ||
            !json_is_string(json_object_get(v, "scheme")) ||
            !json_is_object(json_object_get(v, "keyval"))) {
            tuf_errf(e, "%s: key %s is not a key object with keytype, scheme and keyval", role,
                     keyid);
            return SDV_EPARSE;
        }
        err = sdv_key_from_tuf(v, &k->key);
        if (err == SDV_EUNSUPPORTED) {
            /* Kept but never counted: a repository may list keys for newer clients. */
            k->key = NULL;
        } else if (err != SDV_OK) {
            tuf_errf(e, "%s: key %s cannot be parsed: %s", role, keyid, sdv_strerror(err));
            return SDV_EPARSE;
        }
        if (k->key != NULL && sdv_key_id(k->key, k->canon_id) != SDV_OK) {
            tuf_errf(e, "%s: key %s: cannot compute its key id", role, keyid);
            return SDV_ECRYPTO;
        }
    }
    return SDV_OK;
}

static enum sdv_err role_keys_parse(const json_t *obj, const char *role, struct tuf_role_keys *rk,
                                    struct tuf_err *e)
{
    const json_t *ids = json_object_get(obj, "keyids");
    int64_t threshold;
    enum sdv_err err;

    if (ids == NULL || !json_is_array(ids)) {
        tuf_errf(e, "%s: \"keyids\" is missing or not an array", role);
        return SDV_EPARSE;
    }
    if (json_array_size(ids) > SDV_TUF_KEYS_MAX) {
        tuf_errf(e, "%s: too many keyids", role);
        return SDV_ETOOBIG;
    }
    err = get_int(obj, "threshold", role, 1, &threshold, e);
    if (err != SDV_OK)
        return err;
    rk->threshold = (uint64_t)threshold;
    rk->keyids = calloc(json_array_size(ids) + 1, sizeof(*rk->keyids));
    if (rk->keyids == NULL)
        return SDV_ENOMEM;
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const json_t *id = json_array_get(ids, i);

        if (!json_is_string(id)) {
            tuf_errf(e, "%s: keyid %zu is not a string", role, i);
            return SDV_EPARSE;
        }
        for (size_t j = 0; j < rk->keyid_count; j++) {
            if (strcmp(rk->keyids[j], json_string_value(id)) == 0) {
                tuf_errf(e, "%s: keyid %s is listed twice", role, json_string_value(id));
                return SDV_EPARSE;
            }
        }
        rk->keyids[rk->keyid_count++] = json_string_value(id);
    }
    return SDV_OK;
}

static void role_keys_free(struct tuf_role_keys *rk)
{
    free(rk->keyids);
    memset(rk, 0, sizeof(*rk));
}

void tuf_root_free(struct tuf_root *r)
{
    if (r == NULL)
        return;
    keyring_free(&r->keyring);
    for (int i = 0; i < 4; i++)
        role_keys_free(&r->roles[i]);
    meta_free(&r->meta);
}

enum sdv_err tuf_root_parse(struct sdv_buf *raw, struct tuf_root *out, struct tuf_err *e)
{
    const json_t *keys, *roles, *cs;
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = meta_parse(raw, TUF_ROOT, "root", &out->meta, e);
    if (err != SDV_OK)
        goto fail;
    cs = json_object_get(out->meta.signed_obj, "consistent_snapshot");
    if (cs != NULL && !json_is_boolean(cs)) {
        tuf_errf(e, "root: \"consistent_snapshot\" is not a boolean");
        err = SDV_EPARSE;
        goto fail;
    }
    out->consistent_snapshot = json_is_true(cs);
    err = get_object(out->meta.signed_obj, "keys", "root", &keys, e);
    if (err != SDV_OK)
        goto fail;
    err = keyring_parse(keys, "root", &out->keyring, e);
    if (err != SDV_OK)
        goto fail;
    err = get_object(out->meta.signed_obj, "roles", "root", &roles, e);
    if (err != SDV_OK)
        goto fail;
    for (int i = 0; i < 4; i++) {
        const json_t *r = json_object_get(roles, type_names[i]);
        char what[40];

        if (r == NULL || !json_is_object(r)) {
            tuf_errf(e, "root: role \"%s\" is missing from \"roles\"", type_names[i]);
            err = SDV_EPARSE;
            goto fail;
        }
        snprintf(what, sizeof(what), "root: role %s", type_names[i]);
        err = role_keys_parse(r, what, &out->roles[i], e);
        if (err != SDV_OK)
            goto fail;
    }
    return SDV_OK;
fail:
    tuf_root_free(out);
    return err;
}

/* Validates a metafile entry (version, optional length and hashes). */
static enum sdv_err metafile_parse(const json_t *obj, const char *role, const char *name,
                                   struct tuf_metafile *out, struct tuf_err *e)
{
    const json_t *len, *hashes;
    const char *alg;
    const json_t *h;
    char what[SDV_TUF_NAME_LEN_MAX + 64];

    snprintf(what, sizeof(what), "%s: meta entry \"%s\"", role, name);
    if (!json_is_object(obj)) {
        tuf_errf(e, "%s is not an object", what);
        return SDV_EPARSE;
    }
    if (get_int(obj, "version", what, 1, &out->version, e) != SDV_OK)
        return SDV_EPARSE;
    out->length = -1;
    len = json_object_get(obj, "length");
    if (len != NULL && (get_int(obj, "length", what, 1, &out->length, e) != SDV_OK))
        return SDV_EPARSE;
    hashes = json_object_get(obj, "hashes");
    out->hashes = NULL;
    if (hashes != NULL) {
        if (!json_is_object(hashes) || json_object_size(hashes) == 0) {
            tuf_errf(e, "%s: \"hashes\" is not a non-empty object", what);
            return SDV_EPARSE;
        }
        json_object_foreach((json_t *)hashes, alg, h)
        {
            if (!json_is_string(h)) {
                tuf_errf(e, "%s: hash \"%s\" is not a string", what, alg);
                return SDV_EPARSE;
            }
        }
        out->hashes = hashes;
    }
    return SDV_OK;
}

void tuf_timestamp_free(struct tuf_timestamp *t)
{
    if (t != NULL)
        meta_free(&t->meta);
}

enum sdv_err tuf_timestamp_parse(struct sdv_buf *raw, struct tuf_timestamp *out, struct tuf_err *e)
{
    const json_t *meta;
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = meta_parse(raw, TUF_TIMESTAMP, "timestamp", &out->meta, e);
    if (err == SDV_OK)
        err = get_object(out->meta.signed_obj, "meta", "timestamp", &meta, e);
    if (err == SDV_OK && json_object_get(meta, "snapshot.json") == NULL) {
        tuf_errf(e, "timestamp: \"meta\" has no \"snapshot.json\" entry");
        err = SDV_EPARSE;
    }
    if (err == SDV_OK)
        err = metafile_parse(json_object_get(meta, "snapshot.json"), "timestamp", "snapshot.json",
                             &out->snapshot, e);
    if (err != SDV_OK)
        tuf_timestamp_free(out);
    return err;
}

void tuf_snapshot_free(struct tuf_snapshot *s)
{
    if (s != NULL)
        meta_free(&s->meta);
}

enum sdv_err tuf_snapshot_parse(struct sdv_buf *raw, struct tuf_snapshot *out, struct tuf_err *e)
{
    const char *name;
    const json_t *v;
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = meta_parse(raw, TUF_SNAPSHOT, "snapshot", &out->meta, e);
    if (err == SDV_OK)
        err = get_object(out->meta.signed_obj, "meta", "snapshot", &out->files, e);
    if (err == SDV_OK) {
        json_object_foreach((json_t *)out->files, name, v)
        {
            struct tuf_metafile mf;

            err = metafile_parse(v, "snapshot", name, &mf, e);
            if (err != SDV_OK)
                break;
        }
    }
    if (err != SDV_OK)
        tuf_snapshot_free(out);
    return err;
}

enum sdv_err tuf_snapshot_lookup(const struct tuf_snapshot *s, const char *file_name,
                                 struct tuf_metafile *out)
{
    const json_t *v = json_object_get(s->files, file_name);

    if (v == NULL)
        return SDV_ENOENT;
    /* Validated at parse time. */
    return metafile_parse(v, "snapshot", file_name, out, NULL);
}

/* Validates one target file entry. */
static enum sdv_err target_validate(const char *path, const json_t *obj, const char *role,
                                    struct tuf_err *e)
{
    const json_t *hashes, *h, *custom;
    const char *alg;
    int64_t length;

    if (!json_is_object(obj)) {
        tuf_errf(e, "%s: target \"%s\" is not an object", role, path);
        return SDV_EPARSE;
    }
    if (get_int(obj, "length", role, 0, &length, e) != SDV_OK) {
        tuf_errf(e, "%s: target \"%s\" has no valid non-negative \"length\"", role, path);
        return SDV_EPARSE;
    }
    hashes = json_object_get(obj, "hashes");
    if (hashes == NULL || !json_is_object(hashes) || json_object_size(hashes) == 0) {
        tuf_errf(e, "%s: target \"%s\" has no non-empty \"hashes\" object", role, path);
        return SDV_EPARSE;
    }
    json_object_foreach((json_t *)hashes, alg, h)
    {
        if (!json_is_string(h)) {
            tuf_errf(e, "%s: target \"%s\": hash \"%s\" is not a string", role, path, alg);
            return SDV_EPARSE;
        }
    }
    custom = json_object_get(obj, "custom");
    if (custom != NULL && !json_is_object(custom)) {
        tuf_errf(e, "%s: target \"%s\": \"custom\" is not an object", role, path);
        return SDV_EPARSE;
    }
    return SDV_OK;
}

static bool reserved_role_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, type_names[i]) == 0)
            return true;
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || name[0] == '\0';
}

static enum sdv_err string_array_check(const json_t *a, const char *what, struct tuf_err *e)
{
    if (!json_is_array(a)) {
        tuf_errf(e, "%s is not an array", what);
        return SDV_EPARSE;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (!json_is_string(json_array_get(a, i))) {
            tuf_errf(e, "%s: entry %zu is not a string", what, i);
            return SDV_EPARSE;
        }
    }
    return SDV_OK;
}

static enum sdv_err delegations_parse(const json_t *d, const char *role, struct tuf_targets *t,
                                      struct tuf_err *e)
{
    const json_t *keys, *roles, *succinct;
    char what[SDV_TUF_NAME_LEN_MAX + 64];
    enum sdv_err err;

    if (!json_is_object(d)) {
        tuf_errf(e, "%s: \"delegations\" is not an object", role);
        return SDV_EPARSE;
    }
    t->has_delegations = true;
    snprintf(what, sizeof(what), "%s: delegations", role);
    err = get_object(d, "keys", what, &keys, e);
    if (err != SDV_OK)
        return err;
    err = keyring_parse(keys, what, &t->delegation_keys, e);
    if (err != SDV_OK)
        return err;
    roles = json_object_get(d, "roles");
    succinct = json_object_get(d, "succinct_roles");
    if ((roles == NULL) == (succinct == NULL)) {
        tuf_errf(e, "%s must have exactly one of \"roles\" and \"succinct_roles\"", what);
        return SDV_EPARSE;
    }
    if (succinct != NULL) {
        int64_t bits = 0;

        if (!json_is_object(succinct)) {
            tuf_errf(e, "%s: \"succinct_roles\" is not an object", what);
            return SDV_EPARSE;
        }
        t->succinct = true;
        err = role_keys_parse(succinct, what, &t->succinct_keys, e);
        if (err == SDV_OK)
            err = get_int(succinct, "bit_length", what, 1, &bits, e);
        if (err == SDV_OK && bits > SDV_TUF_SUCCINCT_BIT_LEN_MAX) {
            tuf_errf(e, "%s: bit_length %lld is above the limit %d", what, (long long)bits,
                     SDV_TUF_SUCCINCT_BIT_LEN_MAX);
            err = SDV_ETOOBIG;
        }
        if (err == SDV_OK)
            err = get_string(succinct, "name_prefix", what, &t->succinct_prefix, e);
        t->succinct_bit_len = (unsigned)bits;
        return err;
    }
    if (!json_is_array(roles)) {
        tuf_errf(e, "%s: \"roles\" is not an array", what);
        return SDV_EPARSE;
    }
    if (json_array_size(roles) > SDV_TUF_DELEGATED_ROLES_MAX) {
        tuf_errf(e, "%s: %zu roles, more than the limit %d", what, json_array_size(roles),
                 SDV_TUF_DELEGATED_ROLES_MAX);
        return SDV_ETOOBIG;
    }
    t->roles = calloc(json_array_size(roles) + 1, sizeof(*t->roles));
    if (t->roles == NULL)
        return SDV_ENOMEM;
    for (size_t i = 0; i < json_array_size(roles); i++) {
        const json_t *r = json_array_get(roles, i);
        struct tuf_delegated_role *dr = &t->roles[t->role_count++];
        const json_t *term;

        if (!json_is_object(r) || get_string(r, "name", what, &dr->name, e) != SDV_OK) {
            tuf_errf(e, "%s: role %zu has no \"name\"", what, i);
            return SDV_EPARSE;
        }
        if (reserved_role_name(dr->name) || strlen(dr->name) > SDV_TUF_NAME_LEN_MAX) {
            tuf_errf(e, "%s: \"%s\" cannot be the name of a delegated role", what, dr->name);
            return SDV_EPARSE;
        }
        for (size_t j = 0; j + 1 < t->role_count; j++) {
            if (strcmp(t->roles[j].name, dr->name) == 0) {
                tuf_errf(e, "%s: role \"%s\" is delegated twice", what, dr->name);
                return SDV_EPARSE;
            }
        }
        snprintf(what, sizeof(what), "%s: delegated role %s", role, dr->name);
        err = role_keys_parse(r, what, &dr->keys, e);
        if (err != SDV_OK)
            return err;
        term = json_object_get(r, "terminating");
        if (term == NULL || !json_is_boolean(term)) {
            tuf_errf(e, "%s: \"terminating\" is missing or not a boolean", what);
            return SDV_EPARSE;
        }
        dr->terminating = json_is_true(term);
        dr->paths = json_object_get(r, "paths");
        dr->hash_prefixes = json_object_get(r, "path_hash_prefixes");
        if (dr->paths != NULL && dr->hash_prefixes != NULL) {
            tuf_errf(e, "%s: has both \"paths\" and \"path_hash_prefixes\"", what);
            return SDV_EPARSE;
        }
        if (dr->paths != NULL && string_array_check(dr->paths, what, e) != SDV_OK)
            return SDV_EPARSE;
        if (dr->hash_prefixes != NULL && string_array_check(dr->hash_prefixes, what, e) != SDV_OK)
            return SDV_EPARSE;
        snprintf(what, sizeof(what), "%s: delegations", role);
    }
    return SDV_OK;
}

void tuf_targets_free(struct tuf_targets *t)
{
    if (t == NULL)
        return;
    keyring_free(&t->delegation_keys);
    for (size_t i = 0; i < t->role_count; i++)
        role_keys_free(&t->roles[i].keys);
    free(t->roles);
    role_keys_free(&t->succinct_keys);
    meta_free(&t->meta);
    /* Zeroed, so that freeing twice (a failed load, then the client's destroy) is harmless. */
    memset(t, 0, sizeof(*t));
}

enum sdv_err tuf_targets_parse(struct sdv_buf *raw, const char *role, struct tuf_targets *out,
                               struct tuf_err *e)
{
    const char *path;
    const json_t *v, *d;
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = meta_parse(raw, TUF_TARGETS, role, &out->meta, e);
    if (err == SDV_OK)
        err = get_object(out->meta.signed_obj, "targets", role, &out->targets, e);
    if (err == SDV_OK) {
        json_object_foreach((json_t *)out->targets, path, v)
        {
            err = target_validate(path, v, role, e);
            if (err != SDV_OK)
                break;
        }
    }
    d = json_object_get(out->meta.signed_obj, "delegations");
    if (err == SDV_OK && d != NULL)
        err = delegations_parse(d, role, out, e);
    if (err != SDV_OK)
        tuf_targets_free(out);
    return err;
}

enum sdv_err tuf_verify_signatures(const struct tuf_meta *meta, const char *role,
                                   const struct tuf_keyring *keyring,
                                   const struct tuf_role_keys *keys, struct tuf_err *e)
{
    const json_t *sigs = json_object_get(meta->doc, "signatures");
    struct sdv_buf canon;
    const char **counted = NULL;
    uint64_t valid = 0;
    enum sdv_err err;
    size_t i;

    sdv_buf_init(&canon, meta->raw.len + 1024);
    err = sdv_cjson_write(meta->signed_obj, &canon);
    if (err != SDV_OK) {
        tuf_errf(e, "%s: \"signed\" has no canonical JSON form (%s)", role, sdv_strerror(err));
        goto out;
    }
    counted = calloc(json_array_size(sigs) + 1, sizeof(*counted));
    if (counted == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    for (i = 0; i < json_array_size(sigs) && valid < keys->threshold; i++) {
        const json_t *s = json_array_get(sigs, i);
        const char *keyid = json_string_value(json_object_get(s, "keyid"));
        const char *hex = json_string_value(json_object_get(s, "sig"));
        const struct tuf_key *key = NULL;
        uint8_t sig[SDV_SIG_LEN_MAX];
        size_t sig_len, j;
        bool authorised = false, dup = false;

        for (j = 0; j < keys->keyid_count && !authorised; j++)
            authorised = strcmp(keys->keyids[j], keyid) == 0;
        if (!authorised)
            continue;
        for (j = 0; j < keyring->count && key == NULL; j++)
            if (strcmp(keyring->keys[j].keyid, keyid) == 0)
                key = &keyring->keys[j];
        if (key == NULL || key->key == NULL)
            continue;
        /* Distinct keys count, not distinct keyids: compare our canonical key ids. */
        for (j = 0; j < (size_t)valid && !dup; j++)
            dup = strcmp(counted[j], key->canon_id) == 0;
        if (dup)
            continue;
        if (sdv_hex_decode(hex, strlen(hex), sig, sizeof(sig), &sig_len) != SDV_OK)
            continue;
        if (sdv_key_verify(key->key, canon.data, canon.len, sig, sig_len) == SDV_OK)
            counted[valid++] = key->canon_id;
    }
    if (valid < keys->threshold) {
        tuf_errf(e, "%s: signature threshold not met: %llu valid of %llu required", role,
                 (unsigned long long)valid, (unsigned long long)keys->threshold);
        err = SDV_ESIG;
    }
out:
    free(counted);
    sdv_buf_free(&canon);
    return err;
}

enum sdv_err tuf_check_length_hashes(const void *data, size_t len, int64_t length,
                                     const json_t *hashes, const char *what, struct tuf_err *e)
{
    const char *alg_name;
    const json_t *h;

    if (length >= 0 && (uint64_t)length != len) {
        tuf_errf(e, "%s: length is %zu bytes, expected %lld", what, len, (long long)length);
        return SDV_EHASH;
    }
    if (hashes == NULL)
        return SDV_OK;
    json_object_foreach((json_t *)hashes, alg_name, h)
    {
        enum sdv_hash_alg alg;
        uint8_t digest[SDV_HASH_LEN_MAX];
        char hex[2 * SDV_HASH_LEN_MAX + 1];
        enum sdv_err err;

        if (sdv_hash_alg_from_name(alg_name, &alg) != SDV_OK) {
            tuf_errf(e, "%s: unknown hash algorithm \"%s\"", what, alg_name);
            return SDV_EUNSUPPORTED;
        }
        err = sdv_hash_buf(alg, data, len, digest);
        if (err != SDV_OK)
            return err;
        sdv_hex_encode(digest, sdv_hash_len(alg), hex);
        if (strcasecmp(hex, json_string_value(h)) != 0) {
            tuf_errf(e, "%s: %s hash mismatch", what, alg_name);
            return SDV_EHASH;
        }
    }
    return SDV_OK;
}

enum sdv_err tuf_target_from_json(const char *path, const json_t *obj, const char *role,
                                  struct sdv_tuf_target *out, struct tuf_err *e)
{
    const json_t *hashes = json_object_get(obj, "hashes");
    const char *alg_name;
    const json_t *h;

    memset(out, 0, sizeof(*out));
    out->path = path;
    out->role = role;
    out->length = (uint64_t)json_integer_value(json_object_get(obj, "length"));
    out->custom = json_object_get(obj, "custom");
    json_object_foreach((json_t *)hashes, alg_name, h)
    {
        struct sdv_tuf_hash *th;
        const char *hex = json_string_value(h);
        size_t n;

        if (out->hash_count == SDV_TUF_TARGET_HASHES_MAX) {
            tuf_errf(e, "%s: target \"%s\" lists more than %d hashes", role, path,
                     SDV_TUF_TARGET_HASHES_MAX);
            return SDV_ETOOBIG;
        }
        th = &out->hashes[out->hash_count];
        if (sdv_hash_alg_from_name(alg_name, &th->alg) != SDV_OK) {
            tuf_errf(e, "%s: target \"%s\" lists unknown hash algorithm \"%s\"", role, path,
                     alg_name);
            return SDV_EUNSUPPORTED;
        }
        if (sdv_hex_decode(hex, strlen(hex), th->digest, sizeof(th->digest), &n) != SDV_OK ||
            n != sdv_hash_len(th->alg)) {
            tuf_errf(e, "%s: target \"%s\": %s hash is not %zu hex bytes", role, path, alg_name,
                     sdv_hash_len(th->alg));
            return SDV_EPARSE;
        }
        out->hash_count++;
    }
    return SDV_OK;
}
