/*
 * broker_client.c - the client library of the local binary protocol (sdv/broker_client.h).
 * One socket, one read buffer, one incremental decoder, one output buffer that holds the
 * pending PUBLISH batch. Blocking calls send a request with a fresh request id and read frames
 * until the answer with that id arrives; everything else read meanwhile (events, actuation
 * requests, refusals of earlier publishes) is dispatched to the callbacks in order.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <sdv/broker_client.h>
#include <sdv/limits.h>

/* Bytes read from the socket at once: many small frames per system call. */
#define CLIENT_RBUF_LEN (64u * 1024u)

struct client_sub {
    uint32_t id;
    sdv_broker_client_event_fn cb;
    void *ud;
};

struct sdv_broker_client {
    int fd;
    uint32_t timeout_ms;
    uint32_t next_request_id;
    struct sdv_broker_decoder *dec;
    uint8_t *rbuf;
    size_t rlen, roff;
    struct sdv_buf req; /* one request frame being sent */
    struct sdv_buf out; /* the pending PUBLISH frame */
    struct sdv_broker_batch batch;
    bool batch_open;
    struct sdv_broker_entry *entries; /* SDV_BROKER_BATCH_MAX, for parsing */
    struct client_sub subs[SDV_BROKER_CLIENT_SUBS_MAX];
    uint32_t n_subs;
    sdv_broker_client_actuate_fn on_actuate;
    sdv_broker_client_lost_fn on_lost;
    sdv_broker_client_sub_ended_fn on_sub_ended;
    void *ud;
    sdv_broker_clock_fn clock;
    void *clock_ud;
    uint32_t busy_poll_us;
    bool in_callback;
    enum sdv_err broken; /* sticky: the connection is unusable */
    char errmsg[SDV_BROKER_MESSAGE_LEN_MAX + 64];
};

static enum sdv_err cfail(struct sdv_broker_client *c, enum sdv_err err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static enum sdv_err cfail(struct sdv_broker_client *c, enum sdv_err err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
    return err;
}

/* A broken connection stays broken: later calls return the same error. */
static enum sdv_err cbreak(struct sdv_broker_client *c, enum sdv_err err)
{
    c->broken = err;
    return err;
}

enum sdv_err sdv_broker_client_err_from_status(uint16_t status)
{
    switch (status) {
    case SDV_BROKER_STATUS_OK:
        return SDV_OK;
    case SDV_BROKER_STATUS_BAD_REQUEST:
        return SDV_EINVAL;
    case SDV_BROKER_STATUS_UNAUTHORIZED:
    case SDV_BROKER_STATUS_FORBIDDEN:
        return SDV_EDENIED;
    case SDV_BROKER_STATUS_NOT_FOUND:
        return SDV_ENOENT;
    case SDV_BROKER_STATUS_TIMEOUT:
    case SDV_BROKER_STATUS_UNAVAILABLE:
        return SDV_EUNAVAILABLE;
    case SDV_BROKER_STATUS_CONFLICT:
        return SDV_EREJECTED;
    case SDV_BROKER_STATUS_TOO_MANY:
        return SDV_ELIMIT;
    default:
        return SDV_EIO;
    }
}

int sdv_broker_client_fd(const struct sdv_broker_client *c)
{
    return c->fd;
}

const char *sdv_broker_client_errmsg(const struct sdv_broker_client *c)
{
    return c->errmsg;
}

void sdv_broker_client_destroy(struct sdv_broker_client *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    sdv_broker_decoder_destroy(c->dec);
    free(c->rbuf);
    free(c->entries);
    sdv_buf_free(&c->req);
    sdv_buf_free(&c->out);
    free(c);
}

/* ---- I/O -------------------------------------------------------------------------------- */

static enum sdv_err send_bytes(struct sdv_broker_client *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return cbreak(c, cfail(c, SDV_ENET, "broker did not accept data for %u ms",
                                   (unsigned)c->timeout_ms));
        if (w <= 0)
            return cbreak(c, cfail(c, SDV_ENET, "send to broker: %s",
                                   w < 0 ? strerror(errno) : "no progress"));
        p += w;
        n -= (size_t)w;
    }
    return SDV_OK;
}

