/*
 * stratus/backend.h - the interface every storage provider implements.
 *
 * A backend is a struct of function pointers with a version field, found by
 * provider name ("local", "s3", "azure") at start. The HTTP layer and the
 * core never name a provider: they parse and validate a request once, turn
 * it into a `struct st_call`, and hand that call to the store's backend.
 * A backend never sees the application's HTTP.
 *
 * The life of a call
 * -------------------
 * The core fills the request half of the call and invokes one operation.
 * The backend answers by filling the result half and calling
 * st_call_done(call) exactly once: from inside the operation (a backend that
 * can answer at once, such as the local store) or later from any thread (a
 * backend that waits on the network). Once done, the result is final:
 * status, object information, and for GET the position of the body.
 *
 * Streaming, both ways, through bounded buffers
 * --------------------------------------------
 * Bodies are never held whole. They move in pieces, with backpressure:
 *
 *   upload:   put_begin(call)             backend prepares, may fail early
 *             write(call, buf, len) -> n  n bytes taken (0 = full right now)
 *             put_end(call)               whole body given: commit
 *   download: get(call) -> done           headers known before any byte
 *             read(call, buf, cap) -> n   n bytes (0 = none right now,
 *                                         ST_EOF at the end, ST_ERROR)
 *
 * When write() takes nothing or read() has nothing, the core parks the
 * application's connection (libmicrohttpd suspend) and the backend calls
 * st_call_wake(call) as soon as it can take or give more. A backend that
 * only ever takes everything (a disk) never needs to call wake. A backend
 * that can hand the core a file descriptor instead implements get_fd, and
 * the core sends the file with sendfile(2).
 *
 * A call ends with release(call), always, whether it succeeded, failed or
 * the application went away in the middle: the backend cancels what is in
 * flight, deletes any temporary upload (a partial object is never visible),
 * and never touches the call after release returns.
 *
 * Memory: strings in the request half live as long as the call. Strings in
 * the result half are allocated with st_call_strdup() and freed with the
 * call; a backend keeps its own state behind call->backend_data.
 */
#ifndef STRATUS_BACKEND_H
#define STRATUS_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <libconfig.h>

/* Bumped whenever this file, or a header installed beside it for
 * backends (stratus/core/, stratus/sign/), changes incompatibly; checked
 * at load.
 * 2: queue and table services (struct st_queue_ops, struct st_table_ops).
 * 3: the core resolves a store's credentials group (st_store_env); the
 *    backend kit's headers are installed and covered by this number. */
#define ST_BACKEND_VERSION 3

/* Store kinds a backend may serve (bit set). */
#define ST_KIND_BLOB  0x1
#define ST_KIND_QUEUE 0x2
#define ST_KIND_TABLE 0x4

/* Outcome of an operation; the HTTP layer maps each to one status and code. */
enum st_status {
	ST_OK = 0,
	ST_NOT_MODIFIED,	/* 304: If-None-Match matched */
	ST_BAD_REQUEST,		/* 400 bad_request */
	ST_BAD_DIGEST,		/* 400 bad_request: Content-MD5 differs */
	ST_FORBIDDEN,		/* 403: the provider refused the credentials */
	ST_NOT_FOUND,		/* 404 not_found */
	ST_CONFLICT,		/* 409 */
	ST_PRECONDITION,	/* 412: If-Match / If-None-Match failed */
	ST_TOO_LARGE,		/* 413: over a store or provider limit */
	ST_RANGE,		/* 416: info.size says the size */
	ST_NOT_SUPPORTED,	/* the backend cannot do this one; core decides */
	ST_INTERNAL,		/* 500: a bug or a local I/O failure */
	ST_PROVIDER_ERROR,	/* 502: unusable answer from the provider */
	ST_UNAVAILABLE,		/* 503: retries exhausted or circuit open */
	ST_TIMEOUT,		/* 504: deadline passed */
	ST_CREDENTIALS_UNAVAILABLE /* 503: no valid credentials to sign with */
};

/* read() results besides a byte count. */
#define ST_EOF   (-1L)
#define ST_ERROR (-2L)

enum st_op {
	ST_OP_HEAD,
	ST_OP_GET,
	ST_OP_PUT,
	ST_OP_DELETE,
	ST_OP_LIST,
	ST_OP_COPY,
	ST_OP_PRESIGN,
	/* queues */
	ST_OP_QUEUE_CREATE,
	ST_OP_QUEUE_DELETE,
	ST_OP_QUEUE_SEND,
	ST_OP_QUEUE_RECEIVE,
	ST_OP_QUEUE_ACK,
	ST_OP_QUEUE_VISIBILITY,
	/* tables */
	ST_OP_TABLE_CREATE,
	ST_OP_TABLE_DELETE,
	ST_OP_TABLE_PUT,
	ST_OP_TABLE_GET,
	ST_OP_TABLE_REMOVE,	/* one entity */
	ST_OP_TABLE_QUERY
};

