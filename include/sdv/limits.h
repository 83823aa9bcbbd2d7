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

/* ---- Fleet store (lib/store) ---- */

/* Store: an identifier is a VIN (17 bytes), an
 * ECU serial or a target name; 1,024 bytes matches SDV_TUF_NAME_LEN_MAX for target names and
 * keeps index keys small. */
#define SDV_STORE_ID_LEN_MAX 1024
/* ECUs in one vehicle and ECU reports in one manifest: real vehicles have up to ~150 ECUs. */
#define SDV_STORE_ECUS_MAX 256
/* Rows returned by one page of a list call; bounds the memory of one answer. */
#define SDV_STORE_PAGE_MAX 1000
/* Largest stored document (signed metadata, a manifest, a key): the largest TUF metadata. */
#define SDV_STORE_DOC_LEN_MAX (8u * 1024u * 1024u)

/* ---- Uptane (lib/uptane) ---- */

/* ECUs in one vehicle, and therefore reports in one manifest and targets in one director
 * targets file. Cars today have up to ~150 controllers, but only a few dozen are updatable
 * over the air with their own key; 256 leaves headroom at about 1 MiB of parsed reports. */
#define SDV_UPTANE_ECUS_MAX 256

/* An ECU serial or hardware id. Real ones are part numbers and serials of 10-40 characters;
 * 128 also fits UUIDs and vendor prefixes, and keeps each parsed report small. */
#define SDV_UPTANE_ID_LEN_MAX 128

/* A VIN is 17 characters (ISO 3779); 64 admits fleet-specific identifiers of test vehicles. */
#define SDV_UPTANE_VIN_LEN_MAX 64

/* A whole vehicle version manifest on the wire. One report with an RSA-4096 signature is about
 * 1.6 KB, an ed25519 one about 0.8 KB; 256 ECUs with RSA-4096 and long paths fit in 1 MiB. */
#define SDV_UPTANE_MANIFEST_LEN_MAX (1024u * 1024u)

/* Signatures on one report or manifest. One is enough (its own key); a few allow a key
 * rotation in flight. Each invalid one costs a verification, so keep this small. */
#define SDV_UPTANE_SIGNATURES_MAX 8

/* Nonce of an ECU version report, in bytes (hex on the wire). 16 bytes (128 bits) make a
 * collision between honest reports negligible; 64 bounds what a server stores per report. */
#define SDV_UPTANE_NONCE_LEN_MIN 16
#define SDV_UPTANE_NONCE_LEN_MAX 64

/* The "attack_detected" text of a report: a short description for a human and for the fleet
 * dashboard, not a log. */
#define SDV_UPTANE_ATTACK_LEN_MAX 1024

/* Install log records (sdv/install.h) one version report carries in "install_log": a
 * transaction appends one or two records, so 8 carry a backlog of several cycles; the rest wait
 * for the next report. Each record is one log line, at most as long as the install log allows
 * (16 KiB), so a report stays far below the manifest bound. */
#define SDV_UPTANE_INSTALL_LOG_MAX        8
#define SDV_UPTANE_INSTALL_RECORD_LEN_MAX (16u * 1024u)

/* Root keys of a director root. A threshold of 2-3 offline keys is usual; 16 bounds the work
 * of signing and the size of root. */
#define SDV_UPTANE_ROOT_KEYS_MAX 16

/* ---- ECU link (lib/ecu_link) ----
 * Every frame between a primary and a secondary ECU is bounded by its message type, so a
 * compromised primary (or secondary) can make the other side buffer at most one frame of the
 * largest type, and the receiver knows the bound from the 6-byte header before reading on. */

/* One IMAGE_DATA chunk. 64 KiB makes the 6-byte header and the system call per chunk
 * negligible on loopback, and keeps the receive buffer of a small zonal ECU small. */
#define SDV_ECU_LINK_CHUNK_LEN_MAX (64u * 1024u)

/* A metadata file name (METADATA): a file name on the primary's and the secondary's disk
 * ("3.root.json", a percent-encoded delegated role), so NAME_MAX. */
