/*
 * Tests of lib/store, compiled once and run against each backend:
 *
 *   test_store sqlite:                  a fresh SQLite file per test in a temporary directory
 *   test_store postgresql://...         a real PostgreSQL (pg_harness.sh starts a throwaway one
 *                                       and passes its URL in SDV_TEST_PG_URL)
 *
 * Every test starts from an empty database: a new file for SQLite, an emptied public schema for
 * PostgreSQL.
 */
#include <dirent.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/store.h>

#include "../../lib/store/store_int.h"

struct ctx {
    char base_url[1024]; /* as given; for SQLite "sqlite:" */
    bool pg;
    char dir[256]; /* SQLite: temporary directory of the database files */
    unsigned n;    /* databases created so far */
    char url[1400];
};

static struct ctx g;

static const int64_t T0 = 1767225600; /* 2026-01-01T00:00:00Z */

/* Prepares a fresh, empty database and returns its URL. */
static const char *fresh_url(void)
{
    PGconn *conn;
    PGresult *res;

    g.n++;
    if (!g.pg) {
        snprintf(g.url, sizeof(g.url), "sqlite:%s/t%u.db", g.dir, g.n);
        return g.url;
    }
    /* Straight through libpq, so that even a database the store refuses can be emptied. */
    conn = PQconnectdb(g.base_url);
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("cannot reach PostgreSQL: %s", PQerrorMessage(conn));
    res = PQexec(conn, "SET client_min_messages = warning;"
                       "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("cannot reset PostgreSQL: %s", PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    snprintf(g.url, sizeof(g.url), "%s", g.base_url);
    return g.url;
}

static struct sdv_store *open_url(const char *url)
{
    struct sdv_store *s = NULL;
    enum sdv_err err = sdv_store_open(url, NULL, &s);

    if (err != SDV_OK)
        fail_msg("sdv_store_open(%s): %s: %s", url, sdv_errname(err), sdv_store_errmsg(s));
    return s;
}

static struct sdv_store *open_fresh(void)
{
    return open_url(fresh_url());
}

#define ASSERT_OK(s, call)                                                         \
    do {                                                                           \
        enum sdv_err err_ = (call);                                                \
        if (err_ != SDV_OK)                                                        \
            fail_msg("%s: %s: %s", #call, sdv_errname(err_), sdv_store_errmsg(s)); \
    } while (0)

#define ASSERT_ERR(s, call, expected)                                          \
    do {                                                                       \
        enum sdv_err err_ = (call);                                            \
        if (err_ != (expected))                                                \
            fail_msg("%s: got %s (%s), expected %s", #call, sdv_errname(err_), \
                     sdv_store_errmsg(s), sdv_errname(expected));              \
    } while (0)

/* Counts rows of a query through the backend (for checks the public API cannot make). */
static enum sdv_err count_row(struct sdv_store *s, void *ud, const char *const *cols, size_t n)
{
    (void)s;
    (void)cols;
    (void)n;
    (*(int *)ud)++;
    return SDV_OK;
}

static int count_rows(struct sdv_store *s, const char *sql)
{
    int n = 0;

    ASSERT_OK(s, s->be->query(s, sql, NULL, 0, count_row, &n, NULL));
    return n;
}

/* A vehicle with n ECUs: serials "<vin>-P" (primary) and "<vin>-S<i>". */
struct test_vehicle {
    char vin[64];
    char serials[8][80];
    struct sdv_store_ecu ecus[8];
    struct sdv_store_vehicle v;
};

static void make_vehicle(struct test_vehicle *tv, const char *vin, size_t n)
{
    memset(tv, 0, sizeof(*tv));
    snprintf(tv->vin, sizeof(tv->vin), "%s", vin);
    for (size_t i = 0; i < n && i < 8; i++) {
        if (i == 0)
            snprintf(tv->serials[i], sizeof(tv->serials[i]), "%s-P", vin);
        else
            snprintf(tv->serials[i], sizeof(tv->serials[i]), "%s-S%zu", vin, i);
        tv->ecus[i].serial = tv->serials[i];
        tv->ecus[i].hardware_id = i == 0 ? "hw-primary" : "hw-zonal";
        tv->ecus[i].public_key = "{\"keytype\":\"ed25519\",\"keyval\":{\"public\":\"00\"}}";
        tv->ecus[i].is_primary = i == 0;
    }
    tv->v.vin = tv->vin;
    tv->v.primary_ecu_serial = tv->serials[0];
    tv->v.created_at = T0;
    tv->v.ecus = tv->ecus;
    tv->v.ecu_count = n;
}

static void register_vehicle(struct sdv_store *s, const char *vin, size_t n)
{
    struct test_vehicle tv;

    make_vehicle(&tv, vin, n);
    ASSERT_OK(s, sdv_store_vehicle_register(s, &tv.v));
}

/* ---- Migrations ------------------------------------------------------------------------- */

static void test_migrations_fresh_then_noop(void **state)
{
    const char *url = fresh_url();
    struct sdv_store *s = open_url(url);

    (void)state;
    assert_string_equal(sdv_store_backend(s), g.pg ? "postgresql" : "sqlite");
    assert_int_equal(sdv_store_schema_version(s), store_schema_latest());
    assert_true(store_schema_latest() >= 3);
    assert_int_equal(count_rows(s, "SELECT version FROM schema_version"), store_schema_latest());
    register_vehicle(s, "VIN-MIGRATE", 1);
    sdv_store_close(s);

    /* Re-open: nothing to apply, nothing lost. */
    s = open_url(url);
    assert_int_equal(sdv_store_schema_version(s), store_schema_latest());
    assert_int_equal(count_rows(s, "SELECT version FROM schema_version"), store_schema_latest());
    assert_int_equal(count_rows(s, "SELECT vin FROM vehicles"), 1);
    sdv_store_close(s);
}

static void test_migrations_pending_applied(void **state)
{
    const char *url = fresh_url();
    struct sdv_store *s = NULL;
    struct sdv_store_vehicle v;
    struct sdv_store_artifact a = {
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1, T0, NULL};

    (void)state;
    /* A database made by an older build that knew only the first step. */
    ASSERT_OK(s, store_open_version(url, NULL, 1, &s));
    assert_int_equal(sdv_store_schema_version(s), 1);
    register_vehicle(s, "VIN-OLD", 2);
    ASSERT_ERR(s, sdv_store_artifact_put(s, &a), SDV_EIO); /* no artifacts table yet */
    sdv_store_close(s);

    s = open_url(url);
    assert_int_equal(sdv_store_schema_version(s), store_schema_latest());
    ASSERT_OK(s, sdv_store_vehicle_get(s, "VIN-OLD", &v));
    assert_int_equal(v.ecu_count, 2);
    sdv_store_vehicle_release(&v);
    ASSERT_OK(s, sdv_store_artifact_put(s, &a));
    sdv_store_close(s);
}

static void test_migrations_newer_schema_refused(void **state)
{
    const char *url = fresh_url();
    struct sdv_store *s = open_url(url);
    struct sdv_store_vehicle v;

    (void)state;
    ASSERT_OK(s, s->be->exec(s, "INSERT INTO schema_version (version, name) "
                                "VALUES (999, 'from a future build')"));
    sdv_store_close(s);

    s = NULL;
    assert_int_equal(sdv_store_open(url, NULL, &s), SDV_EVERSION);
    assert_non_null(s);
    assert_non_null(strstr(sdv_store_errmsg(s), "database schema version 999 is newer"));
    /* The refused handle does nothing, and says why. */
    assert_int_equal(sdv_store_vehicle_get(s, "VIN", &v), SDV_EINVAL);
    assert_non_null(strstr(sdv_store_errmsg(s), "999"));
    sdv_store_close(s);
}

static void test_open_bad_urls(void **state)
{
    struct sdv_store *s = NULL;

    (void)state;
    assert_int_equal(sdv_store_open("mysql://localhost/db", NULL, &s), SDV_EINVAL);
    assert_non_null(strstr(sdv_store_errmsg(s), "scheme"));
    sdv_store_close(s);
    assert_int_equal(sdv_store_open("sqlite:", NULL, &s), SDV_EINVAL);
    sdv_store_close(s);
    assert_int_equal(sdv_store_open("sqlite:/nonexistent-dir/x/y.db", NULL, &s), SDV_EIO);
    assert_non_null(strstr(sdv_store_errmsg(s), "cannot open"));
    sdv_store_close(s);
    if (g.pg) {
        char bad[1400];

        snprintf(bad, sizeof(bad), "postgresql:///no_such_database_sdv?host=/nonexistent-dir");
        assert_int_equal(sdv_store_open(bad, NULL, &s), SDV_ENET);
        assert_non_null(strstr(sdv_store_errmsg(s), "postgresql: connect"));
        sdv_store_close(s);
    }
    sdv_store_close(NULL);
}

/* ---- Vehicles and ECUs ------------------------------------------------------------------ */

static void test_register_get_roundtrip(void **state)
{
    struct sdv_store *s = open_fresh();
    struct test_vehicle tv;
    struct sdv_store_vehicle v;
    struct sdv_store_ecu e;

    (void)state;
    make_vehicle(&tv, "WVWZZZ1JZXW000001", 3);
    /* Registered in an order that is not the stored order: the primary comes first on read. */
    tv.ecus[0].is_primary = false;
    tv.ecus[2].is_primary = true;
    tv.v.primary_ecu_serial = tv.serials[2];
    ASSERT_OK(s, sdv_store_vehicle_register(s, &tv.v));

    ASSERT_OK(s, sdv_store_vehicle_get(s, "WVWZZZ1JZXW000001", &v));
    assert_string_equal(v.vin, "WVWZZZ1JZXW000001");
    assert_string_equal(v.primary_ecu_serial, "WVWZZZ1JZXW000001-S2");
    assert_int_equal(v.created_at, T0);
    assert_int_equal(v.ecu_count, 3);
    assert_string_equal(v.ecus[0].serial, "WVWZZZ1JZXW000001-S2");
    assert_true(v.ecus[0].is_primary);
    assert_string_equal(v.ecus[1].serial, "WVWZZZ1JZXW000001-P");
    assert_false(v.ecus[1].is_primary);
    assert_string_equal(v.ecus[2].serial, "WVWZZZ1JZXW000001-S1");
    assert_string_equal(v.ecus[2].vin, "WVWZZZ1JZXW000001");
    assert_string_equal(v.ecus[2].hardware_id, "hw-zonal");
    assert_string_equal(v.ecus[2].public_key, tv.ecus[1].public_key);
    sdv_store_vehicle_release(&v);
    sdv_store_vehicle_release(&v); /* released twice: a no-op */

    ASSERT_OK(s, sdv_store_ecu_get(s, "WVWZZZ1JZXW000001-P", &e));
    assert_string_equal(e.vin, "WVWZZZ1JZXW000001");
    assert_string_equal(e.hardware_id, "hw-primary");
    assert_false(e.is_primary);
    sdv_store_ecu_release(&e);

    ASSERT_ERR(s, sdv_store_vehicle_get(s, "NO-SUCH-VIN", &v), SDV_ENOENT);
    assert_null(v.vin);
    assert_non_null(strstr(sdv_store_errmsg(s), "NO-SUCH-VIN"));
    ASSERT_ERR(s, sdv_store_ecu_get(s, "NO-SUCH-ECU", &e), SDV_ENOENT);
    assert_null(e.serial);
    sdv_store_close(s);
}

static void test_register_duplicates_write_nothing(void **state)
{
    struct sdv_store *s = open_fresh();
    struct test_vehicle tv;
    struct sdv_store_vehicle v;
    struct sdv_store_ecu e;

    (void)state;
    register_vehicle(s, "VIN-A", 2);

    /* Same VIN, new serials: refused, and the new ECUs do not exist. */
    make_vehicle(&tv, "VIN-A", 2);
    tv.serials[0][0] = 'X';
    tv.serials[1][0] = 'X';
    tv.v.primary_ecu_serial = tv.serials[0];
    ASSERT_ERR(s, sdv_store_vehicle_register(s, &tv.v), SDV_EEXIST);
    assert_non_null(strstr(sdv_store_errmsg(s), "VIN-A"));
    ASSERT_ERR(s, sdv_store_ecu_get(s, "XIN-A-P", &e), SDV_ENOENT);

    /* New VIN whose second ECU's serial is taken: the vehicle and its first ECU must not
     * exist afterwards. */
    make_vehicle(&tv, "VIN-B", 2);
    tv.ecus[1].serial = "VIN-A-S1";
    ASSERT_ERR(s, sdv_store_vehicle_register(s, &tv.v), SDV_EEXIST);
    assert_non_null(strstr(sdv_store_errmsg(s), "VIN-A-S1"));
    ASSERT_ERR(s, sdv_store_vehicle_get(s, "VIN-B", &v), SDV_ENOENT);
    ASSERT_ERR(s, sdv_store_ecu_get(s, "VIN-B-P", &e), SDV_ENOENT);
    assert_int_equal(count_rows(s, "SELECT vin FROM vehicles"), 1);
    assert_int_equal(count_rows(s, "SELECT serial FROM ecus"), 2);

    /* The same inside an explicit transaction: the failed register is undone alone. */
    ASSERT_OK(s, sdv_store_begin(s));
    ASSERT_ERR(s, sdv_store_vehicle_register(s, &tv.v), SDV_EEXIST);
    register_vehicle(s, "VIN-C", 1);
    ASSERT_OK(s, sdv_store_commit(s));
    ASSERT_OK(s, sdv_store_vehicle_get(s, "VIN-C", &v));
    sdv_store_vehicle_release(&v);
    ASSERT_ERR(s, sdv_store_vehicle_get(s, "VIN-B", &v), SDV_ENOENT);
    sdv_store_close(s);
}

static void test_register_invalid(void **state)
{
    struct sdv_store *s = open_fresh();
    struct test_vehicle tv;

    (void)state;
    make_vehicle(&tv, "VIN-X", 2);
    tv.ecus[0].is_primary = false; /* no primary */
    ASSERT_ERR(s, sdv_store_vehicle_register(s, &tv.v), SDV_EINVAL);
    tv.ecus[0].is_primary = true;
    tv.ecus[1].is_primary = true; /* two primaries */
    ASSERT_ERR(s, sdv_store_vehicle_register(s, &tv.v), SDV_EINVAL);
    make_vehicle(&tv, "VIN-X", 2);
    tv.ecus[1].serial = tv.ecus[0].serial; /* one serial twice */
    ASSERT_ERR(s, sdv_store_vehicle_register(s, &tv.v), SDV_EINVAL);
    make_vehicle(&tv, "VIN-X", 2);
    tv.v.primary_ecu_serial = "VIN-X-S1"; /* names a secondary */
    ASSERT_ERR(s, sdv_store_vehicle_register(s, &tv.v), SDV_EINVAL);
    make_vehicle(&tv, "VIN-X", 0); /* no ECUs */
    ASSERT_ERR(s, sdv_store_vehicle_register(s, &tv.v), SDV_EINVAL);
    make_vehicle(&tv, "VIN-\xff\xfe", 1); /* not UTF-8 */
    ASSERT_ERR(s, sdv_store_vehicle_register(s, &tv.v), SDV_EINVAL);
    assert_non_null(strstr(sdv_store_errmsg(s), "UTF-8"));
    make_vehicle(&tv, "", 1);
    ASSERT_ERR(s, sdv_store_vehicle_register(s, &tv.v), SDV_EINVAL);
    ASSERT_ERR(s, sdv_store_vehicle_register(s, NULL), SDV_EINVAL);
    assert_int_equal(count_rows(s, "SELECT vin FROM vehicles"), 0);
    sdv_store_close(s);
}

static void test_vehicle_list_paging(void **state)
{
    struct sdv_store *s = open_fresh();
    static const char *const vins[] = {"VIN-5", "VIN-1", "VIN-7", "VIN-3",
                                       "VIN-2", "VIN-6", "VIN-4"};
    struct sdv_store_vehicle *page = NULL;
    char after[64] = "";
    size_t n = 0, total = 0, pages = 0;

    (void)state;
    for (size_t i = 0; i < 7; i++)
        register_vehicle(s, vins[i], 1 + i % 3);
    do {
        ASSERT_OK(s, sdv_store_vehicle_list(s, after[0] ? after : NULL, 3, &page, &n));
        assert_true(n <= 3);
        for (size_t i = 0; i < n; i++) {
            char want[16];

            snprintf(want, sizeof(want), "VIN-%zu", total + i + 1);
            assert_string_equal(page[i].vin, want);
            assert_true(page[i].ecu_count >= 1);
            assert_true(page[i].ecus[0].is_primary);
            assert_string_equal(page[i].ecus[0].serial, page[i].primary_ecu_serial);
        }
        total += n;
        pages++;
        if (n > 0)
            snprintf(after, sizeof(after), "%s", page[n - 1].vin);
        sdv_store_vehicles_free(page, n);
    } while (n == 3);
    assert_int_equal(total, 7);
    assert_int_equal(pages, 3);
    ASSERT_ERR(s, sdv_store_vehicle_list(s, NULL, 0, &page, &n), SDV_EINVAL);
    ASSERT_ERR(s, sdv_store_vehicle_list(s, NULL, SDV_STORE_PAGE_MAX + 1, &page, &n), SDV_EINVAL);
    sdv_store_close(s);
}

/* ---- Assignments ------------------------------------------------------------------------ */

static void test_assignments(void **state)
{
    struct sdv_store *s = open_fresh();
    struct sdv_store_assignment a = {"VIN-A-P", "firmware-v1.bin", 1024, "{\"sha256\":\"00ff\"}", 3,
                                     T0,        "campaign-1"};
    struct sdv_store_assignment got, *list = NULL;
    size_t n = 0;

    (void)state;
    register_vehicle(s, "VIN-A", 3);
    register_vehicle(s, "VIN-B", 1);
    ASSERT_ERR(s, sdv_store_assignment_get(s, "VIN-A-P", &got), SDV_ENOENT);
    ASSERT_OK(s, sdv_store_assignment_set(s, &a));
    ASSERT_OK(s, sdv_store_assignment_get(s, "VIN-A-P", &got));
    assert_string_equal(got.ecu_serial, "VIN-A-P");
    assert_string_equal(got.target_name, "firmware-v1.bin");
    assert_int_equal(got.target_length, 1024);
    assert_string_equal(got.hashes, "{\"sha256\":\"00ff\"}");
    assert_int_equal(got.release_counter, 3);
    assert_int_equal(got.assigned_at, T0);
    assert_string_equal(got.correlation_id, "campaign-1");
    sdv_store_assignment_release(&got);

    /* Replace: one assignment per ECU, the newest wins; no correlation id is kept as NULL. */
    a.target_name = "firmware-v2.bin";
    a.target_length = (uint64_t)INT64_MAX;
    a.release_counter = 4;
    a.assigned_at = T0 + 60;
    a.correlation_id = NULL;
    ASSERT_OK(s, sdv_store_assignment_set(s, &a));
    ASSERT_OK(s, sdv_store_assignment_get(s, "VIN-A-P", &got));
    assert_string_equal(got.target_name, "firmware-v2.bin");
    assert_true(got.target_length == (uint64_t)INT64_MAX);
    assert_int_equal(got.release_counter, 4);
    assert_int_equal(got.assigned_at, T0 + 60);
    assert_null(got.correlation_id);
    sdv_store_assignment_release(&got);

    a.ecu_serial = "VIN-A-S2";
    ASSERT_OK(s, sdv_store_assignment_set(s, &a));
    a.ecu_serial = "VIN-B-P";
    ASSERT_OK(s, sdv_store_assignment_set(s, &a));
    ASSERT_OK(s, sdv_store_assignment_list_for_vehicle(s, "VIN-A", &list, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].ecu_serial, "VIN-A-P");
    assert_string_equal(list[1].ecu_serial, "VIN-A-S2");
    sdv_store_assignments_free(list, n);

    ASSERT_OK(s, sdv_store_assignment_clear(s, "VIN-A-P"));
    ASSERT_ERR(s, sdv_store_assignment_get(s, "VIN-A-P", &got), SDV_ENOENT);
    ASSERT_ERR(s, sdv_store_assignment_clear(s, "VIN-A-P"), SDV_ENOENT);
    ASSERT_OK(s, sdv_store_assignment_list_for_vehicle(s, "VIN-A", &list, &n));
    assert_int_equal(n, 1);
    sdv_store_assignments_free(list, n);
    ASSERT_OK(s, sdv_store_assignment_list_for_vehicle(s, "VIN-NONE", &list, &n));
    assert_int_equal(n, 0);
    assert_null(list);

    /* Unknown ECU, bad values. */
    a.ecu_serial = "NO-SUCH-ECU";
    ASSERT_ERR(s, sdv_store_assignment_set(s, &a), SDV_ENOENT);
    a.ecu_serial = "VIN-B-P";
    a.target_length = (uint64_t)INT64_MAX + 1;
    ASSERT_ERR(s, sdv_store_assignment_set(s, &a), SDV_EINVAL);
    a.target_length = 1;
    a.hashes = "not json";
    ASSERT_ERR(s, sdv_store_assignment_set(s, &a), SDV_EINVAL);
    sdv_store_close(s);
}

/* ---- Director state --------------------------------------------------------------------- */

static void director_state(struct sdv_store_director_state *st, int64_t targets_version,
                           const char *tag)
{
    static char docs[SDV_STORE_ROLE_COUNT][64];

    memset(st, 0, sizeof(*st));
    for (int i = 0; i < SDV_STORE_ROLE_COUNT; i++) {
        snprintf(docs[i], sizeof(docs[i]), "{\"signed\":{\"role\":%d,\"tag\":\"%s\"}}", i, tag);
        st->version[i] = i == SDV_STORE_ROLE_TARGETS ? targets_version : 1;
        st->metadata[i] = docs[i];
    }
    st->updated_at = T0 + targets_version;
}

static void test_director_state_cas(void **state)
{
    const char *url = fresh_url();
    struct sdv_store *a = open_url(url), *b = open_url(url);
    struct sdv_store_director_state st, got_a, got_b;

    (void)state;
    register_vehicle(a, "VIN-D", 1);
    ASSERT_ERR(a, sdv_store_director_state_get(a, "VIN-D", &got_a), SDV_ENOENT);
    director_state(&st, 1, "first");
    ASSERT_OK(a, sdv_store_director_state_put(a, "VIN-D", &st, 0));
    /* A second "create" loses. */
    ASSERT_ERR(b, sdv_store_director_state_put(b, "VIN-D", &st, 0), SDV_EVERSION);

    /* Two replicas read version 1 and both regenerate: only the first write lands. */
    ASSERT_OK(a, sdv_store_director_state_get(a, "VIN-D", &got_a));
    ASSERT_OK(b, sdv_store_director_state_get(b, "VIN-D", &got_b));
    assert_int_equal(got_a.version[SDV_STORE_ROLE_TARGETS], 1);
    director_state(&st, 2, "replica-a");
    ASSERT_OK(a,
              sdv_store_director_state_put(a, "VIN-D", &st, got_a.version[SDV_STORE_ROLE_TARGETS]));
    director_state(&st, 2, "replica-b");
    ASSERT_ERR(b,
               sdv_store_director_state_put(b, "VIN-D", &st, got_b.version[SDV_STORE_ROLE_TARGETS]),
               SDV_EVERSION);
    assert_non_null(strstr(sdv_store_errmsg(b), "found 2"));
    sdv_store_director_state_release(&got_a);
    sdv_store_director_state_release(&got_b);

    ASSERT_OK(b, sdv_store_director_state_get(b, "VIN-D", &got_b));
    assert_int_equal(got_b.version[SDV_STORE_ROLE_TARGETS], 2);
    assert_int_equal(got_b.version[SDV_STORE_ROLE_ROOT], 1);
    assert_int_equal(got_b.updated_at, T0 + 2);
    for (int i = 0; i < SDV_STORE_ROLE_COUNT; i++)
        assert_non_null(strstr(got_b.metadata[i], "replica-a"));
    assert_non_null(strstr(got_b.metadata[SDV_STORE_ROLE_SNAPSHOT], "\"role\":2"));
    sdv_store_director_state_release(&got_b);

    /* One role at a time (the check-in path) reads the same documents and versions; the same
     * statement runs again from the prepared-statement cache. */
    ASSERT_OK(b, sdv_store_director_state_get(b, "VIN-D", &got_b));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < SDV_STORE_ROLE_COUNT; i++) {
            struct sdv_store_director_doc doc;

            ASSERT_OK(a, sdv_store_director_doc_get(a, "VIN-D", (enum sdv_store_role)i, &doc));
            assert_int_equal(doc.version, got_b.version[i]);
            assert_string_equal(doc.metadata, got_b.metadata[i]);
            sdv_store_director_doc_release(&doc);
        }
    }
    sdv_store_director_state_release(&got_b);
    {
        struct sdv_store_director_doc doc;

        ASSERT_ERR(a, sdv_store_director_doc_get(a, "NO-SUCH-VIN", SDV_STORE_ROLE_TIMESTAMP, &doc),
                   SDV_ENOENT);
        ASSERT_ERR(a, sdv_store_director_doc_get(a, "VIN-D", (enum sdv_store_role)7, &doc),
                   SDV_EINVAL);
    }

    /* Root history: every root version ever stored stays readable. */
    ASSERT_OK(a, sdv_store_director_state_get(a, "VIN-D", &got_a));
    director_state(&st, 3, "rotated");
    st.version[SDV_STORE_ROLE_ROOT] = 2;
    ASSERT_OK(a,
              sdv_store_director_state_put(a, "VIN-D", &st, got_a.version[SDV_STORE_ROLE_TARGETS]));
    for (int v = 1; v <= 2; v++) {
        struct sdv_store_director_doc doc;

        ASSERT_OK(b, sdv_store_director_root_get(b, "VIN-D", v, &doc));
        assert_int_equal(doc.version, v);
        assert_non_null(strstr(doc.metadata, v == 1 ? "first" : "rotated"));
        sdv_store_director_doc_release(&doc);
    }
    {
        struct sdv_store_director_doc doc;

        ASSERT_ERR(b, sdv_store_director_root_get(b, "VIN-D", 3, &doc), SDV_ENOENT);
    }
    sdv_store_director_state_release(&got_a);

    /* Unknown vehicle, bad versions. */
    ASSERT_ERR(a, sdv_store_director_state_put(a, "NO-SUCH-VIN", &st, 0), SDV_ENOENT);
    st.version[SDV_STORE_ROLE_ROOT] = 0;
    ASSERT_ERR(a, sdv_store_director_state_put(a, "VIN-D", &st, 2), SDV_EINVAL);
    sdv_store_close(a);
    sdv_store_close(b);
}

