/*
 * transfer.c - provider exchanges, driven by event loops.
 *
 * Design
 * ------
 * An engine is one curl multi handle and the exchanges that run on it,
 * driven through curl's socket API (curl_multi_socket_action) by the epoll
 * loop of the one thread that owns it. Each HTTP worker owns an engine
 * (src/daemon/worker.c), so that a request, its provider exchanges and
 * their hooks all run on the same thread: a request parks and wakes
 * without a trip to another thread, which costs more here than the
 * exchange itself. A thread without an engine of its own (unit tests, a
 * backend's start-up) uses a shared engine that runs its own small loop
 * on a thread of its own, started on first use.
 *
 * Commands (start, resume, cancel) go on the engine's pending list under
 * its mutex. The owner runs them at the end of its current round, never
 * inside a hook, so hooks do not re-enter one another. A command from
 * another thread also writes the engine's eventfd to wake its loop. A
 * cancel on the owner's thread acts at once; from any other thread it
 * waits until the owner has let go of the exchange.
 *
 * Costs on the hot path are kept off: signals are never used
 * (CURLOPT_NOSIGNAL, SIGPIPE is ignored by the daemon), easy handles are
 * reused from a free list so connections stay warm, every engine keeps up
 * to 512 idle connections, and one share object holds the TLS sessions of
 * all engines. The share's lock is taken by every worker, so an exchange
 * over plain HTTP should not take it: DNS answers stay in each engine's
 * multi handle (a worker looks a host up about once a minute), and an
 * easy handle is attached to the share once, when it is made.
 *
 * An exchange's state lives under its engine's mutex:
 *   IDLE -> QUEUED (start) -> RUNNING (added to curl) -> FINISHING (done
 *   hook running) -> DONE, or back to QUEUED when the done hook starts it
 *   again. Cancel waits until the state is IDLE or DONE.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/conn.h"
#include "core/eventfd.h"
#include "core/transfer.h"

enum xstate { X_IDLE, X_QUEUED, X_RUNNING, X_FINISHING, X_DONE };

struct st_engine {
	pthread_mutex_t	 lock;		/* states, commands, the lists */
	pthread_cond_t	 cond;		/* an exchange was let go */
	pthread_t	 owner;		/* the thread that drives it */
	int		 bound;		/* owner is set */
	CURLM		*multi;
	int		 epfd;		/* the loop's epoll set */
	int		 wakefd;	/* eventfd: commands from other threads */
	long long	 timer_at;	/* curl's timer, monotonic ms; -1: none */
	struct st_xfer	*pending;	/* commands to carry out */
	struct st_xfer	*delayed;	/* started with a wait (backoff) */
	struct st_xfer	*live;		/* added to curl */
	CURL		*spare[64];	/* reusable easy handles */
	int		 nspare;
	int		 running;	/* easy handles in the multi */
	struct sockstate *socks;	/* by descriptor number */
	int		 nsocks;
};

/*
 * What the epoll set holds for each of curl's sockets. curl drops its
 * interest in a connection when the connection goes back to its cache,
 * and wants it again for the next request on it: deregistering and
 * registering each time cost two epoll_ctl calls per request. So a socket
 * stays registered while it is idle; an event on it that curl does not
 * want removes it then. Only connections opened and closed through
 * on_open and on_close get this treatment, since only for them is the
 * state known to be true; anything else curl watches (its resolver's
 * wake-up descriptor) is registered and removed every time.
 */
struct sockstate {
	uint32_t	 registered;	/* events the epoll set has, or 0 */
	uint32_t	 wanted;	/* events curl asked for, or 0 */
	int		 ours;		/* opened by on_open, not yet closed */
};

struct st_xfer {
	struct st_xfer_hooks	 hooks;
	void			*ctx;
	struct st_engine	*engine;	/* where it was last started */
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
	const struct st_conn	*conn;		/* the store's; NULL: defaults */

