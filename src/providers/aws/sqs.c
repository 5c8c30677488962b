/*
 * sqs.c - queue stores on Amazon SQS (and emulators such as fauxqs), the
 * "sqs" provider plugin.
 *
 * The JSON protocol: every request is POST / with a JSON body, the
 * operation in X-Amz-Target (AmazonSQS.SendMessage, ...), signed with
 * SigV4 for the service "sqs" (common.c). The provider-call engine
 * (src/core/pcall.c) retries, backs off and keeps the breaker; this file
 * builds requests and reads answers.
 *
 * A queue is named in the configuration; requests name it by its URL,
 * found with GetQueueUrl (or CreateQueue) and kept per store. An emulator
 * matches the URL as an exact string, so it is used as given, and sent to
 * the store's endpoint. A request that finds the queue gone forgets it.
 *
 * Bodies: SQS accepts only some characters (#x9 #xA #xD #x20-#xD7FF
 * #xE000-#xFFFD #x10000-#x10FFFF, and emulators refuse those above
 * U+FFFF); any other valid UTF-8 is sent base64-encoded with the message
 * attribute stratus-encoding = base64, and decoded on receive.
 *
 * Receives use SQS's own long poll (WaitTimeSeconds, up to 20 s: the
 * attempt timeout grows by the wait); SQS gives at most 10 messages per
 * call, so a larger max takes several calls (the later ones without a
 * wait), until one gives fewer. Receipts are SQS's receipt handles (the
 * core wraps them). SQS accepts a stale handle silently.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "core/answer.h"
#include "core/buf.h"
#include "core/guard.h"
#include "core/json.h"
#include "core/pcall.h"
#include "core/retry.h"
#include "core/validate.h"
#include "core/confval.h"
#include "providers/aws/aws.h"
#include "sign/hmac.h"

#define SQS_MAX_PER_CALL 10
#define ENCODING_ATTR "stratus-encoding"

struct sqs_store {
	struct aws_svc		 svc;		/* region, endpoint, creds */
	char			 queue[81];
	pthread_mutex_t		 lock;
	char			 url[600];	/* the queue's URL, or "" */
};

static const char *const sqs_keys[] = {
	"name", "kind", "provider", "queue", "region", "endpoint",
	"credentials", "allow_anonymous", "retry", ST_CONN_KEYS, NULL
};

/* One call's state: its exchange, and what it is doing. */
struct sqs_call {
	struct st_pcall	*pc;
	void		(*next)(struct st_call *);	/* once the URL is known */
	struct st_buf	 body;
	int		 creating;	/* create: GetQueueUrl said no */
	unsigned	 wait;		/* receive: the first call's wait */
};

static const struct st_answer_code sqs_codes[] = {
	{ "QueueDoesNotExist", ST_NOT_FOUND },
	{ "NonExistentQueue", ST_NOT_FOUND },
	{ "ReceiptHandleIsInvalid", ST_NOT_FOUND },
	{ "InvalidReceiptHandle", ST_NOT_FOUND },
	{ "MessageNotInflight", ST_PRECONDITION },
	{ "QueueDeletedRecently", ST_CONFLICT },
	{ "QueueNameExists", ST_CONFLICT },
	{ "InvalidMessageContents", ST_BAD_REQUEST },
	{ "AccessDenied", ST_FORBIDDEN },
	{ "AccessDeniedException", ST_FORBIDDEN },
	{ "InvalidClientTokenId", ST_FORBIDDEN },
	{ "SignatureDoesNotMatch", ST_FORBIDDEN },
	{ "RequestThrottled", ST_UNAVAILABLE },
	{ "ThrottlingException", ST_UNAVAILABLE },
	{ "InternalError", ST_UNAVAILABLE },
	{ "ServiceUnavailable", ST_UNAVAILABLE },
};

static const struct st_pcall_proto sqs_proto = {
	.service = "SQS",
	.sign = aws_sign_json,
	.error_code = st_pcall_code_json_type,
	.codes = sqs_codes,
	.ncodes = sizeof(sqs_codes) / sizeof(sqs_codes[0]),
	.answer_max = 8u << 20,
};

/* ---------------------------------------------------------------- requests */

