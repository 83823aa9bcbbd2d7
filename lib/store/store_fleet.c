/*
 * store_fleet.c - the device registry (vehicles, ECUs), assignments and the director's
 * per-vehicle metadata state.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---- Vehicles and ECUs ------------------------------------------------------------------ */

static enum sdv_err check_vehicle(struct sdv_store *s, const struct sdv_store_vehicle *v)
{
    size_t primaries = 0;
    enum sdv_err err;

    if (v == NULL) {
        store_errf(s, "vehicle is missing");
        return SDV_EINVAL;
    }
    err = store_check_id(s, "VIN", v->vin);
    if (err == SDV_OK)
        err = store_check_id(s, "primary ECU serial", v->primary_ecu_serial);
    if (err != SDV_OK)
        return err;
    if (v->ecus == NULL || v->ecu_count == 0 || v->ecu_count > SDV_STORE_ECUS_MAX) {
        store_errf(s, "a vehicle has 1 to %d ECUs", SDV_STORE_ECUS_MAX);
        return SDV_EINVAL;
    }
    for (size_t i = 0; i < v->ecu_count; i++) {
        const struct sdv_store_ecu *e = &v->ecus[i];

        err = store_check_id(s, "ECU serial", e->serial);
        if (err == SDV_OK)
            err = store_check_id(s, "hardware id", e->hardware_id);
        if (err == SDV_OK)
            err = store_check_doc(s, "ECU public key", e->public_key);
        if (err != SDV_OK)
            return err;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(v->ecus[j].serial, e->serial) == 0) {
                store_errf(s, "ECU serial %s appears twice", e->serial);
                return SDV_EINVAL;
            }
        }
        if (e->is_primary) {
            primaries++;
            if (strcmp(e->serial, v->primary_ecu_serial) != 0) {
                store_errf(s, "the ECU marked primary is not the vehicle's primary ECU serial");
                return SDV_EINVAL;
            }
        }
    }
    if (primaries != 1) {
        store_errf(s, "a vehicle has exactly one primary ECU, listed among its ECUs");
        return SDV_EINVAL;
    }
    return SDV_OK;
}

static enum sdv_err register_locked(struct sdv_store *s, const struct sdv_store_vehicle *v)
{
    struct store_param p[5];
    enum sdv_err err;

    p[0] = store_text(v->vin);
    p[1] = store_text(v->primary_ecu_serial);
    p[2] = store_int(v->created_at);
    err = s->be->query(s,
                       "INSERT INTO vehicles (vin, primary_ecu_serial, created_at) "
                       "VALUES ($1, $2, $3)",
                       p, 3, NULL, NULL, NULL);
    if (err == SDV_EEXIST)
        store_errf(s, "VIN %s is already registered", v->vin);
    for (size_t i = 0; i < v->ecu_count && err == SDV_OK; i++) {
        const struct sdv_store_ecu *e = &v->ecus[i];

        p[0] = store_text(e->serial);
        p[1] = store_text(v->vin);
        p[2] = store_text(e->hardware_id);
        p[3] = store_text(e->public_key);
        p[4] = store_int(e->is_primary ? 1 : 0);
        err = s->be->query(s,
                           "INSERT INTO ecus (serial, vin, hardware_id, public_key, is_primary) "
                           "VALUES ($1, $2, $3, $4, $5)",
                           p, 5, NULL, NULL, NULL);
        if (err == SDV_EEXIST)
            store_errf(s, "ECU serial %s is already registered", e->serial);
    }
    return err;
}

enum sdv_err sdv_store_vehicle_register(struct sdv_store *s, const struct sdv_store_vehicle *v)
{
    enum sdv_err err = store_check(s);

    if (err == SDV_OK)
        err = check_vehicle(s, v);
    if (err == SDV_OK)
        err = store_tx_enter(s);
    if (err != SDV_OK)
        return err;
    return store_tx_leave(s, register_locked(s, v));
}

#define ECU_COLS "e.serial, e.vin, e.hardware_id, e.public_key, e.is_primary"

