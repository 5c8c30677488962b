/*
 * pipe.c - bounded ring buffer with a mutex.
 *
 * One lock per pipe, held only for memcpy: both sides are a single thread
 * each, so there is never contention worth a lock-free design.
 */
#include <stdlib.h>
#include <string.h>

#include "core/pipe.h"

int
st_pipe_init(struct st_pipe *p, size_t cap)
{
	memset(p, 0, sizeof(*p));
	if ((p->buf = malloc(cap)) == NULL)
		return -1;
	p->cap = cap;
	pthread_mutex_init(&p->lock, NULL);
	return 0;
}

void
st_pipe_destroy(struct st_pipe *p)
{
	if (p->buf == NULL)
		return;
	free(p->buf);
	p->buf = NULL;
	pthread_mutex_destroy(&p->lock);
}

int
st_pipe_grow(struct st_pipe *p, size_t cap)
{
	size_t first;
	char *buf;

	if (cap <= p->cap)	/* the writer's side alone changes cap */
		return 0;
	if ((buf = malloc(cap)) == NULL)
		return -1;
	pthread_mutex_lock(&p->lock);
	first = p->cap - p->head < p->len ? p->cap - p->head : p->len;
	memcpy(buf, p->buf + p->head, first);
	memcpy(buf + first, p->buf, p->len - first);
	free(p->buf);
	p->buf = buf;
	p->cap = cap;
	p->head = 0;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

size_t
st_pipe_write(struct st_pipe *p, const char *data, size_t n)
{
	size_t done = 0;

	pthread_mutex_lock(&p->lock);
	while (done < n && p->len < p->cap) {
		size_t tail = (p->head + p->len) % p->cap;
		size_t room = tail >= p->head ? p->cap - tail : p->head - tail;
		size_t chunk = n - done < room ? n - done : room;

		if (chunk > p->cap - p->len)
			chunk = p->cap - p->len;
		memcpy(p->buf + tail, data + done, chunk);
		p->len += chunk;
		done += chunk;
	}
	pthread_mutex_unlock(&p->lock);
	return done;
}

size_t
st_pipe_read(struct st_pipe *p, char *out, size_t n)
{
	size_t done = 0;

	pthread_mutex_lock(&p->lock);
	while (done < n && p->len > 0) {
		size_t run = p->cap - p->head < p->len ? p->cap - p->head : p->len;
		size_t chunk = n - done < run ? n - done : run;

		memcpy(out + done, p->buf + p->head, chunk);
		p->head = (p->head + chunk) % p->cap;
		p->len -= chunk;
		done += chunk;
	}
	if (p->len == 0)
		p->head = 0;
	pthread_mutex_unlock(&p->lock);
	return done;
}

void
st_pipe_close(struct st_pipe *p)
{
	pthread_mutex_lock(&p->lock);
	p->eof = 1;
	pthread_mutex_unlock(&p->lock);
}

int
st_pipe_done(struct st_pipe *p)
{
	int done;

	pthread_mutex_lock(&p->lock);
	done = p->eof && p->len == 0;
	pthread_mutex_unlock(&p->lock);
	return done;
}

size_t
st_pipe_space(struct st_pipe *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->cap - p->len;
	pthread_mutex_unlock(&p->lock);
	return n;
}

size_t
st_pipe_held(struct st_pipe *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->len;
	pthread_mutex_unlock(&p->lock);
	return n;
}
