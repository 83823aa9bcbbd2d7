/*
 * secondary_verify.c - how a secondary decides whether to trust what the primary handed over.
 *
 * Full verification runs the real TUF client (lib/tuf) over both repositories, its fetch
 * callback serving the files of this session from memory, then the Uptane checks of
 * lib/uptane for this ECU's target (director against image repository).
 *
 * Partial verification (Uptane: "director targets only") has no timestamp or snapshot, which
 * the TUF client's workflow requires, so it is done here with the public API: each N+1.root.json
 * the primary offers must be signed by a threshold of the trusted root's root keys and of its
 * own, and have version N+1; then targets.json must be signed by a threshold of the trusted
 * root's targets keys, be unexpired, and not have a lower version than the last trusted one.
 * See docs/secondary.md.
 *
 * Both end in the same place: the verified director targets bytes go through
 * sdv_uptane_director_targets_parse, which finds this ECU's entry and checks its hardware id
 * and release counter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/tuf.h>

#include "secondary.h"

#define URL_DIRECTOR "mem:director/"
#define URL_IMAGE    "mem:image/"

/* ---- The session's metadata ----------------------------------------------------------- */

enum sdv_err sec_meta_put(struct sec_meta_set *set, enum sdv_ecu_link_repo repo, const char *name,
                          const uint8_t *data, size_t len)
{
    struct sec_meta_file *f = (struct sec_meta_file *)sec_meta_get(set, repo, name);
    size_t old_len = f != NULL ? f->len : 0, per_repo = 0;
    uint8_t *copy;

    for (size_t i = 0; i < set->count; i++)
        per_repo += set->files[i].repo == repo;
    if (f == NULL && per_repo >= SDV_ECU_LINK_SESSION_FILES_MAX)
        return SDV_ELIMIT;
    if (set->total_len - old_len + len > SDV_ECU_LINK_SESSION_METADATA_LEN_MAX)
        return SDV_ETOOBIG;
    copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return SDV_ENOMEM;
    memcpy(copy, data, len);
    if (f == NULL) {
        f = &set->files[set->count++];
        f->repo = repo;
        snprintf(f->name, sizeof(f->name), "%s", name);
    } else {
        free(f->data);
    }
    f->data = copy;
    f->len = len;
    set->total_len = set->total_len - old_len + len;
    return SDV_OK;
}

const struct sec_meta_file *sec_meta_get(const struct sec_meta_set *set,
                                         enum sdv_ecu_link_repo repo, const char *name)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->files[i].repo == repo && strcmp(set->files[i].name, name) == 0)
            return &set->files[i];
    return NULL;
}

void sec_meta_clear(struct sec_meta_set *set)
{
    for (size_t i = 0; i < set->count; i++)
        free(set->files[i].data);
    set->count = 0;
    set->total_len = 0;
}

/* ---- In-memory fetch for the TUF client ----------------------------------------------- */

struct mem_fetch {
    const struct sec_meta_set *set;
    enum sdv_ecu_link_repo repo;
    const char *base;
};

static enum sdv_err mem_fetch(void *ud, const char *url, uint64_t max_len, sdv_tuf_sink_fn sink,
                              void *sink_ud)
{
    const struct mem_fetch *m = ud;
    const struct sec_meta_file *f;

    if (strncmp(url, m->base, strlen(m->base)) != 0)
        return SDV_ENOENT;
    f = sec_meta_get(m->set, m->repo, url + strlen(m->base));
    if (f == NULL)
        return SDV_ENOENT; /* the primary did not hand this file over: "no newer version" */
    if (f->len > max_len)
        return SDV_ETOOBIG;
    return sink(sink_ud, f->data, f->len);
}

/* ---- Partial verification ------------------------------------------------------------- */

/* Counts distinct authorised keys of role in root with a valid signature on doc, up to
 * SDV_UPTANE_ROOT_KEYS_MAX (no director role has more keys than that). */
