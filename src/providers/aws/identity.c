/*
 * identity.c - the AWS credential sources that ask a service, as the AWS
 * SDKs do:
 *
 *   imds          EC2 instance metadata, IMDSv2 only: PUT /latest/api/token
 *                 (X-aws-ec2-metadata-token-ttl-seconds), then with the
 *                 token (X-aws-ec2-metadata-token) GET
 *                 /latest/meta-data/iam/security-credentials/ for the role
 *                 and .../ROLE for its JSON credentials. Endpoint from
 *                 AWS_EC2_METADATA_SERVICE_ENDPOINT, else 169.254.169.254;
 *                 refused when AWS_EC2_METADATA_DISABLED=true.
 *   container     ECS / EKS Pod Identity: GET AWS_CONTAINER_CREDENTIALS_
 *                 FULL_URI, or http://169.254.170.2 + _RELATIVE_URI, with
 *                 Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *                 (re-read each time) or _TOKEN.
 *   web_identity  STS AssumeRoleWithWebIdentity (unsigned) with the token
 *                 of AWS_WEB_IDENTITY_TOKEN_FILE (re-read each time),
 *                 AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME.
 *   role_arn      STS AssumeRole on top of any source, signed (SigV4)
 *                 with that source's credentials.
 *   credential_process  a profile's command, JSON on its stdout.
 *   chain         env, profile, web identity, container, IMDS: the first
 *                 that applies and answers.
 *
 * STS is the query API (Action=...&Version=2011-06-15, form-encoded POST)
 * answering XML; its endpoint is AWS_ENDPOINT_URL_STS, else
 * https://sts.REGION.amazonaws.com (the group's `region`, AWS_REGION,
 * AWS_DEFAULT_REGION), else https://sts.amazonaws.com.
 *
 * Everything here runs on the credentials refresher thread (or at open
 * for local sources): blocking libcurl calls with short timeouts. Plain
 * http:// is accepted only for loopback and the link-local metadata
 * addresses; redirects are never followed. No secret reaches a reason.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <yajl/yajl_tree.h>

#include "core/answer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/fetch.h"
#include "core/xml.h"
#include "providers/aws/creds.h"
#include "sign/hmac.h"
#include "sign/sigv4.h"

extern char **environ;

#define IMDS_DEFAULT	"http://169.254.169.254"
#define ECS_HOST	"http://169.254.170.2"
#define IMDS_TTL	"21600"
#define PROCESS_MS	30000
#define PROCESS_OUT_MAX	(64 * 1024)	/* bytes of credential_process output */
#define STS_VERSION	"2011-06-15"

/* ---------------------------------------------------------------- http */

/* ---------------------------------------------------------------- answers */

static const char *
json_string(yajl_val doc, const char *key)
{
	const char *path[2] = { key, NULL };
	yajl_val v = yajl_tree_get(doc, path, yajl_t_string);

	return v != NULL ? YAJL_GET_STRING(v) : NULL;
}

/* Credentials in JSON: AccessKeyId, SecretAccessKey, Token (or
 * SessionToken), Expiration (ISO 8601, optional when `may_not_expire`). */
static int
parse_json_creds(const char *what, const struct st_buf *b, int may_not_expire,
                 struct st_creds_snap *out, char *why, size_t whylen)
{
	char *text = strndup(b->data ? b->data : "", b->len);
	yajl_val doc = text != NULL ? yajl_tree_parse(text, NULL, 0) : NULL;
	const char *id, *secret, *token, *exp, *code;
	int rc = -1;

