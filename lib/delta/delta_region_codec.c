/*
 * delta_region_codec.c - decompression of compressed regions (xz, zstd, raw deflate) and their
 * exact recompression from recorded parameters, with every allocation of liblzma and zlib
 * counted so that the decoder's memory bound holds. The same functions serve the encoder's
 * parameter trials, so what the encoder verified is what the device computes.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_estimateCCtxSize_usingCParams, ZSTD_getCParams */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "delta_int.h"
#include "delta_region.h"

/* zlib allocations carry their size in a prefix of this many bytes. */
#define ZLIB_PREFIX_LEN 16u

/* liblzma's stream encoder adds index and block state to the raw encoder's usage. */
#define XZ_STREAM_OVERHEAD (64u * 1024u)

size_t delta_region_comp_cap(size_t dlen)
{
    return dlen + (dlen >> 3) + DELTA_REGION_COMP_SLACK;
}

static void *zlib_count_alloc(void *opaque, unsigned items, unsigned size)
{
    struct delta_region_codec *c = opaque;
    size_t n = (size_t)items * size;
    uint8_t *p = malloc(n + ZLIB_PREFIX_LEN);

    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof(n));
    c->zlib_cur += n + ZLIB_PREFIX_LEN;
    if (c->zlib_cur > c->zlib_peak)
        c->zlib_peak = c->zlib_cur;
    return p + ZLIB_PREFIX_LEN;
}

static void zlib_count_free(void *opaque, void *ptr)
{
    struct delta_region_codec *c = opaque;
    uint8_t *p;
    size_t n;

    if (ptr == NULL)
        return;
    p = (uint8_t *)ptr - ZLIB_PREFIX_LEN;
    memcpy(&n, p, sizeof(n));
    c->zlib_cur -= n + ZLIB_PREFIX_LEN;
    free(p);
}

static void zlib_setup(struct delta_region_codec *c, z_stream *z)
{
    memset(z, 0, sizeof(*z));
    z->zalloc = zlib_count_alloc;
    z->zfree = zlib_count_free;
    z->opaque = c;
}

/*
 * Decompresses the single-block .xz stream src[0..comp_len) into exactly dlen bytes with a
 * dictionary no larger than dlen: the header's dictionary (often 8 MiB from the xz tool) is
 * only an upper bound of the match distances, and the whole output stays in dst anyway. The
 * index and footer after the block are not needed (the old image is verified by its hash).
 * Returns SDV_EUNSUPPORTED for a stream this path does not take (then the generic decoder).
 */
static enum sdv_err xz_decompress_small(struct delta_region_codec *c, const uint8_t *src,
                                        size_t comp_len, uint8_t *dst, size_t dlen, size_t memlimit)
{
    const lzma_allocator *a = &c->dctx->lzma_alloc;
    lzma_filter filters[LZMA_FILTERS_MAX + 1];
    lzma_stream strm = LZMA_STREAM_INIT;
    lzma_block block;
    enum sdv_err err = SDV_EUNSUPPORTED;
    lzma_ret ret;

    if (comp_len < 12 + 8 || src[12] == 0 || (src[7] & 0xf0) != 0)
        return SDV_EUNSUPPORTED;
    memset(&block, 0, sizeof(block));
    block.version = 1;
    block.check = (lzma_check)(src[7] & 0x0f);
    block.filters = filters;
    block.header_size = lzma_block_header_size_decode(src[12]);
    if (block.header_size > comp_len - 12 ||
        lzma_block_header_decode(&block, a, src + 12) != LZMA_OK)
        return SDV_EUNSUPPORTED;
    if (filters[0].id == LZMA_FILTER_LZMA2 && filters[1].id == LZMA_VLI_UNKNOWN) {
        lzma_options_lzma *opt = filters[0].options;
        uint32_t small = dlen < LZMA_DICT_SIZE_MIN ? LZMA_DICT_SIZE_MIN : (uint32_t)dlen;

        if (opt->dict_size > small)
            opt->dict_size = small;
        if (lzma_raw_decoder_memusage(filters) > memlimit) {
            err = SDV_ETOOBIG;
        } else {
            strm.allocator = a;
            ret = lzma_block_decoder(&strm, &block);
            if (ret == LZMA_OK) {
                strm.next_in = src + 12 + block.header_size;
                strm.avail_in = comp_len - 12 - block.header_size;
                strm.next_out = dst;
                strm.avail_out = dlen;
                ret = lzma_code(&strm, LZMA_FINISH);
            }
            err = ret == LZMA_STREAM_END && strm.total_out == dlen ? SDV_OK : SDV_EPARSE;
            lzma_end(&strm);
        }
    }
    for (size_t i = 0; filters[i].id != LZMA_VLI_UNKNOWN; i++)
        a->free(a->opaque, filters[i].options);
    return err;
}