struct st_meta {
	char *name;		/* [a-z0-9_-]{1,64}, lowercase */
	char *value;		/* printable, no CR/LF */
};

/* A validated byte range. The backend resolves it against the size. */
struct st_range {
	int	 set;		/* 0: whole object */
	int	 suffix;	/* "-n": last `last` bytes */
	uint64_t first;		/* "a-" and "a-b" */
	uint64_t last;		/* "a-b" (inclusive), or n of "-n" */
	int	 open;		/* "a-": to the end */
};

struct st_blob_info {
	uint64_t	 size;		/* the whole object */
	char		*etag;		/* quoted, e.g. "\"9b2c...\"" */
	time_t		 last_modified;
	char		*content_type;
	struct st_meta	*meta;
	size_t		 nmeta;
};

struct st_store;		/* one configured store, owned by the core */
struct st_call;

/* ---------------------------------------------------------------- queues */

/* The portable limits of the queue API, checked by the core. */
#define ST_QUEUE_BODY_MAX	(48 * 1024)
#define ST_QUEUE_RECEIVE_MAX	32
#define ST_QUEUE_WAIT_MAX	20
#define ST_QUEUE_VISIBILITY_MAX	43200
#define ST_QUEUE_DELAY_MAX	900
/* A provider's own receipt handle, at most (the core wraps it). */
#define ST_QUEUE_RECEIPT_MAX	2048

/*
 * The queue part of a call. Request fields are validated by the core.
 * Receipts: the backend hands out and takes back its own handle (SQS's
 * receipt handle, Azure's message id and pop receipt, a row and a token);
 * the core wraps it in the API's opaque, URL-safe, checked form, so a
 * malformed receipt never reaches a backend.
 */
struct st_queue_part {
	/* request */
	const char	*body;		/* SEND: valid UTF-8, 1..48 KiB */
	size_t		 bodylen;
	unsigned	 delay;		/* SEND: seconds, 0..900 */
	unsigned	 max;		/* RECEIVE: 1..32 */
	unsigned	 visibility;	/* RECEIVE 1..43200, VISIBILITY 0..43200 */
	unsigned	 wait;		/* RECEIVE: 0..20 s; answer as soon as
					 * a message is there, else at the end */
	const char	*receipt;	/* ACK, VISIBILITY: the backend's handle */
	size_t		 receiptlen;
	/* result */
	int		 existed;	/* CREATE: it was there already (204) */
	const char	*id;		/* SEND: the new message's id */
	const char	*new_receipt;	/* VISIBILITY: replaces the old one */
};

/* RECEIVE: adds one received message to the answer (copied). */
int st_call_queue_message(struct st_call *, const char *id,
                          const char *receipt, const char *body,
                          size_t bodylen, unsigned dequeue_count,
                          time_t enqueued_at);
unsigned st_call_queue_count(struct st_call *);
/* Forgets the messages added so far (a receive retried from the start). */
void st_call_queue_reset(struct st_call *);

/* ---------------------------------------------------------------- tables */

#define ST_TABLE_KEY_MAX	255	/* bytes of a partition or row key */
#define ST_TABLE_PROPS_MAX	250
#define ST_TABLE_ENTITY_MAX	(400 * 1024)	/* bytes of the JSON object */
#define ST_TABLE_NAME_MAX	255	/* property name */
#define ST_TABLE_LIMIT_MAX	1000
/* Integers within +-2^53 keep their exact value on every provider. */
#define ST_TABLE_INT_MAX	9007199254740992LL

enum st_value_type {
	ST_VALUE_STRING,
	ST_VALUE_INT,
	ST_VALUE_DOUBLE,
	ST_VALUE_BOOL
};

/* One property of an entity: [A-Za-z_][A-Za-z0-9_]{0,254}, never starting
 * with '_' in what an application sends (the daemon's own names do). */
struct st_prop {
	const char		*name;
	enum st_value_type	 type;
	const char		*s;	/* STRING: valid UTF-8 */
	size_t			 slen;
	int64_t			 i;	/* INT: |i| <= 2^53 */
	double			 d;	/* DOUBLE: finite */
	int			 b;	/* BOOL */
};

/*
 * The table part of a call. ETags: the backend hands out and takes back
 * its own version string (a counter, Azure's ETag, a version attribute);
 * the core wraps it in the API's opaque quoted form and unwraps what the
 * application sends in If-Match.
 */
