/*
 * install_config.c - the slot configuration (a JSON object embedded in the agent's and the
 * secondary's configuration files): strict, every key known, every name a short identifier
 * (names become bootloader variable names).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "install_int.h"

void install_copy(char *out, size_t out_len, const char *s)
{
    size_t n;

    if (out_len == 0)
        return;
    n = s != NULL ? strlen(s) : 0;
    if (n >= out_len)
        n = out_len - 1;
    if (n > 0)
        memcpy(out, s, n);
    out[n] = '\0';
}

/* Names become GRUB and U-Boot variable names: letters, digits, '_' and '-'. */
static int name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > SDV_INSTALL_NAME_LEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static enum sdv_err check_keys(const json_t *obj, const char *where, const char *const *keys,
                               char *err, size_t err_len)
{
    const char *k;
    json_t *v;

    if (!json_is_object(obj)) {
        sdv_msgf(err, err_len, "%s: expected an object", where);
        return SDV_EPARSE;
    }
    json_object_foreach((json_t *)obj, k, v)
    {
        int known = 0;
        (void)v;
        for (size_t i = 0; keys[i] != NULL; i++)
            known = known || strcmp(keys[i], k) == 0;
        if (!known) {
            sdv_msgf(err, err_len, "%s: unknown key \"%s\"", where, k);
            return SDV_EPARSE;
        }
    }
    return SDV_OK;
}

/* Copies the optional string member key; *present says whether it was there. */
static enum sdv_err get_str(const json_t *obj, const char *where, const char *key, size_t max,
                            const char **out, char *err, size_t err_len)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL)
        return SDV_OK;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        sdv_msgf(err, err_len, "%s.%s: expected a non-empty string", where, key);
        return SDV_EPARSE;
    }
    if (json_string_length(v) > max) {
        sdv_msgf(err, err_len, "%s.%s: longer than %zu bytes", where, key, max);
        return SDV_ETOOBIG;
    }
    *out = json_string_value(v);
    return SDV_OK;
}

static enum sdv_err get_uint(const json_t *obj, const char *where, const char *key, uint64_t min,
                             uint64_t max, uint64_t *out, char *err, size_t err_len)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL)
        return SDV_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
        (uint64_t)json_integer_value(v) > max) {
        sdv_msgf(err, err_len, "%s.%s: expected an integer from %llu to %llu", where, key,
                 (unsigned long long)min, (unsigned long long)max);
        return SDV_EPARSE;
    }
    *out = (uint64_t)json_integer_value(v);
    return SDV_OK;
}

/* A path resolved against base_dir (absolute paths and plain command names stay as they are
 * when keep_bare is set: "fw_setenv" is looked up in PATH). */
static enum sdv_err dup_path(const char *base_dir, const char *p, int keep_bare, char **out)
{
    size_t n;

    if (p[0] == '/' || base_dir == NULL || base_dir[0] == '\0' ||
        (keep_bare && strchr(p, '/') == NULL)) {
        *out = strdup(p);
        return *out != NULL ? SDV_OK : SDV_ENOMEM;
    }
    n = strlen(base_dir) + 1 + strlen(p) + 1;
    if (n > SDV_INSTALL_PATH_LEN_MAX)
        return SDV_ETOOBIG;
    *out = malloc(n);
    if (*out == NULL)
        return SDV_ENOMEM;
    snprintf(*out, n, "%s/%s", base_dir, p);
    return SDV_OK;
}

static enum sdv_err parse_command(const json_t *root, const char *key, uint32_t timeout_default,
                                  struct install_command *out, char *err, size_t err_len)
{
    static const char *const keys[] = {"command", "timeout_ms", NULL};
    const json_t *obj = json_object_get(root, key);
    const char *cmd;
    uint64_t timeout = timeout_default;
    enum sdv_err e;

    out->timeout_ms = timeout_default;
    if (obj == NULL)
        return SDV_OK;
    if ((e = check_keys(obj, key, keys, err, err_len)) != SDV_OK ||
        (e = get_str(obj, key, "command", SDV_INSTALL_COMMAND_LEN_MAX, &cmd, err, err_len)) !=
                SDV_OK ||
        (e = get_uint(obj, key, "timeout_ms", 1, SDV_INSTALL_COMMAND_TIMEOUT_MS_MAX, &timeout, err,
                      err_len)) != SDV_OK)
        return e;
    if (cmd == NULL) {
        sdv_msgf(err, err_len, "%s.command: missing", key);
        return SDV_EPARSE;
    }
    out->command = strdup(cmd);
    out->timeout_ms = (uint32_t)timeout;
    return out->command != NULL ? SDV_OK : SDV_ENOMEM;
}

