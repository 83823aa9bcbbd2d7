/*
 * test_delta.c - unit tests of lib/delta: round trips (empty, identical, unrelated, edited and
 * shifted inputs, every codec, sizes around block boundaries), a 64 MB image streamed through the
 * decoder in chunks of 1 byte to 64 KiB within the memory bound, a wrong base refused before any
 * write, truncated, bit-flipped and hand-made hostile patches refused with a reason, resumption
 * from a checkpoint, and deterministic output whatever the number of threads.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/crypto.h>
#include <sdv/delta.h>

#include "delta_int.h"

/* ---- Helpers ---- */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: deterministic test data. */
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

/* Something like a program image: text, tables of increasing 32-bit pointers, and random runs. */
static void fill_structured(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1u;
    size_t i = 0;
    uint32_t ptr = 0x400000;

    while (i < n) {
        unsigned kind = (unsigned)(rng_next(&s) % 3), run = 64 + (unsigned)(rng_next(&s) % 4096);

        for (unsigned k = 0; k < run && i < n; k++, i++) {
            if (kind == 0) {
                p[i] = (uint8_t)("the quick brown fox jumps over the lazy dog\n"[k % 44]);
            } else if (kind == 1) {
                if (k % 4 == 0)
                    ptr += 8 + (uint32_t)(rng_next(&s) % 64);
                p[i] = (uint8_t)(ptr >> (8 * (k % 4)));
            } else {
                p[i] = (uint8_t)(rng_next(&s) >> 56);
            }
        }
    }
}

static enum sdv_err buf_sink(void *ud, const void *data, size_t len)
{
    return sdv_buf_append(ud, data, len);
}

struct mem_image {
    const uint8_t *data;
    size_t len;
};

static enum sdv_err mem_read(void *ud, uint64_t off, void *buf, size_t len)
{
    const struct mem_image *m = ud;

    if (off > m->len || len > m->len - off)
        return SDV_EIO;
    memcpy(buf, m->data + off, len);
    return SDV_OK;
}

static void encode(const uint8_t *old, size_t old_len, const uint8_t *new_data, size_t new_len,
                   const struct sdv_delta_encode_opts *opts, struct sdv_buf *patch,
                   struct sdv_delta_stats *st)
{
    sdv_buf_init(patch, (size_t)1 << 30);
    assert_int_equal(sdv_delta_encode(old, old_len, new_data, new_len, opts, buf_sink, patch, st),
                     SDV_OK);
}

/* Decodes patch against old, feeding chunks of 1..chunk_max bytes (random when seed != 0);
 * returns the first error and leaves the output in out. */
static enum sdv_err decode(const uint8_t *old, size_t old_len, const uint8_t *patch,
                           size_t patch_len, size_t chunk_max, uint64_t seed, struct sdv_buf *out,
                           size_t *peak)
{
    struct mem_image oi = {old, old_len};
    struct sdv_delta_decoder *dec = NULL;
    uint64_t s = seed | 1u;
    size_t off = 0;
    enum sdv_err err;

    sdv_buf_init(out, (size_t)1 << 30);
    assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, buf_sink, out, NULL, &dec), SDV_OK);
    err = SDV_OK;
    while (off < patch_len && err == SDV_OK) {
        size_t n = seed != 0 ? 1 + (size_t)(rng_next(&s) % chunk_max) : chunk_max;

        n = n < patch_len - off ? n : patch_len - off;
        err = sdv_delta_decoder_feed(dec, patch + off, n);
        off += n;
    }
    if (err == SDV_OK)
        err = sdv_delta_decoder_finish(dec);
    if (err != SDV_OK)
        assert_true(sdv_delta_decoder_errmsg(dec)[0] != '\0');
    if (peak != NULL)
        *peak = sdv_delta_decoder_memory_peak(dec);
    assert_true(sdv_delta_decoder_memory_peak(dec) <= SDV_DELTA_DECODER_MEMORY_MAX);
    sdv_delta_decoder_destroy(dec);
    return err;
}

