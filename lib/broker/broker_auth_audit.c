/*
 * broker_auth_audit.c - the audit log of access decisions: JSON lines chained by SHA-256 (each
 * line carries the hash of the one before), written through a callback or appended to a file,
 * and a verifier that walks a file in bounded memory. Every field is sanitised to printable
 * ASCII and bounded, so a line always fits in SDV_AUTH_AUDIT_LINE_LEN_MAX.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdv/broker_auth.h>
#include <sdv/crypto.h>

#include "broker_auth_int.h"

#define AUDIT_HASH_LEN 32u
/* Longest text of any field once sanitised: with the other fields a line stays far below
 * SDV_AUTH_AUDIT_LINE_LEN_MAX even if every character were escaped by the JSON writer. */
#define AUDIT_FIELD_LEN_MAX 256u

struct sdv_auth_audit {
    pthread_mutex_t lock;
    sdv_auth_audit_write_fn fn; /* NULL: fd */
    void *ud;
    int fd;
    int sync_each;
    off_t size; /* bytes of complete lines in the file: a failed write is cut back to it */
    uint64_t next_seq;
    uint8_t prev[AUDIT_HASH_LEN];
};

static enum sdv_err audit_alloc(struct sdv_auth_audit **out)
{
    struct sdv_auth_audit *au = calloc(1, sizeof(*au));

    if (au == NULL)
        return SDV_ENOMEM;
    pthread_mutex_init(&au->lock, NULL);
    au->fd = -1;
    au->next_seq = 1;
    *out = au;
    return SDV_OK;
}

enum sdv_err sdv_auth_audit_create(sdv_auth_audit_write_fn fn, void *ud,
                                   struct sdv_auth_audit **out)
{
    enum sdv_err err;

    if (fn == NULL || out == NULL)
        return SDV_EINVAL;
    err = audit_alloc(out);
    if (err == SDV_OK) {
        (*out)->fn = fn;
        (*out)->ud = ud;
    }
    return err;
}

/* Continues the chain of an existing file: cuts a torn last line, then takes seq and hash
 * from the last complete line. */
static enum sdv_err audit_resume(struct sdv_auth_audit *au, char *err, size_t err_len)
{
    char tail[SDV_AUTH_AUDIT_LINE_LEN_MAX + 2];
    const char *line;
    size_t len;
    uint64_t size;
    json_t *obj = NULL, *seq;
    enum sdv_err e = sdv_fs_last_line(au->fd, tail, sizeof(tail), &line, &len, &size);

    if (e == SDV_ETOOBIG) {
        sdv_msgf(err, err_len, "audit log: last line longer than %u bytes",
                 SDV_AUTH_AUDIT_LINE_LEN_MAX);
        return SDV_EPARSE;
    }
    if (e != SDV_OK)
        return e;
    au->size = (off_t)size;
    if (line == NULL)
        return SDV_OK;
    if (sdv_json_parse(line, len, &obj, NULL, 0) != SDV_OK ||
        !json_is_integer(seq = json_object_get(obj, "seq")) || json_integer_value(seq) < 1) {
        json_decref(obj);
        sdv_msgf(err, err_len, "audit log: last line is not an audit record");
        return SDV_EPARSE;
    }
    au->next_seq = (uint64_t)json_integer_value(seq) + 1;
    json_decref(obj);
    return sdv_hash_buf(SDV_HASH_SHA256, line, len + 1, au->prev); /* with its newline */
}

enum sdv_err sdv_auth_audit_open(const char *path, int sync_each, struct sdv_auth_audit **out,
                                 char *err, size_t err_len)
{
    struct sdv_auth_audit *au = NULL;
    enum sdv_err e;

    if (path == NULL || out == NULL)
        return SDV_EINVAL;
    *out = NULL;
    sdv_msgf(err, err_len, "%s", "");
    e = audit_alloc(&au);
    if (e != SDV_OK) {
        sdv_msgf(err, err_len, "out of memory");
        return e;
    }
    au->sync_each = sync_each != 0;
    au->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (au->fd < 0) {
        e = sdv_err_from_errno(errno);
        sdv_msgf(err, err_len, "audit log %s: %s", path, strerror(errno));
        sdv_auth_audit_destroy(au);
        return e;
    }
    e = audit_resume(au, err, err_len);
    if (e != SDV_OK) {
        if (err != NULL && err_len > 0 && err[0] == '\0')
            sdv_msgf(err, err_len, "audit log %s: %s", path, sdv_strerror(e));
        sdv_auth_audit_destroy(au);
        return e;
    }
    *out = au;
    return SDV_OK;
}

