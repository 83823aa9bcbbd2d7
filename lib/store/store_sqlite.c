/*
 * store_sqlite.c - the SQLite backend: one database file in WAL mode (see docs/store.md for the
 * pragmas and why).
 */
#include <assert.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* RETURNING (3.35) and STRICT tables (3.37) are used by the schema and the queries. */
#define SQLITE_VERSION_MIN 3037000

/* Prepared statements kept per connection. The store issues a few dozen distinct statements;
 * parsing one costs more than running the small lookups a check-in makes, so each is prepared
 * once per connection and reused. Statements beyond the bound are prepared per call. */
#define SQLITE_STMT_CACHE_MAX 64

struct sqlite_cached_stmt {
    char *sql; /* the statement's text, the cache key */
    sqlite3_stmt *st;
    bool busy; /* in use (a row callback may run another query) */
};

/* What s->conn points to for this backend. */
struct sqlite_conn {
    sqlite3 *db;
    struct sqlite_cached_stmt cache[SQLITE_STMT_CACHE_MAX];
    size_t cached;
};

static sqlite3 *conn_db(const struct sdv_store *s)
{
    const struct sqlite_conn *c = s->conn;

    return c != NULL ? c->db : NULL;
}

enum sdv_err sdv_store_process_init(void)
{
    int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);

    /* SQLITE_MISUSE: the library was already initialised (the default configuration stays). */
    return rc == SQLITE_OK || rc == SQLITE_MISUSE ? SDV_OK : SDV_EIO;
}

/* Records the connection's last error and maps it to an sdv_err. */
static enum sdv_err sqlite_fail(struct sdv_store *s, int rc, const char *what)
{
    sqlite3 *db = conn_db(s);
    int ext = db != NULL ? sqlite3_extended_errcode(db) : rc;

    store_errf(s, "sqlite: %s: %s", what, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    switch (ext & 0xff) {
    case SQLITE_CONSTRAINT:
        if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
            return SDV_EEXIST;
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
            return SDV_ENOENT;
        return SDV_EINVAL; /* CHECK, NOT NULL, type (STRICT) */
    case SQLITE_MISMATCH:
        return SDV_EINVAL;
    case SQLITE_NOMEM:
        return SDV_ENOMEM;
    case SQLITE_TOOBIG:
        return SDV_ETOOBIG;
    default:
        return SDV_EIO;
    }
}

static enum sdv_err sqlite_exec(struct sdv_store *s, const char *sql)
{
    int rc = sqlite3_exec(conn_db(s), sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return sqlite_fail(s, rc, "exec");
    return SDV_OK;
}

static enum sdv_err bind_params(struct sdv_store *s, sqlite3_stmt *st,
                                const struct store_param *params, size_t nparams)
{
    char name[24];
    int rc = SQLITE_OK;

    assert(nparams <= STORE_PARAMS_MAX);
    assert(sqlite3_bind_parameter_count(st) == (int)nparams);
    for (size_t i = 0; i < nparams; i++) {
        int idx;

        snprintf(name, sizeof(name), "$%zu", i + 1);
        idx = sqlite3_bind_parameter_index(st, name);
        assert(idx > 0); /* every parameter handed in appears in the statement */
        switch (params[i].type) {
        case STORE_PARAM_NULL:
            rc = sqlite3_bind_null(st, idx);
            break;
        case STORE_PARAM_TEXT:
            rc = sqlite3_bind_text(st, idx, params[i].text, -1, SQLITE_STATIC);
            break;
        case STORE_PARAM_INT:
            rc = sqlite3_bind_int64(st, idx, params[i].i);
            break;
        }
        if (rc != SQLITE_OK)
            return sqlite_fail(s, rc, "bind");
    }
    return SDV_OK;
}

static enum sdv_err sqlite_query(struct sdv_store *s, const char *sql,
                                 const struct store_param *params, size_t nparams, store_row_fn row,
                                 void *ud, int64_t *changes)
{
    struct sqlite_conn *c = s->conn;
    sqlite3 *db = c->db;
    sqlite3_stmt *st = NULL;
    struct sqlite_cached_stmt *entry = NULL;
    const char *tail = NULL;
    const char *cols[STORE_COLS_MAX];
    enum sdv_err err;
    int rc;

    if (changes != NULL)
        *changes = 0;
    for (size_t i = 0; i < c->cached && entry == NULL; i++)
        if (!c->cache[i].busy && strcmp(c->cache[i].sql, sql) == 0)
            entry = &c->cache[i];
    if (entry == NULL) {
        bool keep = c->cached < SQLITE_STMT_CACHE_MAX;

        rc = sqlite3_prepare_v3(db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &st, &tail);
        if (rc != SQLITE_OK)
            return sqlite_fail(s, rc, "prepare");
        assert(st != NULL && tail != NULL && tail[strspn(tail, " \n;")] == '\0');
        if (keep) {
            char *key = strdup(sql);

            if (key != NULL) {
                entry = &c->cache[c->cached++];
                entry->sql = key;
                entry->st = st;
            }
        }
    } else {
        st = entry->st;
    }
    if (entry != NULL)
        entry->busy = true;
    err = bind_params(s, st, params, nparams);
    while (err == SDV_OK) {
        int ncols;

        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            err = sqlite_fail(s, rc, "step");
            break;
        }
        if (row == NULL)
            continue;
        ncols = sqlite3_column_count(st);
        assert(ncols > 0 && ncols <= STORE_COLS_MAX);
        for (int i = 0; i < ncols && err == SDV_OK; i++) {
            cols[i] = (const char *)sqlite3_column_text(st, i);
            if (cols[i] == NULL && sqlite3_column_type(st, i) != SQLITE_NULL)
                err = sqlite_fail(s, SQLITE_NOMEM, "column");
        }
        if (err == SDV_OK)
            err = row(s, ud, cols, (size_t)ncols);
    }
    if (err == SDV_OK && changes != NULL)
        *changes = sqlite3_changes(db);
    if (entry != NULL) {
        /* Ready for the next call: no leftover row, no borrowed parameter text. */
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        entry->busy = false;
    } else {
        sqlite3_finalize(st);
    }
    return err;
}

/* Runs a pragma that answers one row and returns the answer in out. */
static enum sdv_err pragma_text_row(struct sdv_store *s, void *ud, const char *const *cols,
                                    size_t ncols)
{
    char *out = ud;

    (void)s;
    snprintf(out, 32, "%s", ncols > 0 && cols[0] != NULL ? cols[0] : "");
    return SDV_OK;
}

static enum sdv_err sqlite_open(struct sdv_store *s, const char *path)
{
    sqlite3 *db = NULL;
    char answer[32] = "";
    enum sdv_err err;
    int rc;

