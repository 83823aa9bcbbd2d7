/*
 * test_tuf_repo.c - unit tests of the repository tooling (sdv/tuf_repo.h): what it writes must
 * verify as a TUF client would check it, and publish must refuse what a client would refuse.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h needs the headers above; keep it last among the system headers. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/tuf_repo.h>

/* A fixed clock: 2030-01-01T00:00:00Z. */
#define NOW ((int64_t)1893456000)

struct fixture {
    char dir[256];
    char repo_dir[300];
    struct sdv_key *root, *targets, *snapshot, *timestamp, *bins;
    struct sdv_tuf_repo *repo;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static struct sdv_key *gen(void)
{
    struct sdv_key *k = NULL;

    assert_int_equal(sdv_key_generate(SDV_KEY_ED25519, 0, &k), SDV_OK);
    return k;
}

static void write_file(const char *path, const char *text)
{
    assert_int_equal(sdv_fs_write_atomic(path, text, strlen(text), 0644), SDV_OK);
}

static int file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static void pathf(char *out, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < len);
}

static json_t *load_json(const char *path)
{
    struct sdv_buf b;
    json_t *v = NULL;

    sdv_buf_init(&b, 64u * 1024u * 1024u);
    assert_int_equal(sdv_fs_read(path, &b), SDV_OK);
    assert_int_equal(sdv_json_parse(b.data, b.len, &v, NULL, 0), SDV_OK);
    sdv_buf_free(&b);
    return v;
}

/* Verifies like a client: key's signature over the canonical JSON of "signed" is present and
 * valid. Returns 1 if so. */
static int signed_by(const json_t *md, const struct sdv_key *key)
{
    char keyid[SDV_KEYID_STR_LEN];
    struct sdv_buf canon;
    uint8_t sig[1024];
    size_t i, sig_len;
    json_t *s;
    int ok = 0;

    assert_int_equal(sdv_key_id(key, keyid), SDV_OK);
    sdv_buf_init(&canon, 64u * 1024u * 1024u);
    assert_int_equal(sdv_cjson_write(json_object_get(md, "signed"), &canon), SDV_OK);
    json_array_foreach(json_object_get(md, "signatures"), i, s)
    {
        const char *hex = json_string_value(json_object_get(s, "sig"));

        if (strcmp(json_string_value(json_object_get(s, "keyid")), keyid) != 0)
            continue;
        assert_int_equal(sdv_hex_decode(hex, strlen(hex), sig, sizeof(sig), &sig_len), SDV_OK);
        ok = sdv_key_verify(key, canon.data, canon.len, sig, sig_len) == SDV_OK;
    }
    sdv_buf_free(&canon);
    return ok;
}

static int file_signed_by(const char *path, const struct sdv_key *key)
{
    json_t *md = load_json(path);
    int ok = signed_by(md, key);

    json_decref(md);
    return ok;
}

static int64_t version_of(const char *path)
{
    json_t *md = load_json(path);
    int64_t v = json_integer_value(json_object_get(json_object_get(md, "signed"), "version"));

    json_decref(md);
    return v;
}

static void open_repo(struct fixture *f, int64_t now)
{
    char msg[512];

    sdv_tuf_repo_close(f->repo);
    f->repo = NULL;
    assert_int_equal(sdv_tuf_repo_open(f->repo_dir, now, &f->repo, msg, sizeof(msg)), SDV_OK);
}

static int setup_common(void **state, int consistent)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    char msg[512];

    assert_non_null(f);
    pathf(f->dir, sizeof(f->dir), "%s/sdv-repo-test-XXXXXX", tmp != NULL ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    pathf(f->repo_dir, sizeof(f->repo_dir), "%s/repo", f->dir);
    f->root = gen();
    f->targets = gen();
    f->snapshot = gen();
    f->timestamp = gen();
    f->bins = gen();
    assert_int_equal(sdv_tuf_repo_init(f->repo_dir, consistent, NOW, &f->repo, msg, sizeof(msg)),
                     SDV_OK);
    assert_int_equal(sdv_tuf_repo_add_key(f->repo, "root", f->root, 0), SDV_OK);
    assert_int_equal(sdv_tuf_repo_add_key(f->repo, "targets", f->targets, 0), SDV_OK);
    assert_int_equal(sdv_tuf_repo_add_key(f->repo, "snapshot", f->snapshot, 0), SDV_OK);
    assert_int_equal(sdv_tuf_repo_add_key(f->repo, "timestamp", f->timestamp, 0), SDV_OK);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_common(state, 1);
}

