/*
 * config.c - load and check the configuration file.
 *
 * libconfig parses; this file decides what the settings mean. Every error
 * names the file, the line and what is wrong, so that a bad configuration
 * stops the daemon before it listens (and --check-config says why). The
 * settings a store's provider understands are checked by its backend's
 * store_open; the settings every store shares are checked here.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/confval.h"
#include "core/registry.h"
#include "core/retry.h"
#include "daemon/config.h"
#include "daemon/limits.h"
#include "daemon/log.h"
#include "daemon/rights.h"
#include "sign/hmac.h"

/*
 * libmicrohttpd's memory per connection, by default: a request's headers,
 * and the buffer its body is read into (half of what is free). It zeroes
 * all of it for every request, so it costs small requests; 128 KiB lets a
 * PUT read 64 KiB at a time, which took a streamed 256 MiB PUT from 0.6
 * to 1.0 GB/s (48 KiB before). At 32 KiB a connection held open costs a
 * quarter of the memory and a large PUT about 1.6 times the CPU, while
 * small requests gain little (bench/memory); listen.connection_memory
 * lets an operator choose.
 */
#define CONNECTION_MEMORY (128 * 1024)

/*
 * Besides the bytes of the headers, libmicrohttpd keeps about 64 bytes per
 * header in the same memory, and answers 431 itself (in HTML) or closes
 * the connection when they do not fit, before the daemon sees the request.
 * At four times max_header_size, a request of that size fits when its
 * header lines average 22 bytes or more (measured on libmicrohttpd
 * 0.9.75); at twice, only when they average 64 or more.
 */
#define HEADER_ROOM 4

static unsigned char default_presign_key[32];
static int have_default_presign_key;

static const char *const top_keys[] = {
	"listen", "allow_anonymous", "credentials", "stores", "clients",
	"retry", "metrics", "log", "presign_key_file", NULL
};
static const char *const listen_keys[] = {
	"address", "port", "unix", "unix_mode", "threads", "max_connections",
	"idle_timeout", "header_timeout", "max_header_size",
	"connection_memory", "public_url", NULL
};

/* Reports "FILE:LINE: reason" for a setting (line 0 when unknown). */
static void
conf_error(char *err, size_t errlen, const struct st_config *cfg,
           const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
conf_error(char *err, size_t errlen, const struct st_config *cfg,
           const config_setting_t *s, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%d: %s", cfg->path,
	    s ? (int)config_setting_source_line(s) : 0, reason);
}

void
st_config_set_default_presign_key(const unsigned char key[32])
{
	memcpy(default_presign_key, key, 32);
	have_default_presign_key = 1;
}

int
st_parse_rule(const char *s, struct st_rule *r)
{
	return st_parse_rule_why(s, r, NULL, 0);
}

