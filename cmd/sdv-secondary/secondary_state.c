/*
 * secondary_state.c - the secondary's persistent state: STATE_DIR/state.json (installed image,
 * an install in progress, report counter, latest verified time, a detected attack), replaced
 * atomically; and the recovery that runs on every start, so that a kill -9 at any instant
 * leaves the ECU with either its previous or its new image, and says which.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/tuf.h>

#include "secondary.h"

/* state.json is a few hundred bytes; 64 KiB bounds a damaged file. */
#define STATE_LEN_MAX (64u * 1024u)

/* Entries looked at when cleaning one directory of temporary files: the state directories
 * hold a handful of files, a shared slot directory may hold more. */
#define CLEAN_ENTRIES_MAX 100000

void sec_image_from_target(struct sec_image *img, const struct sdv_uptane_target *t)
{
    memset(img, 0, sizeof(*img));
    snprintf(img->filepath, sizeof(img->filepath), "%s", t->filepath);
    img->length = t->length;
    img->hash_count = t->hash_count;
    memcpy(img->hashes, t->hashes, sizeof(img->hashes));
    img->release_counter = t->release_counter;
}

enum sdv_err sec_image_check_file(const struct sec_image *img, const char *path)
{
    for (size_t i = 0; i < img->hash_count; i++) {
        uint8_t digest[SDV_HASH_LEN_MAX];
        uint64_t len = 0;
        enum sdv_err err = sdv_hash_file(img->hashes[i].alg, path, digest, &len);

        if (err != SDV_OK)
            return err;
        if (len != img->length ||
            memcmp(digest, img->hashes[i].digest, sdv_hash_len(img->hashes[i].alg)) != 0)
            return SDV_EHASH;
    }
    return img->hash_count > 0 ? SDV_OK : SDV_EHASH;
}

/* ---- JSON form ---------------------------------------------------------------------------- */

static json_t *image_to_json(const struct sec_image *img)
{
    json_t *hashes = json_object(), *obj;

    if (hashes == NULL)
        return NULL;
    for (size_t i = 0; i < img->hash_count; i++) {
        char hex[2 * SDV_HASH_LEN_MAX + 1];

        sdv_hex_encode(img->hashes[i].digest, sdv_hash_len(img->hashes[i].alg), hex);
        if (json_object_set_new(hashes, sdv_hash_alg_name(img->hashes[i].alg), json_string(hex)))
            break;
    }
    obj = json_pack("{s:s, s:I, s:o, s:I}", "filepath", img->filepath, "length",
                    (json_int_t)img->length, "hashes", hashes, "release_counter",
                    (json_int_t)img->release_counter);
    return obj;
}

static int json_uint(const json_t *obj, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int image_from_json(const json_t *obj, struct sec_image *img)
{
    const json_t *hashes = json_object_get(obj, "hashes"), *v;
    const char *path = json_string_value(json_object_get(obj, "filepath")), *alg;

    memset(img, 0, sizeof(*img));
    if (path == NULL || strlen(path) >= sizeof(img->filepath) || !json_is_object(hashes) ||
        !json_uint(obj, "length", &img->length) ||
        !json_uint(obj, "release_counter", &img->release_counter))
        return 0;
    memcpy(img->filepath, path, strlen(path) + 1);
    json_object_foreach((json_t *)hashes, alg, v)
    {
        struct sdv_tuf_hash *h = &img->hashes[img->hash_count];
        const char *hex = json_string_value(v);
        size_t n = 0;

        if (img->hash_count == SDV_TUF_TARGET_HASHES_MAX || hex == NULL ||
            sdv_hash_alg_from_name(alg, &h->alg) != SDV_OK ||
            sdv_hex_decode(hex, strlen(hex), h->digest, sizeof(h->digest), &n) != SDV_OK ||
            n != sdv_hash_len(h->alg))
            return 0;
        img->hash_count++;
    }
    return img->hash_count > 0;
}

enum sdv_err sec_state_save(const struct sec_config *cfg, const struct sec_state *st)
{
    char path[SEC_PATH_LEN_MAX + 32];
    json_t *doc, *installed = image_to_json(&st->installed), *pending = NULL;
    char *text = NULL;
    enum sdv_err err = SDV_ENOMEM;

    if (st->has_pending)
        pending = image_to_json(&st->pending);
    doc = json_pack("{s:o*, s:I, s:I, s:s}", "installed", installed, "report_counter",
                    (json_int_t)st->report_counter, "latest_verified_time",
                    (json_int_t)st->latest_verified_time, "attack_detected", st->attack_detected);
    if (doc != NULL && st->has_pending && json_object_set_new(doc, "pending", pending) == 0)
        pending = NULL;
    json_decref(pending);
    if (doc != NULL && installed != NULL && (!st->has_pending || json_object_get(doc, "pending")))
        text = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(2));
    if (text != NULL) {
        err = sdv_path_join(path, sizeof(path), cfg->state_dir, SEC_STATE_FILE);
        if (err == SDV_OK)
            err = sdv_fs_write_atomic(path, text, strlen(text), 0600);
    }
    free(text);
    json_decref(doc);
    return err;
}

