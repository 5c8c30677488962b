/*
 * buf.h - a growable byte buffer for small things: JSON bodies, URLs,
 * log lines. Never used for object bodies, which stream.
 */
#ifndef STRATUS_CORE_BUF_H
#define STRATUS_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct st_buf {
	char	*data;		/* always NUL-terminated when non-NULL */
	size_t	 len;
	size_t	 cap;
	int	 failed;	/* an allocation failed: contents are cut */
};

/* Room for extra more bytes (and the NUL) without another allocation. */
int  st_buf_reserve(struct st_buf *, size_t extra);
int  st_buf_add(struct st_buf *, const void *, size_t);
int  st_buf_adds(struct st_buf *, const char *);
int  st_buf_printf(struct st_buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void st_buf_reset(struct st_buf *);
void st_buf_free(struct st_buf *);
/* snprintf into a fixed-size field: 0, or -1 when the text did not fit. */
int  st_format(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Hands the data over to the caller (free() it); the buffer is emptied. */
char *st_buf_take(struct st_buf *);

#endif
