/*
 * delta_decode.c - the streaming patch decoder: a state machine fed with patch bytes in any
 * chunking (header, then per block a preamble and three streams), which reads the old image
 * through a pread-style callback and writes the new image in order through a sink.
 *
 * Memory is allocated once, when the header is known: a control buffer (ctrl_len_max), a data
 * buffer holding one block's difference and literal bytes (block_len_max), one buffer for the
 * compressed stream being received (never larger than its raw form), and DELTA_IO_LEN for old
 * reads and output assembly. Nothing grows afterwards, whatever the image size.
 *
 * Every control tuple of a block is checked (lengths against the block's streams, old ranges
 * against the header's old_len) before the block writes its first byte.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/crypto.h>

#include "delta_exec.h"
#include "delta_int.h"
#include "delta_region.h"

/* What a SHA-256 context costs inside OpenSSL (EVP_MD_CTX and the digest state), rounded up. */
#define DEC_HASH_CTX_LEN 1024u

enum dec_state {
    DEC_HEADER,
    DEC_SECTION_HDR,  /* a section's 12-byte header */
    DEC_SECTION_BODY, /* a section's bytes */
    DEC_SKIP,         /* resuming: patch bytes between the sections and the checkpoint */
    DEC_BLOCK_PRE,
    DEC_STREAM,
    DEC_DONE,
    DEC_FINISHED,
    DEC_FAILED,
};

struct sdv_delta_decoder {
    sdv_delta_read_fn old_read;
    void *old_ud;
    sdv_sink_fn out_write;
    void *out_ud;
    size_t memory_max;
    uint64_t new_len_max;
    sdv_delta_checkpoint_fn checkpoint;
    void *checkpoint_ud;

    enum dec_state state;
    enum sdv_err err;
    char errmsg[256];

    uint8_t hdr_raw[SDV_DELTA_HEADER_LEN];
    size_t hdr_fill;
    struct sdv_delta_header hdr;
    int have_hdr;

    uint8_t pre[DELTA_BLOCK_PREAMBLE_LEN];
    size_t pre_fill;
    struct delta_block_hdr blk;
    unsigned stream;    /* stream being received, 0..SDV_DELTA_STREAMS */
    size_t stream_fill; /* its bytes received so far */

    uint8_t *ctrl; /* ctrl_len_max */
    uint8_t *data; /* block_len_max: difference bytes, then literal bytes */
    uint8_t *comp; /* max(block_len_max, ctrl_len_max): one compressed stream */
    uint8_t *io;   /* DELTA_IO_LEN: old bytes plus difference, assembled output */
    size_t io_fill;
    size_t mem_own; /* bytes of the above plus the decoder and the hash context */
    size_t mem_peak;

    struct sdv_hash *hash;
    struct delta_dctx dctx;

    uint64_t patch_off;
    uint64_t new_off;
    uint64_t blocks_done;

    /* ---- Sections and regions (format version 2) ---- */
    uint8_t sec_pre[DELTA_SECTION_HDR_LEN];
    size_t sec_pre_fill;
    struct delta_section_hdr sec;
    unsigned sec_index;  /* sections parsed so far */
    size_t sec_fill;     /* bytes of the current section received */
    uint8_t *sec_raw;    /* all sections' raw bytes (header's sections_len) */
    size_t sec_raw_fill; /* raw bytes of the sections completed */
    uint8_t *sec_comp;   /* the compressed section being received; freed after the sections */
    struct delta_sections sections;
    uint64_t virt_off; /* bytes of NEW' produced */
    uint64_t skip_to;  /* resuming: patch offset of the checkpoint's block */
    int resuming;

    /* ---- Compressed regions (delta_region*.c) ---- */
    sdv_delta_read_fn img_read; /* the caller's old image; old_read/old_ud above read OLD' */
    void *img_ud;
    struct delta_region_codec rcodec;
    uint8_t *rcache[DELTA_REGION_CACHE_MAX]; /* decompressed old regions */
    uint32_t rcache_idx[DELTA_REGION_CACHE_MAX];
    uint64_t rcache_used[DELTA_REGION_CACHE_MAX]; /* last use (0: empty), for LRU */
    unsigned rcache_n;                            /* slots allocated */
    uint64_t rcache_clock;
    uint64_t rcache_misses; /* regions decompressed */
    uint8_t *rbuf;          /* the new region being produced, decompressed */
    uint8_t *rcomp;         /* an old region's compressed bytes, or a new region recompressed */
    size_t rcomp_cap;
    uint32_t nr_next; /* next new region in NEW' order */
    uint32_t r_fill;  /* its bytes produced so far */

    /* ---- Reference prediction (section type 3, delta_exec.c) ---- */
    uint8_t *xwin; /* old bytes around a chunk: DELTA_IO_LEN + 2 * DELTA_EXEC_LOOK */
};

static enum sdv_err dec_fail(struct sdv_delta_decoder *d, enum sdv_err err)
{
    d->state = DEC_FAILED;
    d->err = err;
    if (d->errmsg[0] == '\0')
        delta_fail(d->errmsg, sizeof(d->errmsg), err, "%s", sdv_strerror(err));
    return err;
}

