/*
 * sdv/store.h - the fleet server's database: vehicles and their ECUs, director metadata state,
 * assignments, vehicle version manifests and artifacts, behind one interface with two backends.
 *
 *   SQLite      "sqlite:PATH" or a plain file path. The embedded default: WAL journal, foreign
 *               keys on, synchronous=FULL, a busy timeout for concurrent writers.
 *   PostgreSQL  "postgresql://..." or "postgres://..." (a libpq connection URL). One connection
 *               per handle; several server replicas may share one database.
 *
 * sdv_store_open() brings the schema up to date (versioned migrations, see docs/store.md) and
 * refuses a database whose schema is newer than this build knows.
 *
 * Conventions for every function below:
 * - The store handle is the first argument; on failure the detail is in sdv_store_errmsg().
 * - Input structures and strings are borrowed for the duration of the call.
 * - Output structures are filled by the store; every string in them is a private copy released
 *   with the matching *_release() (one record) or *_free() (an array) function. Output
 *   structures are zeroed on failure, so releasing them is always safe.
 * - Text must be valid UTF-8 (SDV_EINVAL otherwise); identifiers (VIN, ECU serial, hardware id,
 *   target name, correlation id) are 1..SDV_STORE_ID_LEN_MAX bytes.
 * - Times are int64 seconds since the Unix epoch supplied by the caller; the store never reads
 *   the clock.
 * - Lengths and counters are uint64 in the API and must not exceed INT64_MAX (SQL BIGINT).
 * - Errors common to all: SDV_EINVAL (bad argument), SDV_ENOMEM, SDV_EIO (database failure),
 *   SDV_ENET (PostgreSQL connection lost).
 *
 * Thread safety: one handle is used by one thread at a time. Several handles (threads,
 * processes, server replicas) may use the same database concurrently.
 */
#ifndef SDV_STORE_H
#define SDV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/common.h>
#include <sdv/limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The store's limits (SDV_STORE_*) are in sdv/limits.h. */

struct sdv_store;

struct sdv_store_config {
    int busy_timeout_ms; /* SQLite: how long a writer waits for another's lock; 0: 5,000 */
    struct sdv_log log;  /* migrations and PostgreSQL notices are logged here */
};

/*
 * Opens the store named by url (see the top of this file) and applies pending schema
 * migrations in one transaction. cfg may be NULL for the defaults.
 *
 * *out is set whenever the handle could be allocated, also on failure, so that
 * sdv_store_errmsg() can say why; the caller calls sdv_store_close(*out) in every case. A handle
 * whose open failed refuses every other call with SDV_EINVAL.
 *
 * Returns SDV_OK; SDV_EINVAL for an unknown URL scheme; SDV_EVERSION when the database's schema
 * is newer than this build; SDV_ENET when PostgreSQL cannot be reached; SDV_EIO otherwise.
 */
/*
 * Process-wide set-up of the database libraries, called once by a program before any thread
 * opens a store (SQLite's configuration is per process and must precede its initialisation):
 * turns SQLite's memory statistics off, which otherwise take a global mutex on every
 * allocation of every connection. Optional: a store works without it, a little slower.
 */
enum sdv_err sdv_store_process_init(void);

enum sdv_err sdv_store_open(const char *url, const struct sdv_store_config *cfg,
                            struct sdv_store **out);

/* Closes the handle, rolling back an open transaction. NULL is a no-op. */
void sdv_store_close(struct sdv_store *s);

/* Detail of the last failure on this handle; never NULL. Valid until the next call on the
 * handle. s may be NULL (sdv_store_open() ran out of memory). */
const char *sdv_store_errmsg(const struct sdv_store *s);

/* "sqlite" or "postgresql". */
const char *sdv_store_backend(const struct sdv_store *s);

/* The schema version of the open database (the latest this build knows after open). */
int sdv_store_schema_version(const struct sdv_store *s);

/*
 * Explicit transactions. Every function below that writes is atomic on its own; begin/commit
 * group several calls. A write that fails inside an explicit transaction is undone alone (a
 * savepoint) and the transaction stays usable. On SQLite, begin takes the write lock at once
 * (BEGIN IMMEDIATE), waiting up to busy_timeout_ms. No nesting: SDV_EINVAL when a transaction is
 * already open (begin) or none is (commit, rollback).
 */
