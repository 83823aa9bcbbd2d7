/*
 * sdv_cmd_signal.c - `sdv signal`: reads, actuates, watches and provides vehicle signals on
 * sdv-broker's local socket, through the client library (sdv/broker_client.h).
 *
 *   sdv signal get [COMMON] PATH...
 *   sdv signal set [COMMON] PATH VALUE
 *   sdv signal subscribe [COMMON] [--period MS] [--change OP:DIFF] [--range OP:BOUND[,OP:BOUND]]
 *                        [--range-any] [--count N] PATH...
 *   sdv signal provide [COMMON] [--reject] [--count N] PATH[=VALUE]...
 *   COMMON: --socket PATH (default $SDV_BROKER_SOCKET or SIGNAL_SOCKET_DEFAULT), --token FILE,
 *           --timeout MS
 *
 * Output lines are "PATH VALUE TIMESTAMP" (RFC 3339, UTC, microseconds); values in their text
 * form (numbers exact, arrays as JSON). Errors go to stderr with the broker's reason; the exit
 * status is 0 on success, 1 on a refusal or error, 2 on a usage error.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sdv/broker.h>
#include <sdv/broker_client.h>
#include <sdv/broker_proto.h>
#include <sdv/common.h>

#include "sdv_cmds.h"

#define SIGNAL_SOCKET_DEFAULT "/run/sdv-broker/broker.sock"

/* Paths one invocation handles: plenty for a command line. */
#define SIGNAL_PATHS_MAX 64u

static volatile sig_atomic_t signal_stop;

static void signal_on_stop(int sig)
{
    (void)sig;
    signal_stop = 1;
}

/* The monotonic clock in microseconds: bounds every blocking call of the client library. */
static int64_t signal_clock(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void signal_usage(FILE *f)
{
    fputs("usage: sdv signal get [COMMON] PATH...\n"
          "       sdv signal set [COMMON] PATH VALUE\n"
          "       sdv signal subscribe [COMMON] [--period MS] [--change OP:DIFF]\n"
          "                            [--range OP:BOUND[,OP:BOUND]] [--range-any] [--count N]\n"
          "                            PATH...\n"
          "       sdv signal provide [COMMON] [--reject] [--count N] PATH[=VALUE]...\n"
          "  COMMON: --socket PATH (default $SDV_BROKER_SOCKET or " SIGNAL_SOCKET_DEFAULT ")\n"
          "          --token FILE (an access token, from `sdv token mint`) --timeout MS\n"
          "  get        prints PATH VALUE TIMESTAMP for each signal (VALUE null: none yet)\n"
          "  set        asks for actuation; waits until the provider accepted or refused it\n"
          "  subscribe  prints every event (VISS filters: timebased period, change, range;\n"
          "             OP is eq, ne, gt, gte, lt or lte) until --count events or Ctrl-C\n"
          "  provide    claims the signals, publishes the given values, then executes\n"
          "             actuation requests (publishing the new value) or, with --reject,\n"
          "             refuses them; until --count requests or Ctrl-C\n"
          "  VALUE: 22, 1.5, true, text; arrays as JSON: [1,2] [\"a\",\"b\"]\n",
          f);
}

static int signal_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int signal_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("sdv signal: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

struct signal_opts {
    const char *socket, *token_file;
    unsigned long timeout_ms, count;
    const char *period, *change, *range;
    int range_any, reject;
    const char *args[SIGNAL_PATHS_MAX];
    size_t nargs;
};

/* Strict unsigned decimal. */
static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno != 0 || *end != '\0' || *out > max ? -1 : 0;
}

static int signal_parse(int argc, char **argv, struct signal_opts *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->socket = getenv("SDV_BROKER_SOCKET");
    if (o->socket == NULL || o->socket[0] == '\0')
        o->socket = SIGNAL_SOCKET_DEFAULT;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **val = NULL;

        if (strcmp(a, "--socket") == 0)
            val = &o->socket;
        else if (strcmp(a, "--token") == 0)
            val = &o->token_file;
        else if (strcmp(a, "--period") == 0)
            val = &o->period;
        else if (strcmp(a, "--change") == 0)
            val = &o->change;
        else if (strcmp(a, "--range") == 0)
            val = &o->range;
        else if (strcmp(a, "--range-any") == 0) {
            o->range_any = 1;
            continue;
        } else if (strcmp(a, "--reject") == 0) {
            o->reject = 1;
            continue;
        } else if (strcmp(a, "--timeout") == 0 || strcmp(a, "--count") == 0) {
            unsigned long *n = a[2] == 't' ? &o->timeout_ms : &o->count;

            if (i + 1 >= argc || parse_ulong(argv[i + 1], 86400000ul, n) != 0) {
                fprintf(stderr, "sdv signal: %s needs a number\n", a);
                return -1;
            }
            i++;
            continue;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "sdv signal: unknown option %s\n", a);
            return -1;
        } else {
            if (o->nargs >= SIGNAL_PATHS_MAX) {
                fprintf(stderr, "sdv signal: more than %u arguments\n", SIGNAL_PATHS_MAX);
                return -1;
            }
            o->args[o->nargs++] = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sdv signal: %s needs a value\n", a);
            return -1;
        }
        *val = argv[++i];
    }
    return 0;
}

