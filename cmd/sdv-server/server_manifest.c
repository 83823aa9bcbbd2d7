/*
 * server_manifest.c - POST /v1/vehicle/manifest: a vehicle version manifest is verified with the
 * keys registered for the vehicle (lib/uptane), checked against replays with the reports stored
 * before it, and stored with its reports whatever the outcome (an unverified one with the
 * reason, as evidence).
 *
 * Replay rules (docs/server.md): each report's nonce must differ from every nonce the same ECU
 * sent in the last SERVER_REPLAY_SCAN_MAX verified manifests, and its report_counter must be
 * above the one of the ECU's latest verified report (sdv/uptane.h: "the server refuses one
 * that does not increase"). The counter is the rule that holds over any time span; the nonce
 * check catches a verbatim replay with a clearer message. The 400 names rule "NONCE" or "REPLAY".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* The vehicle as lib/uptane wants it, with keys parsed from the store. */
struct vehicle_keys {
    struct sdv_store_vehicle v;
    struct sdv_key *primary_key;
    struct sdv_key *keys[SDV_UPTANE_ECUS_MAX];
    struct sdv_uptane_ecu ecus[SDV_UPTANE_ECUS_MAX];
    struct sdv_uptane_vehicle uv;
};

static void vehicle_keys_free(struct vehicle_keys *vk)
{
    for (size_t i = 0; i < vk->v.ecu_count && i < SDV_UPTANE_ECUS_MAX; i++)
        sdv_key_destroy(vk->keys[i]);
    sdv_store_vehicle_release(&vk->v);
}

static enum sdv_err vehicle_keys_load(struct sdv_store *st, const char *vin,
                                      struct vehicle_keys *vk, char *errmsg, size_t errmsg_len)
{
    enum sdv_err err;

    memset(vk, 0, sizeof(*vk));
    err = sdv_store_vehicle_get(st, vin, &vk->v);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "%s", sdv_store_errmsg(st));
        return err;
    }
    if (vk->v.ecu_count > SDV_UPTANE_ECUS_MAX) {
        snprintf(errmsg, errmsg_len, "vehicle %s has too many ECUs", vin);
        return SDV_ELIMIT;
    }
    for (size_t i = 0; i < vk->v.ecu_count; i++) {
        const struct sdv_store_ecu *e = &vk->v.ecus[i];
        json_t *j = NULL;

        err = sdv_json_parse(e->public_key, strlen(e->public_key), &j, NULL, 0);
        if (err == SDV_OK)
            err = sdv_key_from_tuf(j, &vk->keys[i]);
        json_decref(j);
        if (err != SDV_OK) {
            snprintf(errmsg, errmsg_len, "the stored key of ECU %s is unusable: %s", e->serial,
                     sdv_strerror(err));
            return err;
        }
        vk->ecus[i] = (struct sdv_uptane_ecu){e->serial, e->hardware_id, vk->keys[i], 0};
        if (e->is_primary)
            vk->primary_key = vk->keys[i];
    }
    vk->uv.vin = vk->v.vin;
    vk->uv.primary_ecu_serial = vk->v.primary_ecu_serial;
    vk->uv.primary_key = vk->primary_key;
    vk->uv.ecus = vk->ecus;
    vk->uv.ecu_count = vk->v.ecu_count;
    return SDV_OK;
}

/* report_counter of serial's report inside a stored (verified) manifest; -1 if unreadable. */
static int64_t stored_report_counter(const char *raw, const char *serial)
{
    json_t *j = NULL, *c;
    int64_t v = -1;

    if (sdv_json_parse(raw, strlen(raw), &j, NULL, 0) != SDV_OK)
        return -1;
    c = json_object_get(
            json_object_get(json_object_get(json_object_get(json_object_get(j, "signed"),
                                                            "ecu_version_reports"),
                                            serial),
                            "signed"),
            "report_counter");
    if (json_is_integer(c))
        v = json_integer_value(c);
    json_decref(j);
    return v;
}

/*
 * Checks every report of m against the ECU's earlier verified reports. Returns SDV_OK, or
 * SDV_EINVAL with the reason in why and the rule ("NONCE", "REPLAY") in *rule, or a store error
 * (detail in sdv_store_errmsg).
 */
static enum sdv_err replay_check(struct sdv_store *st, const struct sdv_uptane_manifest *m,
                                 char *why, size_t why_len, const char **rule)
{
    bool latest_seen[SDV_UPTANE_ECUS_MAX] = {false};
    int64_t before = 0;
    size_t scanned = 0;
    enum sdv_err err = SDV_OK;

    while (scanned < SERVER_REPLAY_SCAN_MAX) {
        struct sdv_store_manifest *page = NULL;
        size_t n = 0;

        err = sdv_store_manifest_history(st, m->vin, before, 16, &page, &n);
        if (err != SDV_OK)
            return err;
        for (size_t i = 0; i < n && err == SDV_OK; i++) {
            const struct sdv_store_manifest *old = &page[i];

            before = old->id;
            scanned++;
            if (!old->verified)
                continue;
            for (size_t r = 0; r < m->report_count && err == SDV_OK; r++) {
                const struct sdv_uptane_report *rep = &m->reports[r];

                for (size_t k = 0; k < old->report_count; k++) {
                    const struct sdv_store_ecu_report *o = &old->reports[k];
                    int64_t counter;

                    if (strcmp(o->ecu_serial, rep->ecu_serial) != 0)
                        continue;
                    if (strcmp(o->nonce, rep->nonce_hex) == 0) {
                        snprintf(why, why_len,
                                 "ECU %s: replayed nonce (sent before in manifest "
                                 "%lld)",
                                 rep->ecu_serial, (long long)old->id);
                        *rule = "NONCE";
                        err = SDV_EINVAL;
                        break;
                    }
                    if (latest_seen[r])
                        break;
                    latest_seen[r] = true;
                    counter = stored_report_counter(old->raw, rep->ecu_serial);
                    if (counter >= 0 && rep->report_counter <= (uint64_t)counter) {
                        snprintf(why, why_len,
                                 "ECU %s: report_counter %llu does not increase "
                                 "(the last report had %lld)",
                                 rep->ecu_serial, (unsigned long long)rep->report_counter,
                                 (long long)counter);
                        *rule = "REPLAY";
                        err = SDV_EINVAL;
                    }
                    break;
                }
            }
        }
        sdv_store_manifests_free(page, n);
        if (err != SDV_OK || n < 16)
            break;
    }
    return err;
}

