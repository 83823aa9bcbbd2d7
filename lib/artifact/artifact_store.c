/*
 * artifact_store.c - the content-addressed artifact store (see sdv/artifact.h). A put writes a
 * temporary file in DIR/tmp while hashing, fsyncs it, and publishes it with link(2) under
 * DIR/sha256/ab/<id>: link never replaces, so an existing artifact with the same name (the same
 * bytes) stays untouched and the temporary file is simply removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdv/artifact.h>
#include <sdv/crypto.h>

/* Attempts at a fresh temporary name; each uses new random bytes, so a clash even once means
 * something else creates files there on purpose. */
#define ARTIFACT_TMP_ATTEMPTS_MAX 16

/* Temporary files this store creates start with this, and only those are cleaned up. */
#define ARTIFACT_TMP_PREFIX "put-"

struct sdv_artifact_store {
    char dir[PATH_MAX];
    char objects[PATH_MAX]; /* DIR/sha256 */
    char tmp[PATH_MAX];     /* DIR/tmp */
};

struct sdv_artifact_put {
    struct sdv_artifact_store *store;
    struct sdv_hash *hash;
    int fd;
    uint64_t len;
    uint64_t len_max;
    char tmp_path[PATH_MAX];
};

int sdv_artifact_id_ok(const char *id)
{
    size_t i;

    if (id == NULL)
        return 0;
    for (i = 0; i < SDV_ARTIFACT_ID_LEN - 1; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    }
    return id[i] == '\0';
}

/* DIR/sha256/ab into shard, and DIR/sha256/ab/<id> into path. */
static enum sdv_err object_paths(const struct sdv_artifact_store *s, const char *id, char *shard,
                                 char *path)
{
    char two[3] = {id[0], id[1], '\0'};
    enum sdv_err err = sdv_path_join(shard, PATH_MAX, s->objects, two);

    return err != SDV_OK ? err : sdv_path_join(path, PATH_MAX, shard, id);
}

enum sdv_err sdv_artifact_store_open(const char *dir, struct sdv_artifact_store **out)
{
    struct sdv_artifact_store *s;
    enum sdv_err err;

    *out = NULL;
    if (dir == NULL || dir[0] == '\0')
        return SDV_EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SDV_ENOMEM;
    err = SDV_ETOOBIG;
    if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s", dir) >= sizeof(s->dir))
        goto fail;
    err = sdv_path_join(s->objects, sizeof(s->objects), dir, "sha256");
    if (err == SDV_OK)
        err = sdv_path_join(s->tmp, sizeof(s->tmp), dir, "tmp");
    if (err == SDV_OK)
        err = sdv_fs_mkdir_p(s->objects, 0755);
    if (err == SDV_OK)
        err = sdv_fs_mkdir_p(s->tmp, 0700);
    if (err != SDV_OK)
        goto fail;
    *out = s;
    return SDV_OK;
fail:
    free(s);
    return err;
}

void sdv_artifact_store_close(struct sdv_artifact_store *s)
{
    free(s);
}

enum sdv_err sdv_artifact_store_clean_tmp(struct sdv_artifact_store *s, unsigned *removed)
{
    DIR *d;
    struct dirent *e;
    char path[PATH_MAX];
    unsigned n = 0;
    enum sdv_err err = SDV_OK;

    if (removed != NULL)
        *removed = 0;
    d = opendir(s->tmp);
    if (d == NULL)
        return sdv_err_from_errno(errno);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ARTIFACT_TMP_PREFIX, strlen(ARTIFACT_TMP_PREFIX)) != 0)
            continue;
        if (sdv_path_join(path, sizeof(path), s->tmp, e->d_name) != SDV_OK)
            continue;
        if (unlink(path) == 0)
            n++;
        else if (errno != ENOENT)
            err = sdv_err_from_errno(errno);
    }
    (void)closedir(d);
    if (n > 0 && err == SDV_OK)
        err = sdv_fs_fsync_dir(s->tmp);
    if (removed != NULL)
        *removed = n;
    return err;
}

enum sdv_err sdv_artifact_put_begin(struct sdv_artifact_store *s, uint64_t len_max,
                                    struct sdv_artifact_put **out)
{
    struct sdv_artifact_put *p;
    uint8_t rnd[8];
    char name[32], hex[2 * sizeof(rnd) + 1];
    enum sdv_err err;
    int i;

    *out = NULL;
    if (s == NULL)
        return SDV_EINVAL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SDV_ENOMEM;
    p->store = s;
    p->fd = -1;
    p->len_max = len_max != 0 ? len_max : UINT64_MAX;
    err = sdv_hash_create(SDV_HASH_SHA256, &p->hash);
    if (err != SDV_OK)
        goto fail;
    for (i = 0; i < ARTIFACT_TMP_ATTEMPTS_MAX && p->fd < 0; i++) {
        err = sdv_random_bytes(rnd, sizeof(rnd));
        if (err != SDV_OK)
            goto fail;
        sdv_hex_encode(rnd, sizeof(rnd), hex);
        snprintf(name, sizeof(name), ARTIFACT_TMP_PREFIX "%s", hex);
        err = sdv_path_join(p->tmp_path, sizeof(p->tmp_path), s->tmp, name);
        if (err != SDV_OK)
            goto fail;
        p->fd = open(p->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (p->fd < 0 && errno != EEXIST) {
            err = sdv_err_from_errno(errno);
            goto fail;
        }
    }
    if (p->fd < 0) {
        err = SDV_EEXIST;
        goto fail;
    }
    *out = p;
    return SDV_OK;
fail:
    sdv_hash_destroy(p->hash);
    free(p);
    return err;
}

enum sdv_err sdv_artifact_put_write(void *put, const void *data, size_t len)
{
    struct sdv_artifact_put *p = put;
    enum sdv_err err;

