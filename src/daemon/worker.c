/*
 * worker.c - one thread, one epoll loop: the application's connections and
 * the provider exchanges made for them.
 *
 * Design
 * ------
 * stratusd runs listen.threads workers. Each has an epoll set, its own
 * libmicrohttpd daemons (one per listening socket; every worker holds a
 * duplicate of the socket, the kernel wakes them all on a new connection
 * and one wins the accept) and its own transfer engine (a curl multi
 * handle, src/core/transfer.c). The epoll set holds the daemons' own epoll
 * descriptors, curl's sockets, two eventfds: the engine's, and the
 * worker's own (stop, or a connection resumed from another thread), and
 * the sockets of connections parked in the middle of a request body,
 * whose peer libmicrohttpd no longer watches.
 *
 * A request is therefore read, sent to the provider, answered and logged
 * on one thread. Parking a connection while its exchange runs, and waking
 * it when the exchange has an answer, costs an eventfd write and one more
 * round of this loop instead of two trips between threads: on this kind
 * of machine the trips cost more than the exchange itself.
 *
 * A round: wait for events or the nearest timeout (libmicrohttpd's idle
 * timeouts, curl's timers, retry backoffs), hand curl its socket events,
 * run the daemons that have work, then run the engine, which starts the
 * exchanges the daemons' handlers asked for in the same round; last, write
 * the round's log lines with one write(2) (log.c).
 *
 * Header deadlines: libmicrohttpd restarts a connection's idle timer on
 * every byte, so a client that sends its headers a byte at a time would
 * hold its connection for ever. The worker keeps its own deadline for
 * each connection whose request line and headers are not complete yet
 * (listen.header_timeout), and shuts the socket down when it passes.
 * libmicrohttpd then reads an end of file and closes the connection
 * itself, in its own time and with its own bookkeeping: the descriptor
 * stays its own, we never close it. The deadlines all come from one
 * timeout, so each queue is kept in the order of its deadlines by
 * appending: adding, removing and finding what expired are O(1).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/eventfd.h"
#include "core/transfer.h"
#include "daemon/log.h"
#include "daemon/worker.h"

#define MAX_DAEMONS 8
#define DRAIN_MS 2000		/* for clean-up exchanges when stopping */

enum { TAG_WAKE = ST_EV_LOOP, TAG_DAEMON, TAG_PEER };

/* The two queues of header deadlines: a new connection's (from its
 * accept) and a kept-alive connection's between requests (from the end
 * of its last one, idle time allowed). */
enum { Q_NEW, Q_KEPT, Q_NONE };

struct st_conn_watch {
	struct st_worker	*worker;
	int			 fd;
	int			 queue;		/* Q_NONE: headers complete */
	long long		 due;		/* ms, st_now_ms() */
	struct st_conn_watch	*prev, *next;
	/* Parked in the middle of its body (and until the body is read):
	 * the socket is in the worker's epoll set, and gone() is called if
	 * the peer leaves. */
	void			(*gone)(void *, int);
	void			*gone_arg;
	struct st_conn_watch	*pprev, *pnext;	/* the worker's parked */
};

struct watch_queue {
	struct st_conn_watch	*head, *tail;
};

struct st_worker {
	pthread_t		 thread;
	int			 started;
	int			 epfd;
	int			 wakefd;	/* eventfd: stop, or a resume */
	volatile int		 stop;
	int			 resumed;	/* a parked connection woke */
	struct st_engine	*engine;
	struct MHD_Daemon	*daemons[MAX_DAEMONS];
	long long		 due[MAX_DAEMONS];	/* MHD's timeout, ms; -1 */
	size_t			 ndaemons;
	void			(*before_stop)(void);
	long long		 header_ms;	/* listen.header_timeout */
	long long		 idle_ms;	/* listen.idle_timeout */
	struct watch_queue	 queues[Q_NONE];
	struct st_conn_watch	*parked;	/* watched for the peer */
	atomic_uint		 rounds;	/* for the watchdog */
};

static __thread struct st_worker *this_worker;

struct st_worker *
st_worker_self(void)
{
	return this_worker;
}

/*
 * libmicrohttpd has no wake-up channel of its own when the application
 * runs its loop: after MHD_resume_connection somebody must call MHD_run.
 * On the worker's own thread (the usual case: an exchange's hook) a flag
 * is enough, since the round runs the daemons again before it sleeps;
 * from another thread the eventfd wakes the loop.
 */
void
st_worker_wake(struct st_worker *w)
{
	if (w == this_worker)
		w->resumed = 1;
	else
		st_eventfd_poke(w->wakefd);
}

