/*
 * sdv/tuf_repo.h - TUF 1.0 repository tooling: builds, signs and publishes the metadata that
 * sdv/tuf.h and any other conformant TUF client consume.
 *
 * A repository is one directory DIR:
 *   DIR/staged/<role>.json  the working copy of every role: complete metadata with signatures,
 *                           role names percent-encoded (sdv_percent_encode). Staged files are
 *                           the unit of exchange with offline signing machines.
 *   DIR/metadata/           what clients download (the metadata base URL); only publish writes it.
 *   DIR/targets/            the target files (the target base URL).
 * There is no other state: published versions are read back from DIR/metadata (timestamp ->
 * snapshot -> targets roles, and root.json), so the two trees cannot disagree.
 *
 * Editing rules: a change to a role's signed content sets its version to one more than the
 * published version (several edits before a publish bump it once), sets its expiry (the
 * handle's override or the role's default from now) and clears its signatures. Signing never
 * changes signed content. Unknown fields of existing metadata are kept.
 *
 * Every mutating call loads each role it needs once per handle and writes every role it changed
 * back to DIR/staged before it returns, so a handle may be closed at any time. Errors leave a
 * sentence naming the role and the reason in sdv_tuf_repo_errmsg().
 *
 * The library never reads the clock: the caller passes `now` (seconds since the Unix epoch).
 *
 * Thread safety: one handle is used by one thread at a time; two handles (or processes) must not
 * edit one DIR at once.
 */
#ifndef SDV_TUF_REPO_H
#define SDV_TUF_REPO_H

#include <sdv/common.h>
#include <sdv/crypto.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default lifetimes of roles changed through a handle (seconds). */
#define SDV_TUF_REPO_ROOT_EXPIRY_S      (365 * 86400)
#define SDV_TUF_REPO_TARGETS_EXPIRY_S   (90 * 86400) /* targets and delegated roles */
#define SDV_TUF_REPO_SNAPSHOT_EXPIRY_S  (7 * 86400)
#define SDV_TUF_REPO_TIMESTAMP_EXPIRY_S (1 * 86400)

/* The TUF specification version written into new metadata. */
#define SDV_TUF_SPEC_VERSION "1.0.31"

struct sdv_tuf_repo;

/*
 * Creates a new repository in dir (created if missing; it must not already hold staged
 * metadata: SDV_EEXIST): the three directories and staged root, targets, snapshot and
 * timestamp at version 1, with no keys, threshold 1 for every role and the default expiry from
 * now. consistent_snapshot selects versioned metadata names and hash-prefixed target copies.
 * On success *out is an open handle (caller closes with sdv_tuf_repo_close()); on failure *out
 * is NULL and a reason is written to errmsg (errmsg_len bytes; errmsg may be NULL).
 */
enum sdv_err sdv_tuf_repo_init(const char *dir, int consistent_snapshot, int64_t now,
                               struct sdv_tuf_repo **out, char *errmsg, size_t errmsg_len);

/* Opens an existing repository (staged root must exist and parse; SDV_ENOENT otherwise). Same
 * ownership and error reporting as sdv_tuf_repo_init(). */
enum sdv_err sdv_tuf_repo_open(const char *dir, int64_t now, struct sdv_tuf_repo **out,
                               char *errmsg, size_t errmsg_len);

/* Frees the handle. Everything was already written by the calls that changed it. NULL: no-op. */
void sdv_tuf_repo_close(struct sdv_tuf_repo *repo);

/* The reason for the last failure on this handle ("" if none). Never NULL; valid until the next
 * call on the handle. */
const char *sdv_tuf_repo_errmsg(const struct sdv_tuf_repo *repo);

/* Absolute expiry (seconds since the epoch) for every role this handle changes from now on,
 * instead of the per-role defaults; 0 restores the defaults. */
void sdv_tuf_repo_set_expires(struct sdv_tuf_repo *repo, int64_t expires);

/* Non-zero if the staged root uses consistent snapshots. */
int sdv_tuf_repo_consistent_snapshot(const struct sdv_tuf_repo *repo);

/* ---- Keys and delegations --------------------------------------------------------------- */

