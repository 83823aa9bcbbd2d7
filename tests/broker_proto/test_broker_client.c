/*
 * test_broker_client.c - the client library against a small broker stand-in speaking the
 * binary protocol on a real Unix socket (a thread in this test, built from the same codecs),
 * with an app and a provider connected at once: hello with a token, lookup, claim, batched
 * publish, subscribe with events and "values lost", get, set routed to the provider and its
 * accept/reject answer, errors and disconnects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <sdv/broker_client.h>

#include "broker_standin.h"

static char sock_path[108], sock_dir[64];

static int server_start(void **state)
{
    (void)state;
    snprintf(sock_dir, sizeof(sock_dir), "/tmp/sdv-broker-client-XXXXXX");
    assert_non_null(mkdtemp(sock_dir));
    snprintf(sock_path, sizeof(sock_path), "%s/broker.sock", sock_dir);
    assert_int_equal(standin_start(sock_path), 0);
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    standin_stop();
    rmdir(sock_dir);
    return 0;
}

/* ---- Clients ---------------------------------------------------------------------------- */

static struct sdv_broker_client *connect_as(const char *name, const char *token,
                                            sdv_broker_client_actuate_fn on_actuate,
                                            sdv_broker_client_lost_fn on_lost, void *ud)
{
    struct sdv_broker_client_config cfg = {sock_path, name, token, 2000, on_actuate, on_lost, ud};
    struct sdv_broker_client *c = NULL;
    char err[256];

    if (sdv_broker_client_connect(&cfg, &c, err, sizeof(err)) != SDV_OK)
        fail_msg("connect: %s", err);
    return c;
}

struct provider {
    struct sdv_broker_client *c;
    volatile int stop;
    int actuations;
    int last_value;
    pthread_t thread;
};

/* The HVAC provider accepts cabin temperatures up to 30 degrees and rejects hotter ones. */
static void on_actuate(void *ud, uint64_t actuation_id, uint32_t signal_id,
                       const struct sdv_broker_value *v)
{
    struct provider *p = ud;

    p->actuations++;
    assert_int_equal(signal_id, 2);
    assert_int_equal(v->type, SDV_BROKER_DT_INT8);
    p->last_value = (int)v->v.i;
    if (v->v.i <= 30)
        assert_int_equal(sdv_broker_client_actuate_reply(p->c, actuation_id, 0, NULL), SDV_OK);
    else
        assert_int_equal(sdv_broker_client_actuate_reply(p->c, actuation_id, 409, "too hot"),
                         SDV_OK);
}

static void *provider_main(void *arg)
{
    struct provider *p = arg;

    while (!p->stop)
        if (sdv_broker_client_process(p->c, 20) != SDV_OK)
            break;
    return NULL;
}

struct events {
    int n;
    uint32_t sub_id, signal_id[16];
    double num[16];
    char text[16][32];
    int lost;
};

static void on_event(void *ud, uint32_t sub_id, uint32_t signal_id,
                     const struct sdv_broker_value *v, int64_t ts_us)
{
    struct events *ev = ud;

    (void)ts_us;
    if (ev->n >= 16)
        return;
    ev->sub_id = sub_id;
    ev->signal_id[ev->n] = signal_id;
    if (v->type == SDV_BROKER_DT_FLOAT)
        ev->num[ev->n] = v->v.f;
    if (v->type == SDV_BROKER_DT_STRING)
        snprintf(ev->text[ev->n], sizeof(ev->text[0]), "%.*s", (int)v->len, (const char *)v->v.p);
    ev->n++;
}

static void on_lost(void *ud, uint32_t sub_id, uint32_t lost)
{
    struct events *ev = ud;

    (void)sub_id;
    ev->lost += (int)lost;
}

/* Processes c until ev has want events (bounded). */
static void wait_events(struct sdv_broker_client *c, struct events *ev, int want)
{
    int rounds;

    for (rounds = 0; rounds < 200 && ev->n < want; rounds++)
        assert_int_equal(sdv_broker_client_process(c, 10), SDV_OK);
    assert_int_equal(ev->n, want);
}

static struct sdv_broker_value f32(float f)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT};

    v.v.f = f;
    return v;
}

