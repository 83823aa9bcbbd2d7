/*
 * test_tuf_client_trust.c - who may sign what: bad signatures on every role, thresholds,
 * duplicate and unauthorised signatures, the root rotation chain (TUF 5.3) with its bound,
 * fast-forward attack recovery after key rotation, and ECDSA / RSA role keys.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/tuf.h>

#include "tuf_fixture.h"

/* RSA key generation is slow: one key for the whole group. */
static struct fx_key *rsa_key;

static int group_setup(void **state)
{
    (void)state;
    rsa_key = fx_key_new(SDV_KEY_RSA);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fx_key_free(rsa_key);
    return 0;
}

static const char *const all_paths[] = {"*", NULL};

/* The trusted file local_name holds exactly the served file served_name. */
static void assert_stored(const struct fx_repo *r, const char *local_name, const char *served_name)
{
    const struct fx_file *f = fx_served(r, served_name);
    char path[1024];
    uint8_t *data;
    size_t len;

    assert_non_null(f);
    snprintf(path, sizeof(path), "%s/%s", r->meta_dir, local_name);
    data = fx_read_file(path, &len);
    assert_int_equal(len, f->len);
    assert_memory_equal(data, f->data, len);
    free(data);
}

/* New versions of timestamp, snapshot and targets (and optionally of deleg). */
static void bump(struct fx_repo *r, bool deleg)
{
    r->timestamp.version++;
    r->snapshot.version++;
    r->targets.version++;
    if (deleg)
        fx_role(r, "deleg")->version++;
}

/* ---- Bad signatures --------------------------------------------------------------------- */

static void test_bad_sig_root(void **state)
{
    struct fx_repo *r = fx_trusted_repo(true, 1);

    (void)state;
    r->root.version = 2;
    r->root.bad_sig = true;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "root", NULL);
    fx_repo_free(r);
}

static void test_bad_sig_timestamp(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    bump(r, false);
    r->timestamp.bad_sig = true;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "timestamp", NULL);
    fx_repo_free(r);
}

static void test_bad_sig_snapshot(void **state)
{
    struct fx_repo *r = fx_trusted_repo(true, 1);

    (void)state;
    bump(r, false);
    r->snapshot.bad_sig = true;
    fx_publish(r);
    /* The new timestamp was valid and is trusted (5.4.5) before the snapshot fails. */
    FX_REFRESH_FAILS(r, SDV_ESIG, "snapshot", "timestamp");
    fx_repo_free(r);
}

static void test_bad_sig_targets(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    bump(r, false);
    r->targets.bad_sig = true;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "targets", "timestamp", "snapshot");
    fx_repo_free(r);
}

static void test_bad_sig_delegated(void **state)
{
    struct fx_repo *r = fx_trusted_repo(true, 1);
    struct fx_dir_state *before;
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    bump(r, true);
    fx_role(r, "deleg")->bad_sig = true;
    fx_publish(r);
    c = fx_client(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_refresh(c), SDV_OK, "");
    fx_assert_trusted_top(r, c);
    before = fx_dir_capture(r->meta_dir);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "d.bin", &t), SDV_ESIG, "deleg");
    assert_int_equal(sdv_tuf_client_role_version(c, "deleg"), 0);
    fx_dir_assert(before, r->meta_dir);
    fx_dir_state_free(before);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* A signature whose hex does not decode, or signed by the right key over other bytes. */
static void garble_sig(json_t *env)
{
    json_t *sig = json_array_get(json_object_get(env, "signatures"), 0);

    json_object_set_new(sig, "sig", json_string("zz-not-hex"));
}

static void test_sig_not_hex(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);
    json_t *env;

    (void)state;
    bump(r, false);
    fx_publish(r);
    env = fx_role_build(r, &r->timestamp);
    garble_sig(env);
    fx_serve_json(r, "timestamp.json", env);
    json_decref(env);
    FX_REFRESH_FAILS(r, SDV_ESIG, "timestamp", NULL);
    fx_repo_free(r);
}

/* ---- Thresholds ------------------------------------------------------------------------- */

