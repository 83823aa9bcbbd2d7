/*
 * sdv_cmd_app.c - `sdv app`: runs a third-party app in a sandbox with a token for exactly its
 * manifest's grants (docs/app-sandbox.md). The launcher mints the token, connects to the broker
 * and says HELLO with it, then hands the greeted socket to the app: the app never holds the
 * token and cannot open another connection.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sdv/broker_auth.h>
#include <sdv/broker_client.h>
#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>

#include "app_cgroup.h"
#include "app_sandbox.h"
#include "sdv_cmds.h"

/* Exit status when the launcher itself fails (as podman and docker do): the app's own statuses
 * stay distinguishable. */
#define APP_EXIT_LAUNCHER 125

static void app_usage(FILE *f)
{
    fputs("usage: sdv app run --manifest M.json --broker-socket PATH --issuer-key KEY.pem\n"
          "                   --aud AUDIENCE [--kid ID] [--vin VIN] [--ttl SECONDS] [--no-renew]\n"
          "                   [--data-dir DIR] [--user UID:GID] [--cgroup-parent CGROUP]\n"
          "         runs the app in its own namespaces with a seccomp filter; its only way out\n"
          "         is the broker connection at fd 3 (SDV_BROKER_FD), opened with a token for\n"
          "         exactly the manifest's scopes or purpose; DIR/<app id> is its /data. The\n"
          "         whole app lives in its own cgroup (below CGROUP, a path inside each cgroup\n"
          "         hierarchy such as /sdv/apps; default: the launcher's own cgroup) with the\n"
          "         manifest's memory_mb, cpu_percent and processes. Exits with the app's status\n"
          "         (128+N for signal N; 137 when the OOM killer ended one of its processes and\n"
          "         it exited 0), 125 if the launch failed. The launcher renews the app's\n"
          "         session over its own connection at 2/3 of each token's life (--ttl, default\n"
          "         600 s); --no-renew lets it end with the first token\n"
          "       sdv app check --manifest M.json\n"
          "         validates a manifest and prints what it asks for\n"
          "       sdv app token --manifest M.json --issuer-key KEY.pem --aud AUDIENCE [--kid ID]\n"
          "                   [--vin VIN] [--ttl SECONDS]\n"
          "         prints the token `run` would present (for inspection with sdv token verify)\n",
          f);
}

static int app_fail(const char *what, const char *where)
{
    fprintf(stderr, "sdv app: %s (%s)\n", what, where);
    return APP_EXIT_LAUNCHER;
}

struct app_opts {
    const char *manifest, *socket, *key, *aud, *kid, *vin, *ttl, *data_dir, *user, *cgroup_parent;
    int no_renew;
};

static int app_parse(int argc, char **argv, struct app_opts *o)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
            {"--manifest", offsetof(struct app_opts, manifest)},
            {"--broker-socket", offsetof(struct app_opts, socket)},
            {"--issuer-key", offsetof(struct app_opts, key)},
            {"--aud", offsetof(struct app_opts, aud)},
            {"--kid", offsetof(struct app_opts, kid)},
            {"--vin", offsetof(struct app_opts, vin)},
            {"--ttl", offsetof(struct app_opts, ttl)},
            {"--data-dir", offsetof(struct app_opts, data_dir)},
            {"--user", offsetof(struct app_opts, user)},
            {"--cgroup-parent", offsetof(struct app_opts, cgroup_parent)},
    };

    for (int i = 2; i < argc; i++) {
        size_t k;

        if (strcmp(argv[i], "--no-renew") == 0) {
            o->no_renew = 1;
            continue;
        }
        for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            if (strcmp(argv[i], opts[k].name) == 0)
                break;
        }
        if (k == sizeof(opts) / sizeof(opts[0]))
            return app_fail(argv[i][0] == '-' ? "unknown option" : "unexpected argument", argv[i]);
        if (i + 1 >= argc)
            return app_fail("option needs a value", argv[i]);
        *(const char **)((char *)o + opts[k].off) = argv[++i];
    }
    if (o->manifest == NULL)
        return app_fail("--manifest is required", "command line");
    return 0;
}

