/*
 * tuf_bench.c - how fast the TUF client is, next to a baseline measured in the same run:
 *
 *   (a) signature verifications per second through sdv_key_verify() against OpenSSL's leanest
 *       raw verify loop, for every supported key type;
 *   (b) a full refresh of a large repository (100,000 targets in 1,024 succinct hash bins by
 *       default) over file:// with every bin loaded and verified, against reading and parsing
 *       the same metadata files with no verification; and peak memory of the client;
 *   (c) a refresh when nothing changed, over real HTTP on 127.0.0.1 (python3 -m http.server),
 *       against one bare libcurl GET of timestamp.json.
 *
 * Run it from a Release build (make bench); docs/bench.md explains every figure. The program
 * exits non-zero only when something fails, never because a figure is below its target.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <sdv/common.h>
#include <sdv/crypto.h>
#include <sdv/limits.h>
#include <sdv/net.h>
#include <sdv/tuf.h>
#include <sdv/tuf_repo.h>

#include "bench_util.h"

#ifndef SDV_BENCH_BUILD_TYPE
#define SDV_BENCH_BUILD_TYPE "unknown"
#endif

#define BIN_PREFIX     "bins"
#define PATH_LEN_MAX   64
#define RUNS_MAX       64
#define SIG_MSG_TARGET 1024 /* bytes of canonical JSON signed in (a) */

struct options {
    int quick;
    int keep_temp;
    unsigned targets;        /* (b): number of targets */
    unsigned bins;           /* (b): number of hash bins, a power of two */
    unsigned sig_rounds;     /* (a): rounds per key type (each measures ours and raw) */
    double sig_round_s;      /* (a): duration of one measurement */
    unsigned refresh_runs;   /* (b): full refreshes timed */
    unsigned lookups;        /* (b): random lookups after all bins are loaded */
    unsigned http_refreshes; /* (c): no-change refreshes timed */
};

/* Everything the three parts share: the temporary tree and the published repository. */
struct bench {
    struct options opt;
    int64_t now;
    char tmp[4096];      /* everything we create lives below this directory */
    char repo_dir[4200]; /* repository (staged/, metadata/, targets/) */
    char meta_dir[4300]; /* repo_dir/metadata: what clients download */
    uint8_t *root;       /* published root.json: the trusted root every client starts from */
    size_t root_len;
    unsigned bit_length;
    char (*bin_path)[PATH_LEN_MAX]; /* one path per bin that lands in it */
    int *bin_path_listed;           /* 1 if bin_path[i] is a real target, 0 for a probe */
    pid_t server;                   /* (c): the HTTP server, 0 when none runs */
};

/* ---- small helpers ---------------------------------------------------------------------- */

static void die_err(const char *what, enum sdv_err err, const char *detail)
{
    fprintf(stderr, "tuf_bench: %s: %s%s%s\n", what, sdv_strerror(err),
            detail != NULL && detail[0] != '\0' ? ": " : "", detail != NULL ? detail : "");
}

/* The target path of target i: 100 files per directory keeps directories small. */
static void target_path(unsigned i, char out[PATH_LEN_MAX])
{
    snprintf(out, PATH_LEN_MAX, "ecu-%04u/fw-%07u.bin", i / 100, i);
}

/* xorshift64: a deterministic stream of pseudo-random lookups, identical in every run. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static double rate_or_zero(double n, double s)
{
    return s > 0 ? n / s : 0.0;
}

/* ---- (a) signature verification --------------------------------------------------------- */

/*
 * A canonical TUF-like "signed" object of about SIG_MSG_TARGET bytes: a targets role with as many
 * entries as it takes. This is what a signature covers in real metadata.
 */
static enum sdv_err make_sig_message(struct sdv_buf *msg)
{
    json_t *signed_obj = json_pack("{s:s, s:s, s:s, s:i, s:{}}", "_type", "targets", "expires",
                                   "2030-01-01T00:00:00Z", "spec_version", SDV_TUF_SPEC_VERSION,
                                   "version", 42, "targets");
    json_t *targets = json_object_get(signed_obj, "targets");
    enum sdv_err err = SDV_OK;

    if (signed_obj == NULL)
        return SDV_ENOMEM;
    for (unsigned i = 0; err == SDV_OK; i++) {
        char path[PATH_LEN_MAX], hex[65];
        uint8_t d[32];

        sdv_buf_reset(msg);
        err = sdv_cjson_write(signed_obj, msg);
        if (err != SDV_OK || msg->len >= SIG_MSG_TARGET)
            break;
        target_path(i, path);
        err = sdv_hash_buf(SDV_HASH_SHA256, path, strlen(path), d);
        if (err != SDV_OK)
            break;
        sdv_hex_encode(d, sizeof(d), hex);
        if (json_object_set_new(
                    targets, path,
                    json_pack("{s:{s:s}, s:i}", "hashes", "sha256", hex, "length", 1000 + i)) != 0)
            err = SDV_ENOMEM;
    }
    json_decref(signed_obj);
    return err;
}

