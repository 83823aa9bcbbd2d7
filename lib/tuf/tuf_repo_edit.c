/*
 * tuf_repo_edit.c - changes to signed content: keys and thresholds, delegations (explicit and
 * succinct hash bins) and targets. Each public function loads what it needs through the role
 * cache, applies the version rule once to every role it changes and saves before returning.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>
#include <sdv/tuf_repo.h>

#include "tuf_repo_int.h"

/* Block size for streaming target files: large enough for few system calls, small enough to
 * allocate once per call. */
#define TUF_REPO_COPY_BLOCK (256u * 1024u)

static int is_top_level(const char *role)
{
    return strcmp(role, "root") == 0 || strcmp(role, "timestamp") == 0 ||
           strcmp(role, "snapshot") == 0 || strcmp(role, "targets") == 0;
}

/* The delegations object of a loaded targets role, created if missing. */
static json_t *delegations_of(struct sdv_tuf_repo *repo, size_t idx, int create)
{
    json_t *sgn = tuf_repo_signed(repo->roles[idx].md);
    json_t *d = json_object_get(sgn, "delegations");

    if (d == NULL && create) {
        d = json_pack("{s:{}, s:[]}", "keys", "roles");
        if (d == NULL || json_object_set_new(sgn, "delegations", d) != 0)
            return NULL;
    }
    if (d != NULL && create && !json_is_object(json_object_get(d, "keys")))
        json_object_set_new(d, "keys", json_object());
    return json_is_object(d) ? d : NULL;
}

/*
 * Finds where the keys of role are listed: *holder is the role whose document holds the entry
 * (root for top-level roles), *entry the roles entry (or succinct_roles object), *keys the key
 * table. role may also be a succinct name prefix.
 */
static enum sdv_err find_entry(struct sdv_tuf_repo *repo, const char *role, size_t *holder,
                               json_t **entry, json_t **keys)
{
    enum sdv_err err;
    size_t idx;

    if (is_top_level(role)) {
        json_t *sgn = tuf_repo_signed(repo->roles[TUF_REPO_ROOT].md);

        *holder = TUF_REPO_ROOT;
        *entry = json_object_get(json_object_get(sgn, "roles"), role);
        *keys = json_object_get(sgn, "keys");
        if (!json_is_object(*entry) || !json_is_object(*keys))
            return tuf_repo_err(repo, SDV_EPARSE, "root has no valid entry for role %s", role);
        return SDV_OK;
    }
    err = tuf_repo_role_find(repo, role, &idx);
    if (err == SDV_OK) {
        *holder = repo->roles[idx].parent;
        *entry = repo->roles[idx].deleg;
    } else if (err == SDV_ENOENT) {
        err = tuf_repo_find_succinct(repo, role, holder);
        if (err != SDV_OK)
            return err;
        *entry = json_object_get(delegations_of(repo, *holder, 0), "succinct_roles");
    } else {
        return err;
    }
    *keys = json_object_get(delegations_of(repo, *holder, 1), "keys");
    if (!json_is_object(*entry) || !json_is_object(*keys))
        return tuf_repo_err(repo, SDV_EPARSE, "the delegation of %s is malformed", role);
    return SDV_OK;
}

static enum sdv_err put_key(json_t *keys, json_t *keyids, const struct sdv_key *key, int *changed)
{
    char keyid[SDV_KEYID_STR_LEN];
    json_t *obj;
    enum sdv_err err = sdv_key_id(key, keyid);

    if (err != SDV_OK)
        return err;
    if (json_object_get(keys, keyid) == NULL) {
        err = sdv_key_to_tuf(key, &obj);
        if (err != SDV_OK)
            return err;
        if (json_object_set_new(keys, keyid, obj) != 0)
            return SDV_ENOMEM;
        *changed = 1;
    }
    if (!tuf_repo_array_has(keyids, keyid)) {
        if (json_array_append_new(keyids, json_string(keyid)) != 0)
            return SDV_ENOMEM;
        *changed = 1;
    }
    return SDV_OK;
}

static enum sdv_err finish(struct sdv_tuf_repo *repo, enum sdv_err err)
{
    enum sdv_err serr = tuf_repo_save(repo);

    return err != SDV_OK ? err : serr;
}