static int setup_plain(void **state)
{
    return setup_common(state, 0);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    sdv_tuf_repo_close(f->repo);
    sdv_key_destroy(f->root);
    sdv_key_destroy(f->targets);
    sdv_key_destroy(f->snapshot);
    sdv_key_destroy(f->timestamp);
    sdv_key_destroy(f->bins);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void add_file_target(struct fixture *f, const char *role, const char *path,
                            const char *content)
{
    char file[512];
    struct sdv_tuf_repo_target t = {.file = file, .path = path};

    pathf(file, sizeof(file), "%s/src-file", f->dir);
    write_file(file, content);
    assert_int_equal(sdv_tuf_repo_add_targets(f->repo, role, &t, 1), SDV_OK);
}

/* Signs targets, snapshot and timestamp (and root if sign_root) and publishes. */
static enum sdv_err sign_and_publish(struct fixture *f, int sign_root)
{
    if (sign_root)
        assert_int_equal(sdv_tuf_repo_sign(f->repo, "root", f->root), SDV_OK);
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "targets", f->targets), SDV_OK);
    assert_int_equal(sdv_tuf_repo_snapshot(f->repo, f->snapshot, 0), SDV_OK);
    assert_int_equal(sdv_tuf_repo_timestamp(f->repo, f->timestamp), SDV_OK);
    return sdv_tuf_repo_publish(f->repo);
}

static void test_publish_verifies(void **state)
{
    struct fixture *f = *state;
    char path[1024], hex[65];
    uint8_t d[32];
    json_t *md, *entry;

    add_file_target(f, NULL, "fw/ecu.bin", "firmware v1");
    assert_int_equal(sign_and_publish(f, 1), SDV_OK);

    pathf(path, sizeof(path), "%s/metadata/1.root.json", f->repo_dir);
    assert_true(file_signed_by(path, f->root));
    pathf(path, sizeof(path), "%s/metadata/root.json", f->repo_dir);
    assert_true(file_signed_by(path, f->root));
    pathf(path, sizeof(path), "%s/metadata/1.targets.json", f->repo_dir);
    assert_true(file_signed_by(path, f->targets));
    assert_false(file_signed_by(path, f->snapshot));
    pathf(path, sizeof(path), "%s/metadata/1.snapshot.json", f->repo_dir);
    assert_true(file_signed_by(path, f->snapshot));
    pathf(path, sizeof(path), "%s/metadata/timestamp.json", f->repo_dir);
    assert_true(file_signed_by(path, f->timestamp));
    /* Consistent snapshots: no unversioned targets or snapshot file. */
    pathf(path, sizeof(path), "%s/metadata/targets.json", f->repo_dir);
    assert_false(file_exists(path));
    pathf(path, sizeof(path), "%s/metadata/snapshot.json", f->repo_dir);
    assert_false(file_exists(path));

    /* The target entry has length and both hashes; the files are there under both names. */
    pathf(path, sizeof(path), "%s/metadata/1.targets.json", f->repo_dir);
    md = load_json(path);
    entry = json_object_get(json_object_get(json_object_get(md, "signed"), "targets"),
                            "fw/ecu.bin");
    assert_non_null(entry);
    assert_int_equal(json_integer_value(json_object_get(entry, "length")), 11);
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, "firmware v1", 11, d), SDV_OK);
    sdv_hex_encode(d, 32, hex);
    assert_string_equal(
            json_string_value(json_object_get(json_object_get(entry, "hashes"), "sha256")), hex);
    assert_non_null(json_object_get(json_object_get(entry, "hashes"), "sha512"));
    json_decref(md);
    pathf(path, sizeof(path), "%s/targets/fw/ecu.bin", f->repo_dir);
    assert_true(file_exists(path));
    pathf(path, sizeof(path), "%s/targets/fw/%s.ecu.bin", f->repo_dir, hex);
    assert_true(file_exists(path));

    /* Timestamp describes the exact bytes of the published snapshot. */
    {
        struct sdv_buf b;
        json_t *ts, *meta;

        sdv_buf_init(&b, 1 << 20);
        pathf(path, sizeof(path), "%s/metadata/1.snapshot.json", f->repo_dir);
        assert_int_equal(sdv_fs_read(path, &b), SDV_OK);
        assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, b.data, b.len, d), SDV_OK);
        sdv_hex_encode(d, 32, hex);
        pathf(path, sizeof(path), "%s/metadata/timestamp.json", f->repo_dir);
        ts = load_json(path);
        meta = json_object_get(json_object_get(json_object_get(ts, "signed"), "meta"),
                               "snapshot.json");
        assert_int_equal(json_integer_value(json_object_get(meta, "length")), (json_int_t)b.len);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(meta, "hashes"), "sha256")), hex);
        json_decref(ts);
        sdv_buf_free(&b);
    }
}

