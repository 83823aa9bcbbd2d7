/*
 * tuf_repo.c - the repository handle: init/open/close, the role cache over DIR/staged, the
 * published state read back from DIR/metadata, and the version rule.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>
#include <sdv/tuf_repo.h>

#include "tuf_repo_int.h"

static const char *const top_names[4] = {"root", "timestamp", "snapshot", "targets"};

enum sdv_err tuf_repo_err(struct sdv_tuf_repo *repo, enum sdv_err err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(repo->errmsg, sizeof(repo->errmsg), fmt, ap);
    va_end(ap);
    return err;
}

void tuf_repo_begin(struct sdv_tuf_repo *repo)
{
    repo->call_id++;
    repo->errmsg[0] = '\0';
}

const char *sdv_tuf_repo_errmsg(const struct sdv_tuf_repo *repo)
{
    return repo != NULL ? repo->errmsg : "no repository";
}

void sdv_tuf_repo_set_expires(struct sdv_tuf_repo *repo, int64_t expires)
{
    repo->expires_override = expires;
}

enum sdv_err tuf_repo_path(const struct sdv_tuf_repo *repo, char *out, size_t out_len,
                           const char *sub, const char *name)
{
    int n;

    if (name != NULL)
        n = snprintf(out, out_len, "%s/%s/%s", repo->dir, sub, name);
    else
        n = snprintf(out, out_len, "%s/%s", repo->dir, sub);
    return n < 0 || (size_t)n >= out_len ? SDV_ETOOBIG : SDV_OK;
}

static enum sdv_err staged_path(const struct sdv_tuf_repo *repo, size_t idx, char *out,
                                size_t out_len)
{
    char file[TUF_REPO_PATH_MAX];
    int n = snprintf(file, sizeof(file), "%s.json", repo->roles[idx].enc);

    if (n < 0 || (size_t)n >= sizeof(file))
        return SDV_ETOOBIG;
    return tuf_repo_path(repo, out, out_len, "staged", file);
}

enum sdv_err tuf_repo_read_staged(struct sdv_tuf_repo *repo, size_t idx, struct sdv_buf *out)
{
    char path[TUF_REPO_PATH_MAX];
    enum sdv_err err = staged_path(repo, idx, path, sizeof(path));

    if (err == SDV_OK)
        err = sdv_fs_read(path, out);
    if (err != SDV_OK)
        return tuf_repo_err(repo, err, "cannot read staged %s: %s", repo->roles[idx].name,
                            sdv_strerror(err));
    return SDV_OK;
}

enum sdv_err tuf_repo_published_path(const struct sdv_tuf_repo *repo, size_t idx, int64_t version,
                                     int consistent, char *out, size_t out_len)
{
    char file[TUF_REPO_PATH_MAX];
    int n;

    if (idx == TUF_REPO_TIMESTAMP || (!consistent && idx != TUF_REPO_ROOT))
        n = snprintf(file, sizeof(file), "%s.json", repo->roles[idx].enc);
    else
        n = snprintf(file, sizeof(file), "%lld.%s.json", (long long)version, repo->roles[idx].enc);
    if (n < 0 || (size_t)n >= sizeof(file))
        return SDV_ETOOBIG;
    return tuf_repo_path(repo, out, out_len, "metadata", file);
}

static int64_t signed_version(const json_t *md)
{
    json_t *v = json_object_get(tuf_repo_signed(md), "version");

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

int64_t tuf_repo_published_version(const struct sdv_tuf_repo *repo, size_t idx)
{
    char file[TUF_REPO_PATH_MAX];
    json_t *v;

    switch (idx) {
    case TUF_REPO_ROOT:
        return repo->pub_root != NULL ? signed_version(repo->pub_root) : 0;
    case TUF_REPO_TIMESTAMP:
        return repo->pub_timestamp_version;
    case TUF_REPO_SNAPSHOT:
        return repo->pub_snapshot_version;
    default:
        break;
    }
    if (repo->pub_meta == NULL)
        return 0;
    if (snprintf(file, sizeof(file), "%s.json", repo->roles[idx].name) >= (int)sizeof(file))
        return 0;
    v = json_object_get(json_object_get(repo->pub_meta, file), "version");
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Reads and parses a metadata file; *out NULL and SDV_OK when it does not exist. */
static enum sdv_err read_json(struct sdv_tuf_repo *repo, const char *path, json_t **out)
{
    struct sdv_buf b;
    char msg[256];
    enum sdv_err err;