enum sdv_err sdv_tuf_repo_add_key(struct sdv_tuf_repo *repo, const char *role,
                                  const struct sdv_key *key, unsigned threshold)
{
    json_t *entry, *keys, *keyids;
    size_t holder;
    int changed = 0;
    enum sdv_err err;

    if (repo == NULL || role == NULL || key == NULL)
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    err = find_entry(repo, role, &holder, &entry, &keys);
    if (err != SDV_OK)
        return err;
    keyids = json_object_get(entry, "keyids");
    if (!json_is_array(keyids))
        return tuf_repo_err(repo, SDV_EPARSE, "keyids of %s is not an array", role);
    if (json_array_size(keyids) >= SDV_TUF_KEYS_MAX)
        return tuf_repo_err(repo, SDV_ELIMIT, "role %s already has %u keys", role,
                            (unsigned)SDV_TUF_KEYS_MAX);
    err = put_key(keys, keyids, key, &changed);
    if (err == SDV_OK && threshold > 0 &&
        json_integer_value(json_object_get(entry, "threshold")) != (json_int_t)threshold) {
        if (json_object_set_new(entry, "threshold", json_integer(threshold)) != 0)
            err = SDV_ENOMEM;
        changed = 1;
    }
    if (err == SDV_OK && changed)
        err = tuf_repo_role_changed(repo, holder);
    return finish(repo, err);
}

/* Does any entry in the holder still list keyid? */
static int keyid_in_use(struct sdv_tuf_repo *repo, size_t holder, const char *keyid)
{
    json_t *sgn = tuf_repo_signed(repo->roles[holder].md);
    json_t *v, *d;
    const char *k;
    size_t i;

    if (holder == TUF_REPO_ROOT) {
        json_object_foreach(json_object_get(sgn, "roles"), k, v)
        {
            if (tuf_repo_array_has(json_object_get(v, "keyids"), keyid))
                return 1;
        }
        return 0;
    }
    d = json_object_get(sgn, "delegations");
    if (tuf_repo_array_has(json_object_get(json_object_get(d, "succinct_roles"), "keyids"), keyid))
        return 1;
    json_array_foreach(json_object_get(d, "roles"), i, v)
    {
        if (tuf_repo_array_has(json_object_get(v, "keyids"), keyid))
            return 1;
    }
    return 0;
}

enum sdv_err sdv_tuf_repo_remove_key(struct sdv_tuf_repo *repo, const char *role, const char *keyid)
{
    json_t *entry, *keys, *keyids, *v;
    size_t holder, i;
    enum sdv_err err;

    if (repo == NULL || role == NULL || keyid == NULL)
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    err = find_entry(repo, role, &holder, &entry, &keys);
    if (err != SDV_OK)
        return err;
    keyids = json_object_get(entry, "keyids");
    json_array_foreach(keyids, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), keyid) == 0)
            break;
    }
    if (i >= json_array_size(keyids))
        return tuf_repo_err(repo, SDV_ENOENT, "role %s does not list key %s", role, keyid);
    json_array_remove(keyids, i);
    if (!keyid_in_use(repo, holder, keyid))
        json_object_del(keys, keyid);
    err = tuf_repo_role_changed(repo, holder);
    return finish(repo, err);
}

enum sdv_err sdv_tuf_repo_set_threshold(struct sdv_tuf_repo *repo, const char *role,
                                        unsigned threshold)
{
    json_t *entry, *keys;
    size_t holder;
    enum sdv_err err;

    if (repo == NULL || role == NULL)
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    if (threshold < 1 || threshold > SDV_TUF_KEYS_MAX)
        return tuf_repo_err(repo, SDV_EINVAL, "threshold must be between 1 and %u",
                            (unsigned)SDV_TUF_KEYS_MAX);
    err = find_entry(repo, role, &holder, &entry, &keys);
    if (err != SDV_OK)
        return err;
    if (json_object_set_new(entry, "threshold", json_integer(threshold)) != 0)
        return SDV_ENOMEM;
    err = tuf_repo_role_changed(repo, holder);
    return finish(repo, err);
}

/* Finds a delegating targets role by name and loads it with its delegations indexed. */
static enum sdv_err find_targets_role(struct sdv_tuf_repo *repo, const char *name, size_t *idx)
{
    enum sdv_err err = tuf_repo_role_find(repo, name, idx);

    if (err != SDV_OK)
        return err;
    if (*idx < TUF_REPO_TARGETS)
        return tuf_repo_err(repo, SDV_EINVAL, "%s is not a targets role", name);
    return tuf_repo_role_expand(repo, *idx);
}