void sdv_auth_audit_destroy(struct sdv_auth_audit *au)
{
    if (au == NULL)
        return;
    if (au->fd >= 0)
        close(au->fd);
    pthread_mutex_destroy(&au->lock);
    free(au);
}

/* Printable ASCII only (other bytes become '?'), at most AUDIT_FIELD_LEN_MAX characters. */
static json_t *audit_str(const char *s)
{
    char buf[AUDIT_FIELD_LEN_MAX + 1];
    size_t o = 0;

    for (; s != NULL && *s != '\0' && o < AUDIT_FIELD_LEN_MAX; s++)
        buf[o++] = *s >= 0x20 && *s < 0x7f ? *s : '?';
    buf[o] = '\0';
    return json_string(buf);
}

/* Builds the line (with its newline) for rec at seq with prev into a malloc()ed string. */
static char *audit_line(const struct sdv_auth_audit_record *rec, uint64_t seq, const uint8_t *prev,
                        size_t *len)
{
    char when[SDV_TIME_STR_LEN], prev_hex[2 * AUDIT_HASH_LEN + 1], *s;
    int ok = rec->status == SDV_AUTH_OK;
    json_t *o;
    size_t n;

    if (sdv_time_format(rec->time_ms / 1000, when) != SDV_OK)
        when[0] = '\0';
    sdv_hex_encode(prev, AUDIT_HASH_LEN, prev_hex);
    o = json_pack("{s:I, s:s, s:I, s:o, s:o, s:o, s:o, s:s, s:i, s:s, s:o, s:I, s:s}", "seq",
                  (json_int_t)seq, "time", when, "time_ms", (json_int_t)rec->time_ms, "sub",
                  audit_str(rec->subject), "client", audit_str(rec->client), "action",
                  audit_str(rec->action), "path", audit_str(rec->path), "result",
                  ok ? "allowed" : "denied", "status", sdv_auth_status_http(rec->status), "error",
                  ok ? "" : sdv_auth_status_viss(rec->status), "reason", audit_str(rec->reason),
                  "suppressed", (json_int_t)rec->suppressed, "prev", prev_hex);
    if (o == NULL)
        return NULL;
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL)
        return NULL;
    n = strlen(s);
    if (n + 1 > SDV_AUTH_AUDIT_LINE_LEN_MAX) {
        free(s);
        return NULL;
    }
    /* json_dumps() allocated n + 1 bytes; make room for the newline. */
    {
        char *t = realloc(s, n + 2);

        if (t == NULL) {
            free(s);
            return NULL;
        }
        s = t;
    }
    s[n] = '\n';
    s[n + 1] = '\0';
    *len = n + 1;
    return s;
}

