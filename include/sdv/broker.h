/*
 * sdv/broker.h - the core of sdv-broker, the vehicle signal broker on the COVESA VSS catalog
 * (issue 6): typed values, the catalog, and the in-process broker (providers, current values,
 * actuation routing, subscriptions with VISS filters, persistence). The daemon (cmd/sdv-broker)
 * drives one broker from one event loop and puts the wire protocols (lib/broker/broker_frame*,
 * broker_viss*) and access control (sdv/broker_auth.h) around it. Design: docs/broker.md.
 *
 * Sessions ("who"): every operation takes an opaque const void *who, the daemon's session
 * (connection) pointer. The broker never dereferences it; it only compares it, to know which
 * provider owns a signal and whose subscription is whose. The daemon checks tokens and scopes
 * before it calls an operation; events are re-checked per delivery through
 * sdv_broker_config.event_check.
 *
 * Time: lib/ never reads a clock. The broker asks sdv_broker_config.clock for "now" in
 * microseconds since the Unix epoch (the daemon passes CLOCK_REALTIME, tests a counter).
 *
 * Thread safety: none inside. A catalog is immutable once a broker uses it and may then be
 * read from any thread; a broker is used by one thread at a time (the daemon's event loop).
 * With persistence, the broker starts one thread of its own that only writes snapshot files.
 * Callbacks run synchronously inside the broker call that triggers them and must not call back
 * into the same broker, except where a callback's comment says so.
 */
#ifndef SDV_BROKER_H
#define SDV_BROKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/common.h>
#include <sdv/limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Datatypes and values ----------------------------------------------------------------- */

/*
 * The VSS datatypes. The numbers are stable (the binary protocol carries them in one byte): an
 * array type is its element type with SDV_BROKER_DT_ARRAY set. SDV_BROKER_DT_NONE is "no value"
 * (a signal nobody has written yet).
 */
enum sdv_broker_datatype {
    SDV_BROKER_DT_NONE = 0,
    SDV_BROKER_DT_BOOLEAN = 1,
    SDV_BROKER_DT_INT8 = 2,
    SDV_BROKER_DT_INT16 = 3,
    SDV_BROKER_DT_INT32 = 4,
    SDV_BROKER_DT_INT64 = 5,
    SDV_BROKER_DT_UINT8 = 6,
    SDV_BROKER_DT_UINT16 = 7,
    SDV_BROKER_DT_UINT32 = 8,
    SDV_BROKER_DT_UINT64 = 9,
    SDV_BROKER_DT_FLOAT = 10,
    SDV_BROKER_DT_DOUBLE = 11,
    SDV_BROKER_DT_STRING = 12,
    SDV_BROKER_DT_ARRAY = 0x20, /* flag */
    SDV_BROKER_DT_BOOLEAN_ARRAY = 0x21,
    SDV_BROKER_DT_INT8_ARRAY = 0x22,
    SDV_BROKER_DT_INT16_ARRAY = 0x23,
    SDV_BROKER_DT_INT32_ARRAY = 0x24,
    SDV_BROKER_DT_INT64_ARRAY = 0x25,
    SDV_BROKER_DT_UINT8_ARRAY = 0x26,
    SDV_BROKER_DT_UINT16_ARRAY = 0x27,
    SDV_BROKER_DT_UINT32_ARRAY = 0x28,
    SDV_BROKER_DT_UINT64_ARRAY = 0x29,
    SDV_BROKER_DT_FLOAT_ARRAY = 0x2a,
    SDV_BROKER_DT_DOUBLE_ARRAY = 0x2b,
    SDV_BROKER_DT_STRING_ARRAY = 0x2c,
};

/* The element type of an array type; a scalar type is its own element type. */
#define SDV_BROKER_DT_ELEMENT(dt)  ((enum sdv_broker_datatype)((unsigned)(dt)&0x1fu))
#define SDV_BROKER_DT_IS_ARRAY(dt) (((unsigned)(dt) & (unsigned)SDV_BROKER_DT_ARRAY) != 0)