#define SDV_ECU_LINK_FILE_NAME_LEN_MAX 255

/* One metadata file (METADATA): the largest TUF metadata, targets (see above). */
#define SDV_ECU_LINK_METADATA_LEN_MAX SDV_TUF_TARGETS_MAX_LEN

/* The TUF JSON of the secondary's public key (INFO). An RSA-8192 public PEM is about 1.5 KB;
 * 16 KiB leaves room for escaping without letting a peer send megabytes. */
#define SDV_ECU_LINK_KEY_JSON_LEN_MAX (16u * 1024u)

/* One signed ECU version report (VERSION_REPORT): a 1 KiB path, 1 KiB attack text and up to
 * SDV_UPTANE_SIGNATURES_MAX hex RSA signatures fit in about 20 KB. */
#define SDV_ECU_LINK_REPORT_LEN_MAX (64u * 1024u)

/* The text of a RESULT: an attack description (SDV_UPTANE_ATTACK_LEN_MAX) plus context. */
#define SDV_ECU_LINK_TEXT_LEN_MAX (2u * 1024u)

/* Metadata files a secondary keeps for one primary session, per repository: a backlog of root
 * rotations, the four top-level roles and the delegated roles one lookup may visit. */
#define SDV_ECU_LINK_SESSION_FILES_MAX 64

/* Bytes of metadata a secondary keeps for one session, both repositories together: two full
 * targets files and a snapshot fit; more would let a primary exhaust a small ECU's memory. */
#define SDV_ECU_LINK_SESSION_METADATA_LEN_MAX (24u * 1024u * 1024u)

/* ---- HTTP server (lib/httpd) ---- */

/* Request line plus all header fields, in bytes. Vehicles send a handful of short headers;
 * 8 KiB is what nginx and Apache accept by default. Larger requests get 431. */
#define SDV_HTTPD_HEADER_LEN_MAX (8u * 1024u)

/* Length of the request target (path and query). Our paths are at most a TUF target path
 * (SDV_TUF_NAME_LEN_MAX) under a short prefix, so 2 KiB suffices. Longer ones get 414. */
#define SDV_HTTPD_URL_LEN_MAX 2048u

/* Memory MHD may use per connection for reading the request head and writing the response head.
 * It must hold SDV_HTTPD_HEADER_LEN_MAX plus MHD's own bookkeeping; 32 KiB is MHD's default. */
#define SDV_HTTPD_CONN_MEMORY_MAX (32u * 1024u)

/* Largest body a buffered route may receive. Buffered bodies are JSON documents (manifests,
 * registrations) held in memory whole; a manifest of 100 ECUs is well under 1 MiB. Artifacts
 * use streaming routes, whose maximum is SDV_HTTPD_STREAM_LEN_MAX. */
#define SDV_HTTPD_BUFFER_LEN_MAX (8u * 1024u * 1024u)

/* Largest body a streaming route may receive: a full ECU image (the same 64 GiB as
 * SDV_TUF_TARGET_LEN_MAX). Streaming bodies never sit in memory. */
#define SDV_HTTPD_STREAM_LEN_MAX (64ull * 1024u * 1024u * 1024u)

/* After a body passed its route's maximum (or a body callback failed), up to this many further
 * bytes are read and thrown away so that the client receives the 413 cleanly: MHD 0.9.75 can
 * only answer once the body has ended. A client that keeps sending past this gets its
 * connection closed without an answer. */
#define SDV_HTTPD_DISCARD_LEN_MAX (1024u * 1024u)

/* Simultaneous connections. Each costs a descriptor and SDV_HTTPD_CONN_MEMORY_MAX; check-ins
 * are short, so 1,024 carries a fleet of hundreds of thousands at one check-in per 5 minutes. */
#define SDV_HTTPD_CONNECTIONS_MAX 1024u

/* Seconds a connection may stay idle (no byte in either direction) before MHD closes it: long
 * enough for a keep-alive check-in cycle, short enough that idle vehicles cannot pin the
 * connection limit (slowloris). MHD counts in whole seconds. */
#define SDV_HTTPD_TIMEOUT_S 30u

