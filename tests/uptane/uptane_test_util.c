/*
 * uptane_test_util.c - see uptane_test_util.h.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "uptane_test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uptane_fixed_keys.h"

static struct sdv_key *key_pem(const char *pem)
{
    struct sdv_key *k = NULL;

    if (sdv_key_load_pem(pem, strlen(pem), &k) != SDV_OK)
        fail_msg("cannot load a fixed test key");
    return k;
}

static struct sdv_key *key_new(enum sdv_key_type type)
{
    struct sdv_key *k = NULL;

    if (sdv_key_generate(type, 2048, &k) != SDV_OK)
        fail_msg("cannot generate a key");
    return k;
}

struct ut_vehicle *ut_vehicle_new(int fixed)
{
    static const char *const serials[UT_ECUS] = {"ecu-a", "ecu-b", "ecu-c"};
    static const char *const hwids[UT_ECUS] = {"hw-main", "hw-zone", "hw-zone"};
    static const enum sdv_key_type types[UT_ECUS] = {SDV_KEY_ED25519, SDV_KEY_ECDSA_P256,
                                                     SDV_KEY_RSA};
    static const char *const pems[UT_ECUS] = {UFK_ECU_A_PEM, UFK_ECU_B_PEM, UFK_ECU_C_PEM};
    struct ut_vehicle *uv = calloc(1, sizeof(*uv));

    if (uv == NULL)
        fail_msg("out of memory");
    uv->primary_key = fixed ? key_pem(UFK_PRIMARY_PEM) : key_new(SDV_KEY_ED25519);
    for (int i = 0; i < UT_ECUS; i++) {
        uv->ecu_keys[i] = fixed ? key_pem(pems[i]) : key_new(types[i]);
        uv->ecus[i].serial = serials[i];
        uv->ecus[i].hardware_id = hwids[i];
        uv->ecus[i].key = uv->ecu_keys[i];
    }
    uv->v.vin = UFK_VIN;
    uv->v.primary_ecu_serial = UFK_PRIMARY_SERIAL;
    uv->v.primary_key = uv->primary_key;
    uv->v.ecus = uv->ecus;
    uv->v.ecu_count = UT_ECUS;
    return uv;
}

void ut_vehicle_free(struct ut_vehicle *uv)
{
    if (uv == NULL)
        return;
    sdv_key_destroy(uv->primary_key);
    for (int i = 0; i < UT_ECUS; i++)
        sdv_key_destroy(uv->ecu_keys[i]);
    free(uv);
}

struct ut_director *ut_director_new(void)
{
    struct ut_director *d = calloc(1, sizeof(*d));

    if (d == NULL)
        fail_msg("out of memory");
    d->root = key_new(SDV_KEY_ED25519);
    d->targets = key_new(SDV_KEY_ED25519);
    d->snapshot = key_new(SDV_KEY_ECDSA_P256);
    d->timestamp = key_new(SDV_KEY_ED25519);
    d->root_list[0] = d->root;
    d->keys.root_keys = d->root_list;
    d->keys.root_key_count = 1;
    d->keys.root_threshold = 1;
    d->keys.targets = d->targets;
    d->keys.snapshot = d->snapshot;
    d->keys.timestamp = d->timestamp;
    return d;
}

void ut_director_free(struct ut_director *d)
{
    if (d == NULL)
        return;
    sdv_key_destroy(d->root);
    sdv_key_destroy(d->targets);
    sdv_key_destroy(d->snapshot);
    sdv_key_destroy(d->timestamp);
    free(d);
}

struct sdv_uptane_image ut_image(const char *path, const char *content, uint64_t release_counter)
{
    struct sdv_uptane_image img;

    memset(&img, 0, sizeof(img));
    img.filepath = path;
    img.length = strlen(content);
    img.hash_count = 2;
    img.hashes[0].alg = SDV_HASH_SHA256;
    img.hashes[1].alg = SDV_HASH_SHA512;
    if (sdv_hash_buf(SDV_HASH_SHA256, content, strlen(content), img.hashes[0].digest) != SDV_OK ||
        sdv_hash_buf(SDV_HASH_SHA512, content, strlen(content), img.hashes[1].digest) != SDV_OK)
        fail_msg("hash failed");
    img.release_counter = release_counter;
    return img;
}

enum sdv_err ut_random(void *ud, void *p, size_t n)
{
    uint8_t *counter = ud;

    for (size_t i = 0; i < n; i++)
        ((uint8_t *)p)[i] = (uint8_t)(*counter + i * 7);
    (*counter)++;
    return SDV_OK;
}

struct sdv_uptane_director_prev ut_prev_of(const struct sdv_uptane_director_out *o)
{
    struct sdv_uptane_director_prev p = {o->root.data,      o->root.len,      o->targets.data,
                                         o->targets.len,    o->snapshot.data, o->snapshot.len,
                                         o->timestamp.data, o->timestamp.len};
    return p;
}

struct ut_server *ut_server_new(void)
{
    struct ut_server *s = calloc(1, sizeof(*s));

    if (s == NULL)
        fail_msg("out of memory");
    snprintf(s->tmp_dir, sizeof(s->tmp_dir), "%s/sdv-uptane-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(s->tmp_dir) == NULL)
        fail_msg("mkdtemp failed");
    snprintf(s->meta_dir, sizeof(s->meta_dir), "%s/meta", s->tmp_dir);
    return s;
}

/* The directory is one level deep (meta/ with files), so no recursion is needed. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[1024];

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void ut_server_free(struct ut_server *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->count; i++)
        free(s->files[i].data);
    remove_dir(s->meta_dir);
    remove_dir(s->tmp_dir);
    free(s);
}

void ut_serve(struct ut_server *s, const char *name, const void *data, size_t len)
{
    size_t i;

    for (i = 0; i < s->count; i++)
        if (strcmp(s->files[i].name, name) == 0)
            break;
    if (i == s->count) {
        if (s->count == sizeof(s->files) / sizeof(s->files[0]))
            fail_msg("too many served files");
        s->count++;
        snprintf(s->files[i].name, sizeof(s->files[i].name), "%s", name);
    }
    free(s->files[i].data);
    s->files[i].data = malloc(len + 1);
    if (s->files[i].data == NULL)
        fail_msg("out of memory");
    memcpy(s->files[i].data, data, len);
    s->files[i].len = len;
}

void ut_serve_director(struct ut_server *s, const struct sdv_uptane_director_out *o, int consistent)
{
    char name[64];

    snprintf(name, sizeof(name), "%lld.root.json", (long long)o->root.version);
    ut_serve(s, name, o->root.data, o->root.len);
    ut_serve(s, "root.json", o->root.data, o->root.len);
    if (consistent) {
        snprintf(name, sizeof(name), "%lld.targets.json", (long long)o->targets.version);
        ut_serve(s, name, o->targets.data, o->targets.len);
        snprintf(name, sizeof(name), "%lld.snapshot.json", (long long)o->snapshot.version);
        ut_serve(s, name, o->snapshot.data, o->snapshot.len);
    } else {
        ut_serve(s, "targets.json", o->targets.data, o->targets.len);
        ut_serve(s, "snapshot.json", o->snapshot.data, o->snapshot.len);
    }
    ut_serve(s, "timestamp.json", o->timestamp.data, o->timestamp.len);
}

enum sdv_err ut_fetch(void *ud, const char *url, uint64_t max_len, sdv_tuf_sink_fn sink,
                      void *sink_ud)
{
    struct ut_server *s = ud;
    const char *name;

    if (strncmp(url, UT_URL, strlen(UT_URL)) != 0)
        fail_msg("fetch outside the director: %s", url);
    name = url + strlen(UT_URL);
    for (size_t i = 0; i < s->count; i++) {
        if (strcmp(s->files[i].name, name) != 0)
            continue;
        if (s->files[i].len > max_len)
            return SDV_ETOOBIG;
        return sink(sink_ud, s->files[i].data, s->files[i].len);
    }
    return SDV_ENOENT;
}

void ut_trust_root(struct ut_server *s, const void *root, size_t len)
{
    char msg[256] = "";

    if (sdv_tuf_client_init_root(s->meta_dir, root, len, msg, sizeof(msg)) != SDV_OK)
        fail_msg("init_root: %s", msg);
}

enum sdv_err ut_refresh(struct ut_server *s, int64_t now, struct sdv_tuf_client **out)
{
    struct sdv_tuf_client_config cfg;
    char msg[256] = "";

    memset(&cfg, 0, sizeof(cfg));
    cfg.metadata_dir = s->meta_dir;
    cfg.metadata_url = UT_URL;
    cfg.fetch = ut_fetch;
    cfg.fetch_ud = s;
    cfg.now = now;
    if (sdv_tuf_client_create(&cfg, out, msg, sizeof(msg)) != SDV_OK)
        fail_msg("client create: %s", msg);
    return sdv_tuf_client_refresh(*out);
}

char *ut_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL)
        fail_msg("out of memory");
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}
