/*
 * store_pg.c - the PostgreSQL backend on libpq: one connection per handle, every statement with
 * out-of-line parameters (PQexecParams), text results.
 */
#include <assert.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Copies a libpq message into the handle's errmsg on one line. */
static void pg_errf(struct sdv_store *s, const char *what, const char *msg)
{
    size_t n;

    store_errf(s, "postgresql: %s: %s", what, msg != NULL && msg[0] != '\0' ? msg : "failed");
    n = strlen(s->errmsg);
    while (n > 0 && (s->errmsg[n - 1] == '\n' || s->errmsg[n - 1] == ' '))
        s->errmsg[--n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (s->errmsg[i] == '\n')
            s->errmsg[i] = ' ';
    }
}

/* Maps a SQLSTATE to an sdv_err. */
static enum sdv_err map_sqlstate(const char *state)
{
    if (state == NULL)
        return SDV_EIO;
    if (strcmp(state, "23505") == 0) /* unique_violation */
        return SDV_EEXIST;
    if (strcmp(state, "23503") == 0) /* foreign_key_violation */
        return SDV_ENOENT;
    if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
        return SDV_EINVAL; /* other integrity violations, data exceptions */
    if (strncmp(state, "08", 2) == 0)
        return SDV_ENET; /* connection exceptions */
    return SDV_EIO;
}

/* Records a failed result (or a failure without one) and maps it. Clears res. */
static enum sdv_err pg_fail(struct sdv_store *s, PGresult *res, const char *what)
{
    PGconn *conn = s->conn;
    enum sdv_err err;

    if (res == NULL) {
        pg_errf(s, what, PQerrorMessage(conn));
        err = PQstatus(conn) == CONNECTION_BAD ? SDV_ENET : SDV_ENOMEM;
    } else {
        pg_errf(s, what, PQresultErrorMessage(res));
        err = map_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE));
        if (PQstatus(conn) == CONNECTION_BAD)
            err = SDV_ENET;
        PQclear(res);
    }
    return err;
}

/* A connection that broke between transactions is re-established once; inside a transaction
 * the work is lost anyway, so the caller sees SDV_ENET. */
static enum sdv_err pg_ready(struct sdv_store *s)
{
    PGconn *conn = s->conn;

    if (PQstatus(conn) == CONNECTION_OK)
        return SDV_OK;
    if (s->tx_depth == 0) {
        sdv_logf(&s->cfg.log, SDV_LOG_WARN, "store: postgresql connection lost, reconnecting");
        PQreset(conn);
        if (PQstatus(conn) == CONNECTION_OK)
            return SDV_OK;
    }
    pg_errf(s, "connection", PQerrorMessage(conn));
    return SDV_ENET;
}

static enum sdv_err pg_exec(struct sdv_store *s, const char *sql)
{
    PGresult *res;
    enum sdv_err err = pg_ready(s);

    if (err != SDV_OK)
        return err;
    res = PQexec(s->conn, sql);
    if (res == NULL ||
        (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK))
        return pg_fail(s, res, "exec");
    /* COMMIT of a transaction that an earlier error aborted answers ROLLBACK, not an error. */
    if (strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
        PQclear(res);
        store_errf(s, "postgresql: transaction was aborted by an earlier error and rolled back");
        return SDV_EIO;
    }
    PQclear(res);
    return SDV_OK;
}

static enum sdv_err pg_query(struct sdv_store *s, const char *sql, const struct store_param *params,
                             size_t nparams, store_row_fn row, void *ud, int64_t *changes)
{
    const char *values[STORE_PARAMS_MAX];
    char ints[STORE_PARAMS_MAX][24];
    const char *cols[STORE_COLS_MAX];
    PGresult *res;
    enum sdv_err err = pg_ready(s);
    int nrows, ncols;

    if (changes != NULL)
        *changes = 0;
    if (err != SDV_OK)
        return err;
    assert(nparams <= STORE_PARAMS_MAX);
    for (size_t i = 0; i < nparams; i++) {
        switch (params[i].type) {
        case STORE_PARAM_NULL:
            values[i] = NULL;
            break;
        case STORE_PARAM_TEXT:
            values[i] = params[i].text;
            break;
        case STORE_PARAM_INT:
            snprintf(ints[i], sizeof(ints[i]), "%" PRId64, params[i].i);
            values[i] = ints[i];
            break;
        }
    }
    /* Parameter types are left to the server to infer from the statement. */
    res = PQexecParams(s->conn, sql, (int)nparams, NULL, values, NULL, NULL, 0);
    if (res == NULL ||
        (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK))
        return pg_fail(s, res, "query");
    nrows = PQntuples(res);
    ncols = PQnfields(res);
    if (row != NULL && nrows > 0) {
        assert(ncols > 0 && ncols <= STORE_COLS_MAX);
        for (int r = 0; r < nrows && err == SDV_OK; r++) {
            for (int c = 0; c < ncols; c++)
                cols[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
            err = row(s, ud, cols, (size_t)ncols);
        }
    }
    if (err == SDV_OK && changes != NULL) {
        const char *tuples = PQcmdTuples(res);

        *changes = tuples[0] != '\0' ? strtoll(tuples, NULL, 10) : 0;
    }
    PQclear(res);
    return err;
}

/* Server notices ("relation already exists, skipping") go to the log, never to stderr. */
static void pg_notice(void *arg, const char *message)
{
    struct sdv_store *s = arg;
    size_t n = strlen(message);

    while (n > 0 && message[n - 1] == '\n')
        n--;
    sdv_logf(&s->cfg.log, SDV_LOG_DEBUG, "store: postgresql: %.*s", (int)n, message);
}

static enum sdv_err pg_open(struct sdv_store *s, const char *url)
{
    PGconn *conn = PQconnectdb(url);
    const char *encoding;

    s->conn = conn;
    if (conn == NULL) {
        store_errf(s, "postgresql: out of memory");
        return SDV_ENOMEM;
    }
    PQsetNoticeProcessor(conn, pg_notice, s);
    if (PQstatus(conn) != CONNECTION_OK) {
        pg_errf(s, "connect", PQerrorMessage(conn));
        return SDV_ENET;
    }
    if (PQsetClientEncoding(conn, "UTF8") != 0) {
        pg_errf(s, "client encoding", PQerrorMessage(conn));
        return SDV_EIO;
    }
    /* The store keeps UTF-8 text (names, JSON); a database in another encoding would refuse it
     * or, as SQL_ASCII, keep it unchecked. */
    encoding = PQparameterStatus(conn, "server_encoding");
    if (encoding == NULL || strcmp(encoding, "UTF8") != 0) {
        store_errf(s, "postgresql: the database encoding is %s; create it with ENCODING 'UTF8'",
                   encoding != NULL ? encoding : "unknown");
        return SDV_EUNSUPPORTED;
    }
    return SDV_OK;
}

static void pg_close(struct sdv_store *s)
{
    if (s->conn != NULL)
        PQfinish(s->conn);
    s->conn = NULL;
}

const struct store_backend store_backend_pg = {
        .name = "postgresql",
        .dialect = STORE_DIALECT_PG,
        .begin_sql = "BEGIN",
        .open = pg_open,
        .close = pg_close,
        .exec = pg_exec,
        .query = pg_query,
};