static void test_plain_names(void **state)
{
    struct fixture *f = *state;
    char path[1024];

    add_file_target(f, NULL, "a.bin", "aaa");
    assert_int_equal(sign_and_publish(f, 1), SDV_OK);
    pathf(path, sizeof(path), "%s/metadata/targets.json", f->repo_dir);
    assert_true(file_signed_by(path, f->targets));
    pathf(path, sizeof(path), "%s/metadata/snapshot.json", f->repo_dir);
    assert_true(file_exists(path));
    pathf(path, sizeof(path), "%s/metadata/1.root.json", f->repo_dir);
    assert_true(file_exists(path));
    pathf(path, sizeof(path), "%s/metadata/1.targets.json", f->repo_dir);
    assert_false(file_exists(path));
    pathf(path, sizeof(path), "%s/targets/a.bin", f->repo_dir);
    assert_true(file_exists(path));
}

static void test_version_rule(void **state)
{
    struct fixture *f = *state;
    char staged[1024], path[1024];
    json_t *md;

    pathf(staged, sizeof(staged), "%s/staged/targets.json", f->repo_dir);
    add_file_target(f, NULL, "a.bin", "a");
    add_file_target(f, NULL, "b.bin", "b");
    assert_int_equal(version_of(staged), 1);
    assert_int_equal(sign_and_publish(f, 1), SDV_OK);

    /* Two edits after a publish bump once, and clear the signatures. */
    add_file_target(f, NULL, "c.bin", "c");
    assert_int_equal(version_of(staged), 2);
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "targets", f->targets), SDV_OK);
    open_repo(f, NOW);
    assert_int_equal(sdv_tuf_repo_remove_target(f->repo, NULL, "a.bin"), SDV_OK);
    assert_int_equal(version_of(staged), 2);
    md = load_json(staged);
    assert_int_equal(json_array_size(json_object_get(md, "signatures")), 0);
    json_decref(md);

    /* Signing does not change the version. */
    assert_int_equal(sign_and_publish(f, 0), SDV_OK);
    assert_int_equal(version_of(staged), 2);
    pathf(path, sizeof(path), "%s/metadata/2.targets.json", f->repo_dir);
    assert_true(file_signed_by(path, f->targets));
    /* Old versions stay for clients in the middle of an update. */
    pathf(path, sizeof(path), "%s/metadata/1.targets.json", f->repo_dir);
    assert_true(file_exists(path));
    pathf(path, sizeof(path), "%s/metadata/2.snapshot.json", f->repo_dir);
    assert_true(file_exists(path));
    pathf(path, sizeof(path), "%s/metadata/timestamp.json", f->repo_dir);
    assert_int_equal(version_of(path), 2);

    /* A new timestamp alone bumps timestamp only. */
    assert_int_equal(sdv_tuf_repo_timestamp(f->repo, f->timestamp), SDV_OK);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_OK);
    assert_int_equal(version_of(path), 3);
    pathf(path, sizeof(path), "%s/staged/snapshot.json", f->repo_dir);
    assert_int_equal(version_of(path), 2);
}