	/* response */
	long			 status;
	struct st_buf		 resp;		/* "name\0value\0" pairs */
	int			 in_body;
	char			 error[CURL_ERROR_SIZE];

	/* engine bookkeeping, under engine->lock */
	enum xstate		 state;
	int			 want_start, want_resume, want_cancel;
	int			 pending;	/* on engine->pending */
	int			 busy;		/* the engine holds it in hand */
	struct st_xfer		*next_pending;
	long long		 not_before;	/* delayed start, monotonic ms;
						   0: no wait asked, or due */
	int			 detached;	/* the engine frees it when done */
	int			 delayed;	/* on engine->delayed */
	struct st_xfer		*next_delayed;
	st_xfer_due_fn		 on_due;
	struct st_xfer		*live_prev, *live_next;	/* on engine->live */
};

/* Shared by every engine: TLS sessions. */
static pthread_once_t share_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t share_mutex = PTHREAD_MUTEX_INITIALIZER;
static CURLSH *share;

/* Whether the environment names a proxy, read with the share. curl reads
 * the proxy variables (the seven names proxy_in_env checks) on every
 * exchange; without any, it is told there is none and skips the look. */
static int env_proxy;

/* The engine of threads that have none (see the design note). */
static struct {
	pthread_mutex_t	 lock;
	struct st_engine *engine;
	pthread_t	 thread;
	int		 epfd;
	int		 stopfd;
	int		 running;
} fallback = { .lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .stopfd = -1 };

static __thread struct st_engine *thread_engine;

/* ---------------------------------------------------------------- share */

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *u)
{
	(void)h;
	(void)data;
	(void)access;
	(void)u;
	pthread_mutex_lock(&share_mutex);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *u)
{
	(void)h;
	(void)data;
	(void)u;
	pthread_mutex_unlock(&share_mutex);
}

static int
proxy_in_env(void)
{
	static const char *names[] = { "http_proxy", "https_proxy", "HTTPS_PROXY",
	    "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (getenv(names[i]) != NULL)
			return 1;
	return 0;
}

static void
share_init(void)
{
	env_proxy = proxy_in_env();
	if ((share = curl_share_init()) == NULL)
		return;
	curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
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

static curl_socket_t on_open(void *, curlsocktype, struct curl_sockaddr *);
static int on_close(void *, curl_socket_t);

static CURL *
easy_get(struct st_engine *e)
{
	CURL *h;

	if (e->nspare > 0)
		return e->spare[--e->nspare];
	/* Set once: the share survives curl_easy_reset, and setting it
	 * takes the share's lock twice. */
	if ((h = curl_easy_init()) != NULL && share != NULL)
		curl_easy_setopt(h, CURLOPT_SHARE, share);
	return h;
}

static void
easy_put(struct st_engine *e, CURL *h)
{
	if (h == NULL)
		return;
	if (e->nspare < (int)(sizeof(e->spare) / sizeof(e->spare[0]))) {
		curl_easy_reset(h);
		e->spare[e->nspare++] = h;
	} else {
		curl_easy_cleanup(h);
	}
}

static int
easy_setup(struct st_xfer *x)
{
	CURL *h = x->easy;

	st_buf_reset(&x->resp);
	x->status = 0;
	x->in_body = 0;
	x->mempos = 0;
	x->sent = 0;
	x->error[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, x->url);
	curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (!env_proxy) {
		curl_easy_setopt(h, CURLOPT_PROXY, "");
		curl_easy_setopt(h, CURLOPT_NOPROXY, "");
	} else {
		/* A proxy's answer to CONNECT must not reach the header hook as
		 * if it were the provider's. */
		curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	}
	st_conn_apply(x->conn, h);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x->engine);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, x->engine);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->error);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 128L * 1024);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 128L * 1024);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, x->connect_ms);
	if (x->total_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, x->total_ms);
	if (x->stall_ms > 0) {
		/* Paused transfers are exempt from curl's speed check, so a
		 * slow application never trips this; a silent provider does. */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
		    x->stall_ms < 1000 ? 1L : x->stall_ms / 1000);
	}
	if (strcmp(x->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (x->has_body) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)(x->mem ? x->memlen : x->length));
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
	} else if (strcmp(x->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
	}
	return 0;
}

