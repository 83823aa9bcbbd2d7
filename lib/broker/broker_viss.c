/*
 * broker_viss.c - the COVESA VISS v3 JSON layer of sdv-broker: strict request parsing
 * (WebSocket subprotocol "VISSv3" messages and HTTP GET/POST), response, notification and
 * error serialisation. Values stay JSON here: the daemon converts them with the catalog's
 * datatype (sdv_broker_value_from_json / sdv_broker_value_to_json of sdv/broker.h).
 *
 * Strictness: every member is checked for its JSON type and bounds, unknown members and
 * unsupported filter variants are refused, and every failure is "400 bad_request" with a
 * message that names the member (VISS transport "400 Bad Request Error Messages").
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_proto_int.h"

/* ---- Errors ----------------------------------------------------------------------------- */

struct viss_error_def {
    unsigned number;
    const char *reason;
    const char *message;
};

/* The VISS v3 transport status code table (number, reason, default message), plus the VISS
 * v2 reasons that v3 servers still send for token and path problems. */
static const struct viss_error_def viss_errors[SDV_BROKER_VISS_ERROR_MAX + 1] = {
        [0] = {500, "internal_error", "Internal server error"},
        [SDV_BROKER_VISS_BAD_REQUEST] = {400, "bad_request", "The request is malformed"},
        [SDV_BROKER_VISS_INVALID_DATA] = {400, "invalid_data", "Data in the request is invalid"},
        [SDV_BROKER_VISS_INVALID_TOKEN] = {401, "invalid_token", "Access token is invalid"},
        [SDV_BROKER_VISS_EXPIRED_TOKEN] = {401, "expired_token", "Access token has expired"},
        [SDV_BROKER_VISS_MISSING_TOKEN] = {401, "missing_token", "Access token is missing"},
        [SDV_BROKER_VISS_FORBIDDEN] = {403, "forbidden_request",
                                       "The server refuses to carry out the request"},
        [SDV_BROKER_VISS_UNAVAILABLE_DATA] = {404, "unavailable_data",
                                              "The requested data was not found"},
        [SDV_BROKER_VISS_INVALID_PATH] = {404, "invalid_path",
                                          "The specified data path does not exist"},
        [SDV_BROKER_VISS_REQUEST_TIMEOUT] = {408, "request_timeout",
                                             "The request took too long to complete"},
        [SDV_BROKER_VISS_TOO_MANY_REQUESTS] = {429, "too_many_requests",
                                               "Rate-limiting due to too many requests"},
        [SDV_BROKER_VISS_INTERNAL] = {500, "internal_error", "Internal server error"},
        [SDV_BROKER_VISS_SERVICE_UNAVAILABLE] = {503, "service_unavailable",
                                                 "The server is temporarily unable to handle "
                                                 "the request"},
};

static const struct viss_error_def *viss_error(enum sdv_broker_viss_error e)
{
    return (unsigned)e <= SDV_BROKER_VISS_ERROR_MAX ? &viss_errors[e] : &viss_errors[0];
}

unsigned sdv_broker_viss_error_number(enum sdv_broker_viss_error e)
{
    return viss_error(e)->number;
}

const char *sdv_broker_viss_error_reason(enum sdv_broker_viss_error e)
{
    return viss_error(e)->reason;
}

const char *sdv_broker_viss_error_default_message(enum sdv_broker_viss_error e)
{
    return viss_error(e)->message;
}

enum sdv_broker_viss_error sdv_broker_viss_error_from_status(uint16_t status)
{
    switch (status) {
    case SDV_BROKER_STATUS_BAD_REQUEST:
        return SDV_BROKER_VISS_INVALID_DATA;
    case SDV_BROKER_STATUS_UNAUTHORIZED:
        return SDV_BROKER_VISS_INVALID_TOKEN;
    case SDV_BROKER_STATUS_FORBIDDEN:
    case SDV_BROKER_STATUS_CONFLICT:
        return SDV_BROKER_VISS_FORBIDDEN;
    case SDV_BROKER_STATUS_NOT_FOUND:
        return SDV_BROKER_VISS_UNAVAILABLE_DATA;
    case SDV_BROKER_STATUS_TIMEOUT:
        return SDV_BROKER_VISS_REQUEST_TIMEOUT;
    case SDV_BROKER_STATUS_TOO_MANY:
        return SDV_BROKER_VISS_TOO_MANY_REQUESTS;
    case SDV_BROKER_STATUS_UNAVAILABLE:
        return SDV_BROKER_VISS_SERVICE_UNAVAILABLE;
    default:
        return SDV_BROKER_VISS_INTERNAL;
    }
}

const char *sdv_broker_viss_action_name(enum sdv_broker_viss_action a)
{
    switch (a) {
    case SDV_BROKER_VISS_GET:
        return "get";
    case SDV_BROKER_VISS_SET:
        return "set";
    case SDV_BROKER_VISS_SUBSCRIBE:
        return "subscribe";
    case SDV_BROKER_VISS_UNSUBSCRIBE:
        return "unsubscribe";
    case SDV_BROKER_VISS_SUBSCRIPTION:
        return "subscription";
    default:
        return "unknown";
    }
}

/* ---- Request parsing -------------------------------------------------------------------- */

struct vp {
    struct sdv_broker_viss_request *r;
    char *errmsg;
    size_t errmsg_len;
};

