/*
 * test_broker_auth.c - access control of sdv-broker: token verification (good, expired, not
 * yet valid, audience, alg confusion, tampering, encoding, size, kid, vin), the scope grammar,
 * purposes, rate limits, the decision cache and the audit log's hash chain.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/broker_auth.h>
#include <sdv/common.h>
#include <sdv/crypto.h>

/* 2027-01-15T08:00:00Z: every test runs at this fixed instant unless it moves the clock. */
#define NOW_S  1800000000LL
#define NOW_MS (NOW_S * 1000LL)

struct fx {
    int64_t now_ms;
    struct sdv_auth *a;
    struct sdv_key *ec, *ec2, *ed;
    char dir[64];
};

static int64_t fake_clock(void *ud)
{
    return *(const int64_t *)ud;
}

static struct sdv_auth *make_auth(struct fx *f, const struct sdv_auth_config *extra)
{
    struct sdv_auth_config cfg = {0};
    struct sdv_auth *a = NULL;

    if (extra != NULL)
        cfg = *extra;
    if (cfg.audience == NULL)
        cfg.audience = "sdv-broker";
    if (cfg.leeway_s == 0)
        cfg.leeway_s = SDV_AUTH_LEEWAY_S_DEFAULT;
    cfg.clock = fake_clock;
    cfg.clock_ud = &f->now_ms;
    assert_int_equal(sdv_auth_create(&cfg, &a), SDV_OK);
    return a;
}

static void add_pub(struct sdv_auth *a, const char *kid, const struct sdv_key *k)
{
    struct sdv_buf pem;

    sdv_buf_init(&pem, 64 * 1024);
    assert_int_equal(sdv_key_public_pem(k, &pem), SDV_OK);
    assert_int_equal(sdv_auth_add_key_pem(a, kid, pem.data, pem.len), SDV_OK);
    sdv_buf_free(&pem);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->now_ms = NOW_MS;
    assert_int_equal(sdv_key_generate(SDV_KEY_ECDSA_P256, 0, &f->ec), SDV_OK);
    assert_int_equal(sdv_key_generate(SDV_KEY_ECDSA_P256, 0, &f->ec2), SDV_OK);
    assert_int_equal(sdv_key_generate(SDV_KEY_ED25519, 0, &f->ed), SDV_OK);
    f->a = make_auth(f, NULL);
    add_pub(f->a, "ec1", f->ec);
    add_pub(f->a, "ed1", f->ed);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_broker_auth.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    sdv_auth_destroy(f->a);
    sdv_key_destroy(f->ec);
    sdv_key_destroy(f->ec2);
    sdv_key_destroy(f->ed);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The claims of a good token at NOW; callers change what they test. New reference. */
static json_t *claims(void)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "sub", "app-42", "aud",
                          "sdv-broker", "exp", (json_int_t)(NOW_S + 600), "iat", (json_int_t)NOW_S,
                          "jti", "tok-1", "client_id", "climate-app", "scope",
                          "read:Vehicle.Speed actuate:Vehicle.Cabin.HVAC");

    assert_non_null(c);
    return c;
}

/* Mints with our library; takes c. Caller frees. */
static char *mint(const struct sdv_key *k, const char *kid, json_t *c)
{
    struct sdv_buf out;

    sdv_buf_init(&out, SDV_AUTH_TOKEN_LEN_MAX);
    assert_int_equal(sdv_auth_token_mint(k, kid, c, &out), SDV_OK);
    json_decref(c);
    return sdv_buf_steal(&out, NULL);
}

