/*
 * test_core.c - the pieces of the call engine that decide without a
 * network: what is retried and after how long (retry.c), the retry budget
 * and circuit breaker (guard.c), the parts of a multipart upload
 * (parts.c) and the way a PUT's body goes (upload.c), and the pipe between
 * an exchange and the application with its backpressure (stream.c; no
 * exchange here, so "resume" is only seen as the paused flag clearing).
 * The exchanges themselves are tested in test_pcall.c and test_transfer.c
 * against a local server.
 */
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/budget.h"
#include "core/call.h"
#include "core/guard.h"
#include "core/parts.h"
#include "core/retry.h"
#include "core/stream.h"
#include "core/upload.h"
#include "unit.h"

/* ---------------------------------------------------------------- retry */

static const struct retry_case {
	long		 status;	/* 0: no answer */
	int		 curl_code;
	const char	*code;
	int		 retryable;
	const char	*reason;
} retry_cases[] = {
	{ 0, CURLE_COULDNT_CONNECT, NULL, 1, "connection" },
	{ 0, CURLE_OPERATION_TIMEDOUT, NULL, 1, "timeout" },
	{ 408, 0, NULL, 1, "timeout" },
	{ 429, 0, NULL, 1, "throttled" },
	{ 500, 0, NULL, 1, "server_error" },
	{ 502, 0, NULL, 1, "server_error" },
	{ 503, 0, "SlowDown", 1, "throttled" },
	{ 504, 0, NULL, 1, "timeout" },
	{ 400, 0, "ThrottlingException", 1, "throttled" },
	{ 400, 0, "InvalidArgument", 0, NULL },
	{ 403, 0, "AuthenticationFailed", 0, NULL },
	{ 404, 0, NULL, 0, NULL },
	{ 409, 0, NULL, 0, NULL },
	{ 412, 0, NULL, 0, NULL },
	{ 501, 0, NULL, 0, NULL },
};

START_TEST(retry_what)
{
	const struct retry_case *t = &retry_cases[_i];

	ck_assert_msg(st_retry_retryable(t->status, t->curl_code, t->code) ==
	    t->retryable, "%ld %s: retryable should be %d", t->status,
	    t->code ? t->code : "", t->retryable);
	if (t->reason != NULL)
		ck_assert_str_eq(st_retry_reason(t->status, t->curl_code,
		    t->curl_code == CURLE_OPERATION_TIMEDOUT, t->code), t->reason);
}
END_TEST

START_TEST(retry_delays)
{
	struct st_retry_policy p;
	unsigned attempt, i, d;

	st_retry_defaults(&p);
	p.base_delay_ms = 100;
	p.max_delay_ms = 1000;
	/* full jitter under an exponential cap that stops at the maximum */
	for (attempt = 2; attempt < 12; attempt++)
		for (i = 0; i < 200; i++) {
			d = st_retry_delay(&p, attempt, 0);
			ck_assert_uint_le(d, p.max_delay_ms);
			if (attempt == 2)
				ck_assert_uint_le(d, 2 * p.base_delay_ms);
		}
	/* the provider asked for longer: its wait wins, up to the maximum */
	ck_assert_uint_eq(st_retry_delay(&p, 2, 600), 600);
	ck_assert_uint_eq(st_retry_delay(&p, 2, 5000), p.max_delay_ms);
	ck_assert_uint_eq(st_retry_after_ms("3", NULL, NULL), 3000);
	ck_assert_uint_eq(st_retry_after_ms(NULL, "250", NULL), 250);
	ck_assert_uint_eq(st_retry_after_ms(NULL, NULL, "40"), 40);
	ck_assert_uint_eq(st_retry_after_ms("soon", NULL, NULL), 0);
	ck_assert_uint_eq(st_retry_after_ms(NULL, NULL, NULL), 0);
}
END_TEST

/* ---------------------------------------------------------------- guard */

