/*
 * server_image.c - the image repository: a `sdv repo` directory whose root and targets keys stay
 * offline. The server serves DIR/metadata and DIR/targets (and hash-named targets from the
 * artifact store), signs snapshot and timestamp with its online keys when an operator publishes
 * staged metadata, renews the timestamp before it expires, and keeps a verified view of its own
 * repository (the TUF client against DIR/metadata through a file-reading fetch callback) from
 * which assignments take a target's length, hashes and release counter.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdv/tuf_repo.h>

#include "server.h"

/* The view's metadata URL: the fetch callback maps it to DIR/metadata. */
#define VIEW_URL "image:/"

/* ---- The verified view ------------------------------------------------------------------------
 */

struct view_fetch {
    const struct server *srv;
};

/* A file name inside one directory: not empty, not "." or "..", no '/'. */
static bool plain_name(const char *name)
{
    return name[0] != '\0' && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
           strchr(name, '/') == NULL;
}

/* Streams a file into sink, at most max_len bytes (SDV_ETOOBIG past it). */
static enum sdv_err stream_file(const char *path, uint64_t max_len, sdv_sink_fn sink, void *ud)
{
    char block[16384];
    uint64_t total = 0;
    enum sdv_err err = SDV_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? SDV_ENOENT : sdv_err_from_errno(errno);
    for (;;) {
        ssize_t n = read(fd, block, sizeof(block));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = sdv_err_from_errno(errno);
            break;
        }
        if (n == 0)
            break;
        if ((uint64_t)n > max_len - total) {
            err = SDV_ETOOBIG;
            break;
        }
        total += (uint64_t)n;
        err = sink(ud, block, (size_t)n);
        if (err != SDV_OK)
            break;
    }
    close(fd);
    return err;
}

static enum sdv_err view_fetch(void *ud, const char *url, uint64_t max_len, sdv_tuf_sink_fn sink,
                               void *sink_ud)
{
    const struct view_fetch *vf = ud;
    const char *name = url + strlen(VIEW_URL);
    char path[4096];

    if (strncmp(url, VIEW_URL, strlen(VIEW_URL)) != 0 || !plain_name(name))
        return SDV_ENOENT;
    if (snprintf(path, sizeof(path), "%s/metadata/%s", vf->srv->cfg->image_dir, name) >=
        (int)sizeof(path))
        return SDV_ENOENT;
    return stream_file(path, max_len, sink, sink_ud);
}

/* Gives the view its first trusted root when it has none: the configured one, else the first
 * root the repository published (trust on first use of the server's own repository). */
static enum sdv_err view_init_root(struct server *srv, char *errmsg, size_t errmsg_len)
{
    const struct server_config *cfg = srv->cfg;
    char path[4096];
    struct stat sb;
    struct sdv_buf raw;
    enum sdv_err err;

    snprintf(path, sizeof(path), "%s/root.json", cfg->image_client_dir);
    if (stat(path, &sb) == 0)
        return SDV_OK;
    if (cfg->image_trusted_root != NULL) {
        snprintf(path, sizeof(path), "%s", cfg->image_trusted_root);
    } else {
        snprintf(path, sizeof(path), "%s/metadata/1.root.json", cfg->image_dir);
        if (stat(path, &sb) != 0)
            snprintf(path, sizeof(path), "%s/metadata/root.json", cfg->image_dir);
    }
    sdv_buf_init(&raw, SDV_TUF_ROOT_MAX_LEN);
    err = sdv_fs_read(path, &raw);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len,
                 "image repository: cannot read %s (%s): publish the repository first", path,
                 sdv_strerror(err));
    } else {
        err = sdv_tuf_client_init_root(cfg->image_client_dir, raw.data, raw.len, errmsg,
                                       errmsg_len);
        if (err == SDV_OK)
            sdv_logf(&srv->log, SDV_LOG_INFO, "image repository: trusting root %s", path);
    }
    sdv_buf_free(&raw);
    return err;
}

/* A refreshed client over the published metadata; caller holds image_mu and destroys it. */
static enum sdv_err view_open(struct server *srv, int64_t now, struct view_fetch *vf,
                              struct sdv_tuf_client **out, char *errmsg, size_t errmsg_len)
{
    struct sdv_tuf_client_config cc = {0};
    enum sdv_err err = view_init_root(srv, errmsg, errmsg_len);

