/*
 * test_ecu_link.c - lib/ecu_link: every message survives encode -> decode -> parse, in one
 * piece and byte by byte; the decoder refuses oversized lengths, bad magic, other versions,
 * unknown types and truncated frames with a clear message, and stays failed; the parser refuses
 * trailing bytes and bad fields; connections over a socketpair, a Unix socket in a temporary
 * directory and TCP on 127.0.0.1, including timeouts and a peer that closes mid-frame.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sdv/ecu_link.h>

static const uint8_t key_json[] = "{\"keytype\":\"ed25519\",\"keyval\":{\"public\":\"00\"}}";
static const uint8_t file_bytes[] = "{\"signed\":{\"_type\":\"targets\"},\"signatures\":[]}";
static const uint8_t chunk[] = {0x00, 0x01, 0xff, 0x7f, 0x80};
static const uint8_t report[] = "{\"signed\":{},\"signatures\":[]}";

/* One message of each type, with every field set. */
static void sample(unsigned type, struct sdv_ecu_link_msg *m)
{
    sdv_ecu_link_msg_init(m, (enum sdv_ecu_link_type)type);
    switch (type) {
    case SDV_ECU_LINK_INFO:
        m->mode = SDV_ECU_LINK_MODE_FULL;
        snprintf(m->serial, sizeof(m->serial), "ecu-b");
        snprintf(m->hardware_id, sizeof(m->hardware_id), "hw-zone");
        m->data = key_json;
        m->data_len = sizeof(key_json) - 1;
        break;
    case SDV_ECU_LINK_METADATA:
        m->repo = SDV_ECU_LINK_REPO_IMAGE;
        snprintf(m->name, sizeof(m->name), "2.root.json");
        m->data = file_bytes;
        m->data_len = sizeof(file_bytes) - 1;
        break;
    case SDV_ECU_LINK_IMAGE_BEGIN:
        m->length = UINT64_C(0x0102030405060708);
        snprintf(m->name, sizeof(m->name), "firmware/zone-2.0.bin");
        break;
    case SDV_ECU_LINK_IMAGE_DATA:
        m->data = chunk;
        m->data_len = sizeof(chunk);
        break;
    case SDV_ECU_LINK_INSTALL:
        snprintf(m->name, sizeof(m->name), "firmware/zone-2.0.bin");
        break;
    case SDV_ECU_LINK_VERSION_REPORT:
        m->data = report;
        m->data_len = sizeof(report) - 1;
        break;
    case SDV_ECU_LINK_RESULT:
        m->status = SDV_EHASH;
        snprintf(m->text, sizeof(m->text), "sha256 hash mismatch");
        break;
    default:
        break;
    }
}

static void assert_same(const struct sdv_ecu_link_msg *a, const struct sdv_ecu_link_msg *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->repo, b->repo);
    assert_int_equal(a->status, b->status);
    assert_true(a->length == b->length);
    assert_string_equal(a->serial, b->serial);
    assert_string_equal(a->hardware_id, b->hardware_id);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->text, b->text);
    assert_int_equal(a->data_len, b->data_len);
    if (a->data_len > 0)
        assert_memory_equal(a->data, b->data, a->data_len);
}

static void encode(const struct sdv_ecu_link_msg *m, struct sdv_buf *out)
{
    char msg[256];

    if (sdv_ecu_link_encode(m, out, msg, sizeof(msg)) != SDV_OK)
        fail_msg("encode %s: %s", sdv_ecu_link_type_name(m->type), msg);
}

