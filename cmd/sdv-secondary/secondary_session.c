/*
 * secondary_session.c - one primary connection: answers HELLO with INFO, collects METADATA,
 * verifies it when an image is announced (IMAGE_BEGIN), streams the image to
 * STATE_DIR/image.part while hashing it, checks length and hashes (IMAGE_END), installs it
 * into the slot (INSTALL) and signs version reports (VERSION_REPORT_REQUEST).
 *
 * The primary is not trusted: every refusal that a compromised primary or repository could
 * cause (bad signatures, wrong hardware id, rollback, a tampered or oversized image) is
 * remembered as attack_detected and reported in the next version report; nothing is installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/tuf.h>

#include "secondary.h"

enum image_state { IMG_NONE, IMG_RECEIVING, IMG_STAGED };

struct session {
    struct sec_ctx *ctx;
    struct sdv_ecu_link_conn *conn;
    struct sec_meta_set meta;
    struct sdv_uptane_target target; /* the verified director target of this ECU */
    enum image_state img;
    int part_fd;
    uint64_t received;
    struct sdv_hash *hashes[SDV_TUF_TARGET_HASHES_MAX];
    char part_path[SEC_PATH_LEN_MAX + 32];
    char staged_path[SEC_PATH_LEN_MAX + 32];
    struct sdv_buf scratch; /* key JSON, reports */
};

/* What a handler tells the loop. */
enum next { NEXT_CONTINUE, NEXT_CLOSE };

static enum next send_result(struct session *s, enum sdv_err status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static enum next send_result(struct session *s, enum sdv_err status, const char *fmt, ...)
{
    struct sdv_ecu_link_msg m;
    va_list ap;

    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_RESULT);
    m.status = (uint32_t)status;
    va_start(ap, fmt);
    vsnprintf(m.text, sizeof(m.text), fmt, ap);
    va_end(ap);
    if (status != SDV_OK)
        sdv_logf(&s->ctx->log, SDV_LOG_WARN, "refused: %s: %s", sdv_errname(status), m.text);
    if (sdv_ecu_link_conn_send(s->conn, &m) != SDV_OK) {
        sdv_logf(&s->ctx->log, SDV_LOG_WARN, "cannot answer the primary: %s",
                 sdv_ecu_link_conn_errmsg(s->conn));
        return NEXT_CLOSE;
    }
    return NEXT_CONTINUE;
}

/* Remembers an attack for the next version report (persisted: a restart does not forget). */
static void record_attack(struct session *s, const char *what)
{
    struct sec_state *st = s->ctx->st;
    enum sdv_err err;

    snprintf(st->attack_detected, sizeof(st->attack_detected), "%s", what);
    err = sec_state_save(s->ctx->cfg, st);
    sdv_logf(&s->ctx->log, SDV_LOG_WARN, "attack detected: %s%s%s", what,
             err != SDV_OK ? "; cannot save it: " : "", err != SDV_OK ? sdv_strerror(err) : "");
}

static void image_drop(struct session *s)
{
    if (s->part_fd >= 0)
        close(s->part_fd);
    s->part_fd = -1;
    for (size_t i = 0; i < SDV_TUF_TARGET_HASHES_MAX; i++) {
        sdv_hash_destroy(s->hashes[i]);
        s->hashes[i] = NULL;
    }
    if (s->img != IMG_NONE) {
        unlink(s->part_path);
        unlink(s->staged_path);
    }
    s->img = IMG_NONE;
    s->received = 0;
}

/* ---- Handlers ------------------------------------------------------------------------- */

static enum next on_hello(struct session *s)
{
    struct sdv_ecu_link_msg m;
    json_t *key = NULL;
    char *text = NULL;
    enum sdv_err err;