static void test_refuse_missing_signature(void **state)
{
    struct fixture *f = *state;
    char path[1024];

    add_file_target(f, NULL, "a.bin", "a");
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "root", f->root), SDV_OK);
    assert_int_equal(sdv_tuf_repo_snapshot(f->repo, f->snapshot, 0), SDV_OK);
    assert_int_equal(sdv_tuf_repo_timestamp(f->repo, f->timestamp), SDV_OK);
    /* targets is unsigned. */
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_ESIG);
    assert_non_null(strstr(sdv_tuf_repo_errmsg(f->repo), "targets"));
    pathf(path, sizeof(path), "%s/metadata/root.json", f->repo_dir);
    assert_false(file_exists(path));
}

static void test_refuse_below_threshold(void **state)
{
    struct fixture *f = *state;
    struct sdv_key *second = gen();

    assert_int_equal(sdv_tuf_repo_add_key(f->repo, "targets", second, 2), SDV_OK);
    add_file_target(f, NULL, "a.bin", "a");
    assert_int_equal(sign_and_publish(f, 1), SDV_ESIG);
    assert_non_null(strstr(sdv_tuf_repo_errmsg(f->repo), "targets has 1 valid signatures of "
                                                         "the 2"));
    /* The second signature completes the threshold; signing changes no version, so the
     * snapshot (which lists versions only) stays valid. */
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "targets", second), SDV_OK);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_OK);
    sdv_key_destroy(second);
}

static void test_refuse_unauthorised_key(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(sdv_tuf_repo_sign(f->repo, "targets", f->snapshot), SDV_ESIG);
    assert_int_equal(sdv_tuf_repo_snapshot(f->repo, f->timestamp, 0), SDV_ESIG);
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "nosuchrole", f->targets), SDV_ENOENT);
}

static void test_refuse_expired(void **state)
{
    struct fixture *f = *state;

    add_file_target(f, NULL, "a.bin", "a");
    sdv_tuf_repo_set_expires(f->repo, NOW + 3600);
    assert_int_equal(sdv_tuf_repo_snapshot(f->repo, f->snapshot, 0), SDV_OK);
    sdv_tuf_repo_set_expires(f->repo, 0);
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "root", f->root), SDV_OK);
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "targets", f->targets), SDV_OK);
    assert_int_equal(sdv_tuf_repo_timestamp(f->repo, f->timestamp), SDV_OK);
    assert_int_equal(sdv_tuf_repo_check(f->repo), SDV_OK);
    /* Two hours later the snapshot has expired. */
    open_repo(f, NOW + 7200);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_EEXPIRED);
    assert_non_null(strstr(sdv_tuf_repo_errmsg(f->repo), "snapshot"));
}

static void test_refuse_stale_snapshot(void **state)
{
    struct fixture *f = *state;

    add_file_target(f, NULL, "a.bin", "a");
    assert_int_equal(sign_and_publish(f, 1), SDV_OK);
    /* targets changes after snapshot: snapshot no longer lists its version. */
    add_file_target(f, NULL, "b.bin", "b");
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "targets", f->targets), SDV_OK);
    assert_int_equal(sdv_tuf_repo_timestamp(f->repo, f->timestamp), SDV_OK);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_EVERSION);
    assert_non_null(strstr(sdv_tuf_repo_errmsg(f->repo), "snapshot lists targets version 1"));
    /* A snapshot signed after the timestamp: timestamp no longer matches its bytes. */
    assert_int_equal(sdv_tuf_repo_snapshot(f->repo, f->snapshot, 0), SDV_OK);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_EVERSION);
    assert_int_equal(sdv_tuf_repo_timestamp(f->repo, f->timestamp), SDV_OK);
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "snapshot", f->root), SDV_ESIG);
    {
        /* Tamper with the staged snapshot bytes without changing its version. */
        char path[1024];
        json_t *md;
        struct sdv_buf b;

        pathf(path, sizeof(path), "%s/staged/snapshot.json", f->repo_dir);
        md = load_json(path);
        sdv_buf_init(&b, 1 << 20);
        assert_int_equal(sdv_tuf_sign_json(md, f->snapshot), SDV_OK);
        json_object_set_new(json_object_get(md, "signed"), "x-note", json_string("edited"));
        assert_int_equal(sdv_tuf_sign_json(md, f->snapshot), SDV_OK);
        assert_int_equal(sdv_tuf_serialize(md, &b), SDV_OK);
        write_file(path, (const char *)b.data);
        sdv_buf_free(&b);
        json_decref(md);
    }
    open_repo(f, NOW);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_EHASH);
    assert_non_null(strstr(sdv_tuf_repo_errmsg(f->repo), "timestamp"));
    assert_int_equal(sdv_tuf_repo_timestamp(f->repo, f->timestamp), SDV_OK);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_OK);
}

