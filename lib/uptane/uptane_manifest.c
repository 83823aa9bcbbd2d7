/*
 * uptane_manifest.c - ECU version reports and vehicle version manifests (Uptane 2.x): built and
 * signed on the vehicle, parsed and verified on the server.
 *
 * Both documents are read with exact field sets and strict types: a server that accepts and
 * stores whatever a vehicle sends would let one compromised vehicle fill the store with fields
 * no code checks. Signatures are verified over the canonical JSON of "signed", so the
 * formatting of the bytes on the wire is free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uptane_int.h"

static const char *const report_keys[] = {
        "ecu_serial", "installed_image", "release_counter", "latest_verified_time",
        "nonce",      "attack_detected", "report_counter",  NULL};
static const char *const envelope_keys[] = {"signatures", "signed", NULL};

static void report_clear(struct sdv_uptane_report *r)
{
    for (size_t i = 0; i < r->install_log_count; i++)
        free(r->install_log[i]);
    free(r->install_log);
    r->install_log = NULL;
    r->install_log_count = 0;
}

/* The optional "install_log": an array of at most SDV_UPTANE_INSTALL_LOG_MAX non-empty strings
 * of at most SDV_UPTANE_INSTALL_RECORD_LEN_MAX bytes, copied into r. */
static enum sdv_err install_log_read(const json_t *s, const char *where,
                                     struct sdv_uptane_report *r, struct sdv_uptane_err *e)
{
    const json_t *log = json_object_get(s, "install_log");
    size_t n;

    if (log == NULL)
        return SDV_OK;
    if (!json_is_array(log))
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, where,
                           "version report: \"install_log\" is not an array");
    n = json_array_size(log);
    if (n > SDV_UPTANE_INSTALL_LOG_MAX)
        return uptane_fail(e, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, where,
                           "version report: %zu install log records, more than %d", n,
                           SDV_UPTANE_INSTALL_LOG_MAX);
    r->install_log = calloc(n + 1, sizeof(*r->install_log));
    if (r->install_log == NULL)
        return uptane_fail_lib(e, SDV_ENOMEM, where, "version report");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(log, i);

        if (!json_is_string(v) || json_string_length(v) == 0 ||
            strlen(json_string_value(v)) != json_string_length(v))
            return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, where,
                               "version report: install_log[%zu] is not a non-empty string", i);
        if (json_string_length(v) > SDV_UPTANE_INSTALL_RECORD_LEN_MAX)
            return uptane_fail(e, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, where,
                               "version report: install_log[%zu] is longer than %u bytes", i,
                               SDV_UPTANE_INSTALL_RECORD_LEN_MAX);
        r->install_log[i] = strdup(json_string_value(v));
        if (r->install_log[i] == NULL)
            return uptane_fail_lib(e, SDV_ENOMEM, where, "version report");
        r->install_log_count++;
    }
    return SDV_OK;
}

/* Reads a report envelope into r, without its signature. where is the serial the caller knows
 * the report by (the manifest key), or NULL while building. */
static enum sdv_err report_read(const json_t *env, const char *where, struct sdv_uptane_report *r,
                                struct sdv_uptane_err *e)
{
    const json_t *s, *img, *fileinfo;
    const char *str;
    enum sdv_err err;
    uint8_t nonce[SDV_UPTANE_NONCE_LEN_MAX];
    size_t nonce_len;

