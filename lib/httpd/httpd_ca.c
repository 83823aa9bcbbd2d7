/*
 * httpd_ca.c - the fleet's device CA on OpenSSL's X.509 API: a self-signed CA certificate and
 * certificates issued by it (clients with CN = VIN, servers with a subjectAltName). Keys come
 * from sdv_key_generate(); signing, encoding and PEM are OpenSSL's.
 */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include <sdv/crypto.h>
#include <sdv/httpd.h>
#include <sdv/limits.h>

/* Random bytes of a serial number; 16 is what the CA/Browser Forum asks for (at least 64 bits
 * of entropy), with the top bit cleared so the number stays positive. */
#define CA_SERIAL_LEN 16

/* Longest CN: the X.520 upper bound for commonName. */
#define CA_CN_LEN_MAX 64u

/* Longest subjectAltName text we build ("DNS:<name>,IP:<addr>"). */
#define CA_SAN_LEN_MAX 320u

static EVP_PKEY *pem_private(const void *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k;

    if (bio == NULL)
        return NULL;
    k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return k;
}

/* A public key PEM, or the public half of a private key PEM. */
static EVP_PKEY *pem_public(const void *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k;

    if (bio == NULL)
        return NULL;
    k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (k == NULL)
        k = pem_private(pem, len);
    return k;
}

static X509 *pem_cert(const void *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x;

    if (bio == NULL)
        return NULL;
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return x;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok;

    if (ext == NULL)
        return 0;
    ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

static int set_serial(X509 *x)
{
    unsigned char raw[CA_SERIAL_LEN];
    BIGNUM *bn;
    int ok;

    if (sdv_random_bytes(raw, sizeof(raw)) != SDV_OK)
        return 0;
    raw[0] &= 0x7f;
    raw[0] |= 0x01; /* never a short or zero serial */
    bn = BN_bin2bn(raw, (int)sizeof(raw), NULL);
    if (bn == NULL)
        return 0;
    ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static int cn_ok(const char *cn)
{
    size_t n;

    if (cn == NULL)
        return 0;
    n = strlen(cn);
    return n > 0 && n <= CA_CN_LEN_MAX;
}

/* Sets version, serial, subject CN, validity and public key of x. */
static int fill_basics(X509 *x, const char *cn, int64_t not_before, int64_t not_after,
                       EVP_PKEY *pub)
{
    X509_NAME *name = X509_get_subject_name(x);

    return X509_set_version(x, 2) == 1 && set_serial(x) &&
           X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                      0) == 1 &&
           ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) != NULL &&
           ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) != NULL &&
           X509_set_pubkey(x, pub) == 1;
}

/* ed25519 signs the whole message itself and takes no digest; ECDSA and RSA use SHA-256. */
static int sign(X509 *x, EVP_PKEY *key)
{
    const EVP_MD *md = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();

    return X509_sign(x, key, md) > 0;
}

static enum sdv_err append_cert_pem(X509 *x, struct sdv_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long n;
    enum sdv_err err = SDV_ECRYPTO;

    if (bio == NULL)
        return SDV_ENOMEM;
    if (PEM_write_bio_X509(bio, x) == 1) {
        n = BIO_get_mem_data(bio, &p);
        err = n > 0 ? sdv_buf_append(out, p, (size_t)n) : SDV_ECRYPTO;
    }
    BIO_free(bio);
    return err;
}

enum sdv_err sdv_ca_create(const char *common_name, int64_t not_before, int64_t not_after,
                           struct sdv_buf *key_pem_out, struct sdv_buf *cert_pem_out)
{
    struct sdv_key *key = NULL;
    struct sdv_buf pem;
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    X509V3_CTX ctx;
    enum sdv_err err;

