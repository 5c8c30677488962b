/*
 * blob.c - the blob service: from a decoded blob request to the backend
 * calls that answer it.
 *
 * A front end (the v1 HTTP codec, blob_api.c; later an S3-compatible one)
 * decodes and checks what the application sent, and keeps for itself
 * everything about its protocol: headers, status codes, bodies of JSON.
 * What it hands over is codec-neutral: a `struct st_blob` for the store,
 * the request half of a `struct st_call` filled in (backend.h: key, range,
 * conditions, metadata, method...), and a pair of hooks through which any
 * call of the request wakes the front end. Here, the calls are made,
 * started on the store's backend and driven; the front end reads the
 * outcome from st_blob_answer() and turns it into its own answer.
 *
 * Nothing here waits. Each function goes as far as the backends let it
 * and says when it cannot go on: the front end parks its connection and
 * steps again once a hook woke it (a wake that came before the park means
 * "step again now"; the front end's parking must see to that).
 *
 * The streamed copy
 * -----------------
 * A copy between stores that cannot copy server-side (other providers,
 * or other accounts), or that the provider refused to copy itself (S3
 * copies at most 5 GiB in one request), streams through the service: a
 * GET on the source feeds a PUT on the target through one buffer. It is
 * a small state machine, st_blob_step() moving it on:
 *
 *   SOURCE   the source's GET is under way; once done, its size is
 *            checked against the target's limit and the target's PUT
 *            begins with the source's type and metadata
 *   MOVE     bytes go from read() to write() until either side has
 *            nothing to give or no room (then: wait for a wake), the
 *            source ends, or the target gave up
 *   END      put_end was called; the target's commit is awaited
 *
 * Either side being slow only makes the step return 0; either backend's
 * wake brings the front end back.
 */
#include <stdlib.h>
#include <string.h>

#include "core/blob.h"
#include "core/presign.h"

#define PUMP_BUF (256 * 1024)

enum pump_stage {
	PUMP_SOURCE,
	PUMP_MOVE,
	PUMP_END
};

struct st_blob_pump {
	enum pump_stage	 stage;
	char		*src_key;
	/* the target's request, kept from the COPY call it replaces */
	const char	*key;
	size_t		 keylen;
	const char	*if_match;
	const char	*if_none_match;
	size_t		 len;		/* bytes in buf not yet written */
	size_t		 off;
	int		 eof;
	char		 buf[PUMP_BUF];
};

static const struct st_blob_ops *
store_ops(const struct st_blob *b)
{
	return b->store.backend->blob;
}

/* ---------------------------------------------------------------- life */

struct st_blob *
st_blob_new(const struct st_blob_store *store,
            const struct st_call_hooks *hooks, const char *request_id)
{
	struct st_blob *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->store = *store;
	b->hooks = *hooks;
	b->request_id = request_id;
	return b;
}

static void
pump_free(struct st_blob_pump *p)
{
	if (p != NULL)
		free(p->src_key);
	free(p);
}

void
st_blob_free(struct st_blob *b)
{
	if (b == NULL)
		return;
	st_call_free(b->call, store_ops(b));
	st_call_free(b->src_call, b->src_ops);
	pump_free(b->pump);
	st_buf_free(&b->head);
	free(b);
}

/* ---------------------------------------------------------------- calls */

/* A call on `store` that wakes the front end. */
static struct st_call *
new_call(struct st_blob *b, const struct st_blob_store *store, enum st_op op)
{
	struct st_call *c = st_call_new(op, &b->hooks);

	if (c == NULL)
		return NULL;
	c->request_id = b->request_id;
	c->store = store->handle;
	c->store_name = store->name;
	return c;
}

struct st_call *
st_blob_call(struct st_blob *b, enum st_op op)
{
	struct st_call *c = new_call(b, &b->store, op);

	if (c == NULL)
		return NULL;
	if (op == ST_OP_PUT || op == ST_OP_COPY)
		c->max_size = b->store.max_size;
	b->call = c;
	return c;
}

/* The backend operation that starts a call of `op`; NULL: none. */
static void (*
op_start(const struct st_blob_ops *ops, enum st_op op))(struct st_call *)
{
	switch (op) {
	case ST_OP_HEAD:
		return ops->head;
	case ST_OP_GET:
		return ops->get;
	case ST_OP_PUT:
		return ops->put_begin;
	case ST_OP_DELETE:
		return ops->del;
	case ST_OP_LIST:
		return ops->list;
	case ST_OP_COPY:
		return ops->copy;
	case ST_OP_PRESIGN:
		return ops->presign;
	default:
		return NULL;
	}
}

