/*
 * sdv_cmd_repo.c - `sdv repo`: the command line of the TUF repository tooling (sdv/tuf_repo.h).
 *
 * Options may come before or after the repository directory. Errors are one line on stderr,
 * "sdv repo <cmd>: <what> (<where>)", and exit status 1.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>
#include <sdv/tuf_repo.h>

#include "sdv_cmds.h"

/* Repeated --key options in one command. */
#define REPO_CLI_KEYS_MAX 64
/* Comma-separated --paths / --path-hash-prefixes entries. */
#define REPO_CLI_PATTERNS_MAX 1024

/* Option bits: which command accepts which option. */
enum {
    O_ROLE = 1u << 0,
    O_KEY = 1u << 1,
    O_KEYID = 1u << 2,
    O_THRESHOLD = 1u << 3,
    O_NAME = 1u << 4,
    O_CUSTOM = 1u << 5,
    O_FROM = 1u << 6,
    O_TO = 1u << 7,
    O_PATHS = 1u << 8,
    O_PREFIXES = 1u << 9,
    O_TERMINATING = 1u << 10,
    O_BINS = 1u << 11,
    O_PREFIX = 1u << 12,
    O_EXPIRES = 1u << 13,
    O_EXPIRES_IN = 1u << 14,
    O_NO_CONSISTENT = 1u << 15,
    O_HASHES = 1u << 16,
};
#define O_EXPIRY (O_EXPIRES | O_EXPIRES_IN)

struct repo_opts {
    const char *dir;
    const char **args; /* positionals after DIR */
    size_t arg_count;
    const char *role, *keyid, *threshold, *name, *custom, *from, *to, *paths, *prefixes;
    const char *bins, *prefix, *expires, *expires_in;
    const char *keys[REPO_CLI_KEYS_MAX];
    size_t key_count;
    int terminating, no_consistent, hashes;
};

struct opt_def {
    const char *name;
    unsigned bit;
    int has_value;
    size_t offset; /* of the const char * field; 0 for flags and --key */
};

#define OPT(n, b, f)                           \
    {                                          \
        n, b, 1, offsetof(struct repo_opts, f) \
    }
static const struct opt_def opt_defs[] = {
        OPT("--role", O_ROLE, role),
        {"--key", O_KEY, 1, 0},
        OPT("--keyid", O_KEYID, keyid),
        OPT("--threshold", O_THRESHOLD, threshold),
        OPT("--name", O_NAME, name),
        OPT("--custom", O_CUSTOM, custom),
        OPT("--from", O_FROM, from),
        OPT("--to", O_TO, to),
        OPT("--paths", O_PATHS, paths),
        OPT("--path-hash-prefixes", O_PREFIXES, prefixes),
        {"--terminating", O_TERMINATING, 0, 0},
        OPT("--hash-bins", O_BINS, bins),
        OPT("--prefix", O_PREFIX, prefix),
        OPT("--expires", O_EXPIRES, expires),
        OPT("--expires-in", O_EXPIRES_IN, expires_in),
        {"--no-consistent-snapshot", O_NO_CONSISTENT, 0, 0},
        {"--hashes", O_HASHES, 0, 0},
};

struct repo_cmd {
    const char *name;
    unsigned opts;
    int (*run)(const char *cmd, struct repo_opts *o, int64_t now);
    const char *usage;
};

static int fail(const char *cmd, const char *what, const char *where)
{
    fprintf(stderr, "sdv repo %s: %s (%s)\n", cmd, what, where);
    return 1;
}

static int fail_repo(const char *cmd, struct sdv_tuf_repo *repo, enum sdv_err err,
                     const char *where)
{
    const char *msg = sdv_tuf_repo_errmsg(repo);

    fail(cmd, *msg != '\0' ? msg : sdv_strerror(err), where);
    sdv_tuf_repo_close(repo);
    return 1;
}

