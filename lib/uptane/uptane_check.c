/*
 * uptane_check.c - the Uptane checks a primary runs after lib/tuf verified the director and the
 * image repository (Uptane 2.x, "full verification"): the director's targets against the
 * vehicle's ECUs (no delegations, known ECUs, one target per ECU, hardware ids, no rollback of
 * the release counter) and against the image repository (length, hashes, hardware ids, release
 * counter).
 *
 * The director targets file arrives as the exact bytes lib/tuf verified; it is parsed again here
 * because lib/tuf's public API finds targets by path but does not enumerate them, and the
 * director's job is precisely to say which paths matter. A compromised director key can still
 * sign anything, so every field is read strictly and every loop is bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uptane_int.h"

void sdv_uptane_targets_free(struct sdv_uptane_targets *t)
{
    if (t == NULL)
        return;
    free(t->items);
    t->items = NULL;
    t->count = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_target(const void *a, const void *b)
{
    const struct sdv_uptane_target *x = a, *y = b;
    int c = strcmp(x->filepath, y->filepath);

    return c != 0 ? c : strcmp(x->ecu_serial, y->ecu_serial);
}

/* The keys of obj, sorted (so that failures are reported in a stable order). Caller frees. */
static const char **sorted_keys(const json_t *obj)
{
    const char **keys = calloc(json_object_size(obj) + 1, sizeof(*keys));
    const char *k;
    const json_t *v;
    size_t n = 0;

    if (keys == NULL)
        return NULL;
    json_object_foreach((json_t *)obj, k, v)
    {
        keys[n++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    return keys;
}

static size_t find_ecu(const struct sdv_uptane_ecu *ecus, size_t count, const char *serial)
{
    for (size_t i = 0; i < count; i++)
        if (ecus[i].serial != NULL && strcmp(ecus[i].serial, serial) == 0)
            return i;
    return count;
}

/* Reads one target entry's file description and custom fields (not yet its ECUs). */
static enum sdv_err target_describe(const char *path, const json_t *entry,
                                    struct sdv_uptane_target *t, const json_t **ids,
                                    struct sdv_uptane_err *e)
{
    const json_t *custom;
    char what[96];
    uint64_t length;
    enum sdv_err err;

    snprintf(what, sizeof(what), "director target \"%.64s\"", path);
    if (strlen(path) == 0 || strlen(path) > SDV_TUF_NAME_LEN_MAX)
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, NULL,
                           "%s: path empty or longer than %d bytes", what, SDV_TUF_NAME_LEN_MAX);
    if (!json_is_object(entry))
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, NULL, "%s: not an object",
                           what);
    err = uptane_get_uint(entry, "length", what, NULL, e, &length);
    if (err == SDV_OK)
        err = uptane_hashes_parse(json_object_get(entry, "hashes"), what, NULL, e, t->hashes,
                                  &t->hash_count);
    if (err == SDV_OK)
        err = uptane_get_object(entry, "custom", what, NULL, e, &custom);
    if (err == SDV_OK)
        err = uptane_get_uint(custom, "release_counter", what, NULL, e, &t->release_counter);
    if (err == SDV_OK)
        err = uptane_get_object(custom, "ecu_identifiers", what, NULL, e, ids);
    if (err != SDV_OK)
        return err;
    if (json_object_size(*ids) == 0)
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, NULL,
                           "%s: \"ecu_identifiers\" is empty", what);
    if (json_object_size(*ids) > SDV_UPTANE_ECUS_MAX)
        return uptane_fail(e, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, NULL,
                           "%s: more than %d ECU identifiers", what, SDV_UPTANE_ECUS_MAX);
    t->length = length;
    uptane_copy_str(t->filepath, sizeof(t->filepath), path);
    return SDV_OK;
}

