/*
 * crypto_sign.c - signing and verifying with the key's TUF scheme. This is the hot path of
 * metadata verification: the key was parsed and checked at load time, so a call costs one
 * EVP_MD_CTX and one EVP_DigestVerify()/EVP_DigestSign() and nothing else.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include <sdv/crypto.h>
#include <sdv/limits.h>

#include "crypto_int.h"

#define ED25519_SIG_LEN 64

/* EVP_DigestSign/Verify want a non-NULL message pointer even for an empty message. */
static const uint8_t sign_empty_msg[1];

/*
 * Sets up ctx for the key's scheme: ed25519 is PureEdDSA (no separate digest), ECDSA hashes
 * with SHA-256, RSA uses PSS with SHA-256 and MGF1-SHA-256 and the given salt length.
 */
static int sign_init(EVP_MD_CTX *ctx, const struct sdv_key *key, int verify, int pss_saltlen)
{
    const EVP_MD *md = key->type == SDV_KEY_ED25519 ? NULL : EVP_sha256();
    EVP_PKEY_CTX *pctx = NULL;
    int ok;

    if (verify) {
        ok = EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key->pkey) == 1;
    } else {
        ok = EVP_DigestSignInit(ctx, &pctx, md, NULL, key->pkey) == 1;
    }
    if (ok && key->type == SDV_KEY_RSA) {
        /* One parameter call instead of three: this runs on every verification. */
        OSSL_PARAM params[4];

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
                                                     (char *)OSSL_PKEY_RSA_PAD_MODE_PSS, 0);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
                                                     (char *)OSSL_DIGEST_NAME_SHA2_256, 0);
        params[2] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &pss_saltlen);
        params[3] = OSSL_PARAM_construct_end();
        ok = EVP_PKEY_CTX_set_params(pctx, params) == 1;
    }
    return ok;
}

enum sdv_err sdv_key_sign(const struct sdv_key *key, const void *msg, size_t msg_len, uint8_t *sig,
                          size_t sig_max, size_t *sig_len)
{
    enum sdv_err err = SDV_OK;
    EVP_MD_CTX *ctx;
    size_t len;
    int size;

    if (key == NULL || (msg == NULL && msg_len > 0) || sig == NULL || sig_len == NULL) {
        return SDV_EINVAL;
    }
    if (!key->has_private) {
        return SDV_EINVAL;
    }
    /* EVP_PKEY_get_size() is the largest signature the key can make (72 for P-256 DER). */
    size = EVP_PKEY_get_size(key->pkey);
    if (size <= 0) {
        return SDV_ECRYPTO;
    }
    if (sig_max < (size_t)size) {
        return SDV_ETOOBIG;
    }
    if (msg_len == 0) {
        msg = sign_empty_msg;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return SDV_ENOMEM;
    }
    len = sig_max;
    if (!sign_init(ctx, key, 0, RSA_PSS_SALTLEN_DIGEST) ||
        EVP_DigestSign(ctx, sig, &len, msg, msg_len) != 1) {
        ERR_clear_error();
        err = SDV_ECRYPTO;
    } else {
        *sig_len = len;
    }
    EVP_MD_CTX_free(ctx);
    return err;
}

enum sdv_err sdv_key_verify(const struct sdv_key *key, const void *msg, size_t msg_len,
                            const uint8_t *sig, size_t sig_len)
{
    enum sdv_err err;
    EVP_MD_CTX *ctx;
    int rc;

    if (key == NULL || (msg == NULL && msg_len > 0)) {
        return SDV_EINVAL;
    }
    /* Signatures of impossible sizes are rejected before OpenSSL sees them. */
    if (sig == NULL || sig_len == 0 || sig_len > SDV_SIG_LEN_MAX) {
        return SDV_ESIG;
    }
    if (key->type == SDV_KEY_ED25519 && sig_len != ED25519_SIG_LEN) {
        return SDV_ESIG;
    }
    if (key->type == SDV_KEY_RSA && sig_len != (size_t)EVP_PKEY_get_size(key->pkey)) {
        return SDV_ESIG;
    }
    if (msg_len == 0) {
        msg = sign_empty_msg;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return SDV_ENOMEM;
    }
    if (!sign_init(ctx, key, 1, RSA_PSS_SALTLEN_AUTO)) {
        ERR_clear_error();
        EVP_MD_CTX_free(ctx);
        return SDV_ECRYPTO;
    }
    /* 0 is a wrong signature, a negative value a malformed one (bad DER, say): both are
     * the signer's fault, not OpenSSL's, so both are SDV_ESIG. */
    rc = EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len);
    if (rc == 1) {
        err = SDV_OK;
    } else {
        ERR_clear_error();
        err = SDV_ESIG;
    }
    EVP_MD_CTX_free(ctx);
    return err;
}
