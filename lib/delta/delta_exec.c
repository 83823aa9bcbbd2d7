/*
 * delta_exec.c - executable awareness: the reference map (section type 3) and the prediction of
 * references through the copy-add alignment (see delta_exec.h for the idea).
 *
 * The map holds, for OLD and for NEW, the ELF64 images found in them (at any offset: a bare
 * executable, files inside a tar or a decompressed file system) with their file-backed PT_LOAD
 * segments, and a step function "old file offset -> new file offset - old file offset" taken
 * from the long add runs of the alignment. A reference read in OLD at file offset q, copied by
 * an add run to NEW at offset p, is predicted as follows: its old target (a virtual address of
 * the same ELF) becomes an old file offset through OLD's segments, a new file offset through the
 * step function, a new virtual address through NEW's segments (the ELF holding p); targets in
 * .bss follow the end of the file-backed part of the matching segment. The reference is then
 * encoded again for its new place. Nothing here reads NEW: the decoder, which has OLD and the
 * map, computes the same bytes.
 */
#include "delta_exec.h"

#include <stdlib.h>
#include <string.h>

#include "delta_int.h"

/* ELF images per image side: a root file system holds a few thousand shared objects and
 * programs; more than this are left out (their references are then plain bytes). */
#define DX_ELFS_MAX 4096u
/* File-backed PT_LOAD segments of one ELF: linkers emit 2 to 5; a map claiming more is hostile. */
#define DX_ELF_SEGS_MAX 16u
/* Segments per image side in total. */
#define DX_SEGS_MAX (DX_ELFS_MAX * 3u)
/* Steps of the offset map: 16 bytes each in the decoder, so at most 1 MiB. The encoder drops
 * the shortest runs until the map fits. */
#define DX_STEPS_MAX (64u * 1024u)
/* Add runs shorter than this do not make a step: they are mostly local noise in changed code
 * (common instruction sequences matched elsewhere), and each step costs patch bytes. 32, 64,
 * 128 and 256 measured on Go and Rust executables: 128 was best or within 0.3% on each. */
#define DX_RUN_MIN 128u
/* Entries of the decoder's page index of the steps (4 bytes each): pages grow beyond 4 KiB on
 * images above 256 MiB. */
#define DX_PAGES_MAX 65536u
/* Bounds of virtual addresses in a map, so that sums never overflow. */
#define DX_VADDR_MAX (1ull << 62)
/* Values below this are not taken for absolute pointers: small integers are far more common
 * than pointers into an ELF's first page. */
#define DX_PTR_MIN 0x1000u

struct dx_seg {
    uint64_t off; /* in the image */
    uint64_t filesz;
    uint64_t vaddr;
    uint64_t memsz;
    uint32_t elf; /* index of its ELF */
    uint8_t exec;
};

struct dx_elf {
    uint32_t seg0, nseg; /* its segments: seg[seg0 .. seg0 + nseg), ordered by offset */
    uint8_t arch;
    uint64_t vmin, vmax; /* lowest and highest (exclusive) virtual address of its segments */
    uint64_t xmin, xmax; /* the same over the file-backed part of its executable segments */
};

struct dx_image {
    struct dx_elf *elf;
    uint32_t nelf;
    struct dx_seg *seg; /* all segments, ordered by offset, disjoint */
    uint32_t nseg;
    uint64_t len;
};

struct dx_step {
    uint64_t old_off;
    int64_t delta;
};

struct delta_xmap {
    struct dx_image img[2]; /* 0: OLD, 1: NEW */
    struct dx_step *step;   /* ordered by old_off, strictly increasing */
    uint32_t nstep;
    /* Index of the steps by old offset: page[i] is the first step with old_off > i << pshift
     * (npage entries), so a lookup searches only the steps of one page. */
    uint32_t *page;
    uint32_t npage;
    unsigned pshift;
};

/* ---- ELF discovery (encoder) ---- */

static uint16_t dx_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/*
 * Without -z separate-code (the default of GNU ld on AArch64 and of older toolchains) the
 * executable segment also holds .rodata, .eh_frame and the dynamic tables. When the ELF has
 * section headers, each executable segment is cut into the part before its first executable
 * section, the part from there to the end of its last one (code), and the rest, so that the
 * data parts are predicted as data. The map's format is unchanged: they are just segments.
 */
static void dx_split_code(struct dx_image *im, struct dx_elf *e, const uint8_t *img, uint64_t len,
                          uint64_t at)
{
    const uint8_t *h = img + at;
    uint64_t shoff = delta_get_u64(h + 40);
    uint16_t shentsize = dx_u16(h + 58), shnum = dx_u16(h + 60);
    struct dx_seg piece[DX_ELF_SEGS_MAX];
    uint32_t n = 0;

    if (shentsize != 64 || shnum == 0 || shoff > len - at ||
        (uint64_t)shnum * 64u > len - at - shoff)
        return;
    for (uint32_t k = 0; k < e->nseg; k++) {
        const struct dx_seg *sg = &im->seg[e->seg0 + k];
        uint64_t xlo = UINT64_MAX, xhi = 0, end = sg->off + sg->filesz;
        uint64_t cut[4];
        unsigned ncut = 0;

        for (unsigned i = 0; sg->exec && i < shnum; i++) {
            const uint8_t *sh = h + shoff + (uint64_t)i * 64u;
            uint64_t flags = delta_get_u64(sh + 8), off = delta_get_u64(sh + 24);
            uint64_t size = delta_get_u64(sh + 32);

            /* SHF_ALLOC and SHF_EXECINSTR, not SHT_NOBITS, inside this segment. */
            if ((flags & 6u) != 6u || delta_get_u32(sh + 4) == 8 || size == 0 || off > len - at ||
                size > len - at - off || at + off < sg->off || at + off + size > end)
                continue;
            if (at + off < xlo)
                xlo = at + off;
            if (at + off + size > xhi)
                xhi = at + off + size;
        }
        cut[ncut++] = sg->off;
        if (xhi > 0) {
            if (xlo > sg->off)
                cut[ncut++] = xlo;
            if (xhi < end)
                cut[ncut++] = xhi;
        }
        cut[ncut] = end;
        if (n + ncut > DX_ELF_SEGS_MAX)
            return; /* too many pieces: keep the segments whole */
        for (unsigned c = 0; c < ncut; c++) {
            struct dx_seg *p = &piece[n++];

            *p = *sg;
            p->off = cut[c];
            p->filesz = cut[c + 1] - cut[c];
            p->vaddr = sg->vaddr + (cut[c] - sg->off);
            p->memsz = c + 1 == ncut ? sg->memsz - (cut[c] - sg->off) : p->filesz;
            p->exec = xhi == 0 ? sg->exec : (uint8_t)(cut[c] == xlo || (xlo == sg->off && c == 0));
        }
    }
    if (e->seg0 + n > DX_SEGS_MAX)
        return;
    memcpy(&im->seg[e->seg0], piece, n * sizeof(*piece));
    im->nseg = e->seg0 + n;
    e->nseg = n;
}

