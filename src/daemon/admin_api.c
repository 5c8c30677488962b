/*
 * admin_api.c - /v1/health, /v1/ready, /v1/stores and /metrics.
 *
 * Health is liveness (the process answers); readiness says the
 * configuration is loaded, every store's credentials have been resolved
 * once (core/creds.c), and the daemon is not stopping. /v1/stores shows
 * a caller only the stores its token (or anonymous access) reaches.
 */
#include <string.h>

#include "core/creds.h"
#include "core/json.h"
#include "daemon/admin_api.h"
#include "daemon/auth.h"
#include "daemon/rights.h"
#include "daemon/metrics.h"

static enum MHD_Result
reply_status_json(struct st_req *req, int http, const char *status)
{
	struct st_buf body = { 0 };
	yajl_gen g = st_json_new();

	if (g == NULL)
		return MHD_NO;
	yajl_gen_map_open(g);
	st_json_key_str(g, "status", status);
	yajl_gen_map_close(g);
	st_json_flush(g, &body);
	yajl_gen_free(g);
	return st_reply_json(req, http, &body);
}

enum MHD_Result
st_admin_health(struct st_req *req)
{
	return reply_status_json(req, 200, "ok");
}

enum MHD_Result
st_admin_ready(struct st_req *req)
{
	if (st_server_stopping())
		return reply_status_json(req, 503, "stopping");
	if (st_creds_unresolved() > 0)
		return reply_status_json(req, 503, "credentials_pending");
	return reply_status_json(req, 200, "ready");
}

enum MHD_Result
st_admin_metrics(struct st_req *req)
{
	struct st_buf body = { 0 };
	struct MHD_Response *resp;
	size_t len;
	char *data;

	if (req->cfg->metrics_require_token && req->client == NULL)
		return st_reply_unauthorized(req, "metrics need a token");
	st_metrics_render(&body);
	len = body.len;
	data = st_buf_take(&body);
	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	req->bytes_out += len;
	return st_reply(req, 200, resp);
}

static const char *
kind_name(unsigned kind)
{
	return kind == ST_KIND_BLOB ? "blob" : kind == ST_KIND_QUEUE ? "queue" :
	    "table";
}

/* The old summary of rights: "read" when the caller can only look
 * (and take from a queue), "write" when it can only change, else
 * "read-write". */
static const char *
access_name(unsigned rights)
{
	unsigned reading = ST_RIGHT_GET | ST_RIGHT_LIST | ST_RIGHT_QUERY |
	    ST_RIGHT_RECEIVE | ST_RIGHT_ACK;
	unsigned writing = ST_RIGHT_PUT | ST_RIGHT_DELETE | ST_RIGHT_SEND |
	    ST_RIGHT_ADMIN;

	if ((rights & reading) && (rights & writing))
		return "read-write";
	return rights & writing ? "write" : "read";
}

static void
gen_rights(yajl_gen g, unsigned kind, unsigned rights)
{
	const char *names[16];
	size_t i, n = st_rights_names(kind, rights, names, 16);

	st_json_str(g, "rights");
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++)
		st_json_str(g, names[i]);
	yajl_gen_array_close(g);
}

enum MHD_Result
st_admin_stores(struct st_req *req)
{
	const struct st_config *cfg = req->cfg;
	struct st_buf body = { 0 };
	yajl_gen g = st_json_new();
	size_t i, shown = 0;

	if (g == NULL)
		return MHD_NO;
	yajl_gen_map_open(g);
	st_json_str(g, "stores");
	yajl_gen_array_open(g);
	for (i = 0; i < cfg->nstores; i++) {
		const struct st_store *st = &cfg->stores[i];
		unsigned perms = st_auth_perms(cfg, req->client, req->anonymous, st);

		if (perms == 0)
			continue;
		yajl_gen_map_open(g);
		st_json_key_str(g, "name", st->name);
		st_json_key_str(g, "kind", kind_name(st->kind));
		st_json_key_str(g, "provider", st->backend->name);
		st_json_key_str(g, "access", access_name(perms));
		gen_rights(g, st->kind, perms);
		yajl_gen_map_close(g);
		shown++;
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	st_json_flush(g, &body);
	yajl_gen_free(g);
	if (req->anonymous && shown == 0 && !cfg->allow_anonymous) {
		st_buf_free(&body);
		return st_reply_unauthorized(req, "a bearer token is required");
	}
	return st_reply_json(req, 200, &body);
}
