/*
 * blob_api.c - from blob requests to backend calls, and back.
 *
 * The HTTP codec of the blob service (core/blob.c). Each handler checks
 * the request's inputs (key, headers, query), fills the request half of
 * the service's call, lets the service start and drive the backend calls
 * and answers from their outcome. Handlers are written as short steps
 * that may be entered again: when the service cannot go on yet,
 * st_req_suspend() parks the connection and libmicrohttpd calls the same
 * step again after a backend wakes it.
 *
 * Rights (rights.c): GET and HEAD need get, a listing list, PUT put (and
 * get on the source of a copy), DELETE delete, a presign presign and the
 * right of the method it signs. A caller with no right on a store sees it
 * as absent. A presigned URL grants exactly the one method and object it
 * was made for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include <yajl/yajl_tree.h>

#include "core/blob.h"
#include "core/call.h"
#include "core/json.h"
#include "core/presign.h"
#include "daemon/api.h"
#include "daemon/auth.h"
#include "daemon/blob_api.h"
#include "daemon/reply.h"
#include "daemon/rights.h"
#include "sign/hmac.h"

#define PRESIGN_BODY_MAX 16384
#define PRESIGN_EXPIRES_MAX 604800
#define LIST_CURSOR_MAX 4096
#define CONTENT_TYPE_MAX 255

/* ---------------------------------------------------------------- access */

/* 401 for a caller with no token where anonymous access is not given,
 * 403 for a token without the right. */
static enum MHD_Result
deny(struct st_req *req, unsigned need)
{
	if (req->anonymous && req->perms == 0)
		return st_reply_unauthorized(req, "a bearer token is required");
	return st_reply_error(req, 403, "forbidden", "this token lacks the "
	    "'%s' right on store '%s'", st_right_name(ST_KIND_BLOB, need),
	    req->store->name);
}

/*
 * Finds the route's blob store and the caller's rights on it. A caller
 * with no right at all on it sees it as absent (404), as /v1/stores does;
 * a presigned URL carries its own grant, judged later.
 */
static enum MHD_Result
find_store(struct st_req *req, int *ok)
{
	struct st_store *st = st_config_store(req->cfg, req->route.store);

	*ok = 0;
	if (st != NULL && st->kind == ST_KIND_BLOB) {
		req->store = st;
		req->perms = st_auth_perms(req->cfg, req->client,
		    req->anonymous, st);
		if (req->perms != 0 || (req->anonymous &&
		    !req->cfg->allow_anonymous) || st_blob_api_is_presigned(req)) {
			*ok = 1;
			return MHD_YES;
		}
	}
	if (req->anonymous && !req->cfg->allow_anonymous)
		return st_reply_unauthorized(req, "a bearer token is required");
	return st_reply_error(req, 404, "no_such_store", "no blob store "
	    "'%s'", req->route.store);
}

/* The right a request on one blob needs. */
static unsigned
method_needs(const char *method)
{
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return ST_RIGHT_GET;
	return strcmp(method, "DELETE") == 0 ? ST_RIGHT_DELETE : ST_RIGHT_PUT;
}

int
st_blob_api_is_presigned(struct st_req *req)
{
	return st_req_arg(req, ST_PRESIGN_SIGNATURE) != NULL;
}

static int
presign_grants(struct st_req *req)
{
	const char *m = method_needs(req->method) == ST_RIGHT_GET ? "GET" : "PUT";

	if (strcmp(req->method, "DELETE") == 0)
		return 0;
	return st_presign_verify(req->cfg->presign_key,
	    sizeof(req->cfg->presign_key), m, req->store->name, req->key,
	    req->keylen, st_req_arg(req, ST_PRESIGN_EXPIRES),
	    st_req_arg(req, ST_PRESIGN_SIGNATURE), time(NULL));
}

/* ---------------------------------------------------------------- service */

