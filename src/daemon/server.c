/*
 * server.c - libmicrohttpd glue: sockets, the access handler, parking.
 *
 * Design
 * ------
 * listen.threads workers (src/daemon/worker.c) each run an epoll loop
 * with their own libmicrohttpd daemon per listening socket and their own
 * transfer engine; no thread is made per request, and a request's
 * provider exchanges run on its worker. The access handler is called several times
 * per request: first with the headers (we route, authenticate and start the
 * handler), then once per piece of body, then a last time with no data.
 * Handlers answer from any of those calls, or park the connection
 * (MHD_suspend_connection) while a backend works; the backend's
 * st_call_done/st_call_wake resumes it and libmicrohttpd calls the handler
 * again. That is usually from the same worker's thread, but need not be:
 * a budget given back by another request wakes from that one's.
 *
 * Parking races with waking: a backend may finish between the handler's
 * decision to wait and the suspend. Each request has a small mutex and a
 * `woken` flag: st_req_suspend refuses to park when a wake already came,
 * and a wake only resumes a connection that really is parked.
 *
 * Paths and query strings reach us undecoded (our unescape callback is the
 * identity), so that each input is decoded once, by the validators.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/rand.h>

#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "core/blob.h"
#include "core/call.h"
#include "core/json.h"
#include "daemon/admin_api.h"
#include "daemon/auth.h"
#include "daemon/blob_api.h"
#include "daemon/limits.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/queue_api.h"
#include "daemon/reply.h"
#include "daemon/table_api.h"
#include "daemon/server.h"
#include "daemon/worker.h"
#include "sign/hmac.h"

#define MAX_LISTENERS 8
#define MAX_WORKERS 256

static struct st_worker *workers[MAX_WORKERS];
static size_t nworkers;
static size_t nlisteners;
static char *unix_path_made;	/* the socket file we created */

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct st_config *current;
/* The listen settings the server was set up with: a reload keeps them,
 * with a copy of the socket path (the configuration goes at a reload). */
static struct st_listen started;
static char started_unix[ST_UNIX_PATH_MAX];
static int sockets_from_systemd;

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct st_req *live;
static size_t nlive;
static volatile int stopping;

/* ---------------------------------------------------------------- config */

struct st_config *
st_server_config(void)
{
	struct st_config *cfg;

	pthread_mutex_lock(&config_lock);
	cfg = current;
	st_config_ref(cfg);
	pthread_mutex_unlock(&config_lock);
	return cfg;
}

void
st_server_swap_config(struct st_config *cfg)
{
	struct st_config *old;

	pthread_mutex_lock(&config_lock);
	old = current;
	current = cfg;
	pthread_mutex_unlock(&config_lock);
	st_config_unref(old);
}

const struct st_listen *
st_server_listen(void)
{
	return &started;
}

int
st_server_systemd_sockets(void)
{
	return sockets_from_systemd;
}

int
st_server_stopping(void)
{
	return stopping;
}

/* ---------------------------------------------------------------- replies */

enum MHD_Result
st_reply(struct st_req *req, int status, struct MHD_Response *resp)
{
	enum MHD_Result rc;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "X-Request-Id", req->id);
	rc = MHD_queue_response(req->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	req->status = status;
	req->replied = 1;
	return rc;
}

/* A response of the JSON in body (taken from it), counted as sent;
 * NULL when out of memory. */
static struct MHD_Response *
json_response(struct st_req *req, struct st_buf *body)
{
	struct MHD_Response *resp;
	size_t len = body->len;
	char *data = st_buf_take(body);

	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(data);
		return NULL;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	req->bytes_out += len;
	return resp;
}

enum MHD_Result
st_reply_json(struct st_req *req, int status, struct st_buf *body)
{
	struct MHD_Response *resp = json_response(req, body);

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return st_reply(req, status, resp);
}

static enum MHD_Result
reply_error_body(struct st_req *req, int status, const char *code,
                 const char *message, const char *provider_code)
{
	struct st_buf body = { 0 };
	const char *store = req->store ? req->store->name :
	    (req->route.store[0] ? req->route.store : NULL);

	req->error_code = code;
	if (st_json_error(&body, code, message, store, provider_code,
	    req->id) == -1) {
		st_buf_free(&body);
		return MHD_NO;
	}
	return st_reply_json(req, status, &body);
}