/* Timestamp keys k1, k2 with threshold 2, trusted once with both signatures. */
static struct fx_repo *threshold_repo(struct fx_key **k1, struct fx_key **k2)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;

    *k1 = fx_repo_key(r, SDV_KEY_ED25519);
    *k2 = fx_repo_key(r, SDV_KEY_ED25519);
    fx_role_set_keys(&r->timestamp, 2, (struct fx_key *[]){*k1, *k2, NULL});
    fx_first_refresh(r);
    /* Two valid distinct signatures meet threshold 2. */
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_trusted_top(r, c);
    sdv_tuf_client_destroy(c);
    r->timestamp.version++;
    return r;
}

static void test_threshold_two_of_two(void **state)
{
    struct fx_key *k1, *k2;
    struct fx_repo *r = threshold_repo(&k1, &k2);
    struct sdv_tuf_client *c;

    (void)state;
    /* Signed by both in the other order, plus an unknown key: still fine. */
    fx_role_set_signers(&r->timestamp,
                        (struct fx_key *[]){k2, fx_repo_key(r, SDV_KEY_ED25519), k1, NULL});
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_trusted_top(r, c);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_threshold_below(void **state)
{
    struct fx_key *k1, *k2;
    struct fx_repo *r = threshold_repo(&k1, &k2);

    (void)state;
    fx_role_set_signers(&r->timestamp, (struct fx_key *[]){k2, NULL});
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "timestamp: signature threshold not met: 1 valid of 2", NULL);
    fx_repo_free(r);
}

static void test_threshold_duplicate_signature(void **state)
{
    struct fx_key *k1, *k2;
    struct fx_repo *r = threshold_repo(&k1, &k2);
    json_t *env;

    (void)state;
    fx_role_set_signers(&r->timestamp, (struct fx_key *[]){k1, NULL});
    r->timestamp.dup_sig = true;
    fx_publish(r);
    env = fx_role_build(r, &r->timestamp);
    assert_int_equal(json_array_size(json_object_get(env, "signatures")), 2);
    json_decref(env);
    FX_REFRESH_FAILS(r, SDV_ESIG, "1 valid of 2", NULL);
    fx_repo_free(r);
}

#define ALIAS_KEYID "alias-of-the-first-timestamp-key"

/* Root lists the first timestamp key a second time, under another keyid and with an extra field
 * (another spelling of the same public key), and authorises both keyids for timestamp. */
static void alias_timestamp_key(json_t *signed_obj, void *ud)
{
    const struct fx_key *k = ud;
    json_t *obj = NULL;

    assert_int_equal(sdv_key_to_tuf(k->key, &obj), SDV_OK);
    json_object_set_new(obj, "keyid_hash_algorithms", json_pack("[ss]", "sha256", "sha512"));
    json_object_set_new(json_object_get(signed_obj, "keys"), ALIAS_KEYID, obj);
    json_array_append_new(
            json_object_get(json_object_get(json_object_get(signed_obj, "roles"), "timestamp"),
                            "keyids"),
            json_string(ALIAS_KEYID));
}

static void test_threshold_same_key_two_keyids(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct fx_key *k1 = fx_repo_key(r, SDV_KEY_ED25519), *k2 = fx_repo_key(r, SDV_KEY_ED25519);
    json_t *env, *sigs, *alias_sig;
    struct sdv_tuf_client *c;

    (void)state;
    fx_role_set_keys(&r->timestamp, 2, (struct fx_key *[]){k1, k2, NULL});
    r->root.mutate = alias_timestamp_key;
    r->root.mutate_ud = k1;
    fx_first_refresh(r);

    /* One key's signature listed under both of its keyids must not meet threshold 2. */
    r->timestamp.version++;
    fx_role_set_signers(&r->timestamp, (struct fx_key *[]){k1, NULL});
    fx_publish(r);
    env = fx_role_build(r, &r->timestamp);
    sigs = json_object_get(env, "signatures");
    alias_sig = json_deep_copy(json_array_get(sigs, 0));
    json_object_set_new(alias_sig, "keyid", json_string(ALIAS_KEYID));
    json_array_append_new(sigs, alias_sig);
    fx_serve_json(r, "timestamp.json", env);
    json_decref(env);
    FX_REFRESH_FAILS(r, SDV_ESIG, "1 valid of 2", NULL);

    /* The second, distinct key makes it valid. */
    fx_role_set_signers(&r->timestamp, (struct fx_key *[]){k1, k2, NULL});
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_threshold_key_of_other_role(void **state)
{
    struct fx_key *k1, *k2;
    struct fx_repo *r = threshold_repo(&k1, &k2);

    (void)state;
    /* The snapshot key is in root's keyring but not authorised for timestamp. */
    fx_role_set_signers(&r->timestamp, (struct fx_key *[]){k1, r->snapshot.keys[0], NULL});
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "1 valid of 2", NULL);
    /* A key nobody lists at all. */
    fx_role_set_signers(&r->timestamp,
                        (struct fx_key *[]){fx_repo_key(r, SDV_KEY_ED25519), k2, NULL});
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "1 valid of 2", NULL);
    fx_repo_free(r);
}

