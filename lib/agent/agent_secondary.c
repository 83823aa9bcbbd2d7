/*
 * agent_secondary.c - one lib/ecu_link session with a secondary ECU: identify it, hand it the
 * trusted metadata of both repositories and, when it has a new target, the image and INSTALL;
 * then ask for its signed version report.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/ecu_link.h>

#include "agent_int.h"

struct session {
    struct sdv_ecu_link_conn *conn;
    char *errmsg;
    size_t errmsg_len;
    const char *serial;
};

static enum sdv_err sfail(struct session *s, enum sdv_err err, const char *what)
{
    if (s->errmsg != NULL)
        sdv_msgf(s->errmsg, s->errmsg_len, "secondary %s: %s: %s", s->serial, what,
                 s->conn != NULL && sdv_ecu_link_conn_errmsg(s->conn)[0]
                         ? sdv_ecu_link_conn_errmsg(s->conn)
                         : sdv_strerror(err));
    return err;
}

/* Receives one frame that must be of type want; a RESULT that is not success fails. */
static enum sdv_err expect(struct session *s, enum sdv_ecu_link_type want,
                           struct sdv_ecu_link_msg *in, const char *what)
{
    enum sdv_err err = sdv_ecu_link_conn_recv(s->conn, in);

    if (err != SDV_OK)
        return sfail(s, err, what);
    if (in->type == SDV_ECU_LINK_RESULT && in->status != SDV_OK) {
        if (s->errmsg != NULL)
            sdv_msgf(s->errmsg, s->errmsg_len, "secondary %s refused %s: %s: %s", s->serial, what,
                     sdv_strerror((enum sdv_err)in->status), in->text);
        return in->status == SDV_OK ? SDV_EINVAL : (enum sdv_err)in->status;
    }
    if (in->type != want) {
        if (s->errmsg != NULL)
            sdv_msgf(s->errmsg, s->errmsg_len, "secondary %s answered %s with %s", s->serial, what,
                     sdv_ecu_link_type_name(in->type));
        return SDV_EPARSE;
    }
    return SDV_OK;
}

static enum sdv_err send_msg(struct session *s, const struct sdv_ecu_link_msg *m, const char *what)
{
    enum sdv_err err = sdv_ecu_link_conn_send(s->conn, m);

    return err == SDV_OK ? SDV_OK : sfail(s, err, what);
}

/* Sends one metadata file and waits for its RESULT. */
static enum sdv_err send_file_as(struct session *s, enum sdv_ecu_link_repo repo, const char *dir,
                                 const char *name, const char *as)
{
    struct sdv_ecu_link_msg m, in;
    struct sdv_buf b;
    char path[AGENT_PATH_LEN_MAX];
    enum sdv_err err;

    err = sdv_path_join(path, sizeof(path), dir, name);
    if (err != SDV_OK)
        return sfail(s, err, name);
    sdv_buf_init(&b, SDV_ECU_LINK_METADATA_LEN_MAX);
    err = sdv_fs_read(path, &b);
    if (err == SDV_ENOENT) {
        sdv_buf_free(&b);
        return SDV_OK; /* not (yet) trusted: nothing to hand over */
    }
    if (err != SDV_OK) {
        sdv_buf_free(&b);
        return sfail(s, err, path);
    }
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_METADATA);
    m.repo = repo;
    snprintf(m.name, sizeof(m.name), "%s", as);
    m.data = b.data;
    m.data_len = b.len;
    err = send_msg(s, &m, name);
    sdv_buf_free(&b);
    if (err == SDV_OK)
        err = expect(s, SDV_ECU_LINK_RESULT, &in, name);
    return err;
}

static enum sdv_err send_file(struct session *s, enum sdv_ecu_link_repo repo, const char *dir,
                              const char *name)
{
    return send_file_as(s, repo, dir, name, name);
}

