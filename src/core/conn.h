/*
 * conn.h - how a store, or a credentials group, reaches its provider:
 * trusted certificates, a proxy, and whether plain http:// may be used.
 */
#ifndef STRATUS_CONN_H
#define STRATUS_CONN_H

#include <stddef.h>

#include <libconfig.h>

#include <stratus/backend.h>

/* The settings read here, for a plugin's list of the keys it takes. */
#define ST_CONN_KEYS	"ca_file", "ca_path", "proxy", "no_proxy", "allow_http"

struct st_conn {
	char	*ca_file;	/* CA bundle (PEM), or NULL: the system's */
	char	*ca_path;	/* hashed CA directory, or NULL */
	char	*proxy;		/* http(s)://host:port, or NULL */
	char	*no_proxy;	/* hosts that bypass it, or NULL */
	int	 allow_http;	/* plain http:// to any host */
};

/* The settings of the group g (a store or a credentials group) that c
 * does not have yet: a store reads its own group first, then its
 * credentials group's. Relative paths are taken from the configuration's
 * directory. 0, or -1 with a reason. */
int  st_conn_read(struct st_conn *c, const config_setting_t *g,
                  const struct st_store_env *env, char *err, size_t errlen);
/* A store's settings, completed by those of its credentials entry
 * (env->credentials, if any). 0, or -1 with a reason. */
int  st_conn_for_store(struct st_conn *c, const config_setting_t *store,
                       const struct st_store_env *env, char *err,
                       size_t errlen);
/* The one rule for endpoints: https://, or http:// to a loopback address
 * or a link-local metadata address (by number), or to any host when
 * allow_http is set (c may be NULL: not set). 1, or 0 with a reason. */
int  st_conn_url_allowed(const struct st_conn *c, const char *url, char *why,
                         size_t whylen);
/* Sets c's options on a curl easy handle (CURL *). */
void st_conn_apply(const struct st_conn *c, void *easy);
void st_conn_clear(struct st_conn *c);

#endif
