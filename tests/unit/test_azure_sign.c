/*
 * test_azure_sign.c - Azure Shared Key and blob SAS signing: vectors
 * computed once with the Azure SDK for Python (azure-storage-blob 12.15,
 * SharedKeyCredentialPolicy and generate_blob_sas) with Azurite's
 * well-known development account, and the input rules.
 */
#include <string.h>

#include "core/buf.h"
#include "sign/azure_sign.h"
#include "unit.h"

#define ACCOUNT "devstoreaccount1"
#define KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErC" \
	"z4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define DATE "Mon, 01 Jan 2024 00:00:00 GMT"
#define MAXP 12

struct sk_case {
	const char		*method;
	const char		*path;
	struct st_az_pair	 query[MAXP];	/* up to the first NULL name */
	struct st_az_pair	 headers[MAXP];
	const char		*sts;
	const char		*auth;
};

static const struct sk_case sk_cases[] = {
	{ /* 0: GET with x-ms-range: the Range line stays empty */
	  "GET", "/photos/a%20b.txt", { { NULL, NULL } },
	  { { "x-ms-date", DATE }, { "x-ms-version", "2021-08-06" },
	    { "x-ms-range", "bytes=0-99" } },
	  "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" DATE "\n"
	  "x-ms-range:bytes=0-99\nx-ms-version:2021-08-06\n"
	  "/devstoreaccount1/photos/a%20b.txt",
	  "SharedKey devstoreaccount1:/7vsKQF2PNx8jbQp/3/lTLVq2VG1iKcFBKMPkZYXTcg=" },
	{ /* 1: PUT with body headers and metadata: a_b sorts before a0 */
	  "PUT", "/photos/dir/caf%C3%A9.txt", { { NULL, NULL } },
	  { { "Content-Length", "11" },
	    { "Content-Type", "text/plain; charset=utf-8" },
	    { "Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww==" },
	    { "x-ms-blob-type", "BlockBlob" },
	    { "x-ms-meta-Color", "blue  green" }, { "x-ms-meta-a_b", "1" },
	    { "x-ms-meta-a0", "" }, { "x-ms-date", DATE },
	    { "x-ms-version", "2021-08-06" } },
	  "PUT\n\n\n11\nXrY7u+Ae7tCTyyK7j1rNww==\ntext/plain; charset=utf-8\n"
	  "\n\n\n\n\n\nx-ms-blob-type:BlockBlob\nx-ms-date:" DATE "\n"
	  "x-ms-meta-a_b:1\nx-ms-meta-a0:\nx-ms-meta-color:blue  green\n"
	  "x-ms-version:2021-08-06\n/devstoreaccount1/photos/dir/caf%C3%A9.txt",
	  "SharedKey devstoreaccount1:N0M9ezP3T4zXmSNsgeZ8oHH6H8Fb9wBpQ/Ip2oPAz9E=" },
	{ /* 2: Put Block, Content-Length 0 signed as empty */
	  "PUT", "/photos/big.bin",
	  { { "comp", "block" }, { "blockid", "QUFBQQ==" } },
	  { { "Content-Length", "0" }, { "x-ms-date", DATE },
	    { "x-ms-version", "2021-08-06" } },
	  "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" DATE "\n"
	  "x-ms-version:2021-08-06\n/devstoreaccount1/photos/big.bin\n"
	  "blockid:QUFBQQ==\ncomp:block",
	  "SharedKey devstoreaccount1:KQ+ZkK3EwAPnfGiMaoiCm0XrZgJepg28WYVfrQp+SZo=" },
	{ /* 3: List Blobs, an empty marker and a decoded prefix */
	  "GET", "/photos",
	  { { "restype", "container" }, { "comp", "list" },
	    { "prefix", "a/b" }, { "marker", "" } },
	  { { "x-ms-date", DATE }, { "x-ms-version", "2021-08-06" } },
	  "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" DATE "\n"
	  "x-ms-version:2021-08-06\n/devstoreaccount1/photos\ncomp:list\n"
	  "marker:\nprefix:a/b\nrestype:container",
	  "SharedKey devstoreaccount1:6s2JIEyK5B7CSkAVKs3UicDMdGFbDROC8Fkci7k3P5M=" },
	{ /* 4: conditional headers */
	  "HEAD", "/photos/x", { { NULL, NULL } },
	  { { "If-Match", "\"0x8D\"" }, { "If-None-Match", "*" },
	    { "If-Modified-Since", "Sun, 31 Dec 2023 00:00:00 GMT" },
	    { "If-Unmodified-Since", "Tue, 02 Jan 2024 00:00:00 GMT" },
	    { "x-ms-date", DATE }, { "x-ms-version", "2021-08-06" } },
	  "HEAD\n\n\n\n\n\n\nSun, 31 Dec 2023 00:00:00 GMT\n\"0x8D\"\n*\n"
	  "Tue, 02 Jan 2024 00:00:00 GMT\n\nx-ms-date:" DATE "\n"
	  "x-ms-version:2021-08-06\n/devstoreaccount1/photos/x",
	  "SharedKey devstoreaccount1:ygOhzwAmTZvJLaZf8blBKFcD6jhokc9JCX2eghNqX18=" },
	{ /* 5: DELETE */
	  "DELETE", "/photos/x", { { NULL, NULL } },
	  { { "x-ms-delete-snapshots", "include" }, { "x-ms-date", DATE },
	    { "x-ms-version", "2021-08-06" } },
	  "DELETE\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" DATE "\n"
	  "x-ms-delete-snapshots:include\nx-ms-version:2021-08-06\n"
	  "/devstoreaccount1/photos/x",
	  "SharedKey devstoreaccount1:YDy7vWYd23Vpwjj0aj5zyMrejym6rPyAtTuv0VLjmkw=" },
	{ /* 6: a repeated parameter: values sorted and joined with ',' (the
	   * SDK, which keeps only the last, was given include=metadata,snapshots) */
	  "GET", "/photos",
	  { { "include", "snapshots" }, { "comp", "list" },
	    { "restype", "container" }, { "include", "metadata" } },
	  { { "x-ms-date", DATE }, { "x-ms-version", "2021-08-06" } },
	  "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" DATE "\n"
	  "x-ms-version:2021-08-06\n/devstoreaccount1/photos\ncomp:list\n"
	  "include:metadata,snapshots\nrestype:container",
	  "SharedKey devstoreaccount1:0jElj5nSFhwPIgxopOIhAHfLqcQAY55WxC3zAOJFwpQ=" },
	{ /* 7: the account itself */
	  "GET", "/", { { NULL, NULL } },
	  { { "x-ms-date", DATE }, { "x-ms-version", "2021-08-06" } },
	  "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" DATE "\n"
	  "x-ms-version:2021-08-06\n/devstoreaccount1/",
	  "SharedKey devstoreaccount1:5+KLlHTj5MQn3tRJcd9t6ftZApmyaP2Zlx+w2GTQx5U=" },
	{ /* 8: Range is signed in its own line (service rule; the Python SDK
	   * never sends it, using x-ms-range), mixed-case names */
	  "GET", "/photos/x", { { NULL, NULL } },
	  { { "RANGE", "bytes=0-9" }, { "X-MS-Date", DATE },
	    { "x-Ms-Version", "2021-08-06" } },
	  "GET\n\n\n\n\n\n\n\n\n\n\nbytes=0-9\nx-ms-date:" DATE "\n"
	  "x-ms-version:2021-08-06\n/devstoreaccount1/photos/x",
	  "SharedKey devstoreaccount1:R4qJUOV01PpR1AKNRwFLu3WPrbhFiyqHJzoi0H2xGMo=" },
};

