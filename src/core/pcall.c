/*
 * pcall.c - the provider-call engine (see pcall.h for the life of a call).
 *
 * One `struct st_pcall` holds one request at a time: its description
 * (copied, so that it can be signed and sent again on a retry), the
 * exchange that carries it, and the last attempt's answer. The retry loop
 * is the guard's: after each failed attempt st_guard_retry_wait says
 * whether and when; once an exchange is not retried any more, the breaker
 * hears how it ended (st_guard_report) and the service's finish runs.
 *
 * Hooks run on the engine's thread. finish may start the next request of
 * the same pcall; st_pcall_free cancels from the service's release.
 *
 * Whether a failed attempt may go again is decided in one place (retry):
 * never an answer too big to keep, nor a streamed body once bytes of it
 * were taken, nor an answer that has begun for good unless the service
 * can resume it; a request that is not idempotent only when it surely was
 * not done; then the guard's word (policy, deadline, budget).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yajl/yajl_tree.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/pcall.h"
#include "core/stream.h"
#include "core/transfer.h"
#include "core/xml.h"

#define MAX_PAIRS 48
#define DEFAULT_ANSWER_MAX (4u << 20)
#define CONNECT_MS 10000

struct st_pcall {
	struct st_call			*call;
	const struct st_pcall_proto	*proto;
	struct st_pcall_target		 target;
	struct st_xfer			*x;

	/* the request (strings in `strings`, pointed to by offset until
	 * attempt time, since the buffer may move while it grows) */
	struct st_buf			 strings;
	size_t				 method, url, host, path;
	size_t				 qname[MAX_PAIRS], qvalue[MAX_PAIRS];
	size_t				 nquery;
	size_t				 hname[MAX_PAIRS], hvalue[MAX_PAIRS];
	size_t				 nheaders;
	struct st_buf			 body;
	const char			*ref;	/* a held body not copied */
	size_t				 reflen;
	st_pcall_source_fn		 source; /* or a streamed one */
	void				*source_arg;
	uint64_t			 source_len;
	uint64_t			 sent;	/* bytes the source gave */
	st_pcall_headers_fn		 on_headers; /* the answer to a sink */
	st_pcall_sink_fn		 sink;
	st_pcall_resume_fn		 resume;
	void				*sink_arg;
	struct st_stream		*stream; /* the call's, or NULL */
	struct st_xml			*xml;	/* a listing's parser */
	int				 xml_bad; /* the answer is not XML */
	void				(*xml_reset)(void *);
	st_xml_end_fn			 xml_end;
	void				*xml_arg;
	unsigned			 wait_ms;
	unsigned			 stall_ms;
	enum st_pcall_kind		 kind;
	st_pcall_finish_fn		 finish;
	void				*arg;

	/* the attempts */
	unsigned			 attempt;
	long long			 started_ms;
	long				 status;	/* final; 0: none */
	struct st_buf			 answer;
	int				 too_big;
	int				 sinking;	/* this attempt's body */
	int				 begun;		/* answered for good */
	int				 timed_out;	/* the last attempt */
	char				 error[160];	/* curl's words */
	char				 code[64];
	char				 no_creds[400];	/* why, or "" */
};

static const struct st_xfer_hooks hooks;

/* ---------------------------------------------------------------- life */

static int due(struct st_xfer *, void *);