    report_clear(r);
    memset(r, 0, sizeof(*r));
    if (!json_is_object(env))
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, where,
                           "version report: not an object");
    err = uptane_exact_keys(env, envelope_keys, "version report", where, e);
    if (err == SDV_OK)
        err = uptane_signatures_shape(json_object_get(env, "signatures"), "version report", where,
                                      e);
    if (err == SDV_OK)
        err = uptane_get_object(env, "signed", "version report", where, e, &s);
    if (err == SDV_OK) {
        /* "install_log" is optional: checked without it, then on its own. */
        json_t *core = json_copy((json_t *)s);

        if (core == NULL)
            return uptane_fail_lib(e, SDV_ENOMEM, where, "version report");
        json_object_del(core, "install_log");
        err = uptane_exact_keys(core, report_keys, "version report", where, e);
        json_decref(core);
    }
    if (err == SDV_OK)
        err = uptane_get_string(s, "ecu_serial", SDV_UPTANE_ID_LEN_MAX, "version report", where, e,
                                &str);
    if (err != SDV_OK)
        return err;
    if (str[0] == '\0')
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, where,
                           "version report: \"ecu_serial\" is empty");
    uptane_copy_str(r->ecu_serial, sizeof(r->ecu_serial), str);
    if (where == NULL)
        where = r->ecu_serial;

    err = uptane_get_object(s, "installed_image", "version report", where, e, &img);
    if (err == SDV_OK)
        err = uptane_exact_keys(img, (const char *const[]){"filepath", "fileinfo", NULL},
                                "version report: installed_image", where, e);
    if (err == SDV_OK)
        err = uptane_get_string(img, "filepath", SDV_TUF_NAME_LEN_MAX,
                                "version report: installed_image", where, e, &str);
    if (err == SDV_OK)
        uptane_copy_str(r->filepath, sizeof(r->filepath), str);
    if (err == SDV_OK)
        err = uptane_get_object(img, "fileinfo", "version report: installed_image", where, e,
                                &fileinfo);
    if (err == SDV_OK)
        err = uptane_exact_keys(fileinfo, (const char *const[]){"length", "hashes", NULL},
                                "version report: fileinfo", where, e);
    if (err == SDV_OK)
        err = uptane_get_uint(fileinfo, "length", "version report: fileinfo", where, e, &r->length);
    if (err == SDV_OK)
        err = uptane_hashes_parse(json_object_get(fileinfo, "hashes"), "version report: fileinfo",
                                  where, e, r->hashes, &r->hash_count);
    if (err == SDV_OK && uptane_hash_find(r->hashes, r->hash_count, SDV_HASH_SHA256) < 0)
        err = uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, where,
                          "version report: fileinfo has no sha256 hash");
    if (err == SDV_OK)
        err = uptane_get_uint(s, "release_counter", "version report", where, e,
                              &r->release_counter);
    if (err == SDV_OK)
        err = uptane_get_uint(s, "report_counter", "version report", where, e, &r->report_counter);
    if (err == SDV_OK)
        err = uptane_get_string(s, "latest_verified_time", 64, "version report", where, e, &str);
    if (err == SDV_OK && sdv_time_parse(str, &r->latest_verified_time) != SDV_OK)
        err = uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, where,
                          "version report: \"latest_verified_time\" is not an RFC 3339 time");
    if (err == SDV_OK)
        err = uptane_get_string(s, "attack_detected", SDV_UPTANE_ATTACK_LEN_MAX, "version report",
                                where, e, &str);
    if (err == SDV_OK)
        uptane_copy_str(r->attack_detected, sizeof(r->attack_detected), str);
    if (err == SDV_OK)
        err = install_log_read(s, where, r, e);
    if (err != SDV_OK)
        return err;

    str = json_string_value(json_object_get(s, "nonce"));
    if (str == NULL || json_string_length(json_object_get(s, "nonce")) > 2 * sizeof(nonce) ||
        sdv_hex_decode(str, strlen(str), nonce, sizeof(nonce), &nonce_len) != SDV_OK ||
        nonce_len < SDV_UPTANE_NONCE_LEN_MIN)
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_NONCE, where,
                           "version report: \"nonce\" must be hex of %d to %d bytes",
                           SDV_UPTANE_NONCE_LEN_MIN, SDV_UPTANE_NONCE_LEN_MAX);
    /* Stored in one spelling so that replay detection compares like with like. */
    sdv_hex_encode(nonce, nonce_len, r->nonce_hex);
    r->nonce_len = nonce_len;
    return SDV_OK;
}

static enum sdv_err check_report_info(const struct sdv_uptane_report_info *in,
                                      struct sdv_uptane_err *e)
{
    const char *ecu = in->ecu_serial;

