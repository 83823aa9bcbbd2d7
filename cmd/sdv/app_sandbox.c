/*
 * app_sandbox.c - runs a third-party app with nothing but its broker connection
 * (docs/app-sandbox.md). The process tree:
 *
 *   sdv app run (launcher, host)                    holds nothing the app may use after fork
 *     └─ sandbox init, PID 1 of the new namespaces  builds the root, forwards signals, reaps
 *          └─ the app, PID 2                        no capabilities, no_new_privs, seccomp
 *
 * The launcher clone()s the init straight into new mount, PID, network, IPC, UTS and cgroup
 * namespaces (and a user namespace when it is not root, mapping only its own user). The init
 * pivots into a fresh tmpfs holding the system's /usr read-only, the app's executable, /data,
 * a private /tmp, a minimal /dev and a /proc of its own PID namespace, then forks the app, which
 * drops every capability, sets its rlimits, loads the seccomp filter and executes.
 * Failures before the app runs travel to the launcher over a pipe as text ("E..."); the init
 * reports the app's wait status there too ("S..."), then exits, which kills whatever the app
 * left behind in its PID namespace.
 */
#define _GNU_SOURCE
#include "app_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "app_cgroup.h"

/* The namespaces every app gets. */
#define SANDBOX_NS_FLAGS \
    (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

/* Where, inside the sandbox, things are. */
#define SANDBOX_APP_DIR  "/app"
#define SANDBOX_DATA_DIR "/data"

/* ---- reporting from the children -------------------------------------------------------- */

/* Writes "E<message>\n" to the report pipe and ends the child with status 127. Only async-signal
 * safe calls after a fork: vsnprintf into a stack buffer and write. */
static void die(int report_fd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3), noreturn));

static void die(int report_fd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int n;

    msg[0] = 'E';
    va_start(ap, fmt);
    n = vsnprintf(msg + 1, sizeof(msg) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof(msg) - 3)
        n = (int)sizeof(msg) - 3;
    msg[1 + n] = '\n';
    (void)!write(report_fd, msg, (size_t)n + 2);
    _exit(127);
}

/* ---- the new root ----------------------------------------------------------------------- */

/* The mount flags a read-only remount must keep: in a user namespace the kernel refuses to clear
 * nosuid, nodev or noexec that the original mount has ("locked" flags). */
static unsigned long kept_flags(const char *path)
{
    struct statvfs sv;
    unsigned long f = 0;

    if (statvfs(path, &sv) != 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    return f;
}

/* Binds src (a path under the old root) at dst, read-only unless rw, never suid or devices
 * (except for /dev nodes, dev set). */
static void bind(int rfd, const char *src, const char *dst, int rw, int dev)
{
    unsigned long f;

    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0)
        die(rfd, "bind %s at %s: %s", src, dst, strerror(errno));
    f = kept_flags(dst) | MS_REMOUNT | MS_BIND | MS_NOSUID;
    if (!rw)
        f |= MS_RDONLY;
    if (!dev)
        f |= MS_NODEV;
    if (mount(NULL, dst, NULL, f, NULL) != 0)
        die(rfd, "remount %s %s: %s", dst, rw ? "read-write" : "read-only", strerror(errno));
}

static void make_dir(int rfd, const char *path, mode_t mode)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        die(rfd, "mkdir %s: %s", path, strerror(errno));
}

static void make_file(int rfd, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);

    if (fd < 0)
        die(rfd, "create %s: %s", path, strerror(errno));
    close(fd);
}

static void write_file(int rfd, const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
    size_t n = strlen(text);

    if (fd < 0 || write(fd, text, n) != (ssize_t)n)
        die(rfd, "write %s: %s", path, strerror(errno));
    close(fd);
}

/* The system's top-level directories: a symlink on the host (merged /usr) is a symlink here;
 * a real directory is bound read-only. */