/* The bin of a path, computed here from the definition: the first bit_length bits of
 * SHA-256(path), named prefix-XX with ceil(bits/4) lowercase hex digits. */
static void expected_bin(const char *path, unsigned bits, char *out, size_t len)
{
    uint8_t d[32];
    uint64_t v = 0;

    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, path, strlen(path), d), SDV_OK);
    for (int i = 0; i < 4; i++)
        v = (v << 8) | d[i];
    v >>= 32 - bits;
    pathf(out, len, "bins-%0*llx", (int)((bits + 3) / 4), (unsigned long long)v);
}

static void test_hash_bins(void **state)
{
    struct fixture *f = *state;
    const struct sdv_key *keys[1] = {f->bins};
    struct sdv_tuf_repo_target t[40];
    char names[40][32], file[512], bin[64], path[1024];
    json_t *md, *meta;

    assert_int_equal(sdv_tuf_repo_delegate_bins(f->repo, "targets", 1000, "bins", keys, 1, 1),
                     SDV_EINVAL);
    assert_int_equal(sdv_tuf_repo_delegate_bins(f->repo, "targets", 32, "bins", keys, 1, 1),
                     SDV_OK);
    pathf(file, sizeof(file), "%s/payload", f->dir);
    write_file(file, "payload");
    for (int i = 0; i < 40; i++) {
        pathf(names[i], sizeof(names[i]), "pkg/file-%d.bin", i);
        t[i] = (struct sdv_tuf_repo_target){.file = file, .path = names[i]};
    }
    assert_int_equal(sdv_tuf_repo_add_targets(f->repo, NULL, t, 40), SDV_OK);
    for (int i = 0; i < 40; i++) {
        uint32_t idx;
        char lib_name[64];

        expected_bin(names[i], 5, bin, sizeof(bin));
        assert_int_equal(
                sdv_tuf_bin_for_path(names[i], 5, "bins", &idx, lib_name, sizeof(lib_name)),
                SDV_OK);
        assert_string_equal(lib_name, bin);
        pathf(path, sizeof(path), "%s/staged/%s.json", f->repo_dir, bin);
        md = load_json(path);
        assert_non_null(json_object_get(json_object_get(json_object_get(md, "signed"), "targets"),
                                        names[i]));
        json_decref(md);
    }
    /* Nothing went into targets itself, and a target outside its bin is refused. */
    pathf(path, sizeof(path), "%s/staged/targets.json", f->repo_dir);
    md = load_json(path);
    assert_int_equal(json_object_size(json_object_get(json_object_get(md, "signed"), "targets")),
                     0);
    assert_int_equal(
            json_integer_value(json_object_get(
                    json_object_get(json_object_get(json_object_get(md, "signed"), "delegations"),
                                    "succinct_roles"),
                    "bit_length")),
            5);
    json_decref(md);
    expected_bin(names[0], 5, bin, sizeof(bin));
    {
        char other[64];
        struct sdv_tuf_repo_target one = {.file = file, .path = names[0]};

        pathf(other, sizeof(other), "bins-%02x", (unsigned)(strcmp(bin, "bins-00") == 0 ? 1 : 0));
        assert_int_equal(sdv_tuf_repo_add_targets(f->repo, other, &one, 1), SDV_ENOTARGET);
        assert_int_equal(sdv_tuf_repo_add_targets(f->repo, bin, &one, 1), SDV_OK);
    }

    /* Sign every bin by prefix, publish, and check the snapshot lists all 32 bins. */
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "bins", f->bins), SDV_OK);
    assert_int_equal(sign_and_publish(f, 1), SDV_OK);
    pathf(path, sizeof(path), "%s/metadata/1.snapshot.json", f->repo_dir);
    md = load_json(path);
    meta = json_object_get(json_object_get(md, "signed"), "meta");
    assert_int_equal(json_object_size(meta), 33);
    assert_non_null(json_object_get(meta, "bins-1f.json"));
    json_decref(md);
    pathf(path, sizeof(path), "%s/metadata/1.%s.json", f->repo_dir, bin);
    assert_true(file_signed_by(path, f->bins));

    /* Bin names are padded to ceil(bits/4) digits. */
    assert_int_equal(sdv_tuf_bin_for_path("x", 10, "p", NULL, bin, sizeof(bin)), SDV_OK);
    assert_int_equal(strlen(bin), strlen("p-") + 3);
    expected_bin("x", 10, path, sizeof(path));
    assert_string_equal(bin + 2, path + 5);
}

