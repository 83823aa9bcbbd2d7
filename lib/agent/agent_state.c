/*
 * agent_state.c - install.json: what each ECU runs and the counters of reports and manifests,
 * replaced atomically so that a kill -9 leaves either the old or the new state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_int.h"

int agent_installed_matches(const struct agent_installed *e, const struct sdv_uptane_target *t)
{
    if (!e->present || strcmp(e->filepath, t->filepath) != 0 || e->length != t->length ||
        e->hash_count != t->hash_count)
        return 0;
    for (size_t i = 0; i < t->hash_count; i++) {
        size_t n = sdv_hash_len(t->hashes[i].alg);
        int found = 0;

        for (size_t j = 0; j < e->hash_count && !found; j++)
            found = e->hashes[j].alg == t->hashes[i].alg &&
                    memcmp(e->hashes[j].digest, t->hashes[i].digest, n) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

void agent_installed_set(struct agent_installed *e, const struct sdv_uptane_target *t)
{
    memset(e, 0, sizeof(*e));
    e->present = 1;
    snprintf(e->filepath, sizeof(e->filepath), "%s", t->filepath);
    e->length = t->length;
    e->hash_count = t->hash_count;
    memcpy(e->hashes, t->hashes, sizeof(e->hashes));
    e->release_counter = t->release_counter;
}

static enum sdv_err fail(char *errmsg, size_t errmsg_len, const char *path, const char *what)
{
    if (errmsg != NULL)
        sdv_msgf(errmsg, errmsg_len, "%s: %s", path, what);
    return SDV_EPARSE;
}

static int get_u64(const json_t *o, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int load_ecu(const json_t *o, struct agent_installed *e)
{
    const json_t *hashes = json_object_get(o, "hashes");
    const char *path = json_string_value(json_object_get(o, "filepath"));
    const char *alg_name;
    const json_t *hex;

    if (path == NULL || strlen(path) > SDV_TUF_NAME_LEN_MAX || get_u64(o, "length", &e->length) ||
        get_u64(o, "release_counter", &e->release_counter) || !json_is_object(hashes) ||
        json_object_size(hashes) == 0 || json_object_size(hashes) > SDV_TUF_TARGET_HASHES_MAX)
        return -1;
    snprintf(e->filepath, sizeof(e->filepath), "%s", path);
    json_object_foreach((json_t *)hashes, alg_name, hex)
    {
        struct sdv_tuf_hash *h = &e->hashes[e->hash_count];
        const char *s = json_string_value(hex);
        size_t n = 0;

        if (s == NULL || sdv_hash_alg_from_name(alg_name, &h->alg) != SDV_OK ||
            sdv_hex_decode(s, strlen(s), h->digest, sizeof(h->digest), &n) != SDV_OK ||
            n != sdv_hash_len(h->alg))
            return -1;
        e->hash_count++;
    }
    e->present = 1;
    return 0;
}

enum sdv_err agent_state_load(const char *path, const char *const *serials, struct agent_state *st,
                              char *errmsg, size_t errmsg_len)
{
    struct sdv_buf raw;
    json_t *root = NULL, *ecus;
    uint64_t lvt = 0;
    enum sdv_err err;

    sdv_buf_init(&raw, AGENT_STATE_LEN_MAX);
    err = sdv_fs_read(path, &raw);
    if (err == SDV_ENOENT) {
        sdv_buf_free(&raw);
        return SDV_OK;
    }
    if (err != SDV_OK) {
        sdv_buf_free(&raw);
        if (errmsg != NULL)
            sdv_msgf(errmsg, errmsg_len, "%s: %s", path, sdv_strerror(err));
        return err;
    }
    err = sdv_json_parse(raw.data, raw.len, &root, NULL, 0);
    sdv_buf_free(&raw);
    if (err != SDV_OK)
        return fail(errmsg, errmsg_len, path, "not JSON");
    ecus = json_object_get(root, "ecus");
    if (!json_is_object(ecus) || get_u64(root, "manifest_counter", &st->manifest_counter) ||
        get_u64(root, "report_counter", &st->report_counter) ||
        get_u64(root, "latest_verified_time", &lvt) || lvt > INT64_MAX) {
        json_decref(root);
        return fail(errmsg, errmsg_len, path, "missing or ill-typed counters");
    }
    st->latest_verified_time = (int64_t)lvt;
    /* A/B fields, absent in files written before them. */
    memset(&st->pending, 0, sizeof(st->pending));
    memset(&st->failed, 0, sizeof(st->failed));
    st->install_log_acked = 0;
    if ((json_object_get(root, "pending") != NULL &&
         load_ecu(json_object_get(root, "pending"), &st->pending) != 0) ||
        (json_object_get(root, "failed") != NULL &&
         load_ecu(json_object_get(root, "failed"), &st->failed) != 0) ||
        (json_object_get(root, "install_log_acked") != NULL &&
         get_u64(root, "install_log_acked", &st->install_log_acked))) {
        json_decref(root);
        return fail(errmsg, errmsg_len, path, "malformed pending, failed or install_log_acked");
    }
    /* ECUs no longer in the configuration are forgotten; new ones start empty. */
    for (size_t i = 0; i < st->ecu_count; i++) {
        const json_t *o = json_object_get(ecus, serials[i]);

        memset(&st->ecus[i], 0, sizeof(st->ecus[i]));
        if (o != NULL && load_ecu(o, &st->ecus[i]) != 0) {
            json_decref(root);
            memset(&st->ecus[i], 0, sizeof(st->ecus[i]));
            return fail(errmsg, errmsg_len, path, "malformed ECU entry");
        }
    }
    json_decref(root);
    return SDV_OK;
}

