/*
 * agent_slot.c - the primary's own image into its inactive A/B slot through lib/install: streamed
 * from the network without a temporary copy, resumed after a crash from the last durable
 * checkpoint (the written prefix is re-hashed), verified in the slot, activated for one trial
 * boot, and judged after the reboot; the install log goes to the server in the primary's report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/delta.h>
#include <sdv/ecu_link.h>

#include "agent_int.h"

static int64_t slot_clock(void *ud)
{
    const struct sdv_agent *a = ud;

    return a->now;
}

enum sdv_err agent_slot_create(struct sdv_agent *a, char *errmsg, size_t errmsg_len)
{
    struct sdv_install_env env;
    char why[512] = "";
    enum sdv_err err;

    memset(&env, 0, sizeof(env));
    env.state_dir = a->install_dir;
    env.ecu = a->cfg.primary_serial;
    env.now = slot_clock;
    env.now_ud = a;
    env.cmdline = a->cfg.install_cmdline;
    env.log = a->cfg.log;
    err = sdv_install_create(a->cfg.install, &env, &a->inst, why, sizeof(why));
    if (err != SDV_OK)
        sdv_msgf(errmsg, errmsg_len, "A/B installer in %s: %s", a->install_dir,
                 why[0] ? why : sdv_strerror(err));
    return err;
}

static const struct sdv_tuf_hash *sha256_of(const struct sdv_uptane_target *t)
{
    for (size_t i = 0; i < t->hash_count; i++)
        if (t->hashes[i].alg == SDV_HASH_SHA256)
            return &t->hashes[i];
    return NULL;
}

/* The version lib/install records for t: its target path, or "sha256:<hex>" when too long. */
static void slot_version(const struct sdv_uptane_target *t, char *out, size_t out_len)
{
    const struct sdv_tuf_hash *h = sha256_of(t);

    if (strlen(t->filepath) <= SDV_INSTALL_VERSION_LEN_MAX || h == NULL) {
        sdv_msgf(out, out_len, "%.*s", (int)SDV_INSTALL_VERSION_LEN_MAX, t->filepath);
    } else {
        char hex[2 * SDV_HASH_LEN_MAX + 1];

        sdv_hex_encode(h->digest, 32, hex);
        sdv_msgf(out, out_len, "sha256:%s", hex);
    }
}

static void version_of_installed(const struct agent_installed *e, char *out, size_t out_len)
{
    struct sdv_uptane_target t;

    memset(&t, 0, sizeof(t));
    snprintf(t.filepath, sizeof(t.filepath), "%s", e->filepath);
    t.hash_count = e->hash_count;
    memcpy(t.hashes, e->hashes, sizeof(t.hashes));
    slot_version(&t, out, out_len);
}

int agent_slot_is_failed(const struct sdv_agent *a, const struct sdv_uptane_target *t)
{
    return a->inst != NULL && agent_installed_matches(&a->state.failed, t);
}

int agent_slot_is_pending(const struct sdv_agent *a, const struct sdv_uptane_target *t)
{
    return a->inst != NULL && agent_installed_matches(&a->state.pending, t);
}

enum sdv_err agent_slot_after_boot(struct sdv_agent *a, struct sdv_agent_result *res)
{
    struct sdv_install_boot_report br;
    struct sdv_install_status st;
    char pending_version[SDV_INSTALL_VERSION_LEN_MAX + 80];
    enum sdv_err err;

