/*
 * secondary_config.c - the configuration file of sdv-secondary: "key = value" lines, '#'
 * comments, blank lines ignored, every key at most once, unknown keys refused (a typo must not
 * silently select a default).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secondary.h"

/* A configuration file is a dozen short lines; 64 KiB bounds a hostile or wrong file. */
#define CONFIG_LEN_MAX (64u * 1024u)

enum cfg_kind { CFG_STR, CFG_MODE, CFG_INT };

struct cfg_key {
    const char *name;
    enum cfg_kind kind;
    size_t offset;
    size_t size;
    int required;
};

#define CFG_STR_KEY(name, field, req)                        \
    {                                                        \
        name, CFG_STR, offsetof(struct sec_config, field),   \
                sizeof(((struct sec_config *)0)->field), req \
    }

static const struct cfg_key cfg_keys[] = {
        CFG_STR_KEY("listen", listen, 1),
        CFG_STR_KEY("serial", serial, 1),
        CFG_STR_KEY("hardware_id", hardware_id, 1),
        CFG_STR_KEY("key", key, 1),
        CFG_STR_KEY("state_dir", state_dir, 1),
        CFG_STR_KEY("slot", slot, 1),
        {"verification", CFG_MODE, offsetof(struct sec_config, mode), 0, 1},
        CFG_STR_KEY("director_root", director_root, 1),
        CFG_STR_KEY("image_root", image_root, 0),
        CFG_STR_KEY("factory_image", factory_image, 0),
        CFG_STR_KEY("ready_file", ready_file, 0),
        CFG_STR_KEY("install", install, 0),
        {"timeout_ms", CFG_INT, offsetof(struct sec_config, timeout_ms), 0, 0},
};
#define CFG_KEY_COUNT (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static enum sdv_err set_value(struct sec_config *cfg, const struct cfg_key *k, const char *value,
                              unsigned line, char *errmsg, size_t errmsg_len)
{
    char *field = (char *)cfg + k->offset;

    switch (k->kind) {
    case CFG_STR:
        if (value[0] == '\0' || strlen(value) >= k->size) {
            snprintf(errmsg, errmsg_len, "line %u: %s is empty or longer than %zu bytes", line,
                     k->name, k->size - 1);
            return SDV_EINVAL;
        }
        memcpy(field, value, strlen(value) + 1);
        return SDV_OK;
    case CFG_MODE:
        if (strcmp(value, "partial") == 0) {
            cfg->mode = SDV_ECU_LINK_MODE_PARTIAL;
        } else if (strcmp(value, "full") == 0) {
            cfg->mode = SDV_ECU_LINK_MODE_FULL;
        } else {
            snprintf(errmsg, errmsg_len, "line %u: verification is \"partial\" or \"full\"", line);
            return SDV_EINVAL;
        }
        return SDV_OK;
    case CFG_INT: {
        char *end;
        long v;

        errno = 0;
        v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < 1 || v > 3600000) {
            snprintf(errmsg, errmsg_len, "line %u: %s must be 1..3600000", line, k->name);
            return SDV_EINVAL;
        }
        cfg->timeout_ms = (int)v;
        return SDV_OK;
    }
    }
    return SDV_EINVAL;
}

enum sdv_err sec_config_load(const char *path, struct sec_config *cfg, char *errmsg,
                             size_t errmsg_len)
{
    unsigned char seen[CFG_KEY_COUNT];
    struct sdv_buf raw;
    enum sdv_err err;
    char *p, *next;
    unsigned line = 0;

    memset(cfg, 0, sizeof(*cfg));
    memset(seen, 0, sizeof(seen));
    sdv_buf_init(&raw, CONFIG_LEN_MAX);
    err = sdv_fs_read(path, &raw);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "cannot read %s: %s", path, sdv_strerror(err));
        sdv_buf_free(&raw);
        return err;
    }
    if (raw.len > 0 && memchr(raw.data, '\0', raw.len) != NULL) {
        snprintf(errmsg, errmsg_len, "%s contains a NUL byte", path);
        err = SDV_EPARSE;
        goto out;
    }
    for (p = raw.len > 0 ? (char *)raw.data : NULL; p != NULL; p = next) {
        char *eq, *key, *value;
        size_t i;

        line++;
        next = strchr(p, '\n');
        if (next != NULL)
            *next++ = '\0';
        key = trim(p);
        if (key[0] == '\0' || key[0] == '#')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            snprintf(errmsg, errmsg_len, "line %u: expected key = value", line);
            err = SDV_EPARSE;
            goto out;
        }
        *eq = '\0';
        key = trim(key);
        value = trim(eq + 1);
        for (i = 0; i < CFG_KEY_COUNT; i++)
            if (strcmp(cfg_keys[i].name, key) == 0)
                break;
        if (i == CFG_KEY_COUNT) {
            snprintf(errmsg, errmsg_len, "line %u: unknown setting \"%.64s\"", line, key);
            err = SDV_EINVAL;
            goto out;
        }
        if (seen[i]) {
            snprintf(errmsg, errmsg_len, "line %u: %s set twice", line, key);
            err = SDV_EINVAL;
            goto out;
        }
        seen[i] = 1;
        err = set_value(cfg, &cfg_keys[i], value, line, errmsg, errmsg_len);
        if (err != SDV_OK)
            goto out;
    }
    for (size_t i = 0; i < CFG_KEY_COUNT; i++) {
        if (cfg_keys[i].required && !seen[i]) {
            snprintf(errmsg, errmsg_len, "missing setting %s", cfg_keys[i].name);
            err = SDV_EINVAL;
            goto out;
        }
    }
    if (cfg->mode == SDV_ECU_LINK_MODE_FULL && cfg->image_root[0] == '\0') {
        snprintf(errmsg, errmsg_len, "verification = full needs image_root");
        err = SDV_EINVAL;
        goto out;
    }
    if (cfg->factory_image[0] == '\0')
        snprintf(cfg->factory_image, sizeof(cfg->factory_image), "factory");
    if (cfg->timeout_ms == 0)
        cfg->timeout_ms = SDV_ECU_LINK_TIMEOUT_MS_DEFAULT;
out:
    sdv_buf_free(&raw);
    return err;
}
