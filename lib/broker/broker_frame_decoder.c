/*
 * broker_frame_decoder.c - the incremental frame decoder of the binary broker protocol: bytes
 * in any split, frames out. The 12-byte header is validated as soon as it is complete (magic,
 * version, type, flags, length against the bound) before any payload byte is accepted, so a
 * hostile length costs nothing. A frame that arrives whole in one feed is returned in place
 * (the common case on a Unix socket read of many frames), so the hot path copies nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_proto_int.h"

struct sdv_broker_decoder {
    uint8_t header[SDV_BROKER_HEADER_LEN];
    size_t header_got;
    uint8_t type;
    uint32_t request_id;
    uint32_t payload_len; /* announced by the validated header */
    uint32_t payload_got;
    uint8_t *payload; /* grows to the largest announced length, never past the bound */
    uint32_t payload_cap;
    uint32_t payload_max;
    enum sdv_err failed; /* sticky error */
    char errmsg[160];
};

enum sdv_err sdv_broker_decoder_create(uint32_t payload_max, struct sdv_broker_decoder **out)
{
    struct sdv_broker_decoder *d = calloc(1, sizeof(*d));

    *out = NULL;
    if (d == NULL)
        return SDV_ENOMEM;
    d->payload_max = payload_max == 0 || payload_max > SDV_BROKER_FRAME_PAYLOAD_MAX
                             ? SDV_BROKER_FRAME_PAYLOAD_MAX
                             : payload_max;
    *out = d;
    return SDV_OK;
}

void sdv_broker_decoder_destroy(struct sdv_broker_decoder *d)
{
    if (d == NULL)
        return;
    free(d->payload);
    free(d);
}

void sdv_broker_decoder_reset(struct sdv_broker_decoder *d)
{
    d->header_got = 0;
    d->payload_len = 0;
    d->payload_got = 0;
    d->failed = SDV_OK;
    d->errmsg[0] = '\0';
}

const char *sdv_broker_decoder_errmsg(const struct sdv_broker_decoder *d)
{
    return d->errmsg;
}

static enum sdv_err fail(struct sdv_broker_decoder *d, enum sdv_err code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Makes the decoder fail for good, with a reason. */
static enum sdv_err fail(struct sdv_broker_decoder *d, enum sdv_err code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
    va_end(ap);
    d->failed = code;
    return code;
}

/* Validates a complete header h and records type, request id and length. */
static enum sdv_err check_header(struct sdv_broker_decoder *d, const uint8_t *h)
{
    uint32_t len = broker_get_u32(h + 4);
    uint16_t flags = broker_get_u16(h + 2);

    if (h[0] >> 4 != SDV_BROKER_PROTO_MAGIC >> 4)
        return fail(d, SDV_EPARSE, "frame header: bad magic byte 0x%02x (expected 0x%02x)",
                    (unsigned)h[0], SDV_BROKER_PROTO_MAGIC);
    if (h[0] != SDV_BROKER_PROTO_MAGIC)
        return fail(d, SDV_EPARSE, "frame header: unsupported protocol version %u (expected %u)",
                    (unsigned)(h[0] & 0x0Fu), SDV_BROKER_PROTO_VERSION);
    if (h[1] < 1 || h[1] > SDV_BROKER_MSG_TYPE_MAX)
        return fail(d, SDV_EPARSE, "frame header: unknown message type %u", (unsigned)h[1]);
    if (flags != 0)
        return fail(d, SDV_EPARSE, "frame header: reserved flags 0x%04x are not 0",
                    (unsigned)flags);
    if (len > d->payload_max)
        return fail(d, SDV_ETOOBIG, "frame header: %s payload of %u bytes exceeds %u",
                    sdv_broker_msg_type_name(h[1]), (unsigned)len, (unsigned)d->payload_max);
    d->type = h[1];
    d->request_id = broker_get_u32(h + 8);
    d->payload_len = len;
    d->payload_got = 0;
    return SDV_OK;
}

static void emit(struct sdv_broker_decoder *d, const uint8_t *payload,
                 struct sdv_broker_frame *frame, bool *complete)
{
    static const uint8_t empty[1];

    /* An empty payload assembled across feeds has no buffer: never hand out NULL. */
    if (payload == NULL)
        payload = empty;
    frame->type = d->type;
    frame->request_id = d->request_id;
    frame->payload = payload;
    frame->len = d->payload_len;
    *complete = true;
    d->header_got = 0;
    d->payload_len = 0;
    d->payload_got = 0;
}

enum sdv_err sdv_broker_decoder_feed(struct sdv_broker_decoder *d, const uint8_t *p, size_t len,
                                     size_t *consumed, struct sdv_broker_frame *frame,
                                     bool *complete)
{
    size_t used = 0;
    enum sdv_err err;

    *consumed = 0;
    *complete = false;
    if (d->failed != SDV_OK)
        return d->failed;
    /* Fast path: between frames with a whole frame in the input, return it in place. */
    if (d->header_got == 0 && len >= SDV_BROKER_HEADER_LEN) {
        err = check_header(d, p);
        if (err != SDV_OK)
            return err;
        if (len - SDV_BROKER_HEADER_LEN >= d->payload_len) {
            *consumed = SDV_BROKER_HEADER_LEN + d->payload_len;
            emit(d, p + SDV_BROKER_HEADER_LEN, frame, complete);
            return SDV_OK;
        }
        memcpy(d->header, p, SDV_BROKER_HEADER_LEN);
        d->header_got = SDV_BROKER_HEADER_LEN;
        used = SDV_BROKER_HEADER_LEN;
    }
    if (d->header_got < SDV_BROKER_HEADER_LEN) {
        size_t n = SDV_BROKER_HEADER_LEN - d->header_got;

        if (n > len - used)
            n = len - used;
        if (n > 0)
            memcpy(d->header + d->header_got, p + used, n);
        d->header_got += n;
        used += n;
        if (d->header_got < SDV_BROKER_HEADER_LEN) {
            *consumed = used;
            return SDV_OK;
        }
        err = check_header(d, d->header);
        if (err != SDV_OK) {
            *consumed = used;
            return err;
        }
    }
    if (d->payload_len > d->payload_cap) {
        uint8_t *np = realloc(d->payload, d->payload_len);

        if (np == NULL) {
            *consumed = used;
            return fail(d, SDV_ENOMEM, "out of memory for a %u-byte payload",
                        (unsigned)d->payload_len);
        }
        d->payload = np;
        d->payload_cap = d->payload_len;
    }
    {
        size_t n = d->payload_len - d->payload_got;

        if (n > len - used)
            n = len - used;
        if (n > 0)
            memcpy(d->payload + d->payload_got, p + used, n);
        d->payload_got += (uint32_t)n;
        used += n;
    }
    *consumed = used;
    if (d->payload_got == d->payload_len)
        emit(d, d->payload, frame, complete);
    return SDV_OK;
}

enum sdv_err sdv_broker_decoder_finish(struct sdv_broker_decoder *d)
{
    if (d->failed != SDV_OK)
        return d->failed;
    if (d->header_got > 0 && d->header_got < SDV_BROKER_HEADER_LEN)
        return fail(d, SDV_EPARSE, "truncated frame header (%zu of %u bytes)", d->header_got,
                    SDV_BROKER_HEADER_LEN);
    if (d->header_got == SDV_BROKER_HEADER_LEN)
        return fail(d, SDV_EPARSE, "truncated %s payload (%u of %u bytes)",
                    sdv_broker_msg_type_name(d->type), (unsigned)d->payload_got,
                    (unsigned)d->payload_len);
    return SDV_OK;
}
