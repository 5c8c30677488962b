/*
 * test_services.c - the core pieces the queue and table services stand
 * on: the memory budget's line of waiters, entity reading and writing,
 * the opaque tokens (receipts, ETags, cursors) and a call's gathered
 * messages and rows. Cases are tables where they can be.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "core/budget.h"
#include "core/call.h"
#include "core/entity.h"
#include "core/json.h"
#include "core/validate.h"
#include "daemon/api.h"
#include "daemon/router.h"
#include "unit.h"

/* ---------------------------------------------------------------- budget */

static int woken[400];

static void
count_wake(struct st_call *c, void *ctx)
{
	(void)c;
	woken[(long)ctx]++;
}

START_TEST(budget_line_has_no_limit)
{
	static struct st_budget b = ST_BUDGET_INIT(100);
	struct st_call *calls[400];
	long i;

	memset(woken, 0, sizeof(woken));
	for (i = 0; i < 400; i++) {
		struct st_call_hooks h = { NULL, count_wake, (void *)i };

		calls[i] = st_call_new(ST_OP_PUT, &h);
	}
	ck_assert_int_eq(st_budget_take(&b, calls[0], 100), 1);
	/* 399 wait, more than the 256 the line once held. */
	for (i = 1; i < 400; i++)
		ck_assert_int_eq(st_budget_take(&b, calls[i], 100), 0);
	ck_assert_uint_eq(b.nwaiters, 399);
	/* Asking again does not queue twice. */
	ck_assert_int_eq(st_budget_take(&b, calls[5], 100), 0);
	ck_assert_uint_eq(b.nwaiters, 399);
	st_budget_forget(&b, calls[7]);
	for (i = 1; i < 400; i++) {
		st_budget_give(&b, 100);
		if (i == 7)
			continue;
		ck_assert_int_eq(woken[i], 1);	/* first come, first woken */
		ck_assert_int_eq(st_budget_take(&b, calls[i], 100), 1);
	}
	ck_assert_int_eq(woken[7], 0);
	ck_assert_uint_eq(b.nwaiters, 0);
	for (i = 0; i < 400; i++)
		st_call_free(calls[i], NULL);
	free(b.waiters);
}
END_TEST

/* Memory that comes back goes to every waiter it covers, set aside for
 * them before they are woken: once a give woke only the first in line,
 * and the line stopped moving with memory free. */
START_TEST(budget_give_wakes_all_it_covers)
{
	static struct st_budget b = ST_BUDGET_INIT(10);
	struct st_call *calls[6];
	long i;

	memset(woken, 0, sizeof(woken));
	for (i = 0; i < 6; i++) {
		struct st_call_hooks h = { NULL, count_wake, (void *)i };

		calls[i] = st_call_new(ST_OP_PUT, &h);
	}
	ck_assert_int_eq(st_budget_take(&b, calls[0], 10), 1);
	for (i = 1; i <= 4; i++)		/* 3 + 3 + 3 + 3 */
		ck_assert_int_eq(st_budget_take(&b, calls[i], 3), 0);
	st_budget_give(&b, 10);
	for (i = 1; i <= 3; i++)
		ck_assert_int_eq(woken[i], 1);
	ck_assert_int_eq(woken[4], 0);		/* 12 > 10: it waits */
	/* a newcomer cannot take what was set aside, nor pass the line */
	ck_assert_int_eq(st_budget_take(&b, calls[5], 1), 0);
	for (i = 1; i <= 3; i++)
		ck_assert_int_eq(st_budget_take(&b, calls[i], 3), 1);
	ck_assert_uint_eq(b.used, 9);
	/* a woken call that leaves instead hands its memory on */
	st_budget_give(&b, 3);
	ck_assert_int_eq(woken[4], 1);
	ck_assert_int_eq(woken[5], 1);
	st_budget_forget(&b, calls[4]);
	ck_assert_int_eq(st_budget_take(&b, calls[5], 1), 1);
	ck_assert_uint_eq(b.used, 7);
	ck_assert_uint_eq(b.nwaiters, 0);
	for (i = 0; i < 6; i++)
		st_call_free(calls[i], NULL);
	free(b.waiters);
}
END_TEST