enum sdv_err delta_region_decompress(struct delta_region_codec *c, uint8_t kind, const uint8_t *src,
                                     size_t comp_len, uint8_t *dst, size_t dlen, size_t memlimit,
                                     char *errmsg, size_t errmsg_len)
{
    if (kind == DELTA_REGION_XZ) {
        enum sdv_err err = xz_decompress_small(c, src, comp_len, dst, dlen, memlimit);

        if (err == SDV_OK)
            return SDV_OK;
        if (err == SDV_ETOOBIG)
            return delta_fail(errmsg, errmsg_len, SDV_ETOOBIG,
                              "xz region needs more than %zu bytes of memory", memlimit);
        return delta_decompress(c->dctx, SDV_DELTA_CODEC_XZ, src, comp_len, dst, dlen, memlimit,
                                errmsg, errmsg_len);
    }
    if (kind == DELTA_REGION_ZSTD) {
        size_t r = ZSTD_decompressDCtx(c->dctx->zstd, dst, dlen, src, comp_len);

        if (ZSTD_isError(r) || r != dlen)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "zstd region does not decompress to its %zu bytes", dlen);
        return SDV_OK;
    }
    if (kind == DELTA_REGION_DEFLATE) {
        z_stream z;
        int ret;

        if (memlimit < DELTA_INFLATE_MEM)
            return delta_fail(errmsg, errmsg_len, SDV_ETOOBIG, "no memory left for inflate");
        zlib_setup(c, &z);
        if (inflateInit2(&z, -15) != Z_OK)
            return delta_fail(errmsg, errmsg_len, SDV_ENOMEM, "inflate: out of memory");
        z.next_in = (Bytef *)(uintptr_t)src;
        z.avail_in = (uInt)comp_len;
        z.next_out = dst;
        z.avail_out = (uInt)dlen;
        ret = inflate(&z, Z_FINISH);
        inflateEnd(&z);
        if (ret != Z_STREAM_END || z.avail_in != 0 || z.avail_out != 0)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "deflate region does not decompress to its %zu bytes", dlen);
        return SDV_OK;
    }
    return delta_fail(errmsg, errmsg_len, SDV_EUNSUPPORTED, "unknown region kind %u", kind);
}

/* The LZMA2 options of xz params; -1 if the preset is unknown to this liblzma. */
static int xz_options(const uint8_t *params, lzma_options_lzma *opt, lzma_filter *filters)
{
    uint32_t preset = (uint32_t)(params[2] & 0x7f) | ((params[2] & 0x80) ? LZMA_PRESET_EXTREME : 0);

    if (lzma_lzma_preset(opt, preset))
        return -1;
    opt->dict_size = delta_get_u32(params + 4);
    filters[0].id = LZMA_FILTER_LZMA2;
    filters[0].options = opt;
    filters[1].id = LZMA_VLI_UNKNOWN;
    filters[1].options = NULL;
    return 0;
}

