/*
 * budget.c - a shared memory budget with a first-come-first-served line.
 *
 * One mutex per budget covers the count and the line; the work under it
 * is an addition or a short memmove. The line is an array that grows as
 * calls come (it once had a fixed size, and the call that found it full
 * was neither queued nor woken: an upload parked for ever); a call is in
 * it at most once.
 *
 * A waiter is woken under the lock, so that it cannot be released in
 * between: release takes the same lock through st_budget_forget first.
 *
 * Memory that comes back is set aside for the calls it covers, from the
 * front of the line, before they are woken: a woken call finds its
 * memory waiting for it, and a newcomer cannot take it in between. (Once
 * a give woke only the first in line whatever it freed, and a woken call
 * that lost its memory to a newcomer went back to the end: under load the
 * line stopped moving with memory free, and uploads hung until their
 * clients gave up.) A newcomer waits behind the line, so that a large
 * part is not starved by a stream of small bodies.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

#include "core/budget.h"

/* c's place in line, or -1. */
static int
find(const struct st_budget *b, const struct st_call *c)
{
	unsigned i;

	for (i = 0; i < b->nwaiters; i++)
		if (b->waiters[i].call == c)
			return (int)i;
	return -1;
}

/* An empty line gives its array back: budgets are static objects of
 * plugins, which are unloaded at exit with nothing to free them. */
static void
unqueue(struct st_budget *b, unsigned i)
{
	memmove(&b->waiters[i], &b->waiters[i + 1],
	    (b->nwaiters - i - 1) * sizeof(b->waiters[0]));
	if (--b->nwaiters == 0) {
		free(b->waiters);
		b->waiters = NULL;
		b->capwaiters = 0;
	}
}

/* Puts c at the end of the line: 0, or -1 when out of memory. */
static int
queue(struct st_budget *b, struct st_call *c, uint64_t size)
{
	struct st_budget_waiter *w;
	unsigned cap;

	if (b->nwaiters == b->capwaiters) {
		cap = b->capwaiters ? b->capwaiters * 2 : 64;
		if ((w = realloc(b->waiters, cap * sizeof(*w))) == NULL)
			return -1;
		b->waiters = w;
		b->capwaiters = cap;
	}
	w = &b->waiters[b->nwaiters++];
	w->call = c;
	w->size = size;
	w->granted = 0;
	return 0;
}

/* Under the lock: sets memory aside for the waiting calls it covers,
 * in their order, and wakes them. */
static void
grant(struct st_budget *b)
{
	unsigned i;

	for (i = 0; i < b->nwaiters; i++) {
		struct st_budget_waiter *w = &b->waiters[i];

		if (w->granted)
			continue;
		if (b->used != 0 && b->used + w->size > b->limit)
			break;
		b->used += w->size;
		w->granted = 1;
		st_call_wake(w->call);
	}
}

/* Under the lock: a call is waiting for memory not yet set aside. */
static int
line_waits(const struct st_budget *b)
{
	unsigned i;

	for (i = 0; i < b->nwaiters; i++)
		if (!b->waiters[i].granted)
			return 1;
	return 0;
}

int
st_budget_take(struct st_budget *b, struct st_call *c, uint64_t size)
{
	int i, ok;

	pthread_mutex_lock(&b->lock);
	if ((i = find(b, c)) != -1) {
		ok = b->waiters[i].granted;
		if (ok) {
			/* what was set aside is its now, resized if it
			 * asks for another size than it did */
			b->used = b->used - b->waiters[i].size + size;
			unqueue(b, (unsigned)i);
		}
	} else {
		ok = b->used == 0 ||
		    (b->used + size <= b->limit && !line_waits(b));
		if (ok)
			b->used += size;
		else if (queue(b, c, size) == -1) {
			b->used += size;	/* over the budget, not lost */
			ok = 1;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return ok;
}

void
st_budget_forget(struct st_budget *b, struct st_call *c)
{
	int i;

	pthread_mutex_lock(&b->lock);
	if ((i = find(b, c)) != -1) {
		if (b->waiters[i].granted)
			b->used -= b->waiters[i].size;
		unqueue(b, (unsigned)i);
		grant(b);
	}
	pthread_mutex_unlock(&b->lock);
}

void
st_budget_give(struct st_budget *b, uint64_t size)
{
	pthread_mutex_lock(&b->lock);
	b->used = size < b->used ? b->used - size : 0;
	grant(b);
	pthread_mutex_unlock(&b->lock);
}

/* ---------------------------------------------------------------- held body */

long
st_held_write(struct st_held *h, struct st_budget *b, struct st_call *c,
              const char *buf, size_t len)
{
	size_t n;

	if (h->data == NULL) {
		if (!st_budget_take(b, c, h->cap))
			return 0;	/* st_budget_give wakes us */
		if ((h->data = st_buffer_alloc(h->cap)) == NULL) {
			st_budget_give(b, h->cap);
			st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
			return ST_ERROR;
		}
	}
	n = len < h->cap - h->len ? len : h->cap - h->len;
	memcpy(h->data + h->len, buf, n);
	h->len += n;
	return n == 0 && len > 0 ? ST_ERROR : (long)n;
}

void
st_held_free(struct st_held *h, struct st_budget *b)
{
	if (h->data == NULL)
		return;
	st_buffer_free(h->data, h->cap);
	h->data = NULL;
	st_budget_give(b, h->cap);
}

/*
 * Part-sized buffers are mapped and unmapped directly. From malloc they
 * came out of per-thread heaps that kept the freed megabytes: eight
 * concurrent 1 GiB multipart uploads peaked at 104 MiB of RSS for a
 * 48 MiB budget (bench/run). Unmapped, the memory leaves with the part.
 *
 * A fresh mapping costs a page fault per 4 KiB page, and faults are dear
 * on virtual machines: filling new 8 MiB parts was a third of a multipart
 * upload's CPU. So the mapping asks for transparent huge pages (2 MiB, a
 * fault each, where the system allows them on request) and is filled in
 * one call (MADV_POPULATE_WRITE, Linux 5.14) instead of fault by fault.
 */
#define BIG_BUFFER (1024 * 1024)

void *
st_buffer_alloc(size_t n)
{
	void *p;

	if (n < BIG_BUFFER)
		return malloc(n ? n : 1);
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, n, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
	madvise(p, n, MADV_POPULATE_WRITE);
#endif
	return p;
}

void
st_buffer_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	if (n < BIG_BUFFER)
		free(p);
	else
		munmap(p, n);
}
