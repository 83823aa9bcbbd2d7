/*
 * ecu_link_decoder.c - the incremental frame decoder: bytes in any split, frames out. The
 * header is validated as soon as its 6 bytes are in (magic, version, type, length against the
 * type's bounds), before any payload byte is accepted, so a hostile length costs nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecu_link_int.h"

struct sdv_ecu_link_decoder {
    struct sdv_frame_acc acc; /* the payload grows to the largest announced length */
    unsigned type;
    uint32_t payload_len_max; /* a caller's lower bound for every type, or 0 */
    enum sdv_err failed;      /* sticky error */
    char errmsg[160];
};

enum sdv_err sdv_ecu_link_decoder_create(uint32_t payload_len_max,
                                         struct sdv_ecu_link_decoder **out)
{
    struct sdv_ecu_link_decoder *d = calloc(1, sizeof(*d));

    *out = NULL;
    if (d == NULL)
        return SDV_ENOMEM;
    sdv_frame_acc_init(&d->acc, SDV_ECU_LINK_HEADER_LEN);
    d->payload_len_max = payload_len_max;
    *out = d;
    return SDV_OK;
}

void sdv_ecu_link_decoder_destroy(struct sdv_ecu_link_decoder *d)
{
    if (d == NULL)
        return;
    sdv_frame_acc_free(&d->acc);
    free(d);
}

void sdv_ecu_link_decoder_reset(struct sdv_ecu_link_decoder *d)
{
    sdv_frame_acc_next(&d->acc);
    d->type = 0;
    d->failed = SDV_OK;
    d->errmsg[0] = '\0';
}

const char *sdv_ecu_link_decoder_errmsg(const struct sdv_ecu_link_decoder *d)
{
    return d->errmsg;
}

size_t sdv_ecu_link_decoder_want(const struct sdv_ecu_link_decoder *d)
{
    if (d->acc.header_got < SDV_ECU_LINK_HEADER_LEN)
        return SDV_ECU_LINK_HEADER_LEN - d->acc.header_got;
    /* > 0: an empty payload completes with its header */
    return d->acc.payload_len - d->acc.payload_got;
}

static enum sdv_err fail(struct sdv_ecu_link_decoder *d, enum sdv_err code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Makes the decoder fail for good, with a reason. */
static enum sdv_err fail(struct sdv_ecu_link_decoder *d, enum sdv_err code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
    va_end(ap);
    d->failed = code;
    return code;
}

/* Validates a complete header and prepares the payload buffer. */
static enum sdv_err header_done(struct sdv_ecu_link_decoder *d)
{
    uint32_t len = ecu_link_get_u32(d->acc.header + 2), max, min;
    unsigned magic = d->acc.header[0];

    if ((magic & 0xF0u) != (SDV_ECU_LINK_MAGIC_VERSION & 0xF0u))
        return fail(d, SDV_EPARSE, "bad magic byte 0x%02x (expected 0x%02x)", magic,
                    SDV_ECU_LINK_MAGIC_VERSION);
    if (magic != SDV_ECU_LINK_MAGIC_VERSION)
        return fail(d, SDV_EPARSE, "unsupported protocol version %u (this side speaks %u)",
                    magic & 0x0Fu, SDV_ECU_LINK_MAGIC_VERSION & 0x0Fu);
    d->type = d->acc.header[1];
    if (d->type == 0 || d->type > SDV_ECU_LINK_TYPE_MAX)
        return fail(d, SDV_EPARSE, "unknown message type %u", d->type);
    max = sdv_ecu_link_payload_len_max(d->type);
    min = ecu_link_payload_len_min(d->type);
    if (d->payload_len_max != 0 && d->payload_len_max < max)
        max = d->payload_len_max;
    if (len > max)
        return fail(d, SDV_ETOOBIG, "%s frame announces %u payload bytes, at most %u",
                    sdv_ecu_link_type_name(d->type), len, max);
    if (len < min)
        return fail(d, SDV_EPARSE, "%s frame announces %u payload bytes, at least %u",
                    sdv_ecu_link_type_name(d->type), len, min);
    if (sdv_frame_acc_expect(&d->acc, len) != SDV_OK)
        return fail(d, SDV_ENOMEM, "out of memory for a payload of %u bytes", len);
    return SDV_OK;
}

enum sdv_err sdv_ecu_link_decoder_feed(struct sdv_ecu_link_decoder *d, const uint8_t *p, size_t len,
                                       size_t *consumed, struct sdv_ecu_link_frame *frame,
                                       int *complete)
{
    size_t used = 0;
    enum sdv_err err = SDV_OK;

    *consumed = 0;
    *complete = 0;
    if (d->failed != SDV_OK)
        return d->failed;
    /* Stops right after one frame: the loop runs at most once per header or payload. */
    while (used < len) {
        if (d->acc.header_got < SDV_ECU_LINK_HEADER_LEN) {
            used += sdv_frame_acc_header(&d->acc, p + used, len - used);
            if (d->acc.header_got < SDV_ECU_LINK_HEADER_LEN)
                break;
            err = header_done(d);
            if (err != SDV_OK)
                break;
        }
        used += sdv_frame_acc_payload(&d->acc, p + used, len - used);
        if (d->acc.payload_got == d->acc.payload_len) {
            frame->type = d->type;
            frame->payload = d->acc.payload_len > 0 ? d->acc.payload : (const uint8_t *)"";
            frame->len = d->acc.payload_len;
            *complete = 1;
            sdv_frame_acc_next(&d->acc);
            break;
        }
    }
    *consumed = used;
    return err;
}

enum sdv_err sdv_ecu_link_decoder_finish(struct sdv_ecu_link_decoder *d)
{
    if (d->failed != SDV_OK)
        return d->failed;
    if (d->acc.header_got == 0)
        return SDV_OK;
    if (d->acc.header_got < SDV_ECU_LINK_HEADER_LEN)
        return fail(d, SDV_EPARSE,
                    "truncated frame: the stream ended after %u of %u header "
                    "bytes",
                    (unsigned)d->acc.header_got, SDV_ECU_LINK_HEADER_LEN);
    return fail(d, SDV_EPARSE,
                "truncated frame: the stream ended after %u of %u payload bytes "
                "of a %s frame",
                d->acc.payload_got, d->acc.payload_len, sdv_ecu_link_type_name(d->type));
}
