/*
 * common_frame.c - the byte-gathering half of the incremental frame decoders (ECU link, broker
 * protocol): header bytes up to a fixed size, then payload bytes up to the length the owner
 * validated. What a header means and which lengths are allowed stays with each protocol.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/common.h>

void sdv_frame_acc_init(struct sdv_frame_acc *a, size_t header_len)
{
    assert(header_len > 0 && header_len <= SDV_FRAME_HEADER_LEN_MAX);
    memset(a, 0, sizeof(*a));
    a->header_len = header_len;
}

void sdv_frame_acc_free(struct sdv_frame_acc *a)
{
    if (a == NULL)
        return;
    free(a->payload);
    a->payload = NULL;
    a->payload_cap = 0;
    sdv_frame_acc_next(a);
}

size_t sdv_frame_acc_header(struct sdv_frame_acc *a, const uint8_t *p, size_t len)
{
    size_t n = a->header_len - a->header_got;

    if (n > len)
        n = len;
    if (n > 0)
        memcpy(a->header + a->header_got, p, n);
    a->header_got += n;
    return n;
}

enum sdv_err sdv_frame_acc_expect(struct sdv_frame_acc *a, uint32_t payload_len)
{
    assert(a->header_got == a->header_len);
    if (payload_len > a->payload_cap) {
        uint8_t *np = realloc(a->payload, payload_len);

        if (np == NULL)
            return SDV_ENOMEM;
        a->payload = np;
        a->payload_cap = payload_len;
    }
    a->payload_len = payload_len;
    a->payload_got = 0;
    return SDV_OK;
}

size_t sdv_frame_acc_payload(struct sdv_frame_acc *a, const uint8_t *p, size_t len)
{
    size_t n = a->payload_len - a->payload_got;

    if (n > len)
        n = len;
    if (n > 0)
        memcpy(a->payload + a->payload_got, p, n);
    a->payload_got += (uint32_t)n;
    return n;
}

void sdv_frame_acc_next(struct sdv_frame_acc *a)
{
    a->header_got = 0;
    a->payload_len = 0;
    a->payload_got = 0;
}
