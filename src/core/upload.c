/*
 * upload.c - an upload in parts (see upload.h for who does what).
 *
 * Two threads meet here: the writer's (st_upload_write, st_upload_end)
 * and the engine's (a part's answer). Both end in pump, which starts the
 * queued parts while there is room and commits once everything is in;
 * pump is called after any change of the upload's state, so that no
 * change is left waiting for another. Whatever may wake another thread
 * (giving memory back, failing or waking the call) is done once the lock
 * is let go.
 */
#include <stdio.h>
#include <string.h>

#include "core/upload.h"

void
st_upload_init(struct st_upload *u, const struct st_upload_proto *proto,
               void *arg, struct st_pcall *pc, struct st_budget *budget,
               const char *store, uint64_t part_size)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->proto = proto;
	u->arg = arg;
	u->call = st_pcall_call(pc);
	u->pc = pc;
	u->budget = budget;
	u->store = store;
	u->part_size = part_size;
}

void
st_upload_fail(struct st_upload *u, enum st_status st, const char *code,
               const char *why)
{
	int first;

	pthread_mutex_lock(&u->lock);
	first = !u->failed;
	u->failed = 1;
	pthread_mutex_unlock(&u->lock);
	if (!first || st_call_is_done(u->call))
		return;
	st_call_fail(u->call, st, code, "%s (store '%s')", why, u->store);
	/* The writer may be parked waiting for room: let it see the end. */
	st_call_wake(u->call);
}

/* ---------------------------------------------------------------- parts */

static void pump(struct st_upload *);

/* A part's final answer (the engine has retried what it could): the
 * provider has it, and its memory goes back; or the upload fails. */
static void
part_done(struct st_pcall *pc, void *arg)
{
	struct st_part *p = arg;
	struct st_upload *u = p->owner;
	const struct st_upload_proto *up = u->proto;
	char *data = NULL, why[96];
	int failed;

	pthread_mutex_lock(&u->lock);
	failed = st_part_answered(&u->parts, p, up->answered(p, pc, u->arg),
	    &data) == -1;
	pthread_mutex_unlock(&u->lock);
	if (failed) {
		if (st_pcall_status(pc) != 0)
			snprintf(why, sizeof(why), "%s refused a %s of the upload",
			    up->service, up->part);
		else
			snprintf(why, sizeof(why), "%s could not be reached for a "
			    "%s of the upload", up->service, up->part);
		st_upload_fail(u, st_pcall_outcome(pc), up->part_codes ?
		    st_pcall_code(pc) : NULL, why);
		return;
	}
	st_part_give(p, data, u->budget);
	pump(u);
	/* A slot is free: the writer may have stopped for want of one. */
	st_call_wake(u->call);
}

/* Locked. Sends a queued part on a pcall of its own: 0, or -1 with the
 * part still queued (picking it again would spin) and the upload failed. */
static int
start_part(struct st_upload *u, struct st_part *p)
{
	if ((p->pc == NULL && (p->pc = st_pcall_sibling(u->pc)) == NULL) ||
	    u->proto->describe(p, u->arg) == -1 ||
	    st_part_send(&u->parts, p, part_done) == -1) {
		p->state = ST_PART_QUEUED;
		u->failed = 1;
		return -1;
	}
	return 0;
}

/* Starts queued parts while there is room, and commits the upload when
 * every part is in and the body has ended. */
static void
pump(struct st_upload *u)
{
	struct st_part *p;
	int commit = 0, wake = 0, broke = 0;

	pthread_mutex_lock(&u->lock);
	if (u->released || !u->going || u->failed) {
		pthread_mutex_unlock(&u->lock);
		return;
	}
	while ((p = st_parts_next(&u->parts)) != NULL &&
	    u->parts.flying < u->proto->in_flight) {
		if ((broke = start_part(u, p) == -1))
			break;
		wake = 1;
	}
	if (!broke && u->ended && !u->committing &&
	    st_parts_all_done(&u->parts))
		commit = u->committing = 1;
	pthread_mutex_unlock(&u->lock);
	if (broke) {
		/* The request or its start has failed the call, unless
		 * memory ran out for its pcall. */
		if (!st_call_is_done(u->call))
			st_call_fail(u->call, ST_INTERNAL, NULL, "a %s could not "
			    "be sent (store '%s')", u->proto->part, u->store);
		st_call_wake(u->call);
		return;
	}
	if (wake)
		st_call_wake(u->call);	/* room again for the writer */
	if (commit)
		u->proto->commit(u->arg);
}

void
st_upload_go(struct st_upload *u)
{
	pthread_mutex_lock(&u->lock);
	u->going = 1;
	pthread_mutex_unlock(&u->lock);
	pump(u);
}

/* ---------------------------------------------------------------- the body */

/* A new part to fill, when the budget and the parts on their way allow:
 * 1; 0 when the writer must wait; -1 when the upload has failed. */
