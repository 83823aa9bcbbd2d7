/*
 * crypto_int.h - declarations shared by the files of lib/crypto only (never installed, never
 * included from another module).
 */
#ifndef SDV_CRYPTO_INT_H
#define SDV_CRYPTO_INT_H

#include <openssl/evp.h>

#include <sdv/crypto.h>

/* Smallest and largest RSA modulus we load or generate. Below 2048 bits RSA is no longer
 * considered safe; above 8192 bits a signature would not fit in SDV_SIG_LEN_MAX. */
#define SDV_CRYPTO_RSA_BITS_MIN     2048
#define SDV_CRYPTO_RSA_BITS_MAX     8192
#define SDV_CRYPTO_RSA_BITS_DEFAULT 3072

/*
 * A key is an EVP_PKEY that was checked once, when it was loaded or generated, to be one of the
 * supported types. Sign and verify use pkey as is, so nothing is parsed per call. The structure
 * is never modified after creation, which is what makes concurrent use from threads safe.
 */
struct sdv_key {
    enum sdv_key_type type;
    int has_private;
    EVP_PKEY *pkey; /* owned */
};

/*
 * Checks that pkey is ed25519, EC on P-256 or RSA of a supported size and wraps it into a new
 * key. Takes pkey in every case (it is freed on error). SDV_EUNSUPPORTED for any other key.
 */
enum sdv_err sdv_crypto_key_wrap(EVP_PKEY *pkey, int has_private, struct sdv_key **out);

#endif /* SDV_CRYPTO_INT_H */
