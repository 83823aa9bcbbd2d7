/*
 * test_broker_frame.c - the binary broker protocol: every message type and every datatype
 * round-trips through encoder, decoder and parser; bytes arriving one at a time decode to the
 * same frames; every truncation and every bad length or field is refused with a message.
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

#define ENTRIES_MAX SDV_BROKER_BATCH_MAX

static struct sdv_broker_entry parsed_entries[ENTRIES_MAX];

static struct sdv_broker_str S(const char *s) {
    struct sdv_broker_str r = {s, (uint32_t)strlen(s)};

    return r;
}

/* Packed payloads of the array values. */
static const uint8_t bools[3] = {1, 0, 1};
static const int8_t i8s[2] = {-128, 127};
static const int16_t i16s[2] = {-32768, 32767};
static const int32_t i32s[3] = {INT32_MIN, 0, INT32_MAX};
static const int64_t i64s[2] = {INT64_MIN, INT64_MAX};
static const uint8_t u8s[2] = {0, 255};
static const uint16_t u16s[2] = {0, 65535};
static const uint32_t u32s[2] = {0, UINT32_MAX};
static const uint64_t u64s[2] = {0, UINT64_MAX};
static const float f32s[2] = {-1.5f, 3.25e38f};
static const double f64s[2] = {-2.5e-300, 1e308};
static const char strs[] = "ab\0\0xyz"; /* "ab", "", "xyz" */

/* One value of every datatype: 12 scalars, 12 arrays. */
static size_t all_values(struct sdv_broker_value *v)
{
    size_t n = 0;

    memset(v, 0, 24 * sizeof(*v));
    v[n].type = SDV_BROKER_DT_BOOLEAN, v[n++].v.b = true;
    v[n].type = SDV_BROKER_DT_INT8, v[n++].v.i = -128;
    v[n].type = SDV_BROKER_DT_INT16, v[n++].v.i = -300;
    v[n].type = SDV_BROKER_DT_INT32, v[n++].v.i = -70000;
    v[n].type = SDV_BROKER_DT_INT64, v[n++].v.i = INT64_MIN;
    v[n].type = SDV_BROKER_DT_UINT8, v[n++].v.u = 255;
    v[n].type = SDV_BROKER_DT_UINT16, v[n++].v.u = 60000;
    v[n].type = SDV_BROKER_DT_UINT32, v[n++].v.u = 4000000000u;
    v[n].type = SDV_BROKER_DT_UINT64, v[n++].v.u = UINT64_MAX;
    v[n].type = SDV_BROKER_DT_FLOAT, v[n++].v.f = 1.5f;
    v[n].type = SDV_BROKER_DT_DOUBLE, v[n++].v.d = -3.25e-7;
    v[n].type = SDV_BROKER_DT_STRING, v[n].count = 1, v[n].len = 5, v[n++].v.p = "h\xc3\xa9llo";
#define ARR(dt, arr, cnt)                                                                         \
    do {                                                                                          \
        v[n].type = (dt), v[n].count = (cnt), v[n].len = (uint32_t)sizeof(arr), v[n].v.p = (arr); \
        n++;                                                                                      \
    } while (0)
    ARR(SDV_BROKER_DT_BOOLEAN_ARRAY, bools, 3);
    ARR(SDV_BROKER_DT_INT8_ARRAY, i8s, 2);
    ARR(SDV_BROKER_DT_INT16_ARRAY, i16s, 2);
    ARR(SDV_BROKER_DT_INT32_ARRAY, i32s, 3);
    ARR(SDV_BROKER_DT_INT64_ARRAY, i64s, 2);
    ARR(SDV_BROKER_DT_UINT8_ARRAY, u8s, 2);
    ARR(SDV_BROKER_DT_UINT16_ARRAY, u16s, 2);
    ARR(SDV_BROKER_DT_UINT32_ARRAY, u32s, 2);
    ARR(SDV_BROKER_DT_UINT64_ARRAY, u64s, 2);
    ARR(SDV_BROKER_DT_FLOAT_ARRAY, f32s, 2);
    ARR(SDV_BROKER_DT_DOUBLE_ARRAY, f64s, 2);
    v[n].type = SDV_BROKER_DT_STRING_ARRAY, v[n].count = 3, v[n].len = 8, v[n++].v.p = strs;
#undef ARR
    return n;
}

static void assert_value_equal(const struct sdv_broker_value *a, const struct sdv_broker_value *b)
{
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case SDV_BROKER_DT_NONE:
        return;
    case SDV_BROKER_DT_BOOLEAN:
        assert_int_equal(a->v.b, b->v.b);
        return;
    case SDV_BROKER_DT_INT8:
    case SDV_BROKER_DT_INT16:
    case SDV_BROKER_DT_INT32:
    case SDV_BROKER_DT_INT64:
        assert_true(a->v.i == b->v.i);
        return;
    case SDV_BROKER_DT_UINT8:
    case SDV_BROKER_DT_UINT16:
    case SDV_BROKER_DT_UINT32:
    case SDV_BROKER_DT_UINT64:
        assert_true(a->v.u == b->v.u);
        return;
    case SDV_BROKER_DT_FLOAT:
        assert_memory_equal(&a->v.f, &b->v.f, sizeof(float));
        return;
    case SDV_BROKER_DT_DOUBLE:
        assert_memory_equal(&a->v.d, &b->v.d, sizeof(double));
        return;
    default:
        assert_int_equal(a->count, b->count);
        assert_int_equal(a->len, b->len);
        if (a->len > 0)
            assert_memory_equal(a->v.p, b->v.p, a->len);
    }
}

/* Encodes m, decodes the bytes in one feed, parses, compares the re-encoding byte for byte.
 * Returns the parsed message in *got (entries in parsed_entries); bytes in *wire. */
static void roundtrip(const struct sdv_broker_msg *m, struct sdv_broker_msg *got,
                      struct sdv_buf *wire)
{
    struct sdv_broker_decoder *d;
    struct sdv_broker_frame f;
    struct sdv_buf again;
    char err[256];
    size_t used;
    bool complete;

