/*
 * common_fs.c - whole-file reads, crash-safe replacement, directories and path joining.
 * errno is turned into enum sdv_err here, at the system-call edge, and nowhere else.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sdv/common.h>

/* Names tried before giving up on finding a free temporary name. Every attempt uses fresh
 * random bytes, so a clash even once means something else is creating files on purpose. */
#define FS_TMP_ATTEMPTS_MAX 16

/* Read granularity of sdv_fs_read; files of any size still go through the buffer's max. */
#define FS_READ_CHUNK 4096

/* Returns the length of the directory part of path ("a/b" -> 1, "/b" -> 1, "b" -> 0). */
static size_t dir_part_len(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return 0;
    if (slash == path)
        return 1;
    return (size_t)(slash - path);
}

enum sdv_err sdv_fs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc, saved;

    if (fd < 0)
        return sdv_err_from_errno(errno);
    rc = fsync(fd);
    saved = errno;
    close(fd);
    /* Some file systems cannot fsync a directory; they give EINVAL and need nothing more. */
    if (rc != 0 && saved != EINVAL)
        return sdv_err_from_errno(saved);
    return SDV_OK;
}

enum sdv_err sdv_fs_fsync_parent(const char *path)
{
    size_t dlen = dir_part_len(path);
    enum sdv_err err;
    char *dir;

    if (dlen == 0) {
        dir = strdup(".");
    } else {
        dir = malloc(dlen + 1);
        if (dir != NULL) {
            memcpy(dir, path, dlen);
            dir[dlen] = '\0';
        }
    }
    if (dir == NULL)
        return SDV_ENOMEM;
    err = sdv_fs_fsync_dir(dir);
    free(dir);
    return err;
}

enum sdv_err sdv_fs_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t n = len;

    assert(data != NULL || len == 0);
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return sdv_err_from_errno(errno);
        }
        if (w == 0)
            return SDV_EIO;
        p += w;
        n -= (size_t)w;
    }
    return SDV_OK;
}

enum sdv_err sdv_fs_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;

    assert(buf != NULL || len == 0);
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sdv_err_from_errno(errno);
        if (n == 0)
            return SDV_EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return SDV_OK;
}

enum sdv_err sdv_fs_read_fd(int fd, void *buf, size_t buf_len, sdv_sink_fn sink, void *ud)
{
    assert(buf != NULL && buf_len > 0 && sink != NULL);
    for (;;) {
        ssize_t n = read(fd, buf, buf_len);
        enum sdv_err err;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sdv_err_from_errno(errno);
        if (n == 0)
            return SDV_OK;
        err = sink(ud, buf, (size_t)n);
        if (err != SDV_OK)
            return err;
    }
}

enum sdv_err sdv_fs_sink_fd(void *ud, const void *data, size_t len)
{
    return sdv_fs_write_all(*(const int *)ud, data, len);
}

enum sdv_err sdv_fs_last_line(int fd, char *buf, size_t buf_len, const char **line,
                              size_t *line_len, uint64_t *size)
{
    struct stat st;
    size_t n, end, start;
    uint64_t base;
    enum sdv_err err;

    assert(buf != NULL && buf_len > 0);
    *line = NULL;
    *line_len = 0;
    if (fstat(fd, &st) != 0)
        return sdv_err_from_errno(errno);
    *size = (uint64_t)st.st_size;
    if (st.st_size == 0)
        return SDV_OK;
    n = (uint64_t)st.st_size < buf_len ? (size_t)st.st_size : buf_len;
    base = (uint64_t)st.st_size - n;
    err = sdv_fs_pread_all(fd, buf, n, base);
    if (err != SDV_OK)
        return err;
    end = n;
    if (buf[end - 1] != '\n') {
        while (end > 0 && buf[end - 1] != '\n')
            end--;
        if (end == 0 && base > 0)
            return SDV_ETOOBIG; /* the torn line alone fills the window */
        if (ftruncate(fd, (off_t)(base + end)) != 0 || fsync(fd) != 0)
            return sdv_err_from_errno(errno);
        *size = base + end;
        if (end == 0)
            return SDV_OK; /* only a torn first line: now empty */
    }
    start = end - 1;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    if (start == 0 && base > 0)
        return SDV_ETOOBIG; /* the line may begin before the window */
    *line = buf + start;
    *line_len = end - 1 - start;
    return SDV_OK;
}

/*
 * Creates a fresh temporary file next to path, named ".<base>.tmp.<16 hex digits>", with
 * O_EXCL so that it is never someone else's file. On success *tmp_out is malloc'd.
 */
static enum sdv_err create_temp(const char *path, unsigned mode, char **tmp_out, int *fd_out)
{
    const char *slash = strrchr(path, '/');
    size_t boff = slash != NULL ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + boff;
    size_t tlen = boff + 1 + strlen(base) + sizeof(".tmp.") - 1 + 16 + 1;
    uint64_t counter = (uint64_t)getpid() << 32;
    char *tmp;
    int attempt;