/* True for the 25 valid values above except NONE (a byte read from the wire is checked so). */
bool sdv_broker_datatype_valid(unsigned dt);

/* The VSS name ("uint8", "string[]"); "none" for NONE, "invalid" for anything else. Static. */
const char *sdv_broker_datatype_name(enum sdv_broker_datatype dt);

/* Parses a VSS datatype name. SDV_EPARSE for an unknown name (struct types included). */
enum sdv_err sdv_broker_datatype_parse(const char *name, enum sdv_broker_datatype *out);

/* Bytes of one packed element: 1 for boolean and int8/uint8, 2, 4, 8, 4 for float, 8 for
 * double, 0 for string (variable). */
size_t sdv_broker_datatype_elem_size(enum sdv_broker_datatype dt);

/*
 * A typed value. It never owns memory: string and array payloads are borrowed (p, len) and each
 * function that returns a value says how long its payload stays valid.
 *  - BOOLEAN: v.b. INT8..INT64: v.i (already range-checked for the type when it came from a
 *    sdv_broker_value_* parser or the broker). UINT8..UINT64: v.u. FLOAT: v.f. DOUBLE: v.d.
 *  - STRING: v.p points to len bytes of UTF-8 (not necessarily NUL-terminated); count is 1.
 *  - arrays: count elements. Numeric and boolean arrays: v.p points to count packed elements of
 *    sdv_broker_datatype_elem_size() bytes each, host byte order, boolean as one byte 0 or 1;
 *    len = count * elem_size. STRING_ARRAY: count strings, each followed by one NUL byte, len
 *    bytes in all. v.p may be unaligned: read elements with memcpy.
 *  - NONE: nothing.
 * Bounds: a string has at most SDV_BROKER_STRING_LEN_MAX bytes, an array at most
 * SDV_BROKER_ARRAY_LEN_MAX elements and (string arrays) SDV_BROKER_STRING_LEN_MAX bytes.
 */
struct sdv_broker_value {
    enum sdv_broker_datatype type;
    uint32_t count;
    uint32_t len;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        float f;
        double d;
        const void *p;
    } v;
};

/*
 * Checks the shape of a value from outside (a decoded frame): valid type, count and len agree,
 * booleans are 0/1, integers within their type, floats finite (NaN and infinities are refused:
 * VSS has no use for them and they break ordering), string arrays hold exactly count NUL-
 * terminated strings, bounds above. SDV_EINVAL with a message in err (err_len bytes, may be
 * NULL) naming the problem.
 */
enum sdv_err sdv_broker_value_validate(const struct sdv_broker_value *v, char *err, size_t err_len);

/*
 * Converts JSON into a value of datatype dt. Accepted: JSON true/false or the strings "true" /
 * "false" for booleans; JSON integers, or strings holding a decimal integer, for integer types
 * (a JSON real is accepted only when it is integral, 3.0); JSON numbers or numeric strings for
 * float/double; strings for string; JSON arrays of the above for array types (VISS sends
 * values as strings, the binary CLI as native JSON). Exact: a number outside the type's range
 * (300 for uint8, -1 for uint32, 1e39 for float), a fraction for an integer type, NaN/inf, or
 * trailing characters ("12abc") are SDV_ERANGE / SDV_EINVAL with a message in err saying what
 * and why, never truncated; a string or array over its bound (or over scratch's max) is
 * SDV_ETOOBIG. scratch (initialised by the caller, its max bounds the payload) is
 * reset and receives the payload of strings and arrays; out->v.p points into scratch->data and
 * stays valid until scratch is next modified or freed.
 */
enum sdv_err sdv_broker_value_from_json(enum sdv_broker_datatype dt, const json_t *json,
                                        struct sdv_buf *scratch, struct sdv_broker_value *out,
                                        char *err, size_t err_len);

/*
 * Parses command-line text into a value of datatype dt: scalars as from_json on a JSON string
 * holding text (so "50", "true", "-3"); a string is taken verbatim; arrays must be JSON array
 * text ("[1,2]", "[\"a\"]"). Same scratch and error rules as sdv_broker_value_from_json.
 */
