/*
 * s3.c - blob stores on Amazon S3 and S3-compatible services.
 *
 * Every operation of the blob API becomes one or a few S3 requests, run
 * by the provider-call engine (src/core/pcall.c) with this file's protocol
 * (s3_proto): SigV4 signing (src/sign/sigv4.c), S3's XML errors and their
 * meaning, and a 200 that carries an <Error>. This file decides which
 * requests, and how their answers map back; it has no call loop and does
 * no I/O of its own.
 *
 * Streaming
 * ---------
 * GET: the response body flows through a bounded pipe (src/core/stream.c).
 * curl's write hook fills it and pauses receiving when it is full; the
 * application side (read) drains it and resumes curl. HEAD-like
 * information (size, ETag, metadata) is handed to the core as soon as S3's
 * headers arrive, so the application gets its status line before any byte
 * of the body.
 *
 * PUT of a known length up to multipart_threshold: one PutObject whose
 * body streams through the pipe the other way (UNSIGNED-PAYLOAD, so the
 * body need not be hashed before it is sent). Such a body is not held,
 * so it cannot be re-sent: a failure after the first byte fails the call.
 *
 * Larger or unknown-length PUT: a multipart upload. Bytes are cut into
 * parts of part_size; each part is held in memory until S3 acknowledges
 * it, so a part is retried on its own (src/core/upload.c drives the
 * parts, src/core/parts.c keeps them; this file says only how a part is
 * sent and the upload completed). Part buffers come from a budget shared
 * by every upload of the process (parts_budget, src/core/budget.c): when
 * it is spent, write() takes nothing and the upload waits, suspended, for
 * a buffer; no upload fails for lack of memory. Up to four parts of one
 * upload are in flight. The upload is completed (with If-Match /
 * If-None-Match when given) only after every part is in; any failure, or
 * the application going away, aborts it, so no partial object ever
 * becomes visible.
 *
 * Retries are the engine's: requests whose body is held (none, the held
 * body, or a part) are retried on connection errors, timeouts, 408/429/5xx
 * and S3's throttling codes, with full-jitter backoff (src/core/retry.c),
 * within the endpoint's retry budget, the call's deadline and the store's
 * circuit breaker (src/core/guard.c); a streamed PutObject only until S3
 * has taken a byte of it, a download once begun only by resuming it.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include <stratus/backend.h>

#include "core/answer.h"
#include "core/blobcall.h"
#include "core/budget.h"
#include "core/buf.h"
#include "core/conn.h"
#include "core/guard.h"
#include "core/parts.h"
#include "core/pcall.h"
#include "core/retry.h"
#include "core/stream.h"
#include "core/transfer.h"
#include "core/upload.h"
#include "core/validate.h"
#include "core/xml.h"
#include "core/confval.h"
#include "providers/aws/aws.h"
#include "sign/hmac.h"
#include "sign/sigv4.h"

#define PIPE_SIZE (1024 * 1024)	/* uploads; downloads at most */
#define PARTS_IN_FLIGHT 4
#define MAX_PARTS 10000
#define DEFAULT_THRESHOLD (16ULL << 20)
#define DEFAULT_PART_SIZE (8ULL << 20)
#define MIN_PART_SIZE (5ULL << 20)

/* ---------------------------------------------------------------- store */


struct s3_store {
	char			 name[ST_STORE_NAME_MAX + 1];
	char			 bucket[64];
	char			 region[64];
	char			 scheme_host[512];	/* "https://host[:port]" */
	char			 host[512];		/* Host header */
	char			 prefix[128];		/* "/bucket" path style, else "" */
	char			 account[600];		/* same_account identity */
	uint64_t		 threshold;
	uint64_t		 part_size;
	struct st_creds		*creds;		/* shared, refreshed */
	struct st_retry_policy	 retry;
	struct st_guard		*guard;		/* retry budget, breaker */
	struct st_conn		 conn;		/* CA and proxy */
};

static const char *const s3_keys[] = {
	"name", "kind", "provider", "bucket", "region", "credentials",
	"endpoint", "path_style", "multipart_threshold", "part_size",
	"max_object_size", "allow_anonymous", "retry", ST_CONN_KEYS, NULL
};

/* ---------------------------------------------------------------- parts budget */

/*
 * The memory all multipart uploads of the process may hold in part
 * buffers (and held bodies). A waiting upload is woken, first come first
 * served, when a buffer is given back.
 */
#define PARTS_BUDGET (40ULL << 20)

static struct st_budget parts_budget = ST_BUDGET_INIT(PARTS_BUDGET);

/* ---------------------------------------------------------------- call */

struct s3_call {
	struct st_blobcall	 bc;		/* first: the core's part */
	struct s3_store		*s;
	struct st_buf		 req_body;	/* held request body (XML) */

	/* listing */
	struct {
		char	*key;
		uint64_t size;
		char	*etag;
		time_t	 mtime;
		char	*next_token;
		int	 truncated;
	} ls;

	/* multipart (the parts named by their ETags) */
	char			*upload_id;
	char			*complete_etag;	/* malloc'ed, from the XML */
	time_t			 complete_sent;	/* when Complete was first sent */
	unsigned		 verify_tries;
};

/* ---------------------------------------------------------------- config */

static int
valid_bucket(const char *b)
{
	size_t n = strlen(b), i;

	if (n < 3 || n > 63)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)b[i]) && !isdigit((unsigned char)b[i]) &&
		    b[i] != '-' && b[i] != '.')
			return 0;
	return 1;
}

static int
set_endpoint(struct s3_store *s, const char *endpoint, int path_style,
             char *err, size_t errlen)
{
	const char *host;
	int bad = 0;

	if (endpoint == NULL) {
		/* Virtual-hosted style, unless the bucket has dots (TLS
		 * wildcards do not cover them) or path style was asked for. */
		if (path_style == 1 || strchr(s->bucket, '.') != NULL) {
			bad |= st_format(s->host, sizeof(s->host), "s3.%s.amazonaws.com",
			    s->region);
			bad |= st_format(s->prefix, sizeof(s->prefix), "/%s", s->bucket);
		} else {
			bad |= st_format(s->host, sizeof(s->host), "%s.s3.%s.amazonaws.com",
			    s->bucket, s->region);
		}
		bad |= st_format(s->scheme_host, sizeof(s->scheme_host), "https://%s",
		    s->host);
	} else if (strncmp(endpoint, "http://", 7) != 0 &&
	    strncmp(endpoint, "https://", 8) != 0) {
		snprintf(err, errlen, "endpoint must start with http:// or https://");
		return -1;
	} else {
		host = strstr(endpoint, "://") + 3;
		if (*host == '\0' || strchr(host, '/') != NULL) {
			snprintf(err, errlen, "endpoint must be scheme://host[:port] "
			    "without a path");
			return -1;
		}
		if (path_style == 0) {
			bad |= st_format(s->host, sizeof(s->host), "%s.%s", s->bucket, host);
			bad |= st_format(s->scheme_host, sizeof(s->scheme_host), "%.*s%s",
			    (int)(host - endpoint), endpoint, s->host);
		} else {
			bad |= st_format(s->host, sizeof(s->host), "%s", host);
			bad |= st_format(s->scheme_host, sizeof(s->scheme_host), "%s",
			    endpoint);
			bad |= st_format(s->prefix, sizeof(s->prefix), "/%s", s->bucket);
		}
	}
	if (bad) {
		snprintf(err, errlen, "endpoint, bucket or region too long");
		return -1;
	}
	return 0;
}

