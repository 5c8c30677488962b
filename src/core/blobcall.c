/*
 * blobcall.c - the parts of a blob call that are the same for every
 * provider (see blobcall.h).
 *
 * backend_data points to the provider's call, which begins with a struct
 * st_blobcall: the first member of a struct is at its address, so the
 * core reaches it without knowing the rest.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/answer.h"
#include "core/blobcall.h"
#include "core/validate.h"

static struct st_blobcall *
of(struct st_call *c)
{
	return c->backend_data;
}

int
st_blobcall_init(struct st_blobcall *bc, struct st_call *c,
                 const struct st_pcall_proto *proto,
                 const struct st_pcall_target *target)
{
	bc->call = c;
	c->backend_data = bc;
	/* The engine admits the call through the store's breaker. */
	bc->pc = st_pcall_new(c, proto, target);
	st_stream_init(&bc->stream, c, bc->pc ? st_pcall_xfer(bc->pc) : NULL);
	return bc->pc != NULL ? 0 : -1;
}

long
st_blobcall_read(struct st_call *c, char *buf, size_t cap)
{
	return st_stream_read(&of(c)->stream, buf, cap);
}

long
st_blobcall_write(struct st_call *c, const char *buf, size_t len)
{
	return st_put_write(&of(c)->put, buf, len);
}

void
st_blobcall_put_end(struct st_call *c)
{
	st_put_end(&of(c)->put);
}

/* ---------------------------------------------------------------- info */

struct meta_walk {
	struct st_call			*call;
	const struct st_object_headers	*oh;
	size_t				 n;
	int				 count_only;
};

static void
meta_header(const char *name, const char *value, void *arg)
{
	struct meta_walk *w = arg;
	const struct st_object_headers *oh = w->oh;
	size_t plen = strlen(oh->prefix), i, n;
	char lower[256], api[ST_META_NAME_MAX + 1];
	const char *use = lower;

	if (strncasecmp(name, oh->prefix, plen) != 0)
		return;
	n = strlen(name + plen);
	if (n == 0 || n >= sizeof(lower))
		return;
	for (i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)name[plen + i]);
	if (oh->name_in != NULL) {
		if (oh->name_in(lower, api, sizeof(api)) == -1)
			return;
		use = api;
	} else if (n > ST_META_NAME_MAX) {
		return;
	}
	if (!w->count_only) {
		w->call->info.meta[w->n].name = st_call_strdup(w->call, use);
		w->call->info.meta[w->n].value = oh->value_in != NULL ?
		    (char *)oh->value_in(w->call, st_call_strdup(w->call, value)) :
		    st_call_strdup(w->call, value);
	}
	w->n++;
}

void
st_blobcall_info(struct st_call *c, struct st_xfer *x,
                 const struct st_object_headers *oh)
{
	struct meta_walk w = { c, oh, 0, 1 };
	const char *v;

	if ((v = st_xfer_header(x, "ETag")) != NULL)
		c->info.etag = oh->etag_in != NULL ? oh->etag_in(c, v) :
		    st_call_strdup(c, v);
	if ((v = st_xfer_header(x, "Content-Length")) != NULL)
		c->info.size = strtoull(v, NULL, 10);
	if ((v = st_xfer_header(x, "Content-Range")) != NULL &&
	    (v = strchr(v, '/')) != NULL)
		c->info.size = strtoull(v + 1, NULL, 10);
	c->info.last_modified = st_answer_time(st_xfer_header(x,
	    "Last-Modified"));
	if ((v = st_xfer_header(x, "Content-Type")) != NULL)
		c->info.content_type = st_call_strdup(c, v);
	/* Counted, then kept: the call's memory is not given back. */
	c->info.meta = NULL;
	c->info.nmeta = 0;
	st_xfer_each_header(x, meta_header, &w);
	if (w.n > 0 && (c->info.meta = st_call_alloc(c, w.n *
	    sizeof(*c->info.meta))) != NULL) {
		w.count_only = 0;
		w.n = 0;
		st_xfer_each_header(x, meta_header, &w);
		c->info.nmeta = w.n;
	}
}

/* ---------------------------------------------------------------- a body */

const char *
st_blobcall_range(struct st_call *c, struct st_xfer *x)
{
	const char *cl = st_xfer_header(x, "Content-Length");

	c->body_length = cl ? strtoull(cl, NULL, 10) : 0;
	c->partial = st_xfer_status(x) == 206;
	return c->partial ? st_xfer_header(x, "Content-Range") : NULL;
}

