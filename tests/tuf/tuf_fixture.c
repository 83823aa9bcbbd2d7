/*
 * tuf_fixture.c - the in-memory TUF repository used by the client tests (see tuf_fixture.h).
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "tuf_fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdv/limits.h>

#define FX_SPEC_VERSION "1.0.31"
#define FX_CANON_MAX    (16u * 1024u * 1024u)

static void *fx_xmalloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);

    if (p == NULL)
        fail_msg("out of memory");
    return p;
}

static char *fx_xstrdup(const char *s)
{
    char *p = strdup(s);

    if (p == NULL)
        fail_msg("out of memory");
    return p;
}

static void fx_check(enum sdv_err err, const char *what)
{
    if (err != SDV_OK)
        fail_msg("fixture: %s failed: %s", what, sdv_errname(err));
}

/* ---- Keys ------------------------------------------------------------------------------- */

struct fx_key *fx_key_new(enum sdv_key_type type)
{
    struct fx_key *k = fx_xmalloc(sizeof(*k));

    fx_check(sdv_key_generate(type, type == SDV_KEY_RSA ? 2048 : 0, &k->key), "key generation");
    fx_check(sdv_key_id(k->key, k->id), "sdv_key_id");
    return k;
}

void fx_key_free(struct fx_key *k)
{
    if (k == NULL)
        return;
    sdv_key_destroy(k->key);
    free(k);
}

struct fx_key *fx_repo_key(struct fx_repo *r, enum sdv_key_type type)
{
    struct fx_key *k;

    if (r->owned_key_count == sizeof(r->owned_keys) / sizeof(r->owned_keys[0]))
        fail_msg("fixture: too many keys");
    k = fx_key_new(type);
    r->owned_keys[r->owned_key_count++] = k;
    return k;
}

/* ---- Helpers ---------------------------------------------------------------------------- */

void fx_sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t d[32];

    fx_check(sdv_hash_buf(SDV_HASH_SHA256, data, len, d), "sha256");
    sdv_hex_encode(d, sizeof(d), out);
}

static void fx_sha512_hex(const void *data, size_t len, char out[129])
{
    uint8_t d[64];

    fx_check(sdv_hash_buf(SDV_HASH_SHA512, data, len, d), "sha512");
    sdv_hex_encode(d, sizeof(d), out);
}

static char *fx_encode(const char *s)
{
    char *e = sdv_percent_encode(s);

    if (e == NULL)
        fail_msg("out of memory");
    return e;
}

uint8_t *fx_read_file(const char *path, size_t *len)
{
    struct sdv_buf b;
    enum sdv_err err;

    sdv_buf_init(&b, 64u * 1024u * 1024u);
    err = sdv_fs_read(path, &b);
    if (err != SDV_OK)
        fail_msg("cannot read %s: %s", path, sdv_errname(err));
    return (uint8_t *)sdv_buf_steal(&b, len);
}

bool fx_file_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* ---- Roles ------------------------------------------------------------------------------ */

static void role_init(struct fx_repo *r, struct fx_role *role, const char *name)
{
    memset(role, 0, sizeof(*role));
    snprintf(role->name, sizeof(role->name), "%s", name);
    role->version = 1;
    role->expires = FX_NOW + 30 * FX_DAY;
    role->threshold = 1;
    role->keys[role->key_count++] = fx_repo_key(r, SDV_KEY_ED25519);
}

static void role_clear(struct fx_role *role)
{
    json_decref(role->targets);
    for (size_t i = 0; i < role->deleg_count; i++) {
        json_decref(role->delegs[i].paths);
        json_decref(role->delegs[i].prefixes);
    }
}

static bool is_targets_role(const struct fx_role *role)
{
    return strcmp(role->name, "root") != 0 && strcmp(role->name, "timestamp") != 0 &&
           strcmp(role->name, "snapshot") != 0;
}

struct fx_role *fx_role(struct fx_repo *r, const char *name)
{
    struct fx_role *top[] = {&r->root, &r->timestamp, &r->snapshot, &r->targets};

