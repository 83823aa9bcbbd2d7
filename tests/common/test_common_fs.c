/* Tests of file helpers against a fresh temporary directory per test. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/common.h>

struct fixture {
    char dir[256];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/sdv-test-fs-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

/* Removes the test directory tree (at most two levels deep, which is all the tests create). */
static void rm_tree(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];

    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            struct stat st;

            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && depth < 8)
                rm_tree(p, depth + 1);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    rm_tree(f->dir, 0);
    free(f);
    return 0;
}

/* Returns the number of entries in dir other than "." and "..", or -1. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void read_expect(const char *path, const char *expect)
{
    struct sdv_buf b;

    sdv_buf_init(&b, 1 << 20);
    assert_int_equal(sdv_fs_read(path, &b), SDV_OK);
    assert_int_equal(b.len, strlen(expect));
    assert_memory_equal(b.data, expect, b.len);
    sdv_buf_free(&b);
}

static void test_write_creates_and_replaces(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    char path[512];

    snprintf(path, sizeof(path), "%s/root.json", f->dir);
    assert_int_equal(sdv_fs_write_atomic(path, "first", 5, 0644), SDV_OK);
    read_expect(path, "first");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0600, 0600);
    assert_int_equal(sdv_fs_write_atomic(path, "second, longer", 14, 0644), SDV_OK);
    read_expect(path, "second, longer");
    assert_int_equal(sdv_fs_write_atomic(path, "", 0, 0644), SDV_OK);
    read_expect(path, "");
    /* No temporary file is left behind. */
    assert_int_equal(count_entries(f->dir), 1);
}

