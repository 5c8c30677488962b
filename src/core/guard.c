/*
 * guard.c - retry budgets per endpoint and circuit breakers per store.
 *
 * Budgets are shared: every store on one endpoint holds a reference to the
 * same bucket, found by name in a small global list. Guards themselves are
 * in a global list too, so that /metrics can show each store's breaker.
 * One mutex covers both lists and every counter: the work under it is a
 * few additions, and it is taken a handful of times per provider call.
 *
 * The bucket's figures are the AWS SDKs' standard mode: 500 tokens, a
 * retry costs 5 (10 after a timeout), a first-try success gives back 1 and
 * a success after retries gives back 5, the cost of an ordinary retry.
 *
 * For backends, st_guard_retry_wait asks the policy first and the budget
 * last, so that nothing is taken from the budget for a retry the policy
 * would refuse anyway; st_guard_report turns how an exchange ended into
 * the breaker's healthy or not.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/guard.h"

#define BUDGET_CAPACITY	500
#define RETRY_COST	5
#define TIMEOUT_COST	10
#define SUCCESS_REFUND	1

enum breaker_state { CLOSED, OPEN, HALF_OPEN };
static const char *const state_names[] = { "closed", "open", "half_open" };

/* The reasons st_retry_reason() gives, in a fixed order for counters. */
static const char *const reasons[] = { "connection", "timeout", "throttled",
	"server_error", "other" };
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

struct budget {
	struct budget	*next;
	char		*endpoint;
	unsigned	 refs;
	unsigned	 tokens;
	unsigned long long refusals;
};

struct st_guard {
	struct st_guard	*next;
	char		*store;
	struct budget	*budget;
	unsigned	 failures_to_open;
	unsigned	 open_ms;
	enum breaker_state state;
	unsigned	 consecutive;	/* unhealthy outcomes in a row */
	long long	 open_until_ms;
	int		 probing;	/* the half-open probe is out */
	long long	 probe_ms;	/* since when */
	unsigned long long attempts, retries[NREASONS], refusals, rejected,
			 opened, wait_ms;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct budget *budgets;
static struct st_guard *guards;

/* ---------------------------------------------------------------- life */

static struct budget *
budget_ref(const char *endpoint)
{
	struct budget *b;

	for (b = budgets; b != NULL; b = b->next)
		if (strcmp(b->endpoint, endpoint) == 0) {
			b->refs++;
			return b;
		}
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->endpoint = strdup(endpoint)) == NULL) {
		free(b);
		return NULL;
	}
	b->refs = 1;
	b->tokens = BUDGET_CAPACITY;
	b->next = budgets;
	budgets = b;
	return b;
}

