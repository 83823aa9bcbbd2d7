/*
 * sdv_cmd_fleet.c - `sdv vehicle` and `sdv assign`: the fleet operator's side of sdv-server's
 * admin API (docs/server_api.md), over libcurl.
 *
 *   sdv vehicle register --server URL --token T --vin V --primary-key PUB.pem
 *                        --ecu SERIAL:HWID:PUB.pem [--ecu ...] [--primary SERIAL]
 *   sdv vehicle show     --server URL --token T --vin V [--json]
 *   sdv vehicle list     --server URL --token T [--after VIN] [--limit N]
 *   sdv assign           --server URL --token T --target NAME (--vin V ... | --hardware-id H)
 *
 * --token-file F reads the token from a file; SDV_SERVER and SDV_TOKEN are the defaults of
 * --server and --token. --cacert F verifies an https server against that CA.
 * Exit 0 on success, 1 on any failure (the server's error sentence is printed).
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>

#include "sdv_cmds.h"

/* Largest answer read from the server: a page of 1,000 vehicles or manifests. */
#define FLEET_ANSWER_LEN_MAX (16u * 1024u * 1024u)
#define FLEET_ECUS_MAX       256
#define FLEET_VINS_MAX       1000

struct fleet {
    const char *prog; /* "sdv vehicle register", for messages */
    const char *server;
    char *token;
    const char *cacert;
};

static size_t on_answer(char *data, size_t size, size_t nmemb, void *ud)
{
    struct sdv_buf *b = ud;

    return sdv_buf_append(b, data, size * nmemb) == SDV_OK ? size * nmemb : 0;
}

/*
 * One request: method on server + path with an optional JSON body. On an answer, *status gets
 * the HTTP status and *answer the parsed JSON (NULL when the body is not JSON). Returns false
 * (after printing why) when no answer came.
 */
static bool fleet_request(const struct fleet *f, const char *method, const char *path,
                          const json_t *body, long *status, json_t **answer)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct sdv_buf ans;
    char *text = NULL, *url = NULL, *auth = NULL, errbuf[CURL_ERROR_SIZE] = "";
    size_t n;
    CURLcode rc = CURLE_OUT_OF_MEMORY;

    *answer = NULL;
    *status = 0;
    sdv_buf_init(&ans, FLEET_ANSWER_LEN_MAX);
    n = strlen(f->server) + strlen(path) + 2;
    url = malloc(n);
    auth = malloc(strlen(f->token) + 32);
    if (c == NULL || url == NULL || auth == NULL)
        goto out;
    /* The server URL without its trailing slashes, then the absolute path. */
    n = strlen(f->server);
    while (n > 0 && f->server[n - 1] == '/')
        n--;
    snprintf(url, n + strlen(path) + 1, "%.*s%s", (int)n, f->server, path);
    snprintf(auth, strlen(f->token) + 32, "Authorization: Bearer %s", f->token);
    hdrs = curl_slist_append(hdrs, auth);
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        if (text == NULL)
            goto out;
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
    if (f->cacert != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, f->cacert);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (ans.len > 0)
            sdv_json_parse(ans.data, ans.len, answer, NULL, 0);
    }