START_TEST(breaker_opens_probes_and_closes)
{
	struct st_retry_policy p;
	struct st_guard *g;
	unsigned after = 0, i;

	st_retry_defaults(&p);
	p.breaker_failures = 3;
	p.breaker_open_ms = 1000;	/* room for a slow, loaded machine */
	g = st_guard_open("breaker", "http://breaker-endpoint", &p);
	ck_assert_ptr_nonnull(g);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(st_guard_admit(g, &after), 0);
		st_guard_outcome(g, 0, 0);
	}
	/* a healthy answer, even a "no", resets the count */
	ck_assert_int_eq(st_guard_admit(g, &after), 0);
	st_guard_outcome(g, 1, 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(st_guard_admit(g, &after), 0);
		st_guard_outcome(g, 0, 0);
	}
	/* open: calls fail at once, told when to come back */
	ck_assert_int_eq(st_guard_admit(g, &after), -1);
	ck_assert_uint_eq(after, 1);
	usleep(1100 * 1000);
	/* half open: one probe goes, the others wait for it */
	ck_assert_int_eq(st_guard_admit(g, &after), 0);
	ck_assert_int_eq(st_guard_admit(g, &after), -1);
	/* a failed probe opens it again at once */
	st_guard_outcome(g, 0, 0);
	ck_assert_int_eq(st_guard_admit(g, &after), -1);
	usleep(1100 * 1000);
	ck_assert_int_eq(st_guard_admit(g, &after), 0);
	st_guard_outcome(g, 1, 0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(st_guard_admit(g, &after), 0);
	st_guard_close(g);
}
END_TEST

START_TEST(breaker_lost_probe_expires)
{
	struct st_retry_policy p;
	struct st_guard *g;
	unsigned after = 0;

	st_retry_defaults(&p);
	p.breaker_failures = 1;
	p.breaker_open_ms = 1000;
	g = st_guard_open("lostprobe", "http://lostprobe-endpoint", &p);
	st_guard_outcome(g, 0, 0);
	usleep(1100 * 1000);
	ck_assert_int_eq(st_guard_admit(g, &after), 0);	/* the probe... */
	ck_assert_int_eq(st_guard_admit(g, &after), -1);
	usleep(1100 * 1000);				/* ...never reports */
	ck_assert_int_eq(st_guard_admit(g, &after), 0);
	st_guard_close(g);
}
END_TEST

/* The endpoint's budget: retries stop when it is spent, whichever store
 * spent it, and successes pay it back. */
START_TEST(retry_budget_shared_by_endpoint)
{
	struct st_retry_policy p;
	struct st_guard *a, *b;
	unsigned n = 0;

	st_retry_defaults(&p);
	p.breaker_failures = 0;
	a = st_guard_open("budget-a", "http://budget-endpoint", &p);
	b = st_guard_open("budget-b", "http://budget-endpoint", &p);
	while (st_guard_retry(a, "server_error", 0) == 0)
		n++;
	ck_assert_uint_gt(n, 10);
	ck_assert_uint_lt(n, 1000);
	ck_assert_int_eq(st_guard_retry(b, "server_error", 0), -1);
	st_guard_outcome(b, 1, 1);		/* a retried success */
	ck_assert_int_eq(st_guard_retry(a, "server_error", 0), 0);
	ck_assert_int_eq(st_guard_retry(a, "server_error", 0), -1);
	/* a timeout costs more than one retry's worth */
	st_guard_outcome(b, 1, 1);
	ck_assert_int_eq(st_guard_retry(a, "timeout", 0), -1);
	st_guard_close(a);
	st_guard_close(b);
}
END_TEST

/* ---------------------------------------------------------------- parts */

