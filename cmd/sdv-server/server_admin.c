/*
 * server_admin.c - the admin API (docs/server_api.md): vehicle registration and listing, the
 * vehicle view (desired next to reported state), manifest history, assignments, artifact
 * uploads. Every route checks the bearer token first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

bool server_admin_auth(struct server *srv, struct sdv_httpd_request *req)
{
    const char *h = sdv_httpd_header(req, "Authorization");
    const char *want = srv->cfg->admin_token;
    size_t n, m = strlen(want);
    unsigned char diff = 0;

    if (h != NULL && strncmp(h, "Bearer ", 7) == 0) {
        h += 7;
        n = strlen(h);
        /* Constant time in the token's content: the comparison always runs over m bytes. */
        for (size_t i = 0; i < m; i++)
            diff |= (unsigned char)(want[i] ^ (i < n ? h[i] : 0));
        if (diff == 0 && n == m)
            return true;
    }
    sdv_httpd_respond_status(req, 401,
                             h == NULL ? "admin API: missing bearer token"
                                       : "admin API: wrong bearer token");
    sdv_httpd_response_header(req, "WWW-Authenticate", "Bearer");
    return false;
}

/* The JSON object body of an admin request; NULL after answering 401 or 400. */
static json_t *admin_body_json(struct server *srv, struct sdv_httpd_request *req)
{
    return server_admin_auth(srv, req) ? server_body_json(req) : NULL;
}

static void respond_json_new(struct sdv_httpd_request *req, unsigned status, json_t *j)
{
    if (j == NULL)
        sdv_httpd_respond_status(req, 500, "out of memory");
    else
        sdv_httpd_respond_json(req, status, j);
    json_decref(j);
}

/* ---- Registration ---------------------------------------------------------------------------- */

struct reg_ecu {
    const char *serial, *hardware_id;
    char *key_json; /* normalised TUF key object */
    bool primary;
};

/* Reads one element of "ecus"; answers 400 and returns false when it is wrong. */
static bool reg_ecu_parse(struct sdv_httpd_request *req, const json_t *o, size_t i,
                          const char *primary_serial, struct reg_ecu *out)
{
    json_t *serial = json_object_get(o, "serial"), *hw = json_object_get(o, "hardware_id");
    json_t *key = json_object_get(o, "public_key"), *prim = json_object_get(o, "primary");
    json_t *norm = NULL;
    struct sdv_key *k = NULL;
    char msg[300];
    enum sdv_err err;

    if (!json_is_object(o) || !server_id_ok(json_string_value(serial), SDV_UPTANE_ID_LEN_MAX) ||
        !server_id_ok(json_string_value(hw), SDV_UPTANE_ID_LEN_MAX)) {
        snprintf(msg, sizeof(msg),
                 "ecus[%zu]: \"serial\" and \"hardware_id\" must be 1 to %d "
                 "printable characters without spaces",
                 i, SDV_UPTANE_ID_LEN_MAX);
        sdv_httpd_respond_status(req, 400, msg);
        return false;
    }
    out->serial = json_string_value(serial);
    out->hardware_id = json_string_value(hw);
    out->primary = strcmp(out->serial, primary_serial) == 0;
    if (prim != NULL && (!json_is_boolean(prim) || json_is_true(prim) != out->primary)) {
        snprintf(msg, sizeof(msg),
                 "ecus[%zu] (%s): \"primary\" must be true exactly for "
                 "primary_ecu_serial",
                 i, out->serial);
        sdv_httpd_respond_status(req, 400, msg);
        return false;
    }
    err = json_is_object(key) ? sdv_key_from_tuf(key, &k) : SDV_EPARSE;
    if (err == SDV_OK)
        err = sdv_key_to_tuf(k, &norm);
    sdv_key_destroy(k);
    if (err == SDV_OK) {
        out->key_json = json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS);
        err = out->key_json != NULL ? SDV_OK : SDV_ENOMEM;
    }
    json_decref(norm);
    if (err != SDV_OK) {
        snprintf(msg, sizeof(msg),
                 "ecus[%zu] (%s): \"public_key\" is not a usable TUF key "
                 "object: %s",
                 i, out->serial, sdv_strerror(err));
        sdv_httpd_respond_status(req, 400, msg);
        return false;
    }
    return true;
}

