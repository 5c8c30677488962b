/*
 * config.h - the daemon's configuration, as loaded from libconfig.
 *
 * A `struct st_config` is immutable once loaded and reference counted: each
 * request holds the configuration it started with, and SIGHUP swaps in a
 * new one while old requests finish on the old. Stores are opened when
 * their configuration is loaded and closed when its last user lets go.
 */
#ifndef STRATUS_DAEMON_CONFIG_H
#define STRATUS_DAEMON_CONFIG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <stratus/backend.h>

#include "core/confval.h"
#include "core/validate.h"

struct st_limits;

/*
 * Rights on a store, by kind (a rule "KIND:STORE:RIGHTS"). One bit per
 * right; a right's name means one bit in each kind that has it ("get" is
 * blob get and table get), so two names never share a bit: "*:*:list"
 * must give no table right, nor "*:*:query" a blob one.
 *
 *   blob   get (GET, HEAD)  list  put (PUT, copy target)  delete  presign
 *   queue  send  receive (receive, change visibility)  ack  admin
 *   table  get  query  put  delete  admin
 */
#define ST_RIGHT_GET		0x001
#define ST_RIGHT_LIST		0x002	/* blob listing */
#define ST_RIGHT_PUT		0x004
#define ST_RIGHT_DELETE		0x008
#define ST_RIGHT_PRESIGN	0x010
#define ST_RIGHT_SEND		0x020
#define ST_RIGHT_RECEIVE	0x040
#define ST_RIGHT_ACK		0x080
#define ST_RIGHT_ADMIN		0x100	/* create, delete a queue or table */
#define ST_RIGHT_QUERY		0x200	/* table: list a partition */

/* Every right a store of each kind has. */
#define ST_RIGHTS_BLOB	(ST_RIGHT_GET | ST_RIGHT_LIST | ST_RIGHT_PUT | \
			 ST_RIGHT_DELETE | ST_RIGHT_PRESIGN)
#define ST_RIGHTS_QUEUE	(ST_RIGHT_SEND | ST_RIGHT_RECEIVE | ST_RIGHT_ACK | \
			 ST_RIGHT_ADMIN)
#define ST_RIGHTS_TABLE	(ST_RIGHT_GET | ST_RIGHT_QUERY | ST_RIGHT_PUT | \
			 ST_RIGHT_DELETE | ST_RIGHT_ADMIN)


struct st_store {
	char			 name[ST_STORE_NAME_MAX + 1];
	unsigned		 kind;		/* ST_KIND_* */
	const struct st_backend	*backend;
	void			*handle;	/* backend's store */
	uint64_t		 max_object_size; /* 0: no limit of ours */
	int			 allow_anonymous; /* -1: as the global one */
};

struct st_rule {
	unsigned kinds;			/* ST_KIND_* set; all for "*" */
	char	 store[ST_STORE_NAME_MAX + 1];	/* "*" for every store */
	unsigned perms;			/* ST_RIGHT_* (rights.c) */
};

struct st_client {
	char		 name[64];
	unsigned char	 token_sha256[32];
	struct st_rule	*rules;
	size_t		 nrules;
	struct st_limits *limits;	/* rate, burst, max_uploads; or NULL */
};

/* The longest listen.unix, with its NUL: sun_path of struct sockaddr_un. */
#define ST_UNIX_PATH_MAX 108

struct st_listen {
	char		 address[64];
	unsigned	 port;
	char		*unix_path;
	unsigned	 unix_mode;
	unsigned	 threads;
	unsigned	 max_connections;
	unsigned	 idle_timeout;
	unsigned	 header_timeout;	/* request line and headers, s */
	unsigned	 max_header_size;
	size_t		 connection_memory;	/* libmicrohttpd's, per connection */
	char		*public_url;
};

struct st_config {
	atomic_int	 refs;
	char		*path;
	char		*dir;
	struct st_listen listen;
	int		 allow_anonymous;
	int		 metrics_require_token;
	int		 log_level;
	int		 log_requests;
	unsigned char	 presign_key[32];
	struct st_store	*stores;
	size_t		 nstores;
	struct st_client *clients;
	size_t		 nclients;
};

/* Loads and validates path; with check_only, backends open nothing. On
 * error returns NULL and writes "FILE:LINE: reason" into err. */
struct st_config *st_config_load(const char *path, int check_only,
                                 char *err, size_t errlen);
void st_config_ref(struct st_config *);
void st_config_unref(struct st_config *);
struct st_store *st_config_store(const struct st_config *, const char *name);

/* The least connection memory that takes max_header_size bytes of headers
 * (config.c says why). */
size_t st_config_header_room(unsigned max_header_size);
/* Checks a configuration read for a reload against the listen settings the
 * server started with, which only a restart changes. Returns -1 with the
 * reason in err if the server cannot take next's max_header_size; else 0,
 * with the restart-only settings that differ in changed ("listen.port
 * listen.threads", or empty). With systemd_sockets, where to listen is
 * systemd's and is not compared. */
int st_config_check_reload(const struct st_listen *started,
                           int systemd_sockets, const struct st_config *next,
                           char *err, size_t errlen, char *changed,
                           size_t changedlen);

/* The presign key used when no presign_key_file is configured: random,
 * made once per process so that a reload keeps issued URLs valid. */
void st_config_set_default_presign_key(const unsigned char key[32]);

/* Parses an allow rule "KIND:STORE:RIGHTS" (rights.c has the names).
 * 0 ok, -1 malformed; st_parse_rule_why also says why in why (a short
 * reason naming the bad part, when why is not NULL). */
int st_parse_rule(const char *, struct st_rule *);
int st_parse_rule_why(const char *, struct st_rule *, char *why,
                      size_t whylen);

#endif