static size_t
count(const struct st_az_pair *p)
{
	size_t n = 0;

	while (n < MAXP && p[n].name != NULL)
		n++;
	return n;
}

static void
make_request(const struct sk_case *t, struct st_az_request *req)
{
	memset(req, 0, sizeof(*req));
	req->method = t->method;
	req->account = ACCOUNT;
	req->path = t->path;
	req->query = t->query;
	req->nquery = count(t->query);
	req->headers = t->headers;
	req->nheaders = count(t->headers);
}

static struct st_az_key key;

static void
setup(void)
{
	ck_assert_int_eq(st_az_key_decode(&key, KEY), 0);
	ck_assert_uint_eq(key.len, 64);
}

static void
teardown(void)
{
	st_az_key_clear(&key);
}

START_TEST(sk_vectors)
{
	const struct sk_case *t = &sk_cases[_i];
	struct st_buf sts = { 0 }, auth = { 0 }, sts2 = { 0 };
	struct st_az_request req;

	make_request(t, &req);
	ck_assert_int_eq(st_az_shared_key(&req, &key, &auth, &sts), 0);
	ck_assert_str_eq(sts.data, t->sts);
	ck_assert_str_eq(auth.data, t->auth);
	ck_assert_int_eq(st_az_string_to_sign(&req, &sts2), 0);
	ck_assert_str_eq(sts2.data, t->sts);
	st_buf_free(&sts);
	st_buf_free(&auth);
	st_buf_free(&sts2);
}
END_TEST

