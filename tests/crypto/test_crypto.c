/*
 * test_crypto.c - unit tests of lib/crypto: signing and verification for every key type, the
 * rejection of every kind of malformed signature, PEM and TUF key round trips, the refusal of
 * unsupported keys, hash known answers and the RSA-PSS salt policy.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/crypto.h>
#include <sdv/limits.h>

static const char test_msg[] = "the quick brown fox jumps over the lazy dog";

/* One key of each type, generated once for the whole group (RSA generation is slow). */
struct keys {
    struct sdv_key *k[3];
};

static int group_setup(void **state)
{
    struct keys *ks = calloc(1, sizeof(*ks));

    if (ks == NULL) {
        return -1;
    }
    if (sdv_key_generate(SDV_KEY_ED25519, 0, &ks->k[0]) != SDV_OK ||
        sdv_key_generate(SDV_KEY_ECDSA_P256, 0, &ks->k[1]) != SDV_OK ||
        sdv_key_generate(SDV_KEY_RSA, 0, &ks->k[2]) != SDV_OK) {
        return -1;
    }
    *state = ks;
    return 0;
}

static int group_teardown(void **state)
{
    struct keys *ks = *state;

    for (size_t i = 0; i < 3; i++) {
        sdv_key_destroy(ks->k[i]);
    }
    free(ks);
    return 0;
}

static enum sdv_err sign_msg(const struct sdv_key *key, uint8_t *sig, size_t *sig_len)
{
    return sdv_key_sign(key, test_msg, strlen(test_msg), sig, SDV_SIG_LEN_MAX, sig_len);
}

static enum sdv_err verify_msg(const struct sdv_key *key, const uint8_t *sig, size_t sig_len)
{
    return sdv_key_verify(key, test_msg, strlen(test_msg), sig, sig_len);
}

/* Loads PEM text with OpenSSL directly (private first, then public). */
static EVP_PKEY *raw_pkey_from_pem(const struct sdv_buf *pem, int is_private)
{
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    EVP_PKEY *pkey;

    assert_non_null(bio);
    pkey = is_private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                      : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(pkey);
    return pkey;
}

/* Writes the SubjectPublicKeyInfo PEM of pkey into out (initialised by the caller). */
static void raw_pubkey_pem(EVP_PKEY *pkey, struct sdv_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;

    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    len = BIO_get_mem_data(bio, &data);
    assert_true(len > 0);
    assert_int_equal(sdv_buf_append(out, data, (size_t)len), SDV_OK);
    BIO_free(bio);
}

static void test_generate_types(void **state)
{
    struct keys *ks = *state;
    struct sdv_key *key = NULL;

    assert_int_equal(sdv_key_type(ks->k[0]), SDV_KEY_ED25519);
    assert_int_equal(sdv_key_type(ks->k[1]), SDV_KEY_ECDSA_P256);
    assert_int_equal(sdv_key_type(ks->k[2]), SDV_KEY_RSA);
    assert_string_equal(sdv_key_scheme(ks->k[0]), "ed25519");
    assert_string_equal(sdv_key_scheme(ks->k[1]), "ecdsa-sha2-nistp256");
    assert_string_equal(sdv_key_scheme(ks->k[2]), "rsassa-pss-sha256");
    for (size_t i = 0; i < 3; i++) {
        assert_true(sdv_key_has_private(ks->k[i]));
    }
    assert_int_equal(sdv_key_generate(SDV_KEY_RSA, 1024, &key), SDV_EINVAL);
    assert_int_equal(sdv_key_generate(SDV_KEY_RSA, 2047, &key), SDV_EINVAL);
    assert_int_equal(sdv_key_generate((enum sdv_key_type)99, 0, &key), SDV_EINVAL);
    assert_null(key);
}

static void test_sign_verify(void **state)
{
    struct keys *ks = *state;

    for (size_t i = 0; i < 3; i++) {
        uint8_t sig[SDV_SIG_LEN_MAX];
        size_t sig_len = 0;

        assert_int_equal(sign_msg(ks->k[i], sig, &sig_len), SDV_OK);
        assert_int_equal(verify_msg(ks->k[i], sig, sig_len), SDV_OK);
        /* Each key type has its expected signature format. */
        switch (sdv_key_type(ks->k[i])) {
        case SDV_KEY_ED25519:
            assert_int_equal(sig_len, 64);
            break;
        case SDV_KEY_ECDSA_P256:
            assert_int_equal(sig[0], 0x30);
            assert_int_equal((size_t)sig[1] + 2, sig_len);
            break;
        case SDV_KEY_RSA:
            assert_int_equal(sig_len, 3072 / 8);
            break;
        }
        /* Another key of another type does not accept it. */
        assert_int_equal(verify_msg(ks->k[(i + 1) % 3], sig, sig_len), SDV_ESIG);
        assert_int_equal(ERR_peek_error(), 0);
    }
}

