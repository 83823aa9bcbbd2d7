/*
 * test_tuf_client_deleg.c - the delegated targets search (TUF 5.6.7): pre-order depth-first
 * order, terminating delegations, path patterns, path hash prefixes, succinct hash bins, cycles,
 * the bound on visited roles, and roles the snapshot does not list. The order and the set of
 * roles requested from the server are part of what is asserted.
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

static const char *const all[] = {"*", NULL};

/* Publishes, refreshes with a new client and clears the request log. */
static struct sdv_tuf_client *refreshed(struct fx_repo *r)
{
    struct sdv_tuf_client *c;

    fx_publish(r);
    fx_trust_root(r, 1);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_assert_trusted_top(r, c);
    fx_requests_clear(r);
    return c;
}

static void add_roles(struct fx_repo *r, const char *const *names)
{
    for (size_t i = 0; names[i] != NULL; i++)
        fx_role_add(r, names[i]);
}

#define ADD_ROLES(r, ...) add_roles((r), (const char *[]){__VA_ARGS__, NULL})

/* Delegates every path from parent to each child in turn, not terminating, adding the children
 * that are not roles yet. */
static void delegate_all(struct fx_repo *r, const char *parent, const char *const *children)
{
    for (size_t i = 0; children[i] != NULL; i++) {
        if (fx_role(r, children[i]) == NULL)
            fx_role_add(r, children[i]);
        fx_delegate(r, parent, children[i], false, all, NULL);
    }
}

#define DELEGATE_ALL(r, parent, ...) \
    delegate_all((r), (parent), (const char *[]){__VA_ARGS__, NULL})

static void test_preorder_depth_first(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    DELEGATE_ALL(r, "targets", "A", "B");
    DELEGATE_ALL(r, "A", "A1", "A2");
    DELEGATE_ALL(r, "B", "B1");
    fx_target_add(r, "B1", "deep.bin", "in B1", 5);
    fx_target_add(r, "A2", "both.bin", "in A2", 5);
    fx_target_add(r, "B1", "both.bin", "in B1 too", 9);
    fx_target_add(r, "A1", "first.bin", "a1", 2);
    c = refreshed(r);

    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "deep.bin", &t), SDV_OK, "");
    assert_string_equal(t.role, "B1");
    fx_assert_requests(r, "A.json A1.json A2.json B.json B1.json");
    fx_assert_trusted(r, c, "A1");
    fx_assert_trusted(r, c, "B1");
    /* Loaded roles are kept for the client's lifetime: no further requests. */
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "both.bin", &t), SDV_OK, "");
    assert_string_equal(t.role, "A2"); /* the first in pre-order wins */
    assert_int_equal(t.length, 5);
    assert_int_equal(r->request_count, 5);
    sdv_tuf_client_destroy(c);

    /* A new client stops at the first role that lists the target. */
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_requests_clear(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "first.bin", &t), SDV_OK, "");
    assert_string_equal(t.role, "A1");
    /* Unchanged delegated metadata is reused from disk. */
    fx_assert_requests(r, "");
    assert_int_equal(sdv_tuf_client_role_version(c, "A1"), 1);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_preorder_consistent_names(void **state)
{
    struct fx_repo *r = fx_repo_new(true);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    DELEGATE_ALL(r, "targets", "A", "B");
    fx_role(r, "A")->version = 4;
    fx_role(r, "B")->version = 7;
    fx_target_add(r, "B", "b.bin", "b", 1);
    c = refreshed(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "b.bin", &t), SDV_OK, "");
    fx_assert_requests(r, "4.A.json 7.B.json");
    fx_assert_trusted(r, c, "A");
    fx_assert_trusted(r, c, "B");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_terminating_stops_search(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    ADD_ROLES(r, "A", "A1", "B");
    fx_delegate(r, "targets", "A", true, all, NULL);
    fx_delegate(r, "targets", "B", false, all, NULL);
    fx_delegate(r, "A", "A1", false, all, NULL);
    fx_target_add(r, "B", "in-b.bin", "b", 1);
    fx_target_add(r, "A1", "in-a1.bin", "a1", 2);
    c = refreshed(r);

    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "in-b.bin", &t), SDV_ENOTARGET, "in-b.bin");
    fx_assert_requests(r, "A.json A1.json");
    assert_false(fx_requested(r, "B.json"));
    /* The terminating role's own delegations are still searched. */
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "in-a1.bin", &t), SDV_OK, "");
    assert_string_equal(t.role, "A1");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* A terminating delegation deeper down also ends the search of roles still waiting. */
