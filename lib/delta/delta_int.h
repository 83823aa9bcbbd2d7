/*
 * delta_int.h - private to lib/delta: the byte layout of the patch format (docs/delta-format.md),
 * little-endian and varint helpers, block headers and the stream codecs shared by the encoder,
 * the decoder and the inspector.
 */
#ifndef SDV_DELTA_INT_H
#define SDV_DELTA_INT_H

#include <lzma.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include <sdv/delta.h>

/* The first 8 bytes of every patch. */
#define DELTA_MAGIC     "SDVDELTA"
#define DELTA_MAGIC_LEN 8u

/* Block types (docs/delta-format.md, "Blocks"). 0 is never valid, so a zeroed region is not
 * mistaken for a block. Types 2..255 are reserved for later transforms (executable branch
 * displacements, recompressed regions, per-file matching); a version 1 decoder refuses them. */
#define DELTA_BLOCK_COPY_ADD 1u

/* Generic block header: type, flags, reserved, new_len, payload_len. */
#define DELTA_BLOCK_HDR_LEN 12u
/* Fixed part of a copy-add payload: old_start and three stream descriptors. */
#define DELTA_STREAM_DESC_LEN    12u
#define DELTA_COPY_ADD_FIXED_LEN (8u + SDV_DELTA_STREAMS * DELTA_STREAM_DESC_LEN)
#define DELTA_BLOCK_PREAMBLE_LEN (DELTA_BLOCK_HDR_LEN + DELTA_COPY_ADD_FIXED_LEN)

/* A control tuple is three LEB128 varints of at most 10 bytes each. */
#define DELTA_VARINT_LEN_MAX 10u
#define DELTA_TUPLE_LEN_MAX  (3u * DELTA_VARINT_LEN_MAX)

/* The decoder reads the old image and assembles output in pieces of this size: large enough to
 * amortise a pread() on flash, small next to the block buffers. */
#define DELTA_IO_LEN (64u * 1024u)

/* The default compression level: zstd's highest non-ultra level. */
#define DELTA_LEVEL_DEFAULT 19

/* One parsed block header (generic part and copy-add fixed part). */
struct delta_stream_desc {
    uint8_t codec;
    uint32_t raw_len;
    uint32_t comp_len;
};

struct delta_block_hdr {
    uint8_t type;
    uint32_t new_len;
    uint32_t payload_len;
    uint64_t old_start;
    struct delta_stream_desc s[SDV_DELTA_STREAMS];
};

