/*
 * app_hog.c - sdv-app-hog: a misbehaving app for the cgroup limits of `sdv app run`
 * (docs/app-sandbox.md). It ignores its broker connection and does one thing:
 *
 *   alloc N MB      forks N children; each allocates MB MiB and touches every page, then holds
 *                   it for 1 s. Prints "child I: done" or "child I: killed by signal S" per
 *                   child; exit 0 when all finished, 1 when one did not.
 *   forkbomb        a tree of processes, each forking until the kernel refuses; prints
 *                   "forkbomb: N processes, then: <error>" and exits 0, leaving the others
 *                   asleep for the sandbox and the launcher to clean up.
 *   spin MS         busy-loops for MS ms of wall time; exit 0.
 *   sleep MS        sleeps; exit 0.
 *
 * It is built without sanitizers: limits.memory_mb is also each process's RLIMIT_AS, which
 * leaves no room for AddressSanitizer's shadow memory, and the code under test is the launcher.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int hog_alloc(int n, long mb)
{
    int bad = 0;
    pid_t kids[64];

    if (n < 1 || n > 64)
        return 64;
    for (int i = 0; i < n; i++) {
        kids[i] = fork();
        if (kids[i] < 0) {
            printf("child %d: fork: %s\n", i, strerror(errno));
            return 1;
        }
        if (kids[i] == 0) {
            size_t len = (size_t)mb << 20;
            char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

            if (p == MAP_FAILED)
                _exit(2);
            for (size_t off = 0; off < len; off += 4096)
                p[off] = (char)(off | 1);
            sleep_ms(1000);
            _exit(0);
        }
    }
    for (int i = 0; i < n; i++) {
        int st;

        while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR)
            ;
        if (WIFSIGNALED(st)) {
            printf("child %d: killed by signal %d\n", i, WTERMSIG(st));
            bad = 1;
        } else if (WEXITSTATUS(st) != 0) {
            printf("child %d: exit %d\n", i, WEXITSTATUS(st));
            bad = 1;
        } else {
            printf("child %d: done\n", i);
        }
    }
    return bad;
}

/* Every new process says "+" over a pipe, every refused fork "!" (EAGAIN) or "?" (other). */
static int hog_forkbomb(void)
{
    int p[2], refused = 0, why = 0;
    long n = 1; /* the top itself */
    pid_t bomb;
    char c;

    if (pipe(p) != 0)
        return 1;
    bomb = fork();
    if (bomb < 0) {
        printf("forkbomb: 1 processes, then: %s (1 refusals)\n", strerror(errno));
        return 0;
    }
    if (bomb == 0) {
        close(p[0]);
        (void)!write(p[1], "+", 1);
        for (;;) {
            pid_t pid = fork();

            if (pid == 0) {
                (void)!write(p[1], "+", 1);
                continue;
            }
            if (pid < 0) {
                char e = errno == EAGAIN ? '!' : '?';

                (void)!write(p[1], &e, 1);
                for (;;)
                    pause();
            }
        }
    }
    close(p[1]);
    /* Count until the first refusal, then 300 ms longer for the stragglers (the bombs keep the
     * pipe open, so the end is a timeout, not an end of file). */
    for (long deadline = now_ms() + 5000;;) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        long left = deadline - now_ms();

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 || read(p[0], &c, 1) != 1)
            break;
        if (c == '+') {
            n++;
        } else {
            refused++;
            if (why == 0) {
                why = c == '!' ? EAGAIN : EPERM;
                deadline = now_ms() + 300;
            }
        }
    }
    printf("forkbomb: %ld processes, then: %s (%d refusals)\n", n,
           why == EAGAIN ? strerror(EAGAIN)
           : why == 0    ? "no refusal"
                         : "another error",
           refused);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "alloc") == 0)
        return hog_alloc((int)strtol(argv[2], NULL, 10), strtol(argv[3], NULL, 10));
    if (argc == 2 && strcmp(argv[1], "forkbomb") == 0)
        return hog_forkbomb();
    if (argc == 3 && strcmp(argv[1], "spin") == 0) {
        long end = now_ms() + strtol(argv[2], NULL, 10);
        volatile unsigned long x = 0;

        while (now_ms() < end)
            x++;
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
        sleep_ms(strtol(argv[2], NULL, 10));
        return 0;
    }
    fprintf(stderr, "usage: sdv-app-hog alloc N MB | forkbomb | spin MS | sleep MS\n");
    return 64;
}
