/*
 * uptane_director.c - the director repository of one vehicle: root, targets, snapshot and
 * timestamp metadata built from the vehicle's assignments, re-signed only when they change or
 * near expiry, with versions that only go up.
 *
 * Each role goes through one rule (role_finish): build the signed content the role should have
 * now, compare it with the previous file's content apart from version and expiry, and reuse the
 * previous bytes when nothing changed, the previous file is signed by the current key(s) and
 * more than half of its lifetime is left. Snapshot lists targets by version, length and hash,
 * and timestamp lists snapshot likewise, so a changed role changes everything above it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/tuf_repo.h>

#include "uptane_int.h"

/* A previous file of one role, parsed. */
struct prev_role {
    json_t *doc; /* NULL when there is no previous file */
    const json_t *signed_obj;
    const uint8_t *raw;
    size_t raw_len;
    int64_t version;
    int64_t expires;
};

/* Who signs a role and how many of them must have signed a previous file to reuse it. */
struct role_signers {
    const struct sdv_key *const *keys; /* authorised keys (listed in root for the role) */
    size_t key_count;
    size_t threshold;
    const struct sdv_key *const *extra; /* sign new versions too, not authorised (rotation) */
    size_t extra_count;
};

static void prev_free(struct prev_role *p)
{
    json_decref(p->doc);
    memset(p, 0, sizeof(*p));
}

static enum sdv_err prev_parse(const void *data, size_t len, const char *type, struct prev_role *p,
                               struct sdv_uptane_err *e)
{
    const json_t *v;
    const char *s;
    enum sdv_err err;
    char what[64];

    memset(p, 0, sizeof(*p));
    if (data == NULL || len == 0)
        return SDV_OK;
    snprintf(what, sizeof(what), "previous director %s", type);
    err = uptane_parse_object(data, len, SDV_TUF_TARGETS_MAX_LEN, what, e, &p->doc);
    if (err != SDV_OK)
        return err;
    p->signed_obj = json_object_get(p->doc, "signed");
    v = json_object_get(p->signed_obj, "version");
    s = json_string_value(json_object_get(p->signed_obj, "expires"));
    if (!json_is_object(p->signed_obj) ||
        !json_is_string(json_object_get(p->signed_obj, "_type")) ||
        strcmp(json_string_value(json_object_get(p->signed_obj, "_type")), type) != 0 ||
        !json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) == INT64_MAX ||
        s == NULL || sdv_time_parse(s, &p->expires) != SDV_OK ||
        !json_is_array(json_object_get(p->doc, "signatures"))) {
        prev_free(p);
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, NULL,
                           "%s: not %s metadata with version, expires and signatures", what, type);
    }
    p->version = json_integer_value(v);
    p->raw = data;
    p->raw_len = len;
    return SDV_OK;
}

/* Signed content equal apart from version and expires? */
static bool same_content(const json_t *a, const json_t *b)
{
    json_t *ca = json_copy((json_t *)a), *cb = json_copy((json_t *)b);
    bool same = false;

    if (ca != NULL && cb != NULL) {
        json_object_del(ca, "version");
        json_object_del(ca, "expires");
        json_object_del(cb, "version");
        json_object_del(cb, "expires");
        same = json_equal(ca, cb) != 0;
    }
    json_decref(ca);
    json_decref(cb);
    return same;
}

static enum sdv_err copy_out(const void *data, size_t len, struct sdv_uptane_role_out *o)
{
    o->data = malloc(len + 1);
    if (o->data == NULL)
        return SDV_ENOMEM;
    memcpy(o->data, data, len);
    o->data[len] = '\0';
    o->len = len;
    return SDV_OK;
}

/* How role_finish treats a previous file whose content is still right. */
enum reuse_rule {
    REUSE_FRESH,     /* reuse while more than half of the lifetime is left */
    REUSE_UNEXPIRED, /* reuse until it expires (root whose keys are offline) */
    REUSE_NEVER,     /* always a new version (renew timestamp) */
};

/*
 * Finishes one role: reuses the previous file (changed = 0) or gives signed_obj (taken) the next
 * version and a new expiry, signs and serializes it.
 */