/* Decodes the five ECU_COLS columns. */
static const struct store_col ecu_cols[] = {
        STORE_COL(STR, struct sdv_store_ecu, serial),
        STORE_COL(STR, struct sdv_store_ecu, vin),
        STORE_COL(STR, struct sdv_store_ecu, hardware_id),
        STORE_COL(STR, struct sdv_store_ecu, public_key),
        STORE_COL(BOOL, struct sdv_store_ecu, is_primary),
};

void sdv_store_ecu_release(struct sdv_store_ecu *e)
{
    if (e == NULL)
        return;
    store_cols_release(ecu_cols, STORE_NCOLS(ecu_cols), e);
    memset(e, 0, sizeof(*e));
}

static void ecu_release(void *item)
{
    sdv_store_ecu_release(item);
}

/* The vehicle's own columns, before its ECU's. */
static const struct store_col vehicle_cols[] = {
        STORE_COL(STR, struct sdv_store_vehicle, vin),
        STORE_COL(STR, struct sdv_store_vehicle, primary_ecu_serial),
        STORE_COL(I64, struct sdv_store_vehicle, created_at),
};

void sdv_store_vehicle_release(struct sdv_store_vehicle *v)
{
    if (v == NULL)
        return;
    store_free_items((void *)(uintptr_t)v->ecus, v->ecu_count, sizeof(*v->ecus), ecu_release);
    store_cols_release(vehicle_cols, STORE_NCOLS(vehicle_cols), v);
    memset(v, 0, sizeof(*v));
}

static void vehicle_release(void *item)
{
    sdv_store_vehicle_release(item);
}

void sdv_store_vehicles_free(struct sdv_store_vehicle *v, size_t count)
{
    store_free_items(v, count, sizeof(*v), vehicle_release);
}

static enum sdv_err ecu_from_cols(struct sdv_store *s, const char *const *cols,
                                  struct sdv_store_ecu *e)
{
    return store_cols_decode(s, cols, ecu_cols, STORE_NCOLS(ecu_cols), e);
}

/* Rows of "vehicle columns + ECU columns", ordered by VIN, become vehicles with their ECUs. */
struct vehicle_rows {
    struct store_rows rows; /* of struct sdv_store_vehicle */
    size_t ecu_cap;         /* of the last vehicle, the only one still growing */
};

/* How vehicle_row() collects vehicles; ncols counts the ECU columns too. */
static const struct store_rows vehicle_rows_spec = {
        .elem = sizeof(struct sdv_store_vehicle),
        .max = SIZE_MAX,
        .ncols = 8,
        .what = "vehicle",
        .release = vehicle_release,
};

static enum sdv_err vehicle_row(struct sdv_store *s, void *ud, const char *const *cols,
                                size_t ncols)
{
    struct vehicle_rows *r = ud;
    struct sdv_store_vehicle *vs = r->rows.items, *v;
    struct sdv_store_ecu *ecus;
    void *item;
    enum sdv_err err;

    if (ncols != 8 || cols[0] == NULL) {
        store_errf(s, "unexpected vehicle row");
        return SDV_EIO;
    }
    if (r->rows.count == 0 || strcmp(vs[r->rows.count - 1].vin, cols[0]) != 0) {
        err = store_rows_add(s, &r->rows, ncols, &item);
        if (err != SDV_OK)
            return err;
        v = item;
        vs = r->rows.items;
        r->ecu_cap = 0;
        err = store_cols_decode(s, cols, vehicle_cols, 3, v);
        if (err != SDV_OK)
            return err;
    }
    v = &vs[r->rows.count - 1];
    if (v->ecu_count >= SDV_STORE_ECUS_MAX) {
        store_errf(s, "vehicle %s has more than %d ECUs", v->vin, SDV_STORE_ECUS_MAX);
        return SDV_EIO;
    }
    ecus = (struct sdv_store_ecu *)(uintptr_t)v->ecus;
    err = store_grow(s, (void **)&ecus, &r->ecu_cap, v->ecu_count, sizeof(*ecus));
    v->ecus = ecus;
    if (err != SDV_OK)
        return err;
    v->ecu_count++;
    return ecu_from_cols(s, cols + 3, &ecus[v->ecu_count - 1]);
}

