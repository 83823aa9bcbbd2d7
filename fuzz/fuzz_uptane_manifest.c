/*
 * fuzz_uptane_manifest.c - feeds untrusted bytes to sdv_uptane_manifest_verify, the server's
 * parser of vehicle version manifests, for a fixed vehicle (uptane_fixed_keys.h: VIN, primary
 * key and three ECUs with ed25519, ECDSA P-256 and RSA keys). The seeds in
 * fuzz/corpus/uptane_manifest/ are valid manifests signed with those keys, written by
 * tests/uptane/uptane_fuzz_seeds.c, so mutations reach the report checks behind the signature.
 *
 * Checked properties: success yields only reports of the vehicle's ECUs, filed under their own
 * serial, within the limits, with well-formed nonces; failure names a rule and carries a message
 * and leaves the output empty; nothing crashes or leaks under the sanitizers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/uptane.h>

#include "../tests/uptane/uptane_fixed_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fixed_vehicle {
    struct sdv_key *primary;
    struct sdv_key *keys[3];
    struct sdv_uptane_ecu ecus[3];
    struct sdv_uptane_vehicle v;
};

static struct sdv_key *load(const char *pem)
{
    struct sdv_key *k = NULL;

    if (sdv_key_load_pem(pem, strlen(pem), &k) != SDV_OK)
        abort();
    return k;
}

/* Keys are parsed once per process: an RSA key per input would dominate the run time. */
static const struct sdv_uptane_vehicle *vehicle(void)
{
    static struct fixed_vehicle fv;
    static const char *const serials[3] = {"ecu-a", "ecu-b", "ecu-c"};
    const char *const pems[3] = {UFK_ECU_A_PEM, UFK_ECU_B_PEM, UFK_ECU_C_PEM};

    if (fv.primary == NULL) {
        fv.primary = load(UFK_PRIMARY_PEM);
        for (int i = 0; i < 3; i++) {
            fv.keys[i] = load(pems[i]);
            fv.ecus[i].serial = serials[i];
            fv.ecus[i].hardware_id = "hw";
            fv.ecus[i].key = fv.keys[i];
        }
        fv.v.vin = UFK_VIN;
        fv.v.primary_ecu_serial = UFK_PRIMARY_SERIAL;
        fv.v.primary_key = fv.primary;
        fv.v.ecus = fv.ecus;
        fv.v.ecu_count = 3;
    }
    return &fv.v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct sdv_uptane_vehicle *v = vehicle();
    struct sdv_uptane_manifest m;
    struct sdv_uptane_err e;
    enum sdv_err err = sdv_uptane_manifest_verify(data, size, v, &m, &e);

    if (err != SDV_OK) {
        if (e.rule == SDV_UPTANE_RULE_NONE || e.msg[0] == '\0' || m.reports != NULL ||
            m.report_count != 0)
            abort();
        return 0;
    }
    if (e.rule != SDV_UPTANE_RULE_NONE || strcmp(m.vin, v->vin) != 0 ||
        m.report_count > v->ecu_count)
        abort();
    for (size_t i = 0; i < m.report_count; i++) {
        const struct sdv_uptane_report *r = &m.reports[i];
        int known = 0;

        for (size_t j = 0; j < v->ecu_count; j++)
            known |= strcmp(r->ecu_serial, v->ecus[j].serial) == 0;
        if (!known || r->nonce_len < SDV_UPTANE_NONCE_LEN_MIN ||
            r->nonce_len > SDV_UPTANE_NONCE_LEN_MAX || strlen(r->nonce_hex) != 2 * r->nonce_len ||
            r->hash_count == 0 ||
            (i > 0 && strcmp(m.reports[i - 1].ecu_serial, r->ecu_serial) >= 0))
            abort();
    }
    sdv_uptane_manifest_free(&m);
    sdv_uptane_manifest_free(&m);
    return 0;
}
