/*
 * budget.h - memory that many uploads share, with a queue of waiters.
 *
 * An upload that holds its pieces in memory until the provider has them
 * (S3 parts, Azure blocks, a small body held whole) takes each buffer's
 * size from a budget first. When the budget is spent, the upload is told
 * "not now" and put in line; the first in line is woken (st_call_wake)
 * when memory is given back. No upload fails for lack of memory: it
 * waits, and the process's total stays bounded.
 *
 * A budget is a plain object, usually a static one per provider:
 *
 *     static struct st_budget parts = ST_BUDGET_INIT(48ULL << 20);
 *
 * The simplest user is a held body (st_held): one buffer for a whole
 * small body, taken at its first byte and given back when the call ends.
 */
#ifndef STRATUS_CORE_BUDGET_H
#define STRATUS_CORE_BUDGET_H

#include <pthread.h>
#include <stdint.h>

#include <stratus/backend.h>

/* A call in line: what it asked for, and whether memory has been set
 * aside for it (it was woken, and takes it at its next st_budget_take). */
struct st_budget_waiter {
	struct st_call	*call;
	uint64_t	 size;
	int		 granted;
};

struct st_budget {
	pthread_mutex_t	 lock;
	uint64_t	 limit;
	uint64_t	 used;		/* taken, and set aside for the woken */
	struct st_budget_waiter *waiters; /* first come first; grows */
	unsigned	 nwaiters;
	unsigned	 capwaiters;
};

#define ST_BUDGET_INIT(bytes) \
	{ .lock = PTHREAD_MUTEX_INITIALIZER, .limit = (bytes) }

/* Takes size bytes: 1, or 0 when the budget is spent or others wait
 * before it, and then the call waits in line to be woken when memory
 * comes back. The first taker of an idle budget always gets it, however
 * large; so does a call that cannot be put in line for want of memory
 * (it must never wait unseen). */
int  st_budget_take(struct st_budget *, struct st_call *, uint64_t size);
/* Takes the call out of the line (before it is released); memory set
 * aside for it goes to the next in line. */
void st_budget_forget(struct st_budget *, struct st_call *);
/* Gives size bytes back, and sets memory aside for, and wakes, as many
 * calls from the front of the line as it now covers. */
void st_budget_give(struct st_budget *, uint64_t size);

/*
 * A small body held whole, so that a failed attempt can send it again
 * without asking the application for it twice. Its buffer, of the body's
 * announced length (cap, set before the first write), is taken from a
 * budget at the first write.
 */
struct st_held {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

/* As a backend's write(): bytes taken, 0 while the call waits for the
 * budget, ST_ERROR for a byte beyond cap or when memory runs out (the
 * call has then failed). */
long st_held_write(struct st_held *, struct st_budget *, struct st_call *,
                   const char *, size_t);
/* Frees the buffer and gives its memory back. */
void st_held_free(struct st_held *, struct st_budget *);

/* Buffers for parts and held bodies: mapped directly when large, so that
 * their memory goes back to the system when they are freed. */
void *st_buffer_alloc(size_t);
void  st_buffer_free(void *, size_t);

#endif