/*
 * Authorises the public half of key (borrowed) for role: "root", "timestamp", "snapshot" and
 * "targets" in root; any other name in the delegation of the role that delegates it (for a
 * succinct hash bin, in the shared succinct_roles entry). Adding a key that is already listed is
 * not an error. threshold > 0 also sets the role's threshold; 0 keeps it.
 * SDV_ENOENT if no staged role delegates role.
 */
enum sdv_err sdv_tuf_repo_add_key(struct sdv_tuf_repo *repo, const char *role,
                                  const struct sdv_key *key, unsigned threshold);

/* Removes keyid from role's keys (and from the key table when nothing else uses it).
 * SDV_ENOENT if role does not list keyid. */
enum sdv_err sdv_tuf_repo_remove_key(struct sdv_tuf_repo *repo, const char *role,
                                     const char *keyid);

/* Sets role's threshold (>= 1). */
enum sdv_err sdv_tuf_repo_set_threshold(struct sdv_tuf_repo *repo, const char *role,
                                        unsigned threshold);

/* A delegation to a new targets role. keys are borrowed. Exactly one of paths and
 * path_hash_prefixes is non-NULL (arrays of path_count strings, borrowed). */
struct sdv_tuf_repo_delegation {
    const char *name;
    const struct sdv_key *const *keys;
    size_t key_count;
    unsigned threshold; /* 0 means 1 */
    int terminating;
    const char *const *paths;
    const char *const *path_hash_prefixes;
    size_t path_count;
};

/*
 * Adds a delegation from the targets role `from` (which must be staged and must not already use
 * succinct hash bins) and creates the staged file of the new role (empty targets) unless one
 * exists. SDV_EEXIST if from already delegates that name.
 */
enum sdv_err sdv_tuf_repo_delegate(struct sdv_tuf_repo *repo, const char *from,
                                   const struct sdv_tuf_repo_delegation *d);

/*
 * Delegates all of `from`'s target space to bin_count succinct hash bins (a power of two,
 * 2..16384) named "<name_prefix>-<hex index>", signed by keys (key_count, borrowed) with
 * threshold (0 means 1), and creates the staged file of every bin (empty targets).
 * SDV_EEXIST if from already has delegations.
 */
enum sdv_err sdv_tuf_repo_delegate_bins(struct sdv_tuf_repo *repo, const char *from,
                                        unsigned bin_count, const char *name_prefix,
                                        const struct sdv_key *const *keys, size_t key_count,
                                        unsigned threshold);

/* ---- Targets ---------------------------------------------------------------------------- */

/* One file to add. */
struct sdv_tuf_repo_target {
    const char *file;     /* local file to hash and copy */
    const char *path;     /* target path in the repository ("a/b.bin"; no "..", "." or "//") */
    const json_t *custom; /* optional "custom" object (borrowed, copied) or NULL */
};

/*
 * Adds or replaces targets: each file is read once (hashed with SHA-256 and SHA-512 while it is
 * copied to DIR/targets/<path>) and, with consistent snapshots, hard-linked (or copied) as
 * DIR/targets/<dir>/<hex digest>.<basename> for both digests. role NULL picks, per target, the
 * succinct hash bin of the top-level targets role that covers the path, else "targets". An
 * explicit delegated role must cover the path (SDV_ENOTARGET otherwise). Each role is saved once
 * per call, so add thousands of files in one call.
 */
enum sdv_err sdv_tuf_repo_add_targets(struct sdv_tuf_repo *repo, const char *role,
                                      const struct sdv_tuf_repo_target *targets, size_t count);

/* Removes a target from role (NULL: the same rule as add). Files under DIR/targets stay:
 * published snapshots may still point at them. SDV_ENOENT if not listed. */
enum sdv_err sdv_tuf_repo_remove_target(struct sdv_tuf_repo *repo, const char *role,
                                        const char *path);

/* ---- Signing and publishing ------------------------------------------------------------- */

/*
 * Adds (or replaces) the signature of key (borrowed, with private half) to role. role may also
 * be the name prefix of a succinct delegation: then every bin is signed. A key the delegating
 * role does not authorise is refused (SDV_ESIG); for root the keys of the published root are
 * accepted too, since a rotated root needs both.
 */
