/*
 * crypto_key.c - loading, generating and serialising keys: PEM (PKCS#8, traditional and
 * SubjectPublicKeyInfo), TUF key objects and key ids. Every key is checked here, once, to be a
 * supported type, so that signing and verifying need no checks beyond the scheme.
 */
#include <assert.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/crypto.h>
#include <sdv/limits.h>

#include "crypto_int.h"

#define ED25519_PUBLIC_LEN 32

/* Upper bound of the canonical JSON of one TUF key object: an RSA-8192 public PEM is about
 * 1.5 KB, the rest is a few dozen bytes. */
#define KEY_TUF_JSON_LEN_MAX (16u * 1024u)

/* Upper bound of one PEM we write (the same bound as the files we read). */
#define KEY_PEM_OUT_LEN_MAX SDV_KEY_PEM_LEN_MAX

/* Refuses every passphrase request, so that loading an encrypted key fails instead of
 * prompting on the terminal. */
static int key_no_passphrase(char *buf, int size, int rwflag, void *ud)
{
    (void)rwflag;
    (void)ud;
    if (buf != NULL && size > 0) {
        buf[0] = '\0';
    }
    return -1;
}

enum sdv_err sdv_crypto_key_wrap(EVP_PKEY *pkey, int has_private, struct sdv_key **out)
{
    enum sdv_key_type type;
    struct sdv_key *key;

    if (pkey == NULL) {
        return SDV_EINVAL;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        type = SDV_KEY_ED25519;
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        size_t group_len = 0;

        /* Keys with explicit curve parameters have no group name and are refused too. */
        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len) != 1 ||
            OBJ_txt2nid(group) != NID_X9_62_prime256v1) {
            goto unsupported;
        }
        type = SDV_KEY_ECDSA_P256;
    } else if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);

        if (bits < SDV_CRYPTO_RSA_BITS_MIN || bits > SDV_CRYPTO_RSA_BITS_MAX) {
            goto unsupported;
        }
        type = SDV_KEY_RSA;
    } else {
        goto unsupported;
    }
    key = calloc(1, sizeof(*key));
    if (key == NULL) {
        EVP_PKEY_free(pkey);
        return SDV_ENOMEM;
    }
    key->type = type;
    key->has_private = has_private != 0;
    key->pkey = pkey;
    *out = key;
    return SDV_OK;

unsupported:
    ERR_clear_error();
    EVP_PKEY_free(pkey);
    return SDV_EUNSUPPORTED;
}

enum sdv_err sdv_key_generate(enum sdv_key_type type, unsigned rsa_bits, struct sdv_key **out)
{
    EVP_PKEY *pkey = NULL;

    if (out == NULL) {
        return SDV_EINVAL;
    }
    switch (type) {
    case SDV_KEY_ED25519:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case SDV_KEY_ECDSA_P256:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case SDV_KEY_RSA:
        if (rsa_bits == 0) {
            rsa_bits = SDV_CRYPTO_RSA_BITS_DEFAULT;
        }
        if (rsa_bits < SDV_CRYPTO_RSA_BITS_MIN || rsa_bits > SDV_CRYPTO_RSA_BITS_MAX) {
            return SDV_EINVAL;
        }
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
        break;
    default:
        return SDV_EINVAL;
    }
    if (pkey == NULL) {
        ERR_clear_error();
        return SDV_ECRYPTO;
    }
    return sdv_crypto_key_wrap(pkey, 1, out);
}

/* Parses one key from PEM: the private key (PKCS#8 or traditional) when private_half, else a
 * public key (SubjectPublicKeyInfo) only. SDV_EPARSE, with the error queue cleared, when pem
 * holds no such key. */
static enum sdv_err key_parse_pem(const void *pem, size_t len, int private_half, EVP_PKEY **out)
{
    BIO *bio;

    if (len > INT_MAX) {
        return SDV_ETOOBIG;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        ERR_clear_error();
        return SDV_ENOMEM;
    }
    if (private_half) {
        *out = PEM_read_bio_PrivateKey(bio, NULL, key_no_passphrase, NULL);
    } else {
        *out = PEM_read_bio_PUBKEY(bio, NULL, key_no_passphrase, NULL);
    }
    BIO_free(bio);
    if (*out == NULL) {
        ERR_clear_error();
        return SDV_EPARSE;
    }
    return SDV_OK;
}

enum sdv_err sdv_key_load_pem(const void *pem, size_t len, struct sdv_key **out)
{
    EVP_PKEY *pkey;
    enum sdv_err err;