static const struct { uint64_t size, length; unsigned most; uint64_t want; }
part_size_cases[] = {
	{ 8 << 20, 100 << 20, 10000, 8 << 20 },		/* fits */
	{ 8 << 20, 0, 10000, 8 << 20 },
	/* 100 GiB in at most 10000 parts: 10.24 MiB, rounded up to 11 MiB */
	{ 8 << 20, 100ULL << 30, 10000, 11 << 20 },
	/* 5 TiB in 50000 blocks (Azure): 104.86 MiB -> 105 MiB */
	{ 4 << 20, 5ULL << 40, 50000, 105 << 20 },
	{ 5 << 20, 5 << 20, 1, 5 << 20 },
	{ 5 << 20, (5 << 20) + 1, 1, 6 << 20 },
};

START_TEST(part_size)
{
	ck_assert_uint_eq(st_parts_size(part_size_cases[_i].size,
	    part_size_cases[_i].length, part_size_cases[_i].most),
	    part_size_cases[_i].want);
}
END_TEST

/* Held up to a part (and the threshold), streamed up to the threshold,
 * in parts beyond it or when the length is not known. */
static const struct put_way_case {
	int64_t		 length;
	uint64_t	 part_size, threshold;
	enum st_put_way	 want;
} put_way_cases[] = {
	{ 0, 8, 16, ST_PUT_HELD },
	{ 8, 8, 16, ST_PUT_HELD },
	{ 9, 8, 16, ST_PUT_STREAM },
	{ 16, 8, 16, ST_PUT_STREAM },
	{ 17, 8, 16, ST_PUT_PARTS },
	{ -1, 8, 16, ST_PUT_PARTS },
	{ 4, 8, 2, ST_PUT_PARTS },	/* a threshold below a part */
	{ 2, 8, 2, ST_PUT_HELD },
	{ 0, 8, 0, ST_PUT_HELD },
};

START_TEST(put_way)
{
	const struct put_way_case *t = &put_way_cases[_i];
	struct st_call c;

	memset(&c, 0, sizeof(c));
	c.content_length = t->length;
	ck_assert_int_eq(st_put_way(&c, t->part_size, t->threshold), t->want);
}
END_TEST

START_TEST(parts_fill_in_order)
{
	static struct st_budget b = ST_BUDGET_INIT(1 << 20);
	struct st_parts ps;
	struct st_part *p;
	const char *body = "abcdefghij";
	size_t off = 0, n;
	unsigned i;

	memset(&ps, 0, sizeof(ps));
	/* 10 bytes into parts of 4: 4, 4 and the last 2 at the end */
	while (off < 10) {
		if (ps.filling == NULL)
			st_parts_add(&ps, st_part_new(NULL, 4));
		n = st_parts_fill(&ps, body + off, 10 - off);
		ck_assert_uint_gt(n, 0);
		off += n;
	}
	ck_assert_uint_eq(ps.count, 3);
	ck_assert_uint_eq(ps.total, 10);
	ck_assert_uint_eq(st_parts_waiting(&ps), 2);	/* the third fills */
	ck_assert_int_eq(st_parts_end(&ps), 1);
	ck_assert_int_eq(st_parts_end(&ps), 0);
	ck_assert_uint_eq(st_parts_waiting(&ps), 3);
	ck_assert_ptr_eq(st_parts_next(&ps), st_parts_find(&ps, 1));
	for (i = 1; i <= 3; i++) {
		p = st_parts_find(&ps, i);
		ck_assert_uint_eq(p->number, i);
		ck_assert_int_eq(p->state, ST_PART_QUEUED);
		ck_assert_uint_eq(p->len, i < 3 ? 4 : 2);
		ck_assert_int_eq(memcmp(p->data, body + 4 * (i - 1), p->len), 0);
	}
	ck_assert_ptr_null(st_parts_find(&ps, 4));
	/* the lowest queued number goes first, whatever the order of the
	 * others' answers */
	st_parts_find(&ps, 1)->state = ST_PART_DONE;
	ck_assert_ptr_eq(st_parts_next(&ps), st_parts_find(&ps, 2));
	ck_assert_int_eq(st_parts_all_done(&ps), 0);
	st_parts_find(&ps, 2)->state = ST_PART_DONE;
	st_parts_find(&ps, 3)->state = ST_PART_DONE;
	ck_assert_ptr_null(st_parts_next(&ps));
	ck_assert_int_eq(st_parts_all_done(&ps), 1);
	/* the memory of the parts goes back to the budget */
	b.used = 12;
	st_parts_free(&ps, &b);
	ck_assert_uint_eq(b.used, 0);
	ck_assert_uint_eq(ps.count, 0);
}
END_TEST

