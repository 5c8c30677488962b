/*
 * stream.c - pause and resume around a pipe, for both directions.
 *
 * The pipe has a lock of its own for its bytes; the stream's lock covers
 * only the flags that the two threads share (who paused, broken, gone).
 * A paused flag is set by the exchange's side under the lock and taken
 * back by the application's side under the same lock, so that a resume is
 * never lost and never sent twice. Wakes and resumes are made after the
 * lock is let go: st_xfer_resume and st_call_wake take locks of their own.
 *
 * A stream without a pipe (a HEAD, a PUT that holds its body, a GET whose
 * answer was not the object) may still be ended, left and destroyed: those
 * do nothing to a pipe that is not open. Bytes offered to it wait, as if
 * discarded, and read() says ST_ERROR.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/stream.h"

void
st_stream_init(struct st_stream *st, struct st_call *c, struct st_xfer *x)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
	st->call = c;
	st->x = x;
}

int
st_stream_open(struct st_stream *st, size_t cap)
{
	if (st->open)		/* a retried answer keeps its pipe */
		return 0;
	if (st_pipe_init(&st->pipe, cap) == -1)
		return -1;
	st->open = 1;
	return 0;
}

#define PIPE_STEP 4096

size_t
st_stream_pipe_size(const char *content_length, size_t max)
{
	unsigned long long n;
	char *end;

	if (content_length == NULL || !isdigit((unsigned char)*content_length))
		return max;
	errno = 0;
	n = strtoull(content_length, &end, 10);
	if (errno != 0 || *end != '\0' || n >= max)
		return max;
	n = n < PIPE_STEP ? PIPE_STEP : (n + PIPE_STEP - 1) / PIPE_STEP * PIPE_STEP;
	return n < max ? (size_t)n : max;
}

void
st_stream_destroy(struct st_stream *st)
{
	if (st->open)
		st_pipe_destroy(&st->pipe);
	st->open = 0;
	pthread_mutex_destroy(&st->lock);
}

void
st_stream_leave(struct st_stream *st)
{
	pthread_mutex_lock(&st->lock);
	st->gone = 1;
	pthread_mutex_unlock(&st->lock);
}

/* The application's side moved n bytes: an exchange paused for want of
 * room (download) or of bytes (upload) goes on. */
static void
unpause(struct st_stream *st, size_t n)
{
	int resume = 0;

	pthread_mutex_lock(&st->lock);
	if (st->paused && n > 0) {
		st->paused = 0;
		resume = 1;
	}
	pthread_mutex_unlock(&st->lock);
	if (resume)
		st_xfer_resume(st->x);
}

/* ---------------------------------------------------------------- download */

/*
 * A piece larger than the whole pipe would wait for room that never comes:
 * a body longer than its answer said, in a pipe sized to what it said. The
 * pipe grows to take it (by a piece at most: curl hands up to its
 * buffer, 128 KiB, at a time).
 * When it cannot, the body ends broken. Under the stream's lock.
 */
static int
make_room(struct st_stream *st, size_t n)
{
	if (st_pipe_grow(&st->pipe, n) == 0)
		return 0;
	st->failed = 1;
	st_pipe_close(&st->pipe);
	return -1;
}

size_t
st_stream_recv(struct st_stream *st, const char *p, size_t n)
{
	int broke = 0;

	pthread_mutex_lock(&st->lock);
	if (st->gone) {
		pthread_mutex_unlock(&st->lock);
		return n;	/* nobody reads: let the cancel come */
	}
	if (!st->discard && st->open && !st->failed)
		broke = make_room(st, n) == -1;
	if (st->discard || !st->open || st->failed ||
	    st_pipe_space(&st->pipe) < n) {
		/* Full, answered without a body, or broken: wait (for
		 * read() or for the release that cancels the exchange). */
		st->paused = 1;
		pthread_mutex_unlock(&st->lock);
		if (broke)
			st_call_wake(st->call);
		return 0;
	}
	pthread_mutex_unlock(&st->lock);
	st_pipe_write(&st->pipe, p, n);
	st->received += n;
	st_call_wake(st->call);
	return n;
}

