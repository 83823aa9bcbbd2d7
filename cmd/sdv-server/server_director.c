/*
 * server_director.c - the director repository: each vehicle's metadata built by lib/uptane from
 * its ECUs and assignments in the store, saved with the store's compare-and-set, renewed by the
 * timer, and served to the vehicle it belongs to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* The previous-output view of a stored state. */
static struct sdv_uptane_director_prev prev_of(const struct sdv_store_director_state *st)
{
    struct sdv_uptane_director_prev p = {0};

    p.root = st->metadata[SDV_STORE_ROLE_ROOT];
    p.root_len = strlen(st->metadata[SDV_STORE_ROLE_ROOT]);
    p.targets = st->metadata[SDV_STORE_ROLE_TARGETS];
    p.targets_len = strlen(st->metadata[SDV_STORE_ROLE_TARGETS]);
    p.snapshot = st->metadata[SDV_STORE_ROLE_SNAPSHOT];
    p.snapshot_len = strlen(st->metadata[SDV_STORE_ROLE_SNAPSHOT]);
    p.timestamp = st->metadata[SDV_STORE_ROLE_TIMESTAMP];
    p.timestamp_len = strlen(st->metadata[SDV_STORE_ROLE_TIMESTAMP]);
    return p;
}

/* The stored-state view of a build output. */
static struct sdv_store_director_state state_of(const struct sdv_uptane_director_out *o,
                                                int64_t now)
{
    struct sdv_store_director_state st = {0};

    st.version[SDV_STORE_ROLE_ROOT] = o->root.version;
    st.version[SDV_STORE_ROLE_TARGETS] = o->targets.version;
    st.version[SDV_STORE_ROLE_SNAPSHOT] = o->snapshot.version;
    st.version[SDV_STORE_ROLE_TIMESTAMP] = o->timestamp.version;
    st.metadata[SDV_STORE_ROLE_ROOT] = (const char *)o->root.data;
    st.metadata[SDV_STORE_ROLE_TARGETS] = (const char *)o->targets.data;
    st.metadata[SDV_STORE_ROLE_SNAPSHOT] = (const char *)o->snapshot.data;
    st.metadata[SDV_STORE_ROLE_TIMESTAMP] = (const char *)o->timestamp.data;
    st.updated_at = now;
    return st;
}

/* One build from what the store holds now, saved when anything changed. SDV_EVERSION when
 * another writer saved first. */
