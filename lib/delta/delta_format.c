/*
 * delta_format.c - the byte layout of a patch: fixed header, block preambles, varints,
 * checkpoints, and the structural walk behind `sdv delta info`. Every field read from a patch is
 * checked here against the header's bounds before the encoder-independent parts of the decoder
 * use it.
 */
#include <stdarg.h>
#include <stdio.h>
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
}

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
    for (unsigned i = 105; i < SDV_DELTA_HEADER_LEN; i++)
        if (p[i] != 0)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "reserved header byte %u not zero",
                              i);
    if (h.old_len > (uint64_t)INT64_MAX || h.new_len > (uint64_t)INT64_MAX)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "image length above 2^63");
    if (h.block_len_max > SDV_DELTA_BLOCK_LEN_MAX || (h.new_len > 0 && h.block_len_max == 0))
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "block length bound %u outside 1..%u",
                          (unsigned)h.block_len_max, SDV_DELTA_BLOCK_LEN_MAX);
    if (h.ctrl_len_max > SDV_DELTA_CTRL_LEN_MAX || (h.new_len > 0 && h.ctrl_len_max < 3))
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
    if (b.old_start > h->old_len)
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

/* The checkpoint's own digest covers everything before it. */
#define CKPT_BODY_LEN (SDV_DELTA_HEADER_LEN + 24u)

enum sdv_err sdv_delta_checkpoint_encode(const struct sdv_delta_checkpoint *cp, uint8_t *out)
{
    if (cp == NULL || out == NULL)
        return SDV_EINVAL;
    memcpy(out, cp->header, SDV_DELTA_HEADER_LEN);
    delta_put_u64(out + SDV_DELTA_HEADER_LEN, cp->patch_off);
    delta_put_u64(out + SDV_DELTA_HEADER_LEN + 8, cp->new_off);
    delta_put_u64(out + SDV_DELTA_HEADER_LEN + 16, cp->blocks_done);
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
    if (cp.new_off > h.new_len || cp.patch_off < SDV_DELTA_HEADER_LEN ||
        cp.blocks_done > cp.new_off || (cp.new_off == 0) != (cp.blocks_done == 0) ||
        (cp.blocks_done == 0 && cp.patch_off != SDV_DELTA_HEADER_LEN))
        return SDV_EPARSE;
    *out = cp;
    return SDV_OK;
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
    /* Each block produces at least one new byte, so this loop runs at most new_len times. */
    while (new_done < h.new_len) {
        uint8_t pre[DELTA_BLOCK_PREAMBLE_LEN];
        struct delta_block_hdr b;

        if (patch_len - off < DELTA_BLOCK_PREAMBLE_LEN)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "patch truncated in block %llu header (offset %llu)",
                              (unsigned long long)st.blocks, (unsigned long long)off);
        err = patch_read(ud, off, pre, sizeof(pre));
        if (err != SDV_OK)
            return delta_fail(errmsg, errmsg_len, err, "cannot read the patch");
        err = delta_block_hdr_parse(pre, &h, h.new_len - new_done, &b, errmsg, errmsg_len);
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
