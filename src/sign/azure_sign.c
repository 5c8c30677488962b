/*
 * azure_sign.c - Azure Storage Shared Key and blob service SAS signing.
 *
 * Everything is built into caller-owned st_bufs; on failure an output
 * buffer is put back to the length it had on entry, so a caller never sees
 * half a string-to-sign. Key bytes live only in struct st_az_key and in the
 * HMAC call, and scratch copies of digests are cleansed.
 *
 * The rules follow the service documentation ("Authorize with Shared Key",
 * "Create a service SAS") and, wherever the Python SDK is the de facto
 * reference, match it byte for byte; tests/sign/azure_diff.py checks that.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "sign/azure_sign.h"
#include "sign/hmac.h"

#define SIG_B64_LEN 44		/* base64 of a SHA-256 HMAC, padded */

/* ------------------------------------------------------------ helpers */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
is_alnum(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9');
}

/* RFC 9110 tchar. */
static int
is_tchar(int c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
is_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!is_tchar((unsigned char)*s))
			return 0;
	return 1;
}

/* No CR or LF: they would make a string-to-sign ambiguous. */
static int
no_newline(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") == NULL;
}

static int
empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/* Case-insensitive (ASCII) equality. */
static int
name_eq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

static int
has_prefix_ci(const char *s, const char *prefix)
{
	for (; *prefix != '\0'; s++, prefix++)
		if (lower((unsigned char)*s) != *prefix)
			return 0;
	return 1;
}

static void
buf_cut(struct st_buf *b, size_t len)
{
	if (b->data != NULL && len <= b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

static int
add_lower(struct st_buf *out, const char *s)
{
	size_t n = strlen(s), i;

	if (st_buf_add(out, s, n) == -1)
		return -1;
	for (i = out->len - n; i < out->len; i++)
		out->data[i] = (char)lower((unsigned char)out->data[i]);
	return 0;
}

static int
pct_encode(struct st_buf *out, const char *s, size_t len, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_alnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~' || (keep_slash && c == '/')) {
			if (st_buf_add(out, &s[i], 1) == -1)
				return -1;
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			if (st_buf_add(out, e, 3) == -1)
				return -1;
		}
	}
	return 0;
}

/* Base64 of HMAC-SHA256(key, msg) into out[SIG_B64_LEN + 1]. */
static void
sign(const struct st_az_key *key, const char *msg, size_t len, char *out)
{
	unsigned char mac[ST_SHA256_LEN];

	st_hmac_sha256(key->bytes, key->len, msg, len, mac);
	st_base64(mac, sizeof(mac), out);
	OPENSSL_cleanse(mac, sizeof(mac));
}

/* ---------------------------------------------------------------- key */

void
st_az_key_clear(struct st_az_key *key)
{
	OPENSSL_cleanse(key, sizeof(*key));
}

int
st_az_key_decode(struct st_az_key *key, const char *b64)
{
	size_t len, i, pad = 0;
	long n;

	st_az_key_clear(key);
	if (b64 == NULL || (len = strlen(b64)) == 0 || len % 4 != 0)
		return -1;
	while (pad < 2 && len > pad && b64[len - 1 - pad] == '=')
		pad++;
	for (i = 0; i < len - pad; i++) {
		unsigned char c = (unsigned char)b64[i];

		if (!is_alnum(c) && c != '+' && c != '/')
			return -1;
	}
	n = st_base64_decode(b64, len, key->bytes, sizeof(key->bytes));
	if (n <= 0) {
		st_az_key_clear(key);
		return -1;
	}
	key->len = (size_t)n;
	return 0;
}

/* --------------------------------------------------------- Shared Key */

/* The order of the standard headers in the string-to-sign. */
static const char *const std_headers[] = {
	"content-encoding", "content-language", "content-length",
	"content-md5", "content-type", "date", "if-modified-since",
	"if-match", "if-none-match", "if-unmodified-since", "range",
};

/*
 * The service's order of canonicalized header names, as the SDK's
 * _storage_header_sort table spells it: position in this string is the
 * weight of a character (its first occurrence). Every tchar is in it.
 */
static const char header_weights[] =
    "-!#$%&*.^_|~+\"'(),/`~0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]"
    "abcdefghijklmnopqrstuvwxyz{}";

static int
header_weight(int c)
{
	const char *p = c != '\0' ? strchr(header_weights, c) : NULL;

	return p != NULL ? (int)(p - header_weights) : -1;
}

