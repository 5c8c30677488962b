/*
 * fuzz.h - what every libFuzzer harness of stratus shares: the input cut
 * into NUL-terminated fields, so that one input can drive a parser with
 * several arguments (a method and a path, a header and an ETag).
 */
#ifndef STRATUS_FUZZ_H
#define STRATUS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_FIELDS 4

/* libFuzzer calls this with each input. */
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Copies data and splits it at '\n' into up to FUZZ_FIELDS strings (the
 * last takes the rest). Returns the copy, to free. */
static inline char *
fuzz_fields(const uint8_t *data, size_t size, char *f[FUZZ_FIELDS],
            size_t len[FUZZ_FIELDS])
{
	char *copy = malloc(size + 1), *p;
	int i;

	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	p = copy;
	for (i = 0; i < FUZZ_FIELDS; i++) {
		char *nl = i < FUZZ_FIELDS - 1 ? memchr(p, '\n',
		    size - (size_t)(p - copy)) : NULL;

		f[i] = p;
		len[i] = nl ? (size_t)(nl - p) : size - (size_t)(p - copy);
		if (nl != NULL) {
			*nl = '\0';
			p = nl + 1;
		} else {
			p += len[i];
		}
	}
	return copy;
}

#endif