static void test_refused_connections(void **state)
{
    struct sdv_broker_client_config cfg = {sock_path, "app", "bad", 2000, NULL, NULL, NULL};
    struct sdv_broker_client *c = NULL;
    char err[256];

    (void)state;
    assert_int_equal(sdv_broker_client_connect(&cfg, &c, err, sizeof(err)), SDV_EDENIED);
    assert_null(c);
    assert_non_null(strstr(err, "invalid token"));
    cfg.socket_path = "/nonexistent/broker.sock";
    assert_int_equal(sdv_broker_client_connect(&cfg, &c, err, sizeof(err)), SDV_ENET);
    assert_non_null(strstr(err, "/nonexistent/broker.sock"));
}

static void test_app_and_provider(void **state)
{
    static const char *const paths[] = {
            "Vehicle.Speed", "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
            "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
            "Vehicle.Cabin.Infotainment.Media.Played.Track", "Vehicle.NoSuchThing"};
    struct sdv_broker_client_signal sig[5];
    struct provider prov = {0};
    struct events ev = {0};
    struct sdv_broker_client *app, *other;
    struct sdv_broker_value v, track = {.type = SDV_BROKER_DT_STRING, .count = 1};
    struct sdv_broker_filter lost_hook = {.period_ms = STANDIN_LOST_HOOK_PERIOD};
    uint32_t ids[4], sub, sub2;
    int64_t ts;

    (void)state;
    app = connect_as("app", "good", NULL, on_lost, &ev);
    prov.c = connect_as("hvac", "good", on_actuate, NULL, &prov);
    assert_true(sdv_broker_client_fd(app) >= 0);

    /* Lookup: four known signals with their types, one unknown. */
    assert_int_equal(sdv_broker_client_lookup(app, paths, 5, sig), SDV_OK);
    assert_int_equal(sig[0].id, 1);
    assert_int_equal(sig[0].datatype, SDV_BROKER_DT_FLOAT);
    assert_int_equal(sig[1].kind, SDV_BROKER_KIND_ACTUATOR);
    assert_int_equal(sig[1].datatype, SDV_BROKER_DT_INT8);
    assert_int_equal(sig[4].status, 404);
    assert_int_equal(sig[4].id, 0);
    ids[0] = sig[0].id, ids[1] = sig[1].id, ids[2] = sig[2].id, ids[3] = sig[3].id;

    /* The provider claims everything; a second provider cannot take the HVAC. */
    assert_int_equal(sdv_broker_client_claim(prov.c, ids, 4), SDV_OK);
    other = connect_as("intruder", "good", NULL, NULL, NULL);
    assert_int_equal(sdv_broker_client_claim(other, &ids[1], 1), SDV_EEXIST);
    assert_non_null(strstr(sdv_broker_client_errmsg(other), "owned by another provider"));

    /* The app subscribes to speed and track; the provider publishes one batch. */
    assert_int_equal(sdv_broker_client_subscribe(app, (uint32_t[]){ids[0], ids[3]}, 2, NULL,
                                                 on_event, &ev, &sub),
                     SDV_OK);
    assert_int_equal(sdv_broker_client_publish(prov.c, ids[0], &(struct sdv_broker_value){0}, 0),
                     SDV_EINVAL); /* NONE is not a publishable value */
    v = f32(50.5f);
    assert_int_equal(sdv_broker_client_publish(prov.c, ids[0], &v, 1000), SDV_OK);
    v = f32(80.0f);
    assert_int_equal(sdv_broker_client_publish(prov.c, ids[2], &v, 1001), SDV_OK);
    track.len = 4, track.v.p = "Song";
    assert_int_equal(sdv_broker_client_publish(prov.c, ids[3], &track, 1002), SDV_OK);
    assert_int_equal(sdv_broker_client_publish_flush(prov.c), SDV_OK);
    wait_events(app, &ev, 2);
    assert_int_equal(ev.sub_id, sub);
    assert_int_equal(ev.signal_id[0], ids[0]);
    assert_true(ev.num[0] == 50.5);
    assert_int_equal(ev.signal_id[1], ids[3]);
    assert_string_equal(ev.text[1], "Song");

    /* Get reads the current value with its timestamp. */
    assert_int_equal(sdv_broker_client_get(app, ids[2], &v, &ts), SDV_OK);
    assert_int_equal(v.type, SDV_BROKER_DT_FLOAT);
    assert_true(v.v.f == 80.0f);
    assert_true(ts == 1001);
    assert_int_equal(sdv_broker_client_get(app, ids[1], &v, NULL), SDV_OK);
    assert_int_equal(v.type, SDV_BROKER_DT_NONE);
    assert_int_equal(sdv_broker_client_get(app, 77, &v, NULL), SDV_ENOENT);

    /* Set goes to the provider, which runs its own loop in a thread. */
    assert_int_equal(pthread_create(&prov.thread, NULL, provider_main, &prov), 0);
    v.type = SDV_BROKER_DT_INT8, v.v.i = 22;
    assert_int_equal(sdv_broker_client_set(app, ids[1], &v), SDV_OK);
    v.v.i = 35;
    assert_int_equal(sdv_broker_client_set(app, ids[1], &v), SDV_EREJECTED);
    assert_non_null(strstr(sdv_broker_client_errmsg(app), "too hot"));
    assert_int_equal(prov.actuations, 2);
    assert_int_equal(prov.last_value, 35);
    v = f32(1.0f);
    assert_int_equal(sdv_broker_client_set(app, ids[0], &v), SDV_EINVAL); /* a sensor */
    assert_non_null(strstr(sdv_broker_client_errmsg(app), "not an actuator"));

    /* "Values lost" reaches its callback; a process without data returns at once. */
    assert_int_equal(sdv_broker_client_subscribe(app, &ids[2], 1, &lost_hook, on_event, &ev, &sub2),
                     SDV_OK);
    assert_int_equal(sdv_broker_client_process(app, 50), SDV_OK);
    assert_int_equal(ev.lost, 3);
    assert_int_equal(sdv_broker_client_process(app, 0), SDV_OK);

    /* After unsubscribing, no more events. */
    assert_int_equal(sdv_broker_client_unsubscribe(app, sub), SDV_OK);
    assert_int_equal(sdv_broker_client_unsubscribe(app, sub), SDV_ENOENT);
    prov.stop = 1;
    pthread_join(prov.thread, NULL);
    v = f32(51.0f);
    assert_int_equal(sdv_broker_client_publish(prov.c, ids[0], &v, 2000), SDV_OK);
    assert_int_equal(sdv_broker_client_publish_flush(prov.c), SDV_OK);
    /* A publish the broker refuses comes back as an error the next call reports. */
    assert_int_equal(sdv_broker_client_publish(prov.c, 99, &v, 2001), SDV_OK);
    assert_int_equal(sdv_broker_client_publish_flush(prov.c), SDV_OK);
    assert_int_equal(sdv_broker_client_process(prov.c, 100), SDV_OK);
    assert_non_null(strstr(sdv_broker_client_errmsg(prov.c), "404 unknown signal id"));
    assert_int_equal(sdv_broker_client_get(app, ids[0], &v, NULL), SDV_OK); /* round trip */
    assert_true(v.v.f == 51.0f);
    assert_int_equal(ev.n, 2);

    /* The provider goes away: actuation is unavailable. */
    sdv_broker_client_destroy(prov.c);
    v.type = SDV_BROKER_DT_INT8, v.v.i = 20;
    {
        int tries;
        enum sdv_err rc = SDV_OK;

        for (tries = 0; tries < 100; tries++) {
            rc = sdv_broker_client_set(app, ids[1], &v);
            if (rc != SDV_OK)
                break;
            usleep(10000);
        }
        assert_int_equal(rc, SDV_EUNAVAILABLE);
    }
    sdv_broker_client_destroy(other);
    sdv_broker_client_destroy(app);
}

