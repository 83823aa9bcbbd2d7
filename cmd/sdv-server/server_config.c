/*
 * server_config.c - the JSON configuration file of sdv-server (docs/server.md lists every
 * field). Every field is checked for its type and range here, unknown fields are refused (a
 * typo must not silently fall back to a default), and every message names the field.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

struct cfg_ctx {
    char *dir; /* directory of the configuration file, for relative paths */
    char *errmsg;
    size_t errmsg_len;
};

static enum sdv_err cfg_fail(struct cfg_ctx *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static enum sdv_err cfg_fail(struct cfg_ctx *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->errmsg, c->errmsg_len, fmt, ap);
    va_end(ap);
    return SDV_EINVAL;
}

/* Refuses members of obj that are not in allowed (NULL-terminated). */
static enum sdv_err only_fields(struct cfg_ctx *c, const json_t *obj, const char *where,
                                const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i;

        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], key) == 0)
                break;
        if (allowed[i] == NULL)
            return cfg_fail(c, "field \"%s%s%s\": unknown field", where, where[0] ? "." : "", key);
    }
    return SDV_OK;
}

/* An optional object member; NULL when absent. */
static enum sdv_err get_object(struct cfg_ctx *c, const json_t *obj, const char *name,
                               const char *field, json_t **out)
{
    json_t *v = json_object_get(obj, name);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return SDV_OK;
    if (!json_is_object(v))
        return cfg_fail(c, "field \"%s\": must be an object", field);
    *out = v;
    return SDV_OK;
}

static enum sdv_err get_string(struct cfg_ctx *c, const json_t *obj, const char *name,
                               const char *field, char **out)
{
    json_t *v = obj != NULL ? json_object_get(obj, name) : NULL;

    if (v == NULL || json_is_null(v))
        return SDV_OK; /* keep the default */
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return cfg_fail(c, "field \"%s\": must be a non-empty string", field);
    free(*out);
    *out = strdup(json_string_value(v));
    return *out != NULL ? SDV_OK : SDV_ENOMEM;
}

/* A path: relative ones are taken from the configuration file's directory. */
static enum sdv_err get_path(struct cfg_ctx *c, const json_t *obj, const char *name,
                             const char *field, char **out)
{
    char *s = NULL;
    enum sdv_err err = get_string(c, obj, name, field, &s);
    size_t n;

    if (err != SDV_OK || s == NULL)
        return err;
    if (s[0] == '/' || c->dir[0] == '\0') {
        free(*out);
        *out = s;
        return SDV_OK;
    }
    n = strlen(c->dir) + strlen(s) + 2;
    free(*out);
    *out = malloc(n);
    if (*out == NULL) {
        free(s);
        return SDV_ENOMEM;
    }
    snprintf(*out, n, "%s/%s", c->dir, s);
    free(s);
    return SDV_OK;
}

static enum sdv_err get_int(struct cfg_ctx *c, const json_t *obj, const char *name,
                            const char *field, int64_t min, int64_t max, int64_t *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, name) : NULL;

    if (v == NULL || json_is_null(v))
        return SDV_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return cfg_fail(c, "field \"%s\": must be an integer from %lld to %lld", field,
                        (long long)min, (long long)max);
    *out = json_integer_value(v);
    return SDV_OK;
}

static enum sdv_err get_bool(struct cfg_ctx *c, const json_t *obj, const char *name,
                             const char *field, bool *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, name) : NULL;

    if (v == NULL || json_is_null(v))
        return SDV_OK;
    if (!json_is_boolean(v))
        return cfg_fail(c, "field \"%s\": must be true or false", field);
    *out = json_is_true(v);
    return SDV_OK;
}

/* Reads a small text file named by a field (PEM, token) into a NUL-terminated string. */
static enum sdv_err read_text(struct cfg_ctx *c, const char *path, const char *field, size_t max,
                              char **out)
{
    struct sdv_buf b;
    enum sdv_err err;

    sdv_buf_init(&b, max);
    err = sdv_fs_read(path, &b);
    if (err != SDV_OK) {
        sdv_buf_free(&b);
        return cfg_fail(c, "field \"%s\": cannot read %s: %s", field, path, sdv_strerror(err));
    }
    *out = sdv_buf_steal(&b, NULL);
    return *out != NULL ? SDV_OK : SDV_ENOMEM;
}

/* A required path field of a section; with must_exist it must be a readable file. */
static enum sdv_err need_path(struct cfg_ctx *c, const json_t *obj, const char *name,
                              const char *field, char **out)
{
    enum sdv_err err = get_path(c, obj, name, field, out);

    if (err == SDV_OK && *out == NULL)
        return cfg_fail(c, "field \"%s\": required", field);
    return err;
}

