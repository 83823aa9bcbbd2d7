/*
 * broker_core_bench.c - publish-to-delivery inside the broker core (lib/broker), without any
 * socket: the share of the daemon's latency budget (issue 6: p99 under 100 us at 100,000
 * updates/s on 2 cores) that the core itself takes.
 *
 * Method (after KUKSA's databroker-perf, reduced to one process): a provider publishes float
 * sensor values of the VSS 6.0 catalog in cycles (a group of signals per cycle); subscribers
 * hold subscriptions on those signals (one per signal group plus one on everything, the usual
 * "app + logger" mix); after each cycle the "event loop" drains every queue, as the daemon does
 * between polls. Latency of an update = time of its pop minus time just before its publish call.
 * Two runs: paced at a fixed update rate (100,000/s by default), and saturated (as fast as it
 * goes), each reporting throughput and p50/p95/p99/p99.9/max.
 *
 * Usage: broker_core_bench [--quick] [--rate N] [--updates N] [--signals N] [--subscribers N]
 *        [--vss PATH]
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sdv/broker.h>

#include "bench_util.h"

#ifndef SDV_VSS_JSON
#define SDV_VSS_JSON "data/vss/vss_release_6.0.json"
#endif

static int64_t clock_us(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

struct run {
    const char *name;
    uint64_t updates, deliveries, lost;
    double seconds;
    uint64_t *lat; /* ns, one per delivery */
    size_t nlat;
};

static void report(struct run *r)
{
    size_t n = r->nlat;

    qsort(r->lat, n, sizeof(*r->lat), cmp_u64);
#define PCT(p) ((double)r->lat[(size_t)((double)(n - 1) * (p))] / 1000.0)
    printf("%-10s %10.0f updates/s %10.0f deliveries/s  lost %-6llu latency us: p50 %.2f  p95 "
           "%.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
           r->name, (double)r->updates / r->seconds, (double)r->deliveries / r->seconds,
           (unsigned long long)r->lost, PCT(0.50), PCT(0.95), PCT(0.99), PCT(0.999),
           (double)r->lat[n - 1] / 1000.0);
#undef PCT
}