    err = sdv_key_to_tuf(s->ctx->key, &key);
    if (err == SDV_OK) {
        text = json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS);
        err = text == NULL ? SDV_ENOMEM : SDV_OK;
    }
    json_decref(key);
    if (err != SDV_OK) {
        free(text);
        return send_result(s, err, "cannot describe the ECU key");
    }
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_INFO);
    m.mode = s->ctx->cfg->mode;
    snprintf(m.serial, sizeof(m.serial), "%s", s->ctx->cfg->serial);
    snprintf(m.hardware_id, sizeof(m.hardware_id), "%s", s->ctx->cfg->hardware_id);
    m.data = (const uint8_t *)text;
    m.data_len = strlen(text);
    err = sdv_ecu_link_conn_send(s->conn, &m);
    free(text);
    return err == SDV_OK ? NEXT_CONTINUE : NEXT_CLOSE;
}

static enum next on_metadata(struct session *s, const struct sdv_ecu_link_msg *m)
{
    enum sdv_err err = sec_meta_put(&s->meta, m->repo, m->name, m->data, m->data_len);

    if (err != SDV_OK)
        return send_result(s, err, "%s metadata %s not kept: session limit (%u files, %u bytes)",
                           sdv_ecu_link_repo_name(m->repo), m->name, SDV_ECU_LINK_SESSION_FILES_MAX,
                           SDV_ECU_LINK_SESSION_METADATA_LEN_MAX);
    return send_result(s, SDV_OK, "%s %s kept", sdv_ecu_link_repo_name(m->repo), m->name);
}

static enum next on_image_begin(struct session *s, const struct sdv_ecu_link_msg *m)
{
    struct sec_ctx *ctx = s->ctx;
    char why[SDV_UPTANE_ATTACK_LEN_MAX + 1];
    int64_t now = ctx->now();
    enum sdv_err err;

    image_drop(s);
    err = sec_verify(ctx->cfg, ctx->st, &s->meta, now, &ctx->log, &s->target, why, sizeof(why));
    if (err == SDV_OK && strcmp(m->name, s->target.filepath) != 0) {
        snprintf(why, sizeof(why),
                 "ECU %s: the primary offered \"%.300s\", the director assigns "
                 "\"%.300s\"",
                 ctx->cfg->serial, m->name, s->target.filepath);
        err = SDV_EINVAL;
    }
    if (err == SDV_OK && m->length != s->target.length) {
        snprintf(why, sizeof(why),
                 "ECU %s: the primary offered %llu bytes of \"%.300s\", the director says %llu",
                 ctx->cfg->serial, (unsigned long long)m->length, m->name,
                 (unsigned long long)s->target.length);
        err = SDV_EHASH;
    }
    if (err != SDV_OK) {
        /* Metadata the primary did not send is a broken or withholding primary, which Uptane
         * cannot prevent; everything else is a refusal of something signed or offered. */
        if (err != SDV_ENOENT)
            record_attack(s, why);
        return send_result(s, err, "%s", why);
    }
    ctx->st->latest_verified_time = now;
    err = sec_state_save(ctx->cfg, ctx->st);
    for (size_t i = 0; err == SDV_OK && i < s->target.hash_count; i++)
        err = sdv_hash_create(s->target.hashes[i].alg, &s->hashes[i]);
    if (err == SDV_OK) {
        s->part_fd = open(s->part_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (s->part_fd < 0)
            err = sdv_err_from_errno(errno);
    }
    if (err != SDV_OK) {
        image_drop(s);
        return send_result(s, err, "cannot prepare to receive \"%s\"", m->name);
    }
    s->img = IMG_RECEIVING;
    return send_result(s, SDV_OK, "ready for \"%s\" (%llu bytes)", m->name,
                       (unsigned long long)m->length);
}

static enum next on_image_data(struct session *s, const struct sdv_ecu_link_msg *m)
{
    enum sdv_err err = SDV_OK;

