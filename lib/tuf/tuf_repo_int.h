/*
 * tuf_repo_int.h - private to the repository tooling files (tuf_repo*.c): the handle, its role
 * cache and the helpers they share. The TUF client files never include it.
 *
 * Roles are kept in one array in breadth-first order of the delegation tree: 0 root, 1 timestamp,
 * 2 snapshot, 3 targets, then delegated roles as their delegating role is "expanded" (loaded and
 * its delegations indexed). Expansion is lazy, so signing targets or adding to one hash bin does
 * not read every bin's file. A jansson object maps role names to array indexes.
 */
#ifndef SDV_TUF_REPO_INT_H
#define SDV_TUF_REPO_INT_H

#include <stdint.h>

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>
#include <sdv/tuf_repo.h>

/* Largest staged or published metadata file the tooling reads. Far above what clients accept by
 * default (sdv/limits.h) because a release engineer may build a large role first and split it
 * into delegations afterwards; 256 MiB still bounds a corrupt file. */
#define TUF_REPO_META_LEN_MAX (256u * 1024u * 1024u)

/* Roles in one repository: every succinct bin (2^14) of a few delegating roles plus explicit
 * delegations. Bounds the breadth-first walk of the delegation tree. */
#define TUF_REPO_ROLES_MAX (4u * SDV_TUF_DELEGATED_ROLES_MAX)

/* Local paths built from DIR, a role name or a target path. */
#define TUF_REPO_PATH_MAX 8192

/* Detail message stored on the handle. */
#define TUF_REPO_ERRMSG_LEN 1024

enum { TUF_REPO_ROOT = 0, TUF_REPO_TIMESTAMP = 1, TUF_REPO_SNAPSHOT = 2, TUF_REPO_TARGETS = 3 };

#define TUF_REPO_NO_PARENT SIZE_MAX

struct tuf_repo_role {
    char *name;
    char *enc;     /* percent-encoded name: file name stem */
    size_t parent; /* delegating role; TUF_REPO_NO_PARENT for root */
    json_t *deleg; /* borrowed from the parent's document: the roles[] entry or succinct_roles
                    * object naming this role's keys; NULL for the top-level roles */
    json_t *md;    /* staged metadata once loaded (owned) */
    int missing;   /* delegated but no staged file */
    int expanded;  /* its delegations are indexed */
    int dirty;     /* md differs from the staged file */
    unsigned mark; /* the call that last marked it changed (tuf_repo_role_changed_once) */
};

struct sdv_tuf_repo {
    char *dir;
    int64_t now;
    int64_t expires_override; /* 0: per-role defaults */
    unsigned call_id;
    char errmsg[TUF_REPO_ERRMSG_LEN];

    struct tuf_repo_role *roles;
    size_t role_count;
    size_t role_cap;
    json_t *index;   /* name -> integer index into roles */
    size_t scan_pos; /* next role to expand, breadth first */

    /* What DIR/metadata serves. */
    json_t *pub_root; /* published root.json or NULL */
    int pub_consistent;
    int64_t pub_timestamp_version;
    int64_t pub_snapshot_version;
    json_t *pub_meta; /* the published snapshot's "meta" or NULL */
};

/* Sets the handle's detail message and returns err. */
enum sdv_err tuf_repo_err(struct sdv_tuf_repo *repo, enum sdv_err err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* DIR/<sub>/<name> into out. */
enum sdv_err tuf_repo_path(const struct sdv_tuf_repo *repo, char *out, size_t out_len,
                           const char *sub, const char *name);

/* Reads DIR/staged/<role>.json as bytes (the role must have been saved). */
enum sdv_err tuf_repo_read_staged(struct sdv_tuf_repo *repo, size_t idx, struct sdv_buf *out);

/* Path of the published copy of role at version (consistent naming as published). */
enum sdv_err tuf_repo_published_path(const struct sdv_tuf_repo *repo, size_t idx, int64_t version,
                                     int consistent, char *out, size_t out_len);

/* Version of the role that DIR/metadata serves; 0 if none. */
int64_t tuf_repo_published_version(const struct sdv_tuf_repo *repo, size_t idx);

/* (Re)reads the published state from DIR/metadata. */
enum sdv_err tuf_repo_load_published(struct sdv_tuf_repo *repo);

/* Index of role name, expanding the delegation tree as far as needed. SDV_ENOENT if none. */
enum sdv_err tuf_repo_role_find(struct sdv_tuf_repo *repo, const char *name, size_t *idx);

/* Index of the role whose delegations hold a succinct_roles entry with this name_prefix. */
enum sdv_err tuf_repo_find_succinct(struct sdv_tuf_repo *repo, const char *prefix, size_t *idx);

/* Expands every role: the whole tree is indexed (and every existing role file loaded). */
enum sdv_err tuf_repo_expand_all(struct sdv_tuf_repo *repo);

/* Loads the staged file of role idx if not loaded; SDV_ENOENT (with message) if missing. */
enum sdv_err tuf_repo_role_load(struct sdv_tuf_repo *repo, size_t idx);

/* Indexes the delegations of a loaded role (idempotent for names already known). */
enum sdv_err tuf_repo_role_expand(struct sdv_tuf_repo *repo, size_t idx);

/* Adds a role to the index (or returns the existing one) with its parent and delegation entry. */
enum sdv_err tuf_repo_role_add(struct sdv_tuf_repo *repo, const char *name, size_t parent,
                               json_t *deleg, size_t *idx);

/* Fresh targets metadata for a new delegated role, marked dirty. */
enum sdv_err tuf_repo_role_create_targets(struct sdv_tuf_repo *repo, size_t idx);

/* The version rule: bump relative to the published version, set expiry, clear signatures,
 * mark dirty. Does it only once per public call for each role. */
enum sdv_err tuf_repo_role_changed(struct sdv_tuf_repo *repo, size_t idx);

/* Writes every dirty role to DIR/staged. */
enum sdv_err tuf_repo_save(struct sdv_tuf_repo *repo);

/* Begins a public call: new call id, empty message. */
void tuf_repo_begin(struct sdv_tuf_repo *repo);

/* The keys and threshold that authorise role idx: keyids array, threshold and the key table
 * they index (root's "keys" or the parent's delegations "keys"). All borrowed. */
enum sdv_err tuf_repo_role_keys(struct sdv_tuf_repo *repo, size_t idx, json_t **keyids,
                                unsigned *threshold, json_t **keys);

/* "signed" of a loaded document (borrowed) or NULL. */
json_t *tuf_repo_signed(const json_t *md);

/* Counts distinct keyids of `keyids` with a valid signature in md over the canonical signed
 * bytes canon. */
enum sdv_err tuf_repo_count_valid(const json_t *md, const json_t *keyids, const json_t *keys,
                                  const struct sdv_buf *canon, unsigned *valid);

/* Is keyid (string) in the array? */
int tuf_repo_array_has(const json_t *array, const char *s);

/* Validates a target path or delegated role name. */
int tuf_repo_valid_target_path(const char *path);
int tuf_repo_valid_role_name(const char *name);

#endif /* SDV_TUF_REPO_INT_H */