    sdv_buf_init(wire, 1u << 20);
    assert_int_equal(sdv_broker_msg_encode(m, wire, err, sizeof(err)), SDV_OK);
    assert_int_equal(wire->data[0], SDV_BROKER_PROTO_MAGIC);
    assert_int_equal(wire->data[1], m->type);
    assert_int_equal(sdv_broker_decoder_create(0, &d), SDV_OK);
    assert_int_equal(sdv_broker_decoder_feed(d, wire->data, wire->len, &used, &f, &complete),
                     SDV_OK);
    assert_true(complete);
    assert_int_equal(used, wire->len);
    /* A whole frame in one feed is returned in place. */
    assert_ptr_equal(f.payload, wire->data + SDV_BROKER_HEADER_LEN);
    assert_int_equal(f.type, m->type);
    assert_int_equal(f.request_id, m->request_id);
    if (sdv_broker_msg_parse(&f, got, parsed_entries, ENTRIES_MAX, err, sizeof(err)) != SDV_OK)
        fail_msg("parse of %s: %s", sdv_broker_msg_type_name(m->type), err);
    sdv_buf_init(&again, 1u << 20);
    assert_int_equal(sdv_broker_msg_encode(got, &again, err, sizeof(err)), SDV_OK);
    assert_int_equal(again.len, wire->len);
    assert_memory_equal(again.data, wire->data, wire->len);
    sdv_buf_free(&again);
    assert_int_equal(sdv_broker_decoder_finish(d), SDV_OK);
    sdv_broker_decoder_destroy(d);
}

static void assert_str_equal(struct sdv_broker_str a, const char *b)
{
    assert_int_equal(a.len, strlen(b));
    if (a.len > 0)
        assert_memory_equal(a.p, b, a.len);
}

/* Builds one message of every type; entries come from storage. */
static size_t all_messages(struct sdv_broker_msg *m, struct sdv_broker_entry *e)
{
    static struct sdv_broker_value vals[24];
    size_t n = 0, k, nv = all_values(vals);

    memset(e, 0, 64 * sizeof(*e));
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_HELLO, 1);
    m[n].version = 1, m[n].name = S("hvac-provider"), m[n++].token = S("eyJhbGciOi.x.y");
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_HELLO_OK, 1);
    m[n].version = 1, m[n].payload_max = SDV_BROKER_FRAME_PAYLOAD_MAX,
    m[n++].name = S("sdv-broker");
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_LOOKUP, 2);
    e[0].path = S("Vehicle.Speed"), e[1].path = S("Vehicle.Nope");
    m[n].entries = e, m[n++].n_entries = 2;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_LOOKUP_RESULT, 2);
    e[2].id = 7, e[2].datatype = SDV_BROKER_DT_FLOAT, e[2].entry_type = SDV_BROKER_KIND_SENSOR;
    e[3].status = SDV_BROKER_STATUS_NOT_FOUND;
    m[n].entries = e + 2, m[n++].n_entries = 2;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_GET, 3);
    e[4].id = 7, e[5].path = S("Vehicle.Cabin.HVAC.IsAirConditioningActive");
    m[n].entries = e + 4, m[n++].n_entries = 2;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_GET_RESULT, 3);
    e[6].id = 7, e[6].ts_us = 1700000000123456, e[6].value = vals[9];
    e[7].id = 8, e[7].ts_us = 5; /* NONE: never written */
    e[8].status = SDV_BROKER_STATUS_FORBIDDEN;
    m[n].entries = e + 6, m[n++].n_entries = 3;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_SET, 4);
    e[9].path = S("Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"), e[9].value = vals[1];
    m[n].entries = e + 9, m[n++].n_entries = 1;
    sdv_broker_msg_init(&m[n++], SDV_BROKER_MSG_OK, 4);
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_ERROR, 5);
    m[n].status = SDV_BROKER_STATUS_UNAVAILABLE, m[n].signal_id = 9;
    m[n++].message = S("no provider for Vehicle.Cabin.HVAC");
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_PUBLISH, 6);
    for (k = 0; k < nv; k++)
        e[10 + k].id = (uint32_t)(100 + k), e[10 + k].ts_us = (int64_t)k - 3,
               e[10 + k].value = vals[k];
    m[n].entries = e + 10, m[n++].n_entries = (uint32_t)nv;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_CLAIM, 7);
    e[40].id = 3, e[41].path = S("Vehicle.Powertrain.TractionBattery.StateOfCharge.Current");
    m[n].entries = e + 40, m[n++].n_entries = 2;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_ACTUATE, 0);
    m[n].actuation_id = 0x1122334455667788ull;
    e[42].id = 12, e[42].value = vals[23];
    m[n].entries = e + 42, m[n++].n_entries = 1;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_ACTUATE_REPLY, 0);
    m[n].actuation_id = 0x1122334455667788ull, m[n].status = SDV_BROKER_STATUS_CONFLICT;
    m[n++].message = S("door is open");
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_SUBSCRIBE, 8);
    m[n].filter.change = true, m[n].filter.change_op = SDV_BROKER_OP_GT;
    m[n].filter.change_diff.type = SDV_BROKER_DT_DOUBLE, m[n].filter.change_diff.v.d = 0.5;
    m[n].filter.range_count = 2, m[n].filter.range_any = true;
    m[n].filter.range[0].op = SDV_BROKER_OP_LT;
    m[n].filter.range[0].boundary.type = SDV_BROKER_DT_INT64;
    m[n].filter.range[0].boundary.v.i = -10;
    m[n].filter.range[1].op = SDV_BROKER_OP_GE;
    m[n].filter.range[1].boundary.type = SDV_BROKER_DT_UINT64;
    m[n].filter.range[1].boundary.v.u = 100;
    e[43].id = 7, e[44].path = S("Vehicle.Speed");
    m[n].entries = e + 43, m[n++].n_entries = 2;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_SUBSCRIBE, 9);
    m[n].filter.period_ms = 100;
    e[45].id = 7;
    m[n].entries = e + 45, m[n++].n_entries = 1;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_SUBSCRIBED, 8);
    m[n].sub_id = 77, e[46].id = 7, e[47].id = 8;
    m[n].entries = e + 46, m[n++].n_entries = 2;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_UNSUBSCRIBE, 10);
    m[n++].sub_id = 77;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_EVENT, 0);
    m[n].sub_id = 77, m[n].entries = e + 10, m[n++].n_entries = (uint32_t)nv;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_VALUES_LOST, 0);
    m[n].sub_id = 77, m[n++].lost = 12345;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_AUTH, 11);
    m[n++].token = S("eyJhbGciOi.renewed.z");
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_SUB_ENDED, 0);
    m[n].sub_id = 77, m[n].status = SDV_BROKER_STATUS_UNAUTHORIZED;
    m[n++].message = S("token expired");
    sdv_broker_msg_init(&m[n++], SDV_BROKER_MSG_SESSION_HANDLE, 12);
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_SESSION_HANDLE_OK, 12);
    for (k = 0; k < SDV_BROKER_SESSION_HANDLE_LEN; k++)
        m[n].handle[k] = (uint8_t)(0xA0 + k);
    n++;
    sdv_broker_msg_init(&m[n], SDV_BROKER_MSG_RENEW, 13);
    for (k = 0; k < SDV_BROKER_SESSION_HANDLE_LEN; k++)
        m[n].handle[k] = (uint8_t)(255 - k);
    m[n++].token = S("eyJhbGciOi.renewed-by-handle.z");
    return n;
}