/* Threads of MHD's epoll pool. Two match the 2-core target of the check-in benchmark; more
 * than 64 is a configuration error. */
#define SDV_HTTPD_THREADS_DEFAULT 2u
#define SDV_HTTPD_THREADS_MAX     64u

/* Routes one server holds; the router is a linear scan at request time. */
#define SDV_HTTPD_ROUTES_MAX 64u

/* Length of an authenticated identity (certificate CN or proxy header). A VIN has 17
 * characters; 128 leaves room for other device naming schemes. */
#define SDV_HTTPD_IDENTITY_LEN_MAX 128u

/* Addresses accepted as trusted TLS-terminating proxies. */
#define SDV_HTTPD_PROXIES_MAX 16u

/* Default and largest wait of a graceful shutdown for in-flight requests, in milliseconds. */
#define SDV_HTTPD_DRAIN_MS_DEFAULT 10000u
#define SDV_HTTPD_DRAIN_MS_MAX     600000u

/* ---- Delta updates (lib/delta) ----
 * The decoder's working memory is fixed by two per-patch bounds read from the header (new bytes
 * per block, raw control bytes per block), each capped here, so that applying a patch costs the
 * same few MiB on a 10 MB and on a 10 GB image. */

/* New bytes one block may produce, and the encoder's default block. The decoder holds one block's
 * difference and literal bytes (together exactly the block's new bytes) and one compressed
 * stream at a time (never larger than its raw bytes), so about 2 x this; 4 MiB keeps the whole
 * decoder under SDV_DELTA_DECODER_MEMORY_MAX with an xz dictionary of the same size, while
 * independent compression of 4 MiB blocks costs well under 1% against one whole-image stream. */
#define SDV_DELTA_BLOCK_LEN_MAX     (4u * 1024u * 1024u)
#define SDV_DELTA_BLOCK_LEN_DEFAULT SDV_DELTA_BLOCK_LEN_MAX

/* Smallest block the encoder writes (the decoder accepts any non-zero bound): smaller blocks
 * only add framing; tests and fuzzing use this floor to cross many block boundaries cheaply. */
#define SDV_DELTA_BLOCK_LEN_MIN 256u

/* Raw control bytes of one block. A control tuple takes 3 to 30 bytes and copies at least one
 * byte; real patches have one tuple per few hundred new bytes, so a quarter of the block length
 * is plenty, and the encoder ends a block early rather than pass it. */
#define SDV_DELTA_CTRL_LEN_MAX (1024u * 1024u)

/* log2 of the largest compression window (zstd window, xz dictionary) of any stream: one block,
 * because streams are compressed independently per block. */
#define SDV_DELTA_WINDOW_LOG_MAX 22u

/* Default bound of the decoder's working memory: the target for an ECU. A patch whose
 * bounds need more is refused before anything is written. */
#define SDV_DELTA_DECODER_MEMORY_MAX (16u * 1024u * 1024u)

/* Largest new image a decoder accepts by default: a full ECU image, as SDV_TUF_TARGET_LEN_MAX. */
#define SDV_DELTA_NEW_LEN_MAX SDV_TUF_TARGET_LEN_MAX

/* Largest old image the encoder accepts: libdivsufsort's 32-bit suffix array (4 bytes per old
 * byte, half of bsdiff's 8) indexes fewer than 2^31 bytes. The format itself has 64-bit lengths;
 * larger images need divsufsort64 (8 bytes per old byte), not yet wired in. */
#define SDV_DELTA_OLD_LEN_MAX (2147483647ull - 1u)

/* Worker threads of one encoder call: more than the cores of a build server is a mistake. */
#define SDV_DELTA_THREADS_MAX 64u

/* ---- Broker wire protocols (lib/broker: broker_frame, broker_viss, broker_client) ----
 * A connection holds one partial frame at most, so these bounds are also the memory a slow or
 * hostile peer can pin per connection on the broker. */

/* Payload bytes of one binary frame. A batch of SDV_BROKER_BATCH_MAX numeric updates takes about
 * 22 KiB; 256 KiB leaves room for string and array values while keeping a connection's receive
 * buffer small enough for a few hundred local clients. */
