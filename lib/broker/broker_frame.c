/*
 * broker_frame.c - messages of the binary broker protocol: encoder, strict parser and the batch
 * builder for the hot path (docs/broker-protocol.md). Integers are little-endian and read and
 * written byte by byte, independent of alignment; array payloads are borrowed from the frame in
 * place, which needs a little-endian host (checked at compile time). The parser walks the payload
 * once with a bounds-checked cursor; nothing recurses (arrays hold scalars only).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker_proto_int.h"

/* ---- Names ------------------------------------------------------------------------------ */

const char *sdv_broker_msg_type_name(unsigned type)
{
    static const char *const names[] = {
            "UNKNOWN",
            "HELLO",
            "HELLO_OK",
            "LOOKUP",
            "LOOKUP_RESULT",
            "GET",
            "GET_RESULT",
            "SET",
            "OK",
            "ERROR",
            "PUBLISH",
            "CLAIM",
            "ACTUATE",
            "ACTUATE_REPLY",
            "SUBSCRIBE",
            "SUBSCRIBED",
            "UNSUBSCRIBE",
            "EVENT",
            "VALUES_LOST",
            "AUTH",
            "SUB_ENDED",
            "SESSION_HANDLE",
            "SESSION_HANDLE_OK",
            "RENEW",
    };

    return type <= SDV_BROKER_MSG_TYPE_MAX ? names[type] : names[0];
}

uint16_t sdv_broker_status_from_err(enum sdv_err err)
{
    switch (err) {
    case SDV_OK:
        return SDV_BROKER_STATUS_OK;
    case SDV_EINVAL:
    case SDV_EPARSE:
    case SDV_ERANGE:
    case SDV_ETOOBIG:
        return SDV_BROKER_STATUS_BAD_REQUEST;
    case SDV_EDENIED:
        return SDV_BROKER_STATUS_FORBIDDEN;
    case SDV_ENOENT:
        return SDV_BROKER_STATUS_NOT_FOUND;
    case SDV_EEXIST:
    case SDV_EREJECTED:
        return SDV_BROKER_STATUS_CONFLICT;
    case SDV_EUNAVAILABLE:
        return SDV_BROKER_STATUS_UNAVAILABLE;
    case SDV_ELIMIT:
        return SDV_BROKER_STATUS_TOO_MANY;
    default:
        return SDV_BROKER_STATUS_INTERNAL;
    }
}

/* The datatype byte is valid: NONE, a scalar 1..12, or an array of one. */
static bool dt_valid(unsigned dt)
{
    unsigned elem = dt & ~(unsigned)SDV_BROKER_DT_ARRAY;

    return dt <= 0xFFu && (dt == SDV_BROKER_DT_NONE || (elem >= 1 && elem <= 12));
}

static const char *dt_name(unsigned dt)
{
    static const char *const names[] = {
            "none",   "boolean", "int8",   "int16", "int32",  "int64",  "uint8",
            "uint16", "uint32",  "uint64", "float", "double", "string",
    };

    return dt_valid(dt) ? names[dt & ~(unsigned)SDV_BROKER_DT_ARRAY] : "invalid";
}

void sdv_broker_msg_init(struct sdv_broker_msg *m, enum sdv_broker_msg_type type,
                         uint32_t request_id)
{
    memset(m, 0, sizeof(*m));
    m->type = (uint8_t)type;
    m->request_id = request_id;
}

/* ---- Little-endian helpers -------------------------------------------------------------- */

void broker_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void broker_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    broker_put_u32(p, (uint32_t)v);
    broker_put_u32(p + 4, (uint32_t)(v >> 32));
}

uint16_t broker_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

uint32_t broker_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)broker_get_u32(p) | (uint64_t)broker_get_u32(p + 4) << 32;
}

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "array values are borrowed from frames in place: the wire and the host are little-endian"
#endif

/* Bytes of one packed element (as sdv_broker_datatype_elem_size), 0 for strings. */
static unsigned elem_width(unsigned elem)
{
    static const unsigned char w[] = {0, 1, 1, 2, 4, 8, 1, 2, 4, 8, 4, 8, 0};

    return elem <= 12 ? w[elem] : 0;
}

static bool is_numeric_scalar(unsigned dt)
{
    return dt >= SDV_BROKER_DT_INT8 && dt <= SDV_BROKER_DT_DOUBLE;
}

/* Checks count packed elements of type elem at p (len bytes); why receives the reason. */
static bool check_elems(unsigned elem, const uint8_t *p, uint32_t count, uint32_t len, char *why,
                        size_t why_len)
{
    unsigned width = elem_width(elem);
    uint32_t k;

    if (count > SDV_BROKER_ARRAY_LEN_MAX) {
        snprintf(why, why_len, "%u elements exceed %u", (unsigned)count, SDV_BROKER_ARRAY_LEN_MAX);
        return false;
    }
    if (len > 0 && p == NULL) {
        snprintf(why, why_len, "elements missing");
        return false;
    }
    if (elem == SDV_BROKER_DT_STRING) {
        uint32_t nuls = 0;

        if (len > SDV_BROKER_STRING_LEN_MAX) {
            snprintf(why, why_len, "%u bytes of strings exceed %u", (unsigned)len,
                     SDV_BROKER_STRING_LEN_MAX);
            return false;
        }
        for (k = 0; k < len; k++)
            nuls += p[k] == 0;
        if (nuls != count || (len > 0 && p[len - 1] != 0)) {
            snprintf(why, why_len, "%u bytes do not hold exactly %u NUL-terminated strings",
                     (unsigned)len, (unsigned)count);
            return false;
        }
        return true;
    }
    if ((uint64_t)count * width != len) {
        snprintf(why, why_len, "%u bytes for %u elements of %u bytes", (unsigned)len,
                 (unsigned)count, width);
        return false;
    }
    for (k = 0; k < count; k++) {
        const uint8_t *e = p + (size_t)k * width;

        if (elem == SDV_BROKER_DT_BOOLEAN && e[0] > 1) {
            snprintf(why, why_len, "element %u: boolean byte %u", (unsigned)k, (unsigned)e[0]);
            return false;
        }
        if (elem == SDV_BROKER_DT_FLOAT) {
            float f;

            memcpy(&f, e, 4);
            if (!isfinite(f)) {
                snprintf(why, why_len, "element %u: float is not finite", (unsigned)k);
                return false;
            }
        }
        if (elem == SDV_BROKER_DT_DOUBLE) {
            double d;

            memcpy(&d, e, 8);
            if (!isfinite(d)) {
                snprintf(why, why_len, "element %u: double is not finite", (unsigned)k);
                return false;
            }
        }
    }
    return true;
}