    if (sqlite3_libversion_number() < SQLITE_VERSION_MIN) {
        store_errf(s, "sqlite: version %s is too old (3.37 or newer needed)", sqlite3_libversion());
        return SDV_EUNSUPPORTED;
    }
    /* No SQLITE_OPEN_URI: the path is a file name, whatever characters it holds. NOMUTEX:
     * a handle is used by one thread at a time. */
    rc = sqlite3_open_v2(path, &db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    s->conn = calloc(1, sizeof(struct sqlite_conn));
    if (s->conn == NULL) {
        sqlite3_close_v2(db);
        store_errf(s, "sqlite: cannot open %s: out of memory", path);
        return SDV_ENOMEM;
    }
    ((struct sqlite_conn *)s->conn)->db = db;
    if (rc != SQLITE_OK) {
        if (db == NULL)
            store_errf(s, "sqlite: cannot open %s: out of memory", path);
        else
            store_errf(s, "sqlite: cannot open %s: %s", path, sqlite3_errmsg(db));
        return SDV_EIO;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, s->cfg.busy_timeout_ms);
    err = sqlite_exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; "
                         "PRAGMA trusted_schema = OFF;");
    if (err != SDV_OK)
        return err;
    err = sqlite_query(s, "PRAGMA journal_mode = WAL", NULL, 0, pragma_text_row, answer, NULL);
    if (err != SDV_OK)
        return err;
    if (strcmp(answer, "wal") != 0) {
        store_errf(s, "sqlite: %s: journal mode is %s, not wal (an on-disk file is needed)", path,
                   answer);
        return SDV_EIO;
    }
    err = sqlite_query(s, "PRAGMA foreign_keys", NULL, 0, pragma_text_row, answer, NULL);
    if (err == SDV_OK && strcmp(answer, "1") != 0) {
        store_errf(s, "sqlite: foreign keys cannot be enabled in this SQLite build");
        return SDV_EUNSUPPORTED;
    }
    return err;
}

static void sqlite_close(struct sdv_store *s)
{
    struct sqlite_conn *c = s->conn;

    if (c == NULL)
        return;
    for (size_t i = 0; i < c->cached; i++) {
        sqlite3_finalize(c->cache[i].st);
        free(c->cache[i].sql);
    }
    /* sqlite3_close_v2 accepts NULL; every statement is finalized by now. */
    sqlite3_close_v2(c->db);
    free(c);
    s->conn = NULL;
}

const struct store_backend store_backend_sqlite = {
        .name = "sqlite",
        .dialect = STORE_DIALECT_SQLITE,
        /* IMMEDIATE takes the write lock at BEGIN, waiting up to the busy timeout; a deferred
         * transaction that reads first and writes later fails at once with SQLITE_BUSY when
         * another connection wrote in between, which busy_timeout cannot help. */
        .begin_sql = "BEGIN IMMEDIATE",
        .open = sqlite_open,
        .close = sqlite_close,
        .exec = sqlite_exec,
        .query = sqlite_query,
};
