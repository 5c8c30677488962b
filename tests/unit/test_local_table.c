/*
 * test_local_table.c - the local table service (src/providers/local/
 * table.c) driven directly through its operations, as the core drives it:
 * a call per operation, answered on the store's thread, released once.
 *
 * Each case opens a store in a fresh temporary directory. The cases: table
 * existence, new and replaced entities, every value type round trip,
 * If-Match / If-None-Match, removal, row-key byte order, prefixes, paging,
 * durability across close and reopen, racing conditional writers (exactly
 * one winner per round), release of calls still in line, and a throughput
 * measure that prints and asserts nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#define OPS		(&st_local_table_ops)
#define LS_OPEN		st_local_table_open
#define LS_KIND		ST_KIND_TABLE
#define LS_KIND_NAME	"table"
#define LS_STORE	"users"

#include "local_store.h"

/* ------------------------------------------------------- the op switch */

static void
submit(struct req *r)
{
	switch (r->c->op) {
	case ST_OP_TABLE_CREATE:
		OPS->create(r->c);
		break;
	case ST_OP_TABLE_DELETE:
		OPS->destroy(r->c);
		break;
	case ST_OP_TABLE_PUT:
		OPS->put(r->c);
		break;
	case ST_OP_TABLE_GET:
		OPS->get(r->c);
		break;
	case ST_OP_TABLE_REMOVE:
		OPS->remove(r->c);
		break;
	case ST_OP_TABLE_QUERY:
		OPS->query(r->c);
		break;
	default:
		ck_abort_msg("not a table op");
	}
}

static enum st_status
simple(void *s, enum st_op op, int *existed)
{
	struct req r;
	enum st_status st;

	req_new(&r, s, op);
	st = run(&r);
	if (existed != NULL)
		*existed = r.c->table.existed;
	req_free(&r);
	return st;
}

static void
keys(struct st_call *c, const char *pk, const char *rk)
{
	c->table.pk = pk;
	c->table.pklen = strlen(pk);
	c->table.rk = rk;
	c->table.rklen = strlen(rk);
}

/* PUT of one property n = i; etag (64 bytes) receives the new ETag. */
static enum st_status
put_int(void *s, const char *pk, const char *rk, int64_t i,
        const char *if_match, int if_none_match, char *etag, int *existed)
{
	struct st_prop p = { 0 };
	enum st_status st;
	struct req r;

	p.name = "n";
	p.type = ST_VALUE_INT;
	p.i = i;
	req_new(&r, s, ST_OP_TABLE_PUT);
	keys(r.c, pk, rk);
	r.c->table.props = &p;
	r.c->table.nprops = 1;
	r.c->table.if_match = if_match;
	r.c->table.if_none_match = if_none_match;
	st = run(&r);
	if (st == ST_OK) {
		ck_assert_ptr_nonnull(r.c->table.etag);
		ck_assert_uint_lt(strlen(r.c->table.etag), 64);
		if (etag != NULL)
			strcpy(etag, r.c->table.etag);
		if (existed != NULL)
			*existed = r.c->table.existed;
	} else {
		ck_assert_ptr_nonnull(r.c->message);
	}
	req_free(&r);
	return st;
}

/* GET of an entity whose only property is n: its value and ETag. */
static enum st_status
get_int(void *s, const char *pk, const char *rk, int64_t *i, char *etag)
{
	const struct st_call_row *row;
	enum st_status st;
	struct req r;
	size_t n;

	req_new(&r, s, ST_OP_TABLE_GET);
	keys(r.c, pk, rk);
	st = run(&r);
	row = st_call_table_rows(r.c, &n);
	if (st == ST_OK) {
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(row->nprops, 1);
		ck_assert_str_eq(row->props[0].name, "n");
		ck_assert_int_eq(row->props[0].type, ST_VALUE_INT);
		ck_assert_str_eq(row->etag, r.c->table.etag);
		ck_assert_uint_eq(row->rklen, strlen(rk));
		ck_assert_mem_eq(row->rk, rk, row->rklen);
		if (i != NULL)
			*i = row->props[0].i;
		if (etag != NULL)
			strcpy(etag, row->etag);
	} else {
		ck_assert_uint_eq(n, 0);
		ck_assert_ptr_nonnull(r.c->message);
	}
	req_free(&r);
	return st;
}

static enum st_status
remove_row(void *s, const char *pk, const char *rk, const char *if_match)
{
	enum st_status st;
	struct req r;

	req_new(&r, s, ST_OP_TABLE_REMOVE);
	keys(r.c, pk, rk);
	r.c->table.if_match = if_match;
	st = run(&r);
	req_free(&r);
	return st;
}

/* ---------------------------------------------------------------- cases */

