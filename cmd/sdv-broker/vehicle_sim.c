/*
 * vehicle_sim.c - sdv-vehicle-sim: a simulated vehicle for sdv-broker's tests, demo and
 * benchmarks, written only against the client library (sdv/broker_client.h).
 *
 *   sdv-vehicle-sim provider --socket S --token-file F [--period-ms P] [--burst N]
 *       claims Vehicle.Speed, the traction battery's state of charge and the driver's HVAC
 *       temperature and fan speed; publishes speed and battery every P ms; executes HVAC
 *       actuation (temperature accepted within 16..30 Celsius, else rejected; the accepted
 *       value is then published as the actual state). On SIGUSR1 it publishes N speed values
 *       0..N-1 as fast as it can, prints how long that took and stops its periodic publishing
 *       (so N-1 stays the newest speed). Prints "provider ready" once its signals are claimed.
 *   sdv-vehicle-sim app --socket S --token-file F get PATH | set PATH VALUE |
 *       subscribe PATH [--count N] [--period-ms P] [--sleep-ms S] [--idle-ms I] [--until V]
 *                      [--renew-token-file F2 --renew-after-ms R]
 *       one request; prints the result. Exit 0 done, 3 refused by the broker, 1 other failure.
 *       A subscriber renews its token with the one in F2 R ms after subscribing (prints
 *       "renewed" or "renewal refused: ..."), and prints "ended STATUS MESSAGE" and stops when
 *       the broker ends its subscription (token expired, no longer granted).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sdv/broker_client.h>

#define SPEED   0
#define BATTERY 1
#define TEMP    2
#define FAN     3

static const char *const sim_paths[] = {
        "Vehicle.Speed",
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
        "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
        "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed",
};

static volatile sig_atomic_t g_stop, g_burst;

static void on_sig(int sig)
{
    if (sig == SIGUSR1)
        g_burst = 1;
    else
        g_stop = 1;
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static char *read_token(const char *file)
{
    struct sdv_buf b;
    char *t;
    size_t n;

    sdv_buf_init(&b, 16384);
    if (sdv_fs_read(file, &b) != SDV_OK) {
        fprintf(stderr, "sdv-vehicle-sim: cannot read token file %s\n", file);
        sdv_buf_free(&b);
        return NULL;
    }
    t = sdv_buf_steal(&b, &n);
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
        t[--n] = '\0';
    return t;
}

struct provider {
    struct sdv_broker_client *c;
    struct sdv_broker_client_signal sig[4];
};

static void on_actuate(void *ud, uint64_t actuation_id, uint32_t signal_id,
                       const struct sdv_broker_value *value)
{
    struct provider *p = ud;
    char msg[128];

    if (signal_id == p->sig[TEMP].id && value->type == SDV_BROKER_DT_FLOAT &&
        (value->v.f < 16.0f || value->v.f > 30.0f)) {
        snprintf(msg, sizeof(msg), "cabin temperature %.1f C is outside 16..30 C",
                 (double)value->v.f);
        printf("provider: rejected %s = %.1f\n", sim_paths[TEMP], (double)value->v.f);
        fflush(stdout);
        sdv_broker_client_actuate_reply(p->c, actuation_id, 409, msg);
        return;
    }
    sdv_broker_client_actuate_reply(p->c, actuation_id, 0, NULL);
    /* The actuator moved: its actual state is the new current value. */
    sdv_broker_client_publish(p->c, signal_id, value, now_us());
    sdv_broker_client_publish_flush(p->c);
    printf("provider: executed actuation of signal %u\n", (unsigned)signal_id);
    fflush(stdout);
}

