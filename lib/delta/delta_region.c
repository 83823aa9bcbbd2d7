/*
 * delta_region.c - the region tables of format version 2 (sections 1 and 2): compressed streams
 * of the old image decompressed into OLD', and regions of the new image that the blocks produce
 * decompressed and the decoder recompresses with recorded parameters. Parsing and checking of
 * the tables against the header (docs/delta-format.md, "Region tables").
 */
#include "delta_region.h"

#include <stdlib.h>
#include <string.h>

#include "delta_int.h"

enum sdv_err delta_region_params_check(uint8_t kind, const uint8_t *p)
{
    switch (kind) {
    case DELTA_REGION_XZ: {
        uint32_t dict = delta_get_u32(p + 4);

        if (p[0] > DELTA_XZ_FORM_STREAM || p[3] > 41 ||
            (p[1] != LZMA_CHECK_NONE && p[1] != LZMA_CHECK_CRC32 && p[1] != LZMA_CHECK_CRC64 &&
             p[1] != LZMA_CHECK_SHA256) ||
            (p[2] & 0x7f) > 9 || dict < LZMA_DICT_SIZE_MIN || dict > DELTA_REGION_DICT_MAX)
            return SDV_EPARSE;
        return SDV_OK;
    }
    case DELTA_REGION_ZSTD:
        if ((int8_t)p[0] < DELTA_ZSTD_LEVEL_MIN || (int8_t)p[0] > 22 || (p[1] & ~7u) != 0 ||
            (p[2] != 0 && (p[2] < 10 || p[2] > DELTA_REGION_WINDOW_LOG_MAX)))
            return SDV_EPARSE;
        for (unsigned i = 3; i < DELTA_REGION_PARAMS_LEN; i++)
            if (p[i] != 0)
                return SDV_EPARSE;
        return SDV_OK;
    case DELTA_REGION_DEFLATE:
        if (p[0] > 9 || p[1] < 1 || p[1] > 9 || p[2] < 9 || p[2] > 15 || p[3] > 4)
            return SDV_EPARSE;
        for (unsigned i = 4; i < DELTA_REGION_PARAMS_LEN; i++)
            if (p[i] != 0)
                return SDV_EPARSE;
        return SDV_OK;
    default:
        return SDV_EUNSUPPORTED;
    }
}

enum sdv_err delta_region_old_parse(struct delta_sections *ss, const struct sdv_delta_header *h,
                                    const uint8_t *raw, size_t len, char *errmsg, size_t errmsg_len)
{
    struct delta_region *r;
    uint64_t virt = h->old_len, end = 0;
    uint32_t n;

    if (ss->old_regions.r != NULL)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "two old region tables");
    if (len < 4)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "old region table truncated");
    n = delta_get_u32(raw);
    if (n == 0 || (len - 4) / DELTA_REGION_OLD_ENTRY_LEN != n ||
        (len - 4) % DELTA_REGION_OLD_ENTRY_LEN != 0)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "old region table: %u entries in %zu bytes", (unsigned)n, len);
    r = calloc(n, sizeof(*r));
    if (r == NULL)
        return SDV_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = raw + 4 + (size_t)i * DELTA_REGION_OLD_ENTRY_LEN;

        r[i].off = delta_get_u64(e);
        r[i].comp_len = delta_get_u32(e + 8);
        r[i].dlen = delta_get_u32(e + 12);
        r[i].kind = e[16];
        r[i].virt_off = virt;
        if (r[i].off < end || r[i].comp_len == 0 || r[i].off > h->old_len ||
            r[i].comp_len > h->old_len - r[i].off || r[i].dlen == 0 ||
            r[i].dlen > h->region_old_len_max || r[i].comp_len > delta_region_comp_cap(r[i].dlen) ||
            r[i].kind < DELTA_REGION_XZ || r[i].kind > DELTA_REGION_DEFLATE) {
            free(r);
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "old region %u: outside the old image, overlapping, or of a bad "
                              "length or kind",
                              (unsigned)i);
        }
        end = r[i].off + r[i].comp_len;
        virt += r[i].dlen;
    }
    ss->old_regions.r = r;
    ss->old_regions.n = n;
    ss->mem += (size_t)n * sizeof(*r);
    return SDV_OK;
}

enum sdv_err delta_region_new_parse(struct delta_sections *ss, const struct sdv_delta_header *h,
                                    const uint8_t *raw, size_t len, char *errmsg, size_t errmsg_len)
{
    struct delta_region *r;
    uint64_t end = 0;
    size_t vlen, pos;
    uint32_t n;

    if (ss->new_regions.r != NULL)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "two new region tables");
    if (len < 1 || (vlen = raw[0]) >= sizeof(ss->codec_versions) || len < 1 + vlen + 4)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "new region table truncated");
    for (size_t i = 0; i < vlen; i++)
        if (raw[1 + i] < 0x20 || raw[1 + i] > 0x7e)
            return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                              "new region table: library versions not printable");
    pos = 1 + vlen;
    n = delta_get_u32(raw + pos);
    pos += 4;
    if (n == 0 || (len - pos) % DELTA_REGION_NEW_ENTRY_LEN != 0 ||
        (len - pos) / DELTA_REGION_NEW_ENTRY_LEN != n)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE,
                          "new region table: %u entries in %zu bytes", (unsigned)n, len - pos);
    r = calloc(n, sizeof(*r));
    if (r == NULL)
        return SDV_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = raw + pos + (size_t)i * DELTA_REGION_NEW_ENTRY_LEN;
        enum sdv_err err;

        r[i].off = r[i].virt_off = delta_get_u64(e);
        r[i].dlen = delta_get_u32(e + 8);
        r[i].comp_len = delta_get_u32(e + 12);
        r[i].kind = e[16];
        memcpy(r[i].params, e + 17, DELTA_REGION_PARAMS_LEN);
        memcpy(r[i].hash, e + 17 + DELTA_REGION_PARAMS_LEN, DELTA_REGION_HASH_LEN);
        err = delta_region_params_check(r[i].kind, r[i].params);
        if (r[i].off < end || r[i].off > h->new_virt_len || r[i].dlen == 0 ||
            r[i].dlen > h->new_virt_len - r[i].off || r[i].dlen > h->region_new_len_max ||
            r[i].comp_len == 0 || r[i].comp_len > delta_region_comp_cap(r[i].dlen) ||
            err != SDV_OK) {
            free(r);
            return delta_fail(errmsg, errmsg_len, err == SDV_EUNSUPPORTED ? err : SDV_EPARSE,
                              "new region %u: outside NEW', overlapping, or of a bad length, "
                              "kind or parameters",
                              (unsigned)i);
        }
        end = r[i].off + r[i].dlen;
    }
    memcpy(ss->codec_versions, raw + 1, vlen);
    ss->codec_versions[vlen] = '\0';
    ss->new_regions.r = r;
    ss->new_regions.n = n;
    ss->mem += (size_t)n * sizeof(*r);
    return SDV_OK;
}