    if (a->boot_checked)
        return SDV_OK;
    err = sdv_install_boot(a->inst, &br);
    if (err != SDV_OK) {
        sdv_msgf(res->reason, sizeof(res->reason), "boot verdict: %s",
                 sdv_install_errmsg(a->inst)[0] ? sdv_install_errmsg(a->inst) : sdv_strerror(err));
        return err;
    }
    a->boot_checked = 1;
    if (br.event == SDV_INSTALL_EVENT_TRIAL) {
        /* No health check is configured: the agent came up on the new slot and reached the
         * server's configuration, which is the check. */
        err = sdv_install_mark_good(a->inst);
        if (err != SDV_OK) {
            sdv_msgf(res->reason, sizeof(res->reason), "marking slot %s good: %s", br.booted,
                     sdv_install_errmsg(a->inst));
            return err;
        }
    }
    if (br.reboot_required) {
        res->reboot_required = 1;
        sdv_msgf(res->install, sizeof(res->install),
                 "rolled back %s: %s; rebooting into the previous slot", br.version, br.reason);
    }
    err = sdv_install_status(a->inst, &st);
    if (err != SDV_OK || !a->state.pending.present)
        return err;
    version_of_installed(&a->state.pending, pending_version, sizeof(pending_version));
    if (strcmp(st.version, pending_version) != 0 || st.state == SDV_INSTALL_IDLE) {
        /* The transaction that was activated is gone (aborted or superseded). */
        memset(&a->state.pending, 0, sizeof(a->state.pending));
    } else if (st.state == SDV_INSTALL_COMMITTED) {
        a->state.ecus[0] = a->state.pending;
        memset(&a->state.pending, 0, sizeof(a->state.pending));
        memset(&a->state.failed, 0, sizeof(a->state.failed));
        sdv_msgf(res->install, sizeof(res->install), "committed %s in slot %s", pending_version,
                 st.booted);
        sdv_logf(&a->cfg.log, SDV_LOG_INFO, "primary %s: %s", a->cfg.primary_serial, res->install);
    } else if (st.state == SDV_INSTALL_ROLLED_BACK) {
        a->state.failed = a->state.pending;
        memset(&a->state.pending, 0, sizeof(a->state.pending));
        if (!br.reboot_required)
            sdv_msgf(res->install, sizeof(res->install), "rolled back %s: %s", pending_version,
                     st.reason);
        sdv_logf(&a->cfg.log, SDV_LOG_WARN, "primary %s: rolled back %s: %s", a->cfg.primary_serial,
                 pending_version, st.reason);
    } else if (st.state == SDV_INSTALL_ACTIVATED) {
        /* Activated before a crash, never rebooted: the reboot is still owed. */
        res->reboot_required = 1;
        sdv_msgf(res->install, sizeof(res->install), "%s is activated: rebooting for its trial",
                 pending_version);
        return SDV_OK;
    } else {
        return SDV_OK;
    }
    return agent_state_save(a->state_path, a->serials, &a->state);
}

/* ---- Streaming into the slot -------------------------------------------------------------- */

struct slot_sink {
    struct sdv_agent *a;
    struct sdv_hash *extra[SDV_TUF_TARGET_HASHES_MAX]; /* every hash of t but sha256 */
    size_t extra_count;
    uint64_t pos; /* bytes of the image in the slot (durable or not) */
};

static enum sdv_err slot_write(void *ud, const void *data, size_t len)
{
    struct slot_sink *s = ud;
    enum sdv_err err = sdv_install_write(s->a->inst, data, len);

    for (size_t i = 0; err == SDV_OK && i < s->extra_count; i++)
        err = sdv_hash_update(s->extra[i], data, len);
    if (err == SDV_OK)
        s->pos += len;
    return err;
}

/* Restarts the extra hashes over the slot's first offset bytes (what a resumed write kept). */
static enum sdv_err rehash_prefix(struct slot_sink *s, uint64_t offset)
{
    enum sdv_err err = SDV_OK;

    for (size_t i = 0; err == SDV_OK && i < s->extra_count; i++)
        err = sdv_hash_reset(s->extra[i]);
    for (uint64_t off = 0; err == SDV_OK && off < offset && s->extra_count > 0;) {
        size_t n = offset - off < SDV_ECU_LINK_CHUNK_LEN_MAX ? (size_t)(offset - off)
                                                             : SDV_ECU_LINK_CHUNK_LEN_MAX;

        err = sdv_install_read_target(s->a->inst, off, s->a->chunk, n);
        for (size_t i = 0; err == SDV_OK && i < s->extra_count; i++)
            err = sdv_hash_update(s->extra[i], s->a->chunk, n);
        off += n;
    }
    s->pos = offset;
    return err;
}

static enum sdv_err extra_hashes_match(struct slot_sink *s, const struct sdv_uptane_target *t)
{
    size_t k = 0;

    for (size_t i = 0; i < t->hash_count; i++) {
        uint8_t d[SDV_HASH_LEN_MAX];
        enum sdv_err err;

        if (t->hashes[i].alg == SDV_HASH_SHA256)
            continue;
        err = sdv_hash_final(s->extra[k++], d);
        if (err != SDV_OK)
            return err;
        if (memcmp(d, t->hashes[i].digest, sdv_hash_len(t->hashes[i].alg)) != 0)
            return SDV_EHASH;
    }
    return SDV_OK;
}

