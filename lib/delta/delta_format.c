/*
 * delta_format.c - the byte layout of a patch: fixed header, block preambles, varints,
 * checkpoints, and the structural walk behind `sdv delta info`. Every field read from a patch is
 * checked here against the header's bounds before the encoder-independent parts of the decoder
 * use it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/crypto.h>

#include "delta_int.h"

enum sdv_err delta_fail(char *errmsg, size_t errmsg_len, enum sdv_err code, const char *fmt, ...)
{
    va_list ap;

    if (errmsg != NULL && errmsg_len > 0) {
        va_start(ap, fmt);
        vsnprintf(errmsg, errmsg_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

uint16_t delta_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

uint32_t delta_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t delta_get_u64(const uint8_t *p)
{
    return (uint64_t)delta_get_u32(p) | (uint64_t)delta_get_u32(p + 4) << 32;
}

void delta_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void delta_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void delta_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

size_t delta_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int delta_varint_get(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;

    for (unsigned i = 0; i < DELTA_VARINT_LEN_MAX; i++) {
        uint8_t b;

        if (*pos >= len)
            return -1;
        b = p[(*pos)++];
        /* The tenth byte holds bit 63 only. */
        if (i == DELTA_VARINT_LEN_MAX - 1 && b > 1)
            return -1;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

uint64_t delta_zigzag(int64_t v)
{
    return v < 0 ? ((uint64_t)(-(v + 1)) << 1) | 1u : (uint64_t)v << 1;
}

int64_t delta_unzigzag(uint64_t v)
{
    return (v & 1u) ? -(int64_t)(v >> 1) - 1 : (int64_t)(v >> 1);
}

void delta_header_write(const struct sdv_delta_header *h, uint8_t *out)
{
    memset(out, 0, SDV_DELTA_HEADER_LEN);
    memcpy(out, DELTA_MAGIC, DELTA_MAGIC_LEN);
    delta_put_u16(out + 8, h->version);
    delta_put_u16(out + 10, (uint16_t)SDV_DELTA_HEADER_LEN);
    delta_put_u32(out + 12, h->flags);
    delta_put_u64(out + 16, h->old_len);
    delta_put_u64(out + 24, h->new_len);
    memcpy(out + 32, h->old_sha256, 32);
    memcpy(out + 64, h->new_sha256, 32);
    delta_put_u32(out + 96, h->block_len_max);
    delta_put_u32(out + 100, h->ctrl_len_max);
    out[104] = h->window_log;
    delta_put_u16(out + 106, h->section_count);
    delta_put_u32(out + 108, h->sections_len);
    delta_put_u64(out + 112, h->old_virt_len);
    delta_put_u64(out + 120, h->new_virt_len);
    delta_put_u32(out + 128, h->region_old_len_max);
    delta_put_u32(out + 132, h->region_new_len_max);
}

/* Header bytes 136..159 are reserved. */
#define HDR_RESERVED_AT 136u