START_TEST(settings)
{
	char err[256], dir[512];
	struct stat st;
	void *s = NULL;

	/* An unknown setting, a bad fsync, no path: refused. */
	ck_assert_int_eq(open_conf("{ name = \"users\"; kind = \"table\"; "
	    "provider = \"local\"; path = \"t\"; colour = 1; }", 0, &s, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(err, "colour"));
	ck_assert_int_eq(open_conf("{ name = \"users\"; kind = \"table\"; "
	    "provider = \"local\"; path = \"t\"; fsync = 1; }", 0, &s, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(open_conf("{ name = \"users\"; kind = \"table\"; "
	    "provider = \"local\"; }", 0, &s, err, sizeof(err)), -1);
	/* Checking a configuration creates nothing on disk. */
	ck_assert_int_eq(open_conf("{ name = \"users\"; kind = \"table\"; "
	    "provider = \"local\"; path = \"t/u\"; fsync = false; "
	    "allow_anonymous = false; }", 1, &s, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(((struct local_kind *)s)->kind, ST_KIND_TABLE);
	st_local_table_close(s);
	snprintf(dir, sizeof(dir), "%s/t", tmpdir);
	ck_assert_int_eq(stat(dir, &st), -1);
	/* A relative path is the configuration's; missing dirs are made. */
	s = NULL;
	ck_assert_int_eq(open_conf("{ name = \"users\"; kind = \"table\"; "
	    "provider = \"local\"; path = \"t/u\"; }", 0, &s, err,
	    sizeof(err)), 0);
	snprintf(dir, sizeof(dir), "%s/t/u/table.db", tmpdir);
	ck_assert_int_eq(stat(dir, &st), 0);
	st_local_table_close(s);
}
END_TEST

START_TEST(existence)
{
	void *s = open_store("");
	const struct st_call_row *row;
	int existed = -1;
	struct req r;
	size_t n;

	/* Every op on a table not created: not found, with the name. */
	req_new(&r, s, ST_OP_TABLE_GET);
	keys(r.c, "p", "r");
	ck_assert_int_eq(run(&r), ST_NOT_FOUND);
	ck_assert_ptr_nonnull(r.c->message);
	ck_assert_ptr_nonnull(strstr(r.c->message, "users"));
	req_free(&r);
	ck_assert_int_eq(put_int(s, "p", "r", 1, NULL, 0, NULL, NULL),
	    ST_NOT_FOUND);
	ck_assert_int_eq(remove_row(s, "p", "r", NULL), ST_NOT_FOUND);
	req_new(&r, s, ST_OP_TABLE_QUERY);
	r.c->table.pk = "p";
	r.c->table.pklen = 1;
	r.c->table.prefix = "";
	r.c->table.limit = 10;
	ck_assert_int_eq(run(&r), ST_NOT_FOUND);
	req_free(&r);
	ck_assert_int_eq(simple(s, ST_OP_TABLE_DELETE, NULL), ST_OK);

	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, &existed), ST_OK);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, &existed), ST_OK);
	ck_assert_int_eq(existed, 1);
	ck_assert_int_eq(put_int(s, "p", "r", 1, NULL, 0, NULL, NULL), ST_OK);
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_OK);

	/* Destroy drops the entities; twice is fine. */
	ck_assert_int_eq(simple(s, ST_OP_TABLE_DELETE, NULL), ST_OK);
	ck_assert_int_eq(simple(s, ST_OP_TABLE_DELETE, NULL), ST_OK);
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_NOT_FOUND);
	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, &existed), ST_OK);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_NOT_FOUND);
	req_new(&r, s, ST_OP_TABLE_QUERY);
	r.c->table.pk = "p";
	r.c->table.pklen = 1;
	r.c->table.prefix = "";
	r.c->table.limit = 10;
	ck_assert_int_eq(run(&r), ST_OK);
	row = st_call_table_rows(r.c, &n);
	(void)row;
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(r.c->table.next_cursor);
	req_free(&r);
	st_local_table_close(s);
}
END_TEST

START_TEST(put_replace)
{
	void *s = open_store("");
	char e1[64], e2[64], e3[64], e4[64], got[64];
	int existed = -1;
	int64_t v;

	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, NULL), ST_OK);
	ck_assert_int_eq(put_int(s, "p", "r", 1, NULL, 0, e1, &existed), ST_OK);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_eq(put_int(s, "p", "r", 2, NULL, 0, e2, &existed), ST_OK);
	ck_assert_int_eq(existed, 1);
	ck_assert_str_ne(e1, e2);
	ck_assert_int_eq(get_int(s, "p", "r", &v, got), ST_OK);
	ck_assert_int_eq(v, 2);
	ck_assert_str_eq(got, e2);
	/* Same keys in another partition are another entity. */
	ck_assert_int_eq(put_int(s, "q", "r", 3, NULL, 0, e3, &existed), ST_OK);
	ck_assert_int_eq(existed, 0);
	/* Deleted and inserted again: a version never seen before. */
	ck_assert_int_eq(remove_row(s, "p", "r", NULL), ST_OK);
	ck_assert_int_eq(put_int(s, "p", "r", 4, NULL, 0, e4, &existed), ST_OK);
	ck_assert_int_eq(existed, 0);
	ck_assert_str_ne(e4, e1);
	ck_assert_str_ne(e4, e2);
	ck_assert_str_ne(e4, e3);
	/* ... nor after the table itself was dropped and made again. */
	ck_assert_int_eq(simple(s, ST_OP_TABLE_DELETE, NULL), ST_OK);
	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, NULL), ST_OK);
	ck_assert_int_eq(put_int(s, "p", "r", 5, NULL, 0, got, NULL), ST_OK);
	ck_assert_str_ne(got, e1);
	ck_assert_str_ne(got, e2);
	ck_assert_str_ne(got, e4);
	/* The old ETag no longer matches the new entity. */
	ck_assert_int_eq(put_int(s, "p", "r", 6, e1, 0, NULL, NULL),
	    ST_PRECONDITION);
	st_local_table_close(s);
}
END_TEST

