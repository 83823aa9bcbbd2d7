/*
 * attack_tool.c - test-only: the attacker's hands for tests/attacks, built on the public API.
 *
 *   attack_tool sign IN OUT [KEY.pem ...]
 *       Replaces the signatures of the metadata document IN ({"signed": ..., "signatures": ...})
 *       with signatures of the given private keys (none: an unsigned document) and writes its
 *       file form (sdv_tuf_serialize) to OUT. Whoever holds a key signs what they like: this is
 *       how the tests forge metadata with stolen online keys, or with a key of their own.
 *
 *   attack_tool store-put STORE_URL VIN ROOT TARGETS SNAPSHOT TIMESTAMP
 *       Replaces the director metadata of VIN in the server's store with the four files, as a
 *       director whose database and online keys are compromised would serve them (the server's
 *       own checks of assignments against the image repository are bypassed).
 *
 *   attack_tool primary ADDRESS NAME LENGTH IMAGE_FILE REPORT_OUT [director|image:NAME=PATH ...]
 *       Acts as a compromised primary ECU towards a real sdv-secondary at ADDRESS: HELLO, the
 *       metadata files given (genuine ones, in the order given), IMAGE_BEGIN NAME LENGTH, the
 *       bytes of IMAGE_FILE (whatever their length), IMAGE_END, INSTALL NAME; then, on a new
 *       connection, VERSION_REPORT_REQUEST, whose signed report is written to REPORT_OUT. Prints
 *       one line per step ("IMAGE_END refused: ..."), and "INSTALLED" if the secondary accepted
 *       the install. Exit 0 when the session ran, 1 on a usage or transport failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/ecu_link.h>
#include <sdv/store.h>
#include <sdv/tuf_repo.h>

#define LINK_TIMEOUT_MS 20000

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "attack_tool: %s: %s\n", what, detail);
    return 1;
}

static enum sdv_err read_file(const char *path, size_t max, struct sdv_buf *out)
{
    sdv_buf_init(out, max);
    return sdv_fs_read(path, out);
}

/* ---- sign ------------------------------------------------------------------------------- */

static int cmd_sign(int argc, char **argv)
{
    struct sdv_buf in, out;
    json_t *doc = NULL;
    char why[256] = "";
    int rc = 1;

    if (argc < 2)
        return fail("usage", "sign IN OUT [KEY.pem ...]");
    sdv_buf_init(&out, 64u * 1024u * 1024u);
    if (read_file(argv[0], 64u * 1024u * 1024u, &in) != SDV_OK) {
        rc = fail(argv[0], "cannot read");
        goto done;
    }
    if (sdv_json_parse(in.data, in.len, &doc, why, sizeof(why)) != SDV_OK || !json_is_object(doc)) {
        rc = fail(argv[0], why);
        goto done;
    }
    json_object_set_new(doc, "signatures", json_array());
    for (int i = 2; i < argc; i++) {
        struct sdv_key *key = NULL;
        enum sdv_err err = sdv_key_load_pem_file(argv[i], &key);

        if (err == SDV_OK)
            err = sdv_tuf_sign_json(doc, key);
        sdv_key_destroy(key);
        if (err != SDV_OK) {
            rc = fail(argv[i], sdv_strerror(err));
            goto done;
        }
    }
    if (sdv_tuf_serialize(doc, &out) != SDV_OK ||
        sdv_fs_write_atomic(argv[1], out.data, out.len, 0644) != SDV_OK) {
        rc = fail(argv[1], "cannot write");
        goto done;
    }
    rc = 0;
done:
    json_decref(doc);
    sdv_buf_free(&in);
    sdv_buf_free(&out);
    return rc;
}

/* ---- store-put -------------------------------------------------------------------------- */