/* Parses "30d", "12h", "15m", "3600s", "2w" or plain seconds. */
static int parse_duration(const char *s, int64_t *out)
{
    char *end;
    long long n;
    int64_t unit = 1;

    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno != 0 || end == s || n <= 0)
        return -1;
    if (*end != '\0') {
        if (end[1] != '\0')
            return -1;
        switch (*end) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        case 'w':
            unit = 7 * 86400;
            break;
        default:
            return -1;
        }
    }
    if (n > INT64_MAX / unit / 2)
        return -1;
    *out = (int64_t)n * unit;
    return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max || s[0] == '-')
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Opens DIR and applies --expires / --expires-in. */
static int open_repo(const char *cmd, struct repo_opts *o, int64_t now, struct sdv_tuf_repo **repo)
{
    char msg[1024];
    enum sdv_err err;
    int64_t t = 0;

    if (o->expires != NULL && o->expires_in != NULL)
        return fail(cmd, "give only one of --expires and --expires-in", o->expires);
    if (o->expires != NULL && sdv_time_parse(o->expires, &t) != SDV_OK)
        return fail(cmd, "not an RFC 3339 time", o->expires);
    if (o->expires_in != NULL) {
        if (parse_duration(o->expires_in, &t) != 0)
            return fail(cmd, "not a duration like 30d, 12h or 3600s", o->expires_in);
        t += now;
    }
    if (o->expires != NULL && t <= now)
        return fail(cmd, "expiry is in the past", o->expires);
    err = sdv_tuf_repo_open(o->dir, now, repo, msg, sizeof(msg));
    if (err != SDV_OK)
        return fail(cmd, msg, o->dir);
    sdv_tuf_repo_set_expires(*repo, t);
    return 0;
}

static int load_key(const char *cmd, const char *path, int need_private, struct sdv_key **key)
{
    enum sdv_err err = sdv_key_load_pem_file(path, key);

    if (err != SDV_OK) {
        char what[256];

        snprintf(what, sizeof(what), "cannot load key: %s", sdv_strerror(err));
        return fail(cmd, what, path);
    }
    if (need_private && !sdv_key_has_private(*key)) {
        sdv_key_destroy(*key);
        *key = NULL;
        return fail(cmd, "a private key is needed to sign", path);
    }
    return 0;
}

static void free_keys(struct sdv_key **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sdv_key_destroy(keys[i]);
}

static int load_keys(const char *cmd, struct repo_opts *o, int need_private, struct sdv_key **keys)
{
    for (size_t i = 0; i < o->key_count; i++) {
        if (load_key(cmd, o->keys[i], need_private, &keys[i]) != 0) {
            free_keys(keys, i);
            return 1;
        }
    }
    return 0;
}

static int need(const char *cmd, const void *value, const char *option)
{
    if (value != NULL)
        return 0;
    return fail(cmd, "missing required option", option);
}

static int no_args(const char *cmd, const struct repo_opts *o)
{
    if (o->arg_count == 0)
        return 0;
    return fail(cmd, "unexpected argument", o->args[0]);
}

/* ---- Commands --------------------------------------------------------------------------- */

static int cmd_init(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_tuf_repo *repo = NULL;
    char msg[1024];
    enum sdv_err err;

    if (no_args(cmd, o))
        return 1;
    err = sdv_tuf_repo_init(o->dir, !o->no_consistent, now, &repo, msg, sizeof(msg));
    if (err != SDV_OK)
        return fail(cmd, msg, o->dir);
    sdv_tuf_repo_close(repo);
    printf("initialised repository %s (consistent snapshots %s)\n", o->dir,
           o->no_consistent ? "off" : "on");
    return 0;
}

static int cmd_add_key(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_tuf_repo *repo;
    struct sdv_key *key;
    char keyid[SDV_KEYID_STR_LEN];
    unsigned threshold = 0;
    enum sdv_err err;

    if (no_args(cmd, o) || need(cmd, o->role, "--role") ||
        need(cmd, o->key_count ? o->keys[0] : NULL, "--key"))
        return 1;
    if (o->key_count != 1)
        return fail(cmd, "give exactly one --key", o->keys[1]);
    if (o->threshold != NULL && parse_uint(o->threshold, SDV_TUF_KEYS_MAX, &threshold) != 0)
        return fail(cmd, "threshold must be a positive number", o->threshold);
    if (load_key(cmd, o->keys[0], 0, &key) != 0)
        return 1;
    if (open_repo(cmd, o, now, &repo) != 0) {
        sdv_key_destroy(key);
        return 1;
    }
    err = sdv_tuf_repo_add_key(repo, o->role, key, threshold);
    if (err == SDV_OK)
        err = sdv_key_id(key, keyid);
    sdv_key_destroy(key);
    if (err != SDV_OK)
        return fail_repo(cmd, repo, err, o->dir);
    printf("role %s: key %s added\n", o->role, keyid);
    sdv_tuf_repo_close(repo);
    return 0;
}