/* ---- Manifests -------------------------------------------------------------------------- */

static void insert_manifest(struct sdv_store *s, const char *vin, int i, int64_t *id)
{
    char raw[128], nonce[32];
    struct sdv_store_ecu_report r[2] = {
            {"ECU-Z", "fw-z.bin", 10, "{\"sha256\":\"aa\"}", nonce, T0, NULL},
            {"ECU-A", "fw-a.bin", 20, "{\"sha256\":\"bb\"}", nonce, T0 + i, "freeze attack"},
    };
    struct sdv_store_manifest m = {0, vin, T0 + 10 * i, raw, i % 2 == 0, NULL, r, 2};

    snprintf(raw, sizeof(raw), "{\"signed\":{\"n\":%d}}", i);
    snprintf(nonce, sizeof(nonce), "nonce-%d", i);
    if (i % 2 != 0)
        m.attack = "bad signature on ECU-A report";
    ASSERT_OK(s, sdv_store_manifest_insert(s, &m, id));
}

static void test_manifests(void **state)
{
    struct sdv_store *s = open_fresh();
    struct sdv_store_manifest latest, *page = NULL;
    struct sdv_store_manifest empty = {0, "VIN-M", T0, "{}", true, NULL, NULL, 0};
    int64_t ids[5], before = 0, id = 0;
    size_t n = 0, seen = 0;

    (void)state;
    register_vehicle(s, "VIN-M", 1);
    register_vehicle(s, "VIN-OTHER", 1);
    ASSERT_ERR(s, sdv_store_manifest_latest(s, "VIN-M", false, &latest), SDV_ENOENT);
    for (int i = 0; i < 5; i++) {
        insert_manifest(s, "VIN-M", i, &ids[i]);
        if (i > 0)
            assert_true(ids[i] > ids[i - 1]);
    }
    insert_manifest(s, "VIN-OTHER", 9, &id);

    /* Newest first, two per page: 4 3 | 2 1 | 0. */
    do {
        ASSERT_OK(s, sdv_store_manifest_history(s, "VIN-M", before, 2, &page, &n));
        for (size_t k = 0; k < n; k++) {
            int i = 4 - (int)(seen + k);

            assert_int_equal(page[k].id, ids[i]);
            assert_string_equal(page[k].vin, "VIN-M");
            assert_int_equal(page[k].received_at, T0 + 10 * i);
            assert_int_equal(page[k].verified, i % 2 == 0);
            if (i % 2 == 0)
                assert_null(page[k].attack);
            else
                assert_string_equal(page[k].attack, "bad signature on ECU-A report");
            assert_int_equal(page[k].report_count, 2);
            assert_string_equal(page[k].reports[0].ecu_serial, "ECU-A"); /* by serial */
            assert_string_equal(page[k].reports[0].attack_detected, "freeze attack");
            assert_int_equal(page[k].reports[0].latest_verified_at, T0 + i);
            assert_int_equal(page[k].reports[0].target_length, 20);
            assert_string_equal(page[k].reports[1].ecu_serial, "ECU-Z");
            assert_string_equal(page[k].reports[1].attack_detected, "");
            assert_string_equal(page[k].reports[1].hashes, "{\"sha256\":\"aa\"}");
        }
        seen += n;
        if (n > 0)
            before = page[n - 1].id;
        sdv_store_manifests_free(page, n);
    } while (n == 2);
    assert_int_equal(seen, 5);

    ASSERT_OK(s, sdv_store_manifest_latest(s, "VIN-M", false, &latest));
    assert_int_equal(latest.id, ids[4]);
    assert_string_equal(latest.raw, "{\"signed\":{\"n\":4}}");
    assert_string_equal(latest.reports[1].nonce, "nonce-4");
    sdv_store_manifest_release(&latest);

    /* A manifest without reports; the latest verified one is then this one. */
    ASSERT_OK(s, sdv_store_manifest_insert(s, &empty, &id));
    insert_manifest(s, "VIN-M", 5, NULL); /* unverified */
    ASSERT_OK(s, sdv_store_manifest_latest(s, "VIN-M", true, &latest));
    assert_int_equal(latest.id, id);
    assert_int_equal(latest.report_count, 0);
    assert_null(latest.reports);
    sdv_store_manifest_release(&latest);

    /* Unknown vehicle; two reports for one ECU. */
    empty.vin = "NO-SUCH-VIN";
    ASSERT_ERR(s, sdv_store_manifest_insert(s, &empty, &id), SDV_ENOENT);
    assert_int_equal(id, 0);
    {
        struct sdv_store_ecu_report twice[2] = {{"E", "t", 1, "{}", "n", T0, NULL},
                                                {"E", "t", 1, "{}", "n", T0, NULL}};
        struct sdv_store_manifest m = {0, "VIN-M", T0, "{}", true, NULL, twice, 2};

        ASSERT_ERR(s, sdv_store_manifest_insert(s, &m, &id), SDV_EINVAL);
    }
    ASSERT_OK(s, sdv_store_manifest_history(s, "VIN-NONE", 0, 10, &page, &n));
    assert_int_equal(n, 0);
    assert_int_equal(count_rows(s, "SELECT id FROM manifests"), 8);
    sdv_store_close(s);
}

