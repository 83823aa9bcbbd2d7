/*
 * uptane_fuzz_seeds.c - writes the seed corpora of the lib/uptane fuzz targets: valid vehicle
 * version manifests signed with the fixed keys of uptane_fixed_keys.h (so the fuzzer starts past
 * the signature checks), and director targets metadata for the fixed vehicle.
 *
 *   uptane_fuzz_seeds MANIFEST_DIR DIRECTOR_TARGETS_DIR
 *
 * Files are named seed-NN.json; rerunning overwrites them. The bytes differ from run to run
 * (ECDSA and RSA-PSS signatures are randomised, director keys are fresh), which is harmless.
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

#include <sdv/uptane.h>

#include "uptane_test_util.h"

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "wb");
    if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0) {
        fprintf(stderr, "uptane_fuzz_seeds: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static int manifests(const char *dir)
{
    static const char *const contents[UT_ECUS] = {"main 2.0", "zone 2.0", "zone 1.9"};
    static const char *const paths[UT_ECUS] = {"main-2.0.bin", "zone-2.0.bin", "zone-1.9.bin"};
    struct ut_vehicle *uv = ut_vehicle_new(1);
    struct sdv_buf reports[UT_ECUS], out;
    struct sdv_uptane_report_bytes rb[UT_ECUS];
    struct sdv_uptane_err e;
    uint8_t rnd = 42;
    int rc = 0;

    for (int i = 0; i < UT_ECUS; i++) {
        struct sdv_uptane_report_info in;

        memset(&in, 0, sizeof(in));
        in.ecu_serial = uv->ecus[i].serial;
        in.installed = ut_image(paths[i], contents[i], (uint64_t)i + 1);
        in.latest_verified_time = UT_NOW;
        in.attack_detected = i == 1 ? "image repository: sha256 mismatch for zone-2.0.bin" : "";
        in.report_counter = 100 + (uint64_t)i;
        if (i == 0) { /* the primary carries install log records (lib/install's lines) */
            static const char *const log[] = {
                    "{\"ecu\":\"ecu-a\",\"group_slots\":\"rootfs:B\",\"preconditions\":[],"
                    "\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\","
                    "\"reason\":\"\",\"result\":\"committed\",\"seq\":1,\"time\":"
                    "\"2026-01-01T00:00:00Z\",\"version_after\":\"main-2.0.bin\","
                    "\"version_before\":\"factory\"}",
                    "{\"seq\":2,\"result\":\"rolled-back\",\"reason\":\"health check failed "
                    "(exit status 1)\",\"prev\":\"00\"}"};

            in.install_log = log;
            in.install_log_count = 2;
        }
        sdv_buf_init(&reports[i], 64 * 1024);
        if (sdv_uptane_report_build(&in, uv->ecu_keys[i], ut_random, &rnd, &reports[i], NULL, &e) !=
            SDV_OK) {
            fprintf(stderr, "report: %s\n", e.msg);
            return 1;
        }
        rb[i] = (struct sdv_uptane_report_bytes){reports[i].data, reports[i].len};
    }
    sdv_buf_init(&out, SDV_UPTANE_MANIFEST_LEN_MAX);
    /* All three ECUs, then each alone, then none. */
    for (size_t n = 0; n < 5 && rc == 0; n++) {
        char name[32];

        sdv_buf_reset(&out);
        if (sdv_uptane_manifest_build(uv->v.vin, uv->v.primary_ecu_serial,
                                      n == 0   ? rb
                                      : n <= 3 ? &rb[n - 1]
                                               : NULL,
                                      n == 0   ? 3
                                      : n <= 3 ? 1
                                               : 0,
                                      n + 1, uv->primary_key, &out, &e) != SDV_OK) {
            fprintf(stderr, "manifest: %s\n", e.msg);
            rc = 1;
            break;
        }
        snprintf(name, sizeof(name), "seed-%02zu.json", n);
        rc = write_file(dir, name, out.data, out.len);
    }
    for (int i = 0; i < UT_ECUS; i++)
        sdv_buf_free(&reports[i]);
    sdv_buf_free(&out);
    ut_vehicle_free(uv);
    return rc;
}

static int director_targets(const char *dir)
{
    struct ut_vehicle *uv = ut_vehicle_new(1);
    struct ut_director *d = ut_director_new();
    struct sdv_uptane_assignment as[UT_ECUS] = {
            {"ecu-a", ut_image("main-2.0.bin", "main 2.0", 3)},
            {"ecu-b", ut_image("zone-2.0.bin", "zone 2.0", 1)},
            {"ecu-c", ut_image("zone-2.0.bin", "zone 2.0", 1)},
    };
    struct sdv_uptane_director_out o;
    struct sdv_uptane_err e;
    int rc = 0;

    for (size_t n = 0; n <= UT_ECUS && rc == 0; n++) {
        char name[32];

        if (sdv_uptane_director_build(&d->keys, &uv->v, as, n, NULL, NULL, UT_NOW, &o, &e) !=
            SDV_OK) {
            fprintf(stderr, "director: %s\n", e.msg);
            rc = 1;
            break;
        }
        snprintf(name, sizeof(name), "seed-%02zu.json", n);
        rc = write_file(dir, name, o.targets.data, o.targets.len);
        sdv_uptane_director_out_free(&o);
    }
    ut_director_free(d);
    ut_vehicle_free(uv);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: uptane_fuzz_seeds MANIFEST_DIR DIRECTOR_TARGETS_DIR\n");
        return 2;
    }
    return manifests(argv[1]) != 0 || director_targets(argv[2]) != 0;
}