/* Loads the staged file of a newly delegated role or creates an empty one. */
static enum sdv_err load_or_create(struct sdv_tuf_repo *repo, size_t idx)
{
    enum sdv_err err = tuf_repo_role_load(repo, idx);

    if (err == SDV_ENOENT) {
        repo->errmsg[0] = '\0';
        err = tuf_repo_role_create_targets(repo, idx);
    }
    return err;
}

static int is_hex(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
            return 0;
    }
    return 1;
}

enum sdv_err sdv_tuf_repo_delegate(struct sdv_tuf_repo *repo, const char *from,
                                   const struct sdv_tuf_repo_delegation *d)
{
    json_t *deleg, *entry, *keyids, *list;
    size_t from_idx, idx;
    int changed = 0;
    enum sdv_err err;

    if (repo == NULL || from == NULL || d == NULL)
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    if (!tuf_repo_valid_role_name(d->name))
        return tuf_repo_err(repo, SDV_EINVAL, "\"%s\" is not a valid delegated role name",
                            d->name != NULL ? d->name : "");
    if (d->key_count == 0 || d->keys == NULL)
        return tuf_repo_err(repo, SDV_EINVAL, "a delegation needs at least one key");
    if ((d->paths == NULL) == (d->path_hash_prefixes == NULL) || d->path_count == 0)
        return tuf_repo_err(repo, SDV_EINVAL,
                            "a delegation needs either paths or path hash "
                            "prefixes");
    err = find_targets_role(repo, from, &from_idx);
    if (err != SDV_OK)
        return err;
    if (json_object_get(repo->index, d->name) != NULL)
        return tuf_repo_err(repo, SDV_EEXIST, "role %s is already delegated", d->name);
    deleg = delegations_of(repo, from_idx, 1);
    if (deleg == NULL)
        return SDV_ENOMEM;
    if (json_object_get(deleg, "succinct_roles") != NULL)
        return tuf_repo_err(repo, SDV_EEXIST, "%s already delegates to hash bins", from);
    if (!json_is_array(json_object_get(deleg, "roles")) &&
        json_object_set_new(deleg, "roles", json_array()) != 0)
        return SDV_ENOMEM;
    if (json_array_size(json_object_get(deleg, "roles")) >= SDV_TUF_DELEGATED_ROLES_MAX)
        return tuf_repo_err(repo, SDV_ELIMIT, "%s already delegates %u roles", from,
                            (unsigned)SDV_TUF_DELEGATED_ROLES_MAX);
    keyids = json_array();
    list = json_array();
    entry = json_pack("{s:s, s:o, s:i, s:b}", "name", d->name, "keyids", keyids, "threshold",
                      d->threshold ? (int)d->threshold : 1, "terminating", d->terminating != 0);
    if (entry == NULL || list == NULL ||
        json_object_set_new(entry, d->paths != NULL ? "paths" : "path_hash_prefixes", list)) {
        json_decref(entry);
        json_decref(list);
        return SDV_ENOMEM;
    }
    for (size_t i = 0; i < d->path_count; i++) {
        const char *p = d->paths != NULL ? d->paths[i] : d->path_hash_prefixes[i];

        if (p == NULL || *p == '\0' || (d->paths == NULL && !is_hex(p))) {
            json_decref(entry);
            return tuf_repo_err(repo, SDV_EINVAL, "\"%s\" is not a valid %s", p ? p : "",
                                d->paths != NULL ? "path pattern" : "hex path hash prefix");
        }
        json_array_append_new(list, json_string(p));
    }
    for (size_t i = 0; i < d->key_count && err == SDV_OK; i++)
        err = put_key(json_object_get(deleg, "keys"), keyids, d->keys[i], &changed);
    if (err != SDV_OK || json_array_append_new(json_object_get(deleg, "roles"), entry) != 0) {
        json_decref(entry);
        return err != SDV_OK ? err : SDV_ENOMEM;
    }
    err = tuf_repo_role_changed(repo, from_idx);
    if (err == SDV_OK)
        err = tuf_repo_role_add(repo, d->name, from_idx, entry, &idx);
    if (err == SDV_OK)
        err = load_or_create(repo, idx);
    return finish(repo, err);
}