static enum sdv_err flush_batch(struct sdv_broker_client *c)
{
    enum sdv_err err;

    if (!c->batch_open)
        return SDV_OK;
    sdv_broker_batch_end(&c->batch);
    c->batch_open = false;
    err = send_bytes(c, c->out.data, c->out.len);
    sdv_buf_reset(&c->out);
    return err;
}

/* Encodes m (request id assigned here) and sends it after any pending publish. */
static enum sdv_err send_msg(struct sdv_broker_client *c, struct sdv_broker_msg *m)
{
    char why[200];
    enum sdv_err err;

    if (c->broken != SDV_OK)
        return c->broken;
    if (m->request_id == 0) {
        if (++c->next_request_id == 0)
            c->next_request_id = 1;
        m->request_id = c->next_request_id;
    }
    sdv_buf_reset(&c->req);
    err = sdv_broker_msg_encode(m, &c->req, why, sizeof(why));
    if (err != SDV_OK)
        return cfail(c, err, "%s", why);
    err = flush_batch(c);
    if (err != SDV_OK)
        return err;
    return send_bytes(c, c->req.data, c->req.len);
}

/*
 * Returns the next frame in *f (*got true), reading from the socket when the buffer is empty:
 * timeout_ms 0 polls without waiting, -1 waits forever. *got false on timeout.
 */
/* busy_poll_us: reads without sleeping until something arrives or the window is over. True
 * with *r what read() would have returned (bytes, 0 at end of stream, -1 with errno); false
 * when the window passed in silence, and the caller then blocks in poll() as usual. */
