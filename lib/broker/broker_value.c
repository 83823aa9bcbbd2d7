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
 * integral magnitudes below 1e17 ("100", not "1e+02"). This is the reference definition of the
 * text (printf and strtod); fmt_float below produces the same bytes without them and falls back
 * here for the few values it cannot decide with 128-bit integers. */
static void float_text_printf(double d, bool is_float, char *out, size_t out_len)
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

/*
 * Fast exact formatting. Notifications format every published value, and printf's %g with
 * strtod's check was most of the daemon's time per event. The same text is derived with integer
 * arithmetic: x = m * 2^e exactly; its decimal digits come from the integer part and from the
 * binary fraction multiplied by ten digit by digit; each candidate precision p is rounded the
 * way printf rounds (to nearest, ties to even) and accepted when it lies inside the interval of
 * decimals that strtod/strtof round back to x (half an ulp either side, a quarter below a power
 * of two, ends included when m is even). Anything that does not fit 128 bits (magnitudes below
 * about 2^-70 or above 2^127, or long candidates of tiny numbers) returns false and takes the
 * printf path, so the output is the same bytes for every value.
 */
__extension__ typedef unsigned __int128 fmt_u128;

#define FMT_DIGITS  19 /* 17 significant digits, the rounding digit and one more */
#define FMT_OUT_MIN 32

struct fmt_dec {
    uint8_t d[FMT_DIGITS]; /* leading significant digits of |x| */
    int n;                 /* digits held */
    int exp10;             /* decimal exponent of d[0] */
    bool sticky;           /* nonzero digits beyond d[n - 1] */
};