/* Many publishes: frames fill and are sent as they fill; every value arrives, in order. */
static void test_publish_many(void **state)
{
    struct sdv_broker_client *prov = connect_as("p", "good", NULL, NULL, NULL);
    struct sdv_broker_client *app = connect_as("a", "good", NULL, NULL, NULL);
    struct sdv_broker_value v;
    struct events ev = {0};
    uint32_t id = 3, sub, i;
    int64_t ts;

    (void)state;
    assert_int_equal(sdv_broker_client_claim(prov, &id, 1), SDV_OK);
    assert_int_equal(sdv_broker_client_subscribe(app, &id, 1, NULL, on_event, &ev, &sub), SDV_OK);
    for (i = 0; i < 5000; i++) {
        v = f32((float)i);
        assert_int_equal(sdv_broker_client_publish(prov, id, &v, i), SDV_OK);
    }
    assert_int_equal(sdv_broker_client_publish_flush(prov), SDV_OK);
    assert_int_equal(sdv_broker_client_get(prov, id, &v, &ts), SDV_OK);
    assert_true(v.v.f == 4999.0f);
    assert_true(ts == 4999);
    /* The app receives them (its callback keeps the first 16). */
    wait_events(app, &ev, 16);
    assert_true(ev.num[15] == 15.0f);
    sdv_broker_client_destroy(app);
    sdv_broker_client_destroy(prov);
}

