/*
 * common_err.c - the error table. Messages and names are generated from SDV_ERR_MAP so the
 * numbers, names and texts can never drift apart.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <sdv/common.h>

struct err_entry {
    enum sdv_err err;
    const char *name;
    const char *msg;
};

static const struct err_entry err_table[] = {
#define SDV_ERR_ROW_(name, num, msg) {SDV_##name, "SDV_" #name, msg},
        SDV_ERR_MAP(SDV_ERR_ROW_)
#undef SDV_ERR_ROW_
};

static const struct err_entry *err_lookup(enum sdv_err err)
{
    size_t i;

    for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++) {
        if (err_table[i].err == err)
            return &err_table[i];
    }
    return NULL;
}

const char *sdv_strerror(enum sdv_err err)
{
    const struct err_entry *e = err_lookup(err);

    return e != NULL ? e->msg : "unknown error";
}

const char *sdv_errname(enum sdv_err err)
{
    const struct err_entry *e = err_lookup(err);

    return e != NULL ? e->name : "SDV_EUNKNOWN";
}

enum sdv_err sdv_err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return SDV_OK;
    case ENOMEM:
        return SDV_ENOMEM;
    case EINVAL:
    case EBADF:
    case EFAULT:
        return SDV_EINVAL;
    case ENOENT:
    case ENOTDIR:
        return SDV_ENOENT;
    case EEXIST:
    case ENOTEMPTY:
        return SDV_EEXIST;
    case EFBIG:
    case ENAMETOOLONG:
    case EOVERFLOW:
    case E2BIG:
    case EMSGSIZE:
        return SDV_ETOOBIG;
    case ENOSYS:
    case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
    case EOPNOTSUPP:
#endif
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
        return SDV_EUNSUPPORTED;
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case EPIPE:
    case EADDRINUSE:
    case EADDRNOTAVAIL:
        return SDV_ENET;
    case ELOOP:
        return SDV_ELIMIT;
    default:
        /* EACCES, EPERM, ENOSPC, EROFS, EIO and the rest: the operation failed at the OS. */
        return SDV_EIO;
    }
}

void sdv_msgf(char *out, size_t out_len, const char *fmt, ...)
{
    va_list ap;

    if (out == NULL || out_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(out, out_len, fmt, ap);
    va_end(ap);
}