static struct sqs_call *
sqs_call(struct st_call *c)
{
	struct sqs_store *s = c->store;
	struct sqs_call *qc = c->backend_data;

	if (qc != NULL)
		return qc;
	if ((qc = calloc(1, sizeof(*qc))) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	if ((qc->pc = aws_svc_pcall(&s->svc, c, &sqs_proto)) == NULL) {
		free(qc);
		return NULL;
	}
	c->backend_data = qc;
	return qc;
}

/* Sends the JSON in qc->body as operation target. */
static void
send_json(struct st_call *c, const char *target, enum st_pcall_kind kind,
          unsigned wait_s, st_pcall_finish_fn finish)
{
	struct sqs_store *s = c->store;
	struct sqs_call *qc = c->backend_data;
	char amz[64];

	snprintf(amz, sizeof(amz), "AmazonSQS.%s", target);
	if (qc->body.failed) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (aws_svc_post(&s->svc, qc->pc, c, amz, qc->body.data,
	    qc->body.len) == -1)
		return;
	st_pcall_wait(qc->pc, wait_s * 1000);
	st_pcall_start(qc->pc, kind, finish, c);
}

/* Starts a JSON body: {"QueueUrl": URL, ...; the caller closes it. */
static yajl_gen
begin_body(struct st_call *c, int with_url)
{
	struct sqs_store *s = c->store;
	yajl_gen g = st_json_new();

	if (g == NULL)
		return NULL;
	yajl_gen_map_open(g);
	if (with_url) {
		pthread_mutex_lock(&s->lock);
		st_json_key_str(g, "QueueUrl", s->url);
		pthread_mutex_unlock(&s->lock);
	}
	return g;
}

static void
end_body(struct st_call *c, yajl_gen g)
{
	struct sqs_call *qc = c->backend_data;

	yajl_gen_map_close(g);
	st_buf_reset(&qc->body);
	st_json_flush(g, &qc->body);
	yajl_gen_free(g);
}


static const char *
json_string(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = obj ? yajl_tree_get(obj, path, yajl_t_string) : NULL;

	return v && YAJL_IS_STRING(v) ? v->u.string : NULL;
}

static void
done_ok(struct st_call *c)
{
	c->status = ST_OK;
	st_call_done(c);
}

/* The queue is gone at SQS: forget its URL. */
static void
forget_url(struct st_call *c)
{
	struct sqs_store *s = c->store;

	pthread_mutex_lock(&s->lock);
	s->url[0] = '\0';
	pthread_mutex_unlock(&s->lock);
}

static void
fail_answer(struct st_call *c, struct st_pcall *pc)
{
	if (st_pcall_outcome(pc) == ST_NOT_FOUND && st_pcall_code(pc) != NULL &&
	    strstr(st_pcall_code(pc), "Queue") != NULL)
		forget_url(c);
	st_pcall_fail(pc);
}

/* ---------------------------------------------------------------- the URL */

static int
keep_url(struct st_call *c, struct st_pcall *pc)
{
	struct sqs_store *s = c->store;
	yajl_val v = st_pcall_answer_json(pc);
	const char *url = json_string(v, "QueueUrl");
	int rc = -1;

	if (url != NULL && strlen(url) < sizeof(s->url)) {
		pthread_mutex_lock(&s->lock);
		snprintf(s->url, sizeof(s->url), "%s", url);
		pthread_mutex_unlock(&s->lock);
		rc = 0;
	}
	yajl_tree_free(v);
	return rc;
}

static void
finish_url(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	struct sqs_call *qc = c->backend_data;

	if (!st_pcall_ok(pc)) {
		fail_answer(c, pc);
		return;
	}
	if (keep_url(c, pc) == -1) {
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "SQS answered without a "
		    "queue URL");
		return;
	}
	qc->next(c);
}

