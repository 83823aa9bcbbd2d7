/*
 * broker_value.c - the VSS datatypes and typed values: validation, exact conversion from and to
 * JSON and text, equality and exact ordering across numeric types.
 *
 * Exactness: integers are parsed by hand into a sign and a 64-bit magnitude, so "300" for a
 * uint8 or "18446744073709551616" for a uint64 is refused, never wrapped; floats go through
 * strtod and are refused when they overflow their type or are not finite. Comparisons between
 * int64, uint64 and double go through 128-bit integers (broker_num), so 2^63 vs 2^63 - 1 or
 * 0.5 vs 0 are never confused by a conversion to double.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"

struct dt_info {
    const char *name;
    size_t size;
    int64_t min_i;  /* signed types */
    uint64_t max_u; /* signed and unsigned types: largest value */
};

/* Indexed by element type 1..12. */
static const struct dt_info dt_table[13] = {
        [SDV_BROKER_DT_BOOLEAN] = {"boolean", 1, 0, 1},
        [SDV_BROKER_DT_INT8] = {"int8", 1, INT8_MIN, INT8_MAX},
        [SDV_BROKER_DT_INT16] = {"int16", 2, INT16_MIN, INT16_MAX},
        [SDV_BROKER_DT_INT32] = {"int32", 4, INT32_MIN, INT32_MAX},
        [SDV_BROKER_DT_INT64] = {"int64", 8, INT64_MIN, INT64_MAX},
        [SDV_BROKER_DT_UINT8] = {"uint8", 1, 0, UINT8_MAX},
        [SDV_BROKER_DT_UINT16] = {"uint16", 2, 0, UINT16_MAX},
        [SDV_BROKER_DT_UINT32] = {"uint32", 4, 0, UINT32_MAX},
        [SDV_BROKER_DT_UINT64] = {"uint64", 8, 0, UINT64_MAX},
        [SDV_BROKER_DT_FLOAT] = {"float", 4, 0, 0},
        [SDV_BROKER_DT_DOUBLE] = {"double", 8, 0, 0},
        [SDV_BROKER_DT_STRING] = {"string", 0, 0, 0},
};

static const char *const dt_array_names[13] = {
        NULL,       "boolean[]", "int8[]",   "int16[]", "int32[]",  "int64[]",  "uint8[]",
        "uint16[]", "uint32[]",  "uint64[]", "float[]", "double[]", "string[]",
};

bool sdv_broker_datatype_valid(unsigned dt)
{
    unsigned e = dt & 0x1fu;

    if ((dt & ~0x3fu) != 0 || (dt & 0x20u) != (dt & ~0x1fu))
        return false;
    return e >= SDV_BROKER_DT_BOOLEAN && e <= SDV_BROKER_DT_STRING;
}

const char *sdv_broker_datatype_name(enum sdv_broker_datatype dt)
{
    if (dt == SDV_BROKER_DT_NONE)
        return "none";
    if (!sdv_broker_datatype_valid((unsigned)dt))
        return "invalid";
    if (SDV_BROKER_DT_IS_ARRAY(dt))
        return dt_array_names[SDV_BROKER_DT_ELEMENT(dt)];
    return dt_table[dt].name;
}

enum sdv_err sdv_broker_datatype_parse(const char *name, enum sdv_broker_datatype *out)
{
    unsigned e;

    if (name == NULL || out == NULL)
        return SDV_EINVAL;
    for (e = SDV_BROKER_DT_BOOLEAN; e <= SDV_BROKER_DT_STRING; e++) {
        if (strcmp(name, dt_table[e].name) == 0) {
            *out = (enum sdv_broker_datatype)e;
            return SDV_OK;
        }
        if (strcmp(name, dt_array_names[e]) == 0) {
            *out = (enum sdv_broker_datatype)(e | SDV_BROKER_DT_ARRAY);
            return SDV_OK;
        }
    }
    return SDV_EPARSE;
}

size_t sdv_broker_datatype_elem_size(enum sdv_broker_datatype dt)
{
    if (!sdv_broker_datatype_valid((unsigned)dt))
        return 0;
    return dt_table[SDV_BROKER_DT_ELEMENT(dt)].size;
}

bool broker_dt_numeric(enum sdv_broker_datatype dt)
{
    return dt >= SDV_BROKER_DT_INT8 && dt <= SDV_BROKER_DT_DOUBLE;
}

static bool dt_signed(enum sdv_broker_datatype e)
{
    return e >= SDV_BROKER_DT_INT8 && e <= SDV_BROKER_DT_INT64;
}

static bool dt_unsigned(enum sdv_broker_datatype e)
{
    return e >= SDV_BROKER_DT_UINT8 && e <= SDV_BROKER_DT_UINT64;
}

