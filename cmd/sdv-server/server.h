/*
 * server.h - the parts of sdv-server, private to cmd/sdv-server/. The program is a thin layer
 * over the public libraries: lib/httpd answers HTTP, lib/store keeps the fleet, lib/uptane builds
 * director metadata and verifies manifests, lib/tuf (client and repository tooling) serves and
 * signs the image repository, lib/artifact stores images. docs/server.md is the guide,
 * docs/server_api.md the HTTP contract.
 *
 * Threads: lib/httpd runs handlers on a pool of threads, and one timer thread renews metadata.
 * Store handles are single-threaded, so they come from a pool (server_store_get/put); the image
 * repository directory may only be edited by one handle at a time, so every use of it holds
 * image_mu. Everything else in struct server is read-only after start-up.
 */
#ifndef SDV_SERVER_H
#define SDV_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/artifact.h>
#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/httpd.h>
#include <sdv/limits.h>
#include <sdv/store.h>
#include <sdv/tuf.h>
#include <sdv/uptane.h>

/* ---- Limits of the program (each lowers nothing of the libraries; see sdv/limits.h) ------- */

/* An admin JSON request (registration, assignment): a vehicle of SDV_UPTANE_ECUS_MAX ECUs with
 * RSA-4096 public keys is about 250 KB; 1 MiB leaves room without letting a caller make us
 * buffer more. */
#define SERVER_ADMIN_JSON_LEN_MAX (1024u * 1024u)

/* The configuration file. A real one is a few KB. */
#define SERVER_CONFIG_LEN_MAX (256u * 1024u)

/* Default largest artifact upload: 4 GiB; the configuration may raise it up to
 * SDV_HTTPD_STREAM_LEN_MAX. */
#define SERVER_UPLOAD_MAX_DEFAULT (4ull * 1024u * 1024u * 1024u)

/* Compare-and-set retries when two writers regenerate one vehicle's director metadata at once:
 * each retry re-reads the winner's state, so a handful always suffices unless the store is
 * broken. */
#define SERVER_DIRECTOR_CAS_RETRIES 8

/* Verified manifests of a vehicle scanned for an ECU's previous report (replay checks): the
 * latest one normally holds every ECU; the bound keeps a check-in cheap when an ECU has been
 * silent for a long time. */
#define SERVER_REPLAY_SCAN_MAX 64

/* Default page size of the admin list endpoints. */
#define SERVER_PAGE_DEFAULT 100

/* Default interval of the renewal timer and default graceful-shutdown wait. */
#define SERVER_RENEW_INTERVAL_S_DEFAULT 60
#define SERVER_DRAIN_MS_DEFAULT         10000u

/* ---- Configuration (server_config.c) -------------------------------------------------------- */

struct server_config {
    char *path; /* the configuration file, for messages */

    char *listen_address;
    uint16_t port;
    unsigned threads;
    unsigned connections_max;

    char *store_url;
    char *artifact_dir;

    char *image_dir;           /* a `sdv repo` directory */
    char *image_snapshot_key;  /* PEM, private */
    char *image_timestamp_key; /* PEM, private */
    char *image_trusted_root;  /* optional: pinned root of the server's own view */
    char *image_client_dir;    /* trusted metadata of the server's own view */
    int64_t image_timestamp_lifetime_s;
    bool image_snapshot_hashes;

    char *director_root_keys[SDV_UPTANE_ROOT_KEYS_MAX];
    size_t director_root_key_count;
    unsigned director_root_threshold;
    char *director_root_metadata; /* optional pre-signed root for offline root keys */
    char *director_targets_key;
    char *director_snapshot_key;
    char *director_timestamp_key;
    struct sdv_uptane_director_config director;

    char *admin_token;

    char *tls_cert_pem; /* PEM texts, read at load time */
    char *tls_key_pem;
    char *tls_device_ca_pem;

    char *proxies[SDV_HTTPD_PROXIES_MAX];
    size_t proxy_count;
    char *proxy_header;

    uint64_t upload_max;
    int64_t renew_interval_s;
    unsigned drain_ms;
};