/* Reads the token file (its first line, surrounding whitespace removed) into *out (free it). */
static int read_token(const char *path, char **out)
{
    struct sdv_buf b;
    enum sdv_err err;
    char *s, *e;

    *out = NULL;
    if (path == NULL)
        return 0;
    sdv_buf_init(&b, SDV_BROKER_TOKEN_LEN_MAX + 2);
    err = sdv_fs_read(path, &b);
    if (err != SDV_OK) {
        sdv_buf_free(&b);
        return signal_fail("token file %s: %s", path, sdv_strerror(err));
    }
    s = sdv_buf_steal(&b, NULL);
    if (s == NULL)
        return signal_fail("out of memory");
    e = strchr(s, '\n');
    if (e != NULL)
        *e = '\0';
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\r' || e[-1] == '\t'))
        *--e = '\0';
    if (s[0] == '\0') {
        free(s);
        return signal_fail("token file %s is empty", path);
    }
    *out = s;
    return 0;
}

static int signal_connect(const struct signal_opts *o, const char *name,
                          sdv_broker_client_actuate_fn on_actuate, void *ud,
                          struct sdv_broker_client **c)
{
    struct sdv_broker_client_config cfg = {0};
    char err[SDV_BROKER_MESSAGE_LEN_MAX + 64], *token;
    int rc;

    if (read_token(o->token_file, &token) != 0)
        return 1;
    cfg.socket_path = o->socket;
    cfg.name = name;
    cfg.token = token;
    cfg.timeout_ms = (uint32_t)o->timeout_ms;
    cfg.on_actuate = on_actuate;
    cfg.ud = ud;
    cfg.clock = signal_clock;
    rc = sdv_broker_client_connect(&cfg, c, err, sizeof(err)) == SDV_OK
                 ? 0
                 : signal_fail("broker at %s: %s", o->socket, err);
    free(token);
    return rc;
}

/* Resolves paths[0..n) into sig; every path must exist. */
static int signal_lookup(struct sdv_broker_client *c, const char *const *paths, size_t n,
                         struct sdv_broker_client_signal *sig)
{
    size_t i;

    if (sdv_broker_client_lookup(c, paths, n, sig) != SDV_OK)
        return signal_fail("lookup: %s", sdv_broker_client_errmsg(c));
    for (i = 0; i < n; i++) {
        if (sig[i].status == 0)
            continue;
        if (sig[i].status == SDV_BROKER_STATUS_NOT_FOUND)
            return signal_fail("%s: no such signal (404)", paths[i]);
        if (sig[i].status == SDV_BROKER_STATUS_FORBIDDEN)
            return signal_fail("%s: not in the token's scope (403)", paths[i]);
        return signal_fail("%s: %s (%u)", paths[i],
                           sdv_strerror(sdv_broker_client_err_from_status(sig[i].status)),
                           (unsigned)sig[i].status);
    }
    return 0;
}