/* Opens the image for writing (resume or restart) and lines the sink up with the slot. */
static enum sdv_err slot_open(struct slot_sink *s, int resume, int *refused,
                              struct sdv_agent_result *res)
{
    struct sdv_install_write_opts opts = {resume, AGENT_SLOT_CHECKPOINT_BYTES};
    uint64_t offset = 0;
    enum sdv_err err = sdv_install_write_open(s->a->inst, 0, &opts, &offset, refused);

    if (err == SDV_OK && *refused) {
        sdv_msgf(res->reason, sizeof(res->reason),
                 "not safe to update: precondition before writing refused: %s",
                 sdv_install_errmsg(s->a->inst));
        return SDV_EDENIED;
    }
    if (err == SDV_OK)
        err = rehash_prefix(s, offset);
    if (err != SDV_OK)
        sdv_msgf(res->reason, sizeof(res->reason), "opening the inactive slot: %s",
                 sdv_install_errmsg(s->a->inst)[0] ? sdv_install_errmsg(s->a->inst)
                                                   : sdv_strerror(err));
    else if (offset > 0)
        sdv_logf(&s->a->cfg.log, SDV_LOG_INFO,
                 "slot write resumes at byte %llu (the written prefix re-hashed)",
                 (unsigned long long)offset);
    return err;
}

/* Fetches the rest of the image from s->pos into the slot, with the agent's attempts and
 * backoff. A server that cannot continue (SDV_EUNSUPPORTED) restarts the image at 0. */
static enum sdv_err slot_fetch(struct slot_sink *s, const char *url, uint64_t length, int *refused,
                               struct sdv_agent_result *res)
{
    const struct sdv_agent_config *cfg = &s->a->cfg;
    unsigned attempts = cfg->download_attempts > 0 ? cfg->download_attempts : 5;
    uint32_t backoff = cfg->backoff_ms > 0 ? cfg->backoff_ms : 1000;
    uint32_t backoff_max = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 30000;
    enum sdv_err err = SDV_ENET;

    for (unsigned attempt = 1; attempt <= attempts; attempt++) {
        if (s->pos == length)
            return SDV_OK;
        sdv_logf(&cfg->log, SDV_LOG_INFO,
                 "download %s into the slot: attempt %u of %u from byte %llu", url, attempt,
                 attempts, (unsigned long long)s->pos);
        err = cfg->fetch_range(cfg->transport_ud, url, s->pos, length, slot_write, s);
        if (err == SDV_OK && s->pos != length)
            err = SDV_ENET; /* the body ended early: continue on the next attempt */
        if (err == SDV_OK)
            return SDV_OK;
        sdv_msgf(res->reason, sizeof(res->reason), "download of %s failed (attempt %u of %u): %s",
                 url, attempt, attempts, sdv_strerror(err));
        if (err == SDV_EUNSUPPORTED) {
            err = slot_open(s, 0, refused, res);
            if (err != SDV_OK)
                return err;
            continue;
        }
        if (err != SDV_ENET && err != SDV_ESLOW)
            return err;
        if (attempt < attempts) {
            sdv_logf(&cfg->log, SDV_LOG_WARN, "%s; retrying in %u ms", res->reason,
                     (unsigned)backoff);
            if (cfg->sleep != NULL && cfg->sleep(cfg->sleep_ud, backoff) != 0)
                return err;
            backoff = backoff > backoff_max / 2 ? backoff_max : backoff * 2;
        }
    }
    return err;
}

/* ---- Delta patches ------------------------------------------------------------------------- */

struct delta_feed {
    struct sdv_delta_decoder *dec;
    struct sdv_hash *sha256; /* of the patch bytes, checked against the patch's TUF target */
    uint64_t got;
};

static enum sdv_err delta_feed_sink(void *ud, const void *data, size_t len)
{
    struct delta_feed *f = ud;
    enum sdv_err err = sdv_hash_update(f->sha256, data, len);

    f->got += len;
    return err == SDV_OK ? sdv_delta_decoder_feed(f->dec, data, len) : err;
}

