/*
 * store_schema.c - versioned schema migrations. Each step has a version, a name and one script
 * per dialect; the database records the steps it has in schema_version. Steps are append-only:
 * once released, a step's SQL never changes; a change to the schema is a new step.
 */
#include <stdio.h>

#include "store_int.h"

struct migration {
    int version;
    const char *name;
    const char *sql_sqlite;
    const char *sql_pg;
};

/*
 * Conventions: times are seconds since the epoch (BIGINT); identifiers are TEXT, compared
 * byte-wise (SQLite's BINARY, PostgreSQL's "C" collation) so that both backends sort and page
 * alike; SQLite tables are STRICT so a wrong type is an error, as in PostgreSQL.
 */
static const struct migration migrations[] = {
        {1, "registry: vehicles, ecus, director state, assignments",
         /* SQLite */
         "CREATE TABLE vehicles ("
         " vin TEXT NOT NULL PRIMARY KEY,"
         " primary_ecu_serial TEXT NOT NULL,"
         " created_at INTEGER NOT NULL,"
         " FOREIGN KEY (vin, primary_ecu_serial) REFERENCES ecus (vin, serial)"
         "  DEFERRABLE INITIALLY DEFERRED"
         ") STRICT;"
         "CREATE TABLE ecus ("
         " serial TEXT NOT NULL PRIMARY KEY,"
         " vin TEXT NOT NULL REFERENCES vehicles (vin) ON DELETE CASCADE,"
         " hardware_id TEXT NOT NULL,"
         " public_key TEXT NOT NULL,"
         " is_primary INTEGER NOT NULL CHECK (is_primary IN (0, 1)),"
         " UNIQUE (vin, serial)"
         ") STRICT;"
         "CREATE UNIQUE INDEX ecus_one_primary ON ecus (vin) WHERE is_primary = 1;"
         "CREATE INDEX ecus_hardware_id ON ecus (hardware_id);"
         "CREATE TABLE director_state ("
         " vin TEXT NOT NULL PRIMARY KEY REFERENCES vehicles (vin) ON DELETE CASCADE,"
         " root_version INTEGER NOT NULL CHECK (root_version >= 1),"
         " root_json TEXT NOT NULL,"
         " targets_version INTEGER NOT NULL CHECK (targets_version >= 1),"
         " targets_json TEXT NOT NULL,"
         " snapshot_version INTEGER NOT NULL CHECK (snapshot_version >= 1),"
         " snapshot_json TEXT NOT NULL,"
         " timestamp_version INTEGER NOT NULL CHECK (timestamp_version >= 1),"
         " timestamp_json TEXT NOT NULL,"
         " updated_at INTEGER NOT NULL"
         ") STRICT;"
         "CREATE TABLE assignments ("
         " ecu_serial TEXT NOT NULL PRIMARY KEY REFERENCES ecus (serial) ON DELETE CASCADE,"
         " target_name TEXT NOT NULL,"
         " target_length INTEGER NOT NULL CHECK (target_length >= 0),"
         " hashes TEXT NOT NULL,"
         " release_counter INTEGER NOT NULL CHECK (release_counter >= 0),"
         " assigned_at INTEGER NOT NULL,"
         " correlation_id TEXT"
         ") STRICT;"
         "CREATE INDEX assignments_correlation ON assignments (correlation_id);",
         /* PostgreSQL */
         "CREATE TABLE vehicles ("
         " vin TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
         " primary_ecu_serial TEXT COLLATE \"C\" NOT NULL,"
         " created_at BIGINT NOT NULL"
         ");"
         "CREATE TABLE ecus ("
         " serial TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
         " vin TEXT COLLATE \"C\" NOT NULL REFERENCES vehicles (vin) ON DELETE CASCADE,"
         " hardware_id TEXT COLLATE \"C\" NOT NULL,"
         " public_key TEXT NOT NULL,"
         " is_primary BOOLEAN NOT NULL,"
         " UNIQUE (vin, serial)"
         ");"
         "ALTER TABLE vehicles ADD CONSTRAINT vehicles_primary_ecu"
         " FOREIGN KEY (vin, primary_ecu_serial) REFERENCES ecus (vin, serial)"
         " DEFERRABLE INITIALLY DEFERRED;"
         "CREATE UNIQUE INDEX ecus_one_primary ON ecus (vin) WHERE is_primary;"
         "CREATE INDEX ecus_hardware_id ON ecus (hardware_id);"
         "CREATE TABLE director_state ("
         " vin TEXT COLLATE \"C\" NOT NULL PRIMARY KEY"
         "  REFERENCES vehicles (vin) ON DELETE CASCADE,"
         " root_version BIGINT NOT NULL CHECK (root_version >= 1),"
         " root_json TEXT NOT NULL,"
         " targets_version BIGINT NOT NULL CHECK (targets_version >= 1),"
         " targets_json TEXT NOT NULL,"
         " snapshot_version BIGINT NOT NULL CHECK (snapshot_version >= 1),"
         " snapshot_json TEXT NOT NULL,"
         " timestamp_version BIGINT NOT NULL CHECK (timestamp_version >= 1),"
         " timestamp_json TEXT NOT NULL,"
         " updated_at BIGINT NOT NULL"
         ");"
         "CREATE TABLE assignments ("
         " ecu_serial TEXT COLLATE \"C\" NOT NULL PRIMARY KEY"
         "  REFERENCES ecus (serial) ON DELETE CASCADE,"
         " target_name TEXT COLLATE \"C\" NOT NULL,"
         " target_length BIGINT NOT NULL CHECK (target_length >= 0),"
         " hashes TEXT NOT NULL,"
         " release_counter BIGINT NOT NULL CHECK (release_counter >= 0),"
         " assigned_at BIGINT NOT NULL,"
         " correlation_id TEXT COLLATE \"C\""
         ");"
         "CREATE INDEX assignments_correlation ON assignments (correlation_id);"},

        {2, "vehicle version manifests and ECU reports",
         /* SQLite: AUTOINCREMENT so that ids are never reused and order the history. */
         "CREATE TABLE manifests ("
         " id INTEGER PRIMARY KEY AUTOINCREMENT,"
         " vin TEXT NOT NULL REFERENCES vehicles (vin) ON DELETE CASCADE,"
         " received_at INTEGER NOT NULL,"
         " raw TEXT NOT NULL,"
         " verified INTEGER NOT NULL CHECK (verified IN (0, 1)),"
         " attack TEXT"
         ") STRICT;"
         "CREATE INDEX manifests_vin_id ON manifests (vin, id);"
         /* ecu_serial is not a foreign key: an unverified manifest may name ECUs the fleet does
          * not know, and it is kept as evidence. */
         "CREATE TABLE ecu_reports ("
         " manifest_id INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,"
         " ecu_serial TEXT NOT NULL,"
         " target_name TEXT NOT NULL,"
         " target_length INTEGER NOT NULL CHECK (target_length >= 0),"
         " hashes TEXT NOT NULL,"
         " nonce TEXT NOT NULL,"
         " latest_verified_at INTEGER NOT NULL,"
         " attack_detected TEXT NOT NULL,"
         " PRIMARY KEY (manifest_id, ecu_serial)"
         ") STRICT;"
         "CREATE INDEX ecu_reports_serial ON ecu_reports (ecu_serial, manifest_id);",
         /* PostgreSQL */
         "CREATE TABLE manifests ("
         " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
         " vin TEXT COLLATE \"C\" NOT NULL REFERENCES vehicles (vin) ON DELETE CASCADE,"
         " received_at BIGINT NOT NULL,"
         " raw TEXT NOT NULL,"
         " verified BOOLEAN NOT NULL,"
         " attack TEXT"
         ");"
         "CREATE INDEX manifests_vin_id ON manifests (vin, id);"
         "CREATE TABLE ecu_reports ("
         " manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,"
         " ecu_serial TEXT COLLATE \"C\" NOT NULL,"
         " target_name TEXT COLLATE \"C\" NOT NULL,"
         " target_length BIGINT NOT NULL CHECK (target_length >= 0),"
         " hashes TEXT NOT NULL,"
         " nonce TEXT NOT NULL,"
         " latest_verified_at BIGINT NOT NULL,"
         " attack_detected TEXT NOT NULL,"
         " PRIMARY KEY (manifest_id, ecu_serial)"
         ");"
         "CREATE INDEX ecu_reports_serial ON ecu_reports (ecu_serial, manifest_id);"},

        {3, "content-addressed artifacts",
         "CREATE TABLE artifacts ("
         " sha256 TEXT NOT NULL PRIMARY KEY"
         "  CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
         " length INTEGER NOT NULL CHECK (length >= 0),"
         " created_at INTEGER NOT NULL,"
         " name TEXT"
         ") STRICT;",
         "CREATE TABLE artifacts ("
         " sha256 TEXT COLLATE \"C\" NOT NULL PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),"
         " length BIGINT NOT NULL CHECK (length >= 0),"
         " created_at BIGINT NOT NULL,"
         " name TEXT"
         ");"},

        {4, "director root history",
         /* Every director root a vehicle was given, so that a vehicle that missed rotations
          * can walk the chain N+1.root.json, N+2.root.json, ... as TUF requires. */
         "CREATE TABLE director_roots ("
         " vin TEXT NOT NULL REFERENCES vehicles (vin) ON DELETE CASCADE,"
         " version INTEGER NOT NULL CHECK (version >= 1),"
         " root_json TEXT NOT NULL,"
         " PRIMARY KEY (vin, version)"
         ") STRICT;"
         "INSERT INTO director_roots (vin, version, root_json)"
         " SELECT vin, root_version, root_json FROM director_state;",
         "CREATE TABLE director_roots ("
         " vin TEXT COLLATE \"C\" NOT NULL REFERENCES vehicles (vin) ON DELETE CASCADE,"
         " version BIGINT NOT NULL CHECK (version >= 1),"
         " root_json TEXT NOT NULL,"
         " PRIMARY KEY (vin, version)"
         ");"
         "INSERT INTO director_roots (vin, version, root_json)"
         " SELECT vin, root_version, root_json FROM director_state;"},

        {5, "install records",
         /* The ECUs' hash-chained install logs (sdv/install.h) as reported in their signed
          * version reports: one row per record, unique per ECU and sequence number so that a
          * record sent again is stored once. record keeps the exact line (the chain hashes it);
          * chain_verified says whether its "prev" matched the stored predecessor. */
         "CREATE TABLE install_records ("
         " id INTEGER PRIMARY KEY AUTOINCREMENT,"
         " vin TEXT NOT NULL REFERENCES vehicles (vin) ON DELETE CASCADE,"
         " ecu_serial TEXT NOT NULL,"
         " seq INTEGER NOT NULL CHECK (seq >= 1),"
         " recorded_at TEXT NOT NULL,"
         " result TEXT NOT NULL,"
         " version_before TEXT NOT NULL,"
         " version_after TEXT NOT NULL,"
         " reason TEXT NOT NULL,"
         " record TEXT NOT NULL,"
         " chain_verified INTEGER NOT NULL CHECK (chain_verified IN (0, 1)),"
         " received_at INTEGER NOT NULL,"
         " UNIQUE (ecu_serial, seq)"
         ") STRICT;"
         "CREATE INDEX install_records_vin_id ON install_records (vin, id);",
         "CREATE TABLE install_records ("
         " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
         " vin TEXT COLLATE \"C\" NOT NULL REFERENCES vehicles (vin) ON DELETE CASCADE,"
         " ecu_serial TEXT COLLATE \"C\" NOT NULL,"
         " seq BIGINT NOT NULL CHECK (seq >= 1),"
         " recorded_at TEXT NOT NULL,"
         " result TEXT NOT NULL,"
         " version_before TEXT NOT NULL,"
         " version_after TEXT NOT NULL,"
         " reason TEXT NOT NULL,"
         " record TEXT NOT NULL,"
         " chain_verified BOOLEAN NOT NULL,"
         " received_at BIGINT NOT NULL,"
         " UNIQUE (ecu_serial, seq)"
         ");"
         "CREATE INDEX install_records_vin_id ON install_records (vin, id);"},
};