/* Diff then apply (whole patch and 1..4 KiB random chunks); returns the patch size. */
static size_t round_trip(const uint8_t *old, size_t old_len, const uint8_t *new_data,
                         size_t new_len, const struct sdv_delta_encode_opts *opts)
{
    struct sdv_buf patch, out;
    struct sdv_delta_stats st, st2;
    struct sdv_delta_header h;
    struct mem_image pi;
    size_t len;

    encode(old, old_len, new_data, new_len, opts, &patch, &st);
    assert_int_equal(st.patch_len, patch.len);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(decode(old, old_len, patch.data, patch.len, pass == 0 ? patch.len : 4096,
                                (uint64_t)pass * 77, &out, NULL),
                         SDV_OK);
        assert_int_equal(out.len, new_len);
        if (new_len > 0)
            assert_memory_equal(out.data, new_data, new_len);
        sdv_buf_free(&out);
    }
    pi.data = patch.data;
    pi.len = patch.len;
    assert_int_equal(sdv_delta_info(mem_read, &pi, patch.len, &h, &st2, NULL, 0), SDV_OK);
    assert_int_equal(h.old_len, old_len);
    assert_int_equal(h.new_len, new_len);
    assert_int_equal(st2.blocks, st.blocks);
    for (unsigned i = 0; i < SDV_DELTA_STREAMS; i++) {
        assert_int_equal(st2.raw_len[i], st.raw_len[i]);
        assert_int_equal(st2.comp_len[i], st.comp_len[i]);
    }
    len = patch.len;
    sdv_buf_free(&patch);
    return len;
}

/* ---- Round trips ---- */

static void test_empty_inputs(void **state)
{
    uint8_t data[1000];

    (void)state;
    fill_random(data, sizeof(data), 1);
    assert_int_equal(round_trip(NULL, 0, NULL, 0, NULL), SDV_DELTA_HEADER_LEN);
    round_trip(NULL, 0, data, sizeof(data), NULL);
    assert_int_equal(round_trip(data, sizeof(data), NULL, 0, NULL), SDV_DELTA_HEADER_LEN);
    round_trip(data, 1, data, 1, NULL);
    round_trip(data, 1, data + 1, 1, NULL);
}

static void test_identical(void **state)
{
    size_t n = 2u << 20, len;
    uint8_t *a = malloc(n);

    (void)state;
    fill_structured(a, n, 2);
    len = round_trip(a, n, a, n, NULL);
    /* One copy tuple and a difference stream of zeros. */
    assert_true(len < 400);
    free(a);
}

static void test_unrelated_random(void **state)
{
    size_t n = 512u << 10, len;
    uint8_t *a = malloc(n), *b = malloc(n);

    (void)state;
    fill_random(a, n, 3);
    fill_random(b, n, 4);
    len = round_trip(a, n, b, n, NULL);
    /* Random bytes do not compress: stored streams cost the new image plus little framing. */
    assert_true(len <= n + n / 100);
    free(a);
    free(b);
}

static void test_block_boundaries(void **state)
{
    static const size_t sizes[] = {1, 255, 256, 257, 511, 512, 513, 4095, 4096, 4097, 12289};
    struct sdv_delta_encode_opts opts;
    uint8_t *old = malloc(16384), *new_data = malloc(16384);

    (void)state;
    memset(&opts, 0, sizeof(opts));
    opts.level = 3;
    fill_structured(old, 16384, 5);
    for (size_t bl = 0; bl < 2; bl++) {
        opts.block_len = bl == 0 ? SDV_DELTA_BLOCK_LEN_MIN : 4096;
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            size_t n = sizes[i];

            /* Mostly old bytes with an edit, so tuples straddle block ends. */
            memcpy(new_data, old + 7, n);
            new_data[n / 2] ^= 0x5a;
            round_trip(old, 16384, new_data, n, &opts);
            fill_random(new_data, n, 50 + i);
            round_trip(old, 16384, new_data, n, &opts);
        }
    }
    free(old);
    free(new_data);
}

/* Short matches from all over the old image: many tuples per block, so blocks end because the
 * control stream is full before the block is. */
static void test_many_tuples(void **state)
{
    size_t old_len = 65536, n = 0;
    uint8_t *old = malloc(old_len), *new_data = malloc(64u << 10);
    struct sdv_delta_encode_opts opts;
    struct sdv_buf patch;
    struct sdv_delta_stats st;
    uint64_t s = 70;

    (void)state;
    fill_random(old, old_len, 71);
    while (n + 13 <= (64u << 10)) {
        memcpy(new_data + n, old + rng_next(&s) % (old_len - 12), 12);
        new_data[n + 12] = (uint8_t)rng_next(&s);
        n += 13;
    }
    memset(&opts, 0, sizeof(opts));
    opts.level = 1;
    opts.block_len = 4096;
    round_trip(old, old_len, new_data, n, &opts);
    encode(old, old_len, new_data, n, &opts, &patch, &st);
    assert_true(st.tuples > n / 26);
    assert_true(st.blocks > n / 4096 + 1);
    sdv_buf_free(&patch);
    free(old);
    free(new_data);
}