/* ---- Writer ----------------------------------------------------------------------------- */

struct wr {
    struct sdv_buf *out;
    enum sdv_err err; /* first error; later writes do nothing */
    char *errmsg;
    size_t errmsg_len;
};

static void wr_fail(struct wr *w, enum sdv_err err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void wr_fail(struct wr *w, enum sdv_err err, const char *fmt, ...)
{
    va_list ap;

    if (w->err != SDV_OK)
        return;
    w->err = err;
    if (w->errmsg != NULL && w->errmsg_len > 0) {
        va_start(ap, fmt);
        vsnprintf(w->errmsg, w->errmsg_len, fmt, ap);
        va_end(ap);
    }
}

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
    enum sdv_err err;

    if (w->err != SDV_OK)
        return;
    err = sdv_buf_append(w->out, p, n);
    if (err != SDV_OK)
        wr_fail(w, err, "output buffer: %s", sdv_strerror(err));
}

static void wr_u8(struct wr *w, uint8_t v)
{
    wr_bytes(w, &v, 1);
}

static void wr_u16(struct wr *w, uint16_t v)
{
    uint8_t b[2];

    broker_put_u16(b, v);
    wr_bytes(w, b, 2);
}

static void wr_u32(struct wr *w, uint32_t v)
{
    uint8_t b[4];

    broker_put_u32(b, v);
    wr_bytes(w, b, 4);
}

static void wr_u64(struct wr *w, uint64_t v)
{
    uint8_t b[8];

    put_u64(b, v);
    wr_bytes(w, b, 8);
}

/* A u16-length string field with its bound; NUL is refused. */
static void wr_str16(struct wr *w, const char *what, struct sdv_broker_str s, uint32_t max,
                     bool nonempty)
{
    if (s.len > max || (s.len > 0 && s.p == NULL)) {
        wr_fail(w, SDV_EINVAL, "%s: length %u exceeds %u", what, (unsigned)s.len, (unsigned)max);
        return;
    }
    if (nonempty && s.len == 0) {
        wr_fail(w, SDV_EINVAL, "%s: empty", what);
        return;
    }
    if (s.len > 0 && memchr(s.p, '\0', s.len) != NULL) {
        wr_fail(w, SDV_EINVAL, "%s: contains NUL", what);
        return;
    }
    wr_u16(w, (uint16_t)s.len);
    wr_bytes(w, s.p, s.len);
}

/* Range check of an integer scalar against its type. */
static bool int_in_range(const struct sdv_broker_value *v)
{
    switch (v->type) {
    case SDV_BROKER_DT_INT8:
        return v->v.i >= INT8_MIN && v->v.i <= INT8_MAX;
    case SDV_BROKER_DT_INT16:
        return v->v.i >= INT16_MIN && v->v.i <= INT16_MAX;
    case SDV_BROKER_DT_INT32:
        return v->v.i >= INT32_MIN && v->v.i <= INT32_MAX;
    case SDV_BROKER_DT_UINT8:
        return v->v.u <= UINT8_MAX;
    case SDV_BROKER_DT_UINT16:
        return v->v.u <= UINT16_MAX;
    case SDV_BROKER_DT_UINT32:
        return v->v.u <= UINT32_MAX;
    default:
        return true;
    }
}

/* Writes one value: datatype byte and payload (see broker_proto.h). */
static void wr_value(struct wr *w, const struct sdv_broker_value *v)
{
    unsigned dt = (unsigned)v->type, elem = dt & ~(unsigned)SDV_BROKER_DT_ARRAY;
    uint8_t b[8];
    char why[96];

    if (!dt_valid(dt)) {
        wr_fail(w, SDV_EINVAL, "value: unknown datatype %u", dt);
        return;
    }
    if (!int_in_range(v)) {
        wr_fail(w, SDV_EINVAL, "value: out of range for %s", dt_name(dt));
        return;
    }
    wr_u8(w, (uint8_t)dt);
    if (SDV_BROKER_DT_IS_ARRAY(dt)) {
        if (!check_elems(elem, v->v.p, v->count, v->len, why, sizeof(why))) {
            wr_fail(w, SDV_EINVAL, "%s value: %s", dt_name(dt), why);
            return;
        }
        wr_u32(w, v->count);
        if (elem == SDV_BROKER_DT_STRING)
            wr_u32(w, v->len);
        if (v->len > 0)
            wr_bytes(w, v->v.p, v->len);
        return;
    }
    switch (dt) {
    case SDV_BROKER_DT_NONE:
        return;
    case SDV_BROKER_DT_BOOLEAN:
        b[0] = v->v.b ? 1 : 0;
        break;
    case SDV_BROKER_DT_INT8:
    case SDV_BROKER_DT_INT16:
    case SDV_BROKER_DT_INT32:
    case SDV_BROKER_DT_INT64:
        put_u64(b, (uint64_t)v->v.i);
        break;
    case SDV_BROKER_DT_UINT8:
    case SDV_BROKER_DT_UINT16:
    case SDV_BROKER_DT_UINT32:
    case SDV_BROKER_DT_UINT64:
        put_u64(b, v->v.u);
        break;
    case SDV_BROKER_DT_FLOAT: {
        uint32_t bits;

        if (!isfinite(v->v.f)) {
            wr_fail(w, SDV_EINVAL, "float value: not finite");
            return;
        }
        memcpy(&bits, &v->v.f, 4);
        broker_put_u32(b, bits);
        break;
    }
    case SDV_BROKER_DT_DOUBLE: {
        uint64_t bits;

        if (!isfinite(v->v.d)) {
            wr_fail(w, SDV_EINVAL, "double value: not finite");
            return;
        }
        memcpy(&bits, &v->v.d, 8);
        put_u64(b, bits);
        break;
    }
    case SDV_BROKER_DT_STRING:
        if (v->len > SDV_BROKER_STRING_LEN_MAX || (v->len > 0 && v->v.p == NULL)) {
            wr_fail(w, SDV_EINVAL, "string value: length %u exceeds %u", (unsigned)v->len,
                    SDV_BROKER_STRING_LEN_MAX);
            return;
        }
        if (v->len > 0 && memchr(v->v.p, '\0', v->len) != NULL) {
            wr_fail(w, SDV_EINVAL, "string value: contains NUL");
            return;
        }
        wr_u32(w, v->len);
        if (v->len > 0)
            wr_bytes(w, v->v.p, v->len);
        return;
    default:
        return;
    }
    wr_bytes(w, b, elem_width(dt));
}

