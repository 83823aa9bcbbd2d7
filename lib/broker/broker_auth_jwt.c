/*
 * broker_auth_jwt.c - JWT access tokens (RFC 9068 on RFC 7519/7515 compact JWS): parsing and
 * verification of untrusted tokens, and minting for tests and tools. Signatures are checked by
 * lib/crypto (OpenSSL); this file only converts between JOSE's raw ECDSA r||s and the DER form
 * OpenSSL speaks, and never parses the claims before the signature is known to be good.
 */
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sdv/broker_auth.h>
#include <sdv/crypto.h>

#include "broker_auth_int.h"

/* ES256 signatures are r||s, 32 bytes each (RFC 7518 section 3.4); Ed25519 ones 64 bytes. */
#define JWS_SIG_LEN     64u
#define ES256_COORD_LEN 32u
/* A DER ECDSA-Sig-Value of P-256 takes at most 72 bytes. */
#define ES256_DER_MAX 80u
/* NumericDate bounds we accept: 0 .. year 5138, so that milliseconds fit comfortably. */
#define NUMERIC_DATE_MAX 100000000000.0
/* base64url is decoded in chunks of this many characters (a multiple of 4). */
#define B64_CHUNK 256u

static int b64url_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

enum sdv_err auth_b64url_decode(const char *s, size_t len, uint8_t *out, size_t out_max,
                                size_t *out_len)
{
    char chunk[B64_CHUNK + 4];
    size_t o = 0, i = 0;

    if (len % 4 == 1)
        return SDV_EPARSE;
    while (i < len) {
        size_t n = len - i > B64_CHUNK ? B64_CHUNK : len - i, got = 0, k;
        enum sdv_err err;

        for (k = 0; k < n; k++) {
            char c = s[i + k];

            if (!b64url_char_ok(c))
                return SDV_EPARSE;
            chunk[k] = c == '-' ? '+' : c == '_' ? '/' : c;
        }
        while (k % 4 != 0)
            chunk[k++] = '=';
        err = sdv_base64_decode(chunk, k, out + o, out_max - o, &got);
        if (err != SDV_OK)
            return err;
        o += got;
        i += n;
    }
    *out_len = o;
    return SDV_OK;
}

enum sdv_err auth_b64url_append(struct sdv_buf *b, const uint8_t *p, size_t n)
{
    /* 48 input bytes make 64 characters without padding; only the last chunk is padded. */
    char enc[64 + 1];
    size_t i = 0;

    while (i < n) {
        size_t k = n - i > 48 ? 48 : n - i, m;
        enum sdv_err err;

        sdv_base64_encode(p + i, k, enc);
        m = strlen(enc);
        while (m > 0 && enc[m - 1] == '=')
            m--;
        for (size_t j = 0; j < m; j++)
            enc[j] = enc[j] == '+' ? '-' : enc[j] == '/' ? '_' : enc[j];
        err = sdv_buf_append(b, enc, m);
        if (err != SDV_OK)
            return err;
        i += k;
    }
    return SDV_OK;
}

/* A string from a token, shown in a message: printable ASCII, at most 48 bytes. */
static const char *printable(const char *s, char *buf, size_t buf_len)
{
    return auth_printable(s, SIZE_MAX, buf, buf_len < 49 ? buf_len : 49);
}

/* r||s (64 bytes) -> DER ECDSA-Sig-Value, with OpenSSL doing the encoding. */
static enum sdv_err es256_raw_to_der(const uint8_t *raw, uint8_t *der, size_t *der_len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, ES256_COORD_LEN, NULL);
    BIGNUM *s = BN_bin2bn(raw + ES256_COORD_LEN, ES256_COORD_LEN, NULL);
    unsigned char *p = der;
    int n;

    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        ECDSA_SIG_free(sig);
        BN_free(r);
        BN_free(s);
        ERR_clear_error();
        return SDV_ENOMEM;
    }
    n = i2d_ECDSA_SIG(sig, NULL);
    if (n <= 0 || (size_t)n > ES256_DER_MAX || i2d_ECDSA_SIG(sig, &p) != n) {
        ECDSA_SIG_free(sig);
        ERR_clear_error();
        return SDV_ECRYPTO;
    }
    ECDSA_SIG_free(sig);
    *der_len = (size_t)n;
    return SDV_OK;
}

