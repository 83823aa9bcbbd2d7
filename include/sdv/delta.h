/*
 * sdv/delta.h - binary delta updates: a patch turns an old image into a new one. The patch
 * format is specified in docs/delta-format.md, the design in docs/delta.md.
 *
 * A patch is a fixed header (format version, lengths and SHA-256 of the old and the new image,
 * the block and window bounds) followed by independently compressed blocks. Each block produces
 * a bounded run of the new image from copy-add control tuples (bytes of the old image plus a
 * difference, then literal bytes, then a seek in the old image), carried in three separate
 * streams (control, difference, literal) each compressed with zstd or xz.
 *
 * The encoder works in memory (old and new mapped by the caller); the decoder is a streaming
 * state machine: patch bytes in (in any chunking, straight from the network), random reads from
 * the old image, sequential writes of the new image, and a working memory fixed by the header's
 * bounds (at most SDV_DELTA_DECODER_MEMORY_MAX by default) whatever the image size.
 *
 * Thread safety: an encoder call and a decoder are independent of each other; one decoder is used
 * by one thread at a time. The encoder may start worker threads of its own (opts->threads).
 */
#ifndef SDV_DELTA_H
#define SDV_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include <sdv/common.h>
#include <sdv/limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Format version written by this library and the only one its decoder accepts. Version 2 added
 * sections (region tables, reference maps) between the header and the blocks, and the virtual
 * images OLD' and NEW' the blocks work on. */
#define SDV_DELTA_FORMAT_VERSION 2u

/* Length of the fixed patch header in bytes (docs/delta-format.md, "Header"). */
#define SDV_DELTA_HEADER_LEN 160u

/* Compression of one stream inside a block. The numbers are part of the format. */
enum sdv_delta_codec {
    SDV_DELTA_CODEC_STORED = 0, /* bytes as they are */
    SDV_DELTA_CODEC_ZSTD = 1,   /* one zstd frame with content size and checksum */
    SDV_DELTA_CODEC_XZ = 2,     /* one .xz stream (LZMA2, CRC32 check) */
};

/* How the encoder picks the codec of each stream. */
enum sdv_delta_codec_choice {
    SDV_DELTA_CHOOSE_ZSTD = 0, /* zstd (default): fast to decode, small dictionary-free state */
    SDV_DELTA_CHOOSE_XZ = 1,   /* xz for every stream */
    SDV_DELTA_CHOOSE_BEST = 2, /* both, keep the smaller per stream (slowest) */
};

/* The decoded patch header. */
struct sdv_delta_header {
    uint16_t version;            /* SDV_DELTA_FORMAT_VERSION */
    uint32_t flags;              /* 0 in version 1 */
    uint64_t old_len;            /* bytes of the old image the patch applies to */
    uint64_t new_len;            /* bytes of the new image it produces */
    uint8_t old_sha256[32];      /* digest of old[0..old_len) */
    uint8_t new_sha256[32];      /* digest of the new image */
    uint32_t block_len_max;      /* largest number of new bytes one block produces */
    uint32_t ctrl_len_max;       /* largest raw control stream of one block */
    uint8_t window_log;          /* log2 of the largest compression window of any stream */
    uint16_t section_count;      /* sections between the header and the blocks */
    uint32_t sections_len;       /* raw bytes of all sections together */
    uint64_t old_virt_len;       /* OLD': old image plus its listed regions decompressed */
    uint64_t new_virt_len;       /* NEW': what the blocks produce (new regions decompressed) */
    uint32_t region_old_len_max; /* largest decompressed old region (0: none) */
    uint32_t region_new_len_max; /* largest decompressed new region (0: none) */
};

/*
 * Parses and validates the fixed header in p[0..len) (len >= SDV_DELTA_HEADER_LEN). Returns
 * SDV_EPARSE for a bad magic, reserved bytes or lengths out of bounds, SDV_EUNSUPPORTED for
 * another format version or unknown flags. Writes a reason into errmsg (errmsg_len bytes; may
 * be NULL).
 */
enum sdv_err sdv_delta_header_parse(const void *p, size_t len, struct sdv_delta_header *out,
                                    char *errmsg, size_t errmsg_len);

/* Sizes of a patch's parts: raw and compressed bytes of each stream kind, summed over blocks. */
enum sdv_delta_stream {
    SDV_DELTA_STREAM_CTRL = 0,
    SDV_DELTA_STREAM_DIFF = 1,
    SDV_DELTA_STREAM_EXTRA = 2,
};
#define SDV_DELTA_STREAMS 3