/* A value where "no value" makes no sense (set, publish, actuate, event). */
static void wr_value_some(struct wr *w, const struct sdv_broker_value *v)
{
    if (v->type == SDV_BROKER_DT_NONE) {
        wr_fail(w, SDV_EINVAL, "value: datatype none where a value is required");
        return;
    }
    wr_value(w, v);
}

static void wr_ref(struct wr *w, const struct sdv_broker_entry *e)
{
    if (e->id != 0) {
        wr_u8(w, BROKER_REF_ID);
        wr_u32(w, e->id);
        return;
    }
    wr_u8(w, BROKER_REF_PATH);
    wr_str16(w, "path", e->path, SDV_BROKER_PATH_LEN_MAX, true);
}

enum sdv_err broker_filter_check(const struct sdv_broker_filter *f, char *why, size_t why_len)
{
    unsigned k;

    if (f->period_ms > SDV_BROKER_PERIOD_MS_MAX) {
        snprintf(why, why_len, "period %u ms exceeds %u", (unsigned)f->period_ms,
                 SDV_BROKER_PERIOD_MS_MAX);
        return SDV_EINVAL;
    }
    if ((unsigned)f->change_op > SDV_BROKER_OP_LE) {
        snprintf(why, why_len, "unknown change operator %u", (unsigned)f->change_op);
        return SDV_EINVAL;
    }
    if (!f->change && (f->change_op != 0 || f->change_diff.type != SDV_BROKER_DT_NONE)) {
        snprintf(why, why_len, "change operator or diff without a change filter");
        return SDV_EINVAL;
    }
    if (f->change_diff.type != SDV_BROKER_DT_NONE && !is_numeric_scalar(f->change_diff.type)) {
        snprintf(why, why_len, "change diff is not a number");
        return SDV_EINVAL;
    }
    if (f->range_count > SDV_BROKER_RANGE_MAX) {
        snprintf(why, why_len, "%u range boundaries (at most %u)", (unsigned)f->range_count,
                 SDV_BROKER_RANGE_MAX);
        return SDV_EINVAL;
    }
    if (f->range_count == 0 && f->range_any) {
        snprintf(why, why_len, "range combination without boundaries");
        return SDV_EINVAL;
    }
    for (k = 0; k < f->range_count; k++) {
        if (f->range[k].op < SDV_BROKER_OP_EQ || f->range[k].op > SDV_BROKER_OP_LE) {
            snprintf(why, why_len, "range boundary %u: unknown operator %u", k,
                     (unsigned)f->range[k].op);
            return SDV_EINVAL;
        }
        if (!is_numeric_scalar(f->range[k].boundary.type)) {
            snprintf(why, why_len, "range boundary %u is not a number", k);
            return SDV_EINVAL;
        }
    }
    return SDV_OK;
}

static void wr_filter(struct wr *w, const struct sdv_broker_filter *f)
{
    char why[96];
    unsigned k;

    if (broker_filter_check(f, why, sizeof(why)) != SDV_OK) {
        wr_fail(w, SDV_EINVAL, "filter: %s", why);
        return;
    }
    wr_u32(w, f->period_ms);
    wr_u8(w, f->change ? 1 : 0);
    wr_u8(w, (uint8_t)f->change_op);
    wr_value(w, &f->change_diff);
    wr_u8(w, (uint8_t)f->range_count);
    wr_u8(w, f->range_any ? 1 : 0);
    for (k = 0; k < f->range_count; k++) {
        wr_u8(w, (uint8_t)f->range[k].op);
        wr_value(w, &f->range[k].boundary);
    }
}

/* Entry counts: at most SDV_BROKER_BATCH_MAX; min is 1 where an empty request makes no sense. */
static bool wr_count(struct wr *w, uint32_t n, uint32_t min)
{
    if (n > SDV_BROKER_BATCH_MAX || n < min) {
        wr_fail(w, SDV_EINVAL, "%u entries (allowed %u..%u)", (unsigned)n, (unsigned)min,
                SDV_BROKER_BATCH_MAX);
        return false;
    }
    wr_u16(w, (uint16_t)n);
    return true;
}

static void wr_header(struct wr *w, uint8_t type, uint32_t request_id)
{
    uint8_t h[SDV_BROKER_HEADER_LEN] = {SDV_BROKER_PROTO_MAGIC, type, 0, 0};

    broker_put_u32(h + 8, request_id);
    wr_bytes(w, h, sizeof(h)); /* the length is patched at the end */
}

static void wr_entries(struct wr *w, const struct sdv_broker_msg *m)
{
    uint32_t i;

    for (i = 0; i < m->n_entries && w->err == SDV_OK; i++) {
        const struct sdv_broker_entry *e = &m->entries[i];

        switch (m->type) {
        case SDV_BROKER_MSG_LOOKUP:
            wr_str16(w, "path", e->path, SDV_BROKER_PATH_LEN_MAX, true);
            break;
        case SDV_BROKER_MSG_CLAIM:
        case SDV_BROKER_MSG_GET:
        case SDV_BROKER_MSG_SUBSCRIBE:
            wr_ref(w, e);
            break;
        case SDV_BROKER_MSG_LOOKUP_RESULT:
            if (e->status == 0 &&
                (e->id == 0 || !dt_valid(e->datatype) || e->datatype == SDV_BROKER_DT_NONE ||
                 e->entry_type < 1 || e->entry_type > 3)) {
                wr_fail(w, SDV_EINVAL, "entry %u: found signal needs id, datatype, entry type",
                        (unsigned)i);
                break;
            }
            if (e->status != 0 && (e->id != 0 || e->datatype != 0 || e->entry_type != 0)) {
                wr_fail(w, SDV_EINVAL, "entry %u: failed lookup carries no id or type",
                        (unsigned)i);
                break;
            }
            wr_u32(w, e->id);
            wr_u8(w, e->datatype);
            wr_u8(w, e->entry_type);
            wr_u16(w, e->status);
            break;
        case SDV_BROKER_MSG_GET_RESULT:
            wr_u32(w, e->id);
            wr_u16(w, e->status);
            if (e->status == 0) {
                wr_u64(w, (uint64_t)e->ts_us);
                wr_value(w, &e->value);
            }
            break;
        case SDV_BROKER_MSG_PUBLISH:
        case SDV_BROKER_MSG_EVENT:
            if (e->id == 0)
                wr_fail(w, SDV_EINVAL, "entry %u: id 0", (unsigned)i);
            wr_u32(w, e->id);
            wr_u64(w, (uint64_t)e->ts_us);
            wr_value_some(w, &e->value);
            break;
        case SDV_BROKER_MSG_SUBSCRIBED:
            if (e->id == 0)
                wr_fail(w, SDV_EINVAL, "entry %u: id 0", (unsigned)i);
            wr_u32(w, e->id);
            break;
        default:
            break;
        }
    }
}