static void s3_close(void *);

static int
s3_open(const config_setting_t *conf, const struct st_store_env *env,
        void **out, char *err, size_t errlen)
{
	const char *bucket = NULL, *region = "us-east-1", *endpoint = NULL;
	const char *cred_endpoint = NULL;
	struct s3_store *s;
	int path_style = -1;

	if (st_conf_only_keys(conf, s3_keys, err, errlen) == -1)
		return -1;
	if (!config_setting_lookup_string(conf, "bucket", &bucket) ||
	    !valid_bucket(bucket)) {
		snprintf(err, errlen, "an s3 store needs bucket = \"NAME\" (3 to 63 "
		    "of a-z 0-9 . -)");
		return -1;
	}
	config_setting_lookup_string(conf, "region", &region);
	config_setting_lookup_string(conf, "endpoint", &endpoint);
	config_setting_lookup_bool(conf, "path_style", &path_style);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	*out = s;
	snprintf(s->name, sizeof(s->name), "%s", env->name);
	snprintf(s->bucket, sizeof(s->bucket), "%s", bucket);
	snprintf(s->region, sizeof(s->region), "%s", region);
	s->threshold = DEFAULT_THRESHOLD;
	s->part_size = DEFAULT_PART_SIZE;
	st_retry_defaults(&s->retry);
	if (st_conf_size(conf, "multipart_threshold", 0, 5ULL << 40, &s->threshold,
	    err, errlen) == -1 || st_conf_size(conf, "part_size", MIN_PART_SIZE,
	    5ULL << 30, &s->part_size, err, errlen) == -1 ||
	    st_retry_from_config(config_lookup(conf->config, "retry"), &s->retry,
	    err, errlen) == -1 || st_retry_from_config(config_setting_get_member(
	    conf, "retry"), &s->retry, err, errlen) == -1 ||
	    (s->creds = aws_open_creds(env, &cred_endpoint, err,
	    errlen)) == NULL)
		goto fail;
	if (endpoint == NULL)
		endpoint = cred_endpoint;
	if (set_endpoint(s, endpoint, endpoint != NULL && path_style == -1 ? 1 :
	    path_style, err, errlen) == -1 ||
	    st_conn_for_store(&s->conn, conf, env, err, errlen) == -1 ||
	    !st_conn_url_allowed(&s->conn, s->scheme_host, err, errlen))
		goto fail;
	/* One identity: the same credentials group (its key id may change
	 * at every refresh). */
	if (st_format(s->account, sizeof(s->account), "%s|%s|%s", s->scheme_host,
	    s->region, st_creds_name(s->creds)) == -1) {
		snprintf(err, errlen, "endpoint or credentials name too long");
		goto fail;
	}
	if (!env->check_only &&
	    (s->guard = st_guard_open(s->name, s->scheme_host, &s->retry)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	s3_close(s);
	*out = NULL;
	return -1;
}

static void
s3_close(void *p)
{
	struct s3_store *s = p;

	if (s == NULL)
		return;
	st_guard_close(s->guard);
	st_creds_close(s->creds);
	st_conn_clear(&s->conn);
	free(s);
}

static int
s3_same_account(void *a, void *b)
{
	struct s3_store *x = a, *y = b;

	/* One endpoint and one identity: S3 can copy between the buckets. */
	return strcmp(x->account, y->account) == 0;
}

/* ---------------------------------------------------------------- requests */

/* ---------------------------------------------------------------- protocol */

/* SigV4 of one S3 request (its credentials filled in at signing). */
static int
s3_sign_with(const void *arg, const struct st_creds_snap *snap, time_t now,
             struct st_sigv4_result *out)
{
	struct st_sigv4_request r = *(const struct st_sigv4_request *)arg;

	return aws_sigv4_as(&r, snap, now, out);
}

/*
 * The proto's sign: SigV4 over the request as described, its payload hash
 * the x-amz-content-sha256 header that every S3 request carries (the
 * body's SHA-256, or UNSIGNED-PAYLOAD for a body not hashed first).
 */
static int
s3_sign(struct st_pcall *pc, const struct st_pcall_req *req, void *signer)
{
	struct s3_store *s = signer;
	struct st_sigv4_header h[64];
	struct st_sigv4_param q[8];
	struct st_sigv4_request r;
	size_t i;

	if (aws_sigv4_req(&r, req, h, sizeof(h) / sizeof(h[0]), q,
	    sizeof(q) / sizeof(q[0])) == -1)
		return -1;
	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(h[i].name, "x-amz-content-sha256") == 0)
			r.payload_hash = h[i].value;
	r.region = s->region;
	r.service = "s3";
	return aws_sign_attempt(pc, s->creds, s3_sign_with, &r);
}

/* CompleteMultipartUpload and CopyObject may answer 200 and then an
 * <Error> document. Only such a document is parsed: a result is not. */
static void
s3_ok_error(const char *body, size_t len, char *code, size_t cap)
{
	if (memmem(body, len < 512 ? len : 512, "<Error>", 7) != NULL)
		st_pcall_code_xml(body, len, code, cap);
}

/*
 * Describes pc's next request: method, an object key of store s
 * (NULL: its bucket), query parameters, extra headers (name, value pairs,
 * NULL-ended; a NULL value is left out) and the payload hash. -1 when it
 * could not be made, and then the call has failed.
 */
static int
s3_request(struct st_pcall *pc, const struct s3_store *s, const char *method,
           const char *key, size_t keylen, const struct st_sigv4_param *q,
           size_t nq, const char *const *headers, const char *payload_hash)
{
	struct st_pcall_pair pq[8];
	struct st_buf path = { 0 }, url = { 0 };
	size_t i;
	int rc = -1;

	if (nq > sizeof(pq) / sizeof(pq[0]))
		goto out;
	st_buf_adds(&path, s->prefix);
	st_buf_adds(&path, "/");
	if (key != NULL && st_sigv4_encode_key(&path, key, keylen) == -1)
		goto out;
	st_buf_adds(&url, s->scheme_host);
	st_buf_add(&url, path.data, path.len);
	if (nq > 0) {
		st_buf_adds(&url, "?");
		st_sigv4_query_string(&url, q, nq);
	}
	for (i = 0; i < nq; i++) {
		pq[i].name = q[i].name;
		pq[i].value = q[i].value;
	}
	if (path.failed || url.failed || st_pcall_prepare(pc, method, url.data,
	    path.data, pq, nq) == -1)
		goto out;
	for (i = 0; headers != NULL && headers[i] != NULL; i += 2)
		if (headers[i + 1] != NULL &&
		    st_pcall_header(pc, headers[i], headers[i + 1]) == -1)
			goto out;
	rc = st_pcall_header(pc, "x-amz-content-sha256", payload_hash);
out:
	st_buf_free(&path);
	st_buf_free(&url);
	if (rc == -1 && !st_call_is_done(st_pcall_call(pc)))
		st_call_fail(st_pcall_call(pc), ST_INTERNAL, NULL, "the request "
		    "could not be made");
	return rc;
}

/* Describes and starts a bodiless request on the call's own store. */
static int
s3_send(struct s3_call *sc, const char *method, const struct st_sigv4_param *q,
        size_t nq, const char *const *headers, st_pcall_finish_fn finish)
{
	if (s3_request(sc->bc.pc, sc->s, method, sc->bc.call->key,
	    sc->bc.call->keylen, q, nq, headers, "UNSIGNED-PAYLOAD") == -1)
		return -1;
	return st_pcall_start(sc->bc.pc, ST_PCALL_IDEMPOTENT, finish, sc);
}

/* ---------------------------------------------------------------- answers */

static const struct st_answer_code code_map[] = {
	{ "NoSuchKey", ST_NOT_FOUND }, { "NoSuchBucket", ST_NOT_FOUND },
	{ "NoSuchUpload", ST_NOT_FOUND },
	{ "PreconditionFailed", ST_PRECONDITION },
	{ "ConditionalRequestConflict", ST_CONFLICT },
	{ "AccessDenied", ST_FORBIDDEN },
	{ "InvalidAccessKeyId", ST_FORBIDDEN },
	{ "SignatureDoesNotMatch", ST_FORBIDDEN },
	{ "ExpiredToken", ST_FORBIDDEN }, { "InvalidToken", ST_FORBIDDEN },
	{ "InvalidRange", ST_RANGE },
	{ "EntityTooLarge", ST_TOO_LARGE },
	{ "BadDigest", ST_BAD_DIGEST }, { "InvalidDigest", ST_BAD_DIGEST },
	{ "SlowDown", ST_UNAVAILABLE },
	{ "ServiceUnavailable", ST_UNAVAILABLE },
	{ "InternalError", ST_UNAVAILABLE },
	{ "RequestTimeout", ST_TIMEOUT },
};

/* Maps an S3 answer to the API's outcome. */
static enum st_status
map_status(long status, const char *code)
{
	return st_answer_map(code_map, sizeof(code_map) / sizeof(code_map[0]),
	    status, code);
}

/* Names the S3 code of an answer without a body (HEAD). */
static const char *
code_of_status(long status)
{
	switch (status) {
	case 304: return NULL;
	case 403: return "AccessDenied";
	case 404: return "NoSuchKey";
	case 412: return "PreconditionFailed";
	default: return NULL;
	}
}

/*
 * Every S3 request is idempotent for the engine, as it always was here:
 * objects are written whole or not at all, a DELETE twice is one, and an
 * upload created twice leaves one to be aborted. The two cases where a
 * request sent again may meet its own first attempt (a conditional PUT,
 * CompleteMultipartUpload) are checked after the fact with a HEAD.
 */
static const struct st_pcall_proto s3_proto = {
	.service = "S3",
	.sign = s3_sign,
	.error_code = st_pcall_code_xml,
	.codes = code_map,
	.ncodes = sizeof(code_map) / sizeof(code_map[0]),
	.ok_error = s3_ok_error,
	.bare_code = code_of_status,
};

/* ---------------------------------------------------------------- object info */

/* Object information from the headers of a HEAD, GET or PUT answer. */
static const struct st_object_headers s3_object = { "x-amz-meta-", NULL,
    NULL, NULL };

static void
info_from_headers(struct s3_call *sc, struct st_xfer *x)
{
	st_blobcall_info(sc->bc.call, x, &s3_object);
}

/* ---------------------------------------------------------------- hooks */

/* Is "first of total" what the requested range starts at? S3 look-alikes
 * have been seen to answer a range they were not asked for. */
static int
range_answered(const struct st_call *c, uint64_t first, uint64_t total)
{
	if (!c->range.set)
		return 1;
	if (!c->range.suffix)
		return first == c->range.first;
	if (c->range.last == 0)
		return 0;		/* "-0" asks for nothing */
	return first == (c->range.last >= total ? 0 : total - c->range.last);
}

static int
unsatisfiable(const struct st_call *c, uint64_t total)
{
	if (!c->range.set)
		return total == 0;
	return c->range.suffix ? c->range.last == 0 || total == 0 :
	    c->range.first >= total;
}

static void
get_headers(struct s3_call *sc, struct st_xfer *x)
{
	struct st_call *c = sc->bc.call;
	long status = st_xfer_status(x);
	const char *cr;

	if (status == 304) {
		info_from_headers(sc, x);
		/* Some S3 look-alikes leave ETag out of a 304; when the client
		 * named one version, that is the one that matched. */
		if (c->info.etag == NULL && c->if_none_match != NULL &&
		    c->if_none_match[0] == '"' && strchr(c->if_none_match, ',') == NULL)
			c->info.etag = st_call_strdup(c, c->if_none_match);
		c->status = ST_NOT_MODIFIED;
		st_call_done(c);
		return;
	}
	if (status >= 300)
		return;
	info_from_headers(sc, x);
	/* The conditions are checked here too, so that lists of ETags and
	 * the weak comparison of If-None-Match mean the same on any
	 * S3-compatible store, whatever it makes of them. */
	if (c->if_none_match != NULL && c->info.etag != NULL &&
	    st_etag_match(c->if_none_match, c->info.etag, 1)) {
		c->status = ST_NOT_MODIFIED;
		st_call_done(c);
		return;
	}
	if (c->if_match != NULL && (c->info.etag == NULL ||
	    !st_etag_match(c->if_match, c->info.etag, 0))) {
		st_call_fail(c, ST_PRECONDITION, "PreconditionFailed", "If-Match "
		    "names no current version of the object");
		return;
	}
	if (c->op == ST_OP_GET && (cr = st_blobcall_range(c, x)) != NULL) {
		unsigned long long first, last, total;

		if (sscanf(cr, "bytes %llu-%llu/%llu", &first, &last,
		    &total) != 3 || first > last || last >= total ||
		    !range_answered(c, first, total)) {
			/* Not the range asked for, or no range at all (an
			 * emulator's answer for an empty object): the range
			 * cannot be served. */
			if (sscanf(cr, "bytes %*[^/]/%llu", &total) == 1 &&
			    unsatisfiable(c, total)) {
				c->info.size = total;
				st_call_fail(c, ST_RANGE, "InvalidRange", "the "
				    "range is outside the object of %llu bytes",
				    total);
			} else {
				st_call_fail(c, ST_PROVIDER_ERROR, NULL, "S3 "
				    "answered a range it was not asked for");
			}
			return;
		}
		c->body_first = first;
	}
	st_blobcall_answer(&sc->bc, x, PIPE_SIZE);
}


/* ---------------------------------------------------------------- call life */

static struct s3_call *
sc_new(struct st_call *c)
{
	struct s3_store *s = c->store;
	struct st_pcall_target t = { s->name, s->guard, &s->retry, s, &s->conn };
	struct s3_call *sc = calloc(1, sizeof(*sc));

	if (sc == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	sc->s = s;
	return st_blobcall_init(&sc->bc, c, &s3_proto, &t) == 0 ? sc : NULL;
}

/*
 * The next step of a call is a HEAD of its own key (a size for a 416, a
 * condition to check, a write to confirm); its answer goes to finish.
 * Returns -1 when the HEAD could not be sent: the call has then failed.
 */
static int
head_key(struct s3_call *sc, st_pcall_finish_fn finish)
{
	const char *const none[] = { NULL };

	return s3_send(sc, "HEAD", NULL, 0, none, finish);
}

/* ---------------------------------------------------------------- HEAD, GET */

static void finish_range_size(struct st_pcall *, void *);

/* A download broke after its headers went to the application: the rest
 * is asked for with Range (see st_blobcall_resume). */
static int
resume_get(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;

	return st_blobcall_resume(&sc->bc, pc, "Range");
}

/* The headers hook of HEAD and GET: once they went to the application
 * (or the call was answered without a body), the answer has begun. */
static int
get_answer(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;

	if (!st_call_is_done(sc->bc.call))
		get_headers(sc, st_pcall_xfer(pc));
	return st_blobcall_begun(&sc->bc, pc);
}

static void
finish_get(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;
	const char *code = st_pcall_code(pc);

	if (st_call_is_done(sc->bc.call)) {
		/* The body was streaming: end it, or mark it broken. */
		st_stream_end(&sc->bc.stream, !st_pcall_ok(pc));
		return;
	}
	if (st_pcall_status(pc) == 416 || (code != NULL &&
	    strcmp(code, "InvalidRange") == 0)) {
		/* The API answers 416 with the object's size, which S3's
		 * answer lacks: ask for it. */
		sc->bc.call->op = ST_OP_HEAD;
		head_key(sc, finish_range_size);
		return;
	}
	st_pcall_fail(pc);
}

static void
finish_range_size(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;
	struct st_call *c = sc->bc.call;
	const char *cl = st_pcall_header_value(pc, "Content-Length");

	c->op = ST_OP_GET;
	if (st_pcall_ok(pc) && cl != NULL) {
		c->info.size = strtoull(cl, NULL, 10);
		st_call_fail(c, ST_RANGE, "InvalidRange", "the range is outside "
		    "the object of %llu bytes", (unsigned long long)c->info.size);
		return;
	}
	st_pcall_fail(pc);
}

static void
add_range_header(struct st_call *c, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (!c->range.set)
		return;
	if (c->range.suffix)
		snprintf(buf, cap, "bytes=-%llu", (unsigned long long)c->range.last);
	else if (c->range.open)
		snprintf(buf, cap, "bytes=%llu-", (unsigned long long)c->range.first);
	else
		snprintf(buf, cap, "bytes=%llu-%llu",
		    (unsigned long long)c->range.first,
		    (unsigned long long)c->range.last);
}

static void
s3_get_common(struct st_call *c, const char *method)
{
	struct s3_call *sc = sc_new(c);
	const char *h[12];
	char range[64];
	size_t n = 0;

	if (sc == NULL)
		return;
	/* A GET's pipe is opened with the answer's headers (get_headers). */
	add_range_header(c, range, sizeof(range));
	if (range[0] != '\0' && c->op == ST_OP_GET) {
		h[n++] = "Range";
		h[n++] = range;
	}
	n = st_blobcall_conditions(c, h, n);
	h[n] = NULL;
	if (s3_request(sc->bc.pc, sc->s, method, c->key, c->keylen, NULL, 0, h,
	    "UNSIGNED-PAYLOAD") == -1)
		return;
	st_pcall_sink_stream(sc->bc.pc, &sc->bc.stream, get_answer, resume_get,
	    sc);
	st_pcall_start(sc->bc.pc, ST_PCALL_IDEMPOTENT, finish_get, sc);
}

static void
s3_head(struct st_call *c)
{
	s3_get_common(c, "HEAD");
}

static void
s3_get(struct st_call *c)
{
	s3_get_common(c, "GET");
}

/* ---------------------------------------------------------------- PUT helpers */

/* The request headers of a new object: type, metadata, conditions. */
static const char **
object_headers(struct st_call *c, int with_conditions, int with_md5)
{
	const char **h = st_call_alloc(c, (c->nmeta * 2 + 12) * sizeof(*h));
	char md5[32];
	size_t n = 0, i;

	if (h == NULL)
		return NULL;
	h[n++] = "Content-Type";
	h[n++] = c->content_type;
	for (i = 0; i < c->nmeta; i++) {
		char name[ST_META_NAME_MAX + 16];

		snprintf(name, sizeof(name), "x-amz-meta-%s", c->meta[i].name);
		h[n++] = st_call_strdup(c, name);
		h[n++] = c->meta[i].value;
	}
	if (with_md5 && c->has_md5) {
		st_base64(c->md5, 16, md5);
		h[n++] = "Content-MD5";
		h[n++] = st_call_strdup(c, md5);
	}
	if (with_conditions)
		n = st_blobcall_conditions(c, h, n);
	h[n] = NULL;
	return h;
}

/* The answer to a successful write: what the application gets back. */
static void
written(struct s3_call *sc, const char *etag, uint64_t size)
{
	struct st_call *c = sc->bc.call;

	c->info.etag = st_call_strdup(c, etag ? etag : "\"\"");
	c->info.size = size;
	c->info.last_modified = time(NULL);
	c->info.content_type = (char *)c->content_type;
	c->status = ST_OK;
	st_call_done(c);
}

/* ---------------------------------------------------------------- single PUT */

/*
 * A conditional PUT sent again after its answer was lost may meet its own
 * first attempt: If-None-Match: * then fails on the object it created.
 * If the object's ETag is the MD5 of the held body (S3's ETag of a single
 * PutObject without KMS), the write was ours and is reported as done.
 */
static void
finish_own_write(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;
	const char *etag = st_pcall_status(pc) == 200 ?
	    st_pcall_header_value(pc, "ETag") : NULL;
	unsigned char md5[ST_MD5_LEN];
	char want[2 * ST_MD5_LEN + 3];

	st_md5(sc->bc.put.held.data ? sc->bc.put.held.data : "",
	    sc->bc.put.held.len, md5);
	want[0] = '"';
	st_hex(md5, sizeof(md5), want + 1);
	strcpy(want + 1 + 2 * ST_MD5_LEN, "\"");
	if (etag != NULL && strcmp(etag, want) == 0) {
		written(sc, etag, (uint64_t)sc->bc.call->content_length);
		return;
	}
	st_call_fail(sc->bc.call, ST_PRECONDITION, "PreconditionFailed", "the "
	    "object's conditions do not hold");
}

static void
check_own_write(struct s3_call *sc)
{
	head_key(sc, finish_own_write);
}

static void
finish_put(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;

	if (st_pcall_status(pc) == 412 && sc->bc.put.way == ST_PUT_HELD &&
	    st_pcall_attempts(pc) > 1)
		check_own_write(sc);
	else if (!st_pcall_ok(pc))
		st_pcall_fail(pc);
	else
		written(sc, st_pcall_header_value(pc, "ETag"),
		    (uint64_t)sc->bc.call->content_length);
}

static void
put_single(struct s3_call *sc)
{
	struct st_call *c = sc->bc.call;
	const char **h = object_headers(c, 1, 1);

	if (h == NULL || st_stream_open(&sc->bc.stream, PIPE_SIZE) == -1) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (s3_request(sc->bc.pc, sc->s, "PUT", c->key, c->keylen, NULL, 0, h,
	    "UNSIGNED-PAYLOAD") == -1)
		return;
	/* Not held: once S3 has taken a byte, it is not sent again. */
	st_pcall_source_stream(sc->bc.pc, &sc->bc.stream,
	    (uint64_t)c->content_length);
	st_pcall_start(sc->bc.pc, ST_PCALL_IDEMPOTENT, finish_put, sc);
}

/* ---------------------------------------------------------------- multipart */

static int
upload_xml(const char *path, const char *text, size_t len, void *arg)
{
	struct s3_call *sc = arg;

	if (strcmp(path, "InitiateMultipartUploadResult/UploadId") == 0 &&
	    sc->upload_id == NULL)
		sc->upload_id = strndup(text, len);
	else if (strcmp(path, "CompleteMultipartUploadResult/ETag") == 0 &&
	    sc->complete_etag == NULL)
		sc->complete_etag = strndup(text, len);
	return 0;
}

/* Reads a collected XML answer with fn. */
static void
parse_answer(struct s3_call *sc, st_xml_end_fn fn)
{
	size_t len;
	const char *body = st_pcall_answer(sc->bc.pc, &len);

	st_xml_parse(fn, sc, body, len);
}

/* A part's request: UploadPart of its number. */
static int
part_describe(struct st_part *p, void *arg)
{
	struct s3_call *sc = arg;
	char number[16];
	struct st_sigv4_param q[2] = {
		{ "partNumber", number }, { "uploadId", sc->upload_id }
	};

	snprintf(number, sizeof(number), "%u", p->number);
	return s3_request(p->pc, sc->s, "PUT", sc->bc.call->key,
	    sc->bc.call->keylen, q, 2, NULL, "UNSIGNED-PAYLOAD");
}

/* S3 has a part when it answers with its ETag, the part's name. */
static int
part_answered(struct st_part *p, struct st_pcall *pc, void *arg)
{
	const char *etag = st_pcall_header_value(pc, "ETag");

	(void)arg;
	if (!st_pcall_ok(pc) || etag == NULL)
		return 0;
	snprintf(p->name, sizeof(p->name), "%s", etag);
	return 1;
}

static void mp_complete(void *);
static void held_send(void *);

static const struct st_upload_proto s3_upload = {
	.service = "S3",
	.part = "part",
	.in_flight = PARTS_IN_FLIGHT,
	.max_parts = MAX_PARTS,
	.too_many_code = "EntityTooLarge",
	.too_many = "the upload needs more than 10,000 parts",
	.empty_part = 1,		/* an empty object is one empty part */
	.describe = part_describe,
	.answered = part_answered,
	.commit = mp_complete,
	.send_held = held_send,
};

/* Aborts the upload on S3 in the background: nothing waits for it. */
static void
mp_abort_remote(struct s3_call *sc)
{
	struct st_sigv4_param q[1] = { { "uploadId", sc->upload_id } };

	if (sc->upload_id == NULL || sc->bc.pc == NULL)
		return;
	if (s3_request(sc->bc.pc, sc->s, "DELETE", sc->bc.call->key,
	    sc->bc.call->keylen, q, 1, NULL, "UNSIGNED-PAYLOAD") == 0)
		st_pcall_detach(sc->bc.pc);
}

static void
mp_fail(struct s3_call *sc, enum st_status st, const char *code, const char *why)
{
	st_upload_fail(&sc->bc.put.up, st, code, why);
}

/*
 * A Complete that was sent again (its first answer was lost) may find the
 * upload already completed: S3 then answers NoSuchUpload, some look-alikes
 * an internal error. The object tells: if it has our size and was written
 * since the first Complete, the upload is ours and done. (A writer of the
 * same size in those few seconds would be taken for us: a window that
 * only exists after a lost answer.)
 */
static void
finish_mp_verify(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;
	long status = st_pcall_status(pc);
	const char *cl = status == 200 ?
	    st_pcall_header_value(pc, "Content-Length") : NULL;
	time_t when = status == 200 ?
	    st_answer_time(st_pcall_header_value(pc, "Last-Modified")) : 0;

	if (cl != NULL && strtoull(cl, NULL, 10) == sc->bc.put.up.parts.total &&
	    when + 5 >= sc->complete_sent) {
		free(sc->upload_id);
		sc->upload_id = NULL;
		written(sc, st_pcall_header_value(pc, "ETag"),
		    sc->bc.put.up.parts.total);
		return;
	}
	/* A store may still be finishing the Complete whose answer was
	 * lost: look again a little later before calling it failed. */
	if ((status == 404 || status == 0) && ++sc->verify_tries < 4 &&
	    st_pcall_start_after(pc, 250 * sc->verify_tries, ST_PCALL_IDEMPOTENT,
	    finish_mp_verify, sc) == 0)
		return;
	mp_fail(sc, ST_UNAVAILABLE, NULL, "S3 could not complete the upload");
}

static void
finish_mp_complete(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;
	long status = st_pcall_status(pc);
	const char *code = st_pcall_code(pc);

	if (st_pcall_ok(pc)) {
		parse_answer(sc, upload_xml);
		if (sc->complete_etag != NULL) {
			free(sc->upload_id);
			sc->upload_id = NULL;	/* committed: nothing to abort */
			written(sc, sc->complete_etag,
			    sc->bc.put.up.parts.total);
			return;
		}
	}
	/* Sent more than once, or no answer came: it may have happened. */
	if ((st_pcall_attempts(pc) > 1 || status == 0) && (status == 0 ||
	    status == 404 || st_retry_retryable(status, 0, code)) &&
	    head_key(sc, finish_mp_verify) == 0)
		return;
	if (status == 0)
		mp_fail(sc, st_pcall_timed_out(pc) ? ST_TIMEOUT : ST_UNAVAILABLE,
		    NULL, "S3 could not be reached to complete the upload");
	else
		mp_fail(sc, map_status(status >= 300 ? status : 500, code), code,
		    "S3 refused to complete the upload");
}

static void
mp_complete(void *arg)
{
	struct s3_call *sc = arg;
	struct st_call *c = sc->bc.call;
	const char *h[8];
	struct st_sigv4_param q[1] = { { "uploadId", sc->upload_id } };
	unsigned n;
	size_t k = 0;

	st_buf_reset(&sc->req_body);
	st_buf_adds(&sc->req_body, "<CompleteMultipartUpload>");
	for (n = 1; n <= sc->bc.put.up.parts.count; n++) {
		struct st_part *p = st_parts_find(&sc->bc.put.up.parts, n);

		st_buf_printf(&sc->req_body, "<Part><PartNumber>%u</PartNumber>"
		    "<ETag>", n);
		st_xml_escape(&sc->req_body, p->name, strlen(p->name));
		st_buf_adds(&sc->req_body, "</ETag></Part>");
	}
	st_buf_adds(&sc->req_body, "</CompleteMultipartUpload>");
	h[k++] = "Content-Type";
	h[k++] = "application/xml";
	k = st_blobcall_conditions(c, h, k);
	h[k] = NULL;
	if (sc->req_body.failed || s3_request(sc->bc.pc, sc->s, "POST", c->key,
	    c->keylen, q, 1, h, "UNSIGNED-PAYLOAD") == -1) {
		mp_fail(sc, ST_INTERNAL, NULL, "the upload could not be completed");
		return;
	}
	st_pcall_body_ref(sc->bc.pc, sc->req_body.data, sc->req_body.len);
	sc->complete_sent = time(NULL);
	/* A failed start has failed the call; the upload is marked too. */
	if (st_pcall_start(sc->bc.pc, ST_PCALL_IDEMPOTENT, finish_mp_complete,
	    sc) == -1)
		mp_fail(sc, ST_INTERNAL, NULL, "the upload could not be completed");
}

static void
finish_mp_create(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;

	if (!st_pcall_ok(pc)) {
		st_pcall_fail(pc);
		return;
	}
	parse_answer(sc, upload_xml);
	if (sc->upload_id == NULL) {
		st_call_fail(sc->bc.call, ST_PROVIDER_ERROR, NULL, "S3 created "
		    "an upload without an UploadId for store '%s'", sc->s->name);
		return;
	}
	st_upload_go(&sc->bc.put.up);
}

static void
put_multipart(struct s3_call *sc)
{
	struct st_call *c = sc->bc.call;
	const char **h = object_headers(c, 0, 0);
	struct st_sigv4_param q[1] = { { "uploads", NULL } };

	if (h == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (s3_request(sc->bc.pc, sc->s, "POST", c->key, c->keylen, q, 1, h,
	    "UNSIGNED-PAYLOAD") == 0)
		st_pcall_start(sc->bc.pc, ST_PCALL_IDEMPOTENT, finish_mp_create,
		    sc);
}

/*
 * A body no larger than a part is held whole (under the same memory budget
 * as parts), then sent with its SHA-256 signed: a failed attempt is sent
 * again from memory, never asked of the application again.
 */
static void
held_send(void *arg)
{
	struct s3_call *sc = arg;
	struct st_call *c = sc->bc.call;
	const char **h = object_headers(c, 1, 1);
	const char *body = sc->bc.put.held.data ? sc->bc.put.held.data : "";
	unsigned char digest[ST_SHA256_LEN];
	char hash[2 * ST_SHA256_LEN + 1];

	if (c->has_md5) {
		/* Checked here too: a body that is not what the client
		 * hashed never leaves the daemon, whatever the provider does. */
		unsigned char md5[ST_MD5_LEN];

		st_md5(body, sc->bc.put.held.len, md5);
		if (memcmp(md5, c->md5, sizeof(md5)) != 0) {
			st_call_fail(c, ST_BAD_DIGEST, "BadDigest", "the body does "
			    "not match its Content-MD5");
			return;
		}
	}
	st_sha256(body, sc->bc.put.held.len, digest);
	st_hex(digest, sizeof(digest), hash);
	if (h == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (s3_request(sc->bc.pc, sc->s, "PUT", c->key, c->keylen, NULL, 0, h,
	    hash) == -1)
		return;
	st_pcall_body_ref(sc->bc.pc, body, sc->bc.put.held.len);
	st_pcall_start(sc->bc.pc, ST_PCALL_IDEMPOTENT, finish_put, sc);
}

static void
s3_put_begin(struct st_call *c)
{
	struct s3_call *sc = sc_new(c);
	enum st_put_way way;

	if (sc == NULL)
		return;
	if (c->content_length > (int64_t)(5ULL << 40)) {
		st_call_fail(c, ST_TOO_LARGE, "EntityTooLarge", "S3 objects are "
		    "at most 5 TiB");
		return;
	}
	way = st_blobcall_put(&sc->bc, &s3_upload, sc, &parts_budget, sc->s->name,
	    sc->s->part_size, sc->s->threshold);
	if (way == ST_PUT_STREAM)
		put_single(sc);
	else if (way == ST_PUT_PARTS)
		put_multipart(sc);
}

/* ---------------------------------------------------------------- DELETE */

static void
finish_delete(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;

	if (st_pcall_ok(pc) || st_pcall_status(pc) == 404) {
		sc->bc.call->status = ST_OK;
		st_call_done(sc->bc.call);
	} else
		st_pcall_fail(pc);
}

static void
start_delete(struct s3_call *sc)
{
	struct st_call *c = sc->bc.call;
	const char *h[4] = { NULL };

	if (c->if_match != NULL) {
		h[0] = "If-Match";
		h[1] = c->if_match;
	}
	s3_send(sc, "DELETE", NULL, 0, h, finish_delete);
}

/*
 * DELETE with If-Match: S3 answers 204 for a missing key whatever the
 * condition, and not every S3-compatible store checks it. A HEAD first
 * gives the API's answer: 412 unless the current version matches. (The
 * If-Match still goes with the DELETE, for stores that check it.)
 */
static void
finish_delete_check(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;
	const char *etag = st_pcall_ok(pc) ?
	    st_pcall_header_value(pc, "ETag") : NULL;

	if (!st_pcall_ok(pc) && st_pcall_status(pc) != 404) {
		st_pcall_fail(pc);
		return;
	}
	if (etag == NULL || !st_etag_match(sc->bc.call->if_match, etag, 0)) {
		st_call_fail(sc->bc.call, ST_PRECONDITION, "PreconditionFailed",
		    "If-Match names no current version of the object");
		return;
	}
	start_delete(sc);
}

static void
s3_delete(struct st_call *c)
{
	struct s3_call *sc = sc_new(c);

	if (sc == NULL)
		return;
	if (c->if_match == NULL)
		start_delete(sc);
	else
		head_key(sc, finish_delete_check);
}

/* ---------------------------------------------------------------- LIST */

static int
list_xml(const char *path, const char *text, size_t len, void *arg)
{
	struct s3_call *sc = arg;
	struct st_call *c = sc->bc.call;

	if ((path = st_xml_under(path, "ListBucketResult")) == NULL)
		return 0;
	if (strcmp(path, "Contents/Key") == 0)
		sc->ls.key = st_call_strndup(c, text, len);
	else if (strcmp(path, "Contents/Size") == 0)
		sc->ls.size = strtoull(text, NULL, 10);
	else if (strcmp(path, "Contents/ETag") == 0)
		sc->ls.etag = st_call_strndup(c, text, len);
	else if (strcmp(path, "Contents/LastModified") == 0)
		sc->ls.mtime = st_answer_time(text);
	else if (strcmp(path, "Contents") == 0 && sc->ls.key != NULL) {
		st_call_list_item(c, sc->ls.key, sc->ls.size,
		    sc->ls.etag ? sc->ls.etag : "", sc->ls.mtime);
		sc->ls.key = sc->ls.etag = NULL;
		sc->ls.size = 0;
	} else if (strcmp(path, "CommonPrefixes/Prefix") == 0)
		st_call_list_prefix(c, st_call_strndup(c, text, len));
	else if (strcmp(path, "NextContinuationToken") == 0)
		sc->ls.next_token = st_call_strndup(c, text, len);
	else if (strcmp(path, "IsTruncated") == 0)
		sc->ls.truncated = strcmp(text, "true") == 0;
	return 0;
}

/* Each attempt's listing is read as it comes, afresh. */
static void
list_reset(void *arg)
{
	struct s3_call *sc = arg;

	st_call_list_reset(sc->bc.call);
	memset(&sc->ls, 0, sizeof(sc->ls));
}

static void
finish_list(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;
	struct st_call *c = sc->bc.call;

	if (!st_pcall_ok(pc)) {
		st_pcall_fail(pc);
		return;
	}
	if (!st_pcall_xml_whole(pc)) {
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "S3 sent a listing that "
		    "is not valid XML");
		return;
	}
	st_blobcall_listed(c, sc->ls.truncated ? sc->ls.next_token : NULL);
}

static void
s3_list(struct st_call *c)
{
	struct s3_call *sc = sc_new(c);
	struct st_sigv4_param q[6];
	char limit[16], *token = NULL;
	size_t n = 0;

	if (sc == NULL)
		return;
	if (c->cursor != NULL && (token = st_cursor_unwrap(c, NULL)) == NULL)
		return;
	snprintf(limit, sizeof(limit), "%u", c->limit);
	q[n].name = "list-type"; q[n++].value = "2";
	q[n].name = "max-keys"; q[n++].value = limit;
	if (c->prefix[0] != '\0') {
		q[n].name = "prefix"; q[n++].value = c->prefix;
	}
	if (c->delimiter != NULL) {
		q[n].name = "delimiter"; q[n++].value = c->delimiter;
	}
	if (token != NULL) {
		q[n].name = "continuation-token"; q[n++].value = token;
	}
	if (s3_request(sc->bc.pc, sc->s, "GET", NULL, 0, q, n, NULL,
	    "UNSIGNED-PAYLOAD") == -1)
		return;
	st_pcall_sink_xml(sc->bc.pc, list_reset, list_xml, sc);
	st_pcall_start(sc->bc.pc, ST_PCALL_IDEMPOTENT, finish_list, sc);
}

/* ---------------------------------------------------------------- COPY */

static int
copy_xml(const char *path, const char *text, size_t len, void *arg)
{
	struct s3_call *sc = arg;

	if (strcmp(path, "CopyObjectResult/ETag") == 0 && sc->ls.etag == NULL)
		sc->ls.etag = st_call_strndup(sc->bc.call, text, len);
	return 0;
}

static void
finish_copy(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;
	struct st_call *c = sc->bc.call;

	if (!st_pcall_ok(pc)) {
		st_pcall_fail(pc);
		return;
	}
	parse_answer(sc, copy_xml);
	if (sc->ls.etag == NULL) {
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "S3 answered a copy "
		    "without its ETag for store '%s'", sc->s->name);
		return;
	}
	c->content_type = c->info.content_type;
	written(sc, sc->ls.etag, c->info.size);
}

static int
copy_onto_itself(const struct st_call *c)
{
	return c->src_store == c->store && strlen(c->src_key) == c->keylen &&
	    memcmp(c->src_key, c->key, c->keylen) == 0;
}

static void
start_copy(struct s3_call *sc)
{
	struct st_call *c = sc->bc.call;
	struct s3_store *src = c->src_store;
	struct st_buf source = { 0 };
	const char *h[8];
	size_t k = 0;

	if (copy_onto_itself(c)) {
		/* S3 refuses to copy an object onto itself unchanged; for
		 * the API it is a copy that changes nothing. */
		c->content_type = c->info.content_type;
		written(sc, c->info.etag, c->info.size);
		return;
	}
	st_buf_printf(&source, "/%s/", src->bucket);
	st_sigv4_encode_key(&source, c->src_key, strlen(c->src_key));
	h[k++] = "x-amz-copy-source";
	h[k++] = st_call_strdup(c, source.data);
	st_buf_free(&source);
	h[k] = NULL;
	s3_send(sc, "PUT", NULL, 0, h, finish_copy);
}

/*
 * If-Match / If-None-Match on a copy are about the target: checked with a
 * HEAD of it just before the copy. (Not atomic, as a PutObject condition
 * is: a writer between the two can still win.)
 */
static void start_copy(struct s3_call *);

static void
finish_copy_target(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;
	struct st_call *c = sc->bc.call;
	int exists = st_pcall_ok(pc);
	const char *etag = exists ? st_pcall_header_value(pc, "ETag") : NULL;

	if (!exists && st_pcall_status(pc) != 404) {
		st_pcall_fail(pc);
		return;
	}
	if ((c->if_none_match != NULL && exists && etag != NULL &&
	    st_etag_match(c->if_none_match, etag, 1)) ||
	    (c->if_match != NULL && (!exists || etag == NULL ||
	    !st_etag_match(c->if_match, etag, 0)))) {
		st_call_fail(c, ST_PRECONDITION, "PreconditionFailed", "the "
		    "target's conditions do not hold");
		return;
	}
	start_copy(sc);
}

/* First a HEAD of the source: its size and type are part of the answer,
 * and the target store's size limit applies. */
static void
finish_copy_head(struct st_pcall *pc, void *arg)
{
	struct s3_call *sc = arg;
	struct st_call *c = sc->bc.call;

	if (!st_pcall_ok(pc)) {
		st_pcall_fail(pc);
		return;
	}
	info_from_headers(sc, st_pcall_xfer(pc));
	if (!st_blobcall_copy_fits(c))
		return;
	if (c->info.size > (5ULL << 30)) {
		st_call_fail(c, ST_NOT_SUPPORTED, NULL, "copies over 5 GiB need a "
		    "multipart copy, which this version does not do yet");
		return;
	}
	if (c->if_match != NULL || c->if_none_match != NULL)
		head_key(sc, finish_copy_target);
	else
		start_copy(sc);
}

static void
s3_copy(struct st_call *c)
{
	struct s3_call *sc = sc_new(c);
	const struct s3_store *src = c->src_store;
	const char *const none[] = { NULL };

	if (sc == NULL)
		return;
	/* HEAD the source in its own bucket: the same endpoint and
	 * credentials (same_account), so the store's signer signs it. */
	if (s3_request(sc->bc.pc, src, "HEAD", c->src_key, strlen(c->src_key),
	    NULL, 0,
	    none, "UNSIGNED-PAYLOAD") == 0)
		st_pcall_start(sc->bc.pc, ST_PCALL_IDEMPOTENT, finish_copy_head,
		    sc);
}

/* ---------------------------------------------------------------- presign */

static void
s3_presign(struct st_call *c)
{
	struct s3_store *s = c->store;
	struct st_sigv4_request r;
	struct st_buf path = { 0 }, url = { 0 };
	struct st_creds_snap *snap;
	char why[400];
	int rc;

	if (c->expires_in > 604800) {
		st_call_fail(c, ST_BAD_REQUEST, NULL, "S3 presigned URLs last at "
		    "most 7 days");
		return;
	}
	if ((snap = st_creds_take(s->creds, why, sizeof(why))) == NULL) {
		c->retry_after = 5;
		st_call_fail(c, ST_CREDENTIALS_UNAVAILABLE, NULL, "%s", why);
		return;
	}
	st_buf_adds(&path, s->prefix);
	st_buf_adds(&path, "/");
	st_sigv4_encode_key(&path, c->key, c->keylen);
	memset(&r, 0, sizeof(r));
	r.method = c->method;
	r.host = s->host;
	r.path = path.data;
	r.region = s->region;
	r.service = "s3";
	r.key_id = snap->id;
	r.secret = snap->secret;
	r.token = snap->token;
	r.now = time(NULL);
	st_buf_adds(&url, s->scheme_host);
	st_buf_add(&url, path.data, path.len);
	st_buf_adds(&url, "?");
	rc = st_sigv4_presign(&r, (unsigned)c->expires_in, &url);
	st_creds_drop(snap);
	if (rc == -1 || url.failed) {
		st_buf_free(&path);
		st_buf_free(&url);
		st_call_fail(c, ST_INTERNAL, NULL, "the URL could not be signed");
		return;
	}
	c->url = st_call_strdup(c, url.data);
	c->expires_at = r.now + c->expires_in;
	st_buf_free(&path);
	st_buf_free(&url);
	c->status = ST_OK;
	st_call_done(c);
}

/* ---------------------------------------------------------------- release */

static void
s3_release(struct st_call *c)
{
	struct s3_call *sc = c->backend_data;
	int abort_upload;

	if (sc == NULL)
		return;
	st_blobcall_stop(c);
	abort_upload = sc->upload_id != NULL;
	if (abort_upload)
		mp_abort_remote(sc);	/* parts of a dead upload go away */
	st_buf_free(&sc->req_body);
	free(sc->upload_id);
	free(sc->complete_etag);
	st_blobcall_free(c);
}

static const struct st_blob_ops s3_blob_ops = {
	.head = s3_head,
	.get = s3_get,
	.read = st_blobcall_read,
	.put_begin = s3_put_begin,
	.write = st_blobcall_write,
	.put_end = st_blobcall_put_end,
	.del = s3_delete,
	.list = s3_list,
	.copy = s3_copy,
	.presign = s3_presign,
	.release = s3_release,
};

const struct st_backend stratus_backend = {
	.version = ST_BACKEND_VERSION,
	.name = "s3",
	.kinds = ST_KIND_BLOB,
	.store_open = s3_open,
	.store_close = s3_close,
	.same_account = s3_same_account,
	.blob = &s3_blob_ops,
};
