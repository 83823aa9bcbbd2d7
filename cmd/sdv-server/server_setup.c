/*
 * server_setup.c - start-up and tear-down of the server's state (keys, store pool, artifact
 * store, image repository check) and its route table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/tuf_repo.h>

#include "server.h"

static enum sdv_err load_key(const char *path, const char *field, bool need_private,
                             struct sdv_key **out, char *errmsg, size_t errmsg_len)
{
    enum sdv_err err = sdv_key_load_pem_file(path, out);

    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "field \"%s\": cannot load key %s: %s", field, path,
                 sdv_strerror(err));
        return err;
    }
    if (need_private && !sdv_key_has_private(*out)) {
        snprintf(errmsg, errmsg_len,
                 "field \"%s\": %s is a public key; this online key must "
                 "have its private half",
                 field, path);
        return SDV_EINVAL;
    }
    return SDV_OK;
}

static enum sdv_err load_keys(struct server *srv, const struct server_config *cfg, char *errmsg,
                              size_t errmsg_len)
{
    struct sdv_uptane_director_keys *k = &srv->dir_keys;
    enum sdv_err err = SDV_OK;

    for (size_t i = 0; i < cfg->director_root_key_count && err == SDV_OK; i++) {
        char field[64];

        snprintf(field, sizeof(field), "director.root_keys[%zu]", i);
        err = load_key(cfg->director_root_keys[i], field, false, &srv->dir_root[i], errmsg,
                       errmsg_len);
    }
    if (err == SDV_OK)
        err = load_key(cfg->director_targets_key, "director.targets_key", true, &srv->dir_targets,
                       errmsg, errmsg_len);
    if (err == SDV_OK)
        err = load_key(cfg->director_snapshot_key, "director.snapshot_key", true,
                       &srv->dir_snapshot, errmsg, errmsg_len);
    if (err == SDV_OK)
        err = load_key(cfg->director_timestamp_key, "director.timestamp_key", true,
                       &srv->dir_timestamp, errmsg, errmsg_len);
    if (err == SDV_OK)
        err = load_key(cfg->image_snapshot_key, "image_repository.snapshot_key", true,
                       &srv->img_snapshot, errmsg, errmsg_len);
    if (err == SDV_OK)
        err = load_key(cfg->image_timestamp_key, "image_repository.timestamp_key", true,
                       &srv->img_timestamp, errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;
    k->root_keys = (const struct sdv_key *const *)srv->dir_root;
    k->root_key_count = cfg->director_root_key_count;
    k->root_threshold = cfg->director_root_threshold;
    k->targets = srv->dir_targets;
    k->snapshot = srv->dir_snapshot;
    k->timestamp = srv->dir_timestamp;

    sdv_buf_init(&srv->dir_root_seed, SDV_TUF_ROOT_MAX_LEN);
    if (cfg->director_root_metadata != NULL) {
        err = sdv_fs_read(cfg->director_root_metadata, &srv->dir_root_seed);
        if (err != SDV_OK) {
            snprintf(errmsg, errmsg_len, "field \"director.root_metadata\": cannot read %s: %s",
                     cfg->director_root_metadata, sdv_strerror(err));
            return err;
        }
    } else {
        size_t can_sign = 0;

        for (size_t i = 0; i < cfg->director_root_key_count; i++)
            can_sign += sdv_key_has_private(srv->dir_root[i]) != 0;
        if (can_sign < cfg->director_root_threshold) {
            snprintf(errmsg, errmsg_len,
                     "field \"director.root_keys\": only %zu of the %u root keys needed to sign "
                     "a director root have a private half; give \"director.root_metadata\" (a "
                     "root signed offline) or the private keys",
                     can_sign, cfg->director_root_threshold);
            return SDV_EINVAL;
        }
    }
    return SDV_OK;
}

enum sdv_err server_init(struct server *srv, const struct server_config *cfg,
                         const struct sdv_log *log, size_t store_handles, char *errmsg,
                         size_t errmsg_len)
{
    struct sdv_store_config sc = {0};
    struct sdv_tuf_repo *repo = NULL;
    unsigned removed = 0;
    enum sdv_err err;

    memset(srv, 0, sizeof(*srv));
    srv->cfg = cfg;
    srv->log = *log;
    pthread_mutex_init(&srv->image_mu, NULL);
    pthread_mutex_init(&srv->pool.mu, NULL);
    pthread_cond_init(&srv->pool.cv, NULL);

    err = load_keys(srv, cfg, errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;
    err = sdv_tuf_repo_open(cfg->image_dir, server_now(), &repo, errmsg, errmsg_len);
    sdv_tuf_repo_close(repo);
    if (err != SDV_OK) {
        char detail[512];

        snprintf(detail, sizeof(detail), "%s", errmsg);
        snprintf(errmsg, errmsg_len, "field \"image_repository.dir\": %s: %s", cfg->image_dir,
                 detail);
        return err;
    }
    if (store_handles == 0) /* --check: nothing is created or opened for writing */
        return SDV_OK;

    err = sdv_fs_mkdir_p(cfg->image_client_dir, 0700);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "field \"image_repository.client_dir\": cannot create %s: %s",
                 cfg->image_client_dir, sdv_strerror(err));
        return err;
    }
    err = sdv_artifact_store_open(cfg->artifact_dir, &srv->artifacts);
    if (err == SDV_OK)
        err = sdv_artifact_store_clean_tmp(srv->artifacts, &removed);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "field \"artifact_dir\": cannot open %s: %s",
                 cfg->artifact_dir, sdv_strerror(err));
        return err;
    }
    if (removed > 0)
        sdv_logf(log, SDV_LOG_INFO, "artifacts: removed %u unfinished uploads", removed);

    /* A SQLite file's directory is created like the other state directories. */
    if (strstr(cfg->store_url, "://") == NULL) {
        const char *path =
                strncmp(cfg->store_url, "sqlite:", 7) == 0 ? cfg->store_url + 7 : cfg->store_url;
        const char *slash = strrchr(path, '/');
        char *dir = slash != NULL && slash != path ? strndup(path, (size_t)(slash - path)) : NULL;

        err = dir != NULL ? sdv_fs_mkdir_p(dir, 0700) : SDV_OK;
        if (err != SDV_OK)
            snprintf(errmsg, errmsg_len, "field \"store\": cannot create the directory %s: %s", dir,
                     sdv_strerror(err));
        free(dir);
        if (err != SDV_OK)
            return err;
    }
    srv->pool.h = calloc(store_handles, sizeof(*srv->pool.h));
    srv->pool.busy = calloc(store_handles, sizeof(*srv->pool.busy));
    if (srv->pool.h == NULL || srv->pool.busy == NULL)
        return SDV_ENOMEM;
    sc.log = *log;
    for (size_t i = 0; i < store_handles; i++) {
        err = sdv_store_open(cfg->store_url, &sc, &srv->pool.h[i]);
        srv->pool.n = i + 1;
        if (err != SDV_OK) {
            snprintf(errmsg, errmsg_len, "field \"store\": cannot open %s: %s", cfg->store_url,
                     sdv_store_errmsg(srv->pool.h[i]));
            return err;
        }
    }
    sdv_logf(log, SDV_LOG_INFO, "store: %s, schema version %d", sdv_store_backend(srv->pool.h[0]),
             sdv_store_schema_version(srv->pool.h[0]));
    return SDV_OK;
}

