/*
 * test_delta_exec.c - unit tests of the executable reference map (lib/delta/delta_exec.c):
 *
 * - synthetic x86-64 and AArch64 programs (calls, jumps, conditional branches, RIP-relative and
 *   ADRP+ADD/LDR data references, literal loads, tables of 64-bit pointers) whose NEW version has
 *   functions inserted, so that almost every reference changes: diff + apply round-trips, the
 *   patch carries a reference map, and it is far smaller than the patch of the same bytes with
 *   the ELF headers defaced (no map);
 * - the prediction does not depend on how a run is cut into chunks or on the window beyond
 *   DELTA_EXEC_LOOK, on every ELF at hand: this test program itself (always), the binaries of
 *   the delta corpus (build/delta-corpus, or SDV_DELTA_CORPUS; skipped with a message when
 *   absent);
 * - diff + apply round trip of this test program against itself with code inserted;
 * - hostile section payloads: truncated at every length, bit-flipped, hand-made bad fields are
 *   refused with a reason or, when accepted, predict without reading outside the window.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/delta.h>

#include "delta_exec.h"
#include "delta_int.h"

/* ---- Helpers ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

struct mem {
    uint8_t *p;
    size_t len, cap;
};

static enum sdv_err mem_sink(void *ud, const void *data, size_t len)
{
    struct mem *m = ud;

    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->p = realloc(m->p, m->cap);
        assert_non_null(m->p);
    }
    memcpy(m->p + m->len, data, len);
    m->len += len;
    return SDV_OK;
}

struct img {
    const uint8_t *p;
    size_t len;
};

static enum sdv_err img_read(void *ud, uint64_t off, void *buf, size_t len)
{
    const struct img *im = ud;

    if (off > im->len || len > im->len - off)
        return SDV_EIO;
    memcpy(buf, im->p + off, len);
    return SDV_OK;
}

/* Diff then apply; asserts the output is new. Returns the patch length; *sections gets the
 * number of sections of the patch, *peak the decoder's peak memory. */
static size_t roundtrip(const uint8_t *old, size_t old_len, const uint8_t *new_data, size_t new_len,
                        uint64_t *sections, size_t *peak)
{
    struct mem patch = {0}, out = {0};
    struct sdv_delta_stats st;
    struct sdv_delta_decoder *dec;
    struct img oi = {old, old_len};
    size_t len;

    assert_int_equal(sdv_delta_encode(old, old_len, new_data, new_len, NULL, mem_sink, &patch, &st),
                     SDV_OK);
    assert_int_equal(st.patch_len, patch.len);
    assert_int_equal(sdv_delta_decoder_create(img_read, &oi, mem_sink, &out, NULL, &dec), SDV_OK);
    /* Odd feed sizes: the sections and blocks arrive in pieces. */
    for (size_t off = 0; off < patch.len;) {
        size_t n = patch.len - off < 777 ? patch.len - off : 777;

        assert_int_equal(sdv_delta_decoder_feed(dec, patch.p + off, n), SDV_OK);
        off += n;
    }
    if (sdv_delta_decoder_finish(dec) != SDV_OK)
        fail_msg("apply failed: %s", sdv_delta_decoder_errmsg(dec));
    *peak = sdv_delta_decoder_memory_peak(dec);
    assert_true(*peak <= SDV_DELTA_DECODER_MEMORY_MAX);
    sdv_delta_decoder_destroy(dec);
    assert_int_equal(out.len, new_len);
    assert_memory_equal(out.p, new_data, new_len);
    *sections = st.sections;
    len = patch.len;
    free(patch.p);
    free(out.p);
    return len;
}

/* ---- Synthetic programs ---- */

enum { ARCH_X86 = 1, ARCH_A64 = 2 };

#define PROG_TEXT_OFF   0x1000u
#define PROG_BASE       0x400000u
#define PROG_DATA_GAP   0x10000u
#define PROG_PTRS       512u
#define PROG_DATA_ITEMS 256u

struct prog {
    unsigned arch;
    unsigned nfunc;
    uint32_t *id;   /* function identity: the seed of its body */
    uint64_t *addr; /* its virtual address in this version */
};

