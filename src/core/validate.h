/*
 * validate.h - the checks every application input passes where it enters.
 *
 * Each function answers "valid or not" for one kind of input and, where the
 * input needs decoding, decodes it at the same time, so that nothing after
 * the HTTP layer sees raw input.
 */
#ifndef STRATUS_CORE_VALIDATE_H
#define STRATUS_CORE_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include <stratus/backend.h>

#define ST_STORE_NAME_MAX 63
#define ST_KEY_MAX 1024
#define ST_META_NAME_MAX 64
#define ST_META_TOTAL_MAX 2048
#define ST_REQUEST_ID_MAX 64

/* [a-z0-9][a-z0-9_-]{0,62} */
int st_valid_store_name(const char *, size_t);

/* Percent-decodes src into out (cap bytes, NUL added). Malformed escapes
 * fail. Returns the decoded length, or -1. */
long st_percent_decode(const char *src, size_t len, char *out, size_t cap);

/* Valid UTF-8: shortest form, no surrogates, at most U+10FFFF. */
int st_valid_utf8(const char *, size_t);

/* A blob key as API.md defines it, once decoded. */
int st_valid_key(const char *, size_t);

/* Decodes a raw (percent-encoded) key and validates it. out holds
 * ST_KEY_MAX+1 bytes. Returns the length or -1. */
long st_decode_key(const char *raw, size_t len, char *out);

/* Range header. 0: parsed into r; 1: to be ignored (several ranges);
 * -1: malformed. */
int st_parse_range(const char *, struct st_range *r);
/* Resolves r against a size: 0 and the span, or -1 when unsatisfiable. */
int st_resolve_range(const struct st_range *r, uint64_t size,
                     uint64_t *first, uint64_t *length);

/* [a-z0-9_-]{1,64} after lowercasing (done in place on the caller's copy). */
int st_valid_meta_name(const char *, size_t);
/* Printable (no control characters), valid UTF-8, no leading/trailing
 * blanks required: a header value we can store and send back. */
int st_valid_header_value(const char *, size_t);

/* [A-Za-z0-9._:-]{1,64} */
int st_valid_request_id(const char *);

/* Whole decimal number in [min, max]. 0 ok, -1 not. */
int st_parse_u64(const char *, uint64_t min, uint64_t max, uint64_t *out);

/* If-Match / If-None-Match: does the header (a list of entity tags or "*")
 * match the quoted etag? `weak` compares ignoring W/ (If-None-Match). */
int st_etag_match(const char *header, const char *etag, int weak);

/* Table keys and property names, for the table API. */
int st_valid_entity_key(const char *, size_t);

/*
 * A listing's cursor is the provider's own token (a continuation token, a
 * marker), wrapped in base64url so that it stays URL-safe whatever the
 * provider puts in it. st_cursor_wrap sets the call's next_cursor (0, or
 * -1: out of memory); st_cursor_unwrap gives the token of the call's
 * cursor, allocated with the call and of *len bytes (len may be NULL), or
 * NULL: the call has failed, 400, as a cursor this store did not give.
 */
struct st_call;
int   st_cursor_wrap(struct st_call *, const char *token);
char *st_cursor_unwrap(struct st_call *, size_t *len);

#endif