/* Adds one (ECU, target) pair after the checks that need only the vehicle. */
static enum sdv_err target_ecu(const struct sdv_uptane_target *proto, const char *serial,
                               const json_t *id_obj, const struct sdv_uptane_ecu *ecus,
                               size_t ecu_count, const char **claimed_by,
                               struct sdv_uptane_targets *out, struct sdv_uptane_err *e)
{
    struct sdv_uptane_target *t;
    const char *hwid;
    size_t idx;
    enum sdv_err err;
    char what[96];

    snprintf(what, sizeof(what), "director target \"%.64s\"", proto->filepath);
    if (strlen(serial) == 0 || strlen(serial) > SDV_UPTANE_ID_LEN_MAX)
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, NULL,
                           "%s: an ECU serial is empty or longer than %d bytes", what,
                           SDV_UPTANE_ID_LEN_MAX);
    idx = find_ecu(ecus, ecu_count, serial);
    if (idx == ecu_count)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_UNKNOWN_ECU, serial,
                           "%s is assigned to an ECU this vehicle does not have", what);
    if (claimed_by[idx] != NULL)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_DUPLICATE_ECU, serial,
                           "the director assigns both \"%.64s\" and \"%.64s\"", claimed_by[idx],
                           proto->filepath);
    if (!json_is_object(id_obj))
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, serial,
                           "%s: the ECU identifier entry is not an object", what);
    err = uptane_get_string(id_obj, "hardware_id", SDV_UPTANE_ID_LEN_MAX, what, serial, e, &hwid);
    if (err != SDV_OK)
        return err;
    if (ecus[idx].hardware_id == NULL || strcmp(hwid, ecus[idx].hardware_id) != 0)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_HARDWARE_ID, serial,
                           "%s is for hardware \"%s\", the ECU is \"%s\"", what, hwid,
                           ecus[idx].hardware_id == NULL ? "" : ecus[idx].hardware_id);
    if (proto->release_counter < ecus[idx].installed_release_counter)
        return uptane_fail(e, SDV_EROLLBACK, SDV_UPTANE_RULE_ROLLBACK, serial,
                           "%s has release counter %llu, the installed image %llu", what,
                           (unsigned long long)proto->release_counter,
                           (unsigned long long)ecus[idx].installed_release_counter);
    t = &out->items[out->count++];
    *t = *proto;
    claimed_by[idx] = t->filepath; /* proto is reused for the next path */
    uptane_copy_str(t->ecu_serial, sizeof(t->ecu_serial), serial);
    uptane_copy_str(t->hardware_id, sizeof(t->hardware_id), hwid);
    return SDV_OK;
}

static enum sdv_err check_ecus(const struct sdv_uptane_ecu *ecus, size_t ecu_count,
                               struct sdv_uptane_err *e)
{
    if (ecu_count > 0 && ecus == NULL)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL, "no ECU list");
    if (ecu_count > SDV_UPTANE_ECUS_MAX)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_TOO_BIG, NULL, "%zu ECUs, more than %d",
                           ecu_count, SDV_UPTANE_ECUS_MAX);
    for (size_t i = 0; i < ecu_count; i++)
        if (!uptane_id_ok(ecus[i].serial, SDV_UPTANE_ID_LEN_MAX))
            return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                               "ECU %zu of the vehicle has no valid serial", i);
    return SDV_OK;
}

enum sdv_err sdv_uptane_director_targets_parse(const void *data, size_t len,
                                               const struct sdv_uptane_ecu *ecus, size_t ecu_count,
                                               struct sdv_uptane_targets *out,
                                               struct sdv_uptane_err *e)
{
    json_t *doc = NULL;
    const json_t *signed_obj, *targets;
    const char **paths = NULL, **claimed_by = NULL;
    const char *type;
    enum sdv_err err;