    *out = NULL;
    sdv_buf_init(&b, TUF_REPO_META_LEN_MAX);
    err = sdv_fs_read(path, &b);
    if (err == SDV_ENOENT) {
        sdv_buf_free(&b);
        return SDV_OK;
    }
    if (err != SDV_OK) {
        sdv_buf_free(&b);
        return tuf_repo_err(repo, err, "cannot read %s: %s", path, sdv_strerror(err));
    }
    err = sdv_json_parse(b.data, b.len, out, msg, sizeof(msg));
    sdv_buf_free(&b);
    if (err != SDV_OK)
        return tuf_repo_err(repo, err, "%s: %s", path, msg);
    if (tuf_repo_signed(*out) == NULL) {
        json_decref(*out);
        *out = NULL;
        return tuf_repo_err(repo, SDV_EPARSE, "%s: no \"signed\" object", path);
    }
    return SDV_OK;
}

enum sdv_err tuf_repo_load_published(struct sdv_tuf_repo *repo)
{
    char path[TUF_REPO_PATH_MAX];
    json_t *ts = NULL, *snap = NULL, *v;
    enum sdv_err err;

    json_decref(repo->pub_root);
    json_decref(repo->pub_meta);
    repo->pub_root = NULL;
    repo->pub_meta = NULL;
    repo->pub_timestamp_version = 0;
    repo->pub_snapshot_version = 0;
    repo->pub_consistent = 0;

    err = tuf_repo_path(repo, path, sizeof(path), "metadata", "root.json");
    if (err == SDV_OK)
        err = read_json(repo, path, &repo->pub_root);
    if (err != SDV_OK)
        return err;
    repo->pub_consistent =
            json_is_true(json_object_get(tuf_repo_signed(repo->pub_root), "consistent_snapshot"));
    err = tuf_repo_path(repo, path, sizeof(path), "metadata", "timestamp.json");
    if (err == SDV_OK)
        err = read_json(repo, path, &ts);
    if (err != SDV_OK || ts == NULL)
        return err;
    repo->pub_timestamp_version = signed_version(ts);
    v = json_object_get(
            json_object_get(json_object_get(tuf_repo_signed(ts), "meta"), "snapshot.json"),
            "version");
    if (!json_is_integer(v)) {
        json_decref(ts);
        return tuf_repo_err(repo, SDV_EPARSE, "published timestamp names no snapshot version");
    }
    err = tuf_repo_published_path(repo, TUF_REPO_SNAPSHOT, (int64_t)json_integer_value(v),
                                  repo->pub_consistent, path, sizeof(path));
    json_decref(ts);
    if (err == SDV_OK)
        err = read_json(repo, path, &snap);
    if (err != SDV_OK)
        return err;
    if (snap == NULL)
        return tuf_repo_err(repo, SDV_ENOENT, "published snapshot %s is missing", path);
    repo->pub_snapshot_version = signed_version(snap);
    repo->pub_meta = json_object_get(tuf_repo_signed(snap), "meta");
    json_incref(repo->pub_meta);
    json_decref(snap);
    if (!json_is_object(repo->pub_meta))
        return tuf_repo_err(repo, SDV_EPARSE, "published snapshot has no \"meta\"");
    return SDV_OK;
}

