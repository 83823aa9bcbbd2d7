/*
 * sdv/ecu_link.h - the framed protocol between a primary ECU and its secondary ECUs (Uptane),
 * over a stream socket (127.0.0.1 TCP or a Unix socket). See docs/ecu_link.md.
 *
 * Every frame is a 6-byte header followed by a payload:
 *
 *   byte 0     magic and version: 0xD1 (high nibble 0xD: this protocol, low nibble: version 1)
 *   byte 1     message type (enum sdv_ecu_link_type)
 *   bytes 2-5  payload length, unsigned 32-bit big-endian
 *
 * The payload length is bounded per message type (sdv_ecu_link_payload_len_max), so a receiver
 * checks the header before it reads the payload and never buffers more than one frame of the
 * largest type. Integers in payloads are big-endian; a "string" is a 2-byte big-endian length
 * and that many bytes (no NUL); the last field of some messages is "the rest of the payload".
 *
 * Three layers, each usable alone:
 *   - messages: sdv_ecu_link_encode (message -> frame bytes) and sdv_ecu_link_parse (one
 *     frame's payload -> message, strictly);
 *   - the incremental decoder: bytes in, frames out, in any split (fuzzed);
 *   - blocking socket helpers: addresses, listen/accept/connect, and a connection that sends and
 *     receives whole frames with a timeout.
 *
 * Nothing here reads the clock by itself: a connection takes an optional monotonic clock
 * callback (see struct sdv_ecu_link_io).
 *
 * Thread safety: a decoder or a connection is used by one thread at a time; the free functions
 * are reentrant.
 */
#ifndef SDV_ECU_LINK_H
#define SDV_ECU_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <sdv/common.h>
#include <sdv/limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The first byte of every frame. */
#define SDV_ECU_LINK_MAGIC_VERSION 0xD1u
#define SDV_ECU_LINK_HEADER_LEN    6u

/*
 * Message types (stable numbers: they are on the wire). The primary sends HELLO, METADATA,
 * IMAGE_*, INSTALL and VERSION_REPORT_REQUEST; the secondary answers each with exactly one
 * frame (INFO, VERSION_REPORT or RESULT), except IMAGE_DATA, which has no answer unless the
 * secondary gives up on the image (a RESULT error, after which it closes the connection).
 */
enum sdv_ecu_link_type {
    SDV_ECU_LINK_HELLO = 1,                  /* empty; answered by INFO */
    SDV_ECU_LINK_INFO = 2,                   /* mode, serial, hardware id, public key JSON */
    SDV_ECU_LINK_METADATA = 3,               /* repository, file name, file bytes */
    SDV_ECU_LINK_IMAGE_BEGIN = 4,            /* image length, target name */
    SDV_ECU_LINK_IMAGE_DATA = 5,             /* 1..SDV_ECU_LINK_CHUNK_LEN_MAX image bytes */
    SDV_ECU_LINK_IMAGE_END = 6,              /* empty */
    SDV_ECU_LINK_INSTALL = 7,                /* target name */
    SDV_ECU_LINK_VERSION_REPORT_REQUEST = 8, /* empty */
    SDV_ECU_LINK_VERSION_REPORT = 9,         /* the signed report bytes */
    SDV_ECU_LINK_RESULT = 10,                /* status (enum sdv_err), text */
};
#define SDV_ECU_LINK_TYPE_MAX 10

/* The repository a METADATA frame belongs to. */
enum sdv_ecu_link_repo {
    SDV_ECU_LINK_REPO_DIRECTOR = 1,
    SDV_ECU_LINK_REPO_IMAGE = 2,
};

/* How a secondary verifies metadata (Uptane "partial" and "full" verification). */
enum sdv_ecu_link_mode {
    SDV_ECU_LINK_MODE_PARTIAL = 1, /* director targets only, against a pinned director root */
    SDV_ECU_LINK_MODE_FULL = 2,    /* both repositories, the whole TUF workflow */
};

/* "HELLO", "INFO", ...; "UNKNOWN" for other numbers. Static string, never NULL. */
const char *sdv_ecu_link_type_name(unsigned type);
/* "director" / "image" / "unknown"; "partial" / "full" / "unknown". Static strings. */
const char *sdv_ecu_link_repo_name(enum sdv_ecu_link_repo repo);
const char *sdv_ecu_link_mode_name(enum sdv_ecu_link_mode mode);

/* The largest payload allowed for type (0 for unknown types, and for the empty messages). */
uint32_t sdv_ecu_link_payload_len_max(unsigned type);

/* The largest payload of any type: what a decoder may have to hold. */
#define SDV_ECU_LINK_PAYLOAD_LEN_MAX \
    (1u + 2u + SDV_ECU_LINK_FILE_NAME_LEN_MAX + SDV_ECU_LINK_METADATA_LEN_MAX)

