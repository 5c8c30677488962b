/*
 * test_local_queue.c - the local queue service (src/providers/local/
 * queue.c) driven directly through its operations, as the core drives it:
 * a call per operation, answered on the store's thread, released once.
 *
 * Each case opens a store in a fresh temporary directory. The cases:
 * settings, queue existence, send / receive / ack, FIFO order and max,
 * hidden times and redelivery, stale and malformed receipts, changes of
 * visibility, delays, long polls (woken by a send from another thread, by
 * a delay running out, by a deleted queue; timing out empty; released
 * while waiting; 500 idle waiters costing no CPU), durability across
 * close and reopen, concurrent senders and receivers (no message given
 * twice), and a throughput measure that prints and asserts nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#define OPS		(&st_local_queue_ops)
#define LS_OPEN		st_local_queue_open
#define LS_KIND		ST_KIND_QUEUE
#define LS_KIND_NAME	"queue"
#define LS_STORE	"jobs"

#include "local_store.h"

/* ------------------------------------------------------- the op switch */

static void
submit(struct req *r)
{
	switch (r->c->op) {
	case ST_OP_QUEUE_CREATE:
		OPS->create(r->c);
		break;
	case ST_OP_QUEUE_DELETE:
		OPS->destroy(r->c);
		break;
	case ST_OP_QUEUE_SEND:
		OPS->send(r->c);
		break;
	case ST_OP_QUEUE_RECEIVE:
		OPS->receive(r->c);
		break;
	case ST_OP_QUEUE_ACK:
		OPS->ack(r->c);
		break;
	case ST_OP_QUEUE_VISIBILITY:
		OPS->visibility(r->c);
		break;
	default:
		ck_abort_msg("not a queue op");
	}
}

/* ---------------------------------------------------------------- helpers */

static enum st_status
simple(void *s, enum st_op op, int *existed)
{
	enum st_status st;
	struct req r;

	req_new(&r, s, op);
	st = run(&r);
	if (existed != NULL)
		*existed = r.c->queue.existed;
	req_free(&r);
	return st;
}

/* Sends body; its new id into id (33 bytes) if not NULL. */
static enum st_status
send_msg(void *s, const char *body, unsigned delay, char *id)
{
	enum st_status st;
	struct req r;

	req_new(&r, s, ST_OP_QUEUE_SEND);
	r.c->queue.body = body;
	r.c->queue.bodylen = strlen(body);
	r.c->queue.delay = delay;
	st = run(&r);
	if (st == ST_OK) {
		ck_assert_ptr_nonnull(r.c->queue.id);
		ck_assert_uint_eq(strlen(r.c->queue.id), 32);
		ck_assert_uint_eq(strspn(r.c->queue.id, "0123456789abcdef"),
		    32);
		if (id != NULL)
			snprintf(id, 33, "%s", r.c->queue.id);
	}
	req_free(&r);
	return st;
}

static void
receive_new(struct req *r, void *s, unsigned max, unsigned visibility,
            unsigned wait)
{
	req_new(r, s, ST_OP_QUEUE_RECEIVE);
	r->c->queue.max = max;
	r->c->queue.visibility = visibility;
	r->c->queue.wait = wait;
}

/* A received message, copied out of its call. */
struct msg {
	char		 id[33];
	char		 receipt[64];
	char		 body[64];
	unsigned	 count;
	time_t		 enqueued_at;
};

/* The messages of a finished receive into out (at most cap). */
static size_t
got(struct req *r, struct msg *out, size_t cap)
{
	const struct st_call_message *m;
	size_t n, i;

	m = st_call_queue_messages(r->c, &n);
	ck_assert_uint_eq(n, st_call_queue_count(r->c));
	for (i = 0; i < n && i < cap; i++) {
		ck_assert_uint_lt(strlen(m[i].receipt), sizeof(out[i].receipt));
		snprintf(out[i].id, sizeof(out[i].id), "%s", m[i].id);
		snprintf(out[i].receipt, sizeof(out[i].receipt), "%s",
		    m[i].receipt);
		snprintf(out[i].body, sizeof(out[i].body), "%.*s",
		    (int)m[i].bodylen, m[i].body);
		out[i].count = m[i].dequeue_count;
		out[i].enqueued_at = m[i].enqueued_at;
	}
	return n;
}

/* Receives (no wait) into out; the count, or -1 when it failed. */
static long
receive(void *s, unsigned max, unsigned visibility, struct msg *out,
        size_t cap)
{
	struct req r;
	long n = -1;

	receive_new(&r, s, max, visibility, 0);
	if (run(&r) == ST_OK)
		n = (long)got(&r, out, cap);
	req_free(&r);
	return n;
}

static enum st_status
ack(void *s, const char *receipt)
{
	enum st_status st;
	struct req r;

	req_new(&r, s, ST_OP_QUEUE_ACK);
	r.c->queue.receipt = receipt;
	r.c->queue.receiptlen = strlen(receipt);
	st = run(&r);
	if (st != ST_OK)
		ck_assert_ptr_nonnull(r.c->message);
	req_free(&r);
	return st;
}