/* The same key as an EVP_PKEY of its own, loaded from its public PEM, for the raw loop. */
static EVP_PKEY *raw_pkey(const struct sdv_key *key)
{
    struct sdv_buf pem;
    EVP_PKEY *pkey = NULL;
    BIO *bio;

    sdv_buf_init(&pem, SDV_KEY_PEM_LEN_MAX);
    if (sdv_key_public_pem(key, &pem) == SDV_OK) {
        bio = BIO_new_mem_buf(pem.data, (int)pem.len);
        if (bio != NULL)
            pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    sdv_buf_free(&pem);
    return pkey;
}

/*
 * One verification with the leanest raw OpenSSL sequence: re-initialise the reused context and
 * verify. RSA needs PSS selected; one OSSL_PARAM call is cheaper than the two legacy
 * EVP_PKEY_CTX_set_rsa_* control calls (each is translated into parameters in OpenSSL 3). MGF1
 * defaults to the signature digest. Returns 1 for a valid signature.
 */
static int raw_verify_once(EVP_MD_CTX *ctx, EVP_PKEY *pkey, enum sdv_key_type type,
                           const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len)
{
    EVP_PKEY_CTX *pctx = NULL;

    if (EVP_DigestVerifyInit(ctx, &pctx, type == SDV_KEY_ED25519 ? NULL : EVP_sha256(), NULL,
                             pkey) != 1)
        return 0;
    if (type == SDV_KEY_RSA) {
        int saltlen = RSA_PSS_SALTLEN_DIGEST;
        OSSL_PARAM params[3];

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
                                                     (char *)OSSL_PKEY_RSA_PAD_MODE_PSS, 0);
        params[1] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &saltlen);
        params[2] = OSSL_PARAM_construct_end();
        if (EVP_PKEY_CTX_set_params(pctx, params) != 1)
            return 0;
    }
    return EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) == 1;
}

struct sig_case {
    const char *label;
    enum sdv_key_type type;
    struct sdv_key *key;
    EVP_PKEY *pkey;
    EVP_MD_CTX *ctx; /* the raw loop's context, reused for every verification with pkey */
    uint8_t sig[SDV_SIG_LEN_MAX];
    size_t sig_len;
};

#define SIG_SLICE_S 0.01

/* Verifies for one slice of about SIG_SLICE_S seconds; adds the count and the time spent.
 * Returns -1 if a verification fails. */
static int sig_slice(struct sig_case *c, int raw, const struct sdv_buf *msg, double *n,
                     double *spent)
{
    double t0 = bench_now_s(), t = t0;
    unsigned long count = 0;

    while (t - t0 < SIG_SLICE_S) {
        int ok = raw ? raw_verify_once(c->ctx, c->pkey, c->type, msg->data, msg->len, c->sig,
                                       c->sig_len)
                     : sdv_key_verify(c->key, msg->data, msg->len, c->sig, c->sig_len) == SDV_OK;

        if (!ok)
            return -1;
        count++;
        t = bench_now_s();
    }
    *n += (double)count;
    *spent += t - t0;
    return 0;
}

/*
 * One round: about dur_s seconds of verifications per side, in slices of SIG_SLICE_S that
 * alternate between ours and raw, so that a neighbour's load or a frequency change hits both
 * sides alike. raw_first picks the side of the first slice. Writes both rates.
 */
static int sig_round(struct sig_case *c, const struct sdv_buf *msg, double dur_s, int raw_first,
                     double *ours_rate, double *raw_rate)
{
    double n[2] = {0, 0}, spent[2] = {0, 0};

    while (spent[0] < dur_s || spent[1] < dur_s) {
        for (int k = 0; k < 2; k++) {
            int raw = (k == 0) == (raw_first != 0);

            if (sig_slice(c, raw, msg, &n[raw], &spent[raw]) != 0)
                return -1;
        }
    }
    *ours_rate = n[0] / spent[0];
    *raw_rate = n[1] / spent[1];
    return 0;
}

static int bench_signatures(const struct options *opt)
{
    struct sig_case cases[3] = {
            {"ed25519", SDV_KEY_ED25519, NULL, NULL, NULL, {0}, 0},
            {"ecdsa-sha2-nistp256", SDV_KEY_ECDSA_P256, NULL, NULL, NULL, {0}, 0},
            {"rsassa-pss-sha256 (RSA-3072)", SDV_KEY_RSA, NULL, NULL, NULL, {0}, 0},
    };
    double ours[RUNS_MAX], raw[RUNS_MAX];
    struct sdv_buf msg;
    enum sdv_err err;
    int rc = 1;

    sdv_buf_init(&msg, 64 * 1024);
    err = make_sig_message(&msg);
    if (err != SDV_OK) {
        die_err("building the signed message", err, NULL);
        goto out;
    }
    printf("(a) Signature verification of a %zu-byte canonical JSON message, key loaded once\n",
           msg.len);
    printf("    %u rounds of %.2f s per side, ours and raw alternating in %.0f ms slices; "
           "medians\n\n",
           opt->sig_rounds, opt->sig_round_s, SIG_SLICE_S * 1e3);
    printf("    %-30s %14s %14s %9s   %s\n", "scheme", "sdv_key_verify", "raw OpenSSL", "ours/raw",
           "target >= 0.90");
    for (size_t i = 0; i < 3; i++) {
        struct sig_case *c = &cases[i];
        double m_ours, m_raw, ratio;

        err = sdv_key_generate(c->type, 3072, &c->key);
        if (err == SDV_OK)
            err = sdv_key_sign(c->key, msg.data, msg.len, c->sig, sizeof(c->sig), &c->sig_len);
        if (err != SDV_OK) {
            die_err(c->label, err, "key generation or signing failed");
            goto out;
        }
        c->pkey = raw_pkey(c->key);
        /* One context per key: a context initialised for one key type is not re-initialised
         * for another. */
        c->ctx = EVP_MD_CTX_new();
        if (c->pkey == NULL || c->ctx == NULL) {
            die_err(c->label, SDV_ECRYPTO, "cannot load the public key into OpenSSL");
            goto out;
        }
        /* Both sides must agree on a good and on a bad signature before anything is timed. */
        if (!raw_verify_once(c->ctx, c->pkey, c->type, msg.data, msg.len, c->sig, c->sig_len) ||
            sdv_key_verify(c->key, msg.data, msg.len, c->sig, c->sig_len) != SDV_OK) {
            die_err(c->label, SDV_ESIG, "a valid signature does not verify");
            goto out;
        }
        msg.data[0] ^= 1;
        if (raw_verify_once(c->ctx, c->pkey, c->type, msg.data, msg.len, c->sig, c->sig_len) ||
            sdv_key_verify(c->key, msg.data, msg.len, c->sig, c->sig_len) != SDV_ESIG) {
            msg.data[0] ^= 1;
            die_err(c->label, SDV_ESIG, "a signature over another message verifies");
            goto out;
        }
        msg.data[0] ^= 1;
        for (unsigned r = 0; r < opt->sig_rounds; r++) {
            if (sig_round(c, &msg, opt->sig_round_s, r % 2 == 1, &ours[r], &raw[r]) != 0) {
                die_err(c->label, SDV_ESIG, "verification failed inside the timed loop");
                goto out;
            }
        }
        m_ours = bench_median(ours, opt->sig_rounds);
        m_raw = bench_median(raw, opt->sig_rounds);
        ratio = m_raw > 0 ? m_ours / m_raw : 0.0;
        printf("    %-30s %12.0f/s %12.0f/s %9.3f   %s\n", c->label, m_ours, m_raw, ratio,
               ratio >= 0.9 ? "PASS" : "BELOW");
        fflush(stdout);
    }
    printf("\n    raw = EVP_DigestVerifyInit + EVP_DigestVerify on a pre-loaded EVP_PKEY with one\n"
           "    reused EVP_MD_CTX (RSA: PSS padding and salt = digest length in one OSSL_PARAM "
           "call).\n"
           "    TUF level: verifying a whole metadata file happens inside the client and has no\n"
           "    public entry point; its cost is part of (b) and (c).\n\n");
    rc = 0;
out:
    for (size_t i = 0; i < 3; i++) {
        EVP_MD_CTX_free(cases[i].ctx);
        EVP_PKEY_free(cases[i].pkey);
        sdv_key_destroy(cases[i].key);
    }
    sdv_buf_free(&msg);
    return rc;
}