static bool busy_read(struct sdv_broker_client *c, ssize_t *r)
{
    int64_t end = c->clock(c->clock_ud) + c->busy_poll_us;

    do {
        *r = recv(c->fd, c->rbuf, CLIENT_RBUF_LEN, MSG_DONTWAIT);
        if (*r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return true;
    } while (c->clock(c->clock_ud) < end);
    return false;
}

static enum sdv_err next_frame(struct sdv_broker_client *c, int timeout_ms,
                               struct sdv_broker_frame *f, bool *got)
{
    *got = false;
    if (c->broken != SDV_OK)
        return c->broken;
    for (;;) {
        struct pollfd pfd = {c->fd, POLLIN, 0};
        enum sdv_err err;
        ssize_t r;
        int pr;

        while (c->roff < c->rlen) {
            size_t used;
            bool complete;

            err = sdv_broker_decoder_feed(c->dec, c->rbuf + c->roff, c->rlen - c->roff, &used, f,
                                          &complete);
            if (err != SDV_OK)
                return cbreak(c,
                              cfail(c, err, "from broker: %s", sdv_broker_decoder_errmsg(c->dec)));
            c->roff += used;
            if (complete) {
                *got = true;
                return SDV_OK;
            }
        }
        c->roff = c->rlen = 0;
        if (timeout_ms != 0 && c->busy_poll_us > 0 && busy_read(c, &r))
            goto got_read;
        pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return cbreak(c, cfail(c, SDV_ENET, "poll: %s", strerror(errno)));
        if (pr == 0)
            return SDV_OK;
        r = read(c->fd, c->rbuf, CLIENT_RBUF_LEN);
    got_read:
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return cbreak(c, cfail(c, SDV_ENET, "read from broker: %s", strerror(errno)));
        if (r == 0) {
            err = sdv_broker_decoder_finish(c->dec);
            return cbreak(c, cfail(c, SDV_ENET, "broker closed the connection%s%s",
                                   err != SDV_OK ? ": " : "",
                                   err != SDV_OK ? sdv_broker_decoder_errmsg(c->dec) : ""));
        }
        c->rlen = (size_t)r;
        c->roff = 0;
    }
}

static struct client_sub *find_sub(struct sdv_broker_client *c, uint32_t id)
{
    uint32_t i;

    for (i = 0; i < c->n_subs; i++)
        if (c->subs[i].id == id)
            return &c->subs[i];
    return NULL;
}

/* Handles a frame that is not the answer being waited for. */
static enum sdv_err dispatch(struct sdv_broker_client *c, const struct sdv_broker_frame *f)
{
    struct sdv_broker_msg m;
    struct client_sub *s;
    char why[200];
    enum sdv_err err;
    uint32_t i;

    err = sdv_broker_msg_parse(f, &m, c->entries, SDV_BROKER_BATCH_MAX, why, sizeof(why));
    if (err != SDV_OK)
        return cbreak(c, cfail(c, SDV_EPARSE, "from broker: %s", why));
    c->in_callback = true;
    switch (m.type) {
    case SDV_BROKER_MSG_EVENT:
        s = find_sub(c, m.sub_id);
        for (i = 0; s != NULL && s->cb != NULL && i < m.n_entries; i++)
            s->cb(s->ud, m.sub_id, m.entries[i].id, &m.entries[i].value, m.entries[i].ts_us);
        break;
    case SDV_BROKER_MSG_VALUES_LOST:
        if (c->on_lost != NULL && find_sub(c, m.sub_id) != NULL)
            c->on_lost(c->ud, m.sub_id, m.lost);
        break;
    case SDV_BROKER_MSG_ACTUATE:
        if (c->on_actuate != NULL)
            c->on_actuate(c->ud, m.actuation_id, m.entries[0].id, &m.entries[0].value);
        else
            err = sdv_broker_client_actuate_reply(c, m.actuation_id, SDV_BROKER_STATUS_CONFLICT,
                                                  "this client does not execute actuations");
        break;
    case SDV_BROKER_MSG_SUB_ENDED:
        s = find_sub(c, m.sub_id);
        if (s != NULL) {
            char text[SDV_BROKER_MESSAGE_LEN_MAX + 1];

            *s = c->subs[--c->n_subs]; /* the broker forgot it: so do we */
            snprintf(text, sizeof(text), "%.*s", (int)m.message.len, m.message.p);
            cfail(c, SDV_OK, "subscription %u ended by the broker: %u %s", (unsigned)m.sub_id,
                  (unsigned)m.status, text);
            if (c->on_sub_ended != NULL)
                c->on_sub_ended(c->ud, m.sub_id, m.status, text);
        }
        break;
    case SDV_BROKER_MSG_ERROR:
        /* A refused publish (or the answer to a request that timed out): keep the reason. */
        cfail(c, SDV_OK, "broker refused request %u: %u %.*s", (unsigned)f->request_id,
              (unsigned)m.status, (int)m.message.len, m.message.p);
        break;
    default:
        break; /* a late answer to a request that timed out */
    }
    c->in_callback = false;
    return err;
}

/* Waits for the answer to request_id; parses it into *m (entries borrowed from the client). */
static enum sdv_err wait_answer(struct sdv_broker_client *c, uint32_t request_id,
                                struct sdv_broker_msg *m)
{
    int64_t deadline = c->clock != NULL ? c->clock(c->clock_ud) + (int64_t)c->timeout_ms * 1000 : 0;

    for (;;) {
        struct sdv_broker_frame f;
        enum sdv_err err;
        char why[200];
        int wait_ms = (int)c->timeout_ms;
        bool got;

        if (c->clock != NULL) {
            int64_t left = deadline - c->clock(c->clock_ud);

            if (left <= 0)
                return cfail(c, SDV_EUNAVAILABLE, "no answer from the broker within %u ms",
                             (unsigned)c->timeout_ms);
            if (left / 1000 < wait_ms)
                wait_ms = (int)(left / 1000) + 1;
        }
        err = next_frame(c, wait_ms, &f, &got);
        if (err != SDV_OK)
            return err;
        if (!got)
            return cfail(c, SDV_EUNAVAILABLE, "no answer from the broker within %u ms",
                         (unsigned)c->timeout_ms);
        if (f.request_id != request_id || f.type == SDV_BROKER_MSG_EVENT ||
            f.type == SDV_BROKER_MSG_VALUES_LOST || f.type == SDV_BROKER_MSG_ACTUATE ||
            f.type == SDV_BROKER_MSG_SUB_ENDED) {
            err = dispatch(c, &f);
            if (err != SDV_OK)
                return err;
            continue;
        }
        err = sdv_broker_msg_parse(&f, m, c->entries, SDV_BROKER_BATCH_MAX, why, sizeof(why));
        if (err != SDV_OK)
            return cbreak(c, cfail(c, SDV_EPARSE, "from broker: %s", why));
        if (m->type == SDV_BROKER_MSG_ERROR)
            return cfail(c, sdv_broker_client_err_from_status(m->status), "%u %.*s",
                         (unsigned)m->status, (int)m->message.len, m->message.p);
        return SDV_OK;
    }
}

/* Sends m and waits for an answer of type want. */
static enum sdv_err call(struct sdv_broker_client *c, struct sdv_broker_msg *m, uint8_t want,
                         struct sdv_broker_msg *answer)
{
    enum sdv_err err;

    if (c->in_callback)
        return cfail(c, SDV_EINVAL, "blocking call from inside a callback");
    err = send_msg(c, m);
    if (err != SDV_OK)
        return err;
    err = wait_answer(c, m->request_id, answer);
    if (err != SDV_OK)
        return err;
    if (answer->type != want)
        return cbreak(c, cfail(c, SDV_EPARSE, "broker answered %s with %s",
                               sdv_broker_msg_type_name(m->type),
                               sdv_broker_msg_type_name(answer->type)));
    return SDV_OK;
}

/* ---- API -------------------------------------------------------------------------------- */

static struct sdv_broker_str str_of(const char *s)
{
    struct sdv_broker_str r = {s != NULL ? s : "", s != NULL ? (uint32_t)strlen(s) : 0};

    return r;
}

/* Writes wait at most the timeout for a broker that stopped reading (best effort: a sandbox may
 * refuse the option, and then writes block as long as the broker does not read). */
static void set_send_timeout(struct sdv_broker_client *c)
{
    struct timeval tv;

    tv.tv_sec = c->timeout_ms / 1000;
    tv.tv_usec = (long)(c->timeout_ms % 1000) * 1000;
    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A client without a connection (fd -1), or NULL when out of memory. */
_Static_assert(SDV_BROKER_CLIENT_BUSY_POLL_US_MAX == 1000u, "config_error() names the bound");

/* The configuration's own errors (before anything is opened), or NULL. */
static const char *config_error(const struct sdv_broker_client_config *cfg)
{
    if (cfg->busy_poll_us > SDV_BROKER_CLIENT_BUSY_POLL_US_MAX)
        return "busy_poll_us above 1000 (SDV_BROKER_CLIENT_BUSY_POLL_US_MAX)";
    if (cfg->busy_poll_us > 0 && cfg->clock == NULL)
        return "busy_poll_us needs the clock member (a monotonic clock in microseconds)";
    return NULL;
}

static struct sdv_broker_client *client_new(const struct sdv_broker_client_config *cfg)
{
    struct sdv_broker_client *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->fd = -1;
    c->timeout_ms = cfg->timeout_ms != 0 ? cfg->timeout_ms : SDV_BROKER_CLIENT_TIMEOUT_MS_DEFAULT;
    c->on_actuate = cfg->on_actuate;
    c->on_lost = cfg->on_lost;
    c->on_sub_ended = cfg->on_sub_ended;
    c->ud = cfg->ud;
    c->clock = cfg->clock;
    c->clock_ud = cfg->clock_ud;
    c->busy_poll_us = cfg->busy_poll_us;
    sdv_buf_init(&c->req, SDV_BROKER_HEADER_LEN + SDV_BROKER_FRAME_PAYLOAD_MAX);
    sdv_buf_init(&c->out, SDV_BROKER_HEADER_LEN + SDV_BROKER_FRAME_PAYLOAD_MAX);
    c->rbuf = malloc(CLIENT_RBUF_LEN);
    c->entries = calloc(SDV_BROKER_BATCH_MAX, sizeof(*c->entries));
    if (c->rbuf == NULL || c->entries == NULL || sdv_broker_decoder_create(0, &c->dec) != SDV_OK) {
        sdv_broker_client_destroy(c);
        return NULL;
    }
    return c;
}

/* Connects c to the Unix socket at path (with the send timeout). */
static enum sdv_err open_socket(struct sdv_broker_client *c, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    if (path == NULL || strlen(path) >= sizeof(sun.sun_path))
        return cfail(c, SDV_EINVAL, "socket path missing or longer than %zu bytes",
                     sizeof(sun.sun_path) - 1);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
        return cfail(c, SDV_ENET, "connect to %s: %s", path, strerror(errno));
    set_send_timeout(c);
    return SDV_OK;
}

enum sdv_err sdv_broker_client_connect(const struct sdv_broker_client_config *cfg,
                                       struct sdv_broker_client **out, char *err, size_t err_len)
{
    struct sdv_broker_client *c;
    struct sdv_broker_msg m, answer;
    enum sdv_err rc = SDV_ENOMEM;

    *out = NULL;
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    c = client_new(cfg);
    if (c == NULL)
        return SDV_ENOMEM;
    if (config_error(cfg) != NULL) {
        rc = cfail(c, SDV_EINVAL, "%s", config_error(cfg));
        goto fail;
    }
    rc = open_socket(c, cfg->socket_path);
    if (rc != SDV_OK)
        goto fail;
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_HELLO, 0);
    m.version = SDV_BROKER_PROTO_VERSION;
    m.name = str_of(cfg->name);
    m.token = str_of(cfg->token);
    rc = call(c, &m, SDV_BROKER_MSG_HELLO_OK, &answer);
    if (rc != SDV_OK)
        goto fail;
    if (answer.version != SDV_BROKER_PROTO_VERSION) {
        rc = cfail(c, SDV_EPARSE, "broker speaks protocol version %u, not %u",
                   (unsigned)answer.version, SDV_BROKER_PROTO_VERSION);
        goto fail;
    }
    *out = c;
    return SDV_OK;
fail:
    if (err != NULL && err_len > 0)
        snprintf(err, err_len, "%s", c->errmsg[0] != '\0' ? c->errmsg : sdv_strerror(rc));
    sdv_broker_client_destroy(c);
    return rc;
}

enum sdv_err sdv_broker_client_adopt(const struct sdv_broker_client_config *cfg, int fd,
                                     struct sdv_broker_client **out, char *err, size_t err_len)
{
    struct sdv_broker_client *c;
    int type = 0;
    socklen_t len = sizeof(type);

    *out = NULL;
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "fd %d is not a stream socket connected to the broker", fd);
        if (fd >= 0)
            close(fd);
        return SDV_EINVAL;
    }
    if (config_error(cfg) != NULL) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "%s", config_error(cfg));
        close(fd);
        return SDV_EINVAL;
    }
    c = client_new(cfg);
    if (c == NULL) {
        close(fd);
        return SDV_ENOMEM;
    }
    c->fd = fd;
    c->next_request_id = 1; /* the launcher's HELLO had request id 1 */
    set_send_timeout(c);
    *out = c;
    return SDV_OK;
}