enum sdv_err sdv_broker_value_parse(enum sdv_broker_datatype dt, const char *text, size_t len,
                                    struct sdv_buf *scratch, struct sdv_broker_value *out,
                                    char *err, size_t err_len);

/* Flags of sdv_broker_value_to_json. */
#define SDV_BROKER_JSON_STRINGS 1u /* every scalar as a JSON string, as VISS sends values */

/*
 * Converts v into new JSON (caller json_decref()s): booleans, integers (uint64 above INT64_MAX
 * as a decimal string, since JSON parsers lose it), float with 9 and double with 17 significant
 * digits (exact round trip), strings, arrays. With SDV_BROKER_JSON_STRINGS every scalar, and
 * every array element, is a string ("true", "42", "1.5"). NONE becomes JSON null.
 * SDV_EINVAL if v is malformed, SDV_ENOMEM.
 */
enum sdv_err sdv_broker_value_to_json(const struct sdv_broker_value *v, unsigned flags,
                                      json_t **out);

/* Appends the text form of v to out (the CLI's output): scalars as in SDV_BROKER_JSON_STRINGS
 * without quotes, arrays as compact JSON, NONE as "null". SDV_ETOOBIG / SDV_ENOMEM from out. */
enum sdv_err sdv_broker_value_format(const struct sdv_broker_value *v, struct sdv_buf *out);

/*
 * Appends v as compact JSON text to out: the same bytes as json_dumps() of
 * sdv_broker_value_to_json(v, flags) with JSON_COMPACT | JSON_ENCODE_ANY, but with
 * SDV_BROKER_JSON_STRINGS (the VISS form) without building jansson values or allocating
 * (notifications format every event). SDV_EINVAL if v is malformed; SDV_ETOOBIG / SDV_ENOMEM
 * from out (which then holds a partial value: callers reset or discard it).
 */
enum sdv_err sdv_broker_value_write_json(const struct sdv_broker_value *v, unsigned flags,
                                         struct sdv_buf *out);

/*
 * Appends the n bytes at s (valid UTF-8) as a JSON string, quoted and escaped as jansson's
 * json_dumps() escapes by default: '"', '\\' and control characters (\b \f \n \r \t, else
 * \u00XX); everything else, including non-ASCII, as is. SDV_ETOOBIG / SDV_ENOMEM from out.
 */
enum sdv_err sdv_broker_json_write_string(const char *s, size_t n, struct sdv_buf *out);

/* True when a and b have the same type and the same content (floats compared by value, so
 * 0.0 == -0.0). */
bool sdv_broker_value_equal(const struct sdv_broker_value *a, const struct sdv_broker_value *b);

/*
 * Orders two numeric scalars of any numeric types exactly (int64 against uint64 against
 * double without losing precision): *cmp = -1, 0 or 1. Booleans compare false < true with
 * booleans, strings bytewise with strings. SDV_EINVAL for arrays, NONE or mixed kinds.
 */
enum sdv_err sdv_broker_value_compare(const struct sdv_broker_value *a,
                                      const struct sdv_broker_value *b, int *cmp);

/* ---- Catalog ------------------------------------------------------------------------------ */

/* What a leaf is (VSS "type"). */
enum sdv_broker_kind {
    SDV_BROKER_KIND_SENSOR = 1,
    SDV_BROKER_KIND_ACTUATOR = 2,
    SDV_BROKER_KIND_ATTRIBUTE = 3,
};

/* "sensor", "actuator", "attribute"; "invalid" otherwise. Static. */
const char *sdv_broker_kind_name(enum sdv_broker_kind kind);

/*
 * One leaf of the catalog. Every pointer is owned by the catalog and lives as long as it.
 * min, max and the allowed values have the element datatype (for an array signal they bound
 * each element); type NONE when absent. default_value has the signal's datatype (NONE when
 * absent; attributes usually have one).
 */