static enum sdv_err vp_fail(struct vp *p, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Replaces every byte that is not printable ASCII with '?': messages quote parts of the input,
 * and a quote cut inside a UTF-8 sequence (or a control byte) must not make the VISS error
 * object that carries the message invalid. */
static void printable(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
}

static enum sdv_err vp_fail(struct vp *p, const char *fmt, ...)
{
    va_list ap;

    if (p->errmsg != NULL && p->errmsg_len > 0) {
        va_start(ap, fmt);
        vsnprintf(p->errmsg, p->errmsg_len, fmt, ap);
        va_end(ap);
        printable(p->errmsg);
    }
    return SDV_EPARSE;
}

/* A VSS name character. */
static bool name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * Checks a path of VSS names separated by '.' or '/' and rewrites '/' to '.' in place. Segments
 * are non-empty names; "*" alone is a segment only when wildcards are allowed ("paths" filter).
 */
static enum sdv_err check_path(struct vp *p, const char *what, char *path, bool wildcards)
{
    size_t n = strlen(path), i, seg = 0;

    if (n == 0)
        return vp_fail(p, "%s: empty", what);
    if (n > SDV_BROKER_PATH_LEN_MAX)
        return vp_fail(p, "%s: %zu bytes exceed %u", what, n, SDV_BROKER_PATH_LEN_MAX);
    for (i = 0; i <= n; i++) {
        char c = path[i];

        if (c == '.' || c == '/' || c == '\0') {
            if (i == seg)
                return vp_fail(p, "%s: empty segment at byte %zu", what, i);
            if (c == '/')
                path[i] = '.';
            seg = i + 1;
            continue;
        }
        if (c == '*') {
            if (!wildcards)
                return vp_fail(p,
                               "%s: wildcards are not allowed in a path (use a \"paths\" "
                               "filter)",
                               what);
            if (i != seg || (path[i + 1] != '\0' && path[i + 1] != '.' && path[i + 1] != '/'))
                return vp_fail(p, "%s: '*' must be a whole segment", what);
            continue;
        }
        if (!name_char(c))
            return vp_fail(p, "%s: character 0x%02x at byte %zu is not allowed", what,
                           (unsigned)(unsigned char)c, i);
    }
    return SDV_OK;
}

/* A string member that must exist (when required) and be a string of 1..max bytes; its text is
 * writable for path normalisation because jansson strings are owned by root. */
static enum sdv_err get_string(struct vp *p, json_t *obj, const char *key, size_t max,
                               bool required, const char **out)
{
    json_t *v = json_object_get(obj, key);
    size_t n;

    *out = NULL;
    if (v == NULL)
        return required ? vp_fail(p, "Missing or invalid %s: member is missing", key) : SDV_OK;
    if (!json_is_string(v))
        return vp_fail(p, "Missing or invalid %s: must be a string", key);
    n = json_string_length(v);
    if (n == 0)
        return vp_fail(p, "Missing or invalid %s: empty", key);
    if (n > max)
        return vp_fail(p, "Missing or invalid %s: %zu bytes exceed %zu", key, n, max);
    *out = json_string_value(v);
    return SDV_OK;
}

/* requestId / subscriptionId: a string of 1..SDV_BROKER_VISS_ID_LEN_MAX bytes or a
 * non-negative integer (kept as text in buf). */
static enum sdv_err get_id(struct vp *p, json_t *obj, const char *key, bool required, char *buf,
                           const char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL)
        return required ? vp_fail(p, "Missing or invalid %s: member is missing", key) : SDV_OK;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return vp_fail(p, "Missing or invalid %s: negative", key);
        snprintf(buf, SDV_BROKER_VISS_ID_LEN_MAX + 1, "%lld", (long long)json_integer_value(v));
        *out = buf;
        return SDV_OK;
    }
    return get_string(p, obj, key, SDV_BROKER_VISS_ID_LEN_MAX, required, out);
}

/* Numeric text of a filter ("5", "-2.5", "1e3") into a numeric value without payload: INT64 or
 * UINT64 for integers (exact), DOUBLE otherwise (finite). */
static bool parse_number(const char *s, struct sdv_broker_value *out)
{
    const char *q = s;
    bool integer = true;
    char *end;

    memset(out, 0, sizeof(*out));
    /* RFC 8259 number grammar. */
    if (*q == '-')
        q++;
    if (*q == '0')
        q++;
    else if (*q >= '1' && *q <= '9')
        while (*q >= '0' && *q <= '9')
            q++;
    else
        return false;
    if (*q == '.') {
        integer = false;
        q++;
        if (!(*q >= '0' && *q <= '9'))
            return false;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q == 'e' || *q == 'E') {
        integer = false;
        q++;
        if (*q == '+' || *q == '-')
            q++;
        if (!(*q >= '0' && *q <= '9'))
            return false;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q != '\0')
        return false;
    errno = 0;
    if (integer && s[0] == '-') {
        out->type = SDV_BROKER_DT_INT64;
        out->v.i = strtoll(s, &end, 10);
        if (errno == 0)
            return true;
    } else if (integer) {
        out->type = SDV_BROKER_DT_UINT64;
        out->v.u = strtoull(s, &end, 10);
        if (errno == 0)
            return true;
    }
    errno = 0;
    out->type = SDV_BROKER_DT_DOUBLE;
    out->v.d = strtod(s, &end);
    return *end == '\0' && isfinite(out->v.d);
}