enum sdv_err sdv_broker_client_lookup(struct sdv_broker_client *c, const char *const *paths,
                                      size_t n, struct sdv_broker_client_signal *out)
{
    struct sdv_broker_entry *e;
    struct sdv_broker_msg m, answer;
    enum sdv_err err;
    size_t i;

    if (n == 0 || n > SDV_BROKER_BATCH_MAX)
        return cfail(c, SDV_EINVAL, "lookup of %zu paths (1..%u)", n, SDV_BROKER_BATCH_MAX);
    e = calloc(n, sizeof(*e));
    if (e == NULL)
        return SDV_ENOMEM;
    for (i = 0; i < n; i++)
        e[i].path = str_of(paths[i]);
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_LOOKUP, 0);
    m.entries = e;
    m.n_entries = (uint32_t)n;
    err = call(c, &m, SDV_BROKER_MSG_LOOKUP_RESULT, &answer);
    free(e);
    if (err != SDV_OK)
        return err;
    if (answer.n_entries != n)
        return cbreak(c, cfail(c, SDV_EPARSE, "broker answered %u of %zu paths",
                               (unsigned)answer.n_entries, n));
    for (i = 0; i < n; i++) {
        out[i].id = answer.entries[i].id;
        out[i].datatype = (enum sdv_broker_datatype)answer.entries[i].datatype;
        out[i].kind = (enum sdv_broker_kind)answer.entries[i].entry_type;
        out[i].status = answer.entries[i].status;
    }
    return SDV_OK;
}

