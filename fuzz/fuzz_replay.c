/*
 * fuzz_replay.c - a main() for fuzz targets built without libFuzzer: replays files and
 * corpus directories through LLVMFuzzerTestOneInput so that every corpus runs as a ctest.
 *
 * Usage: fuzz_<name> PATH...   A directory replays each regular file in it (sorted by name,
 * not recursive); a file replays itself. A missing or unreadable path is an error (exit 1).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a whole file into a malloc'd buffer (never NULL on success, even when empty). */
static int read_file(const char *path, uint8_t **data_out, size_t *size_out)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t size = 0, cap = 0;

    if (f == NULL)
        return -1;
    for (;;) {
        size_t n;

        if (size == cap) {
            size_t ncap = cap == 0 ? 4096 : cap * 2;
            uint8_t *p = realloc(data, ncap);

            if (p == NULL) {
                free(data);
                fclose(f);
                return -1;
            }
            data = p;
            cap = ncap;
        }
        n = fread(data + size, 1, cap - size, f);
        size += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    *data_out = data;
    *size_out = size;
    return 0;
}

static int replay_file(const char *path, unsigned long *count)
{
    uint8_t *data;
    size_t size;

    if (read_file(path, &data, &size) != 0) {
        fprintf(stderr, "fuzz_replay: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    (*count)++;
    return 0;
}

static int replay_dir(const char *dir, unsigned long *count)
{
    struct dirent **names;
    int n, i, rc = 0;

    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "fuzz_replay: cannot list %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (i = 0; i < n; i++) {
        size_t len = strlen(dir) + 1 + strlen(names[i]->d_name) + 1;
        char *path = malloc(len);
        struct stat st;

        if (path == NULL) {
            rc = -1;
        } else {
            snprintf(path, len, "%s/%s", dir, names[i]->d_name);
            if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
                rc = replay_file(path, count);
            free(path);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long count = 0;
    int i;

    for (i = 1; i < argc; i++) {
        struct stat st;
        int rc;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "fuzz_replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        rc = S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count) : replay_file(argv[i], &count);
        if (rc != 0)
            return 1;
    }
    printf("replayed %lu inputs\n", count);
    return 0;
}
