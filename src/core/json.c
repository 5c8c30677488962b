/*
 * json.c - yajl generator helpers, the one error body of the API, and the
 * one bounded parser every JSON tree comes from.
 *
 * The generator validates UTF-8, so a string that is not UTF-8 (it can only
 * come from a provider, never from a validated request) is replaced by an
 * empty string instead of producing broken JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "core/json.h"

yajl_gen
st_json_new(void)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (g != NULL)
		yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	return g;
}

void
st_json_strn(yajl_gen g, const char *s, size_t n)
{
	if (yajl_gen_string(g, (const unsigned char *)s, n) == yajl_gen_invalid_string)
		yajl_gen_string(g, (const unsigned char *)"", 0);
}

void
st_json_str(yajl_gen g, const char *s)
{
	if (s == NULL)
		yajl_gen_null(g);
	else
		st_json_strn(g, s, strlen(s));
}

void
st_json_key_str(yajl_gen g, const char *key, const char *value)
{
	st_json_str(g, key);
	st_json_str(g, value);
}

void
st_json_key_int(yajl_gen g, const char *key, long long value)
{
	st_json_str(g, key);
	yajl_gen_integer(g, value);
}

void
st_json_key_uint(yajl_gen g, const char *key, uint64_t value)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)value);

	st_json_str(g, key);
	yajl_gen_number(g, num, (size_t)n);
}

void
st_json_key_bool(yajl_gen g, const char *key, int value)
{
	st_json_str(g, key);
	yajl_gen_bool(g, value);
}

int
st_json_flush(yajl_gen g, struct st_buf *out)
{
	const unsigned char *p;
	size_t n;

	if (yajl_gen_get_buf(g, &p, &n) != yajl_gen_status_ok)
		return -1;
	if (st_buf_add(out, p, n) == -1)
		return -1;
	yajl_gen_clear(g);
	return 0;
}

int
st_json_error(struct st_buf *out, const char *code, const char *message,
              const char *store, const char *provider_code,
              const char *request_id)
{
	yajl_gen g = st_json_new();
	int rc;

	if (g == NULL)
		return -1;
	yajl_gen_map_open(g);
	st_json_str(g, "error");
	yajl_gen_map_open(g);
	st_json_key_str(g, "code", code);
	st_json_key_str(g, "message", message ? message : code);
	if (store != NULL)
		st_json_key_str(g, "store", store);
	if (provider_code != NULL)
		st_json_key_str(g, "provider_code", provider_code);
	st_json_key_str(g, "request_id", request_id);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	rc = st_json_flush(g, out);
	yajl_gen_free(g);
	return rc;
}

int
st_json_has_nul(const char *s, size_t n)
{
	int in_string = 0;
	size_t i;

	if (memchr(s, '\0', n) != NULL)
		return 1;
	for (i = 0; i < n; i++) {
		if (s[i] == '"') {
			in_string = !in_string;
		} else if (in_string && s[i] == '\\' && i + 1 < n) {
			if (n - i >= 6 && s[i + 1] == 'u' &&
			    memcmp(s + i + 2, "0000", 4) == 0)
				return 1;
			i++;	/* the escaped character */
		}
	}
	return 0;
}

int
st_json_shallow(const char *p, size_t n, unsigned max)
{
	unsigned depth = 0;
	int in_string = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (in_string) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_string = 0;
		} else if (p[i] == '"') {
			in_string = 1;
		} else if (p[i] == '[' || p[i] == '{') {
			if (++depth > max)
				return 0;
		} else if ((p[i] == ']' || p[i] == '}') && depth > 0) {
			depth--;
		}
	}
	return 1;
}

yajl_val
st_json_parse(const char *json, size_t len)
{
	char *text;
	yajl_val v;

	if (!st_json_shallow(json, len, ST_JSON_DEPTH_MAX))
		return NULL;
	if ((text = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(text, json, len);
	text[len] = '\0';
	v = yajl_tree_parse(text, NULL, 0);
	free(text);
	return v;
}