/* ---- Install records --------------------------------------------------------------------- */

static struct sdv_store_install_record install_record(const char *vin, const char *ecu,
                                                      uint64_t seq, const char *line)
{
    struct sdv_store_install_record r;

    memset(&r, 0, sizeof(r));
    r.vin = vin;
    r.ecu_serial = ecu;
    r.seq = seq;
    r.recorded_at = "2026-01-01T00:00:00Z";
    r.result = seq % 2 == 0 ? "rolled-back" : "committed";
    r.version_before = "fw-1.0";
    r.version_after = seq % 2 == 0 ? "fw-1.0" : "fw-1.1";
    r.reason = seq % 2 == 0 ? "health check failed: exit status 1: \"no\u00e9\"" : "";
    r.record = line;
    r.chain_verified = seq != 3;
    r.received_at = T0 + (int64_t)seq;
    return r;
}

static void test_install_records(void **state)
{
    struct sdv_store *s = open_fresh();
    struct sdv_store_install_record r, got, *page = NULL;
    char lines[5][64];
    int64_t before = 0;
    size_t n = 0, seen = 0;
    bool stored = true;

    (void)state;
    register_vehicle(s, "VIN-I", 2);
    register_vehicle(s, "VIN-J", 1);
    for (uint64_t seq = 1; seq <= 5; seq++) {
        snprintf(lines[seq - 1], sizeof(lines[0]), "{\"seq\":%llu}", (unsigned long long)seq);
        r = install_record("VIN-I", "VIN-I-P", seq, lines[seq - 1]);
        ASSERT_OK(s, sdv_store_install_record_put(s, &r, &stored));
        assert_true(stored);
    }
    r = install_record("VIN-J", "VIN-J-P", 1, "{\"seq\":1,\"j\":1}");
    ASSERT_OK(s, sdv_store_install_record_put(s, &r, NULL));

    /* Sent again (no acknowledgement reached the vehicle): stored once. A different record
     * under the same number is a rewritten log. */
    r = install_record("VIN-I", "VIN-I-P", 2, lines[1]);
    ASSERT_OK(s, sdv_store_install_record_put(s, &r, &stored));
    assert_false(stored);
    r.record = "{\"seq\":2,\"rewritten\":true}";
    ASSERT_ERR(s, sdv_store_install_record_put(s, &r, &stored), SDV_EEXIST);
    assert_false(stored);
    assert_int_equal(count_rows(s, "SELECT id FROM install_records"), 6);

    ASSERT_OK(s, sdv_store_install_record_get(s, "VIN-I-P", 2, &got));
    assert_string_equal(got.vin, "VIN-I");
    assert_string_equal(got.result, "rolled-back");
    assert_string_equal(got.reason, "health check failed: exit status 1: \"no\u00e9\"");
    assert_string_equal(got.record, lines[1]);
    assert_string_equal(got.version_after, "fw-1.0");
    assert_true(got.chain_verified);
    assert_int_equal(got.received_at, T0 + 2);
    sdv_store_install_record_release(&got);
    sdv_store_install_record_release(&got);
    ASSERT_ERR(s, sdv_store_install_record_get(s, "VIN-I-P", 9, &got), SDV_ENOENT);

    /* Newest first, two per page: 5 4 | 3 2 | 1; VIN-J's record is not VIN-I's. */
    do {
        ASSERT_OK(s, sdv_store_install_record_list(s, "VIN-I", before, 2, &page, &n));
        for (size_t k = 0; k < n; k++) {
            uint64_t seq = 5 - (seen + k);

            assert_int_equal(page[k].seq, seq);
            assert_string_equal(page[k].ecu_serial, "VIN-I-P");
            assert_string_equal(page[k].record, lines[seq - 1]);
            assert_int_equal(page[k].chain_verified, seq != 3);
            assert_string_equal(page[k].recorded_at, "2026-01-01T00:00:00Z");
        }
        seen += n;
        if (n > 0)
            before = page[n - 1].id;
        sdv_store_install_records_free(page, n);
    } while (n == 2);
    assert_int_equal(seen, 5);

    /* Bad input: unknown vehicle, number 0, text that is not UTF-8, bad page. */
    r = install_record("NO-SUCH-VIN", "X", 1, "{}");
    ASSERT_ERR(s, sdv_store_install_record_put(s, &r, NULL), SDV_ENOENT);
    r = install_record("VIN-I", "VIN-I-P", 0, "{}");
    ASSERT_ERR(s, sdv_store_install_record_put(s, &r, NULL), SDV_EINVAL);
    r = install_record("VIN-I", "VIN-I-P", 7, "{\"x\":\"\xff\"}");
    ASSERT_ERR(s, sdv_store_install_record_put(s, &r, NULL), SDV_EINVAL);
    ASSERT_ERR(s, sdv_store_install_record_list(s, "VIN-I", 0, 0, &page, &n), SDV_EINVAL);
    assert_int_equal(count_rows(s, "SELECT id FROM install_records"), 6);
    sdv_store_close(s);
}

