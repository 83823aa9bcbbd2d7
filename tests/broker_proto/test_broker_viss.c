/*
 * test_broker_viss.c - the VISS v3 JSON layer: good requests parse to the right fields, bad
 * ones are refused with 400 bad_request and a message naming the member, responses and
 * notifications carry exactly the members VISS v3 defines, error objects the right number,
 * reason and message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/broker_proto.h>

static enum sdv_err parse(const char *json, struct sdv_broker_viss_request *r,
                          enum sdv_broker_viss_error *verr, char *err, size_t err_len)
{
    return sdv_broker_viss_request_parse(json, strlen(json), r, verr, err, err_len);
}

static void test_get(void **state)
{
    struct sdv_broker_viss_request r;
    enum sdv_broker_viss_error verr;
    char err[256];

    (void)state;
    assert_int_equal(parse("{\"action\":\"get\",\"path\":\"Vehicle/Speed\",\"requestId\":\"8756\"}",
                           &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(verr, 0);
    assert_int_equal(r.action, SDV_BROKER_VISS_GET);
    assert_string_equal(r.path, "Vehicle.Speed"); /* slashes become dots */
    assert_string_equal(r.request_id, "8756");
    assert_null(r.authorization);
    assert_false(r.has_filter);
    sdv_broker_viss_request_free(&r);

    /* Integer requestId, Bearer token, paths filter with a wildcard. */
    assert_int_equal(parse("{\"action\":\"get\",\"path\":\"Vehicle.Cabin\",\"requestId\":42,"
                           "\"authorization\":\"Bearer abc.def.ghi\","
                           "\"filter\":{\"variant\":\"paths\",\"parameter\":"
                           "[\"Door.*.*.IsOpen\",\"DriverPosition\"]}}",
                           &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_string_equal(r.request_id, "42");
    assert_string_equal(r.authorization, "abc.def.ghi");
    assert_true(r.has_filter);
    assert_int_equal(r.n_paths, 2);
    assert_string_equal(r.paths[0], "Door.*.*.IsOpen");
    assert_string_equal(r.paths[1], "DriverPosition");
    sdv_broker_viss_request_free(&r);
}

static void test_set_and_unsubscribe(void **state)
{
    struct sdv_broker_viss_request r;
    enum sdv_broker_viss_error verr;
    char err[256];

    (void)state;
    assert_int_equal(parse("{\"action\":\"set\",\"path\":\"Vehicle.Cabin.HVAC.Station.Row1."
                           "Driver.Temperature\",\"value\":\"22\",\"requestId\":\"5687\"}",
                           &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(r.action, SDV_BROKER_VISS_SET);
    assert_string_equal(json_string_value(r.value), "22");
    sdv_broker_viss_request_free(&r);
    assert_int_equal(parse("{\"action\":\"set\",\"path\":\"A.B\",\"value\":[\"1\",\"2\"],"
                           "\"requestId\":\"1\"}",
                           &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(json_array_size(r.value), 2);
    sdv_broker_viss_request_free(&r);
    assert_int_equal(parse("{\"action\":\"unsubscribe\",\"subscriptionId\":\"12345\","
                           "\"requestId\":\"7\"}",
                           &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(r.action, SDV_BROKER_VISS_UNSUBSCRIBE);
    assert_string_equal(r.subscription_id, "12345");
    assert_null(r.path);
    sdv_broker_viss_request_free(&r);
}

static void test_subscribe_filters(void **state)
{
    struct sdv_broker_viss_request r;
    enum sdv_broker_viss_error verr;
    char err[256];

    (void)state;
    assert_int_equal(parse("{\"action\":\"subscribe\",\"path\":\"Vehicle.Speed\",\"requestId\":"
                           "\"6578\",\"filter\":{\"variant\":\"timebased\",\"parameter\":"
                           "{\"period\":\"500\"}}}",
                           &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(r.action, SDV_BROKER_VISS_SUBSCRIBE);
    assert_int_equal(r.filter.period_ms, 500);
    assert_false(r.filter.change);
    assert_int_equal(r.filter.range_count, 0);
    sdv_broker_viss_request_free(&r);

    assert_int_equal(parse("{\"action\":\"subscribe\",\"path\":\"Vehicle.Speed\",\"requestId\":"
                           "\"1\",\"filter\":{\"variant\":\"change\",\"parameter\":"
                           "{\"logic-op\":\"gt\",\"diff\":\"10\"}}}",
                           &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_true(r.filter.change);
    assert_int_equal(r.filter.change_op, SDV_BROKER_OP_GT);
    assert_int_equal(r.filter.change_diff.type, SDV_BROKER_DT_UINT64);
    assert_true(r.filter.change_diff.v.u == 10);
    sdv_broker_viss_request_free(&r);

    /* Two boundaries combined with OR (VISS v3 "boundary-op"), a negative and a real. */
    assert_int_equal(parse("{\"action\":\"subscribe\",\"path\":\"Vehicle.Speed\",\"requestId\":"
                           "\"1\",\"filter\":{\"variant\":\"range\",\"parameter\":["
                           "{\"boundary-op\":\"lt\",\"boundary\":\"-5\",\"combination-op\":"
                           "\"OR\"},{\"boundary-op\":\"gte\",\"boundary\":\"55.5\"}]}}",
                           &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(r.filter.range_count, 2);
    assert_true(r.filter.range_any);
    assert_int_equal(r.filter.range[0].op, SDV_BROKER_OP_LT);
    assert_int_equal(r.filter.range[0].boundary.type, SDV_BROKER_DT_INT64);
    assert_true(r.filter.range[0].boundary.v.i == -5);
    assert_int_equal(r.filter.range[1].op, SDV_BROKER_OP_GE);
    assert_int_equal(r.filter.range[1].boundary.type, SDV_BROKER_DT_DOUBLE);
    assert_true(r.filter.range[1].boundary.v.d == 55.5);
    sdv_broker_viss_request_free(&r);

    /* A single boundary as an object, with the VISS v2 "logic-op" spelling, combined with a
     * paths filter. */
    assert_int_equal(parse("{\"action\":\"subscribe\",\"path\":\"Vehicle\",\"requestId\":\"1\","
                           "\"filter\":[{\"variant\":\"paths\",\"parameter\":\"Speed\"},"
                           "{\"variant\":\"range\",\"parameter\":{\"logic-op\":\"eq\","
                           "\"boundary\":\"5\"}}]}",
                           &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(r.filter.range_count, 1);
    assert_false(r.filter.range_any);
    assert_int_equal(r.filter.range[0].op, SDV_BROKER_OP_EQ);
    assert_int_equal(r.n_paths, 1);
    assert_string_equal(r.paths[0], "Speed");
    sdv_broker_viss_request_free(&r);
}

/* A bad request: 400 bad_request, SDV_EPARSE and a message containing want. */
static void expect_bad(const char *json, const char *want, const char *request_id)
{
    struct sdv_broker_viss_request r;
    enum sdv_broker_viss_error verr = 0;
    char err[256] = "";

    if (parse(json, &r, &verr, err, sizeof(err)) == SDV_OK)
        fail_msg("accepted: %s", json);
    assert_int_equal(verr, SDV_BROKER_VISS_BAD_REQUEST);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" for %s does not mention \"%s\"", err, json, want);
    if (request_id != NULL)
        assert_string_equal(r.request_id, request_id);
    sdv_broker_viss_request_free(&r);
}

static void test_bad_requests(void **state)
{
    (void)state;
    expect_bad("{\"action\":\"get\",", "malformed JSON", NULL);
    expect_bad("[1]", "not a JSON object", NULL);
    expect_bad("{\"action\":\"get\",\"action\":\"set\",\"path\":\"A\",\"requestId\":\"1\"}",
               "malformed JSON", NULL);
    expect_bad("{\"path\":\"A\",\"requestId\":\"1\"}", "Missing or invalid action", "1");
    expect_bad("{\"action\":\"delete\",\"path\":\"A\",\"requestId\":\"9\"}",
               "\"delete\" is not get", "9");
    expect_bad("{\"action\":5,\"path\":\"A\",\"requestId\":\"1\"}", "action: must be a string",
               "1");
    expect_bad("{\"action\":\"get\",\"path\":\"A\"}", "Missing or invalid requestId", NULL);
    expect_bad("{\"action\":\"get\",\"path\":\"A\",\"requestId\":-1}", "requestId: negative", NULL);
    expect_bad("{\"action\":\"get\",\"path\":\"A\",\"requestId\":\"12345678901234567890123456789"
               "012345678901234567890123456789012345\"}",
               "exceed 64", NULL);
    expect_bad("{\"action\":\"get\",\"requestId\":\"1\"}", "Missing or invalid path", "1");
    expect_bad("{\"action\":\"get\",\"path\":\"\",\"requestId\":\"1\"}", "path: empty", "1");
    expect_bad("{\"action\":\"get\",\"path\":\"Vehicle.*\",\"requestId\":\"1\"}",
               "wildcards are not allowed", "1");
    expect_bad("{\"action\":\"get\",\"path\":\"Vehicle..Speed\",\"requestId\":\"1\"}",
               "empty segment at byte 8", "1");
    expect_bad("{\"action\":\"get\",\"path\":\"Vehicle.Sp eed\",\"requestId\":\"1\"}",
               "character 0x20 at byte 10", "1");
    expect_bad("{\"action\":\"get\",\"path\":\"A\",\"requestId\":\"1\",\"extra\":1}",
               "unknown member \"extra\"", "1");
    expect_bad("{\"action\":\"get\",\"path\":\"A\",\"requestId\":\"1\",\"value\":\"1\"}",
               "unknown member \"value\"", "1");
    expect_bad("{\"action\":\"set\",\"path\":\"A\",\"requestId\":\"1\"}",
               "Missing or invalid value: member is missing", "1");
    expect_bad("{\"action\":\"set\",\"path\":\"A\",\"value\":22,\"requestId\":\"1\"}",
               "must be a string or an array of strings", "1");
    expect_bad("{\"action\":\"set\",\"path\":\"A\",\"value\":[\"1\",2],\"requestId\":\"1\"}",
               "element 1 is not a string", "1");
    expect_bad("{\"action\":\"unsubscribe\",\"requestId\":\"1\"}",
               "Missing or invalid subscriptionId", "1");
    expect_bad("{\"action\":\"get\",\"path\":\"A\",\"requestId\":\"1\",\"authorization\":\"\"}",
               "authorization: empty", "1");
    /* Filters. */
    expect_bad("{\"action\":\"get\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":{\"variant\":"
               "\"timebased\",\"parameter\":{\"period\":\"100\"}}}",
               "applies to subscribe only", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"curvelog\",\"parameter\":{\"maxerr\":\"1\",\"bufsize\":\"5\"}}}",
               "\"curvelog\" is not supported", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"timebased\",\"parameter\":{\"period\":\"0\"}}}",
               "must be 1..86400000 ms", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"timebased\",\"parameter\":{\"period\":\"10ms\"}}}",
               "is not a number of milliseconds", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"timebased\",\"parameter\":{\"period\":100}}}",
               "period must be a string", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"timebased\",\"parameter\":{\"period\":\"1\",\"x\":\"1\"}}}",
               "unknown member \"x\"", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"change\",\"parameter\":{\"logic-op\":\"more\",\"diff\":\"1\"}}}",
               "logic-op \"more\" is not one of", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"change\",\"parameter\":{\"logic-op\":\"gt\",\"diff\":\"1e999\"}}}",
               "diff must be a string holding a finite number", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"range\",\"parameter\":[{\"boundary-op\":\"gt\",\"boundary\":\"1\"},"
               "{\"boundary-op\":\"lt\",\"boundary\":\"2\"},{\"boundary-op\":\"lt\","
               "\"boundary\":\"3\"}]}}",
               "range parameter must be an object or an array of two", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"range\",\"parameter\":{\"boundary-op\":\"gt\",\"boundary\":"
               "\"abc\"}}}",
               "range boundary 0 must be a string holding a finite number", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"range\",\"parameter\":[{\"boundary-op\":\"gt\",\"boundary\":\"1\"},"
               "{\"boundary-op\":\"lt\",\"boundary\":\"2\",\"combination-op\":\"OR\"}]}}",
               "combination-op belongs in the first", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"range\",\"parameter\":[{\"boundary-op\":\"gt\",\"boundary\":\"1\","
               "\"combination-op\":\"XOR\"},{\"boundary-op\":\"lt\",\"boundary\":\"2\"}]}}",
               "combination-op must be \"AND\" or \"OR\"", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"range\",\"parameter\":{\"boundary-op\":\"gt\",\"logic-op\":\"gt\","
               "\"boundary\":\"1\"}}}",
               "exactly one of boundary-op and logic-op", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "[{\"variant\":\"timebased\",\"parameter\":{\"period\":\"1\"}},"
               "{\"variant\":\"change\",\"parameter\":{\"logic-op\":\"ne\",\"diff\":\"0\"}}]}",
               "at most one variant besides paths", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"paths\",\"parameter\":[\"B\",\"C*\"]}}",
               "'*' must be a whole segment", "1");
    expect_bad("{\"action\":\"subscribe\",\"path\":\"A\",\"requestId\":\"1\",\"filter\":"
               "{\"variant\":\"paths\"}}",
               "\"variant\" (a string) and \"parameter\" are required", "1");
}

/* A refusal quoting input cut inside a UTF-8 sequence still yields a valid error object. */
static void test_error_message_is_printable(void **state)
{
    static const char req[] = "{\"action\":\"get\",\"path\":\"A\",\"requestId\":\"1\","
                              "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\":1}";
    struct sdv_broker_viss_request r;
    enum sdv_broker_viss_error verr;
    struct sdv_buf b;
    char err[256];
    json_t *o;

    (void)state;
    assert_int_equal(parse(req, &r, &verr, err, sizeof(err)), SDV_EPARSE);
    assert_non_null(strstr(err, "unknown member \"aaaa"));
    assert_null(strchr(err, '\xc3'));
    sdv_buf_init(&b, 4096);
    assert_int_equal(
            sdv_broker_viss_write_error(SDV_BROKER_VISS_GET, r.request_id, NULL, verr, err, 0, &b),
            SDV_OK);
    /* A caller's message with control bytes and broken UTF-8 too. */
    sdv_buf_reset(&b);
    assert_int_equal(sdv_broker_viss_write_error(SDV_BROKER_VISS_SET, "2", NULL,
                                                 SDV_BROKER_VISS_INVALID_DATA, "bad\x01\xff", 0,
                                                 &b),
                     SDV_OK);
    o = json_loadb((const char *)b.data, b.len, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "message")),
                        "bad??");
    json_decref(o);
    sdv_buf_free(&b);
    sdv_broker_viss_request_free(&r);
}

static void test_request_too_big(void **state)
{
    struct sdv_broker_viss_request r;
    enum sdv_broker_viss_error verr;
    size_t n = SDV_BROKER_VISS_REQUEST_LEN_MAX + 1;
    char *big = malloc(n), err[128];

    (void)state;
    memset(big, ' ', n);
    assert_int_equal(sdv_broker_viss_request_parse(big, n, &r, &verr, err, sizeof(err)),
                     SDV_ETOOBIG);
    assert_int_equal(verr, SDV_BROKER_VISS_BAD_REQUEST);
    assert_non_null(strstr(err, "exceeds 65536"));
    sdv_broker_viss_request_free(&r);
    free(big);
}

static void test_http(void **state)
{
    struct sdv_broker_viss_request r;
    enum sdv_broker_viss_error verr;
    const char *body = "{\"value\":\"21.5\"}";
    char err[256];

    (void)state;
    assert_int_equal(sdv_broker_viss_request_from_http("GET", "/Vehicle/Speed", NULL, 0,
                                                       "Bearer tok", &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(r.action, SDV_BROKER_VISS_GET);
    assert_string_equal(r.path, "Vehicle.Speed");
    assert_string_equal(r.authorization, "tok");
    assert_null(r.request_id);
    sdv_broker_viss_request_free(&r);
    assert_int_equal(sdv_broker_viss_request_from_http("POST", "/Vehicle/Cabin/Temp", body,
                                                       strlen(body), NULL, &r, &verr, err,
                                                       sizeof(err)),
                     SDV_OK);
    assert_int_equal(r.action, SDV_BROKER_VISS_SET);
    assert_string_equal(json_string_value(r.value), "21.5");
    assert_null(r.authorization);
    sdv_broker_viss_request_free(&r);
    assert_int_equal(sdv_broker_viss_request_from_http("PUT", "/A", NULL, 0, NULL, &r, &verr, err,
                                                       sizeof(err)),
                     SDV_EPARSE);
    assert_int_equal(verr, SDV_BROKER_VISS_BAD_REQUEST);
    sdv_broker_viss_request_free(&r);
    assert_int_equal(sdv_broker_viss_request_from_http("POST", "/A", "{\"v\":1}", 7, NULL, &r,
                                                       &verr, err, sizeof(err)),
                     SDV_EPARSE);
    assert_non_null(strstr(err, "unknown member \"v\""));
    sdv_broker_viss_request_free(&r);
    assert_int_equal(sdv_broker_viss_request_from_http("GET", "/A/*/B", NULL, 0, NULL, &r, &verr,
                                                       err, sizeof(err)),
                     SDV_EPARSE);
    sdv_broker_viss_request_free(&r);
    /* VISS HTTP search read: a percent-encoded paths filter in the query. */
    assert_int_equal(sdv_broker_viss_request_from_http(
                             "GET",
                             "/Vehicle/Cabin?filter=%7B%22variant%22%3A%22paths%22%2C%22parameter"
                             "%22%3A%5B%22Door.*.*.IsOpen%22%2C%22DriverPosition%22%5D%7D",
                             NULL, 0, NULL, &r, &verr, err, sizeof(err)),
                     SDV_OK);
    assert_string_equal(r.path, "Vehicle.Cabin");
    assert_int_equal(r.n_paths, 2);
    assert_string_equal(r.paths[0], "Door.*.*.IsOpen");
    sdv_broker_viss_request_free(&r);
    assert_int_equal(sdv_broker_viss_request_from_http("GET", "/Vehicle?filter=%7", NULL, 0, NULL,
                                                       &r, &verr, err, sizeof(err)),
                     SDV_EPARSE);
    assert_non_null(strstr(err, "bad percent escape at byte 0"));
    sdv_broker_viss_request_free(&r);
    assert_int_equal(sdv_broker_viss_request_from_http("GET", "/Vehicle?x=1", NULL, 0, NULL, &r,
                                                       &verr, err, sizeof(err)),
                     SDV_EPARSE);
    assert_non_null(strstr(err, "the query must be filter=<JSON>"));
    sdv_broker_viss_request_free(&r);
    assert_int_equal(sdv_broker_viss_request_from_http(
                             "GET",
                             "/Vehicle?filter={\"variant\":\"timebased\",\"parameter\":"
                             "{\"period\":\"5\"}}",
                             NULL, 0, NULL, &r, &verr, err, sizeof(err)),
                     SDV_EPARSE);
    assert_non_null(strstr(err, "applies to subscribe only"));
    sdv_broker_viss_request_free(&r);
}

/* Parses text as JSON (the writer must produce valid JSON) and returns it. */
static json_t *load(const struct sdv_buf *b)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)b->data, b->len, JSON_REJECT_DUPLICATES, &je);

    if (j == NULL)
        fail_msg("writer produced invalid JSON: %s (%s)", je.text, (const char *)b->data);
    return j;
}

static void test_write_responses(void **state)
{
    json_t *v1 = json_string("2372"), *v2 = json_string("true"), *o, *d;
    struct sdv_broker_viss_dp dp[2] = {
            {"Vehicle.Speed", v1, 1586957820000000},
            {"Vehicle.IsMoving", v2, 1586957820123456},
    };
    const int64_t now = 1586957825000001;
    struct sdv_buf b;

    (void)state;
    sdv_buf_init(&b, 1u << 16);
    assert_int_equal(sdv_broker_viss_write_get("8756", dp, 1, now, &b), SDV_OK);
    o = load(&b);
    assert_int_equal(json_object_size(o), 4);
    assert_string_equal(json_string_value(json_object_get(o, "action")), "get");
    assert_string_equal(json_string_value(json_object_get(o, "requestId")), "8756");
    assert_string_equal(json_string_value(json_object_get(o, "ts")), "2020-04-15T13:37:05.000001Z");
    d = json_object_get(o, "data");
    assert_true(json_is_object(d));
    assert_string_equal(json_string_value(json_object_get(d, "path")), "Vehicle.Speed");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "dp"), "value")),
                        "2372");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "dp"), "ts")),
                        "2020-04-15T13:37:00.000000Z");
    json_decref(o);

    sdv_buf_reset(&b);
    assert_int_equal(sdv_broker_viss_write_get(NULL, dp, 2, now, &b), SDV_OK);
    o = load(&b);
    assert_null(json_object_get(o, "requestId")); /* HTTP */
    d = json_object_get(o, "data");
    assert_int_equal(json_array_size(d), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 1), "path")),
                        "Vehicle.IsMoving");
    assert_string_equal(
            json_string_value(json_object_get(json_object_get(json_array_get(d, 1), "dp"), "ts")),
            "2020-04-15T13:37:00.123456Z");
    json_decref(o);

    sdv_buf_reset(&b);
    assert_int_equal(sdv_broker_viss_write_set("5687", now, &b), SDV_OK);
    o = load(&b);
    assert_int_equal(json_object_size(o), 3);
    assert_string_equal(json_string_value(json_object_get(o, "action")), "set");
    json_decref(o);

    sdv_buf_reset(&b);
    assert_int_equal(sdv_broker_viss_write_subscribe("6578", "12345", now, &b), SDV_OK);
    o = load(&b);
    assert_int_equal(json_object_size(o), 4);
    assert_string_equal(json_string_value(json_object_get(o, "subscriptionId")), "12345");
    assert_string_equal(json_string_value(json_object_get(o, "requestId")), "6578");
    json_decref(o);

    sdv_buf_reset(&b);
    assert_int_equal(sdv_broker_viss_write_unsubscribe("6579", "12345", now, &b), SDV_OK);
    o = load(&b);
    assert_string_equal(json_string_value(json_object_get(o, "action")), "unsubscribe");
    json_decref(o);

    sdv_buf_reset(&b);
    assert_int_equal(sdv_broker_viss_write_subscription("12345", dp, 1, 0, now, &b), SDV_OK);
    o = load(&b);
    assert_int_equal(json_object_size(o), 4);
    assert_string_equal(json_string_value(json_object_get(o, "action")), "subscription");
    assert_string_equal(json_string_value(json_object_get(o, "subscriptionId")), "12345");
    assert_null(json_object_get(o, "requestId"));
    assert_null(json_object_get(o, "lost")); /* nothing lost: no extension member */
    d = json_object_get(o, "data");
    assert_string_equal(json_string_value(json_object_get(d, "path")), "Vehicle.Speed");
    json_decref(o);

    /* Values lost: the extension member "lost" is a number inside the same object. */
    sdv_buf_reset(&b);
    assert_int_equal(sdv_broker_viss_write_subscription("12345", dp, 2, 37, now, &b), SDV_OK);
    o = load(&b);
    assert_int_equal(json_object_size(o), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "lost")), 37);
    assert_true(json_is_array(json_object_get(o, "data")));
    assert_non_null(json_object_get(o, "ts"));
    json_decref(o);
    /* Only a lost count (every queued value was dropped): no data, still a notification. */
    sdv_buf_reset(&b);
    assert_int_equal(sdv_broker_viss_write_subscription("12345", dp, 0, UINT64_MAX, now, &b),
                     SDV_OK);
    o = load(&b);
    assert_null(json_object_get(o, "data"));
    assert_int_equal(json_integer_value(json_object_get(o, "lost")), INT64_MAX);
    assert_string_equal(json_string_value(json_object_get(o, "subscriptionId")), "12345");
    json_decref(o);
    sdv_buf_reset(&b);
    assert_int_equal(sdv_broker_viss_write_subscription("12345", dp, 0, 0, now, &b), SDV_EINVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(sdv_broker_viss_write_get("1", dp, 0, now, &b), SDV_EINVAL);
    json_decref(v1);
    json_decref(v2);
    sdv_buf_free(&b);
}

