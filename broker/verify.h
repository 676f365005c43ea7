/*
 * Signature checks of submissions on worker threads (DESIGN.md "Performance
 * budget").  The broker's loop queues each submission's check as it takes
 * the frame from the socket; the workers check them in that order, also
 * while the loop is applying or committing (fsync) what came before.  When
 * the loop reaches a submission it needs the result: verifier_need() returns
 * at once if a worker has done it, checks it on the loop's own thread if no
 * worker has begun it, and otherwise waits for the worker.  So both cores
 * check signatures, and a check never delays a message behind it more than
 * checking it inline would.
 *
 * A job holds what the check needs (the unpacked submission and the sender's
 * keys as the directory had them when the frame arrived) and gets what the
 * gate would compute: the envelope check, the copy digests and each copy's
 * ciphertext hash.  The gate (broker/gate.c) uses them only when the
 * directory still holds the same keys, and checks again itself otherwise;
 * the gate makes every decision.
 */
#ifndef KETEN_BROKER_VERIFY_H
#define KETEN_BROKER_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/envelope.h"
#include "schemas/wire.pb-c.h"

struct verify_job {
	/* in */
	const Keten__Wire__V1__Submit *s;
	uint8_t pk[32];			/* the sender's signing key */
	uint8_t prev_pk[32];		/* and its previous key, when has_prev */
	bool has_prev;
	/* out, when done */
	bool done;			/* the results below are valid */
	int erc;			/* envelope_verify_submit() with pk */
	int erc_prev;			/* with prev_pk, when erc is ENV_BAD_SIGNATURE and has_prev */
	uint8_t (*digests)[ENV_DIGESTBYTES];	/* per copy: envelope_copy_digest() */
	uint8_t (*cth)[ENV_DIGESTBYTES];	/* per copy: SHA-256 of the ciphertext */
	/* the verifier's, written only under its lock (verifier_push sets it) */
	int state;
};

/* Run one job on this thread. */
void verify_job_run(struct verify_job *j);
/* Free a job's results (not the job); after verifier_need, or never queued. */
void verify_job_clear(struct verify_job *j);

struct verifier;

/* nthreads workers (1..16); 0: one fewer than the online CPUs, 1 to 4. */
int verifier_new(unsigned nthreads, struct verifier **out);
/* Stops the workers; queued jobs not begun are left undone.  Accepts NULL
 * (or a NULL *v) and NULLs *v. */
void verifier_free(struct verifier **v);
unsigned verifier_threads(const struct verifier *v);
/*
 * Queue j for the workers.  j must stay where it is until verifier_need(j)
 * has returned.  A job that finds the queue full is done by verifier_need.
 */
void verifier_push(struct verifier *v, struct verify_job *j);
/* Make sure j is done: see above.  Also for jobs never pushed. */
void verifier_need(struct verifier *v, struct verify_job *j);

#endif
