/*
 * sdv/common.h - errors, logging, bounded buffers, files, encodings and time shared by every
 * OpenSDV module. Depends on libc and jansson (for the canonical JSON writer) only.
 *
 * Thread safety: every function here is safe to call from several threads as long as each
 * object (buffer, log sink) is used by one thread at a time.
 */
#ifndef SDV_COMMON_H
#define SDV_COMMON_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Error codes. The numbers are stable: they are part of the ABI and appear in logs.
 * X(NAME, number, message); SDV_OK is 0, every error is positive.
 */
#define SDV_ERR_MAP(X)                                                              \
    X(OK, 0, "success")                                                             \
    X(ENOMEM, 1, "out of memory")                                                   \
    X(EINVAL, 2, "invalid argument")                                                \
    X(EIO, 3, "input/output error")                                                 \
    X(ENOENT, 4, "not found")                                                       \
    X(ETOOBIG, 5, "size limit exceeded")                                            \
    X(EPARSE, 6, "malformed input")                                                 \
    X(EUNSUPPORTED, 7, "unsupported algorithm or format")                           \
    X(ECRYPTO, 8, "cryptographic library failure")                                  \
    X(ESIG, 9, "signature threshold not met")                                       \
    X(EEXPIRED, 10, "metadata expired")                                             \
    X(EROLLBACK, 11, "version rollback")                                            \
    X(EVERSION, 12, "version mismatch")                                             \
    X(EHASH, 13, "length or hash mismatch")                                         \
    X(ENET, 14, "network error")                                                    \
    X(ENOTARGET, 15, "target not found or not delegated")                           \
    X(ELIMIT, 16, "iteration bound reached")                                        \
    X(EEXIST, 17, "already exists")                                                 \
    X(ESLOW, 18, "transfer slower than the minimum speed (slow-retrieval defence)") \
    X(EUNAVAILABLE, 19, "no provider available")                                    \
    X(ERANGE, 20, "value out of range or not allowed")                              \
    X(EREJECTED, 21, "request rejected by its provider")                            \
    X(EDENIED, 22, "permission denied")

enum sdv_err {
#define SDV_ERR_ENUM_(name, num, msg) SDV_##name = num,
    SDV_ERR_MAP(SDV_ERR_ENUM_)
#undef SDV_ERR_ENUM_
};

/* Returns a static, human-readable description of err; never NULL (unknown codes included). */
const char *sdv_strerror(enum sdv_err err);

/* Returns the symbolic name of err ("SDV_EPARSE"); never NULL. */
const char *sdv_errname(enum sdv_err err);

/* Formats a message for a human into out (out_len bytes), truncating by design; does nothing
 * when out is NULL or out_len is 0. The detail text of a handle or an error out-parameter. */
