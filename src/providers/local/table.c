/*
 * table.c - the local table service: one SQLite database (WAL) per table
 * store, table.db in the store's own directory.
 *
 *   meta(k, v)       "created" while the table exists; "version", the
 *                    store's last version number
 *   entities(pk, rk, version, props)   WITHOUT ROWID, keyed by (pk, rk)
 *
 * Threads: no operation touches SQLite on the caller's thread (an HTTP
 * event loop). Each one hands its call to the store's line (lsql.c) and
 * returns; the store's one thread takes every call waiting, runs them in
 * one transaction with a savepoint each (a failed condition undoes only
 * its own call), commits once (synchronous=FULL with fsync on: one fsync
 * for the whole batch) and only then ends the calls, from its thread.
 * An answered write survives kill -9 (in WAL mode either way) and, with
 * fsync on, a power cut.
 *
 * Keys are BLOBs, so rows of a partition come in UTF-8 byte order. The
 * version of an entity is the store's counter at its last write: it never
 * repeats, not even after a delete and a new insert, nor after the table
 * is dropped and made again (the counter stays in meta). Its decimal text
 * ("42") is the ETag handed out (the core wraps it); If-Match matches that
 * very text only. Conditions are checked in the same transaction as the
 * write, on the store's one thread: of racing writers with the same ETag
 * exactly one wins.
 *
 * Properties are kept as a typed JSON array, [[name, type, value], ...] in
 * the order sent, type one of "s", "i", "d", "b"; a double is written in
 * the shortest form that reads back to the same bits (st_double_text), so
 * every value returns with its type and exact value. They are read back
 * with yajl's callbacks, not a tree, so a string keeps its length even
 * with NUL bytes in it.
 *
 * The cursor of a listing is the lowercase hex of the last row key given;
 * the next page starts just above it (that key and a NUL byte), so a
 * cursor stays good when its row goes away. A prefix is the range
 * [prefix, bound), bound the prefix without its trailing 0xff bytes and
 * its last byte raised by one (or, all 0xff, above every key).
 *
 * Release: see table_release.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "core/buf.h"
#include "core/entity.h"
#include "core/json.h"
#include "providers/local/local.h"
#include "providers/local/lsql.h"
#include "sign/hmac.h"

struct table_store {
	struct local_kind kind;		/* first: ST_KIND_TABLE */
	char		 name[64];
	struct lsql	 sql;
	int64_t		 version;	/* the store's last version */
	sqlite3_stmt	*st_meta, *st_exists, *st_set_meta, *st_drop_meta;
	sqlite3_stmt	*st_drop_all;
	sqlite3_stmt	*st_lookup, *st_get, *st_put, *st_delete, *st_query;
};

static const char *const table_keys[] = {
	"name", "kind", "provider", "path", "fsync", "allow_anonymous", NULL
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);"
	"CREATE TABLE IF NOT EXISTS entities(pk BLOB NOT NULL, rk BLOB NOT NULL,"
	" version INTEGER NOT NULL, props BLOB NOT NULL,"
	" PRIMARY KEY(pk, rk)) WITHOUT ROWID;";

/* ---------------------------------------------------------------- props */

/* One property as [name, type, value]: 0, or -1 a value JSON cannot hold
 * (not UTF-8, not finite). */
static int
encode_prop(yajl_gen g, const struct st_prop *p)
{
	char num[32];
	int rc = 0;

	yajl_gen_array_open(g);
	st_json_str(g, p->name);
	switch (p->type) {
	case ST_VALUE_STRING:
		st_json_str(g, "s");
		if (yajl_gen_string(g, (const unsigned char *)p->s,
		    p->slen) != yajl_gen_status_ok)
			rc = -1;
		break;
	case ST_VALUE_INT:
		st_json_str(g, "i");
		yajl_gen_integer(g, p->i);
		break;
	case ST_VALUE_DOUBLE:
		st_json_str(g, "d");
		if (!isfinite(p->d))
			return -1;
		st_double_text(p->d, num);
		yajl_gen_number(g, num, strlen(num));
		break;
	case ST_VALUE_BOOL:
		st_json_str(g, "b");
		yajl_gen_bool(g, p->b);
		break;
	default:
		return -1;
	}
	yajl_gen_array_close(g);
	return rc;
}

