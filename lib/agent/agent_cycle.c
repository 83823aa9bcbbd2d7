/*
 * agent_cycle.c - the agent handle and one Uptane update cycle of the primary ECU (see
 * sdv/agent.h and docs/agent.md).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdv/ecu_link.h>

#include "agent_int.h"

/* What the primary reports before anything was installed through the agent: a path no
 * repository lists, length 0 and the sha256 of nothing. */
#define AGENT_NO_IMAGE_PATH "none"

/* The answer to the manifest POST that is kept (for the failure reason). */
#define AGENT_POST_ANSWER_LEN_MAX 4096u

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* Writes what followed by arg (the word naming the culprit) and returns err. */
static enum sdv_err create_fail(char *errmsg, size_t errmsg_len, enum sdv_err err, const char *what,
                                const char *arg)
{
    sdv_msgf(errmsg, errmsg_len, "%s%s", what, arg);
    return err;
}

static enum sdv_err join2(char *out, const char *dir, const char *name)
{
    return sdv_path_join(out, AGENT_PATH_LEN_MAX, dir, name);
}

/* Installs the pinned root into dir unless dir already has a trusted root. */
static enum sdv_err provision(const char *dir, const void *root, size_t len, const char *which,
                              char *errmsg, size_t errmsg_len)
{
    char path[AGENT_PATH_LEN_MAX];
    struct stat st;
    char why[512] = "";
    enum sdv_err err = join2(path, dir, "root.json");

    if (err != SDV_OK)
        return err;
    if (stat(path, &st) == 0)
        return SDV_OK;
    if (root == NULL || len == 0)
        return create_fail(
                errmsg, errmsg_len, SDV_ENOENT,
                "no trusted root in the state directory and no pinned root given: ", which);
    err = sdv_tuf_client_init_root(dir, root, len, why, sizeof(why));
    if (err != SDV_OK && errmsg != NULL)
        sdv_msgf(errmsg, errmsg_len, "pinned %s root: %s", which, why);
    return err;
}

void sdv_agent_destroy(struct sdv_agent *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < sizeof(a->strings) / sizeof(a->strings[0]); i++)
        free(a->strings[i]);
    for (size_t i = 0; a->secondary_strings != NULL && i < 3 * a->cfg.secondary_count; i++)
        free(a->secondary_strings[i]);
    free(a->secondary_strings);
    free(a->secondaries);
    free((void *)a->serials);
    free(a->state.ecus);
    free(a->chunk);
    sdv_install_destroy(a->inst);
    free(a);
}

static enum sdv_err copy_config(struct sdv_agent *a, const struct sdv_agent_config *c)
{
    const char *in[] = {c->server_url,          c->vin,       c->primary_serial,
                        c->primary_hardware_id, c->state_dir, c->install_cmdline};
    const char **out[] = {&a->cfg.server_url,          &a->cfg.vin,       &a->cfg.primary_serial,
                          &a->cfg.primary_hardware_id, &a->cfg.state_dir, &a->cfg.install_cmdline};
    size_t n = c->secondary_count;

    a->cfg = *c;
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        a->strings[i] = dup_or_null(in[i]);
        *out[i] = a->strings[i];
        if (a->strings[i] == NULL && in[i] != NULL)
            return SDV_ENOMEM;
    }
    a->secondaries = calloc(n + 1, sizeof(*a->secondaries));
    a->secondary_strings = calloc(3 * n + 1, sizeof(char *));
    a->serials = calloc(n + 1, sizeof(char *));
    a->state.ecus = calloc(n + 1, sizeof(*a->state.ecus));
    a->chunk = malloc(SDV_ECU_LINK_CHUNK_LEN_MAX);
    if (a->secondaries == NULL || a->secondary_strings == NULL || a->serials == NULL ||
        a->state.ecus == NULL || a->chunk == NULL)
        return SDV_ENOMEM;
    a->cfg.secondaries = a->secondaries;
    a->state.ecu_count = n + 1;
    a->serials[0] = a->cfg.primary_serial;
    for (size_t i = 0; i < n; i++) {
        char **s = &a->secondary_strings[3 * i];

        s[0] = dup_or_null(c->secondaries[i].serial);
        s[1] = dup_or_null(c->secondaries[i].hardware_id);
        s[2] = dup_or_null(c->secondaries[i].address);
        if (s[0] == NULL || s[1] == NULL || s[2] == NULL)
            return SDV_ENOMEM;
        a->secondaries[i].serial = s[0];
        a->secondaries[i].hardware_id = s[1];
        a->secondaries[i].address = s[2];
        a->serials[1 + i] = s[0];
    }
    return SDV_OK;
}

