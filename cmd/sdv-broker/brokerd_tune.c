/*
 * brokerd_tune.c - the daemon's low-latency options (docs/broker-daemon.md, "Latency").
 *
 * cpu_latency_us holds a PM QoS request on /dev/cpu_dma_latency for as long as the daemon runs,
 * as real-time tools (cyclictest, tuned's latency profiles) do: the kernel's cpuidle governor
 * then keeps idle CPUs in states whose exit latency is at most that many microseconds. With 0
 * an idle CPU polls instead of halting, so waking the broker or one of its clients needs no
 * inter-processor interrupt and, in a virtual machine, no exit to the hypervisor. The request is
 * dropped by the kernel when the descriptor closes, also when the daemon is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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