static int cmd_remove_key(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_tuf_repo *repo;
    char keyid[SDV_KEYID_STR_LEN];
    enum sdv_err err;

    if (no_args(cmd, o) || need(cmd, o->role, "--role"))
        return 1;
    if ((o->key_count == 0) == (o->keyid == NULL) || o->key_count > 1)
        return fail(cmd, "give exactly one of --key and --keyid", "command line");
    if (o->keyid != NULL) {
        if (strlen(o->keyid) >= sizeof(keyid))
            return fail(cmd, "not a key id", o->keyid);
        memcpy(keyid, o->keyid, strlen(o->keyid) + 1);
    } else {
        struct sdv_key *key;

        if (load_key(cmd, o->keys[0], 0, &key) != 0)
            return 1;
        err = sdv_key_id(key, keyid);
        sdv_key_destroy(key);
        if (err != SDV_OK)
            return fail(cmd, sdv_strerror(err), o->keys[0]);
    }
    if (open_repo(cmd, o, now, &repo) != 0)
        return 1;
    err = sdv_tuf_repo_remove_key(repo, o->role, keyid);
    if (err != SDV_OK)
        return fail_repo(cmd, repo, err, o->dir);
    printf("role %s: key %s removed\n", o->role, keyid);
    sdv_tuf_repo_close(repo);
    return 0;
}

static int cmd_set_threshold(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_tuf_repo *repo;
    unsigned threshold;
    enum sdv_err err;

    if (no_args(cmd, o) || need(cmd, o->role, "--role") || need(cmd, o->threshold, "--threshold"))
        return 1;
    if (parse_uint(o->threshold, SDV_TUF_KEYS_MAX, &threshold) != 0)
        return fail(cmd, "threshold must be a positive number", o->threshold);
    if (open_repo(cmd, o, now, &repo) != 0)
        return 1;
    err = sdv_tuf_repo_set_threshold(repo, o->role, threshold);
    if (err != SDV_OK)
        return fail_repo(cmd, repo, err, o->dir);
    printf("role %s: threshold %u\n", o->role, threshold);
    sdv_tuf_repo_close(repo);
    return 0;
}

static int cmd_add_target(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_tuf_repo_target *t;
    struct sdv_tuf_repo *repo;
    json_t *custom = NULL;
    enum sdv_err err;

    if (o->arg_count == 0)
        return fail(cmd, "no target file given", "command line");
    if (o->name != NULL && o->arg_count != 1)
        return fail(cmd, "--name needs exactly one FILE", o->name);
    if (o->custom != NULL) {
        char msg[256], what[400];

        if (sdv_json_parse(o->custom, strlen(o->custom), &custom, msg, sizeof(msg)) != SDV_OK) {
            snprintf(what, sizeof(what), "--custom is not JSON: %s", msg);
            return fail(cmd, what, o->custom);
        }
        if (!json_is_object(custom)) {
            json_decref(custom);
            return fail(cmd, "--custom must be a JSON object", o->custom);
        }
    }
    t = calloc(o->arg_count, sizeof(*t));
    if (t == NULL) {
        json_decref(custom);
        return fail(cmd, "out of memory", "command line");
    }
    for (size_t i = 0; i < o->arg_count; i++) {
        const char *slash = strrchr(o->args[i], '/');

        t[i].file = o->args[i];
        t[i].path = o->name != NULL ? o->name : (slash != NULL ? slash + 1 : o->args[i]);
        t[i].custom = custom;
    }
    if (open_repo(cmd, o, now, &repo) != 0) {
        free(t);
        json_decref(custom);
        return 1;
    }
    err = sdv_tuf_repo_add_targets(repo, o->role, t, o->arg_count);
    free(t);
    json_decref(custom);
    if (err != SDV_OK)
        return fail_repo(cmd, repo, err, o->dir);
    if (o->arg_count == 1)
        printf("target %s added\n", o->name != NULL ? o->name : o->args[0]);
    else
        printf("%zu targets added\n", o->arg_count);
    sdv_tuf_repo_close(repo);
    return 0;
}

static int cmd_remove_target(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_tuf_repo *repo;
    enum sdv_err err;

    if (o->arg_count != 1)
        return fail(cmd, "give exactly one target PATH", "command line");
    if (open_repo(cmd, o, now, &repo) != 0)
        return 1;
    err = sdv_tuf_repo_remove_target(repo, o->role, o->args[0]);
    if (err != SDV_OK)
        return fail_repo(cmd, repo, err, o->dir);
    printf("target %s removed\n", o->args[0]);
    sdv_tuf_repo_close(repo);
    return 0;
}