static enum sdv_err parse_listen(struct cfg_ctx *c, const json_t *root, struct server_config *cfg)
{
    static const char *const allowed[] = {"address", "port", "threads", "connections", NULL};
    json_t *o;
    int64_t port = 8080, threads = 0, conns = 0;
    enum sdv_err err = get_object(c, root, "listen", "listen", &o);

    if (err == SDV_OK && o != NULL)
        err = only_fields(c, o, "listen", allowed);
    if (err == SDV_OK)
        err = get_string(c, o, "address", "listen.address", &cfg->listen_address);
    if (err == SDV_OK)
        err = get_int(c, o, "port", "listen.port", 0, 65535, &port);
    if (err == SDV_OK)
        err = get_int(c, o, "threads", "listen.threads", 0, SDV_HTTPD_THREADS_MAX, &threads);
    if (err == SDV_OK)
        err = get_int(c, o, "connections", "listen.connections", 0, SDV_HTTPD_CONNECTIONS_MAX,
                      &conns);
    cfg->port = (uint16_t)port;
    cfg->threads = (unsigned)threads;
    cfg->connections_max = (unsigned)conns;
    if (err == SDV_OK && cfg->listen_address == NULL)
        cfg->listen_address = strdup("127.0.0.1");
    return err == SDV_OK && cfg->listen_address == NULL ? SDV_ENOMEM : err;
}

static enum sdv_err parse_image(struct cfg_ctx *c, const json_t *root, struct server_config *cfg)
{
    static const char *const allowed[] = {"dir",
                                          "snapshot_key",
                                          "timestamp_key",
                                          "trusted_root",
                                          "timestamp_lifetime_s",
                                          "snapshot_hashes",
                                          "client_dir",
                                          NULL};
    json_t *o;
    enum sdv_err err = get_object(c, root, "image_repository", "image_repository", &o);

    if (err != SDV_OK)
        return err;
    if (o == NULL)
        return cfg_fail(c, "field \"image_repository\": required (the `sdv repo` directory and "
                           "its online keys)");
    err = only_fields(c, o, "image_repository", allowed);
    if (err == SDV_OK)
        err = need_path(c, o, "dir", "image_repository.dir", &cfg->image_dir);
    if (err == SDV_OK)
        err = need_path(c, o, "snapshot_key", "image_repository.snapshot_key",
                        &cfg->image_snapshot_key);
    if (err == SDV_OK)
        err = need_path(c, o, "timestamp_key", "image_repository.timestamp_key",
                        &cfg->image_timestamp_key);
    if (err == SDV_OK)
        err = get_path(c, o, "trusted_root", "image_repository.trusted_root",
                       &cfg->image_trusted_root);
    if (err == SDV_OK)
        err = get_path(c, o, "client_dir", "image_repository.client_dir", &cfg->image_client_dir);
    if (err == SDV_OK)
        err = get_int(c, o, "timestamp_lifetime_s", "image_repository.timestamp_lifetime_s", 2,
                      366 * 86400, &cfg->image_timestamp_lifetime_s);
    if (err == SDV_OK)
        err = get_bool(c, o, "snapshot_hashes", "image_repository.snapshot_hashes",
                       &cfg->image_snapshot_hashes);
    return err;
}

static enum sdv_err parse_director(struct cfg_ctx *c, const json_t *root, struct server_config *cfg)
{
    static const char *const allowed[] = {
            "root_keys",          "root_threshold",      "root_metadata",        "targets_key",
            "snapshot_key",       "timestamp_key",       "consistent_snapshot",  "root_lifetime_s",
            "targets_lifetime_s", "snapshot_lifetime_s", "timestamp_lifetime_s", NULL};
    json_t *o, *keys;
    int64_t threshold = 1;
    bool consistent = false;
    enum sdv_err err = get_object(c, root, "director", "director", &o);
    struct sdv_uptane_director_config *d = &cfg->director;

    if (err != SDV_OK)
        return err;
    if (o == NULL)
        return cfg_fail(c, "field \"director\": required (the director's keys)");
    err = only_fields(c, o, "director", allowed);
    if (err != SDV_OK)
        return err;
    keys = json_object_get(o, "root_keys");
    if (!json_is_array(keys) || json_array_size(keys) == 0 ||
        json_array_size(keys) > SDV_UPTANE_ROOT_KEYS_MAX)
        return cfg_fail(c, "field \"director.root_keys\": must be an array of 1 to %d key files",
                        SDV_UPTANE_ROOT_KEYS_MAX);
    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *holder = json_pack("{s:O}", "k", json_array_get(keys, i));
        char field[64];