/* A signature by a key not listed for the role, on a threshold-1 role. */
static void test_signed_by_unlisted_key(void **state)
{
    struct fx_repo *r = fx_trusted_repo(false, 1);

    (void)state;
    bump(r, false);
    fx_role_set_signers(&r->snapshot, (struct fx_key *[]){r->targets.keys[0], NULL});
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "snapshot", "timestamp");
    fx_repo_free(r);
}

/* ---- Root rotation ---------------------------------------------------------------------- */

static void test_root_rotation_chain(void **state)
{
    struct fx_repo *r = fx_repo_new(true);
    struct fx_key *a = r->root.keys[0], *b, *c3;
    struct sdv_tuf_client *c;

    (void)state;
    fx_target_add(r, "targets", "file.bin", "payload", 7);
    fx_publish(r);
    fx_trust_root(r, 1);
    b = fx_repo_key(r, SDV_KEY_ED25519);
    c3 = fx_repo_key(r, SDV_KEY_ED25519);
    /* v2 adds b (signed by a and b), v3 replaces both by c3 (signed by b and c3). */
    r->root.version = 2;
    fx_role_set_keys(&r->root, 1, (struct fx_key *[]){a, b, NULL});
    fx_publish(r);
    r->root.version = 3;
    fx_role_set_keys(&r->root, 1, (struct fx_key *[]){c3, NULL});
    fx_role_set_signers(&r->root, (struct fx_key *[]){b, c3, NULL});
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_requests(r, "2.root.json 3.root.json 4.root.json timestamp.json 1.snapshot.json "
                          "1.targets.json");
    fx_assert_trusted_top(r, c);
    assert_int_equal(sdv_tuf_client_role_version(c, "root"), 3);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_root_rotation_threshold_change(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct fx_key *a = r->root.keys[0], *b, *k;
    struct fx_dir_state *expected;
    struct sdv_tuf_client *c;

    (void)state;
    fx_first_refresh(r);
    b = fx_repo_key(r, SDV_KEY_ED25519);
    k = fx_repo_key(r, SDV_KEY_ED25519);
    /* v2: threshold 1 of {a} -> 2 of {b, k}; signed by a (old threshold) and b, k (new). */
    r->root.version = 2;
    fx_role_set_keys(&r->root, 2, (struct fx_key *[]){b, k, NULL});
    fx_role_set_signers(&r->root, (struct fx_key *[]){a, b, k, NULL});
    fx_publish(r);
    /* v3 signed by only one of the new keys: below v2's threshold. */
    r->root.version = 3;
    fx_role_set_signers(&r->root, (struct fx_key *[]){b, NULL});
    fx_publish(r);

    /* v2 is accepted and stored (5.3.8) before v3 fails; nothing else changes. */
    expected = fx_dir_capture(r->meta_dir);
    fx_dir_state_put(expected, "root.json", fx_served(r, "2.root.json")->data,
                     fx_served(r, "2.root.json")->len);
    FX_ASSERT_REFRESH(r, c, SDV_ESIG, "root");
    assert_int_equal(sdv_tuf_client_role_version(c, "root"), 2);
    fx_dir_assert(expected, r->meta_dir);
    fx_dir_state_free(expected);
    sdv_tuf_client_destroy(c);
    fx_assert_requests(r, "2.root.json 3.root.json");

    /* Properly signed v3 then goes through, starting from the trusted v2. */
    fx_requests_clear(r);
    fx_unserve(r, "3.root.json");
    fx_role_set_signers(&r->root, (struct fx_key *[]){k, b, NULL});
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_requests(r, "3.root.json 4.root.json timestamp.json");
    fx_assert_trusted_top(r, c);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_root_signed_by_new_keys_only(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct fx_key *a = r->root.keys[0], *b;

    (void)state;
    fx_first_refresh(r);
    b = fx_repo_key(r, SDV_KEY_ED25519);
    r->root.version = 2;
    fx_role_set_keys(&r->root, 1, (struct fx_key *[]){b, NULL});
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "not signed by a threshold of the keys of trusted root", NULL);

    /* Signed by the old key only, not by its own new key: also refused. */
    fx_unserve(r, "2.root.json");
    fx_role_set_signers(&r->root, (struct fx_key *[]){a, NULL});
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "not signed by a threshold of its own root keys", NULL);
    fx_repo_free(r);
}

