/*
 * test_secondary.c - the real sdv-secondary program, driven by this test acting as the primary
 * over 127.0.0.1 TCP and over a Unix socket in a temporary directory.
 *
 *   test_secondary PATH_TO_SDV_SECONDARY partial|full
 *
 * The test builds an image repository with the TUF repository library and a director repository
 * with lib/uptane, starts the secondary, and then:
 *   - installs an image and checks the slot and the signed version report (verified as the
 *     server would, inside a manifest, with the ECU's public key from INFO);
 *   - mounts the attacks a compromised primary (or repository) can make: a tampered image of
 *     the right length, an image for another hardware id, a lower release counter, director
 *     targets signed by a wrong key, an oversized frame. Each is refused, the slot is unchanged
 *     and the next report names the attack; the secondary keeps serving;
 *   - kills the secondary with SIGKILL in the middle of IMAGE_DATA, restarts it, and finds the
 *     previous image installed and reported, then completes the update.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sdv/crypto.h>
#include <sdv/ecu_link.h>
#include <sdv/tuf.h>
#include <sdv/tuf_repo.h>
#include <sdv/uptane.h>

/* Set from the command line in main(). */
static const char *secondary_bin;
static const char *mode_name;

#define VIN     "VIN-SECONDARY-01"
#define PRIMARY "ecu-a"
#define SERIAL  "ecu-b"
#define HWID    "hw-zone"

#define IMAGES 4
enum { IMG_1_0, IMG_2_0, IMG_0_9, IMG_MAIN };
static const char *const image_paths[IMAGES] = {"zone-1.0.bin", "zone-2.0.bin", "zone-0.9.bin",
                                                "main-1.0.bin"};
static const size_t image_lens[IMAGES] = {200000, 150001, 1000, 5000};
static const uint64_t image_rcs[IMAGES] = {1, 2, 0, 1};
static const char *const image_hwids[IMAGES] = {HWID, HWID, HWID, "hw-main"};

struct world {
    char dir[256];
    char path_buf[512];
    int64_t now;
    struct sdv_key *d_root, *d_targets, *d_snapshot, *d_timestamp, *wrong;
    struct sdv_key *i_root, *i_targets, *i_snapshot, *i_timestamp;
    struct sdv_key *ecu_key, *primary_key;
    uint8_t *images[IMAGES];
    struct sdv_uptane_director_out director;
    struct {
        char name[64];
        uint8_t *data;
        size_t len;
    } image_meta[16];
    size_t image_meta_count;
    pid_t pid;
    int unix_socket;
    char addr[600];
    uint64_t manifest_counter;
    uint64_t last_report_counter;
};

/* ---- Files ------------------------------------------------------------------------------ */

static const char *path_in(struct world *w, const char *name)
{
    snprintf(w->path_buf, sizeof(w->path_buf), "%s/%s", w->dir, name);
    return w->path_buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    if (sdv_fs_write_atomic(path, data, len, 0600) != SDV_OK)
        fail_msg("cannot write %s", path);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    struct sdv_buf b;

    sdv_buf_init(&b, 64u << 20);
    if (sdv_fs_read(path, &b) != SDV_OK)
        fail_msg("cannot read %s", path);
    return (uint8_t *)sdv_buf_steal(&b, len);
}

/* Test-only cleanup of the temporary tree (a few levels deep). */
static void remove_tree(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char sub[1024];

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        remove_tree(sub);
    }
    if (d != NULL)
        closedir(d);
    rmdir(path);
}

static struct sdv_key *new_key(void)
{
    struct sdv_key *k = NULL;

    if (sdv_key_generate(SDV_KEY_ED25519, 0, &k) != SDV_OK)
        fail_msg("cannot generate a key");
    return k;
}

/* ---- Repositories ----------------------------------------------------------------------- */