static int64_t mono_us(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A provider that takes actuation requests and never answers them, while streaming speed. */
struct streamer {
    struct sdv_broker_client *c;
    volatile int stop;
    int requests;
    pthread_t thread;
};

static void ignore_actuate(void *ud, uint64_t actuation_id, uint32_t signal_id,
                           const struct sdv_broker_value *v)
{
    struct streamer *s = ud;

    (void)actuation_id, (void)signal_id, (void)v;
    s->requests++;
}

static void *streamer_main(void *arg)
{
    struct streamer *s = arg;
    float x = 0;

    while (!s->stop) {
        struct sdv_broker_value v = f32(x++);

        if (sdv_broker_client_publish(s->c, 1, &v, 1) != SDV_OK ||
            sdv_broker_client_publish_flush(s->c) != SDV_OK ||
            sdv_broker_client_process(s->c, 5) != SDV_OK)
            break;
    }
    return NULL;
}

/* With a clock, a blocking call gives up after timeout_ms even though events keep arriving. */
static void test_deadline_with_events(void **state)
{
    struct sdv_broker_client_config cfg = {sock_path, "app", "good", 300, NULL, NULL, NULL};
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_INT8};
    struct streamer st = {0};
    struct events ev = {0};
    struct sdv_broker_client *app = NULL;
    uint32_t ids[2] = {1, 2}, sub;
    char err[256];
    int64_t t0, dt;

    (void)state;
    st.c = connect_as("streamer", "good", ignore_actuate, NULL, &st);
    assert_int_equal(sdv_broker_client_claim(st.c, ids, 2), SDV_OK);
    cfg.clock = mono_us;
    assert_int_equal(sdv_broker_client_connect(&cfg, &app, err, sizeof(err)), SDV_OK);
    assert_int_equal(sdv_broker_client_subscribe(app, &ids[0], 1, NULL, on_event, &ev, &sub),
                     SDV_OK);
    assert_int_equal(pthread_create(&st.thread, NULL, streamer_main, &st), 0);
    v.v.i = 21;
    t0 = mono_us(NULL);
    assert_int_equal(sdv_broker_client_set(app, 2, &v), SDV_EUNAVAILABLE);
    dt = mono_us(NULL) - t0;
    assert_non_null(strstr(sdv_broker_client_errmsg(app), "no answer from the broker within 300"));
    assert_true(dt >= 300000 && dt < 2000000);
    assert_true(ev.n > 0); /* events were delivered while waiting */
    st.stop = 1;
    pthread_join(st.thread, NULL);
    assert_int_equal(st.requests, 1);
    sdv_broker_client_destroy(app);
    sdv_broker_client_destroy(st.c);
}

/* A launcher connects and greets; the app adopts the socket and works on the session. */
struct ended {
    int calls;
    uint32_t sub_id;
    uint16_t status;
    char message[64];
};

static void on_sub_ended(void *ud, uint32_t sub_id, uint16_t status, const char *message)
{
    struct ended *e = ud;

    e->calls++;
    e->sub_id = sub_id;
    e->status = status;
    snprintf(e->message, sizeof(e->message), "%s", message);
}

/* Token renewal on an open session, and subscriptions the broker ends on its own: the callback
 * runs once (also when the notice arrives while a call waits for its answer) and the client
 * forgets the subscription. */
