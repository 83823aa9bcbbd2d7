/*
 * sdv_cmd_tuf_client.c - `sdv tuf-client`: the TUF client interface that conformance tooling
 * drives. Options come before the command; exit 0 on full success, 1 on any failure.
 *
 *   sdv tuf-client --metadata-dir DIR init TRUSTED_ROOT_FILE
 *   sdv tuf-client --metadata-url URL --metadata-dir DIR refresh
 *   sdv tuf-client --metadata-url URL --metadata-dir DIR --target-name NAME [--target-name ...]
 *                  --target-dir TDIR --target-base-url TURL download
 *   --header 'Name: value' (repeatable) adds a request header, e.g. the vehicle identity a
 *   trusted proxy would forward to sdv-server.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sdv/limits.h>
#include <sdv/net.h>
#include <sdv/tuf.h>

#include "sdv_cmds.h"

#define TARGET_NAMES_MAX 1024
#define HEADERS_MAX      16

/* Base URLs are joined with file names, so they must end with '/'; add it when missing. */
static char *with_slash(const char *url)
{
    size_t n = strlen(url);
    char *out = malloc(n + 2);

    if (out == NULL)
        return NULL;
    memcpy(out, url, n + 1);
    if (n == 0 || url[n - 1] != '/') {
        out[n] = '/';
        out[n + 1] = '\0';
    }
    return out;
}

static void log_stderr(void *ud, enum sdv_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};

    (void)ud;
    fprintf(stderr, "sdv tuf-client: %s: %s\n", names[level], msg);
}

static void usage(FILE *f)
{
    fputs("usage: sdv tuf-client [OPTIONS] init TRUSTED_ROOT_FILE\n"
          "       sdv tuf-client [OPTIONS] refresh\n"
          "       sdv tuf-client [OPTIONS] download\n"
          "\n"
          "options:\n"
          "  --metadata-dir DIR       trusted metadata directory (required)\n"
          "  --metadata-url URL       metadata base URL, ending with '/' (refresh, download)\n"
          "  --target-name NAME       target to download (repeatable)\n"
          "  --target-dir DIR         where downloaded targets are stored\n"
          "  --target-base-url URL    targets base URL, ending with '/'\n"
          "  --max-root-rotations N   root versions followed in one refresh (default 256)\n"
          "  --header 'NAME: VALUE'   extra request header (repeatable)\n"
          "  -v, --verbose            log each step to stderr\n",
          f);
}

static int cmd_init(const char *metadata_dir, const char *root_file)
{
    struct sdv_buf raw;
    char msg[1024];
    enum sdv_err err;

    sdv_buf_init(&raw, SDV_TUF_ROOT_MAX_LEN);
    err = sdv_fs_read(root_file, &raw);
    if (err != SDV_OK) {
        fprintf(stderr, "sdv tuf-client: init: cannot read trusted root %s: %s\n", root_file,
                sdv_strerror(err));
        sdv_buf_free(&raw);
        return 1;
    }
    err = sdv_tuf_client_init_root(metadata_dir, raw.data, raw.len, msg, sizeof(msg));
    sdv_buf_free(&raw);
    if (err != SDV_OK) {
        fprintf(stderr, "sdv tuf-client: init: %s: %s\n", root_file, msg);
        return 1;
    }
    return 0;
}