static enum sdv_err role_finish(const char *type, json_t *signed_obj, const struct prev_role *p,
                                const struct role_signers *rs, int64_t lifetime, int64_t now,
                                enum reuse_rule rule, struct sdv_uptane_role_out *o,
                                struct sdv_uptane_err *e)
{
    int64_t margin = rule == REUSE_FRESH ? lifetime / 2 : 1;

    char expires[SDV_TIME_STR_LEN], what[64];
    json_t *env = NULL;
    struct sdv_buf buf;
    enum sdv_err err;
    size_t valid = 0;

    snprintf(what, sizeof(what), "director %s", type);
    if (p->doc != NULL && rule != REUSE_NEVER && same_content(p->signed_obj, signed_obj) &&
        p->expires - now >= margin) {
        err = uptane_count_signatures(p->doc, rs->keys, rs->key_count, &valid);
        if (err != SDV_OK && err != SDV_EUNSUPPORTED) {
            json_decref(signed_obj);
            return uptane_fail_lib(e, err, NULL, what);
        }
        if (err == SDV_OK && valid >= rs->threshold) {
            json_decref(signed_obj);
            o->version = p->version;
            o->expires = p->expires;
            o->changed = 0;
            err = copy_out(p->raw, p->raw_len, o);
            return err == SDV_OK ? SDV_OK : uptane_fail_lib(e, err, NULL, what);
        }
    }

    o->version = p->doc != NULL ? p->version + 1 : 1;
    o->expires = now + lifetime;
    o->changed = 1;
    err = sdv_time_format(o->expires, expires);
    if (err != SDV_OK) {
        json_decref(signed_obj);
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                           "%s: expiry out of range (now %lld)", what, (long long)now);
    }
    if (json_object_set_new(signed_obj, "version", json_integer(o->version)) == 0 &&
        json_object_set_new(signed_obj, "expires", json_string(expires)) == 0)
        env = json_pack("{s:O, s:[]}", "signed", signed_obj, "signatures");
    json_decref(signed_obj);
    if (env == NULL)
        return uptane_fail_lib(e, SDV_ENOMEM, NULL, what);
    for (size_t i = 0; i < rs->key_count; i++) {
        if (!sdv_key_has_private(rs->keys[i]))
            continue;
        err = uptane_sign(env, rs->keys[i], what, NULL, e);
        if (err != SDV_OK)
            goto out;
    }
    for (size_t i = 0; i < rs->extra_count; i++) {
        err = uptane_sign(env, rs->extra[i], what, NULL, e);
        if (err != SDV_OK)
            goto out;
    }
    sdv_buf_init(&buf, SDV_TUF_TARGETS_MAX_LEN);
    err = sdv_tuf_serialize(env, &buf);
    if (err == SDV_OK) {
        o->len = buf.len;
        o->data = (uint8_t *)sdv_buf_steal(&buf, NULL);
        if (o->data == NULL)
            err = SDV_ENOMEM;
    }
    sdv_buf_free(&buf);
    if (err != SDV_OK)
        uptane_fail_lib(e, err, NULL, what);
out:
    json_decref(env);
    return err;
}

/* {"_type", "spec_version"} of a new signed object; version and expires come in role_finish. */
static json_t *signed_base(const char *type)
{
    return json_pack("{s:s, s:s}", "_type", type, "spec_version", SDV_TUF_SPEC_VERSION);
}

/* {"version", "length", "hashes": {"sha256"}} of a file another role lists. */
static json_t *metafile(const struct sdv_uptane_role_out *o);

/* The signed object of snapshot or timestamp: {"meta": {file: metafile of o}}. NULL on ENOMEM. */
static json_t *meta_signed(const char *type, const char *file, const struct sdv_uptane_role_out *o)
{
    json_t *s = signed_base(type), *mf = metafile(o), *meta = json_object();

    if (s == NULL || mf == NULL || meta == NULL || json_object_set_new(meta, file, mf) != 0) {
        json_decref(meta);
        json_decref(s);
        return NULL;
    }
    if (json_object_set_new(s, "meta", meta) != 0) {
        json_decref(s);
        return NULL;
    }
    return s;
}