static void test_edits(void **state)
{
    size_t n = 4u << 20, m = 0, len;
    uint8_t *old = malloc(n), *new_data = malloc(n + 4096);
    uint64_t s = 9;

    (void)state;
    fill_structured(old, n, 6);
    /* Copy old with: 20 byte changes, 1,000 inserted bytes at 1 MiB, 500 deleted at 3 MiB, and
     * every 32-bit word of a 64 KiB region at 2 MiB shifted by 16 (moved code's pointers). */
    memcpy(new_data, old, 1u << 20);
    m = 1u << 20;
    fill_random(new_data + m, 1000, 7);
    m += 1000;
    memcpy(new_data + m, old + (1u << 20), (2u << 20) - (1u << 20));
    m += (1u << 20);
    for (size_t i = 0; i < 65536; i += 4) {
        uint32_t w = delta_get_u32(old + (2u << 20) + i) + 16u;

        delta_put_u32(new_data + m + i, w);
    }
    m += 65536;
    memcpy(new_data + m, old + (2u << 20) + 65536, (3u << 20) - (2u << 20) - 65536);
    m += (3u << 20) - (2u << 20) - 65536;
    memcpy(new_data + m, old + (3u << 20) + 500, n - (3u << 20) - 500);
    m += n - (3u << 20) - 500;
    for (int i = 0; i < 20; i++)
        new_data[rng_next(&s) % m] ^= 0x11;
    len = round_trip(old, n, new_data, m, NULL);
    /* The insertion costs its 1,000 random bytes; the rest is control and a few differences. */
    assert_true(len < 8000);
    free(old);
    free(new_data);
}

static void test_codecs(void **state)
{
    size_t n = 512u << 10;
    uint8_t *old = malloc(n), *new_data = malloc(n);
    struct sdv_delta_encode_opts opts;
    struct sdv_buf patch;
    struct sdv_delta_stats st;

    (void)state;
    fill_structured(old, n, 10);
    memcpy(new_data, old, n);
    fill_structured(new_data + 1000, 100000, 11);
    memset(&opts, 0, sizeof(opts));
    opts.level = 6;
    for (int c = SDV_DELTA_CHOOSE_ZSTD; c <= SDV_DELTA_CHOOSE_BEST; c++) {
        opts.codec = (enum sdv_delta_codec_choice)c;
        round_trip(old, n, new_data, n, &opts);
    }
    opts.codec = SDV_DELTA_CHOOSE_XZ;
    encode(old, n, new_data, n, &opts, &patch, &st);
    assert_true(st.codec_count[SDV_DELTA_CODEC_XZ] > 0);
    assert_int_equal(st.codec_count[SDV_DELTA_CODEC_ZSTD], 0);
    sdv_buf_free(&patch);
    free(old);
    free(new_data);
}

static void test_threads_deterministic(void **state)
{
    size_t n = 3u << 20;
    uint8_t *old = malloc(n), *new_data = malloc(n);
    struct sdv_delta_encode_opts opts;
    struct sdv_buf p1, p3;

    (void)state;
    fill_structured(old, n, 12);
    memcpy(new_data, old, n);
    fill_random(new_data + 5000, 3000, 13);
    memset(&opts, 0, sizeof(opts));
    opts.level = 3;
    opts.block_len = 256u << 10;
    encode(old, n, new_data, n, &opts, &p1, NULL);
    opts.threads = 3;
    encode(old, n, new_data, n, &opts, &p3, NULL);
    assert_int_equal(p1.len, p3.len);
    assert_memory_equal(p1.data, p3.data, p1.len);
    sdv_buf_free(&p1);
    sdv_buf_free(&p3);
    free(old);
    free(new_data);
}

static void test_bad_options(void **state)
{
    struct sdv_delta_encode_opts opts;
    struct sdv_buf patch;
    uint8_t b[4] = {0};

    (void)state;
    sdv_buf_init(&patch, 1 << 20);
    memset(&opts, 0, sizeof(opts));
    opts.block_len = SDV_DELTA_BLOCK_LEN_MIN - 1;
    assert_int_equal(sdv_delta_encode(b, 4, b, 4, &opts, buf_sink, &patch, NULL), SDV_EINVAL);
    opts.block_len = SDV_DELTA_BLOCK_LEN_MAX + 1;
    assert_int_equal(sdv_delta_encode(b, 4, b, 4, &opts, buf_sink, &patch, NULL), SDV_EINVAL);
    opts.block_len = 0;
    opts.level = 99;
    assert_int_equal(sdv_delta_encode(b, 4, b, 4, &opts, buf_sink, &patch, NULL), SDV_EINVAL);
    assert_int_equal(patch.len, 0);
    sdv_buf_free(&patch);
}

/* ---- Streaming a large image in bounded memory ---- */

struct check_sink {
    const uint8_t *expect;
    size_t len;
    size_t off;
    size_t heap_base;
    size_t heap_peak;
};

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

/* Compares the output with the expected image as it streams, and samples the heap. */
static enum sdv_err check_write(void *ud, const void *data, size_t len)
{
    struct check_sink *c = ud;
    size_t h = heap_in_use();

