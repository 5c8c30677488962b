/*
 * lsql.h - a SQLite database with a thread of its own and a line of calls:
 * what the local queue and table services share.
 *
 * The event loops never touch SQLite: an operation hands its call to the
 * store's line (lsql_submit) and returns. The store's thread takes every
 * call waiting in line, runs them in one transaction (a savepoint each, so
 * one call's failure undoes only its own work), commits once, and only
 * then ends the calls: one fsync for a whole batch (group commit), and an
 * answered write is on disk.
 *
 * A call may also wait (a queue receive with a long poll): its run answers
 * LSQL_WAIT, and it is run again when something may have changed (a send:
 * lsql_poke), when the service's next_due time comes (a hidden message
 * becoming visible), or when its own deadline passes. Waiting calls cost
 * nothing while nothing happens: the thread sleeps until the nearest time.
 *
 * Release: the core calls the service's release exactly once at the end of
 * every call, also when the application left while it waited. lsql_release
 * takes the call out of the line or the waiters; if the thread is running
 * it right now, it waits for the batch to end. The thread ends a call
 * (st_call_done) before it lets go of it, so a call is never touched after
 * its release.
 */
#ifndef STRATUS_PROVIDERS_LSQL_H
#define STRATUS_PROVIDERS_LSQL_H

#include <pthread.h>

#include <libconfig.h>
#include <sqlite3.h>

#include <stratus/backend.h>

#define LSQL_DONE 0		/* the call has its result */
#define LSQL_WAIT 1		/* run it again later, before its deadline */

struct lsql_job;

struct lsql {
	sqlite3			*db;
	void			*store;		/* handed to run and next_due */
	/* Runs one call inside the batch's transaction: sets its result
	 * (status, message, answer) without calling st_call_done. deadline
	 * is when a waiting call must be answered anyway (ms, monotonic). */
	int			(*run)(void *store, struct st_call *,
				       long long now_ms, long long deadline_ms);
	/* In how many ms waiting calls may be served (a message becomes
	 * visible), or -1: nothing known. */
	long long		(*next_due)(void *store);

	pthread_t		 thread;
	int			 inited;	/* lsql_open ran */
	int			 started;
	pthread_mutex_t		 lock;
	pthread_cond_t		 work;		/* a call came, or stop */
	pthread_cond_t		 idle;		/* a batch ended */
	struct lsql_job		*queued, *queued_tail;
	struct lsql_job		*waiting;
	int			 poked;		/* run the waiting calls again */
	int			 stop;
};

/* Opens path (WAL; synchronous FULL with fsync, else NORMAL) and runs
 * schema. 0, or -1 with a reason in err (then lsql_close it). */
int  lsql_open(struct lsql *, const char *path, int fsync, const char *schema,
               char *err, size_t errlen);
/* Starts the thread, once the service has prepared its statements. */
int  lsql_start(struct lsql *, char *err, size_t errlen);
/* Stops the thread; the service then finalizes its statements. */
void lsql_stop(struct lsql *);
/* Stops the thread if need be, fails calls still in line, closes. */
void lsql_close(struct lsql *);

/* From an operation: puts the call in line. wait_s > 0 lets it wait. */
void lsql_submit(struct lsql *, struct st_call *, unsigned wait_s);
/* From the service's release (see above). */
void lsql_release(struct lsql *, struct st_call *);
/* From run, on the store's thread: the waiting calls may be served now. */
void lsql_poke(struct lsql *);
/* From run: the call's outcome, without ending it (the batch does). */
void lsql_fail(struct st_call *, enum st_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The settings every local queue or table store has: checks that conf
 * has only `keys`, resolves `path` (relative to the configuration) into
 * dir and, unless env->check_only, creates it; reads `fsync` (default
 * true). 0, or -1 with a reason in err.
 */
int  lsql_store_settings(const config_setting_t *conf,
                         const struct st_store_env *env,
                         const char *const *keys, char *dir, size_t cap,
                         int *fsync, char *err, size_t errlen);

/* Helpers for services. */
long long lsql_now_ms(void);		/* monotonic */
long long lsql_wall_ms(void);		/* since the epoch */
int  lsql_prepare(struct lsql *, const char *sql, sqlite3_stmt **);
/* Resets and clears a statement after use. */
void lsql_done_stmt(sqlite3_stmt *);

#endif