START_TEST(budget_idle_gives_any_size)
{
	static struct st_budget b = ST_BUDGET_INIT(10);
	struct st_call *c = st_call_new(ST_OP_PUT, NULL);

	ck_assert_int_eq(st_budget_take(&b, c, 1000), 1);
	st_budget_give(&b, 1000);
	ck_assert_uint_eq(b.used, 0);
	st_call_free(c, NULL);
	free(b.waiters);
}
END_TEST

/* ---------------------------------------------------------------- entities */

struct entity_case {
	const char		*json;
	enum st_entity_result	 want;
	const char		*out;	/* written back, when OK */
};

static const struct entity_case entity_cases[] = {
	{ "{}", ST_ENTITY_OK, "{}" },
	{ "{\"a\":1}", ST_ENTITY_OK, "{\"a\":1}" },
	{ "{\"a\":2.0}", ST_ENTITY_OK, "{\"a\":2.0}" },
	{ "{\"a\":2e0}", ST_ENTITY_OK, "{\"a\":2.0}" },
	{ "{\"a\":0.1}", ST_ENTITY_OK, "{\"a\":0.1}" },
	{ "{\"a\":-0.0}", ST_ENTITY_OK, "{\"a\":-0.0}" },
	{ "{\"a\":1e300}", ST_ENTITY_OK, "{\"a\":1e+300}" },
	{ "{\"a\":5e-324}", ST_ENTITY_OK, "{\"a\":5e-324}" },
	{ "{\"a\":9007199254740992}", ST_ENTITY_OK,
	  "{\"a\":9007199254740992}" },
	{ "{\"a\":-9007199254740992}", ST_ENTITY_OK,
	  "{\"a\":-9007199254740992}" },
	{ "{\"a\":true,\"b\":false,\"c\":\"x\\u00e9\"}", ST_ENTITY_OK,
	  "{\"a\":true,\"b\":false,\"c\":\"x\xc3\xa9\"}" },
	{ "{\"Timestamp\":\"t\",\"A_1\":1}", ST_ENTITY_OK,
	  "{\"Timestamp\":\"t\",\"A_1\":1}" },
	{ "{\"a\":9007199254740993}", ST_ENTITY_INVALID, NULL },
	{ "{\"a\":-9007199254740993}", ST_ENTITY_INVALID, NULL },
	{ "{\"a\":99999999999999999999999}", ST_ENTITY_INVALID, NULL },
	{ "{\"a\":1e400}", ST_ENTITY_INVALID, NULL },
	{ "{\"a\":1e-400}", ST_ENTITY_INVALID, NULL },
	{ "{\"a\":null}", ST_ENTITY_INVALID, NULL },
	{ "{\"a\":[]}", ST_ENTITY_INVALID, NULL },
	{ "{\"a\":{}}", ST_ENTITY_INVALID, NULL },
	{ "{\"_a\":1}", ST_ENTITY_INVALID, NULL },
	{ "{\"1a\":1}", ST_ENTITY_INVALID, NULL },
	{ "{\"a b\":1}", ST_ENTITY_INVALID, NULL },
	{ "{\"\":1}", ST_ENTITY_INVALID, NULL },
	{ "{\"a\":1,\"a\":2}", ST_ENTITY_INVALID, NULL },
	{ "[]", ST_ENTITY_NOT_OBJECT, NULL },
	{ "1", ST_ENTITY_NOT_OBJECT, NULL },
	{ "", ST_ENTITY_NOT_OBJECT, NULL },
	{ "{", ST_ENTITY_NOT_OBJECT, NULL },
	{ "{\"a\":\"\\u0000\"}", ST_ENTITY_NOT_OBJECT, NULL },
	{ "{\"a\":\"\xff\"}", ST_ENTITY_NOT_OBJECT, NULL },
};

START_TEST(entity_table)
{
	const struct entity_case *tc = &entity_cases[_i];
	struct st_entity e;
	struct st_buf out = { 0 };
	char why[256] = "";
	enum st_entity_result r;
	yajl_gen g;

	r = st_entity_parse(tc->json, strlen(tc->json), &e, why, sizeof(why));
	ck_assert_msg(r == tc->want, "%s: %d, want %d (%s)", tc->json, r,
	    tc->want, why);
	if (r != ST_ENTITY_OK) {
		ck_assert_msg(why[0] != '\0', "%s: no reason", tc->json);
		return;
	}
	g = st_json_new();
	st_entity_gen(g, e.props, e.nprops);
	st_json_flush(g, &out);
	yajl_gen_free(g);
	ck_assert_msg(out.len == strlen(tc->out) &&
	    memcmp(out.data, tc->out, out.len) == 0, "%s: wrote %.*s",
	    tc->json, (int)out.len, out.data);
	st_buf_free(&out);
	st_entity_free(&e);
}
END_TEST