    if (!uptane_id_ok(ecu, SDV_UPTANE_ID_LEN_MAX))
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                           "version report: no valid ECU serial");
    if (!uptane_id_ok(in->installed.filepath, SDV_TUF_NAME_LEN_MAX) ||
        in->installed.length > INT64_MAX || in->installed.release_counter > INT64_MAX ||
        in->report_counter > INT64_MAX)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, ecu,
                           "version report: invalid path, length or counter");
    if (uptane_hash_find(in->installed.hashes, in->installed.hash_count, SDV_HASH_SHA256) < 0)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, ecu,
                           "version report: the installed image needs a sha256 hash");
    if (in->attack_detected != NULL &&
        strnlen(in->attack_detected, SDV_UPTANE_ATTACK_LEN_MAX + 1) > SDV_UPTANE_ATTACK_LEN_MAX)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_TOO_BIG, ecu,
                           "version report: attack description longer than %d bytes",
                           SDV_UPTANE_ATTACK_LEN_MAX);
    if (in->install_log_count > SDV_UPTANE_INSTALL_LOG_MAX ||
        (in->install_log_count > 0 && in->install_log == NULL))
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_TOO_BIG, ecu,
                           "version report: more than %d install log records",
                           SDV_UPTANE_INSTALL_LOG_MAX);
    for (size_t i = 0; i < in->install_log_count; i++) {
        size_t n = in->install_log[i] != NULL
                           ? strnlen(in->install_log[i], SDV_UPTANE_INSTALL_RECORD_LEN_MAX + 1)
                           : 0;

        if (n == 0 || n > SDV_UPTANE_INSTALL_RECORD_LEN_MAX)
            return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_TOO_BIG, ecu,
                               "version report: install log record %zu is empty or longer than "
                               "%u bytes",
                               i, SDV_UPTANE_INSTALL_RECORD_LEN_MAX);
    }
    return SDV_OK;
}

enum sdv_err sdv_uptane_report_build(const struct sdv_uptane_report_info *in,
                                     const struct sdv_key *ecu_key, sdv_uptane_random_fn random,
                                     void *random_ud, struct sdv_buf *out, char *nonce_hex,
                                     struct sdv_uptane_err *e)
{
    uint8_t nonce[SDV_UPTANE_NONCE_LEN];
    char hex[2 * SDV_UPTANE_NONCE_LEN + 1], when[SDV_TIME_STR_LEN];
    json_t *hashes = NULL, *env = NULL;
    const char *ecu;
    enum sdv_err err;

    uptane_err_clear(e);
    if (in == NULL || out == NULL || random == NULL)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                           "version report: missing argument");
    err = check_report_info(in, e);
    if (err != SDV_OK)
        return err;
    ecu = in->ecu_serial;
    if (sdv_time_format(in->latest_verified_time, when) != SDV_OK)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, ecu,
                           "version report: latest verified time out of range");
    if (ecu_key == NULL || !sdv_key_has_private(ecu_key))
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_KEY, ecu,
                           "version report: the ECU key is missing or has no private half");
    err = uptane_hashes_json(in->installed.hashes, in->installed.hash_count, "version report", ecu,
                             e, &hashes);
    if (err != SDV_OK)
        return err;
    err = random(random_ud, nonce, sizeof(nonce));
    if (err != SDV_OK) {
        uptane_fail(e, err, SDV_UPTANE_RULE_NONCE, ecu, "the random source failed: %s",
                    sdv_strerror(err));
        goto out;
    }
    sdv_hex_encode(nonce, sizeof(nonce), hex);
    env = json_pack("{s:{s:s, s:{s:s, s:{s:I, s:O}}, s:I, s:s, s:s, s:s, s:I}, s:[]}", "signed",
                    "ecu_serial", ecu, "installed_image", "filepath", in->installed.filepath,
                    "fileinfo", "length", (json_int_t)in->installed.length, "hashes", hashes,
                    "release_counter", (json_int_t)in->installed.release_counter,
                    "latest_verified_time", when, "nonce", hex, "attack_detected",
                    in->attack_detected == NULL ? "" : in->attack_detected, "report_counter",
                    (json_int_t)in->report_counter, "signatures");
    if (env == NULL) {
        err = uptane_fail_lib(e, SDV_ENOMEM, ecu, "version report");
        goto out;
    }
    if (in->install_log_count > 0) {
        json_t *log = json_array();

        for (size_t i = 0; log != NULL && i < in->install_log_count; i++)
            if (json_array_append_new(log, json_string(in->install_log[i])) != 0) {
                json_decref(log);
                log = NULL;
            }
        if (log == NULL ||
            json_object_set_new(json_object_get(env, "signed"), "install_log", log) != 0) {
            /* json_string() refuses text that is not UTF-8: a log line never is. */
            err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, ecu,
                              "version report: an install log record is not UTF-8 text");
            goto out;
        }
    }
    err = uptane_sign(env, ecu_key, "version report", ecu, e);
    if (err == SDV_OK) {
        err = uptane_dump_compact(env, out);
        if (err != SDV_OK)
            uptane_fail_lib(e, err, ecu, "version report");
    }
    if (err == SDV_OK && nonce_hex != NULL)
        memcpy(nonce_hex, hex, sizeof(hex));
