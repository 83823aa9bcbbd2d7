/*
 * test_broker_core.c - the broker on the VSS 6.0 catalog with an injected clock: provider
 * ownership and its conflicts, publish checks, actuation routed to the owning provider
 * (accepted, rejected, unavailable, timed out, provider gone), subscriptions with each VISS
 * filter, bounded queues that drop their oldest events and say how many, per-event access
 * re-checks, and persistence of the last values across a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/broker.h>

#ifndef SDV_VSS_JSON
#error "SDV_VSS_JSON must name data/vss/vss_release_6.0.json"
#endif

#define SPEED   "Vehicle.Speed"
#define SOC     "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
#define TEMP    "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
#define FAN     "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed"
#define LVSTATE "Vehicle.LowVoltageSystemState"
#define VIN     "Vehicle.VehicleIdentification.VIN"

/* Sessions are just distinct addresses. */
static int provider_a, provider_b, app_1, app_2;

struct fixture {
    struct sdv_broker_catalog *cat;
    struct sdv_broker *b;
    int64_t now_us;
    /* actuation requests seen by the "daemon" */
    int requests;
    struct sdv_broker_actuation last_req;
    float last_req_value;
    enum sdv_err actuate_rc;
    /* results */
    int results;
    const void *result_to;
    uint64_t result_id;
    enum sdv_err result;
    char result_msg[128];
    /* notifications */
    int notifies;
    uint32_t notify_sub;
    /* access re-check: this session may not see this signal */
    const void *deny_who;
    uint32_t deny_id;
    char dir[64];
};

static int64_t test_clock(void *ud)
{
    return ((struct fixture *)ud)->now_us;
}

static enum sdv_err on_actuate(void *ud, const struct sdv_broker_actuation *req)
{
    struct fixture *f = ud;

    f->requests++;
    f->last_req = *req;
    f->last_req.value.v.p = NULL; /* borrowed: only valid during the call */
    f->last_req_value = req->value.v.f;
    return f->actuate_rc;
}

static void on_result(void *ud, const void *requester, uint64_t id, enum sdv_err result,
                      const char *message)
{
    struct fixture *f = ud;

    f->results++;
    f->result_to = requester;
    f->result_id = id;
    f->result = result;
    snprintf(f->result_msg, sizeof(f->result_msg), "%s", message);
}

static void on_notify(void *ud, const void *who, uint32_t sub_id)
{
    struct fixture *f = ud;

    (void)who;
    f->notifies++;
    f->notify_sub = sub_id;
}

static bool on_event_check(void *ud, const void *who, const struct sdv_broker_signal *sig)
{
    struct fixture *f = ud;

    return !(who == f->deny_who && sig->id == f->deny_id);
}

static void make_broker(struct fixture *f, const char *persist_path)
{
    struct sdv_broker_config cfg;
    char err[256];

    memset(&cfg, 0, sizeof(cfg));
    cfg.catalog = f->cat;
    cfg.clock = test_clock;
    cfg.clock_ud = f;
    cfg.actuate = on_actuate;
    cfg.actuate_result = on_result;
    cfg.actuate_ud = f;
    cfg.notify = on_notify;
    cfg.notify_ud = f;
    cfg.event_check = on_event_check;
    cfg.event_check_ud = f;
    cfg.actuation_timeout_ms = 1000;
    cfg.persist_path = persist_path;
    cfg.persist_interval_ms = 2000;
    if (sdv_broker_create(&cfg, &f->b, err, sizeof(err)) != SDV_OK)
        fail_msg("create: %s", err);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->now_us = 1700000000000000;
    assert_int_equal(sdv_broker_catalog_create(NULL, &f->cat), SDV_OK);
    assert_int_equal(sdv_broker_catalog_load_file(f->cat, SDV_VSS_JSON), SDV_OK);
    make_broker(f, NULL);
    f->deny_id = UINT32_MAX;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    sdv_broker_destroy(f->b);
    sdv_broker_catalog_destroy(f->cat);
    free(f);
    return 0;
}

static uint32_t id_of(struct fixture *f, const char *path)
{
    const struct sdv_broker_signal *s = sdv_broker_catalog_find(f->cat, path, strlen(path));

    assert_non_null(s);
    return s->id;
}

static struct sdv_broker_value fval(float x)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT, .count = 1, .v.f = x};

    return v;
}

static struct sdv_broker_value u8val(unsigned x)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_UINT8, .count = 1, .v.u = x};

    return v;
}

static struct sdv_broker_value sval(const char *s)
{
    struct sdv_broker_value v = {
            .type = SDV_BROKER_DT_STRING, .count = 1, .len = (uint32_t)strlen(s), .v.p = s};

    return v;
}

static enum sdv_err publish_f(struct fixture *f, const void *who, const char *path, float x)
{
    struct sdv_broker_value v = fval(x);

    return sdv_broker_publish(f->b, who, id_of(f, path), &v, 0);
}

/* Pops one event and returns its float value; fails when the queue is empty. */
static float pop_f(struct fixture *f, const void *who, uint32_t sub, struct sdv_broker_event *ev)
{
    bool got = false;

    assert_int_equal(sdv_broker_sub_pop(f->b, who, sub, ev, &got), SDV_OK);
    if (!got)
        fail_msg("queue of %u is empty", sub);
    assert_int_equal(ev->value.type, SDV_BROKER_DT_FLOAT);
    return ev->value.v.f;
}

static void assert_empty(struct fixture *f, const void *who, uint32_t sub)
{
    struct sdv_broker_event ev;
    bool got = true;

    assert_int_equal(sdv_broker_sub_pop(f->b, who, sub, &ev, &got), SDV_OK);
    assert_false(got);
}

/* ---- Ownership ---- */

