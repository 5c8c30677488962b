/*
 * validate.c - input checks, done once, where input enters.
 *
 * These functions are pure (no allocation, no global state) so that the
 * unit tests can run every rule from a table of cases.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stratus/backend.h>

#include "core/validate.h"
#include "sign/hmac.h"

int
st_valid_store_name(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > ST_STORE_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '_' || c == '-'))
			continue;
		return 0;
	}
	return 1;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
st_percent_decode(const char *src, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hexval((unsigned char)src[i + 1]);
			lo = hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

int
st_valid_utf8(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t len, k;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* C0, DEL, and the C1 controls U+0080..U+009F (encoded as C2 80..C2 9F). */
static int
has_control(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return 1;
		if (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
			return 1;
	}
	return 0;
}

int
st_valid_key(const char *s, size_t n)
{
	size_t start = 0, i;

	if (n < 1 || n > ST_KEY_MAX || !st_valid_utf8(s, n) || has_control(s, n))
		return 0;
	/* Walk segments: none empty, none "." or "..". This also refuses a
	 * leading or trailing '/'. */
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		if (i == start)
			return 0;
		if (i - start == 1 && s[start] == '.')
			return 0;
		if (i - start == 2 && s[start] == '.' && s[start + 1] == '.')
			return 0;
		start = i + 1;
	}
	return 1;
}

long
st_decode_key(const char *raw, size_t len, char *out)
{
	long n;

	if (len > 3 * ST_KEY_MAX)
		return -1;
	n = st_percent_decode(raw, len, out, ST_KEY_MAX + 1);
	if (n < 0 || !st_valid_key(out, (size_t)n))
		return -1;
	return n;
}

/* Digits only, no sign, no overflow. Advances *p. */
static int
parse_digits(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

int
st_parse_range(const char *h, struct st_range *r)
{
	const char *p;

	memset(r, 0, sizeof(*r));
	while (*h == ' ' || *h == '\t')
		h++;
	if (strncmp(h, "bytes=", 6) != 0)
		return -1;
	p = h + 6;
	if (strchr(p, ',') != NULL)
		return 1;	/* several ranges: ignored, as S3 does */
	while (*p == ' ')
		p++;
	if (*p == '-') {
		p++;
		if (parse_digits(&p, &r->last) == -1)
			return -1;
		r->suffix = 1;
	} else {
		if (parse_digits(&p, &r->first) == -1 || *p++ != '-')
			return -1;
		if (*p == '\0' || *p == ' ') {
			r->open = 1;
		} else {
			if (parse_digits(&p, &r->last) == -1)
				return -1;
			if (r->last < r->first)
				return -1;
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0')
		return -1;
	r->set = 1;
	return 0;
}

int
st_resolve_range(const struct st_range *r, uint64_t size, uint64_t *first,
                 uint64_t *length)
{
	if (!r->set) {
		*first = 0;
		*length = size;
		return 0;
	}
	if (r->suffix) {
		if (r->last == 0 || size == 0)
			return -1;
		*length = r->last < size ? r->last : size;
		*first = size - *length;
		return 0;
	}
	if (r->first >= size)
		return -1;
	*first = r->first;
	if (r->open || r->last >= size - 1)
		*length = size - r->first;
	else
		*length = r->last - r->first + 1;
	return 0;
}

int
st_valid_meta_name(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > ST_META_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* UTF-8 text without controls (C0 but tab, DEL, C1): what the API
 * documents for header values and text query parameters. */
int
st_valid_header_value(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return 0;
	if (!st_valid_utf8(s, n) || memchr(s, 0x7f, n) != NULL)
		return 0;
	for (i = 0; i + 1 < n; i++)
		if ((unsigned char)s[i] == 0xc2 &&
		    (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f)
			return 0;
	return 1;
}

int
st_valid_request_id(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= ST_REQUEST_ID_MAX)
			return 0;
		if (!(isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return i > 0;
}

int
st_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (s == NULL || parse_digits(&s, &v) == -1 || *s != '\0')
		return -1;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Compares one entity tag of a list with etag. */
static int
tag_equal(const char *tag, size_t n, const char *etag, int weak)
{
	if (n >= 2 && tag[0] == 'W' && tag[1] == '/') {
		if (!weak)
			return 0;
		tag += 2;
		n -= 2;
	}
	if (weak && strncmp(etag, "W/", 2) == 0)
		etag += 2;
	return strlen(etag) == n && memcmp(tag, etag, n) == 0;
}

int
st_etag_match(const char *h, const char *etag, int weak)
{
	const char *p = h;

	while (*p != '\0') {
		const char *start, *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		start = p;
		if (*p == '*')
			return 1;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (tag_equal(start, (size_t)(end - start), etag, weak))
			return 1;
	}
	return 0;
}

int
st_valid_entity_key(const char *s, size_t n)
{
	if (n < 1 || n > 255 || !st_valid_utf8(s, n) || has_control(s, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strchr("/\\#?", s[i]) != NULL)
			return 0;
	return 1;
}

/* ---------------------------------------------------------------- cursors */

int
st_cursor_wrap(struct st_call *c, const char *token)
{
	size_t n = strlen(token);
	char *cur = st_call_alloc(c, 2 * n + 8);

	if (cur == NULL)
		return -1;
	st_base64url((const unsigned char *)token, n, cur);
	c->next_cursor = cur;
	return 0;
}

char *
st_cursor_unwrap(struct st_call *c, size_t *len)
{
	size_t n = strlen(c->cursor);
	char *token = st_call_alloc(c, n + 4);
	long got;

	if (token == NULL || (got = st_base64url_decode(c->cursor, n,
	    (unsigned char *)token, n + 1)) <= 0) {
		st_call_fail(c, ST_BAD_REQUEST, NULL, "the cursor is not one this "
		    "store gave");
		return NULL;
	}
	token[got] = '\0';
	if (len != NULL)
		*len = (size_t)got;
	return token;
}
