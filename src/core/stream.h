/*
 * stream.h - a provider exchange's body and the application's connection,
 * joined by a pipe, with backpressure both ways.
 *
 * One stream carries one body in one direction:
 *
 *   download  the exchange's body hook puts bytes in (st_stream_recv) and
 *             pauses receiving when the pipe is full; the backend's read()
 *             takes them out (st_stream_read) and resumes the exchange.
 *             When the exchange is over, st_stream_end closes the pipe,
 *             good or broken, and read() says ST_EOF or ST_ERROR.
 *
 *   upload    the backend's write() puts the application's bytes in
 *             (st_stream_write) and resumes the exchange if it had paused
 *             for want of them; the exchange's source hook takes them out
 *             (st_stream_send) and pauses when the pipe is empty.
 *
 * Whichever side finds the pipe full or empty stops and is woken by the
 * other: the application through st_call_wake, the exchange through
 * st_xfer_resume. Neither thread ever blocks on the other.
 */
#ifndef STRATUS_CORE_STREAM_H
#define STRATUS_CORE_STREAM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <stratus/backend.h>

#include "core/pipe.h"
#include "core/transfer.h"

struct st_stream {
	pthread_mutex_t	 lock;		/* the flags below */
	struct st_pipe	 pipe;
	int		 open;		/* the pipe is allocated */
	struct st_call	*call;		/* woken: the application may go on */
	struct st_xfer	*x;		/* resumed: the exchange may go on */
	int		 paused;	/* the exchange waits for the other */
	int		 failed;	/* the download broke: read() errs */
	int		 discard;	/* answered without it: take none */
	int		 gone;		/* the application left: swallow */
	uint64_t	 received;	/* download bytes put in the pipe */
	uint64_t	 sent;		/* upload bytes given to the exchange */
};

/* Ties the stream to its call and exchange (no pipe yet); _open gives it
 * a pipe of cap bytes (-1: out of memory). _destroy frees both. */
void   st_stream_init(struct st_stream *, struct st_call *, struct st_xfer *);
int    st_stream_open(struct st_stream *, size_t cap);
void   st_stream_destroy(struct st_stream *);
/*
 * The pipe for a download whose answer says content_length (the header's
 * value, NULL when absent): that length rounded up to 4 KiB, at least
 * 4 KiB, at most max; max when the length is absent or unreadable. A
 * small body then costs a small pipe, and a large one the same as ever.
 * Open it in the headers hook, before the call is done: nothing reads a
 * download before that.
 */
size_t st_stream_pipe_size(const char *content_length, size_t max);
/* The application went away: bytes still coming are swallowed. */
void   st_stream_leave(struct st_stream *);

/* Download, on the transfer thread: the body hook's answer for n bytes.
 * A piece larger than the whole pipe grows the pipe to hold it. */
size_t st_stream_recv(struct st_stream *, const char *, size_t n);
/* Take no more of this body (it was answered without it). */
void   st_stream_discard(struct st_stream *);
/* Discarded, or the application left: nothing more to deliver. */
int    st_stream_dropped(struct st_stream *);
/* The download exchange is over: end the body, broken when failed. */
void   st_stream_end(struct st_stream *, int failed);
/* Download, as the backend's read(): n, 0 (none yet), ST_EOF or ST_ERROR. */
long   st_stream_read(struct st_stream *, char *, size_t cap);

/* Upload, as the backend's write(): bytes taken, 0 when the pipe is full. */
long   st_stream_write(struct st_stream *, const char *, size_t);
/* The same in two steps, for a backend that looks at what was taken
 * before the exchange may send it: _fill, then _filled with its count. */
size_t st_stream_fill(struct st_stream *, const char *, size_t);
void   st_stream_filled(struct st_stream *, size_t n);
/* Upload: the application has given the whole body. */
void   st_stream_close(struct st_stream *);
/* Upload, on the transfer thread: the source hook's answer. */
size_t st_stream_send(struct st_stream *, char *, size_t cap);

#endif
