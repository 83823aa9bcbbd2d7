/* Helpers shared by the lib/httpd and artifact tests: a thread-safe log capture, a monotonic
 * clock for request durations, libcurl calls with chunked or aborted uploads, temporary
 * directories. */
#ifndef HTTPD_TEST_UTIL_H
#define HTTPD_TEST_UTIL_H

#include <curl/curl.h>
#include <pthread.h>

#include <sdv/common.h>

/* Lines kept by a log capture; later ones are counted but dropped. */
#define TLOG_LINES_MAX 512
#define TLOG_LINE_LEN  512

struct tlog {
    pthread_mutex_t mu;
    char lines[TLOG_LINES_MAX][TLOG_LINE_LEN];
    size_t n;
};

void tlog_init(struct tlog *t);
/* An sdv_log_fn; ud is the struct tlog. */
void tlog_fn(void *ud, enum sdv_log_level level, const char *msg);
/* Number of captured lines containing every one of the NULL-terminated needles. */
size_t tlog_count(struct tlog *t, const char *const *needles);

/* CLOCK_MONOTONIC in milliseconds; an sdv_httpd_clock_fn. */
uint64_t test_clock_ms(void *ud);

struct http_resp {
    CURLcode rc;
    long status;
    long num_connects;
    struct sdv_buf body;  /* up to 16 MiB */
    struct sdv_buf heads; /* response header lines */
};

struct http_req {
    const char *method; /* "GET", "HEAD", "POST", ... */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const void *body;           /* request body for POST/PUT */
    size_t body_len;
    int chunked;     /* send the body with Transfer-Encoding: chunked */
    size_t piece;    /* bytes per read callback (0: 1000) */
    size_t abort_at; /* non-zero: abort the upload after this many bytes */
};

/* Performs req on c (which keeps its connection cache and TLS options). Returns 0 if curl
 * completed the transfer, -1 otherwise (out->rc tells why). Free out with http_resp_free. */
int http_do(CURL *c, const struct http_req *req, struct http_resp *out);
void http_resp_free(struct http_resp *r);
/* Value of a response header (case-insensitive name) into out, or NULL. */
const char *http_resp_header(const struct http_resp *r, const char *name, char *out,
                             size_t out_len);

/* mkdtemp under /tmp with the given tag; rm -r. */
void test_tmpdir(char *out, size_t out_len, const char *tag);
void test_rmdir(const char *dir);
/* Number of entries (not . or ..) in dir, -1 if it cannot be read. */
int test_dir_entries(const char *dir);

#endif
