/*
 * broker_catalog.c - the VSS catalog: loading the nested JSON tree (standard file and
 * overlays), the path hash table, dense ids, path patterns, and the write-time value checks.
 *
 * Loading walks the tree with an explicit stack (no recursion on input) and is all or nothing:
 * every change is logged (signals added, signals overridden, branches added) and undone when
 * any later node of the same file is refused, after which the hash table is rebuilt.
 */
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"

/* A leaf with everything it owns. */
struct cat_sig {
    struct sdv_broker_signal pub;
    char *path;
    char *unit;
    char *description;
    char *pattern;
    regex_t re; /* compiled pattern when pattern != NULL */
    struct sdv_broker_value *allowed;
};

/* A path in the hash table: a leaf (sig >= 0) or a branch (sig == -1). */
struct cat_node {
    char *path;
    size_t len;
    int64_t sig;
};

/* An overridden leaf, to restore on failure. */
struct cat_undo {
    uint32_t id;
    struct cat_sig *old;
};

struct sdv_broker_catalog {
    const struct sdv_log *log;
    struct cat_sig **sigs;
    uint32_t nsigs, sigs_cap;
    struct cat_node *nodes;
    size_t nnodes, nodes_cap;
    uint32_t *table; /* open addressing: node index + 1, 0 = empty */
    size_t table_cap;
    bool frozen;
    char errmsg[512];
};

static void cat_err(struct sdv_broker_catalog *cat, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void cat_err(struct sdv_broker_catalog *cat, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cat->errmsg, sizeof(cat->errmsg), fmt, ap);
    va_end(ap);
}

static void sig_free(struct cat_sig *s)
{
    uint32_t k;

    if (s == NULL)
        return;
    free(s->path);
    free(s->unit);
    free(s->description);
    if (s->pattern != NULL)
        regfree(&s->re);
    free(s->pattern);
    for (k = 0; k < s->pub.allowed_count; k++)
        broker_value_free_payload(&s->allowed[k]);
    free(s->allowed);
    broker_value_free_payload(&s->pub.default_value);
    free(s);
}

enum sdv_err sdv_broker_catalog_create(const struct sdv_log *log, struct sdv_broker_catalog **out)
{
    struct sdv_broker_catalog *cat;

    if (out == NULL)
        return SDV_EINVAL;
    cat = calloc(1, sizeof(*cat));
    if (cat == NULL)
        return SDV_ENOMEM;
    cat->log = log;
    *out = cat;
    return SDV_OK;
}

void sdv_broker_catalog_destroy(struct sdv_broker_catalog *cat)
{
    size_t i;

    if (cat == NULL)
        return;
    for (i = 0; i < cat->nsigs; i++)
        sig_free(cat->sigs[i]);
    for (i = 0; i < cat->nnodes; i++)
        free(cat->nodes[i].path);
    free(cat->sigs);
    free(cat->nodes);
    free(cat->table);
    free(cat);
}

const char *sdv_broker_catalog_errmsg(const struct sdv_broker_catalog *cat)
{
    return cat != NULL ? cat->errmsg : "";
}

uint32_t sdv_broker_catalog_count(const struct sdv_broker_catalog *cat)
{
    return cat != NULL ? cat->nsigs : 0;
}

const struct sdv_broker_signal *sdv_broker_catalog_signal(const struct sdv_broker_catalog *cat,
                                                          uint32_t id)
{
    if (cat == NULL || id >= cat->nsigs)
        return NULL;
    return &cat->sigs[id]->pub;
}

void broker_catalog_freeze(struct sdv_broker_catalog *cat)
{
    cat->frozen = true;
}

/* ---- Hash table ---- */

static int64_t node_lookup(const struct sdv_broker_catalog *cat, const char *path, size_t len)
{
    size_t mask, i;

    if (cat->table_cap == 0)
        return -1;
    mask = cat->table_cap - 1;
    for (i = (size_t)broker_hash(path, len) & mask;; i = (i + 1) & mask) {
        uint32_t slot = cat->table[i];
        const struct cat_node *n;

        if (slot == 0)
            return -1;
        n = &cat->nodes[slot - 1];
        if (n->len == len && memcmp(n->path, path, len) == 0)
            return (int64_t)(slot - 1);
    }
}

static void table_insert(struct sdv_broker_catalog *cat, size_t node)
{
    size_t mask = cat->table_cap - 1;
    size_t i = (size_t)broker_hash(cat->nodes[node].path, cat->nodes[node].len) & mask;

    while (cat->table[i] != 0)
        i = (i + 1) & mask;
    cat->table[i] = (uint32_t)node + 1u;
}

