/*
 * fuzz_request.c - the front door: routing a method and a raw path,
 * decoding blob keys and table keys, Range and conditional headers,
 * numbers in query strings, and the opaque tokens (receipts, ETags,
 * cursors) that come back from applications.
 *
 * Input: METHOD \n PATH \n HEADER \n ETAG
 */
#include <stdio.h>

#include "core/validate.h"
#include "daemon/api.h"
#include "daemon/router.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[FUZZ_FIELDS], key[ST_KEY_MAX + 1], out[4096];
	size_t len[FUZZ_FIELDS];
	char *copy = fuzz_fields(data, size, f, len);
	struct st_route r;
	struct st_range range;
	uint64_t first, n, v;

	if (st_route_match(f[0], f[1], &r) == ST_ROUTE_OK && r.raw_key != NULL)
		st_decode_key(r.raw_key, r.raw_keylen, key);
	st_decode_key(f[1], len[1], key);
	st_percent_decode(f[1], len[1], out, sizeof(out));
	st_valid_entity_key(f[1], len[1]);
	if (st_parse_range(f[2], &range) == 0)
		st_resolve_range(&range, len[3], &first, &n);
	st_etag_match(f[2], f[3], 0);
	st_etag_match(f[2], f[3], 1);
	st_parse_u64(f[2], 0, 43200, &v);
	st_valid_header_value(f[2], len[2]);
	st_api_unwrap("store", f[2], out, sizeof(out));
	st_api_unetag("store", f[3], out, sizeof(out));
	free(copy);
	return 0;
}