struct st_pcall *
st_pcall_new(struct st_call *c, const struct st_pcall_proto *proto,
             const struct st_pcall_target *target)
{
	struct st_pcall *pc;

	if (st_guard_admit(target->guard, &c->retry_after) == -1) {
		st_call_fail(c, ST_UNAVAILABLE, NULL, "store '%s' is failing: its "
		    "circuit is open, try again later", target->store);
		return NULL;
	}
	if ((pc = calloc(1, sizeof(*pc))) == NULL ||
	    (pc->x = st_xfer_new(&hooks, pc)) == NULL) {
		free(pc);
		/* An admitted probe must still report: say "healthy", since
		 * nothing was asked of the provider. */
		st_guard_outcome(target->guard, 1, 0);
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	pc->call = c;
	pc->proto = proto;
	pc->target = *target;
	st_xfer_conn(pc->x, target->conn);
	st_xfer_on_due(pc->x, due);
	return pc;
}

struct st_pcall *
st_pcall_sibling(const struct st_pcall *of)
{
	struct st_pcall *pc;

	if ((pc = calloc(1, sizeof(*pc))) == NULL ||
	    (pc->x = st_xfer_new(&hooks, pc)) == NULL) {
		free(pc);
		return NULL;
	}
	pc->call = of->call;
	pc->proto = of->proto;
	pc->target = of->target;
	st_xfer_conn(pc->x, pc->target.conn);
	st_xfer_on_due(pc->x, due);
	return pc;
}

void
st_pcall_free(struct st_pcall *pc)
{
	if (pc == NULL)
		return;
	st_xfer_free(pc->x);		/* cancels what is in flight */
	st_buf_free(&pc->strings);
	st_buf_free(&pc->body);
	st_buf_free(&pc->answer);
	st_xml_free(pc->xml);
	free(pc);
}

struct st_call *
st_pcall_call(const struct st_pcall *pc)
{
	return pc->call;
}

/* ---------------------------------------------------------------- request */

/* Copies s (with its NUL) into the strings buffer; its offset, or -1. */
static long
keep(struct st_pcall *pc, const char *s)
{
	size_t at = pc->strings.len;

	if (st_buf_add(&pc->strings, s, strlen(s) + 1) == -1)
		return -1;
	return (long)at;
}

static const char *
str(const struct st_pcall *pc, size_t off)
{
	return pc->strings.data + off;
}

/* "https://host:port/path?q" -> "host:port" kept as a string. */
static long
keep_host(struct st_pcall *pc, const char *url)
{
	const char *p = strstr(url, "://"), *end;
	char host[512];
	size_t n;

	p = p ? p + 3 : url;
	end = p + strcspn(p, "/?#");
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	return keep(pc, host);
}

int
st_pcall_prepare(struct st_pcall *pc, const char *method, const char *url,
                 const char *path, const struct st_pcall_pair *query,
                 size_t nquery)
{
	long m, u, h, p, n, v;
	size_t i;

	if (nquery > MAX_PAIRS)
		return -1;
	st_buf_reset(&pc->strings);
	st_buf_reset(&pc->body);
	pc->nquery = pc->nheaders = 0;
	pc->wait_ms = pc->stall_ms = 0;
	pc->ref = NULL;
	pc->source = NULL;
	pc->on_headers = NULL;
	pc->sink = NULL;
	pc->resume = NULL;
	pc->stream = NULL;
	st_xml_free(pc->xml);
	pc->xml = NULL;
	pc->xml_bad = 0;
	if ((m = keep(pc, method)) < 0 || (u = keep(pc, url)) < 0 ||
	    (h = keep_host(pc, url)) < 0 || (p = keep(pc, path)) < 0)
		return -1;
	pc->method = (size_t)m;
	pc->url = (size_t)u;
	pc->host = (size_t)h;
	pc->path = (size_t)p;
	for (i = 0; i < nquery; i++) {
		if ((n = keep(pc, query[i].name)) < 0 ||
		    (v = keep(pc, query[i].value ? query[i].value : "")) < 0)
			return -1;
		pc->qname[i] = (size_t)n;
		pc->qvalue[i] = (size_t)v;
	}
	pc->nquery = nquery;
	return 0;
}

int
st_pcall_header(struct st_pcall *pc, const char *name, const char *value)
{
	size_t i;
	long n, v;

	for (i = 0; i < pc->nheaders; i++)
		if (strcasecmp(str(pc, pc->hname[i]), name) == 0)
			break;
	if (i == MAX_PAIRS || (v = keep(pc, value)) < 0)
		return -1;
	if (i == pc->nheaders) {
		if ((n = keep(pc, name)) < 0)
			return -1;
		pc->hname[i] = (size_t)n;
		pc->nheaders++;
	}
	pc->hvalue[i] = (size_t)v;
	return 0;
}

int
st_pcall_body(struct st_pcall *pc, const char *data, size_t len)
{
	st_buf_reset(&pc->body);
	if (len == 0)
		return 0;
	return st_buf_add(&pc->body, data, len);
}

void
st_pcall_body_ref(struct st_pcall *pc, const char *data, size_t len)
{
	st_buf_reset(&pc->body);
	pc->ref = data ? data : "";
	pc->reflen = len;
}

void
st_pcall_source(struct st_pcall *pc, uint64_t length, st_pcall_source_fn fn,
                void *arg)
{
	st_buf_reset(&pc->body);
	pc->source = fn;
	pc->source_arg = arg;
	pc->source_len = length;
	pc->sent = 0;
}

void
st_pcall_sink(struct st_pcall *pc, st_pcall_headers_fn headers,
              st_pcall_sink_fn sink, st_pcall_resume_fn resume, void *arg)
{
	pc->on_headers = headers;
	pc->sink = sink;
	pc->resume = resume;
	pc->sink_arg = arg;
}

static size_t
stream_sink(struct st_pcall *pc, const char *p, size_t n, void *arg)
{
	(void)arg;
	return st_stream_recv(pc->stream, p, n);
}

void
st_pcall_sink_stream(struct st_pcall *pc, struct st_stream *st,
                     st_pcall_headers_fn headers, st_pcall_resume_fn resume,
                     void *arg)
{
	st_pcall_sink(pc, headers, stream_sink, resume, arg);
	pc->stream = st;
}

static size_t
stream_source(struct st_pcall *pc, char *buf, size_t cap, void *arg)
{
	(void)arg;
	return st_stream_send(pc->stream, buf, cap);
}

void
st_pcall_source_stream(struct st_pcall *pc, struct st_stream *st,
                       uint64_t length)
{
	st_pcall_source(pc, length, stream_source, NULL);
	pc->stream = st;
}

/* Each attempt's 2xx answer goes to a new parser; an error is collected. */
static int
xml_headers(struct st_pcall *pc, void *arg)
{
	(void)arg;
	if (st_pcall_http_status(pc) >= 300)
		return ST_PCALL_COLLECT;
	if (pc->xml_reset != NULL)
		pc->xml_reset(pc->xml_arg);
	st_xml_free(pc->xml);
	pc->xml_bad = (pc->xml = st_xml_new(pc->xml_end, pc->xml_arg)) == NULL;
	return ST_PCALL_SINK;
}

static size_t
xml_sink(struct st_pcall *pc, const char *p, size_t n, void *arg)
{
	(void)arg;
	if (!pc->xml_bad && st_xml_feed(pc->xml, p, n) == -1)
		pc->xml_bad = 1;	/* the rest is swallowed */
	return n;
}

void
st_pcall_sink_xml(struct st_pcall *pc, void (*reset)(void *),
                  st_xml_end_fn end, void *arg)
{
	st_pcall_sink(pc, xml_headers, xml_sink, NULL, NULL);
	pc->xml_reset = reset;
	pc->xml_end = end;
	pc->xml_arg = arg;
}

int
st_pcall_xml_whole(struct st_pcall *pc)
{
	return !pc->xml_bad && pc->xml != NULL && st_xml_finish(pc->xml) == 0;
}

void
st_pcall_wait(struct st_pcall *pc, unsigned wait_ms)
{
	pc->wait_ms = wait_ms;
}

void
st_pcall_stall(struct st_pcall *pc, unsigned stall_ms)
{
	pc->stall_ms = stall_ms;
}

struct st_xfer *
st_pcall_xfer(struct st_pcall *pc)
{
	return pc->x;
}

int
st_pcall_sign_add(struct st_pcall *pc, const char *name, const char *value)
{
	return st_xfer_add_header(pc->x, name, value);
}

void
st_pcall_sign_unavailable(struct st_pcall *pc, const char *why)
{
	snprintf(pc->no_creds, sizeof(pc->no_creds), "%s",
	    why != NULL && *why != '\0' ? why : "no valid credentials");
}

/* Arms the exchange for one attempt: URL, headers, fresh signature. */
static int
arm(struct st_pcall *pc)
{
	struct st_pcall_pair q[MAX_PAIRS], h[MAX_PAIRS];
	struct st_pcall_req r;
	long stall;
	size_t i;

	for (i = 0; i < pc->nquery; i++) {
		q[i].name = str(pc, pc->qname[i]);
		q[i].value = str(pc, pc->qvalue[i]);
	}
	for (i = 0; i < pc->nheaders; i++) {
		h[i].name = str(pc, pc->hname[i]);
		h[i].value = str(pc, pc->hvalue[i]);
	}
	r.method = str(pc, pc->method);
	r.url = str(pc, pc->url);
	r.host = str(pc, pc->host);
	r.path = str(pc, pc->path);
	r.query = q;
	r.nquery = pc->nquery;
	r.headers = h;
	r.nheaders = pc->nheaders;
	r.body = pc->ref ? pc->ref : pc->body.data ? pc->body.data : "";
	r.bodylen = pc->ref ? pc->reflen : pc->body.len;
	r.length = pc->source != NULL ? pc->source_len : r.bodylen;
	st_xfer_clear_headers(pc->x);
	if (st_xfer_set(pc->x, r.method, r.url) == -1)
		return -1;
	for (i = 0; i < pc->nheaders; i++)
		if (st_xfer_add_header(pc->x, h[i].name, h[i].value) == -1)
			return -1;
	/* libcurl would otherwise wait for "100 Continue" on large bodies. */
	st_xfer_add_header(pc->x, "Expect", NULL);
	if (pc->proto->sign != NULL &&
	    pc->proto->sign(pc, &r, pc->target.signer) == -1)
		return -1;
	if (pc->source != NULL)
		st_xfer_body_stream(pc->x, pc->source_len);
	else if (r.bodylen > 0 || strcmp(r.method, "POST") == 0 ||
	    strcmp(r.method, "PUT") == 0)
		st_xfer_body_memory(pc->x, r.body, r.bodylen);
	else
		st_xfer_body_none(pc->x);	/* the last request's is gone */
	stall = (long)(pc->stall_ms ? pc->stall_ms :
	    pc->target.retry->attempt_timeout_ms) + pc->wait_ms;
	st_xfer_timeouts(pc->x, CONNECT_MS, stall, 0);
	return 0;
}

/*
 * A delayed attempt (a retry's backoff) is armed and signed when its wait
 * is over, not before: signed before, it could go out with a token that
 * ran out, or was replaced, while it waited. No valid credentials by then:
 * the exchange ends unsent, and the call with credentials_unavailable.
 */
static int
due(struct st_xfer *x, void *ctx)
{
	struct st_pcall *pc = ctx;

	(void)x;
	return arm(pc);
}

static int
start_attempt(struct st_pcall *pc, unsigned delay_ms)
{
	st_buf_reset(&pc->answer);
	pc->too_big = pc->sinking = 0;
	pc->code[0] = '\0';
	pc->status = 0;
	if (delay_ms > 0)		/* armed by due() */
		return st_xfer_start_after(pc->x, delay_ms);
	if (arm(pc) == -1)
		return -1;
	return st_xfer_start(pc->x);
}

int
st_pcall_start_after(struct st_pcall *pc, unsigned delay_ms,
                     enum st_pcall_kind kind, st_pcall_finish_fn finish,
                     void *arg)
{
	pc->kind = kind;
	pc->finish = finish;
	pc->arg = arg;
	pc->attempt = 1;
	pc->begun = 0;
	pc->started_ms = st_now_ms() + delay_ms;
	pc->call->attempts++;
	pc->no_creds[0] = '\0';
	if (start_attempt(pc, delay_ms) == 0)
		return 0;
	st_guard_outcome(pc->target.guard, 1, 0);
	if (pc->no_creds[0] != '\0') {
		pc->call->retry_after = 5;
		st_call_fail(pc->call, ST_CREDENTIALS_UNAVAILABLE, NULL, "%s",
		    pc->no_creds);
		return -1;
	}
	st_call_fail(pc->call, ST_INTERNAL, NULL, "the %s request for store "
	    "'%s' could not be made", pc->proto->service, pc->target.store);
	return -1;
}

int
st_pcall_start(struct st_pcall *pc, enum st_pcall_kind kind,
               st_pcall_finish_fn finish, void *arg)
{
	return st_pcall_start_after(pc, 0, kind, finish, arg);
}

void
st_pcall_cancel(struct st_pcall *pc)
{
	st_xfer_cancel(pc->x);
}

int
st_pcall_detach(struct st_pcall *pc)
{
	static const struct st_xfer_hooks none = { NULL, NULL, NULL, NULL };
	struct st_xfer *own = pc->x, *x;
	int rc;

	if (pc->source != NULL || pc->ref != NULL || pc->body.len > 0 ||
	    (x = st_xfer_new(&none, NULL)) == NULL)
		return -1;
	/* Armed as an attempt of ours, then let go: the engine frees it. */
	st_xfer_conn(x, pc->target.conn);
	pc->x = x;
	rc = arm(pc);
	pc->x = own;
	if (rc == 0 && st_xfer_start_detached(x) == 0)
		return 0;
	st_xfer_free(x);
	return -1;
}

unsigned
st_pcall_attempts(const struct st_pcall *pc)
{
	return pc->attempt;
}

/* ---------------------------------------------------------------- answer */

static void
hook_headers(struct st_xfer *x, void *ctx)
{
	struct st_pcall *pc = ctx;
	int to;

	st_buf_reset(&pc->answer);
	pc->too_big = pc->sinking = 0;
	if (pc->on_headers == NULL)
		return;
	to = pc->on_headers(pc, pc->sink_arg);
	if (to != ST_PCALL_COLLECT && st_xfer_status(x) < 300) {
		pc->sinking = 1;
		pc->begun |= to == ST_PCALL_BEGUN;
	}
}

static size_t
hook_body(struct st_xfer *x, const char *p, size_t n, void *ctx)
{
	struct st_pcall *pc = ctx;
	size_t max = pc->proto->answer_max ? pc->proto->answer_max :
	    DEFAULT_ANSWER_MAX;

	(void)x;
	if (pc->sinking)
		return pc->sink(pc, p, n, pc->sink_arg);
	if (pc->too_big || pc->answer.len + n > max ||
	    st_buf_add(&pc->answer, p, n) == -1) {
		/* Taking part of a piece aborts the exchange (taking none
		 * would pause it); a piece of one byte is swallowed and the
		 * answer judged by the flag. */
		pc->too_big = 1;
		return n > 1 ? n - 1 : n;
	}
	return n;
}

static size_t
hook_source(struct st_xfer *x, char *buf, size_t cap, void *ctx)
{
	struct st_pcall *pc = ctx;
	size_t n;

	(void)x;
	n = pc->source(pc, buf, cap, pc->source_arg);
	pc->sent += n;
	return n;
}

/* The provider's code of an error answer: its header, else its body,
 * else what its status names. */
static void
find_code(struct st_pcall *pc, long status)
{
	const char *h = pc->proto->code_header ?
	    st_xfer_header(pc->x, pc->proto->code_header) : NULL;
	const char *bare;

	pc->code[0] = '\0';
	if (h != NULL && *h != '\0')
		snprintf(pc->code, sizeof(pc->code), "%s", h);
	else if (pc->proto->error_code != NULL && pc->answer.len > 0)
		pc->proto->error_code(pc->answer.data, pc->answer.len, pc->code,
		    sizeof(pc->code));
	if (pc->code[0] == '\0' && pc->proto->bare_code != NULL &&
	    (bare = pc->proto->bare_code(status)) != NULL)
		snprintf(pc->code, sizeof(pc->code), "%s", bare);
}

/* A collected 2xx answer that says "error" in its body: its code. */
static void
find_ok_error(struct st_pcall *pc)
{
	pc->code[0] = '\0';
	if (pc->proto->ok_error != NULL && !pc->sinking && !pc->too_big &&
	    pc->answer.len > 0)
		pc->proto->ok_error(pc->answer.data, pc->answer.len, pc->code,
		    sizeof(pc->code));
}

/*
 * May a request that is not idempotent be sent again? Only when the
 * provider surely did not act on it: no connection was made, or it
 * answered "throttled" (which means "not done").
 */
static int
surely_not_done(const struct st_pcall *pc, const struct st_xfer_result *r,
                long status)
{
	if (status == 0)
		return r->curl_code == 7 /* CURLE_COULDNT_CONNECT */ ||
		    r->curl_code == 6 /* CURLE_COULDNT_RESOLVE_HOST */;
	if (status == 429)
		return 1;
	return pc->code[0] != '\0' && (strcasestr(pc->code, "throttl") ||
	    strcasestr(pc->code, "slowdown") || strcmp(pc->code,
	    "ServerBusy") == 0 || strcasestr(pc->code, "RequestLimitExceeded"));
}

static int
retry(struct st_pcall *pc, const struct st_xfer_result *r, long status)
{
	unsigned asked = 0;
	long wait_ms;

	if (pc->too_big || (pc->source != NULL && pc->sent > 0))
		return 0;
	if (pc->kind == ST_PCALL_NOT_IDEMPOTENT && !surely_not_done(pc, r, status))
		return 0;
	/* The application has part of this answer: only its rest may be
	 * asked for. */
	if (pc->begun && (pc->resume == NULL ||
	    pc->resume(pc, pc->sink_arg) == -1))
		return 0;
	if (r->ok)
		asked = st_retry_after_ms(st_xfer_header(pc->x, "Retry-After"),
		    st_xfer_header(pc->x, "x-ms-retry-after-ms"),
		    st_xfer_header(pc->x, "x-amz-retry-after"));
	wait_ms = st_guard_retry_wait(pc->target.guard, pc->target.retry,
	    pc->started_ms, pc->attempt, r, status,
	    pc->code[0] ? pc->code : NULL, asked);
	if (wait_ms < 0)
		return 0;
	pc->attempt++;
	pc->call->attempts++;
	return start_attempt(pc, (unsigned)wait_ms) == 0;
}

static void
hook_done(struct st_xfer *x, const struct st_xfer_result *r, void *ctx)
{
	struct st_pcall *pc = ctx;
	long status = r->ok ? st_xfer_status(x) : 0;

	st_guard_attempt(pc->target.guard);
	pc->timed_out = !r->ok && r->timed_out;
	snprintf(pc->error, sizeof(pc->error), "%s", !r->ok && r->error ?
	    r->error : "");
	if (status >= 300)
		find_code(pc, status);
	else if (status > 0)
		find_ok_error(pc);
	if ((status == 0 || status >= 300 || pc->code[0] != '\0') &&
	    retry(pc, r, status))
		return;
	st_guard_report(pc->target.guard, r, status,
	    pc->code[0] ? pc->code : NULL, pc->attempt);
	pc->status = pc->too_big ? 0 : status;
	if (pc->too_big)
		snprintf(pc->code, sizeof(pc->code), "%s", "");
	pc->finish(pc, pc->arg);
}

static const struct st_xfer_hooks hooks = {
	hook_headers, hook_body, hook_source, hook_done
};

long
st_pcall_status(const struct st_pcall *pc)
{
	return pc->status;
}

long
st_pcall_http_status(const struct st_pcall *pc)
{
	return st_xfer_status(pc->x);
}

int
st_pcall_ok(const struct st_pcall *pc)
{
	return pc->status >= 200 && pc->status < 300 && pc->code[0] == '\0';
}

int
st_pcall_timed_out(const struct st_pcall *pc)
{
	return pc->status == 0 && pc->timed_out;
}

const char *
st_pcall_answer(const struct st_pcall *pc, size_t *len)
{
	*len = pc->answer.len;
	return pc->answer.data ? pc->answer.data : "";
}

const char *
st_pcall_code(const struct st_pcall *pc)
{
	return pc->code[0] ? pc->code : NULL;
}

const char *
st_pcall_header_value(const struct st_pcall *pc, const char *name)
{
	return st_xfer_header(pc->x, name);
}

yajl_val
st_pcall_answer_json(const struct st_pcall *pc)
{
	return st_json_parse(pc->answer.data ? pc->answer.data : "",
	    pc->answer.len);
}

enum st_status
st_pcall_outcome(const struct st_pcall *pc)
{
	if (pc->status == 0 && pc->no_creds[0] != '\0')
		return ST_CREDENTIALS_UNAVAILABLE;
	if (pc->status == 0)
		return pc->too_big ? ST_PROVIDER_ERROR : pc->timed_out ?
		    ST_TIMEOUT : ST_UNAVAILABLE;
	/* A 2xx that carries an error: what its code says, else a bad
	 * answer from the provider. */
	return st_answer_map(pc->proto->codes, pc->proto->ncodes,
	    pc->status < 300 ? 502 : pc->status, st_pcall_code(pc));
}

void
st_pcall_fail(struct st_pcall *pc)
{
	enum st_status st = st_pcall_outcome(pc);
	const char *code = st_pcall_code(pc);

	if (st == ST_UNAVAILABLE || st == ST_TIMEOUT)
		pc->call->retry_after = pc->call->retry_after ?
		    pc->call->retry_after : 1;
	if (st == ST_CREDENTIALS_UNAVAILABLE) {
		/* A retry found no valid credentials once its wait was over. */
		pc->call->retry_after = 5;
		st_call_fail(pc->call, st, NULL, "%s", pc->no_creds);
	} else if (pc->too_big)
		st_call_fail(pc->call, ST_PROVIDER_ERROR, NULL, "%s answered "
		    "more than the daemon keeps for store '%s'",
		    pc->proto->service, pc->target.store);
	else if (pc->status == 0)
		st_call_fail(pc->call, st, NULL, "%s could not be reached for "
		    "store '%s'%s%s", pc->proto->service, pc->target.store,
		    pc->error[0] ? ": " : "", pc->error);
	else
		st_call_fail(pc->call, st, code, "%s answered %ld%s%s for "
		    "store '%s'", pc->proto->service, pc->status,
		    code ? " " : "", code ? code : "", pc->target.store);
}

/* ---------------------------------------------------------------- codes */

/* Copies a JSON string node's text into code (NUL-terminated). */
static void
copy_code(const yajl_val v, char *code, size_t cap)
{
	const char *s = YAJL_GET_STRING(v);

	if (s != NULL)
		snprintf(code, cap, "%s", s);
}

void
st_pcall_code_json_type(const char *body, size_t len, char *code, size_t cap)
{
	const char *type_path[] = { "__type", NULL };
	const char *code_path[] = { "code", NULL };
	yajl_val v = st_json_parse(body, len), t;
	const char *hash;

	if (v == NULL)
		return;
	if ((t = yajl_tree_get(v, type_path, yajl_t_string)) == NULL)
		t = yajl_tree_get(v, code_path, yajl_t_string);
	if (t != NULL && YAJL_IS_STRING(t)) {
		/* The part after '#', before any cut: the namespace alone
		 * can fill the code's room. */
		const char *text = t->u.string;

		hash = strrchr(text, '#');
		snprintf(code, cap, "%s", hash ? hash + 1 : text);
	}
	yajl_tree_free(v);
}

void
st_pcall_code_odata(const char *body, size_t len, char *code, size_t cap)
{
	const char *path[] = { "odata.error", "code", NULL };
	yajl_val v = st_json_parse(body, len), t;

	if (v == NULL)
		return;
	if ((t = yajl_tree_get(v, path, yajl_t_string)) != NULL)
		copy_code(t, code, cap);
	yajl_tree_free(v);
}

struct xml_code {
	char	*code;
	size_t	 cap;
};

static int
xml_code_end(const char *path, const char *text, size_t len, void *arg)
{
	struct xml_code *xc = arg;

	if (strcmp(path, "Error/Code") == 0)
		snprintf(xc->code, xc->cap, "%.*s", (int)len, text);
	return 0;
}

void
st_pcall_code_xml(const char *body, size_t len, char *code, size_t cap)
{
	struct xml_code xc = { code, cap };

	st_xml_parse(xml_code_end, &xc, body, len);
}
