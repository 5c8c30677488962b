/*
 * pcall.h - the provider-call engine: one exchange with a cloud service,
 * from admission to a final answer, the same for every provider service.
 *
 * A provider service (SQS, DynamoDB, Azure Queue, Azure Table, ...) says
 * once, in a `struct st_pcall_proto`, what differs between services: how a
 * request is signed, where an error answer keeps its code, and what each
 * code means. Everything else is here, written once:
 *
 *   admit     the store's circuit breaker (st_guard_admit)
 *   prepare   the service describes method, URL, headers and body
 *   sign      before every attempt (the signature carries the time)
 *   start     on the calling thread's transfer engine
 *   retry     connection failures, timeouts, 408/429/5xx and throttling
 *             codes, with backoff, within the endpoint's retry budget and
 *             the call's deadline (st_guard_retry_wait); a request that
 *             is not idempotent is retried only when the provider cannot
 *             have acted on it (no connection, or an answer that says
 *             "throttled, nothing done")
 *   collect   the whole answer in memory, up to proto->answer_max bytes
 *   map       an error answer's code through the service's table
 *   finish    the service's finish function, once, on the engine thread
 *
 * Bodies are small here (queue messages, table entities, control
 * requests): a request body is held so that it can be sent again, and the
 * answer is collected whole. Blob data streams through other paths.
 *
 *   pc = st_pcall_new(call, proto, target);     NULL: the call has failed
 *   st_pcall_prepare(pc, "POST", url, path, query, nquery);
 *   st_pcall_header(pc, "X-Amz-Target", "AmazonSQS.SendMessage");
 *   st_pcall_body(pc, json, len);
 *   st_pcall_start(pc, ST_PCALL_NOT_IDEMPOTENT, finish, arg);
 *   ...
 *   finish(pc, arg): st_pcall_status(pc) (0: no answer), st_pcall_answer(),
 *                    st_pcall_code(), or st_pcall_fail(pc) for the usual
 *                    mapping of a failure onto the call.
 *
 * A pcall may be prepared and started again after its finish (the next
 * step of the same call: GetQueueUrl then SendMessage, a poll). It is
 * freed by the service's release with st_pcall_free, which cancels an
 * exchange in flight; finish never runs after that.
 */
#ifndef STRATUS_CORE_PCALL_H
#define STRATUS_CORE_PCALL_H

#include <stddef.h>

#include <stratus/backend.h>

#include "core/answer.h"
#include "core/guard.h"
#include "core/retry.h"

struct st_conn;

struct st_pcall;

/* A name and value: a query parameter (decoded) or a header. */
struct st_pcall_pair {
	const char	*name;
	const char	*value;
};

/* What a signer sees of one attempt. */
struct st_pcall_req {
	const char			*method;
	const char			*url;	/* as sent, query included */
	const char			*host;	/* Host: "h" or "h:port" */
	const char			*path;	/* encoded, no query */
	const struct st_pcall_pair	*query;	/* decoded */
	size_t				 nquery;
	const struct st_pcall_pair	*headers; /* the service's own */
	size_t				 nheaders;
	const char			*body;
	size_t				 bodylen;
};

struct st_pcall_proto {
	const char	*service;	/* "SQS": in error messages */
	/* Adds the attempt's authentication headers with st_pcall_sign_add.
	 * 0, or -1 (the call fails as internal). */
	int		(*sign)(struct st_pcall *, const struct st_pcall_req *,
			        void *signer);
	/* Finds the provider's error code in an error answer's body (NULL
	 * when the body says nothing); code_header, when set, is read
	 * first (e.g. "x-ms-error-code"). */
	void		(*error_code)(const char *body, size_t len, char *code,
			              size_t cap);
	const char	*code_header;
	const struct st_answer_code *codes;
	size_t		 ncodes;
	size_t		 answer_max;	/* bytes of an answer kept; 0: 4 MiB */
};