struct st_worker *
st_worker_new(unsigned header_timeout, unsigned idle_timeout)
{
	struct st_worker *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN };

	if (w == NULL)
		return NULL;
	w->header_ms = (long long)header_timeout * 1000;
	w->idle_ms = (long long)idle_timeout * 1000;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wakefd = st_eventfd_new();
	ev.data.u64 = ST_EV_DATA(TAG_WAKE, w->wakefd);
	if (w->epfd == -1 || w->wakefd == -1 ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) == -1 ||
	    (w->engine = st_engine_new(w->epfd)) == NULL) {
		st_worker_stop(w);
		return NULL;
	}
	return w;
}

int
st_worker_add(struct st_worker *w, struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info;
	struct epoll_event ev = { .events = EPOLLIN };

	if (w->ndaemons == MAX_DAEMONS ||
	    (info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)) == NULL)
		return -1;
	ev.data.u64 = ST_EV_DATA(TAG_DAEMON, w->ndaemons);
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev) == -1)
		return -1;
	w->due[w->ndaemons] = -1;
	w->daemons[w->ndaemons++] = d;
	return 0;
}

/* ---------------------------------------------------------------- headers */

static void
watch_unlink(struct st_conn_watch *c)
{
	struct watch_queue *q;

	if (c->queue == Q_NONE)
		return;
	q = &c->worker->queues[c->queue];
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		q->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		q->tail = c->prev;
	c->prev = c->next = NULL;
	c->queue = Q_NONE;
}

static void
watch_append(struct st_conn_watch *c, int queue, long long due)
{
	struct watch_queue *q = &c->worker->queues[queue];

	watch_unlink(c);
	c->queue = queue;
	c->due = due;
	c->prev = q->tail;
	c->next = NULL;
	if (q->tail != NULL)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
}

struct st_conn_watch *
st_worker_watch(struct st_worker *w, int fd)
{
	struct st_conn_watch *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;	/* the connection goes without: idle timer only */
	c->worker = w;
	c->fd = fd;
	c->queue = Q_NONE;
	watch_append(c, Q_NEW, st_now_ms() + w->header_ms);
	return c;
}

void
st_worker_watch_request_line(struct st_conn_watch *c)
{
	/* A new connection's deadline runs from its accept, and stays. */
	if (c != NULL && c->queue != Q_NEW)
		watch_append(c, Q_NEW, st_now_ms() + c->worker->header_ms);
}

void
st_worker_watch_headers_done(struct st_conn_watch *c)
{
	if (c != NULL)
		watch_unlink(c);
}

void
st_worker_watch_next_request(struct st_conn_watch *c)
{
	if (c != NULL)
		watch_append(c, Q_KEPT, st_now_ms() + c->worker->idle_ms +
		    c->worker->header_ms);
}

/*
 * A connection parked in the middle of its request body is out of
 * libmicrohttpd's epoll set: it neither times out nor sees its peer
 * leave, and what the upload holds (a provider exchange, a descriptor)
 * would stay until the backend wakes it. EPOLLRDHUP on the socket (and
 * the EPOLLHUP and EPOLLERR that always come) tells us instead; not
 * EPOLLIN, since more of the body waiting is no news. gone() learns
 * whether the connection was reset (or shut both ways), or whether the
 * peer only shut down its sending side: a client may do that once it has
 * sent its whole body, and the server judges.
 */
int
st_worker_watch_peer(struct st_conn_watch *c, void (*gone)(void *, int),
                     void *arg)
{
	struct st_worker *w;
	struct epoll_event ev = { .events = EPOLLRDHUP };

	if (c == NULL || c->gone != NULL)
		return -1;
	w = c->worker;
	ev.data.u64 = ST_EV_DATA(TAG_PEER, c->fd);
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		return -1;
	c->gone = gone;
	c->gone_arg = arg;
	c->pprev = NULL;
	c->pnext = w->parked;
	if (w->parked != NULL)
		w->parked->pprev = c;
	w->parked = c;
	return 0;
}

void
st_worker_unwatch_peer(struct st_conn_watch *c)
{
	struct st_worker *w;

	if (c == NULL || c->gone == NULL)
		return;
	w = c->worker;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->pprev != NULL)
		c->pprev->pnext = c->pnext;
	else
		w->parked = c->pnext;
	if (c->pnext != NULL)
		c->pnext->pprev = c->pprev;
	c->pprev = c->pnext = NULL;
	c->gone = NULL;
	c->gone_arg = NULL;
}

/* The peer of a parked connection left: the server aborts its request.
 * Few connections are parked at once, and this is rare: a list will do. */
