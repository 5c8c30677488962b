/*
 * memory.c - a provider plugin built outside the stratus tree: blob stores
 * kept in the daemon's memory, gone when it stops.
 *
 * It shows what a backend is, with nothing but the installed kit
 * (pkg-config stratus-backend): the versioned `struct st_backend` the
 * daemon finds by the symbol `stratus_backend`, a store opened from its
 * configuration group, and the blob operations, each ending with
 * st_call_done or st_call_fail. The daemon has already checked every
 * input (key, range, conditions, metadata names); a backend only decides
 * what the operation means for its storage.
 *
 *   stores = ( { name = "scratch"; kind = "blob"; provider = "memory";
 *                max_bytes = "64 MiB"; } );
 *
 * The design is the smallest that keeps the API's promises: objects in a
 * list sorted by key, under one lock per store; an upload collects its
 * body in the call and replaces the object only in put_end, so a failed
 * or abandoned upload never shows; a download reads a copy taken when it
 * began, so a concurrent overwrite never mixes two versions. Copies and
 * presigned URLs are left to the core (copy and presign are NULL). Not
 * for production: every byte lives in the daemon's memory.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stratus/backend.h>

#include "core/buf.h"
#include "core/confval.h"
#include "core/validate.h"
#include "sign/hmac.h"

struct mem_obj {
	struct mem_obj	*next;		/* the next key in byte order */
	char		*key;
	size_t		 keylen;
	char		*data;
	size_t		 len;
	char		 etag[32];	/* quoted */
	char		*content_type;
	struct st_meta	*meta;		/* X-Meta-* of the upload */
	size_t		 nmeta;
	time_t		 mtime;
};

struct mem_store {
	pthread_mutex_t	 lock;
	struct mem_obj	*objs;
	uint64_t	 used;		/* bytes of data held */
	uint64_t	 max_bytes;	/* 0: no limit */
	unsigned long	 serial;	/* makes ETags */
};

/* What one call holds: an upload's body, or a download's copy. */
struct mem_call {
	struct st_buf	 body;
	size_t		 pos;
};

static const char *const mem_keys[] = {
	"name", "kind", "provider", "max_bytes", "max_object_size",
	"allow_anonymous", NULL
};

/* ---------------------------------------------------------------- store */

static int
mem_open(const config_setting_t *conf, const struct st_store_env *env,
         void **out, char *err, size_t errlen)
{
	struct mem_store *s;
	uint64_t max = 0;

	(void)env;
	if (st_conf_only_keys(conf, mem_keys, err, errlen) == -1 ||
	    st_conf_size(conf, "max_bytes", 0, UINT64_MAX, &max, err,
	    errlen) == -1)
		return -1;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->max_bytes = max;
	*out = s;
	return 0;
}

static void
obj_free(struct mem_obj *o)
{
	size_t i;

	for (i = 0; i < o->nmeta; i++) {
		free(o->meta[i].name);
		free(o->meta[i].value);
	}
	free(o->meta);
	free(o->key);
	free(o->data);
	free(o->content_type);
	free(o);
}