static void test_claims(void **state)
{
    struct fixture *f = *state;
    uint32_t speed = id_of(f, SPEED), soc = id_of(f, SOC), both[2] = {soc, speed};

    assert_int_equal(sdv_broker_claim(f->b, &provider_a, &speed, 1), SDV_OK);
    assert_int_equal(sdv_broker_claim(f->b, &provider_a, &speed, 1), SDV_OK); /* again: fine */
    assert_ptr_equal(sdv_broker_owner(f->b, speed), &provider_a);
    /* One owner per signal, and a claim is all or nothing. */
    assert_int_equal(sdv_broker_claim(f->b, &provider_b, both, 2), SDV_EEXIST);
    assert_non_null(strstr(sdv_broker_errmsg(f->b), SPEED));
    assert_null(sdv_broker_owner(f->b, soc));
    /* Only the owner publishes an owned signal; unowned ones are open. */
    assert_int_equal(publish_f(f, &provider_b, SPEED, 50), SDV_EDENIED);
    assert_non_null(strstr(sdv_broker_errmsg(f->b), "another provider"));
    assert_int_equal(publish_f(f, &provider_a, SPEED, 50), SDV_OK);
    assert_int_equal(publish_f(f, &provider_b, SOC, 80), SDV_OK);
    /* Disconnecting releases everything the provider held. */
    sdv_broker_session_close(f->b, &provider_a);
    assert_null(sdv_broker_owner(f->b, speed));
    assert_int_equal(sdv_broker_claim(f->b, &provider_b, both, 2), SDV_OK);
    sdv_broker_release(f->b, &provider_b, &speed, 1);
    assert_null(sdv_broker_owner(f->b, speed));
    assert_ptr_equal(sdv_broker_owner(f->b, soc), &provider_b);
    /* Unknown ids. */
    {
        uint32_t bad = 999999;

        assert_int_equal(sdv_broker_claim(f->b, &provider_a, &bad, 1), SDV_ENOENT);
        assert_int_equal(publish_f(f, &provider_a, SPEED, 1) == SDV_OK, 1);
    }
}

static void test_publish_get(void **state)
{
    struct fixture *f = *state;
    struct sdv_broker_value v;
    int64_t ts = 0;
    uint32_t speed = id_of(f, SPEED), soc = id_of(f, SOC), lv = id_of(f, LVSTATE);

    /* Nothing published yet: no value, no time; attributes start at their default. */
    assert_int_equal(sdv_broker_get(f->b, speed, &v, &ts), SDV_OK);
    assert_int_equal(v.type, SDV_BROKER_DT_NONE);
    assert_true(ts == 0);
    assert_int_equal(sdv_broker_get(f->b, id_of(f, "Vehicle.VersionVSS.Major"), &v, NULL), SDV_OK);
    assert_int_equal(v.type, SDV_BROKER_DT_UINT32);
    assert_true(v.v.u == 6);

    f->now_us += 5;
    assert_int_equal(publish_f(f, &provider_a, SPEED, 88.5f), SDV_OK);
    assert_int_equal(sdv_broker_get(f->b, speed, &v, &ts), SDV_OK);
    assert_true(v.v.f == 88.5f);
    assert_true(ts == f->now_us);
    /* The publisher's own timestamp wins. */
    v = fval(90);
    assert_int_equal(sdv_broker_publish(f->b, &provider_a, speed, &v, 1234), SDV_OK);
    assert_int_equal(sdv_broker_get(f->b, speed, &v, &ts), SDV_OK);
    assert_true(ts == 1234);

    /* Refused writes leave the current value alone and say why. */
    assert_int_equal(publish_f(f, &provider_a, SOC, 101), SDV_ERANGE);
    assert_string_equal(sdv_broker_errmsg(f->b), SOC ": 101 is above max 100");
    v = u8val(3);
    assert_int_equal(sdv_broker_publish(f->b, &provider_a, soc, &v, 0), SDV_EINVAL);
    assert_non_null(strstr(sdv_broker_errmsg(f->b), "expected float, got uint8"));
    v = sval("HALF_ON");
    assert_int_equal(sdv_broker_publish(f->b, &provider_a, lv, &v, 0), SDV_ERANGE);
    v = sval("ON");
    assert_int_equal(sdv_broker_publish(f->b, &provider_a, lv, &v, 0), SDV_OK);
    assert_int_equal(sdv_broker_get(f->b, soc, &v, NULL), SDV_OK);
    assert_int_equal(v.type, SDV_BROKER_DT_NONE);
    assert_int_equal(sdv_broker_get(f->b, lv, &v, NULL), SDV_OK);
    assert_int_equal(v.len, 2);
    assert_memory_equal(v.v.p, "ON", 2);
    assert_int_equal(sdv_broker_get(f->b, 99999, &v, NULL), SDV_ENOENT);
}

/* ---- Actuation ---- */

static void test_actuation_routing(void **state)
{
    struct fixture *f = *state;
    uint32_t temp = id_of(f, TEMP), speed = id_of(f, SPEED);
    struct sdv_broker_value v = fval(22.5f), cur;
    uint64_t req = 0, req2 = 0;

    /* No provider attached: unavailable, and nothing is routed. */
    assert_int_equal(sdv_broker_actuate(f->b, &app_1, temp, &v, &req), SDV_EUNAVAILABLE);
    assert_non_null(strstr(sdv_broker_errmsg(f->b), "no provider for " TEMP));
    assert_int_equal(f->requests, 0);
    /* Sensors are not actuated. */
    assert_int_equal(sdv_broker_actuate(f->b, &app_1, speed, &v, &req), SDV_EINVAL);
    assert_non_null(strstr(sdv_broker_errmsg(f->b), "not an actuator"));

    assert_int_equal(sdv_broker_claim(f->b, &provider_a, &temp, 1), SDV_OK);
    assert_int_equal(sdv_broker_actuate(f->b, &app_1, temp, &v, &req), SDV_OK);
    assert_int_equal(f->requests, 1);
    assert_ptr_equal(f->last_req.provider, &provider_a);
    assert_ptr_equal(f->last_req.requester, &app_1);
    assert_true(f->last_req.id == req);
    assert_int_equal(f->last_req.signal->id, temp);
    assert_true(f->last_req_value == 22.5f);
    /* Never stored as the current value. */
    assert_int_equal(sdv_broker_get(f->b, temp, &cur, NULL), SDV_OK);
    assert_int_equal(cur.type, SDV_BROKER_DT_NONE);
    /* Only the provider it was routed to may answer it. */
    assert_int_equal(sdv_broker_actuation_done(f->b, &provider_b, req, SDV_OK, NULL), SDV_ENOENT);
    assert_int_equal(f->results, 0);
    assert_int_equal(sdv_broker_actuation_done(f->b, &provider_a, req, SDV_OK, NULL), SDV_OK);
    assert_int_equal(f->results, 1);
    assert_ptr_equal(f->result_to, &app_1);
    assert_true(f->result_id == req);
    assert_int_equal(f->result, SDV_OK);
    /* Answered once only. */
    assert_int_equal(sdv_broker_actuation_done(f->b, &provider_a, req, SDV_OK, NULL), SDV_ENOENT);

    /* Rejection carries the provider's reason. */
    assert_int_equal(sdv_broker_actuate(f->b, &app_2, temp, &v, &req2), SDV_OK);
    assert_true(req2 != req);
    assert_int_equal(sdv_broker_actuation_done(f->b, &provider_a, req2, SDV_EINVAL, "door is open"),
                     SDV_OK);
    assert_int_equal(f->results, 2);
    assert_ptr_equal(f->result_to, &app_2);
    assert_int_equal(f->result, SDV_EREJECTED);
    assert_string_equal(f->result_msg, "door is open");

    /* A value out of bounds never reaches the provider. */
    v = u8val(101);
    assert_int_equal(sdv_broker_claim(f->b, &provider_a, (uint32_t[]){id_of(f, FAN)}, 1), SDV_OK);
    assert_int_equal(sdv_broker_actuate(f->b, &app_1, id_of(f, FAN), &v, &req), SDV_ERANGE);
    assert_int_equal(f->requests, 2);
    /* The daemon cannot hand it over (provider's queue full): the error comes back. */
    f->actuate_rc = SDV_EUNAVAILABLE;
    v = u8val(50);
    assert_int_equal(sdv_broker_actuate(f->b, &app_1, id_of(f, FAN), &v, &req), SDV_EUNAVAILABLE);
    f->actuate_rc = SDV_OK;
}