static void
blob_store(const struct st_req *req, const struct st_store *st,
           struct st_blob_store *out)
{
	out->name = st->name;
	out->handle = st->handle;
	out->backend = st->backend;
	out->max_size = st->max_object_size;
	out->presign_key = req->cfg->presign_key;
	out->presign_keylen = sizeof(req->cfg->presign_key);
}

/* The service's call of `op` on the request's store, for the handler to
 * fill. NULL: out of memory. */
static struct st_call *
blob_call(struct st_req *req, enum st_op op)
{
	struct st_blob_store store;

	blob_store(req, req->store, &store);
	if (st_req_blob(req, &store) == NULL)
		return NULL;
	return st_blob_call(req->blob, op);
}

/* Starts the filled call, then answers through finish (also the step a
 * resumed connection comes back to). */
static enum MHD_Result
blob_run(struct st_req *req, st_end_fn finish)
{
	req->on_end = finish;
	st_blob_start(req->blob);
	return finish(req);
}

/* Steps the service until its outcome is known: 1, with *c the call to
 * answer from; 0 parked; -1 out of memory. Body bytes a streamed copy
 * moves count as the request's. */
static int
blob_wait(struct st_req *req, struct st_call **c)
{
	struct st_blob *b = req->blob;
	uint64_t before;
	int rc;

	for (;;) {
		before = b->written;
		rc = st_blob_step(b);
		req->bytes_in += b->written - before;
		if (rc == -1)
			return -1;
		if (rc == 1)
			break;
		if (st_req_suspend(req))
			return 0;
	}
	*c = st_blob_answer(b);
	return 1;
}

/* ---------------------------------------------------------------- GET/HEAD */

static void
add_object_headers(struct MHD_Response *resp, const struct st_call *c)
{
	char date[32], name[ST_META_NAME_MAX + 8];
	size_t i;

	MHD_add_response_header(resp, "Content-Type", c->info.content_type ?
	    c->info.content_type : "application/octet-stream");
	if (c->info.etag != NULL)
		MHD_add_response_header(resp, "ETag", c->info.etag);
	st_http_date(c->info.last_modified, date);
	MHD_add_response_header(resp, "Last-Modified", date);
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	for (i = 0; i < c->info.nmeta; i++) {
		snprintf(name, sizeof(name), "X-Meta-%s", c->info.meta[i].name);
		MHD_add_response_header(resp, name, c->info.meta[i].value);
	}
}

static ssize_t
body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct st_req *req = cls;
	long n;

	for (;;) {
		n = st_blob_read(req->blob, pos, buf, max);
		if (n > 0) {
			req->bytes_out += (uint64_t)n;
			return n;
		}
		if (n == ST_EOF)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (n != 0 || req->aborted)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (st_req_suspend(req))
			return 0;
	}
}

static ssize_t
no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	(void)buf;
	(void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}
/*
 * The buffer MHD allocates (and zeroes) for each streamed answer: as large
 * as the body, up to 256 KiB. A fixed 256 KiB cost a page-faulting memset
 * on every small GET, most of the CPU of a 1 KiB GET (seen with perf).
 */
static size_t
reader_block(uint64_t body_length)
{
	if (body_length < 4096)
		return 4096;
	return body_length < 256 * 1024 ? (size_t)body_length : 256 * 1024;
}


/*
 * A small body is usually in hand by the time its headers are: the
 * provider's answer came in one piece. Taking it all now lets MHD send
 * the headers and the body in one system call. When the body was not
 * whole yet, the streamed answer serves what was taken first and reads
 * the rest as usual.
 */
#define WHOLE_MAX (64 * 1024)

