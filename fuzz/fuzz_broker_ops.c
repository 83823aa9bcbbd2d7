/*
 * fuzz_broker_ops.c - drives the broker with a sequence of operations decoded from the input:
 * four sessions claim, release, publish (numbers, booleans, strings of any length, arrays),
 * subscribe with random filters and queue sizes, pop, unsubscribe, actuate, answer, close, and
 * the clock moves and ticks. Operations arrive from untrusted sessions in the daemon, so no
 * order of them may corrupt the broker.
 *
 * Checked properties: every popped event is a valid value of its signal's datatype and passes
 * the signal's checks; a queue never holds more than its length; a stored value always passes
 * its checks; results only go to sessions that asked; nothing crashes or leaks under the
 * sanitizers.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/broker.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char catalog[] =
        "{\"V\": {\"type\": \"branch\", \"children\": {"
        "\"Speed\": {\"type\": \"sensor\", \"datatype\": \"float\", \"min\": -10, \"max\": 300},"
        "\"Door\": {\"type\": \"actuator\", \"datatype\": \"boolean\"},"
        "\"Fan\": {\"type\": \"actuator\", \"datatype\": \"uint8\", \"max\": 100},"
        "\"Mode\": {\"type\": \"actuator\", \"datatype\": \"string\", \"allowed\": [\"A\", "
        "\"BB\"]},"
        "\"Text\": {\"type\": \"sensor\", \"datatype\": \"string\"},"
        "\"Arr\": {\"type\": \"sensor\", \"datatype\": \"int16[]\"},"
        "\"Big\": {\"type\": \"attribute\", \"datatype\": \"uint64\", \"default\": 7}"
        "}}}";

#define NSIG  7u
#define NWHO  4u
#define NSUBS 16u

struct state {
    int64_t now;
    const uint8_t *p;
    size_t n;
    uint64_t last_act[NWHO]; /* last request id routed to each provider */
    int results_to_unknown;
};

static int who_tag[NWHO];

static uint8_t next(struct state *s)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return *s->p++;
}

static int64_t fuzz_clock(void *ud)
{
    return ((struct state *)ud)->now;
}

static enum sdv_err fuzz_actuate(void *ud, const struct sdv_broker_actuation *req)
{
    struct state *s = ud;
    unsigned w;

    for (w = 0; w < NWHO; w++)
        if (req->provider == &who_tag[w])
            s->last_act[w] = req->id;
    if (sdv_broker_signal_check(req->signal, &req->value, NULL, 0) != SDV_OK)
        abort();
    return (next(s) & 7) == 0 ? SDV_EUNAVAILABLE : SDV_OK;
}

static void fuzz_result(void *ud, const void *requester, uint64_t id, enum sdv_err result,
                        const char *message)
{
    struct state *s = ud;
    unsigned w;
    bool known = false;

    (void)id;
    (void)result;
    if (message == NULL)
        abort();
    for (w = 0; w < NWHO; w++)
        known |= requester == &who_tag[w];
    if (!known)
        s->results_to_unknown++;
}

static bool fuzz_check(void *ud, const void *who, const struct sdv_broker_signal *sig)
{
    (void)ud;
    return !(who == &who_tag[3] && sig->id == 0);
}