/* The string-to-sign of a request that differs only in one header. */
static char *
sts_with(const char *name, const char *value)
{
	struct st_az_pair h[] = { { "x-ms-date", DATE }, { name, value } };
	struct st_az_request req = { "PUT", ACCOUNT, "/c/b", NULL, 0, h, 2 };
	struct st_buf out = { 0 };

	ck_assert_int_eq(st_az_string_to_sign(&req, &out), 0);
	return st_buf_take(&out);
}

START_TEST(content_length)
{
	char *zero = sts_with("Content-Length", "0");
	char *none = sts_with("x-other", "1");
	char *some = sts_with("content-length", "10");

	ck_assert_str_eq(zero, none);
	ck_assert_str_eq(zero, "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" DATE
	    "\n/devstoreaccount1/c/b");
	ck_assert_str_eq(some, "PUT\n\n\n10\n\n\n\n\n\n\n\n\nx-ms-date:" DATE
	    "\n/devstoreaccount1/c/b");
	free(zero);
	free(none);
	free(some);
}
END_TEST

START_TEST(header_values_verbatim)
{
	char *s = sts_with("x-ms-meta-Note", "  two  spaces\there  ");

	ck_assert_ptr_nonnull(strstr(s,
	    "\nx-ms-meta-note:  two  spaces\there  \n"));
	free(s);
}
END_TEST

START_TEST(header_order)
{
	/* The service order: '-' < other symbols < '_' < digits < letters */
	struct st_az_pair h[] = {
		{ "x-ms-meta-b", "3" }, { "x-ms-meta-a0", "2" },
		{ "x-ms-meta-a_", "1" }, { "x-ms-meta-a", "0" },
		{ "x-ms-meta-a-b", "0b" }, { "x-ms-meta-a.b", "0c" },
	};
	struct st_az_request req = { "GET", ACCOUNT, "/c", NULL, 0, h, 6 };
	struct st_buf out = { 0 };

	ck_assert_int_eq(st_az_string_to_sign(&req, &out), 0);
	ck_assert_ptr_nonnull(strstr(out.data, "\n\nx-ms-meta-a:0\n"
	    "x-ms-meta-a-b:0b\nx-ms-meta-a.b:0c\nx-ms-meta-a_:1\n"
	    "x-ms-meta-a0:2\nx-ms-meta-b:3\n/devstoreaccount1/c"));
	st_buf_free(&out);
}
END_TEST

START_TEST(query_rules)
{
	struct st_az_pair q[] = {
		{ "Prefix", "x" }, { "comp", "list" }, { "include", "" },
		{ "include", "b,c" }, { "include", "a" }, { "marker", "\xc3\xa9 &=" },
	};
	struct st_az_request req = { "GET", ACCOUNT, "/c", q, 6, NULL, 0 };
	struct st_buf out = { 0 }, qs = { 0 };

	ck_assert_int_eq(st_az_string_to_sign(&req, &out), 0);
	ck_assert_str_eq(out.data, "GET\n\n\n\n\n\n\n\n\n\n\n\n/devstoreaccount1/c"
	    "\ncomp:list\ninclude:,a,b,c\nmarker:\xc3\xa9 &=\nprefix:x");
	ck_assert_int_eq(st_az_query_string(&qs, q, 6), 0);
	ck_assert_str_eq(qs.data, "Prefix=x&comp=list&include=&include=b%2Cc"
	    "&include=a&marker=%C3%A9%20%26%3D");
	st_buf_free(&out);
	st_buf_free(&qs);
}
END_TEST