static void build_image_repo(struct world *w)
{
    struct sdv_tuf_repo_target targets[IMAGES];
    json_t *custom[IMAGES];
    struct sdv_tuf_repo *repo;
    char repo_dir[300], meta_dir[320], file[400], msg[512];
    DIR *d;
    struct dirent *e;

    snprintf(repo_dir, sizeof(repo_dir), "%s/imagerepo", w->dir);
    if (sdv_tuf_repo_init(repo_dir, 0, w->now, &repo, msg, sizeof(msg)) != SDV_OK)
        fail_msg("repo init: %s", msg);
    assert_int_equal(sdv_tuf_repo_add_key(repo, "root", w->i_root, 1), SDV_OK);
    assert_int_equal(sdv_tuf_repo_add_key(repo, "targets", w->i_targets, 1), SDV_OK);
    assert_int_equal(sdv_tuf_repo_add_key(repo, "snapshot", w->i_snapshot, 1), SDV_OK);
    assert_int_equal(sdv_tuf_repo_add_key(repo, "timestamp", w->i_timestamp, 1), SDV_OK);
    for (int i = 0; i < IMAGES; i++) {
        snprintf(file, sizeof(file), "%s/files-%s", w->dir, image_paths[i]);
        write_file(file, w->images[i], image_lens[i]);
        custom[i] = json_pack("{s:[s], s:I}", "hardware_ids", image_hwids[i], "release_counter",
                              (json_int_t)image_rcs[i]);
        targets[i].file = strdup(file);
        targets[i].path = image_paths[i];
        targets[i].custom = custom[i];
    }
    if (sdv_tuf_repo_add_targets(repo, "targets", targets, IMAGES) != SDV_OK ||
        sdv_tuf_repo_sign(repo, "root", w->i_root) != SDV_OK ||
        sdv_tuf_repo_sign(repo, "targets", w->i_targets) != SDV_OK ||
        sdv_tuf_repo_snapshot(repo, w->i_snapshot, SDV_TUF_REPO_SNAPSHOT_HASHES) != SDV_OK ||
        sdv_tuf_repo_timestamp(repo, w->i_timestamp) != SDV_OK ||
        sdv_tuf_repo_publish(repo) != SDV_OK)
        fail_msg("image repository: %s", sdv_tuf_repo_errmsg(repo));
    sdv_tuf_repo_close(repo);
    for (int i = 0; i < IMAGES; i++) {
        json_decref(custom[i]);
        free((char *)targets[i].file);
    }

    snprintf(meta_dir, sizeof(meta_dir), "%s/metadata", repo_dir);
    d = opendir(meta_dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t n = w->image_meta_count;

        if (e->d_name[0] == '.')
            continue;
        assert_true(n < sizeof(w->image_meta) / sizeof(w->image_meta[0]));
        assert_true(strlen(e->d_name) < sizeof(w->image_meta[n].name));
        memcpy(w->image_meta[n].name, e->d_name, strlen(e->d_name) + 1);
        assert_true(strlen(meta_dir) + strlen(e->d_name) + 2 <= sizeof(file));
        memcpy(file, meta_dir, strlen(meta_dir));
        file[strlen(meta_dir)] = '/';
        memcpy(file + strlen(meta_dir) + 1, e->d_name, strlen(e->d_name) + 1);
        w->image_meta[n].data = read_file(file, &w->image_meta[n].len);
        if (strcmp(e->d_name, "root.json") == 0)
            write_file(path_in(w, "image-root.json"), w->image_meta[n].data, w->image_meta[n].len);
        w->image_meta_count++;
    }
    closedir(d);
}

/* Rebuilds the director so that ECU SERIAL must run image `which`; the director registers the
 * ECU with hardware id `hwid` (a compromised or wrong director may say anything). */
static void director_assign(struct world *w, int which, const char *hwid)
{
    const struct sdv_key *root_list[1] = {w->d_root};
    struct sdv_uptane_director_keys keys;
    struct sdv_uptane_ecu ecus[2] = {{PRIMARY, "hw-main", NULL, 0}, {SERIAL, hwid, NULL, 0}};
    struct sdv_uptane_vehicle vehicle = {VIN, PRIMARY, NULL, ecus, 2};
    struct sdv_uptane_assignment a;
    struct sdv_uptane_director_prev prev = {w->director.root.data,      w->director.root.len,
                                            w->director.targets.data,   w->director.targets.len,
                                            w->director.snapshot.data,  w->director.snapshot.len,
                                            w->director.timestamp.data, w->director.timestamp.len};
    struct sdv_uptane_director_out out;
    struct sdv_uptane_err e;

    memset(&keys, 0, sizeof(keys));
    keys.root_keys = root_list;
    keys.root_key_count = 1;
    keys.root_threshold = 1;
    keys.targets = w->d_targets;
    keys.snapshot = w->d_snapshot;
    keys.timestamp = w->d_timestamp;
    memset(&a, 0, sizeof(a));
    a.ecu_serial = SERIAL;
    a.image.filepath = image_paths[which];
    a.image.length = image_lens[which];
    a.image.hash_count = 2;
    a.image.hashes[0].alg = SDV_HASH_SHA256;
    a.image.hashes[1].alg = SDV_HASH_SHA512;
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, w->images[which], image_lens[which],
                                  a.image.hashes[0].digest),
                     SDV_OK);
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA512, w->images[which], image_lens[which],
                                  a.image.hashes[1].digest),
                     SDV_OK);
    a.image.release_counter = image_rcs[which];
    if (sdv_uptane_director_build(&keys, &vehicle, &a, 1,
                                  w->director.root.data != NULL ? &prev : NULL, NULL, w->now, &out,
                                  &e) != SDV_OK)
        fail_msg("director: %s", e.msg);
    sdv_uptane_director_out_free(&w->director);
    w->director = out;
    /* The root the ECU was provisioned with: the first one. */
    if (access(path_in(w, "director-root.json"), F_OK) != 0)
        write_file(path_in(w, "director-root.json"), out.root.data, out.root.len);
}

