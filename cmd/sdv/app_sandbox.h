/*
 * app_sandbox.h - `sdv app`: third-party app manifests (app_manifest.c) and the sandbox that runs
 * an app with nothing but its broker connection (app_sandbox.c). See docs/app-sandbox.md.
 */
#ifndef SDV_APP_SANDBOX_H
#define SDV_APP_SANDBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sdv/common.h>
#include <sdv/limits.h>

/* The fd number at which the app finds its broker connection (SDV_BROKER_FD). */
#define SDV_APP_BROKER_FD 3

/* Resource limits; 0 means not set (the launcher's own limit is inherited). The first three
 * bound the app's whole process tree through its cgroup (app_cgroup.h) as well. */
struct sdv_app_limits {
    uint64_t memory_mb;    /* RLIMIT_AS per process; memory.max of the tree (page cache too) */
    uint64_t cpu_percent;  /* cpu.max of the tree: percent of one core (100 = a whole core) */
    uint64_t processes;    /* RLIMIT_NPROC; pids.max of the tree (plus one for the init) */
    uint64_t cpu_s;        /* RLIMIT_CPU */
    uint64_t open_files;   /* RLIMIT_NOFILE */
    uint64_t file_size_mb; /* RLIMIT_FSIZE */
    uint64_t tmp_mb;       /* size of the private /tmp */
};

struct sdv_app_manifest {
    char id[SDV_APP_ID_LEN_MAX + 1];
    char *executable; /* absolute path on the host (relative ones resolved against the manifest) */
    char **argv;      /* argc entries and a NULL; argv[0] is the executable's name in the sandbox */
    size_t argc;
    char *scope;   /* the grants joined by spaces, or NULL when purpose is set */
    char *purpose; /* or NULL */
    struct sdv_app_limits limits;
};

/*
 * Checks a parsed manifest strictly (unknown members, wrong types, out-of-range limits, scopes
 * outside read:/actuate:/provide: with a valid pattern, both or neither of scopes and purpose)
 * and fills *m (free with sdv_app_manifest_free). base_dir resolves a relative executable.
 * SDV_EPARSE with the member named in err ("scopes[1]: ..."), SDV_ENOMEM.
 */
enum sdv_err sdv_app_manifest_parse(const json_t *doc, const char *base_dir,
                                    struct sdv_app_manifest *m, char *err, size_t err_len);

/* Frees what parse allocated; safe on a zeroed or partly filled manifest. */
void sdv_app_manifest_free(struct sdv_app_manifest *m);

struct sdv_app_cgroup; /* app_cgroup.h */

/* What the sandbox gets. */
struct sdv_app_sandbox {
    const struct sdv_app_manifest *manifest;
    int broker_fd;        /* connected and greeted; becomes fd SDV_APP_BROKER_FD in the app */
    const char *data_dir; /* host directory mounted read-write at /data; NULL: none */
    uid_t uid;            /* the app's user and group when the launcher is root */
    gid_t gid;
    int64_t token_exp_s; /* the session token's expiry, told to the app (SDV_BROKER_TOKEN_EXP) */
    struct sdv_app_cgroup *cgroup; /* borrowed; the init joins it before the app starts; NULL */
    /* Optional: called while the app runs, first when the app has been started and then again
     * whenever the delay it returned (ms; -1: never again) has passed, from the launcher's
     * wait (a poll, not a signal): `sdv app run` renews the app's session here. */
    int (*timer)(void *ud);
    void *timer_ud;
    /* Launcher memory the sandbox's init clears first (it is a copy of the launcher): the
     * session's renewal handle must not be reachable from inside the sandbox. NULL: none. */
    void *wipe;
    size_t wipe_len;
};

/*
 * Runs the app in new mount, PID, network, IPC, UTS and cgroup namespaces (plus a user namespace
 * when not root), with a fresh root holding only the system's read-only /usr, its executable,
 * a private /tmp, /data, minimal /dev and its own /proc; all capabilities dropped,
 * no_new_privs, the manifest's rlimits and the seccomp filter, inside s->cgroup (the init is
 * moved there before it may start the app, so every process of the app is in it). Waits for it;
 * SIGTERM, SIGINT and SIGHUP to the launcher are passed on. Returns 0 with *wait_status (as waitpid
 * gives it, of the app) or -1 when the sandbox could not be set up (err says which step failed and
 * why).
 */
int sdv_app_sandbox_run(const struct sdv_app_sandbox *s, int *wait_status, char *err,
                        size_t err_len);

#endif
