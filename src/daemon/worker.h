/*
 * worker.h - an HTTP worker: one thread, one epoll loop, its own
 * libmicrohttpd daemons and its own transfer engine.
 */
#ifndef STRATUS_DAEMON_WORKER_H
#define STRATUS_DAEMON_WORKER_H

#include <microhttpd.h>

struct st_worker;
struct st_conn_watch;

/* A worker with an empty epoll set and an engine; NULL when out of
 * resources. Daemons (external polling, MHD_USE_EPOLL) are added before
 * it starts, and it drives them from then on. Its connections have
 * header_timeout seconds for their request line and headers, and
 * idle_timeout seconds more between kept-alive requests. */
struct st_worker *st_worker_new(unsigned header_timeout,
                                unsigned idle_timeout);
int  st_worker_add(struct st_worker *, struct MHD_Daemon *);
/* The worker whose thread this is (NULL elsewhere). */
struct st_worker *st_worker_self(void);
/* After MHD_resume_connection of one of w's connections, from any thread,
 * or after one closes (server.c says why): makes w run its daemons. */
void st_worker_wake(struct st_worker *);
/* before_stop runs on the worker's thread just before it stops its
 * daemons (the server resumes parked requests there). */
int  st_worker_start(struct st_worker *, void (*before_stop)(void));
/* Stops the daemons on the worker's thread (closing their connections,
 * which cancels their exchanges), lets clean-up exchanges run for up to
 * two seconds, joins the thread and frees the worker. Also frees a
 * worker that never started. */
void st_worker_stop(struct st_worker *);
unsigned st_worker_rounds(struct st_worker *);
void st_worker_poke(struct st_worker *);

/*
 * Header deadlines, all on the worker's own thread (libmicrohttpd's
 * callbacks). A connection is watched from its accept (NULL when out of
 * memory: it then has only the idle timer); its deadline ends when its
 * headers are complete, starts again, idle time allowed, when a request
 * ends, and is cut to header_timeout when the next request line comes.
 * Past it the worker shuts the socket down. All take NULL.
 */
struct st_conn_watch *st_worker_watch(struct st_worker *, int fd);
void st_worker_watch_request_line(struct st_conn_watch *);
void st_worker_watch_headers_done(struct st_conn_watch *);
void st_worker_watch_next_request(struct st_conn_watch *);
void st_worker_unwatch(struct st_conn_watch *);
/* Once a connection is parked in the middle of its request body: calls
 * gone(arg, reset) on the worker's thread, once, if its peer resets the
 * connection (reset 1) or shuts down its sending side (0). Unwatched by
 * the server when the body is read or the request ends, and by
 * st_worker_unwatch. -1 if it cannot watch. */
int  st_worker_watch_peer(struct st_conn_watch *,
                          void (*gone)(void *, int reset), void *arg);
void st_worker_unwatch_peer(struct st_conn_watch *);

#endif