    if (p == NULL || p->fd < 0)
        return SDV_EINVAL;
    if (len > p->len_max - p->len)
        return SDV_ETOOBIG;
    err = sdv_hash_update(p->hash, data, len);
    if (err == SDV_OK)
        err = sdv_fs_write_all(p->fd, data, len);
    if (err == SDV_OK)
        p->len += len;
    return err;
}

void sdv_artifact_put_abort(struct sdv_artifact_put *put)
{
    if (put == NULL)
        return;
    if (put->fd >= 0) {
        (void)close(put->fd);
        (void)unlink(put->tmp_path);
    }
    sdv_hash_destroy(put->hash);
    free(put);
}

enum sdv_err sdv_artifact_put_commit(struct sdv_artifact_put *put, const char *expect_id,
                                     char id_out[SDV_ARTIFACT_ID_LEN], uint64_t *len_out,
                                     int *existed)
{
    uint8_t digest[32];
    char id[SDV_ARTIFACT_ID_LEN], shard[PATH_MAX], path[PATH_MAX];
    int fd, was_there = 0;
    enum sdv_err err;

    if (put == NULL || put->fd < 0)
        return SDV_EINVAL;
    err = sdv_hash_final(put->hash, digest);
    if (err != SDV_OK)
        goto abort;
    sdv_hex_encode(digest, sizeof(digest), id);
    if (expect_id != NULL && strcmp(expect_id, id) != 0) {
        err = SDV_EHASH;
        goto abort;
    }
    err = object_paths(put->store, id, shard, path);
    if (err != SDV_OK)
        goto abort;
    if (fsync(put->fd) != 0) {
        err = sdv_err_from_errno(errno);
        goto abort;
    }
    fd = put->fd;
    put->fd = -1;
    if (close(fd) != 0) {
        err = sdv_err_from_errno(errno);
        (void)unlink(put->tmp_path);
        goto abort;
    }
    if (mkdir(shard, 0755) == 0) {
        err = sdv_fs_fsync_dir(put->store->objects);
    } else if (errno != EEXIST) {
        err = sdv_err_from_errno(errno);
    }
    if (err == SDV_OK && link(put->tmp_path, path) != 0) {
        if (errno == EEXIST)
            was_there = 1;
        else
            err = sdv_err_from_errno(errno);
    }
    (void)unlink(put->tmp_path);
    if (err == SDV_OK && !was_there)
        err = sdv_fs_fsync_dir(shard);
    if (err != SDV_OK)
        goto abort;
    memcpy(id_out, id, sizeof(id));
    if (len_out != NULL)
        *len_out = put->len;
    if (existed != NULL)
        *existed = was_there;
    sdv_hash_destroy(put->hash);
    free(put);
    return SDV_OK;
abort:
    sdv_artifact_put_abort(put);
    return err;
}

enum sdv_err sdv_artifact_open(struct sdv_artifact_store *s, const char *id, int *fd_out,
                               uint64_t *len_out)
{
    char shard[PATH_MAX], path[PATH_MAX];
    struct stat st;
    enum sdv_err err;
    int fd;

    *fd_out = -1;
    if (s == NULL || !sdv_artifact_id_ok(id))
        return SDV_EINVAL;
    err = object_paths(s, id, shard, path);
    if (err != SDV_OK)
        return err;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return sdv_err_from_errno(errno);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        (void)close(fd);
        return SDV_EIO;
    }
    *fd_out = fd;
    if (len_out != NULL)
        *len_out = (uint64_t)st.st_size;
    return SDV_OK;
}

enum sdv_err sdv_artifact_stat(struct sdv_artifact_store *s, const char *id, uint64_t *len_out)
{
    char shard[PATH_MAX], path[PATH_MAX];
    struct stat st;
    enum sdv_err err;

    if (s == NULL || !sdv_artifact_id_ok(id))
        return SDV_EINVAL;
    err = object_paths(s, id, shard, path);
    if (err != SDV_OK)
        return err;
    if (lstat(path, &st) != 0)
        return sdv_err_from_errno(errno);
    if (!S_ISREG(st.st_mode))
        return SDV_EIO;
    if (len_out != NULL)
        *len_out = (uint64_t)st.st_size;
    return SDV_OK;
}

enum sdv_err sdv_artifact_delete(struct sdv_artifact_store *s, const char *id)
{
    char shard[PATH_MAX], path[PATH_MAX];
    enum sdv_err err;

    if (s == NULL || !sdv_artifact_id_ok(id))
        return SDV_EINVAL;
    err = object_paths(s, id, shard, path);
    if (err != SDV_OK)
        return err;
    if (unlink(path) != 0)
        return sdv_err_from_errno(errno);
    return sdv_fs_fsync_dir(shard);
}
