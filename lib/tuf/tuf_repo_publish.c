/*
 * tuf_repo_publish.c - signing, snapshot and timestamp generation, the publish checks and the
 * copy of staged bytes into DIR/metadata, and the status report.
 *
 * Published files are the exact staged bytes: timestamp hashes the staged snapshot file and
 * snapshot optionally hashes the staged targets files, so re-serializing here would break them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>
#include <sdv/tuf_repo.h>

#include "tuf_repo_int.h"

static int64_t doc_version(const json_t *md)
{
    return (int64_t)json_integer_value(json_object_get(tuf_repo_signed(md), "version"));
}

/* Is key authorised to sign role idx? For root, the published root's root keys count too. */
static enum sdv_err check_authorised(struct sdv_tuf_repo *repo, size_t idx, const char *keyid)
{
    json_t *keyids, *keys;
    unsigned threshold;
    enum sdv_err err = tuf_repo_role_keys(repo, idx, &keyids, &threshold, &keys);

    if (err != SDV_OK)
        return err;
    if (tuf_repo_array_has(keyids, keyid))
        return SDV_OK;
    if (idx == TUF_REPO_ROOT && repo->pub_root != NULL) {
        json_t *old = json_object_get(
                json_object_get(json_object_get(tuf_repo_signed(repo->pub_root), "roles"), "root"),
                "keyids");

        if (tuf_repo_array_has(old, keyid))
            return SDV_OK;
    }
    return tuf_repo_err(repo, SDV_ESIG, "key %s is not authorised for role %s", keyid,
                        repo->roles[idx].name);
}

static enum sdv_err sign_role(struct sdv_tuf_repo *repo, size_t idx, const struct sdv_key *key,
                              const char *keyid)
{
    enum sdv_err err = tuf_repo_role_load(repo, idx);

    if (err == SDV_OK)
        err = check_authorised(repo, idx, keyid);
    if (err != SDV_OK)
        return err;
    err = sdv_tuf_sign_json(repo->roles[idx].md, key);
    if (err != SDV_OK)
        return tuf_repo_err(repo, err, "cannot sign %s: %s", repo->roles[idx].name,
                            sdv_strerror(err));
    repo->roles[idx].dirty = 1;
    return SDV_OK;
}

static enum sdv_err key_id_private(struct sdv_tuf_repo *repo, const struct sdv_key *key,
                                   char keyid[SDV_KEYID_STR_LEN])
{
    enum sdv_err err;

    if (!sdv_key_has_private(key))
        return tuf_repo_err(repo, SDV_EINVAL, "the key has no private half");
    err = sdv_key_id(key, keyid);
    if (err != SDV_OK)
        return tuf_repo_err(repo, err, "cannot compute the key id: %s", sdv_strerror(err));
    return SDV_OK;
}

enum sdv_err sdv_tuf_repo_sign(struct sdv_tuf_repo *repo, const char *role,
                               const struct sdv_key *key)
{
    char keyid[SDV_KEYID_STR_LEN];
    size_t idx, holder;
    enum sdv_err err;

    if (repo == NULL || role == NULL || key == NULL)
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    err = key_id_private(repo, key, keyid);
    if (err != SDV_OK)
        return err;
    err = tuf_repo_role_find(repo, role, &idx);
    if (err == SDV_OK) {
        err = sign_role(repo, idx, key, keyid);
    } else if (err == SDV_ENOENT && tuf_repo_find_succinct(repo, role, &holder) == SDV_OK) {
        json_t *succinct = json_object_get(
                json_object_get(tuf_repo_signed(repo->roles[holder].md), "delegations"),
                "succinct_roles");

        repo->errmsg[0] = '\0';
        err = SDV_OK;
        for (size_t i = 0; i < repo->role_count && err == SDV_OK; i++) {
            if (repo->roles[i].parent == holder && repo->roles[i].deleg == succinct)
                err = sign_role(repo, i, key, keyid);
        }
    } else if (err == SDV_ENOENT) {
        err = tuf_repo_err(repo, SDV_ENOENT, "no role or hash-bin prefix is named %s", role);
    }
    if (err != SDV_OK)
        return err;
    return tuf_repo_save(repo);
}