    if (s->img != IMG_RECEIVING) {
        send_result(s, SDV_EINVAL, "IMAGE_DATA without IMAGE_BEGIN");
        return NEXT_CLOSE;
    }
    if (m->data_len > s->target.length - s->received) {
        char why[256];

        snprintf(why, sizeof(why), "ECU %s: the primary sent more than the %llu bytes of \"%.64s\"",
                 s->ctx->cfg->serial, (unsigned long long)s->target.length, s->target.filepath);
        image_drop(s);
        record_attack(s, why);
        send_result(s, SDV_ETOOBIG, "%s", why);
        return NEXT_CLOSE;
    }
    err = sdv_fs_write_all(s->part_fd, m->data, m->data_len);
    for (size_t i = 0; err == SDV_OK && i < s->target.hash_count; i++)
        err = sdv_hash_update(s->hashes[i], m->data, m->data_len);
    if (err != SDV_OK) {
        image_drop(s);
        send_result(s, err, "cannot store the image: %s", sdv_strerror(err));
        return NEXT_CLOSE;
    }
    s->received += m->data_len;
    return NEXT_CONTINUE;
}

static enum next on_image_end(struct session *s)
{
    const struct sdv_uptane_target *t = &s->target;
    char why[512];
    enum sdv_err err = SDV_OK;

    if (s->img != IMG_RECEIVING)
        return send_result(s, SDV_EINVAL, "IMAGE_END without IMAGE_BEGIN");
    if (s->received != t->length) {
        snprintf(why, sizeof(why), "ECU %s: \"%.200s\" is %llu bytes, the primary sent %llu",
                 s->ctx->cfg->serial, t->filepath, (unsigned long long)t->length,
                 (unsigned long long)s->received);
        image_drop(s);
        record_attack(s, why);
        return send_result(s, SDV_EHASH, "%s", why);
    }
    for (size_t i = 0; i < t->hash_count; i++) {
        uint8_t digest[SDV_HASH_LEN_MAX];

        err = sdv_hash_final(s->hashes[i], digest);
        if (err != SDV_OK)
            break;
        if (memcmp(digest, t->hashes[i].digest, sdv_hash_len(t->hashes[i].alg)) != 0) {
            snprintf(why, sizeof(why),
                     "ECU %s: the image \"%.200s\" from the primary has the wrong %s hash "
                     "(tampered)",
                     s->ctx->cfg->serial, t->filepath, sdv_hash_alg_name(t->hashes[i].alg));
            image_drop(s);
            record_attack(s, why);
            return send_result(s, SDV_EHASH, "%s", why);
        }
    }
    if (err == SDV_OK && fsync(s->part_fd) != 0)
        err = sdv_err_from_errno(errno);
    if (err == SDV_OK && rename(s->part_path, s->staged_path) != 0)
        err = sdv_err_from_errno(errno);
    if (err != SDV_OK) {
        image_drop(s);
        return send_result(s, err, "cannot keep the image: %s", sdv_strerror(err));
    }
    close(s->part_fd);
    s->part_fd = -1;
    s->img = IMG_STAGED;
    return send_result(s, SDV_OK, "\"%s\" received and verified", t->filepath);
}

/* Copies the staged image next to the slot and checks it there: the copy is what the rename
 * makes the slot, so it is the copy that must match. */
static enum sdv_err copy_to(const char *from, const char *to, const struct sec_image *img)
{
    uint8_t buf[SDV_ECU_LINK_CHUNK_LEN_MAX];
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    enum sdv_err err = SDV_OK;

    if (in < 0)
        return sdv_err_from_errno(errno);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        err = sdv_err_from_errno(errno);
        close(in);
        return err;
    }
    err = sdv_fs_read_fd(in, buf, sizeof(buf), sdv_fs_sink_fd, &out);
    if (err == SDV_OK && fsync(out) != 0)
        err = sdv_err_from_errno(errno);
    close(out);
    close(in);
    if (err == SDV_OK)
        err = sec_image_check_file(img, to);
    return err;
}

static enum next on_install(struct session *s, const struct sdv_ecu_link_msg *m)
{
    struct sec_ctx *ctx = s->ctx;
    struct sec_state *st = ctx->st;
    const char *slash = strrchr(ctx->cfg->slot, '/');
    char tmp[SEC_PATH_LEN_MAX + 300];
    struct sec_image img;
    enum sdv_err err;