static enum sdv_err check_config(const struct sdv_agent_config *c, char *errmsg, size_t errmsg_len)
{
    if (c->server_url == NULL || c->vin == NULL || c->primary_serial == NULL ||
        c->primary_hardware_id == NULL || c->primary_key == NULL || c->state_dir == NULL ||
        c->fetch == NULL || c->fetch_range == NULL || c->post == NULL || c->random == NULL ||
        (c->secondary_count > 0 && c->secondaries == NULL))
        return create_fail(errmsg, errmsg_len, SDV_EINVAL, "",
                           "agent configuration: a required field is missing");
    if (!sdv_key_has_private(c->primary_key))
        return create_fail(errmsg, errmsg_len, SDV_EINVAL, "",
                           "agent configuration: the primary key has no private half");
    if (c->secondary_count >= SDV_UPTANE_ECUS_MAX)
        return create_fail(errmsg, errmsg_len, SDV_EINVAL, "",
                           "agent configuration: too many secondaries");
    for (size_t i = 0; i < c->secondary_count; i++) {
        const struct sdv_agent_secondary *s = &c->secondaries[i];

        if (s->serial == NULL || s->hardware_id == NULL || s->address == NULL)
            return create_fail(errmsg, errmsg_len, SDV_EINVAL, "",
                               "agent configuration: a secondary lacks serial, hardware id or "
                               "address");
        if (strcmp(s->serial, c->primary_serial) == 0)
            return create_fail(errmsg, errmsg_len, SDV_EINVAL,
                               "agent configuration: ECU serial listed twice: ", s->serial);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->serial, c->secondaries[j].serial) == 0)
                return create_fail(errmsg, errmsg_len, SDV_EINVAL,
                                   "agent configuration: ECU serial listed twice: ", s->serial);
    }
    return SDV_OK;
}