/* A JSON error with one more header (Retry-After, Content-Range). */
static enum MHD_Result
reply_error_header(struct st_req *req, int status, const char *code,
                   const char *message, const char *provider_code,
                   const char *name, const char *value)
{
	struct st_buf body = { 0 };
	struct MHD_Response *resp;

	req->error_code = code;
	if (st_json_error(&body, code, message, req->store ? req->store->name :
	    NULL, provider_code, req->id) == -1 ||
	    (resp = json_response(req, &body)) == NULL) {
		st_buf_free(&body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, name, value);
	return st_reply(req, status, resp);
}

enum MHD_Result
st_reply_error(struct st_req *req, int status, const char *code,
               const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return reply_error_body(req, status, code, message, NULL);
}

/* An error after which the connection cannot carry another request:
 * the answer says so, and libmicrohttpd closes it once sent. */
static enum MHD_Result
reply_error_close(struct st_req *req, int status, const char *code,
                  const char *message)
{
	struct st_buf body = { 0 };
	struct MHD_Response *resp;

	req->error_code = code;
	if (st_json_error(&body, code, message, NULL, NULL, req->id) == -1 ||
	    (resp = json_response(req, &body)) == NULL) {
		st_buf_free(&body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	return st_reply(req, status, resp);
}

enum MHD_Result
st_reply_call_error(struct st_req *req, struct st_call *c)
{
	struct st_http_error e = st_status_http(c->status);
	char value[64];

	/* 503 always says when to come back; a 409 does when the provider
	 * is still busy with the thing (a queue or table being deleted). */
	if (c->status == ST_RANGE) {
		snprintf(value, sizeof(value), "bytes */%llu",
		    (unsigned long long)c->info.size);
		return reply_error_header(req, e.http, e.code, c->message ?
		    c->message : e.code, c->provider_code, "Content-Range",
		    value);
	}
	if (c->status == ST_UNAVAILABLE ||
	    c->status == ST_CREDENTIALS_UNAVAILABLE ||
	    (c->status == ST_CONFLICT && c->retry_after > 0)) {
		snprintf(value, sizeof(value), "%u",
		    c->retry_after ? c->retry_after : 1);
		return reply_error_header(req, e.http, e.code, c->message ?
		    c->message : e.code, c->provider_code, "Retry-After", value);
	}
	return reply_error_body(req, e.http, e.code,
	    c->message ? c->message : e.code, c->provider_code);
}

/* ---------------------------------------------------------------- parking */

/* The connection's watch (worker.c: its header deadline, its peer while
 * parked), set up by on_connection. */
static struct st_conn_watch *
conn_watch(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info != NULL ? info->socket_context : NULL;
}

/* Under req->lock: a parked connection goes on, and its worker's loop
 * runs it (libmicrohttpd has no wake-up of its own in that mode). */
static void
resume_parked(struct st_req *req)
{
	if (req->suspended) {
		req->suspended = 0;
		MHD_resume_connection(req->conn);
		st_worker_wake(req->worker);
	}
}

static void
req_wake(struct st_req *req)
{
	pthread_mutex_lock(&req->lock);
	req->woken = 1;
	resume_parked(req);
	pthread_mutex_unlock(&req->lock);
}

static void
call_hook(struct st_call *c, void *ctx)
{
	(void)c;
	req_wake(ctx);
}

/*
 * After the peer of a parked connection shut down its sending side: can
 * what it sent before still make up the body? A client may half-close
 * once it has sent everything, and libmicrohttpd answers such a client.
 * What it sent is in the socket, and up to the connection memory of it
 * in libmicrohttpd's buffer. A chunked body's end is unknown: assumed.
 */
static int
body_may_complete(struct st_req *req)
{
	const union MHD_ConnectionInfo *info;
	int queued = 0;

	if (req->content_length == UINT64_MAX)
		return 1;
	info = MHD_get_connection_info(req->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info == NULL || ioctl(info->connect_fd, FIONREAD, &queued) == -1)
		return 1;
	return req->bytes_in + (uint64_t)queued + started.connection_memory >=
	    req->content_length;
}

/* The peer of a connection parked in the middle of its body left (on the
 * worker's thread): the upload can never finish, so the request goes
 * now, and its backend cleans up, rather than when the backend wakes it
 * (or, if it is running, at its next call). A peer that only half-closed
 * after sending its whole body is kept, and not watched again (the
 * event would repeat). */
static void
peer_gone(void *arg, int reset)
{
	struct st_req *req = arg;

	req->peer_watched = 0;
	if (!reset && body_may_complete(req)) {
		req->peer_half_closed = 1;
		return;
	}
	req->peer_left = 1;
	pthread_mutex_lock(&req->lock);
	req->aborted = 1;
	resume_parked(req);
	pthread_mutex_unlock(&req->lock);
}

static void
unwatch_peer(struct st_req *req)
{
	if (req->peer_watched) {
		req->peer_watched = 0;
		st_worker_unwatch_peer(conn_watch(req->conn));
	}
}

int
st_req_suspend(struct st_req *req)
{
	int parked = 0;

	pthread_mutex_lock(&req->lock);
	if (req->woken) {
		req->woken = 0;
	} else if (!req->aborted) {
		req->suspended = 1;
		MHD_suspend_connection(req->conn);
		parked = 1;
	}
	pthread_mutex_unlock(&req->lock);
	/* Its peer is watched from the first park in the middle of the body
	 * until the body is read: a system call per upload that parks, not
	 * per park. Handlers run on the worker's thread: this is its loop. */
	if (parked && !req->body_read && !req->peer_watched &&
	    !req->peer_half_closed &&
	    st_worker_watch_peer(conn_watch(req->conn), peer_gone, req) == 0)
		req->peer_watched = 1;
	return parked;
}

struct st_blob *
st_req_blob(struct st_req *req, const struct st_blob_store *store)
{
	struct st_call_hooks hooks = { call_hook, call_hook, req };

	req->blob = st_blob_new(store, &hooks, req->id);
	return req->blob;
}

struct st_call *
st_req_new_call(struct st_req *req, enum st_op op)
{
	struct st_call_hooks hooks = { call_hook, call_hook, req };
	struct st_call *c = st_call_new(op, &hooks);

	if (c == NULL)
		return NULL;
	c->request_id = req->id;
	if (req->store != NULL) {
		const struct st_backend *b = req->store->backend;

		c->store = req->store->handle;
		c->store_name = req->store->name;
		/* The call ends with the release of its own service. */
		if (req->store->kind == ST_KIND_QUEUE)
			req->release = b->queue->release;
		else if (req->store->kind == ST_KIND_TABLE)
			req->release = b->table->release;
		else
			req->release = b->blob->release;
	}
	req->call = c;
	return c;
}

/* ---------------------------------------------------------------- lookup */

const char *
st_req_header(struct st_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
st_req_arg(struct st_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/*
 * What one pass over the request headers finds, in the first call of the
 * access handler: their size (for listen.max_header_size) and the ways in
 * which libmicrohttpd 0.9.75 is more lenient than RFC 9112 where we can
 * still see it (docs/api.md, "HTTP leniency", lists the rest).
 */
struct header_scan {
	size_t		 bytes;		/* names and values, with ": " CRLF */
	const char	*length;	/* the first Content-Length */
	int		 lengths_differ;
	const char	*coding;	/* the first Transfer-Encoding */
	int		 codings;	/* Transfer-Encoding lines */
	int		 bad_name;	/* not a token, e.g. "Name :" */
	int		 bad_value;	/* a bare CR inside */
};

/* RFC 9110 5.6.2: the characters of a token (a header name). */
static int
tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-')
		return 1;
	return c != '\0' && strchr("!#$%&'*+.^_`|~", c) != NULL;
}

/* a and b alike but for case and for the trailing spaces and tabs
 * libmicrohttpd leaves in a value. */
static int
same_value(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
	a += strspn(a, " \t");
	b += strspn(b, " \t");
	return *a == '\0' && *b == '\0';
}

static enum MHD_Result
scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
            size_t key_size, const char *value, size_t value_size)
{
	struct header_scan *s = cls;
	size_t i;

	(void)kind;
	if (value == NULL) {
		value = "";
		value_size = 0;
	}
	s->bytes += key_size + value_size + 4;
	if (key_size == 0)
		s->bad_name = 1;
	for (i = 0; i < key_size; i++)
		if (!tchar((unsigned char)key[i]))
			s->bad_name = 1;
	if (memchr(value, '\r', value_size) != NULL)
		s->bad_value = 1;
	if (key_size == 14 && strcasecmp(key, "Content-Length") == 0) {
		if (s->length == NULL)
			s->length = value;
		else if (!same_value(s->length, value))
			s->lengths_differ = 1;
	} else if (key_size == 17 && strcasecmp(key, "Transfer-Encoding") == 0) {
		if (s->coding == NULL)
			s->coding = value;
		s->codings++;
	}
	return MHD_YES;
}

/*
 * A request whose framing or headers are in doubt: its status, or 0.
 * Each is answered at once and the connection closed, since where the
 * body ends, or what a proxy in front made of the headers, is unknown.
 *
 * Both Content-Length and Transfer-Encoding: a smuggling attempt or a
 * broken proxy. libmicrohttpd reads the body as chunked, and a store
 * would get a length that the body contradicts; RFC 9112 6.1 lets us
 * refuse it. Two different lengths: libmicrohttpd takes the first, a
 * proxy may have taken the second (6.3). A transfer coding other than
 * chunked alone: we have no other (501, 6.1). A space before the colon:
 * libmicrohttpd keeps it in the name, another parser drops it (5.1). A
 * bare CR in a value: another parser ends the line there (RFC 9110 5.5).
 */
static int
framing_problem(const struct header_scan *s, const char **why)
{
	if (s->bad_name) {
		*why = "a header name is not a token (a space before the colon?)";
		return 400;
	}
	if (s->bad_value) {
		*why = "a header value contains a carriage return";
		return 400;
	}
	if (s->lengths_differ) {
		*why = "two different Content-Length values";
		return 400;
	}
	if (s->length != NULL && s->coding != NULL) {
		*why = "Content-Length and Transfer-Encoding together";
		return 400;
	}
	if (s->coding != NULL && (s->codings > 1 ||
	    !same_value(s->coding, "chunked"))) {
		*why = "the only transfer coding taken is chunked";
		return 501;
	}
	return 0;
}

/* ---------------------------------------------------------------- life */

/* A 64-bit mixer (splitmix64's finaliser): a bijection, so a counter
 * run through it never repeats. */
static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Request ids must be unique, not secret. Each thread seeds two counters
 * from OpenSSL once and mixes them: RAND_bytes per request cost 2% of a
 * small GET, with a getpid() system call each time for fork safety.
 */
static void
new_request_id(char *out)
{
	static __thread uint64_t counter[2];
	static __thread int seeded;
	unsigned char rnd[16];
	uint64_t a, b;
	int i;

	if (!seeded) {
		RAND_bytes((unsigned char *)counter, sizeof(counter));
		seeded = 1;
	}
	a = mix64(counter[0] += 0x9e3779b97f4a7c15ULL);
	b = mix64(counter[1] += 0x9e3779b97f4a7c15ULL);
	for (i = 0; i < 8; i++) {
		rnd[i] = (unsigned char)(a >> (i * 8));
		rnd[8 + i] = (unsigned char)(b >> (i * 8));
	}
	st_hex(rnd, sizeof(rnd), out);
}

static void
req_set_id(struct st_req *req)
{
	const char *given = st_req_header(req, "X-Request-Id");

	if (given != NULL && st_valid_request_id(given)) {
		snprintf(req->id, sizeof(req->id), "%s", given);
		return;
	}
	new_request_id(req->id);
}

static struct st_req *
req_new(struct MHD_Connection *conn, const char *method)
{
	struct st_req *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	req->conn = conn;
	req->worker = st_worker_self();
	req->method = method;
	req->cfg = st_server_config();
	pthread_mutex_init(&req->lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	req_set_id(req);
	st_metrics_request_start();
	pthread_mutex_lock(&live_lock);
	req->next = live;
	if (live != NULL)
		live->prev = req;
	live = req;
	nlive++;
	pthread_mutex_unlock(&live_lock);
	return req;
}

static void
log_request(struct st_req *req, double seconds, enum MHD_RequestTerminationCode toe)
{
	struct st_call *c = req->blob != NULL ? req->blob->call : req->call;
	struct st_logrec r;

	if (!req->cfg->log_requests && req->status < 500 && toe ==
	    MHD_REQUEST_TERMINATED_COMPLETED_OK)
		return;
	st_log_begin(&r, req->status >= 500 ? ST_LOG_WARN : ST_LOG_INFO, "request");
	st_log_str(&r, "request_id", req->id);
	st_log_str(&r, "method", req->method);
	st_log_str(&r, "route", st_route_name(req->route.id));
	if (req->route.store[0] != '\0')
		st_log_str(&r, "store", req->route.store);
	if (req->keylen > 0)
		st_log_strn(&r, "key", req->key, req->keylen);
	st_log_int(&r, "status", req->status);
	if (req->error_code != NULL)
		st_log_str(&r, "code", req->error_code);
	if (req->client != NULL)
		st_log_str(&r, "client", req->client->name);
	st_log_int(&r, "bytes_in", (long long)req->bytes_in);
	st_log_int(&r, "bytes_out", (long long)req->bytes_out);
	st_log_double(&r, "ms", seconds * 1000);
	if (c != NULL && c->attempts > 0)
		st_log_int(&r, "attempts", c->attempts);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		st_log_str(&r, "terminated", toe ==
		    MHD_REQUEST_TERMINATED_CLIENT_ABORT || req->peer_left ?
		    "client went away" : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ?
		    "timeout" : "error");
	st_log_end(&r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct st_req *req = *con_cls;
	struct timespec now;
	double seconds;

	(void)cls;
	/* A kept-alive connection waits for its next request (a closing
	 * one is unwatched right after). */
	st_worker_watch_next_request(conn_watch(conn));
	if (req == NULL)
		return;
	*con_cls = NULL;
	unwatch_peer(req);
	clock_gettime(CLOCK_MONOTONIC, &now);
	seconds = (double)(now.tv_sec - req->start.tv_sec) +
	    (double)(now.tv_nsec - req->start.tv_nsec) / 1e9;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && req->status == 0)
		req->status = 499;	/* nobody heard an answer */
	log_request(req, seconds, toe);
	st_metrics_request_end(req->route.id, req->method, req->status, seconds,
	    req->bytes_in, req->bytes_out);
	/* Release tells the backend to cancel and clean up (a partial upload
	 * is deleted there), and it never touches the call afterwards. */
	if (req->upload_counted)
		st_limits_upload_end(req->client->limits);
	st_call_free_with(req->call, req->release);
	st_blob_free(req->blob);
	if (req->api_free != NULL)
		req->api_free(req->api_data);
	st_buf_free(&req->body);
	pthread_mutex_lock(&live_lock);
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		live = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	nlive--;
	pthread_mutex_unlock(&live_lock);
	st_config_unref(req->cfg);
	pthread_mutex_destroy(&req->lock);
	free(req);
}

/* ---------------------------------------------------------------- access */

enum MHD_Result
st_reply_method_not_allowed(struct st_req *req)
{
	return reply_error_header(req, 405, "method_not_allowed",
	    "method not allowed here", NULL, "Allow", req->route.allow);
}

enum MHD_Result
st_reply_empty(struct st_req *req, int status)
{
	return st_reply(req, status, MHD_create_response_from_buffer(0, NULL,
	    MHD_RESPMEM_PERSISTENT));
}

static enum MHD_Result
reply_not_found_route(struct st_req *req, enum st_route_error e)
{
	switch (e) {
	case ST_ROUTE_BAD_STORE:
		return st_reply_error(req, 404, "no_such_store",
		    "no such store (store names match [a-z0-9][a-z0-9_-]{0,62})");
	case ST_ROUTE_BAD_METHOD:
		return st_reply_method_not_allowed(req);
	default:
		return st_reply_error(req, 404, "not_found", "no such endpoint");
	}
}

enum MHD_Result
st_reply_unauthorized(struct st_req *req, const char *why)
{
	return reply_error_header(req, 401, "unauthorized", why, NULL,
	    "WWW-Authenticate", "Bearer");
}

/*
 * Which codec serves each route: the HTTP layer knows services, never
 * providers. A second front end (an S3-compatible listener, say) would be
 * a second table of codecs over the same services.
 */
struct service {
	enum st_route_id	 route;
	int			 open;		/* answered before any token */
	int			 presignable;	/* may carry a presigned grant */
	enum MHD_Result		(*start)(struct st_req *);
};

static const struct service services[] = {
	{ ST_ROUTE_HEALTH,	1, 0, st_admin_health },
	{ ST_ROUTE_READY,	1, 0, st_admin_ready },
	{ ST_ROUTE_METRICS,	0, 0, st_admin_metrics },
	{ ST_ROUTE_STORES,	0, 0, st_admin_stores },
	{ ST_ROUTE_PRESIGN,	0, 0, st_blob_api_presign_start },
	{ ST_ROUTE_BLOB,	0, 1, st_blob_api_start },
	{ ST_ROUTE_BLOB_LIST,	0, 0, st_blob_api_start },
	{ ST_ROUTE_QUEUE,	0, 0, st_queue_start },
	{ ST_ROUTE_TABLE,	0, 0, st_table_start },
};

static const struct service *
service_of(enum st_route_id id)
{
	size_t i;

	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (services[i].route == id)
			return &services[i];
	return NULL;
}

/* A blob upload: a PUT with a body (a copy has none). */
static int
is_upload(const struct st_req *req)
{
	return req->route.id == ST_ROUTE_BLOB && strcmp(req->method, "PUT") == 0 &&
	    req->content_length > 0;
}

/* A client with limits (daemon/limits.c): its rate of requests first,
 * then its uploads at once. Over either: 429 throttled, Retry-After. */
static enum MHD_Result
start_limited(struct st_req *req, const struct service *svc)
{
	struct st_limits *l = req->client->limits;
	const char *what = "rate of requests";
	char message[160], wait[16];
	unsigned seconds = st_limits_take(l);

	if (seconds == 0 && is_upload(req)) {
		if (st_limits_upload_begin(l)) {
			req->upload_counted = 1;
		} else {
			seconds = 1;
			what = "max_uploads";
		}
	}
	if (seconds == 0)
		return svc->start(req);
	snprintf(message, sizeof(message), "client '%s' is over its %s",
	    req->client->name, what);
	snprintf(wait, sizeof(wait), "%u", seconds);
	return reply_error_header(req, 429, "throttled", message, NULL,
	    "Retry-After", wait);
}

/* Routes, authenticates and starts the handler: the first call. */
static enum MHD_Result
dispatch(struct st_req *req, const char *url)
{
	const struct service *svc;
	enum st_route_error e;
	enum st_auth_result who;

	if (req->header_bytes + strlen(url) > req->cfg->listen.max_header_size)
		return st_reply_error(req, 431, "bad_request", "request headers "
		    "are larger than %u bytes", req->cfg->listen.max_header_size);
	if ((e = st_route_match(req->method, url, &req->route)) != ST_ROUTE_OK)
		return reply_not_found_route(req, e);
	if ((svc = service_of(req->route.id)) == NULL)
		return st_reply_error(req, 404, "not_found", "no such endpoint");
	/* A presigned URL carries its own grant, judged by its service. */
	if (svc->open || (svc->presignable && st_blob_api_is_presigned(req)))
		return svc->start(req);
	who = st_auth_identify(req->cfg, st_req_header(req, "Authorization"),
	    &req->client);
	if (who == ST_AUTH_BAD)
		return st_reply_unauthorized(req, "unknown or malformed bearer token");
	req->anonymous = who == ST_AUTH_ANONYMOUS;
	if (req->client != NULL && req->client->limits != NULL)
		return start_limited(req, svc);
	return svc->start(req);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **con_cls)
{
	struct st_req *req = *con_cls;

	(void)cls;
	(void)version;
	if (req == NULL) {
		struct header_scan hs = { 0 };
		const char *why;
		int status;

		st_worker_watch_headers_done(conn_watch(conn));
		if ((req = req_new(conn, method)) == NULL)
			return MHD_NO;
		*con_cls = req;
		req->url = url;
		MHD_get_connection_values_n(conn, MHD_HEADER_KIND, scan_header,
		    &hs);
		req->header_bytes = hs.bytes;
		if ((status = framing_problem(&hs, &why)) != 0) {
			req->dispatched = 1;
			return reply_error_close(req, status, status == 501 ?
			    "not_implemented" : "bad_request", why);
		}
		/* libmicrohttpd 0.9.75 closes the connection after any answer
		 * queued in this first call. A request without a body is
		 * therefore started on the next call, which comes at once, so
		 * that keep-alive survives; one with a body must be judged now,
		 * before its body is read. */
		if ((hs.length == NULL || same_value(hs.length, "0")) &&
		    hs.coding == NULL) {
			req->body_read = 1;
			return MHD_YES;
		}
		req->content_length = UINT64_MAX;	/* chunked */
		if (hs.coding == NULL)
			req->content_length = strtoull(hs.length, NULL, 10);
		req->dispatched = 1;
		return dispatch(req, url);
	}
	if (req->aborted)
		return MHD_NO;
	if (!req->dispatched) {
		req->dispatched = 1;
		return dispatch(req, req->url);
	}
	pthread_mutex_lock(&req->lock);
	req->woken = 0;
	pthread_mutex_unlock(&req->lock);
	if (*upload_data_size > 0) {
		if (req->replied || req->discard || req->on_body == NULL) {
			req->discarded += *upload_data_size;
			*upload_data_size = 0;
			/* Drop a client that keeps sending a body nobody
			 * wants, rather than reading it forever. */
			return req->discarded > ((uint64_t)64 << 20) ? MHD_NO : MHD_YES;
		}
		return req->on_body(req, upload_data, upload_data_size);
	}
	req->body_read = 1;
	unwatch_peer(req);
	if (req->replied)
		return MHD_YES;
	if (req->on_end == NULL)
		return st_reply_error(req, 500, "internal", "no handler finished "
		    "this request");
	return req->on_end(req);
}

/*
 * A new connection gets its header deadline (worker.c); a closed one
 * loses it. At its connection limit libmicrohttpd takes its listening
 * socket out of its epoll set, and puts it back only at the start of a
 * later MHD_run. When the last connection closes, nothing would make that
 * run happen (no event, no timeout) and the worker would accept nothing
 * more: a close makes the worker run its daemons once more in this round.
 */
static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
	struct st_worker *w = st_worker_self();
	const union MHD_ConnectionInfo *info;

	(void)cls;
	if (w == NULL)
		return;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		/* listen.header_timeout starts now (worker.c). */
		info = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (info != NULL)
			*socket_context = st_worker_watch(w, info->connect_fd);
		return;
	}
	st_worker_unwatch(*socket_context);
	*socket_context = NULL;
	st_worker_wake(w);
}

/* libmicrohttpd has read a request line: a kept-alive connection's next
 * request now has listen.header_timeout for its headers. Returns the
 * request's first *con_cls, which on_request wants NULL. */
static void *
on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)uri;
	st_worker_watch_request_line(conn_watch(conn));
	return NULL;
}