void
st_blobcall_answer(struct st_blobcall *bc, struct st_xfer *x,
                   size_t pipe_max)
{
	struct st_call *c = bc->call;

	if (c->op != ST_OP_GET)
		c->body_length = c->info.size;
	else if (st_stream_open(&bc->stream, st_stream_pipe_size(
	    st_xfer_header(x, "Content-Length"), pipe_max)) == -1) {
		/* (The pipe is sized now that the body's length is known: a
		 * small object no longer costs a 1 MiB ring.) */
		st_stream_discard(&bc->stream);
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	c->status = ST_OK;
	st_call_done(c);
}

int
st_blobcall_resume(struct st_blobcall *bc, struct st_pcall *pc,
                   const char *range_header)
{
	struct st_call *c = bc->call;
	char range[64];

	if (c->op != ST_OP_GET || st_stream_dropped(&bc->stream) ||
	    c->status != ST_OK || c->body_length == 0 ||
	    bc->stream.received >= c->body_length || c->info.etag == NULL)
		return -1;
	bc->resume_first = c->body_first + bc->stream.received;
	snprintf(range, sizeof(range), "bytes=%llu-%llu",
	    (unsigned long long)bc->resume_first,
	    (unsigned long long)(c->body_first + c->body_length - 1));
	/* (st_pcall_header keeps a copy of the value.) */
	if (st_pcall_header(pc, range_header, range) == -1 ||
	    st_pcall_header(pc, "If-Match", c->info.etag) == -1)
		return -1;
	bc->resuming = 1;
	return 0;
}

/* Does a resumption's answer go on at the byte where the body stopped? */
static int
resumes_right(struct st_blobcall *bc, struct st_xfer *x)
{
	long status = st_xfer_status(x);
	const char *cr = st_xfer_header(x, "Content-Range");
	const char *sp = cr ? strchr(cr, ' ') : NULL;

	if (status >= 300)
		return 1;
	return status == 206 && sp != NULL &&
	    strtoull(sp + 1, NULL, 10) == bc->resume_first;
}

int
st_blobcall_begun(struct st_blobcall *bc, struct st_pcall *pc)
{
	if (bc->resuming && !resumes_right(bc, st_pcall_xfer(pc))) {
		st_stream_discard(&bc->stream);
		st_stream_end(&bc->stream, 1);
	}
	return st_call_is_done(bc->call) ? ST_PCALL_BEGUN : ST_PCALL_COLLECT;
}

/* ---------------------------------------------------------------- requests */

size_t
st_blobcall_conditions(const struct st_call *c, const char **h, size_t n)
{
	if (c->if_match != NULL) {
		h[n++] = "If-Match";
		h[n++] = c->if_match;
	}
	if (c->if_none_match != NULL) {
		h[n++] = "If-None-Match";
		h[n++] = c->if_none_match;
	}
	return n;
}

enum st_put_way
st_blobcall_put(struct st_blobcall *bc, const struct st_upload_proto *proto,
                void *arg, struct st_budget *budget, const char *store,
                uint64_t part_size, uint64_t threshold)
{
	struct st_call *c = bc->call;
	enum st_put_way way = st_put_way(c, part_size, threshold);

	if (way == ST_PUT_PARTS && c->content_length > 0)
		part_size = st_parts_size(part_size, (uint64_t)c->content_length,
		    proto->max_parts);
	st_put_begin(&bc->put, way, &bc->stream, proto, arg, bc->pc, budget,
	    store, part_size);
	return way;
}

int
st_blobcall_copy_fits(struct st_call *c)
{
	if (c->max_size > 0 && c->info.size > c->max_size) {
		st_call_fail(c, ST_TOO_LARGE, NULL, "the source is larger than the "
		    "target store's limit");
		return 0;
	}
	return 1;
}

void
st_blobcall_listed(struct st_call *c, const char *token)
{
	if (token != NULL && st_cursor_wrap(c, token) == -1) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	c->status = ST_OK;
	st_call_done(c);
}

/* ---------------------------------------------------------------- the end */

void
st_blobcall_stop(struct st_call *c)
{
	struct st_blobcall *bc = of(c);

	st_stream_leave(&bc->stream);
	st_put_release(&bc->put);
	if (bc->pc != NULL)
		st_pcall_cancel(bc->pc);
}

void
st_blobcall_free(struct st_call *c)
{
	struct st_blobcall *bc = of(c);

	st_pcall_free(bc->pc);
	st_stream_destroy(&bc->stream);
	free(bc);
	c->backend_data = NULL;
}
