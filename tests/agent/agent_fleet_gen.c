/*
 * agent_fleet_gen.c - writes a small fleet for the sdv-agent process tests: a primary key, an
 * image of a given size, an image repository (lib/tuf repository tooling) listing it, director
 * metadata (lib/uptane) assigning it to the primary, and the agent's configuration file.
 *
 * Usage: agent_fleet_gen OUT_DIR IMAGE_BYTES SERVER_URL
 * Writes OUT_DIR/{primary.pem, image.bin, imagerepo/, director/, agent.json}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sdv/tuf_repo.h>
#include <sdv/uptane.h>

#include "uptane/uptane_test_util.h"

static void die(const char *what, enum sdv_err err)
{
    fprintf(stderr, "agent_fleet_gen: %s: %s\n", what, sdv_strerror(err));
    exit(1);
}

static void check(enum sdv_err err, const char *what)
{
    if (err != SDV_OK)
        die(what, err);
}

static void put(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    check(sdv_fs_write_atomic(path, data, len, 0644), path);
}

int main(int argc, char **argv)
{
    const char *out, *url;
    unsigned long long size;
    char path[1024], msg[256] = "";
    struct sdv_key *image_key = NULL, *primary = NULL;
    struct ut_director *d;
    struct sdv_tuf_repo *repo = NULL;
    struct sdv_buf pem;
    struct sdv_uptane_ecu ecu = {"ecu-main", "hw-main", NULL, 0};
    struct sdv_uptane_vehicle v = {"VIN-RESUME-1", "ecu-main", NULL, &ecu, 1};
    struct sdv_uptane_assignment as;
    struct sdv_uptane_director_out dout;
    struct sdv_uptane_err ue;
    int64_t now = (int64_t)time(NULL);
    FILE *fp;

    if (argc != 4)
        return fprintf(stderr, "usage: agent_fleet_gen OUT_DIR IMAGE_BYTES SERVER_URL\n"), 2;
    out = argv[1];
    size = strtoull(argv[2], NULL, 10);
    url = argv[3];

    check(sdv_key_generate(SDV_KEY_ED25519, 0, &image_key), "key");
    check(sdv_key_generate(SDV_KEY_ED25519, 0, &primary), "key");
    sdv_buf_init(&pem, 1 << 16);
    check(sdv_key_private_pem(primary, &pem), "pem");
    put(out, "primary.pem", pem.data, pem.len);
    sdv_buf_free(&pem);

    /* The image: pseudo-random bytes, so a misplaced resume cannot verify by accident. */
    snprintf(path, sizeof(path), "%s/image.bin", out);
    fp = fopen(path, "wb");
    if (fp == NULL)
        die(path, SDV_EIO);
    srand(7);
    for (unsigned long long i = 0; i < size; i++)
        fputc(rand() & 0xff, fp);
    fclose(fp);

    snprintf(path, sizeof(path), "%s/imagerepo", out);
    check(sdv_tuf_repo_init(path, 1, now, &repo, msg, sizeof(msg)), msg);
    for (const char *const *r =
                 (const char *const[]){"root", "targets", "snapshot", "timestamp", NULL};
         *r; r++)
        check(sdv_tuf_repo_add_key(repo, *r, image_key, 1), "add key");
    check(sdv_tuf_repo_sign(repo, "root", image_key), "sign root");
    snprintf(path, sizeof(path), "%s/image.bin", out);
    {
        json_t *custom = json_pack("{s:i}", "release_counter", 1);
        struct sdv_tuf_repo_target t = {path, "main/fw-1.bin", custom};

        check(sdv_tuf_repo_add_targets(repo, "targets", &t, 1), "add target");
        json_decref(custom);
    }
    check(sdv_tuf_repo_sign(repo, "targets", image_key), "sign targets");
    check(sdv_tuf_repo_snapshot(repo, image_key, 0), "snapshot");
    check(sdv_tuf_repo_timestamp(repo, image_key), "timestamp");
    check(sdv_tuf_repo_publish(repo), sdv_tuf_repo_errmsg(repo));
    sdv_tuf_repo_close(repo);

    d = ut_director_new();
    memset(&as, 0, sizeof(as));
    as.ecu_serial = "ecu-main";
    as.image.filepath = "main/fw-1.bin";
    as.image.hash_count = 2;
    as.image.hashes[0].alg = SDV_HASH_SHA256;
    as.image.hashes[1].alg = SDV_HASH_SHA512;
    check(sdv_hash_file(SDV_HASH_SHA256, path, as.image.hashes[0].digest, &as.image.length),
          "hash");
    check(sdv_hash_file(SDV_HASH_SHA512, path, as.image.hashes[1].digest, NULL), "hash");
    as.image.release_counter = 1;
    if (sdv_uptane_director_build(&d->keys, &v, &as, 1, NULL, NULL, now, &dout, &ue) != SDV_OK) {
        fprintf(stderr, "agent_fleet_gen: director: %s\n", ue.msg);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/director", out);
    check(sdv_fs_mkdir_p(path, 0755), path);
    put(path, "root.json", dout.root.data, dout.root.len);
    put(path, "1.root.json", dout.root.data, dout.root.len);
    put(path, "timestamp.json", dout.timestamp.data, dout.timestamp.len);
    put(path, "snapshot.json", dout.snapshot.data, dout.snapshot.len);
    put(path, "targets.json", dout.targets.data, dout.targets.len);
    sdv_uptane_director_out_free(&dout);
    ut_director_free(d);

    snprintf(msg, sizeof(msg), "%s/agent.json", out);
    fp = fopen(msg, "w");
    if (fp == NULL)
        die(msg, SDV_EIO);
    fprintf(fp,
            "{\"server_url\": \"%s\", \"vin\": \"VIN-RESUME-1\", \"state_dir\": \"state\",\n"
            " \"primary\": {\"serial\": \"ecu-main\", \"hardware_id\": \"hw-main\", "
            "\"key\": \"primary.pem\"},\n"
            " \"director_root\": \"director/root.json\",\n"
            " \"image_root\": \"imagerepo/metadata/1.root.json\",\n"
            " \"download\": {\"attempts\": 3, \"backoff_ms\": 100, \"min_speed_bytes\": 1000,"
            " \"min_speed_time_s\": 10}}\n",
            url);
    fclose(fp);
    sdv_key_destroy(image_key);
    sdv_key_destroy(primary);
    return 0;
}