/*
 * Parses the ELF64 little-endian executable or shared object at img[at..]; appends its
 * file-backed PT_LOAD segments (ordered, disjoint, inside the image) to im. 0 if accepted.
 */
static int dx_elf_add(struct dx_image *im, const uint8_t *img, uint64_t len, uint64_t at,
                      uint64_t prev_end)
{
    const uint8_t *h = img + at;
    uint64_t phoff, end = prev_end;
    uint16_t type, machine, phentsize, phnum;
    struct dx_elf *e;
    uint8_t arch;

    if (len - at < 64 || h[4] != 2 || h[5] != 1 || h[6] != 1)
        return -1;
    type = dx_u16(h + 16);
    machine = dx_u16(h + 18);
    if (type != 2 && type != 3)
        return -1;
    if (machine == 62)
        arch = DELTA_EXEC_ARCH_X86_64;
    else if (machine == 183)
        arch = DELTA_EXEC_ARCH_AARCH64;
    else
        return -1;
    phoff = delta_get_u64(h + 32);
    phentsize = dx_u16(h + 54);
    phnum = dx_u16(h + 56);
    if (phentsize != 56 || phnum == 0 || phnum > 64 || phoff > len - at ||
        (uint64_t)phnum * 56u > len - at - phoff)
        return -1;
    if (im->nelf == DX_ELFS_MAX)
        return -1;
    e = &im->elf[im->nelf];
    e->seg0 = im->nseg;
    e->nseg = 0;
    e->arch = arch;
    e->vmin = UINT64_MAX;
    e->vmax = 0;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = h + phoff + (uint64_t)i * 56u;
        uint64_t off = delta_get_u64(ph + 8), vaddr = delta_get_u64(ph + 16);
        uint64_t filesz = delta_get_u64(ph + 32), memsz = delta_get_u64(ph + 40);
        struct dx_seg *s;

        if (delta_get_u32(ph) != 1 || filesz == 0)
            continue;
        if (off > len - at || filesz > len - at - off || memsz < filesz || vaddr >= DX_VADDR_MAX ||
            memsz >= DX_VADDR_MAX - vaddr || at + off < end || e->nseg == DX_ELF_SEGS_MAX ||
            im->nseg == DX_SEGS_MAX) {
            im->nseg = e->seg0;
            return -1;
        }
        s = &im->seg[im->nseg];
        s->off = at + off;
        s->filesz = filesz;
        s->vaddr = vaddr;
        s->memsz = memsz;
        s->elf = im->nelf;
        s->exec = (delta_get_u32(ph + 4) & 1u) != 0;
        end = s->off + filesz;
        if (vaddr < e->vmin)
            e->vmin = vaddr;
        if (vaddr + memsz > e->vmax)
            e->vmax = vaddr + memsz;
        im->nseg++;
        e->nseg++;
    }
    if (e->nseg == 0) {
        im->nseg = e->seg0;
        return -1;
    }
    dx_split_code(im, e, img, len, at);
    im->nelf++;
    return 0;
}

static enum sdv_err dx_scan(struct dx_image *im, const uint8_t *img, uint64_t len)
{
    uint64_t at = 0, prev_end = 0;

    memset(im, 0, sizeof(*im));
    im->len = len;
    im->elf = malloc(DX_ELFS_MAX * sizeof(*im->elf));
    im->seg = malloc(DX_SEGS_MAX * sizeof(*im->seg));
    if (im->elf == NULL || im->seg == NULL)
        return SDV_ENOMEM;
    while (len >= 4 && at <= len - 4) {
        const uint8_t *hit = memchr(img + at, 0x7f, len - 3 - at);

        if (hit == NULL)
            break;
        at = (uint64_t)(hit - img);
        /* An ELF's own bytes may hold the magic again (loaders look for it): only an ELF
         * whose segments start after the previous one's is taken. */
        if (at >= prev_end &&
            memcmp(hit,
                   "\x7f"
                   "ELF",
                   4) == 0 &&
            dx_elf_add(im, img, len, at, prev_end) == 0)
            prev_end = im->seg[im->nseg - 1].off + im->seg[im->nseg - 1].filesz;
        at++;
    }
    return SDV_OK;
}

/* ---- Serialisation ---- */

static enum sdv_err dx_put_varint(struct sdv_buf *b, uint64_t v)
{
    uint8_t tmp[DELTA_VARINT_LEN_MAX];

    return sdv_buf_append(b, tmp, delta_varint_put(tmp, v));
}

static enum sdv_err dx_put_image(struct sdv_buf *b, const struct dx_image *im)
{
    uint64_t prev_end = 0;
    enum sdv_err err = dx_put_varint(b, im->nelf);

    for (uint32_t i = 0; i < im->nelf && err == SDV_OK; i++) {
        const struct dx_elf *e = &im->elf[i];

        err = sdv_buf_putc(b, (char)e->arch);
        if (err == SDV_OK)
            err = dx_put_varint(b, e->nseg);
        for (uint32_t k = 0; k < e->nseg && err == SDV_OK; k++) {
            const struct dx_seg *s = &im->seg[e->seg0 + k];

            err = dx_put_varint(b, s->off - prev_end);
            if (err == SDV_OK)
                err = dx_put_varint(b, s->filesz);
            if (err == SDV_OK)
                err = dx_put_varint(b, s->vaddr);
            if (err == SDV_OK)
                err = dx_put_varint(b, s->memsz - s->filesz);
            if (err == SDV_OK)
                err = sdv_buf_putc(b, (char)s->exec);
            prev_end = s->off + s->filesz;
        }
    }
    return err;
}

