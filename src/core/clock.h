/*
 * clock.h - the one clock for timeouts, backoffs and deadlines.
 *
 * Monotonic milliseconds: a wall-clock step (NTP, an operator) must never
 * fire a timer early or hold a retry back.
 */
#ifndef STRATUS_CORE_CLOCK_H
#define STRATUS_CORE_CLOCK_H

#include <time.h>

static inline long long
st_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