enum sdv_err sdv_store_begin(struct sdv_store *s);
enum sdv_err sdv_store_commit(struct sdv_store *s);
enum sdv_err sdv_store_rollback(struct sdv_store *s);

/* ---- Vehicles and ECUs ------------------------------------------------------------------ */

struct sdv_store_ecu {
    const char *serial;
    const char *vin; /* output only: register takes the vehicle's */
    const char *hardware_id;
    const char *public_key; /* the ECU's key in TUF JSON form */
    bool is_primary;
};

struct sdv_store_vehicle {
    const char *vin;
    const char *primary_ecu_serial;
    int64_t created_at;
    const struct sdv_store_ecu *ecus; /* primary first, then by serial */
    size_t ecu_count;
};

/*
 * Registers a vehicle and all its ECUs in one transaction. v->ecus holds 1..SDV_STORE_ECUS_MAX
 * ECUs with distinct serials; exactly one has is_primary set, and its serial is
 * v->primary_ecu_serial (SDV_EINVAL otherwise). Returns SDV_EEXIST if the VIN or any ECU serial
 * is already registered, in which case nothing is written.
 */
enum sdv_err sdv_store_vehicle_register(struct sdv_store *s, const struct sdv_store_vehicle *v);

/* Reads a vehicle with its ECUs. SDV_ENOENT if unknown. Release with
 * sdv_store_vehicle_release(). */
enum sdv_err sdv_store_vehicle_get(struct sdv_store *s, const char *vin,
                                   struct sdv_store_vehicle *out);

/*
 * One page of vehicles in VIN order, with their ECUs: at most limit (1..SDV_STORE_PAGE_MAX)
 * vehicles whose VIN sorts after after_vin (NULL: from the first). Pass the last VIN returned to
 * get the next page; a page shorter than limit is the last. *out is an array of *count vehicles
 * (NULL when empty); free it with sdv_store_vehicles_free().
 */
enum sdv_err sdv_store_vehicle_list(struct sdv_store *s, const char *after_vin, size_t limit,
                                    struct sdv_store_vehicle **out, size_t *count);

/* Reads one ECU by serial. SDV_ENOENT if unknown. Release with sdv_store_ecu_release(). */
enum sdv_err sdv_store_ecu_get(struct sdv_store *s, const char *serial, struct sdv_store_ecu *out);

void sdv_store_vehicle_release(struct sdv_store_vehicle *v);
void sdv_store_vehicles_free(struct sdv_store_vehicle *v, size_t count);
void sdv_store_ecu_release(struct sdv_store_ecu *e);

/* ---- Assignments ------------------------------------------------------------------------ */

/* The image an ECU must run, with the image repository's data copied at assignment time. */
struct sdv_store_assignment {
    const char *ecu_serial;
    const char *target_name;
    uint64_t target_length;
    const char *hashes;       /* JSON object {"sha256": "<hex>", ...} */
    uint64_t release_counter; /* from the image repository's custom metadata */
    int64_t assigned_at;
    const char *correlation_id; /* campaign or correlation id; NULL: none */
};

/* Sets (or replaces) the assignment of a->ecu_serial. SDV_ENOENT if the ECU is unknown. */
enum sdv_err sdv_store_assignment_set(struct sdv_store *s, const struct sdv_store_assignment *a);

/* Reads the assignment of one ECU. SDV_ENOENT if it has none. Release with
 * sdv_store_assignment_release(). */
enum sdv_err sdv_store_assignment_get(struct sdv_store *s, const char *ecu_serial,
                                      struct sdv_store_assignment *out);

/* All assignments of a vehicle's ECUs, by ECU serial (at most SDV_STORE_ECUS_MAX). *out is NULL
 * and *count 0 when there are none (also for an unknown VIN). Free with
 * sdv_store_assignments_free(). */
enum sdv_err sdv_store_assignment_list_for_vehicle(struct sdv_store *s, const char *vin,
                                                   struct sdv_store_assignment **out,
                                                   size_t *count);

/* Removes the assignment of one ECU. SDV_ENOENT if it had none. */
enum sdv_err sdv_store_assignment_clear(struct sdv_store *s, const char *ecu_serial);

void sdv_store_assignment_release(struct sdv_store_assignment *a);
void sdv_store_assignments_free(struct sdv_store_assignment *a, size_t count);