/* Rebuilds the table with room for want nodes at a load factor of at most 1/2. */
static enum sdv_err table_rebuild(struct sdv_broker_catalog *cat, size_t want)
{
    size_t cap = 64, i;
    uint32_t *t;

    while (cap < want * 2)
        cap *= 2;
    t = calloc(cap, sizeof(*t));
    if (t == NULL)
        return SDV_ENOMEM;
    free(cat->table);
    cat->table = t;
    cat->table_cap = cap;
    for (i = 0; i < cat->nnodes; i++)
        table_insert(cat, i);
    return SDV_OK;
}

static enum sdv_err node_add(struct sdv_broker_catalog *cat, const char *path, size_t len,
                             int64_t sig)
{
    struct cat_node *n;

    if (cat->nnodes == cat->nodes_cap) {
        size_t cap = cat->nodes_cap ? cat->nodes_cap * 2 : 256;

        n = realloc(cat->nodes, cap * sizeof(*n));
        if (n == NULL)
            return SDV_ENOMEM;
        cat->nodes = n;
        cat->nodes_cap = cap;
    }
    if ((cat->nnodes + 1) * 2 > cat->table_cap &&
        table_rebuild(cat, (cat->nnodes + 1) * 2) != SDV_OK)
        return SDV_ENOMEM;
    n = &cat->nodes[cat->nnodes];
    n->path = malloc(len + 1);
    if (n->path == NULL)
        return SDV_ENOMEM;
    memcpy(n->path, path, len);
    n->path[len] = '\0';
    n->len = len;
    n->sig = sig;
    table_insert(cat, cat->nnodes);
    cat->nnodes++;
    return SDV_OK;
}

const struct sdv_broker_signal *sdv_broker_catalog_find(const struct sdv_broker_catalog *cat,
                                                        const char *path, size_t len)
{
    int64_t n;

    if (cat == NULL || path == NULL)
        return NULL;
    n = node_lookup(cat, path, len);
    if (n < 0 || cat->nodes[n].sig < 0)
        return NULL;
    return &cat->sigs[cat->nodes[n].sig]->pub;
}

/* ---- Loading ---- */

struct load_ctx {
    struct sdv_broker_catalog *cat;
    const char *name;
    uint32_t nsigs0;
    size_t nnodes0;
    struct cat_undo *undo;
    size_t nundo, undo_cap;
};