/*
 * One message, decoded or to encode. Which fields matter depends on type:
 *   INFO          mode, serial, hardware_id, data = public key as TUF JSON (1..16 KiB)
 *   METADATA      repo, name = file name ("targets.json", "2.root.json"), data = file bytes
 *   IMAGE_BEGIN   length, name = target name
 *   IMAGE_DATA    data = chunk (1..SDV_ECU_LINK_CHUNK_LEN_MAX bytes)
 *   INSTALL       name = target name
 *   VERSION_REPORT  data = signed report (1..SDV_ECU_LINK_REPORT_LEN_MAX bytes)
 *   RESULT        status (SDV_OK or an enum sdv_err), text (may be empty)
 * Strings are NUL-terminated copies. data is borrowed: when encoding, from the caller; when
 * parsed, from the frame payload (valid until the decoder or connection is fed again).
 */
struct sdv_ecu_link_msg {
    enum sdv_ecu_link_type type;
    enum sdv_ecu_link_mode mode;
    enum sdv_ecu_link_repo repo;
    uint32_t status;
    uint64_t length;
    char serial[SDV_UPTANE_ID_LEN_MAX + 1];
    char hardware_id[SDV_UPTANE_ID_LEN_MAX + 1];
    char name[SDV_TUF_NAME_LEN_MAX + 1];
    char text[SDV_ECU_LINK_TEXT_LEN_MAX + 1];
    const uint8_t *data;
    size_t data_len;
};

/* Clears m and sets its type (a convenience before filling the other fields). */
void sdv_ecu_link_msg_init(struct sdv_ecu_link_msg *m, enum sdv_ecu_link_type type);

/*
 * Appends the frame of m (header and payload) to out. m is checked as strictly as the parser
 * checks what it receives: SDV_EINVAL for a field outside its bounds (empty or too long a name,
 * a name with NUL, '/' in a file name, unknown mode or repo, ...), SDV_ETOOBIG if out->max is
 * too small (nothing appended), SDV_ENOMEM. If errmsg is non-NULL it receives the reason.
 */
enum sdv_err sdv_ecu_link_encode(const struct sdv_ecu_link_msg *m, struct sdv_buf *out,
                                 char *errmsg, size_t errmsg_len);

/*
 * Parses the payload of one frame of the given type (as the decoder returned it) into *out.
 * payload is borrowed, and out->data points into it. Strict: every field within its bounds, no
 * trailing bytes, strings without NUL, file names without '/' and other than "." and "..".
 * SDV_EPARSE with a reason in errmsg (may be NULL) otherwise.
 */
enum sdv_err sdv_ecu_link_parse(unsigned type, const uint8_t *payload, size_t len,
                                struct sdv_ecu_link_msg *out, char *errmsg, size_t errmsg_len);

/* ---- Incremental decoder ---------------------------------------------------------------- */

/*
 * Turns a byte stream into frames. It holds at most one header and one payload; the payload
 * buffer grows to the length a validated header announces and no further, and is reused.
 * After an error the decoder stays failed (every feed returns the same error) until reset:
 * a stream that broke the framing once cannot be resynchronised safely.
 */
struct sdv_ecu_link_decoder;

/* Creates a decoder that accepts payloads up to payload_len_max bytes (0: every type's own
 * bound; a smaller value lowers every bound). Caller destroys with sdv_ecu_link_decoder_destroy.
 * SDV_ENOMEM. */
enum sdv_err sdv_ecu_link_decoder_create(uint32_t payload_len_max,
                                         struct sdv_ecu_link_decoder **out);
/* NULL is a no-op. */
void sdv_ecu_link_decoder_destroy(struct sdv_ecu_link_decoder *d);
/* Forgets any partial frame and any error. */
void sdv_ecu_link_decoder_reset(struct sdv_ecu_link_decoder *d);

/* One complete frame; payload is borrowed from the decoder until the next feed or reset. */
struct sdv_ecu_link_frame {
    unsigned type;
    const uint8_t *payload;
    size_t len;
};

/*
 * Feeds up to len bytes (borrowed). The decoder consumes bytes until it completes a frame or
 * runs out of input, and reports how many it took in *consumed: feed the rest again after
 * handling the frame. *complete is set to 1 with *frame filled when a frame completed, else 0.
 * Errors (with a reason in sdv_ecu_link_decoder_errmsg): SDV_EPARSE for a bad magic byte, an
 * unsupported version or an unknown type; SDV_ETOOBIG for a length above the type's bound (or
 * below its minimum, which is SDV_EPARSE); SDV_ENOMEM.
 */
enum sdv_err sdv_ecu_link_decoder_feed(struct sdv_ecu_link_decoder *d, const uint8_t *p, size_t len,
                                       size_t *consumed, struct sdv_ecu_link_frame *frame,
                                       int *complete);

/* Bytes the decoder needs to make progress: what is left of the current header or payload
 * (never 0). Reading at most this many bytes from a socket never reads past a frame. */
size_t sdv_ecu_link_decoder_want(const struct sdv_ecu_link_decoder *d);

/* Call at end of stream: SDV_OK if the decoder is between frames, SDV_EPARSE ("truncated
 * frame") if a header or payload was cut off, the sticky error if it had failed. */