/* Starts a command that regenerates role idx (snapshot or timestamp); when key is given, it must
 * be private and authorised for idx, and its id is left in keyid. */
static enum sdv_err begin_generated(struct sdv_tuf_repo *repo, size_t idx,
                                    const struct sdv_key *key, char keyid[SDV_KEYID_STR_LEN])
{
    enum sdv_err err;

    tuf_repo_begin(repo);
    if (key == NULL)
        return SDV_OK;
    err = key_id_private(repo, key, keyid);
    if (err == SDV_OK)
        err = check_authorised(repo, idx, keyid);
    return err;
}

/* Ends such a command after role idx got its new content: applies the version rule, signs with
 * key when given (keyid from begin_generated) and saves. */
static enum sdv_err finish_generated(struct sdv_tuf_repo *repo, size_t idx,
                                     const struct sdv_key *key, const char *keyid)
{
    enum sdv_err err = tuf_repo_role_changed(repo, idx);

    if (err == SDV_OK && key != NULL)
        err = sign_role(repo, idx, key, keyid);
    if (err != SDV_OK)
        return err;
    return tuf_repo_save(repo);
}

static enum sdv_err sha256_hex(const void *p, size_t n, char hex[65])
{
    uint8_t d[32];
    enum sdv_err err = sdv_hash_buf(SDV_HASH_SHA256, p, n, d);

    if (err == SDV_OK)
        sdv_hex_encode(d, sizeof(d), hex);
    return err;
}

/* Loads every role of the tree; a delegated role without staged file is an error. */
static enum sdv_err load_all(struct sdv_tuf_repo *repo)
{
    enum sdv_err err = tuf_repo_expand_all(repo);

    for (size_t i = 0; i < repo->role_count && err == SDV_OK; i++)
        err = tuf_repo_role_load(repo, i);
    return err;
}

enum sdv_err sdv_tuf_repo_snapshot(struct sdv_tuf_repo *repo, const struct sdv_key *key,
                                   unsigned flags)
{
    char keyid[SDV_KEYID_STR_LEN], file[SDV_TUF_NAME_LEN_MAX + 8], hex[65];
    struct sdv_buf b;
    json_t *meta;
    enum sdv_err err;

    if (repo == NULL)
        return SDV_EINVAL;
    err = begin_generated(repo, TUF_REPO_SNAPSHOT, key, keyid);
    if (err != SDV_OK)
        return err;
    err = load_all(repo);
    if (err == SDV_OK && (flags & SDV_TUF_REPO_SNAPSHOT_HASHES))
        err = tuf_repo_save(repo);
    if (err != SDV_OK)
        return err;
    meta = json_object();
    if (meta == NULL)
        return SDV_ENOMEM;
    sdv_buf_init(&b, TUF_REPO_META_LEN_MAX);
    for (size_t i = TUF_REPO_TARGETS; i < repo->role_count && err == SDV_OK; i++) {
        json_t *entry = json_pack("{s:I}", "version", (json_int_t)doc_version(repo->roles[i].md));

        snprintf(file, sizeof(file), "%s.json", repo->roles[i].name);
        if (entry == NULL || json_object_set_new(meta, file, entry) != 0) {
            err = SDV_ENOMEM;
            break;
        }
        if (!(flags & SDV_TUF_REPO_SNAPSHOT_HASHES))
            continue;
        sdv_buf_reset(&b);
        err = tuf_repo_read_staged(repo, i, &b);
        if (err == SDV_OK)
            err = sha256_hex(b.data, b.len, hex);
        if (err == SDV_OK &&
            (json_object_set_new(entry, "length", json_integer((json_int_t)b.len)) != 0 ||
             json_object_set_new(entry, "hashes", json_pack("{s:s}", "sha256", hex)) != 0))
            err = SDV_ENOMEM;
    }
    sdv_buf_free(&b);
    if (err != SDV_OK ||
        json_object_set_new(tuf_repo_signed(repo->roles[TUF_REPO_SNAPSHOT].md), "meta", meta)) {
        if (err == SDV_OK)
            err = SDV_ENOMEM;
        else
            json_decref(meta);
        return err;
    }
    return finish_generated(repo, TUF_REPO_SNAPSHOT, key, keyid);
}