static enum sdv_err dec_failf(struct sdv_delta_decoder *d, enum sdv_err err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static enum sdv_err dec_failf(struct sdv_delta_decoder *d, enum sdv_err err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
    va_end(ap);
    return dec_fail(d, err);
}

static void dec_note_peak(struct sdv_delta_decoder *d)
{
    /* liblzma, zlib and a zstd compression context are never in use at the same time. */
    size_t codec =
            d->dctx.lzma_peak > d->rcodec.zlib_peak ? d->dctx.lzma_peak : d->rcodec.zlib_peak;
    size_t now;

    if (d->rcodec.zstd_cctx_len > codec)
        codec = d->rcodec.zstd_cctx_len;
    now = d->mem_own + ZSTD_sizeof_DCtx(d->dctx.zstd) + codec;

    if (now > d->mem_peak)
        d->mem_peak = now;
}

static enum sdv_err dec_old_read(void *ud, uint64_t off, void *buf, size_t len);

enum sdv_err sdv_delta_decoder_create(sdv_delta_read_fn old_read, void *old_ud,
                                      sdv_sink_fn out_write, void *out_ud,
                                      const struct sdv_delta_decoder_limits *limits,
                                      struct sdv_delta_decoder **out)
{
    struct sdv_delta_decoder *d;
    enum sdv_err err;

    if (old_read == NULL || out_write == NULL || out == NULL)
        return SDV_EINVAL;
    *out = NULL;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return SDV_ENOMEM;
    /* Every read of OLD' (the old image, then its decompressed regions) goes through
     * dec_old_read(); the caller's callback reads the old image itself. */
    d->img_read = old_read;
    d->img_ud = old_ud;
    d->old_read = dec_old_read;
    d->old_ud = d;
    d->out_write = out_write;
    d->out_ud = out_ud;
    d->memory_max = SDV_DELTA_DECODER_MEMORY_MAX;
    d->new_len_max = SDV_DELTA_NEW_LEN_MAX;
    if (limits != NULL) {
        if (limits->memory_max != 0)
            d->memory_max = limits->memory_max;
        if (limits->new_len_max != 0)
            d->new_len_max = limits->new_len_max;
        d->checkpoint = limits->checkpoint;
        d->checkpoint_ud = limits->checkpoint_ud;
    }
    err = delta_dctx_init(&d->dctx);
    d->rcodec.dctx = &d->dctx;
    if (err == SDV_OK)
        err = sdv_hash_create(SDV_HASH_SHA256, &d->hash);
    if (err != SDV_OK) {
        sdv_delta_decoder_destroy(d);
        return err;
    }
    d->state = DEC_HEADER;
    d->mem_own = sizeof(*d) + DEC_HASH_CTX_LEN;
    dec_note_peak(d);
    *out = d;
    return SDV_OK;
}

void sdv_delta_decoder_destroy(struct sdv_delta_decoder *d)
{
    if (d == NULL)
        return;
    sdv_hash_destroy(d->hash);
    delta_region_codec_free(&d->rcodec);
    delta_dctx_free(&d->dctx);
    delta_sections_free(&d->sections);
    for (unsigned i = 0; i < d->rcache_n; i++)
        free(d->rcache[i]);
    free(d->rbuf);
    free(d->rcomp);
    free(d->sec_raw);
    free(d->sec_comp);
    free(d->ctrl);
    free(d->data);
    free(d->comp);
    free(d->io);
    free(d->xwin);
    free(d);
}

/* Hashes image[0..len) read through fn in DELTA_IO_LEN pieces. */
static enum sdv_err dec_hash_image(struct sdv_delta_decoder *d, sdv_delta_read_fn fn, void *ud,
                                   uint64_t len)
{
    uint64_t off = 0;
    enum sdv_err err;

    while (off < len) {
        size_t n = len - off < DELTA_IO_LEN ? (size_t)(len - off) : DELTA_IO_LEN;

        err = fn(ud, off, d->io, n);
        if (err != SDV_OK)
            return err;
        err = sdv_hash_update(d->hash, d->io, n);
        if (err != SDV_OK)
            return err;
        off += n;
    }
    return SDV_OK;
}

/* ---- Compressed regions ---- */

/* Buffers the regions announced by the header need: the old region cache, the new region, and
 * one compressed region. */
static size_t dec_region_need(const struct sdv_delta_header *h)
{
    size_t big = h->region_old_len_max > h->region_new_len_max ? h->region_old_len_max
                                                               : h->region_new_len_max;

    if (big == 0)
        return 0;
    return DELTA_REGION_CACHE * (size_t)h->region_old_len_max + h->region_new_len_max +
           delta_region_comp_cap(big);
}

/* Memory a codec may still take: what the limit leaves beside the decoder's buffers. */
static size_t dec_codec_room(const struct sdv_delta_decoder *d)
{
    size_t used = d->mem_own + ZSTD_sizeof_DCtx(d->dctx.zstd);

    return used < d->memory_max ? d->memory_max - used : 0;
}

/* After the sections: allocates the region buffers and checks that the new regions' compressors
 * fit the memory limit. */
static enum sdv_err dec_region_start(struct sdv_delta_decoder *d)
{
    const struct sdv_delta_header *h = &d->hdr;
    const struct delta_region_table *t = &d->sections.new_regions;
    size_t codec = 0, big;

    if (d->sections.old_regions.n == 0 && t->n == 0)
        return SDV_OK;
    big = h->region_old_len_max > h->region_new_len_max ? h->region_old_len_max
                                                        : h->region_new_len_max;
    for (uint32_t i = 0; i < t->n; i++) {
        size_t m = delta_region_compress_mem(t->r[i].kind, t->r[i].params, t->r[i].dlen);

        if (m > codec)
            codec = m;
    }
    if (dec_region_need(h) + codec > dec_codec_room(d))
        return dec_failf(d, SDV_ETOOBIG,
                         "the patch's compressed regions need %zu bytes of memory beyond the "
                         "%zu in use, the limit is %zu",
                         dec_region_need(h) + codec, d->memory_max - dec_codec_room(d),
                         d->memory_max);
    d->rcomp_cap = delta_region_comp_cap(big);
    d->rcomp = malloc(d->rcomp_cap);
    if (d->rcomp == NULL)
        return dec_fail(d, SDV_ENOMEM);
    d->mem_own += d->rcomp_cap;
    if (d->sections.old_regions.n > 0) {
        /* Two slots are counted in the need above; more while the limit leaves room for
         * them beside the largest compressor and a decompressor's dictionary. */
        size_t spare = dec_codec_room(d);
        size_t keep = dec_region_need(h) + codec + h->region_old_len_max + DELTA_REGION_SPARE;

        d->rcache_n = DELTA_REGION_CACHE;
        while (d->rcache_n < DELTA_REGION_CACHE_MAX && d->rcache_n < d->sections.old_regions.n &&
               (size_t)(d->rcache_n - 1) * h->region_old_len_max <= DELTA_REGION_CACHE_EXTRA &&
               spare > keep + (size_t)(d->rcache_n - 1) * h->region_old_len_max)
            d->rcache_n++;
        for (unsigned i = 0; i < d->rcache_n; i++) {
            d->rcache[i] = malloc(h->region_old_len_max);
            if (d->rcache[i] == NULL)
                return dec_fail(d, SDV_ENOMEM);
            d->mem_own += h->region_old_len_max;
        }
    }
    if (t->n > 0) {
        d->rbuf = malloc(h->region_new_len_max);
        if (d->rbuf == NULL)
            return dec_fail(d, SDV_ENOMEM);
        d->mem_own += h->region_new_len_max;
    }
    dec_note_peak(d);
    return SDV_OK;
}

/* Resuming at NEW' offset virt_off with new_off bytes written: finds the next new region and
 * checks that the two offsets agree with the region table (and lie outside any region). */
static enum sdv_err dec_region_resume(struct sdv_delta_decoder *d)
{
    const struct delta_region_table *t = &d->sections.new_regions;
    uint64_t shrink = 0;
    uint32_t i = 0;

    while (i < t->n && t->r[i].virt_off + t->r[i].dlen <= d->virt_off) {
        shrink += t->r[i].dlen - t->r[i].comp_len;
        i++;
    }
    if ((i < t->n && t->r[i].virt_off < d->virt_off) || d->virt_off - shrink != d->new_off)
        return dec_failf(d, SDV_EPARSE, "checkpoint does not fit the patch's region table");
    d->nr_next = i;
    d->r_fill = 0;
    return SDV_OK;
}

/* Makes old region i's decompressed bytes available in the cache; *out gets them. */
static enum sdv_err dec_old_region(struct sdv_delta_decoder *d, uint32_t i, const uint8_t **out)
{
    const struct delta_region *r = &d->sections.old_regions.r[i];
    unsigned slot, lru = 0;
    enum sdv_err err;

    d->rcache_clock++;
    for (slot = 0; slot < d->rcache_n; slot++) {
        if (d->rcache_used[slot] != 0 && d->rcache_idx[slot] == i) {
            d->rcache_used[slot] = d->rcache_clock;
            *out = d->rcache[slot];
            return SDV_OK;
        }
        if (d->rcache_used[slot] < d->rcache_used[lru])
            lru = slot;
    }
    slot = lru;
    d->rcache_used[slot] = 0;
    d->rcache_misses++;
    err = d->img_read(d->img_ud, r->off, d->rcomp, r->comp_len);
    if (err != SDV_OK)
        return dec_failf(d, err, "cannot read old region %u at offset %llu: %s", (unsigned)i,
                         (unsigned long long)r->off, sdv_strerror(err));
    err = delta_region_decompress(&d->rcodec, r->kind, d->rcomp, r->comp_len, d->rcache[slot],
                                  r->dlen, dec_codec_room(d), d->errmsg, sizeof(d->errmsg));
    dec_note_peak(d);
    if (err != SDV_OK) {
        char why[sizeof(d->errmsg)];

        memcpy(why, d->errmsg, sizeof(why));
        return dec_failf(d, err, "old region %u at offset %llu: %s", (unsigned)i,
                         (unsigned long long)r->off, why);
    }
    d->rcache_idx[slot] = i;
    d->rcache_used[slot] = d->rcache_clock;
    *out = d->rcache[slot];
    return SDV_OK;
}

/* The sdv_delta_read_fn of OLD': the old image below old_len, decompressed old regions above. */
static enum sdv_err dec_old_read(void *ud, uint64_t off, void *buf, size_t len)
{
    struct sdv_delta_decoder *d = ud;
    const struct delta_region_table *t = &d->sections.old_regions;
    uint8_t *o = buf;
    enum sdv_err err;

    if (off < d->hdr.old_len) {
        size_t n = d->hdr.old_len - off < len ? (size_t)(d->hdr.old_len - off) : len;

        err = d->img_read(d->img_ud, off, o, n);
        if (err != SDV_OK)
            return err;
        off += n;
        o += n;
        len -= n;
    }
    while (len > 0) {
        uint32_t lo = 0, hi = t->n;
        const uint8_t *data;
        size_t n;

        /* The regions tile [old_len, old_virt_len) in order (delta_sections_check). */
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;

            if (t->r[mid].virt_off <= off)
                lo = mid;
            else
                hi = mid;
        }
        if (t->n == 0 || off < t->r[lo].virt_off || off - t->r[lo].virt_off >= t->r[lo].dlen)
            return SDV_EINVAL; /* the tuples were checked against old_virt_len: unreachable */
        err = dec_old_region(d, lo, &data);
        if (err != SDV_OK)
            return err;
        n = (size_t)(t->r[lo].virt_off + t->r[lo].dlen - off);
        n = n < len ? n : len;
        memcpy(o, data + (off - t->r[lo].virt_off), n);
        off += n;
        o += n;
        len -= n;
    }
    return SDV_OK;
}

