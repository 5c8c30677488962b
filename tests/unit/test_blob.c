/*
 * test_blob.c - the blob service (core/blob.c) against a fake backend:
 * the choice between a server-side and a streamed copy, the copy pump's
 * stages with either side making it wait, its early ends (source missing,
 * too large, broken off; target refusing), the fallback when a provider
 * will not copy, and the PUT and GET bodies.
 *
 * The fake serves one object per store from memory. It can hold back its
 * GET until the test says so, give and take bytes a few at a time with a
 * "nothing right now" in between (then wakes the call at once, as a wake
 * that beats the park), and counts what the service asked of it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blob.h"
#include "core/call.h"
#include "core/presign.h"
#include "unit.h"

struct fake {
	/* the object a GET answers with */
	const char	*data;
	size_t		 len;
	enum st_status	 get_status;
	int		 get_later;	/* GET done when the test says */
	size_t		 give;		/* read: at most this much a time */
	size_t		 break_at;	/* read: ST_ERROR past this; 0 never */
	size_t		 room;		/* write: at most this much a time */
	int		 stall;		/* read and write: "none now" between */
	enum st_status	 copy_status;
	enum st_status	 begin_status;
	/* what it saw */
	size_t		 pos;
	int		 starved;
	struct st_call	*pending;
	char		*got;
	size_t		 gotlen;
	int		 began, ended, copies, releases;
	const char	*got_type;
	size_t		 got_nmeta;
	int64_t		 got_length;
};

static struct st_meta src_meta[] = { { "colour", "blue" } };
static int wakes;

static void
hook(struct st_call *c, void *ctx)
{
	(void)c;
	(void)ctx;
	wakes++;
}

static const struct st_call_hooks hooks = { hook, hook, NULL };

static struct fake *
fake_of(struct st_call *c)
{
	return c->store;
}

static void
fake_get(struct st_call *c)
{
	struct fake *f = fake_of(c);

	f->pos = 0;
	c->status = f->get_status;
	c->info.size = f->len;
	c->info.content_type = "text/plain";
	c->info.meta = src_meta;
	c->info.nmeta = 1;
	c->body_length = f->len;
	if (f->get_later)
		f->pending = c;
	else
		st_call_done(c);
}

/* "Nothing right now" every other time when stalling; the fake can go
 * on at once, so it wakes the call straight away. */
static int
fake_stalls(struct fake *f, struct st_call *c)
{
	if (!f->stall)
		return 0;
	f->starved = !f->starved;
	if (f->starved)
		st_call_wake(c);
	return f->starved;
}

static long
fake_read(struct st_call *c, char *buf, size_t cap)
{
	struct fake *f = fake_of(c);
	size_t n = f->len - f->pos;

	if (n == 0)
		return ST_EOF;
	if (f->break_at > 0 && f->pos >= f->break_at)
		return ST_ERROR;
	if (fake_stalls(f, c))
		return 0;
	if (n > cap)
		n = cap;
	if (f->give > 0 && n > f->give)
		n = f->give;
	memcpy(buf, f->data + f->pos, n);
	f->pos += n;
	return (long)n;
}

static void
fake_put_begin(struct st_call *c)
{
	struct fake *f = fake_of(c);

	f->began++;
	f->got_type = c->content_type;
	f->got_nmeta = c->nmeta;
	f->got_length = c->content_length;
	if (f->begin_status != ST_OK)
		st_call_fail(c, f->begin_status, NULL, "refused");
}

static long
fake_write(struct st_call *c, const char *buf, size_t len)
{
	struct fake *f = fake_of(c);
	char *p;

	if (fake_stalls(f, c))
		return 0;
	if (f->room > 0 && len > f->room)
		len = f->room;
	if ((p = realloc(f->got, f->gotlen + len)) == NULL)
		return ST_ERROR;
	memcpy(p + f->gotlen, buf, len);
	f->got = p;
	f->gotlen += len;
	return (long)len;
}

static void
fake_put_end(struct st_call *c)
{
	struct fake *f = fake_of(c);

	f->ended++;
	c->info.size = f->gotlen;
	c->info.etag = "\"e\"";
	st_call_done(c);
}