static void test_write_mode(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    char path[512];

    snprintf(path, sizeof(path), "%s/key", f->dir);
    assert_int_equal(sdv_fs_write_atomic(path, "k", 1, 0600), SDV_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_write_large(void **state)
{
    struct fixture *f = *state;
    size_t n = 3 * 1024 * 1024 + 7, i;
    uint8_t *data = malloc(n);
    struct sdv_buf b;
    char path[512];

    assert_non_null(data);
    for (i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    snprintf(path, sizeof(path), "%s/big", f->dir);
    assert_int_equal(sdv_fs_write_atomic(path, data, n, 0644), SDV_OK);
    sdv_buf_init(&b, n);
    assert_int_equal(sdv_fs_read(path, &b), SDV_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, data, n);
    sdv_buf_free(&b);
    free(data);
}

static void test_write_missing_dir_creates_nothing(void **state)
{
    struct fixture *f = *state;
    char path[512];

    snprintf(path, sizeof(path), "%s/missing/x.json", f->dir);
    assert_int_equal(sdv_fs_write_atomic(path, "x", 1, 0644), SDV_ENOENT);
    assert_int_equal(count_entries(f->dir), 0);
}

static void test_write_under_regular_file_fails_cleanly(void **state)
{
    struct fixture *f = *state;
    char file[512], path[600];

    snprintf(file, sizeof(file), "%s/file", f->dir);
    assert_int_equal(sdv_fs_write_atomic(file, "old", 3, 0644), SDV_OK);
    snprintf(path, sizeof(path), "%s/sub", file);
    assert_int_not_equal(sdv_fs_write_atomic(path, "new", 3, 0644), SDV_OK);
    assert_int_equal(count_entries(f->dir), 1);
    read_expect(file, "old");
}

static void test_write_over_directory_keeps_it(void **state)
{
    struct fixture *f = *state;
    char sub[512], inner[600];

    /* rename() cannot replace a non-empty directory: the write fails, the temp file goes. */
    snprintf(sub, sizeof(sub), "%s/d", f->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(inner, sizeof(inner), "%s/keep", sub);
    assert_int_equal(sdv_fs_write_atomic(inner, "old", 3, 0644), SDV_OK);
    assert_int_not_equal(sdv_fs_write_atomic(sub, "new", 3, 0644), SDV_OK);
    assert_int_equal(count_entries(f->dir), 1);
    read_expect(inner, "old");
}

static void test_write_bad_args(void **state)
{
    (void)state;
    assert_int_equal(sdv_fs_write_atomic("", "x", 1, 0644), SDV_EINVAL);
    assert_int_equal(sdv_fs_write_atomic(NULL, "x", 1, 0644), SDV_EINVAL);
}

static void test_read_limits(void **state)
{
    struct fixture *f = *state;
    struct sdv_buf b;
    char path[512];

    snprintf(path, sizeof(path), "%s/ten", f->dir);
    assert_int_equal(sdv_fs_write_atomic(path, "0123456789", 10, 0644), SDV_OK);
    sdv_buf_init(&b, 9);
    assert_int_equal(sdv_fs_read(path, &b), SDV_ETOOBIG);
    assert_int_equal(b.len, 0);
    sdv_buf_free(&b);
    sdv_buf_init(&b, 10);
    assert_int_equal(sdv_fs_read(path, &b), SDV_OK);
    assert_string_equal((char *)b.data, "0123456789");
    /* A second read replaces the content rather than appending. */
    assert_int_equal(sdv_fs_read(path, &b), SDV_OK);
    assert_int_equal(b.len, 10);
    sdv_buf_free(&b);
}

/* pread_all reads exactly the bytes asked for at an offset, leaves the file offset alone, and
 * reports a file that ends first (a base image shorter than its patch says) as SDV_EIO. */
static void test_pread_all(void **state)
{
    struct fixture *f = *state;
    char path[512], got[8];
    int fd;

    snprintf(path, sizeof(path), "%s/ten", f->dir);
    assert_int_equal(sdv_fs_write_atomic(path, "0123456789", 10, 0644), SDV_OK);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(sdv_fs_pread_all(fd, got, 4, 3), SDV_OK);
    assert_memory_equal(got, "3456", 4);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    assert_int_equal(sdv_fs_pread_all(fd, got, 0, 10), SDV_OK);
    assert_int_equal(sdv_fs_pread_all(fd, got, 4, 8), SDV_EIO);
    close(fd);
    assert_int_equal(sdv_fs_pread_all(-1, got, 1, 0), SDV_EINVAL); /* EBADF, mapped */
}

/* Collects what sdv_fs_read_fd hands over; refuses once it holds stop_at bytes. */
struct collect {
    struct sdv_buf b;
    size_t chunks;
    size_t stop_at;
};

static enum sdv_err collect_sink(void *ud, const void *data, size_t len)
{
    struct collect *c = ud;

    c->chunks++;
    if (c->stop_at != 0 && c->b.len >= c->stop_at)
        return SDV_EDENIED;
    return sdv_buf_append(&c->b, data, len);
}

/* read_fd streams a file from its current offset in chunks of the scratch size, stops at the
 * first error of the sink and returns it; sink_fd writes what it is handed to a descriptor. */
static void test_read_fd(void **state)
{
    struct fixture *f = *state;
    struct collect c = {.stop_at = 0};
    char path[512], copy[512], scratch[4];
    struct sdv_buf b;
    int fd, out;

    snprintf(path, sizeof(path), "%s/ten", f->dir);
    snprintf(copy, sizeof(copy), "%s/copy", f->dir);
    assert_int_equal(sdv_fs_write_atomic(path, "0123456789", 10, 0644), SDV_OK);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(lseek(fd, 1, SEEK_SET), 1);
    sdv_buf_init(&c.b, 64);
    assert_int_equal(sdv_fs_read_fd(fd, scratch, sizeof(scratch), collect_sink, &c), SDV_OK);
    assert_int_equal(c.b.len, 9);
    assert_memory_equal(c.b.data, "123456789", 9);
    assert_int_equal(c.chunks, 3);
    /* A sink that refuses stops the reading, and its error comes back. */
    sdv_buf_reset(&c.b);
    c.chunks = 0;
    c.stop_at = 4;
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(sdv_fs_read_fd(fd, scratch, sizeof(scratch), collect_sink, &c), SDV_EDENIED);
    assert_int_equal(c.chunks, 2);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 8);
    sdv_buf_free(&c.b);
    /* Copying through sdv_fs_sink_fd. */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(out >= 0);
    assert_int_equal(sdv_fs_read_fd(fd, scratch, sizeof(scratch), sdv_fs_sink_fd, &out), SDV_OK);
    close(out);
    close(fd);
    sdv_buf_init(&b, 64);
    assert_int_equal(sdv_fs_read(copy, &b), SDV_OK);
    assert_string_equal((char *)b.data, "0123456789");
    sdv_buf_free(&b);
    assert_int_equal(sdv_fs_read_fd(-1, scratch, sizeof(scratch), collect_sink, &c), SDV_EINVAL);
}

/* last_line gives the last complete line of a log and cuts a torn one (a crash mid-write) off
 * the file; a line longer than the window is SDV_ETOOBIG and nothing is cut. */
static void test_last_line(void **state)
{
    struct fixture *f = *state;
    char path[512], buf[16];
    const char *line;
    size_t len;
    uint64_t size;
    struct stat st;
    int fd;

    snprintf(path, sizeof(path), "%s/log", f->dir);
    assert_int_equal(sdv_fs_write_atomic(path, "", 0, 0644), SDV_OK);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(sdv_fs_last_line(fd, buf, sizeof(buf), &line, &len, &size), SDV_OK);
    assert_null(line);
    assert_int_equal(size, 0);
    assert_int_equal(sdv_fs_write_all(fd, "one\ntwo\nthr", 11), SDV_OK);
    assert_int_equal(sdv_fs_last_line(fd, buf, sizeof(buf), &line, &len, &size), SDV_OK);
    assert_non_null(line);
    assert_int_equal(len, 3);
    assert_memory_equal(line, "two\n", 4);
    assert_int_equal(size, 8);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 8); /* "thr" is gone */
    /* Only a torn first line: the file becomes empty. */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, "torn", 4, 0), 4);
    assert_int_equal(sdv_fs_last_line(fd, buf, sizeof(buf), &line, &len, &size), SDV_OK);
    assert_null(line);
    assert_int_equal(size, 0);
    /* A last line that does not fit the window, torn or complete. */
    assert_int_equal(pwrite(fd, "a\n0123456789abcdefghij", 22, 0), 22);
    assert_int_equal(sdv_fs_last_line(fd, buf, sizeof(buf), &line, &len, &size), SDV_ETOOBIG);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 22);
    assert_int_equal(pwrite(fd, "\n", 1, 22), 1);
    assert_int_equal(sdv_fs_last_line(fd, buf, sizeof(buf), &line, &len, &size), SDV_ETOOBIG);
    close(fd);
}

