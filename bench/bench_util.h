/*
 * bench_util.h - small helpers shared by the benchmarks in bench/: a monotonic clock, medians,
 * temporary directories and whole-file reads. Benchmarks are programs, not library code: they
 * may print, read the clock and call exit.
 */
#ifndef SDV_BENCH_UTIL_H
#define SDV_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Seconds on the monotonic clock (an arbitrary origin; only differences mean anything). */
double bench_now_s(void);

/* Median of v[0..n) (n >= 1); the mean of the two middle values when n is even. v is not
 * modified. */
double bench_median(const double *v, size_t n);

/* Creates a fresh directory "$TMPDIR/<prefix>XXXXXX" (TMPDIR defaults to /tmp) and writes its
 * absolute path into out (out_len bytes). Returns 0 on success, -1 with errno set otherwise. */
int bench_mkdtemp(const char *prefix, char *out, size_t out_len);

/* Removes path and everything below it without following symbolic links. A missing path is
 * success. Returns 0 on success, -1 if anything could not be removed. */
int bench_rm_tree(const char *path);

/* Reads a whole file into a malloc'ed buffer (NUL-terminated; caller frees). Returns NULL on any
 * error (errno set). */
uint8_t *bench_read_file(const char *path, size_t *len_out);

/* Formats n with thousands separators ("100,000") into out (out_len bytes); returns out. */
const char *bench_fmt_count(uint64_t n, char *out, size_t out_len);

#endif /* SDV_BENCH_UTIL_H */