static void b64url_put(struct sdv_buf *b, const void *p, size_t n)
{
    char *enc = malloc(sdv_base64_encoded_len(n));
    size_t m;

    assert_non_null(enc);
    sdv_base64_encode(p, n, enc);
    m = strlen(enc);
    while (m > 0 && enc[m - 1] == '=')
        m--;
    for (size_t i = 0; i < m; i++)
        enc[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
    assert_int_equal(sdv_buf_append(b, enc, m), SDV_OK);
    free(enc);
}

/* header.payload with arbitrary JSON text. Caller frees. */
static char *signing_input(const char *header, const char *payload)
{
    struct sdv_buf b;

    sdv_buf_init(&b, 64 * 1024);
    b64url_put(&b, header, strlen(header));
    sdv_buf_putc(&b, '.');
    b64url_put(&b, payload, strlen(payload));
    return sdv_buf_steal(&b, NULL);
}

static char *join3(const char *input, const uint8_t *sig, size_t sig_len)
{
    struct sdv_buf b;

    sdv_buf_init(&b, 64 * 1024);
    sdv_buf_puts(&b, input);
    sdv_buf_putc(&b, '.');
    if (sig_len > 0)
        b64url_put(&b, sig, sig_len);
    return sdv_buf_steal(&b, NULL);
}

/* A token with any header, signed with k's own scheme (DER for ECDSA, converted below by the
 * caller when needed). Caller frees. */
static char *forge_ed(const struct sdv_key *k, const char *header, const char *payload)
{
    uint8_t sig[SDV_SIG_LEN_MAX];
    size_t sig_len;
    char *in = signing_input(header, payload), *t;

    assert_int_equal(sdv_key_sign(k, in, strlen(in), sig, sizeof(sig), &sig_len), SDV_OK);
    t = join3(in, sig, sig_len);
    free(in);
    return t;
}

static char *payload_text(json_t *c)
{
    char *s = json_dumps(c, JSON_COMPACT);

    json_decref(c);
    assert_non_null(s);
    return s;
}

static enum sdv_auth_status verify_msg(struct sdv_auth *a, const char *tok, char *msg,
                                       size_t msg_len)
{
    struct sdv_auth_token *t = NULL;
    enum sdv_auth_status st = sdv_auth_verify(a, tok, strlen(tok), &t, msg, msg_len);

    if (st == SDV_AUTH_OK)
        assert_non_null(t);
    else
        assert_null(t);
    sdv_auth_token_destroy(t);
    return st;
}

static enum sdv_auth_status verify(struct sdv_auth *a, const char *tok)
{
    char msg[SDV_AUTH_MSG_LEN];

    return verify_msg(a, tok, msg, sizeof(msg));
}

/* ---- Tokens ----------------------------------------------------------------------------- */

/* Verifies with a a token signed by k (kid may be NULL) whose claims are the defaults with claim
 * key set to value (taken; NULL removes the claim). */
static enum sdv_auth_status verify_claim(struct sdv_auth *a, const struct sdv_key *k,
                                         const char *kid, const char *key, json_t *value)
{
    json_t *c = claims();
    enum sdv_auth_status st;
    char *tok;

    if (value != NULL)
        json_object_set_new(c, key, value);
    else
        json_object_del(c, key);
    tok = mint(k, kid, c);
    st = verify(a, tok);
    free(tok);
    return st;
}

static void test_good_tokens(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_token *t = NULL;
    char msg[SDV_AUTH_MSG_LEN];
    char *es = mint(f->ec, "ec1", claims()), *ed = mint(f->ed, "ed1", claims());
    char *nokid = mint(f->ed, NULL, claims());

    assert_int_equal(sdv_auth_verify(f->a, es, strlen(es), &t, msg, sizeof(msg)), SDV_AUTH_OK);
    assert_string_equal(sdv_auth_token_subject(t), "app-42");
    assert_string_equal(sdv_auth_token_client(t), "climate-app");
    assert_string_equal(sdv_auth_token_id(t), "tok-1");
    assert_string_equal(sdv_auth_token_purpose(t), "");
    assert_int_equal(sdv_auth_token_expiry_ms(t), (NOW_S + 600 + 60) * 1000);
    assert_int_equal(sdv_auth_token_actions(t, "Vehicle.Speed"), SDV_AUTH_READ);
    assert_int_equal(
            sdv_auth_token_actions(t, "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"),
            SDV_AUTH_READ | SDV_AUTH_ACTUATE);
    assert_int_equal(sdv_auth_token_actions(t, "Vehicle.Powertrain.Range"), 0);
    sdv_auth_token_destroy(t);
    assert_int_equal(verify(f->a, ed), SDV_AUTH_OK);
    assert_int_equal(verify(f->a, nokid), SDV_AUTH_OK);
    /* The mapping the daemon turns into VISS error objects. */
    assert_int_equal(sdv_auth_status_http(SDV_AUTH_INVALID_TOKEN), 401);
    assert_string_equal(sdv_auth_status_viss(SDV_AUTH_EXPIRED_TOKEN), "expired_token");
    assert_int_equal(sdv_auth_status_http(SDV_AUTH_FORBIDDEN), 403);
    assert_int_equal(sdv_auth_status_http(SDV_AUTH_TOO_MANY_REQUESTS), 429);
    assert_string_equal(sdv_auth_status_viss(SDV_AUTH_TOO_MANY_REQUESTS), "too_many_requests");
    free(es);
    free(ed);
    free(nokid);
}

static void test_expiry(void **state)
{
    struct fx *f = *state;
    char msg[SDV_AUTH_MSG_LEN];
    json_t *c = claims();
    char *tok;

    /* Expired two minutes ago: beyond the 60 s leeway. */
    json_object_set_new(c, "exp", json_integer(NOW_S - 120));
    tok = mint(f->ec, "ec1", c);
    assert_int_equal(verify_msg(f->a, tok, msg, sizeof(msg)), SDV_AUTH_EXPIRED_TOKEN);
    assert_non_null(strstr(msg, "expired"));
    free(tok);
    /* Expired 30 s ago: within the leeway. */
    c = claims();
    json_object_set_new(c, "exp", json_integer(NOW_S - 30));
    tok = mint(f->ec, "ec1", c);
    assert_int_equal(verify(f->a, tok), SDV_AUTH_OK);
    /* ... until the clock passes exp + leeway. */
    f->now_ms = (NOW_S + 30) * 1000;
    assert_int_equal(verify(f->a, tok), SDV_AUTH_EXPIRED_TOKEN);
    free(tok);
    /* exp missing, or not a number. */
    assert_int_equal(verify_claim(f->a, f->ec, "ec1", "exp", NULL), SDV_AUTH_INVALID_TOKEN);
    assert_int_equal(verify_claim(f->a, f->ec, "ec1", "exp", json_string("tomorrow")),
                     SDV_AUTH_INVALID_TOKEN);
}

static void test_not_yet_valid(void **state)
{
    struct fx *f = *state;
    char msg[SDV_AUTH_MSG_LEN];
    json_t *c = claims();
    char *tok;

    json_object_set_new(c, "nbf", json_integer(NOW_S + 3600));
    tok = mint(f->ed, "ed1", c);
    assert_int_equal(verify_msg(f->a, tok, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "nbf"));
    free(tok);
    /* Within the leeway. */
    assert_int_equal(verify_claim(f->a, f->ed, "ed1", "nbf", json_integer(NOW_S + 30)),
                     SDV_AUTH_OK);
    c = claims();
    json_object_set_new(c, "iat", json_integer(NOW_S + 3600));
    tok = mint(f->ed, "ed1", c);
    assert_int_equal(verify_msg(f->a, tok, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "iat"));
    free(tok);
}

static void test_audience(void **state)
{
    struct fx *f = *state;
    char msg[SDV_AUTH_MSG_LEN];
    json_t *c;
    char *tok;

    c = claims();
    json_object_set_new(c, "aud", json_string("other-service"));
    tok = mint(f->ec, "ec1", c);
    assert_int_equal(verify_msg(f->a, tok, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "aud"));
    free(tok);
    assert_int_equal(verify_claim(f->a, f->ec, "ec1", "aud",
                                  json_pack("[s, s]", "fleet-api", "other-service")),
                     SDV_AUTH_INVALID_TOKEN);
    assert_int_equal(
            verify_claim(f->a, f->ec, "ec1", "aud", json_pack("[s, s]", "fleet-api", "sdv-broker")),
            SDV_AUTH_OK);
    /* A prefix of the audience is not the audience. */
    assert_int_equal(verify_claim(f->a, f->ec, "ec1", "aud", json_string("sdv-broker-2")),
                     SDV_AUTH_INVALID_TOKEN);
    assert_int_equal(verify_claim(f->a, f->ec, "ec1", "aud", json_pack("[i]", 7)),
                     SDV_AUTH_INVALID_TOKEN);
    assert_int_equal(verify_claim(f->a, f->ec, "ec1", "aud", NULL), SDV_AUTH_INVALID_TOKEN);
}

static void test_alg_confusion(void **state)
{
    struct fx *f = *state;
    char msg[SDV_AUTH_MSG_LEN];
    char *payload = payload_text(claims()), *in, *tok;
    uint8_t mac[64], sig[SDV_SIG_LEN_MAX];
    size_t mac_len = 0, sig_len;
    struct sdv_buf pem;

    /* alg none, with and without a signature part. */
    in = signing_input("{\"alg\":\"none\",\"typ\":\"at+jwt\"}", payload);
    tok = join3(in, NULL, 0);
    assert_int_equal(verify(f->a, tok), SDV_AUTH_INVALID_TOKEN);
    free(tok);
    tok = join3(in, (const uint8_t *)"xx", 2);
    assert_int_equal(verify_msg(f->a, tok, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "none"));
    free(tok);
    free(in);

    /* HS256 keyed with the public key's PEM: the classic confusion attack. */
    sdv_buf_init(&pem, 64 * 1024);
    assert_int_equal(sdv_key_public_pem(f->ec, &pem), SDV_OK);
    in = signing_input("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"}", payload);
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem.data, pem.len,
                              (const unsigned char *)in, strlen(in), mac, sizeof(mac), &mac_len));
    tok = join3(in, mac, mac_len);
    assert_int_equal(verify_msg(f->a, tok, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "HS256"));
    free(tok);
    free(in);
    sdv_buf_free(&pem);

    /* EdDSA signature presented as ES256 (and the reverse), without a kid: the key of the
     * other type is never tried. */
    tok = forge_ed(f->ed, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", payload);
    assert_int_equal(verify(f->a, tok), SDV_AUTH_INVALID_TOKEN);
    free(tok);
    /* kid naming an Ed25519 key in an ES256 token: refused for the mismatch itself. */
    tok = forge_ed(f->ed, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"ed1\"}", payload);
    assert_int_equal(verify_msg(f->a, tok, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "does not match"));
    free(tok);
    /* The same bytes with the right alg are fine: the test above failed for the alg only. */
    tok = forge_ed(f->ed, "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"ed1\"}", payload);
    assert_int_equal(verify(f->a, tok), SDV_AUTH_OK);
    free(tok);
    /* A DER ECDSA signature (what OpenSSL emits) is not the JOSE r||s form. */
    in = signing_input("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"}", payload);
    assert_int_equal(sdv_key_sign(f->ec, in, strlen(in), sig, sizeof(sig), &sig_len), SDV_OK);
    tok = join3(in, sig, sig_len);
    assert_int_equal(verify(f->a, tok), SDV_AUTH_INVALID_TOKEN);
    free(tok);
    free(in);
    /* RS256, alg missing, alg not a string, crit. */
    const char *bad_headers[] = {
            "{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}",
            "{\"typ\":\"at+jwt\"}",
            "{\"alg\":1,\"typ\":\"at+jwt\"}",
            "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"crit\":[\"exp\"]}",
            "{\"alg\":\"EdDSA\",\"alg\":\"ES256\",\"typ\":\"at+jwt\"}",
            "[\"EdDSA\"]",
    };
    for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
        tok = forge_ed(f->ed, bad_headers[i], payload);
        assert_int_equal(verify(f->a, tok), SDV_AUTH_INVALID_TOKEN);
        free(tok);
    }
    free(payload);
}