static void test_round_trip_every_message(void **state)
{
    struct sdv_ecu_link_decoder *d;

    (void)state;
    assert_int_equal(sdv_ecu_link_decoder_create(0, &d), SDV_OK);
    for (unsigned type = 1; type <= SDV_ECU_LINK_TYPE_MAX; type++) {
        struct sdv_ecu_link_msg in, out;
        struct sdv_ecu_link_frame f;
        struct sdv_buf b;
        size_t used;
        int complete;
        char msg[256];

        sdv_buf_init(&b, 1u << 20);
        sample(type, &in);
        encode(&in, &b);
        assert_int_equal(b.data[0], SDV_ECU_LINK_MAGIC_VERSION);
        assert_int_equal(b.data[1], type);
        assert_int_equal(sdv_ecu_link_decoder_feed(d, b.data, b.len, &used, &f, &complete), SDV_OK);
        assert_int_equal(used, b.len);
        assert_true(complete);
        assert_int_equal(f.type, type);
        assert_int_equal(f.len, b.len - SDV_ECU_LINK_HEADER_LEN);
        assert_int_equal(sdv_ecu_link_parse(f.type, f.payload, f.len, &out, msg, sizeof(msg)),
                         SDV_OK);
        assert_same(&in, &out);
        assert_int_equal(sdv_ecu_link_decoder_finish(d), SDV_OK);
        sdv_buf_free(&b);
    }
    sdv_ecu_link_decoder_destroy(d);
}

/* All messages back to back, delivered one byte per feed: every frame comes out whole and in
 * order, and each feed takes exactly the one byte. */
static void test_split_byte_by_byte_all(void **state)
{
    struct sdv_ecu_link_decoder *d;
    struct sdv_buf b;
    unsigned next = 1;

    (void)state;
    sdv_buf_init(&b, 1u << 20);
    for (unsigned type = 1; type <= SDV_ECU_LINK_TYPE_MAX; type++) {
        struct sdv_ecu_link_msg m;

        sample(type, &m);
        encode(&m, &b);
    }
    assert_int_equal(sdv_ecu_link_decoder_create(0, &d), SDV_OK);
    for (size_t i = 0; i < b.len; i++) {
        struct sdv_ecu_link_frame f;
        size_t used;
        int complete;

        assert_true(sdv_ecu_link_decoder_want(d) > 0);
        assert_int_equal(sdv_ecu_link_decoder_feed(d, b.data + i, 1, &used, &f, &complete), SDV_OK);
        assert_int_equal(used, 1);
        if (complete) {
            struct sdv_ecu_link_msg in, out;

            sample(next, &in);
            assert_int_equal(sdv_ecu_link_parse(f.type, f.payload, f.len, &out, NULL, 0), SDV_OK);
            assert_same(&in, &out);
            next++;
        }
    }
    assert_int_equal(next, SDV_ECU_LINK_TYPE_MAX + 1);
    assert_int_equal(sdv_ecu_link_decoder_finish(d), SDV_OK);
    sdv_ecu_link_decoder_destroy(d);
    sdv_buf_free(&b);
}

/* Two frames in one feed: the decoder stops after the first and takes the second next. */
static void test_two_frames_one_feed(void **state)
{
    struct sdv_ecu_link_decoder *d;
    struct sdv_ecu_link_msg a, b2;
    struct sdv_ecu_link_frame f;
    struct sdv_buf b;
    size_t used, first_len;
    int complete;

    (void)state;
    sdv_buf_init(&b, 4096);
    sample(SDV_ECU_LINK_HELLO, &a);
    encode(&a, &b);
    first_len = b.len;
    sample(SDV_ECU_LINK_RESULT, &b2);
    encode(&b2, &b);
    assert_int_equal(sdv_ecu_link_decoder_create(0, &d), SDV_OK);
    assert_int_equal(sdv_ecu_link_decoder_feed(d, b.data, b.len, &used, &f, &complete), SDV_OK);
    assert_true(complete);
    assert_int_equal(used, first_len);
    assert_int_equal(f.type, SDV_ECU_LINK_HELLO);
    assert_int_equal(
            sdv_ecu_link_decoder_feed(d, b.data + used, b.len - used, &used, &f, &complete),
            SDV_OK);
    assert_true(complete);
    assert_int_equal(f.type, SDV_ECU_LINK_RESULT);
    sdv_ecu_link_decoder_destroy(d);
    sdv_buf_free(&b);
}

