/*
 * secondary_slot.c - A/B slots of a secondary ECU through lib/install with the file-backed
 * bootloader: the verified image goes into the inactive slot, is read back, activated, and the
 * simulated ECU reboots into it at once (sdv_install_boot_sim), runs its health check and
 * commits or rolls back, reporting the outcome in the INSTALL result.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secondary.h"

enum sdv_err sec_slot_open(struct sec_ctx *ctx, int64_t (*now)(void *), char *errmsg,
                           size_t errmsg_len)
{
    struct sdv_install_env env;
    struct sdv_install_boot_report br;
    struct sdv_buf raw;
    char dir[SEC_PATH_LEN_MAX + 1], state[SEC_PATH_LEN_MAX + 16], why[512] = "";
    const char *slash = strrchr(ctx->cfg->install, '/');
    enum sdv_err err;

    snprintf(dir, sizeof(dir), "%.*s", slash != NULL ? (int)(slash - ctx->cfg->install) : 1,
             slash != NULL ? ctx->cfg->install : ".");
    sdv_buf_init(&raw, SDV_INSTALL_CONFIG_LEN_MAX);
    err = sdv_fs_read(ctx->cfg->install, &raw);
    if (err == SDV_OK)
        err = sdv_install_config_parse_text(raw.data, raw.len, dir, &ctx->install_cfg, why,
                                            sizeof(why));
    sdv_buf_free(&raw);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "install %s: %s", ctx->cfg->install,
                 why[0] ? why : sdv_strerror(err));
        return err;
    }
    snprintf(state, sizeof(state), "%s/install", ctx->cfg->state_dir);
    memset(&env, 0, sizeof(env));
    env.state_dir = state;
    env.ecu = ctx->cfg->serial;
    env.now = now;
    env.log = ctx->log;
    err = sdv_install_create(ctx->install_cfg, &env, &ctx->inst, why, sizeof(why));
    if (err == SDV_OK)
        err = sdv_install_boot(ctx->inst, &br);
    if (err != SDV_OK) {
        snprintf(errmsg, errmsg_len, "A/B installer: %s",
                 why[0]              ? why
                 : ctx->inst != NULL ? sdv_install_errmsg(ctx->inst)
                                     : sdv_strerror(err));
        return err;
    }
    if (br.event == SDV_INSTALL_EVENT_ROLLED_BACK)
        sdv_logf(&ctx->log, SDV_LOG_WARN, "%s rolled back: %s", br.version, br.reason);
    sdv_logf(&ctx->log, SDV_LOG_INFO, "A/B slots: booted slot %s", br.booted);
    return SDV_OK;
}

void sec_slot_close(struct sec_ctx *ctx)
{
    sdv_install_destroy(ctx->inst);
    sdv_install_config_destroy(ctx->install_cfg);
    ctx->inst = NULL;
    ctx->install_cfg = NULL;
}

/* A simulated reboot followed by the boot verdict. */
static enum sdv_err reboot(struct sec_ctx *ctx, struct sdv_install_boot_report *br, char *why,
                           size_t why_len)
{
    char booted[SDV_INSTALL_NAME_LEN_MAX + 1];
    int degraded = 0;
    enum sdv_err err =
            sdv_install_boot_sim(ctx->install_cfg, booted, sizeof(booted), &degraded, why, why_len);

    if (err != SDV_OK)
        return err;
    sdv_logf(&ctx->log, SDV_LOG_INFO, "simulated reboot into slot %s", booted);
    err = sdv_install_boot(ctx->inst, br);
    if (err != SDV_OK)
        snprintf(why, why_len, "boot verdict: %s", sdv_install_errmsg(ctx->inst));
    return err;
}

static enum sdv_err write_slot(struct sec_ctx *ctx, const char *path, char *why, size_t why_len)
{
    uint8_t buf[SDV_ECU_LINK_CHUNK_LEN_MAX];
    uint64_t offset = 0;
    int refused = 0, fd;
    enum sdv_err err = sdv_install_write_open(ctx->inst, 0, NULL, &offset, &refused);

    if (err == SDV_OK && refused) {
        snprintf(why, why_len, "not safe to update: %s", sdv_install_errmsg(ctx->inst));
        return SDV_EDENIED;
    }
    if (err != SDV_OK)
        return err;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sdv_err_from_errno(errno);
    err = sdv_fs_read_fd(fd, buf, sizeof(buf), sdv_install_sink, ctx->inst);
    close(fd);
    if (err == SDV_OK)
        err = sdv_install_write_close(ctx->inst);
    return err;
}