void server_h_vehicles_post(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    json_t *body, *vin, *primary, *ecus;
    struct reg_ecu *re = NULL;
    struct sdv_store_ecu *se = NULL;
    struct sdv_store *st = NULL;
    struct sdv_store_vehicle v = {0};
    size_t n = 0, primaries = 0;
    char msg[1024];
    enum sdv_err err;

    body = admin_body_json(srv, req);
    if (body == NULL)
        return;
    vin = json_object_get(body, "vin");
    primary = json_object_get(body, "primary_ecu_serial");
    ecus = json_object_get(body, "ecus");
    if (!server_id_ok(json_string_value(vin), SDV_UPTANE_VIN_LEN_MAX)) {
        snprintf(msg, sizeof(msg), "\"vin\" must be 1 to %d printable characters without spaces",
                 SDV_UPTANE_VIN_LEN_MAX);
        sdv_httpd_respond_status(req, 400, msg);
        goto out;
    }
    if (!server_id_ok(json_string_value(primary), SDV_UPTANE_ID_LEN_MAX)) {
        sdv_httpd_respond_status(req, 400, "\"primary_ecu_serial\" is missing or malformed");
        goto out;
    }
    if (!json_is_array(ecus) || json_array_size(ecus) == 0 ||
        json_array_size(ecus) > SDV_UPTANE_ECUS_MAX) {
        snprintf(msg, sizeof(msg), "\"ecus\" must be an array of 1 to %d ECUs",
                 SDV_UPTANE_ECUS_MAX);
        sdv_httpd_respond_status(req, 400, msg);
        goto out;
    }
    n = json_array_size(ecus);
    re = calloc(n, sizeof(*re));
    se = calloc(n, sizeof(*se));
    if (re == NULL || se == NULL) {
        sdv_httpd_respond_status(req, 500, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!reg_ecu_parse(req, json_array_get(ecus, i), i, json_string_value(primary), &re[i]))
            goto out;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(re[j].serial, re[i].serial) == 0) {
                snprintf(msg, sizeof(msg), "ECU serial %s is listed twice", re[i].serial);
                sdv_httpd_respond_status(req, 400, msg);
                goto out;
            }
        }
        primaries += re[i].primary;
        se[i] = (struct sdv_store_ecu){re[i].serial, NULL, re[i].hardware_id, re[i].key_json,
                                       re[i].primary};
    }
    if (primaries != 1) {
        sdv_httpd_respond_status(req, 400,
                                 "primary_ecu_serial must be the serial of one of "
                                 "\"ecus\"");
        goto out;
    }
    v.vin = json_string_value(vin);
    v.primary_ecu_serial = json_string_value(primary);
    v.created_at = server_now();
    v.ecus = se;
    v.ecu_count = n;
    st = server_store_get(srv);
    err = sdv_store_vehicle_register(st, &v);
    if (err == SDV_EEXIST) {
        snprintf(msg, sizeof(msg), "vehicle %s or one of its ECU serials is already registered",
                 v.vin);
        sdv_httpd_respond_status(req, 409, msg);
        goto out;
    }
    if (err != SDV_OK) {
        server_respond_store_error(req, st, "register", err);
        goto out;
    }
    sdv_logf(&srv->log, SDV_LOG_INFO, "registered vehicle %s with %zu ECUs", v.vin, n);
    err = server_director_update(srv, st, v.vin, v.created_at, msg, sizeof(msg));
    if (err != SDV_OK) {
        /* The vehicle exists; the renewal timer retries the metadata. */
        sdv_logf(&srv->log, SDV_LOG_ERROR, "%s", msg);
        respond_json_new(req, 201, json_pack("{s:s, s:s}", "vin", v.vin, "warning", msg));
        goto out;
    }
    respond_json_new(req, 201, json_pack("{s:s}", "vin", v.vin));
out:
    server_store_put(srv, st);
    for (size_t i = 0; re != NULL && i < n; i++)
        free(re[i].key_json);
    free(re);
    free(se);
    json_decref(body);
}

/* ---- Listing and the vehicle view --------------------------------------------------------------
 */

