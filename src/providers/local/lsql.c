/*
 * lsql.c - a SQLite database with its own thread and a line of calls
 * (see lsql.h for the design).
 *
 * A job lives in its call's memory and moves between three places, all
 * under the lock: the line (QUEUED), the waiters (WAITING), and the batch
 * the thread is running (RUNNING). Release finds it wherever it is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <limits.h>
#include <sys/stat.h>

#include "core/confval.h"
#include "providers/local/local.h"
#include "providers/local/lsql.h"

enum job_state { J_QUEUED, J_WAITING, J_RUNNING, J_DONE };

struct lsql_job {
	struct st_call		*call;
	struct lsql_job		*next, *prev;
	enum job_state		 state;
	long long		 deadline_ms;
	int			 again;		/* run answered LSQL_WAIT */
};

long long
lsql_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
lsql_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
lsql_prepare(struct lsql *l, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) == SQLITE_OK ? 0 : -1;
}

void
lsql_done_stmt(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* ---------------------------------------------------------------- lists */

static void
unlink_job(struct lsql_job **head, struct lsql_job **tail, struct lsql_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		*head = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	else if (tail != NULL)
		*tail = j->prev;
	j->next = j->prev = NULL;
}

/* ---------------------------------------------------------------- calls */

void
lsql_submit(struct lsql *l, struct st_call *c, unsigned wait_s)
{
	struct lsql_job *j = st_call_alloc(c, sizeof(*j));

	if (j == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	j->call = c;
	j->deadline_ms = lsql_now_ms() + (long long)wait_s * 1000;
	c->backend_data = j;
	pthread_mutex_lock(&l->lock);
	j->state = J_QUEUED;
	j->prev = l->queued_tail;
	if (l->queued_tail != NULL)
		l->queued_tail->next = j;
	else
		l->queued = j;
	l->queued_tail = j;
	pthread_cond_signal(&l->work);
	pthread_mutex_unlock(&l->lock);
}

void
lsql_release(struct lsql *l, struct st_call *c)
{
	struct lsql_job *j = c->backend_data;

	if (j == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	while (j->state == J_RUNNING)
		pthread_cond_wait(&l->idle, &l->lock);
	if (j->state == J_QUEUED)
		unlink_job(&l->queued, &l->queued_tail, j);
	else if (j->state == J_WAITING)
		unlink_job(&l->waiting, NULL, j);
	j->state = J_DONE;
	pthread_mutex_unlock(&l->lock);
	c->backend_data = NULL;
}

void
lsql_fail(struct st_call *c, enum st_status status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->status = status;
	c->message = st_call_strdup(c, msg);
}

void
lsql_poke(struct lsql *l)
{
	l->poked = 1;		/* the thread's own flag: read under the lock */
}

/* ---------------------------------------------------------------- thread */

/* Under the lock: milliseconds to sleep before a waiting call is due
 * (its deadline, or the service's next_due); -1 for no limit. */
static long long
sleep_ms(struct lsql *l, long long now)
{
	long long best = -1, due;
	struct lsql_job *j;

	if (l->waiting == NULL)
		return -1;
	for (j = l->waiting; j != NULL; j = j->next) {
		due = j->deadline_ms - now;
		if (best < 0 || due < best)
			best = due;
	}
	if (l->next_due != NULL && (due = l->next_due(l->store)) >= 0 &&
	    due < best)
		best = due;
	return best < 0 ? 0 : best;
}

static void
sleep_until_work(struct lsql *l)
{
	long long ms = sleep_ms(l, lsql_now_ms());
	struct timespec ts;

	if (ms == 0)
		return;
	if (ms < 0) {
		pthread_cond_wait(&l->work, &l->lock);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&l->work, &l->lock, &ts);
}

/* Under the lock: the calls of the next batch, all marked RUNNING. The
 * waiting calls come along when poked, or when one of them is due. */
static struct lsql_job *
take_batch(struct lsql *l)
{
	struct lsql_job *batch = l->queued, *j;
	int wake = l->poked || (l->waiting != NULL &&
	    sleep_ms(l, lsql_now_ms()) == 0);

	l->queued = l->queued_tail = NULL;
	if (wake && l->waiting != NULL) {
		/* Waiters first: they were there before. */
		for (j = l->waiting; j->next != NULL; j = j->next)
			;
		j->next = batch;
		if (batch != NULL)
			batch->prev = j;
		batch = l->waiting;
		l->waiting = NULL;
	}
	l->poked = 0;
	for (j = batch; j != NULL; j = j->next)
		j->state = J_RUNNING;
	return batch;
}

static void
exec(struct lsql *l, const char *sql)
{
	sqlite3_exec(l->db, sql, NULL, NULL, NULL);
}

/* Fails every call of a batch up to last (NULL: none ran) that believed
 * it had succeeded (the others keep their own answer, their work rolled
 * back anyway), and every call after last, which did not run. */
static void
fail_batch(struct lsql *l, struct lsql_job *batch, const struct lsql_job *last,
           const char *what)
{
	struct lsql_job *j;
	int run = last != NULL;

	for (j = batch; j != NULL; j = j->next) {
		j->again = 0;
		if (!run || j->call->status == ST_OK)
			st_call_fail(j->call, ST_INTERNAL, NULL, "the store's "
			    "database could not %s: %s", what,
			    sqlite3_errmsg(l->db));
		else
			st_call_done(j->call);
		if (j == last)
			run = 0;
	}
}

/*
 * Runs a batch in one transaction; a savepoint per call. SQLite may
 * abandon a transaction on its own (a full disk, an I/O error): the calls
 * after that would each commit alone in autocommit mode, while the final
 * COMMIT fails and reports them all lost. So the batch stops there, and
 * every call of it fails, none of it having been kept.
 */
static void
run_batch(struct lsql *l, struct lsql_job *batch)
{
	long long now = lsql_now_ms();
	struct lsql_job *j;

	if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		fail_batch(l, batch, NULL, "begin a transaction");
		return;
	}
	for (j = batch; ; j = j->next) {
		struct st_call *c = j->call;

		exec(l, "SAVEPOINT job");
		c->status = ST_OK;
		j->again = l->run(l->store, c, now, j->deadline_ms) == LSQL_WAIT &&
		    now < j->deadline_ms;
		if (c->status != ST_OK)
			exec(l, "ROLLBACK TO job");
		exec(l, "RELEASE job");
		if (sqlite3_get_autocommit(l->db)) {
			fail_batch(l, batch, j, "keep a transaction");
			return;
		}
		if (j->next == NULL)
			break;
	}
	if (sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		exec(l, "ROLLBACK");
		fail_batch(l, batch, j, "commit");
		return;
	}
	for (j = batch; j != NULL; j = j->next)
		if (!j->again)
			st_call_done(j->call);
}

/* Under the lock: waiting calls back to the end of the waiters, in
 * their order, the rest done. */
static void
settle(struct lsql *l, struct lsql_job *batch)
{
	struct lsql_job *j, *next, *tail = l->waiting;

	while (tail != NULL && tail->next != NULL)
		tail = tail->next;
	for (j = batch; j != NULL; j = next) {
		next = j->next;
		j->next = NULL;
		if (!j->again) {
			j->prev = NULL;
			j->state = J_DONE;
			continue;
		}
		j->state = J_WAITING;
		j->prev = tail;
		if (tail != NULL)
			tail->next = j;
		else
			l->waiting = j;
		tail = j;
	}
	pthread_cond_broadcast(&l->idle);
}

static void *
lsql_main(void *arg)
{
	struct lsql *l = arg;
	struct lsql_job *batch;

	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		if (l->queued == NULL && !l->poked) {
			sleep_until_work(l);
			if (l->queued == NULL && !l->poked && (l->waiting == NULL ||
			    sleep_ms(l, lsql_now_ms()) != 0))
				continue;
		}
		batch = take_batch(l);
		if (batch == NULL)
			continue;
		pthread_mutex_unlock(&l->lock);
		run_batch(l, batch);
		pthread_mutex_lock(&l->lock);
		settle(l, batch);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* ---------------------------------------------------------------- settings */

int
lsql_store_settings(const config_setting_t *conf,
                    const struct st_store_env *env, const char *const *keys,
                    char *dir, size_t cap, int *fsync, char *err,
                    size_t errlen)
{
	const config_setting_t *f;
	const char *path = NULL;

	if (st_conf_only_keys(conf, keys, err, errlen) == -1)
		return -1;
	if (!config_setting_lookup_string(conf, "path", &path) ||
	    path[0] == '\0') {
		snprintf(err, errlen, "a local store needs path = \"DIR\"");
		return -1;
	}
	*fsync = 1;
	if ((f = config_setting_get_member(conf, "fsync")) != NULL) {
		if (config_setting_type(f) != CONFIG_TYPE_BOOL) {
			snprintf(err, errlen, "fsync must be true or false");
			return -1;
		}
		*fsync = config_setting_get_bool(f);
	}
	st_conf_path(env, path, dir, cap);
	if (strlen(dir) + 16 >= cap) {
		snprintf(err, errlen, "path is too long");
		return -1;
	}
	if (st_conf_check_dir(dir, err, errlen) == -1)
		return -1;
	if (!env->check_only && local_mkdirs(dir, 0750) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- life */

int
lsql_open(struct lsql *l, const char *path, int fsync, const char *schema,
          char *err, size_t errlen)
{
	char *msg = NULL;

	l->inited = 1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->work, NULL);
	pthread_cond_init(&l->idle, NULL);
	if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(l->db, "PRAGMA journal_mode=WAL", NULL, NULL,
	    &msg) != SQLITE_OK ||
	    sqlite3_exec(l->db, fsync ? "PRAGMA synchronous=FULL" :
	    "PRAGMA synchronous=NORMAL", NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(l->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path, msg ? msg :
		    l->db ? sqlite3_errmsg(l->db) : "out of memory");
		sqlite3_free(msg);
		return -1;
	}
	sqlite3_busy_timeout(l->db, 5000);
	return 0;
}

int
lsql_start(struct lsql *l, char *err, size_t errlen)
{
	if (pthread_create(&l->thread, NULL, lsql_main, l) != 0) {
		snprintf(err, errlen, "cannot start the store's thread: %s",
		    strerror(errno));
		return -1;
	}
	l->started = 1;
	return 0;
}

void
lsql_stop(struct lsql *l)
{
	if (!l->started)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = 1;
	pthread_cond_signal(&l->work);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	l->started = 0;
}

void
lsql_close(struct lsql *l)
{
	struct lsql_job *j;

	if (!l->inited)
		return;
	lsql_stop(l);
	/* Nobody should be in line when a store closes (each request holds
	 * its configuration); fail any that are, rather than lose them. */
	while ((j = l->queued) != NULL) {
		unlink_job(&l->queued, &l->queued_tail, j);
		j->state = J_DONE;
		st_call_fail(j->call, ST_UNAVAILABLE, NULL, "the store closed");
	}
	while ((j = l->waiting) != NULL) {
		unlink_job(&l->waiting, NULL, j);
		j->state = J_DONE;
		st_call_fail(j->call, ST_UNAVAILABLE, NULL, "the store closed");
	}
	if (l->db != NULL)
		sqlite3_close_v2(l->db);
	l->db = NULL;
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->work);
	pthread_cond_destroy(&l->idle);
	l->inited = 0;
}
