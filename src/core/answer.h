/*
 * answer.h - what a provider's answer means, whatever the provider.
 *
 * Each backend keeps a table of its own error codes ("NoSuchKey",
 * "BlobNotFound") and the API outcome of each; the lookup, and what is
 * left when a code says nothing (plain HTTP), are the same on every
 * provider. So are the two ways providers write a time: an HTTP date in
 * headers, ISO 8601 in XML listings.
 */
#ifndef STRATUS_CORE_ANSWER_H
#define STRATUS_CORE_ANSWER_H

#include <stddef.h>
#include <time.h>

#include <stratus/backend.h>

/* One line of a provider's table of error codes. */
struct st_answer_code {
	const char	*code;
	enum st_status	 status;
};

/* The API outcome of an answer: its error code (may be NULL) as the
 * provider's table of n lines says, else its HTTP status alone. */
enum st_status st_answer_map(const struct st_answer_code *, size_t n,
                             long http_status, const char *code);
/* The API outcome of an HTTP status alone. */
enum st_status st_answer_status(long http_status);

/* "Sun, 06 Nov 1994 08:49:37 GMT" or "1994-11-06T08:49:37[.sss]Z", as
 * UTC seconds; 0 for NULL or anything else. */
time_t st_answer_time(const char *);

#endif
