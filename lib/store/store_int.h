/*
 * store_int.h - private to lib/store (and its tests): the backend interface every database
 * implements (store_sqlite.c, store_pg.c), the handle, and helpers shared by the typed API.
 *
 * SQL text is shared by both dialects wherever possible: parameters are written $1, $2, ... in
 * both (SQLite binds them by name), booleans are 0/1 integers on input and either 0/1 or t/f on
 * output, and every column value reaches the typed layer as text (NULL for SQL NULL).
 */
#ifndef SDV_STORE_INT_H
#define SDV_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/store.h>

/* Bound on the parameters of one statement and the columns of one result row. */
#define STORE_PARAMS_MAX 16
#define STORE_COLS_MAX   16

enum store_dialect {
    STORE_DIALECT_SQLITE = 0,
    STORE_DIALECT_PG = 1,
};

enum store_param_type {
    STORE_PARAM_NULL = 0,
    STORE_PARAM_TEXT = 1,
    STORE_PARAM_INT = 2,
};

struct store_param {
    enum store_param_type type;
    const char *text; /* STORE_PARAM_TEXT; borrowed */
    int64_t i;        /* STORE_PARAM_INT (booleans as 0/1) */
};

struct sdv_store;

/* Receives one result row: cols[i] is column i as text, NULL for SQL NULL; valid only during
 * the call. Returning anything but SDV_OK stops the query, which returns that error. */
typedef enum sdv_err (*store_row_fn)(struct sdv_store *s, void *ud, const char *const *cols,
                                     size_t ncols);

/*
 * One database backend. Every function records the detail of a failure with store_errf().
 * Error mapping: unique violation SDV_EEXIST, foreign-key violation SDV_ENOENT, invalid text or
 * number SDV_EINVAL, lost connection SDV_ENET, anything else SDV_EIO.
 */
