/*
 * test_creds.c - the credentials service (src/core/creds.c): refresh
 * times, sharing per group, snapshots outliving a swap, the refresher
 * thread, back-off on failure, and expired credentials never handed out.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/creds.h"
#include "unit.h"

/* A source of the test's own: each fetch gives key "K<n>" living `life`
 * seconds, or fails while `failing` is set. */
struct fake {
	int	 fetches;
	int	 failing;
	int	 life;
	int	 freed;
};

static int
fake_fetch(void *arg, struct st_creds_snap *out, char *why, size_t whylen)
{
	struct fake *f = arg;

	f->fetches++;
	if (f->failing) {
		snprintf(why, whylen, "the fake says no");
		return -1;
	}
	snprintf(out->id, sizeof(out->id), "K%d", f->fetches);
	snprintf(out->secret, sizeof(out->secret), "S%d", f->fetches);
	out->token = strdup("T");
	out->expires = f->life != 0 ? time(NULL) + f->life : 0;
	return 0;
}

static void
fake_free(void *arg)
{
	((struct fake *)arg)->freed++;
}

static const struct st_creds_source local_src = {
	"fake", 0, fake_fetch, fake_free
};
static const struct st_creds_source remote_src = {
	"fake", 1, fake_fetch, fake_free
};

START_TEST(refresh_times)
{
	/* 6 h: 5 minutes ahead; 1 h: the same; 15 min: a quarter. */
	ck_assert_int_eq(st_creds_refresh_at(1000, 1000 + 21600), 1000 + 21600 - 300);
	ck_assert_int_eq(st_creds_refresh_at(0, 3600), 3300);
	ck_assert_int_eq(st_creds_refresh_at(0, 900), 900 - 225);
	ck_assert_int_eq(st_creds_refresh_at(0, 20), 15);
	ck_assert_int_eq(st_creds_refresh_at(0, 0), 0);	/* never */
	/* The skew: a tenth of the lifetime, at most a minute. */
	ck_assert_int_eq(st_creds_skew(0, 21600), 60);
	ck_assert_int_eq(st_creds_skew(0, 20), 2);
}
END_TEST

START_TEST(shared_per_group)
{
	struct fake f = { 0, 0, 0, 0 }, g = { 0, 0, 0, 0 }, h = { 0, 0, 0, 0 };
	struct st_creds *a, *b, *c;
	struct st_creds_snap *s;
	char err[256], why[256];

	a = st_creds_open("grp", "spec1", &local_src, &f, 0, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(f.fetches, 1);		/* a local source: at open */
	b = st_creds_open("grp", "spec1", &local_src, &g, 0, err, sizeof(err));
	ck_assert_ptr_eq(a, b);			/* one object per group */
	ck_assert_int_eq(g.freed, 1);		/* the second arg was not needed */
	ck_assert_int_eq(g.fetches, 0);
	ck_assert_int_eq(f.fetches, 2);		/* a local source: read again */
	c = st_creds_open("grp", "spec2", &local_src, &h, 0, err, sizeof(err));
	ck_assert_ptr_ne(a, c);			/* a changed definition: new */
	s = st_creds_take(a, why, sizeof(why));
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->id, "K2");
	ck_assert_int_eq(st_creds_unresolved(), 0);
	st_creds_close(a);
	ck_assert_int_eq(f.freed, 0);		/* b still holds it */
	st_creds_close(b);
	ck_assert_int_eq(f.freed, 1);
	ck_assert_str_eq(s->id, "K2");		/* the snapshot outlives it */
	st_creds_drop(s);
	st_creds_close(c);
	ck_assert_int_eq(h.freed, 1);
}
END_TEST

START_TEST(local_failure_refused)
{
	struct fake f = { 0, 1, 0, 0 }, g = { 0, 0, 0, 0 }, h = { 0, 0, 0, 0 };
	struct st_creds *a;
	struct st_creds_snap *s;
	char err[256], why[256];

	ck_assert_ptr_null(st_creds_open("bad", "x", &local_src, &f, 0, err,
	    sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "the fake says no"));
	ck_assert_int_eq(f.freed, 1);
	/* A reload whose re-read fails is refused; the old stores keep
	 * their snapshot. */
	a = st_creds_open("re", "x", &local_src, &g, 0, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	g.failing = 1;
	ck_assert_ptr_null(st_creds_open("re", "x", &local_src, &h, 0, err,
	    sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "the fake says no"));
	s = st_creds_take(a, why, sizeof(why));
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->id, "K1");
	st_creds_drop(s);
	st_creds_close(a);
	ck_assert_int_eq(g.freed, 1);
}
END_TEST