/* Reads and validates the manifest; errors name the file and the member. */
static int load_manifest(const char *path, struct sdv_app_manifest *m)
{
    char err[300], dir[PATH_MAX];
    struct sdv_buf b;
    json_t *doc = NULL;
    enum sdv_err rc;

    sdv_buf_init(&b, SDV_APP_MANIFEST_LEN_MAX);
    rc = sdv_fs_read(path, &b);
    if (rc != SDV_OK) {
        sdv_buf_free(&b);
        fprintf(stderr, "sdv app: %s: %s\n", path,
                rc == SDV_ETOOBIG ? "larger than 64 KiB, not a manifest" : sdv_strerror(rc));
        return APP_EXIT_LAUNCHER;
    }
    rc = sdv_json_parse(b.data, b.len, &doc, err, sizeof(err));
    sdv_buf_free(&b);
    if (rc == SDV_OK) {
        snprintf(dir, sizeof(dir), "%s", path);
        rc = sdv_app_manifest_parse(doc, dirname(dir), m, err, sizeof(err));
        json_decref(doc);
    }
    if (rc != SDV_OK) {
        sdv_app_manifest_free(m);
        fprintf(stderr, "sdv app: %s: %s\n", path, rc == SDV_ENOMEM ? "out of memory" : err);
        return APP_EXIT_LAUNCHER;
    }
    return 0;
}

/* Mints the app's token with the same signing code as `sdv token mint`. */
static int mint_token(const struct app_opts *o, const struct sdv_app_manifest *m,
                      struct sdv_buf *out, int64_t *exp_s)
{
    struct sdv_key *key = NULL;
    unsigned long ttl = SDV_APP_TTL_S_DEFAULT;
    char jti[33], sub[8 + SDV_APP_ID_LEN_MAX];
    uint8_t rnd[16];
    time_t now = time(NULL);
    json_t *c;
    enum sdv_err err;

    if (o->key == NULL || o->aud == NULL)
        return app_fail("--issuer-key and --aud are required", "command line");
    if (o->ttl != NULL) {
        char *end;

        errno = 0;
        ttl = strtoul(o->ttl, &end, 10);
        if (errno != 0 || *end != '\0' || end == o->ttl || ttl == 0 || ttl > SDV_APP_TTL_S_MAX)
            return app_fail("--ttl must be 1..86400 seconds", o->ttl);
    }
    err = sdv_key_load_pem_file(o->key, &key);
    if (err != SDV_OK)
        return app_fail(sdv_strerror(err), o->key);
    if (!sdv_key_has_private(key)) {
        sdv_key_destroy(key);
        return app_fail("not a private key", o->key);
    }
    if (sdv_random_bytes(rnd, sizeof(rnd)) != SDV_OK) {
        sdv_key_destroy(key);
        return app_fail("no randomness", "jti");
    }
    sdv_hex_encode(rnd, sizeof(rnd), jti);
    snprintf(sub, sizeof(sub), "app:%s", m->id);
    *exp_s = (int64_t)now + (int64_t)ttl;
    c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "sub", sub, "client_id", m->id, "aud", o->aud,
                  "iat", (json_int_t)now, "exp", (json_int_t)*exp_s, "jti", jti);
    if (c == NULL || (m->scope != NULL && json_object_set_new(c, "scope", json_string(m->scope))) ||
        (m->purpose != NULL && json_object_set_new(c, "purpose", json_string(m->purpose))) ||
        (o->vin != NULL && json_object_set_new(c, "vin", json_string(o->vin)))) {
        json_decref(c);
        sdv_key_destroy(key);
        return app_fail("cannot build the claims (not UTF-8?)", "token");
    }
    err = sdv_auth_token_mint(key, o->kid, c, out);
    json_decref(c);
    sdv_key_destroy(key);
    if (err != SDV_OK)
        return app_fail(err == SDV_EUNSUPPORTED ? "only Ed25519 and P-256 keys sign access tokens"
                                                : sdv_strerror(err),
                        o->key);
    return 0;
}

static int parse_user(const char *s, uid_t *uid, gid_t *gid)
{
    unsigned long u, g;
    char *end;

    errno = 0;
    u = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != ':' || u == 0 || u > 0x7fffffffUL)
        return -1;
    s = end + 1;
    g = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || g == 0 || g > 0x7fffffffUL)
        return -1;
    *uid = (uid_t)u;
    *gid = (gid_t)g;
    return 0;
}