static int by_version(const void *a, const void *b)
{
    long va = strtol(*(char *const *)a, NULL, 10), vb = strtol(*(char *const *)b, NULL, 10);

    return (va > vb) - (va < vb);
}

/* The root history ("N.root.json", ascending) and then the trusted files of one repository. */
static enum sdv_err send_repo(struct sdv_agent *a, struct session *s, enum sdv_ecu_link_repo repo,
                              const char *dir, const char *roots_dir)
{
    int r = repo == SDV_ECU_LINK_REPO_IMAGE;
    char vname[48];
    static const char *const top[] = {"root.json", "timestamp.json", "snapshot.json",
                                      "targets.json"};
    char *names[SDV_ECU_LINK_SESSION_FILES_MAX];
    size_t n = 0;
    enum sdv_err err = SDV_OK;
    DIR *d = opendir(roots_dir);
    struct dirent *de;

    while (d != NULL && (de = readdir(d)) != NULL && n < SDV_ECU_LINK_SESSION_FILES_MAX / 2) {
        size_t len = strlen(de->d_name);

        if (len > 10 && de->d_name[0] >= '1' && de->d_name[0] <= '9' &&
            strcmp(de->d_name + len - 10, ".root.json") == 0 && (names[n] = strdup(de->d_name)))
            n++;
    }
    if (d != NULL)
        closedir(d);
    qsort(names, n, sizeof(names[0]), by_version);
    for (size_t i = 0; i < n && err == SDV_OK; i++)
        err = send_file(s, repo, roots_dir, names[i]);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]) && err == SDV_OK; i++)
        err = send_file(s, repo, dir, top[i]);
    if (err == SDV_OK && a->consistent[r] && a->snapshot_version[r] > 0) {
        snprintf(vname, sizeof(vname), "%lld.snapshot.json", (long long)a->snapshot_version[r]);
        err = send_file_as(s, repo, dir, "snapshot.json", vname);
    }
    if (err == SDV_OK && a->consistent[r] && a->targets_version[r] > 0) {
        snprintf(vname, sizeof(vname), "%lld.targets.json", (long long)a->targets_version[r]);
        err = send_file_as(s, repo, dir, "targets.json", vname);
    }
    return err;
}

static enum sdv_err send_image(struct sdv_agent *a, struct session *s,
                               const struct sdv_uptane_target *t, const char *image_path)
{
    struct sdv_ecu_link_msg m, in;
    enum sdv_err err;
    int fd;

    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_IMAGE_BEGIN);
    m.length = t->length;
    snprintf(m.name, sizeof(m.name), "%s", t->filepath);
    err = send_msg(s, &m, "IMAGE_BEGIN");
    if (err == SDV_OK)
        err = expect(s, SDV_ECU_LINK_RESULT, &in, "IMAGE_BEGIN");
    if (err != SDV_OK)
        return err;
    fd = open(image_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sfail(s, SDV_EIO, image_path);
    for (uint64_t sent = 0; sent < t->length && err == SDV_OK;) {
        ssize_t r = read(fd, a->chunk, SDV_ECU_LINK_CHUNK_LEN_MAX);

        if (r <= 0) {
            err = sfail(s, SDV_EIO, "reading the image");
            break;
        }
        sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_IMAGE_DATA);
        m.data = a->chunk;
        m.data_len = (size_t)r;
        err = sdv_ecu_link_conn_send(s->conn, &m);
        if (err != SDV_OK) {
            /* A secondary that gives up says why in a RESULT before it closes. */
            if (expect(s, SDV_ECU_LINK_RESULT, &in, "IMAGE_DATA") == SDV_OK)
                sfail(s, err, "IMAGE_DATA");
            err = err == SDV_OK ? SDV_ENET : err;
        }
        sent += (uint64_t)r;
    }
    close(fd);
    if (err != SDV_OK)
        return err;
    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_IMAGE_END);
    err = send_msg(s, &m, "IMAGE_END");
    if (err == SDV_OK)
        err = expect(s, SDV_ECU_LINK_RESULT, &in, "IMAGE_END");
    return err;
}

