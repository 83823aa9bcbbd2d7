/*
 * app_manifest.c - the manifest of a third-party app (docs/app-sandbox.md): who it is, what to
 * run, which broker grants (or which approved purpose) its token carries and its resource limits.
 * A manifest comes with the app's package, so it is untrusted input: every member is checked
 * and the first problem is reported with the member's name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/broker_auth.h>

#include "app_sandbox.h"

static enum sdv_err mfail(char *err, size_t err_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static enum sdv_err mfail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && err_len > 0) {
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
        /* Names and values quoted from the manifest must not carry terminal controls. */
        for (char *p = err; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        }
    }
    return SDV_EPARSE;
}

static int id_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > SDV_APP_ID_LEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return 0;
    }
    return 1;
}

/* The purpose name rule of sdv-broker (docs/broker-auth.md): 1..64 of A-Z a-z 0-9 _ . : - */
static int purpose_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > SDV_AUTH_NAME_LEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

/* One grant: it must be ours (read/actuate/provide), a single one, and compile. */
static enum sdv_err check_grant(const char *g, size_t idx, char *err, size_t err_len)
{
    static const char *const actions[] = {"read:", "actuate:", "provide:"};
    struct sdv_auth_grants *compiled = NULL;
    char why[160];
    size_t k;
    enum sdv_err rc;

    for (k = 0; k < 3; k++) {
        if (strncmp(g, actions[k], strlen(actions[k])) == 0)
            break;
    }
    if (k == 3)
        return mfail(err, err_len,
                     "scopes[%zu]: \"%.64s\" is not read:PATH, actuate:PATH or "
                     "provide:PATH",
                     idx, g);
    if (strchr(g, ' ') != NULL || strchr(g, '\t') != NULL)
        return mfail(err, err_len, "scopes[%zu]: one grant per entry (no spaces)", idx);
    why[0] = '\0';
    rc = sdv_auth_grants_parse(g, strlen(g), &compiled, why, sizeof(why));
    if (rc == SDV_ENOMEM)
        return rc;
    if (rc != SDV_OK || sdv_auth_grants_count(compiled) != 1) {
        sdv_auth_grants_destroy(compiled);
        return mfail(err, err_len, "scopes[%zu]: \"%.64s\": %s", idx, g,
                     why[0] != '\0' ? why : "not a valid grant");
    }
    sdv_auth_grants_destroy(compiled);
    return SDV_OK;
}

static enum sdv_err parse_scopes(const json_t *a, struct sdv_app_manifest *m, char *err,
                                 size_t err_len)
{
    struct sdv_buf b;
    size_t i;
    json_t *v;
    enum sdv_err rc;

    if (!json_is_array(a) || json_array_size(a) == 0)
        return mfail(err, err_len, "scopes: must be a non-empty array of grants");
    if (json_array_size(a) > SDV_AUTH_GRANTS_MAX)
        return mfail(err, err_len, "scopes: at most %u grants", SDV_AUTH_GRANTS_MAX);
    sdv_buf_init(&b, SDV_AUTH_CLAIM_LEN_MAX * SDV_AUTH_GRANTS_MAX);
    json_array_foreach(a, i, v)
    {
        const char *g = json_string_value(v);

        if (g == NULL) {
            rc = mfail(err, err_len, "scopes[%zu]: must be a string", i);
            goto out;
        }
        rc = check_grant(g, i, err, err_len);
        if (rc != SDV_OK)
            goto out;
        if ((i > 0 && (rc = sdv_buf_append(&b, " ", 1)) != SDV_OK) ||
            (rc = sdv_buf_append(&b, g, strlen(g))) != SDV_OK)
            goto out;
    }
    if ((rc = sdv_buf_append(&b, "", 1)) != SDV_OK)
        goto out;
    m->scope = sdv_buf_steal(&b, NULL);
    return m->scope != NULL ? SDV_OK : SDV_ENOMEM;
out:
    sdv_buf_free(&b);
    return rc;
}

