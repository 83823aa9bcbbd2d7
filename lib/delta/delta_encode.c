/*
 * delta_encode.c - the patch encoder.
 *
 * Matching follows the approach Colin Percival published for bsdiff ("Naive differences of
 * executable code", 2003): index the old image with a suffix array (libdivsufsort), walk the new
 * image looking up the longest exact match at each position, and accept a new alignment only when
 * it beats the current one (old position = new position + a running offset) by a margin; then
 * extend each accepted match forward and backward while more than half of the bytes agree, so
 * that code whose embedded addresses shifted becomes one long "add" region of small differences
 * that compress to almost nothing. Each such region becomes a control tuple (add, extra, seek).
 *
 * Tuples are packed into blocks of at most block_len new bytes; each block's control,
 * difference and literal streams are compressed independently (zstd or xz), on worker threads
 * when asked, and written in order.
 */
#include <divsufsort.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/crypto.h>

#include "delta_exec.h"
#include "delta_int.h"
#include "delta_region.h"

/* A new alignment is taken when its exact match is longer than what the current alignment
 * already matches over the same bytes by more than this: below it, switching costs a control
 * tuple and a seek for little gain. */
#define ENC_SWITCH_MARGIN 8

/* One block being filled or compressed, with its own compression context so that blocks compress
 * in parallel. */
struct enc_slot {
    uint8_t *ctrl, *diff, *extra;
    size_t ctrl_len, diff_len, extra_len;
    uint32_t new_len;
    uint64_t old_start;
    uint64_t cursor; /* old position after the last tuple's add */
    int seek_pending;
    uint64_t tuples;

    uint8_t *out; /* preamble and compressed streams */
    size_t out_len, out_cap;
    struct delta_cctx cctx;
    struct delta_block_hdr hdr;

    pthread_t thread;
    int running;
    enum sdv_err err;
    /* Shared, read-only while threads run. */
    const struct enc *enc;
};

/* One control tuple of the alignment: add bytes at old_pos, then extra literal bytes, covering
 * new bytes from new_pos. */
struct enc_tuple {
    uint64_t old_pos, new_pos, add, extra;
};

struct enc {
    const uint8_t *old;
    uint64_t old_len;
    const uint8_t *new_data;
    uint64_t new_len;
    const saidx_t *sa;

    uint32_t block_len;
    uint32_t ctrl_len_max;
    int level;
    enum sdv_delta_codec_choice codec;

    struct enc_slot *slots;
    unsigned nslots;
    unsigned cur; /* slot being filled */

    sdv_sink_fn sink;
    void *sink_ud;
    struct sdv_delta_stats st;
    const struct sdv_log *log;

    /* The alignment, found before any block is written (enc_plan), then emitted (enc_emit). */
    struct enc_tuple *tuples;
    size_t ntuples, tuples_cap;
    /* Executable reference map (section type 3): its payload and its parsed form, which
     * predicts the old bytes of every add run exactly as the decoder will. NULL: no ELF. */
    struct sdv_buf xsec;
    struct delta_xmap *xmap;
};

/* ---- Blocks ---- */

static enum sdv_err slot_init(struct enc_slot *s, const struct enc *e)
{
    memset(s, 0, sizeof(*s));
    s->enc = e;
    s->ctrl = malloc(e->ctrl_len_max);
    s->diff = malloc(e->block_len);
    s->extra = malloc(e->block_len);
    s->out_cap = DELTA_BLOCK_PREAMBLE_LEN + delta_comp_bound(e->ctrl_len_max) +
                 2 * delta_comp_bound(e->block_len);
    s->out = malloc(s->out_cap);
    if (s->ctrl == NULL || s->diff == NULL || s->extra == NULL || s->out == NULL)
        return SDV_ENOMEM;
    return delta_cctx_init(&s->cctx, e->block_len);
}

