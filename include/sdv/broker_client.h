/*
 * sdv/broker_client.h - the C client library of sdv-broker's local binary protocol (Unix
 * socket; sdv/broker_proto.h, docs/broker-protocol.md), for in-vehicle providers and apps.
 *
 * Two ways to use it, freely mixed:
 *   - blocking, for simple tools: connect, lookup, get, set, subscribe, claim; each call sends
 *     one request and waits for its answer (at most timeout_ms, see the config's clock);
 *   - from the program's own poll loop: watch sdv_broker_client_fd() for POLLIN and call
 *     sdv_broker_client_process(c, 0) when it is readable; subscription events, "values lost"
 *     notices and actuation requests arrive through the callbacks.
 * Callbacks run inside process() or inside a blocking call (events that arrive while waiting
 * for an answer are delivered, never dropped). A callback may call
 * sdv_broker_client_actuate_reply() and the publish functions, but no blocking call
 * (SDV_EINVAL).
 *
 * Publishing is batched: publish() appends to one frame in the output buffer (sent when it is
 * full) and publish_flush() sends what is pending, so a provider sends one frame per cycle.
 *
 * Nothing here reads a clock: timestamps are the caller's (microseconds since the Unix epoch).
 * Thread safety: a client is used by one thread at a time.
 */
#ifndef SDV_BROKER_CLIENT_H
#define SDV_BROKER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/broker.h>
#include <sdv/broker_proto.h>
#include <sdv/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sdv_broker_client;

/* A subscription event: one signal's new value. value's payload is valid during the call. */
typedef void (*sdv_broker_client_event_fn)(void *ud, uint32_t sub_id, uint32_t signal_id,
                                           const struct sdv_broker_value *value, int64_t ts_us);

/* The broker dropped lost values of subscription sub_id because this client read too slowly. */
typedef void (*sdv_broker_client_lost_fn)(void *ud, uint32_t sub_id, uint32_t lost);

/* The broker ended subscription sub_id on its own: status 401 when the session's token expired
 * (renew it with sdv_broker_client_reauth() before it expires to keep subscriptions), 403 when a
 * renewed token no longer grants one of its signals; message (NUL-terminated, valid during the
 * call) says which. No event of it follows and its id is forgotten; subscribe again (with a valid
 * token) to resume. */
typedef void (*sdv_broker_client_sub_ended_fn)(void *ud, uint32_t sub_id, uint16_t status,
                                               const char *message);

/* An actuation request for a signal this provider claimed. Answer it (now or later) with
 * sdv_broker_client_actuate_reply(c, actuation_id, ...). value is valid during the call. */
typedef void (*sdv_broker_client_actuate_fn)(void *ud, uint64_t actuation_id, uint32_t signal_id,
                                             const struct sdv_broker_value *value);

struct sdv_broker_client_config {
    const char *socket_path; /* the broker's Unix socket (required) */
    const char *name;        /* shown in the broker's log; NULL: "" */
    const char *token;       /* access token (JWT); NULL: none (the broker may refuse) */
    uint32_t timeout_ms;     /* 0: SDV_BROKER_CLIENT_TIMEOUT_MS_DEFAULT */
    sdv_broker_client_actuate_fn on_actuate; /* providers; NULL: requests are rejected */
    sdv_broker_client_lost_fn on_lost;       /* NULL: ignored */
    void *ud;                                /* passed to on_actuate and on_lost */
    /* Subscriptions the broker ended (token expired, no longer granted), with ud; NULL: ignored. */
    sdv_broker_client_sub_ended_fn on_sub_ended;
    /* Optional monotonic clock (microseconds). With it a blocking call gives up timeout_ms after
     * it started even while events keep arriving; without it timeout_ms bounds the broker's
     * silence only. */
    sdv_broker_clock_fn clock;
    void *clock_ud;
    /* Optional, needs clock: before a waiting call blocks in poll(), it keeps reading without
     * sleeping for up to this many microseconds (at most SDV_BROKER_CLIENT_BUSY_POLL_US_MAX).
     * An event arriving in that window is taken without a wake-up from sleep, which is most of
     * the latency on an idle machine, at the price of one core busy while waiting. 0: off. */
    uint32_t busy_poll_us;
};

/* What a lookup found for one path. status 0: id, datatype and kind are set; otherwise the
 * broker's status (404 unknown path, 403 not in the token's scope). */
