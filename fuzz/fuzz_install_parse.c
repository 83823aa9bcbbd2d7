/*
 * fuzz_install_parse.c - the parsers of lib/install on untrusted bytes. The first byte picks
 * one: 0 the GRUB environment block, 1 the slot configuration (JSON), 2 the install log reader
 * (hash chain), 3 the transaction state file against a fixed configuration. Files are passed
 * through a memfd (/proc/self/fd/N), so nothing touches the disk.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "install_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum sdv_err kv(void *ud, const char *name, const char *value)
{
    (void)ud;
    /* Names and values are NUL-terminated C strings. */
    return strlen(name) + strlen(value) < 4096 ? SDV_OK : SDV_EINVAL;
}

static enum sdv_err rec(void *ud, uint64_t seq, const char *json, size_t len)
{
    (void)ud;
    (void)seq;
    return strlen(json) == len ? SDV_OK : SDV_EINVAL;
}

/* Writes data into a memfd and returns its path in path (fd returned for closing). */
static int as_file(const uint8_t *data, size_t size, char *path, size_t path_len)
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0)
        return -1;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return -1;
    }
    snprintf(path, path_len, "/proc/self/fd/%d", fd);
    return fd;
}

static const char config_text[] =
        "{\"bootloader\": \"file\", \"boot_state\": \"/nonexistent/bs.json\", \"groups\": ["
        "{\"name\": \"rootfs\", \"slots\": [{\"name\": \"A\", \"path\": \"/nonexistent/a\", "
        "\"size\": 1024, \"bootname\": \"A\"}, {\"name\": \"B\", \"path\": \"/nonexistent/b\", "
        "\"size\": 1024, \"bootname\": \"B\"}]}, {\"name\": \"app\", \"slots\": [{\"name\": "
        "\"A\", \"path\": \"/nonexistent/c\", \"size\": 1024}, {\"name\": \"B\", \"path\": "
        "\"/nonexistent/d\", \"size\": 1024}]}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256], path[64];
    int fd;

    if (size < 1)
        return 0;
    switch (data[0] % 4) {
    case 0:
        (void)install_grubenv_parse(data + 1, size - 1, kv, NULL, err, sizeof(err));
        break;
    case 1: {
        struct sdv_install_config *cfg = NULL;
        if (sdv_install_config_parse_text(data + 1, size - 1, "/base", &cfg, err, sizeof(err)) ==
            SDV_OK)
            sdv_install_config_destroy(cfg);
        break;
    }
    case 2:
        fd = as_file(data + 1, size - 1, path, sizeof(path));
        if (fd >= 0) {
            (void)sdv_install_log_read(path, 1, rec, NULL, err, sizeof(err));
            close(fd);
        }
        break;
    case 3: {
        static struct install_state st;
        struct sdv_install_config *cfg = NULL;
        if (sdv_install_config_parse_text(config_text, strlen(config_text), NULL, &cfg, err,
                                          sizeof(err)) != SDV_OK)
            __builtin_trap();
        fd = as_file(data + 1, size - 1, path, sizeof(path));
        if (fd >= 0) {
            (void)install_state_load(cfg, path, &st, err, sizeof(err));
            close(fd);
        }
        sdv_install_config_destroy(cfg);
        break;
    }
    }
    return 0;
}