int sdv_cmd_tuf_client(int argc, char **argv)
{
    static const struct option opts[] = {
            {"metadata-dir", required_argument, NULL, 'd'},
            {"metadata-url", required_argument, NULL, 'u'},
            {"target-name", required_argument, NULL, 'n'},
            {"target-dir", required_argument, NULL, 't'},
            {"target-base-url", required_argument, NULL, 'b'},
            {"max-root-rotations", required_argument, NULL, 'r'},
            {"header", required_argument, NULL, 'H'},
            {"verbose", no_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    struct sdv_tuf_client_config cfg = {0};
    const char *names[TARGET_NAMES_MAX], *headers[HEADERS_MAX];
    size_t name_count = 0, header_count = 0;
    const char *target_dir = NULL, *target_base_url = NULL, *command;
    struct sdv_tuf_client *client = NULL;
    struct sdv_net *net = NULL;
    char *metadata_url = NULL, *base_url = NULL;
    char msg[1024];
    enum sdv_err err;
    int c, rc = 1;

    cfg.log.fn = log_stderr;
    cfg.log.level = SDV_LOG_ERROR;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            cfg.metadata_dir = optarg;
            break;
        case 'u':
            cfg.metadata_url = optarg;
            break;
        case 'n':
            if (name_count == TARGET_NAMES_MAX) {
                fprintf(stderr, "sdv tuf-client: more than %d --target-name options\n",
                        TARGET_NAMES_MAX);
                return 1;
            }
            names[name_count++] = optarg;
            break;
        case 'H':
            if (header_count == HEADERS_MAX) {
                fprintf(stderr, "sdv tuf-client: more than %d --header options\n", HEADERS_MAX);
                return 1;
            }
            headers[header_count++] = optarg;
            break;
        case 't':
            target_dir = optarg;
            break;
        case 'b':
            target_base_url = optarg;
            break;
        case 'r': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);

            if (*end != '\0' || v == 0 || v > 100000) {
                fprintf(stderr, "sdv tuf-client: --max-root-rotations: bad number \"%s\"\n",
                        optarg);
                return 1;
            }
            cfg.root_rotations_max = (unsigned)v;
            break;
        }
        case 'v':
            cfg.log.level = SDV_LOG_DEBUG;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind != argc - 1 && !(optind == argc - 2 && strcmp(argv[optind], "init") == 0)) {
        fprintf(stderr, "sdv tuf-client: expected one command (init FILE, refresh, download)\n");
        usage(stderr);
        return 1;
    }
    command = argv[optind];
    if (cfg.metadata_dir == NULL) {
        fprintf(stderr, "sdv tuf-client: --metadata-dir is required\n");
        return 1;
    }
    if (strcmp(command, "init") == 0) {
        if (optind != argc - 2) {
            fprintf(stderr, "sdv tuf-client: init needs the trusted root file\n");
            return 1;
        }
        return cmd_init(cfg.metadata_dir, argv[optind + 1]);
    }
    if (strcmp(command, "refresh") != 0 && strcmp(command, "download") != 0) {
        fprintf(stderr, "sdv tuf-client: unknown command \"%s\"\n", command);
        usage(stderr);
        return 1;
    }
    if (cfg.metadata_url == NULL) {
        fprintf(stderr, "sdv tuf-client: %s needs --metadata-url\n", command);
        return 1;
    }
    if (strcmp(command, "download") == 0 &&
        (target_dir == NULL || target_base_url == NULL || name_count == 0)) {
        fprintf(stderr, "sdv tuf-client: download needs --target-name, --target-dir and "
                        "--target-base-url\n");
        return 1;
    }

    metadata_url = with_slash(cfg.metadata_url);
    base_url = target_base_url != NULL ? with_slash(target_base_url) : NULL;
    if (metadata_url == NULL || (target_base_url != NULL && base_url == NULL)) {
        fprintf(stderr, "sdv tuf-client: out of memory\n");
        goto out;
    }
    cfg.metadata_url = metadata_url;
    target_base_url = base_url;
    err = sdv_net_create(NULL, &net);
    if (err != SDV_OK) {
        fprintf(stderr, "sdv tuf-client: cannot set up HTTP: %s\n", sdv_strerror(err));
        goto out;
    }
    for (size_t i = 0; i < header_count; i++) {
        err = sdv_net_add_header(net, headers[i]);
        if (err != SDV_OK) {
            fprintf(stderr, "sdv tuf-client: --header \"%s\": %s\n", headers[i],
                    err == SDV_EINVAL ? "expected 'Name: value' on one line" : sdv_strerror(err));
            goto out;
        }
    }
    cfg.fetch = sdv_net_fetch;
    cfg.fetch_ud = net;
    cfg.now = (int64_t)time(NULL);
    err = sdv_tuf_client_create(&cfg, &client, msg, sizeof(msg));
    if (err != SDV_OK) {
        fprintf(stderr, "sdv tuf-client: %s\n", msg);
        goto out;
    }
    err = sdv_tuf_client_refresh(client);
    if (err != SDV_OK) {
        fprintf(stderr, "sdv tuf-client: refresh failed: %s\n", sdv_tuf_client_errmsg(client));
        if (sdv_net_errmsg(net)[0] != '\0' && (err == SDV_ENET))
            fprintf(stderr, "sdv tuf-client: %s\n", sdv_net_errmsg(net));
        goto out;
    }
    for (size_t i = 0; i < name_count && strcmp(command, "download") == 0; i++) {
        struct sdv_tuf_target target;
        int downloaded = 0;

        err = sdv_tuf_client_find_target(client, names[i], &target);
        if (err == SDV_OK)
            err = sdv_tuf_client_download_target(client, &target, target_dir, target_base_url,
                                                 &downloaded);
        if (err != SDV_OK) {
            fprintf(stderr, "sdv tuf-client: download of \"%s\" failed: %s\n", names[i],
                    sdv_tuf_client_errmsg(client));
            goto out;
        }
        if (cfg.log.level >= SDV_LOG_INFO)
            fprintf(stderr, "sdv tuf-client: %s: %s\n", names[i],
                    downloaded ? "downloaded and verified" : "already present and verified");
    }
    rc = 0;
out:
    sdv_tuf_client_destroy(client);
    sdv_net_destroy(net);
    free(metadata_url);
    free(base_url);
    return rc;
}
