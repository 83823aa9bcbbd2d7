/*
 * broker_bench.c - sdv-broker publish-to-delivery latency and throughput, like KUKSA's
 * databroker-perf: a provider publishes a group of signals every cycle (paced) or as fast as it
 * can (saturated); a subscriber to all of them stamps each delivery against the publish time.
 * A floor (a minimal C relay process between two Unix sockets) and three transports, one after
 * the other in the same run and on the same machine:
 *   - sdv-broker, provider and subscriber on the Unix socket (client library);
 *   - sdv-broker, provider on the Unix socket, subscriber over VISS v3 WebSocket (lws client);
 *   - Eclipse Mosquitto (Debian's), publisher and subscriber over TCP loopback (libmosquitto),
 *     one QoS 0 message per update carrying the same 12 bytes (time stamp and value).
 * Then a low-latency pass for the floor and the Unix rows: the daemon restarted with
 * cpu_latency_us (and busy_poll_us if asked), the subscriber's client library with busy_poll_us,
 * the floor's relay and subscriber tuned alike.
 * Prints p50/p95/p99/p99.9/max and rates, the ratio of p99s, and the issue's targets (local p99
 * under 100 us at 100,000 updates/s; a lower p99 than Mosquitto on the same load).
 *
 * Usage: broker_bench BIN_DIR VSS_JSON [--quick] [--rate N] [--seconds S] [--signals K]
 *                    [--cpu-latency-us N] [--busy-poll-us N] [--client-busy-poll-us N]
 *   (the low-latency pass: defaults 0, 0 and 1000: a PM QoS request, the subscriber spinning)
 * BIN_DIR holds sdv, sdv-broker; mosquitto is looked up in PATH and /usr/sbin.
 * Benchmarks are programs: they may print, read the clock and exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sdv/broker_client.h>

#include "bench_util.h"

#define SIGNALS_MAX 1000

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
    fprintf(stderr, "broker_bench: %s\n", what);
    exit(1);
}

struct result;
static void print_result(const struct result *r);

/* ---- Latency samples ---------------------------------------------------------------------- */

struct samples {
    int64_t *v;
    size_t n, cap;
    _Atomic uint64_t got;
    uint64_t lost;
};

static void samples_init(struct samples *s, size_t cap)
{
    s->v = malloc(cap * sizeof(int64_t));
    if (s->v == NULL)
        die("out of memory");
    s->n = 0;
    s->cap = cap;
    atomic_store(&s->got, 0);
    s->lost = 0;
}

static void samples_add(struct samples *s, int64_t lat)
{
    if (s->n < s->cap)
        s->v[s->n++] = lat;
    atomic_fetch_add(&s->got, 1);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

struct result {
    const char *name;
    double sent_per_s, got_per_s;
    double p50, p95, p99, p999, max;
    uint64_t sent, got, lost;
};

static double pct(const struct samples *s, double p)
{
    size_t i;

    if (s->n == 0)
        return NAN;
    i = (size_t)(p * (double)(s->n - 1) + 0.5);
    return (double)s->v[i];
}

static void finish(struct result *r, struct samples *s, uint64_t sent, double secs)
{
    qsort(s->v, s->n, sizeof(int64_t), cmp_i64);
    r->sent = sent;
    r->got = atomic_load(&s->got);
    r->lost = s->lost;
    r->sent_per_s = (double)sent / secs;
    r->got_per_s = (double)r->got / secs;
    r->p50 = pct(s, 0.50);
    r->p95 = pct(s, 0.95);
    r->p99 = pct(s, 0.99);
    r->p999 = pct(s, 0.999);
    r->max = s->n ? (double)s->v[s->n - 1] : NAN;
    free(s->v);
    s->v = NULL;
}

/* ---- Load shape ------------------------------------------------------------------------- */

struct load {
    long rate;    /* updates per second; 0: saturated */
    double secs;  /* duration */
    int signals;  /* signals per group */
    int cycle_us; /* paced: one group every cycle */
};

/* Calls publish(ctx, signal index, ts, value) for every update of the run and flush(ctx) after
 * each group; returns the number of updates sent. */
typedef int (*publish_fn)(void *ctx, int idx, int64_t ts, float value);
typedef int (*flush_fn)(void *ctx);

static uint64_t drive(const struct load *l, void *ctx, publish_fn pub, flush_fn flush)
{
    double t0 = bench_now_s(), next = t0;
    uint64_t sent = 0;
    long per_cycle = l->rate > 0 ? l->rate * l->cycle_us / 1000000 : l->signals;
    int idx = 0;

    if (per_cycle < 1)
        per_cycle = 1;
    while (bench_now_s() - t0 < l->secs) {
        if (l->rate > 0) {
            /* Sleep to the cycle's start, never spin: a spinning publisher would take one of
             * the machine's two cores from the broker and the subscriber. Latency is stamped
             * after the wake-up, so the sleep's own lateness does not count. */
            struct timespec at = {(time_t)next, (long)((next - (double)(time_t)next) * 1e9)};

            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
                ;
            next += (double)l->cycle_us / 1e6;
        }
        for (long i = 0; i < per_cycle; i++) {
            if (pub(ctx, idx, now_us(), (float)(sent % 1000)) != 0)
                return sent;
            idx = (idx + 1) % l->signals;
            sent++;
        }
        if (flush(ctx) != 0)
            return sent;
    }
    return sent;
}

/* ---- sdv-broker over the Unix socket ------------------------------------------------------ */

struct sdv_pub {
    struct sdv_broker_client *c;
    uint32_t ids[SIGNALS_MAX];
};

static int sdv_publish(void *ctx, int idx, int64_t ts, float value)
{
    struct sdv_pub *p = ctx;
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT, .count = 1};

    v.v.f = value;
    return sdv_broker_client_publish(p->c, p->ids[idx], &v, ts) == SDV_OK ? 0 : -1;
}

