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

/* The JSON value `key` of the one JSON line in `line`, or NULL. */
static yajl_val
member(yajl_val root, const char *key)
{
	const char *path[] = { key, NULL };

	return yajl_tree_get(root, path, yajl_t_any);
}

/*
 * Long values (a 5000-byte method, a key of quotes) are cut with "..." at
 * their end, and every field of a request's line is still there after
 * them, in a line that stays one JSON object within a record.
 */
START_TEST(long_value_cut)
{
	static char method[5001], key[3001];
	struct st_logrec r;
	char *line, err[128];
	yajl_val root, v;
	const char *s;

	memset(method, 'M', sizeof(method) - 1);
	memset(key, '"', sizeof(key) - 1);
	capture();
	st_log_begin(&r, ST_LOG_ERROR, "request");
	st_log_str(&r, "request_id", "r-1");
	st_log_str(&r, "method", method);
	st_log_str(&r, "route", "blob.put");
	st_log_str(&r, "store", "photos");
	st_log_strn(&r, "key", key, sizeof(key) - 1);
	st_log_int(&r, "status", 400);
	st_log_str(&r, "code", "bad_request");
	st_log_str(&r, "client", "app");
	st_log_int(&r, "bytes_in", 0);
	st_log_int(&r, "bytes_out", 123);
	st_log_double(&r, "ms", 1.5);
	st_log_str(&r, "terminated", "client went away");
	st_log_end(&r);
	line = written();
	ck_assert_uint_le(strlen(line), ST_LOGREC_MAX);
	ck_assert_msg(strchr(line, '\n') == line + strlen(line) - 1,
	    "one line: %s", line);
	root = yajl_tree_parse(line, err, sizeof(err));
	ck_assert_msg(root != NULL, "not JSON: %s (%s)", line, err);
	s = YAJL_GET_STRING(member(root, "method"));
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_gt(strlen(s), 500);
	ck_assert_uint_lt(strlen(s), sizeof(method) - 1);
	ck_assert_msg(strspn(s, "M") == strlen(s) - 3 &&
	    strcmp(s + strlen(s) - 3, "...") == 0, "method %.40s...", s);
	s = YAJL_GET_STRING(member(root, "key"));
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_gt(strlen(s), 100);
	ck_assert_msg(strspn(s, "\"") == strlen(s) - 3 &&
	    strcmp(s + strlen(s) - 3, "...") == 0, "key %.40s...", s);
	ck_assert_str_eq(YAJL_GET_STRING(member(root, "request_id")), "r-1");
	ck_assert_str_eq(YAJL_GET_STRING(member(root, "route")), "blob.put");
	ck_assert_str_eq(YAJL_GET_STRING(member(root, "store")), "photos");
	ck_assert_str_eq(YAJL_GET_STRING(member(root, "code")), "bad_request");
	ck_assert_str_eq(YAJL_GET_STRING(member(root, "client")), "app");
	ck_assert_str_eq(YAJL_GET_STRING(member(root, "terminated")),
	    "client went away");
	ck_assert_int_eq(YAJL_GET_INTEGER(member(root, "status")), 400);
	ck_assert_int_eq(YAJL_GET_INTEGER(member(root, "bytes_in")), 0);
	ck_assert_int_eq(YAJL_GET_INTEGER(member(root, "bytes_out")), 123);
	v = member(root, "ms");
	ck_assert(v != NULL && YAJL_IS_DOUBLE(v) && YAJL_GET_DOUBLE(v) == 1.5);
	yajl_tree_free(root);
	release();
}
END_TEST

/* A value is cut between characters, never inside one or an escape: what
 * is read back is the start of the value, then "...". */
static const char *const cut_units[] = {
	"\xc3\xa9",			/* two bytes */
	"\xe2\x9c\x93",		/* three */
	"\xf0\x9f\x98\x80",		/* four */
	"\x01",			/* written \u0001 */
	"a\x01",
	"\\",
	"ab\"",
	"\xc3\xa9\x1f\"x",
};

START_TEST(cut_between_characters)
{
	static char big[6000];
	const char *unit = cut_units[_i];
	size_t u = strlen(unit), n;
	struct st_logrec r;
	char *v;

	for (n = 0; n + u < sizeof(big); n += u)
		memcpy(big + n, unit, u);
	big[n] = '\0';
	capture();
	st_log_begin(&r, ST_LOG_ERROR, "cut");
	st_log_str(&r, "v", big);
	st_log_int(&r, "after", 7);
	st_log_end(&r);
	v = field(written(), "v");	/* parses: valid JSON and UTF-8 */
	n = strlen(v);
	ck_assert_uint_gt(n, 3);
	ck_assert_str_eq(v + n - 3, "...");
	ck_assert_msg(memcmp(v, big, n - 3) == 0, "unit %d: not the start", _i);
	release();
}
END_TEST

/* Many long values: whatever is left out, the line is one JSON object
 * within a record, and the first fields are whole. */
START_TEST(many_long_values)
{
	static char big[3000];
	struct st_logrec r;
	char *line, err[128], key[8];
	yajl_val root;
	int i;

	memset(big, 'v', sizeof(big) - 1);
	capture();
	st_log_begin(&r, ST_LOG_ERROR, big);
	for (i = 0; i < 12; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		st_log_str(&r, key, big);
		st_log_int(&r, "n", i);
		st_log_double(&r, "d", 1e300);
	}
	st_log_end(&r);
	line = written();
	ck_assert_uint_le(strlen(line), ST_LOGREC_MAX);
	root = yajl_tree_parse(line, err, sizeof(err));
	ck_assert_msg(root != NULL, "not JSON: %s (%s)", line, err);
	ck_assert_ptr_nonnull(YAJL_GET_STRING(member(root, "msg")));
	ck_assert_ptr_nonnull(YAJL_GET_STRING(member(root, "k0")));
	ck_assert_ptr_nonnull(YAJL_GET_STRING(member(root, "k1")));
	yajl_tree_free(root);
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
	/* longer than its buffer: the exponent form, still a JSON number */
	{ 2, -1.5e300, "\"i\":2,\"d\":-1.500000e+300" },
	{ 3, 1.0 / 0.0, "\"i\":3,\"d\":null" },
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
	tcase_add_loop_test(tc, cut_between_characters, 0,
	    (int)(sizeof(cut_units) / sizeof(cut_units[0])));
	tcase_add_test(tc, many_long_values);
	tcase_add_test(tc, held_until_flushed);
	tcase_add_test(tc, below_level_skipped);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(log_suite)