enum sdv_err sdv_broker_msg_encode(const struct sdv_broker_msg *m, struct sdv_buf *out,
                                   char *errmsg, size_t errmsg_len)
{
    struct wr w = {out, SDV_OK, errmsg, errmsg_len};
    size_t start = out->len;
    size_t payload_len;

    if (errmsg != NULL && errmsg_len > 0)
        errmsg[0] = '\0';
    if (m->type < 1 || m->type > SDV_BROKER_MSG_TYPE_MAX) {
        wr_fail(&w, SDV_EINVAL, "unknown message type %u", (unsigned)m->type);
        return w.err;
    }
    if (m->n_entries > 0 && m->entries == NULL) {
        wr_fail(&w, SDV_EINVAL, "entries missing");
        return w.err;
    }
    wr_header(&w, m->type, m->request_id);
    switch (m->type) {
    case SDV_BROKER_MSG_HELLO:
        wr_u16(&w, m->version);
        wr_str16(&w, "client name", m->name, SDV_BROKER_NAME_LEN_MAX, false);
        wr_str16(&w, "token", m->token, SDV_BROKER_TOKEN_LEN_MAX, false);
        break;
    case SDV_BROKER_MSG_HELLO_OK:
        wr_u16(&w, m->version);
        wr_u32(&w, m->payload_max);
        wr_str16(&w, "broker name", m->name, SDV_BROKER_NAME_LEN_MAX, false);
        break;
    case SDV_BROKER_MSG_LOOKUP:
    case SDV_BROKER_MSG_GET:
    case SDV_BROKER_MSG_CLAIM:
        if (wr_count(&w, m->n_entries, 1))
            wr_entries(&w, m);
        break;
    case SDV_BROKER_MSG_ACTUATE:
        if (m->n_entries != 1 || m->entries[0].id == 0) {
            wr_fail(&w, SDV_EINVAL, "ACTUATE carries exactly one entry with a signal id");
            break;
        }
        wr_u64(&w, m->actuation_id);
        wr_u32(&w, m->entries[0].id);
        wr_value_some(&w, &m->entries[0].value);
        break;
    case SDV_BROKER_MSG_LOOKUP_RESULT:
    case SDV_BROKER_MSG_GET_RESULT:
    case SDV_BROKER_MSG_PUBLISH:
        if (wr_count(&w, m->n_entries, 0))
            wr_entries(&w, m);
        break;
    case SDV_BROKER_MSG_SET:
        if (m->n_entries != 1) {
            wr_fail(&w, SDV_EINVAL, "SET carries exactly one entry, not %u",
                    (unsigned)m->n_entries);
            break;
        }
        wr_ref(&w, &m->entries[0]);
        wr_value_some(&w, &m->entries[0].value);
        break;
    case SDV_BROKER_MSG_OK:
        break;
    case SDV_BROKER_MSG_ERROR:
        if (m->status == 0)
            wr_fail(&w, SDV_EINVAL, "ERROR with status 0");
        wr_u16(&w, m->status);
        wr_u32(&w, m->signal_id);
        wr_str16(&w, "message", m->message, SDV_BROKER_MESSAGE_LEN_MAX, false);
        break;
    case SDV_BROKER_MSG_ACTUATE_REPLY:
        wr_u64(&w, m->actuation_id);
        wr_u16(&w, m->status);
        wr_str16(&w, "message", m->message, SDV_BROKER_MESSAGE_LEN_MAX, false);
        break;
    case SDV_BROKER_MSG_SUBSCRIBE:
        wr_filter(&w, &m->filter);
        if (wr_count(&w, m->n_entries, 1))
            wr_entries(&w, m);
        break;
    case SDV_BROKER_MSG_SUBSCRIBED:
    case SDV_BROKER_MSG_EVENT:
        if (m->sub_id == 0)
            wr_fail(&w, SDV_EINVAL, "subscription id 0");
        wr_u32(&w, m->sub_id);
        if (wr_count(&w, m->n_entries, m->type == SDV_BROKER_MSG_SUBSCRIBED ? 1 : 0))
            wr_entries(&w, m);
        break;
    case SDV_BROKER_MSG_UNSUBSCRIBE:
        if (m->sub_id == 0)
            wr_fail(&w, SDV_EINVAL, "subscription id 0");
        wr_u32(&w, m->sub_id);
        break;
    case SDV_BROKER_MSG_VALUES_LOST:
        if (m->sub_id == 0 || m->lost == 0)
            wr_fail(&w, SDV_EINVAL, "VALUES_LOST needs a subscription id and a count");
        wr_u32(&w, m->sub_id);
        wr_u32(&w, m->lost);
        break;
    case SDV_BROKER_MSG_AUTH:
        wr_str16(&w, "token", m->token, SDV_BROKER_TOKEN_LEN_MAX, true);
        break;
    case SDV_BROKER_MSG_SESSION_HANDLE:
        break;
    case SDV_BROKER_MSG_SESSION_HANDLE_OK:
        wr_bytes(&w, m->handle, sizeof(m->handle));
        break;
    case SDV_BROKER_MSG_RENEW:
        wr_bytes(&w, m->handle, sizeof(m->handle));
        wr_str16(&w, "token", m->token, SDV_BROKER_TOKEN_LEN_MAX, true);
        break;
    case SDV_BROKER_MSG_SUB_ENDED:
        if (m->sub_id == 0 || m->status == 0)
            wr_fail(&w, SDV_EINVAL, "SUB_ENDED needs a subscription id and a status");
        wr_u32(&w, m->sub_id);
        wr_u16(&w, m->status);
        wr_str16(&w, "message", m->message, SDV_BROKER_MESSAGE_LEN_MAX, false);
        break;
    default:
        break;
    }
    payload_len = out->len - start - SDV_BROKER_HEADER_LEN;
    if (w.err == SDV_OK && payload_len > SDV_BROKER_FRAME_PAYLOAD_MAX)
        wr_fail(&w, SDV_ETOOBIG, "payload of %zu bytes exceeds %u", payload_len,
                SDV_BROKER_FRAME_PAYLOAD_MAX);
    if (w.err != SDV_OK) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return w.err;
    }
    broker_put_u32(out->data + start + 4, (uint32_t)payload_len);
    return SDV_OK;
}