/* Feeds a 6-byte header; returns the decoder's verdict and copies its message. */
static enum sdv_err feed_header(uint8_t magic, uint8_t type, uint32_t len, uint32_t max, char *msg,
                                size_t msg_len)
{
    uint8_t h[6] = {
            magic,       type, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
            (uint8_t)len};
    struct sdv_ecu_link_decoder *d;
    struct sdv_ecu_link_frame f;
    size_t used;
    int complete;
    enum sdv_err err;

    assert_int_equal(sdv_ecu_link_decoder_create(max, &d), SDV_OK);
    err = sdv_ecu_link_decoder_feed(d, h, sizeof(h), &used, &f, &complete);
    snprintf(msg, msg_len, "%s", sdv_ecu_link_decoder_errmsg(d));
    if (err != SDV_OK) {
        uint8_t more = 0;

        /* Sticky: a failed decoder refuses everything until reset. */
        assert_int_equal(sdv_ecu_link_decoder_feed(d, &more, 1, &used, &f, &complete), err);
        assert_int_equal(sdv_ecu_link_decoder_finish(d), err);
        sdv_ecu_link_decoder_reset(d);
        assert_int_equal(sdv_ecu_link_decoder_finish(d), SDV_OK);
    }
    sdv_ecu_link_decoder_destroy(d);
    return err;
}

static void test_decoder_refuses_bad_headers(void **state)
{
    char msg[256];

    (void)state;
    assert_int_equal(feed_header(0x7b, SDV_ECU_LINK_HELLO, 0, 0, msg, sizeof(msg)), SDV_EPARSE);
    assert_non_null(strstr(msg, "bad magic byte 0x7b"));
    assert_int_equal(feed_header(0xD2, SDV_ECU_LINK_HELLO, 0, 0, msg, sizeof(msg)), SDV_EPARSE);
    assert_non_null(strstr(msg, "unsupported protocol version 2"));
    assert_int_equal(feed_header(0xD1, 0, 0, 0, msg, sizeof(msg)), SDV_EPARSE);
    assert_non_null(strstr(msg, "unknown message type 0"));
    assert_int_equal(feed_header(0xD1, 11, 0, 0, msg, sizeof(msg)), SDV_EPARSE);
    assert_int_equal(feed_header(0xD1, 255, 4, 0, msg, sizeof(msg)), SDV_EPARSE);
    assert_non_null(strstr(msg, "unknown message type 255"));
    /* Oversized: per type, without reading a payload byte. */
    assert_int_equal(feed_header(0xD1, SDV_ECU_LINK_METADATA, 0xFFFFFFFFu, 0, msg, sizeof(msg)),
                     SDV_ETOOBIG);
    assert_non_null(strstr(msg, "METADATA frame announces 4294967295 payload bytes"));
    assert_int_equal(feed_header(0xD1, SDV_ECU_LINK_IMAGE_DATA, SDV_ECU_LINK_CHUNK_LEN_MAX + 1, 0,
                                 msg, sizeof(msg)),
                     SDV_ETOOBIG);
    assert_int_equal(feed_header(0xD1, SDV_ECU_LINK_HELLO, 1, 0, msg, sizeof(msg)), SDV_ETOOBIG);
    assert_int_equal(feed_header(0xD1, SDV_ECU_LINK_METADATA, 4096, 1024, msg, sizeof(msg)),
                     SDV_ETOOBIG);
    /* Below a type's minimum. */
    assert_int_equal(feed_header(0xD1, SDV_ECU_LINK_IMAGE_DATA, 0, 0, msg, sizeof(msg)),
                     SDV_EPARSE);
    assert_non_null(strstr(msg, "at least 1"));
    /* At the bound is fine. */
    assert_int_equal(feed_header(0xD1, SDV_ECU_LINK_IMAGE_DATA, SDV_ECU_LINK_CHUNK_LEN_MAX, 0, msg,
                                 sizeof(msg)),
                     SDV_OK);
}