/* ---- (b) building the repository -------------------------------------------------------- */

struct build_times {
    double files_s;   /* writing the tiny target source files */
    double add_s;     /* init, keys, delegate_bins, add_targets */
    double sign_s;    /* signing every role, snapshot, timestamp */
    double publish_s; /* publish */
};

/* Writes one tiny, distinct file per target into the current directory (src-NNNNNNN) and fills
 * in targets[] with those relative names. */
static enum sdv_err write_sources(unsigned count, struct sdv_tuf_repo_target *targets,
                                  char (*paths)[PATH_LEN_MAX], char (*files)[PATH_LEN_MAX])
{
    for (unsigned i = 0; i < count; i++) {
        char content[PATH_LEN_MAX + 32];
        FILE *f;
        int n;

        target_path(i, paths[i]);
        snprintf(files[i], PATH_LEN_MAX, "src-%07u", i);
        n = snprintf(content, sizeof(content), "firmware image %u (%s)\n", i, paths[i]);
        f = fopen(files[i], "wb");
        if (f == NULL)
            return sdv_err_from_errno(errno);
        if (fwrite(content, 1, (size_t)n, f) != (size_t)n) {
            fclose(f);
            return SDV_EIO;
        }
        if (fclose(f) != 0)
            return sdv_err_from_errno(errno);
        targets[i].path = paths[i];
        targets[i].file = files[i];
        targets[i].custom = NULL;
    }
    return SDV_OK;
}

/*
 * Builds and publishes the repository with the library API. Runs in a child process so that the
 * memory it needs never shows up in the client's measurements; the times come back over fd.
 */