uint64_t broker_hash(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 14695981039346656037ull;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- Element access ---- */

/* Reads an unsigned integer of sz (1, 2, 4 or 8) bytes in host order at q. */
static uint64_t load_uint(const uint8_t *q, size_t sz)
{
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;

    switch (sz) {
    case 1:
        return q[0];
    case 2:
        memcpy(&u16, q, 2);
        return u16;
    case 4:
        memcpy(&u32, q, 4);
        return u32;
    default:
        memcpy(&u64, q, 8);
        return u64;
    }
}

/* Writes the low sz (1, 2, 4 or 8) bytes of v in host order at p. */
static void store_uint(uint8_t *p, size_t sz, uint64_t v)
{
    uint16_t u16 = (uint16_t)v;
    uint32_t u32 = (uint32_t)v;

    switch (sz) {
    case 1:
        p[0] = (uint8_t)v;
        break;
    case 2:
        memcpy(p, &u16, 2);
        break;
    case 4:
        memcpy(p, &u32, 4);
        break;
    default:
        memcpy(p, &v, 8);
        break;
    }
}

/* Reads packed element k of an array of element type e into a scalar value. */
static void elem_read(enum sdv_broker_datatype e, const uint8_t *p, uint32_t k,
                      struct sdv_broker_value *out)
{
    size_t sz = dt_table[e].size;
    const uint8_t *q = p + (size_t)k * sz;

    memset(out, 0, sizeof(*out));
    out->type = e;
    out->count = 1;
    if (dt_signed(e)) {
        uint64_t sign = (uint64_t)1 << (8 * sz - 1);

        /* Sign extension of the sz-byte two's complement value. */
        out->v.i = (int64_t)((load_uint(q, sz) ^ sign) - sign);
    } else if (dt_unsigned(e)) {
        out->v.u = load_uint(q, sz);
    } else if (e == SDV_BROKER_DT_BOOLEAN) {
        out->v.b = q[0] != 0;
    } else if (e == SDV_BROKER_DT_FLOAT) {
        memcpy(&out->v.f, q, 4);
    } else if (e == SDV_BROKER_DT_DOUBLE) {
        memcpy(&out->v.d, q, 8);
    }
}

/* Writes scalar s (element type e) packed at p. */
static void elem_write(enum sdv_broker_datatype e, const struct sdv_broker_value *s, uint8_t *p)
{
    if (dt_signed(e))
        store_uint(p, dt_table[e].size, (uint64_t)s->v.i);
    else if (dt_unsigned(e))
        store_uint(p, dt_table[e].size, s->v.u);
    else if (e == SDV_BROKER_DT_BOOLEAN)
        p[0] = s->v.b ? 1 : 0;
    else if (e == SDV_BROKER_DT_FLOAT)
        memcpy(p, &s->v.f, 4);
    else if (e == SDV_BROKER_DT_DOUBLE)
        memcpy(p, &s->v.d, 8);
}

/* Scalar k of v: element k of an array, v itself otherwise. */
static void scalar_at(const struct sdv_broker_value *v, uint32_t k, struct sdv_broker_value *s)
{
    if (SDV_BROKER_DT_IS_ARRAY(v->type))
        elem_read(SDV_BROKER_DT_ELEMENT(v->type), v->v.p, k, s);
    else
        *s = *v;
}

void broker_value_elem(const struct sdv_broker_value *v, uint32_t k, const char **str_pos,
                       struct sdv_broker_value *out)
{
    enum sdv_broker_datatype e = SDV_BROKER_DT_ELEMENT(v->type);

    if (!SDV_BROKER_DT_IS_ARRAY(v->type)) {
        *out = *v;
        return;
    }
    if (e == SDV_BROKER_DT_STRING) {
        /* Sequential walk: *str_pos is the start of element k. */
        size_t n = strlen(*str_pos);

        memset(out, 0, sizeof(*out));
        out->type = SDV_BROKER_DT_STRING;
        out->count = 1;
        out->len = (uint32_t)n;
        out->v.p = *str_pos;
        *str_pos += n + 1;
        return;
    }
    elem_read(e, v->v.p, k, out);
}

/* ---- Numbers ---- */

struct broker_num broker_num_of(const struct sdv_broker_value *v, uint32_t k)
{
    struct broker_num n = {0};
    struct sdv_broker_value s;
    enum sdv_broker_datatype e = SDV_BROKER_DT_ELEMENT(v->type);

    scalar_at(v, k, &s);
    if (dt_signed(e)) {
        n.is_int = true;
        n.i = s.v.i;
    } else if (dt_unsigned(e)) {
        n.is_int = true;
        n.i = s.v.u;
    } else if (e == SDV_BROKER_DT_FLOAT) {
        n.d = s.v.f;
    } else if (e == SDV_BROKER_DT_DOUBLE) {
        n.d = s.v.d;
    } else if (e == SDV_BROKER_DT_BOOLEAN) {
        n.is_int = true;
        n.i = s.v.b ? 1 : 0;
    }
    return n;
}

static int cmp_int_double(broker_i128 x, double d)
{
    broker_i128 t;
    double frac;

    if (d >= 0x1p100)
        return -1;
    if (d <= -0x1p100)
        return 1;
    t = (broker_i128)d; /* truncation toward zero; exact for |d| < 2^100 */
    if (x != t)
        return x < t ? -1 : 1;
    frac = d - trunc(d); /* exact */
    if (frac > 0)
        return -1;
    if (frac < 0)
        return 1;
    return 0;
}

int broker_num_cmp(const struct broker_num *a, const struct broker_num *b)
{
    if (a->is_int && b->is_int)
        return (a->i > b->i) - (a->i < b->i);
    if (a->is_int)
        return cmp_int_double(a->i, b->d);
    if (b->is_int)
        return -cmp_int_double(b->i, a->d);
    return (a->d > b->d) - (a->d < b->d);
}

static double num_to_double(const struct broker_num *n)
{
    return n->is_int ? (double)n->i : n->d;
}

struct broker_num broker_num_sub(const struct broker_num *a, const struct broker_num *b)
{
    struct broker_num r = {0};

    if (a->is_int && b->is_int) {
        r.is_int = true;
        r.i = a->i - b->i;
    } else {
        r.d = num_to_double(a) - num_to_double(b);
    }
    return r;
}

bool broker_op_holds(enum sdv_broker_op op, int cmp)
{
    switch (op) {
    case SDV_BROKER_OP_EQ:
        return cmp == 0;
    case SDV_BROKER_OP_NE:
        return cmp != 0;
    case SDV_BROKER_OP_GT:
        return cmp > 0;
    case SDV_BROKER_OP_GE:
        return cmp >= 0;
    case SDV_BROKER_OP_LT:
        return cmp < 0;
    case SDV_BROKER_OP_LE:
        return cmp <= 0;
    case SDV_BROKER_OP_ANY:
        return cmp != 0;
    }
    return false;
}

const char *broker_op_name(enum sdv_broker_op op)
{
    static const char *const names[] = {"any", "eq", "ne", "gt", "gte", "lt", "lte"};

    return (unsigned)op < 7 ? names[op] : "invalid";
}

enum sdv_err sdv_broker_op_parse(const char *s, enum sdv_broker_op *out)
{
    static const struct {
        const char *name;
        enum sdv_broker_op op;
    } ops[] = {
            {"eq", SDV_BROKER_OP_EQ},  {"ne", SDV_BROKER_OP_NE}, {"gt", SDV_BROKER_OP_GT},
            {"gte", SDV_BROKER_OP_GE}, {"ge", SDV_BROKER_OP_GE}, {"lt", SDV_BROKER_OP_LT},
            {"lte", SDV_BROKER_OP_LE}, {"le", SDV_BROKER_OP_LE},
    };
    size_t i;

    if (s == NULL || out == NULL)
        return SDV_EINVAL;
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(s, ops[i].name) == 0) {
            *out = ops[i].op;
            return SDV_OK;
        }
    }
    return SDV_EPARSE;
}

