/*
 * crypto_tool.c - a test-only command-line front end to lib/crypto, used by interop_crypto.py
 * to check our signatures and key ids against an independent implementation. Not installed.
 *
 *   crypto_tool sign KEY.pem FILE           prints the hex signature of FILE
 *   crypto_tool verify PUB.pem FILE HEXSIG  exits 0 if valid, 1 if not
 *   crypto_tool keyid PUB.pem               prints the TUF key id
 *   crypto_tool tufkey PUB.pem              prints the TUF key object (compact JSON)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/crypto.h>
#include <sdv/limits.h>

/* Messages signed by the interop test are small; this bounds what the tool reads. */
#define TOOL_MSG_LEN_MAX (16u * 1024u * 1024u)

static int usage(void)
{
    fprintf(stderr, "usage: crypto_tool sign KEY.pem FILE\n"
                    "       crypto_tool verify PUB.pem FILE HEXSIG\n"
                    "       crypto_tool keyid PUB.pem\n"
                    "       crypto_tool tufkey PUB.pem\n");
    return 2;
}

static int fail(const char *what, const char *arg, enum sdv_err err)
{
    fprintf(stderr, "crypto_tool: %s %s: %s\n", what, arg, sdv_strerror(err));
    return 2;
}

/* Loads the key at key_path and reads the message at msg_path. On failure reports it and returns
 * the exit status, with nothing left to free; on success the caller frees both. */
static int load_inputs(const char *key_path, const char *msg_path, struct sdv_key **key,
                       struct sdv_buf *msg)
{
    enum sdv_err err = sdv_key_load_pem_file(key_path, key);

    if (err != SDV_OK) {
        return fail("loading", key_path, err);
    }
    sdv_buf_init(msg, TOOL_MSG_LEN_MAX);
    err = sdv_fs_read(msg_path, msg);
    if (err != SDV_OK) {
        sdv_buf_free(msg);
        sdv_key_destroy(*key);
        *key = NULL;
        return fail("reading", msg_path, err);
    }
    return 0;
}

static int cmd_sign(const char *key_path, const char *msg_path)
{
    uint8_t sig[SDV_SIG_LEN_MAX];
    char hex[2 * SDV_SIG_LEN_MAX + 1];
    struct sdv_key *key = NULL;
    struct sdv_buf msg;
    size_t sig_len = 0;
    enum sdv_err err;
    int rc;

    rc = load_inputs(key_path, msg_path, &key, &msg);
    if (rc != 0) {
        return rc;
    }
    err = sdv_key_sign(key, msg.data, msg.len, sig, sizeof(sig), &sig_len);
    sdv_buf_free(&msg);
    sdv_key_destroy(key);
    if (err != SDV_OK) {
        return fail("signing with", key_path, err);
    }
    sdv_hex_encode(sig, sig_len, hex);
    printf("%s\n", hex);
    return 0;
}

static int cmd_verify(const char *key_path, const char *msg_path, const char *hex)
{
    uint8_t sig[SDV_SIG_LEN_MAX];
    struct sdv_key *key = NULL;
    struct sdv_buf msg;
    size_t sig_len = 0;
    enum sdv_err err;
    int rc;

    err = sdv_hex_decode(hex, strlen(hex), sig, sizeof(sig), &sig_len);
    if (err != SDV_OK) {
        return fail("decoding", "signature", err);
    }
    rc = load_inputs(key_path, msg_path, &key, &msg);
    if (rc != 0) {
        return rc;
    }
    err = sdv_key_verify(key, msg.data, msg.len, sig, sig_len);
    sdv_buf_free(&msg);
    sdv_key_destroy(key);
    if (err == SDV_OK) {
        return 0;
    }
    fprintf(stderr, "crypto_tool: verify: %s\n", sdv_strerror(err));
    return err == SDV_ESIG ? 1 : 2;
}

static int cmd_keyid(const char *key_path)
{
    char id[SDV_KEYID_STR_LEN];
    struct sdv_key *key = NULL;
    enum sdv_err err;

    err = sdv_key_load_pem_file(key_path, &key);
    if (err != SDV_OK) {
        return fail("loading", key_path, err);
    }
    err = sdv_key_id(key, id);
    sdv_key_destroy(key);
    if (err != SDV_OK) {
        return fail("key id of", key_path, err);
    }
    printf("%s\n", id);
    return 0;
}

static int cmd_tufkey(const char *key_path)
{
    struct sdv_key *key = NULL;
    json_t *obj = NULL;
    enum sdv_err err;
    char *text;

    err = sdv_key_load_pem_file(key_path, &key);
    if (err != SDV_OK) {
        return fail("loading", key_path, err);
    }
    err = sdv_key_to_tuf(key, &obj);
    sdv_key_destroy(key);
    if (err != SDV_OK) {
        return fail("TUF key of", key_path, err);
    }
    /* Ordinary JSON (not the canonical form, whose raw newlines strict parsers refuse). */
    text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    if (text == NULL) {
        return fail("writing JSON of", key_path, SDV_ENOMEM);
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "sign") == 0) {
        return cmd_sign(argv[2], argv[3]);
    }
    if (argc == 5 && strcmp(argv[1], "verify") == 0) {
        return cmd_verify(argv[2], argv[3], argv[4]);
    }
    if (argc == 3 && strcmp(argv[1], "keyid") == 0) {
        return cmd_keyid(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "tufkey") == 0) {
        return cmd_tufkey(argv[2]);
    }
    return usage();
}