struct st_table_part {
	/* request */
	const char	*pk;		/* PUT, GET, REMOVE, QUERY */
	size_t		 pklen;
	const char	*rk;		/* PUT, GET, REMOVE */
	size_t		 rklen;
	const struct st_prop *props;	/* PUT: validated, unique names */
	size_t		 nprops;
	const char	*if_match;	/* PUT, REMOVE: a backend ETag, or "*";
					 * NULL: none. Missing entity: 412 */
	int		 if_none_match;	/* PUT: insert only; exists: 412 */
	const char	*prefix;	/* QUERY: row key prefix, "" for all */
	size_t		 prefixlen;
	unsigned	 limit;		/* QUERY: 1..1000 */
	const char	*cursor;	/* QUERY: the backend's own, or NULL */
	/* result */
	int		 existed;	/* CREATE: 204; PUT: replaced (200) */
	const char	*etag;		/* PUT, GET: the backend's ETag */
	const char	*next_cursor;	/* QUERY: NULL when complete */
};

/* GET and QUERY: adds one entity to the answer (row key and ETag copied),
 * then its properties one by one (copied) with st_call_table_prop. */
int st_call_table_row(struct st_call *, const char *rk, size_t rklen,
                      const char *etag);
int st_call_table_prop(struct st_call *, const struct st_prop *);
unsigned st_call_table_count(struct st_call *);
/* Forgets the entities added so far (a query retried from the start). */
void st_call_table_reset(struct st_call *);

/*
 * What the backend answers in a listing: items and common prefixes in
 * byte order, then the cursor to go on from (NULL when complete).
 */
int st_call_list_item(struct st_call *, const char *key, uint64_t size,
                      const char *etag, time_t last_modified);
int st_call_list_prefix(struct st_call *, const char *prefix);
/* Forgets what was listed so far: a listing retried from the start. */
void st_call_list_reset(struct st_call *);

struct st_call {
	/* ---- request: set by the core, already validated ---- */
	enum st_op	 op;
	void		*store;		/* what store_open returned */
	const char	*store_name;
	const char	*key;		/* valid UTF-8, 1..1024 bytes */
	size_t		 keylen;
	const char	*request_id;

	struct st_range	 range;		/* GET */
	const char	*if_match;	/* raw header value or NULL */
	const char	*if_none_match;	/* raw header value or NULL */

	const char	*content_type;	/* PUT; never NULL for PUT */
	struct st_meta	*meta;		/* PUT */
	size_t		 nmeta;
	int64_t		 content_length; /* PUT; -1 when chunked */
	int		 has_md5;
	unsigned char	 md5[16];
	uint64_t	 max_size;	/* PUT; 0 = no limit of the store's */

	void		*src_store;	/* COPY: same backend's store */
	const char	*src_store_name;
	const char	*src_key;

	const char	*prefix;	/* LIST; "" when absent */
	const char	*delimiter;	/* LIST; NULL when absent */
	const char	*cursor;	/* LIST; NULL to start */
	unsigned	 limit;		/* LIST; 1..1000 */

	const char	*method;	/* PRESIGN: "GET" or "PUT" */
	unsigned	 expires_in;	/* PRESIGN: seconds */
	const char	*base_url;	/* PRESIGN: how the app reaches stratusd */

	/* ---- result: set by the backend before st_call_done ---- */
	enum st_status	 status;
	const char	*provider_code;	/* e.g. "NoSuchKey"; NULL if none */
	const char	*message;	/* human words; never a secret */
	unsigned	 retry_after;	/* seconds, with ST_UNAVAILABLE and
					   ST_CREDENTIALS_UNAVAILABLE */
	struct st_blob_info info;	/* HEAD, GET, PUT, COPY */
	uint64_t	 body_first;	/* GET: first byte sent */
	uint64_t	 body_length;	/* GET: bytes that read() will give */
	int		 partial;	/* GET: 206 */
	const char	*next_cursor;	/* LIST */
	const char	*url;		/* PRESIGN */
	time_t		 expires_at;	/* PRESIGN */
	unsigned	 attempts;	/* how many provider attempts it took */

	/* ---- the backend's own ---- */
	void		*backend_data;

	/* ---- the core's own; a backend never touches it ---- */
	struct st_call_core *core;

	/* ---- result, added after `core` so that the layout above stays
	 * that of version 1 ---- */
	/* PRESIGN: headers the user of the URL must send with it (e.g. an
	 * Azure PUT's x-ms-blob-type), allocated with the call; or none. */
	struct st_meta	*url_headers;
	size_t		 nurl_headers;

	/* ---- version 2: the queue and table services ---- */
	struct st_queue_part queue;
	struct st_table_part table;
};