    if (pem == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    if (len > SDV_KEY_PEM_LEN_MAX) {
        return SDV_ETOOBIG;
    }
    err = key_parse_pem(pem, len, 1, &pkey);
    if (err == SDV_OK) {
        return sdv_crypto_key_wrap(pkey, 1, out);
    }
    if (err != SDV_EPARSE) {
        return err;
    }
    /* Not a private key: perhaps a public one. */
    err = key_parse_pem(pem, len, 0, &pkey);
    if (err != SDV_OK) {
        return err;
    }
    return sdv_crypto_key_wrap(pkey, 0, out);
}

enum sdv_err sdv_key_load_pem_file(const char *path, struct sdv_key **out)
{
    struct sdv_buf buf;
    enum sdv_err err;

    if (path == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    sdv_buf_init(&buf, SDV_KEY_PEM_LEN_MAX);
    err = sdv_fs_read(path, &buf);
    if (err == SDV_OK) {
        err = sdv_key_load_pem(buf.data != NULL ? (const void *)buf.data : "", buf.len, out);
    }
    /* The file may hold a private key: do not leave it behind in freed memory. */
    if (buf.data != NULL) {
        OPENSSL_cleanse(buf.data, buf.cap);
    }
    sdv_buf_free(&buf);
    return err;
}

/* Appends everything written to bio to out. */
static enum sdv_err key_bio_append(BIO *bio, struct sdv_buf *out)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);

    if (len <= 0 || data == NULL) {
        return SDV_ECRYPTO;
    }
    return sdv_buf_append(out, data, (size_t)len);
}

/* Appends the PEM form of key to out: its private half (PKCS#8) when private_half, else its
 * public half (SubjectPublicKeyInfo). The private half goes through a secure-memory BIO, which is
 * wiped when freed. */
static enum sdv_err key_write_pem(const struct sdv_key *key, int private_half, struct sdv_buf *out)
{
    enum sdv_err err;
    BIO *bio;
    int ok;

    bio = BIO_new(private_half ? BIO_s_secmem() : BIO_s_mem());
    if (bio == NULL) {
        ERR_clear_error();
        return SDV_ENOMEM;
    }
    if (private_half) {
        ok = PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL);
    } else {
        ok = PEM_write_bio_PUBKEY(bio, key->pkey);
    }
    if (ok != 1) {
        ERR_clear_error();
        err = SDV_ECRYPTO;
    } else {
        err = key_bio_append(bio, out);
    }
    BIO_free(bio);
    return err;
}

