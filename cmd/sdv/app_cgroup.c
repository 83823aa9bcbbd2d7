/*
 * app_cgroup.c - one cgroup per `sdv app run` (app_cgroup.h, docs/app-sandbox.md): memory.max,
 * cpu.max and pids.max for the app's whole process tree on cgroup v2, memory.limit_in_bytes,
 * cpu.cfs_quota_us and pids.max on cgroup v1, found through /proc/self/mountinfo so that hybrid
 * machines (v1 controllers next to an empty v2 tree) work too.
 */
#define _GNU_SOURCE
#include "app_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sdv/common.h>
#include <sdv/limits.h>

/* The controllers an app's cgroup uses. cpuacct only counts (v1); on v2 cpu.stat counts. */
enum { CG_MEMORY = 1u, CG_CPU = 2u, CG_CPUACCT = 4u, CG_PIDS = 8u };

static const struct {
    unsigned bit;
    const char *name;
    const char *limit; /* the manifest member that needs it */
} g_ctrls[] = {
        {CG_MEMORY, "memory", "limits.memory_mb"},
        {CG_CPU, "cpu", "limits.cpu_percent"},
        {CG_CPUACCT, "cpuacct", NULL},
        {CG_PIDS, "pids", "limits.processes"},
};
#define CG_NCTRLS (sizeof(g_ctrls) / sizeof(g_ctrls[0]))

/* At most one hierarchy per controller, and v2 on top. */
#define CG_HIER_MAX (CG_NCTRLS + 1)

struct cg_hier {
    char mount[PATH_MAX];  /* where the hierarchy is mounted */
    char root[PATH_MAX];   /* the mount's root inside the hierarchy ("/" mostly) */
    char parent[PATH_MAX]; /* the directory the app's cgroup goes into */
    char dir[PATH_MAX];    /* the app's cgroup */
    unsigned mounted;      /* controllers of this mount (v1), or 0 for v2 */
    unsigned ctrls;        /* the controllers used here */
    int v2;
    int created;
};

struct sdv_app_cgroup {
    struct cg_hier h[CG_HIER_MAX];
    size_t n;
};

