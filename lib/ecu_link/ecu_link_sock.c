/*
 * ecu_link_sock.c - "tcp:HOST:PORT" and "unix:/path" addresses: parsing, listen, accept and
 * connect with a timeout. errno is turned into text and enum sdv_err here, at the system-call
 * edge.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ecu_link_int.h"

/* Connections queued while the secondary serves one primary: one is normal, a few cover a
 * primary that reconnects after a timeout. */
#define SOCK_BACKLOG 8

/* Longest HOST in "tcp:HOST:PORT": a DNS name is at most 253 characters. */
#define SOCK_HOST_LEN_MAX 255

/* A parsed address: either a TCP host and port, or a Unix socket path. */
struct addr {
    int is_unix;
    char host[SOCK_HOST_LEN_MAX + 1];
    char port[8];
    struct sockaddr_un sun;
    socklen_t sun_len;
};

static enum sdv_err parse_addr(const char *addr, struct addr *a, char *errmsg, size_t errmsg_len)
{
    memset(a, 0, sizeof(*a));
    if (addr == NULL)
        return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "no address");
    if (strncmp(addr, "unix:", 5) == 0) {
        const char *path = addr + 5;
        size_t n = strlen(path);

        if (n == 0 || n >= sizeof(a->sun.sun_path))
            return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL,
                                 "\"%s\": the socket path is empty or longer than %zu bytes", addr,
                                 sizeof(a->sun.sun_path) - 1);
        a->is_unix = 1;
        a->sun.sun_family = AF_UNIX;
        memcpy(a->sun.sun_path, path, n + 1);
        a->sun_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        return SDV_OK;
    }
    if (strncmp(addr, "tcp:", 4) == 0) {
        const char *host = addr + 4, *colon, *end;
        size_t hlen, plen;

        if (host[0] == '[') {
            end = strchr(host, ']');
            if (end == NULL || end[1] != ':')
                return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL,
                                     "\"%s\": expected tcp:[IPV6]:PORT", addr);
            host++;
            colon = end + 1;
        } else {
            colon = strrchr(host, ':');
            end = colon;
        }
        if (colon == NULL)
            return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "\"%s\": expected tcp:HOST:PORT",
                                 addr);
        hlen = (size_t)(end - host);
        plen = strlen(colon + 1);
        if (hlen == 0 || hlen > SOCK_HOST_LEN_MAX)
            return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "\"%s\": bad host", addr);
        if (plen == 0 || plen > 5 || strspn(colon + 1, "0123456789") != plen)
            return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "\"%s\": bad port", addr);
        memcpy(a->host, host, hlen);
        memcpy(a->port, colon + 1, plen + 1);
        if (strtol(a->port, NULL, 10) > 65535)
            return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL, "\"%s\": port above 65535", addr);
        return SDV_OK;
    }
    return ecu_link_fail(errmsg, errmsg_len, SDV_EINVAL,
                         "\"%s\": an address is tcp:HOST:PORT or unix:PATH", addr);
}

static enum sdv_err sys_fail(char *errmsg, size_t errmsg_len, const char *what, const char *addr)
{
    int saved = errno;

    return ecu_link_fail(errmsg, errmsg_len, SDV_ENET, "%s %s: %s", what, addr, strerror(saved));
}

/* Resolves a TCP address; caller freeaddrinfo()s *res. */
static enum sdv_err resolve(const struct addr *a, int passive, const char *addr,
                            struct addrinfo **res, char *errmsg, size_t errmsg_len)
{
    struct addrinfo hints;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    rc = getaddrinfo(a->host, a->port, &hints, res);
    if (rc != 0)
        return ecu_link_fail(errmsg, errmsg_len, SDV_ENET, "cannot resolve %s: %s", addr,
                             gai_strerror(rc));
    return SDV_OK;
}

/* A Unix socket path that exists: in use if something accepts on it, else stale. */
static enum sdv_err unix_clear_stale(const struct addr *a, const char *addr, char *errmsg,
                                     size_t errmsg_len)
{
    struct stat st;
    int fd, rc;

    if (lstat(a->sun.sun_path, &st) != 0)
        return SDV_OK;
    if (!S_ISSOCK(st.st_mode))
        return ecu_link_fail(errmsg, errmsg_len, SDV_EEXIST, "%s exists and is not a socket", addr);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sys_fail(errmsg, errmsg_len, "socket for", addr);
    rc = connect(fd, (const struct sockaddr *)&a->sun, a->sun_len);
    close(fd);
    if (rc == 0)
        return ecu_link_fail(errmsg, errmsg_len, SDV_EEXIST, "%s is in use by a live listener",
                             addr);
    if (unlink(a->sun.sun_path) != 0 && errno != ENOENT)
        return sys_fail(errmsg, errmsg_len, "cannot remove the stale socket", addr);
    return SDV_OK;
}

/* Waits for events on fd; SDV_OK when ready, SDV_ENET on timeout, error or signal. */
static enum sdv_err wait_fd(int fd, short events, int timeout_ms, const char *what, char *errmsg,
                            size_t errmsg_len)
{
    struct pollfd pfd = {fd, events, 0};
    int rc = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);

    if (rc < 0)
        return ecu_link_fail(errmsg, errmsg_len, SDV_ENET, "%s: %s", what, strerror(errno));
    if (rc == 0)
        return ecu_link_fail(errmsg, errmsg_len, SDV_ENET, "%s: timed out after %d ms", what,
                             timeout_ms);
    return SDV_OK;
}