static enum sdv_err count_sigs(const json_t *root_signed, const char *role, const json_t *doc,
                               size_t *valid, size_t *threshold, char *why, size_t why_len)
{
    const json_t *roles = json_object_get(root_signed, "roles");
    const json_t *r = json_object_get(roles, role), *keyids, *keys, *sigs, *sig;
    const json_t *th = json_object_get(r, "threshold");
    struct sdv_buf canon;
    char counted[SDV_UPTANE_ROOT_KEYS_MAX][SDV_KEYID_STR_LEN];
    size_t ncounted = 0, i;
    enum sdv_err err;

    *valid = 0;
    keyids = json_object_get(r, "keyids");
    keys = json_object_get(root_signed, "keys");
    sigs = json_object_get(doc, "signatures");
    if (!json_is_array(keyids) || !json_is_object(keys) || !json_is_integer(th) ||
        json_integer_value(th) < 1) {
        snprintf(why, why_len, "director root: role %s is malformed", role);
        return SDV_EPARSE;
    }
    *threshold = (size_t)json_integer_value(th);
    if (!json_is_array(sigs) || json_array_size(sigs) > SDV_TUF_SIGNATURES_MAX) {
        snprintf(why, why_len, "director %s: \"signatures\" missing or too many", role);
        return SDV_EPARSE;
    }
    sdv_buf_init(&canon, SDV_TUF_TARGETS_MAX_LEN);
    err = sdv_cjson_write(json_object_get(doc, "signed"), &canon);
    if (err != SDV_OK) {
        sdv_buf_free(&canon);
        snprintf(why, why_len, "director %s: no canonical form: %s", role, sdv_strerror(err));
        return err;
    }
    json_array_foreach(sigs, i, sig)
    {
        const char *keyid = json_string_value(json_object_get(sig, "keyid"));
        const char *hex = json_string_value(json_object_get(sig, "sig"));
        uint8_t raw[SDV_SIG_LEN_MAX];
        struct sdv_key *key = NULL;
        size_t raw_len = 0, j, k;
        int authorised = 0;

        if (keyid == NULL || hex == NULL || ncounted == SDV_UPTANE_ROOT_KEYS_MAX)
            continue;
        for (j = 0; j < json_array_size(keyids); j++)
            authorised |= json_is_string(json_array_get(keyids, j)) &&
                          strcmp(json_string_value(json_array_get(keyids, j)), keyid) == 0;
        for (k = 0; k < ncounted; k++)
            if (strcmp(counted[k], keyid) == 0)
                break;
        if (!authorised || k < ncounted || strlen(keyid) >= SDV_KEYID_STR_LEN)
            continue;
        if (sdv_hex_decode(hex, strlen(hex), raw, sizeof(raw), &raw_len) != SDV_OK ||
            sdv_key_from_tuf(json_object_get(keys, keyid), &key) != SDV_OK)
            continue;
        if (sdv_key_verify(key, canon.data, canon.len, raw, raw_len) == SDV_OK)
            memcpy(counted[ncounted++], keyid, strlen(keyid) + 1);
        sdv_key_destroy(key);
    }
    sdv_buf_free(&canon);
    *valid = ncounted;
    return SDV_OK;
}

/* Parses metadata of the given _type: returns the document and its "signed" object. */
static enum sdv_err meta_parse(const uint8_t *data, size_t len, const char *type, json_t **doc,
                               const json_t **signed_obj, int64_t *version, int64_t *expires,
                               char *why, size_t why_len)
{
    const json_t *v;
    const char *t, *exp;
    char perr[128];

    *doc = NULL;
    if (sdv_json_parse(data, len, doc, perr, sizeof(perr)) != SDV_OK) {
        snprintf(why, why_len, "director %s: %s", type, perr);
        return SDV_EPARSE;
    }
    *signed_obj = json_object_get(*doc, "signed");
    t = json_string_value(json_object_get(*signed_obj, "_type"));
    v = json_object_get(*signed_obj, "version");
    exp = json_string_value(json_object_get(*signed_obj, "expires"));
    if (t == NULL || strcmp(t, type) != 0 || !json_is_integer(v) || json_integer_value(v) < 1 ||
        exp == NULL || sdv_time_parse(exp, expires) != SDV_OK) {
        snprintf(why, why_len, "director %s: not %s metadata (_type, version, expires)", type,
                 type);
        json_decref(*doc);
        *doc = NULL;
        return SDV_EPARSE;
    }
    *version = json_integer_value(v);
    return SDV_OK;
}

/* Reads a trusted file of the director directory; SDV_ENOENT if there is none. */
static enum sdv_err read_trusted(const struct sec_config *cfg, const char *name, size_t max,
                                 struct sdv_buf *out)
{
    char dir[SEC_PATH_LEN_MAX + 32], path[SEC_PATH_LEN_MAX + 64];
    enum sdv_err err = sdv_path_join(dir, sizeof(dir), cfg->state_dir, SEC_DIRECTOR_DIR);

    if (err == SDV_OK)
        err = sdv_path_join(path, sizeof(path), dir, name);
    sdv_buf_init(out, max);
    if (err == SDV_OK)
        err = sdv_fs_read(path, out);
    return err;
}

