/*
 * reply.h - how results become HTTP status codes and API error codes.
 *
 * One table maps each backend status to the HTTP status and the `code`
 * of API.md, so that every backend's outcome reads the same to an
 * application.
 */
#ifndef STRATUS_DAEMON_REPLY_H
#define STRATUS_DAEMON_REPLY_H

#include <stratus/backend.h>

struct st_http_error {
	int		 http;
	const char	*code;
};

/* The HTTP status and API code of a backend status (ST_OK -> 200, NULL). */
struct st_http_error st_status_http(enum st_status);

/* An HTTP date (RFC 7231) for Last-Modified; buf holds 32 bytes. */
void st_http_date(time_t, char *buf);

#endif