/* Hashes and writes bytes of the new image. */
static enum sdv_err dec_write(struct sdv_delta_decoder *d, const uint8_t *p, size_t n)
{
    enum sdv_err err;

    err = sdv_hash_update(d->hash, p, n);
    if (err != SDV_OK)
        return dec_fail(d, err);
    err = d->out_write(d->out_ud, p, n);
    if (err != SDV_OK)
        return dec_failf(d, err, "writing the new image at offset %llu failed: %s",
                         (unsigned long long)d->new_off, sdv_strerror(err));
    d->new_off += n;
    return SDV_OK;
}

static const char *const dec_region_kinds[] = {"?", "xz", "zstd", "deflate"};

/* New region nr_next is complete in rbuf: recompresses it, checks it, writes it. */
static enum sdv_err dec_region_finish(struct sdv_delta_decoder *d)
{
    const struct delta_region *r = &d->sections.new_regions.r[d->nr_next];
    uint8_t digest[32];
    size_t len = 0;
    char here[96];
    enum sdv_err err;

    err = delta_region_compress(&d->rcodec, r->kind, r->params, d->rbuf, r->dlen, d->rcomp,
                                d->rcomp_cap, &len, dec_codec_room(d));
    dec_note_peak(d);
    /* The codecs' memory is counted as one at a time: no zstd context outlives its region. */
    delta_region_codec_free(&d->rcodec);
    if (err == SDV_OK)
        err = sdv_hash_buf(SDV_HASH_SHA256, d->rcomp, len, digest);
    if (err == SDV_OK && (len != r->comp_len || memcmp(digest, r->hash, sizeof(r->hash)) != 0)) {
        delta_region_lib_versions(here, sizeof(here));
        return dec_failf(d, SDV_EHASH,
                         "new region %u (%s, new offset %llu): recompression gives other bytes "
                         "(%zu, expected %u); this device has %s, the patch was made with %s",
                         (unsigned)d->nr_next, dec_region_kinds[r->kind],
                         (unsigned long long)d->new_off, len, (unsigned)r->comp_len, here,
                         d->sections.codec_versions);
    }
    if (err != SDV_OK)
        return dec_failf(d, err, "new region %u (%s, new offset %llu): recompression failed: %s",
                         (unsigned)d->nr_next, dec_region_kinds[r->kind],
                         (unsigned long long)d->new_off, sdv_strerror(err));
    err = dec_write(d, d->rcomp, len);
    if (err != SDV_OK)
        return err;
    d->nr_next++;
    d->r_fill = 0;
    return SDV_OK;
}

/* The output stage: NEW' bytes in; bytes outside new regions go out as they are, a region's
 * bytes are buffered and go out recompressed. */
static enum sdv_err dec_emit(struct sdv_delta_decoder *d, const uint8_t *p, size_t n)
{
    const struct delta_region_table *t = &d->sections.new_regions;
    enum sdv_err err;

    while (n > 0) {
        size_t k;

        if (d->nr_next >= t->n || d->virt_off < t->r[d->nr_next].virt_off) {
            k = n;
            if (d->nr_next < t->n && t->r[d->nr_next].virt_off - d->virt_off < k)
                k = (size_t)(t->r[d->nr_next].virt_off - d->virt_off);
            err = dec_write(d, p, k);
        } else {
            const struct delta_region *r = &t->r[d->nr_next];

            k = r->dlen - d->r_fill < n ? r->dlen - d->r_fill : n;
            memcpy(d->rbuf + d->r_fill, p, k);
            d->r_fill += (uint32_t)k;
            err = d->r_fill == r->dlen ? dec_region_finish(d) : SDV_OK;
        }
        if (err != SDV_OK)
            return err;
        d->virt_off += k;
        p += k;
        n -= k;
    }
    return SDV_OK;
}