struct sdv_broker_signal {
    uint32_t id;      /* dense: 0 .. sdv_broker_catalog_count() - 1, in load order */
    const char *path; /* dotted, "Vehicle.Speed" */
    enum sdv_broker_kind kind;
    enum sdv_broker_datatype datatype;
    const char *unit;        /* "km/h"; NULL when none */
    const char *description; /* "" when none */
    const char *pattern;     /* POSIX extended regular expression for strings; NULL when none */
    struct sdv_broker_value min;
    struct sdv_broker_value max;
    const struct sdv_broker_value *allowed; /* allowed_count values, NULL when none */
    uint32_t allowed_count;
    struct sdv_broker_value default_value;
    bool deprecated; /* the catalog marks it deprecated (it still works) */
};

struct sdv_broker_catalog;

/* Creates an empty catalog. log (borrowed, may be NULL) receives warnings. SDV_ENOMEM. */
enum sdv_err sdv_broker_catalog_create(const struct sdv_log *log, struct sdv_broker_catalog **out);

/* Frees the catalog and every signal. NULL is a no-op. No broker may still use it. */
void sdv_broker_catalog_destroy(struct sdv_broker_catalog *cat);

/*
 * Loads a VSS JSON export (the nested tree vss-tools writes: branches with "children", leaves
 * with "type", "datatype", "unit", "min", "max", "allowed", "default", "pattern",
 * "description", "deprecation"; other keys are ignored) and merges it into the catalog: a new
 * path adds a leaf (it needs "type" and "datatype"); an existing path is an overlay that
 * overrides the fields it names and keeps the rest (and its id). So the first file is the
 * standard catalog and later files are OEM overlays. Names are [A-Za-z0-9_]; a key may itself
 * be dotted ("OEM.Foo") to reach deep without nesting. The file is parsed strictly (duplicate
 * keys, depth, size bounds); a leaf whose min/max/allowed/default do not fit its datatype, a
 * leaf where a branch is (or the reverse), or an unknown type is refused. All or nothing: on
 * error the catalog is unchanged and sdv_broker_catalog_errmsg() says which path and field.
 * SDV_ENOENT / SDV_EIO (file), SDV_ETOOBIG (over SDV_BROKER_CATALOG_FILE_LEN_MAX or
 * SDV_BROKER_CATALOG_SIGNALS_MAX), SDV_EPARSE, SDV_EINVAL (a catalog already used by a broker).
 */
enum sdv_err sdv_broker_catalog_load_file(struct sdv_broker_catalog *cat, const char *path);

/* The same from memory (data borrowed); name is used in messages only (may be NULL). The
 * bytes are treated as untrusted (fuzz target fuzz_broker_catalog). */
enum sdv_err sdv_broker_catalog_load_json(struct sdv_broker_catalog *cat, const void *data,
                                          size_t len, const char *name);

/* Detail of the last failed load ("vss.json: Vehicle.Speed: max 1e99 does not fit float");
 * "" if none. Owned by the catalog. */
const char *sdv_broker_catalog_errmsg(const struct sdv_broker_catalog *cat);

/* Number of leaves (signals). */
uint32_t sdv_broker_catalog_count(const struct sdv_broker_catalog *cat);

/* The leaf with this id, or NULL when id >= count. O(1). */
const struct sdv_broker_signal *sdv_broker_catalog_signal(const struct sdv_broker_catalog *cat,
                                                          uint32_t id);

/* The leaf at path (len bytes, not necessarily NUL-terminated), or NULL (unknown path or a
 * branch). O(1) average: a hash table. */
const struct sdv_broker_signal *sdv_broker_catalog_find(const struct sdv_broker_catalog *cat,
                                                        const char *path, size_t len);

/*
 * Expands a VISS path pattern (len bytes) into leaf ids, ascending: a leaf path matches itself,
 * a branch path its whole subtree, and a "*" segment matches exactly one name at that level
 * ("Vehicle.Cabin.Door.*.IsOpen"; a trailing ".*" is a whole level, as a branch). ids_max bounds
 * ids; *n is the number written. SDV_ENOENT if nothing matches, SDV_ETOOBIG if more than
 * ids_max leaves match (nothing useful in ids then), SDV_EINVAL for an empty or overlong path.
 */
