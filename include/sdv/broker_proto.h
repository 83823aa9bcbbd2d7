/*
 * sdv/broker_proto.h - the local binary protocol of sdv-broker (Unix socket, for in-vehicle
 * providers and apps) and its VISS v3 JSON layer (WebSocket subprotocol "VISSv3", HTTP GET/POST).
 * Both the daemon and the client library (sdv/broker_client.h) use it. docs/broker-protocol.md is
 * the wire specification; this header is the C manual.
 *
 * Binary frames: a 12-byte header and a payload, all integers little-endian (the byte order of
 * every vehicle CPU we target, so the hot path is plain loads and stores):
 *
 *   byte 0      magic and version: 0xB1 (high nibble 0xB: broker protocol, low nibble: version 1)
 *   byte 1      message type (enum sdv_broker_msg_type)
 *   bytes 2-3   flags, must be 0 (reserved)
 *   bytes 4-7   payload length, u32, at most SDV_BROKER_FRAME_PAYLOAD_MAX
 *   bytes 8-11  request id, u32: chosen by whoever sends a request, echoed in its answer
 *
 * Four layers, each usable alone:
 *   - messages: sdv_broker_msg_encode (message -> frame) and sdv_broker_msg_parse (one frame's
 *     payload -> message, strictly; no trailing bytes, every length checked, no recursion);
 *   - a batch builder for the hot path (publish and event frames appended entry by entry, no
 *     allocation once the output buffer has grown);
 *   - the incremental decoder: bytes in, in any split, frames out (fuzzed);
 *   - the VISS v3 JSON request parser and response serialisers (further below).
 *
 * Nothing here reads the clock or does I/O. Thread safety: a decoder is used by one thread at a
 * time; the other functions are reentrant.
 */
#ifndef SDV_BROKER_PROTO_H
#define SDV_BROKER_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/broker.h>
#include <sdv/common.h>
#include <sdv/limits.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SDV_BROKER_PROTO_MAGIC   0xB1u
#define SDV_BROKER_PROTO_VERSION 1u
#define SDV_BROKER_HEADER_LEN    12u

/*
 * Message types (stable numbers: they are on the wire). "c" is a client (app or provider), "b"
 * the broker. Every request gets exactly one answer with its request id: the answer named here
 * or ERROR. EVENT, VALUES_LOST and ACTUATE are sent by the broker unasked with request id 0;
 * ACTUATE_REPLY is not answered (an unknown actuation id is logged by the broker).
 */
enum sdv_broker_msg_type {
    SDV_BROKER_MSG_HELLO = 1,           /* c->b version, client name, token  -> HELLO_OK */
    SDV_BROKER_MSG_HELLO_OK = 2,        /* b->c version, payload bound, broker name */
    SDV_BROKER_MSG_LOOKUP = 3,          /* c->b paths -> LOOKUP_RESULT */
    SDV_BROKER_MSG_LOOKUP_RESULT = 4,   /* b->c per path: id, datatype, entry type, status */
    SDV_BROKER_MSG_GET = 5,             /* c->b signal refs -> GET_RESULT */
    SDV_BROKER_MSG_GET_RESULT = 6,      /* b->c per signal: id, status, timestamp, value */
    SDV_BROKER_MSG_SET = 7,             /* c->b one ref and value (actuation request) -> OK */
    SDV_BROKER_MSG_OK = 8,              /* any: success without data */
    SDV_BROKER_MSG_ERROR = 9,           /* any: status, signal id, message */
    SDV_BROKER_MSG_PUBLISH = 10,        /* c->b batch of id, timestamp, value; answered only by
                                         * ERROR when refused (fire and forget on the hot path) */
    SDV_BROKER_MSG_CLAIM = 11,          /* c->b signal refs to provide -> LOOKUP_RESULT */
    SDV_BROKER_MSG_ACTUATE = 12,        /* b->c (provider) actuation id, signal id, target value */
    SDV_BROKER_MSG_ACTUATE_REPLY = 13,  /* c->b actuation id, status (0 accepted), message */
    SDV_BROKER_MSG_SUBSCRIBE = 14,      /* c->b filter and signal refs -> SUBSCRIBED */
    SDV_BROKER_MSG_SUBSCRIBED = 15,     /* b->c subscription id and the signals' ids */
    SDV_BROKER_MSG_UNSUBSCRIBE = 16,    /* c->b subscription id -> OK */
    SDV_BROKER_MSG_EVENT = 17,          /* b->c subscription id, batch of id, timestamp, value */
    SDV_BROKER_MSG_VALUES_LOST = 18,    /* b->c subscription id, number of values dropped */
    SDV_BROKER_MSG_AUTH = 19,           /* c->b a fresh token for the open session -> OK */
    SDV_BROKER_MSG_SUB_ENDED = 20,      /* b->c subscription id, status, message: the broker
                                         * ended it (token expired, no longer granted) */
    SDV_BROKER_MSG_SESSION_HANDLE = 21, /* c->b nothing (greeted session) -> SESSION_HANDLE_OK */
    SDV_BROKER_MSG_SESSION_HANDLE_OK = 22, /* b->c the session's 32-byte renewal handle */
    SDV_BROKER_MSG_RENEW = 23,             /* c->b handle and token, on any connection, also one
                                            * without HELLO: renews the named session -> OK */
};
#define SDV_BROKER_MSG_TYPE_MAX 23u

