/*
 * install_boot.c - the bootloader model every backend stores (boot order and tries left per
 * slot), its operations, the simulated firmware and the booted slot from the kernel command line.
 */
#include <string.h>

#include "install_int.h"

const struct install_boot_ops *install_boot_ops_for(const struct sdv_install_config *cfg)
{
    switch (cfg->boot) {
    case INSTALL_BOOT_GRUB:
        return &install_boot_grub_ops;
    case INSTALL_BOOT_UBOOT:
        return &install_boot_uboot_ops;
    case INSTALL_BOOT_FILE:
    default:
        return &install_boot_file_ops;
    }
}

void install_bootenv_default(const struct sdv_install_config *cfg, struct install_bootenv *env)
{
    memset(env, 0, sizeof(*env));
    env->count = cfg->slot_count;
    for (size_t i = 0; i < env->count; i++) {
        env->order[i] = i;
        env->left[i] = i == 0 ? cfg->boot_attempts : 0;
        env->bad[i] = i != 0;
    }
    env->booted = -1;
    env->missing = 1;
}

enum sdv_err install_bootenv_order(const struct sdv_install_config *cfg,
                                   struct install_bootenv *env, const char *list, char *bad,
                                   size_t bad_len)
{
    char tok[SDV_INSTALL_NAME_LEN_MAX + 1];
    int seen[SDV_INSTALL_SLOTS_MAX] = {0};
    size_t n = 0;

    for (const char *p = list; *p != '\0';) {
        size_t k = strcspn(p, " ");

        if (k > 0) {
            int s = -1;

            if (k < sizeof(tok)) {
                memcpy(tok, p, k);
                tok[k] = '\0';
                s = install_slot_by_bootname(cfg, tok);
            }
            if (s < 0 || seen[s] || n == cfg->slot_count) {
                sdv_msgf(bad, bad_len, "%.*s", (int)k, p);
                return SDV_EPARSE;
            }
            seen[s] = 1;
            env->order[n++] = (size_t)s;
        }
        p += k;
        while (*p == ' ')
            p++;
    }
    /* Slots missing from the list go last, in configuration order. */
    for (size_t i = 0; i < cfg->slot_count; i++)
        if (!seen[i])
            env->order[n++] = i;
    return SDV_OK;
}

/* Moves slot to position pos of the order (0: first, count - 1: last). */
static void order_move(struct install_bootenv *env, size_t slot, size_t pos)
{
    size_t rest[SDV_INSTALL_SLOTS_MAX], n = 0;

    for (size_t i = 0; i < env->count; i++)
        if (env->order[i] != slot)
            rest[n++] = env->order[i];
    for (size_t i = 0, k = 0; i < env->count; i++)
        env->order[i] = i == pos ? slot : rest[k++];
}

void install_bootenv_try(struct install_bootenv *env, size_t slot, unsigned attempts)
{
    order_move(env, slot, 0);
    env->left[slot] = attempts;
    env->bad[slot] = 0;
}

void install_bootenv_good(struct install_bootenv *env, size_t slot, unsigned attempts)
{
    env->left[slot] = attempts;
    env->bad[slot] = 0;
}

void install_bootenv_bad(struct install_bootenv *env, size_t slot)
{
    env->left[slot] = 0;
    env->bad[slot] = 1;
    order_move(env, slot, env->count - 1);
}

size_t install_bootenv_pick(struct install_bootenv *env, int *degraded)
{
    *degraded = 0;
    for (size_t i = 0; i < env->count; i++) {
        size_t s = env->order[i];
        if (env->left[s] > 0 && !env->bad[s]) {
            env->left[s]--;
            return s;
        }
    }
    *degraded = 1;
    return env->order[0];
}

int install_slot_by_bootname(const struct sdv_install_config *cfg, const char *bootname)
{
    const struct install_group *g = &cfg->groups[cfg->boot_group];

    for (size_t i = 0; i < cfg->slot_count; i++)
        if (strcmp(g->slots[i].bootname, bootname) == 0)
            return (int)i;
    return -1;
}

enum sdv_err install_cmdline_slot(const char *cmdline, char *out, size_t out_len)
{
    static const char key[] = "sdv.slot=";
    const char *p = cmdline;

    /* The last occurrence wins, as the kernel does for repeated parameters. */
    const char *found = NULL;
    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (strncmp(p, key, sizeof(key) - 1) == 0)
            found = p + sizeof(key) - 1;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
    }
    if (found == NULL)
        return SDV_ENOENT;
    size_t n = strcspn(found, " \t\n");
    if (n == 0 || n >= out_len)
        return SDV_ENOENT;
    memcpy(out, found, n);
    out[n] = '\0';
    return SDV_OK;
}

enum sdv_err sdv_install_boot_sim(const struct sdv_install_config *cfg, char *booted,
                                  size_t booted_len, int *degraded, char *errmsg, size_t errmsg_len)
{
    const struct install_boot_ops *ops;
    struct install_bootenv env;
    char tmpdir[SDV_INSTALL_PATH_LEN_MAX];
    int deg = 0;
    size_t s;
    enum sdv_err e;

    if (cfg == NULL || booted == NULL || booted_len == 0)
        return SDV_EINVAL;
    ops = install_boot_ops_for(cfg);
    /* The U-Boot backend writes its script next to the environment's configuration. */
    install_copy(tmpdir, sizeof(tmpdir), "/tmp");
    if (cfg->fw_env_config != NULL && strrchr(cfg->fw_env_config, '/') != NULL) {
        size_t n = (size_t)(strrchr(cfg->fw_env_config, '/') - cfg->fw_env_config);
        if (n > 0 && n < sizeof(tmpdir)) {
            memcpy(tmpdir, cfg->fw_env_config, n);
            tmpdir[n] = '\0';
        }
    }
    e = ops->load(cfg, tmpdir, &env, errmsg, errmsg_len);
    if (e != SDV_OK)
        return e;
    s = install_bootenv_pick(&env, &deg);
    env.booted = (int)s;
    e = ops->store(cfg, tmpdir, &env, errmsg, errmsg_len);
    if (e != SDV_OK)
        return e;
    install_copy(booted, booted_len, cfg->groups[cfg->boot_group].slots[s].bootname);
    if (degraded != NULL)
        *degraded = deg;
    return SDV_OK;
}