void server_h_vehicles_list(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    const char *after = sdv_httpd_query(req, "after");
    struct sdv_store_vehicle *vs = NULL;
    struct sdv_store *st;
    size_t n = 0;
    uint64_t limit;
    json_t *list, *ans;
    enum sdv_err err;

    if (!server_admin_auth(srv, req) ||
        !server_query_u64(req, "limit", SERVER_PAGE_DEFAULT, SDV_STORE_PAGE_MAX, &limit))
        return;
    if (limit == 0)
        limit = SERVER_PAGE_DEFAULT;
    st = server_store_get(srv);
    err = sdv_store_vehicle_list(st, after != NULL && after[0] ? after : NULL, limit, &vs, &n);
    if (err != SDV_OK) {
        server_respond_store_error(req, st, "list vehicles", err);
        server_store_put(srv, st);
        return;
    }
    server_store_put(srv, st);
    list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++)
        json_array_append_new(list, json_pack("{s:s, s:I}", "vin", vs[i].vin, "ecu_count",
                                              (json_int_t)vs[i].ecu_count));
    ans = json_pack("{s:o, s:o}", "vehicles", list != NULL ? list : json_array(), "next",
                    n == limit && n > 0 ? json_string(vs[n - 1].vin) : json_null());
    respond_json_new(req, 200, ans);
    sdv_store_vehicles_free(vs, n);
}

static json_t *hashes_value(const char *text)
{
    json_t *j = NULL;

    if (text == NULL || sdv_json_parse(text, strlen(text), &j, NULL, 0) != SDV_OK)
        return json_null();
    return j;
}

static json_t *report_json(const struct sdv_store_ecu_report *r, int64_t received_at)
{
    return json_pack("{s:s, s:I, s:o, s:s, s:o}", "target", r->target_name, "length",
                     (json_int_t)r->target_length, "hashes", hashes_value(r->hashes),
                     "attack_detected", r->attack_detected != NULL ? r->attack_detected : "",
                     "received_at", server_time_json(received_at));
}

static void vehicle_show(struct server *srv, struct sdv_httpd_request *req, const char *vin)
{
    struct sdv_store *st = server_store_get(srv);
    struct sdv_store_vehicle v = {0};
    struct sdv_store_assignment *as = NULL;
    struct sdv_store_manifest latest = {0}, last = {0};
    size_t as_count = 0;
    bool have_latest = false, have_last = false;
    json_t *ecus = NULL, *ans = NULL, *installs = NULL;
    int64_t installs_next = 0;
    enum sdv_err err = sdv_store_vehicle_get(st, vin, &v);

    if (err == SDV_ENOENT) {
        sdv_httpd_respond_status(req, 404, "vehicle not registered");
        goto out;
    }
    if (err == SDV_OK)
        err = sdv_store_assignment_list_for_vehicle(st, vin, &as, &as_count);
    if (err == SDV_OK) {
        err = sdv_store_manifest_latest(st, vin, true, &latest);
        have_latest = err == SDV_OK;
        err = err == SDV_ENOENT ? SDV_OK : err;
    }
    if (err == SDV_OK) {
        err = sdv_store_manifest_latest(st, vin, false, &last);
        have_last = err == SDV_OK;
        err = err == SDV_ENOENT ? SDV_OK : err;
    }
    if (err == SDV_OK)
        err = server_install_records_json(st, vin, 0, 0, &installs, &installs_next);
    if (err != SDV_OK) {
        server_respond_store_error(req, st, "vehicle", err);
        goto out;
    }
    ecus = json_array();
    for (size_t i = 0; ecus != NULL && i < v.ecu_count; i++) {
        const struct sdv_store_ecu *e = &v.ecus[i];
        json_t *desired = json_null(), *reported = json_null();

        for (size_t k = 0; k < as_count; k++) {
            if (strcmp(as[k].ecu_serial, e->serial) == 0) {
                json_decref(desired);
                desired = json_pack("{s:s, s:I, s:o, s:I}", "target", as[k].target_name, "length",
                                    (json_int_t)as[k].target_length, "hashes",
                                    hashes_value(as[k].hashes), "release_counter",
                                    (json_int_t)as[k].release_counter);
            }
        }
        for (size_t k = 0; have_latest && k < latest.report_count; k++) {
            if (strcmp(latest.reports[k].ecu_serial, e->serial) == 0) {
                json_decref(reported);
                reported = report_json(&latest.reports[k], latest.received_at);
            }
        }
        json_array_append_new(ecus,
                              json_pack("{s:s, s:s, s:b, s:o, s:o}", "serial", e->serial,
                                        "hardware_id", e->hardware_id, "primary", e->is_primary,
                                        "desired", desired != NULL ? desired : json_null(),
                                        "reported", reported != NULL ? reported : json_null()));
    }
    ans = json_pack(
            "{s:s, s:s, s:o, s:o}", "vin", v.vin, "primary_ecu_serial", v.primary_ecu_serial,
            "ecus", ecus != NULL ? ecus : json_array(), "last_manifest",
            have_last ? json_pack("{s:o, s:b, s:o}", "received_at",
                                  server_time_json(last.received_at), "verified", last.verified,
                                  "attack",
                                  last.attack != NULL ? json_string(last.attack) : json_null())
                      : json_null());
    /* The newest install records (commits, rollbacks with their reason, failures). */
    if (ans != NULL)
        json_object_set(ans, "install_records", installs);
    respond_json_new(req, 200, ans);
out:
    json_decref(installs);
    sdv_store_manifest_release(&last);
    sdv_store_manifest_release(&latest);
    sdv_store_assignments_free(as, as_count);
    sdv_store_vehicle_release(&v);
    server_store_put(srv, st);
}