static const char nul_string[] = "a\0b\0";	/* 4 bytes */

/* Every type and its edge values, in the order sent. */
static struct st_prop all_types[] = {
	{ "s", ST_VALUE_STRING, "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80 "
	    "\"q\" \\ /", 22, 0, 0, 0 },
	{ "empty", ST_VALUE_STRING, "", 0, 0, 0, 0 },
	{ "nul", ST_VALUE_STRING, nul_string, 4, 0, 0, 0 },
	{ "ctl", ST_VALUE_STRING, "\t\n\x01\x1f", 4, 0, 0, 0 },
	{ "max", ST_VALUE_INT, NULL, 0, 9007199254740992LL, 0, 0 },
	{ "min", ST_VALUE_INT, NULL, 0, -9007199254740992LL, 0, 0 },
	{ "zero", ST_VALUE_INT, NULL, 0, 0, 0, 0 },
	{ "tenth", ST_VALUE_DOUBLE, NULL, 0, 0, 0.1, 0 },
	{ "two", ST_VALUE_DOUBLE, NULL, 0, 0, 2.0, 0 },
	{ "big", ST_VALUE_DOUBLE, NULL, 0, 0, 1e300, 0 },
	{ "negzero", ST_VALUE_DOUBLE, NULL, 0, 0, -0.0, 0 },
	{ "tiny", ST_VALUE_DOUBLE, NULL, 0, 0, 4.9406564584124654e-324, 0 },
	{ "third", ST_VALUE_DOUBLE, NULL, 0, 0, -1.0 / 3.0, 0 },
	{ "dmax", ST_VALUE_DOUBLE, NULL, 0, 0, 1.7976931348623157e308, 0 },
	{ "yes", ST_VALUE_BOOL, NULL, 0, 0, 0, 1 },
	{ "no", ST_VALUE_BOOL, NULL, 0, 0, 0, 0 },
	{ "Z_last", ST_VALUE_INT, NULL, 0, 7, 0, 0 },
};

static void
check_props(const struct st_prop *got, size_t n, const struct st_prop *want,
            size_t nwant)
{
	size_t i;

	ck_assert_uint_eq(n, nwant);
	for (i = 0; i < n; i++) {
		const struct st_prop *g = &got[i], *w = &want[i];

		ck_assert_str_eq(g->name, w->name);
		ck_assert_msg(g->type == w->type, "%s: type %d, want %d",
		    w->name, g->type, w->type);
		switch (w->type) {
		case ST_VALUE_STRING:
			ck_assert_msg(g->slen == w->slen, "%s: %zu bytes, "
			    "want %zu", w->name, g->slen, w->slen);
			ck_assert_mem_eq(g->s, w->s, w->slen);
			break;
		case ST_VALUE_INT:
			ck_assert_int_eq(g->i, w->i);
			break;
		case ST_VALUE_DOUBLE:
			ck_assert_msg(memcmp(&g->d, &w->d, sizeof(double)) == 0,
			    "%s: %.17g, want %.17g", w->name, g->d, w->d);
			break;
		case ST_VALUE_BOOL:
			ck_assert_int_eq(!!g->b, !!w->b);
			break;
		}
	}
}

START_TEST(types)
{
	size_t nall = sizeof(all_types) / sizeof(all_types[0]), n;
	const struct st_call_row *row;
	void *s = open_store("");
	struct req r;
	char etag[64];
	int pass;

	all_types[0].slen = strlen(all_types[0].s);
	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, NULL), ST_OK);
	req_new(&r, s, ST_OP_TABLE_PUT);
	keys(r.c, "p", "r");
	r.c->table.props = all_types;
	r.c->table.nprops = nall;
	ck_assert_int_eq(run(&r), ST_OK);
	strcpy(etag, r.c->table.etag);
	req_free(&r);
	/* Read back by GET, by QUERY, and again after a reopen. */
	for (pass = 0; pass < 3; pass++) {
		if (pass == 2) {
			st_local_table_close(s);
			s = open_store("");
		}
		req_new(&r, s, pass == 1 ? ST_OP_TABLE_QUERY : ST_OP_TABLE_GET);
		keys(r.c, "p", "r");
		r.c->table.prefix = "";
		r.c->table.limit = 10;
		ck_assert_int_eq(run(&r), ST_OK);
		row = st_call_table_rows(r.c, &n);
		ck_assert_uint_eq(n, 1);
		ck_assert_str_eq(row->etag, etag);
		check_props(row->props, row->nprops, all_types, nall);
		req_free(&r);
	}
	/* An entity with no property at all is an entity. */
	req_new(&r, s, ST_OP_TABLE_PUT);
	keys(r.c, "p", "empty");
	ck_assert_int_eq(run(&r), ST_OK);
	req_free(&r);
	req_new(&r, s, ST_OP_TABLE_GET);
	keys(r.c, "p", "empty");
	ck_assert_int_eq(run(&r), ST_OK);
	row = st_call_table_rows(r.c, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(row->nprops, 0);
	req_free(&r);
	/* A PUT replaces the whole entity: no merge. */
	ck_assert_int_eq(put_int(s, "p", "r", 9, NULL, 0, NULL, NULL), ST_OK);
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_OK);
	st_local_table_close(s);
}
END_TEST