out:
    if (rc != CURLE_OK)
        fprintf(stderr, "%s: %s %s: %s\n", f->prog, method, url != NULL ? url : path,
                errbuf[0] ? errbuf : curl_easy_strerror(rc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    sdv_buf_free(&ans);
    free(text);
    free(url);
    free(auth);
    return rc == CURLE_OK;
}

/* Prints the server's error sentence for a failed status. */
static void print_error(const struct fleet *f, long status, const json_t *answer)
{
    const char *e = json_string_value(json_object_get(answer, "error"));
    const char *rule = json_string_value(json_object_get(answer, "rule"));

    fprintf(stderr, "%s: server answered %ld: %s%s%s%s\n", f->prog, status,
            e != NULL ? e : "(no error message)", rule != NULL ? " (rule " : "",
            rule != NULL ? rule : "", rule != NULL ? ")" : "");
}

/* fleet_request() that expects status want: false (after printing why, the server's error
 * sentence for another status) otherwise. *answer is the caller's to json_decref() either way. */
static bool fleet_call(const struct fleet *f, const char *method, const char *path,
                       const json_t *body, long want, json_t **answer)
{
    long status;

    if (!fleet_request(f, method, path, body, &status, answer))
        return false;
    if (status != want) {
        print_error(f, status, *answer);
        return false;
    }
    return true;
}

static void fleet_usage(FILE *out)
{
    fputs("usage: sdv vehicle register --vin V --primary-key PUB.pem --ecu SERIAL:HWID:PUB.pem "
          "[--ecu ...] [--primary SERIAL]\n"
          "       sdv vehicle show --vin V [--json]\n"
          "       sdv vehicle list [--after VIN] [--limit N]\n"
          "       sdv assign --target NAME (--vin V [--vin ...] | --hardware-id H [--vin ...])\n"
          "\n"
          "common options:\n"
          "  --server URL        sdv-server base URL (default $SDV_SERVER)\n"
          "  --token T           admin bearer token (default $SDV_TOKEN)\n"
          "  --token-file F      read the token from F\n"
          "  --cacert F          CA certificate to verify an https server\n",
          out);
}

/* Options every fleet command takes; returns false after printing why. */
static bool common_opt(struct fleet *f, int c, const char *arg)
{
    switch (c) {
    case 'S':
        f->server = arg;
        return true;
    case 'T':
        free(f->token);
        f->token = strdup(arg);
        return f->token != NULL;
    case 'F': {
        struct sdv_buf b;
        size_t n;
        enum sdv_err err;

        sdv_buf_init(&b, 4096);
        err = sdv_fs_read(arg, &b);
        if (err != SDV_OK) {
            fprintf(stderr, "%s: --token-file %s: %s\n", f->prog, arg, sdv_strerror(err));
            sdv_buf_free(&b);
            return false;
        }
        free(f->token);
        f->token = sdv_buf_steal(&b, &n);
        while (f->token != NULL && n > 0 &&
               (f->token[n - 1] == '\n' || f->token[n - 1] == '\r' || f->token[n - 1] == ' '))
            f->token[--n] = '\0';
        return f->token != NULL;
    }
    case 'A':
        f->cacert = arg;
        return true;
    default:
        return false;
    }
}

static bool fleet_ready(struct fleet *f)
{
    const char *env;

    if (f->server == NULL)
        f->server = getenv("SDV_SERVER");
    if (f->token == NULL && (env = getenv("SDV_TOKEN")) != NULL)
        f->token = strdup(env);
    if (f->server == NULL || f->server[0] == '\0') {
        fprintf(stderr, "%s: --server URL is required (or SDV_SERVER)\n", f->prog);
        return false;
    }
    if (f->token == NULL || f->token[0] == '\0') {
        fprintf(stderr, "%s: --token or --token-file is required (or SDV_TOKEN)\n", f->prog);
        return false;
    }
    if (strchr(f->token, '\n') != NULL || strchr(f->token, '\r') != NULL) {
        fprintf(stderr, "%s: the token must be one line\n", f->prog);
        return false;
    }
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

#define COMMON_OPTS                                                                    \
    {"server", required_argument, NULL, 'S'}, {"token", required_argument, NULL, 'T'}, \
            {"token-file", required_argument, NULL, 'F'},                              \
            {"cacert", required_argument, NULL, 'A'},                                  \
    {                                                                                  \
        "help", no_argument, NULL, 'h'                                                 \
    }

/* ---- register ----------------------------------------------------------------------------- */

/* The TUF key object of a PEM key file (its public half) and its key id. */
static json_t *key_json(const struct fleet *f, const char *path, char keyid[SDV_KEYID_STR_LEN])
{
    struct sdv_key *k = NULL;
    json_t *j = NULL;
    enum sdv_err err = sdv_key_load_pem_file(path, &k);

    if (err == SDV_OK)
        err = sdv_key_to_tuf(k, &j);
    if (err == SDV_OK)
        err = sdv_key_id(k, keyid);
    sdv_key_destroy(k);
    if (err != SDV_OK) {
        fprintf(stderr, "%s: key %s: %s\n", f->prog, path, sdv_strerror(err));
        json_decref(j);
        return NULL;
    }
    return j;
}

static int cmd_register(struct fleet *f, int argc, char **argv)
{
    static const struct option opts[] = {
            COMMON_OPTS,
            {"vin", required_argument, NULL, 'v'},
            {"primary-key", required_argument, NULL, 'k'},
            {"ecu", required_argument, NULL, 'e'},
            {"primary", required_argument, NULL, 'p'},
            {NULL, 0, NULL, 0},
    };
    const char *vin = NULL, *primary_key = NULL, *primary = NULL, *ecu_specs[FLEET_ECUS_MAX];
    char primary_id[SDV_KEYID_STR_LEN] = "";
    size_t ecu_count = 0;
    bool found = false;
    json_t *ecus = json_array(), *body = NULL, *answer = NULL;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'v') {
            vin = optarg;
        } else if (c == 'k') {
            primary_key = optarg;
        } else if (c == 'p') {
            primary = optarg;
        } else if (c == 'e') {
            if (ecu_count == FLEET_ECUS_MAX) {
                fprintf(stderr, "%s: more than %d --ecu options\n", f->prog, FLEET_ECUS_MAX);
                goto out;
            }
            ecu_specs[ecu_count++] = optarg;
        } else if (c == 'h') {
            fleet_usage(stdout);
            rc = 0;
            goto out;
        } else if (!common_opt(f, c, optarg)) {
            fleet_usage(stderr);
            goto out;
        }
    }
    if (optind != argc || vin == NULL || ecu_count == 0 ||
        (primary_key == NULL && primary == NULL)) {
        fprintf(stderr,
                "%s: needs --vin, one or more --ecu SERIAL:HWID:PUB.pem and "
                "--primary-key PUB.pem (or --primary SERIAL)\n",
                f->prog);
        goto out;
    }
    if (!fleet_ready(f) || ecus == NULL)
        goto out;
    if (primary_key != NULL) {
        json_t *pk = key_json(f, primary_key, primary_id);

        if (pk == NULL)
            goto out;
        json_decref(pk);
    }
    for (size_t i = 0; i < ecu_count; i++) {
        const char *spec = ecu_specs[i], *c1 = strchr(spec, ':'), *c2;
        char id[SDV_KEYID_STR_LEN], *serial, *hw;
        json_t *key;
        bool is_primary;

        c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
        if (c1 == NULL || c2 == NULL || c1 == spec || c2 == c1 + 1 || c2[1] == '\0') {
            fprintf(stderr, "%s: --ecu %s: expected SERIAL:HWID:PUB.pem\n", f->prog, spec);
            goto out;
        }
        key = key_json(f, c2 + 1, id);
        if (key == NULL)
            goto out;
        serial = strndup(spec, (size_t)(c1 - spec));
        hw = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
        if (serial == NULL || hw == NULL) {
            free(serial);
            free(hw);
            json_decref(key);
            goto out;
        }
        /* --primary names it, else the first ECU whose key is the primary key. */
        if (primary != NULL)
            is_primary = strcmp(primary, serial) == 0;
        else
            is_primary = !found && strcmp(id, primary_id) == 0;
        found = found || is_primary;
        json_array_append_new(ecus,
                              json_pack("{s:s, s:s, s:o, s:b}", "serial", serial, "hardware_id", hw,
                                        "public_key", key, "primary", is_primary));
        free(serial);
        free(hw);
    }
    /* Find the primary's serial from the built list. */
    {
        const char *primary_serial = NULL;

        for (size_t i = 0; i < json_array_size(ecus); i++)
            if (json_is_true(json_object_get(json_array_get(ecus, i), "primary")))
                primary_serial =
                        json_string_value(json_object_get(json_array_get(ecus, i), "serial"));
        if (primary_serial == NULL) {
            fprintf(stderr,
                    "%s: no --ecu is the primary: its key must equal --primary-key, or "
                    "name it with --primary SERIAL\n",
                    f->prog);
            goto out;
        }
        body = json_pack("{s:s, s:s, s:O}", "vin", vin, "primary_ecu_serial", primary_serial,
                         "ecus", ecus);
    }
    if (body == NULL || !fleet_call(f, "POST", "/v1/admin/vehicles", body, 201, &answer))
        goto out;
    printf("registered vehicle %s with %zu ECUs\n", vin, ecu_count);
    if (json_string_value(json_object_get(answer, "warning")) != NULL)
        fprintf(stderr, "%s: warning: %s\n", f->prog,
                json_string_value(json_object_get(answer, "warning")));
    rc = 0;
out:
    json_decref(answer);
    json_decref(body);
    json_decref(ecus);
    return rc;
}