static void test_empty_message(void **state)
{
    struct keys *ks = *state;

    for (size_t i = 0; i < 3; i++) {
        uint8_t sig[SDV_SIG_LEN_MAX];
        size_t sig_len = 0;

        assert_int_equal(sdv_key_sign(ks->k[i], NULL, 0, sig, sizeof(sig), &sig_len), SDV_OK);
        assert_int_equal(sdv_key_verify(ks->k[i], NULL, 0, sig, sig_len), SDV_OK);
        assert_int_equal(sdv_key_verify(ks->k[i], "x", 1, sig, sig_len), SDV_ESIG);
    }
}

static void test_tampering(void **state)
{
    struct keys *ks = *state;

    for (size_t i = 0; i < 3; i++) {
        const struct sdv_key *key = ks->k[i];
        uint8_t sig[SDV_SIG_LEN_MAX + 8];
        uint8_t garbage[SDV_SIG_LEN_MAX + 8];
        char msg[sizeof(test_msg)];
        size_t sig_len = 0;

        assert_int_equal(sign_msg(key, sig, &sig_len), SDV_OK);

        /* One bit of the message. */
        memcpy(msg, test_msg, sizeof(msg));
        msg[3] ^= 0x01;
        assert_int_equal(sdv_key_verify(key, msg, strlen(msg), sig, sig_len), SDV_ESIG);
        /* One bit of the signature, at the start, middle and end. */
        for (size_t pos = 0; pos < sig_len; pos += sig_len / 2) {
            sig[pos] ^= 0x80;
            assert_int_equal(verify_msg(key, sig, sig_len), SDV_ESIG);
            sig[pos] ^= 0x80;
        }
        sig[sig_len - 1] ^= 0x01;
        assert_int_equal(verify_msg(key, sig, sig_len), SDV_ESIG);
        sig[sig_len - 1] ^= 0x01;
        assert_int_equal(verify_msg(key, sig, sig_len), SDV_OK);

        /* Truncated, empty, NULL, extended and oversized. */
        assert_int_equal(verify_msg(key, sig, sig_len - 1), SDV_ESIG);
        assert_int_equal(verify_msg(key, sig, 1), SDV_ESIG);
        assert_int_equal(verify_msg(key, sig, 0), SDV_ESIG);
        assert_int_equal(verify_msg(key, NULL, 0), SDV_ESIG);
        sig[sig_len] = 0;
        assert_int_equal(verify_msg(key, sig, sig_len + 1), SDV_ESIG);
        memset(garbage, 0x30, sizeof(garbage));
        assert_int_equal(verify_msg(key, garbage, sizeof(garbage)), SDV_ESIG);
        assert_int_equal(verify_msg(key, garbage, SDV_SIG_LEN_MAX), SDV_ESIG);
        /* Garbage of exactly the right length, and DER-looking garbage. */
        assert_int_equal(verify_msg(key, garbage, sig_len), SDV_ESIG);
        garbage[0] = 0x30;
        garbage[1] = 0x06;
        garbage[2] = 0x02;
        garbage[3] = 0x01;
        garbage[4] = 0x00;
        garbage[5] = 0x02;
        garbage[6] = 0x05;
        assert_int_equal(verify_msg(key, garbage, 8), SDV_ESIG);
        assert_int_equal(ERR_peek_error(), 0);
    }
}

static void test_sign_errors(void **state)
{
    struct keys *ks = *state;
    struct sdv_key *pub = NULL;
    struct sdv_buf pem;
    uint8_t sig[SDV_SIG_LEN_MAX];
    size_t sig_len = 0;

    /* A buffer too small for the largest signature of the key. */
    assert_int_equal(sdv_key_sign(ks->k[0], test_msg, 3, sig, 63, &sig_len), SDV_ETOOBIG);
    assert_int_equal(sdv_key_sign(ks->k[1], test_msg, 3, sig, 64, &sig_len), SDV_ETOOBIG);
    /* A public-only key cannot sign. */
    sdv_buf_init(&pem, SDV_KEY_PEM_LEN_MAX);
    assert_int_equal(sdv_key_public_pem(ks->k[1], &pem), SDV_OK);
    assert_int_equal(sdv_key_load_pem(pem.data, pem.len, &pub), SDV_OK);
    assert_int_equal(sign_msg(pub, sig, &sig_len), SDV_EINVAL);
    sdv_key_destroy(pub);
    sdv_buf_free(&pem);
}