/*
 * Writes the image into the slot by applying the patch d (streamed from the network into
 * lib/delta's decoder) to the active slot (sdv_install_read_base). The result is verified like a
 * full image (length, SHA-256 streamed and read back, every other hash of t). Returns SDV_OK
 * (written), an attack error (*attack set: the patch bytes are longer than listed, too slow, or
 * not the listed bytes), or another error after which the caller fetches the full image. A
 * patch is not resumed: an interrupted one starts over, or the full image is used.
 */
static enum sdv_err slot_apply_delta(struct slot_sink *s, const struct sdv_uptane_target *t,
                                     const struct agent_delta *d, int *refused, int *attack,
                                     struct sdv_agent_result *res)
{
    const struct sdv_agent_config *cfg = &s->a->cfg;
    struct delta_feed f;
    uint8_t digest[32];
    const uint8_t *want = NULL;
    enum sdv_err err;

    *attack = 0;
    memset(&f, 0, sizeof(f));
    for (size_t i = 0; i < d->target.hash_count; i++)
        if (d->target.hashes[i].alg == SDV_HASH_SHA256)
            want = d->target.hashes[i].digest;
    err = slot_open(s, 0, refused, res);
    if (err == SDV_OK)
        err = sdv_hash_create(SDV_HASH_SHA256, &f.sha256);
    if (err == SDV_OK)
        err = sdv_delta_decoder_create(sdv_install_read_base, s->a->inst, slot_write, s, NULL,
                                       &f.dec);
    if (err != SDV_OK)
        goto out;
    sdv_logf(&cfg->log, SDV_LOG_INFO, "delta %s (%llu bytes) into the slot, base: the active slot",
             d->target.filepath, (unsigned long long)d->target.length);
    err = cfg->fetch_range(cfg->transport_ud, d->url, 0, d->target.length, delta_feed_sink, &f);
    if (err == SDV_OK && f.got != d->target.length)
        err = SDV_ENET;
    if (err == SDV_OK)
        err = sdv_hash_final(f.sha256, digest);
    if (err == SDV_OK && (want == NULL || memcmp(digest, want, 32) != 0)) {
        err = SDV_EHASH;
        *attack = 1;
        sdv_msgf(res->attack, sizeof(res->attack),
                 "delta %s: downloaded patch does not match its length and hashes",
                 d->target.filepath);
    }
    if (err == SDV_ETOOBIG || err == SDV_ESLOW) {
        *attack = 1;
        sdv_msgf(res->attack, sizeof(res->attack), "delta %s: %s", d->target.filepath,
                 err == SDV_ETOOBIG ? "server sent more than the patch's length"
                                    : "transfer stayed below the minimum speed (slow "
                                      "retrieval)");
    }
    if (err == SDV_OK)
        err = sdv_delta_decoder_finish(f.dec);
    if (err == SDV_OK)
        err = sdv_install_write_close(s->a->inst);
    if (err == SDV_OK)
        err = extra_hashes_match(s, t);
    if (err != SDV_OK && !*attack)
        sdv_logf(&cfg->log, SDV_LOG_WARN, "delta %s failed (%s%s%s); fetching the full image",
                 d->target.filepath, sdv_strerror(err),
                 sdv_delta_decoder_errmsg(f.dec) != NULL && f.dec != NULL ? ": " : "",
                 f.dec != NULL ? sdv_delta_decoder_errmsg(f.dec) : "");
out:
    sdv_delta_decoder_destroy(f.dec);
    sdv_hash_destroy(f.sha256);
    return err;
}

/* Starts (or continues) the transaction of version; an older one not yet activated is
 * abandoned for it. */
static enum sdv_err slot_begin(struct sdv_agent *a, const char *version,
                               const struct sdv_install_image *img, struct sdv_agent_result *res)
{
    enum sdv_err err = sdv_install_begin(a->inst, version, img, 1);

    if (err == SDV_EEXIST) {
        struct sdv_install_status st;

        if (sdv_install_status(a->inst, &st) == SDV_OK &&
            (st.state == SDV_INSTALL_DOWNLOADING || st.state == SDV_INSTALL_WRITING ||
             st.state == SDV_INSTALL_WRITTEN)) {
            char why[SDV_INSTALL_VERSION_LEN_MAX + 64];

            sdv_msgf(why, sizeof(why), "superseded by %s", version);
            err = sdv_install_abort(a->inst, why);
            if (err == SDV_OK)
                err = sdv_install_begin(a->inst, version, img, 1);
        }
    }
    if (err != SDV_OK)
        sdv_msgf(res->reason, sizeof(res->reason), "install of %s: %s", version,
                 sdv_install_errmsg(a->inst)[0] ? sdv_install_errmsg(a->inst) : sdv_strerror(err));
    return err;
}