/* Names are [A-Za-z0-9_]+, optionally dotted. */
static bool key_valid(const char *k, size_t n)
{
    size_t i;
    bool seg_empty = true;

    for (i = 0; i < n; i++) {
        char c = k[i];

        if (c == '.') {
            if (seg_empty)
                return false;
            seg_empty = true;
            continue;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
        seg_empty = false;
    }
    return !seg_empty;
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Makes sure every proper prefix of path (at dots) from prefix_len on is a branch. */
static enum sdv_err ensure_branches(struct load_ctx *lc, const char *path, size_t len, size_t from)
{
    size_t i;

    for (i = from; i < len; i++) {
        int64_t n;

        if (path[i] != '.')
            continue;
        n = node_lookup(lc->cat, path, i);
        if (n >= 0 && lc->cat->nodes[n].sig >= 0) {
            cat_err(lc->cat, "%s: %.*s: is a signal, cannot hold %s", lc->name, (int)i, path, path);
            return SDV_EPARSE;
        }
        if (n < 0 && node_add(lc->cat, path, i, -1) != SDV_OK)
            return SDV_ENOMEM;
    }
    return SDV_OK;
}

/* Parses a value field of a leaf with datatype dt into an owned value. */
static enum sdv_err field_value(struct load_ctx *lc, const char *path, const char *field,
                                enum sdv_broker_datatype dt, const json_t *j,
                                struct sdv_broker_value *out)
{
    struct sdv_buf scratch;
    struct sdv_broker_value v;
    char msg[256];
    enum sdv_err rc;

    sdv_buf_init(&scratch, (size_t)SDV_BROKER_STRING_LEN_MAX + SDV_BROKER_ARRAY_LEN_MAX * 8u);
    rc = sdv_broker_value_from_json(dt, j, &scratch, &v, msg, sizeof(msg));
    if (rc == SDV_OK)
        rc = sdv_broker_value_validate(&v, msg, sizeof(msg));
    if (rc == SDV_OK) {
        rc = broker_value_dup(&v, out);
        if (rc != SDV_OK)
            snprintf(msg, sizeof(msg), "out of memory");
    }
    sdv_buf_free(&scratch);
    if (rc != SDV_OK) {
        cat_err(lc->cat, "%s: %s: %s: %s", lc->name, path, field, msg);
        return rc == SDV_ENOMEM ? rc : SDV_EPARSE;
    }
    return SDV_OK;
}

static enum sdv_err sig_clone(const struct cat_sig *o, struct cat_sig **out)
{
    struct cat_sig *s = calloc(1, sizeof(*s));
    uint32_t k;

    if (s == NULL)
        return SDV_ENOMEM;
    s->pub = o->pub;
    s->pub.allowed = NULL;
    s->pub.allowed_count = 0;
    s->pub.default_value.type = SDV_BROKER_DT_NONE;
    s->path = dupn(o->path, strlen(o->path));
    s->unit = o->unit != NULL ? dupn(o->unit, strlen(o->unit)) : NULL;
    s->description = dupn(o->description, strlen(o->description));
    if (s->path == NULL || (o->unit != NULL && s->unit == NULL) || s->description == NULL)
        goto nomem;
    if (o->pattern != NULL) {
        s->pattern = dupn(o->pattern, strlen(o->pattern));
        if (s->pattern == NULL)
            goto nomem;
        if (regcomp(&s->re, s->pattern, REG_EXTENDED | REG_NOSUB) != 0) {
            free(s->pattern);
            s->pattern = NULL;
            goto nomem;
        }
    }
    if (o->pub.allowed_count > 0) {
        s->allowed = calloc(o->pub.allowed_count, sizeof(*s->allowed));
        if (s->allowed == NULL)
            goto nomem;
        for (k = 0; k < o->pub.allowed_count; k++) {
            if (broker_value_dup(&o->allowed[k], &s->allowed[k]) != SDV_OK)
                goto nomem;
            s->pub.allowed_count = k + 1;
        }
    }
    if (broker_value_dup(&o->pub.default_value, &s->pub.default_value) != SDV_OK)
        goto nomem;
    *out = s;
    return SDV_OK;
nomem:
    sig_free(s);
    return SDV_ENOMEM;
}

/* Points the public fields at the owned storage. */
static void sig_publish(struct cat_sig *s)
{
    s->pub.path = s->path;
    s->pub.unit = s->unit;
    s->pub.description = s->description != NULL ? s->description : "";
    s->pub.pattern = s->pattern;
    s->pub.allowed = s->pub.allowed_count > 0 ? s->allowed : NULL;
}

static enum sdv_err set_string(struct load_ctx *lc, const char *path, const char *field,
                               const json_t *j, char **dst)
{
    char *d;

    if (!json_is_string(j)) {
        cat_err(lc->cat, "%s: %s: %s must be a string", lc->name, path, field);
        return SDV_EPARSE;
    }
    d = dupn(json_string_value(j), json_string_length(j));
    if (d == NULL)
        return SDV_ENOMEM;
    free(*dst);
    *dst = d;
    return SDV_OK;
}

/* Applies the fields of leaf object o to s (new or a clone of the old one). */
static enum sdv_err leaf_apply(struct load_ctx *lc, struct cat_sig *s, const json_t *o)
{
    const char *path = s->path;
    enum sdv_broker_datatype e;
    const json_t *j;
    enum sdv_err rc;
    bool dt_changed = false;

    j = json_object_get(o, "type");
    if (j != NULL) {
        const char *t = json_string_value(j);

        if (t == NULL) {
            cat_err(lc->cat, "%s: %s: type must be a string", lc->name, path);
            return SDV_EPARSE;
        }
        if (strcmp(t, "sensor") == 0)
            s->pub.kind = SDV_BROKER_KIND_SENSOR;
        else if (strcmp(t, "actuator") == 0)
            s->pub.kind = SDV_BROKER_KIND_ACTUATOR;
        else if (strcmp(t, "attribute") == 0)
            s->pub.kind = SDV_BROKER_KIND_ATTRIBUTE;
        else {
            cat_err(lc->cat, "%s: %s: type \"%.32s\" is not sensor, actuator or attribute",
                    lc->name, path, t);
            return SDV_EPARSE;
        }
    }
    if (s->pub.kind == 0) {
        cat_err(lc->cat, "%s: %s: a new signal needs a type", lc->name, path);
        return SDV_EPARSE;
    }
    j = json_object_get(o, "datatype");
    if (j != NULL) {
        enum sdv_broker_datatype dt;

        if (!json_is_string(j) || sdv_broker_datatype_parse(json_string_value(j), &dt) != SDV_OK) {
            cat_err(lc->cat, "%s: %s: datatype %.40s%s%s is not supported", lc->name, path,
                    json_is_string(j) ? "\"" : "", json_is_string(j) ? json_string_value(j) : "?",
                    json_is_string(j) ? "\"" : "");
            return SDV_EPARSE;
        }
        dt_changed = s->pub.datatype != SDV_BROKER_DT_NONE && s->pub.datatype != dt;
        s->pub.datatype = dt;
    }
    if (s->pub.datatype == SDV_BROKER_DT_NONE) {
        cat_err(lc->cat, "%s: %s: a new signal needs a datatype", lc->name, path);
        return SDV_EPARSE;
    }
    e = SDV_BROKER_DT_ELEMENT(s->pub.datatype);
    if ((j = json_object_get(o, "unit")) != NULL &&
        (rc = set_string(lc, path, "unit", j, &s->unit)) != SDV_OK)
        return rc;
    if ((j = json_object_get(o, "description")) != NULL &&
        (rc = set_string(lc, path, "description", j, &s->description)) != SDV_OK)
        return rc;
    if ((j = json_object_get(o, "deprecation")) != NULL)
        s->pub.deprecated = !json_is_null(j);
    if ((j = json_object_get(o, "pattern")) != NULL) {
        int rerr;

        if (s->pattern != NULL) {
            regfree(&s->re);
            free(s->pattern);
            s->pattern = NULL;
        }
        if (!json_is_string(j) || json_string_length(j) > SDV_BROKER_PATTERN_LEN_MAX ||
            strlen(json_string_value(j)) != json_string_length(j)) {
            cat_err(lc->cat, "%s: %s: pattern must be a string of at most %u bytes", lc->name, path,
                    SDV_BROKER_PATTERN_LEN_MAX);
            return SDV_EPARSE;
        }
        rerr = regcomp(&s->re, json_string_value(j), REG_EXTENDED | REG_NOSUB);
        if (rerr != 0) {
            char rmsg[128];

            regerror(rerr, &s->re, rmsg, sizeof(rmsg));
            cat_err(lc->cat, "%s: %s: pattern: %s", lc->name, path, rmsg);
            return SDV_EPARSE;
        }
        s->pattern = dupn(json_string_value(j), json_string_length(j));
        if (s->pattern == NULL) {
            regfree(&s->re);
            return SDV_ENOMEM;
        }
    }
    if ((j = json_object_get(o, "min")) != NULL || (json_object_get(o, "max")) != NULL) {
        if (!broker_dt_numeric(e)) {
            cat_err(lc->cat, "%s: %s: min/max need a numeric datatype, not %s", lc->name, path,
                    sdv_broker_datatype_name(s->pub.datatype));
            return SDV_EPARSE;
        }
    }
    if ((j = json_object_get(o, "min")) != NULL &&
        (rc = field_value(lc, path, "min", e, j, &s->pub.min)) != SDV_OK)
        return rc;
    if ((j = json_object_get(o, "max")) != NULL &&
        (rc = field_value(lc, path, "max", e, j, &s->pub.max)) != SDV_OK)
        return rc;
    if ((j = json_object_get(o, "allowed")) != NULL) {
        size_t n = json_array_size(j), k;
        struct sdv_broker_value *a;

        if (!json_is_array(j) || n == 0 || n > SDV_BROKER_ALLOWED_MAX) {
            cat_err(lc->cat, "%s: %s: allowed must be an array of 1 to %u values", lc->name, path,
                    SDV_BROKER_ALLOWED_MAX);
            return SDV_EPARSE;
        }
        a = calloc(n, sizeof(*a));
        if (a == NULL)
            return SDV_ENOMEM;
        for (k = 0; k < n; k++) {
            rc = field_value(lc, path, "allowed", e, json_array_get(j, k), &a[k]);
            if (rc != SDV_OK) {
                while (k-- > 0)
                    broker_value_free_payload(&a[k]);
                free(a);
                return rc;
            }
        }
        for (k = 0; k < s->pub.allowed_count; k++)
            broker_value_free_payload(&s->allowed[k]);
        free(s->allowed);
        s->allowed = a;
        s->pub.allowed_count = (uint32_t)n;
    } else if (dt_changed && s->pub.allowed_count > 0) {
        cat_err(lc->cat, "%s: %s: datatype changed: restate allowed", lc->name, path);
        return SDV_EPARSE;
    }
    if (dt_changed && ((s->pub.min.type != SDV_BROKER_DT_NONE && s->pub.min.type != e) ||
                       (s->pub.max.type != SDV_BROKER_DT_NONE && s->pub.max.type != e))) {
        cat_err(lc->cat, "%s: %s: datatype changed: restate min and max", lc->name, path);
        return SDV_EPARSE;
    }
    if (s->pub.min.type != SDV_BROKER_DT_NONE && s->pub.max.type != SDV_BROKER_DT_NONE) {
        int c = 0;

        sdv_broker_value_compare(&s->pub.min, &s->pub.max, &c);
        if (c > 0) {
            cat_err(lc->cat, "%s: %s: min is above max", lc->name, path);
            return SDV_EPARSE;
        }
    }
    if ((j = json_object_get(o, "default")) != NULL) {
        broker_value_free_payload(&s->pub.default_value);
        memset(&s->pub.default_value, 0, sizeof(s->pub.default_value));
        rc = field_value(lc, path, "default", s->pub.datatype, j, &s->pub.default_value);
        if (rc != SDV_OK)
            return rc;
    } else if (dt_changed && s->pub.default_value.type != SDV_BROKER_DT_NONE) {
        cat_err(lc->cat, "%s: %s: datatype changed: restate default", lc->name, path);
        return SDV_EPARSE;
    }
    sig_publish(s);
    if (s->pub.default_value.type != SDV_BROKER_DT_NONE) {
        char msg[300];

        if (sdv_broker_signal_check(&s->pub, &s->pub.default_value, msg, sizeof(msg)) != SDV_OK) {
            cat_err(lc->cat, "%s: default: %s", lc->name, msg);
            return SDV_EPARSE;
        }
    }
    return SDV_OK;
}

/* A leaf node at path: new or an overlay of an existing one. */
static enum sdv_err leaf_load(struct load_ctx *lc, const char *path, size_t len, const json_t *o)
{
    struct sdv_broker_catalog *cat = lc->cat;
    int64_t n = node_lookup(cat, path, len);
    struct cat_sig *s = NULL;
    enum sdv_err rc;

    if (n >= 0 && cat->nodes[n].sig < 0) {
        cat_err(cat, "%s: %s: is a branch, cannot be a signal", lc->name, path);
        return SDV_EPARSE;
    }
    if (n >= 0) {
        uint32_t id = (uint32_t)cat->nodes[n].sig;
        struct cat_undo *u;

        rc = sig_clone(cat->sigs[id], &s);
        if (rc != SDV_OK)
            return rc;
        rc = leaf_apply(lc, s, o);
        if (rc != SDV_OK) {
            sig_free(s);
            return rc;
        }
        if (lc->nundo == lc->undo_cap) {
            size_t cap = lc->undo_cap ? lc->undo_cap * 2 : 16;

            u = realloc(lc->undo, cap * sizeof(*u));
            if (u == NULL) {
                sig_free(s);
                return SDV_ENOMEM;
            }
            lc->undo = u;
            lc->undo_cap = cap;
        }
        lc->undo[lc->nundo].id = id;
        lc->undo[lc->nundo].old = cat->sigs[id];
        lc->nundo++;
        cat->sigs[id] = s;
        return SDV_OK;
    }
    if (cat->nsigs >= SDV_BROKER_CATALOG_SIGNALS_MAX) {
        cat_err(cat, "%s: %s: more than %u signals", lc->name, path,
                SDV_BROKER_CATALOG_SIGNALS_MAX);
        return SDV_ETOOBIG;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SDV_ENOMEM;
    s->path = dupn(path, len);
    s->description = dupn("", 0);
    if (s->path == NULL || s->description == NULL) {
        sig_free(s);
        return SDV_ENOMEM;
    }
    sig_publish(s);
    rc = leaf_apply(lc, s, o);
    if (rc != SDV_OK) {
        sig_free(s);
        return rc;
    }
    if (cat->nsigs == cat->sigs_cap) {
        uint32_t cap = cat->sigs_cap ? cat->sigs_cap * 2 : 256;
        struct cat_sig **a = realloc(cat->sigs, cap * sizeof(*a));

        if (a == NULL) {
            sig_free(s);
            return SDV_ENOMEM;
        }
        cat->sigs = a;
        cat->sigs_cap = cap;
    }
    rc = node_add(cat, path, len, cat->nsigs);
    if (rc != SDV_OK) {
        sig_free(s);
        return rc;
    }
    s->pub.id = cat->nsigs;
    cat->sigs[cat->nsigs++] = s;
    return SDV_OK;
}

/* A branch node at path. */
static enum sdv_err branch_load(struct load_ctx *lc, const char *path, size_t len)
{
    int64_t n = node_lookup(lc->cat, path, len);

    if (n >= 0 && lc->cat->nodes[n].sig >= 0) {
        cat_err(lc->cat, "%s: %s: is a signal, cannot be a branch", lc->name, path);
        return SDV_EPARSE;
    }
    if (n < 0 && node_add(lc->cat, path, len, -1) != SDV_OK)
        return SDV_ENOMEM;
    return SDV_OK;
}

/* Undoes everything this load did. */
static void load_rollback(struct load_ctx *lc)
{
    struct sdv_broker_catalog *cat = lc->cat;
    size_t i;

    while (lc->nundo > 0) {
        struct cat_undo *u = &lc->undo[--lc->nundo];

        sig_free(cat->sigs[u->id]);
        cat->sigs[u->id] = u->old;
    }
    while (cat->nsigs > lc->nsigs0)
        sig_free(cat->sigs[--cat->nsigs]);
    while (cat->nnodes > lc->nnodes0)
        free(cat->nodes[--cat->nnodes].path);
    if (table_rebuild(cat, cat->nnodes) != SDV_OK) {
        /* Keep the old (larger) table: stale slots past nnodes must go, so clear it. */
        memset(cat->table, 0, cat->table_cap * sizeof(*cat->table));
        for (i = 0; i < cat->nnodes; i++)
            table_insert(cat, i);
    }
}

struct walk_frame {
    const json_t *obj;
    void *iter;
    size_t prefix_len;
};

static enum sdv_err load_tree(struct load_ctx *lc, const json_t *root)
{
    struct walk_frame stack[SDV_JSON_DEPTH_MAX + 1];
    char path[SDV_BROKER_PATH_LEN_MAX + 1];
    size_t depth = 0;
    enum sdv_err rc;

    if (!json_is_object(root)) {
        cat_err(lc->cat, "%s: the catalog must be a JSON object", lc->name);
        return SDV_EPARSE;
    }
    stack[0].obj = root;
    stack[0].iter = json_object_iter((json_t *)root);
    stack[0].prefix_len = 0;
    for (;;) {
        struct walk_frame *f = &stack[depth];
        const char *key;
        size_t klen, plen;
        const json_t *node, *children, *type;

        if (f->iter == NULL) {
            if (depth == 0)
                return SDV_OK;
            depth--;
            continue;
        }
        key = json_object_iter_key(f->iter);
        node = json_object_iter_value(f->iter);
        f->iter = json_object_iter_next((json_t *)f->obj, f->iter);
        klen = strlen(key);
        path[f->prefix_len] = '\0';
        if (!key_valid(key, klen)) {
            cat_err(lc->cat, "%s: %s%s\"%.64s\": a name is letters, digits and _", lc->name, path,
                    f->prefix_len ? "." : "", key);
            return SDV_EPARSE;
        }
        plen = f->prefix_len + (f->prefix_len ? 1 : 0) + klen;
        if (plen > SDV_BROKER_PATH_LEN_MAX) {
            cat_err(lc->cat, "%s: %s.%.32s...: path longer than %u bytes", lc->name, path, key,
                    SDV_BROKER_PATH_LEN_MAX);
            return SDV_ETOOBIG;
        }
        if (f->prefix_len)
            path[f->prefix_len] = '.';
        memcpy(path + plen - klen, key, klen);
        path[plen] = '\0';
        if (!json_is_object(node)) {
            cat_err(lc->cat, "%s: %s: a node must be a JSON object", lc->name, path);
            return SDV_EPARSE;
        }
        rc = ensure_branches(lc, path, plen, f->prefix_len);
        if (rc != SDV_OK)
            return rc;
        children = json_object_get(node, "children");
        type = json_object_get(node, "type");
        if (children != NULL ||
            (json_is_string(type) && strcmp(json_string_value(type), "branch") == 0)) {
            if (children != NULL && !json_is_object(children)) {
                cat_err(lc->cat, "%s: %s: children must be an object", lc->name, path);
                return SDV_EPARSE;
            }
            if (type != NULL &&
                !(json_is_string(type) && strcmp(json_string_value(type), "branch") == 0)) {
                cat_err(lc->cat, "%s: %s: a node with children must be a branch", lc->name, path);
                return SDV_EPARSE;
            }
            rc = branch_load(lc, path, plen);
            if (rc != SDV_OK)
                return rc;
            if (children != NULL && json_object_size(children) > 0) {
                if (depth + 1 > SDV_JSON_DEPTH_MAX) {
                    cat_err(lc->cat, "%s: %s: tree deeper than %d", lc->name, path,
                            SDV_JSON_DEPTH_MAX);
                    return SDV_ETOOBIG;
                }
                depth++;
                stack[depth].obj = children;
                stack[depth].iter = json_object_iter((json_t *)children);
                stack[depth].prefix_len = plen;
            }
            continue;
        }
        rc = leaf_load(lc, path, plen, node);
        if (rc != SDV_OK)
            return rc;
    }
}

enum sdv_err sdv_broker_catalog_load_json(struct sdv_broker_catalog *cat, const void *data,
                                          size_t len, const char *name)
{
    struct load_ctx lc = {0};
    char perr[200];
    json_t *root = NULL;
    enum sdv_err rc;
    size_t i;

    if (cat == NULL || (data == NULL && len > 0))
        return SDV_EINVAL;
    cat->errmsg[0] = '\0';
    if (name == NULL)
        name = "catalog";
    if (cat->frozen) {
        cat_err(cat, "%s: the catalog is in use by a broker and cannot change", name);
        return SDV_EINVAL;
    }
    if (len > SDV_BROKER_CATALOG_FILE_LEN_MAX) {
        cat_err(cat, "%s: larger than %u bytes", name, SDV_BROKER_CATALOG_FILE_LEN_MAX);
        return SDV_ETOOBIG;
    }
    rc = sdv_json_parse(data, len, &root, perr, sizeof(perr));
    if (rc != SDV_OK) {
        cat_err(cat, "%s: %s", name, perr);
        return rc;
    }
    lc.cat = cat;
    lc.name = name;
    lc.nsigs0 = cat->nsigs;
    lc.nnodes0 = cat->nnodes;
    rc = load_tree(&lc, root);
    if (rc == SDV_ENOMEM)
        cat_err(cat, "%s: out of memory", name);
    if (rc != SDV_OK) {
        load_rollback(&lc);
    } else {
        for (i = 0; i < lc.nundo; i++)
            sig_free(lc.undo[i].old);
        sdv_logf(cat->log, SDV_LOG_INFO, "%s: catalog now has %u signals (%zu overridden)", name,
                 cat->nsigs, lc.nundo);
    }
    free(lc.undo);
    json_decref(root);
    return rc;
}

enum sdv_err sdv_broker_catalog_load_file(struct sdv_broker_catalog *cat, const char *path)
{
    struct sdv_buf buf;
    enum sdv_err rc;

    if (cat == NULL || path == NULL)
        return SDV_EINVAL;
    sdv_buf_init(&buf, SDV_BROKER_CATALOG_FILE_LEN_MAX);
    rc = sdv_fs_read(path, &buf);
    if (rc != SDV_OK) {
        cat_err(cat, "%s: %s", path, sdv_strerror(rc));
        sdv_buf_free(&buf);
        return rc;
    }
    rc = sdv_broker_catalog_load_json(cat, buf.data, buf.len, path);
    sdv_buf_free(&buf);
    return rc;
}

/* ---- Patterns ---- */

/* True when leaf path matches pattern segment by segment ('*' one name), or lies under it. */
static bool path_matches(const char *pat, size_t plen, const char *path)
{
    size_t i = 0, j = 0;

    for (;;) {
        size_t ps = i, pe, qs = j, qe;

        while (i < plen && pat[i] != '.')
            i++;
        pe = i;
        while (path[j] != '\0' && path[j] != '.')
            j++;
        qe = j;
        if (!(pe - ps == 1 && pat[ps] == '*') &&
            (pe - ps != qe - qs || memcmp(pat + ps, path + qs, pe - ps) != 0))
            return false;
        if (i == plen)
            return true; /* the pattern ended: this leaf, or one under it */
        if (path[j] == '\0')
            return false; /* the leaf ended before the pattern */
        i++;
        j++;
    }
}

enum sdv_err sdv_broker_catalog_match(const struct sdv_broker_catalog *cat, const char *pattern,
                                      size_t len, uint32_t *ids, size_t ids_max, size_t *n)
{
    uint32_t id;
    size_t found = 0;
    const struct sdv_broker_signal *exact;

    if (n != NULL)
        *n = 0;
    if (cat == NULL || pattern == NULL || n == NULL || len == 0 || len > SDV_BROKER_PATH_LEN_MAX ||
        (ids == NULL && ids_max > 0))
        return SDV_EINVAL;
    exact = memchr(pattern, '*', len) == NULL ? sdv_broker_catalog_find(cat, pattern, len) : NULL;
    if (exact != NULL) {
        if (ids_max < 1)
            return SDV_ETOOBIG;
        ids[0] = exact->id;
        *n = 1;
        return SDV_OK;
    }
    for (id = 0; id < cat->nsigs; id++) {
        if (!path_matches(pattern, len, cat->sigs[id]->path))
            continue;
        if (found == ids_max)
            return SDV_ETOOBIG;
        ids[found++] = id;
    }
    *n = found;
    return found > 0 ? SDV_OK : SDV_ENOENT;
}

/* ---- Checks ---- */

enum sdv_err sdv_broker_signal_check(const struct sdv_broker_signal *sig,
                                     const struct sdv_broker_value *v, char *err, size_t err_len)
{
    const struct cat_sig *cs;
    enum sdv_broker_datatype e;
    char msg[200], text[64], bound[64];
    const char *pos;
    uint32_t k, count;
    enum sdv_err rc;

    if (sig == NULL || v == NULL) {
        sdv_msgf(err, err_len, "no signal or value");
        return SDV_EINVAL;
    }
    cs = (const struct cat_sig *)sig; /* pub is the first member */
    if (v->type != sig->datatype) {
        sdv_msgf(err, err_len, "%s: expected %s, got %s", sig->path,
                 sdv_broker_datatype_name(sig->datatype), sdv_broker_datatype_name(v->type));
        return SDV_EINVAL;
    }
    rc = sdv_broker_value_validate(v, msg, sizeof(msg));
    if (rc != SDV_OK) {
        sdv_msgf(err, err_len, "%s: %s", sig->path, msg);
        return rc;
    }
    if (sig->min.type == SDV_BROKER_DT_NONE && sig->max.type == SDV_BROKER_DT_NONE &&
        sig->allowed_count == 0 && sig->pattern == NULL)
        return SDV_OK;
    e = SDV_BROKER_DT_ELEMENT(v->type);
    count = SDV_BROKER_DT_IS_ARRAY(v->type) ? v->count : 1;
    pos = v->v.p;
    for (k = 0; k < count; k++) {
        struct sdv_broker_value s;
        const char *where = SDV_BROKER_DT_IS_ARRAY(v->type) ? " (element " : "";

        broker_value_elem(v, k, &pos, &s);
        if (broker_dt_numeric(e)) {
            struct broker_num x = broker_num_of(&s, 0);

            if (sig->min.type != SDV_BROKER_DT_NONE) {
                struct broker_num lo = broker_num_of(&sig->min, 0);

                if (broker_num_cmp(&x, &lo) < 0) {
                    broker_num_text(&s, 0, text, sizeof(text));
                    broker_num_text(&sig->min, 0, bound, sizeof(bound));
                    if (*where)
                        sdv_msgf(err, err_len, "%s: %s%s%u) is below min %s", sig->path, text,
                                 where, k, bound);
                    else
                        sdv_msgf(err, err_len, "%s: %s is below min %s", sig->path, text, bound);
                    return SDV_ERANGE;
                }
            }
            if (sig->max.type != SDV_BROKER_DT_NONE) {
                struct broker_num hi = broker_num_of(&sig->max, 0);

                if (broker_num_cmp(&x, &hi) > 0) {
                    broker_num_text(&s, 0, text, sizeof(text));
                    broker_num_text(&sig->max, 0, bound, sizeof(bound));
                    if (*where)
                        sdv_msgf(err, err_len, "%s: %s%s%u) is above max %s", sig->path, text,
                                 where, k, bound);
                    else
                        sdv_msgf(err, err_len, "%s: %s is above max %s", sig->path, text, bound);
                    return SDV_ERANGE;
                }
            }
        }
        if (sig->allowed_count > 0) {
            uint32_t a;

            for (a = 0; a < sig->allowed_count; a++)
                if (sdv_broker_value_equal(&s, &sig->allowed[a]))
                    break;
            if (a == sig->allowed_count) {
                if (e == SDV_BROKER_DT_STRING)
                    snprintf(text, sizeof(text), "\"%.*s\"", (int)(s.len > 48 ? 48 : s.len),
                             (const char *)s.v.p);
                else
                    broker_num_text(&s, 0, text, sizeof(text));
                sdv_msgf(err, err_len, "%s: %s is not one of the %u allowed values", sig->path,
                         text, sig->allowed_count);
                return SDV_ERANGE;
            }
        }
        if (sig->pattern != NULL && e == SDV_BROKER_DT_STRING) {
            regmatch_t m[1];

            m[0].rm_so = 0;
            m[0].rm_eo = (regoff_t)s.len;
            if (regexec(&cs->re, s.v.p != NULL ? s.v.p : "", 1, m, REG_STARTEND) != 0) {
                sdv_msgf(err, err_len, "%s: \"%.*s\" does not match the pattern %s", sig->path,
                         (int)(s.len > 48 ? 48 : s.len), s.v.p != NULL ? (const char *)s.v.p : "",
                         sig->pattern);
                return SDV_ERANGE;
            }
        }
    }
    return SDV_OK;
}