    for (size_t i = 0; i < 4; i++)
        if (strcmp(top[i]->name, name) == 0)
            return top[i];
    for (size_t i = 0; i < r->delegated_count; i++)
        if (strcmp(r->delegated[i]->name, name) == 0)
            return r->delegated[i];
    return NULL;
}

struct fx_role *fx_role_add(struct fx_repo *r, const char *name)
{
    struct fx_role *role;

    if (r->delegated_count == FX_ROLES_MAX || fx_role(r, name) != NULL)
        fail_msg("fixture: cannot add role %s", name);
    role = fx_xmalloc(sizeof(*role));
    role_init(r, role, name);
    role->targets = json_object();
    r->delegated[r->delegated_count++] = role;
    return role;
}

static json_t *string_list(const char *const *list)
{
    json_t *a;

    if (list == NULL)
        return NULL;
    a = json_array();
    for (size_t i = 0; list[i] != NULL; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

void fx_delegate(struct fx_repo *r, const char *parent, const char *child, bool terminating,
                 const char *const *paths, const char *const *prefixes)
{
    struct fx_role *p = fx_role(r, parent);
    struct fx_delegation *d;

    if (p == NULL || !is_targets_role(p) || p->deleg_count == FX_DELEGS_MAX)
        fail_msg("fixture: cannot delegate from %s", parent);
    if (fx_role(r, child) == NULL)
        fail_msg("fixture: delegation to unknown role %s", child);
    d = &p->delegs[p->deleg_count++];
    snprintf(d->name, sizeof(d->name), "%s", child);
    d->terminating = terminating;
    d->paths = string_list(paths);
    d->prefixes = string_list(prefixes);
}

void fx_role_set_keys(struct fx_role *role, unsigned threshold, struct fx_key *const *keys)
{
    role->key_count = 0;
    for (size_t i = 0; keys[i] != NULL; i++) {
        assert_true(role->key_count < FX_KEYS_MAX);
        role->keys[role->key_count++] = keys[i];
    }
    role->threshold = threshold;
}

void fx_role_set_signers(struct fx_role *role, struct fx_key *const *keys)
{
    role->signer_count = 0;
    for (size_t i = 0; keys[i] != NULL; i++) {
        assert_true(role->signer_count < FX_KEYS_MAX);
        role->signers[role->signer_count++] = keys[i];
    }
}

/* ---- The server ------------------------------------------------------------------------- */

static struct fx_file *file_find(struct fx_file *files, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(files[i].name, name) == 0)
            return &files[i];
    return NULL;
}

static void file_put(struct fx_file **files, size_t *count, const char *name, const void *data,
                     size_t len)
{
    struct fx_file *f = file_find(*files, *count, name);

    if (f == NULL) {
        struct fx_file *grown = realloc(*files, (*count + 1) * sizeof(**files));

        if (grown == NULL)
            fail_msg("out of memory");
        *files = grown;
        f = &grown[(*count)++];
        f->name = fx_xstrdup(name);
    } else {
        free(f->data);
    }
    f->data = fx_xmalloc(len);
    if (len > 0)
        memcpy(f->data, data, len);
    f->len = len;
}

static void files_free(struct fx_file *files, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(files[i].name);
        free(files[i].data);
    }
    free(files);
}

void fx_serve(struct fx_repo *r, const char *name, const void *data, size_t len)
{
    file_put(&r->files, &r->file_count, name, data, len);
}

void fx_serve_json(struct fx_repo *r, const char *name, const json_t *envelope)
{
    size_t n = json_dumpb(envelope, NULL, 0, 0);
    char *text;

    if (n == 0)
        fail_msg("fixture: cannot serialize %s", name);
    text = fx_xmalloc(n);
    if (json_dumpb(envelope, text, n, 0) != n)
        fail_msg("fixture: cannot serialize %s", name);
    fx_serve(r, name, text, n);
    free(text);
}

const struct fx_file *fx_served(const struct fx_repo *r, const char *name)
{
    return file_find(r->files, r->file_count, name);
}