static void slot_free(struct enc_slot *s)
{
    free(s->ctrl);
    free(s->diff);
    free(s->extra);
    free(s->out);
    delta_cctx_free(&s->cctx);
}

/* Compresses the slot's three streams into s->out behind the block preamble. */
static enum sdv_err slot_compress(struct enc_slot *s)
{
    const struct enc *e = s->enc;
    const uint8_t *src[SDV_DELTA_STREAMS] = {s->ctrl, s->diff, s->extra};
    const size_t len[SDV_DELTA_STREAMS] = {s->ctrl_len, s->diff_len, s->extra_len};
    size_t off = DELTA_BLOCK_PREAMBLE_LEN;
    enum sdv_err err;

    memset(&s->hdr, 0, sizeof(s->hdr));
    s->hdr.type = DELTA_BLOCK_COPY_ADD;
    s->hdr.new_len = s->new_len;
    s->hdr.old_start = s->old_start;
    for (unsigned i = 0; i < SDV_DELTA_STREAMS; i++) {
        size_t comp_len;

        err = delta_compress(&s->cctx, e->codec, e->level, src[i], len[i], s->out + off,
                             &s->hdr.s[i].codec, &comp_len);
        if (err != SDV_OK)
            return err;
        s->hdr.s[i].raw_len = (uint32_t)len[i];
        s->hdr.s[i].comp_len = (uint32_t)comp_len;
        off += comp_len;
    }
    s->hdr.payload_len = (uint32_t)(off - DELTA_BLOCK_HDR_LEN);
    delta_block_hdr_write(&s->hdr, s->out);
    s->out_len = off;
    return SDV_OK;
}

static void *slot_thread(void *arg)
{
    struct enc_slot *s = arg;

    s->err = slot_compress(s);
    return NULL;
}

/* Waits for the slot's compression (if any) and hands its block to the sink. */
static enum sdv_err slot_drain(struct enc *e, struct enc_slot *s)
{
    enum sdv_err err;

    if (!s->running)
        return SDV_OK;
    if (e->nslots > 1)
        pthread_join(s->thread, NULL);
    s->running = 0;
    if (s->err != SDV_OK)
        return s->err;
    err = e->sink(e->sink_ud, s->out, s->out_len);
    if (err != SDV_OK)
        return err;
    e->st.blocks++;
    e->st.patch_len += s->out_len;
    e->st.tuples += s->tuples;
    e->st.copied_len += s->diff_len;
    for (unsigned i = 0; i < SDV_DELTA_STREAMS; i++) {
        e->st.raw_len[i] += s->hdr.s[i].raw_len;
        e->st.comp_len[i] += s->hdr.s[i].comp_len;
        e->st.codec_count[s->hdr.s[i].codec]++;
    }
    sdv_logf(e->log, SDV_LOG_DEBUG, "delta: block %llu: %u new bytes, %zu patch bytes",
             (unsigned long long)e->st.blocks, (unsigned)s->new_len, s->out_len);
    return SDV_OK;
}

/* Closes the block being filled: compresses it (on a thread when there are several slots) and
 * moves on to the next slot, draining it first. */
static enum sdv_err enc_close_block(struct enc *e)
{
    struct enc_slot *s = &e->slots[e->cur];
    enum sdv_err err;

    if (s->new_len == 0)
        return SDV_OK;
    if (s->seek_pending) {
        s->ctrl_len += delta_varint_put(s->ctrl + s->ctrl_len, 0);
        s->seek_pending = 0;
    }
    s->running = 1;
    s->err = SDV_OK;
    if (e->nslots == 1) {
        s->err = slot_compress(s);
    } else if (pthread_create(&s->thread, NULL, slot_thread, s) != 0) {
        s->running = 0;
        return SDV_ENOMEM;
    }
    e->cur = (e->cur + 1) % e->nslots;
    s = &e->slots[e->cur];
    err = slot_drain(e, s);
    if (err != SDV_OK)
        return err;
    s->ctrl_len = s->diff_len = s->extra_len = 0;
    s->new_len = 0;
    s->tuples = 0;
    return SDV_OK;
}