/* Compares two header names lowercased, by weight; shorter prefix first. */
static int
header_cmp(const void *pa, const void *pb)
{
	const char *a = (*(const struct st_az_pair *const *)pa)->name;
	const char *b = (*(const struct st_az_pair *const *)pb)->name;

	for (;; a++, b++) {
		int wa, wb;

		if (*a == '\0' || *b == '\0')
			return (*a != '\0') - (*b != '\0');
		wa = header_weight(lower((unsigned char)*a));
		wb = header_weight(lower((unsigned char)*b));
		if (wa != wb)
			return wa < wb ? -1 : 1;
	}
}

/* Bytewise, ASCII-lowercased. */
static int
lower_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int ca = lower((unsigned char)*a), cb = lower((unsigned char)*b);

		if (ca != cb || ca == '\0')
			return ca - cb;
	}
}

/* Query pairs by lowercased name, then by value bytewise. */
static int
query_cmp(const void *pa, const void *pb)
{
	const struct st_az_pair *a = *(const struct st_az_pair *const *)pa;
	const struct st_az_pair *b = *(const struct st_az_pair *const *)pb;
	int c = lower_cmp(a->name, b->name);

	return c != 0 ? c : strcmp(a->value, b->value);
}

static int
request_valid(const struct st_az_request *req)
{
	const char *p;
	size_t i, j;

	if (req == NULL || !is_token(req->method) || empty(req->account) ||
	    req->path == NULL || req->path[0] != '/')
		return 0;
	for (p = req->account; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '/')
			return 0;
	/* A path as sent on the request line: visible ASCII, no query. */
	for (p = req->path; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '?' || *p == '#')
			return 0;
	if ((req->nquery > 0 && req->query == NULL) ||
	    (req->nheaders > 0 && req->headers == NULL))
		return 0;
	for (i = 0; i < req->nquery; i++)
		if (empty(req->query[i].name) || !no_newline(req->query[i].name) ||
		    !no_newline(req->query[i].value))
			return 0;
	for (i = 0; i < req->nheaders; i++) {
		if (!is_token(req->headers[i].name) ||
		    !no_newline(req->headers[i].value))
			return 0;
		for (j = 0; j < i; j++)
			if (name_eq(req->headers[i].name, req->headers[j].name))
				return 0;
	}
	return 1;
}

static int
sts_build(const struct st_az_request *req, struct st_buf *out)
{
	const struct st_az_pair **v = NULL;
	size_t i, j, n;
	int rc = -1;

	st_buf_adds(out, req->method);
	st_buf_adds(out, "\n");
	for (i = 0; i < sizeof(std_headers) / sizeof(std_headers[0]); i++) {
		for (j = 0; j < req->nheaders; j++) {
			const char *value = req->headers[j].value;

			if (!name_eq(req->headers[j].name, std_headers[i]))
				continue;
			if (i == 2 && strcmp(value, "0") == 0)
				break;	/* Content-Length 0 is signed as empty */
			st_buf_adds(out, value);
			break;
		}
		st_buf_adds(out, "\n");
	}

	/* One scratch array serves the headers, then the query. */
	n = req->nheaders > req->nquery ? req->nheaders : req->nquery;
	if (n > 0 && (v = calloc(n, sizeof(*v))) == NULL)
		return -1;

	for (i = n = 0; i < req->nheaders; i++)
		if (has_prefix_ci(req->headers[i].name, "x-ms-"))
			v[n++] = &req->headers[i];
	if (n > 1)
		qsort(v, n, sizeof(*v), header_cmp);
	for (i = 0; i < n; i++) {
		add_lower(out, v[i]->name);
		st_buf_adds(out, ":");
		st_buf_adds(out, v[i]->value);
		st_buf_adds(out, "\n");
	}

	st_buf_adds(out, "/");
	st_buf_adds(out, req->account);
	st_buf_adds(out, req->path);

	for (i = 0; i < req->nquery; i++)
		v[i] = &req->query[i];
	if (req->nquery > 1)
		qsort(v, req->nquery, sizeof(*v), query_cmp);
	for (i = 0; i < req->nquery; i++) {
		if (i > 0 && lower_cmp(v[i]->name, v[i - 1]->name) == 0) {
			st_buf_adds(out, ",");
		} else {
			st_buf_adds(out, "\n");
			add_lower(out, v[i]->name);
			st_buf_adds(out, ":");
		}
		st_buf_adds(out, v[i]->value);
	}
	rc = out->failed ? -1 : 0;
	free(v);
	return rc;
}

int
st_az_string_to_sign(const struct st_az_request *req, struct st_buf *out)
{
	size_t mark = out->len;

	if (out->failed)
		return -1;
	if (!request_valid(req) || sts_build(req, out) == -1) {
		buf_cut(out, mark);
		return -1;
	}
	return 0;
}