/* Checks that obj has only the listed keys (NULL-terminated). */
static enum sdv_err only_keys(struct vp *p, json_t *obj, const char *what, const char *const *keys)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        size_t k;
        bool ok = false;

        (void)v;
        for (k = 0; keys[k] != NULL && !ok; k++)
            ok = strcmp(key, keys[k]) == 0;
        if (!ok)
            return vp_fail(p, "%s: unknown member \"%.40s\"", what, key);
    }
    return SDV_OK;
}

static enum sdv_err parse_op(struct vp *p, const char *what, json_t *v, enum sdv_broker_op *out)
{
    static const char *const names[] = {NULL, "eq", "ne", "gt", "gte", "lt", "lte"};
    const char *s;
    unsigned k;

    if (!json_is_string(v))
        return vp_fail(p, "Missing or invalid filter: %s must be one of eq, ne, gt, gte, lt, lte",
                       what);
    s = json_string_value(v);
    for (k = 1; k <= 6; k++) {
        if (strcmp(s, names[k]) == 0) {
            *out = (enum sdv_broker_op)k;
            return SDV_OK;
        }
    }
    return vp_fail(p,
                   "Missing or invalid filter: %s \"%.20s\" is not one of eq, ne, gt, gte, lt, "
                   "lte",
                   what, s);
}

static enum sdv_err parse_num_member(struct vp *p, const char *what, json_t *v,
                                     struct sdv_broker_value *out)
{
    if (!json_is_string(v) || !parse_number(json_string_value(v), out))
        return vp_fail(p,
                       "Missing or invalid filter: %s must be a string holding a finite "
                       "number",
                       what);
    return SDV_OK;
}

static enum sdv_err parse_timebased(struct vp *p, json_t *param)
{
    static const char *const keys[] = {"period", NULL};
    struct sdv_broker_filter *f = &p->r->filter;
    json_t *v = json_object_get(param, "period");
    const char *s;
    unsigned long long period = 0;
    size_t i;

    if (!json_is_object(param))
        return vp_fail(p, "Missing or invalid filter: timebased parameter must be an object");
    if (only_keys(p, param, "filter.parameter", keys) != SDV_OK)
        return SDV_EPARSE;
    if (!json_is_string(v))
        return vp_fail(p, "Missing or invalid filter: period must be a string of decimal digits");
    s = json_string_value(v);
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 9)
            return vp_fail(p,
                           "Missing or invalid filter: period \"%.20s\" is not a number of "
                           "milliseconds up to %u",
                           s, SDV_BROKER_PERIOD_MS_MAX);
        period = period * 10 + (unsigned)(s[i] - '0');
    }
    if (i == 0 || period == 0 || period > SDV_BROKER_PERIOD_MS_MAX)
        return vp_fail(p, "Missing or invalid filter: period \"%.20s\" must be 1..%u ms", s,
                       SDV_BROKER_PERIOD_MS_MAX);
    f->period_ms = (uint32_t)period;
    return SDV_OK;
}

static enum sdv_err parse_change(struct vp *p, json_t *param)
{
    static const char *const keys[] = {"logic-op", "diff", NULL};
    struct sdv_broker_filter *f = &p->r->filter;

    if (!json_is_object(param))
        return vp_fail(p, "Missing or invalid filter: change parameter must be an object");
    if (only_keys(p, param, "filter.parameter", keys) != SDV_OK ||
        parse_op(p, "logic-op", json_object_get(param, "logic-op"), &f->change_op) != SDV_OK ||
        parse_num_member(p, "diff", json_object_get(param, "diff"), &f->change_diff) != SDV_OK)
        return SDV_EPARSE;
    f->change = true;
    return SDV_OK;
}

static enum sdv_err parse_range(struct vp *p, json_t *param)
{
    static const char *const keys[] = {"boundary-op", "logic-op", "boundary", "combination-op",
                                       NULL};
    struct sdv_broker_filter *f = &p->r->filter;
    size_t n = json_is_array(param) ? json_array_size(param) : 1, k;

    if (!json_is_object(param) && !(json_is_array(param) && n >= 1 && n <= 2))
        return vp_fail(p, "Missing or invalid filter: range parameter must be an object or an "
                          "array of two");
    for (k = 0; k < n; k++) {
        json_t *b = json_is_array(param) ? json_array_get(param, k) : param;
        json_t *bop = json_object_get(b, "boundary-op"), *lop = json_object_get(b, "logic-op");
        json_t *comb = json_object_get(b, "combination-op");
        char what[64];

        if (!json_is_object(b))
            return vp_fail(p, "Missing or invalid filter: range boundary %zu must be an object", k);
        if (only_keys(p, b, "filter.parameter", keys) != SDV_OK)
            return SDV_EPARSE;
        /* VISS v3 names the operator "boundary-op"; v2 clients send "logic-op". */
        if ((bop != NULL) == (lop != NULL))
            return vp_fail(p,
                           "Missing or invalid filter: range boundary %zu needs exactly one "
                           "of boundary-op and logic-op",
                           k);
        snprintf(what, sizeof(what), "range boundary %zu operator", k);
        if (parse_op(p, what, bop != NULL ? bop : lop, &f->range[k].op) != SDV_OK)
            return SDV_EPARSE;
        snprintf(what, sizeof(what), "range boundary %zu", k);
        if (parse_num_member(p, what, json_object_get(b, "boundary"), &f->range[k].boundary) !=
            SDV_OK)
            return SDV_EPARSE;
        if (comb != NULL) {
            if (k != 0 || n != 2)
                return vp_fail(p, "Missing or invalid filter: combination-op belongs in the "
                                  "first of two boundaries");
            if (json_is_string(comb) && strcmp(json_string_value(comb), "OR") == 0)
                f->range_any = true;
            else if (!json_is_string(comb) || strcmp(json_string_value(comb), "AND") != 0)
                return vp_fail(p, "Missing or invalid filter: combination-op must be \"AND\" or "
                                  "\"OR\"");
        }
    }
    f->range_count = (uint32_t)n;
    return SDV_OK;
}