static void test_truncated_at_eof(void **state)
{
    struct sdv_ecu_link_decoder *d;
    struct sdv_ecu_link_msg m;
    struct sdv_ecu_link_frame f;
    struct sdv_buf b;
    size_t used;
    int complete;

    (void)state;
    sdv_buf_init(&b, 4096);
    sample(SDV_ECU_LINK_METADATA, &m);
    encode(&m, &b);
    assert_int_equal(sdv_ecu_link_decoder_create(0, &d), SDV_OK);
    assert_int_equal(sdv_ecu_link_decoder_feed(d, b.data, 3, &used, &f, &complete), SDV_OK);
    assert_false(complete);
    assert_int_equal(sdv_ecu_link_decoder_finish(d), SDV_EPARSE);
    assert_non_null(strstr(sdv_ecu_link_decoder_errmsg(d), "truncated frame"));
    assert_non_null(strstr(sdv_ecu_link_decoder_errmsg(d), "3 of 6 header bytes"));
    sdv_ecu_link_decoder_reset(d);
    assert_int_equal(sdv_ecu_link_decoder_feed(d, b.data, b.len - 1, &used, &f, &complete), SDV_OK);
    assert_false(complete);
    assert_int_equal(sdv_ecu_link_decoder_want(d), 1);
    assert_int_equal(sdv_ecu_link_decoder_finish(d), SDV_EPARSE);
    assert_non_null(strstr(sdv_ecu_link_decoder_errmsg(d), "payload bytes of a METADATA frame"));
    sdv_ecu_link_decoder_destroy(d);
    sdv_buf_free(&b);
}

/* Parses a hand-made payload. */
static enum sdv_err parse_raw(unsigned type, const void *p, size_t len, char *msg, size_t msg_len)
{
    struct sdv_ecu_link_msg m;

    return sdv_ecu_link_parse(type, p, len, &m, msg, msg_len);
}

static void test_parser_is_strict(void **state)
{
    char msg[256];

    (void)state;
    /* INSTALL: string length 3 but 4 bytes follow. */
    assert_int_equal(parse_raw(SDV_ECU_LINK_INSTALL, "\0\3abcd", 6, msg, sizeof(msg)), SDV_EPARSE);
    assert_non_null(strstr(msg, "trailing bytes"));
    /* String longer than the payload. */
    assert_int_equal(parse_raw(SDV_ECU_LINK_INSTALL, "\0\7abc", 5, msg, sizeof(msg)), SDV_EPARSE);
    assert_non_null(strstr(msg, "cut off"));
    /* NUL inside a name. */
    assert_int_equal(parse_raw(SDV_ECU_LINK_INSTALL, "\0\3a\0c", 5, msg, sizeof(msg)), SDV_EPARSE);
    assert_non_null(strstr(msg, "NUL"));
    /* METADATA: unknown repository, '/' or ".." in a file name, no file bytes. */
    assert_int_equal(parse_raw(SDV_ECU_LINK_METADATA, "\3\0\1ax", 5, msg, sizeof(msg)), SDV_EPARSE);
    assert_non_null(strstr(msg, "repository is unknown"));
    assert_int_equal(parse_raw(SDV_ECU_LINK_METADATA, "\1\0\3a/bx", 7, msg, sizeof(msg)),
                     SDV_EPARSE);
    assert_non_null(strstr(msg, "'/'"));
    assert_int_equal(parse_raw(SDV_ECU_LINK_METADATA, "\1\0\2..x", 6, msg, sizeof(msg)),
                     SDV_EPARSE);
    assert_int_equal(parse_raw(SDV_ECU_LINK_METADATA, "\1\0\2abx", 6, msg, sizeof(msg)), SDV_OK);
    assert_int_equal(parse_raw(SDV_ECU_LINK_METADATA, "\1\0\3abc", 6, msg, sizeof(msg)),
                     SDV_EPARSE);
    /* INFO: unknown mode; empty serial. */
    assert_int_equal(parse_raw(SDV_ECU_LINK_INFO, "\3\0\1a\0\1b{", 8, msg, sizeof(msg)),
                     SDV_EPARSE);
    assert_non_null(strstr(msg, "mode is unknown"));
    assert_int_equal(parse_raw(SDV_ECU_LINK_INFO, "\1\0\0\0\1b{}", 8, msg, sizeof(msg)),
                     SDV_EPARSE);
    assert_non_null(strstr(msg, "serial is empty"));
    /* RESULT: NUL in the text. */
    assert_int_equal(parse_raw(SDV_ECU_LINK_RESULT, "\0\0\0\0a\0", 6, msg, sizeof(msg)),
                     SDV_EPARSE);
    /* A length outside the type's bounds, and an unknown type. */
    assert_int_equal(parse_raw(SDV_ECU_LINK_HELLO, "x", 1, msg, sizeof(msg)), SDV_EPARSE);
    assert_int_equal(parse_raw(42, "", 0, msg, sizeof(msg)), SDV_EPARSE);
    assert_non_null(strstr(msg, "unknown message type 42"));
}