static void test_every_message_roundtrips(void **state)
{
    struct sdv_broker_msg m[32], got;
    struct sdv_broker_entry e[64];
    size_t n = all_messages(m, e), i, k;
    bool seen[SDV_BROKER_MSG_TYPE_MAX + 1] = {false};

    (void)state;
    for (i = 0; i < n; i++) {
        struct sdv_buf wire;

        roundtrip(&m[i], &got, &wire);
        seen[m[i].type] = true;
        assert_int_equal(got.type, m[i].type);
        assert_int_equal(got.n_entries, m[i].n_entries);
        assert_int_equal(got.version, m[i].version);
        assert_int_equal(got.status, m[i].status);
        assert_int_equal(got.sub_id, m[i].sub_id);
        assert_int_equal(got.lost, m[i].lost);
        assert_int_equal(got.signal_id, m[i].signal_id);
        assert_true(got.actuation_id == m[i].actuation_id);
        assert_int_equal(got.payload_max, m[i].payload_max);
        assert_int_equal(got.name.len, m[i].name.len);
        assert_int_equal(got.token.len, m[i].token.len);
        assert_int_equal(got.message.len, m[i].message.len);
        assert_memory_equal(got.handle, m[i].handle, SDV_BROKER_SESSION_HANDLE_LEN);
        assert_int_equal(got.filter.period_ms, m[i].filter.period_ms);
        assert_int_equal(got.filter.change, m[i].filter.change);
        assert_int_equal(got.filter.range_count, m[i].filter.range_count);
        assert_int_equal(got.filter.range_any, m[i].filter.range_any);
        assert_value_equal(&got.filter.change_diff, &m[i].filter.change_diff);
        for (k = 0; k < got.filter.range_count; k++) {
            assert_int_equal(got.filter.range[k].op, m[i].filter.range[k].op);
            assert_value_equal(&got.filter.range[k].boundary, &m[i].filter.range[k].boundary);
        }
        for (k = 0; k < got.n_entries; k++) {
            const struct sdv_broker_entry *a = &got.entries[k], *b = &m[i].entries[k];

            assert_int_equal(a->id, b->id);
            assert_int_equal(a->path.len, b->path.len);
            assert_int_equal(a->status, b->status);
            assert_int_equal(a->datatype, b->datatype);
            assert_int_equal(a->entry_type, b->entry_type);
            if (got.type == SDV_BROKER_MSG_GET_RESULT || got.type == SDV_BROKER_MSG_PUBLISH ||
                got.type == SDV_BROKER_MSG_EVENT)
                assert_true(a->ts_us == b->ts_us);
            assert_value_equal(&a->value, &b->value);
        }
        sdv_buf_free(&wire);
    }
    for (i = 1; i <= SDV_BROKER_MSG_TYPE_MAX; i++)
        if (!seen[i])
            fail_msg("message type %s not covered", sdv_broker_msg_type_name((unsigned)i));
    assert_string_equal(sdv_broker_msg_type_name(SDV_BROKER_MSG_GET_RESULT), "GET_RESULT");
    assert_string_equal(sdv_broker_msg_type_name(99), "UNKNOWN");
}

static void test_strings_survive(void **state)
{
    struct sdv_broker_msg m[32], got;
    struct sdv_broker_entry e[64];
    struct sdv_buf wire;

    (void)state;
    all_messages(m, e);
    roundtrip(&m[0], &got, &wire);
    assert_str_equal(got.name, "hvac-provider");
    assert_str_equal(got.token, "eyJhbGciOi.x.y");
    sdv_buf_free(&wire);
    roundtrip(&m[2], &got, &wire);
    assert_str_equal(got.entries[0].path, "Vehicle.Speed");
    assert_str_equal(got.entries[1].path, "Vehicle.Nope");
    sdv_buf_free(&wire);
}

/* The whole stream of all messages fed one byte at a time yields the same frames. */
static void test_byte_by_byte(void **state)
{
    struct sdv_broker_msg m[32];
    struct sdv_broker_entry e[64];
    struct sdv_broker_decoder *d;
    struct sdv_buf stream, again;
    size_t n = all_messages(m, e), i, off = 0, frames = 0;

    (void)state;
    sdv_buf_init(&stream, 1u << 20);
    sdv_buf_init(&again, 1u << 20);
    for (i = 0; i < n; i++)
        assert_int_equal(sdv_broker_msg_encode(&m[i], &stream, NULL, 0), SDV_OK);
    assert_int_equal(sdv_broker_decoder_create(0, &d), SDV_OK);
    while (off < stream.len) {
        struct sdv_broker_frame f;
        struct sdv_broker_msg got;
        size_t used;
        bool complete;

        assert_int_equal(sdv_broker_decoder_feed(d, stream.data + off, 1, &used, &f, &complete),
                         SDV_OK);
        assert_int_equal(used, 1);
        off += used;
        if (!complete) {
            if (off < stream.len)
                continue;
            fail_msg("stream ended inside a frame");
        }
        assert_int_equal(f.type, m[frames].type);
        assert_int_equal(f.request_id, m[frames].request_id);
        assert_non_null(f.payload); /* also for an empty payload */
        assert_int_equal(sdv_broker_msg_parse(&f, &got, parsed_entries, ENTRIES_MAX, NULL, 0),
                         SDV_OK);
        assert_int_equal(sdv_broker_msg_encode(&got, &again, NULL, 0), SDV_OK);
        frames++;
    }
    assert_int_equal(frames, n);
    assert_int_equal(again.len, stream.len);
    assert_memory_equal(again.data, stream.data, stream.len);
    assert_int_equal(sdv_broker_decoder_finish(d), SDV_OK);
    /* Feeding an empty input is harmless. */
    {
        struct sdv_broker_frame f;
        size_t used;
        bool complete;

        assert_int_equal(sdv_broker_decoder_feed(d, NULL, 0, &used, &f, &complete), SDV_OK);
        assert_false(complete);
    }
    sdv_broker_decoder_destroy(d);
    sdv_buf_free(&stream);
    sdv_buf_free(&again);
}

/* Every proper prefix of every payload is refused by the parser with a message, and a stream
 * cut anywhere inside a frame is refused by the decoder at its end. */