/* ---- The secondary process -------------------------------------------------------------- */

static void write_config(struct world *w)
{
    char text[4096];
    int n;

    if (w->unix_socket)
        snprintf(w->addr, sizeof(w->addr), "unix:%s/sec.sock", w->dir);
    else
        snprintf(w->addr, sizeof(w->addr), "tcp:127.0.0.1:0");
    n = snprintf(text, sizeof(text),
                 "# written by test_secondary\n"
                 "listen = %s\n"
                 "serial = " SERIAL "\n"
                 "hardware_id = " HWID "\n"
                 "key = %s/ecu.pem\n"
                 "state_dir = %s/state\n"
                 "slot = %s/slot/zone.img\n"
                 "verification = %s\n"
                 "director_root = %s/director-root.json\n"
                 "image_root = %s/image-root.json\n"
                 "factory_image = zone-factory.bin\n"
                 "ready_file = %s/ready\n"
                 "timeout_ms = 5000\n",
                 w->addr, w->dir, w->dir, w->dir, mode_name, w->dir, w->dir, w->dir);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    write_file(path_in(w, "secondary.conf"), text, (size_t)n);
}

static void dump_log(struct world *w)
{
    size_t len = 0;
    uint8_t *log;

    if (access(path_in(w, "secondary.log"), F_OK) != 0)
        return;
    log = read_file(path_in(w, "secondary.log"), &len);
    fprintf(stderr, "---- sdv-secondary log ----\n%.*s---- end ----\n", (int)len, (char *)log);
    free(log);
}

static void start_secondary(struct world *w)
{
    char ready[300], conf[300], logp[300];
    int fd;

    snprintf(ready, sizeof(ready), "%s/ready", w->dir);
    snprintf(conf, sizeof(conf), "%s/secondary.conf", w->dir);
    snprintf(logp, sizeof(logp), "%s/secondary.log", w->dir);
    unlink(ready);
    w->pid = fork();
    assert_true(w->pid >= 0);
    if (w->pid == 0) {
        /* If this test dies, the secondary must not outlive it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(secondary_bin, secondary_bin, "-v", conf, (char *)NULL);
        _exit(127);
    }
    /* Up to 10 s for the ready file; the program writes it once it listens. */
    for (int i = 0; i < 1000; i++) {
        int status;

        if (access(ready, F_OK) == 0) {
            size_t len = 0;
            uint8_t *addr = read_file(ready, &len);

            snprintf(w->addr, sizeof(w->addr), "%.*s", (int)len, (char *)addr);
            free(addr);
            return;
        }
        if (waitpid(w->pid, &status, WNOHANG) == w->pid) {
            w->pid = 0;
            dump_log(w);
            fail_msg("sdv-secondary exited during startup");
        }
        usleep(10000);
    }
    dump_log(w);
    fail_msg("sdv-secondary did not become ready");
}

/* Sends sig and reaps the process (SIGKILL after 5 s); returns the wait status. */
static int kill_secondary(struct world *w, int sig)
{
    int status = 0;

    if (w->pid <= 0)
        return 0;
    kill(w->pid, sig);
    for (int i = 0; i < 500; i++) {
        if (waitpid(w->pid, &status, WNOHANG) == w->pid) {
            w->pid = 0;
            return status;
        }
        usleep(10000);
    }
    kill(w->pid, SIGKILL);
    waitpid(w->pid, &status, 0);
    w->pid = 0;
    return status;
}

/* A graceful stop must exit 0 (under ASan this also means no leak was reported). */
static void stop_secondary(struct world *w)
{
    int status = kill_secondary(w, SIGTERM);

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        dump_log(w);
        fail_msg("sdv-secondary did not exit cleanly on SIGTERM (status 0x%x)", status);
    }
}

/* ---- Acting as the primary -------------------------------------------------------------- */

static struct sdv_ecu_link_conn *primary_connect(struct world *w)
{
    struct sdv_ecu_link_io io = {10000, NULL, NULL, 0};
    struct sdv_ecu_link_conn *c = NULL;
    char msg[256];
    int fd;

    if (sdv_ecu_link_connect(w->addr, 5000, &fd, msg, sizeof(msg)) != SDV_OK)
        fail_msg("connect %s: %s", w->addr, msg);
    assert_int_equal(sdv_ecu_link_conn_create(fd, &io, &c), SDV_OK);
    return c;
}

