/*
 * guard.h - what stands between a provider outage and a retry storm.
 *
 * Two mechanisms, shared by every backend:
 *
 *   retry budget     one token bucket per provider endpoint, as in the AWS
 *                    SDKs' standard mode: a retry costs tokens (more after
 *                    a timeout), a success pays a little back, and an empty
 *                    bucket means "answer the error now, do not retry".
 *                    When a provider fails everything, retries stop after
 *                    a bounded number instead of multiplying its load.
 *
 *   circuit breaker  one per store: after `breaker_failures` calls in a row
 *                    that ended unhealthy (no answer, 5xx, throttled), it
 *                    opens and calls fail at once with 503 and Retry-After;
 *                    after `breaker_open_ms` it lets one probe call through
 *                    (half open): a healthy probe closes it, else it opens
 *                    again.
 *
 * Every decision is counted for /metrics (st_guard_render).
 *
 * A backend asks st_guard_retry_wait after each failed attempt and, once
 * an exchange is not retried any more, tells st_guard_report how it ended:
 * the two together are the whole of its retry loop but for restarting the
 * exchange.
 */
#ifndef STRATUS_CORE_GUARD_H
#define STRATUS_CORE_GUARD_H

#include "core/buf.h"
#include "core/retry.h"
#include "core/transfer.h"

struct st_guard;

/* Opens the guard of one store; endpoint names the provider endpoint whose
 * budget it shares with other stores (e.g. "https://s3.eu-west-1..."). */
struct st_guard *st_guard_open(const char *store, const char *endpoint,
                               const struct st_retry_policy *);
void st_guard_close(struct st_guard *);

/* Before a call's first attempt: 0 to go ahead, or -1 when the circuit is
 * open, with the seconds to wait in *retry_after_s. A call admitted as the
 * half-open probe must report its outcome. */
int  st_guard_admit(struct st_guard *, unsigned *retry_after_s);

/* Counts one attempt sent to the provider. */
void st_guard_attempt(struct st_guard *);

/* Before a retry: takes its cost from the budget. reason is one of the
 * st_retry_reason() words; wait_ms is the backoff about to be waited.
 * Returns 0 when the retry may go, -1 when the budget refuses it. */
int  st_guard_retry(struct st_guard *, const char *reason, unsigned wait_ms);

/* A call's final outcome. healthy: the provider answered (even "no");
 * retried: it took more than one attempt. */
void st_guard_outcome(struct st_guard *, int healthy, int retried);

/*
 * After a failed attempt of an exchange: whether to try it again, and
 * after how long. The policy decides first (attempts, deadline, what is
 * retryable), then the endpoint's retry budget. The call began at
 * started_ms (monotonic); `attempt` is the number of the attempt that
 * ended with r and status (0: no answer) and the provider's error code
 * (or NULL); after_ms is the wait the provider asked for (0: none).
 * Returns the wait in milliseconds, or -1 for "do not retry".
 */
long st_guard_retry_wait(struct st_guard *, const struct st_retry_policy *,
                         long long started_ms, unsigned attempt,
                         const struct st_xfer_result *r, long status,
                         const char *code, unsigned after_ms);

/* Tells the breaker how an exchange ended, once it is not retried, after
 * `attempts` attempts. A transfer stopped on purpose (the client left)
 * says nothing of the provider's health and counts as healthy. */
void st_guard_report(struct st_guard *, const struct st_xfer_result *r,
                     long status, const char *code, unsigned attempts);

/* Appends every guard's counters in Prometheus text format. */
void st_guard_render(struct st_buf *);

#endif