static void test_every_truncation(void **state)
{
    struct sdv_broker_msg m[32], got;
    struct sdv_broker_entry e[64];
    size_t n = all_messages(m, e), i, k;

    (void)state;
    for (i = 0; i < n; i++) {
        struct sdv_buf wire;
        uint32_t len;

        sdv_buf_init(&wire, 1u << 20);
        assert_int_equal(sdv_broker_msg_encode(&m[i], &wire, NULL, 0), SDV_OK);
        len = (uint32_t)(wire.len - SDV_BROKER_HEADER_LEN);
        for (k = 0; k < len; k++) {
            struct sdv_broker_frame f = {m[i].type, 0, wire.data + SDV_BROKER_HEADER_LEN,
                                         (uint32_t)k};
            char err[256] = "";

            if (sdv_broker_msg_parse(&f, &got, parsed_entries, ENTRIES_MAX, err, sizeof(err)) !=
                SDV_EPARSE)
                fail_msg("%s truncated to %zu of %u bytes was accepted",
                         sdv_broker_msg_type_name(m[i].type), k, (unsigned)len);
            assert_true(strlen(err) > 0);
        }
        for (k = 1; k < wire.len; k++) {
            struct sdv_broker_decoder *d;
            struct sdv_broker_frame f;
            size_t used;
            bool complete;

            assert_int_equal(sdv_broker_decoder_create(0, &d), SDV_OK);
            assert_int_equal(sdv_broker_decoder_feed(d, wire.data, k, &used, &f, &complete),
                             SDV_OK);
            assert_false(complete);
            assert_int_equal(sdv_broker_decoder_finish(d), SDV_EPARSE);
            assert_non_null(strstr(sdv_broker_decoder_errmsg(d), "truncated"));
            sdv_broker_decoder_destroy(d);
        }
        sdv_buf_free(&wire);
    }
}

/* Feeds a 12-byte header and expects err with msg in the decoder's reason. */
static void expect_bad_header(const uint8_t *h, uint32_t payload_max, enum sdv_err err,
                              const char *msg)
{
    struct sdv_broker_decoder *d;
    struct sdv_broker_frame f;
    size_t used, k;
    bool complete;
    uint8_t more = 0;

    /* Whole header at once, then byte by byte: both paths check the same. */
    assert_int_equal(sdv_broker_decoder_create(payload_max, &d), SDV_OK);
    assert_int_equal(sdv_broker_decoder_feed(d, h, SDV_BROKER_HEADER_LEN, &used, &f, &complete),
                     err);
    assert_non_null(strstr(sdv_broker_decoder_errmsg(d), msg));
    /* Sticky. */
    assert_int_equal(sdv_broker_decoder_feed(d, &more, 1, &used, &f, &complete), err);
    assert_int_equal(sdv_broker_decoder_finish(d), err);
    sdv_broker_decoder_reset(d);
    for (k = 0; k < SDV_BROKER_HEADER_LEN - 1; k++)
        assert_int_equal(sdv_broker_decoder_feed(d, h + k, 1, &used, &f, &complete), SDV_OK);
    assert_int_equal(sdv_broker_decoder_feed(d, h + k, 1, &used, &f, &complete), err);
    assert_non_null(strstr(sdv_broker_decoder_errmsg(d), msg));
    sdv_broker_decoder_destroy(d);
}

static void test_bad_headers(void **state)
{
    uint8_t h[SDV_BROKER_HEADER_LEN] = {0xB1, SDV_BROKER_MSG_OK, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};

    (void)state;
    h[0] = 0x7B;
    expect_bad_header(h, 0, SDV_EPARSE, "bad magic");
    h[0] = 0xB2;
    expect_bad_header(h, 0, SDV_EPARSE, "unsupported protocol version 2");
    h[0] = 0xB1, h[1] = 0;
    expect_bad_header(h, 0, SDV_EPARSE, "unknown message type 0");
    h[1] = SDV_BROKER_MSG_TYPE_MAX + 1;
    expect_bad_header(h, 0, SDV_EPARSE, "unknown message type");
    h[1] = SDV_BROKER_MSG_OK, h[2] = 1;
    expect_bad_header(h, 0, SDV_EPARSE, "reserved flags");
    h[2] = 0;
    /* Length one above the bound, and the largest u32. */
    h[4] = 0x01, h[5] = 0x00, h[6] = 0x04, h[7] = 0x00; /* 256 KiB + 1 */
    expect_bad_header(h, 0, SDV_ETOOBIG, "exceeds 262144");
    h[4] = h[5] = h[6] = h[7] = 0xFF;
    expect_bad_header(h, 0, SDV_ETOOBIG, "4294967295 bytes exceeds");
    /* A caller's lower bound. */
    h[4] = 101, h[5] = h[6] = h[7] = 0;
    expect_bad_header(h, 100, SDV_ETOOBIG, "101 bytes exceeds 100");
}

/* Parses payload bytes of type t and expects a failure whose message contains msg. */
static void expect_bad_payload(uint8_t t, const uint8_t *p, size_t len, const char *msg)
{
    struct sdv_broker_frame f = {t, 1, p, (uint32_t)len};
    struct sdv_broker_msg got;
    char err[256] = "";
    enum sdv_err rc = sdv_broker_msg_parse(&f, &got, parsed_entries, ENTRIES_MAX, err, sizeof(err));

    if (rc == SDV_OK)
        fail_msg("%s payload accepted, expected \"%s\"", sdv_broker_msg_type_name(t), msg);
    if (strstr(err, msg) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, msg);
}

