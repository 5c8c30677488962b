/*
 * queue_api.h - the queue requests of the v1 API (queue_api.c).
 */
#ifndef STRATUS_DAEMON_QUEUE_API_H
#define STRATUS_DAEMON_QUEUE_API_H

#include "daemon/server.h"

/* Routed, authenticated: checks and starts a /v1/queues/... request. */
enum MHD_Result st_queue_start(struct st_req *);

#endif
