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

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sdv/broker_client.h>

/* ---- The broker stand-in ---------------------------------------------------------------- */

#define NSIGNALS         4
#define NCONN            6
#define NSUB             16
#define LOST_HOOK_PERIOD 999u /* a subscription with this period gets a VALUES_LOST notice */

struct sig {
    const char *path;
    enum sdv_broker_datatype dt;
    enum sdv_broker_kind kind;
    struct sdv_broker_value v;
    char str[64];
    int64_t ts;
    int owner; /* connection index, -1 none */
};

struct conn {
    int fd;
    struct sdv_broker_decoder *dec;
    bool hello;
};

struct server {
    int lfd, wake[2];
    char path[108];
    struct sig sig[NSIGNALS + 1]; /* ids 1..NSIGNALS */
    struct conn conn[NCONN];
    struct {
        int conn;
        uint32_t id;
        uint32_t ids[NSIGNALS + 1];
    } sub[NSUB];
    uint32_t next_sub;
    struct {
        uint64_t id;
        int conn, provider;
        uint32_t request_id;
    } pending[8];
    uint64_t next_actuation;
    pthread_t thread;
    struct sdv_broker_entry entries[SDV_BROKER_BATCH_MAX];
};

/* Sends m to connection ci; false if the peer is gone. */
static bool send_msg(struct server *s, int ci, struct sdv_broker_msg *m)
{
    struct sdv_buf b;
    bool ok;

    sdv_buf_init(&b, 1u << 20);
    assert_int_equal(sdv_broker_msg_encode(m, &b, NULL, 0), SDV_OK);
    ok = sdv_fs_write_all(s->conn[ci].fd, b.data, b.len) == SDV_OK;
    sdv_buf_free(&b);
    return ok;
}

static void drop_conn(struct server *s, int ci);

/* Events never block the stand-in (as in the real broker, a slow reader loses them). */
static void send_event(struct server *s, int ci, struct sdv_broker_msg *m)
{
    struct sdv_buf b;
    ssize_t w;

    sdv_buf_init(&b, 1u << 20);
    assert_int_equal(sdv_broker_msg_encode(m, &b, NULL, 0), SDV_OK);
    w = send(s->conn[ci].fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);

    /* Whole frames only: a frame the socket took in part is completed. */
    if (w > 0 && (size_t)w < b.len)
        (void)sdv_fs_write_all(s->conn[ci].fd, b.data + w, b.len - (size_t)w);
    sdv_buf_free(&b);
}

static void send_error(struct server *s, int ci, uint32_t rid, uint16_t status, const char *text)
{
    struct sdv_broker_msg m;

    sdv_broker_msg_init(&m, SDV_BROKER_MSG_ERROR, rid);
    m.status = status;
    m.message.p = text;
    m.message.len = (uint32_t)strlen(text);
    send_msg(s, ci, &m);
}

static void send_simple(struct server *s, int ci, uint8_t type, uint32_t rid)
{
    struct sdv_broker_msg m;

    sdv_broker_msg_init(&m, type, rid);
    send_msg(s, ci, &m);
}

static uint32_t find_path(struct server *s, struct sdv_broker_str p)
{
    uint32_t i;

    for (i = 1; i <= NSIGNALS; i++)
        if (strlen(s->sig[i].path) == p.len && memcmp(s->sig[i].path, p.p, p.len) == 0)
            return i;
    return 0;
}

static void drop_conn(struct server *s, int ci)
{
    uint32_t i;

    close(s->conn[ci].fd);
    s->conn[ci].fd = -1;
    sdv_broker_decoder_destroy(s->conn[ci].dec);
    s->conn[ci].dec = NULL;
    for (i = 1; i <= NSIGNALS; i++)
        if (s->sig[i].owner == ci)
            s->sig[i].owner = -1;
    for (i = 0; i < NSUB; i++)
        if (s->sub[i].conn == ci)
            s->sub[i].conn = -1;
    /* Actuations waiting for this provider fail; those this client asked for are forgotten. */
    for (i = 0; i < 8; i++) {
        if (s->pending[i].conn < 0)
            continue;
        if (s->pending[i].provider == ci && s->pending[i].conn != ci)
            send_error(s, s->pending[i].conn, s->pending[i].request_id, 503, "provider went away");
        if (s->pending[i].provider == ci || s->pending[i].conn == ci)
            s->pending[i].conn = -1;
    }
}

