/*
 * broker_proto_int.h - private to the broker wire codecs (broker_frame*.c, broker_viss*.c,
 * broker_client*.c): little-endian helpers and shared checks.
 */
#ifndef SDV_BROKER_PROTO_INT_H
#define SDV_BROKER_PROTO_INT_H

#include <sdv/broker_proto.h>

/* Signal reference kinds on the wire. */
#define BROKER_REF_ID   1u
#define BROKER_REF_PATH 2u

void broker_put_u16(uint8_t *p, uint16_t v);
void broker_put_u32(uint8_t *p, uint32_t v);
uint16_t broker_get_u16(const uint8_t *p);
uint32_t broker_get_u32(const uint8_t *p);

/* SDV_OK if f is a well-formed filter, else SDV_EINVAL with the reason in why. */
enum sdv_err broker_filter_check(const struct sdv_broker_filter *f, char *why, size_t why_len);

#endif /* SDV_BROKER_PROTO_INT_H */
