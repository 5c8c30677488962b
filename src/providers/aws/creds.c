/*
 * creds.c - where AWS credentials come from: the sources of a
 * `credentials` group with provider = "aws", for the core credentials
 * service (src/core/creds.c), which shares, caches and refreshes them.
 *
 *   env        AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   profile    the shared files (~/.aws/credentials, ~/.aws/config):
 *              keys, or a credential_process command
 *   static     access_key_id, secret_access_key_file, session_token_file
 *
 * This file reads and checks the group's settings once, into a struct
 * aws_src that the service hands back to fetch() at every refresh.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/confval.h"
#include "providers/aws/aws.h"
#include "providers/aws/creds.h"

static const char *const aws_cred_keys[] = {
	"provider", "source", "profile", "access_key_id",
	"secret_access_key_file", "session_token_file", "endpoint",
	"role_arn", "external_id", "session_name", "region", ST_CONN_KEYS, NULL
};

static const char *const source_names[] = {
	[AWS_SRC_ENV] = "env", [AWS_SRC_PROFILE] = "profile",
	[AWS_SRC_STATIC] = "static", [AWS_SRC_IMDS] = "imds",
	[AWS_SRC_CONTAINER] = "container",
	[AWS_SRC_WEB_IDENTITY] = "web_identity", [AWS_SRC_CHAIN] = "chain",
};
#define NSOURCES (sizeof(source_names) / sizeof(source_names[0]))

/* ---------------------------------------------------------------- shared files */

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
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return found ? 0 : -1;
}

/* The two shared files' paths and the profile's section names. */
struct shared_files {
	char	cpath[PATH_MAX], confpath[PATH_MAX];
	char	csection[256], confsection[300];
};

static void
shared_files(struct shared_files *f, const char *profile)
{
	const char *home = getenv("HOME");
	const char *cfile = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *conf = getenv("AWS_CONFIG_FILE");

	if (cfile != NULL && *cfile != '\0')
		snprintf(f->cpath, sizeof(f->cpath), "%s", cfile);
	else
		snprintf(f->cpath, sizeof(f->cpath), "%s/.aws/credentials",
		    home ? home : "");
	if (conf != NULL && *conf != '\0')
		snprintf(f->confpath, sizeof(f->confpath), "%s", conf);
	else
		snprintf(f->confpath, sizeof(f->confpath), "%s/.aws/config",
		    home ? home : "");
	/* The credentials file names sections plainly; the config file says
	 * "profile NAME" except for "default". */
	snprintf(f->csection, sizeof(f->csection), "%s", profile);
	snprintf(f->confsection, sizeof(f->confsection),
	    strcmp(profile, "default") == 0 ? "%s" : "profile %s", profile);
}