/* Length of a session handle (SESSION_HANDLE_OK, RENEW): 256 random bits from the broker's
 * CSPRNG, a capability that names one session and lets whoever holds it renew that session's
 * token (with a token of the same subject). */
#define SDV_BROKER_SESSION_HANDLE_LEN 32u

/* "HELLO", "GET_RESULT", ...; "UNKNOWN" for other numbers. Static string, never NULL. */
const char *sdv_broker_msg_type_name(unsigned type);

/*
 * Status codes on the wire (ERROR, GET_RESULT and LOOKUP_RESULT entries, ACTUATE_REPLY). 0 is
 * success; the others are the VISS error numbers, so both interfaces report the same thing.
 */
enum sdv_broker_status {
    SDV_BROKER_STATUS_OK = 0,
    SDV_BROKER_STATUS_BAD_REQUEST = 400,  /* malformed request, bad value or datatype */
    SDV_BROKER_STATUS_UNAUTHORIZED = 401, /* token missing, invalid or expired */
    SDV_BROKER_STATUS_FORBIDDEN = 403,    /* token valid but the scope does not cover it */
    SDV_BROKER_STATUS_NOT_FOUND = 404,    /* unknown path, no value yet, no provider */
    SDV_BROKER_STATUS_TIMEOUT = 408,      /* provider did not answer an actuation in time */
    SDV_BROKER_STATUS_CONFLICT = 409,     /* claimed by another provider; actuation rejected */
    SDV_BROKER_STATUS_TOO_MANY = 429,     /* rate limit of the token */
    SDV_BROKER_STATUS_INTERNAL = 500,     /* broker bug or resource exhaustion */
    SDV_BROKER_STATUS_UNAVAILABLE = 503,  /* broker shutting down or overloaded */
};

/* The wire status for a core result: SDV_OK 0, EINVAL/EPARSE/ERANGE 400, EDENIED 403, ENOENT
 * 404, EUNAVAILABLE 503, EREJECTED 409, EEXIST 409, ELIMIT 429, others 500. */
uint16_t sdv_broker_status_from_err(enum sdv_err err);

/* Bytes that are not NUL-terminated, borrowed from a frame or from the caller. */
struct sdv_broker_str {
    const char *p;
    uint32_t len;
};

/* ---- Values ----------------------------------------------------------------------------- */