/* The header is complete in hdr_raw: checks it against the limits, allocates the block
 * buffers, and verifies the old image. Writes nothing. */
static enum sdv_err dec_start(struct sdv_delta_decoder *d)
{
    struct sdv_delta_header *h = &d->hdr;
    uint8_t digest[32];
    size_t comp_len, need, xz_need;
    enum sdv_err err;

    err = sdv_delta_header_parse(d->hdr_raw, sizeof(d->hdr_raw), h, d->errmsg, sizeof(d->errmsg));
    if (err != SDV_OK)
        return dec_fail(d, err);
    d->have_hdr = 1;
    if (h->new_len > d->new_len_max)
        return dec_failf(d, SDV_ETOOBIG, "new image of %llu bytes, at most %llu accepted",
                         (unsigned long long)h->new_len, (unsigned long long)d->new_len_max);
    comp_len = h->block_len_max > h->ctrl_len_max ? h->block_len_max : h->ctrl_len_max;
    /* The sections' raw bytes stay; one compressed section at a time comes on top while they
     * are read. */
    need = d->mem_own + ZSTD_sizeof_DCtx(d->dctx.zstd) + DELTA_IO_LEN + h->ctrl_len_max +
           h->block_len_max + comp_len + 2 * (size_t)h->sections_len + dec_region_need(h);
    /* An xz stream may need a dictionary as large as the window, plus liblzma's state. */
    xz_need = h->window_log == 0 ? 0 : ((size_t)1 << h->window_log) + DELTA_IO_LEN;
    if (need + xz_need > d->memory_max)
        return dec_failf(d, SDV_ETOOBIG,
                         "patch needs %zu bytes of working memory, the limit is %zu",
                         need + xz_need, d->memory_max);
    d->io = malloc(DELTA_IO_LEN);
    if (h->section_count > 0) {
        d->sec_raw = malloc(h->sections_len);
        if (d->sec_raw == NULL)
            return dec_fail(d, SDV_ENOMEM);
        d->mem_own += h->sections_len;
    }
    if (h->new_virt_len > 0) {
        d->ctrl = malloc(h->ctrl_len_max);
        d->data = malloc(h->block_len_max);
        d->comp = malloc(comp_len);
        if (d->ctrl == NULL || d->data == NULL || d->comp == NULL)
            return dec_fail(d, SDV_ENOMEM);
        d->mem_own += (size_t)h->ctrl_len_max + h->block_len_max + comp_len;
    }
    if (d->io == NULL)
        return dec_fail(d, SDV_ENOMEM);
    d->mem_own += DELTA_IO_LEN;
    dec_note_peak(d);

    err = dec_hash_image(d, d->img_read, d->img_ud, h->old_len);
    if (err != SDV_OK)
        return dec_failf(d, err, "cannot read the old image (%llu bytes): %s",
                         (unsigned long long)h->old_len, sdv_strerror(err));
    err = sdv_hash_final(d->hash, digest);
    if (err == SDV_OK)
        err = sdv_hash_reset(d->hash);
    if (err != SDV_OK)
        return dec_fail(d, err);
    if (memcmp(digest, h->old_sha256, sizeof(digest)) != 0)
        return dec_failf(d, SDV_EHASH,
                         "the old image is not the base of this patch (sha256 mismatch)");
    d->patch_off = SDV_DELTA_HEADER_LEN;
    if (h->section_count > 0)
        d->state = DEC_SECTION_HDR;
    else
        d->state = h->new_virt_len == 0 ? DEC_DONE : DEC_BLOCK_PRE;
    return SDV_OK;
}

/* All sections are in: cross-checks them and moves on to the blocks (or, resuming, to the
 * skip up to the checkpoint's block). */
static enum sdv_err dec_sections_done(struct sdv_delta_decoder *d)
{
    enum sdv_err err;

    free(d->sec_comp);
    d->sec_comp = NULL;
    if (d->sec_raw_fill != d->hdr.sections_len)
        return dec_failf(d, SDV_EPARSE, "sections hold %zu bytes, the header says %u",
                         d->sec_raw_fill, (unsigned)d->hdr.sections_len);
    err = delta_sections_check(&d->sections, &d->hdr, d->errmsg, sizeof(d->errmsg));
    if (err != SDV_OK)
        return dec_fail(d, err);
    err = dec_region_start(d);
    if (err == SDV_OK && d->resuming)
        err = dec_region_resume(d);
    if (err != SDV_OK)
        return err;
    if (d->resuming && d->skip_to > d->patch_off) {
        d->state = DEC_SKIP;
        return SDV_OK;
    }
    if (d->resuming && d->skip_to < d->patch_off)
        return dec_failf(d, SDV_EPARSE, "checkpoint offset inside the patch's sections");
    d->state = d->virt_off == d->hdr.new_virt_len ? DEC_DONE : DEC_BLOCK_PRE;
    return SDV_OK;
}

/* A section's raw bytes are complete at sec_raw + sec_raw_fill: hands them to its handler. */
static enum sdv_err dec_section_done(struct sdv_delta_decoder *d)
{
    uint8_t *raw = d->sec_raw + d->sec_raw_fill;
    enum sdv_err err;

    if (d->sec.codec != SDV_DELTA_CODEC_STORED) {
        err = delta_decompress(&d->dctx, d->sec.codec, d->sec_comp, d->sec.comp_len, raw,
                               d->sec.raw_len,
                               d->memory_max - d->mem_own - ZSTD_sizeof_DCtx(d->dctx.zstd),
                               d->errmsg, sizeof(d->errmsg));
        dec_note_peak(d);
        free(d->sec_comp);
        d->sec_comp = NULL;
        d->mem_own -= d->sec.comp_len;
        if (err != SDV_OK) {
            char why[sizeof(d->errmsg)];

            memcpy(why, d->errmsg, sizeof(why));
            return dec_failf(d, err, "section %u (type %u): %s", d->sec_index, d->sec.type, why);
        }
    }
    d->mem_own -= d->sections.mem;
    err = delta_section_handler(d->sec.type)(&d->sections, &d->hdr, raw, d->sec.raw_len, d->errmsg,
                                             sizeof(d->errmsg));
    d->mem_own += d->sections.mem;
    dec_note_peak(d);
    if (err != SDV_OK) {
        char why[sizeof(d->errmsg)];

        memcpy(why, d->errmsg, sizeof(why));
        return dec_failf(d, err, "section %u (type %u): %s", d->sec_index, d->sec.type, why);
    }
    if (d->mem_own > d->memory_max)
        return dec_failf(d, SDV_ETOOBIG, "the patch's sections need more than %zu bytes",
                         d->memory_max);
    d->sec_raw_fill += d->sec.raw_len;
    d->sec_index++;
    d->sec_pre_fill = 0;
    if (d->sec_index == d->hdr.section_count)
        return dec_sections_done(d);
    d->state = DEC_SECTION_HDR;
    return SDV_OK;
}