enum sdv_err sdv_tuf_repo_timestamp(struct sdv_tuf_repo *repo, const struct sdv_key *key)
{
    char keyid[SDV_KEYID_STR_LEN], hex[65];
    struct sdv_buf b;
    json_t *meta;
    enum sdv_err err;

    if (repo == NULL)
        return SDV_EINVAL;
    err = begin_generated(repo, TUF_REPO_TIMESTAMP, key, keyid);
    if (err != SDV_OK)
        return err;
    err = tuf_repo_role_load(repo, TUF_REPO_SNAPSHOT);
    if (err == SDV_OK)
        err = tuf_repo_role_load(repo, TUF_REPO_TIMESTAMP);
    if (err == SDV_OK)
        err = tuf_repo_save(repo);
    if (err != SDV_OK)
        return err;
    sdv_buf_init(&b, TUF_REPO_META_LEN_MAX);
    err = tuf_repo_read_staged(repo, TUF_REPO_SNAPSHOT, &b);
    if (err == SDV_OK)
        err = sha256_hex(b.data, b.len, hex);
    if (err != SDV_OK) {
        sdv_buf_free(&b);
        return err;
    }
    meta = json_pack("{s:{s:I, s:I, s:{s:s}}}", "snapshot.json", "version",
                     (json_int_t)doc_version(repo->roles[TUF_REPO_SNAPSHOT].md), "length",
                     (json_int_t)b.len, "hashes", "sha256", hex);
    sdv_buf_free(&b);
    if (meta == NULL ||
        json_object_set_new(tuf_repo_signed(repo->roles[TUF_REPO_TIMESTAMP].md), "meta", meta))
        return SDV_ENOMEM;
    return finish_generated(repo, TUF_REPO_TIMESTAMP, key, keyid);
}

/* ---- Checks ----------------------------------------------------------------------------- */

/* Path of the copy of role idx that clients see at version (root: root.json). */
static enum sdv_err published_copy(const struct sdv_tuf_repo *repo, size_t idx, int64_t version,
                                   char *out, size_t out_len)
{
    if (idx == TUF_REPO_ROOT)
        return tuf_repo_path(repo, out, out_len, "metadata", "root.json");
    return tuf_repo_published_path(repo, idx, version, repo->pub_consistent, out, out_len);
}

/* Compares the staged bytes of idx (in staged) with a file; *same = 0 if the file is missing. */
static enum sdv_err same_bytes(const struct sdv_buf *staged, const char *path, int *same)
{
    struct sdv_buf b;
    enum sdv_err err;

    sdv_buf_init(&b, TUF_REPO_META_LEN_MAX);
    err = sdv_fs_read(path, &b);
    *same = err == SDV_OK && b.len == staged->len &&
            (b.len == 0 || memcmp(b.data, staged->data, b.len) == 0);
    sdv_buf_free(&b);
    return err == SDV_ENOENT ? SDV_OK : err;
}