/*
 * Values are the core's struct sdv_broker_value (sdv/broker.h) and travel as a datatype byte
 * (enum sdv_broker_datatype, the same stable numbers) and a payload laid out like the value's
 * memory, so that a decoded value borrows the frame's bytes without copying:
 *   NONE        nothing                    BOOLEAN   u8 0 or 1
 *   INT8..64    1/2/4/8 bytes, two's complement   UINT8..64  1/2/4/8 bytes
 *   FLOAT       IEEE 754 binary32 (finite) DOUBLE    binary64 (finite)
 *   STRING      u32 length, that many bytes (no NUL)
 *   numeric and boolean arrays   u32 count, count packed elements as above
 *   STRING_ARRAY                  u32 count, u32 length, that many bytes: count strings each
 *                                 followed by one NUL
 * A decoded value's v.p (strings, arrays) points into the frame payload. Integers are range-
 * checked for their type, floats must be finite, bounds are SDV_BROKER_STRING_LEN_MAX and
 * SDV_BROKER_ARRAY_LEN_MAX.
 */

/* ---- Messages --------------------------------------------------------------------------- */

/* One entry of a batched message. A signal reference is by dense id (id != 0) or by path
 * (id == 0, path.len > 0). Which fields matter depends on the message type:
 *   LOOKUP, CLAIM, GET, SUBSCRIBE   the reference (id or path)
 *   LOOKUP_RESULT                    id, datatype, entry_type, status
 *   GET_RESULT                       id, status, and when status is 0: ts_us, value
 *   SET                              the reference and value (exactly one entry)
 *   PUBLISH, EVENT                   id, ts_us, value
 *   ACTUATE                          id, value (exactly one entry)
 *   SUBSCRIBED                       id */
struct sdv_broker_entry {
    uint32_t id;
    struct sdv_broker_str path;
    uint16_t status;
    uint8_t datatype;   /* enum sdv_broker_datatype */
    uint8_t entry_type; /* enum sdv_broker_kind */
    int64_t ts_us;      /* microseconds since the Unix epoch (UTC), as the source stamped it */
    struct sdv_broker_value value;
};

/* SUBSCRIBE carries the core's struct sdv_broker_filter (sdv/broker.h); on the wire:
 *   u32 period_ms, u8 change (0/1), u8 change_op, value change_diff (NONE or a numeric scalar),
 *   u8 range_count (0..SDV_BROKER_RANGE_MAX), u8 range_any (0/1),
 *   range_count x (u8 op, value boundary (a numeric scalar)).
 * Operators are enum sdv_broker_op; OP_ANY only for change. A period above
 * SDV_BROKER_PERIOD_MS_MAX (a day) is refused. */

/*
 * One message, decoded or to encode. Which scalar fields matter depends on type:
 *   HELLO          version, name (client name), token (may be empty)
 *   AUTH           token (not empty)
 *   SESSION_HANDLE_OK  handle
 *   RENEW          handle, token (not empty)
 *   SUB_ENDED      sub_id (not 0), status (not 0), message
 *   HELLO_OK       version, payload_max, name (broker name)
 *   ERROR          status (non-zero), signal_id (0: none), message
 *   ACTUATE        actuation_id, entries (one)
 *   ACTUATE_REPLY  actuation_id, status (0 accepted), message
 *   SUBSCRIBE      filter, entries
 *   SUBSCRIBED     sub_id, entries
 *   UNSUBSCRIBE    sub_id
 *   EVENT          sub_id, entries
 *   VALUES_LOST    sub_id, lost
 *   the others     entries only (OK has nothing)
 * Strings and values are borrowed: when parsed, from the frame payload; when encoding, from the
 * caller. entries points to caller storage (parse fills up to its capacity).
 */
struct sdv_broker_msg {
    uint8_t type;
    uint32_t request_id;
    uint16_t version;
    uint16_t status;
    uint32_t payload_max;
    uint32_t signal_id;
    uint32_t sub_id;
    uint32_t lost;
    uint64_t actuation_id;
    struct sdv_broker_str name;
    struct sdv_broker_str token;
    struct sdv_broker_str message;
    struct sdv_broker_filter filter;
    struct sdv_broker_entry *entries;
    uint32_t n_entries;
    uint8_t handle[SDV_BROKER_SESSION_HANDLE_LEN]; /* SESSION_HANDLE_OK, RENEW */
};

