/*
 * test_delta_region.c - compressed regions (format version 2): images holding xz streams (the
 * single-call encoder as mksquashfs uses it, and the streaming encoder of the xz tool), zstd
 * frames (known size and streamed) and gzip members among random bytes; a changed stream is
 * recompressed on the device, an unchanged one stays bytes, one no parameter set reproduces
 * stays bytes; a patch whose region hash was altered fails at that region with both sides'
 * library versions and never completes; hostile region tables are refused; resumption from every
 * checkpoint of a patch with regions; the decoder's memory stays within its limit.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include <sdv/crypto.h>
#include <sdv/delta.h>

#include "delta_int.h"
#include "delta_region.h"

/* ---- Helpers ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1u;

    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rng_next(&s) >> 56);
}

/* Compressible text from a small vocabulary. */
static void fill_text(uint8_t *p, size_t n, uint64_t seed)
{
    static const char *const words[] = {"delta",  "region", "squash", "block", "vehicle",
                                        "update", "stream", "device", "patch", "image"};
    uint64_t s = seed | 1u;
    size_t i = 0;

    while (i < n) {
        const char *w = words[rng_next(&s) % 10];

        while (*w != '\0' && i < n)
            p[i++] = (uint8_t)*w++;
        if (i < n)
            p[i++] = (rng_next(&s) % 8 == 0) ? '\n' : ' ';
    }
}

enum kind {
    K_XZ_BUFFER, /* lzma_stream_buffer_encode, preset 6, dict 128 KiB, CRC32 (mksquashfs) */
    K_XZ_STREAM, /* lzma_easy_encoder preset 6, CRC64 (the xz tool: 8 MiB dictionary) */
    K_ZSTD,      /* ZSTD_compress2 level 19 with checksum and content size */
    K_ZSTD_PIPE, /* level 3, streamed: no content size */
    K_GZIP,      /* gzip member, deflate level 9, with a file name */
    K_XZ_ODD,    /* xz with LZMA options no preset has: not reproducible */
};

/* Appends src compressed as kind to out. */
static void put_compressed(struct sdv_buf *out, enum kind k, const uint8_t *src, size_t len)
{
    size_t cap = len + len / 2 + 1024, pos = 0;
    uint8_t *dst = malloc(cap);
    lzma_options_lzma opt;
    lzma_filter f[2];

    assert_non_null(dst);
    if (k == K_XZ_BUFFER || k == K_XZ_ODD) {
        assert_false(lzma_lzma_preset(&opt, 6));
        opt.dict_size = 128u * 1024u;
        if (k == K_XZ_ODD)
            opt.nice_len = 100;
        f[0].id = LZMA_FILTER_LZMA2;
        f[0].options = &opt;
        f[1].id = LZMA_VLI_UNKNOWN;
        assert_int_equal(
                lzma_stream_buffer_encode(f, LZMA_CHECK_CRC32, NULL, src, len, dst, &pos, cap),
                LZMA_OK);
    } else if (k == K_XZ_STREAM) {
        assert_int_equal(
                lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, src, len, dst, &pos, cap),
                LZMA_OK);
    } else if (k == K_ZSTD || k == K_ZSTD_PIPE) {
        ZSTD_CCtx *z = ZSTD_createCCtx();

        assert_non_null(z);
        ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, k == K_ZSTD ? 19 : 3);
        ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
        if (k == K_ZSTD) {
            pos = ZSTD_compress2(z, dst, cap, src, len);
        } else {
            ZSTD_inBuffer in = {src, len, 0};
            ZSTD_outBuffer o = {dst, cap, 0};

            assert_false(ZSTD_isError(ZSTD_compressStream2(z, &o, &in, ZSTD_e_continue)));
            while (ZSTD_compressStream2(z, &o, &in, ZSTD_e_end) != 0)
                ;
            pos = o.pos;
        }
        assert_false(ZSTD_isError(pos));
        ZSTD_freeCCtx(z);
    } else {
        static const uint8_t hdr[] = {0x1f, 0x8b, 0x08, 0x08, 0,   0,   0,   0,
                                      2,    3,    'f',  '.',  't', 'x', 't', 0};
        z_stream zs;
        uint8_t tr[8];

        memset(&zs, 0, sizeof(zs));
        assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_in = (Bytef *)(uintptr_t)src;
        zs.avail_in = (uInt)len;
        zs.next_out = dst;
        zs.avail_out = (uInt)cap;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        pos = zs.total_out;
        deflateEnd(&zs);
        assert_int_equal(sdv_buf_append(out, hdr, sizeof(hdr)), SDV_OK);
        assert_int_equal(sdv_buf_append(out, dst, pos), SDV_OK);
        delta_put_u32(tr, (uint32_t)crc32(0, src, (uInt)len));
        delta_put_u32(tr + 4, (uint32_t)len);
        assert_int_equal(sdv_buf_append(out, tr, sizeof(tr)), SDV_OK);
        free(dst);
        return;
    }
    assert_int_equal(sdv_buf_append(out, dst, pos), SDV_OK);
    free(dst);
}

