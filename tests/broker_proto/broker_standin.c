/*
 * broker_standin.c - a small stand-in for sdv-broker speaking the binary protocol on a Unix
 * socket, built from the same codecs, for the client library and CLI tests until the daemon
 * exists (and to test the client against exactly known broker behaviour). Four signals:
 *   1 Vehicle.Speed (float sensor), 2 Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature (int8
 *   actuator), 3 Vehicle.Powertrain.TractionBattery.StateOfCharge.Current (float sensor),
 *   4 Vehicle.Cabin.Infotainment.Media.Played.Track (string sensor).
 * Token "good" is accepted, anything else refused. Claims, get, set routed to the owning
 * provider, publish with fan-out to subscribers (events never block: a slow reader loses them),
 * subscribe/unsubscribe; a subscription with period STANDIN_LOST_HOOK_PERIOD gets a VALUES_LOST
 * notice of 3. AUTH: "good" is accepted (OK), "narrow" too after every subscription of the
 * connection is ended with SUB_ENDED 403, anything else is refused 401. SESSION_HANDLE gives
 * a fixed handle per connection (not random: this is a test double); RENEW, also from a
 * connection without HELLO, applies the token to the session holding the handle as AUTH would
 * ("good", "narrow"), refuses "other" 403 (another subject) and the rest 401, and an unknown
 * handle 404. One thread, poll().
 */
#include "broker_standin.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sdv/broker_proto.h>

/* A broken invariant of the stand-in itself. */
#define CHECK(x)                                                                    \
    do {                                                                            \
        if (!(x)) {                                                                 \
            fprintf(stderr, "broker_standin: %s:%d: %s\n", __FILE__, __LINE__, #x); \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* ---- The broker stand-in ---------------------------------------------------------------- */

#define NSIGNALS 4
#define NCONN    6
#define NSUB     16

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
    bool has_handle;
    uint8_t handle[SDV_BROKER_SESSION_HANDLE_LEN];
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
    CHECK(sdv_broker_msg_encode(m, &b, NULL, 0) == SDV_OK);
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
    CHECK(sdv_broker_msg_encode(m, &b, NULL, 0) == SDV_OK);
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
    if (m->type == SDV_BROKER_MSG_RENEW) {
        int t = -1;

        for (k = 0; k < NCONN; k++)
            if (s->conn[k].fd >= 0 && s->conn[k].has_handle &&
                memcmp(s->conn[k].handle, m->handle, sizeof(m->handle)) == 0)
                t = (int)k;
        if (t < 0) {
            send_error(s, ci, m->request_id, 404, "no session with this handle");
        } else if (m->token.len == 5 && memcmp(m->token.p, "other", 5) == 0) {
            send_error(s, ci, m->request_id, 403, "another subject than the session's");
        } else if (m->token.len == 6 && memcmp(m->token.p, "narrow", 6) == 0) {
            for (k = 0; k < NSUB; k++) {
                if (s->sub[k].conn != t)
                    continue;
                s->sub[k].conn = -1;
                sdv_broker_msg_init(&a, SDV_BROKER_MSG_SUB_ENDED, 0);
                a.sub_id = s->sub[k].id;
                a.status = 403;
                a.message.p = "no longer granted";
                a.message.len = 17;
                send_msg(s, t, &a);
            }
            send_simple(s, ci, SDV_BROKER_MSG_OK, m->request_id);
        } else if (m->token.len != 4 || memcmp(m->token.p, "good", 4) != 0) {
            send_error(s, ci, m->request_id, 401, "invalid token");
        } else {
            send_simple(s, ci, SDV_BROKER_MSG_OK, m->request_id);
        }
        return true;
    }
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
        CHECK(k < 8);
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
        CHECK(k < NSUB);
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
        if (m->filter.period_ms == STANDIN_LOST_HOOK_PERIOD) {
            sdv_broker_msg_init(&a, SDV_BROKER_MSG_VALUES_LOST, 0);
            a.sub_id = s->sub[k].id;
            a.lost = 3;
            send_msg(s, ci, &a);
        }
        return true;
    case SDV_BROKER_MSG_AUTH:
        if (m->token.len == 6 && memcmp(m->token.p, "narrow", 6) == 0) {
            for (k = 0; k < NSUB; k++) {
                if (s->sub[k].conn != ci)
                    continue;
                s->sub[k].conn = -1;
                sdv_broker_msg_init(&a, SDV_BROKER_MSG_SUB_ENDED, 0);
                a.sub_id = s->sub[k].id;
                a.status = 403;
                a.message.p = "no longer granted";
                a.message.len = 17;
                send_msg(s, ci, &a);
            }
        } else if (m->token.len != 4 || memcmp(m->token.p, "good", 4) != 0) {
            send_error(s, ci, m->request_id, 401, "invalid token");
            return true;
        }
        send_simple(s, ci, SDV_BROKER_MSG_OK, m->request_id);
        return true;
    case SDV_BROKER_MSG_SESSION_HANDLE:
        if (!s->conn[ci].has_handle) {
            for (k = 0; k < SDV_BROKER_SESSION_HANDLE_LEN; k++)
                s->conn[ci].handle[k] = (uint8_t)(0x5A ^ (ci * 37) ^ (s->next_sub * 11) ^ k);
            s->conn[ci].has_handle = true;
        }
        sdv_broker_msg_init(&a, SDV_BROKER_MSG_SESSION_HANDLE_OK, m->request_id);
        memcpy(a.handle, s->conn[ci].handle, sizeof(a.handle));
        send_msg(s, ci, &a);
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
                s->conn[i].has_handle = false;
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

int standin_start(const char *socket_path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int i;

    memset(&srv, 0, sizeof(srv));
    signal(SIGPIPE, SIG_IGN); /* a write to a client that left fails instead */
    if (strlen(socket_path) >= sizeof(sun.sun_path))
        return -1;
    snprintf(srv.path, sizeof(srv.path), "%s", socket_path);
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
    srv.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (srv.lfd < 0 || bind(srv.lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
        listen(srv.lfd, 8) != 0 || pipe(srv.wake) != 0)
        return -1;
    return pthread_create(&srv.thread, NULL, server_main, &srv) == 0 ? 0 : -1;
}

void standin_stop(void)
{
    int i;

    if (write(srv.wake[1], "x", 1) != 1)
        abort();
    pthread_join(srv.thread, NULL);
    for (i = 0; i < NCONN; i++)
        if (srv.conn[i].fd >= 0)
            drop_conn(&srv, i);
    close(srv.lfd);
    close(srv.wake[0]);
    close(srv.wake[1]);
    unlink(srv.path);
}