static int cmd_store_put(int argc, char **argv)
{
    struct sdv_store *st = NULL;
    struct sdv_store_director_state cur = {0}, next = {0};
    struct sdv_buf files[SDV_STORE_ROLE_COUNT];
    /* The argument order, in the store's role numbering. */
    static const enum sdv_store_role order[] = {SDV_STORE_ROLE_ROOT, SDV_STORE_ROLE_TARGETS,
                                                SDV_STORE_ROLE_SNAPSHOT, SDV_STORE_ROLE_TIMESTAMP};
    enum sdv_err err;
    int rc = 1;

    if (argc != 6)
        return fail("usage", "store-put STORE_URL VIN ROOT TARGETS SNAPSHOT TIMESTAMP");
    for (size_t i = 0; i < SDV_STORE_ROLE_COUNT; i++)
        sdv_buf_init(&files[i], 0);
    for (size_t i = 0; i < 4; i++) {
        enum sdv_store_role r = order[i];
        json_t *doc = NULL;

        /* +1: the store takes NUL-terminated text. */
        if (read_file(argv[2 + i], SDV_TUF_TARGETS_MAX_LEN, &files[r]) != SDV_OK ||
            sdv_buf_putc(&files[r], '\0') != SDV_OK) {
            rc = fail(argv[2 + i], "cannot read");
            goto done;
        }
        if (sdv_json_parse(files[r].data, files[r].len - 1, &doc, NULL, 0) != SDV_OK) {
            rc = fail(argv[2 + i], "not JSON");
            goto done;
        }
        next.version[r] =
                json_integer_value(json_object_get(json_object_get(doc, "signed"), "version"));
        next.metadata[r] = (const char *)files[r].data;
        json_decref(doc);
    }
    err = sdv_store_open(argv[0], NULL, &st);
    if (err == SDV_OK)
        err = sdv_store_director_state_get(st, argv[1], &cur);
    if (err == SDV_OK)
        err = sdv_store_director_state_put(st, argv[1], &next, cur.version[SDV_STORE_ROLE_TARGETS]);
    if (err != SDV_OK) {
        rc = fail(argv[0], sdv_store_errmsg(st));
        goto done;
    }
    rc = 0;
done:
    sdv_store_director_state_release(&cur);
    sdv_store_close(st);
    for (size_t i = 0; i < SDV_STORE_ROLE_COUNT; i++)
        sdv_buf_free(&files[i]);
    return rc;
}

/* ---- primary ---------------------------------------------------------------------------- */

struct link {
    struct sdv_ecu_link_conn *conn;
    struct sdv_ecu_link_msg in;
};

static enum sdv_err link_open(struct link *l, const char *address)
{
    struct sdv_ecu_link_io io = {0};
    struct sdv_ecu_link_msg m;
    char why[256] = "";
    int fd = -1;
    enum sdv_err err;

    io.timeout_ms = LINK_TIMEOUT_MS;
    err = sdv_ecu_link_connect(address, LINK_TIMEOUT_MS, &fd, why, sizeof(why));
    if (err != SDV_OK) {
        fail(address, why);
        return err;
    }
    err = sdv_ecu_link_conn_create(fd, &io, &l->conn);
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_HELLO);
    if (err == SDV_OK)
        err = sdv_ecu_link_conn_send(l->conn, &m);
    if (err == SDV_OK)
        err = sdv_ecu_link_conn_recv(l->conn, &l->in);
    if (err == SDV_OK && l->in.type != SDV_ECU_LINK_INFO)
        err = SDV_EPARSE;
    if (err == SDV_OK)
        printf("HELLO: %s (%s, %s verification)\n", l->in.serial, l->in.hardware_id,
               sdv_ecu_link_mode_name(l->in.mode));
    else
        fail("HELLO", sdv_strerror(err));
    return err;
}

/* Sends m and prints the secondary's RESULT as "WHAT ok" or "WHAT refused: text". Returns 1
 * when it was accepted, 0 when refused, -1 when the connection broke. */
static int step(struct link *l, const struct sdv_ecu_link_msg *m, const char *what)
{
    enum sdv_err err = sdv_ecu_link_conn_send(l->conn, m);

    if (err == SDV_OK)
        err = sdv_ecu_link_conn_recv(l->conn, &l->in);
    if (err != SDV_OK) {
        printf("%s: connection ended: %s\n", what, sdv_ecu_link_conn_errmsg(l->conn));
        return -1;
    }
    if (l->in.type == SDV_ECU_LINK_RESULT && l->in.status == SDV_OK) {
        printf("%s ok\n", what);
        return 1;
    }
    printf("%s refused: %s: %s\n", what, sdv_errname((enum sdv_err)l->in.status), l->in.text);
    return 0;
}