enum sdv_err sdv_key_private_pem(const struct sdv_key *key, struct sdv_buf *out)
{
    if (key == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    if (!key->has_private) {
        return SDV_EINVAL;
    }
    return key_write_pem(key, 1, out);
}

enum sdv_err sdv_key_public_pem(const struct sdv_key *key, struct sdv_buf *out)
{
    if (key == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    return key_write_pem(key, 0, out);
}

/* Maps a TUF keytype/scheme pair to our key type; SDV_EUNSUPPORTED for anything else. */
static enum sdv_err key_tuf_type(const char *keytype, const char *scheme, enum sdv_key_type *out)
{
    if (strcmp(keytype, "ed25519") == 0 && strcmp(scheme, "ed25519") == 0) {
        *out = SDV_KEY_ED25519;
    } else if ((strcmp(keytype, "ecdsa") == 0 || strcmp(keytype, "ecdsa-sha2-nistp256") == 0) &&
               strcmp(scheme, "ecdsa-sha2-nistp256") == 0) {
        *out = SDV_KEY_ECDSA_P256;
    } else if (strcmp(keytype, "rsa") == 0 && strcmp(scheme, "rsassa-pss-sha256") == 0) {
        *out = SDV_KEY_RSA;
    } else {
        return SDV_EUNSUPPORTED;
    }
    return SDV_OK;
}

/* Returns the string value of obj[name] and its length, or NULL if missing or not a string. */
static const char *key_json_string(const json_t *obj, const char *name, size_t *len)
{
    const json_t *v = json_object_get(obj, name);

    if (!json_is_string(v)) {
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

enum sdv_err sdv_key_from_tuf(const json_t *obj, struct sdv_key **out)
{
    const char *keytype, *scheme, *pub;
    size_t keytype_len = 0, scheme_len = 0, pub_len = 0;
    enum sdv_key_type type;
    const json_t *keyval;
    EVP_PKEY *pkey = NULL;
    enum sdv_err err;

    if (obj == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    if (!json_is_object(obj)) {
        return SDV_EPARSE;
    }
    keytype = key_json_string(obj, "keytype", &keytype_len);
    scheme = key_json_string(obj, "scheme", &scheme_len);
    if (keytype == NULL || scheme == NULL) {
        return SDV_EPARSE;
    }
    /* An embedded NUL would make strcmp() see a different name than the one in the JSON. */
    if (strlen(keytype) != keytype_len || strlen(scheme) != scheme_len) {
        return SDV_EUNSUPPORTED;
    }
    err = key_tuf_type(keytype, scheme, &type);
    if (err != SDV_OK) {
        return err;
    }
    keyval = json_object_get(obj, "keyval");
    if (!json_is_object(keyval)) {
        return SDV_EPARSE;
    }
    pub = key_json_string(keyval, "public", &pub_len);
    if (pub == NULL) {
        return SDV_EPARSE;
    }

    if (type == SDV_KEY_ED25519) {
        uint8_t raw[ED25519_PUBLIC_LEN];
        size_t raw_len = 0;

        if (pub_len != 2 * ED25519_PUBLIC_LEN ||
            sdv_hex_decode(pub, pub_len, raw, sizeof(raw), &raw_len) != SDV_OK ||
            raw_len != ED25519_PUBLIC_LEN) {
            return SDV_EPARSE;
        }
        pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw, sizeof(raw));
        if (pkey == NULL) {
            ERR_clear_error();
            return SDV_EPARSE;
        }
    } else {
        if (pub_len > SDV_KEY_PEM_LEN_MAX) {
            return SDV_EPARSE;
        }
        err = key_parse_pem(pub, pub_len, 0, &pkey);
        if (err != SDV_OK) {
            return err;
        }
    }
    err = sdv_crypto_key_wrap(pkey, 0, out);
    if (err != SDV_OK) {
        return err;
    }
    /* The PEM must hold the kind of key the keytype announces (no RSA key under "ecdsa"). */
    if ((*out)->type != type) {
        sdv_key_destroy(*out);
        *out = NULL;
        return SDV_EUNSUPPORTED;
    }
    return SDV_OK;
}

enum sdv_err sdv_key_to_tuf(const struct sdv_key *key, json_t **out)
{
    const char *keytype;
    json_t *pub = NULL;
    json_t *obj;

    if (key == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    if (key->type == SDV_KEY_ED25519) {
        uint8_t raw[ED25519_PUBLIC_LEN];
        char hex[2 * ED25519_PUBLIC_LEN + 1];
        size_t raw_len = sizeof(raw);

        if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &raw_len) != 1 || raw_len != sizeof(raw)) {
            ERR_clear_error();
            return SDV_ECRYPTO;
        }
        sdv_hex_encode(raw, raw_len, hex);
        pub = json_string(hex);
        keytype = "ed25519";
    } else {
        struct sdv_buf pem;
        enum sdv_err err;

        sdv_buf_init(&pem, KEY_PEM_OUT_LEN_MAX);
        err = sdv_key_public_pem(key, &pem);
        if (err != SDV_OK) {
            sdv_buf_free(&pem);
            return err;
        }
        pub = json_stringn((const char *)pem.data, pem.len);
        sdv_buf_free(&pem);
        keytype = key->type == SDV_KEY_RSA ? "rsa" : "ecdsa";
    }
    if (pub == NULL) {
        return SDV_ENOMEM;
    }
    obj = json_pack("{s:s, s:s, s:{s:o}}", "keytype", keytype, "scheme", sdv_key_scheme(key),
                    "keyval", "public", pub);
    if (obj == NULL) {
        return SDV_ENOMEM;
    }
    *out = obj;
    return SDV_OK;
}

enum sdv_err sdv_key_id(const struct sdv_key *key, char out[SDV_KEYID_STR_LEN])
{
    uint8_t digest[32];
    struct sdv_buf canon;
    json_t *obj = NULL;
    enum sdv_err err;

    if (key == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    err = sdv_key_to_tuf(key, &obj);
    if (err != SDV_OK) {
        return err;
    }
    sdv_buf_init(&canon, KEY_TUF_JSON_LEN_MAX);
    err = sdv_cjson_write(obj, &canon);
    if (err == SDV_OK) {
        err = sdv_hash_buf(SDV_HASH_SHA256, canon.data, canon.len, digest);
    }
    if (err == SDV_OK) {
        sdv_hex_encode(digest, sizeof(digest), out);
    }
    sdv_buf_free(&canon);
    json_decref(obj);
    return err;
}

enum sdv_key_type sdv_key_type(const struct sdv_key *key)
{
    assert(key != NULL);
    return key->type;
}

const char *sdv_key_scheme(const struct sdv_key *key)
{
    assert(key != NULL);
    switch (key->type) {
    case SDV_KEY_ED25519:
        return "ed25519";
    case SDV_KEY_ECDSA_P256:
        return "ecdsa-sha2-nistp256";
    case SDV_KEY_RSA:
        return "rsassa-pss-sha256";
    }
    return "unknown";
}

int sdv_key_has_private(const struct sdv_key *key)
{
    assert(key != NULL);
    return key->has_private;
}

void sdv_key_destroy(struct sdv_key *key)
{
    if (key == NULL) {
        return;
    }
    EVP_PKEY_free(key->pkey);
    free(key);
}