/* ---- Artifacts -------------------------------------------------------------------------- */

static void test_artifacts(void **state)
{
    struct sdv_store *s = open_fresh();
    char hex[6][65];
    struct sdv_store_artifact a, got, *page = NULL;
    size_t n = 0;

    (void)state;
    for (int i = 0; i < 6; i++) {
        memset(hex[i], "0123456789abcdef"[(5 - i) * 2], 64);
        hex[i][64] = '\0';
        a.sha256 = hex[i];
        a.length = 1000u * (unsigned)i;
        a.created_at = T0 + i;
        a.name = i % 2 == 0 ? "image.bin" : NULL;
        ASSERT_OK(s, sdv_store_artifact_put(s, &a));
    }
    ASSERT_OK(s, sdv_store_artifact_get(s, hex[2], &got));
    assert_string_equal(got.sha256, hex[2]);
    assert_int_equal(got.length, 2000);
    assert_int_equal(got.created_at, T0 + 2);
    assert_string_equal(got.name, "image.bin");
    sdv_store_artifact_release(&got);
    ASSERT_OK(s, sdv_store_artifact_get(s, hex[3], &got));
    assert_null(got.name);
    sdv_store_artifact_release(&got);

    a.sha256 = hex[0];
    ASSERT_ERR(s, sdv_store_artifact_put(s, &a), SDV_EEXIST);
    a.sha256 = "ABCDEF";
    ASSERT_ERR(s, sdv_store_artifact_put(s, &a), SDV_EINVAL);
    ASSERT_ERR(s,
               sdv_store_artifact_get(
                       s, "0000000000000000000000000000000000000000000000000000000000000001", &got),
               SDV_ENOENT);

    /* Sorted by hash: hex[5] ("000...") first. */
    ASSERT_OK(s, sdv_store_artifact_list(s, NULL, 4, &page, &n));
    assert_int_equal(n, 4);
    assert_string_equal(page[0].sha256, hex[5]);
    assert_string_equal(page[3].sha256, hex[2]);
    sdv_store_artifacts_free(page, n);
    ASSERT_OK(s, sdv_store_artifact_list(s, hex[2], 4, &page, &n));
    assert_int_equal(n, 2);
    assert_string_equal(page[0].sha256, hex[1]);
    assert_string_equal(page[1].sha256, hex[0]);
    sdv_store_artifacts_free(page, n);
    sdv_store_close(s);
}