    if (len > c->len - c->off || memcmp(c->expect + c->off, data, len) != 0)
        return SDV_EIO;
    c->off += len;
    if (h > c->heap_peak)
        c->heap_peak = h;
    return SDV_OK;
}

static void test_large_streamed(void **state)
{
    size_t n = 64u << 20, old_len = 4u << 20;
    uint8_t *old = malloc(old_len), *new_data = malloc(n);
    struct sdv_delta_encode_opts opts;
    struct sdv_buf patch;
    struct mem_image oi;
    struct check_sink cs;
    struct sdv_delta_decoder *dec = NULL;
    struct sdv_delta_stats st;
    uint64_t s = 21;
    size_t off = 0;

    (void)state;
    /* The new image is sixteen edited copies of a 4 MiB old image, one of them cut by a new
     * random 1 MiB region: many blocks of every kind, cheap to diff. */
    fill_structured(old, old_len, 20);
    for (size_t i = 0; i < n; i += old_len) {
        memcpy(new_data + i, old, old_len);
        new_data[i + (rng_next(&s) % old_len)] ^= 0xff;
    }
    fill_random(new_data + (40u << 20), 1u << 20, 22);
    memset(&opts, 0, sizeof(opts));
    opts.level = 3;
    opts.threads = 2;
    encode(old, old_len, new_data, n, &opts, &patch, &st);
    assert_true(st.blocks >= 16);

    oi.data = old;
    oi.len = old_len;
    memset(&cs, 0, sizeof(cs));
    cs.expect = new_data;
    cs.len = n;
    cs.heap_base = heap_in_use();
    cs.heap_peak = cs.heap_base;
    assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, check_write, &cs, NULL, &dec), SDV_OK);
    while (off < patch.len) {
        /* Chunks of 1 byte to 64 KiB, mostly small. */
        size_t k = (size_t)(rng_next(&s) % 17), len = 1 + (size_t)(rng_next(&s) % (1u << k));

        len = len < patch.len - off ? len : patch.len - off;
        assert_int_equal(sdv_delta_decoder_feed(dec, patch.data + off, len), SDV_OK);
        off += len;
    }
    assert_int_equal(sdv_delta_decoder_finish(dec), SDV_OK);
    assert_int_equal(cs.off, n);
    /* The decoder's own account, and the heap as glibc sees it while output flows (zero under
     * ASan, whose allocator glibc does not see). */
    assert_true(sdv_delta_decoder_memory_peak(dec) <= SDV_DELTA_DECODER_MEMORY_MAX);
    assert_true(sdv_delta_decoder_memory_peak(dec) >= 2u * SDV_DELTA_BLOCK_LEN_MAX);
    assert_true(cs.heap_peak - cs.heap_base <= SDV_DELTA_DECODER_MEMORY_MAX);
    sdv_delta_decoder_destroy(dec);
    sdv_buf_free(&patch);
    free(old);
    free(new_data);
}

/* ---- Refusals ---- */

struct count_sink {
    size_t calls;
    size_t bytes;
};

static enum sdv_err count_write(void *ud, const void *data, size_t len)
{
    struct count_sink *c = ud;

    (void)data;
    c->calls++;
    c->bytes += len;
    return SDV_OK;
}

static void test_wrong_base(void **state)
{
    size_t n = 256u << 10;
    uint8_t *old = malloc(n), *new_data = malloc(n);
    struct sdv_buf patch;
    struct mem_image oi;
    struct count_sink cs = {0, 0};
    struct sdv_delta_decoder *dec = NULL;

    (void)state;
    fill_structured(old, n, 30);
    memcpy(new_data, old, n);
    new_data[100] ^= 1;
    encode(old, n, new_data, n, NULL, &patch, NULL);
    old[n - 1] ^= 1;
    oi.data = old;
    oi.len = n;
    assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, count_write, &cs, NULL, &dec), SDV_OK);
    assert_int_equal(sdv_delta_decoder_feed(dec, patch.data, patch.len), SDV_EHASH);
    assert_non_null(strstr(sdv_delta_decoder_errmsg(dec), "old image"));
    assert_int_equal(cs.calls, 0);
    /* Failed stays failed. */
    assert_int_equal(sdv_delta_decoder_finish(dec), SDV_EHASH);
    sdv_delta_decoder_destroy(dec);

    /* An old image shorter than the header says cannot be read: refused, nothing written. */
    oi.len = n - 1;
    assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, count_write, &cs, NULL, &dec), SDV_OK);
    assert_int_equal(sdv_delta_decoder_feed(dec, patch.data, patch.len), SDV_EIO);
    assert_int_equal(cs.calls, 0);
    sdv_delta_decoder_destroy(dec);
    sdv_buf_free(&patch);
    free(old);
    free(new_data);
}