/* Prints "PATH VALUE TIMESTAMP". */
static void print_value(const char *path, const struct sdv_broker_value *v, int64_t ts_us)
{
    char ts[SDV_BROKER_VISS_TS_LEN] = "-";
    struct sdv_buf text;

    sdv_buf_init(&text, 1u << 20);
    if (sdv_broker_value_format(v, &text) != SDV_OK)
        sdv_buf_puts(&text, "?");
    if (ts_us != 0)
        (void)sdv_broker_viss_ts_format(ts_us, ts);
    printf("%s %s %s\n", path, text.data != NULL ? (const char *)text.data : "", ts);
    fflush(stdout);
    sdv_buf_free(&text);
}

static int cmd_get(const struct signal_opts *o)
{
    struct sdv_broker_client_signal sig[SIGNAL_PATHS_MAX];
    struct sdv_broker_client *c;
    size_t i;
    int rc = 0;

    if (o->nargs == 0)
        return signal_fail("get: which signal? (PATH...)");
    if (signal_connect(o, "sdv signal get", NULL, NULL, &c) != 0)
        return 1;
    if (signal_lookup(c, o->args, o->nargs, sig) != 0) {
        sdv_broker_client_destroy(c);
        return 1;
    }
    for (i = 0; i < o->nargs && rc == 0; i++) {
        struct sdv_broker_value v;
        int64_t ts = 0;

        if (sdv_broker_client_get(c, sig[i].id, &v, &ts) != SDV_OK)
            rc = signal_fail("get %s: %s", o->args[i], sdv_broker_client_errmsg(c));
        else
            print_value(o->args[i], &v, ts);
    }
    sdv_broker_client_destroy(c);
    return rc;
}

static int cmd_set(const struct signal_opts *o)
{
    struct sdv_broker_client_signal sig;
    struct sdv_broker_client *c;
    struct sdv_broker_value v;
    struct sdv_buf scratch;
    char err[256];
    enum sdv_err e;
    int rc = 0;

    if (o->nargs != 2)
        return signal_fail("set: needs PATH VALUE");
    if (signal_connect(o, "sdv signal set", NULL, NULL, &c) != 0)
        return 1;
    if (signal_lookup(c, o->args, 1, &sig) != 0) {
        sdv_broker_client_destroy(c);
        return 1;
    }
    sdv_buf_init(&scratch, SDV_BROKER_STRING_LEN_MAX * 2u);
    if (sdv_broker_value_parse(sig.datatype, o->args[1], strlen(o->args[1]), &scratch, &v, err,
                               sizeof(err)) != SDV_OK) {
        rc = signal_fail("set %s: %s is not a valid %s: %s", o->args[0], o->args[1],
                         sdv_broker_datatype_name(sig.datatype), err);
    } else {
        e = sdv_broker_client_set(c, sig.id, &v);
        if (e != SDV_OK)
            rc = signal_fail("set %s refused (%s): %s", o->args[0], sdv_strerror(e),
                             sdv_broker_client_errmsg(c));
        else
            printf("%s %s accepted\n", o->args[0], o->args[1]);
    }
    sdv_buf_free(&scratch);
    sdv_broker_client_destroy(c);
    return rc;
}

/* Parses "OP:NUMBER" into op and a numeric value (INT64 when integral, else DOUBLE). */
static int parse_op_number(const char *s, enum sdv_broker_op *op, struct sdv_broker_value *num,
                           struct sdv_buf *scratch)
{
    const char *colon = strchr(s, ':');
    char name[8], err[128];
    size_t n;

