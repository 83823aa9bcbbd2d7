/*
 * install_log.c - the append-only, hash-chained install log (one JSON record per line, each
 * carrying the SHA-256 of the previous line). Appends are one write() of a whole line followed
 * by fsync; a line cut by a power loss has no newline and is cut off before the next append.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "install_int.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static void line_hash(const void *line, size_t len, char out[65])
{
    uint8_t d[32];

    if (sdv_hash_buf(SDV_HASH_SHA256, line, len, d) != SDV_OK)
        memset(d, 0, sizeof(d));
    sdv_hex_encode(d, sizeof(d), out);
}

/* Finds the last complete line of the open log (cutting a torn tail off first) and returns its
 * hash, seq and tx. An empty log gives the zero hash and seq 0. */
static enum sdv_err log_tail(int fd, const char *path, char prev[65], uint64_t *seq, uint64_t *tx,
                             char *err, size_t err_len)
{
    const size_t window = 2u * SDV_INSTALL_LOG_RECORD_LEN_MAX + 2u;
    const char *line;
    size_t len;
    uint64_t size;
    char *buf;
    json_t *rec = NULL;
    enum sdv_err e;

    install_copy(prev, 65, ZERO_HASH);
    *seq = 0;
    *tx = 0;
    buf = malloc(window);
    if (buf == NULL)
        return SDV_ENOMEM;
    e = sdv_fs_last_line(fd, buf, window, &line, &len, &size);
    if (e == SDV_ETOOBIG) {
        sdv_msgf(err, err_len, "%s: last record longer than %u bytes", path,
                 SDV_INSTALL_LOG_RECORD_LEN_MAX);
        e = SDV_EPARSE;
    }
    if (e != SDV_OK || line == NULL)
        goto out;
    line_hash(line, len, prev);
    e = sdv_json_parse(line, len, &rec, err, err_len);
    if (e == SDV_OK) {
        json_t *s = json_object_get(rec, "seq"), *t = json_object_get(rec, "tx");
        if (!json_is_integer(s) || json_integer_value(s) < 1) {
            sdv_msgf(err, err_len, "%s: last record has no seq", path);
            e = SDV_EPARSE;
        } else {
            *seq = (uint64_t)json_integer_value(s);
            *tx = json_is_integer(t) ? (uint64_t)json_integer_value(t) : 0;
        }
    }
out:
    json_decref(rec);
    free(buf);
    return e;
}

/* Command output may hold any bytes; a record holds printable ASCII. */
static json_t *clean_string(const char *s)
{
    char buf[SDV_INSTALL_REASON_LEN_MAX + 1];
    size_t n = 0;

    for (; *s != '\0' && n < sizeof(buf) - 1; s++)
        buf[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : (*s == '\n' ? ' ' : '?');
    buf[n] = '\0';
    return json_string(buf);
}

enum sdv_err install_log_append(const char *path, const char *ecu, int64_t now,
                                const struct sdv_install_config *cfg,
                                const struct install_state *st, char *err, size_t err_len)
{
    char prev[65], when[SDV_TIME_STR_LEN], slots[SDV_INSTALL_GROUPS_MAX * 70] = "";
    uint64_t seq, last_tx;
    struct stat sb;
    int created = stat(path, &sb) != 0;
    json_t *rec = NULL, *pre = NULL;
    struct sdv_buf b;
    enum sdv_err e;
    int fd, bad = 0;

    fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        sdv_msgf(err, err_len, "%s: %s", path, strerror(errno));
        return sdv_err_from_errno(errno);
    }
    sdv_buf_init(&b, SDV_INSTALL_LOG_RECORD_LEN_MAX);
    e = log_tail(fd, path, prev, &seq, &last_tx, err, err_len);
    if (e != SDV_OK || (seq > 0 && last_tx == st->tx))
        goto out; /* already appended before a crash */
    if (sdv_time_format(now, when) != SDV_OK)
        install_copy(when, sizeof(when), "1970-01-01T00:00:00Z");
    for (size_t i = 0; i < st->image_count; i++) {
        size_t l = strlen(slots);
        const struct install_group *g = &cfg->groups[st->images[i].group];
        snprintf(slots + l, sizeof(slots) - l, "%s%s:%s", i > 0 ? " " : "", g->name,
                 g->slots[st->target].name);
    }
    rec = json_object();
    pre = json_array();
    bad = rec == NULL || pre == NULL;
    for (size_t i = 0; !bad && i < st->pre_count; i++) {
        json_t *o = json_object();
        bad |= o == NULL;
        bad |= json_object_set_new(
                o, "phase",
                json_string(st->pre[i].phase == SDV_INSTALL_PHASE_WRITE ? "write" : "activate"));
        bad |= json_object_set_new(o, "ok", json_boolean(st->pre[i].ok));
        bad |= json_object_set_new(o, "output", clean_string(st->pre[i].output));
        bad |= json_array_append_new(pre, o);
    }
    bad |= json_object_set_new(rec, "seq", json_integer((json_int_t)(seq + 1)));
    bad |= json_object_set_new(rec, "tx", json_integer((json_int_t)st->tx));
    bad |= json_object_set_new(rec, "time", json_string(when));
    bad |= json_object_set_new(rec, "ecu", clean_string(ecu));
    bad |= json_object_set_new(rec, "version_before", clean_string(st->version_before));
    bad |= json_object_set_new(rec, "version_after", clean_string(st->version));
    bad |= json_object_set_new(rec, "group_slots", json_string(slots));
    bad |= json_object_set_new(rec, "result", json_string(st->result));
    bad |= json_object_set_new(rec, "reason", clean_string(st->reason));
    bad |= json_object_set(rec, "preconditions", pre);
    bad |= json_object_set_new(rec, "prev", json_string(prev));
    if (bad) {
        e = SDV_ENOMEM;
        goto out;
    }
    e = sdv_cjson_write(rec, &b);
    if (e == SDV_OK)
        e = sdv_buf_putc(&b, '\n');
    if (e == SDV_OK)
        e = sdv_fs_write_all(fd, b.data, b.len);
    if (e == SDV_OK && fsync(fd) != 0)
        e = sdv_err_from_errno(errno);
    if (e == SDV_OK && created)
        e = sdv_fs_fsync_parent(path);
    if (e != SDV_OK && (err == NULL || err[0] == '\0'))
        sdv_msgf(err, err_len, "%s: append failed: %s", path, sdv_strerror(e));
out:
    json_decref(pre);
    json_decref(rec);
    sdv_buf_free(&b);
    close(fd);
    return e;
}