static void test_memory_limit(void **state)
{
    size_t n = SDV_DELTA_BLOCK_LEN_MAX + 1000;
    uint8_t *old = malloc(n);
    struct sdv_buf patch;
    struct mem_image oi;
    struct count_sink cs = {0, 0};
    struct sdv_delta_decoder *dec = NULL;
    struct sdv_delta_decoder_limits lim;
    struct sdv_delta_encode_opts opts;

    (void)state;
    fill_structured(old, n, 31);
    /* Default blocks (4 MiB, as the image is larger) need about 9 MiB. */
    encode(old, n, old, n, NULL, &patch, NULL);
    oi.data = old;
    oi.len = n;
    memset(&lim, 0, sizeof(lim));
    lim.memory_max = 4u << 20;
    assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, count_write, &cs, &lim, &dec), SDV_OK);
    assert_int_equal(sdv_delta_decoder_feed(dec, patch.data, patch.len), SDV_ETOOBIG);
    assert_non_null(strstr(sdv_delta_decoder_errmsg(dec), "working memory"));
    assert_int_equal(cs.calls, 0);
    sdv_delta_decoder_destroy(dec);
    sdv_buf_free(&patch);

    /* A patch made with smaller blocks fits the same limit. */
    memset(&opts, 0, sizeof(opts));
    opts.block_len = 256u << 10;
    encode(old, n, old, n, &opts, &patch, NULL);
    assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, count_write, &cs, &lim, &dec), SDV_OK);
    assert_int_equal(sdv_delta_decoder_feed(dec, patch.data, patch.len), SDV_OK);
    assert_int_equal(sdv_delta_decoder_finish(dec), SDV_OK);
    assert_true(sdv_delta_decoder_memory_peak(dec) <= lim.memory_max);
    assert_int_equal(cs.bytes, n);
    sdv_delta_decoder_destroy(dec);
    sdv_buf_free(&patch);
    free(old);
}

/* A small patch with several blocks and every stream kind, for the damage tests. */
static void damage_inputs(uint8_t **old, uint8_t **new_data, size_t *n, struct sdv_buf *patch)
{
    struct sdv_delta_encode_opts opts;

    *n = 6000;
    *old = malloc(*n);
    *new_data = malloc(*n);
    fill_structured(*old, *n, 40);
    memcpy(*new_data, *old, *n);
    fill_random(*new_data + 2000, 300, 41);
    (*new_data)[4500] ^= 0x40;
    memset(&opts, 0, sizeof(opts));
    opts.level = 3;
    opts.block_len = 2048;
    encode(*old, *n, *new_data, *n, &opts, patch, NULL);
}

static void test_truncated(void **state)
{
    uint8_t *old, *new_data;
    size_t n;
    struct sdv_buf patch, out;

    (void)state;
    damage_inputs(&old, &new_data, &n, &patch);
    for (size_t cut = 0; cut < patch.len; cut++) {
        enum sdv_err err = decode(old, n, patch.data, cut, 7, 0, &out, NULL);

        assert_int_equal(err, SDV_EPARSE);
        assert_true(out.len < n);
        sdv_buf_free(&out);
    }
    /* Trailing bytes after the last block. */
    assert_int_equal(sdv_buf_append(&patch, "x", 1), SDV_OK);
    assert_int_equal(decode(old, n, patch.data, patch.len, patch.len, 0, &out, NULL), SDV_EPARSE);
    sdv_buf_free(&out);
    sdv_buf_free(&patch);
    free(old);
    free(new_data);
}

