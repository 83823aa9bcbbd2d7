/*
 * sdv_cmd_token.c - `sdv token`: mints JWT access tokens for sdv-broker (tests, demos, a
 * development issuer), verifies one the way the broker does, and checks an audit log's chain.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sdv/broker_auth.h>
#include <sdv/common.h>
#include <sdv/crypto.h>

#include "sdv_cmds.h"

static void token_usage(FILE *f)
{
    fputs("usage: sdv token mint --key KEY.pem --aud AUDIENCE (--scope \"read:P actuate:P ...\" | "
          "--purpose NAME)\n"
          "                      [--sub SUBJECT] [--client ID] [--iss ISSUER] [--vin VIN]\n"
          "                      [--exp-in SECONDS] [--kid ID] [--jti ID]\n"
          "         prints a signed RFC 9068 access token (ES256 for a P-256 key, EdDSA for\n"
          "         Ed25519; keys from `sdv keygen --type ecdsa|ed25519`)\n"
          "       sdv token verify --key PUB.pem [--kid ID] --aud AUDIENCE [--iss ISSUER]\n"
          "                      [--vin VIN] [--purposes FILE.json] [--accept-typ-jwt] TOKEN|-\n"
          "         checks a token as sdv-broker does; prints the subject and grants, exit 1 if\n"
          "         refused (with the VISS error)\n"
          "       sdv token audit-verify FILE\n"
          "         checks an audit log's hash chain; prints the number of records\n",
          f);
}

static int token_fail(const char *what, const char *where)
{
    fprintf(stderr, "sdv token: %s (%s)\n", what, where);
    return 1;
}

struct token_opts {
    const char *key, *aud, *scope, *purpose, *sub, *client, *iss, *vin, *exp_in, *kid, *jti;
    const char *purposes, *token;
    int accept_typ_jwt;
};

static int token_parse(int argc, char **argv, struct token_opts *o)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
            {"--key", offsetof(struct token_opts, key)},
            {"--aud", offsetof(struct token_opts, aud)},
            {"--scope", offsetof(struct token_opts, scope)},
            {"--purpose", offsetof(struct token_opts, purpose)},
            {"--sub", offsetof(struct token_opts, sub)},
            {"--client", offsetof(struct token_opts, client)},
            {"--iss", offsetof(struct token_opts, iss)},
            {"--vin", offsetof(struct token_opts, vin)},
            {"--exp-in", offsetof(struct token_opts, exp_in)},
            {"--kid", offsetof(struct token_opts, kid)},
            {"--jti", offsetof(struct token_opts, jti)},
            {"--purposes", offsetof(struct token_opts, purposes)},
    };

    for (int i = 2; i < argc; i++) {
        size_t k;

        if (strcmp(argv[i], "--accept-typ-jwt") == 0) {
            o->accept_typ_jwt = 1;
            continue;
        }
        for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            if (strcmp(argv[i], opts[k].name) == 0)
                break;
        }
        if (k == sizeof(opts) / sizeof(opts[0])) {
            if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0)
                return token_fail("unknown option", argv[i]);
            if (o->token != NULL)
                return token_fail("unexpected argument", argv[i]);
            o->token = argv[i];
            continue;
        }
        if (i + 1 >= argc)
            return token_fail("option needs a value", argv[i]);
        *(const char **)((char *)o + opts[k].off) = argv[++i];
    }
    return 0;
}

static int token_mint(const struct token_opts *o)
{
    struct sdv_key *key = NULL;
    struct sdv_buf out;
    char jti[33];
    uint8_t rnd[16];
    unsigned long exp_in = 3600;
    json_t *c;
    enum sdv_err err;
    int rc = 1;

    if (o->key == NULL || o->aud == NULL)
        return token_fail("--key and --aud are required", "command line");
    if ((o->scope == NULL) == (o->purpose == NULL))
        return token_fail("give exactly one of --scope and --purpose", "command line");
    if (o->exp_in != NULL) {
        char *end;

        errno = 0;
        exp_in = strtoul(o->exp_in, &end, 10);
        if (errno != 0 || *end != '\0' || end == o->exp_in || exp_in > 10ul * 365 * 86400)
            return token_fail("--exp-in must be a number of seconds (at most 10 years)", o->exp_in);
    }
    err = sdv_key_load_pem_file(o->key, &key);
    if (err != SDV_OK)
        return token_fail(sdv_strerror(err), o->key);
    if (!sdv_key_has_private(key)) {
        sdv_key_destroy(key);
        return token_fail("not a private key", o->key);
    }
    if (o->jti == NULL) {
        if (sdv_random_bytes(rnd, sizeof(rnd)) != SDV_OK) {
            sdv_key_destroy(key);
            return token_fail("no randomness", "jti");
        }
        sdv_hex_encode(rnd, sizeof(rnd), jti);
    }
    c = json_pack("{s:s, s:s, s:I, s:I, s:s}", "sub", o->sub != NULL ? o->sub : "sdv-token", "aud",
                  o->aud, "iat", (json_int_t)time(NULL), "exp",
                  (json_int_t)(time(NULL) + (time_t)exp_in), "jti", o->jti != NULL ? o->jti : jti);
    if (c == NULL || (o->scope != NULL && json_object_set_new(c, "scope", json_string(o->scope))) ||
        (o->purpose != NULL && json_object_set_new(c, "purpose", json_string(o->purpose))) ||
        (o->client != NULL && json_object_set_new(c, "client_id", json_string(o->client))) ||
        (o->iss != NULL && json_object_set_new(c, "iss", json_string(o->iss))) ||
        (o->vin != NULL && json_object_set_new(c, "vin", json_string(o->vin)))) {
        json_decref(c);
        sdv_key_destroy(key);
        return token_fail("cannot build the claims (not UTF-8?)", "command line");
    }
    sdv_buf_init(&out, SDV_AUTH_TOKEN_LEN_MAX);
    err = sdv_auth_token_mint(key, o->kid, c, &out);
    if (err == SDV_EUNSUPPORTED)
        token_fail("only Ed25519 and P-256 keys sign access tokens", o->key);
    else if (err != SDV_OK)
        token_fail(sdv_strerror(err), "signing");
    else {
        printf("%s\n", (const char *)out.data);
        rc = 0;
    }
    sdv_buf_free(&out);
    json_decref(c);
    sdv_key_destroy(key);
    return rc;
}

static int64_t token_clock(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int token_verify(const struct token_opts *o)
{
    struct sdv_auth_config cfg = {0};
    struct sdv_auth_token *t = NULL;
    struct sdv_auth *a = NULL;
    char msg[SDV_AUTH_MSG_LEN], text[SDV_AUTH_TOKEN_LEN_MAX + 2], err_text[256];
    enum sdv_auth_status st;
    enum sdv_err err;
    size_t len;
    int rc = 1;

    if (o->key == NULL || o->aud == NULL || o->token == NULL)
        return token_fail("--key, --aud and a token are required", "command line");
    if (strcmp(o->token, "-") == 0) {
        len = fread(text, 1, sizeof(text) - 1, stdin);
        text[len] = '\0';
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            text[--len] = '\0';
    } else {
        len = strlen(o->token);
        if (len >= sizeof(text))
            len = sizeof(text) - 1;
        memcpy(text, o->token, len);
        text[len] = '\0';
    }
    cfg.audience = o->aud;
    cfg.issuer = o->iss;
    cfg.vin = o->vin;
    cfg.accept_typ_jwt = o->accept_typ_jwt;
    cfg.leeway_s = SDV_AUTH_LEEWAY_S_DEFAULT;
    cfg.clock = token_clock;
    err = sdv_auth_create(&cfg, &a);
    if (err != SDV_OK)
        return token_fail(sdv_strerror(err), "configuration");
    err = sdv_auth_add_key_file(a, o->kid, o->key);
    if (err != SDV_OK) {
        token_fail(sdv_strerror(err), o->key);
        goto out;
    }
    if (o->purposes != NULL) {
        struct sdv_buf b;
        json_t *j = NULL;

        sdv_buf_init(&b, 1024 * 1024);
        err = sdv_fs_read(o->purposes, &b);
        if (err == SDV_OK)
            err = sdv_json_parse(b.data, b.len, &j, err_text, sizeof(err_text));
        else
            snprintf(err_text, sizeof(err_text), "%s", sdv_strerror(err));
        if (err == SDV_OK)
            err = sdv_auth_set_purposes(a, j, err_text, sizeof(err_text));
        json_decref(j);
        sdv_buf_free(&b);
        if (err != SDV_OK) {
            token_fail(err_text, o->purposes);
            goto out;
        }
    }
    st = sdv_auth_verify(a, text, len, &t, msg, sizeof(msg));
    if (st != SDV_AUTH_OK) {
        printf("refused %d %s: %s\n", sdv_auth_status_http(st), sdv_auth_status_viss(st), msg);
        goto out;
    }
    printf("ok sub=%s client=%s jti=%s purpose=%s expires_ms=%lld\n", sdv_auth_token_subject(t),
           sdv_auth_token_client(t), sdv_auth_token_id(t), sdv_auth_token_purpose(t),
           (long long)sdv_auth_token_expiry_ms(t));
    rc = 0;
out:
    sdv_auth_token_destroy(t);
    sdv_auth_destroy(a);
    return rc;
}

static int token_audit_verify(int argc, char **argv)
{
    char err[256];
    uint64_t lines = 0;
    enum sdv_err e;

    if (argc != 3)
        return token_fail("audit-verify takes one file", "command line");
    err[0] = '\0';
    e = sdv_auth_audit_verify_file(argv[2], &lines, err, sizeof(err));
    if (e != SDV_OK) {
        fprintf(stderr, "sdv token: %s: %s (%llu good records before)\n", argv[2],
                err[0] != '\0' ? err : sdv_strerror(e), (unsigned long long)lines);
        return 1;
    }
    printf("%llu records, chain intact\n", (unsigned long long)lines);
    return 0;
}

int sdv_cmd_token(int argc, char **argv)
{
    struct token_opts o = {0};

    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        token_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "audit-verify") == 0)
        return token_audit_verify(argc, argv);
    if (token_parse(argc, argv, &o) != 0)
        return 1;
    if (strcmp(argv[1], "mint") == 0) {
        if (o.token != NULL)
            return token_fail("unexpected argument", o.token);
        return token_mint(&o);
    }
    if (strcmp(argv[1], "verify") == 0)
        return token_verify(&o);
    token_usage(stderr);
    return token_fail("unknown subcommand", argv[1]);
}