static void test_terminating_deep(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    ADD_ROLES(r, "A", "A1", "A2", "B");
    fx_delegate(r, "targets", "A", false, all, NULL);
    fx_delegate(r, "targets", "B", false, all, NULL);
    fx_delegate(r, "A", "A1", true, all, NULL);
    fx_delegate(r, "A", "A2", false, all, NULL);
    fx_target_add(r, "B", "in-b.bin", "b", 1);
    fx_target_add(r, "A2", "in-a2.bin", "a2", 2);
    c = refreshed(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "in-b.bin", &t), SDV_ENOTARGET, "in-b.bin");
    fx_assert_requests(r, "A.json A1.json");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "in-a2.bin", &t), SDV_ENOTARGET, "in-a2");
    fx_assert_requests(r, "A.json A1.json");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* A terminating role that does not match the path does not end anything. */
static void test_terminating_not_matching(void **state)
{
    static const char *const other[] = {"other/*", NULL};
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    ADD_ROLES(r, "A", "B");
    fx_delegate(r, "targets", "A", true, other, NULL);
    fx_delegate(r, "targets", "B", false, all, NULL);
    fx_target_add(r, "B", "b.bin", "b", 1);
    c = refreshed(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "b.bin", &t), SDV_OK, "");
    fx_assert_requests(r, "B.json");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_path_patterns(void **state)
{
    static const char *const other[] = {"other/*", "*.img", NULL};
    static const char *const files[] = {"file*", NULL};
    static const char *const a_star[] = {"a/*", NULL};
    static const char *const a_star_c[] = {"a/*/c", "a/b/?x", "a/[bd]/e", NULL};
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    ADD_ROLES(r, "O", "F", "AS", "ASC");
    fx_delegate(r, "targets", "O", false, other, NULL);
    fx_delegate(r, "targets", "F", false, files, NULL);
    fx_delegate(r, "targets", "AS", false, a_star, NULL);
    fx_delegate(r, "targets", "ASC", false, a_star_c, NULL);
    fx_target_add(r, "F", "file.bin", "f", 1);
    fx_target_add(r, "O", "file.bin", "not trusted for it", 18);
    fx_target_add(r, "AS", "a/b", "ab", 2);
    fx_target_add(r, "AS", "a/b/c", "listed where it is not delegated", 32);
    fx_target_add(r, "ASC", "a/b/c", "abc", 3);
    fx_target_add(r, "ASC", "a/b/yx", "abyx", 4);
    fx_target_add(r, "ASC", "a/d/e", "ade", 3);
    fx_target_add(r, "ASC", "a/c/e", "ace", 3);
    c = refreshed(r);

    /* "O" lists file.bin too, but its patterns do not cover it: never even fetched. */
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "file.bin", &t), SDV_OK, "");
    assert_string_equal(t.role, "F");
    assert_int_equal(t.length, 1);
    fx_assert_requests(r, "F.json");

    /* Pattern a-slash-star matches a/b but not a/b/c: a star does not cross a slash. */
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "a/b", &t), SDV_OK, "");
    assert_string_equal(t.role, "AS");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "a/b/c", &t), SDV_OK, "");
    assert_string_equal(t.role, "ASC");
    assert_int_equal(t.length, 3);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "a/b/yx", &t), SDV_OK, "");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "a/d/e", &t), SDV_OK, "");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "a/c/e", &t), SDV_ENOTARGET, "a/c/e");
    fx_assert_requests(r, "F.json AS.json ASC.json");
    sdv_tuf_client_destroy(c);

    /* With ASC gone, a/b/c is not found and AS (pattern a-slash-star) is never asked. */
    fx_requests_clear(r);
    r->targets.deleg_count = 3;
    r->targets.version = 2;
    r->snapshot.version = 2;
    r->timestamp.version = 2;
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    fx_requests_clear(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "a/b/c", &t), SDV_ENOTARGET, "a/b/c");
    fx_assert_requests(r, "");
    sdv_tuf_client_destroy(c);
    json_decref(r->targets.delegs[3].paths);
    r->targets.delegs[3].paths = NULL;
    fx_repo_free(r);
}

