/*
 * test_auth.c - allow rules, bearer tokens and anonymous access.
 */
#include <string.h>

#include "daemon/auth.h"
#include "daemon/rights.h"
#include "unit.h"

#define B_GET ST_RIGHT_GET
#define B_LIST ST_RIGHT_LIST
#define B_PUT ST_RIGHT_PUT
#define B_DEL ST_RIGHT_DELETE
#define B_PRE ST_RIGHT_PRESIGN
#define Q_SEND ST_RIGHT_SEND
#define Q_RECV ST_RIGHT_RECEIVE
#define Q_ACK ST_RIGHT_ACK
#define ADMIN ST_RIGHT_ADMIN
#define T_QUERY ST_RIGHT_QUERY
#define B_READ (B_GET | B_LIST | B_PRE)
#define B_WRITE (B_PUT | B_DEL | B_PRE)
#define T_READ (B_GET | T_QUERY)
#define T_WRITE (B_PUT | B_DEL)
#define ALL3 (ST_KIND_BLOB | ST_KIND_QUEUE | ST_KIND_TABLE)

/* A rule and the rights it gives on a blob, a queue and a table store. */
struct rule_case {
	const char	*rule;
	int		 ok;
	unsigned	 kinds;
	const char	*store;
	unsigned	 blob, queue, table;
};

static const struct rule_case rule_cases[] = {
	/* the shorthands keep their meaning */
	{ "blob:photos:rw", 1, ST_KIND_BLOB, "photos", B_READ | B_WRITE, 0, 0 },
	{ "blob:photos:r", 1, ST_KIND_BLOB, "photos", B_READ, 0, 0 },
	{ "blob:photos:read", 1, ST_KIND_BLOB, "photos", B_READ, 0, 0 },
	{ "blob:*:w", 1, ST_KIND_BLOB, "*", B_WRITE, 0, 0 },
	{ "blob:*:write", 1, ST_KIND_BLOB, "*", B_WRITE, 0, 0 },
	{ "blob:*:receive", 1, ST_KIND_BLOB, "*", B_READ, 0, 0 },
	{ "blob:*:send", 1, ST_KIND_BLOB, "*", B_WRITE, 0, 0 },
	{ "*:*:rw", 1, ALL3, "*", B_READ | B_WRITE, Q_SEND | Q_RECV | Q_ACK,
	  T_READ | T_WRITE },
	{ "*:*:*", 1, ALL3, "*", ST_RIGHTS_BLOB, ST_RIGHTS_QUEUE,
	  ST_RIGHTS_TABLE },
	{ "queue:jobs:read", 1, ST_KIND_QUEUE, "jobs", 0, Q_RECV | Q_ACK, 0 },
	{ "queue:jobs:w", 1, ST_KIND_QUEUE, "jobs", 0, Q_SEND, 0 },
	{ "table:users:r", 1, ST_KIND_TABLE, "users", 0, 0, T_READ },
	{ "table:users:rw", 1, ST_KIND_TABLE, "users", 0, 0, T_READ | T_WRITE },
	/* every right on every kind */
	{ "blob:a:get", 1, ST_KIND_BLOB, "a", B_GET, 0, 0 },
	{ "blob:a:list", 1, ST_KIND_BLOB, "a", B_LIST, 0, 0 },
	{ "blob:a:put", 1, ST_KIND_BLOB, "a", B_PUT, 0, 0 },
	{ "blob:a:delete", 1, ST_KIND_BLOB, "a", B_DEL, 0, 0 },
	{ "blob:a:presign", 1, ST_KIND_BLOB, "a", B_PRE, 0, 0 },
	{ "blob:a:get,list,presign", 1, ST_KIND_BLOB, "a", B_READ, 0, 0 },
	{ "blob:a:*", 1, ST_KIND_BLOB, "a", ST_RIGHTS_BLOB, 0, 0 },
	{ "queue:q:send", 1, ST_KIND_QUEUE, "q", 0, Q_SEND, 0 },
	{ "queue:q:receive", 1, ST_KIND_QUEUE, "q", 0, Q_RECV, 0 },
	{ "queue:q:ack", 1, ST_KIND_QUEUE, "q", 0, Q_ACK, 0 },
	{ "queue:q:admin", 1, ST_KIND_QUEUE, "q", 0, ADMIN, 0 },
	{ "queue:q:receive,ack", 1, ST_KIND_QUEUE, "q", 0, Q_RECV | Q_ACK, 0 },
	{ "queue:q:*", 1, ST_KIND_QUEUE, "q", 0, ST_RIGHTS_QUEUE, 0 },
	{ "table:t:get", 1, ST_KIND_TABLE, "t", 0, 0, B_GET },
	{ "table:t:query", 1, ST_KIND_TABLE, "t", 0, 0, T_QUERY },
	{ "table:t:put", 1, ST_KIND_TABLE, "t", 0, 0, B_PUT },
	{ "table:t:delete", 1, ST_KIND_TABLE, "t", 0, 0, B_DEL },
	{ "table:t:admin", 1, ST_KIND_TABLE, "t", 0, 0, ADMIN },
	{ "table:t:*", 1, ST_KIND_TABLE, "t", 0, 0, ST_RIGHTS_TABLE },
	/* a name on KIND "*" applies where a kind has it */
	{ "*:*:get", 1, ALL3, "*", B_GET, 0, B_GET },
	{ "*:x:admin", 1, ALL3, "x", 0, ADMIN, ADMIN },
	{ "*:x:send", 1, ALL3, "x", B_WRITE, Q_SEND, T_WRITE },
	/* names a kind does not have */
	{ "blob:a:admin", 0, 0, NULL, 0, 0, 0 },
	{ "blob:a:ack", 0, 0, NULL, 0, 0, 0 },
	{ "queue:q:get", 0, 0, NULL, 0, 0, 0 },
	{ "queue:q:presign", 0, 0, NULL, 0, 0, 0 },
	{ "table:t:list", 0, 0, NULL, 0, 0, 0 },
	{ "table:t:ack", 0, 0, NULL, 0, 0, 0 },
	{ "queue:q:send,", 0, 0, NULL, 0, 0, 0 },
	{ "queue:q:,send", 0, 0, NULL, 0, 0, 0 },
	{ "queue:q:send,,ack", 0, 0, NULL, 0, 0, 0 },
	{ "queue:q:", 0, 0, NULL, 0, 0, 0 },
	/* malformed */
	{ "blob:photos", 0, 0, NULL, 0, 0, 0 },
	{ "blob:photos:x", 0, 0, NULL, 0, 0, 0 },
	{ "blob:photos:rwx", 0, 0, NULL, 0, 0, 0 },
	{ "bucket:photos:r", 0, 0, NULL, 0, 0, 0 },
	{ "blob:Photos:r", 0, 0, NULL, 0, 0, 0 },
	{ "", 0, 0, NULL, 0, 0, 0 },
};