static void put_random(struct sdv_buf *out, size_t len, uint64_t seed)
{
    uint8_t *p = malloc(len);

    assert_non_null(p);
    fill_random(p, len, seed);
    assert_int_equal(sdv_buf_append(out, p, len), SDV_OK);
    free(p);
}

/*
 * Builds OLD and NEW: random bytes around one compressed stream of kind k, whose 100 KB text is
 * edited in NEW when change is set; plus a second, identical stream in both.
 */
static void build_pair(enum kind k, int change, struct sdv_buf *old, struct sdv_buf *new_img)
{
    const size_t tlen = 100000;
    uint8_t *t = malloc(tlen), *t2 = malloc(tlen), *same = malloc(tlen);

    assert_non_null(t);
    assert_non_null(t2);
    assert_non_null(same);
    fill_text(t, tlen, 7);
    memcpy(t2, t, tlen);
    if (change)
        memcpy(t2 + 5000, "CHANGED BY THE UPDATE", 21);
    fill_text(same, tlen, 8);
    sdv_buf_init(old, 1u << 24);
    sdv_buf_init(new_img, 1u << 24);
    put_random(old, 3000, 1);
    put_random(new_img, 3000, 1);
    put_compressed(old, k, t, tlen);
    put_compressed(new_img, k, t2, tlen);
    put_random(old, 2000, 2);
    put_random(new_img, 2100, 3);
    put_compressed(old, K_XZ_BUFFER, same, tlen);
    put_compressed(new_img, K_XZ_BUFFER, same, tlen);
    put_random(old, 500, 4);
    put_random(new_img, 500, 4);
    free(t);
    free(t2);
    free(same);
}

static enum sdv_err buf_sink(void *ud, const void *p, size_t n)
{
    return sdv_buf_append(ud, p, n);
}

struct img {
    const uint8_t *p;
    size_t len;
};

static enum sdv_err mem_read(void *ud, uint64_t off, void *buf, size_t len)
{
    const struct img *m = ud;

    if (off > m->len || len > m->len - off)
        return SDV_EIO;
    memcpy(buf, m->p + off, len);
    return SDV_OK;
}

static void encode(const struct sdv_buf *old, const struct sdv_buf *new_img, struct sdv_buf *patch,
                   struct sdv_delta_stats *st)
{
    struct sdv_delta_encode_opts o;

    memset(&o, 0, sizeof(o));
    o.threads = 2;
    sdv_buf_init(patch, 1u << 26);
    assert_int_equal(sdv_delta_encode(old->data, old->len, new_img->data, new_img->len, &o,
                                      buf_sink, patch, st),
                     SDV_OK);
}