/* Handles one parsed request of connection ci; false closes the connection. */
static bool handle(struct server *s, int ci, struct sdv_broker_msg *m)
{
    struct sdv_broker_msg a;
    struct sdv_broker_entry out[NSIGNALS + 2];
    uint32_t i, k, id;

    memset(out, 0, sizeof(out));
    if (!s->conn[ci].hello && m->type != SDV_BROKER_MSG_HELLO) {
        send_error(s, ci, m->request_id, 401, "hello first");
        return false;
    }
    switch (m->type) {
    case SDV_BROKER_MSG_HELLO:
        if (m->token.len != 4 || memcmp(m->token.p, "good", 4) != 0) {
            send_error(s, ci, m->request_id, 401, "invalid token");
            return false;
        }
        s->conn[ci].hello = true;
        sdv_broker_msg_init(&a, SDV_BROKER_MSG_HELLO_OK, m->request_id);
        a.version = 1;
        a.payload_max = SDV_BROKER_FRAME_PAYLOAD_MAX;
        send_msg(s, ci, &a);
        return true;
    case SDV_BROKER_MSG_LOOKUP:
    case SDV_BROKER_MSG_CLAIM:
        for (i = 0; i < m->n_entries && i < NSIGNALS + 2; i++) {
            id = m->entries[i].id != 0 ? m->entries[i].id : find_path(s, m->entries[i].path);
            if (id == 0 || id > NSIGNALS) {
                out[i].status = 404;
                continue;
            }
            if (m->type == SDV_BROKER_MSG_CLAIM && s->sig[id].owner >= 0 &&
                s->sig[id].owner != ci) {
                send_error(s, ci, m->request_id, 409, "owned by another provider");
                return true;
            }
            out[i].id = id;
            out[i].datatype = (uint8_t)s->sig[id].dt;
            out[i].entry_type = (uint8_t)s->sig[id].kind;
        }
        if (m->type == SDV_BROKER_MSG_CLAIM)
            for (i = 0; i < m->n_entries; i++)
                if (out[i].id != 0)
                    s->sig[out[i].id].owner = ci;
        sdv_broker_msg_init(&a, SDV_BROKER_MSG_LOOKUP_RESULT, m->request_id);
        a.entries = out;
        a.n_entries = m->n_entries;
        send_msg(s, ci, &a);
        return true;
    case SDV_BROKER_MSG_GET:
        for (i = 0; i < m->n_entries && i < NSIGNALS + 2; i++) {
            id = m->entries[i].id;
            if (id == 0 || id > NSIGNALS) {
                out[i].status = 404;
                continue;
            }
            out[i].id = id;
            out[i].ts_us = s->sig[id].ts;
            out[i].value = s->sig[id].v;
        }
        sdv_broker_msg_init(&a, SDV_BROKER_MSG_GET_RESULT, m->request_id);
        a.entries = out;
        a.n_entries = m->n_entries;
        send_msg(s, ci, &a);
        return true;
    case SDV_BROKER_MSG_SET:
        id = m->entries[0].id;
        if (id == 0 || id > NSIGNALS) {
            send_error(s, ci, m->request_id, 404, "unknown signal");
            return true;
        }
        if (s->sig[id].kind != SDV_BROKER_KIND_ACTUATOR) {
            send_error(s, ci, m->request_id, 400, "not an actuator");
            return true;
        }
        if (s->sig[id].owner < 0) {
            send_error(s, ci, m->request_id, 503, "no provider");
            return true;
        }
        for (k = 0; k < 8 && s->pending[k].conn >= 0; k++)
            ;
        assert_true(k < 8);
        s->pending[k].id = ++s->next_actuation;
        s->pending[k].conn = ci;
        s->pending[k].provider = s->sig[id].owner;
        s->pending[k].request_id = m->request_id;
        sdv_broker_msg_init(&a, SDV_BROKER_MSG_ACTUATE, 0);
        a.actuation_id = s->pending[k].id;
        a.entries = m->entries;
        a.n_entries = 1;
        if (!send_msg(s, s->sig[id].owner, &a))
            drop_conn(s, s->sig[id].owner); /* answers 503 to the requester */
        return true;
    case SDV_BROKER_MSG_ACTUATE_REPLY:
        for (k = 0; k < 8; k++) {
            if (s->pending[k].conn < 0 || s->pending[k].id != m->actuation_id)
                continue;
            if (m->status == 0)
                send_simple(s, s->pending[k].conn, SDV_BROKER_MSG_OK, s->pending[k].request_id);
            else {
                char text[128];

                snprintf(text, sizeof(text), "rejected: %.*s", (int)m->message.len, m->message.p);
                send_error(s, s->pending[k].conn, s->pending[k].request_id, m->status, text);
            }
            s->pending[k].conn = -1;
        }
        return true;
    case SDV_BROKER_MSG_PUBLISH:
        for (i = 0; i < m->n_entries; i++) {
            struct sdv_broker_entry *e = &m->entries[i];

            if (e->id == 0 || e->id > NSIGNALS) {
                send_error(s, ci, m->request_id, 404, "unknown signal id");
                continue;
            }
            s->sig[e->id].v = e->value;
            if (e->value.type == SDV_BROKER_DT_STRING) {
                memcpy(s->sig[e->id].str, e->value.v.p, e->value.len);
                s->sig[e->id].v.v.p = s->sig[e->id].str;
            }
            s->sig[e->id].ts = e->ts_us;
            for (k = 0; k < NSUB; k++) {
                if (s->sub[k].conn < 0 || !s->sub[k].ids[e->id])
                    continue;
                sdv_broker_msg_init(&a, SDV_BROKER_MSG_EVENT, 0);
                a.sub_id = s->sub[k].id;
                a.entries = e;
                a.n_entries = 1;
                send_event(s, s->sub[k].conn, &a);
            }
        }
        return true;
    case SDV_BROKER_MSG_SUBSCRIBE:
        for (k = 0; k < NSUB && s->sub[k].conn >= 0; k++)
            ;
        assert_true(k < NSUB);
        memset(s->sub[k].ids, 0, sizeof(s->sub[k].ids));
        for (i = 0; i < m->n_entries; i++) {
            if (m->entries[i].id == 0 || m->entries[i].id > NSIGNALS) {
                send_error(s, ci, m->request_id, 404, "unknown signal");
                return true;
            }
            s->sub[k].ids[m->entries[i].id] = 1;
            out[i].id = m->entries[i].id;
        }
        s->sub[k].conn = ci;
        s->sub[k].id = ++s->next_sub;
        sdv_broker_msg_init(&a, SDV_BROKER_MSG_SUBSCRIBED, m->request_id);
        a.sub_id = s->sub[k].id;
        a.entries = out;
        a.n_entries = m->n_entries;
        send_msg(s, ci, &a);
        if (m->filter.period_ms == LOST_HOOK_PERIOD) {
            sdv_broker_msg_init(&a, SDV_BROKER_MSG_VALUES_LOST, 0);
            a.sub_id = s->sub[k].id;
            a.lost = 3;
            send_msg(s, ci, &a);
        }
        return true;
    case SDV_BROKER_MSG_UNSUBSCRIBE:
        for (k = 0; k < NSUB; k++)
            if (s->sub[k].conn == ci && s->sub[k].id == m->sub_id)
                s->sub[k].conn = -1;
        send_simple(s, ci, SDV_BROKER_MSG_OK, m->request_id);
        return true;
    default:
        send_error(s, ci, m->request_id, 400, "unexpected message");
        return true;
    }
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    uint8_t buf[4096];

    for (;;) {
        struct pollfd pfd[NCONN + 2];
        int n = 0, i, map[NCONN + 2];

        pfd[n].fd = s->wake[0], pfd[n].events = POLLIN, map[n++] = -2;
        pfd[n].fd = s->lfd, pfd[n].events = POLLIN, map[n++] = -1;
        for (i = 0; i < NCONN; i++)
            if (s->conn[i].fd >= 0)
                pfd[n].fd = s->conn[i].fd, pfd[n].events = POLLIN, map[n++] = i;
        if (poll(pfd, (nfds_t)n, -1) <= 0)
            continue;
        if (pfd[0].revents)
            return NULL;
        if (pfd[1].revents & POLLIN) {
            int fd = accept(s->lfd, NULL, NULL);

            for (i = 0; i < NCONN && s->conn[i].fd >= 0; i++)
                ;
            if (fd >= 0 && i < NCONN) {
                s->conn[i].fd = fd;
                s->conn[i].hello = false;
                sdv_broker_decoder_create(0, &s->conn[i].dec);
            } else if (fd >= 0) {
                close(fd);
            }
        }
        for (i = 2; i < n; i++) {
            int ci = map[i];
            ssize_t r;
            size_t off = 0;
            bool keep = true;

            if (!(pfd[i].revents & (POLLIN | POLLHUP)))
                continue;
            r = read(s->conn[ci].fd, buf, sizeof(buf));
            if (r <= 0) {
                drop_conn(s, ci);
                continue;
            }
            while (keep && off < (size_t)r) {
                struct sdv_broker_frame f;
                struct sdv_broker_msg m;
                size_t used;
                bool complete;

                if (sdv_broker_decoder_feed(s->conn[ci].dec, buf + off, (size_t)r - off, &used, &f,
                                            &complete) != SDV_OK) {
                    keep = false;
                    break;
                }
                off += used;
                if (!complete)
                    continue;
                if (sdv_broker_msg_parse(&f, &m, s->entries, SDV_BROKER_BATCH_MAX, NULL, 0) !=
                    SDV_OK) {
                    send_error(s, ci, f.request_id, 400, "malformed");
                    continue;
                }
                keep = handle(s, ci, &m);
            }
            if (!keep)
                drop_conn(s, ci);
        }
    }
}

