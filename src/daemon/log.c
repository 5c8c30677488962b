/*
 * log.c - structured logging to stderr.
 *
 * systemd's journal and container runtimes both take stderr, so the daemon
 * writes nowhere else. Each record is a JSON object with "ts", "level" and
 * "msg" first; strings are escaped here (control characters as \u00XX,
 * bytes that are not UTF-8 are replaced), because a log line must stay one
 * line whatever a key or a provider message contains. A record has a
 * fixed size, so a long value is cut (it ends with "...") and the fields
 * after it are kept: see VALUE_MAX.
 *
 * A worker holds its records for one round of its loop and writes them
 * with one write(2) before it waits again (st_log_hold, st_log_flush):
 * under load that is one system call for a dozen request lines instead of
 * one each, and a line is late by one round at most. What is held stays
 * within PIPE_BUF, so that the write to a pipe is still atomic and lines
 * from different threads never interleave. Other threads write each record
 * at once.
 *
 * When stderr is systemd's journal stream (JOURNAL_STREAM names its device
 * and inode), each line starts with a syslog priority, "<3>" for error to
 * "<7>" for debug: journald takes it off and files the JSON text under
 * that PRIORITY, so `journalctl -p warning` works. Nothing else changes.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/validate.h"
#include "daemon/log.h"

static int log_level = ST_LOG_INFO;
static const char *level_names[] = { "error", "warn", "info", "debug" };
/* syslog priorities of the levels: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const char *journal_prefix[] = { "<3>", "<4>", "<6>", "<7>" };
static int to_journal;

struct held {
	int	 on;
	size_t	 len;
	char	 buf[PIPE_BUF];
};

static __thread struct held held;

static void
write_out(const char *p, size_t n)
{
	ssize_t w = write(STDERR_FILENO, p, n);

	(void)w;	/* nowhere left to report a failed log write */
}

void
st_log_flush(void)
{
	if (held.len > 0)
		write_out(held.buf, held.len);
	held.len = 0;
}

void
st_log_hold(int on)
{
	if (!on)
		st_log_flush();
	held.on = on;
}

/* systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it
 * connected; stderr may since have been sent elsewhere, so compare. */
void
st_log_init(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	to_journal = 0;
	if (v == NULL || sscanf(v, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    v[end] != '\0' || fstat(STDERR_FILENO, &st) == -1)
		return;
	to_journal = (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
st_log_set_level(int level)
{
	log_level = level;
}

int
st_log_level_from_name(const char *name)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

/*
 * A record has room for every field: a string value longer than VALUE_MAX
 * bytes as written (escaped) is cut at a character and ends with "...",
 * and a value never takes the last TAIL_ROOM bytes, which are kept for the
 * fields after it. A request's line (two values a client chooses, the
 * method and the key, and short ones) always fits whole; a field that
 * would not fit at all is left out rather than written in part, so that a
 * line is always one JSON object.
 */
#define VALUE_MAX	1024
#define TAIL_ROOM	512
#define VALUE_MIN	16	/* "\"<not utf-8>\"", or a cut value's "\"...\"" */
#define CUT_MARK	"..."

/* Bytes a JSON string takes as they are. */
static int
plain_byte(unsigned char c)
{
	return c >= 0x20 && c != 0x7f && c != '"' && c != '\\';
}

/* How many bytes c takes in a JSON string. */
static size_t
escaped_width(unsigned char c)
{
	return plain_byte(c) ? 1 : c == '"' || c == '\\' ? 2 : 6;
}

/* Room left before the closing "}\n". */
static size_t
rec_room(const struct st_logrec *r)
{
	return sizeof(r->buf) - 2 - r->len;
}

static void
rec_add(struct st_logrec *r, const char *s, size_t n)
{
	if (n > rec_room(r))	/* never: callers make room first */
		n = rec_room(r);
	memcpy(r->buf + r->len, s, n);
	r->len += n;
}

/* The longest start of s (ending before a character) that takes at most
 * budget bytes once escaped. */
static size_t
fitting_prefix(const char *s, size_t n, size_t budget)
{
	size_t i, used = 0, fit = 0;

	for (i = 0; i < n; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			fit = i;	/* a character starts: all before it fits */
		used += escaped_width((unsigned char)s[i]);
		if (used > budget)
			return fit;
	}
	return n;
}

/* s escaped, without quotes; runs of plain bytes are copied at once. */
static void
rec_escaped(struct st_logrec *r, const char *s, size_t n)
{
	size_t i = 0, run;
	char esc[8];

	while (i < n) {
		for (run = i; run < n && plain_byte((unsigned char)s[run]); run++)
			;
		if (run > i) {
			rec_add(r, s + i, run - i);
			i = run;
			continue;
		}
		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = s[i];
			rec_add(r, esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)s[i]);
			rec_add(r, esc, 6);
		}
		i++;
	}
}

/* A JSON string of at most limit bytes (limit >= VALUE_MIN): s whole, or
 * cut with CUT_MARK at its end. */
static void
rec_quoted(struct st_logrec *r, const char *s, size_t n, size_t limit)
{
	size_t body = limit - 2, keep;

	if (!st_valid_utf8(s, n)) {
		rec_add(r, "\"<not utf-8>\"", 13);
		return;
	}
	/* Most values are short enough to fit however they are escaped. */
	keep = n <= body / 6 ? n : fitting_prefix(s, n, body);
	if (keep < n)
		keep = fitting_prefix(s, n, body - (sizeof(CUT_MARK) - 1));
	rec_add(r, "\"", 1);
	rec_escaped(r, s, keep);
	if (keep < n)
		rec_add(r, CUT_MARK, sizeof(CUT_MARK) - 1);
	rec_add(r, "\"", 1);
}

/*
 * Starts a field whose value takes at least need bytes: 0, or -1 (and
 * nothing written) when the record has no room left for it. Keys are the
 * daemon's own names: plain ASCII, written as they are.
 */
static int
rec_key(struct st_logrec *r, const char *key, size_t need)
{
	size_t n = strlen(key);

	if (n + 4 + need > rec_room(r))
		return -1;
	rec_add(r, ",\"", 2);
	rec_add(r, key, n);
	rec_add(r, "\":", 2);
	return 0;
}

/* A string field: cut to VALUE_MAX, and to leave TAIL_ROOM after it. */
static void
rec_str_field(struct st_logrec *r, const char *key, const char *value,
              size_t n)
{
	size_t limit;

	if (rec_key(r, key, VALUE_MIN) == -1)
		return;
	if (value == NULL) {
		rec_add(r, "null", 4);
		return;
	}
	limit = rec_room(r) > TAIL_ROOM + VALUE_MAX ? VALUE_MAX :
	    rec_room(r) > TAIL_ROOM + VALUE_MIN ? rec_room(r) - TAIL_ROOM :
	    VALUE_MIN;
	rec_quoted(r, value, n, limit);
}

/*
 * "2026-11-26T12:32:46.930Z". The part to the second is formatted once a
 * second per thread: gmtime and strftime cost more than the rest of a
 * request's log line.
 */
static size_t
format_ts(char ts[32])
{
	static __thread time_t last_sec = -1;
	static __thread char last[24];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int ms;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != last_sec) {
		gmtime_r(&tv.tv_sec, &tm);
		strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm);
		last_sec = tv.tv_sec;
	}
	ms = (int)(tv.tv_usec / 1000);
	n = strlen(last);
	memcpy(ts, last, n);
	ts[n++] = '.';
	ts[n++] = (char)('0' + ms / 100);
	ts[n++] = (char)('0' + ms / 10 % 10);
	ts[n++] = (char)('0' + ms % 10);
	ts[n++] = 'Z';
	return n;
}

