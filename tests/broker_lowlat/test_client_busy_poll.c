/*
 * test_client_busy_poll.c - the client library's busy_poll_us option on a real socket pair
 * (the test plays the broker): the option is refused without a clock or above its bound (also
 * by adopt, which then closes the descriptor); a frame arriving while a waiting call spins is
 * taken during the spin, not after its window (told by a fake clock, not by timing); a silent
 * window falls back to the blocking wait and times out as usual; the broker closing the
 * connection during a spin is reported.
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

#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sdv/broker_client.h>

static int64_t mono_us(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void test_refused_settings(void **state)
{
    struct sdv_broker_client_config cfg;
    struct sdv_broker_client *c = NULL;
    char err[256];
    int p[2];

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.socket_path = "/nonexistent/broker.sock";
    cfg.token = "good";
    cfg.busy_poll_us = 100; /* and no clock */
    assert_int_equal(sdv_broker_client_connect(&cfg, &c, err, sizeof(err)), SDV_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "busy_poll_us needs the clock"));
    cfg.clock = mono_us;
    cfg.busy_poll_us = SDV_BROKER_CLIENT_BUSY_POLL_US_MAX + 1;
    assert_int_equal(sdv_broker_client_connect(&cfg, &c, err, sizeof(err)), SDV_EINVAL);
    assert_non_null(strstr(err, "busy_poll_us above 1000"));

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    assert_int_equal(sdv_broker_client_adopt(&cfg, p[0], &c, err, sizeof(err)), SDV_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "busy_poll_us above"));
    assert_int_equal(close(p[0]), -1); /* taken (closed) also on failure */
    close(p[1]);
}

/*
 * A fake clock, one microsecond per read, that plays the broker: on its read number inject_at
 * it writes an ACTUATE frame into the other end of the client's socket. Whether the client took
 * the frame while spinning or only after the window shows in how often it read the clock,
 * independent of the machine's speed or load.
 */
struct fake {
    int64_t now;
    int64_t inject_at; /* 0: never */
    int peer;
    int actuations;
    uint64_t last_id;
};

static int64_t fake_clock(void *ud)
{
    struct fake *f = ud;

    f->now++;
    if (f->now == f->inject_at) {
        struct sdv_broker_entry e;
        struct sdv_broker_msg m;
        struct sdv_buf out;
        char why[128];

        memset(&e, 0, sizeof(e));
        e.id = 5;
        e.value.type = SDV_BROKER_DT_BOOLEAN;
        e.value.count = 1;
        e.value.v.b = true;
        sdv_broker_msg_init(&m, SDV_BROKER_MSG_ACTUATE, 0);
        m.actuation_id = 77;
        m.entries = &e;
        m.n_entries = 1;
        sdv_buf_init(&out, 4096);
        assert_int_equal(sdv_broker_msg_encode(&m, &out, why, sizeof(why)), SDV_OK);
        assert_int_equal(write(f->peer, out.data, out.len), (ssize_t)out.len);
        sdv_buf_free(&out);
    }
    return f->now;
}

static void on_actuate(void *ud, uint64_t actuation_id, uint32_t signal_id,
                       const struct sdv_broker_value *v)
{
    struct fake *f = ud;

    (void)signal_id;
    (void)v;
    f->actuations++;
    f->last_id = actuation_id;
}

static struct sdv_broker_client *adopt_fake(struct fake *f, uint32_t busy_poll_us)
{
    struct sdv_broker_client_config cfg;
    struct sdv_broker_client *c = NULL;
    char err[256];
    int p[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    memset(f, 0, sizeof(*f));
    f->peer = p[1];
    memset(&cfg, 0, sizeof(cfg));
    cfg.clock = fake_clock;
    cfg.clock_ud = f;
    cfg.on_actuate = on_actuate;
    cfg.ud = f;
    cfg.busy_poll_us = busy_poll_us;
    assert_int_equal(sdv_broker_client_adopt(&cfg, p[0], &c, err, sizeof(err)), SDV_OK);
    return c;
}

static void test_frame_taken_while_spinning(void **state)
{
    struct fake f;
    struct sdv_broker_client *c = adopt_fake(&f, 1000);

    (void)state;
    /* The frame arrives 50 us into a 1000 us window: taken by the spin, at once. */
    f.inject_at = 50;
    assert_int_equal(sdv_broker_client_process(c, 5000), SDV_OK);
    assert_int_equal(f.actuations, 1);
    assert_int_equal(f.last_id, 77);
    assert_true(f.now >= 50 && f.now < 60);

    /* Silence: the spin ends with its window (the clock read about 1000 times, no more), then
     * the ordinary wait times out without an error and without a callback. */
    f.now = 0;
    f.inject_at = 0;
    assert_int_equal(sdv_broker_client_process(c, 5), SDV_OK);
    assert_int_equal(f.actuations, 1);
    assert_true(f.now >= 1000 && f.now < 1010);

    /* A non-waiting call never spins. */
    f.now = 0;
    assert_int_equal(sdv_broker_client_process(c, 0), SDV_OK);
    assert_true(f.now < 5);
    close(f.peer);
    sdv_broker_client_destroy(c);

    /* Off: the same frame is taken by the blocking wait, without the clock spinning. */
    c = adopt_fake(&f, 0);
    f.inject_at = 0;
    f.inject_at = 1;
    fake_clock(&f); /* writes the frame now */
    f.now = 0;
    assert_int_equal(sdv_broker_client_process(c, 2000), SDV_OK);
    assert_int_equal(f.actuations, 1);
    assert_true(f.now < 5);
    close(f.peer);
    sdv_broker_client_destroy(c);
}

static void test_close_during_spin(void **state)
{
    struct sdv_broker_client_config cfg;
    struct sdv_broker_client *c = NULL;
    char err[256];
    int p[2];

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.clock = mono_us;
    cfg.busy_poll_us = 500;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    assert_int_equal(sdv_broker_client_adopt(&cfg, p[0], &c, err, sizeof(err)), SDV_OK);
    close(p[1]);
    assert_int_equal(sdv_broker_client_process(c, 1000), SDV_ENET);
    assert_non_null(strstr(sdv_broker_client_errmsg(c), "broker closed the connection"));
    sdv_broker_client_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_refused_settings),
            cmocka_unit_test(test_frame_taken_while_spinning),
            cmocka_unit_test(test_close_during_spin),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
