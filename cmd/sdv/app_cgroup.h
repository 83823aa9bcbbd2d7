/*
 * app_cgroup.h - the cgroup of one `sdv app run` (docs/app-sandbox.md, "Limits of the whole
 * app"). rlimits bound each process; a cgroup bounds the app's whole process tree: its memory
 * (page cache and tmpfs included, swap off), its CPU bandwidth and its number of tasks. Both
 * hierarchies are supported: cgroup v2 (one unified tree, controllers enabled through each
 * parent's cgroup.subtree_control) and cgroup v1 (one mount per controller, or a few together),
 * and a hybrid of the two. The mount points come from /proc/self/mountinfo, the launcher's own
 * cgroups from /proc/self/cgroup.
 *
 * Lifecycle: create (before the sandbox's init exists; refuses when a limit the manifest asks
 * for cannot be enforced here), attach the init (before it is released to start the app),
 * usage (after the app's tree has ended), destroy (kills what is left, removes the cgroup).
 * Not thread-safe; one launcher thread uses it.
 */
#ifndef SDV_APP_CGROUP_H
#define SDV_APP_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "app_sandbox.h"

struct sdv_app_cgroup;

/* What the kernel counted for the app's cgroup. */
struct sdv_app_cgroup_usage {
    uint64_t oom_kills;    /* processes the OOM killer ended because of the memory limit */
    uint64_t pids_refused; /* pids.events "max": non-zero once pids.max refused a fork */
    uint64_t cpu_usage_us; /* CPU time of the whole tree */
    int have_cpu_usage;    /* cpu_usage_us was read (cpuacct on v1, cpu.stat on v2) */
};

/*
 * Creates the app's cgroup, named sdv-app.<app_id>.<the launcher's pid>, below parent (a path
 * inside each hierarchy such as "/sdv/apps", created when missing; NULL: the launcher's own
 * cgroup), and writes the limits of l (memory_mb, cpu_percent, processes). *out is NULL (and
 * the result 0) when l asks for none of them and no cgroup can be made here (an unprivileged
 * launcher without a delegated subtree): the app then runs as before, bounded by its rlimits
 * alone. When l asks for a limit that cannot be enforced (controller not mounted, not enabled,
 * cgroup not writable) the result is -1, err names the limit, the file and the reason, and
 * nothing is left behind. *out is freed with sdv_app_cgroup_destroy().
 */
int sdv_app_cgroup_create(const struct sdv_app_limits *l, const char *app_id, const char *parent,
                          struct sdv_app_cgroup **out, char *err, size_t err_len);

/* Moves pid (the sandbox's init, still waiting to start the app) into the cgroup in every
 * hierarchy. 0, or -1 with err. cg may be NULL (nothing to do). */
int sdv_app_cgroup_attach(struct sdv_app_cgroup *cg, pid_t pid, char *err, size_t err_len);

/* Reads the kernel's counters into *u (zeros for what this kernel does not count). cg may be
 * NULL. */
void sdv_app_cgroup_usage(const struct sdv_app_cgroup *cg, struct sdv_app_cgroup_usage *u);

/* The cgroup's directory in the hierarchy that holds controller ("memory", "cpu", "cpuacct",
 * "pids"; on v2 every controller is in the one directory), or NULL. Borrowed from cg. */
const char *sdv_app_cgroup_dir(const struct sdv_app_cgroup *cg, const char *controller);

/*
 * Kills whatever is left in the cgroup (cgroup.kill on v2, SIGKILL to each pid of cgroup.procs
 * otherwise), removes its directories (retrying while exiting tasks keep them busy, at most
 * SDV_APP_CGROUP_RMDIR_WAIT_MS) and frees cg. 0, or -1 with err naming a directory that could
 * not be removed (cg is freed all the same). NULL is a no-op.
 */
int sdv_app_cgroup_destroy(struct sdv_app_cgroup *cg, char *err, size_t err_len);

#endif