static int
new_part(struct st_upload *u)
{
	const struct st_upload_proto *up = u->proto;
	struct st_part *p;
	unsigned waiting;
	int too_many;

	pthread_mutex_lock(&u->lock);
	waiting = st_parts_waiting(&u->parts);
	pthread_mutex_unlock(&u->lock);
	/* Enough parts on their way: wait for one (pump wakes us), and for
	 * memory from the budget. */
	if (waiting >= up->in_flight ||
	    !st_budget_take(u->budget, u->call, u->part_size))
		return 0;
	if ((p = st_part_new(u, u->part_size)) == NULL) {
		st_budget_give(u->budget, u->part_size);
		st_upload_fail(u, ST_INTERNAL, NULL, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&u->lock);
	st_parts_add(&u->parts, p);
	if (up->added != NULL)
		up->added(p, u->arg);
	too_many = u->parts.count > up->max_parts;
	pthread_mutex_unlock(&u->lock);
	if (too_many) {
		st_upload_fail(u, ST_TOO_LARGE, up->too_many_code, up->too_many);
		return -1;
	}
	return 1;
}

long
st_upload_write(struct st_upload *u, const char *buf, size_t len)
{
	size_t taken = 0, n;
	int rc;

	while (taken < len) {
		pthread_mutex_lock(&u->lock);
		if (u->failed) {
			pthread_mutex_unlock(&u->lock);
			return taken > 0 ? (long)taken : ST_ERROR;
		}
		if (u->parts.filling == NULL) {
			pthread_mutex_unlock(&u->lock);
			if ((rc = new_part(u)) <= 0)
				return rc < 0 ? ST_ERROR : (long)taken;
			pthread_mutex_lock(&u->lock);
		}
		n = st_parts_fill(&u->parts, buf + taken, len - taken);
		if (u->proto->taken != NULL)
			u->proto->taken(buf + taken, n, u->arg);
		taken += n;
		pthread_mutex_unlock(&u->lock);
		pump(u);
	}
	return (long)taken;
}

void
st_upload_end(struct st_upload *u)
{
	struct st_part *p;

	pthread_mutex_lock(&u->lock);
	u->ended = 1;
	if (!st_parts_end(&u->parts) && u->parts.count == 0 &&
	    u->proto->empty_part && (p = st_part_new(u, 0)) != NULL) {
		st_parts_add(&u->parts, p);
		if (u->proto->added != NULL)
			u->proto->added(p, u->arg);
		st_parts_end(&u->parts);
	}
	pthread_mutex_unlock(&u->lock);
	pump(u);
}

/* ---------------------------------------------------------------- the end */

void
st_upload_release(struct st_upload *u)
{
	if (u->proto == NULL)
		return;
	pthread_mutex_lock(&u->lock);
	u->released = 1;
	pthread_mutex_unlock(&u->lock);
	st_budget_forget(u->budget, u->call);
	/* The parts first: a part's answer may have begun the commit on
	 * the call's pcall, which is cancelled next. After that no hook
	 * of the upload runs any more. */
	st_parts_cancel(&u->parts);
	st_pcall_cancel(u->pc);
	st_parts_free(&u->parts, u->budget);
	pthread_mutex_destroy(&u->lock);
}

/* ---------------------------------------------------------------- a PUT */

enum st_put_way
st_put_way(const struct st_call *c, uint64_t part_size, uint64_t threshold)
{
	if (c->content_length < 0 || (uint64_t)c->content_length > threshold)
		return ST_PUT_PARTS;
	return (uint64_t)c->content_length <= part_size ? ST_PUT_HELD :
	    ST_PUT_STREAM;
}

void
st_put_begin(struct st_put *p, enum st_put_way way, struct st_stream *stream,
             const struct st_upload_proto *proto, void *arg,
             struct st_pcall *pc, struct st_budget *budget, const char *store,
             uint64_t part_size)
{
	st_upload_init(&p->up, proto, arg, pc, budget, store, part_size);
	p->way = way;
	p->stream = stream;
	if (way == ST_PUT_HELD)
		p->held.cap = (size_t)p->up.call->content_length;
}

long
st_put_write(struct st_put *p, const char *buf, size_t len)
{
	struct st_upload *u = &p->up;
	size_t n;

	switch (p->way) {
	case ST_PUT_HELD:
		return st_held_write(&p->held, u->budget, u->call, buf, len);
	case ST_PUT_STREAM:
		n = st_stream_fill(p->stream, buf, len);
		/* Seen before the exchange may send it (and be answered). */
		if (n > 0 && u->proto->taken != NULL)
			u->proto->taken(buf, n, u->arg);
		st_stream_filled(p->stream, n);
		return (long)n;
	default:
		return st_upload_write(u, buf, len);
	}
}

void
st_put_end(struct st_put *p)
{
	if (p->way == ST_PUT_STREAM)
		st_stream_close(p->stream);
	else if (p->way == ST_PUT_HELD)
		p->up.proto->send_held(p->up.arg);
	else
		st_upload_end(&p->up);
}

void
st_put_release(struct st_put *p)
{
	if (p->up.proto == NULL)
		return;
	st_upload_release(&p->up);
	st_held_free(&p->held, p->up.budget);
}