void fx_unserve(struct fx_repo *r, const char *name)
{
    struct fx_file *f = file_find(r->files, r->file_count, name);

    if (f == NULL)
        return;
    free(f->name);
    free(f->data);
    *f = r->files[--r->file_count];
}

enum sdv_err fx_fetch(void *fetch_ud, const char *url, uint64_t max_len, sdv_tuf_sink_fn sink,
                      void *sink_ud)
{
    struct fx_repo *r = fetch_ud;
    const struct fx_file *f;
    struct fx_request *grown;
    const char *name;
    size_t deliver, chunk;

    if (strncmp(url, FX_BASE_URL, strlen(FX_BASE_URL)) != 0)
        fail_msg("fetch of a URL outside the repository: %s", url);
    name = url + strlen(FX_BASE_URL);
    grown = realloc(r->requests, (r->request_count + 1) * sizeof(*grown));
    if (grown == NULL)
        fail_msg("out of memory");
    r->requests = grown;
    r->requests[r->request_count].name = fx_xstrdup(name);
    r->requests[r->request_count].max_len = max_len;
    r->request_count++;

    f = fx_served(r, name);
    if (f == NULL)
        return SDV_ENOENT;
    /* Like a real transport: stream up to max_len bytes, then give up. */
    deliver = f->len;
    if (!r->ignore_max_len && (uint64_t)deliver > max_len)
        deliver = (size_t)max_len;
    chunk = r->chunk_len != 0 ? r->chunk_len : deliver;
    for (size_t off = 0; off < deliver; off += chunk) {
        size_t n = deliver - off < chunk ? deliver - off : chunk;
        enum sdv_err err = sink(sink_ud, f->data + off, n);

        if (err != SDV_OK)
            return err;
    }
    return deliver < f->len ? SDV_ETOOBIG : SDV_OK;
}

void fx_requests_clear(struct fx_repo *r)
{
    for (size_t i = 0; i < r->request_count; i++)
        free(r->requests[i].name);
    free(r->requests);
    r->requests = NULL;
    r->request_count = 0;
}

char *fx_requests_str(const struct fx_repo *r)
{
    struct sdv_buf b;
    char *s;

    sdv_buf_init(&b, 1u << 20);
    for (size_t i = 0; i < r->request_count; i++) {
        if (i > 0)
            fx_check(sdv_buf_putc(&b, ' '), "buffer");
        fx_check(sdv_buf_puts(&b, r->requests[i].name), "buffer");
    }
    s = sdv_buf_steal(&b, NULL);
    if (s == NULL)
        fail_msg("out of memory");
    return s;
}

void fx_assert_requests(const struct fx_repo *r, const char *want)
{
    char *got = fx_requests_str(r);

    assert_string_equal(got, want);
    free(got);
}

bool fx_requested(const struct fx_repo *r, const char *name)
{
    for (size_t i = 0; i < r->request_count; i++)
        if (strcmp(r->requests[i].name, name) == 0)
            return true;
    return false;
}

uint64_t fx_request_max_len(const struct fx_repo *r, const char *name)
{
    for (size_t i = r->request_count; i > 0; i--)
        if (strcmp(r->requests[i - 1].name, name) == 0)
            return r->requests[i - 1].max_len;
    fail_msg("%s was never requested", name);
    return 0;
}

/* ---- Building and signing metadata ------------------------------------------------------ */

static json_t *header(const struct fx_role *role, const char *type)
{
    char when[SDV_TIME_STR_LEN];

    fx_check(sdv_time_format(role->expires, when), "time format");
    return json_pack("{s:s, s:s, s:I, s:s}", "_type", type, "spec_version", FX_SPEC_VERSION,
                     "version", (json_int_t)role->version, "expires", when);
}

static void add_key(json_t *keys, const struct fx_key *k)
{
    json_t *obj;

    fx_check(sdv_key_to_tuf(k->key, &obj), "sdv_key_to_tuf");
    json_object_set_new(keys, k->id, obj);
}

