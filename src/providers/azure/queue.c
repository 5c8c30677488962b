/*
 * queue.c - queue stores on Azure Queue Storage (and Azurite).
 *
 * Each operation of the queue API is one or a few REST calls made by the
 * provider-call engine (src/core/pcall.c): this file says how to sign
 * (Shared Key, or a SAS in the URL), what the service's error codes mean,
 * and builds and reads the requests; retries, backoff, the retry budget
 * and the circuit breaker are the engine's.
 *
 *   create      PUT    /QUEUE                      (201, or 204: exists)
 *   destroy     DELETE /QUEUE                      (a missing queue: ok)
 *   send        POST   /QUEUE/messages?visibilitytimeout=DELAY&messagettl=-1
 *   receive     GET    /QUEUE/messages?numofmessages=N&visibilitytimeout=V
 *   ack         DELETE /QUEUE/messages/ID?popreceipt=P
 *   visibility  PUT    /QUEUE/messages/ID?popreceipt=P&visibilitytimeout=S
 *
 * Azure has no long poll: a receive with a wait that finds nothing asks
 * again after a pause that doubles from 100 ms to 1 s, until a message
 * comes or the wait is over. The application's connection stays parked
 * meanwhile; no thread waits.
 *
 * Messages are sent base64-encoded (what the Azure SDKs do by default, and
 * the only form that carries any UTF-8); with message_encoding = "none"
 * they are sent as XML text, for producers and consumers that use raw
 * text, and a message XML cannot carry is refused. On receive, text that
 * is not valid base64 of UTF-8 is handed over as it is.
 *
 * The receipt handed to the core is "MESSAGEID:POPRECEIPT"; the pop
 * receipt changes at every receive and update, so an older one is stale
 * (Azure's PopReceiptMismatch: 412).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/answer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/guard.h"
#include "core/pcall.h"
#include "core/retry.h"
#include "core/validate.h"
#include "core/xml.h"
#include "core/confval.h"
#include "providers/azure/azure.h"
#include "sign/azure_sign.h"
#include "sign/hmac.h"

#define POLL_FIRST_MS 100
#define POLL_MAX_MS 1000

struct azq_store {
	struct az_svc	 svc;		/* first: its kind, key, endpoint */
	char		 queue[64];
	int		 raw_text;	/* message_encoding = "none" */
};

static const char *const azq_keys[] = {
	"name", "kind", "provider", "queue", "credentials", "endpoint",
	"message_encoding", "allow_anonymous", "retry", ST_CONN_KEYS, NULL
};

/* One call's state: its exchange and, for a receive, the poll. */
struct azq_call {
	struct st_pcall	*pc;
	long long	 deadline_ms;	/* a receive's wait ends then */
	unsigned	 pause_ms;
	/* the message being read from a receive's answer */
	char		 id[128];
	char		 pop[512];
	char		 inserted[64];
	unsigned	 count;
	struct st_buf	 text;
};

/* ---------------------------------------------------------------- protocol */

static const struct st_answer_code azq_codes[] = {
	{ "QueueNotFound", ST_NOT_FOUND },
	{ "MessageNotFound", ST_NOT_FOUND },
	{ "PopReceiptMismatch", ST_PRECONDITION },
	{ "QueueBeingDeleted", ST_CONFLICT },
	{ "QueueAlreadyExists", ST_CONFLICT },
	{ "AuthenticationFailed", ST_FORBIDDEN },
	{ "AuthorizationFailure", ST_FORBIDDEN },
	{ "AuthorizationPermissionMismatch", ST_FORBIDDEN },
	{ "RequestBodyTooLarge", ST_TOO_LARGE },
	{ "MessageTooLarge", ST_TOO_LARGE },
	{ "ServerBusy", ST_UNAVAILABLE },
	{ "InternalError", ST_UNAVAILABLE },
	{ "OperationTimedOut", ST_TIMEOUT },
};

static const struct st_pcall_proto azq_proto = {
	.service = "Azure Queue",
	.sign = az_svc_sign,
	.error_code = st_pcall_code_xml,
	.code_header = "x-ms-error-code",
	.codes = azq_codes,
	.ncodes = sizeof(azq_codes) / sizeof(azq_codes[0]),
	.answer_max = 8u << 20,
};