/* ---- Reader ----------------------------------------------------------------------------- */

struct rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    enum sdv_err err;
    char *errmsg;
    size_t errmsg_len;
    const char *msg; /* message type name, for errors */
    long entry;      /* entry index, -1 outside entries */
};

static bool rd_fail(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool rd_fail(struct rd *r, const char *fmt, ...)
{
    char what[200];
    va_list ap;

    if (r->err != SDV_OK)
        return false;
    r->err = SDV_EPARSE;
    if (r->errmsg == NULL || r->errmsg_len == 0)
        return false;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (r->entry >= 0)
        snprintf(r->errmsg, r->errmsg_len, "%s entry %ld at byte %zu: %s", r->msg, r->entry, r->off,
                 what);
    else
        snprintf(r->errmsg, r->errmsg_len, "%s at byte %zu: %s", r->msg, r->off, what);
    return false;
}

static bool rd_need(struct rd *r, size_t n, const char *what)
{
    if (r->err != SDV_OK)
        return false;
    if (r->len - r->off < n)
        return rd_fail(r, "truncated %s (%zu bytes needed, %zu left)", what, n, r->len - r->off);
    return true;
}

static uint8_t rd_u8(struct rd *r, const char *what)
{
    if (!rd_need(r, 1, what))
        return 0;
    return r->p[r->off++];
}

static uint16_t rd_u16(struct rd *r, const char *what)
{
    uint16_t v;

    if (!rd_need(r, 2, what))
        return 0;
    v = broker_get_u16(r->p + r->off);
    r->off += 2;
    return v;
}

static uint32_t rd_u32(struct rd *r, const char *what)
{
    uint32_t v;

    if (!rd_need(r, 4, what))
        return 0;
    v = broker_get_u32(r->p + r->off);
    r->off += 4;
    return v;
}

static uint64_t rd_u64(struct rd *r, const char *what)
{
    uint64_t v;

    if (!rd_need(r, 8, what))
        return 0;
    v = get_u64(r->p + r->off);
    r->off += 8;
    return v;
}

static struct sdv_broker_str rd_str16(struct rd *r, const char *what, uint32_t max, bool nonempty)
{
    struct sdv_broker_str s = {NULL, 0};
    uint16_t n = rd_u16(r, what);

    if (r->err != SDV_OK)
        return s;
    if (n > max) {
        rd_fail(r, "%s: length %u exceeds %u", what, (unsigned)n, (unsigned)max);
        return s;
    }
    if (nonempty && n == 0) {
        rd_fail(r, "%s: empty", what);
        return s;
    }
    if (!rd_need(r, n, what))
        return s;
    s.p = (const char *)r->p + r->off;
    s.len = n;
    if (n > 0 && memchr(s.p, '\0', n) != NULL) {
        rd_fail(r, "%s: contains NUL", what);
        return s;
    }
    r->off += n;
    return s;
}

static void rd_value(struct rd *r, struct sdv_broker_value *v)
{
    uint8_t dt = rd_u8(r, "datatype");
    unsigned elem = dt & ~(unsigned)SDV_BROKER_DT_ARRAY;
    char why[96];

    memset(v, 0, sizeof(*v));
    if (r->err != SDV_OK)
        return;
    if (!dt_valid(dt)) {
        rd_fail(r, "value: unknown datatype %u", (unsigned)dt);
        return;
    }
    v->type = (enum sdv_broker_datatype)dt;
    if (SDV_BROKER_DT_IS_ARRAY(dt)) {
        v->count = rd_u32(r, "array count");
        if (r->err != SDV_OK)
            return;
        if (v->count > SDV_BROKER_ARRAY_LEN_MAX) {
            rd_fail(r, "%s value: %u elements exceed %u", dt_name(dt), (unsigned)v->count,
                    SDV_BROKER_ARRAY_LEN_MAX);
            return;
        }
        if (elem == SDV_BROKER_DT_STRING) {
            v->len = rd_u32(r, "string array length");
            if (r->err == SDV_OK && v->len > SDV_BROKER_STRING_LEN_MAX) {
                rd_fail(r, "%s value: %u bytes exceed %u", dt_name(dt), (unsigned)v->len,
                        SDV_BROKER_STRING_LEN_MAX);
                return;
            }
        } else {
            v->len = v->count * elem_width(elem);
        }
        if (!rd_need(r, v->len, "array elements"))
            return;
        v->v.p = v->len > 0 ? r->p + r->off : NULL;
        if (!check_elems(elem, v->v.p, v->count, v->len, why, sizeof(why))) {
            rd_fail(r, "%s value: %s", dt_name(dt), why);
            return;
        }
        r->off += v->len;
        return;
    }
    switch (dt) {
    case SDV_BROKER_DT_NONE:
        break;
    case SDV_BROKER_DT_BOOLEAN: {
        uint8_t b = rd_u8(r, "boolean");

        if (b > 1)
            rd_fail(r, "boolean byte %u is neither 0 nor 1", (unsigned)b);
        v->v.b = b == 1;
        break;
    }
    case SDV_BROKER_DT_INT8:
        v->v.i = (int8_t)rd_u8(r, "int8");
        break;
    case SDV_BROKER_DT_INT16:
        v->v.i = (int16_t)rd_u16(r, "int16");
        break;
    case SDV_BROKER_DT_INT32:
        v->v.i = (int32_t)rd_u32(r, "int32");
        break;
    case SDV_BROKER_DT_INT64:
        v->v.i = (int64_t)rd_u64(r, "int64");
        break;
    case SDV_BROKER_DT_UINT8:
        v->v.u = rd_u8(r, "uint8");
        break;
    case SDV_BROKER_DT_UINT16:
        v->v.u = rd_u16(r, "uint16");
        break;
    case SDV_BROKER_DT_UINT32:
        v->v.u = rd_u32(r, "uint32");
        break;
    case SDV_BROKER_DT_UINT64:
        v->v.u = rd_u64(r, "uint64");
        break;
    case SDV_BROKER_DT_FLOAT: {
        uint32_t bits = rd_u32(r, "float");

        memcpy(&v->v.f, &bits, 4);
        if (r->err == SDV_OK && !isfinite(v->v.f))
            rd_fail(r, "float value is not finite");
        break;
    }
    case SDV_BROKER_DT_DOUBLE: {
        uint64_t bits = rd_u64(r, "double");

        memcpy(&v->v.d, &bits, 8);
        if (r->err == SDV_OK && !isfinite(v->v.d))
            rd_fail(r, "double value is not finite");
        break;
    }
    case SDV_BROKER_DT_STRING:
        v->len = rd_u32(r, "string length");
        v->count = 1;
        if (r->err != SDV_OK)
            break;
        if (v->len > SDV_BROKER_STRING_LEN_MAX) {
            rd_fail(r, "string value: length %u exceeds %u", (unsigned)v->len,
                    SDV_BROKER_STRING_LEN_MAX);
            break;
        }
        if (!rd_need(r, v->len, "string value"))
            break;
        v->v.p = v->len > 0 ? r->p + r->off : NULL;
        if (v->len > 0 && memchr(v->v.p, '\0', v->len) != NULL) {
            rd_fail(r, "string value contains NUL");
            break;
        }
        r->off += v->len;
        break;
    default:
        break;
    }
}

static void rd_value_some(struct rd *r, struct sdv_broker_value *v)
{
    rd_value(r, v);
    if (r->err == SDV_OK && v->type == SDV_BROKER_DT_NONE)
        rd_fail(r, "value: datatype none where a value is required");
}

static void rd_ref(struct rd *r, struct sdv_broker_entry *e)
{
    uint8_t kind = rd_u8(r, "reference kind");

    if (r->err != SDV_OK)
        return;
    if (kind == BROKER_REF_ID) {
        e->id = rd_u32(r, "id");
        if (r->err == SDV_OK && e->id == 0)
            rd_fail(r, "signal id 0");
    } else if (kind == BROKER_REF_PATH) {
        e->path = rd_str16(r, "path", SDV_BROKER_PATH_LEN_MAX, true);
    } else {
        rd_fail(r, "unknown reference kind %u", (unsigned)kind);
    }
}

static void rd_filter(struct rd *r, struct sdv_broker_filter *f)
{
    char why[96];
    uint8_t change, any;
    unsigned k;

    memset(f, 0, sizeof(*f));
    f->period_ms = rd_u32(r, "filter period");
    change = rd_u8(r, "filter change flag");
    f->change_op = (enum sdv_broker_op)rd_u8(r, "filter change operator");
    rd_value(r, &f->change_diff);
    f->range_count = rd_u8(r, "filter range count");
    any = rd_u8(r, "filter range combination");
    if (r->err != SDV_OK)
        return;
    if (change > 1 || any > 1) {
        rd_fail(r, "filter: flag bytes must be 0 or 1");
        return;
    }
    f->change = change == 1;
    f->range_any = any == 1;
    if (f->range_count > SDV_BROKER_RANGE_MAX) {
        rd_fail(r, "filter: %u range boundaries (at most %u)", (unsigned)f->range_count,
                SDV_BROKER_RANGE_MAX);
        return;
    }
    for (k = 0; k < f->range_count && r->err == SDV_OK; k++) {
        f->range[k].op = (enum sdv_broker_op)rd_u8(r, "range operator");
        rd_value(r, &f->range[k].boundary);
    }
    if (r->err == SDV_OK && broker_filter_check(f, why, sizeof(why)) != SDV_OK)
        rd_fail(r, "filter: %s", why);
}

static uint32_t rd_count(struct rd *r, uint32_t min, uint32_t entries_max)
{
    uint16_t n = rd_u16(r, "entry count");

    if (r->err != SDV_OK)
        return 0;
    if (n < min || n > SDV_BROKER_BATCH_MAX) {
        rd_fail(r, "%u entries (allowed %u..%u)", (unsigned)n, (unsigned)min, SDV_BROKER_BATCH_MAX);
        return 0;
    }
    if (n > entries_max) {
        rd_fail(r, "%u entries exceed the receiver's %u", (unsigned)n, (unsigned)entries_max);
        r->err = SDV_ETOOBIG;
        return 0;
    }
    return n;
}

static void rd_entries(struct rd *r, struct sdv_broker_msg *m, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < n && r->err == SDV_OK; i++) {
        struct sdv_broker_entry *e = &m->entries[i];

        r->entry = (long)i;
        memset(e, 0, sizeof(*e));
        switch (m->type) {
        case SDV_BROKER_MSG_LOOKUP:
            e->path = rd_str16(r, "path", SDV_BROKER_PATH_LEN_MAX, true);
            break;
        case SDV_BROKER_MSG_CLAIM:
        case SDV_BROKER_MSG_GET:
        case SDV_BROKER_MSG_SUBSCRIBE:
            rd_ref(r, e);
            break;
        case SDV_BROKER_MSG_LOOKUP_RESULT:
            e->id = rd_u32(r, "id");
            e->datatype = rd_u8(r, "datatype");
            e->entry_type = rd_u8(r, "entry type");
            e->status = rd_u16(r, "status");
            if (r->err != SDV_OK)
                break;
            if (e->status == 0 &&
                (e->id == 0 || !dt_valid(e->datatype) || e->datatype == SDV_BROKER_DT_NONE ||
                 e->entry_type < 1 || e->entry_type > 3))
                rd_fail(r, "found signal without id, datatype or entry type");
            else if (e->status != 0 && (e->id != 0 || e->datatype != 0 || e->entry_type != 0))
                rd_fail(r, "failed lookup with id or type");
            break;
        case SDV_BROKER_MSG_GET_RESULT:
            e->id = rd_u32(r, "id");
            e->status = rd_u16(r, "status");
            if (e->status == 0) {
                e->ts_us = (int64_t)rd_u64(r, "timestamp");
                rd_value(r, &e->value);
            }
            break;
        case SDV_BROKER_MSG_PUBLISH:
        case SDV_BROKER_MSG_EVENT:
            e->id = rd_u32(r, "id");
            if (r->err == SDV_OK && e->id == 0)
                rd_fail(r, "signal id 0");
            e->ts_us = (int64_t)rd_u64(r, "timestamp");
            rd_value_some(r, &e->value);
            break;
        case SDV_BROKER_MSG_SUBSCRIBED:
            e->id = rd_u32(r, "id");
            if (r->err == SDV_OK && e->id == 0)
                rd_fail(r, "signal id 0");
            break;
        default:
            break;
        }
    }
    r->entry = -1;
    m->n_entries = r->err == SDV_OK ? n : 0;
}

