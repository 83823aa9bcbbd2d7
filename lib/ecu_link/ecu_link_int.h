/*
 * ecu_link_int.h - private to lib/ecu_link: error text and big-endian helpers shared by the
 * message codec, the decoder and the socket code.
 */
#ifndef SDV_ECU_LINK_INT_H
#define SDV_ECU_LINK_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sdv/ecu_link.h>

/* Writes a formatted reason into errmsg (errmsg_len bytes; errmsg may be NULL) and returns
 * code, so callers write `return ecu_link_fail(...)`. */
enum sdv_err ecu_link_fail(char *errmsg, size_t errmsg_len, enum sdv_err code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Big-endian loads and stores. */
uint32_t ecu_link_get_u32(const uint8_t *p);
void ecu_link_put_u32(uint8_t *p, uint32_t v);

/* The smallest payload allowed for type (valid types only). */
uint32_t ecu_link_payload_len_min(unsigned type);

#endif /* SDV_ECU_LINK_INT_H */