static void test_pem_round_trip(void **state)
{
    struct keys *ks = *state;

    for (size_t i = 0; i < 3; i++) {
        const struct sdv_key *key = ks->k[i];
        struct sdv_key *priv = NULL, *pub = NULL;
        char id[SDV_KEYID_STR_LEN], id_priv[SDV_KEYID_STR_LEN], id_pub[SDV_KEYID_STR_LEN];
        uint8_t sig[SDV_SIG_LEN_MAX];
        struct sdv_buf pem;
        size_t sig_len = 0;

        sdv_buf_init(&pem, SDV_KEY_PEM_LEN_MAX);
        assert_int_equal(sdv_key_private_pem(key, &pem), SDV_OK);
        assert_non_null(strstr((const char *)pem.data, "-----BEGIN PRIVATE KEY-----\n"));
        assert_int_equal(sdv_key_load_pem(pem.data, pem.len, &priv), SDV_OK);
        assert_true(sdv_key_has_private(priv));
        assert_int_equal(sdv_key_type(priv), sdv_key_type(key));

        sdv_buf_reset(&pem);
        assert_int_equal(sdv_key_public_pem(key, &pem), SDV_OK);
        assert_memory_equal(pem.data, "-----BEGIN PUBLIC KEY-----\n", 27);
        assert_int_equal(pem.data[pem.len - 1], '\n');
        assert_int_equal(sdv_key_load_pem(pem.data, pem.len, &pub), SDV_OK);
        assert_false(sdv_key_has_private(pub));
        assert_int_equal(sdv_key_type(pub), sdv_key_type(key));
        /* A public-only key has no private PEM. */
        sdv_buf_reset(&pem);
        assert_int_equal(sdv_key_private_pem(pub, &pem), SDV_EINVAL);
        assert_int_equal(pem.len, 0);

        /* The reloaded private key signs what the original's public half accepts. */
        assert_int_equal(sign_msg(priv, sig, &sig_len), SDV_OK);
        assert_int_equal(verify_msg(key, sig, sig_len), SDV_OK);
        assert_int_equal(verify_msg(pub, sig, sig_len), SDV_OK);

        assert_int_equal(sdv_key_id(key, id), SDV_OK);
        assert_int_equal(sdv_key_id(priv, id_priv), SDV_OK);
        assert_int_equal(sdv_key_id(pub, id_pub), SDV_OK);
        assert_int_equal(strlen(id), 64);
        assert_string_equal(id, id_priv);
        assert_string_equal(id, id_pub);

        sdv_key_destroy(priv);
        sdv_key_destroy(pub);
        sdv_buf_free(&pem);
    }
}

static void test_pem_file(void **state)
{
    struct keys *ks = *state;
    char path[] = "/tmp/sdv_test_crypto_XXXXXX";
    struct sdv_key *key = NULL;
    struct sdv_buf pem;
    int fd;

    sdv_buf_init(&pem, SDV_KEY_PEM_LEN_MAX);
    assert_int_equal(sdv_key_private_pem(ks->k[0], &pem), SDV_OK);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, pem.data, pem.len), (ssize_t)pem.len);
    close(fd);
    assert_int_equal(sdv_key_load_pem_file(path, &key), SDV_OK);
    assert_true(sdv_key_has_private(key));
    sdv_key_destroy(key);
    unlink(path);
    key = NULL;
    assert_int_equal(sdv_key_load_pem_file(path, &key), SDV_ENOENT);
    assert_null(key);
    sdv_buf_free(&pem);
}

