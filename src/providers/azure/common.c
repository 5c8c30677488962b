/*
 * common.c - what the Azure queue and table services share (azure.h):
 * opening a store's access to its service, signing (Shared Key, or a
 * bearer token of the group's), and describing a request. Each service
 * keeps only its protocol: paths, bodies, answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/guard.h"
#include "core/confval.h"
#include "providers/azure/azure.h"

/* The key, SAS or tokens (taken from cr) and endpoint of a resolved
 * credentials group. */
static int
take_creds(struct az_svc *s, struct az_creds *cr, const char *endpoint,
           const char *service, char *err, size_t errlen)
{
	char def[160];

	snprintf(s->account, sizeof(s->account), "%s", cr->account);
	if (cr->token != NULL) {
		s->token = cr->token;
		cr->token = NULL;
	} else if (cr->key_b64[0] != '\0') {
		if (st_az_key_decode(&s->key, cr->key_b64) == -1) {
			snprintf(err, errlen, "the account key is not valid base64");
			return -1;
		}
		s->has_key = 1;
	} else if ((s->sas = strdup(cr->sas)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (endpoint == NULL || endpoint[0] == '\0') {
		snprintf(def, sizeof(def), "https://%s.%s.core.windows.net",
		    cr->account, service);
		endpoint = def;
	}
	return az_split_endpoint(endpoint, s->scheme_host,
	    sizeof(s->scheme_host), s->base_path, sizeof(s->base_path), err,
	    errlen);
}

int
az_svc_open(struct az_svc *s, const config_setting_t *conf,
            const struct st_store_env *env, unsigned kind,
            const char *service, char *err, size_t errlen)
{
	const char *endpoint = NULL;
	struct az_creds *cr;
	int rc = -1;

	s->kind = kind;
	s->table_key = kind == ST_KIND_TABLE;
	snprintf(s->name, sizeof(s->name), "%s", env->name);
	config_setting_lookup_string(conf, "endpoint", &endpoint);
	st_retry_defaults(&s->retry);
	if (st_retry_from_config(config_lookup(conf->config, "retry"),
	    &s->retry, err, errlen) == -1 ||
	    st_retry_from_config(config_setting_get_member(conf, "retry"),
	    &s->retry, err, errlen) == -1)
		return -1;
	if ((cr = calloc(1, sizeof(*cr))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* The store's endpoint wins, else the connection string's. */
	if (az_load_creds(env, cr, err, errlen) == 0)
		rc = take_creds(s, cr, endpoint ? endpoint : kind ==
		    ST_KIND_TABLE ? cr->table_endpoint : cr->queue_endpoint,
		    service, err, errlen);
	st_creds_close(cr->token);	/* not taken: a failure */
	OPENSSL_cleanse(cr, sizeof(*cr));
	free(cr);
	if (rc == 0 && (st_conn_for_store(&s->conn, conf, env, err,
	    errlen) == -1 || !st_conn_url_allowed(&s->conn, s->scheme_host, err,
	    errlen)))
		rc = -1;
	if (rc == 0 && !env->check_only && (s->guard = st_guard_open(s->name,
	    s->scheme_host, &s->retry)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	return rc;
}

void
az_svc_close(struct az_svc *s)
{
	st_guard_close(s->guard);
	s->guard = NULL;
	st_creds_close(s->token);
	s->token = NULL;
	if (s->sas != NULL) {
		OPENSSL_cleanse(s->sas, strlen(s->sas));
		free(s->sas);
		s->sas = NULL;
	}
	st_az_key_clear(&s->key);
	st_conn_clear(&s->conn);
}

int
az_bearer(struct st_creds *c, struct st_buf *out, time_t *until, char *why,
          size_t whylen)
{
	struct st_creds_snap *snap;

	if ((snap = st_creds_take(c, why, whylen)) == NULL)
		return -1;
	st_buf_adds(out, "Bearer ");
	st_buf_adds(out, snap->token != NULL ? snap->token : "");
	if (until != NULL)
		*until = snap->expires == 0 ? 0 : snap->expires -
		    st_creds_skew(snap->obtained, snap->expires);
	st_creds_drop(snap);
	if (out->failed) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

/* A bearer token's Authorization for one attempt of pc. */
static int
sign_bearer(struct st_pcall *pc, struct st_creds *token)
{
	struct st_buf auth = { 0 };
	char why[512];
	int rc = -1;

	if (az_bearer(token, &auth, NULL, why, sizeof(why)) == -1)
		st_pcall_sign_unavailable(pc, why);
	else
		rc = st_pcall_sign_add(pc, "Authorization", auth.data);
	if (auth.data != NULL)
		OPENSSL_cleanse(auth.data, auth.len);
	st_buf_free(&auth);
	return rc;
}

int
az_svc_sign(struct st_pcall *pc, const struct st_pcall_req *r, void *signer)
{
	struct az_svc *s = signer;
	struct st_az_pair h[40];
	struct st_az_request req;
	struct st_buf auth = { 0 };
	char date[64], length[32];
	size_t n = 0, i;
	int rc;

	az_http_date(date, sizeof(date));
	if (st_pcall_sign_add(pc, "x-ms-date", date) == -1)
		return -1;
	if (s->token != NULL)
		return sign_bearer(pc, s->token);
	if (!s->has_key)
		return 0;		/* the SAS is in the URL */
	for (i = 0; i < r->nheaders && n < 36; i++) {
		h[n].name = r->headers[i].name;
		h[n++].value = r->headers[i].value;
	}
	h[n].name = "x-ms-date";
	h[n++].value = date;
	if (r->length > 0) {		/* signed; curl sends it */
		snprintf(length, sizeof(length), "%llu",
		    (unsigned long long)r->length);
		h[n].name = "Content-Length";
		h[n++].value = length;
	}
	memset(&req, 0, sizeof(req));
	req.method = r->method;
	req.account = s->account;
	req.path = r->path;
	req.query = (const struct st_az_pair *)r->query;
	req.nquery = r->nquery;
	req.headers = h;
	req.nheaders = n;
	rc = s->table_key ? st_az_table_shared_key(&req, &s->key, &auth, NULL) :
	    st_az_shared_key(&req, &s->key, &auth, NULL);
	if (rc == 0)
		rc = st_pcall_sign_add(pc, "Authorization", auth.data);
	if (auth.data != NULL)
		OPENSSL_cleanse(auth.data, auth.len);
	st_buf_free(&auth);
	return rc;
}

int
az_svc_prepare(struct az_svc *s, struct st_pcall *pc, struct st_call *c,
               const char *method, const char *path,
               const struct st_pcall_pair *q, size_t nq)
{
	struct st_buf url = { 0 };
	int rc = -1;

	st_buf_adds(&url, s->scheme_host);
	st_buf_adds(&url, path);
	if (nq > 0) {
		st_buf_adds(&url, "?");
		st_az_query_string(&url, (const struct st_az_pair *)q, nq);
	}
	if (s->sas != NULL) {
		st_buf_adds(&url, nq > 0 ? "&" : "?");
		st_buf_adds(&url, s->sas);
	}
	if (!url.failed && st_pcall_prepare(pc, method, url.data, path, q,
	    nq) == 0 && st_pcall_header(pc, "x-ms-version", AZ_VERSION) == 0 &&
	    (c->request_id == NULL || st_pcall_header(pc,
	    "x-ms-client-request-id", c->request_id) == 0))
		rc = 0;
	if (url.data != NULL)
		OPENSSL_cleanse(url.data, url.len);	/* may hold the SAS */
	st_buf_free(&url);
	if (rc == -1)
		st_call_fail(c, ST_INTERNAL, NULL, "the Azure request could not "
		    "be made");
	return rc;
}

struct st_pcall *
az_svc_pcall(struct az_svc *s, struct st_call *c,
             const struct st_pcall_proto *proto)
{
	struct st_pcall_target t = { s->name, s->guard, &s->retry, s,
	    &s->conn };

	return st_pcall_new(c, proto, &t);
}