/* ---- Text survives verbatim --------------------------------------------------------------- */

static void test_strings_survive(void **state)
{
    struct sdv_store *s = open_fresh();
    static const char injection[] = "'); DROP TABLE vehicles;--";
    static const char unicode[] = "ECU-\xc3\xbc-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x9a\x97";
    static const char quotes[] = "O'Brien \"quoted\" \\back\\slash $1 ? :name %s";
    struct sdv_store_ecu ecus[3] = {
            {unicode, NULL, injection, quotes, true},
            {injection, NULL, quotes, "{}", false},
            {quotes, NULL, unicode, "{}", false},
    };
    struct sdv_store_vehicle v = {injection, unicode, T0, ecus, 3};
    struct sdv_store_assignment a = {injection, injection, 1,     "{\"sha256\":\"'\\\"\"}",
                                     1,         T0,        quotes};
    struct sdv_store_vehicle got;
    struct sdv_store_assignment ga;
    struct sdv_store_ecu ge;

    (void)state;
    ASSERT_OK(s, sdv_store_vehicle_register(s, &v));
    ASSERT_OK(s, sdv_store_vehicle_get(s, injection, &got));
    assert_string_equal(got.vin, injection);
    assert_string_equal(got.primary_ecu_serial, unicode);
    assert_int_equal(got.ecu_count, 3);
    assert_string_equal(got.ecus[0].serial, unicode);
    assert_string_equal(got.ecus[0].hardware_id, injection);
    assert_string_equal(got.ecus[0].public_key, quotes);
    sdv_store_vehicle_release(&got);
    ASSERT_OK(s, sdv_store_ecu_get(s, quotes, &ge));
    assert_string_equal(ge.hardware_id, unicode);
    assert_string_equal(ge.vin, injection);
    sdv_store_ecu_release(&ge);

    ASSERT_OK(s, sdv_store_assignment_set(s, &a));
    ASSERT_OK(s, sdv_store_assignment_get(s, injection, &ga));
    assert_string_equal(ga.target_name, injection);
    assert_string_equal(ga.hashes, "{\"sha256\":\"'\\\"\"}");
    assert_string_equal(ga.correlation_id, quotes);
    sdv_store_assignment_release(&ga);

    /* The table the injection names is still there, with its one row. */
    assert_int_equal(count_rows(s, "SELECT vin FROM vehicles"), 1);
    sdv_store_close(s);
}