enum sdv_err sdv_agent_create(const struct sdv_agent_config *config, struct sdv_agent **out,
                              char *errmsg, size_t errmsg_len)
{
    struct sdv_agent *a;
    enum sdv_err err;
    struct {
        char *path;
        const char *name;
    } dirs[6];

    *out = NULL;
    if (errmsg != NULL && errmsg_len > 0)
        errmsg[0] = '\0';
    err = check_config(config, errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return SDV_ENOMEM;
    err = copy_config(a, config);
    if (err != SDV_OK)
        goto fail;
    dirs[0].path = a->director_dir, dirs[0].name = "director";
    dirs[1].path = a->image_dir, dirs[1].name = "image";
    dirs[2].path = a->director_roots_dir, dirs[2].name = "director-roots";
    dirs[3].path = a->image_roots_dir, dirs[3].name = "image-roots";
    dirs[4].path = a->downloads_dir, dirs[4].name = "downloads";
    dirs[5].path = a->slots_dir, dirs[5].name = "slots";
    for (size_t i = 0; i < 6 && err == SDV_OK; i++) {
        err = join2(dirs[i].path, a->cfg.state_dir, dirs[i].name);
        if (err == SDV_OK)
            err = sdv_fs_mkdir_p(dirs[i].path, 0700);
    }
    if (err == SDV_OK)
        err = join2(a->state_path, a->cfg.state_dir, "install.json");
    if (err == SDV_OK)
        err = join2(a->install_dir, a->cfg.state_dir, "install");
    if (err != SDV_OK) {
        create_fail(errmsg, errmsg_len, err, "cannot create the state directory ",
                    config->state_dir);
        goto fail;
    }
    err = provision(a->director_dir, config->director_root, config->director_root_len, "director",
                    errmsg, errmsg_len);
    if (err == SDV_OK)
        err = provision(a->image_dir, config->image_root, config->image_root_len,
                        "image repository", errmsg, errmsg_len);
    if (err == SDV_OK)
        err = agent_state_load(a->state_path, a->serials, &a->state, errmsg, errmsg_len);
    if (err == SDV_OK && a->cfg.install != NULL)
        err = agent_slot_create(a, errmsg, errmsg_len);
    if (err != SDV_OK)
        goto fail;
    /* Pointers into the caller's memory that must not be kept. */
    a->cfg.director_root = NULL;
    a->cfg.image_root = NULL;
    *out = a;
    return SDV_OK;
fail:
    sdv_agent_destroy(a);
    return err;
}

/* ---- Metadata: two TUF clients and the root history handed to secondaries ---------------- */

/* Tees "N.root.json" downloads into roots_dir, so that a secondary that trusts an older root
 * can follow every rotation. The files are written only after a complete download and are
 * never trusted by the agent itself: secondaries verify them. */
struct root_tap {
    const struct sdv_agent_config *cfg;
    const char *roots_dir;
    struct sdv_buf copy;
    sdv_sink_fn sink;
    void *sink_ud;
};

static enum sdv_err tap_sink(void *ud, const void *data, size_t len)
{
    struct root_tap *t = ud;
    enum sdv_err err = sdv_buf_append(&t->copy, data, len);

    return err == SDV_OK ? t->sink(t->sink_ud, data, len) : err;
}

static const char *versioned_root_name(const char *url)
{
    const char *name = strrchr(url, '/');
    size_t i;

    name = name != NULL ? name + 1 : url;
    for (i = 0; name[i] >= '0' && name[i] <= '9'; i++)
        ;
    return i > 0 && i < 10 && name[0] != '0' && strcmp(name + i, ".root.json") == 0 ? name : NULL;
}

static enum sdv_err tap_fetch(void *ud, const char *url, uint64_t max_len, sdv_sink_fn sink,
                              void *sink_ud)
{
    struct root_tap *t = ud;
    const char *name = versioned_root_name(url);
    char path[AGENT_PATH_LEN_MAX];
    enum sdv_err err;

    if (name == NULL || max_len > SDV_TUF_ROOT_MAX_LEN)
        return t->cfg->fetch(t->cfg->transport_ud, url, max_len, sink, sink_ud);
    sdv_buf_init(&t->copy, (size_t)max_len);
    t->sink = sink;
    t->sink_ud = sink_ud;
    err = t->cfg->fetch(t->cfg->transport_ud, url, max_len, tap_sink, t);
    if (err == SDV_OK && join2(path, t->roots_dir, name) == SDV_OK)
        sdv_fs_write_atomic(path, t->copy.data, t->copy.len, 0644);
    sdv_buf_free(&t->copy);
    return err;
}

/* Removes roots newer than the trusted one (left by a refresh that failed later). */
static void prune_roots(const char *roots_dir, int64_t trusted)
{
    char path[AGENT_PATH_LEN_MAX], name[32];

    for (int64_t v = trusted + 1; v <= trusted + SDV_TUF_ROOT_ROTATIONS_MAX; v++) {
        snprintf(name, sizeof(name), "%lld.root.json", (long long)v);
        if (join2(path, roots_dir, name) == SDV_OK && access(path, F_OK) == 0)
            sdv_fs_remove(path);
    }
}

/* Does this error of a verification step mean the repository (or a man in the middle) is
 * lying, rather than that the network or the disk failed? */
static int is_attack(enum sdv_err err)
{
    return err != SDV_OK && err != SDV_ENET && err != SDV_ENOENT && err != SDV_EIO &&
           err != SDV_ENOMEM;
}

struct cycle {
    struct sdv_agent *a;
    int64_t now;
    struct sdv_agent_result *res;
    struct sdv_tuf_client *director, *image;
    struct root_tap director_tap, image_tap;
    struct sdv_uptane_targets targets;
    struct sdv_uptane_ecu *ecus;
};

static enum sdv_err refresh(struct cycle *c, const char *dir, const char *roots_dir,
                            const char *path, const char *which, struct root_tap *tap,
                            struct sdv_tuf_client **out)
{
    struct sdv_agent *a = c->a;
    struct sdv_tuf_client_config tc = {0};
    char url[SDV_URL_LEN_MAX], why[512] = "";
    enum sdv_err err;

    snprintf(url, sizeof(url), "%s%s", a->cfg.server_url, path);
    tap->cfg = &a->cfg;
    tap->roots_dir = roots_dir;
    tc.metadata_dir = dir;
    tc.metadata_url = url;
    tc.fetch = tap_fetch;
    tc.fetch_ud = tap;
    tc.log = a->cfg.log;
    tc.now = c->now;
    err = sdv_tuf_client_create(&tc, out, why, sizeof(why));
    if (err == SDV_OK) {
        err = sdv_tuf_client_refresh(*out);
        if (err != SDV_OK)
            snprintf(why, sizeof(why), "%s", sdv_tuf_client_errmsg(*out));
        else {
            int r = dir == a->image_dir;

            prune_roots(roots_dir, sdv_tuf_client_role_version(*out, "root"));
            a->consistent[r] = sdv_tuf_client_consistent_snapshot(*out);
            a->snapshot_version[r] = sdv_tuf_client_role_version(*out, "snapshot");
            a->targets_version[r] = sdv_tuf_client_role_version(*out, "targets");
        }
    }
    if (err != SDV_OK) {
        sdv_msgf(c->res->reason, sizeof(c->res->reason), "%s metadata: %s (%s)", which, why,
                 sdv_errname(err));
        if (is_attack(err))
            sdv_msgf(c->res->attack, sizeof(c->res->attack), "%s metadata: %s", which, why);
    }
    return err;
}

static enum sdv_err image_lookup(void *ud, const char *path, struct sdv_tuf_target *out)
{
    return sdv_tuf_client_find_target(ud, path, out);
}

static int ecu_index(const struct sdv_agent *a, const char *serial)
{
    for (size_t i = 0; i < a->state.ecu_count; i++)
        if (strcmp(a->serials[i], serial) == 0)
            return (int)i;
    return -1;
}

static enum sdv_err check_targets(struct cycle *c)
{
    struct sdv_agent *a = c->a;
    struct sdv_uptane_err ue;
    struct sdv_buf raw;
    char path[AGENT_PATH_LEN_MAX];
    enum sdv_err err;

    c->ecus = calloc(a->state.ecu_count, sizeof(*c->ecus));
    if (c->ecus == NULL)
        return SDV_ENOMEM;
    for (size_t i = 0; i < a->state.ecu_count; i++) {
        c->ecus[i].serial = a->serials[i];
        c->ecus[i].hardware_id =
                i == 0 ? a->cfg.primary_hardware_id : a->cfg.secondaries[i - 1].hardware_id;
        c->ecus[i].installed_release_counter =
                a->state.ecus[i].present ? a->state.ecus[i].release_counter : 0;
    }
    sdv_buf_init(&raw, SDV_TUF_TARGETS_MAX_LEN);
    err = join2(path, a->director_dir, "targets.json");
    if (err == SDV_OK)
        err = sdv_fs_read(path, &raw);
    if (err != SDV_OK) {
        sdv_buf_free(&raw);
        sdv_msgf(c->res->reason, sizeof(c->res->reason), "director targets: %s", sdv_strerror(err));
        return err;
    }
    memset(&ue, 0, sizeof(ue));
    err = sdv_uptane_check_director_targets(raw.data, raw.len, c->ecus, a->state.ecu_count,
                                            image_lookup, c->image, &c->targets, &ue);
    sdv_buf_free(&raw);
    if (err != SDV_OK) {
        const char *msg = ue.msg[0] ? ue.msg : sdv_strerror(err);

        sdv_msgf(c->res->reason, sizeof(c->res->reason), "Uptane check %s: %s",
                 sdv_uptane_rule_name(ue.rule), msg);
        if (err != SDV_ENOMEM)
            sdv_msgf(c->res->attack, sizeof(c->res->attack), "%s", msg);
    }
    return err;
}

/* ---- Images ------------------------------------------------------------------------------ */

static const struct sdv_tuf_hash *find_hash(const struct sdv_uptane_target *t,
                                            enum sdv_hash_alg alg)
{
    for (size_t i = 0; i < t->hash_count; i++)
        if (t->hashes[i].alg == alg)
            return &t->hashes[i];
    return NULL;
}

/* The image file of t: downloads/<sha256 hex><suffix>. */
static enum sdv_err image_path(const struct sdv_agent *a, const struct sdv_uptane_target *t,
                               const char *suffix, char *out)
{
    const struct sdv_tuf_hash *h = find_hash(t, SDV_HASH_SHA256);
    char name[2 * SDV_HASH_LEN_MAX + 16];

    if (h == NULL)
        return SDV_EUNSUPPORTED;
    sdv_hex_encode(h->digest, sdv_hash_len(SDV_HASH_SHA256), name);
    snprintf(name + 64, sizeof(name) - 64, "%s", suffix);
    return join2(out, a->downloads_dir, name);
}

/* {server}/v1/vehicle/image/targets/<segments>, each percent-encoded; with consistent
 * snapshots the last one is SHA256.basename. */
static enum sdv_err target_url(const struct cycle *c, const struct sdv_uptane_target *t,
                               struct sdv_buf *url)
{
    const char *p = t->filepath;
    int consistent = sdv_tuf_client_consistent_snapshot(c->image);
    enum sdv_err err = sdv_buf_printf(url, "%s/v1/vehicle/image/targets/", c->a->cfg.server_url);

    while (err == SDV_OK && *p != '\0') {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        char seg[SDV_TUF_NAME_LEN_MAX + 1];
        char *enc;

        snprintf(seg, sizeof(seg), "%.*s", (int)n, p);
        if (slash == NULL && consistent) {
            char hex[2 * SDV_HASH_LEN_MAX + 1];

            sdv_hex_encode(find_hash(t, SDV_HASH_SHA256)->digest, 32, hex);
            err = sdv_buf_printf(url, "%s.", hex);
        }
        enc = sdv_percent_encode(seg);
        if (enc == NULL)
            return SDV_ENOMEM;
        if (err == SDV_OK)
            err = sdv_buf_puts(url, enc);
        free(enc);
        if (err == SDV_OK && slash != NULL)
            err = sdv_buf_putc(url, '/');
        p += n + (slash != NULL);
    }
    return err;
}

/* Does custom.delta.<side> describe exactly (length, sha256)? */
static int delta_side_is(const json_t *delta, const char *side, uint64_t length,
                         const uint8_t *sha256)
{
    const json_t *o = json_object_get(delta, side), *len = json_object_get(o, "length");
    const char *hex = json_string_value(json_object_get(json_object_get(o, "hashes"), "sha256"));
    uint8_t d[32];
    size_t n = 0;

    return json_is_integer(len) && json_integer_value(len) >= 0 &&
           (uint64_t)json_integer_value(len) == length && hex != NULL && strlen(hex) == 64 &&
           sdv_hex_decode(hex, 64, d, sizeof(d), &n) == SDV_OK && n == 32 &&
           memcmp(d, sha256, 32) == 0;
}

/*
 * A delta patch for the primary's target t from what its active slot holds (the committed
 * image of install.json): the image repository's target "<t>.from-<sha256 prefix>.delta",
 * verified by TUF like any target, whose custom "delta" names exactly that source and t as the
 * result (length and SHA-256). Anything else: no delta, the full image is fetched.
 */
static int find_delta(struct cycle *c, const struct sdv_uptane_target *t, struct agent_delta *d,
                      struct sdv_buf *url)
{
    const struct agent_installed *e = &c->a->state.ecus[0];
    const struct sdv_tuf_hash *dst = find_hash(t, SDV_HASH_SHA256);
    const uint8_t *src = NULL;
    struct sdv_tuf_target dt;
    char hex[65], name[SDV_TUF_NAME_LEN_MAX + 1];
    int n;

    for (size_t i = 0; e->present && i < e->hash_count; i++)
        if (e->hashes[i].alg == SDV_HASH_SHA256)
            src = e->hashes[i].digest;
    if (src == NULL || dst == NULL)
        return 0;
    sdv_hex_encode(src, 32, hex);
    n = snprintf(name, sizeof(name), AGENT_DELTA_NAME_FMT, t->filepath, hex);
    if (n < 0 || (size_t)n >= sizeof(name) ||
        sdv_tuf_client_find_target(c->image, name, &dt) != SDV_OK)
        return 0;
    if (!delta_side_is(json_object_get(dt.custom, "delta"), "source", e->length, src) ||
        !delta_side_is(json_object_get(dt.custom, "delta"), "result", t->length, dst->digest)) {
        sdv_logf(&c->a->cfg.log, SDV_LOG_WARN,
                 "delta %s: its custom \"delta\" does not name the running image and %s; "
                 "fetching the full image",
                 name, t->filepath);
        return 0;
    }
    memset(d, 0, sizeof(*d));
    snprintf(d->target.filepath, sizeof(d->target.filepath), "%s", dt.path);
    d->target.length = dt.length;
    d->target.hash_count = dt.hash_count;
    memcpy(d->target.hashes, dt.hashes, sizeof(d->target.hashes));
    if (find_hash(&d->target, SDV_HASH_SHA256) == NULL || target_url(c, &d->target, url) != SDV_OK)
        return 0;
    d->url = (const char *)url->data;
    return 1;
}

static enum sdv_err verify_file(const struct sdv_uptane_target *t, const char *path)
{
    struct sdv_tuf_target tt;

    memset(&tt, 0, sizeof(tt));
    tt.path = t->filepath;
    tt.length = t->length;
    tt.hash_count = t->hash_count;
    memcpy(tt.hashes, t->hashes, sizeof(tt.hashes));
    return sdv_tuf_target_check_file(&tt, path);
}

/* Makes downloads/<sha256>.img hold the verified image of t (downloading it if needed). */
static enum sdv_err fetch_image(struct cycle *c, const struct sdv_uptane_target *t, char *img)
{
    struct sdv_agent *a = c->a;
    char part[AGENT_PATH_LEN_MAX], why[768] = "";
    struct sdv_buf url;
    enum sdv_err err;

    if (find_hash(t, SDV_HASH_SHA256) == NULL) {
        sdv_msgf(c->res->reason, sizeof(c->res->reason), "%s: no sha256 hash", t->filepath);
        return SDV_EUNSUPPORTED;
    }
    err = image_path(a, t, ".img", img);
    if (err == SDV_OK)
        err = image_path(a, t, ".part", part);
    if (err != SDV_OK)
        return err;
    if (access(img, F_OK) == 0) {
        if (verify_file(t, img) == SDV_OK)
            return SDV_OK;
        sdv_fs_remove(img);
    }
    sdv_buf_init(&url, SDV_URL_LEN_MAX);
    err = target_url(c, t, &url);
    for (int round = 0; err == SDV_OK && round < 2; round++) {
        struct stat st;
        int resumed = stat(part, &st) == 0 && st.st_size > 0;

        err = sdv_agent_download(&a->cfg, (const char *)url.data, part, t->length, why,
                                 sizeof(why));
        if (err == SDV_OK)
            err = verify_file(t, part);
        if (err == SDV_OK) {
            if (rename(part, img) != 0)
                err = sdv_err_from_errno(errno);
            break;
        }
        if (err != SDV_EHASH)
            break;
        /* A mismatch: the bytes are not the image. A resumed file may hold an older attempt's
         * bad prefix, so try once more from zero; a fresh file that mismatches is an attack. */
        sdv_fs_remove(part);
        sdv_msgf(why, sizeof(why), "%s: downloaded image does not match its length and hashes",
                 t->filepath);
        if (!resumed)
            break;
    }
    if (err != SDV_OK) {
        sdv_msgf(c->res->reason, sizeof(c->res->reason), "ECU image %s: %s", t->filepath,
                 why[0] ? why : sdv_strerror(err));
        if (err == SDV_EHASH || err == SDV_ETOOBIG || err == SDV_ESLOW)
            sdv_msgf(c->res->attack, sizeof(c->res->attack), "image %s: %s", t->filepath,
                     err == SDV_EHASH     ? "downloaded image does not match its length and hashes"
                     : err == SDV_ETOOBIG ? "server sent more than the image's length"
                                          : "transfer stayed below the minimum speed (slow "
                                            "retrieval)");
    }
    sdv_buf_free(&url);
    return err;
}

/* Copies src into the primary's slot file, atomically (temporary file, fsync, rename). */
static enum sdv_err install_primary(struct sdv_agent *a, const char *src)
{
    char slot[AGENT_PATH_LEN_MAX], tmp[AGENT_PATH_LEN_MAX + 8];
    enum sdv_err err = SDV_OK;
    int in, out, dfd;
    ssize_t r;

    if (join2(slot, a->slots_dir, a->cfg.primary_serial) != SDV_OK)
        return SDV_ETOOBIG;
    snprintf(tmp, sizeof(tmp), "%s.tmp", slot);
    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return sdv_err_from_errno(errno);
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        err = sdv_err_from_errno(errno);
        close(in);
        return err;
    }
    while (err == SDV_OK && (r = read(in, a->chunk, SDV_ECU_LINK_CHUNK_LEN_MAX)) != 0)
        err = r < 0 ? sdv_err_from_errno(errno) : sdv_fs_write_all(out, a->chunk, (size_t)r);
    if (err == SDV_OK && fsync(out) != 0)
        err = sdv_err_from_errno(errno);
    close(in);
    close(out);
    if (err == SDV_OK && rename(tmp, slot) != 0)
        err = sdv_err_from_errno(errno);
    if (err != SDV_OK) {
        unlink(tmp);
        return err;
    }
    dfd = open(a->slots_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return SDV_OK;
}

/* ---- Reports and the manifest ------------------------------------------------------------ */

static enum sdv_err primary_report(struct cycle *c, struct sdv_buf *out)
{
    struct sdv_agent *a = c->a;
    const struct agent_installed *e = &a->state.ecus[0];
    struct sdv_uptane_report_info info;
    struct sdv_uptane_err ue;
    char *log[SDV_UPTANE_INSTALL_LOG_MAX];
    size_t log_count = 0;
    enum sdv_err err;

    memset(&info, 0, sizeof(info));
    info.ecu_serial = a->cfg.primary_serial;
    if (e->present) {
        info.installed.filepath = e->filepath;
        info.installed.length = e->length;
        info.installed.hash_count = e->hash_count;
        memcpy(info.installed.hashes, e->hashes, sizeof(info.installed.hashes));
        info.installed.release_counter = e->release_counter;
    } else {
        info.installed.filepath = AGENT_NO_IMAGE_PATH;
        info.installed.hash_count = 1;
        info.installed.hashes[0].alg = SDV_HASH_SHA256;
        err = sdv_hash_buf(SDV_HASH_SHA256, "", 0, info.installed.hashes[0].digest);
        if (err != SDV_OK)
            return err;
    }
    info.latest_verified_time = a->state.latest_verified_time;
    info.attack_detected = c->res->attack;
    info.report_counter = a->state.report_counter;
    if (a->inst != NULL && agent_slot_log_unsent(a, log, &log_count) == SDV_OK) {
        info.install_log = (const char *const *)log;
        info.install_log_count = log_count;
    }
    err = sdv_uptane_report_build(&info, a->cfg.primary_key, a->cfg.random, a->cfg.random_ud, out,
                                  NULL, &ue);
    for (size_t i = 0; i < log_count; i++)
        free(log[i]);
    if (err != SDV_OK)
        sdv_msgf(c->res->reason, sizeof(c->res->reason), "primary report: %s", ue.msg);
    return err;
}

static enum sdv_err send_manifest(struct cycle *c, struct sdv_buf *reports, size_t count)
{
    struct sdv_agent *a = c->a;
    struct sdv_uptane_report_bytes rb[SDV_UPTANE_ECUS_MAX];
    struct sdv_uptane_err ue;
    struct sdv_buf body, answer;
    char url[SDV_URL_LEN_MAX];
    long status = 0;
    size_t n = 0;
    enum sdv_err err;

    for (size_t i = 0; i < count; i++)
        if (reports[i].len > 0) {
            rb[n].data = reports[i].data;
            rb[n].len = reports[i].len;
            n++;
        }
    sdv_buf_init(&body, SDV_UPTANE_MANIFEST_LEN_MAX);
    sdv_buf_init(&answer, AGENT_POST_ANSWER_LEN_MAX);
    err = sdv_uptane_manifest_build(a->cfg.vin, a->cfg.primary_serial, rb, n,
                                    a->state.manifest_counter, a->cfg.primary_key, &body, &ue);
    if (err != SDV_OK) {
        sdv_msgf(c->res->reason, sizeof(c->res->reason), "manifest: %s", ue.msg);
        goto out;
    }
    snprintf(url, sizeof(url), "%s/v1/vehicle/manifest", a->cfg.server_url);
    err = a->cfg.post(a->cfg.transport_ud, url, body.data, body.len, &status, &answer);
    if (err == SDV_OK && status != 200) {
        sdv_msgf(c->res->reason, sizeof(c->res->reason),
                 "the server refused the manifest: HTTP %ld: %.512s", status,
                 answer.data != NULL ? (const char *)answer.data : "");
        err = SDV_EINVAL;
    } else if (err != SDV_OK) {
        sdv_msgf(c->res->reason, sizeof(c->res->reason), "manifest POST %s: %s", url,
                 sdv_strerror(err));
    }
    c->res->manifest_sent = err == SDV_OK;
out:
    sdv_buf_free(&body);
    sdv_buf_free(&answer);
    return err;
}

/* ---- The cycle --------------------------------------------------------------------------- */

static void keep_first(enum sdv_err *first, enum sdv_err err)
{
    if (*first == SDV_OK)
        *first = err;
}

enum sdv_err sdv_agent_cycle(struct sdv_agent *a, int64_t now, struct sdv_agent_result *res)
{
    struct cycle c;
    size_t n_ecus = a->state.ecu_count;
    struct sdv_buf *reports = NULL;
    const struct sdv_uptane_target **todo = NULL; /* ecu index -> new target */
    char(*images)[AGENT_PATH_LEN_MAX] = NULL;
    enum sdv_err err, first = SDV_OK;
    int verified = 0, held = 0, refused = 0;

    memset(res, 0, sizeof(*res));
    memset(&c, 0, sizeof(c));
    c.a = a;
    c.now = now;
    c.res = res;
    a->now = now;
    /* 0. After a (re)boot: the verdict on a trial. A failed trial, or an activation that never
     * got its reboot, means rebooting before anything else: the report follows from the slot
     * the vehicle then runs. */
    if (a->inst != NULL) {
        err = agent_slot_after_boot(a, res);
        if (err == SDV_OK && res->reboot_required) {
            sdv_msgf(res->reason, sizeof(res->reason), "reboot required: %s", res->install);
            return SDV_EINVAL;
        }
        keep_first(&first, err);
    }
    reports = calloc(n_ecus, sizeof(*reports));
    todo = calloc(n_ecus, sizeof(*todo));
    images = calloc(n_ecus, sizeof(*images));
    if (reports == NULL || todo == NULL || images == NULL) {
        first = SDV_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_ecus; i++)
        sdv_buf_init(&reports[i], SDV_ECU_LINK_REPORT_LEN_MAX);

    /* 1. Both repositories, fully verified; then the Uptane checks between them. */
    err = refresh(&c, a->director_dir, a->director_roots_dir, "/v1/vehicle/director/", "director",
                  &c.director_tap, &c.director);
    if (err == SDV_OK)
        err = refresh(&c, a->image_dir, a->image_roots_dir, "/v1/vehicle/image/metadata/",
                      "image repository", &c.image_tap, &c.image);
    if (err == SDV_OK)
        err = check_targets(&c);
    keep_first(&first, err);
    verified = err == SDV_OK;

    /* 2. Download and verify every new image before installing any (no partial bundle). */
    for (size_t k = 0; verified && k < c.targets.count; k++) {
        const struct sdv_uptane_target *t = &c.targets.items[k];
        int i = ecu_index(a, t->ecu_serial);

        assert(i >= 0); /* the checks refuse unknown ECUs */
        if (agent_installed_matches(&a->state.ecus[i], t))
            continue;
        if (i == 0 && agent_slot_is_failed(a, t)) {
            /* Rolled back here before: reported, and not retried until the director assigns
             * another image (hawkBit and Mender likewise close a failed deployment). */
            held = 1;
            continue;
        }
        todo[i] = t;
        if (i == 0 && a->inst != NULL) {
            struct sdv_buf url, durl;
            struct agent_delta delta;
            int have_delta;

            sdv_buf_init(&url, SDV_URL_LEN_MAX);
            sdv_buf_init(&durl, SDV_URL_LEN_MAX);
            have_delta = find_delta(&c, t, &delta, &durl);
            err = target_url(&c, t, &url);
            if (err == SDV_OK)
                err = agent_slot_write(a, t, (const char *)url.data, have_delta ? &delta : NULL,
                                       res, &refused);
            sdv_buf_free(&url);
            sdv_buf_free(&durl);
        } else {
            err = fetch_image(&c, t, images[i]);
        }
        if (err != SDV_OK) {
            keep_first(&first, err);
            verified = 0;
        }
    }
    if (verified)
        a->state.latest_verified_time = now;

    /* 3. Install: the primary into its slot, then each secondary over lib/ecu_link. Every
     * install is recorded at once, so a kill -9 between two ECUs loses nothing. */
    if (verified && todo[0] != NULL && a->inst == NULL) {
        err = install_primary(a, images[0]);
        if (err == SDV_OK) {
            agent_installed_set(&a->state.ecus[0], todo[0]);
            err = agent_state_save(a->state_path, a->serials, &a->state);
            res->installed++;
            sdv_logf(&a->cfg.log, SDV_LOG_INFO, "primary %s installed %s", a->serials[0],
                     todo[0]->filepath);
        } else {
            sdv_msgf(res->reason, sizeof(res->reason), "primary install of %s: %s",
                     todo[0]->filepath, sdv_strerror(err));
        }
        keep_first(&first, err);
    }
    for (size_t i = 1; i < n_ecus; i++) {
        const struct sdv_agent_secondary *sec = &a->cfg.secondaries[i - 1];
        const struct sdv_uptane_target *t = verified ? todo[i] : NULL;
        char why[1024] = "";
        int installed = 0;

        err = agent_secondary_session(a, sec, verified, t, images[i], &installed, &reports[i], why,
                                      sizeof(why));
        if (reports[i].len > 0)
            res->secondaries_found++;
        if (installed) {
            agent_installed_set(&a->state.ecus[i], t);
            res->installed++;
            err = agent_state_save(a->state_path, a->serials, &a->state);
            sdv_logf(&a->cfg.log, SDV_LOG_INFO, "secondary %s installed %s", sec->serial,
                     t->filepath);
        }
        if (err != SDV_OK) {
            sdv_logf(&a->cfg.log, SDV_LOG_WARN, "%s", why);
            /* An unreachable secondary with nothing to install does not fail the cycle. */
            if (t != NULL) {
                keep_first(&first, err);
                if (res->reason[0] == '\0')
                    sdv_msgf(res->reason, sizeof(res->reason), "%s", why);
            }
        }
    }

    /* The primary's slot is activated for its trial boot once every image of the cycle was
     * verified and every secondary installed its own: the reboot comes after the report. */
    if (verified && todo[0] != NULL && a->inst != NULL && first == SDV_OK) {
        err = agent_slot_activate(a, todo[0], res, &refused);
        if (err == SDV_OK)
            res->installed++;
        keep_first(&first, err);
    }

    /* 4. The primary's report and the manifest, every cycle. Counters are saved before they
     * are used, so no report or manifest counter is ever signed twice. */
    a->state.report_counter++;
    a->state.manifest_counter++;
    err = agent_state_save(a->state_path, a->serials, &a->state);
    if (err == SDV_OK)
        err = primary_report(&c, &reports[0]);
    if (err == SDV_OK)
        err = send_manifest(&c, reports, n_ecus);
    if (err == SDV_OK && a->inst != NULL)
        agent_slot_log_acked(a);
    keep_first(&first, err);

    if (first == SDV_OK) {
        int done = 1;

        for (size_t k = 0; k < c.targets.count; k++) {
            int i = ecu_index(a, c.targets.items[k].ecu_serial);

            done = done && agent_installed_matches(&a->state.ecus[i], &c.targets.items[k]);
        }
        /* Downloads no longer needed: every image the director names is installed (also
         * those of an earlier cycle that ended waiting for a reboot). */
        for (size_t k = 0; done && k < c.targets.count; k++) {
            char path[AGENT_PATH_LEN_MAX];

            if (image_path(a, &c.targets.items[k], ".img", path) == SDV_OK &&
                access(path, F_OK) == 0)
                sdv_fs_remove(path);
        }
        res->up_to_date = done && res->manifest_sent;
        if (!res->up_to_date) {
            first = SDV_EINVAL;
            if (held)
                sdv_msgf(res->reason, sizeof(res->reason),
                         "the director's image %s for %s rolled back here before; waiting "
                         "for a new assignment",
                         a->state.failed.filepath, a->cfg.primary_serial);
            else if (res->reboot_required)
                sdv_msgf(res->reason, sizeof(res->reason), "reboot required: %s", res->install);
            else
                sdv_msgf(res->reason, sizeof(res->reason), "%s",
                         "not every ECU runs the image the director names");
        }
    }
out:
    for (size_t i = 0; reports != NULL && i < n_ecus; i++)
        sdv_buf_free(&reports[i]);
    free(reports);
    free(todo);
    free(images);
    free(c.ecus);
    sdv_uptane_targets_free(&c.targets);
    sdv_tuf_client_destroy(c.director);
    sdv_tuf_client_destroy(c.image);
    if (first != SDV_OK && res->reason[0] == '\0')
        sdv_msgf(res->reason, sizeof(res->reason), "%s", sdv_strerror(first));
    return first;
}