enum sdv_err sdv_delta_header_parse(const void *data, size_t len, struct sdv_delta_header *out,
                                    char *errmsg, size_t errmsg_len)
{
    const uint8_t *p = data;
    struct sdv_delta_header h;

    if (p == NULL || out == NULL)
        return SDV_EINVAL;
    if (len < SDV_DELTA_HEADER_LEN)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "patch shorter than its %u-byte header",
                          SDV_DELTA_HEADER_LEN);
    if (memcmp(p, DELTA_MAGIC, DELTA_MAGIC_LEN) != 0)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "not an OpenSDV delta (bad magic)");
    memset(&h, 0, sizeof(h));
    h.version = delta_get_u16(p + 8);
    if (h.version != SDV_DELTA_FORMAT_VERSION)
        return delta_fail(errmsg, errmsg_len, SDV_EUNSUPPORTED,
                          "patch format version %u, this decoder reads version %u", h.version,
                          SDV_DELTA_FORMAT_VERSION);
    if (delta_get_u16(p + 10) != SDV_DELTA_HEADER_LEN)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "header length %u, expected %u",
                          delta_get_u16(p + 10), SDV_DELTA_HEADER_LEN);
    h.flags = delta_get_u32(p + 12);
    if (h.flags != 0)
        return delta_fail(errmsg, errmsg_len, SDV_EUNSUPPORTED, "unknown header flags 0x%x",
                          (unsigned)h.flags);
    h.old_len = delta_get_u64(p + 16);
    h.new_len = delta_get_u64(p + 24);
    memcpy(h.old_sha256, p + 32, 32);
    memcpy(h.new_sha256, p + 64, 32);
    h.block_len_max = delta_get_u32(p + 96);
    h.ctrl_len_max = delta_get_u32(p + 100);
    h.window_log = p[104];
    h.section_count = delta_get_u16(p + 106);
    h.sections_len = delta_get_u32(p + 108);
    h.old_virt_len = delta_get_u64(p + 112);
    h.new_virt_len = delta_get_u64(p + 120);
    h.region_old_len_max = delta_get_u32(p + 128);
    h.region_new_len_max = delta_get_u32(p + 132);
    if (p[105] != 0)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "reserved header byte 105 not zero");
    for (unsigned i = HDR_RESERVED_AT; i < SDV_DELTA_HEADER_LEN; i++)
        if (p[i] != 0)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "reserved header byte %u not zero",
                              i);
    if (h.old_len > (uint64_t)INT64_MAX || h.new_len > (uint64_t)INT64_MAX ||
        h.old_virt_len > (uint64_t)INT64_MAX || h.new_virt_len > (uint64_t)INT64_MAX)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "image length above 2^63");
    if (h.section_count > SDV_DELTA_SECTIONS_MAX || h.sections_len > SDV_DELTA_SECTIONS_LEN_MAX ||
        (h.section_count == 0) != (h.sections_len == 0) || h.sections_len < h.section_count)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "%u sections of %u bytes (at most %u sections, %u bytes)",
                          (unsigned)h.section_count, (unsigned)h.sections_len,
                          SDV_DELTA_SECTIONS_MAX, SDV_DELTA_SECTIONS_LEN_MAX);
    if (h.old_virt_len < h.old_len || (h.new_len > 0 && h.new_virt_len == 0) ||
        (h.section_count == 0 && (h.old_virt_len != h.old_len || h.new_virt_len != h.new_len)))
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "virtual image lengths do not fit the image lengths");
    if (h.region_old_len_max > SDV_DELTA_REGION_OLD_LEN_MAX ||
        h.region_new_len_max > SDV_DELTA_REGION_NEW_LEN_MAX)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "region bounds %u/%u above %u/%u",
                          (unsigned)h.region_old_len_max, (unsigned)h.region_new_len_max,
                          SDV_DELTA_REGION_OLD_LEN_MAX, SDV_DELTA_REGION_NEW_LEN_MAX);
    if (h.block_len_max > SDV_DELTA_BLOCK_LEN_MAX || (h.new_virt_len > 0 && h.block_len_max == 0))
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "block length bound %u outside 1..%u",
                          (unsigned)h.block_len_max, SDV_DELTA_BLOCK_LEN_MAX);
    if (h.ctrl_len_max > SDV_DELTA_CTRL_LEN_MAX || (h.new_virt_len > 0 && h.ctrl_len_max < 3))
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "control length bound %u outside 3..%u",
                          (unsigned)h.ctrl_len_max, SDV_DELTA_CTRL_LEN_MAX);
    if (h.window_log > SDV_DELTA_WINDOW_LOG_MAX)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "window log %u above %u", h.window_log,
                          SDV_DELTA_WINDOW_LOG_MAX);
    *out = h;
    return SDV_OK;
}

void delta_block_hdr_write(const struct delta_block_hdr *b, uint8_t *out)
{
    uint8_t *d = out + DELTA_BLOCK_HDR_LEN + 8;

    memset(out, 0, DELTA_BLOCK_PREAMBLE_LEN);
    out[0] = b->type;
    delta_put_u32(out + 4, b->new_len);
    delta_put_u32(out + 8, b->payload_len);
    delta_put_u64(out + DELTA_BLOCK_HDR_LEN, b->old_start);
    for (unsigned i = 0; i < SDV_DELTA_STREAMS; i++, d += DELTA_STREAM_DESC_LEN) {
        d[0] = b->s[i].codec;
        delta_put_u32(d + 4, b->s[i].raw_len);
        delta_put_u32(d + 8, b->s[i].comp_len);
    }
}