out:
    json_decref(hashes);
    json_decref(env);
    return err;
}

enum sdv_err sdv_uptane_manifest_build(const char *vin, const char *primary_ecu_serial,
                                       const struct sdv_uptane_report_bytes *reports,
                                       size_t report_count, uint64_t manifest_counter,
                                       const struct sdv_key *primary_key, struct sdv_buf *out,
                                       struct sdv_uptane_err *e)
{
    json_t *env = NULL, *map = NULL;
    struct sdv_uptane_report *r = NULL;
    struct sdv_buf buf;
    enum sdv_err err = SDV_OK;

    uptane_err_clear(e);
    sdv_buf_init(&buf, SDV_UPTANE_MANIFEST_LEN_MAX);
    if (out == NULL || (report_count > 0 && reports == NULL) ||
        !uptane_id_ok(vin, SDV_UPTANE_VIN_LEN_MAX) ||
        !uptane_id_ok(primary_ecu_serial, SDV_UPTANE_ID_LEN_MAX) || manifest_counter > INT64_MAX)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                           "manifest: missing argument, bad VIN, serial or counter");
    if (report_count > SDV_UPTANE_ECUS_MAX)
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_TOO_BIG, NULL,
                           "manifest: %zu reports, more than %d", report_count,
                           SDV_UPTANE_ECUS_MAX);
    if (primary_key == NULL || !sdv_key_has_private(primary_key))
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_KEY, primary_ecu_serial,
                           "manifest: the primary key is missing or has no private half");
    map = json_object();
    r = calloc(1, sizeof(*r));
    if (map == NULL || r == NULL) {
        err = uptane_fail_lib(e, SDV_ENOMEM, NULL, "manifest");
        goto out;
    }
    for (size_t i = 0; i < report_count && err == SDV_OK; i++) {
        json_t *doc;

        err = uptane_parse_object(reports[i].data, reports[i].len, SDV_UPTANE_MANIFEST_LEN_MAX,
                                  "version report", e, &doc);
        if (err != SDV_OK)
            break;
        err = report_read(doc, NULL, r, e);
        if (err == SDV_OK && json_object_get(map, r->ecu_serial) != NULL)
            err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_DUPLICATE_ECU, r->ecu_serial,
                              "manifest: two version reports of this ECU");
        if (err == SDV_OK && json_object_set(map, r->ecu_serial, doc) != 0)
            err = uptane_fail_lib(e, SDV_ENOMEM, r->ecu_serial, "manifest");
        json_decref(doc);
        report_clear(r);
    }
    if (err != SDV_OK)
        goto out;
    env = json_pack("{s:{s:s, s:s, s:O, s:I}, s:[]}", "signed", "vin", vin, "primary_ecu_serial",
                    primary_ecu_serial, "ecu_version_reports", map, "manifest_counter",
                    (json_int_t)manifest_counter, "signatures");
    if (env == NULL) {
        err = uptane_fail_lib(e, SDV_ENOMEM, NULL, "manifest");
        goto out;
    }
    err = uptane_sign(env, primary_key, "manifest", primary_ecu_serial, e);
    if (err == SDV_OK) {
        err = uptane_dump_compact(env, &buf);
        if (err == SDV_OK)
            err = sdv_buf_append(out, buf.data, buf.len);
        if (err != SDV_OK)
            uptane_fail_lib(e, err, NULL, "manifest");
    }