static void test_write_errors(void **state)
{
    static const struct {
        enum sdv_broker_viss_error e;
        unsigned number;
        const char *reason;
    } table[] = {
            {SDV_BROKER_VISS_BAD_REQUEST, 400, "bad_request"},
            {SDV_BROKER_VISS_INVALID_DATA, 400, "invalid_data"},
            {SDV_BROKER_VISS_INVALID_TOKEN, 401, "invalid_token"},
            {SDV_BROKER_VISS_EXPIRED_TOKEN, 401, "expired_token"},
            {SDV_BROKER_VISS_MISSING_TOKEN, 401, "missing_token"},
            {SDV_BROKER_VISS_FORBIDDEN, 403, "forbidden_request"},
            {SDV_BROKER_VISS_UNAVAILABLE_DATA, 404, "unavailable_data"},
            {SDV_BROKER_VISS_INVALID_PATH, 404, "invalid_path"},
            {SDV_BROKER_VISS_REQUEST_TIMEOUT, 408, "request_timeout"},
            {SDV_BROKER_VISS_TOO_MANY_REQUESTS, 429, "too_many_requests"},
            {SDV_BROKER_VISS_INTERNAL, 500, "internal_error"},
            {SDV_BROKER_VISS_SERVICE_UNAVAILABLE, 503, "service_unavailable"},
    };
    struct sdv_buf b;
    json_t *o, *e;
    size_t i;

    (void)state;
    sdv_buf_init(&b, 4096);
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        assert_int_equal(sdv_broker_viss_error_number(table[i].e), table[i].number);
        assert_string_equal(sdv_broker_viss_error_reason(table[i].e), table[i].reason);
        sdv_buf_reset(&b);
        assert_int_equal(sdv_broker_viss_write_error(SDV_BROKER_VISS_GET, "8756", NULL, table[i].e,
                                                     NULL, 1586957820000000, &b),
                         SDV_OK);
        o = load(&b);
        assert_int_equal(json_object_size(o), 4);
        assert_string_equal(json_string_value(json_object_get(o, "action")), "get");
        assert_string_equal(json_string_value(json_object_get(o, "requestId")), "8756");
        assert_string_equal(json_string_value(json_object_get(o, "ts")),
                            "2020-04-15T13:37:00.000000Z");
        e = json_object_get(o, "error");
        assert_int_equal(json_object_size(e), 3);
        assert_true(json_is_integer(json_object_get(e, "number")));
        assert_int_equal(json_integer_value(json_object_get(e, "number")), table[i].number);
        assert_string_equal(json_string_value(json_object_get(e, "reason")), table[i].reason);
        assert_string_equal(json_string_value(json_object_get(e, "message")),
                            sdv_broker_viss_error_default_message(table[i].e));
        json_decref(o);
    }
    assert_string_equal(sdv_broker_viss_error_default_message(SDV_BROKER_VISS_UNAVAILABLE_DATA),
                        "The requested data was not found");
    /* An error event of a subscription: subscriptionId instead of requestId, own message. */
    sdv_buf_reset(&b);
    assert_int_equal(sdv_broker_viss_write_error(SDV_BROKER_VISS_SUBSCRIPTION, NULL, "12345",
                                                 SDV_BROKER_VISS_EXPIRED_TOKEN,
                                                 "Access token has expired.", 0, &b),
                     SDV_OK);
    o = load(&b);
    assert_string_equal(json_string_value(json_object_get(o, "action")), "subscription");
    assert_string_equal(json_string_value(json_object_get(o, "subscriptionId")), "12345");
    assert_null(json_object_get(o, "requestId"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "message")),
                        "Access token has expired.");
    assert_string_equal(json_string_value(json_object_get(o, "ts")), "1970-01-01T00:00:00.000000Z");
    json_decref(o);
    /* Status mapping from the binary protocol. */
    assert_int_equal(sdv_broker_viss_error_from_status(404), SDV_BROKER_VISS_UNAVAILABLE_DATA);
    assert_int_equal(sdv_broker_viss_error_from_status(403), SDV_BROKER_VISS_FORBIDDEN);
    assert_int_equal(sdv_broker_viss_error_from_status(429), SDV_BROKER_VISS_TOO_MANY_REQUESTS);
    assert_int_equal(sdv_broker_viss_error_from_status(503), SDV_BROKER_VISS_SERVICE_UNAVAILABLE);
    sdv_buf_free(&b);
}

static void test_ts_format(void **state)
{
    char ts[SDV_BROKER_VISS_TS_LEN];

    (void)state;
    assert_int_equal(sdv_broker_viss_ts_format(-1, ts), SDV_OK);
    assert_string_equal(ts, "1969-12-31T23:59:59.999999Z");
    assert_int_equal(sdv_broker_viss_ts_format(1700000000123456, ts), SDV_OK);
    assert_string_equal(ts, "2023-11-14T22:13:20.123456Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_get),
            cmocka_unit_test(test_set_and_unsubscribe),
            cmocka_unit_test(test_subscribe_filters),
            cmocka_unit_test(test_bad_requests),
            cmocka_unit_test(test_error_message_is_printable),
            cmocka_unit_test(test_request_too_big),
            cmocka_unit_test(test_http),
            cmocka_unit_test(test_write_responses),
            cmocka_unit_test(test_write_errors),
            cmocka_unit_test(test_ts_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