START_TEST(conditions)
{
	char e1[64], e2[64], got[64], e3[64];
	void *s = open_store("");
	int existed;
	int64_t v;

	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, NULL), ST_OK);
	/* If-None-Match: insert only. */
	ck_assert_int_eq(put_int(s, "p", "r", 1, NULL, 1, e1, &existed), ST_OK);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_eq(put_int(s, "p", "r", 2, NULL, 1, NULL, NULL),
	    ST_PRECONDITION);
	ck_assert_int_eq(get_int(s, "p", "r", &v, got), ST_OK);
	ck_assert_int_eq(v, 1);
	ck_assert_str_eq(got, e1);
	/* If-Match with the current version, then with the stale one. */
	ck_assert_int_eq(put_int(s, "p", "r", 3, e1, 0, e2, &existed), ST_OK);
	ck_assert_int_eq(existed, 1);
	ck_assert_int_eq(put_int(s, "p", "r", 4, e1, 0, NULL, NULL),
	    ST_PRECONDITION);
	ck_assert_int_eq(get_int(s, "p", "r", &v, got), ST_OK);
	ck_assert_int_eq(v, 3);
	ck_assert_str_eq(got, e2);
	/* Spellings that are not the ETag do not match it. */
	{
		char spaced[80], plus[80], quoted[80];

		snprintf(spaced, sizeof(spaced), " %s", e2);
		snprintf(plus, sizeof(plus), "+%s", e2);
		snprintf(quoted, sizeof(quoted), "\"%s\"", e2);
		ck_assert_int_eq(put_int(s, "p", "r", 5, spaced, 0, NULL,
		    NULL), ST_PRECONDITION);
		ck_assert_int_eq(put_int(s, "p", "r", 5, plus, 0, NULL, NULL),
		    ST_PRECONDITION);
		ck_assert_int_eq(put_int(s, "p", "r", 5, quoted, 0, NULL,
		    NULL), ST_PRECONDITION);
		ck_assert_int_eq(put_int(s, "p", "r", 5, "", 0, NULL, NULL),
		    ST_PRECONDITION);
		ck_assert_int_eq(put_int(s, "p", "r", 5, "x", 0, NULL, NULL),
		    ST_PRECONDITION);
	}
	ck_assert_int_eq(get_int(s, "p", "r", &v, got), ST_OK);
	ck_assert_int_eq(v, 3);
	ck_assert_str_eq(got, e2);
	/* If-Match: * needs the entity, and creates nothing. */
	ck_assert_int_eq(put_int(s, "p", "missing", 6, "*", 0, NULL, NULL),
	    ST_PRECONDITION);
	ck_assert_int_eq(get_int(s, "p", "missing", NULL, NULL), ST_NOT_FOUND);
	ck_assert_int_eq(put_int(s, "p", "missing", 6, e2, 0, NULL, NULL),
	    ST_PRECONDITION);
	ck_assert_int_eq(get_int(s, "p", "missing", NULL, NULL), ST_NOT_FOUND);
	ck_assert_int_eq(put_int(s, "p", "r", 7, "*", 0, e3, &existed), ST_OK);
	ck_assert_int_eq(existed, 1);
	ck_assert_str_ne(e3, e2);
	/* An ETag of one entity does not match another. */
	ck_assert_int_eq(put_int(s, "p", "r2", 8, NULL, 0, NULL, NULL), ST_OK);
	ck_assert_int_eq(put_int(s, "p", "r2", 9, e3, 0, NULL, NULL),
	    ST_PRECONDITION);
	st_local_table_close(s);
}
END_TEST

START_TEST(removal)
{
	void *s = open_store("");
	char e1[64], e2[64];

	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, NULL), ST_OK);
	/* Missing: fine without a condition, 412 with one. */
	ck_assert_int_eq(remove_row(s, "p", "r", NULL), ST_OK);
	ck_assert_int_eq(remove_row(s, "p", "r", "*"), ST_PRECONDITION);
	ck_assert_int_eq(remove_row(s, "p", "r", "1"), ST_PRECONDITION);
	ck_assert_int_eq(put_int(s, "p", "r", 1, NULL, 0, e1, NULL), ST_OK);
	ck_assert_int_eq(put_int(s, "p", "r", 2, NULL, 0, e2, NULL), ST_OK);
	/* Stale: nothing happens. */
	ck_assert_int_eq(remove_row(s, "p", "r", e1), ST_PRECONDITION);
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_OK);
	ck_assert_int_eq(remove_row(s, "p", "r", e2), ST_OK);
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_NOT_FOUND);
	ck_assert_int_eq(remove_row(s, "p", "r", e2), ST_PRECONDITION);
	/* "*" and no condition on an existing entity. */
	ck_assert_int_eq(put_int(s, "p", "r", 3, NULL, 0, NULL, NULL), ST_OK);
	ck_assert_int_eq(remove_row(s, "p", "r", "*"), ST_OK);
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_NOT_FOUND);
	ck_assert_int_eq(put_int(s, "p", "r", 4, NULL, 0, NULL, NULL), ST_OK);
	ck_assert_int_eq(remove_row(s, "p", "r", NULL), ST_OK);
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_NOT_FOUND);
	st_local_table_close(s);
}
END_TEST