static json_t *metafile(const struct sdv_uptane_role_out *o)
{
    uint8_t digest[32];
    char hex[65];

    if (sdv_hash_buf(SDV_HASH_SHA256, o->data, o->len, digest) != SDV_OK)
        return NULL;
    sdv_hex_encode(digest, sizeof(digest), hex);
    return json_pack("{s:I, s:I, s:{s:s}}", "version", (json_int_t)o->version, "length",
                     (json_int_t)o->len, "hashes", "sha256", hex);
}

static enum sdv_err add_key(json_t *keys, json_t *keyids, const struct sdv_key *key,
                            const char *role, struct sdv_uptane_err *e)
{
    char id[SDV_KEYID_STR_LEN];
    json_t *tuf_key = NULL;
    enum sdv_err err;

    if (key == NULL)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_KEY, NULL,
                           "director root: no %s key given", role);
    err = sdv_key_id(key, id);
    if (err == SDV_OK && json_object_get(keys, id) == NULL) {
        err = sdv_key_to_tuf(key, &tuf_key);
        if (err == SDV_OK && json_object_set_new(keys, id, tuf_key) != 0)
            err = SDV_ENOMEM;
    }
    if (err != SDV_OK)
        return uptane_fail_lib(e, err, NULL, "director root keys");
    for (size_t i = 0; i < json_array_size(keyids); i++)
        if (strcmp(json_string_value(json_array_get(keyids, i)), id) == 0)
            return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_KEY, NULL,
                               "director root: key %s is given twice for role %s", id, role);
    if (json_array_append_new(keyids, json_string(id)) != 0)
        return uptane_fail_lib(e, SDV_ENOMEM, NULL, "director root keys");
    return SDV_OK;
}

static enum sdv_err root_signed(const struct sdv_uptane_director_keys *k, bool consistent,
                                json_t **out, struct sdv_uptane_err *e)
{
    static const char *const roles[] = {"root", "targets", "snapshot", "timestamp"};
    const struct sdv_key *online[] = {NULL, k->targets, k->snapshot, k->timestamp};
    json_t *s = signed_base("root"), *keys = json_object(), *role_obj = json_object();
    unsigned threshold = k->root_threshold == 0 ? 1 : k->root_threshold;
    enum sdv_err err = SDV_OK;

    *out = NULL;
    if (s == NULL || keys == NULL || role_obj == NULL ||
        json_object_set_new(s, "consistent_snapshot", json_boolean(consistent)) != 0) {
        err = uptane_fail_lib(e, SDV_ENOMEM, NULL, "director root");
        goto out;
    }
    for (size_t r = 0; r < 4 && err == SDV_OK; r++) {
        json_t *keyids = json_array();
        json_t *entry = json_pack("{s:O, s:I}", "keyids", keyids, "threshold",
                                  (json_int_t)(r == 0 ? threshold : 1));

        json_decref(keyids); /* entry holds it */
        if (entry == NULL || json_object_set_new(role_obj, roles[r], entry) != 0) {
            err = uptane_fail_lib(e, SDV_ENOMEM, NULL, "director root");
            break;
        }
        if (r == 0)
            for (size_t i = 0; i < k->root_key_count && err == SDV_OK; i++)
                err = add_key(keys, keyids, k->root_keys[i], roles[r], e);
        else
            err = add_key(keys, keyids, online[r], roles[r], e);
    }
    if (err == SDV_OK &&
        (json_object_set(s, "keys", keys) != 0 || json_object_set(s, "roles", role_obj) != 0))
        err = uptane_fail_lib(e, SDV_ENOMEM, NULL, "director root");
out:
    json_decref(keys);
    json_decref(role_obj);
    if (err == SDV_OK)
        *out = s;
    else
        json_decref(s);
    return err;
}

static const struct sdv_uptane_ecu *find_ecu(const struct sdv_uptane_vehicle *v, const char *serial)
{
    for (size_t i = 0; i < v->ecu_count; i++)
        if (v->ecus[i].serial != NULL && strcmp(v->ecus[i].serial, serial) == 0)
            return &v->ecus[i];
    return NULL;
}

