/*
 * sigv4.h - AWS Signature Version 4, for S3 and any other AWS service.
 *
 * The signer knows nothing of HTTP clients: a request is described by its
 * method, host, encoded path, query parameters and the headers that will be
 * sent, and signing returns the headers to add (or, for a presigned URL,
 * the query string to append). What it produces agrees byte for byte with
 * botocore; tests/sign/sigv4_diff.py checks that on thousands of requests.
 *
 * Encoding rules, once: query names and values are percent-encoded with
 * only A-Z a-z 0-9 - _ . ~ left as they are; an S3 object key is encoded
 * the same way but keeps '/'. Both in the URL that is sent and in the
 * canonical request, so the two can never disagree.
 */
#ifndef STRATUS_SIGN_SIGV4_H
#define STRATUS_SIGN_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "core/buf.h"

struct st_sigv4_param {
	const char	*name;		/* not encoded */
	const char	*value;		/* not encoded; NULL: "name" with no '=' */
};

struct st_sigv4_header {
	const char	*name;
	const char	*value;		/* NULL: not sent, so not signed */
};

struct st_sigv4_request {
	const char	*method;
	const char	*host;		/* as in the Host header: "h" or "h:port" */
	const char	*path;		/* already encoded, e.g. "/bucket/a%20b" */
	const struct st_sigv4_param *query;
	size_t		 nquery;
	const struct st_sigv4_header *headers;	/* sent with the request */
	size_t		 nheaders;
	const char	*payload_hash;	/* hex SHA-256 or "UNSIGNED-PAYLOAD" */
	int		 payload_header; /* send x-amz-content-sha256 (S3) */
	const char	*region;
	const char	*service;
	const char	*key_id;
	const char	*secret;
	const char	*token;		/* session token or NULL */
	time_t		 now;
};

#define ST_SIGV4_MAX_ADDED 4

struct st_sigv4_result {
	/* Headers to send on top of the request's own, Authorization last. */
	struct st_sigv4_header added[ST_SIGV4_MAX_ADDED];
	size_t		 nadded;
	char		 amz_date[17];	/* YYYYMMDDTHHMMSSZ */
	struct st_buf	 authorization;
	struct st_buf	 canonical;	/* kept for tests and debugging */
	struct st_buf	 string_to_sign;
};

/* Signs with an Authorization header. Returns 0, or -1 when out of memory
 * or a required field is missing. Free the result with st_sigv4_free. */
int  st_sigv4_sign(const struct st_sigv4_request *, struct st_sigv4_result *);
void st_sigv4_free(struct st_sigv4_result *);

/*
 * A presigned URL's query string, appended to out: the request's own
 * parameters, then X-Amz-Algorithm, -Credential, -Date, -Expires,
 * -SignedHeaders (host only), -Security-Token, and X-Amz-Signature last.
 * The payload is UNSIGNED-PAYLOAD, as S3 wants. Headers are not signed.
 */
int  st_sigv4_presign(const struct st_sigv4_request *, unsigned expires,
                      struct st_buf *out);

/* Percent-encodes bytes as SigV4 wants; keep_slash for S3 object keys. */
int  st_sigv4_encode(struct st_buf *, const char *, size_t, int keep_slash);
/* An S3 key into a URL path (keeps '/'). */
int  st_sigv4_encode_key(struct st_buf *, const char *key, size_t len);
/* "a=1&b&c=x%20y": the parameters in the given order, for the URL. */
int  st_sigv4_query_string(struct st_buf *, const struct st_sigv4_param *,
                           size_t);

#endif