/* Clears m and sets its type and request id. */
void sdv_broker_msg_init(struct sdv_broker_msg *m, enum sdv_broker_msg_type type,
                         uint32_t request_id);

/*
 * Appends the frame of m (header and payload) to out. m is checked as strictly as the parser
 * checks what it receives: SDV_EINVAL for a field outside its bounds, SDV_ETOOBIG if the payload
 * would exceed SDV_BROKER_FRAME_PAYLOAD_MAX or out->max (nothing appended either way),
 * SDV_ENOMEM. errmsg (may be NULL) receives the reason.
 */
enum sdv_err sdv_broker_msg_encode(const struct sdv_broker_msg *m, struct sdv_buf *out,
                                   char *errmsg, size_t errmsg_len);

/* One complete frame as the decoder returns it; payload is borrowed (see the decoder). */
struct sdv_broker_frame {
    uint8_t type;
    uint32_t request_id;
    const uint8_t *payload;
    uint32_t len;
};

/*
 * Parses frame f into *m, entries into entries[0..entries_max). Strict: every count, length,
 * datatype, enum and bound is checked, booleans are 0 or 1, strings hold no NUL, no byte is
 * left over. SDV_EPARSE with a reason in errmsg ("GET_RESULT entry 3 at byte 61: string value:
 * length 70000 exceeds 65536") or SDV_ETOOBIG when the message has more than entries_max
 * entries.
 */
enum sdv_err sdv_broker_msg_parse(const struct sdv_broker_frame *f, struct sdv_broker_msg *m,
                                  struct sdv_broker_entry *entries, uint32_t entries_max,
                                  char *errmsg, size_t errmsg_len);

/* ---- Batch builder (hot path) ----------------------------------------------------------- */

/*
 * Builds one PUBLISH, EVENT or GET_RESULT frame in place in out: begin writes the header and
 * the count, each add appends one entry, end fixes length and count. Nothing is allocated once
 * out has grown to a frame's size, so a provider reuses one buffer for every cycle.
 */
struct sdv_broker_batch {
    struct sdv_buf *out;
    size_t start;    /* offset of the frame header in out */
    size_t count_at; /* offset of the u16 count */
    uint32_t n;
    uint8_t type;
};

/* type is PUBLISH, EVENT (sub_id used) or GET_RESULT. SDV_EINVAL for another type. */
enum sdv_err sdv_broker_batch_begin(struct sdv_broker_batch *b, struct sdv_buf *out, uint8_t type,
                                    uint32_t request_id, uint32_t sub_id);
/* Appends one entry (status, used by GET_RESULT only, skips ts and value when non-zero).
 * SDV_ETOOBIG when the frame is full (SDV_BROKER_BATCH_MAX entries or the payload bound):
 * nothing was appended; end this frame and begin another. SDV_EINVAL for a bad value or id 0. */
enum sdv_err sdv_broker_batch_add(struct sdv_broker_batch *b, uint32_t id, uint16_t status,
                                  int64_t ts_us, const struct sdv_broker_value *value);
/* Finishes the frame. An empty batch is a valid frame. */
void sdv_broker_batch_end(struct sdv_broker_batch *b);

/* ---- Incremental decoder ---------------------------------------------------------------- */

/*
 * Turns a byte stream into frames. The header is validated as soon as its 12 bytes are in
 * (magic, version, type, flags, length), before any payload byte is accepted. A frame that
 * arrives whole in one feed is returned in place, without copying; a frame split across feeds is
 * assembled in a buffer that grows to the announced length and no further, and is reused. After
 * an error the decoder stays failed until reset: a broken stream cannot be resynchronised.
 */
struct sdv_broker_decoder;

/* payload_max: 0 for SDV_BROKER_FRAME_PAYLOAD_MAX, or a lower bound. SDV_ENOMEM. */
enum sdv_err sdv_broker_decoder_create(uint32_t payload_max, struct sdv_broker_decoder **out);
/* NULL is a no-op. */
void sdv_broker_decoder_destroy(struct sdv_broker_decoder *d);
/* Forgets any partial frame and any error. */
void sdv_broker_decoder_reset(struct sdv_broker_decoder *d);