/* ---- show / list -------------------------------------------------------------------------- */

/* "name (rc N)" of a desired or reported entry into out. */
static void describe(const json_t *e, bool with_rc, char *out, size_t n)
{
    const char *t = json_string_value(json_object_get(e, "target"));

    if (t == NULL) {
        snprintf(out, n, "-");
        return;
    }
    if (with_rc && json_is_integer(json_object_get(e, "release_counter")))
        snprintf(out, n, "%s (rc %lld)", t,
                 (long long)json_integer_value(json_object_get(e, "release_counter")));
    else
        snprintf(out, n, "%s", t);
}

static const char *ecu_state(const json_t *desired, const json_t *reported)
{
    const char *attack = json_string_value(json_object_get(reported, "attack_detected"));

    if (attack != NULL && attack[0] != '\0')
        return "ATTACK";
    if (!json_is_object(reported))
        return json_is_object(desired) ? "no report" : "-";
    if (!json_is_object(desired))
        return "no assignment";
    if (json_equal(json_object_get(desired, "hashes"), json_object_get(reported, "hashes")) &&
        json_equal(json_object_get(desired, "length"), json_object_get(reported, "length")))
        return "in sync";
    return "pending";
}

static int cmd_show(struct fleet *f, int argc, char **argv)
{
    static const struct option opts[] = {
            COMMON_OPTS,
            {"vin", required_argument, NULL, 'v'},
            {"json", no_argument, NULL, 'j'},
            {NULL, 0, NULL, 0},
    };
    const char *vin = NULL;
    bool as_json = false;
    json_t *answer = NULL, *ecus, *last, *installs;
    char *enc = NULL, path[512];
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'v') {
            vin = optarg;
        } else if (c == 'j') {
            as_json = true;
        } else if (c == 'h') {
            fleet_usage(stdout);
            return 0;
        } else if (!common_opt(f, c, optarg)) {
            fleet_usage(stderr);
            return 1;
        }
    }
    if (optind != argc || vin == NULL || strlen(vin) > SDV_UPTANE_VIN_LEN_MAX) {
        fprintf(stderr, "%s: needs --vin V\n", f->prog);
        return 1;
    }
    if (!fleet_ready(f))
        return 1;
    enc = sdv_percent_encode(vin);
    if (enc == NULL)
        return 1;
    snprintf(path, sizeof(path), "/v1/admin/vehicles/%s", enc);
    free(enc);
    if (!fleet_call(f, "GET", path, NULL, 200, &answer))
        goto out;
    if (!json_is_object(answer)) {
        print_error(f, 200, answer);
        goto out;
    }
    if (as_json) {
        json_dumpf(answer, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        rc = 0;
        goto out;
    }
    printf("vehicle %s (primary ECU %s)\n", json_string_value(json_object_get(answer, "vin")),
           json_string_value(json_object_get(answer, "primary_ecu_serial")));
    printf("%-20s %-14s %-32s %-32s %s\n", "ECU", "HARDWARE", "DESIRED", "REPORTED", "STATE");
    ecus = json_object_get(answer, "ecus");
    for (size_t i = 0; i < json_array_size(ecus); i++) {
        const json_t *e = json_array_get(ecus, i);
        const json_t *d = json_object_get(e, "desired"), *r = json_object_get(e, "reported");
        char serial[160], want[300], have[300];
        const char *attack = json_string_value(json_object_get(r, "attack_detected"));

        snprintf(serial, sizeof(serial), "%s%s", json_string_value(json_object_get(e, "serial")),
                 json_is_true(json_object_get(e, "primary")) ? "*" : "");
        describe(d, true, want, sizeof(want));
        describe(r, false, have, sizeof(have));
        printf("%-20s %-14s %-32s %-32s %s", serial,
               json_string_value(json_object_get(e, "hardware_id")), want, have, ecu_state(d, r));
        if (attack != NULL && attack[0] != '\0')
            printf(": %s", attack);
        putchar('\n');
    }
    last = json_object_get(answer, "last_manifest");
    if (json_is_object(last))
        printf("last manifest: %s, %s%s\n", json_string_value(json_object_get(last, "received_at")),
               json_is_true(json_object_get(last, "verified")) ? "verified" : "NOT VERIFIED: ",
               json_is_true(json_object_get(last, "verified"))
                       ? ""
                       : json_string_value(json_object_get(last, "attack")));
    else
        printf("last manifest: none\n");
    /* The install records (sdv/install.h), newest first: commits, and rollbacks with why. */
    installs = json_object_get(answer, "install_records");
    if (json_array_size(installs) > 0)
        printf("install records (newest first):\n");
    for (size_t i = 0; i < json_array_size(installs); i++) {
        const json_t *r = json_array_get(installs, i);
        const char *reason = json_string_value(json_object_get(r, "reason"));

        printf("  %-20s #%-4lld %s %-11s %s -> %s%s%s%s\n",
               json_string_value(json_object_get(r, "ecu_serial")),
               (long long)json_integer_value(json_object_get(r, "seq")),
               json_string_value(json_object_get(r, "time")),
               json_string_value(json_object_get(r, "result")),
               json_string_value(json_object_get(r, "version_before")),
               json_string_value(json_object_get(r, "version_after")),
               reason != NULL && reason[0] != '\0' ? ": " : "", reason != NULL ? reason : "",
               json_is_false(json_object_get(r, "chain_verified")) ? " (HASH CHAIN BROKEN)" : "");
    }
    rc = 0;
out:
    json_decref(answer);
    return rc;
}