/* The 12-byte header of a section is in sec_pre. */
static enum sdv_err dec_section_hdr(struct sdv_delta_decoder *d)
{
    enum sdv_err err;

    err = delta_section_hdr_parse(d->sec_pre, d->hdr.sections_len - d->sec_raw_fill, &d->sec,
                                  d->errmsg, sizeof(d->errmsg));
    if (err != SDV_OK) {
        char why[sizeof(d->errmsg)];

        memcpy(why, d->errmsg, sizeof(why));
        return dec_failf(d, err, "section %u at patch offset %llu: %s", d->sec_index,
                         (unsigned long long)(d->patch_off - DELTA_SECTION_HDR_LEN), why);
    }
    if (d->sec.codec != SDV_DELTA_CODEC_STORED) {
        d->sec_comp = malloc(d->sec.comp_len);
        if (d->sec_comp == NULL)
            return dec_fail(d, SDV_ENOMEM);
        d->mem_own += d->sec.comp_len;
        dec_note_peak(d);
    }
    d->sec_fill = 0;
    d->state = DEC_SECTION_BODY;
    return SDV_OK;
}

static enum sdv_err dec_flush(struct sdv_delta_decoder *d)
{
    enum sdv_err err;

    if (d->io_fill == 0)
        return SDV_OK;
    err = dec_emit(d, d->io, d->io_fill);
    if (err != SDV_OK)
        return err;
    d->io_fill = 0;
    return SDV_OK;
}

/* Reads one control tuple; -1 if the control stream is malformed there. */
static int dec_tuple(const uint8_t *ctrl, size_t len, size_t *pos, uint64_t *add, uint64_t *extra,
                     int64_t *seek)
{
    uint64_t z;

    if (delta_varint_get(ctrl, len, pos, add) != 0 ||
        delta_varint_get(ctrl, len, pos, extra) != 0 || delta_varint_get(ctrl, len, pos, &z) != 0)
        return -1;
    *seek = delta_unzigzag(z);
    return 0;
}

/* Moves *pos by seek within [0, old_len]; -1 if it would leave that range. */
static int dec_seek(uint64_t *pos, int64_t seek, uint64_t old_len)
{
    if (seek >= 0) {
        if ((uint64_t)seek > old_len - *pos)
            return -1;
        *pos += (uint64_t)seek;
    } else {
        uint64_t back = (uint64_t)(-(seek + 1)) + 1u;

        if (back > *pos)
            return -1;
        *pos -= back;
    }
    return 0;
}

/*
 * Reads the old bytes [pos, pos + n) of the add run old [r0, r1) (new offset p0 at r0) into o:
 * with a reference map, the predicted bytes, exactly as the encoder computed them.
 */
static enum sdv_err dec_old_run(struct sdv_delta_decoder *d, uint64_t pos, uint8_t *o, size_t n,
                                uint64_t r0, uint64_t r1, uint64_t p0)
{
    const struct delta_xmap *m = d->sections.xmap;
    const uint64_t old_len = d->hdr.old_virt_len;
    uint64_t w0, w1;
    enum sdv_err err;

    if (m == NULL || !delta_xmap_touches(m, pos >= 7 ? pos - 7 : 0, n + 7))
        return d->old_read(d->old_ud, pos, o, n);
    if (d->xwin == NULL) {
        size_t len = DELTA_IO_LEN + 2 * DELTA_EXEC_LOOK;

        if (d->mem_own + len > d->memory_max)
            return dec_failf(d, SDV_ETOOBIG, "reference prediction needs more than %zu bytes",
                             d->memory_max);
        d->xwin = malloc(len);
        if (d->xwin == NULL)
            return dec_fail(d, SDV_ENOMEM);
        d->mem_own += len;
        dec_note_peak(d);
    }
    w0 = pos >= DELTA_EXEC_LOOK ? pos - DELTA_EXEC_LOOK : 0;
    w1 = old_len - pos - n >= DELTA_EXEC_LOOK ? pos + n + DELTA_EXEC_LOOK : old_len;
    err = d->old_read(d->old_ud, w0, d->xwin, (size_t)(w1 - w0));
    if (err != SDV_OK)
        return err;
    memcpy(o, d->xwin + (pos - w0), n);
    delta_xmap_predict(m, d->xwin, w0, (size_t)(w1 - w0), r0, r1, p0, pos, o, n);
    return SDV_OK;
}

/* Whether the add run [pos, pos + n) goes through reference prediction. */
static int dec_run_predicted(const struct sdv_delta_decoder *d, uint64_t pos, uint64_t n)
{
    const struct delta_xmap *m = d->sections.xmap;

    return m != NULL && delta_xmap_touches(m, pos >= 7 ? pos - 7 : 0, n + 7);
}

/* Adds src[0..n) to dst[0..n). */
static void dec_add(uint8_t *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (uint8_t)(dst[i] + src[i]);
}

/*
 * Pass 2 of a block (tuples checked, output buffer empty): adds to the difference bytes, in tuple
 * order, the old bytes of the parts of runs below the old image's end; pass 3 does the rest
 * (decompressed old regions). d->io serves as scratch.
 */
static enum sdv_err dec_block_old(struct sdv_delta_decoder *d, size_t ctrl_len)
{
    const uint64_t old_len = d->hdr.old_virt_len, raw_end = d->hdr.old_len;
    uint64_t add = 0, extra = 0, pos = d->blk.old_start, p0 = d->virt_off;
    size_t cpos = 0, dpos = 0;
    int64_t seek = 0;
    enum sdv_err err;

    while (cpos < ctrl_len) {
        int predicted;

        (void)dec_tuple(d->ctrl, ctrl_len, &cpos, &add, &extra, &seek);
        predicted = dec_run_predicted(d, pos, add);
        if (add > 0 && pos < raw_end) {
            uint64_t q = pos, end = pos + add <= raw_end ? pos + add : raw_end;
            size_t dq = dpos;

            while (q < end) {
                size_t n = end - q < DELTA_IO_LEN ? (size_t)(end - q) : DELTA_IO_LEN;

                err = predicted ? dec_old_run(d, q, d->io, n, pos, pos + add, p0)
                                : d->old_read(d->old_ud, q, d->io, n);
                if (err != SDV_OK)
                    return dec_failf(d, err, "cannot read the old image at offset %llu: %s",
                                     (unsigned long long)q, sdv_strerror(err));
                dec_add(d->data + dq, d->io, n);
                q += n;
                dq += n;
            }
        }
        p0 += add + extra;
        dpos += (size_t)add;
        pos += add;
        (void)dec_seek(&pos, seek, old_len);
    }
    return SDV_OK;
}