static enum sdv_err parse_paths(struct vp *p, json_t *param)
{
    size_t n = json_is_array(param) ? json_array_size(param) : 1, k;

    if (!json_is_string(param) && !(json_is_array(param) && n >= 1))
        return vp_fail(p, "Missing or invalid filter: paths parameter must be a string or a "
                          "non-empty array of strings");
    if (n > SDV_BROKER_VISS_PATHS_MAX)
        return vp_fail(p, "Missing or invalid filter: %zu paths exceed %u", n,
                       SDV_BROKER_VISS_PATHS_MAX);
    for (k = 0; k < n; k++) {
        json_t *s = json_is_array(param) ? json_array_get(param, k) : param;
        char what[64];

        if (!json_is_string(s))
            return vp_fail(p, "Missing or invalid filter: paths element %zu is not a string", k);
        snprintf(what, sizeof(what), "filter paths element %zu", k);
        if (check_path(p, what, (char *)json_string_value(s), true) != SDV_OK)
            return SDV_EPARSE;
        p->r->paths[k] = json_string_value(s);
    }
    p->r->n_paths = (uint32_t)n;
    return SDV_OK;
}

static enum sdv_err parse_filter(struct vp *p, json_t *filter)
{
    static const char *const keys[] = {"variant", "parameter", NULL};
    size_t n = json_is_array(filter) ? json_array_size(filter) : 1, k;
    bool seen_paths = false, seen_other = false;

    if (!json_is_object(filter) && !(json_is_array(filter) && n >= 1 && n <= 2))
        return vp_fail(p, "Missing or invalid filter: must be an object or an array of at most "
                          "two objects");
    for (k = 0; k < n; k++) {
        json_t *o = json_is_array(filter) ? json_array_get(filter, k) : filter;
        json_t *variant = json_object_get(o, "variant"), *param = json_object_get(o, "parameter");
        const char *name;
        enum sdv_err err;

        if (!json_is_object(o))
            return vp_fail(p, "Missing or invalid filter: element %zu is not an object", k);
        if (only_keys(p, o, "filter", keys) != SDV_OK)
            return SDV_EPARSE;
        if (!json_is_string(variant) || param == NULL)
            return vp_fail(p, "Missing or invalid filter: \"variant\" (a string) and "
                              "\"parameter\" are required");
        name = json_string_value(variant);
        if (strcmp(name, "paths") == 0) {
            if (seen_paths)
                return vp_fail(p, "Missing or invalid filter: more than one paths variant");
            seen_paths = true;
            err = parse_paths(p, param);
        } else {
            if (seen_other)
                return vp_fail(p, "Missing or invalid filter: at most one variant besides "
                                  "paths");
            seen_other = true;
            if (p->r->action != SDV_BROKER_VISS_SUBSCRIBE)
                return vp_fail(p,
                               "Missing or invalid filter: variant \"%.20s\" applies to "
                               "subscribe only",
                               name);
            if (strcmp(name, "timebased") == 0)
                err = parse_timebased(p, param);
            else if (strcmp(name, "change") == 0)
                err = parse_change(p, param);
            else if (strcmp(name, "range") == 0)
                err = parse_range(p, param);
            else
                return vp_fail(p,
                               "Missing or invalid filter: variant \"%.20s\" is not supported "
                               "(paths, timebased, change, range)",
                               name);
        }
        if (err != SDV_OK)
            return err;
    }
    p->r->has_filter = true;
    return SDV_OK;
}

/* The "value" of a set: a string, or a non-empty array of strings (VISS carries every value as
 * a string; the server converts it with the signal's datatype). */
static enum sdv_err check_value(struct vp *p, json_t *v)
{
    size_t k;

    if (v == NULL)
        return vp_fail(p, "Missing or invalid value: member is missing");
    if (json_is_string(v))
        return SDV_OK;
    if (!json_is_array(v))
        return vp_fail(p, "Missing or invalid value: must be a string or an array of strings");
    if (json_array_size(v) > SDV_BROKER_ARRAY_LEN_MAX)
        return vp_fail(p, "Missing or invalid value: %zu elements exceed %u", json_array_size(v),
                       SDV_BROKER_ARRAY_LEN_MAX);
    for (k = 0; k < json_array_size(v); k++)
        if (!json_is_string(json_array_get(v, k)))
            return vp_fail(p, "Missing or invalid value: element %zu is not a string", k);
    return SDV_OK;
}

static enum sdv_err parse_auth(struct vp *p, json_t *root)
{
    const char *s;

