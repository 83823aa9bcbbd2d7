/*
 * sdv_secondary_main.c - sdv-secondary: one process per secondary ECU. Reads its configuration,
 * settles its state directory (a kill -9 at any earlier instant leaves the previous or the new
 * image installed, never a mix), listens on its ECU link address and serves one primary
 * connection at a time until SIGTERM or SIGINT.
 *
 *   sdv-secondary [-v] CONFIG_FILE
 *
 * This is where the wall clock, the monotonic clock, randomness and stderr logging are bound
 * for the libraries. Exit status: 0 after a signal, 1 on a startup error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sdv/crypto.h>
#include <sdv/ecu_link.h>

#include "secondary.h"

/* How often the accept loop looks at the stop flag when no primary connects. */
#define ACCEPT_POLL_MS 1000

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void log_stderr(void *ud, enum sdv_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    const char *serial = ud;

    fprintf(stderr, "sdv-secondary[%s]: %s: %s\n", serial, names[level], msg);
}

static int64_t wall_now(void)
{
    return (int64_t)time(NULL);
}

static int64_t monotonic_ms(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum sdv_err random_bytes(void *ud, void *p, size_t n)
{
    (void)ud;
    return sdv_random_bytes(p, n);
}

static void usage(FILE *f)
{
    fputs("usage: sdv-secondary [-v] CONFIG_FILE\n"
          "\n"
          "CONFIG_FILE holds key = value lines:\n"
          "  listen         tcp:HOST:PORT or unix:PATH (port 0 picks a free port)\n"
          "  serial         ECU serial\n"
          "  hardware_id    hardware id of this ECU\n"
          "  key            private key PEM of this ECU (signs version reports)\n"
          "  state_dir      trusted metadata and install state\n"
          "  slot           the file-backed install slot\n"
          "  verification   partial | full\n"
          "  director_root  director root.json trusted at the first start\n"
          "  image_root     image repository root.json trusted at the first start (full)\n"
          "  factory_image  name reported for the slot before any install (default factory)\n"
          "  ready_file     written with the bound address once listening (optional)\n"
          "  timeout_ms     time allowed for one frame (default 30000)\n",
          f);
}

static int install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a signal must interrupt poll() so that the loop sees the flag. */
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static int64_t install_now(void *ud)
{
    (void)ud;
    return (int64_t)time(NULL);
}

int main(int argc, char **argv)
{
    struct sec_config cfg;
    struct sec_state st;
    struct sec_ctx ctx;
    struct sdv_key *key = NULL;
    char msg[512], bound[SEC_PATH_LEN_MAX + 16];
    const char *config_path = NULL;
    int verbose = 0, listen_fd = -1, status = 1;
    enum sdv_err err;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (config_path == NULL && argv[i][0] != '-') {
            config_path = argv[i];
        } else {
            usage(stderr);
            return 1;
        }
    }
    if (config_path == NULL) {
        usage(stderr);
        return 1;
    }
    err = sec_config_load(config_path, &cfg, msg, sizeof(msg));
    if (err != SDV_OK) {
        fprintf(stderr, "sdv-secondary: %s: %s\n", config_path, msg);
        return 1;
    }
    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg = &cfg;
    ctx.st = &st;
    ctx.log.fn = log_stderr;
    ctx.log.ud = cfg.serial;
    ctx.log.level = verbose ? SDV_LOG_DEBUG : SDV_LOG_INFO;
    ctx.now = wall_now;
    ctx.clock_ms = monotonic_ms;
    ctx.random = random_bytes;

    if (install_signals() != 0) {
        sdv_logf(&ctx.log, SDV_LOG_ERROR, "cannot install signal handlers");
        return 1;
    }
    err = sdv_key_load_pem_file(cfg.key, &key);
    if (err != SDV_OK || !sdv_key_has_private(key)) {
        sdv_logf(&ctx.log, SDV_LOG_ERROR, "key %s: %s", cfg.key,
                 err != SDV_OK ? sdv_strerror(err) : "no private half");
        goto out;
    }
    ctx.key = key;
    err = sec_state_open(&cfg, &st, &ctx.log, msg, sizeof(msg));
    if (err != SDV_OK) {
        sdv_logf(&ctx.log, SDV_LOG_ERROR, "%s", msg);
        goto out;
    }
    if (cfg.install[0] != '\0') {
        err = sec_slot_open(&ctx, install_now, msg, sizeof(msg));
        if (err != SDV_OK) {
            sdv_logf(&ctx.log, SDV_LOG_ERROR, "%s", msg);
            goto out;
        }
    }
    err = sdv_ecu_link_listen(cfg.listen, &listen_fd, msg, sizeof(msg));
    if (err == SDV_OK)
        err = sdv_ecu_link_bound_addr(listen_fd, bound, sizeof(bound));
    if (err != SDV_OK) {
        sdv_logf(&ctx.log, SDV_LOG_ERROR, "%s", err == SDV_OK ? "" : msg);
        goto out;
    }
    if (cfg.ready_file[0] != '\0') {
        err = sdv_fs_write_atomic(cfg.ready_file, bound, strlen(bound), 0644);
        if (err != SDV_OK) {
            sdv_logf(&ctx.log, SDV_LOG_ERROR, "cannot write %s: %s", cfg.ready_file,
                     sdv_strerror(err));
            goto out;
        }
    }
    sdv_logf(&ctx.log, SDV_LOG_INFO, "%s verification, installed \"%s\", listening on %s",
             sdv_ecu_link_mode_name(cfg.mode), st.installed.filepath, bound);

    while (!stop_requested) {
        int fd;

        err = sdv_ecu_link_accept(listen_fd, ACCEPT_POLL_MS, &fd, msg, sizeof(msg));
        if (err != SDV_OK)
            continue; /* timeout, signal, or a connection that vanished before accept */
        sdv_logf(&ctx.log, SDV_LOG_INFO, "primary connected");
        err = sec_session_run(&ctx, fd);
        sdv_logf(&ctx.log, SDV_LOG_INFO, "primary session ended: %s", sdv_strerror(err));
    }
    sdv_logf(&ctx.log, SDV_LOG_INFO, "stopping");
    status = 0;
out:
    if (listen_fd >= 0) {
        close(listen_fd);
        if (strncmp(cfg.listen, "unix:", 5) == 0)
            unlink(cfg.listen + 5);
    }
    sec_slot_close(&ctx);
    sdv_key_destroy(key);
    return status;
}