static void test_path_hash_prefixes(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;
    char hex[65], match[3], miss[2], miss2[4];

    (void)state;
    fx_sha256_hex("hp.bin", 6, hex);
    snprintf(match, sizeof(match), "%.2s", hex);
    /* A one-digit prefix that differs, and a three-digit one that differs in the last digit. */
    snprintf(miss, sizeof(miss), "%c", hex[0] == '0' ? '1' : '0');
    snprintf(miss2, sizeof(miss2), "%.2s%c", hex, hex[2] == 'f' ? 'e' : 'f');
    ADD_ROLES(r, "X", "Y", "H");
    fx_delegate(r, "targets", "X", false, NULL, (const char *[]){miss, NULL});
    fx_delegate(r, "targets", "Y", false, NULL, (const char *[]){miss2, NULL});
    fx_delegate(r, "targets", "H", false, NULL, (const char *[]){"zz", match, NULL});
    fx_target_add(r, "X", "hp.bin", "x", 1);
    fx_target_add(r, "Y", "hp.bin", "y", 1);
    fx_target_add(r, "H", "hp.bin", "hashed", 6);
    c = refreshed(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "hp.bin", &t), SDV_OK, "");
    assert_string_equal(t.role, "H");
    assert_int_equal(t.length, 6);
    fx_assert_requests(r, "H.json");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* The bin of path: the first bits of its SHA-256 as a big-endian number, in hex digits enough
 * for bits (ceil(bits / 4)), after prefix and '-'. */
static void bin_name(const char *prefix, unsigned bits, const char *path, char *out, size_t len)
{
    uint8_t d[32];
    unsigned long first = 0;

    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, path, strlen(path), d), SDV_OK);
    for (unsigned i = 0; i < bits; i++)
        first = first << 1 | ((d[i / 8] >> (7 - i % 8)) & 1u);
    snprintf(out, len, "%s-%0*lx", prefix, (int)((bits + 3) / 4), first);
}

static void check_succinct(unsigned bits)
{
    struct fx_repo *r = fx_repo_new(true);
    struct fx_key *key = fx_repo_key(r, SDV_KEY_ED25519);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;
    char bin[64], other_bin[64], want[128], path[32];
    const char *other = NULL;

    r->targets.succinct = true;
    r->targets.bit_length = bits;
    snprintf(r->targets.name_prefix, sizeof(r->targets.name_prefix), "bin");
    r->targets.succinct_key = key;
    bin_name("bin", bits, "s.bin", bin, sizeof(bin));
    fx_role_set_keys(fx_role_add(r, bin), 1, (struct fx_key *[]){key, NULL});
    fx_target_add(r, bin, "s.bin", "succinct", 8);
    /* Find a path that lands in another bin, which the repository does not have. */
    for (int i = 0; other == NULL && i < 1000; i++) {
        snprintf(path, sizeof(path), "p%d", i);
        bin_name("bin", bits, path, other_bin, sizeof(other_bin));
        if (strcmp(other_bin, bin) != 0)
            other = path;
    }
    assert_non_null(other);
    c = refreshed(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "s.bin", &t), SDV_OK, "");
    assert_string_equal(t.role, bin);
    snprintf(want, sizeof(want), "1.%s.json", bin);
    fx_assert_requests(r, want);
    fx_assert_trusted(r, c, bin);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, other, &t), SDV_ENOTARGET, other_bin);
    fx_assert_requests(r, want);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_succinct_bins(void **state)
{
    (void)state;
    check_succinct(1);  /* bin-0, bin-1 */
    check_succinct(5);  /* bin-00 ... bin-1f */
    check_succinct(8);  /* bin-00 ... bin-ff */
    check_succinct(14); /* bin-0000 ... bin-3fff */
}

