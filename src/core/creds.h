/*
 * creds.h - the credentials service: one shared, refreshed set of
 * credentials per `credentials` group of the configuration.
 *
 * A provider plugin describes where its credentials come from as a
 * source (a struct of function pointers: fetch, free) and opens the
 * group with st_creds_open. Every store that names the same group (with
 * the same definition) shares one reference-counted object. The object
 * holds the current snapshot: key id, secret, session token and expiry,
 * immutable once published and itself reference counted, so that a
 * worker signs with the snapshot it took while the refresher swaps in
 * the next one.
 *
 *   c = st_creds_open("prod", spec, &src, arg, 0, err, sizeof(err));
 *   ...
 *   snap = st_creds_take(c, why, sizeof(why));   NULL: none valid now
 *   sign with snap->id, snap->secret, snap->token
 *   st_creds_drop(snap);
 *   ...
 *   st_creds_close(c);
 *
 * A local source (environment, files) is fetched at open, again each
 * time a store opens the group (so a reload re-reads it): a failure
 * there is a configuration error. A remote source (a metadata service,
 * STS, a command) is fetched by the refresher thread, so the daemon
 * starts listening at once; until the first fetch succeeds requests get
 * "credentials unavailable" and /v1/ready answers 503
 * (st_creds_unresolved).
 *
 * One refresher thread serves every object. It refreshes credentials
 * that expire ahead of their expiry: when a quarter of their lifetime
 * remains, or 5 minutes when they live 20 minutes or more. A failing
 * source is retried with back-off (1 s doubling to 60 s) while the
 * cached credentials stay in use; they are never handed out past their
 * expiry (less a small skew, the time a request takes to arrive).
 *
 * The core names no provider: an Azure OAuth source would put its bearer
 * token in `token` and leave id and secret empty. Secrets are wiped
 * when a snapshot is freed and never appear in logs, errors or metrics.
 */
#ifndef STRATUS_CORE_CREDS_H
#define STRATUS_CORE_CREDS_H

#include <stddef.h>
#include <time.h>

#include "core/buf.h"

#define ST_CREDS_ID_MAX     256
#define ST_CREDS_SECRET_MAX 256

/* One set of credentials, immutable once published. */
struct st_creds_snap {
	char	 id[ST_CREDS_ID_MAX];		/* e.g. the access key id */
	char	 secret[ST_CREDS_SECRET_MAX];
	char	*token;		/* session or bearer token (malloc), or NULL */
	time_t	 expires;	/* wall clock; 0: never */
	/* the core's own */
	time_t	 obtained;
	int	 refs;
};

struct st_creds_source {
	const char	*name;		/* "imds", "static": in logs */
	/* 1: fetched by the refresher thread (network, a command);
	 * 0: fetched at open, a failure is a configuration error. */
	int		 remote;
	/* Fills out (zeroed; token with malloc) with fresh credentials:
	 * 0, or -1 with a reason in why (never a secret). May block. */
	int		(*fetch)(void *arg, struct st_creds_snap *out, char *why,
			         size_t whylen);
	/* Frees arg (may be NULL). */
	void		(*free)(void *arg);
};

struct st_creds;

#define ST_CREDS_CHECK_ONLY 0x1	/* --check-config: never fetch */

/*
 * The object of group `name` whose definition is `spec` (a text the
 * plugin builds from the group's settings, never a secret: a reload that
 * changes the group gets a new object). Shares an open one, else makes
 * one from src and arg (arg is owned from here on, freed with
 * src->free even on failure). NULL with a reason in err.
 */
struct st_creds *st_creds_open(const char *name, const char *spec,
                               const struct st_creds_source *src, void *arg,
                               int flags, char *err, size_t errlen);
void st_creds_close(struct st_creds *);
const char *st_creds_name(const struct st_creds *);

/* The current snapshot, when it is valid now (st_creds_drop it); else
 * NULL and why says why (the last failure of the source). */
struct st_creds_snap *st_creds_take(struct st_creds *, char *why,
                                    size_t whylen);
void st_creds_drop(struct st_creds_snap *);

/* For sources: 1 once the service is stopping, so that a fetch that
 * waits on the network or a command gives up at once. */
int  st_creds_stopping(void);
/* For sources: wipes and frees what a fetch filled. */
void st_creds_snap_clear(struct st_creds_snap *);

/* How many open objects have never been resolved (0: ready). */
int  st_creds_unresolved(void);
/* Per group: seconds to expiry, refresh failures (Prometheus text). */
void st_creds_render(struct st_buf *);
/* Stops the refresher thread (at exit, after every store closed). */
void st_creds_shutdown(void);

/* The moment (wall clock, s) to refresh credentials obtained at
 * `obtained` that expire at `expires`; and the skew before expiry after
 * which they are no longer handed out. For tests. */
time_t st_creds_refresh_at(time_t obtained, time_t expires);
time_t st_creds_skew(time_t obtained, time_t expires);

#endif