/* DER ECDSA-Sig-Value -> r||s (64 bytes). */
static enum sdv_err es256_der_to_raw(const uint8_t *der, size_t der_len, uint8_t *raw)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    const BIGNUM *r, *s;
    enum sdv_err err = SDV_OK;

    if (sig == NULL) {
        ERR_clear_error();
        return SDV_ECRYPTO;
    }
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, ES256_COORD_LEN) != (int)ES256_COORD_LEN ||
        BN_bn2binpad(s, raw + ES256_COORD_LEN, ES256_COORD_LEN) != (int)ES256_COORD_LEN) {
        ERR_clear_error();
        err = SDV_ECRYPTO;
    }
    ECDSA_SIG_free(sig);
    return err;
}

/* Reads a NumericDate claim into milliseconds. 1: present and good, 0: absent, -1: bad. */
static int numeric_date_ms(const json_t *claims, const char *name, int64_t *ms)
{
    const json_t *v = json_object_get(claims, name);
    double d;

    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return -1;
    d = json_number_value(v);
    if (!(d >= 0.0 && d <= NUMERIC_DATE_MAX))
        return -1;
    *ms = json_is_integer(v) ? (int64_t)json_integer_value(v) * 1000 : (int64_t)(d * 1000.0);
    return 1;
}

/* Reads an optional string claim into dst. 1: present, 0: absent, -1: not a string or too
 * long. */
static int string_claim(const json_t *claims, const char *name, char *dst, size_t dst_len)
{
    const json_t *v = json_object_get(claims, name);

    dst[0] = '\0';
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= dst_len ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 1;
}

static int typ_ok(const struct sdv_auth *a, const char *typ)
{
    return strcasecmp(typ, "at+jwt") == 0 || strcasecmp(typ, "application/at+jwt") == 0 ||
           (a->accept_typ_jwt && strcasecmp(typ, "JWT") == 0);
}

static int aud_contains(const struct sdv_auth *a, const json_t *aud)
{
    size_t i;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), a->audience) == 0;
    if (!json_is_array(aud) || json_array_size(aud) > SDV_AUTH_AUD_MAX)
        return -1;
    for (i = 0; i < json_array_size(aud); i++) {
        const json_t *v = json_array_get(aud, i);

        if (!json_is_string(v))
            return -1;
        if (strcmp(json_string_value(v), a->audience) == 0)
            return 1;
    }
    return 0;
}