static void system_dir(int rfd, const char *name)
{
    char host[64], target[256];
    struct stat st;
    ssize_t n;

    snprintf(host, sizeof(host), "/oldroot/%s", name);
    if (lstat(host, &st) != 0)
        return;
    if (S_ISLNK(st.st_mode)) {
        n = readlink(host, target, sizeof(target) - 1);
        if (n <= 0)
            die(rfd, "readlink %s: %s", host, strerror(errno));
        target[n] = '\0';
        if (symlink(target, name) != 0)
            die(rfd, "symlink /%s: %s", name, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode))
        return;
    make_dir(rfd, name, 0755);
    bind(rfd, host, name, 0, 0);
}

/* Builds the app's root and pivots into it. Runs in the init, inside the new namespaces. */
static void build_root(int rfd, const struct sdv_app_sandbox *s)
{
    static const char *const sys_dirs[] = {"usr", "bin", "sbin", "lib", "lib32", "lib64"};
    static const char *const etc_files[] = {"ld.so.cache", "localtime", "nsswitch.conf"};
    static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom"};
    const struct sdv_app_manifest *m = s->manifest;
    char path[4200], opts[64], text[512];
    unsigned long tmp_mb = m->limits.tmp_mb != 0 ? m->limits.tmp_mb : SDV_APP_TMP_MB_DEFAULT;

    /* Nothing mounted here propagates back to the host (nor the other way). */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        die(rfd, "make / private: %s", strerror(errno));
    /* The new root is a small tmpfs; the old one stays reachable at /oldroot until the binds are
     * made, then is detached. */
    if (mount("sdv-app", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0)
        die(rfd, "mount the new root (tmpfs): %s", strerror(errno));
    make_dir(rfd, "/tmp/oldroot", 0700);
    if (syscall(SYS_pivot_root, "/tmp", "/tmp/oldroot") != 0)
        die(rfd, "pivot_root: %s", strerror(errno));
    if (chdir("/") != 0)
        die(rfd, "chdir /: %s", strerror(errno));

    for (size_t i = 0; i < sizeof(sys_dirs) / sizeof(sys_dirs[0]); i++)
        system_dir(rfd, sys_dirs[i]);

    make_dir(rfd, "etc", 0755);
    for (size_t i = 0; i < sizeof(etc_files) / sizeof(etc_files[0]); i++) {
        struct stat st;

        snprintf(path, sizeof(path), "/oldroot/etc/%s", etc_files[i]);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        snprintf(text, sizeof(text), "etc/%s", etc_files[i]);
        make_file(rfd, text);
        bind(rfd, path, text, 0, 0);
    }
    snprintf(text, sizeof(text), "app:x:%u:%u:%s:" SANDBOX_DATA_DIR ":/bin/false\n",
             (unsigned)(geteuid() == 0 ? s->uid : getuid()),
             (unsigned)(geteuid() == 0 ? s->gid : getgid()), m->id);
    write_file(rfd, "etc/passwd", text);
    snprintf(text, sizeof(text), "app:x:%u:\n", (unsigned)(geteuid() == 0 ? s->gid : getgid()));
    write_file(rfd, "etc/group", text);
    snprintf(text, sizeof(text), "%s\n", m->id);
    write_file(rfd, "etc/hostname", text);

    /* /dev: a few harmless nodes bound from the host (creating nodes needs CAP_MKNOD). */
    make_dir(rfd, "dev", 0755);
    if (mount("sdv-dev", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") != 0)
        die(rfd, "mount /dev: %s", strerror(errno));
    for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
        snprintf(path, sizeof(path), "/oldroot/dev/%s", dev_nodes[i]);
        snprintf(text, sizeof(text), "dev/%s", dev_nodes[i]);
        make_file(rfd, text);
        bind(rfd, path, text, 1, 1);
    }
    if (symlink("/proc/self/fd", "dev/fd") != 0 || symlink("/proc/self/fd/0", "dev/stdin") != 0 ||
        symlink("/proc/self/fd/1", "dev/stdout") != 0 ||
        symlink("/proc/self/fd/2", "dev/stderr") != 0)
        die(rfd, "symlinks in /dev: %s", strerror(errno));
    if (mount(NULL, "dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) !=
        0)
        die(rfd, "remount /dev read-only: %s", strerror(errno));

    /* /proc of the new PID namespace: the app sees itself and the init, nothing else. */
    make_dir(rfd, "proc", 0555);
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        die(rfd, "mount /proc: %s", strerror(errno));
    if (mount("proc/sys", "proc/sys", NULL, MS_BIND | MS_REC, NULL) != 0 ||
        mount(NULL, "proc/sys", NULL,
              MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        die(rfd, "make /proc/sys read-only: %s", strerror(errno));

    /* A private /tmp, bounded in size. */
    make_dir(rfd, "tmp", 01777);
    snprintf(opts, sizeof(opts), "size=%lum,mode=1777", tmp_mb);
    if (mount("sdv-tmp", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
        die(rfd, "mount /tmp (%s): %s", opts, strerror(errno));

    /* The app's own data directory, and nobody else's. */
    make_dir(rfd, SANDBOX_DATA_DIR + 1, 0755);
    if (s->data_dir != NULL) {
        snprintf(path, sizeof(path), "/oldroot%s", s->data_dir);
        bind(rfd, path, SANDBOX_DATA_DIR + 1, 1, 0);
    }

    /* The executable, read-only, at /app/NAME. */
    make_dir(rfd, SANDBOX_APP_DIR + 1, 0755);
    snprintf(text, sizeof(text), SANDBOX_APP_DIR "/%s", m->argv[0]);
    make_file(rfd, text + 1);
    snprintf(path, sizeof(path), "/oldroot%s", m->executable);
    bind(rfd, path, text + 1, 0, 0);

    /* Away with the host's tree. */
    if (umount2("/oldroot", MNT_DETACH) != 0)
        die(rfd, "detach the old root: %s", strerror(errno));
    if (rmdir("/oldroot") != 0)
        die(rfd, "remove /oldroot: %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        die(rfd, "remount / read-only: %s", strerror(errno));
}

/* ---- privileges --------------------------------------------------------------------------- */

/* Empties the bounding and ambient sets: no exec can give a capability back. Needs
 * CAP_SETPCAP, so it comes before the switch to the app's user. */
static void drop_bounding(int rfd)
{
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            die(rfd, "drop capability %d from the bounding set: %s", cap, strerror(errno));
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        die(rfd, "clear ambient capabilities: %s", strerror(errno));
}

/* Empties the permitted, effective and inheritable sets, except keep (a capability number, or
 * -1 for none). */
static void clear_caps(int rfd, int keep)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];

    memset(data, 0, sizeof(data));
    if (keep >= 0) {
        data[keep / 32].effective = 1u << (keep % 32);
        data[keep / 32].permitted = 1u << (keep % 32);
    }
    if (syscall(SYS_capset, &hdr, data) != 0)
        die(rfd, "drop capabilities: %s", strerror(errno));
}

/* ---- the seccomp policy ------------------------------------------------------------------- */

/* Refused with EPERM: an app may call these (a library probing for the network, a tool trying to
 * mount), and gets a clear error. */
static const char *const seccomp_eperm[] = {
        /* no new sockets, no other endpoint: the inherited broker fd is the only way out */
        "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
        /* io_uring can open and connect sockets without the system calls above */
        "io_uring_setup", "io_uring_enter", "io_uring_register",
        /* other processes' memory */
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
        /* the file system view and namespaces */
        "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "move_mount", "open_tree",
        "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "name_to_handle_at",
        /* kernel keyrings, host-wide settings and accounting */
        "keyctl", "add_key", "request_key", "sethostname", "setdomainname", "settimeofday",
        "clock_settime", "clock_adjtime", "adjtimex", "syslog", "acct", "quotactl", "quotactl_fd",
        "vhangup", "fanotify_init", "lookup_dcookie", "uselib", "nfsservctl"};

/* Killed (the whole app, SIGSYS): no app has a use for these, each has a history of kernel
 * exploits, and an attempt is an attack, not a bug to report politely. */
static const char *const seccomp_kill[] = {"kexec_load",    "kexec_file_load",
                                           "init_module",   "finit_module",
                                           "delete_module", "create_module",
                                           "bpf",           "perf_event_open",
                                           "userfaultfd",   "open_by_handle_at",
                                           "iopl",          "ioperm",
                                           "reboot",        "swapon",
                                           "swapoff"};

static void load_seccomp(int rfd)
{
    static const unsigned long ns_flags[] = {CLONE_NEWNS,    CLONE_NEWPID, CLONE_NEWNET,
                                             CLONE_NEWIPC,   CLONE_NEWUTS, CLONE_NEWUSER,
                                             CLONE_NEWCGROUP};
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    const char *what = "init";
    int rc = 0;

    if (ctx == NULL)
        die(rfd, "seccomp: cannot create a filter");
    for (size_t i = 0; rc == 0 && i < sizeof(seccomp_eperm) / sizeof(seccomp_eperm[0]); i++) {
        int nr = seccomp_syscall_resolve_name(seccomp_eperm[i]);

        what = seccomp_eperm[i];
        if (nr != __NR_SCMP_ERROR)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    for (size_t i = 0; rc == 0 && i < sizeof(seccomp_kill) / sizeof(seccomp_kill[0]); i++) {
        int nr = seccomp_syscall_resolve_name(seccomp_kill[i]);

        what = seccomp_kill[i];
        if (nr != __NR_SCMP_ERROR)
            rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 0);
    }
    /* Threads and processes yes, new namespaces no. clone3 passes its flags in memory, which a
     * filter cannot read: it answers ENOSYS, so the C library falls back to clone. */
    what = "clone";
    for (size_t i = 0; rc == 0 && i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    if (rc == 0) {
        what = "clone3";
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    }
    /* Typing into the terminal of whoever started us. */
    what = "ioctl";
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)TIOCSTI));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)TIOCLINUX));
    if (rc == 0) {
        what = "load";
        rc = seccomp_load(ctx);
    }
    seccomp_release(ctx);
    if (rc != 0)
        die(rfd, "seccomp (%s): %s", what, strerror(-rc));
}

/* ---- the app ------------------------------------------------------------------------------ */

static void set_limit(int rfd, int resource, const char *name, uint64_t value)
{
    struct rlimit rl = {.rlim_cur = (rlim_t)value, .rlim_max = (rlim_t)value};

    if (setrlimit(resource, &rl) != 0)
        die(rfd, "limit %s to %llu: %s", name, (unsigned long long)value, strerror(errno));
}

/* The OOM killer's view of the init and the app (/proc/self/oom_score_adj). The init is a copy
 * of the launcher, whose resident memory (large under a sanitizer) it shares; when the app's
 * cgroup runs out of memory the kernel must kill a process of the app, not the init that
 * reports what happened. So the init is exempt (-1000, as root), and the app goes back to the
 * launcher's value. Empty: the init could not change it (user namespace). */
static char g_app_oom_adj[16];

static void oom_adj_init(void)
{
    char buf[16];
    ssize_t n;
    int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return;
    n = read(fd, buf, sizeof(buf) - 1);
    if (n > 0 && lseek(fd, 0, SEEK_SET) == 0 && write(fd, "-1000", 5) == 5) {
        buf[n] = '\0';
        memcpy(g_app_oom_adj, buf, (size_t)n + 1);
    }
    close(fd);
}

static void oom_adj_app(int rfd)
{
    int fd;
    size_t n = strlen(g_app_oom_adj);

    if (n == 0)
        return;
    fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, g_app_oom_adj, n) != (ssize_t)n)
        die(rfd, "restore oom_score_adj: %s", strerror(errno));
    close(fd);
}

