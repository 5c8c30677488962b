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
 * Bodies. A request body is held by default (st_pcall_body copies it,
 * st_pcall_body_ref points at memory the service keeps until finish: a
 * part) and is sent again as is on a retry; or it streams from a source
 * (st_pcall_source), and then the request is tried again only while no
 * byte of it has been taken. An answer is collected whole, up to a bound;
 * or, once its headers are in, a headers hook may send a 2xx answer's
 * body to a sink instead (st_pcall_sink): a download, or a listing
 * parsed as it comes. The hook says whether the answer has then begun for
 * good (the application has its status line): such an answer is never
 * sent again whole, only resumed through the service's resume hook (a
 * Range from the first byte not yet delivered). An answer of 2xx whose
 * collected body still says "error" (S3's CompleteMultipartUpload and
 * CopyObject) is an error answer when the proto's ok_error finds a code:
 * retried and mapped here, like any other.
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
#include <stdint.h>

#include <stratus/backend.h>

#include "core/answer.h"
#include "core/guard.h"
#include "core/retry.h"

#include "core/xml.h"

struct st_conn;
struct st_stream;

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
	uint64_t			 length; /* held or streamed */
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
	/* Optional. The code of a collected 2xx answer that carries an
	 * error after all, found as error_code does; none: a success. */
	void		(*ok_error)(const char *body, size_t len, char *code,
			            size_t cap);
	/* Optional. The code of an error answer that names none (a HEAD
	 * has no body), or NULL: the status speaks alone. */
	const char	*(*bare_code)(long status);
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
/* Another pcall of the same call, proto and target, that runs beside pc
 * (a part of an upload): the call was admitted once, and is not admitted
 * again. NULL when memory runs out (the call is not failed then). */
struct st_pcall *st_pcall_sibling(const struct st_pcall *pc);
/* Cancels what is in flight (never from the pcall's own finish) and frees. */
void st_pcall_free(struct st_pcall *);

/* Describes the next request; forgets the previous one's headers, body
 * and answer. url is complete (query encoded by the service); path and
 * query are what the signer needs. Strings are copied. 0 or -1. */
int  st_pcall_prepare(struct st_pcall *, const char *method, const char *url,
                      const char *path, const struct st_pcall_pair *query,
                      size_t nquery);
/* Adds a header, or replaces the value of one of the same name. */
int  st_pcall_header(struct st_pcall *, const char *name, const char *value);
int  st_pcall_body(struct st_pcall *, const char *data, size_t len);
/* A held body the service keeps, unchanged, until finish (not copied). */
void st_pcall_body_ref(struct st_pcall *, const char *data, size_t len);

/* A request body of a known length, streamed: source gives up to cap
 * bytes, or 0 to pause sending (resume with st_xfer_resume on
 * st_pcall_xfer). Tried again only while the source has given nothing. */
typedef size_t (*st_pcall_source_fn)(struct st_pcall *, char *, size_t cap,
                                     void *arg);
void st_pcall_source(struct st_pcall *, uint64_t length, st_pcall_source_fn,
                     void *arg);

/*
 * The answer's body to a sink. headers runs when an attempt's final
 * headers are in (st_pcall_http_status tells which), and says where the
 * body goes: ST_PCALL_COLLECT (collected, as without a sink: an error
 * answer's body always is), ST_PCALL_SINK (to sink; the attempt may still
 * be retried, and headers runs again for the next one), ST_PCALL_BEGUN
 * (to sink, and the answer has begun for good). sink takes n bytes: n, 0
 * to pause receiving (st_xfer_resume), fewer to abort. An attempt that
 * fails after BEGUN is retried only when resume, if given, describes the
 * rest of the answer (st_pcall_header replaces a header) and returns 0.
 */
enum { ST_PCALL_COLLECT, ST_PCALL_SINK, ST_PCALL_BEGUN };
typedef int    (*st_pcall_headers_fn)(struct st_pcall *, void *arg);
typedef size_t (*st_pcall_sink_fn)(struct st_pcall *, const char *, size_t,
                                   void *arg);
typedef int    (*st_pcall_resume_fn)(struct st_pcall *, void *arg);
void st_pcall_sink(struct st_pcall *, st_pcall_headers_fn, st_pcall_sink_fn,
                   st_pcall_resume_fn, void *arg);

