/*
 * delta_codec.c - compression of one stream of a block with zstd or xz, and its checked
 * decompression into a buffer of the exact announced length. Streams are compressed and
 * decompressed in one shot: the decoder already holds the whole raw stream in its block buffer,
 * so zstd needs no window buffer of its own, and liblzma's dictionary is bounded by a memory
 * limit and counted by our allocator.
 */
#include <stdlib.h>
#include <string.h>
#include <zstd_errors.h>

#include "delta_int.h"

/* Smallest window either codec uses; below this the window does not matter. */
#define CODEC_WINDOW_LOG_MIN 12u

/* Each liblzma allocation carries its size in a prefix of this many bytes (keeps alignment). */
#define LZMA_PREFIX_LEN 16u

unsigned delta_window_log(size_t len)
{
    unsigned log = CODEC_WINDOW_LOG_MIN;

    while (log < SDV_DELTA_WINDOW_LOG_MAX && ((size_t)1 << log) < len)
        log++;
    return log;
}

size_t delta_comp_bound(size_t raw_len)
{
    size_t z = ZSTD_compressBound(raw_len), x = lzma_stream_buffer_bound(raw_len);

    return z > x ? z : x;
}

enum sdv_err delta_cctx_init(struct delta_cctx *c, size_t raw_len_max)
{
    memset(c, 0, sizeof(*c));
    c->zstd = ZSTD_createCCtx();
    c->buf_len = delta_comp_bound(raw_len_max);
    c->buf = malloc(c->buf_len);
    if (c->zstd == NULL || c->buf == NULL) {
        delta_cctx_free(c);
        return SDV_ENOMEM;
    }
    return SDV_OK;
}

void delta_cctx_free(struct delta_cctx *c)
{
    if (c == NULL)
        return;
    ZSTD_freeCCtx(c->zstd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
}

/* zstd into dst; *out_len 0 when it does not fit or fails. */
static enum sdv_err compress_zstd(struct delta_cctx *c, int level, const uint8_t *src, size_t len,
                                  uint8_t *dst, size_t cap, size_t *out_len, unsigned wlog)
{
    size_t r;

    *out_len = 0;
    if (ZSTD_isError(ZSTD_CCtx_reset(c->zstd, ZSTD_reset_session_and_parameters)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_windowLog, (int)wlog)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_contentSizeFlag, 1)))
        return SDV_EINVAL;
    r = ZSTD_compress2(c->zstd, dst, cap, src, len);
    if (ZSTD_isError(r)) {
        /* Out of room means incompressible; anything else is a real failure. */
        return ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? SDV_OK : SDV_ENOMEM;
    }
    *out_len = r;
    return SDV_OK;
}

static enum sdv_err compress_xz(int level, const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                                size_t *out_len, unsigned wlog)
{
    lzma_options_lzma opt;
    lzma_filter filters[2];
    size_t pos = 0;
    uint32_t preset = level <= 0 ? 6u : (level >= 9 ? 9u : (uint32_t)level);
    lzma_ret ret;

    *out_len = 0;
    if (lzma_lzma_preset(&opt, preset | LZMA_PRESET_EXTREME))
        return SDV_EINVAL;
    opt.dict_size = (uint32_t)1 << wlog;
    filters[0].id = LZMA_FILTER_LZMA2;
    filters[0].options = &opt;
    filters[1].id = LZMA_VLI_UNKNOWN;
    filters[1].options = NULL;
    ret = lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, src, len, dst, &pos, cap);
    if (ret == LZMA_BUF_ERROR)
        return SDV_OK;
    if (ret != LZMA_OK)
        return ret == LZMA_MEM_ERROR ? SDV_ENOMEM : SDV_EINVAL;
    *out_len = pos;
    return SDV_OK;
}

