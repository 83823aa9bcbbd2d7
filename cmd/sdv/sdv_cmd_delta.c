/*
 * sdv_cmd_delta.c - `sdv delta`: make, apply and inspect binary delta patches (lib/delta).
 *
 *   sdv delta diff [--level N] [--threads N] [--block-size N] [--codec zstd|xz|best] [-v]
 *                  OLD NEW PATCH
 *   sdv delta apply [--memory-limit BYTES] [--slot] [-v] OLD PATCH OUT
 *   sdv delta info PATCH
 *
 * diff writes PATCH atomically (temporary file, fsync, rename). apply refuses a wrong OLD before
 * writing anything and checks the new image's sha256 at the end; on any failure OUT never looks
 * complete: a regular OUT is written as OUT.part and renamed only after the check (OUT.part is
 * removed on failure), while a block device, character device or --slot file is written in place
 * with its first 4 KiB zeroed first and written last, after the check (docs/delta.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdv/common.h>
#include <sdv/delta.h>

#include "sdv_cmds.h"

/* Patch bytes read per feed. */
#define DELTA_CMD_READ_LEN (64u * 1024u)
/* In-place outputs keep this head zeroed until the new image is verified. */
#define DELTA_CMD_HEAD_LEN 4096u

static void delta_usage(FILE *f)
{
    fputs("usage: sdv delta diff [--level N] [--threads N] [--block-size BYTES]\n"
          "                      [--codec zstd|xz|best] [-v] OLD NEW PATCH\n"
          "       sdv delta apply [--memory-limit BYTES] [--slot] [-v] OLD PATCH OUT\n"
          "       sdv delta info PATCH\n"
          "  diff   writes a patch turning OLD into NEW (atomically)\n"
          "  apply  checks OLD against the patch, writes NEW to OUT and checks its sha256;\n"
          "         a regular OUT appears only when complete (OUT.part meanwhile); a device or\n"
          "         --slot file is written in place, its first 4 KiB last (zero on failure)\n"
          "  info   prints the patch's header and stream sizes\n",
          f);
}

static int delta_fail_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "sdv delta: " and the message to stderr; returns the failure exit status. */
static int delta_fail_msg(const char *fmt, ...)
{
    va_list ap;

    fputs("sdv delta: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* Parses a byte count with an optional K, M or G (binary) suffix. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mult = 1;

    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end == 'k' || *end == 'K')
        mult = 1024u;
    else if (*end == 'm' || *end == 'M')
        mult = 1024u * 1024u;
    else if (*end == 'g' || *end == 'G')
        mult = 1024u * 1024u * 1024u;
    else if (*end != '\0')
        return -1;
    if (mult != 1 && end[1] != '\0' && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)
        return -1;
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

/* A read-only mapping of a whole file (NULL data for an empty file). */
struct delta_map {
    uint8_t *data;
    size_t len;
};

static int map_file(const char *path, struct delta_map *m)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    m->data = NULL;
    m->len = 0;
    if (fd < 0)
        return delta_fail_msg("cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return delta_fail_msg("%s: %s", path, "not a regular file");
    }
    m->len = (size_t)st.st_size;
    if (m->len > 0) {
        void *p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);

        if (p == MAP_FAILED) {
            close(fd);
            return delta_fail_msg("cannot map %s: %s", path, strerror(errno));
        }
        m->data = p;
    }
    close(fd);
    return 0;
}

static void unmap_file(struct delta_map *m)
{
    if (m->data != NULL)
        munmap(m->data, m->len);
    m->data = NULL;
}

static const char *const codec_names[3] = {"stored", "zstd", "xz"};
static const char *const stream_names[SDV_DELTA_STREAMS] = {"control", "diff", "extra"};

