/*
 * tuf_fixture.h - a TUF 1.0 test repository for the client tests: keys, metadata built as
 * jansson objects and signed over their canonical JSON, an in-memory "server" (file name ->
 * bytes) behind an sdv_tuf_fetch_fn that logs every request, and a fresh temporary directory
 * holding the client's trusted metadata and downloaded targets.
 *
 * A repository holds one struct fx_role per role. Tests edit the roles (version, expiry, keys,
 * threshold, signers, targets, delegations, a mutate hook for anything else) and call
 * fx_publish(), which rebuilds every role from that state, signs it and stores the files under
 * the names a TUF 1.0 client requests. Failures inside the fixture abort the test (fail_msg).
 */
#ifndef SDV_TUF_FIXTURE_H
#define SDV_TUF_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/tuf.h>

/* The client's reference time: 2027-01-15T08:00:00Z. Expiry dates are relative to it. */
#define FX_NOW        INT64_C(1800000000)
#define FX_DAY        INT64_C(86400)
#define FX_BASE_URL   "https://repo.test/"
#define FX_TARGET_URL "https://repo.test/targets/"

#define FX_KEYS_MAX   8
#define FX_DELEGS_MAX 8
#define FX_ROLES_MAX  40
#define FX_NAME_MAX   128

struct fx_key {
    struct sdv_key *key;
    char id[SDV_KEYID_STR_LEN];
};

/* Creates a key of the given type (RSA: 2048 bits to keep tests fast). Free with fx_key_free. */
struct fx_key *fx_key_new(enum sdv_key_type type);
void fx_key_free(struct fx_key *k);

/* Called on a role's "signed" object after it is built and before it is signed. */
typedef void (*fx_mutate_fn)(json_t *signed_obj, void *ud);

struct fx_delegation {
    char name[FX_NAME_MAX];
    bool terminating;
    json_t *paths;    /* array of patterns, or NULL */
    json_t *prefixes; /* array of path_hash_prefixes, or NULL */
};

struct fx_role {
    char name[FX_NAME_MAX]; /* "root", "timestamp", "snapshot", "targets" or a delegated name */
    int64_t version;
    int64_t expires;
    /* Keys authorised for this role (listed by root or by the delegating targets role). */
    struct fx_key *keys[FX_KEYS_MAX];
    size_t key_count;
    unsigned threshold;
    /* Keys that sign; when signer_count is 0 every authorised key signs. */
    struct fx_key *signers[FX_KEYS_MAX];
    size_t signer_count;
    bool bad_sig; /* signatures are made over different bytes than "signed" */
    bool dup_sig; /* the first signature is listed twice */
    fx_mutate_fn mutate;
    void *mutate_ud;
    /* Targets roles: path -> {length, hashes}; delegations in listed order. */
    json_t *targets;
    struct fx_delegation delegs[FX_DELEGS_MAX];
    size_t deleg_count;
    /* Succinct hash-bin delegation instead of delegs (bins are roles named prefix-XX). */
    bool succinct;
    unsigned bit_length;
    char name_prefix[FX_NAME_MAX];
    struct fx_key *succinct_key;
    /* Output of the last fx_publish(): the file name on the server and its bytes. */
    char published_name[FX_NAME_MAX * 3 + 32];
};

struct fx_file {
    char *name;
    uint8_t *data;
    size_t len;
};

struct fx_request {
    char *name;       /* URL without FX_BASE_URL */
    uint64_t max_len; /* what the client allowed */
};

struct fx_repo {
    bool consistent_snapshot;
    bool snapshot_hashes; /* snapshot lists length and hashes of targets files */
    struct fx_role root, timestamp, snapshot, targets;
    struct fx_role *delegated[FX_ROLES_MAX];
    size_t delegated_count;

    /* The server. */
    struct fx_file *files;
    size_t file_count;
    struct fx_request *requests;
    size_t request_count;
    size_t chunk_len;    /* deliver bodies in pieces of this size (0: whole) */
    bool ignore_max_len; /* a broken transport that sends more than max_len */

