/*
 * hmac.h - the few cryptographic primitives every signer needs.
 *
 * Thin wrappers over OpenSSL 3 (EVP and HMAC); no crypto is written here.
 * Hex output is lowercase, as SigV4 wants; base64 is standard with padding,
 * as Azure wants; base64url without padding is for tokens put in URLs.
 */
#ifndef STRATUS_SIGN_HMAC_H
#define STRATUS_SIGN_HMAC_H

#include <stddef.h>

#define ST_SHA256_LEN 32
#define ST_MD5_LEN 16

/* out receives ST_SHA256_LEN bytes. */
void st_hmac_sha256(const void *key, size_t keylen,
                    const void *msg, size_t msglen, unsigned char *out);
void st_sha256(const void *msg, size_t len, unsigned char *out);
/* out receives ST_MD5_LEN bytes (Content-MD5 checks only). */
void st_md5(const void *msg, size_t len, unsigned char *out);

/* Writes 2*len hex digits and a NUL into out (size >= 2*len+1). */
void st_hex(const unsigned char *in, size_t len, char *out);

/* Base64 with padding. Returns the length written (NUL not counted);
 * out must hold 4*((len+2)/3)+1 bytes. */
size_t st_base64(const unsigned char *in, size_t len, char *out);
/* Decodes standard base64 (whitespace not allowed). Returns the number of
 * bytes written, or -1 when the input is not valid base64 or out is short. */
long st_base64_decode(const char *in, size_t len, unsigned char *out, size_t outcap);

/* base64url, no padding: for opaque tokens (cursors, receipts) in URLs. */
size_t st_base64url(const unsigned char *in, size_t len, char *out);
long st_base64url_decode(const char *in, size_t len, unsigned char *out, size_t outcap);

/* Constant-time comparison of two equal-length buffers: 1 if equal. */
int st_ct_equal(const void *a, const void *b, size_t len);

/* Overwrites secret material before its memory is let go (OPENSSL_cleanse,
 * which the compiler cannot optimise away). */
void st_wipe(void *, size_t);

#endif