/* Where a store's calls go: its guard, policy and signing material. */
struct st_pcall_target {
	const char			*store;	/* name, for messages */
	struct st_guard			*guard;
	const struct st_retry_policy	*retry;
	void				*signer; /* handed to proto->sign */
	const struct st_conn		*conn;	/* CA and proxy, or NULL */
};

enum st_pcall_kind {
	ST_PCALL_IDEMPOTENT,		/* safe to send twice */
	ST_PCALL_NOT_IDEMPOTENT		/* retried only when surely not done */
};

typedef void (*st_pcall_finish_fn)(struct st_pcall *, void *arg);

/* Admits a call: NULL when the store's circuit is open or memory ran out,
 * and then the call has been failed (st_call_fail) already. */
struct st_pcall *st_pcall_new(struct st_call *, const struct st_pcall_proto *,
                              const struct st_pcall_target *);
/* Cancels what is in flight (never from the pcall's own finish) and frees. */
void st_pcall_free(struct st_pcall *);

/* Describes the next request; forgets the previous one's headers, body
 * and answer. url is complete (query encoded by the service); path and
 * query are what the signer needs. Strings are copied. 0 or -1. */
int  st_pcall_prepare(struct st_pcall *, const char *method, const char *url,
                      const char *path, const struct st_pcall_pair *query,
                      size_t nquery);
int  st_pcall_header(struct st_pcall *, const char *name, const char *value);
int  st_pcall_body(struct st_pcall *, const char *data, size_t len);
/* For a long poll: the provider may hold the answer this long before any
 * byte moves; the attempt's timeouts grow by as much. */
void st_pcall_wait(struct st_pcall *, unsigned wait_ms);

/* Starts the request (after delay_ms, without blocking: a poll's pause).
 * Returns -1 when it could not start; the call has then been failed. */
int  st_pcall_start(struct st_pcall *, enum st_pcall_kind, st_pcall_finish_fn,
                    void *arg);
int  st_pcall_start_after(struct st_pcall *, unsigned delay_ms,
                          enum st_pcall_kind, st_pcall_finish_fn, void *arg);

/* For signers: one header of the attempt. */
int  st_pcall_sign_add(struct st_pcall *, const char *name, const char *value);
/* For signers, before returning -1: there are no valid credentials to
 * sign with (why says why, never a secret); the call then fails as
 * ST_CREDENTIALS_UNAVAILABLE instead of internal. */
void st_pcall_sign_unavailable(struct st_pcall *, const char *why);

/* The final answer, in finish. */
long        st_pcall_status(const struct st_pcall *);	/* 0: none */
const char *st_pcall_answer(const struct st_pcall *, size_t *len);
const char *st_pcall_code(const struct st_pcall *);	/* or NULL */
const char *st_pcall_header_value(const struct st_pcall *, const char *name);
int         st_pcall_ok(const struct st_pcall *);	/* a 2xx answer */
/* The final answer parsed as JSON (yajl_tree_free it), or NULL (not JSON,
 * or nested deeper than ST_JSON_DEPTH_MAX). */
struct yajl_val_s;
struct yajl_val_s *st_pcall_answer_json(const struct st_pcall *);
/* The API outcome of the final answer, through the proto's table. */
enum st_status st_pcall_outcome(const struct st_pcall *);
/* Fails the call with the outcome of a failed answer, its provider code,
 * a message naming the service and store, and Retry-After for 503. */
void st_pcall_fail(struct st_pcall *);
struct st_call *st_pcall_call(const struct st_pcall *);

/* Ready-made error_code readers. */
/* {"__type": "com.amazonaws...#Code"} or {"code": ...}: the part after '#'. */
void st_pcall_code_json_type(const char *, size_t, char *, size_t);
/* {"odata.error": {"code": "..."}} */
void st_pcall_code_odata(const char *, size_t, char *, size_t);
/* <Error><Code>...</Code></Error> */
void st_pcall_code_xml(const char *, size_t, char *, size_t);

#endif