static struct server srv;

static int server_start(void **state)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char dir[] = "/tmp/sdv-broker-client-XXXXXX";
    int i;

    (void)state;
    memset(&srv, 0, sizeof(srv));
    signal(SIGPIPE, SIG_IGN); /* a write to a client that left fails instead */
    assert_non_null(mkdtemp(dir));
    snprintf(srv.path, sizeof(srv.path), "%s/broker.sock", dir);
    srv.sig[1] = (struct sig){"Vehicle.Speed", SDV_BROKER_DT_FLOAT, SDV_BROKER_KIND_SENSOR};
    srv.sig[2] = (struct sig){"Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
                              SDV_BROKER_DT_INT8, SDV_BROKER_KIND_ACTUATOR};
    srv.sig[3] = (struct sig){"Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
                              SDV_BROKER_DT_FLOAT, SDV_BROKER_KIND_SENSOR};
    srv.sig[4] = (struct sig){"Vehicle.Cabin.Infotainment.Media.Played.Track", SDV_BROKER_DT_STRING,
                              SDV_BROKER_KIND_SENSOR};
    for (i = 1; i <= NSIGNALS; i++)
        srv.sig[i].owner = -1;
    for (i = 0; i < NCONN; i++)
        srv.conn[i].fd = -1;
    for (i = 0; i < NSUB; i++)
        srv.sub[i].conn = -1;
    for (i = 0; i < 8; i++)
        srv.pending[i].conn = -1;
    memcpy(sun.sun_path, srv.path, strlen(srv.path) + 1);
    srv.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(srv.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(listen(srv.lfd, 8), 0);
    assert_int_equal(pipe(srv.wake), 0);
    assert_int_equal(pthread_create(&srv.thread, NULL, server_main, &srv), 0);
    return 0;
}