static void test_actuation_timeout_and_disconnect(void **state)
{
    struct fixture *f = *state;
    uint32_t temp = id_of(f, TEMP);
    struct sdv_broker_value v = fval(19);
    uint64_t req = 0;
    int64_t next;

    assert_int_equal(sdv_broker_claim(f->b, &provider_a, &temp, 1), SDV_OK);
    assert_int_equal(sdv_broker_actuate(f->b, &app_1, temp, &v, &req), SDV_OK);
    next = sdv_broker_tick(f->b);
    assert_true(next == f->now_us + 1000 * 1000);
    f->now_us += 999 * 1000;
    sdv_broker_tick(f->b);
    assert_int_equal(f->results, 0);
    f->now_us += 1000;
    sdv_broker_tick(f->b);
    assert_int_equal(f->results, 1);
    assert_int_equal(f->result, SDV_EUNAVAILABLE);
    assert_non_null(strstr(f->result_msg, "did not answer within 1000 ms"));
    assert_int_equal(sdv_broker_actuation_done(f->b, &provider_a, req, SDV_OK, NULL), SDV_ENOENT);

    /* The provider disconnects with a request in flight: the requester hears at once. */
    assert_int_equal(sdv_broker_actuate(f->b, &app_1, temp, &v, &req), SDV_OK);
    sdv_broker_session_close(f->b, &provider_a);
    assert_int_equal(f->results, 2);
    assert_int_equal(f->result, SDV_EUNAVAILABLE);
    assert_true(f->result_id == req);
    assert_int_equal(sdv_broker_actuate(f->b, &app_1, temp, &v, &req), SDV_EUNAVAILABLE);

    /* The requester disconnects: the provider's late answer is accepted and goes nowhere. */
    assert_int_equal(sdv_broker_claim(f->b, &provider_b, &temp, 1), SDV_OK);
    assert_int_equal(sdv_broker_actuate(f->b, &app_2, temp, &v, &req), SDV_OK);
    sdv_broker_session_close(f->b, &app_2);
    assert_int_equal(sdv_broker_actuation_done(f->b, &provider_b, req, SDV_OK, NULL), SDV_OK);
    assert_int_equal(f->results, 2);
}

/* ---- Subscriptions ---- */

static void test_subscribe_all_updates(void **state)
{
    struct fixture *f = *state;
    uint32_t ids[2] = {id_of(f, SPEED), id_of(f, SOC)}, sub = 0;
    struct sdv_broker_event ev;

    assert_int_equal(publish_f(f, &provider_a, SPEED, 10), SDV_OK);
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, ids, 2, NULL, 0, 0, &sub), SDV_OK);
    assert_true(sub != 0);
    /* The current value comes first (SOC has none yet). */
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 1);
    assert_true(pop_f(f, &app_1, sub, &ev) == 10.0f);
    assert_int_equal(ev.signal->id, ids[0]);
    assert_empty(f, &app_1, sub);

    f->notifies = 0;
    f->now_us += 7;
    assert_int_equal(publish_f(f, &provider_a, SPEED, 11), SDV_OK);
    assert_int_equal(publish_f(f, &provider_a, SOC, 55), SDV_OK);
    assert_int_equal(publish_f(f, &provider_a, SPEED, 12), SDV_OK);
    /* One notification for the empty -> non-empty edge. */
    assert_int_equal(f->notifies, 1);
    assert_true(f->notify_sub == sub);
    assert_true(pop_f(f, &app_1, sub, &ev) == 11.0f);
    assert_true(ev.ts_us == f->now_us);
    assert_int_equal(ev.lost, 0);
    assert_true(pop_f(f, &app_1, sub, &ev) == 55.0f);
    assert_int_equal(ev.signal->id, ids[1]);
    assert_true(pop_f(f, &app_1, sub, &ev) == 12.0f);
    assert_empty(f, &app_1, sub);
    assert_int_equal(publish_f(f, &provider_a, SPEED, 13), SDV_OK);
    assert_int_equal(f->notifies, 2);

    /* Only the owner pops and unsubscribes. */
    assert_int_equal(sdv_broker_sub_pop(f->b, &app_2, sub, &ev, &(bool){false}), SDV_ENOENT);
    assert_int_equal(sdv_broker_unsubscribe(f->b, &app_2, sub), SDV_ENOENT);
    assert_int_equal(sdv_broker_unsubscribe(f->b, &app_1, sub), SDV_OK);
    assert_int_equal(sdv_broker_unsubscribe(f->b, &app_1, sub), SDV_ENOENT);
    assert_int_equal(publish_f(f, &provider_a, SPEED, 14), SDV_OK);
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 0);
}