static int build_repo_child(const struct bench *b, int fd)
{
    struct build_times bt = {0};
    struct sdv_tuf_repo *repo = NULL;
    struct sdv_key *keys[5] = {NULL};
    const char *roles[4] = {"root", "timestamp", "snapshot", "targets"};
    struct sdv_tuf_repo_target *targets = NULL;
    char(*paths)[PATH_LEN_MAX] = NULL;
    char(*files)[PATH_LEN_MAX] = NULL;
    char src_dir[4200], msg[512] = "";
    const struct sdv_key *bin_keys[1];
    enum sdv_err err = SDV_OK;
    unsigned n = b->opt.targets;
    double t0;
    int rc = 1;

    targets = calloc(n, sizeof(*targets));
    paths = calloc(n, sizeof(*paths));
    files = calloc(n, sizeof(*files));
    if (targets == NULL || paths == NULL || files == NULL) {
        die_err("repository", SDV_ENOMEM, NULL);
        goto out;
    }
    /* Tiny, distinct target files: the client never downloads them, only their metadata.
     * They are written under relative names in src/, so this child changes directory. */
    t0 = bench_now_s();
    snprintf(src_dir, sizeof(src_dir), "%s/src", b->tmp);
    if (mkdir(src_dir, 0755) != 0 || chdir(src_dir) != 0) {
        die_err("creating the source directory", sdv_err_from_errno(errno), src_dir);
        goto out;
    }
    err = write_sources(n, targets, paths, files);
    if (err != SDV_OK) {
        die_err("writing target source files", err, src_dir);
        goto out;
    }
    bt.files_s = bench_now_s() - t0;

    t0 = bench_now_s();
    for (size_t i = 0; i < 5 && err == SDV_OK; i++)
        err = sdv_key_generate(SDV_KEY_ED25519, 0, &keys[i]);
    if (err != SDV_OK) {
        die_err("generating keys", err, NULL);
        goto out;
    }
    err = sdv_tuf_repo_init(b->repo_dir, 1, b->now, &repo, msg, sizeof(msg));
    if (err != SDV_OK) {
        die_err("sdv_tuf_repo_init", err, msg);
        goto out;
    }
    for (size_t i = 0; i < 4 && err == SDV_OK; i++)
        err = sdv_tuf_repo_add_key(repo, roles[i], keys[i], 1);
    bin_keys[0] = keys[4];
    if (err == SDV_OK)
        err = sdv_tuf_repo_delegate_bins(repo, "targets", b->opt.bins, BIN_PREFIX, bin_keys, 1, 1);
    if (err == SDV_OK)
        err = sdv_tuf_repo_add_targets(repo, NULL, targets, n);
    bt.add_s = bench_now_s() - t0;
    if (err != SDV_OK) {
        die_err("building the repository", err, sdv_tuf_repo_errmsg(repo));
        goto out;
    }

    t0 = bench_now_s();
    err = sdv_tuf_repo_sign(repo, "root", keys[0]);
    if (err == SDV_OK)
        err = sdv_tuf_repo_sign(repo, "targets", keys[3]);
    if (err == SDV_OK)
        err = sdv_tuf_repo_sign(repo, BIN_PREFIX, keys[4]);
    if (err == SDV_OK)
        err = sdv_tuf_repo_snapshot(repo, keys[2], 0);
    if (err == SDV_OK)
        err = sdv_tuf_repo_timestamp(repo, keys[1]);
    bt.sign_s = bench_now_s() - t0;
    if (err != SDV_OK) {
        die_err("signing the repository", err, sdv_tuf_repo_errmsg(repo));
        goto out;
    }
    t0 = bench_now_s();
    err = sdv_tuf_repo_publish(repo);
    bt.publish_s = bench_now_s() - t0;
    if (err != SDV_OK) {
        die_err("sdv_tuf_repo_publish", err, sdv_tuf_repo_errmsg(repo));
        goto out;
    }
    /* The sources are copies of what is now under repo/targets: drop them. */
    if (chdir(b->tmp) == 0)
        bench_rm_tree(src_dir);
    if (write(fd, &bt, sizeof(bt)) != (ssize_t)sizeof(bt)) {
        die_err("reporting build times", sdv_err_from_errno(errno), NULL);
        goto out;
    }
    rc = 0;
out:
    sdv_tuf_repo_close(repo);
    for (size_t i = 0; i < 5; i++)
        sdv_key_destroy(keys[i]);
    free(targets);
    free(paths);
    free(files);
    return rc;
}

/* Forks the builder, waits for it and collects its times. */
static int build_repo(struct bench *b, struct build_times *bt, double *total_s)
{
    int fds[2], status = 0;
    double t0 = bench_now_s();
    pid_t pid;
    ssize_t got;

    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        int rc;

        close(fds[0]);
        rc = build_repo_child(b, fds[1]);
        close(fds[1]);
        _exit(rc);
    }
    close(fds[1]);
    got = read(fds[0], bt, sizeof(*bt));
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    *total_s = bench_now_s() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof(*bt))
        return -1;
    return 0;
}

/* Picks, for every bin, one listed target path that lands in it; bins no target lands in get a
 * made-up path that does (its lookup loads the bin and then finds nothing). */
static int choose_bin_paths(struct bench *b)
{
    unsigned bins = b->opt.bins, filled = 0;
    enum sdv_err err;

    b->bin_path = calloc(bins, sizeof(*b->bin_path));
    b->bin_path_listed = calloc(bins, sizeof(*b->bin_path_listed));
    if (b->bin_path == NULL || b->bin_path_listed == NULL)
        return -1;
    for (unsigned i = 0; i < b->opt.targets && filled < bins; i++) {
        char path[PATH_LEN_MAX];
        uint32_t idx;

        target_path(i, path);
        err = sdv_tuf_bin_for_path(path, b->bit_length, BIN_PREFIX, &idx, NULL, 0);
        if (err != SDV_OK || idx >= bins)
            return -1;
        if (!b->bin_path_listed[idx]) {
            memcpy(b->bin_path[idx], path, sizeof(path));
            b->bin_path_listed[idx] = 1;
            filled++;
        }
    }
    for (unsigned probe = 0; filled < bins && probe < 64u * bins + 1000000u; probe++) {
        char path[PATH_LEN_MAX];
        uint32_t idx;

        snprintf(path, sizeof(path), "absent/probe-%u.bin", probe);
        if (sdv_tuf_bin_for_path(path, b->bit_length, BIN_PREFIX, &idx, NULL, 0) != SDV_OK)
            return -1;
        if (idx < bins && b->bin_path[idx][0] == '\0') {
            memcpy(b->bin_path[idx], path, sizeof(path));
            filled++;
        }
    }
    return filled == bins ? 0 : -1;
}

/* ---- (b) the client --------------------------------------------------------------------- */

/* Counts body bytes on their way from sdv_net_fetch to the client's sink. */
struct counting_fetch {
    struct sdv_net *net;
    uint64_t bytes;
};

struct counting_sink {
    struct counting_fetch *cf;
    sdv_sink_fn sink;
    void *sink_ud;
};

static enum sdv_err count_sink(void *ud, const void *data, size_t len)
{
    struct counting_sink *cs = ud;

    cs->cf->bytes += len;
    return cs->sink(cs->sink_ud, data, len);
}

static enum sdv_err counting_fetch(void *ud, const char *url, uint64_t max_len, sdv_sink_fn sink,
                                   void *sink_ud)
{
    struct counting_fetch *cf = ud;
    struct counting_sink cs = {cf, sink, sink_ud};

    return sdv_net_fetch(cf->net, url, max_len, count_sink, &cs);
}

struct client_result {
    double refresh_s; /* client create (loads the trusted root) + refresh */
    double bins_s;    /* one lookup per bin: every bin downloaded and verified */
    double lookups_s; /* random lookups once every bin is loaded */
    unsigned long requests;
    uint64_t bytes;
};

