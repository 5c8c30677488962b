/*
 * test_auth.c - allow rules, bearer tokens and anonymous access.
 */
#include <string.h>

#include "daemon/auth.h"
#include "unit.h"

struct rule_case {
	const char	*rule;
	int		 ok;
	unsigned	 kinds;
	const char	*store;
	unsigned	 perms;
};

static const struct rule_case rule_cases[] = {
	{ "blob:photos:rw", 1, ST_KIND_BLOB, "photos", ST_PERM_ALL },
	{ "blob:photos:r", 1, ST_KIND_BLOB, "photos", ST_PERM_READ },
	{ "blob:*:w", 1, ST_KIND_BLOB, "*", ST_PERM_WRITE },
	{ "*:*:rw", 1, ST_KIND_BLOB | ST_KIND_QUEUE | ST_KIND_TABLE, "*", ST_PERM_ALL },
	{ "queue:jobs:send", 1, ST_KIND_QUEUE, "jobs", ST_PERM_WRITE },
	{ "queue:jobs:receive", 1, ST_KIND_QUEUE, "jobs", ST_PERM_READ },
	{ "blob:photos", 0, 0, NULL, 0 },
	{ "blob:photos:x", 0, 0, NULL, 0 },
	{ "bucket:photos:r", 0, 0, NULL, 0 },
	{ "blob:Photos:r", 0, 0, NULL, 0 },
	{ "", 0, 0, NULL, 0 },
};

START_TEST(rules)
{
	const struct rule_case *t = &rule_cases[_i];
	struct st_rule r;

	ck_assert_int_eq(st_parse_rule(t->rule, &r) == 0, t->ok);
	if (!t->ok)
		return;
	ck_assert_uint_eq(r.kinds, t->kinds);
	ck_assert_str_eq(r.store, t->store);
	ck_assert_uint_eq(r.perms, t->perms);
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
	ck_assert_uint_eq(st_auth_perms(&cfg, &clients[0], 0, &stores[0]), ST_PERM_ALL);
	ck_assert_uint_eq(st_auth_perms(&cfg, &clients[0], 0, &stores[1]), ST_PERM_READ);
	ck_assert_uint_eq(st_auth_perms(&cfg, NULL, 1, &stores[0]), 0);
	ck_assert_uint_eq(st_auth_perms(&cfg, NULL, 1, &stores[2]), ST_PERM_ALL);
	cfg.allow_anonymous = 1;
	ck_assert_uint_eq(st_auth_perms(&cfg, NULL, 1, &stores[0]), ST_PERM_ALL);
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
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(auth_suite)
