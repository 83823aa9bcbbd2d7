/*
 * sdv/agent.h - the Uptane primary ECU: one update cycle of a vehicle (see docs/agent.md).
 *
 * A cycle refreshes the director and the image repository with two TUF clients, runs the Uptane
 * checks (sdv_uptane_check_director_targets), downloads every new image with resume, bounded
 * retries and backoff, verifies it, installs the primary's own image into a file-backed slot,
 * hands each secondary its metadata and image over lib/ecu_link, collects the secondaries' signed
 * version reports, and sends the vehicle version manifest signed by the primary key. On any
 * verification failure nothing is installed and the primary's report names the attack; the
 * manifest is still sent.
 *
 * Everything the agent trusts or has done lives under state_dir and is replaced atomically, so a
 * kill -9 at any instant leaves a consistent state: trusted metadata (director/, image/),
 * download progress (downloads/<sha256>.part, resumed with HTTP Range), install state
 * (install.json: what each ECU runs, and the report and manifest counters).
 *
 * The library does no network I/O of its own and reads no clock: HTTP goes through the
 * transport callbacks (cmd/ binds lib/net, tests bind an in-memory server), `now`, randomness and
 * sleeping through the configuration. Secondaries are reached over lib/ecu_link sockets.
 *
 * Thread safety: one agent is used by one thread at a time.
 */
#ifndef SDV_AGENT_H
#define SDV_AGENT_H

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/install.h>
#include <sdv/tuf.h>
#include <sdv/uptane.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Resumed GET: streams the bytes of url from offset on into sink; signature-compatible with
 * sdv_net_fetch_range (and with its contract: SDV_EUNSUPPORTED means "restart from 0", nothing
 * was passed to sink). */
typedef enum sdv_err (*sdv_agent_fetch_range_fn)(void *ud, const char *url, uint64_t offset,
                                                 uint64_t max_len, sdv_sink_fn sink, void *sink_ud);

/* POSTs body (JSON, borrowed) to url; *status receives the HTTP status and at most a bounded
 * answer goes to response (initialised by the caller). SDV_ENET when no answer came. */
typedef enum sdv_err (*sdv_agent_post_fn)(void *ud, const char *url, const void *body, size_t len,
                                          long *status, struct sdv_buf *response);

/* Sleeps ms milliseconds (backoff between retries). Returns non-zero if the program is shutting
 * down, which ends the retries early. */
typedef int (*sdv_agent_sleep_fn)(void *ud, uint32_t ms);

/* One secondary ECU. Borrowed strings. */
struct sdv_agent_secondary {
    const char *serial;
    const char *hardware_id;
    const char *address; /* lib/ecu_link address: "tcp:127.0.0.1:PORT" or "unix:/path" */
};

struct sdv_agent_config {
    /* Base URL of the fleet server without a trailing '/': "http://127.0.0.1:8080". */
    const char *server_url;
    const char *vin;
    const char *primary_serial;
    const char *primary_hardware_id;
    const struct sdv_key *primary_key; /* borrowed; private half required */
    const char *state_dir;             /* created if missing */
    const struct sdv_agent_secondary *secondaries;
    size_t secondary_count; /* at most SDV_UPTANE_ECUS_MAX - 1 */

    /* Provisioning: the pinned roots, installed when state_dir has no trusted root yet (borrowed
     * bytes; may be NULL once provisioned). */
    const void *director_root;
    size_t director_root_len;
    const void *image_root;
    size_t image_root_len;

    /* Transport (required): metadata GETs, resumed image GETs, the manifest POST. */
    sdv_tuf_fetch_fn fetch;
    sdv_agent_fetch_range_fn fetch_range;
    sdv_agent_post_fn post;
    void *transport_ud;

    /* Randomness for report nonces (required) and sleeping between retries (NULL: no wait). */
    sdv_uptane_random_fn random;
    void *random_ud;
    sdv_agent_sleep_fn sleep;
    void *sleep_ud;

    /* Downloads: attempts per image (0: 5), first backoff (0: 1,000 ms), doubling up to
     * backoff_max_ms (0: 30,000 ms). The minimum speed is the transport's (lib/net). */
    unsigned download_attempts;
    uint32_t backoff_ms;
    uint32_t backoff_max_ms;