/*
 * Feeds up to len bytes (borrowed). The decoder takes bytes until it completes a frame or runs
 * out of input and reports how many in *consumed: feed the rest again after handling the frame.
 * *complete is true with *frame filled when a frame completed. frame->payload points into p or
 * into the decoder, valid until the next feed or reset and while p is unchanged.
 * Errors (reason in sdv_broker_decoder_errmsg): SDV_EPARSE for a bad magic or version byte, an
 * unknown type or non-zero flags; SDV_ETOOBIG for a length above the bound; SDV_ENOMEM.
 */
enum sdv_err sdv_broker_decoder_feed(struct sdv_broker_decoder *d, const uint8_t *p, size_t len,
                                     size_t *consumed, struct sdv_broker_frame *frame,
                                     bool *complete);

/* Call at end of stream: SDV_OK between frames, SDV_EPARSE ("truncated ...") inside one, or the
 * sticky error. */
enum sdv_err sdv_broker_decoder_finish(struct sdv_broker_decoder *d);

/* The reason for the last error ("" if none). Never NULL; owned by the decoder. */
const char *sdv_broker_decoder_errmsg(const struct sdv_broker_decoder *d);

/* ---- VISS v3 JSON layer ----------------------------------------------------------------- */

/*
 * VISS error objects: {"number": 404, "reason": "unavailable_data", "message": "..."}, as the
 * VISS v3 transport specification's status code table defines them (reason strings on the
 * wire are exactly these).
 */
enum sdv_broker_viss_error {
    SDV_BROKER_VISS_BAD_REQUEST = 1,     /* 400 bad_request */
    SDV_BROKER_VISS_INVALID_DATA,        /* 400 invalid_data */
    SDV_BROKER_VISS_INVALID_TOKEN,       /* 401 invalid_token */
    SDV_BROKER_VISS_EXPIRED_TOKEN,       /* 401 expired_token */
    SDV_BROKER_VISS_MISSING_TOKEN,       /* 401 missing_token */
    SDV_BROKER_VISS_FORBIDDEN,           /* 403 forbidden_request */
    SDV_BROKER_VISS_UNAVAILABLE_DATA,    /* 404 unavailable_data */
    SDV_BROKER_VISS_INVALID_PATH,        /* 404 invalid_path */
    SDV_BROKER_VISS_REQUEST_TIMEOUT,     /* 408 request_timeout */
    SDV_BROKER_VISS_TOO_MANY_REQUESTS,   /* 429 too_many_requests */
    SDV_BROKER_VISS_INTERNAL,            /* 500 internal_error */
    SDV_BROKER_VISS_SERVICE_UNAVAILABLE, /* 503 service_unavailable */
};
#define SDV_BROKER_VISS_ERROR_MAX 12u

/* The HTTP-style number (400, ...), the reason ("bad_request") and the default message ("The
 * request is malformed") of an error; 500 / "internal_error" for unknown values. */
unsigned sdv_broker_viss_error_number(enum sdv_broker_viss_error e);
const char *sdv_broker_viss_error_reason(enum sdv_broker_viss_error e);
const char *sdv_broker_viss_error_default_message(enum sdv_broker_viss_error e);

/* The VISS error for a binary protocol status (404 -> unavailable_data, 409 -> forbidden...). */
enum sdv_broker_viss_error sdv_broker_viss_error_from_status(uint16_t status);

enum sdv_broker_viss_action {
    SDV_BROKER_VISS_GET = 1,
    SDV_BROKER_VISS_SET = 2,
    SDV_BROKER_VISS_SUBSCRIBE = 3,
    SDV_BROKER_VISS_UNSUBSCRIBE = 4,
    SDV_BROKER_VISS_SUBSCRIPTION = 5, /* server-sent events only */
};

/* "get", "set", "subscribe", "unsubscribe", "subscription"; "unknown" otherwise. */
const char *sdv_broker_viss_action_name(enum sdv_broker_viss_action a);

