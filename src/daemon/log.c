/*
 * log.c - structured logging to stderr.
 *
 * systemd's journal and container runtimes both take stderr, so the daemon
 * writes nowhere else. Each record is a JSON object with "ts", "level" and
 * "msg" first; strings are escaped here (control characters as \u00XX,
 * bytes that are not UTF-8 are replaced), because a log line must stay one
 * line whatever a key or a provider message contains.
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

/* Bytes a JSON string takes as they are. */
static int
plain_byte(unsigned char c)
{
	return c >= 0x20 && c != 0x7f && c != '"' && c != '\\';
}

static void
rec_add(struct st_logrec *r, const char *s, size_t n)
{
	if (r->len + n >= sizeof(r->buf) - 2)	/* keep room for "}\n" */
		n = sizeof(r->buf) - 2 - r->len - 1;
	memcpy(r->buf + r->len, s, n);
	r->len += n;
}

/* A JSON string; runs of plain bytes are copied at once. */
static void
rec_quoted(struct st_logrec *r, const char *s, size_t n)
{
	size_t i = 0, run, room;

	if (!st_valid_utf8(s, n)) {
		rec_add(r, "\"<not utf-8>\"", 13);
		return;
	}
	rec_add(r, "\"", 1);
	while (i < n && r->len < sizeof(r->buf) - 16) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		room = sizeof(r->buf) - 16 - r->len;	/* a long value is cut */
		for (run = i; run < n && run - i < room &&
		    plain_byte((unsigned char)s[run]); run++)
			;
		if (run > i) {
			rec_add(r, s + i, run - i);
			i = run;
			continue;
		}
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			rec_add(r, esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			rec_add(r, esc, 6);
		}
		i++;
	}
	rec_add(r, "\"", 1);
}

static void
rec_key(struct st_logrec *r, const char *key)
{
	rec_add(r, ",", 1);
	rec_quoted(r, key, strlen(key));
	rec_add(r, ":", 1);
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
	rec_key(r, "msg");
	rec_quoted(r, msg, strlen(msg));
}

void
st_log_strn(struct st_logrec *r, const char *key, const char *value, size_t n)
{
	if (r->skip)
		return;
	rec_key(r, key);
	if (value == NULL)
		rec_add(r, "null", 4);
	else
		rec_quoted(r, value, n);
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

	if (r->skip)
		return;
	rec_key(r, key);
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
	int i;

	if (r->skip)
		return;
	rec_key(r, key);
	if (!isfinite(value) || fabs(value) >= 1e15) {
		rec_add(r, num, (size_t)snprintf(num, sizeof(num), "%.3f", value));
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
