/*
 * uptane_test_util.h - shared pieces of the lib/uptane tests: keys, a vehicle with three ECUs
 * (one per key type), director keys, image descriptions, a deterministic random source, and an
 * in-memory metadata server behind an sdv_tuf_fetch_fn with a fresh client directory, so that
 * director output can be verified by the real TUF client. Failures abort the test (fail_msg).
 */
#ifndef SDV_UPTANE_TEST_UTIL_H
#define SDV_UPTANE_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/tuf.h>
#include <sdv/uptane.h>

/* The reference time of the tests: 2027-01-15T08:00:00Z. */
#define UT_NOW INT64_C(1800000000)
#define UT_DAY INT64_C(86400)
#define UT_URL "https://director.test/"

#define UT_ECUS 3

/* A vehicle: primary "ecu-a" (ed25519), "ecu-b" (ECDSA P-256), "ecu-c" (RSA 2048); each ECU
 * has its own key, and the primary signs manifests with primary_key. */
struct ut_vehicle {
    struct sdv_key *primary_key;
    struct sdv_key *ecu_keys[UT_ECUS];
    struct sdv_uptane_ecu ecus[UT_ECUS];
    struct sdv_uptane_vehicle v;
};

/* fixed: use the keys of uptane_fixed_keys.h (for seeds); otherwise fresh keys. */
struct ut_vehicle *ut_vehicle_new(int fixed);
void ut_vehicle_free(struct ut_vehicle *uv);

/* Director keys: one root key (ed25519) and one online key per role. */
struct ut_director {
    struct sdv_key *root, *targets, *snapshot, *timestamp;
    const struct sdv_key *root_list[1];
    struct sdv_uptane_director_keys keys;
};
struct ut_director *ut_director_new(void);
void ut_director_free(struct ut_director *d);

/* An image named path whose content is `content` (length and sha256 + sha512 of it). */
struct sdv_uptane_image ut_image(const char *path, const char *content, uint64_t release_counter);

/* Deterministic "random" bytes: a counter in ud (uint8_t *). */
enum sdv_err ut_random(void *ud, void *p, size_t n);

/* The previous-output view of a director output. */
struct sdv_uptane_director_prev ut_prev_of(const struct sdv_uptane_director_out *o);

/* An in-memory metadata server and a client directory. */
struct ut_server {
    struct {
        char name[64];
        uint8_t *data;
        size_t len;
    } files[32];
    size_t count;
    char tmp_dir[256];
    char meta_dir[300];
};
struct ut_server *ut_server_new(void);
void ut_server_free(struct ut_server *s);
/* Serves bytes under name (copied, replacing an earlier file of that name). */
void ut_serve(struct ut_server *s, const char *name, const void *data, size_t len);
/* Serves a director output the way sdv-server will: N.root.json for root, timestamp.json, and
 * snapshot/targets under plain or versioned names. */
void ut_serve_director(struct ut_server *s, const struct sdv_uptane_director_out *o,
                       int consistent);
/* The fetch callback (fetch_ud is the server). */
enum sdv_err ut_fetch(void *ud, const char *url, uint64_t max_len, sdv_tuf_sink_fn sink,
                      void *sink_ud);
/* Installs root bytes as the client's trusted root; a new client; refresh. Returns the refresh
 * result; *out is the client (destroy it). */
void ut_trust_root(struct ut_server *s, const void *root, size_t len);
enum sdv_err ut_refresh(struct ut_server *s, int64_t now, struct sdv_tuf_client **out);

/* A NUL-terminated copy of p[0..n) (for editing JSON text in tests). Caller frees. */
char *ut_strndup(const void *p, size_t n);

#endif /* SDV_UPTANE_TEST_UTIL_H */