static int sdv_flush(void *ctx)
{
    struct sdv_pub *p = ctx;

    /* Answers (refusals only) and nothing else arrive for the provider: read them so the socket
     * never fills. */
    sdv_broker_client_process(p->c, 0);
    return sdv_broker_client_publish_flush(p->c) == SDV_OK ? 0 : -1;
}

struct sdv_sub {
    struct sdv_broker_client *c;
    struct samples *s;
    atomic_int stop;
};

static void sdv_on_event(void *ud, uint32_t sub_id, uint32_t signal_id,
                         const struct sdv_broker_value *value, int64_t ts_us)
{
    struct sdv_sub *s = ud;

    (void)sub_id;
    (void)signal_id;
    (void)value;
    samples_add(s->s, now_us() - ts_us);
}

static void sdv_on_lost(void *ud, uint32_t sub_id, uint32_t lost)
{
    struct samples *s = ud;

    (void)sub_id;
    s->lost += lost;
}

static void *sdv_sub_thread(void *arg)
{
    struct sdv_sub *s = arg;

    while (!atomic_load(&s->stop)) {
        if (sdv_broker_client_process(s->c, 50) != SDV_OK)
            break;
    }
    return NULL;
}

/* The low-latency pass: clients (and the floor's subscriber) read without sleeping for this
 * long before they block; the floor's relay, like the daemon, for g_relay_busy_poll_us (0: off). */
static long g_busy_poll_us, g_relay_busy_poll_us;

static int64_t mono_us(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct sdv_broker_client *sdv_connect(const char *sock, const char *token,
                                             struct samples *lost_to)
{
    struct sdv_broker_client_config cfg;
    struct sdv_broker_client *c;
    char err[256];

    memset(&cfg, 0, sizeof(cfg));
    cfg.socket_path = sock;
    cfg.token = token;
    cfg.name = "broker_bench";
    cfg.on_lost = sdv_on_lost;
    cfg.ud = lost_to;
    cfg.clock = mono_us;
    cfg.busy_poll_us = (uint32_t)g_busy_poll_us;
    if (sdv_broker_client_connect(&cfg, &c, err, sizeof(err)) != SDV_OK)
        die(err);
    return c;
}

/* ---- VISS WebSocket subscriber (lws client) ----------------------------------------------- */

struct ws_sub {
    struct lws_context *ctx;
    struct samples *s;
    const char *token;
    char sub_path[64];
    struct sdv_buf rx;
    atomic_int stop, subscribed;
    bool sent;
};

static int64_t parse_viss_ts(const char *t)
{
    static __thread char last[20];
    static __thread int64_t last_s;
    struct tm tm;
    int us = 0, n = 0;

    /* timegm() per data point would make the subscriber the bottleneck: the seconds part
     * repeats, so it is converted once per second. */
    if (strlen(t) > 20 && memcmp(t, last, 19) == 0 && t[19] == '.') {
        for (int i = 20; i < 26 && t[i] >= '0' && t[i] <= '9'; i++)
            us = us * 10 + (t[i] - '0');
        return last_s * 1000000 + us;
    }
    memset(&tm, 0, sizeof(tm));
    if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%6d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us, &n) < 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    memcpy(last, t, 19);
    last_s = (int64_t)timegm(&tm);
    return last_s * 1000000 + us;
}

/* The first occurrence of key (n bytes) in [p, end), or NULL. */
static const char *find_bytes(const char *p, const char *end, const char *key, size_t n)
{
    while ((size_t)(end - p) >= n) {
        const char *q = memchr(p, key[0], (size_t)(end - p) - n + 1);

        if (q == NULL)
            return NULL;
        if (memcmp(q, key, n) == 0)
            return q;
        p = q + 1;
    }
    return NULL;
}