enum sdv_err tuf_repo_role_add(struct sdv_tuf_repo *repo, const char *name, size_t parent,
                               json_t *deleg, size_t *idx)
{
    json_t *existing = json_object_get(repo->index, name);
    struct tuf_repo_role *r;

    if (existing != NULL) {
        *idx = (size_t)json_integer_value(existing);
        return SDV_OK;
    }
    if (repo->role_count >= TUF_REPO_ROLES_MAX)
        return tuf_repo_err(repo, SDV_ELIMIT, "more than %u roles", (unsigned)TUF_REPO_ROLES_MAX);
    if (repo->role_count == repo->role_cap) {
        size_t cap = repo->role_cap ? repo->role_cap * 2 : 64;
        struct tuf_repo_role *n = realloc(repo->roles, cap * sizeof(*n));

        if (n == NULL)
            return SDV_ENOMEM;
        repo->roles = n;
        repo->role_cap = cap;
    }
    r = &repo->roles[repo->role_count];
    memset(r, 0, sizeof(*r));
    r->name = strdup(name);
    r->enc = sdv_percent_encode(name);
    if (r->name == NULL || r->enc == NULL ||
        json_object_set_new(repo->index, name, json_integer((json_int_t)repo->role_count)) != 0) {
        free(r->name);
        free(r->enc);
        return SDV_ENOMEM;
    }
    r->parent = parent;
    r->deleg = deleg;
    *idx = repo->role_count++;
    return SDV_OK;
}

static const char *expected_type(size_t idx)
{
    return idx < TUF_REPO_TARGETS ? top_names[idx] : "targets";
}

enum sdv_err tuf_repo_role_load(struct sdv_tuf_repo *repo, size_t idx)
{
    struct tuf_repo_role *r = &repo->roles[idx];
    char path[TUF_REPO_PATH_MAX];
    const char *type;
    enum sdv_err err;

    if (r->md != NULL)
        return SDV_OK;
    err = staged_path(repo, idx, path, sizeof(path));
    if (err == SDV_OK)
        err = read_json(repo, path, &r->md);
    if (err != SDV_OK)
        return err;
    if (r->md == NULL) {
        r->missing = 1;
        return tuf_repo_err(repo, SDV_ENOENT, "role %s has no staged metadata (%s)", r->name, path);
    }
    type = json_string_value(json_object_get(tuf_repo_signed(r->md), "_type"));
    if (type == NULL || strcmp(type, expected_type(idx)) != 0 ||
        !json_is_integer(json_object_get(tuf_repo_signed(r->md), "version"))) {
        json_decref(r->md);
        r->md = NULL;
        return tuf_repo_err(repo, SDV_EPARSE, "%s: not %s metadata with a version", path,
                            expected_type(idx));
    }
    r->missing = 0;
    return SDV_OK;
}

enum sdv_err tuf_repo_role_expand(struct sdv_tuf_repo *repo, size_t idx)
{
    json_t *deleg, *succinct, *roles, *entry;
    enum sdv_err err;
    size_t i, child;

    if (idx < TUF_REPO_TARGETS || repo->roles[idx].expanded)
        return SDV_OK;
    err = tuf_repo_role_load(repo, idx);
    if (err != SDV_OK)
        return err;
    repo->roles[idx].expanded = 1;
    deleg = json_object_get(tuf_repo_signed(repo->roles[idx].md), "delegations");
    if (deleg == NULL)
        return SDV_OK;
    succinct = json_object_get(deleg, "succinct_roles");
    roles = json_object_get(deleg, "roles");
    if (succinct != NULL) {
        json_t *bl = json_object_get(succinct, "bit_length");
        const char *prefix = json_string_value(json_object_get(succinct, "name_prefix"));
        json_int_t bits = json_is_integer(bl) ? json_integer_value(bl) : 0;
        char name[SDV_TUF_NAME_LEN_MAX + 16];

        if (bits < 1 || bits > SDV_TUF_SUCCINCT_BIT_LEN_MAX || prefix == NULL ||
            strlen(prefix) > SDV_TUF_NAME_LEN_MAX)
            return tuf_repo_err(repo, SDV_EPARSE, "%s: malformed succinct_roles",
                                repo->roles[idx].name);
        for (uint32_t b = 0; b < (1u << bits); b++) {
            snprintf(name, sizeof(name), "%s-%0*x", prefix, (int)((bits + 3) / 4), (unsigned)b);
            err = tuf_repo_role_add(repo, name, idx, succinct, &child);
            if (err != SDV_OK)
                return err;
        }
    }
    if (roles != NULL && !json_is_array(roles))
        return tuf_repo_err(repo, SDV_EPARSE, "%s: delegations.roles is not an array",
                            repo->roles[idx].name);
    json_array_foreach(roles, i, entry)
    {
        const char *name = json_string_value(json_object_get(entry, "name"));

        if (!tuf_repo_valid_role_name(name))
            return tuf_repo_err(repo, SDV_EPARSE, "%s: delegated role name is not valid",
                                repo->roles[idx].name);
        err = tuf_repo_role_add(repo, name, idx, entry, &child);
        if (err != SDV_OK)
            return err;
    }
    return SDV_OK;
}