/* Applies patch to old in chunks of chunk bytes; returns the error of feed or finish. */
static enum sdv_err apply(const struct sdv_buf *old, const uint8_t *patch, size_t patch_len,
                          size_t chunk, size_t memory_max, struct sdv_buf *out, char *msg,
                          size_t msg_len)
{
    struct img oi = {old->data, old->len};
    struct sdv_delta_decoder_limits lim;
    struct sdv_delta_decoder *dec = NULL;
    enum sdv_err err = SDV_OK;

    memset(&lim, 0, sizeof(lim));
    lim.memory_max = memory_max;
    sdv_buf_init(out, 1u << 26);
    assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, buf_sink, out, &lim, &dec), SDV_OK);
    for (size_t off = 0; off < patch_len && err == SDV_OK; off += chunk)
        err = sdv_delta_decoder_feed(dec, patch + off,
                                     patch_len - off < chunk ? patch_len - off : chunk);
    if (err == SDV_OK)
        err = sdv_delta_decoder_finish(dec);
    if (msg != NULL)
        snprintf(msg, msg_len, "%s", sdv_delta_decoder_errmsg(dec));
    assert_true(sdv_delta_decoder_memory_peak(dec) <=
                (memory_max != 0 ? memory_max : SDV_DELTA_DECODER_MEMORY_MAX));
    sdv_delta_decoder_destroy(dec);
    return err;
}

/* Round trip of one kind: returns the stats of the patch. */
static void round_trip(enum kind k, int change, struct sdv_delta_stats *st)
{
    struct sdv_buf old, new_img, patch, out;
    struct img pi;
    struct sdv_delta_header h;
    struct sdv_delta_stats info;

    build_pair(k, change, &old, &new_img);
    encode(&old, &new_img, &patch, st);
    assert_int_equal(apply(&old, patch.data, patch.len, 4093, 0, &out, NULL, 0), SDV_OK);
    assert_int_equal(out.len, new_img.len);
    assert_memory_equal(out.data, new_img.data, new_img.len);
    /* info reads the same regions back. */
    pi.p = patch.data;
    pi.len = patch.len;
    assert_int_equal(sdv_delta_info(mem_read, &pi, patch.len, &h, &info, NULL, 0), SDV_OK);
    assert_int_equal(info.new_regions, st->new_regions);
    assert_int_equal(info.old_regions, st->old_regions);
    assert_int_equal(info.patch_len, patch.len);
    if (st->new_regions > 0)
        assert_non_null(strstr(info.codec_versions, "liblzma"));
    sdv_buf_free(&old);
    sdv_buf_free(&new_img);
    sdv_buf_free(&patch);
    sdv_buf_free(&out);
}

/* ---- Tests ---- */

/* Every reproducible kind: the changed stream becomes a region recompressed on the device, and
 * the patch is far smaller than the changed stream's compressed bytes. */
static void test_kinds(void **state)
{
    static const enum kind kinds[] = {K_XZ_BUFFER, K_XZ_STREAM, K_ZSTD, K_ZSTD_PIPE, K_GZIP};

    (void)state;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct sdv_delta_stats st;

        round_trip(kinds[i], 1, &st);
        assert_int_equal(st.new_regions, 1);
        assert_int_equal(st.old_regions, 1); /* the changed one; the identical one is reused */
        assert_true(st.new_regions_len > 10000);
        assert_true(st.patch_len < 2500 + 2100 + 2000);
    }
}

/* A stream no trial reproduces stays bytes: still a correct, if larger, patch. */
static void test_not_reproducible(void **state)
{
    struct sdv_delta_stats st;

    (void)state;
    round_trip(K_XZ_ODD, 1, &st);
    assert_int_equal(st.new_regions, 0);
    assert_true(st.regions_kept_raw >= 1);
}

/* Identical streams need no work on the device: no new region at all. */
static void test_unchanged(void **state)
{
    struct sdv_delta_stats st;

    (void)state;
    round_trip(K_XZ_BUFFER, 0, &st);
    assert_int_equal(st.new_regions, 0);
    assert_int_equal(st.old_regions, 0);
    assert_true(st.patch_len < 4000);
}

/* The offset of section `type` in patch (its 12-byte header), or 0. */
static size_t find_section(const struct sdv_buf *patch, uint8_t type, struct delta_section_hdr *sh)
{
    struct sdv_delta_header h;
    size_t off = SDV_DELTA_HEADER_LEN;

    assert_int_equal(sdv_delta_header_parse(patch->data, patch->len, &h, NULL, 0), SDV_OK);
    for (unsigned i = 0; i < h.section_count; i++) {
        sh->type = patch->data[off];
        sh->codec = patch->data[off + 1];
        sh->raw_len = delta_get_u32(patch->data + off + 4);
        sh->comp_len = delta_get_u32(patch->data + off + 8);
        if (sh->type == type)
            return off;
        off += DELTA_SECTION_HDR_LEN + sh->comp_len;
    }
    return 0;
}