static void
peer_gone(struct st_worker *w, int fd, uint32_t events)
{
	struct st_conn_watch *c;
	void (*gone)(void *, int);
	void *arg;

	for (c = w->parked; c != NULL; c = c->pnext) {
		if (c->fd == fd) {
			gone = c->gone;
			arg = c->gone_arg;
			st_worker_unwatch_peer(c);
			gone(arg, (events & (EPOLLHUP | EPOLLERR)) != 0);
			return;
		}
	}
}

void
st_worker_unwatch(struct st_conn_watch *c)
{
	if (c != NULL) {
		watch_unlink(c);
		st_worker_unwatch_peer(c);
		free(c);
	}
}

/* Shuts down the connections whose headers are late; libmicrohttpd sees
 * the end of file in this round's run of its daemons, and closes them. */
static void
expire_headers(struct st_worker *w)
{
	long long now = st_now_ms();
	struct st_conn_watch *c;
	int q, n = 0;

	for (q = 0; q < Q_NONE; q++) {
		while ((c = w->queues[q].head) != NULL && c->due <= now) {
			watch_unlink(c);
			shutdown(c->fd, SHUT_RDWR);
			n++;
		}
	}
	if (n > 0) {
		struct st_logrec r;

		st_log_begin(&r, ST_LOG_INFO, "connections closed");
		st_log_str(&r, "reason", "request headers not complete within "
		    "listen.header_timeout");
		st_log_int(&r, "count", n);
		st_log_end(&r);
		w->resumed = 1;		/* run every daemon this round */
	}
}

/* ---------------------------------------------------------------- rounds */

/* The nearest deadline: the engine's (wait), a daemon's or a header's. */
static int
round_timeout(struct st_worker *w, int wait)
{
	MHD_UNSIGNED_LONG_LONG ms;
	long long now = st_now_ms();
	size_t i;
	int q;

	for (q = 0; q < Q_NONE; q++) {
		struct st_conn_watch *c = w->queues[q].head;
		long long left;

		if (c == NULL)
			continue;
		left = c->due > now ? c->due - now : 0;
		if (left > 60000)
			left = 60000;
		if (wait == -1 || (int)left < wait)
			wait = (int)left;
	}

	for (i = 0; i < w->ndaemons; i++) {
		if (MHD_get_timeout(w->daemons[i], &ms) != MHD_YES) {
			w->due[i] = -1;
			continue;
		}
		if (ms > 60000)
			ms = 60000;
		w->due[i] = now + (long long)ms;
		if (wait == -1 || (int)ms < wait)
			wait = (int)ms;
	}
	return wait;
}

static void
run_daemons(struct st_worker *w, const int *ready)
{
	long long now = st_now_ms();
	int all = w->resumed;
	size_t d;

	w->resumed = 0;
	for (d = 0; d < w->ndaemons; d++) {
		if (all || ready[d] || (w->due[d] != -1 && w->due[d] <= now)) {
			MHD_run(w->daemons[d]);
			w->due[d] = -1;		/* round_timeout sets it again */
		}
	}
}

/* Marks the daemons that want to run again at once (a connection with
 * work pending: MHD moves a connection one step per run, and answering
 * then logging then reading the next request are three); 0 when none. */
static int
due_now(struct st_worker *w, int *ready)
{
	MHD_UNSIGNED_LONG_LONG ms;
	size_t d;
	int n = 0;

	for (d = 0; d < w->ndaemons; d++) {
		ready[d] = MHD_get_timeout(w->daemons[d], &ms) == MHD_YES && ms == 0;
		n += ready[d];
	}
	return n;
}

/*
 * A connection parked for an exchange leaves libmicrohttpd's epoll set and
 * goes back once answered; its socket, writable, raises an event there at
 * once, which would wake this loop for nothing right after the round. One
 * more run of the daemons takes it now: a system call instead of two and
 * a round.
 */
static void
absorb_rearm(struct st_worker *w)
{
	int ready[MAX_DAEMONS];
	size_t d;

	for (d = 0; d < w->ndaemons; d++)
		ready[d] = 1;
	run_daemons(w, ready);
}