/* ---- Director repository state ---------------------------------------------------------- */

enum sdv_store_role {
    SDV_STORE_ROLE_ROOT = 0,
    SDV_STORE_ROLE_TARGETS = 1,
    SDV_STORE_ROLE_SNAPSHOT = 2,
    SDV_STORE_ROLE_TIMESTAMP = 3,
    SDV_STORE_ROLE_COUNT = 4
};

/* The director's current signed metadata for one vehicle, indexed by enum sdv_store_role. */
struct sdv_store_director_state {
    int64_t version[SDV_STORE_ROLE_COUNT];      /* each >= 1 */
    const char *metadata[SDV_STORE_ROLE_COUNT]; /* the signed JSON documents */
    int64_t updated_at;
};

/* Reads a vehicle's director state. SDV_ENOENT if none was stored yet. Release with
 * sdv_store_director_state_release(). */
enum sdv_err sdv_store_director_state_get(struct sdv_store *s, const char *vin,
                                          struct sdv_store_director_state *out);

/*
 * Replaces all four documents of a vehicle's director state at once, if and only if the stored
 * targets version is still expected_targets_version (0: no state may exist yet). This
 * compare-and-set keeps two server replicas from losing each other's update: the loser gets
 * SDV_EVERSION, re-reads and regenerates. SDV_ENOENT if the vehicle is unknown.
 */
enum sdv_err sdv_store_director_state_put(struct sdv_store *s, const char *vin,
                                          const struct sdv_store_director_state *st,
                                          int64_t expected_targets_version);

void sdv_store_director_state_release(struct sdv_store_director_state *st);

/* One role's current document of a vehicle's director state. */
struct sdv_store_director_doc {
    int64_t version;
    const char *metadata; /* the signed JSON document */
};

/* Reads one role only: a vehicle checking in asks for its timestamp and needs neither root nor
 * targets, so this is the hot path of a steady fleet. SDV_ENOENT if no state was stored yet.
 * Release with sdv_store_director_doc_release(). */
enum sdv_err sdv_store_director_doc_get(struct sdv_store *s, const char *vin,
                                        enum sdv_store_role role,
                                        struct sdv_store_director_doc *out);
void sdv_store_director_doc_release(struct sdv_store_director_doc *d);

/* Reads director root `version` of a vehicle from the history of every root it was given
 * (written by sdv_store_director_state_put). SDV_ENOENT if that version never existed.
 * Release with sdv_store_director_doc_release(). */
enum sdv_err sdv_store_director_root_get(struct sdv_store *s, const char *vin, int64_t version,
                                         struct sdv_store_director_doc *out);

/* ---- Vehicle version manifests ---------------------------------------------------------- */

/* One ECU version report inside a manifest. */
struct sdv_store_ecu_report {
    const char *ecu_serial;
    const char *target_name; /* installed image */
    uint64_t target_length;
    const char *hashes; /* JSON object */
    const char *nonce;
    int64_t latest_verified_at;
    const char *attack_detected; /* "" (or NULL on input) when none */
};

struct sdv_store_manifest {
    int64_t id; /* output only: assigned by insert, increasing */
    const char *vin;
    int64_t received_at;
    const char *raw;    /* the manifest JSON as received */
    bool verified;      /* all signatures checked out */
    const char *attack; /* why verification failed; NULL: none */
    const struct sdv_store_ecu_report *reports;
    size_t report_count; /* 0..SDV_STORE_ECUS_MAX, distinct serials */
};

/* Stores a manifest and its ECU reports in one transaction; *id_out (may be NULL) receives its
 * id. Report serials are not required to be registered ECUs (an unverified manifest is kept as
 * evidence). SDV_ENOENT if the vehicle is unknown. */
enum sdv_err sdv_store_manifest_insert(struct sdv_store *s, const struct sdv_store_manifest *m,
                                       int64_t *id_out);

/* The vehicle's most recently inserted manifest (only verified ones if verified_only), with its
 * reports by ECU serial. SDV_ENOENT if none. Release with sdv_store_manifest_release(). */
enum sdv_err sdv_store_manifest_latest(struct sdv_store *s, const char *vin, bool verified_only,
                                       struct sdv_store_manifest *out);