/* Length of the body of function id (fixed per identity, a multiple of 4). */
static uint32_t body_len(uint32_t id)
{
    uint64_t s = id * 7919u + 17u;

    return 64u + (uint32_t)(rng_next(&s) % 400u) * 4u;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* The function of a version holding identity id, or one picked by r among all. */
static unsigned pick(const struct prog *pg, uint64_t r)
{
    return (unsigned)(r % pg->nfunc);
}

/*
 * Writes the body of function f at text + off (virtual address pc): filler drawn from its
 * identity, with references to other functions (picked by identity, so that both versions
 * refer to the same callees) and to data items.
 */
static void emit_body(const struct prog *pg, unsigned f, uint8_t *p, uint64_t pc, uint64_t data_va,
                      const uint32_t *id_index)
{
    uint32_t len = body_len(pg->id[f]), i = 0;
    uint64_t s = pg->id[f] * 104729u + 3u;

    while (i < len) {
        uint64_t r = rng_next(&s);
        unsigned kind = (unsigned)(r % 8u);
        uint32_t callee_id = (uint32_t)((r >> 8) % 600u);
        uint64_t target =
                pg->addr[id_index[callee_id] < pg->nfunc ? id_index[callee_id] : pick(pg, r >> 20)];
        uint64_t item = data_va + 8u * PROG_PTRS + 16u * ((r >> 32) % PROG_DATA_ITEMS);

        if (pg->arch == ARCH_X86) {
            if (kind == 0 && len - i >= 5) {
                p[i] = 0xE8;
                put32(p + i + 1, (uint32_t)(target - (pc + i + 5)));
                i += 5;
            } else if (kind == 1 && len - i >= 6) {
                p[i] = 0x0F;
                p[i + 1] = 0x84;
                put32(p + i + 2, (uint32_t)(target - (pc + i + 6)));
                i += 6;
            } else if (kind == 2 && len - i >= 7) {
                p[i] = 0x48;
                p[i + 1] = 0x8D;
                p[i + 2] = 0x05; /* lea rax, [rip + item] */
                put32(p + i + 3, (uint32_t)(item - (pc + i + 7)));
                i += 7;
            } else if (kind == 3 && len - i >= 7) {
                p[i] = 0x83;
                p[i + 1] = 0x3D; /* cmp dword [rip + item], imm8 */
                put32(p + i + 2, (uint32_t)(item - (pc + i + 7)));
                p[i + 6] = (uint8_t)r;
                i += 7;
            } else {
                uint32_t n = 1 + (uint32_t)((r >> 40) % 6u);

                for (uint32_t k = 0; k < n && i < len; k++, i++)
                    p[i] = (uint8_t)(rng_next(&s) >> 56) & 0x7Fu; /* no E8/E9/0F 8x */
            }
            continue;
        }
        /* AArch64: one instruction, or an ADRP pair. */
        {
            uint64_t here = pc + i;
            int64_t d = (int64_t)(target - here) / 4;
            uint32_t ins;

            if (kind == 0) {
                ins = 0x94000000u | ((uint32_t)d & 0x3FFFFFFu); /* BL */
            } else if (kind == 1) {
                ins = 0x14000000u | ((uint32_t)d & 0x3FFFFFFu); /* B */
            } else if (kind == 2 && len - i >= 8) {
                int64_t pg_d = (int64_t)((item >> 12) - (here >> 12));
                uint32_t rd = (uint32_t)(r >> 50) & 15u;

                ins = 0x90000000u | ((uint32_t)pg_d & 3u) << 29 |
                      ((uint32_t)(pg_d >> 2) & 0x7FFFFu) << 5 | rd; /* ADRP */
                put32(p + i, ins);
                if (r & (1ull << 60)) /* ADD rd, rd, #lo12 */
                    ins = 0x91000000u | (uint32_t)(item & 0xFFFu) << 10 | rd << 5 | rd;
                else /* LDR xd, [rd, #lo12] */
                    ins = 0xF9400000u | (uint32_t)((item & 0xFFFu) / 8u) << 10 | rd << 5 | rd;
                put32(p + i + 4, ins);
                i += 8;
                continue;
            } else if (kind == 3) {
                int64_t dl = (int64_t)(item - here) / 4;

                ins = 0x58000000u | ((uint32_t)dl & 0x7FFFFu) << 5 | 1u; /* LDR x1, literal */
            } else {
                /* ORR/ADD register forms with random registers: never a reference. */
                ins = ((r >> 60) & 1u ? 0xAA000000u : 0x8B000000u) |
                      ((uint32_t)(r >> 24) & 0x1F7FFFu);
            }
            put32(p + i, ins);
            i += 4;
        }
    }
}

/*
 * Builds the ELF image of a version: header, two PT_LOAD (text R+X, data RW with .bss), text
 * made of the functions, data made of a table of pointers to functions then data items.
 */
static uint8_t *build_prog(struct prog *pg, size_t *len_out)
{
    uint64_t text_len = 0, data_off, data_va, data_len, pc = PROG_BASE + PROG_TEXT_OFF;
    uint32_t *id_index = malloc(4096 * sizeof(*id_index));
    uint8_t *img, *ph;

    assert_non_null(id_index);
    for (unsigned k = 0; k < 4096; k++)
        id_index[k] = UINT32_MAX;
    for (unsigned f = 0; f < pg->nfunc; f++) {
        pg->addr[f] = pc + text_len;
        id_index[pg->id[f] % 4096u] = f;
        text_len += body_len(pg->id[f]);
    }
    data_off = (PROG_TEXT_OFF + text_len + 0xFFFu) & ~0xFFFull;
    data_va = PROG_BASE + data_off + PROG_DATA_GAP;
    data_len = 8u * PROG_PTRS + 16u * PROG_DATA_ITEMS;
    img = calloc(1, data_off + data_len);
    assert_non_null(img);
    memcpy(img,
           "\x7f"
           "ELF\x02\x01\x01",
           7);
    img[16] = 2;                               /* ET_EXEC */
    img[18] = pg->arch == ARCH_X86 ? 62 : 183; /* e_machine */
    img[20] = 1;                               /* e_version */
    put64(img + 24, pg->addr[0]);              /* e_entry */
    put64(img + 32, 64);                       /* e_phoff */
    img[52] = 64;                              /* e_ehsize */
    img[54] = 56;                              /* e_phentsize */
    img[56] = 2;                               /* e_phnum */
    ph = img + 64;
    put32(ph, 1);
    put32(ph + 4, 5); /* R+X */
    put64(ph + 8, PROG_TEXT_OFF);
    put64(ph + 16, PROG_BASE + PROG_TEXT_OFF);
    put64(ph + 32, text_len);
    put64(ph + 40, text_len);
    ph += 56;
    put32(ph, 1);
    put32(ph + 4, 6); /* RW */
    put64(ph + 8, data_off);
    put64(ph + 16, data_va);
    put64(ph + 32, data_len);
    put64(ph + 40, data_len + 0x4000u);
    for (unsigned f = 0; f < pg->nfunc; f++)
        emit_body(pg, f, img + PROG_TEXT_OFF + (pg->addr[f] - PROG_BASE - PROG_TEXT_OFF),
                  pg->addr[f], data_va, id_index);
    for (unsigned k = 0; k < PROG_PTRS; k++) /* pointers to functions and into .bss */
        put64(img + data_off + 8u * k,
              k % 5u == 4u ? data_va + data_len + 64u * k : pg->addr[(k * 37u) % pg->nfunc]);
    for (unsigned k = 0; k < PROG_DATA_ITEMS; k++)
        put64(img + data_off + 8u * PROG_PTRS + 16u * k, 0x1234567800000000ull + k);
    free(id_index);
    *len_out = data_off + data_len;
    return img;
}

/* Old: nfunc functions; new: the same with a few functions inserted and one removed. */
static void make_pair(unsigned arch, uint8_t **old, size_t *old_len, uint8_t **new_data,
                      size_t *new_len)
{
    const unsigned nfunc = 600;
    struct prog a = {arch, nfunc, NULL, NULL}, b = {arch, 0, NULL, NULL};

    a.id = malloc(nfunc * sizeof(*a.id));
    a.addr = malloc(nfunc * sizeof(*a.addr));
    b.id = malloc((nfunc + 8) * sizeof(*b.id));
    b.addr = malloc((nfunc + 8) * sizeof(*b.addr));
    assert_true(a.id && a.addr && b.id && b.addr);
    for (unsigned f = 0; f < nfunc; f++)
        a.id[f] = f;
    for (unsigned f = 0; f < nfunc; f++) {
        if (f == 100 || f == 250 || f == 420)
            b.id[b.nfunc++] = 3000 + f; /* a new function before f */
        if (f != 333)
            b.id[b.nfunc++] = f;
    }
    *old = build_prog(&a, old_len);
    *new_data = build_prog(&b, new_len);
    free(a.id);
    free(a.addr);
    free(b.id);
    free(b.addr);
}

static void synthetic(unsigned arch)
{
    uint8_t *old, *new_data;
    size_t old_len, new_len, with_map, without_map, peak;
    uint64_t sections;

    make_pair(arch, &old, &old_len, &new_data, &new_len);
    with_map = roundtrip(old, old_len, new_data, new_len, &sections, &peak);
    assert_int_equal(sections, 1);
    /* The same bytes without the ELF magic: no map, references as plain differences. */
    old[1] = 'X';
    new_data[1] = 'X';
    without_map = roundtrip(old, old_len, new_data, new_len, &sections, &peak);
    assert_int_equal(sections, 0);
    print_message("arch %u: %zu -> %zu bytes, patch %zu with the map, %zu without\n", arch, old_len,
                  new_len, with_map, without_map);
    /* Nearly every reference moved; with the map they cost (almost) nothing. */
    assert_true(with_map * 2 < without_map);
    free(old);
    free(new_data);
}

static void test_x86_64_synthetic(void **state)
{
    (void)state;
    synthetic(ARCH_X86);
}

static void test_aarch64_synthetic(void **state)
{
    (void)state;
    synthetic(ARCH_A64);
}

/* ---- Prediction independent of chunking ---- */

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    p = malloc((size_t)n + 1);
    assert_non_null(p);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

/*
 * old = image; new = image with 4099 bytes inserted at a third (so offsets and addresses after
 * it shift). The alignment is the two obvious runs. Every run is predicted whole (the encoder's
 * way) and in chunks of varied sizes with windows of exactly DELTA_EXEC_LOOK around them (the
 * decoder's way, reading through a bounded window): the bytes must be identical. Returns the
 * number of bytes the prediction changed (the references it rewrote).
 */
static uint64_t check_chunking(const uint8_t *img, size_t len)
{
    const size_t ins = 4099, cut = len / 3;
    struct delta_xrun runs[2] = {{0, 0, cut}, {cut, cut + ins, len - cut}};
    struct delta_xmap *m = NULL;
    struct sdv_buf sec;
    uint8_t *whole, *chunked, *win;
    uint64_t changed = 0, seed = len;
    char why[160];
    size_t mem;
    uint8_t *new_data = malloc(len + ins);

    assert_non_null(new_data);
    memcpy(new_data, img, cut);
    memset(new_data + cut, 0x90, ins);
    memcpy(new_data + cut + ins, img + cut, len - cut);
    sdv_buf_init(&sec, DELTA_EXEC_SECTION_LEN_MAX);
    assert_int_equal(delta_xmap_build(img, len, new_data, len + ins, runs, 2, &sec), SDV_OK);
    free(new_data);
    if (sec.len == 0) {
        sdv_buf_free(&sec);
        return 0;
    }
    assert_int_equal(delta_xmap_parse(sec.data, sec.len, len, len + ins, DELTA_EXEC_MEM_MAX, &m,
                                      &mem, why, sizeof(why)),
                     SDV_OK);
    sdv_buf_free(&sec);
    whole = malloc(len);
    chunked = malloc(len);
    win = malloc(70000 + 2 * DELTA_EXEC_LOOK);
    assert_true(whole && chunked && win);
    for (unsigned i = 0; i < 2; i++) {
        uint64_t r0 = runs[i].old_off, r1 = r0 + runs[i].len;

        memcpy(whole + r0, img + r0, runs[i].len);
        delta_xmap_predict(m, img, 0, len, r0, r1, runs[i].new_off, r0, whole + r0, runs[i].len);
        for (uint64_t c0 = r0; c0 < r1;) {
            size_t n = 1 + (size_t)(rng_next(&seed) % 70000u);
            uint64_t w0, w1;

            if (n > r1 - c0)
                n = (size_t)(r1 - c0);
            w0 = c0 >= DELTA_EXEC_LOOK ? c0 - DELTA_EXEC_LOOK : 0;
            w1 = len - c0 - n >= DELTA_EXEC_LOOK ? c0 + n + DELTA_EXEC_LOOK : len;
            memcpy(win, img + w0, w1 - w0);
            memcpy(chunked + c0, img + c0, n);
            delta_xmap_predict(m, win, w0, w1 - w0, r0, r1, runs[i].new_off, c0, chunked + c0, n);
            c0 += n;
        }
    }
    assert_memory_equal(whole, chunked, len);
    for (size_t i = 0; i < len; i++)
        changed += whole[i] != img[i];
    delta_xmap_free(m);
    free(whole);
    free(chunked);
    free(win);
    return changed;
}

static void test_chunking_self(void **state)
{
    size_t len;
    uint8_t *img = read_file("/proc/self/exe", &len);

    (void)state;
    assert_non_null(img);
    /* This program is an ELF of the build's architecture: its references move with the
     * insertion, so the prediction must rewrite some. */
    assert_true(check_chunking(img, len) > 0);
    free(img);
}

static void test_chunking_synthetic(void **state)
{
    (void)state;
    for (unsigned arch = ARCH_X86; arch <= ARCH_A64; arch++) {
        uint8_t *old, *new_data;
        size_t old_len, new_len;

        make_pair(arch, &old, &old_len, &new_data, &new_len);
        assert_true(check_chunking(old, old_len) > 0);
        assert_true(check_chunking(new_data, new_len) > 0);
        free(old);
        free(new_data);
    }
}

static void test_chunking_corpus(void **state)
{
    const char *dir = getenv("SDV_DELTA_CORPUS");
    static const char *const files[] = {
            "pairs/esbuild-0.28.0.bin", "pairs/esbuild-0.28.1.bin", "pairs/esbuild-0.28.2.bin",
            "pairs/turbo-2.8.16.bin",   "pairs/turbo-2.8.17.bin",   "rootfs/rootfs-v1.tar",
            "rootfs/rootfs-v2.tar",
    };
    unsigned found = 0;

    (void)state;
    if (dir == NULL)
        dir = SDV_TEST_CORPUS_DIR;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[4096];
        size_t len;
        uint8_t *img;
        uint64_t changed;

        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        img = read_file(path, &len);
        if (img == NULL)
            continue;
        changed = check_chunking(img, len);
        print_message("%s: %zu bytes, %llu predicted bytes changed\n", files[i], len,
                      (unsigned long long)changed);
        assert_true(changed > 0);
        found++;
        free(img);
    }
    if (found == 0)
        print_message("SKIP: no delta corpus in %s (bench/delta_bench.sh builds it)\n", dir);
}

