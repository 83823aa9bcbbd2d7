/*
 * ecu_link_msg.c - the messages of the ECU link: names, per-type payload bounds, and the
 * encoder and strict parser of each payload. The encoder applies the same rules as the parser,
 * so an honest peer never sends a frame the other side refuses.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ecu_link_int.h"

/* Payload layout sizes: a type/mode/repo byte, a string length, a 64-bit length, a status. */
#define U8_LEN      1u
#define STR_LEN_LEN 2u
#define U64_LEN     8u
#define U32_LEN     4u

enum sdv_err ecu_link_fail(char *errmsg, size_t errmsg_len, enum sdv_err code, const char *fmt, ...)
{
    va_list ap;

    if (errmsg != NULL && errmsg_len > 0) {
        va_start(ap, fmt);
        vsnprintf(errmsg, errmsg_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

uint32_t ecu_link_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void ecu_link_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

const char *sdv_ecu_link_type_name(unsigned type)
{
    static const char *const names[SDV_ECU_LINK_TYPE_MAX + 1] = {NULL,
                                                                 "HELLO",
                                                                 "INFO",
                                                                 "METADATA",
                                                                 "IMAGE_BEGIN",
                                                                 "IMAGE_DATA",
                                                                 "IMAGE_END",
                                                                 "INSTALL",
                                                                 "VERSION_REPORT_REQUEST",
                                                                 "VERSION_REPORT",
                                                                 "RESULT"};

    if (type == 0 || type > SDV_ECU_LINK_TYPE_MAX)
        return "UNKNOWN";
    return names[type];
}

const char *sdv_ecu_link_repo_name(enum sdv_ecu_link_repo repo)
{
    switch (repo) {
    case SDV_ECU_LINK_REPO_DIRECTOR:
        return "director";
    case SDV_ECU_LINK_REPO_IMAGE:
        return "image";
    }
    return "unknown";
}

const char *sdv_ecu_link_mode_name(enum sdv_ecu_link_mode mode)
{
    switch (mode) {
    case SDV_ECU_LINK_MODE_PARTIAL:
        return "partial";
    case SDV_ECU_LINK_MODE_FULL:
        return "full";
    }
    return "unknown";
}

uint32_t sdv_ecu_link_payload_len_max(unsigned type)
{
    switch (type) {
    case SDV_ECU_LINK_INFO:
        return U8_LEN + 2 * (STR_LEN_LEN + SDV_UPTANE_ID_LEN_MAX) + SDV_ECU_LINK_KEY_JSON_LEN_MAX;
    case SDV_ECU_LINK_METADATA:
        return U8_LEN + STR_LEN_LEN + SDV_ECU_LINK_FILE_NAME_LEN_MAX +
               SDV_ECU_LINK_METADATA_LEN_MAX;
    case SDV_ECU_LINK_IMAGE_BEGIN:
        return U64_LEN + STR_LEN_LEN + SDV_TUF_NAME_LEN_MAX;
    case SDV_ECU_LINK_IMAGE_DATA:
        return SDV_ECU_LINK_CHUNK_LEN_MAX;
    case SDV_ECU_LINK_INSTALL:
        return STR_LEN_LEN + SDV_TUF_NAME_LEN_MAX;
    case SDV_ECU_LINK_VERSION_REPORT:
        return SDV_ECU_LINK_REPORT_LEN_MAX;
    case SDV_ECU_LINK_RESULT:
        return U32_LEN + SDV_ECU_LINK_TEXT_LEN_MAX;
    default: /* HELLO, IMAGE_END, VERSION_REPORT_REQUEST are empty; unknown types carry nothing */
        return 0;
    }
}

uint32_t ecu_link_payload_len_min(unsigned type)
{
    switch (type) {
    case SDV_ECU_LINK_INFO:
        return U8_LEN + 2 * (STR_LEN_LEN + 1) + 1;
    case SDV_ECU_LINK_METADATA:
        return U8_LEN + STR_LEN_LEN + 1 + 1;
    case SDV_ECU_LINK_IMAGE_BEGIN:
        return U64_LEN + STR_LEN_LEN + 1;
    case SDV_ECU_LINK_INSTALL:
        return STR_LEN_LEN + 1;
    case SDV_ECU_LINK_IMAGE_DATA:
    case SDV_ECU_LINK_VERSION_REPORT:
        return 1;
    case SDV_ECU_LINK_RESULT:
        return U32_LEN;
    default:
        return 0;
    }
}

void sdv_ecu_link_msg_init(struct sdv_ecu_link_msg *m, enum sdv_ecu_link_type type)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
}

/* ---- Field rules, shared by the encoder and the parser ---------------------------------- */

/* A name: 1..len_max bytes without NUL. A file name also has no '/' and is not "." or "..". */
static const char *name_problem(const uint8_t *s, size_t len, size_t len_max, int file_name)
{
    if (len == 0)
        return "is empty";
    if (len > len_max)
        return "is too long";
    if (memchr(s, '\0', len) != NULL)
        return "contains a NUL byte";
    if (file_name) {
        if (memchr(s, '/', len) != NULL)
            return "contains '/'";
        if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return "is \".\" or \"..\"";
    }
    return NULL;
}

static int mode_ok(unsigned mode)
{
    return mode == SDV_ECU_LINK_MODE_PARTIAL || mode == SDV_ECU_LINK_MODE_FULL;
}

static int repo_ok(unsigned repo)
{
    return repo == SDV_ECU_LINK_REPO_DIRECTOR || repo == SDV_ECU_LINK_REPO_IMAGE;
}

/* ---- Encoder ---------------------------------------------------------------------------- */

/* Appends to a buffer and keeps the first error, so a payload is written as a list of fields. */
struct wr {
    struct sdv_buf *b;
    enum sdv_err err;
};

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
    if (w->err == SDV_OK && n > 0)
        w->err = sdv_buf_append(w->b, p, n);
}

static void wr_u8(struct wr *w, unsigned v)
{
    uint8_t b = (uint8_t)v;

    wr_bytes(w, &b, 1);
}

static void wr_u32(struct wr *w, uint32_t v)
{
    uint8_t b[U32_LEN];

    ecu_link_put_u32(b, v);
    wr_bytes(w, b, sizeof(b));
}

static void wr_u64(struct wr *w, uint64_t v)
{
    wr_u32(w, (uint32_t)(v >> 32));
    wr_u32(w, (uint32_t)v);
}

static void wr_str(struct wr *w, const char *s, size_t n)
{
    uint8_t b[STR_LEN_LEN] = {(uint8_t)(n >> 8), (uint8_t)n};

    wr_bytes(w, b, sizeof(b));
    wr_bytes(w, s, n);
}

/* Checks one string field of m for encoding and returns its length, or a failure. */
static enum sdv_err check_name(const char *field, const char *s, size_t len_max, int file_name,
                               size_t *len, char *errmsg, size_t errmsg_len)
{
    const char *problem;

    *len = strnlen(s, len_max + 1);
    problem = name_problem((const uint8_t *)s, *len, len_max, file_name);
    if (problem != NULL)
        return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "%s %s (at most %zu bytes)", field,
                             problem, len_max);
    return SDV_OK;
}