/* ---------------------------------------------------------------- lists */

static int
on_owner(const struct st_engine *e)
{
	return e->bound && pthread_equal(e->owner, pthread_self());
}

static void
wake(struct st_engine *e)
{
	if (!on_owner(e))
		st_eventfd_poke(e->wakefd);
}

static void
post(struct st_engine *e, struct st_xfer *x)
{
	if (!x->pending) {
		x->pending = 1;
		x->next_pending = e->pending;
		e->pending = x;
	}
}

static void
unpost(struct st_engine *e, struct st_xfer *x)
{
	struct st_xfer **pp;

	for (pp = &e->pending; *pp != NULL; pp = &(*pp)->next_pending) {
		if (*pp == x) {
			*pp = x->next_pending;
			break;
		}
	}
	x->pending = 0;
}

static void
undelay(struct st_engine *e, struct st_xfer *x)
{
	struct st_xfer **pp;

	for (pp = &e->delayed; *pp != NULL; pp = &(*pp)->next_delayed) {
		if (*pp == x) {
			*pp = x->next_delayed;
			break;
		}
	}
	x->delayed = 0;
}

/* The exchanges in curl's hands, so that a dying engine finds them. */
static void
enlive(struct st_engine *e, struct st_xfer *x)
{
	x->live_prev = NULL;
	x->live_next = e->live;
	if (e->live != NULL)
		e->live->live_prev = x;
	e->live = x;
	e->running++;
}

static void
unlive(struct st_engine *e, struct st_xfer *x)
{
	if (x->live_prev != NULL)
		x->live_prev->live_next = x->live_next;
	else
		e->live = x->live_next;
	if (x->live_next != NULL)
		x->live_next->live_prev = x->live_prev;
	x->live_prev = x->live_next = NULL;
	e->running--;
}

/* An engine going away lets go of x: freed if it was the engine's. */
static void xfer_destroy(struct st_xfer *);

static void
leave(struct st_engine *e, struct st_xfer *x)
{
	x->state = X_DONE;
	if (x->detached) {
		xfer_destroy(x);
		return;
	}
	easy_put(e, x->easy);
	x->easy = NULL;
}

/* Moves delayed starts that are due to the pending list; returns the
 * milliseconds until the next one, or -1 when none waits. */
static long long
due_delayed(struct st_engine *e, long long now)
{
	struct st_xfer **pp, *x;
	long long wait = -1;

	pthread_mutex_lock(&e->lock);
	for (pp = &e->delayed; (x = *pp) != NULL; ) {
		if (x->not_before <= now) {
			*pp = x->next_delayed;
			x->delayed = 0;
			x->want_start = 1;
			post(e, x);
			wait = 0;
		} else {
			if (wait == -1 || x->not_before - now < wait)
				wait = x->not_before - now;
			pp = &x->next_delayed;
		}
	}
	pthread_mutex_unlock(&e->lock);
	return wait;
}

/* ---------------------------------------------------------------- commands */

static void
run_cancel(struct st_engine *e, struct st_xfer *x)
{
	if (x->easy != NULL) {
		if (x->state == X_RUNNING) {
			curl_multi_remove_handle(e->multi, x->easy);
			unlive(e, x);
		}
		easy_put(e, x->easy);
		x->easy = NULL;
	}
	pthread_mutex_lock(&e->lock);
	if (x->delayed)
		undelay(e, x);
	x->state = X_DONE;
	pthread_mutex_unlock(&e->lock);
}

/*
 * Tells the owner how the exchange ended (x is FINISHING), then lets it
 * go unless the done hook started it again. Once DONE is published, the
 * owner may free x at any moment: everything about x is decided before
 * the lock is let go.
 */