/* Services of the core that a backend calls. */
void  st_call_done(struct st_call *);
void  st_call_wake(struct st_call *);
int   st_call_is_done(struct st_call *);
char *st_call_strdup(struct st_call *, const char *);
char *st_call_strndup(struct st_call *, const char *, size_t);
void *st_call_alloc(struct st_call *, size_t);	/* zeroed, freed with call */
/* Sets status, message and provider code, and calls st_call_done. */
void  st_call_fail(struct st_call *, enum st_status, const char *provider_code,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Logging for backends: one JSON line; never pass a secret. */
void  st_log_backend(int level, const char *backend, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define ST_LOG_ERROR 0
#define ST_LOG_WARN  1
#define ST_LOG_INFO  2
#define ST_LOG_DEBUG 3

/* Blob operations. get_fd, copy and presign may be NULL: the core then
 * sends the body through read, streams a copy through get and write, and
 * makes presigned URLs of its own that it serves from the store. */
struct st_blob_ops {
	void (*head)(struct st_call *);
	void (*get)(struct st_call *);
	long (*read)(struct st_call *, char *buf, size_t cap);
	/* Optional zero-copy GET: an fd (the core closes it) and its offset. */
	int  (*get_fd)(struct st_call *, int *fd, uint64_t *offset);
	void (*put_begin)(struct st_call *);
	long (*write)(struct st_call *, const char *buf, size_t len);
	void (*put_end)(struct st_call *);
	void (*del)(struct st_call *);
	void (*list)(struct st_call *);
	/* Server-side copy within one backend; ST_NOT_SUPPORTED lets the
	 * core stream the copy through itself instead. */
	void (*copy)(struct st_call *);
	void (*presign)(struct st_call *);
	void (*release)(struct st_call *);
};

/*
 * Queue operations; all are mandatory for a backend that serves queues.
 * Each ends with st_call_done (or st_call_fail), at once or later from any
 * thread. A RECEIVE with a wait answers as soon as it has a message, or
 * when the wait is over with none: the application's connection stays
 * parked meanwhile and no thread may be held for it.
 *
 * Outcomes: CREATE on a queue being deleted ST_CONFLICT (with
 * retry_after); SEND to a missing queue ST_NOT_FOUND; DELETE of a missing
 * queue ST_OK; ACK or VISIBILITY with an unknown receipt ST_NOT_FOUND,
 * with a stale one (received again since) ST_PRECONDITION where the
 * provider can tell.
 */
struct st_queue_ops {
	void (*create)(struct st_call *);
	void (*destroy)(struct st_call *);
	void (*send)(struct st_call *);
	void (*receive)(struct st_call *);
	void (*ack)(struct st_call *);
	void (*visibility)(struct st_call *);
	void (*release)(struct st_call *);
};

/*
 * Table operations; all are mandatory for a backend that serves tables.
 * PUT answers existed = 1 when it replaced an entity. A stale or
 * unmatched If-Match, or If-None-Match on an existing entity:
 * ST_PRECONDITION and nothing changes. REMOVE of a missing entity without
 * a condition: ST_OK. A value the provider cannot store: ST_BAD_REQUEST
 * (provider_code says why) or ST_TOO_LARGE.
 */
struct st_table_ops {
	void (*create)(struct st_call *);
	void (*destroy)(struct st_call *);
	void (*put)(struct st_call *);
	void (*get)(struct st_call *);
	void (*remove)(struct st_call *);
	void (*query)(struct st_call *);
	void (*release)(struct st_call *);
};

/* Where a store's configuration comes from, for relative paths and errors. */
struct st_store_env {
	const char	*name;		/* the store's name */
	unsigned	 kind;		/* ST_KIND_* of this store */
	const char	*config_dir;	/* directory of the configuration file */
	int		 check_only;	/* --check-config: validate, no side effects */
	const unsigned char *presign_key; /* daemon's HMAC key for local URLs */
	size_t		 presign_keylen;
	/* The store's `credentials = "NAME"`, found by the core in the
	 * top-level `credentials` group: the entry (a libconfig group whose
	 * settings are the backend's to check) and its name; both NULL when
	 * the store names none. A backend never reads the root of the
	 * configuration. */
	const config_setting_t *credentials;
	const char	*credentials_name;
};

struct st_backend {
	int		 version;	/* ST_BACKEND_VERSION */
	const char	*name;		/* provider name in the configuration */
	unsigned	 kinds;		/* ST_KIND_* served */

	/* Validate and open one store from its configuration group. On error
	 * write a reason into err (the core adds file and line) and return -1. */
	int  (*store_open)(const config_setting_t *conf,
	                   const struct st_store_env *env, void **store,
	                   char *err, size_t errlen);
	void (*store_close)(void *store);
	/* Stores that can copy between each other server-side. */
	int  (*same_account)(void *a, void *b);

	/* One set per kind in `kinds`; the core checks at load that the
	 * kinds a backend declares have their mandatory operations. */
	const struct st_blob_ops  *blob;
	const struct st_queue_ops *queue;
	const struct st_table_ops *table;
};

/* A shared-object backend exports this symbol. */
#define ST_BACKEND_SYMBOL "stratus_backend"

#endif