/*
 * Describes the next request: method, the path under the queue ("" for the
 * queue, "/messages", "/messages/ID"), query pairs (decoded). Adds the
 * headers every request carries.
 */
static int
azq_prepare(struct st_call *c, struct azq_call *qc, const char *method,
            const char *sub, const struct st_pcall_pair *q, size_t nq)
{
	struct azq_store *s = c->store;
	struct st_buf path = { 0 };
	int rc;

	st_buf_adds(&path, s->svc.base_path);
	st_buf_adds(&path, "/");
	st_buf_adds(&path, s->queue);
	st_buf_adds(&path, sub);
	if (path.failed) {
		st_buf_free(&path);
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return -1;
	}
	rc = az_svc_prepare(&s->svc, qc->pc, c, method, path.data, q, nq);
	st_buf_free(&path);
	return rc;
}

/* The call's state, made at its first operation. */
static struct azq_call *
azq_call(struct st_call *c)
{
	struct azq_store *s = c->store;
	struct azq_call *qc = c->backend_data;

	if (qc != NULL)
		return qc;
	if ((qc = calloc(1, sizeof(*qc))) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	if ((qc->pc = az_svc_pcall(&s->svc, c, &azq_proto)) == NULL) {
		free(qc);
		return NULL;		/* the call failed (circuit open) */
	}
	c->backend_data = qc;
	return qc;
}

static void
done_ok(struct st_call *c)
{
	c->status = ST_OK;
	st_call_done(c);
}

/* ---------------------------------------------------------------- create, delete */

static void
finish_create(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *code = st_pcall_code(pc);

	if (st_pcall_ok(pc)) {
		c->queue.existed = st_pcall_status(pc) == 204;
		done_ok(c);
	} else if (code != NULL && strcmp(code, "QueueAlreadyExists") == 0) {
		c->queue.existed = 1;
		done_ok(c);
	} else {
		if (code != NULL && strcmp(code, "QueueBeingDeleted") == 0)
			c->retry_after = 30;
		st_pcall_fail(pc);
	}
}

static void
azq_create(struct st_call *c)
{
	struct azq_call *qc = azq_call(c);

	if (qc != NULL && azq_prepare(c, qc, "PUT", "", NULL, 0) == 0)
		st_pcall_start(qc->pc, ST_PCALL_IDEMPOTENT, finish_create, c);
}

static void
finish_destroy(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;

	if (st_pcall_ok(pc) || st_pcall_outcome(pc) == ST_NOT_FOUND)
		done_ok(c);
	else
		st_pcall_fail(pc);
}

static void
azq_destroy(struct st_call *c)
{
	struct azq_call *qc = azq_call(c);

	if (qc != NULL && azq_prepare(c, qc, "DELETE", "", NULL, 0) == 0)
		st_pcall_start(qc->pc, ST_PCALL_IDEMPOTENT, finish_destroy, c);
}

/* ---------------------------------------------------------------- send */

/* Can XML 1.0 carry this UTF-8 text as it is? */
static int
xml_safe(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];

		if (b < 0x20 && b != '\t' && b != '\n' && b != '\r')
			return 0;
		/* U+FFFE and U+FFFF: EF BF BE, EF BF BF */
		if (b == 0xef && i + 2 < n && (unsigned char)s[i + 1] == 0xbf &&
		    (unsigned char)s[i + 2] >= 0xbe)
			return 0;
	}
	return 1;
}

static int
message_xml(struct azq_store *s, struct st_call *c, struct st_buf *out)
{
	char *b64;
	size_t n;

	st_buf_adds(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	    "<QueueMessage><MessageText>");
	if (s->raw_text) {
		st_xml_escape(out, c->queue.body, c->queue.bodylen);
	} else {
		if ((b64 = malloc(c->queue.bodylen * 4 / 3 + 8)) == NULL)
			return -1;
		n = st_base64((const unsigned char *)c->queue.body,
		    c->queue.bodylen, b64);
		st_buf_add(out, b64, n);
		free(b64);
	}
	st_buf_adds(out, "</MessageText></QueueMessage>");
	return out->failed ? -1 : 0;
}

