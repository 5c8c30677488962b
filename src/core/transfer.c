/*
 * transfer.c - the curl thread: every provider exchange of the process.
 *
 * Design
 * ------
 * One thread owns one curl multi handle and every easy handle; nothing
 * else touches curl. Other threads talk to it through a short list of
 * pending commands (start, resume, cancel) under one mutex, and wake it
 * with curl_multi_wakeup(). The thread loops: take commands, let curl
 * work (curl_multi_perform), deliver finished exchanges, then sleep in
 * curl_multi_poll() until a socket or a command needs it.
 *
 * Costs on the hot path are kept off: signals are never used
 * (CURLOPT_NOSIGNAL, SIGPIPE is ignored by the daemon), easy handles are
 * reused from a free list so connections stay warm, and one share object
 * holds DNS answers and TLS sessions.
 *
 * An exchange's state lives under the engine mutex:
 *   IDLE -> QUEUED (start) -> RUNNING (added to curl) -> FINISHING (done
 *   hook running) -> DONE, or back to QUEUED when the done hook starts it
 *   again. Cancel waits until the state is IDLE or DONE.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/transfer.h"

enum xstate { X_IDLE, X_QUEUED, X_RUNNING, X_FINISHING, X_DONE };

struct st_xfer {
	struct st_xfer_hooks	 hooks;
	void			*ctx;
	CURL			*easy;
	char			 method[16];
	char			*url;
	struct curl_slist	*headers;
	int			 has_body;
	const char		*mem;
	size_t			 memlen;
	size_t			 mempos;
	uint64_t		 length;
	uint64_t		 sent;
	long			 connect_ms, stall_ms, total_ms;

	/* response */
	long			 status;
	struct st_buf		 resp;		/* "name\0value\0" pairs */
	int			 in_body;
	char			 error[CURL_ERROR_SIZE];

	/* engine bookkeeping, under engine.lock */
	enum xstate		 state;
	int			 want_start, want_resume, want_cancel;
	int			 pending;	/* on engine.pending */
	int			 busy;		/* the engine holds it in hand */
	struct st_xfer		*next_pending;
	long long		 not_before;	/* delayed start, monotonic ms */
	int			 detached;	/* the engine frees it when done */
	int			 delayed;	/* on engine.delayed */
	struct st_xfer		*next_delayed;
};

static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	pthread_t	 thread;
	int		 running;
	int		 stop;
	CURLM		*multi;
	CURLSH		*share;
	pthread_mutex_t	 share_lock;
	struct st_xfer	*pending;
	struct st_xfer	*delayed;	/* started with a wait (backoff) */
	CURL		*spare[64];	/* reusable easy handles */
	int		 nspare;
} engine = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.share_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* ---------------------------------------------------------------- share */

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *u)
{
	(void)h;
	(void)data;
	(void)access;
	(void)u;
	pthread_mutex_lock(&engine.share_lock);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *u)
{
	(void)h;
	(void)data;
	(void)u;
	pthread_mutex_unlock(&engine.share_lock);
}

/* ---------------------------------------------------------------- hooks */

static size_t
on_header(char *line, size_t size, size_t n, void *arg)
{
	struct st_xfer *x = arg;
	size_t len = size * n, nlen, vstart;
	const char *colon;

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = memchr(line, ' ', len);

		st_buf_reset(&x->resp);
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return len;
	}
	if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
		/* End of a header block; 1xx answers are not the response. */
		if (x->status >= 200 && !x->in_body) {
			x->in_body = 1;
			if (x->hooks.headers != NULL)
				x->hooks.headers(x, x->ctx);
		}
		return len;
	}
	if ((colon = memchr(line, ':', len)) == NULL)
		return len;
	nlen = (size_t)(colon - line);
	vstart = nlen + 1;
	while (vstart < len && (line[vstart] == ' ' || line[vstart] == '\t'))
		vstart++;
	while (len > vstart && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
	    line[len - 1] == ' '))
		len--;
	st_buf_add(&x->resp, line, nlen);
	st_buf_add(&x->resp, "", 1);
	st_buf_add(&x->resp, line + vstart, len - vstart);
	st_buf_add(&x->resp, "", 1);
	return size * n;
}

static size_t
on_write(char *p, size_t size, size_t n, void *arg)
{
	struct st_xfer *x = arg;
	size_t len = size * n, taken;

	if (x->hooks.body == NULL)
		return len;
	taken = x->hooks.body(x, p, len, x->ctx);
	if (taken == 0 && len > 0)
		return CURL_WRITEFUNC_PAUSE;
	/* curl has no partial take: a hook that takes part of it must
	 * have failed, which aborts the exchange. */
	return taken;
}