enum sdv_err sdv_tuf_repo_delegate_bins(struct sdv_tuf_repo *repo, const char *from,
                                        unsigned bin_count, const char *name_prefix,
                                        const struct sdv_key *const *keys, size_t key_count,
                                        unsigned threshold)
{
    json_t *deleg, *succinct, *keyids;
    char name[SDV_TUF_NAME_LEN_MAX + 16];
    unsigned bits = 0;
    size_t from_idx, idx;
    int changed = 0;
    enum sdv_err err;

    if (repo == NULL || from == NULL)
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    while (bits < 32 && (1u << bits) < bin_count)
        bits++;
    if (bin_count < 2 || (1u << bits) != bin_count || bits > SDV_TUF_SUCCINCT_BIT_LEN_MAX)
        return tuf_repo_err(repo, SDV_EINVAL,
                            "the number of bins must be a power of two from 2 "
                            "to %u",
                            1u << SDV_TUF_SUCCINCT_BIT_LEN_MAX);
    if (!tuf_repo_valid_role_name(name_prefix) || strlen(name_prefix) > SDV_TUF_NAME_LEN_MAX - 5)
        return tuf_repo_err(repo, SDV_EINVAL, "\"%s\" is not a valid bin name prefix",
                            name_prefix != NULL ? name_prefix : "");
    if (key_count == 0 || keys == NULL)
        return tuf_repo_err(repo, SDV_EINVAL, "a delegation needs at least one key");
    err = find_targets_role(repo, from, &from_idx);
    if (err != SDV_OK)
        return err;
    deleg = delegations_of(repo, from_idx, 1);
    if (deleg == NULL)
        return SDV_ENOMEM;
    if (json_object_get(deleg, "succinct_roles") != NULL ||
        json_array_size(json_object_get(deleg, "roles")) > 0)
        return tuf_repo_err(repo, SDV_EEXIST, "%s already has delegations", from);
    for (uint32_t b = 0; b < bin_count; b++) {
        snprintf(name, sizeof(name), "%s-%0*x", name_prefix, (int)((bits + 3) / 4), (unsigned)b);
        if (json_object_get(repo->index, name) != NULL)
            return tuf_repo_err(repo, SDV_EEXIST, "role %s already exists", name);
    }
    keyids = json_array();
    succinct = json_pack("{s:o, s:i, s:i, s:s}", "keyids", keyids, "threshold",
                         threshold ? (int)threshold : 1, "bit_length", (int)bits, "name_prefix",
                         name_prefix);
    if (succinct == NULL)
        return SDV_ENOMEM;
    for (size_t i = 0; i < key_count && err == SDV_OK; i++)
        err = put_key(json_object_get(deleg, "keys"), keyids, keys[i], &changed);
    if (err != SDV_OK) {
        json_decref(succinct);
        return err;
    }
    json_object_del(deleg, "roles");
    if (json_object_set_new(deleg, "succinct_roles", succinct) != 0)
        return SDV_ENOMEM;
    err = tuf_repo_role_changed(repo, from_idx);
    for (uint32_t b = 0; b < bin_count && err == SDV_OK; b++) {
        snprintf(name, sizeof(name), "%s-%0*x", name_prefix, (int)((bits + 3) / 4), (unsigned)b);
        err = tuf_repo_role_add(repo, name, from_idx, succinct, &idx);
        if (err == SDV_OK)
            err = load_or_create(repo, idx);
    }
    return finish(repo, err);
}

/* ---- Targets ---------------------------------------------------------------------------- */

struct copy_ctx {
    struct sdv_hash *sha256;
    struct sdv_hash *sha512;
    uint8_t *block;
    char last_dir[TUF_REPO_PATH_MAX]; /* the target directory created last */
};

/* Streams src into a temporary file next to dst, hashing when ctx hashes are given, then renames
 * it over dst. */