static void test_delegation_cycle(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    DELEGATE_ALL(r, "targets", "A");
    DELEGATE_ALL(r, "A", "B");
    DELEGATE_ALL(r, "B", "A");
    fx_target_add(r, "B", "in-b.bin", "b", 1);
    c = refreshed(r);
    /* The search ends as "not found", without running into the bound on visited roles. */
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "nowhere.bin", &t), SDV_ENOTARGET,
                  "nowhere.bin");
    fx_assert_requests(r, "A.json B.json");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "in-b.bin", &t), SDV_OK, "");
    assert_string_equal(t.role, "B");
    fx_assert_requests(r, "A.json B.json");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_self_delegation(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    DELEGATE_ALL(r, "targets", "A");
    DELEGATE_ALL(r, "A", "A");
    c = refreshed(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "x.bin", &t), SDV_ENOTARGET, "x.bin");
    fx_assert_requests(r, "A.json");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void test_delegations_max(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    DELEGATE_ALL(r, "targets", "R1");
    DELEGATE_ALL(r, "R1", "R2");
    DELEGATE_ALL(r, "R2", "R3");
    DELEGATE_ALL(r, "R3", "R4");
    DELEGATE_ALL(r, "R4", "R5");
    fx_target_add(r, "R5", "deep.bin", "deep", 4);
    r->cfg.delegations_max = 3;
    c = refreshed(r);
    /* targets, R1 and R2 make three roles; R3 would be the fourth. */
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "deep.bin", &t), SDV_ELIMIT, "deep.bin");
    fx_assert_requests(r, "R1.json R2.json");
    sdv_tuf_client_destroy(c);

    r->cfg.delegations_max = 6;
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "deep.bin", &t), SDV_OK, "");
    assert_string_equal(t.role, "R5");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

static void drop_u(json_t *s, void *ud)
{
    (void)ud;
    json_object_del(json_object_get(s, "meta"), "U.json");
}

static void test_role_missing_from_snapshot(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;
    struct fx_dir_state *before;

    (void)state;
    DELEGATE_ALL(r, "targets", "U");
    fx_target_add(r, "U", "u.bin", "u", 1);
    r->snapshot.mutate = drop_u;
    c = refreshed(r);
    before = fx_dir_capture(r->meta_dir);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "u.bin", &t), SDV_ENOTARGET,
                  "does not list U.json");
    fx_assert_requests(r, "");
    fx_dir_assert(before, r->meta_dir);
    fx_dir_state_free(before);
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* A delegated role signed by the key of its sibling (listed in the same delegations). */
static void test_delegated_signed_by_sibling_key(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    DELEGATE_ALL(r, "targets", "A", "B");
    fx_role_set_signers(fx_role(r, "A"), (struct fx_key *[]){fx_role(r, "B")->keys[0], NULL});
    fx_target_add(r, "B", "b.bin", "b", 1);
    c = refreshed(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "b.bin", &t), SDV_ESIG, "A");
    fx_assert_requests(r, "A.json");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

/* Delegated metadata with the threshold of two distinct keys. */
static void test_delegated_threshold(void **state)
{
    struct fx_repo *r = fx_repo_new(false);
    struct fx_key *k1 = fx_repo_key(r, SDV_KEY_ED25519), *k2 = fx_repo_key(r, SDV_KEY_ECDSA_P256);
    struct sdv_tuf_client *c;
    struct sdv_tuf_target t;

    (void)state;
    DELEGATE_ALL(r, "targets", "A");
    fx_role_set_keys(fx_role(r, "A"), 2, (struct fx_key *[]){k1, k2, NULL});
    fx_target_add(r, "A", "a.bin", "a", 1);
    fx_role(r, "A")->dup_sig = true;
    fx_role_set_signers(fx_role(r, "A"), (struct fx_key *[]){k2, NULL});
    c = refreshed(r);
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "a.bin", &t), SDV_ESIG, "1 valid of 2");
    sdv_tuf_client_destroy(c);

    fx_role_set_signers(fx_role(r, "A"), (struct fx_key *[]){k2, k1, NULL});
    fx_role(r, "A")->version = 2;
    r->snapshot.version = 2;
    r->timestamp.version = 2;
    fx_publish(r);
    FX_ASSERT_REFRESH(r, c, SDV_OK, "");
    FX_ASSERT_ERR(c, sdv_tuf_client_find_target(c, "a.bin", &t), SDV_OK, "");
    fx_assert_trusted(r, c, "A");
    sdv_tuf_client_destroy(c);
    fx_repo_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_preorder_depth_first),
            cmocka_unit_test(test_preorder_consistent_names),
            cmocka_unit_test(test_terminating_stops_search),
            cmocka_unit_test(test_terminating_deep),
            cmocka_unit_test(test_terminating_not_matching),
            cmocka_unit_test(test_path_patterns),
            cmocka_unit_test(test_path_hash_prefixes),
            cmocka_unit_test(test_succinct_bins),
            cmocka_unit_test(test_delegation_cycle),
            cmocka_unit_test(test_self_delegation),
            cmocka_unit_test(test_delegations_max),
            cmocka_unit_test(test_role_missing_from_snapshot),
            cmocka_unit_test(test_delegated_signed_by_sibling_key),
            cmocka_unit_test(test_delegated_threshold),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