static size_t
on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct st_xfer *x = arg;
	size_t cap = size * n, got;

	if (x->mem != NULL || !x->has_body) {
		got = x->memlen - x->mempos < cap ? x->memlen - x->mempos : cap;
		if (got > 0)
			memcpy(buf, x->mem + x->mempos, got);
		x->mempos += got;
		return got;
	}
	if (x->sent >= x->length)
		return 0;
	if (cap > x->length - x->sent)
		cap = (size_t)(x->length - x->sent);
	got = x->hooks.source(x, buf, cap, x->ctx);
	if (got == 0)
		return CURL_READFUNC_PAUSE;
	x->sent += got;
	return got;
}

/* ---------------------------------------------------------------- setup */

static CURL *
easy_get(void)
{
	return engine.nspare > 0 ? engine.spare[--engine.nspare] : curl_easy_init();
}

static void
easy_put(CURL *e)
{
	if (e == NULL)
		return;
	if (engine.nspare < (int)(sizeof(engine.spare) / sizeof(engine.spare[0]))) {
		curl_easy_reset(e);
		engine.spare[engine.nspare++] = e;
	} else {
		curl_easy_cleanup(e);
	}
}

static int
easy_setup(struct st_xfer *x)
{
	CURL *e = x->easy;

	st_buf_reset(&x->resp);
	x->status = 0;
	x->in_body = 0;
	x->mempos = 0;
	x->sent = 0;
	x->error[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SHARE, engine.share);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->error);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 128L * 1024);
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 128L * 1024);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, x->connect_ms);
	if (x->total_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, x->total_ms);
	if (x->stall_ms > 0) {
		/* Paused transfers are exempt from curl's speed check, so a
		 * slow application never trips this; a silent provider does. */
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
		    x->stall_ms < 1000 ? 1L : x->stall_ms / 1000);
	}
	if (strcmp(x->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (x->has_body) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)(x->mem ? x->memlen : x->length));
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, x);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	} else if (strcmp(x->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	}
	return 0;
}

/* ---------------------------------------------------------------- engine */

static void
post(struct st_xfer *x)
{
	if (!x->pending) {
		x->pending = 1;
		x->next_pending = engine.pending;
		engine.pending = x;
	}
}

static void
unpost(struct st_xfer *x)
{
	struct st_xfer **pp;

	for (pp = &engine.pending; *pp != NULL; pp = &(*pp)->next_pending) {
		if (*pp == x) {
			*pp = x->next_pending;
			break;
		}
	}
	x->pending = 0;
}

static void
undelay(struct st_xfer *x)
{
	struct st_xfer **pp;

	for (pp = &engine.delayed; *pp != NULL; pp = &(*pp)->next_delayed) {
		if (*pp == x) {
			*pp = x->next_delayed;
			break;
		}
	}
	x->delayed = 0;
}

/* Moves delayed starts that are due back to the pending list; returns the
 * milliseconds until the next one (at most max). */
static int
due_delayed(int max)
{
	struct st_xfer **pp, *x;
	long long now = st_now_ms();
	int wait = max;

	pthread_mutex_lock(&engine.lock);
	for (pp = &engine.delayed; (x = *pp) != NULL; ) {
		if (x->not_before <= now) {
			*pp = x->next_delayed;
			x->delayed = 0;
			x->want_start = 1;
			post(x);
			wait = 0;
		} else {
			if (x->not_before - now < wait)
				wait = (int)(x->not_before - now);
			pp = &x->next_delayed;
		}
	}
	pthread_mutex_unlock(&engine.lock);
	return wait;
}

/* Carries out one exchange's commands; x is busy, so nobody frees it. */
static void
run_one(struct st_xfer *x, int start, int resume, int cancel)
{
	if (cancel) {
		if (x->easy != NULL) {
			curl_multi_remove_handle(engine.multi, x->easy);
			easy_put(x->easy);
			x->easy = NULL;
		}
		pthread_mutex_lock(&engine.lock);
		if (x->delayed)
			undelay(x);
		x->state = X_DONE;
		pthread_mutex_unlock(&engine.lock);
		return;
	}
	if (start && x->not_before > st_now_ms()) {
		pthread_mutex_lock(&engine.lock);
		if (!x->delayed) {
			x->delayed = 1;
			x->next_delayed = engine.delayed;
			engine.delayed = x;
		}
		pthread_mutex_unlock(&engine.lock);
		return;
	}
	if (start) {
		if (x->easy == NULL)
			x->easy = easy_get();
		else
			curl_easy_reset(x->easy);
		easy_setup(x);
		pthread_mutex_lock(&engine.lock);
		x->state = X_RUNNING;
		pthread_mutex_unlock(&engine.lock);
		curl_multi_add_handle(engine.multi, x->easy);
	} else if (resume && x->easy != NULL) {
		curl_easy_pause(x->easy, CURLPAUSE_CONT);
	}
}