static enum sdv_err state_load(const char *path, struct sec_state *st, char *errmsg,
                               size_t errmsg_len)
{
    struct sdv_buf raw;
    json_t *doc = NULL;
    const json_t *v;
    const char *attack;
    uint64_t t = 0;
    enum sdv_err err;

    memset(st, 0, sizeof(*st));
    sdv_buf_init(&raw, STATE_LEN_MAX);
    err = sdv_fs_read(path, &raw);
    if (err == SDV_OK)
        err = sdv_json_parse(raw.data, raw.len, &doc, NULL, 0);
    sdv_buf_free(&raw);
    if (err == SDV_ENOENT)
        return err;
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "%s: %s", path, sdv_strerror(err));
        return err;
    }
    attack = json_string_value(json_object_get(doc, "attack_detected"));
    v = json_object_get(doc, "pending");
    if (!image_from_json(json_object_get(doc, "installed"), &st->installed) ||
        !json_uint(doc, "report_counter", &st->report_counter) ||
        !json_uint(doc, "latest_verified_time", &t) || t > INT64_MAX || attack == NULL ||
        strlen(attack) > SDV_UPTANE_ATTACK_LEN_MAX ||
        (v != NULL && !image_from_json(v, &st->pending))) {
        snprintf(errmsg, errmsg_len, "%s: malformed state file", path);
        json_decref(doc);
        return SDV_EPARSE;
    }
    st->has_pending = v != NULL;
    st->latest_verified_time = (int64_t)t;
    memcpy(st->attack_detected, attack, strlen(attack) + 1);
    json_decref(doc);
    return SDV_OK;
}

/* ---- Recovery ----------------------------------------------------------------------------- */

/* Removes, in dir, every entry whose name starts with prefix and contains ".tmp." (what
 * sdv_fs_write_atomic and the install leave behind when killed). */
static void clean_dir(const char *dir, const char *prefix, const struct sdv_log *log)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t seen = 0;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL && seen++ < CLEAN_ENTRIES_MAX) {
        char path[SEC_PATH_LEN_MAX + 300];

        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || strstr(e->d_name, ".tmp.") == NULL)
            continue;
        if (sdv_path_join(path, sizeof(path), dir, e->d_name) == SDV_OK && unlink(path) == 0)
            sdv_logf(log, SDV_LOG_INFO, "removed stale temporary file %s", path);
    }
    closedir(d);
}

static void remove_in(const char *dir, const char *name, const struct sdv_log *log)
{
    char path[SEC_PATH_LEN_MAX + 32];

    if (sdv_path_join(path, sizeof(path), dir, name) == SDV_OK && unlink(path) == 0)
        sdv_logf(log, SDV_LOG_INFO, "removed unfinished %s", path);
}

/* Trusts root_file as the first root of metadata_dir unless a root is trusted already. */
static enum sdv_err provision_root(const char *metadata_dir, const char *root_file, char *errmsg,
                                   size_t errmsg_len)
{
    char path[SEC_PATH_LEN_MAX + 32], msg[256];
    struct sdv_buf raw;
    enum sdv_err err;

    err = sdv_path_join(path, sizeof(path), metadata_dir, "root.json");
    if (err == SDV_OK && access(path, F_OK) == 0)
        return SDV_OK;
    sdv_buf_init(&raw, SDV_TUF_ROOT_MAX_LEN);
    if (err == SDV_OK)
        err = sdv_fs_read(root_file, &raw);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "cannot read root %s: %s", root_file, sdv_strerror(err));
        sdv_buf_free(&raw);
        return err;
    }
    err = sdv_tuf_client_init_root(metadata_dir, raw.data, raw.len, msg, sizeof(msg));
    sdv_buf_free(&raw);
    if (err != SDV_OK)
        snprintf(errmsg, errmsg_len, "root %s: %s", root_file, msg);
    return err;
}

/* Describes the slot's current content as the factory image. */
static enum sdv_err factory_image(const struct sec_config *cfg, struct sec_image *img)
{
    static const enum sdv_hash_alg algs[] = {SDV_HASH_SHA256, SDV_HASH_SHA512};
    enum sdv_err err = SDV_OK;