static json_t *role_keys(const struct fx_role *role, json_t *keyring)
{
    json_t *ids = json_array();

    for (size_t i = 0; i < role->key_count; i++) {
        json_array_append_new(ids, json_string(role->keys[i]->id));
        if (keyring != NULL)
            add_key(keyring, role->keys[i]);
    }
    return json_pack("{s:o, s:i}", "keyids", ids, "threshold", (int)role->threshold);
}

static json_t *build_root(struct fx_repo *r)
{
    const struct fx_role *top[] = {&r->root, &r->timestamp, &r->snapshot, &r->targets};
    json_t *s = header(&r->root, "root"), *keys = json_object(), *roles = json_object();

    for (size_t i = 0; i < 4; i++)
        json_object_set_new(roles, top[i]->name, role_keys(top[i], keys));
    json_object_set_new(s, "consistent_snapshot", json_boolean(r->consistent_snapshot));
    json_object_set_new(s, "keys", keys);
    json_object_set_new(s, "roles", roles);
    return s;
}

static json_t *metafile(const struct fx_repo *r, const struct fx_role *role, bool hashes)
{
    json_t *mf = json_pack("{s:I}", "version", (json_int_t)role->version);
    const struct fx_file *f;
    char hex[65];

    if (!hashes)
        return mf;
    f = fx_served(r, role->published_name);
    if (f == NULL)
        fail_msg("fixture: %s is not published yet", role->name);
    fx_sha256_hex(f->data, f->len, hex);
    json_object_set_new(mf, "length", json_integer((json_int_t)f->len));
    json_object_set_new(mf, "hashes", json_pack("{s:s}", "sha256", hex));
    return mf;
}

static json_t *build_timestamp(struct fx_repo *r)
{
    json_t *s = header(&r->timestamp, "timestamp");

    json_object_set_new(s, "meta",
                        json_pack("{s:o}", "snapshot.json", metafile(r, &r->snapshot, true)));
    return s;
}

static json_t *build_snapshot(struct fx_repo *r)
{
    json_t *s = header(&r->snapshot, "snapshot"), *meta = json_object();
    char name[FX_NAME_MAX + 8];

    json_object_set_new(meta, "targets.json", metafile(r, &r->targets, r->snapshot_hashes));
    for (size_t i = 0; i < r->delegated_count; i++) {
        snprintf(name, sizeof(name), "%s.json", r->delegated[i]->name);
        json_object_set_new(meta, name, metafile(r, r->delegated[i], r->snapshot_hashes));
    }
    json_object_set_new(s, "meta", meta);
    return s;
}

static json_t *build_targets(struct fx_repo *r, const struct fx_role *role)
{
    json_t *s = header(role, "targets"), *keys, *roles;

    json_object_set(s, "targets", role->targets);
    if (role->deleg_count == 0 && !role->succinct)
        return s;
    keys = json_object();
    if (role->succinct) {
        json_t *sr =
                json_pack("{s:[s], s:i, s:i, s:s}", "keyids", role->succinct_key->id, "threshold",
                          1, "bit_length", (int)role->bit_length, "name_prefix", role->name_prefix);

        add_key(keys, role->succinct_key);
        json_object_set_new(s, "delegations",
                            json_pack("{s:o, s:o}", "keys", keys, "succinct_roles", sr));
        return s;
    }
    roles = json_array();
    for (size_t i = 0; i < role->deleg_count; i++) {
        const struct fx_delegation *d = &role->delegs[i];
        json_t *obj = role_keys(fx_role(r, d->name), keys);

        json_object_set_new(obj, "name", json_string(d->name));
        json_object_set_new(obj, "terminating", json_boolean(d->terminating));
        if (d->paths != NULL)
            json_object_set(obj, "paths", d->paths);
        if (d->prefixes != NULL)
            json_object_set(obj, "path_hash_prefixes", d->prefixes);
        json_array_append_new(roles, obj);
    }
    json_object_set_new(s, "delegations", json_pack("{s:o, s:o}", "keys", keys, "roles", roles));
    return s;
}