START_TEST(bad_requests)
{
	struct st_az_pair ok[] = { { "x-ms-date", DATE } };
	struct st_az_pair dup[] = { { "x-ms-date", DATE }, { "X-MS-DATE", DATE } };
	struct st_az_pair dupstd[] = { { "Content-Type", "a" }, { "content-type", "b" } };
	struct st_az_pair sp[] = { { "x ms", "1" } };
	struct st_az_pair nl[] = { { "x-ms-meta-a", "1\r\nx-ms-meta-b: 2" } };
	struct st_az_pair qnl[] = { { "comp", "a\nb" } };
	struct st_az_pair qempty[] = { { "", "v" } };
	const struct st_az_request bad[] = {
		{ "GET", ACCOUNT, "/c", NULL, 0, dup, 2 },
		{ "GET", ACCOUNT, "/c", NULL, 0, dupstd, 2 },
		{ "GET", ACCOUNT, "/c", NULL, 0, sp, 1 },
		{ "GET", ACCOUNT, "/c", NULL, 0, nl, 1 },
		{ "GET", ACCOUNT, "/c", qnl, 1, ok, 1 },
		{ "GET", ACCOUNT, "/c", qempty, 1, ok, 1 },
		{ "GET", ACCOUNT, "c", NULL, 0, ok, 1 },
		{ "GET", ACCOUNT, "/c?comp=list", NULL, 0, ok, 1 },
		{ "GET", ACCOUNT, "/a b", NULL, 0, ok, 1 },
		{ "GET", ACCOUNT, "/caf\xc3\xa9", NULL, 0, ok, 1 },
		{ "GET", "", "/c", NULL, 0, ok, 1 },
		{ "GET", "a/b", "/c", NULL, 0, ok, 1 },
		{ "", ACCOUNT, "/c", NULL, 0, ok, 1 },
		{ "GET\n", ACCOUNT, "/c", NULL, 0, ok, 1 },
		{ NULL, ACCOUNT, "/c", NULL, 0, ok, 1 },
		{ "GET", ACCOUNT, "/c", NULL, 1, ok, 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct st_buf out = { 0 }, auth = { 0 };

		st_buf_adds(&out, "kept");
		ck_assert_msg(st_az_string_to_sign(&bad[i], &out) == -1,
		    "bad request %zu accepted", i);
		ck_assert_str_eq(out.data, "kept");
		ck_assert_int_eq(st_az_shared_key(&bad[i], &key, &auth, &out), -1);
		ck_assert_str_eq(out.data, "kept");
		ck_assert_uint_eq(auth.len, 0);
		st_buf_free(&out);
		st_buf_free(&auth);
	}
}
END_TEST

static const char *const bad_keys[] = {
	"", "abc", "ab=c", "@@@@", "QUJD\n", "QUJ D", " QUJD", "QUJD ",
	"AB=C", "A===", "====", "QUJDRA=", "QUJDRA===", "QU-D", "QU_D",
};

START_TEST(key_decoding)
{
	struct st_az_key k;

	ck_assert_msg(st_az_key_decode(&k, bad_keys[_i]) == -1,
	    "bad key %d accepted", _i);
	ck_assert_uint_eq(k.len, 0);
}
END_TEST

START_TEST(key_good)
{
	struct st_az_key k;
	char big[4 * (ST_AZ_KEY_MAX / 3 + 2) + 1];

	ck_assert_int_eq(st_az_key_decode(&k, "QUJD"), 0);
	ck_assert_uint_eq(k.len, 3);
	ck_assert_int_eq(memcmp(k.bytes, "ABC", 3), 0);
	ck_assert_int_eq(st_az_key_decode(&k, "QUJDRA=="), 0);
	ck_assert_uint_eq(k.len, 4);
	ck_assert_int_eq(st_az_key_decode(&k, "QUJDREU="), 0);
	ck_assert_uint_eq(k.len, 5);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(st_az_key_decode(&k, big), -1);	/* too long */
	ck_assert_int_eq(st_az_key_decode(&k, NULL), -1);
	st_az_key_clear(&k);
	ck_assert_uint_eq(k.len, 0);
}
END_TEST

START_TEST(empty_key_refused)
{
	struct st_az_key k = { .len = 0 };
	struct st_az_pair h[] = { { "x-ms-date", DATE } };
	struct st_az_request req = { "GET", ACCOUNT, "/c", NULL, 0, h, 1 };
	struct st_buf auth = { 0 };

	ck_assert_int_eq(st_az_shared_key(&req, &k, &auth, NULL), -1);
	ck_assert_int_eq(st_az_shared_key(&req, NULL, &auth, NULL), -1);
	ck_assert_uint_eq(auth.len, 0);
	st_buf_free(&auth);
}
END_TEST

START_TEST(encoding)
{
	static const char name[] = "dir/caf\xc3\xa9 a+b?#%~.txt;,=&'()*!@$:";
	struct st_buf out = { 0 };

	ck_assert_int_eq(st_az_encode_blob_name(&out, name, strlen(name)), 0);
	ck_assert_str_eq(out.data, "dir/caf%C3%A9%20a%2Bb%3F%23%25~.txt"
	    "%3B%2C%3D%26%27%28%29%2A%21%40%24%3A");
	st_buf_reset(&out);
	ck_assert_int_eq(st_az_encode_blob_name(&out, "a\0b", 3), 0);
	ck_assert_str_eq(out.data, "a%00b");
	st_buf_reset(&out);
	ck_assert_int_eq(st_az_blob_path(&out, "photos", "a b/c"), 0);
	ck_assert_str_eq(out.data, "/photos/a%20b/c");
	st_buf_reset(&out);
	ck_assert_int_eq(st_az_blob_path(&out, "photos", NULL), 0);
	ck_assert_str_eq(out.data, "/photos");
	st_buf_reset(&out);
	ck_assert_int_eq(st_az_blob_path(&out, NULL, NULL), 0);
	ck_assert_str_eq(out.data, "/");
	st_buf_reset(&out);
	ck_assert_int_eq(st_az_blob_path(&out, "", "b"), -1);
	ck_assert_uint_eq(out.len, 0);
	st_buf_free(&out);
}
END_TEST

/* 2024-01-01T00:00:00Z, 2024-01-02T12:30:05Z, 2030-06-15T00:00:00Z */
#define T_2024 1704067200
#define T_2024B 1704198605
#define T_2030 1907712000

struct sas_case {
	const char		*blob;
	struct st_az_sas	 sas;
	const char		*sts;
	const char		*query;
};

static const struct sas_case sas_cases[] = {
	{ "dir/caf\xc3\xa9 a+b.txt",
	  { .permissions = "r", .start = T_2024, .expiry = T_2024B,
	    .protocol = "https" },
	  "r\n2024-01-01T00:00:00Z\n2024-01-02T12:30:05Z\n"
	  "/blob/devstoreaccount1/photos/dir/caf\xc3\xa9 a+b.txt\n\n\nhttps\n"
	  "2021-12-02\nb\n\n\n\n\n\n\n",
	  "st=2024-01-01T00%3A00%3A00Z&se=2024-01-02T12%3A30%3A05Z&sp=r"
	  "&spr=https&sv=2021-12-02&sr=b"
	  "&sig=yh5Qr7Xu/FPaeNoUh0e/vOBtE95Huaf5P%2BebBKXUQqA%3D" },
	{ "up/load.bin", { .permissions = "wc", .expiry = T_2030 },
	  "cw\n\n2030-06-15T00:00:00Z\n/blob/devstoreaccount1/photos/up/load.bin"
	  "\n\n\n\n2021-12-02\nb\n\n\n\n\n\n\n",
	  "se=2030-06-15T00%3A00%3A00Z&sp=cw&sv=2021-12-02&sr=b"
	  "&sig=bMdv9FzJI7krd/ih1AYHOObMDF69DBxCDll1Skm745k%3D" },
	{ "r.pdf",
	  { .permissions = "r", .expiry = T_2030, .ip = "10.0.0.1-10.0.0.9",
	    .protocol = "https,http",
	    .content_disposition = "attachment; filename=\"r.pdf\"",
	    .content_type = "application/pdf", .version = "2021-12-02" },
	  "r\n\n2030-06-15T00:00:00Z\n/blob/devstoreaccount1/photos/r.pdf\n\n"
	  "10.0.0.1-10.0.0.9\nhttps,http\n2021-12-02\nb\n\n\n\n"
	  "attachment; filename=\"r.pdf\"\n\n\napplication/pdf",
	  "se=2030-06-15T00%3A00%3A00Z&sp=r&sip=10.0.0.1-10.0.0.9"
	  "&spr=https%2Chttp&sv=2021-12-02&sr=b"
	  "&rscd=attachment%3B%20filename%3D%22r.pdf%22&rsct=application/pdf"
	  "&sig=0CK0laZAGGxynevtj3W4RK82ciWsF6zLEim9Ntdqx7M%3D" },
};

START_TEST(sas_vectors)
{
	const struct sas_case *t = &sas_cases[_i];
	struct st_buf q = { 0 }, sts = { 0 }, q2 = { 0 };

	ck_assert_int_eq(st_az_blob_sas(&key, ACCOUNT, "photos", t->blob,
	    &t->sas, &q, &sts), 0);
	ck_assert_str_eq(sts.data, t->sts);
	ck_assert_str_eq(q.data, t->query);
	/* appending to an existing URL */
	st_buf_adds(&q2, "https://h/photos/x?");
	ck_assert_int_eq(st_az_blob_sas(&key, ACCOUNT, "photos", t->blob,
	    &t->sas, &q2, NULL), 0);
	ck_assert_str_eq(q2.data + strlen("https://h/photos/x?"), t->query);
	st_buf_free(&q);
	st_buf_free(&sts);
	st_buf_free(&q2);
}
END_TEST

START_TEST(sas_errors)
{
	const struct st_az_sas bad[] = {
		{ .permissions = "z", .expiry = T_2030 },
		{ .permissions = "rr", .expiry = T_2030 },
		{ .permissions = "R", .expiry = T_2030 },
		{ .permissions = "r" },				/* no expiry */
		{ .expiry = T_2030 },				/* no permissions */
		{ .permissions = "r", .expiry = T_2030, .protocol = "http" },
		{ .permissions = "r", .expiry = T_2030, .version = "2019-02-02" },
		{ .permissions = "r", .expiry = T_2030, .version = "2021-1-02" },
		{ .permissions = "r", .expiry = T_2030, .ip = "::1" },
		{ .permissions = "r", .expiry = -5 },
		{ .permissions = "r", .expiry = T_2030, .content_type = "a\nb" },
	};
	const struct st_az_sas ok = { .permissions = "r", .expiry = T_2030 };
	struct st_az_key none = { .len = 0 };
	struct st_buf q = { 0 };
	size_t i;

	st_buf_adds(&q, "kept");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(st_az_blob_sas(&key, ACCOUNT, "c", "b", &bad[i], &q,
		    NULL) == -1, "bad sas %zu accepted", i);
		ck_assert_str_eq(q.data, "kept");
	}
	ck_assert_int_eq(st_az_blob_sas(&key, ACCOUNT, "c", "", &ok, &q, NULL), -1);
	ck_assert_int_eq(st_az_blob_sas(&key, ACCOUNT, "", "b", &ok, &q, NULL), -1);
	ck_assert_int_eq(st_az_blob_sas(&key, "", "c", "b", &ok, &q, NULL), -1);
	ck_assert_int_eq(st_az_blob_sas(&none, ACCOUNT, "c", "b", &ok, &q, NULL), -1);
	ck_assert_str_eq(q.data, "kept");
	st_buf_free(&q);
}
END_TEST

