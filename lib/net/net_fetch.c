/*
 * net_fetch.c - bounded, streaming HTTP GET on libcurl (see sdv/net.h).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_int.h"

struct transfer {
    uint64_t received;
    uint64_t max_len;
    sdv_sink_fn sink;
    void *sink_ud;
    enum sdv_err err;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct transfer *t = ud;
    size_t n = size * nmemb;

    if (n > t->max_len - t->received) {
        t->err = SDV_ETOOBIG;
        return 0; /* makes curl abort with CURLE_WRITE_ERROR */
    }
    t->received += n;
    t->err = t->sink(t->sink_ud, data, n);
    return t->err == SDV_OK ? n : 0;
}

enum sdv_err sdv_net_create(const struct sdv_net_config *cfg, struct sdv_net **out)
{
    struct sdv_net *net;

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return SDV_ENET;
    net = calloc(1, sizeof(*net));
    if (net == NULL)
        return SDV_ENOMEM;
    if (cfg != NULL)
        net->cfg = *cfg;
    if (net->cfg.connect_timeout_ms <= 0)
        net->cfg.connect_timeout_ms = 10000;
    if (net->cfg.low_speed_bytes <= 0)
        net->cfg.low_speed_bytes = 1024;
    if (net->cfg.low_speed_time_s <= 0)
        net->cfg.low_speed_time_s = 30;
    snprintf(net->user_agent, sizeof(net->user_agent), "%s",
             net->cfg.user_agent != NULL ? net->cfg.user_agent : "opensdv/" SDV_VERSION);
    net->curl = curl_easy_init();
    if (net->curl == NULL) {
        free(net);
        return SDV_ENOMEM;
    }
    *out = net;
    return SDV_OK;
}

void sdv_net_destroy(struct sdv_net *net)
{
    if (net == NULL)
        return;
    curl_easy_cleanup(net->curl);
    curl_slist_free_all(net->headers);
    free(net);
}

const char *sdv_net_errmsg(const struct sdv_net *net)
{
    return net->errmsg;
}

unsigned long sdv_net_request_count(const struct sdv_net *net)
{
    return net->requests;
}

enum sdv_err sdv_net_fetch(void *ud, const char *url, uint64_t max_len, sdv_sink_fn sink,
                           void *sink_ud)
{
    return net_get(ud, url, NULL, max_len, sink, sink_ud);
}

enum sdv_err net_get(struct sdv_net *net, const char *url, const char *range, uint64_t max_len,
                     sdv_sink_fn sink, void *sink_ud)
{
    struct transfer t = {0, max_len, sink, sink_ud, SDV_OK};
    CURL *h = net->curl;
    CURLcode rc;
    long status = 0;

    net->errmsg[0] = '\0';
    net->curl_err[0] = '\0';
    net->requests++;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    net_common_options(net, h);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    if (range != NULL)
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    if (net->headers != NULL)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, net->headers);
    if (max_len < (uint64_t)INT64_MAX)
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_len);

    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK)
        return SDV_OK;
    if (rc == CURLE_WRITE_ERROR && t.err != SDV_OK) {
        snprintf(net->errmsg, sizeof(net->errmsg), "%s: %s", url, sdv_strerror(t.err));
        return t.err;
    }
    if (rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(net->errmsg, sizeof(net->errmsg), "%s: larger than %llu bytes", url,
                 (unsigned long long)max_len);
        return SDV_ETOOBIG;
    }
    if ((rc == CURLE_HTTP_RETURNED_ERROR && (status == 404 || status == 403)) ||
        rc == CURLE_FILE_COULDNT_READ_FILE) {
        snprintf(net->errmsg, sizeof(net->errmsg), "%s: not found (HTTP %ld)", url, status);
        return SDV_ENOENT;
    }
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
        snprintf(net->errmsg, sizeof(net->errmsg), "%s: HTTP %ld", url, status);
        return SDV_ENET;
    }
    return net_transfer_error(net, url, rc);
}

void net_common_options(struct sdv_net *net, CURL *h)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, net->cfg.connect_timeout_ms);
    if (net->cfg.timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, net->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, net->cfg.low_speed_bytes);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, net->cfg.low_speed_time_s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, net->user_agent);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, net->curl_err);
    if (net->cfg.ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, net->cfg.ca_file);
    if (net->cfg.client_cert_file != NULL) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, net->cfg.client_cert_file);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (net->cfg.client_key_file != NULL) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, net->cfg.client_key_file);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
}

enum sdv_err net_transfer_error(struct sdv_net *net, const char *url, CURLcode rc)
{
    snprintf(net->errmsg, sizeof(net->errmsg), "%s: %s", url,
             net->curl_err[0] ? net->curl_err : curl_easy_strerror(rc));
    /* The low-speed limit and the overall timeout both end as CURLE_OPERATION_TIMEDOUT: a
     * server (or a man in the middle) trickling bytes, the slow-retrieval attack. */
    return rc == CURLE_OPERATION_TIMEDOUT ? SDV_ESLOW : SDV_ENET;
}
