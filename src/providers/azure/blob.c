/*
 * blob.c - blob stores on Azure Blob Storage (and Azurite).
 *
 * Every operation of the blob API becomes one or a few Blob service
 * requests, run by the provider-call engine (src/core/pcall.c) with this
 * file's protocol (az_blob_proto): signed as the queue and table services
 * sign (common.c: Shared Key, the configured SAS, or a bearer token of the
 * credentials group), the service's error codes and their meaning. This
 * file decides which requests, and how their answers map back; it has no
 * call loop and does no I/O of its own. It follows s3.c closely, and
 * shares its machinery through src/core: the pipe between curl and the
 * application (stream.c), an upload in parts (upload.c, parts.c) and
 * its memory budget (budget.c).
 *
 * Streaming
 * ---------
 * GET: the body flows through a bounded pipe (curl's write hook fills it
 * and pauses when it is full; read() drains it and resumes curl). Size,
 * ETag and metadata go to the core as soon as the headers arrive. The
 * application's If-Match / If-None-Match are judged here on the answer's
 * ETag (the API's list and weak-comparison rules, which the service does
 * not implement); a suffix range ("bytes=-n"), which x-ms-range cannot
 * say, is resolved with a Get Blob Properties first and the GET is then
 * pinned to that ETag.
 *
 * PUT of a known length up to one block (and multipart_threshold): the
 * body is held in memory (under the blocks' budget) and sent as one Put
 * Blob with its MD5, so that a failed attempt is sent again. Up to
 * multipart_threshold: one Put Blob whose body streams through the pipe;
 * it is retried only when no byte of it had left.
 *
 * Larger or unknown-length PUT: Put Block, then Put Block List. Bytes are
 * cut into blocks of part_size, each held in memory until the service has
 * it, so a block is retried on its own. Block buffers come from a budget
 * shared by every upload of the process: when it is spent, write() takes
 * nothing and the upload waits, suspended. Up to four blocks of one upload
 * are in flight. Block ids carry a random tag per upload, so two uploads
 * of one key never mix their blocks. The list is committed (with the
 * application's conditions) only when every block is in and, when a
 * Content-MD5 was given, the body's MD5 matches it; a failed upload leaves
 * only uncommitted blocks, which the service drops after a week. Nothing
 * needs aborting.
 *
 * A conditional write retried after a lost answer may meet its own first
 * attempt (409/412): the blob is then checked to be ours (a held body by
 * its MD5, a block list by its block ids) before the write is called
 * failed.
 *
 * Names: the service turns '\' into '/', so keys are stored escaped
 * ('[' as "[[", '\' as "[]"), an escaping that keeps byte order and
 * prefixes (see name_escape).
 *
 * Metadata: Azure wants C#-identifier names and ASCII values; the API
 * allows '-' in names and UTF-8 values. Names that are not identifiers
 * are stored as "stx_" + the name with '_' doubled and '-' as "_h";
 * values that are not plain ASCII (or are empty, or have blanks at an
 * end, or start with "=?") are stored as RFC 2047 "=?UTF-8?B?...?=". Both
 * are undone on the way back.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stratus/backend.h>

#include "core/answer.h"
#include "core/blobcall.h"
#include "core/budget.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/conn.h"
#include "core/guard.h"
#include "core/parts.h"
#include "core/retry.h"
#include "core/stream.h"
#include "core/transfer.h"
#include "core/upload.h"
#include "core/validate.h"
#include "core/xml.h"
#include "core/confval.h"
#include "providers/azure/azure.h"
#include "sign/azure_sign.h"
#include "sign/hmac.h"

#define PIPE_SIZE (1024 * 1024)	/* uploads; downloads at most */
#define BLOCKS_IN_FLIGHT 4
#define MAX_BLOCKS 50000
#define DEFAULT_THRESHOLD (16ULL << 20)
#define DEFAULT_BLOCK_SIZE (8ULL << 20)
#define MIN_BLOCK_SIZE (1ULL << 20)
#define MAX_BLOCK_SIZE (4000ULL << 20)
#define MAX_PUT_BLOB (5000ULL << 20)
#define MAX_BLOB_SIZE (MAX_BLOCK_SIZE * MAX_BLOCKS)
#define PIN_TRIES 3			/* HEAD-then-GET or HEAD-then-copy races */
#define COPY_WAIT_MS (3600 * 1000)	/* a pending copy, when no deadline */

/* ---------------------------------------------------------------- store */

/* What Get User Delegation Key answered (the times as it wrote them). */
struct udk_vals {
	char	oid[64], tid[64], start[32], expiry[32];
	char	service[8], version[16];
	char	value[128];		/* base64 */
};

/* A store's user delegation key, for SAS URLs when it holds bearer
 * tokens: asked for once, kept until near its expiry. */
struct az_udk {
	pthread_mutex_t	 lock;
	struct udk_vals	 v;		/* under lock */
	time_t		 expires;	/* under lock; 0: none */
};

static struct az_udk *
udk_new(void)
{
	struct az_udk *u = calloc(1, sizeof(*u));

	if (u != NULL)
		pthread_mutex_init(&u->lock, NULL);
	return u;
}

static void
udk_free(struct az_udk *u)
{
	if (u == NULL)
		return;
	pthread_mutex_destroy(&u->lock);
	OPENSSL_cleanse(u, sizeof(*u));
	free(u);
}

struct az_store {
	/* First, its kind first of all (azure.h): the service's access,
	 * signed as the queue and table services are (common.c). */
	struct az_svc		 svc;
	char			 container[64];
	char			 identity[900];		/* same_account */
	struct az_udk		*udk;			/* with token: presigning */
	uint64_t		 threshold;
	uint64_t		 block_size;
};

static const char *const az_keys[] = {
	"name", "kind", "provider", "container", "credentials", "endpoint",
	"multipart_threshold", "part_size", "max_object_size",
	"allow_anonymous", "retry", ST_CONN_KEYS, NULL
};

/* ---------------------------------------------------------------- budget */

/* The memory all block uploads of the process may hold in block buffers;
 * waiters are woken first come, first served. */
#define BLOCKS_BUDGET (40ULL << 20)

static struct st_budget blocks_budget = ST_BUDGET_INIT(BLOCKS_BUDGET);

/* ---------------------------------------------------------------- call */

struct az_call {
	struct st_blobcall	 bc;		/* first: the core's part */
	struct az_store		*s;
	struct az_store		*as;		/* whose access signs them */
	struct st_buf		 req_body;	/* held request body (XML) */

	/* a held body's MD5, to know it again */
	unsigned char		 held_md5[16];

	/* GET */
	int			 conds_checked;	/* judged on a HEAD already */
	int			 want_range;	/* a range was asked of Azure */
	uint64_t		 want_first;
	char			*pinned_etag;	/* the version a GET or copy reads */
	unsigned		 pin_tries;

	/* listing */
	struct {
		char	*name;
		uint64_t size;
		char	*etag;
		time_t	 mtime;
		char	*marker;
	} ls;

	/* blocks */
	char			 tag[17];	/* random, per upload (the blocks
						 * are named by their ids) */
	EVP_MD_CTX		*md5;		/* when Content-MD5 was given */

	/* a retried write that met its own success */
	long			 verify_status;
	char			 verify_code[64];
	int			 check_ok;
	unsigned		 check_n;

	/* copy */
	char			*copy_id;
	long long		 copy_started_ms;
	unsigned		 polls;

	/* presign with a bearer token: the key being fetched */
	struct udk_vals		*udk;
};

/* ---------------------------------------------------------------- config */

/* 3 to 63 of a-z 0-9 '-', starting and ending with a letter or digit, no
 * "--"; or one of the special containers. */
