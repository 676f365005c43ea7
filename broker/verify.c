/* Signature checks on worker threads: see verify.h. */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/verify.h"
#include "common/util.h"

#define VERIFY_MAX_THREADS 16
#define VERIFY_QUEUE 8192	/* jobs waiting for a worker, at most */

enum { JOB_NEW, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct verifier {
	pthread_mutex_t mu;
	pthread_cond_t work;		/* workers wait for jobs (or the end) */
	pthread_cond_t done;		/* verifier_need waits for a running job */
	pthread_t th[VERIFY_MAX_THREADS];
	unsigned nthreads, started;
	struct verify_job *q[VERIFY_QUEUE];
	uint64_t head, tail;		/* q[head % N .. tail % N): queued, in order */
	bool stop;
};

void
verify_job_run(struct verify_job *j)
{
	const Keten__Wire__V1__Submit *s = j->s;
	size_t n = s->n_copies;

	j->erc = ENV_BAD_LENGTH;
	j->erc_prev = ENV_BAD_LENGTH;
	j->digests = j->cth = NULL;
	if (n == 0 || n > ENV_MAX_COPIES || (j->digests = malloc(2 * n * ENV_DIGESTBYTES)) == NULL)
		goto out;
	j->cth = j->digests + n;
	j->erc = envelope_verify_submit(s, j->pk, j->digests);
	if (j->erc == ENV_BAD_SIGNATURE && j->has_prev)	/* the digests again, into scratch */
		j->erc_prev = envelope_verify_submit(s, j->prev_pk, j->cth);
	if (j->erc == ENV_BAD_LENGTH) {	/* the gate refuses it; no digests to give */
		free(j->digests);
		j->digests = j->cth = NULL;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		crypto_hash_sha256(j->cth[i], s->copies[i]->payload.data, s->copies[i]->payload.len);
out:
	j->done = j->digests != NULL;
}

void
verify_job_clear(struct verify_job *j)
{
	/* not j->state: only ever written under the verifier's lock, since a
	 * worker may still look at it through a stale queue entry */
	free(j->digests);
	j->digests = j->cth = NULL;
	j->done = false;
}

static void *
worker(void *arg)
{
	struct verifier *v = arg;

	pthread_mutex_lock(&v->mu);
	for (;;) {
		while (!v->stop && v->head == v->tail)
			pthread_cond_wait(&v->work, &v->mu);
		if (v->stop)
			break;
		struct verify_job *j = v->q[v->head++ % VERIFY_QUEUE];
		if (j->state != JOB_QUEUED)
			continue;	/* the loop did it itself */
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&v->mu);
		verify_job_run(j);
		pthread_mutex_lock(&v->mu);
		j->state = JOB_DONE;
		pthread_cond_broadcast(&v->done);
	}
	pthread_mutex_unlock(&v->mu);
	return NULL;
}

int
verifier_new(unsigned nthreads, struct verifier **out)
{
	struct verifier *v;

	if (nthreads == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = c > 5 ? 4 : c > 2 ? (unsigned)c - 1 : 1;
	}
	if (nthreads > VERIFY_MAX_THREADS)
		nthreads = VERIFY_MAX_THREADS;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return KETEN_ENOMEM;
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->work, NULL);
	pthread_cond_init(&v->done, NULL);
	v->nthreads = nthreads;
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&v->th[i], NULL, worker, v) != 0) {
			verifier_free(&v);
			return KETEN_EIO;
		}
		v->started++;
	}
	*out = v;
	return 0;
}

void
verifier_free(struct verifier **vp)
{
	struct verifier *v;

	if (vp == NULL || (v = *vp) == NULL)
		return;
	*vp = NULL;
	pthread_mutex_lock(&v->mu);
	v->stop = true;
	pthread_cond_broadcast(&v->work);
	pthread_mutex_unlock(&v->mu);
	for (unsigned i = 0; i < v->started; i++)
		pthread_join(v->th[i], NULL);
	pthread_cond_destroy(&v->done);
	pthread_cond_destroy(&v->work);
	pthread_mutex_destroy(&v->mu);
	free(v);
}

unsigned
verifier_threads(const struct verifier *v)
{
	return v->nthreads;
}

void
verifier_push(struct verifier *v, struct verify_job *j)
{
	pthread_mutex_lock(&v->mu);
	j->state = JOB_NEW;
	if (v->tail - v->head < VERIFY_QUEUE) {
		j->state = JOB_QUEUED;
		v->q[v->tail++ % VERIFY_QUEUE] = j;
		pthread_cond_signal(&v->work);
	}
	pthread_mutex_unlock(&v->mu);
}

void
verifier_need(struct verifier *v, struct verify_job *j)
{
	pthread_mutex_lock(&v->mu);
	if (j->state == JOB_NEW || j->state == JOB_QUEUED) {
		j->state = JOB_RUNNING;	/* a worker that pops it skips it */
		pthread_mutex_unlock(&v->mu);
		verify_job_run(j);
		pthread_mutex_lock(&v->mu);
		j->state = JOB_DONE;
	}
	while (j->state != JOB_DONE)
		pthread_cond_wait(&v->done, &v->mu);
	pthread_mutex_unlock(&v->mu);
}
