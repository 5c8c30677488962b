/*
 * auth.h - who is calling, and what may they do.
 */
#ifndef STRATUS_DAEMON_AUTH_H
#define STRATUS_DAEMON_AUTH_H

#include "daemon/config.h"

enum st_auth_result {
	ST_AUTH_CLIENT,		/* a known token */
	ST_AUTH_ANONYMOUS,	/* no Authorization header at all */
	ST_AUTH_BAD		/* a header, but no known bearer token */
};

/* Identifies the caller from the Authorization header (may be NULL). */
enum st_auth_result st_auth_identify(const struct st_config *,
                                     const char *authorization,
                                     const struct st_client **client);

/* The rights (ST_RIGHT_*) the caller has on a store, within its kind's.
 * An anonymous caller has all of them where anonymous access is
 * configured, none elsewhere. */
unsigned st_auth_perms(const struct st_config *, const struct st_client *,
                       int anonymous, const struct st_store *);

#endif
