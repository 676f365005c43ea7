/* Wire command packing and sending. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/wire.h"

uint8_t *
wire_pack(const ProtobufCMessage *msg, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);

	if (buf == NULL)
		return NULL;
	*len = protobuf_c_message_pack(msg, buf);
	return buf;
}

int
wire_send(void *sock, const void *rid, size_t rid_len, const Keten__Wire__V1__Command *cmd,
    int flags)
{
	zmq_msg_t m;
	size_t n = keten__wire__v1__command__get_packed_size(cmd);

	if (zmq_msg_init_size(&m, n) != 0)
		return -1;
	keten__wire__v1__command__pack(cmd, zmq_msg_data(&m));
	if (rid != NULL && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | flags) != (int)rid_len) {
		int e = errno;
		zmq_msg_close(&m);
		errno = e;
		return -1;
	}
	if (zmq_msg_send(&m, sock, flags) < 0) {
		int e = errno;
		zmq_msg_close(&m);
		errno = e;
		return -1;
	}
	return 0;
}

const char *
wire_cmd_name(int c)
{
	switch (c) {
	case KETEN__WIRE__V1__COMMAND__CMD_HELLO: return "hello";
	case KETEN__WIRE__V1__COMMAND__CMD_SUBMIT: return "submit";
	case KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK: return "submit-ack";
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVER: return "deliver";
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVER_ACK: return "deliver-ack";
	case KETEN__WIRE__V1__COMMAND__CMD_ERROR: return "error";
	case KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT: return "heartbeat";
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_QUERY: return "delivery-query";
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_STATUS: return "delivery-status";
	case KETEN__WIRE__V1__COMMAND__CMD_POLICY_UPDATE: return "policy-update";
	case KETEN__WIRE__V1__COMMAND__CMD_DIRECTORY_UPDATE: return "directory-update";
	case KETEN__WIRE__V1__COMMAND__CMD_ROOT_UPDATE: return "root-update";
	case KETEN__WIRE__V1__COMMAND__CMD_WITNESS_REQUEST: return "witness-request";
	case KETEN__WIRE__V1__COMMAND__CMD_WITNESS_CHALLENGE: return "witness-challenge";
	case KETEN__WIRE__V1__COMMAND__CMD_COSIGNATURE: return "cosignature";
	case KETEN__WIRE__V1__COMMAND__CMD_SOURCE_REFUSAL: return "source-refusal";
	}
	return "unknown";
}