static void vehicle_manifests(struct server *srv, struct sdv_httpd_request *req, const char *vin)
{
    struct sdv_store *st;
    struct sdv_store_manifest *ms = NULL;
    struct sdv_store_vehicle v = {0};
    uint64_t before, limit;
    size_t n = 0;
    json_t *list;
    enum sdv_err err;

    if (!server_query_u64(req, "before", 0, INT64_MAX, &before) ||
        !server_query_u64(req, "limit", 20, SDV_STORE_PAGE_MAX, &limit))
        return;
    if (limit == 0)
        limit = 20;
    st = server_store_get(srv);
    err = sdv_store_vehicle_get(st, vin, &v);
    sdv_store_vehicle_release(&v);
    if (err == SDV_OK)
        err = sdv_store_manifest_history(st, vin, (int64_t)before, limit, &ms, &n);
    if (err == SDV_ENOENT)
        sdv_httpd_respond_status(req, 404, "vehicle not registered");
    else if (err != SDV_OK)
        server_respond_store_error(req, st, "manifest history", err);
    server_store_put(srv, st);
    if (err != SDV_OK)
        return;
    list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        json_t *reports = json_array();

        for (size_t k = 0; reports != NULL && k < ms[i].report_count; k++) {
            json_t *r = report_json(&ms[i].reports[k], ms[i].received_at);

            if (r != NULL)
                json_object_set_new(r, "ecu_serial", json_string(ms[i].reports[k].ecu_serial));
            json_array_append_new(reports, r);
        }
        json_array_append_new(
                list,
                json_pack("{s:I, s:o, s:b, s:o, s:o}", "id", (json_int_t)ms[i].id, "received_at",
                          server_time_json(ms[i].received_at), "verified", ms[i].verified, "attack",
                          ms[i].attack != NULL ? json_string(ms[i].attack) : json_null(), "reports",
                          reports != NULL ? reports : json_array()));
    }
    respond_json_new(req, 200,
                     json_pack("{s:o, s:o}", "manifests", list != NULL ? list : json_array(),
                               "next",
                               n == limit && n > 0 ? json_integer(ms[n - 1].id) : json_null()));
    sdv_store_manifests_free(ms, n);
}

static void vehicle_install_records(struct server *srv, struct sdv_httpd_request *req,
                                    const char *vin)
{
    struct sdv_store *st;
    struct sdv_store_vehicle v = {0};
    uint64_t before, limit;
    int64_t next = 0;
    json_t *list = NULL;
    enum sdv_err err;

    if (!server_query_u64(req, "before", 0, INT64_MAX, &before) ||
        !server_query_u64(req, "limit", 20, SDV_STORE_PAGE_MAX, &limit))
        return;
    if (limit == 0)
        limit = 20;
    st = server_store_get(srv);
    err = sdv_store_vehicle_get(st, vin, &v);
    sdv_store_vehicle_release(&v);
    if (err == SDV_OK)
        err = server_install_records_json(st, vin, (int64_t)before, limit, &list, &next);
    if (err == SDV_ENOENT)
        sdv_httpd_respond_status(req, 404, "vehicle not registered");
    else if (err != SDV_OK)
        server_respond_store_error(req, st, "install records", err);
    server_store_put(srv, st);
    if (err != SDV_OK)
        return;
    respond_json_new(req, 200,
                     json_pack("{s:o, s:o}", "install_records", list, "next",
                               next > 0 ? json_integer(next) : json_null()));
}