/* ---- Transactions and concurrency ------------------------------------------------------- */

static void test_transactions(void **state)
{
    struct sdv_store *s = open_fresh();
    struct sdv_store_vehicle v;

    (void)state;
    ASSERT_OK(s, sdv_store_begin(s));
    ASSERT_ERR(s, sdv_store_begin(s), SDV_EINVAL);
    register_vehicle(s, "VIN-ROLLED-BACK", 1);
    ASSERT_OK(s, sdv_store_rollback(s));
    ASSERT_ERR(s, sdv_store_vehicle_get(s, "VIN-ROLLED-BACK", &v), SDV_ENOENT);

    ASSERT_OK(s, sdv_store_begin(s));
    register_vehicle(s, "VIN-T1", 1);
    register_vehicle(s, "VIN-T2", 2);
    ASSERT_OK(s, sdv_store_commit(s));
    ASSERT_OK(s, sdv_store_vehicle_get(s, "VIN-T2", &v));
    sdv_store_vehicle_release(&v);

    ASSERT_ERR(s, sdv_store_commit(s), SDV_EINVAL);
    ASSERT_ERR(s, sdv_store_rollback(s), SDV_EINVAL);

    /* Closing with a transaction open rolls it back. */
    ASSERT_OK(s, sdv_store_begin(s));
    register_vehicle(s, "VIN-UNCOMMITTED", 1);
    sdv_store_close(s);
    s = open_url(g.url);
    ASSERT_ERR(s, sdv_store_vehicle_get(s, "VIN-UNCOMMITTED", &v), SDV_ENOENT);
    sdv_store_close(s);
}

