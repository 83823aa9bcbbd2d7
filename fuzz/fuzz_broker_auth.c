/*
 * fuzz_broker_auth.c - feeds untrusted bytes to the access-control parsers of sdv-broker. The
 * first byte chooses what the rest is:
 *   '0' (and anything unlisted)  a compact JWS token, verified as received over the network;
 *   '1'  a claims document: if it parses as a JSON object it is signed (EdDSA, then ES256)
 *        with the fuzzer's own keys and verified, so that every claim check is reached;
 *   '2'  a scope string: compiled, then matched against a few catalog paths;
 *   '3'  a purposes configuration, then a token naming purpose "p" is verified.
 * The context's clock is fixed (2027-01-15T08:00:00Z); seeds in fuzz/corpus/broker_auth were
 * minted with the keys below (`sdv token mint` with a one-year expiry).
 *
 * Checked properties: a refused token never comes with a token object and always with a
 * message; an accepted token has a subject and grants; a failed scope or purpose parse has a
 * message; every message is printable ASCII; nothing crashes or leaks under the sanitizers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/broker_auth.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Test-only keys: they sign nothing but fuzz inputs. */
static const char fuzz_ed_pem[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MC4CAQAwBQYDK2VwBCIEIMwCeiFmOzsojDtHbBZhN+mazn0LQEsndkD6me4Ht3EO\n"
        "-----END PRIVATE KEY-----\n";
static const char fuzz_ec_pem[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQrPEVYBDX8BFA/qE\n"
        "0m9jgrIjvwbA1LCAfZ/J9bq8uUWhRANCAAQDLg23AexNSUTA3QPFXe9xFELZTHvN\n"
        "ElmGS//96pjNcocWNOvcfBzaBNYwER1q9Rmn4+JCFWRB22kFt++ajB2H\n"
        "-----END PRIVATE KEY-----\n";

static const char *const fuzz_paths[] = {
        "Vehicle.Speed",
        "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
        "Vehicle.Body.Trunk.Rear.IsOpen",
        "Vehicle",
        "Vehicle..Speed",
};

static int64_t fuzz_clock(void *ud)
{
    (void)ud;
    return 1800000000000LL;
}

static struct sdv_auth *fuzz_auth(void)
{
    struct sdv_auth_config cfg = {.audience = "sdv-broker",
                                  .vin = "WDD1234567890ABCD",
                                  .leeway_s = SDV_AUTH_LEEWAY_S_DEFAULT,
                                  .rate_per_s = 100,
                                  .buckets_max = 16,
                                  .clock = fuzz_clock};
    struct sdv_auth *a = NULL;

    if (sdv_auth_create(&cfg, &a) != SDV_OK ||
        sdv_auth_add_key_pem(a, "ed1", fuzz_ed_pem, sizeof(fuzz_ed_pem) - 1) != SDV_OK ||
        sdv_auth_add_key_pem(a, "ec1", fuzz_ec_pem, sizeof(fuzz_ec_pem) - 1) != SDV_OK)
        abort();
    return a;
}

/* Messages go into VISS JSON errors and the audit log: printable ASCII only, however the input
 * was cut. */
static void check_printable(const char *msg)
{
    for (; *msg != '\0'; msg++) {
        if (*msg < 0x20 || *msg > 0x7e)
            abort();
    }
}

static void fuzz_verify(struct sdv_auth *a, const char *tok, size_t len)
{
    struct sdv_auth_token *t = NULL;
    char msg[SDV_AUTH_MSG_LEN];
    enum sdv_auth_status st;

    msg[0] = '\0';
    st = sdv_auth_verify(a, tok, len, &t, msg, sizeof(msg));
    if (st != SDV_AUTH_OK) {
        if (t != NULL || msg[0] == '\0')
            abort();
        check_printable(msg);
        return;
    }
    if (t == NULL || sdv_auth_token_subject(t)[0] == '\0')
        abort();
    for (size_t i = 0; i < sizeof(fuzz_paths) / sizeof(fuzz_paths[0]); i++) {
        (void)sdv_auth_check(a, t, fuzz_paths[i], SDV_AUTH_READ, NULL, 0);
        (void)sdv_auth_request(a, t, fuzz_paths[i], SDV_AUTH_ACTUATE, NULL, 0);
    }
    sdv_auth_token_destroy(t);
}

static void fuzz_claims(struct sdv_auth *a, const uint8_t *data, size_t size)
{
    struct sdv_key *keys[2] = {NULL, NULL};
    json_t *claims = NULL;

    if (sdv_json_parse(data, size, &claims, NULL, 0) != SDV_OK)
        return;
    if (json_is_object(claims) &&
        sdv_key_load_pem(fuzz_ed_pem, sizeof(fuzz_ed_pem) - 1, &keys[0]) == SDV_OK &&
        sdv_key_load_pem(fuzz_ec_pem, sizeof(fuzz_ec_pem) - 1, &keys[1]) == SDV_OK) {
        for (int k = 0; k < 2; k++) {
            struct sdv_buf tok;

            sdv_buf_init(&tok, SDV_AUTH_TOKEN_LEN_MAX);
            if (sdv_auth_token_mint(keys[k], k == 0 ? "ed1" : "ec1", claims, &tok) == SDV_OK)
                fuzz_verify(a, (const char *)tok.data, tok.len);
            sdv_buf_free(&tok);
        }
    }
    sdv_key_destroy(keys[0]);
    sdv_key_destroy(keys[1]);
    json_decref(claims);
}

static void fuzz_scope(const uint8_t *data, size_t size)
{
    struct sdv_auth_grants *g = NULL;
    char err[SDV_AUTH_MSG_LEN];
    enum sdv_err e;

    err[0] = '\0';
    e = sdv_auth_grants_parse((const char *)data, size, &g, err, sizeof(err));
    if (e != SDV_OK) {
        if (g != NULL || (e != SDV_ENOMEM && err[0] == '\0'))
            abort();
        check_printable(err);
        return;
    }
    for (size_t i = 0; i < sizeof(fuzz_paths) / sizeof(fuzz_paths[0]); i++) {
        unsigned mask = sdv_auth_grants_actions(g, fuzz_paths[i]);

        /* Whatever grants an action grants read too. */
        if (mask != 0 && (mask & SDV_AUTH_READ) == 0)
            abort();
    }
    sdv_auth_grants_destroy(g);
}

static void fuzz_purposes(struct sdv_auth *a, const uint8_t *data, size_t size)
{
    static const char claims_text[] =
            "{\"sub\":\"f\",\"aud\":\"sdv-broker\",\"exp\":1900000000,\"purpose\":\"p\"}";
    struct sdv_key *key = NULL;
    char err[SDV_AUTH_MSG_LEN];
    json_t *cfg = NULL, *claims = NULL;
    struct sdv_buf tok;
    enum sdv_err e;

    if (sdv_json_parse(data, size, &cfg, NULL, 0) != SDV_OK)
        return;
    err[0] = '\0';
    e = sdv_auth_set_purposes(a, cfg, err, sizeof(err));
    json_decref(cfg);
    if (e != SDV_OK) {
        if (e != SDV_ENOMEM && err[0] == '\0')
            abort();
        check_printable(err);
        return;
    }
    sdv_buf_init(&tok, SDV_AUTH_TOKEN_LEN_MAX);
    if (sdv_json_parse(claims_text, sizeof(claims_text) - 1, &claims, NULL, 0) == SDV_OK &&
        sdv_key_load_pem(fuzz_ed_pem, sizeof(fuzz_ed_pem) - 1, &key) == SDV_OK &&
        sdv_auth_token_mint(key, "ed1", claims, &tok) == SDV_OK)
        fuzz_verify(a, (const char *)tok.data, tok.len);
    sdv_buf_free(&tok);
    sdv_key_destroy(key);
    json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdv_auth *a;

    if (size == 0)
        return 0;
    /* A fresh context per input: no state carries over between inputs (rate buckets, budget). */
    a = fuzz_auth();
    switch (data[0]) {
    case '1':
        fuzz_claims(a, data + 1, size - 1);
        break;
    case '2':
        fuzz_scope(data + 1, size - 1);
        break;
    case '3':
        fuzz_purposes(a, data + 1, size - 1);
        break;
    default:
        fuzz_verify(a, (const char *)data + 1, size - 1);
        break;
    }
    sdv_auth_destroy(a);
    return 0;
}
