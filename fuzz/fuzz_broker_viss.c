/*
 * fuzz_broker_viss.c - feeds untrusted bytes to the VISS v3 request parser (a WebSocket text
 * message or an HTTP POST body, as a remote client sends them). Checked properties: every
 * refusal names a VISS error and a reason; an accepted request has the members its action
 * needs, well-formed filters, and paths without wildcards; the error writer always produces
 * output for the request id it could read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/broker_proto.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdv_broker_viss_request r;
    enum sdv_broker_viss_error verr;
    struct sdv_buf out;
    char err[256];
    enum sdv_err rc;

    sdv_buf_init(&out, 1u << 16);
    rc = sdv_broker_viss_request_parse((const char *)data, size, &r, &verr, err, sizeof(err));
    if (rc == SDV_OK) {
        if (verr != 0 || r.root == NULL)
            abort();
        if (r.action == SDV_BROKER_VISS_UNSUBSCRIBE) {
            if (r.subscription_id == NULL)
                abort();
        } else if (r.path == NULL || strchr(r.path, '*') != NULL || strchr(r.path, '/') != NULL) {
            abort();
        }
        if (r.action == SDV_BROKER_VISS_SET && r.value == NULL)
            abort();
        if (r.filter.range_count > SDV_BROKER_RANGE_MAX || r.n_paths > SDV_BROKER_VISS_PATHS_MAX)
            abort();
    } else {
        if (rc != SDV_ENOMEM && (verr != SDV_BROKER_VISS_BAD_REQUEST || err[0] == '\0'))
            abort();
        if (rc != SDV_ENOMEM &&
            sdv_broker_viss_write_error(r.action != 0 ? r.action : SDV_BROKER_VISS_GET,
                                        r.request_id, NULL, verr, err, 0, &out) != SDV_OK)
            abort();
    }
    sdv_broker_viss_request_free(&r);
    /* The same bytes as an HTTP POST body. */
    rc = sdv_broker_viss_request_from_http("POST", "/Vehicle/Speed", (const char *)data, size, NULL,
                                           &r, &verr, err, sizeof(err));
    if (rc == SDV_OK && (r.value == NULL || strcmp(r.path, "Vehicle.Speed") != 0))
        abort();
    sdv_broker_viss_request_free(&r);
    /* The same bytes as the query of an HTTP GET (up to the first NUL). */
    sdv_buf_reset(&out);
    if (sdv_buf_puts(&out, "/Vehicle/Cabin?") == SDV_OK &&
        sdv_buf_append(&out, data, size) == SDV_OK) {
        rc = sdv_broker_viss_request_from_http("GET", (const char *)out.data, NULL, 0, NULL, &r,
                                               &verr, err, sizeof(err));
        if (rc == SDV_OK && (r.action != SDV_BROKER_VISS_GET || r.filter.period_ms != 0 ||
                             r.filter.change || r.filter.range_count != 0))
            abort();
        sdv_broker_viss_request_free(&r);
    }
    sdv_buf_free(&out);
    return 0;
}
