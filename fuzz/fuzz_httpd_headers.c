/*
 * fuzz_httpd_headers.c - the request header parsers of lib/httpd on arbitrary bytes: Range
 * against a representation length taken from the input, ETag lists in both comparison modes,
 * and identity validation. A parsed range must lie inside the representation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t len = 0, first = 0, last = 0;
    char *text;

    if (size < 8)
        return 0;
    memcpy(&len, data, sizeof(len));
    len %= UINT64_C(1) << 40;
    text = malloc(size - 8 + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data + 8, size - 8);
    text[size - 8] = '\0';

    if (httpd_range_parse(text, len, &first, &last) == HTTPD_RANGE_ONE &&
        (first > last || last >= len))
        abort();
    (void)httpd_etag_match(text, "abc", 1, 1);
    (void)httpd_etag_match(text, "abc", 0, 0);
    (void)httpd_identity_ok(text);
    free(text);
    return 0;
}
