/*
 * tuf_client.c - the TUF 1.0 detailed client workflow (specification section 5): root rotation,
 * timestamp, snapshot, top-level targets, and the delegated targets lookup.
 *
 * Trusted state: each role's file in metadata_dir is replaced only after the new file passed
 * every check of its step; a failing step returns before anything is written. Local files are
 * loaded for rollback protection and reuse only after they verify against the current root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tuf_int.h"

struct loaded_role {
    char *name;
    const struct tuf_targets *parent;
    struct tuf_targets t;
};

struct sdv_tuf_client {
    char *metadata_dir;
    char *metadata_url;
    sdv_tuf_fetch_fn fetch;
    void *fetch_ud;
    struct sdv_log log;
    int64_t now;
    uint64_t root_max_len, timestamp_max_len, snapshot_max_len, targets_max_len;
    unsigned root_rotations_max, delegations_max;

    bool refresh_started, refreshed;
    struct tuf_root root;
    struct tuf_timestamp timestamp;
    bool have_timestamp;
    struct tuf_snapshot snapshot;
    bool have_snapshot;
    struct tuf_targets targets;
    bool have_targets;
    struct loaded_role **delegated;
    size_t delegated_count, delegated_cap;
    json_t *delegated_index; /* delegated_key() -> index into delegated */

    char errmsg[1024];
    struct tuf_err err;
};

void sdv_tuf_client_set_errmsg(struct sdv_tuf_client *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
}

const char *sdv_tuf_client_errmsg(const struct sdv_tuf_client *c)
{
    return c->errmsg;
}

enum sdv_err tuf_client_fetch(struct sdv_tuf_client *c, const char *url, uint64_t max_len,
                              sdv_sink_fn sink, void *sink_ud)
{
    if (c->fetch == NULL)
        return SDV_EINVAL;
    sdv_logf(&c->log, SDV_LOG_DEBUG, "fetching %s (at most %llu bytes)", url,
             (unsigned long long)max_len);
    return c->fetch(c->fetch_ud, url, max_len, sink, sink_ud);
}

/* ---- I/O helpers ------------------------------------------------------------------------ */

struct fetch_sink {
    struct sdv_buf *buf;
};

static enum sdv_err buf_sink(void *ud, const void *data, size_t len)
{
    struct fetch_sink *s = ud;

    return sdv_buf_append(s->buf, data, len);
}

/* Downloads metadata file name (already URL-safe) into out, at most max_len bytes. */
static enum sdv_err fetch_meta(struct sdv_tuf_client *c, const char *role, const char *name,
                               uint64_t max_len, struct sdv_buf *out)
{
    char url[SDV_URL_LEN_MAX];
    struct fetch_sink sink = {out};
    enum sdv_err err;
    int n;

    n = snprintf(url, sizeof(url), "%s%s", c->metadata_url, name);
    if (n < 0 || (size_t)n >= sizeof(url)) {
        tuf_errf(&c->err, "%s: URL for %s is too long", role, name);
        return SDV_ETOOBIG;
    }
    sdv_buf_init(out, (size_t)max_len);
    sdv_logf(&c->log, SDV_LOG_DEBUG, "fetching %s (at most %llu bytes)", url,
             (unsigned long long)max_len);
    err = c->fetch(c->fetch_ud, url, max_len, buf_sink, &sink);
    if (err == SDV_ETOOBIG)
        tuf_errf(&c->err, "%s: %s is larger than the limit of %llu bytes (endless data)", role,
                 name, (unsigned long long)max_len);
    else if (err == SDV_ENOENT)
        tuf_errf(&c->err, "%s: %s not found on the repository", role, name);
    else if (err != SDV_OK)
        tuf_errf(&c->err, "%s: downloading %s failed: %s", role, name, sdv_strerror(err));
    if (err != SDV_OK)
        sdv_buf_free(out);
    return err;
}

static enum sdv_err local_path(struct sdv_tuf_client *c, const char *name, char *out,
                               size_t out_len)
{
    return sdv_path_join(out, out_len, c->metadata_dir, name);
}

/* Reads a trusted file; SDV_ENOENT if absent. */
static enum sdv_err read_local(struct sdv_tuf_client *c, const char *name, uint64_t max_len,
                               struct sdv_buf *out)
{
    char path[SDV_URL_LEN_MAX];
    enum sdv_err err;