/* Checks length (if listed) and every listed hash of bytes. */
static enum sdv_err check_file_entry(struct sdv_tuf_repo *repo, const json_t *entry,
                                     const struct sdv_buf *bytes, const char *what,
                                     const char *where)
{
    json_t *length = json_object_get(entry, "length");
    json_t *hashes = json_object_get(entry, "hashes"), *v;
    uint8_t d[SDV_HASH_LEN_MAX];
    char hex[2 * SDV_HASH_LEN_MAX + 1];
    const char *alg_name;
    enum sdv_hash_alg alg;
    enum sdv_err err;

    if (length != NULL &&
        (!json_is_integer(length) || (uint64_t)json_integer_value(length) != (uint64_t)bytes->len))
        return tuf_repo_err(repo, SDV_EHASH, "%s lists the length of %s as %lld, it is %zu", where,
                            what, (long long)json_integer_value(length), bytes->len);
    json_object_foreach(hashes, alg_name, v)
    {
        err = sdv_hash_alg_from_name(alg_name, &alg);
        if (err != SDV_OK)
            return tuf_repo_err(repo, err, "%s lists an unsupported hash %s for %s", where,
                                alg_name, what);
        err = sdv_hash_buf(alg, bytes->data, bytes->len, d);
        if (err != SDV_OK)
            return err;
        sdv_hex_encode(d, sdv_hash_len(alg), hex);
        if (!json_is_string(v) || strcasecmp(json_string_value(v), hex) != 0)
            return tuf_repo_err(repo, SDV_EHASH, "%s lists a %s of %s that does not match", where,
                                alg_name, what);
    }
    return SDV_OK;
}

static enum sdv_err check_role(struct sdv_tuf_repo *repo, size_t idx, struct sdv_buf *canon,
                               struct sdv_buf *bytes)
{
    struct tuf_repo_role *r = &repo->roles[idx];
    json_t *sgn = tuf_repo_signed(r->md), *keyids, *keys;
    const char *expires = json_string_value(json_object_get(sgn, "expires"));
    int64_t version = doc_version(r->md), published = tuf_repo_published_version(repo, idx);
    int64_t t;
    unsigned threshold, valid;
    char path[TUF_REPO_PATH_MAX];
    int same;
    enum sdv_err err;

    if (expires == NULL || sdv_time_parse(expires, &t) != SDV_OK)
        return tuf_repo_err(repo, SDV_EPARSE, "role %s has no valid expiry", r->name);
    if (t <= repo->now)
        return tuf_repo_err(repo, SDV_EEXPIRED, "role %s expired at %s", r->name, expires);
    if (version < 1)
        return tuf_repo_err(repo, SDV_EVERSION, "role %s has version %lld", r->name,
                            (long long)version);
    err = tuf_repo_role_keys(repo, idx, &keyids, &threshold, &keys);
    if (err != SDV_OK)
        return err;
    if (json_array_size(keyids) == 0)
        return tuf_repo_err(repo, SDV_ESIG, "role %s has no keys", r->name);
    sdv_buf_reset(canon);
    err = sdv_cjson_write(sgn, canon);
    if (err != SDV_OK)
        return tuf_repo_err(repo, err, "role %s: no canonical form: %s", r->name,
                            sdv_strerror(err));
    err = tuf_repo_count_valid(r->md, keyids, keys, canon, &valid);
    if (err != SDV_OK)
        return tuf_repo_err(repo, err, "role %s: cannot verify: %s", r->name, sdv_strerror(err));
    if (valid < threshold)
        return tuf_repo_err(repo, SDV_ESIG, "role %s has %u valid signatures of the %u required",
                            r->name, valid, threshold);
    if (version < published)
        return tuf_repo_err(repo, SDV_EROLLBACK,
                            "role %s version %lld is below the published "
                            "version %lld",
                            r->name, (long long)version, (long long)published);
    sdv_buf_reset(bytes);
    err = tuf_repo_read_staged(repo, idx, bytes);
    if (err != SDV_OK)
        return err;
    if (version == published) {
        err = published_copy(repo, idx, published, path, sizeof(path));
        if (err == SDV_OK)
            err = same_bytes(bytes, path, &same);
        if (err != SDV_OK)
            return tuf_repo_err(repo, err, "cannot read %s: %s", path, sdv_strerror(err));
        if (!same)
            return tuf_repo_err(repo, SDV_EVERSION,
                                "role %s differs from its published copy "
                                "but keeps version %lld",
                                r->name, (long long)version);
    }
    if (idx == TUF_REPO_ROOT && repo->pub_root != NULL && version != published) {
        json_t *old = tuf_repo_signed(repo->pub_root);
        json_t *old_role = json_object_get(json_object_get(old, "roles"), "root");
        json_t *old_th = json_object_get(old_role, "threshold");

        if (version != published + 1)
            return tuf_repo_err(repo, SDV_EVERSION,
                                "root version %lld does not follow the "
                                "published version %lld",
                                (long long)version, (long long)published);
        err = tuf_repo_count_valid(r->md, json_object_get(old_role, "keyids"),
                                   json_object_get(old, "keys"), canon, &valid);
        if (err != SDV_OK)
            return err;
        if (!json_is_integer(old_th) || valid < (uint64_t)json_integer_value(old_th))
            return tuf_repo_err(repo, SDV_ESIG,
                                "root has %u valid signatures of the %lld "
                                "required by the published root %lld",
                                valid, (long long)json_integer_value(old_th), (long long)published);
    }
    return SDV_OK;
}

