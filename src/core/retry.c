/*
 * retry.c - the retry policy: what to retry and the backoff.
 *
 * Backoff is "full jitter": a uniformly random wait between 0 and
 * min(max_delay, base * 2^(attempt-2)). Random waits spread the retries of
 * many clients, which fixed waits would synchronise into waves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "core/confval.h"
#include "core/retry.h"

static const char *const throttle_codes[] = {
	"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
	"ServerBusy", "OperationTimedOut", "InternalServerError",
	"ProvisionedThroughputExceededException", "ThrottlingException",
	"Throttling", "RequestLimitExceeded", "TooManyRequestsException",
	"RequestThrottled", NULL
};

void
st_retry_defaults(struct st_retry_policy *p)
{
	p->max_attempts = 4;
	p->base_delay_ms = 100;
	p->max_delay_ms = 20000;
	p->attempt_timeout_ms = 30000;
	p->deadline_ms = 0;
	p->breaker_failures = 5;
	p->breaker_open_ms = 5000;
}

static int
read_uint(const config_setting_t *g, const char *name, unsigned min,
          unsigned max, unsigned *out, char *err, size_t errlen)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	char why[400];
	long long v;

	if (s == NULL)
		return 0;
	if (st_confval_int(s, min, max, &v, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "line %d: retry: %s",
		    (int)config_setting_source_line(s), why);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* The first setting of g not named in keys, or NULL. */
static const config_setting_t *
unknown_setting(const config_setting_t *g, const char *const *keys)
{
	int i, n = config_setting_length(g);
	const char *const *k;

	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g,
		    (unsigned)i);

		for (k = keys; *k != NULL; k++)
			if (strcmp(*k, config_setting_name(s)) == 0)
				break;
		if (*k == NULL)
			return s;
	}
	return NULL;
}

int
st_retry_from_config(const config_setting_t *g, struct st_retry_policy *p,
                     char *err, size_t errlen)
{
	static const char *const keys[] = { "max_attempts", "base_delay_ms",
	    "max_delay_ms", "attempt_timeout_ms", "deadline_ms",
	    "breaker_failures", "breaker_open_ms", NULL };
	const config_setting_t *bad;

	if (g == NULL)
		return 0;
	if (!config_setting_is_group(g)) {
		snprintf(err, errlen, "line %d: retry must be a group { ... }",
		    (int)config_setting_source_line(g));
		return -1;
	}
	if ((bad = unknown_setting(g, keys)) != NULL) {
		snprintf(err, errlen, "line %d: retry: unknown setting '%s'",
		    (int)config_setting_source_line(bad),
		    config_setting_name(bad));
		return -1;
	}
	if (read_uint(g, "max_attempts", 1, 20, &p->max_attempts, err, errlen) ||
	    read_uint(g, "base_delay_ms", 1, 60000, &p->base_delay_ms, err, errlen) ||
	    read_uint(g, "max_delay_ms", 1, 600000, &p->max_delay_ms, err, errlen) ||
	    read_uint(g, "attempt_timeout_ms", 100, 3600000,
	        &p->attempt_timeout_ms, err, errlen) ||
	    read_uint(g, "deadline_ms", 0, 86400000, &p->deadline_ms, err, errlen) ||
	    read_uint(g, "breaker_failures", 0, 1000, &p->breaker_failures,
	        err, errlen) ||
	    read_uint(g, "breaker_open_ms", 10, 3600000, &p->breaker_open_ms,
	        err, errlen))
		return -1;
	return 0;
}

static int
is_throttle_code(const char *code)
{
	size_t i;

	for (i = 0; code != NULL && throttle_codes[i] != NULL; i++)
		if (strcmp(code, throttle_codes[i]) == 0)
			return 1;
	return 0;
}

int
st_retry_retryable(long status, int curl_code, const char *provider_code)
{
	if (status == 0)
		return curl_code != CURLE_OK && curl_code != CURLE_ABORTED_BY_CALLBACK &&
		    curl_code != CURLE_WRITE_ERROR && curl_code != CURLE_READ_ERROR;
	if (is_throttle_code(provider_code))
		return 1;
	return status == 408 || status == 429 || status == 500 ||
	    status == 502 || status == 503 || status == 504;
}

const char *
st_retry_reason(long status, int curl_code, int timed_out,
                const char *provider_code)
{
	if (status == 0)
		return timed_out || curl_code == CURLE_OPERATION_TIMEDOUT ?
		    "timeout" : "connection";
	if (status == 408 || status == 504)
		return "timeout";
	if (status == 429 || (is_throttle_code(provider_code) &&
	    strcmp(provider_code, "InternalError") != 0))
		return "throttled";
	if (status >= 500)
		return "server_error";
	return "other";
}

unsigned
st_retry_after_ms(const char *retry_after, const char *ms_header,
                  const char *amz_header)
{
	char *end;
	unsigned long v;

	if (ms_header != NULL && (v = strtoul(ms_header, &end, 10)) > 0 &&
	    *end == '\0')
		return v > 3600000 ? 3600000 : (unsigned)v;
	if (amz_header != NULL && (v = strtoul(amz_header, &end, 10)) > 0 &&
	    *end == '\0')
		return v > 3600000 ? 3600000 : (unsigned)v;
	if (retry_after == NULL)
		return 0;
	v = strtoul(retry_after, &end, 10);
	if (end != retry_after && *end == '\0')
		return v > 3600 ? 3600000 : (unsigned)v * 1000;
	/* An HTTP date: how far in the future it is. */
	{
		time_t when = curl_getdate(retry_after, NULL), now = time(NULL);

		if (when > now)
			return when - now > 3600 ? 3600000 : (unsigned)(when - now) * 1000;
	}
	return 0;
}

unsigned
st_retry_delay(const struct st_retry_policy *p, unsigned attempt,
               unsigned retry_after_ms)
{
	unsigned long long cap = p->base_delay_ms;
	unsigned rnd = 0, delay;

	while (attempt > 2 && cap < p->max_delay_ms) {
		cap *= 2;
		attempt--;
	}
	if (cap > p->max_delay_ms)
		cap = p->max_delay_ms;
	RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
	delay = (unsigned)(rnd % (cap + 1));
	if (retry_after_ms > delay)
		delay = retry_after_ms < p->max_delay_ms ? retry_after_ms :
		    p->max_delay_ms;
	return delay;
}