/* Notifications are scanned, not parsed: a JSON parser's allocations per data point made the
 * subscriber, not the broker, the limit of the saturated WebSocket row. The scan is exact for
 * what the broker writes: a raw '"' cannot occur inside a JSON string, so "dp":{ and "ts":"
 * only match members. Other messages (answers, lost-only notifications) are parsed. */
static void ws_note(struct ws_sub *w, const char *text, size_t len)
{
    static const char dp_key[] = "\"dp\":{", ts_key[] = "\"ts\":\"", lost_key[] = ",\"lost\":";
    const char *p = text, *end = text + len, *q;
    int64_t now = now_us();
    json_t *root;

    if (len > 25 && memcmp(text, "{\"action\":\"subscription\",", 25) == 0 &&
        find_bytes(text, end, dp_key, sizeof(dp_key) - 1) != NULL) {
        while ((q = find_bytes(p, end, dp_key, sizeof(dp_key) - 1)) != NULL) {
            p = q + sizeof(dp_key) - 1;
            q = find_bytes(p, end, ts_key, sizeof(ts_key) - 1);
            if (q == NULL || end - q < 40)
                break;
            {
                char ts[32];

                p = q + sizeof(ts_key) - 1;
                memcpy(ts, p, 27);
                ts[27] = '\0';
                samples_add(w->s, now - parse_viss_ts(ts));
            }
        }
        q = find_bytes(text, end, lost_key, sizeof(lost_key) - 1);
        if (q != NULL)
            w->s->lost += strtoull(q + sizeof(lost_key) - 1, NULL, 10);
        return;
    }
    root = json_loadb(text, len, 0, NULL);
    if (root == NULL)
        return;
    if (json_object_get(root, "subscriptionId") != NULL && json_object_get(root, "data") == NULL &&
        json_object_get(root, "error") == NULL)
        atomic_store(&w->subscribed, 1);
    if (json_is_integer(json_object_get(root, "lost")))
        w->s->lost += (uint64_t)json_integer_value(json_object_get(root, "lost"));
    json_decref(root);
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    struct ws_sub *w = lws_context_user(lws_get_context(wsi));

    (void)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!w->sent) {
            char buf[LWS_PRE + 16384];
            int n = snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE,
                             "{\"action\":\"subscribe\",\"path\":\"%s\",\"requestId\":\"1\","
                             "\"authorization\":\"%s\"}",
                             w->sub_path, w->token);

            w->sent = true;
            if (lws_write(wsi, (unsigned char *)buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n)
                return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        sdv_buf_append(&w->rx, in, len);
        if (lws_is_final_fragment(wsi)) {
            ws_note(w, (const char *)w->rx.data, w->rx.len);
            sdv_buf_reset(&w->rx);
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
        atomic_store(&w->stop, 1);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols ws_protocols[] = {
        {"VISSv3", ws_cb, 0, 65536, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *ws_thread(void *arg)
{
    struct ws_sub *w = arg;

    while (!atomic_load(&w->stop))
        lws_service(w->ctx, 0);
    return NULL;
}

static void ws_start(struct ws_sub *w, int port, pthread_t *th)
{
    struct lws_context_creation_info info;
    struct lws_client_connect_info ci;

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = ws_protocols;
    info.user = w;
    sdv_buf_init(&w->rx, 1u << 22);
    w->ctx = lws_create_context(&info);
    if (w->ctx == NULL)
        die("lws client context");
    memset(&ci, 0, sizeof(ci));
    ci.context = w->ctx;
    ci.address = "127.0.0.1";
    ci.port = port;
    ci.path = "/";
    ci.host = "127.0.0.1";
    ci.origin = "127.0.0.1";
    ci.protocol = "VISSv3";
    if (lws_client_connect_via_info(&ci) == NULL)
        die("lws client connect");
    pthread_create(th, NULL, ws_thread, w);
    for (int i = 0; i < 500 && !atomic_load(&w->subscribed); i++)
        usleep(10000);
    if (!atomic_load(&w->subscribed))
        die("WebSocket subscription did not start");
}

/* ---- Mosquitto ----------------------------------------------------------------------------- */

struct mq_pub {
    struct mosquitto *m;
    char topics[SIGNALS_MAX][32];
};

static int mq_publish(void *ctx, int idx, int64_t ts, float value)
{
    struct mq_pub *p = ctx;
    uint8_t payload[12];

    memcpy(payload, &ts, 8);
    memcpy(payload + 8, &value, 4);
    return mosquitto_publish(p->m, NULL, p->topics[idx], 12, payload, 0, false) == MOSQ_ERR_SUCCESS
                   ? 0
                   : -1;
}

static int mq_flush(void *ctx)
{
    (void)ctx;
    return 0;
}

static void mq_on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    struct samples *s = ud;
    int64_t ts;

    (void)m;
    if (msg->payloadlen != 12)
        return;
    memcpy(&ts, msg->payload, 8);
    samples_add(s, now_us() - ts);
}

static atomic_int mq_subscribed;

static void mq_on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *qos)
{
    (void)m;
    (void)ud;
    (void)mid;
    (void)n;
    (void)qos;
    atomic_store(&mq_subscribed, 1);
}

/* ---- Floor: a minimal relay process over Unix sockets -------------------------------------- */

/*
 * What any broker on this machine pays at least: the same groups of 12-byte updates (time stamp
 * and value) written by the publisher in one write per group, relayed by a separate process that
 * only does blocking poll + read + write (no decoding, no routing), read by a subscriber thread
 * that stamps each update. Two wake-ups and two socket copies, like publisher -> broker ->
 * subscriber.
 */
#define RELAY_REC 12

/* Reads like read(), but first without sleeping for g_busy_poll_us (as the client library's
 * busy_poll_us does), then blocking in poll() for up to timeout_ms; 0 bytes with errno EAGAIN
 * when nothing came. */
static ssize_t spin_read(int fd, uint8_t *buf, size_t len, int timeout_ms, long busy_us)
{
    struct pollfd pfd = {fd, POLLIN, 0};

    if (busy_us > 0) {
        int64_t end = mono_us(NULL) + busy_us;

        do {
            ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

            if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                return n;
        } while (mono_us(NULL) < end);
    }
    if (poll(&pfd, 1, timeout_ms) <= 0) {
        errno = EAGAIN;
        return -1;
    }
    return read(fd, buf, len);
}

static void relay_loop(int in, int out)
{
    static uint8_t buf[65536];

    for (;;) {
        ssize_t n, off = 0;

        n = spin_read(in, buf, sizeof(buf), -1, g_relay_busy_poll_us);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0)
            _exit(0);
        while (off < n) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));

            if (w <= 0)
                _exit(0);
            off += w;
        }
    }
}

