/*
 * store.c - opening a store (picking the backend from the URL), transactions, and the helpers
 * the typed API shares: parameter and column conversion, validation, growable arrays.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Default wait for another writer's lock (SQLite): long enough to ride out a checkpoint or a
 * large manifest insert by another process, short enough to surface a stuck writer. */
#define STORE_BUSY_TIMEOUT_MS_DEFAULT 5000

void store_errf(struct sdv_store *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Picks the backend for url and the target string handed to its open(). */
static enum sdv_err pick_backend(struct sdv_store *s, const char *url, const char **target)
{
    if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://")) {
        s->be = &store_backend_pg;
        *target = url;
        return SDV_OK;
    }
    if (has_prefix(url, "sqlite:"))
        url += strlen("sqlite:");
    else if (strstr(url, "://") != NULL) {
        store_errf(s, "unknown store URL scheme (expected sqlite:PATH, a file path, "
                      "postgresql:// or postgres://)");
        return SDV_EINVAL;
    }
    if (url[0] == '\0') {
        store_errf(s, "empty SQLite database path");
        return SDV_EINVAL;
    }
    s->be = &store_backend_sqlite;
    *target = url;
    return SDV_OK;
}

enum sdv_err store_open_version(const char *url, const struct sdv_store_config *cfg,
                                int max_version, struct sdv_store **out)
{
    struct sdv_store *s;
    const char *target = NULL;
    enum sdv_err err;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SDV_ENOMEM;
    *out = s;
    if (cfg != NULL)
        s->cfg = *cfg;
    if (s->cfg.busy_timeout_ms <= 0)
        s->cfg.busy_timeout_ms = STORE_BUSY_TIMEOUT_MS_DEFAULT;
    if (url == NULL) {
        store_errf(s, "no store URL");
        return SDV_EINVAL;
    }
    err = pick_backend(s, url, &target);
    if (err != SDV_OK)
        return err;
    err = s->be->open(s, target);
    if (err != SDV_OK)
        return err;
    err = store_schema_migrate(s, max_version);
    if (err != SDV_OK)
        return err;
    s->usable = true;
    s->errmsg[0] = '\0';
    sdv_logf(&s->cfg.log, SDV_LOG_DEBUG, "store: %s database at schema version %d", s->be->name,
             s->schema_version);
    return SDV_OK;
}

enum sdv_err sdv_store_open(const char *url, const struct sdv_store_config *cfg,
                            struct sdv_store **out)
{
    return store_open_version(url, cfg, store_schema_latest(), out);
}

void sdv_store_close(struct sdv_store *s)
{
    if (s == NULL)
        return;
    if (s->be != NULL) {
        if (s->tx_depth > 0 && s->conn != NULL)
            (void)s->be->exec(s, "ROLLBACK");
        s->be->close(s);
    }
    free(s);
}

const char *sdv_store_errmsg(const struct sdv_store *s)
{
    if (s == NULL)
        return "out of memory";
    return s->errmsg;
}

const char *sdv_store_backend(const struct sdv_store *s)
{
    return s->be != NULL ? s->be->name : "none";
}

int sdv_store_schema_version(const struct sdv_store *s)
{
    return s->schema_version;
}

enum sdv_err store_check(struct sdv_store *s)
{
    if (s == NULL)
        return SDV_EINVAL;
    if (!s->usable) {
        /* Keep the open failure's message when there is one: it says why. */
        if (s->errmsg[0] == '\0')
            store_errf(s, "the store is not open");
        return SDV_EINVAL;
    }
    s->errmsg[0] = '\0';
    return SDV_OK;
}

/* ---- Transactions ----------------------------------------------------------------------- */

/* Runs sql on the way out of a failed section without losing the message of the failure. */
static void exec_keep_errmsg(struct sdv_store *s, const char *sql)
{
    char saved[sizeof(s->errmsg)];

    memcpy(saved, s->errmsg, sizeof(saved));
    (void)s->be->exec(s, sql);
    memcpy(s->errmsg, saved, sizeof(saved));
}

enum sdv_err store_tx_enter(struct sdv_store *s)
{
    char sql[64];
    enum sdv_err err;

    if (s->tx_depth == 0) {
        err = s->be->exec(s, s->be->begin_sql);
    } else {
        snprintf(sql, sizeof(sql), "SAVEPOINT sdv_sp%u", s->tx_depth);
        err = s->be->exec(s, sql);
    }
    if (err == SDV_OK)
        s->tx_depth++;
    return err;
}

enum sdv_err store_tx_leave(struct sdv_store *s, enum sdv_err err)
{
    char sql[64];
    enum sdv_err cerr;

