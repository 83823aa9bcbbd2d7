/*
 * delta_region_enc.c - the encoder's compressed-content stage (format version 2): finds every
 * xz stream, zstd frame and gzip member in the old and the new image, decompresses them, and
 * decides:
 *   - a new stream whose compressed bytes also occur as a stream of the old image stays plain
 *     bytes (the copy-add step copies it, the device does no compression work);
 *   - a changed new stream is produced decompressed by the blocks (a region of NEW') and
 *     recompressed by the device, if some parameter set found by trial reproduces it exactly;
 *     otherwise it stays plain bytes;
 *   - the old streams not reused as they are get decompressed at the end of OLD', where the
 *     copy-add matcher finds the contents of changed streams.
 * Probing and trials of different streams are independent and run on worker threads; each
 * worker tries the parameters of its previous stream first (streams of one image share them).
 */
#define _GNU_SOURCE              /* memmem */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_estimateDCtxSize */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include <sdv/crypto.h>

#include "delta_int.h"
#include "delta_region.h"

/* A compressed stream found in an image. */
struct found {
    uint64_t off;      /* first compressed byte (for gzip: of the deflate body) */
    uint32_t comp_len; /* compressed bytes */
    uint32_t dlen;     /* decompressed bytes */
    uint8_t kind;
    uint8_t hint[8]; /* from the stream's headers: xz check/form/dict, zstd flags, gzip xfl */
    uint8_t params[DELTA_REGION_PARAMS_LEN];
    int usable;      /* decompressed and within the bounds */
    int tryable;     /* its headers allow parameter trials */
    int reproduced;  /* params reproduce it exactly */
    int same;        /* compressed bytes also a stream of the other image */
    size_t dec_mem;  /* memory its decompression took */
    uint8_t sha[32]; /* of the compressed bytes */
    uint8_t *data;   /* decompressed bytes */
};

struct scan {
    const uint8_t *img;
    size_t len;
    struct found *f;
    size_t n;
    uint32_t dlen_max; /* bound of a usable stream */
    int trials;        /* new image: find parameters */
};

struct worker {
    struct scan *s;
    size_t from, step; /* first chunk, chunks between two of this worker's */
    enum sdv_err err;
    pthread_t thread;
};

