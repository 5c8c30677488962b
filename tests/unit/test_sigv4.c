/*
 * test_sigv4.c - the SigV4 signer on AWS's published examples, plus the
 * encoding rules and the edges botocore agrees with (the broad check is
 * tests/sign/sigv4_diff.py).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sign/hmac.h"
#include "sign/sigv4.h"
#include "unit.h"

/* 2013-05-24T00:00:00Z, the date of the S3 documentation's examples. */
#define S3_DOC_TIME ((time_t)1369353600)
static const char S3_DOC_KEY_ID[] = "AKIAIOSFODNN7EXAMPLE";
static const char S3_DOC_SECRET[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
static const char EMPTY_SHA256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static struct st_sigv4_request
s3_doc_request(const char *method, const char *path)
{
	struct st_sigv4_request r;

	memset(&r, 0, sizeof(r));
	r.method = method;
	r.host = "examplebucket.s3.amazonaws.com";
	r.path = path;
	r.region = "us-east-1";
	r.service = "s3";
	r.key_id = S3_DOC_KEY_ID;
	r.secret = S3_DOC_SECRET;
	r.payload_hash = EMPTY_SHA256;
	r.payload_header = 1;
	r.now = S3_DOC_TIME;
	return r;
}

/* "GET Object" from the S3 SigV4 header-signing examples. */
START_TEST(s3_get_object_example)
{
	struct st_sigv4_header h[] = { { "Range", "bytes=0-9" } };
	struct st_sigv4_request r = s3_doc_request("GET", "/test.txt");
	struct st_sigv4_result res;

	r.headers = h;
	r.nheaders = 1;
	ck_assert_int_eq(st_sigv4_sign(&r, &res), 0);
	ck_assert_str_eq(res.authorization.data,
	    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
	    "us-east-1/s3/aws4_request, SignedHeaders=host;range;"
	    "x-amz-content-sha256;x-amz-date, Signature="
	    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	ck_assert_str_eq(res.amz_date, "20130524T000000Z");
	ck_assert_uint_eq(res.nadded, 3);
	ck_assert_str_eq(res.added[2].name, "Authorization");
	st_sigv4_free(&res);
}
END_TEST

/* "GET Bucket Lifecycle": a valueless subresource signs as "lifecycle=". */
START_TEST(s3_subresource_example)
{
	struct st_sigv4_param q[] = { { "lifecycle", NULL } };
	struct st_sigv4_request r = s3_doc_request("GET", "/");
	struct st_sigv4_result res;

	r.query = q;
	r.nquery = 1;
	ck_assert_int_eq(st_sigv4_sign(&r, &res), 0);
	ck_assert_ptr_nonnull(strstr(res.canonical.data, "\n/\nlifecycle=\n"));
	ck_assert_str_eq(strstr(res.authorization.data, "Signature=") + 10,
	    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	st_sigv4_free(&res);
}
END_TEST

/* "List Objects": query pairs sorted by name. */
START_TEST(s3_list_example)
{
	struct st_sigv4_param q[] = { { "prefix", "J" }, { "max-keys", "2" } };
	struct st_sigv4_request r = s3_doc_request("GET", "/");
	struct st_sigv4_result res;

	r.query = q;
	r.nquery = 2;
	ck_assert_int_eq(st_sigv4_sign(&r, &res), 0);
	ck_assert_ptr_nonnull(strstr(res.canonical.data, "\nmax-keys=2&prefix=J\n"));
	ck_assert_str_eq(strstr(res.authorization.data, "Signature=") + 10,
	    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	st_sigv4_free(&res);
}
END_TEST

/* The presigned GET example of the S3 query-string documentation. */
START_TEST(s3_presign_example)
{
	struct st_sigv4_request r = s3_doc_request("GET", "/test.txt");
	struct st_buf q = { 0 };

	ck_assert_int_eq(st_sigv4_presign(&r, 86400, &q), 0);
	ck_assert_str_eq(q.data, "X-Amz-Algorithm=AWS4-HMAC-SHA256"
	    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
	    "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
	    "&X-Amz-SignedHeaders=host&X-Amz-Signature="
	    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	st_buf_free(&q);
}
END_TEST

/* Header values: trimmed, runs of blanks folded; the token is signed. */
START_TEST(trim_and_token)
{
	struct st_sigv4_header h[] = {
		{ "X-Amz-Meta-Note", "  a   b\t\tc  " },
		{ "User-Agent", "not signed" },
		{ "Expect", NULL },
	};
	struct st_sigv4_request r = s3_doc_request("PUT", "/k");
	struct st_sigv4_result res;

	r.headers = h;
	r.nheaders = 3;
	r.token = "session/token+=";
	ck_assert_int_eq(st_sigv4_sign(&r, &res), 0);
	ck_assert_ptr_nonnull(strstr(res.canonical.data, "\nx-amz-meta-note:a b c\n"));
	ck_assert_ptr_null(strstr(res.canonical.data, "user-agent"));
	ck_assert_ptr_nonnull(strstr(res.canonical.data,
	    "x-amz-security-token:session/token+=\n"));
	ck_assert_ptr_nonnull(strstr(res.authorization.data, "SignedHeaders=host;"
	    "x-amz-content-sha256;x-amz-date;x-amz-meta-note;x-amz-security-token,"));
	ck_assert_uint_eq(res.nadded, 4);
	st_sigv4_free(&res);
}
END_TEST

struct enc_case {
	const char	*in;
	const char	*key;		/* as an S3 key */
	const char	*query;		/* as a query value */
};

static const struct enc_case enc_cases[] = {
	{ "a b", "a%20b", "a%20b" },
	{ "a/b", "a/b", "a%2Fb" },
	{ "+%~-_.", "%2B%25~-_.", "%2B%25~-_." },
	{ "?#&=", "%3F%23%26%3D", "%3F%23%26%3D" },
	{ "\xc3\xa9", "%C3%A9", "%C3%A9" },
	{ "*'()!", "%2A%27%28%29%21", "%2A%27%28%29%21" },
};

START_TEST(encoding)
{
	const struct enc_case *t = &enc_cases[_i];
	struct st_buf k = { 0 }, q = { 0 };

	st_sigv4_encode_key(&k, t->in, strlen(t->in));
	st_sigv4_encode(&q, t->in, strlen(t->in), 0);
	ck_assert_str_eq(k.data, t->key);
	ck_assert_str_eq(q.data, t->query);
	st_buf_free(&k);
	st_buf_free(&q);
}
END_TEST

START_TEST(query_string_for_url)
{
	struct st_sigv4_param q[] = { { "uploads", NULL }, { "x", "" },
	    { "a b", "c/d" } };
	struct st_buf b = { 0 };

	ck_assert_int_eq(st_sigv4_query_string(&b, q, 3), 0);
	ck_assert_str_eq(b.data, "uploads&x=&a%20b=c%2Fd");
	st_buf_free(&b);
}
END_TEST

START_TEST(missing_fields)
{
	struct st_sigv4_request r = s3_doc_request("GET", "/");
	struct st_sigv4_result res;

	r.secret = NULL;
	ck_assert_int_eq(st_sigv4_sign(&r, &res), -1);
}
END_TEST

/* HMAC-SHA256 on RFC 4231's vectors, one key after another and each key
 * twice in a row: each thread keeps one context and sets its key only when
 * the key changes, so it must never answer with the previous key, nor miss
 * a key that changed in place. */
START_TEST(hmac_rekeys)
{
	static const struct {
		const char	*key;
		size_t		 keylen;
		const char	*msg;
		const char	*mac;
	} v[] = {
		{ "Jefe", 4, "what do ya want for nothing?",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ NULL, 0, "",
		  "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad" },
		/* 131 bytes of 0xaa: big, below */
		{ "", 131, "Test Using Larger Than Block-Size Key - Hash Key First",
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	};
	unsigned char big[131], mac[ST_SHA256_LEN];
	char hex[2 * ST_SHA256_LEN + 1], jefe[5] = "Jefe";
	size_t i, round, again;

	memset(big, 0xaa, sizeof(big));
	for (round = 0; round < 2; round++) {
		for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			const void *key = v[i].keylen == 131 ? big : (const void *)v[i].key;

			for (again = 0; again < 2; again++) {
				st_hmac_sha256(key, v[i].keylen, v[i].msg,
				    strlen(v[i].msg), mac);
				st_hex(mac, sizeof(mac), hex);
				ck_assert_str_eq(hex, v[i].mac);
			}
		}
	}
	/* The same buffer, other content: a new key. */
	st_hmac_sha256(jefe, 4, v[0].msg, strlen(v[0].msg), mac);
	jefe[0] = 'j';
	st_hmac_sha256(jefe, 4, v[0].msg, strlen(v[0].msg), mac);
	st_hex(mac, sizeof(mac), hex);
	ck_assert_str_ne(hex, v[0].mac);
	jefe[0] = 'J';
	st_hmac_sha256(jefe, 4, v[0].msg, strlen(v[0].msg), mac);
	st_hex(mac, sizeof(mac), hex);
	ck_assert_str_eq(hex, v[0].mac);
}
END_TEST

/* A chain in place, as signers derive keys: the output overwrites the
 * key it was made with, and the next MAC is keyed by it. (Values from
 * Python's hmac module.) */
START_TEST(hmac_chains_in_place)
{
	static const char *want[] = {
		"4db858e484f57951299319d6e1db1ac96eb80e6e1ecac11fa14226bc11b82cf8",
		"3885961e0427dbe5b5f7b6937d0a6bb4c5908c47312234bf458fc50c6602071d",
		"25aa9e6f8872b4ae20240c4e348edfc03e9568843057f8105f29d2aa858faa88",
	};
	unsigned char k[ST_SHA256_LEN];
	char hex[2 * ST_SHA256_LEN + 1];

	st_hmac_sha256("Jefe", 4, "one", 3, k);
	st_hex(k, sizeof(k), hex);
	ck_assert_str_eq(hex, want[0]);
	st_hmac_sha256(k, sizeof(k), "two", 3, k);
	st_hex(k, sizeof(k), hex);
	ck_assert_str_eq(hex, want[1]);
	st_hmac_sha256(k, sizeof(k), "two", 3, k);
	st_hex(k, sizeof(k), hex);
	ck_assert_str_eq(hex, want[2]);
}
END_TEST

/* SHA-256 from the thread's one digest context, used again and again. */
START_TEST(sha256_reuses)
{
	static const struct {
		const char	*msg;
		const char	*sum;
	} v[] = {
		{ "abc",
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "",
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	};
	unsigned char sum[ST_SHA256_LEN];
	char hex[2 * ST_SHA256_LEN + 1];
	size_t i, round;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			st_sha256(v[i].msg, strlen(v[i].msg), sum);
			st_hex(sum, sizeof(sum), hex);
			ck_assert_str_eq(hex, v[i].sum);
		}
	}
}
END_TEST

/*
 * The signature a request should have, derived here without the signer's
 * cache: the HMAC chain of the specification over the string to sign the
 * signer made (its content is checked by the published examples).
 */
static void
expected_signature(const struct st_sigv4_request *r,
                   const struct st_sigv4_result *res, char *hex)
{
	unsigned char key[ST_SHA256_LEN], mac[ST_SHA256_LEN];
	char seed[128];

	snprintf(seed, sizeof(seed), "AWS4%s", r->secret);
	st_hmac_sha256(seed, strlen(seed), res->amz_date, 8, key);
	st_hmac_sha256(key, sizeof(key), r->region, strlen(r->region), key);
	st_hmac_sha256(key, sizeof(key), r->service, strlen(r->service), key);
	st_hmac_sha256(key, sizeof(key), "aws4_request", 12, key);
	st_hmac_sha256(key, sizeof(key), res->string_to_sign.data,
	    res->string_to_sign.len, mac);
	st_hex(mac, sizeof(mac), hex);
}

/* Signs r and checks the signature against expected_signature(). */
static int
signs_right(const struct st_sigv4_request *r)
{
	struct st_sigv4_result res;
	char want[2 * ST_SHA256_LEN + 1];
	const char *got;
	int ok;

	if (st_sigv4_sign(r, &res) == -1)
		return 0;
	expected_signature(r, &res, want);
	got = strstr(res.authorization.data, "Signature=");
	ok = got != NULL && strcmp(got + 10, want) == 0;
	st_sigv4_free(&res);
	return ok;
}

struct key_case {
	const char	*secret;
	time_t		 now;
	const char	*region;
	const char	*service;
};

/* More combinations than the cache holds, each differing from the one
 * before in one part: secret, day, region or service. */
static const struct key_case key_cases[] = {
	{ S3_DOC_SECRET, S3_DOC_TIME, "us-east-1", "s3" },
	{ "secret-B", S3_DOC_TIME, "us-east-1", "s3" },
	{ S3_DOC_SECRET, S3_DOC_TIME, "us-east-1", "s3" },
	{ S3_DOC_SECRET, S3_DOC_TIME + 86400, "us-east-1", "s3" },
	{ S3_DOC_SECRET, S3_DOC_TIME + 86399, "us-east-1", "s3" },
	{ S3_DOC_SECRET, S3_DOC_TIME, "eu-west-1", "s3" },
	{ S3_DOC_SECRET, S3_DOC_TIME, "us-east-1", "sqs" },
	{ "secret-B", S3_DOC_TIME, "eu-west-1", "s3" },
	{ "secret-C", S3_DOC_TIME + 86400, "us-east-1", "s3" },
	{ S3_DOC_SECRET, S3_DOC_TIME, "us-east-1", "s3" },
	{ "secret-B", S3_DOC_TIME, "us-east-1", "s3" },
	/* The same bytes, cut differently between the parts. */
	{ "secret-Bu", S3_DOC_TIME, "s-east-1", "s3" },
	{ "secret-B", S3_DOC_TIME, "us-east-1s", "3" },
	{ "", S3_DOC_TIME, "us-east-1", "s3" },
};

/*
 * Signing with one secret, day, region or service after another never
 * uses a signing key cached for another: A, then B, then A again, and so
 * on past the size of the cache, twice over.
 */
START_TEST(signing_key_cache)
{
	struct st_sigv4_header h[] = { { "Range", "bytes=0-9" } };
	struct st_sigv4_request r = s3_doc_request("GET", "/test.txt");
	struct st_sigv4_result res;
	size_t i, round;

	r.headers = h;
	r.nheaders = 1;
	for (round = 0; round < 2; round++) {
		for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
			r.secret = key_cases[i].secret;
			r.now = key_cases[i].now;
			r.region = key_cases[i].region;
			r.service = key_cases[i].service;
			ck_assert_msg(signs_right(&r), "case %zu, round %zu", i, round);
		}
		/* And the published example, after all of them. */
		r = s3_doc_request("GET", "/test.txt");
		r.headers = h;
		r.nheaders = 1;
		ck_assert_int_eq(st_sigv4_sign(&r, &res), 0);
		ck_assert_str_eq(strstr(res.authorization.data, "Signature=") + 10,
		    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
		st_sigv4_free(&res);
	}
}
END_TEST

/* Threads signing at once, each with its own credentials and its own
 * cache, all of them right. */
static void *
sign_many(void *arg)
{
	const struct key_case *k = arg;
	struct st_sigv4_request r = s3_doc_request("GET", "/test.txt");
	int i;

	r.secret = k->secret;
	r.region = k->region;
	r.service = k->service;
	for (i = 0; i < 200; i++) {
		r.now = k->now + (i % 3) * 86400;
		if (!signs_right(&r))
			return (void *)"wrong";
	}
	return NULL;
}

START_TEST(signing_threads)
{
	pthread_t t[4];
	void *rv;
	size_t i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, sign_many,
		    (void *)&key_cases[i * 2]), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &rv), 0);
		ck_assert_ptr_null(rv);
	}
}
END_TEST

static Suite *
sigv4_suite(void)
{
	Suite *s = suite_create("sigv4");
	TCase *tc = tcase_create("sigv4");

	tcase_add_test(tc, s3_get_object_example);
	tcase_add_test(tc, s3_subresource_example);
	tcase_add_test(tc, s3_list_example);
	tcase_add_test(tc, s3_presign_example);
	tcase_add_test(tc, trim_and_token);
	tcase_add_loop_test(tc, encoding, 0, sizeof(enc_cases) / sizeof(enc_cases[0]));
	tcase_add_test(tc, query_string_for_url);
	tcase_add_test(tc, missing_fields);
	tcase_add_test(tc, hmac_rekeys);
	tcase_add_test(tc, hmac_chains_in_place);
	tcase_add_test(tc, sha256_reuses);
	tcase_add_test(tc, signing_key_cache);
	tcase_add_test(tc, signing_threads);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(sigv4_suite)