static int
valid_container(const char *c)
{
	size_t n = strlen(c), i;

	if (strcmp(c, "$root") == 0 || strcmp(c, "$web") == 0)
		return 1;
	if (n < 3 || n > 63 || c[0] == '-' || c[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		if (!islower((unsigned char)c[i]) && !isdigit((unsigned char)c[i]) &&
		    c[i] != '-')
			return 0;
		if (c[i] == '-' && c[i + 1] == '-')
			return 0;
	}
	return 1;
}

int
az_split_endpoint(const char *endpoint, char *scheme_host, size_t shcap,
                  char *base_path, size_t bpcap, char *err, size_t errlen)
{
	const char *host, *slash;
	size_t n;

	if (strncmp(endpoint, "http://", 7) != 0 &&
	    strncmp(endpoint, "https://", 8) != 0) {
		snprintf(err, errlen, "endpoint must start with http:// or https://");
		return -1;
	}
	host = strstr(endpoint, "://") + 3;
	slash = strchr(host, '/');
	n = slash ? (size_t)(slash - endpoint) : strlen(endpoint);
	if (*host == '\0' || *host == '/' || strpbrk(endpoint, "?# \t") != NULL) {
		snprintf(err, errlen, "endpoint must be scheme://host[:port][/path]");
		return -1;
	}
	if (st_format(scheme_host, shcap, "%.*s", (int)n, endpoint) == -1 ||
	    st_format(base_path, bpcap, "%s", slash ? slash : "") == -1) {
		snprintf(err, errlen, "endpoint too long");
		return -1;
	}
	n = strlen(base_path);
	while (n > 0 && base_path[n - 1] == '/')
		base_path[--n] = '\0';
	return 0;
}

/* endpoint: scheme://host[:port][/path], no query. */
static int
set_endpoint(struct az_store *s, const char *endpoint, char *err,
             size_t errlen)
{
	return az_split_endpoint(endpoint, s->svc.scheme_host,
	    sizeof(s->svc.scheme_host), s->svc.base_path,
	    sizeof(s->svc.base_path), err, errlen);
}

static void az_close(void *);

static int
az_open(const config_setting_t *conf, const struct st_store_env *env,
        void **out, char *err, size_t errlen)
{
	const char *container = NULL, *endpoint = NULL;
	struct az_creds *cr = NULL;
	struct az_store *s;

	*out = NULL;
	if (st_conf_only_keys(conf, az_keys, err, errlen) == -1)
		return -1;
	if (!config_setting_lookup_string(conf, "container", &container) ||
	    !valid_container(container)) {
		snprintf(err, errlen, "an azure store needs container = \"NAME\" "
		    "(3 to 63 of a-z 0-9 -, no leading, trailing or double -)");
		return -1;
	}
	config_setting_lookup_string(conf, "endpoint", &endpoint);
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (cr = calloc(1, sizeof(*cr))) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->svc.kind = ST_KIND_BLOB;
	snprintf(s->svc.name, sizeof(s->svc.name), "%s", env->name);
	snprintf(s->container, sizeof(s->container), "%s", container);
	s->threshold = DEFAULT_THRESHOLD;
	s->block_size = DEFAULT_BLOCK_SIZE;
	st_retry_defaults(&s->svc.retry);
	if (st_conf_size(conf, "multipart_threshold", 0, MAX_PUT_BLOB, &s->threshold,
	    err, errlen) == -1 || st_conf_size(conf, "part_size", MIN_BLOCK_SIZE,
	    MAX_BLOCK_SIZE, &s->block_size, err, errlen) == -1 ||
	    st_retry_from_config(config_lookup(conf->config, "retry"),
	    &s->svc.retry, err, errlen) == -1 ||
	    st_retry_from_config(config_setting_get_member(conf, "retry"),
	    &s->svc.retry, err, errlen) == -1 ||
	    az_load_creds(env, cr, err, errlen) == -1)
		goto fail;
	snprintf(s->svc.account, sizeof(s->svc.account), "%s", cr->account);
	if (cr->token != NULL) {
		s->svc.token = cr->token;
		cr->token = NULL;
		if ((s->udk = udk_new()) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	} else if (cr->key_b64[0] != '\0') {
		if (st_az_key_decode(&s->svc.key, cr->key_b64) == -1) {
			snprintf(err, errlen, "the account key is not valid base64");
			goto fail;
		}
		s->svc.has_key = 1;
	} else if (cr->sas[0] != '\0' &&
	    (s->svc.sas = strdup(cr->sas)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* (A SAS is kept only without a key or tokens: it then goes with
	 * every request, az_svc_prepare.) */
	if (endpoint == NULL)
		endpoint = cr->endpoint[0] != '\0' ? cr->endpoint : NULL;
	if (endpoint == NULL) {
		char def[128];

		snprintf(def, sizeof(def), "https://%s.blob.core.windows.net",
		    s->svc.account);
		if (set_endpoint(s, def, err, errlen) == -1)
			goto fail;
	} else if (set_endpoint(s, endpoint, err, errlen) == -1) {
		goto fail;
	}
	if (st_conn_for_store(&s->svc.conn, conf, env, err, errlen) == -1 ||
	    !st_conn_url_allowed(&s->svc.conn, s->svc.scheme_host, err, errlen))
		goto fail;
	if (st_format(s->identity, sizeof(s->identity), "%s%s|%s",
	    s->svc.scheme_host, s->svc.base_path, s->svc.account) == -1) {
		snprintf(err, errlen, "endpoint too long");
		goto fail;
	}
	if (!env->check_only &&
	    (s->svc.guard = st_guard_open(s->svc.name, s->svc.scheme_host,
	    &s->svc.retry)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	OPENSSL_cleanse(cr, sizeof(*cr));
	free(cr);
	*out = s;
	return 0;
fail:
	st_creds_close(cr->token);	/* not taken */
	OPENSSL_cleanse(cr, sizeof(*cr));
	free(cr);
	az_close(s);
	return -1;
}

static void
az_close(void *p)
{
	struct az_store *s = p;

	if (s == NULL)
		return;
	az_svc_close(&s->svc);
	udk_free(s->udk);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

static int
az_same_account(void *a, void *b)
{
	struct az_store *x = a, *y = b;

	/* One account behind one endpoint: the service copies between its
	 * containers by itself. */
	return strcmp(x->identity, y->identity) == 0;
}

/* ---------------------------------------------------------------- names */

/*
 * The service turns '\' into '/' in blob names, so that keys "a\b" and
 * "a/b" would be one blob. Keys are therefore stored escaped: '[' as "[["
 * and '\' as "[]". '[' is next to '\' in byte order and the code is
 * prefix-free, so the escaping keeps listings in the keys' byte order and
 * prefixes as prefixes. (A delimiter holding '\' or ']' cannot be matched
 * in escaped names: such a listing is refused.)
 */
static int
name_escape(struct st_buf *out, const char *key, size_t len)
{
	size_t i, from = 0;

	for (i = 0; i < len; i++) {
		if (key[i] != '[' && key[i] != '\\')
			continue;
		st_buf_add(out, key + from, i - from);
		st_buf_adds(out, key[i] == '[' ? "[[" : "[]");
		from = i + 1;
	}
	st_buf_add(out, key + from, len - from);
	return out->failed ? -1 : 0;
}

/* An escaped name back to its key (malloc'ed). A '[' that is not one of
 * ours (a blob another client named) is kept as it is. */
static char *
name_unescape(const char *name, size_t len)
{
	char *out = malloc(len + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (name[i] == '[' && i + 1 < len &&
		    (name[i + 1] == '[' || name[i + 1] == ']')) {
			out[o++] = name[i + 1] == '[' ? '[' : '\\';
			i++;
		} else {
			out[o++] = name[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* An escaped name allocated with the call (for a SAS's resource). */
static char *
call_name(struct st_call *c, const char *key, size_t len)
{
	struct st_buf b = { 0 };
	char *out;

	if (name_escape(&b, key, len) == -1) {
		st_buf_free(&b);
		return NULL;
	}
	out = st_call_strndup(c, b.data ? b.data : "", b.len);
	st_buf_free(&b);
	return out;
}

/* ---------------------------------------------------------------- requests */

/* "/base/container/encoded-escaped-blob" (blob NULL: the container). */
static int
blob_path(struct st_buf *out, const struct az_store *s, const char *blob,
          size_t bloblen)
{
	st_buf_adds(out, s->svc.base_path);
	st_buf_adds(out, "/");
	st_buf_adds(out, s->container);
	if (blob != NULL) {
		struct st_buf name = { 0 };

		st_buf_adds(out, "/");
		if (name_escape(&name, blob, bloblen) == -1 ||
		    st_az_encode_blob_name(out, name.data ? name.data : "",
		    name.len) == -1) {
			st_buf_free(&name);
			return -1;
		}
		st_buf_free(&name);
	}
	return out->failed ? -1 : 0;
}

/* The URL of a blob as the service names it (a copy source). */
static int
blob_url(struct st_buf *out, const struct az_store *s, const char *blob)
{
	st_buf_adds(out, s->svc.scheme_host);
	return blob_path(out, s, blob, strlen(blob));
}

void
az_http_date(char *out, size_t cap)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/*
 * Describes pc's next request to store s, signed with s's access (a copy's
 * source is read through its own store): method, the URL path (encoded),
 * query parameters (decoded) and extra headers (name, value pairs,
 * NULL-ended). The SAS, x-ms-version and the request id are added by
 * az_svc_prepare; the date and the signature at every attempt by the
 * proto's sign. -1 when it could not be made: the call has then failed.
 */
static int
az_request_path(struct az_call *ac, struct st_pcall *pc, struct az_store *s,
                const char *method, const char *path,
                const struct st_pcall_pair *q, size_t nq,
                const char *const *headers)
{
	size_t i;

	/* Block pcalls sign beside the writer's thread: written only when
	 * it changes, never during an upload. */
	if (ac->as != s)
		ac->as = s;
	if (az_svc_prepare(&s->svc, pc, ac->bc.call, method, path, q, nq) == -1)
		return -1;
	for (i = 0; headers != NULL && headers[i] != NULL; i += 2)
		if (st_pcall_header(pc, headers[i], headers[i + 1]) == -1) {
			st_call_fail(ac->bc.call, ST_INTERNAL, NULL,
			    "the Azure "
			    "request could not be made");
			return -1;
		}
	return 0;
}

/* az_request_path for the blob (NULL for the container) of store s. */
static int
az_request(struct az_call *ac, struct st_pcall *pc, struct az_store *s,
           const char *method, const char *blob, size_t bloblen,
           const struct st_pcall_pair *q, size_t nq,
           const char *const *headers)
{
	struct st_buf path = { 0 };
	int rc = -1;

	if (blob_path(&path, s, blob, bloblen) == 0)
		rc = az_request_path(ac, pc, s, method, path.data, q, nq,
		    headers);
	else
		st_call_fail(ac->bc.call, ST_INTERNAL, NULL,
		    "the Azure request "
		    "could not be made");
	st_buf_free(&path);
	return rc;
}

/* The proto's sign: the store the request was described for signs it
 * (Shared Key, or a bearer token of its group, or nothing: its SAS). */
static int
az_sign(struct st_pcall *pc, const struct st_pcall_req *r, void *signer)
{
	struct az_call *ac = signer;

	return az_svc_sign(pc, r, &ac->as->svc);
}

/* ---------------------------------------------------------------- answers */

static const struct st_answer_code code_map[] = {
	{ "BlobNotFound", ST_NOT_FOUND }, { "ContainerNotFound", ST_NOT_FOUND },
	{ "ResourceNotFound", ST_NOT_FOUND },
	{ "CannotVerifyCopySource", ST_NOT_FOUND },
	{ "ConditionNotMet", ST_PRECONDITION },
	{ "TargetConditionNotMet", ST_PRECONDITION },
	{ "SourceConditionNotMet", ST_PRECONDITION },
	{ "BlobAlreadyExists", ST_PRECONDITION },
	{ "AuthenticationFailed", ST_FORBIDDEN },
	{ "AuthorizationFailure", ST_FORBIDDEN },
	{ "AuthorizationPermissionMismatch", ST_FORBIDDEN },
	{ "AuthorizationResourceTypeMismatch", ST_FORBIDDEN },
	{ "AuthorizationServiceMismatch", ST_FORBIDDEN },
	{ "AuthorizationProtocolMismatch", ST_FORBIDDEN },
	{ "AuthorizationSourceIPMismatch", ST_FORBIDDEN },
	{ "InsufficientAccountPermissions", ST_FORBIDDEN },
	{ "AccountIsDisabled", ST_FORBIDDEN },
	{ "NoAuthenticationInformation", ST_FORBIDDEN },
	{ "InvalidAuthenticationInfo", ST_FORBIDDEN },
	{ "InvalidRange", ST_RANGE },
	{ "RequestBodyTooLarge", ST_TOO_LARGE },
	{ "BlockCountExceedsLimit", ST_TOO_LARGE },
	{ "BlockListTooLong", ST_TOO_LARGE },
	{ "Md5Mismatch", ST_BAD_DIGEST }, { "InvalidMd5", ST_BAD_DIGEST },
	{ "InvalidBlockList", ST_CONFLICT },
	{ "LeaseIdMissing", ST_CONFLICT }, { "LeaseAlreadyPresent", ST_CONFLICT },
	{ "LeaseIdMismatchWithBlobOperation", ST_CONFLICT },
	{ "PendingCopyOperation", ST_CONFLICT },
	{ "SnapshotsPresent", ST_CONFLICT },
	{ "BlobArchived", ST_CONFLICT }, { "BlobBeingRehydrated", ST_CONFLICT },
	{ "ServerBusy", ST_UNAVAILABLE }, { "InternalError", ST_UNAVAILABLE },
	{ "OperationTimedOut", ST_UNAVAILABLE },
};

/* Maps an Azure answer to the API's outcome. */
static enum st_status
map_status(long status, const char *code)
{
	return st_answer_map(code_map, sizeof(code_map) / sizeof(code_map[0]),
	    status, code);
}

/*
 * The Blob service's protocol for the engine. Every request is sent again
 * on a failure that allows it: reads, Put Blob and Put Block (a blob is
 * written whole or not at all), Put Block List (a retried commit that
 * meets its own first attempt is checked: finish_commit), Copy Blob (the
 * same copy twice is one), Delete Blob.
 */
static const struct st_pcall_proto az_blob_proto = {
	.service = "Azure",
	.sign = az_sign,
	.error_code = st_pcall_code_xml,
	.code_header = "x-ms-error-code",
	.codes = code_map,
	.ncodes = sizeof(code_map) / sizeof(code_map[0]),
};

/* Fails the call with an error answer's status and code. */
static void
fail_answer(struct az_call *ac, long status, const char *code)
{
	struct st_call *c = ac->bc.call;
	enum st_status st = map_status(status, code);

	/* A write or delete "only if it is this version" of a blob that is
	 * not there: the condition failed. */
	if (st == ST_NOT_FOUND && c->if_match != NULL &&
	    (c->op == ST_OP_PUT || c->op == ST_OP_DELETE || c->op == ST_OP_COPY))
		st = ST_PRECONDITION;
	if (st == ST_UNAVAILABLE)
		c->retry_after = 1;
	st_call_fail(c, st, code, "Azure answered %ld%s%s for store '%s'",
	    status, code ? " " : "", code ? code : "", ac->s->svc.name);
}

/* Fails the call with pc's final answer, or with its lack of one. */
static void
az_fail(struct az_call *ac, struct st_pcall *pc)
{
	if (st_pcall_status(pc) == 0)
		st_pcall_fail(pc);
	else
		fail_answer(ac, st_pcall_status(pc), st_pcall_code(pc));
}

/* ---------------------------------------------------------------- metadata */

#define META_ESC "stx_"
#define B_PREFIX "=?UTF-8?B?"

/* An API name as an Azure metadata name (a C# identifier). */
static int
meta_name_out(const char *name, char *out, size_t cap)
{
	size_t i, n = strlen(name), o = 0;
	int plain = (islower((unsigned char)name[0]) || name[0] == '_') &&
	    strncmp(name, META_ESC, strlen(META_ESC)) != 0;

	for (i = 0; plain && i < n; i++)
		if (name[i] == '-')
			plain = 0;
	if (plain)
		return st_format(out, cap, "%s", name);
	if (st_format(out, cap, "%s", META_ESC) == -1)
		return -1;
	o = strlen(out);
	for (i = 0; i < n; i++) {
		if (o + 3 > cap)
			return -1;
		if (name[i] == '_') {
			out[o++] = '_';
			out[o++] = '_';
		} else if (name[i] == '-') {
			out[o++] = '_';
			out[o++] = 'h';
		} else {
			out[o++] = name[i];
		}
	}
	out[o] = '\0';
	return 0;
}

/* An Azure metadata name (lowercased) back to the API's; -1 if it cannot
 * be one. */
static int
meta_name_in(const char *az, char *out, size_t cap)
{
	size_t i, o = 0, n;

	if (strncmp(az, META_ESC, strlen(META_ESC)) != 0) {
		if (st_format(out, cap, "%s", az) == -1)
			return -1;
	} else {
		az += strlen(META_ESC);
		n = strlen(az);
		for (i = 0; i < n; i++) {
			if (o + 2 > cap)
				return -1;
			if (az[i] != '_') {
				out[o++] = az[i];
				continue;
			}
			if (az[i + 1] == '_')
				out[o++] = '_';
			else if (az[i + 1] == 'h')
				out[o++] = '-';
			else
				return -1;
			i++;
		}
		out[o] = '\0';
	}
	return st_valid_meta_name(out, strlen(out)) ? 0 : -1;
}

static int
value_needs_encoding(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' ||
	    v[n - 1] == '\t' || strncmp(v, "=?", 2) == 0)
		return 1;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] >= 0x80)
			return 1;
	return 0;
}

/* An API value as an Azure one (allocated with the call). */
static const char *
meta_value_out(struct st_call *c, const char *v)
{
	size_t n = strlen(v);
	char *out;

	if (!value_needs_encoding(v))
		return v;
	if ((out = st_call_alloc(c, strlen(B_PREFIX) + 4 * ((n + 2) / 3) + 4)) == NULL)
		return NULL;
	strcpy(out, B_PREFIX);
	st_base64((const unsigned char *)v, n, out + strlen(B_PREFIX));
	strcat(out, "?=");
	return out;
}

/* An Azure value back (decoded when it is one of ours). */
static const char *
meta_value_in(struct st_call *c, const char *v)
{
	size_t n = strlen(v), pl = strlen(B_PREFIX), blen;
	unsigned char *dec;
	long got;

	if (n < pl + 2 || strncmp(v, B_PREFIX, pl) != 0 ||
	    strcmp(v + n - 2, "?=") != 0)
		return v;
	blen = n - pl - 2;
	if ((dec = st_call_alloc(c, blen + 1)) == NULL)
		return v;
	if (blen == 0)
		return (const char *)dec;
	got = st_base64_decode(v + pl, blen, dec, blen);
	if (got < 0 || !st_valid_header_value((const char *)dec, (size_t)got))
		return v;
	dec[got] = '\0';
	return (const char *)dec;
}

/* ---------------------------------------------------------------- object info */

/* An ETag as the API gives it: quoted. */
static char *
quoted_etag(struct st_call *c, const char *e, size_t len)
{
	char *out;

	if (len >= 2 && e[0] == '"' && e[len - 1] == '"')
		return st_call_strndup(c, e, len);
	if ((out = st_call_alloc(c, len + 3)) == NULL)
		return NULL;
	out[0] = '"';
	memcpy(out + 1, e, len);
	out[len + 1] = '"';
	return out;
}

static char *
etag_in(struct st_call *c, const char *e)
{
	return quoted_etag(c, e, strlen(e));
}

/* Blob information from the headers of a HEAD, GET or PUT answer: the
 * metadata's names and values as they were stored (meta_name_out). */
static const struct st_object_headers az_object = { "x-ms-meta-", etag_in,
    meta_name_in, meta_value_in };

static void
info_from_headers(struct az_call *ac, struct st_xfer *x)
{
	st_blobcall_info(ac->bc.call, x, &az_object);
}

/* The application's If-Match / If-None-Match against the current ETag:
 * ST_OK to go on, or the answer. */
static enum st_status
judge_conditions(struct st_call *c)
{
	const char *etag = c->info.etag ? c->info.etag : "\"\"";

	if (c->if_match != NULL && !st_etag_match(c->if_match, etag, 0))
		return ST_PRECONDITION;
	if (c->if_none_match != NULL && st_etag_match(c->if_none_match, etag, 1))
		return ST_NOT_MODIFIED;
	return ST_OK;
}

static void
answer_conditions(struct az_call *ac, enum st_status st)
{
	if (st == ST_NOT_MODIFIED) {
		ac->bc.call->status = ST_NOT_MODIFIED;
		st_call_done(ac->bc.call);
	} else {
		st_call_fail(ac->bc.call, ST_PRECONDITION, NULL,
		    "If-Match does not "
		    "match the blob's ETag");
	}
}

/* ---------------------------------------------------------------- hooks */

/* GET or HEAD headers: answer the core before any byte of the body. */
static void
get_headers(struct az_call *ac, struct st_xfer *x)
{
	struct st_call *c = ac->bc.call;
	long status = st_xfer_status(x);
	enum st_status st;

	if (status >= 300)
		return;
	info_from_headers(ac, x);
	if (!ac->conds_checked && (st = judge_conditions(c)) != ST_OK) {
		st_stream_discard(&ac->bc.stream);
		answer_conditions(ac, st);
		return;
	}
	if (c->op == ST_OP_GET && c->range.set && !c->range.suffix &&
	    c->range.first >= c->info.size) {
		/* A range from the end on: 416 (Azurite answers it with an
		 * empty 206 "bytes N-(N-1)/N"). */
		st_stream_discard(&ac->bc.stream);
		st_call_fail(c, ST_RANGE, "InvalidRange", "the range is outside "
		    "the blob of %llu bytes", (unsigned long long)c->info.size);
		return;
	}
	if (c->op == ST_OP_GET) {
		const char *cr = st_blobcall_range(c, x);
		const char *sp = cr ? strchr(cr, ' ') : NULL;

		if (cr != NULL)
			c->body_first = sp ? strtoull(sp + 1, NULL, 10) : 0;
		if (ac->want_range && (cr == NULL ||
		    c->body_first != ac->want_first)) {
			/* Not the bytes asked for: never hand them on. */
			st_stream_discard(&ac->bc.stream);
			st_call_fail(c, ST_PROVIDER_ERROR, NULL, "Azure answered "
			    "another range than the one asked for (store '%s')",
			    ac->s->svc.name);
			return;
		}
	}
	st_blobcall_answer(&ac->bc, x, PIPE_SIZE);
}

/* The headers hook of HEAD and GET: once they went to the application
 * (or the call was answered without a body), the answer has begun. */
static int
get_answer(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;

	if (!st_call_is_done(ac->bc.call))
		get_headers(ac, st_pcall_xfer(pc));
	return st_blobcall_begun(&ac->bc, pc);
}

/* ---------------------------------------------------------------- call life */

static struct az_call *
ac_new(struct st_call *c)
{
	struct az_store *s = c->store;
	struct az_call *ac = calloc(1, sizeof(*ac));
	struct st_pcall_target t = { s->svc.name, s->svc.guard, &s->svc.retry,
	    ac, &s->svc.conn };

	if (ac == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	ac->s = ac->as = s;
	return st_blobcall_init(&ac->bc, c, &az_blob_proto, &t) == 0 ? ac : NULL;
}

/* The next step of a call is a HEAD of its own blob; its answer goes to
 * finish. -1 when it could not be sent: the call has then failed. */
static int
head_blob(struct az_call *ac, st_pcall_finish_fn finish)
{
	struct st_call *c = ac->bc.call;

	if (az_request(ac, ac->bc.pc, ac->s, "HEAD", c->key, c->keylen, NULL, 0,
	    NULL) == -1)
		return -1;
	return st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish, ac);
}

/* ---------------------------------------------------------------- HEAD, GET */

static void finish_range_size(struct st_pcall *, void *);
static void start_suffix_head(struct az_call *);

/* A download broke after its headers went to the application: the rest
 * is asked for with x-ms-range (see st_blobcall_resume). */
static int
resume_get(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;

	return st_blobcall_resume(&ac->bc, pc, "x-ms-range");
}

static void
finish_get(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;
	long status = st_pcall_status(pc);
	const char *code = st_pcall_code(pc);

	if (st_call_is_done(ac->bc.call)) {
		/* The body was streaming: end it, or mark it broken. */
		st_stream_end(&ac->bc.stream, !st_pcall_ok(pc));
		return;
	}
	if (status == 412 && ac->pinned_etag != NULL) {
		/* The blob changed between the HEAD and the GET: again, a
		 * few times. The application asked for no condition. */
		if (ac->pin_tries < PIN_TRIES) {
			start_suffix_head(ac);
			return;
		}
		ac->bc.call->retry_after = 1;
		st_call_fail(ac->bc.call, ST_UNAVAILABLE, NULL, "the blob kept "
		    "changing while its end was read (store '%s')",
		    ac->s->svc.name);
		return;
	}
	if (ac->bc.call->op == ST_OP_GET && (status == 416 || (code != NULL &&
	    strcmp(code, "InvalidRange") == 0))) {
		/* The API answers 416 with the blob's size: ask for it. */
		head_blob(ac, finish_range_size);
		return;
	}
	az_fail(ac, pc);
}

static void
finish_range_size(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;
	struct st_call *c = ac->bc.call;
	const char *cl = st_pcall_header_value(pc, "Content-Length");

	if (st_pcall_ok(pc) && cl != NULL) {
		c->info.size = strtoull(cl, NULL, 10);
		st_call_fail(c, ST_RANGE, "InvalidRange", "the range is outside "
		    "the blob of %llu bytes", (unsigned long long)c->info.size);
		return;
	}
	az_fail(ac, pc);
}

static void
range_value(const struct st_range *rg, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (!rg->set || rg->suffix)
		return;
	if (rg->open)
		snprintf(buf, cap, "bytes=%llu-", (unsigned long long)rg->first);
	else
		snprintf(buf, cap, "bytes=%llu-%llu",
		    (unsigned long long)rg->first, (unsigned long long)rg->last);
}

/* GET (or HEAD) of the blob; range and pin as decided. */
static void
start_get(struct az_call *ac, const char *method, const char *range)
{
	struct st_call *c = ac->bc.call;
	const char *h[8];
	size_t n = 0;

	ac->want_range = 0;
	if (range != NULL && range[0] != '\0') {
		h[n++] = "x-ms-range";
		h[n++] = range;
		ac->want_range = 1;
		ac->want_first = strtoull(range + 6, NULL, 10);	/* "bytes=" */
	}
	if (ac->pinned_etag != NULL) {
		h[n++] = "If-Match";
		h[n++] = ac->pinned_etag;
	}
	h[n] = NULL;
	if (az_request(ac, ac->bc.pc, ac->s, method, c->key, c->keylen, NULL, 0,
	    h) == -1)
		return;
	st_pcall_sink_stream(ac->bc.pc, &ac->bc.stream, get_answer, resume_get,
	    ac);
	st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish_get, ac);
}

/* A suffix range: the size first, then the bytes of that very version. */
static void
finish_suffix_head(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;
	struct st_call *c = ac->bc.call;
	uint64_t first, len;
	enum st_status st;
	char range[64];

	if (!st_pcall_ok(pc)) {
		az_fail(ac, pc);
		return;
	}
	info_from_headers(ac, st_pcall_xfer(pc));
	if ((st = judge_conditions(c)) != ST_OK) {
		answer_conditions(ac, st);
		return;
	}
	ac->conds_checked = 1;
	if (st_resolve_range(&c->range, c->info.size, &first, &len) == -1) {
		st_call_fail(c, ST_RANGE, "InvalidRange", "the range is outside "
		    "the blob of %llu bytes", (unsigned long long)c->info.size);
		return;
	}
	free(ac->pinned_etag);
	if ((ac->pinned_etag = strdup(c->info.etag ? c->info.etag : "*")) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	snprintf(range, sizeof(range), "bytes=%llu-%llu",
	    (unsigned long long)first, (unsigned long long)(first + len - 1));
	start_get(ac, "GET", range);
}

static void
start_suffix_head(struct az_call *ac)
{
	ac->pin_tries++;
	free(ac->pinned_etag);
	ac->pinned_etag = NULL;
	ac->conds_checked = 0;
	head_blob(ac, finish_suffix_head);
}

static void
az_head(struct st_call *c)
{
	struct az_call *ac = ac_new(c);

	if (ac != NULL)
		start_get(ac, "HEAD", NULL);
}

static void
az_get(struct st_call *c)
{
	struct az_call *ac = ac_new(c);
	char range[64];

	if (ac == NULL)
		return;
	/* The pipe is opened with the answer's headers (get_headers). */
	if (c->range.set && c->range.suffix) {
		start_suffix_head(ac);
		return;
	}
	range_value(&c->range, range, sizeof(range));
	start_get(ac, "GET", range);
}

/* ---------------------------------------------------------------- PUT helpers */

/*
 * The headers of a new blob: its type and metadata (prefix "x-ms-blob-"
 * for the Put Blob / Put Block List names), Content-MD5 (md5: a header
 * name or NULL) and the application's conditions.
 */
static const char **
blob_headers(struct st_call *c, const char *md5_header, const char *md5_b64,
             int blob_type)
{
	const char **h = st_call_alloc(c, (c->nmeta * 2 + 16) * sizeof(*h));
	size_t n = 0, i;

	if (h == NULL)
		return NULL;
	if (blob_type) {
		h[n++] = "x-ms-blob-type";
		h[n++] = "BlockBlob";
	}
	h[n++] = "x-ms-blob-content-type";
	h[n++] = c->content_type;
	for (i = 0; i < c->nmeta; i++) {
		char name[ST_META_NAME_MAX * 2 + 32];
		const char *v;

		memcpy(name, "x-ms-meta-", 10);
		if (meta_name_out(c->meta[i].name, name + 10, sizeof(name) - 10) == -1 ||
		    (v = meta_value_out(c, c->meta[i].value)) == NULL ||
		    (h[n] = st_call_strdup(c, name)) == NULL)
			return NULL;
		n++;
		h[n++] = v;
	}
	if (md5_header != NULL && md5_b64 != NULL) {
		h[n++] = md5_header;
		h[n++] = md5_b64;
	}
	n = st_blobcall_conditions(c, h, n);
	h[n] = NULL;
	return h;
}

/* The answer to a successful write (pc: the answer that says so, NULL
 * for none). */
static void
written(struct az_call *ac, struct st_pcall *pc, const char *etag,
        uint64_t size)
{
	struct st_call *c = ac->bc.call;
	const char *lm = pc != NULL ?
	    st_pcall_header_value(pc, "Last-Modified") : NULL;

	c->info.etag = etag ? quoted_etag(c, etag, strlen(etag)) :
	    st_call_strdup(c, "\"\"");
	c->info.size = size;
	c->info.last_modified = lm ? st_answer_time(lm) : time(NULL);
	c->info.content_type = (char *)c->content_type;
	c->status = ST_OK;
	st_call_done(c);
}

/* ---------------------------------------------------------------- Put Blob */

static int
md5_start(struct az_call *ac)
{
	if ((ac->md5 = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ac->md5, EVP_md5(), NULL) != 1) {
		st_call_fail(ac->bc.call, ST_INTERNAL, NULL,
		    "MD5 is not available");
		return -1;
	}
	return 0;
}

/* Whether the body given so far has the Content-MD5 the application
 * announced; out (16 bytes, or NULL) receives the digest. Once only. */
static int
md5_matches_out(struct az_call *ac, unsigned char *out)
{
	unsigned char got[EVP_MAX_MD_SIZE];
	unsigned int glen = 0;

	if (EVP_DigestFinal_ex(ac->md5, got, &glen) != 1 || glen != 16)
		return 0;
	if (out != NULL)
		memcpy(out, got, 16);
	return memcmp(got, ac->bc.call->md5, 16) == 0;
}

static int
md5_matches(struct az_call *ac)
{
	return md5_matches_out(ac, NULL);
}

static void finish_held_verify(struct st_pcall *, void *);

/* A conditional write that failed on a later attempt: maybe the first
 * attempt did it and only its answer was lost. */
static int
lost_answer_conflict(struct az_call *ac, struct st_pcall *pc)
{
	long status = st_pcall_status(pc);

	return st_pcall_attempts(pc) > 1 && (status == 409 || status == 412) &&
	    (ac->bc.call->if_match != NULL ||
	    ac->bc.call->if_none_match != NULL);
}

/* Keeps a write's failed answer while the blob is checked to be ours. */
static void
keep_verdict(struct az_call *ac, struct st_pcall *pc)
{
	const char *code = st_pcall_code(pc);

	ac->verify_status = st_pcall_status(pc);
	snprintf(ac->verify_code, sizeof(ac->verify_code), "%s",
	    code ? code : "");
}

/* The blob is not ours after all: the kept answer stands. */
static void
fail_verdict(struct az_call *ac)
{
	fail_answer(ac, ac->verify_status, ac->verify_code[0] ?
	    ac->verify_code : NULL);
}

static void
finish_put_single(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;
	long status = st_pcall_status(pc);

	if (ac->bc.put.way == ST_PUT_HELD && lost_answer_conflict(ac, pc)) {
		/* Is the blob there now the body we sent? Put Blob stores
		 * the body's MD5, which we know. */
		keep_verdict(ac, pc);
		head_blob(ac, finish_held_verify);
		return;
	}
	if (status == 400 && ac->md5 != NULL && !md5_matches(ac)) {
		/* Whatever the service calls it (Azure Md5Mismatch, Azurite
		 * InvalidOperation), the body was not the one announced. */
		st_call_fail(ac->bc.call, ST_BAD_DIGEST, st_pcall_code(pc),
		    "the body does not match its Content-MD5: nothing was stored "
		    "(store '%s')", ac->s->svc.name);
	} else if (!st_pcall_ok(pc)) {
		az_fail(ac, pc);
	} else {
		written(ac, pc, st_pcall_header_value(pc, "ETag"),
		    (uint64_t)ac->bc.call->content_length);
	}
}

/* Is the blob there now the held body we sent? Put Blob stores the
 * body's MD5, which we know. */
static int
held_is_ours(struct az_call *ac, struct st_pcall *pc)
{
	const char *cl = st_pcall_header_value(pc, "Content-Length");
	const char *md5 = st_pcall_header_value(pc, "Content-MD5");
	char ours[32];

	st_base64(ac->held_md5, 16, ours);
	return st_pcall_status(pc) == 200 && cl != NULL && md5 != NULL &&
	    strtoull(cl, NULL, 10) == ac->bc.put.held.len &&
	    strcmp(md5, ours) == 0;
}

static void
finish_held_verify(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;

	if (held_is_ours(ac, pc))
		written(ac, pc, st_pcall_header_value(pc, "ETag"),
		    ac->bc.put.held.len);
	else
		fail_verdict(ac);
}

static void
put_single(struct az_call *ac)
{
	struct st_call *c = ac->bc.call;
	char md5[32];
	const char **h;

	if (c->has_md5)
		st_base64(c->md5, 16, md5);
	h = blob_headers(c, "Content-MD5", c->has_md5 ?
	    st_call_strdup(c, md5) : NULL, 1);
	if (h == NULL || st_stream_open(&ac->bc.stream, PIPE_SIZE) == -1) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (c->has_md5 && md5_start(ac) == -1)
		return;
	if (az_request(ac, ac->bc.pc, ac->s, "PUT", c->key, c->keylen, NULL, 0,
	    h) == -1)
		return;
	/* Not held: once the service has taken a byte, it is not sent
	 * again. */
	st_pcall_source_stream(ac->bc.pc, &ac->bc.stream,
	    (uint64_t)c->content_length);
	st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish_put_single, ac);
}

/* ---------------------------------------------------------------- held Put Blob */

/*
 * A body no larger than a block is held whole (under the same memory
 * budget as blocks), then sent as one Put Blob: a failed attempt is sent
 * again from memory, never asked of the application again.
 */
static void
held_send(void *arg)
{
	struct az_call *ac = arg;
	struct st_call *c = ac->bc.call;
	const char *body = ac->bc.put.held.data ? ac->bc.put.held.data : "";
	const char **h;
	char md5[32];

	st_md5(body, ac->bc.put.held.len, ac->held_md5);
	if (c->has_md5 && memcmp(ac->held_md5, c->md5, 16) != 0) {
		/* A body that is not what the client hashed never leaves the
		 * daemon, whatever the provider would do. */
		st_call_fail(c, ST_BAD_DIGEST, NULL, "the body does not match its "
		    "Content-MD5: nothing was stored (store '%s')",
		    ac->s->svc.name);
		return;
	}
	/* Sent always: the service checks the bytes it gets against it. */
	st_base64(ac->held_md5, 16, md5);
	h = blob_headers(c, "Content-MD5", st_call_strdup(c, md5), 1);
	if (h == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (az_request(ac, ac->bc.pc, ac->s, "PUT", c->key, c->keylen, NULL, 0,
	    h) == -1)
		return;
	st_pcall_body_ref(ac->bc.pc, body, ac->bc.put.held.len);
	st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish_put_single, ac);
}

/* ---------------------------------------------------------------- blocks */

/* Fails the upload once; later failures say nothing more. */
static void
bl_fail(struct az_call *ac, enum st_status st, const char *code,
        const char *why)
{
	st_upload_fail(&ac->bc.put.up, st, code, why);
}

static void block_id(struct az_call *, unsigned, char *);

/* A block's request: Put Block of its id. */
static int
block_describe(struct st_part *b, void *arg)
{
	struct az_call *ac = arg;
	struct st_pcall_pair q[2] = {
		{ "comp", "block" }, { "blockid", b->name }
	};

	return az_request(ac, b->pc, ac->s, "PUT", ac->bc.call->key,
	    ac->bc.call->keylen, q, 2, NULL);
}

/* The service has a block when it says 2xx. */
static int
block_answered(struct st_part *b, struct st_pcall *pc, void *arg)
{
	(void)b;
	(void)arg;
	return st_pcall_ok(pc);
}

/* A block is named as it begins: the id goes with its request. */
static void
block_added(struct st_part *b, void *arg)
{
	block_id(arg, b->number, b->name);
}

/* The body is hashed as it is taken, for the Content-MD5 check. */
static void
block_taken(const char *buf, size_t n, void *arg)
{
	struct az_call *ac = arg;

	if (ac->md5 != NULL)
		EVP_DigestUpdate(ac->md5, buf, n);
}

static void bl_commit(void *);
static void held_send(void *);

static const struct st_upload_proto az_upload = {
	.service = "Azure",
	.part = "block",
	.in_flight = BLOCKS_IN_FLIGHT,
	.max_parts = MAX_BLOCKS,
	.too_many_code = "BlockCountExceedsLimit",
	.too_many = "the upload needs more than 50,000 blocks",
	.part_codes = 1,
	.describe = block_describe,
	.answered = block_answered,
	.added = block_added,
	.taken = block_taken,
	.commit = bl_commit,
	.send_held = held_send,
};


/* The committed list of the blob, block by block, against ours. */
static int
blocklist_xml(const char *path, const char *text, size_t len, void *arg)
{
	struct az_call *ac = arg;
	char want[48];

	(void)len;
	if (strcmp(path, "BlockList/CommittedBlocks/Block/Name") != 0)
		return 0;
	ac->check_n++;
	block_id(ac, ac->check_n, want);
	if (ac->check_n > ac->bc.put.up.parts.count || strcmp(text, want) != 0)
		ac->check_ok = 0;
	return 0;
}

/* Each attempt of the check reads the list afresh. */
static void
check_reset(void *arg)
{
	struct az_call *ac = arg;

	ac->check_ok = 1;
	ac->check_n = 0;
}

static void
finish_commit_check(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;

	if (st_pcall_status(pc) == 200 && st_pcall_xml_whole(pc) &&
	    ac->check_ok && ac->check_n == ac->bc.put.up.parts.count) {
		/* Our blocks, with this upload's tag, are the blob: the
		 * first commit went through. */
		written(ac, pc, st_pcall_header_value(pc, "ETag"),
		    ac->bc.put.up.parts.total);
		return;
	}
	fail_verdict(ac);
}

/* Get Block List of the committed blob, for finish_commit_check. */
static void
commit_check(struct az_call *ac)
{
	struct st_pcall_pair q[2] = {
		{ "comp", "blocklist" }, { "blocklisttype", "committed" }
	};

	if (az_request(ac, ac->bc.pc, ac->s, "GET", ac->bc.call->key,
	    ac->bc.call->keylen, q, 2, NULL) == -1)
		return;
	st_pcall_sink_xml(ac->bc.pc, check_reset, blocklist_xml, ac);
	st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish_commit_check, ac);
}

static void
finish_commit(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;

	if (st_pcall_ok(pc)) {
		written(ac, pc, st_pcall_header_value(pc, "ETag"),
		    ac->bc.put.up.parts.total);
		return;
	}
	if (ac->bc.put.up.parts.count > 0 && lost_answer_conflict(ac, pc)) {
		keep_verdict(ac, pc);
		commit_check(ac);
		return;
	}
	az_fail(ac, pc);
}

/* Put Block List: the blocks in order, with the blob's properties. */
static void
bl_commit(void *arg)
{
	struct az_call *ac = arg;
	struct st_call *c = ac->bc.call;
	const char **h;
	char md5_b64[32];
	int have_md5 = 0;
	unsigned n;
	struct st_pcall_pair q[1] = { { "comp", "blocklist" } };

	if (ac->md5 != NULL) {
		unsigned char got[16];

		if (!md5_matches_out(ac, got)) {
			bl_fail(ac, ST_BAD_DIGEST, NULL, "the body does not match its "
			    "Content-MD5: nothing was stored");
			return;
		}
		st_base64(got, 16, md5_b64);
		have_md5 = 1;
	}
	st_buf_reset(&ac->req_body);
	st_buf_adds(&ac->req_body, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	    "<BlockList>");
	for (n = 1; n <= ac->bc.put.up.parts.count; n++) {
		struct st_part *b = st_parts_find(&ac->bc.put.up.parts, n);

		if (b == NULL) {
			bl_fail(ac, ST_INTERNAL, NULL, "a block went missing");
			return;
		}
		st_buf_printf(&ac->req_body, "<Latest>%s</Latest>", b->name);
	}
	st_buf_adds(&ac->req_body, "</BlockList>");
	h = blob_headers(c, "x-ms-blob-content-md5", have_md5 ?
	    st_call_strdup(c, md5_b64) : NULL, 0);
	if (h == NULL || ac->req_body.failed) {
		bl_fail(ac, ST_INTERNAL, NULL, "the block list could not be made");
		return;
	}
	/* A request that could not be made or started has failed the call;
	 * the upload is marked failed too. */
	if (az_request(ac, ac->bc.pc, ac->s, "PUT", c->key, c->keylen, q, 1,
	    h) == -1) {
		bl_fail(ac, ST_INTERNAL, NULL, "the block list could not be made");
		return;
	}
	st_pcall_body_ref(ac->bc.pc, ac->req_body.data, ac->req_body.len);
	if (st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish_commit,
	    ac) == -1)
		bl_fail(ac, ST_INTERNAL, NULL, "the block list could not be sent");
}

static void
put_blocks(struct az_call *ac)
{
	struct st_call *c = ac->bc.call;
	unsigned char rnd[8];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		st_call_fail(c, ST_INTERNAL, NULL, "no random bytes");
		return;
	}
	st_hex(rnd, sizeof(rnd), ac->tag);
	if (c->has_md5 && md5_start(ac) == -1)
		return;
	/* Nothing to create first: blocks go as soon as they are full. */
	st_upload_go(&ac->bc.put.up);
}

static void
az_put_begin(struct st_call *c)
{
	struct az_call *ac = ac_new(c);
	enum st_put_way way;

	if (ac == NULL)
		return;
	if (c->content_length > (int64_t)MAX_BLOB_SIZE) {
		st_call_fail(c, ST_TOO_LARGE, "RequestBodyTooLarge", "Azure block "
		    "blobs are at most %llu bytes", (unsigned long long)MAX_BLOB_SIZE);
		return;
	}
	way = st_blobcall_put(&ac->bc, &az_upload, ac, &blocks_budget,
	    ac->s->svc.name, ac->s->block_size, ac->s->threshold);
	if (way == ST_PUT_STREAM)
		put_single(ac);
	else if (way == ST_PUT_PARTS)
		put_blocks(ac);
}

static void
block_id(struct az_call *ac, unsigned number, char *out)
{
	char raw[25];

	/* 16 + 1 + 7 = 24 bytes: 32 base64 characters, no padding. */
	snprintf(raw, sizeof(raw), "%s-%07u", ac->tag, number);
	st_base64((const unsigned char *)raw, 24, out);
}

/* ---------------------------------------------------------------- DELETE */

static void
finish_delete(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;
	long status = st_pcall_status(pc);

	if (st_pcall_ok(pc) ||
	    (status == 404 && ac->bc.call->if_match == NULL)) {
		ac->bc.call->status = ST_OK;
		st_call_done(ac->bc.call);
	} else
		az_fail(ac, pc);
}

static void
az_delete(struct st_call *c)
{
	struct az_call *ac = ac_new(c);
	const char *h[6];
	size_t n = 0;

	if (ac == NULL)
		return;
	/* A blob with snapshots is deleted with them. */
	h[n++] = "x-ms-delete-snapshots";
	h[n++] = "include";
	if (c->if_match != NULL) {
		h[n++] = "If-Match";
		h[n++] = c->if_match;
	}
	h[n] = NULL;
	if (az_request(ac, ac->bc.pc, ac->s, "DELETE", c->key, c->keylen, NULL,
	    0,
	    h) == 0)
		st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish_delete,
		    ac);
}

/* ---------------------------------------------------------------- LIST */

static void
ls_reset(struct az_call *ac)
{
	free(ac->ls.name);
	free(ac->ls.etag);
	ac->ls.name = ac->ls.etag = NULL;
	ac->ls.size = 0;
	ac->ls.mtime = 0;
}

static int
list_xml(const char *path, const char *text, size_t len, void *arg)
{
	struct az_call *ac = arg;
	struct st_call *c = ac->bc.call;

	if ((path = st_xml_under(path, "EnumerationResults")) == NULL)
		return 0;
	if (strcmp(path, "Blobs/Blob/Name") == 0) {
		free(ac->ls.name);
		ac->ls.name = strndup(text, len);
	} else if (strcmp(path, "Blobs/Blob/Properties/Content-Length") == 0) {
		ac->ls.size = strtoull(text, NULL, 10);
	} else if (strcmp(path, "Blobs/Blob/Properties/Etag") == 0) {
		free(ac->ls.etag);
		ac->ls.etag = strndup(text, len);
	} else if (strcmp(path, "Blobs/Blob/Properties/Last-Modified") == 0) {
		ac->ls.mtime = st_answer_time(text);
	} else if (strcmp(path, "Blobs/Blob") == 0) {
		if (ac->ls.name != NULL) {
			char *etag = quoted_etag(c, ac->ls.etag ? ac->ls.etag : "",
			    ac->ls.etag ? strlen(ac->ls.etag) : 0);

			char *key = name_unescape(ac->ls.name, strlen(ac->ls.name));
			int rc = key == NULL || etag == NULL ? -1 :
			    st_call_list_item(c, key, ac->ls.size, etag, ac->ls.mtime);

			free(key);
			if (rc == -1)
				return -1;
		}
		ls_reset(ac);
	} else if (strcmp(path, "Blobs/BlobPrefix/Name") == 0) {
		char *prefix = name_unescape(text, len);
		int rc = prefix == NULL ? -1 : st_call_list_prefix(c, prefix);

		free(prefix);
		if (rc == -1)
			return -1;
	} else if (strcmp(path, "NextMarker") == 0 && len > 0) {
		free(ac->ls.marker);
		ac->ls.marker = strndup(text, len);
	}
	return 0;
}

/* Each attempt's listing is read as it comes, afresh. */
static void
list_reset(void *arg)
{
	struct az_call *ac = arg;

	st_call_list_reset(ac->bc.call);
	ls_reset(ac);
	free(ac->ls.marker);
	ac->ls.marker = NULL;
}

static void
finish_list(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;
	struct st_call *c = ac->bc.call;

	if (!st_pcall_ok(pc)) {
		az_fail(ac, pc);
		return;
	}
	if (!st_pcall_xml_whole(pc)) {
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "Azure sent a listing "
		    "that is not valid XML");
		return;
	}
	st_blobcall_listed(c, ac->ls.marker);
}

static void
az_list(struct st_call *c)
{
	struct az_call *ac = ac_new(c);
	struct st_pcall_pair q[6];
	char limit[16], *marker = NULL;
	size_t n = 0;

	if (ac == NULL)
		return;
	if (c->cursor != NULL) {
		size_t got, i;

		if ((marker = st_cursor_unwrap(c, &got)) == NULL)
			return;
		/* Azure's markers are opaque ASCII, Azurite's are blob names:
		 * either way, UTF-8 without control characters. */
		for (i = 0; i < got; i++)
			if ((unsigned char)marker[i] < 0x20 || marker[i] == 0x7f)
				break;
		if (i < got || !st_valid_utf8(marker, got)) {
			st_call_fail(c, ST_BAD_REQUEST, NULL, "the cursor is not one "
			    "this store gave");
			return;
		}
	}
	snprintf(limit, sizeof(limit), "%u", c->limit);
	q[n].name = "restype"; q[n++].value = "container";
	q[n].name = "comp"; q[n++].value = "list";
	q[n].name = "maxresults"; q[n++].value = limit;
	if (c->delimiter != NULL && strpbrk(c->delimiter, "\\]") != NULL) {
		st_call_fail(c, ST_NOT_SUPPORTED, NULL, "on an Azure store a "
		    "delimiter cannot hold '\\' or ']'");
		return;
	}
	if (c->prefix[0] != '\0') {
		char *prefix = call_name(c, c->prefix, strlen(c->prefix));

		if (prefix == NULL) {
			st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
			return;
		}
		q[n].name = "prefix"; q[n++].value = prefix;
	}
	if (c->delimiter != NULL) {
		q[n].name = "delimiter"; q[n++].value = c->delimiter;
	}
	if (marker != NULL) {
		q[n].name = "marker"; q[n++].value = marker;
	}
	if (az_request(ac, ac->bc.pc, ac->s, "GET", NULL, 0, q, n, NULL) == -1)
		return;
	st_pcall_sink_xml(ac->bc.pc, list_reset, list_xml, ac);
	st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish_list, ac);
}

/* ---------------------------------------------------------------- COPY */

static void finish_copy_head(struct st_pcall *, void *);

/* First a HEAD of the source, through its own store. */
static void
start_copy_head(struct az_call *ac)
{
	struct st_call *c = ac->bc.call;

	ac->pin_tries++;
	if (az_request(ac, ac->bc.pc, c->src_store, "HEAD", c->src_key,
	    strlen(c->src_key), NULL, 0, NULL) == 0)
		st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish_copy_head,
		    ac);
}

static void start_copy_poll(struct az_call *, unsigned);

static void
copy_result(struct az_call *ac, struct st_pcall *pc)
{
	struct st_call *c = ac->bc.call;
	const char *st = st_pcall_header_value(pc, "x-ms-copy-status");
	const char *id = st_pcall_header_value(pc, "x-ms-copy-id");

	if (ac->copy_id == NULL && id != NULL)
		ac->copy_id = strdup(id);
	if (st == NULL || strcmp(st, "success") == 0) {
		c->content_type = c->info.content_type;
		written(ac, pc, st_pcall_header_value(pc, "ETag"), c->info.size);
		return;
	}
	if (strcmp(st, "pending") == 0) {
		long long limit = ac->s->svc.retry.deadline_ms > 0 ?
		    ac->s->svc.retry.deadline_ms : COPY_WAIT_MS;

		if (st_now_ms() - ac->copy_started_ms > limit) {
			st_call_fail(c, ST_TIMEOUT, "PendingCopyOperation", "the copy "
			    "is still pending on Azure (store '%s')",
			    ac->s->svc.name);
			return;
		}
		ac->polls++;
		start_copy_poll(ac, ac->polls < 5 ? 200 * ac->polls : 2000);
		return;
	}
	st_call_fail(c, ST_PROVIDER_ERROR, NULL, "the copy ended with status "
	    "'%.32s' (store '%s')", st, ac->s->svc.name);
}

static void
finish_copy_poll(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;
	const char *id = st_pcall_header_value(pc, "x-ms-copy-id");

	if (!st_pcall_ok(pc)) {
		az_fail(ac, pc);
		return;
	}
	if (ac->copy_id != NULL && id != NULL && strcmp(id, ac->copy_id) != 0) {
		st_call_fail(ac->bc.call, ST_CONFLICT, NULL,
		    "another write replaced "
		    "the copy's target while it was pending");
		return;
	}
	copy_result(ac, pc);
}

static void
start_copy_poll(struct az_call *ac, unsigned delay_ms)
{
	struct st_call *c = ac->bc.call;

	if (az_request(ac, ac->bc.pc, ac->s, "HEAD", c->key, c->keylen, NULL, 0,
	    NULL) == 0)
		st_pcall_start_after(ac->bc.pc, delay_ms, ST_PCALL_IDEMPOTENT,
		    finish_copy_poll, ac);
}

static void
finish_copy(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;
	const char *code = st_pcall_code(pc);

	if (st_pcall_ok(pc)) {
		copy_result(ac, pc);
		return;
	}
	if (code != NULL && strcmp(code, "SourceConditionNotMet") == 0 &&
	    ac->pin_tries < PIN_TRIES) {
		/* The source changed after its HEAD: again. */
		start_copy_head(ac);
		return;
	}
	az_fail(ac, pc);
}

/* The copy source: the source blob's URL, authorised for the service to
 * read it when this request does not carry the account's key. */
static char *
copy_source(struct az_call *ac)
{
	struct st_call *c = ac->bc.call;
	struct az_store *src = c->src_store, *dst = c->store;
	struct st_buf url = { 0 };
	char *out;

	if (blob_url(&url, src, c->src_key) == -1)
		goto fail;
	if (src->svc.token != NULL) {
		/* Within one account the service authorises the source by
		 * the request's own token. */
	} else if (!src->svc.has_key) {
		st_buf_adds(&url, "?");
		st_buf_adds(&url, src->svc.sas);
	} else if (!dst->svc.has_key) {
		struct st_az_sas sas;

		memset(&sas, 0, sizeof(sas));
		sas.permissions = "r";
		sas.expiry = time(NULL) + 3600;
		sas.version = AZ_VERSION;
		st_buf_adds(&url, "?");
		const char *name = call_name(c, c->src_key, strlen(c->src_key));

		if (name == NULL || st_az_blob_sas(&src->svc.key,
		    src->svc.account, src->container, name, &sas, &url,
		    NULL) == -1)
			goto fail;
	}
	if (url.failed)
		goto fail;
	out = st_call_strdup(c, url.data);
	OPENSSL_cleanse(url.data, url.len);
	st_buf_free(&url);
	return out;
fail:
	st_buf_free(&url);
	return NULL;
}

static void
start_copy(struct az_call *ac)
{
	struct st_call *c = ac->bc.call;
	const char *h[10];
	size_t k = 0;

	if ((h[k + 1] = copy_source(ac)) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "the copy source could not be "
		    "named");
		return;
	}
	h[k++] = "x-ms-copy-source";
	k++;
	if (c->info.etag != NULL) {
		h[k++] = "x-ms-source-if-match";
		h[k++] = c->info.etag;
	}
	k = st_blobcall_conditions(c, h, k);
	h[k] = NULL;
	ac->copy_started_ms = st_now_ms();
	if (az_request(ac, ac->bc.pc, ac->s, "PUT", c->key, c->keylen, NULL, 0,
	    h) == 0)
		st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish_copy, ac);
}