    if (s->img != IMG_STAGED || strcmp(m->name, s->target.filepath) != 0)
        return send_result(s, SDV_EINVAL, "INSTALL \"%.200s\": no such verified image", m->name);
    sec_image_from_target(&img, &s->target);
    if (ctx->inst != NULL) {
        char why[SDV_INSTALL_REASON_LEN_MAX + 256];

        err = sec_slot_install(ctx, s->staged_path, &img, why, sizeof(why));
        if (err == SDV_OK) {
            st->installed = img;
            st->attack_detected[0] = '\0';
            err = sec_state_save(ctx->cfg, st);
        }
        image_drop(s);
        if (err != SDV_OK)
            return send_result(s, err, "installing \"%s\" failed: %s", m->name, why);
        sdv_logf(&ctx->log, SDV_LOG_INFO, "installed \"%s\" (release counter %llu): %s",
                 img.filepath, (unsigned long long)img.release_counter, why);
        return send_result(s, SDV_OK, "installed \"%s\"", img.filepath);
    }
    /* The name matches the cleanup pattern of sec_state_open (".<slot>.tmp."). */
    if (slash == NULL)
        snprintf(tmp, sizeof(tmp), ".%s.tmp.install", ctx->cfg->slot);
    else
        snprintf(tmp, sizeof(tmp), "%.*s/.%s.tmp.install", (int)(slash - ctx->cfg->slot),
                 ctx->cfg->slot, slash + 1);
    err = copy_to(s->staged_path, tmp, &img);
    /* Journal first: after a crash, hashing the slot tells whether the rename happened. */
    if (err == SDV_OK) {
        st->pending = img;
        st->has_pending = 1;
        err = sec_state_save(ctx->cfg, st);
    }
    if (err == SDV_OK && rename(tmp, ctx->cfg->slot) != 0)
        err = sdv_err_from_errno(errno);
    if (err == SDV_OK)
        err = sdv_fs_fsync_parent(ctx->cfg->slot);
    if (err == SDV_OK) {
        st->installed = img;
        st->has_pending = 0;
        st->attack_detected[0] = '\0';
        err = sec_state_save(ctx->cfg, st);
    }
    if (err != SDV_OK) {
        unlink(tmp);
        /* A failed journal write leaves has_pending in memory only; the next start settles it
         * from the file either way. */
        return send_result(s, err, "installing \"%s\" failed: %s", m->name, sdv_strerror(err));
    }
    image_drop(s);
    sdv_logf(&ctx->log, SDV_LOG_INFO, "installed \"%s\" (release counter %llu)", img.filepath,
             (unsigned long long)img.release_counter);
    return send_result(s, SDV_OK, "installed \"%s\"", img.filepath);
}

static enum next on_report_request(struct session *s)
{
    struct sec_ctx *ctx = s->ctx;
    struct sec_state *st = ctx->st;
    struct sdv_uptane_report_info info;
    struct sdv_uptane_err ue;
    struct sdv_ecu_link_msg m;
    char *log[SDV_UPTANE_INSTALL_LOG_MAX];
    size_t log_count = 0;
    enum sdv_err err;

    /* The counter is saved before the report leaves, so no two reports share one. */
    st->report_counter++;
    err = sec_state_save(ctx->cfg, st);
    if (err != SDV_OK)
        return send_result(s, err, "cannot save the report counter");
    memset(&info, 0, sizeof(info));
    info.ecu_serial = ctx->cfg->serial;
    info.installed.filepath = st->installed.filepath;
    info.installed.length = st->installed.length;
    info.installed.hash_count = st->installed.hash_count;
    memcpy(info.installed.hashes, st->installed.hashes, sizeof(info.installed.hashes));
    info.installed.release_counter = st->installed.release_counter;
    info.latest_verified_time = st->latest_verified_time;
    info.attack_detected = st->attack_detected;
    info.report_counter = st->report_counter;
    if (ctx->inst != NULL && sec_slot_log_recent(ctx, log, &log_count) == SDV_OK) {
        info.install_log = (const char *const *)log;
        info.install_log_count = log_count;
    }
    sdv_buf_reset(&s->scratch);
    err = sdv_uptane_report_build(&info, ctx->key, ctx->random, NULL, &s->scratch, NULL, &ue);
    for (size_t i = 0; i < log_count; i++)
        free(log[i]);
    if (err != SDV_OK)
        return send_result(s, err, "cannot build the version report: %s", ue.msg);
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_VERSION_REPORT);
    m.data = s->scratch.data;
    m.data_len = s->scratch.len;
    return sdv_ecu_link_conn_send(s->conn, &m) == SDV_OK ? NEXT_CONTINUE : NEXT_CLOSE;
}

