/*
 * blob.h - the blob service: one blob request driven through its store's
 * backend, whatever front end decoded it (see blob.c for the design).
 */
#ifndef STRATUS_CORE_BLOB_H
#define STRATUS_CORE_BLOB_H

#include <stdint.h>

#include <stratus/backend.h>

#include "core/buf.h"
#include "core/call.h"

/* A blob store as the service needs it; the front end's configuration
 * says which. Its strings and handle outlive the request. */
struct st_blob_store {
	const char		*name;
	void			*handle;	/* what store_open returned */
	const struct st_backend	*backend;
	uint64_t		 max_size;	/* 0: no limit of ours */
	/* the key of the daemon's own presigned URLs, for a backend that
	 * makes none (core/presign.h) */
	const unsigned char	*presign_key;
	size_t			 presign_keylen;
};

struct st_blob_pump;

/* One blob request under way, owned by its front end (st_blob_free). */
struct st_blob {
	struct st_blob_store	 store;
	struct st_call_hooks	 hooks;		/* the front end's wake */
	const char		*request_id;
	struct st_call		*call;		/* on store; NULL until made */
	struct st_call		*src_call;	/* a streamed copy's source */
	const struct st_blob_ops *src_ops;
	struct st_blob_store	 copy_src;	/* a server-side copy's source */
	struct st_blob_pump	*pump;		/* a streamed copy */
	struct st_call		*answer;	/* set when the copy ended early */
	struct st_buf		 head;		/* GET: body bytes taken early */
	uint64_t		 written;	/* body bytes given to store */
	int			 ended;		/* PUT: put_end was called */
};

/* Every call the request makes wakes through hooks (copied). */
struct st_blob *st_blob_new(const struct st_blob_store *,
                            const struct st_call_hooks *,
                            const char *request_id);
/* Releases the calls (the backends cancel what is in flight). */
void st_blob_free(struct st_blob *);

/* The call of `op` on the store, its request half (key, range,
 * conditions, metadata...) for the front end to fill before
 * st_blob_start. A PUT or COPY gets the store's size limit. NULL: out of
 * memory. */
struct st_call *st_blob_call(struct st_blob *, enum st_op);
/* Starts the call's operation on the store's backend. */
void st_blob_start(struct st_blob *);
/* Starts the COPY call (filled but for its source) from src_key in src:
 * server-side when the store's backend can, else streamed through the
 * service. -1: out of memory. */
int  st_blob_copy(struct st_blob *, const struct st_blob_store *src,
                  const char *src_key);

/* Drives the request as far as it goes without waiting: 1 when the
 * outcome is in st_blob_answer, 0 to wait for a wake and step again,
 * -1 out of memory. */
int  st_blob_step(struct st_blob *);
/* The call whose status, information and message are the outcome. */
struct st_call *st_blob_answer(struct st_blob *);

/* PUT: hands body bytes to the store: how many it took (0: full now,
 * wait for a wake), or -1 when the call is over (failed, or the body
 * passed the store's limit: ST_TOO_LARGE). */
long st_blob_write(struct st_blob *, const char *, size_t);
/* PUT: the whole body was given: commit (once; not after a failure). */
void st_blob_put_end(struct st_blob *);

/* GET: the body as a file descriptor (the caller closes it) at an
 * offset, when the backend has one: 0, else -1. */
int  st_blob_fd(struct st_blob *, int *fd, uint64_t *offset);
/* GET: reads a small body (up to max bytes) whole into b->head when the
 * backend already has all of it: 1 whole; 0 not, and what was taken is
 * served first by st_blob_read. */
int  st_blob_take_whole(struct st_blob *, size_t max);
/* GET: body bytes from position pos, as the backend's read(). */
long st_blob_read(struct st_blob *, uint64_t pos, char *, size_t);

#endif