/* Builds a value of some datatype (often the signal's, sometimes not) in buf. */
static void make_value(struct state *s, uint8_t *buf, size_t cap, struct sdv_broker_value *v,
                       const struct sdv_broker_signal *sig)
{
    uint8_t sel = next(s);
    size_t len, k;

    memset(v, 0, sizeof(*v));
    v->count = 1;
    v->type = (sel & 0xc0) == 0 ? (enum sdv_broker_datatype)(next(s) % 0x2d) : sig->datatype;
    switch (v->type) {
    case SDV_BROKER_DT_FLOAT:
        v->v.f = (float)(int8_t)next(s) * 3.0f;
        break;
    case SDV_BROKER_DT_BOOLEAN:
        v->v.b = next(s) & 1;
        break;
    case SDV_BROKER_DT_UINT8:
    case SDV_BROKER_DT_UINT64:
        v->v.u = next(s);
        break;
    case SDV_BROKER_DT_STRING:
        len = (size_t)next(s) * (sel & 0x20 ? 300u : 1u);
        if (len > cap)
            len = cap;
        for (k = 0; k < len; k++)
            buf[k] = (uint8_t)('A' + (k % 2));
        if (len == 1)
            buf[0] = 'A';
        v->len = (uint32_t)len;
        v->v.p = buf;
        break;
    case SDV_BROKER_DT_INT16_ARRAY:
        v->count = next(s) % 9;
        v->len = v->count * 2u;
        for (k = 0; k < v->len; k++)
            buf[k] = next(s);
        v->v.p = buf;
        break;
    default:
        v->v.i = (int8_t)next(s);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[80000];
    struct sdv_broker_catalog *cat = NULL;
    struct sdv_broker_config cfg;
    struct sdv_broker *b = NULL;
    struct state st = {.now = 1000000, .p = data, .n = size};
    uint32_t subs[NSUBS] = {0};
    uint32_t subs_len[NSUBS] = {0};
    const void *subs_who[NSUBS] = {0};
    unsigned steps = 0;

    if (sdv_broker_catalog_create(NULL, &cat) != SDV_OK)
        return 0;
    if (sdv_broker_catalog_load_json(cat, catalog, strlen(catalog), "fuzz") != SDV_OK)
        abort();
    memset(&cfg, 0, sizeof(cfg));
    cfg.catalog = cat;
    cfg.clock = fuzz_clock;
    cfg.clock_ud = &st;
    cfg.actuate = fuzz_actuate;
    cfg.actuate_result = fuzz_result;
    cfg.actuate_ud = &st;
    cfg.event_check = fuzz_check;
    cfg.subscriptions_max = 8;
    cfg.actuations_max = 4;
    cfg.actuation_timeout_ms = 50;
    if (sdv_broker_create(&cfg, &b, NULL, 0) != SDV_OK)
        abort();
    while (st.n > 0 && steps++ < 2000) {
        uint8_t op = next(&st);
        unsigned w = (op >> 4) % NWHO;
        const void *who = &who_tag[w];
        uint32_t id = next(&st) % (NSIG + 1); /* one past the end on purpose */
        const struct sdv_broker_signal *sig = sdv_broker_catalog_signal(cat, id % NSIG);
        struct sdv_broker_value v;
        uint64_t req;

        switch (op & 0x0f) {
        case 0:
            sdv_broker_claim(b, who, &id, 1);
            break;
        case 1:
            sdv_broker_release(b, who, &id, 1);
            break;
        case 2:
        case 3:
            make_value(&st, buf, sizeof(buf), &v, sig);
            sdv_broker_publish(b, who, id, &v, 0);
            break;
        case 4: {
            struct sdv_broker_filter f;
            uint32_t ids[3] = {id, next(&st) % NSIG, next(&st) % NSIG};
            unsigned k = next(&st) % NSUBS;
            uint32_t qlen = next(&st) % 6;

            memset(&f, 0, sizeof(f));
            f.period_ms = (next(&st) & 3) == 0 ? 10u * (next(&st) % 5) : 0;
            f.change = next(&st) & 1;
            f.change_op = (enum sdv_broker_op)(next(&st) % 8);
            if (next(&st) & 1) {
                f.change_diff.type = SDV_BROKER_DT_INT32;
                f.change_diff.count = 1;
                f.change_diff.v.i = (int8_t)next(&st);
            }
            f.range_count = next(&st) % 3;
            f.range_any = next(&st) & 1;
            f.range[0].op = (enum sdv_broker_op)(next(&st) % 7);
            f.range[0].boundary = (struct sdv_broker_value){
                    .type = SDV_BROKER_DT_DOUBLE, .count = 1, .v.d = (int8_t)next(&st)};
            f.range[1].op = (enum sdv_broker_op)(next(&st) % 7);
            f.range[1].boundary = (struct sdv_broker_value){
                    .type = SDV_BROKER_DT_UINT8, .count = 1, .v.u = next(&st)};
            f.trigger_first = next(&st) & 1;
            if (subs[k] == 0 && sdv_broker_subscribe(b, who, ids, 1 + next(&st) % 3, &f, qlen,
                                                     next(&st) & 1 ? 0 : 1, &subs[k]) == SDV_OK) {
                subs_len[k] = qlen ? qlen : SDV_BROKER_SUB_QUEUE_LEN_DEFAULT;
                subs_who[k] = who;
            }
            break;
        }
        case 5:
        case 6: {
            unsigned k = next(&st) % NSUBS, i, pops = 1 + next(&st) % 8;

            if (subs[k] == 0)
                break;
            if (sdv_broker_sub_pending(b, subs[k]) > subs_len[k])
                abort();
            for (i = 0; i < pops; i++) {
                struct sdv_broker_event ev;
                bool got = false;
                enum sdv_err rc = sdv_broker_sub_pop(b, subs_who[k], subs[k], &ev, &got);

                if (rc == SDV_ENOENT) {
                    subs[k] = 0; /* closed with its session */
                    break;
                }
                if (rc != SDV_OK)
                    abort();
                if (!got)
                    break;
                if (sdv_broker_signal_check(ev.signal, &ev.value, NULL, 0) != SDV_OK)
                    abort();
            }
            break;
        }
        case 7: {
            unsigned k = next(&st) % NSUBS;

            if (subs[k] != 0 && sdv_broker_unsubscribe(b, who, subs[k]) == SDV_OK)
                subs[k] = 0;
            break;
        }
        case 8:
            make_value(&st, buf, sizeof(buf), &v, sig);
            sdv_broker_actuate(b, who, id, &v, &req);
            break;
        case 9:
            sdv_broker_actuation_done(b, who, st.last_act[w] + (next(&st) & 1),
                                      (next(&st) & 1) ? SDV_OK : SDV_EINVAL, "no");
            break;
        case 10:
            sdv_broker_session_close(b, who);
            break;
        case 11:
            st.now += (int64_t)next(&st) * 1000;
            sdv_broker_tick(b);
            break;
        case 12:
            if (sdv_broker_get(b, id, &v, NULL) == SDV_OK && v.type != SDV_BROKER_DT_NONE &&
                sdv_broker_signal_check(sig, &v, NULL, 0) != SDV_OK)
                abort();
            break;
        default:
            sdv_broker_tick(b);
            break;
        }
    }
    if (st.results_to_unknown != 0)
        abort();
    sdv_broker_destroy(b);
    sdv_broker_catalog_destroy(cat);
    return 0;
}
