/*
 * conn.c - how a store, or a credentials group, reaches its provider.
 *
 * Five settings may stand on a store and on a credentials group:
 * ca_file and ca_path (whom to trust, instead of the system's CA
 * certificates), proxy and no_proxy (instead of the environment's
 * https_proxy and no_proxy), and allow_http. A store's own setting wins;
 * what it leaves out it takes from the credentials group it names, so
 * that one group says once how its stores and its own endpoints (STS,
 * instance metadata, the container endpoint) are reached.
 *
 * They are checked here, once, as the configuration is read: the CA file
 * and directory must be readable, a proxy must be an http(s):// URL with
 * a host. Certificate and host-name verification are never turned off;
 * curl's defaults (both on) are left alone.
 *
 * One rule decides where plain http:// may go (st_conn_url_allowed):
 * loopback addresses and "localhost", and the link-local metadata
 * addresses named by their number (any other name could resolve
 * anywhere), unless the store or the group says allow_http = true.
 * Everything else needs https://.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/conn.h"

/* A string setting of g into *out, unless *out is set already. */
static int
take_string(const config_setting_t *g, const char *key, char **out,
            char *err, size_t errlen)
{
	const char *v;

	if (*out != NULL || !config_setting_lookup_string(g, key, &v))
		return 0;
	if (*v == '\0' || strlen(v) > 4096) {
		snprintf(err, errlen, "%s must be a non-empty string", key);
		return -1;
	}
	if ((*out = strdup(v)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* *out made absolute from the configuration's directory, and checked:
 * a readable file (dir 0) or directory (dir 1). */
static int
check_path(char **out, int dir, const struct st_store_env *env,
           const char *key, char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	char *abs;

	if (*out == NULL)
		return 0;
	if ((*out)[0] == '/' || env == NULL || env->config_dir == NULL)
		snprintf(path, sizeof(path), "%s", *out);
	else
		snprintf(path, sizeof(path), "%s/%s", env->config_dir, *out);
	if (stat(path, &st) == -1 || access(path, R_OK) == -1 ||
	    (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
		snprintf(err, errlen, "%s '%s' is not a readable %s", key, path,
		    dir ? "directory" : "file");
		return -1;
	}
	if ((abs = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(*out);
	*out = abs;
	return 0;
}

static int
check_proxy(const char *proxy, char *err, size_t errlen)
{
	const char *host;

	if (proxy == NULL)
		return 0;
	if (strncmp(proxy, "http://", 7) == 0)
		host = proxy + 7;
	else if (strncmp(proxy, "https://", 8) == 0)
		host = proxy + 8;
	else
		host = NULL;
	if (host == NULL || *host == '\0' || *host == '/' || *host == ':' ||
	    strpbrk(proxy, " \t\r\n") != NULL) {
		snprintf(err, errlen, "proxy must be an http:// or https:// URL "
		    "with a host");
		return -1;
	}
	return 0;
}

int
st_conn_read(struct st_conn *c, const config_setting_t *g,
             const struct st_store_env *env, char *err, size_t errlen)
{
	int allow;

	if (g == NULL)
		return 0;
	if (take_string(g, "ca_file", &c->ca_file, err, errlen) == -1 ||
	    take_string(g, "ca_path", &c->ca_path, err, errlen) == -1 ||
	    take_string(g, "proxy", &c->proxy, err, errlen) == -1 ||
	    take_string(g, "no_proxy", &c->no_proxy, err, errlen) == -1 ||
	    check_path(&c->ca_file, 0, env, "ca_file", err, errlen) == -1 ||
	    check_path(&c->ca_path, 1, env, "ca_path", err, errlen) == -1 ||
	    check_proxy(c->proxy, err, errlen) == -1)
		return -1;
	if (config_setting_lookup_bool(g, "allow_http", &allow) && allow)
		c->allow_http = 1;
	return 0;
}

int
st_conn_for_store(struct st_conn *c, const config_setting_t *store,
                  const struct st_store_env *env, char *err, size_t errlen)
{
	char why[512];

	if (st_conn_read(c, store, env, err, errlen) == -1)
		return -1;
	if (env->credentials == NULL)
		return 0;
	if (st_conn_read(c, env->credentials, env, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "credentials '%s': %s",
		    env->credentials_name, why);
		return -1;
	}
	return 0;
}

/* The host of url (brackets of an IPv6 address dropped). */
static void
url_host(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://"), *end;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += 3;
	if (*p == '[') {
		p++;
		end = strchr(p, ']');
	} else {
		end = p + strcspn(p, ":/?#");
	}
	if (end != NULL && (size_t)(end - p) < cap)
		snprintf(out, cap, "%.*s", (int)(end - p), p);
}

int
st_conn_url_allowed(const struct st_conn *c, const char *url, char *why,
                    size_t whylen)
{
	static const char *const plain_ok[] = {
		"169.254.169.254", "169.254.170.2", "169.254.170.23",
		"fd00:ec2::254", "fd00:ec2::23", "::1", NULL
	};
	const char *auth = strstr(url, "://");
	char host[256];
	size_t i;

	if (auth == NULL || (strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "http://", 7) != 0)) {
		snprintf(why, whylen, "the endpoint must be an http(s):// URL");
		return 0;
	}
	auth += 3;
	if (memchr(auth, '@', strcspn(auth, "/?#")) != NULL) {
		snprintf(why, whylen, "the endpoint must not hold user "
		    "information");
		return 0;
	}
	if (strncmp(url, "https://", 8) == 0 || (c != NULL && c->allow_http))
		return 1;
	url_host(url, host, sizeof(host));
	if ((strncmp(host, "127.", 4) == 0 &&
	    strspn(host, "0123456789.") == strlen(host)) ||
	    strcasecmp(host, "localhost") == 0)
		return 1;
	for (i = 0; plain_ok[i] != NULL; i++)
		if (strcmp(host, plain_ok[i]) == 0)
			return 1;
	snprintf(why, whylen, "plain http:// is refused for %s (only loopback "
	    "and the link-local metadata addresses; allow_http = true allows "
	    "it)", host);
	return 0;
}

void
st_conn_apply(const struct st_conn *c, void *easy)
{
	CURL *h = easy;

	if (c == NULL)
		return;
	if (c->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_path != NULL)
		curl_easy_setopt(h, CURLOPT_CAPATH, c->ca_path);
	if (c->proxy != NULL) {
		curl_easy_setopt(h, CURLOPT_PROXY, c->proxy);
		/* The proxy's answer to CONNECT is not the provider's. */
		curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	}
	if (c->no_proxy != NULL)
		curl_easy_setopt(h, CURLOPT_NOPROXY, c->no_proxy);
}

void
st_conn_clear(struct st_conn *c)
{
	free(c->ca_file);
	free(c->ca_path);
	free(c->proxy);
	free(c->no_proxy);
	memset(c, 0, sizeof(*c));
}
