/*
 * call.c - one backend call's memory and completion.
 *
 * A call owns a small arena: everything allocated with st_call_alloc and
 * friends is freed in one go with the call, so backends and handlers do not
 * track strings one by one. Completion is a flag plus a hook: the HTTP
 * layer supplies the hook, which resumes the application's connection when
 * the backend finishes on another thread.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/call.h"
#include "core/json.h"

struct arena_block {
	struct arena_block *next;
	/* payload follows, aligned */
	max_align_t data[];
};

struct st_call_core {
	struct st_call_hooks	 hooks;
	struct arena_block	*blocks;
	atomic_int		 done;	/* set on any thread, read by the HTTP layer */
	/* listing */
	yajl_gen		 items;
	yajl_gen		 prefixes;
	unsigned		 nlisted;
	/* queue RECEIVE, table GET and QUERY (malloc'ed, grown by doubling;
	 * their strings live in the arena) */
	struct st_call_message	*msgs;
	size_t			 nmsgs, msgs_cap;
	struct st_call_row	*rows;
	size_t			 nrows, rows_cap;
};

struct st_call *
st_call_new(enum st_op op, const struct st_call_hooks *hooks)
{
	struct st_call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if ((c->core = calloc(1, sizeof(*c->core))) == NULL) {
		free(c);
		return NULL;
	}
	c->op = op;
	if (hooks != NULL)
		c->core->hooks = *hooks;
	return c;
}

void
st_call_free(struct st_call *c, const struct st_blob_ops *ops)
{
	st_call_free_with(c, ops != NULL ? ops->release : NULL);
}

static void
free_rows(struct st_call_core *core)
{
	size_t i;

	for (i = 0; i < core->nrows; i++)
		free(core->rows[i].props);
	free(core->rows);
	core->rows = NULL;
	core->nrows = core->rows_cap = 0;
}