static enum sdv_err stream_copy(struct copy_ctx *ctx, const char *src, const char *dst, int hash,
                                uint64_t *length)
{
    char tmp[TUF_REPO_PATH_MAX];
    int in = -1, out = -1;
    uint64_t total = 0;
    enum sdv_err err = SDV_OK;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", dst) >= (int)sizeof(tmp))
        return SDV_ETOOBIG;
    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return sdv_err_from_errno(errno);
    out = mkstemp(tmp);
    if (out < 0) {
        err = sdv_err_from_errno(errno);
        close(in);
        return err;
    }
    if (hash) {
        err = sdv_hash_reset(ctx->sha256);
        if (err == SDV_OK)
            err = sdv_hash_reset(ctx->sha512);
    }
    while (err == SDV_OK) {
        ssize_t n = read(in, ctx->block, TUF_REPO_COPY_BLOCK);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = sdv_err_from_errno(errno);
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > SDV_TUF_TARGET_LEN_MAX) {
            err = SDV_ETOOBIG;
            break;
        }
        if (hash) {
            err = sdv_hash_update(ctx->sha256, ctx->block, (size_t)n);
            if (err == SDV_OK)
                err = sdv_hash_update(ctx->sha512, ctx->block, (size_t)n);
        }
        if (err == SDV_OK)
            err = sdv_fs_write_all(out, ctx->block, (size_t)n);
    }
    close(in);
    if (err == SDV_OK && fchmod(out, 0644) != 0)
        err = sdv_err_from_errno(errno);
    if (close(out) != 0 && err == SDV_OK)
        err = sdv_err_from_errno(errno);
    if (err == SDV_OK && rename(tmp, dst) != 0)
        err = sdv_err_from_errno(errno);
    if (err != SDV_OK)
        unlink(tmp);
    else if (length != NULL)
        *length = total;
    return err;
}

/* Splits "a/b/c.bin" into the directory part length (3, or 0) and the basename. */
static const char *path_base(const char *path, size_t *dir_len)
{
    const char *slash = strrchr(path, '/');

    *dir_len = slash != NULL ? (size_t)(slash - path) : 0;
    return slash != NULL ? slash + 1 : path;
}

/* Links (or copies) the target file as <dir>/<hexdigest>.<basename>. */
static enum sdv_err link_hashed(struct sdv_tuf_repo *repo, struct copy_ctx *ctx, const char *dst,
                                const char *path, const char *hex)
{
    char hashed[TUF_REPO_PATH_MAX];
    size_t dir_len;
    const char *base = path_base(path, &dir_len);
    struct stat st;
    int n;

    if (dir_len > 0)
        n = snprintf(hashed, sizeof(hashed), "%s/targets/%.*s/%s.%s", repo->dir, (int)dir_len, path,
                     hex, base);
    else
        n = snprintf(hashed, sizeof(hashed), "%s/targets/%s.%s", repo->dir, hex, base);
    if (n < 0 || (size_t)n >= sizeof(hashed))
        return SDV_ETOOBIG;
    /* Same digest, same bytes: an existing copy is already right. */
    if (lstat(hashed, &st) == 0)
        return SDV_OK;
    if (link(dst, hashed) == 0 || errno == EEXIST)
        return SDV_OK;
    return stream_copy(ctx, dst, hashed, 0, NULL);
}

static enum sdv_err path_hash_hex(const char *path, char hex[65])
{
    uint8_t d[32];
    enum sdv_err err = sdv_hash_buf(SDV_HASH_SHA256, path, strlen(path), d);

    if (err == SDV_OK)
        sdv_hex_encode(d, sizeof(d), hex);
    return err;
}

/* Does the delegation of role idx (> targets) cover path? */
static enum sdv_err role_covers(struct sdv_tuf_repo *repo, size_t idx, const char *path,
                                int *covers)
{
    json_t *deleg = repo->roles[idx].deleg, *v;
    json_t *paths = json_object_get(deleg, "paths");
    json_t *prefixes = json_object_get(deleg, "path_hash_prefixes");
    json_t *bits = json_object_get(deleg, "bit_length");
    enum sdv_err err;
    char hex[65];
    size_t i;

    *covers = 0;
    if (bits != NULL) {
        char name[SDV_TUF_NAME_LEN_MAX + 16];

        err = sdv_tuf_bin_for_path(path, (unsigned)json_integer_value(bits),
                                   json_string_value(json_object_get(deleg, "name_prefix")), NULL,
                                   name, sizeof(name));
        *covers = err == SDV_OK && strcmp(name, repo->roles[idx].name) == 0;
        return err;
    }
    json_array_foreach(paths, i, v)
    {
        if (json_is_string(v) && fnmatch(json_string_value(v), path, FNM_PATHNAME) == 0) {
            *covers = 1;
            return SDV_OK;
        }
    }
    if (prefixes == NULL)
        return SDV_OK;
    err = path_hash_hex(path, hex);
    if (err != SDV_OK)
        return err;
    json_array_foreach(prefixes, i, v)
    {
        const char *p = json_string_value(v);

        if (p != NULL && strncasecmp(hex, p, strlen(p)) == 0 && strlen(p) <= 64) {
            *covers = 1;
            return SDV_OK;
        }
    }
    return SDV_OK;
}

