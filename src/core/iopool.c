/*
 * iopool.c - blocking work off the event loops (see iopool.h).
 *
 * A fixed handful of threads take jobs from one FIFO under one mutex. A
 * job is small (a function and its argument) and blocks for as long as
 * its disk takes; that is exactly why it runs here: on an event loop one
 * slow fsync would stall every other connection of the worker.
 *
 * Jobs are kept in a growing ring, so submitting never fails for want of
 * room once memory is there.
 */
#include <pthread.h>
#include <stdlib.h>

#include "core/iopool.h"

#define POOL_THREADS 4

struct job {
	void	(*fn)(void *);
	void	 *arg;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static struct job *ring;
static size_t cap, head, count;
static pthread_t threads[POOL_THREADS];
static int nthreads, stopping;

static void *
pool_main(void *unused)
{
	struct job j;

	(void)unused;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (count == 0 && !stopping)
			pthread_cond_wait(&more, &lock);
		if (count == 0)
			break;
		j = ring[head];
		head = (head + 1) % cap;
		count--;
		pthread_mutex_unlock(&lock);
		j.fn(j.arg);
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* Under the lock: room for one more job. */
static int
grow(void)
{
	size_t ncap = cap ? cap * 2 : 64, i;
	struct job *n;

	if (count < cap)
		return 0;
	if ((n = malloc(ncap * sizeof(*n))) == NULL)
		return -1;
	for (i = 0; i < count; i++)
		n[i] = ring[(head + i) % cap];
	free(ring);
	ring = n;
	cap = ncap;
	head = 0;
	return 0;
}

int
st_iopool_run(void (*fn)(void *), void *arg)
{
	int rc = -1;

	pthread_mutex_lock(&lock);
	while (nthreads < POOL_THREADS && !stopping &&
	    pthread_create(&threads[nthreads], NULL, pool_main, NULL) == 0)
		nthreads++;
	if (nthreads > 0 && !stopping && grow() == 0) {
		ring[(head + count) % cap] = (struct job){ fn, arg };
		count++;
		pthread_cond_signal(&more);
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void
st_iopool_shutdown(void)
{
	int i, n;

	pthread_mutex_lock(&lock);
	stopping = 1;
	n = nthreads;
	pthread_cond_broadcast(&more);
	pthread_mutex_unlock(&lock);
	for (i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_lock(&lock);
	free(ring);
	ring = NULL;
	cap = head = count = 0;
	nthreads = 0;
	stopping = 0;
	pthread_mutex_unlock(&lock);
}