static enum sdv_err write_trusted(const struct sec_config *cfg, const char *name,
                                  const uint8_t *data, size_t len)
{
    char dir[SEC_PATH_LEN_MAX + 32], path[SEC_PATH_LEN_MAX + 64];
    enum sdv_err err = sdv_path_join(dir, sizeof(dir), cfg->state_dir, SEC_DIRECTOR_DIR);

    if (err == SDV_OK)
        err = sdv_path_join(path, sizeof(path), dir, name);
    if (err == SDV_OK)
        err = sdv_fs_write_atomic(path, data, len, 0644);
    return err;
}

/* Follows the root rotations the primary offers; *root is the trusted root afterwards. */
static enum sdv_err partial_roots(const struct sec_config *cfg, const struct sec_meta_set *set,
                                  int64_t now, json_t **root, char *why, size_t why_len)
{
    struct sdv_buf raw;
    const json_t *rs;
    int64_t version, expires;
    enum sdv_err err = read_trusted(cfg, "root.json", SDV_TUF_ROOT_MAX_LEN, &raw);

    *root = NULL;
    if (err != SDV_OK) {
        sdv_buf_free(&raw);
        snprintf(why, why_len, "no trusted director root: %s", sdv_strerror(err));
        return err;
    }
    err = meta_parse(raw.data, raw.len, "root", root, &rs, &version, &expires, why, why_len);
    sdv_buf_free(&raw);
    if (err != SDV_OK)
        return err;
    for (unsigned i = 0; i < SDV_TUF_ROOT_ROTATIONS_MAX; i++) {
        char name[32];
        const struct sec_meta_file *f;
        json_t *next = NULL;
        const json_t *ns;
        int64_t nv, nexp;
        size_t valid_old = 0, th_old = 1, valid_new = 0, th_new = 1;

        snprintf(name, sizeof(name), "%lld.root.json", (long long)(version + 1));
        f = sec_meta_get(set, SDV_ECU_LINK_REPO_DIRECTOR, name);
        if (f == NULL)
            break;
        err = meta_parse(f->data, f->len, "root", &next, &ns, &nv, &nexp, why, why_len);
        if (err == SDV_OK && nv != version + 1) {
            snprintf(why, why_len, "director root %s holds version %lld", name, (long long)nv);
            err = SDV_EVERSION;
        }
        if (err == SDV_OK)
            err = count_sigs(rs, "root", next, &valid_old, &th_old, why, why_len);
        if (err == SDV_OK)
            err = count_sigs(ns, "root", next, &valid_new, &th_new, why, why_len);
        if (err == SDV_OK && (valid_old < th_old || valid_new < th_new)) {
            snprintf(why, why_len,
                     "director root version %lld: %zu/%zu signatures of the trusted root keys, "
                     "%zu/%zu of its own",
                     (long long)nv, valid_old, th_old, valid_new, th_new);
            err = SDV_ESIG;
        }
        if (err == SDV_OK)
            err = write_trusted(cfg, "root.json", f->data, f->len);
        if (err != SDV_OK) {
            json_decref(next);
            return err;
        }
        json_decref(*root);
        *root = next;
        rs = ns;
        version = nv;
        expires = nexp;
    }
    if (expires <= now) {
        snprintf(why, why_len, "director root version %lld has expired", (long long)version);
        return SDV_EEXPIRED;
    }
    return SDV_OK;
}