void sdv_msgf(char *out, size_t out_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Maps an errno value to the closest sdv_err (ENOENT -> SDV_ENOENT, ENOMEM -> SDV_ENOMEM, ...). */
enum sdv_err sdv_err_from_errno(int errnum);

/* ---- Logging ---------------------------------------------------------------------------- */

enum sdv_log_level {
    SDV_LOG_ERROR = 0,
    SDV_LOG_WARN = 1,
    SDV_LOG_INFO = 2,
    SDV_LOG_DEBUG = 3,
};

/* A log sink: the library formats the message, the program decides where it goes. */
typedef void (*sdv_log_fn)(void *ud, enum sdv_log_level level, const char *msg);

struct sdv_log {
    sdv_log_fn fn;            /* NULL: discard everything */
    void *ud;                 /* passed through to fn */
    enum sdv_log_level level; /* messages above this level are dropped */
};

/* Formats and emits one message if log and log->fn are non-NULL and level <= log->level. */
void sdv_logf(const struct sdv_log *log, enum sdv_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* ---- Bounded buffers -------------------------------------------------------------------- */

/*
 * A growable byte buffer with a hard maximum fixed at init (curl's dynbuf). data is always
 * NUL-terminated after len bytes when non-NULL, so text can be used as a C string.
 */
struct sdv_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* len never exceeds max */
};

/* Initialises an empty buffer that may grow to max bytes. Allocates nothing. */
void sdv_buf_init(struct sdv_buf *b, size_t max);
/* Frees the storage; the buffer is empty afterwards and may be reused. NULL is a no-op. */
void sdv_buf_free(struct sdv_buf *b);
/* Sets len to 0, keeps the storage. */
void sdv_buf_reset(struct sdv_buf *b);
/* Appends n bytes. SDV_ETOOBIG if len + n > max (nothing appended), SDV_ENOMEM. */
enum sdv_err sdv_buf_append(struct sdv_buf *b, const void *p, size_t n);
/* Appends a C string without its NUL. */
enum sdv_err sdv_buf_puts(struct sdv_buf *b, const char *s);
/* Appends one byte. */
enum sdv_err sdv_buf_putc(struct sdv_buf *b, char c);
/* Appends formatted text. */
enum sdv_err sdv_buf_printf(struct sdv_buf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Hands the storage to the caller (free() it) and leaves b empty; *len_out may be NULL.
 * Returns an allocated empty string when the buffer held nothing; NULL only on ENOMEM. */
char *sdv_buf_steal(struct sdv_buf *b, size_t *len_out);

/* Receives a stream of bytes in order (a download, a decoder's output). Returning anything but
 * SDV_OK stops the producer, which then returns that same error. */
typedef enum sdv_err (*sdv_sink_fn)(void *ud, const void *data, size_t len);

/* ---- Length-prefixed frames ------------------------------------------------------------- */

/*
 * The byte-gathering half of an incremental decoder of length-prefixed frames (a fixed-size
 * header, then a payload whose length the header announces), shared by the ECU link and the
 * broker protocol. Bytes arrive in any split. The owner validates the header once
 * header_got == header_len and only then announces the payload length with
 * sdv_frame_acc_expect(), so a hostile length is refused before any payload byte is buffered.
 * The payload buffer grows to the largest announced length and is reused for later frames.
 * The fields may be read by the owner; only these functions change them.
 */
#define SDV_FRAME_HEADER_LEN_MAX 16u
struct sdv_frame_acc {
    uint8_t header[SDV_FRAME_HEADER_LEN_MAX];
    size_t header_len; /* fixed header size of the protocol */
    size_t header_got;
    uint8_t *payload; /* owned; NULL until a non-empty payload was expected */
    uint32_t payload_cap;
    uint32_t payload_len; /* announced by the current, validated header */
    uint32_t payload_got;
};

/* Starts an empty accumulator for headers of header_len (1 to SDV_FRAME_HEADER_LEN_MAX) bytes.
 * Allocates nothing. */
void sdv_frame_acc_init(struct sdv_frame_acc *a, size_t header_len);
/* Frees the payload buffer; NULL is a no-op. */
void sdv_frame_acc_free(struct sdv_frame_acc *a);
/* Takes the header bytes still missing from the len bytes at p; returns how many it took. */
size_t sdv_frame_acc_header(struct sdv_frame_acc *a, const uint8_t *p, size_t len);
/* Announces the payload length of the frame whose header is complete and validated, growing
 * the buffer to hold it. SDV_ENOMEM (the accumulator is unchanged). */
enum sdv_err sdv_frame_acc_expect(struct sdv_frame_acc *a, uint32_t payload_len);
/* Takes the payload bytes still missing from the len bytes at p; returns how many it took. */
size_t sdv_frame_acc_payload(struct sdv_frame_acc *a, const uint8_t *p, size_t len);
/* Forgets the current frame (after it was handed out, or on a reset); keeps the buffer. */
void sdv_frame_acc_next(struct sdv_frame_acc *a);

/* ---- Files ------------------------------------------------------------------------------ */

/*
 * Replaces path with exactly data[0..len) so that after a crash at any instant the file holds
 * either its old or its new content: writes a temporary file in the same directory, fsyncs it,
 * renames it over path and fsyncs the directory. mode is used for the new file (e.g. 0644).
 */
enum sdv_err sdv_fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

/*
 * Writes all of data[0..len) to the open descriptor fd, retrying on EINTR and short writes.
 * data is borrowed and may be NULL only when len is 0; fd stays open and owned by the caller.
 * Returns SDV_OK, SDV_EIO if write() makes no progress, or the mapped errno of a failed write,
 * after which an unknown prefix of data may have been written. Safe to call from several
 * threads on different descriptors.
 */
enum sdv_err sdv_fs_write_all(int fd, const void *data, size_t len);

/* Fsyncs the directory dir, so that a rename, a new file or an unlink in it survives a crash. A
 * file system that cannot fsync a directory (EINVAL) needs nothing more: SDV_OK. Otherwise the
 * mapped errno of open or fsync. */
enum sdv_err sdv_fs_fsync_dir(const char *dir);
/* sdv_fs_fsync_dir() of the directory that holds path ("." for a bare name). */
enum sdv_err sdv_fs_fsync_parent(const char *path);

/*
 * Reads exactly len bytes at offset off of fd into buf, retrying on EINTR and short reads,
 * without moving the file offset. Returns SDV_OK, SDV_EIO when the file ends first, or the
 * mapped errno of a failed pread(). Safe from several threads, even on the same descriptor.
 */
enum sdv_err sdv_fs_pread_all(int fd, void *buf, size_t len, uint64_t off);

/*
 * Reads fd from its current offset to its end, buf_len bytes at a time into buf (borrowed
 * scratch), and hands each chunk to sink. Returns SDV_OK at the end of the file, the mapped
 * errno of a failed read() (EINTR is retried), or the first error sink returns, after which
 * nothing more is read. fd stays open and owned by the caller.
 */
enum sdv_err sdv_fs_read_fd(int fd, void *buf, size_t buf_len, sdv_sink_fn sink, void *ud);

/* sdv_fs_write_all() as an sdv_sink_fn: ud points to the int file descriptor written to. */
enum sdv_err sdv_fs_sink_fd(void *ud, const void *data, size_t len);

/*
 * Finds the last complete line of fd, an append-only log of '\n'-terminated lines, reading at
 * most its last buf_len bytes into buf (the caller's; buf_len must hold two of the longest lines
 * to see a whole line before a torn one). A torn last line (no newline: a write cut short by a
 * crash, never acknowledged) is cut off the file first (ftruncate, fsync). On SDV_OK *line points
 * into buf at the last complete line and *line_len is its length without the newline (which
 * follows it in buf); *line is NULL when the file holds no complete line. *size receives the
 * file's size afterwards. SDV_ETOOBIG when a line does not fit in buf (nothing cut), otherwise
 * the mapped errno of fstat, pread, ftruncate or fsync.
 */
enum sdv_err sdv_fs_last_line(int fd, char *buf, size_t buf_len, const char **line,
                              size_t *line_len, uint64_t *size);

/* Reads a whole file into out (which must be initialised; its max bounds the size).
 * SDV_ENOENT if missing, SDV_ETOOBIG if larger than out->max. */
enum sdv_err sdv_fs_read(const char *path, struct sdv_buf *out);

/* Creates a directory and its missing parents (mode for new ones). Existing is success. */
enum sdv_err sdv_fs_mkdir_p(const char *path, unsigned mode);

/* Removes a file; a missing file is success. Fsyncs the directory afterwards. */
enum sdv_err sdv_fs_remove(const char *path);

/* Joins dir and name with exactly one '/' into out. SDV_ETOOBIG if it does not fit in out_len. */
enum sdv_err sdv_path_join(char *out, size_t out_len, const char *dir, const char *name);

/* ---- Encodings -------------------------------------------------------------------------- */

/* Writes 2*n lowercase hex digits and a NUL to out (out must hold 2*n+1 bytes). */
void sdv_hex_encode(const uint8_t *p, size_t n, char *out);
/* Decodes hex (either case) of length hex_len into out. SDV_EPARSE on odd length or a non-hex
 * character, SDV_ETOOBIG if out_max is too small. */
enum sdv_err sdv_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_max,
                            size_t *out_len);

/* Standard base64 (RFC 4648, with padding). encode writes a NUL-terminated string into out,
 * which must hold sdv_base64_encoded_len(n) bytes. */
size_t sdv_base64_encoded_len(size_t n);
void sdv_base64_encode(const uint8_t *p, size_t n, char *out);
/* SDV_EPARSE on a bad character or padding, SDV_ETOOBIG when out_max is too small. */
enum sdv_err sdv_base64_decode(const char *s, size_t s_len, uint8_t *out, size_t out_max,
                               size_t *out_len);

/*
 * Percent-encodes s for use as one path segment or file name: every byte except the unreserved
 * set A-Z a-z 0-9 - . _ ~ becomes %XX (uppercase). A NULL return means out of memory; free()
 * the result. "../x" becomes "..%2Fx"; "." and ".." stay unchanged (so callers never use them
 * as a bare name: TUF role names "." or ".." are rejected at parse time).
 */
char *sdv_percent_encode(const char *s);

/* ---- Time ------------------------------------------------------------------------------- */

/* Parses an RFC 3339 timestamp ("2030-01-01T00:00:00Z", fractional seconds and numeric offsets
 * accepted) into seconds since the Unix epoch. SDV_EPARSE on anything else. */
enum sdv_err sdv_time_parse(const char *s, int64_t *out);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into out, which holds at least SDV_TIME_STR_LEN bytes. */
#define SDV_TIME_STR_LEN 32
enum sdv_err sdv_time_format(int64_t t, char *out);

/* ---- Canonical JSON --------------------------------------------------------------------- */

/*
 * Appends the canonical JSON form of v to out, as TUF and securesystemslib define it (OLPC
 * canonical JSON): object keys sorted by their UTF-8 bytes, no insignificant whitespace, strings
 * escaping only '"' and '\\', integers in decimal, true/false/null. Real numbers are not
 * allowed: SDV_EUNSUPPORTED. Nesting deeper than SDV_JSON_DEPTH_MAX: SDV_ELIMIT. Does not
 * recurse on the C stack.
 */
enum sdv_err sdv_cjson_write(const json_t *v, struct sdv_buf *out);

/*
 * Parses untrusted JSON text: duplicate object keys, NUL in strings, trailing garbage and nesting
 * deeper than SDV_JSON_DEPTH_MAX are rejected. On error returns SDV_EPARSE and writes a
 * message with line and column into err (err_len bytes; may be NULL). Caller json_decref()s.
 */
enum sdv_err sdv_json_parse(const void *data, size_t len, json_t **out, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* SDV_COMMON_H */