static void send_msg(struct sdv_ecu_link_conn *c, const struct sdv_ecu_link_msg *m)
{
    if (sdv_ecu_link_conn_send(c, m) != SDV_OK)
        fail_msg("send %s: %s", sdv_ecu_link_type_name(m->type), sdv_ecu_link_conn_errmsg(c));
}

/* Receives a RESULT; returns its status and copies its text. */
static uint32_t expect_result(struct sdv_ecu_link_conn *c, char *text, size_t text_len)
{
    struct sdv_ecu_link_msg m;

    if (sdv_ecu_link_conn_recv(c, &m) != SDV_OK)
        fail_msg("receive: %s", sdv_ecu_link_conn_errmsg(c));
    assert_int_equal(m.type, SDV_ECU_LINK_RESULT);
    if (text != NULL && text_len > 0) {
        /* The result text may be longer than the caller's buffer: keep its start. */
        size_t n = strnlen(m.text, text_len - 1);

        memcpy(text, m.text, n);
        text[n] = '\0';
    }
    return m.status;
}

static void hello(struct world *w, struct sdv_ecu_link_conn *c)
{
    struct sdv_ecu_link_msg m;
    struct sdv_key *k = NULL;
    char id1[SDV_KEYID_STR_LEN], id2[SDV_KEYID_STR_LEN];
    json_t *j;

    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_HELLO);
    send_msg(c, &m);
    assert_int_equal(sdv_ecu_link_conn_recv(c, &m), SDV_OK);
    assert_int_equal(m.type, SDV_ECU_LINK_INFO);
    assert_string_equal(m.serial, SERIAL);
    assert_string_equal(m.hardware_id, HWID);
    assert_string_equal(sdv_ecu_link_mode_name(m.mode), mode_name);
    j = json_loadb((const char *)m.data, m.data_len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(sdv_key_from_tuf(j, &k), SDV_OK);
    assert_int_equal(sdv_key_id(k, id1), SDV_OK);
    assert_int_equal(sdv_key_id(w->ecu_key, id2), SDV_OK);
    assert_string_equal(id1, id2);
    sdv_key_destroy(k);
    json_decref(j);
}

static void send_meta(struct sdv_ecu_link_conn *c, enum sdv_ecu_link_repo repo, const char *name,
                      const uint8_t *data, size_t len)
{
    struct sdv_ecu_link_msg m;
    char text[256];

    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_METADATA);
    m.repo = repo;
    snprintf(m.name, sizeof(m.name), "%s", name);
    m.data = data;
    m.data_len = len;
    send_msg(c, &m);
    if (expect_result(c, text, sizeof(text)) != SDV_OK)
        fail_msg("METADATA %s refused: %s", name, text);
}

/* Hands over everything a primary has: the director's four roles (targets, snapshot and
 * timestamp replaced by override[0..2] when override is non-NULL) and the image repository's
 * metadata. */
static void send_all_metadata(struct world *w, struct sdv_ecu_link_conn *c,
                              const struct sdv_buf *override)
{
    const struct sdv_uptane_director_out *d = &w->director;

    send_meta(c, SDV_ECU_LINK_REPO_DIRECTOR, "root.json", d->root.data, d->root.len);
    if (override != NULL) {
        send_meta(c, SDV_ECU_LINK_REPO_DIRECTOR, "targets.json", override[0].data, override[0].len);
        send_meta(c, SDV_ECU_LINK_REPO_DIRECTOR, "snapshot.json", override[1].data,
                  override[1].len);
        send_meta(c, SDV_ECU_LINK_REPO_DIRECTOR, "timestamp.json", override[2].data,
                  override[2].len);
    } else {
        send_meta(c, SDV_ECU_LINK_REPO_DIRECTOR, "targets.json", d->targets.data, d->targets.len);
        send_meta(c, SDV_ECU_LINK_REPO_DIRECTOR, "snapshot.json", d->snapshot.data,
                  d->snapshot.len);
        send_meta(c, SDV_ECU_LINK_REPO_DIRECTOR, "timestamp.json", d->timestamp.data,
                  d->timestamp.len);
    }
    for (size_t i = 0; i < w->image_meta_count; i++)
        send_meta(c, SDV_ECU_LINK_REPO_IMAGE, w->image_meta[i].name, w->image_meta[i].data,
                  w->image_meta[i].len);
}

/* Sends IMAGE_BEGIN; returns the secondary's verdict. */
static uint32_t image_begin(struct sdv_ecu_link_conn *c, const char *name, uint64_t len, char *text,
                            size_t text_len)
{
    struct sdv_ecu_link_msg m;

    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_IMAGE_BEGIN);
    snprintf(m.name, sizeof(m.name), "%s", name);
    m.length = len;
    send_msg(c, &m);
    return expect_result(c, text, text_len);
}