static const struct auth_purpose *purpose_find(const struct sdv_auth *a, const char *name)
{
    size_t lo = 0, hi = a->npurposes;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, a->purposes[mid].name);

        if (c == 0)
            return &a->purposes[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Checks the JOSE header and the signature. */
static enum sdv_auth_status check_signature(struct sdv_auth *a, const char *token, size_t d1,
                                            size_t d2, size_t len, char *msg, size_t msg_len)
{
    uint8_t hbuf[SDV_AUTH_HEADER_LEN_MAX], sig[JWS_SIG_LEN + 4], der[ES256_DER_MAX];
    const uint8_t *vsig = sig;
    size_t hlen, sig_len, vsig_len, tried = 0;
    char jerr[96], pbuf[64];
    const char *alg, *typ, *kid = NULL;
    enum sdv_key_type want;
    json_t *hdr = NULL, *v;
    enum sdv_auth_status st = SDV_AUTH_INVALID_TOKEN;
    enum sdv_err err;

    err = auth_b64url_decode(token, d1, hbuf, sizeof(hbuf), &hlen);
    if (err != SDV_OK) {
        sdv_msgf(msg, msg_len, "token header: %s",
                 err == SDV_ETOOBIG ? "larger than 1 KiB" : "not base64url");
        return st;
    }
    if (sdv_json_parse(hbuf, hlen, &hdr, jerr, sizeof(jerr)) != SDV_OK) {
        /* The parser's message may quote the input: only printable ASCII goes out. */
        sdv_msgf(msg, msg_len, "token header: not JSON (%s)",
                 auth_printable(jerr, SIZE_MAX, pbuf, sizeof(pbuf)));
        return st;
    }
    if (!json_is_object(hdr)) {
        sdv_msgf(msg, msg_len, "token header: not a JSON object");
        goto out;
    }
    if (json_object_get(hdr, "crit") != NULL) {
        sdv_msgf(msg, msg_len, "token header: \"crit\" extensions are not supported");
        goto out;
    }
    alg = json_string_value(json_object_get(hdr, "alg"));
    if (alg == NULL) {
        sdv_msgf(msg, msg_len, "token header: alg missing");
        goto out;
    }
    if (strcmp(alg, "ES256") == 0) {
        want = SDV_KEY_ECDSA_P256;
    } else if (strcmp(alg, "EdDSA") == 0) {
        want = SDV_KEY_ED25519;
    } else {
        sdv_msgf(msg, msg_len, "token header: alg \"%s\" not accepted (ES256 or EdDSA only)",
                 printable(alg, pbuf, sizeof(pbuf)));
        goto out;
    }
    typ = json_string_value(json_object_get(hdr, "typ"));
    if (typ == NULL || !typ_ok(a, typ)) {
        sdv_msgf(msg, msg_len, "token header: typ \"%s\" is not \"at+jwt\" (RFC 9068)",
                 printable(typ, pbuf, sizeof(pbuf)));
        goto out;
    }
    v = json_object_get(hdr, "kid");
    if (v != NULL) {
        kid = json_string_value(v);
        if (kid == NULL || json_string_length(v) > SDV_AUTH_CLAIM_LEN_MAX) {
            sdv_msgf(msg, msg_len, "token header: kid is not a string of at most %u bytes",
                     SDV_AUTH_CLAIM_LEN_MAX);
            goto out;
        }
    }
    err = auth_b64url_decode(token + d2 + 1, len - d2 - 1, sig, sizeof(sig), &sig_len);
    if (err != SDV_OK || sig_len != JWS_SIG_LEN) {
        sdv_msgf(msg, msg_len, "token signature: %s",
                 err != SDV_OK && err != SDV_ETOOBIG ? "not base64url" : "not 64 bytes");
        goto out;
    }
    vsig_len = sig_len;
    if (want == SDV_KEY_ECDSA_P256) {
        err = es256_raw_to_der(sig, der, &vsig_len);
        if (err != SDV_OK) {
            sdv_msgf(msg, msg_len, "token signature: %s", sdv_strerror(err));
            st = SDV_AUTH_UNAVAILABLE;
            goto out;
        }
        vsig = der;
    }
    for (size_t i = 0; i < a->nkeys; i++) {
        const struct auth_key *k = &a->keys[i];

        if (kid != NULL && (!k->has_kid || strcmp(k->kid, kid) != 0))
            continue;
        if (sdv_key_type(k->key) != want) {
            if (kid != NULL) {
                sdv_msgf(msg, msg_len,
                         "token header: alg %s does not match the type of key "
                         "\"%s\"",
                         alg, printable(kid, pbuf, sizeof(pbuf)));
                goto out;
            }
            continue;
        }
        tried++;
        err = sdv_key_verify(k->key, token, d2, vsig, vsig_len);
        if (err == SDV_OK) {
            st = SDV_AUTH_OK;
            goto out;
        }
        if (err != SDV_ESIG) {
            sdv_msgf(msg, msg_len, "token signature: %s", sdv_strerror(err));
            st = SDV_AUTH_UNAVAILABLE;
            goto out;
        }
    }
    if (tried == 0 && kid != NULL)
        sdv_msgf(msg, msg_len, "token header: unknown kid \"%s\"",
                 printable(kid, pbuf, sizeof(pbuf)));
    else if (tried == 0)
        sdv_msgf(msg, msg_len, "token header: no %s key configured", alg);
    else
        sdv_msgf(msg, msg_len, "token signature: does not verify");
out:
    json_decref(hdr);
    return st;
}

/* Checks the claims and fills t (whose grants it sets). */
static enum sdv_auth_status check_claims(struct sdv_auth *a, const json_t *c,
                                         struct sdv_auth_token *t, char *msg, size_t msg_len)
{
    char buf[SDV_AUTH_CLAIM_LEN_MAX + 1], when[SDV_TIME_STR_LEN], pbuf[64];
    const json_t *aud, *scope;
    int64_t now = a->clock(a->clock_ud), exp_ms, ms;
    int rc;

    if (!json_is_object(c)) {
        sdv_msgf(msg, msg_len, "token claims: not a JSON object");
        return SDV_AUTH_INVALID_TOKEN;
    }
    rc = numeric_date_ms(c, "exp", &exp_ms);
    if (rc <= 0) {
        sdv_msgf(msg, msg_len, "token claims: exp %s", rc == 0 ? "missing" : "not a date");
        return SDV_AUTH_INVALID_TOKEN;
    }
    t->exp_ms = exp_ms + a->leeway_ms;
    t->expiry_ms = t->exp_ms;
    if (now >= t->exp_ms) {
        if (sdv_time_format(exp_ms / 1000, when) != SDV_OK)
            when[0] = '\0';
        sdv_msgf(msg, msg_len, "token expired at %s", when);
        return SDV_AUTH_EXPIRED_TOKEN;
    }
    rc = numeric_date_ms(c, "nbf", &ms);
    if (rc < 0 || (rc > 0 && ms > now + a->leeway_ms)) {
        sdv_msgf(msg, msg_len, "token claims: nbf %s",
                 rc < 0 ? "not a date" : "in the future (not valid yet)");
        return SDV_AUTH_INVALID_TOKEN;
    }
    rc = numeric_date_ms(c, "iat", &ms);
    if (rc < 0 || (rc > 0 && ms > now + a->leeway_ms)) {
        sdv_msgf(msg, msg_len, "token claims: iat %s", rc < 0 ? "not a date" : "in the future");
        return SDV_AUTH_INVALID_TOKEN;
    }
    if (a->has_issuer) {
        rc = string_claim(c, "iss", buf, sizeof(buf));
        if (rc <= 0 || strcmp(buf, a->issuer) != 0) {
            sdv_msgf(msg, msg_len, "token claims: iss \"%s\" is not the trusted issuer",
                     printable(buf, pbuf, sizeof(pbuf)));
            return SDV_AUTH_INVALID_TOKEN;
        }
    }
    aud = json_object_get(c, "aud");
    rc = aud == NULL ? -2 : aud_contains(a, aud);
    if (rc != 1) {
        sdv_msgf(msg, msg_len, "token claims: aud %s",
                 rc == -2 ? "missing"
                 : rc < 0 ? "is neither a string nor an array of at most 16 strings"
                          : "does not name this broker");
        return SDV_AUTH_INVALID_TOKEN;
    }
    if (string_claim(c, "sub", t->sub, sizeof(t->sub)) <= 0 || t->sub[0] == '\0') {
        sdv_msgf(msg, msg_len, "token claims: sub missing or not a string of 1 to %u bytes",
                 SDV_AUTH_CLAIM_LEN_MAX);
        return SDV_AUTH_INVALID_TOKEN;
    }
    rc = string_claim(c, "vin", buf, sizeof(buf));
    if (rc < 0 || (rc > 0 && (!a->has_vin || strcmp(buf, a->vin) != 0))) {
        sdv_msgf(msg, msg_len, "token claims: vin %s",
                 rc < 0        ? "not a string"
                 : !a->has_vin ? "given, but this broker has no VIN configured"
                               : "is not this vehicle's");
        return SDV_AUTH_INVALID_TOKEN;
    }
    if (string_claim(c, "jti", t->jti, sizeof(t->jti)) < 0 ||
        string_claim(c, "client_id", t->client, sizeof(t->client)) < 0 ||
        (t->client[0] == '\0' && string_claim(c, "azp", t->client, sizeof(t->client)) < 0)) {
        sdv_msgf(msg, msg_len,
                 "token claims: jti, client_id or azp is not a string of at most "
                 "%u bytes",
                 SDV_AUTH_CLAIM_LEN_MAX);
        return SDV_AUTH_INVALID_TOKEN;
    }
    scope = json_object_get(c, "scope");
    rc = string_claim(c, "purpose", buf, sizeof(buf));
    if (rc < 0 || (scope != NULL && rc > 0)) {
        sdv_msgf(msg, msg_len, "token claims: %s",
                 rc < 0 ? "purpose is not a string" : "both scope and purpose given");
        return SDV_AUTH_INVALID_TOKEN;
    }
    if (rc > 0) {
        const struct auth_purpose *p = purpose_find(a, buf);

        if (p == NULL || now < p->not_before_ms || now >= p->expires_ms) {
            sdv_msgf(msg, msg_len, "purpose \"%s\" %s", printable(buf, pbuf, sizeof(pbuf)),
                     p == NULL                ? "is not configured"
                     : now < p->not_before_ms ? "is not valid yet"
                                              : "has expired");
            return SDV_AUTH_FORBIDDEN;
        }
        if (auth_grants_dup(p->grants, &t->grants) != SDV_OK) {
            sdv_msgf(msg, msg_len, "out of memory");
            return SDV_AUTH_UNAVAILABLE;
        }
        auth_strlcpy(t->purpose, sizeof(t->purpose), p->name);
        if (p->expires_ms < t->expiry_ms)
            t->expiry_ms = p->expires_ms;
    } else if (scope != NULL) {
        char gerr[SDV_AUTH_MSG_LEN];
        enum sdv_err err;

        if (!json_is_string(scope)) {
            sdv_msgf(msg, msg_len, "token claims: scope is not a string");
            return SDV_AUTH_INVALID_TOKEN;
        }
        err = sdv_auth_grants_parse(json_string_value(scope), json_string_length(scope), &t->grants,
                                    gerr, sizeof(gerr));
        if (err == SDV_ENOMEM) {
            sdv_msgf(msg, msg_len, "out of memory");
            return SDV_AUTH_UNAVAILABLE;
        }
        if (err != SDV_OK) {
            sdv_msgf(msg, msg_len, "token claims: scope: %s", gerr);
            return SDV_AUTH_INVALID_TOKEN;
        }
    }
    if (t->grants == NULL || t->grants->n == 0) {
        sdv_msgf(msg, msg_len,
                 "token grants nothing on this broker (no read:, actuate: or "
                 "provide: scope, no purpose)");
        return SDV_AUTH_FORBIDDEN;
    }
    return SDV_AUTH_OK;
}

static enum sdv_auth_status verify_token(struct sdv_auth *a, const char *token, size_t len,
                                         struct sdv_auth_token *t, char *msg, size_t msg_len)
{
    uint8_t pbuf[SDV_AUTH_TOKEN_LEN_MAX];
    const char *d1, *d2;
    enum sdv_auth_status st;
    size_t plen;
    json_t *claims = NULL;
    char jerr[96], shown[96];

    if (token == NULL || len == 0) {
        sdv_msgf(msg, msg_len, "no access token");
        return SDV_AUTH_MISSING_TOKEN;
    }
    if (len > SDV_AUTH_TOKEN_LEN_MAX) {
        sdv_msgf(msg, msg_len, "token longer than %u bytes", SDV_AUTH_TOKEN_LEN_MAX);
        return SDV_AUTH_INVALID_TOKEN;
    }
    d1 = memchr(token, '.', len);
    d2 = d1 == NULL ? NULL : memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
    if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL || d1 == token ||
        d2 == d1 + 1 || d2 + 1 == token + len) {
        sdv_msgf(msg, msg_len, "token is not a signed JWT (header.payload.signature)");
        return SDV_AUTH_INVALID_TOKEN;
    }
    st = check_signature(a, token, (size_t)(d1 - token), (size_t)(d2 - token), len, msg, msg_len);
    if (st != SDV_AUTH_OK)
        return st;
    /* Only now that the issuer signed them are the claims parsed. */
    if (auth_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), pbuf, sizeof(pbuf), &plen) != SDV_OK) {
        sdv_msgf(msg, msg_len, "token claims: not base64url");
        return SDV_AUTH_INVALID_TOKEN;
    }
    if (sdv_json_parse(pbuf, plen, &claims, jerr, sizeof(jerr)) != SDV_OK) {
        sdv_msgf(msg, msg_len, "token claims: not JSON (%s)",
                 auth_printable(jerr, SIZE_MAX, shown, sizeof(shown)));
        return SDV_AUTH_INVALID_TOKEN;
    }
    st = check_claims(a, claims, t, msg, msg_len);
    json_decref(claims);
    return st;
}