#define WRITES_PER_THREAD 40

struct writer {
    const char *url;
    char prefix;
    enum sdv_err err;
    char errmsg[256];
};

/* Registers vehicles and stores a manifest for each, from its own handle. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct sdv_store *s = NULL;
    struct test_vehicle tv;

    w->err = sdv_store_open(w->url, NULL, &s);
    for (int i = 0; i < WRITES_PER_THREAD && w->err == SDV_OK; i++) {
        char vin[32];
        struct sdv_store_manifest m = {0, vin, T0 + i, "{}", true, NULL, NULL, 0};

        snprintf(vin, sizeof(vin), "VIN-%c-%03d", w->prefix, i);
        make_vehicle(&tv, vin, 2);
        w->err = sdv_store_vehicle_register(s, &tv.v);
        if (w->err == SDV_OK)
            w->err = sdv_store_manifest_insert(s, &m, NULL);
    }
    snprintf(w->errmsg, sizeof(w->errmsg), "%s", sdv_store_errmsg(s));
    sdv_store_close(s);
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    const char *url = fresh_url();
    struct sdv_store *s = open_url(url);
    struct writer w[2] = {{url, 'a', SDV_OK, ""}, {url, 'b', SDV_OK, ""}};
    pthread_t t[2];

    (void)state;
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (w[i].err != SDV_OK)
            fail_msg("writer %c: %s: %s", w[i].prefix, sdv_errname(w[i].err), w[i].errmsg);
    }
    assert_int_equal(count_rows(s, "SELECT vin FROM vehicles"), 2 * WRITES_PER_THREAD);
    assert_int_equal(count_rows(s, "SELECT serial FROM ecus"), 4 * WRITES_PER_THREAD);
    assert_int_equal(count_rows(s, "SELECT id FROM manifests"), 2 * WRITES_PER_THREAD);
    sdv_store_close(s);
}

struct opener {
    const char *url;
    enum sdv_err err;
    int version;
    char errmsg[256];
};

static void *opener_main(void *arg)
{
    struct opener *o = arg;
    struct sdv_store *s = NULL;

    o->err = sdv_store_open(o->url, NULL, &s);
    o->version = s != NULL ? sdv_store_schema_version(s) : 0;
    snprintf(o->errmsg, sizeof(o->errmsg), "%s", sdv_store_errmsg(s));
    sdv_store_close(s);
    return NULL;
}

/* Server replicas starting at once on an empty database: one migrates, the others wait and
 * find the schema current; every step is recorded once. */
