/*
 * upload.h - a PUT's body on its way to a blob store, driven the same way
 * for every provider.
 *
 * A body goes one of three ways (st_put_way): a small one is held whole in
 * memory (under the parts' budget) and sent at its end, so that a failed
 * attempt is sent again from memory; one up to the store's threshold
 * streams through the call's pipe; anything larger, or of unknown length,
 * goes in parts. struct st_put hands the writer's bytes to the right one.
 *
 * A large body goes to a blob store in parts (S3 multipart parts, Azure
 * blocks). What is the same everywhere is here, once: the application's
 * bytes fill a part buffer taken from a memory budget (the writer waits,
 * suspended, while the budget is spent or enough parts are on their way);
 * a full part is sent on a sibling pcall of the call's own (core/pcall.h),
 * which retries it from memory; at most in_flight parts are queued or
 * flying; the first failure fails the upload once and stops the writer;
 * once the body has ended and every part is in, the provider commits.
 *
 * The provider says only its protocol, in a `struct st_upload_proto`: how
 * a part's request is described, what answer means "the provider has
 * it", the commit, how a held body is sent, and the words of its
 * messages. It begins a PUT with st_put_begin (st_blobcall_put, for a
 * blob call), says st_upload_go once parts may be sent (S3 first creates
 * the upload), hands it the body (st_put_write, st_put_end) and releases
 * it with the call (st_put_release). What to abort, if anything, stays
 * the provider's.
 *
 * The upload's lock covers its parts and its state; the provider's hooks
 * marked "locked" run under it.
 */
#ifndef STRATUS_CORE_UPLOAD_H
#define STRATUS_CORE_UPLOAD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <stratus/backend.h>

#include "core/budget.h"
#include "core/parts.h"
#include "core/pcall.h"
#include "core/stream.h"

struct st_upload;

struct st_upload_proto {
	const char	*service;	/* "S3": in messages */
	const char	*part;		/* "part", "block": likewise */
	unsigned	 in_flight;	/* parts queued or flying, at most */
	unsigned	 max_parts;
	const char	*too_many_code;	/* the provider's code for more */
	const char	*too_many;	/* and the words */
	int		 part_codes;	/* a failed part's provider code is
					 * the call's */
	int		 empty_part;	/* an empty body is one empty part */
	/* Describes part p's request on p->pc (st_pcall_prepare and the
	 * rest; the core starts it with the part's buffer as its body).
	 * Locked. 0, or -1: the call has been failed. */
	int	(*describe)(struct st_part *p, void *arg);
	/* Part p's final answer: 1 when the provider has it (and p->name
	 * may be set from it), else 0. Locked. */
	int	(*answered)(struct st_part *p, struct st_pcall *pc, void *arg);
	/* Optional. A new part, numbered. Locked. */
	void	(*added)(struct st_part *p, void *arg);
	/* Optional. Bytes taken into parts, in body order. Locked. */
	void	(*taken)(const char *buf, size_t n, void *arg);
	/* Every part is in and the body has ended: the provider commits
	 * the upload (not locked; once). */
	void	(*commit)(void *arg);
	/* A held body is whole (struct st_put's held): the provider sends
	 * it. */
	void	(*send_held)(void *arg);
};

struct st_upload {
	pthread_mutex_t			 lock;
	const struct st_upload_proto	*proto;	/* NULL: never begun */
	void				*arg;	/* the provider's call */
	struct st_call			*call;
	struct st_pcall			*pc;	/* parts are its siblings */
	struct st_budget		*budget;
	const char			*store;	/* name, for messages */
	uint64_t			 part_size;
	struct st_parts			 parts;	/* each part's name */
	int				 going;	/* parts may be sent */
	int				 ended;	/* the body has */
	int				 committing;
	int				 failed;
	int				 released;
};

/* Begins an upload of the call of pc in parts of part_size bytes, whose
 * buffers come from budget. */
void st_upload_init(struct st_upload *, const struct st_upload_proto *,
                    void *arg, struct st_pcall *pc, struct st_budget *,
                    const char *store, uint64_t part_size);
/* Parts may be sent from now on. */
void st_upload_go(struct st_upload *);
/* The writer's bytes: how many were taken (0: the writer waits, to be
 * woken), or ST_ERROR once the upload has failed. */
long st_upload_write(struct st_upload *, const char *, size_t);
/* The body has ended. */
void st_upload_end(struct st_upload *);
/* Fails the upload once, with the call (unless it is answered already);
 * later failures say nothing more. */
void st_upload_fail(struct st_upload *, enum st_status, const char *code,
                    const char *why);
/* As the call is released, before the provider frees the call's pcall:
 * cancels the parts and the call's pcall (a commit under way), then
 * frees the parts and hands their memory back. Nothing of the upload
 * runs after it. */
void st_upload_release(struct st_upload *);

/* ---------------------------------------------------------------- a PUT */

enum st_put_way { ST_PUT_HELD = 1, ST_PUT_STREAM, ST_PUT_PARTS };

struct st_put {
	enum st_put_way		 way;	/* 0: no PUT */
	struct st_held		 held;	/* HELD: the whole body */
	struct st_stream	*stream; /* STREAM: the call's pipe */
	struct st_upload	 up;	/* PARTS; and the proto, for all */
};

/* The way of the call's body: held when its length is known and at most
 * part_size and threshold, streamed when known and at most threshold,
 * else in parts. */
enum st_put_way st_put_way(const struct st_call *, uint64_t part_size,
                           uint64_t threshold);
/* Begins a PUT that goes way; the rest as st_upload_init. A streamed
 * body is written to stream (opened by the provider); proto's taken sees
 * its bytes too (before they may be sent). Parts go once st_upload_go. */
void st_put_begin(struct st_put *, enum st_put_way, struct st_stream *,
                  const struct st_upload_proto *, void *arg,
                  struct st_pcall *pc, struct st_budget *, const char *store,
                  uint64_t part_size);
/* The backend's write() and put_end() of the PUT. */
long st_put_write(struct st_put *, const char *, size_t);
void st_put_end(struct st_put *);
/* As st_upload_release, and the held body's memory goes back. */
void st_put_release(struct st_put *);

#endif