enum sdv_auth_status sdv_auth_verify(struct sdv_auth *a, const char *token, size_t len,
                                     struct sdv_auth_token **out, char *msg, size_t msg_len)
{
    char reason[SDV_AUTH_MSG_LEN];
    struct sdv_auth_token *t;
    enum sdv_auth_status st;

    if (out != NULL)
        *out = NULL;
    if (a == NULL || out == NULL) {
        sdv_msgf(msg, msg_len, "invalid argument");
        return SDV_AUTH_UNAVAILABLE;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        sdv_msgf(msg, msg_len, "out of memory");
        return SDV_AUTH_UNAVAILABLE;
    }
    reason[0] = '\0';
    st = verify_token(a, token, len, t, reason, sizeof(reason));
    if (st == SDV_AUTH_OK) {
        char key[SDV_AUTH_CLAIM_LEN_MAX + 3];

        snprintf(key, sizeof(key), "%s:%s", t->jti[0] != '\0' ? "j" : "s",
                 t->jti[0] != '\0' ? t->jti : t->sub);
        t->rate_key = auth_hash64(key);
        pthread_mutex_lock(&a->deny_lock);
        t->serial = ++a->token_serial;
        pthread_mutex_unlock(&a->deny_lock);
        *out = t;
        return SDV_AUTH_OK;
    }
    sdv_msgf(msg, msg_len, "%s", reason);
    auth_audit_denial(a, t, "authenticate", "", st, reason);
    sdv_auth_token_destroy(t);
    return st;
}