enum sdv_err sdv_broker_msg_parse(const struct sdv_broker_frame *f, struct sdv_broker_msg *m,
                                  struct sdv_broker_entry *entries, uint32_t entries_max,
                                  char *errmsg, size_t errmsg_len)
{
    struct rd r = {
            f->payload, f->len, 0, SDV_OK, errmsg, errmsg_len, sdv_broker_msg_type_name(f->type),
            -1};
    uint32_t n;

    if (errmsg != NULL && errmsg_len > 0)
        errmsg[0] = '\0';
    sdv_broker_msg_init(m, f->type, f->request_id);
    m->entries = entries;
    if (f->type < 1 || f->type > SDV_BROKER_MSG_TYPE_MAX) {
        rd_fail(&r, "unknown message type %u", (unsigned)f->type);
        return r.err;
    }
    if (f->len > SDV_BROKER_FRAME_PAYLOAD_MAX) {
        rd_fail(&r, "payload of %u bytes exceeds %u", (unsigned)f->len,
                SDV_BROKER_FRAME_PAYLOAD_MAX);
        return SDV_ETOOBIG;
    }
    switch (f->type) {
    case SDV_BROKER_MSG_HELLO:
        m->version = rd_u16(&r, "version");
        m->name = rd_str16(&r, "client name", SDV_BROKER_NAME_LEN_MAX, false);
        m->token = rd_str16(&r, "token", SDV_BROKER_TOKEN_LEN_MAX, false);
        break;
    case SDV_BROKER_MSG_HELLO_OK:
        m->version = rd_u16(&r, "version");
        m->payload_max = rd_u32(&r, "payload bound");
        m->name = rd_str16(&r, "broker name", SDV_BROKER_NAME_LEN_MAX, false);
        break;
    case SDV_BROKER_MSG_LOOKUP:
    case SDV_BROKER_MSG_GET:
    case SDV_BROKER_MSG_CLAIM:
        n = rd_count(&r, 1, entries_max);
        rd_entries(&r, m, n);
        break;
    case SDV_BROKER_MSG_ACTUATE:
        if (entries_max < 1) {
            rd_fail(&r, "no room for the entry");
            r.err = SDV_ETOOBIG;
            break;
        }
        m->actuation_id = rd_u64(&r, "actuation id");
        memset(&entries[0], 0, sizeof(entries[0]));
        entries[0].id = rd_u32(&r, "signal id");
        if (r.err == SDV_OK && entries[0].id == 0)
            rd_fail(&r, "signal id 0");
        rd_value_some(&r, &entries[0].value);
        m->n_entries = 1;
        break;
    case SDV_BROKER_MSG_LOOKUP_RESULT:
    case SDV_BROKER_MSG_GET_RESULT:
    case SDV_BROKER_MSG_PUBLISH:
        n = rd_count(&r, 0, entries_max);
        rd_entries(&r, m, n);
        break;
    case SDV_BROKER_MSG_SET:
        if (entries_max < 1) {
            rd_fail(&r, "no room for the entry");
            r.err = SDV_ETOOBIG;
            break;
        }
        memset(&entries[0], 0, sizeof(entries[0]));
        rd_ref(&r, &entries[0]);
        rd_value_some(&r, &entries[0].value);
        m->n_entries = 1;
        break;
    case SDV_BROKER_MSG_OK:
        break;
    case SDV_BROKER_MSG_ERROR:
        m->status = rd_u16(&r, "status");
        if (r.err == SDV_OK && m->status == 0)
            rd_fail(&r, "status 0 in an ERROR");
        m->signal_id = rd_u32(&r, "signal id");
        m->message = rd_str16(&r, "message", SDV_BROKER_MESSAGE_LEN_MAX, false);
        break;
    case SDV_BROKER_MSG_ACTUATE_REPLY:
        m->actuation_id = rd_u64(&r, "actuation id");
        m->status = rd_u16(&r, "status");
        m->message = rd_str16(&r, "message", SDV_BROKER_MESSAGE_LEN_MAX, false);
        break;
    case SDV_BROKER_MSG_SUBSCRIBE:
        rd_filter(&r, &m->filter);
        n = rd_count(&r, 1, entries_max);
        rd_entries(&r, m, n);
        break;
    case SDV_BROKER_MSG_SUBSCRIBED:
    case SDV_BROKER_MSG_EVENT:
        m->sub_id = rd_u32(&r, "subscription id");
        if (r.err == SDV_OK && m->sub_id == 0)
            rd_fail(&r, "subscription id 0");
        n = rd_count(&r, f->type == SDV_BROKER_MSG_SUBSCRIBED ? 1 : 0, entries_max);
        rd_entries(&r, m, n);
        break;
    case SDV_BROKER_MSG_UNSUBSCRIBE:
        m->sub_id = rd_u32(&r, "subscription id");
        if (r.err == SDV_OK && m->sub_id == 0)
            rd_fail(&r, "subscription id 0");
        break;
    case SDV_BROKER_MSG_VALUES_LOST:
        m->sub_id = rd_u32(&r, "subscription id");
        m->lost = rd_u32(&r, "lost count");
        if (r.err == SDV_OK && (m->sub_id == 0 || m->lost == 0))
            rd_fail(&r, "subscription id or lost count 0");
        break;
    case SDV_BROKER_MSG_AUTH:
        m->token = rd_str16(&r, "token", SDV_BROKER_TOKEN_LEN_MAX, true);
        break;
    case SDV_BROKER_MSG_SESSION_HANDLE:
        break;
    case SDV_BROKER_MSG_SESSION_HANDLE_OK:
    case SDV_BROKER_MSG_RENEW:
        if (rd_need(&r, sizeof(m->handle), "session handle")) {
            memcpy(m->handle, r.p + r.off, sizeof(m->handle));
            r.off += sizeof(m->handle);
        }
        if (f->type == SDV_BROKER_MSG_RENEW)
            m->token = rd_str16(&r, "token", SDV_BROKER_TOKEN_LEN_MAX, true);
        break;
    case SDV_BROKER_MSG_SUB_ENDED:
        m->sub_id = rd_u32(&r, "subscription id");
        if (r.err == SDV_OK && m->sub_id == 0)
            rd_fail(&r, "subscription id 0");
        m->status = rd_u16(&r, "status");
        if (r.err == SDV_OK && m->status == 0)
            rd_fail(&r, "status 0 in a SUB_ENDED");
        m->message = rd_str16(&r, "message", SDV_BROKER_MESSAGE_LEN_MAX, false);
        break;
    default:
        break;
    }
    if (r.err == SDV_OK && r.off != r.len)
        rd_fail(&r, "%zu trailing bytes", r.len - r.off);
    if (r.err != SDV_OK)
        m->n_entries = 0;
    return r.err;
}