/* The difference bytes of an add run of a bytes: new minus old, or minus the predicted old bytes
 * where the reference map predicts references (the decoder predicts the same run the same way). */
static void enc_diff(const struct enc *e, uint64_t old_pos, uint64_t new_pos, uint32_t a,
                     uint8_t *d)
{
    if (a == 0)
        return; /* an empty OLD has no base pointer to copy from (memcpy(d, NULL, 0) is UB) */
    memcpy(d, e->old + old_pos, a);
    if (e->xmap != NULL && delta_xmap_touches(e->xmap, old_pos, a))
        delta_xmap_predict(e->xmap, e->old, 0, e->old_len, old_pos, old_pos + a, new_pos, old_pos,
                           d, a);
    for (uint32_t i = 0; i < a; i++)
        d[i] = (uint8_t)(e->new_data[new_pos + i] - d[i]);
}

/*
 * Appends the tuple "add bytes at old_pos (plus a difference), then extra literal bytes" taken
 * from new_data[new_pos..], splitting it across blocks as they fill. The seek of the previous
 * tuple is written once this tuple's old position is known.
 */
static enum sdv_err enc_put(struct enc *e, uint64_t old_pos, uint64_t new_pos, uint64_t add,
                            uint64_t extra)
{
    enum sdv_err err;

    while (add + extra > 0) {
        struct enc_slot *s = &e->slots[e->cur];
        uint32_t room, a, x;

        /* Room for this tuple and the final seek written when the block closes. */
        if (s->new_len == e->block_len ||
            s->ctrl_len + DELTA_TUPLE_LEN_MAX + DELTA_VARINT_LEN_MAX > e->ctrl_len_max) {
            err = enc_close_block(e);
            if (err != SDV_OK)
                return err;
            s = &e->slots[e->cur];
        }
        if (add == 0)
            old_pos = s->new_len == 0 ? (old_pos <= e->old_len ? old_pos : e->old_len) : s->cursor;
        if (s->new_len == 0) {
            s->old_start = old_pos;
            s->cursor = old_pos;
        } else if (s->seek_pending) {
            s->ctrl_len += delta_varint_put(s->ctrl + s->ctrl_len,
                                            delta_zigzag((int64_t)old_pos - (int64_t)s->cursor));
        }
        room = e->block_len - s->new_len;
        a = add < room ? (uint32_t)add : room;
        x = extra < room - a ? (uint32_t)extra : room - a;
        s->ctrl_len += delta_varint_put(s->ctrl + s->ctrl_len, a);
        s->ctrl_len += delta_varint_put(s->ctrl + s->ctrl_len, x);
        s->seek_pending = 1;
        s->tuples++;
        enc_diff(e, old_pos, new_pos, a, s->diff + s->diff_len);
        s->diff_len += a;
        memcpy(s->extra + s->extra_len, e->new_data + new_pos + a, x);
        s->extra_len += x;
        s->new_len += a + x;
        s->cursor = old_pos + a;
        old_pos += a;
        new_pos += a + x;
        add -= a;
        extra -= x;
    }
    return SDV_OK;
}

/* ---- Matching ---- */