enum sdv_err sdv_auth_bearer(const char *value, const char **tok, size_t *len)
{
    const char *p, *end;

    if (value == NULL || tok == NULL || len == NULL)
        return SDV_EINVAL;
    if (strncasecmp(value, "Bearer", 6) != 0 || value[6] != ' ')
        return SDV_EPARSE;
    p = value + 6;
    while (*p == ' ')
        p++;
    end = p + strlen(p);
    while (end > p && end[-1] == ' ')
        end--;
    if (end == p || memchr(p, ' ', (size_t)(end - p)) != NULL)
        return SDV_EPARSE;
    *tok = p;
    *len = (size_t)(end - p);
    return SDV_OK;
}

void sdv_auth_token_destroy(struct sdv_auth_token *t)
{
    if (t == NULL)
        return;
    sdv_auth_grants_destroy(t->grants);
    free(t);
}

const char *sdv_auth_token_subject(const struct sdv_auth_token *t)
{
    return t->sub;
}

const char *sdv_auth_token_client(const struct sdv_auth_token *t)
{
    return t->client;
}

const char *sdv_auth_token_id(const struct sdv_auth_token *t)
{
    return t->jti;
}

const char *sdv_auth_token_purpose(const struct sdv_auth_token *t)
{
    return t->purpose;
}