/*
 * One complete client session on a fresh metadata directory: install the root, refresh, load
 * every bin through one lookup each, then the random lookups. Returns 0 on success.
 */
static int client_session(const struct bench *b, const char *mdir, const char *url,
                          struct client_result *res)
{
    struct sdv_tuf_client_config cfg = {0};
    struct sdv_tuf_client *client = NULL;
    struct counting_fetch cf = {NULL, 0};
    struct sdv_tuf_target t;
    char msg[1024] = "";
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    enum sdv_err err;
    double t0, t1, t2, t3;
    int rc = 1;

    memset(res, 0, sizeof(*res));
    if (bench_rm_tree(mdir) != 0) {
        die_err("clearing the client metadata directory", SDV_EIO, mdir);
        return 1;
    }
    err = sdv_tuf_client_init_root(mdir, b->root, b->root_len, msg, sizeof(msg));
    if (err != SDV_OK) {
        die_err("sdv_tuf_client_init_root", err, msg);
        return 1;
    }
    err = sdv_net_create(NULL, &cf.net);
    if (err != SDV_OK) {
        die_err("sdv_net_create", err, NULL);
        return 1;
    }
    cfg.metadata_dir = mdir;
    cfg.metadata_url = url;
    cfg.fetch = counting_fetch;
    cfg.fetch_ud = &cf;
    cfg.now = b->now;

    t0 = bench_now_s();
    err = sdv_tuf_client_create(&cfg, &client, msg, sizeof(msg));
    if (err != SDV_OK) {
        die_err("sdv_tuf_client_create", err, msg);
        goto out;
    }
    err = sdv_tuf_client_refresh(client);
    t1 = bench_now_s();
    if (err != SDV_OK) {
        die_err("refresh", err, sdv_tuf_client_errmsg(client));
        goto out;
    }
    for (unsigned i = 0; i < b->opt.bins; i++) {
        err = sdv_tuf_client_find_target(client, b->bin_path[i], &t);
        if (err != (b->bin_path_listed[i] ? SDV_OK : SDV_ENOTARGET)) {
            die_err("looking up a target", err, sdv_tuf_client_errmsg(client));
            goto out;
        }
    }
    t2 = bench_now_s();
    for (unsigned i = 0; i < b->opt.lookups; i++) {
        char path[PATH_LEN_MAX];

        target_path((unsigned)(next_rand(&seed) % b->opt.targets), path);
        err = sdv_tuf_client_find_target(client, path, &t);
        if (err != SDV_OK) {
            die_err("random lookup", err, sdv_tuf_client_errmsg(client));
            goto out;
        }
    }
    t3 = bench_now_s();
    res->refresh_s = t1 - t0;
    res->bins_s = t2 - t1;
    res->lookups_s = t3 - t2;
    res->requests = sdv_net_request_count(cf.net);
    res->bytes = cf.bytes;
    /* Every bin must now be trusted: a lookup that silently skipped one would flatter us. */
    for (unsigned i = 0; i < b->opt.bins; i++) {
        char name[SDV_TUF_NAME_LEN_MAX];

        if (sdv_tuf_bin_for_path(b->bin_path[i], b->bit_length, BIN_PREFIX, NULL, name,
                                 sizeof(name)) != SDV_OK ||
            sdv_tuf_client_role_version(client, name) < 1) {
            die_err("bin not loaded after its lookup", SDV_ENOTARGET, name);
            goto out;
        }
    }
    rc = 0;
out:
    sdv_tuf_client_destroy(client);
    sdv_net_destroy(cf.net);
    return rc;
}

/* Runs fn in a child process and returns its peak resident set size in KiB (-1 on failure).
 * wait4() reports the rusage of that one child, where getrusage(RUSAGE_CHILDREN) would give the
 * maximum over every child waited for so far, the repository builder included. */
static long child_peak_rss_kib(const struct bench *b, const char *mdir, const char *url, int idle)
{
    struct client_result res;
    struct rusage ru;
    int status = 0;
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(idle ? 0 : client_session(b, mdir, url, &res));
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return ru.ru_maxrss;
}

/* The cost floor: read and parse (json_loadb, no verification) every metadata file the client
 * trusts, each once. Returns the seconds taken, -1 on failure; *files_out gets the count. */
static double parse_floor(const char *mdir, unsigned *files_out, uint64_t *bytes_out)
{
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *de;
    double t0, t = -1.0;
    DIR *d = opendir(mdir);

    if (d == NULL)
        return -1.0;
    /* The listing is not timed: the client knows its file names from the metadata. */
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (count == cap) {
            char **grown = realloc(names, (cap ? 2 * cap : 1024) * sizeof(*names));

            if (grown == NULL)
                goto out;
            names = grown;
            cap = cap ? 2 * cap : 1024;
        }
        names[count] = malloc(strlen(mdir) + len + 2);
        if (names[count] == NULL)
            goto out;
        snprintf(names[count], strlen(mdir) + len + 2, "%s/%s", mdir, de->d_name);
        count++;
    }
    *bytes_out = 0;
    t0 = bench_now_s();
    for (size_t i = 0; i < count; i++) {
        json_error_t jerr;
        size_t len;
        uint8_t *data = bench_read_file(names[i], &len);
        json_t *v;

        if (data == NULL)
            goto out;
        v = json_loadb((const char *)data, len, 0, &jerr);
        free(data);
        if (v == NULL)
            goto out;
        json_decref(v);
        *bytes_out += len;
    }
    t = bench_now_s() - t0;
    *files_out = (unsigned)count;
out:
    closedir(d);
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return t;
}