static enum sdv_err target_entry(const struct sdv_uptane_assignment *a, const char *hwid,
                                 json_t **out, struct sdv_uptane_err *e)
{
    const struct sdv_uptane_image *img = &a->image;
    json_t *hashes;
    enum sdv_err err;

    *out = NULL;
    if (!uptane_id_ok(img->filepath, SDV_TUF_NAME_LEN_MAX) || img->length > INT64_MAX ||
        img->release_counter > INT64_MAX)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, a->ecu_serial,
                           "assigned image has no valid path, length or release counter");
    err = uptane_hashes_json(img->hashes, img->hash_count, "assigned image", a->ecu_serial, e,
                             &hashes);
    if (err != SDV_OK)
        return err;
    *out = json_pack("{s:I, s:O, s:{s:{s:{s:s}}, s:I}}", "length", (json_int_t)img->length,
                     "hashes", hashes, "custom", "ecu_identifiers", a->ecu_serial, "hardware_id",
                     hwid, "release_counter", (json_int_t)img->release_counter);
    json_decref(hashes);
    if (*out == NULL)
        return uptane_fail_lib(e, SDV_ENOMEM, a->ecu_serial, "director targets");
    return SDV_OK;
}

/* Merges the entry of another ECU assigned the same path: same file description required. */
static enum sdv_err target_merge(json_t *have, json_t *add, const char *serial, const char *path,
                                 struct sdv_uptane_err *e)
{
    json_t *have_ids = json_object_get(json_object_get(have, "custom"), "ecu_identifiers");
    json_t *add_ids = json_object_get(json_object_get(add, "custom"), "ecu_identifiers");

    if (!json_equal(json_object_get(have, "length"), json_object_get(add, "length")) ||
        !json_equal(json_object_get(have, "hashes"), json_object_get(add, "hashes")) ||
        !json_equal(json_object_get(json_object_get(have, "custom"), "release_counter"),
                    json_object_get(json_object_get(add, "custom"), "release_counter")))
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_CONFLICT, serial,
                           "\"%s\" is assigned to other ECUs with another length, hashes or "
                           "release counter",
                           path);
    if (json_object_update(have_ids, add_ids) != 0)
        return uptane_fail_lib(e, SDV_ENOMEM, serial, "director targets");
    return SDV_OK;
}

static enum sdv_err targets_signed(const struct sdv_uptane_vehicle *v,
                                   const struct sdv_uptane_assignment *as, size_t count,
                                   json_t **out, struct sdv_uptane_err *e)
{
    json_t *s = signed_base("targets"), *targets = json_object();
    enum sdv_err err = SDV_OK;

    *out = NULL;
    if (s == NULL || targets == NULL || json_object_set(s, "targets", targets) != 0) {
        err = uptane_fail_lib(e, SDV_ENOMEM, NULL, "director targets");
        goto out;
    }
    if (count > v->ecu_count)
        err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_DUPLICATE_ECU, NULL,
                          "%zu assignments for %zu ECUs", count, v->ecu_count);
    for (size_t i = 0; i < count && err == SDV_OK; i++) {
        const struct sdv_uptane_assignment *a = &as[i];
        const struct sdv_uptane_ecu *ecu;
        json_t *entry, *have;

        if (!uptane_id_ok(a->ecu_serial, SDV_UPTANE_ID_LEN_MAX)) {
            err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                              "assignment %zu has no valid ECU serial", i);
            break;
        }
        ecu = find_ecu(v, a->ecu_serial);
        if (ecu == NULL) {
            err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_UNKNOWN_ECU, a->ecu_serial,
                              "vehicle %s has no such ECU", v->vin);
            break;
        }
        for (size_t j = 0; j < i && err == SDV_OK; j++)
            if (strcmp(as[j].ecu_serial, a->ecu_serial) == 0)
                err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_DUPLICATE_ECU, a->ecu_serial,
                                  "assigned both \"%s\" and \"%s\"", as[j].image.filepath,
                                  a->image.filepath);
        if (err != SDV_OK)
            break;
        err = target_entry(a, ecu->hardware_id, &entry, e);
        if (err != SDV_OK)
            break;
        have = json_object_get(targets, a->image.filepath);
        if (have != NULL)
            err = target_merge(have, entry, a->ecu_serial, a->image.filepath, e);
        else if (json_object_set(targets, a->image.filepath, entry) != 0)
            err = uptane_fail_lib(e, SDV_ENOMEM, a->ecu_serial, "director targets");
        json_decref(entry);
    }
