/*
 * common.c - what the AWS services share: SigV4 signing for the
 * provider-call engine with a snapshot of the store's shared credentials
 * (creds.c), reading answers, and opening a service store. S3
 * (s3.c), SQS (sqs.c) and DynamoDB (dynamodb.c) use them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/guard.h"
#include "core/confval.h"
#include "providers/aws/aws.h"
#include "sign/hmac.h"
#include "sign/sigv4.h"

int
aws_sigv4_req(struct st_sigv4_request *out, const struct st_pcall_req *r,
              struct st_sigv4_header *h, size_t hcap, struct st_sigv4_param *q,
              size_t qcap)
{
	size_t i;

	if (r->nheaders > hcap || r->nquery > qcap)
		return -1;	/* never sign less than what is sent */
	memset(out, 0, sizeof(*out));
	for (i = 0; i < r->nheaders; i++) {
		h[i].name = r->headers[i].name;
		h[i].value = r->headers[i].value;
	}
	for (i = 0; i < r->nquery; i++) {
		q[i].name = r->query[i].name;
		q[i].value = r->query[i].value;
	}
	out->method = r->method;
	out->host = r->host;
	out->path = r->path;
	out->query = q;
	out->nquery = r->nquery;
	out->headers = h;
	out->nheaders = r->nheaders;
	return 0;
}

int
aws_sign_json_req(const struct st_pcall_req *r, const char *region,
                  const char *service, const struct st_creds_snap *creds,
                  time_t now, struct st_sigv4_result *out)
{
	struct st_sigv4_header h[ST_AWS_SIGN_HEADERS];
	struct st_sigv4_param q[ST_AWS_SIGN_HEADERS];
	struct st_sigv4_request req;
	unsigned char digest[ST_SHA256_LEN];
	char hash[2 * ST_SHA256_LEN + 1];

	if (aws_sigv4_req(&req, r, h, ST_AWS_SIGN_HEADERS, q,
	    ST_AWS_SIGN_HEADERS) == -1)
		return -1;
	st_sha256(r->body, r->bodylen, digest);
	st_hex(digest, sizeof(digest), hash);
	req.payload_hash = hash;
	req.region = region;
	req.service = service;
	return aws_sigv4_as(&req, creds, now, out);
}

int
aws_sigv4_as(struct st_sigv4_request *r, const struct st_creds_snap *creds,
             time_t now, struct st_sigv4_result *out)
{
	r->key_id = creds->id;
	r->secret = creds->secret;
	r->token = creds->token;
	r->now = now;
	return st_sigv4_sign(r, out);
}

int
aws_sign_attempt(struct st_pcall *pc, struct st_creds *creds,
                 aws_sign_fn sign, const void *arg)
{
	struct st_creds_snap *snap;
	struct st_sigv4_result out;
	char why[400];
	size_t i;
	int rc = 0;

	if ((snap = st_creds_take(creds, why, sizeof(why))) == NULL) {
		st_pcall_sign_unavailable(pc, why);
		return -1;
	}
	rc = sign(arg, snap, time(NULL), &out);
	st_creds_drop(snap);
	if (rc == -1)
		return -1;
	for (i = 0; i < out.nadded && rc == 0; i++)
		rc = st_pcall_sign_add(pc, out.added[i].name, out.added[i].value);
	st_sigv4_free(&out);
	return rc;
}

struct json_sign {
	const struct st_pcall_req	*r;
	const struct aws_signer		*a;
};

static int
json_sign(const void *arg, const struct st_creds_snap *snap, time_t now,
          struct st_sigv4_result *out)
{
	const struct json_sign *j = arg;

	return aws_sign_json_req(j->r, j->a->region, j->a->service, snap, now,
	    out);
}

int
aws_sign_json(struct st_pcall *pc, const struct st_pcall_req *r, void *signer)
{
	const struct aws_signer *a = signer;
	struct json_sign j = { r, a };

	return aws_sign_attempt(pc, a->creds, json_sign, &j);
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
	    (s->creds = aws_open_creds(env, &cred_endpoint, err,
	    errlen)) == NULL)
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
	    errlen) == -1 ||
	    st_conn_for_store(&s->conn, conf, env, err, errlen) == -1 ||
	    !st_conn_url_allowed(&s->conn, s->endpoint, err, errlen))
		return -1;
	s->signer.creds = s->creds;
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
	st_creds_close(s->creds);
	s->creds = NULL;
	st_conn_clear(&s->conn);
}

struct st_pcall *
aws_svc_pcall(struct aws_svc *s, struct st_call *c,
              const struct st_pcall_proto *proto)
{
	struct st_pcall_target t = { s->name, s->guard, &s->retry, &s->signer,
	    &s->conn };

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
