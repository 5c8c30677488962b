/*
 * test_pcall.c - the provider-call engine against a scripted in-process
 * provider: what is retried and what is not (idempotent or not), that
 * every attempt is signed afresh, error codes read from JSON bodies and
 * headers and mapped through a service's table, the bound on an answer,
 * a long poll's longer timeout, a call's own stall timeout, a 200 that
 * carries an error (retried), a streamed body (not sent twice), an answer
 * to a sink (retried whole), and the circuit breaker's refusal.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/call.h"
#include "core/guard.h"
#include "core/pcall.h"
#include "core/transfer.h"
#include "unit.h"

/* ---------------------------------------------------------------- provider */

static struct MHD_Daemon *server;
static unsigned port;
static atomic_int hits_flaky, hits_500, hits_throttle, hits_sign, hits_okerr;
static atomic_int hits_late;

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned status, const char *body,
       const char *hname, const char *hvalue)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body),
	    (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (hname != NULL)
		MHD_add_response_header(r, hname, hvalue);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
provider(void *cls, struct MHD_Connection *c, const char *url,
         const char *method, const char *version, const char *data,
         size_t *size, void **state)
{
	char buf[128];
	const char *h;

	(void)cls;
	(void)method;
	(void)version;
	(void)data;
	if (*state == NULL) {
		*state = (void *)1;
		return MHD_YES;
	}
	if (*size > 0) {
		*size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/ok") == 0)
		return answer(c, 200, "{\"x\":1}", NULL, NULL);
	if (strcmp(url, "/flaky") == 0)
		return ++hits_flaky <= 2 ? answer(c, 503, "busy", NULL, NULL) :
		    answer(c, 200, "fine", NULL, NULL);
	if (strcmp(url, "/500") == 0) {
		hits_500++;
		return answer(c, 500, "{}", NULL, NULL);
	}
	if (strcmp(url, "/throttle") == 0)
		return ++hits_throttle <= 1 ? answer(c, 400, "{\"__type\":"
		    "\"com.amazonaws.sqs#ThrottlingException\"}", NULL, NULL) :
		    answer(c, 200, "sent", NULL, NULL);
	if (strcmp(url, "/missing") == 0)
		return answer(c, 400, "{\"__type\":\"com.amazonaws.sqs#"
		    "QueueDoesNotExist\",\"message\":\"no\"}", NULL, NULL);
	if (strcmp(url, "/header-code") == 0)
		return answer(c, 409, "<x/>", "x-test-code", "Busy");
	if (strcmp(url, "/big") == 0) {
		static char big[8192];

		memset(big, 'b', sizeof(big) - 1);
		return answer(c, 200, big, NULL, NULL);
	}
	if (strcmp(url, "/ok-error") == 0)
		return ++hits_okerr <= 1 ? answer(c, 200, "{\"__type\":"
		    "\"x#ThrottlingException\"}", NULL, NULL) :
		    answer(c, 200, "done", NULL, NULL);
	if (strcmp(url, "/slow") == 0) {
		usleep(1500 * 1000);
		return answer(c, 200, "late", NULL, NULL);
	}
	if (strcmp(url, "/sign") == 0) {
		/* Refuses the first attempt; the second must carry a new
		 * signature. */
		h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Sig");
		snprintf(buf, sizeof(buf), "%s", h ? h : "");
		return ++hits_sign <= 1 ? answer(c, 503, buf, NULL, NULL) :
		    answer(c, 200, buf, NULL, NULL);
	}
	if (strcmp(url, "/sign-late") == 0) {
		/* Refuses the first attempt with a wait of a second; the
		 * second answers with the credentials it was signed with. */
		h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Gen");
		snprintf(buf, sizeof(buf), "%s", h ? h : "");
		return ++hits_late <= 1 ? answer(c, 503, "", "Retry-After",
		    "1") : answer(c, 200, buf, NULL, NULL);
	}
	return answer(c, 404, "", NULL, NULL);
}

static void
server_start(void)
{
	server = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, provider, NULL,
	    MHD_OPTION_END);
	ck_assert_ptr_nonnull(server);
	port = MHD_get_daemon_info(server, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void
server_stop(void)
{
	st_transfer_shutdown();
	MHD_stop_daemon(server);
}

/* ---------------------------------------------------------------- service */

static atomic_int signatures;
/* The test's credentials: their generation, and whether any are valid. */
static atomic_int creds_gen = 1, creds_gone;
static int use_source, use_sink;	/* the body modes of run() */
static char sunk[128];			/* what the sink took */

static int
test_sign(struct st_pcall *pc, const struct st_pcall_req *r, void *signer)
{
	char v[32];

	ck_assert_ptr_eq(signer, &signatures);
	ck_assert(strncmp(r->host, "127.0.0.1:", 10) == 0);
	ck_assert(use_source || (r->bodylen == 5 &&
	    memcmp(r->body, "hello", 5) == 0));
	if (creds_gone) {
		st_pcall_sign_unavailable(pc, "the test's token ran out");
		return -1;
	}
	snprintf(v, sizeof(v), "gen-%d", creds_gen);
	if (st_pcall_sign_add(pc, "X-Gen", v) == -1)
		return -1;
	snprintf(v, sizeof(v), "sig-%d", ++signatures);
	return st_pcall_sign_add(pc, "X-Sig", v);
}

static const struct st_answer_code codes[] = {
	{ "QueueDoesNotExist", ST_NOT_FOUND },
	{ "Busy", ST_CONFLICT },
};

static const struct st_pcall_proto proto = {
	.service = "Test",
	.sign = test_sign,
	.error_code = st_pcall_code_json_type,
	.code_header = "x-test-code",
	.codes = codes,
	.ncodes = sizeof(codes) / sizeof(codes[0]),
	.answer_max = 4096,
};

/* The same service, whose 200 may carry an error. */
static const struct st_pcall_proto proto_ok_error = {
	.service = "Test",
	.sign = test_sign,
	.error_code = st_pcall_code_json_type,
	.codes = codes,
	.ncodes = sizeof(codes) / sizeof(codes[0]),
	.answer_max = 4096,
	.ok_error = st_pcall_code_json_type,
};

static const struct st_pcall_proto *use_proto = &proto;

static size_t
source(struct st_pcall *pc, char *buf, size_t cap, void *arg)
{
	(void)pc;
	(void)arg;
	ck_assert_uint_ge(cap, 5);
	memcpy(buf, "hello", 5);
	return 5;
}

static int
sink_headers(struct st_pcall *pc, void *arg)
{
	(void)arg;
	sunk[0] = '\0';
	return st_pcall_http_status(pc) < 300 ? ST_PCALL_SINK : ST_PCALL_COLLECT;
}

static size_t
sink(struct st_pcall *pc, const char *p, size_t n, void *arg)
{
	size_t have = strlen(sunk);

	(void)pc;
	(void)arg;
	if (have + n < sizeof(sunk))
		memcpy(sunk + have, p, n), sunk[have + n] = '\0';
	return n;
}
static unsigned use_stall_ms;

struct waiter {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 finished;
	long		 status;
	char		 body[128];
	enum st_status	 outcome;
	char		 code[64];
};

static void
finish(struct st_pcall *pc, void *arg)
{
	struct waiter *w = arg;
	const char *b, *code;
	size_t n;

	b = st_pcall_answer(pc, &n);
	code = st_pcall_code(pc);
	pthread_mutex_lock(&w->lock);
	w->status = st_pcall_status(pc);
	snprintf(w->body, sizeof(w->body), "%.*s", (int)(n < 100 ? n : 100), b);
	w->outcome = st_pcall_outcome(pc);
	snprintf(w->code, sizeof(w->code), "%s", code ? code : "");
	w->finished = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static struct st_retry_policy policy;
static struct st_guard *guard;

/* Runs one request on path and waits for its finish. */
static void
run(const char *path, enum st_pcall_kind kind, unsigned wait_ms,
    struct waiter *w, unsigned *attempts)
{
	struct st_pcall_target t = { "teststore", guard, &policy, &signatures,
	    NULL };
	struct st_call *c = st_call_new(ST_OP_QUEUE_SEND, NULL);
	struct st_pcall *pc;
	char url[128];

	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	pc = st_pcall_new(c, use_proto, &t);
	ck_assert_ptr_nonnull(pc);
	ck_assert_int_eq(st_pcall_prepare(pc, "POST", url, path, NULL, 0), 0);
	ck_assert_int_eq(st_pcall_header(pc, "Content-Type", "text/plain"), 0);
	if (use_source)
		st_pcall_source(pc, 5, source, NULL);
	else
		ck_assert_int_eq(st_pcall_body(pc, "hello", 5), 0);
	if (use_sink)
		st_pcall_sink(pc, sink_headers, sink, NULL, NULL);
	st_pcall_wait(pc, wait_ms);
	st_pcall_stall(pc, use_stall_ms);
	ck_assert_int_eq(st_pcall_start(pc, kind, finish, w), 0);
	pthread_mutex_lock(&w->lock);
	while (!w->finished)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	*attempts = c->attempts;
	/* The modes are for one run: tests share this process. */
	use_proto = &proto;
	use_stall_ms = 0;
	use_source = use_sink = 0;
	st_pcall_free(pc);
	st_call_free(c, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
}

static void
setup(void)
{
	st_retry_defaults(&policy);
	policy.base_delay_ms = 1;
	policy.max_delay_ms = 5;
	policy.attempt_timeout_ms = 500;
	policy.breaker_failures = 0;
	guard = st_guard_open("teststore", "http://test-endpoint", &policy);
	server_start();
}

static void
teardown(void)
{
	server_stop();
	st_guard_close(guard);
}

START_TEST(ok_first_time)
{
	struct waiter w;
	unsigned a;

	run("/ok", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 200);
	ck_assert_str_eq(w.body, "{\"x\":1}");
	ck_assert_uint_eq(a, 1);
}
END_TEST

START_TEST(idempotent_retried_until_ok)
{
	struct waiter w;
	unsigned a;

	hits_flaky = 0;
	run("/flaky", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 200);
	ck_assert_uint_eq(a, 3);
}
END_TEST

START_TEST(not_idempotent_not_retried_on_500)
{
	struct waiter w;
	unsigned a;

	hits_500 = 0;
	run("/500", ST_PCALL_NOT_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 500);
	ck_assert_int_eq(hits_500, 1);
	ck_assert_int_eq(w.outcome, ST_UNAVAILABLE);
	hits_500 = 0;
	run("/500", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(hits_500, (int)policy.max_attempts);
}
END_TEST

START_TEST(not_idempotent_retried_when_throttled)
{
	struct waiter w;
	unsigned a;

	hits_throttle = 0;
	run("/throttle", ST_PCALL_NOT_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 200);
	ck_assert_uint_eq(a, 2);
}
END_TEST

START_TEST(codes_from_body_and_header)
{
	struct waiter w;
	unsigned a;

	run("/missing", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 400);
	ck_assert_str_eq(w.code, "QueueDoesNotExist");
	ck_assert_int_eq(w.outcome, ST_NOT_FOUND);
	ck_assert_uint_eq(a, 1);		/* a "no" is not retried */
	run("/header-code", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_str_eq(w.code, "Busy");
	ck_assert_int_eq(w.outcome, ST_CONFLICT);
}
END_TEST

START_TEST(answer_bound)
{
	struct waiter w;
	unsigned a;

	run("/big", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 0);
	ck_assert_int_eq(w.outcome, ST_PROVIDER_ERROR);
}
END_TEST

START_TEST(long_poll_waits_longer)
{
	struct waiter w;
	unsigned a;

	/* 1.5 s with no byte: past the 500 ms attempt timeout, within a
	 * 2 s wait on top of it. */
	run("/slow", ST_PCALL_IDEMPOTENT, 2000, &w, &a);
	ck_assert_int_eq(w.status, 200);
	ck_assert_str_eq(w.body, "late");
	ck_assert_uint_eq(a, 1);
}
END_TEST

START_TEST(own_stall_timeout)
{
	struct waiter w;
	unsigned a;

	/* 1.5 s with no byte: past the policy's 500 ms, within the call's
	 * own 3 s. */
	use_stall_ms = 3000;
	run("/slow", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 200);
	ck_assert_uint_eq(a, 1);
}
END_TEST

START_TEST(ok_with_error_retried)
{
	struct waiter w;
	unsigned a;

	use_proto = &proto_ok_error;
	hits_okerr = 0;
	run("/ok-error", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 200);
	ck_assert_str_eq(w.body, "done");
	ck_assert_str_eq(w.code, "");
	ck_assert_uint_eq(a, 2);
}
END_TEST

START_TEST(streamed_body_not_sent_twice)
{
	struct waiter w;
	unsigned a;

	use_source = 1;
	hits_500 = 0;
	run("/500", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 500);
	ck_assert_int_eq(hits_500, 1);
	ck_assert_uint_eq(a, 1);
}
END_TEST

START_TEST(sink_retried_whole)
{
	struct waiter w;
	unsigned a;

	use_sink = 1;
	hits_flaky = 0;
	run("/flaky", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 200);
	ck_assert_str_eq(sunk, "fine");
	ck_assert_str_eq(w.body, "");
	ck_assert_uint_eq(a, 3);
}
END_TEST

START_TEST(each_attempt_signed_afresh)
{
	struct waiter w;
	unsigned a;
	int before;

	hits_sign = 0;
	before = signatures;
	run("/sign", ST_PCALL_IDEMPOTENT, 0, &w, &a);
	ck_assert_int_eq(w.status, 200);
	ck_assert_int_eq(signatures, before + 2);
	ck_assert_int_eq(atoi(w.body + 4), before + 2);	/* "sig-N" */
}
END_TEST

/* Changes the credentials while a retry waits: the first attempt was
 * answered (hits_late), the retry's second of waiting is not over. */
static void *
change_creds(void *arg)
{
	int gone = *(int *)arg;

	while (hits_late < 1)
		usleep(10 * 1000);
	usleep(200 * 1000);
	if (gone)
		creds_gone = 1;
	else
		creds_gen++;
	return NULL;
}

/* A retry that waits is signed when its wait is over, with the
 * credentials of then; none valid by then: credentials_unavailable. */
static void
run_late(int gone, struct waiter *w, unsigned *attempts)
{
	pthread_t t;

	hits_late = 0;
	creds_gen = 1;
	creds_gone = 0;
	policy.max_delay_ms = 2000;	/* the Retry-After's second */
	ck_assert_int_eq(pthread_create(&t, NULL, change_creds, &gone), 0);
	run("/sign-late", ST_PCALL_IDEMPOTENT, 0, w, attempts);
	pthread_join(t, NULL);
	policy.max_delay_ms = 5;
	creds_gone = 0;
}

START_TEST(retry_signed_after_its_wait)
{
	struct waiter w;
	unsigned a;

	run_late(0, &w, &a);
	ck_assert_int_eq(w.status, 200);
	ck_assert_str_eq(w.body, "gen-2");
	ck_assert_uint_eq(a, 2);
}
END_TEST

START_TEST(no_credentials_after_the_wait)
{
	struct waiter w;
	unsigned a;

	run_late(1, &w, &a);
	ck_assert_int_eq(hits_late, 1);		/* the retry was not sent */
	ck_assert_int_eq(w.status, 0);
	ck_assert_int_eq(w.outcome, ST_CREDENTIALS_UNAVAILABLE);
}
END_TEST

START_TEST(open_circuit_fails_at_once)
{
	struct st_retry_policy p = policy;
	struct st_pcall_target t = { "broken", NULL, &p, &signatures, NULL };
	struct st_call *c;
	struct waiter w;
	unsigned a, i;

	p.breaker_failures = 2;
	p.breaker_open_ms = 60000;
	p.max_attempts = 1;
	t.guard = st_guard_open("broken", "http://broken-endpoint", &p);
	for (i = 0; i < 2; i++) {
		struct st_guard *keep = guard;

		guard = t.guard;
		hits_500 = 0;
		run("/500", ST_PCALL_IDEMPOTENT, 0, &w, &a);
		guard = keep;
	}
	c = st_call_new(ST_OP_QUEUE_SEND, NULL);
	ck_assert_ptr_null(st_pcall_new(c, &proto, &t));
	ck_assert(st_call_is_done(c));
	ck_assert_int_eq(c->status, ST_UNAVAILABLE);
	ck_assert_uint_gt(c->retry_after, 0);
	st_call_free(c, NULL);
	st_guard_close(t.guard);
}
END_TEST

static Suite *
pcall_suite(void)
{
	Suite *s = suite_create("pcall");
	TCase *tc = tcase_create("engine");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, ok_first_time);
	tcase_add_test(tc, idempotent_retried_until_ok);
	tcase_add_test(tc, not_idempotent_not_retried_on_500);
	tcase_add_test(tc, not_idempotent_retried_when_throttled);
	tcase_add_test(tc, codes_from_body_and_header);
	tcase_add_test(tc, answer_bound);
	tcase_add_test(tc, long_poll_waits_longer);
	tcase_add_test(tc, own_stall_timeout);
	tcase_add_test(tc, ok_with_error_retried);
	tcase_add_test(tc, streamed_body_not_sent_twice);
	tcase_add_test(tc, sink_retried_whole);
	tcase_add_test(tc, each_attempt_signed_afresh);
	tcase_add_test(tc, retry_signed_after_its_wait);
	tcase_add_test(tc, no_credentials_after_the_wait);
	tcase_add_test(tc, open_circuit_fails_at_once);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(pcall_suite)