static enum sdv_err parse_slot(const json_t *obj, const char *where, const char *base_dir,
                               struct install_slot *s, int *has_bootname, char *err, size_t err_len)
{
    static const char *const keys[] = {"name", "path", "size", "bootname", NULL};
    const char *name, *path, *bootname;
    uint64_t size = 0;
    enum sdv_err e;

    if ((e = check_keys(obj, where, keys, err, err_len)) != SDV_OK ||
        (e = get_str(obj, where, "name", SDV_INSTALL_NAME_LEN_MAX, &name, err, err_len)) !=
                SDV_OK ||
        (e = get_str(obj, where, "path", SDV_INSTALL_PATH_LEN_MAX, &path, err, err_len)) !=
                SDV_OK ||
        (e = get_str(obj, where, "bootname", SDV_INSTALL_NAME_LEN_MAX, &bootname, err, err_len)) !=
                SDV_OK ||
        (e = get_uint(obj, where, "size", 1, UINT64_MAX >> 1, &size, err, err_len)) != SDV_OK)
        return e;
    if (name == NULL || path == NULL || size == 0) {
        sdv_msgf(err, err_len, "%s: \"name\", \"path\" and \"size\" are required", where);
        return SDV_EPARSE;
    }
    if (!name_ok(name) || (bootname != NULL && !name_ok(bootname))) {
        sdv_msgf(err, err_len, "%s: names are letters, digits, '_' and '-' only", where);
        return SDV_EPARSE;
    }
    install_copy(s->name, sizeof(s->name), name);
    install_copy(s->bootname, sizeof(s->bootname), bootname != NULL ? bootname : "");
    s->size = size;
    *has_bootname = bootname != NULL;
    e = dup_path(base_dir, path, 0, &s->path);
    if (e == SDV_ETOOBIG)
        sdv_msgf(err, err_len, "%s.path: too long", where);
    return e;
}

static enum sdv_err parse_groups(const json_t *arr, const char *base_dir,
                                 struct sdv_install_config *c, char *err, size_t err_len)
{
    static const char *const keys[] = {"name", "slots", NULL};
    int have_boot = 0;

    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > SDV_INSTALL_GROUPS_MAX) {
        sdv_msgf(err, err_len, "groups: expected an array of 1 to %u groups",
                 SDV_INSTALL_GROUPS_MAX);
        return SDV_EPARSE;
    }
    for (size_t g = 0; g < json_array_size(arr); g++) {
        const json_t *go = json_array_get(arr, g);
        struct install_group *grp = &c->groups[g];
        const json_t *slots;
        const char *name;
        char where[96];
        int boots = 0;
        enum sdv_err e;

        snprintf(where, sizeof(where), "groups[%zu]", g);
        if ((e = check_keys(go, where, keys, err, err_len)) != SDV_OK ||
            (e = get_str(go, where, "name", SDV_INSTALL_NAME_LEN_MAX, &name, err, err_len)) !=
                    SDV_OK)
            return e;
        if (name == NULL || !name_ok(name)) {
            sdv_msgf(err, err_len, "%s.name: required, letters, digits, '_' and '-'", where);
            return SDV_EPARSE;
        }
        for (size_t k = 0; k < g; k++) {
            if (strcmp(c->groups[k].name, name) == 0) {
                sdv_msgf(err, err_len, "%s.name: group \"%s\" twice", where, name);
                return SDV_EPARSE;
            }
        }
        install_copy(grp->name, sizeof(grp->name), name);
        slots = json_object_get(go, "slots");
        if (!json_is_array(slots) || json_array_size(slots) < 2 ||
            json_array_size(slots) > SDV_INSTALL_SLOTS_MAX ||
            (g > 0 && json_array_size(slots) != c->slot_count)) {
            sdv_msgf(err, err_len,
                     "%s.slots: expected 2 to %u slots, the same number in every group", where,
                     SDV_INSTALL_SLOTS_MAX);
            return SDV_EPARSE;
        }
        c->slot_count = json_array_size(slots);
        c->group_count = g + 1;
        for (size_t i = 0; i < c->slot_count; i++) {
            char swhere[128];
            int hb = 0;
            snprintf(swhere, sizeof(swhere), "%s.slots[%zu]", where, i);
            if ((e = parse_slot(json_array_get(slots, i), swhere, base_dir, &grp->slots[i], &hb,
                                err, err_len)) != SDV_OK)
                return e;
            boots += hb;
            for (size_t k = 0; k < i; k++) {
                if (strcmp(grp->slots[k].name, grp->slots[i].name) == 0 ||
                    (hb && strcmp(grp->slots[k].bootname, grp->slots[i].bootname) == 0)) {
                    sdv_msgf(err, err_len, "%s: name or bootname used twice", swhere);
                    return SDV_EPARSE;
                }
            }
        }
        if (boots != 0 && (size_t)boots != c->slot_count) {
            sdv_msgf(err, err_len, "%s: either every slot or none has a \"bootname\"", where);
            return SDV_EPARSE;
        }
        if (boots != 0) {
            if (have_boot) {
                sdv_msgf(err, err_len, "%s: only one group may have bootnames", where);
                return SDV_EPARSE;
            }
            have_boot = 1;
            c->boot_group = g;
        }
    }
    if (!have_boot) {
        sdv_msgf(err, err_len, "groups: one group must have a \"bootname\" on its slots");
        return SDV_EPARSE;
    }
    return SDV_OK;
}