#define VEHICLE_SELECT                                                                \
    "SELECT v.vin, v.primary_ecu_serial, v.created_at, " ECU_COLS " FROM vehicles v " \
    "JOIN ecus e ON e.vin = v.vin "

enum sdv_err sdv_store_vehicle_get(struct sdv_store *s, const char *vin,
                                   struct sdv_store_vehicle *out)
{
    struct vehicle_rows r = {.rows = vehicle_rows_spec};
    struct store_param p[1];
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = store_check(s);
    if (err == SDV_OK)
        err = store_check_id(s, "VIN", vin);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(vin);
    /* One statement, so the vehicle and its ECUs come from one snapshot. */
    err = s->be->query(s, VEHICLE_SELECT "WHERE v.vin = $1 ORDER BY e.is_primary DESC, e.serial", p,
                       1, vehicle_row, &r, NULL);
    if (err == SDV_OK && r.rows.count == 0) {
        store_errf(s, "no vehicle with VIN %s", vin);
        err = SDV_ENOENT;
    }
    return store_rows_take_one(&r.rows, err, out);
}

static enum sdv_err check_page(struct sdv_store *s, size_t limit)
{
    if (limit == 0 || limit > SDV_STORE_PAGE_MAX) {
        store_errf(s, "page size must be 1 to %d", SDV_STORE_PAGE_MAX);
        return SDV_EINVAL;
    }
    return SDV_OK;
}

enum sdv_err sdv_store_vehicle_list(struct sdv_store *s, const char *after_vin, size_t limit,
                                    struct sdv_store_vehicle **out, size_t *count)
{
    struct vehicle_rows r = {.rows = vehicle_rows_spec};
    struct store_param p[2];
    enum sdv_err err;

    *out = NULL;
    *count = 0;
    err = store_check(s);
    if (err == SDV_OK)
        err = check_page(s, limit);
    if (err == SDV_OK && after_vin != NULL)
        err = store_check_id(s, "VIN", after_vin);
    if (err != SDV_OK)
        return err;
    /* Every identifier is at least one byte long, so "" sorts before all of them. */
    p[0] = store_text(after_vin != NULL ? after_vin : "");
    p[1] = store_int((int64_t)limit);
    err = s->be->query(s,
                       "SELECT v.vin, v.primary_ecu_serial, v.created_at, " ECU_COLS
                       " FROM (SELECT vin, primary_ecu_serial, created_at FROM vehicles"
                       " WHERE vin > $1 ORDER BY vin LIMIT $2) v"
                       " JOIN ecus e ON e.vin = v.vin"
                       " ORDER BY v.vin, e.is_primary DESC, e.serial",
                       p, 2, vehicle_row, &r, NULL);
    err = store_rows_take(&r.rows, err);
    *out = r.rows.items;
    *count = r.rows.count;
    return err;
}

static enum sdv_err ecu_row(struct sdv_store *s, void *ud, const char *const *cols, size_t ncols)
{
    struct sdv_store_ecu *e = ud;

    if (ncols != 5) {
        store_errf(s, "unexpected ECU row");
        return SDV_EIO;
    }
    sdv_store_ecu_release(e); /* a unique key: at most one row */
    return ecu_from_cols(s, cols, e);
}

enum sdv_err sdv_store_ecu_get(struct sdv_store *s, const char *serial, struct sdv_store_ecu *out)
{
    struct store_param p[1];
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = store_check(s);
    if (err == SDV_OK)
        err = store_check_id(s, "ECU serial", serial);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(serial);
    err = s->be->query(s, "SELECT " ECU_COLS " FROM ecus e WHERE e.serial = $1", p, 1, ecu_row, out,
                       NULL);
    if (err == SDV_OK && out->serial == NULL) {
        store_errf(s, "no ECU with serial %s", serial);
        err = SDV_ENOENT;
    }
    if (err != SDV_OK)
        sdv_store_ecu_release(out);
    return err;
}