    assert(s->tx_depth > 0);
    s->tx_depth--;
    if (s->tx_depth == 0) {
        if (err != SDV_OK) {
            exec_keep_errmsg(s, "ROLLBACK");
            return err;
        }
        cerr = s->be->exec(s, "COMMIT");
        if (cerr != SDV_OK)
            exec_keep_errmsg(s, "ROLLBACK"); /* SQLite keeps a transaction whose COMMIT failed */
        return cerr;
    }
    if (err != SDV_OK) {
        snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT sdv_sp%u", s->tx_depth);
        exec_keep_errmsg(s, sql);
        snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT sdv_sp%u", s->tx_depth);
        exec_keep_errmsg(s, sql);
        return err;
    }
    snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT sdv_sp%u", s->tx_depth);
    return s->be->exec(s, sql);
}

enum sdv_err sdv_store_begin(struct sdv_store *s)
{
    enum sdv_err err = store_check(s);

    if (err != SDV_OK)
        return err;
    if (s->user_tx) {
        store_errf(s, "a transaction is already open on this handle");
        return SDV_EINVAL;
    }
    assert(s->tx_depth == 0);
    err = store_tx_enter(s);
    if (err == SDV_OK)
        s->user_tx = true;
    return err;
}

static enum sdv_err end_user_tx(struct sdv_store *s, enum sdv_err how)
{
    enum sdv_err err = store_check(s);

    if (err != SDV_OK)
        return err;
    if (!s->user_tx) {
        store_errf(s, "no transaction is open on this handle");
        return SDV_EINVAL;
    }
    assert(s->tx_depth == 1);
    s->user_tx = false;
    if (how != SDV_OK) {
        s->tx_depth = 0;
        return s->be->exec(s, "ROLLBACK");
    }
    return store_tx_leave(s, SDV_OK);
}

enum sdv_err sdv_store_commit(struct sdv_store *s)
{
    return end_user_tx(s, SDV_OK);
}

enum sdv_err sdv_store_rollback(struct sdv_store *s)
{
    return end_user_tx(s, SDV_EIO);
}

/* ---- Parameters, validation, columns ---------------------------------------------------- */

struct store_param store_text(const char *text)
{
    struct store_param p = {text != NULL ? STORE_PARAM_TEXT : STORE_PARAM_NULL, text, 0};

    return p;
}

struct store_param store_int(int64_t i)
{
    struct store_param p = {STORE_PARAM_INT, NULL, i};

    return p;
}

/* Returns true if p[0..n) is well-formed UTF-8: no overlong forms, no surrogates, nothing past
 * U+10FFFF (the rules PostgreSQL applies, so both backends accept the same text). */
