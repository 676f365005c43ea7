/* The broker's sync thread: see syncer.h. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "broker/syncer.h"
#include "common/err.h"

struct syncer {
	MDB_env *env;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	atomic_bool done;		/* false: a sync is asked for and has not returned;
					 * true: it returned (rc holds its result), or none was asked */
	int rc;
	int efd;			/* written when a sync returned */
};

static void *
run(void *arg)
{
	struct syncer *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (atomic_load(&s->done) && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (atomic_load(&s->done))
			break;	/* asked to stop, nothing to sync */
		pthread_mutex_unlock(&s->mu);
		int rc = mdb_env_sync(s->env, 1);
		pthread_mutex_lock(&s->mu);
		s->rc = rc;
		atomic_store(&s->done, true);
		pthread_cond_broadcast(&s->cv);
		uint64_t one = 1;
		while (write(s->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int
syncer_new(MDB_env *env, struct syncer **out)
{
	struct syncer *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return KETEN_ENOMEM;
	s->env = env;
	atomic_init(&s->done, true);
	if ((s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		free(s);
		return KETEN_EIO;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (pthread_create(&s->th, NULL, run, s) != 0) {
		close(s->efd);
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
		free(s);
		return KETEN_EIO;
	}
	pthread_setname_np(s->th, "keten-sync");	/* in top, perf; t_powerloss fails its syncs */
	*out = s;
	return 0;
}

void
syncer_free(struct syncer **sp)
{
	struct syncer *s = sp ? *sp : NULL;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;		/* a sync asked for is still made */
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	close(s->efd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	*sp = NULL;
}

void
syncer_start(struct syncer *s)
{
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->done, false);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

bool
syncer_done(struct syncer *s)
{
	return atomic_load(&s->done);
}

int
syncer_wait(struct syncer *s)
{
	uint64_t n;
	int rc;

	pthread_mutex_lock(&s->mu);
	while (!atomic_load(&s->done))
		pthread_cond_wait(&s->cv, &s->mu);
	rc = s->rc;
	s->rc = 0;
	pthread_mutex_unlock(&s->mu);
	while (read(s->efd, &n, sizeof(n)) > 0)
		;
	return rc;
}

int
syncer_fd(const struct syncer *s)
{
	return s->efd;
}