/* Rewrites section `type` of patch as stored bytes after edit() changed its raw form. */
static void rewrite_section(struct sdv_buf *patch, uint8_t type,
                            void (*edit)(uint8_t *raw, size_t len))
{
    struct delta_section_hdr sh;
    struct delta_dctx dctx;
    struct sdv_buf np;
    size_t off = find_section(patch, type, &sh), end;
    uint8_t *raw, hdr[DELTA_SECTION_HDR_LEN];

    assert_true(off > 0);
    raw = malloc(sh.raw_len);
    assert_non_null(raw);
    if (sh.codec == SDV_DELTA_CODEC_STORED) {
        memcpy(raw, patch->data + off + DELTA_SECTION_HDR_LEN, sh.raw_len);
    } else {
        assert_int_equal(delta_dctx_init(&dctx), SDV_OK);
        assert_int_equal(delta_decompress(&dctx, sh.codec,
                                          patch->data + off + DELTA_SECTION_HDR_LEN, sh.comp_len,
                                          raw, sh.raw_len, 1u << 24, NULL, 0),
                         SDV_OK);
        delta_dctx_free(&dctx);
    }
    edit(raw, sh.raw_len);
    end = off + DELTA_SECTION_HDR_LEN + sh.comp_len;
    sh.codec = SDV_DELTA_CODEC_STORED;
    sh.comp_len = sh.raw_len;
    delta_section_hdr_write(&sh, hdr);
    sdv_buf_init(&np, 1u << 26);
    assert_int_equal(sdv_buf_append(&np, patch->data, off), SDV_OK);
    assert_int_equal(sdv_buf_append(&np, hdr, sizeof(hdr)), SDV_OK);
    assert_int_equal(sdv_buf_append(&np, raw, sh.raw_len), SDV_OK);
    assert_int_equal(sdv_buf_append(&np, patch->data + end, patch->len - end), SDV_OK);
    sdv_buf_free(patch);
    *patch = np;
    free(raw);
}

/* New region table: 1 + vlen version bytes, count, then entries; the hash is the last 8 bytes. */
static void alter_hash(uint8_t *raw, size_t len)
{
    (void)len;
    raw[1 + raw[0] + 4 + DELTA_REGION_NEW_ENTRY_LEN - 1] ^= 1;
}

static void alter_old_dlen(uint8_t *raw, size_t len)
{
    (void)len;
    raw[4 + 12] ^= 1; /* first entry's decompressed length */
}

static void alter_old_kind(uint8_t *raw, size_t len)
{
    (void)len;
    raw[4 + 16] = DELTA_REGION_ZSTD; /* an xz stream announced as zstd */
}

static void alter_params(uint8_t *raw, size_t len)
{
    (void)len;
    raw[1 + raw[0] + 4 + 17 + 2] = 0x7f; /* preset 127 */
}

/* A region whose recompression does not match (as with another library version): the decoder
 * stops at that region, names both sides' libraries, and the output is never complete. */
static void test_region_mismatch(void **state)
{
    struct sdv_buf old, new_img, patch, out;
    struct sdv_delta_stats st;
    char msg[256];

    (void)state;
    build_pair(K_XZ_BUFFER, 1, &old, &new_img);
    encode(&old, &new_img, &patch, &st);
    assert_int_equal(st.new_regions, 1);
    rewrite_section(&patch, DELTA_SECTION_NEW_REGIONS, alter_hash);
    assert_int_equal(apply(&old, patch.data, patch.len, 65536, 0, &out, msg, sizeof(msg)),
                     SDV_EHASH);
    assert_non_null(strstr(msg, "new region 0"));
    assert_non_null(strstr(msg, "this device has liblzma"));
    assert_non_null(strstr(msg, "made with liblzma"));
    assert_true(out.len <= 3000); /* nothing from the region on */
    sdv_buf_free(&out);
    sdv_buf_free(&patch);
    sdv_buf_free(&old);
    sdv_buf_free(&new_img);
}