static void
fake_copy(struct st_call *c)
{
	struct fake *f = fake_of(c);

	f->copies++;
	c->status = f->copy_status;
	st_call_done(c);
}

static void
fake_del(struct st_call *c)
{
	st_call_done(c);
}

static void
fake_release(struct st_call *c)
{
	fake_of(c)->releases++;
}

static const struct st_blob_ops fake_ops = {
	.head = fake_get, .get = fake_get, .read = fake_read,
	.put_begin = fake_put_begin, .write = fake_write,
	.put_end = fake_put_end, .del = fake_del, .copy = fake_copy,
	.release = fake_release,
};

static int accounts_match;

static int
fake_same_account(void *a, void *b)
{
	(void)a;
	(void)b;
	return accounts_match;
}

/* Two providers, so that a copy between them must stream. */
static const struct st_backend provider_a = {
	ST_BACKEND_VERSION, "a", ST_KIND_BLOB, NULL, NULL, fake_same_account,
	&fake_ops, NULL, NULL
};
static const struct st_backend provider_b = {
	ST_BACKEND_VERSION, "b", ST_KIND_BLOB, NULL, NULL, fake_same_account,
	&fake_ops, NULL, NULL
};

#define BIG (600 * 1024)	/* more than two of the pump's buffers */
static char big[BIG];

static struct st_blob_store
store_on(const struct st_backend *be, struct fake *f, uint64_t max)
{
	struct st_blob_store s = { "s", f, be, max, NULL, 0 };

	return s;
}

/* A blob request for a COPY into `to`, filled as a front end does. */
static struct st_blob *
copy_request(struct st_blob_store *to)
{
	struct st_blob *b = st_blob_new(to, &hooks, "req-1");
	struct st_call *c;

	ck_assert_ptr_nonnull(b);
	c = st_blob_call(b, ST_OP_COPY);
	ck_assert_ptr_nonnull(c);
	c->key = "dst";
	c->keylen = 3;
	c->if_none_match = "*";
	return b;
}

/* Steps until the outcome is known; how many times it had to wait. */
static int
drive(struct st_blob *b)
{
	int rc, waits = 0;

	while ((rc = st_blob_step(b)) == 0)
		ck_assert_int_lt(++waits, 100000);
	ck_assert_int_eq(rc, 1);
	return waits;
}

/* A copy from src on one provider into dst on `to` (with its limit),
 * run to its outcome. */
static struct st_blob *
run_copy(const struct st_backend *from_be, struct fake *src,
         const struct st_backend *to_be, struct fake *dst, uint64_t max)
{
	struct st_blob_store from = store_on(from_be, src, 0);
	struct st_blob_store to = store_on(to_be, dst, max);
	struct st_blob *b = copy_request(&to);

	ck_assert_int_eq(st_blob_copy(b, &from, "src"), 0);
	drive(b);
	return b;
}

static void
setup(void)
{
	size_t i;

	for (i = 0; i < BIG; i++)
		big[i] = (char)(i * 7 + i / 1000);
	wakes = 0;
	accounts_match = 0;
}

/* ---------------------------------------------------------------- pump */