static void test_read_missing(void **state)
{
    struct fixture *f = *state;
    struct sdv_buf b;
    char path[512];

    snprintf(path, sizeof(path), "%s/nope", f->dir);
    sdv_buf_init(&b, 100);
    assert_int_equal(sdv_fs_read(path, &b), SDV_ENOENT);
    sdv_buf_free(&b);
}

static void test_mkdir_p(void **state)
{
    struct fixture *f = *state;
    char path[512], file[512];
    struct stat st;

    snprintf(path, sizeof(path), "%s/a/b//c/", f->dir);
    assert_int_equal(sdv_fs_mkdir_p(path, 0755), SDV_OK);
    snprintf(path, sizeof(path), "%s/a/b/c", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    /* Existing is success. */
    assert_int_equal(sdv_fs_mkdir_p(path, 0755), SDV_OK);
    assert_int_equal(sdv_fs_mkdir_p(f->dir, 0755), SDV_OK);
    /* A regular file in the way is an error. */
    snprintf(file, sizeof(file), "%s/a/f", f->dir);
    assert_int_equal(sdv_fs_write_atomic(file, "x", 1, 0644), SDV_OK);
    assert_int_equal(sdv_fs_mkdir_p(file, 0755), SDV_EEXIST);
    snprintf(path, sizeof(path), "%s/a/f/g", f->dir);
    assert_int_not_equal(sdv_fs_mkdir_p(path, 0755), SDV_OK);
    assert_int_equal(sdv_fs_mkdir_p("", 0755), SDV_EINVAL);
}

static void test_remove(void **state)
{
    struct fixture *f = *state;
    char path[512];

    snprintf(path, sizeof(path), "%s/gone", f->dir);
    assert_int_equal(sdv_fs_write_atomic(path, "x", 1, 0644), SDV_OK);
    assert_int_equal(sdv_fs_remove(path), SDV_OK);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    /* Missing is success. */
    assert_int_equal(sdv_fs_remove(path), SDV_OK);
    assert_int_equal(count_entries(f->dir), 0);
}

static void test_path_join(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(sdv_path_join(out, sizeof(out), "a", "b"), SDV_OK);
    assert_string_equal(out, "a/b");
    assert_int_equal(sdv_path_join(out, sizeof(out), "a/", "b"), SDV_OK);
    assert_string_equal(out, "a/b");
    assert_int_equal(sdv_path_join(out, sizeof(out), "a//", "/b"), SDV_OK);
    assert_string_equal(out, "a/b");
    assert_int_equal(sdv_path_join(out, sizeof(out), "/", "etc"), SDV_OK);
    assert_string_equal(out, "/etc");
    /* Exactly fits: 7 + 1 + 7 + NUL = 16. */
    assert_int_equal(sdv_path_join(out, sizeof(out), "1234567", "abcdefg"), SDV_OK);
    assert_string_equal(out, "1234567/abcdefg");
    assert_int_equal(sdv_path_join(out, sizeof(out), "1234567", "abcdefgh"), SDV_ETOOBIG);
    assert_int_equal(sdv_path_join(out, 3, "abc", "d"), SDV_ETOOBIG);
    assert_int_equal(sdv_path_join(out, 0, "a", "b"), SDV_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_write_creates_and_replaces, setup, teardown),
            cmocka_unit_test_setup_teardown(test_write_mode, setup, teardown),
            cmocka_unit_test_setup_teardown(test_write_large, setup, teardown),
            cmocka_unit_test_setup_teardown(test_write_missing_dir_creates_nothing, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_write_under_regular_file_fails_cleanly, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_write_over_directory_keeps_it, setup, teardown),
            cmocka_unit_test(test_write_bad_args),
            cmocka_unit_test_setup_teardown(test_read_limits, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pread_all, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_fd, setup, teardown),
            cmocka_unit_test_setup_teardown(test_last_line, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_missing, setup, teardown),
            cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
            cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
            cmocka_unit_test(test_path_join),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
