/*
 * broker_proto_bench.c - cost of the broker's local wire protocol without the broker core:
 *
 *  1. codec: ns per update to build PUBLISH batches (batch builder) and to decode and parse them
 *     (incremental decoder + strict parser), for batches of 1, 16 and 1,024 float updates;
 *  2. transport: a provider thread publishes groups of 10 updates every 100 us (100,000
 *     updates/s) over a Unix socket to a relay thread that parses each PUBLISH and forwards its
 *     entries as one EVENT frame to a subscriber thread over a second socket (what the daemon's
 *     event loop does around the core); the subscriber measures publish-to-delivery latency from
 *     the monotonic timestamp carried in each update: p50/p95/p99/p99.9/max.
 * The sum of (2) and the core's own fan-out (bench/broker_core_bench) bounds what the daemon can
 * reach against the target, p99 < 100 us at 100,000 updates/s on 2 cores.
 *
 * Usage: broker_proto_bench [--quick]
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sdv/broker_proto.h>

#define GROUP 10u /* updates per PUBLISH in the paced run */

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "broker_proto_bench: %s\n", what);
    exit(1);
}

static struct sdv_broker_entry entries[SDV_BROKER_BATCH_MAX];

/* ---- 1. Codec --------------------------------------------------------------------------- */

static void bench_codec(uint32_t batch, uint64_t updates)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT};
    struct sdv_broker_decoder *d;
    struct sdv_broker_batch b;
    struct sdv_buf out;
    uint64_t frames = updates / batch, i, parsed = 0;
    uint32_t k;
    int64_t t0, t1, t2;

    sdv_buf_init(&out, 256u << 20);
    if (sdv_broker_decoder_create(0, &d) != SDV_OK)
        die("decoder");
    t0 = now_ns();
    for (i = 0; i < frames; i++) {
        if (sdv_broker_batch_begin(&b, &out, SDV_BROKER_MSG_PUBLISH, (uint32_t)i + 1, 0) != SDV_OK)
            die("batch begin");
        for (k = 0; k < batch; k++) {
            v.v.f = (float)k;
            if (sdv_broker_batch_add(&b, k + 1, 0, (int64_t)i, &v) != SDV_OK)
                die("batch add");
        }
        sdv_broker_batch_end(&b);
    }
    t1 = now_ns();
    for (size_t off = 0; off < out.len;) {
        struct sdv_broker_frame f;
        struct sdv_broker_msg m;
        size_t used;
        bool complete;

        if (sdv_broker_decoder_feed(d, out.data + off, out.len - off, &used, &f, &complete) !=
                    SDV_OK ||
            !complete)
            die("decode");
        off += used;
        if (sdv_broker_msg_parse(&f, &m, entries, SDV_BROKER_BATCH_MAX, NULL, 0) != SDV_OK)
            die("parse");
        parsed += m.n_entries;
    }
    t2 = now_ns();
    if (parsed != frames * batch)
        die("lost updates");
    printf("  batch %5u: encode %6.1f ns/update, decode+parse %6.1f ns/update, %5.1f "
           "bytes/update\n",
           batch, (double)(t1 - t0) / (double)parsed, (double)(t2 - t1) / (double)parsed,
           (double)out.len / (double)parsed);
    sdv_broker_decoder_destroy(d);
    sdv_buf_free(&out);
}

/* ---- 2. Transport ----------------------------------------------------------------------- */

struct run {
    int pub[2], sub[2]; /* socketpairs: provider<->relay, relay<->subscriber */
    uint64_t updates;
    double *lat_us;
    uint64_t got;
};

/* Publishes GROUP updates every 100 us, stamped with the monotonic clock in ns. */
static void *provider(void *arg)
{
    struct run *r = arg;
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT};
    struct sdv_broker_batch b;
    struct sdv_buf out;
    int64_t next = now_ns();
    uint64_t sent = 0;
    uint32_t k;

    sdv_buf_init(&out, 1u << 20);
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    while (sent < r->updates) {
        struct timespec at = {(time_t)(next / 1000000000), (long)(next % 1000000000)};

        /* Absolute sleeps with a 1 ns timer slack keep the pace without burning a core, which
         * the relay and the subscriber need on a 2-core machine. */
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) != 0)
            ;
        next += 100000;
        sdv_buf_reset(&out);
        if (sdv_broker_batch_begin(&b, &out, SDV_BROKER_MSG_PUBLISH, 1, 0) != SDV_OK)
            die("begin");
        for (k = 0; k < GROUP; k++) {
            v.v.f = (float)sent;
            if (sdv_broker_batch_add(&b, k + 1, 0, now_ns(), &v) != SDV_OK)
                die("add");
        }
        sdv_broker_batch_end(&b);
        if (sdv_fs_write_all(r->pub[0], out.data, out.len) != SDV_OK)
            die("provider write");
        sent += GROUP;
    }
    shutdown(r->pub[0], SHUT_WR);
    sdv_buf_free(&out);
    return NULL;
}

