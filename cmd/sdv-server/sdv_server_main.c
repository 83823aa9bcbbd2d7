/*
 * sdv_server_main.c - sdv-server: the fleet backend (director and image repositories, device
 * registry, vehicle version manifests, artifacts) over HTTP. See docs/server.md.
 *
 *   sdv-server --config FILE [--port-file FILE] [--verbose]
 *   sdv-server --config FILE --check
 *
 * The main thread owns the signals: SIGTERM and SIGINT are blocked in every thread and taken
 * with sigwait() here, which then stops the renewal timer and shuts the HTTP server down
 * gracefully. SIGPIPE is ignored (a vehicle that hangs up must not kill the server).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* One fprintf per message: stdio locks the stream, so lines of different threads never mix. */
static void log_stderr(void *ud, enum sdv_log_level level, const char *msg)
{
    (void)ud;
    fprintf(stderr, "sdv-server: %s: %s\n", level_names[level], msg);
}

static uint64_t mono_ms(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void usage(FILE *f)
{
    fputs("usage: sdv-server --config FILE [--port-file FILE] [--verbose]\n"
          "       sdv-server --config FILE --check\n"
          "\n"
          "  --config FILE      JSON configuration (docs/server.md)\n"
          "  --check            validate the configuration and its keys, then exit\n"
          "  --port-file FILE   write the bound port there once listening (for port 0)\n"
          "  -v, --verbose      debug logging\n",
          f);
}

/* ---- The renewal timer ------------------------------------------------------------------------
 */

struct timer {
    struct server *srv;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void *timer_main(void *ud)
{
    struct timer *t = ud;
    int64_t interval = t->srv->cfg->renew_interval_s;

    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        struct timespec until;

        pthread_mutex_unlock(&t->mu);
        /* The wall clock is read here, once per round, and passed down. */
        server_image_renew(t->srv, server_now());
        server_director_renew_all(t->srv, server_now());
        pthread_mutex_lock(&t->mu);
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += interval;
        while (!t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static int timer_start(struct timer *t, struct server *srv)
{
    pthread_condattr_t ca;

    memset(t, 0, sizeof(*t));
    t->srv = srv;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    return pthread_create(&t->thread, NULL, timer_main, t);
}

static void timer_stop(struct timer *t)
{
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

/* ---- main -------------------------------------------------------------------------------------
 */

static enum sdv_err write_port_file(const char *path, uint16_t port)
{
    char text[16];
    int n = snprintf(text, sizeof(text), "%u\n", (unsigned)port);

    return sdv_fs_write_atomic(path, text, (size_t)n, 0644);
}

static int run(const struct server_config *cfg, const struct sdv_log *log, const char *port_file)
{
    struct server srv;
    struct sdv_httpd_config hc = {0};
    struct timer timer;
    sigset_t stop_set;
    char msg[1024];
    unsigned threads = cfg->threads ? cfg->threads : SDV_HTTPD_THREADS_DEFAULT;
    int sig = 0, rc = 1;
    bool timer_running = false;
    enum sdv_err err;

    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);

    /* One store handle per HTTP thread, one for the timer. */
    err = server_init(&srv, cfg, log, threads + 1, msg, sizeof(msg));
    if (err != SDV_OK) {
        fprintf(stderr, "sdv-server: %s: %s\n", cfg->path, msg);
        goto out;
    }
    if (server_image_refresh(&srv, server_now(), msg, sizeof(msg)) != SDV_OK)
        sdv_logf(log, SDV_LOG_WARN, "%s (assignments fail until it verifies)", msg);

    hc.bind_addr = cfg->listen_address;
    hc.port = cfg->port;
    hc.threads = threads;
    hc.connections_max = cfg->connections_max;
    hc.log = *log;
    hc.clock = mono_ms;
    if (cfg->tls_cert_pem != NULL) {
        hc.auth = SDV_HTTPD_AUTH_MTLS;
        hc.tls_cert_pem = cfg->tls_cert_pem;
        hc.tls_key_pem = cfg->tls_key_pem;
        hc.tls_client_ca_pem = cfg->tls_device_ca_pem;
    } else if (cfg->proxy_count > 0) {
        hc.auth = SDV_HTTPD_AUTH_PROXY;
        hc.proxies = (const char *const *)cfg->proxies;
        hc.proxies_len = cfg->proxy_count;
        hc.proxy_header = cfg->proxy_header;
    } else {
        hc.auth = SDV_HTTPD_AUTH_NONE;
        sdv_logf(log, SDV_LOG_WARN,
                 "neither \"tls\" nor \"proxy\" is configured: vehicle "
                 "endpoints answer 403 to everyone");
    }
    err = sdv_httpd_create(&hc, &srv.httpd);
    if (err == SDV_OK)
        err = server_routes_add(&srv);
    if (err == SDV_OK)
        err = sdv_httpd_start(srv.httpd);
    if (err != SDV_OK) {
        fprintf(stderr, "sdv-server: cannot serve on %s port %u: %s\n", cfg->listen_address,
                (unsigned)cfg->port, sdv_strerror(err));
        goto out;
    }
    sdv_logf(log, SDV_LOG_INFO, "listening on %s port %u (%s)", cfg->listen_address,
             (unsigned)sdv_httpd_port(srv.httpd),
             hc.auth == SDV_HTTPD_AUTH_MTLS    ? "HTTPS, vehicles by client certificate"
             : hc.auth == SDV_HTTPD_AUTH_PROXY ? "HTTP behind a TLS-terminating proxy"
                                               : "HTTP, no vehicle authentication");
    if (port_file != NULL) {
        err = write_port_file(port_file, sdv_httpd_port(srv.httpd));
        if (err != SDV_OK) {
            fprintf(stderr, "sdv-server: cannot write %s: %s\n", port_file, sdv_strerror(err));
            goto out;
        }
    }
    if (timer_start(&timer, &srv) != 0) {
        fprintf(stderr, "sdv-server: cannot start the renewal thread\n");
        goto out;
    }
    timer_running = true;

    while (sigwait(&stop_set, &sig) != 0)
        ;
    sdv_logf(log, SDV_LOG_INFO, "%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rc = 0;
out:
    if (timer_running)
        timer_stop(&timer);
    if (srv.httpd != NULL && sdv_httpd_shutdown(srv.httpd, cfg->drain_ms) == SDV_ELIMIT)
        sdv_logf(log, SDV_LOG_WARN, "shutdown: requests still running were cut off");
    sdv_httpd_destroy(srv.httpd);
    srv.httpd = NULL;
    server_fini(&srv);
    if (rc == 0)
        sdv_logf(log, SDV_LOG_INFO, "stopped");
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"check", no_argument, NULL, 'C'},
            {"port-file", required_argument, NULL, 'p'},
            {"verbose", no_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    struct server_config cfg;
    struct sdv_log log = {log_stderr, NULL, SDV_LOG_INFO};
    const char *config = NULL, *port_file = NULL;
    sigset_t stop_set;
    char msg[1024];
    bool check = false;
    int c, rc;

    (void)sdv_store_process_init();
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'C':
            check = true;
            break;
        case 'p':
            port_file = optarg;
            break;
        case 'v':
            log.level = SDV_LOG_DEBUG;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (config == NULL || optind != argc) {
        usage(stderr);
        return 1;
    }
    /* Before any thread exists, so that every thread inherits the mask. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);

    if (server_config_load(config, &cfg, msg, sizeof(msg)) != SDV_OK) {
        fprintf(stderr, "sdv-server: %s: %s\n", config, msg);
        return 1;
    }
    if (check) {
        struct server srv;
        enum sdv_err err = server_init(&srv, &cfg, &log, 0, msg, sizeof(msg));

        if (err != SDV_OK)
            fprintf(stderr, "sdv-server: %s: %s\n", config, msg);
        else
            printf("sdv-server: %s: configuration is valid\n", config);
        server_fini(&srv);
        server_config_free(&cfg);
        return err == SDV_OK ? 0 : 1;
    }
    rc = run(&cfg, &log, port_file);
    server_config_free(&cfg);
    return rc;
}
