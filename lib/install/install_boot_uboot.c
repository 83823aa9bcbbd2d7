/*
 * install_boot_uboot.c - the U-Boot environment through libubootenv's tools: fw_printenv to
 * read, fw_setenv -s SCRIPT to write every variable in one environment update (with a redundant
 * environment, libubootenv's update is power-safe: the old copy stays valid until the new one is
 * complete). The configuration file (fw_env.config) names the device or file.
 *
 * Variables (see docs/install.md for the boot script):
 *   BOOT_ORDER        bootnames in boot order, separated by spaces: "B A"
 *   BOOT_<slot>_LEFT  boots left; the script decrements it before booting the slot and skips a
 *                     slot at 0; userspace resets it when the slot is marked good
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "install_int.h"

/* fw_printenv prints the whole environment: a U-Boot environment is at most a few 100 KiB. */
#define UBOOT_ENV_TEXT_MAX (1024u * 1024u)
#define UBOOT_TIMEOUT_MS   30000u

static const char *line_value(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return p + n + 1;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NULL;
}

/* Copies the value starting at v (up to the end of its line) into out. */
static void copy_line(char *out, size_t out_len, const char *v)
{
    size_t n = strcspn(v, "\n");

    if (n >= out_len)
        n = out_len - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static enum sdv_err uboot_load(const struct sdv_install_config *cfg, const char *state_dir,
                               struct install_bootenv *env, char *err, size_t err_len)
{
    char *argv[] = {cfg->fw_printenv, "-c", cfg->fw_env_config, NULL};
    const struct install_group *g = &cfg->groups[cfg->boot_group];
    struct install_cmd_result res;
    struct sdv_buf out;
    const char *v;
    char order[SDV_INSTALL_SLOTS_MAX * (SDV_INSTALL_NAME_LEN_MAX + 1) + 1];
    char bad[SDV_INSTALL_NAME_LEN_MAX + 1];
    enum sdv_err e;

    (void)state_dir;
    install_bootenv_default(cfg, env);
    sdv_buf_init(&out, UBOOT_ENV_TEXT_MAX);
    e = install_cmd_run(argv, UBOOT_TIMEOUT_MS, NULL, &out, &res);
    if (e == SDV_OK && (res.timed_out || res.exit_code != 0)) {
        sdv_msgf(err, err_len, "%s -c %s failed (status %d): %s", cfg->fw_printenv,
                 cfg->fw_env_config, res.exit_code, res.output);
        e = SDV_EIO;
    }
    if (e != SDV_OK)
        goto out;
    if (out.data == NULL || (v = line_value((const char *)out.data, "BOOT_ORDER")) == NULL)
        goto out; /* factory default */
    env->missing = 0;
    copy_line(order, sizeof(order), v);
    e = install_bootenv_order(cfg, env, order, bad, sizeof(bad));
    if (e != SDV_OK) {
        sdv_msgf(err, err_len, "BOOT_ORDER names an unknown slot \"%s\"", bad);
        goto out;
    }
    for (size_t i = 0; i < cfg->slot_count; i++) {
        char name[SDV_INSTALL_NAME_LEN_MAX + 16], num[16];
        char *end;
        unsigned long l;
        snprintf(name, sizeof(name), "BOOT_%s_LEFT", g->slots[i].bootname);
        v = line_value((const char *)out.data, name);
        env->left[i] = 0;
        env->bad[i] = 1;
        if (v == NULL)
            continue;
        copy_line(num, sizeof(num), v);
        l = strtoul(num, &end, 10);
        if (end == num || *end != '\0' || l > SDV_INSTALL_BOOT_ATTEMPTS_MAX) {
            sdv_msgf(err, err_len, "%s=\"%s\" is not a boot count", name, num);
            e = SDV_EPARSE;
            goto out;
        }
        env->left[i] = (unsigned)l;
        env->bad[i] = l == 0;
    }
out:
    sdv_buf_free(&out);
    return e;
}

static enum sdv_err uboot_store(const struct sdv_install_config *cfg, const char *state_dir,
                                const struct install_bootenv *env, char *err, size_t err_len)
{
    const struct install_group *g = &cfg->groups[cfg->boot_group];
    char script[SDV_INSTALL_PATH_LEN_MAX];
    char *argv[] = {cfg->fw_setenv, "-c", cfg->fw_env_config, "-s", script, NULL};
    struct install_cmd_result res;
    struct sdv_buf b;
    enum sdv_err e;

    if (snprintf(script, sizeof(script), "%s/fw_setenv.script", state_dir) >= (int)sizeof(script))
        return SDV_ETOOBIG;
    sdv_buf_init(&b, 4096);
    e = sdv_buf_puts(&b, "BOOT_ORDER=");
    for (size_t i = 0; e == SDV_OK && i < env->count; i++)
        e = sdv_buf_printf(&b, "%s%s", i > 0 ? " " : "", g->slots[env->order[i]].bootname);
    if (e == SDV_OK)
        e = sdv_buf_putc(&b, '\n');
    for (size_t i = 0; e == SDV_OK && i < cfg->slot_count; i++)
        e = sdv_buf_printf(&b, "BOOT_%s_LEFT=%u\n", g->slots[i].bootname,
                           env->bad[i] ? 0u : env->left[i]);
    if (e == SDV_OK)
        e = sdv_fs_write_atomic(script, b.data, b.len, 0600);
    sdv_buf_free(&b);
    if (e != SDV_OK) {
        sdv_msgf(err, err_len, "%s: %s", script, sdv_strerror(e));
        return e;
    }
    e = install_cmd_run(argv, UBOOT_TIMEOUT_MS, NULL, NULL, &res);
    if (e == SDV_OK && (res.timed_out || res.exit_code != 0)) {
        sdv_msgf(err, err_len, "%s -c %s -s %s failed (status %d): %s", cfg->fw_setenv,
                 cfg->fw_env_config, script, res.exit_code, res.output);
        e = SDV_EIO;
    }
    return e;
}

const struct install_boot_ops install_boot_uboot_ops = {"uboot", uboot_load, uboot_store};
