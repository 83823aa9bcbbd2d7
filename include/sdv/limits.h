/*
 * sdv/limits.h - every hard limit in OpenSDV, with the reason for its value (SQLite's
 * sqliteLimit.h). A limit protects a device from a hostile or broken peer; each can be lowered
 * per instance through the relevant config structure, never raised past what is written here
 * without a review of the memory it costs.
 */
#ifndef SDV_LIMITS_H
#define SDV_LIMITS_H

/* Nesting depth of any JSON document we parse or write. TUF metadata nests about 6 deep; 64
 * leaves room for custom target fields while keeping hostile inputs cheap. */
#define SDV_JSON_DEPTH_MAX 64

/* Default maximum download sizes of TUF metadata (endless-data defence). The values follow the
 * reference client: root and timestamp are small, snapshot grows with the number of targets
 * roles (1,024 hash bins need about 100 KB), targets with the number of targets per role. */
#define SDV_TUF_ROOT_MAX_LEN      (512u * 1024u)
#define SDV_TUF_TIMESTAMP_MAX_LEN (16u * 1024u)
#define SDV_TUF_SNAPSHOT_MAX_LEN  (2u * 1024u * 1024u)
#define SDV_TUF_TARGETS_MAX_LEN   (8u * 1024u * 1024u)

/* Root rotations followed in one refresh. A vehicle offline for years with monthly rotations
 * needs a few dozen; 256 bounds the work a malicious mirror can cause. */
#define SDV_TUF_ROOT_ROTATIONS_MAX 256

/* Delegated roles visited in one target lookup (pre-order depth-first search). */
#define SDV_TUF_DELEGATIONS_MAX 32

/* Keys, signatures and roles listed in one metadata file. Real repositories use a handful of
 * keys per role; hash-bin delegations use up to 2^14 bins. */
#define SDV_TUF_KEYS_MAX             4096
#define SDV_TUF_SIGNATURES_MAX       1024
#define SDV_TUF_DELEGATED_ROLES_MAX  16384
#define SDV_TUF_SUCCINCT_BIT_LEN_MAX 14

/* Length of a role name, a target path and a URL built from them. */
#define SDV_TUF_NAME_LEN_MAX 1024
#define SDV_URL_LEN_MAX      4096

/* Largest target a client will download when a caller gives no smaller bound: a full ECU
 * image of 64 GiB. Targets are streamed to disk, never held in memory. */
#define SDV_TUF_TARGET_LEN_MAX (64ull * 1024u * 1024u * 1024u)

/* Public or private key PEM files. An RSA-8192 private key is about 6.5 KB. */
#define SDV_KEY_PEM_LEN_MAX (64u * 1024u)

/* Size of one raw signature: ed25519 64 bytes, ECDSA P-256 DER at most 72, RSA up to 8192 bits
 * = 1,024 bytes. */
#define SDV_SIG_LEN_MAX 1024

#endif /* SDV_LIMITS_H */