static void test_bit_flips(void **state)
{
    uint8_t *old, *new_data;
    size_t n, refused = 0;
    struct sdv_buf patch, out;

    (void)state;
    damage_inputs(&old, &new_data, &n, &patch);
    for (size_t i = 0; i < patch.len * 8; i += 3) {
        enum sdv_err err;

        patch.data[i / 8] ^= (uint8_t)(1u << (i % 8));
        err = decode(old, n, patch.data, patch.len, 61, 0, &out, NULL);
        /* Either refused, or (a flip in a bound that only loosens it) exactly the new image. */
        if (err == SDV_OK) {
            assert_int_equal(out.len, n);
            assert_memory_equal(out.data, new_data, n);
        } else {
            refused++;
        }
        sdv_buf_free(&out);
        patch.data[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    assert_true(refused > patch.len * 8 / 3 * 9 / 10);
    sdv_buf_free(&patch);
    free(old);
    free(new_data);
}

/* Builds a one-block patch by hand from raw streams (all stored). */
static void craft(const uint8_t *old, size_t old_len, const uint8_t *ctrl, size_t ctrl_len,
                  const uint8_t *diff, size_t diff_len, const uint8_t *extra, size_t extra_len,
                  uint8_t block_type, struct sdv_buf *out)
{
    struct sdv_delta_header h;
    struct delta_block_hdr b;
    uint8_t hdr[SDV_DELTA_HEADER_LEN], pre[DELTA_BLOCK_PREAMBLE_LEN];

    memset(&h, 0, sizeof(h));
    h.version = SDV_DELTA_FORMAT_VERSION;
    h.old_len = old_len;
    h.new_len = diff_len + extra_len;
    h.old_virt_len = h.old_len;
    h.new_virt_len = h.new_len;
    h.block_len_max = 4096;
    h.ctrl_len_max = 1024;
    h.window_log = 12;
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, old, old_len, h.old_sha256), SDV_OK);
    delta_header_write(&h, hdr);
    memset(&b, 0, sizeof(b));
    b.type = block_type;
    b.new_len = (uint32_t)h.new_len;
    b.s[0].raw_len = b.s[0].comp_len = (uint32_t)ctrl_len;
    b.s[1].raw_len = b.s[1].comp_len = (uint32_t)diff_len;
    b.s[2].raw_len = b.s[2].comp_len = (uint32_t)extra_len;
    b.payload_len = (uint32_t)(DELTA_COPY_ADD_FIXED_LEN + ctrl_len + diff_len + extra_len);
    delta_block_hdr_write(&b, pre);
    sdv_buf_init(out, 1 << 20);
    assert_int_equal(sdv_buf_append(out, hdr, sizeof(hdr)), SDV_OK);
    assert_int_equal(sdv_buf_append(out, pre, sizeof(pre)), SDV_OK);
    assert_int_equal(sdv_buf_append(out, ctrl, ctrl_len), SDV_OK);
    assert_int_equal(sdv_buf_append(out, diff, diff_len), SDV_OK);
    assert_int_equal(sdv_buf_append(out, extra, extra_len), SDV_OK);
}

static size_t tuple(uint8_t *p, uint64_t add, uint64_t extra, int64_t seek)
{
    size_t n = delta_varint_put(p, add);

    n += delta_varint_put(p + n, extra);
    return n + delta_varint_put(p + n, delta_zigzag(seek));
}

static void test_hostile(void **state)
{
    uint8_t old[100], zeros[200], ctrl[64];
    struct sdv_buf p, out;
    size_t c;

    (void)state;
    fill_random(old, sizeof(old), 50);
    memset(zeros, 0, sizeof(zeros));

    /* A valid hand-made patch decodes (up to the new hash, which craft() leaves zero). */
    c = tuple(ctrl, 100, 0, -100);
    c += tuple(ctrl + c, 50, 0, 0);
    craft(old, 100, ctrl, c, zeros, 150, NULL, 0, DELTA_BLOCK_COPY_ADD, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EHASH);
    assert_int_equal(out.len, 150);
    sdv_buf_free(&out);
    sdv_buf_free(&p);

    /* Copy past the end of old: refused before any byte of the block is written. */
    c = tuple(ctrl, 101, 0, 0);
    craft(old, 100, ctrl, c, zeros, 101, NULL, 0, DELTA_BLOCK_COPY_ADD, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EPARSE);
    assert_int_equal(out.len, 0);
    sdv_buf_free(&out);
    sdv_buf_free(&p);

    /* Seek before the start of old. */
    c = tuple(ctrl, 10, 0, -11);
    c += tuple(ctrl + c, 10, 0, 0);
    craft(old, 100, ctrl, c, zeros, 20, NULL, 0, DELTA_BLOCK_COPY_ADD, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EPARSE);
    sdv_buf_free(&out);
    sdv_buf_free(&p);

    /* Seek past the end, a huge seek, an empty tuple, lengths that overrun the streams. */
    c = tuple(ctrl, 10, 0, 91);
    c += tuple(ctrl + c, 0, 1, 0);
    craft(old, 100, ctrl, c, zeros, 10, zeros, 1, DELTA_BLOCK_COPY_ADD, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EPARSE);
    sdv_buf_free(&out);
    sdv_buf_free(&p);
    c = tuple(ctrl, 10, 0, INT64_MIN);
    craft(old, 100, ctrl, c, zeros, 10, NULL, 0, DELTA_BLOCK_COPY_ADD, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EPARSE);
    sdv_buf_free(&out);
    sdv_buf_free(&p);
    c = tuple(ctrl, 0, 0, 0);
    c += tuple(ctrl + c, 5, 0, 0);
    craft(old, 100, ctrl, c, zeros, 5, NULL, 0, DELTA_BLOCK_COPY_ADD, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EPARSE);
    sdv_buf_free(&out);
    sdv_buf_free(&p);
    c = tuple(ctrl, UINT64_MAX, 1, 0);
    craft(old, 100, ctrl, c, zeros, 5, zeros, 1, DELTA_BLOCK_COPY_ADD, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EPARSE);
    sdv_buf_free(&out);
    sdv_buf_free(&p);

    /* Control stream shorter than the data it must place; a truncated varint. */
    c = tuple(ctrl, 5, 0, 0);
    craft(old, 100, ctrl, c, zeros, 6, NULL, 0, DELTA_BLOCK_COPY_ADD, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EPARSE);
    sdv_buf_free(&out);
    sdv_buf_free(&p);
    ctrl[0] = 5;
    ctrl[1] = 0;
    ctrl[2] = 0x80;
    craft(old, 100, ctrl, 3, zeros, 5, NULL, 0, DELTA_BLOCK_COPY_ADD, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EPARSE);
    sdv_buf_free(&out);
    sdv_buf_free(&p);

    /* Reserved block types: unsupported, not malformed. Type 0: malformed. */
    c = tuple(ctrl, 5, 0, 0);
    craft(old, 100, ctrl, c, zeros, 5, NULL, 0, 2, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EUNSUPPORTED);
    sdv_buf_free(&out);
    sdv_buf_free(&p);
    craft(old, 100, ctrl, c, zeros, 5, NULL, 0, 0, &p);
    assert_int_equal(decode(old, 100, p.data, p.len, p.len, 0, &out, NULL), SDV_EPARSE);
    sdv_buf_free(&out);
    sdv_buf_free(&p);
}

