/*
 * identity.c - OAuth2 bearer tokens for Azure Storage (scope
 * https://storage.azure.com/.default), asked for as the Azure SDKs do:
 *
 *   client_secret      Microsoft Entra ID, client credentials grant:
 *                      POST AUTHORITY/TENANT/oauth2/v2.0/token with
 *                      client_id, scope, client_secret (the group's
 *                      client_secret_file, read again at each refresh)
 *   workload_identity  the same grant with a client assertion: the
 *                      federated token of AZURE_FEDERATED_TOKEN_FILE (read
 *                      again at each refresh: the platform rotates it),
 *                      AZURE_CLIENT_ID, AZURE_TENANT_ID; the group's
 *                      token_file, client_id and tenant_id win over them
 *   managed_identity   App Service / Container Apps when IDENTITY_ENDPOINT
 *                      and IDENTITY_HEADER are set: GET IDENTITY_ENDPOINT
 *                      ?api-version=2019-08-01&resource=... with
 *                      X-IDENTITY-HEADER; else the instance metadata
 *                      service: GET http://169.254.169.254/metadata/
 *                      identity/oauth2/token?api-version=2018-02-01&
 *                      resource=... with Metadata: true, its host taken
 *                      from AZURE_POD_IDENTITY_AUTHORITY_HOST when set (as
 *                      the SDKs do). client_id picks a user-assigned
 *                      identity.
 *
 * The authority is the group's authority_host, else AZURE_AUTHORITY_HOST,
 * else https://login.microsoftonline.com/. An answer gives access_token
 * and expires_in (seconds from now) or expires_on (seconds since 1970);
 * an error answer's `error` (and the start of `error_description`) goes
 * into the reason. No secret, assertion, identity header or token ever
 * reaches a reason.
 *
 * Everything here runs on the credentials refresher thread: blocking
 * libcurl calls with short timeouts, no redirects, plain http:// only to
 * loopback and link-local metadata addresses (st_conn_url_allowed), the
 * metadata endpoints never through a proxy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <yajl/yajl_tree.h>

#include "core/buf.h"
#include "core/fetch.h"
#include "core/confval.h"
#include "providers/azure/creds.h"

#define IMDS_DEFAULT	"http://169.254.169.254"
#define IMDS_PATH	"/metadata/identity/oauth2/token"
#define IMDS_VERSION	"2018-02-01"
#define APPSVC_VERSION	"2019-08-01"
#define ASSERTION_TYPE	"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* ---------------------------------------------------------------- http */

/* ---------------------------------------------------------------- answers */

static yajl_val
member(yajl_val doc, const char *key)
{
	const char *path[2] = { key, NULL };

	return yajl_tree_get(doc, path, yajl_t_any);
}

static const char *
member_string(yajl_val doc, const char *key)
{
	yajl_val v = member(doc, key);

	return v != NULL && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
}

/* A count of seconds, as a JSON integer or a string of digits; -1 when
 * absent or anything else. */
static long long
member_seconds(yajl_val doc, const char *key)
{
	yajl_val v = member(doc, key);
	const char *s;
	char *end;
	long long n;

	if (v != NULL && YAJL_IS_INTEGER(v))
		return YAJL_GET_INTEGER(v) >= 0 ? YAJL_GET_INTEGER(v) : -1;
	if (v == NULL || !YAJL_IS_STRING(v))
		return -1;
	s = YAJL_GET_STRING(v);
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' ? n : -1;
}

/* Printable ASCII of an error answer's text, for a reason. */
static void
printable(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; in != NULL && *in != '\0' && o + 1 < cap; in++)
		if (*in >= 0x20 && *in < 0x7f && *in != '"' && *in != '\\')
			out[o++] = *in;
	out[o] = '\0';
}

/* The reason of an error answer: HTTP status, `error` and the start of
 * `error_description` when the body is JSON that has them. */
static void
error_why(const char *what, long status, const struct st_buf *b, char *why,
          size_t whylen)
{
	char *text = strndup(b->data ? b->data : "", b->len);
	yajl_val doc = text != NULL ? yajl_tree_parse(text, NULL, 0) : NULL;
	char code[80] = "", desc[160] = "";

	if (doc != NULL && YAJL_IS_OBJECT(doc)) {
		printable(member_string(doc, "error"), code, sizeof(code));
		printable(member_string(doc, "error_description"), desc,
		    sizeof(desc));
	}
	snprintf(why, whylen, "%s answered HTTP %ld%s%s%s%s", what, status,
	    code[0] ? ": " : "", code, desc[0] ? ": " : "", desc);
	yajl_tree_free(doc);
	st_fetch_secret_free(text);
}