START_TEST(entity_limits)
{
	struct st_buf j = { 0 };
	struct st_entity e;
	char why[256];
	int i;

	st_buf_adds(&j, "{");
	for (i = 0; i < 251; i++)
		st_buf_printf(&j, "%s\"p%d\":%d", i ? "," : "", i, i);
	st_buf_adds(&j, "}");
	ck_assert_int_eq(st_entity_parse(j.data, j.len, &e, why, sizeof(why)),
	    ST_ENTITY_TOO_LARGE);
	st_buf_reset(&j);
	st_buf_adds(&j, "{\"a\":\"");
	for (i = 0; i < 400 * 1024; i++)
		st_buf_adds(&j, "x");
	st_buf_adds(&j, "\"}");
	ck_assert_int_eq(st_entity_parse(j.data, j.len, &e, why, sizeof(why)),
	    ST_ENTITY_TOO_LARGE);
	st_buf_free(&j);
}
END_TEST

/* text of depth levels of '[' around 1, in a string with a prefix */
static void
nested(struct st_buf *b, const char *open, unsigned depth, const char *close)
{
	unsigned i;

	st_buf_adds(b, open);
	for (i = 0; i < depth; i++)
		st_buf_adds(b, "[");
	st_buf_adds(b, "1");
	for (i = 0; i < depth; i++)
		st_buf_adds(b, "]");
	st_buf_adds(b, close);
}

/* Every tree comes from st_json_parse, which refuses a nesting that
 * yajl's recursive free could not survive. */
START_TEST(json_depth_bounded)
{
	struct st_buf j = { 0 };
	struct st_entity e;
	char why[256];
	yajl_val v;

	nested(&j, "", ST_JSON_DEPTH_MAX, "");
	ck_assert_ptr_nonnull(v = st_json_parse(j.data, j.len));
	yajl_tree_free(v);
	st_buf_reset(&j);
	nested(&j, "", ST_JSON_DEPTH_MAX + 1, "");
	ck_assert_ptr_null(st_json_parse(j.data, j.len));
	/* brackets inside strings are text, not nesting */
	st_buf_reset(&j);
	st_buf_adds(&j, "{\"a\":\"");
	while (j.len < 100000)
		st_buf_adds(&j, "[[[[\\\"{{");
	st_buf_adds(&j, "\"}");
	ck_assert_ptr_nonnull(v = st_json_parse(j.data, j.len));
	yajl_tree_free(v);
	/* an entity nested 200000 deep is refused, not freed recursively */
	st_buf_reset(&j);
	nested(&j, "{\"a\":", 200000, "}");
	ck_assert_int_eq(st_entity_parse(j.data, j.len, &e, why, sizeof(why)),
	    ST_ENTITY_INVALID);
	st_buf_free(&j);
}
END_TEST

START_TEST(double_text_round_trips)
{
	static const double ds[] = { 0.1, 2.0, -3.25, 1e125, 1.5e-100,
	    123456789.125, 1.0 / 3, 5e-324, 1.7976931348623157e308 };
	char t[32];
	size_t i;

	for (i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		st_double_text(ds[i], t);
		ck_assert_msg(strtod(t, NULL) == ds[i], "%.17g -> %s", ds[i], t);
		ck_assert_msg(strpbrk(t, ".e") != NULL, "%s looks whole", t);
	}
}
END_TEST

/* ---------------------------------------------------------------- tokens */

