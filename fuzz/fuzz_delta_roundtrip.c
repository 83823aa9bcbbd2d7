/*
 * fuzz_delta_roundtrip.c - the delta codec must reproduce its input: the first two bytes choose
 * where the rest splits into OLD and NEW (and the block length, from 256 bytes up, so inputs
 * cross block boundaries), the encoder makes a patch at a fast level, and the decoder, fed in
 * pieces whose size the third byte chooses, must write exactly NEW and accept it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/delta.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_img {
    const uint8_t *p;
    size_t len;
};

static enum sdv_err img_read(void *ud, uint64_t off, void *buf, size_t len)
{
    const struct fuzz_img *m = ud;

    if (off > m->len || len > m->len - off)
        abort();
    memcpy(buf, m->p + off, len);
    return SDV_OK;
}

static enum sdv_err buf_sink(void *ud, const void *data, size_t len)
{
    return sdv_buf_append(ud, data, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdv_delta_encode_opts opts;
    struct sdv_delta_decoder *dec = NULL;
    struct sdv_buf patch, out;
    struct fuzz_img old;
    size_t split, step, off = 0, new_len;
    const uint8_t *new_data;

    if (size < 3)
        return 0;
    split = ((size_t)data[0] << 8 | data[1]) % (size - 2);
    step = (size_t)data[2] % 32u + 1u;
    old.p = data + 3;
    old.len = split < size - 3 ? split : size - 3;
    new_data = data + 3 + old.len;
    new_len = size - 3 - old.len;
    memset(&opts, 0, sizeof(opts));
    opts.level = 1;
    opts.block_len = SDV_DELTA_BLOCK_LEN_MIN << (data[0] % 4u);
    opts.codec = (enum sdv_delta_codec_choice)(data[1] % 3u);
    sdv_buf_init(&patch, 64u * 1024u * 1024u);
    sdv_buf_init(&out, 64u * 1024u * 1024u);
    if (sdv_delta_encode(old.p, old.len, new_data, new_len, &opts, buf_sink, &patch, NULL) !=
        SDV_OK)
        abort();
    if (sdv_delta_decoder_create(img_read, &old, buf_sink, &out, NULL, &dec) != SDV_OK)
        abort();
    while (off < patch.len) {
        size_t n = patch.len - off < step ? patch.len - off : step;

        if (sdv_delta_decoder_feed(dec, patch.data + off, n) != SDV_OK)
            abort();
        off += n;
    }
    if (sdv_delta_decoder_finish(dec) != SDV_OK || out.len != new_len ||
        (new_len > 0 && memcmp(out.data, new_data, new_len) != 0))
        abort();
    sdv_delta_decoder_destroy(dec);
    sdv_buf_free(&patch);
    sdv_buf_free(&out);
    return 0;
}
