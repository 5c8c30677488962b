/*
 * common.c - what the AWS services share: credentials from a `credentials`
 * group (sources env, profile from the shared files, static with a secret
 * file) and SigV4 signing for the provider-call engine. S3 (src/backends/
 * s3.c) and SQS (sqs.c) use them.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/guard.h"
#include "daemon/config.h"
#include "providers/aws/aws.h"
#include "sign/hmac.h"
#include "sign/sigv4.h"

static const char *const aws_cred_keys[] = {
	"provider", "source", "profile", "access_key_id",
	"secret_access_key_file", "session_token_file", "endpoint", NULL
};

/* An INI value from the AWS shared files: [section] then key = value. */
static int
ini_lookup(const char *path, const char *section, const char *key, char *out,
           size_t cap)
{
	char line[4096], cur[256] = "";
	FILE *f = fopen(path, "r");
	int found = 0;

	if (f == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *eq, *end;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '[') {
			end = strchr(p, ']');
			if (end != NULL) {
				*end = '\0';
				snprintf(cur, sizeof(cur), "%s", p + 1);
			}
			continue;
		}
		if (strcmp(cur, section) != 0 || (eq = strchr(p, '=')) == NULL)
			continue;
		end = eq;
		while (end > p && isspace((unsigned char)end[-1]))
			end--;
		if ((size_t)(end - p) != strlen(key) || strncmp(p, key, strlen(key)) != 0)
			continue;
		p = eq + 1;
		while (isspace((unsigned char)*p))
			p++;
		end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			end--;
		*end = '\0';
		snprintf(out, cap, "%s", p);
		found = 1;
	}
	fclose(f);
	return found ? 0 : -1;
}

static int
creds_profile(struct aws_creds *c, const char *profile, char *err, size_t errlen)
{
	const char *home = getenv("HOME");
	const char *cfile = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *conf = getenv("AWS_CONFIG_FILE");
	char cpath[PATH_MAX], confpath[PATH_MAX], section[300], token[4096];

	snprintf(cpath, sizeof(cpath), "%s", cfile ? cfile : "");
	if (cfile == NULL)
		snprintf(cpath, sizeof(cpath), "%s/.aws/credentials", home ? home : "");
	snprintf(confpath, sizeof(confpath), "%s", conf ? conf : "");
	if (conf == NULL)
		snprintf(confpath, sizeof(confpath), "%s/.aws/config", home ? home : "");
	/* The credentials file names sections plainly; the config file says
	 * "profile NAME" except for "default". */
	snprintf(section, sizeof(section), strcmp(profile, "default") == 0 ?
	    "%s" : "profile %s", profile);
	if ((ini_lookup(cpath, profile, "aws_access_key_id", c->key_id,
	    sizeof(c->key_id)) == -1 || ini_lookup(cpath, profile,
	    "aws_secret_access_key", c->secret, sizeof(c->secret)) == -1) &&
	    (ini_lookup(confpath, section, "aws_access_key_id", c->key_id,
	    sizeof(c->key_id)) == -1 || ini_lookup(confpath, section,
	    "aws_secret_access_key", c->secret, sizeof(c->secret)) == -1)) {
		snprintf(err, errlen, "profile '%s' has no aws_access_key_id and "
		    "aws_secret_access_key in %s or %s", profile, cpath, confpath);
		return -1;
	}
	if (ini_lookup(cpath, profile, "aws_session_token", token,
	    sizeof(token)) == 0 || ini_lookup(confpath, section,
	    "aws_session_token", token, sizeof(token)) == 0)
		c->token = strdup(token);
	return 0;
}

static int
creds_env(struct aws_creds *c, char *err, size_t errlen)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID");
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = getenv("AWS_SESSION_TOKEN");

	if (id == NULL || secret == NULL || *id == '\0' || *secret == '\0') {
		snprintf(err, errlen, "source \"env\" needs AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY in the environment");
		return -1;
	}
	snprintf(c->key_id, sizeof(c->key_id), "%s", id);
	snprintf(c->secret, sizeof(c->secret), "%s", secret);
	if (token != NULL && *token != '\0')
		c->token = strdup(token);
	return 0;
}