static size_t
unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	st_log_msg(ST_LOG_DEBUG, "libmicrohttpd", "detail", msg);
}

/* ---------------------------------------------------------------- sockets */

static int
listen_tcp(const struct st_listen *l, char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char port[8], host[NI_MAXHOST], serv[NI_MAXSERV];
	int fd = -1, one = 1, rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%u", l->port);
	if ((rc = getaddrinfo(l->address, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "listen.address %s: %s", l->address,
		    gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 || bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 511) == -1) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", l->address,
		    l->port, strerror(errno));
		if (fd != -1)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), serv,
	    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		struct st_logrec r;

		st_log_begin(&r, ST_LOG_INFO, "listening");
		st_log_str(&r, "address", host);
		st_log_int(&r, "port", atoi(serv));
		st_log_end(&r);
	}
	return fd;
}

static int
listen_unix(const struct st_listen *l, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", l->unix_path);
	/* A socket file left by a previous run is replaced; anything else
	 * at that path is not ours to remove. */
	if (lstat(l->unix_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(l->unix_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(l->unix_path, l->unix_mode) == -1 || listen(fd, 511) == -1) {
		snprintf(err, errlen, "cannot listen on %s: %s", l->unix_path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	unix_path_made = strdup(l->unix_path);
	st_log_msg(ST_LOG_INFO, "listening", "unix", l->unix_path);
	return fd;
}

/*
 * While stopping, a new connection is closed as soon as it is accepted.
 * (MHD_quiesce_daemon would leave it in the backlog instead, but in
 * libmicrohttpd 0.9.75 it races with the epoll loops of the worker
 * threads, and the loser aborts the process: "Failed to remove listen FD
 * from epoll set".)
 */
static enum MHD_Result
accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	(void)cls;
	(void)addr;
	(void)addrlen;
	return stopping ? MHD_NO : MHD_YES;
}

static unsigned
worker_count(const struct st_listen *l)
{
	long n;

	if (l->threads > 0)
		return l->threads > MAX_WORKERS ? MAX_WORKERS : l->threads;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 1 ? (unsigned)(n < MAX_WORKERS ? n : MAX_WORKERS) : 1;
}

static struct MHD_Daemon *
daemon_for(int fd, const struct st_listen *l, unsigned limit)
{
	/* No polling thread: the worker's loop drives it (MHD_run). */
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG | MHD_USE_TURBO;

	return MHD_start_daemon(flags, 0, accept_policy, NULL, on_request, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, limit,
	    MHD_OPTION_CONNECTION_TIMEOUT, l->idle_timeout,
	    /* headers and body reads (config.c says why 128 KiB) */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, l->connection_memory,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
	    /* HTTP/1.1 without Host, or a space in the URL: 400 */
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
	    MHD_OPTION_URI_LOG_CALLBACK, on_request_line, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    /* main() ignores SIGPIPE. Without this, MHD in this mode would
	     * not use sendfile() and send files 4 KiB at a time. */
	    MHD_OPTION_SIGPIPE_HANDLED_BY_APP, (int)1,
	    MHD_OPTION_END);
}

/* Gives every worker a daemon on its own duplicate of the listening
 * socket fd, which this closes. The socket is non-blocking, so that the
 * workers that lose the race for a new connection are not stuck in
 * accept(). */
static int
start_daemon(int fd, const struct st_listen *l, char *err, size_t errlen)
{
	unsigned limit = (l->max_connections + nworkers - 1) / nworkers;
	struct MHD_Daemon *d;
	size_t i;
	int copy;

	if (nlisteners == MAX_LISTENERS) {
		snprintf(err, errlen, "too many listening sockets");
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (i = 0; i < nworkers; i++) {
		if ((copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1 ||
		    (d = daemon_for(copy, l, limit ? limit : 1)) == NULL) {
			if (copy != -1)
				close(copy);
			snprintf(err, errlen, "libmicrohttpd could not start");
			close(fd);
			return -1;
		}
		if (st_worker_add(workers[i], d) == -1) {
			MHD_stop_daemon(d);
			snprintf(err, errlen, "cannot poll libmicrohttpd");
			close(fd);
			return -1;
		}
	}
	close(fd);
	nlisteners++;
	return 0;
}

static int
systemd_sockets(const struct st_listen *l, char *err, size_t errlen)
{
#ifdef HAVE_SYSTEMD
	int n = sd_listen_fds(1), i;

	for (i = 0; i < n && i < MAX_LISTENERS; i++) {
		if (start_daemon(SD_LISTEN_FDS_START + i, l, err, errlen) == -1)
			return -1;
		st_log_msg(ST_LOG_INFO, "listening", "systemd", "socket activation");
	}
	return n > 0 ? n : 0;
#else
	(void)l;
	(void)err;
	(void)errlen;
	return 0;
#endif
}

static int
make_workers(const struct st_listen *l, char *err, size_t errlen)
{
	unsigned n = worker_count(l);

	for (nworkers = 0; nworkers < n; nworkers++) {
		if ((workers[nworkers] = st_worker_new(l->header_timeout,
		    l->idle_timeout)) == NULL) {
			snprintf(err, errlen, "cannot make worker threads: %s",
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void abort_parked(void);

static int
start_workers(char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < nworkers; i++) {
		if (st_worker_start(workers[i], abort_parked) == -1) {
			snprintf(err, errlen, "cannot start worker threads: %s",
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
open_listeners(const struct st_listen *l, char *err, size_t errlen)
{
	int fd, n;

	if ((n = systemd_sockets(l, err, errlen)) != 0) {
		sockets_from_systemd = n > 0;
		return n < 0 ? -1 : 0;
	}
	if ((fd = listen_tcp(l, err, errlen)) == -1 ||
	    start_daemon(fd, l, err, errlen) == -1)
		return -1;
	if (l->unix_path != NULL && ((fd = listen_unix(l, err, errlen)) == -1 ||
	    start_daemon(fd, l, err, errlen) == -1))
		return -1;
	return 0;
}

int
st_server_start(struct st_config *cfg, char *err, size_t errlen)
{
	const struct st_listen *l = &cfg->listen;
	struct st_logrec r;

	current = cfg;
	started = *l;
	started.unix_path = NULL;
	if (l->unix_path != NULL) {
		snprintf(started_unix, sizeof(started_unix), "%s",
		    l->unix_path);
		started.unix_path = started_unix;
	}
	started.public_url = NULL;	/* reloadable: never compared */
	if (make_workers(l, err, errlen) == 0 &&
	    open_listeners(l, err, errlen) == 0 &&
	    start_workers(err, errlen) == 0) {
		st_log_begin(&r, ST_LOG_INFO, "http server");
		st_log_int(&r, "workers", (long long)nworkers);
		st_log_int(&r, "max_connections", l->max_connections);
		st_log_int(&r, "connection_memory",
		    (long long)l->connection_memory);
		st_log_end(&r);
		return 0;
	}
	while (nworkers > 0)
		st_worker_stop(workers[--nworkers]);
	nlisteners = 0;
	return -1;
}

/* Resumes every parked request so that libmicrohttpd can close it. */
static void
abort_parked(void)
{
	struct st_req *req;

	pthread_mutex_lock(&live_lock);
	for (req = live; req != NULL; req = req->next) {
		pthread_mutex_lock(&req->lock);
		req->aborted = 1;
		resume_parked(req);
		pthread_mutex_unlock(&req->lock);
	}
	pthread_mutex_unlock(&live_lock);
}

/*
 * For the systemd watchdog, called from the main thread at every tick: 1
 * when every worker ran a round of its loop since the last call (a worker
 * stuck in one round does not), then pokes each so that an idle one runs
 * a round before the next call.
 */
int
st_server_responsive(void)
{
	static unsigned seen[MAX_WORKERS];
	unsigned rounds;
	int all = 1;
	size_t i;

	for (i = 0; i < nworkers; i++) {
		rounds = st_worker_rounds(workers[i]);
		if (rounds == seen[i])
			all = 0;
		seen[i] = rounds;
		st_worker_poke(workers[i]);
	}
	return all;
}

void
st_server_begin_stop(void)
{
	stopping = 1;
}

void
st_server_stop(unsigned grace_seconds)
{
	unsigned waited_ms = 0;
	size_t i, left;

	stopping = 1;		/* accept_policy refuses new connections */
	for (;;) {
		pthread_mutex_lock(&live_lock);
		left = nlive;
		pthread_mutex_unlock(&live_lock);
		if (left == 0 || waited_ms >= grace_seconds * 1000)
			break;
		usleep(20000);
		waited_ms += 20;
	}
	if (left > 0)
		st_log_msg(ST_LOG_WARN, "stopping with requests in flight", NULL, NULL);
	/* Each worker resumes what is parked (abort_parked), then closes
	 * its connections and listening sockets on its own thread. */
	for (i = 0; i < nworkers; i++)
		st_worker_stop(workers[i]);
	nworkers = 0;
	nlisteners = 0;
	if (unix_path_made != NULL) {
		unlink(unix_path_made);
		free(unix_path_made);
		unix_path_made = NULL;
	}
	st_config_unref(current);
	current = NULL;
}
