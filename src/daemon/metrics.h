/*
 * metrics.h - counters for /metrics, in Prometheus text format.
 */
#ifndef STRATUS_DAEMON_METRICS_H
#define STRATUS_DAEMON_METRICS_H

#include <stdint.h>

#include "core/buf.h"

/* The routes requests are counted by: a fixed set, so the label space is
 * bounded whatever the application sends. */
enum st_route_id {
	ST_ROUTE_HEALTH,
	ST_ROUTE_READY,
	ST_ROUTE_STORES,
	ST_ROUTE_METRICS,
	ST_ROUTE_BLOB,
	ST_ROUTE_BLOB_LIST,
	ST_ROUTE_PRESIGN,
	ST_ROUTE_QUEUE,
	ST_ROUTE_TABLE,
	ST_ROUTE_OTHER,
	ST_ROUTE_COUNT
};

const char *st_route_name(enum st_route_id);

void st_metrics_request_start(void);
void st_metrics_request_end(enum st_route_id, const char *method, int status,
                            double seconds, uint64_t bytes_in,
                            uint64_t bytes_out);
void st_metrics_render(struct st_buf *);

#endif
