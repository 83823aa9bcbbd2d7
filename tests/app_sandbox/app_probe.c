/*
 * app_probe.c - sdv-app-probe: an example third-party app for `sdv app run` (docs/app-sandbox.md),
 * written against the client library only. It uses the broker connection the launcher hands it
 * (SDV_BROKER_FD, already greeted with the app's token), does what its arguments ask, and
 * tries to break out of the sandbox, printing one line per step:
 *
 *   read PATH              get a signal                    "read PATH = V" / "refused PATH: ..."
 *   read-await PATH V      get until it reads V (5 s at most) "read PATH = V"
 *   set PATH VALUE         ask for actuation               "set PATH = V accepted" / "refused ..."
 *   sleep MS               wait (the token may expire meanwhile)
 *   subscribe PATH S       subscribe for S seconds          "subscribe PATH: N events, M in
 *                                                            the last second, ended: none" (or
 *                                                            the broker's SUB_ENDED status and
 *                                                            when, in ms since subscribing)
 *   write-data NAME TEXT   write /data/NAME (its own data)  "data NAME written"
 *   read-data NAME         read /data/NAME                  "data NAME = TEXT"
 *   escape-tcp HOST PORT   open a TCP connection            "escape tcp: blocked (...)"
 *   escape-unix PATH       reach the broker's socket path   "escape unix PATH: blocked (...)"
 *   escape-socketpair      create a socket pair
 *   escape-file PATH       read a file (another app's data) "escape file PATH: blocked (...)"
 *   escape-procs           list the processes it can see   "escape procs: sees N: 1 2"
 *   escape-net             list network interfaces          "escape net: interfaces lo"
 *   escape-ptrace          attach to PID 1
 *   escape-mount           mount a tmpfs
 *   escape-userns          create a user namespace
 *   forbidden-bpf          call bpf(2), which the sandbox punishes by killing the app
 *   limits                 print its rlimits and identity
 *   threads                start and join a thread        "threads: ok" (clone3 is ENOSYS in
 *                          the sandbox; the C library must fall back to clone)
 *
 * A blocked attempt prints "blocked"; one that works prints "ESCAPED". Exit status: 2 when
 * something escaped, else 3 when the broker refused a request, 1 on other failures, 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sdv/broker_client.h>

/* Under AddressSanitizer, LeakSanitizer stops the world with ptrace at exit, which the sandbox
 * refuses: leak checking of this probe happens outside the sandbox (or not at all). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

static int g_escaped, g_refused, g_failed;

/* ok is the attempt's result; errno is still the attempt's (read here, after the call). */
static void outcome(const char *what, int ok)
{
    int err = errno;

    if (ok) {
        printf("escape %s: ESCAPED\n", what);
        g_escaped = 1;
    } else {
        printf("escape %s: blocked (%s)\n", what, strerror(err));
    }
}

/* The subscribe step's state: events counted, and a SUB_ENDED from the broker. */
struct probe_sub {
    int64_t start_ms, end_ms;
    unsigned events, late_events;
    uint16_t ended_status;
    int64_t ended_ms;
    char ended_msg[160];
};
static struct probe_sub g_sub;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_sub_ended(void *ud, uint32_t sub_id, uint16_t status, const char *message)
{
    (void)ud;
    (void)sub_id;
    g_sub.ended_status = status;
    g_sub.ended_ms = mono_ms() - g_sub.start_ms;
    snprintf(g_sub.ended_msg, sizeof(g_sub.ended_msg), "%s", message);
}

static void on_event(void *ud, uint32_t sub_id, uint32_t signal_id,
                     const struct sdv_broker_value *value, int64_t ts_us)
{
    int64_t now = mono_ms();

    (void)ud;
    (void)sub_id;
    (void)signal_id;
    (void)value;
    (void)ts_us;
    g_sub.events++;
    if (now >= g_sub.end_ms - 1000)
        g_sub.late_events++;
}

static struct sdv_broker_client *adopt(void)
{
    struct sdv_broker_client_config cfg;
    struct sdv_broker_client *c = NULL;
    const char *fd_text = getenv("SDV_BROKER_FD");
    char err[200], *end;
    long fd;