struct store_backend {
    const char *name;
    enum store_dialect dialect;
    const char *begin_sql; /* starts a write transaction */
    /* Connects to target (the URL without its "sqlite:" prefix for SQLite, the whole URL for
     * PostgreSQL) and sets the session up; stores the connection in s->conn. */
    enum sdv_err (*open)(struct sdv_store *s, const char *target);
    /* Disconnects; s->conn may be NULL. */
    void (*close)(struct sdv_store *s);
    /* Runs a script of one or more statements without parameters (migrations, BEGIN). */
    enum sdv_err (*exec)(struct sdv_store *s, const char *sql);
    /* Runs one statement with bound parameters; calls row for each result row (row may be
     * NULL to ignore rows); *changes (may be NULL) receives the rows an INSERT, UPDATE or
     * DELETE changed. */
    enum sdv_err (*query)(struct sdv_store *s, const char *sql, const struct store_param *params,
                          size_t nparams, store_row_fn row, void *ud, int64_t *changes);
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_pg;

struct sdv_store {
    const struct store_backend *be;
    void *conn; /* sqlite3 * or PGconn * */
    struct sdv_store_config cfg;
    bool usable;       /* open() succeeded */
    bool user_tx;      /* sdv_store_begin() is in force */
    unsigned tx_depth; /* transactions and savepoints open */
    int schema_version;
    char errmsg[1024];
};

/* Formats the handle's error message. */
void store_errf(struct sdv_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens like sdv_store_open() but migrates only up to max_version (for migration tests). */
enum sdv_err store_open_version(const char *url, const struct sdv_store_config *cfg,
                                int max_version, struct sdv_store **out);

/* Applies the migrations after the database's version up to max_version in one transaction;
 * SDV_EVERSION if the database is newer than the latest migration this build has. Sets
 * s->schema_version. */
enum sdv_err store_schema_migrate(struct sdv_store *s, int max_version);

/* The newest schema version this build knows. */
int store_schema_latest(void);

/*
 * Atomic sections for the typed API: store_tx_enter() begins a transaction, or a savepoint when
 * one is open; store_tx_leave() commits (releases) when err is SDV_OK, rolls back otherwise, and
 * returns err (or the commit's error).
 */
enum sdv_err store_tx_enter(struct sdv_store *s);
enum sdv_err store_tx_leave(struct sdv_store *s, enum sdv_err err);

/* Checks the handle is usable; SDV_EINVAL with a message otherwise. */
enum sdv_err store_check(struct sdv_store *s);

/* Parameter constructors. */
struct store_param store_text(const char *text);
struct store_param store_int(int64_t i);

/* Validates an identifier (1..SDV_STORE_ID_LEN_MAX bytes of UTF-8) or a document
 * (0..SDV_STORE_DOC_LEN_MAX bytes of UTF-8); what names it in the error message. NULL is
 * SDV_EINVAL for both. */
enum sdv_err store_check_id(struct sdv_store *s, const char *what, const char *v);
enum sdv_err store_check_doc(struct sdv_store *s, const char *what, const char *v);
/* Validates a uint64 that must fit a BIGINT. */
enum sdv_err store_check_u64(struct sdv_store *s, const char *what, uint64_t v);

/* Checks the handle and the arguments of one page of a vehicle's rows, newest first (a VIN;
 * before_id 0 for the newest page, else the id the page continues below; limit 1 to
 * SDV_STORE_PAGE_MAX), then fills p with $1 the VIN, $2 the id bound, $3 the limit, for a query
 * "... WHERE vin = $1 AND id < $2 ORDER BY id DESC LIMIT $3". SDV_EINVAL with a message. */
enum sdv_err store_vin_page(struct sdv_store *s, const char *vin, int64_t before_id, size_t limit,
                            struct store_param p[3]);

/* Column decoding: strict decimal int64 / non-negative uint64 / boolean (0, 1, t, f); a copy of
 * a text column (NULL stays NULL, *out set). SDV_EIO on a malformed value, SDV_ENOMEM. */
enum sdv_err store_col_i64(struct sdv_store *s, const char *col, int64_t *out);
enum sdv_err store_col_u64(struct sdv_store *s, const char *col, uint64_t *out);
enum sdv_err store_col_bool(struct sdv_store *s, const char *col, bool *out);
enum sdv_err store_col_str(struct sdv_store *s, const char *col, const char **out);

/* How one result column is decoded into a member of an output structure: store_col_i64(),
 * store_col_u64(), store_col_bool() or store_col_str() on the member at offset off. */
enum store_col_kind { STORE_COL_I64, STORE_COL_U64, STORE_COL_BOOL, STORE_COL_STR };
struct store_col {
    enum store_col_kind kind;
    size_t off;
};
#define STORE_COL(kind, type, member)            \
    {                                            \
        STORE_COL_##kind, offsetof(type, member) \
    }

/* Decodes cols[0] to cols[n - 1] into the structure at item, column i as spec[i] says; stops at
 * the first error (SDV_EIO on a malformed value, SDV_ENOMEM), leaving what it decoded in item
 * for its release function. */
enum sdv_err store_cols_decode(struct sdv_store *s, const char *const *cols,
                               const struct store_col *spec, size_t n, void *item);

/* Frees the text members that spec names in the structure at item (store_free_str()), so the
 * table that decodes a row also releases it; other members are left as they are. */
void store_cols_release(const struct store_col *spec, size_t n, void *item);

/* The number of entries of a store_col table. */
#define STORE_NCOLS(spec) (sizeof(spec) / sizeof((spec)[0]))

/* A store_row_fn that decodes column 0 into the int64_t at ud. */
enum sdv_err store_row_i64(struct sdv_store *s, void *ud, const char *const *cols, size_t ncols);

/* Grows *arr (elements of size elem) so that it holds at least n + 1 elements; new elements are
 * zeroed. SDV_ENOMEM. */
enum sdv_err store_grow(struct sdv_store *s, void **arr, size_t *cap, size_t n, size_t elem);

/* free() for a string owned by an output structure. */
void store_free_str(const char *p);

/* Releases what one element of an output array owns (an sdv_store_*_release()). */
typedef void (*store_release_fn)(void *item);

/* Releases each of the count elem-byte elements at items, then frees items; items may be NULL. */
void store_free_items(void *items, size_t count, size_t elem, store_release_fn release);

/*
 * Result rows collected into a growable array of elem-byte elements, for the store_row_fn of a
 * typed query. Set elem, max, ncols, what and release; the rest starts zeroed.
 */
struct store_rows {
    void *items; /* count elements; freed by store_rows_take*() unless handed over */
    size_t count, cap;
    size_t elem;                  /* size of one element */
    size_t max;                   /* more rows than this are SDV_EIO */
    size_t ncols;                 /* columns each row must have */
    const char *what;             /* names the row in the error message */
    store_release_fn release;     /* releases one element */
    const struct store_col *cols; /* for store_row_cols(): how each of the ncols decodes */
};

/* Checks that a row has r->ncols columns and that r has room for it, then appends a zeroed
 * element, which *item receives. SDV_EIO ("unexpected <what> row"), SDV_ENOMEM. */
enum sdv_err store_rows_add(struct sdv_store *s, struct store_rows *r, size_t ncols, void **item);

/* A store_row_fn for a struct store_rows at ud whose cols say how every column decodes: appends
 * an element (store_rows_add()) and decodes the row into it. */
enum sdv_err store_row_cols(struct sdv_store *s, void *ud, const char *const *cols, size_t ncols);

/* Ends a list query that returned err: on SDV_OK the caller takes r->items and r->count; on
 * failure they are freed and left NULL and 0. Returns err. */
enum sdv_err store_rows_take(struct store_rows *r, enum sdv_err err);

/* Ends a single-item query that returned err (SDV_ENOENT already set when no row came): on
 * SDV_OK moves the first element into out (elem bytes) and frees the rest; on failure frees
 * everything and leaves out as it was. Returns err. */
enum sdv_err store_rows_take_one(struct store_rows *r, enum sdv_err err, void *out);

#endif /* SDV_STORE_INT_H */