static struct MHD_Response *
object_response(struct st_req *req, struct st_call *c, int head)
{
	struct st_blob *b = req->blob;
	int fd;
	uint64_t off;

	if (head)
		return MHD_create_response_from_callback(c->info.size, 4096,
		    no_body, NULL, NULL);
	if (st_blob_fd(b, &fd, &off) == 0) {
		req->bytes_out += c->body_length;
		return MHD_create_response_from_fd_at_offset64(c->body_length, fd,
		    off);
	}
	if (st_blob_take_whole(b, WHOLE_MAX)) {
		req->bytes_out += b->head.len;
		return MHD_create_response_from_buffer(b->head.len,
		    b->head.data, MHD_RESPMEM_PERSISTENT);
	}
	return MHD_create_response_from_callback(c->body_length,
	    reader_block(c->body_length), body_reader, req, NULL);
}

/*
 * The start of every finishing step: 1, with *c the outcome to answer
 * from, when the call succeeded or ended with the status `also` (ST_OK
 * for none); else 0 and *rc to return: parked, out of memory, or the
 * failure answered.
 */
static int
blob_outcome(struct st_req *req, enum st_status also, struct st_call **c,
             enum MHD_Result *rc)
{
	int done = blob_wait(req, c);

	if (done != 1) {
		*rc = done == -1 ? MHD_NO : MHD_YES;
		return 0;
	}
	if ((*c)->status != ST_OK && (*c)->status != also) {
		*rc = st_reply_call_error(req, *c);
		return 0;
	}
	return 1;
}

static enum MHD_Result
get_finish(struct st_req *req)
{
	int head = strcmp(req->method, "HEAD") == 0;
	struct MHD_Response *resp;
	struct st_call *c;
	enum MHD_Result rc;
	char range[96];

	if (!blob_outcome(req, ST_NOT_MODIFIED, &c, &rc))
		return rc;
	if (c->status == ST_NOT_MODIFIED) {
		resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		if (resp != NULL && c->info.etag != NULL)
			MHD_add_response_header(resp, "ETag", c->info.etag);
		return st_reply(req, 304, resp);
	}
	if ((resp = object_response(req, c, head)) == NULL)
		return MHD_NO;
	add_object_headers(resp, c);
	if (c->partial && !head) {
		snprintf(range, sizeof(range), "bytes %llu-%llu/%llu",
		    (unsigned long long)c->body_first,
		    (unsigned long long)(c->body_first + c->body_length - 1),
		    (unsigned long long)c->info.size);
		MHD_add_response_header(resp, "Content-Range", range);
	}
	return st_reply(req, c->partial && !head ? 206 : 200, resp);
}

static enum MHD_Result
blob_get(struct st_req *req)
{
	int head = strcmp(req->method, "HEAD") == 0;
	const char *range = st_req_header(req, "Range");
	struct st_call *c;
	struct st_range r = { 0 };

	if (range != NULL && !head) {
		int rc = st_parse_range(range, &r);

		if (rc == -1)
			return st_reply_error(req, 400, "invalid_range_header",
			    "Range must be bytes=FIRST-LAST, bytes=FIRST- or "
			    "bytes=-SUFFIX");
		if (rc == 1)
			memset(&r, 0, sizeof(r));
	}
	if ((c = blob_call(req, head ? ST_OP_HEAD : ST_OP_GET)) == NULL)
		return MHD_NO;
	c->key = req->key;
	c->keylen = req->keylen;
	c->range = r;
	c->if_match = st_req_header(req, "If-Match");
	c->if_none_match = st_req_header(req, "If-None-Match");
	return blob_run(req, get_finish);
}

/* ---------------------------------------------------------------- PUT */

struct meta_scan {
	struct st_req	*req;
	struct st_call	*call;
	size_t		 n;
	size_t		 total;
	const char	*bad;		/* why the metadata is refused */
};