/* Length of the common prefix of a[0..alen) and b[0..blen). */
static uint64_t common_len(const uint8_t *a, uint64_t alen, const uint8_t *b, uint64_t blen)
{
    uint64_t n = alen < blen ? alen : blen, i = 0;

    while (i + 8 <= n && memcmp(a + i, b + i, 8) == 0)
        i += 8;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/*
 * Longest prefix of p[0..plen) occurring in the old image, by binary search over the suffix
 * array; *pos gets where. The common prefix with both ends of the search range is carried along,
 * so each comparison skips what every suffix in between is known to share with p.
 */
static uint64_t enc_longest(const struct enc *e, const uint8_t *p, uint64_t plen, uint64_t *pos)
{
    uint64_t lo = 0, hi = e->old_len - 1, llo, lhi;

    llo = common_len(e->old + e->sa[lo], e->old_len - (uint64_t)e->sa[lo], p, plen);
    lhi = common_len(e->old + e->sa[hi], e->old_len - (uint64_t)e->sa[hi], p, plen);
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2, off = (uint64_t)e->sa[mid];
        uint64_t olen = e->old_len - off, k = llo < lhi ? llo : lhi, m;
        int below;

        m = k + common_len(e->old + off + k, olen - k, p + k, plen - k);
        if (m == olen || m == plen)
            below = olen < plen; /* a proper prefix sorts first */
        else
            below = e->old[off + m] < p[m];
        if (below) {
            lo = mid;
            llo = m;
        } else {
            hi = mid;
            lhi = m;
        }
    }
    if (llo >= lhi) {
        *pos = (uint64_t)e->sa[lo];
        return llo;
    }
    *pos = (uint64_t)e->sa[hi];
    return lhi;
}

/* Whether new byte i matches the old byte at the same place under alignment off. */
static int enc_aligned(const struct enc *e, uint64_t i, int64_t off)
{
    int64_t j = (int64_t)i + off;

    return j >= 0 && (uint64_t)j < e->old_len && e->old[j] == e->new_data[i];
}

/* Appends a tuple to the alignment (tuples come in new-image order). */
static enum sdv_err enc_record(struct enc *e, uint64_t old_pos, uint64_t new_pos, uint64_t add,
                               uint64_t extra)
{
    if (add + extra == 0)
        return SDV_OK;
    if (e->ntuples == e->tuples_cap) {
        size_t cap = e->tuples_cap ? 2 * e->tuples_cap : 4096;
        struct enc_tuple *t = realloc(e->tuples, cap * sizeof(*t));

        if (t == NULL)
            return SDV_ENOMEM;
        e->tuples = t;
        e->tuples_cap = cap;
    }
    e->tuples[e->ntuples++] = (struct enc_tuple){old_pos, new_pos, add, extra};
    return SDV_OK;
}

/*
 * Walks the new image and records one tuple per accepted alignment change. last_scan/last_pos is
 * where the previous match (extended backwards) began in new and old; the bytes between its
 * forward extension and the next match's backward extension are literal.
 */
static enum sdv_err enc_match(struct enc *e)
{
    const uint8_t *o = e->old, *n = e->new_data;
    uint64_t scan = 0, len = 0, pos = 0, last_scan = 0, last_pos = 0;
    int64_t last_off = 0;
    enum sdv_err err;

    if (e->old_len == 0)
        return enc_record(e, 0, 0, 0, e->new_len);
    while (scan < e->new_len) {
        uint64_t score = 0, sc;
        int64_t s, best;
        uint64_t lenf = 0, lenb = 0;

        scan += len;
        sc = scan;
        for (; scan < e->new_len; scan++) {
            len = enc_longest(e, n + scan, e->new_len - scan, &pos);
            for (; sc < scan + len; sc++)
                score += (uint64_t)enc_aligned(e, sc, last_off);
            if ((len == score && len != 0) || len > score + ENC_SWITCH_MARGIN)
                break;
            if (enc_aligned(e, scan, last_off))
                score--;
        }
        if (len == score && scan != e->new_len)
            continue;

        /* Forward extension of the previous match: the prefix where matches outnumber
         * mismatches the most. */
        s = 0;
        best = 0;
        for (uint64_t i = 0; last_scan + i < scan && last_pos + i < e->old_len; i++) {
            s += o[last_pos + i] == n[last_scan + i] ? 1 : -1;
            if (s > best) {
                best = s;
                lenf = i + 1;
            }
        }
        /* Backward extension of the new match, the same way. */
        if (scan < e->new_len) {
            s = 0;
            best = 0;
            for (uint64_t i = 1; scan >= last_scan + lenf + i && pos >= i; i++) {
                s += o[pos - i] == n[scan - i] ? 1 : -1;
                if (s > best) {
                    best = s;
                    lenb = i;
                }
            }
        }
        err = enc_record(e, last_pos, last_scan, lenf, (scan - lenb) - (last_scan + lenf));
        if (err != SDV_OK)
            return err;
        last_scan = scan - lenb;
        last_pos = pos - lenb;
        last_off = (int64_t)pos - (int64_t)scan;
    }
    return SDV_OK;
}