/* Expands the next role in breadth-first order; SDV_ENOENT when the tree is exhausted. A role
 * without a staged file is skipped (it is reported where it matters). */
static enum sdv_err expand_next(struct sdv_tuf_repo *repo)
{
    enum sdv_err err;

    if (repo->scan_pos < TUF_REPO_TARGETS)
        repo->scan_pos = TUF_REPO_TARGETS;
    if (repo->scan_pos >= repo->role_count)
        return SDV_ENOENT;
    err = tuf_repo_role_expand(repo, repo->scan_pos);
    repo->scan_pos++;
    if (err == SDV_ENOENT)
        return SDV_OK;
    return err;
}

enum sdv_err tuf_repo_role_find(struct sdv_tuf_repo *repo, const char *name, size_t *idx)
{
    enum sdv_err err;

    for (;;) {
        json_t *v = json_object_get(repo->index, name);

        if (v != NULL) {
            *idx = (size_t)json_integer_value(v);
            return SDV_OK;
        }
        err = expand_next(repo);
        if (err == SDV_ENOENT)
            return tuf_repo_err(repo, SDV_ENOENT, "no role delegates %s", name);
        if (err != SDV_OK)
            return err;
    }
}

enum sdv_err tuf_repo_find_succinct(struct sdv_tuf_repo *repo, const char *prefix, size_t *idx)
{
    size_t checked = TUF_REPO_TARGETS;
    enum sdv_err err;

    for (;;) {
        for (; checked < repo->scan_pos && checked < repo->role_count; checked++) {
            json_t *s = json_object_get(
                    json_object_get(tuf_repo_signed(repo->roles[checked].md), "delegations"),
                    "succinct_roles");
            const char *p = json_string_value(json_object_get(s, "name_prefix"));

            if (p != NULL && strcmp(p, prefix) == 0) {
                *idx = checked;
                return SDV_OK;
            }
        }
        err = expand_next(repo);
        if (err == SDV_ENOENT)
            return tuf_repo_err(repo, SDV_ENOENT, "no role delegates %s", prefix);
        if (err != SDV_OK)
            return err;
    }
}

enum sdv_err tuf_repo_expand_all(struct sdv_tuf_repo *repo)
{
    enum sdv_err err;

    for (;;) {
        err = expand_next(repo);
        if (err == SDV_ENOENT)
            return SDV_OK;
        if (err != SDV_OK)
            return err;
    }
}

enum sdv_err tuf_repo_role_keys(struct sdv_tuf_repo *repo, size_t idx, json_t **keyids,
                                unsigned *threshold, json_t **keys)
{
    struct tuf_repo_role *r = &repo->roles[idx];
    json_t *entry, *th;
    enum sdv_err err;

    if (idx <= TUF_REPO_TARGETS) {
        json_t *root_signed;

        err = tuf_repo_role_load(repo, TUF_REPO_ROOT);
        if (err != SDV_OK)
            return err;
        root_signed = tuf_repo_signed(repo->roles[TUF_REPO_ROOT].md);
        entry = json_object_get(json_object_get(root_signed, "roles"), r->name);
        *keys = json_object_get(root_signed, "keys");
    } else {
        entry = r->deleg;
        *keys = json_object_get(
                json_object_get(tuf_repo_signed(repo->roles[r->parent].md), "delegations"), "keys");
    }
    *keyids = json_object_get(entry, "keyids");
    th = json_object_get(entry, "threshold");
    if (!json_is_array(*keyids) || !json_is_integer(th) || json_integer_value(th) < 1 ||
        json_integer_value(th) > SDV_TUF_KEYS_MAX || !json_is_object(*keys))
        return tuf_repo_err(repo, SDV_EPARSE, "the keys or threshold of role %s are malformed",
                            r->name);
    *threshold = (unsigned)json_integer_value(th);
    return SDV_OK;
}