/* Decimal digits of u, most significant first, into p (40 bytes); returns their count. */
static int fmt_u128_digits(fmt_u128 u, char *p)
{
    char tmp[40];
    int n = 0, i;

    while (u > UINT64_MAX) {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    }
    {
        uint64_t v = (uint64_t)u;

        do {
            tmp[n++] = (char)('0' + (int)(v % 10));
            v /= 10;
        } while (v != 0);
    }
    for (i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* Writes the decimal text of u (no NUL) at p; returns its length (at most 20). */
static size_t fmt_u64(uint64_t u, char *p)
{
    char tmp[20];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    for (i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static int fmt_bitlen(fmt_u128 u)
{
    uint64_t hi = (uint64_t)(u >> 64), lo = (uint64_t)u;

    if (hi != 0)
        return 128 - __builtin_clzll(hi);
    return lo != 0 ? 64 - __builtin_clzll(lo) : 0;
}

/* *u <<= k without losing bits; false when the result does not fit. */
static bool fmt_shl(fmt_u128 *u, int k)
{
    if (*u == 0)
        return true;
    if (k >= 128 || fmt_bitlen(*u) + k > 128)
        return false;
    *u <<= k;
    return true;
}

static bool fmt_mul(fmt_u128 *u, fmt_u128 k)
{
    return !__builtin_mul_overflow(*u, k, u);
}

static bool fmt_pow10(int k, fmt_u128 *out)
{
    fmt_u128 r = 1;

    if (k < 0 || k > 38)
        return false;
    while (k-- > 0)
        r *= 10;
    *out = r;
    return true;
}

/* The leading digits of m * 2^e (m > 0); false when it does not fit the arithmetic. */
static bool fmt_digits(uint64_t m, int e, struct fmt_dec *dec, bool *integral, fmt_u128 *ipart)
{
    fmt_u128 ip, frac = 0, mask = 0;
    int s = 0;

    memset(dec, 0, sizeof(*dec));
    if (e >= 0) {
        ip = m;
        if (!fmt_shl(&ip, e))
            return false;
    } else {
        s = -e;
        if (s > 124)
            return false;
        mask = ((fmt_u128)1 << s) - 1;
        ip = s >= 64 ? 0 : (fmt_u128)(m >> s);
        frac = (fmt_u128)m & mask;
    }
    *integral = frac == 0;
    *ipart = ip;
    if (ip != 0) {
        char text[40];
        int len = fmt_u128_digits(ip, text), i;

        dec->exp10 = len - 1;
        for (i = 0; i < len; i++) {
            if (dec->n < FMT_DIGITS)
                dec->d[dec->n++] = (uint8_t)(text[i] - '0');
            else if (text[i] != '0')
                dec->sticky = true;
        }
    } else {
        dec->exp10 = -1;
    }
    /* frac / 2^s has at most s fraction digits; leading zeros are fewer than s. */
    while (frac != 0 && dec->n < FMT_DIGITS) {
        uint8_t digit;

        frac *= 10;
        digit = (uint8_t)(frac >> s);
        frac &= mask;
        if (dec->n == 0 && digit == 0)
            dec->exp10--;
        else
            dec->d[dec->n++] = digit;
    }
    if (frac != 0)
        dec->sticky = true;
    return true;
}

/* Rounds dec to p digits (to nearest, ties to even) into *c and *exp10. */
static void fmt_round(const struct fmt_dec *dec, int p, uint64_t *c, int *exp10)
{
    uint64_t v = 0, lim = 1;
    int i, next;
    bool rest = dec->sticky;

    for (i = 0; i < p; i++) {
        v = v * 10 + (i < dec->n ? dec->d[i] : 0);
        lim *= 10;
    }
    next = p < dec->n ? dec->d[p] : 0;
    for (i = p + 1; i < dec->n && !rest; i++)
        rest = dec->d[i] != 0;
    if (next > 5 || (next == 5 && (rest || (v & 1) != 0)))
        v++;
    *exp10 = dec->exp10;
    if (v == lim) {
        v = lim / 10;
        (*exp10)++;
    }
    *c = v;
}

/* Whether c * 10^q reads back as m * 2^e: 1 yes, 0 no, -1 undecided (too large). */
static int fmt_reads_back(uint64_t c, int q, uint64_t m, int e, bool lower_closer)
{
    fmt_u128 lhs = c, r = 1, hi, lo, p10;

    /* Units of 2^(e-2): x is 4m, the midpoints to its neighbours 4m+2 and 4m-2 (4m-1). */
    if (q > 0) {
        if (!fmt_pow10(q, &p10) || !fmt_mul(&lhs, p10))
            return -1;
    } else if (q < 0) {
        if (!fmt_pow10(-q, &r))
            return -1;
    }
    if (2 - e > 0) {
        if (!fmt_shl(&lhs, 2 - e))
            return -1;
    } else if (e - 2 > 0) {
        if (!fmt_shl(&r, e - 2))
            return -1;
    }
    hi = (fmt_u128)m * 4 + 2;
    lo = (fmt_u128)m * 4 - (lower_closer ? 1 : 2);
    if (!fmt_mul(&hi, r) || !fmt_mul(&lo, r))
        return -1;
    if (lhs > lo && lhs < hi)
        return 1;
    return (lhs == lo || lhs == hi) && (m & 1) == 0;
}

/* printf's "%.{p}g" of c * 10^(exp10 - p + 1) (c has p digits) at out; returns the length. */
static size_t fmt_g(bool neg, uint64_t c, int p, int exp10, char *out)
{
    char dg[20];
    size_t n = 0;
    int nd = (int)fmt_u64(c, dg), i;

    while (nd > 1 && dg[nd - 1] == '0')
        nd--; /* %g drops trailing zeros of the fraction */
    if (neg)
        out[n++] = '-';
    if (exp10 < -4 || exp10 >= p) {
        unsigned x = (unsigned)(exp10 < 0 ? -exp10 : exp10);

        out[n++] = dg[0];
        if (nd > 1) {
            out[n++] = '.';
            for (i = 1; i < nd; i++)
                out[n++] = dg[i];
        }
        out[n++] = 'e';
        out[n++] = exp10 < 0 ? '-' : '+';
        if (x < 10)
            out[n++] = '0';
        n += fmt_u64(x, out + n);
    } else if (exp10 >= 0) {
        for (i = 0; i <= exp10; i++)
            out[n++] = i < nd ? dg[i] : '0';
        if (nd > exp10 + 1) {
            out[n++] = '.';
            for (i = exp10 + 1; i < nd; i++)
                out[n++] = dg[i];
        }
    } else {
        out[n++] = '0';
        out[n++] = '.';
        for (i = 0; i < -exp10 - 1; i++)
            out[n++] = '0';
        for (i = 0; i < nd; i++)
            out[n++] = dg[i];
    }
    out[n] = '\0';
    return n;
}

/* float_text_printf's bytes without printf; false when undecided (then nothing is written). */
static bool fmt_float(double d, bool is_float, char *out, size_t out_len)
{
    uint64_t m, frac_bits;
    unsigned be;
    int e, p;
    bool neg, lower_closer, integral;
    struct fmt_dec dec;
    fmt_u128 ipart;

    if (out_len < FMT_OUT_MIN || !isfinite(d))
        return false;
    if (is_float) {
        float f = (float)d;
        uint32_t b32;

        memcpy(&b32, &f, 4);
        neg = (b32 >> 31) != 0;
        be = (b32 >> 23) & 0xffu;
        frac_bits = b32 & 0x7fffffu;
        m = be == 0 ? frac_bits : frac_bits | 0x800000u;
        e = be == 0 ? -149 : (int)be - 150;
    } else {
        uint64_t bits;

        memcpy(&bits, &d, 8);
        neg = (bits >> 63) != 0;
        be = (unsigned)(bits >> 52) & 0x7ffu;
        frac_bits = bits & 0xfffffffffffffull;
        m = be == 0 ? frac_bits : frac_bits | (1ull << 52);
        e = be == 0 ? -1074 : (int)be - 1075;
    }
    if (m == 0) {
        memcpy(out, neg ? "-0" : "0", neg ? 3 : 2);
        return true;
    }
    lower_closer = frac_bits == 0 && be > 1;
    if (!fmt_digits(m, e, &dec, &integral, &ipart))
        return false;
    for (p = 1; p <= 17; p++) {
        uint64_t c;
        int x10, ok;

        fmt_round(&dec, p, &c, &x10);
        ok = fmt_reads_back(c, x10 - (p - 1), m, e, lower_closer);
        if (ok < 0)
            return false;
        if (ok == 0)
            continue;
        if ((x10 < -4 || x10 >= p) && fabs(d) >= 1.0 && fabs(d) < 1e17) {
            /* Integral magnitudes below 1e17 print plainly: all their digits. */
            char text[40];
            int len = fmt_u128_digits(ipart, text);
            size_t n = 0;

            if (!integral || len <= p)
                return false;
            if (neg)
                out[n++] = '-';
            memcpy(out + n, text, (size_t)len);
            out[n + (size_t)len] = '\0';
            return true;
        }
        fmt_g(neg, c, p, x10, out);
        return true;
    }
    return false;
}

static void float_text(double d, bool is_float, char *out, size_t out_len)
{
    if (!fmt_float(d, is_float, out, out_len))
        float_text_printf(d, is_float, out, out_len);
}

/* Signed decimal of v at out (out_len >= 21); plain integers need no printf. */
static void int_text(bool neg, uint64_t mag, char *out, size_t out_len)
{
    size_t n = 0;

    if (out_len < 22) {
        snprintf(out, out_len, "%s%llu", neg ? "-" : "", (unsigned long long)mag);
        return;
    }
    if (neg)
        out[n++] = '-';
    n += fmt_u64(mag, out + n);
    out[n] = '\0';
}

void broker_num_text(const struct sdv_broker_value *v, uint32_t k, char *out, size_t out_len)
{
    struct sdv_broker_value s;
    enum sdv_broker_datatype e = SDV_BROKER_DT_ELEMENT(v->type);

    scalar_at(v, k, &s);
    if (e == SDV_BROKER_DT_BOOLEAN)
        snprintf(out, out_len, "%s", s.v.b ? "true" : "false");
    else if (dt_signed(e))
        int_text(s.v.i < 0, s.v.i < 0 ? 0 - (uint64_t)s.v.i : (uint64_t)s.v.i, out, out_len);
    else if (dt_unsigned(e))
        int_text(false, s.v.u, out, out_len);
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
            rc = sdv_broker_json_write_string(s.v.p, s.len, out);
        } else {
            broker_num_text(&s, 0, text, sizeof(text));
            rc = sdv_buf_puts(out, text);
        }
    }
    if (rc == SDV_OK)
        rc = sdv_buf_putc(out, ']');
    return rc;
}

enum sdv_err sdv_broker_json_write_string(const char *s, size_t n, struct sdv_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    size_t i, run = 0;
    enum sdv_err rc;

    rc = sdv_buf_putc(out, '"');
    for (i = 0; i < n && rc == SDV_OK; i++) {
        unsigned char c = p[i];
        char esc[6];
        size_t len = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        /* The plain run before the byte that needs escaping, then its escape. */
        rc = sdv_buf_append(out, p + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15u];
            len = 6;
            break;
        }
        if (rc == SDV_OK)
            rc = sdv_buf_append(out, esc, len);
    }
    if (rc == SDV_OK)
        rc = sdv_buf_append(out, p + run, n - run);
    if (rc == SDV_OK)
        rc = sdv_buf_putc(out, '"');
    return rc;
}

/* Appends one scalar (not NONE) in the VISS form: a JSON string. */
static enum sdv_err scalar_write_json(const struct sdv_broker_value *s, struct sdv_buf *out)
{
    char text[64];

    if (s->type == SDV_BROKER_DT_STRING)
        return sdv_broker_json_write_string(s->v.p != NULL ? s->v.p : "", s->len, out);
    broker_num_text(s, 0, text + 1, sizeof(text) - 2);
    {
        size_t n = strlen(text + 1);

        /* Number and boolean texts need no escaping. */
        text[0] = '"';
        text[n + 1] = '"';
        return sdv_buf_append(out, text, n + 2);
    }
}

enum sdv_err sdv_broker_value_write_json(const struct sdv_broker_value *v, unsigned flags,
                                         struct sdv_buf *out)
{
    enum sdv_err rc;
    const char *pos;
    uint32_t k;

    if (v == NULL || out == NULL || sdv_broker_value_validate(v, NULL, 0) != SDV_OK)
        return SDV_EINVAL;
    if ((flags & SDV_BROKER_JSON_STRINGS) == 0) {
        /* The native form prints reals the way jansson does: let jansson print it. */
        json_t *j = NULL;
        char *text;

        rc = sdv_broker_value_to_json(v, flags, &j);
        if (rc != SDV_OK)
            return rc;
        text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(j);
        if (text == NULL)
            return SDV_ENOMEM;
        rc = sdv_buf_puts(out, text);
        free(text);
        return rc;
    }
    if (v->type == SDV_BROKER_DT_NONE)
        return sdv_buf_append(out, "null", 4);
    if (!SDV_BROKER_DT_IS_ARRAY(v->type))
        return scalar_write_json(v, out);
    rc = sdv_buf_putc(out, '[');
    pos = v->v.p;
    for (k = 0; k < v->count && rc == SDV_OK; k++) {
        struct sdv_broker_value s;

        broker_value_elem(v, k, &pos, &s);
        if (k > 0)
            rc = sdv_buf_putc(out, ',');
        if (rc == SDV_OK)
            rc = scalar_write_json(&s, out);
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