/* Writes why a rule is refused into why (when there is room). */
static int
rule_refused(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
rule_refused(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int
st_parse_rule_why(const char *s, struct st_rule *r, char *why, size_t whylen)
{
	char copy[256], *kind, *store, *rights;
	const char *bad = NULL;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (strlen(s) >= sizeof(copy))
		return rule_refused(why, whylen, "longer than %zu characters",
		    sizeof(copy) - 1);
	strcpy(copy, s);
	kind = copy;
	if ((store = strchr(kind, ':')) == NULL ||
	    (rights = strchr(store + 1, ':')) == NULL)
		return rule_refused(why, whylen, "not KIND:STORE:RIGHTS");
	*store++ = '\0';
	*rights++ = '\0';
	if (strcmp(kind, "*") == 0)
		r->kinds = ST_KIND_BLOB | ST_KIND_QUEUE | ST_KIND_TABLE;
	else if (strcmp(kind, "blob") == 0)
		r->kinds = ST_KIND_BLOB;
	else if (strcmp(kind, "queue") == 0)
		r->kinds = ST_KIND_QUEUE;
	else if (strcmp(kind, "table") == 0)
		r->kinds = ST_KIND_TABLE;
	else
		return rule_refused(why, whylen, "unknown kind '%.32s' (blob, "
		    "queue, table or *)", kind);
	if (strcmp(store, "*") != 0 && !st_valid_store_name(store, strlen(store)))
		return rule_refused(why, whylen, "'%.70s' is not a store name "
		    "([a-z0-9][a-z0-9_-]{0,62}) nor *", store);
	strcpy(r->store, store);
	if (st_parse_rights(r->kinds, rights, &r->perms, &bad) == 0)
		return 0;
	r->perms = 0;
	if (rights[0] == '\0')
		return rule_refused(why, whylen, "no RIGHTS after the store");
	if (bad == NULL || (n = strcspn(bad, ",")) == 0)
		return rule_refused(why, whylen, "an empty right in '%.64s'",
		    rights);
	return rule_refused(why, whylen, "'%.*s' is not a right of %s",
	    (int)(n > 32 ? 32 : n), bad, r->kinds == ST_KIND_BLOB ? "blob stores" :
	    r->kinds == ST_KIND_QUEUE ? "queues" : r->kinds == ST_KIND_TABLE ?
	    "tables" : "any kind");
}

/* Optional whole number setting within [min, max]. */
static int
get_uint(const config_setting_t *g, const char *name, long long min,
         long long max, unsigned long long *out, struct st_config *cfg,
         char *err, size_t errlen)
{
	const config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;
	char why[400];
	long long v;

	if (s == NULL)
		return 0;
	if (st_confval_int(s, min, max, &v, why, sizeof(why)) == -1) {
		conf_error(err, errlen, cfg, s, "%s", why);
		return -1;
	}
	*out = (unsigned long long)v;
	return 0;
}

/* Optional byte size setting within [min, max]: a number or "64 MiB". */
static int
get_bytes(const config_setting_t *g, const char *name, uint64_t min,
          uint64_t max, unsigned long long *out, struct st_config *cfg,
          char *err, size_t errlen)
{
	const config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;
	char why[400];
	uint64_t v;

	if (s == NULL)
		return 0;
	if (st_confval_bytes(s, min, max, &v, why, sizeof(why)) == -1) {
		conf_error(err, errlen, cfg, s, "%s", why);
		return -1;
	}
	*out = v;
	return 0;
}

static int
get_bool(const config_setting_t *g, const char *name, int *out,
         struct st_config *cfg, char *err, size_t errlen)
{
	const config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		conf_error(err, errlen, cfg, s, "'%s' must be true or false", name);
		return -1;
	}
	*out = config_setting_get_bool(s);
	return 0;
}

static int
get_string(const config_setting_t *g, const char *name, const char **out,
           struct st_config *cfg, char *err, size_t errlen)
{
	const config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_error(err, errlen, cfg, s, "'%s' must be a string", name);
		return -1;
	}
	*out = config_setting_get_string(s);
	return 0;
}

/*
 * The plugins read their string and boolean settings with
 * config_setting_lookup_*, which takes a value of the wrong type for an
 * absent one: `fsync = "yes"` would silently keep the default. So the type
 * of every such setting a store or a credentials group may hold is
 * checked here, once, where the file enters; each plugin still says which
 * names it takes. Numbers, sizes and the retry group have readers of
 * their own that check them.
 */
static const struct setting_type {
	const char	*name;
	int		 type;
} setting_types[] = {
	{ "account",			CONFIG_TYPE_STRING },
	{ "access_key_id",		CONFIG_TYPE_STRING },
	{ "allow_http",			CONFIG_TYPE_BOOL },
	{ "bucket",			CONFIG_TYPE_STRING },
	{ "ca_file",			CONFIG_TYPE_STRING },
	{ "ca_path",			CONFIG_TYPE_STRING },
	{ "client_id",			CONFIG_TYPE_STRING },
	{ "client_secret_file",		CONFIG_TYPE_STRING },
	{ "connection_string_file",	CONFIG_TYPE_STRING },
	{ "container",			CONFIG_TYPE_STRING },
	{ "credentials",		CONFIG_TYPE_STRING },
	{ "endpoint",			CONFIG_TYPE_STRING },
	{ "external_id",		CONFIG_TYPE_STRING },
	{ "fsync",			CONFIG_TYPE_BOOL },
	{ "key_file",			CONFIG_TYPE_STRING },
	{ "message_encoding",		CONFIG_TYPE_STRING },
	{ "no_proxy",			CONFIG_TYPE_STRING },
	{ "path",			CONFIG_TYPE_STRING },
	{ "path_style",			CONFIG_TYPE_BOOL },
	{ "profile",			CONFIG_TYPE_STRING },
	{ "provider",			CONFIG_TYPE_STRING },
	{ "proxy",			CONFIG_TYPE_STRING },
	{ "queue",			CONFIG_TYPE_STRING },
	{ "region",			CONFIG_TYPE_STRING },
	{ "role_arn",			CONFIG_TYPE_STRING },
	{ "sas_file",			CONFIG_TYPE_STRING },
	{ "secret_access_key_file",	CONFIG_TYPE_STRING },
	{ "session_name",		CONFIG_TYPE_STRING },
	{ "session_token_file",		CONFIG_TYPE_STRING },
	{ "source",			CONFIG_TYPE_STRING },
	{ "table",			CONFIG_TYPE_STRING },
	{ "tenant_id",			CONFIG_TYPE_STRING },
};