static int64_t default_lifetime(size_t idx)
{
    switch (idx) {
    case TUF_REPO_ROOT:
        return SDV_TUF_REPO_ROOT_EXPIRY_S;
    case TUF_REPO_TIMESTAMP:
        return SDV_TUF_REPO_TIMESTAMP_EXPIRY_S;
    case TUF_REPO_SNAPSHOT:
        return SDV_TUF_REPO_SNAPSHOT_EXPIRY_S;
    default:
        return SDV_TUF_REPO_TARGETS_EXPIRY_S;
    }
}

static enum sdv_err set_expires(struct sdv_tuf_repo *repo, json_t *sgn, size_t idx)
{
    char when[SDV_TIME_STR_LEN];
    int64_t t = repo->expires_override ? repo->expires_override : repo->now + default_lifetime(idx);
    enum sdv_err err = sdv_time_format(t, when);

    if (err != SDV_OK)
        return err;
    return json_object_set_new(sgn, "expires", json_string(when)) == 0 ? SDV_OK : SDV_ENOMEM;
}

enum sdv_err tuf_repo_role_changed(struct sdv_tuf_repo *repo, size_t idx)
{
    struct tuf_repo_role *r = &repo->roles[idx];
    json_t *sgn = tuf_repo_signed(r->md);
    int64_t published = tuf_repo_published_version(repo, idx);
    enum sdv_err err;

    if (sgn == NULL)
        return tuf_repo_err(repo, SDV_EINVAL, "role %s is not loaded", r->name);
    if (r->mark == repo->call_id)
        return SDV_OK;
    r->mark = repo->call_id;
    if (signed_version(r->md) <= published &&
        json_object_set_new(sgn, "version", json_integer((json_int_t)(published + 1))) != 0)
        return SDV_ENOMEM;
    err = set_expires(repo, sgn, idx);
    if (err != SDV_OK)
        return err;
    if (json_object_set_new(r->md, "signatures", json_array()) != 0)
        return SDV_ENOMEM;
    r->dirty = 1;
    return SDV_OK;
}

static json_t *new_metadata(const char *type)
{
    return json_pack("{s:{s:s, s:s, s:i}, s:[]}", "signed", "_type", type, "spec_version",
                     SDV_TUF_SPEC_VERSION, "version", 1, "signatures");
}

static enum sdv_err init_version(struct sdv_tuf_repo *repo, size_t idx)
{
    json_t *sgn = tuf_repo_signed(repo->roles[idx].md);
    int64_t v = tuf_repo_published_version(repo, idx) + 1;

    if (json_object_set_new(sgn, "version", json_integer((json_int_t)v)) != 0)
        return SDV_ENOMEM;
    return set_expires(repo, sgn, idx);
}

enum sdv_err tuf_repo_role_create_targets(struct sdv_tuf_repo *repo, size_t idx)
{
    struct tuf_repo_role *r = &repo->roles[idx];
    enum sdv_err err;

    json_decref(r->md);
    r->md = new_metadata("targets");
    if (r->md == NULL || json_object_set_new(tuf_repo_signed(r->md), "targets", json_object()))
        return SDV_ENOMEM;
    err = init_version(repo, idx);
    if (err != SDV_OK)
        return err;
    r->missing = 0;
    r->dirty = 1;
    r->mark = repo->call_id;
    return SDV_OK;
}