/* --cgroup-parent: an absolute path inside the cgroup hierarchies, without . or .. parts. */
static int cgroup_parent_ok(const char *p)
{
    if (p[0] != '/' || strlen(p) > 256 || strstr(p, "//") != NULL)
        return 0;
    for (const char *c = p; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '/' || *c == '.' || *c == '_' || *c == '-' || *c == '@' || *c == ':'))
            return 0;
        if (*c == '/' && c[1] == '.' &&
            (c[2] == '/' || c[2] == '\0' || (c[2] == '.' && (c[3] == '/' || c[3] == '\0'))))
            return 0;
    }
    return 1;
}

/* What the cgroup saw: an OOM kill is said plainly (the app itself may only see a child die). */
static int report_cgroup(const struct sdv_app_manifest *m, const struct sdv_app_cgroup *cg, int rc)
{
    struct sdv_app_cgroup_usage u;

    sdv_app_cgroup_usage(cg, &u);
    if (u.oom_kills > 0) {
        fprintf(stderr,
                "sdv app: %s: out of memory: the kernel's OOM killer ended %llu process%s of the "
                "app, whose processes together reached limits.memory_mb (%llu MiB)\n",
                m->id, (unsigned long long)u.oom_kills, u.oom_kills == 1 ? "" : "es",
                (unsigned long long)m->limits.memory_mb);
        if (rc == 0)
            rc = 128 + SIGKILL;
    }
    if (u.pids_refused > 0)
        fprintf(stderr,
                "sdv app: %s: reached limits.processes (%llu): the kernel refused further forks\n",
                m->id, (unsigned long long)m->limits.processes);
    return rc;
}

/*
 * Session renewal while the app runs: the launcher holds the session's handle (asked for before
 * the app got the socket) and, when 2/3 of the token's remaining lifetime has passed, mints a
 * token with the same claims and a fresh exp and renews the session over a connection of its
 * own (RENEW). It never writes on the app's socket. A failed renewal is retried every few
 * seconds until the token in force expires.
 */
#define APP_RENEW_RETRY_MS   2000
#define APP_RENEW_TIMEOUT_MS 2000