/* One round of the loop; returns the engine's next timeout. */
static int
run_round(struct st_worker *w, int engine_wait)
{
	struct epoll_event ev[64];
	int ready[MAX_DAEMONS] = { 0 };
	int n, i, wait, rounds, answered;

	n = epoll_wait(w->epfd, ev, 64, round_timeout(w, engine_wait));
	for (i = 0; i < n; i++) {
		uint64_t data = ev[i].data.u64;

		switch (ST_EV_TAG(data)) {
		case TAG_WAKE:
			st_eventfd_clear(w->wakefd);
			w->resumed = 1;
			break;
		case TAG_DAEMON:
			ready[ST_EV_FD(data)] = 1;
			break;
		case TAG_PEER:
			peer_gone(w, ST_EV_FD(data), ev[i].events);
			break;
		default:
			st_engine_event(w->engine, data, ev[i].events);
			break;
		}
	}
	expire_headers(w);
	run_daemons(w, ready);
	wait = st_engine_run(w->engine);
	/*
	 * Exchanges that ended in this round resumed their connections: run
	 * them now rather than after another epoll_wait. An answered
	 * connection then has steps left that need no new bytes (the end of
	 * the request, its log line, a look for the next one): run those at
	 * once too, two fewer system calls per small request. Not in rounds
	 * that resumed nothing: an upload always has a step left (its next
	 * read), and reading ahead of the client made smaller reads and cost
	 * a 1 GiB PUT about 20% more CPU.
	 */
	for (rounds = 0, answered = 0; rounds < 8; rounds++) {
		if (w->resumed)
			answered = 1;
		else if (!answered || !due_now(w, ready))
			break;
		run_daemons(w, ready);
		wait = st_engine_run(w->engine);
	}
	if (answered) {
		absorb_rearm(w);
		wait = st_engine_run(w->engine);	/* what it started */
	}
	st_log_flush();
	atomic_fetch_add_explicit(&w->rounds, 1, memory_order_relaxed);
	return w->resumed ? 0 : wait;
}

/* Lets the exchanges the closing connections left behind (the abort of a
 * multipart upload, say) finish, for a while. */
static void
drain(struct st_worker *w)
{
	struct epoll_event ev[64];
	long long end = st_now_ms() + DRAIN_MS, left;
	int n, i, wait;

	while (st_engine_busy(w->engine) && (left = end - st_now_ms()) > 0) {
		wait = st_engine_run(w->engine);
		if (wait == -1 || wait > left)
			wait = (int)left;
		n = epoll_wait(w->epfd, ev, 64, wait);
		for (i = 0; i < n; i++) {
			if (ST_EV_TAG(ev[i].data.u64) == TAG_WAKE)
				st_eventfd_clear(w->wakefd);	/* no resume now */
			else if (ST_EV_TAG(ev[i].data.u64) < ST_EV_LOOP)
				st_engine_event(w->engine, ev[i].data.u64,
				    ev[i].events);
		}
	}
}

static void *
worker_main(void *arg)
{
	struct st_worker *w = arg;
	int engine_wait = 0;
	size_t d;

	this_worker = w;
	st_engine_bind(w->engine);
	st_log_hold(1);
	while (!w->stop)
		engine_wait = run_round(w, engine_wait);
	st_log_hold(0);		/* what stopping logs goes out at once */
	if (w->before_stop != NULL)
		w->before_stop();
	/* Here, on the engine's thread, closing a connection cancels its
	 * exchanges at once. */
	for (d = 0; d < w->ndaemons; d++)
		MHD_stop_daemon(w->daemons[d]);
	w->ndaemons = 0;
	drain(w);
	st_engine_free(w->engine);
	w->engine = NULL;
	this_worker = NULL;
	return NULL;
}

/*
 * The watchdog's view of a worker: the rounds of its loop so far. An idle
 * worker sleeps in epoll_wait, so the watchdog pokes it (st_worker_poke)
 * and looks for a new round at its next tick.
 */
unsigned
st_worker_rounds(struct st_worker *w)
{
	return atomic_load_explicit(&w->rounds, memory_order_relaxed);
}

void
st_worker_poke(struct st_worker *w)
{
	st_eventfd_poke(w->wakefd);
}

int
st_worker_start(struct st_worker *w, void (*before_stop)(void))
{
	w->before_stop = before_stop;
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		return -1;
	w->started = 1;
	return 0;
}

void
st_worker_stop(struct st_worker *w)
{
	size_t d;

	if (w == NULL)
		return;
	if (w->started) {
		w->stop = 1;
		st_eventfd_poke(w->wakefd);
		pthread_join(w->thread, NULL);
	}
	for (d = 0; d < w->ndaemons; d++)	/* never started */
		MHD_stop_daemon(w->daemons[d]);
	if (w->engine != NULL) {
		st_engine_bind(w->engine);
		st_engine_free(w->engine);
	}
	if (w->wakefd != -1)
		close(w->wakefd);
	if (w->epfd != -1)
		close(w->epfd);
	free(w);
}