/* Stores the manifest; for an unverified one raw may be unstorable text (not UTF-8): then it
 * is replaced by a note, so the attempt is still on record. */
static enum sdv_err store_manifest(struct sdv_store *st, struct sdv_store_manifest *sm)
{
    enum sdv_err err = sdv_store_manifest_insert(st, sm, NULL);

    if (err == SDV_EINVAL && !sm->verified) {
        sm->raw = "";
        err = sdv_store_manifest_insert(st, sm, NULL);
    }
    return err;
}

void server_h_manifest(void *ctx, struct sdv_httpd_request *req)
{
    struct server *srv = ctx;
    struct sdv_store *st = server_store_get(srv);
    struct vehicle_keys vk;
    struct sdv_uptane_manifest m = {0};
    struct sdv_uptane_err uerr = {0};
    struct sdv_store_manifest sm = {0};
    struct sdv_store_ecu_report reports[SDV_UPTANE_ECUS_MAX];
    char *hashes[SDV_UPTANE_ECUS_MAX] = {NULL};
    char msg[1024], why[700];
    const char *rule = NULL;
    enum sdv_err err;

    err = vehicle_keys_load(st, req->identity, &vk, msg, sizeof(msg));
    if (err == SDV_ENOENT) {
        sdv_httpd_respond_status(req, 403, "unknown vehicle");
        goto out;
    }
    if (err != SDV_OK) {
        server_respond_store_error(req, st, "manifest", err);
        goto out;
    }
    sm.vin = vk.v.vin;
    sm.received_at = server_now();
    sm.raw = req->body != NULL ? (const char *)req->body : "";
    why[0] = '\0';
    err = sdv_uptane_manifest_verify(req->body, req->body_len, &vk.uv, &m, &uerr);
    if (err != SDV_OK) {
        rule = server_rule_name(uerr.rule);
        snprintf(why, sizeof(why), "%s", uerr.msg);
    } else {
        err = replay_check(st, &m, why, sizeof(why), &rule);
        if (err != SDV_OK && err != SDV_EINVAL) {
            server_respond_store_error(req, st, "manifest replay check", err);
            goto out;
        }
    }
    if (rule != NULL) {
        sm.verified = false;
        sm.attack = why;
        err = store_manifest(st, &sm);
        if (err != SDV_OK)
            sdv_logf(&srv->log, SDV_LOG_ERROR, "manifest of %s: cannot store: %s", sm.vin,
                     sdv_store_errmsg(st));
        sdv_logf(&srv->log, SDV_LOG_WARN, "manifest of %s refused: %s (rule %s)", sm.vin, why,
                 rule);
        snprintf(msg, sizeof(msg), "manifest refused: %s", why);
        sdv_httpd_respond_error(req, 400, msg, rule);
        goto out;
    }
    for (size_t i = 0; i < m.report_count; i++) {
        const struct sdv_uptane_report *r = &m.reports[i];
        json_t *h = server_hashes_json(r->hashes, r->hash_count);

        hashes[i] = h != NULL ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(h);
        if (hashes[i] == NULL) {
            sdv_httpd_respond_status(req, 500, "manifest: out of memory");
            goto out;
        }
        reports[i] = (struct sdv_store_ecu_report){
                r->ecu_serial,           r->filepath,       r->length, hashes[i], r->nonce_hex,
                r->latest_verified_time, r->attack_detected};
        if (r->attack_detected[0] != '\0')
            sdv_logf(&srv->log, SDV_LOG_WARN, "vehicle %s ECU %s reports an attack: %s", sm.vin,
                     r->ecu_serial, r->attack_detected);
    }
    sm.verified = true;
    sm.reports = reports;
    sm.report_count = m.report_count;
    err = store_manifest(st, &sm);
    if (err != SDV_OK) {
        server_respond_store_error(req, st, "manifest", err);
        goto out;
    }
    server_install_records_store(srv, st, sm.vin, &m, sm.received_at);
    {
        json_t *ans = json_pack("{s:b}", "accepted", 1);

        sdv_httpd_respond_json(req, 200, ans);
        json_decref(ans);
    }
out:
    for (size_t i = 0; i < SDV_UPTANE_ECUS_MAX && hashes[i] != NULL; i++)
        free(hashes[i]);
    sdv_uptane_manifest_free(&m);
    vehicle_keys_free(&vk);
    server_store_put(srv, st);
}