static void
deliver(struct st_engine *e, struct st_xfer *x, const struct st_xfer_result *r)
{
	int destroy = 0;

	if (x->hooks.done != NULL)
		x->hooks.done(x, r, x->ctx);
	pthread_mutex_lock(&e->lock);
	if (x->state == X_FINISHING) {
		x->state = X_DONE;
		easy_put(e, x->easy);
		x->easy = NULL;
		destroy = x->detached;
	}
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (destroy)
		xfer_destroy(x);
}

/* A start that fell due but whose owner could not set the request again:
 * ends as a failure nobody sent. */
static void
end_unsent(struct st_engine *e, struct st_xfer *x)
{
	struct st_xfer_result r = { 0 };

	pthread_mutex_lock(&e->lock);
	x->state = X_FINISHING;
	pthread_mutex_unlock(&e->lock);
	r.curl_code = (int)CURLE_ABORTED_BY_CALLBACK;
	r.error = "the request could not be made again after its wait";
	deliver(e, x, &r);
}

static void
run_start(struct st_engine *e, struct st_xfer *x)
{
	if (x->not_before > st_now_ms()) {
		pthread_mutex_lock(&e->lock);
		if (!x->delayed) {
			x->delayed = 1;
			x->next_delayed = e->delayed;
			e->delayed = x;
		}
		pthread_mutex_unlock(&e->lock);
		return;
	}
	/* Whether or not the engine came to this start before its wait was
	 * over, a start that asked for a wait is due now: the owner sets the
	 * request again (a retry is armed only when due, so skipping this
	 * would send the last attempt's request). */
	if (x->not_before != 0) {
		x->not_before = 0;
		if (x->on_due != NULL && x->on_due(x, x->ctx) == -1) {
			end_unsent(e, x);
			return;
		}
	}
	if (x->easy == NULL)
		x->easy = easy_get(e);
	else
		curl_easy_reset(x->easy);
	easy_setup(x);
	pthread_mutex_lock(&e->lock);
	x->state = X_RUNNING;
	pthread_mutex_unlock(&e->lock);
	enlive(e, x);
	curl_multi_add_handle(e->multi, x->easy);
}

/* Carries out one exchange's commands; x is busy, so nobody frees it. */
static void
run_one(struct st_engine *e, struct st_xfer *x, int start, int resume,
        int cancel)
{
	if (cancel)
		run_cancel(e, x);
	else if (start)
		run_start(e, x);
	else if (resume && x->easy != NULL && x->state == X_RUNNING)
		curl_easy_pause(x->easy, CURLPAUSE_CONT);
}

static int
run_commands(struct st_engine *e)
{
	struct st_xfer *list, *x, *next;

	pthread_mutex_lock(&e->lock);
	list = e->pending;
	e->pending = NULL;
	for (x = list; x != NULL; x = x->next_pending) {
		x->pending = 0;
		x->busy = 1;
	}
	pthread_mutex_unlock(&e->lock);

	for (x = list; x != NULL; x = next) {
		int start, resume, cancel;

		pthread_mutex_lock(&e->lock);
		next = x->next_pending;
		start = x->want_start;
		resume = x->want_resume;
		cancel = x->want_cancel;
		x->want_start = x->want_resume = x->want_cancel = 0;
		pthread_mutex_unlock(&e->lock);

		run_one(e, x, start, resume, cancel);

		pthread_mutex_lock(&e->lock);
		x->busy = 0;
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->lock);
	}
	return list != NULL;
}

/* ---------------------------------------------------------------- finish */