/*
 * One parsed VISS request. Strings are NUL-terminated and borrowed from the json_t the request
 * holds (root, owned: free with sdv_broker_viss_request_free). value is the JSON "value" of a set
 * (a string, or an array of strings): the daemon turns it into a typed value with
 * sdv_broker_value_from_json once the path's datatype is known. Filter boundaries and diff are
 * numeric values (INT64 or UINT64 for integer text, DOUBLE otherwise) with no payload.
 */
struct sdv_broker_viss_request {
    enum sdv_broker_viss_action action;
    const char *path;            /* get, set, subscribe: dots, or slashes turned into dots */
    const char *request_id;      /* NULL if absent (HTTP); strings and integers accepted */
    const char *subscription_id; /* unsubscribe */
    const char *authorization;   /* NULL if absent; a leading "Bearer " is removed */
    const json_t *value;         /* set */
    bool has_filter;
    struct sdv_broker_filter filter;              /* timebased, change or range (subscribe only) */
    const char *paths[SDV_BROKER_VISS_PATHS_MAX]; /* "paths" filter: relative paths */
    uint32_t n_paths;
    json_t *root;
    char request_id_buf[SDV_BROKER_VISS_ID_LEN_MAX + 1]; /* an integer requestId as text */
    char subscription_id_buf[SDV_BROKER_VISS_ID_LEN_MAX + 1];
};

/*
 * Parses one VISS JSON request (a WebSocket text message or an HTTP POST body) strictly:
 * duplicate keys, unknown members, wrong JSON types, a missing mandatory member, an unknown
 * action or filter variant, bad operators, non-numeric or non-finite boundaries, a period of 0,
 * wildcards in path, and every bound of sdv/limits.h are refused. *verr is 0 on success; on
 * failure it is the VISS
 * error to answer with (400 bad_request for all of these), errmsg (may be NULL) says what and
 * where ("filter.parameter.period: must be a string of decimal digits"), and out->request_id /
 * out->action are still set when they could be read, so the answer can echo them.
 * Returns SDV_OK, SDV_EPARSE, SDV_ETOOBIG (len > SDV_BROKER_VISS_REQUEST_LEN_MAX) or SDV_ENOMEM.
 * Always call sdv_broker_viss_request_free afterwards.
 */
enum sdv_err sdv_broker_viss_request_parse(const char *data, size_t len,
                                           struct sdv_broker_viss_request *out,
                                           enum sdv_broker_viss_error *verr, char *errmsg,
                                           size_t errmsg_len);

/*
 * Builds a request from an HTTP request: method "GET" and url_path "/Vehicle/Speed" give a get
 * of "Vehicle.Speed"; a GET may carry the query "?filter=<percent-encoded JSON filter>" (VISS
 * search read; paths variant only). "POST" takes body {"value": ...} as a set of the URL's path.
 * authorization is the Authorization header value ("Bearer " removed) or NULL. Same errors and
 * ownership as sdv_broker_viss_request_parse.
 */
enum sdv_err sdv_broker_viss_request_from_http(const char *method, const char *url_path,
                                               const char *body, size_t body_len,
                                               const char *authorization,
                                               struct sdv_broker_viss_request *out,
                                               enum sdv_broker_viss_error *verr, char *errmsg,
                                               size_t errmsg_len);

/* Releases what a parse holds. NULL is a no-op. */
void sdv_broker_viss_request_free(struct sdv_broker_viss_request *r);

/* Formats ts_us as "YYYY-MM-DDTHH:MM:SS.ssssssZ" (VISS timestamps, UTC) into out (at least
 * SDV_BROKER_VISS_TS_LEN bytes). */
#define SDV_BROKER_VISS_TS_LEN 40
enum sdv_err sdv_broker_viss_ts_format(int64_t ts_us, char *out);

/* One data point of a response or notification. */
struct sdv_broker_viss_dp {
    const char *path;
    const json_t *value; /* borrowed: from sdv_broker_value_to_json(v, SDV_BROKER_JSON_STRINGS) */
    int64_t ts_us;
};

