/*
 * store_install.c - install records: the ECUs' hash-chained install logs as their signed
 * version reports carried them (see sdv/store.h and sdv/install.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static enum sdv_err check_record(struct sdv_store *s, const struct sdv_store_install_record *r)
{
    enum sdv_err err;

    if (r == NULL) {
        store_errf(s, "install record is missing");
        return SDV_EINVAL;
    }
    err = store_check_id(s, "VIN", r->vin);
    if (err == SDV_OK)
        err = store_check_id(s, "ECU serial", r->ecu_serial);
    if (err == SDV_OK && (r->seq == 0 || r->seq > INT64_MAX)) {
        store_errf(s, "install record number must be 1 to %lld", (long long)INT64_MAX);
        err = SDV_EINVAL;
    }
    if (err == SDV_OK)
        err = store_check_doc(s, "install record time", r->recorded_at);
    if (err == SDV_OK)
        err = store_check_doc(s, "install record result", r->result);
    if (err == SDV_OK)
        err = store_check_doc(s, "version before", r->version_before);
    if (err == SDV_OK)
        err = store_check_doc(s, "version after", r->version_after);
    if (err == SDV_OK)
        err = store_check_doc(s, "install record reason", r->reason);
    if (err == SDV_OK)
        err = store_check_doc(s, "install record", r->record);
    return err;
}

static const struct store_col record_cols[] = {
        STORE_COL(I64, struct sdv_store_install_record, id),
        STORE_COL(STR, struct sdv_store_install_record, vin),
        STORE_COL(STR, struct sdv_store_install_record, ecu_serial),
        STORE_COL(U64, struct sdv_store_install_record, seq),
        STORE_COL(STR, struct sdv_store_install_record, recorded_at),
        STORE_COL(STR, struct sdv_store_install_record, result),
        STORE_COL(STR, struct sdv_store_install_record, version_before),
        STORE_COL(STR, struct sdv_store_install_record, version_after),
        STORE_COL(STR, struct sdv_store_install_record, reason),
        STORE_COL(STR, struct sdv_store_install_record, record),
        STORE_COL(BOOL, struct sdv_store_install_record, chain_verified),
        STORE_COL(I64, struct sdv_store_install_record, received_at),
};

void sdv_store_install_record_release(struct sdv_store_install_record *r)
{
    if (r == NULL)
        return;
    store_cols_release(record_cols, STORE_NCOLS(record_cols), r);
    memset(r, 0, sizeof(*r));
}

static void record_release(void *item)
{
    sdv_store_install_record_release(item);
}

void sdv_store_install_records_free(struct sdv_store_install_record *r, size_t count)
{
    store_free_items(r, count, sizeof(*r), record_release);
}

#define RECORD_COLS                                                                         \
    "id, vin, ecu_serial, seq, recorded_at, result, version_before, version_after, reason," \
    " record, chain_verified, received_at"

static const struct store_rows record_rows_spec = {
        .elem = sizeof(struct sdv_store_install_record),
        .max = SDV_STORE_PAGE_MAX,
        .ncols = STORE_NCOLS(record_cols),
        .what = "install record",
        .release = record_release,
        .cols = record_cols,
};

enum sdv_err sdv_store_install_record_get(struct sdv_store *s, const char *ecu_serial, uint64_t seq,
                                          struct sdv_store_install_record *out)
{
    struct store_rows rows = record_rows_spec;
    struct store_param p[2];
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = store_check(s);
    if (err == SDV_OK)
        err = store_check_id(s, "ECU serial", ecu_serial);
    if (err == SDV_OK && (seq == 0 || seq > INT64_MAX)) {
        store_errf(s, "install record number must be 1 to %lld", (long long)INT64_MAX);
        err = SDV_EINVAL;
    }
    if (err != SDV_OK)
        return err;
    p[0] = store_text(ecu_serial);
    p[1] = store_int((int64_t)seq);
    err = s->be->query(s,
                       "SELECT " RECORD_COLS " FROM install_records"
                       " WHERE ecu_serial = $1 AND seq = $2",
                       p, 2, store_row_cols, &rows, NULL);
    if (err == SDV_OK && rows.count == 0) {
        store_errf(s, "no install record %llu of ECU %s", (unsigned long long)seq, ecu_serial);
        err = SDV_ENOENT;
    }
    return store_rows_take_one(&rows, err, out);
}

static enum sdv_err put_locked(struct sdv_store *s, const struct sdv_store_install_record *r,
                               bool *stored)
{
    struct sdv_store_install_record old;
    struct store_param p[11];
    int64_t changes = 0;
    enum sdv_err err;

    p[0] = store_text(r->vin);
    p[1] = store_text(r->ecu_serial);
    p[2] = store_int((int64_t)r->seq);
    p[3] = store_text(r->recorded_at);
    p[4] = store_text(r->result);
    p[5] = store_text(r->version_before);
    p[6] = store_text(r->version_after);
    p[7] = store_text(r->reason);
    p[8] = store_text(r->record);
    p[9] = store_int(r->chain_verified ? 1 : 0);
    p[10] = store_int(r->received_at);
    err = s->be->query(s,
                       "INSERT INTO install_records (vin, ecu_serial, seq, recorded_at, result,"
                       " version_before, version_after, reason, record, chain_verified,"
                       " received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                       " ON CONFLICT (ecu_serial, seq) DO NOTHING",
                       p, 11, NULL, NULL, &changes);
    if (err == SDV_ENOENT)
        store_errf(s, "no vehicle with VIN %s", r->vin);
    if (err != SDV_OK || changes == 1) {
        *stored = err == SDV_OK;
        return err;
    }
    /* Already there: the same bytes again are harmless, others are a rewritten log. */
    err = sdv_store_install_record_get(s, r->ecu_serial, r->seq, &old);
    if (err == SDV_OK && (strcmp(old.record, r->record) != 0 || strcmp(old.vin, r->vin) != 0)) {
        store_errf(s, "ECU %s already reported a different install record %llu", r->ecu_serial,
                   (unsigned long long)r->seq);
        err = SDV_EEXIST;
    }
    sdv_store_install_record_release(&old);
    return err;
}

enum sdv_err sdv_store_install_record_put(struct sdv_store *s,
                                          const struct sdv_store_install_record *r, bool *stored)
{
    bool dummy = false;
    enum sdv_err err = store_check(s);

    if (stored == NULL)
        stored = &dummy;
    *stored = false;
    if (err == SDV_OK)
        err = check_record(s, r);
    if (err == SDV_OK)
        err = store_tx_enter(s);
    if (err != SDV_OK)
        return err;
    return store_tx_leave(s, put_locked(s, r, stored));
}

enum sdv_err sdv_store_install_record_list(struct sdv_store *s, const char *vin, int64_t before_id,
                                           size_t limit, struct sdv_store_install_record **out,
                                           size_t *count)
{
    struct store_rows rows = record_rows_spec;
    struct store_param p[3];
    enum sdv_err err;

    *out = NULL;
    *count = 0;
    err = store_vin_page(s, vin, before_id, limit, p);
    if (err != SDV_OK)
        return err;
    err = s->be->query(s,
                       "SELECT " RECORD_COLS " FROM install_records WHERE vin = $1 AND id < $2"
                       " ORDER BY id DESC LIMIT $3",
                       p, 3, store_row_cols, &rows, NULL);
    err = store_rows_take(&rows, err);
    *out = rows.items;
    *count = rows.count;
    return err;
}