/*
 * Reads and checks the JSON configuration at path. Relative paths in it are taken relative to
 * the file's directory. On failure writes a sentence naming the field to errmsg and returns
 * SDV_EINVAL (or the I/O error). Release with server_config_free().
 */
enum sdv_err server_config_load(const char *path, struct server_config *cfg, char *errmsg,
                                size_t errmsg_len);
void server_config_free(struct server_config *cfg);

/* ---- The server ------------------------------------------------------------------------------ */

struct server_store_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sdv_store **h;
    bool *busy;
    size_t n;
};

struct server {
    const struct server_config *cfg;
    struct sdv_log log;

    struct server_store_pool pool;
    struct sdv_artifact_store *artifacts;

    /* Director keys. */
    struct sdv_key *dir_root[SDV_UPTANE_ROOT_KEYS_MAX];
    struct sdv_key *dir_targets, *dir_snapshot, *dir_timestamp;
    struct sdv_uptane_director_keys dir_keys;
    struct sdv_buf dir_root_seed; /* pre-signed root for new vehicles, or empty */

    /* Image repository: online keys and the lock over its directory. */
    struct sdv_key *img_snapshot, *img_timestamp;
    pthread_mutex_t image_mu;

    struct sdv_httpd *httpd;
};

/* Loads keys, opens the store pool and the artifact store and checks the image repository.
 * store_handles is the size of the pool. On failure errmsg says why. */
enum sdv_err server_init(struct server *srv, const struct server_config *cfg,
                         const struct sdv_log *log, size_t store_handles, char *errmsg,
                         size_t errmsg_len);
void server_fini(struct server *srv);

/* Adds every route of docs/server_api.md to srv->httpd. */
enum sdv_err server_routes_add(struct server *srv);

/* The wall clock (seconds since the epoch): the only place sdv-server reads it. */
int64_t server_now(void);

/* Store pool: borrows a handle (waits while all are busy) and gives it back. */
struct sdv_store *server_store_get(struct server *srv);
void server_store_put(struct server *srv, struct sdv_store *s);

/* ---- Director (server_director.c) ------------------------------------------------------------ */

/*
 * Builds the director metadata of vin from its ECUs and assignments in the store and saves it
 * when anything changed: a compare-and-set on the stored targets version, re-read and rebuilt
 * on SDV_EVERSION up to SERVER_DIRECTOR_CAS_RETRIES times. On failure errmsg says why.
 */
enum sdv_err server_director_update(struct server *srv, struct sdv_store *st, const char *vin,
                                    int64_t now, char *errmsg, size_t errmsg_len);

/* Timer duty: renews every vehicle's director metadata whose roles have less than half of their
 * lifetime left (the timestamp alone through sdv_uptane_director_renew_timestamp). */
void server_director_renew_all(struct server *srv, int64_t now);

void server_h_director_get(void *ctx, struct sdv_httpd_request *req);

/* ---- Image repository (server_image.c) --------------------------------------------------------
 */

/* What the server's verified view of its image repository says about one target. */
struct server_image_target {
    uint64_t length;
    size_t hash_count;
    struct sdv_tuf_hash hashes[SDV_TUF_TARGET_HASHES_MAX];
    uint64_t release_counter; /* custom.release_counter, 0 when absent */
    json_t *hardware_ids;     /* custom.hardware_ids (array of strings, new reference) or NULL */
};

/*
 * Refreshes the server's TUF client against its own published metadata (a fetch callback that
 * reads DIR/metadata) and looks name up (delegations included). SDV_ENOTARGET when no trusted
 * role lists it; SDV_EPARSE for ill-typed custom fields. Takes image_mu. Release out with
 * server_image_target_release().
 */
enum sdv_err server_image_lookup(struct server *srv, const char *name, int64_t now,
                                 struct server_image_target *out, char *errmsg, size_t errmsg_len);
void server_image_target_release(struct server_image_target *t);

/* Refreshes the view once (start-up check, after a publish). */
enum sdv_err server_image_refresh(struct server *srv, int64_t now, char *errmsg, size_t errmsg_len);