/* Shortest decimal text that reads back as the same float (or double); plain notation for
 * integral magnitudes below 1e17 ("100", not "1e+02"). */
static void float_text(double d, bool is_float, char *out, size_t out_len)
{
    int prec;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(out, out_len, "%.*g", prec, d);
        if (is_float ? strtof(out, NULL) == (float)d : strtod(out, NULL) == d)
            break;
    }
    if (strchr(out, 'e') != NULL && fabs(d) >= 1.0 && fabs(d) < 1e17) {
        int digits = (int)floor(log10(fabs(d))) + 1;

        if (digits > prec)
            snprintf(out, out_len, "%.*g", digits, d);
    }
}

void broker_num_text(const struct sdv_broker_value *v, uint32_t k, char *out, size_t out_len)
{
    struct sdv_broker_value s;
    enum sdv_broker_datatype e = SDV_BROKER_DT_ELEMENT(v->type);

    scalar_at(v, k, &s);
    if (e == SDV_BROKER_DT_BOOLEAN)
        snprintf(out, out_len, "%s", s.v.b ? "true" : "false");
    else if (dt_signed(e))
        snprintf(out, out_len, "%lld", (long long)s.v.i);
    else if (dt_unsigned(e))
        snprintf(out, out_len, "%llu", (unsigned long long)s.v.u);
    else if (e == SDV_BROKER_DT_FLOAT)
        float_text(s.v.f, true, out, out_len);
    else if (e == SDV_BROKER_DT_DOUBLE)
        float_text(s.v.d, false, out, out_len);
    else
        snprintf(out, out_len, "?");
}

/* ---- Validation ---- */

/* Length of a valid UTF-8 string without NUL bytes, or false. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        size_t len, k;
        uint32_t cp;

        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0u) != 0x80u)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* Checks one scalar of element type e; msg names the problem. */
static enum sdv_err scalar_validate(enum sdv_broker_datatype e, const struct sdv_broker_value *s,
                                    char *err, size_t err_len)
{
    if (dt_signed(e)) {
        if (s->v.i < dt_table[e].min_i || s->v.i > (int64_t)dt_table[e].max_u) {
            sdv_msgf(err, err_len, "%lld does not fit %s", (long long)s->v.i, dt_table[e].name);
            return SDV_EINVAL;
        }
    } else if (dt_unsigned(e)) {
        if (s->v.u > dt_table[e].max_u) {
            sdv_msgf(err, err_len, "%llu does not fit %s", (unsigned long long)s->v.u,
                     dt_table[e].name);
            return SDV_EINVAL;
        }
    } else if (e == SDV_BROKER_DT_FLOAT) {
        if (!isfinite(s->v.f)) {
            sdv_msgf(err, err_len, "a float must be finite");
            return SDV_EINVAL;
        }
    } else if (e == SDV_BROKER_DT_DOUBLE) {
        if (!isfinite(s->v.d)) {
            sdv_msgf(err, err_len, "a double must be finite");
            return SDV_EINVAL;
        }
    }
    return SDV_OK;
}