enum sdv_err tuf_repo_save(struct sdv_tuf_repo *repo)
{
    char path[TUF_REPO_PATH_MAX];
    struct sdv_buf b;
    enum sdv_err err = SDV_OK;

    sdv_buf_init(&b, TUF_REPO_META_LEN_MAX);
    for (size_t i = 0; i < repo->role_count && err == SDV_OK; i++) {
        if (!repo->roles[i].dirty)
            continue;
        sdv_buf_reset(&b);
        err = sdv_tuf_serialize(repo->roles[i].md, &b);
        if (err == SDV_OK)
            err = staged_path(repo, i, path, sizeof(path));
        if (err == SDV_OK)
            err = sdv_fs_write_atomic(path, b.data, b.len, 0644);
        if (err != SDV_OK)
            tuf_repo_err(repo, err, "cannot write staged %s: %s", repo->roles[i].name,
                         sdv_strerror(err));
        else
            repo->roles[i].dirty = 0;
    }
    sdv_buf_free(&b);
    return err;
}

static enum sdv_err repo_create(const char *dir, int64_t now, struct sdv_tuf_repo **out)
{
    struct sdv_tuf_repo *repo = calloc(1, sizeof(*repo));
    size_t idx;
    enum sdv_err err;

    *out = NULL;
    if (repo == NULL)
        return SDV_ENOMEM;
    repo->dir = strdup(dir);
    repo->index = json_object();
    repo->now = now;
    if (repo->dir == NULL || repo->index == NULL) {
        sdv_tuf_repo_close(repo);
        return SDV_ENOMEM;
    }
    for (size_t i = 0; i < 4; i++) {
        err = tuf_repo_role_add(repo, top_names[i], i == 0 ? TUF_REPO_NO_PARENT : 0, NULL, &idx);
        if (err != SDV_OK) {
            sdv_tuf_repo_close(repo);
            return err;
        }
    }
    *out = repo;
    return SDV_OK;
}

static void copy_msg(const struct sdv_tuf_repo *repo, enum sdv_err err, char *errmsg,
                     size_t errmsg_len)
{
    if (errmsg == NULL || errmsg_len == 0)
        return;
    if (repo != NULL && repo->errmsg[0] != '\0')
        snprintf(errmsg, errmsg_len, "%s", repo->errmsg);
    else
        snprintf(errmsg, errmsg_len, "%s", sdv_strerror(err));
}

/* Checks the arguments init and open share and allocates the handle into *repo; on failure
 * copies the message into errmsg. */
static enum sdv_err repo_start(const char *dir, int64_t now, struct sdv_tuf_repo **out,
                               struct sdv_tuf_repo **repo, char *errmsg, size_t errmsg_len)
{
    enum sdv_err err = SDV_EINVAL;

    *repo = NULL;
    if (out != NULL && dir != NULL && *dir != '\0') {
        *out = NULL;
        err = repo_create(dir, now, repo);
    }
    if (err != SDV_OK)
        copy_msg(NULL, err, errmsg, errmsg_len);
    return err;
}

/* Hands repo to the caller when err is SDV_OK; otherwise copies the message and closes it. */
static enum sdv_err repo_finish(struct sdv_tuf_repo *repo, enum sdv_err err,
                                struct sdv_tuf_repo **out, char *errmsg, size_t errmsg_len)
{
    if (err == SDV_OK) {
        *out = repo;
        return SDV_OK;
    }
    copy_msg(repo, err, errmsg, errmsg_len);
    sdv_tuf_repo_close(repo);
    return err;
}

enum sdv_err sdv_tuf_repo_init(const char *dir, int consistent_snapshot, int64_t now,
                               struct sdv_tuf_repo **out, char *errmsg, size_t errmsg_len)
{
    static const char *const subdirs[] = {"staged", "metadata", "targets"};
    struct sdv_tuf_repo *repo = NULL;
    char path[TUF_REPO_PATH_MAX];
    struct stat st;
    enum sdv_err err;
    json_t *sgn, *roles;