static void test_filter_change(void **state)
{
    struct fixture *f = *state;
    uint32_t speed = id_of(f, SPEED), lv = id_of(f, LVSTATE), any = 0, rise = 0, str = 0;
    struct sdv_broker_filter flt;
    struct sdv_broker_event ev;
    struct sdv_broker_value v;
    bool got;

    memset(&flt, 0, sizeof(flt));
    flt.change = true; /* OP_ANY: any change */
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &speed, 1, &flt, 0, 0, &any), SDV_OK);
    flt.change_op = SDV_BROKER_OP_GT; /* a rise of more than 5 since the last delivery */
    flt.change_diff = fval(5);
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &speed, 1, &flt, 0, 0, &rise), SDV_OK);
    memset(&flt, 0, sizeof(flt));
    flt.change = true;
    flt.change_op = SDV_BROKER_OP_NE;
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &lv, 1, &flt, 0, 0, &str), SDV_OK);

    {
        static const float seq[] = {50, 50, 53, 56, 56, 57, 40, 40};
        size_t i;

        for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
            assert_int_equal(publish_f(f, &provider_a, SPEED, seq[i]), SDV_OK);
    }
    /* Any change: 50 (first), 53, 56, 57, 40. */
    assert_true(pop_f(f, &app_1, any, &ev) == 50);
    assert_true(pop_f(f, &app_1, any, &ev) == 53);
    assert_true(pop_f(f, &app_1, any, &ev) == 56);
    assert_true(pop_f(f, &app_1, any, &ev) == 57);
    assert_true(pop_f(f, &app_1, any, &ev) == 40);
    assert_empty(f, &app_1, any);
    /* Rise > 5: 50 (first), 56 (+6 over 50); 57 is +1 over 56; 40 falls. */
    assert_true(pop_f(f, &app_1, rise, &ev) == 50);
    assert_true(pop_f(f, &app_1, rise, &ev) == 56);
    assert_empty(f, &app_1, rise);

    v = sval("ON");
    assert_int_equal(sdv_broker_publish(f->b, &provider_a, lv, &v, 0), SDV_OK);
    assert_int_equal(sdv_broker_publish(f->b, &provider_a, lv, &v, 0), SDV_OK);
    v = sval("START");
    assert_int_equal(sdv_broker_publish(f->b, &provider_a, lv, &v, 0), SDV_OK);
    assert_int_equal(sdv_broker_sub_pending(f->b, str), 2);
    assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, str, &ev, &got), SDV_OK);
    assert_memory_equal(ev.value.v.p, "ON", 2);
    assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, str, &ev, &got), SDV_OK);
    assert_int_equal(ev.value.len, 5);
    assert_memory_equal(ev.value.v.p, "START", 5);

    /* Ordering operators make no sense on strings; diff neither. */
    flt.change_op = SDV_BROKER_OP_GT;
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &lv, 1, &flt, 0, 0, &str), SDV_EINVAL);
    assert_non_null(strstr(sdv_broker_errmsg(f->b), LVSTATE));
}

static struct sdv_broker_value bval(bool x)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_BOOLEAN, .count = 1, .v.b = x};

    return v;
}

/* VISS: on a boolean, change gt 0 is false -> true, lt 0 true -> false, ne 0 either way. */
static void test_filter_change_boolean(void **state)
{
    struct fixture *f = *state;
    uint32_t door = id_of(f, "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"), up = 0, down = 0,
             any = 0;
    struct sdv_broker_filter flt;
    struct sdv_broker_event ev;
    static const bool seq[] = {false, true, true, false, true};
    size_t i;
    bool got;

    memset(&flt, 0, sizeof(flt));
    flt.change = true;
    flt.change_diff = (struct sdv_broker_value){.type = SDV_BROKER_DT_INT32, .count = 1, .v.i = 0};
    flt.change_op = SDV_BROKER_OP_GT;
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &door, 1, &flt, 0, 0, &up), SDV_OK);
    flt.change_op = SDV_BROKER_OP_LT;
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &door, 1, &flt, 0, 0, &down), SDV_OK);
    flt.change_op = SDV_BROKER_OP_NE;
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &door, 1, &flt, 0, 0, &any), SDV_OK);
    for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        struct sdv_broker_value v = bval(seq[i]);

        assert_int_equal(sdv_broker_publish(f->b, &provider_a, door, &v, 0), SDV_OK);
    }
    /* first value, then each edge of the right direction */
    assert_int_equal(sdv_broker_sub_pending(f->b, up), 3);   /* false, ->true, ->true */
    assert_int_equal(sdv_broker_sub_pending(f->b, down), 2); /* false, ->false */
    assert_int_equal(sdv_broker_sub_pending(f->b, any), 4);  /* false, true, false, true */
    assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, down, &ev, &got), SDV_OK);
    assert_false(ev.value.v.b);
    assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, up, &ev, &got), SDV_OK);
    assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, up, &ev, &got), SDV_OK);
    assert_true(ev.value.v.b);
}

/* VISS multi-signal subscriptions: the first signal triggers, every signal is delivered. */
static void test_filter_trigger_first(void **state)
{
    struct fixture *f = *state;
    uint32_t ids[3] = {id_of(f, SPEED), id_of(f, LVSTATE), id_of(f, SOC)}, sub = 0;
    struct sdv_broker_filter flt;
    struct sdv_broker_event ev;
    struct sdv_broker_value v = sval("ON");
    bool got;

    assert_int_equal(sdv_broker_publish(f->b, &provider_a, ids[1], &v, 0), SDV_OK);
    assert_int_equal(publish_f(f, &provider_a, SOC, 60), SDV_OK);
    memset(&flt, 0, sizeof(flt));
    flt.trigger_first = true;
    flt.range_count = 1;
    flt.range[0].op = SDV_BROKER_OP_GT;
    flt.range[0].boundary = fval(100);
    /* The range applies to Vehicle.Speed only: a string signal after it is fine. */
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, ids, 3, &flt, 0, 0, &sub), SDV_OK);
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 0); /* Speed has no value yet */
    assert_int_equal(publish_f(f, &provider_a, SOC, 61), SDV_OK);
    assert_int_equal(publish_f(f, &provider_a, SPEED, 90), SDV_OK);
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 0);
    assert_int_equal(publish_f(f, &provider_a, SPEED, 120), SDV_OK);
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 3);
    assert_true(pop_f(f, &app_1, sub, &ev) == 120);
    assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, sub, &ev, &got), SDV_OK);
    assert_int_equal(ev.signal->id, ids[1]);
    assert_memory_equal(ev.value.v.p, "ON", 2);
    assert_true(pop_f(f, &app_1, sub, &ev) == 61);
    /* Without trigger_first, the string signal could not take a range filter. */
    flt.trigger_first = false;
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, ids, 3, &flt, 0, 0, &sub), SDV_EINVAL);
}

