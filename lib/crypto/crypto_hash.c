/*
 * crypto_hash.c - SHA-256/SHA-512 digests (streaming, one-shot and over files) and the CSPRNG,
 * all through OpenSSL's EVP interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/crypto.h>

/* Files are hashed in blocks of this size: large enough to amortise the read() system call,
 * small enough to be one allocation per file whatever the file size. */
#define HASH_FILE_BLOCK_LEN (64u * 1024u)

/* RAND_bytes() takes an int length, so larger requests are served in chunks of this size. */
#define RANDOM_CHUNK_LEN (1u << 30)

struct sdv_hash {
    enum sdv_hash_alg alg;
    const EVP_MD *md;
    EVP_MD_CTX *ctx;
};

static const EVP_MD *hash_md(enum sdv_hash_alg alg)
{
    switch (alg) {
    case SDV_HASH_SHA256:
        return EVP_sha256();
    case SDV_HASH_SHA512:
        return EVP_sha512();
    }
    return NULL;
}

enum sdv_err sdv_hash_alg_from_name(const char *name, enum sdv_hash_alg *out)
{
    if (name == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    if (strcmp(name, "sha256") == 0) {
        *out = SDV_HASH_SHA256;
        return SDV_OK;
    }
    if (strcmp(name, "sha512") == 0) {
        *out = SDV_HASH_SHA512;
        return SDV_OK;
    }
    return SDV_EUNSUPPORTED;
}

const char *sdv_hash_alg_name(enum sdv_hash_alg alg)
{
    switch (alg) {
    case SDV_HASH_SHA256:
        return "sha256";
    case SDV_HASH_SHA512:
        return "sha512";
    }
    /* Never NULL, so that the result can always be printed. */
    return "unknown";
}

size_t sdv_hash_len(enum sdv_hash_alg alg)
{
    switch (alg) {
    case SDV_HASH_SHA256:
        return 32;
    case SDV_HASH_SHA512:
        return 64;
    }
    return 0;
}

enum sdv_err sdv_hash_create(enum sdv_hash_alg alg, struct sdv_hash **out)
{
    const EVP_MD *md = hash_md(alg);
    struct sdv_hash *h;

    if (md == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return SDV_ENOMEM;
    }
    h->alg = alg;
    h->md = md;
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL) {
        free(h);
        return SDV_ENOMEM;
    }
    if (EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
        ERR_clear_error();
        sdv_hash_destroy(h);
        return SDV_ECRYPTO;
    }
    *out = h;
    return SDV_OK;
}

enum sdv_err sdv_hash_update(struct sdv_hash *h, const void *p, size_t n)
{
    if (h == NULL || (p == NULL && n > 0)) {
        return SDV_EINVAL;
    }
    if (n == 0) {
        return SDV_OK;
    }
    if (EVP_DigestUpdate(h->ctx, p, n) != 1) {
        ERR_clear_error();
        return SDV_ECRYPTO;
    }
    return SDV_OK;
}

enum sdv_err sdv_hash_final(struct sdv_hash *h, uint8_t *out)
{
    unsigned int len = 0;

    if (h == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1) {
        ERR_clear_error();
        return SDV_ECRYPTO;
    }
    if (len != sdv_hash_len(h->alg)) {
        return SDV_ECRYPTO;
    }
    return SDV_OK;
}

enum sdv_err sdv_hash_reset(struct sdv_hash *h)
{
    if (h == NULL) {
        return SDV_EINVAL;
    }
    if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1) {
        ERR_clear_error();
        return SDV_ECRYPTO;
    }
    return SDV_OK;
}

void sdv_hash_destroy(struct sdv_hash *h)
{
    if (h == NULL) {
        return;
    }
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

enum sdv_err sdv_hash_buf(enum sdv_hash_alg alg, const void *p, size_t n, uint8_t *out)
{
    const EVP_MD *md = hash_md(alg);
    unsigned int len = 0;

    if (md == NULL || out == NULL || (p == NULL && n > 0)) {
        return SDV_EINVAL;
    }
    /* EVP_Digest() accepts an empty message but not a NULL pointer on every version. */
    if (p == NULL) {
        p = "";
    }
    if (EVP_Digest(p, n, out, &len, md, NULL) != 1) {
        ERR_clear_error();
        return SDV_ECRYPTO;
    }
    return SDV_OK;
}

enum sdv_err sdv_hash_file(enum sdv_hash_alg alg, const char *path, uint8_t *out, uint64_t *len_out)
{
    struct sdv_hash *h = NULL;
    uint8_t *block = NULL;
    uint64_t total = 0;
    enum sdv_err err;
    int fd = -1;

    if (path == NULL || out == NULL) {
        return SDV_EINVAL;
    }
    err = sdv_hash_create(alg, &h);
    if (err != SDV_OK) {
        return err;
    }
    block = malloc(HASH_FILE_BLOCK_LEN);
    if (block == NULL) {
        err = SDV_ENOMEM;
        goto out;
    }
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        err = sdv_err_from_errno(errno);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, block, HASH_FILE_BLOCK_LEN);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            err = sdv_err_from_errno(errno);
            goto out;
        }
        if (n == 0) {
            break;
        }
        err = sdv_hash_update(h, block, (size_t)n);
        if (err != SDV_OK) {
            goto out;
        }
        total += (uint64_t)n;
    }
    err = sdv_hash_final(h, out);
    if (err == SDV_OK && len_out != NULL) {
        *len_out = total;
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    free(block);
    sdv_hash_destroy(h);
    return err;
}

enum sdv_err sdv_random_bytes(void *p, size_t n)
{
    uint8_t *dst = p;

    if (p == NULL && n > 0) {
        return SDV_EINVAL;
    }
    while (n > 0) {
        size_t chunk = n < RANDOM_CHUNK_LEN ? n : RANDOM_CHUNK_LEN;

        if (RAND_bytes(dst, (int)chunk) != 1) {
            ERR_clear_error();
            return SDV_ECRYPTO;
        }
        dst += chunk;
        n -= chunk;
    }
    return SDV_OK;
}