static enum sdv_err check_snapshot(struct sdv_tuf_repo *repo, struct sdv_buf *bytes)
{
    json_t *meta = json_object_get(tuf_repo_signed(repo->roles[TUF_REPO_SNAPSHOT].md), "meta");
    char file[SDV_TUF_NAME_LEN_MAX + 8];
    const char *k;
    json_t *v;
    enum sdv_err err;

    if (!json_is_object(meta))
        return tuf_repo_err(repo, SDV_EPARSE, "snapshot has no \"meta\" object");
    for (size_t i = TUF_REPO_TARGETS; i < repo->role_count; i++) {
        json_t *entry, *version;

        snprintf(file, sizeof(file), "%s.json", repo->roles[i].name);
        entry = json_object_get(meta, file);
        version = json_object_get(entry, "version");
        if (entry == NULL)
            return tuf_repo_err(repo, SDV_EVERSION,
                                "snapshot does not list role %s (run sdv "
                                "repo snapshot)",
                                repo->roles[i].name);
        if (!json_is_integer(version) ||
            json_integer_value(version) != (json_int_t)doc_version(repo->roles[i].md))
            return tuf_repo_err(repo, SDV_EVERSION,
                                "snapshot lists %s version %lld but the "
                                "staged version is %lld (run sdv repo "
                                "snapshot)",
                                repo->roles[i].name, (long long)json_integer_value(version),
                                (long long)doc_version(repo->roles[i].md));
        if (json_object_get(entry, "length") == NULL && json_object_get(entry, "hashes") == NULL)
            continue;
        sdv_buf_reset(bytes);
        err = tuf_repo_read_staged(repo, i, bytes);
        if (err == SDV_OK)
            err = check_file_entry(repo, entry, bytes, file, "snapshot");
        if (err != SDV_OK)
            return err;
    }
    json_object_foreach(meta, k, v)
    {
        size_t n = strlen(k);
        json_t *idx;

        if (n <= 5 || strcmp(k + n - 5, ".json") != 0 || n - 5 >= sizeof(file))
            return tuf_repo_err(repo, SDV_EVERSION, "snapshot lists %s, not a targets role", k);
        memcpy(file, k, n - 5);
        file[n - 5] = '\0';
        idx = json_object_get(repo->index, file);
        if (idx == NULL || json_integer_value(idx) < TUF_REPO_TARGETS)
            return tuf_repo_err(repo, SDV_EVERSION,
                                "snapshot lists %s, which is not a "
                                "staged targets role",
                                k);
    }
    return SDV_OK;
}

static enum sdv_err check_timestamp(struct sdv_tuf_repo *repo, struct sdv_buf *bytes)
{
    json_t *entry = json_object_get(
            json_object_get(tuf_repo_signed(repo->roles[TUF_REPO_TIMESTAMP].md), "meta"),
            "snapshot.json");
    json_t *version = json_object_get(entry, "version");
    enum sdv_err err;

