/*
 * sdv_agent_main.c - the sdv-agent program: the Uptane primary ECU of one vehicle.
 *
 *   sdv-agent --config FILE once   one update cycle; exit 0 when the vehicle is up to date,
 *                                  3 when a reboot is required (and was only requested)
 *   sdv-agent --config FILE run    a cycle every poll_interval_s until SIGTERM or SIGINT
 *
 * With A/B installation ("install") a cycle may require a reboot: the agent runs
 * "reboot_command", or with the file-backed bootloader and no command reboots by simulation
 * (sdv_install_boot_sim) and starts over as after a real boot, within the same invocation.
 *
 * This file owns what lib/ must not touch: the configuration file, the wall clock, the random
 * source, signals and the binding of the transport to lib/net. The cycle is lib/agent.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sdv/agent.h>
#include <sdv/crypto.h>
#include <sdv/net.h>

#include "agent_config.h"

#define DEFAULT_IDENTITY_HEADER "X-Client-Verified-Identity"

/* Exit status of `once` when a reboot is required but was only requested. */
#define EXIT_REBOOT 3

/* Simulated reboots within one invocation: a trial, a rollback and one spare; more means the
 * slots keep failing and a human should look. */
#define SIMULATED_REBOOTS_MAX 4

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void log_stderr(void *ud, enum sdv_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    (void)ud;
    fprintf(stderr, "sdv-agent: %s: %s\n", names[level <= SDV_LOG_DEBUG ? level : 3], msg);
}

static enum sdv_err random_bytes(void *ud, void *p, size_t n)
{
    (void)ud;
    return sdv_random_bytes(p, n);
}

/* Sleeps in slices of 100 ms so that a signal ends the wait promptly. */
static int sleep_ms(void *ud, uint32_t ms)
{
    (void)ud;
    while (ms > 0 && !stopping) {
        uint32_t step = ms < 100 ? ms : 100;
        struct timespec ts = {0, (long)step * 1000000L};

        nanosleep(&ts, NULL);
        ms -= step;
    }
    return stopping != 0;
}

static enum sdv_err collect(void *ud, const void *data, size_t len)
{
    return sdv_buf_append(ud, data, len);
}

static enum sdv_err post_json(void *ud, const char *url, const void *body, size_t len, long *status,
                              struct sdv_buf *response)
{
    enum sdv_err err = sdv_net_post(ud, url, "application/json", body, len, response->max, collect,
                                    response, status);

    if (err != SDV_OK)
        fprintf(stderr, "sdv-agent: warn: %s\n", sdv_net_errmsg(ud));
    return err;
}

static enum sdv_err fetch_range(void *ud, const char *url, uint64_t offset, uint64_t max_len,
                                sdv_sink_fn sink, void *sink_ud)
{
    enum sdv_err err = sdv_net_fetch_range(ud, url, offset, max_len, sink, sink_ud);

    if (err != SDV_OK)
        fprintf(stderr, "sdv-agent: warn: %s\n", sdv_net_errmsg(ud));
    return err;
}

static enum sdv_err read_optional(const char *path, struct sdv_buf *out)
{
    sdv_buf_init(out, SDV_TUF_ROOT_MAX_LEN);
    return path != NULL ? sdv_fs_read(path, out) : SDV_OK;
}

/* Reboots as configured. Returns 1 after a simulated reboot (the caller starts over as after a
 * boot), 0 when the reboot was requested (command run or only announced), -1 on failure. */