    if (get_string(p, root, "authorization", SDV_BROKER_TOKEN_LEN_MAX + 7, false, &s) != SDV_OK)
        return SDV_EPARSE;
    if (s != NULL && strncmp(s, "Bearer ", 7) == 0)
        s += 7;
    if (s != NULL && (*s == '\0' || strlen(s) > SDV_BROKER_TOKEN_LEN_MAX))
        return vp_fail(p, "Missing or invalid authorization: empty or longer than %u bytes",
                       SDV_BROKER_TOKEN_LEN_MAX);
    p->r->authorization = s;
    return SDV_OK;
}

/* Parses the members of an already decoded request object. need_request_id: WebSocket. */
static enum sdv_err parse_object(struct vp *p, json_t *root, bool need_request_id)
{
    static const char *const get_keys[] = {"action",    "path",          "filter",
                                           "requestId", "authorization", NULL};
    static const char *const set_keys[] = {"action",    "path",          "value",
                                           "requestId", "authorization", NULL};
    static const char *const unsub_keys[] = {"action", "subscriptionId", "requestId",
                                             "authorization", NULL};
    struct sdv_broker_viss_request *r = p->r;
    const char *action;
    json_t *filter;

    if (!json_is_object(root))
        return vp_fail(p, "Missing or invalid action: the request is not a JSON object");
    /* requestId first, so that any later error can still be answered with it. */
    if (get_id(p, root, "requestId", need_request_id, r->request_id_buf, &r->request_id) != SDV_OK)
        return SDV_EPARSE;
    if (get_string(p, root, "action", 16, true, &action) != SDV_OK)
        return SDV_EPARSE;
    if (strcmp(action, "get") == 0)
        r->action = SDV_BROKER_VISS_GET;
    else if (strcmp(action, "set") == 0)
        r->action = SDV_BROKER_VISS_SET;
    else if (strcmp(action, "subscribe") == 0)
        r->action = SDV_BROKER_VISS_SUBSCRIBE;
    else if (strcmp(action, "unsubscribe") == 0)
        r->action = SDV_BROKER_VISS_UNSUBSCRIBE;
    else
        return vp_fail(p,
                       "Missing or invalid action: \"%.20s\" is not get, set, subscribe or "
                       "unsubscribe",
                       action);
    switch (r->action) {
    case SDV_BROKER_VISS_GET:
    case SDV_BROKER_VISS_SUBSCRIBE:
        if (only_keys(p, root, "request", get_keys) != SDV_OK)
            return SDV_EPARSE;
        break;
    case SDV_BROKER_VISS_SET:
        if (only_keys(p, root, "request", set_keys) != SDV_OK)
            return SDV_EPARSE;
        break;
    default:
        if (only_keys(p, root, "request", unsub_keys) != SDV_OK)
            return SDV_EPARSE;
        break;
    }
    if (parse_auth(p, root) != SDV_OK)
        return SDV_EPARSE;
    if (r->action == SDV_BROKER_VISS_UNSUBSCRIBE) {
        return get_id(p, root, "subscriptionId", true, r->subscription_id_buf, &r->subscription_id);
    }
    if (get_string(p, root, "path", SDV_BROKER_PATH_LEN_MAX, true, &r->path) != SDV_OK ||
        check_path(p, "Missing or invalid path", (char *)r->path, false) != SDV_OK)
        return SDV_EPARSE;
    if (r->action == SDV_BROKER_VISS_SET) {
        r->value = json_object_get(root, "value");
        return check_value(p, json_object_get(root, "value"));
    }
    filter = json_object_get(root, "filter");
    if (filter != NULL)
        return parse_filter(p, filter);
    return SDV_OK;
}

static void request_init(struct sdv_broker_viss_request *out, enum sdv_broker_viss_error *verr,
                         char *errmsg, size_t errmsg_len)
{
    memset(out, 0, sizeof(*out));
    *verr = SDV_BROKER_VISS_BAD_REQUEST;
    if (errmsg != NULL && errmsg_len > 0)
        errmsg[0] = '\0';
}

enum sdv_err sdv_broker_viss_request_parse(const char *data, size_t len,
                                           struct sdv_broker_viss_request *out,
                                           enum sdv_broker_viss_error *verr, char *errmsg,
                                           size_t errmsg_len)
{
    struct vp p = {out, errmsg, errmsg_len};
    char jerr[160];
    enum sdv_err err;

    request_init(out, verr, errmsg, errmsg_len);
    if (len > SDV_BROKER_VISS_REQUEST_LEN_MAX) {
        vp_fail(&p, "request of %zu bytes exceeds %u", len, SDV_BROKER_VISS_REQUEST_LEN_MAX);
        return SDV_ETOOBIG;
    }
    err = sdv_json_parse(data, len, &out->root, jerr, sizeof(jerr));
    if (err != SDV_OK) {
        if (err == SDV_ENOMEM)
            return err;
        return vp_fail(&p, "malformed JSON: %s", jerr);
    }
    err = parse_object(&p, out->root, true);
    if (err == SDV_OK)
        *verr = (enum sdv_broker_viss_error)0;
    return err;
}

/*
 * The query of an HTTP GET: exactly "filter=<percent-encoded JSON filter>" (VISS HTTP search
 * read, "GET /Vehicle/Cabin?filter={...}"). The decoded filter is kept in root for its strings.
 */
static enum sdv_err http_filter(struct vp *p, const char *q)
{
    size_t n = strlen(q), i, k = 0;
    char jerr[160], *text;
    json_t *filter;
    enum sdv_err err;

