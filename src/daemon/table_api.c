/*
 * table_api.c - the table part of the v1 API: from HTTP to table calls.
 *
 *   PUT    /v1/tables/T              create the table        (admin)
 *   DELETE /v1/tables/T              delete the table        (admin)
 *   GET    /v1/tables/T/PK?prefix=&limit=&cursor=
 *                                    rows of one partition   (query)
 *   PUT    /v1/tables/T/PK/RK        write one entity        (put)
 *   GET    /v1/tables/T/PK/RK        read one entity         (get)
 *   DELETE /v1/tables/T/PK/RK        delete one entity       (delete)
 *
 * A thin codec: keys, bodies (core/entity.c), conditions and paging are
 * checked here, once, before any provider call. ETags and cursors travel
 * wrapped (api.c): the backend's own version string inside an opaque
 * quoted token, so that Azure's W/"datetime'...'" and a local counter
 * look alike to an application, and a made-up If-Match is a 412 without
 * asking anyone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "core/call.h"
#include "core/entity.h"
#include "core/json.h"
#include "core/validate.h"
#include "daemon/api.h"
#include "daemon/table_api.h"

#define CURSOR_MAX 4096
#define ETAG_MAX 1024
/* Where the decoded keys live in req->key: pk, then rk. */
#define RK_AT (ST_TABLE_KEY_MAX + 1)

/* ---------------------------------------------------------------- keys */

/* Decodes one key segment into out (ST_TABLE_KEY_MAX + 1 bytes). */
static int
decode_key(const char *raw, size_t n, char *out)
{
	long len;

	if (n == 0 || n > 3 * ST_TABLE_KEY_MAX)
		return -1;
	len = st_percent_decode(raw, n, out, ST_TABLE_KEY_MAX + 1);
	if (len <= 0 || strlen(out) != (size_t)len ||
	    !st_valid_entity_key(out, (size_t)len))
		return -1;
	return 0;
}

/* Splits the path after the table's name into pk (and rk): 0 for the
 * table itself, 1 for a partition, 2 for an entity, -1 for a bad key. */
static int
take_keys(struct st_req *req)
{
	const char *rest = req->route.raw_key, *slash;
	size_t n = req->route.raw_keylen;

	if (rest == NULL || n == 0)
		return 0;
	slash = memchr(rest, '/', n);
	if (decode_key(rest, slash ? (size_t)(slash - rest) : n,
	    req->key) == -1)
		return -1;
	if (slash == NULL)
		return 1;
	if (decode_key(slash + 1, n - (size_t)(slash + 1 - rest),
	    req->key + RK_AT) == -1)
		return -1;
	return 2;
}

static void
set_keys(struct st_req *req, struct st_call *c, int with_rk)
{
	c->table.pk = req->key;
	c->table.pklen = strlen(req->key);
	if (with_rk) {
		c->table.rk = req->key + RK_AT;
		c->table.rklen = strlen(req->key + RK_AT);
	}
}

/* ---------------------------------------------------------------- answers */

static void
gen_row(struct st_req *req, yajl_gen g, const char *pk,
        const struct st_call_row *r)
{
	struct st_buf etag = { 0 };

	st_api_etag(req->store->name, r->etag, &etag);
	yajl_gen_map_open(g);
	st_json_key_str(g, "pk", pk);
	st_json_str(g, "rk");
	st_json_strn(g, r->rk, r->rklen);
	st_json_str(g, "etag");
	st_json_strn(g, etag.data ? etag.data : "", etag.len);
	st_json_str(g, "data");
	st_entity_gen(g, r->props, r->nprops);
	yajl_gen_map_close(g);
	st_buf_free(&etag);
}