int
aws_load_creds(const config_setting_t *conf, const struct st_store_env *env,
               struct aws_creds *c, const char **endpoint, char *err,
               size_t errlen)
{
	const config_setting_t *root = config_root_setting(conf->config), *g;
	const char *name = NULL, *provider = NULL, *source = NULL, *v = NULL;
	char token[4096], why[256];

	if (!config_setting_lookup_string(conf, "credentials", &name)) {
		snprintf(err, errlen, "an aws store needs credentials = \"NAME\"");
		return -1;
	}
	g = config_setting_get_member(config_setting_get_member(root,
	    "credentials") ? config_setting_get_member(root, "credentials") :
	    root, name);
	if (g == NULL || !config_setting_is_group(g) ||
	    config_setting_get_member(root, "credentials") == NULL) {
		snprintf(err, errlen, "no credentials named '%s'", name);
		return -1;
	}
	if (st_conf_only_keys(g, aws_cred_keys, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "credentials '%s': %s", name, why);
		return -1;
	}
	config_setting_lookup_string(g, "provider", &provider);
	config_setting_lookup_string(g, "source", &source);
	config_setting_lookup_string(g, "endpoint", endpoint);
	if (provider == NULL || strcmp(provider, "aws") != 0) {
		snprintf(err, errlen, "credentials '%s' are not provider = \"aws\"",
		    name);
		return -1;
	}
	if (source == NULL)
		source = "env";
	if (env->check_only && strcmp(source, "static") != 0) {
		return strcmp(source, "env") == 0 || strcmp(source, "profile") == 0 ?
		    0 : (snprintf(err, errlen, "credentials '%s': source must be "
		    "env, profile or static", name), -1);
	}
	if (strcmp(source, "env") == 0)
		return creds_env(c, err, errlen);
	if (strcmp(source, "profile") == 0) {
		const char *profile = getenv("AWS_PROFILE");

		config_setting_lookup_string(g, "profile", &profile);
		return creds_profile(c, profile ? profile : "default", err,
		    errlen);
	}
	if (strcmp(source, "static") != 0) {
		snprintf(err, errlen, "credentials '%s': source must be env, "
		    "profile or static", name);
		return -1;
	}
	if (!config_setting_lookup_string(g, "access_key_id", &v) ||
	    strlen(v) >= sizeof(c->key_id)) {
		snprintf(err, errlen, "credentials '%s': static needs "
		    "access_key_id", name);
		return -1;
	}
	snprintf(c->key_id, sizeof(c->key_id), "%s", v);
	if (!config_setting_lookup_string(g, "secret_access_key_file", &v)) {
		snprintf(err, errlen, "credentials '%s': static needs "
		    "secret_access_key_file", name);
		return -1;
	}
	if (st_conf_read_secret(env, v, c->secret, sizeof(c->secret), err,
	    errlen) == -1)
		return -1;
	if (config_setting_lookup_string(g, "session_token_file", &v)) {
		if (st_conf_read_secret(env, v, token, sizeof(token), err, errlen) == -1)
			return -1;
		c->token = strdup(token);
	}
	return 0;
}

void
aws_creds_clear(struct aws_creds *c)
{
	if (c->token != NULL) {
		OPENSSL_cleanse(c->token, strlen(c->token));
		free(c->token);
	}
	OPENSSL_cleanse(c, sizeof(*c));
}

int
aws_sign_json_req(const struct st_pcall_req *r, const struct aws_signer *a,
                  time_t now, struct st_sigv4_result *out)
{
	struct st_sigv4_header h[ST_AWS_SIGN_HEADERS];
	struct st_sigv4_request req;
	unsigned char digest[ST_SHA256_LEN];
	char hash[2 * ST_SHA256_LEN + 1];
	size_t i;

	if (r->nheaders > ST_AWS_SIGN_HEADERS)
		return -1;	/* never sign less than what is sent */
	for (i = 0; i < r->nheaders; i++) {
		h[i].name = r->headers[i].name;
		h[i].value = r->headers[i].value;
	}
	st_sha256(r->body, r->bodylen, digest);
	st_hex(digest, sizeof(digest), hash);
	memset(&req, 0, sizeof(req));
	req.method = r->method;
	req.host = r->host;
	req.path = r->path;
	req.headers = h;
	req.nheaders = r->nheaders;
	req.payload_hash = hash;
	req.region = a->region;
	req.service = a->service;
	req.key_id = a->creds->key_id;
	req.secret = a->creds->secret;
	req.token = a->creds->token;
	req.now = now;
	return st_sigv4_sign(&req, out);
}