static int bench_full_refresh(struct bench *b)
{
    struct build_times bt;
    struct client_result res[RUNS_MAX];
    double refresh[RUNS_MAX], bins_t[RUNS_MAX], lookups[RUNS_MAX], total[RUNS_MAX];
    double floor_t[RUNS_MAX], build_s, m_refresh, m_bins, m_lookups, m_total, m_floor;
    char url[4400], mdir[4400], c1[32], c2[32], path[4400];
    unsigned floor_files = 0;
    uint64_t floor_bytes = 0;
    long idle_kib, peak_kib;

    printf("(b) Full refresh: %s targets in %s succinct hash bins (bit_length %u), ed25519 keys,\n"
           "    consistent snapshots, fetched over file:// through sdv_net_fetch\n\n",
           bench_fmt_count(b->opt.targets, c1, sizeof(c1)),
           bench_fmt_count(b->opt.bins, c2, sizeof(c2)), b->bit_length);
    fflush(stdout);
    if (build_repo(b, &bt, &build_s) != 0) {
        fprintf(stderr, "tuf_bench: building the repository failed\n");
        return 1;
    }
    printf("    repository build (informational): %.2f s = files %.2f + add %.2f + sign/snapshot/"
           "timestamp %.2f + publish %.2f\n",
           build_s, bt.files_s, bt.add_s, bt.sign_s, bt.publish_s);
    snprintf(path, sizeof(path), "%s/root.json", b->meta_dir);
    b->root = bench_read_file(path, &b->root_len);
    if (b->root == NULL || choose_bin_paths(b) != 0) {
        fprintf(stderr, "tuf_bench: cannot read %s or map the bins\n", path);
        return 1;
    }
    snprintf(url, sizeof(url), "file://%s/", b->meta_dir);

    /* Memory first, while this process is still small: a forked child starts with the parent's
     * resident pages, so an idle child shows that floor. */
    snprintf(mdir, sizeof(mdir), "%s/client-mem", b->tmp);
    idle_kib = child_peak_rss_kib(b, mdir, url, 1);
    peak_kib = child_peak_rss_kib(b, mdir, url, 0);
    if (idle_kib < 0 || peak_kib < 0) {
        fprintf(stderr, "tuf_bench: the client process for the memory measurement failed\n");
        return 1;
    }

    for (unsigned r = 0; r < b->opt.refresh_runs; r++) {
        snprintf(mdir, sizeof(mdir), "%s/client-b%u", b->tmp, r);
        if (client_session(b, mdir, url, &res[r]) != 0)
            return 1;
        refresh[r] = res[r].refresh_s;
        bins_t[r] = res[r].bins_s;
        lookups[r] = res[r].lookups_s;
        total[r] = res[r].refresh_s + res[r].bins_s;
        /* The floor reads the very files this run trusted, right after it. */
        floor_t[r] = parse_floor(mdir, &floor_files, &floor_bytes);
        if (floor_t[r] < 0) {
            fprintf(stderr, "tuf_bench: reading the metadata for the floor failed\n");
            return 1;
        }
    }
    m_refresh = bench_median(refresh, b->opt.refresh_runs);
    m_bins = bench_median(bins_t, b->opt.refresh_runs);
    m_lookups = bench_median(lookups, b->opt.refresh_runs);
    m_total = bench_median(total, b->opt.refresh_runs);
    m_floor = bench_median(floor_t, b->opt.refresh_runs);

    printf("    medians of %u runs, each on a fresh metadata directory:\n", b->opt.refresh_runs);
    printf("      refresh (root, timestamp, snapshot, targets)  %9.1f ms\n", m_refresh * 1e3);
    printf("      load + verify all %-5u bins (1 lookup each)  %9.1f ms   %7.1f us/bin\n",
           b->opt.bins, m_bins * 1e3, rate_or_zero(m_bins * 1e6, b->opt.bins));
    printf("      refresh + all bins                            %9.1f ms   %7.2f us/target\n",
           m_total * 1e3, rate_or_zero(m_total * 1e6, b->opt.targets));
    printf("      %s random lookups afterwards              %9.1f ms   %7.2f us/lookup\n",
           bench_fmt_count(b->opt.lookups, c1, sizeof(c1)), m_lookups * 1e3,
           rate_or_zero(m_lookups * 1e6, b->opt.lookups));
    printf("      requests %lu, metadata downloaded %s bytes\n", res[0].requests,
           bench_fmt_count(res[0].bytes, c1, sizeof(c1)));
    printf("    floor: read + json_loadb of the %u trusted files (%s bytes), no verification\n",
           floor_files, bench_fmt_count(floor_bytes, c1, sizeof(c1)));
    printf("      floor %9.1f ms; refresh + all bins / floor = %.1fx (the cost of fetching,\n"
           "      verifying and atomically persisting each file)\n",
           m_floor * 1e3, m_floor > 0 ? m_total / m_floor : 0.0);
    printf("    peak RSS of a client process doing one whole session: %.1f MiB\n"
           "      (an idle forked child of this process: %.1f MiB; difference %.1f MiB)\n",
           (double)peak_kib / 1024.0, (double)idle_kib / 1024.0,
           (double)(peak_kib - idle_kib) / 1024.0);
    printf("    baseline: there is no C reference client to run here; the figures per bin and\n"
           "    per target and the ratio to the parse floor are the comparison.\n\n");
    fflush(stdout);
    return 0;
}

/* ---- (c) no-change refresh over HTTP ---------------------------------------------------- */

/* A free TCP port on 127.0.0.1: bind port 0, read what the kernel chose, close. */
static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static size_t discard_body(char *data, size_t size, size_t nmemb, void *ud)
{
    uint64_t *bytes = ud;

    (void)data;
    *bytes += size * nmemb;
    return size * nmemb;
}