static void test_typ(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_config cfg = {.accept_typ_jwt = 1};
    struct sdv_auth *lax = make_auth(f, &cfg);
    char *payload = payload_text(claims()), *tok;

    add_pub(lax, "ed1", f->ed);
    tok = forge_ed(f->ed, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", payload);
    assert_int_equal(verify(f->a, tok), SDV_AUTH_INVALID_TOKEN);
    assert_int_equal(verify(lax, tok), SDV_AUTH_OK);
    free(tok);
    tok = forge_ed(f->ed, "{\"alg\":\"EdDSA\"}", payload);
    assert_int_equal(verify(f->a, tok), SDV_AUTH_INVALID_TOKEN);
    assert_int_equal(verify(lax, tok), SDV_AUTH_INVALID_TOKEN);
    free(tok);
    tok = forge_ed(f->ed, "{\"alg\":\"EdDSA\",\"typ\":\"application/at+jwt\"}", payload);
    assert_int_equal(verify(f->a, tok), SDV_AUTH_OK);
    free(tok);
    free(payload);
    sdv_auth_destroy(lax);
}

static void test_tampering(void **state)
{
    struct fx *f = *state;
    char msg[SDV_AUTH_MSG_LEN];
    char *keys[] = {"ec1", "ed1"};

    for (int k = 0; k < 2; k++) {
        char *tok = mint(k == 0 ? f->ec : f->ed, keys[k], claims());
        char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
        char *evil, *payload;
        size_t n;

        /* A changed payload: same header and signature, a wider scope. */
        json_t *c = claims();
        json_object_set_new(c, "scope", json_string("actuate:Vehicle"));
        payload = payload_text(c);
        {
            struct sdv_buf b;

            sdv_buf_init(&b, 64 * 1024);
            sdv_buf_append(&b, tok, (size_t)(dot1 - tok) + 1);
            b64url_put(&b, payload, strlen(payload));
            sdv_buf_puts(&b, dot2);
            evil = sdv_buf_steal(&b, NULL);
        }
        assert_int_equal(verify_msg(f->a, evil, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
        assert_non_null(strstr(msg, "does not verify"));
        free(evil);
        free(payload);
        /* One character of the payload part changed. */
        evil = strdup(tok);
        n = (size_t)(dot1 - tok) + 5;
        evil[n] = evil[n] == 'A' ? 'B' : 'A';
        assert_int_equal(verify(f->a, evil), SDV_AUTH_INVALID_TOKEN);
        free(evil);
        /* One character of the signature changed (the first: all 6 bits count). */
        evil = strdup(tok);
        n = (size_t)(dot2 - tok) + 1;
        evil[n] = evil[n] == 'A' ? 'B' : 'A';
        assert_int_equal(verify(f->a, evil), SDV_AUTH_INVALID_TOKEN);
        free(evil);
        /* Truncated signature. */
        evil = strdup(tok);
        evil[strlen(evil) - 4] = '\0';
        assert_int_equal(verify(f->a, evil), SDV_AUTH_INVALID_TOKEN);
        free(evil);
        /* The untouched token still verifies, so the refusals above are the changes'. */
        assert_int_equal(verify(f->a, tok), SDV_AUTH_OK);
        free(tok);
    }
}

static void test_encoding(void **state)
{
    struct fx *f = *state;
    char *tok = mint(f->ed, "ed1", claims()), *evil;
    char msg[SDV_AUTH_MSG_LEN];
    size_t len = strlen(tok), sig_off = (size_t)(strrchr(tok, '.') - tok) + 1;

    /* Standard base64 characters and padding are not base64url. */
    evil = strdup(tok);
    evil[2] = '+';
    assert_int_equal(verify_msg(f->a, evil, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "base64url"));
    free(evil);
    evil = calloc(1, len + 3);
    memcpy(evil, tok, len);
    memcpy(evil + len, "==", 2);
    assert_int_equal(verify(f->a, evil), SDV_AUTH_INVALID_TOKEN);
    /* A signature of 4k+1 characters cannot be base64url. */
    evil[len] = 'A';
    evil[len + 1] = '\0';
    assert_int_equal(verify(f->a, evil), SDV_AUTH_INVALID_TOKEN);
    free(evil);
    /* Non-canonical last character: 64 bytes encode as 86 characters whose last one carries
     * 4 unused bits; setting one changes nothing a lax decoder would see. */
    assert_int_equal(len - sig_off, 86);
    evil = strdup(tok);
    {
        static const char alpha[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        int v = (int)(strchr(alpha, evil[len - 1]) - alpha);

        evil[len - 1] = alpha[v | 1];
        if (evil[len - 1] == tok[len - 1])
            evil[len - 1] = alpha[v | 2];
    }
    assert_int_equal(verify(f->a, evil), SDV_AUTH_INVALID_TOKEN);
    free(evil);
    /* Structure: too few or too many parts, empty parts, NUL inside. */
    const char *bad[] = {"abc", "a.b", "a.b.c.d", ".b.c", "a..c", "eyJhbGciOiJFZERTQSJ9.e30.", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sdv_auth_token *t = NULL;
        enum sdv_auth_status st = sdv_auth_verify(f->a, bad[i], strlen(bad[i]), &t, NULL, 0);

        assert_int_equal(st, bad[i][0] == '\0' ? SDV_AUTH_MISSING_TOKEN : SDV_AUTH_INVALID_TOKEN);
        assert_null(t);
    }
    {
        struct sdv_auth_token *t = NULL;

        evil = strdup(tok);
        evil[3] = '\0';
        assert_int_equal(sdv_auth_verify(f->a, evil, len, &t, NULL, 0), SDV_AUTH_INVALID_TOKEN);
        free(evil);
    }
    free(tok);
}

static void test_oversized(void **state)
{
    struct fx *f = *state;
    char msg[SDV_AUTH_MSG_LEN];
    json_t *c = claims();
    char *big = malloc(SDV_AUTH_TOKEN_LEN_MAX + 2), *filler = malloc(6001), *tok;
    size_t fill = 5700;
    struct sdv_auth_token *t = NULL;

    memset(big, 'A', SDV_AUTH_TOKEN_LEN_MAX + 1);
    big[10] = '.';
    big[20] = '.';
    big[SDV_AUTH_TOKEN_LEN_MAX + 1] = '\0';
    assert_int_equal(verify_msg(f->a, big, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "longer than"));
    /* A real token just under the limit is accepted, one just over it refused. */
    memset(filler, 'x', 6000);
    filler[fill] = '\0';
    json_object_set_new(c, "note", json_string(filler));
    tok = mint(f->ed, "ed1", c);
    assert_true(strlen(tok) <= SDV_AUTH_TOKEN_LEN_MAX);
    assert_int_equal(verify(f->a, tok), SDV_AUTH_OK);
    free(tok);
    c = claims();
    filler[fill] = 'x';
    filler[5900] = '\0';
    json_object_set_new(c, "note", json_string(filler));
    json_object_set_new(c, "note2", json_string(filler));
    {
        struct sdv_buf out;

        sdv_buf_init(&out, SDV_AUTH_TOKEN_LEN_MAX);
        assert_int_equal(sdv_auth_token_mint(f->ed, "ed1", c, &out), SDV_ETOOBIG);
        sdv_buf_free(&out);
    }
    json_decref(c);
    /* A huge header is refused before any JSON parsing. */
    memset(big, 'e', 2000);
    big[2000] = '.';
    memcpy(big + 2001, "e30.AAAA", 9);
    assert_int_equal(sdv_auth_verify(f->a, big, strlen(big), &t, msg, sizeof(msg)),
                     SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "header"));
    free(big);
    free(filler);
}

static void test_kid_selection(void **state)
{
    struct fx *f = *state;
    struct sdv_auth *a = make_auth(f, NULL);
    char msg[SDV_AUTH_MSG_LEN];
    char *tok;

    add_pub(a, "k1", f->ec);
    add_pub(a, "k2", f->ec2);
    {
        struct sdv_buf pem;

        sdv_buf_init(&pem, 64 * 1024);
        assert_int_equal(sdv_key_public_pem(f->ec, &pem), SDV_OK);
        assert_int_equal(sdv_auth_add_key_pem(a, "k1", pem.data, pem.len), SDV_EEXIST);
        assert_int_equal(sdv_auth_add_key_pem(a, NULL, "junk", 4), SDV_EPARSE);
        sdv_buf_free(&pem);
    }
    tok = mint(f->ec2, "k2", claims());
    assert_int_equal(verify(a, tok), SDV_AUTH_OK);
    free(tok);
    /* Signed by k2 but naming k1: only k1 is tried. */
    tok = mint(f->ec2, "k1", claims());
    assert_int_equal(verify(a, tok), SDV_AUTH_INVALID_TOKEN);
    free(tok);
    tok = mint(f->ec2, "k9", claims());
    assert_int_equal(verify_msg(a, tok, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "unknown kid"));
    free(tok);
    /* Without a kid every key of the type is tried. */
    tok = mint(f->ec2, NULL, claims());
    assert_int_equal(verify(a, tok), SDV_AUTH_OK);
    free(tok);
    /* No Ed25519 key configured here. */
    tok = mint(f->ed, NULL, claims());
    assert_int_equal(verify_msg(a, tok, msg, sizeof(msg)), SDV_AUTH_INVALID_TOKEN);
    assert_non_null(strstr(msg, "no EdDSA key"));
    free(tok);
    sdv_auth_destroy(a);
}

static void test_vin(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_config cfg = {.vin = "WDD1234567890ABCD"};
    struct sdv_auth *a = make_auth(f, &cfg);
    json_t *c;
    char *tok;

    add_pub(a, NULL, f->ed);
    c = claims();
    json_object_set_new(c, "vin", json_string("WDD1234567890ABCD"));
    tok = mint(f->ed, NULL, c);
    assert_int_equal(verify(a, tok), SDV_AUTH_OK);
    /* A broker that does not know its VIN cannot honour a vehicle-bound token. */
    assert_int_equal(verify(f->a, tok), SDV_AUTH_INVALID_TOKEN);
    free(tok);
    assert_int_equal(verify_claim(a, f->ed, NULL, "vin", json_string("WDD1234567890ABCE")),
                     SDV_AUTH_INVALID_TOKEN);
    tok = mint(f->ed, NULL, claims()); /* no vin claim: accepted */
    assert_int_equal(verify(a, tok), SDV_AUTH_OK);
    free(tok);
    sdv_auth_destroy(a);
}

static void test_issuer_and_subject(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_config cfg = {.issuer = "https://idp.example"};
    struct sdv_auth *a = make_auth(f, &cfg);
    char *tok;

    add_pub(a, NULL, f->ed);
    tok = mint(f->ed, NULL, claims());
    assert_int_equal(verify(a, tok), SDV_AUTH_INVALID_TOKEN); /* no iss */
    free(tok);
    assert_int_equal(verify_claim(a, f->ed, NULL, "iss", json_string("https://idp.example")),
                     SDV_AUTH_OK);
    assert_int_equal(verify_claim(f->a, f->ed, NULL, "sub", NULL), SDV_AUTH_INVALID_TOKEN);
    assert_int_equal(verify_claim(f->a, f->ed, NULL, "sub", json_string("")),
                     SDV_AUTH_INVALID_TOKEN);
    /* No grant for this broker: forbidden, not invalid. */
    assert_int_equal(verify_claim(f->a, f->ed, NULL, "scope", json_string("openid profile")),
                     SDV_AUTH_FORBIDDEN);
    assert_int_equal(verify_claim(f->a, f->ed, NULL, "scope", json_string("read:Vehicle..Speed")),
                     SDV_AUTH_INVALID_TOKEN);
    sdv_auth_destroy(a);
}

/* ---- Scopes ----------------------------------------------------------------------------- */

struct scope_row {
    const char *scope;
    const char *path;
    unsigned want; /* expected mask */
};

static void test_scope_table(void **state)
{
    (void)state;
    static const struct scope_row rows[] = {
            /* Subtrees. */
            {"read:Vehicle.Cabin", "Vehicle.Cabin", SDV_AUTH_READ},
            {"read:Vehicle.Cabin", "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
             SDV_AUTH_READ},
            {"read:Vehicle.Cabin", "Vehicle.Speed", 0},
            {"read:Vehicle.Cabin", "Vehicle", 0},
            {"read:Vehicle", "Vehicle.Speed", SDV_AUTH_READ},
            /* No prefix confusion: segments match whole. */
            {"read:Vehicle.Cab", "Vehicle.Cabin", 0},
            {"read:Vehicle.Cab", "Vehicle.Cabin.Door", 0},
            {"read:Vehicle.Cabin", "Vehicle.CabinX.Door", 0},
            {"read:Vehicle.Speed", "Vehicle.SpeedLimit", 0},
            {"read:vehicle.speed", "Vehicle.Speed", 0},
            /* '*' is exactly one level. */
            {"read:Vehicle.*.IsOpen", "Vehicle.Door.IsOpen", SDV_AUTH_READ},
            {"read:Vehicle.*.IsOpen", "Vehicle.Trunk.IsOpen", SDV_AUTH_READ},
            {"read:Vehicle.*.IsOpen", "Vehicle.Cabin.Door.IsOpen", 0},
            {"read:Vehicle.*.IsOpen", "Vehicle.IsOpen", 0},
            {"read:Vehicle.*.IsOpen", "Vehicle.Door.IsOpenX", 0},
            {"read:Vehicle.*", "Vehicle.Speed", SDV_AUTH_READ},
            {"read:Vehicle.*", "Vehicle", 0},
            {"read:*", "Vehicle.Speed", SDV_AUTH_READ},
            {"read:Vehicle.Cabin.Door.*.*.IsOpen", "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen",
             SDV_AUTH_READ},
            /* Implications: actuate and provide imply read, nothing implies the others. */
            {"actuate:Vehicle.Cabin.HVAC", "Vehicle.Cabin.HVAC.IsAirConditioningActive",
             SDV_AUTH_READ | SDV_AUTH_ACTUATE},
            {"provide:Vehicle.Speed", "Vehicle.Speed", SDV_AUTH_READ | SDV_AUTH_PROVIDE},
            {"read:Vehicle", "Vehicle.Cabin.HVAC.IsAirConditioningActive", SDV_AUTH_READ},
            {"read:Vehicle actuate:Vehicle.Cabin", "Vehicle.Cabin.Seat",
             SDV_AUTH_READ | SDV_AUTH_ACTUATE},
            {"read:Vehicle actuate:Vehicle.Cabin", "Vehicle.Body.Trunk", SDV_AUTH_READ},
            {"actuate:Vehicle.Cabin provide:Vehicle.Cabin.Seat", "Vehicle.Cabin.Seat.Heating",
             SDV_AUTH_READ | SDV_AUTH_ACTUATE | SDV_AUTH_PROVIDE},
            /* Foreign scopes are skipped, extra spaces too. */
            {"openid  profile write:Vehicle read:Vehicle.Speed", "Vehicle.Speed", SDV_AUTH_READ},
            {"openid write:Vehicle", "Vehicle.Speed", 0},
            /* Malformed paths never match. */
            {"read:Vehicle.Speed", "Vehicle..Speed", 0},
            {"read:Vehicle", "", 0},
            {"read:Vehicle.Speed", ".Vehicle.Speed", 0},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct sdv_auth_grants *g = NULL;
        char err[SDV_AUTH_MSG_LEN];

        assert_int_equal(
                sdv_auth_grants_parse(rows[i].scope, strlen(rows[i].scope), &g, err, sizeof(err)),
                SDV_OK);
        if (sdv_auth_grants_actions(g, rows[i].path) != rows[i].want)
            fail_msg("row %zu: scope \"%s\" on \"%s\": got %u, want %u", i, rows[i].scope,
                     rows[i].path, sdv_auth_grants_actions(g, rows[i].path), rows[i].want);
        sdv_auth_grants_destroy(g);
    }
}

static void test_scope_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
            "read:",
            "read:Vehicle..Speed",
            "read:.Vehicle",
            "read:Vehicle.",
            "read:Vehicle.Sp*",
            "read:Vehicle.**",
            "actuate:Vehicle.Speed-1",
            "provide:Vehicle.A.B.C.D.E.F.G.H.I.J.K.L.M.N.O.P.Q",
    };
    struct sdv_auth_grants *g = NULL;
    char err[SDV_AUTH_MSG_LEN];
    char many[64 * 20];
    size_t n = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(sdv_auth_grants_parse(bad[i], strlen(bad[i]), &g, err, sizeof(err)),
                         SDV_EPARSE);
        assert_null(g);
        assert_true(strlen(err) > 0);
    }
    /* Space-separated: "read:Veh icle" is the grant read:Veh and the foreign value "icle". */
    assert_int_equal(sdv_auth_grants_parse("read:Veh icle", 13, &g, err, sizeof(err)), SDV_OK);
    assert_int_equal(sdv_auth_grants_count(g), 1);
    assert_int_equal(sdv_auth_grants_actions(g, "Veh.x"), SDV_AUTH_READ);
    sdv_auth_grants_destroy(g);
    g = NULL;
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "read:A%d ", i);
    assert_int_equal(sdv_auth_grants_parse(many, n, &g, err, sizeof(err)), SDV_ELIMIT);
    assert_int_equal(sdv_auth_grants_parse(many, n - 8, &g, err, sizeof(err)), SDV_OK);
    assert_int_equal(sdv_auth_grants_count(g), 64);
    sdv_auth_grants_destroy(g);
}