static int delta_diff(int argc, char **argv)
{
    struct sdv_delta_encode_opts opts;
    const char *pos[3];
    int npos = 0, verbose = 0, fd = -1, rc = 1;
    struct delta_map old_map = {0}, new_map = {0};
    char tmp[4096] = "";
    struct sdv_delta_stats st;
    enum sdv_err err;

    memset(&opts, 0, sizeof(opts));
    for (int i = 1; i < argc; i++) {
        uint64_t v;

        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else if (strcmp(argv[i], "--level") == 0 || strcmp(argv[i], "--threads") == 0 ||
                   strcmp(argv[i], "--block-size") == 0) {
            if (i + 1 >= argc || parse_size(argv[i + 1], &v) != 0 || v > UINT32_MAX)
                return delta_fail_msg("%s needs a number", argv[i]);
            if (argv[i][2] == 'l')
                opts.level = (int)v;
            else if (argv[i][2] == 't')
                opts.threads = (unsigned)v;
            else
                opts.block_len = (uint32_t)v;
            i++;
        } else if (strcmp(argv[i], "--codec") == 0) {
            if (i + 1 >= argc)
                return delta_fail_msg("%s needs a value", argv[i]);
            i++;
            if (strcmp(argv[i], "zstd") == 0)
                opts.codec = SDV_DELTA_CHOOSE_ZSTD;
            else if (strcmp(argv[i], "xz") == 0)
                opts.codec = SDV_DELTA_CHOOSE_XZ;
            else if (strcmp(argv[i], "best") == 0)
                opts.codec = SDV_DELTA_CHOOSE_BEST;
            else
                return delta_fail_msg("unknown codec %s", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            delta_usage(stderr);
            return delta_fail_msg("unknown option %s", argv[i]);
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            delta_usage(stderr);
            return delta_fail_msg("unexpected argument %s", argv[i]);
        }
    }
    if (npos != 3) {
        delta_usage(stderr);
        return 1;
    }
    if (opts.level != 0 && (opts.level < 1 || opts.level > 22))
        return delta_fail_msg("--level must be 1..22");
    if (opts.threads > SDV_DELTA_THREADS_MAX)
        return delta_fail_msg("--threads is at most 64");
    if (opts.block_len != 0 &&
        (opts.block_len < SDV_DELTA_BLOCK_LEN_MIN || opts.block_len > SDV_DELTA_BLOCK_LEN_MAX))
        return delta_fail_msg("--block-size must be 256..4194304");
    if (map_file(pos[0], &old_map) != 0 || map_file(pos[1], &new_map) != 0)
        goto out;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", pos[2]) >= (int)sizeof(tmp)) {
        tmp[0] = '\0';
        delta_fail_msg("path too long: %s", pos[2]);
        goto out;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        tmp[0] = '\0';
        delta_fail_msg("cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    err = sdv_delta_encode(old_map.data, old_map.len, new_map.data, new_map.len, &opts,
                           sdv_fs_sink_fd, &fd, &st);
    if (err != SDV_OK) {
        delta_fail_msg("diff failed: %s%s", sdv_strerror(err),
                       err == SDV_ETOOBIG ? " (OLD must be below 2 GiB)" : "");
        goto out;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        delta_fail_msg("cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, pos[2]) != 0) {
        delta_fail_msg("cannot rename to %s: %s", pos[2], strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    (void)sdv_fs_fsync_parent(pos[2]);
    if (verbose) {
        fprintf(stderr,
                "sdv delta: %" PRIu64 " patch bytes, %" PRIu64 " blocks, %" PRIu64
                " tuples, %" PRIu64 " of %zu new bytes copied from old\n",
                st.patch_len, st.blocks, st.tuples, st.copied_len, new_map.len);
        for (unsigned i = 0; i < SDV_DELTA_STREAMS; i++)
            fprintf(stderr, "sdv delta:   %-7s raw %" PRIu64 " compressed %" PRIu64 "\n",
                    stream_names[i], st.raw_len[i], st.comp_len[i]);
        fprintf(stderr,
                "sdv delta: compressed regions: %" PRIu64 " old decompressed, %" PRIu64
                " new recompressed on the device (%" PRIu64 " bytes), %" PRIu64
                " changed new streams left as bytes\n",
                st.old_regions, st.new_regions, st.new_regions_len, st.regions_kept_raw);
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp[0] != '\0')
        (void)unlink(tmp);
    unmap_file(&old_map);
    unmap_file(&new_map);
    return rc;
}

static enum sdv_err old_read(void *ud, uint64_t off, void *buf, size_t len)
{
    return sdv_fs_pread_all(*(int *)ud, buf, len, off);
}

/* Where apply writes the new image. */
struct delta_out {
    const char *path;
    char part[4096]; /* OUT.part in file mode */
    int in_place;    /* device or --slot: written where it is */
    int created;     /* OUT.part exists (file mode) */
    int fd;
    uint64_t off;
    uint8_t head[DELTA_CMD_HEAD_LEN];
    size_t head_len; /* bytes of the new image kept back until verified */
    const struct sdv_delta_decoder *dec;
};

static enum sdv_err out_open(struct delta_out *o)
{
    const struct sdv_delta_header *h = sdv_delta_decoder_header(o->dec);
    uint8_t zero[DELTA_CMD_HEAD_LEN];

    if (o->in_place) {
        o->fd = open(o->path, O_WRONLY | O_CLOEXEC);
        if (o->fd < 0)
            return sdv_err_from_errno(errno);
        /* The failed-state marker: a zero head until the whole image has been verified. */
        o->head_len = h->new_len < DELTA_CMD_HEAD_LEN ? (size_t)h->new_len : DELTA_CMD_HEAD_LEN;
        memset(zero, 0, sizeof(zero));
        if (pwrite(o->fd, zero, o->head_len, 0) != (ssize_t)o->head_len || fdatasync(o->fd) != 0)
            return sdv_err_from_errno(errno);
        return SDV_OK;
    }
    o->fd = open(o->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0)
        return sdv_err_from_errno(errno);
    o->created = 1;
    return SDV_OK;
}

static enum sdv_err out_write(void *ud, const void *data, size_t len)
{
    struct delta_out *o = ud;
    const uint8_t *p = data;
    enum sdv_err err;

    if (o->fd < 0 && (err = out_open(o)) != SDV_OK)
        return err;
    if (o->off < o->head_len) {
        size_t n = o->head_len - (size_t)o->off;

        n = n < len ? n : len;
        memcpy(o->head + o->off, p, n);
        p += n;
        len -= n;
        o->off += n;
    }
    while (len > 0) {
        ssize_t n = pwrite(o->fd, p, len, (off_t)o->off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? sdv_err_from_errno(errno) : SDV_EIO;
        p += n;
        len -= (size_t)n;
        o->off += (uint64_t)n;
    }
    return SDV_OK;
}

/* Makes a verified output final. */
static int out_commit(struct delta_out *o)
{
    if (o->fd < 0 && out_open(o) != SDV_OK) /* an empty new image writes nothing */
        return delta_fail_msg("cannot open %s: %s", o->in_place ? o->path : o->part,
                              strerror(errno));
    if (o->head_len > 0 && pwrite(o->fd, o->head, o->head_len, 0) != (ssize_t)o->head_len)
        return delta_fail_msg("cannot write %s: %s", o->path, strerror(errno));
    if (fsync(o->fd) != 0)
        return delta_fail_msg("cannot sync %s: %s", o->path, strerror(errno));
    close(o->fd);
    o->fd = -1;
    if (!o->in_place) {
        if (rename(o->part, o->path) != 0)
            return delta_fail_msg("cannot rename to %s: %s", o->path, strerror(errno));
        (void)sdv_fs_fsync_parent(o->path);
    }
    return 0;
}

static int delta_apply(int argc, char **argv)
{
    const char *pos[3];
    int npos = 0, verbose = 0, slot = 0, old_fd = -1, patch_fd = -1, rc = 1;
    struct sdv_delta_decoder_limits lim;
    struct sdv_delta_decoder *dec = NULL;
    struct delta_out out;
    struct stat st_old, st_out;
    uint8_t *buf = NULL;
    uint64_t v;
    enum sdv_err err = SDV_OK;

    memset(&lim, 0, sizeof(lim));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else if (strcmp(argv[i], "--slot") == 0) {
            slot = 1;
        } else if (strcmp(argv[i], "--memory-limit") == 0) {
            if (i + 1 >= argc || parse_size(argv[i + 1], &v) != 0 || v == 0 || v > SIZE_MAX)
                return delta_fail_msg("%s needs a byte count", argv[i]);
            lim.memory_max = (size_t)v;
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            delta_usage(stderr);
            return delta_fail_msg("unknown option %s", argv[i]);
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            delta_usage(stderr);
            return delta_fail_msg("unexpected argument %s", argv[i]);
        }
    }
    if (npos != 3) {
        delta_usage(stderr);
        return 1;
    }
    memset(&out, 0, sizeof(out));
    out.fd = -1;
    out.path = pos[2];
    if (snprintf(out.part, sizeof(out.part), "%s.part", pos[2]) >= (int)sizeof(out.part))
        return delta_fail_msg("path too long: %s", pos[2]);
    old_fd = open(pos[0], O_RDONLY | O_CLOEXEC);
    if (old_fd < 0 || fstat(old_fd, &st_old) != 0) {
        delta_fail_msg("cannot open %s: %s", pos[0], strerror(errno));
        goto out;
    }
    if (stat(pos[2], &st_out) == 0) {
        if (st_out.st_dev == st_old.st_dev && st_out.st_ino == st_old.st_ino) {
            delta_fail_msg("OUT %s is OLD %s: in-place patching is not supported", pos[2], pos[0]);
            goto out;
        }
        out.in_place = slot || S_ISBLK(st_out.st_mode) || S_ISCHR(st_out.st_mode);
    } else if (slot) {
        delta_fail_msg("--slot: %s: %s", pos[2], strerror(errno));
        goto out;
    }
    patch_fd = open(pos[1], O_RDONLY | O_CLOEXEC);
    if (patch_fd < 0) {
        delta_fail_msg("cannot open %s: %s", pos[1], strerror(errno));
        goto out;
    }
    buf = malloc(DELTA_CMD_READ_LEN);
    if (buf == NULL) {
        delta_fail_msg("out of memory");
        goto out;
    }
    err = sdv_delta_decoder_create(old_read, &old_fd, out_write, &out, &lim, &dec);
    if (err != SDV_OK) {
        delta_fail_msg("cannot create the decoder: %s", sdv_strerror(err));
        goto out;
    }
    out.dec = dec;
    for (;;) {
        ssize_t n = read(patch_fd, buf, DELTA_CMD_READ_LEN);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            delta_fail_msg("cannot read %s: %s", pos[1], strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        err = sdv_delta_decoder_feed(dec, buf, (size_t)n);
        if (err != SDV_OK)
            break;
    }
    if (err == SDV_OK)
        err = sdv_delta_decoder_finish(dec);
    if (err != SDV_OK) {
        delta_fail_msg("apply failed: %s (%s)", sdv_delta_decoder_errmsg(dec), sdv_strerror(err));
        goto out;
    }
    if (out_commit(&out) != 0)
        goto out;
    if (verbose)
        fprintf(stderr,
                "sdv delta: %" PRIu64 " bytes written, peak decoder working memory %zu bytes\n",
                sdv_delta_decoder_new_off(dec), sdv_delta_decoder_memory_peak(dec));
    rc = 0;
out:
    if (rc != 0 && verbose && dec != NULL)
        fprintf(stderr, "sdv delta: peak decoder working memory %zu bytes\n",
                sdv_delta_decoder_memory_peak(dec));
    if (out.fd >= 0)
        close(out.fd);
    if (rc != 0 && out.created)
        (void)unlink(out.part);
    if (rc != 0 && out.in_place && out.head_len > 0)
        fprintf(stderr, "sdv delta: %s is incomplete: its first %zu bytes are left zero\n",
                out.path, out.head_len);
    sdv_delta_decoder_destroy(dec);
    free(buf);
    if (old_fd >= 0)
        close(old_fd);
    if (patch_fd >= 0)
        close(patch_fd);
    return rc;
}

static enum sdv_err patch_read(void *ud, uint64_t off, void *buf, size_t len)
{
    return sdv_fs_pread_all(*(int *)ud, buf, len, off);
}

static int delta_info(int argc, char **argv)
{
    struct sdv_delta_header h;
    struct sdv_delta_stats st;
    struct stat sb;
    char errmsg[256] = "", hex[65];
    int fd;
    enum sdv_err err;

    if (argc != 2 || argv[1][0] == '-') {
        delta_usage(stderr);
        return 1;
    }
    fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        return delta_fail_msg("cannot open %s: %s", argv[1], strerror(errno));
    }
    err = sdv_delta_info(patch_read, &fd, (uint64_t)sb.st_size, &h, &st, errmsg, sizeof(errmsg));
    close(fd);
    if (err != SDV_OK)
        return delta_fail_msg("%s: %s", argv[1], errmsg[0] != '\0' ? errmsg : sdv_strerror(err));
    printf("format_version: %u\n", (unsigned)h.version);
    printf("old_size: %" PRIu64 "\n", h.old_len);
    sdv_hex_encode(h.old_sha256, sizeof(h.old_sha256), hex);
    printf("old_sha256: %s\n", hex);
    printf("new_size: %" PRIu64 "\n", h.new_len);
    sdv_hex_encode(h.new_sha256, sizeof(h.new_sha256), hex);
    printf("new_sha256: %s\n", hex);
    printf("flags: 0x%x\n", (unsigned)h.flags);
    printf("block_size_max: %u\n", (unsigned)h.block_len_max);
    printf("control_size_max: %u\n", (unsigned)h.ctrl_len_max);
    printf("window_log: %u\n", (unsigned)h.window_log);
    printf("old_virtual_size: %" PRIu64 "\n", h.old_virt_len);
    printf("new_virtual_size: %" PRIu64 "\n", h.new_virt_len);
    printf("sections: %" PRIu64 "\n", st.sections);
    printf("sections_size: %" PRIu64 "\n", st.sections_comp_len);
    printf("old_regions: %" PRIu64 "\n", st.old_regions);
    printf("new_regions: %" PRIu64 "\n", st.new_regions);
    printf("new_regions_compressed_size: %" PRIu64 "\n", st.new_regions_len);
    printf("region_old_size_max: %u\n", (unsigned)h.region_old_len_max);
    printf("region_new_size_max: %u\n", (unsigned)h.region_new_len_max);
    if (st.codec_versions[0] != '\0')
        printf("region_libraries: %s\n", st.codec_versions);
    printf("patch_size: %" PRIu64 "\n", st.patch_len);
    printf("blocks: %" PRIu64 "\n", st.blocks);
    for (unsigned i = 0; i < SDV_DELTA_STREAMS; i++) {
        printf("stream_%s_raw: %" PRIu64 "\n", stream_names[i], st.raw_len[i]);
        printf("stream_%s_compressed: %" PRIu64 "\n", stream_names[i], st.comp_len[i]);
    }
    for (unsigned i = 0; i < 3; i++)
        printf("streams_%s: %" PRIu64 "\n", codec_names[i], st.codec_count[i]);
    return 0;
}

int sdv_cmd_delta(int argc, char **argv)
{
    if (argc < 2) {
        delta_usage(stderr);
        return 1;
    }
    if (strcmp(argv[1], "diff") == 0)
        return delta_diff(argc - 1, argv + 1);
    if (strcmp(argv[1], "apply") == 0)
        return delta_apply(argc - 1, argv + 1);
    if (strcmp(argv[1], "info") == 0)
        return delta_info(argc - 1, argv + 1);
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        delta_usage(stdout);
        return 0;
    }
    delta_usage(stderr);
    return delta_fail_msg("unknown delta command \"%s\"", argv[1]);
}