static void test_pem_rejects(void **state)
{
    static const char not_pem[] = "this is not a key";
    static const char bad_body[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    static const char *const others[] = {"EC:P-384", "X25519", "ED448"};
    struct sdv_key *key = NULL;

    (void)state;
    assert_int_equal(sdv_key_load_pem(not_pem, strlen(not_pem), &key), SDV_EPARSE);
    assert_int_equal(sdv_key_load_pem(bad_body, strlen(bad_body), &key), SDV_EPARSE);
    assert_int_equal(sdv_key_load_pem("", 0, &key), SDV_EPARSE);
    assert_null(key);

    /* Keys OpenSSL understands but TUF here does not: private and public PEM both refused. */
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        EVP_PKEY *pkey;
        struct sdv_buf pem;

        if (strncmp(others[i], "EC:", 3) == 0) {
            pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", others[i] + 3);
        } else {
            pkey = EVP_PKEY_Q_keygen(NULL, NULL, others[i]);
        }
        assert_non_null(pkey);
        sdv_buf_init(&pem, SDV_KEY_PEM_LEN_MAX);
        raw_pubkey_pem(pkey, &pem);
        assert_int_equal(sdv_key_load_pem(pem.data, pem.len, &key), SDV_EUNSUPPORTED);
        sdv_buf_free(&pem);
        EVP_PKEY_free(pkey);
    }
    assert_null(key);

    /* An encrypted private key fails to load; it must never prompt for a passphrase. */
    {
        EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        BIO *bio = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len;

        assert_non_null(pkey);
        assert_non_null(bio);
        assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), "secret", 6,
                                                       NULL, NULL),
                         1);
        len = BIO_get_mem_data(bio, &data);
        assert_true(len > 37);
        assert_memory_equal(data, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37);
        assert_int_equal(sdv_key_load_pem(data, (size_t)len, &key), SDV_EPARSE);
        BIO_free(bio);
        EVP_PKEY_free(pkey);
    }
    assert_null(key);

    /* An RSA key too small to be loaded. */
    {
        EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
        struct sdv_buf pem;

        assert_non_null(pkey);
        sdv_buf_init(&pem, SDV_KEY_PEM_LEN_MAX);
        raw_pubkey_pem(pkey, &pem);
        assert_int_equal(sdv_key_load_pem(pem.data, pem.len, &key), SDV_EUNSUPPORTED);
        sdv_buf_free(&pem);
        EVP_PKEY_free(pkey);
    }
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_tuf_format(void **state)
{
    struct keys *ks = *state;
    json_t *obj = NULL;
    const char *pub;

    assert_int_equal(sdv_key_to_tuf(ks->k[0], &obj), SDV_OK);
    assert_string_equal(json_string_value(json_object_get(obj, "keytype")), "ed25519");
    assert_string_equal(json_string_value(json_object_get(obj, "scheme")), "ed25519");
    assert_int_equal(json_object_size(obj), 3);
    assert_int_equal(json_object_size(json_object_get(obj, "keyval")), 1);
    pub = json_string_value(json_object_get(json_object_get(obj, "keyval"), "public"));
    assert_non_null(pub);
    assert_int_equal(strlen(pub), 64);
    assert_int_equal(strspn(pub, "0123456789abcdef"), 64);
    json_decref(obj);

    assert_int_equal(sdv_key_to_tuf(ks->k[1], &obj), SDV_OK);
    assert_string_equal(json_string_value(json_object_get(obj, "keytype")), "ecdsa");
    assert_string_equal(json_string_value(json_object_get(obj, "scheme")), "ecdsa-sha2-nistp256");
    pub = json_string_value(json_object_get(json_object_get(obj, "keyval"), "public"));
    assert_non_null(pub);
    assert_memory_equal(pub, "-----BEGIN PUBLIC KEY-----\n", 27);
    assert_string_equal(pub + strlen(pub) - 25, "-----END PUBLIC KEY-----\n");
    json_decref(obj);

    assert_int_equal(sdv_key_to_tuf(ks->k[2], &obj), SDV_OK);
    assert_string_equal(json_string_value(json_object_get(obj, "keytype")), "rsa");
    assert_string_equal(json_string_value(json_object_get(obj, "scheme")), "rsassa-pss-sha256");
    json_decref(obj);
}

/* Reads obj with sdv_key_from_tuf and asserts that the key has the key id of orig. Caller
 * destroys the key returned. */
static struct sdv_key *from_tuf_same_id(const json_t *obj, const struct sdv_key *orig)
{
    char id[SDV_KEYID_STR_LEN], id2[SDV_KEYID_STR_LEN];
    struct sdv_key *back = NULL;

    assert_int_equal(sdv_key_from_tuf(obj, &back), SDV_OK);
    assert_int_equal(sdv_key_id(orig, id), SDV_OK);
    assert_int_equal(sdv_key_id(back, id2), SDV_OK);
    assert_string_equal(id, id2);
    return back;
}

