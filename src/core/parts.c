/*
 * parts.c - the list of an upload's parts and the moves between states.
 *
 * Parts are few (a handful in flight, at most tens of thousands in all),
 * so a singly linked list, newest first, is searched from end to end:
 * finding the next part to send is one walk. Nothing here blocks or takes
 * a lock: the owner's lock is held around every "locked" function, and
 * whatever may wake another thread (giving memory to the budget) is left
 * for after it is let go.
 */
#include <stdlib.h>
#include <string.h>

#include "core/parts.h"

uint64_t
st_parts_size(uint64_t size, uint64_t length, unsigned most)
{
	uint64_t need = (length + most - 1) / most;

	if (need > size)
		size = (need + (1 << 20) - 1) & ~((uint64_t)(1 << 20) - 1);
	return size;
}

struct st_part *
st_part_new(void *owner, size_t cap)
{
	struct st_part *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if (cap > 0 && (p->data = st_buffer_alloc(cap)) == NULL) {
		free(p);
		return NULL;
	}
	p->owner = owner;
	p->cap = cap;
	return p;
}

/* ---------------------------------------------------------------- filling */

void
st_parts_add(struct st_parts *ps, struct st_part *p)
{
	p->number = ++ps->count;
	p->next = ps->all;
	ps->all = p;
	ps->filling = p;
}

size_t
st_parts_fill(struct st_parts *ps, const char *buf, size_t len)
{
	struct st_part *p = ps->filling;
	size_t n = len < p->cap - p->len ? len : p->cap - p->len;

	memcpy(p->data + p->len, buf, n);
	p->len += n;
	ps->total += n;
	if (p->len == p->cap) {
		p->state = ST_PART_QUEUED;
		ps->filling = NULL;
	}
	return n;
}

int
st_parts_end(struct st_parts *ps)
{
	if (ps->filling == NULL)
		return 0;
	ps->filling->state = ST_PART_QUEUED;
	ps->filling = NULL;
	return 1;
}

/* ---------------------------------------------------------------- looking */

unsigned
st_parts_waiting(const struct st_parts *ps)
{
	const struct st_part *p;
	unsigned n = 0;

	for (p = ps->all; p != NULL; p = p->next)
		n += p->state == ST_PART_QUEUED || p->state == ST_PART_FLYING;
	return n;
}

struct st_part *
st_parts_next(const struct st_parts *ps)
{
	struct st_part *p, *first = NULL;

	for (p = ps->all; p != NULL; p = p->next)
		if (p->state == ST_PART_QUEUED &&
		    (first == NULL || p->number < first->number))
			first = p;
	return first;
}

struct st_part *
st_parts_find(const struct st_parts *ps, unsigned n)
{
	struct st_part *p;

	for (p = ps->all; p != NULL && p->number != n; p = p->next)
		;
	return p;
}

int
st_parts_all_done(const struct st_parts *ps)
{
	const struct st_part *p;

	for (p = ps->all; p != NULL; p = p->next)
		if (p->state != ST_PART_DONE)
			return 0;
	return 1;
}

/* ---------------------------------------------------------------- sending */

int
st_part_send(struct st_parts *ps, struct st_part *p, st_pcall_finish_fn done)
{
	st_pcall_body_ref(p->pc, p->data ? p->data : "", p->len);
	p->state = ST_PART_FLYING;
	ps->flying++;
	if (st_pcall_start(p->pc, ST_PCALL_IDEMPOTENT, done, p) == 0)
		return 0;
	ps->flying--;
	p->state = ST_PART_QUEUED;
	return -1;
}

int
st_part_answered(struct st_parts *ps, struct st_part *p, int ok, char **data)
{
	ps->flying--;
	if (!ok)
		return -1;
	p->state = ST_PART_DONE;
	*data = p->data;
	p->data = NULL;
	return 0;
}

void
st_part_give(struct st_part *p, char *data, struct st_budget *b)
{
	if (data == NULL)
		return;
	st_buffer_free(data, p->cap);
	st_budget_give(b, p->cap);
}

/* ---------------------------------------------------------------- the end */

void
st_parts_cancel(struct st_parts *ps)
{
	struct st_part *p;

	for (p = ps->all; p != NULL; p = p->next)
		if (p->pc != NULL)
			st_pcall_cancel(p->pc);
}

void
st_parts_free(struct st_parts *ps, struct st_budget *b)
{
	struct st_part *p, *next;

	for (p = ps->all; p != NULL; p = next) {
		next = p->next;
		st_pcall_free(p->pc);
		st_part_give(p, p->data, b);
		free(p);
	}
	memset(ps, 0, sizeof(*ps));
}
