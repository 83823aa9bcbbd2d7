/*
 * value_text_ref.h - the printf definition of a float's or double's text, the oracle of
 * test_broker_value and fuzz_broker_value: the shortest %.{p}g that strtof/strtod read back as
 * the same value; integral magnitudes below 1e17 in plain digits. The library writes the same
 * bytes without printf (and keeps its own copy of this as the fallback for the values its 128-bit
 * arithmetic cannot decide); the tests keep theirs so that they do not check the library against
 * itself.
 */
#ifndef SDV_TEST_VALUE_TEXT_REF_H
#define SDV_TEST_VALUE_TEXT_REF_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void ref_float_text(double d, bool is_float, char *out, size_t out_len)
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

#endif