    if (*base == '\0')
        return SDV_EINVAL; /* path names a directory */
    tmp = malloc(tlen);
    if (tmp == NULL)
        return SDV_ENOMEM;
    for (attempt = 0; attempt < FS_TMP_ATTEMPTS_MAX; attempt++) {
        uint64_t rnd;
        int fd;

        /* Random bytes make names unpredictable; the pid and attempt number keep them unique
         * even when the kernel's generator is not ready yet. */
        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
            rnd = 0;
        rnd ^= counter + (uint64_t)attempt;
        snprintf(tmp, tlen, "%.*s.%s.tmp.%016llx", (int)boff, path, base, (unsigned long long)rnd);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
        if (fd >= 0) {
            *tmp_out = tmp;
            *fd_out = fd;
            return SDV_OK;
        }
        if (errno != EEXIST && errno != EINTR) {
            enum sdv_err err = sdv_err_from_errno(errno);

            free(tmp);
            return err;
        }
    }
    free(tmp);
    return SDV_EEXIST;
}

enum sdv_err sdv_fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    enum sdv_err err;
    char *tmp = NULL;
    int fd = -1;

    if (path == NULL || *path == '\0' || (data == NULL && len > 0))
        return SDV_EINVAL;
    err = create_temp(path, mode, &tmp, &fd);
    if (err != SDV_OK)
        return err;
    err = sdv_fs_write_all(fd, data, len);
    if (err != SDV_OK)
        goto fail;
    if (fsync(fd) != 0) {
        err = sdv_err_from_errno(errno);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        err = sdv_err_from_errno(errno);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        err = sdv_err_from_errno(errno);
        goto fail;
    }
    free(tmp);
    /* The new content is in place; the directory fsync makes the rename itself durable. */
    return sdv_fs_fsync_parent(path);

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return err;
}

enum sdv_err sdv_fs_read(const char *path, struct sdv_buf *out)
{
    enum sdv_err err = SDV_OK;
    uint8_t chunk[FS_READ_CHUNK];
    int fd;

    if (path == NULL || out == NULL)
        return SDV_EINVAL;
    sdv_buf_reset(out);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sdv_err_from_errno(errno);
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));

        if (r < 0) {
            if (errno == EINTR)
                continue;
            err = sdv_err_from_errno(errno);
            break;
        }
        if (r == 0)
            break;
        /* The buffer's max bounds the loop: a file that keeps growing ends in ETOOBIG. */
        err = sdv_buf_append(out, chunk, (size_t)r);
        if (err != SDV_OK)
            break;
    }
    close(fd);
    if (err != SDV_OK)
        sdv_buf_reset(out);
    return err;
}

enum sdv_err sdv_fs_mkdir_p(const char *path, unsigned mode)
{
    enum sdv_err err = SDV_OK;
    struct stat st;
    size_t n, i;
    char *p;

    if (path == NULL || *path == '\0')
        return SDV_EINVAL;
    n = strlen(path);
    p = malloc(n + 1);
    if (p == NULL)
        return SDV_ENOMEM;
    memcpy(p, path, n + 1);
    /* Visit every prefix that ends just before a '/', then the whole path. */
    for (i = 1; i <= n; i++) {
        if (i < n && p[i] != '/')
            continue;
        if (i < n && p[i - 1] == '/')
            continue; /* repeated slashes */
        p[i] = '\0';
        if (mkdir(p, (mode_t)mode) != 0) {
            int saved = errno;

            if (saved != EEXIST) {
                err = sdv_err_from_errno(saved);
                goto out;
            }
            if (stat(p, &st) != 0) {
                err = sdv_err_from_errno(errno);
                goto out;
            }
            if (!S_ISDIR(st.st_mode)) {
                err = SDV_EEXIST;
                goto out;
            }
        }
        if (i < n)
            p[i] = '/';
    }
out:
    free(p);
    return err;
}

enum sdv_err sdv_fs_remove(const char *path)
{
    if (path == NULL || *path == '\0')
        return SDV_EINVAL;
    if (unlink(path) != 0) {
        if (errno == ENOENT)
            return SDV_OK;
        return sdv_err_from_errno(errno);
    }
    return sdv_fs_fsync_parent(path);
}

enum sdv_err sdv_path_join(char *out, size_t out_len, const char *dir, const char *name)
{
    size_t dlen, nlen;

    if (out == NULL || dir == NULL || name == NULL || *dir == '\0')
        return SDV_EINVAL;
    dlen = strlen(dir);
    while (dlen > 0 && dir[dlen - 1] == '/')
        dlen--;
    while (*name == '/')
        name++;
    nlen = strlen(name);
    if (dlen >= out_len || nlen >= out_len - dlen - 1) {
        if (out_len > 0)
            out[0] = '\0';
        return SDV_ETOOBIG;
    }
    memmove(out, dir, dlen);
    out[dlen] = '/';
    memmove(out + dlen + 1, name, nlen);
    out[dlen + 1 + nlen] = '\0';
    return SDV_OK;
}