/* limits: {"memory_mb": N, ...}; every member optional, each a whole number in its range.
 * memory_mb, cpu_percent and processes also bound the app's whole process tree through its
 * cgroup (app_cgroup.c); the others are rlimits of each process. */
static enum sdv_err parse_limits(const json_t *o, struct sdv_app_limits *l, char *err,
                                 size_t err_len)
{
    static const struct {
        const char *name;
        size_t off;
        uint64_t min, max;
    } defs[] = {
            {"memory_mb", offsetof(struct sdv_app_limits, memory_mb), 8, 1u << 20},
            {"cpu_s", offsetof(struct sdv_app_limits, cpu_s), 1, 31u * 86400u},
            {"open_files", offsetof(struct sdv_app_limits, open_files), 8, 1u << 20},
            {"processes", offsetof(struct sdv_app_limits, processes), 1, 65536},
            {"cpu_percent", offsetof(struct sdv_app_limits, cpu_percent), 1,
             SDV_APP_CPU_PERCENT_MAX},
            {"file_size_mb", offsetof(struct sdv_app_limits, file_size_mb), 1, 1u << 20},
            {"tmp_mb", offsetof(struct sdv_app_limits, tmp_mb), 1, 4096},
    };
    const char *key;
    json_t *v;

    if (!json_is_object(o))
        return mfail(err, err_len, "limits: must be an object");
    json_object_foreach((json_t *)o, key, v)
    {
        size_t k;
        json_int_t n;

        for (k = 0; k < sizeof(defs) / sizeof(defs[0]); k++) {
            if (strcmp(key, defs[k].name) == 0)
                break;
        }
        if (k == sizeof(defs) / sizeof(defs[0]))
            return mfail(err, err_len,
                         "limits: unknown member \"%.64s\" (memory_mb, cpu_percent, cpu_s, "
                         "open_files, processes, file_size_mb, tmp_mb)",
                         key);
        n = json_integer_value(v);
        if (!json_is_integer(v) || n < (json_int_t)defs[k].min || n > (json_int_t)defs[k].max)
            return mfail(err, err_len, "limits.%s: must be a whole number %llu..%llu", key,
                         (unsigned long long)defs[k].min, (unsigned long long)defs[k].max);
        *(uint64_t *)((char *)l + defs[k].off) = (uint64_t)n;
    }
    return SDV_OK;
}

static enum sdv_err parse_exec(const json_t *doc, const char *base_dir, struct sdv_app_manifest *m,
                               char *err, size_t err_len)
{
    const char *exe = json_string_value(json_object_get(doc, "executable"));
    const json_t *args = json_object_get(doc, "args");
    const char *name;
    size_t n_args = 0, len;

    if (exe == NULL)
        return mfail(err, err_len, "executable: %s",
                     json_object_get(doc, "executable") == NULL ? "missing" : "must be a string");
    if (exe[0] == '\0' || strlen(exe) >= 4096 || exe[strlen(exe) - 1] == '/')
        return mfail(err, err_len, "executable: must name a file");
    if (args != NULL) {
        if (!json_is_array(args))
            return mfail(err, err_len, "args: must be an array of strings");
        n_args = json_array_size(args);
        if (n_args > SDV_APP_ARGS_MAX)
            return mfail(err, err_len, "args: at most %u arguments", SDV_APP_ARGS_MAX);
    }
    if (exe[0] == '/') {
        m->executable = dup_str(exe);
    } else {
        if (base_dir == NULL)
            base_dir = ".";
        len = strlen(base_dir) + 1 + strlen(exe) + 1;
        m->executable = malloc(len);
        if (m->executable != NULL)
            snprintf(m->executable, len, "%s/%s", base_dir, exe);
    }
    m->argv = calloc(n_args + 2, sizeof(*m->argv));
    if (m->executable == NULL || m->argv == NULL)
        return SDV_ENOMEM;
    name = strrchr(m->executable, '/');
    name = name != NULL ? name + 1 : m->executable;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return mfail(err, err_len, "executable: must name a file");
    if ((m->argv[0] = dup_str(name)) == NULL)
        return SDV_ENOMEM;
    m->argc = 1;
    for (size_t i = 0; i < n_args; i++) {
        const char *a = json_string_value(json_array_get(args, i));

        if (a == NULL)
            return mfail(err, err_len, "args[%zu]: must be a string", i);
        if (strlen(a) > SDV_APP_ARG_LEN_MAX)
            return mfail(err, err_len, "args[%zu]: longer than %u bytes", i, SDV_APP_ARG_LEN_MAX);
        if ((m->argv[m->argc] = dup_str(a)) == NULL)
            return SDV_ENOMEM;
        m->argc++;
    }
    return SDV_OK;
}

