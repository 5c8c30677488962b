/*
 * limits.h - per-client abuse limits: a request rate with a burst, and a
 * number of uploads at once.
 */
#ifndef STRATUS_LIMITS_H
#define STRATUS_LIMITS_H

#include <pthread.h>
#include <stdatomic.h>

struct st_limits {
	/* settings */
	double		 rate;		/* requests per second; 0: no limit */
	double		 burst;		/* requests at once, the bucket's size */
	unsigned	 max_uploads;	/* 0: no limit */
	/* state, shared by the workers */
	pthread_mutex_t	 lock;
	double		 tokens;
	long long	 last_ms;	/* st_now_ms() of the last refill */
	atomic_uint	 uploads;
};

struct st_limits *st_limits_new(double rate, double burst,
                                unsigned max_uploads);
void st_limits_free(struct st_limits *);

/* Takes one request from the bucket: 0, or the whole seconds to wait
 * before one will be there (never 0 then). l may be NULL. */
unsigned st_limits_take(struct st_limits *l);
/* An upload begins: 1 (counted; end it with st_limits_upload_end), or 0
 * when the client has max_uploads running already. */
int  st_limits_upload_begin(struct st_limits *l);
void st_limits_upload_end(struct st_limits *l);

#endif