static enum sdv_err partial_verify(const struct sec_config *cfg, const struct sec_meta_set *set,
                                   int64_t now, struct sdv_buf *targets_out, char *why,
                                   size_t why_len)
{
    const struct sec_meta_file *f = sec_meta_get(set, SDV_ECU_LINK_REPO_DIRECTOR, "targets.json");
    json_t *root = NULL, *doc = NULL, *old = NULL;
    const json_t *ts, *os;
    struct sdv_buf trusted;
    int64_t version, expires, old_version, old_expires;
    size_t valid = 0, threshold = 1;
    enum sdv_err err;

    sdv_buf_init(&trusted, 1);
    if (f == NULL) {
        snprintf(why, why_len, "the primary handed over no director targets.json");
        return SDV_ENOENT;
    }
    err = partial_roots(cfg, set, now, &root, why, why_len);
    if (err == SDV_OK)
        err = meta_parse(f->data, f->len, "targets", &doc, &ts, &version, &expires, why, why_len);
    if (err == SDV_OK)
        err = count_sigs(json_object_get(root, "signed"), "targets", doc, &valid, &threshold, why,
                         why_len);
    if (err == SDV_OK && valid < threshold) {
        snprintf(why, why_len,
                 "director targets version %lld: %zu of %zu required signatures of the trusted "
                 "director targets keys",
                 (long long)version, valid, threshold);
        err = SDV_ESIG;
    }
    if (err == SDV_OK && expires <= now) {
        snprintf(why, why_len, "director targets version %lld has expired", (long long)version);
        err = SDV_EEXPIRED;
    }
    if (err == SDV_OK) {
        sdv_buf_free(&trusted);
        err = read_trusted(cfg, "targets.json", SDV_TUF_TARGETS_MAX_LEN, &trusted);
        if (err == SDV_ENOENT) {
            err = SDV_OK;
        } else if (err == SDV_OK) {
            char ignore[64];

            /* A trusted file that no longer parses is replaced, never trusted. */
            if (meta_parse(trusted.data, trusted.len, "targets", &old, &os, &old_version,
                           &old_expires, ignore, sizeof(ignore)) == SDV_OK &&
                (version < old_version ||
                 (version == old_version &&
                  (trusted.len != f->len || memcmp(trusted.data, f->data, f->len) != 0)))) {
                snprintf(why, why_len,
                         "director targets version %lld is older than the trusted version %lld "
                         "(or the same version with other content)",
                         (long long)version, (long long)old_version);
                err = SDV_EROLLBACK;
            }
        }
    }
    if (err == SDV_OK)
        err = write_trusted(cfg, "targets.json", f->data, f->len);
    if (err == SDV_OK) {
        sdv_buf_reset(targets_out);
        err = sdv_buf_append(targets_out, f->data, f->len);
    }
    if (err != SDV_OK && why[0] == '\0')
        snprintf(why, why_len, "director targets: %s", sdv_strerror(err));
    sdv_buf_free(&trusted);
    json_decref(old);
    json_decref(doc);
    json_decref(root);
    return err;
}

/* ---- Full verification ---------------------------------------------------------------- */

static enum sdv_err full_client(const struct sec_config *cfg, const struct sec_meta_set *set,
                                enum sdv_ecu_link_repo repo, int64_t now, const struct sdv_log *log,
                                struct mem_fetch *mf, struct sdv_tuf_client **out, char *why,
                                size_t why_len)
{
    char dir[SEC_PATH_LEN_MAX + 32], msg[256];
    struct sdv_tuf_client_config cc;
    enum sdv_err err;
    const char *name = sdv_ecu_link_repo_name(repo);

    *out = NULL;
    err = sdv_path_join(dir, sizeof(dir), cfg->state_dir,
                        repo == SDV_ECU_LINK_REPO_DIRECTOR ? SEC_DIRECTOR_DIR : SEC_IMAGE_DIR);
    if (err != SDV_OK)
        return err;
    mf->set = set;
    mf->repo = repo;
    mf->base = repo == SDV_ECU_LINK_REPO_DIRECTOR ? URL_DIRECTOR : URL_IMAGE;
    memset(&cc, 0, sizeof(cc));
    cc.metadata_dir = dir;
    cc.metadata_url = mf->base;
    cc.fetch = mem_fetch;
    cc.fetch_ud = mf;
    cc.log = *log;
    cc.now = now;
    err = sdv_tuf_client_create(&cc, out, msg, sizeof(msg));
    if (err != SDV_OK) {
        snprintf(why, why_len, "%s repository: %s", name, msg);
        return err;
    }
    err = sdv_tuf_client_refresh(*out);
    if (err != SDV_OK) {
        snprintf(why, why_len, "%s repository: %s", name, sdv_tuf_client_errmsg(*out));
        sdv_tuf_client_destroy(*out);
        *out = NULL;
    }
    return err;
}

/* ---- Both modes ----------------------------------------------------------------------- */

/*
 * The director lists every ECU of the vehicle, but a secondary knows only itself. The other
 * serials are taken from the document with the hardware id it gives them, so the library's
 * checks (shape, no delegations, no duplicate ECU) run on the whole file while the ECU-specific
 * ones (hardware id, release counter) bite for this ECU. Strings are borrowed from doc.
 */
