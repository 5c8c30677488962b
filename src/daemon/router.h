/*
 * router.h - from method and path to a route, a store and a raw key.
 */
#ifndef STRATUS_DAEMON_ROUTER_H
#define STRATUS_DAEMON_ROUTER_H

#include <stddef.h>

#include "core/validate.h"
#include "daemon/metrics.h"

enum st_route_error {
	ST_ROUTE_OK,
	ST_ROUTE_NOT_FOUND,	/* no such path: 404 not_found */
	ST_ROUTE_BAD_STORE,	/* store segment is not a store name: 404 */
	ST_ROUTE_BAD_METHOD	/* 405 with route.allow */
};

struct st_route {
	enum st_route_id id;
	char		 store[ST_STORE_NAME_MAX + 1];	/* decoded, valid */
	const char	*raw_key;	/* points into the path, percent-encoded */
	size_t		 raw_keylen;
	const char	*allow;		/* methods of this path, for Allow */
};

/* path is the raw request path (not decoded, no query string). */
enum st_route_error st_route_match(const char *method, const char *path,
                                   struct st_route *);

#endif