static void test_check_cache(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_token *t1 = NULL, *t2 = NULL;
    struct sdv_auth_cache *cache = NULL;
    json_t *c = claims();
    char *tok1, *tok2;

    json_object_set_new(c, "scope", json_string("read:Vehicle"));
    tok2 = mint(f->ed, NULL, c);
    tok1 = mint(f->ed, NULL, claims());
    assert_int_equal(sdv_auth_verify(f->a, tok1, strlen(tok1), &t1, NULL, 0), SDV_AUTH_OK);
    assert_int_equal(sdv_auth_verify(f->a, tok2, strlen(tok2), &t2, NULL, 0), SDV_AUTH_OK);
    assert_int_equal(sdv_auth_cache_create(0, &cache), SDV_EINVAL);
    assert_int_equal(sdv_auth_cache_create(100, &cache), SDV_OK);
    /* Signal 7 is Vehicle.Speed, 8 Vehicle.Powertrain.Range in this made-up catalog. */
    assert_int_equal(sdv_auth_check(f->a, t1, "Vehicle.Speed", SDV_AUTH_READ, cache, 7),
                     SDV_AUTH_OK);
    assert_int_equal(sdv_auth_check(f->a, t1, "Vehicle.Speed", SDV_AUTH_ACTUATE, cache, 7),
                     SDV_AUTH_FORBIDDEN);
    assert_int_equal(sdv_auth_check(f->a, t1, "Vehicle.Powertrain.Range", SDV_AUTH_READ, cache, 8),
                     SDV_AUTH_FORBIDDEN);
    /* Cached: the path is not looked at again for the same token. */
    assert_int_equal(sdv_auth_check(f->a, t1, "ignored", SDV_AUTH_READ, cache, 7), SDV_AUTH_OK);
    /* Another token refills the cache. */
    assert_int_equal(sdv_auth_check(f->a, t2, "Vehicle.Powertrain.Range", SDV_AUTH_READ, cache, 8),
                     SDV_AUTH_OK);
    /* Out-of-range ids fall back to the path. */
    assert_int_equal(sdv_auth_check(f->a, t1, "Vehicle.Speed", SDV_AUTH_READ, cache, 100),
                     SDV_AUTH_OK);
    assert_int_equal(sdv_auth_check(f->a, NULL, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                     SDV_AUTH_MISSING_TOKEN);
    /* An expired token stops its subscriptions. */
    f->now_ms = sdv_auth_token_expiry_ms(t1);
    assert_int_equal(sdv_auth_check(f->a, t1, "Vehicle.Speed", SDV_AUTH_READ, cache, 7),
                     SDV_AUTH_EXPIRED_TOKEN);
    sdv_auth_cache_destroy(cache);
    sdv_auth_token_destroy(t1);
    sdv_auth_token_destroy(t2);
    free(tok1);
    free(tok2);
}

/* ---- Purposes --------------------------------------------------------------------------- */

static const char purposes_json[] =
        "{\"purposes\": {"
        " \"climate-comfort\": {\"expires\": \"2027-01-15T09:00:00Z\","
        "   \"description\": \"cabin climate app\","
        "   \"grants\": [\"read:Vehicle.Speed\", \"actuate:Vehicle.Cabin.HVAC\"]},"
        " \"old-campaign\": {\"expires\": \"2026-01-01T00:00:00Z\","
        "   \"grants\": [\"read:Vehicle\"]},"
        " \"future-campaign\": {\"not_before\": \"2028-01-01T00:00:00Z\","
        "   \"expires\": \"2029-01-01T00:00:00Z\", \"grants\": [\"read:Vehicle\"]}"
        "}}";

static void load_purposes(struct sdv_auth *a)
{
    char err[SDV_AUTH_MSG_LEN];
    json_t *cfg = NULL;

    assert_int_equal(sdv_json_parse(purposes_json, strlen(purposes_json), &cfg, err, sizeof(err)),
                     SDV_OK);
    assert_int_equal(sdv_auth_set_purposes(a, cfg, err, sizeof(err)), SDV_OK);
    json_decref(cfg);
}

static char *purpose_token(struct fx *f, const char *purpose)
{
    json_t *c = claims();

    json_object_del(c, "scope");
    json_object_set_new(c, "purpose", json_string(purpose));
    json_object_set_new(c, "exp", json_integer(NOW_S + 7200));
    return mint(f->ed, "ed1", c);
}

static void test_purposes(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_token *t = NULL;
    char msg[SDV_AUTH_MSG_LEN];
    char *tok;

    load_purposes(f->a);
    tok = purpose_token(f, "climate-comfort");
    assert_int_equal(sdv_auth_verify(f->a, tok, strlen(tok), &t, msg, sizeof(msg)), SDV_AUTH_OK);
    assert_string_equal(sdv_auth_token_purpose(t), "climate-comfort");
    /* The purpose's expiry (09:00) comes before the token's (10:00). */
    assert_int_equal(sdv_auth_token_expiry_ms(t), (NOW_S + 3600) * 1000);
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed",
                                      SDV_AUTH_ACTUATE, msg, sizeof(msg)),
                     SDV_AUTH_OK);
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Speed", SDV_AUTH_ACTUATE, msg, sizeof(msg)),
                     SDV_AUTH_FORBIDDEN);
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Powertrain.TractionBattery.StateOfCharge",
                                      SDV_AUTH_READ, msg, sizeof(msg)),
                     SDV_AUTH_FORBIDDEN);
    /* After the purpose expires, the still-valid token grants nothing: 403, not 401. */
    f->now_ms = (NOW_S + 3600) * 1000;
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Speed", SDV_AUTH_READ, msg, sizeof(msg)),
                     SDV_AUTH_FORBIDDEN);
    assert_non_null(strstr(msg, "climate-comfort"));
    assert_int_equal(sdv_auth_check(f->a, t, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                     SDV_AUTH_FORBIDDEN);
    assert_int_equal(verify(f->a, tok), SDV_AUTH_FORBIDDEN);
    sdv_auth_token_destroy(t);
    free(tok);
    f->now_ms = NOW_MS;

    tok = purpose_token(f, "old-campaign");
    assert_int_equal(verify_msg(f->a, tok, msg, sizeof(msg)), SDV_AUTH_FORBIDDEN);
    assert_non_null(strstr(msg, "expired"));
    free(tok);
    tok = purpose_token(f, "future-campaign");
    assert_int_equal(verify_msg(f->a, tok, msg, sizeof(msg)), SDV_AUTH_FORBIDDEN);
    assert_non_null(strstr(msg, "not valid yet"));
    free(tok);
    tok = purpose_token(f, "no-such-purpose");
    assert_int_equal(verify_msg(f->a, tok, msg, sizeof(msg)), SDV_AUTH_FORBIDDEN);
    assert_non_null(strstr(msg, "not configured"));
    free(tok);
    /* A token may not carry both: it would be unclear which set it gets. */
    assert_int_equal(verify_claim(f->a, f->ed, "ed1", "purpose", json_string("climate-comfort")),
                     SDV_AUTH_INVALID_TOKEN);
}