static enum sdv_err update_once(struct server *srv, struct sdv_store *st, const char *vin,
                                int64_t now, char *errmsg, size_t errmsg_len)
{
    struct sdv_store_vehicle v = {0};
    struct sdv_store_assignment *as = NULL;
    struct sdv_store_director_state prev_state = {0};
    struct sdv_uptane_ecu ecus[SDV_UPTANE_ECUS_MAX];
    struct sdv_uptane_assignment *ua = NULL;
    struct sdv_uptane_vehicle uv = {0};
    struct sdv_uptane_director_prev prev = {0};
    struct sdv_uptane_director_out out = {0};
    struct sdv_uptane_err uerr;
    struct sdv_store_director_state next;
    size_t as_count = 0;
    bool have_prev = false;
    enum sdv_err err;

    err = sdv_store_vehicle_get(st, vin, &v);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "vehicle %s: %s", vin, sdv_store_errmsg(st));
        goto out;
    }
    if (v.ecu_count > SDV_UPTANE_ECUS_MAX) {
        err = SDV_ELIMIT;
        snprintf(errmsg, errmsg_len, "vehicle %s has more than %d ECUs", vin, SDV_UPTANE_ECUS_MAX);
        goto out;
    }
    err = sdv_store_assignment_list_for_vehicle(st, vin, &as, &as_count);
    if (err == SDV_OK) {
        err = sdv_store_director_state_get(st, vin, &prev_state);
        have_prev = err == SDV_OK;
        if (err == SDV_ENOENT)
            err = SDV_OK;
    }
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "vehicle %s: %s", vin, sdv_store_errmsg(st));
        goto out;
    }
    for (size_t i = 0; i < v.ecu_count; i++)
        ecus[i] = (struct sdv_uptane_ecu){v.ecus[i].serial, v.ecus[i].hardware_id, NULL, 0};
    uv.vin = v.vin;
    uv.primary_ecu_serial = v.primary_ecu_serial;
    uv.ecus = ecus;
    uv.ecu_count = v.ecu_count;
    if (as_count > 0) {
        ua = calloc(as_count, sizeof(*ua));
        if (ua == NULL) {
            err = SDV_ENOMEM;
            snprintf(errmsg, errmsg_len, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < as_count; i++) {
        ua[i].ecu_serial = as[i].ecu_serial;
        ua[i].image.filepath = as[i].target_name;
        ua[i].image.length = as[i].target_length;
        ua[i].image.release_counter = as[i].release_counter;
        err = server_hashes_parse(as[i].hashes, ua[i].image.hashes, &ua[i].image.hash_count);
        if (err != SDV_OK) {
            snprintf(errmsg, errmsg_len,
                     "vehicle %s: stored hashes of the assignment of ECU %s "
                     "are malformed",
                     vin, as[i].ecu_serial);
            goto out;
        }
    }
    if (have_prev) {
        prev = prev_of(&prev_state);
    } else if (srv->dir_root_seed.len > 0) {
        /* Root keys offline: a new vehicle starts from the pre-signed root. */
        prev.root = srv->dir_root_seed.data;
        prev.root_len = srv->dir_root_seed.len;
    }
    err = sdv_uptane_director_build(&srv->dir_keys, &uv, ua, as_count, &prev, &srv->cfg->director,
                                    now, &out, &uerr);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "director metadata of vehicle %s: %s (rule %s)", vin, uerr.msg,
                 server_rule_name(uerr.rule));
        goto out;
    }
    if (!out.root.changed && !out.targets.changed && !out.snapshot.changed &&
        !out.timestamp.changed && have_prev)
        goto out;
    next = state_of(&out, now);
    err = sdv_store_director_state_put(st, vin, &next,
                                       have_prev ? prev_state.version[SDV_STORE_ROLE_TARGETS] : 0);
    if (err != SDV_OK)
        snprintf(errmsg, errmsg_len, "saving the director metadata of vehicle %s: %s", vin,
                 sdv_store_errmsg(st));
    else
        sdv_logf(&srv->log, SDV_LOG_INFO,
                 "director: vehicle %s: root v%lld, targets v%lld, snapshot v%lld, timestamp v%lld",
                 vin, (long long)out.root.version, (long long)out.targets.version,
                 (long long)out.snapshot.version, (long long)out.timestamp.version);
out:
    sdv_uptane_director_out_free(&out);
    free(ua);
    sdv_store_director_state_release(&prev_state);
    sdv_store_assignments_free(as, as_count);
    sdv_store_vehicle_release(&v);
    return err;
}

enum sdv_err server_director_update(struct server *srv, struct sdv_store *st, const char *vin,
                                    int64_t now, char *errmsg, size_t errmsg_len)
{
    enum sdv_err err = SDV_EVERSION;

    for (unsigned i = 0; i < SERVER_DIRECTOR_CAS_RETRIES && err == SDV_EVERSION; i++)
        err = update_once(srv, st, vin, now, errmsg, errmsg_len);
    return err;
}

/* signed.expires of a stored document, or 0 when it cannot be read (renew it then). */
static int64_t doc_expires(const char *doc)
{
    json_t *j = NULL;
    int64_t t = 0;

    if (sdv_json_parse(doc, strlen(doc), &j, NULL, 0) != SDV_OK)
        return 0;
    const char *s = json_string_value(json_object_get(json_object_get(j, "signed"), "expires"));

    if (s == NULL || sdv_time_parse(s, &t) != SDV_OK)
        t = 0;
    json_decref(j);
    return t;
}

static int64_t lifetime_or(int64_t v, int64_t def)
{
    return v > 0 ? v : def;
}

/* True when less than half of lifetime is left before expires. */
static bool near_expiry(int64_t expires, int64_t lifetime, int64_t now)
{
    return expires - now < lifetime / 2;
}