    if (p->r->action != SDV_BROKER_VISS_GET)
        return vp_fail(p, "Missing or invalid filter: a query is allowed on GET only");
    if (strncmp(q, "filter=", 7) != 0)
        return vp_fail(p, "Missing or invalid filter: the query must be filter=<JSON>");
    q += 7;
    n -= 7;
    if (n > SDV_BROKER_VISS_REQUEST_LEN_MAX)
        return vp_fail(p, "Missing or invalid filter: %zu bytes exceed %u", n,
                       SDV_BROKER_VISS_REQUEST_LEN_MAX);
    text = malloc(n + 1);
    if (text == NULL)
        return SDV_ENOMEM;
    for (i = 0; i < n; i++) {
        if (q[i] == '%') {
            uint8_t byte;
            size_t got;

            if (i + 2 >= n || sdv_hex_decode(q + i + 1, 2, &byte, 1, &got) != SDV_OK) {
                free(text);
                return vp_fail(p, "Missing or invalid filter: bad percent escape at byte %zu", i);
            }
            text[k++] = (char)byte;
            i += 2;
        } else {
            text[k++] = q[i] == '+' ? ' ' : q[i];
        }
    }
    text[k] = '\0';
    err = sdv_json_parse(text, k, &filter, jerr, sizeof(jerr));
    free(text);
    if (err != SDV_OK)
        return err == SDV_ENOMEM ? err : vp_fail(p, "Missing or invalid filter: %s", jerr);
    if (json_object_set_new(p->r->root, "filter", filter) != 0)
        return SDV_ENOMEM;
    return parse_filter(p, filter);
}

enum sdv_err sdv_broker_viss_request_from_http(const char *method, const char *url_path,
                                               const char *body, size_t body_len,
                                               const char *authorization,
                                               struct sdv_broker_viss_request *out,
                                               enum sdv_broker_viss_error *verr, char *errmsg,
                                               size_t errmsg_len)
{
    static const char *const post_keys[] = {"value", NULL};
    struct vp p = {out, errmsg, errmsg_len};
    char jerr[160];
    enum sdv_err err;
    json_t *obj = NULL, *path;
    const char *query;
    size_t path_len;

    request_init(out, verr, errmsg, errmsg_len);
    if (strcmp(method, "GET") == 0)
        out->action = SDV_BROKER_VISS_GET;
    else if (strcmp(method, "POST") == 0)
        out->action = SDV_BROKER_VISS_SET;
    else
        return vp_fail(&p, "Missing or invalid action: HTTP method %.10s (GET or POST)", method);
    while (*url_path == '/')
        url_path++;
    query = strchr(url_path, '?');
    path_len = query != NULL ? (size_t)(query - url_path) : strlen(url_path);
    if (path_len > SDV_BROKER_PATH_LEN_MAX)
        return vp_fail(&p, "Missing or invalid path: %zu bytes exceed %u", path_len,
                       SDV_BROKER_PATH_LEN_MAX);
    if (out->action == SDV_BROKER_VISS_SET) {
        if (body_len > SDV_BROKER_VISS_REQUEST_LEN_MAX) {
            vp_fail(&p, "request of %zu bytes exceeds %u", body_len,
                    SDV_BROKER_VISS_REQUEST_LEN_MAX);
            return SDV_ETOOBIG;
        }
        err = sdv_json_parse(body, body_len, &out->root, jerr, sizeof(jerr));
        if (err != SDV_OK)
            return err == SDV_ENOMEM ? err : vp_fail(&p, "malformed JSON body: %s", jerr);
        if (!json_is_object(out->root))
            return vp_fail(&p, "Missing or invalid value: the body is not a JSON object");
        if (only_keys(&p, out->root, "body", post_keys) != SDV_OK)
            return SDV_EPARSE;
        obj = out->root;
    } else {
        out->root = json_object();
        if (out->root == NULL)
            return SDV_ENOMEM;
    }
    /* The path lives in root so that it is freed with the request. */
    path = json_stringn(url_path, path_len);
    if (path == NULL || json_object_set_new(out->root, "path", path) != 0)
        return SDV_ENOMEM;
    out->path = json_string_value(json_object_get(out->root, "path"));
    if (check_path(&p, "Missing or invalid path", (char *)out->path, false) != SDV_OK)
        return SDV_EPARSE;
    if (query != NULL) {
        err = http_filter(&p, query + 1);
        if (err != SDV_OK)
            return err;
    }
    if (authorization != NULL) {
        json_t *a = json_string(authorization);

        if (a == NULL || json_object_set_new(out->root, "authorization", a) != 0)
            return SDV_ENOMEM;
        if (parse_auth(&p, out->root) != SDV_OK)
            return SDV_EPARSE;
    }
    if (obj != NULL) {
        out->value = json_object_get(obj, "value");
        err = check_value(&p, json_object_get(obj, "value"));
        if (err != SDV_OK)
            return err;
    }
    *verr = (enum sdv_broker_viss_error)0;
    return SDV_OK;
}

void sdv_broker_viss_request_free(struct sdv_broker_viss_request *r)
{
    if (r == NULL)
        return;
    json_decref(r->root);
    r->root = NULL;
}

/* ---- Serialisation ---------------------------------------------------------------------- */

