/*
 * common_json.c - the canonical JSON writer and the JSON parser for untrusted input.
 *
 * Canonical form (OLPC, as used by TUF and securesystemslib): keys sorted by their bytes, no
 * whitespace, strings with only '"' and '\\' escaped, integers only. Both directions walk
 * documents with an explicit stack bounded by SDV_JSON_DEPTH_MAX, never by C recursion, so
 * a hostile document (or a cyclic json_t built by code) cannot exhaust the C stack.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/common.h>
#include <sdv/limits.h>

/* One member of an object, in the order it will be written. */
struct cj_member {
    const char *key;
    size_t key_len;
    json_t *value;
};

/* An array or object that is being written: its members and the index of the next one. */
struct cj_frame {
    const json_t *container;
    struct cj_member *members; /* objects only; sorted by key */
    size_t next;
    size_t count;
};

/* Byte order of UTF-8 keys; a key that is a prefix of another sorts first. */
static int cj_member_cmp(const void *a, const void *b)
{
    const struct cj_member *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);

    if (c != 0)
        return c;
    return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static enum sdv_err cj_write_string(struct sdv_buf *out, const char *s, size_t n)
{
    enum sdv_err err;
    size_t i, run = 0;

    err = sdv_buf_putc(out, '"');
    /* Copy runs of ordinary bytes at once; only '"' and '\\' get a backslash. */
    for (i = 0; i < n && err == SDV_OK; i++) {
        if (s[i] != '"' && s[i] != '\\')
            continue;
        err = sdv_buf_append(out, s + run, i - run);
        if (err == SDV_OK)
            err = sdv_buf_putc(out, '\\');
        run = i;
    }
    if (err == SDV_OK)
        err = sdv_buf_append(out, s + run, n - run);
    if (err == SDV_OK)
        err = sdv_buf_putc(out, '"');
    return err;
}

/* Collects and sorts the members of object o. *members_out is NULL for an empty object. */
static enum sdv_err cj_sorted_members(const json_t *o, struct cj_member **members_out,
                                      size_t *count_out)
{
    size_t n = json_object_size(o), i = 0;
    struct cj_member *m;
    void *it;

    *members_out = NULL;
    *count_out = 0;
    if (n == 0)
        return SDV_OK;
    m = calloc(n, sizeof(*m));
    if (m == NULL)
        return SDV_ENOMEM;
    for (it = json_object_iter((json_t *)o); it != NULL && i < n;
         it = json_object_iter_next((json_t *)o, it)) {
        m[i].key = json_object_iter_key(it);
        m[i].key_len = json_object_iter_key_len(it);
        m[i].value = json_object_iter_value(it);
        i++;
    }
    assert(i == n);
    qsort(m, n, sizeof(*m), cj_member_cmp);
    *members_out = m;
    *count_out = n;
    return SDV_OK;
}

/*
 * Writes a scalar, or writes the opening bracket of a container and pushes a frame for it.
 * *depth is the number of frames in use.
 */
static enum sdv_err cj_open(const json_t *v, struct sdv_buf *out, struct cj_frame *stack,
                            size_t *depth)
{
    struct cj_frame *f;
    enum sdv_err err;
    char num[32];
    int n;

    switch (json_typeof(v)) {
    case JSON_NULL:
        return sdv_buf_puts(out, "null");
    case JSON_TRUE:
        return sdv_buf_puts(out, "true");
    case JSON_FALSE:
        return sdv_buf_puts(out, "false");
    case JSON_INTEGER:
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        assert(n > 0 && (size_t)n < sizeof(num));
        return sdv_buf_append(out, num, (size_t)n);
    case JSON_STRING:
        return cj_write_string(out, json_string_value(v), json_string_length(v));
    case JSON_REAL:
        return SDV_EUNSUPPORTED;
    case JSON_ARRAY:
    case JSON_OBJECT:
        break;
    default:
        return SDV_EINVAL;
    }
    if (*depth >= SDV_JSON_DEPTH_MAX)
        return SDV_ELIMIT;
    f = &stack[*depth];
    f->container = v;
    f->next = 0;
    f->members = NULL;
    if (json_is_array(v)) {
        f->count = json_array_size(v);
        err = sdv_buf_putc(out, '[');
    } else {
        err = cj_sorted_members(v, &f->members, &f->count);
        if (err == SDV_OK)
            err = sdv_buf_putc(out, '{');
        if (err != SDV_OK) {
            free(f->members);
            return err;
        }
    }
    if (err == SDV_OK)
        (*depth)++;
    return err;
}

