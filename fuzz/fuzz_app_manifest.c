/*
 * fuzz_app_manifest.c - feeds untrusted bytes to the app manifest parser of `sdv app`
 * (cmd/sdv/app_manifest.c): a third-party app's package brings its manifest, so its every member
 * is hostile input. The bytes are parsed as `sdv app` does (strict JSON, then the manifest
 * rules), with a relative executable resolved against a fixed directory.
 *
 * Checked properties: a refused manifest always has a printable message and leaves nothing
 * allocated; an accepted one has an id, an absolute executable, argv[0] and a NULL after the
 * last argument, and exactly one of scope and purpose; nothing crashes or leaks under the
 * sanitizers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/sdv/app_sandbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdv_app_manifest m;
    char err[300];
    json_t *doc = NULL;
    enum sdv_err rc;

    if (size > SDV_APP_MANIFEST_LEN_MAX)
        return 0;
    if (sdv_json_parse(data, size, &doc, err, sizeof(err)) != SDV_OK)
        return 0;
    rc = sdv_app_manifest_parse(doc, "/opt/apps/x", &m, err, sizeof(err));
    json_decref(doc);
    if (rc == SDV_OK) {
        if (m.id[0] == '\0' || m.executable == NULL || m.executable[0] != '/' || m.argc < 1 ||
            m.argv[0] == NULL || m.argv[m.argc] != NULL || (m.scope == NULL) == (m.purpose == NULL))
            abort();
    } else if (rc == SDV_EPARSE) {
        if (err[0] == '\0')
            abort();
        for (const char *p = err; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20)
                abort();
        }
    }
    sdv_app_manifest_free(&m);
    return 0;
}