/* Changes the hidden time; the new receipt into out (64 bytes). */
static enum st_status
set_visibility(void *s, const char *receipt, unsigned visibility, char *out)
{
	enum st_status st;
	struct req r;

	req_new(&r, s, ST_OP_QUEUE_VISIBILITY);
	r.c->queue.receipt = receipt;
	r.c->queue.receiptlen = strlen(receipt);
	r.c->queue.visibility = visibility;
	st = run(&r);
	if (st == ST_OK) {
		ck_assert_ptr_nonnull(r.c->queue.new_receipt);
		ck_assert_str_ne(r.c->queue.new_receipt, receipt);
		if (out != NULL)
			snprintf(out, 64, "%s", r.c->queue.new_receipt);
	}
	req_free(&r);
	return st;
}

static void *
created_store(const char *extra)
{
	void *s = open_store(extra);

	ck_assert_int_eq(simple(s, ST_OP_QUEUE_CREATE, NULL), ST_OK);
	return s;
}

/* ---------------------------------------------------------------- cases */

START_TEST(settings)
{
	char err[256], path[512];
	struct stat st;
	void *s = NULL;

	/* An unknown setting, a bad fsync, no path: refused. */
	ck_assert_int_eq(open_conf("{ name = \"jobs\"; kind = \"queue\"; "
	    "provider = \"local\"; path = \"q\"; colour = 1; }", 0, &s, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(err, "colour"));
	ck_assert_int_eq(open_conf("{ name = \"jobs\"; kind = \"queue\"; "
	    "provider = \"local\"; path = \"q\"; fsync = 1; }", 0, &s, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(open_conf("{ name = \"jobs\"; kind = \"queue\"; "
	    "provider = \"local\"; }", 0, &s, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "path"));
	/* Checking a configuration creates nothing on disk, and such a
	 * store answers at once that it is not open. */
	ck_assert_int_eq(open_conf("{ name = \"jobs\"; kind = \"queue\"; "
	    "provider = \"local\"; path = \"q/r\"; fsync = false; "
	    "allow_anonymous = true; }", 1, &s, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(((struct local_kind *)s)->kind, ST_KIND_QUEUE);
	ck_assert_int_eq(simple(s, ST_OP_QUEUE_CREATE, NULL), ST_UNAVAILABLE);
	st_local_queue_close(s);
	snprintf(path, sizeof(path), "%s/q", tmpdir);
	ck_assert_int_eq(stat(path, &st), -1);
	/* A relative path is the configuration's; missing dirs are made. */
	s = NULL;
	ck_assert_int_eq(open_conf("{ name = \"jobs\"; kind = \"queue\"; "
	    "provider = \"local\"; path = \"q/r\"; }", 0, &s, err,
	    sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/q/r/queue.db", tmpdir);
	ck_assert_int_eq(stat(path, &st), 0);
	st_local_queue_close(s);
	/* A path that is a file. */
	s = NULL;
	ck_assert_int_eq(open_conf("{ name = \"jobs\"; kind = \"queue\"; "
	    "provider = \"local\"; path = \"q/r/queue.db\"; }", 0, &s, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(s);
}
END_TEST

START_TEST(existence)
{
	void *s = open_store("");
	struct msg m[1];
	char receipt[64];
	int existed = -1;

	/* Every op on a queue not created: not found. */
	ck_assert_int_eq(send_msg(s, "x", 0, NULL), ST_NOT_FOUND);
	ck_assert_int_eq(receive(s, 1, 30, m, 1), -1);
	ck_assert_int_eq(ack(s, "1.1"), ST_NOT_FOUND);
	ck_assert_int_eq(set_visibility(s, "1.1", 0, NULL), ST_NOT_FOUND);
	{
		struct req r;

		receive_new(&r, s, 1, 30, 5);	/* with a wait: at once */
		ck_assert_int_eq(run(&r), ST_NOT_FOUND);
		ck_assert_ptr_nonnull(strstr(r.c->message, "jobs"));
		req_free(&r);
	}
	/* Deleting a missing queue is fine. */
	ck_assert_int_eq(simple(s, ST_OP_QUEUE_DELETE, NULL), ST_OK);
	ck_assert_int_eq(simple(s, ST_OP_QUEUE_CREATE, &existed), ST_OK);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_eq(simple(s, ST_OP_QUEUE_CREATE, &existed), ST_OK);
	ck_assert_int_eq(existed, 1);
	ck_assert_int_eq(send_msg(s, "one", 0, NULL), ST_OK);
	ck_assert_int_eq(send_msg(s, "two", 0, NULL), ST_OK);
	ck_assert_int_eq(receive(s, 1, 30, m, 1), 1);
	snprintf(receipt, sizeof(receipt), "%s", m[0].receipt);
	/* Deleted: every message goes, and the queue with them. */
	ck_assert_int_eq(simple(s, ST_OP_QUEUE_DELETE, NULL), ST_OK);
	ck_assert_int_eq(send_msg(s, "x", 0, NULL), ST_NOT_FOUND);
	ck_assert_int_eq(receive(s, 1, 30, m, 1), -1);
	ck_assert_int_eq(ack(s, receipt), ST_NOT_FOUND);
	ck_assert_int_eq(simple(s, ST_OP_QUEUE_DELETE, NULL), ST_OK);
	/* Made again: empty, and an old receipt names nothing in it. */
	ck_assert_int_eq(simple(s, ST_OP_QUEUE_CREATE, &existed), ST_OK);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_eq(receive(s, 32, 30, m, 1), 0);
	ck_assert_int_eq(send_msg(s, "three", 0, NULL), ST_OK);
	ck_assert_int_eq(ack(s, receipt), ST_NOT_FOUND);
	ck_assert_int_eq(receive(s, 32, 30, m, 1), 1);
	ck_assert_str_eq(m[0].body, "three");
	st_local_queue_close(s);
}
END_TEST

START_TEST(send_receive_ack)
{
	void *s = created_store("");
	char id[33], ids[5][33], body[16];
	struct msg m[32];
	time_t before = time(NULL);
	int i;

	ck_assert_int_eq(send_msg(s, "hello", 0, id), ST_OK);
	ck_assert_int_eq(receive(s, 1, 30, m, 32), 1);
	ck_assert_str_eq(m[0].id, id);
	ck_assert_str_eq(m[0].body, "hello");
	ck_assert_uint_eq(m[0].count, 1);
	ck_assert_int_ge(m[0].enqueued_at, before);
	ck_assert_int_le(m[0].enqueued_at, time(NULL));
	/* Hidden now. */
	ck_assert_int_eq(receive(s, 32, 30, m + 1, 31), 0);
	ck_assert_int_eq(ack(s, m[0].receipt), ST_OK);
	ck_assert_int_eq(ack(s, m[0].receipt), ST_NOT_FOUND);
	/* Oldest first; max above what there is gives what there is. */
	for (i = 0; i < 5; i++) {
		snprintf(body, sizeof(body), "m%d", i);
		ck_assert_int_eq(send_msg(s, body, 0, ids[i]), ST_OK);
	}
	ck_assert_int_eq(receive(s, 3, 30, m, 32), 3);
	ck_assert_int_eq(receive(s, 32, 30, m + 3, 29), 2);
	for (i = 0; i < 5; i++) {
		snprintf(body, sizeof(body), "m%d", i);
		ck_assert_str_eq(m[i].body, body);
		ck_assert_str_eq(m[i].id, ids[i]);
		ck_assert_int_eq(ack(s, m[i].receipt), ST_OK);
	}
	ck_assert_int_eq(receive(s, 32, 30, m, 32), 0);
	/* A body is bytes: a NUL inside comes back. */
	{
		static const char bin[] = "a\0b";
		const struct st_call_message *cm;
		struct req r;
		size_t n;

		req_new(&r, s, ST_OP_QUEUE_SEND);
		r.c->queue.body = bin;
		r.c->queue.bodylen = 3;
		ck_assert_int_eq(run(&r), ST_OK);
		req_free(&r);
		receive_new(&r, s, 1, 30, 0);
		ck_assert_int_eq(run(&r), ST_OK);
		cm = st_call_queue_messages(r.c, &n);
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(cm[0].bodylen, 3);
		ck_assert_mem_eq(cm[0].body, bin, 3);
		req_free(&r);
	}
	st_local_queue_close(s);
}
END_TEST

/* Received and not acknowledged: back after its hidden time, counted. */
START_TEST(redelivery)
{
	void *s = created_store("");
	struct msg first[1], again[1], m[1];
	char id[33], moved[64];

	ck_assert_int_eq(send_msg(s, "work", 0, id), ST_OK);
	ck_assert_int_eq(send_msg(s, "kept", 0, NULL), ST_OK);
	ck_assert_int_eq(receive(s, 1, 1, first, 1), 1);
	ck_assert_str_eq(first[0].id, id);
	ck_assert_int_eq(receive(s, 1, 1, m, 1), 1);
	ck_assert_str_eq(m[0].body, "kept");
	/* "kept" is kept hidden longer; "work" runs out. */
	ck_assert_int_eq(set_visibility(s, m[0].receipt, 60, moved), ST_OK);
	ck_assert_int_eq(receive(s, 32, 1, again, 1), 0);
	usleep(1200 * 1000);
	ck_assert_int_eq(receive(s, 32, 30, again, 1), 1);
	ck_assert_str_eq(again[0].id, id);
	ck_assert_str_eq(again[0].body, "work");
	ck_assert_uint_eq(again[0].count, 2);
	ck_assert_int_eq(again[0].enqueued_at, first[0].enqueued_at);
	ck_assert_str_ne(again[0].receipt, first[0].receipt);
	/* The first receipt is stale now: 412, for ack and visibility. */
	ck_assert_int_eq(ack(s, first[0].receipt), ST_PRECONDITION);
	ck_assert_int_eq(set_visibility(s, first[0].receipt, 5, NULL),
	    ST_PRECONDITION);
	ck_assert_int_eq(ack(s, again[0].receipt), ST_OK);
	/* The receipt that a change of visibility replaced is stale too. */
	ck_assert_int_eq(ack(s, m[0].receipt), ST_PRECONDITION);
	ck_assert_int_eq(ack(s, moved), ST_OK);
	ck_assert_int_eq(receive(s, 32, 30, again, 1), 0);
	st_local_queue_close(s);
}
END_TEST

START_TEST(receipts)
{
	static const char *const bad[] = {
		"", "1", "1.", ".1", "a.1", "01.1", "1.01", "1.A", "1.0",
		"0.1", "-1.1", "+1.1", " 1.1", "1.1 ", "1.1.1", "1.0x1",
		"1. 1", "1.g", "99999999999999999999.1", "1.8000000000000000",
		"1.ffffffffffffffff", "1.10000000000000000",
	};
	void *s = created_store("");
	char receipt[64], seq[160], *dot, buf[4096];
	struct msg m[1];
	size_t i;

	ck_assert_int_eq(send_msg(s, "x", 0, NULL), ST_OK);
	ck_assert_int_eq(receive(s, 1, 30, m, 1), 1);
	snprintf(receipt, sizeof(receipt), "%s", m[0].receipt);
	/* Our format: SEQ.TOKEN, decimal and lower-case hex. */
	dot = strchr(receipt, '.');
	ck_assert_ptr_nonnull(dot);
	ck_assert_uint_eq(strspn(receipt, "0123456789"),
	    (size_t)(dot - receipt));
	ck_assert_uint_eq(strspn(dot + 1, "0123456789abcdef"), strlen(dot + 1));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(ack(s, bad[i]) == ST_NOT_FOUND, "receipt '%s'",
		    bad[i]);
	{
		struct req r;

		/* A NUL inside, by length. */
		req_new(&r, s, ST_OP_QUEUE_ACK);
		r.c->queue.receipt = "1.1\0" "1";
		r.c->queue.receiptlen = 5;
		ck_assert_int_eq(run(&r), ST_NOT_FOUND);
		req_free(&r);
		/* Longer than any of ours: not found; longer than any
		 * provider's: the core never sends it. */
		memset(buf, '1', sizeof(buf) - 1);
		buf[sizeof(buf) - 1] = '\0';
		buf[10] = '.';
		buf[ST_QUEUE_RECEIPT_MAX] = '\0';
		ck_assert_int_eq(ack(s, buf), ST_NOT_FOUND);
		buf[ST_QUEUE_RECEIPT_MAX] = '1';
		ck_assert_int_eq(ack(s, buf), ST_BAD_REQUEST);
	}
	/* A well-formed receipt of a message that never was. */
	snprintf(seq, sizeof(seq), "9999%s", dot);
	ck_assert_int_eq(ack(s, seq), ST_NOT_FOUND);
	/* The right message, another token: stale. */
	*dot = '\0';
	snprintf(seq, sizeof(seq), "%s.%s", receipt,
	    strcmp(dot + 1, "1") == 0 ? "2" : "1");
	*dot = '.';
	ck_assert_int_eq(ack(s, seq), ST_PRECONDITION);
	ck_assert_int_eq(ack(s, receipt), ST_OK);
	st_local_queue_close(s);
}
END_TEST

/* What the core never sends is refused at once. */
START_TEST(refused)
{
	void *s = created_store("");
	static char big[ST_QUEUE_BODY_MAX + 2];
	struct req r;

	memset(big, 'b', sizeof(big) - 1);
	req_new(&r, s, ST_OP_QUEUE_SEND);
	r.c->queue.body = big;
	r.c->queue.bodylen = ST_QUEUE_BODY_MAX + 1;
	ck_assert_int_eq(run(&r), ST_BAD_REQUEST);
	req_free(&r);
	req_new(&r, s, ST_OP_QUEUE_SEND);
	r.c->queue.body = big;
	r.c->queue.bodylen = ST_QUEUE_BODY_MAX;	/* the limit: fine */
	ck_assert_int_eq(run(&r), ST_OK);
	req_free(&r);
	ck_assert_int_eq(send_msg(s, "", 0, NULL), ST_BAD_REQUEST);
	ck_assert_int_eq(send_msg(s, "x", ST_QUEUE_DELAY_MAX + 1, NULL),
	    ST_BAD_REQUEST);
	receive_new(&r, s, 0, 30, 0);
	ck_assert_int_eq(run(&r), ST_BAD_REQUEST);
	req_free(&r);
	receive_new(&r, s, 33, 30, 0);
	ck_assert_int_eq(run(&r), ST_BAD_REQUEST);
	req_free(&r);
	receive_new(&r, s, 1, 0, 0);
	ck_assert_int_eq(run(&r), ST_BAD_REQUEST);
	req_free(&r);
	receive_new(&r, s, 1, 30, ST_QUEUE_WAIT_MAX + 1);
	ck_assert_int_eq(run(&r), ST_BAD_REQUEST);
	req_free(&r);
	ck_assert_int_eq(set_visibility(s, "1.1", ST_QUEUE_VISIBILITY_MAX + 1,
	    NULL), ST_BAD_REQUEST);
	req_new(&r, s, ST_OP_QUEUE_ACK);	/* no receipt at all */
	ck_assert_int_eq(run(&r), ST_BAD_REQUEST);
	req_free(&r);
	{
		struct msg m[1];

		ck_assert_int_eq(receive(s, 32, 30, m, 1), 1);
		ck_assert_int_eq(ack(s, m[0].receipt), ST_OK);
	}
	st_local_queue_close(s);
}
END_TEST

/* Visibility 0 shows a message at once; any other time hides it. */
START_TEST(visibility)
{
	void *s = created_store("");
	struct msg m[1], n[1];
	char r1[64], r2[64];

	ck_assert_int_eq(send_msg(s, "v", 0, NULL), ST_OK);
	ck_assert_int_eq(receive(s, 1, 600, m, 1), 1);
	ck_assert_int_eq(set_visibility(s, m[0].receipt, 0, r1), ST_OK);
	ck_assert_int_eq(receive(s, 1, 600, n, 1), 1);
	ck_assert_str_eq(n[0].id, m[0].id);
	ck_assert_uint_eq(n[0].count, 2);
	/* r1 was replaced by the receive. */
	ck_assert_int_eq(set_visibility(s, r1, 0, NULL), ST_PRECONDITION);
	ck_assert_int_eq(set_visibility(s, n[0].receipt, 600, r2), ST_OK);
	ck_assert_int_eq(receive(s, 1, 600, m, 1), 0);
	ck_assert_int_eq(set_visibility(s, r2, 43200, r1), ST_OK);
	ck_assert_int_eq(ack(s, r2), ST_PRECONDITION);
	ck_assert_int_eq(ack(s, r1), ST_OK);
	ck_assert_int_eq(set_visibility(s, r1, 0, NULL), ST_NOT_FOUND);
	st_local_queue_close(s);
}
END_TEST

/* A delayed message shows after its delay; a long poll is woken then. */
START_TEST(delay)
{
	void *s = created_store("");
	struct msg m[2];
	struct req r;
	double t0, took;

	ck_assert_int_eq(send_msg(s, "later", 1, NULL), ST_OK);
	ck_assert_int_eq(send_msg(s, "now", 0, NULL), ST_OK);
	ck_assert_int_eq(receive(s, 32, 30, m, 2), 1);
	ck_assert_str_eq(m[0].body, "now");
	t0 = now_s();
	receive_new(&r, s, 32, 30, 5);
	ck_assert_int_eq(run(&r), ST_OK);
	took = now_s() - t0;
	ck_assert_uint_eq(got(&r, m, 2), 1);
	ck_assert_str_eq(m[0].body, "later");
	ck_assert_uint_eq(m[0].count, 1);
	req_free(&r);
	ck_assert_msg(took > 0.5 && took < 2.5, "the delayed message came "
	    "after %.2f s", took);
	st_local_queue_close(s);
}
END_TEST

struct sender {
	void		*store;
	useconds_t	 after;
	const char	*body;
};

static void *
send_later(void *arg)
{
	struct sender *x = arg;

	usleep(x->after);
	ck_assert_int_eq(send_msg(x->store, x->body, 0, NULL), ST_OK);
	return NULL;
}

START_TEST(long_poll)
{
	void *s = created_store("");
	struct sender x = { s, 300 * 1000, "ping" };
	struct msg m[1];
	struct req r;
	pthread_t t;
	double t0, took;

	/* A message already there: answered at once. */
	ck_assert_int_eq(send_msg(s, "there", 0, NULL), ST_OK);
	t0 = now_s();
	receive_new(&r, s, 1, 30, 10);
	ck_assert_int_eq(run(&r), ST_OK);
	ck_assert_uint_eq(got(&r, m, 1), 1);
	req_free(&r);
	ck_assert_msg(now_s() - t0 < 1.0, "waited with a message there");
	/* None there: woken by a send from another thread. */
	t0 = now_s();
	receive_new(&r, s, 1, 30, 10);
	submit(&r);
	ck_assert_int_eq(pthread_create(&t, NULL, send_later, &x), 0);
	usleep(100 * 1000);
	ck_assert(!is_done(&r));
	ck_assert_int_eq(wait_req(&r), ST_OK);
	took = now_s() - t0;
	pthread_join(t, NULL);
	ck_assert_uint_eq(got(&r, m, 1), 1);
	ck_assert_str_eq(m[0].body, "ping");
	req_free(&r);
	ck_assert_msg(took >= 0.25 && took < 3.0, "woken after %.2f s", took);
	/* Nothing comes: ST_OK and no message at the deadline. */
	t0 = now_s();
	receive_new(&r, s, 1, 30, 1);
	ck_assert_int_eq(run(&r), ST_OK);
	took = now_s() - t0;
	ck_assert_uint_eq(st_call_queue_count(r.c), 0);
	req_free(&r);
	ck_assert_msg(took >= 0.9 && took < 3.0, "timed out after %.2f s",
	    took);
	/* The queue deleted under a waiter: it hears at once. */
	t0 = now_s();
	receive_new(&r, s, 1, 30, 10);
	submit(&r);
	usleep(100 * 1000);
	ck_assert_int_eq(simple(s, ST_OP_QUEUE_DELETE, NULL), ST_OK);
	ck_assert_int_eq(wait_req(&r), ST_NOT_FOUND);
	req_free(&r);
	ck_assert_msg(now_s() - t0 < 3.0, "a waiter on a deleted queue");
	st_local_queue_close(s);
}
END_TEST

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Waiters released before they are answered are never answered; 500 idle
 * waiters cost no CPU; a send serves one waiter, each message to one.
 */
START_TEST(release_waiting)
{
	enum { N = 500, SENT = 20 };
	static struct req w[N];
	static char seen[SENT][33];
	void *s = created_store("");
	struct req r;
	struct msg m[1];
	double cpu;
	int i, j, answered = 0, deadline;

	/* One released while it waits: a later send is not for it. */
	receive_new(&r, s, 1, 30, 10);
	submit(&r);
	usleep(50 * 1000);
	{
		struct waiter *hook = &r.w;

		st_call_free_with(r.c, OPS->release);
		r.c = NULL;
		ck_assert_int_eq(send_msg(s, "for the living", 0, NULL), ST_OK);
		ck_assert_int_eq(receive(s, 1, 30, m, 1), 1);
		ck_assert_int_eq(hook->calls, 0);
		pthread_cond_destroy(&hook->cv);
		pthread_mutex_destroy(&hook->m);
	}
	ck_assert_int_eq(ack(s, m[0].receipt), ST_OK);

	for (i = 0; i < N; i++) {
		receive_new(&w[i], s, 1, 30, ST_QUEUE_WAIT_MAX);
		submit(&w[i]);
	}
	usleep(200 * 1000);	/* all of them waiting */
	cpu = cpu_s();
	usleep(1000 * 1000);
	cpu = cpu_s() - cpu;
	printf("# %d idle waiters: %.3f s of CPU in 1 s\n", N, cpu);
	ck_assert_msg(cpu < 0.25, "%d idle waiters took %.3f s of CPU in "
	    "1 s", N, cpu);
	for (i = 0; i < SENT; i++)
		ck_assert_int_eq(send_msg(s, "wake", 0, seen[i]), ST_OK);
	/* Each message to exactly one waiter; the others wait on. */
	for (deadline = 0; deadline < 300 && answered < SENT; deadline++) {
		usleep(10 * 1000);
		for (i = 0, answered = 0; i < N; i++)
			answered += is_done(&w[i]);
	}
	ck_assert_int_eq(answered, SENT);
	for (i = 0; i < N; i++) {
		if (!is_done(&w[i]))
			continue;
		ck_assert_int_eq(w[i].c->status, ST_OK);
		ck_assert_uint_eq(got(&w[i], m, 1), 1);
		for (j = 0; j < SENT; j++)
			if (strcmp(seen[j], m[0].id) == 0)
				break;
		ck_assert_int_lt(j, SENT);
		seen[j][0] = '\0';	/* not twice */
	}
	/* The app leaves: every waiter still waiting is released. */
	for (i = 0; i < N; i++) {
		int was = is_done(&w[i]);

		req_free(&w[i]);
		ck_assert_int_eq(w[i].w.calls, was);
	}
	ck_assert_int_eq(receive(s, 32, 30, m, 1), 0);
	st_local_queue_close(s);
}
END_TEST

/* Calls released while in line, being run, or answered: the store never
 * touches them afterwards (ASan would see it), answered ones once. */
START_TEST(release_any_time)
{
	enum { N = 400 };
	static struct req reqs[N];
	void *s = created_store("");
	int i, answered = 0;

	for (i = 0; i < N; i++) {
		if (i % 2) {
			receive_new(&reqs[i], s, 2, 30, i % 4 == 1 ? 1 : 0);
		} else {
			req_new(&reqs[i], s, ST_OP_QUEUE_SEND);
			reqs[i].c->queue.body = "r";
			reqs[i].c->queue.bodylen = 1;
		}
		submit(&reqs[i]);
		if (i % 3 == 0)
			req_free(&reqs[i]);	/* the app went away */
	}
	for (i = 0; i < N; i++) {
		if (reqs[i].c == NULL)
			continue;
		wait_req(&reqs[i]);
		ck_assert_int_eq(reqs[i].w.calls, 1);
		ck_assert_int_eq(reqs[i].c->status, ST_OK);
		answered++;
		req_free(&reqs[i]);
	}
	ck_assert_int_eq(answered, N - (N + 2) / 3);
	st_local_queue_close(s);
}
END_TEST

/* Close fails what is still waiting rather than losing it. */
START_TEST(close_with_waiters)
{
	void *s = created_store("");
	struct req r;

	receive_new(&r, s, 1, 30, 20);
	submit(&r);
	usleep(50 * 1000);
	st_local_queue_close(s);
	ck_assert(is_done(&r));
	ck_assert_int_eq(r.c->status, ST_UNAVAILABLE);
	/* The core never releases after the store is gone; the call is
	 * freed without the store's release. */
	st_call_free_with(r.c, NULL);
	pthread_cond_destroy(&r.w.cv);
	pthread_mutex_destroy(&r.w.m);
}
END_TEST

START_TEST(durability)
{
	void *s = created_store("");
	struct msg hidden[1], m[4];
	char ids[3][33];
	int existed = 0;

	ck_assert_int_eq(send_msg(s, "a", 0, ids[0]), ST_OK);
	ck_assert_int_eq(send_msg(s, "b", 0, ids[1]), ST_OK);
	ck_assert_int_eq(send_msg(s, "c", 0, ids[2]), ST_OK);
	ck_assert_int_eq(receive(s, 1, 600, hidden, 1), 1);
	ck_assert_str_eq(hidden[0].id, ids[0]);
	st_local_queue_close(s);

	s = open_store("");
	ck_assert_int_eq(simple(s, ST_OP_QUEUE_CREATE, &existed), ST_OK);
	ck_assert_int_eq(existed, 1);
	/* "a" is still hidden; "b" and "c" are there, in order. */
	ck_assert_int_eq(receive(s, 32, 600, m, 4), 2);
	ck_assert_str_eq(m[0].id, ids[1]);
	ck_assert_str_eq(m[1].id, ids[2]);
	ck_assert_str_eq(m[1].body, "c");
	/* The receipt from before the restart still holds. */
	ck_assert_int_eq(set_visibility(s, hidden[0].receipt, 0, NULL), ST_OK);
	ck_assert_int_eq(receive(s, 32, 600, m + 2, 2), 1);
	ck_assert_str_eq(m[2].id, ids[0]);
	ck_assert_uint_eq(m[2].count, 2);
	ck_assert_int_eq(m[2].enqueued_at, hidden[0].enqueued_at);
	st_local_queue_close(s);
}
END_TEST

/* ---------------------------------------------------------------- many */

#define SENDERS		8
#define EACH		500

struct crowd {
	void		*store;
	atomic_int	 errors;
	/* receivers */
	pthread_mutex_t	 m;
	char		 (*ids)[33];
	int		 nids;
	char		 (*receipts)[64];
	struct req	 acks[SENDERS * EACH];
};

static void *
sender(void *arg)
{
	struct crowd *c = arg;
	char body[32];
	int i;

	for (i = 0; i < EACH; i++) {
		snprintf(body, sizeof(body), "%lx-%d",
		    (unsigned long)pthread_self(), i);
		if (send_msg(c->store, body, 0, NULL) != ST_OK)
			atomic_fetch_add(&c->errors, 1);
	}
	return NULL;
}

static void *
receiver(void *arg)
{
	struct crowd *c = arg;
	struct msg m[32];
	long n, i;

	while ((n = receive(c->store, 32, 600, m, 32)) > 0) {
		pthread_mutex_lock(&c->m);
		for (i = 0; i < n && c->nids < SENDERS * EACH + 64; i++) {
			memcpy(c->ids[c->nids], m[i].id, 33);
			memcpy(c->receipts[c->nids], m[i].receipt, 64);
			c->nids++;
		}
		pthread_mutex_unlock(&c->m);
	}
	if (n < 0)
		atomic_fetch_add(&c->errors, 1);
	return NULL;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

START_TEST(concurrency)
{
	static struct crowd c;
	pthread_t t[SENDERS];
	double t0, took;
	int i;

	memset(&c, 0, sizeof(c));
	c.store = created_store("");
	pthread_mutex_init(&c.m, NULL);
	c.ids = calloc(SENDERS * EACH + 64, sizeof(*c.ids));
	c.receipts = calloc(SENDERS * EACH + 64, sizeof(*c.receipts));
	ck_assert(c.ids != NULL && c.receipts != NULL);
	t0 = now_s();
	for (i = 0; i < SENDERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, sender, &c), 0);
	for (i = 0; i < SENDERS; i++)
		pthread_join(t[i], NULL);
	took = now_s() - t0;
	printf("# %d senders x %d: %.2f s, %.0f durable sends/s\n", SENDERS,
	    EACH, took, SENDERS * EACH / took);
	ck_assert_int_eq(atomic_load(&c.errors), 0);
	/* Receivers race for them: each message to exactly one. */
	for (i = 0; i < SENDERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, receiver, &c), 0);
	for (i = 0; i < SENDERS; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(atomic_load(&c.errors), 0);
	ck_assert_int_eq(c.nids, SENDERS * EACH);
	qsort(c.ids, (size_t)c.nids, sizeof(*c.ids), by_id);
	for (i = 1; i < c.nids; i++)
		ck_assert_msg(strcmp(c.ids[i - 1], c.ids[i]) != 0,
		    "message %s given twice", c.ids[i]);
	/* All acknowledged at once: they share commits. */
	for (i = 0; i < c.nids; i++) {
		req_new(&c.acks[i], c.store, ST_OP_QUEUE_ACK);
		c.acks[i].c->queue.receipt = c.receipts[i];
		c.acks[i].c->queue.receiptlen = strlen(c.receipts[i]);
		submit(&c.acks[i]);
	}
	for (i = 0; i < c.nids; i++) {
		ck_assert_int_eq(wait_req(&c.acks[i]), ST_OK);
		req_free(&c.acks[i]);
	}
	{
		struct msg m[1];

		ck_assert_int_eq(receive(c.store, 32, 30, m, 1), 0);
	}
	free(c.ids);
	free(c.receipts);
	pthread_mutex_destroy(&c.m);
	st_local_queue_close(c.store);
}
END_TEST

/* ---------------------------------------------------------------- speed */

#define CLIENTS 32

struct bench {
	void		*store;
	int		 sends;
	pthread_barrier_t go;
	atomic_int	 stop;
	atomic_long	 ops;
	atomic_int	 errors;
};

static void *
client(void *arg)
{
	struct bench *b = arg;
	struct msg m[1];
	long n = 0, got_one;

	pthread_barrier_wait(&b->go);
	while (!atomic_load(&b->stop)) {
		if (b->sends) {
			if (send_msg(b->store, "payload of a typical message",
			    0, NULL) != ST_OK)
				atomic_fetch_add(&b->errors, 1);
			n++;
			continue;
		}
		/* One receive and its ack. */
		if ((got_one = receive(b->store, 1, 60, m, 1)) < 0)
			atomic_fetch_add(&b->errors, 1);
		if (got_one <= 0)
			break;		/* drained */
		if (ack(b->store, m[0].receipt) != ST_OK)
			atomic_fetch_add(&b->errors, 1);
		n++;
	}
	atomic_fetch_add(&b->ops, n);
	return NULL;
}

static double
measure(struct bench *b, int sends, double seconds)
{
	pthread_t t[CLIENTS];
	double t0, t1;
	int i;

	b->sends = sends;
	pthread_barrier_init(&b->go, NULL, CLIENTS + 1);
	atomic_store(&b->stop, 0);
	atomic_store(&b->ops, 0);
	for (i = 0; i < CLIENTS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, client, b), 0);
	pthread_barrier_wait(&b->go);
	t0 = now_s();
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&b->stop, 1);
	for (i = 0; i < CLIENTS; i++)
		pthread_join(t[i], NULL);
	t1 = now_s();
	pthread_barrier_destroy(&b->go);
	return (double)atomic_load(&b->ops) / (t1 - t0);
}

START_TEST(throughput)
{
	static struct bench b;
	double sends, pairs;

	memset(&b, 0, sizeof(b));
	b.store = created_store("");	/* fsync on: durable sends */
	sends = measure(&b, 1, 1.5);
	pairs = measure(&b, 0, 1.0);
	ck_assert_int_eq(atomic_load(&b.errors), 0);
	printf("# throughput, %d clients, fsync on (sanitizer builds are "
	    "slower): %.0f sends/s, %.0f receive+ack/s\n", CLIENTS, sends,
	    pairs);
	st_local_queue_close(b.store);
}
END_TEST

static Suite *
local_queue_suite(void)
{
	Suite *s = suite_create("local_queue");
	TCase *tc = tcase_create("local_queue");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, settings);
	tcase_add_test(tc, existence);
	tcase_add_test(tc, send_receive_ack);
	tcase_add_test(tc, redelivery);
	tcase_add_test(tc, receipts);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, visibility);
	tcase_add_test(tc, delay);
	tcase_add_test(tc, long_poll);
	tcase_add_test(tc, release_waiting);
	tcase_add_test(tc, release_any_time);
	tcase_add_test(tc, close_with_waiters);
	tcase_add_test(tc, durability);
	tcase_add_test(tc, concurrency);
	tcase_add_test(tc, throughput);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(local_queue_suite)
