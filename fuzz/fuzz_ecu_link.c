/*
 * fuzz_ecu_link.c - feeds untrusted bytes to the ECU link decoder and parser (what a secondary
 * reads from a possibly compromised primary, and the other way round). The first input byte
 * picks how the rest is split into feeds, so frames arrive cut at every place.
 *
 * Checked properties: the decoder consumes at least one byte per feed until it fails or the
 * input ends; no frame exceeds its type's bound; a frame that parses re-encodes to exactly the
 * bytes it came from (the encoding is canonical); after a failure the decoder stays failed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/ecu_link.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Payloads above 1 MiB are refused here so that each input stays cheap; the bound logic is the
 * same for every limit. */
#define FUZZ_PAYLOAD_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdv_ecu_link_decoder *d = NULL;
    struct sdv_buf again;
    size_t step, off = 1;

    if (size == 0)
        return 0;
    step = (size_t)data[0] % 17u + 1u; /* 1..17 bytes per feed, or all at once when 17 */
    if (sdv_ecu_link_decoder_create(FUZZ_PAYLOAD_MAX, &d) != SDV_OK)
        abort();
    sdv_buf_init(&again, SDV_ECU_LINK_HEADER_LEN + FUZZ_PAYLOAD_MAX);
    while (off < size) {
        size_t n = step == 17u ? size - off : (size - off < step ? size - off : step), used = 0;
        struct sdv_ecu_link_frame f;
        struct sdv_ecu_link_msg m;
        int complete = 0;
        enum sdv_err err = sdv_ecu_link_decoder_feed(d, data + off, n, &used, &f, &complete);

        if (err != SDV_OK) {
            uint8_t b = 0;

            if (sdv_ecu_link_decoder_errmsg(d)[0] == '\0' ||
                sdv_ecu_link_decoder_feed(d, &b, 1, &used, &f, &complete) != err)
                abort();
            break;
        }
        if (used == 0 || used > n)
            abort();
        off += used;
        if (!complete)
            continue;
        if (f.type == 0 || f.type > SDV_ECU_LINK_TYPE_MAX ||
            f.len > sdv_ecu_link_payload_len_max(f.type))
            abort();
        if (sdv_ecu_link_parse(f.type, f.payload, f.len, &m, NULL, 0) != SDV_OK)
            continue;
        sdv_buf_reset(&again);
        if (sdv_ecu_link_encode(&m, &again, NULL, 0) != SDV_OK ||
            again.len != SDV_ECU_LINK_HEADER_LEN + f.len ||
            memcmp(again.data + SDV_ECU_LINK_HEADER_LEN, f.payload, f.len) != 0 ||
            again.data[1] != f.type)
            abort();
    }
    if (off >= size)
        (void)sdv_ecu_link_decoder_finish(d);
    sdv_buf_free(&again);
    sdv_ecu_link_decoder_destroy(d);
    return 0;
}
