/*
 * ecu_link_conn.c - a socket that sends and receives whole frames: writes retried on EINTR
 * and short writes without SIGPIPE, reads that never go past the current frame (the decoder
 * says how many bytes it wants), and a timeout per frame (with a clock) or per wait (without).
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ecu_link_int.h"

/* Bytes read from the socket per system call: one image chunk, so IMAGE_DATA needs one read. */
#define CONN_READ_LEN (SDV_ECU_LINK_CHUNK_LEN_MAX + SDV_ECU_LINK_HEADER_LEN)

struct sdv_ecu_link_conn {
    int fd;
    struct sdv_ecu_link_io io;
    struct sdv_ecu_link_decoder *dec;
    struct sdv_buf out; /* the frame being sent; its storage is kept between sends */
    uint8_t *in;        /* CONN_READ_LEN bytes */
    char errmsg[256];
};

enum sdv_err sdv_ecu_link_conn_create(int fd, const struct sdv_ecu_link_io *io,
                                      struct sdv_ecu_link_conn **out)
{
    struct sdv_ecu_link_conn *c = calloc(1, sizeof(*c));
    enum sdv_err err = SDV_ENOMEM;

    *out = NULL;
    if (c == NULL)
        goto fail;
    c->fd = fd;
    if (io != NULL)
        c->io = *io;
    if (c->io.timeout_ms == 0)
        c->io.timeout_ms = SDV_ECU_LINK_TIMEOUT_MS_DEFAULT;
    sdv_buf_init(&c->out, SDV_ECU_LINK_HEADER_LEN + (size_t)SDV_ECU_LINK_PAYLOAD_LEN_MAX);
    c->in = malloc(CONN_READ_LEN);
    if (c->in == NULL)
        goto fail;
    err = sdv_ecu_link_decoder_create(c->io.payload_len_max, &c->dec);
    if (err != SDV_OK)
        goto fail;
    *out = c;
    return SDV_OK;
fail:
    if (c != NULL) {
        free(c->in);
        free(c);
    }
    close(fd);
    return err;
}

void sdv_ecu_link_conn_destroy(struct sdv_ecu_link_conn *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    sdv_ecu_link_decoder_destroy(c->dec);
    sdv_buf_free(&c->out);
    free(c->in);
    free(c);
}

int sdv_ecu_link_conn_fd(const struct sdv_ecu_link_conn *c)
{
    return c->fd;
}

const char *sdv_ecu_link_conn_errmsg(const struct sdv_ecu_link_conn *c)
{
    return c->errmsg;
}

/* The deadline of one frame (with a clock), or 0. */
static int64_t deadline_of(const struct sdv_ecu_link_conn *c)
{
    if (c->io.clock == NULL || c->io.timeout_ms < 0)
        return 0;
    return c->io.clock(c->io.clock_ud) + c->io.timeout_ms;
}

/* Waits until fd is ready for events; SDV_ENET on timeout or failure. A signal restarts the
 * wait (with a clock, for what is left of the deadline). */
static enum sdv_err conn_wait(struct sdv_ecu_link_conn *c, short events, int64_t deadline,
                              const char *what)
{
    for (;;) {
        struct pollfd pfd = {c->fd, events, 0};
        int timeout = c->io.timeout_ms < 0 ? -1 : c->io.timeout_ms, rc;

        if (deadline != 0) {
            int64_t left = deadline - c->io.clock(c->io.clock_ud);

            timeout = left <= 0 ? 0 : (int)left;
        }
        rc = poll(&pfd, 1, timeout);
        if (rc > 0)
            return SDV_OK;
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc == 0)
            return ecu_link_fail(c->errmsg, sizeof(c->errmsg), SDV_ENET,
                                 "%s: timed out after %d ms", what, c->io.timeout_ms);
        return ecu_link_fail(c->errmsg, sizeof(c->errmsg), SDV_ENET, "%s: %s", what,
                             strerror(errno));
    }
}

static enum sdv_err write_all(struct sdv_ecu_link_conn *c, const uint8_t *p, size_t len)
{
    int64_t deadline = deadline_of(c);

    while (len > 0) {
        enum sdv_err err = conn_wait(c, POLLOUT, deadline, "send");
        ssize_t n;

        if (err != SDV_OK)
            return err;
        n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return ecu_link_fail(c->errmsg, sizeof(c->errmsg), SDV_ENET, "send: %s",
                                 strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return SDV_OK;
}

enum sdv_err sdv_ecu_link_conn_send(struct sdv_ecu_link_conn *c, const struct sdv_ecu_link_msg *m)
{
    enum sdv_err err;

    c->errmsg[0] = '\0';
    sdv_buf_reset(&c->out);
    err = sdv_ecu_link_encode(m, &c->out, c->errmsg, sizeof(c->errmsg));
    if (err != SDV_OK)
        return err;
    return write_all(c, c->out.data, c->out.len);
}

enum sdv_err sdv_ecu_link_conn_send_raw(struct sdv_ecu_link_conn *c, const void *p, size_t len)
{
    c->errmsg[0] = '\0';
    return write_all(c, p, len);
}

enum sdv_err sdv_ecu_link_conn_recv(struct sdv_ecu_link_conn *c, struct sdv_ecu_link_msg *out)
{
    int64_t deadline = deadline_of(c);
    struct sdv_ecu_link_frame frame;
    int complete = 0;
    enum sdv_err err;

    c->errmsg[0] = '\0';
    while (!complete) {
        size_t want = sdv_ecu_link_decoder_want(c->dec), used;
        ssize_t n;

        if (want > CONN_READ_LEN)
            want = CONN_READ_LEN;
        err = conn_wait(c, POLLIN, deadline, "receive");
        if (err != SDV_OK)
            return err;
        n = recv(c->fd, c->in, want, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return ecu_link_fail(c->errmsg, sizeof(c->errmsg), SDV_ENET, "receive: %s",
                                 strerror(errno));
        }
        if (n == 0) {
            err = sdv_ecu_link_decoder_finish(c->dec);
            if (err != SDV_OK)
                return ecu_link_fail(c->errmsg, sizeof(c->errmsg), err, "%s",
                                     sdv_ecu_link_decoder_errmsg(c->dec));
            return ecu_link_fail(c->errmsg, sizeof(c->errmsg), SDV_ENOENT,
                                 "the peer closed the connection");
        }
        err = sdv_ecu_link_decoder_feed(c->dec, c->in, (size_t)n, &used, &frame, &complete);
        if (err != SDV_OK)
            return ecu_link_fail(c->errmsg, sizeof(c->errmsg), err, "%s",
                                 sdv_ecu_link_decoder_errmsg(c->dec));
        /* Reads never exceed what the decoder wants, so nothing is left over. */
        assert(used == (size_t)n);
    }
    return sdv_ecu_link_parse(frame.type, frame.payload, frame.len, out, c->errmsg,
                              sizeof(c->errmsg));
}
