/*
 * answer.c - the provider-neutral reading of answers.
 *
 * Statuses map as the API's error table says: 304, 404, 409, 412, 413 and
 * 416 mean what they say; the provider's refusal of our credentials is
 * 403, its throttling and 5xx are 503 (retried before they get here), its
 * timeouts 504, and anything we did not expect from it (400 included:
 * our request was wrong) is 502.
 *
 * Times are read with strptime and timegm: both formats are UTC, and a
 * fraction of a second after ISO 8601's seconds is ignored.
 *
 * An error answer's body is kept up to 64 KiB and parsed whole at the
 * end: error documents are small, and a code is only known for sure once
 * the document is. A larger one is cut, which leaves the code unknown
 * and the HTTP status to speak.
 */
#include <string.h>

#include "core/answer.h"

#define ERRBODY_MAX (64 * 1024)

enum st_status
st_answer_map(const struct st_answer_code *t, size_t n, long status,
              const char *code)
{
	size_t i;

	for (i = 0; code != NULL && i < n; i++)
		if (strcmp(code, t[i].code) == 0)
			return t[i].status;
	return st_answer_status(status);
}

enum st_status
st_answer_status(long status)
{
	switch (status) {
	case 304: return ST_NOT_MODIFIED;
	case 400: return ST_PROVIDER_ERROR;
	case 401: case 403: return ST_FORBIDDEN;
	case 404: return ST_NOT_FOUND;
	case 409: return ST_CONFLICT;
	case 412: return ST_PRECONDITION;
	case 413: return ST_TOO_LARGE;
	case 416: return ST_RANGE;
	case 408: case 504: return ST_TIMEOUT;
	case 429: case 500: case 502: case 503: return ST_UNAVAILABLE;
	default: return ST_PROVIDER_ERROR;
	}
}

time_t
st_answer_time(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL)
		return 0;
	if (strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL ||
	    strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) != NULL)
		return timegm(&tm);
	return 0;
}

/* ---------------------------------------------------------------- attempts */

void
st_answer_reset(struct st_answer *a)
{
	st_buf_reset(&a->body);
	a->code[0] = '\0';
}

size_t
st_answer_take(struct st_answer *a, long status, const char *p, size_t n)
{
	if (status >= 300) {
		if (a->body.len + n <= ERRBODY_MAX)
			st_buf_add(&a->body, p, n);
		return n;
	}
	if (a->xml != NULL && st_xml_feed(a->xml, p, n) == -1)
		return n == 0 ? 1 : 0;	/* abort: curl sees a short take */
	return n;
}

void
st_answer_error(struct st_answer *a, st_xml_end_fn fn, void *arg)
{
	if (a->code[0] == '\0' && a->body.len > 0)
		st_xml_parse(fn, arg, a->body.data, a->body.len);
}

const char *
st_answer_code(const struct st_answer *a)
{
	return a->code[0] ? a->code : NULL;
}

int
st_answer_restart(struct st_answer *a, st_xml_end_fn fn, void *arg)
{
	st_answer_reset(a);
	if (a->xml == NULL)
		return 0;
	st_xml_free(a->xml);
	a->xml = fn != NULL ? st_xml_new(fn, arg) : NULL;
	return a->xml != NULL ? 0 : -1;
}

void
st_answer_free(struct st_answer *a)
{
	st_xml_free(a->xml);
	a->xml = NULL;
	st_buf_free(&a->body);
}