static int
sent_xml(const char *path, const char *text, size_t len, void *arg)
{
	struct st_call *c = arg;

	if (strcmp(path, "QueueMessagesList/QueueMessage/MessageId") == 0)
		c->queue.id = st_call_strndup(c, text, len);
	return 0;
}

static void
finish_send(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *body;
	size_t len;

	if (!st_pcall_ok(pc)) {
		st_pcall_fail(pc);
		return;
	}
	body = st_pcall_answer(pc, &len);
	if (st_xml_parse(sent_xml, c, body, len) == -1 || c->queue.id == NULL) {
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "Azure answered a send "
		    "without a message id");
		return;
	}
	done_ok(c);
}

/*
 * Put Message is not idempotent: the engine sends it again only when
 * Azure surely did not take it (no connection, or "busy"). A send whose
 * answer was lost fails, and the message may still have been queued: at
 * least once, as the API says.
 */
static void
azq_send(struct st_call *c)
{
	struct azq_store *s = c->store;
	struct azq_call *qc = azq_call(c);
	struct st_pcall_pair q[2] = { { "messagettl", "-1" },
	    { "visibilitytimeout", NULL } };
	struct st_buf xml = { 0 };
	char delay[16];

	if (qc == NULL)
		return;
	if (s->raw_text && !xml_safe(c->queue.body, c->queue.bodylen)) {
		st_call_fail(c, ST_BAD_REQUEST, NULL, "queue '%s' sends messages "
		    "as raw text (message_encoding = \"none\") and this message "
		    "has characters XML cannot carry", s->svc.name);
		return;
	}
	snprintf(delay, sizeof(delay), "%u", c->queue.delay);
	q[1].value = delay;
	if (message_xml(s, c, &xml) == -1) {
		st_buf_free(&xml);
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (azq_prepare(c, qc, "POST", "/messages", q, 2) == 0 &&
	    st_pcall_header(qc->pc, "Content-Type", "application/xml") == 0 &&
	    st_pcall_body(qc->pc, xml.data, xml.len) == 0)
		st_pcall_start(qc->pc, ST_PCALL_NOT_IDEMPOTENT, finish_send, c);
	else if (!st_call_is_done(c))
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
	st_buf_free(&xml);
}

/* ---------------------------------------------------------------- receive */

static void start_receive(struct st_call *, unsigned delay_ms);

/* The text of a message as the application sent it. */
static void
add_message(struct st_call *c, struct azq_call *qc)
{
	struct azq_store *s = c->store;
	unsigned char *dec = NULL;
	const char *text = qc->text.data ? qc->text.data : "";
	size_t len = qc->text.len;
	char receipt[ST_QUEUE_RECEIPT_MAX];
	long n = -1;

	if (!s->raw_text && (dec = malloc(len + 1)) != NULL &&
	    (n = st_base64_decode(text, len, dec, len + 1)) > 0 &&
	    st_valid_utf8((const char *)dec, (size_t)n)) {
		text = (const char *)dec;
		len = (size_t)n;
	}
	snprintf(receipt, sizeof(receipt), "%s:%s", qc->id, qc->pop);
	st_call_queue_message(c, qc->id, receipt, text, len, qc->count,
	    st_answer_time(qc->inserted));
	free(dec);
}

static int
received_xml(const char *path, const char *text, size_t len, void *arg)
{
	struct st_call *c = arg;
	struct azq_call *qc = c->backend_data;
	const char *p = "QueueMessagesList/QueueMessage";
	size_t pn = strlen(p);

	if (strncmp(path, p, pn) != 0)
		return 0;
	path += pn;
	if (*path == '\0') {
		if (qc->id[0] != '\0' && qc->pop[0] != '\0')
			add_message(c, qc);
		qc->id[0] = qc->pop[0] = qc->inserted[0] = '\0';
		qc->count = 0;
		st_buf_reset(&qc->text);
	} else if (strcmp(path, "/MessageId") == 0) {
		snprintf(qc->id, sizeof(qc->id), "%.*s", (int)len, text);
	} else if (strcmp(path, "/PopReceipt") == 0) {
		snprintf(qc->pop, sizeof(qc->pop), "%.*s", (int)len, text);
	} else if (strcmp(path, "/InsertionTime") == 0) {
		snprintf(qc->inserted, sizeof(qc->inserted), "%.*s", (int)len,
		    text);
	} else if (strcmp(path, "/DequeueCount") == 0) {
		qc->count = (unsigned)strtoul(text, NULL, 10);
	} else if (strcmp(path, "/MessageText") == 0) {
		st_buf_reset(&qc->text);
		st_buf_add(&qc->text, text, len);
	}
	return 0;
}

static void
finish_receive(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	struct azq_call *qc = c->backend_data;
	const char *body;
	size_t len;
	long long left;

	if (!st_pcall_ok(pc)) {
		st_pcall_fail(pc);
		return;
	}
	body = st_pcall_answer(pc, &len);
	st_call_queue_reset(c);
	if (len > 0 && st_xml_parse(received_xml, c, body, len) == -1) {
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "Azure answered a "
		    "receive with XML that could not be read");
		return;
	}
	left = qc->deadline_ms - st_now_ms();
	if (st_call_queue_count(c) > 0 || left <= 0) {
		done_ok(c);
		return;
	}
	/* Nothing yet: ask again after a pause (Azure has no long poll). */
	start_receive(c, (unsigned)(left < qc->pause_ms ? left : qc->pause_ms));
	qc->pause_ms = qc->pause_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS :
	    qc->pause_ms * 2;
}