static enum MHD_Result
reply_json_etag(struct st_req *req, int status, struct st_buf *body,
                const char *raw_etag)
{
	struct st_buf etag = { 0 };
	struct MHD_Response *resp;
	size_t len = body->len;
	char *data = st_buf_take(body);

	if (st_api_etag(req->store->name, raw_etag, &etag) == -1 ||
	    (resp = MHD_create_response_from_buffer(len, data,
	    MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(data);
		st_buf_free(&etag);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "ETag", etag.data);
	st_buf_free(&etag);
	req->bytes_out += len;
	return st_reply(req, status, resp);
}

static enum MHD_Result
reply_written(struct st_req *req)
{
	struct st_call *c = req->call;
	struct st_buf body = { 0 }, etag = { 0 };
	yajl_gen g = st_json_new();

	if (g == NULL || c->table.etag == NULL) {
		if (g != NULL)
			yajl_gen_free(g);
		return st_reply_error(req, 502, "provider_error", "the provider "
		    "gave no version for the entity");
	}
	st_api_etag(req->store->name, c->table.etag, &etag);
	yajl_gen_map_open(g);
	st_json_str(g, "pk");
	st_json_strn(g, c->table.pk, c->table.pklen);
	st_json_str(g, "rk");
	st_json_strn(g, c->table.rk, c->table.rklen);
	st_json_str(g, "etag");
	st_json_strn(g, etag.data ? etag.data : "", etag.len);
	yajl_gen_map_close(g);
	st_json_flush(g, &body);
	yajl_gen_free(g);
	st_buf_free(&etag);
	return reply_json_etag(req, c->table.existed ? 200 : 201, &body,
	    c->table.etag);
}

static enum MHD_Result
reply_entity(struct st_req *req)
{
	const struct st_call_row *rows;
	struct st_buf body = { 0 };
	yajl_gen g;
	size_t n;

	rows = st_call_table_rows(req->call, &n);
	if (n != 1)
		return st_reply_error(req, 502, "provider_error", "the provider "
		    "answered %zu entities for one key", n);
	if ((g = st_json_new()) == NULL)
		return MHD_NO;
	gen_row(req, g, req->key, &rows[0]);
	st_json_flush(g, &body);
	yajl_gen_free(g);
	return reply_json_etag(req, 200, &body, rows[0].etag);
}

static enum MHD_Result
reply_rows(struct st_req *req)
{
	const struct st_call_row *rows;
	struct st_buf body = { 0 }, cursor = { 0 };
	const char *next = req->call->table.next_cursor;
	yajl_gen g = st_json_new();
	size_t n, i;

	if (g == NULL)
		return MHD_NO;
	rows = st_call_table_rows(req->call, &n);
	yajl_gen_map_open(g);
	st_json_str(g, "items");
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++)
		gen_row(req, g, req->key, &rows[i]);
	yajl_gen_array_close(g);
	st_json_str(g, "next_cursor");
	if (next != NULL && st_api_wrap(req->store->name, next, &cursor) == 0)
		st_json_strn(g, cursor.data, cursor.len);
	else
		yajl_gen_null(g);
	yajl_gen_map_close(g);
	st_json_flush(g, &body);
	yajl_gen_free(g);
	st_buf_free(&cursor);
	return st_reply_json(req, 200, &body);
}

static enum MHD_Result
table_finish(struct st_req *req)
{
	struct st_call *c = req->call;
	struct st_buf body = { 0 };

	if (!st_api_wait(req))
		return MHD_YES;
	if (c->status == ST_BAD_REQUEST && c->op == ST_OP_TABLE_PUT)
		/* A value the provider cannot store (a double out of its
		 * range, a string over its limit): the entity is refused. */
		return st_reply_error(req, 400, "invalid_entity", "%s",
		    c->message ? c->message : "the provider cannot store this "
		    "entity");
	if (c->status != ST_OK)
		return st_api_fail(req);
	switch (c->op) {
	case ST_OP_TABLE_CREATE:
		if (c->table.existed)
			return st_reply_empty(req, 204);
		st_buf_printf(&body, "{\"table\":\"%s\"}", req->store->name);
		return st_reply_json(req, 201, &body);
	case ST_OP_TABLE_PUT:
		return reply_written(req);
	case ST_OP_TABLE_GET:
		return reply_entity(req);
	case ST_OP_TABLE_QUERY:
		return reply_rows(req);
	default:
		return st_reply_empty(req, 204);
	}
}


/* ---------------------------------------------------------------- table */

static enum MHD_Result
table_admin(struct st_req *req)
{
	const struct st_table_ops *ops = req->store->backend->table;
	int create = strcmp(req->method, "PUT") == 0;
	enum MHD_Result rc;
	struct st_call *c;

	if (!st_api_need(req, ST_RIGHT_ADMIN, "admin", &rc))
		return rc;
	c = st_req_new_call(req, create ? ST_OP_TABLE_CREATE :
	    ST_OP_TABLE_DELETE);
	if (c == NULL)
		return MHD_NO;
	return st_api_run(req, c, table_finish,
	    create ? ops->create : ops->destroy);
}

/* ---------------------------------------------------------------- query */

static enum MHD_Result
table_query(struct st_req *req)
{
	char *raw_cursor = NULL;
	const char *prefix, *cursor;
	unsigned limit;
	enum MHD_Result rc;
	struct st_call *c;
	int bad = 0;
	long n;

	if (!st_api_need(req, ST_RIGHT_QUERY, "query", &rc))
		return rc;
	if (st_api_uint_arg(req, "limit", 1, ST_TABLE_LIMIT_MAX,
	    ST_TABLE_LIMIT_MAX, &limit, &rc) == -1)
		return rc;
	if ((c = st_req_new_call(req, ST_OP_TABLE_QUERY)) == NULL)
		return MHD_NO;
	prefix = st_api_text_arg(req, c, "prefix", ST_TABLE_KEY_MAX, &bad);
	cursor = st_api_text_arg(req, c, "cursor", CURSOR_MAX, &bad);
	if (bad)
		return st_reply_error(req, 400, "bad_request", "prefix and cursor "
		    "must be valid UTF-8 text without control characters");
	if (cursor != NULL && cursor[0] != '\0') {
		if ((raw_cursor = st_call_alloc(c, CURSOR_MAX + 1)) == NULL)
			return MHD_NO;
		n = st_api_unwrap(req->store->name, cursor, raw_cursor,
		    CURSOR_MAX + 1);
		if (n < 0)
			return st_reply_error(req, 400, "bad_request", "not a "
			    "cursor this listing handed out");
	}
	set_keys(req, c, 0);
	c->table.prefix = prefix ? prefix : "";
	c->table.prefixlen = strlen(c->table.prefix);
	c->table.limit = limit;
	c->table.cursor = raw_cursor;
	return st_api_run(req, c, table_finish,
	    req->store->backend->table->query);
}

/* ---------------------------------------------------------------- entity */

/* If-Match (unwrapped into the call) and If-None-Match of a write. */
static int
take_conditions(struct st_req *req, struct st_call *c, int put,
                enum MHD_Result *rc)
{
	const char *im = st_req_header(req, "If-Match");
	const char *inm = st_req_header(req, "If-None-Match");
	char *raw;

	if (inm != NULL && (!put || strcmp(inm, "*") != 0 || im != NULL)) {
		*rc = st_reply_error(req, 400, "bad_request", "If-None-Match: * "
		    "is the only form taken, on a PUT without If-Match");
		return -1;
	}
	c->table.if_none_match = inm != NULL;
	if (im == NULL)
		return 0;
	if ((raw = st_call_alloc(c, ETAG_MAX + 1)) == NULL) {
		*rc = MHD_NO;
		return -1;
	}
	if (st_api_unetag(req->store->name, im, raw, ETAG_MAX + 1) < 0) {
		/* No version this daemon handed out: it cannot match. */
		*rc = st_reply_error(req, 412, "precondition_failed", "If-Match "
		    "names no version of this entity");
		return -1;
	}
	c->table.if_match = raw;
	return 0;
}

static void
free_entity(void *p)
{
	st_entity_free(p);
	free(p);
}

static enum MHD_Result
put_end(struct st_req *req)
{
	static const struct { enum st_entity_result r; int http;
	    const char *code; } errors[] = {
		{ ST_ENTITY_NOT_OBJECT, 400, "invalid_json" },
		{ ST_ENTITY_INVALID, 400, "invalid_entity" },
		{ ST_ENTITY_TOO_LARGE, 413, "payload_too_large" },
	};
	struct st_entity *e;
	enum st_entity_result r;
	enum MHD_Result rc;
	struct st_call *c;
	char why[256];
	size_t i;

	if (req->call != NULL)		/* resumed: the call is under way */
		return table_finish(req);
	if (req->discard)
		return st_reply_error(req, 413, "payload_too_large", "an entity "
		    "is at most %d bytes of JSON", ST_TABLE_ENTITY_MAX);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return MHD_NO;
	req->api_data = e;
	req->api_free = free_entity;
	r = st_entity_parse(req->body.data ? req->body.data : "", req->body.len,
	    e, why, sizeof(why));
	for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].r == r)
			return st_reply_error(req, errors[i].http,
			    errors[i].code, "%s", why);
	if ((c = st_req_new_call(req, ST_OP_TABLE_PUT)) == NULL)
		return MHD_NO;
	if (take_conditions(req, c, 1, &rc) == -1)
		return rc;
	set_keys(req, c, 1);
	c->table.props = e->props;
	c->table.nprops = e->nprops;
	return st_api_run(req, c, table_finish,
	    req->store->backend->table->put);
}

