/*
 * broker_persist.c - the snapshot of current values: one JSON file, replaced atomically
 * (sdv_fs_write_atomic: write, fsync, rename, fsync of the directory) at most once per
 * interval and at an orderly shutdown, read back and re-checked against the catalog at start.
 *
 * Why a snapshot file and not SQLite: the broker's values change up to 100,000 times a second
 * and only the last one matters. A snapshot costs one write and one fsync per interval whatever
 * the update rate, never touches the fan-out path, is trivially crash-safe with rename, and
 * needs no schema; SQLite would need the same batching to keep its write-ahead log and flash
 * wear in check and would add nothing the broker queries.
 *
 * Format (version 1):
 *   {"format":"sdv-broker-values","version":1,
 *    "values":{"Vehicle.Speed":{"datatype":"float","value":42.5,"ts_us":1700000000000000},...}}
 * Values are written as native JSON (sdv_broker_value_to_json without flags): exact for every
 * type (uint64 above 2^63 as a decimal string, floats with round-trip precision).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"

#define SNAPSHOT_FORMAT "sdv-broker-values"

enum sdv_err sdv_broker_persist(struct sdv_broker *b)
{
    json_t *root = NULL, *values = NULL;
    char *text = NULL;
    enum sdv_err rc = SDV_ENOMEM;
    uint32_t i;

    if (b == NULL)
        return SDV_EINVAL;
    if (b->persist_path == NULL || !b->dirty)
        return SDV_OK;
    root = json_object();
    values = json_object();
    if (root == NULL || values == NULL)
        goto out;
    if (json_object_set_new(root, "format", json_string(SNAPSHOT_FORMAT)) != 0 ||
        json_object_set_new(root, "version", json_integer(1)) != 0 ||
        json_object_set(root, "values", values) != 0)
        goto out;
    for (i = 0; i < b->nsigs; i++) {
        const struct broker_sig_state *st = &b->st[i];
        const struct sdv_broker_signal *sig;
        json_t *entry, *jv = NULL;

        if (st->value.type == SDV_BROKER_DT_NONE)
            continue;
        sig = sdv_broker_catalog_signal(b->cat, i);
        rc = sdv_broker_value_to_json(&st->value, 0, &jv);
        if (rc != SDV_OK)
            goto out;
        entry = json_pack("{s:s, s:o, s:I}", "datatype", sdv_broker_datatype_name(st->value.type),
                          "value", jv, "ts_us", (json_int_t)st->ts_us);
        rc = SDV_ENOMEM;
        if (entry == NULL || json_object_set_new(values, sig->path, entry) != 0)
            goto out;
    }
    text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (text == NULL) {
        rc = SDV_ENOMEM;
        goto out;
    }
    rc = sdv_fs_write_atomic(b->persist_path, text, strlen(text), 0600);
    if (rc != SDV_OK) {
        broker_err(b, "%s: cannot write the snapshot: %s", b->persist_path, sdv_strerror(rc));
        goto out;
    }
    b->dirty = false;
    b->last_persist_us = broker_now(b);
out:
    if (rc == SDV_ENOMEM)
        broker_err(b, "out of memory writing the snapshot");
    free(text);
    json_decref(values);
    json_decref(root);
    return rc;
}

enum sdv_err broker_persist_load(struct sdv_broker *b, char *err, size_t err_len)
{
    struct sdv_buf buf, scratch;
    json_t *root = NULL, *values, *entry;
    const char *path;
    char perr[256];
    enum sdv_err rc;
    size_t loaded = 0, skipped = 0;

    sdv_buf_init(&buf, SDV_BROKER_SNAPSHOT_LEN_MAX);
    sdv_buf_init(&scratch, (size_t)SDV_BROKER_STRING_LEN_MAX + SDV_BROKER_ARRAY_LEN_MAX * 8u);
    rc = sdv_fs_read(b->persist_path, &buf);
    if (rc == SDV_ENOENT) {
        sdv_logf(b->cfg.log, SDV_LOG_INFO, "%s: no snapshot yet, starting empty", b->persist_path);
        rc = SDV_OK;
        goto out;
    }
    if (rc != SDV_OK) {
        broker_errf(err, err_len, "%s: %s", b->persist_path, sdv_strerror(rc));
        goto out;
    }
    rc = sdv_json_parse(buf.data, buf.len, &root, perr, sizeof(perr));
    if (rc != SDV_OK) {
        broker_errf(err, err_len, "%s: damaged snapshot: %s", b->persist_path, perr);
        goto out;
    }
    values = json_object_get(root, "values");
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "format")) ||
        strcmp(json_string_value(json_object_get(root, "format")), SNAPSHOT_FORMAT) != 0 ||
        json_integer_value(json_object_get(root, "version")) != 1 || !json_is_object(values)) {
        broker_errf(err, err_len, "%s: not a version 1 %s snapshot", b->persist_path,
                    SNAPSHOT_FORMAT);
        rc = SDV_EPARSE;
        goto out;
    }
    json_object_foreach(values, path, entry)
    {
        const struct sdv_broker_signal *sig = sdv_broker_catalog_find(b->cat, path, strlen(path));
        const json_t *jdt = json_object_get(entry, "datatype");
        const json_t *jts = json_object_get(entry, "ts_us");
        const json_t *jv = json_object_get(entry, "value");
        enum sdv_broker_datatype dt;
        struct sdv_broker_value v;
        char msg[300];

        if (!json_is_object(entry) || !json_is_string(jdt) || !json_is_integer(jts) || jv == NULL ||
            sdv_broker_datatype_parse(json_string_value(jdt), &dt) != SDV_OK) {
            broker_errf(err, err_len, "%s: damaged snapshot entry %.200s", b->persist_path, path);
            rc = SDV_EPARSE;
            goto out;
        }
        if (sig == NULL || sig->datatype != dt) {
            sdv_logf(b->cfg.log, SDV_LOG_WARN, "%s: %s: %s, value dropped", b->persist_path, path,
                     sig == NULL ? "no longer in the catalog" : "datatype changed");
            skipped++;
            continue;
        }
        rc = sdv_broker_value_from_json(dt, jv, &scratch, &v, msg, sizeof(msg));
        if (rc == SDV_OK)
            rc = sdv_broker_signal_check(sig, &v, msg, sizeof(msg));
        if (rc != SDV_OK) {
            sdv_logf(b->cfg.log, SDV_LOG_WARN, "%s: %s: %s, value dropped", b->persist_path, path,
                     msg);
            skipped++;
            rc = SDV_OK;
            continue;
        }
        rc = broker_store_value(b, sig->id, &v, (int64_t)json_integer_value(jts));
        if (rc != SDV_OK) {
            broker_errf(err, err_len, "%s", b->errmsg);
            goto out;
        }
        loaded++;
    }
    sdv_logf(b->cfg.log, SDV_LOG_INFO, "%s: %zu values restored, %zu dropped", b->persist_path,
             loaded, skipped);
out:
    json_decref(root);
    sdv_buf_free(&buf);
    sdv_buf_free(&scratch);
    return rc;
}