static enum MHD_Result
scan_meta(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct meta_scan *s = cls;
	size_t nlen, vlen = value ? strlen(value) : 0, i;
	char *name;

	(void)kind;
	if (strncasecmp(key, "X-Meta-", 7) != 0)
		return MHD_YES;
	nlen = strlen(key + 7);
	if (s->call != NULL) {
		name = st_call_strndup(s->call, key + 7, nlen);
		if (name == NULL)
			return MHD_NO;
		for (i = 0; i < nlen; i++)
			name[i] = (char)tolower((unsigned char)name[i]);
		if (!st_valid_meta_name(name, nlen)) {
			s->bad = "metadata names match [a-z0-9_-]{1,64}";
			return MHD_NO;
		}
		for (i = 0; i < s->n; i++)
			if (strcmp(s->call->meta[i].name, name) == 0) {
				s->bad = "a metadata name is given twice";
				return MHD_NO;
			}
		/* An empty value could not be given back: HTTP libraries
		 * (libmicrohttpd among them) drop a header with no value,
		 * and providers differ on storing one. */
		if (vlen == 0) {
			s->bad = "a metadata value is empty";
			return MHD_NO;
		}
		if (!st_valid_header_value(value ? value : "", vlen)) {
			s->bad = "a metadata value has control characters or is "
			    "not UTF-8";
			return MHD_NO;
		}
		s->call->meta[s->n].name = name;
		s->call->meta[s->n].value = st_call_strdup(s->call, value ? value : "");
	}
	s->n++;
	s->total += nlen + vlen;
	if (s->total > ST_META_TOTAL_MAX) {
		s->bad = "metadata is larger than 2 KiB";
		return MHD_NO;
	}
	return MHD_YES;
}

/* Counts, then copies, the X-Meta-* headers into the call. */
static const char *
take_meta(struct st_req *req, struct st_call *c)
{
	struct meta_scan s = { req, NULL, 0, 0, NULL };

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, scan_meta, &s);
	if (s.bad != NULL || s.n == 0)
		return s.bad;
	if ((c->meta = st_call_alloc(c, s.n * sizeof(*c->meta))) == NULL)
		return "out of memory";
	memset(&s, 0, sizeof(s));
	s.req = req;
	s.call = c;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, scan_meta, &s);
	c->nmeta = s.n;
	return s.bad;
}

static enum MHD_Result
reply_written(struct st_req *req, struct st_call *c)
{
	struct st_buf body = { 0 };
	struct MHD_Response *resp;
	yajl_gen g = st_json_new();

	if (g == NULL)
		return MHD_NO;
	yajl_gen_map_open(g);
	st_json_key_str(g, "store", req->store->name);
	st_json_str(g, "key");
	st_json_strn(g, req->key, req->keylen);
	st_json_key_str(g, "etag", c->info.etag);
	st_json_key_uint(g, "size", c->info.size);
	yajl_gen_map_close(g);
	st_json_flush(g, &body);
	yajl_gen_free(g);
	resp = MHD_create_response_from_buffer(body.len, body.data,
	    MHD_RESPMEM_MUST_COPY);
	req->bytes_out += body.len;
	st_buf_free(&body);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (c->info.etag != NULL)
		MHD_add_response_header(resp, "ETag", c->info.etag);
	return st_reply(req, 201, resp);
}

/* Answers a PUT or a copy once the service has its outcome. */
static enum MHD_Result
written_finish(struct st_req *req)
{
	struct st_call *c;
	enum MHD_Result rc;

	if (!blob_outcome(req, ST_OK, &c, &rc))
		return rc;
	return reply_written(req, c);
}

static enum MHD_Result
put_finish(struct st_req *req)
{
	st_blob_put_end(req->blob);
	return written_finish(req);
}

static enum MHD_Result
put_body(struct st_req *req, const char *data, size_t *size)
{
	long n;

	/* Hand the piece over; when the backend is full, park until it
	 * wakes us. A wake that beats the park means: try again now. When
	 * the call is over (the backend gave up, or the body is past the
	 * store's limit), the rest is swallowed. */
	for (;;) {
		n = st_blob_write(req->blob, data, *size);
		if (n < 0) {
			req->discard = 1;
			*size = 0;
			return MHD_YES;
		}
		req->bytes_in += (uint64_t)n;
		data += n;
		*size -= (size_t)n;
		if (*size == 0 || st_req_suspend(req))
			return MHD_YES;
	}
}