/* The call's properties as stored; on error the call has failed. */
static int
encode_props(struct st_call *c, struct st_buf *out)
{
	const struct st_table_part *t = &c->table;
	yajl_gen g = st_json_new();
	size_t i;
	int rc = 0;

	if (g == NULL) {
		lsql_fail(c, ST_INTERNAL, "out of memory");
		return -1;
	}
	yajl_gen_array_open(g);
	for (i = 0; i < t->nprops && rc == 0; i++) {
		if (encode_prop(g, &t->props[i]) == -1) {
			lsql_fail(c, ST_BAD_REQUEST, "property '%s': not a "
			    "value the table can store", t->props[i].name);
			rc = -1;
		}
	}
	if (rc == 0) {
		yajl_gen_array_close(g);
		if (st_json_flush(g, out) == -1) {
			lsql_fail(c, ST_INTERNAL, "out of memory");
			rc = -1;
		}
	}
	yajl_gen_free(g);
	return rc;
}

/*
 * Reading the properties back: a yajl parse with callbacks rather than a
 * tree, so that a string keeps its length even with NUL bytes in it, and
 * nothing is built that is not given to the call at once. Each value goes
 * to st_call_table_prop as soon as it is read (the call copies it).
 */
struct reader {
	struct st_call	*call;
	int		 depth;		/* 1: the list, 2: a property */
	int		 field;		/* 0 name, 1 type, 2 value, 3 done */
	char		 type;		/* 's', 'i', 'd' or 'b' */
	char		 name[ST_TABLE_NAME_MAX + 1];
};

/* The property's value has been read: hand it to the call. */
static int
r_value(struct reader *r, char type, struct st_prop *p)
{
	if (r->depth != 2 || r->field != 2 || r->type != type)
		return 0;
	r->field++;
	p->name = r->name;
	return st_call_table_prop(r->call, p) == 0;
}

static int
r_string(void *ctx, const unsigned char *v, size_t len)
{
	struct reader *r = ctx;
	struct st_prop p = { 0 };

	if (r->depth != 2)
		return 0;
	switch (r->field) {
	case 0:
		if (len == 0 || len > ST_TABLE_NAME_MAX ||
		    memchr(v, '\0', len) != NULL)
			return 0;
		memcpy(r->name, v, len);
		r->name[len] = '\0';
		r->field++;
		return 1;
	case 1:
		if (len != 1 || strchr("sidb", v[0]) == NULL || v[0] == '\0')
			return 0;
		r->type = (char)v[0];
		r->field++;
		return 1;
	default:
		p.type = ST_VALUE_STRING;
		p.s = (const char *)v;
		p.slen = len;
		return r_value(r, 's', &p);
	}
}

static int
r_number(void *ctx, const char *v, size_t len)
{
	struct reader *r = ctx;
	struct st_prop p = { 0 };
	char text[40], *end;

	if (len == 0 || len >= sizeof(text))
		return 0;
	memcpy(text, v, len);
	text[len] = '\0';
	errno = 0;
	if (r->type == 'i') {
		p.type = ST_VALUE_INT;
		p.i = strtoll(text, &end, 10);
	} else {
		p.type = ST_VALUE_DOUBLE;
		p.d = strtod(text, &end);
	}
	if (*end != '\0' || (p.type == ST_VALUE_INT && errno != 0))
		return 0;
	return r_value(r, p.type == ST_VALUE_INT ? 'i' : 'd', &p);
}

static int
r_bool(void *ctx, int b)
{
	struct st_prop p = { 0 };

	p.type = ST_VALUE_BOOL;
	p.b = b;
	return r_value(ctx, 'b', &p);
}

static int
r_start(void *ctx)
{
	struct reader *r = ctx;

	r->depth++;
	r->field = 0;
	return r->depth <= 2;
}

static int
r_end(void *ctx)
{
	struct reader *r = ctx;

	if (r->depth == 2 && r->field != 3)
		return 0;
	r->depth--;
	return 1;
}

static int
r_refuse(void *ctx)
{
	(void)ctx;
	return 0;
}

static const yajl_callbacks reader_callbacks = {
	.yajl_null = r_refuse,
	.yajl_boolean = r_bool,
	.yajl_number = r_number,
	.yajl_string = r_string,
	.yajl_start_map = r_refuse,
	.yajl_start_array = r_start,
	.yajl_end_array = r_end,
};