#define MIGRATION_COUNT (sizeof(migrations) / sizeof(migrations[0]))

int store_schema_latest(void)
{
    return migrations[MIGRATION_COUNT - 1].version;
}

static enum sdv_err version_row(struct sdv_store *s, void *ud, const char *const *cols,
                                size_t ncols)
{
    int64_t v;
    enum sdv_err err = store_col_i64(s, ncols > 0 ? cols[0] : NULL, &v);

    if (err == SDV_OK && (v < 0 || v > 1000000)) {
        store_errf(s, "schema_version holds an impossible version %lld", (long long)v);
        err = SDV_EIO;
    }
    if (err == SDV_OK)
        *(int *)ud = (int)v;
    return err;
}

/* Runs inside the migration transaction: reads the version and applies the pending steps. */
static enum sdv_err migrate_locked(struct sdv_store *s, int max_version)
{
    bool pg = s->be->dialect == STORE_DIALECT_PG;
    int current = 0;
    enum sdv_err err;

    if (pg) {
        /* Serialises replicas that start at the same time: the second one waits here, then
         * finds the schema up to date. The key is an arbitrary constant ("SDV" + 1). */
        err = s->be->query(s, "SELECT pg_advisory_xact_lock(5457750001)", NULL, 0, NULL, NULL,
                           NULL);
        if (err != SDV_OK)
            return err;
    }
    err = s->be->exec(s, pg ? "CREATE TABLE IF NOT EXISTS schema_version ("
                              " version INTEGER NOT NULL PRIMARY KEY,"
                              " name TEXT NOT NULL)"
                            : "CREATE TABLE IF NOT EXISTS schema_version ("
                              " version INTEGER NOT NULL PRIMARY KEY,"
                              " name TEXT NOT NULL) STRICT");
    if (err != SDV_OK)
        return err;
    err = s->be->query(s, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL, 0,
                       version_row, &current, NULL);
    if (err != SDV_OK)
        return err;
    if (current > store_schema_latest()) {
        store_errf(s,
                   "database schema version %d is newer than this build of OpenSDV knows (%d): "
                   "upgrade the server before using this database",
                   current, store_schema_latest());
        return SDV_EVERSION;
    }
    for (size_t i = 0; i < MIGRATION_COUNT; i++) {
        const struct migration *m = &migrations[i];
        struct store_param p[2];

        if (m->version <= current || m->version > max_version)
            continue;
        sdv_logf(&s->cfg.log, SDV_LOG_INFO, "store: migrating %s schema to version %d (%s)",
                 s->be->name, m->version, m->name);
        err = s->be->exec(s, pg ? m->sql_pg : m->sql_sqlite);
        if (err == SDV_OK) {
            p[0] = store_int(m->version);
            p[1] = store_text(m->name);
            err = s->be->query(s, "INSERT INTO schema_version (version, name) VALUES ($1, $2)", p,
                               2, NULL, NULL, NULL);
        }
        if (err != SDV_OK) {
            char detail[sizeof(s->errmsg)];

            snprintf(detail, sizeof(detail), "%s", s->errmsg);
            store_errf(s, "schema migration %d (%s) failed: %s", m->version, m->name, detail);
            return err;
        }
        current = m->version;
    }
    s->schema_version = current;
    return SDV_OK;
}

enum sdv_err store_schema_migrate(struct sdv_store *s, int max_version)
{
    enum sdv_err err = store_tx_enter(s);

    if (err != SDV_OK)
        return err;
    return store_tx_leave(s, migrate_locked(s, max_version));
}