    sdv_buf_init(out, (size_t)max_len);
    err = local_path(c, name, path, sizeof(path));
    if (err == SDV_OK)
        err = sdv_fs_read(path, out);
    if (err != SDV_OK)
        sdv_buf_free(out);
    return err;
}

static enum sdv_err persist(struct sdv_tuf_client *c, const char *role, const char *name,
                            const struct sdv_buf *raw)
{
    char path[SDV_URL_LEN_MAX];
    enum sdv_err err;

    err = local_path(c, name, path, sizeof(path));
    if (err == SDV_OK)
        err = sdv_fs_write_atomic(path, raw->data, raw->len, 0644);
    if (err != SDV_OK)
        tuf_errf(&c->err, "%s: cannot store trusted metadata %s: %s", role, path,
                 sdv_strerror(err));
    return err;
}

static void remove_local(struct sdv_tuf_client *c, const char *name)
{
    char path[SDV_URL_LEN_MAX];

    if (local_path(c, name, path, sizeof(path)) == SDV_OK)
        sdv_fs_remove(path);
}

static enum sdv_err check_expiry(struct sdv_tuf_client *c, const char *role,
                                 const struct tuf_meta *m)
{
    char when[SDV_TIME_STR_LEN];

    if (c->now < m->expires)
        return SDV_OK;
    sdv_time_format(m->expires, when);
    tuf_errf(&c->err, "%s: version %lld expired at %s (freeze attack or stale repository)", role,
             (long long)m->version, when);
    return SDV_EEXPIRED;
}

/* ---- create / destroy ------------------------------------------------------------------- */

static uint64_t or_default(uint64_t v, uint64_t def)
{
    return v != 0 ? v : def;
}

/* Parses a root file and checks it is signed by a threshold of its own root keys. */
static enum sdv_err root_load_self_signed(struct sdv_buf *raw, struct tuf_root *out,
                                          struct tuf_err *e)
{
    enum sdv_err err = tuf_root_parse(raw, out, e);

    if (err != SDV_OK)
        return err;
    err = tuf_verify_signatures(&out->meta, "root", &out->keyring, &out->roles[TUF_ROOT], e);
    if (err != SDV_OK)
        tuf_root_free(out);
    return err;
}

enum sdv_err sdv_tuf_client_init_root(const char *metadata_dir, const void *data, size_t len,
                                      char *errmsg, size_t errmsg_len)
{
    struct tuf_err e = {errmsg, errmsg_len};
    struct tuf_root root;
    struct sdv_buf raw;
    char path[SDV_URL_LEN_MAX];
    enum sdv_err err;

    sdv_buf_init(&raw, SDV_TUF_ROOT_MAX_LEN);
    err = sdv_buf_append(&raw, data, len);
    if (err != SDV_OK) {
        tuf_errf(&e, "root: the trusted root is larger than %u bytes", SDV_TUF_ROOT_MAX_LEN);
        sdv_buf_free(&raw);
        return err;
    }
    err = root_load_self_signed(&raw, &root, &e);
    sdv_buf_free(&raw);
    if (err != SDV_OK)
        return err;
    err = sdv_fs_mkdir_p(metadata_dir, 0755);
    if (err == SDV_OK)
        err = sdv_path_join(path, sizeof(path), metadata_dir, "root.json");
    if (err == SDV_OK)
        err = sdv_fs_write_atomic(path, root.meta.raw.data, root.meta.raw.len, 0644);
    if (err != SDV_OK)
        tuf_errf(&e, "root: cannot store %s/root.json: %s", metadata_dir, sdv_strerror(err));
    tuf_root_free(&root);
    return err;
}

enum sdv_err sdv_tuf_client_create(const struct sdv_tuf_client_config *cfg,
                                   struct sdv_tuf_client **out, char *errmsg, size_t errmsg_len)
{
    struct sdv_tuf_client *c;
    struct sdv_buf raw;
    enum sdv_err err;

