/*
 * server.h - one application request's life inside the HTTP layer.
 *
 * `struct st_req` is what libmicrohttpd keeps for us between calls of the
 * access handler. Handlers (blob_api.c) install two hooks on it: on_body
 * for each piece of the request body and on_end when the body is complete
 * or the connection has been resumed. Either hook may park the connection
 * with st_req_suspend(); a backend's st_call_done / st_call_wake resumes it.
 */
#ifndef STRATUS_DAEMON_SERVER_H
#define STRATUS_DAEMON_SERVER_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <microhttpd.h>

#include "core/buf.h"
#include "daemon/config.h"
#include "daemon/router.h"

struct st_req;
struct st_worker;
struct st_blob;
struct st_blob_store;
typedef enum MHD_Result (*st_body_fn)(struct st_req *, const char *, size_t *);
typedef enum MHD_Result (*st_end_fn)(struct st_req *);

struct st_req {
	struct MHD_Connection	*conn;
	struct st_worker	*worker;	/* whose thread runs conn */
	struct st_config	*cfg;		/* a reference, for the whole request */
	char			 id[ST_REQUEST_ID_MAX + 1];
	const char		*method;
	struct st_route		 route;
	struct st_store		*store;
	const struct st_client	*client;
	int			 anonymous;
	unsigned		 perms;		/* on store */
	struct timespec		 start;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	int			 status;	/* what was answered */
	const char		*error_code;	/* for the log line */
	int			 replied;
	int			 dispatched;	/* routed and started */
	const char		*url;		/* raw path, valid for the request */
	size_t			 header_bytes;	/* names and values */

	st_body_fn		 on_body;
	st_end_fn		 on_end;
	struct st_call		*call;		/* queue, table */
	void			(*release)(struct st_call *);
	struct st_blob		*blob;		/* blob: the service's request */
	struct st_buf		 body;		/* small JSON request bodies */
	size_t			 api_body_max;	/* st_api_take_body's bound */
	unsigned		 api_arg;	/* a checked query number */
	void			*api_data;	/* a codec's own, freed with */
	void			(*api_free)(void *);	/* the request */
	int			 discard;	/* swallow the rest of the body */
	int			 upload_counted;	/* in its client's max_uploads */
	uint64_t		 discarded;
	int			 aborted;	/* shutting down, or the peer
						 * left mid-body: drop */
	int			 body_read;	/* none, or all of it */
	int			 peer_watched;	/* parked mid-body once (worker.c) */
	int			 peer_left;	/* ... and the peer left */
	int			 peer_half_closed; /* ... after all its body */
	uint64_t		 content_length;	/* UINT64_MAX: chunked */

	/* Parking: the backend may finish on another thread. */
	pthread_mutex_t		 lock;
	int			 suspended;
	int			 woken;
	struct st_req		*prev, *next;	/* live requests */

	char			 key[ST_KEY_MAX + 1];
	size_t			 keylen;
};

/* Reply helpers: each records the status, adds X-Request-Id, queues. */
enum MHD_Result st_reply(struct st_req *, int status, struct MHD_Response *);
enum MHD_Result st_reply_json(struct st_req *, int status, struct st_buf *);
enum MHD_Result st_reply_error(struct st_req *, int status, const char *code,
                               const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 405 with Allow: req->route.allow. */
enum MHD_Result st_reply_method_not_allowed(struct st_req *);
/* A status with no body (204). */
enum MHD_Result st_reply_empty(struct st_req *, int status);
/* 401 with WWW-Authenticate: Bearer. */
enum MHD_Result st_reply_unauthorized(struct st_req *, const char *why);
/* The reply for a failed backend call (status, provider code, message). */
enum MHD_Result st_reply_call_error(struct st_req *, struct st_call *);

/* 1: parked, return MHD_YES and wait; 0: a wake came first, go on now. */
int  st_req_suspend(struct st_req *);
/* A call on the request's store, whose completion wakes the request. */
struct st_call *st_req_new_call(struct st_req *, enum st_op);
/* The blob service's request on a store (req->blob), whose calls wake
 * the request likewise. NULL: out of memory. */
struct st_blob *st_req_blob(struct st_req *, const struct st_blob_store *);

/* Lookup helpers over the request's headers and query arguments. */
const char *st_req_header(struct st_req *, const char *name);
const char *st_req_arg(struct st_req *, const char *name);

/* Server lifecycle (main.c). */
int  st_server_start(struct st_config *, char *err, size_t errlen);
void st_server_swap_config(struct st_config *);
void st_server_stop(unsigned grace_seconds);
/* The first step of st_server_stop, on its own: from now on /v1/ready
 * says "stopping" and new connections are refused. */
void st_server_begin_stop(void);
struct st_config *st_server_config(void);	/* a new reference */
/* The listen settings the server started with (a reload keeps them), and
 * whether its sockets came from systemd instead of them. */
const struct st_listen *st_server_listen(void);
int  st_server_systemd_sockets(void);
int  st_server_stopping(void);
int  st_server_responsive(void);

#endif
