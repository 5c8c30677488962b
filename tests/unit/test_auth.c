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

/* Why a rule is refused: the part named in the reason. */
static const struct { const char *rule, *why; } why_cases[] = {
	{ "blob:a:admin", "'admin' is not a right of blob stores" },
	{ "blob:a:get,ack", "'ack' is not a right of blob stores" },
	{ "queue:q:get", "'get' is not a right of queues" },
	{ "queue:q:presign", "'presign' is not a right of queues" },
	{ "table:t:list", "'list' is not a right of tables" },
	{ "table:t:presign", "'presign' is not a right of tables" },
	{ "*:*:fly", "'fly' is not a right of any kind" },
	{ "*:*:get,fly", "'fly' is not a right of any kind" },
	{ "queue:q:send,,ack", "empty right" },
	{ "queue:q:send,", "empty right" },
	{ "queue:q:", "no RIGHTS" },
	{ "bucket:a:r", "unknown kind 'bucket'" },
	{ "blob:Photos:r", "'Photos' is not a store name" },
	{ "blob:photos", "not KIND:STORE:RIGHTS" },
	{ "blob", "not KIND:STORE:RIGHTS" },
};

START_TEST(rule_why)
{
	struct st_rule r;
	char why[160] = "";

	ck_assert_int_eq(st_parse_rule_why(why_cases[_i].rule, &r, why,
	    sizeof(why)), -1);
	ck_assert_msg(strstr(why, why_cases[_i].why) != NULL, "%s: '%s'",
	    why_cases[_i].rule, why);
	ck_assert_uint_eq(r.perms, 0);
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
	/* every right of each kind, in the documented order */
	{
		static const struct { unsigned kind; const char *want; } all[] = {
			{ ST_KIND_BLOB, "get list put delete presign" },
			{ ST_KIND_QUEUE, "send receive ack admin" },
			{ ST_KIND_TABLE, "get query put delete admin" },
		};
		char joined[128];
		size_t a, j;

		for (a = 0; a < 3; a++) {
			k = st_rights_names(all[a].kind, ~0u, n, 16);
			joined[0] = '\0';
			for (j = 0; j < k; j++) {
				if (j > 0)
					strcat(joined, " ");
				strcat(joined, n[j]);
			}
			ck_assert_str_eq(joined, all[a].want);
		}
	}
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

/*
 * What st_auth_perms gives on a store of each kind: a client's rules
 * (NULL: an anonymous caller), the store, the anonymous settings.
 */
struct perms_case {
	const char	*rules[3];
	int		 anonymous;
	unsigned	 kind;
	const char	*store;
	int		 store_anon;	/* the store's allow_anonymous */
	int		 cfg_anon;	/* the global one */
	unsigned	 want;
};

#define BQ ST_KIND_BLOB
#define QQ ST_KIND_QUEUE
#define TQ ST_KIND_TABLE

static const struct perms_case perms_cases[] = {
	/* queues */
	{ { "queue:jobs:send" }, 0, QQ, "jobs", -1, 0, Q_SEND },
	{ { "queue:jobs:send" }, 0, QQ, "other", -1, 0, 0 },
	{ { "queue:jobs:send" }, 0, BQ, "jobs", -1, 0, 0 },
	{ { "queue:jobs:send" }, 0, TQ, "jobs", -1, 0, 0 },
	{ { "queue:*:receive,ack" }, 0, QQ, "any", -1, 0, Q_RECV | Q_ACK },
	{ { "queue:jobs:r", "queue:*:w" }, 0, QQ, "jobs", -1, 0,
	  Q_RECV | Q_ACK | Q_SEND },
	{ { "queue:jobs:admin" }, 0, QQ, "jobs", -1, 0, ADMIN },
	{ { "queue:jobs:*" }, 0, QQ, "jobs", -1, 0, ST_RIGHTS_QUEUE },
	{ { "queue:jobs:rw" }, 0, QQ, "jobs", -1, 0, Q_SEND | Q_RECV | Q_ACK },
	/* tables */
	{ { "table:users:get", "table:users:admin" }, 0, TQ, "users", -1, 0,
	  B_GET | ADMIN },
	{ { "table:*:rw" }, 0, TQ, "users", -1, 0, T_READ | T_WRITE },
	{ { "table:*:rw" }, 0, BQ, "users", -1, 0, 0 },
	{ { "table:users:receive" }, 0, TQ, "users", -1, 0, T_READ },
	{ { "table:users:send" }, 0, TQ, "users", -1, 0, T_WRITE },
	{ { "table:users:query,delete" }, 0, TQ, "users", -1, 0,
	  T_QUERY | B_DEL },
	/* blobs */
	{ { "blob:*:send" }, 0, BQ, "b", -1, 0, B_WRITE },
	{ { "blob:b:get", "blob:b:presign" }, 0, BQ, "b", -1, 0,
	  B_GET | B_PRE },
	{ { "blob:b:list" }, 0, QQ, "b", -1, 0, 0 },
	/* KIND "*": each kind sees its own rights of the names */
	{ { "*:*:get" }, 0, BQ, "x", -1, 0, B_GET },
	{ { "*:*:get" }, 0, TQ, "x", -1, 0, B_GET },
	{ { "*:*:get" }, 0, QQ, "x", -1, 0, 0 },
	{ { "*:x:admin" }, 0, BQ, "x", -1, 0, 0 },
	{ { "*:x:admin" }, 0, QQ, "x", -1, 0, ADMIN },
	{ { "*:x:admin" }, 0, TQ, "y", -1, 0, 0 },
	{ { "*:*:*" }, 0, QQ, "x", -1, 0, ST_RIGHTS_QUEUE },
	{ { "*:*:*" }, 0, TQ, "x", -1, 0, ST_RIGHTS_TABLE },
	{ { "*:*:list" }, 0, BQ, "x", -1, 0, B_LIST },
	{ { "*:*:list" }, 0, TQ, "x", -1, 0, 0 },
	{ { "*:*:query" }, 0, TQ, "x", -1, 0, T_QUERY },
	{ { "*:*:query" }, 0, BQ, "x", -1, 0, 0 },
	{ { "*:*:presign" }, 0, TQ, "x", -1, 0, 0 },
	{ { "*:*:list,query" }, 0, BQ, "x", -1, 0, B_LIST },
	{ { "*:*:list,query" }, 0, TQ, "x", -1, 0, T_QUERY },
	{ { "*:*:r" }, 0, QQ, "x", -1, 0, Q_RECV | Q_ACK },
	{ { "*:*:w" }, 0, TQ, "x", -1, 0, T_WRITE },
	/* anonymous callers: every right of the kind where allowed */
	{ { NULL }, 1, QQ, "q", 1, 0, ST_RIGHTS_QUEUE },
	{ { NULL }, 1, TQ, "t", -1, 1, ST_RIGHTS_TABLE },
	{ { NULL }, 1, BQ, "b", -1, 1, ST_RIGHTS_BLOB },
	{ { NULL }, 1, QQ, "q", 0, 1, 0 },
	{ { NULL }, 1, TQ, "t", -1, 0, 0 },
	/* neither a client nor anonymous: nothing */
	{ { NULL }, 0, BQ, "b", 1, 1, 0 },
};

START_TEST(perms_by_kind)
{
	const struct perms_case *t = &perms_cases[_i];
	struct st_rule rs[3];
	struct st_client c;
	struct st_store st;
	struct st_config conf;
	size_t n;

	memset(&c, 0, sizeof(c));
	memset(&st, 0, sizeof(st));
	memset(&conf, 0, sizeof(conf));
	for (n = 0; n < 3 && t->rules[n] != NULL; n++)
		ck_assert_msg(st_parse_rule(t->rules[n], &rs[n]) == 0, "%s",
		    t->rules[n]);
	strcpy(c.name, "c");
	c.rules = rs;
	c.nrules = n;
	strcpy(st.name, t->store);
	st.kind = t->kind;
	st.allow_anonymous = t->store_anon;
	conf.allow_anonymous = t->cfg_anon;
	ck_assert_msg(st_auth_perms(&conf, n > 0 ? &c : NULL, t->anonymous,
	    &st) == t->want, "case %d (%s): %#x, want %#x", _i,
	    t->rules[0] ? t->rules[0] : "anonymous", st_auth_perms(&conf,
	    n > 0 ? &c : NULL, t->anonymous, &st), t->want);
}
END_TEST

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
	tcase_add_loop_test(tc, perms_by_kind, 0,
	    (int)(sizeof(perms_cases) / sizeof(perms_cases[0])));
	tcase_add_loop_test(tc, rule_why, 0,
	    (int)(sizeof(why_cases) / sizeof(why_cases[0])));
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(auth_suite)