static void
finish(struct st_engine *e, CURL *h, CURLcode code)
{
	struct st_xfer_result r = { 0 };
	struct st_xfer *x = NULL;

	curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&x);
	curl_multi_remove_handle(e->multi, h);
	unlive(e, x);
	pthread_mutex_lock(&e->lock);
	if (x->state != X_RUNNING) {	/* cancelled meanwhile */
		pthread_mutex_unlock(&e->lock);
		return;
	}
	x->state = X_FINISHING;
	pthread_mutex_unlock(&e->lock);

	r.ok = code == CURLE_OK;
	r.curl_code = (int)code;
	r.status = x->status;
	r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
	r.error = x->error[0] ? x->error : curl_easy_strerror(code);
	deliver(e, x, &r);
}

static void
reap(struct st_engine *e)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(e->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE)
			finish(e, m->easy_handle, m->data.result);
}

/* ---------------------------------------------------------------- curl's side */

static struct sockstate *
sockstate(struct st_engine *e, int fd)
{
	if (fd < 0)
		return NULL;
	if (fd >= e->nsocks) {
		int n = e->nsocks ? e->nsocks : 64;
		struct sockstate *p;

		while (n <= fd)
			n *= 2;
		if ((p = realloc(e->socks, (size_t)n * sizeof(*p))) == NULL)
			return NULL;
		memset(p + e->nsocks, 0, (size_t)(n - e->nsocks) * sizeof(*p));
		e->socks = p;
		e->nsocks = n;
	}
	return &e->socks[fd];
}

/* The state of a socket on_open made, or NULL. */
static struct sockstate *
known_sock(struct st_engine *e, int fd)
{
	return fd >= 0 && fd < e->nsocks ? &e->socks[fd] : NULL;
}

static void
sock_register(struct st_engine *e, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	ev.data.u64 = ST_EV_DATA(ST_EV_CURL, fd);
	if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) == -1 && errno == ENOENT)
		epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int
on_socket(CURL *h, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct st_engine *e = arg;
	struct sockstate *ss = known_sock(e, fd);
	uint32_t events = (what & CURL_POLL_IN ? EPOLLIN : 0) |
	    (what & CURL_POLL_OUT ? EPOLLOUT : 0);

	(void)h;
	(void)sockp;
	if (ss == NULL || !ss->ours) {
		if (what == CURL_POLL_REMOVE)
			epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
		else
			sock_register(e, fd, events);
		return 0;
	}
	ss->wanted = what == CURL_POLL_REMOVE ? 0 : events;
	if (ss->wanted != 0 && ss->registered != ss->wanted) {
		sock_register(e, fd, ss->wanted);
		ss->registered = ss->wanted;
	}
	return 0;
}

/* An event on a connection curl no longer watches (an idle connection
 * that the server closed, say): stop watching it. */
static int
unwanted(struct st_engine *e, int fd)
{
	struct sockstate *ss = known_sock(e, fd);

	if (ss == NULL || !ss->ours || ss->wanted != 0)
		return 0;
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
	ss->registered = 0;
	return 1;
}

static curl_socket_t
on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct st_engine *e = arg;
	struct sockstate *ss;
	int fd;

	(void)purpose;
	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
	if (fd == -1)
		return CURL_SOCKET_BAD;
	if ((ss = sockstate(e, fd)) != NULL) {
		ss->registered = ss->wanted = 0;
		ss->ours = 1;
	}
	return fd;
}

/* Closing drops the registration: the kernel removes a closed socket
 * from every epoll set. */
static int
on_close(void *arg, curl_socket_t fd)
{
	struct sockstate *ss = known_sock(arg, fd);

	if (ss != NULL)
		ss->registered = ss->wanted = ss->ours = 0;
	return close(fd);
}

static int
on_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct st_engine *e = arg;

	(void)multi;
	e->timer_at = timeout_ms < 0 ? -1 : st_now_ms() + timeout_ms;
	return 0;
}

/* ---------------------------------------------------------------- engine */