enum sdv_err agent_slot_write(struct sdv_agent *a, const struct sdv_uptane_target *t,
                              const char *url, const struct agent_delta *delta,
                              struct sdv_agent_result *res, int *refused)
{
    int attack = 0, from_delta = 0;
    struct sdv_install_status st;
    struct sdv_install_image img;
    struct slot_sink s;
    char version[SDV_INSTALL_VERSION_LEN_MAX + 80];
    const struct sdv_tuf_hash *h = sha256_of(t);
    enum sdv_err err;
    int resume = 1;

    *refused = 0;
    memset(&s, 0, sizeof(s));
    s.a = a;
    if (h == NULL) {
        sdv_msgf(res->reason, sizeof(res->reason), "%s: no sha256 hash", t->filepath);
        return SDV_EUNSUPPORTED;
    }
    err = sdv_install_status(a->inst, &st);
    if (err != SDV_OK)
        return err;
    memset(&img, 0, sizeof(img));
    for (size_t i = 0; i < st.slot_count && img.group == NULL; i++)
        if (st.slots[i].bootname[0] != '\0')
            img.group = st.slots[i].group;
    img.length = t->length;
    memcpy(img.sha256, h->digest, 32);
    slot_version(t, version, sizeof(version));
    err = slot_begin(a, version, &img, res);
    if (err == SDV_OK)
        err = sdv_install_status(a->inst, &st);
    if (err != SDV_OK || st.state == SDV_INSTALL_WRITTEN)
        return err; /* written before a restart: nothing left to stream */
    for (size_t i = 0; i < t->hash_count && err == SDV_OK; i++)
        if (t->hashes[i].alg != SDV_HASH_SHA256)
            err = sdv_hash_create(t->hashes[i].alg, &s.extra[s.extra_count++]);
    if (err == SDV_OK && delta != NULL) {
        err = slot_apply_delta(&s, t, delta, refused, &attack, res);
        from_delta = err == SDV_OK;
        if (err != SDV_OK && !attack && !*refused) {
            err = SDV_OK; /* the full image, from byte 0 */
            resume = 0;
            res->attack[0] = '\0';
        }
    }
    for (int round = 0; err == SDV_OK && !from_delta && round < 2; round++) {
        err = slot_open(&s, resume, refused, res);
        if (err != SDV_OK)
            break;
        resume = s.pos > 0;
        err = slot_fetch(&s, url, t->length, refused, res);
        if (err == SDV_OK) {
            err = sdv_install_write_close(a->inst);
            if (err == SDV_OK)
                err = extra_hashes_match(&s, t);
            if (err == SDV_OK)
                break;
        }
        if (err != SDV_EHASH)
            break;
        /* A mismatch. A resumed write may hold an older attempt's bad prefix: once more from
         * byte 0; bytes fetched from 0 that do not match are an attack. */
        if (!resume)
            break;
        sdv_logf(&a->cfg.log, SDV_LOG_WARN,
                 "%s: the resumed slot write does not verify; "
                 "writing it again from byte 0",
                 version);
        resume = 0;
    }
    for (size_t i = 0; i < s.extra_count; i++)
        sdv_hash_destroy(s.extra[i]);
    if (err == SDV_OK) {
        sdv_logf(&a->cfg.log, SDV_LOG_INFO, "primary %s: %s written and verified in the slot%s",
                 a->cfg.primary_serial, version, from_delta ? " (from a delta patch)" : "");
        return SDV_OK;
    }
    if (attack) {
        sdv_msgf(res->reason, sizeof(res->reason), "ECU image %s: %s", t->filepath, res->attack);
        sdv_install_abort(a->inst, res->attack);
        return err;
    }
    if (err == SDV_EHASH || err == SDV_ETOOBIG || err == SDV_ESLOW) {
        sdv_msgf(res->attack, sizeof(res->attack), "image %s: %s", t->filepath,
                 err == SDV_EHASH     ? "downloaded image does not match its length and hashes"
                 : err == SDV_ETOOBIG ? "server sent more than the image's length"
                                      : "transfer stayed below the minimum speed (slow "
                                        "retrieval)");
        sdv_msgf(res->reason, sizeof(res->reason), "ECU image %s: %s", t->filepath, res->attack);
        sdv_install_abort(a->inst, res->attack);
    }
    return err;
}