enum sdv_err sdv_broker_client_get(struct sdv_broker_client *c, uint32_t id,
                                   struct sdv_broker_value *value, int64_t *ts_us)
{
    struct sdv_broker_entry e = {.id = id};
    struct sdv_broker_msg m, answer;
    enum sdv_err err;

    sdv_broker_msg_init(&m, SDV_BROKER_MSG_GET, 0);
    m.entries = &e;
    m.n_entries = 1;
    err = call(c, &m, SDV_BROKER_MSG_GET_RESULT, &answer);
    if (err != SDV_OK)
        return err;
    if (answer.n_entries != 1)
        return cbreak(c, cfail(c, SDV_EPARSE, "broker answered a get of one signal with %u",
                               (unsigned)answer.n_entries));
    if (answer.entries[0].status != 0)
        return cfail(c, sdv_broker_client_err_from_status(answer.entries[0].status),
                     "signal %u: status %u", (unsigned)id, (unsigned)answer.entries[0].status);
    *value = answer.entries[0].value;
    if (ts_us != NULL)
        *ts_us = answer.entries[0].ts_us;
    return SDV_OK;
}

enum sdv_err sdv_broker_client_set(struct sdv_broker_client *c, uint32_t id,
                                   const struct sdv_broker_value *value)
{
    struct sdv_broker_entry e = {.id = id};
    struct sdv_broker_msg m, answer;

    e.value = *value;
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_SET, 0);
    m.entries = &e;
    m.n_entries = 1;
    return call(c, &m, SDV_BROKER_MSG_OK, &answer);
}

