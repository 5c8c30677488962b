/*
 * hmac.c - SHA-256, HMAC-SHA256, hex and base64 on top of OpenSSL.
 *
 * Signers (SigV4, Azure Shared Key, SAS, the local store's presigned URLs)
 * all reduce to these few calls. Keeping them here means one place decides
 * how a digest is spelled.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "sign/hmac.h"

/*
 * OpenSSL 3 looks an algorithm up (a locked, reference-counted fetch) each
 * time EVP_sha256() or HMAC() is used: more than the hashing itself on the
 * short inputs signers have. So SHA-256 and HMAC are fetched once, and each
 * thread keeps one digest context and one HMAC-SHA256 context (about 0.6 us
 * a MAC instead of 1.4, measured). The HMAC context also remembers its key:
 * a SigV4 signer MACs every request of a day with the same derived key, and
 * keying costs two SHA-256 blocks and the contexts around them, so the same
 * key (compared by content) is not set again. When any of it cannot be had,
 * the plain calls are used. Between two MACs a thread's context holds the
 * last key, as the signer's own cache does; both are wiped when the thread
 * ends.
 */
static pthread_once_t	 fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD		*sha256_md;
static EVP_MAC		*hmac_alg;
static pthread_key_t	 thread_key;	/* this thread's struct hash_ctx */
static int		 have_thread_key;

struct hash_ctx {
	EVP_MAC_CTX	*mac;
	EVP_MD_CTX	*md;
	unsigned char	 key[64];	/* the key mac holds, if keylen > 0 */
	size_t		 keylen;
};

static void
hash_ctx_free(void *arg)
{
	struct hash_ctx *h = arg;

	EVP_MAC_CTX_free(h->mac);
	EVP_MD_CTX_free(h->md);
	st_wipe(h->key, sizeof(h->key));
	free(h);
}

static void
fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	have_thread_key = pthread_key_create(&thread_key, hash_ctx_free) == 0;
}

static EVP_MAC_CTX *
new_hmac(void)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;

	if (hmac_alg == NULL || (ctx = EVP_MAC_CTX_new(hmac_alg)) == NULL)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(ctx, params)) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* This thread's contexts, made on first use; NULL when they cannot be. */
static struct hash_ctx *
thread_ctx(void)
{
	struct hash_ctx *h;

	pthread_once(&fetch_once, fetch);
	if (!have_thread_key)
		return NULL;
	if ((h = pthread_getspecific(thread_key)) != NULL)
		return h;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->mac = new_hmac();
	h->md = EVP_MD_CTX_new();
	if (pthread_setspecific(thread_key, h) != 0) {
		hash_ctx_free(h);
		return NULL;
	}
	return h;
}

void
st_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
               unsigned char *out)
{
	struct hash_ctx *h = thread_ctx();
	unsigned int outlen = ST_SHA256_LEN;
	int same;
	size_t n;

	/* A NULL key would mean "the previous key" to EVP_MAC_init. */
	if (key == NULL)
		key = "";
	if (h != NULL && h->mac != NULL) {
		same = keylen > 0 && keylen == h->keylen &&
		    memcmp(key, h->key, keylen) == 0;
		h->keylen = 0;		/* until this MAC is made */
		/* Copied now: out may be the key itself (signers chain). */
		if (!same && keylen <= sizeof(h->key))
			memcpy(h->key, key, keylen);
		if (EVP_MAC_init(h->mac, same ? NULL : key, same ? 0 : keylen,
		    NULL) && EVP_MAC_update(h->mac, msg, msglen) &&
		    EVP_MAC_final(h->mac, out, &n, ST_SHA256_LEN)) {
			if (keylen <= sizeof(h->key))
				h->keylen = keylen;
			return;
		}
	}
	HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen);
}

void
st_sha256(const void *msg, size_t len, unsigned char *out)
{
	struct hash_ctx *h = thread_ctx();
	unsigned int outlen = ST_SHA256_LEN;

	if (h != NULL && h->md != NULL && sha256_md != NULL &&
	    EVP_DigestInit_ex2(h->md, sha256_md, NULL) &&
	    EVP_DigestUpdate(h->md, msg, len) &&
	    EVP_DigestFinal_ex(h->md, out, &outlen))
		return;
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