/*
 * Finds the alignment (enc_match) and, when the images hold ELF code, the reference map built
 * from it: e->xsec gets the payload of section type 3 (empty if none), e->xmap its parsed form.
 * Writes nothing.
 */
static enum sdv_err enc_plan(struct enc *e)
{
    struct delta_xrun *runs;
    char why[128];
    size_t mem;
    enum sdv_err err;

    err = enc_match(e);
    if (err != SDV_OK || e->ntuples == 0 || e->old_len == 0)
        return err;
    runs = malloc(e->ntuples * sizeof(*runs));
    if (runs == NULL)
        return SDV_ENOMEM;
    for (size_t i = 0; i < e->ntuples; i++)
        runs[i] = (struct delta_xrun){e->tuples[i].old_pos, e->tuples[i].new_pos, e->tuples[i].add};
    err = delta_xmap_build(e->old, e->old_len, e->new_data, e->new_len, runs, e->ntuples, &e->xsec);
    free(runs);
    if (err == SDV_ETOOBIG) { /* a map that does not fit is left out: plain bytes */
        sdv_buf_reset(&e->xsec);
        return SDV_OK;
    }
    if (err != SDV_OK || e->xsec.len == 0)
        return err;
    /* The encoder predicts with the map as the decoder will read it back. */
    err = delta_xmap_parse(e->xsec.data, e->xsec.len, e->old_len, e->new_len, DELTA_EXEC_MEM_MAX,
                           &e->xmap, &mem, why, sizeof(why));
    if (err == SDV_ETOOBIG) { /* the decoder would refuse it: plain bytes */
        sdv_buf_reset(&e->xsec);
        return SDV_OK;
    }
    if (err == SDV_OK) {
        struct delta_xmap_info in;

        delta_xmap_info(e->xmap, &in);
        sdv_logf(e->log, SDV_LOG_DEBUG,
                 "delta: reference map of %zu bytes: %u/%u ELF, %u/%u segments, %u steps, %zu "
                 "bytes of decoder memory",
                 e->xsec.len, in.old_elfs, in.new_elfs, in.old_segs, in.new_segs, in.steps, mem);
    }
    return err;
}

/* Emits the planned tuples into blocks. */
static enum sdv_err enc_emit(struct enc *e)
{
    for (size_t i = 0; i < e->ntuples; i++) {
        const struct enc_tuple *t = &e->tuples[i];
        enum sdv_err err = enc_put(e, t->old_pos, t->new_pos, t->add, t->extra);

        if (err != SDV_OK)
            return err;
    }
    return SDV_OK;
}

/* Writes one section (header and bytes, zstd-compressed when that is smaller). */
static enum sdv_err enc_put_section(struct enc *e, uint8_t type, const uint8_t *raw, size_t len)
{
    struct delta_cctx c;
    struct delta_section_hdr sh;
    uint8_t *buf, codec;
    size_t comp_len;
    enum sdv_err err;