static void
mem_close(void *p)
{
	struct mem_store *s = p;
	struct mem_obj *o, *next;

	for (o = s->objs; o != NULL; o = next) {
		next = o->next;
		obj_free(o);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Byte order of two keys, as listings need. */
static int
key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int d = memcmp(a, b, alen < blen ? alen : blen);

	return d != 0 ? d : (alen > blen) - (alen < blen);
}

/* Where key is, or would go: *at points at the link to it. Under lock. */
static struct mem_obj **
find(struct mem_store *s, const char *key, size_t keylen, int *found)
{
	struct mem_obj **at = &s->objs;
	int d = 1;

	while (*at != NULL && (d = key_cmp((*at)->key, (*at)->keylen, key,
	    keylen)) < 0)
		at = &(*at)->next;
	*found = *at != NULL && d == 0;
	return at;
}

/* ---------------------------------------------------------------- calls */

static struct mem_call *
mc_of(struct st_call *c)
{
	if (c->backend_data == NULL)
		c->backend_data = calloc(1, sizeof(struct mem_call));
	return c->backend_data;
}

/* The object's information into the call (copies: the call outlives
 * the lock). */
static void
set_info(struct st_call *c, const struct mem_obj *o)
{
	size_t i;

	c->info.size = o->len;
	c->info.etag = st_call_strdup(c, o->etag);
	c->info.last_modified = o->mtime;
	c->info.content_type = st_call_strdup(c, o->content_type);
	if (o->nmeta == 0 || (c->info.meta = st_call_alloc(c, o->nmeta *
	    sizeof(*c->info.meta))) == NULL)
		return;
	for (i = 0; i < o->nmeta; i++) {
		c->info.meta[i].name = st_call_strdup(c, o->meta[i].name);
		c->info.meta[i].value = st_call_strdup(c, o->meta[i].value);
	}
	c->info.nmeta = o->nmeta;
}

/* HEAD and GET: the object's information, its conditions, and for GET a
 * copy of the bytes asked for. */
static void
lookup(struct st_call *c, int head)
{
	struct mem_store *s = c->store;
	struct mem_call *mc = mc_of(c);
	struct mem_obj *o;
	int found;

	if (mc == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	pthread_mutex_lock(&s->lock);
	o = *find(s, c->key, c->keylen, &found);
	if (!found) {
		pthread_mutex_unlock(&s->lock);
		st_call_fail(c, ST_NOT_FOUND, NULL, "no such object");
		return;
	}
	set_info(c, o);
	if (c->if_match != NULL && !st_etag_match(c->if_match, o->etag, 0)) {
		pthread_mutex_unlock(&s->lock);
		st_call_fail(c, ST_PRECONDITION, NULL, "If-Match does not match");
		return;
	}
	if (c->if_none_match != NULL && st_etag_match(c->if_none_match,
	    o->etag, 1)) {
		pthread_mutex_unlock(&s->lock);
		c->status = ST_NOT_MODIFIED;
		st_call_done(c);
		return;
	}
	if (!head && st_resolve_range(&c->range, o->len, &c->body_first,
	    &c->body_length) == -1) {
		pthread_mutex_unlock(&s->lock);
		st_call_fail(c, ST_RANGE, NULL, "the range is outside the object");
		return;
	}
	if (head || !c->range.set) {
		c->body_first = 0;
		c->body_length = o->len;
	}
	c->partial = c->range.set && !head;
	if (!head)
		st_buf_add(&mc->body, o->data + c->body_first, c->body_length);
	pthread_mutex_unlock(&s->lock);
	if (mc->body.failed) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	c->status = ST_OK;
	st_call_done(c);
}

static void
mem_head(struct st_call *c)
{
	lookup(c, 1);
}

static void
mem_get(struct st_call *c)
{
	lookup(c, 0);
}

static long
mem_read(struct st_call *c, char *buf, size_t cap)
{
	struct mem_call *mc = c->backend_data;
	size_t n = mc->body.len - mc->pos;

	if (n == 0)
		return ST_EOF;
	if (n > cap)
		n = cap;
	memcpy(buf, mc->body.data + mc->pos, n);
	mc->pos += n;
	return (long)n;
}

static void
mem_put_begin(struct st_call *c)
{
	struct mem_store *s = c->store;

	if (mc_of(c) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (s->max_bytes != 0 && c->content_length > 0 &&
	    (uint64_t)c->content_length > s->max_bytes) {
		st_call_fail(c, ST_TOO_LARGE, NULL, "the object is larger than "
		    "the store (max_bytes)");
		return;
	}
	/* Nothing to prepare: the body is collected by write. */
}

static long
mem_write(struct st_call *c, const char *buf, size_t len)
{
	struct mem_call *mc = c->backend_data;

	if (st_buf_add(&mc->body, buf, len) == -1 || mc->body.failed)
		return ST_ERROR;
	return (long)len;
}

/* The upload's metadata, copied into o. 0 or -1. */
static int
take_meta(struct mem_obj *o, const struct st_call *c)
{
	size_t i;

	if (c->nmeta == 0)
		return 0;
	if ((o->meta = calloc(c->nmeta, sizeof(*o->meta))) == NULL)
		return -1;
	for (i = 0; i < c->nmeta; i++, o->nmeta++) {
		o->meta[i].name = strdup(c->meta[i].name);
		o->meta[i].value = strdup(c->meta[i].value);
		if (o->meta[i].name == NULL || o->meta[i].value == NULL) {
			o->nmeta++;
			return -1;
		}
	}
	return 0;
}

/* A new object of key from the call's body, not yet in the list. */
static struct mem_obj *
obj_new(struct st_call *c, struct mem_call *mc, unsigned long serial)
{
	struct mem_obj *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->key = malloc(c->keylen + 1);
	o->content_type = strdup(c->content_type);
	if (o->key == NULL || o->content_type == NULL ||
	    take_meta(o, c) == -1) {
		obj_free(o);
		return NULL;
	}
	memcpy(o->key, c->key, c->keylen);
	o->key[c->keylen] = '\0';
	o->keylen = c->keylen;
	o->len = mc->body.len;
	o->data = st_buf_take(&mc->body);	/* NULL for an empty body */
	snprintf(o->etag, sizeof(o->etag), "\"m%lu\"", serial);
	o->mtime = time(NULL);
	return o;
}

/* The whole body is here: the object replaces the previous one. */
static void
mem_put_end(struct st_call *c)
{
	struct mem_store *s = c->store;
	struct mem_call *mc = c->backend_data;
	struct mem_obj **at, *o, *old;
	unsigned char md5[16];
	int found;

	if (c->has_md5) {
		st_md5(mc->body.data, mc->body.len, md5);
		if (memcmp(md5, c->md5, sizeof(md5)) != 0) {
			st_call_fail(c, ST_BAD_DIGEST, NULL, "the body does not "
			    "match Content-MD5");
			return;
		}
	}
	pthread_mutex_lock(&s->lock);
	at = find(s, c->key, c->keylen, &found);
	old = found ? *at : NULL;
	if (c->if_match != NULL && (old == NULL ||
	    !st_etag_match(c->if_match, old->etag, 0))) {
		pthread_mutex_unlock(&s->lock);
		st_call_fail(c, ST_PRECONDITION, NULL, "If-Match does not match");
		return;
	}
	if (c->if_none_match != NULL && old != NULL &&
	    st_etag_match(c->if_none_match, old->etag, 1)) {
		pthread_mutex_unlock(&s->lock);
		st_call_fail(c, ST_PRECONDITION, NULL, "the object exists");
		return;
	}
	if (s->max_bytes != 0 && s->used - (old ? old->len : 0) +
	    mc->body.len > s->max_bytes) {
		pthread_mutex_unlock(&s->lock);
		st_call_fail(c, ST_TOO_LARGE, NULL, "the store is full (max_bytes)");
		return;
	}
	if ((o = obj_new(c, mc, ++s->serial)) == NULL) {
		pthread_mutex_unlock(&s->lock);
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	o->next = old != NULL ? old->next : *at;
	*at = o;
	s->used += o->len - (old ? old->len : 0);
	set_info(c, o);
	pthread_mutex_unlock(&s->lock);
	if (old != NULL)
		obj_free(old);
	c->status = ST_OK;
	st_call_done(c);
}

static void
mem_del(struct st_call *c)
{
	struct mem_store *s = c->store;
	struct mem_obj **at, *o = NULL;
	int found;

	pthread_mutex_lock(&s->lock);
	at = find(s, c->key, c->keylen, &found);
	if (c->if_match != NULL && (!found ||
	    !st_etag_match(c->if_match, (*at)->etag, 0))) {
		pthread_mutex_unlock(&s->lock);
		st_call_fail(c, ST_PRECONDITION, NULL, "If-Match does not match");
		return;
	}
	if (found) {
		o = *at;
		*at = o->next;
		s->used -= o->len;
	}
	pthread_mutex_unlock(&s->lock);
	if (o != NULL)
		obj_free(o);
	c->status = found ? ST_OK : ST_NOT_FOUND;
	st_call_done(c);
}

/*
 * A listing's cursor is where the last page stopped, in plain text: 'k'
 * and a key (go on after that key) or 'p' and a common prefix (go on
 * after every key under it). Anything else was never given: 400.
 */
static int
before_cursor(const struct mem_obj *o, const char *cursor)
{
	size_t n;

	if (cursor == NULL || cursor[0] == '\0')
		return 0;
	n = strlen(cursor + 1);
	if (cursor[0] == 'p' && o->keylen >= n &&
	    memcmp(o->key, cursor + 1, n) == 0)
		return 1;
	return key_cmp(o->key, o->keylen, cursor + 1, n) <= 0;
}

/* The common prefix of o under the listing's prefix and delimiter, as a
 * length of its key; 0 when o is listed as itself. */
static size_t
rolled_up(const struct st_call *c, const struct mem_obj *o, size_t plen)
{
	const char *d;

	if (c->delimiter == NULL)
		return 0;
	if ((d = strstr(o->key + plen, c->delimiter)) == NULL)
		return 0;
	return (size_t)(d - o->key) + strlen(c->delimiter);
}

/*
 * A listing: keys after the cursor that start with the prefix, in byte
 * order; with a delimiter, those that have it after the prefix are
 * rolled up into one common prefix each.
 */
static void
mem_list(struct st_call *c)
{
	struct mem_store *s = c->store;
	size_t plen = strlen(c->prefix), len, lastlen = 0;
	char *cursor, mode = 'k';
	const char *last = NULL;
	unsigned n = 0;
	struct mem_obj *o;
	int rc = 0;

	if (c->cursor != NULL && c->cursor[0] != 'k' && c->cursor[0] != 'p') {
		st_call_fail(c, ST_BAD_REQUEST, NULL, "not a cursor of this store");
		return;
	}
	pthread_mutex_lock(&s->lock);
	for (o = s->objs; o != NULL && rc == 0; o = o->next) {
		if (o->keylen < plen || memcmp(o->key, c->prefix, plen) != 0 ||
		    before_cursor(o, c->cursor))
			continue;
		len = rolled_up(c, o, plen);
		if (len > 0 && last != NULL && mode == 'p' && lastlen == len &&
		    memcmp(last, o->key, len) == 0)
			continue;		/* the same common prefix again */
		if (n++ == c->limit)
			break;
		if (len > 0) {
			char *p = st_call_strndup(c, o->key, len);

			rc = p != NULL ? st_call_list_prefix(c, p) : -1;
		} else {
			rc = st_call_list_item(c, o->key, o->len, o->etag, o->mtime);
		}
		mode = len > 0 ? 'p' : 'k';
		last = o->key;
		lastlen = len > 0 ? len : o->keylen;
	}
	if (rc == 0 && o != NULL && last != NULL) {
		/* A page is full and more keys follow. */
		if ((cursor = st_call_alloc(c, lastlen + 2)) == NULL)
			rc = -1;
		else {
			cursor[0] = mode;
			memcpy(cursor + 1, last, lastlen);
			c->next_cursor = cursor;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (rc == -1) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	c->status = ST_OK;
	st_call_done(c);
}

static void
mem_release(struct st_call *c)
{
	struct mem_call *mc = c->backend_data;

	if (mc != NULL) {
		st_buf_free(&mc->body);
		free(mc);
	}
	c->backend_data = NULL;
}

static int
mem_same_account(void *a, void *b)
{
	(void)a;
	(void)b;
	return 0;	/* no server-side copy: the core streams copies */
}

static const struct st_blob_ops mem_blob_ops = {
	.head = mem_head,
	.get = mem_get,
	.read = mem_read,
	.put_begin = mem_put_begin,
	.write = mem_write,
	.put_end = mem_put_end,
	.del = mem_del,
	.list = mem_list,
	.release = mem_release,
};

const struct st_backend stratus_backend = {
	.version = ST_BACKEND_VERSION,
	.name = "memory",
	.kinds = ST_KIND_BLOB,
	.store_open = mem_open,
	.store_close = mem_close,
	.same_account = mem_same_account,
	.blob = &mem_blob_ops,
};