/* ---------------------------------------------------------------- stream */

static int wakes;

static void
count_wake(struct st_call *c, void *ctx)
{
	(void)c;
	(void)ctx;
	wakes++;
}

static struct st_call *
waking_call(void)
{
	struct st_call_hooks h = { NULL, count_wake, NULL };

	wakes = 0;
	return st_call_new(ST_OP_GET, &h);
}

static const struct { const char *length; size_t want; } pipe_cases[] = {
	{ NULL, 65536 },
	{ "", 65536 },
	{ "abc", 65536 },
	{ "-1", 65536 },
	{ "0", 4096 },
	{ "1", 4096 },
	{ "4097", 8192 },
	{ "65535", 65536 },
	{ "65536", 65536 },
	{ "99999999999999999999999", 65536 },
	{ "12 ", 65536 },
};

START_TEST(stream_pipe_size)
{
	ck_assert_uint_eq(st_stream_pipe_size(pipe_cases[_i].length, 65536),
	    pipe_cases[_i].want);
}
END_TEST

/* A download: the exchange pauses when the pipe is full and may go on
 * once the application has read half of it; the end is seen after the
 * last byte. */
START_TEST(stream_download_backpressure)
{
	struct st_call *c = waking_call();
	struct st_stream st;
	char piece[4096], out[8192];

	memset(piece, 'd', sizeof(piece));
	st_stream_init(&st, c, NULL);
	ck_assert_int_eq(st_stream_read(&st, out, sizeof(out)), ST_ERROR);
	ck_assert_int_eq(st_stream_open(&st, 8192), 0);
	ck_assert_int_eq(st_stream_read(&st, out, sizeof(out)), 0);
	ck_assert_uint_eq(st_stream_recv(&st, piece, 4096), 4096);
	ck_assert_uint_eq(st_stream_recv(&st, piece, 4096), 4096);
	ck_assert_int_eq(wakes, 2);
	ck_assert_uint_eq(st_stream_recv(&st, piece, 10), 0);	/* full */
	ck_assert_int_eq(st.paused, 1);
	ck_assert_int_eq(st_stream_read(&st, out, 1000), 1000);
	ck_assert_int_eq(st.paused, 1);		/* not half empty yet */
	ck_assert_int_eq(st_stream_read(&st, out, 4000), 4000);
	ck_assert_int_eq(st.paused, 0);		/* now it may go on */
	ck_assert_uint_eq(st_stream_recv(&st, piece, 10), 10);
	st_stream_end(&st, 0);
	ck_assert_int_eq(st_stream_read(&st, out, sizeof(out)), 3192 + 10);
	ck_assert_int_eq(st_stream_read(&st, out, sizeof(out)), ST_EOF);
	ck_assert_uint_eq(st.received, 8202);
	st_stream_destroy(&st);
	st_call_free(c, NULL);
}
END_TEST

