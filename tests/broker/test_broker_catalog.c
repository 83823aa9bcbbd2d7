/*
 * test_broker_catalog.c - the VSS catalog: the full VSS 6.0 release file from the source tree
 * (1,263 leaves, known signals with their unit, min/max, allowed values, defaults, pattern),
 * lookups by path and id, path patterns, write checks against every kind of bound, OEM overlays
 * (add, override, refused as a whole) and refused catalogs with their messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/broker.h>

#ifndef SDV_VSS_JSON
#error "SDV_VSS_JSON must name data/vss/vss_release_6.0.json"
#endif

static struct sdv_broker_catalog *load_vss(void)
{
    struct sdv_broker_catalog *cat = NULL;

    assert_int_equal(sdv_broker_catalog_create(NULL, &cat), SDV_OK);
    if (sdv_broker_catalog_load_file(cat, SDV_VSS_JSON) != SDV_OK)
        fail_msg("%s", sdv_broker_catalog_errmsg(cat));
    return cat;
}

static const struct sdv_broker_signal *find(const struct sdv_broker_catalog *cat, const char *p)
{
    const struct sdv_broker_signal *s = sdv_broker_catalog_find(cat, p, strlen(p));

    if (s == NULL)
        fail_msg("%s not found", p);
    return s;
}

static void test_vss_counts(void **state)
{
    struct sdv_broker_catalog *cat = load_vss();
    uint32_t n = sdv_broker_catalog_count(cat), id, kinds[4] = {0};

    (void)state;
    /* The VSS 6.0 release: 1,263 leaves (490 sensors, 643 actuators, 130 attributes). */
    assert_int_equal(n, 1263);
    for (id = 0; id < n; id++) {
        const struct sdv_broker_signal *s = sdv_broker_catalog_signal(cat, id);

        assert_int_equal(s->id, id);
        assert_ptr_equal(sdv_broker_catalog_find(cat, s->path, strlen(s->path)), s);
        assert_true(s->kind >= SDV_BROKER_KIND_SENSOR && s->kind <= SDV_BROKER_KIND_ATTRIBUTE);
        kinds[s->kind]++;
    }
    assert_int_equal(kinds[SDV_BROKER_KIND_SENSOR], 490);
    assert_int_equal(kinds[SDV_BROKER_KIND_ACTUATOR], 643);
    assert_int_equal(kinds[SDV_BROKER_KIND_ATTRIBUTE], 130);
    /* Ids follow the file's order. */
    assert_string_equal(sdv_broker_catalog_signal(cat, 0)->path, "Vehicle.ADAS.ABS.IsEnabled");
    assert_string_equal(sdv_broker_catalog_signal(cat, 1262)->path,
                        "Vehicle.WidthIncludingMirrors");
    assert_null(sdv_broker_catalog_signal(cat, 1263));
    /* Branches are not signals; prefixes of names are nothing. */
    assert_null(sdv_broker_catalog_find(cat, "Vehicle.Cabin", 13));
    assert_null(sdv_broker_catalog_find(cat, "Vehicle.Spee", 12));
    assert_null(sdv_broker_catalog_find(cat, "Vehicle.Speed.X", 15));
    /* Length-delimited lookups (paths straight from a frame). */
    assert_non_null(sdv_broker_catalog_find(cat, "Vehicle.SpeedXYZ", 13));
    sdv_broker_catalog_destroy(cat);
}