static void
start_receive(struct st_call *c, unsigned delay_ms)
{
	struct azq_call *qc = c->backend_data;
	char n[16], vis[16];
	struct st_pcall_pair q[2] = { { "numofmessages", n },
	    { "visibilitytimeout", vis } };

	snprintf(n, sizeof(n), "%u", c->queue.max);
	snprintf(vis, sizeof(vis), "%u", c->queue.visibility);
	if (azq_prepare(c, qc, "GET", "/messages", q, 2) == 0)
		st_pcall_start_after(qc->pc, delay_ms, ST_PCALL_IDEMPOTENT,
		    finish_receive, c);
}

/*
 * Get Messages is not idempotent either (it hides what it hands out),
 * but sending it again is harmless: a message whose answer was lost is
 * delivered again when its visibility ends, which at least once allows.
 */
static void
azq_receive(struct st_call *c)
{
	struct azq_call *qc = azq_call(c);

	if (qc == NULL)
		return;
	qc->deadline_ms = st_now_ms() + (long long)c->queue.wait * 1000;
	qc->pause_ms = POLL_FIRST_MS;
	start_receive(c, 0);
}

/* ---------------------------------------------------------------- ack, visibility */

/* "ID:POPRECEIPT" into the message path and the pop receipt; -1 if it is
 * not one of ours (the call then fails with 404). */
static int
split_receipt(struct st_call *c, char *sub, size_t cap, char *pop,
              size_t popcap)
{
	const char *r = c->queue.receipt, *colon;
	size_t idlen;

	colon = memchr(r, ':', c->queue.receiptlen);
	idlen = colon ? (size_t)(colon - r) : 0;
	if (colon == NULL || idlen == 0 || idlen >= 100 ||
	    strspn(r, "0123456789abcdefABCDEF-") < idlen ||
	    c->queue.receiptlen - idlen - 1 == 0 ||
	    c->queue.receiptlen - idlen - 1 >= popcap) {
		st_call_fail(c, ST_NOT_FOUND, NULL, "no such receipt in queue "
		    "'%s'", ((struct azq_store *)c->store)->svc.name);
		return -1;
	}
	snprintf(sub, cap, "/messages/%.*s", (int)idlen, r);
	snprintf(pop, popcap, "%.*s", (int)(c->queue.receiptlen - idlen - 1),
	    colon + 1);
	return 0;
}

static void
finish_ack(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;

	if (st_pcall_ok(pc))
		done_ok(c);
	else
		st_pcall_fail(pc);
}

static void
azq_ack(struct st_call *c)
{
	struct azq_call *qc = azq_call(c);
	char sub[128], pop[512];
	struct st_pcall_pair q[1] = { { "popreceipt", pop } };

	if (qc == NULL || split_receipt(c, sub, sizeof(sub), pop,
	    sizeof(pop)) == -1)
		return;
	if (azq_prepare(c, qc, "DELETE", sub, q, 1) == 0)
		st_pcall_start(qc->pc, ST_PCALL_IDEMPOTENT, finish_ack, c);
}