enum sdv_err sdv_broker_catalog_match(const struct sdv_broker_catalog *cat, const char *pattern,
                                      size_t len, uint32_t *ids, size_t ids_max, size_t *n);

/*
 * Checks a value about to be written to sig (a signal of a catalog, which holds the compiled
 * pattern): its type must be exactly sig->datatype
 * (SDV_EINVAL), its shape valid (sdv_broker_value_validate), every number (each element of an
 * array) within min/max and every value within the allowed set, strings matching the pattern
 * (SDV_ERANGE). err (err_len bytes, may be NULL) receives a message naming the signal, the
 * value and the bound ("Vehicle.Speed: 300 is above max 250").
 */
enum sdv_err sdv_broker_signal_check(const struct sdv_broker_signal *sig,
                                     const struct sdv_broker_value *v, char *err, size_t err_len);

/* ---- Broker ------------------------------------------------------------------------------- */

struct sdv_broker;

/* Now, in microseconds since the Unix epoch. */
typedef int64_t (*sdv_broker_clock_fn)(void *ud);

/* An actuation request routed to the provider that owns the signal. */
struct sdv_broker_actuation {
    uint64_t id;           /* unique in this broker; echoed by sdv_broker_actuation_done() */
    const void *provider;  /* session of the owning provider */
    const void *requester; /* session that asked */
    const struct sdv_broker_signal *signal;
    struct sdv_broker_value value; /* payload valid during the callback only: copy it */
};

/* Called for every accepted actuation request: the daemon sends it to the provider. Returning
 * an error (the provider's output queue is full, it is going away) fails the request at once
 * and sdv_broker_actuate() returns that error; SDV_OK means a result will follow, through
 * sdv_broker_actuation_done(), the provider's disconnect or the timeout. */
typedef enum sdv_err (*sdv_broker_actuate_fn)(void *ud, const struct sdv_broker_actuation *req);

/* The outcome of an actuation request: SDV_OK (accepted by the provider), SDV_EREJECTED (with
 * the provider's message), SDV_EUNAVAILABLE (the provider went away or did not answer within
 * the timeout). message is borrowed ("" when none). Called from sdv_broker_actuation_done(),
 * sdv_broker_session_close() or sdv_broker_tick(); may call sdv_broker_actuate(). */
typedef void (*sdv_broker_actuate_result_fn)(void *ud, const void *requester, uint64_t id,
                                             enum sdv_err result, const char *message);

/* A subscription's queue went from empty to non-empty: the daemon arms the session's output
 * and later drains it with sdv_broker_sub_pop(). Called once per empty -> non-empty edge. */
typedef void (*sdv_broker_notify_fn)(void *ud, const void *who, uint32_t sub_id);

/* Per-event access check: false drops this one event for this subscriber (counted in
 * sdv_broker_event.denied), so a token that expired or lost its scope stops receiving at once.
 * Must be cheap (scopes are compiled once per token): it runs on the fan-out path. */
typedef bool (*sdv_broker_event_check_fn)(void *ud, const void *who,
                                          const struct sdv_broker_signal *sig);

struct sdv_broker_config {
    const struct sdv_broker_catalog *catalog; /* borrowed; outlives the broker; then frozen */
    sdv_broker_clock_fn clock;                /* required */
    void *clock_ud;
    sdv_broker_actuate_fn actuate;               /* NULL: every actuation is EUNAVAILABLE */
    sdv_broker_actuate_result_fn actuate_result; /* NULL: results are dropped */
    void *actuate_ud;
    sdv_broker_notify_fn notify; /* may be NULL (the caller polls) */
    void *notify_ud;
    sdv_broker_event_check_fn event_check; /* NULL: every event is delivered */
    void *event_check_ud;
    uint32_t subscriptions_max;    /* 0: SDV_BROKER_SUBSCRIPTIONS_DEFAULT */
    uint32_t actuations_max;       /* pending at once; 0: SDV_BROKER_ACTUATIONS_DEFAULT */
    uint32_t actuation_timeout_ms; /* 0: SDV_BROKER_ACTUATION_TIMEOUT_MS_DEFAULT */
    const char *persist_path;      /* NULL: no persistence; else the snapshot file (copied) */
    uint32_t persist_interval_ms;  /* 0: SDV_BROKER_PERSIST_INTERVAL_MS_DEFAULT */
    uint64_t queue_memory_max;     /* all subscription queues; 0: SDV_BROKER_QUEUE_MEMORY_DEFAULT */
    const struct sdv_log *log;     /* borrowed, may be NULL */
};