void
st_log_begin(struct st_logrec *r, int level, const char *msg)
{
	char ts[32];

	r->skip = level > log_level;
	r->len = 0;
	if (r->skip)
		return;
	if (to_journal)
		rec_add(r, journal_prefix[level], 3);
	rec_add(r, "{\"ts\":\"", 7);
	rec_add(r, ts, format_ts(ts));
	rec_add(r, "\",\"level\":\"", 11);
	rec_add(r, level_names[level], strlen(level_names[level]));
	rec_add(r, "\"", 1);
	rec_str_field(r, "msg", msg, strlen(msg));
}

void
st_log_strn(struct st_logrec *r, const char *key, const char *value, size_t n)
{
	if (!r->skip)
		rec_str_field(r, key, value, n);
}

void
st_log_str(struct st_logrec *r, const char *key, const char *value)
{
	st_log_strn(r, key, value, value ? strlen(value) : 0);
}

/* The decimal digits of v, ending at end; returns where they start. */
static char *
digits(char *end, unsigned long long v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return end;
}

/* Numbers are formatted here rather than by snprintf, which cost as much
 * as the rest of a request's line. */
void
st_log_int(struct st_logrec *r, const char *key, long long value)
{
	char num[32], *p;
	unsigned long long mag;

	if (r->skip || rec_key(r, key, 21) == -1)
		return;
	mag = value < 0 ? 0 - (unsigned long long)value : (unsigned long long)value;
	p = digits(num + sizeof(num), mag);
	if (value < 0)
		*--p = '-';
	rec_add(r, p, (size_t)(num + sizeof(num) - p));
}

/* Three decimals, as "%.3f" would print them. */
void
st_log_double(struct st_logrec *r, const char *key, double value)
{
	char num[48], *p;
	unsigned long long thousandths;
	int i, n;

	if (r->skip || rec_key(r, key, sizeof(num)) == -1)
		return;
	if (!isfinite(value)) {
		rec_add(r, "null", 4);	/* JSON has no infinity */
		return;
	}
	if (fabs(value) >= 1e15) {
		n = snprintf(num, sizeof(num), "%.3f", value);
		if (n < 0 || (size_t)n >= sizeof(num))	/* too long: 1.5e+300 */
			n = snprintf(num, sizeof(num), "%.6e", value);
		rec_add(r, num, (size_t)n);
		return;
	}
	thousandths = (unsigned long long)(fabs(value) * 1000 + 0.5);
	p = num + sizeof(num);
	for (i = 0; i < 3; i++, thousandths /= 10)
		*--p = (char)('0' + thousandths % 10);
	*--p = '.';
	p = digits(p, thousandths);
	if (value < 0)
		*--p = '-';
	rec_add(r, p, (size_t)(num + sizeof(num) - p));
}

void
st_log_end(struct st_logrec *r)
{
	if (r->skip)
		return;
	r->buf[r->len++] = '}';
	r->buf[r->len++] = '\n';
	if (!held.on || r->len > sizeof(held.buf)) {
		write_out(r->buf, r->len);
		return;
	}
	if (held.len + r->len > sizeof(held.buf))
		st_log_flush();
	memcpy(held.buf + held.len, r->buf, r->len);
	held.len += r->len;
}

void
st_log_msg(int level, const char *msg, const char *key, const char *value)
{
	struct st_logrec r;

	st_log_begin(&r, level, msg);
	if (key != NULL)
		st_log_str(&r, key, value);
	st_log_end(&r);
}

void
st_log_backend(int level, const char *backend, const char *fmt, ...)
{
	struct st_logrec r;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st_log_begin(&r, level, msg);
	st_log_str(&r, "backend", backend);
	st_log_end(&r);
}