/* Hostile region tables: refused with a reason before any output. */
static void test_hostile_tables(void **state)
{
    void (*edits[])(uint8_t *, size_t) = {alter_old_dlen, alter_old_kind, alter_params};
    const uint8_t types[] = {DELTA_SECTION_OLD_REGIONS, DELTA_SECTION_OLD_REGIONS,
                             DELTA_SECTION_NEW_REGIONS};

    (void)state;
    for (size_t i = 0; i < sizeof(types); i++) {
        struct sdv_buf old, new_img, patch, out;
        struct sdv_delta_stats st;
        char msg[256];
        enum sdv_err err;

        build_pair(K_XZ_BUFFER, 1, &old, &new_img);
        encode(&old, &new_img, &patch, &st);
        rewrite_section(&patch, types[i], edits[i]);
        err = apply(&old, patch.data, patch.len, 777, 0, &out, msg, sizeof(msg));
        assert_int_not_equal(err, SDV_OK);
        assert_true(msg[0] != '\0');
        if (i < 2) /* a wrong OLD' is caught by the section check or the decompression */
            assert_true(out.len < new_img.len);
        else
            assert_int_equal(out.len, 0);
        sdv_buf_free(&out);
        sdv_buf_free(&patch);
        sdv_buf_free(&old);
        sdv_buf_free(&new_img);
    }
}

/* An unknown section type is unsupported, not malformed. */
static void test_unknown_section(void **state)
{
    struct sdv_buf old, new_img, patch, out;
    struct sdv_delta_stats st;
    struct delta_section_hdr sh;
    size_t off;

    (void)state;
    build_pair(K_GZIP, 1, &old, &new_img);
    encode(&old, &new_img, &patch, &st);
    off = find_section(&patch, DELTA_SECTION_OLD_REGIONS, &sh);
    assert_true(off > 0);
    patch.data[off] = 200;
    assert_int_equal(apply(&old, patch.data, patch.len, 100, 0, &out, NULL, 0), SDV_EUNSUPPORTED);
    assert_int_equal(out.len, 0);
    sdv_buf_free(&out);
    sdv_buf_free(&patch);
    sdv_buf_free(&old);
    sdv_buf_free(&new_img);
}

/* A memory limit the regions do not fit in: refused before any output. */
static void test_memory_refused(void **state)
{
    struct sdv_buf old, new_img, patch, out;
    struct sdv_delta_stats st;
    char msg[256];

    (void)state;
    build_pair(K_XZ_BUFFER, 1, &old, &new_img);
    encode(&old, &new_img, &patch, &st);
    assert_int_equal(apply(&old, patch.data, patch.len, 4096, 1u << 20, &out, msg, sizeof(msg)),
                     SDV_ETOOBIG);
    assert_int_equal(out.len, 0);
    sdv_buf_free(&out);
    sdv_buf_free(&patch);
    sdv_buf_free(&old);
    sdv_buf_free(&new_img);
}

/*
 * Copy runs that hop between many old regions within one block (a new stream made of 1 KiB pieces
 * of 12 old streams, round robin): the decoder reads them region by region and adds them in place,
 * and the image is exact with the default limit and with the smallest limit that applies (two
 * cache slots: every block needs more regions than it can hold).
 */
