/*
 * iopool.h - a few threads for the blocking work an event loop must never
 * do: fsync, SQLite commits, copying a file.
 *
 * A backend hands a job to the pool and returns; the job runs on a pool
 * thread and ends the call itself (st_call_done is safe from any thread).
 * The pool starts with the first job and stops at exit.
 */
#ifndef STRATUS_CORE_IOPOOL_H
#define STRATUS_CORE_IOPOOL_H

/* Runs fn(arg) on a pool thread, in submission order per thread. 0, or -1
 * when no thread could be started (then nothing runs). */
int  st_iopool_run(void (*fn)(void *), void *arg);
/* Lets the queued jobs finish and joins the threads. */
void st_iopool_shutdown(void);

#endif