/* Picks the role a target goes to when the caller names none: the targets role's succinct bin
 * if it has one, else targets itself. */
static enum sdv_err default_role(struct sdv_tuf_repo *repo, const char *path, size_t *idx)
{
    json_t *succinct, *v;
    char name[SDV_TUF_NAME_LEN_MAX + 16];
    enum sdv_err err = tuf_repo_role_expand(repo, TUF_REPO_TARGETS);

    if (err != SDV_OK)
        return err;
    succinct = json_object_get(delegations_of(repo, TUF_REPO_TARGETS, 0), "succinct_roles");
    if (succinct == NULL) {
        *idx = TUF_REPO_TARGETS;
        return SDV_OK;
    }
    err = sdv_tuf_bin_for_path(
            path, (unsigned)json_integer_value(json_object_get(succinct, "bit_length")),
            json_string_value(json_object_get(succinct, "name_prefix")), NULL, name, sizeof(name));
    if (err != SDV_OK)
        return tuf_repo_err(repo, err, "malformed succinct delegation in targets");
    v = json_object_get(repo->index, name);
    if (v == NULL)
        return tuf_repo_err(repo, SDV_ENOENT, "hash bin %s is not indexed", name);
    *idx = (size_t)json_integer_value(v);
    return SDV_OK;
}

static enum sdv_err pick_role(struct sdv_tuf_repo *repo, const char *role, size_t role_idx,
                              const char *path, size_t *idx)
{
    int covers;
    enum sdv_err err;

    if (role == NULL)
        return default_role(repo, path, idx);
    *idx = role_idx;
    if (role_idx == TUF_REPO_TARGETS)
        return SDV_OK;
    err = role_covers(repo, role_idx, path, &covers);
    if (err != SDV_OK)
        return err;
    if (!covers)
        return tuf_repo_err(repo, SDV_ENOTARGET, "role %s is not delegated target path %s", role,
                            path);
    return SDV_OK;
}

static enum sdv_err add_one(struct sdv_tuf_repo *repo, struct copy_ctx *ctx, size_t idx,
                            const struct sdv_tuf_repo_target *t)
{
    char dst[TUF_REPO_PATH_MAX], hex256[65], hex512[129];
    uint8_t d256[32], d512[64];
    size_t dir_len;
    uint64_t length;
    json_t *targets, *entry, *hashes;
    enum sdv_err err;

    path_base(t->path, &dir_len);
    if (snprintf(dst, sizeof(dst), "%s/targets%s%.*s", repo->dir, dir_len > 0 ? "/" : "",
                 (int)dir_len, t->path) >= (int)sizeof(dst))
        return tuf_repo_err(repo, SDV_ETOOBIG, "target path too long (%s)", t->path);
    if (strcmp(dst, ctx->last_dir) != 0) {
        err = sdv_fs_mkdir_p(dst, 0755);
        if (err != SDV_OK)
            return tuf_repo_err(repo, err, "cannot create %s: %s", dst, sdv_strerror(err));
        memcpy(ctx->last_dir, dst, strlen(dst) + 1);
    }
    if (snprintf(dst, sizeof(dst), "%s/targets/%s", repo->dir, t->path) >= (int)sizeof(dst))
        return tuf_repo_err(repo, SDV_ETOOBIG, "target path too long (%s)", t->path);
    err = stream_copy(ctx, t->file, dst, 1, &length);
    if (err == SDV_OK)
        err = sdv_hash_final(ctx->sha256, d256);
    if (err == SDV_OK)
        err = sdv_hash_final(ctx->sha512, d512);
    if (err != SDV_OK)
        return tuf_repo_err(repo, err, "cannot copy %s to %s: %s", t->file, dst, sdv_strerror(err));
    sdv_hex_encode(d256, sizeof(d256), hex256);
    sdv_hex_encode(d512, sizeof(d512), hex512);
    if (sdv_tuf_repo_consistent_snapshot(repo)) {
        err = link_hashed(repo, ctx, dst, t->path, hex256);
        if (err == SDV_OK)
            err = link_hashed(repo, ctx, dst, t->path, hex512);
        if (err != SDV_OK)
            return tuf_repo_err(repo, err, "cannot write the hash-prefixed copies of %s: %s",
                                t->path, sdv_strerror(err));
    }

    targets = json_object_get(tuf_repo_signed(repo->roles[idx].md), "targets");
    if (!json_is_object(targets)) {
        targets = json_object();
        if (json_object_set_new(tuf_repo_signed(repo->roles[idx].md), "targets", targets) != 0)
            return SDV_ENOMEM;
    }
    entry = json_object_get(targets, t->path);
    if (!json_is_object(entry)) {
        entry = json_object();
        if (json_object_set_new(targets, t->path, entry) != 0)
            return SDV_ENOMEM;
    }
    hashes = json_pack("{s:s, s:s}", "sha256", hex256, "sha512", hex512);
    if (hashes == NULL || json_object_set_new(entry, "hashes", hashes) != 0 ||
        json_object_set_new(entry, "length", json_integer((json_int_t)length)) != 0)
        return SDV_ENOMEM;
    if (t->custom != NULL && json_object_set_new(entry, "custom", json_deep_copy(t->custom)) != 0)
        return SDV_ENOMEM;
    return tuf_repo_role_changed(repo, idx);
}