static void test_filter_range(void **state)
{
    struct fixture *f = *state;
    uint32_t speed = id_of(f, SPEED), lv = id_of(f, LVSTATE), in = 0, out = 0;
    struct sdv_broker_filter flt;
    struct sdv_broker_event ev;
    static const float seq[] = {5, 10, 15, 20, 25, 19.5f};
    size_t i;

    memset(&flt, 0, sizeof(flt));
    flt.range_count = 2; /* inside: > 10 and < 20 */
    flt.range[0].op = SDV_BROKER_OP_GT;
    flt.range[0].boundary = fval(10);
    flt.range[1].op = SDV_BROKER_OP_LT;
    flt.range[1].boundary = (struct sdv_broker_value){
            .type = SDV_BROKER_DT_INT32, .count = 1, .v.i = 20}; /* any numeric type */
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &speed, 1, &flt, 0, 0, &in), SDV_OK);
    flt.range_any = true; /* outside: <= 10 or >= 20 */
    flt.range[0].op = SDV_BROKER_OP_LE;
    flt.range[1].op = SDV_BROKER_OP_GE;
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &speed, 1, &flt, 0, 0, &out), SDV_OK);
    for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
        assert_int_equal(publish_f(f, &provider_a, SPEED, seq[i]), SDV_OK);
    assert_true(pop_f(f, &app_1, in, &ev) == 15);
    assert_true(pop_f(f, &app_1, in, &ev) == 19.5f);
    assert_empty(f, &app_1, in);
    assert_true(pop_f(f, &app_1, out, &ev) == 5);
    assert_true(pop_f(f, &app_1, out, &ev) == 10);
    assert_true(pop_f(f, &app_1, out, &ev) == 20);
    assert_true(pop_f(f, &app_1, out, &ev) == 25);
    assert_empty(f, &app_1, out);

    /* Range on a string signal, a boundary without op, timebased with range: refused. */
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &lv, 1, &flt, 0, 0, &out), SDV_EINVAL);
    assert_non_null(strstr(sdv_broker_errmsg(f->b), "not a number"));
    flt.range[0].op = SDV_BROKER_OP_ANY;
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &speed, 1, &flt, 0, 0, &out), SDV_EINVAL);
    flt.range[0].op = SDV_BROKER_OP_LE;
    flt.period_ms = 100;
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &speed, 1, &flt, 0, 0, &out), SDV_EINVAL);
}

static void test_filter_timebased(void **state)
{
    struct fixture *f = *state;
    uint32_t ids[2] = {id_of(f, SPEED), id_of(f, SOC)}, sub = 0;
    struct sdv_broker_filter flt;
    struct sdv_broker_event ev;
    int64_t t0 = f->now_us, next;

    memset(&flt, 0, sizeof(flt));
    flt.period_ms = 100;
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, ids, 2, &flt, 0, 0, &sub), SDV_OK);
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 0); /* nothing has a value yet */
    assert_true(sdv_broker_tick(f->b) == t0 + 100000);
    /* Updates between samples are not delivered; the sample has the latest. */
    assert_int_equal(publish_f(f, &provider_a, SPEED, 1), SDV_OK);
    assert_int_equal(publish_f(f, &provider_a, SPEED, 2), SDV_OK);
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 0);
    f->now_us = t0 + 99999;
    sdv_broker_tick(f->b);
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 0);
    f->now_us = t0 + 100000;
    next = sdv_broker_tick(f->b);
    assert_true(next == t0 + 200000);
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 1);
    assert_true(pop_f(f, &app_1, sub, &ev) == 2);
    /* Unchanged values are sampled again every period. */
    assert_int_equal(publish_f(f, &provider_a, SOC, 70), SDV_OK);
    f->now_us = t0 + 200000;
    sdv_broker_tick(f->b);
    assert_true(pop_f(f, &app_1, sub, &ev) == 2);
    assert_true(pop_f(f, &app_1, sub, &ev) == 70);
    assert_empty(f, &app_1, sub);
    /* After a long stall, one sample, not a burst. */
    f->now_us = t0 + 1000000;
    next = sdv_broker_tick(f->b);
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 2);
    assert_true(next == t0 + 1100000);
    assert_int_equal(sdv_broker_unsubscribe(f->b, &app_1, sub), SDV_OK);
    f->now_us = t0 + 1100000;
    assert_true(sdv_broker_tick(f->b) == INT64_MAX);
}

/* A slow consumer loses its oldest events, is told how many, and nobody else notices. */
static void test_bounded_queue(void **state)
{
    struct fixture *f = *state;
    uint32_t speed = id_of(f, SPEED), slow = 0, fast = 0;
    struct sdv_broker_event ev;
    int i;

    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &speed, 1, NULL, 4, 0, &slow), SDV_OK);
    assert_int_equal(sdv_broker_subscribe(f->b, &app_2, &speed, 1, NULL, 100, 0, &fast), SDV_OK);
    for (i = 0; i < 50; i++)
        assert_int_equal(publish_f(f, &provider_a, SPEED, (float)i), SDV_OK);
    assert_int_equal(sdv_broker_sub_pending(f->b, slow), 4);
    assert_int_equal(sdv_broker_sub_pending(f->b, fast), 50);
    assert_true(pop_f(f, &app_1, slow, &ev) == 46);
    assert_true(ev.lost == 46);
    assert_true(pop_f(f, &app_1, slow, &ev) == 47);
    assert_true(ev.lost == 0);
    assert_true(pop_f(f, &app_1, slow, &ev) == 48);
    assert_true(pop_f(f, &app_1, slow, &ev) == 49);
    assert_empty(f, &app_1, slow);
    for (i = 0; i < 50; i++) {
        assert_true(pop_f(f, &app_2, fast, &ev) == (float)i);
        assert_true(ev.lost == 0);
    }
    /* A loss is reported even when the queue was drained in between. */
    for (i = 0; i < 6; i++)
        assert_int_equal(publish_f(f, &provider_a, SPEED, (float)i), SDV_OK);
    {
        bool got;
        int n = 0;
        uint64_t lost = 0;

        do {
            assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, slow, &ev, &got), SDV_OK);
            lost += ev.lost;
            n += got;
        } while (got);
        assert_int_equal(n, 4);
        assert_true(lost == 2);
    }
}