static void
finish_copy_head(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;
	struct st_call *c = ac->bc.call;
	long status = st_pcall_status(pc);
	struct az_store *src = c->src_store, *dst = c->store;

	if (status == 0) {
		st_pcall_fail(pc);
		return;
	}
	if (!st_pcall_ok(pc)) {
		/* The source's 404 is the copy's 404, whatever the target's
		 * conditions. */
		const char *code = st_pcall_code(pc);

		st_call_fail(c, map_status(status, code), code, "Azure answered "
		    "%ld for the copy's source in store '%s'", status,
		    c->src_store_name ? c->src_store_name : src->svc.name);
		return;
	}
	info_from_headers(ac, st_pcall_xfer(pc));
	if (!st_blobcall_copy_fits(c))
		return;
	if (src == dst && strcmp(c->src_key, c->key) == 0 &&
	    c->if_match == NULL && c->if_none_match == NULL) {
		/* A copy onto itself: the blob already is what it would be. */
		c->content_type = c->info.content_type;
		written(ac, pc, c->info.etag, c->info.size);
		return;
	}
	start_copy(ac);
}

static void
az_copy(struct st_call *c)
{
	struct az_call *ac = ac_new(c);

	if (ac != NULL)
		start_copy_head(ac);
}

/* ---------------------------------------------------------------- presign */

