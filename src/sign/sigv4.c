/*
 * sigv4.c - AWS Signature Version 4.
 *
 * The four steps of the specification, each a function:
 *
 *   canonical request  METHOD \n path \n sorted query \n canonical headers
 *                      \n\n signed header names \n payload hash
 *   string to sign     AWS4-HMAC-SHA256 \n date \n scope \n hex(sha256(CR))
 *   signing key        HMAC chain "AWS4"+secret -> date -> region -> service
 *                      -> "aws4_request"
 *   signature          hex(HMAC(signing key, string to sign))
 *
 * Where the specification leaves room, botocore is the reference: header
 * values are trimmed and runs of whitespace folded to one space; repeated
 * headers are joined with ',' in the order given; query pairs are sorted
 * by encoded name, then encoded value; the S3 path is used as sent, never
 * normalised. Nothing here logs, and the secret only enters HMAC and the
 * SHA-256 that finds its derived key in a per-thread cache.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sign/hmac.h"
#include "sign/sigv4.h"

static const char UNSIGNED_PAYLOAD[] = "UNSIGNED-PAYLOAD";

/* ---------------------------------------------------------------- encoding */

static int
unreserved(unsigned char ch)
{
	return isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

int
st_sigv4_encode(struct st_buf *b, const char *s, size_t len, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[3];

		if (unreserved(ch) || (keep_slash && ch == '/')) {
			st_buf_add(b, &s[i], 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[ch >> 4];
		esc[2] = hex[ch & 15];
		st_buf_add(b, esc, 3);
	}
	return b->failed ? -1 : 0;
}

int
st_sigv4_encode_key(struct st_buf *b, const char *key, size_t len)
{
	return st_sigv4_encode(b, key, len, 1);
}

int
st_sigv4_query_string(struct st_buf *b, const struct st_sigv4_param *p,
                      size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			st_buf_adds(b, "&");
		st_sigv4_encode(b, p[i].name, strlen(p[i].name), 0);
		if (p[i].value != NULL) {
			st_buf_adds(b, "=");
			st_sigv4_encode(b, p[i].value, strlen(p[i].value), 0);
		}
	}
	return b->failed ? -1 : 0;
}

/* ---------------------------------------------------------------- query */

struct pair {
	char	*name;		/* encoded */
	char	*value;		/* encoded, "" when absent */
};

static int
pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

static char *
encoded(const char *s)
{
	struct st_buf b = { 0 };

	if (s == NULL)
		s = "";
	st_sigv4_encode(&b, s, strlen(s), 0);
	if (b.failed) {
		st_buf_free(&b);
		return NULL;
	}
	return b.data != NULL ? st_buf_take(&b) : strdup("");
}

/* The canonical query: every pair encoded, sorted, joined with '&'. */
static int
canonical_query(struct st_buf *out, const struct st_sigv4_param *p, size_t n)
{
	struct pair *pairs;
	size_t i, made = 0;
	int rc = -1;

	if (n == 0)
		return 0;
	if ((pairs = calloc(n, sizeof(*pairs))) == NULL)
		return -1;
	for (made = 0; made < n; made++) {
		pairs[made].name = encoded(p[made].name);
		pairs[made].value = encoded(p[made].value);
		if (pairs[made].name == NULL || pairs[made].value == NULL) {
			made++;
			goto out;
		}
	}
	qsort(pairs, n, sizeof(*pairs), pair_cmp);
	for (i = 0; i < n; i++)
		st_buf_printf(out, "%s%s=%s", i > 0 ? "&" : "", pairs[i].name,
		    pairs[i].value);
	rc = out->failed ? -1 : 0;
out:
	for (i = 0; i < made; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
	return rc;
}

/* ---------------------------------------------------------------- headers */

struct hdr {
	char		*name;		/* lowercase */
	const char	*value;
	size_t		 order;		/* keeps repeated headers in order */
};

static int
hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Headers botocore never signs, because proxies may change them. */
static int
unsigned_header(const char *lname)
{
	return strcmp(lname, "expect") == 0 ||
	    strcmp(lname, "user-agent") == 0 ||
	    strcmp(lname, "x-amzn-trace-id") == 0 ||
	    strcmp(lname, "authorization") == 0;
}

/* Python's str.split() whitespace, restricted to ASCII. */
static int
is_ws(unsigned char ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

/* Trims the value and folds each run of whitespace to one space. */
static void
add_trimmed(struct st_buf *b, const char *v)
{
	const unsigned char *p = (const unsigned char *)v, *word;
	int first = 1;

	for (;;) {
		while (*p != '\0' && is_ws(*p))
			p++;
		if (*p == '\0')
			return;
		if (!first)
			st_buf_add(b, " ", 1);
		for (word = p; *p != '\0' && !is_ws(*p); p++)
			;
		st_buf_add(b, word, (size_t)(p - word));
		first = 0;
	}
}

static char *
lowercase(const char *s)
{
	char *l = strdup(s);
	char *p;

	for (p = l; p != NULL && *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return l;
}

/*
 * Collects the headers to sign: the request's own (but those never
 * signed) plus host and the ones the signer adds, sorted by lowercase
 * name. Writes the canonical block and the signed names list.
 */
static int
canonical_headers(const struct st_sigv4_request *r,
                  const struct st_sigv4_result *res,
                  struct st_buf *block, struct st_buf *names)
{
	size_t cap = r->nheaders + 1 + res->nadded, n = 0, i;
	struct hdr *h;
	int rc = -1;

	if ((h = calloc(cap, sizeof(*h))) == NULL)
		return -1;
	for (i = 0; i < r->nheaders; i++) {
		if (r->headers[i].value == NULL)
			continue;
		if ((h[n].name = lowercase(r->headers[i].name)) == NULL)
			goto out;
		if (unsigned_header(h[n].name) || strcmp(h[n].name, "host") == 0) {
			free(h[n].name);
			continue;
		}
		h[n].value = r->headers[i].value;
		h[n].order = n;
		n++;
	}
	for (i = 0; i < res->nadded; i++) {
		if ((h[n].name = lowercase(res->added[i].name)) == NULL)
			goto out;
		h[n].value = res->added[i].value;
		h[n].order = n;
		n++;
	}
	if ((h[n].name = strdup("host")) == NULL)
		goto out;
	h[n].value = r->host;
	h[n].order = n;
	n++;
	qsort(h, n, sizeof(*h), hdr_cmp);
	for (i = 0; i < n; i++) {
		int repeat = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;

		if (repeat) {
			st_buf_adds(block, ",");
		} else {
			if (i > 0) {
				st_buf_adds(block, "\n");
				st_buf_adds(names, ";");
			}
			st_buf_adds(block, h[i].name);
			st_buf_adds(block, ":");
			st_buf_adds(names, h[i].name);
		}
		add_trimmed(block, h[i].value);
	}
	st_buf_adds(block, "\n");
	rc = block->failed || names->failed ? -1 : 0;
out:
	for (i = 0; i < cap; i++)
		free(h[i].name);
	free(h);
	return rc;
}

/* ---------------------------------------------------------------- signing */

/*
 * The strings of a signature are joined by appending rather than by
 * st_buf_printf: formatting them cost a keep-alive GET about 4,300 of its
 * 390,000 instructions (bench/cost).
 */
static void add_all(struct st_buf *b, ...) __attribute__((sentinel));

/* Appends each string up to the (char *)NULL that ends the list. */
static void
add_all(struct st_buf *b, ...)
{
	const char *s;
	va_list ap;

	va_start(ap, b);
	while ((s = va_arg(ap, const char *)) != NULL)
		st_buf_adds(b, s);
	va_end(ap);
}

/* "20150830/us-east-1/iam/aws4_request": the day of amz_date first. */
static void
add_scope(struct st_buf *b, const struct st_sigv4_request *r,
          const char *amz_date)
{
	st_buf_add(b, amz_date, 8);
	add_all(b, "/", r->region, "/", r->service, "/aws4_request",
	    (char *)NULL);
}

static void
format_date(time_t now, char amz[17])
{
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(amz, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void
derive_key(const struct st_sigv4_request *r, const char *day,
           unsigned char key[ST_SHA256_LEN])
{
	struct st_buf seed = { 0 };

	st_buf_printf(&seed, "AWS4%s", r->secret);
	st_hmac_sha256(seed.data, seed.len, day, 8, key);
	st_wipe(seed.data, seed.len);
	st_buf_free(&seed);
	st_hmac_sha256(key, ST_SHA256_LEN, r->region, strlen(r->region), key);
	st_hmac_sha256(key, ST_SHA256_LEN, r->service, strlen(r->service), key);
	st_hmac_sha256(key, ST_SHA256_LEN, "aws4_request", 12, key);
}

/*
 * Derived keys, kept per thread (so without a lock): a key depends only on
 * the secret, the day, the region and the service, and deriving it is four
 * HMACs, most of the cost of a signature. An entry is found by the day and
 * a SHA-256 of secret, region and service, so the secret itself is never
 * kept; the derived key is, and is worth the secret for that day only.
 * A few entries cover the credentials and regions one daemon signs for.
 */
#define KEY_CACHE	4
#define KEY_ID_MAX	256	/* longer secrets are derived every time */

struct cached_key {
	int		 used;
	char		 day[8];
	unsigned char	 id[ST_SHA256_LEN];
	unsigned char	 key[ST_SHA256_LEN];
};

static __thread struct cached_key key_cache[KEY_CACHE];
static __thread unsigned key_cache_next;

/* SHA-256 of "secret\0region\0service", or -1 when it is too long. */
static int
key_id(const struct st_sigv4_request *r, unsigned char id[ST_SHA256_LEN])
{
	size_t ls = strlen(r->secret), lr = strlen(r->region);
	size_t lv = strlen(r->service);
	char buf[KEY_ID_MAX];

	if (ls + lr + lv + 2 > sizeof(buf))
		return -1;
	memcpy(buf, r->secret, ls + 1);
	memcpy(buf + ls + 1, r->region, lr + 1);
	memcpy(buf + ls + lr + 2, r->service, lv);
	st_sha256(buf, ls + lr + lv + 2, id);
	st_wipe(buf, ls);
	return 0;
}

static void
signing_key(const struct st_sigv4_request *r, const char *day,
            unsigned char key[ST_SHA256_LEN])
{
	unsigned char id[ST_SHA256_LEN];
	struct cached_key *e;
	size_t i;

	if (key_id(r, id) == -1) {
		derive_key(r, day, key);
		return;
	}
	for (i = 0; i < KEY_CACHE; i++) {
		e = &key_cache[i];
		if (e->used && memcmp(e->day, day, sizeof(e->day)) == 0 &&
		    memcmp(e->id, id, sizeof(id)) == 0) {
			memcpy(key, e->key, ST_SHA256_LEN);
			return;
		}
	}
	derive_key(r, day, key);
	e = &key_cache[key_cache_next++ % KEY_CACHE];
	e->used = 1;
	memcpy(e->day, day, sizeof(e->day));
	memcpy(e->id, id, sizeof(id));
	memcpy(e->key, key, ST_SHA256_LEN);
}

/* string to sign -> hex signature */
static int
compute(const struct st_sigv4_request *r, struct st_sigv4_result *res,
        char sig[2 * ST_SHA256_LEN + 1])
{
	unsigned char hash[ST_SHA256_LEN], key[ST_SHA256_LEN], mac[ST_SHA256_LEN];
	char hexhash[2 * ST_SHA256_LEN + 1];

	st_sha256(res->canonical.data, res->canonical.len, hash);
	st_hex(hash, sizeof(hash), hexhash);
	add_all(&res->string_to_sign, "AWS4-HMAC-SHA256\n", res->amz_date, "\n",
	    (char *)NULL);
	add_scope(&res->string_to_sign, r, res->amz_date);
	add_all(&res->string_to_sign, "\n", hexhash, (char *)NULL);
	if (res->string_to_sign.failed)
		return -1;
	signing_key(r, res->amz_date, key);
	st_hmac_sha256(key, sizeof(key), res->string_to_sign.data,
	    res->string_to_sign.len, mac);
	st_hex(mac, sizeof(mac), sig);
	st_wipe(key, sizeof(key));
	return 0;
}

static int
complete(const struct st_sigv4_request *r)
{
	return r->method != NULL && r->host != NULL && r->path != NULL &&
	    r->region != NULL && r->service != NULL && r->key_id != NULL &&
	    r->secret != NULL && (r->nquery == 0 || r->query != NULL) &&
	    (r->nheaders == 0 || r->headers != NULL);
}

int
st_sigv4_sign(const struct st_sigv4_request *r, struct st_sigv4_result *res)
{
	struct st_buf block = { 0 }, names = { 0 };
	char sig[2 * ST_SHA256_LEN + 1];
	const char *payload;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (!complete(r))
		return -1;
	payload = r->payload_hash != NULL ? r->payload_hash : UNSIGNED_PAYLOAD;
	format_date(r->now, res->amz_date);
	res->added[res->nadded++] = (struct st_sigv4_header){ "x-amz-date",
	    res->amz_date };
	if (r->payload_header)
		res->added[res->nadded++] = (struct st_sigv4_header){
		    "x-amz-content-sha256", payload };
	if (r->token != NULL)
		res->added[res->nadded++] = (struct st_sigv4_header){
		    "x-amz-security-token", r->token };

	add_all(&res->canonical, r->method, "\n", r->path, "\n", (char *)NULL);
	if (canonical_query(&res->canonical, r->query, r->nquery) == -1 ||
	    canonical_headers(r, res, &block, &names) == -1)
		goto out;
	add_all(&res->canonical, "\n", block.data, "\n", names.data, "\n",
	    payload, (char *)NULL);
	if (res->canonical.failed || compute(r, res, sig) == -1)
		goto out;
	add_all(&res->authorization, "AWS4-HMAC-SHA256 Credential=", r->key_id,
	    "/", (char *)NULL);
	add_scope(&res->authorization, r, res->amz_date);
	add_all(&res->authorization, ", SignedHeaders=", names.data,
	    ", Signature=", sig, (char *)NULL);
	if (res->authorization.failed)
		goto out;
	res->added[res->nadded++] = (struct st_sigv4_header){ "Authorization",
	    res->authorization.data };
	rc = 0;
out:
	st_buf_free(&block);
	st_buf_free(&names);
	if (rc == -1)
		st_sigv4_free(res);
	return rc;
}

void
st_sigv4_free(struct st_sigv4_result *res)
{
	st_buf_free(&res->authorization);
	st_buf_free(&res->canonical);
	st_buf_free(&res->string_to_sign);
	res->nadded = 0;
}

/* ---------------------------------------------------------------- presign */

int
st_sigv4_presign(const struct st_sigv4_request *r, unsigned expires,
                 struct st_buf *out)
{
	struct st_sigv4_param *all;
	struct st_sigv4_result res;
	struct st_buf cred = { 0 };
	char amz[17], exp[16], sig[2 * ST_SHA256_LEN + 1];
	size_t n = 0, i;
	int rc = -1;

	memset(&res, 0, sizeof(res));
	if (!complete(r) || (all = calloc(r->nquery + 6, sizeof(*all))) == NULL)
		return -1;
	format_date(r->now, amz);
	snprintf(exp, sizeof(exp), "%u", expires);
	st_buf_printf(&cred, "%s/%.8s/%s/%s/aws4_request", r->key_id, amz,
	    r->region, r->service);
	for (i = 0; i < r->nquery; i++)
		all[n++] = r->query[i];
	all[n++] = (struct st_sigv4_param){ "X-Amz-Algorithm", "AWS4-HMAC-SHA256" };
	all[n++] = (struct st_sigv4_param){ "X-Amz-Credential", cred.data };
	all[n++] = (struct st_sigv4_param){ "X-Amz-Date", amz };
	all[n++] = (struct st_sigv4_param){ "X-Amz-Expires", exp };
	all[n++] = (struct st_sigv4_param){ "X-Amz-SignedHeaders", "host" };
	if (r->token != NULL)
		all[n++] = (struct st_sigv4_param){ "X-Amz-Security-Token", r->token };
	if (cred.failed)
		goto out;

	memcpy(res.amz_date, amz, sizeof(amz));
	st_buf_printf(&res.canonical, "%s\n%s\n", r->method, r->path);
	if (canonical_query(&res.canonical, all, n) == -1)
		goto out;
	st_buf_printf(&res.canonical, "\nhost:%s\n\nhost\n%s", r->host,
	    UNSIGNED_PAYLOAD);
	if (res.canonical.failed || compute(r, &res, sig) == -1)
		goto out;
	st_sigv4_query_string(out, all, n);
	st_buf_printf(out, "&X-Amz-Signature=%s", sig);
	rc = out->failed ? -1 : 0;
out:
	st_sigv4_free(&res);
	st_buf_free(&cred);
	free(all);
	return rc;
}
