/*
 * test_app_adopt.c - sdv_broker_client_adopt(), the call a sandboxed app uses to take over the
 * broker connection its launcher opened: only a stream socket is accepted, the fd is the
 * client's from then on (closed by destroy, and at once on failure), and nothing is sent.
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

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sdv/broker_client.h>

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

static void test_adopt_refuses_what_is_not_a_stream_socket(void **state)
{
    struct sdv_broker_client_config cfg = {0};
    struct sdv_broker_client *c = (struct sdv_broker_client *)&cfg;
    char err[128];
    int p[2], d[2];

    (void)state;
    assert_int_equal(sdv_broker_client_adopt(&cfg, -1, &c, err, sizeof(err)), SDV_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "not a stream socket"));

    assert_int_equal(pipe(p), 0);
    assert_int_equal(sdv_broker_client_adopt(&cfg, p[0], &c, err, sizeof(err)), SDV_EINVAL);
    assert_null(c);
    assert_false(fd_is_open(p[0])); /* taken, also on failure */
    close(p[1]);

    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, d), 0);
    assert_int_equal(sdv_broker_client_adopt(&cfg, d[0], &c, NULL, 0), SDV_EINVAL);
    assert_false(fd_is_open(d[0]));
    close(d[1]);
}

static void test_adopt_takes_the_socket_and_sends_nothing(void **state)
{
    struct sdv_broker_client_config cfg = {0};
    struct sdv_broker_client *c = NULL;
    struct pollfd pfd;
    char err[128], b;
    int s[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    cfg.socket_path = "/nonexistent/ignored.sock";
    cfg.token = "ignored";
    assert_int_equal(sdv_broker_client_adopt(&cfg, s[0], &c, err, sizeof(err)), SDV_OK);
    assert_non_null(c);
    assert_int_equal(sdv_broker_client_fd(c), s[0]);
    /* No HELLO: the launcher said it already. */
    pfd.fd = s[1];
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, 50), 0);
    /* Nothing from the broker yet: processing finds nothing and keeps the connection. */
    assert_int_equal(sdv_broker_client_process(c, 0), SDV_OK);
    sdv_broker_client_destroy(c);
    assert_false(fd_is_open(s[0]));
    assert_int_equal(read(s[1], &b, 1), 0); /* the peer sees the end */
    close(s[1]);
}

static void test_adopted_client_reports_a_closed_broker(void **state)
{
    struct sdv_broker_client_config cfg = {0};
    struct sdv_broker_client *c = NULL;
    int s[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    assert_int_equal(sdv_broker_client_adopt(&cfg, s[0], &c, NULL, 0), SDV_OK);
    close(s[1]);
    assert_int_equal(sdv_broker_client_process(c, 100), SDV_ENET);
    sdv_broker_client_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_adopt_refuses_what_is_not_a_stream_socket),
            cmocka_unit_test(test_adopt_takes_the_socket_and_sends_nothing),
            cmocka_unit_test(test_adopted_client_reports_a_closed_broker),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
