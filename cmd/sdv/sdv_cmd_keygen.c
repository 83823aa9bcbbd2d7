/*
 * sdv_cmd_keygen.c - `sdv keygen`: creates a signing key pair as PEM files and prints its TUF
 * key id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sdv/common.h>
#include <sdv/crypto.h>

#include "sdv_cmds.h"

static void keygen_usage(FILE *f)
{
    fputs("usage: sdv keygen --type ed25519|ecdsa|rsa [--bits N] --out PREFIX [--force]\n"
          "  writes PREFIX.pem (private key, mode 0600) and PREFIX.pub.pem, prints the key id\n",
          f);
}

static int keygen_fail(const char *what, const char *where)
{
    fprintf(stderr, "sdv keygen: %s (%s)\n", what, where);
    return 1;
}

int sdv_cmd_keygen(int argc, char **argv)
{
    const char *type = NULL, *bits_s = NULL, *out = NULL;
    char priv_path[4096], pub_path[4096], keyid[SDV_KEYID_STR_LEN];
    enum sdv_key_type kt;
    unsigned long bits = 0;
    struct sdv_key *key = NULL;
    struct sdv_buf priv, pub;
    struct stat st;
    int force = 0, rc = 1;
    enum sdv_err err;

    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            keygen_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
            continue;
        } else if (strcmp(argv[i], "--type") == 0) {
            slot = &type;
        } else if (strcmp(argv[i], "--bits") == 0) {
            slot = &bits_s;
        } else if (strcmp(argv[i], "--out") == 0) {
            slot = &out;
        } else {
            keygen_usage(stderr);
            return keygen_fail(argv[i][0] == '-' ? "unknown option" : "unexpected argument",
                               argv[i]);
        }
        if (i + 1 >= argc)
            return keygen_fail("option needs a value", argv[i]);
        *slot = argv[++i];
    }
    if (type == NULL || out == NULL) {
        keygen_usage(stderr);
        return keygen_fail("--type and --out are required", "command line");
    }
    if (strcmp(type, "ed25519") == 0)
        kt = SDV_KEY_ED25519;
    else if (strcmp(type, "ecdsa") == 0 || strcmp(type, "ecdsa-sha2-nistp256") == 0)
        kt = SDV_KEY_ECDSA_P256;
    else if (strcmp(type, "rsa") == 0)
        kt = SDV_KEY_RSA;
    else
        return keygen_fail("unknown key type", type);
    if (bits_s != NULL) {
        char *end;

        errno = 0;
        bits = strtoul(bits_s, &end, 10);
        if (kt != SDV_KEY_RSA)
            return keygen_fail("--bits is only for rsa keys", bits_s);
        if (errno != 0 || *end != '\0' || bits < 2048 || bits > 8192)
            return keygen_fail("--bits must be between 2048 and 8192", bits_s);
    }
    if (snprintf(priv_path, sizeof(priv_path), "%s.pem", out) >= (int)sizeof(priv_path) ||
        snprintf(pub_path, sizeof(pub_path), "%s.pub.pem", out) >= (int)sizeof(pub_path))
        return keygen_fail("output prefix too long", out);
    if (!force && stat(priv_path, &st) == 0)
        return keygen_fail("private key file exists; use --force to replace it", priv_path);

    sdv_buf_init(&priv, 64 * 1024);
    sdv_buf_init(&pub, 64 * 1024);
    err = sdv_key_generate(kt, (unsigned)bits, &key);
    if (err != SDV_OK) {
        keygen_fail(sdv_strerror(err), "key generation");
        goto out;
    }
    err = sdv_key_private_pem(key, &priv);
    if (err == SDV_OK)
        err = sdv_key_public_pem(key, &pub);
    if (err == SDV_OK)
        err = sdv_key_id(key, keyid);
    if (err != SDV_OK) {
        keygen_fail(sdv_strerror(err), "key encoding");
        goto out;
    }
    err = sdv_fs_write_atomic(priv_path, priv.data, priv.len, 0600);
    if (err == SDV_OK && chmod(priv_path, 0600) != 0)
        err = sdv_err_from_errno(errno);
    if (err != SDV_OK) {
        keygen_fail(sdv_strerror(err), priv_path);
        goto out;
    }
    err = sdv_fs_write_atomic(pub_path, pub.data, pub.len, 0644);
    if (err != SDV_OK) {
        keygen_fail(sdv_strerror(err), pub_path);
        goto out;
    }
    printf("%s\n", keyid);
    rc = 0;
out:
    if (priv.data != NULL)
        memset(priv.data, 0, priv.len);
    sdv_buf_free(&priv);
    sdv_buf_free(&pub);
    sdv_key_destroy(key);
    return rc;
}