/* to_tuf -> from_tuf keeps the key id and the ability to verify. */
static void test_tuf_round_trip(void **state)
{
    struct keys *ks = *state;

    for (size_t i = 0; i < 3; i++) {
        struct sdv_key *back;
        uint8_t sig[SDV_SIG_LEN_MAX];
        size_t sig_len = 0;
        json_t *obj = NULL;

        assert_int_equal(sdv_key_to_tuf(ks->k[i], &obj), SDV_OK);
        back = from_tuf_same_id(obj, ks->k[i]);
        assert_false(sdv_key_has_private(back));
        assert_int_equal(sdv_key_type(back), sdv_key_type(ks->k[i]));
        assert_int_equal(sign_msg(ks->k[i], sig, &sig_len), SDV_OK);
        assert_int_equal(verify_msg(back, sig, sig_len), SDV_OK);
        sdv_key_destroy(back);
        json_decref(obj);
    }
}

/* The variants other TUF implementations write are accepted. */
static void test_tuf_variants(void **state)
{
    struct keys *ks = *state;
    json_t *obj = NULL, *keyval;
    char *pem;
    size_t pem_len;

    assert_int_equal(sdv_key_to_tuf(ks->k[1], &obj), SDV_OK);
    /* Old keytype name, extra fields, and a PEM without its final newline. */
    assert_int_equal(json_object_set_new(obj, "keytype", json_string("ecdsa-sha2-nistp256")), 0);
    assert_int_equal(json_object_set_new(obj, "keyid_hash_algorithms",
                                         json_pack("[s,s]", "sha256", "sha512")),
                     0);
    keyval = json_object_get(obj, "keyval");
    assert_int_equal(json_object_set_new(keyval, "private", json_string("")), 0);
    pem = strdup(json_string_value(json_object_get(keyval, "public")));
    assert_non_null(pem);
    pem_len = strlen(pem);
    assert_int_equal(pem[pem_len - 1], '\n');
    pem[pem_len - 1] = '\0';
    assert_int_equal(json_object_set_new(keyval, "public", json_string(pem)), 0);
    /* The key id is that of our own canonical form. */
    sdv_key_destroy(from_tuf_same_id(obj, ks->k[1]));
    free(pem);
    json_decref(obj);

    /* Uppercase hex is still hex. */
    assert_int_equal(sdv_key_to_tuf(ks->k[0], &obj), SDV_OK);
    keyval = json_object_get(obj, "keyval");
    pem = strdup(json_string_value(json_object_get(keyval, "public")));
    assert_non_null(pem);
    for (char *c = pem; *c != '\0'; c++) {
        if (*c >= 'a' && *c <= 'f') {
            *c = (char)(*c - 'a' + 'A');
        }
    }
    assert_int_equal(json_object_set_new(keyval, "public", json_string(pem)), 0);
    sdv_key_destroy(from_tuf_same_id(obj, ks->k[0]));
    free(pem);
    json_decref(obj);
}

/* Builds {"keytype": keytype, "scheme": scheme, "keyval": {"public": pub}}. */
static json_t *tuf_obj(const char *keytype, const char *scheme, const char *pub)
{
    json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "keytype", keytype, "scheme", scheme, "keyval",
                            "public", pub);

    assert_non_null(obj);
    return obj;
}

static void expect_from_tuf(json_t *obj, enum sdv_err want)
{
    struct sdv_key *key = NULL;

    assert_int_equal(sdv_key_from_tuf(obj, &key), want);
    assert_null(key);
    json_decref(obj);
}