static void test_bad_payloads(void **state)
{
    (void)state;
    /* Trailing byte after an OK. */
    expect_bad_payload(SDV_BROKER_MSG_OK, (const uint8_t[]){0}, 1, "1 trailing bytes");
    /* LOOKUP: zero entries, too many entries, empty path, path too long, NUL in path. */
    expect_bad_payload(SDV_BROKER_MSG_LOOKUP, (const uint8_t[]){0, 0}, 2, "0 entries");
    expect_bad_payload(SDV_BROKER_MSG_LOOKUP, (const uint8_t[]){0x01, 0x04}, 2, "1025 entries");
    expect_bad_payload(SDV_BROKER_MSG_LOOKUP, (const uint8_t[]){1, 0, 0, 0}, 4, "path: empty");
    expect_bad_payload(SDV_BROKER_MSG_LOOKUP, (const uint8_t[]){1, 0, 0x01, 0x02}, 4,
                       "path: length 513 exceeds 512");
    expect_bad_payload(SDV_BROKER_MSG_LOOKUP, (const uint8_t[]){1, 0, 2, 0, 'a', 0}, 6,
                       "contains NUL");
    expect_bad_payload(SDV_BROKER_MSG_LOOKUP, (const uint8_t[]){1, 0, 5, 0, 'a'}, 5,
                       "truncated path");
    /* GET: unknown reference kind, id 0. */
    expect_bad_payload(SDV_BROKER_MSG_GET, (const uint8_t[]){1, 0, 3}, 3,
                       "unknown reference kind 3");
    expect_bad_payload(SDV_BROKER_MSG_GET, (const uint8_t[]){1, 0, 1, 0, 0, 0, 0}, 7,
                       "signal id 0");
    /* PUBLISH values: unknown datatype, boolean 2, NONE, string too long, array too long,
     * string array with the wrong number of NULs, a NaN float, an infinite double. */
#define PUB(...)  ((const uint8_t[]){1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, __VA_ARGS__})
#define PUBLEN(n) (14 + (n))
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(13), PUBLEN(1), "unknown datatype 13");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(0x40), PUBLEN(1), "unknown datatype 64");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(1, 2), PUBLEN(2), "boolean byte 2");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(0), PUBLEN(1), "datatype none");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(12, 0x01, 0x00, 0x01, 0x00), PUBLEN(5),
                       "length 65537 exceeds 65536");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(12, 3, 0, 0, 0, 'a', 0, 'b'), PUBLEN(8),
                       "contains NUL");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(0x24, 0x01, 0x10, 0, 0), PUBLEN(5),
                       "4097 elements exceed 4096");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(0x24, 2, 0, 0, 0, 1, 2, 3, 4), PUBLEN(9),
                       "truncated array elements");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(0x2c, 2, 0, 0, 0, 3, 0, 0, 0, 'a', 0, 'b'),
                       PUBLEN(12), "do not hold exactly 2 NUL-terminated strings");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(0x2c, 1, 0, 0, 0, 0x01, 0, 1, 0), PUBLEN(9),
                       "65537 bytes exceed 65536");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(0x21, 2, 0, 0, 0, 1, 7), PUBLEN(7),
                       "element 1: boolean byte 7");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(10, 0, 0, 0xC0, 0x7F), PUBLEN(5),
                       "float value is not finite");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(11, 0, 0, 0, 0, 0, 0, 0xF0, 0x7F), PUBLEN(9),
                       "double value is not finite");
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH, PUB(0x2a, 1, 0, 0, 0, 0, 0, 0x80, 0x7F), PUBLEN(9),
                       "element 0: float is not finite");
    /* Id 0 in a PUBLISH entry. */
    expect_bad_payload(SDV_BROKER_MSG_PUBLISH,
                       (const uint8_t[]){1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, 16,
                       "signal id 0");
#undef PUB
#undef PUBLEN
    /* ERROR with status 0; VALUES_LOST with zero counts; UNSUBSCRIBE of id 0. */
    expect_bad_payload(SDV_BROKER_MSG_ERROR, (const uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0}, 8,
                       "status 0");
    expect_bad_payload(SDV_BROKER_MSG_VALUES_LOST, (const uint8_t[]){1, 0, 0, 0, 0, 0, 0, 0}, 8,
                       "lost count 0");
    expect_bad_payload(SDV_BROKER_MSG_UNSUBSCRIBE, (const uint8_t[]){0, 0, 0, 0}, 4,
                       "subscription id 0");
    /* AUTH with an empty token (a renewal must carry one); SUB_ENDED without a status or id. */
    expect_bad_payload(SDV_BROKER_MSG_AUTH, (const uint8_t[]){0, 0}, 2, "token: empty");
    expect_bad_payload(SDV_BROKER_MSG_AUTH, (const uint8_t[]){0x01, 0x20}, 2,
                       "token: length 8193 exceeds 8192");
    expect_bad_payload(SDV_BROKER_MSG_SUB_ENDED, (const uint8_t[]){1, 0, 0, 0, 0, 0, 0, 0}, 8,
                       "status 0");
    expect_bad_payload(SDV_BROKER_MSG_SUB_ENDED, (const uint8_t[]){0, 0, 0, 0, 0x91, 1, 0, 0}, 8,
                       "subscription id 0");
    /* SESSION_HANDLE carries nothing; SESSION_HANDLE_OK exactly 32 bytes; RENEW 32 bytes and a
     * token that is not empty. */
    expect_bad_payload(SDV_BROKER_MSG_SESSION_HANDLE, (const uint8_t[]){0}, 1, "1 trailing bytes");
    expect_bad_payload(SDV_BROKER_MSG_SESSION_HANDLE_OK, (const uint8_t[31]){0}, 31,
                       "truncated session handle (32 bytes needed, 31 left)");
    expect_bad_payload(SDV_BROKER_MSG_SESSION_HANDLE_OK, (const uint8_t[33]){0}, 33,
                       "1 trailing bytes");
    expect_bad_payload(SDV_BROKER_MSG_RENEW, (const uint8_t[20]){0}, 20,
                       "truncated session handle");
    expect_bad_payload(SDV_BROKER_MSG_RENEW, (const uint8_t[32]){0}, 32, "truncated token");
    expect_bad_payload(SDV_BROKER_MSG_RENEW, (const uint8_t[34]){0}, 34, "token: empty");
    expect_bad_payload(SDV_BROKER_MSG_RENEW,
                       (const uint8_t[36]){[32] = 2, [33] = 0, [34] = 'a', [35] = 0}, 36,
                       "contains NUL");
    /* HELLO with a token above the bound. */
    expect_bad_payload(SDV_BROKER_MSG_HELLO, (const uint8_t[]){1, 0, 0, 0, 0x01, 0x20}, 6,
                       "token: length 8193 exceeds 8192");
    /* SUBSCRIBE filters: bad flag, unknown change operator, non-numeric boundary, three
     * boundaries, combination without boundaries, period above a day. */
    expect_bad_payload(SDV_BROKER_MSG_SUBSCRIBE,
                       (const uint8_t[]){0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0}, 16,
                       "flag bytes");
    expect_bad_payload(SDV_BROKER_MSG_SUBSCRIBE,
                       (const uint8_t[]){0, 0, 0, 0, 1, 9, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0}, 16,
                       "unknown change operator 9");
    expect_bad_payload(SDV_BROKER_MSG_SUBSCRIBE, (const uint8_t[]){0, 0, 0, 0, 0, 0, 0, 1, 0, 1,
                                                                   1, 1, 0, 1, 0, 1, 1, 0, 0, 0},
                       20, "range boundary 0 is not a number");
    expect_bad_payload(SDV_BROKER_MSG_SUBSCRIBE, (const uint8_t[]){0, 0, 0, 0, 0, 0, 0, 3, 0}, 9,
                       "3 range boundaries");
    expect_bad_payload(SDV_BROKER_MSG_SUBSCRIBE,
                       (const uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0}, 16,
                       "combination without boundaries");
    expect_bad_payload(
            SDV_BROKER_MSG_SUBSCRIBE,
            (const uint8_t[]){0x01, 0x5C, 0x26, 0x05, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0}, 16,
            "period 86400001 ms");
    /* LOOKUP_RESULT: found without a datatype; failed with an id. */
    expect_bad_payload(SDV_BROKER_MSG_LOOKUP_RESULT,
                       (const uint8_t[]){1, 0, 5, 0, 0, 0, 0, 1, 0, 0}, 10,
                       "found signal without id, datatype or entry type");
    expect_bad_payload(SDV_BROKER_MSG_LOOKUP_RESULT,
                       (const uint8_t[]){1, 0, 5, 0, 0, 0, 0, 0, 0x94, 0x01}, 10,
                       "failed lookup with id or type");
}