/* String payloads share the queue's byte ring; a full ring drops the oldest too, and every
 * delivered string is intact. */
static void test_bounded_queue_strings(void **state)
{
    struct fixture *f = *state;
    uint32_t vin = id_of(f, "Vehicle.VehicleIdentification.KnownVehicleDamages"), sub = 0;
    static char text[20][10001];
    struct sdv_broker_event ev;
    uint64_t lost = 0;
    bool got;
    int i, n = 0, first = -1;

    /* 256 entries, but the ring (64 KiB + 1, its floor) holds only 6 strings of 10,000 bytes. */
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &vin, 1, NULL, 256, 1, &sub), SDV_OK);
    for (i = 0; i < 20; i++) {
        struct sdv_broker_value v;

        memset(text[i], 'a' + i, 10000);
        text[i][10000] = '\0';
        v = sval(text[i]);
        assert_int_equal(sdv_broker_publish(f->b, &provider_a, vin, &v, 0), SDV_OK);
    }
    for (;;) {
        assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, sub, &ev, &got), SDV_OK);
        lost += ev.lost;
        if (!got)
            break;
        assert_int_equal(ev.value.len, 10000);
        if (first < 0)
            first = ((const char *)ev.value.v.p)[0] - 'a';
        assert_memory_equal(ev.value.v.p, text[first + n], 10000);
        n++;
    }
    assert_int_equal(first + n, 20); /* the newest are kept, in order */
    assert_true(n >= 6);
    assert_true(lost == (uint64_t)first);
    /* The ring keeps working across wrap-arounds with mixed sizes. */
    for (i = 0; i < 200; i++) {
        struct sdv_broker_value v;
        size_t len = (size_t)(i * 7919) % 10000;

        v = sval(text[i % 20]);
        v.len = (uint32_t)len;
        assert_int_equal(sdv_broker_publish(f->b, &provider_a, vin, &v, 0), SDV_OK);
        if (i % 3 == 0) {
            assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, sub, &ev, &got), SDV_OK);
            assert_true(got);
            assert_true(ev.value.len == 0 || ((const char *)ev.value.v.p)[ev.value.len - 1] ==
                                                     ((const char *)ev.value.v.p)[0]);
        }
    }
}

/* Random lengths (empty strings included) and random draining: every delivered string is the
 * one published at the position the lost counts say, byte for byte. */
static void test_queue_arena_model(void **state)
{
    struct fixture *f = *state;
    uint32_t id = id_of(f, "Vehicle.VehicleIdentification.KnownVehicleDamages"), sub = 0;
    static char text[12000];
    struct sdv_broker_event ev;
    uint32_t rnd = 12345;
    int64_t next_expected = 0, published = 0, popped = 0, i;

    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &id, 1, NULL, 40, 1, &sub), SDV_OK);
    for (i = 0; i < 4000; i++) {
        struct sdv_broker_value v;
        size_t len;
        int k, pops;

        rnd = rnd * 1103515245u + 12345u;
        len = (i % 13 == 0) ? 0 : 8 + (rnd >> 8) % 11000;
        snprintf(text, sizeof(text), "%07lld", (long long)i);
        memset(text + 7, 'a' + (int)(i % 26), sizeof(text) - 8);
        text[sizeof(text) - 1] = '\0';
        v = sval(text);
        v.len = (uint32_t)len;
        assert_int_equal(sdv_broker_publish(f->b, &provider_a, id, &v, 0), SDV_OK);
        published++;
        rnd = rnd * 1103515245u + 12345u;
        pops = (rnd >> 16) % 4 == 0 ? (int)((rnd >> 8) % 30) : 0;
        for (k = 0; k < pops; k++) {
            bool got;

            assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, sub, &ev, &got), SDV_OK);
            next_expected += (int64_t)ev.lost;
            if (!got)
                break;
            popped++;
            if (next_expected % 13 == 0) {
                assert_int_equal(ev.value.len, 0);
            } else {
                char head[8];

                snprintf(head, sizeof(head), "%07lld", (long long)next_expected);
                assert_true(ev.value.len >= 8);
                assert_memory_equal(ev.value.v.p, head, 7);
                assert_int_equal(((const char *)ev.value.v.p)[ev.value.len - 1],
                                 'a' + (int)(next_expected % 26));
            }
            next_expected++;
        }
    }
    assert_true(next_expected <= published);
    assert_true(popped > 100);
}

/* Scopes are re-checked for every event: a denied signal is withheld and counted. */
static void test_event_check(void **state)
{
    struct fixture *f = *state;
    uint32_t ids[2] = {id_of(f, SPEED), id_of(f, SOC)}, sub1 = 0, sub2 = 0;
    struct sdv_broker_event ev;
    bool got;

    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, ids, 2, NULL, 0, 0, &sub1), SDV_OK);
    assert_int_equal(sdv_broker_subscribe(f->b, &app_2, ids, 2, NULL, 0, 0, &sub2), SDV_OK);
    assert_int_equal(publish_f(f, &provider_a, SOC, 40), SDV_OK);
    /* The token of app_1 loses its read scope on SOC. */
    f->deny_who = &app_1;
    f->deny_id = ids[1];
    assert_int_equal(publish_f(f, &provider_a, SOC, 41), SDV_OK);
    assert_int_equal(publish_f(f, &provider_a, SPEED, 30), SDV_OK);
    assert_true(pop_f(f, &app_1, sub1, &ev) == 40);
    assert_true(ev.denied == 1); /* withheld since the previous pop */
    assert_true(pop_f(f, &app_1, sub1, &ev) == 30);
    assert_true(ev.denied == 0);
    assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, sub1, &ev, &got), SDV_OK);
    assert_false(got);
    assert_true(pop_f(f, &app_2, sub2, &ev) == 40);
    assert_true(pop_f(f, &app_2, sub2, &ev) == 41);
    assert_true(pop_f(f, &app_2, sub2, &ev) == 30);
    assert_true(ev.denied == 0);
    /* Closing a session drops its subscriptions. */
    sdv_broker_session_close(f->b, &app_1);
    assert_int_equal(sdv_broker_sub_pop(f->b, &app_1, sub1, &ev, &got), SDV_ENOENT);
    assert_int_equal(publish_f(f, &provider_a, SPEED, 31), SDV_OK);
    assert_true(pop_f(f, &app_2, sub2, &ev) == 31);
}