    *out = NULL;
    if (err != SDV_OK)
        return err;
    vf->srv = srv;
    cc.metadata_dir = srv->cfg->image_client_dir;
    cc.metadata_url = VIEW_URL;
    cc.fetch = view_fetch;
    cc.fetch_ud = vf;
    cc.log = srv->log;
    cc.log.level = SDV_LOG_WARN;
    cc.now = now;
    err = sdv_tuf_client_create(&cc, out, errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;
    err = sdv_tuf_client_refresh(*out);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "image repository does not verify: %s",
                 sdv_tuf_client_errmsg(*out));
        sdv_tuf_client_destroy(*out);
        *out = NULL;
    }
    return err;
}

enum sdv_err server_image_refresh(struct server *srv, int64_t now, char *errmsg, size_t errmsg_len)
{
    struct sdv_tuf_client *c = NULL;
    struct view_fetch vf;
    enum sdv_err err;

    pthread_mutex_lock(&srv->image_mu);
    err = view_open(srv, now, &vf, &c, errmsg, errmsg_len);
    if (err == SDV_OK)
        sdv_logf(&srv->log, SDV_LOG_INFO,
                 "image repository: verified root v%lld, targets v%lld, snapshot v%lld, "
                 "timestamp v%lld",
                 (long long)sdv_tuf_client_role_version(c, "root"),
                 (long long)sdv_tuf_client_role_version(c, "targets"),
                 (long long)sdv_tuf_client_role_version(c, "snapshot"),
                 (long long)sdv_tuf_client_role_version(c, "timestamp"));
    sdv_tuf_client_destroy(c);
    pthread_mutex_unlock(&srv->image_mu);
    return err;
}

void server_image_target_release(struct server_image_target *t)
{
    if (t == NULL)
        return;
    json_decref(t->hardware_ids);
    memset(t, 0, sizeof(*t));
}

/* Copies what assignments need out of a target entry. */
static enum sdv_err copy_target(const struct sdv_tuf_target *t, struct server_image_target *out,
                                char *errmsg, size_t errmsg_len)
{
    const json_t *rc = t->custom != NULL ? json_object_get(t->custom, "release_counter") : NULL;
    json_t *hw = t->custom != NULL ? json_object_get(t->custom, "hardware_ids") : NULL;

    out->length = t->length;
    out->hash_count = t->hash_count;
    memcpy(out->hashes, t->hashes, sizeof(out->hashes));
    if (rc != NULL && (!json_is_integer(rc) || json_integer_value(rc) < 0)) {
        snprintf(errmsg, errmsg_len, "target %s: custom.release_counter must be an integer >= 0",
                 t->path);
        return SDV_EPARSE;
    }
    out->release_counter = rc != NULL ? (uint64_t)json_integer_value(rc) : 0;
    if (hw != NULL) {
        if (!json_is_array(hw) || json_array_size(hw) > SDV_STORE_ECUS_MAX) {
            snprintf(errmsg, errmsg_len,
                     "target %s: custom.hardware_ids must be an array of "
                     "strings",
                     t->path);
            return SDV_EPARSE;
        }
        for (size_t i = 0; i < json_array_size(hw); i++) {
            if (!json_is_string(json_array_get(hw, i))) {
                snprintf(errmsg, errmsg_len,
                         "target %s: custom.hardware_ids must be an array "
                         "of strings",
                         t->path);
                return SDV_EPARSE;
            }
        }
        out->hardware_ids = json_incref(hw);
    }
    return SDV_OK;
}

enum sdv_err server_image_lookup(struct server *srv, const char *name, int64_t now,
                                 struct server_image_target *out, char *errmsg, size_t errmsg_len)
{
    struct sdv_tuf_client *c = NULL;
    struct sdv_tuf_target t;
    struct view_fetch vf;
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&srv->image_mu);
    err = view_open(srv, now, &vf, &c, errmsg, errmsg_len);
    if (err == SDV_OK) {
        err = sdv_tuf_client_find_target(c, name, &t);
        if (err == SDV_OK)
            err = copy_target(&t, out, errmsg, errmsg_len);
        else if (err == SDV_ENOTARGET)
            snprintf(errmsg, errmsg_len, "target %s is not in the image repository", name);
        else
            snprintf(errmsg, errmsg_len, "looking up target %s: %s", name,
                     sdv_tuf_client_errmsg(c));
    }
    sdv_tuf_client_destroy(c);
    pthread_mutex_unlock(&srv->image_mu);
    if (err != SDV_OK)
        server_image_target_release(out);
    return err;
}

/* ---- Timestamp (and snapshot) renewal ----------------------------------------------------------
 */

struct renew_status {
    int64_t ts_expires, snap_expires;
    char pending[128]; /* a role with unpublished staged changes, or "" */
};

