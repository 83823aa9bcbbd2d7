/*
 * test_install_delta.c - lib/install fed by lib/delta, as the agent does it: the delta decoder
 * reads its base from the active slot (sdv_install_read_base) and writes the new image straight
 * into the inactive slot (sdv_install_sink), each decoder checkpoint becoming an install
 * checkpoint whose token is the encoded sdv_delta_checkpoint. A crash after a few blocks resumes
 * from the token: the decoder re-hashes the written prefix through sdv_install_read_target and
 * continues at the checkpoint's patch offset.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/crypto.h>
#include <sdv/delta.h>
#include <sdv/install.h>

#define OLD_LEN (300u * 1024u)

static int64_t clock0(void *ud)
{
    (void)ud;
    return 1900000000;
}

static enum sdv_err to_buf(void *ud, const void *data, size_t len)
{
    return sdv_buf_append(ud, data, len);
}

struct ck {
    struct sdv_install *inst;
    unsigned count;
    unsigned stop_after; /* 0: never */
};

/* The decoder's output is in the slot: make it durable with the checkpoint as token. */
static enum sdv_err on_checkpoint(void *ud, const struct sdv_delta_checkpoint *cp)
{
    struct ck *c = ud;
    uint8_t tok[SDV_DELTA_CHECKPOINT_LEN];
    enum sdv_err e = sdv_delta_checkpoint_encode(cp, tok);

    if (e == SDV_OK)
        e = sdv_install_write_checkpoint(c->inst, tok, sizeof(tok));
    if (e == SDV_OK && c->stop_after != 0 && ++c->count == c->stop_after)
        return SDV_ELIMIT; /* the "power cut" */
    return e;
}

