/*
 * fuzz_uptane_director_targets.c - feeds untrusted bytes to sdv_uptane_director_targets_parse,
 * the primary's reading of director targets metadata (a compromised director key signs whatever
 * it likes, so lib/tuf's signature check does not make these bytes trusted). The vehicle has
 * three ECUs; the seeds in fuzz/corpus/uptane_director_targets/ are director targets written by
 * tests/uptane/uptane_fuzz_seeds.c.
 *
 * Checked properties: success yields at most one entry per ECU, each for a vehicle ECU with its
 * hardware id and no rollback, sorted by path then serial; each entry then goes through
 * sdv_uptane_check_image against itself, which must pass; failure names a rule and leaves the
 * output empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/uptane.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct sdv_uptane_ecu ecus[3] = {
            {"ecu-a", "hw-main", NULL, 2},
            {"ecu-b", "hw-zone", NULL, 0},
            {"ecu-c", "hw-zone", NULL, 1},
    };
    struct sdv_uptane_targets t;
    struct sdv_uptane_err e;
    enum sdv_err err = sdv_uptane_director_targets_parse(data, size, ecus, 3, &t, &e);

    if (err != SDV_OK) {
        if (e.rule == SDV_UPTANE_RULE_NONE || e.msg[0] == '\0' || t.items != NULL || t.count != 0)
            abort();
        return 0;
    }
    if (t.count > 3)
        abort();
    for (size_t i = 0; i < t.count; i++) {
        const struct sdv_uptane_target *x = &t.items[i];
        struct sdv_tuf_target self;
        const struct sdv_uptane_ecu *ecu = NULL;
        json_t *custom;

        for (size_t j = 0; j < 3; j++)
            if (strcmp(ecus[j].serial, x->ecu_serial) == 0)
                ecu = &ecus[j];
        if (ecu == NULL || strcmp(ecu->hardware_id, x->hardware_id) != 0 ||
            x->release_counter < ecu->installed_release_counter || x->hash_count == 0)
            abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(t.items[j].ecu_serial, x->ecu_serial) == 0)
                abort();
        /* An image repository entry identical to the director's must pass. */
        memset(&self, 0, sizeof(self));
        self.path = x->filepath;
        self.length = x->length;
        self.hash_count = x->hash_count;
        memcpy(self.hashes, x->hashes, sizeof(self.hashes));
        custom = json_pack("{s:I}", "release_counter", (json_int_t)x->release_counter);
        self.custom = custom;
        if (custom == NULL || sdv_uptane_check_image(x, &self, &e) != SDV_OK)
            abort();
        json_decref(custom);
    }
    sdv_uptane_targets_free(&t);
    return 0;
}
