/*
 * bench_util.c - clock, medians, temporary directories and file reads for the benchmarks.
 */
#include "bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double bench_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double bench_median(const double *v, size_t n)
{
    double *s, m;

    if (n == 0)
        return 0.0;
    s = malloc(n * sizeof(*s));
    if (s == NULL)
        return v[0];
    memcpy(s, v, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_double);
    m = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
    free(s);
    return m;
}

int bench_mkdtemp(const char *prefix, char *out, size_t out_len)
{
    const char *tmp = getenv("TMPDIR");
    char templ[4096], *made;
    int n;

    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    n = snprintf(templ, sizeof(templ), "%s/%sXXXXXX", tmp, prefix);
    if (n < 0 || (size_t)n >= sizeof(templ)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    made = mkdtemp(templ);
    if (made == NULL)
        return -1;
    /* Absolute, so that it can be turned into a file:// URL. */
    if (realpath(made, out) == NULL) {
        return -1;
    }
    if (strlen(out) >= out_len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/*
 * Iterative depth-first removal: a stack of directory paths. A directory is emptied of files and
 * its subdirectories are pushed above it; it is removed when a later visit finds no
 * subdirectory left. Deep trees never recurse on the C stack.
 */
int bench_rm_tree(const char *path)
{
    char **stack = NULL;
    size_t depth = 0, cap = 0;
    int rc = 0;
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    cap = 64;
    stack = malloc(cap * sizeof(*stack));
    if (stack == NULL)
        return -1;
    stack[depth] = strdup(path);
    if (stack[depth] == NULL) {
        free(stack);
        return -1;
    }
    depth++;
    while (depth > 0) {
        char *dir = stack[depth - 1];
        DIR *d = opendir(dir);
        struct dirent *de;
        int pushed = 0;

        if (d == NULL) {
            rc = -1;
            break;
        }
        while (rc == 0 && (de = readdir(d)) != NULL) {
            char child[4096];

            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if (snprintf(child, sizeof(child), "%s/%s", dir, de->d_name) >= (int)sizeof(child) ||
                lstat(child, &st) != 0) {
                rc = -1;
                break;
            }
            if (!S_ISDIR(st.st_mode)) {
                if (unlink(child) != 0)
                    rc = -1;
                continue;
            }
            if (depth == cap) {
                char **grown = realloc(stack, 2 * cap * sizeof(*stack));

                if (grown == NULL) {
                    rc = -1;
                    break;
                }
                stack = grown;
                cap *= 2;
            }
            stack[depth] = strdup(child);
            if (stack[depth] == NULL) {
                rc = -1;
                break;
            }
            depth++;
            pushed = 1;
        }
        closedir(d);
        /* Any failure stops the walk: retrying would find the same entry again. */
        if (rc != 0)
            break;
        if (!pushed) {
            /* Empty now: nothing was pushed above it, so it is on top of the stack. */
            if (rmdir(dir) != 0)
                rc = -1;
            free(dir);
            depth--;
            if (rc != 0)
                break;
        }
    }
    while (depth > 0)
        free(stack[--depth]);
    free(stack);
    return rc;
}

uint8_t *bench_read_file(const char *path, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        close(fd);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return NULL;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            close(fd);
            if (n == 0)
                errno = EIO;
            return NULL;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *len_out = got;
    return buf;
}

const char *bench_fmt_count(uint64_t n, char *out, size_t out_len)
{
    char digits[32];
    size_t len, j = 0;

    snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
    len = strlen(digits);
    for (size_t i = 0; i < len && j + 1 < out_len; i++) {
        if (i > 0 && (len - i) % 3 == 0) {
            out[j++] = ',';
            if (j + 1 >= out_len)
                break;
        }
        out[j++] = digits[i];
    }
    if (out_len > 0)
        out[j] = '\0';
    return out;
}