struct relay_pub {
    int fd;
    uint8_t buf[SIGNALS_MAX * RELAY_REC];
    size_t len;
};

static int relay_publish(void *ctx, int idx, int64_t ts, float value)
{
    struct relay_pub *p = ctx;

    (void)idx;
    if (p->len + RELAY_REC > sizeof(p->buf))
        return -1;
    memcpy(p->buf + p->len, &ts, 8);
    memcpy(p->buf + p->len + 8, &value, 4);
    p->len += RELAY_REC;
    return 0;
}

static int relay_flush(void *ctx)
{
    struct relay_pub *p = ctx;
    size_t off = 0;

    while (off < p->len) {
        ssize_t w = write(p->fd, p->buf + off, p->len - off);

        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    p->len = 0;
    return 0;
}

struct relay_sub {
    int fd;
    struct samples *s;
    atomic_int stop;
};

static void *relay_sub_thread(void *arg)
{
    struct relay_sub *r = arg;
    static uint8_t buf[65536 + RELAY_REC];
    size_t have = 0;

    while (!atomic_load(&r->stop)) {
        ssize_t n;
        size_t off = 0;

        n = spin_read(r->fd, buf + have, sizeof(buf) - have, 50, g_busy_poll_us);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        for (; have - off >= RELAY_REC; off += RELAY_REC) {
            int64_t ts;

            memcpy(&ts, buf + off, 8);
            samples_add(r->s, now_us() - ts);
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    return NULL;
}

/* Runs the load through a forked relay process; the result row is named name. */
static void run_floor(const struct load *l, size_t cap, const char *name, struct result *res)
{
    int up[2], down[2];
    struct samples s;
    struct relay_pub *pub;
    struct relay_sub sub;
    pthread_t th;
    pid_t relay;
    double t0;
    uint64_t sent;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, up) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM, 0, down) != 0)
        die("socketpair");
    relay = fork();
    if (relay < 0)
        die("fork");
    if (relay == 0) {
        close(up[0]);
        close(down[1]);
        relay_loop(up[1], down[0]);
    }
    close(up[1]);
    close(down[0]);
    pub = calloc(1, sizeof(*pub));
    if (pub == NULL)
        die("out of memory");
    pub->fd = up[0];
    samples_init(&s, cap);
    memset(&sub, 0, sizeof(sub));
    sub.fd = down[1];
    sub.s = &s;
    pthread_create(&th, NULL, relay_sub_thread, &sub);
    usleep(50000);
    t0 = bench_now_s();
    sent = drive(l, pub, relay_publish, relay_flush);
    usleep(200000);
    atomic_store(&sub.stop, 1);
    pthread_join(th, NULL);
    close(up[0]);
    close(down[1]);
    waitpid(relay, NULL, 0);
    free(pub);
    res->name = name;
    finish(res, &s, sent, bench_now_s() - t0 - 0.2);
    print_result(res);
}