/* QUERY of pk: the row keys answered (rk\n...), the cursor to go on. */
static enum st_status
query(void *s, const char *pk, const char *prefix, size_t prefixlen,
      unsigned limit, const char *cursor, char *rks, size_t cap,
      char *next, size_t *nrows)
{
	const struct st_call_row *row;
	enum st_status st;
	struct req r;
	size_t n, i;

	req_new(&r, s, ST_OP_TABLE_QUERY);
	r.c->table.pk = pk;
	r.c->table.pklen = strlen(pk);
	r.c->table.prefix = prefix;
	r.c->table.prefixlen = prefixlen;
	r.c->table.limit = limit;
	r.c->table.cursor = cursor;
	st = run(&r);
	row = st_call_table_rows(r.c, &n);
	rks[0] = '\0';
	for (i = 0; i < n; i++) {
		ck_assert_uint_lt(strlen(rks) + row[i].rklen + 2, cap);
		strncat(rks, row[i].rk, row[i].rklen);
		strcat(rks, "\n");
		ck_assert_uint_eq(row[i].nprops, 1);
		ck_assert_ptr_nonnull(row[i].etag);
	}
	if (nrows != NULL)
		*nrows = n;
	if (next != NULL) {
		next[0] = '\0';
		if (r.c->table.next_cursor != NULL) {
			ck_assert_uint_lt(strlen(r.c->table.next_cursor), 1024);
			strcpy(next, r.c->table.next_cursor);
		}
	}
	if (st != ST_OK)
		ck_assert_ptr_nonnull(r.c->message);
	req_free(&r);
	return st;
}

START_TEST(order_and_prefix)
{
	static const char *const rks[] = {
		"a", "b", "B", "\xc3\xa9", "\xf0\x9f\x98\x80", "ab", "a b",
		"\xef\xbf\xbf", "\xff", "\xff\xff", "\xff\x01", "\xfe\xff",
		"\xfe\xff\xff", "\xff\xfe"
	};
	void *s = open_store("fsync = false;");
	char got[2048], next[1024];
	size_t i;

	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, NULL), ST_OK);
	for (i = 0; i < sizeof(rks) / sizeof(rks[0]); i++)
		ck_assert_int_eq(put_int(s, "p", rks[i], (int64_t)i, NULL, 0,
		    NULL, NULL), ST_OK);
	/* Neighbouring partitions stay out. */
	ck_assert_int_eq(put_int(s, "o", "a", 0, NULL, 0, NULL, NULL), ST_OK);
	ck_assert_int_eq(put_int(s, "pp", "a", 0, NULL, 0, NULL, NULL), ST_OK);
	ck_assert_int_eq(put_int(s, "p\x01", "a", 0, NULL, 0, NULL, NULL),
	    ST_OK);
	ck_assert_int_eq(query(s, "p", "", 0, 1000, NULL, got, sizeof(got),
	    next, NULL), ST_OK);
	ck_assert_str_eq(got, "B\na\na b\nab\nb\n\xc3\xa9\n\xef\xbf\xbf\n"
	    "\xf0\x9f\x98\x80\n\xfe\xff\n\xfe\xff\xff\n\xff\n\xff\x01\n"
	    "\xff\xfe\n\xff\xff\n");
	ck_assert_str_eq(next, "");
	ck_assert_int_eq(query(s, "p", "a", 1, 1000, NULL, got, sizeof(got),
	    next, NULL), ST_OK);
	ck_assert_str_eq(got, "a\na b\nab\n");
	ck_assert_int_eq(query(s, "p", "ab", 2, 1000, NULL, got, sizeof(got),
	    next, NULL), ST_OK);
	ck_assert_str_eq(got, "ab\n");
	ck_assert_int_eq(query(s, "p", "c", 1, 1000, NULL, got, sizeof(got),
	    next, NULL), ST_OK);
	ck_assert_str_eq(got, "");
	ck_assert_int_eq(query(s, "p", "\xc3", 1, 1000, NULL, got, sizeof(got),
	    next, NULL), ST_OK);
	ck_assert_str_eq(got, "\xc3\xa9\n");
	/* Prefixes that end in 0xff bytes. */
	ck_assert_int_eq(query(s, "p", "\xff", 1, 1000, NULL, got, sizeof(got),
	    next, NULL), ST_OK);
	ck_assert_str_eq(got, "\xff\n\xff\x01\n\xff\xfe\n\xff\xff\n");
	ck_assert_int_eq(query(s, "p", "\xff\xff", 2, 1000, NULL, got,
	    sizeof(got), next, NULL), ST_OK);
	ck_assert_str_eq(got, "\xff\xff\n");
	ck_assert_int_eq(query(s, "p", "\xfe\xff", 2, 1000, NULL, got,
	    sizeof(got), next, NULL), ST_OK);
	ck_assert_str_eq(got, "\xfe\xff\n\xfe\xff\xff\n");
	/* Paging one by one through a prefix ends where the prefix does. */
	ck_assert_int_eq(query(s, "p", "\xff", 1, 3, NULL, got, sizeof(got),
	    next, NULL), ST_OK);
	ck_assert_str_eq(got, "\xff\n\xff\x01\n\xff\xfe\n");
	ck_assert_str_ne(next, "");
	ck_assert_int_eq(query(s, "p", "\xff", 1, 3, next, got, sizeof(got),
	    next, NULL), ST_OK);
	ck_assert_str_eq(got, "\xff\xff\n");
	ck_assert_str_eq(next, "");
	/* Missing partition: empty. */
	ck_assert_int_eq(query(s, "nobody", "", 0, 10, NULL, got, sizeof(got),
	    next, NULL), ST_OK);
	ck_assert_str_eq(got, "");
	st_local_table_close(s);
}
END_TEST