/* Timer duty: re-signs and publishes the image repository's timestamp when less than half of
 * its lifetime is left. */
void server_image_renew(struct server *srv, int64_t now);

void server_h_image_metadata(void *ctx, struct sdv_httpd_request *req);
void server_h_image_target(void *ctx, struct sdv_httpd_request *req);
void server_h_image_staged(void *ctx, struct sdv_httpd_request *req);
void server_h_image_publish(void *ctx, struct sdv_httpd_request *req);

/* ---- Vehicle manifests (server_manifest.c) ----------------------------------------------------
 */

void server_h_manifest(void *ctx, struct sdv_httpd_request *req);

/* ---- Admin API (server_admin.c) ----------------------------------------------------------------
 */

/* Checks "Authorization: Bearer <token>" in constant time; answers 401 and returns false if it
 * is missing or wrong. */
bool server_admin_auth(struct server *srv, struct sdv_httpd_request *req);

void server_h_vehicles_post(void *ctx, struct sdv_httpd_request *req);
void server_h_vehicles_list(void *ctx, struct sdv_httpd_request *req);
void server_h_vehicle_get(void *ctx, struct sdv_httpd_request *req);
void server_h_assignments(void *ctx, struct sdv_httpd_request *req);
enum sdv_err server_artifact_body(void *ctx, struct sdv_httpd_request *req, const void *data,
                                  size_t len);
void server_h_artifact_put(void *ctx, struct sdv_httpd_request *req);
void server_artifact_done(void *ctx, struct sdv_httpd_request *req, int completed);

/* ---- Helpers (server_util.c) --------------------------------------------------------------------
 */

/* Answers with a store failure: 500 naming the operation and the store's message. */
void server_respond_store_error(struct sdv_httpd_request *req, struct sdv_store *st,
                                const char *what, enum sdv_err err);

/* Answers an Uptane failure: 400 with the rule name ("SIGNATURE", without the prefix). */
const char *server_rule_name(enum sdv_uptane_rule rule);

/* Answers 304 (and returns true) when If-None-Match matches etag (weak comparison, "*"). */
bool server_not_modified(struct sdv_httpd_request *req, const char *etag);

/* {"sha256": "<hex>", ...} of a hash list (new reference, NULL on ENOMEM). */
json_t *server_hashes_json(const struct sdv_tuf_hash *hashes, size_t count);
/* The reverse, for hashes stored as JSON text; SDV_EPARSE when malformed. */
enum sdv_err server_hashes_parse(const char *text, struct sdv_tuf_hash *hashes, size_t *count);

/* RFC 3339 of t as a JSON string (new reference). */
json_t *server_time_json(int64_t t);

/* Parses a request body as a JSON object; answers 400 and returns NULL if it is not one. */
json_t *server_body_json(struct sdv_httpd_request *req);

/* Reads a non-negative decimal query parameter; def when absent. false (and a 400) when
 * malformed or above max. */
bool server_query_u64(struct sdv_httpd_request *req, const char *name, uint64_t def, uint64_t max,
                      uint64_t *out);

/* A VIN, ECU serial or hardware id is acceptable as an identifier: 1..max printable ASCII
 * characters without spaces (the same rule as an authenticated identity). */
bool server_id_ok(const char *s, size_t max);

/* ---- Install records (server_install.c) ---- */

/* Stores the install log records of every report of the verified manifest m (vehicle vin),
 * each checked for shape and for its link to the previous record; problems are logged, never
 * fatal (the manifest itself was accepted). */
void server_install_records_store(struct server *srv, struct sdv_store *st, const char *vin,
                                  const struct sdv_uptane_manifest *m, int64_t now);

/* One stored record as the admin API shows it. */
json_t *server_install_record_json(const struct sdv_store_install_record *r);

/* A page of the vehicle's records, newest first (limit 0: the vehicle view's 20), as a JSON
 * array in *list; *next is the id to pass as before for the next page, or 0. */
enum sdv_err server_install_records_json(struct sdv_store *st, const char *vin, int64_t before,
                                         size_t limit, json_t **list, int64_t *next);

#endif /* SDV_SERVER_H */