static void renew_status_cb(void *ud, const struct sdv_tuf_repo_role_status *st)
{
    struct renew_status *rs = ud;

    if (strcmp(st->name, "timestamp") == 0) {
        rs->ts_expires = st->expires;
        return;
    }
    if (strcmp(st->name, "snapshot") == 0)
        rs->snap_expires = st->expires;
    if ((st->modified || st->missing) && rs->pending[0] == '\0')
        snprintf(rs->pending, sizeof(rs->pending), "%s", st->name);
}

void server_image_renew(struct server *srv, int64_t now)
{
    const struct server_config *cfg = srv->cfg;
    int64_t ts_life = cfg->image_timestamp_lifetime_s > 0 ? cfg->image_timestamp_lifetime_s
                                                          : SDV_TUF_REPO_TIMESTAMP_EXPIRY_S;
    struct renew_status rs = {0};
    struct sdv_tuf_repo *repo = NULL;
    char msg[512];
    bool snap;
    enum sdv_err err;

    pthread_mutex_lock(&srv->image_mu);
    err = sdv_tuf_repo_open(cfg->image_dir, now, &repo, msg, sizeof(msg));
    if (err == SDV_OK) {
        err = sdv_tuf_repo_status(repo, renew_status_cb, &rs);
        snprintf(msg, sizeof(msg), "%s", sdv_tuf_repo_errmsg(repo));
    }
    if (err != SDV_OK) {
        sdv_logf(&srv->log, SDV_LOG_ERROR, "image repository: renewal: %s", msg);
        goto out;
    }
    snap = rs.snap_expires - now < SDV_TUF_REPO_SNAPSHOT_EXPIRY_S / 2;
    if (!snap && rs.ts_expires - now >= ts_life / 2)
        goto out;
    if (rs.pending[0] != '\0') {
        /* Publishing now would also publish what an operator staged but did not publish. */
        sdv_logf(&srv->log, SDV_LOG_WARN,
                 "image repository: timestamp expires in %lld s but role %s has unpublished "
                 "staged changes; publish them (POST /v1/admin/image/publish)",
                 (long long)(rs.ts_expires - now), rs.pending);
        goto out;
    }
    if (snap) {
        sdv_tuf_repo_set_expires(repo, 0);
        err = sdv_tuf_repo_snapshot(repo, srv->img_snapshot,
                                    cfg->image_snapshot_hashes ? SDV_TUF_REPO_SNAPSHOT_HASHES : 0);
    }
    sdv_tuf_repo_set_expires(repo, now + ts_life);
    if (err == SDV_OK)
        err = sdv_tuf_repo_timestamp(repo, srv->img_timestamp);
    if (err == SDV_OK)
        err = sdv_tuf_repo_publish(repo);
    if (err != SDV_OK)
        sdv_logf(&srv->log, SDV_LOG_ERROR, "image repository: renewal: %s",
                 sdv_tuf_repo_errmsg(repo));
    else
        sdv_logf(&srv->log, SDV_LOG_INFO, "image repository: timestamp%s renewed",
                 snap ? " and snapshot" : "");
out:
    sdv_tuf_repo_close(repo);
    pthread_mutex_unlock(&srv->image_mu);
}

/* ---- Serving -----------------------------------------------------------------------------------
 */

/* 403 unless the caller is a registered vehicle. */
static bool vehicle_known(struct server *srv, struct sdv_httpd_request *req)
{
    struct sdv_store *st = server_store_get(srv);
    struct sdv_store_vehicle v = {0};
    enum sdv_err err = sdv_store_vehicle_get(st, req->identity, &v);

    if (err == SDV_ENOENT)
        sdv_httpd_respond_status(req, 403, "unknown vehicle");
    else if (err != SDV_OK)
        server_respond_store_error(req, st, "vehicle lookup", err);
    sdv_store_vehicle_release(&v);
    server_store_put(srv, st);
    return err == SDV_OK;
}

/* Serves an open file with an ETag from its inode, size and modification time: files here are
 * replaced by rename, never rewritten in place, so a new version always has a new tag. */
static void serve_fd(struct sdv_httpd_request *req, int fd, const char *type)
{
    struct stat sb;
    char etag[96];

    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        sdv_httpd_respond_status(req, 404, "not found");
        return;
    }
    snprintf(etag, sizeof(etag), "%llx-%llx-%llx.%lx", (unsigned long long)sb.st_ino,
             (unsigned long long)sb.st_size, (unsigned long long)sb.st_mtim.tv_sec,
             (unsigned long)sb.st_mtim.tv_nsec);
    sdv_httpd_respond_fd(req, fd, (uint64_t)sb.st_size, etag, type);
}

