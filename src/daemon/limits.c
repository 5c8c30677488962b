/*
 * limits.c - per-client abuse limits.
 *
 * A client entry may say `rate` (requests per second, a float), `burst`
 * (requests) and `max_uploads` (blob uploads at once). The rate is a
 * token bucket: it holds up to `burst` requests and fills at `rate` per
 * second; a request finds a token or gets 429 with the seconds until the
 * next one. Uploads are counted from the moment one is accepted until
 * its request ends, however it ends.
 *
 * The state lives with the client entry of the configuration that
 * admitted the request, so a reload starts with full buckets and the
 * uploads of the old configuration end on its own counters. One mutex per
 * limited client guards its bucket: a few instructions, taken only for
 * clients that have a rate.
 */
#include <stdlib.h>

#include "core/clock.h"
#include "daemon/limits.h"

struct st_limits *
st_limits_new(double rate, double burst, unsigned max_uploads)
{
	struct st_limits *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->rate = rate;
	l->burst = burst;
	l->max_uploads = max_uploads;
	l->tokens = burst;
	l->last_ms = st_now_ms();
	pthread_mutex_init(&l->lock, NULL);
	atomic_init(&l->uploads, 0);
	return l;
}

void
st_limits_free(struct st_limits *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

unsigned
st_limits_take(struct st_limits *l)
{
	long long now;
	double wait;

	if (l == NULL || l->rate <= 0)
		return 0;
	pthread_mutex_lock(&l->lock);
	now = st_now_ms();
	l->tokens += (double)(now - l->last_ms) * l->rate / 1000.0;
	if (l->tokens > l->burst)
		l->tokens = l->burst;
	l->last_ms = now;
	if (l->tokens >= 1.0) {
		l->tokens -= 1.0;
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	wait = (1.0 - l->tokens) / l->rate;
	pthread_mutex_unlock(&l->lock);
	if (wait > 86400.0)
		wait = 86400.0;
	/* Rounded up: the next token is there after that many seconds. */
	return wait <= 1.0 ? 1 : (unsigned)wait + (wait > (unsigned)wait);
}

int
st_limits_upload_begin(struct st_limits *l)
{
	unsigned n;

	if (l == NULL || l->max_uploads == 0)
		return 1;
	n = atomic_load(&l->uploads);
	do {
		if (n >= l->max_uploads)
			return 0;
	} while (!atomic_compare_exchange_weak(&l->uploads, &n, n + 1));
	return 1;
}

void
st_limits_upload_end(struct st_limits *l)
{
	if (l != NULL && l->max_uploads != 0)
		atomic_fetch_sub(&l->uploads, 1);
}