static void test_delegation(void **state)
{
    struct fixture *f = *state;
    const struct sdv_key *keys[1] = {f->bins};
    const char *paths[] = {"apps/*"};
    struct sdv_tuf_repo_delegation d = {
            .name = "apps", .keys = keys, .key_count = 1, .paths = paths, .path_count = 1};
    char path[1024];
    json_t *md, *role;

    assert_int_equal(sdv_tuf_repo_delegate(f->repo, "targets", &d), SDV_OK);
    assert_int_equal(sdv_tuf_repo_delegate(f->repo, "targets", &d), SDV_EEXIST);
    add_file_target(f, "apps", "apps/nav.bin", "nav");
    {
        char file[512];
        struct sdv_tuf_repo_target t = {.file = file, .path = "other/x.bin"};

        pathf(file, sizeof(file), "%s/src-file", f->dir);
        assert_int_equal(sdv_tuf_repo_add_targets(f->repo, "apps", &t, 1), SDV_ENOTARGET);
    }
    /* Unsigned delegated role: publish refuses it by name. */
    assert_int_equal(sign_and_publish(f, 1), SDV_ESIG);
    assert_non_null(strstr(sdv_tuf_repo_errmsg(f->repo), "apps"));
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "apps", f->bins), SDV_OK);
    assert_int_equal(sdv_tuf_repo_snapshot(f->repo, f->snapshot, SDV_TUF_REPO_SNAPSHOT_HASHES),
                     SDV_OK);
    assert_int_equal(sdv_tuf_repo_timestamp(f->repo, f->timestamp), SDV_OK);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_OK);
    pathf(path, sizeof(path), "%s/metadata/1.apps.json", f->repo_dir);
    assert_true(file_signed_by(path, f->bins));
    pathf(path, sizeof(path), "%s/metadata/1.targets.json", f->repo_dir);
    md = load_json(path);
    role = json_array_get(
            json_object_get(json_object_get(json_object_get(md, "signed"), "delegations"), "roles"),
            0);
    assert_string_equal(json_string_value(json_object_get(role, "name")), "apps");
    assert_false(json_is_true(json_object_get(role, "terminating")));
    json_decref(md);
    pathf(path, sizeof(path), "%s/metadata/1.snapshot.json", f->repo_dir);
    md = load_json(path);
    assert_non_null(json_object_get(
            json_object_get(json_object_get(json_object_get(md, "signed"), "meta"), "apps.json"),
            "hashes"));
    json_decref(md);

    /* A key added to the delegated role goes into targets' delegations and bumps targets. */
    assert_int_equal(sdv_tuf_repo_add_key(f->repo, "apps", f->snapshot, 0), SDV_OK);
    pathf(path, sizeof(path), "%s/staged/targets.json", f->repo_dir);
    assert_int_equal(version_of(path), 2);
}