    /* Keys created by fx_repo_key(), freed with the repository. */
    struct fx_key *owned_keys[64];
    size_t owned_key_count;

    /* Target contents added with fx_target_add, published with the metadata. */
    struct fx_file *tfiles;
    size_t tfile_count;

    /* Directories (fresh per repository) and the client configuration. */
    char tmp_dir[256];
    char meta_dir[300];
    char target_dir[300];
    struct sdv_tuf_client_config cfg;
};

/* A repository with one ed25519 key per top-level role (threshold 1), every role at version 1,
 * expiring 30 days after FX_NOW, no targets. Creates the temporary directories. */
struct fx_repo *fx_repo_new(bool consistent_snapshot);
/* Frees everything and removes the temporary directories recursively. NULL is a no-op. */
void fx_repo_free(struct fx_repo *r);

/* A new key owned (and freed) by the repository. */
struct fx_key *fx_repo_key(struct fx_repo *r, enum sdv_key_type type);

/* Adds a delegated targets role with one fresh ed25519 key (threshold 1). Not delegated by
 * anyone until fx_delegate(). */
struct fx_role *fx_role_add(struct fx_repo *r, const char *name);
/* Finds any role by name (top-level included); NULL if absent. */
struct fx_role *fx_role(struct fx_repo *r, const char *name);
/* Appends a delegation from parent to child. paths / prefixes: NULL-terminated lists, or NULL. */
void fx_delegate(struct fx_repo *r, const char *parent, const char *child, bool terminating,
                 const char *const *paths, const char *const *prefixes);
/* Sets the role's keys to exactly the given ones (NULL-terminated) and its threshold. */
void fx_role_set_keys(struct fx_role *role, unsigned threshold, struct fx_key *const *keys);
/* Sets who signs (NULL-terminated; an empty list means every authorised key). */
void fx_role_set_signers(struct fx_role *role, struct fx_key *const *keys);

/* Lists a target in role with length and sha256 + sha512 of data, and serves data. */
void fx_target_add(struct fx_repo *r, const char *role, const char *path, const void *data,
                   size_t len);

/* Builds, signs and serves every role from its current state: delegated roles and targets
 * (V.name.json or name.json), snapshot, timestamp, and root as V.root.json unless that version
 * was served already. Target files are served under "targets/" (HASH.basename when consistent). */
void fx_publish(struct fx_repo *r);
/* Builds and signs one role without publishing. Caller json_decref()s. */
json_t *fx_role_build(struct fx_repo *r, struct fx_role *role);
/* Serves exactly these bytes under name (replacing any previous file). */
void fx_serve(struct fx_repo *r, const char *name, const void *data, size_t len);
/* Serves a signed envelope, serialized with json_dumpb. */
void fx_serve_json(struct fx_repo *r, const char *name, const json_t *envelope);
/* The served file, or NULL. */
const struct fx_file *fx_served(const struct fx_repo *r, const char *name);
void fx_unserve(struct fx_repo *r, const char *name);

/* The sdv_tuf_fetch_fn of the server (fetch_ud is the repository). */
enum sdv_err fx_fetch(void *fetch_ud, const char *url, uint64_t max_len, sdv_tuf_sink_fn sink,
                      void *sink_ud);
void fx_requests_clear(struct fx_repo *r);
/* Every request since the last clear, space separated ("2.root.json timestamp.json ..."). */
char *fx_requests_str(const struct fx_repo *r);
/* The max_len of the last request of name; fails the test if it was not requested. */
uint64_t fx_request_max_len(const struct fx_repo *r, const char *name);
bool fx_requested(const struct fx_repo *r, const char *name);
/* Asserts that the requests since the last clear are exactly want (as fx_requests_str). */
void fx_assert_requests(const struct fx_repo *r, const char *want);

