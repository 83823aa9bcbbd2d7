/*
 * sdv/crypto.h - keys, signatures, hashes and randomness for OpenSDV, on OpenSSL 3 libcrypto.
 * We never implement cryptography ourselves: this module only adapts OpenSSL to the key and
 * signature formats of TUF and Uptane.
 *
 * Key types and signature schemes (TUF / securesystemslib names):
 *   ed25519   keytype "ed25519", scheme "ed25519", keyval.public = 64 hex digits (raw key)
 *   ECDSA     keytype "ecdsa" or "ecdsa-sha2-nistp256", scheme "ecdsa-sha2-nistp256",
 *             keyval.public = SubjectPublicKeyInfo PEM; signatures are DER, SHA-256
 *   RSA       keytype "rsa", scheme "rsassa-pss-sha256", keyval.public = PEM; PSS with MGF1
 *             SHA-256; verification accepts any salt length, signing uses the digest length
 * Signatures travel as lowercase hex in TUF metadata; this API deals in raw bytes.
 *
 * Thread safety: a key may be used for verify/sign from several threads at once; a hash context
 * by one thread at a time.
 */
#ifndef SDV_CRYPTO_H
#define SDV_CRYPTO_H

#include <sdv/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sdv_key_type {
    SDV_KEY_ED25519 = 1,
    SDV_KEY_ECDSA_P256 = 2,
    SDV_KEY_RSA = 3,
};

/* A public key, optionally with its private half. Opaque. */
struct sdv_key;

/* Generates a new key pair; rsa_bits is used for SDV_KEY_RSA only (0: 3072). */
enum sdv_err sdv_key_generate(enum sdv_key_type type, unsigned rsa_bits, struct sdv_key **out);

/* Parses a PEM private key (PKCS#8 or traditional) or a PEM public key (SubjectPublicKeyInfo).
 * Only the three supported types are accepted (EC keys must be on P-256): SDV_EUNSUPPORTED
 * otherwise, SDV_EPARSE for anything that is not PEM. Caller frees with sdv_key_destroy(). */
enum sdv_err sdv_key_load_pem(const void *pem, size_t len, struct sdv_key **out);

/* Reads and parses a PEM file (at most SDV_KEY_PEM_LEN_MAX bytes). */
enum sdv_err sdv_key_load_pem_file(const char *path, struct sdv_key **out);

/* Appends the PKCS#8 private key PEM (SDV_EINVAL for a public-only key) or the public PEM. */
enum sdv_err sdv_key_private_pem(const struct sdv_key *key, struct sdv_buf *out);
enum sdv_err sdv_key_public_pem(const struct sdv_key *key, struct sdv_buf *out);

/* Parses a TUF key object {"keytype", "scheme", "keyval": {"public"}}. Unknown keytype or
 * scheme, or a keytype/scheme pair that does not belong together: SDV_EUNSUPPORTED; missing or
 * ill-typed fields, bad hex or PEM: SDV_EPARSE. Borrowed obj. Caller destroys *out. */
enum sdv_err sdv_key_from_tuf(const json_t *obj, struct sdv_key **out);

/* Builds the TUF key object of the public half (new reference, caller json_decref()s). */
enum sdv_err sdv_key_to_tuf(const struct sdv_key *key, json_t **out);

/* Writes the key id: lowercase hex SHA-256 of the canonical JSON of sdv_key_to_tuf(). */
#define SDV_KEYID_STR_LEN 65
enum sdv_err sdv_key_id(const struct sdv_key *key, char out[SDV_KEYID_STR_LEN]);

enum sdv_key_type sdv_key_type(const struct sdv_key *key);
/* "ed25519", "ecdsa-sha2-nistp256" or "rsassa-pss-sha256". Static string. */
const char *sdv_key_scheme(const struct sdv_key *key);
/* Non-zero if the key holds a private half. */
int sdv_key_has_private(const struct sdv_key *key);

/* Signs msg with the key's scheme into sig (sig_max bytes; SDV_SIG_LEN_MAX always suffices). */
enum sdv_err sdv_key_sign(const struct sdv_key *key, const void *msg, size_t msg_len, uint8_t *sig,
                          size_t sig_max, size_t *sig_len);

/* Verifies sig over msg. SDV_OK if valid, SDV_ESIG if not (any malformed signature included),
 * SDV_ECRYPTO/SDV_ENOMEM only when OpenSSL itself fails. */
enum sdv_err sdv_key_verify(const struct sdv_key *key, const void *msg, size_t msg_len,
                            const uint8_t *sig, size_t sig_len);

/* NULL is a no-op. */
void sdv_key_destroy(struct sdv_key *key);

/* ---- Hashes ----------------------------------------------------------------------------- */

enum sdv_hash_alg {
    SDV_HASH_SHA256 = 1,
    SDV_HASH_SHA512 = 2,
};
#define SDV_HASH_LEN_MAX 64

/* "sha256" / "sha512" -> alg; anything else SDV_EUNSUPPORTED. */
enum sdv_err sdv_hash_alg_from_name(const char *name, enum sdv_hash_alg *out);
const char *sdv_hash_alg_name(enum sdv_hash_alg alg);
size_t sdv_hash_len(enum sdv_hash_alg alg);

/* Streaming hash context. */
struct sdv_hash;
enum sdv_err sdv_hash_create(enum sdv_hash_alg alg, struct sdv_hash **out);
enum sdv_err sdv_hash_update(struct sdv_hash *h, const void *p, size_t n);
/* Writes sdv_hash_len() bytes to out. The context may be reused after sdv_hash_reset(). */
enum sdv_err sdv_hash_final(struct sdv_hash *h, uint8_t *out);
enum sdv_err sdv_hash_reset(struct sdv_hash *h);
void sdv_hash_destroy(struct sdv_hash *h);

/* One-shot digest of p[0..n) into out (sdv_hash_len(alg) bytes). */
enum sdv_err sdv_hash_buf(enum sdv_hash_alg alg, const void *p, size_t n, uint8_t *out);

/* Digest of a file, streamed in fixed-size blocks; *len_out (may be NULL) gets the file size. */
enum sdv_err sdv_hash_file(enum sdv_hash_alg alg, const char *path, uint8_t *out,
                           uint64_t *len_out);

/* Fills p with n bytes from OpenSSL's CSPRNG. */
enum sdv_err sdv_random_bytes(void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* SDV_CRYPTO_H */
