/*
 * fuzz_delta_exec.c - the executable reference map (section type 3 of a delta patch) from
 * untrusted bytes: parsed against a fixed 64 KiB old image (and a new image of the same length);
 * when accepted, references are predicted over that image for runs and chunks chosen by the
 * input's last bytes, each chunk through an exactly sized heap window of the old bytes (the
 * decoder's way), so that a read outside it is caught by ASan.
 *
 * Checked properties: no crash, no out-of-bounds access; a refusal carries a reason; an
 * accepted map stays within its memory bound; the prediction of a run does not depend on how it
 * is cut into chunks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delta_exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_IMG_LEN (64u * 1024u)

/* Old image: x86-64 calls and RIP-relative loads, AArch64 branches and ADRP pairs, and 64-bit
 * values that look like pointers, so that accepted maps find references. */
static void fuzz_img(uint8_t *p)
{
    for (uint32_t i = 0; i < FUZZ_IMG_LEN; i += 16) {
        uint32_t v = i * 2654435761u;
        uint64_t ptr = 0x401000u + (uint64_t)(v % 0x10000u);

        p[i] = 0xE8;
        memcpy(p + i + 1, &v, 4);
        p[i + 5] = 0x48;
        p[i + 6] = 0x8D;
        p[i + 7] = 0x05;
        memcpy(p + i + 8, &ptr, 8);
        if (i % 64 == 32) {
            uint32_t bl = 0x94000000u | (v & 0x3FFFFFFu), adrp = 0x90000001u | (v & 0x60FFFFE0u);
            uint32_t add = 0x91000021u | (v & 0x3FFC00u);

            memcpy(p + i, &bl, 4);
            memcpy(p + i + 4, &adrp, 4);
            memcpy(p + i + 8, &add, 4);
        }
    }
}

static void predict_chunked(const struct delta_xmap *m, const uint8_t *img, uint64_t r0,
                            uint64_t r1, uint64_t p0, size_t step, uint8_t *out)
{
    for (uint64_t c0 = r0; c0 < r1;) {
        size_t n = step < r1 - c0 ? step : (size_t)(r1 - c0);
        uint64_t w0 = c0 >= DELTA_EXEC_LOOK ? c0 - DELTA_EXEC_LOOK : 0;
        uint64_t w1 =
                FUZZ_IMG_LEN - c0 - n >= DELTA_EXEC_LOOK ? c0 + n + DELTA_EXEC_LOOK : FUZZ_IMG_LEN;
        uint8_t *win = malloc(w1 - w0);

        if (win == NULL)
            abort();
        memcpy(win, img + w0, w1 - w0);
        memcpy(out + (c0 - r0), img + c0, n);
        delta_xmap_predict(m, win, w0, w1 - w0, r0, r1, p0, c0, out + (c0 - r0), n);
        free(win);
        c0 += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t img[FUZZ_IMG_LEN];
    static int ready;
    struct delta_xmap *m = NULL;
    char why[160];
    size_t mem;
    enum sdv_err err;
    uint8_t a[4096], b[4096];

    if (!ready) {
        fuzz_img(img);
        ready = 1;
    }
    why[0] = '\0';
    err = delta_xmap_parse(data, size, FUZZ_IMG_LEN, FUZZ_IMG_LEN, DELTA_EXEC_MEM_MAX, &m, &mem,
                           why, sizeof(why));
    if (err != SDV_OK) {
        if (m != NULL || why[0] == '\0')
            abort();
        return 0;
    }
    if (mem > DELTA_EXEC_MEM_MAX)
        abort();
    for (unsigned k = 0; k < 4; k++) {
        /* Runs from the input's bytes (a valid map ends with its steps, so they vary). */
        uint32_t x = 0;
        uint64_t r0, r1, p0;

        for (size_t i = 0; i < size; i++)
            x = x * 31u + data[i] + k;
        r0 = x % FUZZ_IMG_LEN;
        r1 = r0 + 1 + (x >> 8) % sizeof(a);
        if (r1 > FUZZ_IMG_LEN)
            r1 = FUZZ_IMG_LEN;
        p0 = (x >> 3) % FUZZ_IMG_LEN;
        predict_chunked(m, img, r0, r1, p0, sizeof(a), a);
        predict_chunked(m, img, r0, r1, p0, 1 + (x >> 20) % 61u, b);
        if (memcmp(a, b, (size_t)(r1 - r0)) != 0)
            abort();
    }
    delta_xmap_free(m);
    return 0;
}
