/*
 * install_boot_grub.c - the GRUB environment block (grubenv): exactly 1024 bytes, the line
 * "# GRUB Environment Block", then "name=value" lines, padded with '#'. GRUB reads it with
 * load_env and its script writes <slot>_TRY with save_env; we write it whole (temporary file,
 * fsync, rename), keeping every variable we do not own (saved_entry, ...).
 *
 * Variables (see docs/install.md for the grub.cfg script):
 *   ORDER       bootnames in boot order, separated by spaces: "B A"
 *   <slot>_OK   "1" bootable, "0" marked bad
 *   <slot>_TRY  "1" once GRUB booted the slot; reset to "0" when userspace marks it good, so a
 *               slot that was booted but never confirmed is skipped next time (try once)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "install_int.h"

#define GRUBENV_LEN    1024u
#define GRUBENV_HEADER "# GRUB Environment Block\n"
#define GRUBENV_VARS   64u

enum sdv_err install_grubenv_parse(const void *data, size_t len, install_kv_fn fn, void *ud,
                                   char *err, size_t err_len)
{
    const char *p = data, *end = p + len;
    const size_t hl = sizeof(GRUBENV_HEADER) - 1;
    char name[256], value[GRUBENV_LEN];

    if (len != GRUBENV_LEN || memcmp(p, GRUBENV_HEADER, hl) != 0) {
        sdv_msgf(err, err_len, "not a GRUB environment block (%zu bytes, header %s)", len,
                 len >= hl && memcmp(p, GRUBENV_HEADER, hl) == 0 ? "ok" : "missing");
        return SDV_EPARSE;
    }
    p += hl;
    while (p < end) {
        if (*p == '#') {
            /* A comment (grub-editenv's warning line) or the padding up to the end. */
            while (p < end && *p != '\n')
                p++;
            if (p < end)
                p++;
            continue;
        }
        size_t n = 0, v = 0;
        enum sdv_err e;
        while (p < end && *p != '=' && *p != '\n' && n < sizeof(name) - 1)
            name[n++] = *p++;
        if (p >= end || *p != '=' || n == 0) {
            sdv_msgf(err, err_len, "grubenv: line without '=' at byte %zu",
                     (size_t)(p - (const char *)data));
            return SDV_EPARSE;
        }
        name[n] = '\0';
        p++;
        while (p < end && *p != '\n') {
            if (*p == '\\' && p + 1 < end)
                p++;
            if (v >= sizeof(value) - 1 || *p == '\0') {
                sdv_msgf(err, err_len, "grubenv: bad value of %s", name);
                return SDV_EPARSE;
            }
            value[v++] = *p++;
        }
        if (p >= end) {
            sdv_msgf(err, err_len, "grubenv: unterminated line of %s", name);
            return SDV_EPARSE;
        }
        p++;
        value[v] = '\0';
        if ((e = fn(ud, name, value)) != SDV_OK)
            return e;
    }
    return SDV_OK;
}

struct grub_vars {
    size_t n;
    char name[GRUBENV_VARS][128];
    char value[GRUBENV_VARS][256];
};

static enum sdv_err vars_set(void *ud, const char *name, const char *value)
{
    struct grub_vars *v = ud;
    size_t i;

    if (strlen(name) >= sizeof(v->name[0]) || strlen(value) >= sizeof(v->value[0]))
        return SDV_ETOOBIG;
    for (i = 0; i < v->n && strcmp(v->name[i], name) != 0; i++)
        ;
    if (i == v->n) {
        if (v->n == GRUBENV_VARS)
            return SDV_ETOOBIG;
        v->n++;
    }
    install_copy(v->name[i], sizeof(v->name[i]), name);
    install_copy(v->value[i], sizeof(v->value[i]), value);
    return SDV_OK;
}

static const char *vars_get(const struct grub_vars *v, const char *name)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->name[i], name) == 0)
            return v->value[i];
    return NULL;
}

/* Reads the block into vars; a missing file is an empty environment. */
static enum sdv_err grub_read(const struct sdv_install_config *cfg, struct grub_vars *vars,
                              char *err, size_t err_len)
{
    struct sdv_buf b;
    enum sdv_err e;

    memset(vars, 0, sizeof(*vars));
    sdv_buf_init(&b, GRUBENV_LEN);
    e = sdv_fs_read(cfg->boot_state, &b);
    if (e == SDV_ENOENT) {
        sdv_buf_free(&b);
        return SDV_OK;
    }
    if (e == SDV_OK)
        e = install_grubenv_parse(b.data, b.len, vars_set, vars, err, err_len);
    else
        sdv_msgf(err, err_len, "%s: %s", cfg->boot_state, sdv_strerror(e));
    sdv_buf_free(&b);
    return e;
}