struct st_engine *
st_engine_new(int epfd)
{
	struct st_engine *e = calloc(1, sizeof(*e));
	struct epoll_event ev = { .events = EPOLLIN };

	if (e == NULL)
		return NULL;
	pthread_once(&share_once, share_init);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	e->epfd = epfd;
	e->timer_at = -1;
	e->wakefd = st_eventfd_new();
	e->multi = curl_multi_init();
	ev.data.u64 = ST_EV_DATA(ST_EV_ENGINE, e->wakefd);
	if (e->wakefd == -1 || e->multi == NULL ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, e->wakefd, &ev) == -1) {
		if (e->wakefd != -1)
			close(e->wakefd);
		if (e->multi != NULL)
			curl_multi_cleanup(e->multi);
		free(e);
		return NULL;
	}
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 256L);
	/* Keep idle connections for every transfer that may run at once:
	 * curl's default (4 x the transfers running now) closed and reopened
	 * 47 of every 1,000 connections under a load of 64 small GETs. */
	curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, 512L);
	return e;
}

void
st_engine_bind(struct st_engine *e)
{
	e->owner = pthread_self();
	e->bound = 1;
	thread_engine = e;
}

void
st_engine_event(struct st_engine *e, uint64_t data, uint32_t events)
{
	int still, mask = 0;

	if (ST_EV_TAG(data) == ST_EV_ENGINE) {
		st_eventfd_clear(e->wakefd);
		return;		/* st_engine_run carries out the commands */
	}
	if (events & EPOLLIN)
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		mask |= CURL_CSELECT_ERR;
	if (unwanted(e, ST_EV_FD(data)))
		return;
	curl_multi_socket_action(e->multi, ST_EV_FD(data), mask, &still);
	reap(e);
}

int
st_engine_run(struct st_engine *e)
{
	long long now, wait, delayed;
	int still, rounds;

	/* A few rounds: a done hook may start its exchange again, and curl
	 * asks for its timer at once for a handle just added. */
	for (rounds = 0; rounds < 4; rounds++) {
		int acted = run_commands(e);

		now = st_now_ms();
		if (e->timer_at != -1 && e->timer_at <= now) {
			e->timer_at = -1;
			curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT,
			    0, &still);
			reap(e);
			acted = 1;
		}
		if (!acted && e->pending == NULL)
			break;
	}
	now = st_now_ms();
	delayed = due_delayed(e, now);
	pthread_mutex_lock(&e->lock);
	wait = e->pending != NULL ? 0 : -1;
	pthread_mutex_unlock(&e->lock);
	if (wait == -1 && e->timer_at != -1)
		wait = e->timer_at > now ? e->timer_at - now : 0;
	if (delayed != -1 && (wait == -1 || delayed < wait))
		wait = delayed;
	return wait > 60000 ? 60000 : (int)wait;
}

int
st_engine_busy(struct st_engine *e)
{
	int busy;

	pthread_mutex_lock(&e->lock);
	busy = e->running > 0 || e->pending != NULL || e->delayed != NULL;
	pthread_mutex_unlock(&e->lock);
	return busy;
}

/* Frees what is left: detached exchanges the engine owns, and easy
 * handles. Exchanges of others must have been cancelled by now. */
void
st_engine_free(struct st_engine *e)
{
	struct st_xfer *x;

	if (e == NULL)
		return;
	while ((x = e->live) != NULL) {
		unlive(e, x);
		curl_multi_remove_handle(e->multi, x->easy);
		leave(e, x);
	}
	while ((x = e->delayed) != NULL) {
		undelay(e, x);
		leave(e, x);
	}
	while ((x = e->pending) != NULL) {
		unpost(e, x);
		leave(e, x);
	}
	while (e->nspare > 0)
		curl_easy_cleanup(e->spare[--e->nspare]);
	curl_multi_cleanup(e->multi);
	free(e->socks);
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, e->wakefd, NULL);
	close(e->wakefd);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	if (thread_engine == e)
		thread_engine = NULL;
	free(e);
}

/* ---------------------------------------------------------------- fallback */