static json_t *ecu_json(const struct agent_installed *e)
{
    json_t *hashes = json_object();

    for (size_t i = 0; hashes != NULL && i < e->hash_count; i++) {
        char hex[2 * SDV_HASH_LEN_MAX + 1];

        sdv_hex_encode(e->hashes[i].digest, sdv_hash_len(e->hashes[i].alg), hex);
        json_object_set_new(hashes, sdv_hash_alg_name(e->hashes[i].alg), json_string(hex));
    }
    return json_pack("{s:s, s:I, s:o, s:I}", "filepath", e->filepath, "length",
                     (json_int_t)e->length, "hashes", hashes, "release_counter",
                     (json_int_t)e->release_counter);
}

enum sdv_err agent_state_save(const char *path, const char *const *serials,
                              const struct agent_state *st)
{
    json_t *root, *ecus = json_object();
    char *text;
    enum sdv_err err;

    for (size_t i = 0; ecus != NULL && i < st->ecu_count; i++)
        if (st->ecus[i].present)
            json_object_set_new(ecus, serials[i], ecu_json(&st->ecus[i]));
    root = json_pack("{s:o, s:I, s:I, s:I}", "ecus", ecus, "manifest_counter",
                     (json_int_t)st->manifest_counter, "report_counter",
                     (json_int_t)st->report_counter, "latest_verified_time",
                     (json_int_t)st->latest_verified_time);
    if (root == NULL)
        return SDV_ENOMEM;
    if ((st->pending.present && json_object_set_new(root, "pending", ecu_json(&st->pending))) ||
        (st->failed.present && json_object_set_new(root, "failed", ecu_json(&st->failed))) ||
        json_object_set_new(root, "install_log_acked",
                            json_integer((json_int_t)st->install_log_acked))) {
        json_decref(root);
        return SDV_ENOMEM;
    }
    text = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2));
    json_decref(root);
    if (text == NULL)
        return SDV_ENOMEM;
    err = sdv_fs_write_atomic(path, text, strlen(text), 0644);
    free(text);
    return err;
}