static int
wait_for(int *counter, int want)
{
	int i;

	for (i = 0; i < 300 && __atomic_load_n(counter, __ATOMIC_ACQUIRE) < want; i++)
		usleep(20000);
	return __atomic_load_n(counter, __ATOMIC_ACQUIRE) >= want;
}

START_TEST(remote_resolved_by_refresher)
{
	struct fake f = { 0, 1, 0, 0 };
	struct st_creds *c;
	struct st_creds_snap *s;
	char err[256], why[256];
	struct st_buf m = { 0 };

	c = st_creds_open("remote", "r", &remote_src, &f, 0, err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	/* Failing: unresolved, nothing to sign with, the reason said. */
	ck_assert(wait_for(&f.fetches, 1));
	usleep(50000);
	ck_assert_int_eq(st_creds_unresolved(), 1);
	ck_assert_ptr_null(st_creds_take(c, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "the fake says no"));
	st_creds_render(&m);
	ck_assert_ptr_nonnull(strstr(m.data,
	    "stratus_credentials_refresh_failures_total{credentials=\"remote\"} 1"));
	ck_assert_ptr_null(strstr(m.data, "S1"));
	st_buf_free(&m);
	/* Retried after the back-off (1 s), now succeeding. */
	__atomic_store_n(&f.failing, 0, __ATOMIC_RELEASE);
	ck_assert(wait_for(&f.fetches, 2));
	usleep(50000);
	s = st_creds_take(c, why, sizeof(why));
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->id, "K2");
	st_creds_drop(s);
	ck_assert_int_eq(st_creds_unresolved(), 0);
	st_creds_close(c);
	st_creds_shutdown();
}
END_TEST

START_TEST(short_lived_refreshed_and_expired_refused)
{
	/* Credentials of 4 s are refreshed 1 s before expiry; once the
	 * source fails they run out and are no longer handed out. */
	struct fake f = { 0, 0, 4, 0 };
	struct st_creds *c;
	struct st_creds_snap *s;
	char err[256], why[256];

	c = st_creds_open("short", "s", &remote_src, &f, 0, err, sizeof(err));
	ck_assert(wait_for(&f.fetches, 2));		/* refreshed once */
	s = st_creds_take(c, why, sizeof(why));
	ck_assert_ptr_nonnull(s);
	ck_assert(s->expires > time(NULL));
	st_creds_drop(s);
	__atomic_store_n(&f.failing, 1, __ATOMIC_RELEASE);
	sleep(6);
	ck_assert_ptr_null(st_creds_take(c, why, sizeof(why)));
	st_creds_close(c);
	st_creds_shutdown();
}
END_TEST

START_TEST(already_expired_refused)
{
	/* Credentials that expired before they arrived are a failure (a
	 * wrong clock), not a snapshot to publish. */
	struct fake f = { 0, 0, -5, 0 };
	struct st_creds *c;
	char err[256], why[256];

	c = st_creds_open("stale", "s", &remote_src, &f, 0, err, sizeof(err));
	ck_assert(wait_for(&f.fetches, 1));
	usleep(50000);
	ck_assert_ptr_null(st_creds_take(c, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "expired already"));
	ck_assert_int_eq(st_creds_unresolved(), 1);
	st_creds_close(c);
	st_creds_shutdown();
}
END_TEST

static Suite *
creds_suite(void)
{
	Suite *s = suite_create("creds");
	TCase *tc = tcase_create("service");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, refresh_times);
	tcase_add_test(tc, shared_per_group);
	tcase_add_test(tc, local_failure_refused);
	tcase_add_test(tc, remote_resolved_by_refresher);
	tcase_add_test(tc, short_lived_refreshed_and_expired_refused);
	tcase_add_test(tc, already_expired_refused);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(creds_suite)