        if (holder == NULL)
            return SDV_ENOMEM;
        snprintf(field, sizeof(field), "director.root_keys[%zu]", i);
        err = get_path(c, holder, "k", field, &cfg->director_root_keys[i]);
        json_decref(holder);
        if (err != SDV_OK)
            return err;
        if (cfg->director_root_keys[i] == NULL)
            return cfg_fail(c, "field \"%s\": must be a non-empty string", field);
        cfg->director_root_key_count = i + 1;
    }
    err = get_int(c, o, "root_threshold", "director.root_threshold", 1,
                  (int64_t)cfg->director_root_key_count, &threshold);
    cfg->director_root_threshold = (unsigned)threshold;
    if (err == SDV_OK)
        err = get_path(c, o, "root_metadata", "director.root_metadata",
                       &cfg->director_root_metadata);
    if (err == SDV_OK)
        err = need_path(c, o, "targets_key", "director.targets_key", &cfg->director_targets_key);
    if (err == SDV_OK)
        err = need_path(c, o, "snapshot_key", "director.snapshot_key", &cfg->director_snapshot_key);
    if (err == SDV_OK)
        err = need_path(c, o, "timestamp_key", "director.timestamp_key",
                        &cfg->director_timestamp_key);
    if (err == SDV_OK)
        err = get_bool(c, o, "consistent_snapshot", "director.consistent_snapshot", &consistent);
    d->consistent_snapshot = consistent;
    if (err == SDV_OK)
        err = get_int(c, o, "root_lifetime_s", "director.root_lifetime_s", 2, 10 * 366 * 86400,
                      &d->root_lifetime_s);
    if (err == SDV_OK)
        err = get_int(c, o, "targets_lifetime_s", "director.targets_lifetime_s", 2, 366 * 86400,
                      &d->targets_lifetime_s);
    if (err == SDV_OK)
        err = get_int(c, o, "snapshot_lifetime_s", "director.snapshot_lifetime_s", 2, 366 * 86400,
                      &d->snapshot_lifetime_s);
    if (err == SDV_OK)
        err = get_int(c, o, "timestamp_lifetime_s", "director.timestamp_lifetime_s", 2, 366 * 86400,
                      &d->timestamp_lifetime_s);
    return err;
}

static enum sdv_err parse_admin(struct cfg_ctx *c, const json_t *root, struct server_config *cfg)
{
    static const char *const allowed[] = {"token", "token_file", NULL};
    json_t *o;
    char *file = NULL;
    enum sdv_err err = get_object(c, root, "admin", "admin", &o);
    size_t n;

    if (err != SDV_OK)
        return err;
    if (o == NULL)
        return cfg_fail(c, "field \"admin\": required (the admin API's bearer token)");
    err = only_fields(c, o, "admin", allowed);
    if (err == SDV_OK)
        err = get_string(c, o, "token", "admin.token", &cfg->admin_token);
    if (err == SDV_OK)
        err = get_path(c, o, "token_file", "admin.token_file", &file);
    if (err == SDV_OK && (file == NULL) == (cfg->admin_token == NULL))
        err = cfg_fail(c, "field \"admin\": give exactly one of \"token\" and \"token_file\"");
    if (err == SDV_OK && file != NULL)
        err = read_text(c, file, "admin.token_file", 4096, &cfg->admin_token);
    free(file);
    if (err != SDV_OK)
        return err;
    /* A token file usually ends with a newline. */
    n = strlen(cfg->admin_token);
    while (n > 0 && (cfg->admin_token[n - 1] == '\n' || cfg->admin_token[n - 1] == '\r' ||
                     cfg->admin_token[n - 1] == ' '))
        cfg->admin_token[--n] = '\0';
    if (n < 16)
        return cfg_fail(c, "field \"admin.token\": must have at least 16 characters");
    for (size_t i = 0; i < n; i++)
        if (cfg->admin_token[i] <= ' ' || cfg->admin_token[i] > '~')
            return cfg_fail(c, "field \"admin.token\": only printable ASCII without spaces");
    return SDV_OK;
}

static enum sdv_err parse_tls_proxy(struct cfg_ctx *c, const json_t *root,
                                    struct server_config *cfg)
{
    static const char *const tls_allowed[] = {"cert", "key", "device_ca", NULL};
    static const char *const proxy_allowed[] = {"trusted", "identity_header", NULL};
    json_t *tls, *proxy, *list;
    char *path = NULL;
    enum sdv_err err = get_object(c, root, "tls", "tls", &tls);