static void test_encoder_is_strict(void **state)
{
    static uint8_t big[SDV_ECU_LINK_CHUNK_LEN_MAX + 1];
    struct sdv_ecu_link_msg m;
    struct sdv_buf b;
    char msg[256];

    (void)state;
    sdv_buf_init(&b, 1u << 20);
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_IMAGE_DATA);
    m.data = big;
    m.data_len = sizeof(big);
    assert_int_equal(sdv_ecu_link_encode(&m, &b, msg, sizeof(msg)), SDV_EINVAL);
    m.data_len = 0;
    assert_int_equal(sdv_ecu_link_encode(&m, &b, msg, sizeof(msg)), SDV_EINVAL);
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_INSTALL);
    assert_int_equal(sdv_ecu_link_encode(&m, &b, msg, sizeof(msg)), SDV_EINVAL);
    assert_non_null(strstr(msg, "empty"));
    sample(SDV_ECU_LINK_METADATA, &m);
    snprintf(m.name, sizeof(m.name), "../root.json");
    assert_int_equal(sdv_ecu_link_encode(&m, &b, msg, sizeof(msg)), SDV_EINVAL);
    sdv_ecu_link_msg_init(&m, (enum sdv_ecu_link_type)99);
    assert_int_equal(sdv_ecu_link_encode(&m, &b, msg, sizeof(msg)), SDV_EINVAL);
    assert_int_equal(b.len, 0);
    /* A buffer too small for the frame: nothing appended. */
    sdv_buf_free(&b);
    sdv_buf_init(&b, 8);
    sample(SDV_ECU_LINK_RESULT, &m);
    assert_int_equal(sdv_ecu_link_encode(&m, &b, msg, sizeof(msg)), SDV_ETOOBIG);
    assert_int_equal(b.len, 0);
    sdv_buf_free(&b);
}

/* ---- Sockets -------------------------------------------------------------------------- */