static int reboot_ecu(const struct agent_file_config *fc)
{
    char booted[SDV_INSTALL_NAME_LEN_MAX + 1] = "", why[512] = "";
    int degraded = 0;
    enum sdv_err err;

    if (fc->reboot_command != NULL) {
        int st;

        fprintf(stderr, "sdv-agent: rebooting: %s\n", fc->reboot_command);
        fflush(stderr);
        st = system(fc->reboot_command);
        if (st != 0) {
            fprintf(stderr, "sdv-agent: reboot command failed (status %d)\n", st);
            return -1;
        }
        return 0;
    }
    if (!fc->simulated_reboot) {
        fprintf(stderr, "sdv-agent: a reboot is required (no reboot_command configured)\n");
        return 0;
    }
    err = sdv_install_boot_sim(fc->install, booted, sizeof(booted), &degraded, why, sizeof(why));
    if (err != SDV_OK) {
        fprintf(stderr, "sdv-agent: simulated reboot: %s\n", why[0] ? why : sdv_strerror(err));
        return -1;
    }
    fprintf(stderr, "sdv-agent: simulated reboot into slot %s%s\n", booted,
            degraded ? " (no slot had tries left)" : "");
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: sdv-agent --config FILE once|run\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct agent_file_config fc;
    struct sdv_net *net = NULL;
    struct sdv_key *key = NULL;
    struct sdv_agent *agent = NULL;
    struct sdv_buf droot, iroot;
    struct sdv_log log = {log_stderr, NULL, SDV_LOG_INFO};
    char errmsg[1024] = "", header[512];
    struct sigaction sa;
    enum sdv_err err;
    int once, rc = 1;

    if (argc != 4 || strcmp(argv[1], "--config") != 0 ||
        (strcmp(argv[3], "once") != 0 && strcmp(argv[3], "run") != 0))
        return usage();
    once = strcmp(argv[3], "once") == 0;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    sdv_buf_init(&droot, 0);
    sdv_buf_init(&iroot, 0);
    err = agent_config_load(argv[2], &fc, errmsg, sizeof(errmsg));
    if (err != SDV_OK) {
        fprintf(stderr, "sdv-agent: %s\n", errmsg[0] ? errmsg : sdv_strerror(err));
        goto out;
    }
    err = sdv_key_load_pem_file(fc.key_path, &key);
    if (err != SDV_OK) {
        fprintf(stderr, "sdv-agent: primary key %s: %s\n", fc.key_path, sdv_strerror(err));
        goto out;
    }
    err = read_optional(fc.director_root_path, &droot);
    if (err == SDV_OK)
        err = read_optional(fc.image_root_path, &iroot);
    if (err != SDV_OK) {
        fprintf(stderr, "sdv-agent: pinned root: %s\n", sdv_strerror(err));
        goto out;
    }
    fc.net.log = log;
    err = sdv_net_create(&fc.net, &net);
    /* With mTLS the certificate is the identity; otherwise a TLS-terminating proxy (or a test)
     * takes it from the identity header. */
    snprintf(header, sizeof(header), "%s: %s",
             fc.identity_header != NULL ? fc.identity_header : DEFAULT_IDENTITY_HEADER,
             fc.agent.vin);
    if (err == SDV_OK && (fc.tls_cert == NULL || fc.identity_header != NULL))
        err = sdv_net_add_header(net, header);
    if (err != SDV_OK) {
        fprintf(stderr, "sdv-agent: network setup: %s\n", sdv_strerror(err));
        goto out;
    }

    fc.agent.primary_key = key;
    fc.agent.director_root = droot.data;
    fc.agent.director_root_len = droot.len;
    fc.agent.image_root = iroot.data;
    fc.agent.image_root_len = iroot.len;
    fc.agent.fetch = sdv_net_fetch;
    fc.agent.fetch_range = fetch_range;
    fc.agent.post = post_json;
    fc.agent.transport_ud = net;
    fc.agent.random = random_bytes;
    fc.agent.sleep = sleep_ms;
    fc.agent.log = log;

    for (int reboots = 0;;) {
        struct sdv_agent_result res;
        int r;

        if (agent == NULL) {
            err = sdv_agent_create(&fc.agent, &agent, errmsg, sizeof(errmsg));
            if (err != SDV_OK) {
                fprintf(stderr, "sdv-agent: %s\n", errmsg[0] ? errmsg : sdv_strerror(err));
                rc = 1;
                goto out;
            }
        }
        err = sdv_agent_cycle(agent, (int64_t)time(NULL), &res);
        if (res.attack[0] != '\0')
            fprintf(stderr, "sdv-agent: ATTACK DETECTED, nothing installed: %s\n", res.attack);
        if (res.install[0] != '\0')
            fprintf(stderr, "sdv-agent: install: %s\n", res.install);
        if (err == SDV_OK)
            fprintf(stderr, "sdv-agent: up to date (%u installed, %u secondaries answered)\n",
                    res.installed, res.secondaries_found);
        else
            fprintf(stderr, "sdv-agent: cycle failed: %s\n", res.reason);
        rc = err == SDV_OK ? 0 : 1;
        if (res.reboot_required && !stopping) {
            r = reboot_ecu(&fc);
            if (r == 1 && reboots < SIMULATED_REBOOTS_MAX) {
                /* Everything in memory belongs to the boot that ended. */
                sdv_agent_destroy(agent);
                agent = NULL;
                reboots++;
                continue;
            }
            rc = r < 0 ? 1 : EXIT_REBOOT;
        } else {
            reboots = 0;
        }
        if (once || sleep_ms(NULL, (uint32_t)fc.poll_interval_s * 1000u))
            break;
    }
    if (!once)
        rc = 0; /* a stopped loop is a clean exit */
out:
    sdv_agent_destroy(agent);
    sdv_net_destroy(net);
    sdv_key_destroy(key);
    sdv_buf_free(&droot);
    sdv_buf_free(&iroot);
    agent_config_free(&fc);
    return rc;
}
