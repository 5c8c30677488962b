/*
 * sigv4_driver.c - runs the SigV4 signer on requests read from stdin, for
 * the differential test against botocore (tests/sign/sigv4_diff.py).
 *
 * One request per line, fields separated by single spaces, each field hex
 * encoded ("=" is the empty string, "!" is NULL), in this order:
 *
 *   mode method host bucket key region service key_id secret token now
 *   body expires nquery (name value)* nheaders (name value)*
 *
 * mode is "sign" (body "!" means UNSIGNED-PAYLOAD, else the body whose
 * SHA-256 is signed) or "presign". The answer is one line: the hex of the
 * Authorization value (sign) or of the query string (presign), a space,
 * and the hex of the canonical request (sign only; "-" for presign).
 *
 * mode "json" signs through src/providers/aws/common.c's aws_sign_json_req,
 * as the SQS and DynamoDB stores do: POST / (bucket and key ignored), the
 * request's headers, the body hashed. Its answer has a third field: the
 * hex of the headers the signer adds, "name: value" lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pcall.h"
#include "providers/aws/aws.h"
#include "sign/hmac.h"
#include "sign/sigv4.h"

#define MAX_FIELDS 512

static char *
unhex(const char *s)
{
	size_t n = strlen(s), i;
	char *out;

	if (strcmp(s, "!") == 0)
		return NULL;
	if (strcmp(s, "=") == 0)
		return strdup("");
	if ((out = malloc(n / 2 + 1)) == NULL)
		abort();
	for (i = 0; i + 1 < n; i += 2) {
		unsigned v;

		sscanf(s + i, "%2x", &v);
		out[i / 2] = (char)v;
	}
	out[n / 2] = '\0';
	return out;
}

static void
put_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		printf("%02x", (unsigned char)s[i]);
}

/* mode "json": what the SQS and DynamoDB stores send. */
static void
run_json(char **f, size_t nf)
{
	struct st_pcall_pair h[64];
	struct st_pcall_req r;
	struct st_creds_snap creds;
	struct st_sigv4_result res;
	struct st_buf added = { 0 };
	size_t k = 13, i, nq, nh;

	memset(&r, 0, sizeof(r));
	memset(&creds, 0, sizeof(creds));
	r.method = f[1];
	r.host = f[2];
	r.path = "/";
	r.body = f[11] ? f[11] : "";
	r.bodylen = strlen(r.body);
	snprintf(creds.id, sizeof(creds.id), "%s", f[7]);
	snprintf(creds.secret, sizeof(creds.secret), "%s", f[8]);
	creds.token = f[9];
	nq = (size_t)atoi(f[k++]);
	k += 2 * nq;
	nh = (size_t)atoi(f[k++]);
	for (i = 0; i < nh && i < 64 && k + 1 < nf; i++, k += 2)
		h[i] = (struct st_pcall_pair){ f[k], f[k + 1] };
	r.headers = h;
	r.nheaders = i;
	if (aws_sign_json_req(&r, f[5], f[6], &creds,
	    (time_t)strtoll(f[10], NULL, 10), &res) == -1) {
		printf("error - -\n");
		return;
	}
	for (i = 0; i < res.nadded; i++)
		st_buf_printf(&added, "%s: %s\n", res.added[i].name,
		    res.added[i].value);
	put_hex(res.authorization.data, res.authorization.len);
	printf(" ");
	put_hex(res.canonical.data, res.canonical.len);
	printf(" ");
	put_hex(added.data, added.len);
	printf("\n");
	st_sigv4_free(&res);
	st_buf_free(&added);
}

static void
run(char **f, size_t nf)
{
	struct st_sigv4_request r;
	struct st_sigv4_param q[64];
	struct st_sigv4_header h[64];
	struct st_buf path = { 0 }, out = { 0 };
	char hash[2 * ST_SHA256_LEN + 1];
	size_t k = 13, i, nq, nh;

	memset(&r, 0, sizeof(r));
	r.method = f[1];
	r.host = f[2];
	st_buf_printf(&path, "/%s%s", f[3], f[3][0] != '\0' ? "/" : "");
	st_sigv4_encode_key(&path, f[4], strlen(f[4]));
	r.path = path.data;
	r.region = f[5];
	r.service = f[6];
	r.key_id = f[7];
	r.secret = f[8];
	r.token = f[9];
	r.now = (time_t)strtoll(f[10], NULL, 10);
	if (f[11] == NULL) {
		r.payload_hash = "UNSIGNED-PAYLOAD";
	} else {
		unsigned char d[ST_SHA256_LEN];

		st_sha256(f[11], strlen(f[11]), d);
		st_hex(d, sizeof(d), hash);
		r.payload_hash = hash;
	}
	r.payload_header = strcmp(r.service, "s3") == 0;
	nq = (size_t)atoi(f[k++]);
	for (i = 0; i < nq && k + 1 < nf; i++, k += 2)
		q[i] = (struct st_sigv4_param){ f[k], f[k + 1] };
	nh = (size_t)atoi(f[k++]);
	for (i = 0; i < nh && k + 1 < nf; i++, k += 2)
		h[i] = (struct st_sigv4_header){ f[k], f[k + 1] };
	r.query = q;
	r.nquery = nq;
	r.headers = h;
	r.nheaders = nh;

	if (strcmp(f[0], "presign") == 0) {
		if (st_sigv4_presign(&r, (unsigned)atoi(f[12]), &out) == -1) {
			printf("error -\n");
		} else {
			put_hex(out.data, out.len);
			printf(" -\n");
		}
	} else {
		struct st_sigv4_result res;

		if (st_sigv4_sign(&r, &res) == -1) {
			printf("error -\n");
		} else {
			put_hex(res.authorization.data, res.authorization.len);
			printf(" ");
			put_hex(res.canonical.data, res.canonical.len);
			printf("\n");
			st_sigv4_free(&res);
		}
	}
	st_buf_free(&path);
	st_buf_free(&out);
}

int
main(void)
{
	char *line = NULL;
	size_t cap = 0;

	while (getline(&line, &cap, stdin) > 0) {
		char *f[MAX_FIELDS], *tok, *save = NULL;
		size_t nf = 0, i;

		line[strcspn(line, "\n")] = '\0';
		for (tok = strtok_r(line, " ", &save); tok != NULL && nf < MAX_FIELDS;
		    tok = strtok_r(NULL, " ", &save))
			f[nf++] = unhex(tok);
		if (nf >= 15 && f[0] != NULL && strcmp(f[0], "json") == 0)
			run_json(f, nf);
		else if (nf >= 15)
			run(f, nf);
		else
			printf("error -\n");
		fflush(stdout);
		for (i = 0; i < nf; i++)
			free(f[i]);
	}
	free(line);
	return 0;
}
