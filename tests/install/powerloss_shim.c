/*
 * powerloss_shim.c - an LD_PRELOAD library for the power-loss harness: counts the calls that
 * change durable state (write, pwrite, writev, fsync, fdatasync, sync_file_range, rename,
 * ftruncate, unlink) and kills the process with SIGKILL just before the Nth one, so every point
 * between a write and its fsync, or an fsync and its rename, can be hit.
 *
 *   SDV_FAULT_AT=N            kill before the Nth call (1-based); unset or 0: only count
 *   SDV_FAULT_COUNT_FILE=F    at exit, write the number of calls made to F
 *
 * The variables and LD_PRELOAD are removed from the environment at load, so children (the
 * health check's shell, fw_setenv) run without the shim. Test code, not part of any library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static unsigned long fault_at;
static unsigned long calls;
static char count_file[4096];

static void count_at_exit(void)
{
    char buf[32];
    int fd, n;

    if (count_file[0] == '\0')
        return;
    fd = (int)syscall(SYS_openat, AT_FDCWD, count_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    n = snprintf(buf, sizeof(buf), "%lu\n", calls);
    if (n > 0)
        (void)syscall(SYS_write, fd, buf, (size_t)n);
    (void)syscall(SYS_close, fd);
}

__attribute__((constructor)) static void shim_init(void)
{
    const char *at = getenv("SDV_FAULT_AT"), *cf = getenv("SDV_FAULT_COUNT_FILE");

    if (at != NULL)
        fault_at = strtoul(at, NULL, 10);
    if (cf != NULL && strlen(cf) < sizeof(count_file)) {
        memcpy(count_file, cf, strlen(cf) + 1);
        atexit(count_at_exit);
    }
    unsetenv("SDV_FAULT_AT");
    unsetenv("SDV_FAULT_COUNT_FILE");
    unsetenv("LD_PRELOAD");
}

/* Counts one call; the Nth never happens: the power goes first. */
static void tick(void)
{
    calls++;
    if (fault_at != 0 && calls == fault_at)
        raise(SIGKILL);
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void *buf, size_t n)
{
    tick();
    return NEXT(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    tick();
    return NEXT(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    tick();
    return NEXT(pwrite64)(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    tick();
    return NEXT(writev)(fd, iov, cnt);
}

int fsync(int fd)
{
    tick();
    return NEXT(fsync)(fd);
}

int fdatasync(int fd)
{
    tick();
    return NEXT(fdatasync)(fd);
}

int rename(const char *a, const char *b)
{
    tick();
    return NEXT(rename)(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
    tick();
    return NEXT(renameat)(da, a, db, b);
}

int ftruncate(int fd, off_t len)
{
    tick();
    return NEXT(ftruncate)(fd, len);
}

int unlink(const char *p)
{
    tick();
    return NEXT(unlink)(p);
}