void server_fini(struct server *srv)
{
    for (size_t i = 0; i < srv->pool.n; i++)
        sdv_store_close(srv->pool.h[i]);
    free(srv->pool.h);
    free(srv->pool.busy);
    sdv_artifact_store_close(srv->artifacts);
    for (size_t i = 0; i < SDV_UPTANE_ROOT_KEYS_MAX; i++)
        sdv_key_destroy(srv->dir_root[i]);
    sdv_key_destroy(srv->dir_targets);
    sdv_key_destroy(srv->dir_snapshot);
    sdv_key_destroy(srv->dir_timestamp);
    sdv_key_destroy(srv->img_snapshot);
    sdv_key_destroy(srv->img_timestamp);
    sdv_buf_free(&srv->dir_root_seed);
    pthread_mutex_destroy(&srv->image_mu);
    pthread_mutex_destroy(&srv->pool.mu);
    pthread_cond_destroy(&srv->pool.cv);
    memset(srv, 0, sizeof(*srv));
}

enum sdv_err server_routes_add(struct server *srv)
{
    const struct sdv_httpd_route routes[] = {
            {"GET", "/v1/vehicle/director/", SDV_HTTPD_PREFIX, 0, server_h_director_get, NULL, NULL,
             srv},
            {"GET", "/v1/vehicle/image/metadata/", SDV_HTTPD_PREFIX, 0, server_h_image_metadata,
             NULL, NULL, srv},
            {"GET", "/v1/vehicle/image/targets/", SDV_HTTPD_PREFIX, 0, server_h_image_target, NULL,
             NULL, srv},
            {"POST", "/v1/vehicle/manifest", 0, SDV_UPTANE_MANIFEST_LEN_MAX, server_h_manifest,
             NULL, NULL, srv},
            {"POST", "/v1/admin/vehicles", SDV_HTTPD_ANON, SERVER_ADMIN_JSON_LEN_MAX,
             server_h_vehicles_post, NULL, NULL, srv},
            {"GET", "/v1/admin/vehicles", SDV_HTTPD_ANON, 0, server_h_vehicles_list, NULL, NULL,
             srv},
            {"GET", "/v1/admin/vehicles/", SDV_HTTPD_ANON | SDV_HTTPD_PREFIX, 0,
             server_h_vehicle_get, NULL, NULL, srv},
            {"POST", "/v1/admin/assignments", SDV_HTTPD_ANON, SERVER_ADMIN_JSON_LEN_MAX,
             server_h_assignments, NULL, NULL, srv},
            {"PUT", "/v1/admin/artifacts", SDV_HTTPD_ANON, srv->cfg->upload_max,
             server_h_artifact_put, server_artifact_body, server_artifact_done, srv},
            {"PUT", "/v1/admin/image/staged/", SDV_HTTPD_ANON | SDV_HTTPD_PREFIX,
             SDV_TUF_TARGETS_MAX_LEN, server_h_image_staged, NULL, NULL, srv},
            {"POST", "/v1/admin/image/publish", SDV_HTTPD_ANON, 0, server_h_image_publish, NULL,
             NULL, srv},
    };
    enum sdv_err err = SDV_OK;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]) && err == SDV_OK; i++)
        err = sdv_httpd_route_add(srv->httpd, &routes[i]);
    return err;
}