/* The baseline: one GET on a fresh libcurl handle, nothing else. Returns 0 on HTTP 200. */
static int bare_get(const char *url, uint64_t *bytes)
{
    CURL *h = curl_easy_init();
    CURLcode rc;

    if (h == NULL)
        return -1;
    *bytes = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, bytes);
    rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    return rc == CURLE_OK ? 0 : -1;
}

static void stop_server(struct bench *b)
{
    int status;

    if (b->server <= 0)
        return;
    kill(b->server, SIGTERM);
    while (waitpid(b->server, &status, 0) < 0 && errno == EINTR)
        ;
    b->server = 0;
}

/* Starts python3's http.server on 127.0.0.1:port serving dir; waits until it answers.
 * Returns 0 when ready, 1 when python3 cannot be run, -1 on any other failure. */
static int start_server(struct bench *b, int port, const char *dir, const char *probe_url)
{
    char port_s[16];
    double deadline;
    int status;

    snprintf(port_s, sizeof(port_s), "%d", port);
    fflush(stdout);
    fflush(stderr);
    b->server = fork();
    if (b->server < 0) {
        b->server = 0;
        return -1;
    }
    if (b->server == 0) {
        int devnull = open("/dev/null", O_RDWR);

#ifdef __linux__
        /* Die with the benchmark, even if it crashes. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        execlp("python3", "python3", "-m", "http.server", "--bind", "127.0.0.1", port_s,
               "--directory", dir, (char *)NULL);
        _exit(127);
    }
    deadline = bench_now_s() + 15.0;
    while (bench_now_s() < deadline) {
        uint64_t bytes;
        pid_t done = waitpid(b->server, &status, WNOHANG);

        if (done == b->server) {
            b->server = 0;
            return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? 1 : -1;
        }
        if (bare_get(probe_url, &bytes) == 0)
            return 0;
        usleep(50 * 1000);
    }
    return -1;
}

static int http_refresh(const struct bench *b, const char *mdir, const char *url, double *secs,
                        unsigned long *requests, uint64_t *bytes)
{
    struct sdv_tuf_client_config cfg = {0};
    struct sdv_tuf_client *client = NULL;
    struct counting_fetch cf = {NULL, 0};
    char msg[1024] = "";
    enum sdv_err err;
    double t0 = bench_now_s();
    int rc = 1;

    /* Everything a device does for one check: a network handle, a client, the refresh. */
    err = sdv_net_create(NULL, &cf.net);
    if (err != SDV_OK) {
        die_err("sdv_net_create", err, NULL);
        return 1;
    }
    cfg.metadata_dir = mdir;
    cfg.metadata_url = url;
    cfg.fetch = counting_fetch;
    cfg.fetch_ud = &cf;
    cfg.now = b->now;
    err = sdv_tuf_client_create(&cfg, &client, msg, sizeof(msg));
    if (err != SDV_OK) {
        die_err("sdv_tuf_client_create", err, msg);
        goto out;
    }
    err = sdv_tuf_client_refresh(client);
    if (err != SDV_OK) {
        die_err("refresh over HTTP", err, sdv_tuf_client_errmsg(client));
        goto out;
    }
    rc = 0;
out:
    sdv_tuf_client_destroy(client);
    *requests = sdv_net_request_count(cf.net);
    *bytes = cf.bytes;
    sdv_net_destroy(cf.net);
    *secs = bench_now_s() - t0;
    return rc;
}

static int bench_http_refresh(struct bench *b)
{
    double ours[RUNS_MAX], bare[RUNS_MAX], m_ours, m_bare, secs;
    char url[128], ts_url[160], mdir[4400], msg[1024] = "";
    unsigned long requests = 0;
    uint64_t bytes = 0, bare_bytes = 0;
    enum sdv_err err;
    int port, rc;

    printf("(c) Refresh when nothing changed, over HTTP on 127.0.0.1 (python3 -m http.server)\n\n");
    fflush(stdout);
    port = free_port();
    if (port <= 0) {
        fprintf(stderr, "tuf_bench: no free port on 127.0.0.1\n");
        return 1;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    snprintf(ts_url, sizeof(ts_url), "%stimestamp.json", url);
    rc = start_server(b, port, b->meta_dir, ts_url);
    if (rc == 1) {
        printf("    skipped: python3 cannot be run on this machine\n\n");
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "tuf_bench: the HTTP server on port %d did not answer\n", port);
        stop_server(b);
        return 1;
    }
    snprintf(mdir, sizeof(mdir), "%s/client-http", b->tmp);
    err = sdv_tuf_client_init_root(mdir, b->root, b->root_len, msg, sizeof(msg));
    if (err != SDV_OK) {
        die_err("sdv_tuf_client_init_root", err, msg);
        stop_server(b);
        return 1;
    }
    /* The initial refresh downloads timestamp, snapshot and targets; later ones find them. */
    if (http_refresh(b, mdir, url, &secs, &requests, &bytes) != 0) {
        stop_server(b);
        return 1;
    }
    printf("    initial refresh: %.1f ms, %lu requests, %s bytes\n", secs * 1e3, requests,
           bench_fmt_count(bytes, msg, sizeof(msg)));
    for (unsigned r = 0; r < b->opt.http_refreshes; r++) {
        /* Alternate the order, as in (a), so that drift lands on both sides. */
        for (int k = 0; k < 2; k++) {
            if ((k == 0) == (r % 2 == 0)) {
                if (http_refresh(b, mdir, url, &ours[r], &requests, &bytes) != 0) {
                    stop_server(b);
                    return 1;
                }
            } else {
                double t0 = bench_now_s();

                if (bare_get(ts_url, &bare_bytes) != 0)
                    goto failed;
                bare[r] = bench_now_s() - t0;
            }
        }
    }
    stop_server(b);
    m_ours = bench_median(ours, b->opt.http_refreshes);
    m_bare = bench_median(bare, b->opt.http_refreshes);
    printf("    medians of %u refreshes, each with a new sdv_net handle and a new client\n"
           "    on the same metadata directory:\n",
           b->opt.http_refreshes);
    printf("      refresh                          %8.2f ms   %lu requests, %s bytes%s\n",
           m_ours * 1e3, requests, bench_fmt_count(bytes, msg, sizeof(msg)),
           requests == 2 ? "" : "   (expected 2 requests!)");
    printf("      bare libcurl GET timestamp.json  %8.2f ms   1 request,  %s bytes\n", m_bare * 1e3,
           bench_fmt_count(bare_bytes, msg, sizeof(msg)));
    printf("      refresh / bare GET = %.2fx (the refresh makes 2 requests: the 2.root.json\n"
           "      probe that answers 404 and timestamp.json; then it verifies the local snapshot\n"
           "      and targets)\n\n",
           m_bare > 0 ? m_ours / m_bare : 0.0);
    return 0;
failed:
    fprintf(stderr, "tuf_bench: bare GET of %s failed\n", ts_url);
    stop_server(b);
    return 1;
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: tuf_bench [--quick] [--targets N] [--bins B] [--keep-temp]\n"
               "  --quick      tiny sizes (1,000 targets in 16 bins, short rounds): a smoke test\n"
               "  --targets N  number of targets in (b) (default 100000)\n"
               "  --bins B     number of hash bins in (b), a power of two 2..16384 (default 1024)\n"
               "  --keep-temp  keep the temporary directory and print its path\n"
               "Temporary files go to $TMPDIR (default /tmp).\n");
}