/* More entries than the receiver's array: ETOOBIG, not an overflow. */
static void test_entries_bound(void **state)
{
    struct sdv_broker_entry e[3] = {{0}}, few[2];
    struct sdv_broker_msg m, got;
    struct sdv_buf wire;
    struct sdv_broker_frame f;

    (void)state;
    sdv_buf_init(&wire, 4096);
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_GET, 1);
    e[0].id = 1, e[1].id = 2, e[2].id = 3;
    m.entries = e, m.n_entries = 3;
    assert_int_equal(sdv_broker_msg_encode(&m, &wire, NULL, 0), SDV_OK);
    f.type = SDV_BROKER_MSG_GET, f.request_id = 1, f.payload = wire.data + SDV_BROKER_HEADER_LEN;
    f.len = (uint32_t)(wire.len - SDV_BROKER_HEADER_LEN);
    assert_int_equal(sdv_broker_msg_parse(&f, &got, few, 2, NULL, 0), SDV_ETOOBIG);
    assert_int_equal(sdv_broker_msg_parse(&f, &got, e, 3, NULL, 0), SDV_OK);
    sdv_buf_free(&wire);
}

/* The encoder refuses what the parser would refuse, and appends nothing then. */
static void test_encoder_refuses(void **state)
{
    struct sdv_broker_entry e = {0};
    struct sdv_broker_msg m;
    struct sdv_buf wire;
    char err[256];
    double nan = 0.0 / 0.0;

    (void)state;
    sdv_buf_init(&wire, 1u << 20);
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_SET, 1);
    e.id = 5, e.value.type = SDV_BROKER_DT_INT8, e.value.v.i = 200;
    m.entries = &e, m.n_entries = 1;
    assert_int_equal(sdv_broker_msg_encode(&m, &wire, err, sizeof(err)), SDV_EINVAL);
    assert_non_null(strstr(err, "out of range for int8"));
    assert_int_equal(wire.len, 0);
    e.value.type = SDV_BROKER_DT_DOUBLE, e.value.v.d = nan;
    assert_int_equal(sdv_broker_msg_encode(&m, &wire, err, sizeof(err)), SDV_EINVAL);
    assert_non_null(strstr(err, "not finite"));
    e.value.type = SDV_BROKER_DT_NONE;
    assert_int_equal(sdv_broker_msg_encode(&m, &wire, err, sizeof(err)), SDV_EINVAL);
    e.value.type = SDV_BROKER_DT_INT32_ARRAY, e.value.count = 2, e.value.len = 4;
    e.value.v.p = i32s;
    assert_int_equal(sdv_broker_msg_encode(&m, &wire, err, sizeof(err)), SDV_EINVAL);
    assert_non_null(strstr(err, "4 bytes for 2 elements of 4 bytes"));
    e.value.type = SDV_BROKER_DT_BOOLEAN, e.id = 0, e.path.p = NULL, e.path.len = 0;
    assert_int_equal(sdv_broker_msg_encode(&m, &wire, err, sizeof(err)), SDV_EINVAL);
    assert_non_null(strstr(err, "path: empty"));
    assert_int_equal(wire.len, 0);
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_AUTH, 1); /* a renewal without a token */
    assert_int_equal(sdv_broker_msg_encode(&m, &wire, err, sizeof(err)), SDV_EINVAL);
    assert_non_null(strstr(err, "token: empty"));
    assert_int_equal(wire.len, 0);
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_RENEW, 1); /* a renewal by handle without a token */
    assert_int_equal(sdv_broker_msg_encode(&m, &wire, err, sizeof(err)), SDV_EINVAL);
    assert_non_null(strstr(err, "token: empty"));
    assert_int_equal(wire.len, 0);
    sdv_broker_msg_init(&m, 0, 1);
    assert_int_equal(sdv_broker_msg_encode(&m, &wire, err, sizeof(err)), SDV_EINVAL);
    /* An output buffer too small for the frame: ETOOBIG, nothing appended. */
    sdv_buf_free(&wire);
    sdv_buf_init(&wire, 8);
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_OK, 1);
    assert_int_equal(sdv_broker_msg_encode(&m, &wire, err, sizeof(err)), SDV_ETOOBIG);
    assert_int_equal(wire.len, 0);
    sdv_buf_free(&wire);
}

/* The batch builder fills a frame to SDV_BROKER_BATCH_MAX entries, then reports ETOOBIG, and
 * its frame parses to what was added. */
static void test_batch_builder(void **state)
{
    struct sdv_broker_value v = {.type = SDV_BROKER_DT_FLOAT, .v.f = 42.5f}, s;
    struct sdv_broker_batch b;
    struct sdv_broker_frame f;
    struct sdv_broker_msg got;
    struct sdv_buf out;
    uint32_t i;

    (void)state;
    sdv_buf_init(&out, 1u << 20);
    assert_int_equal(sdv_broker_batch_begin(&b, &out, SDV_BROKER_MSG_SET, 1, 0), SDV_EINVAL);
    assert_int_equal(sdv_broker_batch_begin(&b, &out, SDV_BROKER_MSG_EVENT, 1, 0), SDV_EINVAL);
    assert_int_equal(sdv_broker_batch_begin(&b, &out, SDV_BROKER_MSG_PUBLISH, 9, 0), SDV_OK);
    for (i = 0; i < SDV_BROKER_BATCH_MAX; i++)
        assert_int_equal(sdv_broker_batch_add(&b, i + 1, 0, 1000 + i, &v), SDV_OK);
    assert_int_equal(sdv_broker_batch_add(&b, 1, 0, 0, &v), SDV_ETOOBIG);
    sdv_broker_batch_end(&b);
    f.type = out.data[1], f.request_id = 9, f.payload = out.data + SDV_BROKER_HEADER_LEN;
    f.len = (uint32_t)(out.len - SDV_BROKER_HEADER_LEN);
    assert_int_equal(sdv_broker_msg_parse(&f, &got, parsed_entries, ENTRIES_MAX, NULL, 0), SDV_OK);
    assert_int_equal(got.n_entries, SDV_BROKER_BATCH_MAX);
    assert_int_equal(got.entries[1023].id, 1024);
    assert_true(got.entries[1023].ts_us == 1000 + 1023);
    assert_true(got.entries[5].value.v.f == 42.5f);
    /* A string that does not fit the remaining payload: ETOOBIG, frame still valid. */
    sdv_buf_reset(&out);
    assert_int_equal(sdv_broker_batch_begin(&b, &out, SDV_BROKER_MSG_EVENT, 0, 3), SDV_OK);
    memset(&s, 0, sizeof(s));
    s.type = SDV_BROKER_DT_STRING, s.count = 1, s.len = SDV_BROKER_STRING_LEN_MAX;
    s.v.p = calloc(1, SDV_BROKER_STRING_LEN_MAX);
    memset((void *)s.v.p, 'x', SDV_BROKER_STRING_LEN_MAX);
    for (i = 0; i < 3; i++)
        assert_int_equal(sdv_broker_batch_add(&b, 7, 0, 1, &s), SDV_OK);
    assert_int_equal(sdv_broker_batch_add(&b, 7, 0, 1, &s), SDV_ETOOBIG);
    assert_int_equal(sdv_broker_batch_add(&b, 7, 1, 1, &v), SDV_EINVAL); /* status in EVENT */
    sdv_broker_batch_end(&b);
    free((void *)s.v.p);
    f.type = out.data[1], f.request_id = 0, f.payload = out.data + SDV_BROKER_HEADER_LEN;
    f.len = (uint32_t)(out.len - SDV_BROKER_HEADER_LEN);
    assert_int_equal(sdv_broker_msg_parse(&f, &got, parsed_entries, ENTRIES_MAX, NULL, 0), SDV_OK);
    assert_int_equal(got.sub_id, 3);
    assert_int_equal(got.n_entries, 3);
    sdv_buf_free(&out);
}

