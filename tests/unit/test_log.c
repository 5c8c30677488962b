/*
 * test_log.c - the JSON log lines: escaping from a table of cases, long
 * values cut to a valid line, and records held by a loop's thread until it
 * flushes them. stderr is a pipe that the test reads back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "daemon/log.h"
#include "unit.h"

static int saved_stderr = -1, rd = -1;

static void
capture(void)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	saved_stderr = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	rd = p[0];
}

static void
release(void)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	close(rd);
}

/* What was written since the last call; "" when nothing was. */
static char *
written(void)
{
	static char buf[1 << 20];
	ssize_t n = read(rd, buf, sizeof(buf) - 1);

	ck_assert(n >= 0 || errno == EAGAIN);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* The string field `key` of the one JSON line in `line`. */
static char *
field(const char *line, const char *key)
{
	static char out[8192];
	const char *path[] = { key, NULL };
	char err[128];
	yajl_val root = yajl_tree_parse(line, err, sizeof(err));
	yajl_val v;

	ck_assert_msg(root != NULL, "not JSON: %s (%s)", line, err);
	v = yajl_tree_get(root, path, yajl_t_string);
	ck_assert_msg(v != NULL, "no %s in %s", key, line);
	snprintf(out, sizeof(out), "%s", YAJL_GET_STRING(v));
	yajl_tree_free(root);
	return out;
}

struct esc_case {
	const char	*value;
	const char	*want;	/* as a JSON parser reads it back */
};

static const struct esc_case esc_cases[] = {
	{ "plain", "plain" },
	{ "", "" },
	{ "quote \" and backslash \\", "quote \" and backslash \\" },
	{ "tab\tnewline\ncr\r", "tab\tnewline\ncr\r" },
	{ "bell\x07 del\x7f", "bell\x07 del\x7f" },
	{ "\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9" },
	{ "bad\xff", "<not utf-8>" },
	{ "\"\"\"", "\"\"\"" },
};

START_TEST(escaping)
{
	const struct esc_case *t = &esc_cases[_i];
	struct st_logrec r;
	char *line;

	capture();
	st_log_begin(&r, ST_LOG_ERROR, "escaping");
	st_log_str(&r, "v", t->value);
	st_log_end(&r);
	line = written();
	ck_assert_msg(strchr(line, '\n') == line + strlen(line) - 1,
	    "one line: %s", line);
	ck_assert_str_eq(field(line, "v"), t->want);
	release();
}
END_TEST

/* A value longer than a record is cut, and the line stays JSON. */
START_TEST(long_value_cut)
{
	static char big[3 * ST_LOGREC_MAX];
	struct st_logrec r;
	char *line;

	memset(big, 'x', sizeof(big) - 1);
	big[100] = '"';
	capture();
	st_log_begin(&r, ST_LOG_ERROR, "long");
	st_log_str(&r, "v", big);
	st_log_int(&r, "after", 7);
	st_log_end(&r);
	line = written();
	ck_assert_uint_le(strlen(line), ST_LOGREC_MAX);
	ck_assert(strlen(field(line, "v")) > ST_LOGREC_MAX / 2);
	release();
}
END_TEST

#define TEN "0123456789"
#define HUNDRED TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN

START_TEST(held_until_flushed)
{
	char *out, *p;
	int i, lines = 0;

	capture();
	st_log_hold(1);
	for (i = 0; i < 40; i++)	/* more than one PIPE_BUF's worth */
		st_log_msg(ST_LOG_ERROR, "held", "n", HUNDRED);
	/* A full buffer went out whole; the rest waits. */
	out = written();
	ck_assert_uint_le(strlen(out), PIPE_BUF);
	ck_assert(strlen(out) > 0 && out[strlen(out) - 1] == '\n');
	for (p = out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	ck_assert_int_lt(lines, 40);
	st_log_flush();
	for (p = written(); (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	ck_assert_int_eq(lines, 40);
	st_log_msg(ST_LOG_ERROR, "last", NULL, NULL);
	ck_assert_str_eq(written(), "");
	st_log_hold(0);		/* flushes */
	ck_assert_str_eq(field(written(), "msg"), "last");
	st_log_msg(ST_LOG_ERROR, "at once", NULL, NULL);
	ck_assert_str_eq(field(written(), "msg"), "at once");
	release();
}
END_TEST

struct num_case {
	long long	 i;
	double		 d;
	const char	*want;	/* "i":I,"d":D as written */
};

static const struct num_case num_cases[] = {
	{ 0, 0, "\"i\":0,\"d\":0.000" },
	{ 7, 1.5, "\"i\":7,\"d\":1.500" },
	{ -42, -2.25, "\"i\":-42,\"d\":-2.250" },
	{ 1234567890123LL, 0.0004, "\"i\":1234567890123,\"d\":0.000" },
	{ LLONG_MAX, 0.0006, "\"i\":9223372036854775807,\"d\":0.001" },
	{ LLONG_MIN, 12345.6789, "\"i\":-9223372036854775808,\"d\":12345.679" },
	{ 1, 1e20, "\"i\":1,\"d\":100000000000000000000.000" },
};

START_TEST(numbers)
{
	const struct num_case *t = &num_cases[_i];
	struct st_logrec r;
	char *line;

	capture();
	st_log_begin(&r, ST_LOG_ERROR, "n");
	st_log_int(&r, "i", t->i);
	st_log_double(&r, "d", t->d);
	st_log_end(&r);
	line = written();
	ck_assert_msg(strstr(line, t->want) != NULL, "%s in %s", t->want, line);
	release();
}
END_TEST

START_TEST(below_level_skipped)
{
	capture();
	st_log_set_level(ST_LOG_WARN);
	st_log_msg(ST_LOG_INFO, "quiet", NULL, NULL);
	ck_assert_str_eq(written(), "");
	st_log_msg(ST_LOG_WARN, "loud", NULL, NULL);
	ck_assert_str_eq(field(written(), "level"), "warn");
	st_log_set_level(ST_LOG_INFO);
	release();
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("lines");

	tcase_add_loop_test(tc, escaping, 0,
	    (int)(sizeof(esc_cases) / sizeof(esc_cases[0])));
	tcase_add_loop_test(tc, numbers, 0,
	    (int)(sizeof(num_cases) / sizeof(num_cases[0])));
	tcase_add_test(tc, long_value_cut);
	tcase_add_test(tc, held_until_flushed);
	tcase_add_test(tc, below_level_skipped);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(log_suite)