static enum sdv_err check_data(const struct sdv_ecu_link_msg *m, size_t len_min, size_t len_max,
                               char *errmsg, size_t errmsg_len)
{
    if (m->data == NULL && m->data_len > 0)
        return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "%s: data is NULL",
                             sdv_ecu_link_type_name(m->type));
    if (m->data_len < len_min || m->data_len > len_max)
        return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL,
                             "%s: %zu data bytes, allowed %zu to %zu",
                             sdv_ecu_link_type_name(m->type), m->data_len, len_min, len_max);
    return SDV_OK;
}

enum sdv_err sdv_ecu_link_encode(const struct sdv_ecu_link_msg *m, struct sdv_buf *out,
                                 char *errmsg, size_t errmsg_len)
{
    size_t serial_len = 0, hwid_len = 0, name_len = 0, text_len = 0, payload_len = 0;
    size_t start;
    struct wr w;
    enum sdv_err err = SDV_OK;

    if (m == NULL || out == NULL)
        return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "no message or no output");
    switch (m->type) {
    case SDV_ECU_LINK_HELLO:
    case SDV_ECU_LINK_IMAGE_END:
    case SDV_ECU_LINK_VERSION_REPORT_REQUEST:
        break;
    case SDV_ECU_LINK_INFO:
        if (!mode_ok(m->mode))
            return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "INFO: unknown mode %u",
                                 (unsigned)m->mode);
        err = check_name("INFO: serial", m->serial, SDV_UPTANE_ID_LEN_MAX, 0, &serial_len, errmsg,
                         errmsg_len);
        if (err == SDV_OK)
            err = check_name("INFO: hardware id", m->hardware_id, SDV_UPTANE_ID_LEN_MAX, 0,
                             &hwid_len, errmsg, errmsg_len);
        if (err == SDV_OK)
            err = check_data(m, 1, SDV_ECU_LINK_KEY_JSON_LEN_MAX, errmsg, errmsg_len);
        payload_len = U8_LEN + STR_LEN_LEN + serial_len + STR_LEN_LEN + hwid_len + m->data_len;
        break;
    case SDV_ECU_LINK_METADATA:
        if (!repo_ok(m->repo))
            return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "METADATA: unknown repository %u",
                                 (unsigned)m->repo);
        err = check_name("METADATA: file name", m->name, SDV_ECU_LINK_FILE_NAME_LEN_MAX, 1,
                         &name_len, errmsg, errmsg_len);
        if (err == SDV_OK)
            err = check_data(m, 1, SDV_ECU_LINK_METADATA_LEN_MAX, errmsg, errmsg_len);
        payload_len = U8_LEN + STR_LEN_LEN + name_len + m->data_len;
        break;
    case SDV_ECU_LINK_IMAGE_BEGIN:
    case SDV_ECU_LINK_INSTALL:
        err = check_name("target name", m->name, SDV_TUF_NAME_LEN_MAX, 0, &name_len, errmsg,
                         errmsg_len);
        payload_len = (m->type == SDV_ECU_LINK_IMAGE_BEGIN ? U64_LEN : 0) + STR_LEN_LEN + name_len;
        break;
    case SDV_ECU_LINK_IMAGE_DATA:
        err = check_data(m, 1, SDV_ECU_LINK_CHUNK_LEN_MAX, errmsg, errmsg_len);
        payload_len = m->data_len;
        break;
    case SDV_ECU_LINK_VERSION_REPORT:
        err = check_data(m, 1, SDV_ECU_LINK_REPORT_LEN_MAX, errmsg, errmsg_len);
        payload_len = m->data_len;
        break;
    case SDV_ECU_LINK_RESULT:
        text_len = strnlen(m->text, sizeof(m->text));
        if (text_len > SDV_ECU_LINK_TEXT_LEN_MAX)
            return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "RESULT: text too long");
        payload_len = U32_LEN + text_len;
        break;
    default:
        return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "unknown message type %u",
                             (unsigned)m->type);
    }
    if (err != SDV_OK)
        return err;
    assert(payload_len <= sdv_ecu_link_payload_len_max(m->type));
    assert(payload_len >= ecu_link_payload_len_min(m->type));
    /* Fail before writing anything when the whole frame cannot fit. */
    if (out->max - out->len < SDV_ECU_LINK_HEADER_LEN + payload_len)
        return ecu_link_fail(errmsg, errmsg_len, SDV_ETOOBIG,
                             "a %s frame of %zu bytes does not fit in the buffer",
                             sdv_ecu_link_type_name(m->type),
                             SDV_ECU_LINK_HEADER_LEN + payload_len);

    start = out->len;
    w.b = out;
    w.err = SDV_OK;
    wr_u8(&w, SDV_ECU_LINK_MAGIC_VERSION);
    wr_u8(&w, m->type);
    wr_u32(&w, (uint32_t)payload_len);
    switch (m->type) {
    case SDV_ECU_LINK_INFO:
        wr_u8(&w, m->mode);
        wr_str(&w, m->serial, serial_len);
        wr_str(&w, m->hardware_id, hwid_len);
        wr_bytes(&w, m->data, m->data_len);
        break;
    case SDV_ECU_LINK_METADATA:
        wr_u8(&w, m->repo);
        wr_str(&w, m->name, name_len);
        wr_bytes(&w, m->data, m->data_len);
        break;
    case SDV_ECU_LINK_IMAGE_BEGIN:
        wr_u64(&w, m->length);
        wr_str(&w, m->name, name_len);
        break;
    case SDV_ECU_LINK_INSTALL:
        wr_str(&w, m->name, name_len);
        break;
    case SDV_ECU_LINK_IMAGE_DATA:
    case SDV_ECU_LINK_VERSION_REPORT:
        wr_bytes(&w, m->data, m->data_len);
        break;
    case SDV_ECU_LINK_RESULT:
        wr_u32(&w, m->status);
        wr_bytes(&w, m->text, text_len);
        break;
    default:
        break;
    }
    if (w.err != SDV_OK) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return ecu_link_fail(errmsg, errmsg_len, w.err, "cannot append a %s frame: %s",
                             sdv_ecu_link_type_name(m->type), sdv_strerror(w.err));
    }
    assert(out->len - start == SDV_ECU_LINK_HEADER_LEN + payload_len);
    return SDV_OK;
}

