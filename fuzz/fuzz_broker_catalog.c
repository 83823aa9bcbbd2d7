/*
 * fuzz_broker_catalog.c - feeds untrusted bytes to the VSS catalog loader as an overlay on a
 * small base catalog (OEM overlays come from tooling outside the broker, so the loader treats
 * every file as untrusted).
 *
 * Checked properties: a refused overlay leaves the catalog exactly as it was (count, paths,
 * datatypes, bounds) and says why, prefixed with the file name; an accepted one keeps ids dense
 * and every path findable, every default passes the signal's own check, every leaf matches its
 * own path, and loading the same overlay again changes nothing; no crash or leak under the
 * sanitizers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/broker.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base[] =
        "{\"Vehicle\": {\"type\": \"branch\", \"children\": {"
        "\"Speed\": {\"type\": \"sensor\", \"datatype\": \"float\", \"unit\": \"km/h\"},"
        "\"Cabin\": {\"type\": \"branch\", \"children\": {"
        "  \"Fan\": {\"type\": \"actuator\", \"datatype\": \"uint8\", \"min\": 0, \"max\": 100},"
        "  \"Mode\": {\"type\": \"actuator\", \"datatype\": \"string\", "
        "            \"allowed\": [\"A\", \"B\"], \"default\": \"A\"},"
        "  \"Seats\": {\"type\": \"attribute\", \"datatype\": \"uint8[]\", \"default\": [2, 3]}"
        "}}}}}";

/* A cheap fingerprint of everything a refused load must leave alone. */
static uint64_t fingerprint(const struct sdv_broker_catalog *cat)
{
    uint64_t h = 1469598103934665603ull;
    uint32_t id, n = sdv_broker_catalog_count(cat);

    for (id = 0; id < n; id++) {
        const struct sdv_broker_signal *s = sdv_broker_catalog_signal(cat, id);
        const char *p;

        for (p = s->path; *p != '\0'; p++)
            h = (h ^ (uint8_t)*p) * 1099511628211ull;
        h = (h ^ (uint64_t)s->datatype) * 1099511628211ull;
        h = (h ^ (uint64_t)s->kind) * 1099511628211ull;
        h = (h ^ (uint64_t)s->allowed_count) * 1099511628211ull;
        h = (h ^ (uint64_t)s->min.type) * 1099511628211ull;
        h = (h ^ (uint64_t)s->max.v.u) * 1099511628211ull;
        h = (h ^ (s->unit != NULL ? strlen(s->unit) : 99)) * 1099511628211ull;
    }
    return h;
}

static void check_consistent(const struct sdv_broker_catalog *cat)
{
    uint32_t id, n = sdv_broker_catalog_count(cat);

    for (id = 0; id < n; id++) {
        const struct sdv_broker_signal *s = sdv_broker_catalog_signal(cat, id);
        uint32_t ids[1];
        size_t found = 0;

        if (s == NULL || s->id != id || sdv_broker_catalog_find(cat, s->path, strlen(s->path)) != s)
            abort();
        if (s->default_value.type != SDV_BROKER_DT_NONE &&
            sdv_broker_signal_check(s, &s->default_value, NULL, 0) != SDV_OK)
            abort();
        if (sdv_broker_catalog_match(cat, s->path, strlen(s->path), ids, 1, &found) != SDV_OK ||
            found != 1 || ids[0] != id)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdv_broker_catalog *cat = NULL;
    uint64_t before;
    uint32_t count;
    enum sdv_err rc;

    if (sdv_broker_catalog_create(NULL, &cat) != SDV_OK)
        return 0;
    if (sdv_broker_catalog_load_json(cat, base, strlen(base), "base") != SDV_OK)
        abort();
    before = fingerprint(cat);
    count = sdv_broker_catalog_count(cat);
    rc = sdv_broker_catalog_load_json(cat, data, size, "fuzz");
    if (rc != SDV_OK) {
        if (rc != SDV_ENOMEM && strncmp(sdv_broker_catalog_errmsg(cat), "fuzz", 4) != 0)
            abort();
        if (sdv_broker_catalog_count(cat) != count || fingerprint(cat) != before)
            abort();
        check_consistent(cat);
    } else {
        check_consistent(cat);
        before = fingerprint(cat);
        count = sdv_broker_catalog_count(cat);
        if (sdv_broker_catalog_load_json(cat, data, size, "again") != SDV_OK ||
            sdv_broker_catalog_count(cat) != count || fingerprint(cat) != before)
            abort();
    }
    sdv_broker_catalog_destroy(cat);
    return 0;
}