static void test_purposes_config_errors(void **state)
{
    struct fx *f = *state;
    static const char *bad[] = {
            "{}",
            "{\"purposes\": []}",
            "{\"purposes\": {\"a\": {\"grants\": [\"read:Vehicle\"]}}}",
            "{\"purposes\": {\"a\": {\"expires\": \"soon\", \"grants\": [\"read:Vehicle\"]}}}",
            "{\"purposes\": {\"a\": {\"expires\": \"2030-01-01T00:00:00Z\"}}}",
            "{\"purposes\": {\"a\": {\"expires\": \"2030-01-01T00:00:00Z\", \"grants\": []}}}",
            "{\"purposes\": {\"a\": {\"expires\": \"2030-01-01T00:00:00Z\", \"grants\": "
            "[\"write:Vehicle\"]}}}",
            "{\"purposes\": {\"a\": {\"expires\": \"2030-01-01T00:00:00Z\", \"grants\": "
            "[\"read:Vehicle..X\"]}}}",
            "{\"purposes\": {\"a\": {\"expires\": \"2030-01-01T00:00:00Z\", \"grants\": "
            "[\"read:Vehicle\"], \"grant\": []}}}",
            "{\"purposes\": {\"a b\": {\"expires\": \"2030-01-01T00:00:00Z\", \"grants\": "
            "[\"read:Vehicle\"]}}}",
    };
    char err[SDV_AUTH_MSG_LEN];
    char *tok;

    load_purposes(f->a);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *cfg = NULL;

        assert_int_equal(sdv_json_parse(bad[i], strlen(bad[i]), &cfg, NULL, 0), SDV_OK);
        err[0] = '\0';
        assert_int_not_equal(sdv_auth_set_purposes(f->a, cfg, err, sizeof(err)), SDV_OK);
        assert_true(strlen(err) > 0);
        json_decref(cfg);
    }
    /* Nothing changed: the loaded purposes still work. */
    tok = purpose_token(f, "climate-comfort");
    assert_int_equal(verify(f->a, tok), SDV_AUTH_OK);
    free(tok);
}