static void
finish_visibility(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *pop = st_pcall_header_value(pc, "x-ms-popreceipt");
	const char *colon = memchr(c->queue.receipt, ':', c->queue.receiptlen);
	char receipt[ST_QUEUE_RECEIPT_MAX];

	if (!st_pcall_ok(pc)) {
		st_pcall_fail(pc);
		return;
	}
	if (pop == NULL || colon == NULL) {
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "Azure answered an "
		    "update without a pop receipt");
		return;
	}
	snprintf(receipt, sizeof(receipt), "%.*s:%s",
	    (int)(colon - c->queue.receipt), c->queue.receipt, pop);
	c->queue.new_receipt = st_call_strdup(c, receipt);
	done_ok(c);
}

static void
azq_visibility(struct st_call *c)
{
	struct azq_call *qc = azq_call(c);
	char sub[128], pop[512], vis[16];
	struct st_pcall_pair q[2] = { { "popreceipt", pop },
	    { "visibilitytimeout", vis } };

	if (qc == NULL || split_receipt(c, sub, sizeof(sub), pop,
	    sizeof(pop)) == -1)
		return;
	snprintf(vis, sizeof(vis), "%u", c->queue.visibility);
	if (azq_prepare(c, qc, "PUT", sub, q, 2) == 0)
		st_pcall_start(qc->pc, ST_PCALL_IDEMPOTENT, finish_visibility, c);
}

static void
azq_release(struct st_call *c)
{
	struct azq_call *qc = c->backend_data;

	if (qc == NULL)
		return;
	st_pcall_free(qc->pc);
	st_buf_free(&qc->text);
	free(qc);
	c->backend_data = NULL;
}

const struct st_queue_ops az_queue_ops = {
	.create = azq_create,
	.destroy = azq_destroy,
	.send = azq_send,
	.receive = azq_receive,
	.ack = azq_ack,
	.visibility = azq_visibility,
	.release = azq_release,
};

/* ---------------------------------------------------------------- store */

/* 3 to 63 of a-z 0-9 -, starting with a letter or digit, no "--". */
static int
valid_queue(const char *q)
{
	size_t n = strlen(q), i;

	if (n < 3 || n > 63 || q[0] == '-' || q[n - 1] == '-' ||
	    strstr(q, "--") != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (!((q[i] >= 'a' && q[i] <= 'z') || (q[i] >= '0' &&
		    q[i] <= '9') || q[i] == '-'))
			return 0;
	return 1;
}

static int
read_settings(const config_setting_t *conf, struct azq_store *s, char *err,
              size_t errlen)
{
	const char *queue = NULL, *enc = NULL;

	if (st_conf_only_keys(conf, azq_keys, err, errlen) == -1)
		return -1;
	if (!config_setting_lookup_string(conf, "queue", &queue) ||
	    !valid_queue(queue)) {
		snprintf(err, errlen, "an azure queue store needs queue = \"NAME\" "
		    "(3 to 63 of a-z 0-9 -, no leading, trailing or double -)");
		return -1;
	}
	snprintf(s->queue, sizeof(s->queue), "%s", queue);
	if (config_setting_lookup_string(conf, "message_encoding", &enc)) {
		if (strcmp(enc, "none") != 0 && strcmp(enc, "base64") != 0) {
			snprintf(err, errlen, "message_encoding must be \"base64\" "
			    "or \"none\"");
			return -1;
		}
		s->raw_text = strcmp(enc, "none") == 0;
	}
	return 0;
}

int
az_queue_open(const config_setting_t *conf, const struct st_store_env *env,
              void **out, char *err, size_t errlen)
{
	struct azq_store *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (read_settings(conf, s, err, errlen) == -1 ||
	    az_svc_open(&s->svc, conf, env, ST_KIND_QUEUE, "queue", err,
	    errlen) == -1) {
		az_queue_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

void
az_queue_close(void *p)
{
	struct azq_store *s = p;

	if (s == NULL)
		return;
	az_svc_close(&s->svc);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}