static size_t vehicle_from_doc(const json_t *doc, const struct sec_config *cfg,
                               const struct sec_state *st, struct sdv_uptane_ecu *ecus)
{
    const json_t *targets = json_object_get(json_object_get(doc, "signed"), "targets"), *entry;
    const char *path;
    size_t n = 1;

    memset(&ecus[0], 0, sizeof(ecus[0]));
    ecus[0].serial = cfg->serial;
    ecus[0].hardware_id = cfg->hardware_id;
    ecus[0].installed_release_counter = st->installed.release_counter;
    json_object_foreach((json_t *)targets, path, entry)
    {
        const json_t *ids = json_object_get(json_object_get(entry, "custom"), "ecu_identifiers");
        const json_t *id;
        const char *serial;

        json_object_foreach((json_t *)ids, serial, id)
        {
            size_t i;

            for (i = 0; i < n; i++)
                if (strcmp(ecus[i].serial, serial) == 0)
                    break;
            if (i < n || n == SDV_UPTANE_ECUS_MAX)
                continue;
            memset(&ecus[n], 0, sizeof(ecus[n]));
            ecus[n].serial = serial;
            ecus[n].hardware_id = json_string_value(json_object_get(id, "hardware_id"));
            n++;
        }
    }
    return n;
}

static enum sdv_err own_target(const struct sec_config *cfg, const struct sec_state *st,
                               const struct sdv_buf *targets, struct sdv_uptane_target *own,
                               char *why, size_t why_len)
{
    struct sdv_uptane_ecu *ecus = calloc(SDV_UPTANE_ECUS_MAX, sizeof(*ecus));
    struct sdv_uptane_targets list = {NULL, 0};
    struct sdv_uptane_err ue;
    json_t *doc = NULL;
    enum sdv_err err = SDV_ENOMEM;
    size_t n;

    if (ecus == NULL)
        goto out;
    err = sdv_json_parse(targets->data, targets->len, &doc, NULL, 0);
    if (err != SDV_OK) {
        snprintf(why, why_len, "director targets: %s", sdv_strerror(err));
        goto out;
    }
    n = vehicle_from_doc(doc, cfg, st, ecus);
    err = sdv_uptane_director_targets_parse(targets->data, targets->len, ecus, n, &list, &ue);
    if (err != SDV_OK) {
        snprintf(why, why_len, "%s", ue.msg);
        goto out;
    }
    err = SDV_ENOTARGET;
    snprintf(why, why_len, "the director assigns no image to ECU %s", cfg->serial);
    for (size_t i = 0; i < list.count; i++) {
        if (strcmp(list.items[i].ecu_serial, cfg->serial) == 0) {
            *own = list.items[i];
            err = SDV_OK;
            why[0] = '\0';
        }
    }
out:
    sdv_uptane_targets_free(&list);
    json_decref(doc);
    free(ecus);
    return err;
}

enum sdv_err sec_verify(const struct sec_config *cfg, const struct sec_state *st,
                        const struct sec_meta_set *set, int64_t now, const struct sdv_log *log,
                        struct sdv_uptane_target *own, char *why, size_t why_len)
{
    struct sdv_tuf_client *director = NULL, *image = NULL;
    struct mem_fetch mf_director, mf_image;
    struct sdv_buf targets;
    enum sdv_err err;

    why[0] = '\0';
    memset(own, 0, sizeof(*own));
    sdv_buf_init(&targets, SDV_TUF_TARGETS_MAX_LEN);
    if (cfg->mode == SDV_ECU_LINK_MODE_PARTIAL) {
        err = partial_verify(cfg, set, now, &targets, why, why_len);
    } else {
        err = full_client(cfg, set, SDV_ECU_LINK_REPO_DIRECTOR, now, log, &mf_director, &director,
                          why, why_len);
        if (err == SDV_OK)
            err = full_client(cfg, set, SDV_ECU_LINK_REPO_IMAGE, now, log, &mf_image, &image, why,
                              why_len);
        if (err == SDV_OK) {
            /* The client stores the exact bytes it verified. */
            err = read_trusted(cfg, "targets.json", SDV_TUF_TARGETS_MAX_LEN, &targets);
            if (err != SDV_OK)
                snprintf(why, why_len, "director targets: %s", sdv_strerror(err));
        }
    }
    if (err == SDV_OK)
        err = own_target(cfg, st, &targets, own, why, why_len);
    if (err == SDV_OK && image != NULL) {
        struct sdv_tuf_target entry;
        struct sdv_uptane_err ue;

        err = sdv_tuf_client_find_target(image, own->filepath, &entry);
        if (err != SDV_OK)
            snprintf(why, why_len, "ECU %s: the image repository does not list \"%.200s\": %s",
                     cfg->serial, own->filepath, sdv_tuf_client_errmsg(image));
        else if ((err = sdv_uptane_check_image(own, &entry, &ue)) != SDV_OK)
            snprintf(why, why_len, "%s", ue.msg);
    }
    sdv_tuf_client_destroy(director);
    sdv_tuf_client_destroy(image);
    sdv_buf_free(&targets);
    return err;
}