/* The batch builder (with its fast path for numbers) writes the same bytes as the general
 * encoder, for every datatype, in PUBLISH, EVENT and GET_RESULT frames. */
static void test_batch_matches_encoder(void **state)
{
    static const uint8_t types[] = {SDV_BROKER_MSG_PUBLISH, SDV_BROKER_MSG_EVENT,
                                    SDV_BROKER_MSG_GET_RESULT};
    struct sdv_broker_value vals[24];
    struct sdv_broker_entry e[24];
    size_t nv = all_values(vals), k, t;

    (void)state;
    memset(e, 0, sizeof(e));
    for (k = 0; k < nv; k++)
        e[k].id = (uint32_t)(k + 1), e[k].ts_us = -(int64_t)k * 1000003, e[k].value = vals[k];
    for (t = 0; t < 3; t++) {
        struct sdv_broker_batch b;
        struct sdv_broker_msg m;
        struct sdv_buf x, y;

        sdv_buf_init(&x, 1u << 20);
        sdv_buf_init(&y, 1u << 20);
        sdv_broker_msg_init(&m, types[t], types[t] == SDV_BROKER_MSG_EVENT ? 0 : 42);
        m.sub_id = 9;
        m.entries = e;
        m.n_entries = (uint32_t)nv;
        assert_int_equal(sdv_broker_msg_encode(&m, &x, NULL, 0), SDV_OK);
        assert_int_equal(sdv_broker_batch_begin(&b, &y, types[t], 42, 9), SDV_OK);
        for (k = 0; k < nv; k++)
            assert_int_equal(sdv_broker_batch_add(&b, e[k].id, 0, e[k].ts_us, &e[k].value), SDV_OK);
        sdv_broker_batch_end(&b);
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.data, y.data, x.len);
        sdv_buf_free(&x);
        sdv_buf_free(&y);
    }
    /* Out-of-range and non-finite numbers are refused by the fast path too. */
    {
        struct sdv_broker_value bad = {.type = SDV_BROKER_DT_UINT8};
        struct sdv_broker_batch b;
        struct sdv_buf y;

        sdv_buf_init(&y, 1024);
        assert_int_equal(sdv_broker_batch_begin(&b, &y, SDV_BROKER_MSG_PUBLISH, 1, 0), SDV_OK);
        bad.v.u = 256;
        assert_int_equal(sdv_broker_batch_add(&b, 1, 0, 0, &bad), SDV_EINVAL);
        bad.type = SDV_BROKER_DT_DOUBLE;
        bad.v.d = 1.0 / 0.0;
        assert_int_equal(sdv_broker_batch_add(&b, 1, 0, 0, &bad), SDV_EINVAL);
        assert_int_equal(b.n, 0);
        assert_int_equal(y.len, SDV_BROKER_HEADER_LEN + 2);
        sdv_buf_free(&y);
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* xorshift64*: reproducible pseudo-random numbers for the property test. */
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

/* A random valid message of a random type; entries from e (64). */
static void random_message(struct sdv_broker_msg *m, struct sdv_broker_entry *e,
                           const struct sdv_broker_value *vals, size_t nv)
{
    static const char *const paths[] = {"Vehicle.Speed", "A", "Vehicle.Cabin.Door.Row1.Left"};
    uint8_t type = (uint8_t)(1 + rnd(SDV_BROKER_MSG_TYPE_MAX));
    uint32_t n = 1 + rnd(20), k;

    sdv_broker_msg_init(m, type, rnd(0xFFFFFFFFu));
    memset(e, 0, 64 * sizeof(*e));
    for (k = 0; k < n; k++) {
        e[k].id = rnd(3) == 0 ? 0 : 1 + rnd(5000);
        e[k].path.p = paths[rnd(3)];
        e[k].path.len = e[k].id == 0 ? (uint32_t)strlen(e[k].path.p) : 0;
        e[k].ts_us = (int64_t)rnd(0xFFFFFFFFu) - 0x7FFFFFFF;
        e[k].value = vals[rnd((uint32_t)nv)];
    }
    m->entries = e;
    m->n_entries = n;
    m->name.p = "x", m->name.len = rnd(2);
    m->token.p = "tok", m->token.len = rnd(4);
    m->message.p = "why", m->message.len = rnd(4);
    m->version = (uint16_t)rnd(3);
    m->status = (uint16_t)(type == SDV_BROKER_MSG_ERROR || type == SDV_BROKER_MSG_SUB_ENDED
                                   ? 400 + rnd(100)
                                   : rnd(2) * 409);
    if (type == SDV_BROKER_MSG_AUTH || type == SDV_BROKER_MSG_RENEW)
        m->token.len = 1 + rnd(3);
    if (type == SDV_BROKER_MSG_SESSION_HANDLE_OK || type == SDV_BROKER_MSG_RENEW)
        for (k = 0; k < SDV_BROKER_SESSION_HANDLE_LEN; k++)
            m->handle[k] = (uint8_t)rnd(256);
    m->sub_id = 1 + rnd(100);
    m->lost = 1 + rnd(100);
    m->actuation_id = ((uint64_t)rnd(0xFFFFFFFFu) << 32) | rnd(0xFFFFFFFFu);
    m->signal_id = rnd(10);
    m->payload_max = rnd(1u << 20);
    switch (type) {
    case SDV_BROKER_MSG_LOOKUP:
        for (k = 0; k < n; k++)
            e[k].path.len = (uint32_t)strlen(e[k].path.p);
        break;
    case SDV_BROKER_MSG_LOOKUP_RESULT:
        for (k = 0; k < n; k++) {
            e[k].status = rnd(2) ? 0 : 404;
            e[k].id = e[k].status ? 0 : 1 + rnd(100);
            e[k].datatype = e[k].status ? 0 : (uint8_t)vals[rnd((uint32_t)nv)].type;
            e[k].entry_type = e[k].status ? 0 : (uint8_t)(1 + rnd(3));
        }
        break;
    case SDV_BROKER_MSG_GET_RESULT:
        for (k = 0; k < n; k++)
            e[k].status = rnd(3) == 0 ? 404 : 0;
        break;
    case SDV_BROKER_MSG_PUBLISH:
    case SDV_BROKER_MSG_EVENT:
    case SDV_BROKER_MSG_SUBSCRIBED:
        for (k = 0; k < n; k++)
            e[k].id = 1 + rnd(5000);
        break;
    case SDV_BROKER_MSG_SET:
    case SDV_BROKER_MSG_ACTUATE:
        m->n_entries = 1;
        e[0].id = type == SDV_BROKER_MSG_ACTUATE || rnd(2) ? 1 + rnd(99) : 0;
        e[0].path.len = e[0].id == 0 ? (uint32_t)strlen(e[0].path.p) : 0;
        break;
    case SDV_BROKER_MSG_SUBSCRIBE:
        m->filter.period_ms = rnd(2) * rnd(100000);
        if (rnd(2)) {
            m->filter.change = true;
            m->filter.change_op = (enum sdv_broker_op)rnd(7);
            m->filter.change_diff = vals[1 + rnd(10)]; /* int8 .. double */
        }
        m->filter.range_count = rnd(3);
        m->filter.range_any = m->filter.range_count > 0 && rnd(2);
        for (k = 0; k < m->filter.range_count; k++) {
            m->filter.range[k].op = (enum sdv_broker_op)(1 + rnd(6));
            m->filter.range[k].boundary = vals[1 + rnd(10)];
        }
        break;
    default:
        break;
    }
}

/* Property: random valid messages encode, decode in random splits, parse and re-encode to the
 * same bytes. */
static void test_random_roundtrips(void **state)
{
    struct sdv_broker_value vals[24];
    struct sdv_broker_entry e[64];
    struct sdv_broker_decoder *d;
    struct sdv_buf wire, again;
    size_t nv = all_values(vals), round;

    (void)state;
    sdv_buf_init(&wire, 1u << 20);
    sdv_buf_init(&again, 1u << 20);
    assert_int_equal(sdv_broker_decoder_create(0, &d), SDV_OK);
    for (round = 0; round < 3000; round++) {
        struct sdv_broker_msg m, got;
        size_t off = 0;
        char err[256];
        bool done = false;

        random_message(&m, e, vals, nv);
        sdv_buf_reset(&wire);
        if (sdv_broker_msg_encode(&m, &wire, err, sizeof(err)) != SDV_OK)
            fail_msg("round %zu: %s not encodable: %s", round, sdv_broker_msg_type_name(m.type),
                     err);
        while (!done) {
            struct sdv_broker_frame f;
            size_t used, n = 1 + rnd(64);
            bool complete;

            assert_true(off < wire.len);
            if (n > wire.len - off)
                n = wire.len - off;
            assert_int_equal(sdv_broker_decoder_feed(d, wire.data + off, n, &used, &f, &complete),
                             SDV_OK);
            off += used;
            if (!complete)
                continue;
            done = true;
            assert_int_equal(off, wire.len);
            if (sdv_broker_msg_parse(&f, &got, parsed_entries, ENTRIES_MAX, err, sizeof(err)) !=
                SDV_OK)
                fail_msg("round %zu: %s does not parse: %s", round,
                         sdv_broker_msg_type_name(m.type), err);
            sdv_buf_reset(&again);
            assert_int_equal(sdv_broker_msg_encode(&got, &again, NULL, 0), SDV_OK);
            assert_int_equal(again.len, wire.len);
            assert_memory_equal(again.data, wire.data, wire.len);
        }
    }
    sdv_broker_decoder_destroy(d);
    sdv_buf_free(&wire);
    sdv_buf_free(&again);
}

/* The worked example of docs/broker-protocol.md, byte for byte. */
static void test_doc_example(void **state)
{
    static const uint8_t want[] = {0xb1, 0x0a, 0x00, 0x00, 0x13, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00,
                                   0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x40, 0x1e, 0x18,
                                   0x24, 0x0a, 0x06, 0x00, 0x0a, 0x00, 0x00, 0x4a, 0x42};
    struct sdv_broker_entry e = {.id = 5, .ts_us = 1700000000000000};
    struct sdv_broker_msg m;
    struct sdv_buf b;

    (void)state;
    e.value.type = SDV_BROKER_DT_FLOAT;
    e.value.v.f = 50.5f;
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_PUBLISH, 3);
    m.entries = &e;
    m.n_entries = 1;
    sdv_buf_init(&b, 256);
    assert_int_equal(sdv_broker_msg_encode(&m, &b, NULL, 0), SDV_OK);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    sdv_buf_free(&b);
}