    if (colon == NULL || (n = (size_t)(colon - s)) == 0 || n >= sizeof(name))
        return -1;
    memcpy(name, s, n);
    name[n] = '\0';
    if (sdv_broker_op_parse(name, op) != SDV_OK || *op == SDV_BROKER_OP_ANY)
        return -1;
    if (sdv_broker_value_parse(SDV_BROKER_DT_INT64, colon + 1, strlen(colon + 1), scratch, num, err,
                               sizeof(err)) == SDV_OK)
        return 0;
    return sdv_broker_value_parse(SDV_BROKER_DT_DOUBLE, colon + 1, strlen(colon + 1), scratch, num,
                                  err, sizeof(err)) == SDV_OK
                   ? 0
                   : -1;
}

static int build_filter(const struct signal_opts *o, struct sdv_broker_filter *f)
{
    struct sdv_buf scratch;
    unsigned long period = 0;
    int rc = 0;

    memset(f, 0, sizeof(*f));
    sdv_buf_init(&scratch, 64);
    if (o->period != NULL) {
        if (parse_ulong(o->period, SDV_BROKER_PERIOD_MS_MAX, &period) != 0 || period == 0)
            rc = signal_fail("--period %s: milliseconds, 1..%u", o->period,
                             SDV_BROKER_PERIOD_MS_MAX);
        else
            f->period_ms = (uint32_t)period;
    }
    if (rc == 0 && o->change != NULL) {
        f->change = true;
        if (parse_op_number(o->change, &f->change_op, &f->change_diff, &scratch) != 0)
            rc = signal_fail("--change %s: OP:DIFF with OP eq, ne, gt, gte, lt or lte", o->change);
    }
    if (rc == 0 && o->range != NULL) {
        const char *comma = strchr(o->range, ',');
        char first[64];

        if (comma != NULL && (size_t)(comma - o->range) < sizeof(first)) {
            memcpy(first, o->range, (size_t)(comma - o->range));
            first[comma - o->range] = '\0';
        } else {
            snprintf(first, sizeof(first), "%s", o->range);
        }
        f->range_count = comma != NULL ? 2 : 1;
        f->range_any = o->range_any != 0;
        if (parse_op_number(first, &f->range[0].op, &f->range[0].boundary, &scratch) != 0 ||
            (comma != NULL &&
             parse_op_number(comma + 1, &f->range[1].op, &f->range[1].boundary, &scratch) != 0))
            rc = signal_fail("--range %s: OP:BOUND[,OP:BOUND]", o->range);
    }
    sdv_buf_free(&scratch);
    return rc;
}

struct watch {
    const char *const *paths;
    const struct sdv_broker_client_signal *sig;
    size_t n;
    unsigned long seen;
    int ended; /* the broker ended the subscription (token expired, no longer granted) */
};

static void on_event(void *ud, uint32_t sub_id, uint32_t signal_id,
                     const struct sdv_broker_value *v, int64_t ts_us)
{
    struct watch *w = ud;
    size_t i;

    (void)sub_id;
    for (i = 0; i < w->n; i++)
        if (w->sig[i].id == signal_id)
            break;
    print_value(i < w->n ? w->paths[i] : "?", v, ts_us);
    w->seen++;
}

static void on_lost(void *ud, uint32_t sub_id, uint32_t lost)
{
    (void)ud;
    fprintf(stderr, "sdv signal: subscription %u lost %u values (reading too slowly)\n",
            (unsigned)sub_id, (unsigned)lost);
}

static void on_sub_ended(void *ud, uint32_t sub_id, uint16_t status, const char *message)
{
    struct watch *w = ud;

    fprintf(stderr, "sdv signal: the broker ended subscription %u: %u %s\n", (unsigned)sub_id,
            (unsigned)status, message);
    w->ended = 1;
}