/* ---- Assignments ------------------------------------------------------------------------ */

static enum sdv_err check_hashes(struct sdv_store *s, const char *hashes)
{
    enum sdv_err err = store_check_doc(s, "hashes", hashes);

    if (err == SDV_OK && hashes[0] != '{') {
        store_errf(s, "hashes must be a JSON object");
        err = SDV_EINVAL;
    }
    return err;
}

enum sdv_err sdv_store_assignment_set(struct sdv_store *s, const struct sdv_store_assignment *a)
{
    struct store_param p[7];
    enum sdv_err err = store_check(s);

    if (err == SDV_OK && a == NULL) {
        store_errf(s, "assignment is missing");
        err = SDV_EINVAL;
    }
    if (err == SDV_OK)
        err = store_check_id(s, "ECU serial", a->ecu_serial);
    if (err == SDV_OK)
        err = store_check_id(s, "target name", a->target_name);
    if (err == SDV_OK)
        err = store_check_u64(s, "target length", a->target_length);
    if (err == SDV_OK)
        err = check_hashes(s, a->hashes);
    if (err == SDV_OK)
        err = store_check_u64(s, "release counter", a->release_counter);
    if (err == SDV_OK && a->correlation_id != NULL)
        err = store_check_id(s, "correlation id", a->correlation_id);
    if (err == SDV_OK)
        err = store_tx_enter(s);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(a->ecu_serial);
    p[1] = store_text(a->target_name);
    p[2] = store_int((int64_t)a->target_length);
    p[3] = store_text(a->hashes);
    p[4] = store_int((int64_t)a->release_counter);
    p[5] = store_int(a->assigned_at);
    p[6] = store_text(a->correlation_id);
    err = s->be->query(s,
                       "INSERT INTO assignments (ecu_serial, target_name, target_length, hashes,"
                       " release_counter, assigned_at, correlation_id)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7)"
                       " ON CONFLICT (ecu_serial) DO UPDATE SET"
                       " target_name = excluded.target_name,"
                       " target_length = excluded.target_length, hashes = excluded.hashes,"
                       " release_counter = excluded.release_counter,"
                       " assigned_at = excluded.assigned_at,"
                       " correlation_id = excluded.correlation_id",
                       p, 7, NULL, NULL, NULL);
    if (err == SDV_ENOENT)
        store_errf(s, "no ECU with serial %s", a->ecu_serial);
    return store_tx_leave(s, err);
}

static const struct store_col assignment_cols[] = {
        STORE_COL(STR, struct sdv_store_assignment, ecu_serial),
        STORE_COL(STR, struct sdv_store_assignment, target_name),
        STORE_COL(U64, struct sdv_store_assignment, target_length),
        STORE_COL(STR, struct sdv_store_assignment, hashes),
        STORE_COL(U64, struct sdv_store_assignment, release_counter),
        STORE_COL(I64, struct sdv_store_assignment, assigned_at),
        STORE_COL(STR, struct sdv_store_assignment, correlation_id),
};

void sdv_store_assignment_release(struct sdv_store_assignment *a)
{
    if (a == NULL)
        return;
    store_cols_release(assignment_cols, STORE_NCOLS(assignment_cols), a);
    memset(a, 0, sizeof(*a));
}

static void assignment_release(void *item)
{
    sdv_store_assignment_release(item);
}

void sdv_store_assignments_free(struct sdv_store_assignment *a, size_t count)
{
    store_free_items(a, count, sizeof(*a), assignment_release);
}

#define ASSIGNMENT_COLS                                                           \
    "a.ecu_serial, a.target_name, a.target_length, a.hashes, a.release_counter, " \
    "a.assigned_at, a.correlation_id"

/* How store_row_cols() collects assignments; callers set max. */
static const struct store_rows assignment_rows_spec = {
        .elem = sizeof(struct sdv_store_assignment),
        .ncols = STORE_NCOLS(assignment_cols),
        .what = "assignment",
        .release = assignment_release,
        .cols = assignment_cols,
};