/* ---- Parser ----------------------------------------------------------------------------- */

/* Reads fields from a payload; the first failure is kept and later reads do nothing. */
struct rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    const char *type_name;
    char *errmsg;
    size_t errmsg_len;
    enum sdv_err err;
};

/* Records "<TYPE>: <field> <problem>" as the first failure. */
static void rd_fail(struct rd *r, const char *field, const char *problem)
{
    if (r->err != SDV_OK)
        return;
    r->err = ecu_link_fail(r->errmsg, r->errmsg_len, SDV_EPARSE, "%s: %s %s", r->type_name, field,
                           problem);
}

static int rd_need(struct rd *r, size_t n, const char *field)
{
    if (r->err != SDV_OK)
        return 0;
    if (r->len - r->off < n) {
        rd_fail(r, field, "is cut off by the end of the payload");
        return 0;
    }
    return 1;
}

static unsigned rd_u8(struct rd *r, const char *field)
{
    if (!rd_need(r, U8_LEN, field))
        return 0;
    return r->p[r->off++];
}

static uint64_t rd_u64(struct rd *r, const char *field)
{
    uint64_t v;

    if (!rd_need(r, U64_LEN, field))
        return 0;
    v = (uint64_t)ecu_link_get_u32(r->p + r->off) << 32 | ecu_link_get_u32(r->p + r->off + 4);
    r->off += U64_LEN;
    return v;
}

