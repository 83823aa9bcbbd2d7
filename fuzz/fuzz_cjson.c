/*
 * fuzz_cjson.c - parses untrusted bytes with sdv_json_parse and checks that canonical JSON is
 * a fixed point: canonicalising the canonical form again gives the very same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/common.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Output bound: canonical JSON is never longer than its input plus escapes. */
#define FUZZ_OUT_MAX (1u << 24)

static int has_control_byte(const struct sdv_buf *b)
{
    size_t i;

    for (i = 0; i < b->len; i++) {
        if (b->data[i] < 0x20)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdv_buf first, second;
    json_t *v = NULL, *again = NULL;
    enum sdv_err err;
    char msg[256];

    if (sdv_json_parse(data, size, &v, msg, sizeof(msg)) != SDV_OK)
        return 0;
    sdv_buf_init(&first, FUZZ_OUT_MAX);
    sdv_buf_init(&second, FUZZ_OUT_MAX);
    err = sdv_cjson_write(v, &first);
    if (err == SDV_EUNSUPPORTED)
        goto out; /* a real number: valid JSON, not canonical JSON */
    if (err != SDV_OK)
        abort();
    /* Canonical strings carry control characters raw, which no JSON parser accepts back. */
    if (has_control_byte(&first))
        goto out;
    if (sdv_json_parse(first.data, first.len, &again, msg, sizeof(msg)) != SDV_OK)
        abort();
    if (sdv_cjson_write(again, &second) != SDV_OK)
        abort();
    if (first.len != second.len || memcmp(first.data, second.data, first.len) != 0)
        abort();
out:
    json_decref(again);
    json_decref(v);
    sdv_buf_free(&second);
    sdv_buf_free(&first);
    return 0;
}