static json_t *sign(const struct fx_role *role, json_t *signed_obj)
{
    json_t *sigs = json_array();
    struct fx_key *const *signers = role->signer_count > 0 ? role->signers : role->keys;
    size_t n = role->signer_count > 0 ? role->signer_count : role->key_count;
    struct sdv_buf canon;

    sdv_buf_init(&canon, FX_CANON_MAX);
    fx_check(sdv_cjson_write(signed_obj, &canon), "canonical JSON");
    if (role->bad_sig)
        fx_check(sdv_buf_putc(&canon, ' '), "buffer");
    for (size_t i = 0; i < n; i++) {
        uint8_t sig[SDV_SIG_LEN_MAX];
        char hex[2 * SDV_SIG_LEN_MAX + 1];
        size_t sig_len;

        fx_check(sdv_key_sign(signers[i]->key, canon.data, canon.len, sig, sizeof(sig), &sig_len),
                 "sdv_key_sign");
        sdv_hex_encode(sig, sig_len, hex);
        json_array_append_new(sigs, json_pack("{s:s, s:s}", "keyid", signers[i]->id, "sig", hex));
    }
    if (role->dup_sig && json_array_size(sigs) > 0)
        json_array_append(sigs, json_array_get(sigs, 0));
    sdv_buf_free(&canon);
    return json_pack("{s:o, s:o}", "signed", signed_obj, "signatures", sigs);
}

json_t *fx_role_build(struct fx_repo *r, struct fx_role *role)
{
    json_t *s;

    if (role == &r->root)
        s = build_root(r);
    else if (role == &r->timestamp)
        s = build_timestamp(r);
    else if (role == &r->snapshot)
        s = build_snapshot(r);
    else
        s = build_targets(r, role);
    if (s == NULL)
        fail_msg("fixture: cannot build %s", role->name);
    if (role->mutate != NULL)
        role->mutate(s, role->mutate_ud);
    return sign(role, s);
}

static void publish_role(struct fx_repo *r, struct fx_role *role)
{
    json_t *env = fx_role_build(r, role);

    fx_serve_json(r, role->published_name, env);
    json_decref(env);
}

static void set_published_name(struct fx_repo *r, struct fx_role *role)
{
    char *enc = fx_encode(role->name);

    if (role == &r->root)
        snprintf(role->published_name, sizeof(role->published_name), "%lld.root.json",
                 (long long)role->version);
    else if (role == &r->timestamp)
        snprintf(role->published_name, sizeof(role->published_name), "timestamp.json");
    else if (r->consistent_snapshot)
        snprintf(role->published_name, sizeof(role->published_name), "%lld.%s.json",
                 (long long)role->version, enc);
    else
        snprintf(role->published_name, sizeof(role->published_name), "%s.json", enc);
    free(enc);
}

/* "targets/" + every segment percent-encoded, the last one prefixed with HASH. when consistent. */
static char *target_file_name(const struct fx_repo *r, const struct fx_file *t)
{
    struct sdv_buf b;
    const char *seg = t->name;
    char hex[65];
    char *s;

    fx_sha256_hex(t->data, t->len, hex);
    sdv_buf_init(&b, 1u << 16);
    fx_check(sdv_buf_puts(&b, "targets/"), "buffer");
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t n = slash != NULL ? (size_t)(slash - seg) : strlen(seg);
        char *raw = strndup(seg, n), *enc;

        if (raw == NULL)
            fail_msg("out of memory");
        enc = fx_encode(raw);
        if (slash == NULL && r->consistent_snapshot)
            fx_check(sdv_buf_printf(&b, "%s.", hex), "buffer");
        fx_check(sdv_buf_puts(&b, enc), "buffer");
        free(raw);
        free(enc);
        if (slash == NULL)
            break;
        fx_check(sdv_buf_putc(&b, '/'), "buffer");
        seg = slash + 1;
    }
    s = sdv_buf_steal(&b, NULL);
    if (s == NULL)
        fail_msg("out of memory");
    return s;
}