START_TEST(stream_download_edges)
{
	struct st_call *c = waking_call();
	struct st_stream st;
	static char big[20000], out[20000];

	/* a piece larger than the whole pipe grows it instead of waiting
	 * for room that never comes */
	st_stream_init(&st, c, NULL);
	ck_assert_int_eq(st_stream_open(&st, 4096), 0);
	ck_assert_uint_eq(st_stream_recv(&st, big, sizeof(big)), sizeof(big));
	ck_assert_int_eq(st_stream_read(&st, out, sizeof(out)), sizeof(big));
	/* a broken end is an error for the reader */
	st_stream_end(&st, 1);
	ck_assert_int_eq(st_stream_read(&st, out, sizeof(out)), ST_ERROR);
	st_stream_destroy(&st);

	/* answered without it: nothing is taken, the exchange waits for
	 * its cancel */
	st_stream_init(&st, c, NULL);
	ck_assert_int_eq(st_stream_open(&st, 4096), 0);
	st_stream_discard(&st);
	ck_assert_int_eq(st_stream_dropped(&st), 1);
	ck_assert_uint_eq(st_stream_recv(&st, big, 10), 0);
	st_stream_destroy(&st);

	/* the application left: what comes is swallowed */
	st_stream_init(&st, c, NULL);
	ck_assert_int_eq(st_stream_open(&st, 4096), 0);
	st_stream_leave(&st);
	ck_assert_int_eq(st_stream_dropped(&st), 1);
	ck_assert_uint_eq(st_stream_recv(&st, big, 10000), 10000);
	ck_assert_uint_eq(st.received, 0);
	st_stream_destroy(&st);
	st_call_free(c, NULL);
}
END_TEST

/* An upload: the application is told "full" and woken when the exchange
 * has taken bytes; the exchange pauses when the pipe is empty and goes on
 * at a batch, or at the end of the body. */
START_TEST(stream_upload_backpressure)
{
	struct st_call *c = waking_call();
	struct st_stream st;
	static char in[300000], out[300000];
	size_t got = 0, n;

	memset(in, 'u', sizeof(in));
	st_stream_init(&st, c, NULL);
	ck_assert_int_eq(st_stream_open(&st, 256 * 1024), 0);
	ck_assert_uint_eq(st_stream_send(&st, out, 100), 0);	/* empty */
	ck_assert_int_eq(st.paused, 1);
	ck_assert_int_eq(st_stream_write(&st, in, 1000), 1000);
	ck_assert_int_eq(st.paused, 1);		/* less than a batch */
	ck_assert_int_eq(st_stream_write(&st, in, sizeof(in)),
	    256 * 1024 - 1000);			/* the rest does not fit */
	ck_assert_int_eq(st.paused, 0);
	ck_assert_int_eq(st_stream_write(&st, in, 10), 0);	/* full */
	wakes = 0;
	n = st_stream_send(&st, out, 100000);
	ck_assert_uint_eq(n, 100000);
	ck_assert_int_eq(wakes, 1);		/* room for the application */
	got += n;
	st_stream_close(&st);
	while ((n = st_stream_send(&st, out, sizeof(out))) > 0)
		got += n;
	ck_assert_uint_eq(got, 256 * 1024);
	ck_assert_uint_eq(st.sent, 256 * 1024);
	st_stream_destroy(&st);
	st_call_free(c, NULL);
}
END_TEST

static Suite *
core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, retry_what, 0,
	    sizeof(retry_cases) / sizeof(retry_cases[0]));
	tcase_add_test(tc, retry_delays);
	tcase_add_test(tc, breaker_opens_probes_and_closes);
	tcase_add_test(tc, breaker_lost_probe_expires);
	tcase_add_test(tc, retry_budget_shared_by_endpoint);
	tcase_add_loop_test(tc, part_size, 0,
	    sizeof(part_size_cases) / sizeof(part_size_cases[0]));
	tcase_add_test(tc, parts_fill_in_order);
	tcase_add_loop_test(tc, put_way, 0,
	    sizeof(put_way_cases) / sizeof(put_way_cases[0]));
	tcase_add_loop_test(tc, stream_pipe_size, 0,
	    sizeof(pipe_cases) / sizeof(pipe_cases[0]));
	tcase_add_test(tc, stream_download_backpressure);
	tcase_add_test(tc, stream_download_edges);
	tcase_add_test(tc, stream_upload_backpressure);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(core_suite)
