/*
 * tuf_download.c - fetching target files: URL construction (consistent-snapshot hash prefixes,
 * percent-encoded path segments), streaming to a temporary file while hashing, verification of
 * length and every listed hash, and an atomic rename into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tuf_int.h"

struct target_sink {
    int fd;
    uint64_t written;
    uint64_t max;
    struct sdv_hash *hashes[SDV_TUF_TARGET_HASHES_MAX];
    size_t hash_count;
};

static enum sdv_err target_sink_write(void *ud, const void *data, size_t len)
{
    struct target_sink *s = ud;
    enum sdv_err err = SDV_OK;

    if (len > s->max - s->written)
        return SDV_ETOOBIG;
    for (size_t i = 0; i < s->hash_count && err == SDV_OK; i++)
        err = sdv_hash_update(s->hashes[i], data, len);
    if (err == SDV_OK)
        err = sdv_fs_write_all(s->fd, data, len);
    if (err != SDV_OK)
        return err;
    s->written += len;
    return SDV_OK;
}

/* Appends path to url with every segment percent-encoded; the last segment prefixed with
 * "prefix." when prefix is non-NULL. */
static enum sdv_err build_target_url(struct sdv_buf *url, const char *base, const char *path,
                                     const char *prefix)
{
    const char *seg = path;
    enum sdv_err err = sdv_buf_puts(url, base);

    while (err == SDV_OK) {
        const char *slash = strchr(seg, '/');
        size_t n = slash != NULL ? (size_t)(slash - seg) : strlen(seg);
        char *raw = strndup(seg, n), *enc;

        if (raw == NULL)
            return SDV_ENOMEM;
        enc = sdv_percent_encode(raw);
        free(raw);
        if (enc == NULL)
            return SDV_ENOMEM;
        if (slash == NULL && prefix != NULL) {
            err = sdv_buf_puts(url, prefix);
            if (err == SDV_OK)
                err = sdv_buf_putc(url, '.');
        }
        if (err == SDV_OK)
            err = sdv_buf_puts(url, enc);
        free(enc);
        if (slash == NULL)
            break;
        if (err == SDV_OK)
            err = sdv_buf_putc(url, '/');
        seg = slash + 1;
    }
    return err;
}

enum sdv_err sdv_tuf_target_check_file(const struct sdv_tuf_target *t, const char *path)
{
    for (size_t i = 0; i < t->hash_count; i++) {
        uint8_t digest[SDV_HASH_LEN_MAX];
        uint64_t len;
        enum sdv_err err = sdv_hash_file(t->hashes[i].alg, path, digest, &len);

        if (err != SDV_OK)
            return err;
        if (len != t->length ||
            memcmp(digest, t->hashes[i].digest, sdv_hash_len(t->hashes[i].alg)) != 0)
            return SDV_EHASH;
    }
    return t->hash_count > 0 ? SDV_OK : SDV_EHASH;
}

