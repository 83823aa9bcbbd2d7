/*
 * server_install.c - install records from the vehicles' version reports (issue 5): each ECU's
 * hash-chained install log (sdv/install.h) travels in its signed report ("install_log", one
 * exact log line per string). The server checks each record's shape and its link to the
 * previous record (the SHA-256 of the previous line's bytes), stores it (lib/store), and shows
 * them in the vehicle views.
 *
 * The report's signature already says the ECU wrote these bytes; the chain says whether records
 * went missing or were rewritten between two reports. A record whose link does not match is
 * still stored, marked chain_verified = false, as evidence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* Records shown in the vehicle view; the rest through /install-records paging. */
#define SERVER_INSTALL_VIEW_MAX 20u

static const char *str_field(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

/* Lowercase hex SHA-256 of text into hex (65 bytes). */
static enum sdv_err sha256_hex(const char *text, char *hex)
{
    uint8_t d[32];
    enum sdv_err err = sdv_hash_buf(SDV_HASH_SHA256, text, strlen(text), d);

    if (err == SDV_OK)
        sdv_hex_encode(d, sizeof(d), hex);
    return err;
}

/* Parses one record line into r (strings borrowed from *doc, which the caller frees). */
static bool record_parse(const char *line, json_t **doc, struct sdv_store_install_record *r,
                         const char **prev, char *why, size_t why_len)
{
    static const char *const results[] = {"committed", "rolled-back", "failed"};
    const json_t *seq;
    bool known = false;

    if (sdv_json_parse(line, strlen(line), doc, NULL, 0) != SDV_OK || !json_is_object(*doc)) {
        snprintf(why, why_len, "not a JSON object");
        return false;
    }
    seq = json_object_get(*doc, "seq");
    if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
        snprintf(why, why_len, "\"seq\" is not an integer >= 1");
        return false;
    }
    r->seq = (uint64_t)json_integer_value(seq);
    *prev = json_string_value(json_object_get(*doc, "prev"));
    if (*prev == NULL || strlen(*prev) != 64) {
        snprintf(why, why_len, "record %llu: \"prev\" is not a SHA-256 in hex",
                 (unsigned long long)r->seq);
        return false;
    }
    if (!json_is_string(json_object_get(*doc, "time")) ||
        !json_is_string(json_object_get(*doc, "result"))) {
        snprintf(why, why_len, "record %llu: \"time\" and \"result\" must be strings",
                 (unsigned long long)r->seq);
        return false;
    }
    r->recorded_at = str_field(*doc, "time");
    r->result = str_field(*doc, "result");
    for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
        known = known || strcmp(r->result, results[i]) == 0;
    if (!known) {
        snprintf(why, why_len, "record %llu: unknown result \"%.32s\"", (unsigned long long)r->seq,
                 r->result);
        return false;
    }
    r->version_before = str_field(*doc, "version_before");
    r->version_after = str_field(*doc, "version_after");
    r->reason = str_field(*doc, "reason");
    r->record = line;
    return true;
}

/* Does prev link the record to the one before it: the previous line of this report, else the
 * stored record seq - 1, else (seq 1) 64 zeros? */
static bool chain_ok(struct sdv_store *st, const char *ecu, uint64_t seq, const char *prev,
                     const char *prev_line)
{
    struct sdv_store_install_record before;
    char hex[65];
    bool ok = false;

    if (seq == 1)
        return strspn(prev, "0") == 64;
    if (prev_line != NULL)
        return sha256_hex(prev_line, hex) == SDV_OK && strcmp(hex, prev) == 0;
    if (sdv_store_install_record_get(st, ecu, seq - 1, &before) != SDV_OK)
        return false;
    ok = sha256_hex(before.record, hex) == SDV_OK && strcmp(hex, prev) == 0;
    sdv_store_install_record_release(&before);
    return ok;
}

void server_install_records_store(struct server *srv, struct sdv_store *st, const char *vin,
                                  const struct sdv_uptane_manifest *m, int64_t now)
{
    for (size_t i = 0; i < m->report_count; i++) {
        const struct sdv_uptane_report *rep = &m->reports[i];
        const char *prev_line = NULL;
        uint64_t prev_seq = 0;

        for (size_t k = 0; k < rep->install_log_count; k++) {
            struct sdv_store_install_record r = {0};
            const char *line = rep->install_log[k], *prev = NULL;
            json_t *doc = NULL;
            char why[256] = "";
            bool stored = false;
            enum sdv_err err;

            if (!record_parse(line, &doc, &r, &prev, why, sizeof(why))) {
                sdv_logf(&srv->log, SDV_LOG_WARN, "vehicle %s ECU %s: install record skipped: %s",
                         vin, rep->ecu_serial, why);
                json_decref(doc);
                prev_line = NULL;
                continue;
            }
            r.vin = vin;
            r.ecu_serial = rep->ecu_serial;
            r.received_at = now;
            r.chain_verified =
                    chain_ok(st, rep->ecu_serial, r.seq, prev,
                             prev_line != NULL && prev_seq + 1 == r.seq ? prev_line : NULL);
            err = sdv_store_install_record_put(st, &r, &stored);
            if (err != SDV_OK)
                sdv_logf(&srv->log, SDV_LOG_WARN,
                         "vehicle %s ECU %s: install record %llu not stored: %s", vin,
                         rep->ecu_serial, (unsigned long long)r.seq, sdv_store_errmsg(st));
            else if (stored)
                sdv_logf(&srv->log, r.result[0] == 'c' ? SDV_LOG_INFO : SDV_LOG_WARN,
                         "vehicle %s ECU %s: install %s %s -> %s%s%s%s", vin, rep->ecu_serial,
                         r.result, r.version_before, r.version_after, r.reason[0] ? ": " : "",
                         r.reason, r.chain_verified ? "" : " (hash chain broken)");
            prev_line = line;
            prev_seq = r.seq;
            json_decref(doc);
        }
    }
}

json_t *server_install_record_json(const struct sdv_store_install_record *r)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "ecu_serial", r->ecu_serial,
                     "seq", (json_int_t)r->seq, "time", r->recorded_at, "result", r->result,
                     "version_before", r->version_before, "version_after", r->version_after,
                     "reason", r->reason, "chain_verified", r->chain_verified, "received_at",
                     server_time_json(r->received_at));
}

enum sdv_err server_install_records_json(struct sdv_store *st, const char *vin, int64_t before,
                                         size_t limit, json_t **list, int64_t *next)
{
    struct sdv_store_install_record *rs = NULL;
    size_t n = 0;
    enum sdv_err err;

    *list = NULL;
    *next = 0;
    if (limit == 0)
        limit = SERVER_INSTALL_VIEW_MAX;
    err = sdv_store_install_record_list(st, vin, before, limit, &rs, &n);
    if (err != SDV_OK)
        return err;
    *list = json_array();
    for (size_t i = 0; *list != NULL && i < n; i++)
        json_array_append_new(*list, server_install_record_json(&rs[i]));
    if (n == limit && n > 0)
        *next = rs[n - 1].id;
    sdv_store_install_records_free(rs, n);
    return *list != NULL ? SDV_OK : SDV_ENOMEM;
}