static int
chunked(struct st_req *req)
{
	const char *te = st_req_header(req, "Transfer-Encoding");

	return te != NULL && strcasestr(te, "chunked") != NULL;
}

/* Content-MD5: base64 of 16 bytes. */
static int
take_md5(struct st_req *req, struct st_call *c)
{
	const char *v = st_req_header(req, "Content-MD5");

	if (v == NULL)
		return 0;
	if (st_base64_decode(v, strlen(v), c->md5, sizeof(c->md5)) != 16)
		return -1;
	c->has_md5 = 1;
	return 0;
}

static enum MHD_Result blob_copy(struct st_req *, const char *source);

static enum MHD_Result
blob_put(struct st_req *req)
{
	const char *cl = st_req_header(req, "Content-Length");
	const char *ct = st_req_header(req, "Content-Type");
	const char *copy = st_req_header(req, "X-Copy-Source");
	uint64_t length = 0, limit = req->store->max_object_size;
	struct st_call *c;
	const char *bad;

	if (copy != NULL)
		return blob_copy(req, copy);
	if (cl == NULL && !chunked(req))
		return st_reply_error(req, 411, "length_required", "a PUT needs "
		    "Content-Length or Transfer-Encoding: chunked");
	if (cl != NULL && st_parse_u64(cl, 0, INT64_MAX, &length) == -1)
		return st_reply_error(req, 400, "bad_request", "bad Content-Length");
	if (cl != NULL && limit > 0 && length > limit)
		return st_reply_error(req, 413, "payload_too_large", "the object "
		    "is larger than this store's limit of %llu bytes",
		    (unsigned long long)limit);
	if (ct != NULL && (strlen(ct) > CONTENT_TYPE_MAX || ct[0] == '\0' ||
	    !st_valid_header_value(ct, strlen(ct))))
		return st_reply_error(req, 400, "bad_request", "bad Content-Type");
	if ((c = blob_call(req, ST_OP_PUT)) == NULL)
		return MHD_NO;
	if ((bad = take_meta(req, c)) != NULL)
		return st_reply_error(req, 400, "bad_request", "%s", bad);
	if (take_md5(req, c) == -1)
		return st_reply_error(req, 400, "bad_request", "Content-MD5 must "
		    "be the base64 of 16 bytes");
	c->key = req->key;
	c->keylen = req->keylen;
	c->content_type = ct ? ct : "application/octet-stream";
	c->content_length = cl != NULL ? (int64_t)length : -1;
	c->if_match = st_req_header(req, "If-Match");
	c->if_none_match = st_req_header(req, "If-None-Match");
	req->on_body = put_body;
	req->on_end = put_finish;
	st_blob_start(req->blob);
	if (st_call_is_done(c))		/* refused before any byte */
		return st_reply_call_error(req, c);
	return MHD_YES;
}

/* ---------------------------------------------------------------- copy */