    if (!json_is_integer(version) ||
        json_integer_value(version) != (json_int_t)doc_version(repo->roles[TUF_REPO_SNAPSHOT].md))
        return tuf_repo_err(repo, SDV_EVERSION,
                            "timestamp does not point at snapshot version "
                            "%lld (run sdv repo timestamp)",
                            (long long)doc_version(repo->roles[TUF_REPO_SNAPSHOT].md));
    sdv_buf_reset(bytes);
    err = tuf_repo_read_staged(repo, TUF_REPO_SNAPSHOT, bytes);
    if (err == SDV_OK)
        err = check_file_entry(repo, entry, bytes, "snapshot.json", "timestamp");
    if (err != SDV_OK && repo->errmsg[0] != '\0' && err == SDV_EHASH) {
        char msg[TUF_REPO_ERRMSG_LEN];

        snprintf(msg, sizeof(msg), "%s", repo->errmsg);
        tuf_repo_err(repo, err, "%.900s (run sdv repo timestamp)", msg);
    }
    return err;
}

static enum sdv_err check_all(struct sdv_tuf_repo *repo)
{
    struct sdv_buf canon, bytes;
    enum sdv_err err;

    err = load_all(repo);
    if (err == SDV_OK)
        err = tuf_repo_save(repo);
    if (err != SDV_OK)
        return err;
    sdv_buf_init(&canon, TUF_REPO_META_LEN_MAX);
    sdv_buf_init(&bytes, TUF_REPO_META_LEN_MAX);
    for (size_t i = 0; i < repo->role_count && err == SDV_OK; i++)
        err = check_role(repo, i, &canon, &bytes);
    if (err == SDV_OK)
        err = check_snapshot(repo, &bytes);
    if (err == SDV_OK)
        err = check_timestamp(repo, &bytes);
    sdv_buf_free(&canon);
    sdv_buf_free(&bytes);
    return err;
}

enum sdv_err sdv_tuf_repo_check(struct sdv_tuf_repo *repo)
{
    if (repo == NULL)
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    return check_all(repo);
}

/* Writes the staged bytes of idx to DIR/metadata/<file> unless it already holds them. */
static enum sdv_err publish_file(struct sdv_tuf_repo *repo, size_t idx, const char *path,
                                 struct sdv_buf *bytes)
{
    int same;
    enum sdv_err err;

    sdv_buf_reset(bytes);
    err = tuf_repo_read_staged(repo, idx, bytes);
    if (err != SDV_OK)
        return err;
    err = same_bytes(bytes, path, &same);
    if (err == SDV_OK && !same)
        err = sdv_fs_write_atomic(path, bytes->data, bytes->len, 0644);
    if (err != SDV_OK)
        return tuf_repo_err(repo, err, "cannot write %s: %s", path, sdv_strerror(err));
    return SDV_OK;
}

enum sdv_err sdv_tuf_repo_publish(struct sdv_tuf_repo *repo)
{
    char path[TUF_REPO_PATH_MAX];
    struct sdv_buf bytes;
    int consistent;
    enum sdv_err err;