START_TEST(sas_policy_id)
{
	/* A stored access policy may carry permissions and expiry. */
	const struct st_az_sas sas = { .identifier = "policy-1" };
	struct st_buf q = { 0 }, sts = { 0 };

	ck_assert_int_eq(st_az_blob_sas(&key, ACCOUNT, "c", "b", &sas, &q, &sts), 0);
	ck_assert_str_eq(sts.data, "\n\n\n/blob/devstoreaccount1/c/b\npolicy-1\n\n\n"
	    "2021-12-02\nb\n\n\n\n\n\n\n");
	ck_assert_int_eq(strncmp(q.data, "sv=2021-12-02&si=policy-1&sr=b&sig=", 35), 0);
	st_buf_free(&q);
	st_buf_free(&sts);
}
END_TEST

/* A user delegation SAS. The signature was computed with Python's hmac
 * over the string-to-sign of the service's documentation (versions
 * 2020-12-06 and later); the key and its fields are what Azurite's Get
 * User Delegation Key answered. */
#define UDK_VALUE "eA79jqOdsevMgb+HxMqIg5nD59GdJcafPGVAtBk9jas="
static const struct st_az_udk udk = {
	"9a3b5c7d-1e2f-4a6b-8c0d-123456789abc",
	"72f988bf-86f1-41af-91ab-2d7cd011db47",
	"2026-12-05T13:49:21Z", "2026-12-06T13:54:21Z", "b", "2025-11-05"
};