    *out = NULL;
    if (cfg->metadata_dir == NULL) {
        if (errmsg != NULL && errmsg_len > 0)
            snprintf(errmsg, errmsg_len, "no metadata directory given");
        return SDV_EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SDV_ENOMEM;
    c->err.msg = c->errmsg;
    c->err.msg_len = sizeof(c->errmsg);
    c->delegated_index = json_object();
    if (c->delegated_index == NULL) {
        err = SDV_ENOMEM;
        goto fail;
    }
    c->metadata_dir = strdup(cfg->metadata_dir);
    c->metadata_url = strdup(cfg->metadata_url != NULL ? cfg->metadata_url : "");
    if (c->metadata_dir == NULL || c->metadata_url == NULL) {
        err = SDV_ENOMEM;
        goto fail;
    }
    c->fetch = cfg->fetch;
    c->fetch_ud = cfg->fetch_ud;
    c->log = cfg->log;
    c->now = cfg->now;
    c->root_max_len = or_default(cfg->root_max_len, SDV_TUF_ROOT_MAX_LEN);
    c->timestamp_max_len = or_default(cfg->timestamp_max_len, SDV_TUF_TIMESTAMP_MAX_LEN);
    c->snapshot_max_len = or_default(cfg->snapshot_max_len, SDV_TUF_SNAPSHOT_MAX_LEN);
    c->targets_max_len = or_default(cfg->targets_max_len, SDV_TUF_TARGETS_MAX_LEN);
    c->root_rotations_max =
            (unsigned)or_default(cfg->root_rotations_max, SDV_TUF_ROOT_ROTATIONS_MAX);
    c->delegations_max = (unsigned)or_default(cfg->delegations_max, SDV_TUF_DELEGATIONS_MAX);

    err = read_local(c, "root.json", c->root_max_len, &raw);
    if (err != SDV_OK) {
        tuf_errf(&c->err, "root: no trusted root in %s (%s); run init first", c->metadata_dir,
                 sdv_strerror(err));
        goto fail;
    }
    err = root_load_self_signed(&raw, &c->root, &c->err);
    sdv_buf_free(&raw);
    if (err != SDV_OK)
        goto fail;
    *out = c;
    return SDV_OK;
fail:
    if (errmsg != NULL && errmsg_len > 0)
        snprintf(errmsg, errmsg_len, "%s", c->errmsg[0] ? c->errmsg : sdv_strerror(err));
    sdv_tuf_client_destroy(c);
    return err;
}

void sdv_tuf_client_destroy(struct sdv_tuf_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->delegated_count; i++) {
        tuf_targets_free(&c->delegated[i]->t);
        free(c->delegated[i]->name);
        free(c->delegated[i]);
    }
    free(c->delegated);
    json_decref(c->delegated_index);
    tuf_targets_free(&c->targets);
    tuf_snapshot_free(&c->snapshot);
    tuf_timestamp_free(&c->timestamp);
    tuf_root_free(&c->root);
    free(c->metadata_dir);
    free(c->metadata_url);
    free(c);
}

/* ---- 5.3 root --------------------------------------------------------------------------- */