static void test_vss_known_signals(void **state)
{
    struct sdv_broker_catalog *cat = load_vss();
    const struct sdv_broker_signal *s;
    char text[64];
    uint8_t seats[2];

    (void)state;
    s = find(cat, "Vehicle.Speed");
    assert_int_equal(s->kind, SDV_BROKER_KIND_SENSOR);
    assert_int_equal(s->datatype, SDV_BROKER_DT_FLOAT);
    assert_string_equal(s->unit, "km/h");
    assert_int_equal(s->min.type, SDV_BROKER_DT_NONE);
    assert_int_equal(s->max.type, SDV_BROKER_DT_NONE);
    assert_string_equal(s->description, "Vehicle speed.");

    s = find(cat, "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current");
    assert_int_equal(s->datatype, SDV_BROKER_DT_FLOAT);
    assert_string_equal(s->unit, "percent");
    assert_int_equal(s->min.type, SDV_BROKER_DT_FLOAT);
    assert_true(s->min.v.f == 0.0f);
    assert_true(s->max.v.f == 100.0f);

    s = find(cat, "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed");
    assert_int_equal(s->kind, SDV_BROKER_KIND_ACTUATOR);
    assert_int_equal(s->datatype, SDV_BROKER_DT_UINT8);
    assert_true(s->min.v.u == 0 && s->max.v.u == 100);

    s = find(cat, "Vehicle.CurrentLocation.Latitude");
    assert_int_equal(s->datatype, SDV_BROKER_DT_DOUBLE);
    assert_true(s->min.v.d == -90.0 && s->max.v.d == 90.0);
    assert_string_equal(s->unit, "degrees");

    s = find(cat, "Vehicle.LowVoltageSystemState");
    assert_int_equal(s->datatype, SDV_BROKER_DT_STRING);
    assert_int_equal(s->allowed_count, 6);
    assert_int_equal(s->allowed[0].len, 9);
    assert_memory_equal(s->allowed[0].v.p, "UNDEFINED", 9);
    assert_memory_equal(s->allowed[5].v.p, "START", 5);
    assert_null(s->unit);

    s = find(cat, "Vehicle.VersionVSS.Major");
    assert_int_equal(s->kind, SDV_BROKER_KIND_ATTRIBUTE);
    assert_int_equal(s->datatype, SDV_BROKER_DT_UINT32);
    assert_int_equal(s->default_value.type, SDV_BROKER_DT_UINT32);
    assert_true(s->default_value.v.u == 6);

    s = find(cat, "Vehicle.Cabin.SeatPosCount");
    assert_int_equal(s->datatype, SDV_BROKER_DT_UINT8_ARRAY);
    assert_int_equal(s->default_value.count, 2);
    memcpy(seats, s->default_value.v.p, 2);
    assert_true(seats[0] == 2 && seats[1] == 3);

    s = find(cat, "Vehicle.Powertrain.FuelSystem.SupportedFuelTypes");
    assert_int_equal(s->datatype, SDV_BROKER_DT_STRING_ARRAY);
    assert_int_equal(s->allowed_count, 8);
    assert_int_equal(s->allowed[0].type, SDV_BROKER_DT_STRING);

    s = find(cat, "Vehicle.VehicleIdentification.VIN");
    assert_non_null(s->pattern);
    assert_non_null(strstr(s->pattern, "[0-9A-HJ-NPR-Z]"));

    s = find(cat, "Vehicle.Powertrain.Transmission.Type");
    assert_int_equal(s->default_value.type, SDV_BROKER_DT_STRING);
    snprintf(text, sizeof(text), "%.*s", (int)s->default_value.len,
             (const char *)s->default_value.v.p);
    assert_string_equal(text, "UNKNOWN");
    sdv_broker_catalog_destroy(cat);
}

/* Checks a JSON value against a signal: returns the error, message in err. */
static enum sdv_err check(const struct sdv_broker_catalog *cat, const char *path,
                          const char *json_text, char *err, size_t err_len)
{
    const struct sdv_broker_signal *s = find(cat, path);
    struct sdv_buf scratch;
    struct sdv_broker_value v;
    json_t *j = json_loads(json_text, JSON_DECODE_ANY, NULL);
    enum sdv_err rc;

    assert_non_null(j);
    sdv_buf_init(&scratch, 1 << 20);
    rc = sdv_broker_value_from_json(s->datatype, j, &scratch, &v, err, err_len);
    assert_int_equal(rc, SDV_OK);
    err[0] = '\0';
    rc = sdv_broker_signal_check(s, &v, err, err_len);
    sdv_buf_free(&scratch);
    json_decref(j);
    return rc;
}

