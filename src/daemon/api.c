/*
 * api.c - the pieces the service codecs share (see api.h).
 *
 * Tokens: TOKEN = base64url(raw) "." base64url(first 6 bytes of
 * SHA-256(store NUL raw)). The digest is not a secret and not a MAC: it
 * only tells a token this daemon made for this store from anything else,
 * which matters where a provider accepts any handle silently (SQS and its
 * emulator). Tokens stay valid across restarts and reloads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/call.h"
#include "core/validate.h"
#include "daemon/api.h"
#include "daemon/auth.h"
#include "sign/hmac.h"

#define TAG_BYTES 6
#define TOKEN_RAW_MAX 8192

/* ---------------------------------------------------------------- access */

int
st_api_store(struct st_req *req, unsigned kind, const char *noun,
             enum MHD_Result *rc)
{
	struct st_store *st = st_config_store(req->cfg, req->route.store);
	unsigned rights = 0;

	if (st != NULL && st->kind == kind)
		rights = st_auth_perms(req->cfg, req->client, req->anonymous, st);
	if (rights != 0) {
		req->store = st;
		req->perms = rights;
		return 1;
	}
	if (req->anonymous && !req->cfg->allow_anonymous &&
	    (st == NULL || st->allow_anonymous != 1))
		*rc = st_reply_unauthorized(req, "a bearer token is required");
	else
		*rc = st_reply_error(req, 404, "no_such_store", "no %s store "
		    "'%s'", noun, req->route.store);
	return 0;
}

int
st_api_need(struct st_req *req, unsigned right, const char *name,
            enum MHD_Result *rc)
{
	if (req->perms & right)
		return 1;
	*rc = st_reply_error(req, 403, "forbidden", "this token lacks the "
	    "'%s' right on store '%s'", name, req->store->name);
	return 0;
}

/* ---------------------------------------------------------------- input */

enum MHD_Result
st_api_take_body(struct st_req *req, const char *data, size_t *size)
{
	req->bytes_in += *size;
	if (req->discard || req->body.len + *size > req->api_body_max)
		req->discard = 1;
	else if (st_buf_add(&req->body, data, *size) == -1)
		return MHD_NO;
	*size = 0;
	return MHD_YES;
}

int
st_api_uint_arg(struct st_req *req, const char *name, unsigned min,
                unsigned max, unsigned dflt, unsigned *out,
                enum MHD_Result *rc)
{
	const char *v = st_req_arg(req, name);
	uint64_t n;

	if (v == NULL) {
		*out = dflt;
		return 0;
	}
	if (st_parse_u64(v, min, max, &n) == -1) {
		*rc = st_reply_error(req, 400, "bad_request", "%s must be a whole "
		    "number from %u to %u", name, min, max);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

const char *
st_api_text_arg(struct st_req *req, struct st_call *c, const char *name,
                size_t max, int *bad)
{
	const char *raw = st_req_arg(req, name);
	char *out;
	long n;

	if (raw == NULL)
		return NULL;
	if (strlen(raw) > 3 * max || (out = st_call_alloc(c, max + 1)) == NULL) {
		*bad = 1;
		return NULL;
	}
	n = st_percent_decode(raw, strlen(raw), out, max + 1);
	if (n < 0 || (size_t)n != strlen(out) || !st_valid_header_value(out,
	    (size_t)n)) {
		*bad = 1;
		return NULL;
	}
	return out;
}

int
st_api_wait(struct st_req *req)
{
	while (!st_call_is_done(req->call))
		if (st_req_suspend(req))
			return 0;
	return 1;
}

enum MHD_Result
st_api_run(struct st_req *req, struct st_call *c, st_end_fn finish,
           void (*op)(struct st_call *))
{
	req->on_end = finish;
	op(c);
	return finish(req);
}

enum MHD_Result
st_api_fail(struct st_req *req)
{
	return st_reply_call_error(req, req->call);
}

/* ---------------------------------------------------------------- tokens */

static void
token_tag(const char *store, const char *raw, size_t len,
          unsigned char tag[TAG_BYTES])
{
	unsigned char digest[ST_SHA256_LEN];
	struct st_buf b = { 0 };

	st_buf_add(&b, store, strlen(store) + 1);	/* with its NUL */
	st_buf_add(&b, raw, len);
	st_sha256(b.data ? b.data : "", b.len, digest);
	memcpy(tag, digest, TAG_BYTES);
	st_buf_free(&b);
}

int
st_api_wrap(const char *store, const char *raw, struct st_buf *out)
{
	size_t len = strlen(raw);
	unsigned char tag[TAG_BYTES];
	char *enc;
	size_t n;

	if (len > TOKEN_RAW_MAX || (enc = malloc(len * 4 / 3 + 8)) == NULL)
		return -1;
	n = st_base64url((const unsigned char *)raw, len, enc);
	st_buf_add(out, enc, n);
	free(enc);
	token_tag(store, raw, len, tag);
	st_buf_adds(out, ".");
	{
		char t[16];

		n = st_base64url(tag, sizeof(tag), t);
		st_buf_add(out, t, n);
	}
	return out->failed ? -1 : 0;
}

long
st_api_unwrap(const char *store, const char *token, char *out, size_t cap)
{
	const char *dot = strrchr(token, '.');
	unsigned char want[TAG_BYTES], got[TAG_BYTES + 2];
	long n;

	if (dot == NULL || dot == token || cap == 0)
		return -1;
	n = st_base64url_decode(token, (size_t)(dot - token),
	    (unsigned char *)out, cap - 1);
	if (n <= 0 || st_base64url_decode(dot + 1, strlen(dot + 1), got,
	    sizeof(got)) != TAG_BYTES)
		return -1;
	out[n] = '\0';
	if (memchr(out, '\0', (size_t)n) != NULL)
		return -1;
	token_tag(store, out, (size_t)n, want);
	if (!st_ct_equal(want, got, TAG_BYTES))
		return -1;
	return n;
}

int
st_api_etag(const char *store, const char *raw, struct st_buf *out)
{
	st_buf_adds(out, "\"");
	if (st_api_wrap(store, raw, out) == -1)
		return -1;
	return st_buf_adds(out, "\"");
}

long
st_api_unetag(const char *store, const char *header, char *out, size_t cap)
{
	char inner[TOKEN_RAW_MAX * 2];
	size_t n = strlen(header);

	if (strcmp(header, "*") == 0) {
		if (cap < 2)
			return -1;
		strcpy(out, "*");
		return 1;
	}
	if (n < 3 || header[0] != '"' || header[n - 1] != '"' ||
	    n - 2 >= sizeof(inner))
		return -1;
	memcpy(inner, header + 1, n - 2);
	inner[n - 2] = '\0';
	return st_api_unwrap(store, inner, out, cap);
}