size_t delta_region_compress_mem(uint8_t kind, const uint8_t *params, size_t dlen)
{
    if (kind == DELTA_REGION_XZ) {
        lzma_options_lzma opt;
        lzma_filter filters[2];
        uint64_t m;

        if (xz_options(params, &opt, filters) != 0)
            return SIZE_MAX;
        m = lzma_raw_encoder_memusage(filters);
        return m == UINT64_MAX ? SIZE_MAX : (size_t)m + XZ_STREAM_OVERHEAD;
    }
    if (kind == DELTA_REGION_ZSTD) {
        ZSTD_compressionParameters cp =
                ZSTD_getCParams((int8_t)params[0], (params[1] & DELTA_ZSTD_STREAMED) ? 0 : dlen, 0);

        if (params[2] != 0)
            cp.windowLog = params[2];
        if (params[1] & DELTA_ZSTD_STREAMED)
            return ZSTD_estimateCStreamSize_usingCParams(cp);
        return ZSTD_estimateCCtxSize_usingCParams(cp);
    }
    if (kind == DELTA_REGION_DEFLATE) {
        /* zlib's documented deflate memory: (1 << (windowBits + 2)) + (1 << (memLevel + 9)),
         * plus its state. */
        return ((size_t)1 << (params[2] + 2)) + ((size_t)1 << (params[1] + 9)) + 8192u;
    }
    return SIZE_MAX;
}

/*
 * The stream at dst[0..len) was made with a smaller dictionary than the original's (params[3]
 * holds the original LZMA2 property byte + 1): rewrites the block header's dictionary field and
 * CRC. The compressed data does not depend on the dictionary size once it holds the whole input.
 */
static enum sdv_err xz_restore_dict(struct delta_region_codec *c, const uint8_t *params,
                                    uint8_t *dst, size_t len)
{
    const lzma_allocator *a = &c->dctx->lzma_alloc;
    lzma_filter filters[LZMA_FILTERS_MAX + 1], f;
    lzma_block block;
    uint8_t props = (uint8_t)(params[3] - 1);
    enum sdv_err err = SDV_EUNSUPPORTED;

    if (len < 12 + 8 || dst[12] == 0)
        return SDV_EUNSUPPORTED;
    memset(&block, 0, sizeof(block));
    block.version = 1;
    block.check = (lzma_check)params[1];
    block.filters = filters;
    block.header_size = lzma_block_header_size_decode(dst[12]);
    if (block.header_size > len - 12 || lzma_block_header_decode(&block, a, dst + 12) != LZMA_OK)
        return SDV_EUNSUPPORTED;
    memset(&f, 0, sizeof(f));
    f.id = LZMA_FILTER_LZMA2;
    if (filters[0].id == LZMA_FILTER_LZMA2 && filters[1].id == LZMA_VLI_UNKNOWN &&
        lzma_properties_decode(&f, a, &props, 1) == LZMA_OK) {
        ((lzma_options_lzma *)filters[0].options)->dict_size =
                ((const lzma_options_lzma *)f.options)->dict_size;
        if (lzma_block_header_encode(&block, dst + 12) == LZMA_OK)
            err = SDV_OK;
    }
    if (f.options != NULL)
        a->free(a->opaque, f.options);
    for (size_t i = 0; filters[i].id != LZMA_VLI_UNKNOWN; i++)
        a->free(a->opaque, filters[i].options);
    return err;
}

static enum sdv_err compress_xz(struct delta_region_codec *c, const uint8_t *params,
                                const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                                size_t *out_len)
{
    lzma_options_lzma opt;
    lzma_filter filters[2];
    size_t pos = 0;
    lzma_ret ret;

    if (xz_options(params, &opt, filters) != 0)
        return SDV_EUNSUPPORTED;
    if (params[0] == DELTA_XZ_FORM_BUFFER) {
        ret = lzma_stream_buffer_encode(filters, (lzma_check)params[1], &c->dctx->lzma_alloc, src,
                                        len, dst, &pos, cap);
    } else {
        lzma_stream strm = LZMA_STREAM_INIT;

        strm.allocator = &c->dctx->lzma_alloc;
        ret = lzma_stream_encoder(&strm, filters, (lzma_check)params[1]);
        if (ret == LZMA_OK) {
            strm.next_in = src;
            strm.avail_in = len;
            strm.next_out = dst;
            strm.avail_out = cap;
            ret = lzma_code(&strm, LZMA_FINISH);
            pos = strm.total_out;
            ret = ret == LZMA_STREAM_END ? LZMA_OK : (ret == LZMA_OK ? LZMA_BUF_ERROR : ret);
        }
        lzma_end(&strm);
    }
    if (ret == LZMA_BUF_ERROR)
        return SDV_ETOOBIG;
    if (ret == LZMA_MEM_ERROR)
        return SDV_ENOMEM;
    if (ret != LZMA_OK)
        return SDV_EUNSUPPORTED;
    if (params[3] != 0 && xz_restore_dict(c, params, dst, pos) != SDV_OK)
        return SDV_EUNSUPPORTED;
    *out_len = pos;
    return SDV_OK;
}