enum sdv_err sec_slot_install(struct sec_ctx *ctx, const char *path, const struct sec_image *img,
                              char *why, size_t why_len)
{
    struct sdv_install_status st;
    struct sdv_install_image im;
    struct sdv_install_boot_report br;
    char version[SDV_INSTALL_VERSION_LEN_MAX + 1];
    int refused = 0;
    enum sdv_err err;

    why[0] = '\0';
    memset(&im, 0, sizeof(im));
    snprintf(version, sizeof(version), "%.*s", (int)SDV_INSTALL_VERSION_LEN_MAX, img->filepath);
    err = sdv_install_status(ctx->inst, &st);
    if (err == SDV_OK && st.state == SDV_INSTALL_ROLLED_BACK && strcmp(st.version, version) == 0) {
        /* Not again: the primary offers it until the director assigns another image. */
        snprintf(why, why_len, "%s rolled back on this ECU before (%s); waiting for a new image",
                 version, st.reason);
        return SDV_EREJECTED;
    }
    for (size_t i = 0; err == SDV_OK && i < st.slot_count && im.group == NULL; i++)
        if (st.slots[i].bootname[0] != '\0')
            im.group = st.slots[i].group;
    for (size_t i = 0; i < img->hash_count; i++)
        if (img->hashes[i].alg == SDV_HASH_SHA256)
            memcpy(im.sha256, img->hashes[i].digest, 32);
    im.length = img->length;
    if (err == SDV_OK && (st.state == SDV_INSTALL_DOWNLOADING || st.state == SDV_INSTALL_WRITING ||
                          st.state == SDV_INSTALL_WRITTEN))
        err = sdv_install_abort(ctx->inst, "superseded by a new image from the primary");
    if (err == SDV_OK)
        err = sdv_install_begin(ctx->inst, version, &im, 1);
    if (err == SDV_OK)
        err = write_slot(ctx, path, why, why_len);
    if (err == SDV_OK)
        err = sdv_install_activate(ctx->inst, &refused);
    if (err == SDV_OK && refused) {
        snprintf(why, why_len, "not safe to update: %s", sdv_install_errmsg(ctx->inst));
        err = SDV_EDENIED;
    }
    if (err != SDV_OK) {
        if (why[0] == '\0')
            snprintf(why, why_len, "%s",
                     sdv_install_errmsg(ctx->inst)[0] ? sdv_install_errmsg(ctx->inst)
                                                      : sdv_strerror(err));
        if (sdv_install_status(ctx->inst, &st) == SDV_OK && st.state != SDV_INSTALL_IDLE &&
            st.state < SDV_INSTALL_ACTIVATED)
            sdv_install_abort(ctx->inst, why);
        return err;
    }
    err = reboot(ctx, &br, why, why_len);
    if (err == SDV_OK && br.event == SDV_INSTALL_EVENT_TRIAL)
        err = sdv_install_mark_good(ctx->inst); /* no health check configured */
    if (err != SDV_OK)
        return err;
    if (br.event == SDV_INSTALL_EVENT_ROLLED_BACK) {
        snprintf(why, why_len, "rolled back: %s", br.reason);
        if (br.reboot_required)
            err = reboot(ctx, &br, why, why_len);
        return err == SDV_OK ? SDV_EREJECTED : err;
    }
    snprintf(why, why_len, "committed in slot %s", br.booted);
    return SDV_OK;
}

struct log_window {
    char **lines;
    size_t count;
    size_t bytes;
};

/* Keeps the newest records that fit: drops the oldest while the window is too full. */
static enum sdv_err log_keep(void *ud, uint64_t seq, const char *json, size_t len)
{
    struct log_window *w = ud;

    (void)seq;
    if (len > SEC_REPORT_LOG_BYTES_MAX)
        return SDV_OK; /* a record this large never fits a report */
    while (w->count > 0 &&
           (w->count == SDV_UPTANE_INSTALL_LOG_MAX || w->bytes + len > SEC_REPORT_LOG_BYTES_MAX)) {
        w->bytes -= strlen(w->lines[0]);
        free(w->lines[0]);
        memmove(w->lines, w->lines + 1, (w->count - 1) * sizeof(*w->lines));
        w->count--;
    }
    w->lines[w->count] = strndup(json, len);
    if (w->lines[w->count] == NULL)
        return SDV_ENOMEM;
    w->bytes += len;
    w->count++;
    return SDV_OK;
}

enum sdv_err sec_slot_log_recent(struct sec_ctx *ctx, char **lines, size_t *count)
{
    struct log_window w = {lines, 0, 0};
    uint64_t records = 0;
    char why[256] = "";
    enum sdv_err err;

    *count = 0;
    err = sdv_install_log_verify(sdv_install_log_path(ctx->inst), &records, why, sizeof(why));
    if (err == SDV_OK)
        err = sdv_install_log_read(
                sdv_install_log_path(ctx->inst),
                records > SDV_UPTANE_INSTALL_LOG_MAX ? records - SDV_UPTANE_INSTALL_LOG_MAX + 1 : 1,
                log_keep, &w, why, sizeof(why));
    if (err != SDV_OK) {
        sdv_logf(&ctx->log, SDV_LOG_ERROR, "install log: %s", why[0] ? why : sdv_strerror(err));
        for (size_t i = 0; i < w.count; i++)
            free(lines[i]);
        return err;
    }
    *count = w.count;
    return SDV_OK;
}
