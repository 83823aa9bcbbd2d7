/*
 * tuf_fuzz_seeds.c - writes valid metadata of every role, built by the test fixture, as seeds
 * for fuzz/fuzz_tuf_meta.c: each file is one selector byte ('0' root, '1' timestamp,
 * '2' snapshot, '3' targets) followed by the metadata. Keys are random, so the seeds are
 * generated once and committed; rerun only to add new shapes of metadata.
 *
 * Usage: tuf_fuzz_seeds DIR
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

#include "tuf_fixture.h"

static int write_seed(const char *dir, const char *seed, char selector, const struct fx_repo *r,
                      const char *served)
{
    const struct fx_file *f = fx_served(r, served);
    char path[1024];
    FILE *out;

    if (f == NULL) {
        fprintf(stderr, "tuf_fuzz_seeds: %s was not published\n", served);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, seed);
    out = fopen(path, "wb");
    if (out == NULL || fputc(selector, out) == EOF || fwrite(f->data, 1, f->len, out) != f->len ||
        fclose(out) != 0) {
        fprintf(stderr, "tuf_fuzz_seeds: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static void add_custom(json_t *s, void *ud)
{
    json_t *t = json_object_get(json_object_get(s, "targets"), "ecu/image.bin");

    (void)ud;
    json_object_set_new(t, "custom",
                        json_pack("{s:s, s:[i, i]}", "hardware_id", "ecu-7", "release", 2, 1));
}

int main(int argc, char **argv)
{
    static const char *const ecu[] = {"ecu/*", "ecu/*/[a-c]?.bin", NULL};
    static const char *const prefixes[] = {"0", "1a", "f", NULL};
    struct fx_repo *plain, *mixed, *bins;
    struct fx_key *ec, *rsa;
    int rc = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }

    /* ed25519 throughout, delegations by paths and by hash prefixes, hashes in snapshot. */
    plain = fx_repo_new(true);
    plain->snapshot_hashes = true;
    fx_target_add(plain, "targets", "file.bin", "payload", 7);
    fx_role_add(plain, "ecu");
    fx_role_add(plain, "hashed");
    fx_delegate(plain, "targets", "ecu", true, ecu, NULL);
    fx_delegate(plain, "targets", "hashed", false, NULL, prefixes);
    fx_target_add(plain, "ecu", "ecu/image.bin", "image", 5);
    fx_role(plain, "ecu")->mutate = add_custom;
    fx_publish(plain);

    /* ECDSA and RSA keys, threshold 2. */
    mixed = fx_repo_new(false);
    ec = fx_repo_key(mixed, SDV_KEY_ECDSA_P256);
    rsa = fx_repo_key(mixed, SDV_KEY_RSA);
    fx_role_set_keys(&mixed->root, 2, (struct fx_key *[]){ec, rsa, NULL});
    fx_role_set_keys(&mixed->timestamp, 1, (struct fx_key *[]){ec, NULL});
    fx_publish(mixed);

    /* Succinct hash bins. */
    bins = fx_repo_new(false);
    bins->targets.succinct = true;
    bins->targets.bit_length = 5;
    snprintf(bins->targets.name_prefix, sizeof(bins->targets.name_prefix), "bin");
    bins->targets.succinct_key = fx_repo_key(bins, SDV_KEY_ED25519);
    fx_publish(bins);

    if (write_seed(argv[1], "root_ed25519.json", '0', plain, "1.root.json") != 0 ||
        write_seed(argv[1], "root_ecdsa_rsa.json", '0', mixed, "1.root.json") != 0 ||
        write_seed(argv[1], "timestamp.json", '1', plain, "timestamp.json") != 0 ||
        write_seed(argv[1], "snapshot.json", '2', plain, "1.snapshot.json") != 0 ||
        write_seed(argv[1], "targets_delegations.json", '3', plain, "1.targets.json") != 0 ||
        write_seed(argv[1], "targets_delegated_custom.json", '3', plain, "1.ecu.json") != 0 ||
        write_seed(argv[1], "targets_succinct.json", '3', bins, "targets.json") != 0 ||
        write_seed(argv[1], "timestamp_ecdsa.json", '1', mixed, "timestamp.json") != 0)
        rc = 1;
    fx_repo_free(plain);
    fx_repo_free(mixed);
    fx_repo_free(bins);
    return rc;
}