/* A PUT through a URL: the service wants the blob type. 0 or -1. */
static int
presign_headers(struct st_call *c)
{
	if (strcmp(c->method, "PUT") != 0)
		return 0;
	if ((c->url_headers = st_call_alloc(c, sizeof(*c->url_headers))) == NULL)
		return -1;
	c->url_headers[0].name = "x-ms-blob-type";
	c->url_headers[0].value = "BlockBlob";
	c->nurl_headers = 1;
	return 0;
}

/*
 * With bearer tokens a SAS is signed with a user delegation key (Get User
 * Delegation Key, asked for with the token). A key lives at most 7 days:
 * one is asked for that long (less UDK_SLACK, for clocks), and kept while
 * it outlives the URLs asked for by UDK_MARGIN; a URL a fresh key cannot
 * cover ends with the key (expires_at says so).
 */
#define UDK_LIFE	(7 * 86400)
#define UDK_SLACK	300
#define UDK_MARGIN	60

/* Signs c's URL with key v, expiring at se; finishes the call. */
static void
presign_udk_sign(struct st_call *c, const struct udk_vals *v, time_t se)
{
	struct az_store *s = c->store;
	struct st_buf url = { 0 };
	struct st_az_sas sas;
	struct st_az_udk u = { v->oid, v->tid, v->start, v->expiry, v->service,
	    v->version };
	struct st_az_key key;
	const char *name = call_name(c, c->key, c->keylen);
	int rc = -1;

	memset(&sas, 0, sizeof(sas));
	sas.permissions = strcmp(c->method, "PUT") == 0 ? "cw" : "r";
	sas.expiry = se;
	sas.version = AZ_VERSION;
	st_buf_adds(&url, s->svc.scheme_host);
	blob_path(&url, s, c->key, c->keylen);
	st_buf_adds(&url, "?");
	if (name != NULL && st_az_key_decode(&key, v->value) == 0) {
		rc = st_az_blob_sas_udk(&key, &u, s->svc.account, s->container,
		    name, &sas, &url, NULL);
		st_az_key_clear(&key);
	}
	if (rc == -1 || url.failed || (c->url = st_call_strdup(c,
	    url.data)) == NULL || presign_headers(c) == -1) {
		st_buf_free(&url);
		st_call_fail(c, ST_INTERNAL, NULL, "the URL could not be signed");
		return;
	}
	st_buf_free(&url);
	c->expires_at = se;
	c->status = ST_OK;
	st_call_done(c);
}