void
st_blob_start(struct st_blob *b)
{
	void (*start)(struct st_call *) = op_start(store_ops(b), b->call->op);

	/* backend.h: an operation a backend leaves out is not supported,
	 * but for presigning: the daemon signs URLs it serves itself */
	if (start == NULL && b->call->op == ST_OP_PRESIGN)
		st_presign_daemon_url(b->call, b->store.presign_key,
		    b->store.presign_keylen);
	else if (start == NULL)
		st_call_fail(b->call, ST_NOT_SUPPORTED, NULL, "this store "
		    "cannot do that");
	else
		start(b->call);
}

struct st_call *
st_blob_answer(struct st_blob *b)
{
	return b->answer != NULL ? b->answer : b->call;
}

/* ---------------------------------------------------------------- PUT */

long
st_blob_write(struct st_blob *b, const char *data, size_t len)
{
	struct st_call *c = b->call;
	uint64_t limit = b->store.max_size;
	long n;

	if (st_call_is_done(c))		/* the backend gave up */
		return -1;
	if (limit > 0 && b->written + len > limit) {
		st_call_fail(c, ST_TOO_LARGE, NULL, "the object is larger than "
		    "this store's limit of %llu bytes", (unsigned long long)limit);
		return -1;
	}
	n = store_ops(b)->write(c, data, len);
	if (n < 0)
		return -1;
	b->written += (uint64_t)n;
	return n;
}

void
st_blob_put_end(struct st_blob *b)
{
	if (!st_call_is_done(b->call) && !b->ended) {
		b->ended = 1;
		store_ops(b)->put_end(b->call);
	}
}

/* ---------------------------------------------------------------- GET */

int
st_blob_fd(struct st_blob *b, int *fd, uint64_t *offset)
{
	if (store_ops(b)->get_fd == NULL)
		return -1;
	return store_ops(b)->get_fd(b->call, fd, offset) == 0 ? 0 : -1;
}

int
st_blob_take_whole(struct st_blob *b, size_t max)
{
	struct st_call *c = b->call;
	size_t len = (size_t)c->body_length;
	long n;

	if (c->body_length > max || st_buf_reserve(&b->head, len) == -1)
		return 0;
	while (b->head.len < len) {
		n = store_ops(b)->read(c, b->head.data + b->head.len,
		    len - b->head.len);
		if (n <= 0)
			return 0;
		b->head.len += (size_t)n;
	}
	return 1;
}

long
st_blob_read(struct st_blob *b, uint64_t pos, char *buf, size_t max)
{
	size_t n;

	/* First what st_blob_take_whole() already took from the backend. */
	if (pos < b->head.len) {
		n = b->head.len - (size_t)pos < max ? b->head.len - (size_t)pos :
		    max;
		memcpy(buf, b->head.data + pos, n);
		return (long)n;
	}
	return store_ops(b)->read(b->call, buf, max);
}

/* ---------------------------------------------------------------- copy */

/* Can the store's backend copy from src itself? */
static int
copies_itself(const struct st_blob *b, const struct st_blob_store *src)
{
	const struct st_backend *be = b->store.backend;

	if (src->backend != be || be->blob->copy == NULL)
		return 0;
	return src->handle == b->store.handle || (be->same_account != NULL &&
	    be->same_account(src->handle, b->store.handle));
}

/*
 * Replaces the COPY call with a streamed copy: keeps the target's request
 * from it, drops it (released when it was started) and starts the GET on
 * the source.
 */
static int
pump_start(struct st_blob *b, const struct st_blob_store *src,
           const char *src_key, int started)
{
	struct st_call *copy = b->call, *s;
	struct st_blob_pump *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	if ((p->src_key = strdup(src_key)) == NULL) {
		free(p);
		return -1;
	}
	p->key = copy->key;
	p->keylen = copy->keylen;
	p->if_match = copy->if_match;
	p->if_none_match = copy->if_none_match;
	b->pump = p;
	st_call_free_with(copy, started ? store_ops(b)->release : NULL);
	b->call = NULL;
	if ((s = new_call(b, src, ST_OP_GET)) == NULL)
		return -1;
	s->key = p->src_key;
	s->keylen = strlen(p->src_key);
	b->src_call = s;
	b->src_ops = src->backend->blob;
	b->src_ops->get(s);
	return 0;
}