/*
 * Response and notification serialisers: each appends one JSON text (no trailing newline) to
 * out. request_id may be NULL (omitted, HTTP); now_us is the server's time ("ts" member).
 *   get: {"action":"get","requestId":..,"data":{"path":..,"dp":{"value":..,"ts":..}},"ts":..} (data
 * is an array when n > 1) set:          {"action":"set","requestId":..,"ts":..} subscribe:
 * {"action":"subscribe","requestId":..,"subscriptionId":..,"ts":..} unsubscribe:
 * {"action":"unsubscribe","requestId":..,"subscriptionId":..,"ts":..} subscription:
 * {"action":"subscription","subscriptionId":..,"data":..,"ts":..} error:
 * {"action":..,"requestId":..,"error":{"number":N,"reason":..,"message":..},"ts":..} with
 * "subscriptionId" instead of "requestId" for an error event (action "subscription"); message NULL
 * means the default message.
 */
enum sdv_err sdv_broker_viss_write_get(const char *request_id, const struct sdv_broker_viss_dp *dp,
                                       size_t n, int64_t now_us, struct sdv_buf *out);
enum sdv_err sdv_broker_viss_write_set(const char *request_id, int64_t now_us, struct sdv_buf *out);
enum sdv_err sdv_broker_viss_write_subscribe(const char *request_id, const char *subscription_id,
                                             int64_t now_us, struct sdv_buf *out);
enum sdv_err sdv_broker_viss_write_unsubscribe(const char *request_id, const char *subscription_id,
                                               int64_t now_us, struct sdv_buf *out);
/* subscription: lost (0: omitted) is the non-standard member "lost": N, the number of values the
 * subscriber's queue dropped since its previous notification (it read too slowly); with n == 0
 * the notification carries only that count (no "data"). n == 0 and lost == 0 is SDV_EINVAL. */
enum sdv_err sdv_broker_viss_write_subscription(const char *subscription_id,
                                                const struct sdv_broker_viss_dp *dp, size_t n,
                                                uint64_t lost, int64_t now_us, struct sdv_buf *out);

/*
 * Incremental subscription notification: the same bytes as sdv_broker_viss_write_subscription,
 * written straight into out without building jansson values (the daemon's WebSocket path
 * formats every event). begin, then one add per popped event (an event's payload is valid only
 * until the next pop, so data points are written as they come), then end. One data point is
 * written as an object, several as an array, as the jansson writer does. A failed add (out full,
 * a time stamp RFC 3339 cannot write) leaves out as it was and the writer usable; a failed end
 * leaves a partial notification in out from w.start on. end with no data point and no lost
 * count is SDV_EINVAL. out is borrowed for the writer's lifetime; the fields are private.
 */
struct sdv_broker_viss_notif {
    struct sdv_buf *out;
    size_t start; /* out->len before begin */
    size_t data;  /* offset of the data member's '[' */
    size_t n;     /* data points added */
    int64_t ts_secs;
    size_t ts_base_len;
    char ts_base[24]; /* "YYYY-MM-DDTHH:MM:SS" of ts_secs */
};
enum sdv_err sdv_broker_viss_notif_begin(struct sdv_broker_viss_notif *w,
                                         const char *subscription_id, struct sdv_buf *out);
enum sdv_err sdv_broker_viss_notif_add(struct sdv_broker_viss_notif *w, const char *path,
                                       const struct sdv_broker_value *value, int64_t ts_us);
enum sdv_err sdv_broker_viss_notif_end(struct sdv_broker_viss_notif *w, uint64_t lost,
                                       int64_t now_us);
enum sdv_err sdv_broker_viss_write_error(enum sdv_broker_viss_action action, const char *request_id,
                                         const char *subscription_id,
                                         enum sdv_broker_viss_error err, const char *message,
                                         int64_t now_us, struct sdv_buf *out);

#ifdef __cplusplus
}
#endif
#endif /* SDV_BROKER_PROTO_H */