static int64_t test_clock_ms(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_pair(struct sdv_ecu_link_conn **a, struct sdv_ecu_link_conn **b, int timeout_ms)
{
    struct sdv_ecu_link_io io = {timeout_ms, test_clock_ms, NULL, 0};
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(sdv_ecu_link_conn_create(sv[0], &io, a), SDV_OK);
    assert_int_equal(sdv_ecu_link_conn_create(sv[1], &io, b), SDV_OK);
}

/* Every message over a socketpair, then a clean close: ENOENT. */
static void test_conn_socketpair(void **state)
{
    struct sdv_ecu_link_conn *a, *b;

    (void)state;
    conn_pair(&a, &b, 2000);
    for (unsigned type = 1; type <= SDV_ECU_LINK_TYPE_MAX; type++) {
        struct sdv_ecu_link_msg in, out;

        sample(type, &in);
        assert_int_equal(sdv_ecu_link_conn_send(a, &in), SDV_OK);
        assert_int_equal(sdv_ecu_link_conn_recv(b, &out), SDV_OK);
        assert_same(&in, &out);
    }
    sdv_ecu_link_conn_destroy(a);
    {
        struct sdv_ecu_link_msg out;

        assert_int_equal(sdv_ecu_link_conn_recv(b, &out), SDV_ENOENT);
    }
    sdv_ecu_link_conn_destroy(b);
}

/* A large METADATA frame crosses the socket in many reads. */
static void test_conn_large_frame(void **state)
{
    struct sdv_ecu_link_conn *a, *b;
    struct sdv_ecu_link_msg in, out;
    size_t len = 3u * 1024u * 1024u + 17u;
    uint8_t *data = malloc(len);
    pid_t pid;

    (void)state;
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 31u);
    conn_pair(&a, &b, 5000);
    sdv_ecu_link_msg_init(&in, SDV_ECU_LINK_METADATA);
    in.repo = SDV_ECU_LINK_REPO_DIRECTOR;
    snprintf(in.name, sizeof(in.name), "targets.json");
    in.data = data;
    in.data_len = len;
    /* The socket buffer is smaller than the frame: send from a child. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(sdv_ecu_link_conn_send(a, &in) == SDV_OK ? 0 : 1);
    assert_int_equal(sdv_ecu_link_conn_recv(b, &out), SDV_OK);
    assert_same(&in, &out);
    {
        int status = 0;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    sdv_ecu_link_conn_destroy(a);
    sdv_ecu_link_conn_destroy(b);
    free(data);
}

static void test_conn_timeout_and_truncation(void **state)
{
    struct sdv_ecu_link_conn *a, *b;
    struct sdv_ecu_link_msg m;
    struct sdv_buf frame;
    time_t t0;

    (void)state;
    conn_pair(&a, &b, 200);
    /* Nothing arrives. */
    t0 = time(NULL);
    assert_int_equal(sdv_ecu_link_conn_recv(b, &m), SDV_ENET);
    assert_non_null(strstr(sdv_ecu_link_conn_errmsg(b), "timed out after 200 ms"));
    assert_true(time(NULL) - t0 < 5);
    sdv_ecu_link_conn_destroy(b);
    sdv_ecu_link_conn_destroy(a);

    /* Half a frame, then silence: the frame deadline expires. */
    conn_pair(&a, &b, 300);
    sdv_buf_init(&frame, 4096);
    sample(SDV_ECU_LINK_RESULT, &m);
    encode(&m, &frame);
    assert_int_equal(sdv_ecu_link_conn_send_raw(a, frame.data, 8), SDV_OK);
    assert_int_equal(sdv_ecu_link_conn_recv(b, &m), SDV_ENET);
    assert_non_null(strstr(sdv_ecu_link_conn_errmsg(b), "timed out"));
    sdv_ecu_link_conn_destroy(b);
    sdv_ecu_link_conn_destroy(a);

    /* Half a frame, then the peer closes: a truncated frame, not a clean end. */
    conn_pair(&a, &b, 2000);
    assert_int_equal(sdv_ecu_link_conn_send_raw(a, frame.data, 8), SDV_OK);
    sdv_ecu_link_conn_destroy(a);
    assert_int_equal(sdv_ecu_link_conn_recv(b, &m), SDV_EPARSE);
    assert_non_null(strstr(sdv_ecu_link_conn_errmsg(b), "truncated frame"));
    sdv_ecu_link_conn_destroy(b);

    /* An oversized header is refused before any payload is read. */
    conn_pair(&a, &b, 2000);
    {
        const uint8_t bad[6] = {0xD1, SDV_ECU_LINK_METADATA, 0xff, 0xff, 0xff, 0xff};

        assert_int_equal(sdv_ecu_link_conn_send_raw(a, bad, sizeof(bad)), SDV_OK);
    }
    assert_int_equal(sdv_ecu_link_conn_recv(b, &m), SDV_ETOOBIG);
    sdv_ecu_link_conn_destroy(b);
    /* Sending to a closed peer fails without SIGPIPE killing the test. */
    sample(SDV_ECU_LINK_HELLO, &m);
    for (int i = 0; i < 3; i++)
        (void)sdv_ecu_link_conn_send(a, &m);
    assert_int_equal(sdv_ecu_link_conn_send(a, &m), SDV_ENET);
    sdv_ecu_link_conn_destroy(a);
    sdv_buf_free(&frame);
}