static enum sdv_err grub_load(const struct sdv_install_config *cfg, const char *state_dir,
                              struct install_bootenv *env, char *err, size_t err_len)
{
    struct grub_vars *vars;
    const struct install_group *g = &cfg->groups[cfg->boot_group];
    const char *order;
    char bad[SDV_INSTALL_NAME_LEN_MAX + 1];
    enum sdv_err e;

    (void)state_dir;
    install_bootenv_default(cfg, env);
    vars = calloc(1, sizeof(*vars));
    if (vars == NULL)
        return SDV_ENOMEM;
    e = grub_read(cfg, vars, err, err_len);
    order = e == SDV_OK ? vars_get(vars, "ORDER") : NULL;
    if (order == NULL)
        goto out; /* no ORDER yet: the factory default */
    env->missing = 0;
    e = install_bootenv_order(cfg, env, order, bad, sizeof(bad));
    if (e != SDV_OK) {
        sdv_msgf(err, err_len, "%s: ORDER \"%s\" names an unknown slot", cfg->boot_state, order);
        goto out;
    }
    for (size_t i = 0; i < cfg->slot_count; i++) {
        char name[SDV_INSTALL_NAME_LEN_MAX + 8];
        const char *ok, *try;
        snprintf(name, sizeof(name), "%s_OK", g->slots[i].bootname);
        ok = vars_get(vars, name);
        snprintf(name, sizeof(name), "%s_TRY", g->slots[i].bootname);
        try = vars_get(vars, name);
        env->bad[i] = ok == NULL || strcmp(ok, "1") != 0;
        env->left[i] = !env->bad[i] && (try == NULL || strcmp(try, "1") != 0);
    }
out:
    free(vars);
    return e;
}

static enum sdv_err grub_store(const struct sdv_install_config *cfg, const char *state_dir,
                               const struct install_bootenv *env, char *err, size_t err_len)
{
    struct grub_vars *vars;
    const struct install_group *g = &cfg->groups[cfg->boot_group];
    char order[SDV_INSTALL_SLOTS_MAX * (SDV_INSTALL_NAME_LEN_MAX + 1) + 1] = "";
    struct sdv_buf b;
    enum sdv_err e;

    (void)state_dir;
    vars = calloc(1, sizeof(*vars));
    if (vars == NULL)
        return SDV_ENOMEM;
    sdv_buf_init(&b, GRUBENV_LEN);
    e = grub_read(cfg, vars, err, err_len);
    if (e == SDV_EPARSE) {
        /* A damaged block is replaced: GRUB itself ignores it and would boot the default. */
        memset(vars, 0, sizeof(*vars));
        e = SDV_OK;
    }
    for (size_t i = 0; e == SDV_OK && i < env->count; i++) {
        size_t l = strlen(order);
        snprintf(order + l, sizeof(order) - l, "%s%s", i > 0 ? " " : "",
                 g->slots[env->order[i]].bootname);
    }
    if (e == SDV_OK)
        e = vars_set(vars, "ORDER", order);
    for (size_t i = 0; e == SDV_OK && i < cfg->slot_count; i++) {
        char name[SDV_INSTALL_NAME_LEN_MAX + 8];
        snprintf(name, sizeof(name), "%s_OK", g->slots[i].bootname);
        e = vars_set(vars, name, env->bad[i] ? "0" : "1");
        snprintf(name, sizeof(name), "%s_TRY", g->slots[i].bootname);
        if (e == SDV_OK)
            e = vars_set(vars, name, !env->bad[i] && env->left[i] == 0 ? "1" : "0");
    }
    if (e == SDV_OK)
        e = sdv_buf_puts(&b, GRUBENV_HEADER);
    for (size_t i = 0; e == SDV_OK && i < vars->n; i++) {
        e = sdv_buf_puts(&b, vars->name[i]);
        if (e == SDV_OK)
            e = sdv_buf_putc(&b, '=');
        for (const char *p = vars->value[i]; e == SDV_OK && *p != '\0'; p++) {
            if (*p == '\\' || *p == '\n')
                e = sdv_buf_putc(&b, '\\');
            if (e == SDV_OK)
                e = sdv_buf_putc(&b, *p);
        }
        if (e == SDV_OK)
            e = sdv_buf_putc(&b, '\n');
    }
    while (e == SDV_OK && b.len < GRUBENV_LEN)
        e = sdv_buf_putc(&b, '#');
    if (e == SDV_ETOOBIG)
        sdv_msgf(err, err_len, "%s: variables do not fit in %u bytes", cfg->boot_state,
                 GRUBENV_LEN);
    if (e == SDV_OK) {
        e = sdv_fs_write_atomic(cfg->boot_state, b.data, b.len, 0644);
        if (e != SDV_OK)
            sdv_msgf(err, err_len, "%s: %s", cfg->boot_state, sdv_strerror(e));
    }
    sdv_buf_free(&b);
    free(vars);
    return e;
}

const struct install_boot_ops install_boot_grub_ops = {"grub", grub_load, grub_store};