static int cmd_subscribe(const struct signal_opts *o)
{
    struct sdv_broker_client_signal sig[SIGNAL_PATHS_MAX];
    struct sdv_broker_client_config cfg = {0};
    struct watch w = {o->args, sig, o->nargs, 0, 0};
    struct sdv_broker_client *c;
    struct sdv_broker_filter f;
    uint32_t ids[SIGNAL_PATHS_MAX], sub;
    char err[SDV_BROKER_MESSAGE_LEN_MAX + 64], *token;
    size_t i;
    int rc = 0;

    if (o->nargs == 0)
        return signal_fail("subscribe: which signals? (PATH...)");
    if (build_filter(o, &f) != 0 || read_token(o->token_file, &token) != 0)
        return 1;
    cfg.socket_path = o->socket;
    cfg.name = "sdv signal subscribe";
    cfg.token = token;
    cfg.timeout_ms = (uint32_t)o->timeout_ms;
    cfg.on_lost = on_lost;
    cfg.on_sub_ended = on_sub_ended;
    cfg.ud = &w;
    cfg.clock = signal_clock;
    if (sdv_broker_client_connect(&cfg, &c, err, sizeof(err)) != SDV_OK) {
        free(token);
        return signal_fail("broker at %s: %s", o->socket, err);
    }
    free(token);
    if (signal_lookup(c, o->args, o->nargs, sig) != 0) {
        sdv_broker_client_destroy(c);
        return 1;
    }
    for (i = 0; i < o->nargs; i++)
        ids[i] = sig[i].id;
    if (sdv_broker_client_subscribe(c, ids, o->nargs, &f, on_event, &w, &sub) != SDV_OK) {
        rc = signal_fail("subscribe: %s", sdv_broker_client_errmsg(c));
        sdv_broker_client_destroy(c);
        return rc;
    }
    signal(SIGINT, signal_on_stop);
    signal(SIGTERM, signal_on_stop);
    while (!signal_stop && (o->count == 0 || w.seen < o->count)) {
        if (sdv_broker_client_process(c, 200) != SDV_OK) {
            rc = signal_fail("%s", sdv_broker_client_errmsg(c));
            break;
        }
        if (w.ended) { /* nothing more will come: say so (above) and fail */
            rc = 1;
            break;
        }
    }
    sdv_broker_client_destroy(c);
    return rc;
}

struct provider {
    struct sdv_broker_client *c;
    const char *const *paths;
    const struct sdv_broker_client_signal *sig;
    size_t n;
    int reject;
    unsigned long handled;
    int failed;
};

/* Executes (or refuses) one actuation: accepts, then publishes the value as the actuator's new
 * state, as a real provider does once the hardware has moved. */
static void on_actuate(void *ud, uint64_t actuation_id, uint32_t signal_id,
                       const struct sdv_broker_value *v)
{
    struct provider *p = ud;
    size_t i;

    for (i = 0; i < p->n; i++)
        if (p->sig[i].id == signal_id)
            break;
    p->handled++;
    if (p->reject) {
        printf("refused ");
        print_value(i < p->n ? p->paths[i] : "?", v, 0);
        if (sdv_broker_client_actuate_reply(p->c, actuation_id, SDV_BROKER_STATUS_CONFLICT,
                                            "refused by sdv signal provide --reject") != SDV_OK)
            p->failed = 1;
        return;
    }
    printf("actuated ");
    print_value(i < p->n ? p->paths[i] : "?", v, 0);
    if (sdv_broker_client_actuate_reply(p->c, actuation_id, 0, NULL) != SDV_OK ||
        sdv_broker_client_publish(p->c, signal_id, v, 0) != SDV_OK ||
        sdv_broker_client_publish_flush(p->c) != SDV_OK)
        p->failed = 1;
}