/* Listens on addr, connects, exchanges HELLO/RESULT both ways. */
static void exchange_over(const char *addr, char *bound, size_t bound_len)
{
    struct sdv_ecu_link_conn *client, *server;
    struct sdv_ecu_link_msg in, out;
    int lfd, cfd, sfd;
    char msg[256];

    assert_int_equal(sdv_ecu_link_listen(addr, &lfd, msg, sizeof(msg)), SDV_OK);
    assert_int_equal(sdv_ecu_link_bound_addr(lfd, bound, bound_len), SDV_OK);
    /* Nobody connects yet: accept times out. */
    assert_int_equal(sdv_ecu_link_accept(lfd, 50, &sfd, msg, sizeof(msg)), SDV_ENET);
    assert_non_null(strstr(msg, "timed out"));
    assert_int_equal(sdv_ecu_link_connect(bound, 2000, &cfd, msg, sizeof(msg)), SDV_OK);
    assert_int_equal(sdv_ecu_link_accept(lfd, 2000, &sfd, msg, sizeof(msg)), SDV_OK);
    assert_int_equal(sdv_ecu_link_conn_create(cfd, NULL, &client), SDV_OK);
    assert_int_equal(sdv_ecu_link_conn_create(sfd, NULL, &server), SDV_OK);
    sample(SDV_ECU_LINK_IMAGE_BEGIN, &in);
    assert_int_equal(sdv_ecu_link_conn_send(client, &in), SDV_OK);
    assert_int_equal(sdv_ecu_link_conn_recv(server, &out), SDV_OK);
    assert_same(&in, &out);
    sample(SDV_ECU_LINK_RESULT, &in);
    assert_int_equal(sdv_ecu_link_conn_send(server, &in), SDV_OK);
    assert_int_equal(sdv_ecu_link_conn_recv(client, &out), SDV_OK);
    assert_same(&in, &out);
    sdv_ecu_link_conn_destroy(client);
    sdv_ecu_link_conn_destroy(server);
    close(lfd);
}

static void test_unix_socket(void **state)
{
    char dir[256], addr[300], bound[400], msg[256];
    int lfd, lfd2;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/sdv-ecu-link-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(addr, sizeof(addr), "unix:%s/sec.sock", dir);
    exchange_over(addr, bound, sizeof(bound));
    assert_string_equal(bound, addr);
    /* The socket file is left behind as after a kill -9: listen again removes it. */
    assert_int_equal(sdv_ecu_link_listen(addr, &lfd, msg, sizeof(msg)), SDV_OK);
    /* A live listener is not taken over. */
    assert_int_equal(sdv_ecu_link_listen(addr, &lfd2, msg, sizeof(msg)), SDV_EEXIST);
    assert_non_null(strstr(msg, "in use"));
    close(lfd);
    unlink(addr + 5);
    /* Connecting to a missing socket fails cleanly. */
    assert_int_equal(sdv_ecu_link_connect(addr, 500, &lfd, msg, sizeof(msg)), SDV_ENET);
    rmdir(dir);
}

static void test_tcp_loopback(void **state)
{
    char bound[128];

    (void)state;
    exchange_over("tcp:127.0.0.1:0", bound, sizeof(bound));
    assert_int_equal(strncmp(bound, "tcp:127.0.0.1:", 14), 0);
    assert_true(strtol(bound + 14, NULL, 10) > 0);
}

static void test_bad_addresses(void **state)
{
    static const char *const bad[] = {
            "127.0.0.1:80",     "tcp:127.0.0.1", "tcp::80",     "tcp:127.0.0.1:99999",
            "tcp:127.0.0.1:8x", "unix:",         "tcp:[::1:80", "udp:127.0.0.1:80"};
    char msg[256];
    int fd;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sdv_ecu_link_listen(bad[i], &fd, msg, sizeof(msg)), SDV_EINVAL);
        assert_int_equal(fd, -1);
        assert_int_equal(sdv_ecu_link_connect(bad[i], 100, &fd, msg, sizeof(msg)), SDV_EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_round_trip_every_message),
            cmocka_unit_test(test_split_byte_by_byte_all),
            cmocka_unit_test(test_two_frames_one_feed),
            cmocka_unit_test(test_decoder_refuses_bad_headers),
            cmocka_unit_test(test_truncated_at_eof),
            cmocka_unit_test(test_parser_is_strict),
            cmocka_unit_test(test_encoder_is_strict),
            cmocka_unit_test(test_conn_socketpair),
            cmocka_unit_test(test_conn_large_frame),
            cmocka_unit_test(test_conn_timeout_and_truncation),
            cmocka_unit_test(test_unix_socket),
            cmocka_unit_test(test_tcp_loopback),
            cmocka_unit_test(test_bad_addresses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