static int cmd_list(struct fleet *f, int argc, char **argv)
{
    static const struct option opts[] = {
            COMMON_OPTS,
            {"after", required_argument, NULL, 'a'},
            {"limit", required_argument, NULL, 'l'},
            {NULL, 0, NULL, 0},
    };
    const char *after = NULL;
    unsigned long limit = 100;
    json_t *answer = NULL, *vs;
    char *enc = NULL, path[512];
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'a') {
            after = optarg;
        } else if (c == 'l') {
            char *end;

            limit = strtoul(optarg, &end, 10);
            if (*end != '\0' || limit == 0 || limit > 1000) {
                fprintf(stderr, "%s: --limit: a number from 1 to 1000\n", f->prog);
                return 1;
            }
        } else if (c == 'h') {
            fleet_usage(stdout);
            return 0;
        } else if (!common_opt(f, c, optarg)) {
            fleet_usage(stderr);
            return 1;
        }
    }
    if (optind != argc || !fleet_ready(f) || (after != NULL && strlen(after) > 256))
        return 1;
    enc = sdv_percent_encode(after != NULL ? after : "");
    if (enc == NULL)
        return 1;
    snprintf(path, sizeof(path), "/v1/admin/vehicles?limit=%lu%s%s", limit,
             after != NULL ? "&after=" : "", after != NULL ? enc : "");
    free(enc);
    if (!fleet_call(f, "GET", path, NULL, 200, &answer))
        goto out;
    vs = json_object_get(answer, "vehicles");
    printf("%-24s %s\n", "VIN", "ECUS");
    for (size_t i = 0; i < json_array_size(vs); i++)
        printf("%-24s %lld\n", json_string_value(json_object_get(json_array_get(vs, i), "vin")),
               (long long)json_integer_value(json_object_get(json_array_get(vs, i), "ecu_count")));
    if (json_is_string(json_object_get(answer, "next")))
        printf("more: --after %s\n", json_string_value(json_object_get(answer, "next")));
    rc = 0;
