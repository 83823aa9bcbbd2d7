/*
 * fuzz_broker_frame.c - feeds untrusted bytes to the broker's frame decoder and message parser
 * (what sdv-broker reads from any local client, and a client from the broker). The first input
 * byte picks how the rest is split into feeds, so frames arrive cut at every place.
 *
 * Checked properties: the decoder takes at least one byte per feed until it fails or the input
 * ends; no frame exceeds the payload bound; a frame that parses re-encodes to exactly the bytes
 * it came from (the encoding is canonical, so the encoder accepts all the parser accepts);
 * after a failure the decoder stays failed with a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/broker_proto.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sdv_broker_entry entries[SDV_BROKER_BATCH_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdv_broker_decoder *d = NULL;
    struct sdv_buf again;
    size_t step, off = 1;

    if (size == 0)
        return 0;
    step = (size_t)data[0] % 17u + 1u; /* 1..17 bytes per feed, or all at once when 17 */
    if (sdv_broker_decoder_create(0, &d) != SDV_OK)
        abort();
    sdv_buf_init(&again, SDV_BROKER_HEADER_LEN + SDV_BROKER_FRAME_PAYLOAD_MAX);
    while (off < size) {
        size_t n = step == 17u ? size - off : (size - off < step ? size - off : step), used = 0;
        struct sdv_broker_frame f;
        struct sdv_broker_msg m;
        bool complete = false;
        char err[256];
        enum sdv_err rc = sdv_broker_decoder_feed(d, data + off, n, &used, &f, &complete);

        if (rc != SDV_OK) {
            uint8_t b = 0;

            if (sdv_broker_decoder_errmsg(d)[0] == '\0' ||
                sdv_broker_decoder_feed(d, &b, 1, &used, &f, &complete) != rc)
                abort();
            break;
        }
        if (used == 0 || used > n)
            abort();
        off += used;
        if (!complete)
            continue;
        if (f.type == 0 || f.type > SDV_BROKER_MSG_TYPE_MAX || f.len > SDV_BROKER_FRAME_PAYLOAD_MAX)
            abort();
        rc = sdv_broker_msg_parse(&f, &m, entries, SDV_BROKER_BATCH_MAX, err, sizeof(err));
        if (rc != SDV_OK) {
            if (err[0] == '\0')
                abort();
            continue;
        }
        sdv_buf_reset(&again);
        if (sdv_broker_msg_encode(&m, &again, err, sizeof(err)) != SDV_OK ||
            again.len != SDV_BROKER_HEADER_LEN + f.len || again.data[1] != f.type ||
            (f.len > 0 && memcmp(again.data + SDV_BROKER_HEADER_LEN, f.payload, f.len) != 0))
            abort();
    }
    if (off >= size)
        (void)sdv_broker_decoder_finish(d);
    sdv_buf_free(&again);
    sdv_broker_decoder_destroy(d);
    return 0;
}