#define SDV_BROKER_FRAME_PAYLOAD_MAX (256u * 1024u)

/* Entries (signals) in one batched frame: lookup, get, publish, subscribe, event. 1,024 covers a
 * provider publishing a whole ECU's signals in one cycle; more is split into several frames. */
#define SDV_BROKER_BATCH_MAX 1024u

/* Bytes of a VSS path. The VSS 6.0 catalog's longest path has under 100 characters; OEM
 * overlays nest deeper, 512 is plenty and bounds the lookup tables. */
#define SDV_BROKER_PATH_LEN_MAX 512u

/* Bytes of an access token (a JWT with an ES256 or EdDSA signature and a few dozen scopes is
 * 1-3 KiB; purposes keep it short). */
#define SDV_BROKER_TOKEN_LEN_MAX 8192u

/* Bytes of a client or broker name and of an error message on the wire. */
#define SDV_BROKER_NAME_LEN_MAX    128u
#define SDV_BROKER_MESSAGE_LEN_MAX 1024u

/* Bytes of one string value and elements of one array value (VSS has no larger signals; a
 * larger blob belongs in a file, not a signal). */
#define SDV_BROKER_STRING_LEN_MAX (64u * 1024u)
#define SDV_BROKER_ARRAY_LEN_MAX  4096u

/* Bytes of one VISS JSON request (a WebSocket text message or an HTTP POST body): a set of a
 * string array with its token. */
#define SDV_BROKER_VISS_REQUEST_LEN_MAX (64u * 1024u)

/* Bytes of a VISS requestId or subscriptionId (an integer or a UUID). */
#define SDV_BROKER_VISS_ID_LEN_MAX 64u

/* Relative paths in one VISS "paths" filter. */
#define SDV_BROKER_VISS_PATHS_MAX 64u

/* Longest period of a timebased subscription filter (VISS "period", milliseconds): a day; a
 * longer one is a configuration mistake rather than a subscription. */
#define SDV_BROKER_PERIOD_MS_MAX 86400000u

/* Subscriptions one client library handle keeps callbacks for: an app subscribes to a few
 * groups of signals (each subscription may hold up to SDV_BROKER_BATCH_MAX signals). */
#define SDV_BROKER_CLIENT_SUBS_MAX 256u

/* Default longest silence of the broker while a blocking client call waits for its answer. A
 * local broker answers in microseconds; seconds mean it is stuck or gone. */
#define SDV_BROKER_CLIENT_TIMEOUT_MS_DEFAULT 5000u

/* Longest busy-poll window of a client (microseconds): long enough to span the gap between two
 * groups of a 1 kHz signal cycle; a longer one only burns the core. */
#define SDV_BROKER_CLIENT_BUSY_POLL_US_MAX 1000u

/* ---- Delta updates: sections and compressed regions (lib/delta, format version 2) ----
 * A patch may carry sections (region tables, executable reference maps) between its header and
 * its blocks; the decoder holds them whole in memory, so their total is bounded. Compressed
 * regions (xz, zstd, gzip streams inside the images) are decompressed on the device: the old
 * image's regions into a small cache, a new region into one buffer before it is recompressed.
 * These bounds keep all of that, next to the block buffers, under SDV_DELTA_DECODER_MEMORY_MAX. */

/* Sections a patch may carry: one per type in practice; a few spare for later kinds. */
#define SDV_DELTA_SECTIONS_MAX 16u

/* Raw bytes of all sections of one patch together. A region table entry takes 17 (old) or 33
 * (new) bytes, so 1 MiB describes tens of thousands of regions, more than a 2 GiB image holds
 * at the usual 128 KiB compressed blocks. */
#define SDV_DELTA_SECTIONS_LEN_MAX (1024u * 1024u)

/* Decompressed bytes of one old region: the decoder caches DELTA_REGION_CACHE of them. Larger
 * compressed streams stay plain bytes (matched as they are). */
#define SDV_DELTA_REGION_OLD_LEN_MAX (2u * 1024u * 1024u)

