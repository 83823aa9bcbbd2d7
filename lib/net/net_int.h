/*
 * net_int.h - private to lib/net: the handle, shared by net_fetch.c (plain GET) and net_range.c
 * (resumed GET with HTTP Range).
 */
#ifndef SDV_NET_INT_H
#define SDV_NET_INT_H

#include <curl/curl.h>

#include <sdv/net.h>

struct sdv_net {
    CURL *curl;
    struct sdv_net_config cfg;
    char user_agent[64];
    char curl_err[CURL_ERROR_SIZE];
    char errmsg[512];
    unsigned long requests;
    struct curl_slist *headers; /* sdv_net_add_header lines, sent with every request */
};

/*
 * One bounded GET of url on net's connection, with every option and defence of sdv_net_fetch.
 * range is NULL for the whole body, or a curl range ("1000-") sent as "Range: bytes=1000-".
 * After it returns, net->curl still holds the response status and headers
 * (curl_easy_getinfo, curl_easy_header). Errors as sdv_net_fetch.
 */
enum sdv_err net_get(struct sdv_net *net, const char *url, const char *range, uint64_t max_len,
                     sdv_sink_fn sink, void *sink_ud);

/* Sets the options every request shares: timeouts, minimum speed, user agent, error buffer
 * and TLS (CA, client certificate and key). */
void net_common_options(struct sdv_net *net, CURL *h);

/* Maps a failed transfer's curl code to an sdv_err, writing the detail into net->errmsg:
 * SDV_ESLOW for the minimum-speed abort and timeouts, SDV_ENET otherwise. */
enum sdv_err net_transfer_error(struct sdv_net *net, const char *url, CURLcode rc);

#endif /* SDV_NET_INT_H */