/* A string field: 2-byte length, then 1..len_max bytes checked by name_problem, copied with a
 * NUL into out (len_max + 1 bytes). */
static void rd_str(struct rd *r, const char *field, size_t len_max, int file_name, char *out)
{
    const char *problem;
    size_t n;

    out[0] = '\0';
    if (!rd_need(r, STR_LEN_LEN, field))
        return;
    n = (size_t)r->p[r->off] << 8 | r->p[r->off + 1];
    r->off += STR_LEN_LEN;
    if (!rd_need(r, n, field))
        return;
    problem = name_problem(r->p + r->off, n, len_max, file_name);
    if (problem != NULL) {
        rd_fail(r, field, problem);
        return;
    }
    memcpy(out, r->p + r->off, n);
    out[n] = '\0';
    r->off += n;
}

/* The rest of the payload as borrowed data, len_min..len_max bytes. */
static void rd_rest(struct rd *r, const char *field, size_t len_min, size_t len_max,
                    struct sdv_ecu_link_msg *out)
{
    size_t n = r->len - r->off;

    if (r->err != SDV_OK)
        return;
    if (n < len_min || n > len_max) {
        rd_fail(r, field, n < len_min ? "is too short" : "is too long");
        return;
    }
    out->data = r->p + r->off;
    out->data_len = n;
    r->off += n;
}