void fx_target_add(struct fx_repo *r, const char *role_name, const char *path, const void *data,
                   size_t len)
{
    struct fx_role *role = fx_role(r, role_name);
    char h256[65], h512[129];

    if (role == NULL || !is_targets_role(role))
        fail_msg("fixture: %s is not a targets role", role_name);
    fx_sha256_hex(data, len, h256);
    fx_sha512_hex(data, len, h512);
    json_object_set_new(role->targets, path,
                        json_pack("{s:I, s:{s:s, s:s}}", "length", (json_int_t)len, "hashes",
                                  "sha256", h256, "sha512", h512));
    file_put(&r->tfiles, &r->tfile_count, path, data, len);
}

void fx_publish(struct fx_repo *r)
{
    for (size_t i = 0; i < r->delegated_count; i++) {
        set_published_name(r, r->delegated[i]);
        publish_role(r, r->delegated[i]);
    }
    set_published_name(r, &r->targets);
    publish_role(r, &r->targets);
    set_published_name(r, &r->snapshot);
    publish_role(r, &r->snapshot);
    set_published_name(r, &r->timestamp);
    publish_role(r, &r->timestamp);
    set_published_name(r, &r->root);
    if (fx_served(r, r->root.published_name) == NULL)
        publish_role(r, &r->root);
    for (size_t i = 0; i < r->tfile_count; i++) {
        char *name = target_file_name(r, &r->tfiles[i]);

        fx_serve(r, name, r->tfiles[i].data, r->tfiles[i].len);
        free(name);
    }
}

/* ---- Repository and client -------------------------------------------------------------- */

static void make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0)
        fail_msg("cannot create %s", path);
}

struct fx_repo *fx_repo_new(bool consistent_snapshot)
{
    struct fx_repo *r = fx_xmalloc(sizeof(*r));
    const char *tmp = getenv("TMPDIR");

    memset(r, 0, sizeof(*r));
    r->consistent_snapshot = consistent_snapshot;
    role_init(r, &r->root, "root");
    role_init(r, &r->timestamp, "timestamp");
    role_init(r, &r->snapshot, "snapshot");
    role_init(r, &r->targets, "targets");
    r->targets.targets = json_object();

    snprintf(r->tmp_dir, sizeof(r->tmp_dir), "%s/sdv-tuf-test-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(r->tmp_dir) == NULL)
        fail_msg("mkdtemp failed");
    snprintf(r->meta_dir, sizeof(r->meta_dir), "%s/meta", r->tmp_dir);
    snprintf(r->target_dir, sizeof(r->target_dir), "%s/targets", r->tmp_dir);
    make_dir(r->meta_dir);
    make_dir(r->target_dir);

    r->cfg.metadata_dir = r->meta_dir;
    r->cfg.metadata_url = FX_BASE_URL;
    r->cfg.fetch = fx_fetch;
    r->cfg.fetch_ud = r;
    r->cfg.now = FX_NOW;
    return r;
}

/* Test directories are two levels deep at most; recursion is bounded by that. */
static void remove_tree(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            char child[1024];

            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
            remove_tree(child);
        }
        closedir(d);
    }
    rmdir(path);
}

void fx_repo_free(struct fx_repo *r)
{
    if (r == NULL)
        return;
    remove_tree(r->tmp_dir);
    role_clear(&r->root);
    role_clear(&r->timestamp);
    role_clear(&r->snapshot);
    role_clear(&r->targets);
    for (size_t i = 0; i < r->delegated_count; i++) {
        role_clear(r->delegated[i]);
        free(r->delegated[i]);
    }
    for (size_t i = 0; i < r->owned_key_count; i++)
        fx_key_free(r->owned_keys[i]);
    files_free(r->files, r->file_count);
    files_free(r->tfiles, r->tfile_count);
    fx_requests_clear(r);
    free(r);
}

void fx_trust_root(struct fx_repo *r, int64_t version)
{
    char name[64], msg[256] = "";
    const struct fx_file *f;
    enum sdv_err err;

    snprintf(name, sizeof(name), "%lld.root.json", (long long)version);
    f = fx_served(r, name);
    if (f == NULL)
        fail_msg("fixture: %s is not published", name);
    err = sdv_tuf_client_init_root(r->meta_dir, f->data, f->len, msg, sizeof(msg));
    if (err != SDV_OK)
        fail_msg("init_root: %s: %s", sdv_errname(err), msg);
}

