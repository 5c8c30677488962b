/*
 * buf.c - growable byte buffer.
 *
 * Doubling growth, NUL kept after the data so that the contents can be used
 * as a C string. An allocation failure is remembered in `failed` rather
 * than reported at every call, so that builders can check once at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

int
st_buf_reserve(struct st_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL) {
		b->failed = 1;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int
st_buf_add(struct st_buf *b, const void *p, size_t n)
{
	if (st_buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
st_buf_adds(struct st_buf *b, const char *s)
{
	return st_buf_add(b, s, strlen(s));
}

/*
 * Formats straight into the free space when it fits, which is nearly
 * always: vsnprintf runs once. Only a longer result grows the buffer and
 * formats again.
 */
int
st_buf_printf(struct st_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (st_buf_reserve(b, 128) == -1)
		return -1;
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return -1;
	}
	if ((size_t)n >= room) {
		if (st_buf_reserve(b, (size_t)n) == -1) {
			b->data[b->len] = '\0';
			return -1;
		}
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

void
st_buf_reset(struct st_buf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
st_buf_free(struct st_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

char *
st_buf_take(struct st_buf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = calloc(1, 1);
	memset(b, 0, sizeof(*b));
	return p;
}

int
st_format(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}
