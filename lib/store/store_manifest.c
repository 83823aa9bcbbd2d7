/*
 * store_manifest.c - vehicle version manifests with their ECU reports, and the artifact index.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---- Manifests -------------------------------------------------------------------------- */

static enum sdv_err check_report(struct sdv_store *s, const struct sdv_store_ecu_report *r)
{
    enum sdv_err err = store_check_id(s, "ECU serial", r->ecu_serial);

    if (err == SDV_OK)
        err = store_check_id(s, "installed target name", r->target_name);
    if (err == SDV_OK)
        err = store_check_u64(s, "installed target length", r->target_length);
    if (err == SDV_OK)
        err = store_check_doc(s, "hashes", r->hashes);
    if (err == SDV_OK)
        err = store_check_doc(s, "nonce", r->nonce);
    if (err == SDV_OK && r->attack_detected != NULL)
        err = store_check_doc(s, "attack detected", r->attack_detected);
    return err;
}

static enum sdv_err check_manifest(struct sdv_store *s, const struct sdv_store_manifest *m)
{
    enum sdv_err err;

    if (m == NULL) {
        store_errf(s, "manifest is missing");
        return SDV_EINVAL;
    }
    err = store_check_id(s, "VIN", m->vin);
    if (err == SDV_OK)
        err = store_check_doc(s, "manifest", m->raw);
    if (err == SDV_OK && m->attack != NULL)
        err = store_check_doc(s, "attack", m->attack);
    if (err != SDV_OK)
        return err;
    if (m->report_count > SDV_STORE_ECUS_MAX || (m->report_count > 0 && m->reports == NULL)) {
        store_errf(s, "a manifest holds 0 to %d ECU reports", SDV_STORE_ECUS_MAX);
        return SDV_EINVAL;
    }
    for (size_t i = 0; i < m->report_count; i++) {
        err = check_report(s, &m->reports[i]);
        if (err != SDV_OK)
            return err;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(m->reports[j].ecu_serial, m->reports[i].ecu_serial) == 0) {
                store_errf(s, "two reports for ECU %s in one manifest", m->reports[i].ecu_serial);
                return SDV_EINVAL;
            }
        }
    }
    return SDV_OK;
}

