/*
 * creds.c - what an Azure `credentials` group says, read and checked once
 * when a store opens it:
 *
 *   key_file, sas_file, connection_string_file
 *              an account key (Shared Key), a SAS, or a connection
 *              string: read here, at open and at every reload
 *   source = "client_secret", "workload_identity", "managed_identity"
 *              OAuth2 bearer tokens from Microsoft Entra ID or the
 *              platform, on the core credentials service (shared per
 *              group, fetched and refreshed in the background, see
 *              src/core/creds.h); identity.c asks for them
 *
 * A group has either one of the three files or a source, never both.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/confval.h"
#include "providers/azure/azure.h"
#include "providers/azure/creds.h"

static const char *const az_cred_keys[] = {
	"provider", "account", "key_file", "sas_file",
	"connection_string_file", "endpoint", "source", "tenant_id",
	"client_id", "client_secret_file", "token_file", "authority_host",
	ST_CONN_KEYS, NULL
};

/* The settings that belong to a token source, not to the files. */
static const char *const token_keys[] = {
	"tenant_id", "client_id", "client_secret_file", "token_file",
	"authority_host", NULL
};

static const char *const source_names[] = {
	[AZ_SRC_CLIENT_SECRET] = "client_secret",
	[AZ_SRC_WORKLOAD_IDENTITY] = "workload_identity",
	[AZ_SRC_MANAGED_IDENTITY] = "managed_identity",
};
#define NSOURCES (sizeof(source_names) / sizeof(source_names[0]))

/* ---------------------------------------------------------------- files */

/* 3 to 24 lowercase letters and digits. */
static int
valid_account(const char *a)
{
	size_t n = strlen(a), i;

	if (n < 3 || n > 24)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)a[i]) && !isdigit((unsigned char)a[i]))
			return 0;
	return 1;
}

/* A SAS token: a query string of URL-safe characters that carries sig=. */
static int
valid_sas(const char *s)
{
	const char *p;

	if (*s == '\0' || (strncmp(s, "sig=", 4) != 0 && strstr(s, "&sig=") == NULL))
		return 0;
	for (p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("-._~%&=+/:,", *p) == NULL)
			return 0;
	return 1;
}

/*
 * Parses an Azure Storage connection string: "Name=Value;..." with
 * AccountName, AccountKey, SharedAccessSignature, BlobEndpoint,
 * QueueEndpoint, TableEndpoint, DefaultEndpointsProtocol, EndpointSuffix
 * (other services' endpoints are ignored), or UseDevelopmentStorage=true
 * (Azurite: blob 10000, queue 10001, table 10002 on 127.0.0.1).
 */
