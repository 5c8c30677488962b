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
 * descriptors, curl's sockets and two eventfds: the engine's, and the
 * worker's own (stop, or a connection resumed from another thread).
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
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/eventfd.h"
#include "core/transfer.h"
#include "daemon/log.h"
#include "daemon/worker.h"

#define MAX_DAEMONS 8
#define DRAIN_MS 2000		/* for clean-up exchanges when stopping */

enum { TAG_WAKE = ST_EV_LOOP, TAG_DAEMON };

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
st_worker_new(void)
{
	struct st_worker *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN };

	if (w == NULL)
		return NULL;
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

/* The nearest deadline: the engine's (wait) or a daemon's. */
static int
round_timeout(struct st_worker *w, int wait)
{
	MHD_UNSIGNED_LONG_LONG ms;
	long long now = st_now_ms();
	size_t i;

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
		default:
			st_engine_event(w->engine, data, ev[i].events);
			break;
		}
	}
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
