/*
 * parts.h - an upload cut into parts, each held in memory until the
 * provider has it.
 *
 * Large uploads go to providers in pieces (S3 multipart parts, Azure
 * blocks). The application's bytes fill one part at a time; a full part
 * is queued, sent on a provider call of its own (a sibling pcall of the
 * upload's, core/pcall.h), and kept in memory until the provider
 * acknowledges it, so that the engine sends it again after a failed
 * attempt without asking the application twice. Part buffers come from a budget
 * (core/budget.h) and go back to it as soon as the provider has them.
 *
 * A part goes FILLING -> QUEUED -> FLYING -> DONE, and back to QUEUED
 * when it could not be started. This file keeps the parts and moves them
 * along; the backend keeps the protocol: how a part is started and named,
 * when the upload is committed, and what a failure is called.
 *
 * st_parts has no lock of its own: the functions marked "locked" are
 * called under the lock of the upload that owns it, the same lock that
 * covers the backend's own state of the upload (phase, failure), so that
 * the two are always seen together.
 */
#ifndef STRATUS_CORE_PARTS_H
#define STRATUS_CORE_PARTS_H

#include <stddef.h>
#include <stdint.h>

#include <stratus/backend.h>

#include "core/budget.h"
#include "core/pcall.h"

enum st_part_state {
	ST_PART_FILLING, ST_PART_QUEUED, ST_PART_FLYING, ST_PART_DONE
};

struct st_part {
	struct st_part	*next;
	void		*owner;		/* the backend's upload */
	struct st_pcall	*pc;		/* made by the backend, at first */
	unsigned	 number;	/* 1, 2, ... in body order */
	enum st_part_state state;
	char		*data;		/* NULL once the provider has it */
	size_t		 len;
	size_t		 cap;
	char		 name[128];	/* the provider's: ETag, block id */
};

struct st_parts {
	struct st_part	*all;		/* newest first */
	struct st_part	*filling;
	unsigned	 count;
	unsigned	 flying;
	uint64_t	 total;		/* body bytes taken */
};

/* The part size for a body of a known length: size, or larger (in whole
 * MiB) when the body would need more than most parts of it. */
uint64_t st_parts_size(uint64_t size, uint64_t length, unsigned most);

/* A new part with a buffer of cap bytes (none when 0); NULL when memory
 * runs out. The caller has taken cap from the
 * budget before. */
struct st_part *st_part_new(void *owner, size_t cap);

/* Locked. Adds a new part as the next number: the one being filled. */
void   st_parts_add(struct st_parts *, struct st_part *);
/* Locked. Copies what fits into the filling part and queues it when it
 * is full: the bytes taken. */
size_t st_parts_fill(struct st_parts *, const char *, size_t);
/* Locked. The body has ended: queues the filling part; 0 when none was. */
int    st_parts_end(struct st_parts *);
/* Locked. Parts queued or flying: the writer waits while there are many. */
unsigned st_parts_waiting(const struct st_parts *);
/* Locked. The lowest-numbered queued part (it goes first), or NULL. */
struct st_part *st_parts_next(const struct st_parts *);
/* Locked. Part number n, or NULL. */
struct st_part *st_parts_find(const struct st_parts *, unsigned n);
/* Locked. Every part is DONE (true of none). */
int    st_parts_all_done(const struct st_parts *);

/* Locked. Sends a queued part (p->pc, prepared by the backend): its
 * buffer is the held body, the engine retries it, and done hears the
 * final answer (arg: the part). 0, or -1 with the part queued again. */
int    st_part_send(struct st_parts *, struct st_part *, st_pcall_finish_fn done);
/* Locked. A part's final answer is in: ok when the provider has it (DONE;
 * its buffer is handed back in *data). Returns 0, or -1 when the part
 * failed for good (the engine retried what it could). */
int    st_part_answered(struct st_parts *, struct st_part *, int ok,
                        char **data);
/* Once the lock is let go: frees a buffer that st_part_answered handed
 * back (NULL: none) and gives its memory to the budget, which may wake a
 * waiting writer. */
void   st_part_give(struct st_part *, char *data, struct st_budget *);

/* Not locked, as the call is released: cancels every part's pcall
 * (each returns once no hook of it runs any more), then frees them all
 * and gives the memory still held back to the budget. */
void   st_parts_cancel(struct st_parts *);
void   st_parts_free(struct st_parts *, struct st_budget *);

#endif