static void
run_commands(void)
{
	struct st_xfer *list, *x, *next;

	pthread_mutex_lock(&engine.lock);
	list = engine.pending;
	engine.pending = NULL;
	for (x = list; x != NULL; x = x->next_pending) {
		x->pending = 0;
		x->busy = 1;
	}
	pthread_mutex_unlock(&engine.lock);

	for (x = list; x != NULL; x = next) {
		int start, resume, cancel;

		pthread_mutex_lock(&engine.lock);
		next = x->next_pending;
		start = x->want_start;
		resume = x->want_resume;
		cancel = x->want_cancel;
		x->want_start = x->want_resume = x->want_cancel = 0;
		pthread_mutex_unlock(&engine.lock);

		run_one(x, start, resume, cancel);

		pthread_mutex_lock(&engine.lock);
		x->busy = 0;
		pthread_cond_broadcast(&engine.cond);
		pthread_mutex_unlock(&engine.lock);
	}
}

static void xfer_destroy(struct st_xfer *);

static void
finish(CURL *e, CURLcode code)
{
	struct st_xfer_result r = { 0 };
	struct st_xfer *x = NULL;
	int destroy = 0;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
	curl_multi_remove_handle(engine.multi, e);
	pthread_mutex_lock(&engine.lock);
	if (x->state != X_RUNNING) {	/* cancelled meanwhile */
		pthread_mutex_unlock(&engine.lock);
		return;
	}
	x->state = X_FINISHING;
	pthread_mutex_unlock(&engine.lock);

	r.ok = code == CURLE_OK;
	r.curl_code = (int)code;
	r.status = x->status;
	r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
	r.error = x->error[0] ? x->error : curl_easy_strerror(code);
	if (x->hooks.done != NULL)
		x->hooks.done(x, &r, x->ctx);

	/* Once DONE is published, the owner may free x at any moment: decide
	 * everything about x before letting go of the lock. */
	pthread_mutex_lock(&engine.lock);
	if (x->state == X_FINISHING) {
		x->state = X_DONE;
		easy_put(x->easy);
		x->easy = NULL;
		destroy = x->detached;
	}
	pthread_cond_broadcast(&engine.cond);
	pthread_mutex_unlock(&engine.lock);
	if (destroy)
		xfer_destroy(x);
}

static void *
engine_main(void *arg)
{
	int still, left;
	CURLMsg *m;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&engine.lock);
		if (engine.stop) {
			pthread_mutex_unlock(&engine.lock);
			break;
		}
		pthread_mutex_unlock(&engine.lock);
		run_commands();
		curl_multi_perform(engine.multi, &still);
		while ((m = curl_multi_info_read(engine.multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE)
				finish(m->easy_handle, m->data.result);
		run_commands();
		curl_multi_poll(engine.multi, NULL, 0, due_delayed(1000), NULL);
	}
	return NULL;
}