/* ---- Round trip on this program with code inserted ---- */

static void test_roundtrip_self(void **state)
{
    size_t len, peak;
    uint64_t sections;
    uint8_t *img = read_file("/proc/self/exe", &len), *new_data;

    (void)state;
    assert_non_null(img);
    new_data = malloc(len + 3000);
    assert_non_null(new_data);
    /* New: 3000 bytes inserted in the middle and a few bytes edited further on; the ELF
     * headers are unchanged, so the segment table no longer matches exactly (robustness). */
    memcpy(new_data, img, len / 2);
    memset(new_data + len / 2, 0xCC, 3000);
    memcpy(new_data + len / 2 + 3000, img + len / 2, len - len / 2);
    for (size_t i = len / 2 + 10000; i < len; i += 50000)
        new_data[i] ^= 0x55;
    (void)roundtrip(img, len, new_data, len + 3000, &sections, &peak);
    assert_int_equal(sections, 1);
    free(img);
    free(new_data);
}

/* ---- Hostile payloads ---- */

/* Parses p; when accepted, predicts over an old image of random bytes through small windows
 * (the decoder's way) for a few runs: no read outside the window may happen (ASan). */
static void hostile_one(const uint8_t *p, size_t len, const uint8_t *old, size_t old_len)
{
    struct delta_xmap *m = NULL;
    char why[160];
    size_t mem;
    enum sdv_err err;
    uint64_t seed = len + 1;

    why[0] = '\0';
    err = delta_xmap_parse(p, len, old_len, old_len, DELTA_EXEC_MEM_MAX, &m, &mem, why,
                           sizeof(why));
    if (err != SDV_OK) {
        assert_true(err == SDV_EPARSE || err == SDV_ETOOBIG);
        assert_true(why[0] != '\0');
        assert_null(m);
        return;
    }
    assert_true(mem <= DELTA_EXEC_MEM_MAX);
    for (unsigned k = 0; k < 8; k++) {
        uint64_t r0 = rng_next(&seed) % old_len, n = 1 + rng_next(&seed) % 300;
        uint64_t p0 = rng_next(&seed) % old_len, w0, w1;
        uint8_t out[300], *win;

        if (n > old_len - r0)
            n = old_len - r0;
        w0 = r0 >= DELTA_EXEC_LOOK ? r0 - DELTA_EXEC_LOOK : 0;
        w1 = old_len - r0 - n >= DELTA_EXEC_LOOK ? r0 + n + DELTA_EXEC_LOOK : old_len;
        /* An exact-size heap copy of the window, so that ASan sees any read beyond it. */
        win = malloc(w1 - w0);
        assert_non_null(win);
        memcpy(win, old + w0, w1 - w0);
        memcpy(out, old + r0, n);
        delta_xmap_predict(m, win, w0, w1 - w0, r0, r0 + n, p0, r0, out, n);
        free(win);
    }
    delta_xmap_free(m);
}