static void test_tuf_rejects(void **state)
{
    static const char hex64[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    struct keys *ks = *state;
    struct sdv_buf ec_pem, rsa_pem, p384_pem;
    EVP_PKEY *p384;

    sdv_buf_init(&ec_pem, SDV_KEY_PEM_LEN_MAX);
    sdv_buf_init(&rsa_pem, SDV_KEY_PEM_LEN_MAX);
    sdv_buf_init(&p384_pem, SDV_KEY_PEM_LEN_MAX);
    assert_int_equal(sdv_key_public_pem(ks->k[1], &ec_pem), SDV_OK);
    assert_int_equal(sdv_key_public_pem(ks->k[2], &rsa_pem), SDV_OK);
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(p384);
    raw_pubkey_pem(p384, &p384_pem);
    EVP_PKEY_free(p384);

    /* Sanity: the well-formed ones load, so the rejections below are for the stated reason. */
    {
        struct sdv_key *key = NULL;
        json_t *obj = tuf_obj("ed25519", "ed25519", hex64);

        assert_int_equal(sdv_key_from_tuf(obj, &key), SDV_OK);
        sdv_key_destroy(key);
        json_decref(obj);
    }

    /* Unknown keytype or scheme, mismatched pairs. */
    expect_from_tuf(tuf_obj("ed448", "ed448", hex64), SDV_EUNSUPPORTED);
    expect_from_tuf(tuf_obj("ed25519", "ecdsa-sha2-nistp256", hex64), SDV_EUNSUPPORTED);
    expect_from_tuf(tuf_obj("ecdsa", "ed25519", (const char *)ec_pem.data), SDV_EUNSUPPORTED);
    expect_from_tuf(tuf_obj("ecdsa", "ecdsa-sha2-nistp384", (const char *)ec_pem.data),
                    SDV_EUNSUPPORTED);
    expect_from_tuf(tuf_obj("rsa", "rsassa-pkcs1v15-sha256", (const char *)rsa_pem.data),
                    SDV_EUNSUPPORTED);
    expect_from_tuf(tuf_obj("rsa", "ecdsa-sha2-nistp256", (const char *)rsa_pem.data),
                    SDV_EUNSUPPORTED);
    expect_from_tuf(tuf_obj("ED25519", "ed25519", hex64), SDV_EUNSUPPORTED);

    /* Bad hex, wrong length of ed25519 keys. */
    expect_from_tuf(tuf_obj("ed25519", "ed25519",
                            "g75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
                    SDV_EPARSE);
    expect_from_tuf(tuf_obj("ed25519", "ed25519",
                            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511"),
                    SDV_EPARSE);
    expect_from_tuf(tuf_obj("ed25519", "ed25519",
                            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f70751"),
                    SDV_EPARSE);
    expect_from_tuf(tuf_obj("ed25519", "ed25519",
                            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a00"),
                    SDV_EPARSE);
    expect_from_tuf(tuf_obj("ed25519", "ed25519", ""), SDV_EPARSE);
    expect_from_tuf(tuf_obj("ed25519", "ed25519", (const char *)ec_pem.data), SDV_EPARSE);

    /* PEM that is not the announced key. */
    expect_from_tuf(tuf_obj("ecdsa", "ecdsa-sha2-nistp256", (const char *)p384_pem.data),
                    SDV_EUNSUPPORTED);
    expect_from_tuf(tuf_obj("ecdsa", "ecdsa-sha2-nistp256", (const char *)rsa_pem.data),
                    SDV_EUNSUPPORTED);
    expect_from_tuf(tuf_obj("rsa", "rsassa-pss-sha256", (const char *)ec_pem.data),
                    SDV_EUNSUPPORTED);
    expect_from_tuf(tuf_obj("ecdsa", "ecdsa-sha2-nistp256", hex64), SDV_EPARSE);
    expect_from_tuf(tuf_obj("rsa", "rsassa-pss-sha256", "-----BEGIN PUBLIC KEY-----\nAA==\n"),
                    SDV_EPARSE);

    /* Missing or ill-typed fields. */
    expect_from_tuf(json_pack("{s:s, s:{s:s}}", "scheme", "ed25519", "keyval", "public", hex64),
                    SDV_EPARSE);
    expect_from_tuf(json_pack("{s:s, s:s}", "keytype", "ed25519", "scheme", "ed25519"), SDV_EPARSE);
    expect_from_tuf(json_pack("{s:s, s:s, s:s}", "keytype", "ed25519", "scheme", "ed25519",
                              "keyval", hex64),
                    SDV_EPARSE);
    expect_from_tuf(json_pack("{s:s, s:s, s:{s:i}}", "keytype", "ed25519", "scheme", "ed25519",
                              "keyval", "public", 1),
                    SDV_EPARSE);
    expect_from_tuf(json_pack("{s:i, s:s, s:{s:s}}", "keytype", 1, "scheme", "ed25519", "keyval",
                              "public", hex64),
                    SDV_EPARSE);
    expect_from_tuf(json_pack("[s]", "ed25519"), SDV_EPARSE);

    sdv_buf_free(&ec_pem);
    sdv_buf_free(&rsa_pem);
    sdv_buf_free(&p384_pem);
    assert_int_equal(ERR_peek_error(), 0);
}

/* Signs with OpenSSL directly using RSA-PSS/SHA-256 and the given salt length. */
static size_t raw_pss_sign(EVP_PKEY *pkey, int saltlen, uint8_t *sig, size_t sig_max)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t len = sig_max;

    assert_non_null(ctx);
    assert_int_equal(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, pkey), 1);
    assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) > 0);
    assert_int_equal(EVP_DigestSign(ctx, sig, &len, (const uint8_t *)test_msg, strlen(test_msg)),
                     1);
    EVP_MD_CTX_free(ctx);
    return len;
}

/* Verifies with OpenSSL directly, requiring exactly the given salt length. */
static int raw_pss_verify(EVP_PKEY *pkey, int saltlen, const uint8_t *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int rc;

    assert_non_null(ctx);
    assert_int_equal(EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, pkey), 1);
    assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) > 0);
    rc = EVP_DigestVerify(ctx, sig, sig_len, (const uint8_t *)test_msg, strlen(test_msg));
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