struct sdv_delta_stats {
    uint64_t blocks;                      /* blocks in the patch */
    uint64_t tuples;                      /* control tuples (encoder only; 0 from info) */
    uint64_t raw_len[SDV_DELTA_STREAMS];  /* decompressed bytes per stream kind */
    uint64_t comp_len[SDV_DELTA_STREAMS]; /* bytes in the patch per stream kind */
    uint64_t codec_count[3];              /* streams per codec (stored, zstd, xz) */
    uint64_t patch_len;                   /* whole patch, header included */
    uint64_t copied_len;                  /* new bytes produced from old bytes (add) */
    uint64_t sections;                    /* sections in the patch */
    uint64_t sections_comp_len;           /* their bytes in the patch, headers included */
    uint64_t old_regions;                 /* compressed regions of OLD decompressed into OLD' */
    uint64_t new_regions;                 /* regions of NEW recompressed on the device */
    uint64_t new_regions_len;             /* their compressed bytes in NEW */
    uint64_t regions_kept_raw;            /* changed NEW streams no trial reproduced, left
                                             as bytes; encoder only */
    char codec_versions[96];              /* libraries that made the new regions, "" if none */
};

/* ---- Encoder --------------------------------------------------------------------------- */

struct sdv_delta_encode_opts {
    int level;          /* compression level: zstd 1..22, xz 0..9 (scaled); 0: default (19) */
    unsigned threads;   /* worker threads for compression; 0 or 1: none */
    uint32_t block_len; /* new bytes per block; 0: SDV_DELTA_BLOCK_LEN_DEFAULT */
    enum sdv_delta_codec_choice codec;
    const struct sdv_log *log; /* progress and statistics at SDV_LOG_DEBUG; may be NULL */
};

/*
 * Computes a patch that turns old[0..old_len) into new_data[0..new_len) and hands it to sink in
 * order (header first, then one call per block or less). Both inputs are borrowed and only read;
 * opts may be NULL for the defaults. stats (may be NULL) receives the patch's sizes.
 *
 * Memory: old_len + 4 * old_len (suffix array) plus about (3 + 2 * threads) * block_len, on top
 * of the caller's copies of old and new. old_len must be below SDV_DELTA_OLD_LEN_MAX (32-bit
 * suffix array). Returns SDV_OK, SDV_EINVAL (bad options), SDV_ETOOBIG (input too large),
 * SDV_ENOMEM, SDV_ECRYPTO, or the sink's error. On failure the sink may have received a prefix
 * of the patch, which the caller discards.
 */
enum sdv_err sdv_delta_encode(const uint8_t *old, size_t old_len, const uint8_t *new_data,
                              size_t new_len, const struct sdv_delta_encode_opts *opts,
                              sdv_sink_fn sink, void *sink_ud, struct sdv_delta_stats *stats);

/* ---- Decoder --------------------------------------------------------------------------- */

/*
 * Reads exactly len bytes at offset off of an image (pread style) into buf. Returns SDV_OK or an
 * error (a short read is an error: SDV_EIO), which stops the decoder with that error.
 */
typedef enum sdv_err (*sdv_delta_read_fn)(void *ud, uint64_t off, void *buf, size_t len);

/*
 * A resumption point: the state after a whole block has been written. It is plain data (no
 * pointers); sdv_delta_checkpoint_encode() turns it into SDV_DELTA_CHECKPOINT_LEN bytes to
 * persist. The running SHA-256 of the output cannot be exported from OpenSSL, so a resumed
 * decoder re-hashes new[0..new_off) by reading it back (sdv_delta_decoder_resume()).
 */
struct sdv_delta_checkpoint {
    uint8_t header[SDV_DELTA_HEADER_LEN]; /* the patch header, verbatim */
    uint64_t patch_off;                   /* next patch byte to feed (a block boundary) */
    uint64_t new_off;                     /* new bytes written and durable */
    uint64_t blocks_done;                 /* blocks applied */
    uint64_t virt_off;                    /* bytes of NEW' produced (outside any region) */
};
#define SDV_DELTA_CHECKPOINT_LEN (SDV_DELTA_HEADER_LEN + 32u + 32u)

/* Serialises cp into out (SDV_DELTA_CHECKPOINT_LEN bytes, with a SHA-256 prefix of its own so a
 * torn write is detected). */
enum sdv_err sdv_delta_checkpoint_encode(const struct sdv_delta_checkpoint *cp, uint8_t *out);
/* Parses what sdv_delta_checkpoint_encode() wrote. SDV_EPARSE if damaged or inconsistent. */
enum sdv_err sdv_delta_checkpoint_decode(const uint8_t *p, size_t len,
                                         struct sdv_delta_checkpoint *out);

/* Called after each block once its output has been handed to the output sink. The caller makes
 * the output durable (fsync) and then persists cp; returning an error stops the decoder. */
typedef enum sdv_err (*sdv_delta_checkpoint_fn)(void *ud, const struct sdv_delta_checkpoint *cp);

struct sdv_delta_decoder_limits {
    size_t memory_max;                  /* working memory bound; 0: SDV_DELTA_DECODER_MEMORY_MAX */
    uint64_t new_len_max;               /* largest new image accepted; 0: SDV_DELTA_NEW_LEN_MAX */
    sdv_delta_checkpoint_fn checkpoint; /* may be NULL */
    void *checkpoint_ud;
};

