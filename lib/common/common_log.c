/*
 * common_log.c - formats a message and hands it to the program's sink. The library never
 * decides where log lines go (STYLE: logging comes through the context).
 */
#include <stdio.h>
#include <string.h>

#include <sdv/common.h>

/* Longer messages are cut and end in "..."; one log line is never a place for bulk data. */
#define LOG_MSG_LEN_MAX 1024

void sdv_logf(const struct sdv_log *log, enum sdv_log_level level, const char *fmt, ...)
{
    char msg[LOG_MSG_LEN_MAX];
    va_list ap;
    int n;

    if (log == NULL || log->fn == NULL || level > log->level)
        return;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        /* An encoding error in the format: say so rather than dropping the event. */
        memcpy(msg, "(unformattable log message)", sizeof("(unformattable log message)"));
    } else if ((size_t)n >= sizeof(msg)) {
        memcpy(msg + sizeof(msg) - 4, "...", 4);
    }
    log->fn(log->ud, level, msg);
}
