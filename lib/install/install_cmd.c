/*
 * install_cmd.c - runs the configured checks (preconditions, health check) and the U-Boot
 * environment tools: fork, its own process group, output captured through one pipe, a deadline
 * enforced with poll() and SIGKILL of the whole group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "install_int.h"

extern char **environ;

/* The deadline is a monotonic timerfd armed once: the kernel keeps the time, so the library reads
 * no clock of its own (STYLE) and a step of the wall clock cannot stretch or cut a timeout. */
static int deadline_arm(uint32_t timeout_ms)
{
    struct itimerspec its = {{0, 0}, {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L}};
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

    if (timeout_ms == 0)
        its.it_value.tv_nsec = 1; /* already due: a zero it_value would disarm the timer */
    if (fd >= 0 && timerfd_settime(fd, 0, &its, NULL) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Non-zero once the deadline of tfd has passed, waiting at most wait_ms for it. */
static int deadline_passed(int tfd, int wait_ms)
{
    struct pollfd pfd = {tfd, POLLIN, 0};

    return poll(&pfd, 1, wait_ms) > 0 && (pfd.revents & POLLIN) != 0;
}

/* Runs in the forked child: only async-signal-safe calls until exec (the parent may have
 * threads, e.g. libcurl's resolver). */
static void child(char *const argv[], char *const *envp, int out_fd)
{
    static const char msg[] = "cannot execute the command\n";
    int nul = open("/dev/null", O_RDONLY);

    setpgid(0, 0);
    if (nul >= 0) {
        dup2(nul, 0);
        close(nul);
    }
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    close(out_fd);
    signal(SIGPIPE, SIG_DFL);
    execvpe(argv[0], argv, envp);
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(127);
}

enum sdv_err install_cmd_run(char *const argv[], uint32_t timeout_ms, char *const *envv,
                             struct sdv_buf *all, struct install_cmd_result *res)
{
    int fds[2], status = 0, tfd;
    size_t out_len = 0;
    pid_t pid;

    char **envp;
    size_t n_env = 0, n_extra = 0;

    memset(res, 0, sizeof(*res));
    /* The child's environment is built before fork: envv, then ours. */
    while (environ != NULL && environ[n_env] != NULL)
        n_env++;
    while (envv != NULL && envv[n_extra] != NULL)
        n_extra++;
    envp = calloc(n_env + n_extra + 1, sizeof(*envp));
    if (envp == NULL)
        return SDV_ENOMEM;
    /* Ours first: the first of two equal names wins when the child looks a name up. */
    for (size_t i = 0; i < n_extra; i++)
        envp[i] = envv[i];
    for (size_t i = 0; i < n_env; i++)
        envp[n_extra + i] = environ[i];
    tfd = deadline_arm(timeout_ms);
    if (tfd < 0) {
        free(envp);
        return sdv_err_from_errno(errno);
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        int en = errno;
        free(envp);
        close(tfd);
        return sdv_err_from_errno(en);
    }
    pid = fork();
    if (pid < 0) {
        int en = errno;
        free(envp);
        close(tfd);
        close(fds[0]);
        close(fds[1]);
        sdv_msgf(res->output, sizeof(res->output), "cannot start: %s", strerror(en));
        return sdv_err_from_errno(en);
    }
    if (pid == 0) {
        close(fds[0]);
        child(argv, envp, fds[1]);
    }
    free(envp);
    close(fds[1]);
    setpgid(pid, pid); /* also from the parent: the group exists before any kill */
    res->started = 1;
    for (;;) {
        struct pollfd pfd[2] = {{fds[0], POLLIN, 0}, {tfd, POLLIN, 0}};
        char buf[4096];
        ssize_t n;
        int r;

        r = poll(pfd, 2, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0 && (pfd[1].revents & POLLIN) != 0) {
            res->timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            break;
        }
        if (r <= 0 || pfd[0].revents == 0)
            continue;
        n = read(fds[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (out_len < INSTALL_OUTPUT_LEN_MAX) {
            size_t k = (size_t)n;
            if (k > INSTALL_OUTPUT_LEN_MAX - out_len)
                k = INSTALL_OUTPUT_LEN_MAX - out_len;
            memcpy(res->output + out_len, buf, k);
            out_len += k;
        }
        if (all != NULL && all->len + (size_t)n <= all->max)
            (void)sdv_buf_append(all, buf, (size_t)n);
    }
    close(fds[0]);
    res->output[out_len] = '\0';
    /* The output may end before the process does (it closed its stdout): the deadline still
     * holds. */
    for (;;) {
        pid_t w = waitpid(pid, &status, res->timed_out ? 0 : WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        if (w == 0 && deadline_passed(tfd, 10)) {
            res->timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
        }
    }
    close(tfd);
    if (!res->timed_out)
        kill(-pid, SIGKILL); /* leftovers of the group (a background child of the script) */
    if (WIFEXITED(status))
        res->exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        res->exit_code = 128 + WTERMSIG(status);
    /* Trailing newlines are noise in a reason. */
    while (out_len > 0 && (res->output[out_len - 1] == '\n' || res->output[out_len - 1] == '\r'))
        res->output[--out_len] = '\0';
    return SDV_OK;
}

enum sdv_err install_cmd_shell(const char *command, uint32_t timeout_ms, char *const *envv,
                               struct install_cmd_result *res)
{
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};

    return install_cmd_run(argv, timeout_ms, envv, NULL, res);
}