static void renew_vehicle(struct server *srv, struct sdv_store *st, const char *vin, int64_t now)
{
    const struct sdv_uptane_director_config *dc = &srv->cfg->director;
    struct sdv_store_director_state state = {0};
    struct sdv_uptane_director_out out = {0};
    struct sdv_uptane_director_prev prev;
    struct sdv_uptane_err uerr;
    char msg[768];
    size_t can_sign = 0;
    bool full, ts;
    enum sdv_err err = sdv_store_director_state_get(st, vin, &state);

    if (err == SDV_ENOENT) {
        /* Registered but never built (a failure at registration): try again. */
        err = server_director_update(srv, st, vin, now, msg, sizeof(msg));
        if (err != SDV_OK)
            sdv_logf(&srv->log, SDV_LOG_ERROR, "renewal: %s", msg);
        return;
    }
    if (err != SDV_OK) {
        sdv_logf(&srv->log, SDV_LOG_ERROR, "renewal: vehicle %s: %s", vin, sdv_store_errmsg(st));
        return;
    }
    for (size_t i = 0; i < srv->dir_keys.root_key_count; i++)
        can_sign += sdv_key_has_private(srv->dir_keys.root_keys[i]) != 0;
    full = near_expiry(doc_expires(state.metadata[SDV_STORE_ROLE_TARGETS]),
                       lifetime_or(dc->targets_lifetime_s, SDV_UPTANE_DIRECTOR_TARGETS_EXPIRY_S),
                       now) ||
           near_expiry(doc_expires(state.metadata[SDV_STORE_ROLE_SNAPSHOT]),
                       lifetime_or(dc->snapshot_lifetime_s, SDV_UPTANE_DIRECTOR_SNAPSHOT_EXPIRY_S),
                       now) ||
           (can_sign >= srv->dir_keys.root_threshold &&
            near_expiry(doc_expires(state.metadata[SDV_STORE_ROLE_ROOT]),
                        lifetime_or(dc->root_lifetime_s, SDV_UPTANE_DIRECTOR_ROOT_EXPIRY_S), now));
    ts = near_expiry(doc_expires(state.metadata[SDV_STORE_ROLE_TIMESTAMP]),
                     lifetime_or(dc->timestamp_lifetime_s, SDV_UPTANE_DIRECTOR_TIMESTAMP_EXPIRY_S),
                     now);
    if (full) {
        err = server_director_update(srv, st, vin, now, msg, sizeof(msg));
        if (err != SDV_OK)
            sdv_logf(&srv->log, SDV_LOG_ERROR, "renewal: %s", msg);
    } else if (ts) {
        struct sdv_store_director_state next;

        prev = prev_of(&state);
        err = sdv_uptane_director_renew_timestamp(&srv->dir_keys, &prev, dc, now, &out, &uerr);
        if (err != SDV_OK) {
            sdv_logf(&srv->log, SDV_LOG_ERROR, "renewal: vehicle %s: %s", vin, uerr.msg);
        } else {
            next = state_of(&out, now);
            err = sdv_store_director_state_put(st, vin, &next,
                                               state.version[SDV_STORE_ROLE_TARGETS]);
            /* SDV_EVERSION: another writer rebuilt the vehicle meanwhile, with a fresh
             * timestamp. */
            if (err != SDV_OK && err != SDV_EVERSION)
                sdv_logf(&srv->log, SDV_LOG_ERROR, "renewal: vehicle %s: %s", vin,
                         sdv_store_errmsg(st));
            else if (err == SDV_OK)
                sdv_logf(&srv->log, SDV_LOG_DEBUG, "director: vehicle %s: timestamp v%lld", vin,
                         (long long)out.timestamp.version);
        }
    }
    sdv_uptane_director_out_free(&out);
    sdv_store_director_state_release(&state);
}

void server_director_renew_all(struct server *srv, int64_t now)
{
    struct sdv_store *st = server_store_get(srv);
    char after[SDV_STORE_ID_LEN_MAX + 1] = "";

    /* One page at a time, so the store handle is never held for long by a big fleet. */
    for (;;) {
        struct sdv_store_vehicle *vs = NULL;
        size_t n = 0;
        enum sdv_err err =
                sdv_store_vehicle_list(st, after[0] ? after : NULL, SERVER_PAGE_DEFAULT, &vs, &n);

        if (err != SDV_OK) {
            sdv_logf(&srv->log, SDV_LOG_ERROR, "renewal: listing vehicles: %s",
                     sdv_store_errmsg(st));
            break;
        }
        for (size_t i = 0; i < n; i++)
            renew_vehicle(srv, st, vs[i].vin, now);
        if (n > 0)
            snprintf(after, sizeof(after), "%s", vs[n - 1].vin);
        sdv_store_vehicles_free(vs, n);
        if (n < SERVER_PAGE_DEFAULT)
            break;
    }
    server_store_put(srv, st);
}