static int run_provider(const char *socket_path, const char *token, int period_ms, long burst)
{
    struct sdv_broker_client_config cfg;
    struct provider p;
    uint32_t ids[4];
    char err[256];
    int64_t next;
    long tick = 0;
    enum sdv_err rc;

    memset(&p, 0, sizeof(p));
    memset(&cfg, 0, sizeof(cfg));
    cfg.socket_path = socket_path;
    cfg.name = "vehicle-sim-provider";
    cfg.token = token;
    cfg.on_actuate = on_actuate;
    cfg.ud = &p;
    rc = sdv_broker_client_connect(&cfg, &p.c, err, sizeof(err));
    if (rc != SDV_OK) {
        fprintf(stderr, "provider: connect: %s\n", err);
        return rc == SDV_EDENIED ? 3 : 1;
    }
    if (sdv_broker_client_lookup(p.c, sim_paths, 4, p.sig) != SDV_OK) {
        fprintf(stderr, "provider: lookup: %s\n", sdv_broker_client_errmsg(p.c));
        sdv_broker_client_destroy(p.c);
        return 1;
    }
    for (int i = 0; i < 4; i++)
        ids[i] = p.sig[i].id;
    rc = sdv_broker_client_claim(p.c, ids, 4);
    if (rc != SDV_OK) {
        fprintf(stderr, "provider: claim: %s\n", sdv_broker_client_errmsg(p.c));
        sdv_broker_client_destroy(p.c);
        return rc == SDV_EDENIED ? 3 : 1;
    }
    printf("provider ready\n");
    fflush(stdout);
    next = mono_us();
    while (!g_stop) {
        struct pollfd pfd = {.fd = sdv_broker_client_fd(p.c), .events = POLLIN};
        int64_t wait = (next - mono_us()) / 1000;

        if (g_burst) {
            int64_t t0 = mono_us();

            g_burst = 0;
            for (long i = 0; i < burst; i++) {
                struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT, .count = 1};

                v.v.f = (float)i;
                if (sdv_broker_client_publish(p.c, p.sig[SPEED].id, &v, now_us()) != SDV_OK)
                    break;
            }
            sdv_broker_client_publish_flush(p.c);
            period_ms = 0; /* the burst's last value stays the newest (tests look for it) */
            printf("provider: burst of %ld values in %lld ms\n", burst,
                   (long long)((mono_us() - t0) / 1000));
            fflush(stdout);
        }
        if (period_ms > 0 && wait <= 0) {
            struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT, .count = 1};

            v.v.f = (float)(50 + tick % 70);
            sdv_broker_client_publish(p.c, p.sig[SPEED].id, &v, now_us());
            v.v.f = (float)(80.0 - (double)(tick % 600) / 10.0);
            sdv_broker_client_publish(p.c, p.sig[BATTERY].id, &v, now_us());
            sdv_broker_client_publish_flush(p.c);
            tick++;
            next += (int64_t)period_ms * 1000;
            continue;
        }
        if (period_ms <= 0)
            wait = 1000;
        if (poll(&pfd, 1, (int)(wait > 1000 ? 1000 : wait)) > 0) {
            rc = sdv_broker_client_process(p.c, 0);
            if (rc != SDV_OK) {
                fprintf(stderr, "provider: connection lost: %s\n", sdv_broker_client_errmsg(p.c));
                sdv_broker_client_destroy(p.c);
                return 1;
            }
        }
    }
    sdv_broker_client_destroy(p.c);
    return 0;
}

struct app_sub {
    long events, lost, count;
    char last[128];
    const char *until; /* stop at this value */
    bool done;
    uint16_t ended; /* the broker's status when it ended the subscription */
};

static void on_sub_ended(void *ud, uint32_t sub_id, uint16_t status, const char *message)
{
    struct app_sub *a = ud;

    (void)sub_id;
    a->ended = status;
    a->done = true;
    printf("ended %u %s\n", (unsigned)status, message);
}

static void on_event(void *ud, uint32_t sub_id, uint32_t signal_id,
                     const struct sdv_broker_value *value, int64_t ts_us)
{
    struct app_sub *a = ud;
    struct sdv_buf b;

    (void)sub_id;
    (void)ts_us;
    sdv_buf_init(&b, sizeof(a->last) - 1);
    sdv_broker_value_format(value, &b);
    snprintf(a->last, sizeof(a->last), "%s", b.data != NULL ? (const char *)b.data : "");
    sdv_buf_free(&b);
    a->events++;
    if (a->until != NULL && strcmp(a->last, a->until) == 0)
        a->done = true;
    if (a->count < 100 && a->count >= 0)
        printf("event %u %s\n", (unsigned)signal_id, a->last);
}