enum sdv_err agent_slot_activate(struct sdv_agent *a, const struct sdv_uptane_target *t,
                                 struct sdv_agent_result *res, int *refused)
{
    struct sdv_install_status st;
    char version[SDV_INSTALL_VERSION_LEN_MAX + 80];
    enum sdv_err err;

    *refused = 0;
    slot_version(t, version, sizeof(version));
    agent_installed_set(&a->state.pending, t);
    err = agent_state_save(a->state_path, a->serials, &a->state);
    if (err == SDV_OK)
        err = sdv_install_activate(a->inst, refused);
    if (err == SDV_OK && *refused) {
        sdv_msgf(res->reason, sizeof(res->reason),
                 "not safe to update: precondition before activating %s refused: %s", version,
                 sdv_install_errmsg(a->inst));
        return SDV_EDENIED;
    }
    if (err != SDV_OK) {
        sdv_msgf(res->reason, sizeof(res->reason), "activating %s: %s", version,
                 sdv_install_errmsg(a->inst)[0] ? sdv_install_errmsg(a->inst) : sdv_strerror(err));
        return err;
    }
    res->reboot_required = 1;
    if (sdv_install_status(a->inst, &st) == SDV_OK)
        for (size_t i = 0; i < st.slot_count; i++)
            if (st.slots[i].bootname[0] != '\0' && !st.slots[i].active)
                sdv_msgf(res->install, sizeof(res->install),
                         "activated %s in slot %s for a trial boot", version, st.slots[i].bootname);
    sdv_logf(&a->cfg.log, SDV_LOG_INFO, "primary %s: %s", a->cfg.primary_serial, res->install);
    return SDV_OK;
}

/* ---- The install log in the report ------------------------------------------------------- */

struct log_collect {
    char **lines;
    size_t count;
    uint64_t last;
};

static enum sdv_err collect_line(void *ud, uint64_t seq, const char *json, size_t len)
{
    struct log_collect *c = ud;

    if (c->count == SDV_UPTANE_INSTALL_LOG_MAX)
        return SDV_ELIMIT; /* the rest goes with the next report */
    if (len > SDV_UPTANE_INSTALL_RECORD_LEN_MAX)
        return SDV_ETOOBIG;
    c->lines[c->count] = strndup(json, len);
    if (c->lines[c->count] == NULL)
        return SDV_ENOMEM;
    c->count++;
    c->last = seq;
    return SDV_OK;
}

enum sdv_err agent_slot_log_unsent(struct sdv_agent *a, char **lines, size_t *count)
{
    struct log_collect c = {lines, 0, 0};
    char why[256] = "";
    enum sdv_err err;

    *count = 0;
    a->log_sent_upto = 0;
    err = sdv_install_log_read(sdv_install_log_path(a->inst), a->state.install_log_acked + 1,
                               collect_line, &c, why, sizeof(why));
    if (err == SDV_ELIMIT)
        err = SDV_OK;
    if (err != SDV_OK) {
        sdv_logf(&a->cfg.log, SDV_LOG_ERROR, "install log: %s", why[0] ? why : sdv_strerror(err));
        for (size_t i = 0; i < c.count; i++)
            free(lines[i]);
        return err;
    }
    *count = c.count;
    a->log_sent_upto = c.last;
    return SDV_OK;
}

void agent_slot_log_acked(struct sdv_agent *a)
{
    if (a->log_sent_upto <= a->state.install_log_acked)
        return;
    a->state.install_log_acked = a->log_sent_upto;
    if (agent_state_save(a->state_path, a->serials, &a->state) != SDV_OK)
        sdv_logf(&a->cfg.log, SDV_LOG_WARN,
                 "install.json: cannot record the acknowledged "
                 "install log; the records are sent again");
}