    if (fd_text == NULL) {
        fprintf(stderr, "sdv-app-probe: SDV_BROKER_FD is not set (run me with sdv app run)\n");
        return NULL;
    }
    fd = strtol(fd_text, &end, 10);
    if (*end != '\0' || fd < 0 || fd > 1024) {
        fprintf(stderr, "sdv-app-probe: bad SDV_BROKER_FD %s\n", fd_text);
        return NULL;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.on_sub_ended = on_sub_ended;
    if (sdv_broker_client_adopt(&cfg, (int)fd, &c, err, sizeof(err)) != SDV_OK) {
        fprintf(stderr, "sdv-app-probe: %s\n", err);
        return NULL;
    }
    return c;
}

static void refused(struct sdv_broker_client *c, const char *path, enum sdv_err rc)
{
    printf("refused %s: %s: %s\n", path, sdv_errname(rc), sdv_broker_client_errmsg(c));
    if (rc == SDV_ENET || rc == SDV_EPARSE)
        g_failed = 1;
    else
        g_refused = 1;
}

static int lookup(struct sdv_broker_client *c, const char *path,
                  struct sdv_broker_client_signal *sig)
{
    const char *paths[1] = {path};
    enum sdv_err rc = sdv_broker_client_lookup(c, paths, 1, sig);

    if (rc != SDV_OK) {
        refused(c, path, rc);
        return -1;
    }
    if (sig->status != 0) {
        printf("refused %s: status %u\n", path, (unsigned)sig->status);
        g_refused = 1;
        return -1;
    }
    return 0;
}

/* Subscribes to path and counts its events for secs seconds. */
static void do_subscribe(struct sdv_broker_client *c, const char *path, const char *secs)
{
    struct sdv_broker_client_signal sig;
    struct sdv_broker_filter f;
    uint32_t sub_id = 0;
    enum sdv_err rc;

    if (lookup(c, path, &sig) != 0)
        return;
    memset(&f, 0, sizeof(f));
    memset(&g_sub, 0, sizeof(g_sub));
    g_sub.start_ms = mono_ms();
    g_sub.end_ms = g_sub.start_ms + (int64_t)strtoul(secs, NULL, 10) * 1000;
    rc = sdv_broker_client_subscribe(c, &sig.id, 1, &f, on_event, NULL, &sub_id);
    if (rc != SDV_OK) {
        refused(c, path, rc);
        return;
    }
    for (int64_t now = mono_ms(); now < g_sub.end_ms; now = mono_ms()) {
        rc = sdv_broker_client_process(c, (int)(g_sub.end_ms - now));
        if (rc != SDV_OK) {
            refused(c, path, rc);
            return;
        }
    }
    if (g_sub.ended_status != 0) {
        printf("subscribe %s: %u events, %u in the last second, ended: %u at %lld ms: %s\n", path,
               g_sub.events, g_sub.late_events, (unsigned)g_sub.ended_status,
               (long long)g_sub.ended_ms, g_sub.ended_msg);
        g_refused = 1;
    } else {
        printf("subscribe %s: %u events, %u in the last second, ended: none\n", path, g_sub.events,
               g_sub.late_events);
    }
}

/* Reads path once, or with await != NULL until it reads await (at most 5 s): an accepted
 * actuation becomes the current value only when the provider publishes it, a moment later. */
static void do_read(struct sdv_broker_client *c, const char *path, const char *await)
{
    struct sdv_broker_client_signal sig;
    struct sdv_broker_value v;
    struct sdv_buf text;
    enum sdv_err rc;

    if (lookup(c, path, &sig) != 0)
        return;
    sdv_buf_init(&text, 4096);
    for (int tries = 0;; tries++) {
        rc = sdv_broker_client_get(c, sig.id, &v, NULL);
        if (rc != SDV_OK) {
            refused(c, path, rc);
            break;
        }
        sdv_buf_reset(&text);
        if (sdv_broker_value_format(&v, &text) != SDV_OK || sdv_buf_append(&text, "", 1) != SDV_OK)
            break;
        if (await == NULL || strcmp((const char *)text.data, await) == 0 || tries >= 250) {
            printf("read %s = %s\n", path, (const char *)text.data);
            break;
        }
        usleep(20 * 1000);
    }
    sdv_buf_free(&text);
}

static void do_set(struct sdv_broker_client *c, const char *path, const char *value)
{
    struct sdv_broker_client_signal sig;
    struct sdv_broker_value v;
    struct sdv_buf scratch;
    char err[200];
    enum sdv_err rc;

    if (lookup(c, path, &sig) != 0)
        return;
    sdv_buf_init(&scratch, 70000);
    rc = sdv_broker_value_parse(sig.datatype, value, strlen(value), &scratch, &v, err, sizeof(err));
    if (rc == SDV_OK)
        rc = sdv_broker_client_set(c, sig.id, &v);
    if (rc == SDV_OK)
        printf("set %s = %s accepted\n", path, value);
    else
        refused(c, path, rc);
    sdv_buf_free(&scratch);
}

static void data_path(char *out, size_t len, const char *name)
{
    const char *dir = getenv("SDV_DATA_DIR");

    snprintf(out, len, "%s/%s", dir != NULL ? dir : ".", name);
}

static void do_write_data(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    data_path(path, sizeof(path), name);
    f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        printf("data %s: cannot write: %s\n", name, strerror(errno));
        g_failed = 1;
        return;
    }
    printf("data %s written\n", name);
}