enum sdv_err sdv_ecu_link_decoder_finish(struct sdv_ecu_link_decoder *d);

/* The reason for the last error ("" if none). Never NULL; owned by the decoder. */
const char *sdv_ecu_link_decoder_errmsg(const struct sdv_ecu_link_decoder *d);

/* ---- Addresses and sockets -------------------------------------------------------------- */

/*
 * Addresses are "tcp:HOST:PORT" (HOST a name or a numeric address, IPv6 in brackets:
 * "tcp:[::1]:7000"; PORT 0 on listen picks a free port) or "unix:/path/to/socket".
 * The functions below return a descriptor the caller owns (close it, or hand it to
 * sdv_ecu_link_conn_create), opened with close-on-exec. On failure errmsg (may be NULL)
 * receives the reason. Errors: SDV_EINVAL (malformed address), SDV_ENET (system call failed,
 * host not found), SDV_EEXIST (a Unix socket path in use by a live listener).
 */

/* Binds and listens. A Unix socket path left behind by a dead process (nobody accepts on it)
 * is removed first; a live one is SDV_EEXIST. */
enum sdv_err sdv_ecu_link_listen(const char *addr, int *fd_out, char *errmsg, size_t errmsg_len);

/* Writes the address a listening descriptor is bound to, in the form above (with the real port
 * when 0 was asked for). SDV_ETOOBIG if out_len is too small. */
enum sdv_err sdv_ecu_link_bound_addr(int fd, char *out, size_t out_len);

/* Waits up to timeout_ms (negative: forever) for a connection. SDV_ENET on timeout
 * ("timed out") or failure; an interrupting signal returns SDV_ENET with errno EINTR's text so
 * that a caller can check its shutdown flag. */
enum sdv_err sdv_ecu_link_accept(int listen_fd, int timeout_ms, int *fd_out, char *errmsg,
                                 size_t errmsg_len);

/* Connects, waiting at most timeout_ms (negative: forever). */
enum sdv_err sdv_ecu_link_connect(const char *addr, int timeout_ms, int *fd_out, char *errmsg,
                                  size_t errmsg_len);

/* ---- Connections ------------------------------------------------------------------------ */

/* A monotonic clock in milliseconds (bind to CLOCK_MONOTONIC in programs). */
typedef int64_t (*sdv_ecu_link_clock_fn)(void *ud);

struct sdv_ecu_link_io {
    /* Time allowed for one whole frame to be sent or received when clock is set; without a
     * clock, the longest wait without progress. 0: SDV_ECU_LINK_TIMEOUT_MS_DEFAULT; negative:
     * no limit. */
    int timeout_ms;
    sdv_ecu_link_clock_fn clock;
    void *clock_ud;
    /* Lowers the largest payload accepted (0: the per-type bounds). */
    uint32_t payload_len_max;
};
#define SDV_ECU_LINK_TIMEOUT_MS_DEFAULT 30000

/* A socket that sends and receives whole frames. */
struct sdv_ecu_link_conn;

/*
 * Wraps fd (taken: closed by sdv_ecu_link_conn_destroy, also on failure here). io is copied and
 * may be NULL for the defaults. Allocates the receive and send buffers once. SDV_ENOMEM.
 */
enum sdv_err sdv_ecu_link_conn_create(int fd, const struct sdv_ecu_link_io *io,
                                      struct sdv_ecu_link_conn **out);
/* Closes the socket and frees everything. NULL is a no-op. */
void sdv_ecu_link_conn_destroy(struct sdv_ecu_link_conn *c);
/* The socket (still owned by the connection). */
int sdv_ecu_link_conn_fd(const struct sdv_ecu_link_conn *c);

/*
 * Encodes m and writes the whole frame, retrying on EINTR and short writes, never raising
 * SIGPIPE. Errors: those of sdv_ecu_link_encode, SDV_ENET (peer gone, timeout).
 */
enum sdv_err sdv_ecu_link_conn_send(struct sdv_ecu_link_conn *c, const struct sdv_ecu_link_msg *m);

/* Writes raw bytes as they are (for tests that must send malformed frames). */
enum sdv_err sdv_ecu_link_conn_send_raw(struct sdv_ecu_link_conn *c, const void *p, size_t len);

/*
 * Receives one frame and parses it into *out (out->data is borrowed until the next receive).
 * Reads never go past the frame. Errors: SDV_ENOENT when the peer closed the connection
 * between frames (no more messages); SDV_EPARSE or SDV_ETOOBIG for a malformed frame or one
 * cut off by the peer closing ("truncated frame"); SDV_ENET for a timeout or a socket error.
 * After any error the connection cannot be used for frames any more: close it.
 */
enum sdv_err sdv_ecu_link_conn_recv(struct sdv_ecu_link_conn *c, struct sdv_ecu_link_msg *out);

/* The reason for the last failure on c ("" if none). Never NULL; owned by c. */
const char *sdv_ecu_link_conn_errmsg(const struct sdv_ecu_link_conn *c);

#ifdef __cplusplus
}
#endif
#endif /* SDV_ECU_LINK_H */