out:
    json_decref(targets);
    if (err == SDV_OK)
        *out = s;
    else
        json_decref(s);
    return err;
}

static enum sdv_err check_vehicle(const struct sdv_uptane_vehicle *v, struct sdv_uptane_err *e)
{
    if (v == NULL || !uptane_id_ok(v->vin, SDV_UPTANE_VIN_LEN_MAX) ||
        (v->ecu_count > 0 && v->ecus == NULL))
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                           "the vehicle has no valid VIN or ECU list");
    if (v->ecu_count > SDV_UPTANE_ECUS_MAX)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_TOO_BIG, NULL,
                           "vehicle %s has %zu ECUs, more than %d", v->vin, v->ecu_count,
                           SDV_UPTANE_ECUS_MAX);
    for (size_t i = 0; i < v->ecu_count; i++) {
        if (!uptane_id_ok(v->ecus[i].serial, SDV_UPTANE_ID_LEN_MAX) ||
            !uptane_id_ok(v->ecus[i].hardware_id, SDV_UPTANE_ID_LEN_MAX))
            return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                               "vehicle %s: ECU %zu has no valid serial or hardware id", v->vin, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(v->ecus[i].serial, v->ecus[j].serial) == 0)
                return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_DUPLICATE_ECU, v->ecus[i].serial,
                                   "vehicle %s lists the ECU twice", v->vin);
    }
    return SDV_OK;
}

static enum sdv_err check_keys(const struct sdv_uptane_director_keys *k, struct sdv_uptane_err *e)
{
    const struct sdv_key *online[] = {k->targets, k->snapshot, k->timestamp};
    unsigned threshold = k->root_threshold == 0 ? 1 : k->root_threshold;

    if (k->root_key_count == 0 || k->root_key_count > SDV_UPTANE_ROOT_KEYS_MAX ||
        k->root_keys == NULL || threshold > k->root_key_count ||
        (k->root_extra_signer_count > 0 && k->root_extra_signers == NULL) ||
        k->root_extra_signer_count > SDV_UPTANE_ROOT_KEYS_MAX)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_KEY, NULL,
                           "director root: %zu root keys with threshold %u (1 to %d keys, "
                           "threshold at most the key count)",
                           k->root_key_count, threshold, SDV_UPTANE_ROOT_KEYS_MAX);
    for (size_t i = 0; i < k->root_key_count; i++)
        if (k->root_keys[i] == NULL)
            return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_KEY, NULL,
                               "director root: root key %zu is NULL", i);
    for (size_t i = 0; i < 3; i++)
        if (online[i] == NULL || !sdv_key_has_private(online[i]))
            return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_KEY, NULL,
                               "director %s: the online key is missing or has no private half",
                               i == 0   ? "targets"
                               : i == 1 ? "snapshot"
                                        : "timestamp");
    return SDV_OK;
}

static int64_t lifetime_or(int64_t v, int64_t def)
{
    return v > 0 ? v : def;
}

struct prev_set {
    struct prev_role root, targets, snapshot, timestamp;
};

static void prev_set_free(struct prev_set *ps)
{
    prev_free(&ps->root);
    prev_free(&ps->targets);
    prev_free(&ps->snapshot);
    prev_free(&ps->timestamp);
}

static enum sdv_err prev_set_parse(const struct sdv_uptane_director_prev *prev, struct prev_set *ps,
                                   struct sdv_uptane_err *e)
{
    enum sdv_err err;