void
st_call_free_with(struct st_call *c, void (*release)(struct st_call *))
{
	struct arena_block *b, *next;

	if (c == NULL)
		return;
	if (release != NULL)
		release(c);
	free(c->core->msgs);
	free_rows(c->core);
	for (b = c->core->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	if (c->core->items != NULL)
		yajl_gen_free(c->core->items);
	if (c->core->prefixes != NULL)
		yajl_gen_free(c->core->prefixes);
	free(c->core);
	free(c);
}

void *
st_call_alloc(struct st_call *c, size_t n)
{
	struct arena_block *b = calloc(1, sizeof(*b) + n + 1);

	if (b == NULL)
		return NULL;
	b->next = c->core->blocks;
	c->core->blocks = b;
	return b->data;
}

char *
st_call_strndup(struct st_call *c, const char *s, size_t n)
{
	char *p = st_call_alloc(c, n + 1);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

char *
st_call_strdup(struct st_call *c, const char *s)
{
	return s == NULL ? NULL : st_call_strndup(c, s, strlen(s));
}

void
st_call_done(struct st_call *c)
{
	c->core->done = 1;
	if (c->core->hooks.done != NULL)
		c->core->hooks.done(c, c->core->hooks.ctx);
}

void
st_call_wake(struct st_call *c)
{
	if (c->core->hooks.wake != NULL)
		c->core->hooks.wake(c, c->core->hooks.ctx);
}

int
st_call_is_done(struct st_call *c)
{
	return c->core->done;
}

void
st_call_fail(struct st_call *c, enum st_status status, const char *provider_code,
             const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->status = status;
	c->provider_code = st_call_strdup(c, provider_code);
	c->message = st_call_strdup(c, msg);
	st_call_done(c);
}

static yajl_gen
list_gen(yajl_gen *g)
{
	if (*g == NULL && (*g = st_json_new()) != NULL)
		yajl_gen_array_open(*g);
	return *g;
}

int
st_call_list_item(struct st_call *c, const char *key, uint64_t size,
                  const char *etag, time_t last_modified)
{
	yajl_gen g = list_gen(&c->core->items);
	char when[32];
	struct tm tm;

	if (g == NULL)
		return -1;
	gmtime_r(&last_modified, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	yajl_gen_map_open(g);
	st_json_key_str(g, "key", key);
	st_json_key_uint(g, "size", size);
	st_json_key_str(g, "etag", etag);
	st_json_key_str(g, "last_modified", when);
	yajl_gen_map_close(g);
	c->core->nlisted++;
	return 0;
}

int
st_call_list_prefix(struct st_call *c, const char *prefix)
{
	yajl_gen g = list_gen(&c->core->prefixes);

	if (g == NULL)
		return -1;
	st_json_str(g, prefix);
	c->core->nlisted++;
	return 0;
}

void
st_call_list_reset(struct st_call *c)
{
	if (c->core->items != NULL)
		yajl_gen_free(c->core->items);
	if (c->core->prefixes != NULL)
		yajl_gen_free(c->core->prefixes);
	c->core->items = c->core->prefixes = NULL;
	c->core->nlisted = 0;
}

unsigned
st_call_list_count(struct st_call *c)
{
	return c->core->nlisted;
}

static int
list_array(yajl_gen g, struct st_buf *out)
{
	if (g == NULL)
		return st_buf_adds(out, "[]");
	yajl_gen_array_close(g);
	return st_json_flush(g, out);
}

int
st_call_list_json(struct st_call *c, struct st_buf *out)
{
	yajl_gen g;
	int rc = 0;

	rc |= st_buf_adds(out, "{\"items\":");
	rc |= list_array(c->core->items, out);
	rc |= st_buf_adds(out, ",\"prefixes\":");
	rc |= list_array(c->core->prefixes, out);
	rc |= st_buf_adds(out, ",\"next_cursor\":");
	if ((g = st_json_new()) == NULL)
		return -1;
	st_json_str(g, c->next_cursor);
	rc |= st_json_flush(g, out);
	yajl_gen_free(g);
	rc |= st_buf_adds(out, "}");
	return rc == 0 && !out->failed ? 0 : -1;
}

/* ---------------------------------------------------------------- queues */

/* Makes room for one more element of size `size` in *v (count n, capacity
 * *cap). 0, or -1 out of memory. */
static int
grow(void **v, size_t n, size_t *cap, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	if ((p = realloc(*v, ncap * size)) == NULL)
		return -1;
	*v = p;
	*cap = ncap;
	return 0;
}

int
st_call_queue_message(struct st_call *c, const char *id, const char *receipt,
                      const char *body, size_t bodylen, unsigned dequeue_count,
                      time_t enqueued_at)
{
	struct st_call_core *core = c->core;
	struct st_call_message *m;

	if (grow((void **)&core->msgs, core->nmsgs, &core->msgs_cap,
	    sizeof(*m)) == -1)
		return -1;
	m = &core->msgs[core->nmsgs];
	m->id = st_call_strdup(c, id);
	m->receipt = st_call_strdup(c, receipt);
	m->body = st_call_strndup(c, body, bodylen);
	m->bodylen = bodylen;
	m->dequeue_count = dequeue_count;
	m->enqueued_at = enqueued_at;
	if (m->id == NULL || m->receipt == NULL || m->body == NULL)
		return -1;
	core->nmsgs++;
	return 0;
}

unsigned
st_call_queue_count(struct st_call *c)
{
	return (unsigned)c->core->nmsgs;
}

void
st_call_queue_reset(struct st_call *c)
{
	c->core->nmsgs = 0;
}

const struct st_call_message *
st_call_queue_messages(struct st_call *c, size_t *n)
{
	*n = c->core->nmsgs;
	return c->core->msgs;
}

/* ---------------------------------------------------------------- tables */

int
st_call_table_row(struct st_call *c, const char *rk, size_t rklen,
                  const char *etag)
{
	struct st_call_core *core = c->core;
	struct st_call_row *r;

	if (grow((void **)&core->rows, core->nrows, &core->rows_cap,
	    sizeof(*r)) == -1)
		return -1;
	r = &core->rows[core->nrows];
	memset(r, 0, sizeof(*r));
	r->rk = st_call_strndup(c, rk, rklen);
	r->rklen = rklen;
	r->etag = st_call_strdup(c, etag);
	if (r->rk == NULL || r->etag == NULL)
		return -1;
	core->nrows++;
	return 0;
}

int
st_call_table_prop(struct st_call *c, const struct st_prop *p)
{
	struct st_call_core *core = c->core;
	struct st_call_row *r;
	struct st_prop *q;
	size_t cap;

	if (core->nrows == 0)
		return -1;
	r = &core->rows[core->nrows - 1];
	cap = r->nprops;	/* grown one at a time: at most 250 */
	if ((q = realloc(r->props, (cap + 1) * sizeof(*q))) == NULL)
		return -1;
	r->props = q;
	q = &r->props[r->nprops];
	*q = *p;
	q->name = st_call_strdup(c, p->name);
	if (p->type == ST_VALUE_STRING)
		q->s = st_call_strndup(c, p->s, p->slen);
	if (q->name == NULL || (p->type == ST_VALUE_STRING && q->s == NULL))
		return -1;
	r->nprops++;
	return 0;
}

unsigned
st_call_table_count(struct st_call *c)
{
	return (unsigned)c->core->nrows;
}

void
st_call_table_reset(struct st_call *c)
{
	free_rows(c->core);
}

const struct st_call_row *
st_call_table_rows(struct st_call *c, size_t *n)
{
	*n = c->core->nrows;
	return c->core->rows;
}