enum sdv_err sdv_broker_value_validate(const struct sdv_broker_value *v, char *err, size_t err_len)
{
    enum sdv_broker_datatype e;
    const uint8_t *p;
    uint32_t k;

    if (v == NULL) {
        sdv_msgf(err, err_len, "no value");
        return SDV_EINVAL;
    }
    if (v->type == SDV_BROKER_DT_NONE)
        return SDV_OK;
    if (!sdv_broker_datatype_valid((unsigned)v->type)) {
        sdv_msgf(err, err_len, "unknown datatype %u", (unsigned)v->type);
        return SDV_EINVAL;
    }
    e = SDV_BROKER_DT_ELEMENT(v->type);
    p = v->v.p;
    if (v->type == SDV_BROKER_DT_STRING) {
        if (v->len > SDV_BROKER_STRING_LEN_MAX) {
            sdv_msgf(err, err_len, "string of %u bytes is longer than %u", v->len,
                     SDV_BROKER_STRING_LEN_MAX);
            return SDV_EINVAL;
        }
        if ((v->len > 0 && p == NULL) || (p != NULL && !utf8_valid(p, v->len))) {
            sdv_msgf(err, err_len, "string is not valid UTF-8 without NUL bytes");
            return SDV_EINVAL;
        }
        return SDV_OK;
    }
    if (!SDV_BROKER_DT_IS_ARRAY(v->type))
        return scalar_validate(e, v, err, err_len);
    if (v->count > SDV_BROKER_ARRAY_LEN_MAX) {
        sdv_msgf(err, err_len, "array of %u elements is longer than %u", v->count,
                 SDV_BROKER_ARRAY_LEN_MAX);
        return SDV_EINVAL;
    }
    if (v->len > 0 && p == NULL) {
        sdv_msgf(err, err_len, "array without data");
        return SDV_EINVAL;
    }
    if (e == SDV_BROKER_DT_STRING) {
        uint32_t off = 0;

        if (v->len > SDV_BROKER_STRING_LEN_MAX) {
            sdv_msgf(err, err_len, "string array of %u bytes is longer than %u", v->len,
                     SDV_BROKER_STRING_LEN_MAX);
            return SDV_EINVAL;
        }
        for (k = 0; k < v->count; k++) {
            const uint8_t *nul = off < v->len ? memchr(p + off, 0, v->len - off) : NULL;

            if (nul == NULL) {
                sdv_msgf(err, err_len, "string array holds fewer than %u strings", v->count);
                return SDV_EINVAL;
            }
            if (!utf8_valid(p + off, (size_t)(nul - (p + off)))) {
                sdv_msgf(err, err_len, "element %u is not valid UTF-8", k);
                return SDV_EINVAL;
            }
            off = (uint32_t)(nul - p) + 1;
        }
        if (off != v->len) {
            sdv_msgf(err, err_len, "string array has bytes after its %u strings", v->count);
            return SDV_EINVAL;
        }
        return SDV_OK;
    }
    if ((uint64_t)v->len != (uint64_t)v->count * dt_table[e].size) {
        sdv_msgf(err, err_len, "%s of %u elements needs %zu bytes, has %u",
                 sdv_broker_datatype_name(v->type), v->count, (size_t)v->count * dt_table[e].size,
                 v->len);
        return SDV_EINVAL;
    }
    for (k = 0; k < v->count; k++) {
        struct sdv_broker_value s;
        enum sdv_err rc;

        if (e == SDV_BROKER_DT_BOOLEAN && p[k] > 1) {
            sdv_msgf(err, err_len, "element %u is not a boolean (0 or 1)", k);
            return SDV_EINVAL;
        }
        elem_read(e, p, k, &s);
        rc = scalar_validate(e, &s, err, err_len);
        if (rc != SDV_OK)
            return rc;
    }
    return SDV_OK;
}

/* ---- Parsing ---- */

/* Parses a decimal integer (optional '-', digits only) into a sign and magnitude; *overflow
 * when the magnitude does not fit 64 bits. */
static bool parse_decimal(const char *s, size_t n, bool *neg, uint64_t *mag, bool *overflow)
{
    size_t i = 0;
    uint64_t m = 0;

    *neg = false;
    *overflow = false;
    if (n > 0 && s[0] == '-') {
        *neg = true;
        i = 1;
    }
    if (i == n)
        return false;
    for (; i < n; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return false;
        d = (unsigned)(s[i] - '0');
        if (m > (UINT64_MAX - d) / 10)
            *overflow = true;
        else
            m = m * 10 + d;
    }
    *mag = m;
    return true;
}