static enum sdv_err compress_zstd(struct delta_region_codec *c, const uint8_t *params,
                                  const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                                  size_t *out_len)
{
    ZSTD_CCtx *z;
    size_t r;

    if (c->zstd_cctx == NULL) {
        c->zstd_cctx = ZSTD_createCCtx();
        if (c->zstd_cctx == NULL)
            return SDV_ENOMEM;
    }
    z = c->zstd_cctx;
    if (ZSTD_isError(ZSTD_CCtx_reset(z, ZSTD_reset_session_and_parameters)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, (int8_t)params[0])) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag,
                                            (params[1] & DELTA_ZSTD_CHECKSUM) != 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_contentSizeFlag,
                                            (params[1] & DELTA_ZSTD_CONTENTSIZE) != 0)) ||
        (params[2] != 0 && ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_windowLog, params[2]))))
        return SDV_EUNSUPPORTED;
    if (params[1] & DELTA_ZSTD_STREAMED) {
        /* As a compressor reading a pipe: the input arrives without its size, then the end. */
        ZSTD_inBuffer in = {src, len, 0};
        ZSTD_outBuffer out = {dst, cap, 0};

        int ok;

        r = ZSTD_compressStream2(z, &out, &in, ZSTD_e_continue);
        ok = !ZSTD_isError(r) && in.pos == in.size;
        while (ok) {
            r = ZSTD_compressStream2(z, &out, &in, ZSTD_e_end);
            if (ZSTD_isError(r) || r == 0)
                break;
            ok = out.pos < out.size; /* room left, or the output does not fit */
        }
        c->zstd_cctx_len = ZSTD_sizeof_CCtx(z);
        if (!ok || ZSTD_isError(r))
            return SDV_ETOOBIG;
        *out_len = out.pos;
        return SDV_OK;
    } else {
        r = ZSTD_compress2(z, dst, cap, src, len);
    }
    c->zstd_cctx_len = ZSTD_sizeof_CCtx(z);
    if (ZSTD_isError(r))
        return SDV_ETOOBIG;
    *out_len = r;
    return SDV_OK;
}

static enum sdv_err compress_deflate(struct delta_region_codec *c, const uint8_t *params,
                                     const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                                     size_t *out_len)
{
    z_stream z;
    int ret;

    zlib_setup(c, &z);
    if (deflateInit2(&z, params[0], Z_DEFLATED, -(int)params[2], params[1], params[3]) != Z_OK)
        return SDV_ENOMEM;
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)len;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    ret = deflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return ret == Z_STREAM_END ? SDV_OK : SDV_ETOOBIG;
}

enum sdv_err delta_region_compress(struct delta_region_codec *c, uint8_t kind,
                                   const uint8_t *params, const uint8_t *src, size_t len,
                                   uint8_t *dst, size_t cap, size_t *out_len, size_t memlimit)
{
    *out_len = 0;
    if (delta_region_params_check(kind, params) != SDV_OK)
        return SDV_EUNSUPPORTED;
    if (delta_region_compress_mem(kind, params, len) > memlimit)
        return SDV_ETOOBIG;
    if (kind == DELTA_REGION_XZ)
        return compress_xz(c, params, src, len, dst, cap, out_len);
    if (kind == DELTA_REGION_ZSTD)
        return compress_zstd(c, params, src, len, dst, cap, out_len);
    return compress_deflate(c, params, src, len, dst, cap, out_len);
}

void delta_region_codec_free(struct delta_region_codec *c)
{
    if (c == NULL)
        return;
    ZSTD_freeCCtx(c->zstd_cctx);
    c->zstd_cctx = NULL;
    c->zstd_cctx_len = 0;
}

void delta_region_lib_versions(char *out, size_t len)
{
    snprintf(out, len, "liblzma %s zstd %s zlib %s", lzma_version_string(), ZSTD_versionString(),
             zlibVersion());
}
