/*
 * hmac.c - SHA-256, HMAC-SHA256, hex and base64 on top of OpenSSL.
 *
 * Signers (SigV4, Azure Shared Key, SAS, the local store's presigned URLs)
 * all reduce to these few calls. Keeping them here means one place decides
 * how a digest is spelled.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sign/hmac.h"

void
st_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
               unsigned char *out)
{
	unsigned int outlen = ST_SHA256_LEN;

	HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen);
}

void
st_sha256(const void *msg, size_t len, unsigned char *out)
{
	unsigned int outlen = ST_SHA256_LEN;

	EVP_Digest(msg, len, out, &outlen, EVP_sha256(), NULL);
}

void
st_md5(const void *msg, size_t len, unsigned char *out)
{
	unsigned int n = ST_MD5_LEN;

	EVP_Digest(msg, len, out, &n, EVP_md5(), NULL);
}

void
st_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

size_t
st_base64(const unsigned char *in, size_t len, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

long
st_base64_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
	size_t pad = 0, need;
	int n;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	need = len / 4 * 3;
	if (need > outcap + pad || need - pad > outcap)
		return -1;
	if (len == 0)
		return 0;
	{
		/* EVP_DecodeBlock writes need bytes, padding included. */
		unsigned char tmp[need];

		n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
		if (n < 0 || (size_t)n != need)
			return -1;
		memcpy(out, tmp, need - pad);
	}
	return (long)(need - pad);
}

size_t
st_base64url(const unsigned char *in, size_t len, char *out)
{
	size_t n = st_base64(in, len, out), i;

	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return n;
}

long
st_base64url_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
	size_t padded = (len + 3) / 4 * 4, i;
	char tmp[padded + 1];

	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=')
			return -1;
		tmp[i] = c;
	}
	for (; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	return st_base64_decode(tmp, padded, out, outcap);
}

int
st_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void
st_wipe(void *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
}