enum sdv_err sdv_broker_viss_ts_format(int64_t ts_us, char *out)
{
    int64_t secs = ts_us / 1000000, frac = ts_us % 1000000;
    char base[SDV_TIME_STR_LEN];
    enum sdv_err err;
    size_t n;

    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    err = sdv_time_format(secs, base);
    if (err != SDV_OK)
        return err;
    n = strlen(base);
    if (n < 2 || base[n - 1] != 'Z')
        return SDV_EINVAL;
    base[n - 1] = '\0';
    snprintf(out, SDV_BROKER_VISS_TS_LEN, "%s.%06dZ", base, (int)frac);
    return SDV_OK;
}

/* Sets key to a new string; false on ENOMEM. */
static bool set_str(json_t *o, const char *key, const char *s)
{
    return json_object_set_new(o, key, json_string(s)) == 0;
}

static bool set_ts(json_t *o, const char *key, int64_t ts_us)
{
    char ts[SDV_BROKER_VISS_TS_LEN];

    return sdv_broker_viss_ts_format(ts_us, ts) == SDV_OK && set_str(o, key, ts);
}

/* Appends the compact text of o to out and releases o. */
static enum sdv_err emit(json_t *o, bool ok, struct sdv_buf *out)
{
    char *text;
    enum sdv_err err;

    if (o == NULL || !ok) {
        json_decref(o);
        return SDV_ENOMEM;
    }
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL)
        return SDV_ENOMEM;
    err = sdv_buf_puts(out, text);
    free(text);
    return err;
}