    if (repo == NULL)
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    err = check_all(repo);
    if (err != SDV_OK)
        return err;
    consistent = sdv_tuf_repo_consistent_snapshot(repo);
    sdv_buf_init(&bytes, TUF_REPO_META_LEN_MAX);
    /* Clients read timestamp -> snapshot -> targets: write in the reverse order so that every
     * file a new timestamp leads to is already in place. */
    for (size_t i = TUF_REPO_TARGETS; i < repo->role_count && err == SDV_OK; i++) {
        err = tuf_repo_published_path(repo, i, doc_version(repo->roles[i].md), consistent, path,
                                      sizeof(path));
        if (err == SDV_OK)
            err = publish_file(repo, i, path, &bytes);
    }
    if (err == SDV_OK)
        err = tuf_repo_published_path(repo, TUF_REPO_SNAPSHOT,
                                      doc_version(repo->roles[TUF_REPO_SNAPSHOT].md), consistent,
                                      path, sizeof(path));
    if (err == SDV_OK)
        err = publish_file(repo, TUF_REPO_SNAPSHOT, path, &bytes);
    if (err == SDV_OK)
        err = tuf_repo_published_path(repo, TUF_REPO_ROOT,
                                      doc_version(repo->roles[TUF_REPO_ROOT].md), consistent, path,
                                      sizeof(path));
    if (err == SDV_OK)
        err = publish_file(repo, TUF_REPO_ROOT, path, &bytes);
    if (err == SDV_OK)
        err = tuf_repo_path(repo, path, sizeof(path), "metadata", "root.json");
    if (err == SDV_OK)
        err = publish_file(repo, TUF_REPO_ROOT, path, &bytes);
    if (err == SDV_OK)
        err = tuf_repo_path(repo, path, sizeof(path), "metadata", "timestamp.json");
    if (err == SDV_OK)
        err = publish_file(repo, TUF_REPO_TIMESTAMP, path, &bytes);
    sdv_buf_free(&bytes);
    if (err != SDV_OK)
        return err;
    return tuf_repo_load_published(repo);
}

enum sdv_err sdv_tuf_repo_status(struct sdv_tuf_repo *repo, sdv_tuf_repo_status_fn fn, void *ud)
{
    struct sdv_buf canon, bytes;
    char path[TUF_REPO_PATH_MAX];
    enum sdv_err err;

    if (repo == NULL || fn == NULL)
        return SDV_EINVAL;
    tuf_repo_begin(repo);
    err = tuf_repo_expand_all(repo);
    if (err == SDV_OK)
        err = tuf_repo_save(repo);
    if (err != SDV_OK)
        return err;
    sdv_buf_init(&canon, TUF_REPO_META_LEN_MAX);
    sdv_buf_init(&bytes, TUF_REPO_META_LEN_MAX);
    for (size_t i = 0; i < repo->role_count && err == SDV_OK; i++) {
        struct sdv_tuf_repo_role_status st;
        struct tuf_repo_role *r = &repo->roles[i];
        json_t *keyids, *keys;
        const char *expires;
        int same = 0;

        memset(&st, 0, sizeof(st));
        st.name = r->name;
        st.published_version = tuf_repo_published_version(repo, i);
        err = tuf_repo_role_load(repo, i);
        if (err == SDV_ENOENT) {
            st.missing = 1;
            st.modified = 1;
            err = SDV_OK;
            fn(ud, &st);
            continue;
        }
        if (err != SDV_OK)
            break;
        st.version = doc_version(r->md);
        expires = json_string_value(json_object_get(tuf_repo_signed(r->md), "expires"));
        if (expires == NULL || sdv_time_parse(expires, &st.expires) != SDV_OK)
            st.expires = 0;
        sdv_buf_reset(&canon);
        if (tuf_repo_role_keys(repo, i, &keyids, &st.threshold, &keys) == SDV_OK &&
            sdv_cjson_write(tuf_repo_signed(r->md), &canon) == SDV_OK)
            err = tuf_repo_count_valid(r->md, keyids, keys, &canon, &st.valid_signatures);
        if (err != SDV_OK)
            break;
        if (st.published_version > 0) {
            sdv_buf_reset(&bytes);
            err = tuf_repo_read_staged(repo, i, &bytes);
            if (err == SDV_OK)
                err = published_copy(repo, i, st.published_version, path, sizeof(path));
            if (err == SDV_OK)
                err = same_bytes(&bytes, path, &same);
            if (err != SDV_OK)
                break;
        }
        st.modified = !same;
        fn(ud, &st);
    }
    sdv_buf_free(&canon);
    sdv_buf_free(&bytes);
    repo->errmsg[0] = '\0';
    return err;
}