static const uint8_t magic_xz[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
static const uint8_t magic_zstd[4] = {0x28, 0xb5, 0x2f, 0xfd};
static const uint8_t magic_gzip[3] = {0x1f, 0x8b, 0x08};

/* ---- Detection ---- */

static enum sdv_err add_candidates(struct scan *s, const uint8_t *magic, size_t mlen, uint8_t kind,
                                   size_t *cap)
{
    const uint8_t *p = s->img, *end = s->img + s->len;

    while ((size_t)(end - p) >= mlen) {
        const uint8_t *q = memmem(p, (size_t)(end - p), magic, mlen);

        if (q == NULL)
            break;
        if (s->n == SDV_DELTA_REGIONS_MAX * 4u)
            break;
        if (s->n == *cap) {
            size_t nc = *cap == 0 ? 256 : *cap * 2;
            struct found *nf = realloc(s->f, nc * sizeof(*nf));

            if (nf == NULL)
                return SDV_ENOMEM;
            s->f = nf;
            *cap = nc;
        }
        memset(&s->f[s->n], 0, sizeof(s->f[0]));
        s->f[s->n].off = (uint64_t)(q - s->img);
        s->f[s->n].kind = kind;
        s->n++;
        p = q + 1;
    }
    return SDV_OK;
}

static int found_cmp(const void *a, const void *b)
{
    const struct found *x = a, *y = b;

    return x->off < y->off ? -1 : x->off > y->off;
}

/* Length of a gzip member header at p (len bytes available); 0 if malformed. */
static size_t gzip_header_len(const uint8_t *p, size_t len)
{
    size_t pos = 10;
    uint8_t flg;

    if (len < 10 || (p[3] & 0xe0) != 0)
        return 0;
    flg = p[3];
    if (flg & 4) { /* FEXTRA */
        if (len < pos + 2)
            return 0;
        pos += 2 + (size_t)(p[pos] | p[pos + 1] << 8);
    }
    for (int k = 0; k < 2; k++) { /* FNAME, FCOMMENT: zero-terminated */
        if (!(flg & (k == 0 ? 8 : 16)))
            continue;
        while (pos < len && p[pos] != 0)
            pos++;
        pos++;
    }
    if (flg & 2) /* FHCRC */
        pos += 2;
    return pos < len ? pos : 0;
}

/* Streams a worker takes at a time (the unit of work and of parameter carry-over). */
#define SCAN_CHUNK 32u

/* Memory the encoder lets liblzma take to decompress a stream it examines (xz -9 needs 65 MiB). */
#define SCAN_XZ_MEM_MAX (128u * 1024u * 1024u)

/* Decompresses candidate f into scratch (s->dlen_max bytes); sets usable, lengths, hint. */
static void probe(struct scan *s, struct found *f, struct delta_region_codec *c, uint8_t *scratch,
                  uint8_t *out)
{
    const uint8_t *p = s->img + f->off;
    size_t avail = s->len - f->off, comp = 0, dlen = 0;

    c->dctx->lzma_peak = 0;
    c->zlib_peak = 0;
    if (f->kind == DELTA_REGION_XZ) {
        uint64_t limit = SCAN_XZ_MEM_MAX;
        size_t in_pos = 0, out_pos = 0;
        lzma_filter filters[LZMA_FILTERS_MAX + 1];
        lzma_block block;

        if (avail < 12 + 8 || p[6] != 0 || (p[7] & 0xf0) != 0)
            return;
        if (lzma_stream_buffer_decode(&limit, 0, &c->dctx->lzma_alloc, p, &in_pos, avail, scratch,
                                      &out_pos, s->dlen_max) != LZMA_OK)
            return;
        comp = in_pos;
        dlen = out_pos;
        /* What the device will do (a dictionary cut to the output), in bounded memory. */
        c->dctx->lzma_peak = 0;
        if (delta_region_decompress(c, DELTA_REGION_XZ, p, comp, out, dlen,
                                    SDV_DELTA_REGION_CODEC_MEM_MAX, NULL, 0) != SDV_OK ||
            memcmp(out, scratch, dlen) != 0)
            return;
        f->dec_mem = c->dctx->lzma_peak;
        /* The block header tells the dictionary and whether sizes are recorded. */
        memset(&block, 0, sizeof(block));
        block.version = 1;
        block.check = (lzma_check)(p[7] & 0x0f);
        block.filters = filters;
        block.header_size = lzma_block_header_size_decode(p[12]);
        if (p[12] == 0 || block.header_size > comp - 12 ||
            lzma_block_header_decode(&block, NULL, p + 12) != LZMA_OK)
            return;
        if (filters[0].id == LZMA_FILTER_LZMA2 && filters[1].id == LZMA_VLI_UNKNOWN) {
            uint32_t dict = ((const lzma_options_lzma *)filters[0].options)->dict_size;

            uint32_t small = LZMA_DICT_SIZE_MIN;
            uint8_t props;

            while (small < dlen && small < dict)
                small *= 2;
            f->hint[0] = block.compressed_size != LZMA_VLI_UNKNOWN ? DELTA_XZ_FORM_BUFFER
                                                                   : DELTA_XZ_FORM_STREAM;
            f->hint[1] = (uint8_t)block.check;
            /* A dictionary larger than the input only costs the device memory: compress with
             * the smallest one holding the input and restore the header's field. */
            if (small < dict && lzma_properties_encode(&filters[0], &props) == LZMA_OK) {
                f->hint[3] = (uint8_t)(props + 1);
                dict = small;
            }
            delta_put_u32(f->hint + 4, dict);
            f->tryable = 1;
        }
        for (size_t i = 0; filters[i].id != LZMA_VLI_UNKNOWN; i++)
            free(filters[i].options);
    } else if (f->kind == DELTA_REGION_ZSTD) {
        size_t r;

        if (avail < 6 || (p[4] & 3) != 0) /* frames with a dictionary id: not reproducible */
            return;
        comp = ZSTD_findFrameCompressedSize(p, avail);
        if (ZSTD_isError(comp))
            return;
        r = ZSTD_decompressDCtx(c->dctx->zstd, scratch, s->dlen_max, p, comp);
        if (ZSTD_isError(r))
            return;
        dlen = r;
        f->dec_mem = 0; /* the decoder's zstd context is counted on its own */
        f->hint[0] = (uint8_t)((p[4] >> 2) & 1);                       /* checksum */
        f->hint[1] = (uint8_t)((p[4] >> 6) != 0 || ((p[4] >> 5) & 1)); /* content size */
        f->tryable = 1;
    } else {
        size_t h = gzip_header_len(p, avail);
        z_stream z;
        int ret;

        if (h == 0)
            return;
        memset(&z, 0, sizeof(z));
        if (inflateInit2(&z, -15) != Z_OK)
            return;
        z.next_in = (Bytef *)(uintptr_t)(p + h);
        z.avail_in = (uInt)(avail - h < UINT32_MAX ? avail - h : UINT32_MAX);
        z.next_out = scratch;
        z.avail_out = s->dlen_max;
        ret = inflate(&z, Z_FINISH);
        comp = z.total_in;
        dlen = z.total_out;
        inflateEnd(&z);
        /* The trailer (CRC-32 and length) must follow and agree: it stays plain bytes. */
        if (ret != Z_STREAM_END || avail - h - comp < 8 ||
            delta_get_u32(p + h + comp) != (uint32_t)crc32(0, scratch, (uInt)dlen) ||
            delta_get_u32(p + h + comp + 4) != (uint32_t)dlen)
            return;
        f->off += h;
        f->hint[0] = p[8]; /* XFL: 2 = best, 4 = fastest */
        f->tryable = 1;
        f->dec_mem = DELTA_INFLATE_MEM;
    }
    if (dlen == 0 || comp == 0 || comp > delta_region_comp_cap(dlen) || comp > UINT32_MAX)
        return;
    f->data = malloc(dlen);
    if (f->data == NULL)
        return;
    memcpy(f->data, scratch, dlen);
    f->comp_len = (uint32_t)comp;
    f->dlen = (uint32_t)dlen;
    f->usable = 1;
}

/* ---- Parameter trials ---- */

/* Builds the trial list for f into list (rows of DELTA_REGION_PARAMS_LEN); returns the count. */
static size_t trial_list(const struct found *f, const uint8_t *prev,
                         uint8_t list[][DELTA_REGION_PARAMS_LEN])
{
    static const uint8_t xz_presets[] = {6, 5, 4, 3, 2, 1, 0, 0x86, 0x85, 0x84, 0x83};
    static const int8_t zstd_levels[] = {3, 19, 1, 2, 4, 5, 6, 7, 8, 9, 12, 22};
    static const uint8_t zlib_levels[] = {6, 9, 1, 2, 3, 4, 5, 7, 8};
    size_t n = 0;

    if (prev != NULL)
        memcpy(list[n++], prev, DELTA_REGION_PARAMS_LEN);
    for (size_t i = 0; n < DELTA_REGION_TRIALS_MAX; i++) {
        uint8_t p[DELTA_REGION_PARAMS_LEN];

        memset(p, 0, sizeof(p));
        if (f->kind == DELTA_REGION_XZ) {
            if (i >= sizeof(xz_presets))
                break;
            p[0] = f->hint[0];
            p[1] = f->hint[1];
            p[2] = xz_presets[i];
            p[3] = f->hint[3];
            memcpy(p + 4, f->hint + 4, 4);
        } else if (f->kind == DELTA_REGION_ZSTD) {
            if (i >= sizeof(zstd_levels))
                break;
            p[0] = (uint8_t)zstd_levels[i];
            p[1] = (uint8_t)((f->hint[0] ? DELTA_ZSTD_CHECKSUM : 0) |
                             (f->hint[1] ? DELTA_ZSTD_CONTENTSIZE : DELTA_ZSTD_STREAMED));
        } else {
            /* The header's XFL says best (2) or fastest (4): try that level first. */
            if (i > sizeof(zlib_levels))
                break;
            p[0] = i == 0 ? (f->hint[0] == 2 ? 9 : f->hint[0] == 4 ? 1 : 6) : zlib_levels[i - 1];
            p[1] = 8;
            p[2] = 15;
        }
        if (prev != NULL && memcmp(p, prev, sizeof(p)) == 0)
            continue;
        if (n > 0 && memcmp(p, list[n - 1], sizeof(p)) == 0)
            continue;
        memcpy(list[n++], p, sizeof(p));
    }
    return n;
}

/* Finds parameters that reproduce f's compressed bytes exactly; prev is updated on success. */
static void find_params(const struct scan *s, struct found *f, struct delta_region_codec *c,
                        uint8_t *out, size_t cap, uint8_t *prev, uint8_t *prev_kind)
{
    uint8_t list[DELTA_REGION_TRIALS_MAX][DELTA_REGION_PARAMS_LEN];
    const uint8_t *orig = s->img + f->off;
    size_t n;

    if (!f->tryable)
        return;
    /* The previous stream's parameters only carry over between streams of the same kind. */
    n = trial_list(f, *prev_kind == f->kind ? prev : NULL, list);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;

        if (delta_region_params_check(f->kind, list[i]) != SDV_OK ||
            delta_region_compress_mem(f->kind, list[i], f->dlen) > SDV_DELTA_REGION_CODEC_MEM_MAX)
            continue;
        if (delta_region_compress(c, f->kind, list[i], f->data, f->dlen, out, cap, &len,
                                  SDV_DELTA_REGION_CODEC_MEM_MAX) != SDV_OK)
            continue;
        if (len == f->comp_len && memcmp(out, orig, len) == 0) {
            memcpy(f->params, list[i], sizeof(f->params));
            f->reproduced = 1;
            memcpy(prev, list[i], DELTA_REGION_PARAMS_LEN);
            *prev_kind = f->kind;
            return;
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct scan *s = w->s;
    struct delta_dctx dctx;
    struct delta_region_codec c;
    uint8_t *scratch = NULL, *out = NULL, prev[DELTA_REGION_PARAMS_LEN];
    size_t cap = delta_region_comp_cap(s->dlen_max);
    uint8_t prev_kind = 0;

    memset(&c, 0, sizeof(c));
    memset(prev, 0, sizeof(prev));
    w->err = delta_dctx_init(&dctx);
    if (w->err != SDV_OK)
        return NULL;
    c.dctx = &dctx;
    scratch = malloc(s->dlen_max);
    out = malloc(cap);
    if (scratch == NULL || out == NULL) {
        w->err = SDV_ENOMEM;
        goto done;
    }
    /* Worker k takes chunks k, k + nworkers, ...; the previous stream's parameters do not
     * cross a chunk boundary, so the parameters found do not depend on the number of workers. */
    for (size_t i = w->from * SCAN_CHUNK; i < s->n; i++) {
        struct found *f = &s->f[i];

        if (i % SCAN_CHUNK == 0) {
            if (i != w->from * SCAN_CHUNK)
                i += (w->step - 1) * SCAN_CHUNK;
            if (i >= s->n)
                break;
            f = &s->f[i];
            prev_kind = 0;
        }

        if (!s->trials) {
            probe(s, f, &c, scratch, out);
            if (f->usable)
                w->err = sdv_hash_buf(SDV_HASH_SHA256, s->img + f->off, f->comp_len, f->sha);
            if (w->err != SDV_OK)
                break;
        } else if (f->usable && !f->same) {
            find_params(s, f, &c, out, cap, prev, &prev_kind);
        }
    }
done:
    free(scratch);
    free(out);
    delta_region_codec_free(&c);
    delta_dctx_free(&dctx);
    return NULL;
}

/* Runs worker_main over s->f in threads contiguous slices. */
static enum sdv_err run_workers(struct scan *s, unsigned threads)
{
    struct worker w[SDV_DELTA_THREADS_MAX];
    unsigned t = threads == 0 ? 1 : threads;
    enum sdv_err err = SDV_OK;

    if (t > (s->n + SCAN_CHUNK - 1) / SCAN_CHUNK)
        t = s->n == 0 ? 1 : (unsigned)((s->n + SCAN_CHUNK - 1) / SCAN_CHUNK);
    for (unsigned i = 0; i < t; i++) {
        w[i].s = s;
        w[i].from = i;
        w[i].step = t;
        w[i].err = SDV_OK;
    }
    if (t == 1) {
        worker_main(&w[0]);
        return w[0].err;
    }
    for (unsigned i = 0; i < t; i++)
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            w[i].err = SDV_ENOMEM;
            worker_main(&w[i]); /* run it here instead */
            w[i].thread = 0;
        }
    for (unsigned i = 0; i < t; i++) {
        if (w[i].thread != 0)
            pthread_join(w[i].thread, NULL);
        if (err == SDV_OK)
            err = w[i].err;
    }
    return err;
}

/* Finds and decompresses the streams of an image; keeps the usable, non-overlapping ones. */
static enum sdv_err scan_image(struct scan *s, const uint8_t *img, size_t len, uint32_t dlen_max,
                               unsigned threads)
{
    size_t cap = 0, k = 0;
    uint64_t end = 0;
    enum sdv_err err;

    memset(s, 0, sizeof(*s));
    s->img = img;
    s->len = len;
    s->dlen_max = dlen_max;
    if (len == 0)
        return SDV_OK;
    err = add_candidates(s, magic_xz, sizeof(magic_xz), DELTA_REGION_XZ, &cap);
    if (err == SDV_OK)
        err = add_candidates(s, magic_zstd, sizeof(magic_zstd), DELTA_REGION_ZSTD, &cap);
    if (err == SDV_OK)
        err = add_candidates(s, magic_gzip, sizeof(magic_gzip), DELTA_REGION_DEFLATE, &cap);
    if (err != SDV_OK)
        return err;
    if (s->n == 0)
        return SDV_OK;
    qsort(s->f, s->n, sizeof(*s->f), found_cmp);
    err = run_workers(s, threads);
    if (err != SDV_OK)
        return err;
    /* Keep the first of overlapping streams (a magic inside an accepted stream is data). */
    for (size_t i = 0; i < s->n; i++) {
        struct found *f = &s->f[i];

        if (f->usable && f->off >= end && k < SDV_DELTA_REGIONS_MAX) {
            end = f->off + f->comp_len;
            s->f[k++] = *f;
        } else {
            free(f->data);
        }
    }
    s->n = k;
    return SDV_OK;
}

static void scan_free(struct scan *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->f[i].data);
    free(s->f);
    memset(s, 0, sizeof(*s));
}