out:
    json_decref(answer);
    return rc;
}

int sdv_cmd_vehicle(int argc, char **argv)
{
    struct fleet f = {0};
    char prog[64];
    int rc;

    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        fleet_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    snprintf(prog, sizeof(prog), "sdv vehicle %.20s", argv[1]);
    f.prog = prog;
    if (strcmp(argv[1], "register") == 0)
        rc = cmd_register(&f, argc - 1, argv + 1);
    else if (strcmp(argv[1], "show") == 0)
        rc = cmd_show(&f, argc - 1, argv + 1);
    else if (strcmp(argv[1], "list") == 0)
        rc = cmd_list(&f, argc - 1, argv + 1);
    else {
        fprintf(stderr, "sdv vehicle: unknown command \"%s\"\n", argv[1]);
        fleet_usage(stderr);
        rc = 1;
    }
    free(f.token);
    return rc;
}

/* ---- assign -------------------------------------------------------------------------------- */

int sdv_cmd_assign(int argc, char **argv)
{
    static const struct option opts[] = {
            COMMON_OPTS,
            {"target", required_argument, NULL, 't'},
            {"vin", required_argument, NULL, 'v'},
            {"hardware-id", required_argument, NULL, 'w'},
            {"correlation-id", required_argument, NULL, 'c'},
            {NULL, 0, NULL, 0},
    };
    struct fleet f = {"sdv assign", NULL, NULL, NULL};
    const char *target = NULL, *hw = NULL, *corr = NULL;
    json_t *vins = json_array(), *body = NULL, *answer = NULL, *assigned;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 't') {
            target = optarg;
        } else if (c == 'v') {
            if (json_array_size(vins) == FLEET_VINS_MAX) {
                fprintf(stderr, "sdv assign: more than %d --vin options\n", FLEET_VINS_MAX);
                goto out;
            }
            json_array_append_new(vins, json_string(optarg));
        } else if (c == 'w') {
            hw = optarg;
        } else if (c == 'c') {
            corr = optarg;
        } else if (c == 'h') {
            fleet_usage(stdout);
            rc = 0;
            goto out;
        } else if (!common_opt(&f, c, optarg)) {
            fleet_usage(stderr);
            goto out;
        }
    }
    if (optind != argc || target == NULL || (json_array_size(vins) == 0 && hw == NULL)) {
        fprintf(stderr, "sdv assign: needs --target NAME and --vin V ... or --hardware-id H\n");
        goto out;
    }
    if (!fleet_ready(&f) || vins == NULL)
        goto out;
    body = json_pack("{s:s}", "target", target);
    if (body == NULL)
        goto out;
    if (json_array_size(vins) > 0)
        json_object_set(body, "vins", vins);
    if (hw != NULL)
        json_object_set_new(body, "hardware_id", json_string(hw));
    if (corr != NULL)
        json_object_set_new(body, "correlation_id", json_string(corr));
    if (!fleet_call(&f, "POST", "/v1/admin/assignments", body, 200, &answer))
        goto out;
    assigned = json_object_get(answer, "assigned");
    for (size_t i = 0; i < json_array_size(assigned); i++)
        printf("assigned %s to %s ECU %s\n", target,
               json_string_value(json_object_get(json_array_get(assigned, i), "vin")),
               json_string_value(json_object_get(json_array_get(assigned, i), "ecu_serial")));
    rc = 0;
out:
    free(f.token);
    json_decref(answer);
    json_decref(body);
    json_decref(vins);
    return rc;
}