START_TEST(copy_between_providers_streams)
{
	struct fake src = { .data = big, .len = BIG, .give = 5000,
	    .stall = 1, .get_later = 1 };
	struct fake dst = { .room = 3000, .stall = 1 };
	struct st_blob_store from = store_on(&provider_a, &src, 0);
	struct st_blob_store to = store_on(&provider_b, &dst, 0);
	struct st_blob *b = copy_request(&to);
	struct st_call *c;

	ck_assert_int_eq(st_blob_copy(b, &from, "src"), 0);
	ck_assert_int_eq(src.copies + dst.copies, 0);
	/* The source's answer has not come: nothing to do yet. */
	ck_assert_int_eq(st_blob_step(b), 0);
	ck_assert_int_eq(st_blob_step(b), 0);
	ck_assert_int_eq(dst.began, 0);
	st_call_done(src.pending);
	ck_assert_int_gt(drive(b), 0);
	c = st_blob_answer(b);
	ck_assert_ptr_eq(c, b->call);
	ck_assert_int_eq(c->status, ST_OK);
	ck_assert_uint_eq(c->info.size, BIG);
	ck_assert_int_eq(dst.began, 1);
	ck_assert_int_eq(dst.ended, 1);
	ck_assert_uint_eq(dst.gotlen, BIG);
	ck_assert(memcmp(dst.got, big, BIG) == 0);
	ck_assert_uint_eq(b->written, BIG);
	/* the source's type, metadata and size; the target's conditions */
	ck_assert_str_eq(dst.got_type, "text/plain");
	ck_assert_uint_eq(dst.got_nmeta, 1);
	ck_assert_int_eq(dst.got_length, BIG);
	ck_assert_str_eq(c->key, "dst");
	ck_assert_str_eq(c->if_none_match, "*");
	ck_assert_str_eq(b->src_call->key, "src");
	ck_assert_int_gt(wakes, 0);
	st_blob_free(b);
	/* Both calls released; the COPY call that never started was not. */
	ck_assert_int_eq(src.releases, 1);
	ck_assert_int_eq(dst.releases, 1);
	free(dst.got);
}
END_TEST

START_TEST(copy_within_a_provider_is_server_side)
{
	struct fake src = { .data = big, .len = 10 };
	struct fake dst = { 0 };
	struct st_blob *b;

	accounts_match = 1;
	b = run_copy(&provider_a, &src, &provider_a, &dst, 0);
	ck_assert_int_eq(dst.copies, 1);
	ck_assert_ptr_eq(b->call->src_store, &src);
	ck_assert_str_eq(b->call->src_key, "src");
	ck_assert_ptr_null(b->pump);
	ck_assert_int_eq(st_blob_answer(b)->status, ST_OK);
	st_blob_free(b);
	ck_assert_int_eq(dst.releases, 1);
}
END_TEST

/* Another account of the same provider cannot copy server-side. */
START_TEST(copy_across_accounts_streams)
{
	struct fake src = { .data = big, .len = 100 };
	struct fake dst = { 0 };
	struct st_blob *b = run_copy(&provider_a, &src, &provider_a, &dst, 0);

	ck_assert_int_eq(dst.copies, 0);
	ck_assert_uint_eq(dst.gotlen, 100);
	ck_assert_int_eq(st_blob_answer(b)->status, ST_OK);
	st_blob_free(b);
	free(dst.got);
}
END_TEST

/* The provider refuses to copy this one itself: the service streams it,
 * the COPY call released on the way. */
START_TEST(copy_falls_back_to_streaming)
{
	struct fake one = { .data = big, .len = BIG,
	    .copy_status = ST_NOT_SUPPORTED };
	struct st_blob *b = run_copy(&provider_a, &one, &provider_a, &one, 0);

	ck_assert_int_eq(one.copies, 1);
	ck_assert_int_eq(one.releases, 1);	/* the COPY call */
	ck_assert_int_eq(st_blob_answer(b)->status, ST_OK);
	ck_assert_int_eq(b->call->op, ST_OP_PUT);
	ck_assert_str_eq(b->src_call->key, "src");
	ck_assert_uint_eq(one.gotlen, BIG);
	st_blob_free(b);
	ck_assert_int_eq(one.releases, 3);
	free(one.got);
}
END_TEST

START_TEST(copy_source_missing)
{
	struct fake src = { .get_status = ST_NOT_FOUND };
	struct fake dst = { 0 };
	struct st_blob *b = run_copy(&provider_a, &src, &provider_b, &dst, 0);

	ck_assert_ptr_eq(st_blob_answer(b), b->src_call);
	ck_assert_int_eq(st_blob_answer(b)->status, ST_NOT_FOUND);
	ck_assert_int_eq(dst.began, 0);
	st_blob_free(b);
}
END_TEST