/*
 * Creates a broker over cfg->catalog (which becomes frozen: later loads fail). Allocates the
 * per-signal state and the subscription and actuation tables now. With persist_path, loads the
 * last snapshot if it exists: each value is checked against the catalog again, and a value
 * that no longer fits (the catalog changed) is skipped with a warning. Attributes without a
 * stored value start at their catalog default. SDV_EINVAL (bad config), SDV_ENOMEM, SDV_EPARSE
 * (a damaged snapshot: the daemon should refuse to start rather than lose it silently; move it
 * away to start empty). errmsg of a failed create goes to err (err_len bytes, may be NULL).
 */
enum sdv_err sdv_broker_create(const struct sdv_broker_config *cfg, struct sdv_broker **out,
                               char *err, size_t err_len);

/* Frees everything. Does not write a snapshot: call sdv_broker_persist() first on an orderly
 * shutdown. Pending actuations are dropped without results. NULL is a no-op. */
void sdv_broker_destroy(struct sdv_broker *b);

/* Detail of the last failed operation ("Vehicle.Speed is owned by another provider"); "" if
 * none. Owned by the broker, valid until its next call. */
const char *sdv_broker_errmsg(const struct sdv_broker *b);

/* The catalog the broker serves. */
const struct sdv_broker_catalog *sdv_broker_catalog(const struct sdv_broker *b);

/*
 * Provider claims n signals for who: from now on who alone may publish them, and actuation
 * requests for them go to who. All or nothing: SDV_EEXIST if one is owned by another session
 * (errmsg names it), SDV_ENOENT for an unknown id. Claiming what who already owns is fine.
 * The daemon checks the provide: scope before.
 */
enum sdv_err sdv_broker_claim(struct sdv_broker *b, const void *who, const uint32_t *ids, size_t n);

/* Releases the claims of who on these ids (ids not owned by who are ignored). Pending
 * actuations routed to who for them fail with SDV_EUNAVAILABLE. */
void sdv_broker_release(struct sdv_broker *b, const void *who, const uint32_t *ids, size_t n);

/* The session owning signal id, or NULL (none, or unknown id). */
const void *sdv_broker_owner(const struct sdv_broker *b, uint32_t id);

/*
 * A session went away: releases its claims (as sdv_broker_release), removes its subscriptions,
 * fails the actuations routed to it (results to their requesters) and forgets the ones it
 * requested (no result is reported for them). Safe for a session that did nothing.
 */
void sdv_broker_session_close(struct sdv_broker *b, const void *who);

/*
 * Publishes a new current value of signal id (a sensor or attribute reading, or the actual
 * state of an actuator) and fans it out to the subscribers. ts_us is the sample time (0: now
 * from the clock). The value is checked (sdv_broker_signal_check): SDV_EINVAL / SDV_ERANGE
 * with errmsg. SDV_EDENIED if another session owns the signal (unclaimed signals may be
 * published by anyone the daemon lets through). SDV_ENOENT for an unknown id. The payload is
 * copied. Cost: O(subscribers of this signal), no allocation once the signal's value storage
 * has grown to its largest value.
 */
enum sdv_err sdv_broker_publish(struct sdv_broker *b, const void *who, uint32_t id,
                                const struct sdv_broker_value *v, int64_t ts_us);

/*
 * Reads the current value of signal id: *out (type NONE when nothing was ever published) with
 * its payload borrowed from the broker until the next publish of this signal or destroy, and
 * its timestamp in *ts_us (0 when none; may be NULL). SDV_ENOENT for an unknown id.
 */
enum sdv_err sdv_broker_get(const struct sdv_broker *b, uint32_t id, struct sdv_broker_value *out,
                            int64_t *ts_us);

