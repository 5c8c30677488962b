/*
 * test_validate.c - keys, store names, ranges, ETag lists, request ids:
 * every rule from a table of cases.
 */
#include <string.h>

#include "core/validate.h"
#include "unit.h"

struct str_case {
	const char	*in;
	int		 valid;
};

static const struct str_case key_cases[] = {
	{ "a", 1 }, { "a/b.txt", 1 }, { "dir/sub/file", 1 },
	{ "with space", 1 }, { "plus+sign", 1 }, { "tilde~", 1 },
	{ "q?mark", 1 }, { "hash#", 1 }, { "pct%", 1 },
	{ "\xc3\xa9t\xc3\xa9", 1 }, { "emoji\xf0\x9f\x98\x80", 1 },
	{ "...", 1 }, { ".hidden", 1 }, { "a.", 1 },
	{ "", 0 }, { "/a", 0 }, { "a/", 0 }, { "a//b", 0 },
	{ ".", 0 }, { "..", 0 }, { "a/./b", 0 }, { "a/../b", 0 },
	{ "../etc/passwd", 0 }, { "a/..", 0 },
	{ "ctl\x01", 0 }, { "nl\n", 0 }, { "del\x7f", 0 },
	{ "c1\xc2\x85", 0 },			/* U+0085, a C1 control */
	{ "bad\xff", 0 }, { "overlong\xc0\xaf", 0 },
	{ "surrogate\xed\xa0\x80", 0 }, { "cut\xe2\x82", 0 },
};

START_TEST(key_rules)
{
	const struct str_case *t = &key_cases[_i];

	ck_assert_msg(st_valid_key(t->in, strlen(t->in)) == t->valid,
	    "key case %d", _i);
}
END_TEST

START_TEST(key_length)
{
	char key[ST_KEY_MAX + 2];

	memset(key, 'k', sizeof(key));
	ck_assert(st_valid_key(key, ST_KEY_MAX));
	ck_assert(!st_valid_key(key, ST_KEY_MAX + 1));
}
END_TEST

static const struct str_case decode_cases[] = {
	{ "a%20b", 1 }, { "%E2%82%AC", 1 }, { "a%2Fb", 1 },
	{ "%00", 0 }, { "a%2", 0 }, { "a%zz", 0 }, { "%2e%2e", 0 },
	{ "%2e%2e%2fetc", 0 }, { "a%2F%2Fb", 0 }, { "%ff", 0 }, { "%0a", 0 },
};

START_TEST(key_decoding)
{
	const struct str_case *t = &decode_cases[_i];
	char out[ST_KEY_MAX + 1];

	ck_assert_msg((st_decode_key(t->in, strlen(t->in), out) >= 0) == t->valid,
	    "decode case %s", t->in);
}
END_TEST

static const struct str_case store_cases[] = {
	{ "photos", 1 }, { "a", 1 }, { "0", 1 }, { "a-b_c", 1 },
	{ "", 0 }, { "-a", 0 }, { "_a", 0 }, { "Photos", 0 }, { "a.b", 0 },
	{ "a b", 0 },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1 },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
};

START_TEST(store_names)
{
	const struct str_case *t = &store_cases[_i];

	ck_assert_msg(st_valid_store_name(t->in, strlen(t->in)) == t->valid,
	    "store %s", t->in);
}
END_TEST

struct range_case {
	const char	*header;
	int		 parse;		/* st_parse_range result */
	uint64_t	 size;
	int		 resolve;	/* st_resolve_range result */
	uint64_t	 first, length;
};