/* ---- Processes ---------------------------------------------------------------------------- */

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("no free port");
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static char *run_capture(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    static char out[16384];
    size_t n;

    if (f == NULL)
        die(cmd);
    n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    if (pclose(f) != 0)
        die(cmd);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return strdup(out);
}

static pid_t spawn(char *const argv[], const char *out_file)
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open(out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

/* ---- Main ------------------------------------------------------------------------------------ */

static void print_result(const struct result *r)
{
    char a[32], b[32];

    printf("%-46s %11s %11s %8.0f %8.0f %8.0f %8.0f %8.0f %10llu\n", r->name,
           bench_fmt_count((uint64_t)r->sent_per_s, a, sizeof(a)),
           bench_fmt_count((uint64_t)r->got_per_s, b, sizeof(b)), r->p50, r->p95, r->p99, r->p999,
           r->max, (unsigned long long)r->lost);
    fflush(stdout);
}

/* Writes the daemon's configuration (tune: extra members, may be "") and starts it; returns its
 * pid and sets *port to its WebSocket port once it is ready. */
static pid_t start_broker(const char *bin, const char *work, const char *vss, const char *overlay,
                          const char *tune, int *port)
{
    char path[1024], out[600], bpath[1024];
    char *av[] = {bpath, "--config", path, NULL};
    pid_t pid;
    FILE *f;

    snprintf(path, sizeof(path), "%s/broker.json", work);
    f = fopen(path, "w");
    if (f == NULL)
        die("config");
    fprintf(f,
            "{\"catalog\": \"%s\", \"overlays\": [\"%s\"], \"audience\": \"bench\", \"keys\": "
            "[\"iss.pub.pem\"], \"listen\": {\"address\": \"127.0.0.1\", \"port\": 0}, "
            "\"socket\": \"broker.sock\", \"queue_len\": 4096, \"log_level\": \"warn\"%s}\n",
            vss, overlay, tune);
    fclose(f);
    snprintf(out, sizeof(out), "%s/broker.out", work);
    snprintf(bpath, sizeof(bpath), "%s/sdv-broker", bin);
    pid = spawn(av, out);
    *port = 0;
    for (int i = 0; i < 200 && *port == 0; i++) {
        uint8_t *txt;
        size_t n;
        const char *p;

        usleep(25000);
        txt = bench_read_file(out, &n);
        if (txt != NULL && (p = strstr((char *)txt, "ws://127.0.0.1:")) != NULL)
            *port = (int)strtol(p + 15, NULL, 10);
        free(txt);
    }
    if (*port == 0) {
        size_t n;
        uint8_t *txt = bench_read_file(out, &n);

        fprintf(stderr, "broker_bench: sdv-broker did not start: %s\n",
                txt != NULL ? (char *)txt : "(no output)");
        exit(1);
    }
    return pid;
}

int main(int argc, char **argv)
{
    char *bin, *vss;
    struct load paced = {100000, 3.0, 100, 1000}, sat = {0, 2.0, 100, 1000};
    char work[512], path[1024], cmd[4096], sockp[600], overlay[600], tune[160];
    char *prov_tok, *sub_tok, *mosq = NULL;
    pid_t broker, mosq_pid;
    struct result res[16];
    char labels[16][96];
    /* Row indices: [pass][mode] (pass 0 default, pass 1 low-latency; mode 0 paced, 1 saturated) */
    int i_floor[2][2] = {{-1, -1}, {-1, -1}}, i_unix[2][2] = {{-1, -1}, {-1, -1}};
    int i_ws = -1, i_mq = -1;
    int nres = 0, port, mport;
    long ll_cpu_latency_us = 0, ll_busy_poll_us = 0;
    long ll_client_busy_poll_us = SDV_BROKER_CLIENT_BUSY_POLL_US_MAX;
    bool qos_ok;
    FILE *f;

    if (argc < 3)
        die("usage: broker_bench BIN_DIR VSS_JSON [--quick] [--rate N] [--seconds S] "
            "[--signals K] [--cpu-latency-us N] [--busy-poll-us N]");
    bin = realpath(argv[1], NULL);
    vss = realpath(argv[2], NULL);
    if (bin == NULL || vss == NULL)
        die("BIN_DIR or VSS_JSON does not exist");
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            paced.rate = 5000;
            paced.secs = 0.3;
            sat.secs = 0.3;
        } else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
            paced.rate = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            paced.secs = sat.secs = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--cpu-latency-us") == 0 && i + 1 < argc)
            ll_cpu_latency_us = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--busy-poll-us") == 0 && i + 1 < argc)
            ll_busy_poll_us = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--client-busy-poll-us") == 0 && i + 1 < argc)
            ll_client_busy_poll_us = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--signals") == 0 && i + 1 < argc)
            paced.signals = sat.signals = (int)strtol(argv[++i], NULL, 10);
        else
            die("unknown argument");
    }
    if (paced.signals < 1 || paced.signals > SIGNALS_MAX)
        die("--signals: 1..1000");
    if (ll_busy_poll_us < 0 || ll_busy_poll_us > (long)SDV_BROKER_CLIENT_BUSY_POLL_US_MAX)
        die("--busy-poll-us: 0..1000");
    if (ll_client_busy_poll_us < 0 ||
        ll_client_busy_poll_us > (long)SDV_BROKER_CLIENT_BUSY_POLL_US_MAX)
        die("--client-busy-poll-us: 0..1000");
    if (ll_cpu_latency_us < 0 || ll_cpu_latency_us > 1000000)
        die("--cpu-latency-us: 0..1000000");
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR, NULL);
    if (bench_mkdtemp("broker-bench.", work, sizeof(work)) != 0)
        die("mkdtemp");

    /* Keys, tokens, an overlay with the benchmark's signals, the daemon. */
    snprintf(cmd, sizeof(cmd), "%s/sdv keygen --type ed25519 --out %s/iss >/dev/null", bin, work);
    if (system(cmd) != 0)
        die("sdv keygen");
    snprintf(cmd, sizeof(cmd),
             "%s/sdv token mint --key %s/iss.pem --aud bench --scope provide:Vehicle.Bench", bin,
             work);
    prov_tok = run_capture(cmd);
    snprintf(cmd, sizeof(cmd),
             "%s/sdv token mint --key %s/iss.pem --aud bench --scope read:Vehicle.Bench", bin,
             work);
    sub_tok = run_capture(cmd);
    snprintf(overlay, sizeof(overlay), "%s/bench-signals.json", work);
    f = fopen(overlay, "w");
    if (f == NULL)
        die("overlay");
    fprintf(f, "{\"Vehicle\": {\"type\": \"branch\", \"children\": {\"Bench\": {\"type\": "
               "\"branch\", \"children\": {");
    for (int i = 0; i < paced.signals; i++)
        fprintf(f, "%s\"S%d\": {\"type\": \"sensor\", \"datatype\": \"float\"}", i ? ", " : "", i);
    fprintf(f, "}}}}}\n");
    fclose(f);
    snprintf(sockp, sizeof(sockp), "%s/broker.sock", work);
    broker = start_broker(bin, work, vss, overlay, "", &port);

    /* Mosquitto on its own port, anonymous on loopback. */
    if (access("/usr/sbin/mosquitto", X_OK) == 0)
        mosq = "/usr/sbin/mosquitto";
    else if (access("/usr/bin/mosquitto", X_OK) == 0)
        mosq = "/usr/bin/mosquitto";
    mport = free_port();
    snprintf(path, sizeof(path), "%s/mosquitto.conf", work);
    f = fopen(path, "w");
    if (f == NULL)
        die("mosquitto.conf");
    fprintf(f,
            "listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
            "persistence false\n",
            mport);
    fclose(f);
    mosq_pid = -1;
    if (mosq != NULL) {
        char *av[] = {mosq, "-c", path, NULL};
        char mout[600];

        snprintf(mout, sizeof(mout), "%s/mosquitto.out", work);
        mosq_pid = spawn(av, mout);
        usleep(300000);
    } else {
        printf("mosquitto not found: its rows are skipped (apt-get install mosquitto)\n");
    }

    printf("sdv-broker (%s build) and Mosquitto, %d signals, paced %ld updates/s in groups "
           "every %d us, saturated in groups of %d; latency in microseconds\n",
           SDV_BENCH_BUILD_TYPE, paced.signals, paced.rate, paced.cycle_us, sat.signals);
    printf("%-46s %11s %11s %8s %8s %8s %8s %8s %10s\n", "transport / load", "sent/s",
           "delivered/s", "p50", "p95", "p99", "p99.9", "max", "lost");

    /*
     * Pass 0: the daemon and its clients as configured by default (block in poll() when idle).
     * Pass 1, low latency: the daemon restarted with cpu_latency_us (a PM QoS request: idle CPUs
     * poll instead of halting, so a wake-up needs no interrupt and, in a VM, no exit) and, if
     * asked, busy_poll_us; the subscriber's client library with busy_poll_us; the floor's relay
     * and subscriber spinning the same way: both sides of the ratio tuned alike.
     */
    qos_ok = access("/dev/cpu_dma_latency", W_OK) == 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *suffix = pass == 0 ? "" : ", low-latency";

        if (pass == 1) {
            stop(broker);
            tune[0] = '\0';
            if (qos_ok)
                snprintf(tune, sizeof(tune), ", \"cpu_latency_us\": %ld", ll_cpu_latency_us);
            else
                printf("no write access to /dev/cpu_dma_latency (not root?): the low-latency "
                       "pass runs without cpu_latency_us\n");
            if (ll_busy_poll_us > 0)
                snprintf(tune + strlen(tune), sizeof(tune) - strlen(tune),
                         ", \"busy_poll_us\": %ld", ll_busy_poll_us);
            broker = start_broker(bin, work, vss, overlay, tune, &port);
            g_busy_poll_us = ll_client_busy_poll_us;
            g_relay_busy_poll_us = ll_busy_poll_us;
        }
        for (int mode = 0; mode < 2; mode++) {
            const struct load *l = mode == 0 ? &paced : &sat;
            const char *load_name = mode == 0 ? "paced" : "saturated";
            size_t cap = (size_t)((l->rate > 0 ? (double)l->rate : 3e6) * l->secs * 1.2) + 1000;

            /* 0. The floor: a minimal relay process, no broker logic. */
            i_floor[pass][mode] = nres;
            snprintf(labels[nres], sizeof(labels[0]), "floor: C relay unix -> unix, %s%s",
                     load_name, suffix);
            run_floor(l, cap, labels[nres], &res[nres]);
            nres++;

            /* 1. Unix socket to Unix socket. */
            {
                struct samples s;
                struct sdv_sub sub;
                struct sdv_pub pub;
                pthread_t th;
                const char *paths[SIGNALS_MAX];
                char names[SIGNALS_MAX][32];
                struct sdv_broker_client_signal sig[SIGNALS_MAX];
                uint32_t sub_id;
                double t0;
                uint64_t sent;

                samples_init(&s, cap);
                for (int i = 0; i < l->signals; i++) {
                    snprintf(names[i], sizeof(names[i]), "Vehicle.Bench.S%d", i);
                    paths[i] = names[i];
                }
                memset(&pub, 0, sizeof(pub));
                pub.c = sdv_connect(sockp, prov_tok, &s);
                if (sdv_broker_client_lookup(pub.c, paths, (size_t)l->signals, sig) != SDV_OK)
                    die(sdv_broker_client_errmsg(pub.c));
                for (int i = 0; i < l->signals; i++)
                    pub.ids[i] = sig[i].id;
                if (sdv_broker_client_claim(pub.c, pub.ids, (size_t)l->signals) != SDV_OK)
                    die(sdv_broker_client_errmsg(pub.c));
                memset(&sub, 0, sizeof(sub));
                sub.s = &s;
                sub.c = sdv_connect(sockp, sub_tok, &s);
                if (sdv_broker_client_subscribe(sub.c, pub.ids, (size_t)l->signals, NULL,
                                                sdv_on_event, &sub, &sub_id) != SDV_OK)
                    die(sdv_broker_client_errmsg(sub.c));
                pthread_create(&th, NULL, sdv_sub_thread, &sub);
                usleep(100000);
                s.n = 0; /* drop the initial values */
                atomic_store(&s.got, 0);
                t0 = bench_now_s();
                sent = drive(l, &pub, sdv_publish, sdv_flush);
                usleep(200000);
                atomic_store(&sub.stop, 1);
                pthread_join(th, NULL);
                i_unix[pass][mode] = nres;
                snprintf(labels[nres], sizeof(labels[0]), "sdv-broker unix -> unix, %s%s",
                         load_name, suffix);
                res[nres].name = labels[nres];
                finish(&res[nres], &s, sent, bench_now_s() - t0 - 0.2);
                print_result(&res[nres++]);

                sdv_broker_client_destroy(sub.c);

                /* 2. The same provider, a VISS WebSocket subscriber (default pass only). */
                if (pass == 0) {
                    struct samples ws_s;
                    struct ws_sub w;
                    pthread_t wth;

                    samples_init(&ws_s, cap);
                    memset(&w, 0, sizeof(w));
                    w.s = &ws_s;
                    w.token = sub_tok;
                    snprintf(w.sub_path, sizeof(w.sub_path), "Vehicle.Bench");
                    ws_start(&w, port, &wth);
                    usleep(100000);
                    ws_s.n = 0;
                    atomic_store(&ws_s.got, 0);
                    t0 = bench_now_s();
                    sent = drive(l, &pub, sdv_publish, sdv_flush);
                    usleep(300000);
                    atomic_store(&w.stop, 1);
                    lws_cancel_service(w.ctx);
                    pthread_join(wth, NULL);
                    lws_context_destroy(w.ctx);
                    sdv_buf_free(&w.rx);
                    if (mode == 0)
                        i_ws = nres;
                    snprintf(labels[nres], sizeof(labels[0]), "sdv-broker unix -> WebSocket, %s",
                             load_name);
                    res[nres].name = labels[nres];
                    finish(&res[nres], &ws_s, sent, bench_now_s() - t0 - 0.3);
                    print_result(&res[nres++]);
                }
                sdv_broker_client_destroy(pub.c);
            }

            /* 3. Mosquitto (default pass only). */
            if (mosq_pid > 0 && pass == 0) {
                struct samples s;
                struct mq_pub pub;
                struct mosquitto *sub;
                double t0;
                uint64_t sent;

                mosquitto_lib_init();
                samples_init(&s, cap);
                sub = mosquitto_new(NULL, true, &s);
                pub.m = mosquitto_new(NULL, true, NULL);
                if (sub == NULL || pub.m == NULL)
                    die("mosquitto_new");
                mosquitto_int_option(sub, MOSQ_OPT_TCP_NODELAY, 1);
                mosquitto_int_option(pub.m, MOSQ_OPT_TCP_NODELAY, 1);
                mosquitto_message_callback_set(sub, mq_on_message);
                mosquitto_subscribe_callback_set(sub, mq_on_subscribe);
                atomic_store(&mq_subscribed, 0);
                if (mosquitto_connect(sub, "127.0.0.1", mport, 60) != MOSQ_ERR_SUCCESS ||
                    mosquitto_connect(pub.m, "127.0.0.1", mport, 60) != MOSQ_ERR_SUCCESS)
                    die("cannot connect to mosquitto");
                mosquitto_subscribe(sub, NULL, "Vehicle/Bench/#", 0);
                mosquitto_loop_start(sub);
                mosquitto_loop_start(pub.m);
                for (int i = 0; i < 300 && !atomic_load(&mq_subscribed); i++)
                    usleep(10000);
                for (int i = 0; i < l->signals; i++)
                    snprintf(pub.topics[i], sizeof(pub.topics[i]), "Vehicle/Bench/S%d", i);
                usleep(100000);
                t0 = bench_now_s();
                sent = drive(l, &pub, mq_publish, mq_flush);
                usleep(300000);
                mosquitto_disconnect(pub.m);
                mosquitto_disconnect(sub);
                mosquitto_loop_stop(pub.m, false);
                mosquitto_loop_stop(sub, false);
                mosquitto_destroy(pub.m);
                mosquitto_destroy(sub);
                mosquitto_lib_cleanup();
                if (mode == 0)
                    i_mq = nres;
                snprintf(labels[nres], sizeof(labels[0]), "mosquitto tcp -> tcp, %s", load_name);
                res[nres].name = labels[nres];
                finish(&res[nres], &s, sent, bench_now_s() - t0 - 0.3);
                s.lost = sent > res[nres].got ? sent - res[nres].got : 0;
                res[nres].lost = s.lost;
                print_result(&res[nres++]);
            }
        }
        g_busy_poll_us = g_relay_busy_poll_us = 0;
    }
    stop(broker);
    stop(mosq_pid);

    if (i_mq >= 0) {
        printf("p99 sdv-broker unix / mosquitto, paced: %.2f (target < 1: %s)\n",
               res[i_unix[0][0]].p99 / res[i_mq].p99,
               res[i_unix[0][0]].p99 < res[i_mq].p99 ? "PASS" : "BELOW");
        printf("p99 sdv-broker websocket / mosquitto, paced: %.2f\n",
               res[i_ws].p99 / res[i_mq].p99);
    }
    for (int pass = 0; pass < 2; pass++) {
        const struct result *fl = &res[i_floor[pass][0]], *u = &res[i_unix[pass][0]];

        printf("%s: floor (C relay) paced p50 %.0f us, p99 %.0f us; sdv-broker unix p50 %.0f us, "
               "p99 %.0f us = %.2fx the floor's p99\n",
               pass == 0 ? "default" : "low-latency", fl->p50, fl->p99, u->p50, u->p99,
               u->p99 / fl->p99);
    }
    printf("low-latency settings: cpu_latency_us %s, busy_poll_us %ld in the daemon (and the "
           "floor's relay), %ld in the subscriber\n",
           qos_ok ? (ll_cpu_latency_us == 0 ? "0" : "set") : "not available", ll_busy_poll_us,
           ll_client_busy_poll_us);
    printf("saturated delivered/s, low-latency / default: %.2f (must hold: >= 0.9)\n",
           res[i_unix[1][1]].got_per_s / res[i_unix[0][1]].got_per_s);
    printf("local p99 at %ld updates/s: default %.0f us, low-latency %.0f us (target < 100 us: "
           "%s)\n",
           paced.rate, res[i_unix[0][0]].p99, res[i_unix[1][0]].p99,
           res[i_unix[1][0]].p99 < 100 ? "PASS" : "BELOW");
    bench_rm_tree(work);
    free(prov_tok);
    free(sub_tok);
    free(bin);
    free(vss);
    return 0;
}