START_TEST(sas_udk)
{
	const struct st_az_sas sas = { .permissions = "r", .expiry = T_2030,
	    .protocol = "https", .version = "2021-12-02" };
	struct st_az_key k;
	struct st_buf q = { 0 }, sts = { 0 };

	ck_assert_int_eq(st_az_key_decode(&k, UDK_VALUE), 0);
	ck_assert_int_eq(st_az_blob_sas_udk(&k, &udk, ACCOUNT, "photos",
	    "dir/a b.txt", &sas, &q, &sts), 0);
	ck_assert_str_eq(sts.data, "r\n\n2030-06-15T00:00:00Z\n"
	    "/blob/devstoreaccount1/photos/dir/a b.txt\n"
	    "9a3b5c7d-1e2f-4a6b-8c0d-123456789abc\n"
	    "72f988bf-86f1-41af-91ab-2d7cd011db47\n"
	    "2026-12-05T13:49:21Z\n2026-12-06T13:54:21Z\nb\n2025-11-05\n"
	    "\n\n\n\nhttps\n2021-12-02\nb\n\n\n\n\n\n\n");
	ck_assert_str_eq(q.data, "se=2030-06-15T00%3A00%3A00Z&sp=r&spr=https"
	    "&sv=2021-12-02&sr=b&skoid=9a3b5c7d-1e2f-4a6b-8c0d-123456789abc"
	    "&sktid=72f988bf-86f1-41af-91ab-2d7cd011db47"
	    "&skt=2026-12-05T13%3A49%3A21Z&ske=2026-12-06T13%3A54%3A21Z"
	    "&sks=b&skv=2025-11-05"
	    "&sig=px4u%2BpHx7j0kID8V0ewELGp5105gc3QyCHd0UxzBLNs%3D");
	st_buf_free(&q);
	st_buf_free(&sts);
	st_az_key_clear(&k);
}
END_TEST

