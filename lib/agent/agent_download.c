/*
 * agent_download.c - image downloads that survive kill -9: the partial file is the progress,
 * each attempt resumes from its size with an HTTP Range request, with bounded attempts and
 * exponential backoff in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_int.h"

struct part_sink {
    int fd;
};

static enum sdv_err part_write(void *ud, const void *data, size_t len)
{
    struct part_sink *s = ud;

    return sdv_fs_write_all(s->fd, data, len);
}

/* Opens path for appending; *size gets its length. A file longer than length, or restart,
 * is truncated to 0. */
static enum sdv_err part_open(const char *path, uint64_t length, int restart, int *fd_out,
                              uint64_t *size)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd < 0)
        return sdv_err_from_errno(errno);
    if (fstat(fd, &st) != 0) {
        enum sdv_err err = sdv_err_from_errno(errno);

        close(fd);
        return err;
    }
    *size = (uint64_t)st.st_size;
    if (restart || *size > length) {
        if (ftruncate(fd, 0) != 0) {
            enum sdv_err err = sdv_err_from_errno(errno);

            close(fd);
            return err;
        }
        *size = 0;
    }
    *fd_out = fd;
    return SDV_OK;
}

enum sdv_err sdv_agent_download(const struct sdv_agent_config *cfg, const char *url,
                                const char *path, uint64_t length, char *errmsg, size_t errmsg_len)
{
    unsigned attempts = cfg->download_attempts > 0 ? cfg->download_attempts : 5;
    uint32_t backoff = cfg->backoff_ms > 0 ? cfg->backoff_ms : 1000;
    uint32_t backoff_max = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 30000;
    enum sdv_err err = SDV_ENET;
    int restart = 0;

    for (unsigned attempt = 1; attempt <= attempts; attempt++) {
        struct part_sink s = {-1};
        uint64_t size = 0;

        err = part_open(path, length, restart, &s.fd, &size);
        if (err != SDV_OK) {
            if (errmsg != NULL)
                sdv_msgf(errmsg, errmsg_len, "%s: %s", path, sdv_strerror(err));
            return err;
        }
        restart = 0;
        if (size == length) {
            close(s.fd);
            return SDV_OK;
        }
        sdv_logf(&cfg->log, SDV_LOG_INFO, "download %s: attempt %u of %u from byte %llu", url,
                 attempt, attempts, (unsigned long long)size);
        err = cfg->fetch_range(cfg->transport_ud, url, size, length, part_write, &s);
        /* What arrived is progress: make it durable before deciding anything. */
        if (fsync(s.fd) != 0 && err == SDV_OK)
            err = sdv_err_from_errno(errno);
        if (err == SDV_OK) {
            struct stat st;

            if (fstat(s.fd, &st) != 0)
                err = sdv_err_from_errno(errno);
            else if ((uint64_t)st.st_size != length)
                err = SDV_ENET; /* the body ended early: resume on the next attempt */
        }
        close(s.fd);
        if (err == SDV_OK)
            return SDV_OK;
        if (errmsg != NULL)
            sdv_msgf(errmsg, errmsg_len, "download of %s failed (attempt %u of %u): %s", url,
                     attempt, attempts, sdv_strerror(err));
        if (err == SDV_EUNSUPPORTED) {
            /* The server cannot continue where the partial file ends: start over at once. */
            restart = 1;
            continue;
        }
        /* A transfer below the minimum speed may be a slow-retrieval attack or a bad link:
         * retry within the bound, and report SDV_ESLOW (an attack) if it persists. */
        if (err != SDV_ENET && err != SDV_ESLOW)
            return err; /* not found, too big, local failure: retrying cannot help */
        if (attempt < attempts) {
            sdv_logf(&cfg->log, SDV_LOG_WARN, "%s; retrying in %u ms", errmsg ? errmsg : url,
                     (unsigned)backoff);
            if (cfg->sleep != NULL && cfg->sleep(cfg->sleep_ud, backoff) != 0)
                return err;
            backoff = backoff > backoff_max / 2 ? backoff_max : backoff * 2;
        }
    }
    return err;
}