START_TEST(paging)
{
	char all[4096], page[4096], want[4096], next[1024], cur[1024], rk[16];
	void *s = open_store("fsync = false;");
	size_t n, pages = 0, total = 0;
	int i;

	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, NULL), ST_OK);
	want[0] = '\0';
	for (i = 0; i < 25; i++) {
		/* Inserted out of order. */
		snprintf(rk, sizeof(rk), "row%02d", (i * 7) % 25);
		ck_assert_int_eq(put_int(s, "p", rk, i, NULL, 0, NULL, NULL),
		    ST_OK);
		snprintf(rk, sizeof(rk), "row%02d\n", i);
		strcat(want, rk);
	}
	ck_assert_int_eq(put_int(s, "p", "rox", 0, NULL, 0, NULL, NULL), ST_OK);
	all[0] = '\0';
	cur[0] = '\0';
	do {
		ck_assert_int_eq(query(s, "p", "row", 3, 10, pages ? cur : NULL,
		    page, sizeof(page), next, &n), ST_OK);
		ck_assert_uint_le(n, 10);
		strcat(all, page);
		total += n;
		pages++;
		strcpy(cur, next);
	} while (next[0] != '\0' && pages < 10);
	ck_assert_uint_eq(pages, 3);
	ck_assert_uint_eq(total, 25);
	ck_assert_str_eq(all, want);
	/* Exactly as many as the limit: complete, no cursor. */
	ck_assert_int_eq(query(s, "p", "row", 3, 25, NULL, page, sizeof(page),
	    next, &n), ST_OK);
	ck_assert_uint_eq(n, 25);
	ck_assert_str_eq(next, "");
	/* A cursor stays valid when its row goes away. */
	ck_assert_int_eq(query(s, "p", "row", 3, 5, NULL, page, sizeof(page),
	    next, &n), ST_OK);
	ck_assert_int_eq(remove_row(s, "p", "row04", NULL), ST_OK);
	ck_assert_int_eq(query(s, "p", "row", 3, 2, next, page, sizeof(page),
	    NULL, &n), ST_OK);
	ck_assert_str_eq(page, "row05\nrow06\n");
	/* Cursors that this store never gave. */
	ck_assert_int_eq(query(s, "p", "", 0, 5, "zz", page, sizeof(page),
	    NULL, &n), ST_BAD_REQUEST);
	ck_assert_int_eq(query(s, "p", "", 0, 5, "abc", page, sizeof(page),
	    NULL, &n), ST_BAD_REQUEST);
	ck_assert_int_eq(query(s, "p", "", 0, 5, "", page, sizeof(page),
	    NULL, &n), ST_BAD_REQUEST);
	ck_assert_int_eq(query(s, "p", "", 0, 5, "0G", page, sizeof(page),
	    NULL, &n), ST_BAD_REQUEST);
	memset(cur, 'a', 600);
	cur[600] = '\0';
	ck_assert_int_eq(query(s, "p", "", 0, 5, cur, page, sizeof(page),
	    NULL, &n), ST_BAD_REQUEST);
	st_local_table_close(s);
}
END_TEST

START_TEST(durability)
{
	char e1[64], e2[64], got[64];
	int existed = -1;
	void *s;
	int64_t v;

	s = open_store("");
	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, NULL), ST_OK);
	ck_assert_int_eq(put_int(s, "p", "r", 42, NULL, 0, e1, NULL), ST_OK);
	st_local_table_close(s);

	s = open_store("");
	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, &existed), ST_OK);
	ck_assert_int_eq(existed, 1);
	ck_assert_int_eq(get_int(s, "p", "r", &v, got), ST_OK);
	ck_assert_int_eq(v, 42);
	ck_assert_str_eq(got, e1);
	/* The old ETag still matches; the new one is new. */
	ck_assert_int_eq(put_int(s, "p", "r", 43, e1, 0, e2, NULL), ST_OK);
	ck_assert_str_ne(e1, e2);
	ck_assert_int_eq(remove_row(s, "p", "r", NULL), ST_OK);
	st_local_table_close(s);

	s = open_store("");
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_NOT_FOUND);
	ck_assert_int_eq(put_int(s, "p", "r", 44, NULL, 0, got, NULL), ST_OK);
	ck_assert_str_ne(got, e1);
	ck_assert_str_ne(got, e2);
	ck_assert_int_eq(simple(s, ST_OP_TABLE_DELETE, NULL), ST_OK);
	st_local_table_close(s);

	s = open_store("");
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_NOT_FOUND);
	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, &existed), ST_OK);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL), ST_NOT_FOUND);
	st_local_table_close(s);
}
END_TEST