enum sdv_err sdv_install_config_parse(const json_t *obj, const char *base_dir,
                                      struct sdv_install_config **out, char *errmsg,
                                      size_t errmsg_len)
{
    static const char *const keys[] = {"bootloader",      "boot_state",   "fw_env_config",
                                       "fw_printenv",     "fw_setenv",    "boot_attempts",
                                       "cmdline",         "health_check", "precondition",
                                       "initial_version", "groups",       NULL};
    struct sdv_install_config *c;
    const char *boot, *s;
    uint64_t attempts = 3;
    enum sdv_err e;

    if (out == NULL)
        return SDV_EINVAL;
    *out = NULL;
    sdv_msgf(errmsg, errmsg_len, "%s", "");
    if ((e = check_keys(obj, "install", keys, errmsg, errmsg_len)) != SDV_OK)
        return e;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SDV_ENOMEM;
    if ((e = get_str(obj, "install", "bootloader", 16, &boot, errmsg, errmsg_len)) != SDV_OK)
        goto fail;
    if (boot == NULL ||
        (strcmp(boot, "file") != 0 && strcmp(boot, "grub") != 0 && strcmp(boot, "uboot") != 0)) {
        sdv_msgf(errmsg, errmsg_len, "install.bootloader: \"file\", \"grub\" or \"uboot\"");
        e = SDV_EPARSE;
        goto fail;
    }
    c->boot = strcmp(boot, "file") == 0   ? INSTALL_BOOT_FILE
              : strcmp(boot, "grub") == 0 ? INSTALL_BOOT_GRUB
                                          : INSTALL_BOOT_UBOOT;
    if ((e = get_uint(obj, "install", "boot_attempts", 1, SDV_INSTALL_BOOT_ATTEMPTS_MAX, &attempts,
                      errmsg, errmsg_len)) != SDV_OK)
        goto fail;
    if (c->boot == INSTALL_BOOT_GRUB && json_object_get(obj, "boot_attempts") != NULL &&
        attempts != 1) {
        sdv_msgf(errmsg, errmsg_len,
                 "install.boot_attempts: grub tries a new slot once (script has no "
                 "arithmetic); use 1");
        e = SDV_EPARSE;
        goto fail;
    }
    c->boot_attempts = c->boot == INSTALL_BOOT_GRUB ? 1u : (unsigned)attempts;

    if ((e = get_str(obj, "install", "boot_state", SDV_INSTALL_PATH_LEN_MAX, &s, errmsg,
                     errmsg_len)) != SDV_OK)
        goto fail;
    if (s == NULL && c->boot != INSTALL_BOOT_UBOOT) {
        sdv_msgf(errmsg, errmsg_len, "install.boot_state: required for %s", boot);
        e = SDV_EPARSE;
        goto fail;
    }
    if (s != NULL && (e = dup_path(base_dir, s, 0, &c->boot_state)) != SDV_OK)
        goto fail;
    if ((e = get_str(obj, "install", "fw_env_config", SDV_INSTALL_PATH_LEN_MAX, &s, errmsg,
                     errmsg_len)) != SDV_OK ||
        (e = dup_path(base_dir, s != NULL ? s : "/etc/fw_env.config", 0, &c->fw_env_config)) !=
                SDV_OK)
        goto fail;
    if ((e = get_str(obj, "install", "fw_printenv", SDV_INSTALL_PATH_LEN_MAX, &s, errmsg,
                     errmsg_len)) != SDV_OK ||
        (e = dup_path(base_dir, s != NULL ? s : "fw_printenv", 1, &c->fw_printenv)) != SDV_OK)
        goto fail;
    if ((e = get_str(obj, "install", "fw_setenv", SDV_INSTALL_PATH_LEN_MAX, &s, errmsg,
                     errmsg_len)) != SDV_OK ||
        (e = dup_path(base_dir, s != NULL ? s : "fw_setenv", 1, &c->fw_setenv)) != SDV_OK)
        goto fail;
    if ((e = get_str(obj, "install", "cmdline", SDV_INSTALL_PATH_LEN_MAX, &s, errmsg,
                     errmsg_len)) != SDV_OK)
        goto fail;
    if (s == NULL && c->boot != INSTALL_BOOT_FILE)
        s = "/proc/cmdline";
    if (s != NULL && (e = dup_path(base_dir, s, 0, &c->cmdline)) != SDV_OK)
        goto fail;
    if ((e = parse_command(obj, "health_check", SDV_INSTALL_HEALTH_TIMEOUT_MS_DEFAULT, &c->health,
                           errmsg, errmsg_len)) != SDV_OK ||
        (e = parse_command(obj, "precondition", SDV_INSTALL_PRECONDITION_TIMEOUT_MS_DEFAULT,
                           &c->precondition, errmsg, errmsg_len)) != SDV_OK)
        goto fail;
    if ((e = get_str(obj, "install", "initial_version", SDV_INSTALL_VERSION_LEN_MAX, &s, errmsg,
                     errmsg_len)) != SDV_OK)
        goto fail;
    install_copy(c->initial_version, sizeof(c->initial_version), s != NULL ? s : "factory");
    if ((e = parse_groups(json_object_get(obj, "groups"), base_dir, c, errmsg, errmsg_len)) !=
        SDV_OK)
        goto fail;
    *out = c;
    return SDV_OK;
fail:
    if (e == SDV_ETOOBIG && (errmsg == NULL || errmsg[0] == '\0'))
        sdv_msgf(errmsg, errmsg_len, "install: a path is too long");
    sdv_install_config_destroy(c);
    return e;
}