struct sdv_tuf_client *fx_client(struct fx_repo *r)
{
    struct sdv_tuf_client *c = NULL;
    char msg[256] = "";
    enum sdv_err err = sdv_tuf_client_create(&r->cfg, &c, msg, sizeof(msg));

    if (err != SDV_OK)
        fail_msg("sdv_tuf_client_create: %s: %s", sdv_errname(err), msg);
    return c;
}

enum sdv_err fx_refresh(struct fx_repo *r, struct sdv_tuf_client **out)
{
    *out = fx_client(r);
    return sdv_tuf_client_refresh(*out);
}

void fx_first_refresh(struct fx_repo *r)
{
    struct sdv_tuf_client *c;
    enum sdv_err err;

    fx_publish(r);
    fx_trust_root(r, 1);
    err = fx_refresh(r, &c);
    if (err != SDV_OK)
        fail_msg("first refresh: %s: %s", sdv_errname(err), sdv_tuf_client_errmsg(c));
    fx_assert_trusted_top(r, c);
    sdv_tuf_client_destroy(c);
    fx_requests_clear(r);
}

struct fx_repo *fx_trusted_repo(bool consistent, int64_t version)
{
    static const char *const all_paths[] = {"*", NULL};
    struct fx_repo *r = fx_repo_new(consistent);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    fx_target_add(r, "targets", "file.bin", "payload", 7);
    fx_role_add(r, "deleg");
    fx_delegate(r, "targets", "deleg", false, all_paths, NULL);
    fx_target_add(r, "deleg", "d.bin", "delegated", 9);
    r->timestamp.version = version;
    r->snapshot.version = version;
    r->targets.version = version;
    fx_role(r, "deleg")->version = version;
    fx_first_refresh(r);
    c = fx_client(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_refresh(c), SDV_OK, "");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "d.bin", &t), SDV_OK, "");
    fx_assert_trusted(r, c, "deleg");
    sdv_tuf_client_destroy(c);
    fx_requests_clear(r);
    return r;
}

void fx_assert_trusted(struct fx_repo *r, struct sdv_tuf_client *c, const char *name)
{
    struct fx_role *role = fx_role(r, name);
    const struct fx_file *served;
    char *enc, path[1024];
    uint8_t *data;
    size_t len;

    if (role == NULL)
        fail_msg("fixture: no role %s", name);
    if (sdv_tuf_client_role_version(c, name) != role->version)
        fail_msg("%s: client trusts version %lld, repository has %lld", name,
                 (long long)sdv_tuf_client_role_version(c, name), (long long)role->version);
    served = fx_served(r, role->published_name);
    if (served == NULL)
        fail_msg("fixture: %s was never published", name);
    enc = fx_encode(name);
    snprintf(path, sizeof(path), "%s/%s.json", r->meta_dir, enc);
    free(enc);
    data = fx_read_file(path, &len);
    if (len != served->len || memcmp(data, served->data, len) != 0)
        fail_msg("%s: stored %s differs from served %s", name, path, role->published_name);
    free(data);
}

void fx_assert_trusted_top(struct fx_repo *r, struct sdv_tuf_client *c)
{
    fx_assert_trusted(r, c, "root");
    fx_assert_trusted(r, c, "timestamp");
    fx_assert_trusted(r, c, "snapshot");
    fx_assert_trusted(r, c, "targets");
}

void fx_assert_err_(struct sdv_tuf_client *c, enum sdv_err err, enum sdv_err want, const char *file,
                    int line, const char *const *needles)
{
    const char *msg = c != NULL ? sdv_tuf_client_errmsg(c) : "";

    if (err != want) {
        print_error("got %s, want %s; message: \"%s\"\n", sdv_errname(err), sdv_errname(want), msg);
        _fail(file, line);
    }
    if (want == SDV_OK)
        return;
    for (size_t i = 0; needles[i] != NULL; i++) {
        if (strstr(msg, needles[i]) == NULL) {
            print_error("message \"%s\" does not contain \"%s\"\n", msg, needles[i]);
            _fail(file, line);
        }
    }
}