int
aws_sign_json(struct st_pcall *pc, const struct st_pcall_req *r, void *signer)
{
	struct st_sigv4_result out;
	size_t i;
	int rc = 0;

	if (aws_sign_json_req(r, signer, time(NULL), &out) == -1)
		return -1;
	for (i = 0; i < out.nadded && rc == 0; i++)
		rc = st_pcall_sign_add(pc, out.added[i].name, out.added[i].value);
	st_sigv4_free(&out);
	return rc;
}

/* ---------------------------------------------------------------- answers */

int
aws_base_endpoint(const char *endpoint, char *out, size_t cap, char *err,
                  size_t errlen)
{
	const char *host, *slash;
	size_t n = strlen(endpoint);

	while (n > 0 && endpoint[n - 1] == '/')
		n--;
	host = strstr(endpoint, "://");
	slash = host != NULL ? strchr(host + 3, '/') : NULL;
	if ((strncmp(endpoint, "http://", 7) != 0 &&
	    strncmp(endpoint, "https://", 8) != 0) || n >= cap ||
	    (slash != NULL && (size_t)(slash - endpoint) < n) ||
	    strpbrk(endpoint, "?# \t") != NULL) {
		snprintf(err, errlen, "endpoint must be scheme://host[:port]");
		return -1;
	}
	snprintf(out, cap, "%.*s", (int)n, endpoint);
	return 0;
}

/* ---------------------------------------------------------------- stores */

static int
read_region(const config_setting_t *conf, char *out, size_t cap, char *err,
            size_t errlen)
{
	const char *region = NULL;

	if (!config_setting_lookup_string(conf, "region", &region) ||
	    region[0] == '\0' || strlen(region) >= cap ||
	    strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
	    strlen(region)) {
		snprintf(err, errlen, "the store needs region = \"REGION\"");
		return -1;
	}
	snprintf(out, cap, "%s", region);
	return 0;
}

int
aws_svc_open(struct aws_svc *s, const config_setting_t *conf,
             const struct st_store_env *env, const char *service, char *err,
             size_t errlen)
{
	const char *endpoint = NULL, *cred_endpoint = NULL;
	char def[160];

	snprintf(s->name, sizeof(s->name), "%s", env->name);
	st_retry_defaults(&s->retry);
	if (read_region(conf, s->region, sizeof(s->region), err, errlen) == -1 ||
	    st_retry_from_config(config_lookup(conf->config, "retry"),
	    &s->retry, err, errlen) == -1 ||
	    st_retry_from_config(config_setting_get_member(conf, "retry"),
	    &s->retry, err, errlen) == -1 ||
	    aws_load_creds(conf, env, &s->creds, &cred_endpoint, err,
	    errlen) == -1)
		return -1;
	config_setting_lookup_string(conf, "endpoint", &endpoint);
	if (endpoint == NULL)
		endpoint = cred_endpoint;
	if (endpoint == NULL) {
		snprintf(def, sizeof(def), "https://%s.%s.amazonaws.com", service,
		    s->region);
		endpoint = def;
	}
	if (aws_base_endpoint(endpoint, s->endpoint, sizeof(s->endpoint), err,
	    errlen) == -1)
		return -1;
	s->signer.creds = &s->creds;
	s->signer.region = s->region;
	s->signer.service = service;
	if (!env->check_only && (s->guard = st_guard_open(s->name, s->endpoint,
	    &s->retry)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void
aws_svc_close(struct aws_svc *s)
{
	st_guard_close(s->guard);
	s->guard = NULL;
	aws_creds_clear(&s->creds);
}

struct st_pcall *
aws_svc_pcall(struct aws_svc *s, struct st_call *c,
              const struct st_pcall_proto *proto)
{
	struct st_pcall_target t = { s->name, s->guard, &s->retry, &s->signer };

	return st_pcall_new(c, proto, &t);
}

int
aws_svc_post(struct aws_svc *s, struct st_pcall *pc, struct st_call *c,
             const char *target, const char *body, size_t len)
{
	char url[600];

	snprintf(url, sizeof(url), "%s/", s->endpoint);
	if (st_pcall_prepare(pc, "POST", url, "/", NULL, 0) == -1 ||
	    st_pcall_header(pc, "Content-Type",
	    "application/x-amz-json-1.0") == -1 ||
	    st_pcall_header(pc, "X-Amz-Target", target) == -1 ||
	    st_pcall_body(pc, body, len) == -1) {
		st_call_fail(c, ST_INTERNAL, NULL, "the %s request could not be "
		    "made", s->signer.service);
		return -1;
	}
	return 0;
}
