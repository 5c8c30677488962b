/*
 * transfer.h - HTTP exchanges with providers, run by event-loop engines.
 *
 * A backend describes a request (method, URL, headers, body), gives hooks,
 * and starts it. The exchange runs on the engine of the thread that
 * started it: an HTTP worker's own engine, driven by the worker's epoll
 * loop, or else a shared engine with a thread of its own. An engine is one
 * curl multi handle, so connections are kept and reused, and DNS answers
 * cached; TLS sessions are shared by all. Hooks run on the engine's thread:
 *
 *   headers(x)        the final response's status and headers are known
 *   body(x, p, n)     response bytes; return fewer than n to pause receiving
 *   source(x, b, cap) request bytes for a streamed body: n, or 0 to pause
 *                     sending (st_xfer_resume restarts it); the body ends
 *                     when the declared length has been given
 *   done(x, result)   the exchange is over, for good or ill
 *
 * From any thread a backend may st_xfer_resume() a paused exchange or
 * st_xfer_cancel() it. Cancel returns once the engine has let go: no hook
 * runs for that exchange afterwards. Never call cancel from a hook, nor,
 * from another thread than the engine's, while holding a lock a hook takes.
 *
 * An exchange may be started again after its done hook (a retry): it keeps
 * its request and forgets its response.
 */
#ifndef STRATUS_CORE_TRANSFER_H
#define STRATUS_CORE_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

struct st_xfer;

struct st_xfer_result {
	int		 ok;		/* the exchange completed at HTTP level */
	long		 status;	/* HTTP status, 0 when none came */
	int		 curl_code;
	int		 timed_out;
	const char	*error;		/* curl's words when !ok */
};

struct st_xfer_hooks {
	void	(*headers)(struct st_xfer *, void *ctx);
	size_t	(*body)(struct st_xfer *, const char *, size_t, void *ctx);
	size_t	(*source)(struct st_xfer *, char *, size_t, void *ctx);
	void	(*done)(struct st_xfer *, const struct st_xfer_result *, void *ctx);
};

/* The shared engine, for threads without one: started by the first
 * exchange such a thread starts, stopped at exit. */
int  st_transfer_init(void);
void st_transfer_shutdown(void);

/*
 * An engine driven by an event loop. The engine puts curl's sockets
 * (tagged ST_EV_CURL) and an eventfd of its own (ST_EV_ENGINE) into the
 * loop's epoll set; each event's data.u64 says which. The loop owns the
 * tags from ST_EV_LOOP up. A round of the loop: epoll_wait with the
 * timeout st_engine_run last returned, st_engine_event for each event of
 * the engine's, then st_engine_run.
 */
#define ST_EV_DATA(tag, fd)	(((uint64_t)(tag) << 32) | (uint32_t)(fd))
#define ST_EV_TAG(u64)		((unsigned)((u64) >> 32))
#define ST_EV_FD(u64)		((int)(uint32_t)(u64))
enum { ST_EV_CURL = 1, ST_EV_ENGINE = 2, ST_EV_LOOP = 16 };

struct st_engine;

struct st_engine *st_engine_new(int epfd);
/* The calling thread drives e from now on: exchanges it starts run on e. */
void st_engine_bind(struct st_engine *);
void st_engine_event(struct st_engine *, uint64_t data, uint32_t events);
/* Runs commands and due timers; the milliseconds until it must run
 * again, -1 when only an event can give it work. */
int  st_engine_run(struct st_engine *);
/* Exchanges running or waiting to start. */
int  st_engine_busy(struct st_engine *);
/* On the owner's thread, once every exchange of others is cancelled:
 * frees detached exchanges and the engine. */
void st_engine_free(struct st_engine *);

struct st_xfer *st_xfer_new(const struct st_xfer_hooks *, void *ctx);
/* Frees an exchange that is not running (never started, done, cancelled). */
void st_xfer_free(struct st_xfer *);

int  st_xfer_set(struct st_xfer *, const char *method, const char *url);
/* value NULL: do not send that header at all, not even curl's own. */
int  st_xfer_add_header(struct st_xfer *, const char *name, const char *value);
/* Replaces every header of that name (any case) with this one: a fresh
 * Authorization before an attempt is sent again. 0 or -1 (unchanged). */
int  st_xfer_set_header(struct st_xfer *, const char *name, const char *value);
void st_xfer_clear_headers(struct st_xfer *);
/* A body held in memory (kept by the caller until done): re-sent as is on
 * a retry. */
void st_xfer_body_memory(struct st_xfer *, const char *, size_t);
/* A streamed body of a known length, pulled through hooks.source. */
void st_xfer_body_stream(struct st_xfer *, uint64_t length);
/* No body (the exchange may have carried one before). */
void st_xfer_body_none(struct st_xfer *);
/* How to reach the provider (CA, proxy), kept by the caller for the life
 * of the exchange; NULL: curl's defaults and the environment's proxy. */
struct st_conn;
void st_xfer_conn(struct st_xfer *, const struct st_conn *);
/* Milliseconds: to connect; with no byte moving (stall); in all (0: none). */
void st_xfer_timeouts(struct st_xfer *, long connect_ms, long stall_ms,
                      long total_ms);

int  st_xfer_start(struct st_xfer *);
/* Starts after a wait (a retry's backoff), without blocking any thread. */
int  st_xfer_start_after(struct st_xfer *, unsigned delay_ms);
/* Called on the engine's thread when a start made with a wait falls due,
 * just before the request goes: it may set the request again (a
 * signature, or a token, of now rather than of before the wait). -1 ends
 * the exchange unsent: the done hook hears a failure. */
typedef int (*st_xfer_due_fn)(struct st_xfer *, void *ctx);
void st_xfer_on_due(struct st_xfer *, st_xfer_due_fn);
/* Starts an exchange nobody waits for (a clean-up); the engine frees it
 * when it is over. The caller must not touch it afterwards. */
int  st_xfer_start_detached(struct st_xfer *);
void st_xfer_resume(struct st_xfer *);
void st_xfer_cancel(struct st_xfer *);

/* The response (valid in and after the headers hook, until a restart). */
long        st_xfer_status(const struct st_xfer *);
const char *st_xfer_header(const struct st_xfer *, const char *name);
/* Calls fn for each response header. */
void        st_xfer_each_header(const struct st_xfer *,
                                void (*fn)(const char *, const char *, void *),
                                void *arg);

#endif
