/*
 * pipe.h - a bounded byte ring between two threads.
 *
 * The application's connection (libmicrohttpd thread) and the provider's
 * transfer (curl thread) meet here. Neither side ever blocks: a full ring
 * takes fewer bytes, an empty one gives none, and the caller parks its side
 * until the other wakes it. The ring's size is the memory a streamed
 * transfer costs, whatever the object's size.
 */
#ifndef STRATUS_CORE_PIPE_H
#define STRATUS_CORE_PIPE_H

#include <pthread.h>
#include <stddef.h>

struct st_pipe {
	pthread_mutex_t	 lock;
	char		*buf;
	size_t		 cap;
	size_t		 head;		/* next byte to read */
	size_t		 len;		/* bytes held */
	int		 eof;		/* the writer has finished */
};

int    st_pipe_init(struct st_pipe *, size_t cap);
void   st_pipe_destroy(struct st_pipe *);
/* Makes the ring at least cap bytes, keeping what it holds (-1: out of
 * memory, the ring as it was). Only the writer's side may grow it. */
int    st_pipe_grow(struct st_pipe *, size_t cap);
/* Bytes taken (0 when full). */
size_t st_pipe_write(struct st_pipe *, const char *, size_t);
/* Bytes given (0 when empty; check st_pipe_done for the end). */
size_t st_pipe_read(struct st_pipe *, char *, size_t);
void   st_pipe_close(struct st_pipe *);		/* writer: no more bytes */
int    st_pipe_done(struct st_pipe *);		/* closed and drained */
size_t st_pipe_space(struct st_pipe *);
size_t st_pipe_held(struct st_pipe *);

#endif
