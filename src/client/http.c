/*
 * http.c - one HTTP request to the daemon, over TCP or a Unix socket.
 *
 * Every request is one libcurl easy handle, reused between requests so that
 * the connection stays open (keep-alive) during recursive copies and long
 * listings. Bodies go through callbacks: a request body is read from a file
 * descriptor in pieces of libcurl's upload buffer, a 2xx response body is
 * written to a file descriptor as it arrives; only JSON answers and error
 * bodies are kept in memory, and those are capped. Memory therefore does
 * not grow with the size of an object.
 *
 * An interrupt (SIGINT, SIGTERM) makes the read and progress callbacks
 * abort the transfer: libcurl then closes the connection without sending
 * the rest of the body, or the last chunk of a chunked one, and the daemon,
 * which only commits complete uploads, keeps the previous version.
 *
 * The token goes into an Authorization header and nowhere else: it is not
 * printed, not logged, and wiped from memory at exit.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <curl/curl.h>
#include <yajl/yajl_gen.h>

#include "autoconfig.h"
#include "client/client.h"

#define ANSWER_CAP (8u << 20)	/* in-memory answers: listings of 1000 keys */

static CURL *easy;

struct xfer {
	const struct req *req;
	struct resp *resp;
	long long sent;		/* request body bytes handed to curl */
	int short_source;	/* a regular file ended before its length */
};

int
http_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return -1;
	easy = curl_easy_init();
	return easy ? 0 : -1;
}

void
http_cleanup(void)
{
	if (easy)
		curl_easy_cleanup(easy);
	easy = NULL;
	curl_global_cleanup();
}

void
resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
}

int
status_exit(long status)
{
	if (status >= 200 && status < 300)
		return EXIT_OK;
	switch (status) {
	case 304:
		return EXIT_OK;
	case 404:
		return EXIT_NOTFOUND;
	case 401: case 403:
		return EXIT_DENIED;
	case 409: case 412:
		return EXIT_PRECOND;
	case 503: case 504:
		return EXIT_UNAVAIL;
	}
	if (status >= 400 && status < 500 && status != 408 && status != 429)
		return EXIT_USAGE;
	if (status == 429)
		return EXIT_UNAVAIL;
	return EXIT_OTHER;
}

int
url_encode(char *out, size_t outlen, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = strlen(out), n = start;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		    c == '~' || (keep_slash && c == '/');
		if (n + (plain ? 1 : 3) >= outlen) {
			out[start] = '\0';	/* out as it was */
			return -1;
		}
		if (plain) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	return 0;
}

int
str_append(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(out), m = strlen(s);

	if (n + m >= outlen)
		return -1;
	memcpy(out + n, s, m + 1);
	return 0;
}

/* ------------------------------------------------------------ callbacks */

static size_t
read_body(char *buf, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	struct body *b = x->req->body;
	size_t want = size * nitems;
	ssize_t n;

	if (interrupted)
		return CURL_READFUNC_ABORT;
	if (b->fd < 0) {
		size_t left = b->data_len - (size_t)x->sent;
		if (want > left)
			want = left;
		memcpy(buf, b->data + x->sent, want);
		x->sent += (long long)want;
		return want;
	}
	if (b->len >= 0 && (long long)want > b->len - x->sent)
		want = (size_t)(b->len - x->sent);
	if (want == 0)
		return 0;
	do {
		n = read(b->fd, buf, want);
	} while (n < 0 && errno == EINTR && !interrupted);
	/* An interrupt that arrived with the end of the input (the writer of
	 * a pipe was stopped by the same Ctrl-C) must not complete the upload:
	 * the flag is checked after the read returns, not only before. */
	if (interrupted || n < 0)
		return CURL_READFUNC_ABORT;
	if (n == 0 && b->len >= 0) {
		x->short_source = 1;	/* the file shrank while being sent */
		return CURL_READFUNC_ABORT;
	}
	x->sent += n;
	return (size_t)n;
}