int64_t sdv_auth_token_expiry_ms(const struct sdv_auth_token *t)
{
    return t->expiry_ms;
}

enum sdv_err sdv_auth_token_mint(const struct sdv_key *key, const char *kid, const json_t *claims,
                                 struct sdv_buf *out)
{
    uint8_t sig[SDV_SIG_LEN_MAX], raw[JWS_SIG_LEN];
    const uint8_t *jsig = sig;
    enum sdv_key_type kt;
    struct sdv_buf tok;
    char *hs = NULL, *ps = NULL;
    json_t *hdr = NULL;
    size_t sig_len = 0;
    enum sdv_err err;

    if (key == NULL || !json_is_object(claims) || out == NULL)
        return SDV_EINVAL;
    if (!sdv_key_has_private(key))
        return SDV_EINVAL;
    kt = sdv_key_type(key);
    if (kt != SDV_KEY_ED25519 && kt != SDV_KEY_ECDSA_P256)
        return SDV_EUNSUPPORTED;
    hdr = json_pack("{s:s, s:s}", "alg", kt == SDV_KEY_ED25519 ? "EdDSA" : "ES256", "typ",
                    "at+jwt");
    if (hdr == NULL || (kid != NULL && json_object_set_new(hdr, "kid", json_string(kid)) != 0)) {
        json_decref(hdr);
        return SDV_ENOMEM;
    }
    hs = json_dumps(hdr, JSON_COMPACT);
    ps = json_dumps(claims, JSON_COMPACT);
    json_decref(hdr);
    sdv_buf_init(&tok, SDV_AUTH_TOKEN_LEN_MAX);
    if (hs == NULL || ps == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    err = auth_b64url_append(&tok, (const uint8_t *)hs, strlen(hs));
    if (err == SDV_OK)
        err = sdv_buf_putc(&tok, '.');
    if (err == SDV_OK)
        err = auth_b64url_append(&tok, (const uint8_t *)ps, strlen(ps));
    if (err == SDV_OK)
        err = sdv_key_sign(key, tok.data, tok.len, sig, sizeof(sig), &sig_len);
    if (err == SDV_OK && kt == SDV_KEY_ECDSA_P256) {
        err = es256_der_to_raw(sig, sig_len, raw);
        jsig = raw;
        sig_len = JWS_SIG_LEN;
    }
    if (err == SDV_OK)
        err = sdv_buf_putc(&tok, '.');
    if (err == SDV_OK)
        err = auth_b64url_append(&tok, jsig, sig_len);
    if (err == SDV_OK)
        err = sdv_buf_append(out, tok.data, tok.len);
out:
    sdv_buf_free(&tok);
    free(hs);
    free(ps);
    return err;
}
