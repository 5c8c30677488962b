/*
 * test_reply.c - backend outcomes map to the HTTP statuses and error codes
 * of API.md, and the error body has the documented shape.
 */
#include <string.h>

#include <yajl/yajl_tree.h>

#include "core/json.h"
#include "daemon/reply.h"
#include "unit.h"

struct map_case {
	enum st_status	 status;
	int		 http;
	const char	*code;
};

static const struct map_case map_cases[] = {
	{ ST_OK, 200, NULL },
	{ ST_NOT_MODIFIED, 304, NULL },
	{ ST_BAD_REQUEST, 400, "bad_request" },
	{ ST_BAD_DIGEST, 400, "bad_request" },
	{ ST_FORBIDDEN, 403, "forbidden" },
	{ ST_NOT_FOUND, 404, "not_found" },
	{ ST_CONFLICT, 409, "conflict" },
	{ ST_PRECONDITION, 412, "precondition_failed" },
	{ ST_TOO_LARGE, 413, "payload_too_large" },
	{ ST_RANGE, 416, "range_not_satisfiable" },
	{ ST_INTERNAL, 500, "internal" },
	{ ST_PROVIDER_ERROR, 502, "provider_error" },
	{ ST_UNAVAILABLE, 503, "provider_unavailable" },
	{ ST_TIMEOUT, 504, "provider_timeout" },
	{ ST_CREDENTIALS_UNAVAILABLE, 503, "credentials_unavailable" },
};

START_TEST(status_mapping)
{
	const struct map_case *t = &map_cases[_i];
	struct st_http_error e = st_status_http(t->status);

	ck_assert_int_eq(e.http, t->http);
	if (t->code == NULL)
		ck_assert_ptr_null(e.code);
	else
		ck_assert_str_eq(e.code, t->code);
}
END_TEST

static const char *
field(yajl_val root, const char *name)
{
	const char *path[] = { "error", name, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

START_TEST(error_body)
{
	struct st_buf b = { 0 };
	yajl_val root;
	char err[128];

	ck_assert_int_eq(st_json_error(&b, "not_found", "no blob 'a\"b\n' here",
	    "photos", "NoSuchKey", "rid-1"), 0);
	root = yajl_tree_parse(b.data, err, sizeof(err));
	ck_assert_ptr_nonnull(root);
	ck_assert_str_eq(field(root, "code"), "not_found");
	ck_assert_str_eq(field(root, "message"), "no blob 'a\"b\n' here");
	ck_assert_str_eq(field(root, "store"), "photos");
	ck_assert_str_eq(field(root, "provider_code"), "NoSuchKey");
	ck_assert_str_eq(field(root, "request_id"), "rid-1");
	yajl_tree_free(root);
	st_buf_free(&b);
}
END_TEST

START_TEST(error_body_minimal)
{
	struct st_buf b = { 0 };
	yajl_val root;
	char err[128];

	ck_assert_int_eq(st_json_error(&b, "bad_request", NULL, NULL, NULL,
	    "r"), 0);
	root = yajl_tree_parse(b.data, err, sizeof(err));
	ck_assert_ptr_nonnull(root);
	ck_assert_ptr_null(field(root, "store"));
	ck_assert_ptr_null(field(root, "provider_code"));
	ck_assert_str_eq(field(root, "message"), "bad_request");
	yajl_tree_free(root);
	st_buf_free(&b);
}
END_TEST

START_TEST(http_dates)
{
	char buf[32];

	st_http_date(0, buf);
	ck_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
	st_http_date(1795428000, buf);
	ck_assert_str_eq(buf, "Mon, 23 Nov 2026 10:00:00 GMT");
}
END_TEST

static Suite *
reply_suite(void)
{
	Suite *s = suite_create("reply");
	TCase *tc = tcase_create("errors");

	tcase_add_loop_test(tc, status_mapping, 0,
	    (int)(sizeof(map_cases) / sizeof(map_cases[0])));
	tcase_add_test(tc, error_body);
	tcase_add_test(tc, error_body_minimal);
	tcase_add_test(tc, http_dates);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(reply_suite)