static void on_lost(void *ud, uint32_t sub_id, uint32_t lost)
{
    struct app_sub *a = ud;

    (void)sub_id;
    a->lost += lost;
}

static int refused(struct sdv_broker_client *c, const char *what, enum sdv_err rc)
{
    printf("refused: %s: %s: %s\n", what, sdv_errname(rc), sdv_broker_client_errmsg(c));
    return rc == SDV_ENET || rc == SDV_EPARSE ? 1 : 3;
}

static int run_app(const char *socket_path, const char *token, int argc, char **argv)
{
    struct sdv_broker_client_config cfg;
    struct sdv_broker_client *c = NULL;
    struct sdv_broker_client_signal sig;
    struct app_sub a;
    const char *path;
    char err[256];
    int status = 1;
    enum sdv_err rc;

    if (argc < 2) {
        fprintf(stderr, "sdv-vehicle-sim app: get|set|subscribe PATH ...\n");
        return 2;
    }
    path = argv[1];
    memset(&a, 0, sizeof(a));
    memset(&cfg, 0, sizeof(cfg));
    cfg.socket_path = socket_path;
    cfg.name = "vehicle-sim-app";
    cfg.token = token;
    cfg.on_lost = on_lost;
    cfg.on_sub_ended = on_sub_ended;
    cfg.ud = &a;
    rc = sdv_broker_client_connect(&cfg, &c, err, sizeof(err));
    if (rc != SDV_OK) {
        printf("refused: connect: %s: %s\n", sdv_errname(rc), err);
        return rc == SDV_EDENIED ? 3 : 1;
    }
    rc = sdv_broker_client_lookup(c, &path, 1, &sig);
    if (rc != SDV_OK || sig.status != 0) {
        if (rc == SDV_OK) {
            printf("refused: %s: %s: broker status %u\n", path,
                   sdv_errname(sdv_broker_client_err_from_status(sig.status)),
                   (unsigned)sig.status);
            status = 3;
            goto out;
        }
        status = refused(c, path, rc);
        goto out;
    }
    if (strcmp(argv[0], "get") == 0) {
        struct sdv_broker_value v;
        struct sdv_buf b;

        rc = sdv_broker_client_get(c, sig.id, &v, NULL);
        if (rc != SDV_OK) {
            status = refused(c, path, rc);
            goto out;
        }
        sdv_buf_init(&b, 70000);
        sdv_broker_value_format(&v, &b);
        printf("%s = %s\n", path, b.data != NULL ? (const char *)b.data : "");
        sdv_buf_free(&b);
        status = 0;
    } else if (strcmp(argv[0], "set") == 0 && argc >= 3) {
        struct sdv_broker_value v;
        struct sdv_buf scratch;

        sdv_buf_init(&scratch, 70000);
        rc = sdv_broker_value_parse(sig.datatype, argv[2], strlen(argv[2]), &scratch, &v, err,
                                    sizeof(err));
        if (rc != SDV_OK) {
            printf("refused: %s: bad value: %s\n", path, err);
            sdv_buf_free(&scratch);
            status = 3;
            goto out;
        }
        rc = sdv_broker_client_set(c, sig.id, &v);
        sdv_buf_free(&scratch);
        if (rc != SDV_OK) {
            status = refused(c, path, rc);
            goto out;
        }
        printf("%s set to %s (accepted by the provider)\n", path, argv[2]);
        status = 0;
    } else if (strcmp(argv[0], "subscribe") == 0) {
        struct sdv_broker_filter f;
        long sleep_ms = 0, idle_ms = 2000, renew_after_ms = -1;
        const char *renew_file = NULL;
        uint32_t sub_id;
        int64_t last, start;

        memset(&f, 0, sizeof(f));
        a.count = 5;
        for (int i = 2; i + 1 < argc; i += 2) {
            if (strcmp(argv[i], "--count") == 0)
                a.count = strtol(argv[i + 1], NULL, 10);
            else if (strcmp(argv[i], "--period-ms") == 0)
                f.period_ms = (uint32_t)strtoul(argv[i + 1], NULL, 10);
            else if (strcmp(argv[i], "--sleep-ms") == 0)
                sleep_ms = strtol(argv[i + 1], NULL, 10);
            else if (strcmp(argv[i], "--idle-ms") == 0)
                idle_ms = strtol(argv[i + 1], NULL, 10);
            else if (strcmp(argv[i], "--until") == 0)
                a.until = argv[i + 1];
            else if (strcmp(argv[i], "--renew-token-file") == 0)
                renew_file = argv[i + 1];
            else if (strcmp(argv[i], "--renew-after-ms") == 0)
                renew_after_ms = strtol(argv[i + 1], NULL, 10);
        }
        rc = sdv_broker_client_subscribe(c, &sig.id, 1, &f, on_event, &a, &sub_id);
        if (rc != SDV_OK) {
            status = refused(c, path, rc);
            goto out;
        }
        printf("subscribed %s\n", path);
        fflush(stdout);
        if (sleep_ms > 0) /* a slow consumer: the broker must drop, not wait */
            usleep((useconds_t)sleep_ms * 1000);
        last = start = mono_us();
        while ((a.count < 0 || a.events < a.count) && !a.done && !g_stop &&
               mono_us() - last < idle_ms * 1000) {
            long before = a.events + a.lost;

            if (renew_file != NULL && renew_after_ms >= 0 &&
                mono_us() - start >= renew_after_ms * 1000) {
                char *fresh = read_token(renew_file);

                rc = fresh != NULL ? sdv_broker_client_reauth(c, fresh) : SDV_EIO;
                if (rc == SDV_OK)
                    printf("renewed\n");
                else
                    printf("renewal refused: %s: %s\n", sdv_errname(rc),
                           sdv_broker_client_errmsg(c));
                fflush(stdout);
                free(fresh);
                renew_file = NULL;
            }
            rc = sdv_broker_client_process(c, 100);
            if (rc != SDV_OK) {
                status = refused(c, path, rc);
                goto out;
            }
            if (a.events + a.lost != before)
                last = mono_us();
        }
        printf("received %ld events, lost %ld, last %s\n", a.events, a.lost, a.last);
        if (a.ended != 0) {
            status = 3;
            goto out;
        }
        status = a.events >= a.count || a.count == 0 ? 0 : 1;
        if (a.count < 0)
            status = 0;
    } else {
        fprintf(stderr, "sdv-vehicle-sim app: unknown command %s\n", argv[0]);
        status = 2;
    }
out:
    fflush(stdout);
    sdv_broker_client_destroy(c);
    return status;
}

int main(int argc, char **argv)
{
    const char *socket_path = NULL, *token_file = NULL;
    int period_ms = 100, i, status;
    long burst = 100000;
    char *token;
    struct sigaction sa;

    if (argc < 2 || (strcmp(argv[1], "provider") != 0 && strcmp(argv[1], "app") != 0)) {
        fprintf(stderr, "usage: sdv-vehicle-sim provider|app --socket S --token-file F ...\n");
        return 2;
    }
    for (i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--socket") == 0)
            socket_path = argv[i + 1];
        else if (strcmp(argv[i], "--token-file") == 0)
            token_file = argv[i + 1];
        else if (strcmp(argv[i], "--period-ms") == 0 && strcmp(argv[1], "provider") == 0)
            period_ms = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--burst") == 0)
            burst = strtol(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (socket_path == NULL || token_file == NULL) {
        fprintf(stderr, "sdv-vehicle-sim: --socket and --token-file are required\n");
        return 2;
    }
    token = read_token(token_file);
    if (token == NULL)
        return 1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sig;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "provider") == 0)
        status = run_provider(socket_path, token, period_ms, burst);
    else
        status = run_app(socket_path, token, argc - i, argv + i);
    free(token);
    return status;
}
