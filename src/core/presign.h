/*
 * presign.h - the daemon's own presigned URLs: the local store's, and those
 * of any store whose backend makes none of its own.
 *
 * A URL carries X-Stratus-Expires (Unix seconds) and X-Stratus-Signature,
 * the hex HMAC-SHA256 under the daemon's presign key of
 * "stratus-presign-v1\nMETHOD\nSTORE\nKEY\nEXPIRES". Only GET (which also
 * allows HEAD) and PUT are signed.
 */
#ifndef STRATUS_CORE_PRESIGN_H
#define STRATUS_CORE_PRESIGN_H

#include <stddef.h>
#include <time.h>

#define ST_PRESIGN_EXPIRES "X-Stratus-Expires"
#define ST_PRESIGN_SIGNATURE "X-Stratus-Signature"

/* hex receives 65 bytes. */
void st_presign_signature(const unsigned char *secret, size_t secretlen,
                          const char *method, const char *store,
                          const char *key, size_t keylen, time_t expires,
                          char *hex);
/* Answers a PRESIGN call with a URL of the daemon itself
 * (c->base_url/v1/blobs/STORE/KEY?X-Stratus-Expires=..&X-Stratus-Signature=..),
 * which the daemon checks and serves from the store: what a backend
 * without its own presigned URLs gets. Calls st_call_done. */
struct st_call;
void st_presign_daemon_url(struct st_call *, const unsigned char *secret,
                           size_t secretlen);
/* 1 when sig is right for these and expires is still ahead of now. */
int st_presign_verify(const unsigned char *secret, size_t secretlen,
                      const char *method, const char *store, const char *key,
                      size_t keylen, const char *expires, const char *sig,
                      time_t now);

#endif
