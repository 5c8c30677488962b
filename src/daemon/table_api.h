/*
 * table_api.h - the table requests of the v1 API (table_api.c).
 */
#ifndef STRATUS_DAEMON_TABLE_API_H
#define STRATUS_DAEMON_TABLE_API_H

#include "daemon/server.h"

/* Routed, authenticated: checks and starts a /v1/tables/... request. */
enum MHD_Result st_table_start(struct st_req *);

#endif
