/*
 * fuzz_delta_decode.c - feeds untrusted bytes to the streaming delta decoder as a patch against a
 * small fixed old image. Before feeding, the harness writes the fixed image's length and SHA-256
 * into the header fields (when the input is long enough to have them), so that inputs get past
 * the base check and exercise the block and stream parsers; the first input byte picks how the
 * rest is cut into feeds.
 *
 * The old image holds a gzip member, so seeds have compressed regions (old ones decompressed
 * into OLD', new ones recompressed by the decoder's output stage).
 *
 * Checked properties: no crash or out-of-bounds access (the old image is read only through a
 * callback that aborts on any read outside it); a failure carries a reason and stays failed;
 * the decoder's reported working memory never exceeds its limit (1 MiB here, so that hostile
 * bounds in the header are refused rather than allocated); output never exceeds the header's
 * new length; OK from finish means the output has the header's hash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/crypto.h>
#include <sdv/delta.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_OLD_LEN    4096u
#define FUZZ_MEMORY_MAX (1u << 20)

/* A gzip member (deflate level 9) of 1080 bytes of text, at FUZZ_GZIP_AT in the old image, so
 * that patches against it have old and new compressed regions. */
#define FUZZ_GZIP_AT 1024u
static const uint8_t fuzz_gzip[] = {
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b, 0xce, 0xcf,
        0x2d, 0x28, 0x4a, 0x2d, 0x2e, 0x4e, 0x4d, 0x51, 0x48, 0xcb, 0xcc, 0x49, 0x55,
        0xc8, 0xcc, 0x53, 0x28, 0xc9, 0x48, 0x55, 0xc8, 0xcf, 0x49, 0x51, 0xc8, 0xcc,
        0x4d, 0x4c, 0x4f, 0xd5, 0x51, 0x28, 0x4b, 0x2d, 0x2a, 0xce, 0xcc, 0xcf, 0x53,
        0x30, 0xd4, 0x53, 0x48, 0x1e, 0x55, 0x3c, 0xaa, 0x78, 0x54, 0xf1, 0xa8, 0x62,
        0x3d, 0x05, 0x00, 0x88, 0xf7, 0xd1, 0xe1, 0x38, 0x04, 0x00, 0x00};

/* The fixed old image: structured enough that real patches against it have copies. */
static void fuzz_old(uint8_t *old)
{
    for (unsigned i = 0; i < FUZZ_OLD_LEN; i++)
        old[i] = (uint8_t)((i % 251) ^ (i >> 8) ^ (i % 7 == 0 ? 0x5a : 0));
    memcpy(old + FUZZ_GZIP_AT, fuzz_gzip, sizeof(fuzz_gzip));
}

static enum sdv_err old_read(void *ud, uint64_t off, void *buf, size_t len)
{
    if (off > FUZZ_OLD_LEN || len > FUZZ_OLD_LEN - off)
        abort();
    memcpy(buf, (const uint8_t *)ud + off, len);
    return SDV_OK;
}

struct fuzz_out {
    uint64_t len;
    uint64_t max;
};

static enum sdv_err out_write(void *ud, const void *data, size_t len)
{
    struct fuzz_out *o = ud;

    (void)data;
    o->len += len;
    if (o->len > o->max)
        abort();
    return SDV_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t old[FUZZ_OLD_LEN], digest[32], *patch;
    struct sdv_delta_decoder *dec = NULL;
    struct sdv_delta_decoder_limits lim;
    struct fuzz_out out = {0, UINT64_MAX};
    size_t step, off = 0;
    enum sdv_err err = SDV_OK;

    if (size == 0)
        return 0;
    step = (size_t)data[0] % 64u + 1u;
    data++;
    size--;
    patch = malloc(size + 1);
    if (patch == NULL)
        abort();
    memcpy(patch, data, size);
    fuzz_old(old);
    if (size >= 96) {
        if (sdv_hash_buf(SDV_HASH_SHA256, old, sizeof(old), digest) != SDV_OK)
            abort();
        for (unsigned i = 0; i < 8; i++)
            patch[16 + i] = (uint8_t)((uint64_t)FUZZ_OLD_LEN >> (8 * i));
        memcpy(patch + 32, digest, sizeof(digest));
    }
    memset(&lim, 0, sizeof(lim));
    lim.memory_max = FUZZ_MEMORY_MAX;
    if (sdv_delta_decoder_create(old_read, old, out_write, &out, &lim, &dec) != SDV_OK)
        abort();
    while (off < size && err == SDV_OK) {
        size_t n = step == 64u ? size - off : (size - off < step ? size - off : step);
        const struct sdv_delta_header *h;

        err = sdv_delta_decoder_feed(dec, patch + off, n);
        off += n;
        h = sdv_delta_decoder_header(dec);
        if (h != NULL)
            out.max = h->new_len;
    }
    if (err == SDV_OK)
        err = sdv_delta_decoder_finish(dec);
    if (err != SDV_OK) {
        uint8_t b = 0;

        if (sdv_delta_decoder_errmsg(dec)[0] == '\0' || sdv_delta_decoder_feed(dec, &b, 1) != err)
            abort();
    } else if (sdv_delta_decoder_header(dec) == NULL ||
               out.len != sdv_delta_decoder_header(dec)->new_len) {
        abort();
    }
    if (sdv_delta_decoder_memory_peak(dec) > FUZZ_MEMORY_MAX)
        abort();
    sdv_delta_decoder_destroy(dec);
    free(patch);
    return 0;
}
