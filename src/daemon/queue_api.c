/*
 * queue_api.c - the queue part of the v1 API: from HTTP to queue calls.
 *
 *   PUT    /v1/queues/Q                        create      (admin)
 *   DELETE /v1/queues/Q                        delete      (admin)
 *   POST   /v1/queues/Q/messages?delay=        send        (send)
 *   GET    /v1/queues/Q/messages?max=&visibility=&wait=
 *                                              receive     (receive)
 *   DELETE /v1/queues/Q/messages/RECEIPT       acknowledge (ack)
 *   PATCH  /v1/queues/Q/messages/RECEIPT?visibility=
 *                                              hide again  (receive)
 *
 * A thin codec: every input is checked here, once (portable limits of
 * API.md, before any provider call), then one call goes to the store's
 * queue service; a long poll simply parks the connection until that call
 * is done. Receipts travel as the wrapped, checked tokens of api.c, so a
 * backend only ever sees a handle it made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "core/call.h"
#include "core/json.h"
#include "core/validate.h"
#include "daemon/api.h"
#include "daemon/queue_api.h"

enum queue_target {
	QT_QUEUE,		/* /v1/queues/Q */
	QT_MESSAGES,		/* /v1/queues/Q/messages */
	QT_MESSAGE		/* /v1/queues/Q/messages/RECEIPT */
};

/* What the path after the queue's name names; -1 for nothing. */
static int
queue_target(const struct st_req *req, const char **receipt)
{
	const char *rest = req->route.raw_key;
	size_t n = req->route.raw_keylen;

	*receipt = NULL;
	if (rest == NULL || n == 0)
		return QT_QUEUE;
	if (n == 8 && memcmp(rest, "messages", 8) == 0)
		return QT_MESSAGES;
	if (n > 9 && memcmp(rest, "messages/", 9) == 0) {
		*receipt = rest + 9;
		return QT_MESSAGE;
	}
	return -1;
}

static enum MHD_Result
not_allowed(struct st_req *req, const char *allow)
{
	req->route.allow = allow;
	return st_reply_method_not_allowed(req);
}

/* ---------------------------------------------------------------- answers */

static enum MHD_Result
reply_status_only(struct st_req *req, int status)
{
	struct st_buf body = { 0 };

	if (status == 204)
		return st_reply_empty(req, 204);
	st_buf_printf(&body, "{\"queue\":\"%s\"}", req->store->name);
	return st_reply_json(req, status, &body);
}

static enum MHD_Result
reply_sent(struct st_req *req)
{
	struct st_buf body = { 0 };
	yajl_gen g = st_json_new();

	if (g == NULL)
		return MHD_NO;
	yajl_gen_map_open(g);
	st_json_key_str(g, "id", req->call->queue.id ? req->call->queue.id : "");
	yajl_gen_map_close(g);
	st_json_flush(g, &body);
	yajl_gen_free(g);
	return st_reply_json(req, 201, &body);
}