static void test_header_parse(void **state)
{
    struct sdv_delta_header h, g;
    uint8_t raw[SDV_DELTA_HEADER_LEN];
    char msg[128];

    (void)state;
    memset(&h, 0, sizeof(h));
    h.version = SDV_DELTA_FORMAT_VERSION;
    h.old_len = 5;
    h.new_len = 7;
    h.old_virt_len = 5;
    h.new_virt_len = 7;
    h.block_len_max = 4096;
    h.ctrl_len_max = 1024;
    h.window_log = 12;
    delta_header_write(&h, raw);
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw), &g, msg, sizeof(msg)), SDV_OK);
    assert_int_equal(g.new_len, 7);
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw) - 1, &g, msg, sizeof(msg)),
                     SDV_EPARSE);
    raw[8] = 1;
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw), &g, msg, sizeof(msg)),
                     SDV_EUNSUPPORTED);
    assert_non_null(strstr(msg, "version 1"));
    raw[8] = 2;
    raw[12] = 1;
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw), &g, msg, sizeof(msg)),
                     SDV_EUNSUPPORTED);
    raw[12] = 0;
    raw[0] = 'X';
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw), &g, msg, sizeof(msg)), SDV_EPARSE);
    raw[0] = 'S';
    delta_put_u32(raw + 96, SDV_DELTA_BLOCK_LEN_MAX + 1);
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw), &g, msg, sizeof(msg)), SDV_EPARSE);
    delta_put_u32(raw + 96, 4096);
    raw[150] = 1;
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw), &g, msg, sizeof(msg)), SDV_EPARSE);
    raw[150] = 0;
    /* Version 2: without sections the virtual images are the images; sections are bounded. */
    delta_put_u64(raw + 120, 8);
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw), &g, msg, sizeof(msg)), SDV_EPARSE);
    delta_put_u64(raw + 120, 7);
    delta_put_u16(raw + 106, 1);
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw), &g, msg, sizeof(msg)), SDV_EPARSE);
    delta_put_u32(raw + 108, SDV_DELTA_SECTIONS_LEN_MAX + 1);
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw), &g, msg, sizeof(msg)), SDV_EPARSE);
    delta_put_u32(raw + 108, 100);
    assert_int_equal(sdv_delta_header_parse(raw, sizeof(raw), &g, msg, sizeof(msg)), SDV_OK);
    assert_int_equal(g.section_count, 1);
    assert_int_equal(g.sections_len, 100);
}

/* ---- Checkpoints ---- */

struct ckpt_log {
    uint8_t cps[64][SDV_DELTA_CHECKPOINT_LEN];
    size_t count;
};

static enum sdv_err ckpt_save(void *ud, const struct sdv_delta_checkpoint *cp)
{
    struct ckpt_log *l = ud;

    if (l->count < 64)
        assert_int_equal(sdv_delta_checkpoint_encode(cp, l->cps[l->count++]), SDV_OK);
    return SDV_OK;
}