struct app_renew {
    const struct app_opts *o;
    const struct sdv_app_manifest *m;
    uint8_t handle[SDV_BROKER_SESSION_HANDLE_LEN];
    int64_t exp_ms;    /* expiry of the token in force (wall clock) */
    int64_t next_ms;   /* when to renew next */
    unsigned failures; /* since the last success */
    bool given_up;
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The renewal time: 2/3 of the way from now to exp. */
static int64_t renew_due(int64_t now, int64_t exp_ms)
{
    return exp_ms > now ? now + (exp_ms - now) * 2 / 3 : now;
}

static int app_renew_timer(void *ud)
{
    struct app_renew *r = ud;
    int64_t now = wall_ms();
    struct sdv_buf token;
    int64_t exp_s = 0;
    char err[300];
    enum sdv_err rc;

    if (r->given_up)
        return -1;
    if (now < r->next_ms)
        return (int)(r->next_ms - now);
    sdv_buf_init(&token, SDV_AUTH_TOKEN_LEN_MAX);
    if (mint_token(r->o, r->m, &token, &exp_s) != 0) {
        rc = SDV_EINVAL;
        snprintf(err, sizeof(err), "cannot mint the renewed token");
    } else {
        rc = sdv_broker_client_renew_session(r->o->socket, r->handle, (const char *)token.data,
                                             APP_RENEW_TIMEOUT_MS, err, sizeof(err));
    }
    explicit_bzero(token.data, token.len);
    sdv_buf_free(&token);
    now = wall_ms();
    if (rc == SDV_OK) {
        r->exp_ms = exp_s * 1000;
        r->next_ms = renew_due(now, r->exp_ms);
        r->failures = 0;
        fprintf(stderr, "sdv app: %s: session renewed, token valid until %lld\n", r->m->id,
                (long long)exp_s);
        return (int)(r->next_ms - now);
    }
    r->failures++;
    if (now + APP_RENEW_RETRY_MS >= r->exp_ms || rc == SDV_ENOENT) {
        fprintf(stderr,
                "sdv app: %s: session renewal failed (%s); giving up: the session ends when its "
                "token expires\n",
                r->m->id, err);
        r->given_up = true;
        return -1;
    }
    fprintf(stderr, "sdv app: %s: session renewal failed (%s); retrying in %d s\n", r->m->id, err,
            APP_RENEW_RETRY_MS / 1000);
    r->next_ms = now + APP_RENEW_RETRY_MS;
    return APP_RENEW_RETRY_MS;
}

static int app_run(const struct app_opts *o)
{
    struct sdv_app_manifest m;
    struct sdv_broker_client_config cfg;
    struct sdv_broker_client *client = NULL;
    struct sdv_app_sandbox sb;
    struct sdv_app_cgroup *cg = NULL;
    struct sdv_buf token;
    struct app_renew renew;
    char err[512], exe[PATH_MAX], data[PATH_MAX], name[16 + SDV_APP_ID_LEN_MAX];
    struct stat st;
    int64_t exp_s = 0;
    int rc, fd = -1, status = 0;

    memset(&sb, 0, sizeof(sb));
    memset(&renew, 0, sizeof(renew));
    sb.uid = 65534; /* nobody */
    sb.gid = 65534; /* nogroup */
    if (o->socket == NULL)
        return app_fail("--broker-socket is required", "command line");
    if (o->user != NULL && parse_user(o->user, &sb.uid, &sb.gid) != 0)
        return app_fail("--user must be UID:GID, both non-zero", o->user);
    if (o->cgroup_parent != NULL && !cgroup_parent_ok(o->cgroup_parent))
        return app_fail("--cgroup-parent must be an absolute cgroup path like /sdv/apps",
                        o->cgroup_parent);
    if ((rc = load_manifest(o->manifest, &m)) != 0)
        return rc;
    sdv_buf_init(&token, SDV_AUTH_TOKEN_LEN_MAX);
    rc = APP_EXIT_LAUNCHER;
    if (realpath(m.executable, exe) == NULL || stat(exe, &st) != 0 || access(exe, X_OK) != 0) {
        fprintf(stderr, "sdv app: %s: executable %s: %s\n", o->manifest, m.executable,
                strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "sdv app: %s: executable %s: not a regular file\n", o->manifest,
                m.executable);
        goto out;
    }
    free(m.executable);
    m.executable = strdup(exe);
    if (m.executable == NULL)
        goto out;
    if (o->data_dir != NULL) {
        /* DIR holds every app's data directory; this app sees only DIR/<id>. */
        char dir[PATH_MAX];

        if (snprintf(dir, sizeof(dir), "%s/%s", o->data_dir, m.id) >= (int)sizeof(dir) ||
            sdv_fs_mkdir_p(dir, 0700) != SDV_OK || realpath(dir, data) == NULL) {
            fprintf(stderr, "sdv app: data directory %s/%s: %s\n", o->data_dir, m.id,
                    strerror(errno));
            goto out;
        }
        if (geteuid() == 0 && chown(data, sb.uid, sb.gid) != 0) {
            fprintf(stderr, "sdv app: chown %s: %s\n", data, strerror(errno));
            goto out;
        }
        sb.data_dir = data;
    }
    /* Before the broker hears of the app: a limit that cannot be enforced stops it here. */
    if (sdv_app_cgroup_create(&m.limits, m.id, o->cgroup_parent, &cg, err, sizeof(err)) != 0) {
        fprintf(stderr, "sdv app: %s: %s\n", o->manifest, err);
        goto out;
    }
    if (mint_token(o, &m, &token, &exp_s) != 0)
        goto out;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(name, sizeof(name), "app:%s", m.id);
    cfg.socket_path = o->socket;
    cfg.name = name;
    cfg.token = (const char *)token.data;
    if (sdv_broker_client_connect(&cfg, &client, err, sizeof(err)) != SDV_OK) {
        fprintf(stderr, "sdv app: %s: the broker refused the app's session: %s\n", m.id, err);
        goto out;
    }
    /* The renewal handle is read here, before the app gets the socket: the app never sees it. */
    if (!o->no_renew) {
        enum sdv_err hrc = sdv_broker_client_session_handle(client, renew.handle);

        if (hrc != SDV_OK) {
            fprintf(stderr, "sdv app: %s: the broker gave no session handle for renewal: %s\n",
                    m.id, sdv_broker_client_errmsg(client));
            sdv_broker_client_destroy(client);
            explicit_bzero(token.data, token.len);
            goto out;
        }
        renew.o = o;
        renew.m = &m;
        renew.exp_ms = exp_s * 1000;
        renew.next_ms = renew_due(wall_ms(), renew.exp_ms);
        sb.timer = app_renew_timer;
        sb.timer_ud = &renew;
        sb.wipe = renew.handle;
        sb.wipe_len = sizeof(renew.handle);
    }
    /* The greeted socket outlives the client object: the app adopts it. The token is not needed
     * any more; it must not linger in the memory the sandbox's init is cloned from. */
    fd = dup(sdv_broker_client_fd(client));
    sdv_broker_client_destroy(client);
    explicit_bzero(token.data, token.len);
    if (fd < 0) {
        fprintf(stderr, "sdv app: dup: %s\n", strerror(errno));
        goto out;
    }
    sb.manifest = &m;
    sb.broker_fd = fd;
    sb.token_exp_s = exp_s;
    sb.cgroup = cg;
    fflush(NULL);
    if (sdv_app_sandbox_run(&sb, &status, err, sizeof(err)) != 0) {
        fprintf(stderr, "sdv app: %s: %s\n", m.id, err);
        rc = report_cgroup(&m, cg, rc);
        goto out;
    }
    if (WIFEXITED(status)) {
        rc = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);

        fprintf(stderr, "sdv app: %s killed by signal %d (%s)%s\n", m.id, sig, strsignal(sig),
                sig == SIGSYS ? ": a system call the sandbox forbids" : "");
        rc = 128 + sig;
    }
    rc = report_cgroup(&m, cg, rc);
out:
    explicit_bzero(renew.handle, sizeof(renew.handle));
    if (cg != NULL && sdv_app_cgroup_destroy(cg, err, sizeof(err)) != 0)
        fprintf(stderr, "sdv app: %s: %s\n", m.id, err);
    if (fd >= 0)
        close(fd);
    sdv_buf_free(&token);
    sdv_app_manifest_free(&m);
    return rc;
}