enum sdv_err sdv_tuf_client_download_target(struct sdv_tuf_client *c,
                                            const struct sdv_tuf_target *t, const char *target_dir,
                                            const char *target_base_url, int *downloaded)
{
    struct target_sink sink = {.fd = -1};
    struct sdv_buf url, final_path, tmp_path;
    char *encoded = NULL, hex[2 * SDV_HASH_LEN_MAX + 1];
    enum sdv_err err;

    if (downloaded != NULL)
        *downloaded = 0;
    sdv_buf_init(&url, SDV_URL_LEN_MAX);
    sdv_buf_init(&final_path, SDV_URL_LEN_MAX);
    sdv_buf_init(&tmp_path, SDV_URL_LEN_MAX);
    if (t->hash_count == 0) {
        sdv_tuf_client_set_errmsg(c, "target \"%s\": no hashes to verify it with", t->path);
        return SDV_EHASH;
    }
    encoded = sdv_percent_encode(t->path);
    if (encoded == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    /* Percent-encoding keeps "." and ".." as they are, and "" names no file. */
    if (strcmp(encoded, "") == 0 || strcmp(encoded, ".") == 0 || strcmp(encoded, "..") == 0) {
        sdv_tuf_client_set_errmsg(c, "target \"%s\": not usable as a file name", t->path);
        err = SDV_EINVAL;
        goto out;
    }
    err = sdv_buf_printf(&final_path, "%s/%s", target_dir, encoded);
    if (err == SDV_OK)
        err = sdv_buf_printf(&tmp_path, "%s/.%s.part", target_dir, encoded);
    if (err != SDV_OK) {
        sdv_tuf_client_set_errmsg(c, "target \"%s\": local path too long", t->path);
        goto out;
    }
    if (sdv_tuf_target_check_file(t, (const char *)final_path.data) == SDV_OK) {
        err = SDV_OK;
        goto out;
    }

    sdv_hex_encode(t->hashes[0].digest, sdv_hash_len(t->hashes[0].alg), hex);
    err = build_target_url(&url, target_base_url, t->path,
                           sdv_tuf_client_consistent_snapshot(c) ? hex : NULL);
    if (err != SDV_OK) {
        sdv_tuf_client_set_errmsg(c, "target \"%s\": URL too long", t->path);
        goto out;
    }
    err = sdv_fs_mkdir_p(target_dir, 0755);
    if (err != SDV_OK) {
        sdv_tuf_client_set_errmsg(c, "target \"%s\": cannot create %s: %s", t->path, target_dir,
                                  sdv_strerror(err));
        goto out;
    }
    sink.max = t->length;
    for (size_t i = 0; i < t->hash_count; i++) {
        err = sdv_hash_create(t->hashes[i].alg, &sink.hashes[i]);
        if (err != SDV_OK)
            goto out;
        sink.hash_count++;
    }
    sink.fd = open((const char *)tmp_path.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sink.fd < 0) {
        err = sdv_err_from_errno(errno);
        sdv_tuf_client_set_errmsg(c, "target \"%s\": cannot create %s: %s", t->path,
                                  (const char *)tmp_path.data, sdv_strerror(err));
        goto out;
    }
    err = tuf_client_fetch(c, (const char *)url.data, t->length, target_sink_write, &sink);
    if (err == SDV_ETOOBIG) {
        sdv_tuf_client_set_errmsg(c, "target \"%s\": server sent more than the %llu bytes listed",
                                  t->path, (unsigned long long)t->length);
        goto out;
    }
    if (err != SDV_OK) {
        sdv_tuf_client_set_errmsg(c, "target \"%s\": download from %s failed: %s", t->path,
                                  (const char *)url.data, sdv_strerror(err));
        goto out;
    }
    if (sink.written != t->length) {
        sdv_tuf_client_set_errmsg(c, "target \"%s\": length is %llu bytes, expected %llu", t->path,
                                  (unsigned long long)sink.written, (unsigned long long)t->length);
        err = SDV_EHASH;
        goto out;
    }
    for (size_t i = 0; i < sink.hash_count; i++) {
        uint8_t digest[SDV_HASH_LEN_MAX];

        err = sdv_hash_final(sink.hashes[i], digest);
        if (err != SDV_OK)
            goto out;
        if (memcmp(digest, t->hashes[i].digest, sdv_hash_len(t->hashes[i].alg)) != 0) {
            sdv_tuf_client_set_errmsg(c, "target \"%s\": %s hash mismatch", t->path,
                                      sdv_hash_alg_name(t->hashes[i].alg));
            err = SDV_EHASH;
            goto out;
        }
    }
    if (fsync(sink.fd) != 0 || close(sink.fd) != 0) {
        sink.fd = -1;
        err = sdv_err_from_errno(errno);
        goto out;
    }
    sink.fd = -1;
    if (rename((const char *)tmp_path.data, (const char *)final_path.data) != 0) {
        err = sdv_err_from_errno(errno);
        sdv_tuf_client_set_errmsg(c, "target \"%s\": cannot rename into %s: %s", t->path,
                                  (const char *)final_path.data, sdv_strerror(err));
        goto out;
    }
    err = sdv_fs_fsync_dir(target_dir);
    if (err == SDV_OK && downloaded != NULL)
        *downloaded = 1;
out:
    if (sink.fd >= 0)
        close(sink.fd);
    if (err != SDV_OK && tmp_path.data != NULL)
        unlink((const char *)tmp_path.data);
    for (size_t i = 0; i < sink.hash_count; i++)
        sdv_hash_destroy(sink.hashes[i]);
    free(encoded);
    sdv_buf_free(&url);
    sdv_buf_free(&final_path);
    sdv_buf_free(&tmp_path);
    return err;
}