/* Puts an integer given as sign + magnitude into s of element type e, checking the range. */
static enum sdv_err int_fit(enum sdv_broker_datatype e, bool neg, uint64_t mag, bool overflow,
                            const char *text, struct sdv_broker_value *s, char *err, size_t err_len)
{
    if (dt_signed(e)) {
        uint64_t lim = neg ? (uint64_t)(-(dt_table[e].min_i + 1)) + 1u : dt_table[e].max_u;

        if (overflow || mag > lim)
            goto range;
        s->v.i = neg ? (mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
        return SDV_OK;
    }
    if ((neg && mag != 0) || overflow || mag > dt_table[e].max_u)
        goto range;
    s->v.u = mag;
    return SDV_OK;
range:
    if (dt_signed(e))
        sdv_msgf(err, err_len, "%s is out of range for %s (%lld..%llu)", text, dt_table[e].name,
                 (long long)dt_table[e].min_i, (unsigned long long)dt_table[e].max_u);
    else
        sdv_msgf(err, err_len, "%s is out of range for %s (0..%llu)", text, dt_table[e].name,
                 (unsigned long long)dt_table[e].max_u);
    return SDV_ERANGE;
}

/* Parses float text strictly: no leading space, no hex, no nan/inf, all characters used. */
static enum sdv_err float_from_text(enum sdv_broker_datatype e, const char *t,
                                    struct sdv_broker_value *s, char *err, size_t err_len)
{
    char *end = NULL;
    double d;
    size_t i, n = strlen(t);

    if (n == 0)
        goto bad;
    for (i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'))
            goto bad;
    }
    errno = 0;
    d = strtod(t, &end);
    if (end != t + n)
        goto bad;
    if (!isfinite(d) || (errno == ERANGE && fabs(d) > 1.0))
        goto range;
    if (e == SDV_BROKER_DT_FLOAT) {
        if (isinf((float)d)) /* beyond rounding to FLT_MAX */
            goto range;
        s->v.f = (float)d;
    } else {
        s->v.d = d;
    }
    return SDV_OK;
bad:
    sdv_msgf(err, err_len, "\"%.64s\" is not a number", t);
    return SDV_EINVAL;
range:
    sdv_msgf(err, err_len, "%.64s is out of range for %s", t, dt_table[e].name);
    return SDV_ERANGE;
}

/* Text of a JSON scalar for messages. */
static void json_scalar_text(const json_t *j, char *out, size_t out_len)
{
    if (json_is_string(j))
        snprintf(out, out_len, "\"%.64s\"", json_string_value(j));
    else if (json_is_integer(j))
        snprintf(out, out_len, "%lld", (long long)json_integer_value(j));
    else if (json_is_real(j))
        float_text(json_real_value(j), false, out, out_len);
    else if (json_is_boolean(j))
        snprintf(out, out_len, "%s", json_is_true(j) ? "true" : "false");
    else if (json_is_null(j))
        snprintf(out, out_len, "null");
    else
        snprintf(out, out_len, "%s", json_is_array(j) ? "an array" : "an object");
}

/* One scalar of element type e (not string) from JSON. */
static enum sdv_err scalar_from_json(enum sdv_broker_datatype e, const json_t *j,
                                     struct sdv_broker_value *s, char *err, size_t err_len)
{
    char text[96];

    memset(s, 0, sizeof(*s));
    s->type = e;
    s->count = 1;
    json_scalar_text(j, text, sizeof(text));
    if (e == SDV_BROKER_DT_BOOLEAN) {
        if (json_is_boolean(j)) {
            s->v.b = json_is_true(j);
            return SDV_OK;
        }
        if (json_is_string(j) && strcmp(json_string_value(j), "true") == 0) {
            s->v.b = true;
            return SDV_OK;
        }
        if (json_is_string(j) && strcmp(json_string_value(j), "false") == 0) {
            s->v.b = false;
            return SDV_OK;
        }
        sdv_msgf(err, err_len, "%s is not a boolean (true or false)", text);
        return SDV_EINVAL;
    }
    if (dt_signed(e) || dt_unsigned(e)) {
        bool neg;
        uint64_t mag;

        if (json_is_integer(j)) {
            json_int_t x = json_integer_value(j);

            neg = x < 0;
            mag = neg ? (uint64_t)(-(x + 1)) + 1u : (uint64_t)x;
            return int_fit(e, neg, mag, false, text, s, err, err_len);
        }
        if (json_is_real(j)) {
            double d = json_real_value(j);

            if (!isfinite(d) || d != trunc(d)) {
                sdv_msgf(err, err_len, "%s is not an integer (%s)", text, dt_table[e].name);
                return SDV_EINVAL;
            }
            if (d >= 0x1p64 || d < -0x1p63)
                return int_fit(e, d < 0, 0, true, text, s, err, err_len);
            neg = d < 0;
            mag = neg ? (uint64_t)(-d) : (uint64_t)d; /* exact: |d| <= 2^64 and integral */
            return int_fit(e, neg, mag, false, text, s, err, err_len);
        }
        if (json_is_string(j)) {
            const char *t = json_string_value(j);
            size_t n = json_string_length(j);

            bool overflow;

            mag = 0;
            if (!parse_decimal(t, n, &neg, &mag, &overflow)) {
                sdv_msgf(err, err_len, "%s is not an integer (%s)", text, dt_table[e].name);
                return SDV_EINVAL;
            }
            return int_fit(e, neg, mag, overflow, text, s, err, err_len);
        }
        sdv_msgf(err, err_len, "%s is not an integer (%s)", text, dt_table[e].name);
        return SDV_EINVAL;
    }
    /* float / double */
    if (json_is_integer(j)) {
        double d = (double)json_integer_value(j);

        if (e == SDV_BROKER_DT_FLOAT)
            s->v.f = (float)d;
        else
            s->v.d = d;
        return SDV_OK;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);

        if (!isfinite(d) || (e == SDV_BROKER_DT_FLOAT && isinf((float)d))) {
            sdv_msgf(err, err_len, "%s is out of range for %s", text, dt_table[e].name);
            return SDV_ERANGE;
        }
        if (e == SDV_BROKER_DT_FLOAT)
            s->v.f = (float)d;
        else
            s->v.d = d;
        return SDV_OK;
    }
    if (json_is_string(j) && strlen(json_string_value(j)) == json_string_length(j))
        return float_from_text(e, json_string_value(j), s, err, err_len);
    sdv_msgf(err, err_len, "%s is not a number (%s)", text, dt_table[e].name);
    return SDV_EINVAL;
}