START_TEST(sas_udk_errors)
{
	const struct st_az_sas ok = { .permissions = "r", .expiry = T_2030 };
	const struct st_az_sas policy = { .identifier = "p", .expiry = T_2030,
	    .permissions = "r" };
	struct st_az_udk partial = udk, newline = udk;
	struct st_az_key k;
	struct st_buf q = { 0 };

	partial.tid = NULL;
	newline.start = "2026-12-05\nT";
	ck_assert_int_eq(st_az_key_decode(&k, UDK_VALUE), 0);
	st_buf_adds(&q, "kept");
	ck_assert_int_eq(st_az_blob_sas_udk(&k, &partial, ACCOUNT, "c", "b",
	    &ok, &q, NULL), -1);
	ck_assert_int_eq(st_az_blob_sas_udk(&k, &newline, ACCOUNT, "c", "b",
	    &ok, &q, NULL), -1);
	ck_assert_int_eq(st_az_blob_sas_udk(&k, &udk, ACCOUNT, "c", "b",
	    &policy, &q, NULL), -1);
	ck_assert_int_eq(st_az_blob_sas_udk(&k, NULL, ACCOUNT, "c", "b",
	    &ok, &q, NULL), -1);
	ck_assert_str_eq(q.data, "kept");
	st_buf_free(&q);
	st_az_key_clear(&k);
}
END_TEST

static Suite *
azure_sign_suite(void)
{
	Suite *s = suite_create("azure_sign");
	TCase *tc = tcase_create("shared_key");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, sk_vectors, 0,
	    sizeof(sk_cases) / sizeof(sk_cases[0]));
	tcase_add_test(tc, content_length);
	tcase_add_test(tc, header_values_verbatim);
	tcase_add_test(tc, header_order);
	tcase_add_test(tc, query_rules);
	tcase_add_test(tc, bad_requests);
	tcase_add_test(tc, empty_key_refused);
	tcase_add_test(tc, encoding);
	suite_add_tcase(s, tc);

	tc = tcase_create("key");
	tcase_add_loop_test(tc, key_decoding, 0,
	    sizeof(bad_keys) / sizeof(bad_keys[0]));
	tcase_add_test(tc, key_good);
	suite_add_tcase(s, tc);

	tc = tcase_create("sas");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, sas_vectors, 0,
	    sizeof(sas_cases) / sizeof(sas_cases[0]));
	tcase_add_test(tc, sas_errors);
	tcase_add_test(tc, sas_policy_id);
	tcase_add_test(tc, sas_udk);
	tcase_add_test(tc, sas_udk_errors);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(azure_sign_suite)