static bool utf8_valid(const unsigned char *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static enum sdv_err check_text(struct sdv_store *s, const char *what, const char *v, size_t min_len,
                               size_t max_len)
{
    size_t n;

    if (v == NULL) {
        store_errf(s, "%s is missing", what);
        return SDV_EINVAL;
    }
    n = strnlen(v, max_len + 1);
    if (n < min_len || n > max_len) {
        store_errf(s, "%s must be %zu to %zu bytes long", what, min_len, max_len);
        return SDV_EINVAL;
    }
    if (!utf8_valid((const unsigned char *)v, n)) {
        store_errf(s, "%s is not valid UTF-8", what);
        return SDV_EINVAL;
    }
    return SDV_OK;
}

enum sdv_err store_check_id(struct sdv_store *s, const char *what, const char *v)
{
    return check_text(s, what, v, 1, SDV_STORE_ID_LEN_MAX);
}

enum sdv_err store_check_doc(struct sdv_store *s, const char *what, const char *v)
{
    return check_text(s, what, v, 0, SDV_STORE_DOC_LEN_MAX);
}

enum sdv_err store_check_u64(struct sdv_store *s, const char *what, uint64_t v)
{
    if (v > (uint64_t)INT64_MAX) {
        store_errf(s, "%s is larger than %lld", what, (long long)INT64_MAX);
        return SDV_EINVAL;
    }
    return SDV_OK;
}

enum sdv_err store_vin_page(struct sdv_store *s, const char *vin, int64_t before_id, size_t limit,
                            struct store_param p[3])
{
    enum sdv_err err = store_check(s);

    if (err == SDV_OK)
        err = store_check_id(s, "VIN", vin);
    if (err == SDV_OK && (limit == 0 || limit > SDV_STORE_PAGE_MAX || before_id < 0)) {
        store_errf(s, "page size must be 1 to %d and before_id not negative", SDV_STORE_PAGE_MAX);
        err = SDV_EINVAL;
    }
    if (err != SDV_OK)
        return err;
    p[0] = store_text(vin);
    p[1] = store_int(before_id > 0 ? before_id : INT64_MAX);
    p[2] = store_int((int64_t)limit);
    return SDV_OK;
}

enum sdv_err store_col_i64(struct sdv_store *s, const char *col, int64_t *out)
{
    char *end;
    long long v;

    *out = 0;
    if (col == NULL || col[0] == '\0') {
        store_errf(s, "database returned an empty integer");
        return SDV_EIO;
    }
    errno = 0;
    v = strtoll(col, &end, 10);
    if (errno != 0 || *end != '\0') {
        store_errf(s, "database returned a malformed integer");
        return SDV_EIO;
    }
    *out = v;
    return SDV_OK;
}

enum sdv_err store_col_u64(struct sdv_store *s, const char *col, uint64_t *out)
{
    int64_t v;
    enum sdv_err err = store_col_i64(s, col, &v);

    *out = 0;
    if (err != SDV_OK)
        return err;
    if (v < 0) {
        store_errf(s, "database returned a negative length or counter");
        return SDV_EIO;
    }
    *out = (uint64_t)v;
    return SDV_OK;
}

enum sdv_err store_col_bool(struct sdv_store *s, const char *col, bool *out)
{
    *out = false;
    if (col != NULL && (strcmp(col, "1") == 0 || strcmp(col, "t") == 0)) {
        *out = true;
        return SDV_OK;
    }
    if (col != NULL && (strcmp(col, "0") == 0 || strcmp(col, "f") == 0))
        return SDV_OK;
    store_errf(s, "database returned a malformed boolean");
    return SDV_EIO;
}

enum sdv_err store_col_str(struct sdv_store *s, const char *col, const char **out)
{
    char *copy;

    *out = NULL;
    if (col == NULL)
        return SDV_OK;
    copy = strdup(col);
    if (copy == NULL) {
        store_errf(s, "out of memory");
        return SDV_ENOMEM;
    }
    *out = copy;
    return SDV_OK;
}

enum sdv_err store_row_i64(struct sdv_store *s, void *ud, const char *const *cols, size_t ncols)
{
    return store_col_i64(s, ncols > 0 ? cols[0] : NULL, ud);
}

enum sdv_err store_grow(struct sdv_store *s, void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t new_cap;
    void *p;

    if (n < *cap)
        return SDV_OK;
    new_cap = *cap == 0 ? 8 : *cap * 2;
    if (new_cap > SIZE_MAX / elem) {
        store_errf(s, "out of memory");
        return SDV_ENOMEM;
    }
    p = realloc(*arr, new_cap * elem);
    if (p == NULL) {
        store_errf(s, "out of memory");
        return SDV_ENOMEM;
    }
    memset((char *)p + *cap * elem, 0, (new_cap - *cap) * elem);
    *arr = p;
    *cap = new_cap;
    return SDV_OK;
}

void store_free_str(const char *p)
{
    free((void *)(uintptr_t)p);
}

void store_free_items(void *items, size_t count, size_t elem, store_release_fn release)
{
    if (items == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        release((char *)items + i * elem);
    free(items);
}

enum sdv_err store_rows_add(struct sdv_store *s, struct store_rows *r, size_t ncols, void **item)
{
    enum sdv_err err;

    *item = NULL;
    if (ncols != r->ncols || r->count >= r->max) {
        store_errf(s, "unexpected %s row", r->what);
        return SDV_EIO;
    }
    err = store_grow(s, &r->items, &r->cap, r->count, r->elem);
    if (err != SDV_OK)
        return err;
    *item = (char *)r->items + r->count++ * r->elem;
    return SDV_OK;
}

enum sdv_err store_cols_decode(struct sdv_store *s, const char *const *cols,
                               const struct store_col *spec, size_t n, void *item)
{
    enum sdv_err err = SDV_OK;

    for (size_t i = 0; i < n && err == SDV_OK; i++) {
        void *m = (char *)item + spec[i].off;

        switch (spec[i].kind) {
        case STORE_COL_I64:
            err = store_col_i64(s, cols[i], m);
            break;
        case STORE_COL_U64:
            err = store_col_u64(s, cols[i], m);
            break;
        case STORE_COL_BOOL:
            err = store_col_bool(s, cols[i], m);
            break;
        case STORE_COL_STR:
            err = store_col_str(s, cols[i], m);
            break;
        }
    }
    return err;
}

void store_cols_release(const struct store_col *spec, size_t n, void *item)
{
    for (size_t i = 0; i < n; i++)
        if (spec[i].kind == STORE_COL_STR)
            store_free_str(*(const char **)(void *)((char *)item + spec[i].off));
}

enum sdv_err store_row_cols(struct sdv_store *s, void *ud, const char *const *cols, size_t ncols)
{
    struct store_rows *r = ud;
    void *item;
    enum sdv_err err = store_rows_add(s, r, ncols, &item);

    assert(r->cols != NULL);
    if (err != SDV_OK)
        return err;
    return store_cols_decode(s, cols, r->cols, r->ncols, item);
}

enum sdv_err store_rows_take(struct store_rows *r, enum sdv_err err)
{
    if (err != SDV_OK) {
        store_free_items(r->items, r->count, r->elem, r->release);
        r->items = NULL;
        r->count = 0;
    }
    return err;
}

enum sdv_err store_rows_take_one(struct store_rows *r, enum sdv_err err, void *out)
{
    if (err == SDV_OK) {
        assert(r->count > 0);
        memcpy(out, r->items, r->elem);
        memset(r->items, 0, r->elem); /* handed over: releasing it now is a no-op */
    }
    store_free_items(r->items, r->count, r->elem, r->release);
    r->items = NULL;
    r->count = 0;
    return err;
}