struct sdv_broker_client_signal {
    uint32_t id;
    enum sdv_broker_datatype datatype;
    enum sdv_broker_kind kind;
    uint16_t status;
};

/*
 * Connects to the broker, says hello with the token and waits for its answer. SDV_OK with *out
 * (destroy with sdv_broker_client_destroy); SDV_ENET if the socket cannot be reached, SDV_EDENIED
 * if the broker refuses the token, SDV_EPARSE for a broker speaking something else, SDV_ENOMEM.
 * err (err_len bytes, may be NULL) receives the reason.
 */
enum sdv_err sdv_broker_client_connect(const struct sdv_broker_client_config *cfg,
                                       struct sdv_broker_client **out, char *err, size_t err_len);

/*
 * Adopts fd, a stream socket already connected to the broker whose session someone else opened:
 * a launcher such as `sdv app run` connects, says HELLO with the app's token, reads HELLO_OK and
 * hands the socket to the sandboxed app (docs/app-sandbox.md), which may not create sockets
 * itself. Nothing is sent or read here; the session has the launcher's token. cfg->socket_path,
 * cfg->name and cfg->token are ignored; the rest applies as for connect. fd is taken: closed by
 * sdv_broker_client_destroy(), and here on failure. SDV_OK with *out; SDV_EINVAL (err says why)
 * when fd is not a stream socket, SDV_ENOMEM.
 */
enum sdv_err sdv_broker_client_adopt(const struct sdv_broker_client_config *cfg, int fd,
                                     struct sdv_broker_client **out, char *err, size_t err_len);

/*
 * Renews the session's access token without reconnecting (the AUTH message): the broker verifies
 * token (borrowed) fully and, when it is good, acts with its grants from then on. Subscriptions
 * stay; one whose signals the new token no longer all grants is ended (on_sub_ended, 403). A
 * long-running app calls this with a fresh token before the old one expires; at expiry the
 * broker ends every subscription with a 401 notice. SDV_OK; SDV_EINVAL for an empty token;
 * SDV_EDENIED when the broker refused it (errmsg has the reason: invalid, expired, grants
 * nothing), in which case the previous token stays in force until it expires; SDV_ELIMIT (the
 * previous token's rate limit); network errors. Not for sessions opened by a launcher and
 * adopted (sdv_broker_client_adopt()): those have no token of their own (docs/broker-daemon.md).
 */
enum sdv_err sdv_broker_client_reauth(struct sdv_broker_client *c, const char *token);

/*
 * Asks the broker for the session's renewal handle (SESSION_HANDLE): 32 random bytes that name
 * this session, the same on every call. Whoever holds the handle can renew the session's token
 * from another connection with sdv_broker_client_renew_session(), so treat it like a credential:
 * `sdv app run` asks for it before handing the socket to the app and keeps it to itself.
 * SDV_OK with out filled; SDV_EUNAVAILABLE when the broker does not answer; network errors.
 */
enum sdv_err sdv_broker_client_session_handle(struct sdv_broker_client *c,
                                              uint8_t out[SDV_BROKER_SESSION_HANDLE_LEN]);

/*
 * Renews the token of the session named by handle, from outside that session: connects to
 * socket_path, sends RENEW (no HELLO) with handle and token (borrowed), waits at most timeout_ms
 * (0: the default) for the answer and closes. The broker verifies token fully and requires the
 * same subject (sub and client_id) as the session's current token; then the session acts with
 * the new token as after AUTH (grants, expiry timer). SDV_OK; SDV_EDENIED (401 bad token, 403
 * other subject), SDV_ENOENT (404: no such session, e.g. it closed), SDV_ELIMIT, SDV_ENET,
 * SDV_EUNAVAILABLE, SDV_EINVAL for an empty token. err (may be NULL) receives the reason.
 */
enum sdv_err sdv_broker_client_renew_session(const char *socket_path,
                                             const uint8_t handle[SDV_BROKER_SESSION_HANDLE_LEN],
                                             const char *token, uint32_t timeout_ms, char *err,
                                             size_t err_len);

/* Closes the connection and frees everything. NULL is a no-op. */
void sdv_broker_client_destroy(struct sdv_broker_client *c);

/* The socket, for the caller's poll loop (POLLIN). Owned by the client. */
int sdv_broker_client_fd(const struct sdv_broker_client *c);

/* The reason of the last failure ("Vehicle.Speed: 300 is above max 250", the broker's message
 * when it refused). Never NULL; owned by the client. */
