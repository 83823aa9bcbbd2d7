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
    struct sdv_frame_acc acc; /* the payload grows to the largest announced length */
    uint8_t type;
    uint32_t request_id;
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
    sdv_frame_acc_init(&d->acc, SDV_BROKER_HEADER_LEN);
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
    sdv_frame_acc_free(&d->acc);
    free(d);
}

void sdv_broker_decoder_reset(struct sdv_broker_decoder *d)
{
    sdv_frame_acc_next(&d->acc);
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

/* Validates a complete header h, records type and request id, and gives the payload length. */
static enum sdv_err check_header(struct sdv_broker_decoder *d, const uint8_t *h, uint32_t *len_out)
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
    *len_out = len;
    return SDV_OK;
}

static void emit(struct sdv_broker_decoder *d, const uint8_t *payload, uint32_t len,
                 struct sdv_broker_frame *frame, bool *complete)
{
    static const uint8_t empty[1];

    /* An empty payload assembled across feeds has no buffer: never hand out NULL. */
    if (payload == NULL)
        payload = empty;
    frame->type = d->type;
    frame->request_id = d->request_id;
    frame->payload = payload;
    frame->len = len;
    *complete = true;
    sdv_frame_acc_next(&d->acc);
}

enum sdv_err sdv_broker_decoder_feed(struct sdv_broker_decoder *d, const uint8_t *p, size_t len,
                                     size_t *consumed, struct sdv_broker_frame *frame,
                                     bool *complete)
{
    size_t used = 0;
    uint32_t plen = 0;
    enum sdv_err err = SDV_OK;

    *consumed = 0;
    *complete = false;
    if (d->failed != SDV_OK)
        return d->failed;
    /* Fast path: between frames with a whole frame in the input, return it in place. */
    if (d->acc.header_got == 0 && len >= SDV_BROKER_HEADER_LEN) {
        err = check_header(d, p, &plen);
        if (err != SDV_OK)
            return err;
        if (len - SDV_BROKER_HEADER_LEN >= plen) {
            *consumed = SDV_BROKER_HEADER_LEN + plen;
            emit(d, p + SDV_BROKER_HEADER_LEN, plen, frame, complete);
            return SDV_OK;
        }
        used = sdv_frame_acc_header(&d->acc, p, SDV_BROKER_HEADER_LEN);
    } else if (d->acc.header_got < SDV_BROKER_HEADER_LEN) {
        used = sdv_frame_acc_header(&d->acc, p, len);
        if (d->acc.header_got < SDV_BROKER_HEADER_LEN) {
            *consumed = used;
            return SDV_OK;
        }
        err = check_header(d, d->acc.header, &plen);
        if (err != SDV_OK) {
            *consumed = used;
            return err;
        }
    }
    /* A header completed by this feed announces its payload now. */
    if (used > 0 && sdv_frame_acc_expect(&d->acc, plen) != SDV_OK) {
        *consumed = used;
        return fail(d, SDV_ENOMEM, "out of memory for a %u-byte payload", (unsigned)plen);
    }
    used += sdv_frame_acc_payload(&d->acc, p + used, len - used);
    *consumed = used;
    if (d->acc.payload_got == d->acc.payload_len)
        emit(d, d->acc.payload, d->acc.payload_len, frame, complete);
    return SDV_OK;
}

enum sdv_err sdv_broker_decoder_finish(struct sdv_broker_decoder *d)
{
    if (d->failed != SDV_OK)
        return d->failed;
    if (d->acc.header_got > 0 && d->acc.header_got < SDV_BROKER_HEADER_LEN)
        return fail(d, SDV_EPARSE, "truncated frame header (%zu of %u bytes)", d->acc.header_got,
                    SDV_BROKER_HEADER_LEN);
    if (d->acc.header_got == SDV_BROKER_HEADER_LEN)
        return fail(d, SDV_EPARSE, "truncated %s payload (%u of %u bytes)",
                    sdv_broker_msg_type_name(d->type), (unsigned)d->acc.payload_got,
                    (unsigned)d->acc.payload_len);
    return SDV_OK;
}