static void test_region_hops(void **state)
{
    enum { NSTREAMS = 12, TLEN = 24 * 1024, PIECE = 1024 };
    struct sdv_buf old, new_img, patch, out;
    struct sdv_delta_stats st;
    uint8_t *t = malloc((size_t)NSTREAMS * TLEN), *mix = malloc((size_t)NSTREAMS * TLEN);
    size_t limit, n = 0;

    (void)state;
    assert_non_null(t);
    assert_non_null(mix);
    sdv_buf_init(&old, 1u << 24);
    sdv_buf_init(&new_img, 1u << 24);
    for (unsigned i = 0; i < NSTREAMS; i++) {
        fill_text(t + (size_t)i * TLEN, TLEN, 100 + i);
        put_random(&old, 1000, 200 + i);
        put_compressed(&old, K_XZ_BUFFER, t + (size_t)i * TLEN, TLEN);
    }
    for (size_t j = 0; n < (size_t)NSTREAMS * TLEN; j++, n += PIECE)
        memcpy(mix + n, t + (j % NSTREAMS) * TLEN + (j / NSTREAMS) * PIECE, PIECE);
    memcpy(mix + 3000, "CHANGED BY THE UPDATE", 21);
    put_random(&new_img, 1000, 300);
    put_compressed(&new_img, K_XZ_BUFFER, mix, n);
    encode(&old, &new_img, &patch, &st);
    assert_int_equal(st.new_regions, 1);
    assert_true(st.old_regions >= NSTREAMS / 2);
    assert_int_equal(apply(&old, patch.data, patch.len, 4093, 0, &out, NULL, 0), SDV_OK);
    assert_int_equal(out.len, new_img.len);
    assert_memory_equal(out.data, new_img.data, new_img.len);
    sdv_buf_free(&out);
    for (limit = 256u * 1024u; limit < SDV_DELTA_DECODER_MEMORY_MAX; limit += 16u * 1024u) {
        if (apply(&old, patch.data, patch.len, 65536, limit, &out, NULL, 0) == SDV_OK)
            break;
        sdv_buf_free(&out);
    }
    assert_true(limit < SDV_DELTA_DECODER_MEMORY_MAX);
    assert_int_equal(out.len, new_img.len);
    assert_memory_equal(out.data, new_img.data, new_img.len);
    sdv_buf_free(&out);
    sdv_buf_free(&patch);
    sdv_buf_free(&old);
    sdv_buf_free(&new_img);
    free(t);
    free(mix);
}

struct ckpt_log {
    uint8_t cps[64][SDV_DELTA_CHECKPOINT_LEN];
    unsigned count;
};

static enum sdv_err ckpt_save(void *ud, const struct sdv_delta_checkpoint *cp)
{
    struct ckpt_log *l = ud;

    if (l->count < 64)
        assert_int_equal(sdv_delta_checkpoint_encode(cp, l->cps[l->count++]), SDV_OK);
    return SDV_OK;
}

/* Every checkpoint of a patch with regions (small blocks, so several fall inside and between
 * regions) resumes to the same image; sections are read again from want_off. */
static void test_resume_regions(void **state)
{
    struct sdv_buf old, new_img, patch, out;
    struct sdv_delta_encode_opts o;
    struct sdv_delta_decoder_limits lim;
    struct sdv_delta_decoder *dec = NULL;
    struct img oi, outi;
    struct ckpt_log *log = calloc(1, sizeof(*log));

    (void)state;
    assert_non_null(log);
    build_pair(K_GZIP, 1, &old, &new_img);
    memset(&o, 0, sizeof(o));
    o.block_len = 16384;
    sdv_buf_init(&patch, 1u << 26);
    assert_int_equal(sdv_delta_encode(old.data, old.len, new_img.data, new_img.len, &o, buf_sink,
                                      &patch, NULL),
                     SDV_OK);
    oi.p = old.data;
    oi.len = old.len;
    memset(&lim, 0, sizeof(lim));
    lim.checkpoint = ckpt_save;
    lim.checkpoint_ud = log;
    sdv_buf_init(&out, 1u << 26);
    assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, buf_sink, &out, &lim, &dec), SDV_OK);
    assert_int_equal(sdv_delta_decoder_feed(dec, patch.data, patch.len), SDV_OK);
    assert_int_equal(sdv_delta_decoder_finish(dec), SDV_OK);
    sdv_delta_decoder_destroy(dec);
    assert_true(log->count >= 2);
    for (unsigned k = 0; k < log->count; k++) {
        struct sdv_delta_checkpoint cp;
        struct sdv_buf out2;
        uint64_t want;

        assert_int_equal(sdv_delta_checkpoint_decode(log->cps[k], SDV_DELTA_CHECKPOINT_LEN, &cp),
                         SDV_OK);
        /* The output as it was at the checkpoint. */
        sdv_buf_init(&out2, 1u << 26);
        assert_int_equal(sdv_buf_append(&out2, new_img.data, cp.new_off), SDV_OK);
        outi.p = new_img.data;
        outi.len = cp.new_off;
        assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, buf_sink, &out2, NULL, &dec),
                         SDV_OK);
        assert_int_equal(sdv_delta_decoder_resume(dec, &cp, mem_read, &outi), SDV_OK);
        want = sdv_delta_decoder_want_off(dec);
        assert_int_equal(want, SDV_DELTA_HEADER_LEN); /* the sections come again */
        assert_int_equal(sdv_delta_decoder_feed(dec, patch.data + want, patch.len - want), SDV_OK);
        assert_int_equal(sdv_delta_decoder_finish(dec), SDV_OK);
        assert_int_equal(out2.len, new_img.len);
        assert_memory_equal(out2.data, new_img.data, new_img.len);
        sdv_delta_decoder_destroy(dec);
        sdv_buf_free(&out2);
    }
    free(log);
    sdv_buf_free(&out);
    sdv_buf_free(&patch);
    sdv_buf_free(&old);
    sdv_buf_free(&new_img);
}