/* Checks one complete line against the chain and hands it to fn. */
static enum sdv_err check_line(const char *path, char *line, size_t len, uint64_t lineno,
                               char prev[65], uint64_t from_seq, sdv_install_log_fn fn, void *ud,
                               char *err, size_t err_len)
{
    json_t *rec = NULL, *seq, *p;
    char perr[160];
    enum sdv_err e;

    e = sdv_json_parse(line, len, &rec, perr, sizeof(perr));
    if (e != SDV_OK) {
        sdv_msgf(err, err_len, "%s:%llu: not a record: %s", path, (unsigned long long)lineno, perr);
        return SDV_EPARSE;
    }
    seq = json_object_get(rec, "seq");
    p = json_object_get(rec, "prev");
    if (!json_is_integer(seq) || !json_is_string(p)) {
        sdv_msgf(err, err_len, "%s:%llu: record without seq or prev", path,
                 (unsigned long long)lineno);
        e = SDV_EPARSE;
    } else if ((uint64_t)json_integer_value(seq) != lineno ||
               strcmp(json_string_value(p), prev) != 0) {
        sdv_msgf(err, err_len, "%s:%llu: hash chain broken (record %lld: %s)", path,
                 (unsigned long long)lineno, (long long)json_integer_value(seq),
                 (uint64_t)json_integer_value(seq) != lineno ? "sequence number" : "prev differs");
        e = SDV_EHASH;
    }
    json_decref(rec);
    if (e != SDV_OK)
        return e;
    line_hash(line, len, prev);
    if (fn != NULL && lineno >= from_seq) {
        line[len] = '\0';
        e = fn(ud, lineno, line, len);
    }
    return e;
}

enum sdv_err sdv_install_log_read(const char *path, uint64_t from_seq, sdv_install_log_fn fn,
                                  void *ud, char *errmsg, size_t errmsg_len)
{
    const size_t max = SDV_INSTALL_LOG_RECORD_LEN_MAX;
    char prev[65], *line, chunk[65536];
    size_t len = 0;
    uint64_t lineno = 0;
    enum sdv_err e = SDV_OK;
    int fd;

    sdv_msgf(errmsg, errmsg_len, "%s", "");
    if (path == NULL)
        return SDV_EINVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SDV_OK : sdv_err_from_errno(errno);
    line = malloc(max + 1);
    if (line == NULL) {
        close(fd);
        return SDV_ENOMEM;
    }
    install_copy(prev, sizeof(prev), ZERO_HASH);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = sdv_err_from_errno(errno);
            break;
        }
        if (n == 0)
            break; /* a last line without newline is torn: not a record */
        for (ssize_t i = 0; i < n && e == SDV_OK; i++) {
            if (chunk[i] != '\n') {
                if (len == max) {
                    sdv_msgf(errmsg, errmsg_len, "%s:%llu: record longer than %zu bytes", path,
                             (unsigned long long)lineno + 1, max);
                    e = SDV_ETOOBIG;
                    break;
                }
                line[len++] = chunk[i];
                continue;
            }
            if (++lineno > SDV_INSTALL_LOG_RECORDS_MAX) {
                e = SDV_ELIMIT;
                break;
            }
            e = check_line(path, line, len, lineno, prev, from_seq, fn, ud, errmsg, errmsg_len);
            len = 0;
        }
        if (e != SDV_OK)
            break;
    }
    free(line);
    close(fd);
    return e;
}

static enum sdv_err count_fn(void *ud, uint64_t seq, const char *json, size_t len)
{
    (void)json;
    (void)len;
    *(uint64_t *)ud = seq;
    return SDV_OK;
}

enum sdv_err sdv_install_log_verify(const char *path, uint64_t *records, char *errmsg,
                                    size_t errmsg_len)
{
    uint64_t n = 0;
    enum sdv_err e = sdv_install_log_read(path, 1, count_fn, &n, errmsg, errmsg_len);

    if (records != NULL)
        *records = n;
    return e;
}