static void test_delta_into_slot_with_resume(void **state)
{
    char dir[] = "/tmp/sdv-install-delta-XXXXXX", path[256], json[2048], err[256];
    uint8_t *old = malloc(OLD_LEN), *new_img = malloc(OLD_LEN + 5000);
    size_t new_len = OLD_LEN + 5000;
    struct sdv_delta_encode_opts eo = {0};
    struct sdv_buf patch;
    struct sdv_install_config *cfg = NULL;
    struct sdv_install *inst = NULL;
    struct sdv_install_env env = {0};
    struct sdv_install_image img = {"rootfs", 0, {0}};
    struct sdv_delta_decoder_limits lim = {0};
    struct sdv_delta_decoder *dec = NULL;
    struct sdv_delta_checkpoint cp;
    struct sdv_install_write_opts wo = {1, 0};
    struct ck c = {0};
    uint64_t off;
    int refused;
    uint8_t tok[SDV_INSTALL_TOKEN_LEN_MAX];
    size_t tl = 0;
    FILE *f;
    (void)state;

    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < OLD_LEN; i++)
        old[i] = (uint8_t)((i * 2654435761u) >> 13);
    memcpy(new_img, old, OLD_LEN);
    for (size_t i = 0; i < OLD_LEN; i += 997)
        new_img[i] ^= 0x5a;
    memset(new_img + OLD_LEN, 7, 5000);
    snprintf(path, sizeof(path), "%s/a.img", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(old, 1, OLD_LEN, f), OLD_LEN);
    fclose(f);
    sdv_buf_init(&patch, 64u << 20);
    eo.block_len = 32u * 1024u;
    assert_int_equal(sdv_delta_encode(old, OLD_LEN, new_img, new_len, &eo, to_buf, &patch, NULL),
                     SDV_OK);

    snprintf(json, sizeof(json),
             "{\"bootloader\": \"file\", \"boot_state\": \"%s/bs.json\", \"groups\": [{\"name\": "
             "\"rootfs\", \"slots\": [{\"name\": \"A\", \"path\": \"%s/a.img\", \"size\": "
             "1048576, \"bootname\": \"A\"}, {\"name\": \"B\", \"path\": \"%s/b.img\", "
             "\"size\": 1048576, \"bootname\": \"B\"}]}]}",
             dir, dir, dir);
    assert_int_equal(
            sdv_install_config_parse_text(json, strlen(json), NULL, &cfg, err, sizeof(err)),
            SDV_OK);
    snprintf(path, sizeof(path), "%s/state", dir);
    env.state_dir = path;
    env.now = clock0;
    env.cmdline = "sdv.slot=A";
    img.length = new_len;
    assert_int_equal(sdv_hash_buf(SDV_HASH_SHA256, new_img, new_len, img.sha256), SDV_OK);

    /* First attempt: stops after the third block's checkpoint. */
    assert_int_equal(sdv_install_create(cfg, &env, &inst, err, sizeof(err)), SDV_OK);
    assert_int_equal(sdv_install_begin(inst, "2", &img, 1), SDV_OK);
    assert_int_equal(sdv_install_write_open(inst, 0, &wo, &off, &refused), SDV_OK);
    assert_int_equal(off, 0);
    c.inst = inst;
    c.stop_after = 3;
    lim.checkpoint = on_checkpoint;
    lim.checkpoint_ud = &c;
    assert_int_equal(sdv_delta_decoder_create(sdv_install_read_base, inst, sdv_install_sink, inst,
                                              &lim, &dec),
                     SDV_OK);
    assert_int_equal(sdv_delta_decoder_feed(dec, patch.data, patch.len), SDV_ELIMIT);
    sdv_delta_decoder_destroy(dec);
    sdv_install_destroy(inst);

    /* After the restart: the same transaction, resumed from the token. */
    assert_int_equal(sdv_install_create(cfg, &env, &inst, err, sizeof(err)), SDV_OK);
    assert_int_equal(sdv_install_begin(inst, "2", &img, 1), SDV_OK);
    assert_int_equal(sdv_install_write_open(inst, 0, &wo, &off, &refused), SDV_OK);
    assert_int_equal(sdv_install_write_token(inst, tok, sizeof(tok), &tl), SDV_OK);
    assert_int_equal(tl, SDV_DELTA_CHECKPOINT_LEN);
    assert_int_equal(sdv_delta_checkpoint_decode(tok, tl, &cp), SDV_OK);
    assert_int_equal(cp.new_off, off);
    assert_true(off > 0 && off < new_len);
    c.inst = inst;
    c.stop_after = 0;
    assert_int_equal(sdv_delta_decoder_create(sdv_install_read_base, inst, sdv_install_sink, inst,
                                              &lim, &dec),
                     SDV_OK);
    assert_int_equal(sdv_delta_decoder_resume(dec, &cp, sdv_install_read_target, inst), SDV_OK);
    assert_int_equal(
            sdv_delta_decoder_feed(dec, patch.data + cp.patch_off, patch.len - cp.patch_off),
            SDV_OK);
    assert_int_equal(sdv_delta_decoder_finish(dec), SDV_OK);
    sdv_delta_decoder_destroy(dec);
    assert_int_equal(sdv_install_write_close(inst), SDV_OK);
    {
        int r2 = 1;
        assert_int_equal(sdv_install_activate(inst, &r2), SDV_OK);
        assert_int_equal(r2, 0);
    }
    sdv_install_destroy(inst);
    {
        struct sdv_buf b;
        sdv_buf_init(&b, 4u << 20);
        snprintf(path, sizeof(path), "%s/b.img", dir);
        assert_int_equal(sdv_fs_read(path, &b), SDV_OK);
        assert_int_equal(b.len, new_len);
        assert_memory_equal(b.data, new_img, new_len);
        sdv_buf_free(&b);
    }
    snprintf(json, sizeof(json), "rm -rf '%s'", dir);
    assert_int_equal(system(json), 0);
    sdv_install_config_destroy(cfg);
    sdv_buf_free(&patch);
    free(old);
    free(new_img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_delta_into_slot_with_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