START_TEST(rules)
{
	const struct rule_case *t = &rule_cases[_i];
	struct st_rule r;

	ck_assert_msg((st_parse_rule(t->rule, &r) == 0) == t->ok, "%s",
	    t->rule);
	if (!t->ok)
		return;
	ck_assert_uint_eq(r.kinds, t->kinds);
	ck_assert_str_eq(r.store, t->store);
	/* A store of a kind the rule does not name sees none of it. */
	if (t->kinds & ST_KIND_BLOB)
		ck_assert_msg((r.perms & ST_RIGHTS_BLOB) == t->blob, "%s: blob "
		    "%#x", t->rule, r.perms & ST_RIGHTS_BLOB);
	if (t->kinds & ST_KIND_QUEUE)
		ck_assert_msg((r.perms & ST_RIGHTS_QUEUE) == t->queue, "%s: "
		    "queue %#x", t->rule, r.perms & ST_RIGHTS_QUEUE);
	if (t->kinds & ST_KIND_TABLE)
		ck_assert_msg((r.perms & ST_RIGHTS_TABLE) == t->table, "%s: "
		    "table %#x", t->rule, r.perms & ST_RIGHTS_TABLE);
}
END_TEST

/* The names /v1/stores shows, in order. */
START_TEST(names)
{
	const char *n[16];
	size_t k;

	k = st_rights_names(ST_KIND_BLOB, ~0u, n, 16);
	ck_assert_uint_eq(k, 5);
	ck_assert_str_eq(n[0], "get");
	ck_assert_str_eq(n[4], "presign");
	k = st_rights_names(ST_KIND_QUEUE, ST_RIGHT_SEND | ST_RIGHT_GET, n, 16);
	ck_assert_uint_eq(k, 1);
	ck_assert_str_eq(n[0], "send");
	k = st_rights_names(ST_KIND_TABLE, ST_RIGHT_QUERY | ST_RIGHT_ADMIN, n, 16);
	ck_assert_uint_eq(k, 2);
	ck_assert_str_eq(n[0], "query");
	ck_assert_str_eq(n[1], "admin");
	ck_assert_str_eq(st_right_name(ST_KIND_BLOB, ST_RIGHT_LIST), "list");
	ck_assert_str_eq(st_right_name(ST_KIND_TABLE, ST_RIGHT_QUERY), "query");
}
END_TEST