static void test_rsa_pss_salt(void **state)
{
    struct keys *ks = *state;
    uint8_t sig[SDV_SIG_LEN_MAX];
    struct sdv_buf pem;
    EVP_PKEY *pkey;
    size_t sig_len = 0;

    sdv_buf_init(&pem, SDV_KEY_PEM_LEN_MAX);
    assert_int_equal(sdv_key_private_pem(ks->k[2], &pem), SDV_OK);
    pkey = raw_pkey_from_pem(&pem, 1);

    /* Any salt length verifies: maximal, none, and an odd one. */
    sig_len = raw_pss_sign(pkey, RSA_PSS_SALTLEN_MAX, sig, sizeof(sig));
    assert_int_equal(verify_msg(ks->k[2], sig, sig_len), SDV_OK);
    assert_int_equal(raw_pss_verify(pkey, 32, sig, sig_len), 0);
    sig_len = raw_pss_sign(pkey, 0, sig, sizeof(sig));
    assert_int_equal(verify_msg(ks->k[2], sig, sig_len), SDV_OK);
    sig_len = raw_pss_sign(pkey, 17, sig, sizeof(sig));
    assert_int_equal(verify_msg(ks->k[2], sig, sig_len), SDV_OK);

    /* Our signatures use a salt of exactly the digest length (32 bytes). */
    assert_int_equal(sign_msg(ks->k[2], sig, &sig_len), SDV_OK);
    assert_int_equal(raw_pss_verify(pkey, 32, sig, sig_len), 1);
    assert_int_equal(raw_pss_verify(pkey, 20, sig, sig_len), 0);

    EVP_PKEY_free(pkey);
    sdv_buf_free(&pem);
}

/* Formats n bytes as lowercase hex with snprintf, independently of lib/common's encoder. */
static const char *to_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    }
    out[2 * n] = '\0';
    return out;
}

/* Known answers from FIPS 180-2 ("abc") and of the empty message. */
static void test_hash_vectors(void **state)
{
    static const char sha256_abc[] =
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    static const char sha256_empty[] =
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    static const char sha512_abc[] =
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
    static const char sha512_empty[] =
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
    uint8_t out[SDV_HASH_LEN_MAX];
    char hex[2 * SDV_HASH_LEN_MAX + 1];

    (void)state;
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, "abc", 3, out), SDV_OK);
    assert_string_equal(to_hex(out, 32, hex), sha256_abc);
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, "", 0, out), SDV_OK);
    assert_string_equal(to_hex(out, 32, hex), sha256_empty);
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, NULL, 0, out), SDV_OK);
    assert_string_equal(to_hex(out, 32, hex), sha256_empty);
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA512, "abc", 3, out), SDV_OK);
    assert_string_equal(to_hex(out, 64, hex), sha512_abc);
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA512, "", 0, out), SDV_OK);
    assert_string_equal(to_hex(out, 64, hex), sha512_empty);
    assert_int_equal(sdv_hash_buf((enum sdv_hash_alg)0, "abc", 3, out), SDV_EINVAL);
}

static void test_hash_streaming(void **state)
{
    static const enum sdv_hash_alg algs[] = {SDV_HASH_SHA256, SDV_HASH_SHA512};
    uint8_t data[1000];

    (void)state;
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 7 + 3);
    }
    for (size_t a = 0; a < 2; a++) {
        uint8_t one[SDV_HASH_LEN_MAX], streamed[SDV_HASH_LEN_MAX];
        size_t len = sdv_hash_len(algs[a]);
        struct sdv_hash *h = NULL;

        assert_int_equal(sdv_hash_buf(algs[a], data, sizeof(data), one), SDV_OK);
        assert_int_equal(sdv_hash_create(algs[a], &h), SDV_OK);
        /* Uneven pieces, including empty ones. */
        for (size_t off = 0, step = 0; off < sizeof(data); step++) {
            size_t n = step % 5 == 0 ? 0 : (step * 13) % 97;

            if (n > sizeof(data) - off) {
                n = sizeof(data) - off;
            }
            assert_int_equal(sdv_hash_update(h, data + off, n), SDV_OK);
            off += n;
        }
        assert_int_equal(sdv_hash_final(h, streamed), SDV_OK);
        assert_memory_equal(one, streamed, len);
        /* Reset gives a fresh context. */
        assert_int_equal(sdv_hash_reset(h), SDV_OK);
        assert_int_equal(sdv_hash_update(h, "ab", 2), SDV_OK);
        assert_int_equal(sdv_hash_update(h, "c", 1), SDV_OK);
        assert_int_equal(sdv_hash_final(h, streamed), SDV_OK);
        assert_int_equal(sdv_hash_buf(algs[a], "abc", 3, one), SDV_OK);
        assert_memory_equal(one, streamed, len);
        sdv_hash_destroy(h);
    }
    sdv_hash_destroy(NULL);
}