static int app_check(const struct app_opts *o)
{
    struct sdv_app_manifest m;
    const struct sdv_app_limits *l = &m.limits;

    if (load_manifest(o->manifest, &m) != 0)
        return APP_EXIT_LAUNCHER;
    printf("app %s\nexecutable %s\n", m.id, m.executable);
    for (size_t i = 1; i < m.argc; i++)
        printf("arg %s\n", m.argv[i]);
    if (m.scope != NULL)
        printf("scope %s\n", m.scope);
    else
        printf("purpose %s\n", m.purpose);
    printf("limits memory_mb=%llu cpu_percent=%llu cpu_s=%llu open_files=%llu processes=%llu "
           "file_size_mb=%llu tmp_mb=%llu\n",
           (unsigned long long)l->memory_mb, (unsigned long long)l->cpu_percent,
           (unsigned long long)l->cpu_s, (unsigned long long)l->open_files,
           (unsigned long long)l->processes, (unsigned long long)l->file_size_mb,
           (unsigned long long)(l->tmp_mb != 0 ? l->tmp_mb : SDV_APP_TMP_MB_DEFAULT));
    sdv_app_manifest_free(&m);
    return 0;
}

static int app_token(const struct app_opts *o)
{
    struct sdv_app_manifest m;
    struct sdv_buf token;
    int64_t exp_s;
    int rc;

    if (load_manifest(o->manifest, &m) != 0)
        return APP_EXIT_LAUNCHER;
    sdv_buf_init(&token, SDV_AUTH_TOKEN_LEN_MAX);
    rc = mint_token(o, &m, &token, &exp_s);
    if (rc == 0)
        printf("%s\n", (const char *)token.data);
    sdv_buf_free(&token);
    sdv_app_manifest_free(&m);
    return rc;
}

int sdv_cmd_app(int argc, char **argv)
{
    struct app_opts o = {0};

    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        app_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "check") != 0 &&
        strcmp(argv[1], "token") != 0) {
        app_usage(stderr);
        return app_fail("unknown subcommand", argv[1]);
    }
    if (app_parse(argc, argv, &o) != 0)
        return APP_EXIT_LAUNCHER;
    if (strcmp(argv[1], "run") == 0)
        return app_run(&o);
    if (strcmp(argv[1], "check") == 0)
        return app_check(&o);
    return app_token(&o);
}