enum sdv_err delta_compress(struct delta_cctx *c, enum sdv_delta_codec_choice choice, int level,
                            const uint8_t *src, size_t len, uint8_t *dst, uint8_t *codec_out,
                            size_t *comp_len_out)
{
    size_t cap = delta_comp_bound(len), zlen = 0, xlen = 0;
    unsigned wlog = delta_window_log(len);
    enum sdv_err err;

    *codec_out = SDV_DELTA_CODEC_STORED;
    *comp_len_out = len;
    if (len == 0)
        return SDV_OK;
    if (cap > c->buf_len)
        return SDV_EINVAL;
    if (choice == SDV_DELTA_CHOOSE_ZSTD || choice == SDV_DELTA_CHOOSE_BEST) {
        err = compress_zstd(c, level, src, len, dst, cap, &zlen, wlog);
        if (err != SDV_OK)
            return err;
    }
    if (choice == SDV_DELTA_CHOOSE_XZ || choice == SDV_DELTA_CHOOSE_BEST) {
        err = compress_xz(level, src, len, c->buf, c->buf_len, &xlen, wlog);
        if (err != SDV_OK)
            return err;
    }
    if (zlen != 0 && zlen < len && (xlen == 0 || zlen <= xlen)) {
        *codec_out = SDV_DELTA_CODEC_ZSTD;
        *comp_len_out = zlen;
    } else if (xlen != 0 && xlen < len) {
        memcpy(dst, c->buf, xlen);
        *codec_out = SDV_DELTA_CODEC_XZ;
        *comp_len_out = xlen;
    } else {
        memcpy(dst, src, len);
        return SDV_OK;
    }
    return SDV_OK;
}

static void *lzma_count_alloc(void *opaque, size_t nmemb, size_t size)
{
    struct delta_dctx *d = opaque;
    size_t n;
    uint8_t *p;

    if (size != 0 && nmemb > (SIZE_MAX - LZMA_PREFIX_LEN) / size)
        return NULL;
    n = nmemb * size;
    p = malloc(n + LZMA_PREFIX_LEN);
    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof(n));
    d->lzma_cur += n + LZMA_PREFIX_LEN;
    if (d->lzma_cur > d->lzma_peak)
        d->lzma_peak = d->lzma_cur;
    return p + LZMA_PREFIX_LEN;
}

static void lzma_count_free(void *opaque, void *ptr)
{
    struct delta_dctx *d = opaque;
    uint8_t *p;
    size_t n;

    if (ptr == NULL)
        return;
    p = (uint8_t *)ptr - LZMA_PREFIX_LEN;
    memcpy(&n, p, sizeof(n));
    d->lzma_cur -= n + LZMA_PREFIX_LEN;
    free(p);
}

enum sdv_err delta_dctx_init(struct delta_dctx *d)
{
    memset(d, 0, sizeof(*d));
    d->zstd = ZSTD_createDCtx();
    if (d->zstd == NULL)
        return SDV_ENOMEM;
    d->lzma_alloc.alloc = lzma_count_alloc;
    d->lzma_alloc.free = lzma_count_free;
    d->lzma_alloc.opaque = d;
    return SDV_OK;
}

void delta_dctx_free(struct delta_dctx *d)
{
    if (d == NULL)
        return;
    ZSTD_freeDCtx(d->zstd);
    d->zstd = NULL;
}

enum sdv_err delta_decompress(struct delta_dctx *d, uint8_t codec, const uint8_t *src,
                              size_t comp_len, uint8_t *dst, size_t raw_len, size_t memlimit,
                              char *errmsg, size_t errmsg_len)
{
    if (codec == SDV_DELTA_CODEC_ZSTD) {
        size_t r = ZSTD_decompressDCtx(d->zstd, dst, raw_len, src, comp_len);

        if (ZSTD_isError(r))
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "zstd stream: %s",
                              ZSTD_getErrorName(r));
        if (r != raw_len)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "zstd stream gives %zu bytes, %zu announced", r, raw_len);
        return SDV_OK;
    }
    if (codec == SDV_DELTA_CODEC_XZ) {
        uint64_t limit = memlimit;
        size_t in_pos = 0, out_pos = 0;
        lzma_ret ret = lzma_stream_buffer_decode(&limit, 0, &d->lzma_alloc, src, &in_pos, comp_len,
                                                 dst, &out_pos, raw_len);

        if (ret == LZMA_MEMLIMIT_ERROR)
            return delta_fail(errmsg, errmsg_len, SDV_ETOOBIG,
                              "xz stream needs %llu bytes of memory, %zu allowed",
                              (unsigned long long)limit, memlimit);
        if (ret == LZMA_MEM_ERROR)
            return delta_fail(errmsg, errmsg_len, SDV_ENOMEM, "xz stream: out of memory");
        if (ret != LZMA_OK)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "xz stream corrupt (liblzma %d)",
                              (int)ret);
        if (in_pos != comp_len || out_pos != raw_len)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "xz stream gives %zu bytes, %zu announced", out_pos, raw_len);
        return SDV_OK;
    }
    return delta_fail(errmsg, errmsg_len, SDV_EUNSUPPORTED, "unknown codec %u", codec);
}
