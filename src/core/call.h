/*
 * call.h - the core's side of a backend call: creation, the hooks that
 * st_call_done / st_call_wake reach, and the listing being built.
 */
#ifndef STRATUS_CORE_CALL_H
#define STRATUS_CORE_CALL_H

#include <pthread.h>

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

/* The listing body built from st_call_list_item/prefix, as JSON. */
int  st_call_list_json(struct st_call *, struct st_buf *out);
unsigned st_call_list_count(struct st_call *);

#endif
