/*
 * retry.h - when a provider exchange is tried again, and after how long.
 *
 * Shared by every backend so that "retry what is safe" means the same on
 * every provider: connection failures, timeouts, 408, 429, 500, 502, 503,
 * 504 and the providers' throttling codes; never a 4xx that means "no".
 */
#ifndef STRATUS_CORE_RETRY_H
#define STRATUS_CORE_RETRY_H

#include <libconfig.h>

struct st_retry_policy {
	unsigned max_attempts;		/* including the first */
	unsigned base_delay_ms;
	unsigned max_delay_ms;
	unsigned attempt_timeout_ms;	/* with no byte moving */
	unsigned deadline_ms;		/* all attempts of one call; 0: none */
	unsigned breaker_failures;	/* unhealthy calls in a row; 0: never */
	unsigned breaker_open_ms;	/* how long the circuit stays open */
};

/* Defaults close to the AWS SDKs' standard mode. */
void st_retry_defaults(struct st_retry_policy *);
/* Reads a `retry = { ... }` group over p (missing keys keep p's values).
 * Returns -1 with a reason in err on a bad value. */
int  st_retry_from_config(const config_setting_t *, struct st_retry_policy *p,
                          char *err, size_t errlen);

/* Is this outcome worth another attempt? status 0 means no HTTP answer
 * (curl_code says why); provider_code may be NULL. */
int  st_retry_retryable(long status, int curl_code, const char *provider_code);

/* Why an outcome is retried, as a metrics label: "connection",
 * "timeout", "throttled", "server_error" or "other". */
const char *st_retry_reason(long status, int curl_code, int timed_out,
                            const char *provider_code);

/* The wait a provider asked for, in milliseconds, from the values of its
 * Retry-After (seconds or an HTTP date), x-ms-retry-after-ms and
 * x-amz-retry-after (milliseconds) headers; any may be NULL. 0: none. */
unsigned st_retry_after_ms(const char *retry_after, const char *ms_header,
                           const char *amz_header);

/* Milliseconds to wait before attempt number `attempt` (2, 3, ...):
 * full jitter over an exponential cap, or the provider's Retry-After when
 * it asked for longer, but never more than max_delay_ms. */
unsigned st_retry_delay(const struct st_retry_policy *, unsigned attempt,
                        unsigned retry_after_ms);

#endif