    if (err == SDV_OK)
        err = get_object(c, root, "proxy", "proxy", &proxy);
    if (err != SDV_OK)
        return err;
    if (tls != NULL && proxy != NULL)
        return cfg_fail(c, "fields \"tls\" and \"proxy\": give one of them (mTLS, or plain HTTP "
                           "behind a TLS-terminating proxy)");
    if (tls != NULL) {
        err = only_fields(c, tls, "tls", tls_allowed);
        if (err == SDV_OK)
            err = need_path(c, tls, "cert", "tls.cert", &path);
        if (err == SDV_OK)
            err = read_text(c, path, "tls.cert", 1024 * 1024, &cfg->tls_cert_pem);
        free(path);
        path = NULL;
        if (err == SDV_OK)
            err = need_path(c, tls, "key", "tls.key", &path);
        if (err == SDV_OK)
            err = read_text(c, path, "tls.key", SDV_KEY_PEM_LEN_MAX, &cfg->tls_key_pem);
        free(path);
        path = NULL;
        if (err == SDV_OK)
            err = need_path(c, tls, "device_ca", "tls.device_ca", &path);
        if (err == SDV_OK)
            err = read_text(c, path, "tls.device_ca", 1024 * 1024, &cfg->tls_device_ca_pem);
        free(path);
        return err;
    }
    if (proxy == NULL)
        return SDV_OK;
    err = only_fields(c, proxy, "proxy", proxy_allowed);
    if (err != SDV_OK)
        return err;
    list = json_object_get(proxy, "trusted");
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > SDV_HTTPD_PROXIES_MAX)
        return cfg_fail(c, "field \"proxy.trusted\": must be an array of 1 to %u IP addresses",
                        SDV_HTTPD_PROXIES_MAX);
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *v = json_array_get(list, i);

        if (!json_is_string(v) || json_string_length(v) == 0)
            return cfg_fail(c, "field \"proxy.trusted[%zu]\": must be an IP address", i);
        cfg->proxies[i] = strdup(json_string_value(v));
        if (cfg->proxies[i] == NULL)
            return SDV_ENOMEM;
        cfg->proxy_count = i + 1;
    }
    return get_string(c, proxy, "identity_header", "proxy.identity_header", &cfg->proxy_header);
}

static enum sdv_err parse_limits(struct cfg_ctx *c, const json_t *root, struct server_config *cfg)
{
    static const char *const allowed[] = {"max_upload_bytes", NULL};
    json_t *o;
    int64_t up = (int64_t)SERVER_UPLOAD_MAX_DEFAULT;
    enum sdv_err err = get_object(c, root, "limits", "limits", &o);

    if (err == SDV_OK && o != NULL)
        err = only_fields(c, o, "limits", allowed);
    if (err == SDV_OK)
        err = get_int(c, o, "max_upload_bytes", "limits.max_upload_bytes", 1,
                      (int64_t)SDV_HTTPD_STREAM_LEN_MAX, &up);
    cfg->upload_max = (uint64_t)up;
    return err;
}

/* Joins the state directory and a default name when a field was not given. */
static enum sdv_err default_in(struct cfg_ctx *c, const char *state_dir, const char *name,
                               const char *field, const char *prefix, char **out)
{
    size_t n;

    if (*out != NULL)
        return SDV_OK;
    if (state_dir == NULL)
        return cfg_fail(c, "field \"%s\": required when \"state_dir\" is not given", field);
    n = strlen(prefix) + strlen(state_dir) + strlen(name) + 2;
    *out = malloc(n);
    if (*out == NULL)
        return SDV_ENOMEM;
    snprintf(*out, n, "%s%s/%s", prefix, state_dir, name);
    return SDV_OK;
}