/* What the core never sends is still refused, at once, on the caller's
 * thread; so is any operation on a store opened only to check it. */
START_TEST(refused)
{
	char long_key[300], err[256];
	void *s = open_store(""), *checked = NULL;
	struct req r;

	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, NULL), ST_OK);
	ck_assert_int_eq(put_int(s, "", "r", 1, NULL, 0, NULL, NULL),
	    ST_BAD_REQUEST);
	ck_assert_int_eq(put_int(s, "p", long_key, 1, NULL, 0, NULL, NULL),
	    ST_BAD_REQUEST);
	ck_assert_int_eq(get_int(s, long_key, "r", NULL, NULL),
	    ST_BAD_REQUEST);
	ck_assert_int_eq(remove_row(s, "p", "", NULL), ST_BAD_REQUEST);
	req_new(&r, s, ST_OP_TABLE_QUERY);
	r.c->table.pk = "p";
	r.c->table.pklen = 1;
	r.c->table.prefix = long_key;
	r.c->table.prefixlen = strlen(long_key);
	r.c->table.limit = 10;
	ck_assert_int_eq(run(&r), ST_BAD_REQUEST);
	req_free(&r);
	req_new(&r, s, ST_OP_TABLE_QUERY);
	r.c->table.pk = "p";
	r.c->table.pklen = 1;
	r.c->table.prefix = "";
	r.c->table.limit = 0;
	ck_assert_int_eq(run(&r), ST_BAD_REQUEST);
	req_free(&r);
	/* A string that is not UTF-8 or a double that is not finite. */
	{
		struct st_prop p = { 0 };

		p.name = "bad";
		p.type = ST_VALUE_STRING;
		p.s = "\xff\xfe";
		p.slen = 2;
		req_new(&r, s, ST_OP_TABLE_PUT);
		keys(r.c, "p", "r");
		r.c->table.props = &p;
		r.c->table.nprops = 1;
		ck_assert_int_eq(run(&r), ST_BAD_REQUEST);
		ck_assert_ptr_nonnull(strstr(r.c->message, "bad"));
		req_free(&r);
		p.type = ST_VALUE_DOUBLE;
		p.d = INFINITY;
		req_new(&r, s, ST_OP_TABLE_PUT);
		keys(r.c, "p", "r");
		r.c->table.props = &p;
		r.c->table.nprops = 1;
		ck_assert_int_eq(run(&r), ST_BAD_REQUEST);
		req_free(&r);
		ck_assert_int_eq(get_int(s, "p", "r", NULL, NULL),
		    ST_NOT_FOUND);
	}
	st_local_table_close(s);

	ck_assert_int_eq(open_conf("{ name = \"users\"; kind = \"table\"; "
	    "provider = \"local\"; path = \"c\"; }", 1, &checked, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(simple(checked, ST_OP_TABLE_CREATE, NULL),
	    ST_UNAVAILABLE);
	st_local_table_close(checked);
}
END_TEST

/* ---------------------------------------------------------------- race */

#define RACERS	8
#define ROUNDS	50

struct race {
	void			*store;
	pthread_barrier_t	 barrier;
	atomic_int		 wins[ROUNDS];
	atomic_int		 errors;
};

static void *
racer(void *arg)
{
	struct race *r = arg;
	char etag[64];
	int64_t v;
	int round;
	enum st_status st;

	for (round = 0; round < ROUNDS; round++) {
		pthread_barrier_wait(&r->barrier);	/* last round over */
		if (get_int(r->store, "p", "hot", &v, etag) != ST_OK)
			atomic_fetch_add(&r->errors, 1);
		pthread_barrier_wait(&r->barrier);	/* all have read */
		st = put_int(r->store, "p", "hot", v + 1, etag, 0, NULL, NULL);
		if (st == ST_OK)
			atomic_fetch_add(&r->wins[round], 1);
		else if (st != ST_PRECONDITION)
			atomic_fetch_add(&r->errors, 1);
	}
	return NULL;
}

START_TEST(race)
{
	static struct race r;
	pthread_t t[RACERS];
	int64_t v;
	int i;

	memset(&r, 0, sizeof(r));
	r.store = open_store("");
	ck_assert_int_eq(simple(r.store, ST_OP_TABLE_CREATE, NULL), ST_OK);
	ck_assert_int_eq(put_int(r.store, "p", "hot", 0, NULL, 0, NULL, NULL),
	    ST_OK);
	pthread_barrier_init(&r.barrier, NULL, RACERS);
	for (i = 0; i < RACERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, racer, &r), 0);
	for (i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&r.barrier);
	ck_assert_int_eq(atomic_load(&r.errors), 0);
	for (i = 0; i < ROUNDS; i++)
		ck_assert_msg(atomic_load(&r.wins[i]) == 1, "round %d: %d "
		    "winners", i, atomic_load(&r.wins[i]));
	ck_assert_int_eq(get_int(r.store, "p", "hot", &v, NULL), ST_OK);
	ck_assert_int_eq(v, ROUNDS);
	st_local_table_close(r.store);
}
END_TEST

