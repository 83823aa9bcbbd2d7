/*
 * install_boot_file.c - the file-backed bootloader of tests, simulated ECUs and secondaries: a
 * JSON file {"order": ["A", "B"], "left": {"A": 3, "B": 0}, "booted": "A"} replaced atomically.
 * "booted" is written by the simulated firmware (sdv_install_boot_sim) and is the booted slot
 * when the kernel command line does not name one.
 */
#include <string.h>

#include "install_int.h"

static const char *bootname(const struct sdv_install_config *cfg, size_t i)
{
    return cfg->groups[cfg->boot_group].slots[i].bootname;
}

static enum sdv_err file_load(const struct sdv_install_config *cfg, const char *state_dir,
                              struct install_bootenv *env, char *err, size_t err_len)
{
    struct sdv_buf b;
    json_t *root = NULL, *order, *left, *booted;
    enum sdv_err e;
    int seen[SDV_INSTALL_SLOTS_MAX] = {0};

    (void)state_dir;
    install_bootenv_default(cfg, env);
    sdv_buf_init(&b, 64u * 1024u);
    e = sdv_fs_read(cfg->boot_state, &b);
    if (e == SDV_ENOENT) {
        sdv_buf_free(&b);
        return SDV_OK;
    }
    if (e == SDV_OK)
        e = sdv_json_parse(b.data, b.len, &root, err, err_len);
    sdv_buf_free(&b);
    if (e != SDV_OK) {
        if (e != SDV_EPARSE)
            sdv_msgf(err, err_len, "%s: %s", cfg->boot_state, sdv_strerror(e));
        return e;
    }
    order = json_object_get(root, "order");
    left = json_object_get(root, "left");
    booted = json_object_get(root, "booted");
    e = SDV_EPARSE;
    if (!json_is_array(order) || json_array_size(order) != cfg->slot_count || !json_is_object(left))
        goto bad;
    for (size_t i = 0; i < cfg->slot_count; i++) {
        json_t *n = json_array_get(order, i), *l;
        int s = json_is_string(n) ? install_slot_by_bootname(cfg, json_string_value(n)) : -1;
        if (s < 0 || seen[s])
            goto bad;
        seen[s] = 1;
        env->order[i] = (size_t)s;
        l = json_object_get(left, bootname(cfg, (size_t)s));
        if (!json_is_integer(l) || json_integer_value(l) < 0 ||
            json_integer_value(l) > SDV_INSTALL_BOOT_ATTEMPTS_MAX)
            goto bad;
        env->left[s] = (unsigned)json_integer_value(l);
        env->bad[s] = env->left[s] == 0;
    }
    env->booted = -1;
    env->missing = 0;
    if (json_is_string(booted))
        env->booted = install_slot_by_bootname(cfg, json_string_value(booted));
    json_decref(root);
    return SDV_OK;
bad:
    sdv_msgf(err, err_len, "%s: not a boot state of this configuration", cfg->boot_state);
    json_decref(root);
    return e;
}

static enum sdv_err file_store(const struct sdv_install_config *cfg, const char *state_dir,
                               const struct install_bootenv *env, char *err, size_t err_len)
{
    json_t *root = json_object(), *order = json_array(), *left = json_object();
    struct sdv_buf b;
    enum sdv_err e = SDV_ENOMEM;

    (void)state_dir;
    sdv_buf_init(&b, 64u * 1024u);
    if (root == NULL || order == NULL || left == NULL)
        goto out;
    for (size_t i = 0; i < env->count; i++) {
        if (json_array_append_new(order, json_string(bootname(cfg, env->order[i]))) != 0 ||
            json_object_set_new(left, bootname(cfg, i), json_integer(env->left[i])) != 0)
            goto out;
    }
    if (json_object_set(root, "order", order) != 0 || json_object_set(root, "left", left) != 0)
        goto out;
    if (env->booted >= 0 &&
        json_object_set_new(root, "booted", json_string(bootname(cfg, (size_t)env->booted))) != 0)
        goto out;
    e = sdv_cjson_write(root, &b);
    if (e == SDV_OK)
        e = sdv_buf_putc(&b, '\n');
    if (e == SDV_OK)
        e = sdv_fs_write_atomic(cfg->boot_state, b.data, b.len, 0644);
    if (e != SDV_OK)
        sdv_msgf(err, err_len, "%s: %s", cfg->boot_state, sdv_strerror(e));
out:
    sdv_buf_free(&b);
    json_decref(order);
    json_decref(left);
    json_decref(root);
    return e;
}

const struct install_boot_ops install_boot_file_ops = {"file", file_load, file_store};