static void image_data(struct sdv_ecu_link_conn *c, const uint8_t *data, size_t len)
{
    for (size_t off = 0; off < len;) {
        struct sdv_ecu_link_msg m;
        size_t n = len - off < 40000 ? len - off : 40000;

        sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_IMAGE_DATA);
        m.data = data + off;
        m.data_len = n;
        send_msg(c, &m);
        off += n;
    }
}

static uint32_t simple(struct sdv_ecu_link_conn *c, enum sdv_ecu_link_type type, const char *name,
                       char *text, size_t text_len)
{
    struct sdv_ecu_link_msg m;

    sdv_ecu_link_msg_init(&m, type);
    if (name != NULL)
        snprintf(m.name, sizeof(m.name), "%s", name);
    send_msg(c, &m);
    return expect_result(c, text, text_len);
}

/*
 * One update as a primary runs it: metadata, image (data as given, which may be tampered),
 * install. Returns the first non-OK status (0 when installed); text receives its message.
 */
static uint32_t update(struct world *w, int which, const uint8_t *data,
                       const struct sdv_buf *override, char *text, size_t text_len)
{
    struct sdv_ecu_link_conn *c = primary_connect(w);
    uint32_t st;

    hello(w, c);
    send_all_metadata(w, c, override);
    st = image_begin(c, image_paths[which], image_lens[which], text, text_len);
    if (st == SDV_OK) {
        image_data(c, data, image_lens[which]);
        st = simple(c, SDV_ECU_LINK_IMAGE_END, NULL, text, text_len);
        if (st != SDV_OK) {
            char t2[256];

            /* Nothing verified: INSTALL must be refused too. */
            assert_int_equal(simple(c, SDV_ECU_LINK_INSTALL, image_paths[which], t2, sizeof(t2)),
                             SDV_EINVAL);
        }
    }
    if (st == SDV_OK)
        st = simple(c, SDV_ECU_LINK_INSTALL, image_paths[which], text, text_len);
    sdv_ecu_link_conn_destroy(c);
    if (st != SDV_OK)
        print_message("refused (%s): %s\n", sdv_errname((enum sdv_err)st), text);
    return st;
}

/* Asks for a version report and verifies it the way the server does (inside a manifest, with
 * the ECU key registered for the serial); the parsed report is returned in *out. */
static void get_report(struct world *w, struct sdv_uptane_report *out)
{
    struct sdv_ecu_link_conn *c = primary_connect(w);
    struct sdv_uptane_ecu ecus[2] = {{PRIMARY, "hw-main", w->primary_key, 0},
                                     {SERIAL, HWID, w->ecu_key, 0}};
    struct sdv_uptane_vehicle vehicle = {VIN, PRIMARY, w->primary_key, ecus, 2};
    struct sdv_uptane_report_bytes rb;
    struct sdv_uptane_manifest man;
    struct sdv_uptane_err e;
    struct sdv_ecu_link_msg m;
    struct sdv_buf manifest;

    sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_VERSION_REPORT_REQUEST);
    send_msg(c, &m);
    assert_int_equal(sdv_ecu_link_conn_recv(c, &m), SDV_OK);
    assert_int_equal(m.type, SDV_ECU_LINK_VERSION_REPORT);
    rb.data = m.data;
    rb.len = m.data_len;
    sdv_buf_init(&manifest, SDV_UPTANE_MANIFEST_LEN_MAX);
    if (sdv_uptane_manifest_build(VIN, PRIMARY, &rb, 1, ++w->manifest_counter, w->primary_key,
                                  &manifest, &e) != SDV_OK)
        fail_msg("manifest build: %s", e.msg);
    if (sdv_uptane_manifest_verify(manifest.data, manifest.len, &vehicle, &man, &e) != SDV_OK)
        fail_msg("manifest verify: %s", e.msg);
    assert_int_equal(man.report_count, 1);
    *out = man.reports[0];
    assert_string_equal(out->ecu_serial, SERIAL);
    /* Every report has a fresh nonce and a higher counter. */
    assert_true(out->report_counter > w->last_report_counter);
    w->last_report_counter = out->report_counter;
    assert_int_equal(out->nonce_len, SDV_UPTANE_NONCE_LEN);
    sdv_uptane_manifest_free(&man);
    sdv_buf_free(&manifest);
    sdv_ecu_link_conn_destroy(c);
}

static void assert_slot(struct world *w, int which)
{
    size_t len = 0;
    uint8_t *slot = read_file(path_in(w, "slot/zone.img"), &len);

    assert_int_equal(len, image_lens[which]);
    assert_memory_equal(slot, w->images[which], len);
    free(slot);
}

