/*
 * presign.c - sign and verify the daemon's own presigned URLs.
 *
 * The method, store, key and expiry are all under the MAC, so a URL cannot
 * be reused for another object, another method or a longer time. The
 * comparison is constant-time.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <stratus/backend.h>

#include "core/buf.h"
#include "core/presign.h"
#include "core/validate.h"
#include "sign/hmac.h"

void
st_presign_signature(const unsigned char *secret, size_t secretlen,
                     const char *method, const char *store, const char *key,
                     size_t keylen, time_t expires, char *hex)
{
	unsigned char mac[ST_SHA256_LEN];
	struct st_buf msg = { 0 };

	st_buf_printf(&msg, "stratus-presign-v1\n%s\n%s\n", method, store);
	st_buf_add(&msg, key, keylen);
	st_buf_printf(&msg, "\n%lld", (long long)expires);
	st_hmac_sha256(secret, secretlen, msg.data, msg.len, mac);
	st_hex(mac, sizeof(mac), hex);
	st_buf_free(&msg);
}

int
st_presign_verify(const unsigned char *secret, size_t secretlen,
                  const char *method, const char *store, const char *key,
                  size_t keylen, const char *expires, const char *sig,
                  time_t now)
{
	char want[2 * ST_SHA256_LEN + 1];
	uint64_t when;

	if (expires == NULL || sig == NULL || strlen(sig) != 2 * ST_SHA256_LEN)
		return 0;
	if (st_parse_u64(expires, 0, INT64_MAX, &when) == -1)
		return 0;
	st_presign_signature(secret, secretlen, method, store, key, keylen,
	    (time_t)when, want);
	if (!st_ct_equal(want, sig, sizeof(want) - 1))
		return 0;
	return (time_t)when > now;
}

void
st_presign_daemon_url(struct st_call *c, const unsigned char *secret,
                      size_t secretlen)
{
	static const char hex[] = "0123456789ABCDEF";
	struct st_buf url = { 0 };
	char sig[2 * ST_SHA256_LEN + 1];
	size_t i;

	c->expires_at = time(NULL) + c->expires_in;
	st_presign_signature(secret, secretlen, c->method,
	    c->store_name, c->key, c->keylen, c->expires_at, sig);
	st_buf_printf(&url, "%s/v1/blobs/%s/", c->base_url, c->store_name);
	for (i = 0; i < c->keylen; i++) {
		unsigned char ch = (unsigned char)c->key[i];

		if (isalnum(ch) || strchr("-._~/", ch) != NULL) {
			st_buf_add(&url, &c->key[i], 1);
		} else {
			char esc[3] = { '%', hex[ch >> 4], hex[ch & 15] };

			st_buf_add(&url, esc, 3);
		}
	}
	st_buf_printf(&url, "?%s=%lld&%s=%s", ST_PRESIGN_EXPIRES,
	    (long long)c->expires_at, ST_PRESIGN_SIGNATURE, sig);
	if (url.failed) {
		st_buf_free(&url);
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	c->url = st_call_strdup(c, url.data);
	st_buf_free(&url);
	c->status = ST_OK;
	st_call_done(c);
}