enum sdv_err sdv_broker_client_subscribe(struct sdv_broker_client *c, const uint32_t *ids, size_t n,
                                         const struct sdv_broker_filter *f,
                                         sdv_broker_client_event_fn cb, void *ud, uint32_t *sub_id)
{
    struct sdv_broker_msg m, answer;
    struct sdv_broker_entry *e;
    enum sdv_err err;
    size_t i;

    if (c->n_subs >= SDV_BROKER_CLIENT_SUBS_MAX)
        return cfail(c, SDV_ELIMIT, "%u subscriptions already", SDV_BROKER_CLIENT_SUBS_MAX);
    if (n == 0 || n > SDV_BROKER_BATCH_MAX)
        return cfail(c, SDV_EINVAL, "subscription to %zu signals (1..%u)", n, SDV_BROKER_BATCH_MAX);
    e = calloc(n, sizeof(*e));
    if (e == NULL)
        return SDV_ENOMEM;
    for (i = 0; i < n; i++)
        e[i].id = ids[i];
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_SUBSCRIBE, 0);
    if (f != NULL)
        m.filter = *f;
    m.entries = e;
    m.n_entries = (uint32_t)n;
    err = call(c, &m, SDV_BROKER_MSG_SUBSCRIBED, &answer);
    free(e);
    if (err != SDV_OK)
        return err;
    if (find_sub(c, answer.sub_id) != NULL)
        return cbreak(c, cfail(c, SDV_EPARSE, "broker reused subscription id %u",
                               (unsigned)answer.sub_id));
    c->subs[c->n_subs].id = answer.sub_id;
    c->subs[c->n_subs].cb = cb;
    c->subs[c->n_subs].ud = ud;
    c->n_subs++;
    *sub_id = answer.sub_id;
    return SDV_OK;
}