/* Pieces of runs (a run's part in one region) the region-by-region walks over a block's tuples
 * (pass 3) may visit before the rest is read in tuple order: bounds the work a hostile patch can
 * ask for (a few milliseconds), far above what real patches need (the squashfs pair of the
 * benchmark: at most a few hundred regions times a few thousand tuples). */
#define DEC_REGION_VISITS (1u << 22)

enum dec_walk {
    DEC_WALK_CACHED, /* the regions in skip (cached when the block started) */
    DEC_WALK_ONE,    /* region target */
    DEC_WALK_REST,   /* the regions above target not in skip, in tuple order */
};

/*
 * One walk of pass 3 over the block's tuples: adds the old bytes of the parts of runs in the
 * decompressed old regions that mode selects (with reference prediction: chunks within the
 * region, their windows read through the cache), and sets *next to the
 * smallest region above target (-1: any) and not in skip[0..nskip) that the block reads
 * (UINT32_MAX: none). Adds the pieces visited to *visits.
 */
static enum sdv_err dec_region_walk(struct sdv_delta_decoder *d, size_t ctrl_len,
                                    enum dec_walk mode, int64_t target, const uint32_t *skip,
                                    unsigned nskip, uint32_t *next, uint64_t *visits)
{
    const struct delta_region_table *t = &d->sections.old_regions;
    const uint64_t old_len = d->hdr.old_virt_len, raw_end = d->hdr.old_len;
    uint64_t add = 0, extra = 0, pos = d->blk.old_start, p0 = d->virt_off;
    size_t cpos = 0, dpos = 0;
    int64_t seek = 0;
    enum sdv_err err;

    *next = UINT32_MAX;
    while (cpos < ctrl_len) {
        (void)dec_tuple(d->ctrl, ctrl_len, &cpos, &add, &extra, &seek);
        if (add > 0 && pos + add > raw_end) {
            const int predicted = dec_run_predicted(d, pos, add);
            uint64_t q = pos > raw_end ? pos : raw_end, end = pos + add;
            uint32_t lo = 0, hi = t->n;

            /* The regions tile [old_len, old_virt_len) in order (delta_sections_check). */
            while (hi - lo > 1) {
                uint32_t mid = lo + (hi - lo) / 2;

                if (t->r[mid].virt_off <= q)
                    lo = mid;
                else
                    hi = mid;
            }
            for (uint32_t i = lo; q < end; i++) {
                const struct delta_region *r = &t->r[i];
                uint64_t e;
                int take, skipped = 0;

                if (i >= t->n || q < r->virt_off || q - r->virt_off >= r->dlen)
                    return SDV_EINVAL; /* the tuples were checked against old_virt_len */
                e = r->virt_off + r->dlen < end ? r->virt_off + r->dlen : end;
                (*visits)++;
                for (unsigned s = 0; s < nskip && !skipped; s++)
                    skipped = skip[s] == i;
                if (mode == DEC_WALK_CACHED)
                    take = skipped;
                else if (mode == DEC_WALK_ONE)
                    take = (int64_t)i == target;
                else
                    take = !skipped && (int64_t)i > target;
                if (take && predicted) {
                    for (uint64_t c = q; c < e;) {
                        size_t n = e - c < DELTA_IO_LEN ? (size_t)(e - c) : DELTA_IO_LEN;

                        err = dec_old_run(d, c, d->io, n, pos, pos + add, p0);
                        if (err != SDV_OK)
                            return err;
                        dec_add(d->data + dpos + (size_t)(c - pos), d->io, n);
                        c += n;
                    }
                } else if (take) {
                    const uint8_t *data;

                    err = dec_old_region(d, i, &data);
                    if (err != SDV_OK)
                        return err;
                    dec_add(d->data + dpos + (size_t)(q - pos), data + (q - r->virt_off),
                            (size_t)(e - q));
                } else if (!skipped && (int64_t)i > target && i < *next) {
                    *next = i;
                }
                q = e;
            }
        }
        p0 += add + extra;
        dpos += (size_t)add;
        pos += add;
        (void)dec_seek(&pos, seek, old_len);
    }
    return SDV_OK;
}

/*
 * Pass 3 of a block: the parts of add runs in decompressed old regions. The regions already in
 * the cache first, then the others in region order, so that each is decompressed at most once
 * for the block (the cache keeps the last ones for the next block); past DEC_REGION_VISITS
 * pieces visited, the rest in tuple order through the cache.
 */
static enum sdv_err dec_block_regions(struct sdv_delta_decoder *d, size_t ctrl_len)
{
    uint32_t skip[DELTA_REGION_CACHE_MAX], next;
    unsigned nskip = 0;
    uint64_t visits = 0;
    enum sdv_err err;

    if (d->sections.old_regions.n == 0)
        return SDV_OK;
    for (unsigned s = 0; s < d->rcache_n; s++)
        if (d->rcache_used[s] != 0)
            skip[nskip++] = d->rcache_idx[s];
    err = dec_region_walk(d, ctrl_len, DEC_WALK_CACHED, -1, skip, nskip, &next, &visits);
    while (err == SDV_OK && next != UINT32_MAX) {
        if (visits > DEC_REGION_VISITS)
            return dec_region_walk(d, ctrl_len, DEC_WALK_REST, (int64_t)next - 1, skip, nskip,
                                   &next, &visits);
        err = dec_region_walk(d, ctrl_len, DEC_WALK_ONE, next, skip, nskip, &next, &visits);
    }
    return err;
}

/* Checks every tuple of the block, then writes the block. */
/* Copies len bytes of the block's data buffer from *pos on into the output, flushing full I/O
 * pieces as it goes; the add part (old bytes already added in place) and the literal part of a
 * tuple both go out this way. */
static enum sdv_err dec_put_data(struct sdv_delta_decoder *d, size_t *pos, uint64_t len)
{
    while (len > 0) {
        size_t room = DELTA_IO_LEN - d->io_fill, n = len < room ? (size_t)len : room;

        memcpy(d->io + d->io_fill, d->data + *pos, n);
        d->io_fill += n;
        *pos += n;
        len -= n;
        if (d->io_fill == DELTA_IO_LEN && dec_flush(d) != SDV_OK)
            return d->err;
    }
    return SDV_OK;
}

static enum sdv_err dec_apply_block(struct sdv_delta_decoder *d)
{
    const struct delta_block_hdr *b = &d->blk;
    const size_t ctrl_len = b->s[SDV_DELTA_STREAM_CTRL].raw_len;
    const size_t diff_len = b->s[SDV_DELTA_STREAM_DIFF].raw_len;
    const size_t extra_len = b->s[SDV_DELTA_STREAM_EXTRA].raw_len;
    const uint64_t old_len = d->hdr.old_virt_len;
    uint64_t add, extra, pos = b->old_start, diff_left = diff_len, extra_left = extra_len;
    size_t cpos = 0, dpos = 0, epos = diff_len;
    int64_t seek;
    enum sdv_err err;