/* A JSON string as a VSS string: bytes without NUL, at most the bound. */
static enum sdv_err string_from_json(const json_t *j, const char **p, size_t *n, char *err,
                                     size_t err_len)
{
    char text[96];

    if (!json_is_string(j)) {
        json_scalar_text(j, text, sizeof(text));
        sdv_msgf(err, err_len, "%s is not a string", text);
        return SDV_EINVAL;
    }
    *p = json_string_value(j);
    *n = json_string_length(j);
    if (memchr(*p, 0, *n) != NULL) {
        sdv_msgf(err, err_len, "a string must not contain NUL");
        return SDV_EINVAL;
    }
    if (*n > SDV_BROKER_STRING_LEN_MAX) {
        sdv_msgf(err, err_len, "string of %zu bytes is longer than %u", *n,
                 SDV_BROKER_STRING_LEN_MAX);
        return SDV_ETOOBIG;
    }
    return SDV_OK;
}

enum sdv_err sdv_broker_value_from_json(enum sdv_broker_datatype dt, const json_t *json,
                                        struct sdv_buf *scratch, struct sdv_broker_value *out,
                                        char *err, size_t err_len)
{
    enum sdv_broker_datatype e;
    json_t *parsed = NULL;
    enum sdv_err rc;
    size_t k, count;

    if (out == NULL || json == NULL || !sdv_broker_datatype_valid((unsigned)dt)) {
        sdv_msgf(err, err_len, "invalid arguments");
        return SDV_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    e = SDV_BROKER_DT_ELEMENT(dt);
    if (!SDV_BROKER_DT_IS_ARRAY(dt)) {
        if (e == SDV_BROKER_DT_STRING) {
            const char *p;
            size_t n;

            if (scratch == NULL) {
                sdv_msgf(err, err_len, "no scratch buffer for a string");
                return SDV_EINVAL;
            }
            rc = string_from_json(json, &p, &n, err, err_len);
            if (rc != SDV_OK)
                return rc;
            sdv_buf_reset(scratch);
            rc = sdv_buf_append(scratch, p, n);
            if (rc != SDV_OK) {
                sdv_msgf(err, err_len, "string of %zu bytes does not fit", n);
                return rc;
            }
            out->type = dt;
            out->count = 1;
            out->len = (uint32_t)n;
            out->v.p = scratch->data != NULL ? (const void *)scratch->data : (const void *)"";
            return SDV_OK;
        }
        rc = scalar_from_json(e, json, out, err, err_len);
        if (rc == SDV_OK)
            rc = scalar_validate(e, out, err, err_len);
        return rc;
    }
    if (scratch == NULL) {
        sdv_msgf(err, err_len, "no scratch buffer for an array");
        return SDV_EINVAL;
    }
    /* VISS implementations send arrays as JSON arrays, some as a string holding one. */
    if (json_is_string(json)) {
        const char *t = json_string_value(json);

        if (sdv_json_parse(t, json_string_length(json), &parsed, NULL, 0) != SDV_OK ||
            !json_is_array(parsed)) {
            json_decref(parsed);
            sdv_msgf(err, err_len, "\"%.64s\" is not an array (%s)", t,
                     sdv_broker_datatype_name(dt));
            return SDV_EINVAL;
        }
        json = parsed;
    }
    if (!json_is_array(json)) {
        char text[96];

        json_scalar_text(json, text, sizeof(text));
        sdv_msgf(err, err_len, "%s is not an array (%s)", text, sdv_broker_datatype_name(dt));
        rc = SDV_EINVAL;
        goto out;
    }
    count = json_array_size(json);
    if (count > SDV_BROKER_ARRAY_LEN_MAX) {
        sdv_msgf(err, err_len, "array of %zu elements is longer than %u", count,
                 SDV_BROKER_ARRAY_LEN_MAX);
        rc = SDV_ETOOBIG;
        goto out;
    }
    sdv_buf_reset(scratch);
    for (k = 0; k < count; k++) {
        const json_t *el = json_array_get(json, k);
        char sub[200];

        if (e == SDV_BROKER_DT_STRING) {
            const char *p;
            size_t n;

            rc = string_from_json(el, &p, &n, sub, sizeof(sub));
            if (rc == SDV_OK)
                rc = sdv_buf_append(scratch, p, n);
            if (rc == SDV_OK)
                rc = sdv_buf_putc(scratch, '\0');
            if (rc == SDV_OK && scratch->len > SDV_BROKER_STRING_LEN_MAX) {
                snprintf(sub, sizeof(sub), "strings of more than %u bytes",
                         SDV_BROKER_STRING_LEN_MAX);
                rc = SDV_ETOOBIG;
            }
            if (rc == SDV_ENOMEM || (rc == SDV_ETOOBIG && scratch->len <= scratch->max &&
                                     strncmp(sub, "strings", 7) != 0))
                snprintf(sub, sizeof(sub), "does not fit the buffer");
        } else {
            struct sdv_broker_value s;
            uint8_t packed[8];

            rc = scalar_from_json(e, el, &s, sub, sizeof(sub));
            if (rc == SDV_OK) {
                elem_write(e, &s, packed);
                rc = sdv_buf_append(scratch, packed, dt_table[e].size);
                if (rc != SDV_OK)
                    snprintf(sub, sizeof(sub), "does not fit the buffer");
            }
        }
        if (rc != SDV_OK) {
            sdv_msgf(err, err_len, "element %zu: %s", k, sub);
            goto out;
        }
    }
    out->type = dt;
    out->count = (uint32_t)count;
    out->len = (uint32_t)scratch->len;
    out->v.p = scratch->data != NULL ? (const void *)scratch->data : (const void *)"";
    rc = SDV_OK;
out:
    json_decref(parsed);
    return rc;
}

enum sdv_err sdv_broker_value_parse(enum sdv_broker_datatype dt, const char *text, size_t len,
                                    struct sdv_buf *scratch, struct sdv_broker_value *out,
                                    char *err, size_t err_len)
{
    json_t *j = NULL;
    enum sdv_err rc;

    if (text == NULL || out == NULL || !sdv_broker_datatype_valid((unsigned)dt)) {
        sdv_msgf(err, err_len, "invalid arguments");
        return SDV_EINVAL;
    }
    if (SDV_BROKER_DT_IS_ARRAY(dt)) {
        char perr[160];

        if (sdv_json_parse(text, len, &j, perr, sizeof(perr)) != SDV_OK) {
            sdv_msgf(err, err_len, "not a JSON array (%s): %s", sdv_broker_datatype_name(dt), perr);
            return SDV_EINVAL;
        }
    } else {
        j = json_stringn_nocheck(text, len);
        if (j == NULL) {
            sdv_msgf(err, err_len, "out of memory");
            return SDV_ENOMEM;
        }
    }
    rc = sdv_broker_value_from_json(dt, j, scratch, out, err, err_len);
    if (rc == SDV_OK && dt == SDV_BROKER_DT_STRING)
        rc = sdv_broker_value_validate(out, err, err_len);
    json_decref(j);
    return rc;
}

/* ---- Output ---- */

static json_t *scalar_to_json(const struct sdv_broker_value *s, bool strings)
{
    enum sdv_broker_datatype e = s->type;
    char text[64];

    if (e == SDV_BROKER_DT_STRING)
        return json_stringn(s->v.p != NULL ? s->v.p : "", s->len);
    if (strings) {
        broker_num_text(s, 0, text, sizeof(text));
        return json_string(text);
    }
    if (e == SDV_BROKER_DT_BOOLEAN)
        return json_boolean(s->v.b);
    if (dt_signed(e))
        return json_integer(s->v.i);
    if (dt_unsigned(e)) {
        if (s->v.u > (uint64_t)INT64_MAX) {
            broker_num_text(s, 0, text, sizeof(text));
            return json_string(text);
        }
        return json_integer((json_int_t)s->v.u);
    }
    if (e == SDV_BROKER_DT_FLOAT) {
        /* The shortest text of the float, as a double, prints as that text. */
        broker_num_text(s, 0, text, sizeof(text));
        return json_real(strtod(text, NULL));
    }
    return json_real(s->v.d);
}

enum sdv_err sdv_broker_value_to_json(const struct sdv_broker_value *v, unsigned flags,
                                      json_t **out)
{
    bool strings = (flags & SDV_BROKER_JSON_STRINGS) != 0;
    const char *pos;
    json_t *arr;
    uint32_t k;

    if (out == NULL || v == NULL || sdv_broker_value_validate(v, NULL, 0) != SDV_OK)
        return SDV_EINVAL;
    *out = NULL;
    if (v->type == SDV_BROKER_DT_NONE) {
        *out = json_null();
        return SDV_OK;
    }
    if (!SDV_BROKER_DT_IS_ARRAY(v->type)) {
        *out = scalar_to_json(v, strings);
        return *out != NULL ? SDV_OK : SDV_ENOMEM;
    }
    arr = json_array();
    if (arr == NULL)
        return SDV_ENOMEM;
    pos = v->v.p;
    for (k = 0; k < v->count; k++) {
        struct sdv_broker_value s;

        broker_value_elem(v, k, &pos, &s);
        if (json_array_append_new(arr, scalar_to_json(&s, strings)) != 0) {
            json_decref(arr);
            return SDV_ENOMEM;
        }
    }
    *out = arr;
    return SDV_OK;
}

enum sdv_err sdv_broker_value_format(const struct sdv_broker_value *v, struct sdv_buf *out)
{
    char text[64];
    enum sdv_err rc;
    const char *pos;
    uint32_t k;

    if (v == NULL || out == NULL || sdv_broker_value_validate(v, NULL, 0) != SDV_OK)
        return SDV_EINVAL;
    if (v->type == SDV_BROKER_DT_NONE)
        return sdv_buf_puts(out, "null");
    if (v->type == SDV_BROKER_DT_STRING)
        return sdv_buf_append(out, v->v.p, v->len);
    if (!SDV_BROKER_DT_IS_ARRAY(v->type)) {
        broker_num_text(v, 0, text, sizeof(text));
        return sdv_buf_puts(out, text);
    }
    rc = sdv_buf_putc(out, '[');
    pos = v->v.p;
    for (k = 0; k < v->count && rc == SDV_OK; k++) {
        struct sdv_broker_value s;

        if (k > 0)
            rc = sdv_buf_putc(out, ',');
        broker_value_elem(v, k, &pos, &s);
        if (rc != SDV_OK)
            break;
        if (s.type == SDV_BROKER_DT_STRING) {
            json_t *js = json_stringn(s.v.p, s.len);
            char *dump = js != NULL ? json_dumps(js, JSON_ENCODE_ANY) : NULL;

            rc = dump != NULL ? sdv_buf_puts(out, dump) : SDV_ENOMEM;
            free(dump);
            json_decref(js);
        } else {
            broker_num_text(&s, 0, text, sizeof(text));
            rc = sdv_buf_puts(out, text);
        }
    }
    if (rc == SDV_OK)
        rc = sdv_buf_putc(out, ']');
    return rc;
}

/* ---- Equality and order ---- */

bool sdv_broker_value_equal(const struct sdv_broker_value *a, const struct sdv_broker_value *b)
{
    enum sdv_broker_datatype e;

    if (a->type != b->type)
        return false;
    e = SDV_BROKER_DT_ELEMENT(a->type);
    if (a->type == SDV_BROKER_DT_NONE)
        return true;
    if (a->type == SDV_BROKER_DT_STRING || SDV_BROKER_DT_IS_ARRAY(a->type)) {
        if (a->len != b->len || a->count != b->count)
            return false;
        if (a->len == 0)
            return true;
        if (e == SDV_BROKER_DT_FLOAT || e == SDV_BROKER_DT_DOUBLE) {
            uint32_t k;

            for (k = 0; k < a->count; k++) {
                struct broker_num x = broker_num_of(a, k), y = broker_num_of(b, k);

                if (broker_num_cmp(&x, &y) != 0)
                    return false;
            }
            return true;
        }
        return memcmp(a->v.p, b->v.p, a->len) == 0;
    }
    if (e == SDV_BROKER_DT_BOOLEAN)
        return a->v.b == b->v.b;
    if (dt_signed(e))
        return a->v.i == b->v.i;
    if (dt_unsigned(e))
        return a->v.u == b->v.u;
    if (e == SDV_BROKER_DT_FLOAT)
        return a->v.f == b->v.f;
    return a->v.d == b->v.d;
}

enum sdv_err sdv_broker_value_compare(const struct sdv_broker_value *a,
                                      const struct sdv_broker_value *b, int *cmp)
{
    if (a == NULL || b == NULL || cmp == NULL)
        return SDV_EINVAL;
    if (SDV_BROKER_DT_IS_ARRAY(a->type) || SDV_BROKER_DT_IS_ARRAY(b->type) ||
        a->type == SDV_BROKER_DT_NONE || b->type == SDV_BROKER_DT_NONE)
        return SDV_EINVAL;
    if (broker_dt_numeric(a->type) && broker_dt_numeric(b->type)) {
        struct broker_num x = broker_num_of(a, 0), y = broker_num_of(b, 0);

        *cmp = broker_num_cmp(&x, &y);
        return SDV_OK;
    }
    if (a->type == SDV_BROKER_DT_BOOLEAN && b->type == SDV_BROKER_DT_BOOLEAN) {
        *cmp = (int)a->v.b - (int)b->v.b;
        return SDV_OK;
    }
    if (a->type == SDV_BROKER_DT_STRING && b->type == SDV_BROKER_DT_STRING) {
        uint32_t n = a->len < b->len ? a->len : b->len;
        int c = n > 0 ? memcmp(a->v.p, b->v.p, n) : 0;

        if (c == 0)
            c = (a->len > b->len) - (a->len < b->len);
        *cmp = (c > 0) - (c < 0);
        return SDV_OK;
    }
    return SDV_EINVAL;
}

/* ---- Owned copies ---- */

enum sdv_err broker_value_dup(const struct sdv_broker_value *v, struct sdv_broker_value *out)
{
    uint32_t n = broker_value_payload_len(v);
    void *p;

    *out = *v;
    if (v->type != SDV_BROKER_DT_STRING && !SDV_BROKER_DT_IS_ARRAY(v->type))
        return SDV_OK;
    p = malloc(n + 1u);
    if (p == NULL)
        return SDV_ENOMEM;
    if (n > 0)
        memcpy(p, v->v.p, n);
    ((char *)p)[n] = '\0';
    out->v.p = p;
    return SDV_OK;
}

void broker_value_free_payload(struct sdv_broker_value *v)
{
    if (v->type == SDV_BROKER_DT_STRING || SDV_BROKER_DT_IS_ARRAY(v->type))
        free((void *)v->v.p);
    v->v.p = NULL;
}
