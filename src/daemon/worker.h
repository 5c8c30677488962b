/*
 * worker.h - an HTTP worker: one thread, one epoll loop, its own
 * libmicrohttpd daemons and its own transfer engine.
 */
#ifndef STRATUS_DAEMON_WORKER_H
#define STRATUS_DAEMON_WORKER_H

#include <microhttpd.h>

struct st_worker;

/* A worker with an empty epoll set and an engine; NULL when out of
 * resources. Daemons (external polling, MHD_USE_EPOLL) are added before
 * it starts, and it drives them from then on. */
struct st_worker *st_worker_new(void);
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

#endif