static void exec_app(int rfd, const struct sdv_app_sandbox *s, int broker_fd)
{
    const struct sdv_app_manifest *m = s->manifest;
    const struct sdv_app_limits *l = &m->limits;
    char exe[128 + SDV_APP_ID_LEN_MAX], env_id[32 + SDV_APP_ID_LEN_MAX], env_fd[32], env_exp[48];
    char *envp[12];
    size_t n = 0;

    int hi;

    /* Its own session: no controlling terminal to push input into. */
    (void)setsid();
    oom_adj_app(rfd);
    /* Move the report pipe and the broker socket out of the way of fd 3 first. */
    hi = fcntl(rfd, F_DUPFD_CLOEXEC, 10);
    if (hi >= 0)
        rfd = hi;
    hi = fcntl(broker_fd, F_DUPFD_CLOEXEC, 10);
    if (hi < 0 || dup2(hi, SDV_APP_BROKER_FD) < 0)
        die(rfd, "move the broker socket to fd %d: %s", SDV_APP_BROKER_FD, strerror(errno));
    /* Everything else the launcher had open closes at exec (the report pipe stays until then). */
    if (close_range(SDV_APP_BROKER_FD + 1, ~0u, CLOSE_RANGE_CLOEXEC) != 0)
        die(rfd, "close inherited descriptors: %s", strerror(errno));
    if (chdir(s->data_dir != NULL ? SANDBOX_DATA_DIR : "/") != 0)
        die(rfd, "chdir: %s", strerror(errno));
    drop_bounding(rfd);
    if (geteuid() == 0) {
        /* Root launcher: the app runs as an unprivileged user of the host. */
        if (setgroups(0, NULL) != 0 || setresgid(s->gid, s->gid, s->gid) != 0 ||
            setresuid(s->uid, s->uid, s->uid) != 0)
            die(rfd, "switch to uid %u gid %u: %s", (unsigned)s->uid, (unsigned)s->gid,
                strerror(errno));
    }
    clear_caps(rfd, -1);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        die(rfd, "no_new_privs: %s", strerror(errno));

    snprintf(exe, sizeof(exe), SANDBOX_APP_DIR "/%s", m->argv[0]);
    snprintf(env_id, sizeof(env_id), "SDV_APP_ID=%s", m->id);
    snprintf(env_fd, sizeof(env_fd), "SDV_BROKER_FD=%d", SDV_APP_BROKER_FD);
    snprintf(env_exp, sizeof(env_exp), "SDV_BROKER_TOKEN_EXP=%lld", (long long)s->token_exp_s);
    envp[n++] = "PATH=/usr/local/bin:/usr/bin:/bin";
    envp[n++] = "LANG=C.UTF-8";
    envp[n++] = "TMPDIR=/tmp";
    envp[n++] = s->data_dir != NULL ? "HOME=" SANDBOX_DATA_DIR : "HOME=/";
    envp[n++] = env_id;
    envp[n++] = env_fd;
    envp[n++] = env_exp;
    if (s->data_dir != NULL)
        envp[n++] = "SDV_DATA_DIR=" SANDBOX_DATA_DIR;
    envp[n] = NULL;

    load_seccomp(rfd);
    /* Limits last: building the filter allocates, and a small address space limit must not
     * starve it (nor a sanitizer runtime of the launcher's code still running here). */
    if (l->memory_mb != 0)
        set_limit(rfd, RLIMIT_AS, "memory (RLIMIT_AS)", l->memory_mb << 20);
    if (l->cpu_s != 0)
        set_limit(rfd, RLIMIT_CPU, "CPU time (RLIMIT_CPU)", l->cpu_s);
    if (l->open_files != 0)
        set_limit(rfd, RLIMIT_NOFILE, "open files (RLIMIT_NOFILE)", l->open_files);
    if (l->processes != 0)
        /* The exact bound is the cgroup's pids.max (the app's processes plus the init), always
         * in force when processes is set. RLIMIT_NPROC counts every process of the user, also
         * those of other apps running as the same user, so it is only the backstop, one
         * higher: app + init in a user namespace, where the init has the app's uid. */
        set_limit(rfd, RLIMIT_NPROC, "processes (RLIMIT_NPROC)", l->processes + 1);
    if (l->file_size_mb != 0)
        set_limit(rfd, RLIMIT_FSIZE, "file size (RLIMIT_FSIZE)", l->file_size_mb << 20);
    set_limit(rfd, RLIMIT_CORE, "core dumps (RLIMIT_CORE)", 0);
    execve(exe, m->argv, envp);
    die(rfd, "execute %s (%s in the sandbox): %s", m->executable, exe, strerror(errno));
}