enum sdv_err sdv_broker_client_unsubscribe(struct sdv_broker_client *c, uint32_t sub_id)
{
    struct client_sub *s = find_sub(c, sub_id);
    struct sdv_broker_msg m, answer;
    enum sdv_err err;

    if (s == NULL)
        return cfail(c, SDV_ENOENT, "no subscription %u", (unsigned)sub_id);
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_UNSUBSCRIBE, 0);
    m.sub_id = sub_id;
    err = call(c, &m, SDV_BROKER_MSG_OK, &answer);
    if (err != SDV_OK)
        return err;
    s = find_sub(c, sub_id); /* dispatch may have moved it, or the broker ended it meanwhile */
    if (s != NULL)
        *s = c->subs[--c->n_subs];
    return SDV_OK;
}

enum sdv_err sdv_broker_client_reauth(struct sdv_broker_client *c, const char *token)
{
    struct sdv_broker_msg m, answer;

    if (token == NULL || token[0] == '\0')
        return cfail(c, SDV_EINVAL, "reauth needs a token");
    if (strlen(token) > SDV_BROKER_TOKEN_LEN_MAX)
        return cfail(c, SDV_EINVAL, "token longer than %u bytes", SDV_BROKER_TOKEN_LEN_MAX);
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_AUTH, 0);
    m.token = str_of(token);
    return call(c, &m, SDV_BROKER_MSG_OK, &answer);
}

enum sdv_err sdv_broker_client_session_handle(struct sdv_broker_client *c,
                                              uint8_t out[SDV_BROKER_SESSION_HANDLE_LEN])
{
    struct sdv_broker_msg m, answer;
    enum sdv_err err;

    sdv_broker_msg_init(&m, SDV_BROKER_MSG_SESSION_HANDLE, 0);
    err = call(c, &m, SDV_BROKER_MSG_SESSION_HANDLE_OK, &answer);
    if (err == SDV_OK)
        memcpy(out, answer.handle, SDV_BROKER_SESSION_HANDLE_LEN);
    return err;
}

enum sdv_err sdv_broker_client_renew_session(const char *socket_path,
                                             const uint8_t handle[SDV_BROKER_SESSION_HANDLE_LEN],
                                             const char *token, uint32_t timeout_ms, char *err,
                                             size_t err_len)
{
    struct sdv_broker_client_config cfg = {.timeout_ms = timeout_ms};
    struct sdv_broker_client *c;
    struct sdv_broker_msg m, answer;
    enum sdv_err rc;

    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (token == NULL || token[0] == '\0' || strlen(token) > SDV_BROKER_TOKEN_LEN_MAX) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "renewal needs a token of 1 to %u bytes",
                     SDV_BROKER_TOKEN_LEN_MAX);
        return SDV_EINVAL;
    }
    c = client_new(&cfg);
    if (c == NULL)
        return SDV_ENOMEM;
    rc = open_socket(c, socket_path);
    if (rc == SDV_OK) {
        sdv_broker_msg_init(&m, SDV_BROKER_MSG_RENEW, 0);
        memcpy(m.handle, handle, SDV_BROKER_SESSION_HANDLE_LEN);
        m.token = str_of(token);
        rc = call(c, &m, SDV_BROKER_MSG_OK, &answer);
    }
    if (rc != SDV_OK && err != NULL && err_len > 0)
        snprintf(err, err_len, "%s", c->errmsg[0] != '\0' ? c->errmsg : sdv_strerror(rc));
    sdv_broker_client_destroy(c);
    return rc;
}

enum sdv_err sdv_broker_client_claim(struct sdv_broker_client *c, const uint32_t *ids, size_t n)
{
    struct sdv_broker_msg m, answer;
    struct sdv_broker_entry *e;
    enum sdv_err err;
    size_t i;