int
st_transfer_init(void)
{
	int rc = 0;

	pthread_mutex_lock(&engine.lock);
	if (engine.running)
		goto out;
	engine.multi = curl_multi_init();
	engine.share = curl_share_init();
	if (engine.multi == NULL || engine.share == NULL) {
		rc = -1;
		goto out;
	}
	curl_share_setopt(engine.share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(engine.share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(engine.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(engine.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_multi_setopt(engine.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 256L);
	/* Keep idle connections for every transfer that may run at once:
	 * curl's default (4 x the transfers running now) closed and reopened
	 * 47 of every 1,000 connections under a load of 64 small GETs. */
	curl_multi_setopt(engine.multi, CURLMOPT_MAXCONNECTS, 512L);
	if (pthread_create(&engine.thread, NULL, engine_main, NULL) != 0) {
		rc = -1;
		goto out;
	}
	engine.running = 1;
out:
	pthread_mutex_unlock(&engine.lock);
	return rc;
}

void
st_transfer_shutdown(void)
{
	pthread_mutex_lock(&engine.lock);
	if (!engine.running) {
		pthread_mutex_unlock(&engine.lock);
		return;
	}
	engine.stop = 1;
	pthread_mutex_unlock(&engine.lock);
	curl_multi_wakeup(engine.multi);
	pthread_join(engine.thread, NULL);
	while (engine.nspare > 0)
		curl_easy_cleanup(engine.spare[--engine.nspare]);
	curl_multi_cleanup(engine.multi);
	curl_share_cleanup(engine.share);
	engine.running = 0;
	engine.stop = 0;
}

/* ---------------------------------------------------------------- xfer */

struct st_xfer *
st_xfer_new(const struct st_xfer_hooks *hooks, void *ctx)
{
	struct st_xfer *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->hooks = *hooks;
	x->ctx = ctx;
	x->connect_ms = 10000;
	return x;
}

static void
xfer_destroy(struct st_xfer *x)
{
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	st_buf_free(&x->resp);
	free(x->url);
	free(x);
}

void
st_xfer_free(struct st_xfer *x)
{
	if (x == NULL)
		return;
	st_xfer_cancel(x);
	xfer_destroy(x);
}

int
st_xfer_start_detached(struct st_xfer *x)
{
	x->detached = 1;
	return st_xfer_start(x);
}

int
st_xfer_set(struct st_xfer *x, const char *method, const char *url)
{
	char *u = strdup(url);

	if (u == NULL || strlen(method) >= sizeof(x->method)) {
		free(u);
		return -1;
	}
	free(x->url);
	x->url = u;
	snprintf(x->method, sizeof(x->method), "%s", method);
	return 0;
}

int
st_xfer_add_header(struct st_xfer *x, const char *name, const char *value)
{
	struct curl_slist *l;
	struct st_buf line = { 0 };

	/* "Name:" stops curl from sending a header of its own (Expect,
	 * Content-Type); "Name;" sends a header with an empty value. */
	if (value == NULL)
		st_buf_printf(&line, "%s:", name);
	else if (value[0] == '\0')
		st_buf_printf(&line, "%s;", name);
	else
		st_buf_printf(&line, "%s: %s", name, value);
	if (line.failed || (l = curl_slist_append(x->headers, line.data)) == NULL) {
		st_buf_free(&line);
		return -1;
	}
	x->headers = l;
	st_buf_free(&line);
	return 0;
}

void
st_xfer_clear_headers(struct st_xfer *x)
{
	curl_slist_free_all(x->headers);
	x->headers = NULL;
}

void
st_xfer_body_memory(struct st_xfer *x, const char *p, size_t n)
{
	x->has_body = 1;
	x->mem = p ? p : "";
	x->memlen = n;
}

void
st_xfer_body_stream(struct st_xfer *x, uint64_t length)
{
	x->has_body = 1;
	x->mem = NULL;
	x->length = length;
}

void
st_xfer_timeouts(struct st_xfer *x, long connect_ms, long stall_ms, long total_ms)
{
	x->connect_ms = connect_ms;
	x->stall_ms = stall_ms;
	x->total_ms = total_ms;
}

int
st_xfer_start(struct st_xfer *x)
{
	return st_xfer_start_after(x, 0);
}

int
st_xfer_start_after(struct st_xfer *x, unsigned delay_ms)
{
	if (st_transfer_init() == -1)
		return -1;
	x->not_before = delay_ms ? st_now_ms() + delay_ms : 0;
	pthread_mutex_lock(&engine.lock);
	x->state = X_QUEUED;
	x->want_start = 1;
	post(x);
	pthread_mutex_unlock(&engine.lock);
	curl_multi_wakeup(engine.multi);
	return 0;
}

void
st_xfer_resume(struct st_xfer *x)
{
	int wake = 0;

	pthread_mutex_lock(&engine.lock);
	if (x->state == X_RUNNING || x->state == X_QUEUED) {
		x->want_resume = 1;
		post(x);
		wake = 1;
	}
	pthread_mutex_unlock(&engine.lock);
	if (wake)
		curl_multi_wakeup(engine.multi);
}

void
st_xfer_cancel(struct st_xfer *x)
{
	int wake = 0;

	pthread_mutex_lock(&engine.lock);
	if (x->state == X_RUNNING || x->state == X_QUEUED) {
		x->want_cancel = 1;
		post(x);
		wake = 1;
	}
	pthread_mutex_unlock(&engine.lock);
	if (wake)
		curl_multi_wakeup(engine.multi);
	pthread_mutex_lock(&engine.lock);
	while ((x->state != X_IDLE && x->state != X_DONE) || x->busy)
		pthread_cond_wait(&engine.cond, &engine.lock);
	if (x->pending)		/* finished before the command was seen */
		unpost(x);
	if (x->delayed)
		undelay(x);
	x->want_start = x->want_resume = x->want_cancel = 0;
	pthread_mutex_unlock(&engine.lock);
}

long
st_xfer_status(const struct st_xfer *x)
{
	return x->status;
}

const char *
st_xfer_header(const struct st_xfer *x, const char *name)
{
	const char *p = x->resp.data, *end = p + x->resp.len;

	while (p != NULL && p < end) {
		const char *value = p + strlen(p) + 1;

		if (strcasecmp(p, name) == 0)
			return value;
		p = value + strlen(value) + 1;
	}
	return NULL;
}

void
st_xfer_each_header(const struct st_xfer *x,
                    void (*fn)(const char *, const char *, void *), void *arg)
{
	const char *p = x->resp.data, *end = p + x->resp.len;

	while (p != NULL && p < end) {
		const char *value = p + strlen(p) + 1;

		fn(p, value, arg);
		p = value + strlen(value) + 1;
	}
}