void
st_stream_discard(struct st_stream *st)
{
	pthread_mutex_lock(&st->lock);
	st->discard = 1;
	pthread_mutex_unlock(&st->lock);
}

int
st_stream_dropped(struct st_stream *st)
{
	int dropped;

	pthread_mutex_lock(&st->lock);
	dropped = st->discard || st->gone;
	pthread_mutex_unlock(&st->lock);
	return dropped;
}

void
st_stream_end(struct st_stream *st, int failed)
{
	pthread_mutex_lock(&st->lock);
	if (failed)
		st->failed = 1;
	pthread_mutex_unlock(&st->lock);
	if (st->open)
		st_pipe_close(&st->pipe);
	st_call_wake(st->call);
}

/*
 * A download paused for room goes on once the pipe is half empty, not at
 * the first byte read: each pause and resume costs curl three epoll_ctl
 * and two poll calls, and resumed at every read a 256 MiB GET made 3,000
 * and 1,800 of them (strace). An empty pipe always resumes it, so a piece
 * larger than half the pipe still gets in.
 */
static int
room_to_resume(struct st_stream *st)
{
	return st_pipe_held(&st->pipe) <= st_pipe_space(&st->pipe);
}

long
st_stream_read(struct st_stream *st, char *buf, size_t cap)
{
	size_t n;
	int failed;

	if (!st->open)
		return ST_ERROR;	/* no body came to it */
	n = st_pipe_read(&st->pipe, buf, cap);
	if (n > 0 && room_to_resume(st))
		unpause(st, n);	/* room again: the exchange may go on */
	if (n > 0)
		return (long)n;
	if (!st_pipe_done(&st->pipe))
		return 0;
	/* Read after the close: st_stream_end sets it before. */
	pthread_mutex_lock(&st->lock);
	failed = st->failed;
	pthread_mutex_unlock(&st->lock);
	return failed ? ST_ERROR : ST_EOF;
}

/* ---------------------------------------------------------------- upload */

size_t
st_stream_fill(struct st_stream *st, const char *buf, size_t len)
{
	return st_pipe_write(&st->pipe, buf, len);
}

/*
 * An upload's exchange that paused for want of bytes goes on once a batch
 * is waiting (or the pipe is full, or the body has ended). Resumed for
 * each read from the application (24 KiB), a 256 MiB PUT cost 22,000
 * epoll_ctl calls as curl dropped and took back its socket each time, and
 * 11,000 failed reads (strace -c); now a handful. (Holding back a running
 * exchange until a batch waits as well made fewer, larger sends but was
 * slower: 0.5 against 0.8 GB/s, the two sides taking turns.)
 */
#define SEND_BATCH (128 * 1024)

void
st_stream_filled(struct st_stream *st, size_t n)
{
	size_t held = st_pipe_held(&st->pipe);

	if (held >= SEND_BATCH || st_pipe_space(&st->pipe) == 0)
		unpause(st, n > 0 ? n : held);
}

long
st_stream_write(struct st_stream *st, const char *buf, size_t len)
{
	size_t n = st_stream_fill(st, buf, len);

	st_stream_filled(st, n);
	return (long)n;
}

void
st_stream_close(struct st_stream *st)
{
	if (!st->open)
		return;
	st_pipe_close(&st->pipe);
	unpause(st, 1);		/* the last, short batch (or none) */
}

size_t
st_stream_send(struct st_stream *st, char *buf, size_t cap)
{
	size_t n;

	pthread_mutex_lock(&st->lock);
	n = st_pipe_read(&st->pipe, buf, cap);
	if (n == 0)
		st->paused = 1;
	st->sent += n;
	pthread_mutex_unlock(&st->lock);
	if (n > 0)
		st_call_wake(st->call);	/* room again for the application */
	return n;
}