static const char *const delta_stream_names[SDV_DELTA_STREAMS] = {"control", "difference",
                                                                  "literal"};

enum sdv_err delta_block_hdr_parse(const uint8_t *p, const struct sdv_delta_header *h,
                                   uint64_t new_left, struct delta_block_hdr *out, char *errmsg,
                                   size_t errmsg_len)
{
    struct delta_block_hdr b;
    const uint8_t *d = p + DELTA_BLOCK_HDR_LEN + 8;
    uint64_t comp_sum = 0;

    memset(&b, 0, sizeof(b));
    b.type = p[0];
    if (b.type == 0)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "block type 0 is invalid");
    if (b.type != DELTA_BLOCK_COPY_ADD)
        return delta_fail(errmsg, errmsg_len, SDV_EUNSUPPORTED,
                          "block type %u is not known to this decoder", b.type);
    if (p[1] != 0 || p[2] != 0 || p[3] != 0)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "block flags or reserved not zero");
    b.new_len = delta_get_u32(p + 4);
    b.payload_len = delta_get_u32(p + 8);
    b.old_start = delta_get_u64(p + DELTA_BLOCK_HDR_LEN);
    if (b.new_len == 0 || b.new_len > h->block_len_max || b.new_len > new_left)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "block of %u new bytes (bound %u, %llu left)", (unsigned)b.new_len,
                          (unsigned)h->block_len_max, (unsigned long long)new_left);
    if (b.old_start > h->old_virt_len)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "block starts past the old image");
    for (unsigned i = 0; i < SDV_DELTA_STREAMS; i++, d += DELTA_STREAM_DESC_LEN) {
        struct delta_stream_desc *s = &b.s[i];

        s->codec = d[0];
        s->raw_len = delta_get_u32(d + 4);
        s->comp_len = delta_get_u32(d + 8);
        if (d[1] != 0 || d[2] != 0 || d[3] != 0)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "%s stream descriptor: reserved bytes not zero",
                              delta_stream_names[i]);
        if (s->codec > SDV_DELTA_CODEC_XZ)
            return delta_fail(errmsg, errmsg_len, SDV_EUNSUPPORTED, "%s stream: unknown codec %u",
                              delta_stream_names[i], s->codec);
        if (s->codec == SDV_DELTA_CODEC_STORED ? s->comp_len != s->raw_len
                                               : (s->comp_len == 0 || s->comp_len > s->raw_len))
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "%s stream: %u compressed bytes for %u raw bytes",
                              delta_stream_names[i], (unsigned)s->comp_len, (unsigned)s->raw_len);
        comp_sum += s->comp_len;
    }
    if (b.s[SDV_DELTA_STREAM_CTRL].raw_len < 3 ||
        b.s[SDV_DELTA_STREAM_CTRL].raw_len > h->ctrl_len_max)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "control stream of %u bytes (bound %u)",
                          (unsigned)b.s[SDV_DELTA_STREAM_CTRL].raw_len, (unsigned)h->ctrl_len_max);
    if ((uint64_t)b.s[SDV_DELTA_STREAM_DIFF].raw_len + b.s[SDV_DELTA_STREAM_EXTRA].raw_len !=
        b.new_len)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "difference and literal bytes do not add up to the block's length");
    if (comp_sum + DELTA_COPY_ADD_FIXED_LEN != b.payload_len)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "block payload length does not match its streams");
    *out = b;
    return SDV_OK;
}

/* ---- Sections ---- */

/* Handlers by section type. Type 3 (the executable transform's reference map) is reserved: its
 * handler joins this table with the transform. */
static const struct {
    uint8_t type;
    delta_section_fn fn;
} delta_section_handlers[] = {
        {DELTA_SECTION_OLD_REGIONS, delta_region_old_parse},
        {DELTA_SECTION_NEW_REGIONS, delta_region_new_parse},
        {DELTA_SECTION_EXEC_MAP, delta_exec_section_parse},
};

