/*
 * fetch.c - blocking exchanges and small helpers for credential sources
 * (see fetch.h). One libcurl easy handle per exchange: sources refresh
 * every few minutes at most, so a handle is not worth keeping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "core/creds.h"
#include "core/fetch.h"

#define ANSWER_MAX	(64 * 1024)
#define LINE_MAX_BYTES	16384
#define CONNECT_MS	3000
#define TOTAL_MS	10000

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	struct st_buf *b = arg;

	if (b->len + size * n > ANSWER_MAX || st_buf_add(b, p, size * n) == -1)
		return 0;
	return size * n;
}

/* Gives up an exchange when the daemon stops. */
static int
progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
         curl_off_t un)
{
	(void)arg; (void)dt; (void)dn; (void)ut; (void)un;
	return st_creds_stopping();
}

/* The options every exchange has, whatever its service. */
static void
set_common(CURL *e, const struct st_conn *conn, int direct)
{
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)TOTAL_MS);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	st_conn_apply(conn, e);
	if (direct)
		curl_easy_setopt(e, CURLOPT_PROXY, "");
}

long
st_fetch_http(const struct st_conn *conn, const char *what,
              const char *method, const char *url,
              const char *const *headers, const char *body, int direct,
              struct st_buf *out, char *why, size_t whylen)
{
	struct curl_slist *h = NULL, *t;
	CURL *e;
	CURLcode rc;
	long status = 0;
	size_t i;

	if (!st_conn_url_allowed(conn, url, why, whylen))
		return 0;
	if ((e = curl_easy_init()) == NULL) {
		snprintf(why, whylen, "out of memory");
		return 0;
	}
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		if ((t = curl_slist_append(h, headers[i])) != NULL)
			h = t;
	if ((t = curl_slist_append(h, "Expect:")) != NULL)
		h = t;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body != NULL ? body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
		    (long)(body != NULL ? strlen(body) : 0));
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
	set_common(e, conn, direct);
	st_buf_reset(out);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	else
		snprintf(why, whylen, "%s: %s", what, curl_easy_strerror(rc));
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	if (rc == CURLE_OK && status == 0)
		snprintf(why, whylen, "%s: no HTTP status", what);
	return rc == CURLE_OK ? status : 0;
}

void
st_fetch_form_add(struct st_buf *b, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	if (b->len > 0 && b->data[b->len - 1] != '?' &&
	    b->data[b->len - 1] != '&')
		st_buf_adds(b, "&");
	st_buf_adds(b, name);
	st_buf_adds(b, "=");
	for (p = (const unsigned char *)value; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '~') {
			st_buf_add(b, (const char *)p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			st_buf_add(b, e, 3);
		}
	}
}

const char *
st_fetch_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

char *
st_fetch_read_line(const char *path, const char *what, char *why,
                   size_t whylen)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL) {
		snprintf(why, whylen, "%s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(LINE_MAX_BYTES)) == NULL) {
		fclose(f);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, LINE_MAX_BYTES - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (n == 0 || strpbrk(buf, "\r\n") != NULL) {
		snprintf(why, whylen, "%s %s is empty or not one line", what,
		    path);
		OPENSSL_cleanse(buf, LINE_MAX_BYTES);
		free(buf);
		return NULL;
	}
	return buf;
}

void
st_fetch_secret_free(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void
st_fetch_buf_free(struct st_buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	st_buf_free(b);
}
