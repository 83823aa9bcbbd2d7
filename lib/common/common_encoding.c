/*
 * common_encoding.c - hex, base64 (RFC 4648) and percent-encoding. Decoders are strict: they
 * accept exactly one spelling of each byte string, so two different texts never decode to the
 * same bytes (which matters when the text itself is hashed or signed).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/common.h>

static const char hex_digits[] = "0123456789abcdef";
static const char b64_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Returns the value of a hex digit of either case, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Returns the 6-bit value of a base64 character, or -1 (padding included). */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

void sdv_hex_encode(const uint8_t *p, size_t n, char *out)
{
    size_t i;

    assert(out != NULL && (p != NULL || n == 0));
    for (i = 0; i < n; i++) {
        out[2 * i] = hex_digits[p[i] >> 4];
        out[2 * i + 1] = hex_digits[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

enum sdv_err sdv_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_max,
                            size_t *out_len)
{
    size_t i;

    if ((hex == NULL && hex_len > 0) || (out == NULL && out_max > 0))
        return SDV_EINVAL;
    if (hex_len % 2 != 0)
        return SDV_EPARSE;
    for (i = 0; i < hex_len; i++) {
        if (hex_value(hex[i]) < 0)
            return SDV_EPARSE;
    }
    if (hex_len / 2 > out_max)
        return SDV_ETOOBIG;
    for (i = 0; i < hex_len / 2; i++)
        out[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    if (out_len != NULL)
        *out_len = hex_len / 2;
    return SDV_OK;
}

size_t sdv_base64_encoded_len(size_t n)
{
    assert(n / 3 < (SIZE_MAX - 5) / 4);
    return (n + 2) / 3 * 4 + 1;
}

void sdv_base64_encode(const uint8_t *p, size_t n, char *out)
{
    size_t i, o = 0;

    assert(out != NULL && (p != NULL || n == 0));
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 0x3f];
        out[o++] = b64_alphabet[(v >> 6) & 0x3f];
        out[o++] = b64_alphabet[v & 0x3f];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;

        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 0x3f];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 0x3f];
        out[o++] = b64_alphabet[(v >> 6) & 0x3f];
        out[o++] = '=';
    }
    out[o] = '\0';
}

/*
 * Rejects anything but canonical padded base64: the length is a multiple of 4, '=' appears only
 * as the last one or two characters, and the bits the padding leaves over are zero.
 */
enum sdv_err sdv_base64_decode(const char *s, size_t s_len, uint8_t *out, size_t out_max,
                               size_t *out_len)
{
    size_t pad = 0, n, i, o = 0;

    if ((s == NULL && s_len > 0) || (out == NULL && out_max > 0))
        return SDV_EINVAL;
    if (s_len % 4 != 0)
        return SDV_EPARSE;
    if (s_len > 0 && s[s_len - 1] == '=')
        pad = s_len > 1 && s[s_len - 2] == '=' ? 2 : 1;
    for (i = 0; i < s_len - pad; i++) {
        if (b64_value(s[i]) < 0)
            return SDV_EPARSE;
    }
    if (pad == 1 && (b64_value(s[s_len - 2]) & 0x03) != 0)
        return SDV_EPARSE;
    if (pad == 2 && (b64_value(s[s_len - 3]) & 0x0f) != 0)
        return SDV_EPARSE;
    n = s_len / 4 * 3 - pad;
    if (n > out_max)
        return SDV_ETOOBIG;
    for (i = 0; i < s_len; i += 4) {
        uint32_t v = 0;
        size_t k;

        for (k = 0; k < 4; k++) {
            int c = s[i + k] == '=' ? 0 : b64_value(s[i + k]);

            v = v << 6 | (uint32_t)c;
        }
        if (o < n)
            out[o++] = (uint8_t)(v >> 16);
        if (o < n)
            out[o++] = (uint8_t)(v >> 8);
        if (o < n)
            out[o++] = (uint8_t)v;
    }
    assert(o == n);
    if (out_len != NULL)
        *out_len = n;
    return SDV_OK;
}

char *sdv_percent_encode(const char *s)
{
    size_t n, i, o = 0;
    char *out;

    assert(s != NULL);
    n = strlen(s);
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    out = malloc(3 * n + 1);
    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = "0123456789ABCDEF"[c >> 4];
            out[o++] = "0123456789ABCDEF"[c & 0x0f];
        }
    }
    out[o] = '\0';
    return out;
}
