/*
 * creds.c - the credentials service (see creds.h for its contract).
 *
 * Every open object is on one list, under one lock (`lock` below), with
 * the moment it is next due for a fetch. The refresher thread sleeps
 * until the earliest moment, takes a reference on that object, fetches
 * without any lock held (a fetch may block for seconds), then publishes
 * the new snapshot under the object's own lock, which is all a worker
 * ever takes (st_creds_take: a few instructions). A snapshot carries its
 * own reference count, so the one a worker signs with stays alive while
 * a newer one is swapped in.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/creds.h"
#include "daemon/log.h"

#define NEVER		LLONG_MAX
#define BACKOFF_MIN_MS	1000
#define BACKOFF_MAX_MS	60000
#define MARGIN_LONG	300		/* s: refresh 5 min ahead ... */
#define LONG_LIFETIME	1200		/* ... for lifetimes of 20 min or more */
#define SKEW_MAX	60		/* s: never hand out later than this */

struct st_creds {
	struct st_creds			*next;
	char				*name;
	char				*spec;
	const struct st_creds_source	*src;
	void				*arg;
	int				 refs;		/* under lock */
	long long			 due_ms;	/* under lock */
	int				 listed;	/* on the list */

	pthread_mutex_t			 mu;	/* what follows */
	struct st_creds_snap		*snap;
	char				 why[512];	/* last failure */
	int				 resolved;	/* fetched once */
	unsigned			 fails_in_row;
	unsigned long long		 failures;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct st_creds *objects;
static pthread_t refresher;
static int running, stopping;
static int stop_flag;		/* stopping, read without the lock */

static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

time_t
st_creds_refresh_at(time_t obtained, time_t expires)
{
	time_t life = expires - obtained;

	if (expires == 0)
		return 0;
	if (life <= 0)
		return obtained;
	return expires - (life >= LONG_LIFETIME ? MARGIN_LONG : life / 4);
}

time_t
st_creds_skew(time_t obtained, time_t expires)
{
	time_t life = expires - obtained;

	return life / 10 < SKEW_MAX ? (life > 0 ? life / 10 : 0) : SKEW_MAX;
}

static int
snap_valid(const struct st_creds_snap *s, time_t now)
{
	return s->expires == 0 ||
	    now < s->expires - st_creds_skew(s->obtained, s->expires);
}

void
st_creds_snap_clear(struct st_creds_snap *s)
{
	if (s->token != NULL) {
		OPENSSL_cleanse(s->token, strlen(s->token));
		free(s->token);
	}
	OPENSSL_cleanse(s, sizeof(*s));
}

void
st_creds_drop(struct st_creds_snap *s)
{
	if (s == NULL || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	st_creds_snap_clear(s);
	free(s);
}

int
st_creds_stopping(void)
{
	return __atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE);
}

const char *
st_creds_name(const struct st_creds *c)
{
	return c->name;
}

/* ---------------------------------------------------------------- fetch */

/* Runs the source once and publishes what it gave; returns the moment
 * (wall ms) of the next fetch. Called without `lock`. */
static long long
fetch(struct st_creds *c, char *err, size_t errlen)
{
	struct st_creds_snap *s = calloc(1, sizeof(*s)), *old = NULL;
	char why[512] = "";
	long long now = wall_ms(), next;
	int rc = -1;

	if (s != NULL)
		rc = c->src->fetch(c->arg, s, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "out of memory");
	/* Already expired: useless, and a sign of a wrong clock. */
	if (rc == 0 && s->expires != 0 && s->expires <= (time_t)(now / 1000)) {
		snprintf(why, sizeof(why), "the credentials given expired "
		    "already (is this host's clock right?)");
		rc = -1;
	}
	pthread_mutex_lock(&c->mu);
	if (rc == 0) {
		s->obtained = (time_t)(now / 1000);
		s->refs = 1;
		old = c->snap;
		c->snap = s;
		c->resolved = 1;
		c->fails_in_row = 0;
		c->why[0] = '\0';
		next = s->expires == 0 ? NEVER :
		    (long long)st_creds_refresh_at(s->obtained, s->expires) * 1000;
		if (next != NEVER && next < now + BACKOFF_MIN_MS)
			next = now + BACKOFF_MIN_MS;
	} else {
		unsigned shift = c->fails_in_row < 6 ? c->fails_in_row : 6;

		if (s != NULL) {
			st_creds_snap_clear(s);
			free(s);
		}
		c->fails_in_row++;
		c->failures++;
		snprintf(c->why, sizeof(c->why), "%s", why[0] ? why :
		    "the source failed");
		next = (long long)BACKOFF_MIN_MS << shift;
		next = now + (next < BACKOFF_MAX_MS ? next : BACKOFF_MAX_MS);
		if (err != NULL)
			snprintf(err, errlen, "%s", c->why);
	}
	pthread_mutex_unlock(&c->mu);
	st_creds_drop(old);
	return rc == 0 ? next : -next;
}

static void
log_outcome(struct st_creds *c, long long next)
{
	struct st_logrec r;
	struct st_creds_snap *s;
	time_t now = time(NULL);
	int valid;

	pthread_mutex_lock(&c->mu);
	s = c->snap;
	valid = s != NULL && snap_valid(s, now);
	if (next > 0) {
		st_log_begin(&r, ST_LOG_INFO, "credentials refreshed");
		st_log_str(&r, "credentials", c->name);
		st_log_str(&r, "source", c->src->name);
		if (s->expires != 0)
			st_log_int(&r, "expires_in", (long long)(s->expires - now));
	} else {
		st_log_begin(&r, valid ? ST_LOG_WARN : ST_LOG_ERROR,
		    valid ? "credentials refresh failed" :
		    "credentials unavailable");
		st_log_str(&r, "credentials", c->name);
		st_log_str(&r, "source", c->src->name);
		st_log_str(&r, "error", c->why);
		st_log_int(&r, "retry_in_ms", -next - wall_ms());
		if (valid && s->expires != 0)
			st_log_int(&r, "expires_in", (long long)(s->expires - now));
	}
	pthread_mutex_unlock(&c->mu);
	st_log_end(&r);
}

static void *
refresh_loop(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&lock);
	while (!stopping) {
		struct st_creds *c, *due = NULL;
		long long now = wall_ms(), next;

		for (c = objects; c != NULL; c = c->next)
			if (due == NULL || c->due_ms < due->due_ms)
				due = c;
		if (due == NULL || due->due_ms > now) {
			struct timespec ts;

			if (due == NULL || due->due_ms == NEVER) {
				pthread_cond_wait(&wake, &lock);
				continue;
			}
			ts.tv_sec = due->due_ms / 1000;
			ts.tv_nsec = (due->due_ms % 1000) * 1000000;
			pthread_cond_timedwait(&wake, &lock, &ts);
			continue;
		}
		due->refs++;
		due->due_ms = NEVER;	/* being fetched */
		pthread_mutex_unlock(&lock);
		next = fetch(due, NULL, 0);
		log_outcome(due, next);
		pthread_mutex_lock(&lock);
		due->due_ms = next > 0 ? next : -next;
		pthread_mutex_unlock(&lock);
		st_creds_close(due);
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* Under lock. Signals stay with the main thread (it sigwaits). */
static int
start_refresher(void)
{
	sigset_t all, old;
	int rc;

	if (running)
		return 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&refresher, NULL, refresh_loop, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -1;
	running = 1;
	return 0;
}

/* ---------------------------------------------------------------- objects */

static void
creds_free(struct st_creds *c)
{
	if (c->src->free != NULL)
		c->src->free(c->arg);
	st_creds_drop(c->snap);
	pthread_mutex_destroy(&c->mu);
	free(c->name);
	free(c->spec);
	free(c);
}

/*
 * A local source is read again whenever a store opens it (a reload): a
 * rotated key or a changed secret file takes effect as before there was
 * a service. On failure the old snapshot stays for the old stores.
 */
static struct st_creds *
reread(struct st_creds *c, char *err, size_t errlen)
{
	char why[512];

	if (c->src->remote || fetch(c, why, sizeof(why)) > 0)
		return c;
	snprintf(err, errlen, "credentials '%s': %s", c->name, why);
	st_creds_close(c);
	return NULL;
}

struct st_creds *
st_creds_open(const char *name, const char *spec,
              const struct st_creds_source *src, void *arg, int flags,
              char *err, size_t errlen)
{
	struct st_creds *c;
	long long next;

	if (!(flags & ST_CREDS_CHECK_ONLY)) {
		pthread_mutex_lock(&lock);
		for (c = objects; c != NULL; c = c->next)
			if (strcmp(c->name, name) == 0 &&
			    strcmp(c->spec, spec) == 0) {
				c->refs++;
				pthread_mutex_unlock(&lock);
				if (src->free != NULL)
					src->free(arg);
				return reread(c, err, errlen);
			}
		pthread_mutex_unlock(&lock);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->name = strdup(name)) == NULL ||
	    (c->spec = strdup(spec)) == NULL) {
		if (c != NULL)
			free(c->name);
		free(c);
		if (src->free != NULL)
			src->free(arg);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->src = src;
	c->arg = arg;
	c->refs = 1;
	c->due_ms = NEVER;
	pthread_mutex_init(&c->mu, NULL);
	if (flags & ST_CREDS_CHECK_ONLY)
		return c;
	if (!src->remote) {
		char why[512];

		if ((next = fetch(c, why, sizeof(why))) < 0) {
			snprintf(err, errlen, "credentials '%s': %s", name, why);
			creds_free(c);
			return NULL;
		}
		c->due_ms = next;
	} else {
		c->due_ms = 0;		/* the refresher's first job */
	}
	pthread_mutex_lock(&lock);
	c->next = objects;
	objects = c;
	c->listed = 1;
	if (c->due_ms != NEVER && start_refresher() == -1) {
		objects = c->next;
		pthread_mutex_unlock(&lock);
		creds_free(c);
		snprintf(err, errlen, "cannot start the credentials refresher");
		return NULL;
	}
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	return c;
}

void
st_creds_close(struct st_creds *c)
{
	struct st_creds **p;

	if (c == NULL)
		return;
	pthread_mutex_lock(&lock);
	if (--c->refs > 0) {
		pthread_mutex_unlock(&lock);
		return;
	}
	for (p = &objects; c->listed && *p != NULL; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	pthread_mutex_unlock(&lock);
	creds_free(c);
}

struct st_creds_snap *
st_creds_take(struct st_creds *c, char *why, size_t whylen)
{
	struct st_creds_snap *s;

	pthread_mutex_lock(&c->mu);
	s = c->snap;
	if (s != NULL && snap_valid(s, time(NULL))) {
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&c->mu);
		return s;
	}
	if (c->why[0] != '\0')
		snprintf(why, whylen, "credentials '%s' are unavailable: %s",
		    c->name, c->why);
	else if (s != NULL)
		snprintf(why, whylen, "credentials '%s' have expired and are "
		    "being refreshed", c->name);
	else
		snprintf(why, whylen, "credentials '%s' are not resolved yet",
		    c->name);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int
st_creds_unresolved(void)
{
	struct st_creds *c;
	int n = 0;

	pthread_mutex_lock(&lock);
	for (c = objects; c != NULL; c = c->next) {
		pthread_mutex_lock(&c->mu);
		n += !c->resolved;
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_unlock(&lock);
	return n;
}

void
st_creds_render(struct st_buf *o)
{
	struct st_creds *c;
	time_t now = time(NULL);

	st_buf_adds(o, "# HELP stratus_credentials_expiry_seconds Seconds until "
	    "the cached credentials of a group expire (+Inf: they do not, "
	    "0: none valid).\n"
	    "# TYPE stratus_credentials_expiry_seconds gauge\n");
	pthread_mutex_lock(&lock);
	for (c = objects; c != NULL; c = c->next) {
		struct st_creds_snap *s;

		pthread_mutex_lock(&c->mu);
		s = c->snap;
		if (s == NULL || !snap_valid(s, now))
			st_buf_printf(o, "stratus_credentials_expiry_seconds"
			    "{credentials=\"%s\"} 0\n", c->name);
		else if (s->expires == 0)
			st_buf_printf(o, "stratus_credentials_expiry_seconds"
			    "{credentials=\"%s\"} +Inf\n", c->name);
		else
			st_buf_printf(o, "stratus_credentials_expiry_seconds"
			    "{credentials=\"%s\"} %lld\n", c->name,
			    (long long)(s->expires - now));
		pthread_mutex_unlock(&c->mu);
	}
	st_buf_adds(o, "# HELP stratus_credentials_refresh_failures_total "
	    "Failed fetches of a group's credentials.\n"
	    "# TYPE stratus_credentials_refresh_failures_total counter\n");
	for (c = objects; c != NULL; c = c->next) {
		pthread_mutex_lock(&c->mu);
		st_buf_printf(o, "stratus_credentials_refresh_failures_total"
		    "{credentials=\"%s\"} %llu\n", c->name, c->failures);
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_unlock(&lock);
}

void
st_creds_shutdown(void)
{
	pthread_mutex_lock(&lock);
	if (!running) {
		pthread_mutex_unlock(&lock);
		return;
	}
	stopping = 1;
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(refresher, NULL);
	pthread_mutex_lock(&lock);
	running = 0;
	stopping = 0;
	__atomic_store_n(&stop_flag, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
}