static int cmd_provide(const struct signal_opts *o)
{
    struct sdv_broker_client_signal sig[SIGNAL_PATHS_MAX];
    const char *paths[SIGNAL_PATHS_MAX], *values[SIGNAL_PATHS_MAX];
    char names[SIGNAL_PATHS_MAX][SDV_BROKER_PATH_LEN_MAX + 1];
    struct provider p = {0};
    struct sdv_buf scratch;
    uint32_t ids[SIGNAL_PATHS_MAX];
    size_t i;
    int rc = 0;

    if (o->nargs == 0)
        return signal_fail("provide: which signals? (PATH[=VALUE]...)");
    for (i = 0; i < o->nargs; i++) {
        const char *eq = strchr(o->args[i], '=');
        size_t n = eq != NULL ? (size_t)(eq - o->args[i]) : strlen(o->args[i]);

        if (n == 0 || n > SDV_BROKER_PATH_LEN_MAX)
            return signal_fail("provide: bad signal %s", o->args[i]);
        memcpy(names[i], o->args[i], n);
        names[i][n] = '\0';
        paths[i] = names[i];
        values[i] = eq != NULL ? eq + 1 : NULL;
    }
    p.paths = paths;
    p.sig = sig;
    p.n = o->nargs;
    p.reject = o->reject;
    if (signal_connect(o, "sdv signal provide", on_actuate, &p, &p.c) != 0)
        return 1;
    if (signal_lookup(p.c, paths, o->nargs, sig) != 0) {
        sdv_broker_client_destroy(p.c);
        return 1;
    }
    for (i = 0; i < o->nargs; i++)
        ids[i] = sig[i].id;
    if (sdv_broker_client_claim(p.c, ids, o->nargs) != SDV_OK) {
        rc = signal_fail("claim: %s", sdv_broker_client_errmsg(p.c));
        sdv_broker_client_destroy(p.c);
        return rc;
    }
    sdv_buf_init(&scratch, SDV_BROKER_STRING_LEN_MAX * 2u);
    for (i = 0; i < o->nargs && rc == 0; i++) {
        struct sdv_broker_value v;
        char err[256];

        if (values[i] == NULL)
            continue;
        if (sdv_broker_value_parse(sig[i].datatype, values[i], strlen(values[i]), &scratch, &v, err,
                                   sizeof(err)) != SDV_OK)
            rc = signal_fail("%s=%s: not a valid %s: %s", paths[i], values[i],
                             sdv_broker_datatype_name(sig[i].datatype), err);
        else if (sdv_broker_client_publish(p.c, sig[i].id, &v, 0) != SDV_OK)
            rc = signal_fail("publish %s: %s", paths[i], sdv_broker_client_errmsg(p.c));
    }
    sdv_buf_free(&scratch);
    if (rc == 0 && sdv_broker_client_publish_flush(p.c) != SDV_OK)
        rc = signal_fail("publish: %s", sdv_broker_client_errmsg(p.c));
    if (rc == 0) {
        printf("providing %zu signals\n", o->nargs);
        fflush(stdout);
    }
    signal(SIGINT, signal_on_stop);
    signal(SIGTERM, signal_on_stop);
    while (rc == 0 && !signal_stop && (o->count == 0 || p.handled < o->count)) {
        if (sdv_broker_client_process(p.c, 200) != SDV_OK)
            rc = signal_fail("%s", sdv_broker_client_errmsg(p.c));
        else if (p.failed)
            rc = signal_fail("answering an actuation: %s", sdv_broker_client_errmsg(p.c));
    }
    sdv_broker_client_destroy(p.c);
    return rc;
}

int sdv_cmd_signal(int argc, char **argv)
{
    struct signal_opts o;

    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        signal_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (signal_parse(argc, argv, &o) != 0) {
        signal_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "get") == 0)
        return cmd_get(&o);
    if (strcmp(argv[1], "set") == 0)
        return cmd_set(&o);
    if (strcmp(argv[1], "subscribe") == 0)
        return cmd_subscribe(&o);
    if (strcmp(argv[1], "provide") == 0)
        return cmd_provide(&o);
    fprintf(stderr, "sdv signal: unknown command \"%s\"\n", argv[1]);
    signal_usage(stderr);
    return 2;
}