delta_section_fn delta_section_handler(uint8_t type)
{
    for (size_t i = 0; i < sizeof(delta_section_handlers) / sizeof(delta_section_handlers[0]); i++)
        if (delta_section_handlers[i].type == type)
            return delta_section_handlers[i].fn;
    return NULL;
}

void delta_section_hdr_write(const struct delta_section_hdr *s, uint8_t *out)
{
    memset(out, 0, DELTA_SECTION_HDR_LEN);
    out[0] = s->type;
    out[1] = s->codec;
    delta_put_u32(out + 4, s->raw_len);
    delta_put_u32(out + 8, s->comp_len);
}

enum sdv_err delta_section_hdr_parse(const uint8_t *p, uint64_t raw_left,
                                     struct delta_section_hdr *out, char *errmsg, size_t errmsg_len)
{
    struct delta_section_hdr s;

    s.type = p[0];
    s.codec = p[1];
    s.raw_len = delta_get_u32(p + 4);
    s.comp_len = delta_get_u32(p + 8);
    if (s.type == 0)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "section type 0 is invalid");
    if (delta_section_handler(s.type) == NULL)
        return delta_fail(errmsg, errmsg_len, SDV_EUNSUPPORTED,
                          "section type %u is not known to this decoder", s.type);
    if (p[2] != 0 || p[3] != 0)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "section %u: reserved bytes not zero",
                          s.type);
    if (s.codec > SDV_DELTA_CODEC_XZ)
        return delta_fail(errmsg, errmsg_len, SDV_EUNSUPPORTED, "section %u: unknown codec %u",
                          s.type, s.codec);
    if (s.raw_len == 0 || s.raw_len > raw_left)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "section %u of %u bytes, %llu left of the header's sections length",
                          s.type, (unsigned)s.raw_len, (unsigned long long)raw_left);
    if (s.codec == SDV_DELTA_CODEC_STORED ? s.comp_len != s.raw_len
                                          : (s.comp_len == 0 || s.comp_len > s.raw_len))
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "section %u: %u compressed bytes for %u raw bytes", s.type,
                          (unsigned)s.comp_len, (unsigned)s.raw_len);
    *out = s;
    return SDV_OK;
}

enum sdv_err delta_sections_check(const struct delta_sections *ss, const struct sdv_delta_header *h,
                                  char *errmsg, size_t errmsg_len)
{
    uint64_t old_virt = h->old_len, new_virt = h->new_len;

    for (uint32_t i = 0; i < ss->old_regions.n; i++)
        old_virt += ss->old_regions.r[i].dlen;
    for (uint32_t i = 0; i < ss->new_regions.n; i++)
        new_virt = new_virt - ss->new_regions.r[i].comp_len + ss->new_regions.r[i].dlen;
    if (old_virt != h->old_virt_len)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "old regions decompress to %llu bytes of OLD', the header says %llu",
                          (unsigned long long)(old_virt - h->old_len),
                          (unsigned long long)(h->old_virt_len - h->old_len));
    if (new_virt != h->new_virt_len)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "new regions make NEW' %llu bytes long, the header says %llu",
                          (unsigned long long)new_virt, (unsigned long long)h->new_virt_len);
    return SDV_OK;
}

void delta_sections_free(struct delta_sections *ss)
{
    if (ss == NULL)
        return;
    free(ss->old_regions.r);
    free(ss->new_regions.r);
    delta_exec_sections_free(ss);
    memset(ss, 0, sizeof(*ss));
}

/* The checkpoint's own digest covers everything before it. */
#define CKPT_BODY_LEN (SDV_DELTA_HEADER_LEN + 32u)

enum sdv_err sdv_delta_checkpoint_encode(const struct sdv_delta_checkpoint *cp, uint8_t *out)
{
    if (cp == NULL || out == NULL)
        return SDV_EINVAL;
    memcpy(out, cp->header, SDV_DELTA_HEADER_LEN);
    delta_put_u64(out + SDV_DELTA_HEADER_LEN, cp->patch_off);
    delta_put_u64(out + SDV_DELTA_HEADER_LEN + 8, cp->new_off);
    delta_put_u64(out + SDV_DELTA_HEADER_LEN + 16, cp->blocks_done);
    delta_put_u64(out + SDV_DELTA_HEADER_LEN + 24, cp->virt_off);
    return sdv_hash_buf(SDV_HASH_SHA256, out, CKPT_BODY_LEN, out + CKPT_BODY_LEN);
}