const char *sdv_broker_client_errmsg(const struct sdv_broker_client *c);

/*
 * Resolves n paths (borrowed, n <= SDV_BROKER_BATCH_MAX) into out[0..n). SDV_OK even when some
 * paths are unknown (their status says so); an error means the request itself failed.
 */
enum sdv_err sdv_broker_client_lookup(struct sdv_broker_client *c, const char *const *paths,
                                      size_t n, struct sdv_broker_client_signal *out);

/*
 * Reads the current value of signal id. *value's payload is borrowed from the client until its
 * next call; type NONE when nothing was published yet. *ts_us may be NULL. Errors carry the
 * broker's reason in errmsg: SDV_ENOENT, SDV_EDENIED, ...
 */
enum sdv_err sdv_broker_client_get(struct sdv_broker_client *c, uint32_t id,
                                   struct sdv_broker_value *value, int64_t *ts_us);

/*
 * Asks for actuation of signal id to value and waits until the provider accepted it (SDV_OK)
 * or it failed: SDV_EREJECTED (the provider refused), SDV_EUNAVAILABLE (no provider, or it did
 * not answer), SDV_EDENIED (not in scope), SDV_EINVAL (bad value for the signal), SDV_ENOENT,
 * SDV_ELIMIT (rate limit). The reason is in errmsg.
 */
enum sdv_err sdv_broker_client_set(struct sdv_broker_client *c, uint32_t id,
                                   const struct sdv_broker_value *value);

/*
 * Subscribes to n signals (ids from lookup) with filter f (NULL: every update); cb(ud, ...)
 * receives the events. *sub_id identifies the subscription. SDV_ELIMIT when the client already
 * has SDV_BROKER_CLIENT_SUBS_MAX subscriptions.
 */
enum sdv_err sdv_broker_client_subscribe(struct sdv_broker_client *c, const uint32_t *ids, size_t n,
                                         const struct sdv_broker_filter *f,
                                         sdv_broker_client_event_fn cb, void *ud, uint32_t *sub_id);

/* Ends a subscription; no event of it is delivered afterwards. */
enum sdv_err sdv_broker_client_unsubscribe(struct sdv_broker_client *c, uint32_t sub_id);

/* Claims n signals for this provider: their actuation requests come to on_actuate, and only
 * this client may publish them. All or nothing: SDV_EEXIST if one is owned by another
 * provider, SDV_EDENIED if not in the token's provide scope. */
enum sdv_err sdv_broker_client_claim(struct sdv_broker_client *c, const uint32_t *ids, size_t n);

/* Appends one value update to the pending PUBLISH frame (ts_us 0: the broker stamps it); a full
 * frame is sent first. The value is copied. SDV_EINVAL for a malformed value, network errors. */
enum sdv_err sdv_broker_client_publish(struct sdv_broker_client *c, uint32_t id,
                                       const struct sdv_broker_value *value, int64_t ts_us);

/* Sends the pending PUBLISH frame, if any. The broker answers only refusals, as ERROR frames:
 * they are reported by a later call (errmsg) and do not stop the stream. */
enum sdv_err sdv_broker_client_publish_flush(struct sdv_broker_client *c);

/* Answers actuation request actuation_id: accept (status 0) or reject (a VISS-style status,
 * 409 by convention) with an optional message (NULL: none). */
enum sdv_err sdv_broker_client_actuate_reply(struct sdv_broker_client *c, uint64_t actuation_id,
                                             uint16_t status, const char *message);

/*
 * Reads what the broker sent and runs the callbacks. timeout_ms: 0 returns at once when
 * nothing is readable, -1 waits until something arrives, else at most that long. SDV_OK, or
 * SDV_ENET when the broker closed the connection, SDV_EPARSE on a protocol violation (the
 * connection is unusable then).
 */
enum sdv_err sdv_broker_client_process(struct sdv_broker_client *c, int timeout_ms);

/* The broker's wire status as an error: 0 SDV_OK, 400 SDV_EINVAL, 401/403 SDV_EDENIED, 404
 * SDV_ENOENT, 408/503 SDV_EUNAVAILABLE, 409 SDV_EREJECTED, 429 SDV_ELIMIT, others SDV_EIO. */
enum sdv_err sdv_broker_client_err_from_status(uint16_t status);

#ifdef __cplusplus
}
#endif
#endif /* SDV_BROKER_CLIENT_H */