enum sdv_err sdv_store_assignment_get(struct sdv_store *s, const char *ecu_serial,
                                      struct sdv_store_assignment *out)
{
    struct store_rows r = assignment_rows_spec;
    struct store_param p[1];
    enum sdv_err err;

    r.max = 1;
    memset(out, 0, sizeof(*out));
    err = store_check(s);
    if (err == SDV_OK)
        err = store_check_id(s, "ECU serial", ecu_serial);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(ecu_serial);
    err = s->be->query(s, "SELECT " ASSIGNMENT_COLS " FROM assignments a WHERE a.ecu_serial = $1",
                       p, 1, store_row_cols, &r, NULL);
    if (err == SDV_OK && r.count == 0) {
        store_errf(s, "ECU %s has no assignment", ecu_serial);
        err = SDV_ENOENT;
    }
    return store_rows_take_one(&r, err, out);
}

enum sdv_err sdv_store_assignment_list_for_vehicle(struct sdv_store *s, const char *vin,
                                                   struct sdv_store_assignment **out, size_t *count)
{
    struct store_rows r = assignment_rows_spec;
    struct store_param p[2];
    enum sdv_err err;

    r.max = SDV_STORE_ECUS_MAX;
    *out = NULL;
    *count = 0;
    err = store_check(s);
    if (err == SDV_OK)
        err = store_check_id(s, "VIN", vin);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(vin);
    p[1] = store_int(SDV_STORE_ECUS_MAX);
    err = s->be->query(s,
                       "SELECT " ASSIGNMENT_COLS " FROM assignments a"
                       " JOIN ecus e ON e.serial = a.ecu_serial"
                       " WHERE e.vin = $1 ORDER BY a.ecu_serial LIMIT $2",
                       p, 2, store_row_cols, &r, NULL);
    err = store_rows_take(&r, err);
    *out = r.items;
    *count = r.count;
    return err;
}

enum sdv_err sdv_store_assignment_clear(struct sdv_store *s, const char *ecu_serial)
{
    struct store_param p[1];
    int64_t changes = 0;
    enum sdv_err err = store_check(s);

    if (err == SDV_OK)
        err = store_check_id(s, "ECU serial", ecu_serial);
    if (err == SDV_OK)
        err = store_tx_enter(s);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(ecu_serial);
    err = s->be->query(s, "DELETE FROM assignments WHERE ecu_serial = $1", p, 1, NULL, NULL,
                       &changes);
    if (err == SDV_OK && changes == 0) {
        store_errf(s, "ECU %s has no assignment", ecu_serial);
        err = SDV_ENOENT;
    }
    return store_tx_leave(s, err);
}

/* ---- Director state --------------------------------------------------------------------- */

static const char *const role_names[SDV_STORE_ROLE_COUNT] = {"root", "targets", "snapshot",
                                                             "timestamp"};

void sdv_store_director_state_release(struct sdv_store_director_state *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < SDV_STORE_ROLE_COUNT; i++)
        store_free_str(st->metadata[i]);
    memset(st, 0, sizeof(*st));
}

/* Columns: root_version, root_json, ..., timestamp_version, timestamp_json, updated_at. */
static enum sdv_err director_row(struct sdv_store *s, void *ud, const char *const *cols,
                                 size_t ncols)
{
    struct sdv_store_director_state *st = ud;
    enum sdv_err err = SDV_OK;

    if (ncols != 2 * SDV_STORE_ROLE_COUNT + 1) {
        store_errf(s, "unexpected director state row");
        return SDV_EIO;
    }
    sdv_store_director_state_release(st); /* a unique key: at most one row */
    for (int i = 0; i < SDV_STORE_ROLE_COUNT && err == SDV_OK; i++) {
        err = store_col_i64(s, cols[2 * i], &st->version[i]);
        if (err == SDV_OK)
            err = store_col_str(s, cols[2 * i + 1], &st->metadata[i]);
    }
    if (err == SDV_OK)
        err = store_col_i64(s, cols[2 * SDV_STORE_ROLE_COUNT], &st->updated_at);
    return err;
}