/* X-Copy-Source: STORE/KEY (KEY percent-encoded as in a URL path). */
static enum MHD_Result
blob_copy(struct st_req *req, const char *source)
{
	char name[ST_STORE_NAME_MAX + 1], *key;
	const char *slash;
	struct st_store *src;
	struct st_blob_store from;
	struct st_call *c;
	unsigned srcperms;
	long keylen;
	size_t n;
	int rc;

	if (*source == '/')
		source++;
	slash = strchr(source, '/');
	n = slash ? (size_t)(slash - source) : 0;
	if (slash == NULL || n > ST_STORE_NAME_MAX)
		return st_reply_error(req, 400, "bad_request", "X-Copy-Source "
		    "must be STORE/KEY");
	memcpy(name, source, n);
	name[n] = '\0';
	src = st_config_store(req->cfg, name);
	/* As for the target (find_store): no right at all on the source,
	 * no such store; no token where one is needed, 401. */
	srcperms = src != NULL && src->kind == ST_KIND_BLOB ?
	    st_auth_perms(req->cfg, req->client, req->anonymous, src) : 0;
	if (srcperms == 0 && req->anonymous && !req->cfg->allow_anonymous)
		return st_reply_unauthorized(req, "a bearer token is required");
	if (!st_valid_store_name(name, n) || srcperms == 0)
		return st_reply_error(req, 404, "no_such_store", "no blob store "
		    "'%.63s' to copy from", name);
	if (!(srcperms & ST_RIGHT_GET))
		return st_reply_error(req, 403, "forbidden", "this token lacks "
		    "the 'get' right on store '%s', the copy's source", name);
	if ((key = malloc(ST_KEY_MAX + 1)) == NULL)
		return MHD_NO;
	keylen = st_decode_key(slash + 1, strlen(slash + 1), key);
	if (keylen < 0) {
		free(key);
		return st_reply_error(req, 400, "invalid_key", "the key in "
		    "X-Copy-Source is not a valid key");
	}
	if ((c = blob_call(req, ST_OP_COPY)) == NULL) {
		free(key);
		return MHD_NO;
	}
	c->key = req->key;
	c->keylen = req->keylen;
	c->if_match = st_req_header(req, "If-Match");
	c->if_none_match = st_req_header(req, "If-None-Match");
	/* The service copies server-side, or streams from the source. */
	blob_store(req, src, &from);
	rc = st_blob_copy(req->blob, &from, key);
	free(key);
	if (rc == -1)
		return MHD_NO;
	req->on_end = written_finish;
	return written_finish(req);
}

/* ---------------------------------------------------------------- DELETE */

static enum MHD_Result
delete_finish(struct st_req *req)
{
	struct MHD_Response *resp;
	struct st_call *c;
	enum MHD_Result rc;

	if (!blob_outcome(req, ST_NOT_FOUND, &c, &rc))
		return rc;
	resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	return st_reply(req, 204, resp);
}

static enum MHD_Result
blob_delete(struct st_req *req)
{
	struct st_call *c = blob_call(req, ST_OP_DELETE);

	if (c == NULL)
		return MHD_NO;
	c->key = req->key;
	c->keylen = req->keylen;
	c->if_match = st_req_header(req, "If-Match");
	return blob_run(req, delete_finish);
}

/* ---------------------------------------------------------------- LIST */

static enum MHD_Result
list_finish(struct st_req *req)
{
	struct st_buf body = { 0 };
	struct st_call *c;
	enum MHD_Result rc;

	if (!blob_outcome(req, ST_OK, &c, &rc))
		return rc;
	if (st_call_list_json(c, &body) == -1) {
		st_buf_free(&body);
		return st_reply_error(req, 500, "internal", "out of memory");
	}
	return st_reply_json(req, 200, &body);
}

static enum MHD_Result
blob_list(struct st_req *req)
{
	struct st_call *c = blob_call(req, ST_OP_LIST);
	const char *limit = st_req_arg(req, "limit");
	uint64_t n = 1000;
	int bad = 0;

	if (c == NULL)
		return MHD_NO;
	c->prefix = st_api_text_arg(req, c, "prefix", ST_KEY_MAX, &bad);
	c->delimiter = st_api_text_arg(req, c, "delimiter", 16, &bad);
	c->cursor = st_api_text_arg(req, c, "cursor", LIST_CURSOR_MAX, &bad);
	if (bad)
		return st_reply_error(req, 400, "bad_request", "prefix, delimiter "
		    "and cursor must be valid UTF-8 text without control "
		    "characters");
	if (c->prefix == NULL)
		c->prefix = "";
	if (c->delimiter != NULL && c->delimiter[0] == '\0')
		c->delimiter = NULL;
	if (c->cursor != NULL && c->cursor[0] == '\0')
		c->cursor = NULL;
	if (limit != NULL && st_parse_u64(limit, 1, 1000, &n) == -1)
		return st_reply_error(req, 400, "bad_request", "limit must be a "
		    "whole number from 1 to 1000");
	c->limit = (unsigned)n;
	return blob_run(req, list_finish);
}

