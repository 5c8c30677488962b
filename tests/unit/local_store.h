/*
 * local_store.h - the harness shared by the unit tests of the local queue
 * and table services: a store opened in a fresh temporary directory, and
 * calls submitted as the core submits them, waited for and released once.
 *
 * The including file defines, before it includes this header:
 *   OPS           the service's operations (&st_local_queue_ops ...)
 *   LS_OPEN       its open function (st_local_queue_open ...)
 *   LS_KIND       its kind (ST_KIND_QUEUE ...)
 *   LS_KIND_NAME  the kind's name in a configuration ("queue" ...); the
 *                 store's directory is that name with an "s"
 *   LS_STORE      the store's name
 * and, after it, submit(): the switch from a call's op to the operation.
 */
#ifndef STRATUS_TESTS_LOCAL_STORE_H
#define STRATUS_TESTS_LOCAL_STORE_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libconfig.h>

#include "core/call.h"
#include "providers/local/local.h"
#include "unit.h"

static char tmpdir[256];

/* ---------------------------------------------------------------- store */

static inline void
rm_tree(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static inline void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/st-" LS_KIND_NAME ".XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static inline void
teardown(void)
{
	rm_tree(tmpdir);
}

/* Opens a store from a configuration group's text: 0, or -1 with err. */
static inline int
open_conf(const char *group, int check_only, void **store, char *err,
          size_t errlen)
{
	struct st_store_env env = { 0 };
	config_t cfg;
	char *text;
	int rc;

	ck_assert_int_ne(asprintf(&text, "store = %s;", group), -1);
	config_init(&cfg);
	ck_assert_msg(config_read_string(&cfg, text) == CONFIG_TRUE,
	    "config: %s", config_error_text(&cfg));
	free(text);
	env.name = LS_STORE;
	env.kind = LS_KIND;
	env.config_dir = tmpdir;
	env.check_only = check_only;
	rc = LS_OPEN(config_lookup(&cfg, "store"), &env, store, err,
	    errlen);
	config_destroy(&cfg);
	return rc;
}

static inline void *
open_store(const char *extra)
{
	char group[512], err[256];
	void *s = NULL;

	snprintf(group, sizeof(group), "{ name = \"%s\"; kind = \"%s\"; "
	    "provider = \"local\"; path = \"%ss\"; %s }", LS_STORE,
	    LS_KIND_NAME, LS_KIND_NAME, extra);
	ck_assert_msg(open_conf(group, 0, &s, err, sizeof(err)) == 0,
	    "open: %s", err);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(((struct local_kind *)s)->kind, LS_KIND);
	return s;
}

/* ---------------------------------------------------------------- calls */

struct waiter {
	pthread_mutex_t	 m;
	pthread_cond_t	 cv;
	int		 done;
	int		 calls;		/* times the hook ran */
};

static inline void
on_done(struct st_call *c, void *ctx)
{
	struct waiter *w = ctx;

	(void)c;
	pthread_mutex_lock(&w->m);
	w->done = 1;
	w->calls++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
}

struct req {
	struct st_call	*c;
	struct waiter	 w;
};

static inline void
req_new(struct req *r, void *store, enum st_op op)
{
	struct st_call_hooks h;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->w.m, NULL);
	pthread_cond_init(&r->w.cv, NULL);
	h.done = on_done;
	h.wake = NULL;
	h.ctx = &r->w;
	ck_assert_ptr_nonnull(r->c = st_call_new(op, &h));
	r->c->store = store;
	r->c->store_name = LS_STORE;
}

static void submit(struct req *);  /* defined by the test file */

static inline int
is_done(struct req *r)
{
	int done;

	pthread_mutex_lock(&r->w.m);
	done = r->w.done;
	pthread_mutex_unlock(&r->w.m);
	return done;
}

static inline enum st_status
wait_req(struct req *r)
{
	pthread_mutex_lock(&r->w.m);
	while (!r->w.done)
		pthread_cond_wait(&r->w.cv, &r->w.m);
	pthread_mutex_unlock(&r->w.m);
	return r->c->status;
}

static inline enum st_status
run(struct req *r)
{
	submit(r);
	return wait_req(r);
}

/* Release (once), then free: the hook has returned by then. */
static inline void
req_free(struct req *r)
{
	st_call_free_with(r->c, OPS->release);
	ck_assert_int_le(r->w.calls, 1);
	pthread_cond_destroy(&r->w.cv);
	pthread_mutex_destroy(&r->w.m);
	r->c = NULL;
}

static inline double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
