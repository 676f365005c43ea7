/* A policy request from an envelope header: what the sender asks for one recipient. */
#include <string.h>

#include "common/util.h"
#include "policy/policy.h"

void
policy_request_from_header(const Keten__Envelope__V1__Header *h, const char *recipient,
    const struct codec_type *t, int64_t now_ms, struct policy_request *rq)
{
	const Keten__Envelope__V1__Attributes *a = h->attributes;

	memset(rq, 0, sizeof(*rq));
	rq->sender = h->sender;
	rq->recipient = recipient;
	rq->type = t;
	rq->purpose = h->purpose;
	rq->basis = h->legal_basis;
	if (a != NULL) {
		rq->forms = (const int *)a->exploitation_forms;
		rq->nforms = a->n_exploitation_forms;
		rq->minor = a->minor;
		rq->region = a->region;
	}
	rq->handling = (int)h->handling;
	rq->in_reply_to = h->in_reply_to.len == KETEN_UUIDBYTES ? h->in_reply_to.data : NULL;
	rq->now_ms = now_ms;
}