static void assert_installed(struct world *w, int which, int attack)
{
    struct sdv_uptane_report r;

    get_report(w, &r);
    assert_string_equal(r.filepath, image_paths[which]);
    assert_int_equal(r.length, image_lens[which]);
    assert_int_equal(r.release_counter, image_rcs[which]);
    if (attack)
        assert_true(r.attack_detected[0] != '\0');
    else
        assert_string_equal(r.attack_detected, "");
    assert_slot(w, which);
}

/* ---- Fixture ---------------------------------------------------------------------------- */

static int world_setup(void **state, int unix_socket)
{
    struct world *w = calloc(1, sizeof(*w));
    struct sdv_buf pem;

    assert_non_null(w);
    snprintf(w->dir, sizeof(w->dir), "%s/sdv-secondary-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(w->dir));
    w->unix_socket = unix_socket;
    w->now = (int64_t)time(NULL);
    w->d_root = new_key();
    w->d_targets = new_key();
    w->d_snapshot = new_key();
    w->d_timestamp = new_key();
    w->wrong = new_key();
    w->i_root = new_key();
    w->i_targets = new_key();
    w->i_snapshot = new_key();
    w->i_timestamp = new_key();
    w->ecu_key = new_key();
    w->primary_key = new_key();
    for (int i = 0; i < IMAGES; i++) {
        w->images[i] = malloc(image_lens[i]);
        assert_non_null(w->images[i]);
        for (size_t j = 0; j < image_lens[i]; j++)
            w->images[i][j] = (uint8_t)(j * (7u + (unsigned)i) + (unsigned)i);
    }
    sdv_buf_init(&pem, SDV_KEY_PEM_LEN_MAX);
    assert_int_equal(sdv_key_private_pem(w->ecu_key, &pem), SDV_OK);
    write_file(path_in(w, "ecu.pem"), pem.data, pem.len);
    sdv_buf_free(&pem);
    build_image_repo(w);
    director_assign(w, IMG_1_0, HWID);
    write_config(w);
    *state = w;
    return 0;
}

static int setup_tcp(void **state)
{
    return world_setup(state, 0);
}

static int setup_unix(void **state)
{
    return world_setup(state, 1);
}

static int teardown(void **state)
{
    struct world *w = *state;

    kill_secondary(w, SIGTERM);
    sdv_uptane_director_out_free(&w->director);
    sdv_key_destroy(w->d_root);
    sdv_key_destroy(w->d_targets);
    sdv_key_destroy(w->d_snapshot);
    sdv_key_destroy(w->d_timestamp);
    sdv_key_destroy(w->wrong);
    sdv_key_destroy(w->i_root);
    sdv_key_destroy(w->i_targets);
    sdv_key_destroy(w->i_snapshot);
    sdv_key_destroy(w->i_timestamp);
    sdv_key_destroy(w->ecu_key);
    sdv_key_destroy(w->primary_key);
    for (int i = 0; i < IMAGES; i++)
        free(w->images[i]);
    for (size_t i = 0; i < w->image_meta_count; i++)
        free(w->image_meta[i].data);
    remove_tree(w->dir);
    free(w);
    return 0;
}

/* ---- Tests ------------------------------------------------------------------------------ */

/* Re-signs metadata bytes after edit() changed "signed": signatures replaced by key's. */
static void resign(const uint8_t *data, size_t len, const struct sdv_key *key,
                   void (*edit)(json_t *signed_obj, const struct sdv_buf *ref),
                   const struct sdv_buf *ref, struct sdv_buf *out)
{
    json_t *doc = json_loadb((const char *)data, len, 0, NULL);

    assert_non_null(doc);
    if (edit != NULL)
        edit(json_object_get(doc, "signed"), ref);
    assert_int_equal(json_object_set_new(doc, "signatures", json_array()), 0);
    assert_int_equal(sdv_tuf_sign_json(doc, key), SDV_OK);
    sdv_buf_init(out, SDV_TUF_TARGETS_MAX_LEN);
    assert_int_equal(sdv_tuf_serialize(doc, out), SDV_OK);
    json_decref(doc);
}

/* Points the single "meta" entry of a snapshot or timestamp at ref (length and sha256). */
static void point_meta_at(json_t *signed_obj, const struct sdv_buf *ref)
{
    json_t *meta = json_object_get(signed_obj, "meta"), *entry;
    uint8_t digest[32];
    char hex[65];
    const char *name;

    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, ref->data, ref->len, digest), SDV_OK);
    sdv_hex_encode(digest, sizeof(digest), hex);
    json_object_foreach(meta, name, entry)
    {
        json_object_set_new(entry, "length", json_integer((json_int_t)ref->len));
        json_object_set_new(entry, "hashes", json_pack("{s:s}", "sha256", hex));
    }
}