enum sdv_err sdv_cjson_write(const json_t *v, struct sdv_buf *out)
{
    struct cj_frame stack[SDV_JSON_DEPTH_MAX];
    size_t depth = 0, start_len;
    enum sdv_err err;

    if (v == NULL || out == NULL)
        return SDV_EINVAL;
    start_len = out->len;
    err = cj_open(v, out, stack, &depth);
    while (err == SDV_OK && depth > 0) {
        struct cj_frame *f = &stack[depth - 1];
        const json_t *child;

        if (f->next == f->count) {
            err = sdv_buf_putc(out, json_is_array(f->container) ? ']' : '}');
            free(f->members);
            depth--;
            continue;
        }
        if (f->next > 0)
            err = sdv_buf_putc(out, ',');
        if (err != SDV_OK)
            break;
        if (json_is_object(f->container)) {
            const struct cj_member *m = &f->members[f->next];

            err = cj_write_string(out, m->key, m->key_len);
            if (err == SDV_OK)
                err = sdv_buf_putc(out, ':');
            child = m->value;
        } else {
            child = json_array_get(f->container, f->next);
        }
        f->next++;
        if (err == SDV_OK)
            err = cj_open(child, out, stack, &depth);
    }
    while (depth > 0)
        free(stack[--depth].members);
    if (err != SDV_OK) {
        /* Leave out as it was: no half-written document. */
        out->len = start_len;
        if (out->data != NULL)
            out->data[start_len] = '\0';
    }
    return err;
}

/* Returns 1 if v nests containers deeper than SDV_JSON_DEPTH_MAX. Iterative, like the writer. */
static int json_too_deep(json_t *v)
{
    struct {
        json_t *container;
        void *iter;   /* objects */
        size_t index; /* arrays */
    } stack[SDV_JSON_DEPTH_MAX];
    size_t depth = 0;

    if (!json_is_array(v) && !json_is_object(v))
        return 0;
    stack[depth].container = v;
    stack[depth].iter = json_object_iter(v);
    stack[depth].index = 0;
    depth++;
    while (depth > 0) {
        json_t *c = stack[depth - 1].container, *child;

        if (json_is_array(c)) {
            if (stack[depth - 1].index >= json_array_size(c)) {
                depth--;
                continue;
            }
            child = json_array_get(c, stack[depth - 1].index++);
        } else {
            void *it = stack[depth - 1].iter;

            if (it == NULL) {
                depth--;
                continue;
            }
            child = json_object_iter_value(it);
            stack[depth - 1].iter = json_object_iter_next(c, it);
        }
        if (!json_is_array(child) && !json_is_object(child))
            continue;
        if (depth >= SDV_JSON_DEPTH_MAX)
            return 1;
        stack[depth].container = child;
        stack[depth].iter = json_object_iter(child);
        stack[depth].index = 0;
        depth++;
    }
    return 0;
}

enum sdv_err sdv_json_parse(const void *data, size_t len, json_t **out, char *err, size_t err_len)
{
    json_error_t jerr;
    json_t *v;

    if (out == NULL || (data == NULL && len > 0))
        return SDV_EINVAL;
    *out = NULL;
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    /* Without JSON_ALLOW_NUL "\u0000" is refused; without JSON_DISABLE_EOF_CHECK anything but
     * whitespace after the value is refused. Any value type may stand at the top; callers
     * check the type they need. */
    v = json_loadb(data != NULL ? data : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return SDV_EPARSE;
    }
    if (json_too_deep(v)) {
        json_decref(v);
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "nesting deeper than %d levels", SDV_JSON_DEPTH_MAX);
        return SDV_EPARSE;
    }
    *out = v;
    return SDV_OK;
}