void server_h_vehicle_get(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    const char *tail = req->path_tail, *slash = strchr(tail, '/');
    char vin[SDV_UPTANE_VIN_LEN_MAX + 1];
    size_t n = slash != NULL ? (size_t)(slash - tail) : strlen(tail);

    if (!server_admin_auth(srv, req))
        return;
    if (n == 0 || n > SDV_UPTANE_VIN_LEN_MAX ||
        (slash != NULL && strcmp(slash, "/manifests") != 0 &&
         strcmp(slash, "/install-records") != 0)) {
        sdv_httpd_respond_status(req, 404, "no such admin resource");
        return;
    }
    memcpy(vin, tail, n);
    vin[n] = '\0';
    if (!server_id_ok(vin, SDV_UPTANE_VIN_LEN_MAX)) {
        sdv_httpd_respond_status(req, 404, "vehicle not registered");
        return;
    }
    if (slash == NULL)
        vehicle_show(srv, req, vin);
    else if (strcmp(slash, "/manifests") == 0)
        vehicle_manifests(srv, req, vin);
    else
        vehicle_install_records(srv, req, vin);
}

/* ---- Assignments --------------------------------------------------------------------------------
 */

struct pick {
    char *vin, *serial;
};

struct picks {
    struct pick *p;
    size_t n, cap;
};

static enum sdv_err picks_add(struct picks *ps, const char *vin, const char *serial)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 16;
        struct pick *p = realloc(ps->p, cap * sizeof(*p));

        if (p == NULL)
            return SDV_ENOMEM;
        ps->p = p;
        ps->cap = cap;
    }
    ps->p[ps->n].vin = strdup(vin);
    ps->p[ps->n].serial = strdup(serial);
    ps->n++;
    return ps->p[ps->n - 1].vin != NULL && ps->p[ps->n - 1].serial != NULL ? SDV_OK : SDV_ENOMEM;
}

static void picks_free(struct picks *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->p[i].vin);
        free(ps->p[i].serial);
    }
    free(ps->p);
}

static bool hw_listed(const json_t *hardware_ids, const char *hw)
{
    for (size_t i = 0; i < json_array_size(hardware_ids); i++)
        if (strcmp(json_string_value(json_array_get(hardware_ids, i)), hw) == 0)
            return true;
    return false;
}

/* The ECUs of one vehicle that get the target: the named hardware id, else every ECU whose
 * hardware id the image lists. */
static enum sdv_err pick_vehicle(const struct sdv_store_vehicle *v, const char *hw,
                                 const struct server_image_target *img, struct picks *ps)
{
    enum sdv_err err = SDV_OK;

    for (size_t i = 0; i < v->ecu_count && err == SDV_OK; i++) {
        const char *ehw = v->ecus[i].hardware_id;

        if (hw != NULL ? strcmp(ehw, hw) == 0 : hw_listed(img->hardware_ids, ehw))
            err = picks_add(ps, v->vin, v->ecus[i].serial);
    }
    return err;
}

/* Every ECU of the fleet with hardware id hw, a page of vehicles at a time. */
static enum sdv_err pick_fleet(struct sdv_store *st, const char *hw,
                               const struct server_image_target *img, struct picks *ps)
{
    char after[SDV_STORE_ID_LEN_MAX + 1] = "";
    enum sdv_err err;

    for (;;) {
        struct sdv_store_vehicle *vs = NULL;
        size_t n = 0;

        err = sdv_store_vehicle_list(st, after[0] ? after : NULL, SDV_STORE_PAGE_MAX, &vs, &n);
        for (size_t i = 0; err == SDV_OK && i < n; i++)
            err = pick_vehicle(&vs[i], hw, img, ps);
        if (n > 0)
            snprintf(after, sizeof(after), "%s", vs[n - 1].vin);
        sdv_store_vehicles_free(vs, n);
        if (err != SDV_OK || n < SDV_STORE_PAGE_MAX)
            return err;
    }
}