    memset(ps, 0, sizeof(*ps));
    if (prev == NULL)
        return SDV_OK;
    err = prev_parse(prev->root, prev->root_len, "root", &ps->root, e);
    if (err == SDV_OK)
        err = prev_parse(prev->targets, prev->targets_len, "targets", &ps->targets, e);
    if (err == SDV_OK)
        err = prev_parse(prev->snapshot, prev->snapshot_len, "snapshot", &ps->snapshot, e);
    if (err == SDV_OK)
        err = prev_parse(prev->timestamp, prev->timestamp_len, "timestamp", &ps->timestamp, e);
    if (err != SDV_OK)
        prev_set_free(ps);
    return err;
}

/* Snapshot and timestamp over the targets and snapshot outputs, then the common tail. */
static enum sdv_err finish_snapshot_timestamp(const struct sdv_uptane_director_keys *keys,
                                              const struct prev_set *ps,
                                              const struct sdv_uptane_director_config *cfg,
                                              int64_t now, struct sdv_uptane_director_out *out,
                                              struct sdv_uptane_err *e)
{
    const struct role_signers snap_rs = {&keys->snapshot, 1, 1, NULL, 0};
    const struct role_signers ts_rs = {&keys->timestamp, 1, 1, NULL, 0};
    json_t *s;
    enum sdv_err err;

    s = meta_signed("snapshot", "targets.json", &out->targets);
    if (s == NULL)
        return uptane_fail_lib(e, SDV_ENOMEM, NULL, "director snapshot");
    err = role_finish(
            "snapshot", s, &ps->snapshot, &snap_rs,
            lifetime_or(cfg ? cfg->snapshot_lifetime_s : 0, SDV_UPTANE_DIRECTOR_SNAPSHOT_EXPIRY_S),
            now, REUSE_FRESH, &out->snapshot, e);
    if (err != SDV_OK)
        return err;

    s = meta_signed("timestamp", "snapshot.json", &out->snapshot);
    if (s == NULL)
        return uptane_fail_lib(e, SDV_ENOMEM, NULL, "director timestamp");
    return role_finish("timestamp", s, &ps->timestamp, &ts_rs,
                       lifetime_or(cfg ? cfg->timestamp_lifetime_s : 0,
                                   SDV_UPTANE_DIRECTOR_TIMESTAMP_EXPIRY_S),
                       now, REUSE_FRESH, &out->timestamp, e);
}

enum sdv_err sdv_uptane_director_build(const struct sdv_uptane_director_keys *keys,
                                       const struct sdv_uptane_vehicle *vehicle,
                                       const struct sdv_uptane_assignment *assignments,
                                       size_t assignment_count,
                                       const struct sdv_uptane_director_prev *prev,
                                       const struct sdv_uptane_director_config *config, int64_t now,
                                       struct sdv_uptane_director_out *out,
                                       struct sdv_uptane_err *e)
{
    struct prev_set ps;
    struct role_signers root_rs, targets_rs;
    json_t *s = NULL;
    size_t can_sign = 0;
    enum sdv_err err;

    uptane_err_clear(e);
    if (out == NULL || keys == NULL || (assignment_count > 0 && assignments == NULL))
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                           "director build: missing argument");
    memset(out, 0, sizeof(*out));
    err = check_keys(keys, e);
    if (err == SDV_OK)
        err = check_vehicle(vehicle, e);
    if (err != SDV_OK)
        return err;
    err = prev_set_parse(prev, &ps, e);
    if (err != SDV_OK)
        return err;

    root_rs = (struct role_signers){keys->root_keys, keys->root_key_count,
                                    keys->root_threshold == 0 ? 1 : keys->root_threshold,
                                    keys->root_extra_signers, keys->root_extra_signer_count};
    for (size_t i = 0; i < keys->root_key_count; i++)
        can_sign += sdv_key_has_private(keys->root_keys[i]) != 0;
    err = root_signed(keys, config != NULL && config->consistent_snapshot, &s, e);
    if (err != SDV_OK)
        goto out;
    /* With the root keys offline an unchanged root is kept until it expires: renewing it early
     * is for when the keys are at hand. */
    err = role_finish(
            "root", s, &ps.root, &root_rs,
            lifetime_or(config ? config->root_lifetime_s : 0, SDV_UPTANE_DIRECTOR_ROOT_EXPIRY_S),
            now, can_sign >= root_rs.threshold ? REUSE_FRESH : REUSE_UNEXPIRED, &out->root, e);
    if (err != SDV_OK)
        goto out;
    if (out->root.changed) {
        /* Only keys held here signed; the new root is useless below the threshold. */
        if (can_sign < root_rs.threshold) {
            err = uptane_fail(e, SDV_ESIG, SDV_UPTANE_RULE_KEY, NULL,
                              "director root must be re-signed (new, changed or near expiry) but "
                              "only %zu of the %zu required root keys are available here",
                              can_sign, root_rs.threshold);
            goto out;
        }
    }

    targets_rs = (struct role_signers){&keys->targets, 1, 1, NULL, 0};
    err = targets_signed(vehicle, assignments, assignment_count, &s, e);
    if (err != SDV_OK)
        goto out;
    err = role_finish("targets", s, &ps.targets, &targets_rs,
                      lifetime_or(config ? config->targets_lifetime_s : 0,
                                  SDV_UPTANE_DIRECTOR_TARGETS_EXPIRY_S),
                      now, REUSE_FRESH, &out->targets, e);
    if (err == SDV_OK)
        err = finish_snapshot_timestamp(keys, &ps, config, now, out, e);