    buf = malloc(DELTA_SECTION_HDR_LEN + delta_comp_bound(len));
    if (buf == NULL)
        return SDV_ENOMEM;
    err = delta_cctx_init(&c, len);
    if (err == SDV_OK)
        err = delta_compress(&c, e->codec, e->level, raw, len, buf + DELTA_SECTION_HDR_LEN, &codec,
                             &comp_len);
    delta_cctx_free(&c);
    if (err == SDV_OK) {
        sh.type = type;
        sh.codec = codec;
        sh.raw_len = (uint32_t)len;
        sh.comp_len = (uint32_t)comp_len;
        delta_section_hdr_write(&sh, buf);
        err = e->sink(e->sink_ud, buf, DELTA_SECTION_HDR_LEN + comp_len);
    }
    if (err == SDV_OK) {
        e->st.sections++;
        e->st.sections_comp_len += DELTA_SECTION_HDR_LEN + comp_len;
        e->st.patch_len += DELTA_SECTION_HDR_LEN + comp_len;
    }
    free(buf);
    return err;
}

/* ---- Entry point ---- */

enum sdv_err delta_encode_images(const uint8_t *old, size_t old_len, const uint8_t *new_data,
                                 size_t new_len, const struct sdv_delta_encode_opts *opts,
                                 sdv_sink_fn sink, void *sink_ud, struct sdv_delta_stats *stats,
                                 const struct delta_encode_real *x)
{
    struct sdv_delta_encode_opts o;
    struct sdv_delta_header h;
    uint8_t hdr[SDV_DELTA_HEADER_LEN];
    struct enc e;
    saidx_t *sa = NULL;
    enum sdv_err err;

    if ((old == NULL && old_len > 0) || (new_data == NULL && new_len > 0) || sink == NULL)
        return SDV_EINVAL;
    memset(&o, 0, sizeof(o));
    if (opts != NULL)
        o = *opts;
    if (o.level == 0)
        o.level = DELTA_LEVEL_DEFAULT;
    if (o.block_len == 0)
        o.block_len = SDV_DELTA_BLOCK_LEN_DEFAULT;
    if (o.threads == 0)
        o.threads = 1;
    if (o.level < 1 || o.level > ZSTD_maxCLevel() || o.block_len < SDV_DELTA_BLOCK_LEN_MIN ||
        o.block_len > SDV_DELTA_BLOCK_LEN_MAX || o.threads > SDV_DELTA_THREADS_MAX ||
        o.codec > SDV_DELTA_CHOOSE_BEST)
        return SDV_EINVAL;
    if ((uint64_t)old_len > SDV_DELTA_OLD_LEN_MAX || (uint64_t)new_len > SDV_DELTA_NEW_LEN_MAX)
        return SDV_ETOOBIG;

    /* A block never needs to be larger than the new image: smaller bounds cost the decoder (and
     * the encoder's buffers) less memory on small images. */
    if (new_len < o.block_len)
        o.block_len =
                new_len < SDV_DELTA_BLOCK_LEN_MIN ? SDV_DELTA_BLOCK_LEN_MIN : (uint32_t)new_len;
    /* Regions (delta_region_enc.c) take decoder memory: blocks shrink to make room. */
    o.block_len = delta_renc_block_len(x->rg, o.block_len, x->rg->sec_old.len + x->rg->sec_new.len);

    memset(&h, 0, sizeof(h));
    h.version = SDV_DELTA_FORMAT_VERSION;
    h.old_len = x->old_len;
    h.new_len = x->new_len;
    h.old_virt_len = old_len;
    h.new_virt_len = new_len;
    h.region_old_len_max = x->rg->old_max;
    h.region_new_len_max = x->rg->new_max;
    h.block_len_max = o.block_len;
    h.ctrl_len_max = o.block_len / 4;
    if (h.ctrl_len_max > SDV_DELTA_CTRL_LEN_MAX)
        h.ctrl_len_max = SDV_DELTA_CTRL_LEN_MAX;
    h.window_log = (uint8_t)delta_window_log(o.block_len);
    memcpy(h.old_sha256, x->old_sha256, sizeof(h.old_sha256));
    memcpy(h.new_sha256, x->new_sha256, sizeof(h.new_sha256));

    memset(&e, 0, sizeof(e));
    e.old = old;
    e.old_len = old_len;
    e.new_data = new_data;
    e.new_len = new_len;
    e.block_len = h.block_len_max;
    e.ctrl_len_max = h.ctrl_len_max;
    e.level = o.level;
    e.codec = o.codec;
    e.sink = sink;
    e.sink_ud = sink_ud;
    e.log = o.log;
    if (old_len > 0 && new_len > 0) {
        sa = malloc((size_t)old_len * sizeof(*sa));
        if (sa == NULL) {
            err = SDV_ENOMEM;
            goto out;
        }
        if (divsufsort(old, sa, (saidx_t)old_len) != 0) {
            err = SDV_ENOMEM;
            goto out;
        }
        e.sa = sa;
    }
    sdv_logf(e.log, SDV_LOG_DEBUG, "delta: suffix array of %zu bytes built", old_len);

    /* The alignment comes first: the sections it yields precede the blocks. */
    sdv_buf_init(&e.xsec, DELTA_EXEC_SECTION_LEN_MAX);
    if (new_len > 0) {
        err = enc_plan(&e);
        if (err != SDV_OK)
            goto out;
    }
    /* The suffix array (4 bytes per OLD' byte) served the alignment only: freed before the
     * blocks' buffers and compressors exist, it does not add to their peak. */
    free(sa);
    sa = NULL;
    e.sa = NULL;
    /* One slot fills while the others compress; a single thread needs one slot. */
    e.nslots = o.threads;
    e.slots = calloc(e.nslots, sizeof(*e.slots));
    if (e.slots == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < e.nslots; i++) {
        err = slot_init(&e.slots[i], &e);
        if (err != SDV_OK)
            goto out;
    }
    h.section_count = (uint16_t)((x->rg->sec_old.len > 0) + (x->rg->sec_new.len > 0));
    h.sections_len = (uint32_t)(x->rg->sec_old.len + x->rg->sec_new.len);
    if (e.xsec.len > 0) {
        h.section_count++;
        h.sections_len += (uint32_t)e.xsec.len;
    }
    delta_header_write(&h, hdr);
    err = sink(sink_ud, hdr, sizeof(hdr));
    if (err != SDV_OK)
        goto out;
    e.st.patch_len = sizeof(hdr);
    {
        /* Region tables first (types 1, 2), then the reference map (type 3). */
        const struct delta_section_out rs[2] = {
                {DELTA_SECTION_OLD_REGIONS, x->rg->sec_old.data, x->rg->sec_old.len},
                {DELTA_SECTION_NEW_REGIONS, x->rg->sec_new.data, x->rg->sec_new.len}};
        uint64_t before = e.st.patch_len;

        err = delta_sections_emit(rs, 2, sink, sink_ud, &e.st.patch_len);
        if (err != SDV_OK)
            goto out;
        e.st.sections += h.section_count - (e.xsec.len > 0);
        e.st.sections_comp_len += e.st.patch_len - before;
    }
    if (e.xsec.len > 0) {
        err = enc_put_section(&e, DELTA_SECTION_EXEC_MAP, e.xsec.data, e.xsec.len);
        if (err != SDV_OK)
            goto out;
    }
    if (new_len > 0) {
        err = enc_emit(&e);
        if (err == SDV_OK)
            err = enc_close_block(&e);
    }
    /* Drain every slot still compressing, in order, even after an error (threads must end). */
    for (unsigned i = 0; i < e.nslots; i++) {
        enum sdv_err e2 = slot_drain(&e, &e.slots[(e.cur + i) % e.nslots]);

        if (err == SDV_OK)
            err = e2;
    }
    if (err == SDV_OK && stats != NULL)
        *stats = e.st;
out:
    free(sa);
    free(e.tuples);
    delta_xmap_free(e.xmap);
    sdv_buf_free(&e.xsec);
    for (unsigned i = 0; e.slots != NULL && i < e.nslots; i++)
        slot_free(&e.slots[i]);
    free(e.slots);
    return err;
}