static uint64_t dx_pages(uint64_t old_len, unsigned *shift);

/* Decoder memory of a map (what delta_xmap_parse() counts). */
static size_t dx_mem(const struct dx_image *io, const struct dx_image *in, size_t nstep)
{
    unsigned shift;

    return sizeof(struct delta_xmap) + nstep * sizeof(struct dx_step) +
           dx_pages(io->len, &shift) * sizeof(uint32_t) +
           (io->nelf + in->nelf) * sizeof(struct dx_elf) +
           (io->nseg + in->nseg) * sizeof(struct dx_seg);
}

static int dx_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static int dx_run_cmp(const void *a, const void *b)
{
    const struct delta_xrun *x = a, *y = b;

    if (x->old_off != y->old_off)
        return x->old_off < y->old_off ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->new_off < y->new_off ? -1 : x->new_off > y->new_off;
}

/* Heap order of the runs covering a point: the longest first (ties: the earliest in old). */
static int dx_run_before(const struct delta_xrun *r, size_t a, size_t b)
{
    if (r[a].len != r[b].len)
        return r[a].len > r[b].len;
    return a < b;
}

static void dx_heap_push(size_t *h, size_t *n, const struct delta_xrun *r, size_t v)
{
    size_t i = (*n)++;

    while (i > 0 && dx_run_before(r, v, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static void dx_heap_pop(size_t *h, size_t *n, const struct delta_xrun *r)
{
    size_t v = h[--(*n)], i = 0;

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= *n)
            break;
        if (c + 1 < *n && dx_run_before(r, h[c + 1], h[c]))
            c++;
        if (!dx_run_before(r, h[c], v))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = v;
}

/*
 * The step map from the runs of at least run_min bytes: at each old offset, the delta of the
 * longest run covering it (a short run that reuses old bytes elsewhere does not disturb the
 * mapping of the code around it); where no run covers, the delta before carries on. Returns the
 * number of steps written to st (room for 2 * nruns), or (size_t)-1 without memory.
 */
static size_t dx_steps(const struct delta_xrun *runs_in, size_t nruns, uint64_t run_min,
                       struct dx_step *st)
{
    struct delta_xrun *r = malloc((nruns ? nruns : 1) * sizeof(*r));
    uint64_t *pts = malloc((2 * nruns + 1) * sizeof(*pts));
    size_t *heap = malloc((nruns ? nruns : 1) * sizeof(*heap));
    size_t n = 0, np = 0, hn = 0, next = 0, k = 0;

    if (r == NULL || pts == NULL || heap == NULL) {
        k = (size_t)-1;
        goto out;
    }
    for (size_t i = 0; i < nruns; i++)
        if (runs_in[i].len >= run_min)
            r[n++] = runs_in[i];
    qsort(r, n, sizeof(*r), dx_run_cmp);
    for (size_t i = 0; i < n; i++) {
        pts[np++] = r[i].old_off;
        pts[np++] = r[i].old_off + r[i].len;
    }
    qsort(pts, np, sizeof(*pts), dx_u64_cmp);
    for (size_t i = 0; i < np; i++) {
        uint64_t x = pts[i];
        int64_t d;

        if (i > 0 && pts[i - 1] == x)
            continue;
        while (next < n && r[next].old_off == x)
            dx_heap_push(heap, &hn, r, next++);
        while (hn > 0 && r[heap[0]].old_off + r[heap[0]].len <= x)
            dx_heap_pop(heap, &hn, r);
        if (hn > 0)
            d = (int64_t)(r[heap[0]].new_off - r[heap[0]].old_off);
        else if (next < n) /* a gap: what follows it (a function or object starting late) */
            d = (int64_t)(r[next].new_off - r[next].old_off);
        else
            continue;
        if (k > 0 && st[k - 1].delta == d)
            continue;
        st[k].old_off = x;
        st[k].delta = d;
        k++;
    }
out:
    free(r);
    free(pts);
    free(heap);
    return k;
}

enum sdv_err delta_xmap_build(const uint8_t *old, uint64_t old_len, const uint8_t *new_data,
                              uint64_t new_len, const struct delta_xrun *runs, size_t nruns,
                              struct sdv_buf *out)
{
    struct dx_image im[2];
    struct dx_step *st = NULL;
    size_t nst = 0;
    uint64_t run_min = DX_RUN_MIN;
    int64_t prev_delta = 0;
    uint64_t prev_off = 0;
    enum sdv_err err;

    memset(im, 0, sizeof(im));
    err = dx_scan(&im[0], old, old_len);
    if (err == SDV_OK)
        err = dx_scan(&im[1], new_data, new_len);
    if (err != SDV_OK || im[0].nelf == 0 || im[1].nelf == 0)
        goto out;
    st = malloc((2 * nruns + 1) * sizeof(*st));
    if (st == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    for (;;) {
        nst = dx_steps(runs, nruns, run_min, st);
        if (nst == (size_t)-1) {
            err = SDV_ENOMEM;
            goto out;
        }
        if (nst <= DX_STEPS_MAX && dx_mem(&im[0], &im[1], nst) <= DELTA_EXEC_MEM_MAX)
            break;
        if (nst == 0 || run_min > old_len)
            goto out; /* even the ELF tables do not fit: no map */
        run_min *= 2;
    }
    if (nst == 0)
        goto out;
    err = sdv_buf_putc(out, (char)DELTA_EXEC_MAP_VERSION);
    for (unsigned i = 0; i < 2 && err == SDV_OK; i++)
        err = dx_put_image(out, &im[i]);
    if (err == SDV_OK)
        err = dx_put_varint(out, nst);
    for (size_t i = 0; i < nst && err == SDV_OK; i++) {
        err = dx_put_varint(out, st[i].old_off - prev_off);
        if (err == SDV_OK)
            err = dx_put_varint(out, delta_zigzag(st[i].delta - prev_delta));
        prev_off = st[i].old_off;
        prev_delta = st[i].delta;
    }
out:
    free(st);
    for (unsigned i = 0; i < 2; i++) {
        free(im[i].elf);
        free(im[i].seg);
    }
    return err;
}

/* ---- Parsing (decoder and encoder) ---- */

struct dx_reader {
    const uint8_t *p;
    size_t len, pos;
};

static int dx_get(struct dx_reader *r, uint64_t *v)
{
    return delta_varint_get(r->p, r->len, &r->pos, v);
}

static int dx_get_u8(struct dx_reader *r, uint8_t *v)
{
    if (r->pos >= r->len)
        return -1;
    *v = r->p[r->pos++];
    return 0;
}

/*
 * Reads one image's ELF list. With im->elf / im->seg NULL it only checks and counts (nelf,
 * nseg); with them allocated it fills them. Returns NULL or the reason it is malformed.
 */
static const char *dx_get_image(struct dx_reader *r, struct dx_image *im)
{
    uint64_t nelf, prev_end = 0;
    uint32_t nseg = 0;

    if (dx_get(r, &nelf) != 0)
        return "truncated ELF count";
    if (nelf > DX_ELFS_MAX)
        return "too many ELF images";
    for (uint64_t i = 0; i < nelf; i++) {
        uint64_t ns;
        uint8_t arch;
        struct dx_elf e;

        if (dx_get_u8(r, &arch) != 0 || dx_get(r, &ns) != 0)
            return "truncated ELF entry";
        if (arch != DELTA_EXEC_ARCH_X86_64 && arch != DELTA_EXEC_ARCH_AARCH64)
            return "unknown architecture";
        if (ns == 0 || ns > DX_ELF_SEGS_MAX || nseg + ns > DX_SEGS_MAX)
            return "bad segment count";
        e.seg0 = nseg;
        e.nseg = (uint32_t)ns;
        e.arch = arch;
        e.vmin = UINT64_MAX;
        e.vmax = 0;
        e.xmin = UINT64_MAX;
        e.xmax = 0;
        for (uint64_t k = 0; k < ns; k++) {
            uint64_t gap, filesz, vaddr, bss;
            uint8_t flags;

            if (dx_get(r, &gap) != 0 || dx_get(r, &filesz) != 0 || dx_get(r, &vaddr) != 0 ||
                dx_get(r, &bss) != 0 || dx_get_u8(r, &flags) != 0)
                return "truncated segment";
            if (flags > 1 || filesz == 0 || gap > im->len - prev_end ||
                filesz > im->len - prev_end - gap)
                return "segment outside the image";
            if (vaddr >= DX_VADDR_MAX || filesz >= DX_VADDR_MAX - vaddr ||
                bss >= DX_VADDR_MAX - vaddr - filesz)
                return "segment address out of range";
            if (im->seg != NULL) {
                struct dx_seg *s = &im->seg[nseg];

                s->off = prev_end + gap;
                s->filesz = filesz;
                s->vaddr = vaddr;
                s->memsz = filesz + bss;
                s->elf = (uint32_t)i;
                s->exec = flags;
                if (vaddr < e.vmin)
                    e.vmin = vaddr;
                if (vaddr + s->memsz > e.vmax)
                    e.vmax = vaddr + s->memsz;
            }
            if (im->seg != NULL && flags != 0) {
                if (vaddr < e.xmin)
                    e.xmin = vaddr;
                if (vaddr + filesz > e.xmax)
                    e.xmax = vaddr + filesz;
            }
            prev_end += gap + filesz;
            nseg++;
        }
        if (im->elf != NULL)
            im->elf[i] = e;
    }
    im->nelf = (uint32_t)nelf;
    im->nseg = nseg;
    return NULL;
}

static const char *dx_get_steps(struct dx_reader *r, uint64_t old_len, struct dx_step *st,
                                uint32_t *nst)
{
    uint64_t n, off = 0, delta = 0;

    if (dx_get(r, &n) != 0)
        return "truncated step count";
    if (n == 0 || n > DX_STEPS_MAX)
        return "bad step count";
    for (uint64_t i = 0; i < n; i++) {
        uint64_t gap, z;

        if (dx_get(r, &gap) != 0 || dx_get(r, &z) != 0)
            return "truncated step";
        if ((i > 0 && gap == 0) || gap >= old_len - off || (i == 0 && gap >= old_len))
            return "step outside the old image or out of order";
        off += gap;
        delta += (uint64_t)delta_unzigzag(z);
        if ((int64_t)delta > (int64_t)DX_VADDR_MAX || (int64_t)delta < -(int64_t)DX_VADDR_MAX)
            return "step offset out of range";
        if (st != NULL) {
            st[i].old_off = off;
            st[i].delta = (int64_t)delta;
        }
    }
    *nst = (uint32_t)n;
    return NULL;
}

/* One pass over the payload; fills m's arrays when they are allocated. */
static const char *dx_get_all(const uint8_t *p, size_t len, struct delta_xmap *m)
{
    struct dx_reader r = {p, len, 0};
    const char *why;
    uint8_t version;

    if (dx_get_u8(&r, &version) != 0 || version != DELTA_EXEC_MAP_VERSION)
        return "unknown reference map version";
    for (unsigned i = 0; i < 2; i++) {
        why = dx_get_image(&r, &m->img[i]);
        if (why != NULL)
            return why;
    }
    why = dx_get_steps(&r, m->img[0].len, m->step, &m->nstep);
    if (why != NULL)
        return why;
    if (r.pos != len)
        return "trailing bytes";
    return NULL;
}

/* Pages of the step index: at least 4 KiB each, at most DX_PAGES_MAX of them. */
static uint64_t dx_pages(uint64_t old_len, unsigned *shift)
{
    *shift = 12;
    while ((old_len >> *shift) >= DX_PAGES_MAX)
        (*shift)++;
    return (old_len >> *shift) + 1;
}

void delta_xmap_free(struct delta_xmap *m)
{
    if (m == NULL)
        return;
    for (unsigned i = 0; i < 2; i++) {
        free(m->img[i].elf);
        free(m->img[i].seg);
    }
    free(m->step);
    free(m->page);
    free(m);
}

enum sdv_err delta_xmap_parse(const uint8_t *p, size_t len, uint64_t old_len, uint64_t new_len,
                              size_t mem_max, struct delta_xmap **out, size_t *mem_out,
                              char *errmsg, size_t errmsg_len)
{
    struct delta_xmap *m;
    const char *why;
    size_t mem;

    *out = NULL;
    *mem_out = 0;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return SDV_ENOMEM;
    m->img[0].len = old_len;
    m->img[1].len = new_len;
    why = dx_get_all(p, len, m);
    if (why != NULL) {
        delta_xmap_free(m);
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "reference map: %s", why);
    }
    m->npage = (uint32_t)dx_pages(old_len, &m->pshift);
    mem = sizeof(*m) + m->nstep * sizeof(*m->step) + m->npage * sizeof(*m->page);
    for (unsigned i = 0; i < 2; i++)
        mem += m->img[i].nelf * sizeof(struct dx_elf) + m->img[i].nseg * sizeof(struct dx_seg);
    if (mem > mem_max) {
        delta_xmap_free(m);
        return delta_fail(errmsg, errmsg_len, SDV_ETOOBIG,
                          "reference map needs %zu bytes of memory, %zu left", mem, mem_max);
    }
    for (unsigned i = 0; i < 2; i++) {
        m->img[i].elf = malloc((m->img[i].nelf ? m->img[i].nelf : 1) * sizeof(struct dx_elf));
        m->img[i].seg = malloc((m->img[i].nseg ? m->img[i].nseg : 1) * sizeof(struct dx_seg));
        if (m->img[i].elf == NULL || m->img[i].seg == NULL)
            goto nomem;
    }
    m->step = malloc(m->nstep * sizeof(*m->step));
    m->page = malloc(m->npage * sizeof(*m->page));
    if (m->step == NULL || m->page == NULL)
        goto nomem;
    why = dx_get_all(p, len, m);
    if (why != NULL) { /* the first pass accepted the same bytes */
        delta_xmap_free(m);
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "reference map: %s", why);
    }
    for (uint32_t i = 0, k = 0; i < m->npage; i++) {
        while (k < m->nstep && m->step[k].old_off <= (uint64_t)i << m->pshift)
            k++;
        m->page[i] = k;
    }
    *out = m;
    *mem_out = mem;
    return SDV_OK;
nomem:
    delta_xmap_free(m);
    return SDV_ENOMEM;
}

enum sdv_err delta_exec_section_parse(struct delta_sections *ss, const struct sdv_delta_header *h,
                                      const uint8_t *raw, size_t len, char *errmsg,
                                      size_t errmsg_len)
{
    size_t mem;
    enum sdv_err err;

    if (ss->xmap != NULL)
        return delta_fail(errmsg, errmsg_len, SDV_EPARSE, "a second reference map");
    err = delta_xmap_parse(raw, len, h->old_virt_len, h->new_virt_len, DELTA_EXEC_MEM_MAX,
                           &ss->xmap, &mem, errmsg, errmsg_len);
    if (err == SDV_OK)
        ss->mem += mem;
    return err;
}

void delta_exec_sections_free(struct delta_sections *ss)
{
    delta_xmap_free(ss->xmap);
    ss->xmap = NULL;
}

void delta_xmap_info(const struct delta_xmap *m, struct delta_xmap_info *info)
{
    info->old_elfs = m->img[0].nelf;
    info->new_elfs = m->img[1].nelf;
    info->old_segs = m->img[0].nseg;
    info->new_segs = m->img[1].nseg;
    info->steps = m->nstep;
}

/* ---- Lookups ---- */

/* Index of the first segment ending after off (nseg if none). */
static uint32_t dx_seg_first(const struct dx_image *im, uint64_t off)
{
    uint32_t lo = 0, hi = im->nseg;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (im->seg[mid].off + im->seg[mid].filesz <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The segment holding file offset off, or NULL. */
static const struct dx_seg *dx_seg_at(const struct dx_image *im, uint64_t off)
{
    uint32_t i = dx_seg_first(im, off);

    return i < im->nseg && im->seg[i].off <= off ? &im->seg[i] : NULL;
}

int delta_xmap_touches(const struct delta_xmap *m, uint64_t c0, uint64_t n)
{
    const struct dx_image *im = &m->img[0];
    uint32_t i = dx_seg_first(im, c0);

    return i < im->nseg && im->seg[i].off < c0 + n;
}

/* Where old virtual address va of old ELF eo goes in new ELF en; -1 if it cannot be said. */
static int dx_target(const struct delta_xmap *m, uint32_t eo, uint64_t va, uint32_t en,
                     uint64_t *out)
{
    const struct dx_image *io = &m->img[0], *in = &m->img[1];
    const struct dx_elf *e = &io->elf[eo], *ne = &in->elf[en];
    const struct dx_seg *s = NULL, *ns;
    uint32_t k;

    for (k = 0; k < e->nseg; k++) {
        s = &io->seg[e->seg0 + k];
        if (va >= s->vaddr && va - s->vaddr < s->memsz)
            break;
    }
    if (k == e->nseg)
        return -1;
    if (va - s->vaddr < s->filesz) {
        uint64_t fo = s->off + (va - s->vaddr), fn;
        uint64_t pg = fo >> m->pshift;
        uint32_t lo, hi;

        /* The last step at or before fo: the steps after the page's start and up to the next
         * page's start are the only candidates besides the one before them. */
        if (pg >= m->npage)
            return -1;
        lo = m->page[pg];
        hi = pg + 1 < m->npage ? m->page[pg + 1] : m->nstep;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;

            if (m->step[mid].old_off <= fo)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == 0)
            return -1;
        fn = fo + (uint64_t)m->step[lo - 1].delta;
        if (fn >= in->len)
            return -1;
        ns = dx_seg_at(in, fn);
        if (ns == NULL || ns->elf != en)
            return -1;
        *out = ns->vaddr + (fn - ns->off);
        return 0;
    }
    /* .bss: at the same distance from the end of the file-backed part of the same segment. */
    if (k >= ne->nseg)
        return -1;
    ns = &in->seg[ne->seg0 + k];
    *out = ns->vaddr + ns->filesz + (va - s->vaddr - s->filesz);
    return 0;
}

/* ---- Prediction ---- */

/* The old bytes visible to the predictor; outside the window (never for a correct caller) or
 * the image they read as zero. */
struct dx_win {
    const uint8_t *p;
    uint64_t w0;
    size_t len;
};

static uint8_t dx_b(const struct dx_win *w, uint64_t i)
{
    return i >= w->w0 && i - w->w0 < w->len ? w->p[i - w->w0] : 0;
}

static uint32_t dx_w32(const struct dx_win *w, uint64_t i)
{
    if (i >= w->w0 && i - w->w0 <= w->len && w->len - (i - w->w0) >= 4) {
        const uint8_t *p = w->p + (i - w->w0);

        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    return (uint32_t)dx_b(w, i) | (uint32_t)dx_b(w, i + 1) << 8 | (uint32_t)dx_b(w, i + 2) << 16 |
           (uint32_t)dx_b(w, i + 3) << 24;
}

static uint64_t dx_w64(const struct dx_win *w, uint64_t i)
{
    return (uint64_t)dx_w32(w, i) | (uint64_t)dx_w32(w, i + 4) << 32;
}

/* Opcodes taking a ModRM operand and nothing after it (one-byte map), and those followed by an
 * 8-bit or 32-bit immediate; the two-byte (0F xx) ones with a ModRM operand. */
static int dx_x86_imm(uint8_t b3, uint8_t op, uint8_t modrm)
{
    uint8_t reg = (uint8_t)((modrm >> 3) & 7u);

    if (b3 == 0x0F) {
        switch (op) {
        case 0x10:
        case 0x11:
        case 0x12:
        case 0x13:
        case 0x16:
        case 0x17:
        case 0x18:
        case 0x1F:
        case 0x28:
        case 0x29:
        case 0x2A:
        case 0x2E:
        case 0x2F:
        case 0x51:
        case 0x54:
        case 0x55:
        case 0x56:
        case 0x57:
        case 0x58:
        case 0x59:
        case 0x5A:
        case 0x5C:
        case 0x5D:
        case 0x5E:
        case 0x5F:
        case 0x6E:
        case 0x6F:
        case 0x7E:
        case 0x7F:
        case 0xAF:
        case 0xB6:
        case 0xB7:
        case 0xBE:
        case 0xBF:
        case 0xD6:
        case 0xEF:
        case 0x40:
        case 0x41:
        case 0x42:
        case 0x43:
        case 0x44:
        case 0x45:
        case 0x46:
        case 0x47:
        case 0x48:
        case 0x49:
        case 0x4A:
        case 0x4B:
        case 0x4C:
        case 0x4D:
        case 0x4E:
        case 0x4F:
        case 0x90:
        case 0x91:
        case 0x92:
        case 0x93:
        case 0x94:
        case 0x95:
        case 0x96:
        case 0x97:
        case 0x98:
        case 0x99:
        case 0x9A:
        case 0x9B:
        case 0x9C:
        case 0x9D:
        case 0x9E:
        case 0x9F:
        case 0x14:
        case 0x15:
        case 0x2C:
        case 0x2D:
        case 0x5B:
        case 0x60:
        case 0x61:
        case 0x62:
        case 0x66:
        case 0x6C:
        case 0x6D:
        case 0x74:
        case 0x75:
        case 0x76:
        case 0xA3:
        case 0xAB:
        case 0xB0:
        case 0xB1:
        case 0xB3:
        case 0xBB:
        case 0xBC:
        case 0xBD:
        case 0xC1:
        case 0xD4:
        case 0xDB:
        case 0xDF:
        case 0xE6:
        case 0xE7:
        case 0xEB:
        case 0xFA:
        case 0xFB:
        case 0xFE:
        case 0xD3:
        case 0xF3:
        case 0xFC:
        case 0xF8:
        case 0xF4:
            return 0;
        case 0xBA:
        case 0x70:
            return 1;
        default:
            break;
        }
    }
    switch (op) {
    case 0x00:
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x08:
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x10:
    case 0x11:
    case 0x12:
    case 0x13:
    case 0x18:
    case 0x19:
    case 0x1A:
    case 0x1B:
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x28:
    case 0x29:
    case 0x2A:
    case 0x2B:
    case 0x30:
    case 0x31:
    case 0x32:
    case 0x33:
    case 0x38:
    case 0x39:
    case 0x3A:
    case 0x3B:
    case 0x63:
    case 0x84:
    case 0x85:
    case 0x86:
    case 0x87:
    case 0x88:
    case 0x89:
    case 0x8A:
    case 0x8B:
    case 0x8D:
    case 0xFF:
    case 0xFE:
    case 0xD9:
    case 0xDD:
        return 0;
    case 0x80:
    case 0x83:
    case 0xC6:
    case 0xC0:
    case 0xC1:
    case 0x6B:
        return 1;
    case 0x81:
    case 0xC7:
    case 0x69:
        return 4;
    case 0xF6:
        return reg < 2 ? 1 : 0;
    case 0xF7:
        return reg < 2 ? 4 : 0;
    default:
        return -1;
    }
}

/* Whether a 32-bit displacement relative to the end of its instruction starts at q; *imm gets
 * the immediate bytes between the field and that end. Reads only q-3..q-1. */
/* Bytes that may precede an x86-64 displacement field: E8, E9, the second byte of 0F 8x, a
 * RIP-relative ModRM byte (mod 00, r/m 101). */
/* clang-format off */
static const uint8_t dx_x86_before[256] = {
    0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, /* 10 */
    0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, /* 20 */
    0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, /* 30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* A0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* B0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* C0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* D0 */
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, /* E0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* F0 */
};
/* clang-format on */

static int dx_x86_maybe(uint8_t b)
{
    return dx_x86_before[b];
}

static int dx_x86_field(const struct dx_win *w, uint64_t q, int *imm)
{
    uint8_t b1 = q >= 1 ? dx_b(w, q - 1) : 0, b2, b3;

    *imm = 0;
    /* Most bytes are none of the three forms: decide on the byte before first. */
    if (!dx_x86_maybe(b1))
        return 0;
    b2 = q >= 2 ? dx_b(w, q - 2) : 0;
    b3 = q >= 3 ? dx_b(w, q - 3) : 0;
    if (q >= 1 && (b1 == 0xE8 || b1 == 0xE9))
        return 1;
    if (q >= 2 && b2 == 0x0F && (b1 & 0xF0) == 0x80)
        return 1;
    if (q >= 2 && (b1 & 0xC7) == 0x05) {
        *imm = dx_x86_imm(b3, b2, b1);
        return *imm >= 0;
    }
    return 0;
}

static int64_t dx_sext(uint64_t v, unsigned bits)
{
    uint64_t m = 1ull << (bits - 1);

    v &= (1ull << bits) - 1;
    return (int64_t)((v ^ m) - m);
}

static int dx_fits(int64_t v, unsigned bits)
{
    return v >= -(int64_t)(1ull << (bits - 1)) && v < (int64_t)(1ull << (bits - 1));
}

static void dx_put32(uint8_t *f, uint32_t v)
{
    f[0] = (uint8_t)v;
    f[1] = (uint8_t)(v >> 8);
    f[2] = (uint8_t)(v >> 16);
    f[3] = (uint8_t)(v >> 24);
}

/* Context of one reference: its old and new places. */
struct dx_ref {
    const struct delta_xmap *m;
    const struct dx_seg *s, *ns; /* old and new segments holding the field */
    uint64_t vq, vp;             /* virtual addresses of the field in OLD and NEW */
};

/* AArch64 instruction at q: predicts 4 or 8 bytes into f; returns the field width or 0. */
static unsigned dx_a64(const struct dx_ref *r, const struct dx_win *w, uint64_t q, int pair_ok,
                       uint8_t *f)
{
    uint32_t ins = dx_w32(w, q), eo = r->s->elf, en = r->ns->elf;
    uint64_t t, tn;
    int64_t d;
    unsigned bits, shift = 5;

    if ((ins & 0x7C000000u) == 0x14000000u) { /* B, BL */
        bits = 26;
        shift = 0;
    } else if ((ins & 0xFF000010u) == 0x54000000u || (ins & 0x7E000000u) == 0x34000000u ||
               (ins & 0x3B000000u) == 0x18000000u) { /* B.cond, CBZ/CBNZ, LDR literal */
        bits = 19;
    } else if ((ins & 0x7E000000u) == 0x36000000u) { /* TBZ/TBNZ */
        bits = 14;
    } else if ((ins & 0x1F000000u) == 0x10000000u) { /* ADR, ADRP */
        int64_t imm = dx_sext(((ins >> 5) & 0x7FFFFu) << 2 | ((ins >> 29) & 3u), 21);
        int page = (ins & 0x80000000u) != 0;
        uint32_t ins2 = 0, scale = 0, rd = ins & 31u;
        uint64_t lo = 0;

        if (!page) {
            t = r->vq + (uint64_t)imm;
            if (dx_target(r->m, eo, t, en, &tn) != 0)
                return 0;
            d = (int64_t)(tn - r->vp);
            if (!dx_fits(d, 21))
                return 0;
            ins = (ins & 0x9F00001Fu) | (uint32_t)(d & 3) << 29 |
                  (uint32_t)((d >> 2) & 0x7FFFF) << 5;
            dx_put32(f, ins);
            return 4;
        }
        t = (r->vq & ~0xFFFull) + (uint64_t)(imm * 4096);
        if (pair_ok) {
            ins2 = dx_w32(w, q + 4);
            if ((ins2 & 0xFFC00000u) == 0x91000000u && ((ins2 >> 5) & 31u) == rd) {
                scale = 1; /* ADD Xd, Xn, #imm12 */
            } else if ((ins2 & 0x3B000000u) == 0x39000000u && ((ins2 >> 5) & 31u) == rd) {
                /* LDR/STR (unsigned offset): scaled by the access size. */
                unsigned size = ins2 >> 30;

                scale = 1u << size;
                if ((ins2 & 0x04000000u) != 0 && size == 0 && (ins2 & 0x00800000u) != 0)
                    scale = 16;
            }
            if (scale != 0)
                lo = (uint64_t)((ins2 >> 10) & 0xFFFu) * scale;
        }
        if (dx_target(r->m, eo, t + lo, en, &tn) != 0)
            return 0;
        d = (int64_t)((tn >> 12) - (r->vp >> 12));
        if (!dx_fits(d, 21))
            return 0;
        ins = (ins & 0x9F00001Fu) | (uint32_t)(d & 3) << 29 | (uint32_t)((d >> 2) & 0x7FFFF) << 5;
        dx_put32(f, ins);
        if (scale == 0)
            return 4;
        if ((tn & 0xFFFu) % scale == 0)
            ins2 = (ins2 & ~(0xFFFu << 10)) | (uint32_t)(((tn & 0xFFFu) / scale) << 10);
        dx_put32(f + 4, ins2);
        return 8;
    } else {
        return 0;
    }
    t = r->vq + (uint64_t)(dx_sext(ins >> shift, bits) * 4);
    if (dx_target(r->m, eo, t, en, &tn) != 0 || ((tn - r->vp) & 3u) != 0)
        return 0;
    d = (int64_t)(tn - r->vp) / 4;
    if (!dx_fits(d, bits))
        return 0;
    ins = (ins & ~((uint32_t)((1ull << bits) - 1) << shift)) |
          (uint32_t)((uint64_t)d & ((1ull << bits) - 1)) << shift;
    dx_put32(f, ins);
    return 4;
}

/* Copies the predicted field f[0..width) at old offset q into out (old offsets [c0, c0 + n)). */
static void dx_emit(uint64_t q, const uint8_t *f, unsigned width, uint64_t c0, uint8_t *out,
                    size_t n)
{
    for (unsigned i = 0; i < width; i++)
        if (q + i >= c0 && q + i - c0 < n)
            out[q + i - c0] = f[i];
}

/* Whether v looks like a pointer into ELF e. */
static int dx_is_ptr(const struct dx_elf *e, uint64_t v)
{
    return v >= DX_PTR_MIN && v >= e->vmin && v < e->vmax;
}

/*
 * What the data word at old offset q (virtual address vq, segment s) is: 8 for an aligned
 * 64-bit pointer into its ELF; 4 for an aligned 32-bit offset from the field itself into the
 * ELF's code (.eh_frame's PC-relative addresses, jump tables relative to themselves), unless it
 * is the upper half of a pointer; 0 otherwise. Reads q-4 .. q+8 only.
 */
static unsigned dx_data_kind(const struct dx_image *io, const struct dx_seg *s,
                             const struct dx_win *w, uint64_t q, uint64_t vq, uint64_t lim)
{
    const struct dx_elf *e = &io->elf[s->elf];
    int64_t v;
    uint64_t t;

    if ((vq & 3u) != 0 || lim - q < 4)
        return 0;
    if ((vq & 7u) == 0 && lim - q >= 8 && dx_is_ptr(e, dx_w64(w, q)))
        return 8;
    if ((vq & 7u) == 4 && q - s->off >= 4 && dx_is_ptr(e, dx_w64(w, q - 4)))
        return 0;
    v = (int32_t)dx_w32(w, q);
    if (v > -(int64_t)DX_PTR_MIN && v < (int64_t)DX_PTR_MIN)
        return 0;
    t = vq + (uint64_t)v;
    if (t < e->xmin || t >= e->xmax)
        return 0;
    for (uint32_t k = 0; k < e->nseg; k++) {
        const struct dx_seg *c = &io->seg[e->seg0 + k];

        if (t >= c->vaddr && t - c->vaddr < c->filesz)
            return c->exec ? 4 : 0;
    }
    return 0;
}

void delta_xmap_predict(const struct delta_xmap *m, const uint8_t *win, uint64_t w0, size_t wlen,
                        uint64_t r0, uint64_t r1, uint64_t p0, uint64_t c0, uint8_t *out, size_t n)
{
    const struct dx_image *io = &m->img[0], *in = &m->img[1];
    const struct dx_win w = {win, w0, wlen};
    uint64_t qlo = c0 >= r0 + 7 ? c0 - 7 : r0, qhi = c0 + n < r1 ? c0 + n : r1;
    const struct dx_seg *ns_last = NULL; /* the new segment of the last field */

    for (uint32_t si = dx_seg_first(io, qlo); si < io->nseg && io->seg[si].off < qhi; si++) {
        const struct dx_seg *s = &io->seg[si];
        const struct dx_elf *e = &io->elf[s->elf];
        uint64_t a = s->off > qlo ? s->off : qlo, send = s->off + s->filesz;
        uint64_t b = send < qhi ? send : qhi;
        /* The last byte a field may cover: inside the run and the segment. */
        uint64_t lim = send < r1 ? send : r1;
        /* x86-64 code: every byte; AArch64 code and data: every 4th (virtual address % 4 = 0,
         * the only places these fields start). */
        unsigned stride = s->exec && e->arch == DELTA_EXEC_ARCH_X86_64 ? 1u : 4u;

        if (stride == 4)
            a += (4u - ((s->vaddr + (a - s->off)) & 3u)) & 3u;
        for (uint64_t q = a; q < b; q += stride) {
            if (stride == 1) {
                /* Skip to the next byte that may end an opcode, straight in the window. */
                while (q < b && q > w0 && q - w0 <= wlen && !dx_x86_maybe(win[q - 1 - w0]))
                    q++;
                if (q == b)
                    break;
            }
            struct dx_ref r;
            uint8_t f[8];
            unsigned width = 0;
            int imm = 0;
            unsigned data = 0;
            uint64_t p, t, tn;
            const struct dx_seg *ns;

            r.vq = s->vaddr + (q - s->off);
            if (s->exec && e->arch == DELTA_EXEC_ARCH_X86_64) {
                if (lim - q < 4 || !dx_x86_field(&w, q, &imm))
                    continue;
            } else if (s->exec) {
                if ((r.vq & 3u) != 0 || lim - q < 4)
                    continue;
            } else {
                data = dx_data_kind(io, s, &w, q, r.vq, lim);
                if (data == 0)
                    continue;
            }
            p = p0 + (q - r0);
            if (ns_last != NULL && p >= ns_last->off && p - ns_last->off < ns_last->filesz)
                ns = ns_last;
            else
                ns = ns_last = dx_seg_at(in, p);
            if (ns == NULL || ns->off + ns->filesz - p < 4)
                continue;
            r.m = m;
            r.s = s;
            r.ns = ns;
            r.vp = ns->vaddr + (p - ns->off);
            if (s->exec && e->arch == DELTA_EXEC_ARCH_X86_64) {
                int64_t d;

                t = r.vq + 4u + (uint64_t)imm + (uint64_t)(int64_t)(int32_t)dx_w32(&w, q);
                if (dx_target(m, s->elf, t, ns->elf, &tn) != 0)
                    continue;
                d = (int64_t)(tn - (r.vp + 4u + (uint64_t)imm));
                if (!dx_fits(d, 32))
                    continue;
                dx_put32(f, (uint32_t)d);
                width = 4;
            } else if (s->exec) {
                int pair_ok = lim - q >= 8 && ns->off + ns->filesz - p >= 8;

                width = dx_a64(&r, &w, q, pair_ok, f);
            } else if (data == 8) {
                if (ns->off + ns->filesz - p < 8 ||
                    dx_target(m, s->elf, dx_w64(&w, q), ns->elf, &tn) != 0)
                    continue;
                dx_put32(f, (uint32_t)tn);
                dx_put32(f + 4, (uint32_t)(tn >> 32));
                width = 8;
            } else {
                int64_t d;

                t = r.vq + (uint64_t)(int64_t)(int32_t)dx_w32(&w, q);
                if (dx_target(m, s->elf, t, ns->elf, &tn) != 0)
                    continue;
                d = (int64_t)(tn - r.vp);
                if (!dx_fits(d, 32))
                    continue;
                dx_put32(f, (uint32_t)d);
                width = 4;
            }
            if (width > 0)
                dx_emit(q, f, width, c0, out, n);
        }
    }
}