static int
udk_xml(const char *path, const char *text, size_t len, void *arg)
{
	static const struct { const char *name; size_t off, cap; } f[] = {
#define F(n, m) { "UserDelegationKey/" n, offsetof(struct udk_vals, m), \
	sizeof(((struct udk_vals *)0)->m) }
		F("SignedOid", oid), F("SignedTid", tid),
		F("SignedStart", start), F("SignedExpiry", expiry),
		F("SignedService", service), F("SignedVersion", version),
		F("Value", value),
#undef F
	};
	struct az_call *ac = arg;
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (strcmp(path, f[i].name) == 0) {
			if (len >= f[i].cap)
				return -1;
			memcpy((char *)ac->udk + f[i].off, text, len + 1);
		}
	return 0;
}

static void
finish_udk(struct st_pcall *pc, void *arg)
{
	struct az_call *ac = arg;
	struct st_call *c = ac->bc.call;
	struct az_store *s = ac->s;
	struct udk_vals *v = ac->udk;
	time_t now = time(NULL), expires, se;
	const char *body;
	size_t len;
	int bad;

	if (!st_pcall_ok(pc)) {
		az_fail(ac, pc);
		return;
	}
	body = st_pcall_answer(pc, &len);
	bad = st_xml_parse(udk_xml, ac, body, len) == -1;
	expires = st_answer_time(v->expiry);
	if (bad || v->oid[0] == '\0' ||
	    v->tid[0] == '\0' || v->start[0] == '\0' || v->service[0] == '\0' ||
	    v->version[0] == '\0' || v->value[0] == '\0' ||
	    expires <= now + UDK_MARGIN) {
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "Azure's user delegation "
		    "key is not usable (store '%s')", s->svc.name);
		return;
	}
	pthread_mutex_lock(&s->udk->lock);
	s->udk->v = *v;
	s->udk->expires = expires;
	pthread_mutex_unlock(&s->udk->lock);
	se = now + (time_t)c->expires_in;
	presign_udk_sign(c, v, se < expires ? se : expires);
}