/* ---- Rate limits ------------------------------------------------------------------------ */

static void test_rate_limit(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_config cfg = {.rate_per_s = 10, .burst = 5, .buckets_max = 8};
    struct sdv_auth *a = make_auth(f, &cfg);
    struct sdv_auth_token *t = NULL, *u = NULL;
    char msg[SDV_AUTH_MSG_LEN];
    json_t *c;
    char *tok;
    int i;

    add_pub(a, NULL, f->ed);
    tok = mint(f->ed, NULL, claims());
    assert_int_equal(sdv_auth_verify(a, tok, strlen(tok), &t, NULL, 0), SDV_AUTH_OK);
    free(tok);
    /* The burst, then 429. */
    for (i = 0; i < 5; i++)
        assert_int_equal(sdv_auth_request(a, t, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                         SDV_AUTH_OK);
    assert_int_equal(sdv_auth_request(a, t, "Vehicle.Speed", SDV_AUTH_READ, msg, sizeof(msg)),
                     SDV_AUTH_TOO_MANY_REQUESTS);
    assert_non_null(strstr(msg, "rate limit"));
    /* Another token (other jti) has its own bucket. */
    c = claims();
    json_object_set_new(c, "jti", json_string("tok-2"));
    tok = mint(f->ed, NULL, c);
    assert_int_equal(sdv_auth_verify(a, tok, strlen(tok), &u, NULL, 0), SDV_AUTH_OK);
    free(tok);
    assert_int_equal(sdv_auth_rate_take(a, u), SDV_AUTH_OK);
    /* 10/s refills one request per 100 ms. */
    f->now_ms += 99;
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_TOO_MANY_REQUESTS);
    f->now_ms += 1;
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_OK);
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_TOO_MANY_REQUESTS);
    /* A long pause refills up to the burst, not beyond. */
    f->now_ms += 60 * 1000;
    for (i = 0; i < 5; i++)
        assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_OK);
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_TOO_MANY_REQUESTS);
    /* A same-jti token re-verified shares the bucket (a fresh session is no way out). */
    sdv_auth_token_destroy(t);
    tok = mint(f->ed, NULL, claims());
    assert_int_equal(sdv_auth_verify(a, tok, strlen(tok), &t, NULL, 0), SDV_AUTH_OK);
    free(tok);
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_TOO_MANY_REQUESTS);
    /* Without a jti the subject is the key: two tokens of one subject share a bucket. */
    {
        struct sdv_auth_token *s1 = NULL, *s2 = NULL;

        c = claims();
        json_object_del(c, "jti");
        json_object_set_new(c, "sub", json_string("no-jti-app"));
        tok = mint(f->ed, NULL, json_deep_copy(c));
        assert_int_equal(sdv_auth_verify(a, tok, strlen(tok), &s1, NULL, 0), SDV_AUTH_OK);
        free(tok);
        json_object_set_new(c, "exp", json_integer(NOW_S + 900));
        tok = mint(f->ed, NULL, c);
        assert_int_equal(sdv_auth_verify(a, tok, strlen(tok), &s2, NULL, 0), SDV_AUTH_OK);
        free(tok);
        for (i = 0; i < 5; i++)
            assert_int_equal(sdv_auth_rate_take(a, i % 2 ? s1 : s2), SDV_AUTH_OK);
        assert_int_equal(sdv_auth_rate_take(a, s1), SDV_AUTH_TOO_MANY_REQUESTS);
        assert_int_equal(sdv_auth_rate_take(a, s2), SDV_AUTH_TOO_MANY_REQUESTS);
        sdv_auth_token_destroy(s1);
        sdv_auth_token_destroy(s2);
    }
    /* Many other tokens evict buckets without growing the table. */
    for (i = 0; i < 100; i++) {
        struct sdv_auth_token *v = NULL;
        char jti[32];

        c = claims();
        snprintf(jti, sizeof(jti), "flood-%d", i);
        json_object_set_new(c, "jti", json_string(jti));
        tok = mint(f->ed, NULL, c);
        assert_int_equal(sdv_auth_verify(a, tok, strlen(tok), &v, NULL, 0), SDV_AUTH_OK);
        assert_int_equal(sdv_auth_rate_take(a, v), SDV_AUTH_OK);
        sdv_auth_token_destroy(v);
        free(tok);
        f->now_ms += 1;
    }
    sdv_auth_token_destroy(t);
    sdv_auth_token_destroy(u);
    sdv_auth_destroy(a);
}

/* A long pause at a high rate refills to the burst, without overflowing on the way. */
static void test_rate_limit_extremes(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_config cfg = {.rate_per_s = UINT32_MAX, .burst = 2};
    struct sdv_auth *a = make_auth(f, &cfg);
    struct sdv_auth_token *t = NULL;
    char *tok;

    add_pub(a, NULL, f->ed);
    tok = mint(f->ed, NULL, claims());
    assert_int_equal(sdv_auth_verify(a, tok, strlen(tok), &t, NULL, 0), SDV_AUTH_OK);
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_OK);
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_OK);
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_TOO_MANY_REQUESTS);
    f->now_ms += 10LL * 365 * 86400 * 1000;
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_OK);
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_OK);
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_TOO_MANY_REQUESTS);
    /* A clock that steps back refills nothing and breaks nothing. */
    f->now_ms -= 1000;
    assert_int_equal(sdv_auth_rate_take(a, t), SDV_AUTH_TOO_MANY_REQUESTS);
    sdv_auth_token_destroy(t);
    free(tok);
    sdv_auth_destroy(a);
}

/* ---- Audit log -------------------------------------------------------------------------- */

static char *read_text(const char *path)
{
    struct sdv_buf b;

    sdv_buf_init(&b, 1024 * 1024);
    assert_int_equal(sdv_fs_read(path, &b), SDV_OK);
    return sdv_buf_steal(&b, NULL);
}

static void write_text(const char *path, const char *s, size_t n)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(s, 1, n, fp), n);
    fclose(fp);
}