/*
 * Requests actuation of signal id to v on behalf of who. The signal must be an actuator
 * (SDV_EINVAL), v must pass sdv_broker_signal_check (SDV_EINVAL / SDV_ERANGE), an owner must
 * be attached (SDV_EUNAVAILABLE, "no provider for Vehicle.X") and the pending table must have
 * room (SDV_EUNAVAILABLE). Then cfg.actuate is called; its error is returned as is. On SDV_OK
 * *request_id (may be NULL) identifies the request and the result arrives through
 * cfg.actuate_result. The value is never stored as the current value: the provider publishes
 * the actual state when the actuator has moved.
 */
enum sdv_err sdv_broker_actuate(struct sdv_broker *b, const void *who, uint32_t id,
                                const struct sdv_broker_value *v, uint64_t *request_id);

/*
 * The provider who answers request id: result SDV_OK (accepted) or anything else (rejected;
 * reported to the requester as SDV_EREJECTED with message, borrowed, may be NULL). SDV_ENOENT
 * if no such request is pending for who (already timed out, or another provider's).
 */
enum sdv_err sdv_broker_actuation_done(struct sdv_broker *b, const void *who, uint64_t id,
                                       enum sdv_err result, const char *message);

/* ---- Subscriptions ------------------------------------------------------------------------ */

/* Comparison of a VISS filter ("logic-op"). */
enum sdv_broker_op {
    SDV_BROKER_OP_ANY = 0, /* change filter only: any change */
    SDV_BROKER_OP_EQ = 1,
    SDV_BROKER_OP_NE = 2,
    SDV_BROKER_OP_GT = 3,
    SDV_BROKER_OP_GE = 4,
    SDV_BROKER_OP_LT = 5,
    SDV_BROKER_OP_LE = 6,
};

/* Parses a VISS logic-op: "eq", "ne", "gt", "gte" (or "ge"), "lt", "lte" (or "le"). */
enum sdv_err sdv_broker_op_parse(const char *s, enum sdv_broker_op *out);

/* Most boundaries of one range filter (VISS sends one or two). */
#define SDV_BROKER_RANGE_MAX 2u

/*
 * VISS filters of a subscription; zero-initialised means "every update". Combinations:
 * timebased alone; change and range together (both must pass).
 *  - timebased (period_ms > 0): every period the current value of each signal that has one is
 *    delivered, whether it changed or not; updates in between are not delivered.
 *  - change: an update is delivered when it differs from the last value delivered to this
 *    subscription for that signal: OP_ANY, any difference; for numbers and booleans (as 0/1),
 *    (new - last) <op> diff (OP_GT with diff 5: a rise of more than 5; OP_LT with diff -5: a
 *    fall of more than 5; OP_NE with diff 0: any change). A boolean is compared with its
 *    previous value, delivered or not, so gt 0 is every false -> true edge and lt 0 every
 *    true -> false edge, as VISS defines. Strings and arrays (an extension: VISS allows
 *    numbers and booleans only) support OP_ANY, EQ (unchanged) and NE (changed) without diff.
 *    The first value of a signal is always delivered.
 *  - range: an update is delivered when value <op> boundary holds for every boundary
 *    (range_any false: VISS "combination-op" AND, for example gt 10 and lt 20) or for at least
 *    one (range_any true: OR, lt 10 or gt 20). Numeric signals only.
 *  - trigger_first (VISS multi-signal subscriptions): change and range are evaluated on the
 *    first id given to sdv_broker_subscribe only; when an update of that signal passes, the
 *    current values of all the subscription's signals are queued (updates of the others alone
 *    deliver nothing). Without it every signal is filtered and delivered on its own (KUKSA).
 * Boundaries and diff are numbers of any numeric type (compared exactly).
 */
struct sdv_broker_filter {
    uint32_t period_ms;
    bool change;
    enum sdv_broker_op change_op;
    struct sdv_broker_value change_diff; /* NONE: 0 */
    uint32_t range_count;                /* 0: no range filter */
    bool range_any;
    struct {
        enum sdv_broker_op op; /* not OP_ANY */
        struct sdv_broker_value boundary;
    } range[SDV_BROKER_RANGE_MAX];
    bool trigger_first;
};

