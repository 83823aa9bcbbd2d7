/*
 * net_post.c - request headers of a handle, and a bounded POST of a small JSON document (the
 * vehicle version manifest) with its answer streamed into a sink (see sdv/net.h).
 */
#include <stdio.h>
#include <string.h>

#include "net_int.h"

enum sdv_err sdv_net_add_header(struct sdv_net *net, const char *line)
{
    struct curl_slist *l;

    if (line == NULL || strchr(line, ':') == NULL || line[0] == ':' || strpbrk(line, "\r\n"))
        return SDV_EINVAL;
    l = curl_slist_append(net->headers, line);
    if (l == NULL)
        return SDV_ENOMEM;
    net->headers = l;
    return SDV_OK;
}

struct answer {
    uint64_t left;
    sdv_sink_fn sink;
    void *sink_ud;
    enum sdv_err err;
};

static size_t on_answer(char *data, size_t size, size_t nmemb, void *ud)
{
    struct answer *a = ud;
    size_t n = size * nmemb;

    if (n > a->left) {
        a->err = SDV_ETOOBIG;
        return 0;
    }
    a->left -= n;
    if (a->sink != NULL)
        a->err = a->sink(a->sink_ud, data, n);
    return a->err == SDV_OK ? n : 0;
}

enum sdv_err sdv_net_post(struct sdv_net *net, const char *url, const char *content_type,
                          const void *body, size_t len, uint64_t max_len, sdv_sink_fn sink,
                          void *sink_ud, long *status)
{
    struct answer a = {max_len, sink, sink_ud, SDV_OK};
    struct curl_slist *headers = NULL, *l;
    char ctype[128];
    CURL *h = net->curl;
    CURLcode rc;

    *status = 0;
    net->errmsg[0] = '\0';
    net->curl_err[0] = '\0';
    net->requests++;
    snprintf(ctype, sizeof(ctype), "Content-Type: %s",
             content_type != NULL ? content_type : "application/json");
    for (l = net->headers; l != NULL; l = l->next)
        if ((headers = curl_slist_append(headers, l->data)) == NULL)
            return SDV_ENOMEM;
    if ((l = curl_slist_append(headers, ctype)) == NULL) {
        curl_slist_free_all(headers);
        return SDV_ENOMEM;
    }
    headers = l;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    net_common_options(net, h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    /* Reset before the list is freed: the handle must not keep a pointer into it. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (rc == CURLE_OK)
        return SDV_OK;
    if (rc == CURLE_WRITE_ERROR && a.err != SDV_OK) {
        snprintf(net->errmsg, sizeof(net->errmsg), "%s: answer: %s", url, sdv_strerror(a.err));
        return a.err;
    }
    return net_transfer_error(net, url, rc);
}
