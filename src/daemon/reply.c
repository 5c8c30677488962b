/*
 * reply.c - the mapping from backend outcomes to HTTP.
 */
#include <stdio.h>
#include <time.h>

#include "daemon/reply.h"

struct st_http_error
st_status_http(enum st_status s)
{
	static const struct {
		enum st_status	 status;
		int		 http;
		const char	*code;
	} table[] = {
		{ ST_OK,		200, NULL },
		{ ST_NOT_MODIFIED,	304, NULL },
		{ ST_BAD_REQUEST,	400, "bad_request" },
		{ ST_BAD_DIGEST,	400, "bad_request" },
		{ ST_FORBIDDEN,		403, "forbidden" },
		{ ST_NOT_FOUND,		404, "not_found" },
		{ ST_CONFLICT,		409, "conflict" },
		{ ST_PRECONDITION,	412, "precondition_failed" },
		{ ST_TOO_LARGE,		413, "payload_too_large" },
		{ ST_RANGE,		416, "range_not_satisfiable" },
		{ ST_NOT_SUPPORTED,	400, "bad_request" },
		{ ST_INTERNAL,		500, "internal" },
		{ ST_PROVIDER_ERROR,	502, "provider_error" },
		{ ST_UNAVAILABLE,	503, "provider_unavailable" },
		{ ST_TIMEOUT,		504, "provider_timeout" },
		{ ST_CREDENTIALS_UNAVAILABLE, 503, "credentials_unavailable" },
	};
	struct st_http_error e = { 500, "internal" };
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].status == s) {
			e.http = table[i].http;
			e.code = table[i].code;
			break;
		}
	}
	return e;
}

void
st_http_date(time_t t, char *buf)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}
