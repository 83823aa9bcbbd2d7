/*
 * delta_region.h - private to lib/delta: compressed regions (format version 2). Detection of xz,
 * zstd and gzip streams in an image, their decompression, and their exact recompression from
 * the parameters recorded in a new region table (docs/delta-format.md, "Region tables").
 */
#ifndef SDV_DELTA_REGION_H
#define SDV_DELTA_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "delta_int.h"

/* xz region parameters, byte 0: which liblzma encoder made the stream. */
#define DELTA_XZ_FORM_BUFFER 0u /* lzma_stream_buffer_encode (block header with sizes) */
#define DELTA_XZ_FORM_STREAM 1u /* lzma_stream_encoder, as the xz tool (no sizes) */
/* zstd region parameters, byte 1: frame flags and how the compressor was driven. */
#define DELTA_ZSTD_CHECKSUM    1u /* content checksum */
#define DELTA_ZSTD_CONTENTSIZE 2u /* content size in the frame header */
#define DELTA_ZSTD_STREAMED    4u /* size unknown to the compressor (streamed, e.g. from a pipe) */

/* Largest xz dictionary and zstd window a region may ask the device to use (memory). */
#define DELTA_REGION_DICT_MAX       (8u * 1024u * 1024u)
#define DELTA_REGION_WINDOW_LOG_MAX 23u
#define DELTA_ZSTD_LEVEL_MIN        (-7)

/* A region's compressed bytes are at most dlen + dlen / 8 + this (a rule of the region tables):
 * above every codec's worst case for incompressible input. */
#define DELTA_REGION_COMP_SLACK 4096u

/* What inflate allocates (state and a 32 KiB window), rounded up. */
#define DELTA_INFLATE_MEM (64u * 1024u)

/* Decoder memory the encoder keeps free for more old-region cache slots (by shrinking its blocks)
 * when the old regions' decompressed bytes exceed two slots. */
#define DELTA_REGION_CACHE_WISH DELTA_REGION_CACHE_EXTRA

/* Largest block when the patch has regions: the regions' compressor and cache take the room
 * (and a whole `sdv delta apply` process then stays under 16 MiB RSS). */
#define DELTA_REGION_BLOCK_LEN (512u * 1024u)

/* What a decoding process holds besides the decoder (libraries, stack), kept out of the
 * encoder's 16 MiB budget so that `sdv delta apply` as a whole stays under 16 MiB. */
#define DELTA_PROCESS_SLACK (2u * 1024u * 1024u)

/* Parameter trials per new stream in the encoder (the previous stream's parameters first). */
#define DELTA_REGION_TRIALS_MAX 12u

/* SDV_OK if params are valid for kind, SDV_EUNSUPPORTED for an unknown kind, else SDV_EPARSE. */
enum sdv_err delta_region_params_check(uint8_t kind, const uint8_t *params);

/* Counting allocator state shared by the region codecs (liblzma and zlib allocate through it). */
struct delta_region_codec {
    struct delta_dctx *dctx; /* zstd decompression context and liblzma counting allocator */
    void *zstd_cctx;         /* ZSTD_CCtx, made on first use */
    size_t zstd_cctx_len;    /* its size when last used */
    size_t zlib_cur, zlib_peak;
};

/*
 * Decompresses one region's compressed bytes src[0..comp_len) of kind into dst, which must
 * receive exactly dlen bytes. memlimit bounds the decompressor's own memory.
 */
enum sdv_err delta_region_decompress(struct delta_region_codec *c, uint8_t kind, const uint8_t *src,
                                     size_t comp_len, uint8_t *dst, size_t dlen, size_t memlimit,
                                     char *errmsg, size_t errmsg_len);

/*
 * Compresses src[0..len) with the kind and params of a new region into dst (cap bytes);
 * *out_len gets the length. SDV_EOVERFLOW-like failure (SDV_ETOOBIG) when the output does not
 * fit cap, SDV_ETOOBIG when the compressor needs more memory than memlimit.
 */
enum sdv_err delta_region_compress(struct delta_region_codec *c, uint8_t kind,
                                   const uint8_t *params, const uint8_t *src, size_t len,
                                   uint8_t *dst, size_t cap, size_t *out_len, size_t memlimit);

/* Memory the compressor of these params needs for dlen bytes (an estimate from the libraries);
 * SIZE_MAX for unknown parameters. */
size_t delta_region_compress_mem(uint8_t kind, const uint8_t *params, size_t dlen);

/* Bytes of the buffer that receives a region's recompressed output (dlen raw bytes). */
size_t delta_region_comp_cap(size_t dlen);

/* Frees the compression contexts. */
void delta_region_codec_free(struct delta_region_codec *c);

/* "liblzma X zstd Y zlib Z": the versions of the libraries linked in, for the new region table. */
void delta_region_lib_versions(char *out, size_t len);

/* ---- Encoder side (delta_region_enc.c) ---- */

/* The virtual images and region sections of one encoder call. */
struct delta_renc {
    const uint8_t *old_virt; /* OLD': old itself when there are no old regions */
    size_t old_virt_len;
    const uint8_t *new_virt; /* NEW': new itself when there are no new regions */
    size_t new_virt_len;
    uint8_t *old_buf, *new_buf;      /* owned copies behind old_virt/new_virt, or NULL */
    struct sdv_buf sec_old, sec_new; /* raw bytes of sections 1 and 2 (empty: none) */
    uint32_t old_max, new_max;       /* largest decompressed old and new region */
    size_t region_mem;               /* decoder memory for the regions (caches, buffers, codecs) */
    uint64_t old_regions, new_regions, new_regions_len, kept_raw;
};

/*
 * Finds the xz, zstd and gzip streams of old and new (threads workers), decides which new
 * streams the device recompresses (changed and reproduced exactly) and which old streams it
 * decompresses, and builds OLD', NEW' and the region tables into r. With no usable region, r
 * points at old and new themselves and has no sections.
 */
enum sdv_err delta_renc_prepare(struct delta_renc *r, const uint8_t *old, size_t old_len,
                                const uint8_t *new_data, size_t new_len, unsigned threads,
                                const struct sdv_log *log);
void delta_renc_free(struct delta_renc *r);

/* Largest block length <= block_len (and >= SDV_DELTA_BLOCK_LEN_MIN) for which a decoder of
 * blocks, sections_len bytes of sections and the regions of r stays within
 * SDV_DELTA_DECODER_MEMORY_MAX. */
uint32_t delta_renc_block_len(const struct delta_renc *r, uint32_t block_len, size_t sections_len);

/* The real images behind OLD' and NEW' (the header's lengths and hashes) and their regions. */
struct delta_encode_real {
    const struct delta_renc *rg;
    uint64_t old_len, new_len;
    uint8_t old_sha256[32], new_sha256[32];
};

/* The copy-add encoder (delta_encode.c) on OLD' (old) and NEW' (new_data); x gives the header's
 * real lengths and hashes and the region sections it writes after the header. */
enum sdv_err delta_encode_images(const uint8_t *old, size_t old_len, const uint8_t *new_data,
                                 size_t new_len, const struct sdv_delta_encode_opts *opts,
                                 sdv_sink_fn sink, void *sink_ud, struct sdv_delta_stats *stats,
                                 const struct delta_encode_real *x);

/* Writes sections (header then bytes, zstd-compressed when that is smaller) to sink; adds the
 * bytes written to *patch_len. */
enum sdv_err delta_sections_emit(const struct delta_section_out *s, size_t n, sdv_sink_fn sink,
                                 void *sink_ud, uint64_t *patch_len);

#endif /* SDV_DELTA_REGION_H */