/* Parses "[N.]role.json": *role and *version (0: unversioned). False for anything else. */
static bool parse_file_name(const char *name, enum sdv_store_role *role, int64_t *version)
{
    static const struct {
        const char *file;
        enum sdv_store_role role;
        bool versioned;
    } files[] = {
            {"root.json", SDV_STORE_ROLE_ROOT, true},
            {"targets.json", SDV_STORE_ROLE_TARGETS, true},
            {"snapshot.json", SDV_STORE_ROLE_SNAPSHOT, true},
            {"timestamp.json", SDV_STORE_ROLE_TIMESTAMP, false},
    };
    const char *p = name;
    int64_t v = 0;

    if (*p >= '1' && *p <= '9') {
        size_t digits = 0;

        while (*p >= '0' && *p <= '9') {
            if (++digits > 18)
                return false;
            v = v * 10 + (*p++ - '0');
        }
        if (*p++ != '.')
            return false;
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (strcmp(p, files[i].file) == 0 && (v == 0 || files[i].versioned)) {
            *role = files[i].role;
            *version = v;
            return true;
        }
    }
    return false;
}

void server_h_director_get(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    struct sdv_store *st;
    struct sdv_store_director_doc state = {0};
    enum sdv_store_role role;
    int64_t version;
    char etag[SDV_ARTIFACT_ID_LEN], quoted[SDV_ARTIFACT_ID_LEN + 2];
    const char *doc;
    enum sdv_err err;

    if (!parse_file_name(req->path_tail, &role, &version)) {
        sdv_httpd_respond_status(req, 404, "director: no such metadata file");
        return;
    }
    st = server_store_get(srv);
    err = sdv_store_director_doc_get(st, req->identity, role, &state);
    if (err == SDV_ENOENT) {
        struct sdv_store_vehicle v = {0};

        err = sdv_store_vehicle_get(st, req->identity, &v);
        sdv_store_vehicle_release(&v);
        if (err == SDV_ENOENT)
            sdv_httpd_respond_status(req, 403, "unknown vehicle");
        else if (err == SDV_OK)
            sdv_httpd_respond_status(req, 404, "director: no metadata for this vehicle yet");
        else
            server_respond_store_error(req, st, "director", err);
        goto out;
    }
    if (err != SDV_OK) {
        server_respond_store_error(req, st, "director", err);
        goto out;
    }
    /* Every root version is kept (a vehicle that missed rotations walks the chain); of the
     * other roles only the current version (see docs/server.md). */
    if (version != 0 && version != state.version && role == SDV_STORE_ROLE_ROOT) {
        sdv_store_director_doc_release(&state);
        err = sdv_store_director_root_get(st, req->identity, version, &state);
        if (err == SDV_ENOENT) {
            sdv_httpd_respond_status(req, 404, "director: no such root version");
            goto out;
        }
        if (err != SDV_OK) {
            server_respond_store_error(req, st, "director", err);
            goto out;
        }
    } else if (version != 0 && version != state.version) {
        sdv_httpd_respond_status(req, 404, "director: no such metadata version");
        goto out;
    }
    doc = state.metadata;
    /* Each signed document of a role has its own version (versions only go up and the store's
     * compare-and-set keeps replicas from writing two documents under one version), so role and
     * version identify the bytes: no hashing on the check-in path. */
    snprintf(etag, sizeof(etag), "director-%d-%lld", (int)role, (long long)state.version);
    if (server_not_modified(req, etag))
        goto out;
    snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
    if (sdv_httpd_respond_bytes(req, 200, "application/json", doc, strlen(doc)) == SDV_OK)
        sdv_httpd_response_header(req, "ETag", quoted);
out:
    sdv_store_director_doc_release(&state);
    server_store_put(srv, st);
}