    /* Pass 1: validation. Each tuple takes at least 3 control bytes, so this loop is bounded by
     * ctrl_len / 3. */
    while (cpos < ctrl_len) {
        if (dec_tuple(d->ctrl, ctrl_len, &cpos, &add, &extra, &seek) != 0)
            return dec_failf(d, SDV_EPARSE, "block %llu: malformed control stream",
                             (unsigned long long)d->blocks_done);
        if (add > diff_left || extra > extra_left || add + extra == 0)
            return dec_failf(d, SDV_EPARSE,
                             "block %llu: control tuple lengths do not fit the block",
                             (unsigned long long)d->blocks_done);
        if (add > old_len - pos)
            return dec_failf(d, SDV_EPARSE, "block %llu: copy past the end of the old image",
                             (unsigned long long)d->blocks_done);
        pos += add;
        if (dec_seek(&pos, seek, old_len) != 0)
            return dec_failf(d, SDV_EPARSE, "block %llu: seek outside the old image",
                             (unsigned long long)d->blocks_done);
        diff_left -= add;
        extra_left -= extra;
    }
    if (diff_left != 0 || extra_left != 0)
        return dec_failf(d, SDV_EPARSE, "block %llu: control stream ends before its data",
                         (unsigned long long)d->blocks_done);

    /* Pass 2 adds the old bytes into the difference bytes in place (d->data), pass 3 those of
     * decompressed old regions region by region (not in tuple order), pass 4 writes the block.
     * The checks above make every read and copy below in bounds. */
    if (dec_flush(d) != SDV_OK)
        return d->err;
    err = dec_block_old(d, ctrl_len);
    if (err == SDV_OK)
        err = dec_block_regions(d, ctrl_len);
    if (err != SDV_OK)
        return d->state == DEC_FAILED ? err : dec_fail(d, err);
    cpos = 0;
    while (cpos < ctrl_len) {
        (void)dec_tuple(d->ctrl, ctrl_len, &cpos, &add, &extra, &seek);
        if (dec_put_data(d, &dpos, add) != SDV_OK || dec_put_data(d, &epos, extra) != SDV_OK)
            return d->err;
    }
    if (dec_flush(d) != SDV_OK)
        return d->err;
    d->blocks_done++;
    d->state = d->virt_off == d->hdr.new_virt_len ? DEC_DONE : DEC_BLOCK_PRE;
    d->pre_fill = 0;
    /* A checkpoint needs the output to end outside any new region (no buffered region). */
    if (d->checkpoint != NULL && d->r_fill == 0) {
        struct sdv_delta_checkpoint cp;

        memcpy(cp.header, d->hdr_raw, sizeof(cp.header));
        cp.patch_off = d->patch_off;
        cp.new_off = d->new_off;
        cp.blocks_done = d->blocks_done;
        cp.virt_off = d->virt_off;
        err = d->checkpoint(d->checkpoint_ud, &cp);
        if (err != SDV_OK)
            return dec_failf(d, err, "checkpoint after block %llu failed: %s",
                             (unsigned long long)d->blocks_done, sdv_strerror(err));
    }
    return SDV_OK;
}

/* Where stream i's received bytes go: straight to its raw place when stored. */
static uint8_t *dec_stream_dest(struct sdv_delta_decoder *d, unsigned i, int raw)
{
    const struct delta_block_hdr *b = &d->blk;

    if (!raw && b->s[i].codec != SDV_DELTA_CODEC_STORED)
        return d->comp;
    if (i == SDV_DELTA_STREAM_CTRL)
        return d->ctrl;
    if (i == SDV_DELTA_STREAM_DIFF)
        return d->data;
    return d->data + b->s[SDV_DELTA_STREAM_DIFF].raw_len;
}

/* Skips empty streams; applies the block once all its streams are in. */
static enum sdv_err dec_next_stream(struct sdv_delta_decoder *d)
{
    while (d->stream < SDV_DELTA_STREAMS && d->blk.s[d->stream].comp_len == 0)
        d->stream++;
    d->stream_fill = 0;
    if (d->stream < SDV_DELTA_STREAMS) {
        d->state = DEC_STREAM;
        return SDV_OK;
    }
    return dec_apply_block(d);
}

static enum sdv_err dec_stream_done(struct sdv_delta_decoder *d)
{
    const struct delta_stream_desc *s = &d->blk.s[d->stream];
    enum sdv_err err;

    if (s->codec != SDV_DELTA_CODEC_STORED) {
        err = delta_decompress(&d->dctx, s->codec, d->comp, s->comp_len,
                               dec_stream_dest(d, d->stream, 1), s->raw_len,
                               d->memory_max - d->mem_own - ZSTD_sizeof_DCtx(d->dctx.zstd),
                               d->errmsg, sizeof(d->errmsg));
        dec_note_peak(d);
        if (err != SDV_OK) {
            char why[sizeof(d->errmsg)];

            memcpy(why, d->errmsg, sizeof(why));
            return dec_failf(d, err, "block %llu: %s", (unsigned long long)d->blocks_done, why);
        }
    }
    d->stream++;
    return dec_next_stream(d);
}

enum sdv_err sdv_delta_decoder_feed(struct sdv_delta_decoder *d, const void *data, size_t len)
{
    const uint8_t *p = data;
    enum sdv_err err;