START_TEST(tokens_round_trip_and_refuse)
{
	static const char *raws[] = { "1.abcdef", "x", "id\npop/receipt+=",
	    "W/\"datetime'2026-01-01T00%3A00Z'\"" };
	struct st_buf t = { 0 };
	char out[256];
	size_t i;
	long n;

	for (i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
		st_buf_reset(&t);
		ck_assert_int_eq(st_api_wrap("jobs", raws[i], &t), 0);
		st_buf_add(&t, "", 1);
		ck_assert(strspn(t.data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
		    "klmnopqrstuvwxyz0123456789-_.") == t.len - 1);
		n = st_api_unwrap("jobs", t.data, out, sizeof(out));
		ck_assert_int_eq(n, (long)strlen(raws[i]));
		ck_assert_str_eq(out, raws[i]);
		/* another store's token, or one changed anywhere: refused */
		ck_assert_int_lt(st_api_unwrap("other", t.data, out,
		    sizeof(out)), 0);
		t.data[0] = t.data[0] == 'A' ? 'B' : 'A';
		ck_assert_int_lt(st_api_unwrap("jobs", t.data, out,
		    sizeof(out)), 0);
	}
	ck_assert_int_lt(st_api_unwrap("jobs", "garbage", out, sizeof(out)), 0);
	ck_assert_int_lt(st_api_unwrap("jobs", ".", out, sizeof(out)), 0);
	ck_assert_int_lt(st_api_unwrap("jobs", "", out, sizeof(out)), 0);
	ck_assert_int_lt(st_api_unwrap("jobs", "YQ.", out, sizeof(out)), 0);
	st_buf_free(&t);
}
END_TEST

START_TEST(etags_are_quoted_tokens)
{
	struct st_buf t = { 0 };
	char out[64];

	ck_assert_int_eq(st_api_etag("users", "17", &t), 0);
	st_buf_add(&t, "", 1);
	ck_assert(t.data[0] == '"' && t.data[t.len - 2] == '"');
	ck_assert_int_eq(st_api_unetag("users", t.data, out, sizeof(out)), 2);
	ck_assert_str_eq(out, "17");
	ck_assert_int_eq(st_api_unetag("users", "*", out, sizeof(out)), 1);
	ck_assert_str_eq(out, "*");
	ck_assert_int_lt(st_api_unetag("users", "17", out, sizeof(out)), 0);
	ck_assert_int_lt(st_api_unetag("users", "\"17\"", out, sizeof(out)), 0);
	ck_assert_int_lt(st_api_unetag("users", "\"\"", out, sizeof(out)), 0);
	st_buf_free(&t);
}
END_TEST

/* ---------------------------------------------------------------- routes */

struct route_case {
	const char		*method;
	const char		*path;
	enum st_route_error	 want;
	enum st_route_id	 id;
	const char		*raw_key;	/* NULL: none */
};

static const struct route_case route_cases[] = {
	{ "PUT", "/v1/queues/jobs", ST_ROUTE_OK, ST_ROUTE_QUEUE, NULL },
	{ "POST", "/v1/queues/jobs", ST_ROUTE_BAD_METHOD, ST_ROUTE_QUEUE, NULL },
	{ "POST", "/v1/queues/jobs/messages", ST_ROUTE_OK, ST_ROUTE_QUEUE,
	  "messages" },
	{ "PATCH", "/v1/queues/jobs/messages/abc", ST_ROUTE_OK, ST_ROUTE_QUEUE,
	  "messages/abc" },
	{ "DELETE", "/v1/tables/users", ST_ROUTE_OK, ST_ROUTE_TABLE, NULL },
	{ "GET", "/v1/tables/users", ST_ROUTE_BAD_METHOD, ST_ROUTE_TABLE, NULL },
	{ "GET", "/v1/tables/users/eu", ST_ROUTE_OK, ST_ROUTE_TABLE, "eu" },
	{ "PUT", "/v1/tables/users/eu/ann", ST_ROUTE_OK, ST_ROUTE_TABLE,
	  "eu/ann" },
	{ "GET", "/v1/tables/Users/eu", ST_ROUTE_BAD_STORE, ST_ROUTE_OTHER,
	  NULL },
	{ "GET", "/v1/blobs/photos/a/b", ST_ROUTE_OK, ST_ROUTE_BLOB, "a/b" },
	{ "GET", "/v1/health", ST_ROUTE_OK, ST_ROUTE_HEALTH, NULL },
	{ "GET", "/v2/health", ST_ROUTE_NOT_FOUND, ST_ROUTE_OTHER, NULL },
	/* found by fuzz_request: an empty method looped for ever */
	{ "", "/v1/blobs/photos/a", ST_ROUTE_BAD_METHOD, ST_ROUTE_BLOB, "a" },
	{ "", "/v1/health", ST_ROUTE_BAD_METHOD, ST_ROUTE_HEALTH, NULL },
	{ "GE", "/v1/health", ST_ROUTE_BAD_METHOD, ST_ROUTE_HEALTH, NULL },
};