static void test_audit_chain(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_audit *au = NULL;
    struct sdv_auth_token *t = NULL;
    char path[128], err[256], *tok, *text, *p, *sig;
    uint64_t lines = 0;
    size_t n;

    snprintf(path, sizeof(path), "%s/audit.jsonl", f->dir);
    assert_int_equal(sdv_auth_audit_open(path, 1, &au, err, sizeof(err)), SDV_OK);
    sdv_auth_set_audit(f->a, au);
    tok = mint(f->ed, "ed1", claims());
    assert_int_equal(sdv_auth_verify(f->a, tok, strlen(tok), &t, NULL, 0), SDV_AUTH_OK);
    /* An allowed read is not logged; an allowed actuation is; denials are. */
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                     SDV_AUTH_OK);
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Cabin.HVAC.IsAirConditioningActive",
                                      SDV_AUTH_ACTUATE, NULL, 0),
                     SDV_AUTH_OK);
    assert_int_equal(
            sdv_auth_request(f->a, t, "Vehicle.Body.Trunk.Rear.IsOpen", SDV_AUTH_ACTUATE, NULL, 0),
            SDV_AUTH_FORBIDDEN);
    assert_int_equal(sdv_auth_request(f->a, NULL, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                     SDV_AUTH_MISSING_TOKEN);
    sig = strrchr(tok, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(f->a, tok), SDV_AUTH_INVALID_TOKEN);
    sdv_auth_set_audit(f->a, NULL);
    sdv_auth_audit_destroy(au);

    assert_int_equal(sdv_auth_audit_verify_file(path, &lines, err, sizeof(err)), SDV_OK);
    assert_int_equal(lines, 4);
    text = read_text(path);
    assert_non_null(strstr(text, "\"seq\":1,"));
    assert_non_null(strstr(text, "\"action\":\"actuate\",\"path\":\"Vehicle.Cabin.HVAC."
                                 "IsAirConditioningActive\",\"result\":\"allowed\""));
    assert_non_null(strstr(text, "\"path\":\"Vehicle.Body.Trunk.Rear.IsOpen\",\"result\":"
                                 "\"denied\",\"status\":403,\"error\":\"forbidden_request\""));
    assert_non_null(strstr(text, "\"sub\":\"app-42\",\"client\":\"climate-app\""));
    assert_non_null(strstr(text, "\"action\":\"authenticate\""));
    assert_non_null(strstr(text, "\"reason\":\"granted by scope\""));
    assert_non_null(strstr(text, "\"prev\":\"0000000000000000000000000000000000000000000000000"
                                 "000000000000000\""));
    /* Never the token: neither its signature nor its payload part. */
    assert_null(strstr(text, sig + 1));
    *(strrchr(tok, '.')) = '\0';
    assert_null(strstr(text, strchr(tok, '.') + 1));

    /* Reopening continues the chain. */
    assert_int_equal(sdv_auth_audit_open(path, 0, &au, err, sizeof(err)), SDV_OK);
    sdv_auth_set_audit(f->a, au);
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Cabin.HVAC.IsAirConditioningActive",
                                      SDV_AUTH_ACTUATE, NULL, 0),
                     SDV_AUTH_OK);
    sdv_auth_set_audit(f->a, NULL);
    sdv_auth_audit_destroy(au);
    assert_int_equal(sdv_auth_audit_verify_file(path, &lines, err, sizeof(err)), SDV_OK);
    assert_int_equal(lines, 5);
    free(text);
    text = read_text(path);
    n = strlen(text);

    /* A torn last line (crash in the middle of a write) is cut at the next open. */
    write_text(path, text, n - 10);
    assert_int_equal(sdv_auth_audit_verify_file(path, &lines, err, sizeof(err)), SDV_EPARSE);
    assert_non_null(strstr(err, "torn"));
    assert_int_equal(sdv_auth_audit_open(path, 0, &au, err, sizeof(err)), SDV_OK);
    sdv_auth_audit_destroy(au);
    assert_int_equal(sdv_auth_audit_verify_file(path, &lines, err, sizeof(err)), SDV_OK);
    assert_int_equal(lines, 4);

    /* Tampering: a changed character, a removed line, two lines swapped. */
    p = strstr(text, "\"result\":\"denied\"");
    assert_non_null(p);
    memcpy(p, "\"result\":\"allowd\"", 17);
    write_text(path, text, n);
    assert_int_not_equal(sdv_auth_audit_verify_file(path, &lines, err, sizeof(err)), SDV_OK);
    memcpy(p, "\"result\":\"denied\"", 17);
    p = strstr(text, "app-42");
    assert_non_null(p);
    p[5] = '3';
    write_text(path, text, n);
    assert_int_equal(sdv_auth_audit_verify_file(path, &lines, err, sizeof(err)), SDV_EHASH);
    assert_non_null(strstr(err, "modified"));
    p[5] = '2';
    {
        char *l2 = strchr(text, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
        struct sdv_buf b;

        sdv_buf_init(&b, n + 1);
        sdv_buf_append(&b, text, (size_t)(l2 - text));
        sdv_buf_append(&b, l3, n - (size_t)(l3 - text));
        write_text(path, (const char *)b.data, b.len);
        assert_int_equal(sdv_auth_audit_verify_file(path, &lines, err, sizeof(err)), SDV_EHASH);
        assert_int_equal(lines, 1);
        sdv_buf_reset(&b);
        sdv_buf_append(&b, text, (size_t)(l2 - text));
        sdv_buf_append(&b, l3, (size_t)(strchr(l3, '\n') + 1 - l3));
        sdv_buf_append(&b, l2, (size_t)(l3 - l2));
        write_text(path, (const char *)b.data, b.len);
        assert_int_equal(sdv_auth_audit_verify_file(path, &lines, err, sizeof(err)), SDV_EHASH);
        sdv_buf_free(&b);
    }
    /* The untouched text verifies, so each refusal above came from its change. */
    write_text(path, text, n);
    assert_int_equal(sdv_auth_audit_verify_file(path, &lines, err, sizeof(err)), SDV_OK);
    free(text);
    free(tok);
    sdv_auth_token_destroy(t);
}

struct sink {
    int calls;
    int fail;
    char last[SDV_AUTH_AUDIT_LINE_LEN_MAX];
};

static enum sdv_err sink_write(void *ud, const char *line, size_t len)
{
    struct sink *s = ud;

    if (s->fail)
        return SDV_EIO;
    s->calls++;
    assert_true(len < sizeof(s->last));
    assert_int_equal(line[len - 1], '\n');
    memcpy(s->last, line, len);
    s->last[len] = '\0';
    return SDV_OK;
}

static void test_audit_callback_and_budget(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_audit *au = NULL;
    struct sdv_auth_token *t = NULL;
    struct sink s = {0};
    char msg[SDV_AUTH_MSG_LEN], *tok;
    int i;

    assert_int_equal(sdv_auth_audit_create(sink_write, &s, &au), SDV_OK);
    sdv_auth_set_audit(f->a, au);
    tok = mint(f->ed, "ed1", claims());
    assert_int_equal(sdv_auth_verify(f->a, tok, strlen(tok), &t, NULL, 0), SDV_AUTH_OK);
    /* A flood of denials in one second: only the budget is written... */
    for (i = 0; i < 150; i++)
        assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Body", SDV_AUTH_READ, NULL, 0),
                         SDV_AUTH_FORBIDDEN);
    assert_int_equal(s.calls, SDV_AUTH_AUDIT_DENIALS_PER_S);
    /* ... and the next line, a second later, counts the rest. */
    f->now_ms += 1000;
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Body", SDV_AUTH_READ, NULL, 0),
                     SDV_AUTH_FORBIDDEN);
    assert_int_equal(s.calls, SDV_AUTH_AUDIT_DENIALS_PER_S + 1);
    assert_non_null(strstr(s.last, "\"suppressed\":50,"));
    /* An actuation that cannot be recorded does not happen. */
    s.fail = 1;
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Cabin.HVAC.IsAirConditioningActive",
                                      SDV_AUTH_ACTUATE, msg, sizeof(msg)),
                     SDV_AUTH_UNAVAILABLE);
    assert_non_null(strstr(msg, "audit"));
    /* Reads do not depend on the log. */
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                     SDV_AUTH_OK);
    sdv_auth_set_audit(f->a, NULL);
    sdv_auth_audit_destroy(au);
    sdv_auth_token_destroy(t);
    free(tok);
}

/* A full disk: the actuation is refused, a read still works. */
/* One take per request: the further signals of a request (sdv_auth_request_more) are checked
 * and audited like the first but never drain the bucket, whether they are allowed or denied. */