/* Writes a formatted reason into errmsg (errmsg_len bytes; errmsg may be NULL) and returns code. */
enum sdv_err delta_fail(char *errmsg, size_t errmsg_len, enum sdv_err code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

uint16_t delta_get_u16(const uint8_t *p);
uint32_t delta_get_u32(const uint8_t *p);
uint64_t delta_get_u64(const uint8_t *p);
void delta_put_u16(uint8_t *p, uint16_t v);
void delta_put_u32(uint8_t *p, uint32_t v);
void delta_put_u64(uint8_t *p, uint64_t v);

/* Writes v as LEB128 at p (at least DELTA_VARINT_LEN_MAX bytes free); returns the bytes used. */
size_t delta_varint_put(uint8_t *p, uint64_t v);
/* Reads one LEB128 value from p[*pos..len), advancing *pos. -1 if truncated or above 2^64-1. */
int delta_varint_get(const uint8_t *p, size_t len, size_t *pos, uint64_t *v);

/* Zigzag mapping of signed seeks to unsigned varints and back. */
uint64_t delta_zigzag(int64_t v);
int64_t delta_unzigzag(uint64_t v);

/* Writes the fixed header (SDV_DELTA_HEADER_LEN bytes). */
void delta_header_write(const struct sdv_delta_header *h, uint8_t *out);

/* Writes the block preamble (DELTA_BLOCK_PREAMBLE_LEN bytes) of a copy-add block. */
void delta_block_hdr_write(const struct delta_block_hdr *b, uint8_t *out);

/*
 * Parses and checks a copy-add block preamble (DELTA_BLOCK_PREAMBLE_LEN bytes at p) against the
 * header and the new bytes still to come: type known, 1 <= new_len <= min(block_len_max,
 * new_left), old_start <= old_len, stream lengths within the block bounds and consistent with
 * payload_len and codecs. Any failure is SDV_EPARSE or SDV_EUNSUPPORTED with a reason.
 */
enum sdv_err delta_block_hdr_parse(const uint8_t *p, const struct sdv_delta_header *h,
                                   uint64_t new_left, struct delta_block_hdr *out, char *errmsg,
                                   size_t errmsg_len);

/* ---- Codecs (delta_codec.c) ---- */

/* Compression work space of one thread. */
struct delta_cctx {
    ZSTD_CCtx *zstd;
    uint8_t *buf; /* scratch of buf_len bytes for a second candidate */
    size_t buf_len;
};

/* log2 of the compression window for a stream of len bytes: the smallest power of two holding
 * it, between 2^12 and 2^SDV_DELTA_WINDOW_LOG_MAX. */
unsigned delta_window_log(size_t len);

/* Upper bound of a compressed stream of raw_len bytes for any codec, plus scratch. */
size_t delta_comp_bound(size_t raw_len);

enum sdv_err delta_cctx_init(struct delta_cctx *c, size_t raw_len_max);
void delta_cctx_free(struct delta_cctx *c);

/*
 * Compresses src[0..len) into dst (delta_comp_bound(len) bytes) with the codec chosen by choice
 * at level with a window of delta_window_log(len), keeping the stored form if compression
 * does not shrink it. *codec_out and *comp_len_out get the result.
 */
enum sdv_err delta_compress(struct delta_cctx *c, enum sdv_delta_codec_choice choice, int level,
                            const uint8_t *src, size_t len, uint8_t *dst, uint8_t *codec_out,
                            size_t *comp_len_out);

/* Decompression state: a zstd context and a counting allocator for liblzma. */
struct delta_dctx {
    ZSTD_DCtx *zstd;
    lzma_allocator lzma_alloc;
    size_t lzma_cur;  /* bytes liblzma holds now */
    size_t lzma_peak; /* most it held at once */
};

enum sdv_err delta_dctx_init(struct delta_dctx *d);
void delta_dctx_free(struct delta_dctx *d);

/*
 * Decompresses src[0..comp_len) (codec zstd or xz) into exactly raw_len bytes at dst. memlimit
 * bounds liblzma's allocations. SDV_EPARSE with a reason if the data is corrupt or of another
 * length, SDV_ETOOBIG if xz needs more memory than memlimit.
 */
enum sdv_err delta_decompress(struct delta_dctx *d, uint8_t codec, const uint8_t *src,
                              size_t comp_len, uint8_t *dst, size_t raw_len, size_t memlimit,
                              char *errmsg, size_t errmsg_len);

/* ==== Sections and compressed regions (format version 2; owner: compressed-region work) ====
 * Sections sit between the header and the first block (docs/delta-format.md, "Sections"). The
 * decoder receives every section whole (decompressed), keeps its raw bytes for the life of the
 * decoder (counted in its memory), and hands them to the handler of its type. */

/* Section header: type, codec, reserved (2), raw_len, comp_len. */
#define DELTA_SECTION_HDR_LEN 12u

/* Section types. 0 is invalid; an unknown type is refused as unsupported. */
#define DELTA_SECTION_OLD_REGIONS 1u /* compressed regions of OLD, decompressed into OLD' */
#define DELTA_SECTION_NEW_REGIONS 2u /* regions of NEW produced decompressed, recompressed */
#define DELTA_SECTION_EXEC_MAP    3u /* executable transform's reference map (exec work) */

/* Region codec kinds (the bytes of a region table). */
#define DELTA_REGION_XZ      1u /* a whole .xz stream */
#define DELTA_REGION_ZSTD    2u /* a whole zstd frame */
#define DELTA_REGION_DEFLATE 3u /* a raw deflate stream (the body of a gzip member) */

/* Bytes of a region table entry (after a u32 count). */
#define DELTA_REGION_OLD_ENTRY_LEN 17u /* off u64, comp_len u32, dlen u32, kind u8 */
#define DELTA_REGION_PARAMS_LEN    8u
#define DELTA_REGION_HASH_LEN      8u
/* virt_off u64, dlen u32, comp_len u32, kind u8, params[8], hash[8] */
#define DELTA_REGION_NEW_ENTRY_LEN \
    (8u + 4u + 4u + 1u + DELTA_REGION_PARAMS_LEN + DELTA_REGION_HASH_LEN)

/* Decompressed old regions the decoder keeps at once: at least DELTA_REGION_CACHE (a copy seldom
 * spans more than two), and up to DELTA_REGION_CACHE_MAX when its memory limit leaves room
 * (every miss costs a whole region's decompression). */
#define DELTA_REGION_CACHE     2u
#define DELTA_REGION_CACHE_MAX 128u
/* Bytes the cache grows to at most beyond its first two slots: `sdv delta apply` itself takes
 * about 8.5 MiB of RSS (its libraries), so the decoder's touched memory must stay near 7 MiB for
 * the whole process to stay under 16 MiB. */
#define DELTA_REGION_CACHE_EXTRA (1536u * 1024u)
/* Memory the decoder leaves free beside its region cache: an old region's decompressor (its
 * dictionary is cut to the region), allocator slack, and the rest of the process (libraries,
 * stack: about 2 MiB for `sdv delta apply`), so that a whole process under a 16 MiB limit stays
 * under 16 MiB. */
#define DELTA_REGION_SPARE (3u * 1024u * 1024u)

struct delta_section_hdr {
    uint8_t type;
    uint8_t codec;
    uint32_t raw_len;
    uint32_t comp_len;
};

/* One region of a table. For an old region, off is its place in OLD and virt_off where its
 * decompressed bytes start in OLD'; for a new region both are its start in NEW'. */
struct delta_region {
    uint64_t off;
    uint64_t virt_off;
    uint32_t comp_len;
    uint32_t dlen;
    uint8_t kind;
    uint8_t params[DELTA_REGION_PARAMS_LEN];
    uint8_t hash[DELTA_REGION_HASH_LEN]; /* first bytes of the SHA-256 of the compressed bytes */
};

struct delta_region_table {
    struct delta_region *r; /* sorted by off, disjoint */
    uint32_t n;
};

/* The parsed sections of one patch, filled by the section handlers. */
struct delta_sections {
    struct delta_region_table old_regions;
    struct delta_region_table new_regions;
    char codec_versions[96]; /* from the new region table */
    size_t mem;              /* bytes the handlers allocated, counted as decoder memory */
    /* exec work: the parsed reference map of section type 3 goes below. */
    struct delta_xmap *xmap; /* NULL without a reference map (delta_exec.h) */
};

/*
 * A section handler: parses and checks one section's raw bytes (raw stays valid and unchanged
 * for the life of ss) against the header, filling its part of ss and adding what it allocates
 * to ss->mem. SDV_EPARSE with a reason for a malformed section.
 */
typedef enum sdv_err (*delta_section_fn)(struct delta_sections *ss,
                                         const struct sdv_delta_header *h, const uint8_t *raw,
                                         size_t len, char *errmsg, size_t errmsg_len);

/* The handler of a section type; NULL when this decoder does not know the type. */
delta_section_fn delta_section_handler(uint8_t type);

/* Checks across sections once all are parsed (virtual lengths against the region tables). */
enum sdv_err delta_sections_check(const struct delta_sections *ss, const struct sdv_delta_header *h,
                                  char *errmsg, size_t errmsg_len);

/* Frees what the handlers allocated; ss is zeroed. */
void delta_sections_free(struct delta_sections *ss);

void delta_section_hdr_write(const struct delta_section_hdr *s, uint8_t *out);

/* Parses a section header; raw_left is what the header's sections_len still allows. */
enum sdv_err delta_section_hdr_parse(const uint8_t *p, uint64_t raw_left,
                                     struct delta_section_hdr *out, char *errmsg,
                                     size_t errmsg_len);

/* Region handlers (delta_region.c). */
enum sdv_err delta_region_old_parse(struct delta_sections *ss, const struct sdv_delta_header *h,
                                    const uint8_t *raw, size_t len, char *errmsg,
                                    size_t errmsg_len);
enum sdv_err delta_region_new_parse(struct delta_sections *ss, const struct sdv_delta_header *h,
                                    const uint8_t *raw, size_t len, char *errmsg,
                                    size_t errmsg_len);

/* Encoder side: one section to write, raw bytes borrowed. */
struct delta_section_out {
    uint8_t type;
    const uint8_t *raw;
    size_t len;
};

/* ==== Executable reference map (section type 3; owner: exec work, delta_exec.c) ==== */

struct delta_xmap;

/* Section handler of type 3: parses the reference map into ss->xmap (one per patch). */
enum sdv_err delta_exec_section_parse(struct delta_sections *ss, const struct sdv_delta_header *h,
                                      const uint8_t *raw, size_t len, char *errmsg,
                                      size_t errmsg_len);

/* Frees ss->xmap (called by delta_sections_free). */
void delta_exec_sections_free(struct delta_sections *ss);

#endif /* SDV_DELTA_INT_H */