int
st_blob_copy(struct st_blob *b, const struct st_blob_store *src,
             const char *src_key)
{
	struct st_call *c = b->call;

	if (!copies_itself(b, src))
		return pump_start(b, src, src_key, 0);
	if ((c->src_key = st_call_strdup(c, src_key)) == NULL)
		return -1;
	c->src_store = src->handle;
	c->src_store_name = src->name;
	/* kept in case the provider refuses to copy this one itself */
	b->copy_src = *src;
	st_blob_start(b);
	return 0;
}

/* The source is open: begins the target's PUT with its size and type.
 * 0: begun; 1: the outcome is known already; -1: out of memory. */
static int
pump_open_target(struct st_blob *b)
{
	struct st_blob_pump *p = b->pump;
	struct st_call *src = b->src_call, *c;

	if (b->store.max_size > 0 && src->info.size > b->store.max_size) {
		src->status = ST_TOO_LARGE;
		src->provider_code = NULL;
		src->message = st_call_strdup(src, "the source is larger than "
		    "this store's limit");
		b->answer = src;
		return 1;
	}
	if ((c = st_blob_call(b, ST_OP_PUT)) == NULL)
		return -1;
	c->key = p->key;
	c->keylen = p->keylen;
	c->content_type = src->info.content_type ? src->info.content_type :
	    "application/octet-stream";
	c->meta = src->info.meta;
	c->nmeta = src->info.nmeta;
	c->content_length = (int64_t)src->info.size;
	c->if_match = p->if_match;
	c->if_none_match = p->if_none_match;
	st_blob_start(b);
	if (st_call_is_done(c))		/* refused before any byte */
		return 1;
	p->stage = PUMP_MOVE;
	return 0;
}

/* Moves bytes until one side must wait (0) or the moving is over (1). */
static int
pump_move(struct st_blob *b)
{
	struct st_blob_pump *p = b->pump;
	long n;

	for (;;) {
		if (st_call_is_done(b->call))
			return 1;		/* the target gave up */
		if (p->len > 0) {
			n = store_ops(b)->write(b->call, p->buf + p->off, p->len);
			if (n < 0)
				return 1;
			if (n == 0)
				return 0;
			p->off += (size_t)n;
			p->len -= (size_t)n;
			b->written += (uint64_t)n;
			continue;
		}
		if (p->eof)
			return 1;
		n = b->src_ops->read(b->src_call, p->buf, sizeof(p->buf));
		if (n == ST_EOF) {
			p->eof = 1;
		} else if (n < 0) {
			st_call_fail(b->call, ST_PROVIDER_ERROR, NULL, "the copy's "
			    "source broke off");
			return 1;
		} else if (n == 0) {
			return 0;
		} else {
			p->off = 0;
			p->len = (size_t)n;
		}
	}
}

static int
pump_step(struct st_blob *b)
{
	struct st_blob_pump *p = b->pump;
	int rc;

	if (p->stage == PUMP_SOURCE) {
		if (!st_call_is_done(b->src_call))
			return 0;
		if (b->src_call->status != ST_OK) {
			b->answer = b->src_call;
			return 1;
		}
		if ((rc = pump_open_target(b)) != 0)
			return rc;
	}
	if (p->stage == PUMP_MOVE) {
		if (!pump_move(b))
			return 0;
		p->stage = PUMP_END;
		st_blob_put_end(b);
	}
	return st_call_is_done(b->call);
}

/* ---------------------------------------------------------------- step */

int
st_blob_step(struct st_blob *b)
{
	struct st_call *c = b->call;

	if (b->pump != NULL)
		return pump_step(b);
	if (!st_call_is_done(c))
		return 0;
	/* The provider cannot copy this one itself (S3 copies at most 5 GiB
	 * in one request): the service streams it. */
	if (c->op == ST_OP_COPY && c->status == ST_NOT_SUPPORTED) {
		if (pump_start(b, &b->copy_src, c->src_key, 1) == -1)
			return -1;
		return pump_step(b);
	}
	return 1;
}