/*
 * A compromised director targets key: the director's targets re-signed by a key the director
 * root does not list. Snapshot and timestamp are re-signed with the genuine online keys to
 * match, so that full verification reaches the targets signature check too.
 */
static void director_with_wrong_targets_key(struct world *w, struct sdv_buf *targets,
                                            struct sdv_buf *snapshot, struct sdv_buf *timestamp)
{
    resign(w->director.targets.data, w->director.targets.len, w->wrong, NULL, NULL, targets);
    resign(w->director.snapshot.data, w->director.snapshot.len, w->d_snapshot, point_meta_at,
           targets, snapshot);
    resign(w->director.timestamp.data, w->director.timestamp.len, w->d_timestamp, point_meta_at,
           snapshot, timestamp);
}

static void test_install_attacks_and_crash(void **state)
{
    struct world *w = *state;
    struct sdv_uptane_report r;
    struct sdv_buf wrong[3];
    char text[SDV_ECU_LINK_TEXT_LEN_MAX + 1];
    uint8_t *tampered;

    start_secondary(w);

    /* First start: the slot is reported as the factory image. */
    get_report(w, &r);
    assert_string_equal(r.filepath, "zone-factory.bin");
    assert_int_equal(r.release_counter, 0);
    assert_string_equal(r.attack_detected, "");

    /* A genuine update. */
    assert_int_equal(update(w, IMG_1_0, w->images[IMG_1_0], NULL, text, sizeof(text)), SDV_OK);
    assert_installed(w, IMG_1_0, 0);

    /* Attack: a compromised primary hands over a tampered image of the right length. */
    director_assign(w, IMG_2_0, HWID);
    tampered = malloc(image_lens[IMG_2_0]);
    assert_non_null(tampered);
    memcpy(tampered, w->images[IMG_2_0], image_lens[IMG_2_0]);
    tampered[image_lens[IMG_2_0] / 2] ^= 0x01;
    assert_int_equal(update(w, IMG_2_0, tampered, NULL, text, sizeof(text)), SDV_EHASH);
    assert_non_null(strstr(text, "hash"));
    free(tampered);
    get_report(w, &r);
    assert_string_equal(r.filepath, image_paths[IMG_1_0]);
    assert_non_null(strstr(r.attack_detected, "tampered"));
    assert_slot(w, IMG_1_0);

    /* Attack: the director names an image for another hardware id. */
    director_assign(w, IMG_MAIN, "hw-main");
    assert_int_equal(update(w, IMG_MAIN, w->images[IMG_MAIN], NULL, text, sizeof(text)),
                     SDV_EINVAL);
    assert_non_null(strstr(text, "hardware"));
    get_report(w, &r);
    assert_non_null(strstr(r.attack_detected, "hardware"));
    assert_slot(w, IMG_1_0);

    /* Attack: rollback to a lower release counter. */
    director_assign(w, IMG_0_9, HWID);
    assert_int_equal(update(w, IMG_0_9, w->images[IMG_0_9], NULL, text, sizeof(text)),
                     SDV_EROLLBACK);
    get_report(w, &r);
    assert_non_null(strstr(r.attack_detected, "release counter"));
    assert_slot(w, IMG_1_0);

    /* Attack: director targets signed by a key the director root does not trust. */
    director_assign(w, IMG_2_0, HWID);
    director_with_wrong_targets_key(w, &wrong[0], &wrong[1], &wrong[2]);
    assert_int_equal(update(w, IMG_2_0, w->images[IMG_2_0], wrong, text, sizeof(text)), SDV_ESIG);
    assert_non_null(strstr(text, "targets"));
    for (int i = 0; i < 3; i++)
        sdv_buf_free(&wrong[i]);
    /* The forged snapshot and timestamp carry genuine online signatures, so a full-verification
     * secondary now trusts them at their version (TUF keeps an equal version): the director
     * moves on to new versions before the next genuine update. */
    director_assign(w, IMG_0_9, HWID);
    director_assign(w, IMG_2_0, HWID);
    get_report(w, &r);
    assert_true(r.attack_detected[0] != '\0');
    assert_string_equal(r.filepath, image_paths[IMG_1_0]);
    assert_slot(w, IMG_1_0);

    /* An oversized frame: refused with an error, the connection closed, the secondary serves
     * the next primary connection. */
    {
        const uint8_t bad[6] = {
                SDV_ECU_LINK_MAGIC_VERSION, SDV_ECU_LINK_METADATA, 0xff, 0xff, 0xff, 0xff};
        struct sdv_ecu_link_conn *c = primary_connect(w);
        struct sdv_ecu_link_msg m;

        assert_int_equal(sdv_ecu_link_conn_send_raw(c, bad, sizeof(bad)), SDV_OK);
        assert_int_equal(expect_result(c, text, sizeof(text)), SDV_ETOOBIG);
        assert_non_null(strstr(text, "protocol error"));
        assert_int_equal(sdv_ecu_link_conn_recv(c, &m), SDV_ENOENT);
        sdv_ecu_link_conn_destroy(c);
        c = primary_connect(w);
        hello(w, c);
        sdv_ecu_link_conn_destroy(c);
    }

    /* kill -9 in the middle of IMAGE_DATA: after a restart the previous image is intact and
     * reported, and nothing of the partial image is left. */
    {
        struct sdv_ecu_link_conn *c = primary_connect(w);
        struct stat st;

        hello(w, c);
        send_all_metadata(w, c, NULL);
        assert_int_equal(
                image_begin(c, image_paths[IMG_2_0], image_lens[IMG_2_0], text, sizeof(text)),
                SDV_OK);
        image_data(c, w->images[IMG_2_0], image_lens[IMG_2_0] / 2);
        /* A HELLO round trip makes sure the chunks were consumed before the kill. */
        {
            struct sdv_ecu_link_msg m;

            sdv_ecu_link_msg_init(&m, SDV_ECU_LINK_HELLO);
            send_msg(c, &m);
            assert_int_equal(sdv_ecu_link_conn_recv(c, &m), SDV_OK);
        }
        assert_int_equal(stat(path_in(w, "state/image.part"), &st), 0);
        assert_true(st.st_size > 0);
        kill_secondary(w, SIGKILL);
        sdv_ecu_link_conn_destroy(c);
    }
    start_secondary(w);
    assert_int_not_equal(access(path_in(w, "state/image.part"), F_OK), 0);
    get_report(w, &r);
    assert_string_equal(r.filepath, image_paths[IMG_1_0]);
    assert_slot(w, IMG_1_0);

    /* ... and the interrupted update completes; the install clears the attack report. */
    assert_int_equal(update(w, IMG_2_0, w->images[IMG_2_0], NULL, text, sizeof(text)), SDV_OK);
    assert_installed(w, IMG_2_0, 0);

    /* A lower release counter than the now installed one is refused too. */
    director_assign(w, IMG_1_0, HWID);
    assert_int_equal(update(w, IMG_1_0, w->images[IMG_1_0], NULL, text, sizeof(text)),
                     SDV_EROLLBACK);
    assert_installed(w, IMG_2_0, 1);
    stop_secondary(w);
}