/* POST /?restype=service&comp=userdelegationkey with the token. */
static void
presign_fetch_udk(struct st_call *c, time_t now)
{
	struct az_store *s = c->store;
	struct st_pcall_pair q[2] = {
		{ "restype", "service" }, { "comp", "userdelegationkey" }
	};
	const char *h[] = { "Content-Type", "application/xml", NULL };
	struct st_buf path = { 0 };
	struct az_call *ac = ac_new(c);
	char st[32], se[32];
	time_t start = now - UDK_SLACK, end = now + UDK_LIFE - UDK_SLACK;
	struct tm tm;
	int rc;

	if (ac == NULL)
		return;
	if ((ac->udk = calloc(1, sizeof(*ac->udk))) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	strftime(st, sizeof(st), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&start, &tm));
	strftime(se, sizeof(se), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&end, &tm));
	st_buf_printf(&ac->req_body, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	    "<KeyInfo><Start>%s</Start><Expiry>%s</Expiry></KeyInfo>", st, se);
	st_buf_adds(&path, s->svc.base_path);
	st_buf_adds(&path, "/");
	if (ac->req_body.failed || path.failed) {
		st_buf_free(&path);
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	rc = az_request_path(ac, ac->bc.pc, s, "POST", path.data, q, 2, h);
	st_buf_free(&path);
	if (rc == -1)
		return;
	st_pcall_body_ref(ac->bc.pc, ac->req_body.data, ac->req_body.len);
	st_pcall_start(ac->bc.pc, ST_PCALL_IDEMPOTENT, finish_udk, ac);
}