int main(int argc, char **argv)
{
    const char *vss = SDV_VSS_JSON;
    uint64_t updates = 1000000, rate = 100000;
    uint32_t nsignals = 100, nsubs = 4, group = 10;
    struct sdv_broker_catalog *cat = NULL;
    struct sdv_broker_config cfg;
    struct sdv_broker *b = NULL;
    uint32_t *ids, *subs, nids = 0, k;
    uint64_t *pub_ns;
    static int provider, app;
    int i, pass;
    char err[256];

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            updates = 20000;
        } else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
            rate = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--updates") == 0 && i + 1 < argc) {
            updates = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--signals") == 0 && i + 1 < argc) {
            nsignals = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--subscribers") == 0 && i + 1 < argc) {
            nsubs = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--vss") == 0 && i + 1 < argc) {
            vss = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: %s [--quick] [--rate N] [--updates N] [--signals N] "
                    "[--subscribers N] [--vss PATH]\n",
                    argv[0]);
            return 2;
        }
    }
    if (nsignals == 0 || nsubs == 0 || rate == 0 || updates == 0) {
        fprintf(stderr, "counts must be positive\n");
        return 2;
    }
    if (sdv_broker_catalog_create(NULL, &cat) != SDV_OK ||
        sdv_broker_catalog_load_file(cat, vss) != SDV_OK) {
        fprintf(stderr, "%s: %s\n", vss, cat ? sdv_broker_catalog_errmsg(cat) : "no memory");
        return 1;
    }
    /* Float sensors without bounds, like Vehicle.Speed. */
    ids = calloc(nsignals, sizeof(*ids));
    subs = calloc((size_t)nsubs + 1, sizeof(*subs));
    pub_ns = calloc(1u << 24, sizeof(*pub_ns));
    if (ids == NULL || subs == NULL || pub_ns == NULL)
        return 1;
    for (k = 0; k < sdv_broker_catalog_count(cat) && nids < nsignals; k++) {
        const struct sdv_broker_signal *s = sdv_broker_catalog_signal(cat, k);

        if (s->datatype == SDV_BROKER_DT_FLOAT && s->min.type == SDV_BROKER_DT_NONE &&
            s->max.type == SDV_BROKER_DT_NONE && s->kind == SDV_BROKER_KIND_SENSOR)
            ids[nids++] = k;
    }
    nsignals = nids;
    memset(&cfg, 0, sizeof(cfg));
    cfg.catalog = cat;
    cfg.clock = clock_us;
    if (sdv_broker_create(&cfg, &b, err, sizeof(err)) != SDV_OK) {
        fprintf(stderr, "broker: %s\n", err);
        return 1;
    }
    if (sdv_broker_claim(b, &provider, ids, nsignals) != SDV_OK)
        return 1;
    /* nsubs subscriptions on slices of the signals, plus one on all of them. */
    for (k = 0; k < nsubs; k++) {
        uint32_t first = k * nsignals / nsubs, last = (k + 1) * nsignals / nsubs;

        if (sdv_broker_subscribe(b, &app, ids + first, last - first, NULL, 1024, 0, &subs[k]) !=
            SDV_OK)
            return 1;
    }
    if (sdv_broker_subscribe(b, &app, ids, nsignals, NULL, 1024, 0, &subs[nsubs]) != SDV_OK)
        return 1;
    printf("broker core: %u float signals, %u subscriptions (+1 on all), cycles of %u updates, "
           "%llu updates per run (%s)\n",
           nsignals, nsubs, group, (unsigned long long)updates,
#ifdef SDV_BENCH_BUILD_TYPE
           SDV_BENCH_BUILD_TYPE
#else
           "?"
#endif
    );
    for (pass = 0; pass < 2; pass++) {
        struct run r = {pass == 0 ? "paced" : "saturated", 0, 0, 0, 0, NULL, 0};
        uint64_t t0, next_cycle, period_ns = (uint64_t)(1e9 / (double)rate * group), u = 0;

        r.lat = calloc(updates * 2 + 16, sizeof(*r.lat));
        if (r.lat == NULL)
            return 1;
        t0 = now_ns();
        next_cycle = t0;
        while (u < updates) {
            uint32_t g;

            if (pass == 0) {
                while (now_ns() < next_cycle)
                    ;
                next_cycle += period_ns;
            }
            for (g = 0; g < group && u < updates; g++, u++) {
                /* The value carries the update's number (exact in a float below 2^24). */
                uint32_t tag = (uint32_t)(u & 0xffffffu);
                struct sdv_broker_value v = {
                        .type = SDV_BROKER_DT_FLOAT, .count = 1, .v.f = (float)tag};

                pub_ns[tag] = now_ns();
                if (sdv_broker_publish(b, &provider, ids[u % nsignals], &v, 0) != SDV_OK)
                    return 1;
            }
            /* The event loop drains every queue. */
            for (k = 0; k <= nsubs; k++) {
                struct sdv_broker_event ev;
                bool got = true;

                while (got) {
                    if (sdv_broker_sub_pop(b, &app, subs[k], &ev, &got) != SDV_OK)
                        return 1;
                    r.lost += ev.lost;
                    if (got && r.nlat < updates * 2 + 16) {
                        r.lat[r.nlat++] = now_ns() - pub_ns[(uint32_t)ev.value.v.f];
                        r.deliveries++;
                    }
                }
            }
        }
        r.updates = u;
        r.seconds = (double)(now_ns() - t0) / 1e9;
        report(&r);
        free(r.lat);
    }
    sdv_broker_destroy(b);
    sdv_broker_catalog_destroy(cat);
    free(ids);
    free(subs);
    free(pub_ns);
    return 0;
}