static void test_reauth_and_sub_ended(void **state)
{
    struct sdv_broker_client_config cfg = {sock_path, "renewing-app", "good", 2000,
                                           NULL,      NULL,           NULL};
    struct sdv_broker_client *c = NULL, *prov;
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT};
    struct events ev = {0};
    struct ended e = {0};
    uint32_t id = 1, sub = 0, sub2 = 0;
    char err[256];

    (void)state;
    cfg.ud = &e;
    cfg.on_sub_ended = on_sub_ended;
    assert_int_equal(sdv_broker_client_connect(&cfg, &c, err, sizeof(err)), SDV_OK);
    assert_int_equal(sdv_broker_client_subscribe(c, &id, 1, NULL, on_event, &ev, &sub), SDV_OK);
    /* Accepted: nothing ends. Refused: the reason, and the session goes on. */
    assert_int_equal(sdv_broker_client_reauth(c, "good"), SDV_OK);
    assert_int_equal(sdv_broker_client_reauth(c, "forged"), SDV_EDENIED);
    assert_non_null(strstr(sdv_broker_client_errmsg(c), "invalid token"));
    assert_int_equal(sdv_broker_client_reauth(c, ""), SDV_EINVAL);
    assert_int_equal(sdv_broker_client_reauth(c, NULL), SDV_EINVAL);
    assert_int_equal(e.calls, 0);
    assert_int_equal(sdv_broker_client_subscribe(c, &id, 1, NULL, on_event, &ev, &sub2), SDV_OK);
    /* A renewal that ends both subscriptions: the notices come before the OK. */
    assert_int_equal(sdv_broker_client_reauth(c, "narrow"), SDV_OK);
    assert_int_equal(e.calls, 2);
    assert_int_equal(e.status, 403);
    assert_string_equal(e.message, "no longer granted");
    assert_true(e.sub_id == sub || e.sub_id == sub2);
    assert_int_equal(sdv_broker_client_unsubscribe(c, sub), SDV_ENOENT); /* forgotten */
    assert_int_equal(sdv_broker_client_unsubscribe(c, sub2), SDV_ENOENT);
    /* No event of an ended subscription is delivered (the stand-in stopped sending them). */
    prov = connect_as("speed", "good", NULL, NULL, NULL);
    v.v.f = 42.0f;
    assert_int_equal(sdv_broker_client_publish(prov, 1, &v, 7), SDV_OK);
    assert_int_equal(sdv_broker_client_publish_flush(prov), SDV_OK);
    assert_int_equal(sdv_broker_client_process(c, 100), SDV_OK);
    assert_int_equal(ev.n, 0);
    assert_int_equal(e.calls, 2);
    sdv_broker_client_destroy(prov);
    sdv_broker_client_destroy(c);
}

/* Renewal from outside the session: the handle is the same on every ask; RENEW over a fresh
 * connection (no HELLO) reaches the session that holds the handle, and its refusals come back
 * with their reasons. */