static enum next dispatch(struct session *s, const struct sdv_ecu_link_msg *m)
{
    switch (m->type) {
    case SDV_ECU_LINK_HELLO:
        return on_hello(s);
    case SDV_ECU_LINK_METADATA:
        return on_metadata(s, m);
    case SDV_ECU_LINK_IMAGE_BEGIN:
        return on_image_begin(s, m);
    case SDV_ECU_LINK_IMAGE_DATA:
        return on_image_data(s, m);
    case SDV_ECU_LINK_IMAGE_END:
        return on_image_end(s);
    case SDV_ECU_LINK_INSTALL:
        return on_install(s, m);
    case SDV_ECU_LINK_VERSION_REPORT_REQUEST:
        return on_report_request(s);
    default: /* INFO, VERSION_REPORT, RESULT travel the other way */
        send_result(s, SDV_EINVAL, "a secondary does not accept %s",
                    sdv_ecu_link_type_name(m->type));
        return NEXT_CLOSE;
    }
}

enum sdv_err sec_session_run(struct sec_ctx *ctx, int fd)
{
    struct sdv_ecu_link_io io = {ctx->cfg->timeout_ms, ctx->clock_ms, NULL, 0};
    struct session *s = calloc(1, sizeof(*s));
    enum sdv_err err;

    if (s == NULL) {
        close(fd);
        return SDV_ENOMEM;
    }
    s->ctx = ctx;
    s->part_fd = -1;
    sdv_buf_init(&s->scratch, SDV_ECU_LINK_REPORT_LEN_MAX);
    err = sdv_path_join(s->part_path, sizeof(s->part_path), ctx->cfg->state_dir, SEC_IMAGE_PART);
    if (err == SDV_OK)
        err = sdv_path_join(s->staged_path, sizeof(s->staged_path), ctx->cfg->state_dir,
                            SEC_IMAGE_STAGED);
    if (err == SDV_OK)
        err = sdv_ecu_link_conn_create(fd, &io, &s->conn);
    else
        close(fd);
    while (err == SDV_OK) {
        struct sdv_ecu_link_msg m;

        err = sdv_ecu_link_conn_recv(s->conn, &m);
        if (err == SDV_ENOENT) {
            err = SDV_OK;
            break;
        }
        if (err == SDV_EPARSE || err == SDV_ETOOBIG) {
            /* The framing is broken: say why, then drop the connection (it cannot resync). */
            char why[SDV_ECU_LINK_TEXT_LEN_MAX];

            snprintf(why, sizeof(why), "%s", sdv_ecu_link_conn_errmsg(s->conn));
            send_result(s, err, "protocol error: %s", why);
            break;
        }
        if (err != SDV_OK) {
            sdv_logf(&ctx->log, SDV_LOG_WARN, "connection lost: %s",
                     sdv_ecu_link_conn_errmsg(s->conn));
            break;
        }
        sdv_logf(&ctx->log, SDV_LOG_DEBUG, "received %s", sdv_ecu_link_type_name(m.type));
        if (dispatch(s, &m) == NEXT_CLOSE)
            break;
    }
    image_drop(s);
    sec_meta_clear(&s->meta);
    sdv_ecu_link_conn_destroy(s->conn);
    sdv_buf_free(&s->scratch);
    free(s);
    return err;
}
