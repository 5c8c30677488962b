/*
 * azure_driver.c - runs the Azure signer on requests read from stdin, for
 * tests/sign/azure_diff.py to compare with the Azure SDK.
 *
 * One request per line, fields separated by TAB; inside a field '\\',
 * TAB, LF and CR are written \\ \t \n \r. An empty optional field means
 * "not given".
 *
 *   SK  key method account prefix container blob nq {name value}*nq
 *       nh {name value}*nh
 *     -> OK path query string-to-sign authorization
 *   TSK key method account path nq {name value}*nq nh {name value}*nh
 *     -> OK string-to-sign authorization      (Shared Key for Table;
 *        path is the encoded URL path, as sent)
 *   SAS key account container blob permissions start expiry protocol ip
 *       identifier version encryption-scope rscc rscd rsce rscl rsct
 *     -> OK query string-to-sign
 *
 * path is prefix + st_az_blob_path(container, blob); query is
 * st_az_query_string of the pairs; start and expiry are Unix times (0:
 * none). Any failure prints ERR. Output fields are escaped the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "sign/azure_sign.h"

#define MAX_FIELDS 1024

static void
unescape(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			*w++ = *s == 't' ? '\t' : *s == 'n' ? '\n' :
			    *s == 'r' ? '\r' : *s;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static void
put_escaped(const char *s)
{
	putchar('\t');
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '\\': fputs("\\\\", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		default: putchar(*s);
		}
	}
}

static const char *
opt(const char *s)
{
	return *s != '\0' ? s : NULL;
}

static int
read_pairs(char **f, size_t nf, size_t *at, struct st_az_pair **out, size_t *n)
{
	size_t i;
	char *end;

	if (*at >= nf)
		return -1;
	*n = strtoul(f[(*at)++], &end, 10);
	if (*end != '\0' || *n > (nf - *at) / 2)
		return -1;
	*out = calloc(*n + 1, sizeof(**out));
	if (*out == NULL)
		return -1;
	for (i = 0; i < *n; i++) {
		(*out)[i].name = f[(*at)++];
		(*out)[i].value = f[(*at)++];
	}
	return 0;
}

static int
do_sk(char **f, size_t nf)
{
	struct st_buf path = { 0 }, query = { 0 }, sts = { 0 }, auth = { 0 };
	struct st_az_pair *q = NULL, *h = NULL;
	struct st_az_request req = { 0 };
	struct st_az_key key;
	size_t at = 7;
	int rc = -1;

	if (nf < 7 || st_az_key_decode(&key, f[1]) == -1)
		return -1;
	if (read_pairs(f, nf, &at, &q, &req.nquery) == -1 ||
	    read_pairs(f, nf, &at, &h, &req.nheaders) == -1 || at != nf)
		goto out;
	st_buf_adds(&path, f[4]);
	if (st_az_blob_path(&path, opt(f[5]), opt(f[6])) == -1 ||
	    st_az_query_string(&query, q, req.nquery) == -1)
		goto out;
	req.method = f[2];
	req.account = f[3];
	req.path = path.data;
	req.query = q;
	req.headers = h;
	if (st_az_shared_key(&req, &key, &auth, &sts) == -1)
		goto out;
	fputs("OK", stdout);
	put_escaped(path.data);
	put_escaped(query.data != NULL ? query.data : "");
	put_escaped(sts.data);
	put_escaped(auth.data);
	putchar('\n');
	rc = 0;
out:
	st_az_key_clear(&key);
	free(q);
	free(h);
	st_buf_free(&path);
	st_buf_free(&query);
	st_buf_free(&sts);
	st_buf_free(&auth);
	return rc;
}

static int
do_tsk(char **f, size_t nf)
{
	struct st_buf sts = { 0 }, auth = { 0 };
	struct st_az_pair *q = NULL, *h = NULL;
	struct st_az_request req = { 0 };
	struct st_az_key key;
	size_t at = 5;
	int rc = -1;

	if (nf < 5 || st_az_key_decode(&key, f[1]) == -1)
		return -1;
	if (read_pairs(f, nf, &at, &q, &req.nquery) == -1 ||
	    read_pairs(f, nf, &at, &h, &req.nheaders) == -1 || at != nf)
		goto out;
	req.method = f[2];
	req.account = f[3];
	req.path = f[4];
	req.query = q;
	req.headers = h;
	if (st_az_table_shared_key(&req, &key, &auth, &sts) == -1)
		goto out;
	fputs("OK", stdout);
	put_escaped(sts.data);
	put_escaped(auth.data);
	putchar('\n');
	rc = 0;
out:
	st_az_key_clear(&key);
	free(q);
	free(h);
	st_buf_free(&sts);
	st_buf_free(&auth);
	return rc;
}

static int
do_sas(char **f, size_t nf)
{
	struct st_buf query = { 0 }, sts = { 0 };
	struct st_az_sas sas = { 0 };
	struct st_az_key key;
	int rc = -1;

	if (nf != 18 || st_az_key_decode(&key, f[1]) == -1)
		return -1;
	sas.permissions = opt(f[5]);
	sas.start = (time_t)strtoll(f[6], NULL, 10);
	sas.expiry = (time_t)strtoll(f[7], NULL, 10);
	sas.protocol = opt(f[8]);
	sas.ip = opt(f[9]);
	sas.identifier = opt(f[10]);
	sas.version = opt(f[11]);
	sas.encryption_scope = opt(f[12]);
	sas.cache_control = opt(f[13]);
	sas.content_disposition = opt(f[14]);
	sas.content_encoding = opt(f[15]);
	sas.content_language = opt(f[16]);
	sas.content_type = opt(f[17]);
	if (st_az_blob_sas(&key, f[2], f[3], f[4], &sas, &query, &sts) == 0) {
		fputs("OK", stdout);
		put_escaped(query.data);
		put_escaped(sts.data);
		putchar('\n');
		rc = 0;
	}
	st_az_key_clear(&key);
	st_buf_free(&query);
	st_buf_free(&sts);
	return rc;
}

int
main(void)
{
	char *line = NULL, *f[MAX_FIELDS];
	size_t cap = 0;
	ssize_t len;

	while ((len = getline(&line, &cap, stdin)) != -1) {
		size_t nf = 0, i;
		char *p = line;
		int rc = -1;

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		for (;;) {
			char *tab = strchr(p, '\t');

			if (nf == MAX_FIELDS)
				break;
			f[nf++] = p;
			if (tab == NULL)
				break;
			*tab = '\0';
			p = tab + 1;
		}
		for (i = 0; i < nf; i++)
			unescape(f[i]);
		if (strcmp(f[0], "SK") == 0)
			rc = do_sk(f, nf);
		else if (strcmp(f[0], "SAS") == 0)
			rc = do_sas(f, nf);
		else if (strcmp(f[0], "TSK") == 0)
			rc = do_tsk(f, nf);
		if (rc == -1)
			puts("ERR");
		fflush(stdout);
	}
	free(line);
	return 0;
}