static const struct range_case range_cases[] = {
	{ "bytes=0-9", 0, 100, 0, 0, 10 },
	{ "bytes=10-", 0, 100, 0, 10, 90 },
	{ "bytes=-10", 0, 100, 0, 90, 10 },
	{ "bytes=-200", 0, 100, 0, 0, 100 },
	{ "bytes=90-200", 0, 100, 0, 90, 10 },
	{ "bytes=99-99", 0, 100, 0, 99, 1 },
	{ "bytes=100-", 0, 100, -1, 0, 0 },
	{ "bytes=100-200", 0, 100, -1, 0, 0 },
	{ "bytes=-0", 0, 100, -1, 0, 0 },
	{ "bytes=0-", 0, 0, -1, 0, 0 },
	{ "bytes=0-1,3-4", 1, 0, 0, 0, 0 },
	{ "bytes=5-1", -1, 0, 0, 0, 0 },
	{ "bytes=a-b", -1, 0, 0, 0, 0 },
	{ "items=0-1", -1, 0, 0, 0, 0 },
	{ "bytes=", -1, 0, 0, 0, 0 },
	{ "bytes=-", -1, 0, 0, 0, 0 },
	{ "bytes=1", -1, 0, 0, 0, 0 },
	{ "bytes=99999999999999999999-", -1, 0, 0, 0, 0 },
	{ "bytes=0-9 junk", -1, 0, 0, 0, 0 },
};

START_TEST(ranges)
{
	const struct range_case *t = &range_cases[_i];
	struct st_range r;
	uint64_t first = 0, length = 0;

	ck_assert_int_eq(st_parse_range(t->header, &r), t->parse);
	if (t->parse != 0)
		return;
	ck_assert_int_eq(st_resolve_range(&r, t->size, &first, &length),
	    t->resolve);
	if (t->resolve == 0) {
		ck_assert_uint_eq(first, t->first);
		ck_assert_uint_eq(length, t->length);
	}
}
END_TEST

struct etag_case {
	const char	*header;
	const char	*etag;
	int		 weak;
	int		 match;
};

static const struct etag_case etag_cases[] = {
	{ "*", "\"x\"", 0, 1 },
	{ "\"x\"", "\"x\"", 0, 1 },
	{ "\"y\", \"x\"", "\"x\"", 0, 1 },
	{ "\"y\"", "\"x\"", 0, 0 },
	{ "W/\"x\"", "\"x\"", 0, 0 },
	{ "W/\"x\"", "\"x\"", 1, 1 },
	{ "x", "\"x\"", 0, 0 },
	{ "", "\"x\"", 0, 0 },
};

START_TEST(etags)
{
	const struct etag_case *t = &etag_cases[_i];

	ck_assert_int_eq(st_etag_match(t->header, t->etag, t->weak), t->match);
}
END_TEST

static const struct str_case rid_cases[] = {
	{ "abc-123", 1 }, { "a.b:c_d", 1 }, { "", 0 }, { "has space", 0 },
	{ "semi;colon", 0 }, { "nl\n", 0 },
	{ "1234567890123456789012345678901234567890123456789012345678901234", 1 },
	{ "12345678901234567890123456789012345678901234567890123456789012345", 0 },
};

START_TEST(request_ids)
{
	ck_assert_int_eq(st_valid_request_id(rid_cases[_i].in), rid_cases[_i].valid);
}
END_TEST

static const struct str_case meta_cases[] = {
	{ "color", 1 }, { "a-b_c9", 1 }, { "", 0 }, { "Color", 0 },
	{ "a.b", 0 }, { "a b", 0 },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1 },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
};

START_TEST(meta_names)
{
	const struct str_case *t = &meta_cases[_i];

	ck_assert_int_eq(st_valid_meta_name(t->in, strlen(t->in)), t->valid);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
validate_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *tc = tcase_create("rules");

	tcase_add_loop_test(tc, key_rules, 0, N(key_cases));
	tcase_add_test(tc, key_length);
	tcase_add_loop_test(tc, key_decoding, 0, N(decode_cases));
	tcase_add_loop_test(tc, store_names, 0, N(store_cases));
	tcase_add_loop_test(tc, ranges, 0, N(range_cases));
	tcase_add_loop_test(tc, etags, 0, N(etag_cases));
	tcase_add_loop_test(tc, request_ids, 0, N(rid_cases));
	tcase_add_loop_test(tc, meta_names, 0, N(meta_cases));
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(validate_suite)