static int sha_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* Sorted SHA-256 digests of the usable streams of s (32 bytes each). */
static uint8_t *sha_set(const struct scan *s)
{
    uint8_t *set = malloc(s->n * 32 + 1);

    if (set == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        memcpy(set + i * 32, s->f[i].sha, 32);
    if (s->n > 0)
        qsort(set, s->n, 32, sha_cmp);
    return set;
}

/* ---- Building OLD', NEW' and the tables ---- */

/* Entries each region table may hold: a quarter of the sections' room each. */
#define OLD_TABLE_MAX ((SDV_DELTA_SECTIONS_LEN_MAX / 4u - 4u) / DELTA_REGION_OLD_ENTRY_LEN)
#define NEW_TABLE_MAX ((SDV_DELTA_SECTIONS_LEN_MAX / 4u - 128u) / DELTA_REGION_NEW_ENTRY_LEN)

static enum sdv_err build_old(struct delta_renc *r, struct scan *so, const uint8_t *old,
                              size_t old_len)
{
    size_t total = old_len, n = 0, pos;
    uint8_t cnt[4];
    enum sdv_err err = SDV_OK;

    for (size_t i = 0; i < so->n; i++) {
        if (so->f[i].same)
            continue;
        if (n == OLD_TABLE_MAX) {
            so->f[i].same = 1; /* beyond the table's room: stays out of OLD' */
            continue;
        }
        total += so->f[i].dlen;
        n++;
    }
    if (n == 0 || total > SDV_DELTA_OLD_LEN_MAX)
        return SDV_OK; /* OLD' is the old image */
    r->old_buf = malloc(total);
    if (r->old_buf == NULL)
        return SDV_ENOMEM;
    memcpy(r->old_buf, old, old_len);
    pos = old_len;
    delta_put_u32(cnt, (uint32_t)n);
    err = sdv_buf_append(&r->sec_old, cnt, sizeof(cnt));
    for (size_t i = 0; i < so->n && err == SDV_OK; i++) {
        const struct found *f = &so->f[i];
        uint8_t e[DELTA_REGION_OLD_ENTRY_LEN];

        if (f->same)
            continue;
        memcpy(r->old_buf + pos, f->data, f->dlen);
        pos += f->dlen;
        delta_put_u64(e, f->off);
        delta_put_u32(e + 8, f->comp_len);
        delta_put_u32(e + 12, f->dlen);
        e[16] = f->kind;
        err = sdv_buf_append(&r->sec_old, e, sizeof(e));
        if (f->dlen > r->old_max)
            r->old_max = f->dlen;
        r->old_regions++;
    }
    r->old_virt = r->old_buf;
    r->old_virt_len = total;
    return err;
}

static enum sdv_err build_new(struct delta_renc *r, struct scan *sn, const uint8_t *new_data,
                              size_t new_len, size_t *codec_mem)
{
    size_t total = new_len, n = 0, pos = 0, src = 0;
    char versions[96];
    uint8_t b[4], vlen;
    enum sdv_err err;

    for (size_t i = 0; i < sn->n; i++) {
        if (!sn->f[i].reproduced)
            continue;
        if (n == NEW_TABLE_MAX) {
            sn->f[i].reproduced = 0; /* beyond the table's room: stays plain bytes */
            continue;
        }
        total = total - sn->f[i].comp_len + sn->f[i].dlen;
        n++;
    }
    if (n == 0)
        return SDV_OK;
    r->new_buf = malloc(total);
    if (r->new_buf == NULL)
        return SDV_ENOMEM;
    delta_region_lib_versions(versions, sizeof(versions));
    vlen = (uint8_t)strlen(versions);
    err = sdv_buf_append(&r->sec_new, &vlen, 1);
    if (err == SDV_OK)
        err = sdv_buf_append(&r->sec_new, versions, vlen);
    delta_put_u32(b, (uint32_t)n);
    if (err == SDV_OK)
        err = sdv_buf_append(&r->sec_new, b, sizeof(b));
    for (size_t i = 0; i < sn->n && err == SDV_OK; i++) {
        const struct found *f = &sn->f[i];
        uint8_t e[DELTA_REGION_NEW_ENTRY_LEN];
        size_t m;

        if (!f->reproduced)
            continue;
        memcpy(r->new_buf + pos, new_data + src, f->off - src);
        pos += f->off - src;
        delta_put_u64(e, pos);
        delta_put_u32(e + 8, f->dlen);
        delta_put_u32(e + 12, f->comp_len);
        e[16] = f->kind;
        memcpy(e + 17, f->params, DELTA_REGION_PARAMS_LEN);
        memcpy(e + 17 + DELTA_REGION_PARAMS_LEN, f->sha, DELTA_REGION_HASH_LEN);
        err = sdv_buf_append(&r->sec_new, e, sizeof(e));
        memcpy(r->new_buf + pos, f->data, f->dlen);
        pos += f->dlen;
        src = f->off + f->comp_len;
        if (f->dlen > r->new_max)
            r->new_max = f->dlen;
        m = delta_region_compress_mem(f->kind, f->params, f->dlen);
        if (m > *codec_mem)
            *codec_mem = m;
        r->new_regions++;
        r->new_regions_len += f->comp_len;
    }
    memcpy(r->new_buf + pos, new_data + src, new_len - src);
    r->new_virt = r->new_buf;
    r->new_virt_len = total;
    return err;
}

enum sdv_err delta_renc_prepare(struct delta_renc *r, const uint8_t *old, size_t old_len,
                                const uint8_t *new_data, size_t new_len, unsigned threads,
                                const struct sdv_log *log)
{
    struct scan so, sn;
    uint8_t *old_set = NULL, *new_set = NULL;
    size_t codec_mem = 0, old_dec_mem = 0, big;
    enum sdv_err err;

    memset(r, 0, sizeof(*r));
    r->old_virt = old;
    r->old_virt_len = old_len;
    r->new_virt = new_data;
    r->new_virt_len = new_len;
    sdv_buf_init(&r->sec_old, SDV_DELTA_SECTIONS_LEN_MAX / 4);
    sdv_buf_init(&r->sec_new, SDV_DELTA_SECTIONS_LEN_MAX / 4);
    memset(&so, 0, sizeof(so));
    memset(&sn, 0, sizeof(sn));
    if (new_len == 0)
        return SDV_OK;
    err = scan_image(&so, old, old_len, SDV_DELTA_REGION_OLD_LEN_MAX, threads);
    if (err == SDV_OK)
        err = scan_image(&sn, new_data, new_len, SDV_DELTA_REGION_NEW_LEN_MAX, threads);
    if (err != SDV_OK)
        goto out;
    old_set = sha_set(&so);
    new_set = sha_set(&sn);
    if (old_set == NULL || new_set == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < sn.n; i++)
        sn.f[i].same = so.n > 0 && bsearch(sn.f[i].sha, old_set, so.n, 32, sha_cmp) != NULL;
    for (size_t i = 0; i < so.n; i++) {
        so.f[i].same = sn.n > 0 && bsearch(so.f[i].sha, new_set, sn.n, 32, sha_cmp) != NULL;
        if (!so.f[i].same && so.f[i].dec_mem > old_dec_mem)
            old_dec_mem = so.f[i].dec_mem;
    }
    /* Streams found in both images need nothing more: drop their decompressed bytes now. */
    for (size_t i = 0; i < sn.n; i++)
        if (sn.f[i].same) {
            free(sn.f[i].data);
            sn.f[i].data = NULL;
        }
    for (size_t i = 0; i < so.n; i++)
        if (so.f[i].same) {
            free(so.f[i].data);
            so.f[i].data = NULL;
        }
    sn.trials = 1;
    err = run_workers(&sn, threads);
    if (err != SDV_OK)
        goto out;
    for (size_t i = 0; i < sn.n; i++)
        if (!sn.f[i].reproduced && !sn.f[i].same)
            r->kept_raw++;
    /* Decompressed old contents serve the matching of decompressed new contents: without a new
     * region they would only cost the decoder memory and time. */
    err = build_new(r, &sn, new_data, new_len, &codec_mem);
    if (err == SDV_OK && r->new_regions > 0)
        err = build_old(r, &so, old, old_len);
    if (err != SDV_OK)
        goto out;
    big = r->old_max > r->new_max ? r->old_max : r->new_max;
    if (r->old_regions > 0 || r->new_regions > 0) {
        /* Besides the two cache slots the decoder needs, room for more: every cache miss costs
         * a whole region's decompression (on the squashfs pair 2 MiB blocks and a 4 MiB cache
         * gave 11,900 misses, 1 MiB blocks and a 7 MiB cache 8,100, for a patch 0.6 % larger). */
        size_t wish = r->old_virt_len - old_len;

        if (wish > DELTA_REGION_CACHE_WISH)
            wish = DELTA_REGION_CACHE_WISH;
        r->region_mem = DELTA_REGION_CACHE * (size_t)r->old_max + r->new_max +
                        delta_region_comp_cap(big) +
                        (codec_mem > old_dec_mem ? codec_mem : old_dec_mem) + wish;
    }
    sdv_logf(log, SDV_LOG_DEBUG,
             "delta: regions: %zu old streams (%llu decompressed into OLD'), %zu new streams "
             "(%llu recompressed on the device, %llu left as bytes)",
             so.n, (unsigned long long)r->old_regions, sn.n, (unsigned long long)r->new_regions,
             (unsigned long long)r->kept_raw);
out:
    free(old_set);
    free(new_set);
    scan_free(&so);
    scan_free(&sn);
#ifdef __GLIBC__
    /* The streams' decompressed bytes (hundreds of MB of region-sized blocks on a squashfs
     * image) were freed into the allocator's heaps, which keep them resident: give them back
     * before the suffix array is built (squashfs pair: peak RSS 907 -> 666 MiB). */
    malloc_trim(0);
#endif
    if (err != SDV_OK)
        delta_renc_free(r);
    return err;
}

void delta_renc_free(struct delta_renc *r)
{
    if (r == NULL)
        return;
    free(r->old_buf);
    free(r->new_buf);
    sdv_buf_free(&r->sec_old);
    sdv_buf_free(&r->sec_new);
    memset(r, 0, sizeof(*r));
}

/* What the decoder needs besides the regions for a block bound (see dec_start): its own state
 * and hash context (generously), zstd's context, the IO piece, control, block and compressed
 * buffers, an xz dictionary of the block's window, and the sections twice. */
static size_t base_need(uint32_t block_len, size_t sections_len)
{
    uint32_t ctrl = block_len / 4 > SDV_DELTA_CTRL_LEN_MAX ? SDV_DELTA_CTRL_LEN_MAX : block_len / 4;

    return 256u * 1024u + ZSTD_estimateDCtxSize() + 2u * DELTA_IO_LEN + ctrl + 2u * block_len +
           ((size_t)1 << delta_window_log(block_len)) + 2u * sections_len;
}

uint32_t delta_renc_block_len(const struct delta_renc *r, uint32_t block_len, size_t sections_len)
{
    if (r->region_mem > 0 && block_len > DELTA_REGION_BLOCK_LEN)
        block_len = DELTA_REGION_BLOCK_LEN;
    while (block_len > SDV_DELTA_BLOCK_LEN_MIN &&
           base_need(block_len, sections_len) + r->region_mem >
                   SDV_DELTA_DECODER_MEMORY_MAX - DELTA_PROCESS_SLACK)
        block_len /= 2;
    return block_len < SDV_DELTA_BLOCK_LEN_MIN ? SDV_DELTA_BLOCK_LEN_MIN : block_len;
}

enum sdv_err delta_sections_emit(const struct delta_section_out *s, size_t n, sdv_sink_fn sink,
                                 void *sink_ud, uint64_t *patch_len)
{
    for (size_t i = 0; i < n; i++) {
        struct delta_section_hdr h;
        uint8_t hdr[DELTA_SECTION_HDR_LEN], *comp = NULL;
        size_t bound = ZSTD_compressBound(s[i].len), clen = 0;
        enum sdv_err err;

        if (s[i].len == 0)
            continue;
        comp = malloc(bound);
        if (comp == NULL)
            return SDV_ENOMEM;
        clen = ZSTD_compress(comp, bound, s[i].raw, s[i].len, DELTA_LEVEL_DEFAULT);
        h.type = s[i].type;
        h.raw_len = (uint32_t)s[i].len;
        if (!ZSTD_isError(clen) && clen < s[i].len) {
            h.codec = SDV_DELTA_CODEC_ZSTD;
            h.comp_len = (uint32_t)clen;
        } else {
            h.codec = SDV_DELTA_CODEC_STORED;
            h.comp_len = h.raw_len;
        }
        delta_section_hdr_write(&h, hdr);
        err = sink(sink_ud, hdr, sizeof(hdr));
        if (err == SDV_OK)
            err = sink(sink_ud, h.codec == SDV_DELTA_CODEC_STORED ? s[i].raw : comp, h.comp_len);
        free(comp);
        if (err != SDV_OK)
            return err;
        *patch_len += sizeof(hdr) + h.comp_len;
    }
    return SDV_OK;
}

/* ---- Entry point ---- */

enum sdv_err sdv_delta_encode(const uint8_t *old, size_t old_len, const uint8_t *new_data,
                              size_t new_len, const struct sdv_delta_encode_opts *opts,
                              sdv_sink_fn sink, void *sink_ud, struct sdv_delta_stats *stats)
{
    struct delta_renc rg;
    struct delta_encode_real x;
    struct sdv_delta_stats st;
    unsigned threads = opts != NULL && opts->threads > 0 ? opts->threads : 1;
    enum sdv_err err;

    if ((old == NULL && old_len > 0) || (new_data == NULL && new_len > 0) || sink == NULL ||
        threads > SDV_DELTA_THREADS_MAX)
        return SDV_EINVAL;
    if ((uint64_t)old_len > SDV_DELTA_OLD_LEN_MAX || (uint64_t)new_len > SDV_DELTA_NEW_LEN_MAX)
        return SDV_ETOOBIG;
    memset(&x, 0, sizeof(x));
    x.old_len = old_len;
    x.new_len = new_len;
    err = sdv_hash_buf(SDV_HASH_SHA256, old, old_len, x.old_sha256);
    if (err == SDV_OK)
        err = sdv_hash_buf(SDV_HASH_SHA256, new_data, new_len, x.new_sha256);
    if (err != SDV_OK)
        return err;
    err = delta_renc_prepare(&rg, old, old_len, new_data, new_len, threads,
                             opts != NULL ? opts->log : NULL);
    if (err != SDV_OK)
        return err;
    x.rg = &rg;
    memset(&st, 0, sizeof(st));
    err = delta_encode_images(rg.old_virt, rg.old_virt_len, rg.new_virt, rg.new_virt_len, opts,
                              sink, sink_ud, &st, &x);
    if (err == SDV_OK && stats != NULL) {
        st.old_regions = rg.old_regions;
        st.new_regions = rg.new_regions;
        st.new_regions_len = rg.new_regions_len;
        st.regions_kept_raw = rg.kept_raw;
        if (rg.new_regions > 0)
            delta_region_lib_versions(st.codec_versions, sizeof(st.codec_versions));
        *stats = st;
    }
    delta_renc_free(&rg);
    return err;
}