static void
budget_unref(struct budget *b)
{
	struct budget **pp;

	if (--b->refs > 0)
		return;
	for (pp = &budgets; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	free(b->endpoint);
	free(b);
}

struct st_guard *
st_guard_open(const char *store, const char *endpoint,
              const struct st_retry_policy *p)
{
	struct st_guard *g = calloc(1, sizeof(*g));

	if (g == NULL || (g->store = strdup(store)) == NULL) {
		free(g);
		return NULL;
	}
	g->failures_to_open = p->breaker_failures;
	g->open_ms = p->breaker_open_ms;
	pthread_mutex_lock(&lock);
	if ((g->budget = budget_ref(endpoint)) == NULL) {
		pthread_mutex_unlock(&lock);
		free(g->store);
		free(g);
		return NULL;
	}
	g->next = guards;
	guards = g;
	pthread_mutex_unlock(&lock);
	return g;
}

void
st_guard_close(struct st_guard *g)
{
	struct st_guard **pp;

	if (g == NULL)
		return;
	pthread_mutex_lock(&lock);
	for (pp = &guards; *pp != NULL; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	budget_unref(g->budget);
	pthread_mutex_unlock(&lock);
	free(g->store);
	free(g);
}

/* ---------------------------------------------------------------- decisions */

int
st_guard_admit(struct st_guard *g, unsigned *retry_after_s)
{
	long long now = st_now_ms(), left;
	int rc = 0;

	if (g == NULL || g->failures_to_open == 0)
		return 0;
	pthread_mutex_lock(&lock);
	if (g->state == OPEN && now >= g->open_until_ms)
		g->state = HALF_OPEN;
	/* A probe that never told its outcome (its client left, or it
	 * failed before reaching the provider) must not hold the circuit
	 * half open for ever: after open_ms another call may probe. */
	if (g->state == HALF_OPEN && g->probing && now - g->probe_ms >= g->open_ms)
		g->probing = 0;
	if (g->state == OPEN || (g->state == HALF_OPEN && g->probing)) {
		left = g->state == OPEN ? g->open_until_ms - now : g->open_ms;
		*retry_after_s = (unsigned)((left + 999) / 1000);
		if (*retry_after_s == 0)
			*retry_after_s = 1;
		g->rejected++;
		rc = -1;
	} else if (g->state == HALF_OPEN) {
		g->probing = 1;		/* this call is the probe */
		g->probe_ms = now;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void
st_guard_attempt(struct st_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&lock);
	g->attempts++;
	pthread_mutex_unlock(&lock);
}

static size_t
reason_index(const char *reason)
{
	size_t i;

	for (i = 0; i < NREASONS - 1; i++)
		if (reason != NULL && strcmp(reason, reasons[i]) == 0)
			return i;
	return NREASONS - 1;
}

int
st_guard_retry(struct st_guard *g, const char *reason, unsigned wait_ms)
{
	unsigned cost = reason != NULL && strcmp(reason, "timeout") == 0 ?
	    TIMEOUT_COST : RETRY_COST;
	int rc = 0;

	if (g == NULL)
		return 0;
	pthread_mutex_lock(&lock);
	if (g->budget->tokens < cost) {
		g->budget->refusals++;
		g->refusals++;
		rc = -1;
	} else {
		g->budget->tokens -= cost;
		g->retries[reason_index(reason)]++;
		g->wait_ms += wait_ms;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void
st_guard_outcome(struct st_guard *g, int healthy, int retried)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&lock);
	if (healthy) {
		g->budget->tokens += retried ? RETRY_COST : SUCCESS_REFUND;
		if (g->budget->tokens > BUDGET_CAPACITY)
			g->budget->tokens = BUDGET_CAPACITY;
		g->consecutive = 0;
		g->state = CLOSED;
		g->probing = 0;
	} else {
		g->consecutive++;
		if (g->failures_to_open > 0 && (g->state == HALF_OPEN ||
		    g->consecutive >= g->failures_to_open)) {
			if (g->state != OPEN)
				g->opened++;
			g->state = OPEN;
			g->probing = 0;
			g->open_until_ms = st_now_ms() + g->open_ms;
		}
	}
	pthread_mutex_unlock(&lock);
}

/* ---------------------------------------------------------------- retries */

long
st_guard_retry_wait(struct st_guard *g, const struct st_retry_policy *p,
                    long long started_ms, unsigned attempt,
                    const struct st_xfer_result *r, long status,
                    const char *code, unsigned after_ms)
{
	long answered = r->ok ? status : 0;
	unsigned wait_ms;

	if (attempt >= p->max_attempts ||
	    !st_retry_retryable(answered, r->curl_code, code))
		return -1;
	if (p->deadline_ms > 0 && st_now_ms() - started_ms > p->deadline_ms)
		return -1;
	wait_ms = st_retry_delay(p, attempt + 1, r->ok ? after_ms : 0);
	if (st_guard_retry(g, st_retry_reason(answered, r->curl_code,
	    r->timed_out, code), wait_ms) == -1)
		return -1;
	return (long)wait_ms;
}

void
st_guard_report(struct st_guard *g, const struct st_xfer_result *r,
                long status, const char *code, unsigned attempts)
{
	int healthy = r->ok ? !st_retry_retryable(status, 0, code) :
	    !st_retry_retryable(0, r->curl_code, NULL);

	st_guard_outcome(g, healthy, attempts > 1);
}

/* ---------------------------------------------------------------- metrics */

static void
render_counter(struct st_buf *o, const char *name, const char *help,
               size_t offset)
{
	struct st_guard *g;

	st_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (g = guards; g != NULL; g = g->next)
		st_buf_printf(o, "%s{store=\"%s\"} %llu\n", name, g->store,
		    *(unsigned long long *)((char *)g + offset));
}

void
st_guard_render(struct st_buf *o)
{
	struct st_guard *g;
	struct budget *b;
	size_t i;

	pthread_mutex_lock(&lock);
	render_counter(o, "stratus_provider_attempts_total",
	    "Attempts sent to providers.", offsetof(struct st_guard, attempts));
	st_buf_adds(o, "# HELP stratus_provider_retries_total Retries, by reason.\n"
	    "# TYPE stratus_provider_retries_total counter\n");
	for (g = guards; g != NULL; g = g->next)
		for (i = 0; i < NREASONS; i++)
			st_buf_printf(o, "stratus_provider_retries_total{store=\"%s\","
			    "reason=\"%s\"} %llu\n", g->store, reasons[i],
			    g->retries[i]);
	render_counter(o, "stratus_retry_budget_refusals_total", "Retries the "
	    "retry budget refused.", offsetof(struct st_guard, refusals));
	render_counter(o, "stratus_retry_wait_milliseconds_total", "Time spent "
	    "waiting before retries.", offsetof(struct st_guard, wait_ms));
	render_counter(o, "stratus_breaker_rejections_total", "Calls answered "
	    "503 at once because the circuit was open.",
	    offsetof(struct st_guard, rejected));
	render_counter(o, "stratus_breaker_opened_total", "Times the circuit "
	    "opened.", offsetof(struct st_guard, opened));
	st_buf_adds(o, "# HELP stratus_breaker_state Circuit state per store "
	    "(1 for the current state).\n# TYPE stratus_breaker_state gauge\n");
	for (g = guards; g != NULL; g = g->next)
		for (i = 0; i < 3; i++)
			st_buf_printf(o, "stratus_breaker_state{store=\"%s\",state="
			    "\"%s\"} %d\n", g->store, state_names[i],
			    g->state == (enum breaker_state)i);
	st_buf_adds(o, "# HELP stratus_retry_budget_tokens Tokens left in each "
	    "endpoint's retry budget.\n# TYPE stratus_retry_budget_tokens gauge\n");
	for (b = budgets; b != NULL; b = b->next) {
		const char *c;

		st_buf_adds(o, "stratus_retry_budget_tokens{endpoint=\"");
		for (c = b->endpoint; *c != '\0'; c++)
			if (*c != '"' && *c != '\\' && *c != '\n')
				st_buf_add(o, c, 1);
		st_buf_printf(o, "\"} %u\n", b->tokens);
	}
	pthread_mutex_unlock(&lock);
}