enum sdv_err sdv_install_config_parse_text(const void *text, size_t len, const char *base_dir,
                                           struct sdv_install_config **out, char *errmsg,
                                           size_t errmsg_len)
{
    json_t *obj = NULL;
    enum sdv_err e;

    if (len > SDV_INSTALL_CONFIG_LEN_MAX) {
        sdv_msgf(errmsg, errmsg_len, "install configuration larger than %u bytes",
                 SDV_INSTALL_CONFIG_LEN_MAX);
        return SDV_ETOOBIG;
    }
    e = sdv_json_parse(text, len, &obj, errmsg, errmsg_len);
    if (e != SDV_OK)
        return e;
    e = sdv_install_config_parse(obj, base_dir, out, errmsg, errmsg_len);
    json_decref(obj);
    return e;
}

void sdv_install_config_destroy(struct sdv_install_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t g = 0; g < SDV_INSTALL_GROUPS_MAX; g++)
        for (size_t i = 0; i < SDV_INSTALL_SLOTS_MAX; i++)
            free(cfg->groups[g].slots[i].path);
    free(cfg->boot_state);
    free(cfg->fw_env_config);
    free(cfg->fw_printenv);
    free(cfg->fw_setenv);
    free(cfg->cmdline);
    free(cfg->health.command);
    free(cfg->precondition.command);
    free(cfg);
}
