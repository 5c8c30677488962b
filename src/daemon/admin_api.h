/*
 * admin_api.h - the endpoints about the daemon itself.
 */
#ifndef STRATUS_DAEMON_ADMIN_API_H
#define STRATUS_DAEMON_ADMIN_API_H

#include "daemon/server.h"

enum MHD_Result st_admin_health(struct st_req *);
enum MHD_Result st_admin_ready(struct st_req *);
enum MHD_Result st_admin_metrics(struct st_req *);
enum MHD_Result st_admin_stores(struct st_req *);

#endif
