/*
 * broker_int.h - private to lib/broker's core (values, catalog, broker, subscriptions,
 * persistence): exact numeric comparison shared by the checks and the filters, value payload
 * helpers, and the broker's internal state.
 */
#ifndef SDV_BROKER_INT_H
#define SDV_BROKER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <sdv/broker.h>

/* Signed 128-bit integers hold every int64 and uint64 and their differences exactly. */
__extension__ typedef __int128 broker_i128;

/* A number of any VSS numeric type, for exact comparison: an integer or a double. */
struct broker_num {
    bool is_int;
    broker_i128 i;
    double d;
};

/* True for the numeric scalar types (int8..double). */
bool broker_dt_numeric(enum sdv_broker_datatype dt);

/* Extracts element k of v (a numeric scalar when v is not an array: k is 0). */
struct broker_num broker_num_of(const struct sdv_broker_value *v, uint32_t k);

/* -1, 0 or 1; NaN never occurs (values are validated finite). */
int broker_num_cmp(const struct broker_num *a, const struct broker_num *b);

/* a - b: exact for integers, double arithmetic otherwise. */
struct broker_num broker_num_sub(const struct broker_num *a, const struct broker_num *b);

/* Writes the decimal text of a number (shortest round trip for float/double). */
void broker_num_text(const struct sdv_broker_value *v, uint32_t k, char *out, size_t out_len);

/* Applies op to a comparison result (op is not OP_ANY). */
bool broker_op_holds(enum sdv_broker_op op, int cmp);

/* Returns the name of a logic-op for messages ("gt"). */
const char *broker_op_name(enum sdv_broker_op op);

/* Element k of v as a scalar (v itself when not an array). String arrays are walked in order:
 * *str_pos starts at v->v.p and advances past element k (k must go 0, 1, 2...). */
void broker_value_elem(const struct sdv_broker_value *v, uint32_t k, const char **str_pos,
                       struct sdv_broker_value *out);

/* Payload bytes of a value (strings and arrays), 0 for scalars. */
static inline uint32_t broker_value_payload_len(const struct sdv_broker_value *v)
{
    return (v->type == SDV_BROKER_DT_STRING || SDV_BROKER_DT_IS_ARRAY(v->type)) ? v->len : 0;
}

/* 64-bit FNV-1a of n bytes (hash table of paths, change filter on payload values). */
uint64_t broker_hash(const void *p, size_t n);

/* Deep copy of v whose payload is malloc()ed (free with broker_value_free_payload). */
enum sdv_err broker_value_dup(const struct sdv_broker_value *v, struct sdv_broker_value *out);
void broker_value_free_payload(struct sdv_broker_value *v);

/* Catalog internals the broker needs. */
void broker_catalog_freeze(struct sdv_broker_catalog *cat);

/* ---- Broker state (broker_core.c, broker_sub.c, broker_persist.c) ---- */

/* A subscription's entry in a signal's subscriber list. */
struct broker_ref {
    uint32_t slot; /* subscription slot */
    uint32_t idx;  /* index into that subscription's sigs */
};

/* Per-signal state: owner, current value, subscribers. */
struct broker_sig_state {
    const void *owner;
    struct sdv_broker_value value; /* payload in payload[] */
    int64_t ts_us;
    uint8_t *payload;
    uint32_t payload_cap;
    struct broker_ref *refs;
    uint32_t nrefs, refs_cap;
};

/* Per (subscription, signal) filter state: the last value delivered. */
struct broker_sub_sig {
    uint32_t id;
    bool has_last;
    struct broker_num last_num; /* numeric and boolean signals */
    uint64_t last_hash;         /* strings and arrays: hash and length of the payload */
    uint32_t last_len;
};

/* One queued event; the payload of strings and arrays lives in the subscription's arena. */
struct broker_qent {
    uint32_t id;
    enum sdv_broker_datatype type;
    uint32_t count, len, off;
    int64_t ts_us;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        float f;
        double d;
    } s;
};

struct broker_sub {
    uint32_t id; /* 0: free slot */
    uint16_t gen;
    const void *who;
    struct sdv_broker_filter f;
    struct broker_sub_sig *sigs;
    uint32_t nsigs;
    struct broker_qent *q;
    uint32_t qcap, qhead, qlen;
    uint8_t *arena; /* FIFO ring of payloads, in queue order */
    uint32_t acap, ahead, atail, alive, awrap;
    uint8_t *popbuf; /* payload of the last popped event */
    uint32_t popcap;
    uint64_t lost, denied;
    int64_t next_due_us; /* timebased */
};

/* A pending actuation request. */
struct broker_act {
    uint64_t id; /* 0: free */
    const void *provider;
    const void *requester;
    uint32_t sig;
    int64_t deadline_us;
};

struct sdv_broker {
    struct sdv_broker_config cfg;
    const struct sdv_broker_catalog *cat;
    uint32_t nsigs;
    struct broker_sig_state *st;
    uint8_t *mark; /* nsigs bytes of scratch (duplicate detection) */

    struct broker_sub *subs;
    uint32_t subs_max, subs_used, timebased;
    uint64_t queue_mem; /* bytes of all queues (entries and arenas) */
    uint32_t *sub_free; /* stack of free slots */
    uint32_t nsub_free;

    struct broker_act *acts;
    uint32_t acts_max, acts_used;
    uint32_t *act_free;
    uint32_t nact_free;
    uint64_t act_seq;

    int64_t next_deadline_us; /* earliest thing tick() has to do */

    char *persist_path;
    bool dirty;
    int64_t last_persist_us;
    struct broker_writer *writer; /* the snapshot writer thread; NULL until first used */
    bool persist_inflight;        /* a snapshot was handed to the writer, result not seen */

    char errmsg[512];
};

void broker_err(struct sdv_broker *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t broker_now(const struct sdv_broker *b);
void broker_schedule(struct sdv_broker *b, int64_t at_us);

/* broker_sub.c */
enum sdv_err broker_subs_init(struct sdv_broker *b);
void broker_subs_free(struct sdv_broker *b);
void broker_fanout(struct sdv_broker *b, uint32_t id);
void broker_subs_tick(struct sdv_broker *b, int64_t now_us);
void broker_subs_close(struct sdv_broker *b, const void *who);

/* broker_persist.c */
enum sdv_err broker_persist_load(struct sdv_broker *b, char *err, size_t err_len);
/* Periodic snapshot from tick(): serialises on the caller's thread, writes on the writer
 * thread. Reports the previous write's failure, if any, through the log. */
void broker_persist_tick(struct sdv_broker *b, int64_t now_us);
/* Waits for the writer thread to finish and stops it. */
void broker_persist_stop(struct sdv_broker *b);

/* Stores v as the current value of id (no checks, no fan-out). */
enum sdv_err broker_store_value(struct sdv_broker *b, uint32_t id, const struct sdv_broker_value *v,
                                int64_t ts_us);

#endif /* SDV_BROKER_INT_H */