/* The session of a compromised primary: returns 1 if the secondary installed. */
static int malicious_session(struct link *l, char **argv, int argc)
{
    struct sdv_ecu_link_msg m;
    struct sdv_buf img;
    const char *name = argv[1];
    int ok = 1;

    for (int i = 5; i < argc && ok == 1; i++) {
        const char *colon = strchr(argv[i], ':'), *eq = strchr(argv[i], '=');
        struct sdv_buf b;

        if (colon == NULL || eq == NULL || eq < colon) {
            fail(argv[i], "want director:NAME=PATH or image:NAME=PATH");
            return 0;
        }
        if (read_file(eq + 1, SDV_ECU_LINK_METADATA_LEN_MAX, &b) != SDV_OK) {
            sdv_buf_free(&b);
            fail(eq + 1, "cannot read");
            return 0;
        }
        sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_METADATA);
        m.repo = strncmp(argv[i], "image:", 6) == 0 ? SDV_ECU_LINK_REPO_IMAGE
                                                    : SDV_ECU_LINK_REPO_DIRECTOR;
        snprintf(m.name, sizeof(m.name), "%.*s", (int)(eq - colon - 1), colon + 1);
        m.data = b.data;
        m.data_len = b.len;
        ok = step(l, &m, "METADATA");
        sdv_buf_free(&b);
    }
    if (ok != 1)
        return 0;
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_IMAGE_BEGIN);
    m.length = strtoull(argv[2], NULL, 10);
    snprintf(m.name, sizeof(m.name), "%s", name);
    if (step(l, &m, "IMAGE_BEGIN") != 1)
        return 0;
    if (read_file(argv[3], 64u * 1024u * 1024u, &img) != SDV_OK) {
        sdv_buf_free(&img);
        fail(argv[3], "cannot read");
        return 0;
    }
    for (size_t off = 0; off < img.len;) {
        size_t n = img.len - off < SDV_ECU_LINK_CHUNK_LEN_MAX ? img.len - off
                                                              : SDV_ECU_LINK_CHUNK_LEN_MAX;

        sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_IMAGE_DATA);
        m.data = img.data + off;
        m.data_len = n;
        if (sdv_ecu_link_conn_send(l->conn, &m) != SDV_OK) {
            /* A secondary that gives up answers with a RESULT, then closes. */
            if (sdv_ecu_link_conn_recv(l->conn, &l->in) == SDV_OK)
                printf("IMAGE_DATA refused: %s: %s\n", sdv_errname((enum sdv_err)l->in.status),
                       l->in.text);
            else
                printf("IMAGE_DATA: connection ended\n");
            sdv_buf_free(&img);
            return 0;
        }
        off += n;
    }
    sdv_buf_free(&img);
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_IMAGE_END);
    if (step(l, &m, "IMAGE_END") != 1)
        return 0;
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_INSTALL);
    snprintf(m.name, sizeof(m.name), "%s", name);
    return step(l, &m, "INSTALL") == 1;
}

static int cmd_primary(int argc, char **argv)
{
    struct link l = {0};
    struct sdv_ecu_link_msg m;
    int installed, rc = 1;

    if (argc < 5)
        return fail("usage", "primary ADDRESS NAME LENGTH IMAGE_FILE REPORT_OUT [REPO:NAME=PATH]");
    if (link_open(&l, argv[0]) != SDV_OK)
        goto done;
    installed = malicious_session(&l, argv, argc);
    if (installed)
        printf("INSTALLED\n");
    sdv_ecu_link_conn_destroy(l.conn);
    l.conn = NULL;
    /* A fresh connection: a refusal may have closed the first one. */
    if (link_open(&l, argv[0]) != SDV_OK)
        goto done;
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_VERSION_REPORT_REQUEST);
    if (sdv_ecu_link_conn_send(l.conn, &m) != SDV_OK ||
        sdv_ecu_link_conn_recv(l.conn, &l.in) != SDV_OK ||
        l.in.type != SDV_ECU_LINK_VERSION_REPORT ||
        sdv_fs_write_atomic(argv[4], l.in.data, l.in.data_len, 0644) != SDV_OK) {
        fail("VERSION_REPORT_REQUEST", sdv_ecu_link_conn_errmsg(l.conn));
        goto done;
    }
    printf("VERSION_REPORT written to %s\n", argv[4]);
    rc = 0;
done:
    sdv_ecu_link_conn_destroy(l.conn);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "sign") == 0)
        return cmd_sign(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "store-put") == 0)
        return cmd_store_put(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "primary") == 0)
        return cmd_primary(argc - 2, argv + 2);
    fprintf(stderr, "usage: attack_tool sign|store-put|primary ... (see attack_tool.c)\n");
    return 2;
}
