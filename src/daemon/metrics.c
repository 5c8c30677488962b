/*
 * metrics.c - request counters and latency histograms.
 *
 * Everything is a relaxed atomic counter in fixed arrays: no lock and no
 * allocation on the request path, and a bounded set of series. Methods are
 * folded into a fixed list and statuses are counted exactly (100..599).
 */
#include <stdatomic.h>
#include <string.h>

#include "core/creds.h"
#include "core/guard.h"
#include "daemon/metrics.h"

static const char *route_names[ST_ROUTE_COUNT] = {
	"health", "ready", "stores", "metrics", "blob", "blob_list",
	"presign", "queue", "table", "other"
};

static const char *methods[] = { "GET", "HEAD", "PUT", "POST", "DELETE",
	"PATCH", "OTHER" };
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static atomic_uint_fast64_t requests[ST_ROUTE_COUNT][NMETHODS][500];
static atomic_uint_fast64_t hist[ST_ROUTE_COUNT][NBUCKETS + 1];
static atomic_uint_fast64_t hist_sum_us[ST_ROUTE_COUNT];
static atomic_uint_fast64_t hist_count[ST_ROUTE_COUNT];
static atomic_uint_fast64_t bytes_in, bytes_out;
static atomic_int_fast64_t in_flight;

const char *
st_route_name(enum st_route_id r)
{
	return route_names[r];
}

static size_t
method_index(const char *m)
{
	size_t i;

	for (i = 0; i < NMETHODS - 1; i++)
		if (strcmp(m, methods[i]) == 0)
			return i;
	return NMETHODS - 1;
}

void
st_metrics_request_start(void)
{
	atomic_fetch_add_explicit(&in_flight, 1, memory_order_relaxed);
}

void
st_metrics_request_end(enum st_route_id r, const char *method, int status,
                       double seconds, uint64_t in, uint64_t out)
{
	size_t b;

	atomic_fetch_sub_explicit(&in_flight, 1, memory_order_relaxed);
	if (status < 100 || status > 599)
		status = 599;
	atomic_fetch_add_explicit(&requests[r][method_index(method)][status - 100],
	    1, memory_order_relaxed);
	for (b = 0; b < NBUCKETS && seconds > buckets[b]; b++)
		;
	atomic_fetch_add_explicit(&hist[r][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&hist_sum_us[r], (uint64_t)(seconds * 1e6),
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&hist_count[r], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&bytes_in, in, memory_order_relaxed);
	atomic_fetch_add_explicit(&bytes_out, out, memory_order_relaxed);
}

static uint64_t
get(atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void
render_requests(struct st_buf *o)
{
	size_t r, m, s;

	st_buf_adds(o, "# HELP stratus_http_requests_total Requests answered, "
	    "by route, method and status.\n"
	    "# TYPE stratus_http_requests_total counter\n");
	for (r = 0; r < ST_ROUTE_COUNT; r++)
		for (m = 0; m < NMETHODS; m++)
			for (s = 0; s < 500; s++)
				if (get(&requests[r][m][s]) > 0)
					st_buf_printf(o, "stratus_http_requests_total"
					    "{route=\"%s\",method=\"%s\",status=\"%zu\"} "
					    "%llu\n", route_names[r], methods[m], s + 100,
					    (unsigned long long)get(&requests[r][m][s]));
}

static void
render_latency(struct st_buf *o)
{
	size_t r, b;

	st_buf_adds(o, "# HELP stratus_http_request_duration_seconds Time from "
	    "request to the end of the answer.\n"
	    "# TYPE stratus_http_request_duration_seconds histogram\n");
	for (r = 0; r < ST_ROUTE_COUNT; r++) {
		uint64_t cum = 0, count = get(&hist_count[r]);

		if (count == 0)
			continue;
		for (b = 0; b <= NBUCKETS; b++) {
			cum += get(&hist[r][b]);
			if (b < NBUCKETS)
				st_buf_printf(o, "stratus_http_request_duration_seconds_"
				    "bucket{route=\"%s\",le=\"%g\"} %llu\n",
				    route_names[r], buckets[b], (unsigned long long)cum);
			else
				st_buf_printf(o, "stratus_http_request_duration_seconds_"
				    "bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
				    route_names[r], (unsigned long long)cum);
		}
		st_buf_printf(o, "stratus_http_request_duration_seconds_sum"
		    "{route=\"%s\"} %.6f\n", route_names[r],
		    (double)get(&hist_sum_us[r]) / 1e6);
		st_buf_printf(o, "stratus_http_request_duration_seconds_count"
		    "{route=\"%s\"} %llu\n", route_names[r],
		    (unsigned long long)count);
	}
}

void
st_metrics_render(struct st_buf *o)
{
	render_requests(o);
	render_latency(o);
	st_guard_render(o);
	st_creds_render(o);
	st_buf_printf(o, "# HELP stratus_http_received_bytes_total Body bytes "
	    "received from applications.\n"
	    "# TYPE stratus_http_received_bytes_total counter\n"
	    "stratus_http_received_bytes_total %llu\n"
	    "# HELP stratus_http_sent_bytes_total Body bytes sent to applications.\n"
	    "# TYPE stratus_http_sent_bytes_total counter\n"
	    "stratus_http_sent_bytes_total %llu\n"
	    "# HELP stratus_http_requests_in_flight Requests being answered.\n"
	    "# TYPE stratus_http_requests_in_flight gauge\n"
	    "stratus_http_requests_in_flight %lld\n",
	    (unsigned long long)get(&bytes_in), (unsigned long long)get(&bytes_out),
	    (long long)atomic_load(&in_flight));
}