static void
keep(struct resp *r, const char *p, size_t n)
{
	if (r->too_big)
		return;
	if (r->len + n + 1 > ANSWER_CAP) {
		r->too_big = 1;
		return;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n + 1)
			cap *= 2;
		char *nb = realloc(r->body, cap);
		if (nb == NULL) {
			r->too_big = 1;
			return;
		}
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	r->body[r->len] = '\0';
}

static size_t
write_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct resp *r = x->resp;
	size_t n = size * nmemb, off = 0;

	if (interrupted)
		return 0;
	if (x->req->out_fd < 0 || r->status < 200 || r->status >= 300) {
		keep(r, p, n);
		return n;
	}
	while (off < n) {
		ssize_t w = write(x->req->out_fd, p + off, n - off);
		if (w < 0 && errno == EINTR && !interrupted)
			continue;
		if (w <= 0) {
			r->write_failed = 1;
			r->write_errno = w < 0 ? errno : EIO;
			return 0;
		}
		off += (size_t)w;
	}
	return n;
}

static void
copy_value(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t
header_line(char *p, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	struct resp *r = x->resp;
	size_t n = size * nitems, name_len;
	const char *colon, *v;

	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new status line (after a 100 Continue): start afresh. */
		const char *sp = memchr(p, ' ', n);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->request_id[0] = r->etag[0] = r->content_type[0] = '\0';
		r->last_modified[0] = '\0';
		r->content_length = -1;
		r->meta_len = 0;
		r->meta[0] = '\0';
		return size * nitems;
	}
	colon = memchr(p, ':', n);
	if (colon == NULL)
		return size * nitems;
	name_len = (size_t)(colon - p);
	v = colon + 1;
	while (v < p + n && (*v == ' ' || *v == '\t'))
		v++;
	size_t vlen = (size_t)(p + n - v);
#define IS(name) (name_len == sizeof(name) - 1 && \
	strncasecmp(p, name, name_len) == 0)
	if (IS("X-Request-Id"))
		copy_value(r->request_id, sizeof(r->request_id), v, vlen);
	else if (IS("ETag"))
		copy_value(r->etag, sizeof(r->etag), v, vlen);
	else if (IS("Content-Type"))
		copy_value(r->content_type, sizeof(r->content_type), v, vlen);
	else if (IS("Last-Modified"))
		copy_value(r->last_modified, sizeof(r->last_modified), v, vlen);
	else if (IS("Content-Length"))
		r->content_length = strtoll(v, NULL, 10);
	else if (name_len > 7 && strncasecmp(p, "X-Meta-", 7) == 0 &&
	    r->meta_len + n + 2 < sizeof(r->meta)) {
		size_t i;
		for (i = 7; i < name_len; i++)
			r->meta[r->meta_len++] = (char)tolower(
			    (unsigned char)p[i]);
		r->meta[r->meta_len++] = ':';
		r->meta[r->meta_len++] = ' ';
		memcpy(r->meta + r->meta_len, v, vlen);
		r->meta_len += vlen;
		r->meta[r->meta_len++] = '\n';
		r->meta[r->meta_len] = '\0';
	}
#undef IS
	return size * nitems;
}

static int
xfer_info(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct xfer *x = arg;

	if (interrupted)
		return 1;	/* abort */
	if (x->req->progress) {
		if (x->req->body && x->req->body->fd >= 0)
			progress_update(x->req->progress, x->sent, -1);
		else if (x->resp->status >= 200 && x->resp->status < 300)
			progress_update(x->req->progress, (long long)dlnow,
			    dltotal > 0 ? (long long)dltotal : -1);
	}
	return 0;
}

/* ------------------------------------------------------------ requests */

static void
transport_error(const char *method, const char *path, CURLcode rc,
    const char *detail)
{
	fprintf(stderr, "stratus: %s %s: %s\n", method, path,
	    detail[0] ? detail : curl_easy_strerror(rc));
}