static void
rfc3339(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
gen_message(struct st_req *req, yajl_gen g, const struct st_call_message *m)
{
	struct st_buf receipt = { 0 };
	char when[32];

	if (st_api_wrap(req->store->name, m->receipt, &receipt) == -1) {
		st_buf_free(&receipt);
		return -1;
	}
	rfc3339(m->enqueued_at, when);
	yajl_gen_map_open(g);
	st_json_key_str(g, "id", m->id);
	st_json_str(g, "receipt");
	st_json_strn(g, receipt.data, receipt.len);
	st_json_str(g, "body");
	st_json_strn(g, m->body, m->bodylen);
	st_json_key_uint(g, "dequeue_count", m->dequeue_count);
	st_json_key_str(g, "enqueued_at", when);
	yajl_gen_map_close(g);
	st_buf_free(&receipt);
	return 0;
}

static enum MHD_Result
reply_received(struct st_req *req)
{
	const struct st_call_message *m;
	struct st_buf body = { 0 };
	yajl_gen g = st_json_new();
	size_t n, i;
	int rc = 0;

	if (g == NULL)
		return MHD_NO;
	m = st_call_queue_messages(req->call, &n);
	yajl_gen_map_open(g);
	st_json_str(g, "messages");
	yajl_gen_array_open(g);
	for (i = 0; i < n && rc == 0; i++)
		rc = gen_message(req, g, &m[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	st_json_flush(g, &body);
	yajl_gen_free(g);
	if (rc == -1) {
		st_buf_free(&body);
		return st_reply_error(req, 502, "provider_error", "the provider "
		    "handed out a receipt too long to pass on");
	}
	return st_reply_json(req, 200, &body);
}

static enum MHD_Result
reply_receipt(struct st_req *req)
{
	struct st_buf body = { 0 }, receipt = { 0 };
	const char *raw = req->call->queue.new_receipt;
	yajl_gen g;

	if (raw == NULL || st_api_wrap(req->store->name, raw, &receipt) == -1) {
		st_buf_free(&receipt);
		return st_reply_error(req, 502, "provider_error", "the provider "
		    "gave no usable receipt");
	}
	if ((g = st_json_new()) == NULL) {
		st_buf_free(&receipt);
		return MHD_NO;
	}
	yajl_gen_map_open(g);
	st_json_str(g, "receipt");
	st_json_strn(g, receipt.data, receipt.len);
	yajl_gen_map_close(g);
	st_json_flush(g, &body);
	yajl_gen_free(g);
	st_buf_free(&receipt);
	return st_reply_json(req, 200, &body);
}

/* The step every operation ends with: wait, then answer. */
static enum MHD_Result
queue_finish(struct st_req *req)
{
	struct st_call *c = req->call;

	if (!st_api_wait(req))
		return MHD_YES;
	if (c->status != ST_OK)
		return st_api_fail(req);
	switch (c->op) {
	case ST_OP_QUEUE_CREATE:
		return reply_status_only(req, c->queue.existed ? 204 : 201);
	case ST_OP_QUEUE_SEND:
		return reply_sent(req);
	case ST_OP_QUEUE_RECEIVE:
		return reply_received(req);
	case ST_OP_QUEUE_VISIBILITY:
		return reply_receipt(req);
	default:
		return reply_status_only(req, 204);
	}
}

/* ---------------------------------------------------------------- queue */

static enum MHD_Result
queue_admin(struct st_req *req)
{
	const struct st_queue_ops *ops = req->store->backend->queue;
	int create = strcmp(req->method, "PUT") == 0;
	enum MHD_Result rc;
	struct st_call *c;

	if (!st_api_need(req, ST_RIGHT_ADMIN, "admin", &rc))
		return rc;
	c = st_req_new_call(req, create ? ST_OP_QUEUE_CREATE :
	    ST_OP_QUEUE_DELETE);
	if (c == NULL)
		return MHD_NO;
	return st_api_run(req, c, queue_finish,
	    create ? ops->create : ops->destroy);
}

/* ---------------------------------------------------------------- send */

static enum MHD_Result
send_end(struct st_req *req)
{
	const char *body = req->body.data;
	size_t len = req->body.len;
	struct st_call *c;

	if (req->call != NULL)		/* resumed: the call is under way */
		return queue_finish(req);
	if (req->discard)
		return st_reply_error(req, 413, "payload_too_large", "a message "
		    "is at most %d bytes", ST_QUEUE_BODY_MAX);
	if (len == 0)
		return st_reply_error(req, 400, "bad_request", "a message needs "
		    "a body of 1 byte or more");
	if (!st_valid_utf8(body, len))
		return st_reply_error(req, 400, "bad_request", "a message must "
		    "be UTF-8 text");
	if ((c = st_req_new_call(req, ST_OP_QUEUE_SEND)) == NULL)
		return MHD_NO;
	c->queue.body = body;
	c->queue.bodylen = len;
	c->queue.delay = req->api_arg;
	return st_api_run(req, c, queue_finish,
	    req->store->backend->queue->send);
}

static enum MHD_Result
queue_send(struct st_req *req)
{
	const char *cl = st_req_header(req, "Content-Length");
	enum MHD_Result rc;
	uint64_t length;

	if (!st_api_need(req, ST_RIGHT_SEND, "send", &rc))
		return rc;
	if (st_api_uint_arg(req, "delay", 0, ST_QUEUE_DELAY_MAX, 0,
	    &req->api_arg, &rc) == -1)
		return rc;
	if (cl != NULL && st_parse_u64(cl, 0, UINT64_MAX, &length) == 0 &&
	    length > ST_QUEUE_BODY_MAX)
		return st_reply_error(req, 413, "payload_too_large", "a message "
		    "is at most %d bytes", ST_QUEUE_BODY_MAX);
	req->api_body_max = ST_QUEUE_BODY_MAX;
	req->on_body = st_api_take_body;
	req->on_end = send_end;
	return MHD_YES;
}

/* ---------------------------------------------------------------- receive */

static enum MHD_Result
queue_receive(struct st_req *req)
{
	unsigned max, visibility, wait;
	enum MHD_Result rc;
	struct st_call *c;

	if (!st_api_need(req, ST_RIGHT_RECEIVE, "receive", &rc))
		return rc;
	if (st_api_uint_arg(req, "max", 1, ST_QUEUE_RECEIVE_MAX, 1, &max,
	    &rc) == -1 ||
	    st_api_uint_arg(req, "visibility", 1, ST_QUEUE_VISIBILITY_MAX, 30,
	    &visibility, &rc) == -1 ||
	    st_api_uint_arg(req, "wait", 0, ST_QUEUE_WAIT_MAX, 0, &wait,
	    &rc) == -1)
		return rc;
	if ((c = st_req_new_call(req, ST_OP_QUEUE_RECEIVE)) == NULL)
		return MHD_NO;
	c->queue.max = max;
	c->queue.visibility = visibility;
	c->queue.wait = wait;
	return st_api_run(req, c, queue_finish,
	    req->store->backend->queue->receive);
}

/* ---------------------------------------------------------------- one message */

/* The backend's handle inside the receipt of the path, kept in req->body
 * (a DELETE or PATCH has no body of its own). */
static int
take_receipt(struct st_req *req, const char *raw)
{
	char token[ST_QUEUE_RECEIPT_MAX * 2];
	size_t n = strlen(raw);
	long len;

	if (n == 0 || n >= sizeof(token))
		return -1;
	len = st_percent_decode(raw, n, token, sizeof(token));
	if (len <= 0 || strlen(token) != (size_t)len)
		return -1;
	st_buf_reset(&req->body);
	if (st_buf_reserve(&req->body, ST_QUEUE_RECEIPT_MAX + 1) == -1)
		return -1;
	len = st_api_unwrap(req->store->name, token, req->body.data,
	    ST_QUEUE_RECEIPT_MAX + 1);
	if (len < 0)
		return -1;
	req->body.len = (size_t)len;
	return 0;
}

static enum MHD_Result
queue_message(struct st_req *req, const char *raw)
{
	int ack = strcmp(req->method, "DELETE") == 0;
	unsigned visibility = 0;
	enum MHD_Result rc;
	struct st_call *c;

	if (!st_api_need(req, ack ? ST_RIGHT_ACK : ST_RIGHT_RECEIVE,
	    ack ? "ack" : "receive", &rc))
		return rc;
	if (!ack) {
		if (st_req_arg(req, "visibility") == NULL)
			return st_reply_error(req, 400, "bad_request", "visibility "
			    "is required (seconds, 0 to %d)",
			    ST_QUEUE_VISIBILITY_MAX);
		if (st_api_uint_arg(req, "visibility", 0,
		    ST_QUEUE_VISIBILITY_MAX, 0, &visibility, &rc) == -1)
			return rc;
	}
	req->discard = 1;		/* a body here means nothing */
	if (take_receipt(req, raw) == -1)
		return st_reply_error(req, 404, "not_found", "no such receipt "
		    "in queue '%s'", req->store->name);
	if ((c = st_req_new_call(req, ack ? ST_OP_QUEUE_ACK :
	    ST_OP_QUEUE_VISIBILITY)) == NULL)
		return MHD_NO;
	c->queue.receipt = req->body.data;
	c->queue.receiptlen = req->body.len;
	c->queue.visibility = visibility;
	return st_api_run(req, c, queue_finish, ack ?
	    req->store->backend->queue->ack :
	    req->store->backend->queue->visibility);
}

/* ---------------------------------------------------------------- start */

enum MHD_Result
st_queue_start(struct st_req *req)
{
	const char *receipt, *m = req->method;
	enum MHD_Result rc;
	int target = queue_target(req, &receipt);

	if (target == -1)
		return st_reply_error(req, 404, "not_found", "no such endpoint");
	if (!st_api_store(req, ST_KIND_QUEUE, "queue", &rc))
		return rc;
	switch (target) {
	case QT_QUEUE:
		if (strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0)
			return queue_admin(req);
		return not_allowed(req, "PUT, DELETE");
	case QT_MESSAGES:
		if (strcmp(m, "POST") == 0)
			return queue_send(req);
		if (strcmp(m, "GET") == 0)
			return queue_receive(req);
		return not_allowed(req, "GET, POST");
	default:
		if (strcmp(m, "DELETE") == 0 || strcmp(m, "PATCH") == 0)
			return queue_message(req, receipt);
		return not_allowed(req, "DELETE, PATCH");
	}
}
