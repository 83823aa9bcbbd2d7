/*
 * delta_exec.h - private to lib/delta: the executable reference map (section type 3) and the
 * reference prediction that both the encoder and the decoder apply to the old bytes of every add
 * run (docs/delta-format.md, "Reference map").
 *
 * The idea (Courgette's and Zucchini's, done on the copy-add alignment): a reference (x86-64
 * rel32 branch, call or RIP-relative displacement; AArch64 branch, ADR/ADRP(+ADD/LDR/STR) page
 * reference; an aligned absolute 64-bit pointer in data) read from the OLD image has a target in
 * OLD. The map says where OLD's bytes went in NEW (a step function of file offsets) and where the
 * ELF segments sit in both images, so the target can be carried into NEW and the reference
 * re-encoded for its place in NEW. The add run then takes these predicted bytes instead of the old
 * ones, and the difference is zero wherever the prediction is right. Only OLD's bytes and the map
 * decide what is a reference, so the decoder computes exactly the same prediction.
 */
#ifndef SDV_DELTA_EXEC_H
#define SDV_DELTA_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include <sdv/common.h>

/* Bytes before and after a chunk that the predictor reads to classify the references touching
 * it: x86-64 opcodes sit up to 3 bytes before a displacement, a field is at most 8 bytes long. */
#define DELTA_EXEC_LOOK 16u

/* Most bytes of the section's payload: a map that does not fit is left out (the patch is then
 * made of plain bytes there). 512 KiB hold about 100,000 steps. */
#define DELTA_EXEC_SECTION_LEN_MAX (512u * 1024u)

/* Decoder memory a parsed map may take (at most 1.6 MiB with the format's counts); with the
 * block buffers, the sections' raw bytes and an xz dictionary the decoder stays within
 * SDV_DELTA_DECODER_MEMORY_MAX. */
#define DELTA_EXEC_MEM_MAX (2u * 1024u * 1024u)

/* Version byte of the section's payload. */
#define DELTA_EXEC_MAP_VERSION 1u

/* Architectures of an ELF in the map. */
#define DELTA_EXEC_ARCH_X86_64  1u
#define DELTA_EXEC_ARCH_AARCH64 2u

struct delta_xmap;

/* One add run of the alignment: len old bytes at old_off become new bytes at new_off. */
struct delta_xrun {
    uint64_t old_off;
    uint64_t new_off;
    uint64_t len;
};

/*
 * Encoder: finds the ELF64 images (x86-64, AArch64) in old and new, and the step map from the
 * add runs of the alignment (runs in any order; taken as they are). Writes the section payload
 * to out (an initialised buffer; nothing is appended when neither image holds an ELF or no run
 * is long enough) so that the caller parses it back with delta_xmap_parse() and uses the same
 * map as the decoder. SDV_ENOMEM.
 */
enum sdv_err delta_xmap_build(const uint8_t *old, uint64_t old_len, const uint8_t *new_data,
                              uint64_t new_len, const struct delta_xrun *runs, size_t nruns,
                              struct sdv_buf *out);

/*
 * Parses and checks a section payload against the lengths of the images it describes
 * (segments inside the images, ordered, counts bounded). *out is allocated (free with
 * delta_xmap_free()), *mem_out gets the bytes it holds. SDV_EPARSE with a reason,
 * SDV_ETOOBIG when the map would need more than mem_max bytes, SDV_ENOMEM.
 */
enum sdv_err delta_xmap_parse(const uint8_t *p, size_t len, uint64_t old_len, uint64_t new_len,
                              size_t mem_max, struct delta_xmap **out, size_t *mem_out,
                              char *errmsg, size_t errmsg_len);

void delta_xmap_free(struct delta_xmap *m);

/* Whether any reference could touch old bytes [c0, c0 + n): they overlap a segment of an ELF. */
int delta_xmap_touches(const struct delta_xmap *m, uint64_t c0, uint64_t n);

/*
 * Replaces out[0..n), which holds old bytes [c0, c0 + n), by the predicted bytes of the
 * references whose whole field lies inside the add run old [r0, r1) (new offset p0 at r0).
 * win holds old bytes [w0, w0 + wlen): at least [c0 - DELTA_EXEC_LOOK, c0 + n +
 * DELTA_EXEC_LOOK) clipped to the old image (old_len). Deterministic:
 * the result depends on the old bytes, the map and the run, not on how the run is cut in chunks.
 */
void delta_xmap_predict(const struct delta_xmap *m, const uint8_t *win, uint64_t w0, size_t wlen,
                        uint64_t r0, uint64_t r1, uint64_t p0, uint64_t c0, uint8_t *out, size_t n);

/* Figures of a map, for statistics and tests. */
struct delta_xmap_info {
    uint32_t old_elfs, new_elfs, old_segs, new_segs, steps;
};
void delta_xmap_info(const struct delta_xmap *m, struct delta_xmap_info *info);

#endif /* SDV_DELTA_EXEC_H */
