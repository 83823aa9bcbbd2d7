/*
 * agent_config.c - parses the sdv-agent configuration file (see agent_config.h).
 */
#include "agent_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *resolve(const char *dir, const char *p)
{
    size_t n;
    char *out;

    if (p == NULL)
        return NULL;
    if (p[0] == '/' || dir[0] == '\0')
        return strdup(p);
    n = strlen(dir) + strlen(p) + 2;
    out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s/%s", dir, p);
    return out;
}

static int get_str(const json_t *o, const char *key, int required, const char **out, char *errmsg,
                   size_t errmsg_len)
{
    const json_t *v = json_object_get(o, key);

    *out = NULL;
    if (v == NULL && !required)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        snprintf(errmsg, errmsg_len, "\"%s\" must be a non-empty string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int get_long(const json_t *o, const char *key, long min, long max, long *out, char *errmsg,
                    size_t errmsg_len)
{
    const json_t *v = json_object_get(o, key);

    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(errmsg, errmsg_len, "\"%s\" must be an integer from %ld to %ld", key, min, max);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

void agent_config_free(struct agent_file_config *c)
{
    free(c->dir);
    free(c->state_dir);
    free(c->key_path);
    free(c->director_root_path);
    free(c->image_root_path);
    free(c->tls_ca);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->secondaries);
    sdv_install_config_destroy(c->install);
    json_decref(c->doc);
    memset(c, 0, sizeof(*c));
}

enum sdv_err agent_config_load(const char *path, struct agent_file_config *c, char *errmsg,
                               size_t errmsg_len)
{
    struct sdv_agent_config *a = &c->agent;
    const json_t *primary, *secs, *dl;
    const char *state_dir = NULL, *key = NULL, *droot = NULL, *iroot = NULL, *slash;
    const char *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL;
    struct sdv_buf raw;
    char why[256];
    long attempts = 0, backoff = 0, backoff_max = 0, link_timeout = 0;
    enum sdv_err err;

    memset(c, 0, sizeof(*c));
    c->poll_interval_s = 300;
    sdv_buf_init(&raw, AGENT_CONFIG_LEN_MAX);
    err = sdv_fs_read(path, &raw);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "%s: %s", path, sdv_strerror(err));
        sdv_buf_free(&raw);
        return err;
    }
    err = sdv_json_parse(raw.data, raw.len, &c->doc, why, sizeof(why));
    sdv_buf_free(&raw);
    if (err != SDV_OK || !json_is_object(c->doc)) {
        snprintf(errmsg, errmsg_len, "%s: not a JSON object: %s", path, why);
        return SDV_EPARSE;
    }
    slash = strrchr(path, '/');
    c->dir = slash != NULL ? strndup(path, (size_t)(slash - path)) : strdup("");
    primary = json_object_get(c->doc, "primary");
    secs = json_object_get(c->doc, "secondaries");
    dl = json_object_get(c->doc, "download");
    if (c->dir == NULL)
        return SDV_ENOMEM;
    if (!json_is_object(primary)) {
        snprintf(errmsg, errmsg_len, "%s: \"primary\" must be an object", path);
        return SDV_EINVAL;
    }
    if (secs != NULL && (!json_is_array(secs) || json_array_size(secs) >= SDV_UPTANE_ECUS_MAX)) {
        snprintf(errmsg, errmsg_len, "%s: \"secondaries\" must be an array of fewer than %d", path,
                 SDV_UPTANE_ECUS_MAX);
        return SDV_EINVAL;
    }
    if (dl != NULL && !json_is_object(dl)) {
        snprintf(errmsg, errmsg_len, "%s: \"download\" must be an object", path);
        return SDV_EINVAL;
    }
    if (get_str(c->doc, "server_url", 1, &a->server_url, why, sizeof(why)) ||
        get_str(c->doc, "vin", 1, &a->vin, why, sizeof(why)) ||
        get_str(c->doc, "state_dir", 1, &state_dir, why, sizeof(why)) ||
        get_str(c->doc, "director_root", 0, &droot, why, sizeof(why)) ||
        get_str(c->doc, "image_root", 0, &iroot, why, sizeof(why)) ||
        get_str(c->doc, "identity_header", 0, &c->identity_header, why, sizeof(why)) ||
        get_str(c->doc, "tls_ca", 0, &tls_ca, why, sizeof(why)) ||
        get_str(c->doc, "tls_cert", 0, &tls_cert, why, sizeof(why)) ||
        get_str(c->doc, "tls_key", 0, &tls_key, why, sizeof(why)) ||
        get_str(primary, "serial", 1, &a->primary_serial, why, sizeof(why)) ||
        get_str(primary, "hardware_id", 1, &a->primary_hardware_id, why, sizeof(why)) ||
        get_str(primary, "key", 1, &key, why, sizeof(why)) ||
        get_long(c->doc, "poll_interval_s", 1, 86400, &c->poll_interval_s, why, sizeof(why)) ||
        get_long(c->doc, "ecu_link_timeout_ms", 1, 600000, &link_timeout, why, sizeof(why)) ||
        (dl != NULL &&
         (get_long(dl, "attempts", 1, 100, &attempts, why, sizeof(why)) ||
          get_long(dl, "backoff_ms", 1, 3600000, &backoff, why, sizeof(why)) ||
          get_long(dl, "backoff_max_ms", 1, 3600000, &backoff_max, why, sizeof(why)) ||
          get_long(dl, "min_speed_bytes", 1, 1L << 30, &c->net.low_speed_bytes, why, sizeof(why)) ||
          get_long(dl, "min_speed_time_s", 1, 3600, &c->net.low_speed_time_s, why, sizeof(why)) ||
          get_long(dl, "connect_timeout_ms", 1, 600000, &c->net.connect_timeout_ms, why,
                   sizeof(why))))) {
        snprintf(errmsg, errmsg_len, "%s: %s", path, why);
        return SDV_EINVAL;
    }
    if ((tls_cert == NULL) != (tls_key == NULL)) {
        snprintf(errmsg, errmsg_len, "%s: \"tls_cert\" and \"tls_key\" go together (mTLS)", path);
        return SDV_EINVAL;
    }
    c->net.ca_file = c->tls_ca = resolve(c->dir, tls_ca);
    c->net.client_cert_file = c->tls_cert = resolve(c->dir, tls_cert);
    c->net.client_key_file = c->tls_key = resolve(c->dir, tls_key);
    if ((tls_ca != NULL && c->tls_ca == NULL) || (tls_cert != NULL && c->tls_cert == NULL) ||
        (tls_key != NULL && c->tls_key == NULL))
        return SDV_ENOMEM;
    c->state_dir = resolve(c->dir, state_dir);
    c->key_path = resolve(c->dir, key);
    c->director_root_path = resolve(c->dir, droot);
    c->image_root_path = resolve(c->dir, iroot);
    c->secondaries = calloc(json_array_size(secs) + 1, sizeof(*c->secondaries));
    if (c->state_dir == NULL || c->key_path == NULL || c->secondaries == NULL ||
        (droot != NULL && c->director_root_path == NULL) ||
        (iroot != NULL && c->image_root_path == NULL))
        return SDV_ENOMEM;
    for (size_t i = 0; i < json_array_size(secs); i++) {
        const json_t *s = json_array_get(secs, i);
        struct sdv_agent_secondary *d = &c->secondaries[i];

        if (!json_is_object(s) || get_str(s, "serial", 1, &d->serial, why, sizeof(why)) ||
            get_str(s, "hardware_id", 1, &d->hardware_id, why, sizeof(why)) ||
            get_str(s, "address", 1, &d->address, why, sizeof(why))) {
            snprintf(errmsg, errmsg_len, "%s: secondaries[%zu]: %s", path, i,
                     json_is_object(s) ? why : "not an object");
            return SDV_EINVAL;
        }
    }
    if (json_object_get(c->doc, "install") != NULL) {
        const json_t *inst = json_object_get(c->doc, "install");
        const char *bl = json_string_value(json_object_get(inst, "bootloader"));

        err = sdv_install_config_parse(inst, c->dir[0] ? c->dir : NULL, &c->install, why,
                                       sizeof(why));
        if (err != SDV_OK) {
            snprintf(errmsg, errmsg_len, "%s: install: %s", path, why);
            return err;
        }
        if (get_str(c->doc, "reboot_command", 0, &c->reboot_command, why, sizeof(why))) {
            snprintf(errmsg, errmsg_len, "%s: %s", path, why);
            return SDV_EINVAL;
        }
        c->simulated_reboot = c->reboot_command == NULL && bl != NULL && strcmp(bl, "file") == 0;
        a->install = c->install;
    }
    a->state_dir = c->state_dir;
    a->secondaries = c->secondaries;
    a->secondary_count = json_array_size(secs);
    a->download_attempts = (unsigned)attempts;
    a->backoff_ms = (uint32_t)backoff;
    a->backoff_max_ms = (uint32_t)backoff_max;
    a->ecu_link_timeout_ms = (int)link_timeout;
    return SDV_OK;
}