/* Parses PUBLISH frames and forwards their entries as one EVENT per read. */
static void *relay(void *arg)
{
    struct run *r = arg;
    struct sdv_broker_decoder *d;
    static struct sdv_broker_entry e[SDV_BROKER_BATCH_MAX];
    static uint8_t buf[64 * 1024];
    struct sdv_buf out;

    sdv_buf_init(&out, 1u << 20);
    if (sdv_broker_decoder_create(0, &d) != SDV_OK)
        die("decoder");
    for (;;) {
        ssize_t n = read(r->pub[1], buf, sizeof(buf));
        struct sdv_broker_batch b;
        size_t off = 0;
        bool open = false;

        if (n <= 0)
            break;
        sdv_buf_reset(&out);
        while (off < (size_t)n) {
            struct sdv_broker_frame f;
            struct sdv_broker_msg m;
            size_t used;
            bool complete;
            uint32_t i;

            if (sdv_broker_decoder_feed(d, buf + off, (size_t)n - off, &used, &f, &complete) !=
                SDV_OK)
                die("relay decode");
            off += used;
            if (!complete)
                continue;
            if (sdv_broker_msg_parse(&f, &m, e, SDV_BROKER_BATCH_MAX, NULL, 0) != SDV_OK)
                die("relay parse");
            for (i = 0; i < m.n_entries; i++) {
                if (!open) {
                    if (sdv_broker_batch_begin(&b, &out, SDV_BROKER_MSG_EVENT, 0, 1) != SDV_OK)
                        die("relay begin");
                    open = true;
                }
                if (sdv_broker_batch_add(&b, e[i].id, 0, e[i].ts_us, &e[i].value) == SDV_OK)
                    continue;
                /* A full EVENT frame: close it and start the next one. */
                sdv_broker_batch_end(&b);
                if (sdv_broker_batch_begin(&b, &out, SDV_BROKER_MSG_EVENT, 0, 1) != SDV_OK ||
                    sdv_broker_batch_add(&b, e[i].id, 0, e[i].ts_us, &e[i].value) != SDV_OK)
                    die("relay add");
            }
        }
        if (open) {
            sdv_broker_batch_end(&b);
            if (sdv_fs_write_all(r->sub[0], out.data, out.len) != SDV_OK)
                die("relay write");
        }
    }
    shutdown(r->sub[0], SHUT_WR);
    sdv_broker_decoder_destroy(d);
    sdv_buf_free(&out);
    return NULL;
}

static void *subscriber(void *arg)
{
    struct run *r = arg;
    struct sdv_broker_decoder *d;
    static struct sdv_broker_entry e[SDV_BROKER_BATCH_MAX];
    static uint8_t buf[64 * 1024];

    if (sdv_broker_decoder_create(0, &d) != SDV_OK)
        die("decoder");
    for (;;) {
        ssize_t n = read(r->sub[1], buf, sizeof(buf));
        size_t off = 0;

        if (n <= 0)
            break;
        while (off < (size_t)n) {
            struct sdv_broker_frame f;
            struct sdv_broker_msg m;
            size_t used;
            bool complete;
            uint32_t i;
            int64_t t;

            if (sdv_broker_decoder_feed(d, buf + off, (size_t)n - off, &used, &f, &complete) !=
                SDV_OK)
                die("subscriber decode");
            off += used;
            if (!complete)
                continue;
            if (sdv_broker_msg_parse(&f, &m, e, SDV_BROKER_BATCH_MAX, NULL, 0) != SDV_OK)
                die("subscriber parse");
            t = now_ns();
            for (i = 0; i < m.n_entries && r->got < r->updates; i++)
                r->lat_us[r->got++] = (double)(t - m.entries[i].ts_us) / 1000.0;
        }
    }
    sdv_broker_decoder_destroy(d);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double pct(const double *v, uint64_t n, double p)
{
    uint64_t i = (uint64_t)ceil(p / 100.0 * (double)n);

    return v[i == 0 ? 0 : (i > n ? n - 1 : i - 1)];
}

static void bench_transport(uint64_t updates)
{
    struct run r = {.updates = updates};
    pthread_t tp, tr, ts;
    int64_t t0, t1;

    r.lat_us = calloc(updates, sizeof(double));
    if (r.lat_us == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, r.pub) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM, 0, r.sub) != 0)
        die("setup");
    t0 = now_ns();
    pthread_create(&ts, NULL, subscriber, &r);
    pthread_create(&tr, NULL, relay, &r);
    pthread_create(&tp, NULL, provider, &r);
    pthread_join(tp, NULL);
    pthread_join(tr, NULL);
    pthread_join(ts, NULL);
    t1 = now_ns();
    if (r.got != updates)
        die("updates lost in transport");
    qsort(r.lat_us, r.got, sizeof(double), cmp_double);
    printf("  %llu updates in %.2f s (%.0f updates/s): latency us p50 %.1f p95 %.1f p99 %.1f "
           "p99.9 %.1f max %.1f\n",
           (unsigned long long)r.got, (double)(t1 - t0) / 1e9,
           (double)r.got / ((double)(t1 - t0) / 1e9), pct(r.lat_us, r.got, 50),
           pct(r.lat_us, r.got, 95), pct(r.lat_us, r.got, 99), pct(r.lat_us, r.got, 99.9),
           r.lat_us[r.got - 1]);
    close(r.pub[0]);
    close(r.pub[1]);
    close(r.sub[0]);
    close(r.sub[1]);
    free(r.lat_us);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    uint64_t n = quick ? 10240 : 2048000;

    printf("broker wire codec (%s build)\n", SDV_BENCH_BUILD_TYPE);
    bench_codec(1, n / 16);
    bench_codec(16, n);
    bench_codec(1024, n);
    printf("transport: provider -> relay (parse, re-batch) -> subscriber over Unix sockets, "
           "groups of %u every 100 us\n",
           GROUP);
    bench_transport(quick ? 2000 : 500000);
    return 0;
}