/* A presigned URL of a store with bearer tokens: a user delegation SAS,
 * with the cached key when it lasts long enough. */
static void
presign_bearer(struct st_call *c)
{
	struct az_store *s = c->store;
	struct udk_vals v;
	time_t now = time(NULL), se = now + (time_t)c->expires_in;
	int cached;

	pthread_mutex_lock(&s->udk->lock);
	cached = s->udk->expires >= se + UDK_MARGIN;
	if (cached)
		v = s->udk->v;
	pthread_mutex_unlock(&s->udk->lock);
	if (!cached) {
		presign_fetch_udk(c, now);
		return;
	}
	presign_udk_sign(c, &v, se);
	OPENSSL_cleanse(&v, sizeof(v));
}

static void
az_presign(struct st_call *c)
{
	struct az_store *s = c->store;
	struct st_buf url = { 0 };
	struct st_az_sas sas;
	time_t now = time(NULL);
	const char *name;

	if (s->svc.token != NULL) {
		presign_bearer(c);
		return;
	}
	if (!s->svc.has_key) {
		st_call_fail(c, ST_NOT_SUPPORTED, NULL, "store '%s' has a SAS, not "
		    "an account key: it cannot make SAS URLs of its own",
		    s->svc.name);
		return;
	}
	memset(&sas, 0, sizeof(sas));
	sas.permissions = strcmp(c->method, "PUT") == 0 ? "cw" : "r";
	sas.expiry = now + c->expires_in;
	sas.version = AZ_VERSION;
	st_buf_adds(&url, s->svc.scheme_host);
	blob_path(&url, s, c->key, c->keylen);
	st_buf_adds(&url, "?");
	name = call_name(c, c->key, c->keylen);
	if (name == NULL || st_az_blob_sas(&s->svc.key, s->svc.account,
	    s->container, name, &sas, &url, NULL) == -1 || url.failed) {
		st_buf_free(&url);
		st_call_fail(c, ST_INTERNAL, NULL, "the URL could not be signed");
		return;
	}
	c->url = st_call_strdup(c, url.data);
	c->expires_at = sas.expiry;
	st_buf_free(&url);
	if (presign_headers(c) == -1) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	c->status = c->url != NULL ? ST_OK : ST_INTERNAL;
	st_call_done(c);
}