static void do_read_data(const char *name)
{
    char path[512], buf[256];
    size_t n;
    FILE *f;

    data_path(path, sizeof(path), name);
    f = fopen(path, "r");
    if (f == NULL) {
        printf("data %s: cannot read: %s\n", name, strerror(errno));
        g_failed = 1;
        return;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    printf("data %s = %s\n", name, buf);
}

static void escape_tcp(const char *host, const char *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok;

    if (fd < 0) {
        outcome("tcp socket", 0);
        return;
    }
    sin.sin_port = htons((uint16_t)strtoul(port, NULL, 10));
    inet_pton(AF_INET, host, &sin.sin_addr);
    ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    outcome("tcp connect", ok);
    close(fd);
}

static void escape_unix(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    char what[300];
    int fd;

    snprintf(what, sizeof(what), "unix %s visible", path);
    outcome(what, stat(path, &st) == 0);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(what, sizeof(what), "unix socket");
    if (fd < 0) {
        outcome(what, 0);
        return;
    }
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    snprintf(what, sizeof(what), "unix connect %s", path);
    outcome(what, connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    close(fd);
}

static void escape_file(const char *path)
{
    char what[300];
    int fd;

    snprintf(what, sizeof(what), "file %s", path);
    fd = open(path, O_RDONLY);
    outcome(what, fd >= 0);
    if (fd >= 0)
        close(fd);
}

static void escape_procs(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    char list[512];
    size_t len = 0;
    int n = 0;

    list[0] = '\0';
    if (d == NULL) {
        printf("escape procs: /proc: %s\n", strerror(errno));
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        n++;
        if (len + strlen(e->d_name) + 2 < sizeof(list))
            len += (size_t)snprintf(list + len, sizeof(list) - len, " %s", e->d_name);
    }
    closedir(d);
    printf("escape procs: sees %d:%s\n", n, list);
    if (n > 2)
        g_escaped = 1;
}

static void escape_net(void)
{
    FILE *f = fopen("/proc/net/dev", "r");
    char line[256], names[256];
    size_t len = 0;
    int n = 0;

    names[0] = '\0';
    if (f == NULL) {
        printf("escape net: /proc/net/dev: %s\n", strerror(errno));
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *colon = strchr(line, ':'), *name = line;

        if (colon == NULL)
            continue;
        *colon = '\0';
        while (*name == ' ')
            name++;
        n++;
        if (len + strlen(name) + 2 < sizeof(names))
            len += (size_t)snprintf(names + len, sizeof(names) - len, " %s", name);
    }
    fclose(f);
    printf("escape net: interfaces%s\n", names);
    if (n > 1)
        g_escaped = 1;
}

static void print_limits(void)
{
    static const struct {
        int res;
        const char *name;
    } lims[] = {{RLIMIT_AS, "as"},       {RLIMIT_CPU, "cpu"},     {RLIMIT_NOFILE, "nofile"},
                {RLIMIT_NPROC, "nproc"}, {RLIMIT_FSIZE, "fsize"}, {RLIMIT_CORE, "core"}};
    char host[64] = "";

    gethostname(host, sizeof(host) - 1);
    printf("identity uid=%u gid=%u pid=%d host=%s\n", (unsigned)getuid(), (unsigned)getgid(),
           (int)getpid(), host);
    for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
        struct rlimit rl;

        getrlimit(lims[i].res, &rl);
        if (rl.rlim_cur == RLIM_INFINITY)
            printf("limit %s unlimited\n", lims[i].name);
        else
            printf("limit %s %llu\n", lims[i].name, (unsigned long long)rl.rlim_cur);
    }
}

static void *thread_main(void *arg)
{
    return arg;
}

static void run_thread(void)
{
    pthread_t t;
    void *ret = NULL;
    int rc = pthread_create(&t, NULL, thread_main, (void *)&g_failed);

    if (rc != 0) {
        printf("threads: %s\n", strerror(rc));
        g_failed = 1;
        return;
    }
    pthread_join(t, &ret);
    printf("threads: %s\n", ret == (void *)&g_failed ? "ok" : "wrong result");
}

int main(int argc, char **argv)
{
    struct sdv_broker_client *c = NULL;
    int i = 1;

    setvbuf(stdout, NULL, _IOLBF, 0);
    while (i < argc) {
        const char *a = argv[i];
        int need = 0;

        if (strcmp(a, "read") == 0 || strcmp(a, "sleep") == 0 || strcmp(a, "read-data") == 0 ||
            strcmp(a, "escape-unix") == 0 || strcmp(a, "escape-file") == 0)
            need = 1;
        else if (strcmp(a, "set") == 0 || strcmp(a, "write-data") == 0 ||
                 strcmp(a, "escape-tcp") == 0 || strcmp(a, "read-await") == 0 ||
                 strcmp(a, "subscribe") == 0)
            need = 2;
        if (i + need >= argc) {
            fprintf(stderr, "sdv-app-probe: %s needs %d argument(s)\n", a, need);
            return 1;
        }
        if ((strcmp(a, "read") == 0 || strcmp(a, "read-await") == 0 || strcmp(a, "set") == 0 ||
             strcmp(a, "subscribe") == 0) &&
            c == NULL && (c = adopt()) == NULL)
            return 1;
        if (strcmp(a, "read") == 0) {
            do_read(c, argv[i + 1], NULL);
        } else if (strcmp(a, "read-await") == 0) {
            do_read(c, argv[i + 1], argv[i + 2]);
        } else if (strcmp(a, "set") == 0) {
            do_set(c, argv[i + 1], argv[i + 2]);
        } else if (strcmp(a, "subscribe") == 0) {
            do_subscribe(c, argv[i + 1], argv[i + 2]);
        } else if (strcmp(a, "sleep") == 0) {
            usleep((useconds_t)strtoul(argv[i + 1], NULL, 10) * 1000);
        } else if (strcmp(a, "write-data") == 0) {
            do_write_data(argv[i + 1], argv[i + 2]);
        } else if (strcmp(a, "read-data") == 0) {
            do_read_data(argv[i + 1]);
        } else if (strcmp(a, "escape-tcp") == 0) {
            escape_tcp(argv[i + 1], argv[i + 2]);
        } else if (strcmp(a, "escape-unix") == 0) {
            escape_unix(argv[i + 1]);
        } else if (strcmp(a, "escape-socketpair") == 0) {
            int sv[2];

            outcome("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        } else if (strcmp(a, "escape-file") == 0) {
            escape_file(argv[i + 1]);
        } else if (strcmp(a, "escape-procs") == 0) {
            escape_procs();
        } else if (strcmp(a, "escape-net") == 0) {
            escape_net();
        } else if (strcmp(a, "escape-ptrace") == 0) {
            outcome("ptrace", ptrace(PTRACE_ATTACH, 1, NULL, NULL) == 0);
        } else if (strcmp(a, "escape-mount") == 0) {
            outcome("mount", mount("x", "/tmp", "tmpfs", 0, NULL) == 0);
        } else if (strcmp(a, "escape-userns") == 0) {
            outcome("unshare user namespace", unshare(CLONE_NEWUSER) == 0);
        } else if (strcmp(a, "forbidden-bpf") == 0) {
            long r = syscall(SYS_bpf, 0, NULL, 0);

            outcome("bpf", r >= 0);
        } else if (strcmp(a, "threads") == 0) {
            run_thread();
        } else if (strcmp(a, "limits") == 0) {
            print_limits();
        } else {
            fprintf(stderr, "sdv-app-probe: unknown step %s\n", a);
            sdv_broker_client_destroy(c);
            return 1;
        }
        i += need + 1;
    }
    sdv_broker_client_destroy(c);
    if (g_escaped)
        return 2;
    if (g_refused)
        return 3;
    return g_failed ? 1 : 0;
}