    memset(img, 0, sizeof(*img));
    snprintf(img->filepath, sizeof(img->filepath), "%s", cfg->factory_image);
    if (access(cfg->slot, F_OK) != 0)
        err = sdv_fs_write_atomic(cfg->slot, "", 0, 0644);
    for (size_t i = 0; err == SDV_OK && i < sizeof(algs) / sizeof(algs[0]); i++) {
        img->hashes[i].alg = algs[i];
        err = sdv_hash_file(algs[i], cfg->slot, img->hashes[i].digest, &img->length);
        img->hash_count++;
    }
    return err;
}

enum sdv_err sec_state_open(const struct sec_config *cfg, struct sec_state *st,
                            const struct sdv_log *log, char *errmsg, size_t errmsg_len)
{
    char director[SEC_PATH_LEN_MAX + 32], image[SEC_PATH_LEN_MAX + 32];
    char path[SEC_PATH_LEN_MAX + 32], slot_dir[SEC_PATH_LEN_MAX + 1], slot_prefix[300];
    const char *slash = strrchr(cfg->slot, '/');
    enum sdv_err err;

    err = sdv_fs_mkdir_p(cfg->state_dir, 0700);
    if (err == SDV_OK)
        err = sdv_path_join(director, sizeof(director), cfg->state_dir, SEC_DIRECTOR_DIR);
    if (err == SDV_OK)
        err = sdv_path_join(image, sizeof(image), cfg->state_dir, SEC_IMAGE_DIR);
    if (err == SDV_OK)
        err = sdv_path_join(path, sizeof(path), cfg->state_dir, SEC_STATE_FILE);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "state directory %s: %s", cfg->state_dir, sdv_strerror(err));
        return err;
    }

    /* Whatever was being written when the process died is dropped. */
    clean_dir(cfg->state_dir, ".", log);
    clean_dir(director, ".", log);
    clean_dir(image, ".", log);
    remove_in(cfg->state_dir, SEC_IMAGE_PART, log);
    remove_in(cfg->state_dir, SEC_IMAGE_STAGED, log);
    if (slash == NULL) {
        snprintf(slot_dir, sizeof(slot_dir), ".");
        snprintf(slot_prefix, sizeof(slot_prefix), ".%.250s", cfg->slot);
    } else {
        snprintf(slot_dir, sizeof(slot_dir), "%.*s",
                 slash == cfg->slot ? 1 : (int)(slash - cfg->slot), cfg->slot);
        snprintf(slot_prefix, sizeof(slot_prefix), ".%.250s", slash + 1);
    }
    clean_dir(slot_dir, slot_prefix, log);
    err = sdv_fs_mkdir_p(slot_dir, 0755);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "slot directory %s: %s", slot_dir, sdv_strerror(err));
        return err;
    }

    err = provision_root(director, cfg->director_root, errmsg, errmsg_len);
    if (err == SDV_OK && cfg->mode == SDV_ECU_LINK_MODE_FULL)
        err = provision_root(image, cfg->image_root, errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;

    err = state_load(path, st, errmsg, errmsg_len);
    if (err == SDV_ENOENT) {
        memset(st, 0, sizeof(*st));
        err = factory_image(cfg, &st->installed);
        if (err == SDV_OK)
            err = sec_state_save(cfg, st);
        if (err != SDV_OK) {
            snprintf(errmsg, errmsg_len, "cannot record the factory image of %s: %s", cfg->slot,
                     sdv_strerror(err));
            return err;
        }
        sdv_logf(log, SDV_LOG_INFO, "first start: slot %s recorded as \"%s\"", cfg->slot,
                 st->installed.filepath);
        return SDV_OK;
    }
    if (err != SDV_OK)
        return err;
    if (st->has_pending) {
        /* The install was interrupted: the rename of the slot either happened or not. */
        if (sec_image_check_file(&st->pending, cfg->slot) == SDV_OK) {
            st->installed = st->pending;
            sdv_logf(log, SDV_LOG_INFO, "interrupted install of \"%s\" had completed",
                     st->installed.filepath);
        } else {
            sdv_logf(log, SDV_LOG_WARN, "interrupted install of \"%s\" dropped; \"%s\" stays",
                     st->pending.filepath, st->installed.filepath);
        }
        st->has_pending = 0;
        err = sec_state_save(cfg, st);
        if (err != SDV_OK) {
            snprintf(errmsg, errmsg_len, "cannot save the state: %s", sdv_strerror(err));
            return err;
        }
    }
    if (cfg->install[0] == '\0' && sec_image_check_file(&st->installed, cfg->slot) != SDV_OK)
        sdv_logf(log, SDV_LOG_WARN, "slot %s does not match the installed image \"%s\"", cfg->slot,
                 st->installed.filepath);
    return SDV_OK;
}