out:
    prev_set_free(&ps);
    if (err != SDV_OK)
        sdv_uptane_director_out_free(out);
    return err;
}

static enum sdv_err reuse(const struct prev_role *p, struct sdv_uptane_role_out *o)
{
    o->version = p->version;
    o->expires = p->expires;
    o->changed = 0;
    return copy_out(p->raw, p->raw_len, o);
}

enum sdv_err sdv_uptane_director_renew_timestamp(const struct sdv_uptane_director_keys *keys,
                                                 const struct sdv_uptane_director_prev *prev,
                                                 const struct sdv_uptane_director_config *config,
                                                 int64_t now, struct sdv_uptane_director_out *out,
                                                 struct sdv_uptane_err *e)
{
    struct role_signers rs = {NULL, 0, 1, NULL, 0};
    struct prev_set ps;
    json_t *s;
    enum sdv_err err;

    uptane_err_clear(e);
    if (out == NULL || keys == NULL || prev == NULL)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                           "renew timestamp: missing argument");
    memset(out, 0, sizeof(*out));
    if (keys->timestamp == NULL || !sdv_key_has_private(keys->timestamp))
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_KEY, NULL,
                           "director timestamp: the online key is missing or has no private half");
    err = prev_set_parse(prev, &ps, e);
    if (err != SDV_OK)
        return err;
    if (ps.root.doc == NULL || ps.targets.doc == NULL || ps.snapshot.doc == NULL ||
        ps.timestamp.doc == NULL) {
        err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                          "renew timestamp: all four previous roles are needed");
        goto out;
    }
    if (reuse(&ps.root, &out->root) != SDV_OK || reuse(&ps.targets, &out->targets) != SDV_OK ||
        reuse(&ps.snapshot, &out->snapshot) != SDV_OK) {
        err = uptane_fail_lib(e, SDV_ENOMEM, NULL, "renew timestamp");
        goto out;
    }
    rs.keys = &keys->timestamp;
    rs.key_count = 1;
    s = meta_signed("timestamp", "snapshot.json", &out->snapshot);
    if (s == NULL) {
        err = uptane_fail_lib(e, SDV_ENOMEM, NULL, "director timestamp");
        goto out;
    }
    err = role_finish("timestamp", s, &ps.timestamp, &rs,
                      lifetime_or(config ? config->timestamp_lifetime_s : 0,
                                  SDV_UPTANE_DIRECTOR_TIMESTAMP_EXPIRY_S),
                      now, REUSE_NEVER, &out->timestamp, e);
out:
    prev_set_free(&ps);
    if (err != SDV_OK)
        sdv_uptane_director_out_free(out);
    return err;
}

void sdv_uptane_director_out_free(struct sdv_uptane_director_out *out)
{
    if (out == NULL)
        return;
    free(out->root.data);
    free(out->targets.data);
    free(out->snapshot.data);
    free(out->timestamp.data);
    memset(out, 0, sizeof(*out));
}