/* Two bodies every blob service has. A download: a 2xx answer's body to
 * the call's stream (st_stream_recv), headers and resume as above. An
 * upload: a request body of length bytes from it (st_stream_send). */
void st_pcall_sink_stream(struct st_pcall *, struct st_stream *,
                          st_pcall_headers_fn, st_pcall_resume_fn, void *arg);
void st_pcall_source_stream(struct st_pcall *, struct st_stream *,
                            uint64_t length);
/* A 2xx answer parsed as XML as it comes (a listing of any length), with
 * end as st_xml_new's, afresh on each attempt: reset (may be NULL) runs
 * first, to forget what a failed attempt gave. In finish,
 * st_pcall_xml_whole says whether the answer was whole, good XML. */
void st_pcall_sink_xml(struct st_pcall *, void (*reset)(void *arg),
                       st_xml_end_fn end, void *arg);
int  st_pcall_xml_whole(struct st_pcall *);

/* For a long poll: the provider may hold the answer this long before any
 * byte moves; the attempt's timeouts grow by as much. */
void st_pcall_wait(struct st_pcall *, unsigned wait_ms);
/* This request's stall timeout (no byte moving), instead of the
 * policy's attempt_timeout_ms; 0: the policy's. */
void st_pcall_stall(struct st_pcall *, unsigned stall_ms);
/* The exchange, for a stream that resumes it (st_stream_init). */
struct st_xfer *st_pcall_xfer(struct st_pcall *);

/* Starts the request (after delay_ms, without blocking: a poll's pause).
 * Returns -1 when it could not start; the call has then been failed. */
int  st_pcall_start(struct st_pcall *, enum st_pcall_kind, st_pcall_finish_fn,
                    void *arg);
int  st_pcall_start_after(struct st_pcall *, unsigned delay_ms,
                          enum st_pcall_kind, st_pcall_finish_fn, void *arg);

/* Cancels the exchange in flight, if any: finish will not run for it, and
 * the pcall may be prepared again (never from the pcall's own hooks). */
void st_pcall_cancel(struct st_pcall *);
/* Signs the prepared request (it has no body) and sends it once on an
 * exchange of its own that nobody waits for: a clean-up, such as
 * aborting an upload, that may outlive the call. 0, or -1. */
int  st_pcall_detach(struct st_pcall *);
/* Attempts of the request so far (1 in finish: it was sent once). */
unsigned st_pcall_attempts(const struct st_pcall *);

/* For signers: one header of the attempt. */
int  st_pcall_sign_add(struct st_pcall *, const char *name, const char *value);
/* For signers, before returning -1: there are no valid credentials to
 * sign with (why says why, never a secret); the call then fails as
 * ST_CREDENTIALS_UNAVAILABLE instead of internal. */
void st_pcall_sign_unavailable(struct st_pcall *, const char *why);

/* The current attempt's status, in a headers or sink hook. */
long        st_pcall_http_status(const struct st_pcall *);
/* The final answer, in finish. */
long        st_pcall_status(const struct st_pcall *);	/* 0: none */
const char *st_pcall_answer(const struct st_pcall *, size_t *len);
const char *st_pcall_code(const struct st_pcall *);	/* or NULL */
const char *st_pcall_header_value(const struct st_pcall *, const char *name);
/* A 2xx answer that carries no error code. */
int         st_pcall_ok(const struct st_pcall *);
/* No answer came because the attempt timed out. */
int         st_pcall_timed_out(const struct st_pcall *);
/* The final answer parsed as JSON (yajl_tree_free it), or NULL (not JSON,
 * or nested deeper than ST_JSON_DEPTH_MAX). */
struct yajl_val_s;
struct yajl_val_s *st_pcall_answer_json(const struct st_pcall *);
/* The API outcome of the final answer, through the proto's table. */
enum st_status st_pcall_outcome(const struct st_pcall *);
/* Fails the call with the outcome of a failed answer (no answer: 504 when
 * the attempt timed out, else 503), its provider code, a message naming
 * the service and store, and Retry-After for 503 and 504. */
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