enum sdv_err sdv_store_director_state_get(struct sdv_store *s, const char *vin,
                                          struct sdv_store_director_state *out)
{
    struct store_param p[1];
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = store_check(s);
    if (err == SDV_OK)
        err = store_check_id(s, "VIN", vin);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(vin);
    err = s->be->query(s,
                       "SELECT root_version, root_json, targets_version, targets_json,"
                       " snapshot_version, snapshot_json, timestamp_version, timestamp_json,"
                       " updated_at FROM director_state WHERE vin = $1",
                       p, 1, director_row, out, NULL);
    if (err == SDV_OK && out->metadata[0] == NULL) {
        store_errf(s, "no director state for VIN %s", vin);
        err = SDV_ENOENT;
    }
    if (err != SDV_OK)
        sdv_store_director_state_release(out);
    return err;
}

/* Columns: <role>_version, <role>_json. */
static const struct store_col director_doc_cols[] = {
        STORE_COL(I64, struct sdv_store_director_doc, version),
        STORE_COL(STR, struct sdv_store_director_doc, metadata),
};

void sdv_store_director_doc_release(struct sdv_store_director_doc *d)
{
    if (d == NULL)
        return;
    store_cols_release(director_doc_cols, STORE_NCOLS(director_doc_cols), d);
    memset(d, 0, sizeof(*d));
}

static enum sdv_err director_doc_row(struct sdv_store *s, void *ud, const char *const *cols,
                                     size_t ncols)
{
    struct sdv_store_director_doc *d = ud;

    if (ncols != 2) {
        store_errf(s, "unexpected director document row");
        return SDV_EIO;
    }
    sdv_store_director_doc_release(d); /* a unique key: at most one row */
    return store_cols_decode(s, cols, director_doc_cols, 2, d);
}

enum sdv_err sdv_store_director_doc_get(struct sdv_store *s, const char *vin,
                                        enum sdv_store_role role,
                                        struct sdv_store_director_doc *out)
{
    /* One fixed statement per role: column names cannot be bound parameters. */
    static const char *const sql[SDV_STORE_ROLE_COUNT] = {
            "SELECT root_version, root_json FROM director_state WHERE vin = $1",
            "SELECT targets_version, targets_json FROM director_state WHERE vin = $1",
            "SELECT snapshot_version, snapshot_json FROM director_state WHERE vin = $1",
            "SELECT timestamp_version, timestamp_json FROM director_state WHERE vin = $1",
    };
    struct store_param p[1];
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = store_check(s);
    if (err == SDV_OK)
        err = store_check_id(s, "VIN", vin);
    if (err == SDV_OK && ((int)role < 0 || (int)role >= SDV_STORE_ROLE_COUNT)) {
        store_errf(s, "director role %d does not exist", (int)role);
        err = SDV_EINVAL;
    }
    if (err != SDV_OK)
        return err;
    p[0] = store_text(vin);
    err = s->be->query(s, sql[role], p, 1, director_doc_row, out, NULL);
    if (err == SDV_OK && out->metadata == NULL) {
        store_errf(s, "no director state for VIN %s", vin);
        err = SDV_ENOENT;
    }
    if (err != SDV_OK)
        sdv_store_director_doc_release(out);
    return err;
}

enum sdv_err sdv_store_director_root_get(struct sdv_store *s, const char *vin, int64_t version,
                                         struct sdv_store_director_doc *out)
{
    struct store_param p[2];
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    err = store_check(s);
    if (err == SDV_OK)
        err = store_check_id(s, "VIN", vin);
    if (err != SDV_OK)
        return err;
    p[0] = store_text(vin);
    p[1] = store_int(version);
    err = s->be->query(s,
                       "SELECT version, root_json FROM director_roots"
                       " WHERE vin = $1 AND version = $2",
                       p, 2, director_doc_row, out, NULL);
    if (err == SDV_OK && out->metadata == NULL) {
        store_errf(s, "no director root version %lld for VIN %s", (long long)version, vin);
        err = SDV_ENOENT;
    }
    if (err != SDV_OK)
        sdv_store_director_doc_release(out);
    return err;
}