/* Splits a comma-separated list in place (s is a copy the caller frees). */
static size_t split_list(char *s, const char **out, size_t max)
{
    size_t n = 0;
    char *p = s;

    while (n < max) {
        char *comma = strchr(p, ',');

        if (comma != NULL)
            *comma = '\0';
        if (*p != '\0')
            out[n++] = p;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return n;
}

static int cmd_delegate(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_key *keys[REPO_CLI_KEYS_MAX] = {0};
    struct sdv_tuf_repo *repo;
    unsigned threshold = 0, bins = 0;
    enum sdv_err err;

    if (no_args(cmd, o) || need(cmd, o->from, "--from") ||
        need(cmd, o->key_count ? o->keys[0] : NULL, "--key"))
        return 1;
    if (o->threshold != NULL && parse_uint(o->threshold, SDV_TUF_KEYS_MAX, &threshold) != 0)
        return fail(cmd, "threshold must be a positive number", o->threshold);
    if (o->bins != NULL) {
        if (o->to != NULL || o->paths != NULL || o->prefixes != NULL || o->terminating)
            return fail(cmd,
                        "--hash-bins does not combine with --to, --paths, "
                        "--path-hash-prefixes or --terminating",
                        "command line");
        if (need(cmd, o->prefix, "--prefix"))
            return 1;
        if (parse_uint(o->bins, 1u << SDV_TUF_SUCCINCT_BIT_LEN_MAX, &bins) != 0)
            return fail(cmd, "--hash-bins must be a power of two from 2 to 16384", o->bins);
    } else {
        if (need(cmd, o->to, "--to"))
            return 1;
        if ((o->paths == NULL) == (o->prefixes == NULL))
            return fail(cmd, "give exactly one of --paths and --path-hash-prefixes",
                        "command line");
        if (o->prefix != NULL)
            return fail(cmd, "--prefix is only for --hash-bins", o->prefix);
    }
    if (load_keys(cmd, o, 0, keys) != 0)
        return 1;
    if (open_repo(cmd, o, now, &repo) != 0) {
        free_keys(keys, o->key_count);
        return 1;
    }
    if (o->bins != NULL) {
        err = sdv_tuf_repo_delegate_bins(repo, o->from, bins, o->prefix,
                                         (const struct sdv_key *const *)keys, o->key_count,
                                         threshold);
    } else {
        static const size_t max = REPO_CLI_PATTERNS_MAX;
        const char **list = calloc(max, sizeof(*list));
        char *copy = strdup(o->paths != NULL ? o->paths : o->prefixes);
        struct sdv_tuf_repo_delegation d = {
                .name = o->to,
                .keys = (const struct sdv_key *const *)keys,
                .key_count = o->key_count,
                .threshold = threshold,
                .terminating = o->terminating,
        };

        if (list == NULL || copy == NULL) {
            err = SDV_ENOMEM;
        } else {
            d.path_count = split_list(copy, list, max);
            if (o->paths != NULL)
                d.paths = list;
            else
                d.path_hash_prefixes = list;
            err = sdv_tuf_repo_delegate(repo, o->from, &d);
        }
        free(list);
        free(copy);
    }
    free_keys(keys, o->key_count);
    if (err != SDV_OK)
        return fail_repo(cmd, repo, err, o->dir);
    if (o->bins != NULL)
        printf("%s delegates to %u hash bins %s-*\n", o->from, bins, o->prefix);
    else
        printf("%s delegates to %s\n", o->from, o->to);
    sdv_tuf_repo_close(repo);
    return 0;
}

static int cmd_sign(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_key *keys[REPO_CLI_KEYS_MAX] = {0};
    struct sdv_tuf_repo *repo;
    enum sdv_err err = SDV_OK;
    size_t i;

    if (no_args(cmd, o) || need(cmd, o->role, "--role") ||
        need(cmd, o->key_count ? o->keys[0] : NULL, "--key"))
        return 1;
    if (load_keys(cmd, o, 1, keys) != 0)
        return 1;
    if (open_repo(cmd, o, now, &repo) != 0) {
        free_keys(keys, o->key_count);
        return 1;
    }
    for (i = 0; i < o->key_count && err == SDV_OK; i++)
        err = sdv_tuf_repo_sign(repo, o->role, keys[i]);
    free_keys(keys, o->key_count);
    if (err != SDV_OK)
        return fail_repo(cmd, repo, err, o->keys[i - 1]);
    printf("role %s: %zu signature%s added\n", o->role, o->key_count, o->key_count == 1 ? "" : "s");
    sdv_tuf_repo_close(repo);
    return 0;
}

static int cmd_snapshot_or_timestamp(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_tuf_repo *repo;
    struct sdv_key *key;
    int is_snapshot = strcmp(cmd, "snapshot") == 0;
    enum sdv_err err;

    if (no_args(cmd, o) || need(cmd, o->key_count ? o->keys[0] : NULL, "--key"))
        return 1;
    if (o->key_count != 1)
        return fail(cmd, "give exactly one --key", o->keys[1]);
    if (load_key(cmd, o->keys[0], 1, &key) != 0)
        return 1;
    if (open_repo(cmd, o, now, &repo) != 0) {
        sdv_key_destroy(key);
        return 1;
    }
    if (is_snapshot)
        err = sdv_tuf_repo_snapshot(repo, key, o->hashes ? SDV_TUF_REPO_SNAPSHOT_HASHES : 0);
    else
        err = sdv_tuf_repo_timestamp(repo, key);
    sdv_key_destroy(key);
    if (err != SDV_OK)
        return fail_repo(cmd, repo, err, o->dir);
    printf("%s updated and signed\n", cmd);
    sdv_tuf_repo_close(repo);
    return 0;
}

static int cmd_publish_or_check(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_tuf_repo *repo;
    enum sdv_err err;

    if (no_args(cmd, o) || open_repo(cmd, o, now, &repo) != 0)
        return 1;
    if (strcmp(cmd, "publish") == 0)
        err = sdv_tuf_repo_publish(repo);
    else
        err = sdv_tuf_repo_check(repo);
    if (err != SDV_OK)
        return fail_repo(cmd, repo, err, o->dir);
    if (strcmp(cmd, "publish") == 0)
        printf("published %s/metadata\n", o->dir);
    else
        printf("ready to publish\n");
    sdv_tuf_repo_close(repo);
    return 0;
}

static void print_status(void *ud, const struct sdv_tuf_repo_role_status *st)
{
    char when[SDV_TIME_STR_LEN] = "-";

    (void)ud;
    if (st->missing) {
        printf("%-24s missing staged metadata\n", st->name);
        return;
    }
    if (st->expires > 0)
        sdv_time_format(st->expires, when);
    printf("%-24s version %-4lld expires %s  signatures %u/%u%s\n", st->name,
           (long long)st->version, when, st->valid_signatures, st->threshold,
           st->modified ? "  modified" : "");
}

static int cmd_status(const char *cmd, struct repo_opts *o, int64_t now)
{
    struct sdv_tuf_repo *repo;
    enum sdv_err err;

    if (no_args(cmd, o) || open_repo(cmd, o, now, &repo) != 0)
        return 1;
    err = sdv_tuf_repo_status(repo, print_status, NULL);
    if (err != SDV_OK)
        return fail_repo(cmd, repo, err, o->dir);
    sdv_tuf_repo_close(repo);
    return 0;
}

static const struct repo_cmd repo_cmds[] = {
        {"init", O_NO_CONSISTENT, cmd_init, "init DIR [--no-consistent-snapshot]"},
        {"add-key", O_ROLE | O_KEY | O_THRESHOLD | O_EXPIRY, cmd_add_key,
         "add-key DIR --role ROLE --key PUB.pem [--threshold N]"},
        {"remove-key", O_ROLE | O_KEY | O_KEYID | O_EXPIRY, cmd_remove_key,
         "remove-key DIR --role ROLE (--key PUB.pem | --keyid ID)"},
        {"set-threshold", O_ROLE | O_THRESHOLD | O_EXPIRY, cmd_set_threshold,
         "set-threshold DIR --role ROLE --threshold N"},
        {"add-target", O_ROLE | O_NAME | O_CUSTOM | O_EXPIRY, cmd_add_target,
         "add-target DIR FILE... [--name PATH] [--role ROLE] [--custom JSON]"},
        {"remove-target", O_ROLE | O_EXPIRY, cmd_remove_target,
         "remove-target DIR PATH [--role ROLE]"},
        {"delegate",
         O_FROM | O_TO | O_KEY | O_THRESHOLD | O_PATHS | O_PREFIXES | O_TERMINATING | O_BINS |
                 O_PREFIX | O_EXPIRY,
         cmd_delegate,
         "delegate DIR --from ROLE --to NAME --key PUB.pem... [--threshold N]\n"
         "                 (--paths 'p1,p2' | --path-hash-prefixes 'ab,cd') [--terminating]\n"
         "  sdv repo delegate DIR --from ROLE --hash-bins N --prefix NAME --key PUB.pem..."},
        {"sign", O_ROLE | O_KEY, cmd_sign, "sign DIR --role ROLE --key PRIV.pem..."},
        {"snapshot", O_KEY | O_HASHES | O_EXPIRY, cmd_snapshot_or_timestamp,
         "snapshot DIR --key PRIV.pem [--hashes]"},
        {"timestamp", O_KEY | O_EXPIRY, cmd_snapshot_or_timestamp, "timestamp DIR --key PRIV.pem"},
        {"check", 0, cmd_publish_or_check, "check DIR"},
        {"publish", 0, cmd_publish_or_check, "publish DIR"},
        {"status", 0, cmd_status, "status DIR"},
};

static void repo_usage(FILE *f)
{
    fputs("usage:\n", f);
    for (size_t i = 0; i < sizeof(repo_cmds) / sizeof(repo_cmds[0]); i++)
        fprintf(f, "  sdv repo %s\n", repo_cmds[i].usage);
    fputs("commands that change a role accept --expires RFC3339 or --expires-in DURATION "
          "(30d, 12h, 3600s)\n",
          f);
}

static int parse_opts(const struct repo_cmd *c, int argc, char **argv, struct repo_opts *o)
{
    int only_args = 0;

    o->args = calloc((size_t)argc + 1, sizeof(*o->args));
    if (o->args == NULL)
        return fail(c->name, "out of memory", "command line");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *value = NULL;
        const struct opt_def *def = NULL;
        size_t name_len;

        if (only_args || a[0] != '-' || a[1] == '\0') {
            if (o->dir == NULL)
                o->dir = a;
            else
                o->args[o->arg_count++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = 1;
            continue;
        }
        name_len = strcspn(a, "=");
        for (size_t k = 0; k < sizeof(opt_defs) / sizeof(opt_defs[0]); k++) {
            if (strlen(opt_defs[k].name) == name_len && strncmp(opt_defs[k].name, a, name_len) == 0)
                def = &opt_defs[k];
        }
        if (def == NULL || !(c->opts & def->bit))
            return fail(c->name, "unknown option", a);
        if (def->has_value) {
            if (a[name_len] == '=')
                value = a + name_len + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return fail(c->name, "option needs a value", a);
        } else if (a[name_len] == '=') {
            return fail(c->name, "option takes no value", a);
        }
        if (def->bit == O_KEY) {
            if (o->key_count >= REPO_CLI_KEYS_MAX)
                return fail(c->name, "too many --key options", a);
            o->keys[o->key_count++] = value;
        } else if (def->bit == O_TERMINATING) {
            o->terminating = 1;
        } else if (def->bit == O_NO_CONSISTENT) {
            o->no_consistent = 1;
        } else if (def->bit == O_HASHES) {
            o->hashes = 1;
        } else {
            const char **slot = (const char **)(void *)((char *)o + def->offset);

            if (*slot != NULL)
                return fail(c->name, "option given twice", a);
            *slot = value;
        }
    }
    if (o->dir == NULL)
        return fail(c->name, "missing repository directory", "command line");
    return 0;
}

int sdv_cmd_repo(int argc, char **argv)
{
    struct repo_opts o;
    const struct repo_cmd *c = NULL;
    int rc;

    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        repo_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    for (size_t i = 0; i < sizeof(repo_cmds) / sizeof(repo_cmds[0]); i++) {
        if (strcmp(argv[1], repo_cmds[i].name) == 0)
            c = &repo_cmds[i];
    }
    if (c == NULL) {
        repo_usage(stderr);
        return fail(argv[1], "unknown command", "sdv repo help");
    }
    memset(&o, 0, sizeof(o));
    rc = parse_opts(c, argc, argv, &o);
    if (rc == 0)
        rc = c->run(c->name, &o, (int64_t)time(NULL));
    free(o.args);
    return rc;
}