START_TEST(route_table)
{
	const struct route_case *tc = &route_cases[_i];
	struct st_route r;

	ck_assert_int_eq(st_route_match(tc->method, tc->path, &r), tc->want);
	if (tc->want == ST_ROUTE_BAD_STORE || tc->want == ST_ROUTE_NOT_FOUND)
		return;
	ck_assert_int_eq(r.id, tc->id);
	if (tc->raw_key == NULL)
		ck_assert_ptr_null(r.raw_key);
	else
		ck_assert_str_eq(r.raw_key, tc->raw_key);
}
END_TEST

/* ---------------------------------------------------------------- text */

/* Header values and text query parameters: UTF-8 without controls, C1
 * (U+0080-U+009F) included (issue #18 item 8). */
static const struct { const char *s; int ok; } text_cases[] = {
	{ "plain text", 1 }, { "tab\there", 1 }, { "caf\xc3\xa9", 1 },
	{ "\xc2\xa0" "no-break space", 1 }, { "\xc2\x9f", 0 }, { "a\xc2\x80" "b", 0 },
	{ "\xc2\x85", 0 }, { "del\x7f", 0 }, { "nl\n", 0 }, { "\xff", 0 },
};

START_TEST(text_values)
{
	const char *s = text_cases[_i].s;

	ck_assert_int_eq(st_valid_header_value(s, strlen(s)),
	    text_cases[_i].ok);
}
END_TEST

/* ---------------------------------------------------------------- call */

START_TEST(call_gathers_messages_and_rows)
{
	struct st_call *c = st_call_new(ST_OP_TABLE_QUERY, NULL);
	const struct st_call_message *m;
	const struct st_call_row *r;
	struct st_prop p = { .name = "n", .type = ST_VALUE_INT, .i = 5 };
	size_t n;
	int i;

	for (i = 0; i < 40; i++)
		ck_assert_int_eq(st_call_queue_message(c, "id", "rc", "b\0dy", 4,
		    (unsigned)i, 7), 0);
	m = st_call_queue_messages(c, &n);
	ck_assert_uint_eq(n, 40);
	ck_assert_uint_eq(m[39].dequeue_count, 39);
	ck_assert_int_eq(memcmp(m[39].body, "b\0dy", 4), 0);
	ck_assert_int_eq(st_call_table_prop(c, &p), -1);	/* no row yet */
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(st_call_table_row(c, "rk", 2, "e"), 0);
		ck_assert_int_eq(st_call_table_prop(c, &p), 0);
	}
	r = st_call_table_rows(c, &n);
	ck_assert_uint_eq(n, 20);
	ck_assert_uint_eq(r[19].nprops, 1);
	ck_assert_int_eq(r[19].props[0].i, 5);
	st_call_table_reset(c);
	st_call_table_rows(c, &n);
	ck_assert_uint_eq(n, 0);
	st_call_queue_reset(c);
	ck_assert_uint_eq(st_call_queue_count(c), 0);
	st_call_free(c, NULL);
}
END_TEST

static Suite *
services_suite(void)
{
	Suite *s = suite_create("services");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, budget_line_has_no_limit);
	tcase_add_test(tc, budget_give_wakes_all_it_covers);
	tcase_add_test(tc, budget_idle_gives_any_size);
	tcase_add_loop_test(tc, entity_table, 0,
	    sizeof(entity_cases) / sizeof(entity_cases[0]));
	tcase_add_test(tc, entity_limits);
	tcase_add_test(tc, json_depth_bounded);
	tcase_add_test(tc, double_text_round_trips);
	tcase_add_test(tc, tokens_round_trip_and_refuse);
	tcase_add_test(tc, etags_are_quoted_tokens);
	tcase_add_test(tc, call_gathers_messages_and_rows);
	tcase_add_loop_test(tc, text_values, 0,
	    sizeof(text_cases) / sizeof(text_cases[0]));
	tcase_add_loop_test(tc, route_table, 0,
	    sizeof(route_cases) / sizeof(route_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(services_suite)