int
st_az_shared_key(const struct st_az_request *req, const struct st_az_key *key,
                 struct st_buf *auth, struct st_buf *sts)
{
	struct st_buf local = { 0 }, *s = sts != NULL ? sts : &local;
	size_t mark = s->len, amark = auth->len;
	char sig[SIG_B64_LEN + 1];
	int rc = -1;

	if (key == NULL || key->len == 0 || auth->failed)
		return -1;
	if (st_az_string_to_sign(req, s) == -1)
		goto out;
	sign(key, s->data + mark, s->len - mark, sig);
	st_buf_adds(auth, "SharedKey ");
	st_buf_adds(auth, req->account);
	st_buf_adds(auth, ":");
	st_buf_adds(auth, sig);
	if (auth->failed)
		buf_cut(auth, amark);
	else
		rc = 0;
out:
	if (rc == -1 && sts != NULL)
		buf_cut(sts, mark);
	st_buf_free(&local);
	return rc;
}

/* The value of a header of req (any case), or "". */
static const char *
header_of(const struct st_az_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0 &&
		    req->headers[i].value != NULL)
			return req->headers[i].value;
	return "";
}

int
st_az_table_shared_key(const struct st_az_request *req,
                       const struct st_az_key *key, struct st_buf *auth,
                       struct st_buf *sts)
{
	struct st_buf local = { 0 }, *s = sts != NULL ? sts : &local;
	size_t mark = s->len, amark = auth->len, i;
	char sig[SIG_B64_LEN + 1];
	int rc = -1;

	if (key == NULL || key->len == 0 || auth->failed || req->method == NULL ||
	    req->account == NULL || req->path == NULL || req->path[0] != '/')
		return -1;
	st_buf_adds(s, req->method);
	st_buf_adds(s, "\n");
	st_buf_adds(s, header_of(req, "Content-MD5"));
	st_buf_adds(s, "\n");
	st_buf_adds(s, header_of(req, "Content-Type"));
	st_buf_adds(s, "\n");
	st_buf_adds(s, header_of(req, "x-ms-date"));
	st_buf_adds(s, "\n/");
	st_buf_adds(s, req->account);
	st_buf_adds(s, req->path);
	for (i = 0; i < req->nquery; i++) {
		if (strcmp(req->query[i].name, "comp") == 0) {
			st_buf_adds(s, "?comp=");
			st_buf_adds(s, req->query[i].value ? req->query[i].value : "");
			break;
		}
	}
	if (s->failed)
		goto out;
	sign(key, s->data + mark, s->len - mark, sig);
	st_buf_adds(auth, "SharedKey ");
	st_buf_adds(auth, req->account);
	st_buf_adds(auth, ":");
	st_buf_adds(auth, sig);
	if (auth->failed)
		buf_cut(auth, amark);
	else
		rc = 0;
out:
	if (rc == -1 && sts != NULL)
		buf_cut(sts, mark);
	st_buf_free(&local);
	return rc;
}

/* ------------------------------------------------------------ encoding */

int
st_az_encode_blob_name(struct st_buf *out, const char *name, size_t len)
{
	size_t mark = out->len;

	if (name == NULL || out->failed)
		return -1;
	if (pct_encode(out, name, len, 1) == -1) {
		buf_cut(out, mark);
		return -1;
	}
	return 0;
}

int
st_az_blob_path(struct st_buf *out, const char *container, const char *blob)
{
	size_t mark = out->len;

	if (out->failed || (empty(container) && !empty(blob)))
		return -1;
	st_buf_adds(out, "/");
	if (!empty(container)) {
		/* The SDK quotes the container with quote()'s default safe '/';
		 * valid container names never need it. */
		pct_encode(out, container, strlen(container), 1);
		if (!empty(blob)) {
			st_buf_adds(out, "/");
			pct_encode(out, blob, strlen(blob), 1);
		}
	}
	if (out->failed) {
		buf_cut(out, mark);
		return -1;
	}
	return 0;
}