void server_h_assignments(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    json_t *body, *target, *vins, *hwj, *corr, *hashes_obj = NULL, *assigned = NULL;
    const char *hw = NULL;
    struct server_image_target img = {0};
    struct picks ps = {0};
    struct sdv_store *st = NULL;
    char msg[1024], *hashes = NULL;
    int64_t now = server_now();
    bool failed = false;
    enum sdv_err err;

    body = admin_body_json(srv, req);
    if (body == NULL)
        return;
    target = json_object_get(body, "target");
    vins = json_object_get(body, "vins");
    hwj = json_object_get(body, "hardware_id");
    corr = json_object_get(body, "correlation_id");
    if (!json_is_string(target) || json_string_length(target) == 0 ||
        json_string_length(target) > SDV_TUF_NAME_LEN_MAX) {
        sdv_httpd_respond_status(req, 400, "\"target\" must be a target name");
        goto out;
    }
    if ((vins != NULL && (!json_is_array(vins) || json_array_size(vins) == 0 ||
                          json_array_size(vins) > SDV_STORE_PAGE_MAX)) ||
        (hwj != NULL && !server_id_ok(json_string_value(hwj), SDV_UPTANE_ID_LEN_MAX)) ||
        (corr != NULL && !server_id_ok(json_string_value(corr), SDV_STORE_ID_LEN_MAX)) ||
        (vins == NULL && hwj == NULL)) {
        snprintf(msg, sizeof(msg),
                 "give \"vins\" (1 to %d VINs), \"hardware_id\", or both "
                 "(and optionally \"correlation_id\")",
                 SDV_STORE_PAGE_MAX);
        sdv_httpd_respond_status(req, 400, msg);
        goto out;
    }
    hw = json_string_value(hwj);
    err = server_image_lookup(srv, json_string_value(target), now, &img, msg, sizeof(msg));
    if (err != SDV_OK) {
        sdv_httpd_respond_status(req,
                                 err == SDV_ENOTARGET ? 404
                                 : err == SDV_EPARSE  ? 400
                                                      : 500,
                                 msg);
        goto out;
    }
    if (hw != NULL && img.hardware_ids != NULL && !hw_listed(img.hardware_ids, hw)) {
        snprintf(msg, sizeof(msg),
                 "target %s is not for hardware id %s (the image repository "
                 "lists its hardware_ids)",
                 json_string_value(target), hw);
        sdv_httpd_respond_status(req, 400, msg);
        goto out;
    }
    if (hw == NULL && img.hardware_ids == NULL) {
        snprintf(msg, sizeof(msg),
                 "target %s names no hardware_ids in the image repository: "
                 "give \"hardware_id\" to say which ECUs get it",
                 json_string_value(target));
        sdv_httpd_respond_status(req, 400, msg);
        goto out;
    }
    st = server_store_get(srv);
    if (vins != NULL) {
        for (size_t i = 0; i < json_array_size(vins); i++) {
            const char *vin = json_string_value(json_array_get(vins, i));
            struct sdv_store_vehicle v = {0};

            err = server_id_ok(vin, SDV_UPTANE_VIN_LEN_MAX) ? sdv_store_vehicle_get(st, vin, &v)
                                                            : SDV_ENOENT;
            if (err == SDV_OK)
                err = pick_vehicle(&v, hw, &img, &ps);
            sdv_store_vehicle_release(&v);
            if (err == SDV_ENOENT) {
                snprintf(msg, sizeof(msg), "vehicle %s is not registered",
                         vin != NULL ? vin : "(not a string)");
                sdv_httpd_respond_status(req, 404, msg);
                goto out;
            }
            if (err != SDV_OK) {
                server_respond_store_error(req, st, "assignment", err);
                goto out;
            }
        }
    } else {
        err = pick_fleet(st, hw, &img, &ps);
        if (err != SDV_OK) {
            server_respond_store_error(req, st, "assignment", err);
            goto out;
        }
    }
    if (ps.n == 0) {
        sdv_httpd_respond_status(req, 400, "no ECU matches the assignment");
        goto out;
    }
    hashes_obj = server_hashes_json(img.hashes, img.hash_count);
    hashes = hashes_obj != NULL ? json_dumps(hashes_obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (hashes == NULL) {
        sdv_httpd_respond_status(req, 500, "out of memory");
        goto out;
    }
    err = sdv_store_begin(st);
    for (size_t i = 0; i < ps.n && err == SDV_OK; i++) {
        struct sdv_store_assignment a = {ps.p[i].serial,
                                         json_string_value(target),
                                         img.length,
                                         hashes,
                                         img.release_counter,
                                         now,
                                         json_string_value(corr)};

        err = sdv_store_assignment_set(st, &a);
    }
    if (err == SDV_OK)
        err = sdv_store_commit(st);
    if (err != SDV_OK) {
        server_respond_store_error(req, st, "assignment", err);
        sdv_store_rollback(st);
        goto out;
    }
    assigned = json_array();
    for (size_t i = 0; i < ps.n; i++) {
        json_array_append_new(assigned, json_pack("{s:s, s:s}", "vin", ps.p[i].vin, "ecu_serial",
                                                  ps.p[i].serial));
        /* Picks are grouped by vehicle: rebuild each vehicle once. */
        if (i + 1 < ps.n && strcmp(ps.p[i + 1].vin, ps.p[i].vin) == 0)
            continue;
        err = server_director_update(srv, st, ps.p[i].vin, now, msg, sizeof(msg));
        if (err != SDV_OK) {
            sdv_logf(&srv->log, SDV_LOG_ERROR, "assignment: %s", msg);
            failed = true;
        }
    }
    sdv_logf(&srv->log, SDV_LOG_INFO, "assigned %s to %zu ECUs", json_string_value(target), ps.n);
    if (failed)
        sdv_httpd_respond_status(req, 500, msg);
    else
        respond_json_new(req, 200, json_pack("{s:O}", "assigned", assigned));
out:
    json_decref(assigned);
    free(hashes);
    json_decref(hashes_obj);
    server_store_put(srv, st);
    picks_free(&ps);
    server_image_target_release(&img);
    json_decref(body);
}

/* ---- Artifacts
 * ------------------------------------------------------------------------------------ */

/* stream_ud: the put in progress; NULL before the first byte and after the commit. */
enum sdv_err server_artifact_body(void *ctx, struct sdv_httpd_request *req, const void *data,
                                  size_t len)
{
    struct server *srv = ctx;
    struct sdv_artifact_put *put = req->stream_ud;
    enum sdv_err err;

    if (put == NULL) {
        if (!server_admin_auth(srv, req))
            return SDV_EINVAL;
        err = sdv_artifact_put_begin(srv->artifacts, srv->cfg->upload_max, &put);
        if (err != SDV_OK)
            return err;
        req->stream_ud = put;
    }
    return sdv_artifact_put_write(put, data, len);
}

void server_artifact_done(void *ctx, struct sdv_httpd_request *req, int completed)
{
    (void)ctx;
    (void)completed;
    sdv_artifact_put_abort(req->stream_ud);
    req->stream_ud = NULL;
}

void server_h_artifact_put(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    struct sdv_artifact_put *put = req->stream_ud;
    struct sdv_store_artifact a = {0};
    const char *name = sdv_httpd_query(req, "name");
    char id[SDV_ARTIFACT_ID_LEN], msg[256];
    uint64_t len = 0;
    int existed = 0;
    struct sdv_store *st;
    enum sdv_err err;

    if (put == NULL) { /* an empty body: on_body never ran */
        if (!server_admin_auth(srv, req))
            return;
        err = sdv_artifact_put_begin(srv->artifacts, srv->cfg->upload_max, &put);
        if (err != SDV_OK) {
            sdv_httpd_respond_status(req, 500, "artifact: cannot start the upload");
            return;
        }
    }
    req->stream_ud = NULL;
    err = sdv_artifact_put_commit(put, NULL, id, &len, &existed);
    if (err != SDV_OK) {
        snprintf(msg, sizeof(msg), "artifact: cannot store the upload: %s", sdv_strerror(err));
        sdv_httpd_respond_status(req, 500, msg);
        return;
    }
    a.sha256 = id;
    a.length = len;
    a.created_at = server_now();
    a.name = name != NULL && name[0] != '\0' ? name : NULL;
    st = server_store_get(srv);
    err = sdv_store_artifact_put(st, &a);
    if (err != SDV_OK && err != SDV_EEXIST) {
        server_respond_store_error(req, st, "artifact", err);
        server_store_put(srv, st);
        return;
    }
    server_store_put(srv, st);
    if (!existed)
        sdv_logf(&srv->log, SDV_LOG_INFO, "artifact %s stored (%llu bytes)", id,
                 (unsigned long long)len);
    respond_json_new(req, existed ? 200 : 201,
                     json_pack("{s:s, s:I}", "sha256", id, "length", (json_int_t)len));
}