enum sdv_err sdv_delta_checkpoint_decode(const uint8_t *p, size_t len,
                                         struct sdv_delta_checkpoint *out)
{
    uint8_t digest[32];
    struct sdv_delta_header h;
    struct sdv_delta_checkpoint cp;
    enum sdv_err err;

    if (p == NULL || out == NULL)
        return SDV_EINVAL;
    if (len != SDV_DELTA_CHECKPOINT_LEN)
        return SDV_EPARSE;
    err = sdv_hash_buf(SDV_HASH_SHA256, p, CKPT_BODY_LEN, digest);
    if (err != SDV_OK)
        return err;
    if (memcmp(digest, p + CKPT_BODY_LEN, sizeof(digest)) != 0)
        return SDV_EPARSE;
    if (sdv_delta_header_parse(p, SDV_DELTA_HEADER_LEN, &h, NULL, 0) != SDV_OK)
        return SDV_EPARSE;
    memcpy(cp.header, p, SDV_DELTA_HEADER_LEN);
    cp.patch_off = delta_get_u64(p + SDV_DELTA_HEADER_LEN);
    cp.new_off = delta_get_u64(p + SDV_DELTA_HEADER_LEN + 8);
    cp.blocks_done = delta_get_u64(p + SDV_DELTA_HEADER_LEN + 16);
    cp.virt_off = delta_get_u64(p + SDV_DELTA_HEADER_LEN + 24);
    if (cp.new_off > h.new_len || cp.virt_off > h.new_virt_len ||
        cp.patch_off < SDV_DELTA_HEADER_LEN || cp.blocks_done > cp.virt_off ||
        (cp.virt_off == 0) != (cp.blocks_done == 0))
        return SDV_EPARSE;
    *out = cp;
    return SDV_OK;
}

/* Reads, decompresses and parses every section (at most SDV_DELTA_SECTIONS_LEN_MAX bytes held),
 * counting them and their regions into st; *off moves past them. */
static enum sdv_err info_sections(sdv_delta_read_fn patch_read, void *ud, uint64_t patch_len,
                                  const struct sdv_delta_header *h, uint64_t *off,
                                  struct sdv_delta_stats *st, char *errmsg, size_t errmsg_len)
{
    struct delta_sections ss;
    struct delta_dctx dctx;
    uint8_t *raw = NULL, *comp = NULL;
    uint64_t raw_done = 0;
    enum sdv_err err = SDV_OK;

    if (h->section_count == 0)
        return SDV_OK;
    memset(&ss, 0, sizeof(ss));
    err = delta_dctx_init(&dctx);
    if (err != SDV_OK)
        return err;
    raw = malloc(h->sections_len);
    comp = malloc(h->sections_len);
    if (raw == NULL || comp == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < h->section_count; i++) {
        uint8_t sh[DELTA_SECTION_HDR_LEN];
        struct delta_section_hdr sec;
        uint8_t *dst = raw + raw_done;

        if (patch_len - *off < DELTA_SECTION_HDR_LEN) {
            err = delta_fail(errmsg, errmsg_len, SDV_EPARSE, "patch truncated in section %u", i);
            goto out;
        }
        err = patch_read(ud, *off, sh, sizeof(sh));
        if (err != SDV_OK)
            goto out;
        err = delta_section_hdr_parse(sh, h->sections_len - raw_done, &sec, errmsg, errmsg_len);
        if (err != SDV_OK)
            goto out;
        *off += DELTA_SECTION_HDR_LEN;
        if (patch_len - *off < sec.comp_len) {
            err = delta_fail(errmsg, errmsg_len, SDV_EPARSE, "patch truncated in section %u", i);
            goto out;
        }
        err = patch_read(ud, *off, sec.codec == SDV_DELTA_CODEC_STORED ? dst : comp, sec.comp_len);
        if (err == SDV_OK && sec.codec != SDV_DELTA_CODEC_STORED)
            err = delta_decompress(&dctx, sec.codec, comp, sec.comp_len, dst, sec.raw_len,
                                   SDV_DELTA_DECODER_MEMORY_MAX, errmsg, errmsg_len);
        if (err == SDV_OK)
            err = delta_section_handler(sec.type)(&ss, h, dst, sec.raw_len, errmsg, errmsg_len);
        if (err != SDV_OK)
            goto out;
        *off += sec.comp_len;
        st->sections_comp_len += DELTA_SECTION_HDR_LEN + (uint64_t)sec.comp_len;
        raw_done += sec.raw_len;
    }
    if (raw_done != h->sections_len) {
        err = delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                         "sections hold %llu bytes, the header says %u",
                         (unsigned long long)raw_done, (unsigned)h->sections_len);
        goto out;
    }
    err = delta_sections_check(&ss, h, errmsg, errmsg_len);
    if (err != SDV_OK)
        goto out;
    st->sections = h->section_count;
    st->old_regions = ss.old_regions.n;
    st->new_regions = ss.new_regions.n;
    for (uint32_t i = 0; i < ss.new_regions.n; i++)
        st->new_regions_len += ss.new_regions.r[i].comp_len;
    memcpy(st->codec_versions, ss.codec_versions, sizeof(st->codec_versions));