    /* Time allowed per ecu_link frame with a secondary (0: SDV_ECU_LINK_TIMEOUT_MS_DEFAULT). */
    int ecu_link_timeout_ms;
    struct sdv_log log;

    /*
     * A/B installation of the primary's own image (sdv/install.h; borrowed, must outlive the
     * agent). NULL: the image is copied into the file state_dir/slots/<serial> (a simulated ECU
     * without slots). With it, the primary's image streams from the network straight into the
     * inactive slot (resumed with HTTP Range after the written prefix is re-hashed), is verified
     * there, and is activated for one trial boot only after every image of the cycle verified;
     * the cycle then sets result.reboot_required. The first cycle after sdv_agent_create() runs
     * the boot verdict (trial, health check, commit or rollback) and reports the install log
     * records the server has not acknowledged in the primary's version report ("install_log").
     * A release that rolled back is not installed again: the agent waits for the director to
     * assign another image. The installer's state lives in state_dir/install/.
     */
    const struct sdv_install_config *install;
    /* The kernel command line handed to lib/install (borrowed; NULL: the configuration's
     * "cmdline" file). */
    const char *install_cmdline;
};

/* What one cycle did. */
struct sdv_agent_result {
    /* Non-zero when every ECU the director names runs its target and the server accepted the
     * manifest: the vehicle is up to date. */
    int up_to_date;
    unsigned installed;         /* ECUs that installed a new image in this cycle */
    unsigned secondaries_found; /* secondaries that answered */
    int manifest_sent;          /* the server answered 200 to the manifest */
    /* The attack detected (sent in the primary's report), or "". */
    char attack[SDV_UPTANE_ATTACK_LEN_MAX + 1];
    /* Why the cycle failed, or "" (an attack is also a failure). */
    char reason[1024];
    /* Non-zero: reboot now. A slot was activated for its trial boot, a failed trial must return
     * to the old slot, or an activation is still waiting for its reboot. */
    int reboot_required;
    /* What the A/B installer did in this cycle, for a human ("activated ...", "committed ...",
     * "rolled back ...: reason"), or "". */
    char install[SDV_INSTALL_REASON_LEN_MAX + 256];
};

struct sdv_agent;

/*
 * Creates an agent: copies the configuration strings, creates state_dir and its folders, and
 * provisions the pinned roots if no trusted root is there. Borrowed: primary_key, the transport,
 * random and sleep user data (must outlive the agent). Caller destroys with sdv_agent_destroy().
 * Errors: SDV_EINVAL (missing field, a secondary with the primary's serial, too many
 * secondaries), SDV_ENOENT (no trusted root and no pinned root given), the file system's and
 * lib/tuf's errors (a pinned root that does not verify). errmsg (may be NULL) gets the reason.
 */
enum sdv_err sdv_agent_create(const struct sdv_agent_config *config, struct sdv_agent **out,
                              char *errmsg, size_t errmsg_len);

/* NULL is a no-op. */
void sdv_agent_destroy(struct sdv_agent *agent);

/*
 * Runs one update cycle at reference time now (seconds since the epoch) and fills *result.
 * Returns SDV_OK when the vehicle is up to date (result->up_to_date), else the first error:
 * a verification failure (lib/tuf or lib/uptane code; result->attack says what), a download that
 * failed every attempt, a secondary that could not install, or a manifest the server refused.
 * result->reason always explains a failure. Safe to call again after any failure.
 */
enum sdv_err sdv_agent_cycle(struct sdv_agent *agent, int64_t now, struct sdv_agent_result *result);

/*
 * Downloads url into path with resume: if path exists its size is the offset of a Range
 * request; a server that cannot continue (SDV_EUNSUPPORTED from fetch_range) makes it start
 * again from 0. The file is fsynced after every attempt. Up to attempts tries with exponential
 * backoff (backoff_ms doubling to backoff_max_ms, through sleep). length is the exact expected
 * size (more is SDV_ETOOBIG). Verifying the hashes is the caller's job. Exposed for tests and
 * tools; the cycle uses it for images.
 */
enum sdv_err sdv_agent_download(const struct sdv_agent_config *config, const char *url,
                                const char *path, uint64_t length, char *errmsg, size_t errmsg_len);

#ifdef __cplusplus
}
#endif
#endif /* SDV_AGENT_H */
