/*
 * sdv/artifact.h - the content-addressed artifact store of sdv-server: ECU images and other
 * large blobs on local disk, named by the SHA-256 of their bytes.
 *
 * Layout under the store directory DIR:
 *   DIR/sha256/ab/abcdef...   one file per artifact, named by its lowercase hex SHA-256 and
 *                             sharded by the first two hex digits (256 directories at most)
 *   DIR/tmp/put-XXXXXXXX      uploads in progress; never visible as artifacts
 *
 * An artifact is written from a stream (sdv_artifact_put_*: temporary file, hashed while it is
 * written, fsynced, then linked under its hash name and the directory fsynced) and is never held
 * in memory whole. Identical content is stored once: a put of bytes already present discards
 * its temporary file. A put that is aborted, fails, or dies with the process leaves no artifact,
 * only a temporary file that sdv_artifact_store_clean_tmp() removes.
 *
 * Thread safety: a store may be used from several threads at once (puts, opens, stats and
 * deletes of different artifacts, or of the same one); one put handle by one thread at a time.
 * Only one process should use a store directory while sdv_artifact_store_clean_tmp() runs.
 */
#ifndef SDV_ARTIFACT_H
#define SDV_ARTIFACT_H

#include <sdv/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Lowercase hex SHA-256 plus the NUL. */
#define SDV_ARTIFACT_ID_LEN 65

struct sdv_artifact_store;
struct sdv_artifact_put;

/* Opens (creating DIR, DIR/sha256 and DIR/tmp when missing) the store at dir (copied). Caller
 * frees with sdv_artifact_store_close(). */
enum sdv_err sdv_artifact_store_open(const char *dir, struct sdv_artifact_store **out);

/* NULL is a no-op. Unfinished puts must be committed or aborted first. */
void sdv_artifact_store_close(struct sdv_artifact_store *s);

/* Removes the temporary files of puts interrupted by a crash. Call at start-up, before any put.
 * *removed (may be NULL) gets the count. */
enum sdv_err sdv_artifact_store_clean_tmp(struct sdv_artifact_store *s, unsigned *removed);

/* Starts a put of at most len_max bytes (0: no limit beyond the file system's). Caller ends it
 * with sdv_artifact_put_commit() or sdv_artifact_put_abort(). */
enum sdv_err sdv_artifact_put_begin(struct sdv_artifact_store *s, uint64_t len_max,
                                    struct sdv_artifact_put **out);

/* Appends data; an sdv_sink_fn, so a download or an HTTP body can stream straight into it (pass
 * the put handle as ud). SDV_ETOOBIG past len_max; the put must then be aborted. */
enum sdv_err sdv_artifact_put_write(void *put, const void *data, size_t len);

/*
 * Finishes the put and frees it whatever the outcome. If expect_id (may be NULL) is given, the
 * content must hash to it (SDV_EHASH otherwise, and nothing is stored). On SDV_OK the artifact
 * exists under id_out (SDV_ARTIFACT_ID_LEN bytes), *len_out (may be NULL) gets its length and
 * *existed (may be NULL) says whether the same content was stored already.
 */
enum sdv_err sdv_artifact_put_commit(struct sdv_artifact_put *put, const char *expect_id,
                                     char id_out[SDV_ARTIFACT_ID_LEN], uint64_t *len_out,
                                     int *existed);

/* Discards the put and its temporary file. NULL is a no-op. */
void sdv_artifact_put_abort(struct sdv_artifact_put *put);

/* Checks that id is 64 lowercase hex digits (the only form the store accepts). */
int sdv_artifact_id_ok(const char *id);

/* Opens an artifact for reading: *fd_out (caller closes) and *len_out. SDV_EINVAL for an
 * ill-formed id, SDV_ENOENT if absent. */
enum sdv_err sdv_artifact_open(struct sdv_artifact_store *s, const char *id, int *fd_out,
                               uint64_t *len_out);

/* Length of an artifact; SDV_ENOENT if absent. */
enum sdv_err sdv_artifact_stat(struct sdv_artifact_store *s, const char *id, uint64_t *len_out);

/* Deletes an artifact (readers holding it open keep reading the old bytes). SDV_ENOENT if
 * absent. */
enum sdv_err sdv_artifact_delete(struct sdv_artifact_store *s, const char *id);

#ifdef __cplusplus
}
#endif
#endif /* SDV_ARTIFACT_H */