/* Decompressed bytes of one new region: buffered whole, then recompressed. */
#define SDV_DELTA_REGION_NEW_LEN_MAX (2u * 1024u * 1024u)

/* Memory one region's compressor (or decompressor) may use on the device; an xz preset 6
 * encoder with a 128 KiB dictionary takes about 1.4 MiB, with 8 MiB about 94 MiB (refused). */
#define SDV_DELTA_REGION_CODEC_MEM_MAX (4u * 1024u * 1024u)

/* Compressed streams one encoder call examines per image: each costs a decompression and
 * possibly a few compression trials. */
#define SDV_DELTA_REGIONS_MAX 65536u

/* ---- Broker access control (lib/broker/broker_auth*.c) ----
 * Tokens are untrusted input checked before anything else, so every part of them is bounded;
 * grants are compiled once per token and checked on every subscription event. */

/* Length of a compact JWS token. RFC 9068 tokens with a few dozen scopes take 1-2 KiB; 8 KiB is
 * the usual cap of an HTTP header line (and of libwebsockets' header buffer). */
#define SDV_AUTH_TOKEN_LEN_MAX 8192u

/* Decoded JOSE header: alg, typ and kid need well under 256 bytes. */
#define SDV_AUTH_HEADER_LEN_MAX 1024u

/* Public keys a broker trusts: an issuer and its rotation successor, per issuer, for a few. */
#define SDV_AUTH_KEYS_MAX 16u

/* Any single string claim or configured string (kid, sub, client_id, jti, iss, aud, vin). */
#define SDV_AUTH_CLAIM_LEN_MAX 256u

/* Entries of an aud array. */
#define SDV_AUTH_AUD_MAX 16u

/* Grants of one token or purpose. An app manifest lists a handful of branches; 64 keeps a
 * check (one pass over the path per grant) far below a microsecond. */
#define SDV_AUTH_GRANTS_MAX 64u

/* A signal path or pattern: VSS paths are below 100 characters and 8 levels. */
#define SDV_AUTH_PATH_LEN_MAX      256u
#define SDV_AUTH_PATH_SEGMENTS_MAX 16u

/* Purposes configured, and the length of a purpose name. */
#define SDV_AUTH_PURPOSES_MAX 256u
#define SDV_AUTH_NAME_LEN_MAX 64u

/* Clock skew allowed on exp, nbf and iat: 60 s by default (as most JWT libraries), at most 10
 * minutes, beyond which an expired token would live on noticeably. */
#define SDV_AUTH_LEEWAY_S_DEFAULT 60u
#define SDV_AUTH_LEEWAY_S_MAX     600u

/* Rate buckets kept: one per active token; 4,096 cover every app of a vehicle many times over,
 * and eviction of the least recently used keeps a flood of new tokens in 4,096 x 300 bytes. */
#define SDV_AUTH_BUCKETS_DEFAULT 4096u
#define SDV_AUTH_BUCKETS_MAX     (1u << 20)

/* Signals one decision cache covers: VSS 6.0 has 1,263; OEM overlays add a few thousand. */
#define SDV_AUTH_CACHE_SIGNALS_MAX (1u << 20)

/* One audit line: the fields are bounded above (path, claims, reason), so 4 KiB always fits. */
#define SDV_AUTH_AUDIT_LINE_LEN_MAX 4096u

/* Denials (refused tokens and requests) written to the audit log per second; the rest are
 * counted in the next line's "suppressed", so that a flood of garbage cannot fill the disk.
 * Allowed actuations are always written: the rate limit bounds them. */
#define SDV_AUTH_AUDIT_DENIALS_PER_S 100u

/* Size of the message buffers the daemon passes for denials (VISS "message"). */
#define SDV_AUTH_MSG_LEN 192u

/* ---- A/B installation (lib/install) ----
 * Slot configuration, state and log records are small and read whole; only images stream. */

/* Slot groups of one ECU (rootfs, app, data, ...) and slots per group: A/B needs 2, a spare
 * recovery slot 3; more would be a different design (a package manager, not slots). */
