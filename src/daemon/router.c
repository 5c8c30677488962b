/*
 * router.c - the API's URL space.
 *
 *   /v1/health /v1/ready /v1/stores /metrics /v1/presign
 *   /v1/blobs/STORE[/]        listing
 *   /v1/blobs/STORE/KEY...    one blob (KEY is everything after STORE/)
 *   /v1/queues/... /v1/tables/...
 *
 * Paths arrive raw (the daemon turns off libmicrohttpd's unescaping) so
 * that the key is decoded exactly once, by st_decode_key, where an encoded
 * '/' or NUL can be judged.
 */
#include <string.h>

#include "daemon/router.h"

struct fixed_route {
	const char	*path;
	enum st_route_id id;
	const char	*allow;
};

static const struct fixed_route fixed[] = {
	{ "/v1/health", ST_ROUTE_HEALTH, "GET, HEAD" },
	{ "/v1/ready", ST_ROUTE_READY, "GET, HEAD" },
	{ "/v1/stores", ST_ROUTE_STORES, "GET, HEAD" },
	{ "/metrics", ST_ROUTE_METRICS, "GET, HEAD" },
	{ "/v1/presign", ST_ROUTE_PRESIGN, "POST" },
};

struct prefix_route {
	const char	*prefix;
	enum st_route_id whole;		/* STORE alone */
	enum st_route_id item;		/* STORE/REST */
	const char	*allow_whole;
	const char	*allow_item;
};

static const struct prefix_route prefixed[] = {
	{ "/v1/blobs/", ST_ROUTE_BLOB_LIST, ST_ROUTE_BLOB, "GET, HEAD",
	  "GET, HEAD, PUT, DELETE" },
	{ "/v1/queues/", ST_ROUTE_QUEUE, ST_ROUTE_QUEUE, "PUT, DELETE",
	  "GET, POST, DELETE, PATCH" },
	{ "/v1/tables/", ST_ROUTE_TABLE, ST_ROUTE_TABLE, "PUT, DELETE",
	  "GET, PUT, DELETE" },
};

/* Is method one of the comma-separated list? */
static int
method_allowed(const char *method, const char *allow)
{
	size_t n = strlen(method);
	const char *p = allow;

	if (n == 0)
		return 0;	/* strstr would find "" everywhere, for ever */
	while ((p = strstr(p, method)) != NULL) {
		if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

static enum st_route_error
check_method(const char *method, struct st_route *r)
{
	return method_allowed(method, r->allow) ? ST_ROUTE_OK : ST_ROUTE_BAD_METHOD;
}

static enum st_route_error
match_prefixed(const char *method, const char *rest,
               const struct prefix_route *pr, struct st_route *r)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	long dn;

	dn = st_percent_decode(rest, n, r->store, sizeof(r->store));
	if (dn < 0 || !st_valid_store_name(r->store, (size_t)dn) ||
	    strlen(r->store) != (size_t)dn)
		return ST_ROUTE_BAD_STORE;
	if (slash == NULL || slash[1] == '\0') {
		r->id = pr->whole;
		r->allow = pr->allow_whole;
	} else {
		r->id = pr->item;
		r->allow = pr->allow_item;
		r->raw_key = slash + 1;
		r->raw_keylen = strlen(slash + 1);
	}
	return check_method(method, r);
}

enum st_route_error
st_route_match(const char *method, const char *path, struct st_route *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->id = ST_ROUTE_OTHER;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (strcmp(path, fixed[i].path) == 0) {
			r->id = fixed[i].id;
			r->allow = fixed[i].allow;
			return check_method(method, r);
		}
	}
	for (i = 0; i < sizeof(prefixed) / sizeof(prefixed[0]); i++) {
		size_t n = strlen(prefixed[i].prefix);

		if (strncmp(path, prefixed[i].prefix, n) == 0)
			return match_prefixed(method, path + n, &prefixed[i], r);
	}
	return ST_ROUTE_NOT_FOUND;
}