static void test_hostile_payloads(void **state)
{
    uint8_t *old, *new_data, *bad;
    size_t old_len, new_len;
    struct delta_xrun runs[1];
    struct sdv_buf sec;
    uint64_t seed = 99;
    char why[160];
    struct delta_xmap *m = NULL;
    size_t mem;

    (void)state;
    make_pair(ARCH_A64, &old, &old_len, &new_data, &new_len);
    runs[0] = (struct delta_xrun){0, 0, old_len < new_len ? old_len : new_len};
    sdv_buf_init(&sec, DELTA_EXEC_SECTION_LEN_MAX);
    assert_int_equal(delta_xmap_build(old, old_len, new_data, new_len, runs, 1, &sec), SDV_OK);
    assert_true(sec.len > 10);
    /* Lengths given to the parser are both old_len: a valid map for NEW may not fit. */
    for (size_t cut = 0; cut < sec.len; cut++)
        hostile_one(sec.data, cut, old, old_len);
    bad = malloc(sec.len);
    assert_non_null(bad);
    for (unsigned k = 0; k < 3000; k++) {
        memcpy(bad, sec.data, sec.len);
        for (unsigned f = 0; f < 1 + k % 4; f++)
            bad[rng_next(&seed) % sec.len] ^= (uint8_t)(1u << (rng_next(&seed) % 8));
        hostile_one(bad, sec.len, old, old_len);
    }
    free(bad);
    /* Hand-made: wrong version, a segment beyond the image, an ELF with no segment, steps out
     * of order, a trailing byte. */
    {
        static const uint8_t version[] = {2, 0, 0, 0};
        static const uint8_t beyond[] = {1,    1, 1, 1, 0, 0xFF, 0xFF, 0xFF,
                                         0x7F, 0, 0, 0, 0, 1,    0,    0};
        static const uint8_t noseg[] = {1, 1, 1, 0, 0, 1, 0, 0};
        static const uint8_t order[] = {1, 0, 0, 2, 5, 0, 0, 0};
        static const uint8_t trailing[] = {1, 0, 0, 1, 5, 0, 0};

        assert_int_equal(delta_xmap_parse(version, sizeof(version), 100, 100, DELTA_EXEC_MEM_MAX,
                                          &m, &mem, why, sizeof(why)),
                         SDV_EPARSE);
        assert_int_equal(delta_xmap_parse(beyond, sizeof(beyond), 100, 100, DELTA_EXEC_MEM_MAX, &m,
                                          &mem, why, sizeof(why)),
                         SDV_EPARSE);
        assert_non_null(strstr(why, "outside"));
        assert_int_equal(delta_xmap_parse(noseg, sizeof(noseg), 100, 100, DELTA_EXEC_MEM_MAX, &m,
                                          &mem, why, sizeof(why)),
                         SDV_EPARSE);
        assert_int_equal(delta_xmap_parse(order, sizeof(order), 100, 100, DELTA_EXEC_MEM_MAX, &m,
                                          &mem, why, sizeof(why)),
                         SDV_EPARSE);
        assert_int_equal(delta_xmap_parse(trailing, sizeof(trailing), 100, 100, DELTA_EXEC_MEM_MAX,
                                          &m, &mem, why, sizeof(why)),
                         SDV_EPARSE);
        assert_non_null(strstr(why, "trailing"));
        /* The valid payload parses, and a tiny memory bound refuses it. */
        assert_int_equal(delta_xmap_parse(sec.data, sec.len, old_len, new_len, DELTA_EXEC_MEM_MAX,
                                          &m, &mem, why, sizeof(why)),
                         SDV_OK);
        delta_xmap_free(m);
        assert_int_equal(delta_xmap_parse(sec.data, sec.len, old_len, new_len, 64, &m, &mem, why,
                                          sizeof(why)),
                         SDV_ETOOBIG);
    }
    sdv_buf_free(&sec);
    free(old);
    free(new_data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_x86_64_synthetic), cmocka_unit_test(test_aarch64_synthetic),
            cmocka_unit_test(test_chunking_self),    cmocka_unit_test(test_chunking_synthetic),
            cmocka_unit_test(test_chunking_corpus),  cmocka_unit_test(test_roundtrip_self),
            cmocka_unit_test(test_hostile_payloads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