START_TEST(copy_source_too_large)
{
	struct fake src = { .data = big, .len = 2000 };
	struct fake dst = { 0 };
	struct st_blob *b = run_copy(&provider_a, &src, &provider_b, &dst, 1999);
	struct st_call *c = st_blob_answer(b);

	ck_assert_int_eq(c->status, ST_TOO_LARGE);
	ck_assert_str_eq(c->message, "the source is larger than this store's "
	    "limit");
	ck_assert_int_eq(dst.began, 0);
	st_blob_free(b);
}
END_TEST

START_TEST(copy_source_breaks_off)
{
	struct fake src = { .data = big, .len = BIG, .give = 1000,
	    .break_at = 5000 };
	struct fake dst = { 0 };
	struct st_blob *b = run_copy(&provider_a, &src, &provider_b, &dst, 0);

	ck_assert_int_eq(st_blob_answer(b)->status, ST_PROVIDER_ERROR);
	ck_assert_int_eq(dst.ended, 0);		/* never committed */
	ck_assert_uint_eq(dst.gotlen, 5000);
	st_blob_free(b);
	ck_assert_int_eq(dst.releases, 1);
	free(dst.got);
}
END_TEST

START_TEST(copy_target_refuses)
{
	struct fake src = { .data = big, .len = 10 };
	struct fake dst = { .begin_status = ST_PRECONDITION };
	struct st_blob *b = run_copy(&provider_a, &src, &provider_b, &dst, 0);

	ck_assert_ptr_eq(st_blob_answer(b), b->call);
	ck_assert_int_eq(st_blob_answer(b)->status, ST_PRECONDITION);
	ck_assert_int_eq(dst.ended, 0);
	st_blob_free(b);
}
END_TEST

/* ---------------------------------------------------------------- PUT, GET */

/* A request of `op` on f's store (with its limit), started. */
static struct st_blob *
started(struct fake *f, uint64_t max, enum st_op op)
{
	struct st_blob_store s = store_on(&provider_a, f, max);
	struct st_blob *b = st_blob_new(&s, &hooks, "req-1");

	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(st_blob_call(b, op));
	b->call->content_type = "text/plain";
	st_blob_start(b);
	return b;
}

START_TEST(put_stops_at_the_store_limit)
{
	struct fake dst = { 0 };
	struct st_blob *b = started(&dst, 10, ST_OP_PUT);
	struct st_call *c = b->call;

	ck_assert_uint_eq(c->max_size, 10);
	ck_assert_int_eq(dst.began, 1);
	ck_assert_int_eq(st_blob_write(b, big, 6), 6);
	ck_assert_int_eq(st_blob_write(b, big, 5), -1);
	ck_assert_int_eq(c->status, ST_TOO_LARGE);
	ck_assert(st_call_is_done(c));
	st_blob_put_end(b);			/* not after a failure */
	ck_assert_int_eq(dst.ended, 0);
	ck_assert_int_eq(st_blob_step(b), 1);
	st_blob_free(b);
	free(dst.got);
}
END_TEST

START_TEST(put_end_once)
{
	struct fake dst = { 0 };
	struct st_blob *b = started(&dst, 0, ST_OP_PUT);

	ck_assert_int_eq(st_blob_write(b, big, 3), 3);
	ck_assert_int_eq(st_blob_step(b), 0);
	st_blob_put_end(b);
	st_blob_put_end(b);
	ck_assert_int_eq(dst.ended, 1);
	ck_assert_int_eq(st_blob_step(b), 1);
	st_blob_free(b);
	free(dst.got);
}
END_TEST

/* What was taken early is served first, the rest read as usual. */
START_TEST(get_body_whole_or_streamed)
{
	struct fake f = { .data = big, .len = 3000, .give = 1000 };
	struct st_blob *b = started(&f, 0, ST_OP_GET);
	char buf[4000];
	size_t pos = 0;
	int fd;
	uint64_t off;
	long n;

	ck_assert_int_eq(st_blob_step(b), 1);
	ck_assert_int_eq(st_blob_fd(b, &fd, &off), -1);
	ck_assert_int_eq(st_blob_take_whole(b, 2999), 0);
	ck_assert_uint_eq(b->head.len, 0);
	/* 1000 bytes, then nothing right now: not whole yet */
	f.stall = 1;
	f.starved = 1;
	ck_assert_int_eq(st_blob_take_whole(b, 4000), 0);
	ck_assert_uint_eq(b->head.len, 1000);
	while ((n = st_blob_read(b, pos, buf + pos, 700)) != ST_EOF) {
		ck_assert_int_ge(n, 0);
		pos += (size_t)n;
	}
	ck_assert_uint_eq(pos, 3000);
	ck_assert(memcmp(buf, big, 3000) == 0);
	st_blob_free(b);
}
END_TEST

