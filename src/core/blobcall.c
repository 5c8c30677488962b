/*
 * blobcall.c - the parts of a blob call that are the same for every
 * provider (see blobcall.h).
 *
 * backend_data points to the provider's call, which begins with a struct
 * st_blobcall: the first member of a struct is at its address, so the
 * core reaches it without knowing the rest.
 */
#include <stdlib.h>

#include "core/blobcall.h"

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