/* Wipes the copy of a string member in the tree before it is freed. */
static void
wipe_member(yajl_val doc, const char *key)
{
	yajl_val v = member(doc, key);
	char *p = v != NULL && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;

	if (p != NULL)
		OPENSSL_cleanse(p, strlen(p));
}

/* access_token and its expiry from a token answer. */
static int
parse_token(const char *what, const struct st_buf *b, time_t now,
            struct st_creds_snap *out, char *why, size_t whylen)
{
	char *text = strndup(b->data ? b->data : "", b->len);
	yajl_val doc = text != NULL ? yajl_tree_parse(text, NULL, 0) : NULL;
	const char *token, *type;
	long long on, in;
	int rc = -1;

	st_fetch_secret_free(text);
	if (doc == NULL || !YAJL_IS_OBJECT(doc)) {
		snprintf(why, whylen, "%s: the answer is not a JSON object", what);
		goto out;
	}
	token = member_string(doc, "access_token");
	type = member_string(doc, "token_type");
	on = member_seconds(doc, "expires_on");
	in = member_seconds(doc, "expires_in");
	if (token == NULL || *token == '\0' || strpbrk(token, "\r\n") != NULL) {
		snprintf(why, whylen, "%s: no access_token in the answer", what);
		goto out;
	}
	if (type != NULL && strcasecmp(type, "Bearer") != 0) {
		snprintf(why, whylen, "%s: token_type is not Bearer", what);
		goto out;
	}
	if (on > 0)
		out->expires = (time_t)on;
	else if (in > 0)
		out->expires = now + (time_t)in;
	else {
		snprintf(why, whylen, "%s: neither expires_on nor expires_in in "
		    "the answer", what);
		goto out;
	}
	if ((out->token = strdup(token)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (doc != NULL) {
		wipe_member(doc, "access_token");
		wipe_member(doc, "refresh_token");
		yajl_tree_free(doc);
	}
	return rc;
}

/* ---------------------------------------------------------------- entra id */

/* The token endpoint of tenant: AUTHORITY/TENANT/oauth2/v2.0/token. */
static int
token_url(const struct az_src *s, const char *tenant, char *url, size_t cap,
          char *why, size_t whylen)
{
	const char *a = s->authority;
	const char *env = st_fetch_env("AZURE_AUTHORITY_HOST");
	size_t n;

	if (a == NULL)
		a = env != NULL ? env : AZ_AUTHORITY_DEFAULT;
	n = strlen(a);
	while (n > 0 && a[n - 1] == '/')
		n--;
	if ((strncmp(a, "https://", 8) != 0 && strncmp(a, "http://", 7) != 0) ||
	    strpbrk(a, "?# \t\r\n") != NULL || n > 512) {
		snprintf(why, whylen, "AZURE_AUTHORITY_HOST is not an http(s):// "
		    "URL of a host");
		return -1;
	}
	snprintf(url, cap, "%.*s/%s/oauth2/v2.0/token", (int)n, a, tenant);
	return 0;
}

/* The client credentials grant: form (client_id, scope, grant_type and
 * the proof) to the tenant's token endpoint. */
static int
grant(const struct az_src *s, const char *tenant, struct st_buf *form,
      struct st_creds_snap *out, char *why, size_t whylen)
{
	static const char *const hdr[] = {
		"Content-Type: application/x-www-form-urlencoded",
		"Accept: application/json", NULL
	};
	struct st_buf b = { 0 };
	char url[1024];
	time_t now = time(NULL);
	long status;
	int rc = -1;

	if (form->failed) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (token_url(s, tenant, url, sizeof(url), why, whylen) == -1)
		return -1;
	status = st_fetch_http(&s->conn, "Entra ID", "POST", url, hdr,
	    form->data, 0, &b, why, whylen);
	if (status == 200)
		rc = parse_token("Entra ID", &b, now, out, why, whylen);
	else if (status != 0)
		error_why("Entra ID", status, &b, why, whylen);
	st_fetch_buf_free(&b);
	return rc;
}

int
az_fetch_client_secret(const struct az_src *s, struct st_creds_snap *out,
                       char *why, size_t whylen)
{
	struct st_buf form = { 0 };
	char secret[1024];
	int rc;

	if (st_read_secret_file(s->secret_file, secret, sizeof(secret), why,
	    whylen) <= 0) {
		if (why[0] == '\0')
			snprintf(why, whylen, "%s is empty", s->secret_file);
		return -1;
	}
	st_fetch_form_add(&form, "client_id", s->client_id);
	st_fetch_form_add(&form, "scope", AZ_TOKEN_SCOPE);
	st_fetch_form_add(&form, "grant_type", "client_credentials");
	st_fetch_form_add(&form, "client_secret", secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	rc = grant(s, s->tenant_id, &form, out, why, whylen);
	st_fetch_buf_free(&form);
	return rc;
}

/* A setting of the group, else the variable; checked as an id. */
static const char *
id_of(const char *setting, const char *var, char *why, size_t whylen)
{
	const char *v = setting != NULL ? setting : st_fetch_env(var);

	if (v == NULL) {
		snprintf(why, whylen, "workload_identity needs %s (or the group's "
		    "%s)", var, strcmp(var, "AZURE_TENANT_ID") == 0 ? "tenant_id" :
		    "client_id");
		return NULL;
	}
	if (!az_id_ok(v)) {
		snprintf(why, whylen, "%s is not a GUID or domain name", var);
		return NULL;
	}
	return v;
}

int
az_fetch_workload_identity(const struct az_src *s, struct st_creds_snap *out,
                           char *why, size_t whylen)
{
	const char *tenant, *client, *file;
	struct st_buf form = { 0 };
	char *assertion;
	int rc;

	if ((tenant = id_of(s->tenant_id, "AZURE_TENANT_ID", why,
	    whylen)) == NULL || (client = id_of(s->client_id,
	    "AZURE_CLIENT_ID", why, whylen)) == NULL)
		return -1;
	file = s->token_file != NULL ? s->token_file :
	    st_fetch_env("AZURE_FEDERATED_TOKEN_FILE");
	if (file == NULL) {
		snprintf(why, whylen, "workload_identity needs "
		    "AZURE_FEDERATED_TOKEN_FILE (or the group's token_file)");
		return -1;
	}
	/* Read again at every refresh: the platform rotates it. */
	if ((assertion = st_fetch_read_line(file, "federated token file", why,
	    whylen)) == NULL)
		return -1;
	st_fetch_form_add(&form, "client_id", client);
	st_fetch_form_add(&form, "scope", AZ_TOKEN_SCOPE);
	st_fetch_form_add(&form, "grant_type", "client_credentials");
	st_fetch_form_add(&form, "client_assertion_type", ASSERTION_TYPE);
	st_fetch_form_add(&form, "client_assertion", assertion);
	st_fetch_secret_free(assertion);
	rc = grant(s, tenant, &form, out, why, whylen);
	st_fetch_buf_free(&form);
	return rc;
}

/* ---------------------------------------------------------------- managed */

int
az_fetch_managed_identity(const struct az_src *s, struct st_creds_snap *out,
                          char *why, size_t whylen)
{
	const char *ep = st_fetch_env("IDENTITY_ENDPOINT");
	const char *secret = st_fetch_env("IDENTITY_HEADER");
	const char *host = st_fetch_env("AZURE_POD_IDENTITY_AUTHORITY_HOST");
	const char *hdr[2] = { NULL, NULL }, *what;
	struct st_buf url = { 0 }, b = { 0 }, line = { 0 };
	time_t now = time(NULL);
	long status;
	size_t n;
	int rc = -1;

	if (ep != NULL && secret != NULL) {
		/* App Service, Container Apps, Functions. */
		what = "the identity endpoint";
		if (strpbrk(secret, "\r\n") != NULL) {
			snprintf(why, whylen, "IDENTITY_HEADER is not one line");
			return -1;
		}
		st_buf_adds(&url, ep);
		st_buf_adds(&url, strchr(ep, '?') != NULL ? "&" : "?");
		st_fetch_form_add(&url, "api-version", APPSVC_VERSION);
		st_buf_adds(&line, "X-IDENTITY-HEADER: ");
		st_buf_adds(&line, secret);
	} else {
		what = "IMDS";
		if (host == NULL)
			host = IMDS_DEFAULT;
		n = strlen(host);
		while (n > 0 && host[n - 1] == '/')
			n--;
		st_buf_add(&url, host, n);
		st_buf_adds(&url, IMDS_PATH "?");
		st_fetch_form_add(&url, "api-version", IMDS_VERSION);
		st_buf_adds(&line, "Metadata: true");
	}
	st_fetch_form_add(&url, "resource", AZ_TOKEN_RESOURCE);
	if (s->client_id != NULL)
		st_fetch_form_add(&url, "client_id", s->client_id);
	if (url.failed || line.failed) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	hdr[0] = line.data;
	status = st_fetch_http(&s->conn, what, "GET", url.data, hdr, NULL, 1,
	    &b, why, whylen);
	if (status == 200)
		rc = parse_token(what, &b, now, out, why, whylen);
	else if (status != 0)
		error_why(what, status, &b, why, whylen);
out:
	st_fetch_buf_free(&line);
	st_fetch_buf_free(&b);
	st_buf_free(&url);
	return rc;
}