static enum sdv_err director_put_locked(struct sdv_store *s, const char *vin,
                                        const struct sdv_store_director_state *st, int64_t expected)
{
    struct store_param p[11];
    int64_t changes = 0, found = 0;
    enum sdv_err err;

    p[0] = store_text(vin);
    for (int i = 0; i < SDV_STORE_ROLE_COUNT; i++) {
        p[1 + 2 * i] = store_int(st->version[i]);
        p[2 + 2 * i] = store_text(st->metadata[i]);
    }
    p[9] = store_int(st->updated_at);
    if (expected == 0) {
        err = s->be->query(s,
                           "INSERT INTO director_state (vin, root_version, root_json,"
                           " targets_version, targets_json, snapshot_version, snapshot_json,"
                           " timestamp_version, timestamp_json, updated_at)"
                           " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                           " ON CONFLICT (vin) DO NOTHING",
                           p, 10, NULL, NULL, &changes);
        if (err == SDV_ENOENT)
            store_errf(s, "no vehicle with VIN %s", vin);
    } else {
        p[10] = store_int(expected);
        err = s->be->query(s,
                           "UPDATE director_state SET root_version = $2, root_json = $3,"
                           " targets_version = $4, targets_json = $5, snapshot_version = $6,"
                           " snapshot_json = $7, timestamp_version = $8, timestamp_json = $9,"
                           " updated_at = $10 WHERE vin = $1 AND targets_version = $11",
                           p, 11, NULL, NULL, &changes);
    }
    if (err == SDV_OK && changes == 1) {
        /* Keep the root in the history (a vehicle that missed rotations walks the chain). */
        p[1] = store_int(st->version[SDV_STORE_ROLE_ROOT]);
        p[2] = store_text(st->metadata[SDV_STORE_ROLE_ROOT]);
        return s->be->query(s,
                            "INSERT INTO director_roots (vin, version, root_json)"
                            " VALUES ($1, $2, $3) ON CONFLICT (vin, version) DO NOTHING",
                            p, 3, NULL, NULL, NULL);
    }
    if (err != SDV_OK)
        return err;
    /* Lost the race (or the caller's view was stale): say what is stored now. */
    err = s->be->query(s, "SELECT targets_version FROM director_state WHERE vin = $1", p, 1,
                       store_row_i64, &found, NULL);
    if (err != SDV_OK)
        return err;
    if (found == 0)
        store_errf(s, "director state of %s: expected targets version %lld, none is stored", vin,
                   (long long)expected);
    else
        store_errf(s, "director state of %s: expected targets version %lld, found %lld", vin,
                   (long long)expected, (long long)found);
    return SDV_EVERSION;
}

enum sdv_err sdv_store_director_state_put(struct sdv_store *s, const char *vin,
                                          const struct sdv_store_director_state *st,
                                          int64_t expected_targets_version)
{
    enum sdv_err err = store_check(s);

    if (err == SDV_OK)
        err = store_check_id(s, "VIN", vin);
    if (err == SDV_OK && (st == NULL || expected_targets_version < 0)) {
        store_errf(s, "director state or expected version is invalid");
        err = SDV_EINVAL;
    }
    for (int i = 0; i < SDV_STORE_ROLE_COUNT && err == SDV_OK; i++) {
        if (st->version[i] < 1) {
            store_errf(s, "director %s version must be at least 1", role_names[i]);
            err = SDV_EINVAL;
        }
        if (err == SDV_OK)
            err = store_check_doc(s, role_names[i], st->metadata[i]);
    }
    if (err == SDV_OK)
        err = store_tx_enter(s);
    if (err != SDV_OK)
        return err;
    return store_tx_leave(s, director_put_locked(s, vin, st, expected_targets_version));
}