    if (n == 0 || n > SDV_BROKER_BATCH_MAX)
        return cfail(c, SDV_EINVAL, "claim of %zu signals (1..%u)", n, SDV_BROKER_BATCH_MAX);
    e = calloc(n, sizeof(*e));
    if (e == NULL)
        return SDV_ENOMEM;
    for (i = 0; i < n; i++)
        e[i].id = ids[i];
    sdv_broker_msg_init(&m, SDV_BROKER_MSG_CLAIM, 0);
    m.entries = e;
    m.n_entries = (uint32_t)n;
    err = call(c, &m, SDV_BROKER_MSG_LOOKUP_RESULT, &answer);
    free(e);
    if (err == SDV_EREJECTED)
        err = SDV_EEXIST; /* 409 to a claim: another provider owns one of them */
    if (err != SDV_OK)
        return err;
    for (i = 0; i < answer.n_entries; i++)
        if (answer.entries[i].status != 0)
            return cfail(c, sdv_broker_client_err_from_status(answer.entries[i].status),
                         "claim of signal %u: status %u", (unsigned)ids[i],
                         (unsigned)answer.entries[i].status);
    return SDV_OK;
}

enum sdv_err sdv_broker_client_publish(struct sdv_broker_client *c, uint32_t id,
                                       const struct sdv_broker_value *value, int64_t ts_us)
{
    enum sdv_err err;

    if (c->broken != SDV_OK)
        return c->broken;
    for (;;) {
        if (!c->batch_open) {
            if (++c->next_request_id == 0)
                c->next_request_id = 1;
            err = sdv_broker_batch_begin(&c->batch, &c->out, SDV_BROKER_MSG_PUBLISH,
                                         c->next_request_id, 0);
            if (err != SDV_OK)
                return cfail(c, err, "publish buffer: %s", sdv_strerror(err));
            c->batch_open = true;
        }
        err = sdv_broker_batch_add(&c->batch, id, 0, ts_us, value);
        if (err != SDV_ETOOBIG || c->batch.n == 0)
            break;
        err = flush_batch(c); /* full: send it and start the next frame */
        if (err != SDV_OK)
            return err;
    }
    if (err != SDV_OK) {
        if (c->batch.n == 0) { /* nothing pending: do not send an empty frame later */
            sdv_buf_reset(&c->out);
            c->batch_open = false;
        }
        return cfail(c, err, "publish of signal %u: %s value", (unsigned)id,
                     err == SDV_EINVAL ? "malformed or out-of-range" : "unsendable");
    }
    return SDV_OK;
}

enum sdv_err sdv_broker_client_publish_flush(struct sdv_broker_client *c)
{
    if (c->broken != SDV_OK)
        return c->broken;
    return flush_batch(c);
}

enum sdv_err sdv_broker_client_actuate_reply(struct sdv_broker_client *c, uint64_t actuation_id,
                                             uint16_t status, const char *message)
{
    struct sdv_broker_msg m;

    sdv_broker_msg_init(&m, SDV_BROKER_MSG_ACTUATE_REPLY, 0);
    m.actuation_id = actuation_id;
    m.status = status;
    m.message = str_of(message);
    if (m.message.len > SDV_BROKER_MESSAGE_LEN_MAX)
        m.message.len = SDV_BROKER_MESSAGE_LEN_MAX;
    return send_msg(c, &m);
}

enum sdv_err sdv_broker_client_process(struct sdv_broker_client *c, int timeout_ms)
{
    struct sdv_broker_frame f;
    enum sdv_err err;
    bool got;

    if (c->in_callback)
        return cfail(c, SDV_EINVAL, "process() from inside a callback");
    err = flush_batch(c);
    if (err != SDV_OK)
        return err;
    err = next_frame(c, timeout_ms, &f, &got);
    while (err == SDV_OK && got) {
        err = dispatch(c, &f);
        if (err == SDV_OK)
            err = next_frame(c, 0, &f, &got);
    }
    return err;
}