static void test_root_rotation(void **state)
{
    struct fixture *f = *state;
    struct sdv_key *new_root = gen();
    char keyid[SDV_KEYID_STR_LEN], path[1024];

    assert_int_equal(sign_and_publish(f, 1), SDV_OK);
    assert_int_equal(sdv_key_id(f->root, keyid), SDV_OK);
    assert_int_equal(sdv_tuf_repo_add_key(f->repo, "root", new_root, 0), SDV_OK);
    assert_int_equal(sdv_tuf_repo_remove_key(f->repo, "root", keyid), SDV_OK);
    pathf(path, sizeof(path), "%s/staged/root.json", f->repo_dir);
    assert_int_equal(version_of(path), 2);

    /* Only the new key: the published root's threshold is not met. */
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "root", new_root), SDV_OK);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_ESIG);
    assert_non_null(strstr(sdv_tuf_repo_errmsg(f->repo), "published root"));
    /* The old key is no longer in root but may still sign it. */
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "root", f->root), SDV_OK);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_OK);
    pathf(path, sizeof(path), "%s/metadata/2.root.json", f->repo_dir);
    assert_true(file_signed_by(path, f->root));
    assert_true(file_signed_by(path, new_root));
    pathf(path, sizeof(path), "%s/metadata/1.root.json", f->repo_dir);
    assert_true(file_exists(path));

    /* For root version 3 the old key is no longer accepted. */
    assert_int_equal(sdv_tuf_repo_set_threshold(f->repo, "root", 1), SDV_OK);
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "root", f->root), SDV_ESIG);
    assert_int_equal(sdv_tuf_repo_sign(f->repo, "root", new_root), SDV_OK);
    assert_int_equal(sdv_tuf_repo_publish(f->repo), SDV_OK);
    pathf(path, sizeof(path), "%s/metadata/root.json", f->repo_dir);
    assert_int_equal(version_of(path), 3);
    sdv_key_destroy(new_root);
}

static void test_sign_json_and_serialize(void **state)
{
    struct fixture *f = *state;
    json_t *md = json_pack("{s:{s:s, s:i}}", "signed", "_type", "targets", "version", 7);
    json_t *back = NULL;
    struct sdv_buf b;

    assert_int_equal(sdv_tuf_sign_json(md, f->targets), SDV_OK);
    assert_int_equal(sdv_tuf_sign_json(md, f->targets), SDV_OK);
    assert_int_equal(sdv_tuf_sign_json(md, f->snapshot), SDV_OK);
    assert_int_equal(json_array_size(json_object_get(md, "signatures")), 2);
    assert_true(signed_by(md, f->targets));
    assert_true(signed_by(md, f->snapshot));
    sdv_buf_init(&b, 1 << 20);
    assert_int_equal(sdv_tuf_serialize(md, &b), SDV_OK);
    assert_int_equal(b.data[b.len - 1], '\n');
    assert_non_null(strstr((const char *)b.data, "\n  \"signatures\""));
    assert_int_equal(sdv_json_parse(b.data, b.len, &back, NULL, 0), SDV_OK);
    assert_true(json_equal(back, md));
    json_decref(back);
    sdv_buf_free(&b);
    /* A public key cannot sign; metadata without "signed" is refused. */
    json_object_del(md, "signed");
    assert_int_equal(sdv_tuf_sign_json(md, f->targets), SDV_EINVAL);
    json_decref(md);
}

static void test_init_refuses_existing(void **state)
{
    struct fixture *f = *state;
    struct sdv_tuf_repo *other = NULL;
    char msg[256];

    assert_int_equal(sdv_tuf_repo_init(f->repo_dir, 1, NOW, &other, msg, sizeof(msg)), SDV_EEXIST);
    assert_null(other);
    assert_non_null(strstr(msg, "already"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_publish_verifies, setup, teardown),
            cmocka_unit_test_setup_teardown(test_plain_names, setup_plain, teardown),
            cmocka_unit_test_setup_teardown(test_version_rule, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refuse_missing_signature, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refuse_below_threshold, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refuse_unauthorised_key, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refuse_expired, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refuse_stale_snapshot, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hash_bins, setup, teardown),
            cmocka_unit_test_setup_teardown(test_delegation, setup, teardown),
            cmocka_unit_test_setup_teardown(test_root_rotation, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sign_json_and_serialize, setup, teardown),
            cmocka_unit_test_setup_teardown(test_init_refuses_existing, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
