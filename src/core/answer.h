/*
 * answer.h - what a provider's answer means, whatever the provider.
 *
 * Each backend keeps a table of its own error codes ("NoSuchKey",
 * "BlobNotFound") and the API outcome of each; the lookup, and what is
 * left when a code says nothing (plain HTTP), are the same on every
 * provider. So are the two ways providers write a time: an HTTP date in
 * headers, ISO 8601 in XML listings.
 *
 * struct st_answer is what the latest attempt of an exchange answered,
 * as far as the backend reads it: an error answer's body (kept, bounded,
 * to find its code once it is whole), the provider's error code, and the
 * parser of a successful XML answer. A retried attempt starts it afresh.
 */
#ifndef STRATUS_CORE_ANSWER_H
#define STRATUS_CORE_ANSWER_H

#include <stddef.h>
#include <time.h>

#include <stratus/backend.h>

#include "core/buf.h"
#include "core/xml.h"

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

struct st_answer {
	struct st_buf	 body;		/* an error answer's body, bounded */
	char		 code[64];	/* the provider's error code, or "" */
	struct st_xml	*xml;		/* a success's parser, or NULL */
};

/* A new attempt's headers came: forget the last one's body and code. */
void   st_answer_reset(struct st_answer *);
/* The body hook's answer for bytes not streamed to the application: an
 * error's body is kept (up to 64 KiB), a success's goes to the parser.
 * Fewer than n taken stops the exchange (the XML is bad). */
size_t st_answer_take(struct st_answer *, long status, const char *, size_t n);
/* Once an error answer is whole: unless a code is known already (from a
 * header), its body is parsed with fn, which fills in the code. */
void   st_answer_error(struct st_answer *, st_xml_end_fn fn, void *arg);
/* The provider's error code, or NULL. */
const char *st_answer_code(const struct st_answer *);
/* Before a retried attempt: forgets the last answer and, if there was a
 * parser, makes a new one with fn (arg as before). -1 when none can be. */
int    st_answer_restart(struct st_answer *, st_xml_end_fn fn, void *arg);
void   st_answer_free(struct st_answer *);

#endif