/* The shared engine's thread: the smallest loop there is. */
static void *
fallback_main(void *arg)
{
	struct st_engine *e = arg;
	struct epoll_event ev[32];
	int n, i, timeout;

	st_engine_bind(e);
	for (;;) {
		timeout = st_engine_run(e);
		n = epoll_wait(fallback.epfd, ev, 32, timeout);
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == ST_EV_DATA(ST_EV_LOOP, fallback.stopfd))
				return NULL;
			st_engine_event(e, ev[i].data.u64, ev[i].events);
		}
	}
}

int
st_transfer_init(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int rc = -1;

	pthread_mutex_lock(&fallback.lock);
	if (fallback.running) {
		pthread_mutex_unlock(&fallback.lock);
		return 0;
	}
	fallback.epfd = epoll_create1(EPOLL_CLOEXEC);
	fallback.stopfd = st_eventfd_new();
	ev.data.u64 = ST_EV_DATA(ST_EV_LOOP, fallback.stopfd);
	if (fallback.epfd != -1 && fallback.stopfd != -1 &&
	    epoll_ctl(fallback.epfd, EPOLL_CTL_ADD, fallback.stopfd, &ev) == 0 &&
	    (fallback.engine = st_engine_new(fallback.epfd)) != NULL) {
		if (pthread_create(&fallback.thread, NULL, fallback_main,
		    fallback.engine) == 0) {
			fallback.running = 1;
			rc = 0;
		}
	}
	if (rc == -1) {
		st_engine_free(fallback.engine);
		fallback.engine = NULL;
		if (fallback.stopfd != -1)
			close(fallback.stopfd);
		if (fallback.epfd != -1)
			close(fallback.epfd);
		fallback.epfd = fallback.stopfd = -1;
	}
	pthread_mutex_unlock(&fallback.lock);
	return rc;
}

void
st_transfer_shutdown(void)
{
	pthread_mutex_lock(&fallback.lock);
	if (fallback.running) {
		st_eventfd_poke(fallback.stopfd);
		pthread_join(fallback.thread, NULL);
		st_engine_free(fallback.engine);
		close(fallback.stopfd);
		close(fallback.epfd);
		fallback.engine = NULL;
		fallback.epfd = fallback.stopfd = -1;
		fallback.running = 0;
	}
	pthread_mutex_unlock(&fallback.lock);
}

/* The engine an exchange started on this thread runs on. */
static struct st_engine *
engine_here(void)
{
	struct st_engine *e;

	if (thread_engine != NULL)
		return thread_engine;
	if (st_transfer_init() == -1)
		return NULL;
	pthread_mutex_lock(&fallback.lock);
	e = fallback.engine;
	pthread_mutex_unlock(&fallback.lock);
	return e;
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
	 * Content-Type); "Name;" sends a header with an empty value.
	 * Appended rather than formatted: the line is only a copy that
	 * curl_slist_append copies again, and st_buf_printf's formatting
	 * cost more than the copying on every provider request (bench/cost). */
	st_buf_adds(&line, name);
	if (value == NULL) {
		st_buf_adds(&line, ":");
	} else if (value[0] == '\0') {
		st_buf_adds(&line, ";");
	} else {
		st_buf_adds(&line, ": ");
		st_buf_adds(&line, value);
	}
	if (line.failed || (l = curl_slist_append(x->headers, line.data)) == NULL) {
		st_buf_free(&line);
		return -1;
	}
	x->headers = l;
	st_buf_free(&line);
	return 0;
}