/* {"path":..,"dp":{"value":..,"ts":..}}, or an array of those when n > 1. */
static json_t *data_json(const struct sdv_broker_viss_dp *dp, size_t n)
{
    json_t *arr = n > 1 ? json_array() : NULL;
    size_t k;

    if (n > 1 && arr == NULL)
        return NULL;
    for (k = 0; k < n; k++) {
        json_t *item = json_object(), *point = json_object();
        bool ok = item != NULL && point != NULL && dp[k].value != NULL && dp[k].path != NULL;

        ok = ok && json_object_set(point, "value", (json_t *)dp[k].value) == 0;
        ok = ok && set_ts(point, "ts", dp[k].ts_us);
        ok = ok && set_str(item, "path", dp[k].path);
        ok = ok && json_object_set(item, "dp", point) == 0;
        json_decref(point);
        if (!ok) {
            json_decref(item);
            json_decref(arr);
            return NULL;
        }
        if (n == 1)
            return item;
        if (json_array_append_new(arr, item) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *head(const char *action, const char *request_id)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    if (!set_str(o, "action", action) ||
        (request_id != NULL && !set_str(o, "requestId", request_id))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

enum sdv_err sdv_broker_viss_write_get(const char *request_id, const struct sdv_broker_viss_dp *dp,
                                       size_t n, int64_t now_us, struct sdv_buf *out)
{
    json_t *o, *data;

    if (n == 0)
        return SDV_EINVAL;
    o = head("get", request_id);
    data = data_json(dp, n);
    if (o == NULL)
        json_decref(data);
    return emit(o,
                o != NULL && data != NULL && json_object_set_new(o, "data", data) == 0 &&
                        set_ts(o, "ts", now_us),
                out);
}

enum sdv_err sdv_broker_viss_write_set(const char *request_id, int64_t now_us, struct sdv_buf *out)
{
    json_t *o = head("set", request_id);

    return emit(o, o != NULL && set_ts(o, "ts", now_us), out);
}

enum sdv_err sdv_broker_viss_write_subscribe(const char *request_id, const char *subscription_id,
                                             int64_t now_us, struct sdv_buf *out)
{
    json_t *o = head("subscribe", request_id);

    return emit(o,
                o != NULL && set_str(o, "subscriptionId", subscription_id) &&
                        set_ts(o, "ts", now_us),
                out);
}

enum sdv_err sdv_broker_viss_write_unsubscribe(const char *request_id, const char *subscription_id,
                                               int64_t now_us, struct sdv_buf *out)
{
    json_t *o = head("unsubscribe", request_id);

    return emit(o,
                o != NULL && set_str(o, "subscriptionId", subscription_id) &&
                        set_ts(o, "ts", now_us),
                out);
}

enum sdv_err sdv_broker_viss_write_subscription(const char *subscription_id,
                                                const struct sdv_broker_viss_dp *dp, size_t n,
                                                uint64_t lost, int64_t now_us, struct sdv_buf *out)
{
    json_t *o, *data = NULL;
    bool ok;

    if (n == 0 && lost == 0)
        return SDV_EINVAL;
    o = head("subscription", NULL);
    if (n > 0) {
        data = data_json(dp, n);
        if (o == NULL || data == NULL) {
            json_decref(data);
            json_decref(o);
            return SDV_ENOMEM;
        }
    }
    ok = o != NULL && set_str(o, "subscriptionId", subscription_id);
    ok = ok && (data == NULL || json_object_set_new(o, "data", data) == 0);
    /* The extension member, a JSON integer (json_int_t is 64 bits on every target). */
    if (lost > (uint64_t)INT64_MAX)
        lost = (uint64_t)INT64_MAX;
    ok = ok && (lost == 0 || json_object_set_new(o, "lost", json_integer((json_int_t)lost)) == 0);
    return emit(o, ok && set_ts(o, "ts", now_us), out);
}

enum sdv_err sdv_broker_viss_write_error(enum sdv_broker_viss_action action, const char *request_id,
                                         const char *subscription_id,
                                         enum sdv_broker_viss_error err, const char *message,
                                         int64_t now_us, struct sdv_buf *out)
{
    const struct viss_error_def *def = viss_error(err);
    json_t *o = head(sdv_broker_viss_action_name(action), request_id), *e = json_object();
    bool ok = o != NULL && e != NULL;
    char text[SDV_BROKER_MESSAGE_LEN_MAX + 1];

    /* The message may quote anything: keep it printable ASCII so it is always valid JSON. */
    snprintf(text, sizeof(text), "%s", message != NULL && *message ? message : def->message);
    printable(text);
    ok = ok && json_object_set_new(e, "number", json_integer(def->number)) == 0;
    ok = ok && set_str(e, "reason", def->reason);
    ok = ok && set_str(e, "message", text);
    ok = ok && (subscription_id == NULL || set_str(o, "subscriptionId", subscription_id));
    ok = ok && json_object_set(o, "error", e) == 0;
    json_decref(e);
    return emit(o, ok && set_ts(o, "ts", now_us), out);
}

/* ---- Notifications without jansson --------------------------------------------------------- */

/* Appends "\"<RFC 3339 with microseconds>\"" for ts_us; the date part is cached per second. */
static enum sdv_err notif_ts(struct sdv_broker_viss_notif *w, int64_t ts_us)
{
    int64_t secs = ts_us / 1000000, frac = ts_us % 1000000;
    char t[48];
    size_t n;
    int i;

    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    if (w->ts_base_len == 0 || secs != w->ts_secs) {
        char base[SDV_TIME_STR_LEN];
        size_t len;

        if (sdv_time_format(secs, base) != SDV_OK)
            return SDV_EINVAL;
        len = strlen(base);
        if (len < 2 || len - 1 > sizeof(w->ts_base) || base[len - 1] != 'Z')
            return SDV_EINVAL;
        memcpy(w->ts_base, base, len - 1);
        w->ts_base_len = len - 1;
        w->ts_secs = secs;
    }
    t[0] = '"';
    memcpy(t + 1, w->ts_base, w->ts_base_len);
    n = 1 + w->ts_base_len;
    t[n++] = '.';
    for (i = 5; i >= 0; i--) {
        t[n + (size_t)i] = (char)('0' + (int)(frac % 10));
        frac /= 10;
    }
    n += 6;
    t[n++] = 'Z';
    t[n++] = '"';
    return sdv_buf_append(w->out, t, n);
}

enum sdv_err sdv_broker_viss_notif_begin(struct sdv_broker_viss_notif *w,
                                         const char *subscription_id, struct sdv_buf *out)
{
    static const char head_text[] = "{\"action\":\"subscription\",\"subscriptionId\":";
    enum sdv_err rc;

    memset(w, 0, sizeof(*w));
    w->out = out;
    w->start = out->len;
    rc = sdv_buf_append(out, head_text, sizeof(head_text) - 1);
    if (rc == SDV_OK)
        rc = sdv_broker_json_write_string(subscription_id, strlen(subscription_id), out);
    return rc;
}

enum sdv_err sdv_broker_viss_notif_add(struct sdv_broker_viss_notif *w, const char *path,
                                       const struct sdv_broker_value *value, int64_t ts_us)
{
    struct sdv_buf *out = w->out;
    size_t undo = out->len;
    enum sdv_err rc;

    if (w->n == 0) {
        w->data = out->len + 8;
        rc = sdv_buf_append(out, ",\"data\":[{\"path\":", 17);
    } else {
        rc = sdv_buf_append(out, ",{\"path\":", 9);
    }
    if (rc == SDV_OK)
        rc = sdv_broker_json_write_string(path, strlen(path), out);
    if (rc == SDV_OK)
        rc = sdv_buf_append(out, ",\"dp\":{\"value\":", 15);
    if (rc == SDV_OK)
        rc = sdv_broker_value_write_json(value, SDV_BROKER_JSON_STRINGS, out);
    if (rc == SDV_OK)
        rc = sdv_buf_append(out, ",\"ts\":", 6);
    if (rc == SDV_OK)
        rc = notif_ts(w, ts_us);
    if (rc == SDV_OK)
        rc = sdv_buf_append(out, "}}", 2);
    if (rc != SDV_OK) {
        out->len = undo;
        return rc;
    }
    w->n++;
    return SDV_OK;
}

enum sdv_err sdv_broker_viss_notif_end(struct sdv_broker_viss_notif *w, uint64_t lost,
                                       int64_t now_us)
{
    struct sdv_buf *out = w->out;
    enum sdv_err rc = SDV_OK;

    if (w->n == 0 && lost == 0)
        return SDV_EINVAL;
    if (w->n == 1) {
        /* One data point is an object, not an array of one. */
        memmove(out->data + w->data, out->data + w->data + 1, out->len - w->data - 1);
        out->len--;
    } else if (w->n > 1) {
        rc = sdv_buf_putc(out, ']');
    }
    if (lost > (uint64_t)INT64_MAX)
        lost = (uint64_t)INT64_MAX;
    if (rc == SDV_OK && lost > 0)
        rc = sdv_buf_printf(out, ",\"lost\":%llu", (unsigned long long)lost);
    if (rc == SDV_OK)
        rc = sdv_buf_append(out, ",\"ts\":", 6);
    if (rc == SDV_OK)
        rc = notif_ts(w, now_us);
    if (rc == SDV_OK)
        rc = sdv_buf_putc(out, '}');
    return rc;
}