enum sdv_err server_config_load(const char *path, struct server_config *cfg, char *errmsg,
                                size_t errmsg_len)
{
    static const char *const allowed[] = {
            "listen", "state_dir", "store", "artifact_dir", "image_repository", "director",
            "admin",  "tls",       "proxy", "limits",       "renew_interval_s", "shutdown_drain_ms",
            NULL};
    struct cfg_ctx c = {NULL, errmsg, errmsg_len};
    struct sdv_buf raw;
    json_t *root = NULL;
    char *state_dir = NULL, jerr[160];
    const char *slash;
    int64_t renew = SERVER_RENEW_INTERVAL_S_DEFAULT, drain = SERVER_DRAIN_MS_DEFAULT;
    enum sdv_err err;

    memset(cfg, 0, sizeof(*cfg));
    errmsg[0] = '\0';
    cfg->path = strdup(path);
    slash = strrchr(path, '/');
    c.dir = slash == NULL ? strdup("") : strndup(path, (size_t)(slash - path));
    if (cfg->path == NULL || c.dir == NULL) {
        free(c.dir);
        return SDV_ENOMEM;
    }
    if (slash == path) /* "/server.json" */
        c.dir[0] = '\0';
    sdv_buf_init(&raw, SERVER_CONFIG_LEN_MAX);
    err = sdv_fs_read(path, &raw);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "cannot read: %s", sdv_strerror(err));
        goto out;
    }
    err = sdv_json_parse(raw.data, raw.len, &root, jerr, sizeof(jerr));
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "not valid JSON: %s", jerr);
        goto out;
    }
    if (!json_is_object(root)) {
        err = cfg_fail(&c, "the configuration must be a JSON object");
        goto out;
    }
    err = only_fields(&c, root, "", allowed);
    if (err == SDV_OK)
        err = parse_listen(&c, root, cfg);
    if (err == SDV_OK)
        err = get_path(&c, root, "state_dir", "state_dir", &state_dir);
    if (err == SDV_OK)
        err = get_string(&c, root, "store", "store", &cfg->store_url);
    if (err == SDV_OK)
        err = get_path(&c, root, "artifact_dir", "artifact_dir", &cfg->artifact_dir);
    if (err == SDV_OK)
        err = parse_image(&c, root, cfg);
    if (err == SDV_OK)
        err = parse_director(&c, root, cfg);
    if (err == SDV_OK)
        err = parse_admin(&c, root, cfg);
    if (err == SDV_OK)
        err = parse_tls_proxy(&c, root, cfg);
    if (err == SDV_OK)
        err = parse_limits(&c, root, cfg);
    if (err == SDV_OK)
        err = get_int(&c, root, "renew_interval_s", "renew_interval_s", 1, 86400, &renew);
    if (err == SDV_OK)
        err = get_int(&c, root, "shutdown_drain_ms", "shutdown_drain_ms", 1, SDV_HTTPD_DRAIN_MS_MAX,
                      &drain);
    cfg->renew_interval_s = renew;
    cfg->drain_ms = (unsigned)drain;
    /* A store URL with a scheme is used as is; a bare path is relative to the file. */
    if (err == SDV_OK && cfg->store_url != NULL && strstr(cfg->store_url, "://") == NULL &&
        strncmp(cfg->store_url, "sqlite:", 7) != 0 && cfg->store_url[0] != '/' &&
        c.dir[0] != '\0') {
        char *rel = cfg->store_url;
        json_t *holder = json_pack("{s:s}", "s", rel);

        cfg->store_url = NULL;
        err = holder != NULL ? get_path(&c, holder, "s", "store", &cfg->store_url) : SDV_ENOMEM;
        json_decref(holder);
        free(rel);
    }
    if (err == SDV_OK)
        err = default_in(&c, state_dir, "sdv-server.db", "store", "sqlite:", &cfg->store_url);
    if (err == SDV_OK)
        err = default_in(&c, state_dir, "artifacts", "artifact_dir", "", &cfg->artifact_dir);
    if (err == SDV_OK)
        err = default_in(&c, state_dir, "image-client", "image_repository.client_dir", "",
                         &cfg->image_client_dir);
out:
    if (err != SDV_OK && errmsg[0] == '\0')
        snprintf(errmsg, errmsg_len, "%s", sdv_strerror(err));
    json_decref(root);
    sdv_buf_free(&raw);
    free(state_dir);
    free(c.dir);
    if (err != SDV_OK)
        server_config_free(cfg);
    return err;
}

void server_config_free(struct server_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->listen_address);
    free(cfg->store_url);
    free(cfg->artifact_dir);
    free(cfg->image_dir);
    free(cfg->image_snapshot_key);
    free(cfg->image_timestamp_key);
    free(cfg->image_trusted_root);
    free(cfg->image_client_dir);
    for (size_t i = 0; i < cfg->director_root_key_count; i++)
        free(cfg->director_root_keys[i]);
    free(cfg->director_root_metadata);
    free(cfg->director_targets_key);
    free(cfg->director_snapshot_key);
    free(cfg->director_timestamp_key);
    free(cfg->admin_token);
    free(cfg->tls_cert_pem);
    free(cfg->tls_key_pem);
    free(cfg->tls_device_ca_pem);
    for (size_t i = 0; i < cfg->proxy_count; i++)
        free(cfg->proxies[i]);
    free(cfg->proxy_header);
    memset(cfg, 0, sizeof(*cfg));
}
