/*
 * net_range.c - resumed downloads: a GET with "Range: bytes=OFFSET-" that accepts only a 206
 * whose Content-Range starts at OFFSET (see sdv_net_fetch_range in sdv/net.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_int.h"

struct range_transfer {
    struct sdv_net *net;
    uint64_t offset;
    uint64_t left; /* bytes the body may still bring: max_len - offset */
    int checked;   /* status and Content-Range were checked (first body bytes) */
    int mismatch;  /* the answer does not continue at offset */
    sdv_sink_fn sink;
    void *sink_ud;
};

/* Parses the start of "bytes START-END/TOTAL" (RFC 9110 14.4). Returns 0 on success. */
static int content_range_start(const char *v, uint64_t *start)
{
    char *end = NULL;
    unsigned long long n;

    while (*v == ' ')
        v++;
    if (strncmp(v, "bytes ", 6) != 0)
        return -1;
    v += 6;
    if (*v < '0' || *v > '9')
        return -1;
    n = strtoull(v, &end, 10);
    if (end == NULL || *end != '-')
        return -1;
    *start = n;
    return 0;
}

/* Does the response in progress continue the file at t->offset? */
static int continues_at_offset(struct range_transfer *t)
{
    long status = 0;
    struct curl_header *h = NULL;
    uint64_t start;

    curl_easy_getinfo(t->net->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t->offset == 0)
        return status == 200 || status == 206;
    if (status != 206)
        return 0;
    if (curl_easy_header(t->net->curl, "Content-Range", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return 0;
    return content_range_start(h->value, &start) == 0 && start == t->offset;
}

static enum sdv_err range_body(void *ud, const void *data, size_t len)
{
    struct range_transfer *t = ud;

    if (!t->checked) {
        t->checked = 1;
        if (!continues_at_offset(t)) {
            t->mismatch = 1;
            return SDV_EUNSUPPORTED; /* stops curl before any byte reaches the caller */
        }
    }
    if (len > t->left)
        return SDV_ETOOBIG;
    t->left -= len;
    return t->sink(t->sink_ud, data, len);
}

enum sdv_err sdv_net_fetch_range(void *ud, const char *url, uint64_t offset, uint64_t max_len,
                                 sdv_sink_fn sink, void *sink_ud)
{
    struct sdv_net *net = ud;
    struct range_transfer t = {net, offset, 0, 0, 0, sink, sink_ud};
    char range[32];
    long status = 0;
    enum sdv_err err;

    if (offset > max_len || (offset > 0 && offset == max_len)) {
        snprintf(net->errmsg, sizeof(net->errmsg),
                 "%s: resume offset %" PRIu64 " not below the maximum length %" PRIu64, url, offset,
                 max_len);
        return SDV_EINVAL;
    }
    t.left = max_len - offset;
    snprintf(range, sizeof(range), "%" PRIu64 "-", offset);
    /* The full max_len goes to net_get: a server that ignores the Range announces the whole
     * length, which must be seen as "restart", not as "too big". range_body applies the bound
     * of what is left. */
    err = net_get(net, url, offset > 0 ? range : NULL, max_len, range_body, &t);
    curl_easy_getinfo(net->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t.mismatch || (err == SDV_ENET && status == 416) ||
        (err == SDV_OK && !t.checked && !continues_at_offset(&t))) {
        snprintf(net->errmsg, sizeof(net->errmsg),
                 "%s: the server did not continue at byte %" PRIu64 " (HTTP %ld): restart from 0",
                 url, offset, status);
        return SDV_EUNSUPPORTED;
    }
    return err;
}