void server_h_image_metadata(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    char *name = NULL, path[4096];
    int fd;

    if (!vehicle_known(srv, req))
        return;
    /* MHD decoded the path; files on disk carry percent-encoded role names. */
    name = sdv_percent_encode(req->path_tail);
    if (name == NULL || !plain_name(name) ||
        snprintf(path, sizeof(path), "%s/metadata/%s", srv->cfg->image_dir, name) >=
                (int)sizeof(path)) {
        sdv_httpd_respond_status(req, 404, "image repository: no such metadata file");
        free(name);
        return;
    }
    free(name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sdv_httpd_respond_status(req, 404, "image repository: no such metadata file");
        return;
    }
    serve_fd(req, fd, "application/json");
}

/* A target path: segments not empty, ".", ".."; at most SDV_TUF_NAME_LEN_MAX bytes. */
static bool target_path_ok(const char *p)
{
    size_t n = strlen(p);
    const char *seg = p;

    if (n == 0 || n > SDV_TUF_NAME_LEN_MAX)
        return false;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash != NULL ? (size_t)(slash - seg) : strlen(seg);

        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (slash == NULL)
            return true;
        seg = slash + 1;
    }
}

/* The sha256 of a "HASH.basename" last segment, or false. */
static bool hash_named(const char *path, char id[SDV_ARTIFACT_ID_LEN])
{
    const char *base = strrchr(path, '/');

    base = base != NULL ? base + 1 : path;
    if (strlen(base) < SDV_ARTIFACT_ID_LEN || base[SDV_ARTIFACT_ID_LEN - 1] != '.')
        return false;
    memcpy(id, base, SDV_ARTIFACT_ID_LEN - 1);
    id[SDV_ARTIFACT_ID_LEN - 1] = '\0';
    return sdv_artifact_id_ok(id);
}

void server_h_image_target(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    char id[SDV_ARTIFACT_ID_LEN], path[4096 + SDV_TUF_NAME_LEN_MAX];
    uint64_t len;
    int fd;

    if (!vehicle_known(srv, req))
        return;
    if (!target_path_ok(req->path_tail)) {
        sdv_httpd_respond_status(req, 404, "image repository: no such target");
        return;
    }
    if (hash_named(req->path_tail, id) &&
        sdv_artifact_open(srv->artifacts, id, &fd, &len) == SDV_OK) {
        sdv_httpd_respond_fd(req, fd, len, id, "application/octet-stream");
        return;
    }
    snprintf(path, sizeof(path), "%s/targets/%s", srv->cfg->image_dir, req->path_tail);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sdv_httpd_respond_status(req, 404, "image repository: no such target");
        return;
    }
    serve_fd(req, fd, "application/octet-stream");
}

/* ---- Staging and publishing (admin)
 * -------------------------------------------------------------- */