out:
    sdv_buf_free(&buf);
    if (r != NULL)
        report_clear(r);
    free(r);
    json_decref(map);
    json_decref(env);
    return err;
}

void sdv_uptane_manifest_free(struct sdv_uptane_manifest *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; m->reports != NULL && i < m->report_count + 1; i++)
        report_clear(&m->reports[i]);
    free(m->reports);
    memset(m, 0, sizeof(*m));
}

static const struct sdv_uptane_ecu *vehicle_ecu(const struct sdv_uptane_vehicle *v,
                                                const char *serial)
{
    for (size_t i = 0; i < v->ecu_count; i++)
        if (v->ecus[i].serial != NULL && strcmp(v->ecus[i].serial, serial) == 0)
            return &v->ecus[i];
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One valid signature by key on env, else SIGNATURE naming ecu and what. */
static enum sdv_err verify_one(const json_t *env, const struct sdv_key *key, const char *what,
                               const char *ecu, struct sdv_uptane_err *e)
{
    size_t valid = 0;
    enum sdv_err err = uptane_count_signatures(env, &key, 1, &valid);

    if (err == SDV_EUNSUPPORTED)
        return uptane_fail(e, SDV_EPARSE, SDV_UPTANE_RULE_MALFORMED, ecu,
                           "%s: \"signed\" has no canonical JSON form (a real number?)", what);
    if (err != SDV_OK)
        return uptane_fail_lib(e, err, ecu, what);
    if (valid == 0)
        return uptane_fail(e, SDV_ESIG, SDV_UPTANE_RULE_SIGNATURE, ecu,
                           "%s: no valid signature by the registered key", what);
    return SDV_OK;
}

static enum sdv_err verify_reports(const json_t *map, const struct sdv_uptane_vehicle *v,
                                   struct sdv_uptane_manifest *m, struct sdv_uptane_err *e)
{
    const char **serials;
    const char *k;
    const json_t *val;
    size_t n = 0;
    enum sdv_err err = SDV_OK;

    if (json_object_size(map) > SDV_UPTANE_ECUS_MAX)
        return uptane_fail(e, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, NULL,
                           "manifest: %zu version reports, more than %d", json_object_size(map),
                           SDV_UPTANE_ECUS_MAX);
    serials = calloc(json_object_size(map) + 1, sizeof(*serials));
    m->reports = calloc(json_object_size(map) + 1, sizeof(*m->reports));
    if (serials == NULL || m->reports == NULL) {
        free(serials);
        return uptane_fail_lib(e, SDV_ENOMEM, NULL, "manifest");
    }
    json_object_foreach((json_t *)map, k, val)
    {
        serials[n++] = k;
    }
    qsort(serials, n, sizeof(*serials), cmp_str);
    for (size_t i = 0; i < n && err == SDV_OK; i++) {
        const char *serial = serials[i];
        const json_t *env = json_object_get(map, serial);
        const struct sdv_uptane_ecu *ecu;
        struct sdv_uptane_report *r = &m->reports[i];

        if (strlen(serial) == 0 || strlen(serial) > SDV_UPTANE_ID_LEN_MAX) {
            err = uptane_fail(e, SDV_ETOOBIG, SDV_UPTANE_RULE_TOO_BIG, NULL,
                              "manifest: an ECU serial is empty or longer than %d bytes",
                              SDV_UPTANE_ID_LEN_MAX);
            break;
        }
        ecu = vehicle_ecu(v, serial);
        if (ecu == NULL) {
            err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_UNKNOWN_ECU, serial,
                              "vehicle %s has no such ECU", v->vin);
            break;
        }
        if (ecu->key == NULL) {
            err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_KEY, serial,
                              "no key is registered for this ECU");
            break;
        }
        err = report_read(env, serial, r, e);
        if (err != SDV_OK)
            break;
        if (strcmp(r->ecu_serial, serial) != 0) {
            err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_SERIAL_MISMATCH, serial,
                              "the report filed under it is the report of ECU %s", r->ecu_serial);
            break;
        }
        err = verify_one(env, ecu->key, "version report", serial, e);
        m->report_count++;
    }
    free(serials);
    return err;
}