static void test_subscription_limits(void **state)
{
    struct fixture *f = *state;
    uint32_t speed = id_of(f, SPEED), ids[3] = {speed, speed, id_of(f, SOC)}, sub = 0;
    uint32_t bad = 99999;

    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, &bad, 1, NULL, 0, 0, &sub), SDV_ENOENT);
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, ids, 0, NULL, 0, 0, &sub), SDV_EINVAL);
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, ids, 1, NULL,
                                          SDV_BROKER_SUB_QUEUE_LEN_MAX + 1, 0, &sub),
                     SDV_EINVAL);
    /* A signal listed twice is delivered once. */
    assert_int_equal(sdv_broker_subscribe(f->b, &app_1, ids, 3, NULL, 0, 0, &sub), SDV_OK);
    assert_int_equal(publish_f(f, &provider_a, SPEED, 1), SDV_OK);
    assert_int_equal(sdv_broker_sub_pending(f->b, sub), 1);
}

static void test_subscription_table_full(void **state)
{
    struct fixture *f = *state;
    struct sdv_broker_config cfg;
    struct sdv_broker *b = NULL;
    uint32_t speed = id_of(f, SPEED), subs[3], extra;
    int i;

    memset(&cfg, 0, sizeof(cfg));
    cfg.catalog = f->cat;
    cfg.clock = test_clock;
    cfg.clock_ud = f;
    cfg.subscriptions_max = 3;
    assert_int_equal(sdv_broker_create(&cfg, &b, NULL, 0), SDV_OK);
    for (i = 0; i < 3; i++)
        assert_int_equal(sdv_broker_subscribe(b, &app_1, &speed, 1, NULL, 0, 0, &subs[i]), SDV_OK);
    assert_int_equal(sdv_broker_subscribe(b, &app_1, &speed, 1, NULL, 0, 0, &extra), SDV_ELIMIT);
    assert_int_equal(sdv_broker_unsubscribe(b, &app_1, subs[1]), SDV_OK);
    assert_int_equal(sdv_broker_subscribe(b, &app_1, &speed, 1, NULL, 0, 0, &extra), SDV_OK);
    /* A reused slot gets a new id: the old one stays dead. */
    assert_true(extra != subs[1]);
    assert_int_equal(sdv_broker_unsubscribe(b, &app_1, subs[1]), SDV_ENOENT);
    sdv_broker_destroy(b);
    /* All queues together are bounded; unsubscribing gives the memory back. */
    cfg.subscriptions_max = 0;
    cfg.queue_memory_max = 100000;
    assert_int_equal(sdv_broker_create(&cfg, &b, NULL, 0), SDV_OK);
    {
        uint32_t text = id_of(f, VIN), s1, s2;

        assert_int_equal(sdv_broker_subscribe(b, &app_1, &speed, 1, NULL, 65536, 0, &s1),
                         SDV_ELIMIT);
        assert_non_null(strstr(sdv_broker_errmsg(b), "100000 bytes"));
        assert_int_equal(sdv_broker_subscribe(b, &app_1, &text, 1, NULL, 8, 0, &s1), SDV_OK);
        assert_int_equal(sdv_broker_subscribe(b, &app_1, &text, 1, NULL, 8, 0, &s2), SDV_ELIMIT);
        assert_int_equal(sdv_broker_subscribe(b, &app_1, &speed, 1, NULL, 8, 0, &s2), SDV_OK);
        assert_int_equal(sdv_broker_unsubscribe(b, &app_1, s1), SDV_OK);
        assert_int_equal(sdv_broker_subscribe(b, &app_1, &text, 1, NULL, 8, 0, &s1), SDV_OK);
    }
    sdv_broker_destroy(b);
    /* The catalog is frozen while a broker uses it. */
    assert_int_equal(sdv_broker_catalog_load_json(f->cat, "{}", 2, NULL), SDV_EINVAL);
}

/* ---- Persistence ---- */

