/*
 * test_xml.c - the streaming XML walker on provider-shaped answers, fed
 * whole and byte by byte, and on XML it must refuse.
 */
#include <string.h>

#include "core/buf.h"
#include "core/xml.h"
#include "unit.h"

static int
collect(const char *path, const char *text, size_t len, void *arg)
{
	struct st_buf *out = arg;

	if (len == 0)
		return 0;	/* containers */
	st_buf_printf(out, "%s=", path);
	st_buf_add(out, text, len);
	st_buf_adds(out, ";");
	return 0;
}

struct xml_case {
	const char	*xml;
	int		 ok;
	const char	*walk;
};

static const struct xml_case xml_cases[] = {
	{ "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>", 1,
	  "Error/Code=NoSuchKey;Error/Message=gone;" },
	{ "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	  "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	  "<Contents><Key>a &amp; b/\xc3\xa9</Key><Size>12</Size></Contents>"
	  "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>"
	  "<IsTruncated>false</IsTruncated></ListBucketResult>", 1,
	  "ListBucketResult/Contents/Key=a & b/\xc3\xa9;"
	  "ListBucketResult/Contents/Size=12;"
	  "ListBucketResult/CommonPrefixes/Prefix=p/;"
	  "ListBucketResult/IsTruncated=false;" },
	{ "<a><b>unclosed</a>", 0, NULL },
	{ "<!DOCTYPE a [<!ENTITY x \"boom\">]><a>&x;</a>", 0, NULL },
	{ "", 0, NULL },
};

START_TEST(walk_whole)
{
	const struct xml_case *t = &xml_cases[_i];
	struct st_buf out = { 0 };
	struct st_xml *x = st_xml_new(collect, &out);
	int rc;

	rc = st_xml_feed(x, t->xml, strlen(t->xml));
	if (rc == 0)
		rc = st_xml_finish(x);
	ck_assert_int_eq(rc == 0, t->ok);
	if (t->ok)
		ck_assert_str_eq(out.data, t->walk);
	st_xml_free(x);
	st_buf_free(&out);
}
END_TEST

START_TEST(walk_bytewise)
{
	const struct xml_case *t = &xml_cases[_i];
	struct st_buf out = { 0 };
	struct st_xml *x = st_xml_new(collect, &out);
	size_t i, n = strlen(t->xml);
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++)
		rc = st_xml_feed(x, t->xml + i, 1);
	if (rc == 0)
		rc = st_xml_finish(x);
	ck_assert_int_eq(rc == 0, t->ok);
	if (t->ok)
		ck_assert_str_eq(out.data, t->walk);
	st_xml_free(x);
	st_buf_free(&out);
}
END_TEST

START_TEST(huge_text_refused)
{
	struct st_buf out = { 0 }, doc = { 0 };
	struct st_xml *x = st_xml_new(collect, &out);
	int i;

	st_buf_adds(&doc, "<a>");
	for (i = 0; i < 100000; i++)	/* over the 96 KiB a text may have */
		st_buf_adds(&doc, "x");
	st_buf_adds(&doc, "</a>");
	ck_assert_int_eq(st_xml_feed(x, doc.data, doc.len), -1);
	st_xml_free(x);
	st_buf_free(&out);
	st_buf_free(&doc);
}
END_TEST

START_TEST(escaping)
{
	struct st_buf out = { 0 };

	st_xml_escape(&out, "<a & \"b\">'", 10);
	ck_assert_str_eq(out.data, "&lt;a &amp; &quot;b&quot;&gt;&apos;");
	st_buf_free(&out);
}
END_TEST

START_TEST(path_under)
{
	ck_assert_str_eq(st_xml_under("a/b/c", "a"), "b/c");
	ck_assert_str_eq(st_xml_under("a/b/c", "a/b"), "c");
	ck_assert_ptr_null(st_xml_under("ab/c", "a"));
	ck_assert_ptr_null(st_xml_under("a", "a"));
	ck_assert_ptr_null(st_xml_under("b/a", "a"));
}
END_TEST

static Suite *
xml_suite(void)
{
	Suite *s = suite_create("xml");
	TCase *tc = tcase_create("walk");
	int n = (int)(sizeof(xml_cases) / sizeof(xml_cases[0]));

	tcase_add_loop_test(tc, walk_whole, 0, n);
	tcase_add_loop_test(tc, walk_bytewise, 0, n);
	tcase_add_test(tc, huge_text_refused);
	tcase_add_test(tc, escaping);
	tcase_add_test(tc, path_under);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(xml_suite)