void fx_refresh_fails_(struct fx_repo *r, enum sdv_err want, const char *needle,
                       const char *const *updated, const char *file, int line)
{
    struct fx_dir_state *expected = fx_dir_capture(r->meta_dir);
    const char *needles[] = {needle, NULL};
    struct sdv_tuf_client *c;
    enum sdv_err err;

    for (size_t i = 0; updated[i] != NULL; i++) {
        const struct fx_role *role = fx_role(r, updated[i]);
        const struct fx_file *f = role != NULL ? fx_served(r, role->published_name) : NULL;
        char *enc = fx_encode(updated[i]), name[FX_NAME_MAX * 3 + 8];

        if (f == NULL)
            fail_msg("fixture: %s is not published", updated[i]);
        snprintf(name, sizeof(name), "%s.json", enc);
        free(enc);
        fx_dir_state_put(expected, name, f->data, f->len);
    }
    err = fx_refresh(r, &c);
    fx_assert_err_(c, err, want, file, line, needles);
    fx_dir_assert(expected, r->meta_dir);
    fx_dir_state_free(expected);
    sdv_tuf_client_destroy(c);
}

/* ---- Directory states ------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fx_file *)a)->name, ((const struct fx_file *)b)->name);
}

struct fx_dir_state *fx_dir_capture(const char *dir)
{
    struct fx_dir_state *s = fx_xmalloc(sizeof(*s));
    struct dirent *e;
    DIR *d = opendir(dir);

    memset(s, 0, sizeof(*s));
    if (d == NULL)
        fail_msg("cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        struct stat st;
        uint8_t *data;
        size_t len;

        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        data = fx_read_file(path, &len);
        file_put(&s->files, &s->count, e->d_name, data, len);
        free(data);
    }
    closedir(d);
    if (s->count > 0)
        qsort(s->files, s->count, sizeof(*s->files), name_cmp);
    return s;
}

void fx_dir_state_put(struct fx_dir_state *s, const char *name, const void *data, size_t len)
{
    file_put(&s->files, &s->count, name, data, len);
    qsort(s->files, s->count, sizeof(*s->files), name_cmp);
}

void fx_dir_assert(const struct fx_dir_state *want, const char *dir)
{
    struct fx_dir_state *got = fx_dir_capture(dir);
    size_t i;

    for (i = 0; i < want->count && i < got->count; i++) {
        if (strcmp(want->files[i].name, got->files[i].name) != 0)
            fail_msg("%s: expected file %s, found %s", dir, want->files[i].name,
                     got->files[i].name);
        if (want->files[i].len != got->files[i].len ||
            memcmp(want->files[i].data, got->files[i].data, got->files[i].len) != 0)
            fail_msg("%s: %s changed", dir, got->files[i].name);
    }
    if (i < want->count)
        fail_msg("%s: %s is missing", dir, want->files[i].name);
    if (i < got->count)
        fail_msg("%s: unexpected file %s", dir, got->files[i].name);
    fx_dir_state_free(got);
}

void fx_dir_state_free(struct fx_dir_state *s)
{
    if (s == NULL)
        return;
    files_free(s->files, s->count);
    free(s);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *fx_dir_list(const char *dir)
{
    char *names[256], *s;
    size_t n = 0;
    struct dirent *e;
    struct sdv_buf b;
    DIR *d = opendir(dir);

    if (d == NULL)
        fail_msg("cannot open %s", dir);
    while ((e = readdir(d)) != NULL && n < 256)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            names[n++] = fx_xstrdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof(names[0]), str_cmp);
    sdv_buf_init(&b, 1u << 16);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fx_check(sdv_buf_putc(&b, ' '), "buffer");
        fx_check(sdv_buf_puts(&b, names[i]), "buffer");
        free(names[i]);
    }
    s = sdv_buf_steal(&b, NULL);
    if (s == NULL)
        fail_msg("out of memory");
    return s;
}
