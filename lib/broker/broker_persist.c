/*
 * broker_persist.c - the snapshot of current values: one JSON file, replaced atomically
 * (sdv_fs_write_atomic: write, fsync, rename, fsync of the directory) at most once per
 * interval and at an orderly shutdown, read back and re-checked against the catalog at start.
 *
 * The periodic snapshot is serialised on the broker's thread (about 1.5 ms for a full VSS
 * catalog) and written by a writer thread, because the fsync of a flash file system takes tens
 * of milliseconds and must not stall the event loop; sdv_broker_persist() (shutdown) writes on
 * the caller's thread after the writer has finished.
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

/* How soon tick() looks again while the writer is still busy. */
#define WRITER_RECHECK_US 100000

/* The snapshot writer: one thread that writes the texts handed to it, so the fsync never blocks
 * the event loop. At most one text waits while another is being written. */
struct broker_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *path; /* the broker's persist_path, which outlives the thread */
    char *text;       /* waiting to be written, owned */
    size_t len;
    bool busy;
    bool stop;
    bool has_result;
    enum sdv_err result; /* of the last finished write */
};

static void *writer_main(void *arg)
{
    struct broker_writer *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        char *text;
        size_t len;
        enum sdv_err rc;

        while (w->text == NULL && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->text == NULL)
            break; /* stopping, and nothing left to write */
        text = w->text;
        len = w->len;
        w->text = NULL;
        w->busy = true;
        pthread_mutex_unlock(&w->mu);
        rc = sdv_fs_write_atomic(w->path, text, len, 0600);
        free(text);
        pthread_mutex_lock(&w->mu);
        w->busy = false;
        w->has_result = true;
        w->result = rc;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static enum sdv_err writer_start(struct sdv_broker *b)
{
    struct broker_writer *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return SDV_ENOMEM;
    w->path = b->persist_path;
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        return SDV_ENOMEM;
    }
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return SDV_ENOMEM;
    }
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return SDV_ENOMEM;
    }
    b->writer = w;
    return SDV_OK;
}

void broker_persist_stop(struct sdv_broker *b)
{
    struct broker_writer *w = b->writer;

    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    free(w->text);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    b->writer = NULL;
}

/* Collects the writer's last result (waiting for it when wait is set). A failed write makes the
 * values dirty again so the next interval retries; the failure is logged and left in errmsg.
 * Returns true when the writer is idle. */
static bool writer_collect(struct sdv_broker *b, bool wait, enum sdv_err *result)
{
    struct broker_writer *w = b->writer;
    bool idle, has;
    enum sdv_err rc = SDV_OK;

    *result = SDV_OK;
    if (w == NULL)
        return true;
    pthread_mutex_lock(&w->mu);
    while (wait && (w->busy || w->text != NULL))
        pthread_cond_wait(&w->cv, &w->mu);
    has = w->has_result;
    if (has)
        rc = w->result;
    w->has_result = false;
    idle = !w->busy && w->text == NULL;
    pthread_mutex_unlock(&w->mu);
    if (idle)
        b->persist_inflight = false;
    if (has && rc != SDV_OK) {
        broker_err(b, "%s: cannot write the snapshot: %s", b->persist_path, sdv_strerror(rc));
        sdv_logf(b->cfg.log, SDV_LOG_ERROR, "%s", b->errmsg);
        b->dirty = true;
        *result = rc;
    }
    return idle;
}

/* Serialises every current value into a new JSON text (caller frees). */
static enum sdv_err snapshot_text(struct sdv_broker *b, char **out, size_t *out_len)
{
    json_t *root = NULL, *values = NULL;
    enum sdv_err rc = SDV_ENOMEM;
    uint32_t i;

    *out = NULL;
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
    *out = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    rc = *out != NULL ? SDV_OK : SDV_ENOMEM;
    if (rc == SDV_OK)
        *out_len = strlen(*out);
out:
    if (rc != SDV_OK)
        broker_err(b, "out of memory writing the snapshot");
    json_decref(values);
    json_decref(root);
    return rc;
}

void broker_persist_tick(struct sdv_broker *b, int64_t now_us)
{
    int64_t interval_us = (int64_t)b->cfg.persist_interval_ms * 1000;
    int64_t due = b->last_persist_us + interval_us;
    enum sdv_err rc;
    char *text;
    size_t len = 0;

    if (!writer_collect(b, false, &rc)) {
        broker_schedule(b, now_us + WRITER_RECHECK_US);
        return;
    }
    if (!b->dirty)
        return;
    if (now_us < due) {
        broker_schedule(b, due);
        return;
    }
    b->last_persist_us = now_us; /* whatever happens, the next attempt is one interval away */
    if (b->writer == NULL && writer_start(b) != SDV_OK) {
        /* No thread: write here, as sdv_broker_persist does. */
        if (sdv_broker_persist(b) != SDV_OK)
            sdv_logf(b->cfg.log, SDV_LOG_ERROR, "%s", b->errmsg);
        b->last_persist_us = now_us;
        if (b->dirty)
            broker_schedule(b, now_us + interval_us);
        return;
    }
    if (snapshot_text(b, &text, &len) != SDV_OK) {
        sdv_logf(b->cfg.log, SDV_LOG_ERROR, "%s", b->errmsg);
        broker_schedule(b, now_us + interval_us);
        return;
    }
    pthread_mutex_lock(&b->writer->mu);
    b->writer->text = text;
    b->writer->len = len;
    pthread_cond_broadcast(&b->writer->cv);
    pthread_mutex_unlock(&b->writer->mu);
    b->dirty = false;
    b->persist_inflight = true;
    broker_schedule(b, now_us + WRITER_RECHECK_US); /* to collect the result */
}

enum sdv_err sdv_broker_persist(struct sdv_broker *b)
{
    enum sdv_err rc, prev;
    char *text = NULL;
    size_t len = 0;

    if (b == NULL)
        return SDV_EINVAL;
    if (b->persist_path == NULL)
        return SDV_OK;
    writer_collect(b, true, &prev);
    if (!b->dirty)
        return SDV_OK;
    rc = snapshot_text(b, &text, &len);
    if (rc != SDV_OK)
        return rc;
    rc = sdv_fs_write_atomic(b->persist_path, text, len, 0600);
    free(text);
    if (rc != SDV_OK) {
        broker_err(b, "%s: cannot write the snapshot: %s", b->persist_path, sdv_strerror(rc));
        return rc;
    }
    b->dirty = false;
    b->last_persist_us = broker_now(b);
    return SDV_OK;
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
        sdv_msgf(err, err_len, "%s: %s", b->persist_path, sdv_strerror(rc));
        goto out;
    }
    rc = sdv_json_parse(buf.data, buf.len, &root, perr, sizeof(perr));
    if (rc != SDV_OK) {
        sdv_msgf(err, err_len, "%s: damaged snapshot: %s", b->persist_path, perr);
        goto out;
    }
    values = json_object_get(root, "values");
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "format")) ||
        strcmp(json_string_value(json_object_get(root, "format")), SNAPSHOT_FORMAT) != 0 ||
        json_integer_value(json_object_get(root, "version")) != 1 || !json_is_object(values)) {
        sdv_msgf(err, err_len, "%s: not a version 1 %s snapshot", b->persist_path, SNAPSHOT_FORMAT);
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
            sdv_msgf(err, err_len, "%s: damaged snapshot entry %.200s", b->persist_path, path);
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
            sdv_msgf(err, err_len, "%s", b->errmsg);
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
