/*
 * common_buf.c - growable byte buffers with a hard maximum fixed at init (curl's dynbuf).
 *
 * cap counts allocated bytes including the terminating NUL, so len < cap whenever data is
 * non-NULL. The maximum bounds len, never cap: a buffer of max bytes needs max + 1 bytes.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/common.h>

/* First allocation; small enough for short strings, large enough to avoid early reallocs. */
#define BUF_CAP_MIN 64

void sdv_buf_init(struct sdv_buf *b, size_t max)
{
    assert(b != NULL);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sdv_buf_free(struct sdv_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sdv_buf_reset(struct sdv_buf *b)
{
    assert(b != NULL);
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* Makes room for n more bytes plus the NUL. Leaves the buffer untouched on failure. */
static enum sdv_err buf_reserve(struct sdv_buf *b, size_t n)
{
    size_t need, cap;
    uint8_t *p;

    assert(b->len <= b->max);
    if (n > b->max - b->len)
        return SDV_ETOOBIG;
    need = b->len + n;
    if (need == SIZE_MAX)
        return SDV_ENOMEM; /* no room left for the terminating NUL */
    need++;
    if (b->data != NULL && need <= b->cap)
        return SDV_OK;
    cap = b->cap > BUF_CAP_MIN ? b->cap : BUF_CAP_MIN;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* Never allocate more than the maximum can use. */
    if (b->max < SIZE_MAX && cap > b->max + 1)
        cap = b->max + 1;
    assert(cap >= need);
    p = realloc(b->data, cap);
    if (p == NULL)
        return SDV_ENOMEM;
    if (b->data == NULL)
        p[0] = '\0';
    b->data = p;
    b->cap = cap;
    return SDV_OK;
}

enum sdv_err sdv_buf_append(struct sdv_buf *b, const void *p, size_t n)
{
    enum sdv_err err;

    assert(b != NULL);
    assert(p != NULL || n == 0);
    err = buf_reserve(b, n);
    if (err != SDV_OK)
        return err;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SDV_OK;
}

enum sdv_err sdv_buf_puts(struct sdv_buf *b, const char *s)
{
    assert(s != NULL);
    return sdv_buf_append(b, s, strlen(s));
}

enum sdv_err sdv_buf_putc(struct sdv_buf *b, char c)
{
    return sdv_buf_append(b, &c, 1);
}

enum sdv_err sdv_buf_printf(struct sdv_buf *b, const char *fmt, ...)
{
    enum sdv_err err;
    va_list ap;
    int n;

    assert(b != NULL);
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SDV_EINVAL;
    err = buf_reserve(b, (size_t)n);
    if (err != SDV_OK)
        return err;
    va_start(ap, fmt);
    n = vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return SDV_EINVAL;
    }
    b->len += (size_t)n;
    return SDV_OK;
}

char *sdv_buf_steal(struct sdv_buf *b, size_t *len_out)
{
    char *s;

    assert(b != NULL);
    if (b->data == NULL) {
        s = malloc(1);
        if (s == NULL)
            return NULL;
        s[0] = '\0';
        if (len_out != NULL)
            *len_out = 0;
        return s;
    }
    s = (char *)b->data;
    if (len_out != NULL)
        *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return s;
}