static void test_session_handle_and_renew(void **state)
{
    struct sdv_broker_client_config cfg = {sock_path, "app", "good", 2000, NULL, NULL, NULL};
    struct sdv_broker_client *c = NULL;
    struct events ev = {0};
    struct ended e = {0};
    uint8_t h[SDV_BROKER_SESSION_HANDLE_LEN], h2[SDV_BROKER_SESSION_HANDLE_LEN];
    uint8_t zero[SDV_BROKER_SESSION_HANDLE_LEN] = {0};
    uint32_t id = 1, sub = 0;
    char err[256];

    (void)state;
    cfg.ud = &e;
    cfg.on_sub_ended = on_sub_ended;
    assert_int_equal(sdv_broker_client_connect(&cfg, &c, err, sizeof(err)), SDV_OK);
    assert_int_equal(sdv_broker_client_subscribe(c, &id, 1, NULL, on_event, &ev, &sub), SDV_OK);
    assert_int_equal(sdv_broker_client_session_handle(c, h), SDV_OK);
    assert_int_equal(sdv_broker_client_session_handle(c, h2), SDV_OK);
    assert_memory_equal(h, h2, sizeof(h));
    assert_memory_not_equal(h, zero, sizeof(h));
    /* Accepted, refused (bad token, another subject, unknown handle), bad arguments. */
    assert_int_equal(sdv_broker_client_renew_session(sock_path, h, "good", 2000, err, sizeof(err)),
                     SDV_OK);
    assert_string_equal(err, "");
    assert_int_equal(
            sdv_broker_client_renew_session(sock_path, h, "forged", 2000, err, sizeof(err)),
            SDV_EDENIED);
    assert_non_null(strstr(err, "401 invalid token"));
    assert_int_equal(sdv_broker_client_renew_session(sock_path, h, "other", 2000, err, sizeof(err)),
                     SDV_EDENIED);
    assert_non_null(strstr(err, "403 another subject"));
    assert_int_equal(
            sdv_broker_client_renew_session(sock_path, zero, "good", 2000, err, sizeof(err)),
            SDV_ENOENT);
    assert_non_null(strstr(err, "404 no session with this handle"));
    assert_int_equal(sdv_broker_client_renew_session(sock_path, h, "", 2000, err, sizeof(err)),
                     SDV_EINVAL);
    assert_int_equal(sdv_broker_client_renew_session(sock_path, h, NULL, 2000, err, sizeof(err)),
                     SDV_EINVAL);
    assert_int_equal(sdv_broker_client_renew_session("/nonexistent/broker.sock", h, "good", 2000,
                                                     err, sizeof(err)),
                     SDV_ENET);
    assert_non_null(strstr(err, "/nonexistent/broker.sock"));
    /* The session itself heard nothing so far; a renewal that narrows its grants ends its
     * subscription there, not on the renewing connection. */
    assert_int_equal(sdv_broker_client_process(c, 50), SDV_OK);
    assert_int_equal(e.calls, 0);
    assert_int_equal(
            sdv_broker_client_renew_session(sock_path, h, "narrow", 2000, err, sizeof(err)),
            SDV_OK);
    for (int i = 0; i < 20 && e.calls == 0; i++)
        assert_int_equal(sdv_broker_client_process(c, 100), SDV_OK);
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.sub_id, sub);
    assert_int_equal(e.status, 403);
    sdv_broker_client_destroy(c);
    /* The session is gone: its handle names nothing any more. */
    assert_int_equal(sdv_broker_client_renew_session(sock_path, h, "good", 2000, err, sizeof(err)),
                     SDV_ENOENT);
}

static void test_adopt(void **state)
{
    struct sdv_broker_client_config cfg = {0};
    struct sdv_broker_client *launcher, *app = NULL;
    struct sdv_broker_client_signal sig;
    const char *path = "Vehicle.Speed";
    struct sdv_broker_value v;
    char err[256];
    int fd, p[2];

    (void)state;
    launcher = connect_as("launcher", "good", NULL, NULL, NULL);
    fd = dup(sdv_broker_client_fd(launcher));
    assert_true(fd >= 0);
    sdv_broker_client_destroy(launcher);
    assert_int_equal(sdv_broker_client_adopt(&cfg, fd, &app, err, sizeof(err)), SDV_OK);
    assert_int_equal(sdv_broker_client_fd(app), fd);
    assert_int_equal(sdv_broker_client_lookup(app, &path, 1, &sig), SDV_OK);
    assert_int_equal(sig.id, 1);
    assert_int_equal(sdv_broker_client_get(app, sig.id, &v, NULL), SDV_OK);
    sdv_broker_client_destroy(app);
    /* Not a socket: refused, and the descriptor is closed. */
    assert_int_equal(pipe(p), 0);
    assert_int_equal(sdv_broker_client_adopt(&cfg, p[0], &app, err, sizeof(err)), SDV_EINVAL);
    assert_null(app);
    assert_non_null(strstr(err, "not a stream socket"));
    assert_int_equal(close(p[0]), -1); /* already closed by adopt */
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_refused_connections),
            cmocka_unit_test(test_app_and_provider),
            cmocka_unit_test(test_publish_many),
            cmocka_unit_test(test_deadline_with_events),
            cmocka_unit_test(test_adopt),
            cmocka_unit_test(test_reauth_and_sub_ended),
            cmocka_unit_test(test_session_handle_and_renew),
    };

    return cmocka_run_group_tests(tests, server_start, server_stop);
}