static bool role_keys_equal(const struct tuf_role_keys *a, const struct tuf_role_keys *b)
{
    if (a->threshold != b->threshold || a->keyid_count != b->keyid_count)
        return false;
    for (size_t i = 0; i < a->keyid_count; i++) {
        bool found = false;

        for (size_t j = 0; j < b->keyid_count && !found; j++)
            found = strcmp(a->keyids[i], b->keyids[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static enum sdv_err update_root(struct sdv_tuf_client *c)
{
    bool rotated_ts = false, rotated_snap = false;
    enum sdv_err err = SDV_OK;
    unsigned step;

    for (step = 0; step < c->root_rotations_max; step++) {
        int64_t next = c->root.meta.version + 1;
        struct tuf_root new_root;
        struct sdv_buf raw;
        char name[48];

        snprintf(name, sizeof(name), "%lld.root.json", (long long)next);
        err = fetch_meta(c, "root", name, c->root_max_len, &raw);
        if (err == SDV_ENOENT) {
            err = SDV_OK;
            break;
        }
        if (err != SDV_OK)
            return err;
        err = tuf_root_parse(&raw, &new_root, &c->err);
        sdv_buf_free(&raw);
        if (err != SDV_OK)
            return err;
        /* 5.3.4: signed by a threshold of the trusted root's root keys, then of its own. */
        err = tuf_verify_signatures(&new_root.meta, "root", &c->root.keyring,
                                    &c->root.roles[TUF_ROOT], &c->err);
        if (err != SDV_OK) {
            tuf_errf(&c->err,
                     "root: version %lld is not signed by a threshold of the keys of trusted "
                     "root version %lld",
                     (long long)next, (long long)c->root.meta.version);
        }
        if (err == SDV_OK) {
            err = tuf_verify_signatures(&new_root.meta, "root", &new_root.keyring,
                                        &new_root.roles[TUF_ROOT], &c->err);
            if (err != SDV_OK)
                tuf_errf(&c->err,
                         "root: version %lld is not signed by a threshold of its own root keys",
                         (long long)next);
        }
        /* 5.3.5: the file N.root.json must hold version N exactly (no rollback, no skip). */
        if (err == SDV_OK && new_root.meta.version != next) {
            tuf_errf(&c->err, "root: %s holds version %lld, expected %lld", name,
                     (long long)new_root.meta.version, (long long)next);
            err = new_root.meta.version < next ? SDV_EROLLBACK : SDV_EVERSION;
        }
        if (err == SDV_OK)
            err = persist(c, "root", "root.json", &new_root.meta.raw);
        if (err != SDV_OK) {
            tuf_root_free(&new_root);
            return err;
        }
        if (!rotated_ts &&
            !role_keys_equal(&c->root.roles[TUF_TIMESTAMP], &new_root.roles[TUF_TIMESTAMP]))
            rotated_ts = true;
        if (!rotated_snap &&
            !role_keys_equal(&c->root.roles[TUF_SNAPSHOT], &new_root.roles[TUF_SNAPSHOT]))
            rotated_snap = true;
        sdv_logf(&c->log, SDV_LOG_INFO, "root: updated to version %lld", (long long)next);
        tuf_root_free(&c->root);
        c->root = new_root;
    }
    /* 5.3.10: the final root must not have expired. */
    err = check_expiry(c, "root", &c->root.meta);
    if (err != SDV_OK)
        return err;
    /* 5.3.11: fast-forward attack recovery. */
    if (rotated_ts || rotated_snap) {
        sdv_logf(&c->log, SDV_LOG_INFO,
                 "root: %s keys rotated; discarding trusted timestamp and snapshot",
                 rotated_ts ? "timestamp" : "snapshot");
        remove_local(c, "timestamp.json");
        remove_local(c, "snapshot.json");
    }
    return SDV_OK;
}

/* ---- 5.4 timestamp ---------------------------------------------------------------------- */

static enum sdv_err update_timestamp(struct sdv_tuf_client *c)
{
    struct tuf_timestamp trusted, fresh;
    bool have_trusted = false;
    struct sdv_buf raw;
    enum sdv_err err;

    /* The trusted timestamp, if it still verifies, is the reference for rollback checks. */
    if (read_local(c, "timestamp.json", c->timestamp_max_len, &raw) == SDV_OK) {
        if (tuf_timestamp_parse(&raw, &trusted, NULL) == SDV_OK) {
            have_trusted = tuf_verify_signatures(&trusted.meta, "timestamp", &c->root.keyring,
                                                 &c->root.roles[TUF_TIMESTAMP], NULL) == SDV_OK;
            if (!have_trusted)
                tuf_timestamp_free(&trusted);
        }
        sdv_buf_free(&raw);
    }

    err = fetch_meta(c, "timestamp", "timestamp.json", c->timestamp_max_len, &raw);
    if (err == SDV_OK) {
        err = tuf_timestamp_parse(&raw, &fresh, &c->err);
        sdv_buf_free(&raw);
    }
    if (err != SDV_OK)
        goto out;
    err = tuf_verify_signatures(&fresh.meta, "timestamp", &c->root.keyring,
                                &c->root.roles[TUF_TIMESTAMP], &c->err);
    if (err == SDV_OK && have_trusted) {
        if (fresh.meta.version < trusted.meta.version) {
            tuf_errf(&c->err, "timestamp: version %lld is lower than trusted version %lld",
                     (long long)fresh.meta.version, (long long)trusted.meta.version);
            err = SDV_EROLLBACK;
        } else if (fresh.snapshot.version < trusted.snapshot.version) {
            tuf_errf(&c->err,
                     "timestamp: snapshot version %lld is lower than trusted snapshot version "
                     "%lld",
                     (long long)fresh.snapshot.version, (long long)trusted.snapshot.version);
            err = SDV_EROLLBACK;
        }
    }
    if (err != SDV_OK) {
        tuf_timestamp_free(&fresh);
        goto out;
    }
    if (have_trusted && fresh.meta.version == trusted.meta.version) {
        /* Nothing new: keep the trusted file (5.4.3.1). */
        tuf_timestamp_free(&fresh);
        c->timestamp = trusted;
        have_trusted = false;
        err = check_expiry(c, "timestamp", &c->timestamp.meta);
        c->have_timestamp = err == SDV_OK;
        if (err != SDV_OK)
            tuf_timestamp_free(&c->timestamp);
        goto out;
    }
    err = check_expiry(c, "timestamp", &fresh.meta);
    if (err == SDV_OK)
        err = persist(c, "timestamp", "timestamp.json", &fresh.meta.raw);
    if (err != SDV_OK) {
        tuf_timestamp_free(&fresh);
        goto out;
    }
    sdv_logf(&c->log, SDV_LOG_INFO, "timestamp: version %lld", (long long)fresh.meta.version);
    c->timestamp = fresh;
    c->have_timestamp = true;
out:
    if (have_trusted)
        tuf_timestamp_free(&trusted);
    return err;
}

/* ---- 5.5 snapshot ----------------------------------------------------------------------- */

/* Every targets role listed in the trusted snapshot must stay, at the same or a newer version. */
static enum sdv_err snapshot_rollback_check(struct sdv_tuf_client *c,
                                            const struct tuf_snapshot *trusted,
                                            const struct tuf_snapshot *fresh)
{
    const char *name;
    const json_t *v;

    json_object_foreach((json_t *)trusted->files, name, v)
    {
        struct tuf_metafile old_mf, new_mf;

        if (tuf_snapshot_lookup(trusted, name, &old_mf) != SDV_OK)
            continue;
        if (tuf_snapshot_lookup(fresh, name, &new_mf) != SDV_OK) {
            tuf_errf(&c->err,
                     "snapshot: %s is listed by the trusted snapshot but missing from "
                     "version %lld",
                     name, (long long)fresh->meta.version);
            return SDV_EROLLBACK;
        }
        if (new_mf.version < old_mf.version) {
            tuf_errf(&c->err, "snapshot: %s version %lld is lower than trusted version %lld", name,
                     (long long)new_mf.version, (long long)old_mf.version);
            return SDV_EROLLBACK;
        }
    }
    return SDV_OK;
}

static enum sdv_err update_snapshot(struct sdv_tuf_client *c)
{
    const struct tuf_metafile *mf = &c->timestamp.snapshot;
    struct tuf_snapshot trusted, fresh;
    bool have_trusted = false;
    struct sdv_buf raw;
    char name[48];
    enum sdv_err err;

    if (read_local(c, "snapshot.json", c->snapshot_max_len, &raw) == SDV_OK) {
        if (tuf_snapshot_parse(&raw, &trusted, NULL) == SDV_OK) {
            have_trusted = tuf_verify_signatures(&trusted.meta, "snapshot", &c->root.keyring,
                                                 &c->root.roles[TUF_SNAPSHOT], NULL) == SDV_OK;
            if (!have_trusted)
                tuf_snapshot_free(&trusted);
        }
        sdv_buf_free(&raw);
    }
    /* The trusted snapshot is the one the timestamp names: no download needed. */
    if (have_trusted && trusted.meta.version == mf->version &&
        tuf_check_length_hashes(trusted.meta.raw.data, trusted.meta.raw.len, mf->length, mf->hashes,
                                "snapshot", NULL) == SDV_OK) {
        err = check_expiry(c, "snapshot", &trusted.meta);
        if (err != SDV_OK) {
            tuf_snapshot_free(&trusted);
            return err;
        }
        c->snapshot = trusted;
        c->have_snapshot = true;
        return SDV_OK;
    }

    if (c->root.consistent_snapshot)
        snprintf(name, sizeof(name), "%lld.snapshot.json", (long long)mf->version);
    else
        snprintf(name, sizeof(name), "snapshot.json");
    err = fetch_meta(c, "snapshot", name,
                     mf->length >= 0 ? (uint64_t)mf->length : c->snapshot_max_len, &raw);
    if (err != SDV_OK)
        goto out;
    err = tuf_check_length_hashes(raw.data, raw.len, mf->length, mf->hashes,
                                  "snapshot (as listed by timestamp)", &c->err);
    if (err == SDV_OK)
        err = tuf_snapshot_parse(&raw, &fresh, &c->err);
    sdv_buf_free(&raw);
    if (err != SDV_OK)
        goto out;
    err = tuf_verify_signatures(&fresh.meta, "snapshot", &c->root.keyring,
                                &c->root.roles[TUF_SNAPSHOT], &c->err);
    if (err == SDV_OK && fresh.meta.version != mf->version) {
        tuf_errf(&c->err, "snapshot: version %lld does not match version %lld named by timestamp",
                 (long long)fresh.meta.version, (long long)mf->version);
        err = SDV_EVERSION;
    }
    if (err == SDV_OK && have_trusted)
        err = snapshot_rollback_check(c, &trusted, &fresh);
    if (err == SDV_OK)
        err = check_expiry(c, "snapshot", &fresh.meta);
    if (err == SDV_OK)
        err = persist(c, "snapshot", "snapshot.json", &fresh.meta.raw);
    if (err != SDV_OK) {
        tuf_snapshot_free(&fresh);
        goto out;
    }
    sdv_logf(&c->log, SDV_LOG_INFO, "snapshot: version %lld", (long long)fresh.meta.version);
    c->snapshot = fresh;
    c->have_snapshot = true;
out:
    if (have_trusted)
        tuf_snapshot_free(&trusted);
    return err;
}

/* ---- 5.6 targets and delegated targets -------------------------------------------------- */

/*
 * Loads one targets role: reuses the trusted local file when it verifies and is the version the
 * snapshot names, otherwise downloads, checks and persists it. keyring/keys are those of the
 * delegating role (root for "targets").
 */
static enum sdv_err load_targets_role(struct sdv_tuf_client *c, const char *role,
                                      const struct tuf_keyring *keyring,
                                      const struct tuf_role_keys *keys, struct tuf_targets *out)
{
    struct tuf_metafile mf;
    struct sdv_buf raw;
    char *encoded = NULL, *meta_name = NULL, *local_name = NULL, *remote_name = NULL;
    size_t n;
    enum sdv_err err;

    memset(out, 0, sizeof(*out));
    encoded = sdv_percent_encode(role);
    n = strlen(role) + 3 * 20 + 64;
    meta_name = malloc(n);
    local_name = malloc(strlen(encoded != NULL ? encoded : "") + 8);
    remote_name = malloc(3 * strlen(role) + 64);
    if (encoded == NULL || meta_name == NULL || local_name == NULL || remote_name == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    snprintf(meta_name, n, "%s.json", role);
    snprintf(local_name, strlen(encoded) + 8, "%s.json", encoded);

    err = tuf_snapshot_lookup(&c->snapshot, meta_name, &mf);
    if (err != SDV_OK) {
        tuf_errf(&c->err, "%s: snapshot version %lld does not list %s", role,
                 (long long)c->snapshot.meta.version, meta_name);
        err = SDV_ENOTARGET;
        goto out;
    }

    if (read_local(c, local_name, c->targets_max_len, &raw) == SDV_OK) {
        struct tuf_targets trusted;
        bool ok = false;

        if (tuf_targets_parse(&raw, role, &trusted, NULL) == SDV_OK) {
            ok = tuf_verify_signatures(&trusted.meta, role, keyring, keys, NULL) == SDV_OK &&
                 trusted.meta.version == mf.version &&
                 tuf_check_length_hashes(trusted.meta.raw.data, trusted.meta.raw.len, mf.length,
                                         mf.hashes, role, NULL) == SDV_OK;
            if (ok)
                *out = trusted;
            else
                tuf_targets_free(&trusted);
        }
        sdv_buf_free(&raw);
        if (ok) {
            err = check_expiry(c, role, &out->meta);
            if (err != SDV_OK)
                tuf_targets_free(out);
            goto out;
        }
    }

    if (c->root.consistent_snapshot)
        snprintf(remote_name, 3 * strlen(role) + 64, "%lld.%s.json", (long long)mf.version,
                 encoded);
    else
        snprintf(remote_name, 3 * strlen(role) + 64, "%s.json", encoded);
    err = fetch_meta(c, role, remote_name,
                     mf.length >= 0 ? (uint64_t)mf.length : c->targets_max_len, &raw);
    if (err != SDV_OK)
        goto out;
    err = tuf_check_length_hashes(raw.data, raw.len, mf.length, mf.hashes, role, &c->err);
    if (err == SDV_OK)
        err = tuf_targets_parse(&raw, role, out, &c->err);
    sdv_buf_free(&raw);
    if (err != SDV_OK)
        goto out;
    err = tuf_verify_signatures(&out->meta, role, keyring, keys, &c->err);
    if (err == SDV_OK && out->meta.version != mf.version) {
        tuf_errf(&c->err, "%s: version %lld does not match version %lld named by snapshot", role,
                 (long long)out->meta.version, (long long)mf.version);
        err = SDV_EVERSION;
    }
    if (err == SDV_OK)
        err = check_expiry(c, role, &out->meta);
    if (err == SDV_OK)
        err = persist(c, role, local_name, &out->meta.raw);
    if (err != SDV_OK) {
        tuf_targets_free(out);
        goto out;
    }
    sdv_logf(&c->log, SDV_LOG_INFO, "%s: version %lld", role, (long long)out->meta.version);
out:
    free(encoded);
    free(meta_name);
    free(local_name);
    free(remote_name);
    return err;
}

enum sdv_err sdv_tuf_client_refresh(struct sdv_tuf_client *c)
{
    enum sdv_err err;

    if (c->refresh_started) {
        tuf_errf(&c->err, "refresh: a client refreshes once; create a new client");
        return SDV_EINVAL;
    }
    c->refresh_started = true;
    if (c->fetch == NULL) {
        tuf_errf(&c->err, "refresh: no fetch function configured");
        return SDV_EINVAL;
    }
    c->errmsg[0] = '\0';
    err = update_root(c);
    if (err == SDV_OK)
        err = update_timestamp(c);
    if (err == SDV_OK)
        err = update_snapshot(c);
    if (err == SDV_OK) {
        err = load_targets_role(c, "targets", &c->root.keyring, &c->root.roles[TUF_TARGETS],
                                &c->targets);
        c->have_targets = err == SDV_OK;
    }
    c->refreshed = err == SDV_OK;
    return err;
}

/* Key of a loaded delegated role in the client's index: the delegating role's identity and the
 * role name (a role reached through two parents is verified against each parent's keys). */
static enum sdv_err delegated_key(const struct tuf_targets *parent, const char *name,
                                  struct sdv_buf *key)
{
    sdv_buf_init(key, SDV_TUF_NAME_LEN_MAX + 64);
    return sdv_buf_printf(key, "%p\n%s", (const void *)parent, name);
}

/* Returns a delegated role loaded through parent, loading it on first use. */
static enum sdv_err get_delegated(struct sdv_tuf_client *c, const char *name,
                                  const struct tuf_targets *parent, const struct loaded_role **out)
{
    const struct tuf_role_keys *keys = NULL;
    struct loaded_role *lr;
    struct sdv_buf key;
    const json_t *idx;
    enum sdv_err err;

    err = delegated_key(parent, name, &key);
    if (err != SDV_OK)
        goto out;
    idx = json_object_get(c->delegated_index, (const char *)key.data);
    if (idx != NULL) {
        *out = c->delegated[json_integer_value(idx)];
        goto out;
    }
    if (parent->succinct) {
        keys = &parent->succinct_keys;
    } else {
        for (size_t i = 0; i < parent->role_count && keys == NULL; i++)
            if (strcmp(parent->roles[i].name, name) == 0)
                keys = &parent->roles[i].keys;
    }
    if (keys == NULL) {
        err = SDV_ENOTARGET;
        goto out;
    }
    if (c->delegated_count == c->delegated_cap) {
        size_t cap = c->delegated_cap ? 2 * c->delegated_cap : 16;
        struct loaded_role **grown = realloc(c->delegated, cap * sizeof(*grown));

        if (grown == NULL) {
            err = SDV_ENOMEM;
            goto out;
        }
        c->delegated = grown;
        c->delegated_cap = cap;
    }
    lr = calloc(1, sizeof(*lr));
    if (lr == NULL || (lr->name = strdup(name)) == NULL) {
        free(lr);
        err = SDV_ENOMEM;
        goto out;
    }
    lr->parent = parent;
    err = load_targets_role(c, name, &parent->delegation_keys, keys, &lr->t);
    if (err == SDV_OK && json_object_set_new(c->delegated_index, (const char *)key.data,
                                             json_integer((json_int_t)c->delegated_count)) != 0) {
        tuf_targets_free(&lr->t);
        err = SDV_ENOMEM;
    }
    if (err != SDV_OK) {
        free(lr->name);
        free(lr);
        goto out;
    }
    /* The exact bytes were needed to persist the file; only the parsed form is used now. */
    sdv_buf_free(&lr->t.meta.raw);
    c->delegated[c->delegated_count++] = lr;
    *out = lr;
out:
    sdv_buf_free(&key);
    return err;
}

struct visit {
    const char *name; /* NULL for the top-level targets role */
    const struct tuf_targets *parent;
};

enum sdv_err sdv_tuf_client_find_target(struct sdv_tuf_client *c, const char *path,
                                        struct sdv_tuf_target *out)
{
    struct visit *stack = NULL, *visited = NULL;
    size_t depth = 0, cap = 0, nvisited = 0;
    char bin_name[SDV_TUF_NAME_LEN_MAX + 16];
    enum sdv_err err = SDV_ENOTARGET;

    if (!c->refreshed) {
        tuf_errf(&c->err, "targets: refresh must succeed before looking up targets");
        return SDV_EINVAL;
    }
    visited = calloc(c->delegations_max + 1, sizeof(*visited));
    cap = 16;
    stack = calloc(cap, sizeof(*stack));
    if (visited == NULL || stack == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    stack[depth++] = (struct visit){NULL, NULL};
    while (depth > 0) {
        struct visit v = stack[--depth];
        const struct tuf_targets *t;
        const char *role = v.name != NULL ? v.name : "targets";
        const json_t *entry;
        bool seen = false;
        size_t first_child = depth;

        /* 5.6.7.1: a role visited before is skipped, whoever delegates to it again; keying on
         * the delegating role's loaded copy would let a cycle (A -> B -> A) run to the bound. */
        for (size_t i = 0; i < nvisited && !seen; i++)
            seen = visited[i].name == v.name ||
                   (visited[i].name && v.name && strcmp(visited[i].name, v.name) == 0);
        if (seen)
            continue;
        if (nvisited == c->delegations_max) {
            tuf_errf(&c->err, "%s: more than %u delegated roles visited looking for \"%s\"", role,
                     c->delegations_max, path);
            err = SDV_ELIMIT;
            goto out;
        }
        if (v.name == NULL) {
            t = &c->targets;
        } else {
            const struct loaded_role *lr;

            err = get_delegated(c, v.name, v.parent, &lr);
            if (err != SDV_OK)
                goto out;
            t = &lr->t;
            v.name = lr->name; /* stable storage: bin names are built in a scratch buffer */
        }
        visited[nvisited++] = v;
        entry = json_object_get(t->targets, path);
        if (entry != NULL) {
            err = tuf_target_from_json(path, entry, role, out, &c->err);
            goto out;
        }
        err = SDV_ENOTARGET;
        if (!t->has_delegations)
            continue;
        if (t->succinct) {
            if (tuf_succinct_bin_name(t, path, bin_name, sizeof(bin_name)) != SDV_OK)
                continue;
            /* The bin is the only role trusted for this path: nothing else is searched. */
            depth = 0;
            stack[depth++] = (struct visit){bin_name, t};
            continue;
        }
        for (size_t i = 0; i < t->role_count; i++) {
            if (!tuf_role_matches(&t->roles[i], path))
                continue;
            if (depth == cap) {
                struct visit *grown = realloc(stack, 2 * cap * sizeof(*stack));

                if (grown == NULL) {
                    err = SDV_ENOMEM;
                    goto out;
                }
                stack = grown;
                cap *= 2;
            }
            stack[depth++] = (struct visit){t->roles[i].name, t};
            if (t->roles[i].terminating) {
                /* A terminating match: roles that were waiting on the stack are never
                 * consulted; the children matched so far still are, in order. */
                memmove(stack, stack + first_child, (depth - first_child) * sizeof(*stack));
                depth -= first_child;
                first_child = 0;
                break;
            }
        }
        /* Children were pushed in listed order; reverse them so the first is visited first. */
        for (size_t i = first_child, j = depth; i + 1 < j; i++, j--) {
            struct visit tmp = stack[i];

            stack[i] = stack[j - 1];
            stack[j - 1] = tmp;
        }
    }
    tuf_errf(&c->err, "targets: no trusted role lists \"%s\"", path);
    err = SDV_ENOTARGET;
out:
    free(stack);
    free(visited);
    return err;
}

int64_t sdv_tuf_client_role_version(const struct sdv_tuf_client *c, const char *role)
{
    if (strcmp(role, "root") == 0)
        return c->root.meta.version;
    if (strcmp(role, "timestamp") == 0)
        return c->have_timestamp ? c->timestamp.meta.version : 0;
    if (strcmp(role, "snapshot") == 0)
        return c->have_snapshot ? c->snapshot.meta.version : 0;
    if (strcmp(role, "targets") == 0)
        return c->have_targets ? c->targets.meta.version : 0;
    for (size_t i = 0; i < c->delegated_count; i++)
        if (strcmp(c->delegated[i]->name, role) == 0)
            return c->delegated[i]->t.meta.version;
    return 0;
}

int sdv_tuf_client_consistent_snapshot(const struct sdv_tuf_client *c)
{
    return c->root.consistent_snapshot;
}