static void test_concurrent_first_open(void **state)
{
    const char *url = fresh_url();
    struct opener o[4];
    pthread_t t[4];
    struct sdv_store *s;

    (void)state;
    for (int i = 0; i < 4; i++) {
        o[i] = (struct opener){url, SDV_EIO, 0, ""};
        assert_int_equal(pthread_create(&t[i], NULL, opener_main, &o[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (o[i].err != SDV_OK)
            fail_msg("opener %d: %s: %s", i, sdv_errname(o[i].err), o[i].errmsg);
        assert_int_equal(o[i].version, store_schema_latest());
    }
    s = open_url(url);
    assert_int_equal(count_rows(s, "SELECT version FROM schema_version"), store_schema_latest());
    sdv_store_close(s);
}

struct waiter {
    const char *url;
    int busy_timeout_ms;
    enum sdv_err err;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    struct sdv_store_config cfg = {w->busy_timeout_ms, {NULL, NULL, SDV_LOG_ERROR}};
    struct sdv_store *s = NULL;

    w->err = sdv_store_open(w->url, &cfg, &s);
    if (w->err == SDV_OK)
        w->err = sdv_store_artifact_put(
                s, &(struct sdv_store_artifact){
                           "1111111111111111111111111111111111111111111111111111111111111111", 1,
                           T0, NULL});
    sdv_store_close(s);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* SQLite has one writer at a time: a second writer waits up to busy_timeout_ms, then fails. */
static void test_sqlite_busy_timeout(void **state)
{
    const char *url = fresh_url();
    struct sdv_store *holder;
    struct waiter patient = {url, 10000, SDV_EIO}, hasty = {url, 50, SDV_OK};
    struct sdv_store_artifact got;
    pthread_t t;

    (void)state;
    if (g.pg) {
        /* PostgreSQL locks rows, not the database: there is no whole-database writer lock. */
        skip();
    }
    holder = open_url(url);
    ASSERT_OK(holder, sdv_store_begin(holder)); /* BEGIN IMMEDIATE: holds the write lock */

    assert_int_equal(pthread_create(&t, NULL, waiter_main, &hasty), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(hasty.err, SDV_EIO); /* gave up after 50 ms */

    assert_int_equal(pthread_create(&t, NULL, waiter_main, &patient), 0);
    sleep_ms(300);
    ASSERT_OK(holder, sdv_store_commit(holder));
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(patient.err, SDV_OK); /* waited, then wrote */
    ASSERT_OK(holder,
              sdv_store_artifact_get(
                      holder, "1111111111111111111111111111111111111111111111111111111111111111",
                      &got));
    sdv_store_artifact_release(&got);
    sdv_store_close(holder);
}

/* ---- Driver ----------------------------------------------------------------------------- */

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_migrations_fresh_then_noop),
            cmocka_unit_test(test_migrations_pending_applied),
            cmocka_unit_test(test_migrations_newer_schema_refused),
            cmocka_unit_test(test_open_bad_urls),
            cmocka_unit_test(test_register_get_roundtrip),
            cmocka_unit_test(test_register_duplicates_write_nothing),
            cmocka_unit_test(test_register_invalid),
            cmocka_unit_test(test_vehicle_list_paging),
            cmocka_unit_test(test_assignments),
            cmocka_unit_test(test_director_state_cas),
            cmocka_unit_test(test_manifests),
            cmocka_unit_test(test_install_records),
            cmocka_unit_test(test_artifacts),
            cmocka_unit_test(test_strings_survive),
            cmocka_unit_test(test_transactions),
            cmocka_unit_test(test_concurrent_writers),
            cmocka_unit_test(test_concurrent_first_open),
            cmocka_unit_test(test_sqlite_busy_timeout),
    };
    const char *url = argc > 1 ? argv[1] : getenv("SDV_TEST_PG_URL");
    int rc;

    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "usage: test_store sqlite: | POSTGRESQL-URL (or SDV_TEST_PG_URL)\n");
        return 2;
    }
    snprintf(g.base_url, sizeof(g.base_url), "%s", url);
    g.pg = strncmp(url, "postgres", 8) == 0;
    if (!g.pg) {
        if (strcmp(url, "sqlite:") != 0) {
            fprintf(stderr, "test_store: give \"sqlite:\" (a temporary directory is made)\n");
            return 2;
        }
        snprintf(g.dir, sizeof(g.dir), "%s/sdv-test-store-XXXXXX",
                 getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
        if (mkdtemp(g.dir) == NULL) {
            perror("mkdtemp");
            return 1;
        }
    }
    rc = cmocka_run_group_tests_name(g.pg ? "store_postgresql" : "store_sqlite", tests, NULL, NULL);
    if (!g.pg)
        remove_dir(g.dir);
    return rc;
}