/* ---- the init ----------------------------------------------------------------------------- */

static volatile sig_atomic_t g_app_pid;

static void forward_signal(int sig)
{
    if (g_app_pid > 0)
        kill((pid_t)g_app_pid, sig);
}

static void report_status(int rfd, int status)
{
    char msg[32];
    int n = snprintf(msg, sizeof(msg), "S%d\n", status);

    (void)!write(rfd, msg, (size_t)n);
}

static void run_init(int rfd, int sync_fd, const struct sdv_app_sandbox *s)
{
    static const int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    struct sigaction sa;
    char go;
    pid_t app;
    int status = 0;

    if (s->wipe != NULL)
        explicit_bzero(s->wipe, s->wipe_len);
    /* When the launcher dies, so does the sandbox (the kernel then kills the whole PID
     * namespace). */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* Wait until the launcher has written our user namespace's maps (if any). */
    if (read(sync_fd, &go, 1) != 1)
        die(rfd, "the launcher went away");
    close(sync_fd);
    oom_adj_init();
    /* The init is a copy of the launcher's memory and environment. Not dumpable, its /proc files
     * (mem, environ, fd) are closed to an app running as the same user (user namespace mode).
     * Only now: the launcher had to open our uid_map and gid_map first. */
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (sethostname(s->manifest->id, strlen(s->manifest->id)) != 0)
        die(rfd, "sethostname: %s", strerror(errno));
    build_root(rfd, s);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaction(fwd[i], &sa, NULL);
    app = fork();
    if (app < 0)
        die(rfd, "fork the app: %s", strerror(errno));
    if (app == 0) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
            sigaction(fwd[i], &sa, NULL);
        exec_app(rfd, s, s->broker_fd);
    }
    g_app_pid = app;
    /* The init keeps nothing the app could borrow: no broker socket, no capabilities but
     * CAP_KILL, which it needs to pass signals on to an app running as another user. */
    close(s->broker_fd);
    drop_bounding(rfd);
    clear_caps(rfd, CAP_KILL);
    (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, 0);

        if (p < 0 && errno == EINTR)
            continue;
        if (p < 0)
            break;
        if (p == app) {
            status = st;
            break;
        }
    }
    report_status(rfd, status);
    _exit(0);
}