enum sdv_err sdv_ecu_link_parse(unsigned type, const uint8_t *payload, size_t len,
                                struct sdv_ecu_link_msg *out, char *errmsg, size_t errmsg_len)
{
    struct rd r = {payload, len, 0, sdv_ecu_link_type_name(type), errmsg, errmsg_len, SDV_OK};
    unsigned v;

    if (out == NULL || (payload == NULL && len > 0))
        return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "no payload or no output");
    sdv_ecu_link_msg_init(out, (enum sdv_ecu_link_type)type);
    if (type == 0 || type > SDV_ECU_LINK_TYPE_MAX)
        return ecu_link_fail(errmsg, errmsg_len, SDV_EPARSE, "unknown message type %u", type);
    if (len > sdv_ecu_link_payload_len_max(type) || len < ecu_link_payload_len_min(type))
        return ecu_link_fail(errmsg, errmsg_len, SDV_EPARSE,
                             "%s: payload of %zu bytes, allowed %u to %u", r.type_name, len,
                             (unsigned)ecu_link_payload_len_min(type),
                             (unsigned)sdv_ecu_link_payload_len_max(type));
    switch (type) {
    case SDV_ECU_LINK_INFO:
        v = rd_u8(&r, "mode");
        if (r.err == SDV_OK && !mode_ok(v))
            rd_fail(&r, "mode", "is unknown");
        out->mode = (enum sdv_ecu_link_mode)v;
        rd_str(&r, "serial", SDV_UPTANE_ID_LEN_MAX, 0, out->serial);
        rd_str(&r, "hardware id", SDV_UPTANE_ID_LEN_MAX, 0, out->hardware_id);
        rd_rest(&r, "public key", 1, SDV_ECU_LINK_KEY_JSON_LEN_MAX, out);
        break;
    case SDV_ECU_LINK_METADATA:
        v = rd_u8(&r, "repository");
        if (r.err == SDV_OK && !repo_ok(v))
            rd_fail(&r, "repository", "is unknown");
        out->repo = (enum sdv_ecu_link_repo)v;
        rd_str(&r, "file name", SDV_ECU_LINK_FILE_NAME_LEN_MAX, 1, out->name);
        rd_rest(&r, "file", 1, SDV_ECU_LINK_METADATA_LEN_MAX, out);
        break;
    case SDV_ECU_LINK_IMAGE_BEGIN:
        out->length = rd_u64(&r, "length");
        rd_str(&r, "target name", SDV_TUF_NAME_LEN_MAX, 0, out->name);
        break;
    case SDV_ECU_LINK_INSTALL:
        rd_str(&r, "target name", SDV_TUF_NAME_LEN_MAX, 0, out->name);
        break;
    case SDV_ECU_LINK_IMAGE_DATA:
        rd_rest(&r, "chunk", 1, SDV_ECU_LINK_CHUNK_LEN_MAX, out);
        break;
    case SDV_ECU_LINK_VERSION_REPORT:
        rd_rest(&r, "report", 1, SDV_ECU_LINK_REPORT_LEN_MAX, out);
        break;
    case SDV_ECU_LINK_RESULT:
        if (rd_need(&r, U32_LEN, "status")) {
            out->status = ecu_link_get_u32(payload + r.off);
            r.off += U32_LEN;
        }
        if (r.err == SDV_OK && memchr(payload + r.off, '\0', len - r.off) != NULL)
            rd_fail(&r, "text", "contains a NUL byte");
        if (r.err == SDV_OK) {
            memcpy(out->text, payload + r.off, len - r.off);
            out->text[len - r.off] = '\0';
            r.off = len;
        }
        break;
    default: /* the empty messages: the length check above was all */
        break;
    }
    if (r.err == SDV_OK && r.off != len)
        rd_fail(&r, "payload", "has trailing bytes");
    if (r.err != SDV_OK) {
        out->data = NULL;
        out->data_len = 0;
    }
    return r.err;
}