#define SDV_INSTALL_GROUPS_MAX 8u
#define SDV_INSTALL_SLOTS_MAX  4u

/* Group, slot and bootloader names: short identifiers that become bootloader variable names
 * (GRUB "A_OK", U-Boot "BOOT_A_LEFT"), so they stay well inside a 1024-byte grubenv. */
#define SDV_INSTALL_NAME_LEN_MAX 32u

/* A version string (an Uptane target name or a release number). */
#define SDV_INSTALL_VERSION_LEN_MAX 128u

/* A reason kept in the state and the log (a precondition's or health check's output, trimmed):
 * enough for a useful message, small enough for every log record. */
#define SDV_INSTALL_REASON_LEN_MAX 1024u

/* A resumption token stored with a write checkpoint: an encoded delta checkpoint
 * (SDV_DELTA_CHECKPOINT_LEN, 168 bytes) with room to spare. */
#define SDV_INSTALL_TOKEN_LEN_MAX 512u

/* Paths and commands from the configuration (a shell command line for the checks). */
#define SDV_INSTALL_PATH_LEN_MAX    4096u
#define SDV_INSTALL_COMMAND_LEN_MAX 4096u

/* The state file and the configuration text: a few KiB in practice. */
#define SDV_INSTALL_STATE_LEN_MAX  (64u * 1024u)
#define SDV_INSTALL_CONFIG_LEN_MAX (64u * 1024u)

/* One install log line (a record with its reasons and preconditions) and the records of one
 * log walked by a reader (decades of updates). */
#define SDV_INSTALL_LOG_RECORD_LEN_MAX (16u * 1024u)
#define SDV_INSTALL_LOG_RECORDS_MAX    1000000u

/* The I/O block of writing a slot and of reading it back: large enough for device throughput,
 * small against the 32 MiB budget of an installing agent. */
#define SDV_INSTALL_IO_LEN (1024u * 1024u)

/* Largest boot counter (boot_attempts): a new slot that did not come up after 10 boots is bad. */
#define SDV_INSTALL_BOOT_ATTEMPTS_MAX 10u

/* Default time limits of the configured commands, and the largest accepted. */
#define SDV_INSTALL_HEALTH_TIMEOUT_MS_DEFAULT       60000u
#define SDV_INSTALL_PRECONDITION_TIMEOUT_MS_DEFAULT 10000u
#define SDV_INSTALL_COMMAND_TIMEOUT_MS_MAX          3600000u

/* ---- Broker core (lib/broker: broker_catalog, broker_core, broker_sub, broker_persist) ----
 * The catalog is configuration, but overlays come from OEM tooling and are parsed as untrusted;
 * the broker allocates its tables at creation so that fan-out never allocates. */

/* Bytes of one catalog or overlay file. The VSS 6.0 JSON export is 326 KB; 16 MiB leaves room
 * for an OEM catalog ten times larger with long descriptions. */
#define SDV_BROKER_CATALOG_FILE_LEN_MAX (16u * 1024u * 1024u)

/* Signals of one catalog: VSS 6.0 has 1,263; 65,536 keeps ids in 16 bits for compact frames. */
#define SDV_BROKER_CATALOG_SIGNALS_MAX 65536u

/* Allowed values of one signal: the largest VSS list has a few dozen entries. */
#define SDV_BROKER_ALLOWED_MAX 1024u

/* Bytes of a string signal's "pattern" (a POSIX regular expression compiled at load; the VIN's
 * has 60). Bounded because compiling a regular expression costs memory that grows with it. */
#define SDV_BROKER_PATTERN_LEN_MAX 512u

/* Subscriptions of one broker at once, all sessions together (a few per app and a few hundred
 * apps). Subscription ids carry a 16-bit slot, so at most 65,535. */
#define SDV_BROKER_SUBSCRIPTIONS_DEFAULT 4096u
#define SDV_BROKER_SUBSCRIPTIONS_MAX     65535u

/* Events one subscription queues before it drops its oldest: 256 covers a burst of a whole
 * provider cycle (the KUKSA databroker buffers about as much per subscriber); the maximum keeps
 * one subscription under a few MiB. */