	if (text != NULL)
		OPENSSL_cleanse(text, b->len);
	free(text);
	if (doc == NULL || !YAJL_IS_OBJECT(doc)) {
		snprintf(why, whylen, "%s: the answer is not a JSON object", what);
		goto out;
	}
	id = json_string(doc, "AccessKeyId");
	secret = json_string(doc, "SecretAccessKey");
	token = json_string(doc, "Token");
	if (token == NULL)
		token = json_string(doc, "SessionToken");
	exp = json_string(doc, "Expiration");
	code = json_string(doc, "Code");
	if (code != NULL && strcmp(code, "Success") != 0) {
		snprintf(why, whylen, "%s: Code is \"%.64s\"", what, code);
		goto out;
	}
	if (id == NULL || secret == NULL || *id == '\0' || *secret == '\0' ||
	    strlen(id) >= sizeof(out->id) ||
	    strlen(secret) >= sizeof(out->secret)) {
		snprintf(why, whylen, "%s: no usable AccessKeyId and "
		    "SecretAccessKey in the answer", what);
		goto out;
	}
	if (exp == NULL && !may_not_expire) {
		snprintf(why, whylen, "%s: no Expiration in the answer", what);
		goto out;
	}
	if (exp != NULL && (out->expires = st_answer_time(exp)) <= 0) {
		snprintf(why, whylen, "%s: Expiration is not a time", what);
		goto out;
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->secret, sizeof(out->secret), "%s", secret);
	if (token != NULL && *token != '\0' &&
	    (out->token = strdup(token)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (doc != NULL) {
		/* Wipe the secret's copy in the tree before it is freed. */
		const char *path[2] = { "SecretAccessKey", NULL };
		yajl_val v = yajl_tree_get(doc, path, yajl_t_string);
		char *p = v != NULL ? YAJL_GET_STRING(v) : NULL;

		if (p != NULL)
			OPENSSL_cleanse(p, strlen(p));
		yajl_tree_free(doc);
	}
	return rc;
}

/* "%d: " of an error answer, for reasons. */
static void
status_why(const char *what, long status, char *why, size_t whylen)
{
	if (status != 0)
		snprintf(why, whylen, "%s answered HTTP %ld", what, status);
}

/* ---------------------------------------------------------------- imds */

static int
imds_disabled(void)
{
	const char *v = getenv("AWS_EC2_METADATA_DISABLED");

	return v != NULL && strcasecmp(v, "true") == 0;
}

int
aws_fetch_imds(const struct aws_src *s, struct st_creds_snap *out, char *why,
               size_t whylen)
{
	const char *base = st_fetch_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *hdr[2] = { NULL, NULL };
	struct st_buf b = { 0 };
	char url[1024], tokhdr[512], role[256], ep[600];
	long status;
	size_t n;
	int rc = -1;

	(void)s;
	if (imds_disabled()) {
		snprintf(why, whylen, "IMDS: AWS_EC2_METADATA_DISABLED is true");
		return -1;
	}
	snprintf(ep, sizeof(ep), "%s", base ? base : IMDS_DEFAULT);
	n = strlen(ep);
	while (n > 0 && ep[n - 1] == '/')
		ep[--n] = '\0';
	snprintf(url, sizeof(url), "%s/latest/api/token", ep);
	hdr[0] = "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TTL;
	status = st_fetch_http(&s->conn, "IMDS", "PUT", url, hdr, NULL, 1, &b,
	    why, whylen);
	if (status != 200 || b.len == 0 || b.len >= 400 ||
	    memchr(b.data, '\n', b.len) != NULL || memchr(b.data, '\r',
	    b.len) != NULL) {
		if (status != 0)
			snprintf(why, whylen, "IMDS: the token PUT answered HTTP "
			    "%ld%s", status, status == 200 ? " without a token" :
			    "");
		goto out;
	}
	snprintf(tokhdr, sizeof(tokhdr), "X-aws-ec2-metadata-token: %.*s",
	    (int)b.len, b.data);
	hdr[0] = tokhdr;
	snprintf(url, sizeof(url), "%s/latest/meta-data/iam/"
	    "security-credentials/", ep);
	status = st_fetch_http(&s->conn, "IMDS", "GET", url, hdr, NULL, 1, &b,
	    why, whylen);
	if (status != 200) {
		if (status == 404)
			snprintf(why, whylen, "IMDS: the instance has no IAM role");
		else
			status_why("IMDS", status, why, whylen);
		goto out;
	}
	n = 0;
	while (n < b.len && n < sizeof(role) - 1 && b.data[n] != '\n' &&
	    b.data[n] != '\r')
		n++;
	snprintf(role, sizeof(role), "%.*s", (int)n, b.data ? b.data : "");
	if (role[0] == '\0' || strspn(role, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") != strlen(role)) {
		snprintf(why, whylen, "IMDS: no valid role name");
		goto out;
	}
	snprintf(url, sizeof(url), "%s/latest/meta-data/iam/"
	    "security-credentials/%s", ep, role);
	status = st_fetch_http(&s->conn, "IMDS", "GET", url, hdr, NULL, 1, &b,
	    why, whylen);
	if (status != 200) {
		status_why("IMDS", status, why, whylen);
		goto out;
	}
	rc = parse_json_creds("IMDS", &b, 0, out, why, whylen);
out:
	OPENSSL_cleanse(tokhdr, sizeof(tokhdr));
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.cap);
	st_buf_free(&b);
	return rc;
}

/* ---------------------------------------------------------------- container */

static int
container_applies(void)
{
	return st_fetch_env("AWS_CONTAINER_CREDENTIALS_FULL_URI") != NULL ||
	    st_fetch_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != NULL;
}

int
aws_fetch_container(const struct aws_src *s, struct st_creds_snap *out,
                    char *why, size_t whylen)
{
	const char *full = st_fetch_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *rel =
	    st_fetch_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *tfile =
	    st_fetch_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *tenv = st_fetch_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *hdr[2] = { NULL, NULL };
	struct st_buf b = { 0 };
	char url[2048], *token = NULL, *auth = NULL;
	long status;
	int rc = -1;

	(void)s;
	if (rel != NULL)
		snprintf(url, sizeof(url), "%s%s%s", ECS_HOST,
		    rel[0] == '/' ? "" : "/", rel);
	else if (full != NULL)
		snprintf(url, sizeof(url), "%s", full);
	else {
		snprintf(why, whylen, "container: neither AWS_CONTAINER_"
		    "CREDENTIALS_RELATIVE_URI nor _FULL_URI is set");
		return -1;
	}
	if (tfile != NULL) {
		if ((token = st_fetch_read_line(tfile, "container: token file",
		    why, whylen)) == NULL)
			return -1;
	} else if (tenv != NULL) {
		if (strpbrk(tenv, "\r\n") != NULL) {
			snprintf(why, whylen, "container: AWS_CONTAINER_"
			    "AUTHORIZATION_TOKEN is not one line");
			return -1;
		}
		token = strdup(tenv);
	}
	if (token != NULL) {
		size_t n = strlen(token) + 32;

		if ((auth = malloc(n)) != NULL)
			snprintf(auth, n, "Authorization: %s", token);
		hdr[0] = auth;
	}
	status = st_fetch_http(&s->conn, "container endpoint", "GET", url, hdr,
	    NULL, 1, &b, why, whylen);
	if (status == 200)
		rc = parse_json_creds("container endpoint", &b, 0, out, why,
		    whylen);
	else
		status_why("container endpoint", status, why, whylen);
	st_fetch_secret_free(token);
	st_fetch_secret_free(auth);
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.cap);
	st_buf_free(&b);
	return rc;
}

/* ---------------------------------------------------------------- STS */

static const char *
sts_region(const struct aws_src *s)
{
	const char *r = s->region;

	if (r == NULL)
		r = st_fetch_env("AWS_REGION");
	if (r == NULL)
		r = st_fetch_env("AWS_DEFAULT_REGION");
	return r;
}

/* The STS endpoint "scheme://host[:port]" and the region to sign for. */
static void
sts_endpoint(const struct aws_src *s, char *url, size_t cap,
             const char **region)
{
	const char *ep = st_fetch_env("AWS_ENDPOINT_URL_STS");
	size_t n;

	*region = sts_region(s);
	if (ep != NULL)
		snprintf(url, cap, "%s", ep);
	else if (*region != NULL)
		snprintf(url, cap, "https://sts.%s.amazonaws.com", *region);
	else
		snprintf(url, cap, "https://sts.amazonaws.com");
	if (*region == NULL)
		*region = "us-east-1";
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
}

/* What an STS answer says. */
struct sts_answer {
	struct st_creds_snap	*out;
	char			 expiration[64];
	char			 code[64];
	int			 have_secret;
};

static int
path_ends(const char *path, const char *tail)
{
	size_t n = strlen(path), m = strlen(tail);

	return n >= m && strcmp(path + n - m, tail) == 0 &&
	    (n == m || path[n - m - 1] == '/');
}

static int
sts_xml(const char *path, const char *text, size_t len, void *arg)
{
	struct sts_answer *a = arg;

	if (path_ends(path, "Credentials/AccessKeyId")) {
		if (len >= sizeof(a->out->id))
			return -1;
		snprintf(a->out->id, sizeof(a->out->id), "%s", text);
	} else if (path_ends(path, "Credentials/SecretAccessKey")) {
		if (len >= sizeof(a->out->secret))
			return -1;
		snprintf(a->out->secret, sizeof(a->out->secret), "%s", text);
		a->have_secret = 1;
	} else if (path_ends(path, "Credentials/SessionToken")) {
		st_fetch_secret_free(a->out->token);
		if ((a->out->token = strndup(text, len)) == NULL)
			return -1;
	} else if (path_ends(path, "Credentials/Expiration")) {
		snprintf(a->expiration, sizeof(a->expiration), "%s", text);
	} else if (path_ends(path, "Error/Code")) {
		snprintf(a->code, sizeof(a->code), "%s", text);
	}
	return 0;
}

/* Posts the form to STS (signed with base when not NULL) and reads the
 * credentials of its answer. */
static int
sts_call(const struct aws_src *s, const char *action, struct st_buf *form,
         const struct st_creds_snap *base, struct st_creds_snap *out,
         char *why, size_t whylen)
{
	struct st_buf b = { 0 };
	struct sts_answer a;
	struct st_sigv4_result sig;
	const char *region, *hdr[8];
	char url[1024], host[300], what[64], lines[4][4096];
	size_t nh = 0, i;
	long status;
	int rc = -1, signed_ = 0;

	memset(&a, 0, sizeof(a));
	a.out = out;
	snprintf(what, sizeof(what), "STS %s", action);
	sts_endpoint(s, url, sizeof(url), &region);
	hdr[nh++] = "Content-Type: application/x-www-form-urlencoded; "
	    "charset=utf-8";
	hdr[nh++] = "Accept: application/xml";
	if (form->failed) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (base != NULL) {
		struct st_sigv4_header h[1] = { { "Content-Type",
		    "application/x-www-form-urlencoded; charset=utf-8" } };
		struct st_sigv4_request r;
		unsigned char digest[ST_SHA256_LEN];
		char hash[2 * ST_SHA256_LEN + 1];
		const char *p = strstr(url, "://");

		snprintf(host, sizeof(host), "%.*s", (int)strcspn(p ? p + 3 : url,
		    "/"), p ? p + 3 : url);
		st_sha256(form->data, form->len, digest);
		st_hex(digest, sizeof(digest), hash);
		memset(&r, 0, sizeof(r));
		r.method = "POST";
		r.host = host;
		r.path = "/";
		r.headers = h;
		r.nheaders = 1;
		r.payload_hash = hash;
		r.region = region;
		r.service = "sts";
		r.key_id = base->id;
		r.secret = base->secret;
		r.token = base->token;
		r.now = time(NULL);
		if (st_sigv4_sign(&r, &sig) == -1) {
			snprintf(why, whylen, "%s: could not sign", what);
			return -1;
		}
		signed_ = 1;
		for (i = 0; i < sig.nadded && i < 4; i++) {
			snprintf(lines[i], sizeof(lines[i]), "%s: %s",
			    sig.added[i].name, sig.added[i].value);
			hdr[nh++] = lines[i];
		}
	}
	hdr[nh] = NULL;
	snprintf(url + strlen(url), sizeof(url) - strlen(url), "/");
	status = st_fetch_http(&s->conn, what, "POST", url, hdr, form->data, 0,
	    &b, why, whylen);
	if (status != 0 && b.len > 0 &&
	    st_xml_parse(sts_xml, &a, b.data, b.len) == -1 && status == 200) {
		snprintf(why, whylen, "%s: the answer is not the expected XML",
		    what);
		goto out;
	}
	if (status != 200) {
		if (status != 0)
			snprintf(why, whylen, "%s answered HTTP %ld%s%s", what,
			    status, a.code[0] ? " " : "", a.code);
		goto out;
	}
	if (out->id[0] == '\0' || !a.have_secret || out->token == NULL ||
	    (out->expires = st_answer_time(a.expiration)) <= 0) {
		snprintf(why, whylen, "%s: no credentials in the answer", what);
		goto out;
	}
	rc = 0;
out:
	if (rc == -1) {
		st_fetch_secret_free(out->token);
		out->token = NULL;
		OPENSSL_cleanse(out->secret, sizeof(out->secret));
	}
	if (signed_) {
		OPENSSL_cleanse(lines, sizeof(lines));
		st_sigv4_free(&sig);
	}
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.cap);
	st_buf_free(&b);
	return rc;
}