    uptane_err_clear(e);
    if (out == NULL)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL, "no output");
    memset(out, 0, sizeof(*out));
    err = check_ecus(ecus, ecu_count, e);
    if (err == SDV_OK)
        err = uptane_parse_object(data, len, SDV_TUF_TARGETS_MAX_LEN, "director targets", e, &doc);
    if (err != SDV_OK)
        return err;
    err = uptane_get_object(doc, "signed", "director targets", NULL, e, &signed_obj);
    if (err == SDV_OK)
        err = uptane_get_string(signed_obj, "_type", 16, "director targets", NULL, e, &type);
    if (err == SDV_OK && strcmp(type, "targets") != 0)
        err = uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, NULL,
                          "director targets: _type is \"%s\"", type);
    if (err != SDV_OK)
        goto out;
    /* Uptane: the director must not delegate; any "delegations" field is refused, even an
     * empty one, so no reading of it can widen what the director signs for. */
    if (json_object_get(signed_obj, "delegations") != NULL) {
        err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_DELEGATIONS, NULL,
                          "director targets metadata has a \"delegations\" field");
        goto out;
    }
    err = uptane_get_object(signed_obj, "targets", "director targets", NULL, e, &targets);
    if (err != SDV_OK)
        goto out;
    if (json_object_size(targets) > SDV_UPTANE_ECUS_MAX) {
        err = uptane_fail(e, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, NULL,
                          "director targets lists %zu targets, more than %d",
                          json_object_size(targets), SDV_UPTANE_ECUS_MAX);
        goto out;
    }
    /* Every pair names a distinct known ECU, so ecu_count entries always suffice. */
    out->items = calloc(ecu_count + 1, sizeof(*out->items));
    claimed_by = calloc(ecu_count + 1, sizeof(*claimed_by));
    paths = sorted_keys(targets);
    if (out->items == NULL || claimed_by == NULL || paths == NULL) {
        err = uptane_fail_lib(e, SDV_ENOMEM, NULL, "director targets");
        goto out;
    }
    for (size_t p = 0; paths[p] != NULL && err == SDV_OK; p++) {
        struct sdv_uptane_target proto;
        const json_t *ids;
        const char **serials;

        memset(&proto, 0, sizeof(proto));
        err = target_describe(paths[p], json_object_get(targets, paths[p]), &proto, &ids, e);
        if (err != SDV_OK)
            break;
        serials = sorted_keys(ids);
        if (serials == NULL) {
            err = uptane_fail_lib(e, SDV_ENOMEM, NULL, "director targets");
            break;
        }
        for (size_t s = 0; serials[s] != NULL && err == SDV_OK; s++)
            err = target_ecu(&proto, serials[s], json_object_get(ids, serials[s]), ecus, ecu_count,
                             claimed_by, out, e);
        free(serials);
    }
    if (err == SDV_OK)
        qsort(out->items, out->count, sizeof(*out->items), cmp_target);
out:
    free(paths);
    free(claimed_by);
    json_decref(doc);
    if (err != SDV_OK)
        sdv_uptane_targets_free(out);
    return err;
}

