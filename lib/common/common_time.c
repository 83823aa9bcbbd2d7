/*
 * common_time.c - RFC 3339 timestamps. Calendar arithmetic is done here on proleptic Gregorian
 * days (days-from-civil) instead of timegm()/gmtime(), so the result never depends on TZ, on
 * the C library or on the width of time_t.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <sdv/common.h>

#define SECS_PER_DAY 86400

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. Years start in March so
 * that the leap day is the last day of the shifted year; an era is 400 years = 146097 days. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y_out, unsigned *m_out, unsigned *d_out)
{
    int64_t era, y;
    unsigned doe, yoe, doy, mp, m;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d_out = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    *m_out = m;
    *y_out = y + (m <= 2);
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    assert(m >= 1 && m <= 12);
    return m == 2 && leap ? 29u : mdays[m - 1];
}

/* Reads exactly n decimal digits from *s and advances it. Returns -1 on a non-digit. */
static int read_digits(const char **s, unsigned n, unsigned *out)
{
    unsigned v = 0, i;

    for (i = 0; i < n; i++) {
        char c = (*s)[i];

        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (unsigned)(c - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

/*
 * Accepts the RFC 3339 date-time production: full-date "T" partial-time time-offset, with "T"
 * and "Z" in either case (RFC 3339 section 5.6). The leap second 60 is refused: POSIX time has
 * no representation for it, and TUF producers never emit one.
 */
enum sdv_err sdv_time_parse(const char *s, int64_t *out)
{
    unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t t, offset = 0;

    if (s == NULL || out == NULL)
        return SDV_EINVAL;
    if (read_digits(&s, 4, &y) || *s++ != '-' || read_digits(&s, 2, &mo) || *s++ != '-' ||
        read_digits(&s, 2, &d))
        return SDV_EPARSE;
    if (*s != 'T' && *s != 't')
        return SDV_EPARSE;
    s++;
    if (read_digits(&s, 2, &h) || *s++ != ':' || read_digits(&s, 2, &mi) || *s++ != ':' ||
        read_digits(&s, 2, &sec))
        return SDV_EPARSE;
    if (*s == '.') {
        /* Fractional seconds are truncated; at least one digit is required. */
        s++;
        if (*s < '0' || *s > '9')
            return SDV_EPARSE;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s == '-' ? -1 : 1;

        s++;
        if (read_digits(&s, 2, &oh) || *s++ != ':' || read_digits(&s, 2, &om))
            return SDV_EPARSE;
        if (oh > 23 || om > 59)
            return SDV_EPARSE;
        offset = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return SDV_EPARSE;
    }
    if (*s != '\0')
        return SDV_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return SDV_EPARSE;
    t = days_from_civil(y, mo, d) * SECS_PER_DAY + (int64_t)(h * 3600 + mi * 60 + sec);
    /* A local time of +hh:mm is that much ahead of UTC. */
    *out = t - offset;
    return SDV_OK;
}

enum sdv_err sdv_time_format(int64_t t, char *out)
{
    int64_t days, secs, y;
    unsigned m, d;

    if (out == NULL)
        return SDV_EINVAL;
    /* Floor division so that times before 1970 land on the right day. */
    days = t / SECS_PER_DAY;
    secs = t % SECS_PER_DAY;
    if (secs < 0) {
        secs += SECS_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    /* RFC 3339 has four-digit years only. */
    if (y < 0 || y > 9999) {
        out[0] = '\0';
        return SDV_EINVAL;
    }
    snprintf(out, SDV_TIME_STR_LEN, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)y, m, d,
             (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
    return SDV_OK;
}