out:
    delta_sections_free(&ss);
    delta_dctx_free(&dctx);
    free(raw);
    free(comp);
    return err;
}

enum sdv_err sdv_delta_info(sdv_delta_read_fn patch_read, void *ud, uint64_t patch_len,
                            struct sdv_delta_header *hdr, struct sdv_delta_stats *stats,
                            char *errmsg, size_t errmsg_len)
{
    uint8_t buf[SDV_DELTA_HEADER_LEN];
    struct sdv_delta_header h;
    struct sdv_delta_stats st;
    uint64_t off = SDV_DELTA_HEADER_LEN, new_done = 0;
    enum sdv_err err;

    if (patch_read == NULL || hdr == NULL || stats == NULL)
        return SDV_EINVAL;
    memset(&st, 0, sizeof(st));
    if (patch_len < SDV_DELTA_HEADER_LEN)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "patch shorter than its header");
    err = patch_read(ud, 0, buf, SDV_DELTA_HEADER_LEN);
    if (err != SDV_OK)
        return delta_fail(errmsg, errmsg_len, err, "cannot read the patch header");
    err = sdv_delta_header_parse(buf, sizeof(buf), &h, errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;
    err = info_sections(patch_read, ud, patch_len, &h, &off, &st, errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;
    /* Each block produces at least one new byte, so this loop runs at most new_virt_len times. */
    while (new_done < h.new_virt_len) {
        uint8_t pre[DELTA_BLOCK_PREAMBLE_LEN];
        struct delta_block_hdr b;

        if (patch_len - off < DELTA_BLOCK_PREAMBLE_LEN)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "patch truncated in block %llu header (offset %llu)",
                              (unsigned long long)st.blocks, (unsigned long long)off);
        err = patch_read(ud, off, pre, sizeof(pre));
        if (err != SDV_OK)
            return delta_fail(errmsg, errmsg_len, err, "cannot read the patch");
        err = delta_block_hdr_parse(pre, &h, h.new_virt_len - new_done, &b, errmsg, errmsg_len);
        if (err != SDV_OK)
            return err;
        if (patch_len - off - DELTA_BLOCK_HDR_LEN < b.payload_len)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "patch truncated in block %llu (offset %llu)",
                              (unsigned long long)st.blocks, (unsigned long long)off);
        for (unsigned i = 0; i < SDV_DELTA_STREAMS; i++) {
            st.raw_len[i] += b.s[i].raw_len;
            st.comp_len[i] += b.s[i].comp_len;
            st.codec_count[b.s[i].codec]++;
        }
        st.copied_len += b.s[SDV_DELTA_STREAM_DIFF].raw_len;
        st.blocks++;
        off += DELTA_BLOCK_HDR_LEN + (uint64_t)b.payload_len;
        new_done += b.new_len;
    }
    if (off != patch_len)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "%llu bytes after the last block",
                          (unsigned long long)(patch_len - off));
    st.patch_len = patch_len;
    *hdr = h;
    *stats = st;
    return SDV_OK;
}