enum sdv_err sdv_auth_audit_write(struct sdv_auth_audit *au,
                                  const struct sdv_auth_audit_record *rec)
{
    uint8_t hash[AUDIT_HASH_LEN];
    enum sdv_err err;
    size_t len = 0;
    char *line;

    if (au == NULL || rec == NULL)
        return SDV_EINVAL;
    pthread_mutex_lock(&au->lock);
    line = audit_line(rec, au->next_seq, au->prev, &len);
    if (line == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    err = sdv_hash_buf(SDV_HASH_SHA256, line, len, hash);
    if (err != SDV_OK)
        goto out;
    if (au->fn != NULL) {
        err = au->fn(au->ud, line, len);
    } else {
        /* O_APPEND: one write() per line, so concurrent readers never see two lines mixed. */
        err = sdv_fs_write_all(au->fd, line, len);
        if (err == SDV_OK && au->sync_each && fdatasync(au->fd) != 0)
            err = sdv_err_from_errno(errno);
        /* A partly written line would break the chain for every later line: cut it off. */
        if (err != SDV_OK && ftruncate(au->fd, au->size) != 0)
            err = SDV_EIO;
        if (err == SDV_OK)
            au->size += (off_t)len;
    }
    if (err == SDV_OK) {
        memcpy(au->prev, hash, sizeof(hash));
        au->next_seq++;
    }
out:
    pthread_mutex_unlock(&au->lock);
    free(line);
    return err;
}

/* Checks one line (without its newline) against the expected seq and prev hash. */
static enum sdv_err verify_line(const char *line, size_t len, uint64_t seq, const uint8_t *prev,
                                char *err, size_t err_len)
{
    char prev_hex[2 * AUDIT_HASH_LEN + 1], jerr[96], shown[96];
    const char *result;
    json_t *obj = NULL, *v;
    enum sdv_err e = SDV_OK;

    if (sdv_json_parse(line, len, &obj, jerr, sizeof(jerr)) != SDV_OK) {
        sdv_msgf(err, err_len, "line %llu: not JSON (%s)", (unsigned long long)seq,
                 auth_printable(jerr, SIZE_MAX, shown, sizeof(shown)));
        return SDV_EPARSE;
    }
    result = json_string_value(json_object_get(obj, "result"));
    if (!json_is_object(obj) || result == NULL ||
        (strcmp(result, "allowed") != 0 && strcmp(result, "denied") != 0) ||
        !json_is_integer(json_object_get(obj, "time_ms")) ||
        !json_is_string(json_object_get(obj, "action")) ||
        !json_is_string(json_object_get(obj, "path"))) {
        sdv_msgf(err, err_len, "line %llu: not an audit record", (unsigned long long)seq);
        e = SDV_EPARSE;
        goto out;
    }
    v = json_object_get(obj, "seq");
    if (!json_is_integer(v) || (uint64_t)json_integer_value(v) != seq) {
        sdv_msgf(err, err_len, "line %llu: seq is not %llu (lines removed or reordered)",
                 (unsigned long long)seq, (unsigned long long)seq);
        e = SDV_EHASH;
        goto out;
    }
    sdv_hex_encode(prev, AUDIT_HASH_LEN, prev_hex);
    v = json_object_get(obj, "prev");
    if (!json_is_string(v) || strcmp(json_string_value(v), prev_hex) != 0) {
        sdv_msgf(err, err_len,
                 "line %llu: prev is not the SHA-256 of line %llu (a line was modified)",
                 (unsigned long long)seq, (unsigned long long)(seq - 1));
        e = SDV_EHASH;
    }
out:
    json_decref(obj);
    return e;
}

enum sdv_err sdv_auth_audit_verify_file(const char *path, uint64_t *lines, char *err,
                                        size_t err_len)
{
    char *buf = NULL;
    uint8_t prev[AUDIT_HASH_LEN] = {0};
    uint64_t seq = 1;
    enum sdv_err e = SDV_OK;
    size_t n = 0;
    FILE *f;
    int c;

    if (lines != NULL)
        *lines = 0;
    if (path == NULL)
        return SDV_EINVAL;
    f = fopen(path, "rb");
    if (f == NULL) {
        e = sdv_err_from_errno(errno);
        sdv_msgf(err, err_len, "%s: %s", path, strerror(errno));
        return e;
    }
    buf = malloc(SDV_AUTH_AUDIT_LINE_LEN_MAX);
    if (buf == NULL) {
        fclose(f);
        return SDV_ENOMEM;
    }
    while ((c = getc(f)) != EOF) {
        if (c != '\n') {
            if (n + 1 >= SDV_AUTH_AUDIT_LINE_LEN_MAX) {
                sdv_msgf(err, err_len, "line %llu: longer than %u bytes", (unsigned long long)seq,
                         SDV_AUTH_AUDIT_LINE_LEN_MAX);
                e = SDV_EPARSE;
                goto out;
            }
            buf[n++] = (char)c;
            continue;
        }
        e = verify_line(buf, n, seq, prev, err, err_len);
        if (e != SDV_OK)
            goto out;
        buf[n++] = '\n';
        e = sdv_hash_buf(SDV_HASH_SHA256, buf, n, prev);
        if (e != SDV_OK)
            goto out;
        if (lines != NULL)
            *lines = seq;
        seq++;
        n = 0;
    }
    if (ferror(f)) {
        sdv_msgf(err, err_len, "%s: read error", path);
        e = SDV_EIO;
    } else if (n > 0) {
        sdv_msgf(err, err_len, "line %llu: torn (no newline at the end of the file)",
                 (unsigned long long)seq);
        e = SDV_EPARSE;
    }
out:
    free(buf);
    fclose(f);
    return e;
}