/* ---------------------------------------------------------------- entry */

enum MHD_Result
st_blob_api_start(struct st_req *req)
{
	enum MHD_Result rc;
	long n;
	int ok;

	rc = find_store(req, &ok);
	if (!ok)
		return rc;
	if (req->route.id == ST_ROUTE_BLOB_LIST) {
		if (!(req->perms & ST_RIGHT_LIST))
			return deny(req, ST_RIGHT_LIST);
		return blob_list(req);
	}
	n = st_decode_key(req->route.raw_key, req->route.raw_keylen, req->key);
	if (n < 0)
		return st_reply_error(req, 400, "invalid_key", "keys are 1 to 1024 "
		    "bytes of UTF-8 without control characters, empty, '.' or "
		    "'..' segments");
	req->keylen = (size_t)n;
	if (st_blob_api_is_presigned(req)) {
		if (!presign_grants(req))
			return st_reply_error(req, 403, "forbidden", "the presigned "
			    "URL is not valid for this request, or has expired");
		req->perms = method_needs(req->method);
	}
	if (!(req->perms & method_needs(req->method)))
		return deny(req, method_needs(req->method));
	if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
		return blob_get(req);
	if (strcmp(req->method, "PUT") == 0)
		return blob_put(req);
	return blob_delete(req);
}

/* ---------------------------------------------------------------- presign */

/* How the application reaches us, for the daemon's own presigned URLs. */
static const char *
base_url(struct st_req *req, struct st_call *c)
{
	const char *host = st_req_header(req, "Host");
	char buf[512];
	size_t i;

	if (req->cfg->listen.public_url != NULL)
		return req->cfg->listen.public_url;
	if (host != NULL && strlen(host) < 256) {
		for (i = 0; host[i] != '\0'; i++)
			if (!isalnum((unsigned char)host[i]) &&
			    strchr(".-:[]", host[i]) == NULL)
				break;
		if (host[i] == '\0' && i > 0) {
			snprintf(buf, sizeof(buf), "http://%s", host);
			return st_call_strdup(c, buf);
		}
	}
	snprintf(buf, sizeof(buf), "http://%s:%u", req->cfg->listen.address,
	    req->cfg->listen.port);
	return st_call_strdup(c, buf);
}

