/*
 * log.c - structured logging to stderr.
 *
 * systemd's journal and container runtimes both take stderr, so the daemon
 * writes nowhere else. Each record is a JSON object with "ts", "level" and
 * "msg" first; strings are escaped here (control characters as \u00XX,
 * bytes that are not UTF-8 are replaced), because a log line must stay one
 * line whatever a key or a provider message contains.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/validate.h"
#include "daemon/log.h"

static int log_level = ST_LOG_INFO;
static const char *level_names[] = { "error", "warn", "info", "debug" };

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

static void
rec_add(struct st_logrec *r, const char *s, size_t n)
{
	if (r->len + n >= sizeof(r->buf) - 2)	/* keep room for "}\n" */
		n = sizeof(r->buf) - 2 - r->len - 1;
	memcpy(r->buf + r->len, s, n);
	r->len += n;
}

static void
rec_quoted(struct st_logrec *r, const char *s, size_t n)
{
	size_t i;

	if (!st_valid_utf8(s, n)) {
		rec_add(r, "\"<not utf-8>\"", 13);
		return;
	}
	rec_add(r, "\"", 1);
	for (i = 0; i < n && r->len < sizeof(r->buf) - 16; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			rec_add(r, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			rec_add(r, esc, 6);
		} else {
			rec_add(r, (const char *)&c, 1);
		}
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

void
st_log_begin(struct st_logrec *r, int level, const char *msg)
{
	struct timeval tv;
	struct tm tm;
	char ts[64];
	int n;

	r->skip = level > log_level;
	r->len = 0;
	if (r->skip)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03dZ", (int)(tv.tv_usec / 1000));
	rec_add(r, "{\"ts\":\"", 7);
	rec_add(r, ts, strlen(ts));
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

void
st_log_int(struct st_logrec *r, const char *key, long long value)
{
	char num[32];

	if (r->skip)
		return;
	rec_key(r, key);
	rec_add(r, num, (size_t)snprintf(num, sizeof(num), "%lld", value));
}

void
st_log_double(struct st_logrec *r, const char *key, double value)
{
	char num[32];

	if (r->skip)
		return;
	rec_key(r, key);
	rec_add(r, num, (size_t)snprintf(num, sizeof(num), "%.3f", value));
}

void
st_log_end(struct st_logrec *r)
{
	ssize_t w;

	if (r->skip)
		return;
	r->buf[r->len++] = '}';
	r->buf[r->len++] = '\n';
	w = write(STDERR_FILENO, r->buf, r->len);
	(void)w;	/* nowhere left to report a failed log write */
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