/* Connects fd without blocking past timeout_ms; leaves fd blocking again on success. */
static enum sdv_err connect_fd(int fd, const struct sockaddr *sa, socklen_t sa_len, int timeout_ms,
                               const char *addr, char *errmsg, size_t errmsg_len)
{
    int flags = fcntl(fd, F_GETFL), soerr = 0;
    socklen_t soerr_len = sizeof(soerr);
    enum sdv_err err;

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return sys_fail(errmsg, errmsg_len, "fcntl for", addr);
    if (connect(fd, sa, sa_len) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR)
            return sys_fail(errmsg, errmsg_len, "cannot connect to", addr);
        err = wait_fd(fd, POLLOUT, timeout_ms, "connect", errmsg, errmsg_len);
        if (err != SDV_OK)
            return err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) != 0)
            return sys_fail(errmsg, errmsg_len, "getsockopt for", addr);
        if (soerr != 0)
            return ecu_link_fail(errmsg, errmsg_len, SDV_ENET, "cannot connect to %s: %s", addr,
                                 strerror(soerr));
    }
    if (fcntl(fd, F_SETFL, flags) != 0)
        return sys_fail(errmsg, errmsg_len, "fcntl for", addr);
    return SDV_OK;
}

/* Readies fd, a fresh socket for ai: binds and listens (listening), else connects within
 * timeout_ms. */
static enum sdv_err sock_attach(int fd, const struct addrinfo *ai, int listening, int timeout_ms,
                                const char *addr, char *errmsg, size_t errmsg_len)
{
    int one = 1, tcp = ai->ai_family != AF_UNIX;
    enum sdv_err err;

    if (!listening) {
        err = connect_fd(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms, addr, errmsg, errmsg_len);
        /* Frames are written whole; small ones (RESULT) should not wait for Nagle. */
        if (err == SDV_OK && tcp)
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return err;
    }
    /* A restarted secondary must get its port back while old connections linger. */
    if (tcp)
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOCK_BACKLOG) != 0)
        return sys_fail(errmsg, errmsg_len, "cannot listen on", addr);
    return SDV_OK;
}

/* A socket listening on addr (listening) or connected to it: a Unix path, or the first of the
 * addresses a TCP host resolves to that works. */
static enum sdv_err sock_open(const char *addr, int listening, int timeout_ms, int *fd_out,
                              char *errmsg, size_t errmsg_len)
{
    struct addr a;
    struct addrinfo unix_ai, *res = NULL, *ai;
    enum sdv_err err;
    int fd = -1;

    *fd_out = -1;
    err = parse_addr(addr, &a, errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;
    if (a.is_unix) {
        if (listening)
            err = unix_clear_stale(&a, addr, errmsg, errmsg_len);
        memset(&unix_ai, 0, sizeof(unix_ai));
        unix_ai.ai_family = AF_UNIX;
        unix_ai.ai_socktype = SOCK_STREAM;
        unix_ai.ai_addr = (struct sockaddr *)&a.sun;
        unix_ai.ai_addrlen = a.sun_len;
        ai = &unix_ai;
    } else {
        err = resolve(&a, listening, addr, &res, errmsg, errmsg_len);
        ai = res;
    }
    if (err != SDV_OK)
        return err;
    err = ecu_link_fail(errmsg, errmsg_len, SDV_ENET, "cannot %s %s: no address",
                        listening ? "listen on" : "connect to", addr);
    for (; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = sys_fail(errmsg, errmsg_len, "socket for", addr);
            continue;
        }
        err = sock_attach(fd, ai, listening, timeout_ms, addr, errmsg, errmsg_len);
        if (err == SDV_OK)
            break;
        close(fd);
        fd = -1;
    }
    if (res != NULL)
        freeaddrinfo(res);
    if (err == SDV_OK)
        *fd_out = fd;
    return err;
}

enum sdv_err sdv_ecu_link_listen(const char *addr, int *fd_out, char *errmsg, size_t errmsg_len)
{
    return sock_open(addr, 1, -1, fd_out, errmsg, errmsg_len);
}

enum sdv_err sdv_ecu_link_bound_addr(int fd, char *out, size_t out_len)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[NI_MAXHOST], port[NI_MAXSERV];
    int n;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return sdv_err_from_errno(errno);
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)&ss;

        n = snprintf(out, out_len, "unix:%s", sun->sun_path);
    } else {
        if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0)
            return SDV_EINVAL;
        n = snprintf(out, out_len, ss.ss_family == AF_INET6 ? "tcp:[%s]:%s" : "tcp:%s:%s", host,
                     port);
    }
    if (n < 0 || (size_t)n >= out_len)
        return SDV_ETOOBIG;
    return SDV_OK;
}

enum sdv_err sdv_ecu_link_accept(int listen_fd, int timeout_ms, int *fd_out, char *errmsg,
                                 size_t errmsg_len)
{
    enum sdv_err err;
    int fd, one = 1;

    *fd_out = -1;
    err = wait_fd(listen_fd, POLLIN, timeout_ms, "accept", errmsg, errmsg_len);
    if (err != SDV_OK)
        return err;
    fd = accept(listen_fd, NULL, NULL);
    if (fd < 0)
        return ecu_link_fail(errmsg, errmsg_len, SDV_ENET, "accept: %s", strerror(errno));
    /* accept4 is not POSIX; this process does not fork between accept and here. */
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* As in connect; on a Unix socket the option does not exist and the call fails harmlessly. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *fd_out = fd;
    return SDV_OK;
}

enum sdv_err sdv_ecu_link_connect(const char *addr, int timeout_ms, int *fd_out, char *errmsg,
                                  size_t errmsg_len)
{
    return sock_open(addr, 0, timeout_ms, fd_out, errmsg, errmsg_len);
}