enum sdv_err agent_secondary_session(struct sdv_agent *a, const struct sdv_agent_secondary *sec,
                                     int send_metadata, const struct sdv_uptane_target *target,
                                     const char *image_path, int *installed, struct sdv_buf *report,
                                     char *errmsg, size_t errmsg_len)
{
    struct session s = {NULL, errmsg, errmsg_len, sec->serial};
    struct sdv_ecu_link_io io = {0};
    struct sdv_ecu_link_msg m, in;
    char why[256] = "";
    enum sdv_err err;
    int fd = -1;

    *installed = 0;
    io.timeout_ms = a->cfg.ecu_link_timeout_ms;
    err = sdv_ecu_link_connect(sec->address, io.timeout_ms > 0 ? io.timeout_ms : 5000, &fd, why,
                               sizeof(why));
    if (err != SDV_OK) {
        if (errmsg != NULL)
            sdv_msgf(errmsg, errmsg_len, "secondary %s at %s unreachable: %s", sec->serial,
                     sec->address, why);
        return err;
    }
    err = sdv_ecu_link_conn_create(fd, &io, &s.conn);
    if (err != SDV_OK)
        return sfail(&s, err, "connection");

    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_HELLO);
    err = send_msg(&s, &m, "HELLO");
    if (err == SDV_OK)
        err = expect(&s, SDV_ECU_LINK_INFO, &in, "HELLO");
    if (err == SDV_OK &&
        (strcmp(in.serial, sec->serial) != 0 || strcmp(in.hardware_id, sec->hardware_id) != 0)) {
        if (errmsg != NULL)
            sdv_msgf(errmsg, errmsg_len,
                     "the ECU at %s is %s (hardware %s), the configuration expects %s (%s)",
                     sec->address, in.serial, in.hardware_id, sec->serial, sec->hardware_id);
        err = SDV_EINVAL;
    }
    if (err == SDV_OK && send_metadata) {
        err = send_repo(a, &s, SDV_ECU_LINK_REPO_DIRECTOR, a->director_dir, a->director_roots_dir);
        if (err == SDV_OK)
            err = send_repo(a, &s, SDV_ECU_LINK_REPO_IMAGE, a->image_dir, a->image_roots_dir);
    }
    if (err == SDV_OK && target != NULL) {
        err = send_image(a, &s, target, image_path);
        if (err == SDV_OK) {
            sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_INSTALL);
            snprintf(m.name, sizeof(m.name), "%s", target->filepath);
            err = send_msg(&s, &m, "INSTALL");
            if (err == SDV_OK)
                err = expect(&s, SDV_ECU_LINK_RESULT, &in, "INSTALL");
            *installed = err == SDV_OK;
        }
    }
    /* The report is asked for even after a refused install: it says what the ECU runs and
     * what it detected. A failure above may have closed the connection, though. */
    if (err == SDV_OK || (target != NULL && !*installed && err != SDV_ENET)) {
        enum sdv_err rerr;
        char keep[512];

        snprintf(keep, sizeof(keep), "%s", errmsg != NULL ? errmsg : "");
        sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_VERSION_REPORT_REQUEST);
        rerr = send_msg(&s, &m, "VERSION_REPORT_REQUEST");
        if (rerr == SDV_OK)
            rerr = expect(&s, SDV_ECU_LINK_VERSION_REPORT, &in, "VERSION_REPORT_REQUEST");
        if (rerr == SDV_OK)
            rerr = sdv_buf_append(report, in.data, in.data_len);
        if (err == SDV_OK)
            err = rerr;
        else if (errmsg != NULL)
            sdv_msgf(errmsg, errmsg_len, "%s", keep); /* the first failure is the reason */
    }
    sdv_ecu_link_conn_destroy(s.conn);
    return err;
}
