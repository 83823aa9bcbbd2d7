/*
 * brokerd_tune.c - the daemon's low-latency options (docs/broker-daemon.md, "Latency").
 *
 * cpu_latency_us holds a PM QoS request on /dev/cpu_dma_latency for as long as the daemon runs,
 * as real-time tools (cyclictest, tuned's latency profiles) do: the kernel's cpuidle governor
 * then keeps idle CPUs in states whose exit latency is at most that many microseconds. With 0
 * an idle CPU polls instead of halting, so waking the broker or one of its clients needs no
 * inter-processor interrupt and, in a virtual machine, no exit to the hypervisor. The request is
 * dropped by the kernel when the descriptor closes, also when the daemon is killed.
 *
 * busy_poll_us: for that long after a local client last sent something, the loop does not
 * sleep in lws's poll(): it asks an epoll set of the local sessions' sockets, without waiting,
 * until one is readable (then lws services it at once) or the window is over (then lws waits
 * as usual). The next group of a periodic provider is then taken by a running thread, not by
 * one that must first be woken. WebSocket and HTTP work waits at most one window meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "brokerd.h"

#define CPU_LATENCY_DEV "/dev/cpu_dma_latency"

int brokerd_cpu_latency_hold(int32_t us, char *err, size_t err_len)
{
    int fd = open(CPU_LATENCY_DEV, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        snprintf(err, err_len,
                 "cpu_latency_us: cannot open " CPU_LATENCY_DEV ": %s (needs root or write "
                 "access to it; or leave cpu_latency_us out)",
                 strerror(errno));
        return -1;
    }
    /* The device takes the request as a binary 32-bit integer (or as hex text). */
    n = write(fd, &us, sizeof(us));
    if (n != (ssize_t)sizeof(us)) {
        snprintf(err, err_len, "cpu_latency_us: cannot write " CPU_LATENCY_DEV ": %s",
                 n < 0 ? strerror(errno) : "short write");
        close(fd);
        return -1;
    }
    return fd;
}

int brokerd_busy_init(struct brokerd *d, char *err, size_t err_len)
{
    d->busy_epfd = -1;
    if (d->cfg->busy_poll_us == 0)
        return 0;
    d->busy_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (d->busy_epfd < 0) {
        snprintf(err, err_len, "busy_poll_us: epoll_create1: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void brokerd_busy_watch(struct brokerd *d, int fd, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN};

    if (d->busy_epfd < 0 || fd < 0)
        return;
    ev.data.fd = fd;
    /* A failure only costs the spin on this socket: lws still serves it. */
    if (epoll_ctl(d->busy_epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) != 0)
        sdv_logf(&d->log, SDV_LOG_DEBUG, "busy_poll_us: epoll_ctl fd %d: %s", fd, strerror(errno));
}

void brokerd_busy_wait(struct brokerd *d)
{
    int64_t end;

    if (d->busy_epfd < 0)
        return;
    end = d->last_rx_us + (int64_t)d->cfg->busy_poll_us;
    while (!d->stop_requested && brokerd_now_us() < end) {
        struct epoll_event ev;

        if (epoll_wait(d->busy_epfd, &ev, 1, 0) > 0)
            return;
    }
}