static void test_resume(void **state)
{
    size_t n = 200000;
    uint8_t *old = malloc(n), *new_data = malloc(n);
    struct sdv_delta_encode_opts opts;
    struct sdv_buf patch, out;
    struct mem_image oi, outi;
    struct sdv_delta_decoder *dec = NULL;
    struct sdv_delta_decoder_limits lim;
    struct sdv_delta_checkpoint cp;
    struct ckpt_log *log = calloc(1, sizeof(*log));

    (void)state;
    fill_structured(old, n, 60);
    memcpy(new_data, old, n);
    fill_random(new_data + 70000, 20000, 61);
    memset(&opts, 0, sizeof(opts));
    opts.level = 3;
    opts.block_len = 16384;
    encode(old, n, new_data, n, &opts, &patch, NULL);
    oi.data = old;
    oi.len = n;
    memset(&lim, 0, sizeof(lim));
    lim.checkpoint = ckpt_save;
    lim.checkpoint_ud = log;

    /* A first run that loses power after feeding 60% of the patch. */
    sdv_buf_init(&out, n);
    assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, buf_sink, &out, &lim, &dec), SDV_OK);
    assert_int_equal(sdv_delta_decoder_feed(dec, patch.data, patch.len * 6 / 10), SDV_OK);
    sdv_delta_decoder_destroy(dec);
    assert_true(log->count >= 2);

    /* Every checkpoint is a valid place to resume from. */
    for (size_t k = 0; k < log->count; k++) {
        struct sdv_buf out2;

        assert_int_equal(sdv_delta_checkpoint_decode(log->cps[k], SDV_DELTA_CHECKPOINT_LEN, &cp),
                         SDV_OK);
        assert_true(cp.new_off <= out.len);
        sdv_buf_init(&out2, n);
        assert_int_equal(sdv_buf_append(&out2, out.data, (size_t)cp.new_off), SDV_OK);
        outi.data = out2.data;
        outi.len = out2.len;
        assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, buf_sink, &out2, NULL, &dec),
                         SDV_OK);
        assert_int_equal(sdv_delta_decoder_resume(dec, &cp, mem_read, &outi), SDV_OK);
        assert_int_equal(sdv_delta_decoder_feed(dec, patch.data + cp.patch_off,
                                                patch.len - (size_t)cp.patch_off),
                         SDV_OK);
        assert_int_equal(sdv_delta_decoder_finish(dec), SDV_OK);
        assert_int_equal(out2.len, n);
        assert_memory_equal(out2.data, new_data, n);
        sdv_delta_decoder_destroy(dec);
        sdv_buf_free(&out2);
    }

    /* A torn checkpoint is refused; so is output that differs from what was written. */
    log->cps[0][5] ^= 1;
    assert_int_equal(sdv_delta_checkpoint_decode(log->cps[0], SDV_DELTA_CHECKPOINT_LEN, &cp),
                     SDV_EPARSE);
    assert_int_equal(sdv_delta_checkpoint_decode(log->cps[1], SDV_DELTA_CHECKPOINT_LEN, &cp),
                     SDV_OK);
    out.data[0] ^= 1;
    outi.data = out.data;
    outi.len = out.len;
    {
        struct sdv_buf out3;

        sdv_buf_init(&out3, n);
        assert_int_equal(sdv_delta_decoder_create(mem_read, &oi, buf_sink, &out3, NULL, &dec),
                         SDV_OK);
        assert_int_equal(sdv_delta_decoder_resume(dec, &cp, mem_read, &outi), SDV_OK);
        assert_int_equal(sdv_delta_decoder_feed(dec, patch.data + cp.patch_off,
                                                patch.len - (size_t)cp.patch_off),
                         SDV_OK);
        assert_int_equal(sdv_delta_decoder_finish(dec), SDV_EHASH);
        sdv_delta_decoder_destroy(dec);
        sdv_buf_free(&out3);
    }
    sdv_buf_free(&out);
    sdv_buf_free(&patch);
    free(log);
    free(old);
    free(new_data);
}

/* An optional argument selects tests by name pattern (cmocka's filter), e.g. "test_resume". */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_empty_inputs),     cmocka_unit_test(test_identical),
            cmocka_unit_test(test_unrelated_random), cmocka_unit_test(test_block_boundaries),
            cmocka_unit_test(test_many_tuples),      cmocka_unit_test(test_edits),
            cmocka_unit_test(test_codecs),           cmocka_unit_test(test_threads_deterministic),
            cmocka_unit_test(test_bad_options),      cmocka_unit_test(test_large_streamed),
            cmocka_unit_test(test_wrong_base),       cmocka_unit_test(test_memory_limit),
            cmocka_unit_test(test_truncated),        cmocka_unit_test(test_bit_flips),
            cmocka_unit_test(test_hostile),          cmocka_unit_test(test_header_parse),
            cmocka_unit_test(test_resume),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
