/*
 * test_answer.c - the provider-neutral reading of answers (times, statuses)
 * and the byte buffer that answers and signatures are built in: every rule
 * from a table of cases.
 */
#include <string.h>

#include "core/answer.h"
#include "core/buf.h"
#include "unit.h"

struct time_case {
	const char	*in;
	long long	 want;		/* 0: not a time */
};

static const struct time_case time_cases[] = {
	/* IMF-fixdate, as every provider sends it in Last-Modified */
	{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 },
	{ "Thu, 01 Jan 1970 00:00:00 GMT", 0 },
	{ "Thu, 01 Jan 1970 00:00:01 GMT", 1 },
	{ "Tue, 29 Feb 2000 12:00:00 GMT", 951825600 },
	{ "Fri, 31 Dec 1999 23:59:59 GMT", 946684799 },
	{ "Sat, 01 Jan 2000 00:00:00 GMT", 946684800 },
	{ "Thu, 26 Nov 2026 12:32:46 GMT", 1795696366 },
	{ "Wed, 01 Mar 2100 00:00:00 GMT", 4107542400LL },
	{ "Sat, 31 Dec 2016 23:59:60 GMT", 1483228800 },	/* leap second */
	/* the other spellings strptime still takes */
	{ "Sun, 6 Nov 1994 08:49:37 GMT", 784111777 },
	{ "sun, 06 nov 1994 08:49:37 GMT", 784111777 },
	{ "1994-11-06T08:49:37Z", 784111777 },
	{ "1994-11-06T08:49:37.123Z", 784111777 },
	/* not times */
	{ "", 0 }, { "yesterday", 0 },
	{ "Sun, 06 Nov 1994 08:49:37", 0 },
	{ "Xyz, 06 Nov 1994 08:49:37 GMT", 0 },
	{ "Sun, 06 Nob 1994 08:49:37 GMT", 0 },
	{ "Sun, 06 Nov 1994 24:49:37 GMT", 0 },
	{ "Sun, 06 Nov 1994 08:60:37 GMT", 0 },
	{ "Sun, 00 Nov 1994 08:49:37 GMT", 0 },
	{ "nMo, 06 Nov 1994 08:49:37 GMT", 0 },	/* across two names */
};

START_TEST(times)
{
	const struct time_case *t = &time_cases[_i];

	ck_assert_msg((long long)st_answer_time(t->in) == t->want,
	    "time case %d (%s): %lld", _i, t->in,
	    (long long)st_answer_time(t->in));
}
END_TEST

START_TEST(no_time)
{
	ck_assert(st_answer_time(NULL) == 0);
}
END_TEST

struct status_case {
	long		 http;
	enum st_status	 want;
};

static const struct status_case status_cases[] = {
	{ 304, ST_NOT_MODIFIED }, { 400, ST_PROVIDER_ERROR },
	{ 401, ST_FORBIDDEN }, { 403, ST_FORBIDDEN }, { 404, ST_NOT_FOUND },
	{ 408, ST_TIMEOUT }, { 409, ST_CONFLICT }, { 412, ST_PRECONDITION },
	{ 413, ST_TOO_LARGE }, { 416, ST_RANGE }, { 429, ST_UNAVAILABLE },
	{ 500, ST_UNAVAILABLE }, { 501, ST_PROVIDER_ERROR },
	{ 503, ST_UNAVAILABLE }, { 504, ST_TIMEOUT }, { 418, ST_PROVIDER_ERROR },
};

START_TEST(statuses)
{
	const struct status_case *t = &status_cases[_i];

	ck_assert_int_eq(st_answer_status(t->http), t->want);
}
END_TEST

/* Formatting appends, in one pass or two, whatever the sizes. */
START_TEST(printf_appends)
{
	static const size_t lens[] = { 0, 1, 63, 64, 127, 128, 129, 1000, 70000 };
	struct st_buf b = { 0 }, want = { 0 };
	char *s;
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		ck_assert_ptr_nonnull(s = malloc(lens[i] + 1));
		memset(s, 'a' + (int)i, lens[i]);
		s[lens[i]] = '\0';
		ck_assert_int_eq(st_buf_printf(&b, "<%s|%zu>", s, lens[i]), 0);
		st_buf_adds(&want, "<");
		st_buf_adds(&want, s);
		st_buf_adds(&want, "|");
		free(s);
		ck_assert_int_eq(st_buf_printf(&want, "%zu>", lens[i]), 0);
		ck_assert_uint_eq(b.len, want.len);
		ck_assert_uint_eq(strlen(b.data), b.len);
		ck_assert_mem_eq(b.data, want.data, b.len);
	}
	st_buf_free(&b);
	st_buf_free(&want);
}
END_TEST

static Suite *
answer_suite(void)
{
	Suite *s = suite_create("answer");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, times, 0,
	    (int)(sizeof(time_cases) / sizeof(time_cases[0])));
	tcase_add_test(tc, no_time);
	tcase_add_loop_test(tc, statuses, 0,
	    (int)(sizeof(status_cases) / sizeof(status_cases[0])));
	tcase_add_test(tc, printf_appends);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(answer_suite)
