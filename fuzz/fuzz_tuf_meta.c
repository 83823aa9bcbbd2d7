/*
 * fuzz_tuf_meta.c - feeds untrusted bytes to the TUF metadata parsers of lib/tuf. The first byte
 * chooses the parser (low two bits: 0 root, 1 timestamp, 2 snapshot, 3 targets), the rest is the
 * metadata file. Whatever parses is then exercised the way the client uses it: signatures are
 * verified against the document's own keys (root roles, delegated roles, succinct bins), snapshot
 * entries looked up, target entries converted and delegation paths matched.
 *
 * Checked properties: the parsed document keeps the exact input bytes; a failure carries a
 * message that starts with the role name; no keys never meet a threshold; freeing twice is
 * harmless (results are zeroed); and nothing crashes or leaks under the sanitizers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tuf/tuf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const role_names[] = {"root", "timestamp", "snapshot", "targets"};

/* A failed parse or check must say which role it concerns. */
static void check_failure(enum sdv_err err, const char *msg, const char *role)
{
    if (err == SDV_OK || err == SDV_ENOMEM)
        return;
    if (strncmp(msg, role, strlen(role)) != 0)
        abort();
}

static void check_raw(const struct tuf_meta *m, const uint8_t *data, size_t size)
{
    if (m->raw.len != size || (size > 0 && memcmp(m->raw.data, data, size) != 0))
        abort();
    if (m->version < 1 || m->doc == NULL || m->signed_obj == NULL)
        abort();
}

/* Verifying with no keys at all can never succeed. */
static void check_no_keys(const struct tuf_meta *m, const char *role)
{
    static const char *const none[] = {"00", NULL};
    struct tuf_keyring empty = {NULL, 0};
    struct tuf_role_keys keys = {(const char **)none, 1, 1};

    if (tuf_verify_signatures(m, role, &empty, &keys, NULL) == SDV_OK)
        abort();
}

static void verify(const struct tuf_meta *m, const char *role, const struct tuf_keyring *kr,
                   const struct tuf_role_keys *keys)
{
    char msg[512] = "";
    struct tuf_err e = {msg, sizeof(msg)};

    check_failure(tuf_verify_signatures(m, role, kr, keys, &e), msg, role);
}

static void fuzz_root(const uint8_t *data, size_t size, struct sdv_buf *raw, struct tuf_err *e)
{
    struct tuf_root r;
    enum sdv_err err = tuf_root_parse(raw, &r, e);

    check_failure(err, e->msg, "root");
    if (err == SDV_OK) {
        check_raw(&r.meta, data, size);
        for (int i = 0; i < 4; i++)
            verify(&r.meta, role_names[i], &r.keyring, &r.roles[i]);
        check_no_keys(&r.meta, "root");
    }
    tuf_root_free(&r);
    tuf_root_free(&r);
}

static void fuzz_timestamp(const uint8_t *data, size_t size, struct sdv_buf *raw, struct tuf_err *e)
{
    struct tuf_timestamp t;
    enum sdv_err err = tuf_timestamp_parse(raw, &t, e);

    check_failure(err, e->msg, "timestamp");
    if (err == SDV_OK) {
        check_raw(&t.meta, data, size);
        if (t.snapshot.version < 1)
            abort();
        /* The snapshot entry's hashes, applied to the input itself. */
        err = tuf_check_length_hashes(data, size, t.snapshot.length, t.snapshot.hashes, "snapshot",
                                      e);
        if (err != SDV_OK && err != SDV_EHASH && err != SDV_EUNSUPPORTED)
            abort();
        check_no_keys(&t.meta, "timestamp");
    }
    tuf_timestamp_free(&t);
    tuf_timestamp_free(&t);
}

static void fuzz_snapshot(const uint8_t *data, size_t size, struct sdv_buf *raw, struct tuf_err *e)
{
    struct tuf_snapshot s;
    enum sdv_err err = tuf_snapshot_parse(raw, &s, e);
    const char *name;
    const json_t *v;

    check_failure(err, e->msg, "snapshot");
    if (err == SDV_OK) {
        check_raw(&s.meta, data, size);
        json_object_foreach((json_t *)s.files, name, v)
        {
            struct tuf_metafile mf;

            /* Every entry was validated at parse time. */
            if (tuf_snapshot_lookup(&s, name, &mf) != SDV_OK || mf.version < 1)
                abort();
        }
        check_no_keys(&s.meta, "snapshot");
    }
    tuf_snapshot_free(&s);
    tuf_snapshot_free(&s);
}

static void fuzz_targets(const uint8_t *data, size_t size, struct sdv_buf *raw, struct tuf_err *e)
{
    struct tuf_targets t;
    enum sdv_err err = tuf_targets_parse(raw, "targets", &t, e);
    const char *path;
    const json_t *v;

    check_failure(err, e->msg, "targets");
    if (err == SDV_OK) {
        check_raw(&t.meta, data, size);
        check_no_keys(&t.meta, "targets");
        json_object_foreach((json_t *)t.targets, path, v)
        {
            struct sdv_tuf_target target;
            char bin[SDV_TUF_NAME_LEN_MAX + 16];

            err = tuf_target_from_json(path, v, "targets", &target, e);
            check_failure(err, e->msg, "targets");
            if (err == SDV_OK && (target.hash_count == 0 || target.path != path))
                abort();
            for (size_t i = 0; i < t.role_count; i++)
                (void)tuf_role_matches(&t.roles[i], path);
            if (t.succinct)
                (void)tuf_succinct_bin_name(&t, path, bin, sizeof(bin));
        }
        for (size_t i = 0; i < t.role_count; i++) {
            const json_t *paths = t.roles[i].paths;

            for (size_t j = 0; paths != NULL && j < json_array_size(paths); j++)
                (void)tuf_path_match(json_string_value(json_array_get(paths, j)), "a/b/c.bin");
            (void)tuf_role_matches(&t.roles[i], "a/b/c.bin");
            verify(&t.meta, "targets", &t.delegation_keys, &t.roles[i].keys);
        }
        if (t.succinct) {
            if (t.succinct_bit_len < 1 || t.succinct_bit_len > SDV_TUF_SUCCINCT_BIT_LEN_MAX)
                abort();
            verify(&t.meta, "targets", &t.delegation_keys, &t.succinct_keys);
        }
    }
    tuf_targets_free(&t);
    tuf_targets_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[SDV_TUF_NAME_LEN_MAX * 2 + 256] = "";
    struct tuf_err e = {msg, sizeof(msg)};
    struct sdv_buf raw;

    if (size < 1)
        return 0;
    sdv_buf_init(&raw, size);
    if (sdv_buf_append(&raw, data + 1, size - 1) != SDV_OK) {
        sdv_buf_free(&raw);
        return 0;
    }
    switch (data[0] & 3) {
    case 0:
        fuzz_root(data + 1, size - 1, &raw, &e);
        break;
    case 1:
        fuzz_timestamp(data + 1, size - 1, &raw, &e);
        break;
    case 2:
        fuzz_snapshot(data + 1, size - 1, &raw, &e);
        break;
    default:
        fuzz_targets(data + 1, size - 1, &raw, &e);
        break;
    }
    /* The parsers take the buffer: nothing is left to free here, but freeing is harmless. */
    sdv_buf_free(&raw);
    return 0;
}