/* ---- Batch builder ---------------------------------------------------------------------- */

enum sdv_err sdv_broker_batch_begin(struct sdv_broker_batch *b, struct sdv_buf *out, uint8_t type,
                                    uint32_t request_id, uint32_t sub_id)
{
    struct wr w = {out, SDV_OK, NULL, 0};

    if (type != SDV_BROKER_MSG_PUBLISH && type != SDV_BROKER_MSG_EVENT &&
        type != SDV_BROKER_MSG_GET_RESULT)
        return SDV_EINVAL;
    if (type == SDV_BROKER_MSG_EVENT && sub_id == 0)
        return SDV_EINVAL;
    b->out = out;
    b->start = out->len;
    b->type = type;
    b->n = 0;
    wr_header(&w, type, type == SDV_BROKER_MSG_EVENT ? 0 : request_id);
    if (type == SDV_BROKER_MSG_EVENT)
        wr_u32(&w, sub_id);
    b->count_at = out->len;
    wr_u16(&w, 0);
    if (w.err != SDV_OK)
        out->len = b->start;
    return w.err;
}

/* A value the batch builder may write without the general writer: a valid, in-range, finite
 * number or boolean. */
static bool scalar_fast(const struct sdv_broker_value *v)
{
    switch (v->type) {
    case SDV_BROKER_DT_BOOLEAN:
    case SDV_BROKER_DT_INT64:
    case SDV_BROKER_DT_UINT64:
        return true;
    case SDV_BROKER_DT_FLOAT:
        return isfinite(v->v.f);
    case SDV_BROKER_DT_DOUBLE:
        return isfinite(v->v.d);
    case SDV_BROKER_DT_INT8:
    case SDV_BROKER_DT_INT16:
    case SDV_BROKER_DT_INT32:
    case SDV_BROKER_DT_UINT8:
    case SDV_BROKER_DT_UINT16:
    case SDV_BROKER_DT_UINT32:
        return int_in_range(v);
    default:
        return false;
    }
}