static void cg_err(char *err, size_t err_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void cg_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static const char *ctrl_name(unsigned bit)
{
    for (size_t i = 0; i < CG_NCTRLS; i++) {
        if (g_ctrls[i].bit == bit)
            return g_ctrls[i].name;
    }
    return "?";
}

static const char *ctrl_limit(unsigned bit)
{
    for (size_t i = 0; i < CG_NCTRLS; i++) {
        if (g_ctrls[i].bit == bit)
            return g_ctrls[i].limit;
    }
    return NULL;
}

/* ---- small file helpers --------------------------------------------------------------------- */

/* Writes text to dir/name. 0, or -1 with errno set. */
static int put(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    size_t n = strlen(text);
    int fd, saved;
    ssize_t w;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    w = write(fd, text, n);
    saved = errno;
    close(fd);
    if (w != (ssize_t)n) {
        errno = w < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

/* Reads dir/name (or the path itself when name is NULL) into b, NUL-terminated. */
static int get(const char *dir, const char *name, struct sdv_buf *b)
{
    char path[PATH_MAX + 64];

    if (name != NULL)
        snprintf(path, sizeof(path), "%s/%s", dir, name);
    else
        snprintf(path, sizeof(path), "%s", dir);
    return sdv_fs_read(path, b) == SDV_OK && sdv_buf_append(b, "", 1) == SDV_OK ? 0 : -1;
}

static int exists(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* The value of "key N" in a flat keyed file (memory.events, cpu.stat, pids.events), or 0. */
static uint64_t keyed(const char *dir, const char *name, const char *key)
{
    struct sdv_buf b;
    uint64_t v = 0;
    size_t klen = strlen(key);

    sdv_buf_init(&b, SDV_APP_CGROUP_FILE_LEN_MAX);
    if (get(dir, name, &b) == 0) {
        for (const char *line = (const char *)b.data; line != NULL && *line != '\0';) {
            if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
                v = strtoull(line + klen + 1, NULL, 10);
                break;
            }
            line = strchr(line, '\n');
            if (line != NULL)
                line++;
        }
    }
    sdv_buf_free(&b);
    return v;
}

/* Is word one of the sep-separated words of list? */
static int has_word(const char *list, const char *word, char sep)
{
    size_t n = strlen(word);

    for (const char *p = list; p != NULL && *p != '\0';) {
        const char *end = strchr(p, sep);
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

        if (len == n && strncmp(p, word, n) == 0)
            return 1;
        p = end != NULL ? end + 1 : NULL;
    }
    return 0;
}

/* Cuts the next sep-terminated piece off *p in place; NULL when none is left. */
static char *next_piece(char **p, char sep)
{
    char *start = *p, *end;

    if (start == NULL || *start == '\0')
        return NULL;
    end = strchr(start, sep);
    if (end != NULL) {
        *end = '\0';
        *p = end + 1;
    } else {
        *p = start + strlen(start);
    }
    return start;
}

/* Is name one of the words (separated by spaces or newlines) of text? */
static int has_word_ws(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, " \n");

        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len;
        p += strspn(p, " \n");
    }
    return 0;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
    char *w = s;

    for (char *r = s; *r != '\0'; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* ---- finding the hierarchies ---------------------------------------------------------------- */

/* Fills the v1 mounts that carry one of our controllers (one entry per hierarchy) and the
 * first v2 mount, from /proc/self/mountinfo. */
static int find_mounts(struct cg_hier *v1, size_t *n_v1, struct cg_hier *v2, int *have_v2,
                       char *err, size_t err_len)
{
    struct sdv_buf b;
    char *rest, *line;

    *n_v1 = 0;
    *have_v2 = 0;
    sdv_buf_init(&b, SDV_APP_CGROUP_FILE_LEN_MAX);
    if (get("/proc/self/mountinfo", NULL, &b) != 0) {
        sdv_buf_free(&b);
        cg_err(err, err_len, "cannot read /proc/self/mountinfo");
        return -1;
    }
    rest = (char *)b.data;
    while ((line = next_piece(&rest, '\n')) != NULL) {
        char *f[24], *fs = NULL, *super = NULL, *tok;
        size_t nf = 0;
        unsigned mask = 0;

        while (nf < sizeof(f) / sizeof(f[0]) && (tok = next_piece(&line, ' ')) != NULL)
            f[nf++] = tok;
        /* id parent maj:min root mountpoint options [optional...] - fstype source superopts */
        for (size_t i = 6; i < nf; i++) {
            if (strcmp(f[i], "-") == 0) {
                fs = i + 1 < nf ? f[i + 1] : NULL;
                super = i + 3 < nf ? f[i + 3] : NULL;
                break;
            }
        }
        if (nf < 5 || fs == NULL)
            continue;
        if (strcmp(fs, "cgroup2") == 0) {
            if (*have_v2)
                continue;
            memset(v2, 0, sizeof(*v2));
            snprintf(v2->root, sizeof(v2->root), "%s", f[3]);
            snprintf(v2->mount, sizeof(v2->mount), "%s", f[4]);
            unescape(v2->root);
            unescape(v2->mount);
            v2->v2 = 1;
            *have_v2 = 1;
            continue;
        }
        if (strcmp(fs, "cgroup") != 0 || super == NULL)
            continue;
        for (size_t i = 0; i < CG_NCTRLS; i++) {
            if (has_word(super, g_ctrls[i].name, ','))
                mask |= g_ctrls[i].bit;
        }
        if (mask == 0)
            continue;
        /* The same hierarchy can be mounted twice; the first mount serves. */
        for (size_t i = 0; i < *n_v1; i++) {
            if (v1[i].mounted & mask)
                mask = 0;
        }
        if (mask == 0 || *n_v1 == CG_NCTRLS)
            continue;
        memset(&v1[*n_v1], 0, sizeof(v1[0]));
        snprintf(v1[*n_v1].root, sizeof(v1[0].root), "%s", f[3]);
        snprintf(v1[*n_v1].mount, sizeof(v1[0].mount), "%s", f[4]);
        unescape(v1[*n_v1].root);
        unescape(v1[*n_v1].mount);
        v1[*n_v1].mounted = mask;
        (*n_v1)++;
    }
    sdv_buf_free(&b);
    return 0;
}

/* Sets h->parent: the launcher's own cgroup in h's hierarchy (from /proc/self/cgroup), or
 * parent_override inside it. */
static int set_parent(struct cg_hier *h, const char *parent_override, char *err, size_t err_len)
{
    struct sdv_buf b;
    char *rest, *line;
    const char *path = NULL;
    size_t rlen;

    if (parent_override != NULL) {
        path = parent_override;
    } else {
        sdv_buf_init(&b, SDV_APP_CGROUP_FILE_LEN_MAX);
        if (get("/proc/self/cgroup", NULL, &b) != 0) {
            sdv_buf_free(&b);
            cg_err(err, err_len, "cannot read /proc/self/cgroup");
            return -1;
        }
        rest = (char *)b.data;
        while (path == NULL && (line = next_piece(&rest, '\n')) != NULL) {
            char *c1 = strchr(line, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;

            if (c2 == NULL)
                continue;
            *c2 = '\0';
            if (h->v2) {
                if (strncmp(line, "0:", 2) == 0 && c1[1] == '\0')
                    path = c2 + 1;
                continue;
            }
            for (size_t i = 0; i < CG_NCTRLS && path == NULL; i++) {
                if ((h->mounted & g_ctrls[i].bit) && has_word(c1 + 1, g_ctrls[i].name, ','))
                    path = c2 + 1;
            }
        }
        if (path == NULL) {
            sdv_buf_free(&b);
            cg_err(err, err_len, "/proc/self/cgroup names no cgroup in the hierarchy at %s",
                   h->mount);
            return -1;
        }
        /* Below the mount's root (a container's view): the rest of the path is ours. */
        rlen = strlen(h->root);
        if (strcmp(h->root, "/") != 0 && strncmp(path, h->root, rlen) == 0 &&
            (path[rlen] == '/' || path[rlen] == '\0'))
            path += rlen;
        snprintf(h->parent, sizeof(h->parent), "%s%s", h->mount,
                 strcmp(path, "/") == 0 ? "" : path);
        sdv_buf_free(&b);
        return 0;
    }
    snprintf(h->parent, sizeof(h->parent), "%s%s", h->mount, strcmp(path, "/") == 0 ? "" : path);
    return 0;
}

/* ---- v2: enabling controllers ------------------------------------------------------------ */

/* Makes controller name available to the children of every directory from the mount down to
 * h->parent (cgroup.subtree_control). 0, or -1 with err. */
static int v2_enable(const struct cg_hier *h, const char *name, char *err, size_t err_len)
{
    char dir[PATH_MAX], word[32];
    struct sdv_buf b;
    size_t mlen = strlen(h->mount);
    int rc = 0;

    snprintf(word, sizeof(word), "+%s", name);
    sdv_buf_init(&b, SDV_APP_CGROUP_FILE_LEN_MAX);
    for (size_t end = mlen; rc == 0;) {
        snprintf(dir, sizeof(dir), "%.*s", (int)end, h->parent);
        if (get(dir, "cgroup.subtree_control", &b) != 0) {
            cg_err(err, err_len, "cannot read %s/cgroup.subtree_control", dir);
            rc = -1;
        } else if (!has_word_ws((const char *)b.data, name)) {
            if (put(dir, "cgroup.subtree_control", word) != 0) {
                cg_err(err, err_len,
                       "cannot enable the %s controller in %s/cgroup.subtree_control: %s%s", name,
                       dir, strerror(errno),
                       errno == EBUSY
                               ? " (that cgroup holds processes itself: give --cgroup-parent "
                                 "a delegated cgroup, e.g. systemd's Delegate=yes)"
                               : "");
                rc = -1;
            }
        }
        if (end >= strlen(h->parent))
            break;
        /* Next level down. */
        {
            const char *slash = strchr(h->parent + end + 1, '/');

            end = slash != NULL ? (size_t)(slash - h->parent) : strlen(h->parent);
        }
    }
    sdv_buf_free(&b);
    return rc;
}

/* ---- limits ------------------------------------------------------------------------------- */

static int write_limits(const struct cg_hier *h, const struct sdv_app_limits *l, char *err,
                        size_t err_len)
{
    char text[64];
    const char *file = NULL;

    if ((h->ctrls & CG_MEMORY) && l->memory_mb != 0) {
        snprintf(text, sizeof(text), "%llu", (unsigned long long)(l->memory_mb << 20));
        file = h->v2 ? "memory.max" : "memory.limit_in_bytes";
        if (put(h->dir, file, text) != 0)
            goto fail;
        /* No swap for the app: its memory limit is a limit on memory, not on RAM. */
        if (h->v2) {
            file = "memory.swap.max";
            if (exists(h->dir, file) && put(h->dir, file, "0") != 0)
                goto fail;
        } else {
            file = "memory.memsw.limit_in_bytes";
            if (exists(h->dir, file) && put(h->dir, file, text) != 0)
                goto fail;
            (void)put(h->dir, "memory.swappiness", "0");
        }
    }
    if ((h->ctrls & CG_CPU) && l->cpu_percent != 0) {
        unsigned long long quota =
                (unsigned long long)l->cpu_percent * SDV_APP_CPU_PERIOD_US / 100u;

        if (h->v2) {
            file = "cpu.max";
            snprintf(text, sizeof(text), "%llu %u", quota, SDV_APP_CPU_PERIOD_US);
            if (put(h->dir, file, text) != 0)
                goto fail;
        } else {
            file = "cpu.cfs_period_us";
            snprintf(text, sizeof(text), "%u", SDV_APP_CPU_PERIOD_US);
            if (put(h->dir, file, text) != 0)
                goto fail;
            file = "cpu.cfs_quota_us";
            snprintf(text, sizeof(text), "%llu", quota);
            if (put(h->dir, file, text) != 0)
                goto fail;
        }
    }
    if ((h->ctrls & CG_PIDS) && l->processes != 0) {
        /* The sandbox's init is in the cgroup too; the app gets the number it asked for. */
        file = "pids.max";
        snprintf(text, sizeof(text), "%llu", (unsigned long long)l->processes + 1u);
        if (put(h->dir, file, text) != 0)
            goto fail;
    }
    return 0;
fail:
    cg_err(err, err_len, "cannot write %s/%s: %s%s", h->dir, file, strerror(errno),
           errno == ENOENT && strncmp(file, "cpu.", 4) == 0
                   ? " (this kernel has no CPU bandwidth control, CONFIG_CFS_BANDWIDTH)"
                   : "");
    return -1;
}

/* ---- create, attach, usage, destroy --------------------------------------------------------- */

static unsigned needed(const struct sdv_app_limits *l)
{
    return (l->memory_mb != 0 ? CG_MEMORY : 0u) | (l->cpu_percent != 0 ? CG_CPU : 0u) |
           (l->processes != 0 ? CG_PIDS : 0u);
}

/* The first limit of need among mask, for messages. */
static const char *first_limit(unsigned need)
{
    for (size_t i = 0; i < CG_NCTRLS; i++) {
        if ((need & g_ctrls[i].bit) && g_ctrls[i].limit != NULL)
            return g_ctrls[i].limit;
    }
    return "a cgroup limit";
}

/* Removes the cgroups of launchers that are gone (killed with SIGKILL, so they could not clean
 * up): sdv-app.<id>.<pid> in dir whose pid no longer exists. Their app trees died with them
 * (PR_SET_PDEATHSIG on the init), so the directories are empty and rmdir works; a busy one, or
 * one whose pid was reused, stays. */
static void remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        const char *dot = strrchr(e->d_name, '.');
        char *end, path[PATH_MAX + 300];
        long pid;

        if (strncmp(e->d_name, "sdv-app.", 8) != 0 || dot == NULL || dot == e->d_name + 7)
            continue;
        pid = strtol(dot + 1, &end, 10);
        if (*end != '\0' || pid <= 0 || pid > INT_MAX)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
            (void)rmdir(path);
    }
    closedir(d);
}

/* Sets up one hierarchy of cg (its parent, controllers, directory, limits). A failure with
 * nothing required there drops the hierarchy quietly (returns 0 with h->created 0). */
static int setup_hier(struct cg_hier *h, const struct sdv_app_limits *l, const char *app_id,
                      const char *parent, char *err, size_t err_len)
{
    unsigned need = h->ctrls & needed(l);
    char why[PATH_MAX + 200];

    why[0] = '\0';
    if (set_parent(h, parent, why, sizeof(why)) != 0)
        goto fail;
    if (parent != NULL && sdv_fs_mkdir_p(h->parent, 0755) != SDV_OK) {
        snprintf(why, sizeof(why), "cannot create %s: %s", h->parent, strerror(errno));
        goto fail;
    }
    if (h->v2) {
        for (size_t i = 0; i < CG_NCTRLS; i++) {
            unsigned bit = g_ctrls[i].bit;

            if (!(h->ctrls & bit) || bit == CG_CPUACCT)
                continue;
            if (v2_enable(h, g_ctrls[i].name, why, sizeof(why)) != 0) {
                if (need & bit) {
                    need = bit;
                    goto fail;
                }
                h->ctrls &= ~bit;
                why[0] = '\0';
            }
        }
    }
    if (snprintf(h->dir, sizeof(h->dir), "%s/sdv-app.%s.%ld", h->parent, app_id, (long)getpid()) >=
        (int)sizeof(h->dir)) {
        snprintf(why, sizeof(why), "the cgroup path below %s is too long", h->parent);
        goto fail;
    }
    remove_stale(h->parent);
    /* EEXIST: an earlier launcher with our pid died without cleaning up; an empty cgroup goes. */
    if (mkdir(h->dir, 0755) != 0 &&
        (errno != EEXIST || rmdir(h->dir) != 0 || mkdir(h->dir, 0755) != 0)) {
        snprintf(why, sizeof(why), "cannot create the cgroup %s: %s", h->dir, strerror(errno));
        goto fail;
    }
    h->created = 1;
    if (write_limits(h, l, why, sizeof(why)) != 0)
        goto fail;
    return 0;
fail:
    if (h->created && rmdir(h->dir) == 0)
        h->created = 0;
    if (need == 0) {
        h->created = 0;
        h->ctrls = 0;
        return 0;
    }
    cg_err(err, err_len,
           "%s cannot be enforced here (%s controller): %s; refusing to run the app "
           "without it",
           first_limit(need), ctrl_name(need & -need), why);
    return -1;
}

int sdv_app_cgroup_create(const struct sdv_app_limits *l, const char *app_id, const char *parent,
                          struct sdv_app_cgroup **out, char *err, size_t err_len)
{
    struct sdv_app_cgroup *cg;
    struct cg_hier *v1, v2;
    size_t n_v1 = 0;
    int have_v2 = 0;
    unsigned need = needed(l), found = 0;

    *out = NULL;
    cg = calloc(1, sizeof(*cg));
    v1 = calloc(CG_NCTRLS, sizeof(*v1));
    if (cg == NULL || v1 == NULL) {
        free(cg);
        free(v1);
        cg_err(err, err_len, "out of memory");
        return -1;
    }
    memset(&v2, 0, sizeof(v2));
    if (find_mounts(v1, &n_v1, &v2, &have_v2, err, err_len) != 0)
        goto fail;
    /* v1 first: on a hybrid machine a controller bound to a v1 mount is absent from v2. */
    for (size_t i = 0; i < n_v1; i++) {
        v1[i].ctrls = v1[i].mounted;
        found |= v1[i].mounted;
        cg->h[cg->n++] = v1[i];
    }
    if (have_v2) {
        struct sdv_buf b;
        char dir[PATH_MAX];

        /* What the v2 tree offers: the controllers listed at its root (or the parent). */
        v2.ctrls = 0;
        sdv_buf_init(&b, SDV_APP_CGROUP_FILE_LEN_MAX);
        if (set_parent(&v2, parent, NULL, 0) == 0) {
            snprintf(dir, sizeof(dir), "%s", access(v2.parent, F_OK) == 0 ? v2.parent : v2.mount);
            if (get(dir, "cgroup.controllers", &b) == 0) {
                for (size_t i = 0; i < CG_NCTRLS; i++) {
                    if (!(found & g_ctrls[i].bit) && g_ctrls[i].bit != CG_CPUACCT &&
                        has_word_ws((const char *)b.data, g_ctrls[i].name))
                        v2.ctrls |= g_ctrls[i].bit;
                }
            }
        }
        sdv_buf_free(&b);
        found |= v2.ctrls;
        /* cpu.stat counts usage in every v2 cgroup. Without any v1 hierarchy, v2 also serves
         * just to hold (and at the end kill) the app's tree. */
        if (!(found & CG_CPUACCT)) {
            v2.ctrls |= CG_CPUACCT;
            found |= CG_CPUACCT;
        }
        if (v2.ctrls != 0 && (v2.ctrls != CG_CPUACCT || n_v1 == 0))
            cg->h[cg->n++] = v2;
    }
    if ((need & ~found) != 0) {
        unsigned miss = need & ~found;

        cg_err(err, err_len,
               "%s cannot be enforced here: no cgroup hierarchy offers the %s controller (see "
               "/proc/self/mountinfo and cgroup.controllers); refusing to run the app without it",
               ctrl_limit(miss & -miss), ctrl_name(miss & -miss));
        goto fail;
    }
    for (size_t i = 0; i < cg->n; i++) {
        if (setup_hier(&cg->h[i], l, app_id, parent, err, err_len) != 0)
            goto fail;
    }
    /* Keep only what was created. */
    {
        size_t k = 0;

        for (size_t i = 0; i < cg->n; i++) {
            if (cg->h[i].created)
                cg->h[k++] = cg->h[i];
        }
        cg->n = k;
    }
    free(v1);
    if (cg->n == 0) {
        free(cg);
        return 0;
    }
    *out = cg;
    return 0;
fail:
    for (size_t i = 0; i < cg->n; i++) {
        if (cg->h[i].created)
            (void)rmdir(cg->h[i].dir);
    }
    free(v1);
    free(cg);
    return -1;
}

int sdv_app_cgroup_attach(struct sdv_app_cgroup *cg, pid_t pid, char *err, size_t err_len)
{
    char text[32];

    if (cg == NULL)
        return 0;
    snprintf(text, sizeof(text), "%ld", (long)pid);
    for (size_t i = 0; i < cg->n; i++) {
        if (put(cg->h[i].dir, "cgroup.procs", text) != 0) {
            cg_err(err, err_len, "cannot move the sandbox into %s/cgroup.procs: %s", cg->h[i].dir,
                   strerror(errno));
            return -1;
        }
    }
    return 0;
}

void sdv_app_cgroup_usage(const struct sdv_app_cgroup *cg, struct sdv_app_cgroup_usage *u)
{
    memset(u, 0, sizeof(*u));
    if (cg == NULL)
        return;
    for (size_t i = 0; i < cg->n; i++) {
        const struct cg_hier *h = &cg->h[i];

        if (h->ctrls & CG_MEMORY)
            u->oom_kills =
                    keyed(h->dir, h->v2 ? "memory.events" : "memory.oom_control", "oom_kill");
        if (h->ctrls & CG_PIDS)
            u->pids_refused = keyed(h->dir, "pids.events", "max");
        if ((h->ctrls & CG_CPUACCT) && !u->have_cpu_usage) {
            if (h->v2) {
                u->cpu_usage_us = keyed(h->dir, "cpu.stat", "usage_usec");
                u->have_cpu_usage = exists(h->dir, "cpu.stat");
            } else {
                struct sdv_buf b;

                sdv_buf_init(&b, 64);
                if (get(h->dir, "cpuacct.usage", &b) == 0) {
                    u->cpu_usage_us = strtoull((const char *)b.data, NULL, 10) / 1000u;
                    u->have_cpu_usage = 1;
                }
                sdv_buf_free(&b);
            }
        }
    }
}

const char *sdv_app_cgroup_dir(const struct sdv_app_cgroup *cg, const char *controller)
{
    if (cg == NULL || controller == NULL)
        return NULL;
    for (size_t i = 0; i < cg->n; i++) {
        for (size_t k = 0; k < CG_NCTRLS; k++) {
            if (strcmp(controller, g_ctrls[k].name) == 0 &&
                ((cg->h[i].ctrls & g_ctrls[k].bit) || cg->h[i].v2))
                return cg->h[i].dir;
        }
    }
    return NULL;
}

/* SIGKILL to every process of dir/cgroup.procs (v1, or v2 without cgroup.kill). The app's tree
 * is normally gone already: the sandbox's init is PID 1 of its namespace, and its end kills
 * everything in it. */
static void kill_procs(const char *dir)
{
    struct sdv_buf b;

    sdv_buf_init(&b, SDV_APP_CGROUP_FILE_LEN_MAX);
    if (get(dir, "cgroup.procs", &b) == 0) {
        for (const char *p = (const char *)b.data; *p != '\0';) {
            char *end;
            long pid = strtol(p, &end, 10);

            if (end == p)
                break;
            if (pid > 1 && pid != (long)getpid())
                (void)kill((pid_t)pid, SIGKILL);
            p = end;
            while (*p == '\n')
                p++;
        }
    }
    sdv_buf_free(&b);
}

int sdv_app_cgroup_destroy(struct sdv_app_cgroup *cg, char *err, size_t err_len)
{
    int rc = 0;

    if (cg == NULL)
        return 0;
    for (size_t i = 0; i < cg->n; i++) {
        struct cg_hier *h = &cg->h[i];
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        unsigned waited_ms = 0;

        if (!(h->v2 && put(h->dir, "cgroup.kill", "1") == 0))
            kill_procs(h->dir);
        while (rmdir(h->dir) != 0 && errno != ENOENT) {
            if (errno != EBUSY || waited_ms >= SDV_APP_CGROUP_RMDIR_WAIT_MS) {
                cg_err(err, err_len, "cannot remove the cgroup %s: %s", h->dir, strerror(errno));
                rc = -1;
                break;
            }
            kill_procs(h->dir);
            nanosleep(&pause, NULL);
            waited_ms += 10;
        }
    }
    free(cg);
    return rc;
}