static int server_stop(void **state)
{
    char dir[108];
    int i;

    (void)state;
    assert_int_equal(write(srv.wake[1], "x", 1), 1);
    pthread_join(srv.thread, NULL);
    for (i = 0; i < NCONN; i++)
        if (srv.conn[i].fd >= 0)
            drop_conn(&srv, i);
    close(srv.lfd);
    close(srv.wake[0]);
    close(srv.wake[1]);
    unlink(srv.path);
    snprintf(dir, sizeof(dir), "%s", srv.path);
    *strrchr(dir, '/') = '\0';
    rmdir(dir);
    return 0;
}

/* ---- Clients ---------------------------------------------------------------------------- */

static struct sdv_broker_client *connect_as(const char *name, const char *token,
                                            sdv_broker_client_actuate_fn on_actuate,
                                            sdv_broker_client_lost_fn on_lost, void *ud)
{
    struct sdv_broker_client_config cfg = {srv.path, name, token, 2000, on_actuate, on_lost, ud};
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
    struct sdv_broker_client_config cfg = {srv.path, "app", "bad", 2000, NULL, NULL, NULL};
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
    struct sdv_broker_filter lost_hook = {.period_ms = LOST_HOOK_PERIOD};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_refused_connections),
            cmocka_unit_test(test_app_and_provider),
            cmocka_unit_test(test_publish_many),
    };

    return cmocka_run_group_tests(tests, server_start, server_stop);
}