static void test_checks(void **state)
{
    struct sdv_broker_catalog *cat = load_vss();
    const char *soc = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current";
    const char *fan = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
    const char *vin = "Vehicle.VehicleIdentification.VIN";
    char err[256];
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_UINT8, .count = 1, .v.u = 5};

    (void)state;
    assert_int_equal(check(cat, soc, "100", err, sizeof(err)), SDV_OK);
    assert_int_equal(check(cat, soc, "0", err, sizeof(err)), SDV_OK);
    assert_int_equal(check(cat, soc, "100.5", err, sizeof(err)), SDV_ERANGE);
    assert_string_equal(err, "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current: 100.5 "
                             "is above max 100");
    assert_int_equal(check(cat, soc, "-0.001", err, sizeof(err)), SDV_ERANGE);
    assert_non_null(strstr(err, "below min 0"));
    assert_int_equal(check(cat, fan, "101", err, sizeof(err)), SDV_ERANGE);
    assert_non_null(strstr(err, "FanSpeed: 101 is above max 100"));
    assert_int_equal(check(cat, "Vehicle.CurrentLocation.Latitude", "-90", err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(check(cat, "Vehicle.CurrentLocation.Latitude", "-90.000001", err, sizeof(err)),
                     SDV_ERANGE);
    assert_int_equal(check(cat, "Vehicle.LowVoltageSystemState", "\"ON\"", err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(check(cat, "Vehicle.LowVoltageSystemState", "\"on\"", err, sizeof(err)),
                     SDV_ERANGE);
    assert_non_null(strstr(err, "\"on\" is not one of the 6 allowed values"));
    assert_int_equal(check(cat, "Vehicle.Powertrain.FuelSystem.SupportedFuelTypes",
                           "[\"DIESEL\", \"H2\"]", err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(check(cat, "Vehicle.Powertrain.FuelSystem.SupportedFuelTypes",
                           "[\"DIESEL\", \"COAL\"]", err, sizeof(err)),
                     SDV_ERANGE);
    assert_non_null(strstr(err, "COAL"));
    assert_int_equal(check(cat, vin, "\"WVWZZZ1JZXW000001\"", err, sizeof(err)), SDV_OK);
    assert_int_equal(check(cat, vin, "\"WVWZZZ1JZXW00000I\"", err, sizeof(err)), SDV_ERANGE);
    assert_non_null(strstr(err, "does not match the pattern"));
    assert_int_equal(check(cat, vin, "\"SHORT\"", err, sizeof(err)), SDV_ERANGE);
    /* Wrong datatype: a uint8 value for a float signal. */
    assert_int_equal(sdv_broker_signal_check(find(cat, soc), &v, err, sizeof(err)), SDV_EINVAL);
    assert_non_null(strstr(err, "expected float, got uint8"));
    sdv_broker_catalog_destroy(cat);
}

static void test_match(void **state)
{
    struct sdv_broker_catalog *cat = load_vss();
    uint32_t ids[2048];
    size_t n = 0, i;
    const char *p;

    (void)state;
    p = "Vehicle.Cabin.Door.*.*.IsOpen";
    assert_int_equal(sdv_broker_catalog_match(cat, p, strlen(p), ids, 2048, &n), SDV_OK);
    assert_int_equal(n, 4);
    for (i = 0; i < n; i++) {
        const char *path = sdv_broker_catalog_signal(cat, ids[i])->path;

        assert_int_equal(strncmp(path, "Vehicle.Cabin.Door.Row", 22), 0);
        assert_string_equal(path + strlen(path) - 7, ".IsOpen");
        if (i > 0)
            assert_true(ids[i] > ids[i - 1]);
    }
    p = "Vehicle.Body";
    assert_int_equal(sdv_broker_catalog_match(cat, p, strlen(p), ids, 2048, &n), SDV_OK);
    assert_int_equal(n, 93);
    p = "Vehicle.Body.*";
    assert_int_equal(sdv_broker_catalog_match(cat, p, strlen(p), ids, 2048, &n), SDV_OK);
    assert_int_equal(n, 93);
    p = "Vehicle";
    assert_int_equal(sdv_broker_catalog_match(cat, p, strlen(p), ids, 2048, &n), SDV_OK);
    assert_int_equal(n, 1263);
    assert_int_equal(sdv_broker_catalog_match(cat, p, strlen(p), ids, 100, &n), SDV_ETOOBIG);
    p = "Vehicle.Speed";
    assert_int_equal(sdv_broker_catalog_match(cat, p, strlen(p), ids, 1, &n), SDV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(sdv_broker_catalog_signal(cat, ids[0])->path, p);
    p = "Vehicle.Bod";
    assert_int_equal(sdv_broker_catalog_match(cat, p, strlen(p), ids, 2048, &n), SDV_ENOENT);
    p = "Vehicle.Speed.Now";
    assert_int_equal(sdv_broker_catalog_match(cat, p, strlen(p), ids, 2048, &n), SDV_ENOENT);
    assert_int_equal(sdv_broker_catalog_match(cat, "", 0, ids, 2048, &n), SDV_EINVAL);
    sdv_broker_catalog_destroy(cat);
}

static enum sdv_err load_text(struct sdv_broker_catalog *cat, const char *text)
{
    return sdv_broker_catalog_load_json(cat, text, strlen(text), "overlay.json");
}

static void test_overlay(void **state)
{
    struct sdv_broker_catalog *cat = load_vss();
    const struct sdv_broker_signal *speed = find(cat, "Vehicle.Speed"), *s;
    uint32_t speed_id = speed->id;
    const char *overlay =
            "{\"Vehicle\": {\"type\": \"branch\", \"children\": {"
            "  \"Speed\": {\"max\": 250, \"min\": 0, \"description\": \"Speed, OEM-limited.\"},"
            "  \"OEM.Acme\": {\"type\": \"branch\", \"children\": {"
            "    \"Mode\": {\"type\": \"actuator\", \"datatype\": \"string\","
            "               \"allowed\": [\"ECO\", \"SPORT\"], \"default\": \"ECO\"},"
            "    \"Boost\": {\"type\": \"sensor\", \"datatype\": \"uint16\", \"unit\": \"kPa\"}"
            "  }},"
            "  \"Cabin.HVAC.Station.Row1.Driver.FanSpeed\": {\"max\": 80}"
            "}}}";
    char err[256];

    (void)state;
    if (load_text(cat, overlay) != SDV_OK)
        fail_msg("%s", sdv_broker_catalog_errmsg(cat));
    assert_int_equal(sdv_broker_catalog_count(cat), 1265);
    s = find(cat, "Vehicle.Speed");
    /* Overridden: same id, new bounds, the rest kept. */
    assert_int_equal(s->id, speed_id);
    assert_true(s->max.v.f == 250.0f);
    assert_string_equal(s->unit, "km/h");
    assert_string_equal(s->description, "Speed, OEM-limited.");
    assert_int_equal(check(cat, "Vehicle.Speed", "251", err, sizeof(err)), SDV_ERANGE);
    assert_int_equal(
            check(cat, "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed", "81", err, sizeof(err)),
            SDV_ERANGE);
    s = find(cat, "Vehicle.OEM.Acme.Mode");
    assert_int_equal(s->id, 1263);
    assert_int_equal(s->kind, SDV_BROKER_KIND_ACTUATOR);
    assert_int_equal(s->allowed_count, 2);
    assert_int_equal(check(cat, "Vehicle.OEM.Acme.Mode", "\"TURBO\"", err, sizeof(err)),
                     SDV_ERANGE);
    s = find(cat, "Vehicle.OEM.Acme.Boost");
    assert_int_equal(s->id, 1264);
    assert_string_equal(s->unit, "kPa");
    /* The intermediate branch exists: matching it gives both new leaves. */
    {
        uint32_t ids[8];
        size_t n = 0;

        assert_int_equal(sdv_broker_catalog_match(cat, "Vehicle.OEM", 11, ids, 8, &n), SDV_OK);
        assert_int_equal(n, 2);
    }
    sdv_broker_catalog_destroy(cat);
}

/* A bad overlay changes nothing, and says which path and which field. */
static void test_overlay_refused(void **state)
{
    static const struct {
        const char *json;
        const char *msg;
    } bad[] = {
            {"{\"Vehicle\": {\"children\": {\"New\": {\"type\": \"sensor\"}}}}",
             "Vehicle.New: a new signal needs a datatype"},
            {"{\"Vehicle\": {\"children\": {\"New\": {\"datatype\": \"uint8\"}}}}",
             "Vehicle.New: a new signal needs a type"},
            {"{\"Vehicle\": {\"children\": {\"Speed\": {\"max\": 1e99}}}}",
             "Vehicle.Speed: max: 1e+99 is out of range for float"},
            {"{\"Vehicle\": {\"children\": {\"Speed\": {\"min\": 10, \"max\": 5}}}}",
             "Vehicle.Speed: min is above max"},
            {"{\"Vehicle\": {\"children\": {\"Speed.Now\": {\"type\": \"sensor\", "
             "\"datatype\": \"uint8\"}}}}",
             "Vehicle.Speed: is a signal, cannot hold Vehicle.Speed.Now"},
            {"{\"Vehicle\": {\"children\": {\"Cabin\": {\"type\": \"sensor\", "
             "\"datatype\": \"uint8\"}}}}",
             "Vehicle.Cabin: is a branch, cannot be a signal"},
            {"{\"Vehicle\": {\"children\": {\"Speed\": {\"datatype\": \"Types.Foo\"}}}}",
             "Vehicle.Speed: datatype \"Types.Foo\" is not supported"},
            {"{\"Vehicle\": {\"children\": {\"X\": {\"type\": \"sensor\", \"datatype\": "
             "\"uint8\", \"allowed\": [1, 2], \"default\": 3}}}}",
             "default: Vehicle.X: 3 is not one of the 2 allowed values"},
            {"{\"Vehicle\": {\"children\": {\"X-Y\": {\"type\": \"sensor\", \"datatype\": "
             "\"uint8\"}}}}",
             "a name is letters, digits and _"},
            {"{\"Vehicle\": {\"children\": {\"X\": {\"type\": \"property\", \"datatype\": "
             "\"uint8\"}}}}",
             "type \"property\" is not sensor, actuator or attribute"},
            {"{\"Vehicle\": {\"children\": {\"X\": {\"type\": \"sensor\", \"datatype\": "
             "\"string\", \"min\": 1}}}}",
             "min/max need a numeric datatype"},
            {"{\"Vehicle\": {\"children\": {\"X\": {\"type\": \"sensor\", \"datatype\": "
             "\"string\", \"pattern\": \"([a-z\"}}}}",
             "Vehicle.X: pattern:"},
            {"{\"Vehicle\": {\"children\": {\"Powertrain.TractionBattery.StateOfCharge.Current\": "
             "{\"datatype\": \"string\"}}}}",
             "datatype changed: restate min and max"},
            {"{\"Vehicle\": {\"children\": {\"X\": 5}}}", "a node must be a JSON object"},
            {"{\"Vehicle\": {\"children\": {\"A\": {\"type\": \"sensor\", \"datatype\": "
             "\"uint8\"}, \"A\": {\"type\": \"sensor\", \"datatype\": \"uint8\"}}}}",
             "duplicate"},
            {"[1, 2]", "must be a JSON object"},
            {"{\"Vehicle\": ", "overlay.json: "},
    };
    struct sdv_broker_catalog *cat = load_vss();
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* After each refusal, an overlay that adds a signal and overrides Vehicle.Speed before
         * failing on a later node must leave no trace either. */
        char text[2048];
        const char *body = bad[i].json;
        enum sdv_err rc;

        rc = load_text(cat, body);
        assert_int_not_equal(rc, SDV_OK);
        if (bad[i].msg != NULL && strstr(sdv_broker_catalog_errmsg(cat), bad[i].msg) == NULL)
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, sdv_broker_catalog_errmsg(cat),
                     bad[i].msg);
        assert_int_equal(sdv_broker_catalog_count(cat), 1263);
        snprintf(text, sizeof(text),
                 "{\"Vehicle\": {\"children\": {\"Good\": {\"type\": \"sensor\", \"datatype\": "
                 "\"uint8\"}, \"Speed\": {\"unit\": \"m/s\"}, \"Z\": {\"type\": \"nope\"}}}}");
        assert_int_equal(load_text(cat, text), SDV_EPARSE);
        assert_int_equal(sdv_broker_catalog_count(cat), 1263);
        assert_null(sdv_broker_catalog_find(cat, "Vehicle.Good", 12));
        assert_string_equal(find(cat, "Vehicle.Speed")->unit, "km/h");
        assert_int_equal(find(cat, "Vehicle.Speed")->max.type, SDV_BROKER_DT_NONE);
    }
    /* Everything still works after all those rollbacks. */
    assert_int_equal(load_text(cat, "{\"Vehicle\": {\"children\": {\"Good\": {\"type\": "
                                    "\"sensor\", \"datatype\": \"uint8\"}}}}"),
                     SDV_OK);
    assert_int_equal(find(cat, "Vehicle.Good")->id, 1263);
    assert_int_equal(find(cat, "Vehicle.WidthIncludingMirrors")->id, 1262);
    sdv_broker_catalog_destroy(cat);
}

static void test_missing_file(void **state)
{
    struct sdv_broker_catalog *cat = NULL;

    (void)state;
    assert_int_equal(sdv_broker_catalog_create(NULL, &cat), SDV_OK);
    assert_int_equal(sdv_broker_catalog_load_file(cat, "/nonexistent/vss.json"), SDV_ENOENT);
    assert_non_null(strstr(sdv_broker_catalog_errmsg(cat), "/nonexistent/vss.json"));
    assert_int_equal(sdv_broker_catalog_count(cat), 0);
    sdv_broker_catalog_destroy(cat);
    sdv_broker_catalog_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_vss_counts),   cmocka_unit_test(test_vss_known_signals),
            cmocka_unit_test(test_checks),       cmocka_unit_test(test_match),
            cmocka_unit_test(test_overlay),      cmocka_unit_test(test_overlay_refused),
            cmocka_unit_test(test_missing_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