/* A profile's setting: the credentials file first, then the config file. */
static int
profile_value(const struct shared_files *f, const char *key, char *out,
              size_t cap)
{
	return ini_lookup(f->cpath, f->csection, key, out, cap) == 0 ||
	    ini_lookup(f->confpath, f->confsection, key, out, cap) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- local sources */

static int
fetch_env(struct st_creds_snap *out, char *why, size_t whylen)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID");
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = getenv("AWS_SESSION_TOKEN");

	if (id == NULL || secret == NULL || *id == '\0' || *secret == '\0') {
		snprintf(why, whylen, "source \"env\" needs AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY in the environment");
		return -1;
	}
	if (strlen(id) >= sizeof(out->id) || strlen(secret) >= sizeof(out->secret)) {
		snprintf(why, whylen, "AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY "
		    "is too long");
		return -1;
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->secret, sizeof(out->secret), "%s", secret);
	if (token != NULL && *token != '\0' &&
	    (out->token = strdup(token)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

static int
fetch_profile_keys(const struct shared_files *f, const char *profile,
                   struct st_creds_snap *out, char *why, size_t whylen)
{
	char token[4096];

	if (profile_value(f, "aws_access_key_id", out->id, sizeof(out->id)) == -1 ||
	    profile_value(f, "aws_secret_access_key", out->secret,
	    sizeof(out->secret)) == -1) {
		snprintf(why, whylen, "profile '%s' has no aws_access_key_id and "
		    "aws_secret_access_key in %s or %s", profile, f->cpath,
		    f->confpath);
		return -1;
	}
	if (profile_value(f, "aws_session_token", token, sizeof(token)) == 0) {
		out->token = strdup(token);
		OPENSSL_cleanse(token, sizeof(token));
		if (out->token == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int
fetch_profile(const struct aws_src *s, struct st_creds_snap *out, char *why,
              size_t whylen)
{
	struct shared_files f;
	char cmd[4096];

	shared_files(&f, s->profile);
	if (profile_value(&f, "credential_process", cmd, sizeof(cmd)) == 0)
		return aws_credential_process(s, cmd, out, why, whylen);
	return fetch_profile_keys(&f, s->profile, out, why, whylen);
}

static int
fetch_static(const struct aws_src *s, struct st_creds_snap *out, char *why,
             size_t whylen)
{
	char token[4096];
	long n;

	snprintf(out->id, sizeof(out->id), "%s", s->access_key_id);
	if (st_read_secret_file(s->secret_file, out->secret, sizeof(out->secret),
	    why, whylen) < 0)
		return -1;
	if (s->token_file == NULL)
		return 0;
	n = st_read_secret_file(s->token_file, token, sizeof(token), why, whylen);
	if (n >= 0 && (out->token = strdup(token)) == NULL)
		snprintf(why, whylen, "out of memory");
	OPENSSL_cleanse(token, sizeof(token));
	return out->token != NULL ? 0 : -1;
}

/* ---------------------------------------------------------------- the source */

int
aws_fetch_base(const struct aws_src *s, enum aws_src_kind kind,
               struct st_creds_snap *out, char *why, size_t whylen)
{
	switch (kind) {
	case AWS_SRC_ENV:		return fetch_env(out, why, whylen);
	case AWS_SRC_PROFILE:		return fetch_profile(s, out, why, whylen);
	case AWS_SRC_STATIC:		return fetch_static(s, out, why, whylen);
	case AWS_SRC_IMDS:		return aws_fetch_imds(s, out, why, whylen);
	case AWS_SRC_CONTAINER:		return aws_fetch_container(s, out, why,
					    whylen);
	case AWS_SRC_WEB_IDENTITY:	return aws_fetch_web_identity(s, out,
					    why, whylen);
	case AWS_SRC_CHAIN:		return aws_fetch_chain(s, out, why,
					    whylen);
	}
	snprintf(why, whylen, "unknown source");
	return -1;
}

static int
fetch(void *arg, struct st_creds_snap *out, char *why, size_t whylen)
{
	const struct aws_src *s = arg;
	struct st_creds_snap base;
	int rc;

	if (s->role_arn == NULL)
		return aws_fetch_base(s, s->kind, out, why, whylen);
	memset(&base, 0, sizeof(base));
	rc = aws_fetch_base(s, s->kind, &base, why, whylen);
	if (rc == 0)
		rc = aws_assume_role(s, &base, out, why, whylen);
	st_creds_snap_clear(&base);
	return rc;
}

static void
src_free(void *arg)
{
	struct aws_src *s = arg;

	if (s == NULL)
		return;
	free(s->profile);
	free(s->secret_file);
	free(s->token_file);
	free(s->role_arn);
	free(s->external_id);
	free(s->session_name);
	free(s->region);
	st_conn_clear(&s->conn);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* One per source and way of fetching (at open, or by the refresher). */
#define SOURCE(name) \
	{ { name, 0, fetch, src_free }, { name, 1, fetch, src_free } }
static const struct st_creds_source sources[][2] = {
	[AWS_SRC_ENV] = SOURCE("env"), [AWS_SRC_PROFILE] = SOURCE("profile"),
	[AWS_SRC_STATIC] = SOURCE("static"), [AWS_SRC_IMDS] = SOURCE("imds"),
	[AWS_SRC_CONTAINER] = SOURCE("container"),
	[AWS_SRC_WEB_IDENTITY] = SOURCE("web_identity"),
	[AWS_SRC_CHAIN] = SOURCE("chain"),
};

/* ---------------------------------------------------------------- settings */

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* Reads and checks the group's settings into s. 0, or -1 with a reason. */
static int
read_group(const config_setting_t *g, const struct st_store_env *env,
           struct aws_src *s, const char **endpoint, char *err, size_t errlen)
{
	const char *provider, *source, *profile, *id, *secret_file, *token_file;
	const char *role_arn, *external_id, *session_name, *region;
	char path[PATH_MAX];
	size_t i;

	if (st_conf_only_keys(g, aws_cred_keys, err, errlen) == -1 ||
	    st_conf_opt_string(g, "provider", &provider, err, errlen) == -1 ||
	    st_conf_opt_string(g, "source", &source, err, errlen) == -1 ||
	    st_conf_opt_string(g, "profile", &profile, err, errlen) == -1 ||
	    st_conf_opt_string(g, "access_key_id", &id, err, errlen) == -1 ||
	    st_conf_opt_string(g, "secret_access_key_file", &secret_file, err,
	    errlen) == -1 ||
	    st_conf_opt_string(g, "session_token_file", &token_file, err, errlen) == -1 ||
	    st_conf_opt_string(g, "endpoint", endpoint, err, errlen) == -1 ||
	    st_conf_opt_string(g, "role_arn", &role_arn, err, errlen) == -1 ||
	    st_conf_opt_string(g, "external_id", &external_id, err, errlen) == -1 ||
	    st_conf_opt_string(g, "session_name", &session_name, err, errlen) == -1 ||
	    st_conf_opt_string(g, "region", &region, err, errlen) == -1 ||
	    st_conn_read(&s->conn, g, env, err, errlen) == -1)
		return -1;
	if (provider == NULL || strcmp(provider, "aws") != 0) {
		snprintf(err, errlen, "not provider = \"aws\"");
		return -1;
	}
	if (source == NULL)
		source = "env";
	for (i = 0; i < NSOURCES; i++)
		if (strcmp(source, source_names[i]) == 0)
			break;
	if (i == NSOURCES) {
		snprintf(err, errlen, "source must be env, profile, static, "
		    "imds, container, web_identity or chain");
		return -1;
	}
	s->kind = (enum aws_src_kind)i;
	if (s->kind == AWS_SRC_STATIC) {
		if (id == NULL || *id == '\0' || strlen(id) >= ST_CREDS_ID_MAX) {
			snprintf(err, errlen, "static needs access_key_id");
			return -1;
		}
		if (secret_file == NULL) {
			snprintf(err, errlen, "static needs "
			    "secret_access_key_file");
			return -1;
		}
		snprintf(s->access_key_id, sizeof(s->access_key_id), "%s", id);
		st_conf_path(env, secret_file, path, sizeof(path));
		s->secret_file = strdup(path);
		if (token_file != NULL) {
			st_conf_path(env, token_file, path, sizeof(path));
			s->token_file = strdup(path);
		}
	} else if (id != NULL || secret_file != NULL || token_file != NULL) {
		snprintf(err, errlen, "access_key_id, secret_access_key_file and "
		    "session_token_file belong to source \"static\"");
		return -1;
	}
	if (profile == NULL)
		profile = getenv("AWS_PROFILE");
	if (profile == NULL || *profile == '\0')
		profile = "default";
	if (role_arn == NULL && (external_id != NULL || session_name != NULL)) {
		snprintf(err, errlen, "external_id and session_name need role_arn");
		return -1;
	}
	if (role_arn != NULL && strncmp(role_arn, "arn:", 4) != 0) {
		snprintf(err, errlen, "role_arn must be an ARN (arn:...)");
		return -1;
	}
	if (region != NULL && (*region == '\0' || strspn(region,
	    "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region))) {
		snprintf(err, errlen, "region must be a region name");
		return -1;
	}
	s->profile = strdup(profile);
	s->role_arn = dup_or_null(role_arn);
	s->external_id = dup_or_null(external_id);
	s->session_name = dup_or_null(session_name);
	s->region = dup_or_null(region);
	if (s->profile == NULL || (s->kind == AWS_SRC_STATIC &&
	    s->secret_file == NULL) || (token_file && s->token_file == NULL) ||
	    (role_arn && s->role_arn == NULL) ||
	    (external_id && s->external_id == NULL) ||
	    (session_name && s->session_name == NULL) ||
	    (region && s->region == NULL)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* What makes two definitions of a group the same (no secrets in it). */
static void
group_spec(const struct aws_src *s, char *out, size_t cap)
{
	snprintf(out, cap, "aws|%s|%s|%s|%s|%s|%s|%s|%s|%s",
	    source_names[s->kind], s->profile, s->access_key_id,
	    s->secret_file ? s->secret_file : "",
	    s->token_file ? s->token_file : "", s->role_arn ? s->role_arn : "",
	    s->external_id ? s->external_id : "",
	    s->session_name ? s->session_name : "", s->region ? s->region : "");
}

/* Is the source fetched by the refresher (network, a command)? */
static int
is_remote(const struct aws_src *s)
{
	char cmd[16];
	struct shared_files f;

	if (s->role_arn != NULL)
		return 1;
	switch (s->kind) {
	case AWS_SRC_ENV:
	case AWS_SRC_STATIC:
		return 0;
	case AWS_SRC_PROFILE:
		shared_files(&f, s->profile);
		return profile_value(&f, "credential_process", cmd,
		    sizeof(cmd)) == 0;
	default:
		return 1;
	}
}

struct st_creds *
aws_open_creds(const struct st_store_env *env, const char **endpoint,
               char *err, size_t errlen)
{
	const config_setting_t *g = env->credentials;
	const char *name = env->credentials_name;
	struct aws_src *s;
	struct st_creds *c;
	char why[400], spec[4 * PATH_MAX];

	*endpoint = NULL;
	if (g == NULL) {
		snprintf(err, errlen, "an aws store needs credentials = \"NAME\"");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (read_group(g, env, s, endpoint, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "credentials '%s': %s", name, why);
		src_free(s);
		return NULL;
	}
	/* --check-config: the static source's files are read as a check;
	 * nothing else is fetched. */
	if (env->check_only && s->kind == AWS_SRC_STATIC && s->role_arn == NULL) {
		struct st_creds_snap probe;
		int rc;

		memset(&probe, 0, sizeof(probe));
		rc = fetch_static(s, &probe, why, sizeof(why));
		st_creds_snap_clear(&probe);
		if (rc == -1) {
			snprintf(err, errlen, "credentials '%s': %s", name, why);
			src_free(s);
			return NULL;
		}
	}
	group_spec(s, spec, sizeof(spec));
	c = st_creds_open(name, spec, &sources[s->kind][is_remote(s)], s, env->check_only ? ST_CREDS_CHECK_ONLY : 0, err,
	    errlen);
	return c;
}