void
report_error(const char *what, const struct resp *r)
{
	const char *code = NULL, *msg = NULL;
	yajl_val v = NULL;

	if (r->body && r->len > 0 && !r->too_big)
		v = yajl_tree_parse(r->body, NULL, 0);
	if (v) {
		yajl_val e = json_get(v, "error", yajl_t_object);
		code = json_str(e, "code");
		msg = json_str(e, "message");
	}
	if (code == NULL)	/* HEAD answers have no body */
		code = r->status == 404 ? "not_found" :
		    r->status == 401 ? "unauthorized" :
		    r->status == 403 ? "forbidden" :
		    r->status == 412 ? "precondition_failed" :
		    r->status == 503 ? "unavailable" : "error";
	fprintf(stderr, "stratus: %s: %s%s%s (HTTP %ld",
	    what, code, msg ? ": " : "", msg ? msg : "", r->status);
	if (r->request_id[0])
		fprintf(stderr, ", request id %s", r->request_id);
	fprintf(stderr, ")\n");
	yajl_tree_free(v);
}

int
http_do(const struct req *q, struct resp *r, long quiet_status)
{
	char url[16384], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct xfer x = { q, r, 0, 0 };
	curl_off_t len;
	CURLcode rc;
	size_t i;
	int code;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	if ((code = ready()) != EXIT_OK)
		return code;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", cli.url, q->path) >=
	    sizeof(url)) {
		fprintf(stderr, "stratus: the request path is too long\n");
		return EXIT_USAGE;
	}
	curl_easy_reset(easy);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "stratus/" PACKAGE_VERSION);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 10L);
	if (cli.unix_path)
		curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, cli.unix_path);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_line);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, xfer_info);
	curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);

	/* Bodies go with PUT (uploads; empty for copies and creates) and POST
	 * (messages, presign); other methods have none. */
	len = q->body == NULL ? 0 : q->body->fd < 0 ?
	    (curl_off_t)q->body->data_len : (curl_off_t)q->body->len;
	if (q->body) {
		curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(easy, CURLOPT_READDATA, &x);
		if (len < 0)
			hdrs = curl_slist_append(hdrs,
			    "Transfer-Encoding: chunked");
	}
	if (strcmp(q->method, "HEAD") == 0) {
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	} else if (strcmp(q->method, "PUT") == 0) {
		curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
		if (len >= 0)
			curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, len);
	} else if (strcmp(q->method, "POST") == 0) {
		curl_easy_setopt(easy, CURLOPT_POST, 1L);
		if (q->body == NULL)
			curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
		if (len >= 0)
			curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, len);
	} else if (strcmp(q->method, "GET") != 0) {
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, q->method);
	}

	if (cli.token) {
		char auth[4200];
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    cli.token);
		hdrs = curl_slist_append(hdrs, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	for (i = 0; i < sizeof(q->headers) / sizeof(q->headers[0]) &&
	    q->headers[i]; i++)
		hdrs = curl_slist_append(hdrs, q->headers[i]);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);

	rc = curl_easy_perform(easy);
	/* libcurl copies header lines when it sends them; the list (and the
	 * token in it) is wiped before it is freed. */
	for (struct curl_slist *h = hdrs; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(hdrs);

	if (interrupted) {
		fprintf(stderr, "stratus: interrupted: %s %s aborted\n",
		    q->method, q->path);
		return EXIT_INTERRUPTED;
	}
	if (r->write_failed) {
		/* A reader that stopped early (stratus cat | head) is no
		 * news to the person who made it stop. */
		if (r->write_errno != EPIPE)
			fprintf(stderr, "stratus: cannot write the body: %s\n",
			    strerror(r->write_errno));
		return EXIT_OTHER;
	}
	if (x.short_source) {
		fprintf(stderr, "stratus: the file ended before its length "
		    "(it changed while being sent): upload aborted\n");
		return EXIT_OTHER;
	}
	if (rc != CURLE_OK) {
		transport_error(q->method, q->path, rc, errbuf);
		if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
		    rc == CURLE_OPERATION_TIMEDOUT)
			return EXIT_UNAVAIL;
		return EXIT_OTHER;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
	code = status_exit(r->status);
	if (code != EXIT_OK && r->status != quiet_status) {
		char what[600];
		snprintf(what, sizeof(what), "%s %s", q->method, q->path);
		report_error(what, r);
	}
	if (r->too_big && code == EXIT_OK && q->out_fd < 0) {
		fprintf(stderr, "stratus: %s %s: the answer is too large\n",
		    q->method, q->path);
		return EXIT_OTHER;
	}
	return code;
}

