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

/* Largest xz dictionary and zstd window a region may ask the device to use (memory). */
#define DELTA_REGION_DICT_MAX       (8u * 1024u * 1024u)
#define DELTA_REGION_WINDOW_LOG_MAX 23u
#define DELTA_ZSTD_LEVEL_MIN        (-7)

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

/* Memory the compressor of these params needs (an estimate from the libraries), 0 if unknown
 * kind. */
size_t delta_region_compress_mem(uint8_t kind, const uint8_t *params);

/* Bytes of the buffer that receives a region's recompressed output (dlen raw bytes). */
size_t delta_region_comp_cap(size_t dlen);

/* Frees the compression contexts. */
void delta_region_codec_free(struct delta_region_codec *c);

/* "liblzma X zstd Y zlib Z": the versions of the libraries linked in, for the new region table. */
void delta_region_lib_versions(char *out, size_t len);

#endif /* SDV_DELTA_REGION_H */