void server_h_image_staged(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    const char *tail = req->path_tail;
    size_t n = strlen(tail);
    char role[SDV_TUF_NAME_LEN_MAX + 1], msg[SDV_TUF_NAME_LEN_MAX + 200], path[8192];
    char *enc = NULL;
    json_t *doc = NULL, *sig, *type, *version;
    enum sdv_err err;

    if (!server_admin_auth(srv, req))
        return;
    if (n <= 5 || n - 5 > SDV_TUF_NAME_LEN_MAX || strcmp(tail + n - 5, ".json") != 0) {
        sdv_httpd_respond_status(req, 404, "staged metadata: the path must be ROLE.json");
        return;
    }
    memcpy(role, tail, n - 5);
    role[n - 5] = '\0';
    if (strcmp(role, "snapshot") == 0 || strcmp(role, "timestamp") == 0) {
        snprintf(msg, sizeof(msg),
                 "staged metadata: %s is signed by the server's online key at "
                 "publish; stage root, targets or delegated roles",
                 role);
        sdv_httpd_respond_status(req, 400, msg);
        return;
    }
    doc = server_body_json(req);
    if (doc == NULL)
        return;
    sig = json_object_get(doc, "signed");
    type = json_object_get(sig, "_type");
    version = json_object_get(sig, "version");
    if (!json_is_object(sig) || !json_is_string(type) || !json_is_integer(version) ||
        json_integer_value(version) < 1 || !json_is_array(json_object_get(doc, "signatures")) ||
        strcmp(json_string_value(type), strcmp(role, "root") == 0 ? "root" : "targets") != 0) {
        snprintf(msg, sizeof(msg),
                 "staged metadata: %s.json must be signed %s metadata "
                 "({\"signed\": {\"_type\": \"%s\", \"version\", ...}, \"signatures\": [...]})",
                 role, strcmp(role, "root") == 0 ? "root" : "targets",
                 strcmp(role, "root") == 0 ? "root" : "targets");
        sdv_httpd_respond_status(req, 400, msg);
        goto out;
    }
    enc = sdv_percent_encode(role);
    if (enc == NULL || !plain_name(enc) ||
        snprintf(path, sizeof(path), "%s/staged/%s.json", srv->cfg->image_dir, enc) >=
                (int)sizeof(path)) {
        sdv_httpd_respond_status(req, 400, "staged metadata: bad role name");
        goto out;
    }
    /* The exact bytes: timestamp and snapshot commit to them, signatures cover their content. */
    pthread_mutex_lock(&srv->image_mu);
    err = sdv_fs_write_atomic(path, req->body, req->body_len, 0644);
    pthread_mutex_unlock(&srv->image_mu);
    if (err != SDV_OK) {
        snprintf(msg, sizeof(msg), "staged metadata: cannot write %s.json: %s", role,
                 sdv_strerror(err));
        sdv_httpd_respond_status(req, 500, msg);
        goto out;
    }
    sdv_logf(&srv->log, SDV_LOG_INFO, "image repository: staged %s v%lld", role,
             (long long)json_integer_value(version));
    {
        json_t *ans = json_pack("{s:s, s:I}", "staged", role, "version",
                                (json_int_t)json_integer_value(version));

        sdv_httpd_respond_json(req, 200, ans);
        json_decref(ans);
    }
out:
    free(enc);
    json_decref(doc);
}

void server_h_image_publish(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    const struct server_config *cfg = srv->cfg;
    int64_t now = server_now();
    int64_t ts_life = cfg->image_timestamp_lifetime_s > 0 ? cfg->image_timestamp_lifetime_s
                                                          : SDV_TUF_REPO_TIMESTAMP_EXPIRY_S;
    struct sdv_tuf_repo *repo = NULL;
    struct sdv_tuf_client *c = NULL;
    struct view_fetch vf;
    char msg[1024];
    json_t *ans;
    enum sdv_err err;

    if (!server_admin_auth(srv, req))
        return;
    pthread_mutex_lock(&srv->image_mu);
    err = sdv_tuf_repo_open(cfg->image_dir, now, &repo, msg, sizeof(msg));
    if (err != SDV_OK) {
        sdv_httpd_respond_status(req, 500, msg);
        goto out;
    }
    err = sdv_tuf_repo_snapshot(repo, srv->img_snapshot,
                                cfg->image_snapshot_hashes ? SDV_TUF_REPO_SNAPSHOT_HASHES : 0);
    sdv_tuf_repo_set_expires(repo, now + ts_life);
    if (err == SDV_OK)
        err = sdv_tuf_repo_timestamp(repo, srv->img_timestamp);
    if (err == SDV_OK)
        err = sdv_tuf_repo_publish(repo);
    if (err != SDV_OK) {
        snprintf(msg, sizeof(msg), "publish refused: %s", sdv_tuf_repo_errmsg(repo));
        sdv_httpd_respond_error(req, 400, msg, sdv_errname(err));
        goto out;
    }
    /* What clients will now see must verify for us too. */
    err = view_open(srv, now, &vf, &c, msg, sizeof(msg));
    if (err != SDV_OK) {
        sdv_httpd_respond_status(req, 500, msg);
        goto out;
    }
    sdv_logf(&srv->log, SDV_LOG_INFO, "image repository: published targets v%lld, snapshot v%lld",
             (long long)sdv_tuf_client_role_version(c, "targets"),
             (long long)sdv_tuf_client_role_version(c, "snapshot"));
    ans = json_pack("{s:b, s:{s:I, s:I, s:I, s:I}}", "published", 1, "versions", "root",
                    (json_int_t)sdv_tuf_client_role_version(c, "root"), "targets",
                    (json_int_t)sdv_tuf_client_role_version(c, "targets"), "snapshot",
                    (json_int_t)sdv_tuf_client_role_version(c, "snapshot"), "timestamp",
                    (json_int_t)sdv_tuf_client_role_version(c, "timestamp"));
    sdv_httpd_respond_json(req, 200, ans);
    json_decref(ans);
out:
    sdv_tuf_client_destroy(c);
    sdv_tuf_repo_close(repo);
    pthread_mutex_unlock(&srv->image_mu);
}