    if (d == NULL || (p == NULL && len > 0))
        return SDV_EINVAL;
    if (d->state == DEC_FAILED)
        return d->err;
    if (d->state == DEC_FINISHED)
        return dec_failf(d, SDV_EINVAL, "feed after finish");
    d->errmsg[0] = '\0';
    while (len > 0) {
        size_t n;

        switch (d->state) {
        case DEC_HEADER:
            n = SDV_DELTA_HEADER_LEN - d->hdr_fill;
            n = n < len ? n : len;
            memcpy(d->hdr_raw + d->hdr_fill, p, n);
            d->hdr_fill += n;
            p += n;
            len -= n;
            if (d->hdr_fill == SDV_DELTA_HEADER_LEN && (err = dec_start(d)) != SDV_OK)
                return err;
            break;
        case DEC_SECTION_HDR:
            n = DELTA_SECTION_HDR_LEN - d->sec_pre_fill;
            n = n < len ? n : len;
            memcpy(d->sec_pre + d->sec_pre_fill, p, n);
            d->sec_pre_fill += n;
            d->patch_off += n;
            p += n;
            len -= n;
            if (d->sec_pre_fill == DELTA_SECTION_HDR_LEN && (err = dec_section_hdr(d)) != SDV_OK)
                return err;
            break;
        case DEC_SECTION_BODY:
            n = d->sec.comp_len - d->sec_fill;
            n = n < len ? n : len;
            memcpy((d->sec.codec == SDV_DELTA_CODEC_STORED ? d->sec_raw + d->sec_raw_fill
                                                           : d->sec_comp) +
                           d->sec_fill,
                   p, n);
            d->sec_fill += n;
            d->patch_off += n;
            p += n;
            len -= n;
            if (d->sec_fill == d->sec.comp_len && (err = dec_section_done(d)) != SDV_OK)
                return err;
            break;
        case DEC_SKIP:
            n = d->skip_to - d->patch_off < len ? (size_t)(d->skip_to - d->patch_off) : len;
            d->patch_off += n;
            p += n;
            len -= n;
            if (d->patch_off == d->skip_to)
                d->state = d->virt_off == d->hdr.new_virt_len ? DEC_DONE : DEC_BLOCK_PRE;
            break;
        case DEC_BLOCK_PRE:
            n = DELTA_BLOCK_PREAMBLE_LEN - d->pre_fill;
            n = n < len ? n : len;
            memcpy(d->pre + d->pre_fill, p, n);
            d->pre_fill += n;
            d->patch_off += n;
            p += n;
            len -= n;
            if (d->pre_fill < DELTA_BLOCK_PREAMBLE_LEN)
                break;
            err = delta_block_hdr_parse(d->pre, &d->hdr, d->hdr.new_virt_len - d->virt_off, &d->blk,
                                        d->errmsg, sizeof(d->errmsg));
            if (err != SDV_OK) {
                char why[sizeof(d->errmsg)];

                memcpy(why, d->errmsg, sizeof(why));
                return dec_failf(d, err, "block %llu at patch offset %llu: %s",
                                 (unsigned long long)d->blocks_done,
                                 (unsigned long long)(d->patch_off - DELTA_BLOCK_PREAMBLE_LEN),
                                 why);
            }
            d->stream = 0;
            if ((err = dec_next_stream(d)) != SDV_OK)
                return err;
            break;
        case DEC_STREAM: {
            const struct delta_stream_desc *s = &d->blk.s[d->stream];

            n = s->comp_len - d->stream_fill;
            n = n < len ? n : len;
            memcpy(dec_stream_dest(d, d->stream, 0) + d->stream_fill, p, n);
            d->stream_fill += n;
            d->patch_off += n;
            p += n;
            len -= n;
            if (d->stream_fill == s->comp_len && (err = dec_stream_done(d)) != SDV_OK)
                return err;
            break;
        }
        case DEC_DONE:
            return dec_failf(d, SDV_EPARSE, "%zu unexpected bytes after the last block", len);
        case DEC_FINISHED:
        case DEC_FAILED:
            return d->err;
        }
    }
    return SDV_OK;
}

enum sdv_err sdv_delta_decoder_sink(void *ud, const void *data, size_t len)
{
    return sdv_delta_decoder_feed(ud, data, len);
}

enum sdv_err sdv_delta_decoder_finish(struct sdv_delta_decoder *d)
{
    uint8_t digest[32];
    enum sdv_err err;

    if (d == NULL)
        return SDV_EINVAL;
    if (d->state == DEC_FAILED)
        return d->err;
    if (d->state == DEC_FINISHED)
        return SDV_OK;
    if (d->state != DEC_DONE) {
        if (!d->have_hdr)
            return dec_failf(d, SDV_EPARSE, "patch truncated in its header (%zu of %u bytes)",
                             d->hdr_fill, SDV_DELTA_HEADER_LEN);
        return dec_failf(d, SDV_EPARSE,
                         "patch truncated after %llu of %llu new bytes (patch offset %llu)",
                         (unsigned long long)d->virt_off, (unsigned long long)d->hdr.new_virt_len,
                         (unsigned long long)d->patch_off);
    }
    err = sdv_hash_final(d->hash, digest);
    if (err != SDV_OK)
        return dec_fail(d, err);
    if (memcmp(digest, d->hdr.new_sha256, sizeof(digest)) != 0)
        return dec_failf(d, SDV_EHASH, "the new image does not match the patch's sha256");
    d->state = DEC_FINISHED;
    return SDV_OK;
}

enum sdv_err sdv_delta_decoder_resume(struct sdv_delta_decoder *d,
                                      const struct sdv_delta_checkpoint *cp,
                                      sdv_delta_read_fn out_read, void *out_ud)
{
    enum sdv_err err;

    if (d == NULL || cp == NULL || out_read == NULL)
        return SDV_EINVAL;
    if (d->state != DEC_HEADER || d->hdr_fill != 0)
        return dec_failf(d, SDV_EINVAL, "resume must come before any feed");
    memcpy(d->hdr_raw, cp->header, SDV_DELTA_HEADER_LEN);
    d->hdr_fill = SDV_DELTA_HEADER_LEN;
    err = dec_start(d);
    if (err != SDV_OK)
        return err;
    if (cp->new_off > d->hdr.new_len || cp->virt_off > d->hdr.new_virt_len ||
        cp->patch_off < SDV_DELTA_HEADER_LEN || (cp->virt_off == 0) != (cp->blocks_done == 0))
        return dec_failf(d, SDV_EPARSE, "checkpoint does not fit its patch header");
    err = dec_hash_image(d, out_read, out_ud, cp->new_off);
    if (err != SDV_OK)
        return dec_failf(d, err, "cannot read back the new image written so far: %s",
                         sdv_strerror(err));
    d->new_off = cp->new_off;
    d->virt_off = cp->virt_off;
    d->blocks_done = cp->blocks_done;
    if (d->hdr.section_count > 0) {
        /* The sections are read again from the patch; the blocks before the checkpoint are
         * then skipped. */
        d->resuming = 1;
        d->skip_to = cp->patch_off;
        return SDV_OK;
    }
    d->patch_off = cp->patch_off;
    d->state = d->virt_off == d->hdr.new_virt_len ? DEC_DONE : DEC_BLOCK_PRE;
    return SDV_OK;
}

const struct sdv_delta_header *sdv_delta_decoder_header(const struct sdv_delta_decoder *d)
{
    return d != NULL && d->have_hdr ? &d->hdr : NULL;
}

uint64_t sdv_delta_decoder_want_off(const struct sdv_delta_decoder *d)
{
    if (d == NULL)
        return 0;
    return d->state == DEC_SKIP ? d->skip_to : d->patch_off;
}

uint64_t sdv_delta_decoder_new_off(const struct sdv_delta_decoder *d)
{
    return d != NULL ? d->new_off : 0;
}

size_t sdv_delta_decoder_memory_peak(const struct sdv_delta_decoder *d)
{
    return d != NULL ? d->mem_peak : 0;
}

const char *sdv_delta_decoder_errmsg(const struct sdv_delta_decoder *d)
{
    return d != NULL ? d->errmsg : "";
}