enum sdv_err sdv_app_manifest_parse(const json_t *doc, const char *base_dir,
                                    struct sdv_app_manifest *m, char *err, size_t err_len)
{
    static const char *const known[] = {"id",     "description", "executable", "args",
                                        "scopes", "purpose",     "limits"};
    const json_t *scopes, *purpose, *limits;
    const char *key, *id;
    json_t *v;
    enum sdv_err rc;

    memset(m, 0, sizeof(*m));
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (!json_is_object(doc))
        return mfail(err, err_len, "the manifest must be a JSON object");
    json_object_foreach((json_t *)doc, key, v)
    {
        size_t k;

        for (k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
            if (strcmp(key, known[k]) == 0)
                break;
        }
        if (k == sizeof(known) / sizeof(known[0]))
            return mfail(err, err_len,
                         "unknown member \"%.64s\" (id, description, executable, args, scopes, "
                         "purpose, limits)",
                         key);
    }
    id = json_string_value(json_object_get(doc, "id"));
    if (id == NULL)
        return mfail(err, err_len, "id: %s",
                     json_object_get(doc, "id") == NULL ? "missing" : "must be a string");
    if (!id_ok(id))
        return mfail(err, err_len,
                     "id: \"%.64s\" must be 1..%u of a-z 0-9 . _ - starting with a letter or "
                     "digit",
                     id, SDV_APP_ID_LEN_MAX);
    memcpy(m->id, id, strlen(id) + 1);
    v = json_object_get(doc, "description");
    if (v != NULL && !json_is_string(v))
        return mfail(err, err_len, "description: must be a string");
    rc = parse_exec(doc, base_dir, m, err, err_len);
    if (rc != SDV_OK)
        return rc;
    scopes = json_object_get(doc, "scopes");
    purpose = json_object_get(doc, "purpose");
    if ((scopes == NULL) == (purpose == NULL))
        return mfail(err, err_len, "give exactly one of scopes and purpose");
    if (scopes != NULL) {
        rc = parse_scopes(scopes, m, err, err_len);
        if (rc != SDV_OK)
            return rc;
    } else {
        const char *p = json_string_value(purpose);

        if (p == NULL || !purpose_ok(p))
            return mfail(err, err_len, "purpose: must be a name of 1..%u of A-Z a-z 0-9 _ . : -",
                         SDV_AUTH_NAME_LEN_MAX);
        if ((m->purpose = dup_str(p)) == NULL)
            return SDV_ENOMEM;
    }
    limits = json_object_get(doc, "limits");
    if (limits != NULL) {
        rc = parse_limits(limits, &m->limits, err, err_len);
        if (rc != SDV_OK)
            return rc;
    }
    return SDV_OK;
}

void sdv_app_manifest_free(struct sdv_app_manifest *m)
{
    if (m == NULL)
        return;
    if (m->argv != NULL) {
        for (size_t i = 0; i < m->argc; i++)
            free(m->argv[i]);
        free(m->argv);
    }
    free(m->executable);
    free(m->scope);
    free(m->purpose);
    memset(m, 0, sizeof(*m));
}