static void test_hash_file(void **state)
{
    /* Crosses several 64 KiB block boundaries and ends mid-block. */
    const size_t len = 200001;
    char path[] = "/tmp/sdv_test_hash_XXXXXX";
    uint8_t want[SDV_HASH_LEN_MAX], got[SDV_HASH_LEN_MAX];
    uint64_t file_len = 0;
    uint8_t *data;
    int fd;

    (void)state;
    data = malloc(len);
    assert_non_null(data);
    assert_int_equal(sdv_random_bytes(data, len), SDV_OK);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);

    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA512, data, len, want), SDV_OK);
    assert_int_equal(sdv_hash_file(SDV_HASH_SHA512, path, got, &file_len), SDV_OK);
    assert_memory_equal(want, got, 64);
    assert_int_equal(file_len, len);
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, data, len, want), SDV_OK);
    assert_int_equal(sdv_hash_file(SDV_HASH_SHA256, path, got, NULL), SDV_OK);
    assert_memory_equal(want, got, 32);

    /* An empty file. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sdv_hash_file(SDV_HASH_SHA256, path, got, &file_len), SDV_OK);
    assert_int_equal(file_len, 0);
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, "", 0, want), SDV_OK);
    assert_memory_equal(want, got, 32);

    unlink(path);
    assert_int_equal(sdv_hash_file(SDV_HASH_SHA256, path, got, NULL), SDV_ENOENT);
    free(data);
}

static void test_hash_names(void **state)
{
    enum sdv_hash_alg alg = 0;

    (void)state;
    assert_int_equal(sdv_hash_alg_from_name("sha256", &alg), SDV_OK);
    assert_int_equal(alg, SDV_HASH_SHA256);
    assert_int_equal(sdv_hash_alg_from_name("sha512", &alg), SDV_OK);
    assert_int_equal(alg, SDV_HASH_SHA512);
    assert_int_equal(sdv_hash_alg_from_name("SHA256", &alg), SDV_EUNSUPPORTED);
    assert_int_equal(sdv_hash_alg_from_name("sha1", &alg), SDV_EUNSUPPORTED);
    assert_int_equal(sdv_hash_alg_from_name("", &alg), SDV_EUNSUPPORTED);
    assert_string_equal(sdv_hash_alg_name(SDV_HASH_SHA256), "sha256");
    assert_string_equal(sdv_hash_alg_name(SDV_HASH_SHA512), "sha512");
    assert_int_equal(sdv_hash_len(SDV_HASH_SHA256), 32);
    assert_int_equal(sdv_hash_len(SDV_HASH_SHA512), 64);
    assert_int_equal(sdv_hash_len((enum sdv_hash_alg)0), 0);
}

static void test_random(void **state)
{
    uint8_t a[32] = {0}, b[32] = {0};

    (void)state;
    assert_int_equal(sdv_random_bytes(a, sizeof(a)), SDV_OK);
    assert_int_equal(sdv_random_bytes(b, sizeof(b)), SDV_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(sdv_random_bytes(NULL, 0), SDV_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_generate_types), cmocka_unit_test(test_sign_verify),
            cmocka_unit_test(test_empty_message),  cmocka_unit_test(test_tampering),
            cmocka_unit_test(test_sign_errors),    cmocka_unit_test(test_pem_round_trip),
            cmocka_unit_test(test_pem_file),       cmocka_unit_test(test_pem_rejects),
            cmocka_unit_test(test_tuf_format),     cmocka_unit_test(test_tuf_round_trip),
            cmocka_unit_test(test_tuf_variants),   cmocka_unit_test(test_tuf_rejects),
            cmocka_unit_test(test_rsa_pss_salt),   cmocka_unit_test(test_hash_vectors),
            cmocka_unit_test(test_hash_streaming), cmocka_unit_test(test_hash_file),
            cmocka_unit_test(test_hash_names),     cmocka_unit_test(test_random),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