static void
default_session_name(char *out, size_t cap)
{
	snprintf(out, cap, "stratus-%lld", (long long)time(NULL));
}

static int
web_identity_applies(void)
{
	return st_fetch_env("AWS_WEB_IDENTITY_TOKEN_FILE") != NULL &&
	    st_fetch_env("AWS_ROLE_ARN") != NULL;
}

int
aws_fetch_web_identity(const struct aws_src *s, struct st_creds_snap *out,
                       char *why, size_t whylen)
{
	const char *file = st_fetch_env("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *role = st_fetch_env("AWS_ROLE_ARN");
	const char *name = st_fetch_env("AWS_ROLE_SESSION_NAME");
	struct st_buf form = { 0 };
	char session[64], *token;
	int rc;

	if (file == NULL || role == NULL) {
		snprintf(why, whylen, "web_identity needs AWS_WEB_IDENTITY_TOKEN_"
		    "FILE and AWS_ROLE_ARN");
		return -1;
	}
	/* Re-read at every refresh: the platform rotates it. */
	if ((token = st_fetch_read_line(file, "web identity token file", why,
	    whylen)) == NULL)
		return -1;
	if (name == NULL) {
		default_session_name(session, sizeof(session));
		name = session;
	}
	st_fetch_form_add(&form, "Action", "AssumeRoleWithWebIdentity");
	st_fetch_form_add(&form, "Version", STS_VERSION);
	st_fetch_form_add(&form, "RoleArn", role);
	st_fetch_form_add(&form, "RoleSessionName", name);
	st_fetch_form_add(&form, "WebIdentityToken", token);
	st_fetch_secret_free(token);
	rc = sts_call(s, "AssumeRoleWithWebIdentity", &form, NULL, out, why,
	    whylen);
	if (form.data != NULL)
		OPENSSL_cleanse(form.data, form.cap);
	st_buf_free(&form);
	return rc;
}

int
aws_assume_role(const struct aws_src *s, const struct st_creds_snap *base,
                struct st_creds_snap *out, char *why, size_t whylen)
{
	struct st_buf form = { 0 };
	char session[64];
	int rc;

	if (s->session_name == NULL)
		default_session_name(session, sizeof(session));
	st_fetch_form_add(&form, "Action", "AssumeRole");
	st_fetch_form_add(&form, "Version", STS_VERSION);
	st_fetch_form_add(&form, "RoleArn", s->role_arn);
	st_fetch_form_add(&form, "RoleSessionName",
	    s->session_name ? s->session_name : session);
	if (s->external_id != NULL)
		st_fetch_form_add(&form, "ExternalId", s->external_id);
	rc = sts_call(s, "AssumeRole", &form, base, out, why, whylen);
	st_buf_free(&form);
	return rc;
}

/* ---------------------------------------------------------------- process */

int
aws_credential_process(const struct aws_src *s, const char *command,
                       struct st_creds_snap *out, char *why, size_t whylen)
{
	posix_spawn_file_actions_t fa;
	struct st_buf b = { 0 };
	char *argv[4] = { "/bin/sh", "-c", NULL, NULL }, chunk[4096];
	long long deadline = st_now_ms() + PROCESS_MS;
	int fds[2], status = 0, rc = -1, devnull;
	pid_t pid;

	(void)s;
	if (pipe2(fds, O_CLOEXEC) == -1) {
		snprintf(why, whylen, "credential_process: pipe: %s",
		    strerror(errno));
		return -1;
	}
	argv[2] = (char *)command;
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	/* stdin and stderr: nothing, so that the daemon's log on stderr
	 * stays one JSON object a line. */
	if (devnull != -1) {
		posix_spawn_file_actions_adddup2(&fa, devnull, 0);
		posix_spawn_file_actions_adddup2(&fa, devnull, 2);
	}
	if (posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(fds[0]);
		close(fds[1]);
		if (devnull != -1)
			close(devnull);
		snprintf(why, whylen, "credential_process: cannot start it");
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (devnull != -1)
		close(devnull);
	for (;;) {
		struct pollfd p = { fds[0], POLLIN, 0 };
		long long left = deadline - st_now_ms();
		ssize_t n;
		int ready;

		if (st_creds_stopping()) {
			kill(pid, SIGKILL);
			snprintf(why, whylen, "credential_process: stopping");
			goto reap;
		}
		if (left <= 0) {
			kill(pid, SIGKILL);
			snprintf(why, whylen, "credential_process: no answer "
			    "within %d s", PROCESS_MS / 1000);
			goto reap;
		}
		/* In slices, to notice a stop. */
		ready = poll(&p, 1, left < 500 ? (int)left : 500);
		if (ready == 0 || (ready < 0 && errno == EINTR))
			continue;
		n = read(fds[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len + (size_t)n > PROCESS_OUT_MAX) {
			kill(pid, SIGKILL);
			snprintf(why, whylen, "credential_process: its output "
			    "is too long");
			goto reap;
		}
		st_buf_add(&b, chunk, (size_t)n);
	}
	rc = 0;
reap:
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		snprintf(why, whylen, "credential_process exited with status %d",
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		rc = -1;
	}
	if (rc == 0)
		rc = parse_json_creds("credential_process", &b, 1, out, why,
		    whylen);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.cap);
	st_buf_free(&b);
	return rc;
}

/* ---------------------------------------------------------------- chain */

/* Does the profile of s say anything (keys or a command)? */
static int
profile_applies(const struct aws_src *s)
{
	const char *home = getenv("HOME");
	const char *c = st_fetch_env("AWS_SHARED_CREDENTIALS_FILE");
	const char *f = st_fetch_env("AWS_CONFIG_FILE");
	char a[4096], b[4096];

	(void)s;
	snprintf(a, sizeof(a), "%s", c ? c : "");
	if (c == NULL)
		snprintf(a, sizeof(a), "%s/.aws/credentials", home ? home : "");
	snprintf(b, sizeof(b), "%s", f ? f : "");
	if (f == NULL)
		snprintf(b, sizeof(b), "%s/.aws/config", home ? home : "");
	return access(a, R_OK) == 0 || access(b, R_OK) == 0;
}

int
aws_fetch_chain(const struct aws_src *s, struct st_creds_snap *out, char *why,
                size_t whylen)
{
	static const enum aws_src_kind order[] = {
		AWS_SRC_ENV, AWS_SRC_PROFILE, AWS_SRC_WEB_IDENTITY,
		AWS_SRC_CONTAINER, AWS_SRC_IMDS
	};
	struct st_buf tried = { 0 };
	char one[400];
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const char *skip = NULL;

		switch (order[i]) {
		case AWS_SRC_ENV:
			if (st_fetch_env("AWS_ACCESS_KEY_ID") == NULL)
				skip = "env: AWS_ACCESS_KEY_ID is not set";
			break;
		case AWS_SRC_PROFILE:
			if (!profile_applies(s))
				skip = "profile: no shared files";
			break;
		case AWS_SRC_WEB_IDENTITY:
			if (!web_identity_applies())
				skip = "web_identity: not set up";
			break;
		case AWS_SRC_CONTAINER:
			if (!container_applies())
				skip = "container: not set up";
			break;
		case AWS_SRC_IMDS:
			if (imds_disabled())
				skip = "imds: disabled";
			break;
		default:
			break;
		}
		if (skip != NULL) {
			st_buf_printf(&tried, "%s%s", tried.len ? "; " : "", skip);
			continue;
		}
		one[0] = '\0';
		if (aws_fetch_base(s, order[i], out, one, sizeof(one)) == 0) {
			st_buf_free(&tried);
			return 0;
		}
		st_creds_snap_clear(out);
		st_buf_printf(&tried, "%s%s", tried.len ? "; " : "", one);
	}
	snprintf(why, whylen, "chain: no source gave credentials (%s)",
	    tried.data ? tried.data : "");
	st_buf_free(&tried);
	return -1;
}