/* sha256("test") */
static const unsigned char test_digest[32] = {
	0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65, 0x9a, 0x2f, 0xea, 0xa0,
	0xc5, 0x5a, 0xd0, 0x15, 0xa3, 0xbf, 0x4f, 0x1b, 0x2b, 0x0b, 0x82, 0x2c,
	0xd1, 0x5d, 0x6c, 0x15, 0xb0, 0xf0, 0x0a, 0x08
};

static struct st_rule app_rules[2];
static struct st_client clients[1];
static struct st_store stores[3];
static struct st_config cfg;

static void
setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	st_parse_rule("blob:photos:rw", &app_rules[0]);
	st_parse_rule("blob:*:r", &app_rules[1]);
	strcpy(clients[0].name, "app");
	memcpy(clients[0].token_sha256, test_digest, 32);
	clients[0].rules = app_rules;
	clients[0].nrules = 2;
	strcpy(stores[0].name, "photos");
	stores[0].kind = ST_KIND_BLOB;
	stores[0].allow_anonymous = -1;
	strcpy(stores[1].name, "docs");
	stores[1].kind = ST_KIND_BLOB;
	stores[1].allow_anonymous = 0;
	strcpy(stores[2].name, "public");
	stores[2].kind = ST_KIND_BLOB;
	stores[2].allow_anonymous = 1;
	cfg.clients = clients;
	cfg.nclients = 1;
	cfg.stores = stores;
	cfg.nstores = 3;
}

struct ident_case {
	const char		*header;
	enum st_auth_result	 result;
};

static const struct ident_case ident_cases[] = {
	{ NULL, ST_AUTH_ANONYMOUS },
	{ "Bearer test", ST_AUTH_CLIENT },
	{ "bearer test", ST_AUTH_CLIENT },
	{ "Bearer  test", ST_AUTH_CLIENT },
	{ "Bearer tests", ST_AUTH_BAD },
	{ "Bearer ", ST_AUTH_BAD },
	{ "Basic dGVzdA==", ST_AUTH_BAD },
	{ "test", ST_AUTH_BAD },
};

START_TEST(identify)
{
	const struct ident_case *t = &ident_cases[_i];
	const struct st_client *c;

	ck_assert_int_eq(st_auth_identify(&cfg, t->header, &c), t->result);
	ck_assert_int_eq(c != NULL, t->result == ST_AUTH_CLIENT);
}
END_TEST

START_TEST(permissions)
{
	ck_assert_uint_eq(st_auth_perms(&cfg, &clients[0], 0, &stores[0]),
	    B_READ | B_WRITE);
	ck_assert_uint_eq(st_auth_perms(&cfg, &clients[0], 0, &stores[1]),
	    B_READ);
	ck_assert_uint_eq(st_auth_perms(&cfg, NULL, 1, &stores[0]), 0);
	ck_assert_uint_eq(st_auth_perms(&cfg, NULL, 1, &stores[2]),
	    ST_RIGHTS_BLOB);
	cfg.allow_anonymous = 1;
	ck_assert_uint_eq(st_auth_perms(&cfg, NULL, 1, &stores[0]),
	    ST_RIGHTS_BLOB);
	/* a store's own "allow_anonymous = false" wins over the global one */
	ck_assert_uint_eq(st_auth_perms(&cfg, NULL, 1, &stores[1]), 0);
	cfg.allow_anonymous = 0;
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("tokens");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_add_loop_test(tc, rules, 0,
	    (int)(sizeof(rule_cases) / sizeof(rule_cases[0])));
	tcase_add_loop_test(tc, identify, 0,
	    (int)(sizeof(ident_cases) / sizeof(ident_cases[0])));
	tcase_add_test(tc, permissions);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(auth_suite)