static enum MHD_Result
entity_put(struct st_req *req)
{
	const char *cl = st_req_header(req, "Content-Length");
	enum MHD_Result rc;
	uint64_t length;

	if (!st_api_need(req, ST_RIGHT_PUT, "put", &rc))
		return rc;
	if (cl != NULL && st_parse_u64(cl, 0, UINT64_MAX, &length) == 0 &&
	    length > ST_TABLE_ENTITY_MAX)
		return st_reply_error(req, 413, "payload_too_large", "an entity "
		    "is at most %d bytes of JSON", ST_TABLE_ENTITY_MAX);
	req->api_body_max = ST_TABLE_ENTITY_MAX;
	req->on_body = st_api_take_body;
	req->on_end = put_end;
	return MHD_YES;
}

static enum MHD_Result
entity_get(struct st_req *req)
{
	enum MHD_Result rc;
	struct st_call *c;

	if (!st_api_need(req, ST_RIGHT_GET, "get", &rc))
		return rc;
	if ((c = st_req_new_call(req, ST_OP_TABLE_GET)) == NULL)
		return MHD_NO;
	set_keys(req, c, 1);
	return st_api_run(req, c, table_finish,
	    req->store->backend->table->get);
}

static enum MHD_Result
entity_delete(struct st_req *req)
{
	enum MHD_Result rc;
	struct st_call *c;

	if (!st_api_need(req, ST_RIGHT_DELETE, "delete", &rc))
		return rc;
	if ((c = st_req_new_call(req, ST_OP_TABLE_REMOVE)) == NULL)
		return MHD_NO;
	if (take_conditions(req, c, 0, &rc) == -1)
		return rc;
	set_keys(req, c, 1);
	return st_api_run(req, c, table_finish,
	    req->store->backend->table->remove);
}

/* ---------------------------------------------------------------- start */

enum MHD_Result
st_table_start(struct st_req *req)
{
	const char *m = req->method;
	enum MHD_Result rc;
	int depth;

	if (!st_api_store(req, ST_KIND_TABLE, "table", &rc))
		return rc;
	if ((depth = take_keys(req)) == -1)
		return st_reply_error(req, 400, "invalid_key", "partition and row "
		    "keys are UTF-8, 1 to %d bytes, without / \\ # ? or control "
		    "characters", ST_TABLE_KEY_MAX);
	switch (depth) {
	case 0:
		if (strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0)
			return table_admin(req);
		req->route.allow = "PUT, DELETE";
		break;
	case 1:
		if (strcmp(m, "GET") == 0)
			return table_query(req);
		req->route.allow = "GET";
		break;
	default:
		if (strcmp(m, "PUT") == 0)
			return entity_put(req);
		if (strcmp(m, "GET") == 0)
			return entity_get(req);
		if (strcmp(m, "DELETE") == 0)
			return entity_delete(req);
		req->route.allow = "GET, PUT, DELETE";
		break;
	}
	return st_reply_method_not_allowed(req);
}