/* Provisions the client's metadata dir with the served root of the given version. */
void fx_trust_root(struct fx_repo *r, int64_t version);
/* A new client on the repository (r->cfg), asserting success. */
struct sdv_tuf_client *fx_client(struct fx_repo *r);
/* New client + refresh; returns the refresh result and the client in *out. */
enum sdv_err fx_refresh(struct fx_repo *r, struct sdv_tuf_client **out);

/* Publishes, trusts root version 1, runs one refresh that must succeed and clears the request
 * log: the starting point of tests that need trusted timestamp, snapshot and targets. */
void fx_first_refresh(struct fx_repo *r);

/* A repository (fx_repo_new(consistent)) listing "file.bin" in targets and "d.bin" in a role
 * "deleg" that targets delegates every path to; timestamp, snapshot, targets and deleg at
 * version. It has been refreshed and "d.bin" looked up, so every role has a trusted copy on
 * disk; the request log is clear. Free with fx_repo_free. */
struct fx_repo *fx_trusted_repo(bool consistent, int64_t version);

/* Asserts that the client trusts role at the repository's current version and that the stored
 * file is byte-identical to what the server published for it. */
void fx_assert_trusted(struct fx_repo *r, struct sdv_tuf_client *c, const char *role);
/* The same for root, timestamp, snapshot and targets. */
void fx_assert_trusted_top(struct fx_repo *r, struct sdv_tuf_client *c);

/* Contents of a directory (regular files, sorted by name). */
struct fx_dir_state {
    struct fx_file *files;
    size_t count;
};
struct fx_dir_state *fx_dir_capture(const char *dir);
/* Replaces (or adds) one file of a state, e.g. the one a failing refresh legitimately updated. */
void fx_dir_state_put(struct fx_dir_state *s, const char *name, const void *data, size_t len);
/* Fails the test, naming the first difference, unless dir holds exactly the state. */
void fx_dir_assert(const struct fx_dir_state *s, const char *dir);
void fx_dir_state_free(struct fx_dir_state *s);
/* Names of the entries of dir (any type, sorted, space separated). */
char *fx_dir_list(const char *dir);

/* Reads a whole file; fails the test if it cannot. Caller frees. */
uint8_t *fx_read_file(const char *path, size_t *len);
bool fx_file_exists(const char *path);

/* Lowercase hex SHA-256 of data into out (65 bytes). */
void fx_sha256_hex(const void *data, size_t len, char out[65]);

/* Asserts that err is want and, when want is an error, that the client's message contains
 * every given substring (NULL-terminated list). */
#define FX_ASSERT_ERR(c, err, want, ...) \
    fx_assert_err_((c), (err), (want), __FILE__, __LINE__, (const char *[]){__VA_ARGS__, NULL})
/* fx_refresh() into c, then FX_ASSERT_ERR on its result. */
#define FX_ASSERT_REFRESH(r, c, want, ...)                        \
    do {                                                          \
        enum sdv_err fx_refresh_err_ = fx_refresh((r), &(c));     \
        FX_ASSERT_ERR((c), fx_refresh_err_, (want), __VA_ARGS__); \
    } while (0)
/*
 * Runs a refresh with a new client that must fail with want and a message containing needle.
 * The trusted files must be byte-for-byte as before, except the roles listed after needle
 * (NULL-terminated), which the spec lets the failing refresh update before the failing step:
 * those must hold exactly what the server published for them.
 */
#define FX_REFRESH_FAILS(r, want, needle, ...)                                              \
    fx_refresh_fails_((r), (want), (needle), (const char *[]){__VA_ARGS__, NULL}, __FILE__, \
                      __LINE__)
void fx_refresh_fails_(struct fx_repo *r, enum sdv_err want, const char *needle,
                       const char *const *updated, const char *file, int line);
void fx_assert_err_(struct sdv_tuf_client *c, enum sdv_err err, enum sdv_err want, const char *file,
                    int line, const char *const *needles);

#endif /* SDV_TUF_FIXTURE_H */