/* ---- the launcher side -------------------------------------------------------------------- */

static volatile sig_atomic_t g_init_pid;

static void launcher_forward(int sig)
{
    if (g_init_pid > 0)
        kill((pid_t)g_init_pid, sig);
}

static int write_proc(pid_t pid, const char *file, const char *text, char *err, size_t err_len)
{
    char path[64];
    int fd;
    size_t n = strlen(text);

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, n) != (ssize_t)n) {
        snprintf(err, err_len, "user namespace: write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int sdv_app_sandbox_run(const struct sdv_app_sandbox *s, int *wait_status, char *err,
                        size_t err_len)
{
    static const int fwd[] = {SIGTERM, SIGINT, SIGHUP};
    struct sigaction sa, old[3];
    int report[2] = {-1, -1}, sync[2] = {-1, -1};
    unsigned long flags = SANDBOX_NS_FLAGS | SIGCHLD;
    int userns = geteuid() != 0, rc = -1, init_status = 0, have_status = 0, delay;
    char buf[4096], text[64];
    size_t len = 0;
    pid_t pid;

    err[0] = '\0';
    *wait_status = 0;
    if (userns)
        flags |= CLONE_NEWUSER;
    if (pipe2(report, O_CLOEXEC) != 0 || pipe2(sync, O_CLOEXEC) != 0) {
        snprintf(err, err_len, "pipe: %s", strerror(errno));
        goto out;
    }
    /* A raw clone: like fork, but the child starts inside the new namespaces (it is PID 1 of
     * its PID namespace). The launcher is single-threaded here. */
    pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        snprintf(err, err_len, "cannot create namespaces (%s): %s",
                 userns ? "user namespace, not root" : "root", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        close(report[0]);
        close(sync[1]);
        run_init(report[1], sync[0], s);
    }
    close(report[1]);
    report[1] = -1;
    close(sync[0]);
    sync[0] = -1;
    g_init_pid = pid;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = launcher_forward;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < 3; i++)
        sigaction(fwd[i], &sa, &old[i]);
    if (userns) {
        /* Only the launcher's own user and group exist inside. */
        snprintf(text, sizeof(text), "%u %u 1\n", (unsigned)getuid(), (unsigned)getuid());
        if (write_proc(pid, "uid_map", text, err, err_len) != 0 ||
            write_proc(pid, "setgroups", "deny", err, err_len) != 0)
            kill(pid, SIGKILL);
        snprintf(text, sizeof(text), "%u %u 1\n", (unsigned)getgid(), (unsigned)getgid());
        if (err[0] == '\0' && write_proc(pid, "gid_map", text, err, err_len) != 0)
            kill(pid, SIGKILL);
    }
    /* Into the app's cgroup while the init still waits: everything the app ever forks is
     * counted there, from its first instruction. */
    if (err[0] == '\0' && sdv_app_cgroup_attach(s->cgroup, pid, err, err_len) != 0)
        kill(pid, SIGKILL);
    if (write(sync[1], "g", 1) != 1 && err[0] == '\0')
        snprintf(err, err_len, "start the sandbox: %s", strerror(errno));
    close(sync[1]);
    sync[1] = -1;
    /* Read the report until every writer is gone (the app's copy closes at exec, the init's at
     * its exit). */
    delay = s->timer != NULL && err[0] == '\0' ? s->timer(s->timer_ud) : -1;
    for (;;) {
        struct pollfd pfd = {.fd = report[0], .events = POLLIN};
        ssize_t r;
        int n = poll(&pfd, 1, delay);

        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            delay = s->timer(s->timer_ud);
            continue;
        }
        r = read(report[0], buf + len, sizeof(buf) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof(buf) - 1)
            break;
    }
    buf[len] = '\0';
    while (waitpid(pid, &init_status, 0) < 0 && errno == EINTR)
        ;
    g_init_pid = 0;
    for (size_t i = 0; i < 3; i++)
        sigaction(fwd[i], &old[i], NULL);
    for (char *line = buf; *line != '\0';) {
        char *nl = strchr(line, '\n');

        if (nl != NULL)
            *nl = '\0';
        if (line[0] == 'E' && err[0] == '\0')
            snprintf(err, err_len, "sandbox setup: %s", line + 1);
        else if (line[0] == 'S') {
            *wait_status = (int)strtol(line + 1, NULL, 10);
            have_status = 1;
        }
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    if (err[0] != '\0')
        goto out;
    if (!have_status) {
        snprintf(err, err_len, "the sandbox ended without reporting the app's status (init %s %d)",
                 WIFSIGNALED(init_status) ? "killed by signal" : "exit status",
                 WIFSIGNALED(init_status) ? WTERMSIG(init_status) : WEXITSTATUS(init_status));
        goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (report[i] >= 0)
            close(report[i]);
        if (sync[i] >= 0)
            close(sync[i]);
    }
    return rc;
}