static void test_root_rotation_bounded(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;

    (void)state;
    fx_publish(r);
    fx_trust_root(r, 1);
    for (int v = 2; v <= 5; v++) {
        r->root.version = v;
        fx_publish(r);
    }
    r->cfg.root_rotations_max = 2;
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    /* At most two root files; the workflow then goes on with version 3 (5.3.3). */
    fx_assert_requests(r, "2.root.json 3.root.json timestamp.json snapshot.json targets.json");
    assert_int_equal(sdv_tuf_client_role_version(c, "root"), 3);
    assert_stored(r, "root.json", "3.root.json");
    sdv_tuf_client_destroy(c);

    /* The next refresh continues from version 3. */
    fx_requests_clear(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_requests(r, "4.root.json 5.root.json timestamp.json");
    fx_assert_trusted_top(r, c);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void wrong_root_version(struct fx_repo *r, int64_t content_version)
{
    json_t *env;

    r->root.version = content_version;
    env = fx_role_build(r, &r->root);
    fx_serve_json(r, "2.root.json", env);
    json_decref(env);
    r->root.version = 1;
}

static void test_root_file_with_wrong_version(void **state)
{
    struct fx_repo *r = fx_repo_new(false);

    (void)state;
    fx_first_refresh(r);
    wrong_root_version(r, 1);
    FX_REFRESH_FAILS(r, SDV_EROLLBACK, "2.root.json holds version 1", NULL);
    wrong_root_version(r, 3);
    FX_REFRESH_FAILS(r, SDV_EVERSION, "2.root.json holds version 3", NULL);
    fx_repo_free(r);
}

/* An expired intermediate root is fine; only the final one must be fresh (5.3.10). */
static void test_root_rotation_through_expired(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;

    (void)state;
    r->root.expires = FX_NOW - FX_DAY;
    fx_publish(r);
    fx_trust_root(r, 1);
    r->root.version = 2;
    r->root.expires = FX_NOW + FX_DAY;
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_trusted_top(r, c);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* ---- Fast-forward attack recovery (5.3.11) ---------------------------------------------- */

static void check_fast_forward_recovery(bool rotate_timestamp)
{
    struct fx_repo *r = fx_repo_new(true);
    struct sdv_tuf_client *c;
    struct fx_role *rotated = rotate_timestamp ? &r->timestamp : &r->snapshot;

    fx_target_add(r, "targets", "file.bin", "payload", 7);
    r->timestamp.version = 30;
    r->snapshot.version = 20;
    r->targets.version = 10;
    fx_first_refresh(r);

    /* The repository recovers from a compromise: new keys, versions start again at 1. */
    r->root.version = 2;
    fx_role_set_keys(rotated, 1, (struct fx_key *[]){fx_repo_key(r, SDV_KEY_ED25519), NULL});
    r->timestamp.version = 1;
    r->snapshot.version = 1;
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_requests(r, "2.root.json 3.root.json timestamp.json 1.snapshot.json");
    fx_assert_trusted_top(r, c);
    assert_int_equal(sdv_tuf_client_role_version(c, "timestamp"), 1);
    assert_int_equal(sdv_tuf_client_role_version(c, "snapshot"), 1);
    assert_int_equal(sdv_tuf_client_role_version(c, "targets"), 10);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_fast_forward_recovery_timestamp_keys(void **state)
{
    (void)state;
    check_fast_forward_recovery(true);
}

static void test_fast_forward_recovery_snapshot_keys(void **state)
{
    (void)state;
    check_fast_forward_recovery(false);
}

/* Without a key rotation the same lower versions are a rollback. */
static void test_no_recovery_without_rotation(void **state)
{
    struct fx_repo *r = fx_repo_new(true);

    (void)state;
    r->timestamp.version = 30;
    r->snapshot.version = 20;
    fx_first_refresh(r);
    r->root.version = 2; /* a new root, same timestamp and snapshot keys */
    r->timestamp.version = 1;
    r->snapshot.version = 1;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_EROLLBACK, "timestamp", "root");
    fx_repo_free(r);
}

/* ---- Other key types -------------------------------------------------------------------- */

static void test_ecdsa_and_rsa_keys(void **state)
{
    struct fx_repo *r = fx_repo_new(true);
    struct fx_key *ec1 = fx_repo_key(r, SDV_KEY_ECDSA_P256);
    struct fx_key *ec2 = fx_repo_key(r, SDV_KEY_ECDSA_P256);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;
    struct fx_role *deleg;
    int downloaded = 0;

    (void)state;
    fx_role_set_keys(&r->root, 3, (struct fx_key *[]){rsa_key, ec1, r->root.keys[0], NULL});
    fx_role_set_keys(&r->timestamp, 1, (struct fx_key *[]){ec2, NULL});
    fx_role_set_keys(&r->snapshot, 1, (struct fx_key *[]){rsa_key, NULL});
    fx_role_set_keys(&r->targets, 2, (struct fx_key *[]){ec1, rsa_key, NULL});
    deleg = fx_role_add(r, "deleg");
    fx_role_set_keys(deleg, 1, (struct fx_key *[]){rsa_key, NULL});
    fx_delegate(r, "targets", "deleg", false, all_paths, NULL);
    fx_target_add(r, "deleg", "d.bin", "delegated", 9);
    fx_publish(r);
    fx_trust_root(r, 1);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_trusted_top(r, c);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "d.bin", &t), SDV_OK, "");
    fx_assert_trusted(r, c, "deleg");
    FX_ASSERT_ERR(c,
                  sdv_tuf_client_download_target(c, &t, r->target_dir, FX_TARGET_URL, &downloaded),
                  SDV_OK, "");
    assert_int_equal(downloaded, 1);
    sdv_tuf_client_destroy(c);

    /* Bad ECDSA and RSA signatures are refused like ed25519 ones. */
    r->timestamp.version++;
    r->snapshot.version++;
    r->snapshot.bad_sig = true;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "snapshot", "timestamp");
    r->snapshot.bad_sig = false;
    r->timestamp.version++;
    r->timestamp.bad_sig = true;
    fx_publish(r);
    FX_REFRESH_FAILS(r, SDV_ESIG, "timestamp", NULL);
    fx_repo_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_bad_sig_root),
            cmocka_unit_test(test_bad_sig_timestamp),
            cmocka_unit_test(test_bad_sig_snapshot),
            cmocka_unit_test(test_bad_sig_targets),
            cmocka_unit_test(test_bad_sig_delegated),
            cmocka_unit_test(test_sig_not_hex),
            cmocka_unit_test(test_threshold_two_of_two),
            cmocka_unit_test(test_threshold_below),
            cmocka_unit_test(test_threshold_duplicate_signature),
            cmocka_unit_test(test_threshold_same_key_two_keyids),
            cmocka_unit_test(test_threshold_key_of_other_role),
            cmocka_unit_test(test_signed_by_unlisted_key),
            cmocka_unit_test(test_root_rotation_chain),
            cmocka_unit_test(test_root_rotation_threshold_change),
            cmocka_unit_test(test_root_signed_by_new_keys_only),
            cmocka_unit_test(test_root_rotation_bounded),
            cmocka_unit_test(test_root_file_with_wrong_version),
            cmocka_unit_test(test_root_rotation_through_expired),
            cmocka_unit_test(test_fast_forward_recovery_timestamp_keys),
            cmocka_unit_test(test_fast_forward_recovery_snapshot_keys),
            cmocka_unit_test(test_no_recovery_without_rotation),
            cmocka_unit_test(test_ecdsa_and_rsa_keys),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