    if (!cn_ok(common_name) || not_after <= not_before || key_pem_out == NULL ||
        cert_pem_out == NULL)
        return SDV_EINVAL;
    sdv_buf_init(&pem, SDV_KEY_PEM_LEN_MAX);
    err = sdv_key_generate(SDV_KEY_ECDSA_P256, 0, &key);
    if (err != SDV_OK)
        goto out;
    err = sdv_key_private_pem(key, &pem);
    if (err != SDV_OK)
        goto out;
    err = SDV_ECRYPTO;
    pkey = pem_private(pem.data, pem.len);
    x = X509_new();
    if (pkey == NULL || x == NULL)
        goto out;
    if (!fill_basics(x, common_name, not_before, not_after, pkey) ||
        X509_set_issuer_name(x, X509_get_subject_name(x)) != 1)
        goto out;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(x, &ctx, NID_subject_key_identifier, "hash") || !sign(x, pkey))
        goto out;
    err = append_cert_pem(x, cert_pem_out);
    if (err == SDV_OK)
        err = sdv_buf_append(key_pem_out, pem.data, pem.len);
out:
    X509_free(x);
    EVP_PKEY_free(pkey);
    sdv_key_destroy(key);
    if (pem.data != NULL)
        OPENSSL_cleanse(pem.data, pem.len);
    sdv_buf_free(&pem);
    return err;
}

enum sdv_err sdv_ca_issue(const void *ca_cert_pem, size_t ca_cert_pem_len, const void *ca_key_pem,
                          size_t ca_key_pem_len, const struct sdv_cert_spec *spec,
                          struct sdv_buf *cert_pem_out)
{
    EVP_PKEY *ca_key = NULL, *pub = NULL;
    X509 *ca = NULL, *x = NULL;
    X509V3_CTX ctx;
    char san[CA_SAN_LEN_MAX];
    int n = 0;
    enum sdv_err err;

    if (ca_cert_pem == NULL || ca_key_pem == NULL || spec == NULL || cert_pem_out == NULL ||
        !cn_ok(spec->common_name) || spec->not_after <= spec->not_before ||
        spec->public_key_pem == NULL || ca_cert_pem_len > INT32_MAX || ca_key_pem_len > INT32_MAX ||
        spec->public_key_pem_len > INT32_MAX ||
        (spec->kind != SDV_CERT_CLIENT && spec->kind != SDV_CERT_SERVER))
        return SDV_EINVAL;
    if (spec->kind == SDV_CERT_SERVER) {
        if (spec->dns_name == NULL && spec->ip_addr == NULL)
            return SDV_EINVAL;
        n = snprintf(san, sizeof(san), "%s%s%s%s%s", spec->dns_name != NULL ? "DNS:" : "",
                     spec->dns_name != NULL ? spec->dns_name : "",
                     spec->dns_name != NULL && spec->ip_addr != NULL ? "," : "",
                     spec->ip_addr != NULL ? "IP:" : "",
                     spec->ip_addr != NULL ? spec->ip_addr : "");
        if (n < 0 || (size_t)n >= sizeof(san))
            return SDV_EINVAL;
    }
    err = SDV_EPARSE;
    ca = pem_cert(ca_cert_pem, ca_cert_pem_len);
    ca_key = pem_private(ca_key_pem, ca_key_pem_len);
    pub = pem_public(spec->public_key_pem, spec->public_key_pem_len);
    if (ca == NULL || ca_key == NULL || pub == NULL)
        goto out;
    err = SDV_EINVAL;
    if (X509_check_private_key(ca, ca_key) != 1)
        goto out; /* the key does not belong to this CA certificate */
    err = SDV_ECRYPTO;
    x = X509_new();
    if (x == NULL || !fill_basics(x, spec->common_name, spec->not_before, spec->not_after, pub) ||
        X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1)
        goto out;
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") ||
        !add_ext(x, &ctx, NID_ext_key_usage,
                 spec->kind == SDV_CERT_CLIENT ? "clientAuth" : "serverAuth") ||
        !add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
        !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") ||
        (spec->kind == SDV_CERT_SERVER && !add_ext(x, &ctx, NID_subject_alt_name, san)) ||
        !sign(x, ca_key))
        goto out;
    err = append_cert_pem(x, cert_pem_out);
out:
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(ca_key);
    return err;
}