/* Runs next once the queue's URL is known (asking SQS for it if need be). */
static void
with_url(struct st_call *c, void (*next)(struct st_call *))
{
	struct sqs_store *s = c->store;
	struct sqs_call *qc = sqs_call(c);
	int known;
	yajl_gen g;

	if (qc == NULL)
		return;
	qc->next = next;
	pthread_mutex_lock(&s->lock);
	known = s->url[0] != '\0';
	pthread_mutex_unlock(&s->lock);
	if (known) {
		next(c);
		return;
	}
	if ((g = begin_body(c, 0)) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	st_json_key_str(g, "QueueName", s->queue);
	end_body(c, g);
	send_json(c, "GetQueueUrl", ST_PCALL_IDEMPOTENT, 0, finish_url);
}

/* ---------------------------------------------------------------- create, delete */

static void
finish_create(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	struct sqs_call *qc = c->backend_data;
	yajl_gen g;

	if (st_pcall_ok(pc)) {
		if (keep_url(c, pc) == -1) {
			st_call_fail(c, ST_PROVIDER_ERROR, NULL, "SQS answered "
			    "without a queue URL");
			return;
		}
		c->queue.existed = !qc->creating;
		done_ok(c);
		return;
	}
	if (qc->creating || st_pcall_outcome(pc) != ST_NOT_FOUND) {
		if (st_pcall_outcome(pc) == ST_CONFLICT)
			c->retry_after = 60;	/* deleted recently */
		st_pcall_fail(pc);
		return;
	}
	/* Not there: make it. */
	qc->creating = 1;
	if ((g = begin_body(c, 0)) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	st_json_key_str(g, "QueueName", ((struct sqs_store *)c->store)->queue);
	end_body(c, g);
	send_json(c, "CreateQueue", ST_PCALL_IDEMPOTENT, 0, finish_create);
}

/* GetQueueUrl first: it says whether the queue was there (204). */
static void
sqs_create(struct st_call *c)
{
	struct sqs_call *qc = sqs_call(c);
	yajl_gen g;

	if (qc == NULL)
		return;
	if ((g = begin_body(c, 0)) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	st_json_key_str(g, "QueueName", ((struct sqs_store *)c->store)->queue);
	end_body(c, g);
	send_json(c, "GetQueueUrl", ST_PCALL_IDEMPOTENT, 0, finish_create);
}

static void
finish_destroy(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;

	forget_url(c);
	if (st_pcall_ok(pc) || st_pcall_outcome(pc) == ST_NOT_FOUND)
		done_ok(c);
	else
		st_pcall_fail(pc);
}

static void
destroy_known(struct st_call *c)
{
	yajl_gen g = begin_body(c, 1);

	if (g == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	end_body(c, g);
	send_json(c, "DeleteQueue", ST_PCALL_IDEMPOTENT, 0, finish_destroy);
}

static void
finish_destroy_url(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;

	if (st_pcall_outcome(pc) == ST_NOT_FOUND && !st_pcall_ok(pc)) {
		done_ok(c);		/* no queue to delete */
		return;
	}
	finish_url(pc, arg);
}

static void
sqs_destroy(struct st_call *c)
{
	struct sqs_store *s = c->store;
	struct sqs_call *qc = sqs_call(c);
	yajl_gen g;

	if (qc == NULL)
		return;
	/* Always ask for the URL: a missing queue is then a plain 204. */
	forget_url(c);
	qc->next = destroy_known;
	if ((g = begin_body(c, 0)) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	st_json_key_str(g, "QueueName", s->queue);
	end_body(c, g);
	send_json(c, "GetQueueUrl", ST_PCALL_IDEMPOTENT, 0, finish_destroy_url);
}

/* ---------------------------------------------------------------- send */

/* Can SQS (and its emulators) take this UTF-8 text as it is? */
static int
sqs_safe(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];

		if (b < 0x20 && b != '\t' && b != '\n' && b != '\r')
			return 0;
		if (b >= 0xf0)		/* above U+FFFF */
			return 0;
		if (b == 0xef && i + 2 < n && (unsigned char)s[i + 1] == 0xbf &&
		    (unsigned char)s[i + 2] >= 0xbe)
			return 0;	/* U+FFFE, U+FFFF */
	}
	return 1;
}

static void
finish_send(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	yajl_val v;
	const char *id;

	if (!st_pcall_ok(pc)) {
		fail_answer(c, pc);
		return;
	}
	v = st_pcall_answer_json(pc);
	if ((id = json_string(v, "MessageId")) == NULL) {
		yajl_tree_free(v);
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "SQS answered a send "
		    "without a message id");
		return;
	}
	c->queue.id = st_call_strdup(c, id);
	yajl_tree_free(v);
	done_ok(c);
}

static void
send_known(struct st_call *c)
{
	yajl_gen g = begin_body(c, 1);
	char *b64;
	size_t n;

	if (g == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (sqs_safe(c->queue.body, c->queue.bodylen)) {
		st_json_str(g, "MessageBody");
		st_json_strn(g, c->queue.body, c->queue.bodylen);
	} else {
		if ((b64 = malloc(c->queue.bodylen * 4 / 3 + 8)) == NULL) {
			yajl_gen_free(g);
			st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
			return;
		}
		n = st_base64((const unsigned char *)c->queue.body,
		    c->queue.bodylen, b64);
		st_json_str(g, "MessageBody");
		st_json_strn(g, b64, n);
		free(b64);
		st_json_str(g, "MessageAttributes");
		yajl_gen_map_open(g);
		st_json_str(g, ENCODING_ATTR);
		yajl_gen_map_open(g);
		st_json_key_str(g, "DataType", "String");
		st_json_key_str(g, "StringValue", "base64");
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
	}
	st_json_key_uint(g, "DelaySeconds", c->queue.delay);
	end_body(c, g);
	/* SendMessage is not idempotent: sent again only when SQS surely did
	 * not take it; a send whose answer was lost fails, and the message
	 * may be there: at least once, as the API says. */
	send_json(c, "SendMessage", ST_PCALL_NOT_IDEMPOTENT, 0, finish_send);
}

static void
sqs_send(struct st_call *c)
{
	with_url(c, send_known);
}

/* ---------------------------------------------------------------- receive */

static void receive_more(struct st_call *);

/* The text the application sent, from one SQS message. */
static int
add_message(struct st_call *c, yajl_val m)
{
	const char *attr_path[] = { "Attributes", NULL };
	const char *enc_path[] = { "MessageAttributes", ENCODING_ATTR,
	    "StringValue", NULL };
	const char *id = json_string(m, "MessageId");
	const char *handle = json_string(m, "ReceiptHandle");
	const char *body = json_string(m, "Body");
	yajl_val attrs = yajl_tree_get(m, attr_path, yajl_t_object);
	yajl_val enc = yajl_tree_get(m, enc_path, yajl_t_string);
	const char *count = json_string(attrs, "ApproximateReceiveCount");
	const char *sent = json_string(attrs, "SentTimestamp");
	unsigned char *dec = NULL;
	size_t len;
	long n;
	int rc;

	if (id == NULL || handle == NULL || body == NULL ||
	    strlen(handle) >= ST_QUEUE_RECEIPT_MAX)
		return -1;
	len = strlen(body);
	if (enc != NULL && strcmp(enc->u.string, "base64") == 0 &&
	    (dec = malloc(len + 1)) != NULL &&
	    (n = st_base64_decode(body, len, dec, len + 1)) >= 0) {
		body = (const char *)dec;
		len = (size_t)n;
	}
	rc = st_call_queue_message(c, id, handle, body, len,
	    count ? (unsigned)strtoul(count, NULL, 10) : 1,
	    sent ? (time_t)(strtoll(sent, NULL, 10) / 1000) : 0);
	free(dec);
	return rc;
}

static void
finish_receive(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *path[] = { "Messages", NULL };
	unsigned before = st_call_queue_count(c), got;
	yajl_val v, list;
	size_t i;

	if (!st_pcall_ok(pc)) {
		fail_answer(c, pc);
		return;
	}
	/* No "Messages" is no message; anything else unreadable is bad. */
	v = st_pcall_answer_json(pc);
	list = v ? yajl_tree_get(v, path, yajl_t_any) : NULL;
	if (v == NULL || !YAJL_IS_OBJECT(v) || (list != NULL &&
	    !YAJL_IS_ARRAY(list))) {
		yajl_tree_free(v);
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "SQS answered a "
		    "receive that could not be read");
		return;
	}
	for (i = 0; list != NULL && i < list->u.array.len; i++)
		if (add_message(c, list->u.array.values[i]) == -1) {
			yajl_tree_free(v);
			st_call_fail(c, ST_PROVIDER_ERROR, NULL, "SQS answered a "
			    "message that could not be read");
			return;
		}
	yajl_tree_free(v);
	got = st_call_queue_count(c) - before;
	/* A full answer may leave more: ask again, without waiting. */
	if (got == SQS_MAX_PER_CALL && st_call_queue_count(c) < c->queue.max) {
		receive_more(c);
		return;
	}
	done_ok(c);
}

static void
receive_more(struct st_call *c)
{
	struct sqs_call *qc = c->backend_data;
	unsigned want = c->queue.max - st_call_queue_count(c);
	unsigned wait = st_call_queue_count(c) == 0 ? qc->wait : 0;
	yajl_gen g = begin_body(c, 1);

	if (g == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	st_json_key_uint(g, "MaxNumberOfMessages", want > SQS_MAX_PER_CALL ?
	    SQS_MAX_PER_CALL : want);
	st_json_key_uint(g, "VisibilityTimeout", c->queue.visibility);
	st_json_key_uint(g, "WaitTimeSeconds", wait);
	st_json_str(g, "MessageSystemAttributeNames");
	yajl_gen_array_open(g);
	st_json_str(g, "ApproximateReceiveCount");
	st_json_str(g, "SentTimestamp");
	yajl_gen_array_close(g);
	st_json_str(g, "AttributeNames");
	yajl_gen_array_open(g);
	st_json_str(g, "ApproximateReceiveCount");
	st_json_str(g, "SentTimestamp");
	yajl_gen_array_close(g);
	st_json_str(g, "MessageAttributeNames");
	yajl_gen_array_open(g);
	st_json_str(g, "All");
	yajl_gen_array_close(g);
	end_body(c, g);
	/* ReceiveMessage hides what it hands out; sending it again is
	 * harmless: a lost answer's messages come back when their
	 * visibility ends. */
	send_json(c, "ReceiveMessage", ST_PCALL_IDEMPOTENT, wait, finish_receive);
}

static void
sqs_receive(struct st_call *c)
{
	struct sqs_call *qc = sqs_call(c);

	if (qc == NULL)
		return;
	qc->wait = c->queue.wait;
	with_url(c, receive_more);
}

/* ---------------------------------------------------------------- ack, visibility */

static void
finish_handle(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;

	if (!st_pcall_ok(pc)) {
		fail_answer(c, pc);
		return;
	}
	if (c->op == ST_OP_QUEUE_VISIBILITY)	/* the handle stays valid */
		c->queue.new_receipt = st_call_strndup(c, c->queue.receipt,
		    c->queue.receiptlen);
	done_ok(c);
}

static void
handle_known(struct st_call *c)
{
	int ack = c->op == ST_OP_QUEUE_ACK;
	yajl_gen g = begin_body(c, 1);

	if (g == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	st_json_str(g, "ReceiptHandle");
	st_json_strn(g, c->queue.receipt, c->queue.receiptlen);
	if (!ack)
		st_json_key_uint(g, "VisibilityTimeout", c->queue.visibility);
	end_body(c, g);
	send_json(c, ack ? "DeleteMessage" : "ChangeMessageVisibility",
	    ST_PCALL_IDEMPOTENT, 0, finish_handle);
}

static void
sqs_handle(struct st_call *c)
{
	with_url(c, handle_known);
}

static void
sqs_release(struct st_call *c)
{
	struct sqs_call *qc = c->backend_data;

	if (qc == NULL)
		return;
	st_pcall_free(qc->pc);
	st_buf_free(&qc->body);
	free(qc);
	c->backend_data = NULL;
}

static const struct st_queue_ops sqs_queue_ops = {
	.create = sqs_create,
	.destroy = sqs_destroy,
	.send = sqs_send,
	.receive = sqs_receive,
	.ack = sqs_handle,
	.visibility = sqs_handle,
	.release = sqs_release,
};

/* ---------------------------------------------------------------- store */

/* 1 to 80 of A-Z a-z 0-9 - _ (a FIFO queue's .fifo is not served). */
static int
valid_queue(const char *q)
{
	size_t n = strlen(q);

	return n >= 1 && n <= 80 && strspn(q, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static void sqs_close(void *);

static int
sqs_open(const config_setting_t *conf, const struct st_store_env *env,
         void **out, char *err, size_t errlen)
{
	const char *queue = NULL;
	struct sqs_store *s;

	*out = NULL;
	if (st_conf_only_keys(conf, sqs_keys, err, errlen) == -1)
		return -1;
	if (!config_setting_lookup_string(conf, "queue", &queue) ||
	    !valid_queue(queue)) {
		snprintf(err, errlen, "an sqs store needs queue = \"NAME\" (1 to "
		    "80 of A-Z a-z 0-9 - _)");
		return -1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->queue, sizeof(s->queue), "%s", queue);
	if (aws_svc_open(&s->svc, conf, env, "sqs", err, errlen) == -1) {
		sqs_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

static void
sqs_close(void *p)
{
	struct sqs_store *s = p;

	if (s == NULL)
		return;
	aws_svc_close(&s->svc);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct st_backend stratus_backend = {
	.version = ST_BACKEND_VERSION,
	.name = "sqs",
	.kinds = ST_KIND_QUEUE,
	.store_open = sqs_open,
	.store_close = sqs_close,
	.queue = &sqs_queue_ops,
};