static void test_persistence(void **state)
{
    struct fixture *f = *state;
    char dir[] = "/tmp/sdv-broker-test-XXXXXX", path[128];
    struct sdv_broker_value v;
    struct stat st;
    int64_t ts;
    uint32_t fuels = id_of(f, "Vehicle.Powertrain.FuelSystem.SupportedFuelTypes");
    uint32_t lat = id_of(f, "Vehicle.CurrentLocation.Latitude");
    int i;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/values.json", dir);
    sdv_broker_destroy(f->b);
    make_broker(f, path);
    assert_int_equal(publish_f(f, &provider_a, SPEED, 42.25f), SDV_OK);
    v = sval("WVWZZZ1JZXW000001");
    assert_int_equal(sdv_broker_publish(f->b, &provider_a, id_of(f, VIN), &v, 777), SDV_OK);
    v = (struct sdv_broker_value){
            .type = SDV_BROKER_DT_STRING_ARRAY, .count = 2, .len = 10, .v.p = "DIESEL\0H2\0"};
    assert_int_equal(sdv_broker_publish(f->b, &provider_a, fuels, &v, 0), SDV_OK);
    v = (struct sdv_broker_value){.type = SDV_BROKER_DT_DOUBLE, .count = 1, .v.d = -89.123456789};
    assert_int_equal(sdv_broker_publish(f->b, &provider_a, lat, &v, 0), SDV_OK);
    /* Written by tick once the interval has passed, not before. */
    f->now_us += 1999 * 1000;
    sdv_broker_tick(f->b);
    assert_int_equal(stat(path, &st), -1);
    f->now_us += 1000;
    sdv_broker_tick(f->b);
    /* The writer thread writes it (bounded wait: 10 s). */
    for (i = 0; i < 1000 && stat(path, &st) != 0; i++)
        usleep(10000);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* A later change is written at shutdown. */
    assert_int_equal(publish_f(f, &provider_a, SPEED, 43.5f), SDV_OK);
    assert_int_equal(sdv_broker_persist(f->b), SDV_OK);
    sdv_broker_destroy(f->b);

    /* Restart. */
    make_broker(f, path);
    assert_int_equal(sdv_broker_get(f->b, id_of(f, SPEED), &v, &ts), SDV_OK);
    assert_int_equal(v.type, SDV_BROKER_DT_FLOAT);
    assert_true(v.v.f == 43.5f);
    assert_true(ts == f->now_us);
    assert_int_equal(sdv_broker_get(f->b, id_of(f, VIN), &v, &ts), SDV_OK);
    assert_int_equal(v.len, 17);
    assert_memory_equal(v.v.p, "WVWZZZ1JZXW000001", 17);
    assert_true(ts == 777);
    assert_int_equal(sdv_broker_get(f->b, fuels, &v, NULL), SDV_OK);
    assert_int_equal(v.count, 2);
    assert_memory_equal(v.v.p, "DIESEL\0H2\0", 10);
    assert_int_equal(sdv_broker_get(f->b, lat, &v, NULL), SDV_OK);
    assert_true(v.v.d == -89.123456789);
    /* Never-published signals stay empty; attributes keep their default. */
    assert_int_equal(sdv_broker_get(f->b, id_of(f, SOC), &v, NULL), SDV_OK);
    assert_int_equal(v.type, SDV_BROKER_DT_NONE);
    sdv_broker_destroy(f->b);
    f->b = NULL;

    /* A damaged snapshot stops the start instead of silently losing the values. */
    {
        FILE *fp = fopen(path, "w");
        struct sdv_broker_config cfg;
        char err[256];

        assert_non_null(fp);
        fputs("{\"format\":\"sdv-broker-values\",\"version\":1,\"values\":{", fp);
        fclose(fp);
        memset(&cfg, 0, sizeof(cfg));
        cfg.catalog = f->cat;
        cfg.clock = test_clock;
        cfg.clock_ud = f;
        cfg.persist_path = path;
        assert_int_equal(sdv_broker_create(&cfg, &f->b, err, sizeof(err)), SDV_EPARSE);
        assert_non_null(strstr(err, "damaged snapshot"));
        assert_null(f->b);
    }
    /* A value that no longer fits the catalog is dropped, the rest restored. */
    {
        FILE *fp = fopen(path, "w");

        assert_non_null(fp);
        fputs("{\"format\":\"sdv-broker-values\",\"version\":1,\"values\":{"
              "\"" SOC "\":{\"datatype\":\"float\",\"value\":150,\"ts_us\":5},"
              "\"Vehicle.Gone\":{\"datatype\":\"float\",\"value\":1,\"ts_us\":5},"
              "\"" SPEED "\":{\"datatype\":\"uint8\",\"value\":1,\"ts_us\":5},"
              "\"" FAN "\":{\"datatype\":\"uint8\",\"value\":33,\"ts_us\":5}}}",
              fp);
        fclose(fp);
        make_broker(f, path);
        assert_int_equal(sdv_broker_get(f->b, id_of(f, SOC), &v, NULL), SDV_OK);
        assert_int_equal(v.type, SDV_BROKER_DT_NONE);
        assert_int_equal(sdv_broker_get(f->b, id_of(f, SPEED), &v, NULL), SDV_OK);
        assert_int_equal(v.type, SDV_BROKER_DT_NONE);
        assert_int_equal(sdv_broker_get(f->b, id_of(f, FAN), &v, &ts), SDV_OK);
        assert_true(v.v.u == 33 && ts == 5);
    }
    unlink(path);
    rmdir(dir);
}

static int log_errors;

static void count_log(void *ud, enum sdv_log_level level, const char *msg)
{
    (void)ud;
    (void)msg;
    if (level == SDV_LOG_ERROR)
        log_errors++;
}

/* A snapshot that cannot be written is reported (log and errmsg) and retried, never silent. */
static void test_persistence_write_failure(void **state)
{
    struct fixture *f = *state;
    struct sdv_log log = {count_log, NULL, SDV_LOG_DEBUG};
    struct sdv_broker_config cfg;
    int i;

    sdv_broker_destroy(f->b);
    memset(&cfg, 0, sizeof(cfg));
    cfg.catalog = f->cat;
    cfg.clock = test_clock;
    cfg.clock_ud = f;
    cfg.persist_path = "/nonexistent-sdv-dir/values.json";
    cfg.persist_interval_ms = 1000;
    cfg.log = &log;
    assert_int_equal(sdv_broker_create(&cfg, &f->b, NULL, 0), SDV_OK);
    log_errors = 0;
    assert_int_equal(publish_f(f, &provider_a, SPEED, 1), SDV_OK);
    f->now_us += 1000 * 1000;
    sdv_broker_tick(f->b); /* handed to the writer thread */
    for (i = 0; i < 1000 && log_errors == 0; i++) {
        usleep(10000);
        f->now_us += 100 * 1000;
        sdv_broker_tick(f->b); /* collects the result */
    }
    assert_int_equal(log_errors, 1);
    assert_non_null(strstr(sdv_broker_errmsg(f->b), "/nonexistent-sdv-dir/values.json"));
    /* Still dirty: the shutdown write tries again and reports the error. */
    assert_int_not_equal(sdv_broker_persist(f->b), SDV_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
            cmocka_unit_test_setup_teardown(test_publish_get, setup, teardown),
            cmocka_unit_test_setup_teardown(test_actuation_routing, setup, teardown),
            cmocka_unit_test_setup_teardown(test_actuation_timeout_and_disconnect, setup, teardown),
            cmocka_unit_test_setup_teardown(test_subscribe_all_updates, setup, teardown),
            cmocka_unit_test_setup_teardown(test_filter_change, setup, teardown),
            cmocka_unit_test_setup_teardown(test_filter_change_boolean, setup, teardown),
            cmocka_unit_test_setup_teardown(test_filter_trigger_first, setup, teardown),
            cmocka_unit_test_setup_teardown(test_filter_range, setup, teardown),
            cmocka_unit_test_setup_teardown(test_filter_timebased, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bounded_queue, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bounded_queue_strings, setup, teardown),
            cmocka_unit_test_setup_teardown(test_queue_arena_model, setup, teardown),
            cmocka_unit_test_setup_teardown(test_event_check, setup, teardown),
            cmocka_unit_test_setup_teardown(test_subscription_limits, setup, teardown),
            cmocka_unit_test_setup_teardown(test_subscription_table_full, setup, teardown),
            cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
            cmocka_unit_test_setup_teardown(test_persistence_write_failure, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