START_TEST(missing_operation_is_not_supported)
{
	struct fake f = { 0 };
	struct st_blob *b = started(&f, 0, ST_OP_LIST);

	ck_assert_int_eq(st_blob_step(b), 1);
	ck_assert_int_eq(st_blob_answer(b)->status, ST_NOT_SUPPORTED);
	st_blob_free(b);
}
END_TEST

/* A backend without presign still gets URLs: the daemon's own, which it
 * checks and serves from the store itself. */
START_TEST(missing_presign_gets_daemon_urls)
{
	static const unsigned char key[32] = { 1, 2, 3 };
	struct fake f = { 0 };
	struct st_blob_store s = store_on(&provider_a, &f, 0);
	struct st_blob *b;
	struct st_call *c;
	const char *sig, *exp;
	char expires[24];

	s.presign_key = key;
	s.presign_keylen = sizeof(key);
	b = st_blob_new(&s, &hooks, "req-1");
	ck_assert_ptr_nonnull(b);
	c = st_blob_call(b, ST_OP_PRESIGN);
	ck_assert_ptr_nonnull(c);
	c->key = "a b";
	c->keylen = 3;
	c->method = "GET";
	c->expires_in = 60;
	c->base_url = "http://127.0.0.1:1";
	st_blob_start(b);
	ck_assert_int_eq(st_blob_step(b), 1);
	c = st_blob_answer(b);
	ck_assert_int_eq(c->status, ST_OK);
	ck_assert_ptr_nonnull(c->url);
	ck_assert(strncmp(c->url, "http://127.0.0.1:1/v1/blobs/s/a%20b?"
	    ST_PRESIGN_EXPIRES "=", 48) == 0);
	sig = strstr(c->url, ST_PRESIGN_SIGNATURE "=");
	ck_assert_ptr_nonnull(sig);
	sig += strlen(ST_PRESIGN_SIGNATURE "=");
	exp = strchr(c->url, '=') + 1;
	ck_assert_uint_lt((size_t)(strchr(exp, '&') - exp), sizeof(expires));
	memcpy(expires, exp, (size_t)(strchr(exp, '&') - exp));
	expires[strchr(exp, '&') - exp] = '\0';
	ck_assert_int_eq(st_presign_verify(key, sizeof(key), "GET", "s", "a b",
	    3, expires, sig, time(NULL)), 1);
	ck_assert_int_eq(st_presign_verify(key, sizeof(key), "PUT", "s", "a b",
	    3, expires, sig, time(NULL)), 0);
	st_blob_free(b);
}
END_TEST

static Suite *
blob_suite(void)
{
	Suite *s = suite_create("blob");
	TCase *tc = tcase_create("service");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, copy_between_providers_streams);
	tcase_add_test(tc, copy_within_a_provider_is_server_side);
	tcase_add_test(tc, copy_across_accounts_streams);
	tcase_add_test(tc, copy_falls_back_to_streaming);
	tcase_add_test(tc, copy_source_missing);
	tcase_add_test(tc, copy_source_too_large);
	tcase_add_test(tc, copy_source_breaks_off);
	tcase_add_test(tc, copy_target_refuses);
	tcase_add_test(tc, put_stops_at_the_store_limit);
	tcase_add_test(tc, put_end_once);
	tcase_add_test(tc, get_body_whole_or_streamed);
	tcase_add_test(tc, missing_operation_is_not_supported);
	tcase_add_test(tc, missing_presign_gets_daemon_urls);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(blob_suite)