enum sdv_err sdv_tuf_repo_add_targets(struct sdv_tuf_repo *repo, const char *role,
                                      const struct sdv_tuf_repo_target *targets, size_t count)
{
    struct copy_ctx *ctx = NULL;
    size_t role_idx = 0, idx;
    enum sdv_err err;

    if (repo == NULL || (targets == NULL && count > 0))
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    if (role != NULL) {
        err = tuf_repo_role_find(repo, role, &role_idx);
        if (err != SDV_OK)
            return err;
        if (role_idx < TUF_REPO_TARGETS)
            return tuf_repo_err(repo, SDV_EINVAL, "%s is not a targets role", role);
    }
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return SDV_ENOMEM;
    ctx->block = malloc(TUF_REPO_COPY_BLOCK);
    err = ctx->block != NULL ? SDV_OK : SDV_ENOMEM;
    if (err == SDV_OK)
        err = sdv_hash_create(SDV_HASH_SHA256, &ctx->sha256);
    if (err == SDV_OK)
        err = sdv_hash_create(SDV_HASH_SHA512, &ctx->sha512);
    for (size_t i = 0; i < count && err == SDV_OK; i++) {
        const struct sdv_tuf_repo_target *t = &targets[i];

        if (t->file == NULL || !tuf_repo_valid_target_path(t->path)) {
            err = tuf_repo_err(repo, SDV_EINVAL, "\"%s\" is not a valid target path",
                               t->path != NULL ? t->path : "");
            break;
        }
        if (t->custom != NULL && !json_is_object(t->custom)) {
            err = tuf_repo_err(repo, SDV_EINVAL, "custom data of %s is not a JSON object", t->path);
            break;
        }
        err = pick_role(repo, role, role_idx, t->path, &idx);
        if (err == SDV_OK)
            err = tuf_repo_role_load(repo, idx);
        if (err == SDV_OK)
            err = add_one(repo, ctx, idx, t);
    }
    if (ctx->sha256 != NULL)
        sdv_hash_destroy(ctx->sha256);
    if (ctx->sha512 != NULL)
        sdv_hash_destroy(ctx->sha512);
    free(ctx->block);
    free(ctx);
    /* Targets added before a failure have their files in place: keep them. */
    return finish(repo, err);
}

enum sdv_err sdv_tuf_repo_remove_target(struct sdv_tuf_repo *repo, const char *role,
                                        const char *path)
{
    size_t role_idx = 0, idx;
    json_t *targets;
    enum sdv_err err;

    if (repo == NULL || path == NULL)
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    if (role != NULL) {
        err = tuf_repo_role_find(repo, role, &role_idx);
        if (err != SDV_OK)
            return err;
        if (role_idx < TUF_REPO_TARGETS)
            return tuf_repo_err(repo, SDV_EINVAL, "%s is not a targets role", role);
        idx = role_idx;
    } else {
        err = default_role(repo, path, &idx);
        if (err != SDV_OK)
            return err;
    }
    err = tuf_repo_role_load(repo, idx);
    if (err != SDV_OK)
        return err;
    targets = json_object_get(tuf_repo_signed(repo->roles[idx].md), "targets");
    if (json_object_get(targets, path) == NULL)
        return tuf_repo_err(repo, SDV_ENOENT, "role %s does not list target %s",
                            repo->roles[idx].name, path);
    json_object_del(targets, path);
    err = tuf_repo_role_changed(repo, idx);
    return finish(repo, err);
}
