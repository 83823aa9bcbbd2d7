/*
 * fuzz_broker_value.c - round-trips untrusted JSON through the broker's value type: the first
 * byte chooses the datatype (any of the 25 byte values that name one, the rest fall back to a
 * string), the rest is a JSON value as VISS clients send it.
 *
 * Checked properties: whatever is accepted is a valid value; it converts to JSON in both forms
 * (native and VISS strings) and back to an equal value; sdv_broker_value_write_json writes the
 * same bytes as jansson's dump of that JSON; its text form can be produced; and a refusal always
 * comes with a message. The raw bytes as float and double bits format as the printf definition
 * of the text (shortest %.{p}g that reads back, plain digits for integral values below 1e17).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/broker.h>

#include "../tests/broker/value_text_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Formats a finite float (is_float) or double and compares with ref_float_text. */
static void check_text(const struct sdv_broker_value *v)
{
    struct sdv_buf out;
    char want[64];
    double d = v->type == SDV_BROKER_DT_FLOAT ? (double)v->v.f : v->v.d;

    if (!isfinite(d))
        return;
    sdv_buf_init(&out, 128);
    if (sdv_broker_value_format(v, &out) != SDV_OK || sdv_buf_putc(&out, '\0') != SDV_OK)
        abort();
    ref_float_text(d, v->type == SDV_BROKER_DT_FLOAT, want, sizeof(want));
    if (strcmp((const char *)out.data, want) != 0)
        abort();
    sdv_buf_free(&out);
}

static void check_bits(const uint8_t *data, size_t size)
{
    struct sdv_broker_value v;

    memset(&v, 0, sizeof(v));
    v.count = 1;
    if (size >= 4) {
        v.type = SDV_BROKER_DT_FLOAT;
        memcpy(&v.v.f, data, 4);
        check_text(&v);
    }
    if (size >= 8) {
        v.type = SDV_BROKER_DT_DOUBLE;
        memcpy(&v.v.d, data, 8);
        check_text(&v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum sdv_broker_datatype dt;
    struct sdv_buf scratch, again, text;
    struct sdv_broker_value v, w;
    json_t *j = NULL;
    char err[256];
    unsigned flags;
    enum sdv_err rc;

    if (size < 1)
        return 0;
    check_bits(data + 1, size - 1);
    dt = sdv_broker_datatype_valid(data[0]) ? (enum sdv_broker_datatype)data[0]
                                            : SDV_BROKER_DT_STRING;
    if (sdv_json_parse(data + 1, size - 1, &j, NULL, 0) != SDV_OK)
        return 0;
    sdv_buf_init(&scratch, 1u << 20);
    sdv_buf_init(&again, 1u << 20);
    sdv_buf_init(&text, 1u << 22);
    err[0] = '\0';
    rc = sdv_broker_value_from_json(dt, j, &scratch, &v, err, sizeof(err));
    if (rc != SDV_OK) {
        if (rc != SDV_ENOMEM && err[0] == '\0')
            abort();
        goto out;
    }
    if (v.type != dt || sdv_broker_value_validate(&v, NULL, 0) != SDV_OK)
        abort();
    for (flags = 0; flags <= SDV_BROKER_JSON_STRINGS; flags += SDV_BROKER_JSON_STRINGS) {
        json_t *out = NULL;

        if (sdv_broker_value_to_json(&v, flags, &out) != SDV_OK)
            abort();
        if (sdv_broker_value_from_json(dt, out, &again, &w, err, sizeof(err)) != SDV_OK)
            abort();
        if (!sdv_broker_value_equal(&v, &w))
            abort();
        /* The writer without jansson gives jansson's bytes. */
        {
            char *dump = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);

            sdv_buf_reset(&text);
            if (dump != NULL && sdv_broker_value_write_json(&v, flags, &text) == SDV_OK &&
                (text.len != strlen(dump) || memcmp(text.data, dump, text.len) != 0))
                abort();
            free(dump);
            sdv_buf_reset(&text);
        }
        json_decref(out);
    }
    rc = sdv_broker_value_format(&v, &text);
    if (rc != SDV_OK && rc != SDV_ENOMEM && rc != SDV_ETOOBIG)
        abort();
out:
    sdv_buf_free(&text);
    sdv_buf_free(&again);
    sdv_buf_free(&scratch);
    json_decref(j);
    return 0;
}