enum sdv_err sdv_broker_batch_add(struct sdv_broker_batch *b, uint32_t id, uint16_t status,
                                  int64_t ts_us, const struct sdv_broker_value *value)
{
    struct wr w = {b->out, SDV_OK, NULL, 0};
    size_t before = b->out->len;

    if (b->n >= SDV_BROKER_BATCH_MAX)
        return SDV_ETOOBIG;
    if (id == 0 && b->type != SDV_BROKER_MSG_GET_RESULT)
        return SDV_EINVAL;
    if (b->type != SDV_BROKER_MSG_GET_RESULT && status != 0)
        return SDV_EINVAL;
    if (status == 0 && scalar_fast(value)) {
        /* Hot path (numbers and booleans): the entry is composed on the stack and appended
         * with one call. */
        uint8_t e[4 + 2 + 8 + 1 + 8], *q = e;
        uint64_t bits = 0;

        broker_put_u32(q, id);
        q += 4;
        if (b->type == SDV_BROKER_MSG_GET_RESULT) {
            broker_put_u16(q, 0);
            q += 2;
        }
        put_u64(q, (uint64_t)ts_us);
        q += 8;
        *q++ = (uint8_t)value->type;
        switch (value->type) {
        case SDV_BROKER_DT_BOOLEAN:
            bits = value->v.b ? 1 : 0;
            break;
        case SDV_BROKER_DT_FLOAT: {
            uint32_t f;

            memcpy(&f, &value->v.f, 4);
            bits = f;
            break;
        }
        case SDV_BROKER_DT_DOUBLE:
            memcpy(&bits, &value->v.d, 8);
            break;
        case SDV_BROKER_DT_UINT8:
        case SDV_BROKER_DT_UINT16:
        case SDV_BROKER_DT_UINT32:
        case SDV_BROKER_DT_UINT64:
            bits = value->v.u;
            break;
        default:
            bits = (uint64_t)value->v.i;
            break;
        }
        put_u64(q, bits); /* little-endian: the low elem_width bytes are the value */
        q += elem_width(value->type);
        if (b->out->len + (size_t)(q - e) - b->start - SDV_BROKER_HEADER_LEN >
            SDV_BROKER_FRAME_PAYLOAD_MAX)
            return SDV_ETOOBIG;
        w.err = sdv_buf_append(b->out, e, (size_t)(q - e));
        if (w.err == SDV_OK)
            b->n++;
        return w.err;
    }
    wr_u32(&w, id);
    if (b->type == SDV_BROKER_MSG_GET_RESULT)
        wr_u16(&w, status);
    if (status == 0) {
        wr_u64(&w, (uint64_t)ts_us);
        if (b->type == SDV_BROKER_MSG_GET_RESULT)
            wr_value(&w, value);
        else
            wr_value_some(&w, value);
    }
    if (w.err == SDV_OK &&
        b->out->len - b->start - SDV_BROKER_HEADER_LEN > SDV_BROKER_FRAME_PAYLOAD_MAX)
        w.err = SDV_ETOOBIG;
    if (w.err != SDV_OK) {
        b->out->len = before;
        return w.err;
    }
    b->n++;
    return SDV_OK;
}

void sdv_broker_batch_end(struct sdv_broker_batch *b)
{
    uint8_t *h = b->out->data + b->start;

    broker_put_u16(b->out->data + b->count_at, (uint16_t)b->n);
    broker_put_u32(h + 4, (uint32_t)(b->out->len - b->start - SDV_BROKER_HEADER_LEN));
}