int
st_xfer_set_header(struct st_xfer *x, const char *name, const char *value)
{
	struct curl_slist *old = x->headers, *p, *l;
	size_t n = strlen(name);

	x->headers = NULL;
	for (p = old; p != NULL; p = p->next) {
		if (strncasecmp(p->data, name, n) == 0 && (p->data[n] == ':' ||
		    p->data[n] == ';'))
			continue;
		if ((l = curl_slist_append(x->headers, p->data)) == NULL)
			goto fail;
		x->headers = l;
	}
	if (st_xfer_add_header(x, name, value) == -1)
		goto fail;
	/* The replaced line may be a credential: wiped before it goes. */
	for (p = old; p != NULL; p = p->next)
		if (strncasecmp(p->data, name, n) == 0)
			OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(old);
	return 0;
fail:
	curl_slist_free_all(x->headers);
	x->headers = old;
	return -1;
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
st_xfer_body_none(struct st_xfer *x)
{
	x->has_body = 0;
	x->mem = NULL;
	x->memlen = 0;
}

void
st_xfer_body_stream(struct st_xfer *x, uint64_t length)
{
	x->has_body = 1;
	x->mem = NULL;
	x->length = length;
}

void
st_xfer_conn(struct st_xfer *x, const struct st_conn *conn)
{
	x->conn = conn;
}

void
st_xfer_timeouts(struct st_xfer *x, long connect_ms, long stall_ms, long total_ms)
{
	x->connect_ms = connect_ms;
	x->stall_ms = stall_ms;
	x->total_ms = total_ms;
}

void
st_xfer_on_due(struct st_xfer *x, st_xfer_due_fn fn)
{
	x->on_due = fn;
}

int
st_xfer_start(struct st_xfer *x)
{
	return st_xfer_start_after(x, 0);
}

int
st_xfer_start_after(struct st_xfer *x, unsigned delay_ms)
{
	struct st_engine *e = x->engine;

	/* A restart from a hook stays on its engine; a fresh start runs on
	 * the engine of the thread that makes it. */
	if (e == NULL || x->state == X_IDLE || x->state == X_DONE) {
		if ((e = engine_here()) == NULL)
			return -1;
		x->engine = e;
	}
	x->not_before = delay_ms ? st_now_ms() + delay_ms : 0;
	pthread_mutex_lock(&e->lock);
	x->state = X_QUEUED;
	x->want_start = 1;
	post(e, x);
	pthread_mutex_unlock(&e->lock);
	wake(e);
	return 0;
}

void
st_xfer_resume(struct st_xfer *x)
{
	struct st_engine *e = x != NULL ? x->engine : NULL;
	int posted = 0;

	if (e == NULL)
		return;
	pthread_mutex_lock(&e->lock);
	if (x->state == X_RUNNING || x->state == X_QUEUED) {
		x->want_resume = 1;
		post(e, x);
		posted = 1;
	}
	pthread_mutex_unlock(&e->lock);
	if (posted)
		wake(e);
}

/* On the owner's thread, outside any hook: nothing else can hold x. */
static void
cancel_here(struct st_engine *e, struct st_xfer *x)
{
	int act;

	pthread_mutex_lock(&e->lock);
	act = x->state == X_RUNNING || x->state == X_QUEUED;
	if (x->pending)
		unpost(e, x);
	x->want_start = x->want_resume = x->want_cancel = 0;
	pthread_mutex_unlock(&e->lock);
	if (act)
		run_cancel(e, x);
}

void
st_xfer_cancel(struct st_xfer *x)
{
	struct st_engine *e = x->engine;
	int posted = 0;

	if (e == NULL)
		return;
	if (on_owner(e)) {
		cancel_here(e, x);
		return;
	}
	pthread_mutex_lock(&e->lock);
	if (x->state == X_RUNNING || x->state == X_QUEUED) {
		x->want_cancel = 1;
		post(e, x);
		posted = 1;
	}
	pthread_mutex_unlock(&e->lock);
	if (posted)
		wake(e);
	pthread_mutex_lock(&e->lock);
	while ((x->state != X_IDLE && x->state != X_DONE) || x->busy)
		pthread_cond_wait(&e->cond, &e->lock);
	if (x->pending)		/* finished before the command was seen */
		unpost(e, x);
	if (x->delayed)
		undelay(e, x);
	x->want_start = x->want_resume = x->want_cancel = 0;
	pthread_mutex_unlock(&e->lock);
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