static void test_request_more_takes_nothing(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_config cfg = {.rate_per_s = 10, .burst = 3, .buckets_max = 8};
    struct sdv_auth *a = make_auth(f, &cfg);
    struct sdv_auth_audit *au = NULL;
    struct sdv_auth_token *t = NULL;
    struct sink s = {0};
    char msg[SDV_AUTH_MSG_LEN], *tok;
    int req, i;

    add_pub(a, NULL, f->ed);
    assert_int_equal(sdv_auth_audit_create(sink_write, &s, &au), SDV_OK);
    sdv_auth_set_audit(a, au);
    tok = mint(f->ed, NULL, claims());
    assert_int_equal(sdv_auth_verify(a, tok, strlen(tok), &t, NULL, 0), SDV_AUTH_OK);
    free(tok);
    /* Three requests (the burst), each naming 50 signals, half of them outside the scope. */
    for (req = 0; req < 3; req++) {
        assert_int_equal(sdv_auth_request(a, t, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                         SDV_AUTH_OK);
        for (i = 0; i < 49; i++)
            assert_int_equal(sdv_auth_request_more(a, t,
                                                   i % 2 ? "Vehicle.Speed" : "Vehicle.Body.Horn",
                                                   SDV_AUTH_READ, msg, sizeof(msg)),
                             i % 2 ? SDV_AUTH_OK : SDV_AUTH_FORBIDDEN);
    }
    assert_non_null(strstr(msg, "does not grant read on Vehicle.Body.Horn"));
    assert_int_equal(s.calls, 3 * 25); /* every denial audited */
    assert_non_null(strstr(s.last, "\"path\":\"Vehicle.Body.Horn\",\"result\":\"denied\""));
    /* The fourth request is the one refused: the bucket held exactly three takes. */
    assert_int_equal(sdv_auth_request(a, t, "Vehicle.Speed", SDV_AUTH_READ, msg, sizeof(msg)),
                     SDV_AUTH_TOO_MANY_REQUESTS);
    assert_int_equal(s.calls, 3 * 25 + 1);
    /* An empty bucket does not refuse the further signals of an admitted request... */
    assert_int_equal(sdv_auth_request_more(a, t, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                     SDV_AUTH_OK);
    /* ... an allowed actuation among them is still audited, and expiry still applies. */
    assert_int_equal(sdv_auth_request_more(a, t, "Vehicle.Cabin.HVAC.IsAirConditioningActive",
                                           SDV_AUTH_ACTUATE, NULL, 0),
                     SDV_AUTH_OK);
    assert_int_equal(s.calls, 3 * 25 + 2);
    assert_non_null(strstr(s.last, "\"result\":\"allowed\""));
    assert_int_equal(sdv_auth_request_more(a, NULL, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                     SDV_AUTH_MISSING_TOKEN);
    f->now_ms += 3600 * 1000;
    assert_int_equal(sdv_auth_request_more(a, t, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                     SDV_AUTH_EXPIRED_TOKEN);
    sdv_auth_token_destroy(t);
    sdv_auth_set_audit(a, NULL);
    sdv_auth_audit_destroy(au);
    sdv_auth_destroy(a);
}

static void test_audit_disk_full(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_audit *au = NULL;
    struct sdv_auth_token *t = NULL;
    char err[256], msg[SDV_AUTH_MSG_LEN], *tok;

    if (access("/dev/full", W_OK) != 0)
        skip();
    assert_int_equal(sdv_auth_audit_open("/dev/full", 0, &au, err, sizeof(err)), SDV_OK);
    sdv_auth_set_audit(f->a, au);
    tok = mint(f->ec, "ec1", claims());
    assert_int_equal(sdv_auth_verify(f->a, tok, strlen(tok), &t, NULL, 0), SDV_AUTH_OK);
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Cabin.HVAC.IsAirConditioningActive",
                                      SDV_AUTH_ACTUATE, msg, sizeof(msg)),
                     SDV_AUTH_UNAVAILABLE);
    assert_int_equal(sdv_auth_request(f->a, t, "Vehicle.Speed", SDV_AUTH_READ, NULL, 0),
                     SDV_AUTH_OK);
    sdv_auth_set_audit(f->a, NULL);
    sdv_auth_audit_destroy(au);
    sdv_auth_token_destroy(t);
    free(tok);
}

static void test_bearer(void **state)
{
    const char *tok = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(sdv_auth_bearer("Bearer abc.def.ghi", &tok, &len), SDV_OK);
    assert_int_equal(len, 11);
    assert_memory_equal(tok, "abc.def.ghi", 11);
    assert_int_equal(sdv_auth_bearer("bearer   abc.def.ghi  ", &tok, &len), SDV_OK);
    assert_int_equal(len, 11);
    assert_int_equal(sdv_auth_bearer("Basic dXNlcjpwYXNz", &tok, &len), SDV_EPARSE);
    assert_int_equal(sdv_auth_bearer("Bearer", &tok, &len), SDV_EPARSE);
    assert_int_equal(sdv_auth_bearer("Bearer   ", &tok, &len), SDV_EPARSE);
    assert_int_equal(sdv_auth_bearer("Bearerabc", &tok, &len), SDV_EPARSE);
    assert_int_equal(sdv_auth_bearer("Bearer a b", &tok, &len), SDV_EPARSE);
}

static void test_config_errors(void **state)
{
    struct fx *f = *state;
    struct sdv_auth_config cfg = {0};
    struct sdv_auth *a = NULL;
    char longs[SDV_AUTH_CLAIM_LEN_MAX + 2];

    assert_int_equal(sdv_auth_create(&cfg, &a), SDV_EINVAL); /* no audience, no clock */
    cfg.audience = "x";
    assert_int_equal(sdv_auth_create(&cfg, &a), SDV_EINVAL); /* no clock */
    cfg.clock = fake_clock;
    cfg.clock_ud = &f->now_ms;
    cfg.leeway_s = SDV_AUTH_LEEWAY_S_MAX + 1;
    assert_int_equal(sdv_auth_create(&cfg, &a), SDV_EINVAL);
    cfg.leeway_s = 0;
    memset(longs, 'v', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    cfg.vin = longs;
    assert_int_equal(sdv_auth_create(&cfg, &a), SDV_EINVAL);
    cfg.vin = NULL;
    assert_int_equal(sdv_auth_create(&cfg, &a), SDV_OK);
    for (int i = 0; i < (int)SDV_AUTH_KEYS_MAX; i++)
        add_pub(a, NULL, f->ed);
    {
        struct sdv_buf pem;

        sdv_buf_init(&pem, 64 * 1024);
        assert_int_equal(sdv_key_public_pem(f->ed, &pem), SDV_OK);
        assert_int_equal(sdv_auth_add_key_pem(a, NULL, pem.data, pem.len), SDV_ELIMIT);
        sdv_buf_free(&pem);
    }
    sdv_auth_destroy(a);
    sdv_auth_destroy(NULL);
    sdv_auth_token_destroy(NULL);
    sdv_auth_audit_destroy(NULL);
    sdv_auth_cache_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_good_tokens, setup, teardown),
            cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
            cmocka_unit_test_setup_teardown(test_not_yet_valid, setup, teardown),
            cmocka_unit_test_setup_teardown(test_audience, setup, teardown),
            cmocka_unit_test_setup_teardown(test_alg_confusion, setup, teardown),
            cmocka_unit_test_setup_teardown(test_typ, setup, teardown),
            cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
            cmocka_unit_test_setup_teardown(test_encoding, setup, teardown),
            cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
            cmocka_unit_test_setup_teardown(test_kid_selection, setup, teardown),
            cmocka_unit_test_setup_teardown(test_vin, setup, teardown),
            cmocka_unit_test_setup_teardown(test_issuer_and_subject, setup, teardown),
            cmocka_unit_test(test_scope_table),
            cmocka_unit_test(test_scope_malformed),
            cmocka_unit_test_setup_teardown(test_check_cache, setup, teardown),
            cmocka_unit_test_setup_teardown(test_purposes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_purposes_config_errors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rate_limit_extremes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_request_more_takes_nothing, setup, teardown),
            cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),
            cmocka_unit_test_setup_teardown(test_audit_callback_and_budget, setup, teardown),
            cmocka_unit_test_setup_teardown(test_audit_disk_full, setup, teardown),
            cmocka_unit_test(test_bearer),
            cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