/*
 * Subscribes who to n signals (ids from sdv_broker_catalog_match) with filter f (NULL: every
 * update). The queue holds queue_len events (0: SDV_BROKER_SUB_QUEUE_LEN_DEFAULT, at most
 * SDV_BROKER_SUB_QUEUE_LEN_MAX) and, for string and array values, queue_bytes of payload (0:
 * SDV_BROKER_SUB_QUEUE_BYTES_DEFAULT; raised to fit one largest value). All memory is
 * allocated here. When the queue is full the oldest event is dropped and counted (see
 * sdv_broker_event.lost): a slow consumer loses data, the publisher never waits. The current
 * values of the signals are queued at once (through the filters, without a notify call: pop
 * after this returns), so a subscriber starts with a complete picture. *sub_id identifies the
 * subscription (never 0). SDV_EINVAL (bad filter for these signals, errmsg says which), SDV_ENOENT
 * (unknown id), SDV_ELIMIT (subscription table full, or all queues together would pass
 * cfg.queue_memory_max), SDV_ENOMEM.
 */
enum sdv_err sdv_broker_subscribe(struct sdv_broker *b, const void *who, const uint32_t *ids,
                                  size_t n, const struct sdv_broker_filter *f, uint32_t queue_len,
                                  uint32_t queue_bytes, uint32_t *sub_id);

/* Removes a subscription of who and its queued events. SDV_ENOENT if who has none by that id. */
enum sdv_err sdv_broker_unsubscribe(struct sdv_broker *b, const void *who, uint32_t sub_id);

/* One delivered update. */
struct sdv_broker_event {
    uint32_t sub_id;
    const struct sdv_broker_signal *signal;
    struct sdv_broker_value value; /* payload valid until the next pop of this subscription */
    int64_t ts_us;                 /* sample time given by the publisher (or clock) */
    uint64_t lost;   /* events dropped from this queue (full) since the previous pop */
    uint64_t denied; /* events withheld by event_check since the previous pop */
};

/*
 * Takes the oldest queued event of subscription sub_id (of who) into *ev and sets *got; an
 * empty queue sets *got false (and may still report lost/denied counts in ev, with signal
 * NULL). SDV_ENOENT if who has no such subscription.
 */
enum sdv_err sdv_broker_sub_pop(struct sdv_broker *b, const void *who, uint32_t sub_id,
                                struct sdv_broker_event *ev, bool *got);

/* Events waiting in subscription sub_id (0 for an unknown one). */
uint32_t sdv_broker_sub_pending(const struct sdv_broker *b, uint32_t sub_id);

/* ---- Timers and persistence --------------------------------------------------------------- */

/*
 * Runs what is due at clock time now: timebased subscription deliveries, actuation timeouts
 * (SDV_EUNAVAILABLE results), the periodic snapshot. Returns the absolute time (clock
 * microseconds) of the next deadline, INT64_MAX when nothing is scheduled: the daemon sleeps
 * until then or the next I/O. Calling it early or often is harmless (it returns at once when
 * nothing is due); the deadline may be earlier than needed after an unsubscribe or an answer.
 */
int64_t sdv_broker_tick(struct sdv_broker *b);

/*
 * Writes the snapshot of all current values now, on the caller's thread (when persistence is
 * configured and something changed since the last one), after waiting for a periodic write in
 * progress: call it at an orderly shutdown. One JSON file replaced atomically (write, fsync,
 * rename, fsync of the directory), so a crash leaves the previous or the new snapshot, never a
 * mix. The periodic snapshots of sdv_broker_tick() are serialised on the caller's thread and
 * written by a writer thread the broker starts on first use (so the fsync never stalls the event
 * loop); their failures are logged and retried at the next interval. SDV_OK without
 * persistence; I/O errors are returned (errmsg says which file).
 */
enum sdv_err sdv_broker_persist(struct sdv_broker *b);

#ifdef __cplusplus
}
#endif
#endif /* SDV_BROKER_H */