static void test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(sdv_broker_status_from_err(SDV_OK), 0);
    assert_int_equal(sdv_broker_status_from_err(SDV_ERANGE), 400);
    assert_int_equal(sdv_broker_status_from_err(SDV_EDENIED), 403);
    assert_int_equal(sdv_broker_status_from_err(SDV_ENOENT), 404);
    assert_int_equal(sdv_broker_status_from_err(SDV_EREJECTED), 409);
    assert_int_equal(sdv_broker_status_from_err(SDV_EUNAVAILABLE), 503);
    assert_int_equal(sdv_broker_status_from_err(SDV_ELIMIT), 429);
    assert_int_equal(sdv_broker_status_from_err(SDV_EIO), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_every_message_roundtrips),
            cmocka_unit_test(test_strings_survive),
            cmocka_unit_test(test_byte_by_byte),
            cmocka_unit_test(test_every_truncation),
            cmocka_unit_test(test_bad_headers),
            cmocka_unit_test(test_bad_payloads),
            cmocka_unit_test(test_entries_bound),
            cmocka_unit_test(test_encoder_refuses),
            cmocka_unit_test(test_batch_builder),
            cmocka_unit_test(test_batch_matches_encoder),
            cmocka_unit_test(test_random_roundtrips),
            cmocka_unit_test(test_doc_example),
            cmocka_unit_test(test_status_mapping),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
