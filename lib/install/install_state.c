/*
 * install_state.c - state_dir/install-state.json: the transaction and what every slot holds,
 * replaced atomically (sdv_fs_write_atomic) after every step, so a power cut leaves the previous
 * or the next step, never a mix. Loading is strict: a state that does not fit the configuration
 * is an error, not a guess.
 */
#include <stdio.h>
#include <string.h>

#include "install_int.h"

static const char *const state_names[] = {"idle",      "downloading", "writing",   "written",
                                          "activated", "booted",      "committed", "rolled-back"};

const char *sdv_install_state_name(enum sdv_install_state state)
{
    if ((unsigned)state < sizeof(state_names) / sizeof(state_names[0]))
        return state_names[state];
    return "?";
}

static const char *get_s(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int get_u(const json_t *o, const char *k, uint64_t *out)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int copy_checked(char *out, size_t out_len, const char *s)
{
    if (s == NULL || strlen(s) >= out_len)
        return 0;
    install_copy(out, out_len, s);
    return 1;
}

static int hex_field(const json_t *o, const char *k, uint8_t *out, size_t max, size_t *len)
{
    const char *h = get_s(o, k);
    return h != NULL && sdv_hex_decode(h, strlen(h), out, max, len) == SDV_OK;
}

enum sdv_err install_state_load(const struct sdv_install_config *cfg, const char *path,
                                struct install_state *st, char *err, size_t err_len)
{
    struct sdv_buf b;
    json_t *root = NULL, *a;
    const char *s;
    uint64_t u;
    size_t n;
    enum sdv_err e;

    memset(st, 0, sizeof(*st));
    sdv_buf_init(&b, SDV_INSTALL_STATE_LEN_MAX);
    e = sdv_fs_read(path, &b);
    if (e == SDV_ENOENT) {
        sdv_buf_free(&b);
        return SDV_OK;
    }
    if (e == SDV_OK)
        e = sdv_json_parse(b.data, b.len, &root, err, err_len);
    else
        sdv_msgf(err, err_len, "%s: %s", path, sdv_strerror(e));
    sdv_buf_free(&b);
    if (e != SDV_OK)
        return e;
    e = SDV_EPARSE;
    s = get_s(root, "state");
    for (n = 0; s != NULL && n < sizeof(state_names) / sizeof(state_names[0]); n++)
        if (strcmp(s, state_names[n]) == 0)
            break;
    if (s == NULL || n == sizeof(state_names) / sizeof(state_names[0]))
        goto bad;
    st->state = (enum sdv_install_state)n;
    if (!get_u(root, "tx", &st->tx) || !get_u(root, "logged", &u))
        goto bad;
    st->logged = u != 0;
    if (!copy_checked(st->result, sizeof(st->result), get_s(root, "result")) ||
        !copy_checked(st->version, sizeof(st->version), get_s(root, "version")) ||
        !copy_checked(st->version_before, sizeof(st->version_before),
                      get_s(root, "version_before")) ||
        !copy_checked(st->reason, sizeof(st->reason), get_s(root, "reason")))
        goto bad;
    if (!get_u(root, "started", &u))
        goto bad;
    st->started = (int64_t)u;
    if (!get_u(root, "target", &u) || u >= cfg->slot_count)
        goto bad;
    st->target = (size_t)u;
    a = json_object_get(root, "images");
    if (!json_is_array(a) || json_array_size(a) > SDV_INSTALL_GROUPS_MAX)
        goto bad;
    st->image_count = json_array_size(a);
    for (size_t i = 0; i < st->image_count; i++) {
        json_t *o = json_array_get(a, i);
        struct install_image_state *im = &st->images[i];
        size_t len;
        if (!get_u(o, "group", &u) || u >= cfg->group_count)
            goto bad;
        im->group = (size_t)u;
        if (!get_u(o, "length", &im->length) || !get_u(o, "offset", &im->offset) ||
            im->offset > im->length || !get_u(o, "written", &u) ||
            !hex_field(o, "sha256", im->sha256, 32, &len) || len != 32 ||
            !hex_field(o, "token", im->token, sizeof(im->token), &im->token_len))
            goto bad;
        im->written = u != 0;
    }
    a = json_object_get(root, "preconditions");
    if (!json_is_array(a) || json_array_size(a) > INSTALL_PRECONDITIONS_KEPT)
        goto bad;
    st->pre_count = json_array_size(a);
    for (size_t i = 0; i < st->pre_count; i++) {
        json_t *o = json_array_get(a, i);
        struct install_precondition *p = &st->pre[i];
        s = get_s(o, "phase");
        if (s == NULL || (strcmp(s, "write") != 0 && strcmp(s, "activate") != 0))
            goto bad;
        p->phase = strcmp(s, "write") == 0 ? SDV_INSTALL_PHASE_WRITE : SDV_INSTALL_PHASE_ACTIVATE;
        if (!get_u(o, "ok", &u))
            goto bad;
        p->ok = u != 0;
        if (!get_u(o, "time", &u) ||
            !copy_checked(p->output, sizeof(p->output), get_s(o, "output")))
            goto bad;
        p->time = (int64_t)u;
    }
    a = json_object_get(root, "slots");
    if (!json_is_object(a))
        goto bad;
    for (size_t g = 0; g < cfg->group_count; g++) {
        for (size_t i = 0; i < cfg->slot_count; i++) {
            char key[2 * SDV_INSTALL_NAME_LEN_MAX + 2];
            snprintf(key, sizeof(key), "%s.%s", cfg->groups[g].name, cfg->groups[g].slots[i].name);
            s = get_s(a, key);
            if (s != NULL &&
                !copy_checked(st->slot_version[g][i], sizeof(st->slot_version[g][i]), s))
                goto bad;
        }
    }
    json_decref(root);
    return SDV_OK;
bad:
    sdv_msgf(err, err_len, "%s: damaged or not made for this slot configuration", path);
    json_decref(root);
    return e;
}

enum sdv_err install_state_save(const struct sdv_install_config *cfg, const char *path,
                                const struct install_state *st)
{
    json_t *root, *images, *pre, *slots;
    struct sdv_buf b;
    char hex[2 * SDV_INSTALL_TOKEN_LEN_MAX + 1];
    enum sdv_err e = SDV_ENOMEM;
    int bad = 0;

    root = json_object();
    images = json_array();
    pre = json_array();
    slots = json_object();
    sdv_buf_init(&b, SDV_INSTALL_STATE_LEN_MAX);
    if (root == NULL || images == NULL || pre == NULL || slots == NULL)
        goto out;
    bad |= json_object_set_new(root, "state", json_string(sdv_install_state_name(st->state)));
    bad |= json_object_set_new(root, "tx", json_integer((json_int_t)st->tx));
    bad |= json_object_set_new(root, "logged", json_integer(st->logged));
    bad |= json_object_set_new(root, "result", json_string(st->result));
    bad |= json_object_set_new(root, "version", json_string(st->version));
    bad |= json_object_set_new(root, "version_before", json_string(st->version_before));
    bad |= json_object_set_new(root, "reason", json_string(st->reason));
    bad |= json_object_set_new(root, "started", json_integer(st->started < 0 ? 0 : st->started));
    bad |= json_object_set_new(root, "target", json_integer((json_int_t)st->target));
    for (size_t i = 0; i < st->image_count; i++) {
        const struct install_image_state *im = &st->images[i];
        json_t *o = json_object();
        char sha[65];
        sdv_hex_encode(im->sha256, 32, sha);
        sdv_hex_encode(im->token, im->token_len, hex);
        bad |= o == NULL;
        bad |= json_object_set_new(o, "group", json_integer((json_int_t)im->group));
        bad |= json_object_set_new(o, "length", json_integer((json_int_t)im->length));
        bad |= json_object_set_new(o, "sha256", json_string(sha));
        bad |= json_object_set_new(o, "written", json_integer(im->written));
        bad |= json_object_set_new(o, "offset", json_integer((json_int_t)im->offset));
        bad |= json_object_set_new(o, "token", json_string(hex));
        bad |= json_array_append_new(images, o);
    }
    for (size_t i = 0; i < st->pre_count; i++) {
        const struct install_precondition *p = &st->pre[i];
        json_t *o = json_object();
        bad |= o == NULL;
        bad |= json_object_set_new(
                o, "phase",
                json_string(p->phase == SDV_INSTALL_PHASE_WRITE ? "write" : "activate"));
        bad |= json_object_set_new(o, "ok", json_integer(p->ok));
        bad |= json_object_set_new(o, "time", json_integer(p->time < 0 ? 0 : p->time));
        bad |= json_object_set_new(o, "output", json_string(p->output));
        bad |= json_array_append_new(pre, o);
    }
    for (size_t g = 0; g < cfg->group_count; g++) {
        for (size_t i = 0; i < cfg->slot_count; i++) {
            char key[2 * SDV_INSTALL_NAME_LEN_MAX + 2];
            snprintf(key, sizeof(key), "%s.%s", cfg->groups[g].name, cfg->groups[g].slots[i].name);
            bad |= json_object_set_new(slots, key, json_string(st->slot_version[g][i]));
        }
    }
    bad |= json_object_set(root, "images", images);
    bad |= json_object_set(root, "preconditions", pre);
    bad |= json_object_set(root, "slots", slots);
    if (bad)
        goto out;
    e = sdv_cjson_write(root, &b);
    if (e == SDV_OK)
        e = sdv_buf_putc(&b, '\n');
    if (e == SDV_OK)
        e = sdv_fs_write_atomic(path, b.data, b.len, 0644);
out:
    sdv_buf_free(&b);
    json_decref(images);
    json_decref(pre);
    json_decref(slots);
    json_decref(root);
    return e;
}
