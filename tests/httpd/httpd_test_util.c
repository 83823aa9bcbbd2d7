/* Helpers shared by the lib/httpd and artifact tests (see httpd_test_util.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "httpd_test_util.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void tlog_init(struct tlog *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
}

void tlog_fn(void *ud, enum sdv_log_level level, const char *msg)
{
    struct tlog *t = ud;

    (void)level;
    pthread_mutex_lock(&t->mu);
    if (t->n < TLOG_LINES_MAX)
        snprintf(t->lines[t->n++], TLOG_LINE_LEN, "%s", msg);
    pthread_mutex_unlock(&t->mu);
    if (getenv("HTTPD_TEST_VERBOSE") != NULL)
        fprintf(stderr, "log %llu: %s\n", (unsigned long long)test_clock_ms(NULL), msg);
}

size_t tlog_count(struct tlog *t, const char *const *needles)
{
    size_t i, j, n = 0;

    pthread_mutex_lock(&t->mu);
    for (i = 0; i < t->n; i++) {
        int all = 1;

        for (j = 0; needles[j] != NULL && all; j++)
            all = strstr(t->lines[i], needles[j]) != NULL;
        n += all;
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

uint64_t test_clock_ms(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct upload {
    const struct http_req *req;
    size_t pos;
};

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct upload *u = ud;
    size_t want = size * nmemb, piece = u->req->piece != 0 ? u->req->piece : 1000;
    size_t left = u->req->body_len - u->pos;

    if (u->req->abort_at != 0 && u->pos >= u->req->abort_at)
        return CURL_READFUNC_ABORT;
    if (want > piece)
        want = piece;
    if (want > left)
        want = left;
    memcpy(buf, (const char *)u->req->body + u->pos, want);
    u->pos += want;
    return want;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct sdv_buf *b = ud;

    return sdv_buf_append(b, data, size * nmemb) == SDV_OK ? size * nmemb : 0;
}

static size_t on_head(char *data, size_t size, size_t nmemb, void *ud)
{
    struct sdv_buf *b = ud;

    /* A new status line (after a 100 Continue) starts the header block afresh. */
    if (size * nmemb >= 5 && strncmp(data, "HTTP/", 5) == 0)
        sdv_buf_reset(b);
    return sdv_buf_append(b, data, size * nmemb) == SDV_OK ? size * nmemb : 0;
}

int http_do(CURL *c, const struct http_req *req, struct http_resp *out)
{
    struct curl_slist *hl = NULL;
    struct upload up = {req, 0};
    size_t i;

    memset(out, 0, sizeof(*out));
    sdv_buf_init(&out->body, 16u * 1024u * 1024u);
    sdv_buf_init(&out->heads, 64u * 1024u);
    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
        hl = curl_slist_append(hl, req->headers[i]);
    if (req->chunked)
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->heads);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         req->chunked ? (curl_off_t)-1 : (curl_off_t)req->body_len);
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    out->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &out->num_connects);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    curl_slist_free_all(hl);
    return out->rc == CURLE_OK ? 0 : -1;
}

void http_resp_free(struct http_resp *r)
{
    sdv_buf_free(&r->body);
    sdv_buf_free(&r->heads);
}

const char *http_resp_header(const struct http_resp *r, const char *name, char *out, size_t out_len)
{
    const char *p = (const char *)r->heads.data;
    size_t nlen = strlen(name);

    while (p != NULL && *p != '\0') {
        const char *eol = strstr(p, "\r\n");
        size_t llen = eol != NULL ? (size_t)(eol - p) : strlen(p);

        if (llen > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            size_t vlen;

            while (*v == ' ')
                v++;
            vlen = llen - (size_t)(v - p);
            if (vlen >= out_len)
                vlen = out_len - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return out;
        }
        p = eol != NULL ? eol + 2 : NULL;
    }
    return NULL;
}

void test_tmpdir(char *out, size_t out_len, const char *tag)
{
    snprintf(out, out_len, "/tmp/sdv-test-%s-XXXXXX", tag);
    if (mkdtemp(out) == NULL)
        out[0] = '\0';
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_rmdir(const char *dir)
{
    if (dir[0] != '\0')
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int test_dir_entries(const char *dir)
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