#define SDV_BROKER_SUB_QUEUE_LEN_DEFAULT 256u
#define SDV_BROKER_SUB_QUEUE_LEN_MAX     65536u

/* Payload bytes (strings, arrays) one subscription queues; raised to hold at least one value of
 * the largest size (SDV_BROKER_STRING_LEN_MAX), so a string never fails to enqueue. */
#define SDV_BROKER_SUB_QUEUE_BYTES_DEFAULT (64u * 1024u)
#define SDV_BROKER_SUB_QUEUE_BYTES_MAX     (16u * 1024u * 1024u)

/* Memory of all subscription queues together (entries and payload rings): a subscribe that
 * would pass it is refused (SDV_ELIMIT), so clients asking for the largest queues cannot
 * exhaust the vehicle's memory. 256 MiB is a thousand default queues with strings. */
#define SDV_BROKER_QUEUE_MEMORY_DEFAULT (256ull * 1024u * 1024u)

/* Actuation requests waiting for their provider's answer, and how long one may wait: a provider
 * that forwards to a CAN ECU answers within tens of milliseconds; 5 s means it is gone. */
#define SDV_BROKER_ACTUATIONS_DEFAULT           1024u
#define SDV_BROKER_ACTUATIONS_MAX               65536u
#define SDV_BROKER_ACTUATION_TIMEOUT_MS_DEFAULT 5000u

/* Snapshot of the current values: written at most this often (each write is one fsync, so the
 * interval bounds flash wear and the loss after a power cut), and its largest size on load. */
#define SDV_BROKER_PERSIST_INTERVAL_MS_DEFAULT 5000u
#define SDV_BROKER_SNAPSHOT_LEN_MAX            (64u * 1024u * 1024u)

/* ---- sdv app (sandboxed third-party apps, docs/app-sandbox.md) --------------------------- */

/* An app id: 1..64 of a-z 0-9 . _ -, starting with a letter or digit. It names the app's data
 * directory and its token's subject, so it is kept file-name safe and short. */
#define SDV_APP_ID_LEN_MAX 64u
/* Arguments after the executable, each at most 4 KiB: a command line, not a data channel. */
#define SDV_APP_ARGS_MAX    64u
#define SDV_APP_ARG_LEN_MAX 4096u
/* A manifest is a few hundred bytes; 64 KiB bounds what a hostile package can make us parse. */
#define SDV_APP_MANIFEST_LEN_MAX (64u * 1024u)
/* The private /tmp of an app whose manifest sets no size: a tmpfs is counted in RAM, so it is
 * small by default. */
#define SDV_APP_TMP_MB_DEFAULT 16u
/* The app's token lives 10 minutes unless --ttl says otherwise, at most a day: the session
 * ends with it, and a short life bounds what a leaked token is worth. */
#define SDV_APP_TTL_S_DEFAULT 600u
#define SDV_APP_TTL_S_MAX     86400u

/* ---- sdv app cgroups (the app's whole process tree, docs/app-sandbox.md) ------------------ */

/* cpu_percent is a share of one core; 64 cores' worth is more than any ECU has, and a larger
 * number is a typo rather than a plan. */
#define SDV_APP_CPU_PERCENT_MAX 6400u
/* The CPU bandwidth period (cpu.max, cpu.cfs_period_us): the kernel's default 100 ms, so a
 * throttled app waits at most a period minus its quota. */
#define SDV_APP_CPU_PERIOD_US 100000u
/* After the app's tree has gone the cgroup is removed; exiting tasks can hold it busy for a
 * moment, so the launcher retries this long before it gives up and says so. */
#define SDV_APP_CGROUP_RMDIR_WAIT_MS 2000u
/* /proc/self/mountinfo and a cgroup.procs file are read whole into a buffer of this size: a
 * mount table of thousands of lines, or a cgroup of tens of thousands of pids, still fits. */
#define SDV_APP_CGROUP_FILE_LEN_MAX (1024u * 1024u)

#endif /* SDV_LIMITS_H */
