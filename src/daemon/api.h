/*
 * api.h - what the service codecs of the v1 API share (queue_api.c,
 * table_api.c): finding a store of a kind with the caller's rights, the
 * 404/403 rule, small bodies, numeric query parameters, parking until a
 * backend call is done, and the opaque tokens (receipts, ETags, cursors)
 * that wrap a backend's own strings.
 */
#ifndef STRATUS_DAEMON_API_H
#define STRATUS_DAEMON_API_H

#include <stddef.h>

#include "core/buf.h"
#include "daemon/server.h"

/*
 * Finds the route's store of `kind` and the caller's rights on it. A
 * store that is missing, of another kind, or on which the caller has no
 * right at all is answered 404 no_such_store (an anonymous caller where
 * anonymous access is off: 401). Returns 1 when found; else 0 and *rc is
 * the answer queued.
 */
int st_api_store(struct st_req *, unsigned kind, const char *noun,
                 enum MHD_Result *rc);
/* 1 when the caller has `right` (ST_RIGHT_*); else 0, with 403 queued in
 * *rc naming the right. */
int st_api_need(struct st_req *, unsigned right, const char *name,
                enum MHD_Result *rc);

/* The body hook of a small request body kept whole in req->body, up to
 * `max` bytes (req->api_body_max); past that the rest is discarded and
 * req->discard says so. */
enum MHD_Result st_api_take_body(struct st_req *, const char *, size_t *);

/* An optional query parameter, a whole number within [min, max]: 0 (with
 * *out = dflt when absent), or -1 with 400 queued in *rc. */
int st_api_uint_arg(struct st_req *, const char *name, unsigned min,
                    unsigned max, unsigned dflt, unsigned *out,
                    enum MHD_Result *rc);

/* An optional query parameter, percent-decoded into the call's memory:
 * valid UTF-8 of at most max bytes, no control characters. NULL when
 * absent or bad (*bad = 1). */
const char *st_api_text_arg(struct st_req *, struct st_call *,
                            const char *name, size_t max, int *bad);

/* Parks until req->call is done: 1 done, 0 parked. */
int st_api_wait(struct st_req *);

/* Starts op on c, then answers through finish (also the step a resumed
 * connection comes back to). */
enum MHD_Result st_api_run(struct st_req *, struct st_call *,
                           st_end_fn finish, void (*op)(struct st_call *));

/* Answers a failed call (its status mapped as for blobs). */
enum MHD_Result st_api_fail(struct st_req *);

/*
 * Opaque tokens. A receipt or cursor is a backend's own string made safe
 * to travel in a URL and checked on the way back: base64url of the string
 * and a short digest of it bound to the store, so that a token that was
 * not handed out (garbage, cut short, another store's) is recognised
 * before any backend sees it. Unwrap returns the length written to out
 * (NUL-terminated), or -1.
 */
int  st_api_wrap(const char *store, const char *raw, struct st_buf *out);
long st_api_unwrap(const char *store, const char *token, char *out,
                   size_t cap);

/* An ETag as the API shows it: the backend's version, wrapped, quoted. */
int  st_api_etag(const char *store, const char *raw, struct st_buf *out);
/* The backend's version from an If-Match value ("*" stays "*"): length,
 * or -1 when it is no ETag this daemon handed out. */
long st_api_unetag(const char *store, const char *header, char *out,
                   size_t cap);

#endif