enum sdv_err sdv_uptane_manifest_verify(const void *data, size_t len,
                                        const struct sdv_uptane_vehicle *v,
                                        struct sdv_uptane_manifest *out, struct sdv_uptane_err *e)
{
    static const char *const manifest_keys[] = {"vin", "primary_ecu_serial", "ecu_version_reports",
                                                "manifest_counter", NULL};
    json_t *doc = NULL;
    const json_t *s, *map;
    const char *vin, *primary;
    enum sdv_err err;

    uptane_err_clear(e);
    if (out == NULL || v == NULL || !uptane_id_ok(v->vin, SDV_UPTANE_VIN_LEN_MAX) ||
        !uptane_id_ok(v->primary_ecu_serial, SDV_UPTANE_ID_LEN_MAX) || v->primary_key == NULL ||
        (v->ecu_count > 0 && v->ecus == NULL))
        return uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_ARGUMENT, NULL,
                           "manifest: missing output or incomplete vehicle (VIN, primary serial "
                           "and key)");
    memset(out, 0, sizeof(*out));
    err = uptane_parse_object(data, len, SDV_UPTANE_MANIFEST_LEN_MAX, "manifest", e, &doc);
    if (err != SDV_OK)
        return err;
    err = uptane_exact_keys(doc, envelope_keys, "manifest", NULL, e);
    if (err == SDV_OK)
        err = uptane_signatures_shape(json_object_get(doc, "signatures"), "manifest", NULL, e);
    if (err == SDV_OK)
        err = uptane_get_object(doc, "signed", "manifest", NULL, e, &s);
    if (err == SDV_OK)
        err = uptane_exact_keys(s, manifest_keys, "manifest", NULL, e);
    if (err == SDV_OK)
        err = uptane_get_string(s, "vin", SDV_UPTANE_VIN_LEN_MAX, "manifest", NULL, e, &vin);
    if (err == SDV_OK)
        err = uptane_get_string(s, "primary_ecu_serial", SDV_UPTANE_ID_LEN_MAX, "manifest", NULL, e,
                                &primary);
    if (err == SDV_OK)
        err = uptane_get_uint(s, "manifest_counter", "manifest", NULL, e, &out->manifest_counter);
    if (err == SDV_OK)
        err = uptane_get_object(s, "ecu_version_reports", "manifest", NULL, e, &map);
    if (err != SDV_OK)
        goto out;
    /* The primary's signature first: nothing below is worth reading without it. */
    err = verify_one(doc, v->primary_key, "manifest", v->primary_ecu_serial, e);
    if (err != SDV_OK)
        goto out;
    if (strcmp(vin, v->vin) != 0) {
        err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_VIN, NULL,
                          "manifest: signed for VIN \"%.64s\", expected %s", vin, v->vin);
        goto out;
    }
    if (strcmp(primary, v->primary_ecu_serial) != 0) {
        err = uptane_fail(e, SDV_EINVAL, SDV_UPTANE_RULE_PRIMARY, primary,
                          "manifest: names primary ECU \"%s\", the vehicle's is %s", primary,
                          v->primary_ecu_serial);
        goto out;
    }
    uptane_copy_str(out->vin, sizeof(out->vin), vin);
    uptane_copy_str(out->primary_ecu_serial, sizeof(out->primary_ecu_serial), primary);
    err = verify_reports(map, v, out, e);
out:
    json_decref(doc);
    if (err != SDV_OK)
        sdv_uptane_manifest_free(out);
    return err;
}