enum sdv_err sdv_tuf_repo_sign(struct sdv_tuf_repo *repo, const char *role,
                               const struct sdv_key *key);

/* Snapshot flag: also write "length" and "hashes" (sha256) of every targets role. */
#define SDV_TUF_REPO_SNAPSHOT_HASHES 1u

/*
 * Rebuilds snapshot "meta" from the staged targets role and every staged delegated role reachable
 * from it, bumps its version by the version rule, and signs it with key (borrowed; NULL leaves
 * it unsigned).
 */
enum sdv_err sdv_tuf_repo_snapshot(struct sdv_tuf_repo *repo, const struct sdv_key *key,
                                   unsigned flags);

/* Points timestamp at the staged snapshot file (version, length and sha256 of its exact bytes),
 * bumps its version and signs it with key (borrowed; NULL leaves it unsigned). */
enum sdv_err sdv_tuf_repo_timestamp(struct sdv_tuf_repo *repo, const struct sdv_key *key);

/*
 * Checks every staged role and, if all is well, copies the staged bytes into DIR/metadata:
 * targets roles first, then snapshot, root (N.root.json and root.json), timestamp last. Checks:
 * signature thresholds against the delegating role's keys (a new root against itself and the
 * published root), snapshot listing exactly the staged targets roles' versions (and matching
 * lengths/hashes where listed), timestamp matching the staged snapshot bytes, no expiry at or
 * before now, no version below (or equal with different content to) its published version, a
 * new root exactly one version above the published one. On refusal nothing is written and
 * errmsg names the role and the reason (SDV_ESIG, SDV_EVERSION, SDV_EHASH, SDV_EEXPIRED, ...).
 */
enum sdv_err sdv_tuf_repo_publish(struct sdv_tuf_repo *repo);

/* Runs the publish checks without writing anything. */
enum sdv_err sdv_tuf_repo_check(struct sdv_tuf_repo *repo);

/* One role's state for sdv_tuf_repo_status(). Strings are borrowed for the callback's duration. */
struct sdv_tuf_repo_role_status {
    const char *name;
    int64_t version;
    int64_t published_version; /* 0 if never published */
    int64_t expires;
    unsigned valid_signatures; /* distinct authorised keys with a valid signature */
    unsigned threshold;
    int modified; /* staged bytes differ from the published copy (or none was published) */
    int missing;  /* delegated but no staged file */
};
typedef void (*sdv_tuf_repo_status_fn)(void *ud, const struct sdv_tuf_repo_role_status *st);

/* Calls fn for root, timestamp, snapshot, targets and then every delegated role (breadth first). */
enum sdv_err sdv_tuf_repo_status(struct sdv_tuf_repo *repo, sdv_tuf_repo_status_fn fn, void *ud);

/* ---- Building blocks (also used by tests to craft metadata) ------------------------------- */

/*
 * Adds the signature of key (borrowed, with private half) over the canonical JSON of
 * metadata["signed"], replacing an earlier signature with the same keyid. metadata is edited in
 * place; a missing "signatures" array is created. SDV_EINVAL if metadata has no "signed" object.
 */
enum sdv_err sdv_tuf_sign_json(json_t *metadata, const struct sdv_key *key);

/* Appends the file form of metadata to out: JSON with 2-space indentation, sorted keys and a
 * final newline. */
enum sdv_err sdv_tuf_serialize(const json_t *metadata, struct sdv_buf *out);

/*
 * Computes the succinct hash-bin index of target_path: the first bit_length (1..14) bits of
 * SHA-256(path) as an unsigned integer; and, if name is non-NULL, writes the bin name
 * "<prefix>-<index in lowercase hex, zero-padded to ceil(bit_length/4) digits>" (name_len bytes).
 */
enum sdv_err sdv_tuf_bin_for_path(const char *target_path, unsigned bit_length, const char *prefix,
                                  uint32_t *index, char *name, size_t name_len);

#ifdef __cplusplus
}
#endif
#endif /* SDV_TUF_REPO_H */
