/*
 * call.h - the core's side of a backend call: creation, the hooks that
 * st_call_done / st_call_wake reach, and the listing being built.
 */
#ifndef STRATUS_CORE_CALL_H
#define STRATUS_CORE_CALL_H

#include <pthread.h>
#include <time.h>

#include <stratus/backend.h>

#include "core/buf.h"

struct st_call_hooks {
	void (*done)(struct st_call *, void *ctx);
	void (*wake)(struct st_call *, void *ctx);
	void *ctx;
};

struct st_call *st_call_new(enum st_op, const struct st_call_hooks *);
/* Calls the backend's release (if any) and frees everything. */
void st_call_free(struct st_call *, const struct st_blob_ops *);

/* A call that is not a blob call ends with its own service's release. */
void st_call_free_with(struct st_call *, void (*release)(struct st_call *));

/* What a RECEIVE gathered (st_call_queue_message). */
struct st_call_message {
	char		*id;
	char		*receipt;
	char		*body;
	size_t		 bodylen;
	unsigned	 dequeue_count;
	time_t		 enqueued_at;
};
const struct st_call_message *st_call_queue_messages(struct st_call *,
                                                     size_t *n);

/* What a table GET or QUERY gathered (st_call_table_row, _prop). */
struct st_call_row {
	char		*rk;
	size_t		 rklen;
	char		*etag;
	struct st_prop	*props;
	size_t		 nprops;
};
const struct st_call_row *st_call_table_rows(struct st_call *, size_t *n);

/* The listing body built from st_call_list_item/prefix, as JSON. */
int  st_call_list_json(struct st_call *, struct st_buf *out);
unsigned st_call_list_count(struct st_call *);

#endif