static int
parse_connection_string(char *cs, struct az_creds *cr, char *err,
                        size_t errlen)
{
	const char *proto = "https", *suffix = "core.windows.net";
	char *save = NULL, *item;
	int dev = 0;

	for (item = strtok_r(cs, ";", &save); item != NULL;
	    item = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(item, '='), *name = item, *value, *end;
		size_t nlen;

		while (isspace((unsigned char)*name))
			name++;
		if (*name == '\0')
			continue;
		if (eq == NULL) {
			snprintf(err, errlen, "the connection string has an item "
			    "without '='");
			return -1;
		}
		*eq = '\0';
		value = eq + 1;
		end = eq;
		while (end > name && isspace((unsigned char)end[-1]))
			*--end = '\0';
		while (isspace((unsigned char)*value))
			value++;
		end = value + strlen(value);
		while (end > value && isspace((unsigned char)end[-1]))
			*--end = '\0';
		nlen = strlen(name);
		if (strcasecmp(name, "AccountName") == 0) {
			if (st_format(cr->account, sizeof(cr->account), "%s", value) == -1)
				goto toolong;
		} else if (strcasecmp(name, "AccountKey") == 0) {
			if (st_format(cr->key_b64, sizeof(cr->key_b64), "%s", value) == -1)
				goto toolong;
		} else if (strcasecmp(name, "SharedAccessSignature") == 0) {
			if (st_format(cr->sas, sizeof(cr->sas), "%s", value[0] == '?' ?
			    value + 1 : value) == -1)
				goto toolong;
		} else if (strcasecmp(name, "BlobEndpoint") == 0) {
			if (st_format(cr->endpoint, sizeof(cr->endpoint), "%s", value) == -1)
				goto toolong;
		} else if (strcasecmp(name, "DefaultEndpointsProtocol") == 0) {
			if (strcmp(value, "http") == 0)
				proto = "http";
			else if (strcmp(value, "https") != 0) {
				snprintf(err, errlen, "DefaultEndpointsProtocol must be "
				    "http or https");
				return -1;
			}
		} else if (strcasecmp(name, "EndpointSuffix") == 0) {
			suffix = value;
		} else if (strcasecmp(name, "UseDevelopmentStorage") == 0) {
			dev = strcasecmp(value, "true") == 0;
		} else if (strcasecmp(name, "QueueEndpoint") == 0) {
			if (st_format(cr->queue_endpoint, sizeof(cr->queue_endpoint),
			    "%s", value) == -1)
				goto toolong;
		} else if (strcasecmp(name, "TableEndpoint") == 0) {
			if (st_format(cr->table_endpoint, sizeof(cr->table_endpoint),
			    "%s", value) == -1)
				goto toolong;
		} else if (nlen > 8 && strcasecmp(name + nlen - 8, "Endpoint") == 0) {
			/* QueueEndpoint, TableEndpoint, ...: other services */
		} else if (strcasecmp(name, "DevelopmentStorageProxyUri") == 0) {
			/* not used */
		} else {
			snprintf(err, errlen, "the connection string has an unknown "
			    "item '%.64s'", name);
			return -1;
		}
	}
	if (dev) {
		if (cr->account[0] == '\0')
			snprintf(cr->account, sizeof(cr->account), "%s", AZ_DEV_ACCOUNT);
		if (cr->key_b64[0] == '\0' && cr->sas[0] == '\0')
			snprintf(cr->key_b64, sizeof(cr->key_b64), "%s", AZ_DEV_KEY);
		if (cr->endpoint[0] == '\0')
			snprintf(cr->endpoint, sizeof(cr->endpoint),
			    "http://127.0.0.1:10000/%s", cr->account);
		if (cr->queue_endpoint[0] == '\0')
			snprintf(cr->queue_endpoint, sizeof(cr->queue_endpoint),
			    "http://127.0.0.1:10001/%s", cr->account);
		if (cr->table_endpoint[0] == '\0')
			snprintf(cr->table_endpoint, sizeof(cr->table_endpoint),
			    "http://127.0.0.1:10002/%s", cr->account);
	}
	if (cr->account[0] == '\0') {
		snprintf(err, errlen, "the connection string has no AccountName");
		return -1;
	}
	if (cr->key_b64[0] == '\0' && cr->sas[0] == '\0') {
		snprintf(err, errlen, "the connection string has neither "
		    "AccountKey nor SharedAccessSignature");
		return -1;
	}
	if ((cr->endpoint[0] == '\0' && st_format(cr->endpoint,
	    sizeof(cr->endpoint), "%s://%s.blob.%s", proto, cr->account,
	    suffix) == -1) || (cr->queue_endpoint[0] == '\0' &&
	    st_format(cr->queue_endpoint, sizeof(cr->queue_endpoint),
	    "%s://%s.queue.%s", proto, cr->account, suffix) == -1) ||
	    (cr->table_endpoint[0] == '\0' && st_format(cr->table_endpoint,
	    sizeof(cr->table_endpoint), "%s://%s.table.%s", proto, cr->account,
	    suffix) == -1))
		goto toolong;
	return 0;
toolong:
	snprintf(err, errlen, "an item of the connection string is too long");
	return -1;
}

/* ---------------------------------------------------------------- tokens */

int
az_id_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 128 && s[0] != '-' && s[0] != '.' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-.") == n;
}

