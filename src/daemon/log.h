/*
 * log.h - one JSON object per line on stderr.
 *
 *   struct st_logrec r;
 *   st_log_begin(&r, ST_LOG_INFO, "listening");
 *   st_log_int(&r, "port", port);
 *   st_log_end(&r);
 *
 * A record is built on the stack and written with one write(2), so lines
 * from different threads never interleave. A thread that runs a loop may
 * hold its records and write them together once per round of it
 * (st_log_hold(1), then st_log_flush() before it waits). Never log a
 * secret: there is no field type for one on purpose.
 */
#ifndef STRATUS_DAEMON_LOG_H
#define STRATUS_DAEMON_LOG_H

#include <stdint.h>

#include <stratus/backend.h>

#define ST_LOGREC_MAX 4096

struct st_logrec {
	int	 skip;		/* below the level: build nothing */
	size_t	 len;
	char	 buf[ST_LOGREC_MAX];
};

void st_log_init(void);		/* looks for systemd's journal */
void st_log_set_level(int level);
int  st_log_level_from_name(const char *);	/* -1 if unknown */
void st_log_begin(struct st_logrec *, int level, const char *msg);
void st_log_str(struct st_logrec *, const char *key, const char *value);
void st_log_strn(struct st_logrec *, const char *key, const char *value, size_t n);
void st_log_int(struct st_logrec *, const char *key, long long value);
void st_log_double(struct st_logrec *, const char *key, double value);
void st_log_end(struct st_logrec *);

/* Holding: on, records wait in a per-thread buffer for st_log_flush (or
 * until it is full); off flushes. */
void st_log_hold(int on);
void st_log_flush(void);

/* Shorthand for a message with no fields but one string. */
void st_log_msg(int level, const char *msg, const char *key, const char *value);

#endif