/* The same program on a Unix socket: an update, a tampered image, a SIGTERM and restart. */
static void test_unix_socket(void **state)
{
    struct world *w = *state;
    struct sdv_uptane_report r;
    char text[SDV_ECU_LINK_TEXT_LEN_MAX + 1];
    uint8_t *tampered;

    start_secondary(w);
    assert_int_equal(strncmp(w->addr, "unix:", 5), 0);
    assert_int_equal(update(w, IMG_1_0, w->images[IMG_1_0], NULL, text, sizeof(text)), SDV_OK);
    assert_installed(w, IMG_1_0, 0);

    director_assign(w, IMG_2_0, HWID);
    tampered = malloc(image_lens[IMG_2_0]);
    assert_non_null(tampered);
    memcpy(tampered, w->images[IMG_2_0], image_lens[IMG_2_0]);
    tampered[0] ^= 0x80;
    assert_int_equal(update(w, IMG_2_0, tampered, NULL, text, sizeof(text)), SDV_EHASH);
    free(tampered);

    /* The attack report survives a restart (it is part of the saved state). */
    kill_secondary(w, SIGKILL);
    start_secondary(w);
    get_report(w, &r);
    assert_string_equal(r.filepath, image_paths[IMG_1_0]);
    assert_non_null(strstr(r.attack_detected, "tampered"));
    assert_slot(w, IMG_1_0);
    stop_secondary(w);
    /* A graceful stop removes the socket file. */
    assert_int_not_equal(access(w->addr + 5, F_OK), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_install_attacks_and_crash, setup_tcp, teardown),
            cmocka_unit_test_setup_teardown(test_unix_socket, setup_unix, teardown),
    };

    if (argc != 3 || (strcmp(argv[2], "partial") != 0 && strcmp(argv[2], "full") != 0)) {
        fprintf(stderr, "usage: test_secondary PATH_TO_SDV_SECONDARY partial|full\n");
        return 2;
    }
    secondary_bin = argv[1];
    mode_name = argv[2];
    /* The test writes to sockets the secondary may have closed (oversized frame). */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