enum sdv_err sdv_uptane_check_image(const struct sdv_uptane_target *t,
                                    const struct sdv_tuf_target *image, struct sdv_uptane_err *e)
{
    const json_t *hwids, *rc;
    uint64_t image_rc = 0;

    uptane_err_clear(e);
    if (t == NULL || image == NULL)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL, "missing target");
    if (t->length != image->length)
        return uptane_fail(e, SDV_EHASH, SDV_UPTANE_RULE_LENGTH, t->ecu_serial,
                           "\"%.64s\" is %llu bytes for the director, %llu for the image "
                           "repository",
                           t->filepath, (unsigned long long)t->length,
                           (unsigned long long)image->length);
    /* The same set of algorithms with the same digests: a hash only one side lists would be
     * one the other side never vouched for. */
    for (size_t i = 0; i < t->hash_count; i++) {
        const char *name = sdv_hash_alg_name(t->hashes[i].alg);
        int j = uptane_hash_find(image->hashes, image->hash_count, t->hashes[i].alg);

        if (j < 0)
            return uptane_fail(e, SDV_EHASH, SDV_UPTANE_RULE_HASH, t->ecu_serial,
                               "\"%.64s\": the image repository lists no %s hash", t->filepath,
                               name);
        if (memcmp(t->hashes[i].digest, image->hashes[j].digest, sdv_hash_len(t->hashes[i].alg)))
            return uptane_fail(e, SDV_EHASH, SDV_UPTANE_RULE_HASH, t->ecu_serial,
                               "\"%.64s\": %s hashes differ", t->filepath, name);
    }
    for (size_t i = 0; i < image->hash_count; i++)
        if (uptane_hash_find(t->hashes, t->hash_count, image->hashes[i].alg) < 0)
            return uptane_fail(e, SDV_EHASH, SDV_UPTANE_RULE_HASH, t->ecu_serial,
                               "\"%.64s\": the director lists no %s hash", t->filepath,
                               sdv_hash_alg_name(image->hashes[i].alg));

    hwids = json_object_get(image->custom, "hardware_ids");
    if (hwids != NULL) {
        bool found = false;
        const json_t *h;
        size_t i;

        if (!json_is_array(hwids))
            return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, t->ecu_serial,
                               "image repository target \"%.64s\": \"hardware_ids\" is not an "
                               "array",
                               t->filepath);
        json_array_foreach(hwids, i, h)
        {
            if (!json_is_string(h))
                return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, t->ecu_serial,
                                   "image repository target \"%.64s\": hardware id %zu is not a "
                                   "string",
                                   t->filepath, i);
            found = found || strcmp(json_string_value(h), t->hardware_id) == 0;
        }
        if (!found)
            return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_HARDWARE_ID, t->ecu_serial,
                               "the image repository does not list hardware \"%s\" for \"%.64s\"",
                               t->hardware_id, t->filepath);
    }

    rc = json_object_get(image->custom, "release_counter");
    if (rc != NULL) {
        if (!json_is_integer(rc) || json_integer_value(rc) < 0)
            return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, t->ecu_serial,
                               "image repository target \"%.64s\": \"release_counter\" is not "
                               "an integer >= 0",
                               t->filepath);
        image_rc = (uint64_t)json_integer_value(rc);
    }
    if (image_rc != t->release_counter)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_RELEASE_COUNTER, t->ecu_serial,
                           "\"%.64s\": director says %llu, image repository %llu", t->filepath,
                           (unsigned long long)t->release_counter, (unsigned long long)image_rc);
    return SDV_OK;
}

enum sdv_err sdv_uptane_check_director_targets(const void *data, size_t len,
                                               const struct sdv_uptane_ecu *ecus, size_t ecu_count,
                                               sdv_uptane_image_lookup_fn lookup, void *lookup_ud,
                                               struct sdv_uptane_targets *out,
                                               struct sdv_uptane_err *e)
{
    enum sdv_err err;

    if (lookup == NULL) {
        if (out != NULL)
            memset(out, 0, sizeof(*out));
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL, "no lookup function");
    }
    err = sdv_uptane_director_targets_parse(data, len, ecus, ecu_count, out, e);
    for (size_t i = 0; err == SDV_OK && i < out->count; i++) {
        const struct sdv_uptane_target *t = &out->items[i];
        struct sdv_tuf_target image;

        memset(&image, 0, sizeof(image));
        err = lookup(lookup_ud, t->filepath, &image);
        if (err == SDV_ENOTARGET)
            uptane_fail(e, err, SDV_UPTANE_RULE_NO_IMAGE, t->ecu_serial, "\"%.64s\"", t->filepath);
        else if (err != SDV_OK)
            uptane_fail(e, err, SDV_UPTANE_RULE_NO_IMAGE, t->ecu_serial,
                        "looking up \"%.64s\" failed: %s", t->filepath, sdv_strerror(err));
        else
            err = sdv_uptane_check_image(t, &image, e);
    }
    if (err != SDV_OK && out != NULL)
        sdv_uptane_targets_free(out);
    return err;
}
