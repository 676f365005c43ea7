/* Pack and send one wire Command (schemas/wire.proto) over a ZeroMQ socket. */
#ifndef KETEN_WIRE_H
#define KETEN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/wire.pb-c.h"

#define KETEN_PROTOCOL_VERSION KETEN__WIRE__V1__VERSION__VERSION_1
#define KETEN_INSTANCEBYTES 16

/*
 * Send `cmd` as one frame; on a ROUTER pass the peer's routing id (else NULL).
 * `flags` is e.g. ZMQ_DONTWAIT.  Returns 0, or -1 with errno from zmq_send
 * (EAGAIN when the peer's queue is full, EHOSTUNREACH for a gone peer).
 */
int wire_send(void *sock, const void *rid, size_t rid_len, const Keten__Wire__V1__Command *cmd,
    int flags);

/* Pack any protobuf-c message into a malloc'd buffer; NULL on out of memory. */
uint8_t *wire_pack(const ProtobufCMessage *msg, size_t *len);

/* Name of a command case for logs ("submit", "deliver-ack", ...). */
const char *wire_cmd_name(int cmd_case);

#endif