static int
take(char **out, const char *v, char *err, size_t errlen)
{
	if (v != NULL && (*out = strdup(v)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* A file setting, made absolute as the configuration names files. */
static int
take_path(char **out, const struct st_store_env *env, const char *v,
          char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (v == NULL)
		return 0;
	if (*v == '\0') {
		snprintf(err, errlen, "a file name must not be empty");
		return -1;
	}
	st_conf_path(env, v, path, sizeof(path));
	return take(out, path, err, errlen);
}

/* authority_host: an http(s) URL of a host, kept with one trailing '/'. */
static int
take_authority(struct az_src *s, const char *v, char *err, size_t errlen)
{
	size_t n;

	if (v == NULL)
		return 0;
	n = strlen(v);
	while (n > 0 && v[n - 1] == '/')
		n--;
	if ((strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) ||
	    n <= 8 || n > 256 || strpbrk(v, "?# \t\r\n") != NULL) {
		snprintf(err, errlen, "authority_host must be an http(s):// URL "
		    "of a host, such as \"" AZ_AUTHORITY_DEFAULT "\"");
		return -1;
	}
	if ((s->authority = malloc(n + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(s->authority, n + 2, "%.*s/", (int)n, v);
	if (!st_conn_url_allowed(&s->conn, s->authority, err, errlen))
		return -1;
	return 0;
}

/* Which settings go with which source. */
static int
check_matrix(enum az_src_kind k, const char *tenant, const char *client,
             const char *secret, const char *token, const char *authority,
             char *err, size_t errlen)
{
	if (secret != NULL && k != AZ_SRC_CLIENT_SECRET) {
		snprintf(err, errlen, "client_secret_file belongs to source "
		    "\"client_secret\"");
		return -1;
	}
	if (token != NULL && k != AZ_SRC_WORKLOAD_IDENTITY) {
		snprintf(err, errlen, "token_file belongs to source "
		    "\"workload_identity\"");
		return -1;
	}
	if (k == AZ_SRC_MANAGED_IDENTITY && (tenant != NULL ||
	    authority != NULL)) {
		snprintf(err, errlen, "tenant_id and authority_host do not apply "
		    "to source \"managed_identity\"");
		return -1;
	}
	if (k == AZ_SRC_CLIENT_SECRET && (tenant == NULL || client == NULL ||
	    secret == NULL)) {
		snprintf(err, errlen, "source \"client_secret\" needs tenant_id, "
		    "client_id and client_secret_file");
		return -1;
	}
	if ((tenant != NULL && !az_id_ok(tenant)) ||
	    (client != NULL && !az_id_ok(client))) {
		snprintf(err, errlen, "tenant_id and client_id must be GUIDs or "
		    "domain names (letters, digits, '-', '.')");
		return -1;
	}
	return 0;
}

/* Reads and checks a token group's settings into s. */
static int
read_token_group(const config_setting_t *g, const struct st_store_env *env,
                 struct az_src *s, char *err, size_t errlen)
{
	const char *source, *tenant, *client, *secret, *token, *authority;
	size_t i;

	if (st_conf_opt_string(g, "source", &source, err, errlen) == -1 ||
	    st_conf_opt_string(g, "tenant_id", &tenant, err, errlen) == -1 ||
	    st_conf_opt_string(g, "client_id", &client, err, errlen) == -1 ||
	    st_conf_opt_string(g, "client_secret_file", &secret, err, errlen) == -1 ||
	    st_conf_opt_string(g, "token_file", &token, err, errlen) == -1 ||
	    st_conf_opt_string(g, "authority_host", &authority, err, errlen) == -1 ||
	    st_conn_read(&s->conn, g, env, err, errlen) == -1)
		return -1;
	for (i = 0; i < NSOURCES; i++)
		if (strcmp(source, source_names[i]) == 0)
			break;
	if (i == NSOURCES) {
		snprintf(err, errlen, "source must be client_secret, "
		    "workload_identity or managed_identity");
		return -1;
	}
	s->kind = (enum az_src_kind)i;
	if (check_matrix(s->kind, tenant, client, secret, token, authority, err,
	    errlen) == -1 ||
	    take(&s->tenant_id, tenant, err, errlen) == -1 ||
	    take(&s->client_id, client, err, errlen) == -1 ||
	    take_path(&s->secret_file, env, secret, err, errlen) == -1 ||
	    take_path(&s->token_file, env, token, err, errlen) == -1 ||
	    take_authority(s, authority, err, errlen) == -1)
		return -1;
	/* The client secret is read at each fetch (a rotated one is taken
	 * up at the next refresh); here once, so that a missing or
	 * unprotected file is a configuration error. */
	if (s->secret_file != NULL) {
		char buf[1024];
		long n = st_read_secret_file(s->secret_file, buf, sizeof(buf),
		    err, errlen);

		OPENSSL_cleanse(buf, sizeof(buf));
		if (n == 0)
			snprintf(err, errlen, "%s is empty", s->secret_file);
		if (n <= 0)
			return -1;
	}
	return 0;
}

static void
src_free(void *arg)
{
	struct az_src *s = arg;

	if (s == NULL)
		return;
	free(s->tenant_id);
	free(s->client_id);
	free(s->secret_file);
	free(s->token_file);
	free(s->authority);
	st_conn_clear(&s->conn);
	free(s);
}

static int
fetch(void *arg, struct st_creds_snap *out, char *why, size_t whylen)
{
	const struct az_src *s = arg;

	switch (s->kind) {
	case AZ_SRC_CLIENT_SECRET:
		return az_fetch_client_secret(s, out, why, whylen);
	case AZ_SRC_WORKLOAD_IDENTITY:
		return az_fetch_workload_identity(s, out, why, whylen);
	case AZ_SRC_MANAGED_IDENTITY:
		return az_fetch_managed_identity(s, out, why, whylen);
	}
	snprintf(why, whylen, "unknown source");
	return -1;
}

/* Every token source asks a service: the refresher fetches it. */
static const struct st_creds_source sources[] = {
	[AZ_SRC_CLIENT_SECRET] = { "client_secret", 1, fetch, src_free },
	[AZ_SRC_WORKLOAD_IDENTITY] = { "workload_identity", 1, fetch, src_free },
	[AZ_SRC_MANAGED_IDENTITY] = { "managed_identity", 1, fetch, src_free },
};

static const char *
or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* What makes two definitions of a group the same (no secret in it). */
static void
group_spec(const struct az_src *s, char *out, size_t cap)
{
	snprintf(out, cap, "azure|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%d",
	    source_names[s->kind], or_empty(s->tenant_id),
	    or_empty(s->client_id), or_empty(s->secret_file),
	    or_empty(s->token_file), or_empty(s->authority),
	    or_empty(s->conn.ca_file), or_empty(s->conn.ca_path),
	    or_empty(s->conn.proxy), or_empty(s->conn.no_proxy),
	    s->conn.allow_http);
}

struct st_creds *
az_open_token(const config_setting_t *g, const char *name,
              const struct st_store_env *env, char *err, size_t errlen)
{
	struct az_src *s;
	char why[400], spec[6 * PATH_MAX];

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (read_token_group(g, env, s, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "credentials '%s': %s", name, why);
		src_free(s);
		return NULL;
	}
	group_spec(s, spec, sizeof(spec));
	return st_creds_open(name, spec, &sources[s->kind], s,
	    env->check_only ? ST_CREDS_CHECK_ONLY : 0, err, errlen);
}

/* ---------------------------------------------------------------- groups */

/* A group with a source: the account and endpoint, and its tokens. */
static int
load_token_group(const config_setting_t *g, const char *name,
                 const struct st_store_env *env, struct az_creds *cr,
                 char *err, size_t errlen)
{
	const char *account, *endpoint;
	char why[256];

	if (st_conf_opt_string(g, "account", &account, why, sizeof(why)) == -1 ||
	    st_conf_opt_string(g, "endpoint", &endpoint, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "credentials '%s': %s", name, why);
		return -1;
	}
	if (config_setting_get_member(g, "key_file") != NULL ||
	    config_setting_get_member(g, "sas_file") != NULL ||
	    config_setting_get_member(g, "connection_string_file") != NULL) {
		snprintf(err, errlen, "credentials '%s': key_file, sas_file and "
		    "connection_string_file do not go with source", name);
		return -1;
	}
	if (account == NULL || !valid_account(account)) {
		snprintf(err, errlen, "credentials '%s' need account = \"NAME\" "
		    "(3 to 24 lowercase letters and digits)", name);
		return -1;
	}
	snprintf(cr->account, sizeof(cr->account), "%s", account);
	if (endpoint != NULL && st_format(cr->endpoint, sizeof(cr->endpoint),
	    "%s", endpoint) == -1) {
		snprintf(err, errlen, "credentials '%s': endpoint too long", name);
		return -1;
	}
	cr->token = az_open_token(g, name, env, err, errlen);
	return cr->token != NULL ? 0 : -1;
}

/* A group with one of the files: key, SAS or connection string. */
static int
load_file_group(const config_setting_t *g, const char *name,
                const struct st_store_env *env, struct az_creds *cr,
                char *err, size_t errlen)
{
	const char *account = NULL, *v = NULL;
	const char *key_file = NULL, *sas_file = NULL, *cs_file = NULL;
	char why[256];
	size_t i;
	int given;

	for (i = 0; token_keys[i] != NULL; i++)
		if (config_setting_get_member(g, token_keys[i]) != NULL) {
			snprintf(err, errlen, "credentials '%s': %s needs source "
			    "= \"client_secret\", \"workload_identity\" or "
			    "\"managed_identity\"", name, token_keys[i]);
			return -1;
		}
	config_setting_lookup_string(g, "account", &account);
	config_setting_lookup_string(g, "key_file", &key_file);
	config_setting_lookup_string(g, "sas_file", &sas_file);
	config_setting_lookup_string(g, "connection_string_file", &cs_file);
	given = (key_file != NULL) + (sas_file != NULL) + (cs_file != NULL);
	if (given != 1) {
		snprintf(err, errlen, "credentials '%s' need exactly one of "
		    "key_file, sas_file or connection_string_file, or a source",
		    name);
		return -1;
	}
	if (cs_file != NULL) {
		char *cs = malloc(8192);
		int rc;

		if (cs == NULL)
			return -1;
		rc = st_conf_read_secret(env, cs_file, cs, 8192, err, errlen);
		if (rc == 0 && (rc = parse_connection_string(cs, cr, why,
		    sizeof(why))) == -1)
			snprintf(err, errlen, "credentials '%s': %s", name, why);
		OPENSSL_cleanse(cs, 8192);
		free(cs);
		if (rc == -1)
			return -1;
		if (account != NULL && strcmp(account, cr->account) != 0) {
			snprintf(err, errlen, "credentials '%s': account '%s' differs "
			    "from the connection string's AccountName", name, account);
			return -1;
		}
	} else {
		if (account == NULL) {
			snprintf(err, errlen, "credentials '%s' need account = \"NAME\"",
			    name);
			return -1;
		}
		snprintf(cr->account, sizeof(cr->account), "%s", account);
		if (key_file != NULL && st_conf_read_secret(env, key_file, cr->key_b64,
		    sizeof(cr->key_b64), err, errlen) == -1)
			return -1;
		if (sas_file != NULL) {
			if (st_conf_read_secret(env, sas_file, cr->sas, sizeof(cr->sas), err,
			    errlen) == -1)
				return -1;
			if (cr->sas[0] == '?')
				memmove(cr->sas, cr->sas + 1, strlen(cr->sas));
		}
	}
	if (config_setting_lookup_string(g, "endpoint", &v) &&
	    st_format(cr->endpoint, sizeof(cr->endpoint), "%s", v) == -1) {
		snprintf(err, errlen, "credentials '%s': endpoint too long", name);
		return -1;
	}
	if (!valid_account(cr->account)) {
		snprintf(err, errlen, "credentials '%s': account must be 3 to 24 "
		    "lowercase letters and digits", name);
		return -1;
	}
	if (cr->key_b64[0] == '\0' && !valid_sas(cr->sas)) {
		snprintf(err, errlen, "credentials '%s': the SAS is not a query "
		    "string with a sig= parameter", name);
		return -1;
	}
	return 0;
}

int
az_load_creds(const struct st_store_env *env, struct az_creds *cr, char *err,
              size_t errlen)
{
	const config_setting_t *g = env->credentials;
	const char *name = env->credentials_name, *provider = NULL;
	char why[256];

	cr->token = NULL;
	if (g == NULL) {
		snprintf(err, errlen, "an azure store needs credentials = \"NAME\"");
		return -1;
	}
	if (st_conf_only_keys(g, az_cred_keys, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "credentials '%s': %s", name, why);
		return -1;
	}
	config_setting_lookup_string(g, "provider", &provider);
	if (provider == NULL || strcmp(provider, "azure") != 0) {
		snprintf(err, errlen, "credentials '%s' are not provider = \"azure\"",
		    name);
		return -1;
	}
	if (config_setting_get_member(g, "source") != NULL)
		return load_token_group(g, name, env, cr, err, errlen);
	return load_file_group(g, name, env, cr, err, errlen);
}