/* ---------------------------------------------------------------- release */

/* Calls released while in line, being run, or answered: the store never
 * touches them afterwards (ASan would see it), and the answered ones are
 * answered once. */
START_TEST(release_any_time)
{
	enum { N = 400 };
	static struct req reqs[N];
	static char rks[N][16];
	void *s = open_store("");
	int i, answered = 0;

	ck_assert_int_eq(simple(s, ST_OP_TABLE_CREATE, NULL), ST_OK);
	for (i = 0; i < N; i++) {
		snprintf(rks[i], sizeof(rks[i]), "r%d", i % 7);
		req_new(&reqs[i], s, i % 2 ? ST_OP_TABLE_GET : ST_OP_TABLE_PUT);
		keys(reqs[i].c, "p", rks[i]);
		submit(&reqs[i]);
		if (i % 3 == 0)
			req_free(&reqs[i]);	/* the app went away */
	}
	for (i = 0; i < N; i++) {
		if (reqs[i].c == NULL)
			continue;
		wait_req(&reqs[i]);
		ck_assert_int_eq(reqs[i].w.calls, 1);
		answered++;
		req_free(&reqs[i]);
	}
	ck_assert_int_eq(answered, N - (N + 2) / 3);
	st_local_table_close(s);
}
END_TEST

/* ---------------------------------------------------------------- speed */

#define CLIENTS 32

struct bench {
	void		*store;
	int		 puts;
	pthread_barrier_t go;
	atomic_int	 stop;
	atomic_long	 ops;
	atomic_int	 errors;
};

static void *
client(void *arg)
{
	struct bench *b = ((void **)arg)[0];
	long id = (long)((void **)arg)[1];
	char rk[32], etag[64];
	long n = 0;
	int64_t v = 0;

	snprintf(rk, sizeof(rk), "c%02ld", id);
	pthread_barrier_wait(&b->go);
	if (b->puts && get_int(b->store, "p", rk, &v, etag) != ST_OK)
		atomic_fetch_add(&b->errors, 1);
	while (!atomic_load(&b->stop)) {
		if (b->puts) {
			/* A durable conditional write of the client's row. */
			if (put_int(b->store, "p", rk, ++v, etag, 0, etag,
			    NULL) != ST_OK)
				atomic_fetch_add(&b->errors, 1);
		} else if (get_int(b->store, "p", rk, NULL, NULL) != ST_OK) {
			atomic_fetch_add(&b->errors, 1);
		}
		n++;
	}
	atomic_fetch_add(&b->ops, n);
	return NULL;
}

static double
measure(struct bench *b, int puts, double seconds)
{
	static void *args[CLIENTS][2];
	pthread_t t[CLIENTS];
	double t0, t1;
	long i;

	b->puts = puts;
	pthread_barrier_init(&b->go, NULL, CLIENTS + 1);
	atomic_store(&b->stop, 0);
	atomic_store(&b->ops, 0);
	for (i = 0; i < CLIENTS; i++) {
		args[i][0] = b;
		args[i][1] = (void *)i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, client, args[i]),
		    0);
	}
	pthread_barrier_wait(&b->go);
	t0 = now_s();
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&b->stop, 1);
	for (i = 0; i < CLIENTS; i++)
		pthread_join(t[i], NULL);
	t1 = now_s();
	pthread_barrier_destroy(&b->go);
	return (double)atomic_load(&b->ops) / (t1 - t0);
}

START_TEST(throughput)
{
	static struct bench b;
	char rk[32];
	double gets, puts;
	int i;

	memset(&b, 0, sizeof(b));
	b.store = open_store("");	/* fsync on: durable writes */
	ck_assert_int_eq(simple(b.store, ST_OP_TABLE_CREATE, NULL), ST_OK);
	for (i = 0; i < CLIENTS; i++) {
		snprintf(rk, sizeof(rk), "c%02d", i);
		ck_assert_int_eq(put_int(b.store, "p", rk, 0, NULL, 0, NULL,
		    NULL), ST_OK);
	}
	gets = measure(&b, 0, 1.5);
	puts = measure(&b, 1, 1.5);
	ck_assert_int_eq(atomic_load(&b.errors), 0);
	printf("# throughput, %d clients (sanitizer builds are slower): "
	    "%.0f gets/s, %.0f durable conditional puts/s\n", CLIENTS, gets,
	    puts);
	st_local_table_close(b.store);
}
END_TEST

static Suite *
local_table_suite(void)
{
	Suite *s = suite_create("local_table");
	TCase *tc = tcase_create("local_table");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, settings);
	tcase_add_test(tc, existence);
	tcase_add_test(tc, put_replace);
	tcase_add_test(tc, types);
	tcase_add_test(tc, conditions);
	tcase_add_test(tc, removal);
	tcase_add_test(tc, order_and_prefix);
	tcase_add_test(tc, paging);
	tcase_add_test(tc, durability);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, race);
	tcase_add_test(tc, release_any_time);
	tcase_add_test(tc, throughput);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(local_table_suite)