/* ------------------------------------------------------------ JSON */

yajl_val
json_answer(const struct resp *r)
{
	char err[256];
	yajl_val v = NULL;

	if (r->body)
		v = yajl_tree_parse(r->body, err, sizeof(err));
	if (v == NULL)
		fprintf(stderr, "stratus: the daemon's answer is not JSON "
		    "(request id %s)\n", r->request_id[0] ? r->request_id : "-");
	return v;
}

int
http_json(const struct req *q, yajl_val *out)
{
	struct resp r;
	int rc = http_do(q, &r, 0);

	*out = NULL;
	if (rc == EXIT_OK && (*out = json_answer(&r)) == NULL)
		rc = EXIT_OTHER;
	resp_free(&r);
	return rc;
}

yajl_val
json_get(yajl_val v, const char *key, yajl_type type)
{
	const char *path[] = { key, NULL };
	return v ? yajl_tree_get(v, path, type) : NULL;
}

const char *
json_str(yajl_val v, const char *key)
{
	yajl_val s = json_get(v, key, yajl_t_string);
	return s ? YAJL_GET_STRING(s) : NULL;
}

long long
json_int(yajl_val v, const char *key, long long dflt)
{
	yajl_val n = json_get(v, key, yajl_t_number);
	return n && YAJL_IS_INTEGER(n) ? YAJL_GET_INTEGER(n) : dflt;
}

static void
gen_value(yajl_gen g, yajl_val v)
{
	size_t i;

	if (v == NULL || YAJL_IS_NULL(v)) {
		yajl_gen_null(g);
	} else if (YAJL_IS_STRING(v)) {
		const char *s = YAJL_GET_STRING(v);
		yajl_gen_string(g, (const unsigned char *)s, strlen(s));
	} else if (YAJL_IS_NUMBER(v)) {
		const char *s = YAJL_GET_NUMBER(v);
		yajl_gen_number(g, s, strlen(s));
	} else if (YAJL_IS_TRUE(v)) {
		yajl_gen_bool(g, 1);
	} else if (YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, 0);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (i = 0; i < v->u.array.len; i++)
			gen_value(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (i = 0; i < v->u.object.len; i++) {
			const char *k = v->u.object.keys[i];
			yajl_gen_string(g, (const unsigned char *)k, strlen(k));
			gen_value(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	}
}

void *
jgen_new(void)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	yajl_gen_config(g, yajl_gen_validate_utf8, 0);
	yajl_gen_map_open(g);
	return g;
}

static void
gen_key(yajl_gen g, const char *key)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
}

void
jstr(void *g, const char *key, const char *value)
{
	gen_key(g, key);
	if (value)
		yajl_gen_string(g, (const unsigned char *)value, strlen(value));
	else
		yajl_gen_null(g);
}

void
jint(void *g, const char *key, long long value)
{
	gen_key(g, key);
	yajl_gen_integer(g, value);
}

void
jval(void *g, const char *key, yajl_val v)
{
	gen_key(g, key);
	gen_value(g, v);
}

void
json_print_gen(void *gv)
{
	yajl_gen g = gv;
	const unsigned char *out;
	size_t n;

	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &out, &n) == yajl_gen_status_ok) {
		fwrite(out, 1, n, stdout);
		putchar('\n');
	}
	yajl_gen_free(g);
}

void
json_print(yajl_val v)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *out;
	size_t n;

	gen_value(g, v);
	if (yajl_gen_get_buf(g, &out, &n) == yajl_gen_status_ok) {
		fwrite(out, 1, n, stdout);
		putchar('\n');
	}
	yajl_gen_free(g);
}