int
st_az_query_string(struct st_buf *out, const struct st_az_pair *q, size_t n)
{
	size_t mark = out->len, i;

	if (out->failed || (n > 0 && q == NULL))
		return -1;
	for (i = 0; i < n; i++) {
		if (q[i].name == NULL || q[i].value == NULL) {
			buf_cut(out, mark);
			return -1;
		}
		if (i > 0)
			st_buf_adds(out, "&");
		pct_encode(out, q[i].name, strlen(q[i].name), 0);
		st_buf_adds(out, "=");
		pct_encode(out, q[i].value, strlen(q[i].value), 0);
	}
	if (out->failed) {
		buf_cut(out, mark);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- SAS */

static const char sas_perm_order[] = "racwdxytmei";

/* Canonical order of the permissions into out[sizeof sas_perm_order]. */
static int
sas_permissions(const char *in, char *out)
{
	size_t i, n = 0;
	int seen[sizeof(sas_perm_order)] = { 0 };

	for (; in != NULL && *in != '\0'; in++) {
		const char *p = strchr(sas_perm_order, *in);

		if (p == NULL || seen[p - sas_perm_order]++)
			return -1;
	}
	for (i = 0; i < sizeof(sas_perm_order) - 1; i++)
		if (seen[i])
			out[n++] = sas_perm_order[i];
	out[n] = '\0';
	return 0;
}

/* ISO 8601 UTC to the second, as the SDK's _to_utc_datetime. */
static int
sas_time(time_t t, char *out, size_t cap)
{
	struct tm tm;

	if (t <= 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999)
		return -1;
	return strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 20 ? 0 : -1;
}

static int
sas_version_ok(const char *v)
{
	static const char shape[] = "dddd-dd-dd";
	size_t i;

	if (strlen(v) != sizeof(shape) - 1)
		return 0;
	for (i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? !(v[i] >= '0' && v[i] <= '9') : v[i] != '-')
			return 0;
	/* The string-to-sign below (with ses) is that of 2020-12-06 on. */
	return strcmp(v, "2020-12-06") >= 0;
}

static int
sas_valid(const struct st_az_sas *sas, const char *account,
          const char *container, const char *blob)
{
	const char *text[] = {
		sas->identifier, sas->encryption_scope, sas->cache_control,
		sas->content_disposition, sas->content_encoding,
		sas->content_language, sas->content_type,
	};
	const char *p;
	size_t i;

	if (empty(account) || empty(container) || empty(blob) ||
	    !no_newline(account) || !no_newline(container) ||
	    !no_newline(blob) || strchr(account, '/') != NULL)
		return 0;
	for (i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		if (text[i] != NULL && !no_newline(text[i]))
			return 0;
	if (empty(sas->identifier) &&
	    (sas->expiry == 0 || empty(sas->permissions)))
		return 0;
	if (!empty(sas->protocol) && strcmp(sas->protocol, "https") != 0 &&
	    strcmp(sas->protocol, "https,http") != 0)
		return 0;
	if (!empty(sas->ip))
		for (p = sas->ip; *p != '\0'; p++)
			if (!((*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
				return 0;
	if (sas->version != NULL && !sas_version_ok(sas->version))
		return 0;
	return 1;
}

/* "name=quote(value, safe='/')", '&' first unless it is the first. */
static void
sas_param(struct st_buf *q, size_t mark, const char *name, const char *value)
{
	if (empty(value))
		return;
	if (q->len > mark)
		st_buf_adds(q, "&");
	st_buf_adds(q, name);
	st_buf_adds(q, "=");
	pct_encode(q, value, strlen(value), 1);
}

/* A string-to-sign field: value (or nothing) then a newline. */
static void
sts_field(struct st_buf *s, const char *value)
{
	if (value != NULL)
		st_buf_adds(s, value);
	st_buf_adds(s, "\n");
}

/* A user delegation key's field: present, one line, URL-safe enough to
 * be signed as it is sent. */
static int
udk_field_ok(const char *v)
{
	return !empty(v) && no_newline(v) && strlen(v) < 128;
}

/* Whether a user delegation key is whole and may be signed as it is. */
static int
udk_ok(const struct st_az_udk *udk)
{
	return udk_field_ok(udk->oid) && udk_field_ok(udk->tid) &&
	    udk_field_ok(udk->start) && udk_field_ok(udk->expiry) &&
	    udk_field_ok(udk->service) && udk_field_ok(udk->version);
}

/* What a service SAS signs where a user delegation SAS signs its key. */
static void
sts_signer(struct st_buf *s, const struct st_az_sas *sas,
           const struct st_az_udk *udk)
{
	if (udk == NULL) {
		sts_field(s, sas->identifier);
		return;
	}
	sts_field(s, udk->oid);
	sts_field(s, udk->tid);
	sts_field(s, udk->start);
	sts_field(s, udk->expiry);
	sts_field(s, udk->service);
	sts_field(s, udk->version);
	sts_field(s, NULL);		/* saoid: none */
	sts_field(s, NULL);		/* suoid: none */
	sts_field(s, NULL);		/* scid: none */
}

/*
 * A blob SAS, signed with the account key (udk NULL: a service SAS) or
 * with a user delegation key (udk set: its value is key). The two differ
 * only in what names the signer, in the string-to-sign and the query.
 */
static int
blob_sas(const struct st_az_key *key, const struct st_az_udk *udk,
         const char *account, const char *container, const char *blob,
         const struct st_az_sas *sas, struct st_buf *query,
         struct st_buf *sts)
{
	struct st_buf local = { 0 }, *s = sts != NULL ? sts : &local;
	size_t smark = s->len, qmark = query->len;
	char perm[sizeof(sas_perm_order)], st[32] = "", se[32] = "";
	char sig[SIG_B64_LEN + 1];
	const char *sv;
	int rc = -1;

	if (key == NULL || key->len == 0 || sas == NULL || query->failed ||
	    s->failed || !sas_valid(sas, account, container, blob) ||
	    (udk != NULL && (!empty(sas->identifier) || !udk_ok(udk) ||
	    sas->expiry == 0)) ||
	    sas_permissions(sas->permissions, perm) == -1 ||
	    (sas->start != 0 && sas_time(sas->start, st, sizeof(st)) == -1) ||
	    (sas->expiry != 0 && sas_time(sas->expiry, se, sizeof(se)) == -1))
		goto out;
	sv = sas->version != NULL ? sas->version : ST_AZ_SAS_VERSION;

	sts_field(s, perm);
	sts_field(s, st);
	sts_field(s, se);
	st_buf_adds(s, "/blob/");
	st_buf_adds(s, account);
	st_buf_adds(s, "/");
	st_buf_adds(s, container);
	st_buf_adds(s, "/");
	sts_field(s, blob);
	sts_signer(s, sas, udk);
	sts_field(s, sas->ip);
	sts_field(s, sas->protocol);
	sts_field(s, sv);
	sts_field(s, "b");
	sts_field(s, NULL);		/* snapshot time: none */
	sts_field(s, sas->encryption_scope);
	sts_field(s, sas->cache_control);
	sts_field(s, sas->content_disposition);
	sts_field(s, sas->content_encoding);
	sts_field(s, sas->content_language);
	if (sas->content_type != NULL)
		st_buf_adds(s, sas->content_type);
	if (s->failed)
		goto out;
	sign(key, s->data + smark, s->len - smark, sig);

	sas_param(query, qmark, "st", st);
	sas_param(query, qmark, "se", se);
	sas_param(query, qmark, "sp", perm);
	sas_param(query, qmark, "sip", sas->ip);
	sas_param(query, qmark, "spr", sas->protocol);
	sas_param(query, qmark, "sv", sv);
	sas_param(query, qmark, "si", sas->identifier);
	sas_param(query, qmark, "sr", "b");
	sas_param(query, qmark, "rscc", sas->cache_control);
	sas_param(query, qmark, "rscd", sas->content_disposition);
	sas_param(query, qmark, "rsce", sas->content_encoding);
	sas_param(query, qmark, "rscl", sas->content_language);
	sas_param(query, qmark, "rsct", sas->content_type);
	sas_param(query, qmark, "ses", sas->encryption_scope);
	if (udk != NULL) {
		sas_param(query, qmark, "skoid", udk->oid);
		sas_param(query, qmark, "sktid", udk->tid);
		sas_param(query, qmark, "skt", udk->start);
		sas_param(query, qmark, "ske", udk->expiry);
		sas_param(query, qmark, "sks", udk->service);
		sas_param(query, qmark, "skv", udk->version);
	}
	sas_param(query, qmark, "sig", sig);
	OPENSSL_cleanse(sig, sizeof(sig));
	rc = query->failed ? -1 : 0;
out:
	if (rc == -1) {
		buf_cut(query, qmark);
		if (sts != NULL)
			buf_cut(sts, smark);
	}
	st_buf_free(&local);
	return rc;
}

int
st_az_blob_sas(const struct st_az_key *key, const char *account,
               const char *container, const char *blob,
               const struct st_az_sas *sas, struct st_buf *query,
               struct st_buf *sts)
{
	return blob_sas(key, NULL, account, container, blob, sas, query, sts);
}

int
st_az_blob_sas_udk(const struct st_az_key *key, const struct st_az_udk *udk,
                   const char *account, const char *container,
                   const char *blob, const struct st_az_sas *sas,
                   struct st_buf *query, struct st_buf *sts)
{
	if (udk == NULL)
		return -1;
	return blob_sas(key, udk, account, container, blob, sas, query, sts);
}