static enum MHD_Result
presign_reply(struct st_req *req)
{
	struct st_buf body = { 0 };
	struct st_call *c;
	enum MHD_Result rc;
	yajl_gen g;
	char when[32];
	struct tm tm;

	if (!blob_outcome(req, ST_OK, &c, &rc))
		return rc;
	if ((g = st_json_new()) == NULL)
		return MHD_NO;
	gmtime_r(&c->expires_at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	yajl_gen_map_open(g);
	st_json_key_str(g, "url", c->url);
	st_json_key_str(g, "method", c->method);
	st_json_key_str(g, "expires_at", when);
	st_json_str(g, "headers");
	yajl_gen_map_open(g);
	for (size_t i = 0; i < c->nurl_headers; i++)
		st_json_key_str(g, c->url_headers[i].name, c->url_headers[i].value);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	st_json_flush(g, &body);
	yajl_gen_free(g);
	return st_reply_json(req, 200, &body);
}

static const char *
tree_string(yajl_val obj, const char *name)
{
	const char *path[] = { name, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

/* Validates the parsed body and starts the presign call. */
static enum MHD_Result
presign_call(struct st_req *req, yajl_val obj)
{
	const char *path_exp[] = { "expires_in", NULL };
	const char *store = tree_string(obj, "store");
	const char *key = tree_string(obj, "key");
	const char *method = tree_string(obj, "method");
	yajl_val exp = yajl_tree_get(obj, path_exp, yajl_t_any);
	long long expires = 900;
	struct st_call *c;
	unsigned need;

	if (store == NULL || key == NULL || method == NULL)
		return st_reply_error(req, 400, "bad_request", "presign needs "
		    "\"store\", \"key\" and \"method\" strings");
	if (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0)
		return st_reply_error(req, 400, "bad_request", "method must be "
		    "GET or PUT");
	if (exp != NULL) {
		if (!YAJL_IS_INTEGER(exp) || YAJL_GET_INTEGER(exp) < 1 ||
		    YAJL_GET_INTEGER(exp) > PRESIGN_EXPIRES_MAX)
			return st_reply_error(req, 400, "bad_request", "expires_in "
			    "must be a whole number of seconds from 1 to %d",
			    PRESIGN_EXPIRES_MAX);
		expires = YAJL_GET_INTEGER(exp);
	}
	if (strlen(store) > ST_STORE_NAME_MAX)
		return st_reply_error(req, 404, "no_such_store", "no such store");
	snprintf(req->route.store, sizeof(req->route.store), "%s", store);
	if (!st_valid_key(key, strlen(key)))
		return st_reply_error(req, 400, "invalid_key", "not a valid key");
	{
		enum MHD_Result rc;
		int ok;

		rc = find_store(req, &ok);
		if (!ok)
			return rc;
	}
	/* Presigning needs its own right and that of the method signed. */
	need = strcmp(method, "GET") == 0 ? ST_RIGHT_GET : ST_RIGHT_PUT;
	if (!(req->perms & ST_RIGHT_PRESIGN))
		return deny(req, ST_RIGHT_PRESIGN);
	if (!(req->perms & need))
		return deny(req, need);
	if ((c = blob_call(req, ST_OP_PRESIGN)) == NULL)
		return MHD_NO;
	req->keylen = strlen(key);
	memcpy(req->key, key, req->keylen + 1);
	c->key = req->key;
	c->keylen = req->keylen;
	c->method = strcmp(method, "GET") == 0 ? "GET" : "PUT";
	c->expires_in = (unsigned)expires;
	c->base_url = base_url(req, c);
	return blob_run(req, presign_reply);
}

static enum MHD_Result
presign_end(struct st_req *req)
{
	yajl_val obj;
	enum MHD_Result rc;

	if (req->blob != NULL)		/* resumed: the call is under way */
		return presign_reply(req);
	if (req->discard)
		return st_reply_error(req, 413, "payload_too_large", "a presign "
		    "request body is at most %d bytes", PRESIGN_BODY_MAX);
	if (req->body.data != NULL && st_json_has_nul(req->body.data, req->body.len))
		return st_reply_error(req, 400, "invalid_json", "the body must not "
		    "contain NUL characters");
	obj = st_json_parse(req->body.data ? req->body.data : "", req->body.len);
	if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
		yajl_tree_free(obj);
		return st_reply_error(req, 400, "invalid_json", "the body must be "
		    "a JSON object");
	}
	rc = presign_call(req, obj);
	yajl_tree_free(obj);
	return rc;
}

static enum MHD_Result
presign_body(struct st_req *req, const char *data, size_t *size)
{
	req->bytes_in += *size;
	if (req->body.len + *size > PRESIGN_BODY_MAX)
		req->discard = 1;
	else
		st_buf_add(&req->body, data, *size);
	*size = 0;
	return MHD_YES;
}

enum MHD_Result
st_blob_api_presign_start(struct st_req *req)
{
	req->on_body = presign_body;
	req->on_end = presign_end;
	return MHD_YES;
}