    err = repo_start(dir, now, out, &repo, errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;
    err = tuf_repo_path(repo, path, sizeof(path), "staged", "root.json");
    if (err == SDV_OK && stat(path, &st) == 0)
        err = tuf_repo_err(repo, SDV_EEXIST, "%s already holds a repository", dir);
    for (size_t i = 0; i < 3 && err == SDV_OK; i++) {
        err = tuf_repo_path(repo, path, sizeof(path), subdirs[i], NULL);
        if (err == SDV_OK)
            err = sdv_fs_mkdir_p(path, 0755);
        if (err != SDV_OK)
            tuf_repo_err(repo, err, "cannot create %s: %s", path, sdv_strerror(err));
    }
    if (err == SDV_OK)
        err = tuf_repo_load_published(repo);
    for (size_t i = 0; i < 4 && err == SDV_OK; i++) {
        repo->roles[i].md = new_metadata(top_names[i]);
        if (repo->roles[i].md == NULL) {
            err = SDV_ENOMEM;
            break;
        }
        repo->roles[i].dirty = 1;
        err = init_version(repo, i);
    }
    if (err != SDV_OK)
        goto done;
    sgn = tuf_repo_signed(repo->roles[TUF_REPO_ROOT].md);
    roles = json_object();
    if (roles == NULL || json_object_set_new(sgn, "roles", roles) != 0 ||
        json_object_set_new(sgn, "keys", json_object()) != 0 ||
        json_object_set_new(sgn, "consistent_snapshot", json_boolean(consistent_snapshot)) != 0) {
        err = SDV_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < 4; i++) {
        if (json_object_set_new(roles, top_names[i],
                                json_pack("{s:[], s:i}", "keyids", "threshold", 1)) != 0) {
            err = SDV_ENOMEM;
            goto done;
        }
    }
    if (json_object_set_new(tuf_repo_signed(repo->roles[TUF_REPO_TARGETS].md), "targets",
                            json_object()) != 0 ||
        json_object_set_new(tuf_repo_signed(repo->roles[TUF_REPO_SNAPSHOT].md), "meta",
                            json_pack("{s:{s:i}}", "targets.json", "version", 1)) != 0 ||
        json_object_set_new(tuf_repo_signed(repo->roles[TUF_REPO_TIMESTAMP].md), "meta",
                            json_pack("{s:{s:i}}", "snapshot.json", "version", 1)) != 0) {
        err = SDV_ENOMEM;
        goto done;
    }
    err = tuf_repo_save(repo);
done:
    return repo_finish(repo, err, out, errmsg, errmsg_len);
}

enum sdv_err sdv_tuf_repo_open(const char *dir, int64_t now, struct sdv_tuf_repo **out,
                               char *errmsg, size_t errmsg_len)
{
    struct sdv_tuf_repo *repo = NULL;
    enum sdv_err err;

    err = repo_start(dir, now, out, &repo, errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;
    err = tuf_repo_role_load(repo, TUF_REPO_ROOT);
    if (err == SDV_ENOENT)
        tuf_repo_err(repo, err, "%s is not a repository (no staged/root.json)", dir);
    if (err == SDV_OK)
        err = tuf_repo_load_published(repo);
    return repo_finish(repo, err, out, errmsg, errmsg_len);
}

void sdv_tuf_repo_close(struct sdv_tuf_repo *repo)
{
    if (repo == NULL)
        return;
    for (size_t i = 0; i < repo->role_count; i++) {
        free(repo->roles[i].name);
        free(repo->roles[i].enc);
    }
    /* Children borrow their delegation entries from their parents: free documents last. */
    for (size_t i = 0; i < repo->role_count; i++)
        json_decref(repo->roles[i].md);
    free(repo->roles);
    json_decref(repo->index);
    json_decref(repo->pub_root);
    json_decref(repo->pub_meta);
    free(repo->dir);
    free(repo);
}

int sdv_tuf_repo_consistent_snapshot(const struct sdv_tuf_repo *repo)
{
    json_t *sgn = tuf_repo_signed(repo->roles[TUF_REPO_ROOT].md);

    return json_is_true(json_object_get(sgn, "consistent_snapshot"));
}