/*
 * One page of a vehicle's manifests, newest (highest id) first, with their reports: at most
 * limit (1..SDV_STORE_PAGE_MAX) manifests with id < before_id (0: from the newest). Pass the last
 * id returned to get the next page. Free with sdv_store_manifests_free().
 */
enum sdv_err sdv_store_manifest_history(struct sdv_store *s, const char *vin, int64_t before_id,
                                        size_t limit, struct sdv_store_manifest **out,
                                        size_t *count);

void sdv_store_manifest_release(struct sdv_store_manifest *m);
void sdv_store_manifests_free(struct sdv_store_manifest *m, size_t count);

/* ---- Install records ------------------------------------------------------------------- */

/* One record of an ECU's hash-chained install log (sdv/install.h), as its signed version report
 * carried it: the regulator's update record (versions, result, rollback reason). */
struct sdv_store_install_record {
    int64_t id; /* output only: assigned by put, increasing */
    const char *vin;
    const char *ecu_serial;
    uint64_t seq;               /* the record's number in the ECU's log, from 1 */
    const char *recorded_at;    /* the record's own "time" (RFC 3339, the ECU's clock) */
    const char *result;         /* "committed", "rolled-back", "failed" */
    const char *version_before; /* "" when unknown */
    const char *version_after;
    const char *reason;  /* "" when none */
    const char *record;  /* the exact log line (the chain hashes these bytes) */
    bool chain_verified; /* its "prev" matched the stored predecessor's SHA-256 */
    int64_t received_at; /* when the server stored it */
};

/*
 * Stores one record. A record with the same ECU serial and seq already stored with the same
 * bytes is left as it is (a vehicle sends a record again until a manifest is acknowledged):
 * SDV_OK and *stored (may be NULL) set to false. A different record under that ECU and seq is
 * SDV_EEXIST (a log that was rewritten). SDV_ENOENT if the vehicle is unknown. seq is
 * 1..INT64_MAX; every text at most SDV_STORE_DOC_LEN_MAX bytes of UTF-8.
 */
enum sdv_err sdv_store_install_record_put(struct sdv_store *s,
                                          const struct sdv_store_install_record *r, bool *stored);

/* The stored record of ecu_serial with number seq. SDV_ENOENT if none. Release with
 * sdv_store_install_record_release(). */
enum sdv_err sdv_store_install_record_get(struct sdv_store *s, const char *ecu_serial, uint64_t seq,
                                          struct sdv_store_install_record *out);

/* One page of a vehicle's install records, newest (highest id) first: at most limit
 * (1..SDV_STORE_PAGE_MAX) with id < before_id (0: from the newest). Free with
 * sdv_store_install_records_free(). */
enum sdv_err sdv_store_install_record_list(struct sdv_store *s, const char *vin, int64_t before_id,
                                           size_t limit, struct sdv_store_install_record **out,
                                           size_t *count);
void sdv_store_install_record_release(struct sdv_store_install_record *r);
void sdv_store_install_records_free(struct sdv_store_install_record *r, size_t count);

/* ---- Artifacts -------------------------------------------------------------------------- */

/* A content-addressed image file; the bytes live on disk, the store keeps the index. */
struct sdv_store_artifact {
    const char *sha256; /* 64 lowercase hex digits */
    uint64_t length;
    int64_t created_at;
    const char *name; /* original file name; NULL: unknown */
};

/* Records an artifact. SDV_EEXIST if one with this sha256 exists (left unchanged). */
enum sdv_err sdv_store_artifact_put(struct sdv_store *s, const struct sdv_store_artifact *a);

/* SDV_ENOENT if unknown. Release with sdv_store_artifact_release(). */
enum sdv_err sdv_store_artifact_get(struct sdv_store *s, const char *sha256,
                                    struct sdv_store_artifact *out);

/* One page of artifacts by sha256 after after_sha256 (NULL: from the first), at most limit
 * (1..SDV_STORE_PAGE_MAX). Free with sdv_store_artifacts_free(). */
enum sdv_err sdv_store_artifact_list(struct sdv_store *s, const char *after_sha256, size_t limit,
                                     struct sdv_store_artifact **out, size_t *count);

void sdv_store_artifact_release(struct sdv_store_artifact *a);
void sdv_store_artifacts_free(struct sdv_store_artifact *a, size_t count);

#ifdef __cplusplus
}
#endif
#endif /* SDV_STORE_H */