static int parse_uint(const char *s, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > 10000000ul)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    unsigned targets = 0, bins = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(argv[i], "--keep-temp") == 0) {
            o->keep_temp = 1;
        } else if (strcmp(argv[i], "--targets") == 0 && i + 1 < argc) {
            if (parse_uint(argv[++i], &targets) != 0)
                return -1;
        } else if (strcmp(argv[i], "--bins") == 0 && i + 1 < argc) {
            if (parse_uint(argv[++i], &bins) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    if (o->quick) {
        o->targets = 1000;
        o->bins = 16;
        o->sig_rounds = 3;
        o->sig_round_s = 0.02;
        o->refresh_runs = 1;
        o->lookups = 1000;
        o->http_refreshes = 3;
    } else {
        o->targets = 100000;
        o->bins = 1024;
        o->sig_rounds = 7;
        o->sig_round_s = 0.3;
        o->refresh_runs = 3;
        o->lookups = 10000;
        o->http_refreshes = 21;
    }
    if (targets != 0)
        o->targets = targets;
    if (bins != 0)
        o->bins = bins;
    if (o->bins < 2 || o->bins > 16384 || (o->bins & (o->bins - 1)) != 0) {
        fprintf(stderr, "tuf_bench: --bins must be a power of two from 2 to 16384\n");
        return -1;
    }
    return 0;
}

static void print_machine(const struct options *o)
{
    char model[256] = "unknown CPU", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");

    if (f != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            char *colon = strchr(line, ':');

            if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
                snprintf(model, sizeof(model), "%s", colon + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    printf("OpenSDV TUF benchmark%s\n",
           o->quick ? " (--quick: smoke-test sizes, not figures)" : "");
    printf("  build type  %s%s\n", SDV_BENCH_BUILD_TYPE,
           strstr(SDV_BENCH_BUILD_TYPE, "Rel") != NULL ? "" : "   (not optimised: use make bench)");
    printf("  machine     %ld CPUs online, %s\n", sysconf(_SC_NPROCESSORS_ONLN), model);
    printf("  libraries   %s; libcurl %s; jansson %s\n\n", OpenSSL_version(OPENSSL_VERSION),
           curl_version_info(CURLVERSION_NOW)->version, JANSSON_VERSION);
}

int main(int argc, char **argv)
{
    struct bench b;
    int rc = 1;

    memset(&b, 0, sizeof(b));
    if (parse_args(argc, argv, &b.opt) != 0) {
        usage(stderr);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "tuf_bench: curl_global_init failed\n");
        return 1;
    }
    b.now = (int64_t)time(NULL);
    b.bit_length = 0;
    while ((1u << b.bit_length) < b.opt.bins)
        b.bit_length++;
    print_machine(&b.opt);

    if (bench_signatures(&b.opt) != 0)
        goto out_curl;
    if (bench_mkdtemp("tuf_bench.", b.tmp, sizeof(b.tmp)) != 0) {
        fprintf(stderr, "tuf_bench: cannot create a temporary directory: %s\n", strerror(errno));
        goto out_curl;
    }
    snprintf(b.repo_dir, sizeof(b.repo_dir), "%s/repo", b.tmp);
    snprintf(b.meta_dir, sizeof(b.meta_dir), "%s/metadata", b.repo_dir);
    if (bench_full_refresh(&b) == 0 && bench_http_refresh(&b) == 0)
        rc = 0;
    stop_server(&b);
    if (b.opt.keep_temp) {
        printf("temporary files kept in %s\n", b.tmp);
    } else if (bench_rm_tree(b.tmp) != 0) {
        fprintf(stderr, "tuf_bench: could not remove %s entirely\n", b.tmp);
    }
    free(b.root);
    free(b.bin_path);
    free(b.bin_path_listed);
out_curl:
    curl_global_cleanup();
    if (rc != 0)
        fprintf(stderr, "tuf_bench: FAILED\n");
    return rc;
}