/* Every member of g whose name setting_types knows has that type. */
static int
check_setting_types(struct st_config *cfg, const config_setting_t *g,
                    char *err, size_t errlen)
{
	int i, n = config_setting_length(g);
	size_t k;

	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);

		for (k = 0; k < sizeof(setting_types) / sizeof(setting_types[0]); k++) {
			if (name == NULL || strcmp(name, setting_types[k].name) != 0)
				continue;
			if (config_setting_type(s) == setting_types[k].type)
				break;
			conf_error(err, errlen, cfg, s, "'%s' must be %s", name,
			    setting_types[k].type == CONFIG_TYPE_BOOL ?
			    "true or false" : "a string");
			return -1;
		}
	}
	return 0;
}

/* The top-level credentials: a group of groups, each of typed settings
 * (the plugin of a store that names one reads it). */
static int
check_credentials(struct st_config *cfg, const config_setting_t *all,
                  char *err, size_t errlen)
{
	int i, n;

	if (all == NULL)
		return 0;
	if (!config_setting_is_group(all)) {
		conf_error(err, errlen, cfg, all, "credentials must be a group "
		    "{ NAME = { ... }; }");
		return -1;
	}
	n = config_setting_length(all);
	for (i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(all, (unsigned)i);

		if (!config_setting_is_group(g)) {
			conf_error(err, errlen, cfg, g, "credentials '%s' must be "
			    "a group { ... }", config_setting_name(g));
			return -1;
		}
		if (check_setting_types(cfg, g, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* The connection memory: as set, or by default CONNECTION_MEMORY, raised
 * to the room that headers of max_header_size bytes need. */
static int
resolve_memory(struct st_config *cfg, const config_setting_t *g,
               unsigned long long hdr, unsigned long long *mem, char *err,
               size_t errlen)
{
	unsigned long long room = st_config_header_room((unsigned)hdr);

	if (*mem == 0)
		*mem = room > CONNECTION_MEMORY ? room : CONNECTION_MEMORY;
	if (*mem < room) {
		conf_error(err, errlen, cfg,
		    config_setting_get_member(g, "connection_memory"),
		    "listen.connection_memory (%llu) must be at least four "
		    "times listen.max_header_size (%llu)", *mem, hdr);
		return -1;
	}
	return 0;
}

/* public_url becomes the start of URLs handed to applications: only an
 * http:// or https:// URL with a host, no spaces, query or fragment. */
static int
valid_public_url(const char *url)
{
	const char *p;

	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return 0;
	if (*p == '\0' || *p == '/')
		return 0;
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' ||
		    *p == '#')
			return 0;
	return 1;
}

static int
load_listen(struct st_config *cfg, const config_setting_t *g, char *err,
            size_t errlen)
{
	struct st_listen *l = &cfg->listen;
	unsigned long long port = 8980, threads = 0, maxconn = 1024;
	unsigned long long idle = 60, hdr = 16384, mode = 0660, mem = 0;
	unsigned long long header_timeout = 10;
	const char *addr = "127.0.0.1", *unix_path = NULL, *url = NULL;
	const config_setting_t *bad;

	if (g != NULL && (bad = st_conf_unknown_member(g, listen_keys)) != NULL) {
		conf_error(err, errlen, cfg, bad, "listen: unknown setting '%s'",
		    config_setting_name(bad));
		return -1;
	}
	if (get_string(g, "address", &addr, cfg, err, errlen) ||
	    get_uint(g, "port", 0, 65535, &port, cfg, err, errlen) ||
	    get_string(g, "unix", &unix_path, cfg, err, errlen) ||
	    get_uint(g, "unix_mode", 0, 0777, &mode, cfg, err, errlen) ||
	    get_uint(g, "threads", 0, 256, &threads, cfg, err, errlen) ||
	    get_uint(g, "max_connections", 1, 1000000, &maxconn, cfg, err, errlen) ||
	    get_uint(g, "idle_timeout", 1, 86400, &idle, cfg, err, errlen) ||
	    get_uint(g, "header_timeout", 1, 86400, &header_timeout, cfg, err,
	    errlen) ||
	    get_bytes(g, "max_header_size", 1024, 1048576, &hdr, cfg, err,
	    errlen) ||
	    get_bytes(g, "connection_memory", 32768, 16777216, &mem, cfg, err,
	    errlen) ||
	    get_string(g, "public_url", &url, cfg, err, errlen))
		return -1;
	if (resolve_memory(cfg, g, hdr, &mem, err, errlen) == -1)
		return -1;
	if (url != NULL && !valid_public_url(url)) {
		conf_error(err, errlen, cfg, config_setting_get_member(g,
		    "public_url"), "listen.public_url must be an http:// or "
		    "https:// URL, such as \"http://files.internal:8980\"");
		return -1;
	}
	if (strlen(addr) >= sizeof(l->address)) {
		conf_error(err, errlen, cfg, g, "listen.address is too long");
		return -1;
	}
	if (unix_path != NULL && strlen(unix_path) >= ST_UNIX_PATH_MAX) {
		conf_error(err, errlen, cfg, g, "listen.unix is longer than a "
		    "socket path may be");
		return -1;
	}
	strcpy(l->address, addr);
	l->port = (unsigned)port;
	l->unix_path = unix_path ? strdup(unix_path) : NULL;
	l->unix_mode = (unsigned)mode;
	l->threads = (unsigned)threads;
	l->max_connections = (unsigned)maxconn;
	l->idle_timeout = (unsigned)idle;
	l->header_timeout = (unsigned)header_timeout;
	l->max_header_size = (unsigned)hdr;
	l->connection_memory = (size_t)mem;
	l->public_url = url ? strdup(url) : NULL;
	return 0;
}

static int
kind_from_name(const char *s, unsigned *kind)
{
	if (strcmp(s, "blob") == 0)
		*kind = ST_KIND_BLOB;
	else if (strcmp(s, "queue") == 0)
		*kind = ST_KIND_QUEUE;
	else if (strcmp(s, "table") == 0)
		*kind = ST_KIND_TABLE;
	else
		return -1;
	return 0;
}

/* The entry of the top-level `credentials` group that store g names, for
 * its backend; none named is not an error here (a backend that needs
 * credentials says so). */
static int
find_credentials(struct st_config *cfg, const config_setting_t *g,
                 struct st_store_env *env, char *err, size_t errlen)
{
	const config_setting_t *all, *entry = NULL;
	const char *name = NULL, *store = NULL;

	if (!config_setting_lookup_string(g, "credentials", &name))
		return 0;
	config_setting_lookup_string(g, "name", &store);
	all = config_setting_get_member(config_root_setting(g->config),
	    "credentials");
	if (all != NULL)
		entry = config_setting_get_member(all, name);
	if (entry == NULL || !config_setting_is_group(entry)) {
		conf_error(err, errlen, cfg, g, "store '%s': no credentials named "
		    "'%s'", store, name);
		return -1;
	}
	env->credentials = entry;
	env->credentials_name = config_setting_name(entry);
	return 0;
}

static int
load_store(struct st_config *cfg, const config_setting_t *g,
           struct st_store *st, int check_only, char *err, size_t errlen)
{
	const char *name = NULL, *kind = NULL, *provider = NULL;
	unsigned long long maxsize = 0;
	struct st_store_env env;
	char why[512];

	if (!config_setting_is_group(g)) {
		conf_error(err, errlen, cfg, g, "each store must be a group { ... }");
		return -1;
	}
	st->allow_anonymous = -1;	/* not set: the global setting rules */
	if (check_setting_types(cfg, g, err, errlen) ||
	    get_string(g, "name", &name, cfg, err, errlen) ||
	    get_string(g, "kind", &kind, cfg, err, errlen) ||
	    get_string(g, "provider", &provider, cfg, err, errlen) ||
	    get_bytes(g, "max_object_size", 0, INT64_MAX, &maxsize, cfg, err,
	    errlen) ||
	    get_bool(g, "allow_anonymous", &st->allow_anonymous, cfg, err, errlen))
		return -1;
	if (name == NULL || !st_valid_store_name(name, strlen(name))) {
		conf_error(err, errlen, cfg, g, "a store needs a name matching "
		    "[a-z0-9][a-z0-9_-]{0,62}");
		return -1;
	}
	strcpy(st->name, name);
	if (st_config_store(cfg, name) != NULL) {
		conf_error(err, errlen, cfg, g, "store '%s' is defined twice", name);
		return -1;
	}
	if (kind == NULL || kind_from_name(kind, &st->kind) == -1) {
		conf_error(err, errlen, cfg, g, "store '%s': kind must be blob, "
		    "queue or table", name);
		return -1;
	}
	if (provider == NULL || (st->backend = st_registry_find(provider)) == NULL) {
		conf_error(err, errlen, cfg, g, "store '%s': unknown provider "
		    "'%s' (known: %s)", name, provider ? provider : "",
		    st_registry_names());
		return -1;
	}
	if (!(st->backend->kinds & st->kind)) {
		conf_error(err, errlen, cfg, g, "store '%s': provider '%s' does "
		    "not serve %s stores", name, provider, kind);
		return -1;
	}
	st->max_object_size = maxsize;
	memset(&env, 0, sizeof(env));
	if (find_credentials(cfg, g, &env, err, errlen) == -1)
		return -1;
	env.name = st->name;
	env.kind = st->kind;
	env.config_dir = cfg->dir;
	env.check_only = check_only;
	env.presign_key = cfg->presign_key;
	env.presign_keylen = sizeof(cfg->presign_key);
	why[0] = '\0';
	if (st->backend->store_open(g, &env, &st->handle, why, sizeof(why)) == -1) {
		conf_error(err, errlen, cfg, g, "store '%s': %s", name, why);
		st->backend = NULL;
		return -1;
	}
	return 0;
}

/*
 * A configuration must name at least one store: an empty or truncated file
 * would otherwise start, or be swapped in by a reload, and take every
 * store offline without a word. Checked after everything else, so that a
 * file with a mistake gets that mistake's line first.
 */
static int
check_some_store(struct st_config *cfg, const config_setting_t *list,
                 char *err, size_t errlen)
{
	if (cfg->nstores > 0)
		return 0;
	conf_error(err, errlen, cfg, list, "no stores are configured (an empty "
	    "or truncated file?): at least one store is needed");
	return -1;
}

static int
load_stores(struct st_config *cfg, const config_setting_t *list,
            int check_only, char *err, size_t errlen)
{
	int i, n;

	if (list == NULL)
		return 0;
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		conf_error(err, errlen, cfg, list, "stores must be a list ( ... )");
		return -1;
	}
	n = config_setting_length(list);
	if ((cfg->stores = calloc((size_t)n + 1, sizeof(*cfg->stores))) == NULL) {
		conf_error(err, errlen, cfg, list, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct st_store *st = &cfg->stores[i];

		if (load_store(cfg, config_setting_get_elem(list, (unsigned)i), st,
		    check_only, err, errlen) == -1)
			return -1;
		cfg->nstores++;
	}
	return 0;
}

static int
parse_hex32(const char *s, unsigned char out[32])
{
	int i;

	if (strlen(s) != 64)
		return -1;
	for (i = 0; i < 32; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static int group_only(struct st_config *, const config_setting_t *,
    const char *, const char *const *, char *, size_t);

/*
 * A client's token_file: the token itself, of which only the SHA-256 is
 * kept. A relative name is looked up in $CREDENTIALS_DIRECTORY when the
 * file is there (systemd's LoadCredential=), else next to the
 * configuration; like every secret file, it must not be readable by group
 * or others, and its trailing newline (trailing white space: a header
 * value cannot end with it) is not part of the token. A token is one
 * line of visible characters, as it must be to be sent in a header.
 */
static int
client_token_file(struct st_config *cfg, const config_setting_t *g,
                  const char *file, struct st_client *c, char *err,
                  size_t errlen)
{
	struct st_store_env env = { .config_dir = cfg->dir };
	char path[PATH_MAX], token[4096], why[512];
	long n, i;

	st_conf_path(&env, file, path, sizeof(path));
	if ((n = st_read_secret_file(path, token, sizeof(token), why,
	    sizeof(why))) > 0) {
		for (i = 0; i < n; i++)
			if ((unsigned char)token[i] <= 0x20 || token[i] == 0x7f)
				break;
		if (i < n) {
			snprintf(why, sizeof(why), "%.400s holds spaces or control "
			    "characters: a token is one line of visible "
			    "characters", path);
			n = -1;
		}
	} else if (n == 0) {
		snprintf(why, sizeof(why), "%.400s is empty", path);
		n = -1;
	}
	if (n < 0) {
		conf_error(err, errlen, cfg, config_setting_get_member(g,
		    "token_file"), "client '%s': token_file: %s", c->name, why);
		OPENSSL_cleanse(token, sizeof(token));
		return -1;
	}
	st_sha256(token, (size_t)n, c->token_sha256);
	OPENSSL_cleanse(token, sizeof(token));
	return 0;
}

/* A client's rate, burst and max_uploads (all optional). */
static int
load_limits(struct st_config *cfg, const config_setting_t *g,
            struct st_client *c, char *err, size_t errlen)
{
	const config_setting_t *r = config_setting_get_member(g, "rate");
	unsigned long long burst = 0, uploads = 0;
	double rate = 0;

	if (r != NULL) {
		int t = config_setting_type(r);

		if (t == CONFIG_TYPE_FLOAT)
			rate = config_setting_get_float(r);
		else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			rate = (double)config_setting_get_int64(r);
		if ((t != CONFIG_TYPE_FLOAT && t != CONFIG_TYPE_INT &&
		    t != CONFIG_TYPE_INT64) || !(rate > 0 && rate <= 1e6)) {
			conf_error(err, errlen, cfg, r, "client '%s': rate must be "
			    "a number of requests per second, more than 0 and at "
			    "most 1000000 (e.g. 50 or 0.5)", c->name);
			return -1;
		}
	}
	if (get_uint(g, "burst", 1, 1000000, &burst, cfg, err, errlen) ||
	    get_uint(g, "max_uploads", 1, 1000000, &uploads, cfg, err, errlen))
		return -1;
	if (burst > 0 && r == NULL) {
		conf_error(err, errlen, cfg, g, "client '%s': burst goes with "
		    "rate", c->name);
		return -1;
	}
	if (r == NULL && uploads == 0)
		return 0;
	/* Without a burst, a second's worth of requests (at least one). */
	if (burst == 0)
		burst = rate < 1 ? 1 : (unsigned long long)rate;
	if ((c->limits = st_limits_new(rate, (double)burst,
	    (unsigned)uploads)) == NULL) {
		conf_error(err, errlen, cfg, g, "out of memory");
		return -1;
	}
	return 0;
}

static int
load_client(struct st_config *cfg, const config_setting_t *g,
            struct st_client *c, char *err, size_t errlen)
{
	static const char *const client_keys[] = { "name", "token_sha256",
	    "token_file", "allow", "rate", "burst", "max_uploads", NULL };
	const char *name = NULL, *hash = NULL, *file = NULL;
	const config_setting_t *allow;
	char why[160];
	int i, n;

	if (group_only(cfg, g, "client", client_keys, err, errlen) ||
	    get_string(g, "name", &name, cfg, err, errlen) ||
	    get_string(g, "token_sha256", &hash, cfg, err, errlen) ||
	    get_string(g, "token_file", &file, cfg, err, errlen))
		return -1;
	if (name == NULL || strlen(name) == 0 || strlen(name) >= sizeof(c->name)) {
		conf_error(err, errlen, cfg, g, "a client needs a name of 1 to 63 "
		    "characters");
		return -1;
	}
	strcpy(c->name, name);
	if ((hash == NULL) == (file == NULL)) {
		conf_error(err, errlen, cfg, g, "client '%s' needs exactly one of "
		    "token_sha256 and token_file", name);
		return -1;
	}
	if (file != NULL && client_token_file(cfg, g, file, c, err, errlen) == -1)
		return -1;
	if (hash != NULL && parse_hex32(hash, c->token_sha256) == -1) {
		conf_error(err, errlen, cfg, g, "client '%s': token_sha256 must be "
		    "64 hex digits (sha256sum of the token)", name);
		return -1;
	}
	allow = config_setting_get_member(g, "allow");
	if (allow == NULL || (!config_setting_is_list(allow) &&
	    !config_setting_is_array(allow))) {
		conf_error(err, errlen, cfg, g, "client '%s': allow must be a list "
		    "of rules such as \"blob:photos:rw\"", name);
		return -1;
	}
	n = config_setting_length(allow);
	c->rules = calloc((size_t)n + 1, sizeof(*c->rules));
	if (c->rules == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		const config_setting_t *r = config_setting_get_elem(allow, (unsigned)i);
		const char *s = config_setting_get_string(r);

		snprintf(why, sizeof(why), "not a string");
		if (s == NULL || st_parse_rule_why(s, &c->rules[i], why,
		    sizeof(why)) == -1) {
			conf_error(err, errlen, cfg, r, "client '%s': bad allow rule "
			    "'%.80s'%s%s (KIND:STORE:RIGHTS, e.g. "
			    "blob:photos:get,list)", name, s ? s : "",
			    why[0] != '\0' ? ": " : "", why);
			return -1;
		}
		c->nrules++;
	}
	return load_limits(cfg, g, c, err, errlen);
}

static int
load_clients(struct st_config *cfg, const config_setting_t *list, char *err,
             size_t errlen)
{
	int i, n;

	if (list == NULL)
		return 0;
	if (!config_setting_is_list(list)) {
		conf_error(err, errlen, cfg, list, "clients must be a list ( ... )");
		return -1;
	}
	n = config_setting_length(list);
	if ((cfg->clients = calloc((size_t)n + 1, sizeof(*cfg->clients))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		/* Counted first, so that a half-loaded client is freed too. */
		cfg->nclients++;
		if (load_client(cfg, config_setting_get_elem(list, (unsigned)i),
		    &cfg->clients[i], err, errlen) == -1)
			return -1;
	}
	return 0;
}

static int
load_presign_key(struct st_config *cfg, const config_setting_t *root,
                 char *err, size_t errlen)
{
	const char *file = NULL;
	struct st_store_env env = { .config_dir = cfg->dir };
	char path[PATH_MAX], secret[4096], why[512];
	long n;

	if (get_string(root, "presign_key_file", &file, cfg, err, errlen) == -1)
		return -1;
	if (file == NULL) {
		if (!have_default_presign_key) {
			RAND_bytes(default_presign_key, sizeof(default_presign_key));
			have_default_presign_key = 1;
		}
		memcpy(cfg->presign_key, default_presign_key, 32);
		return 0;
	}
	st_conf_path(&env, file, path, sizeof(path));
	n = st_read_secret_file(path, secret, sizeof(secret), why, sizeof(why));
	if (n < 16) {
		conf_error(err, errlen, cfg, config_setting_get_member(root,
		    "presign_key_file"), "%s", n < 0 ? why :
		    "presign_key_file must hold at least 16 bytes");
		return -1;
	}
	/* Any length of secret becomes a 32-byte key. */
	{
		unsigned int len = 32;
		EVP_Digest(secret, (size_t)n, cfg->presign_key, &len, EVP_sha256(), NULL);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	return 0;
}

/* An optional group with only the listed settings. */
static int
group_only(struct st_config *cfg, const config_setting_t *g, const char *what,
           const char *const *allowed, char *err, size_t errlen)
{
	const config_setting_t *bad;

	if (g == NULL)
		return 0;
	if (!config_setting_is_group(g)) {
		conf_error(err, errlen, cfg, g, "%s must be a group { ... }", what);
		return -1;
	}
	if ((bad = st_conf_unknown_member(g, allowed)) != NULL) {
		conf_error(err, errlen, cfg, bad, "%s: unknown setting '%s'", what,
		    config_setting_name(bad));
		return -1;
	}
	return 0;
}

static int
load_misc(struct st_config *cfg, const config_setting_t *root, char *err,
          size_t errlen)
{
	const config_setting_t *metrics = config_setting_get_member(root, "metrics");
	const config_setting_t *log = config_setting_get_member(root, "log");
	const char *level = "info";

	static const char *const metrics_keys[] = { "require_token", NULL };
	static const char *const log_keys[] = { "level", "requests", NULL };
	struct st_retry_policy retry;
	char why[400];

	cfg->log_level = ST_LOG_INFO;
	cfg->log_requests = 1;
	if (group_only(cfg, metrics, "metrics", metrics_keys, err, errlen) ||
	    group_only(cfg, log, "log", log_keys, err, errlen))
		return -1;
	/* Each cloud store reads the retry group; check it here as well, so
	 * that a mistake there is found with local stores only, too. */
	st_retry_defaults(&retry);
	if (st_retry_from_config(config_setting_get_member(root, "retry"),
	    &retry, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s:%s", cfg->path, why + (strncmp(why,
		    "line ", 5) == 0 ? 5 : 0));
		return -1;
	}
	if (get_bool(root, "allow_anonymous", &cfg->allow_anonymous, cfg, err, errlen) ||
	    get_bool(metrics, "require_token", &cfg->metrics_require_token, cfg, err, errlen) ||
	    get_string(log, "level", &level, cfg, err, errlen) ||
	    get_bool(log, "requests", &cfg->log_requests, cfg, err, errlen))
		return -1;
	if ((cfg->log_level = st_log_level_from_name(level)) < 0) {
		conf_error(err, errlen, cfg, config_setting_get_member(log, "level"),
		    "log.level must be error, warn, info or debug");
		return -1;
	}
	return 0;
}

static struct st_config *
config_new(const char *path)
{
	struct st_config *cfg = calloc(1, sizeof(*cfg));
	char *copy;

	if (cfg == NULL)
		return NULL;
	atomic_init(&cfg->refs, 1);
	cfg->path = strdup(path);
	copy = strdup(path);
	cfg->dir = copy ? strdup(dirname(copy)) : NULL;
	free(copy);
	if (cfg->path == NULL || cfg->dir == NULL) {
		free(cfg->path);
		free(cfg->dir);
		free(cfg);
		return NULL;
	}
	return cfg;
}

struct st_config *
st_config_load(const char *path, int check_only, char *err, size_t errlen)
{
	struct st_config *cfg;
	const config_setting_t *bad;
	config_setting_t *root;
	config_t lc;
	int ok = 0;

	if ((cfg = config_new(path)) == NULL) {
		snprintf(err, errlen, "%s:0: out of memory", path);
		return NULL;
	}
	config_init(&lc);
	config_set_include_dir(&lc, cfg->dir);
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s:0: cannot read the file: %s",
			    path, strerror(errno));
		else
			snprintf(err, errlen, "%s:%d: %s", config_error_file(&lc) ?
			    config_error_file(&lc) : path, config_error_line(&lc),
			    config_error_text(&lc));
		goto done;
	}
	root = config_root_setting(&lc);
	if ((bad = st_conf_unknown_member(root, top_keys)) != NULL) {
		conf_error(err, errlen, cfg, bad, "unknown setting '%s'",
		    config_setting_name(bad));
		goto done;
	}
	if (load_listen(cfg, config_setting_get_member(root, "listen"), err, errlen) ||
	    load_misc(cfg, root, err, errlen) ||
	    load_presign_key(cfg, root, err, errlen) ||
	    check_credentials(cfg, config_setting_get_member(root, "credentials"),
	        err, errlen) ||
	    load_stores(cfg, config_setting_get_member(root, "stores"), check_only,
	        err, errlen) ||
	    load_clients(cfg, config_setting_get_member(root, "clients"), err, errlen) ||
	    check_some_store(cfg, config_setting_get_member(root, "stores"), err,
	        errlen))
		goto done;
	ok = 1;
done:
	config_destroy(&lc);
	if (!ok) {
		st_config_unref(cfg);
		return NULL;
	}
	return cfg;
}

void
st_config_ref(struct st_config *cfg)
{
	atomic_fetch_add(&cfg->refs, 1);
}

void
st_config_unref(struct st_config *cfg)
{
	size_t i;

	if (cfg == NULL || atomic_fetch_sub(&cfg->refs, 1) != 1)
		return;
	for (i = 0; i < cfg->nstores; i++)
		if (cfg->stores[i].backend != NULL)
			cfg->stores[i].backend->store_close(cfg->stores[i].handle);
	for (i = 0; i < cfg->nclients; i++) {
		free(cfg->clients[i].rules);
		st_limits_free(cfg->clients[i].limits);
	}
	free(cfg->stores);
	free(cfg->clients);
	free(cfg->listen.unix_path);
	free(cfg->listen.public_url);
	OPENSSL_cleanse(cfg->presign_key, sizeof(cfg->presign_key));
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

struct st_store *
st_config_store(const struct st_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nstores; i++)
		if (strcmp(cfg->stores[i].name, name) == 0)
			return &cfg->stores[i];
	return NULL;
}

size_t
st_config_header_room(unsigned max_header_size)
{
	return (size_t)max_header_size * HEADER_ROOM;
}

/* Appends name to the space-separated list in out if the setting differs. */
static void
note_change(char *out, size_t cap, const char *name, int differs)
{
	size_t len = strlen(out);

	if (differs)
		snprintf(out + len, cap - len, "%s%s", len ? " " : "", name);
}

static int
same_string(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The settings that say where to listen: systemd's sockets replace them. */
static void
note_address_changes(const struct st_listen *started,
                     const struct st_listen *l, char *changed, size_t cap)
{
	note_change(changed, cap, "listen.address",
	    strcmp(l->address, started->address) != 0);
	note_change(changed, cap, "listen.port", l->port != started->port);
	note_change(changed, cap, "listen.unix",
	    !same_string(l->unix_path, started->unix_path));
	/* The mode means something only with a socket file. */
	note_change(changed, cap, "listen.unix_mode",
	    (l->unix_path != NULL || started->unix_path != NULL) &&
	    l->unix_mode != started->unix_mode);
}

int
st_config_check_reload(const struct st_listen *started, int systemd_sockets,
                       const struct st_config *next, char *err, size_t errlen,
                       char *changed, size_t changedlen)
{
	const struct st_listen *l = &next->listen;
	size_t room = st_config_header_room(l->max_header_size);

	if (room > started->connection_memory) {
		/* No line: the limit comes from the running daemon. */
		snprintf(err, errlen, "%s: listen.max_header_size (%u) needs "
		    "%zu bytes of connection memory, and the daemon started "
		    "with %zu (listen.connection_memory takes effect at a "
		    "restart)", next->path, l->max_header_size, room,
		    started->connection_memory);
		return -1;
	}
	changed[0] = '\0';
	if (!systemd_sockets)
		note_address_changes(started, l, changed, changedlen);
	note_change(changed, changedlen, "listen.threads",
	    l->threads != started->threads);
	note_change(changed, changedlen, "listen.max_connections",
	    l->max_connections != started->max_connections);
	note_change(changed, changedlen, "listen.idle_timeout",
	    l->idle_timeout != started->idle_timeout);
	note_change(changed, changedlen, "listen.header_timeout",
	    l->header_timeout != started->header_timeout);
	note_change(changed, changedlen, "listen.connection_memory",
	    l->connection_memory != started->connection_memory);
	return 0;
}