/* ---------------------------------------------------------------- release */

static void
az_release(struct st_call *c)
{
	struct az_call *ac = c->backend_data;

	if (ac == NULL)
		return;
	/* Uncommitted blocks are never committed: the service drops them. */
	st_blobcall_stop(c);
	st_buf_free(&ac->req_body);
	if (ac->md5 != NULL)
		EVP_MD_CTX_free(ac->md5);
	ls_reset(ac);
	free(ac->ls.marker);
	free(ac->pinned_etag);
	free(ac->copy_id);
	if (ac->udk != NULL) {
		OPENSSL_cleanse(ac->udk, sizeof(*ac->udk));
		free(ac->udk);
	}
	st_blobcall_free(c);
}

static const struct st_blob_ops az_blob_ops = {
	.head = az_head,
	.get = az_get,
	.read = st_blobcall_read,
	.put_begin = az_put_begin,
	.write = st_blobcall_write,
	.put_end = st_blobcall_put_end,
	.del = az_delete,
	.list = az_list,
	.copy = az_copy,
	.presign = az_presign,
	.release = az_release,
};

/* Each kind's store goes to its own service; every handle begins with
 * its kind. */
static int
az_open_any(const config_setting_t *conf, const struct st_store_env *env,
            void **out, char *err, size_t errlen)
{
	if (env->kind == ST_KIND_QUEUE)
		return az_queue_open(conf, env, out, err, errlen);
	if (env->kind == ST_KIND_TABLE)
		return az_table_open(conf, env, out, err, errlen);
	return az_open(conf, env, out, err, errlen);
}

static void
az_close_any(void *p)
{
	unsigned kind = p != NULL ? *(const unsigned *)p : ST_KIND_BLOB;

	if (kind == ST_KIND_QUEUE)
		az_queue_close(p);
	else if (kind == ST_KIND_TABLE)
		az_table_close(p);
	else
		az_close(p);
}

const struct st_backend stratus_backend = {
	.version = ST_BACKEND_VERSION,
	.name = "azure",
	.kinds = ST_KIND_BLOB | ST_KIND_QUEUE | ST_KIND_TABLE,
	.store_open = az_open_any,
	.store_close = az_close_any,
	.same_account = az_same_account,
	.blob = &az_blob_ops,
	.queue = &az_queue_ops,
	.table = &az_table_ops,
};