struct sdv_delta_decoder;

/*
 * Creates a decoder that reads the old image through old_read (borrowed callback, old_ud passed
 * through) and writes the new image in order through out_write (out_ud passed through). limits
 * may be NULL for the defaults. Allocates only the decoder itself and a zstd context; the block
 * buffers are allocated once, when the header has been read and checked against
 * limits->memory_max. Caller frees with sdv_delta_decoder_destroy().
 *
 * Nothing is written before the header has been parsed and old[0..old_len) has been read and
 * found to match the header's SHA-256 (a wrong base is refused with SDV_EHASH before any write).
 */
enum sdv_err sdv_delta_decoder_create(sdv_delta_read_fn old_read, void *old_ud,
                                      sdv_sink_fn out_write, void *out_ud,
                                      const struct sdv_delta_decoder_limits *limits,
                                      struct sdv_delta_decoder **out);

/*
 * Feeds the next len bytes of the patch (any chunking, len 0 allowed). Decodes every block that
 * completes and writes its output. Returns SDV_OK, or the first error, after which the decoder is
 * failed and returns the same error forever: SDV_EPARSE (malformed or corrupt patch),
 * SDV_EUNSUPPORTED (newer format, unknown block type or codec), SDV_EHASH (wrong base),
 * SDV_ETOOBIG (patch needs more memory than allowed, or new image larger than allowed), SDV_ENOMEM,
 * or an error of a callback. sdv_delta_decoder_errmsg() says why.
 */
enum sdv_err sdv_delta_decoder_feed(struct sdv_delta_decoder *dec, const void *data, size_t len);

/* sdv_delta_decoder_feed() with the signature of an sdv_sink_fn (ud is the decoder), so a
 * download can stream straight into the decoder. */
enum sdv_err sdv_delta_decoder_sink(void *ud, const void *data, size_t len);

/*
 * Declares the end of the patch. Returns SDV_OK only if every block was applied, no byte
 * followed the last block, and the SHA-256 of everything written equals the header's new hash;
 * SDV_EPARSE for a truncated patch, SDV_EHASH for a wrong result. The caller must not treat the
 * output as valid unless this returns SDV_OK.
 */
enum sdv_err sdv_delta_decoder_finish(struct sdv_delta_decoder *dec);

/*
 * Resumes from a checkpoint instead of starting at patch offset 0; call right after create,
 * before any feed. Verifies the old image as a fresh start does, re-hashes new[0..cp->new_off)
 * read back through out_read (out_ud passed through), and then expects the patch bytes from
 * sdv_delta_decoder_want_off() on: cp->patch_off for a patch without sections; for a patch with
 * sections, SDV_DELTA_HEADER_LEN (the sections are read again, and the bytes between their end
 * and cp->patch_off are then skipped unread). Returns SDV_EPARSE for a checkpoint that does not
 * fit its header.
 */
enum sdv_err sdv_delta_decoder_resume(struct sdv_delta_decoder *dec,
                                      const struct sdv_delta_checkpoint *cp,
                                      sdv_delta_read_fn out_read, void *out_ud);

/* The parsed header, or NULL before the whole header has been fed. Owned by the decoder. */
const struct sdv_delta_header *sdv_delta_decoder_header(const struct sdv_delta_decoder *dec);

/* Patch offset of the next byte the decoder expects (after resume: where to start feeding). */
uint64_t sdv_delta_decoder_want_off(const struct sdv_delta_decoder *dec);

/* Bytes of output written so far. */
uint64_t sdv_delta_decoder_new_off(const struct sdv_delta_decoder *dec);

/* Peak working memory of the decoder in bytes: its own buffers, the zstd context and the peak of
 * liblzma's allocations; never more than the limit. */
size_t sdv_delta_decoder_memory_peak(const struct sdv_delta_decoder *dec);

/* Why the last call failed ("" if none). Owned by the decoder, valid until the next call. */
const char *sdv_delta_decoder_errmsg(const struct sdv_delta_decoder *dec);

/* NULL is a no-op. */
void sdv_delta_decoder_destroy(struct sdv_delta_decoder *dec);

/* ---- Inspection ------------------------------------------------------------------------ */

/*
 * Walks a whole patch of patch_len bytes (read through patch_read) without decompressing it:
 * parses the header into hdr and checks every block header's framing, summing stream sizes into
 * stats (tuples stays 0). Returns SDV_OK, SDV_EPARSE/SDV_EUNSUPPORTED with a reason in errmsg,
 * or the read callback's error.
 */
enum sdv_err sdv_delta_info(sdv_delta_read_fn patch_read, void *ud, uint64_t patch_len,
                            struct sdv_delta_header *hdr, struct sdv_delta_stats *stats,
                            char *errmsg, size_t errmsg_len);

#ifdef __cplusplus
}
#endif
#endif /* SDV_DELTA_H */