/* The patch does not depend on the number of threads (parameters found included). */
static void test_threads_deterministic(void **state)
{
    struct sdv_buf old, new_img, p1, p3;
    struct sdv_delta_encode_opts o;

    (void)state;
    /* 80 small deflate streams (more than two workers' chunks of 32), levels 1 and 9 in turn
     * with a neutral XFL, so that which parameters are tried first matters. */
    sdv_buf_init(&old, 1u << 24);
    sdv_buf_init(&new_img, 1u << 24);
    for (unsigned i = 0; i < 80; i++) {
        uint8_t t[3000], c[4000];
        z_stream zs;

        for (int side = 0; side < 2; side++) {
            struct sdv_buf *b = side == 0 ? &old : &new_img;
            static const uint8_t hdr[] = {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3};
            uint8_t tr[8];

            fill_text(t, sizeof(t), 100 + i);
            if (side == 1)
                t[1000] = '#';
            memset(&zs, 0, sizeof(zs));
            assert_int_equal(deflateInit2(&zs, i % 2 ? 9 : 1, Z_DEFLATED, -15, 8, 0), Z_OK);
            zs.next_in = t;
            zs.avail_in = sizeof(t);
            zs.next_out = c;
            zs.avail_out = sizeof(c);
            assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
            delta_put_u32(tr, (uint32_t)crc32(0, t, sizeof(t)));
            delta_put_u32(tr + 4, sizeof(t));
            assert_int_equal(sdv_buf_append(b, hdr, sizeof(hdr)), SDV_OK);
            assert_int_equal(sdv_buf_append(b, c, zs.total_out), SDV_OK);
            assert_int_equal(sdv_buf_append(b, tr, sizeof(tr)), SDV_OK);
            deflateEnd(&zs);
            put_random(b, 100, i);
        }
    }
    memset(&o, 0, sizeof(o));
    o.threads = 1;
    sdv_buf_init(&p1, 1u << 26);
    sdv_buf_init(&p3, 1u << 26);
    assert_int_equal(
            sdv_delta_encode(old.data, old.len, new_img.data, new_img.len, &o, buf_sink, &p1, NULL),
            SDV_OK);
    o.threads = 3;
    assert_int_equal(
            sdv_delta_encode(old.data, old.len, new_img.data, new_img.len, &o, buf_sink, &p3, NULL),
            SDV_OK);
    assert_int_equal(p1.len, p3.len);
    assert_memory_equal(p1.data, p3.data, p1.len);
    {
        struct img pi = {p1.data, p1.len};
        struct sdv_delta_header h;
        struct sdv_delta_stats st;

        assert_int_equal(sdv_delta_info(mem_read, &pi, p1.len, &h, &st, NULL, 0), SDV_OK);
        assert_int_equal(st.new_regions, 80);
    }
    sdv_buf_free(&p1);
    sdv_buf_free(&p3);
    sdv_buf_free(&old);
    sdv_buf_free(&new_img);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_kinds),          cmocka_unit_test(test_not_reproducible),
            cmocka_unit_test(test_unchanged),      cmocka_unit_test(test_region_mismatch),
            cmocka_unit_test(test_hostile_tables), cmocka_unit_test(test_unknown_section),
            cmocka_unit_test(test_memory_refused), cmocka_unit_test(test_region_hops),
            cmocka_unit_test(test_resume_regions), cmocka_unit_test(test_threads_deterministic),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
