/*
 * libFuzzer target: the broker's and the agent's configuration files
 * (common/config.c) from memory.  The first input byte picks the loader
 * (even: broker, odd: agent); the rest is the YAML.  What loads must satisfy
 * the limits the loaders promise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[KETEN_ERRLEN];

	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		struct broker_config *b = NULL;
		if (broker_config_parse("/etc/keten/broker.yaml", data + 1, size - 1, &b, err) != 0) {
			if (b != NULL || memchr(err, '\0', sizeof(err)) == NULL)
				abort();
			return 0;
		}
		if (b->listen == NULL || b->data_dir[0] != '/' || b->keys[0] != '/' ||
		    b->directory[0] != '/' || b->policy[0] != '/' || b->origin == NULL ||
		    b->origin[0] == '\0' || strpbrk(b->origin, " \n") != NULL ||
		    b->max_message_bytes < 1024 || b->batch_max < 1 || b->window < 1)
			abort();
		broker_config_free(&b);
		if (b != NULL)
			abort();
	} else {
		struct agent_config *a = NULL;
		if (agent_config_parse("/etc/keten/agent.yaml", data + 1, size - 1, &a, err) != 0) {
			if (a != NULL || memchr(err, '\0', sizeof(err)) == NULL)
				abort();
			return 0;
		}
		if (a->agency == NULL || a->broker == NULL || strlen(a->broker_key) != 40 ||
		    a->data_dir[0] != '/' || a->keys[0] != '/' ||
		    (a->api_listen != NULL && (a->api_addrlen == 0 || a->api_token == NULL)) ||
		    a->api_max_body_bytes < 1024)
			abort();
		agent_config_free(&a);
		if (a != NULL)
			abort();
	}
	return 0;
}