/* Adds a row and its stored properties to the call's answer. */
static int
add_row(struct st_call *c, const void *rk, size_t rklen, int64_t version,
        const void *props, size_t len)
{
	struct reader r = { 0 };
	yajl_handle h;
	char etag[32];
	int ok;

	snprintf(etag, sizeof(etag), "%" PRId64, version);
	if (st_call_table_row(c, rk, rklen, etag) == -1)
		return -1;
	r.call = c;
	if ((h = yajl_alloc(&reader_callbacks, NULL, &r)) == NULL)
		return -1;
	ok = yajl_parse(h, props != NULL ? props : (const void *)"",
	    len) == yajl_status_ok &&
	    yajl_complete_parse(h) == yajl_status_ok && r.depth == 0;
	yajl_free(h);
	return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- helpers */

/*
 * Is the table there? Asked of the database each time (one row of a tiny
 * table), not kept in memory: a batch whose commit fails must leave no
 * belief behind. 1 yes, 0 no, -1 the call has failed.
 */
static int
table_exists(struct table_store *s, struct st_call *c)
{
	int rc = sqlite3_step(s->st_exists);

	lsql_done_stmt(s->st_exists);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	lsql_fail(c, ST_INTERNAL, "the table's database failed");
	return -1;
}

/* Fails the call unless the table exists: nonzero then. */
static int
missing(struct table_store *s, struct st_call *c)
{
	int e = table_exists(s, c);

	if (e == 1)
		return 0;
	if (e == 0)
		lsql_fail(c, ST_NOT_FOUND, "table '%s' does not exist (create "
		    "it with PUT /v1/tables/%s)", s->name, s->name);
	return 1;
}

static int
step_ok(struct st_call *c, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	lsql_done_stmt(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	lsql_fail(c, ST_INTERNAL, "the table's database failed");
	return -1;
}

static int
set_meta(struct table_store *s, struct st_call *c, const char *k, int64_t v)
{
	sqlite3_bind_text(s->st_set_meta, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->st_set_meta, 2, v);
	return step_ok(c, s->st_set_meta);
}

/* The entity's current version: 1 found, 0 not, -1 error. */
static int
lookup(struct table_store *s, struct st_call *c, int64_t *version)
{
	sqlite3_stmt *st = s->st_lookup;
	int rc;

	sqlite3_bind_blob(st, 1, c->table.pk, (int)c->table.pklen, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->table.rk, (int)c->table.rklen, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int64(st, 0);
	lsql_done_stmt(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	lsql_fail(c, ST_INTERNAL, "the table's database failed");
	return -1;
}

/* Do If-Match / If-None-Match hold for the entity as it is? */
static int
conditions_hold(const struct st_call *c, int exists, int64_t version)
{
	char current[32];

	if (c->table.if_none_match && exists)
		return 0;
	if (c->table.if_match == NULL)
		return 1;
	if (!exists)
		return 0;
	if (strcmp(c->table.if_match, "*") == 0)
		return 1;
	/* Only the very text handed out: not " 7", "+7" nor "07". */
	snprintf(current, sizeof(current), "%" PRId64, version);
	return strcmp(c->table.if_match, current) == 0;
}

static void
precondition(struct st_call *c)
{
	lsql_fail(c, ST_PRECONDITION, "%s", c->table.if_none_match ?
	    "the entity already exists (If-None-Match)" :
	    "If-Match names no current version of the entity");
}

/* ---------------------------------------------------------------- operations */

static void
do_create(struct table_store *s, struct st_call *c)
{
	int e = table_exists(s, c);

	if (e == -1)
		return;
	c->table.existed = e;
	if (!e)
		set_meta(s, c, "created", 1);
}

/* Drops every entity; the version counter stays (ETags never repeat). */
static void
do_destroy(struct table_store *s, struct st_call *c)
{
	if (step_ok(c, s->st_drop_all) == 0)
		step_ok(c, s->st_drop_meta);
}

static void
do_put(struct table_store *s, struct st_call *c)
{
	struct st_buf props = { 0 };
	int64_t current = 0, next = s->version + 1;
	char etag[32];
	int found;

	if (missing(s, c) || (found = lookup(s, c, &current)) == -1)
		return;
	if (!conditions_hold(c, found, current)) {
		precondition(c);
		return;
	}
	if (encode_props(c, &props) == -1) {
		st_buf_free(&props);
		return;
	}
	sqlite3_bind_blob(s->st_put, 1, c->table.pk, (int)c->table.pklen,
	    SQLITE_STATIC);
	sqlite3_bind_blob(s->st_put, 2, c->table.rk, (int)c->table.rklen,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s->st_put, 3, next);
	sqlite3_bind_blob(s->st_put, 4, props.data, (int)props.len,
	    SQLITE_STATIC);
	if (step_ok(c, s->st_put) == 0 && set_meta(s, c, "version", next) == 0) {
		s->version = next;
		snprintf(etag, sizeof(etag), "%" PRId64, next);
		c->table.existed = found;
		if ((c->table.etag = st_call_strdup(c, etag)) == NULL)
			lsql_fail(c, ST_INTERNAL, "out of memory");
	}
	st_buf_free(&props);
}

static void
do_get(struct table_store *s, struct st_call *c)
{
	sqlite3_stmt *st = s->st_get;
	int rc;

	if (missing(s, c))
		return;
	sqlite3_bind_blob(st, 1, c->table.pk, (int)c->table.pklen, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->table.rk, (int)c->table.rklen, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t version = sqlite3_column_int64(st, 0);
		char etag[32];

		snprintf(etag, sizeof(etag), "%" PRId64, version);
		if ((c->table.etag = st_call_strdup(c, etag)) == NULL ||
		    add_row(c, c->table.rk, c->table.rklen, version,
		    sqlite3_column_blob(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1)) == -1)
			lsql_fail(c, ST_INTERNAL, "the entity could not be read");
	} else if (rc == SQLITE_DONE) {
		lsql_fail(c, ST_NOT_FOUND, "no entity with these keys in table "
		    "'%s'", s->name);
	} else {
		lsql_fail(c, ST_INTERNAL, "the table's database failed");
	}
	lsql_done_stmt(st);
}

static void
do_remove(struct table_store *s, struct st_call *c)
{
	int64_t current = 0;
	int found;

	if (missing(s, c) || (found = lookup(s, c, &current)) == -1)
		return;
	if (!conditions_hold(c, found, current)) {
		precondition(c);
		return;
	}
	if (!found)
		return;			/* deleting what is not there: done */
	sqlite3_bind_blob(s->st_delete, 1, c->table.pk, (int)c->table.pklen,
	    SQLITE_STATIC);
	sqlite3_bind_blob(s->st_delete, 2, c->table.rk, (int)c->table.rklen,
	    SQLITE_STATIC);
	step_ok(c, s->st_delete);
}

/* Keys compare as SQLite compares BLOBs: bytes, then length. */
static int
key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int d = memcmp(a, b, alen < blen ? alen : blen);

	if (d != 0)
		return d;
	return alen < blen ? -1 : alen > blen;
}

/* Lowercase hex into at most cap bytes: the length, or -1. */
static long
hex_decode(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = strlen(hex), i;
	unsigned v;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdef", hex[2 * i]) ||
		    !strchr("0123456789abcdef", hex[2 * i + 1]))
			return -1;
		out[i] = (unsigned char)v;
	}
	return (long)(n / 2);
}

/* The least key above every key that starts with prefix (prefix with its
 * last byte below 0xff raised by one), or the ceiling of all keys. */
static size_t
prefix_bound(const char *prefix, size_t n, unsigned char *out)
{
	memcpy(out, prefix, n);
	while (n > 0 && out[n - 1] == 0xff)
		n--;
	if (n == 0) {
		/* Above every row key: keys are at most 255 bytes. */
		memset(out, 0xff, ST_TABLE_KEY_MAX + 1);
		return ST_TABLE_KEY_MAX + 1;
	}
	out[n - 1]++;
	return n;
}

static void
do_query(struct table_store *s, struct st_call *c)
{
	const struct st_table_part *t = &c->table;
	const char *prefix = t->prefix != NULL ? t->prefix : "";
	unsigned char lo[ST_TABLE_KEY_MAX + 2], hi[ST_TABLE_KEY_MAX + 2];
	size_t lolen = t->prefixlen, hilen;
	sqlite3_stmt *st = s->st_query;
	char cursor[2 * ST_TABLE_KEY_MAX + 1];
	unsigned n = 0;
	long got;
	int rc;

	if (missing(s, c))
		return;
	memcpy(lo, prefix, t->prefixlen);
	if (t->cursor != NULL) {
		/* After the last key given: that key and a NUL byte. */
		got = hex_decode(t->cursor, lo, ST_TABLE_KEY_MAX);
		if (got <= 0) {
			lsql_fail(c, ST_BAD_REQUEST, "not a cursor of this table");
			return;
		}
		lo[got] = '\0';
		lolen = (size_t)got + 1;
		if (key_cmp(lo, lolen, prefix, t->prefixlen) < 0) {
			memcpy(lo, prefix, t->prefixlen);
			lolen = t->prefixlen;
		}
	}
	hilen = prefix_bound(prefix, t->prefixlen, hi);
	sqlite3_bind_blob(st, 1, t->pk, (int)t->pklen, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, lo, (int)lolen, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, hi, (int)hilen, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)t->limit + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *rk = sqlite3_column_blob(st, 0);
		size_t rklen = (size_t)sqlite3_column_bytes(st, 0);

		if (n == t->limit) {	/* one more than asked: not the end */
			if ((c->table.next_cursor = st_call_strdup(c,
			    cursor)) == NULL)
				lsql_fail(c, ST_INTERNAL, "out of memory");
			break;
		}
		if (add_row(c, rk ? rk : "", rklen, sqlite3_column_int64(st, 1),
		    sqlite3_column_blob(st, 2),
		    (size_t)sqlite3_column_bytes(st, 2)) == -1) {
			lsql_fail(c, ST_INTERNAL, "an entity could not be read");
			break;
		}
		st_hex(rk, rklen, cursor);
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		lsql_fail(c, ST_INTERNAL, "the table's database failed");
	lsql_done_stmt(st);
}

static int
table_run(void *store, struct st_call *c, long long now, long long deadline)
{
	struct table_store *s = store;

	(void)now;
	(void)deadline;
	switch (c->op) {
	case ST_OP_TABLE_CREATE:
		do_create(s, c);
		break;
	case ST_OP_TABLE_DELETE:
		do_destroy(s, c);
		break;
	case ST_OP_TABLE_PUT:
		do_put(s, c);
		break;
	case ST_OP_TABLE_GET:
		do_get(s, c);
		break;
	case ST_OP_TABLE_REMOVE:
		do_remove(s, c);
		break;
	case ST_OP_TABLE_QUERY:
		do_query(s, c);
		break;
	default:
		lsql_fail(c, ST_NOT_SUPPORTED, "not a table operation");
		break;
	}
	return LSQL_DONE;
}

/* ---------------------------------------------------------------- ops */

/* The core validates requests; the store still refuses, at once, what
 * would not fit its buffers or its binds. */
static int
request_fits(const struct st_call *c)
{
	const struct st_table_part *t = &c->table;
	int rk = c->op == ST_OP_TABLE_PUT || c->op == ST_OP_TABLE_GET ||
	    c->op == ST_OP_TABLE_REMOVE;

	if ((rk || c->op == ST_OP_TABLE_QUERY) && (t->pk == NULL ||
	    t->pklen == 0 || t->pklen > ST_TABLE_KEY_MAX))
		return 0;
	if (rk && (t->rk == NULL || t->rklen == 0 ||
	    t->rklen > ST_TABLE_KEY_MAX))
		return 0;
	if (c->op == ST_OP_TABLE_PUT && t->nprops > 0 && t->props == NULL)
		return 0;
	return c->op != ST_OP_TABLE_QUERY || (t->prefixlen <=
	    ST_TABLE_KEY_MAX && (t->prefix != NULL || t->prefixlen == 0) &&
	    t->limit >= 1 && t->limit <= ST_TABLE_LIMIT_MAX);
}

static void
submit(struct st_call *c)
{
	struct table_store *s = c->store;

	if (s->sql.db == NULL) {	/* opened to check a configuration */
		st_call_fail(c, ST_UNAVAILABLE, NULL, "table '%s' is not open",
		    s->name);
		return;
	}
	if (!request_fits(c)) {
		st_call_fail(c, ST_BAD_REQUEST, NULL, "keys, prefix or limit "
		    "out of range for table '%s'", s->name);
		return;
	}
	lsql_submit(&s->sql, c, 0);
}

/*
 * Called exactly once at the end of every call, also when the application
 * left. Under the line's lock the call is taken out of the line if it is
 * still waiting there (it is then never run nor answered); if the store's
 * thread is running it right now, release waits for that batch to end.
 * The thread ends a call (st_call_done) before it lets go of it, so once
 * this returns nothing in the store touches the call again. A done hook
 * must therefore not release the call itself (it runs on the store's
 * thread, inside the batch): the core releases from its own thread.
 */
static void
table_release(struct st_call *c)
{
	struct table_store *s = c->store;

	if (s != NULL)
		lsql_release(&s->sql, c);
}

const struct st_table_ops st_local_table_ops = {
	.create = submit,
	.destroy = submit,
	.put = submit,
	.get = submit,
	.remove = submit,
	.query = submit,
	.release = table_release,
};

/* ---------------------------------------------------------------- store */

static int
prepare_all(struct table_store *s)
{
	struct lsql *l = &s->sql;

	return lsql_prepare(l, "SELECT k, v FROM meta", &s->st_meta) ||
	    lsql_prepare(l, "SELECT 1 FROM meta WHERE k = 'created'",
	    &s->st_exists) ||
	    lsql_prepare(l, "INSERT OR REPLACE INTO meta VALUES (?, ?)",
	    &s->st_set_meta) ||
	    lsql_prepare(l, "DELETE FROM meta WHERE k = 'created'",
	    &s->st_drop_meta) ||
	    lsql_prepare(l, "DELETE FROM entities", &s->st_drop_all) ||
	    lsql_prepare(l, "SELECT version FROM entities WHERE pk = ? AND "
	    "rk = ?", &s->st_lookup) ||
	    lsql_prepare(l, "SELECT version, props FROM entities WHERE pk = ? "
	    "AND rk = ?", &s->st_get) ||
	    lsql_prepare(l, "INSERT OR REPLACE INTO entities VALUES (?, ?, ?, ?)",
	    &s->st_put) ||
	    lsql_prepare(l, "DELETE FROM entities WHERE pk = ? AND rk = ?",
	    &s->st_delete) ||
	    lsql_prepare(l, "SELECT rk, version, props FROM entities WHERE "
	    "pk = ? AND rk >= ? AND rk < ? ORDER BY rk LIMIT ?",
	    &s->st_query) ? -1 : 0;
}

static int
read_meta(struct table_store *s)
{
	sqlite3_stmt *st = s->st_meta;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);

		if (k != NULL && strcmp(k, "version") == 0)
			s->version = sqlite3_column_int64(st, 1);
	}
	lsql_done_stmt(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
st_local_table_open(const config_setting_t *conf,
                    const struct st_store_env *env, void **out, char *err,
                    size_t errlen)
{
	struct table_store *s;
	char dir[PATH_MAX - 32], path[PATH_MAX];
	int fsync_on;

	*out = NULL;
	err[0] = '\0';
	if (lsql_store_settings(conf, env, table_keys, dir, sizeof(dir),
	    &fsync_on, err, errlen) == -1)
		return -1;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->kind.kind = ST_KIND_TABLE;
	snprintf(s->name, sizeof(s->name), "%s", env->name);
	*out = s;
	if (env->check_only)
		return 0;
	snprintf(path, sizeof(path), "%s/table.db", dir);
	s->sql.store = s;
	s->sql.run = table_run;
	if (lsql_open(&s->sql, path, fsync_on, schema, err, errlen) == 0 &&
	    prepare_all(s) == 0 && read_meta(s) == 0 &&
	    lsql_start(&s->sql, err, errlen) == 0)
		return 0;
	if (err[0] == '\0')
		snprintf(err, errlen, "cannot prepare %s: %s", path,
		    sqlite3_errmsg(s->sql.db));
	st_local_table_close(s);
	*out = NULL;
	return -1;
}

void
st_local_table_close(void *p)
{
	struct table_store *s = p;

	if (s == NULL)
		return;
	lsql_stop(&s->sql);		/* before the statements go */
	sqlite3_finalize(s->st_meta);
	sqlite3_finalize(s->st_exists);
	sqlite3_finalize(s->st_set_meta);
	sqlite3_finalize(s->st_drop_meta);
	sqlite3_finalize(s->st_drop_all);
	sqlite3_finalize(s->st_lookup);
	sqlite3_finalize(s->st_get);
	sqlite3_finalize(s->st_put);
	sqlite3_finalize(s->st_delete);
	sqlite3_finalize(s->st_query);
	lsql_close(&s->sql);
	free(s);
}