static enum sdv_err manifest_insert_locked(struct sdv_store *s, const struct sdv_store_manifest *m,
                                           int64_t *id)
{
    struct store_param p[8];
    enum sdv_err err;

    p[0] = store_text(m->vin);
    p[1] = store_int(m->received_at);
    p[2] = store_text(m->raw);
    p[3] = store_int(m->verified ? 1 : 0);
    p[4] = store_text(m->attack);
    err = s->be->query(s,
                       "INSERT INTO manifests (vin, received_at, raw, verified, attack)"
                       " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                       p, 5, store_row_i64, id, NULL);
    if (err == SDV_ENOENT)
        store_errf(s, "no vehicle with VIN %s", m->vin);
    for (size_t i = 0; i < m->report_count && err == SDV_OK; i++) {
        const struct sdv_store_ecu_report *r = &m->reports[i];

        p[0] = store_int(*id);
        p[1] = store_text(r->ecu_serial);
        p[2] = store_text(r->target_name);
        p[3] = store_int((int64_t)r->target_length);
        p[4] = store_text(r->hashes);
        p[5] = store_text(r->nonce);
        p[6] = store_int(r->latest_verified_at);
        p[7] = store_text(r->attack_detected != NULL ? r->attack_detected : "");
        err = s->be->query(s,
                           "INSERT INTO ecu_reports (manifest_id, ecu_serial, target_name,"
                           " target_length, hashes, nonce, latest_verified_at, attack_detected)"
                           " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                           p, 8, NULL, NULL, NULL);
    }
    return err;
}

enum sdv_err sdv_store_manifest_insert(struct sdv_store *s, const struct sdv_store_manifest *m,
                                       int64_t *id_out)
{
    int64_t id = 0;
    enum sdv_err err = store_check(s);

    if (id_out != NULL)
        *id_out = 0;
    if (err == SDV_OK)
        err = check_manifest(s, m);
    if (err == SDV_OK)
        err = store_tx_enter(s);
    if (err != SDV_OK)
        return err;
    err = store_tx_leave(s, manifest_insert_locked(s, m, &id));
    if (err == SDV_OK && id_out != NULL)
        *id_out = id;
    return err;
}

/* Columns 1 to 7 of a report row; column 0 is the manifest id. */
static const struct store_col report_cols[] = {
        STORE_COL(STR, struct sdv_store_ecu_report, ecu_serial),
        STORE_COL(STR, struct sdv_store_ecu_report, target_name),
        STORE_COL(U64, struct sdv_store_ecu_report, target_length),
        STORE_COL(STR, struct sdv_store_ecu_report, hashes),
        STORE_COL(STR, struct sdv_store_ecu_report, nonce),
        STORE_COL(I64, struct sdv_store_ecu_report, latest_verified_at),
        STORE_COL(STR, struct sdv_store_ecu_report, attack_detected),
};

static void report_release(void *item)
{
    struct sdv_store_ecu_report *r = item;

    store_cols_release(report_cols, STORE_NCOLS(report_cols), r);
    memset(r, 0, sizeof(*r));
}

static const struct store_col manifest_cols[] = {
        STORE_COL(I64, struct sdv_store_manifest, id),
        STORE_COL(STR, struct sdv_store_manifest, vin),
        STORE_COL(I64, struct sdv_store_manifest, received_at),
        STORE_COL(STR, struct sdv_store_manifest, raw),
        STORE_COL(BOOL, struct sdv_store_manifest, verified),
        STORE_COL(STR, struct sdv_store_manifest, attack),
};

void sdv_store_manifest_release(struct sdv_store_manifest *m)
{
    if (m == NULL)
        return;
    store_free_items((void *)(uintptr_t)m->reports, m->report_count, sizeof(*m->reports),
                     report_release);
    store_cols_release(manifest_cols, STORE_NCOLS(manifest_cols), m);
    memset(m, 0, sizeof(*m));
}

static void manifest_release(void *item)
{
    sdv_store_manifest_release(item);
}

void sdv_store_manifests_free(struct sdv_store_manifest *m, size_t count)
{
    store_free_items(m, count, sizeof(*m), manifest_release);
}

/* A page of manifests, newest first, then their reports merged in. */
struct manifest_rows {
    struct store_rows rows; /* of struct sdv_store_manifest */
    size_t cursor;          /* report merge: index of the manifest reports are appended to */
    size_t report_cap;      /* of that manifest */
};

/* How manifest_row() collects a page of manifests. */
static const struct store_rows manifest_rows_spec = {
        .elem = sizeof(struct sdv_store_manifest),
        .max = SDV_STORE_PAGE_MAX,
        .ncols = STORE_NCOLS(manifest_cols),
        .what = "manifest",
        .release = manifest_release,
        .cols = manifest_cols,
};

static enum sdv_err manifest_row(struct sdv_store *s, void *ud, const char *const *cols,
                                 size_t ncols)
{
    struct manifest_rows *r = ud;

    return store_row_cols(s, &r->rows, cols, ncols);
}

/* Report rows come ordered by manifest id (descending, like the page) then ECU serial; rows of
 * manifests outside the page are skipped. */
static enum sdv_err report_row(struct sdv_store *s, void *ud, const char *const *cols, size_t ncols)
{
    struct manifest_rows *r = ud;
    struct sdv_store_manifest *ms = r->rows.items, *m;
    struct sdv_store_ecu_report *reports, *rep;
    int64_t id;
    enum sdv_err err;

    if (ncols != 8) {
        store_errf(s, "unexpected ECU report row");
        return SDV_EIO;
    }
    err = store_col_i64(s, cols[0], &id);
    if (err != SDV_OK)
        return err;
    while (r->cursor < r->rows.count && ms[r->cursor].id > id) {
        r->cursor++;
        r->report_cap = 0;
    }
    if (r->cursor == r->rows.count || ms[r->cursor].id != id)
        return SDV_OK;
    m = &ms[r->cursor];
    if (m->report_count >= SDV_STORE_ECUS_MAX) {
        store_errf(s, "manifest %lld has more than %d reports", (long long)id, SDV_STORE_ECUS_MAX);
        return SDV_EIO;
    }
    reports = (struct sdv_store_ecu_report *)(uintptr_t)m->reports;
    err = store_grow(s, (void **)&reports, &r->report_cap, m->report_count, sizeof(*reports));
    m->reports = reports;
    if (err != SDV_OK)
        return err;
    rep = &reports[m->report_count++];
    return store_cols_decode(s, cols + 1, report_cols, STORE_NCOLS(report_cols), rep);
}

#define MANIFEST_COLS "id, vin, received_at, raw, verified, attack"

/* Loads the reports of the manifests in r (ids descending). Manifests and their reports are
 * written in one transaction and never change, so a second statement sees them complete. */
static enum sdv_err load_reports(struct sdv_store *s, const char *vin, struct manifest_rows *r)
{
    const struct sdv_store_manifest *ms = r->rows.items;
    struct store_param p[3];

    if (r->rows.count == 0)
        return SDV_OK;
    p[0] = store_text(vin);
    p[1] = store_int(ms[r->rows.count - 1].id);
    p[2] = store_int(ms[0].id);
    return s->be->query(s,
                        "SELECT r.manifest_id, r.ecu_serial, r.target_name, r.target_length,"
                        " r.hashes, r.nonce, r.latest_verified_at, r.attack_detected"
                        " FROM ecu_reports r JOIN manifests m ON m.id = r.manifest_id"
                        " WHERE m.vin = $1 AND m.id >= $2 AND m.id <= $3"
                        " ORDER BY r.manifest_id DESC, r.ecu_serial",
                        p, 3, report_row, r, NULL);
}

enum sdv_err sdv_store_manifest_latest(struct sdv_store *s, const char *vin, bool verified_only,
                                       struct sdv_store_manifest *out)
{
    struct manifest_rows r = {.rows = manifest_rows_spec};
    struct store_param p[1];
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = store_check(s);
    if (err == SDV_OK)
        err = store_check_id(s, "VIN", vin);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(vin);
    /* "verified = 1" is true in SQLite; PostgreSQL compares a boolean with the literal only
     * after a cast, so the two dialects spell the filter differently. */
    err = s->be->query(s,
                       !verified_only ? "SELECT " MANIFEST_COLS " FROM manifests WHERE vin = $1"
                                        " ORDER BY id DESC LIMIT 1"
                       : s->be->dialect == STORE_DIALECT_PG
                               ? "SELECT " MANIFEST_COLS " FROM manifests WHERE vin = $1"
                                 " AND verified ORDER BY id DESC LIMIT 1"
                               : "SELECT " MANIFEST_COLS " FROM manifests WHERE vin = $1"
                                 " AND verified = 1 ORDER BY id DESC LIMIT 1",
                       p, 1, manifest_row, &r, NULL);
    if (err == SDV_OK && r.rows.count == 0) {
        store_errf(s, "no %smanifest from VIN %s", verified_only ? "verified " : "", vin);
        err = SDV_ENOENT;
    }
    if (err == SDV_OK)
        err = load_reports(s, vin, &r);
    return store_rows_take_one(&r.rows, err, out);
}

enum sdv_err sdv_store_manifest_history(struct sdv_store *s, const char *vin, int64_t before_id,
                                        size_t limit, struct sdv_store_manifest **out,
                                        size_t *count)
{
    struct manifest_rows r = {.rows = manifest_rows_spec};
    struct store_param p[3];
    enum sdv_err err;

    *out = NULL;
    *count = 0;
    err = store_vin_page(s, vin, before_id, limit, p);
    if (err != SDV_OK)
        return err;
    err = s->be->query(s,
                       "SELECT " MANIFEST_COLS " FROM manifests WHERE vin = $1 AND id < $2"
                       " ORDER BY id DESC LIMIT $3",
                       p, 3, manifest_row, &r, NULL);
    if (err == SDV_OK)
        err = load_reports(s, vin, &r);
    err = store_rows_take(&r.rows, err);
    *out = r.rows.items;
    *count = r.rows.count;
    return err;
}

/* ---- Artifacts -------------------------------------------------------------------------- */

static enum sdv_err check_sha256(struct sdv_store *s, const char *hex)
{
    size_t n = hex != NULL ? strnlen(hex, 65) : 0;

    if (n != 64 || strspn(hex, "0123456789abcdef") != 64) {
        store_errf(s, "an artifact id is 64 lowercase hex digits (SHA-256)");
        return SDV_EINVAL;
    }
    return SDV_OK;
}

enum sdv_err sdv_store_artifact_put(struct sdv_store *s, const struct sdv_store_artifact *a)
{
    struct store_param p[4];
    enum sdv_err err = store_check(s);

    if (err == SDV_OK && a == NULL) {
        store_errf(s, "artifact is missing");
        err = SDV_EINVAL;
    }
    if (err == SDV_OK)
        err = check_sha256(s, a->sha256);
    if (err == SDV_OK)
        err = store_check_u64(s, "artifact length", a->length);
    if (err == SDV_OK && a->name != NULL)
        err = store_check_id(s, "artifact name", a->name);
    if (err == SDV_OK)
        err = store_tx_enter(s);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(a->sha256);
    p[1] = store_int((int64_t)a->length);
    p[2] = store_int(a->created_at);
    p[3] = store_text(a->name);
    err = s->be->query(s,
                       "INSERT INTO artifacts (sha256, length, created_at, name)"
                       " VALUES ($1, $2, $3, $4)",
                       p, 4, NULL, NULL, NULL);
    if (err == SDV_EEXIST)
        store_errf(s, "artifact %s already exists", a->sha256);
    return store_tx_leave(s, err);
}

static const struct store_col artifact_cols[] = {
        STORE_COL(STR, struct sdv_store_artifact, sha256),
        STORE_COL(U64, struct sdv_store_artifact, length),
        STORE_COL(I64, struct sdv_store_artifact, created_at),
        STORE_COL(STR, struct sdv_store_artifact, name),
};

void sdv_store_artifact_release(struct sdv_store_artifact *a)
{
    if (a == NULL)
        return;
    store_cols_release(artifact_cols, STORE_NCOLS(artifact_cols), a);
    memset(a, 0, sizeof(*a));
}

static void artifact_release(void *item)
{
    sdv_store_artifact_release(item);
}

void sdv_store_artifacts_free(struct sdv_store_artifact *a, size_t count)
{
    store_free_items(a, count, sizeof(*a), artifact_release);
}

/* How store_row_cols() collects artifacts. */
static const struct store_rows artifact_rows_spec = {
        .elem = sizeof(struct sdv_store_artifact),
        .max = SDV_STORE_PAGE_MAX,
        .ncols = STORE_NCOLS(artifact_cols),
        .what = "artifact",
        .release = artifact_release,
        .cols = artifact_cols,
};

enum sdv_err sdv_store_artifact_get(struct sdv_store *s, const char *sha256,
                                    struct sdv_store_artifact *out)
{
    struct store_rows r = artifact_rows_spec;
    struct store_param p[1];
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = store_check(s);
    if (err == SDV_OK)
        err = check_sha256(s, sha256);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(sha256);
    err = s->be->query(s,
                       "SELECT sha256, length, created_at, name FROM artifacts WHERE sha256 = $1",
                       p, 1, store_row_cols, &r, NULL);
    if (err == SDV_OK && r.count == 0) {
        store_errf(s, "no artifact %s", sha256);
        err = SDV_ENOENT;
    }
    return store_rows_take_one(&r, err, out);
}

enum sdv_err sdv_store_artifact_list(struct sdv_store *s, const char *after_sha256, size_t limit,
                                     struct sdv_store_artifact **out, size_t *count)
{
    struct store_rows r = artifact_rows_spec;
    struct store_param p[2];
    enum sdv_err err;

    *out = NULL;
    *count = 0;
    err = store_check(s);
    if (err == SDV_OK && (limit == 0 || limit > SDV_STORE_PAGE_MAX)) {
        store_errf(s, "page size must be 1 to %d", SDV_STORE_PAGE_MAX);
        err = SDV_EINVAL;
    }
    if (err == SDV_OK && after_sha256 != NULL)
        err = check_sha256(s, after_sha256);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(after_sha256 != NULL ? after_sha256 : "");
    p[1] = store_int((int64_t)limit);
    err = s->be->query(s,
                       "SELECT sha256, length, created_at, name FROM artifacts WHERE sha256 > $1"
                       " ORDER BY sha256 LIMIT $2",
                       p, 2, store_row_cols, &r, NULL);
    err = store_rows_take(&r, err);
    *out = r.items;
    *count = r.count;
    return err;
}
