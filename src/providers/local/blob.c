/*
 * blob.c - the local provider's blob stores on local disk: files plus SQLite.
 *
 * Layout of a store's directory:
 *
 *   meta.db        SQLite (WAL): one row per key: which data file holds the
 *                  object, its size, ETag, time, content type, metadata
 *   data/XX/ID     object bytes; ID is the version's random 128-bit id,
 *                  XX its first two hex digits; never modified once written
 *   tmp/ID         uploads in progress
 *
 * Keys never become file names, so no key can reach outside the store's
 * directory, whatever it contains; and listing is an index scan in byte
 * order.
 *
 * Durability: an upload is written to tmp/, fsync'ed, renamed into data/,
 * and only then made visible by one SQLite transaction that also checks
 * If-Match / If-None-Match against the current row. A crash or a dropped
 * client before that transaction leaves the previous version untouched
 * (a crash between the rename and the transaction can leave an orphan data
 * file, never a wrong object). The previous version's file is unlinked
 * after the commit; a reader that has it open keeps reading it.
 *
 * What a crash leaves (a partial tmp/ file, a data/ file that no row
 * names) is removed when the process first opens the directory: see
 * sweep_once().
 *
 * Because data files are immutable, a copy within the daemon's stores is a
 * hard link when both are on one file system.
 *
 * All SQLite work for a store runs under the store's mutex; it is short
 * (an indexed lookup or one small transaction). File I/O runs outside it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <yajl/yajl_tree.h>

#include <stratus/backend.h>

#include "core/buf.h"
#include "core/iopool.h"
#include "core/json.h"
#include "core/presign.h"
#include "core/registry.h"
#include "core/validate.h"
#include "core/confval.h"
#include "providers/local/local.h"
#include "sign/hmac.h"

#define ID_HEX 32

struct local_store {
	struct local_kind kind;		/* first: ST_KIND_BLOB (local.h) */
	char		 name[ST_STORE_NAME_MAX + 1];
	char		 dir[PATH_MAX - 128];	/* room for the names below it */
	int		 fsync;
	unsigned char	 presign_key[32];
	pthread_mutex_t	 lock;
	sqlite3		*db;
	sqlite3_stmt	*st_lookup;
	sqlite3_stmt	*st_upsert;
	sqlite3_stmt	*st_delete;
	sqlite3_stmt	*st_scan_ge;
	sqlite3_stmt	*st_scan_gt;
};

/* One row of meta.db. */
struct row {
	char		 id[ID_HEX + 1];
	uint64_t	 size;
	char		 etag[ID_HEX + 3];
	time_t		 mtime;
	char		*content_type;	/* in the call's arena */
	char		*meta_json;	/* in the call's arena */
};

struct local_call {
	/* A commit running on the I/O pool (busy), and release waiting for
	 * it: the job's last touch of the call is under jlock. */
	pthread_mutex_t	 jlock;
	pthread_cond_t	 jdone;
	int		 busy;
	int		 fd;		/* upload temp file, or object for GET */
	char		 tmp[PATH_MAX];	/* temp file to remove on release */
	char		 id[ID_HEX + 1];
	uint64_t	 written;
	EVP_MD_CTX	*md5;
	uint64_t	 pos;		/* GET: next byte for read() */
	uint64_t	 end;
	const char	*meta_json;	/* PUT: metadata, for the commit */
};

static const char *const local_keys[] = {
	"name", "kind", "provider", "path", "max_object_size",
	"allow_anonymous", "fsync", NULL
};

/* ---------------------------------------------------------------- helpers */

static struct local_call *
lc_get(struct st_call *c)
{
	struct local_call *lc = c->backend_data;

	if (lc == NULL && (lc = st_call_alloc(c, sizeof(*lc))) != NULL) {
		lc->fd = -1;
		pthread_mutex_init(&lc->jlock, NULL);
		pthread_cond_init(&lc->jdone, NULL);
		c->backend_data = lc;
	}
	return lc;
}

static void
new_id(char *out)
{
	unsigned char rnd[ID_HEX / 2];

	RAND_bytes(rnd, sizeof(rnd));
	st_hex(rnd, sizeof(rnd), out);
}

static void
data_path(const struct local_store *s, const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/data/%.2s/%s", s->dir, id, id);
}

/* local.h: every local store makes its directories with this. */
int
local_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) == -1 && errno != EEXIST ? -1 : 0;
}

static void
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd != -1) {
		fsync(fd);
		close(fd);
	}
}

static void
set_info(struct st_call *c, const struct row *r)
{
	char etag[ID_HEX + 3];
	yajl_val meta, v;
	size_t i, n;
	char err[128];

	c->info.size = r->size;
	snprintf(etag, sizeof(etag), "%s", r->etag);
	c->info.etag = st_call_strdup(c, etag);
	c->info.last_modified = r->mtime;
	c->info.content_type = r->content_type;
	if (r->meta_json == NULL || r->meta_json[0] == '\0')
		return;
	if ((meta = yajl_tree_parse(r->meta_json, err, sizeof(err))) == NULL)
		return;
	if (YAJL_IS_OBJECT(meta) && (n = YAJL_GET_OBJECT(meta)->len) > 0 &&
	    (c->info.meta = st_call_alloc(c, n * sizeof(*c->info.meta))) != NULL) {
		for (i = 0; i < n; i++) {
			v = YAJL_GET_OBJECT(meta)->values[i];
			if (!YAJL_IS_STRING(v))
				continue;
			c->info.meta[c->info.nmeta].name = st_call_strdup(c,
			    YAJL_GET_OBJECT(meta)->keys[i]);
			c->info.meta[c->info.nmeta].value = st_call_strdup(c,
			    YAJL_GET_STRING(v));
			c->info.nmeta++;
		}
	}
	yajl_tree_free(meta);
}

static char *
meta_to_json(struct st_call *c, const struct st_meta *m, size_t n)
{
	struct st_buf out = { 0 };
	yajl_gen g = st_json_new();
	char *p;
	size_t i;

	if (g == NULL)
		return NULL;
	yajl_gen_map_open(g);
	for (i = 0; i < n; i++)
		st_json_key_str(g, m[i].name, m[i].value);
	yajl_gen_map_close(g);
	st_json_flush(g, &out);
	yajl_gen_free(g);
	p = st_call_strdup(c, out.data ? out.data : "{}");
	st_buf_free(&out);
	return p;
}

/* ---------------------------------------------------------------- SQLite */

static int
prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) == SQLITE_OK ? 0 : -1;
}

static int
db_open(struct local_store *s, char *err, size_t errlen)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/meta.db", s->dir);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(s->db, 10000);
	if (sqlite3_exec(s->db,
	    "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=FULL;"
	    "CREATE TABLE IF NOT EXISTS blobs ("
	    " key TEXT PRIMARY KEY, id TEXT NOT NULL, size INTEGER NOT NULL,"
	    " etag TEXT NOT NULL, mtime INTEGER NOT NULL,"
	    " content_type TEXT NOT NULL, meta TEXT NOT NULL) WITHOUT ROWID;",
	    NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (prepare(s->db, "SELECT id, size, etag, mtime, content_type, meta "
	    "FROM blobs WHERE key = ?1", &s->st_lookup) ||
	    prepare(s->db, "INSERT OR REPLACE INTO blobs VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7)", &s->st_upsert) ||
	    prepare(s->db, "DELETE FROM blobs WHERE key = ?1", &s->st_delete) ||
	    prepare(s->db, "SELECT key, size, etag, mtime FROM blobs "
	    "WHERE key >= ?1 ORDER BY key LIMIT ?2", &s->st_scan_ge) ||
	    prepare(s->db, "SELECT key, size, etag, mtime FROM blobs "
	    "WHERE key > ?1 ORDER BY key LIMIT ?2", &s->st_scan_gt))
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot open %s: %s", path,
	    s->db ? sqlite3_errmsg(s->db) : "out of memory");
	return -1;
}

/* Looks a key up; the caller holds the lock. 1 found, 0 not, -1 error. */
static int
db_lookup(struct local_store *s, struct st_call *c, const char *key,
          size_t keylen, struct row *r)
{
	sqlite3_stmt *st = s->st_lookup;
	int rc;

	sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(r->id, sizeof(r->id), "%s", sqlite3_column_text(st, 0));
		r->size = (uint64_t)sqlite3_column_int64(st, 1);
		snprintf(r->etag, sizeof(r->etag), "%s", sqlite3_column_text(st, 2));
		r->mtime = (time_t)sqlite3_column_int64(st, 3);
		r->content_type = st_call_strdup(c,
		    (const char *)sqlite3_column_text(st, 4));
		r->meta_json = st_call_strdup(c,
		    (const char *)sqlite3_column_text(st, 5));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

/* If-Match / If-None-Match for a write, against the current row. */
static enum st_status
write_conditions(struct st_call *c, int exists, const struct row *cur)
{
	if (c->if_match != NULL &&
	    (!exists || !st_etag_match(c->if_match, cur->etag, 0)))
		return ST_PRECONDITION;
	if (c->if_none_match != NULL && exists &&
	    st_etag_match(c->if_none_match, cur->etag, 1))
		return ST_PRECONDITION;
	return ST_OK;
}

/* ---------------------------------------------------------------- sweep */

/*
 * Leftovers of a crash (kill -9, power loss): tmp/ files of uploads that
 * never finished, and data/ files that no row of the index names (a crash
 * between an upload's rename into data/ and its commit, or between a
 * commit and the unlink of the version it replaced).
 *
 * They are removed the first time this process opens the directory, before
 * any request can reach the store: no upload or commit can be in flight
 * then, so every tmp/ file is a leftover, and a data/ file that no row
 * names now can never be named by one (a commit names only the file its
 * own upload just renamed, under a new random id). Later opens of the same
 * directory, found by device and inode whatever path names it, never
 * sweep: each SIGHUP opens every store again while uploads and commits of
 * the old handle may still run. --check-config opens nothing.
 *
 * Other processes: each one that opens the directory holds a shared
 * flock() on it until it exits, and only one that gets it exclusively
 * (no other process holds it) sweeps, then shares it. So a second daemon
 * given the same directory (a mistake, but a possible one) never sweeps
 * what another is writing; one that starts while another sweeps waits
 * for the sweep to end.
 */
struct swept {
	dev_t		 dev;
	ino_t		 ino;
	int		 fd;		/* holds the flock; closed at exit */
	struct swept	*next;
};

static struct swept *swept_dirs;
static pthread_mutex_t swept_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The first open of the store's directory in this process: the descriptor
 * that holds its flock, exclusive (the caller sweeps, then shares it), or
 * -1 when there is nothing to sweep (opened before, or another process
 * holds it: then it is shared here).
 */
static int
claim_dir(const struct local_store *s)
{
	struct swept *w;
	struct stat st;
	int fd, held = -1;

	if ((fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return -1;
	}
	pthread_mutex_lock(&swept_lock);
	for (w = swept_dirs; w != NULL; w = w->next)
		if (w->dev == st.st_dev && w->ino == st.st_ino)
			break;
	if (w == NULL && (w = calloc(1, sizeof(*w))) != NULL) {
		w->dev = st.st_dev;
		w->ino = st.st_ino;
		w->fd = held = fd;
		w->next = swept_dirs;
		swept_dirs = w;
		fd = -1;
	}
	pthread_mutex_unlock(&swept_lock);
	if (fd != -1)
		close(fd);
	if (held == -1 || flock(held, LOCK_EX | LOCK_NB) == 0)
		return held;
	st_log_backend(ST_LOG_WARN, "local", "store '%s': another process "
	    "holds %s; its leftovers are not swept", s->name, s->dir);
	flock(held, LOCK_SH);	/* waits only while that one sweeps */
	return -1;
}

/* Removes everything but directories from tmp/; returns how many. */
static unsigned
sweep_tmp(const struct local_store *s)
{
	char path[PATH_MAX];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/tmp", s->dir);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode) && unlinkat(dirfd(d), e->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static int
is_id(const char *name)
{
	size_t i;

	for (i = 0; i < ID_HEX; i++)
		if (!isdigit((unsigned char)name[i]) &&
		    (name[i] < 'a' || name[i] > 'f'))
			return 0;
	return name[ID_HEX] == '\0';
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the files that are not directories in dir, sorted, in
 * *out (freed by the caller, each name and the array); -1 on error. */
static long
list_files(const char *dir, char ***out)
{
	struct dirent *e;
	char **v = NULL, **nv;
	size_t n = 0, cap = 0;
	struct stat st;
	DIR *d;

	*out = NULL;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				break;
			v = nv;
		}
		if ((v[n] = strdup(e->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	if (e != NULL) {		/* out of memory */
		while (n > 0)
			free(v[--n]);
		free(v);
		return -1;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_names);
	*out = v;
	return (long)n;
}

static void
free_names(char **v, long n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

/*
 * Removes the files of data/ that no row names: the index's ids, in
 * order, are merged with each bucket's sorted file names (bucket XX holds
 * only names starting with XX, so the merge never passes an id of a later
 * bucket). A name that is not an id, or lies in the wrong bucket, can
 * never be an object. Any error stops the sweep: better an orphan kept
 * than an object lost. Returns how many files went.
 */
static unsigned
sweep_data(struct local_store *s)
{
	char dir[PATH_MAX + 8], bucket[3], **names;
	const char *id = NULL;
	sqlite3_stmt *st = NULL;
	unsigned gone = 0;
	long i, n;
	int b, rc;

	if (sqlite3_prepare_v2(s->db, "SELECT id FROM blobs ORDER BY id", -1,
	    &st, NULL) != SQLITE_OK)
		return 0;
	rc = sqlite3_step(st);
	for (b = -1; b < 256 && (rc == SQLITE_ROW || rc == SQLITE_DONE); b++) {
		if (b == -1)		/* files directly in data/ */
			snprintf(dir, sizeof(dir), "%s/data", s->dir);
		else
			snprintf(dir, sizeof(dir), "%s/data/%02x", s->dir, b);
		snprintf(bucket, sizeof(bucket), "%02x", b < 0 ? 0 : b);
		if ((n = list_files(dir, &names)) < 0)
			break;
		for (i = 0; i < n; i++) {
			const char *name = names[i];
			int keep = 0;

			if (b >= 0 && is_id(name) && memcmp(name, bucket, 2) == 0) {
				while (rc == SQLITE_ROW && (id = (const char *)
				    sqlite3_column_text(st, 0)) != NULL &&
				    strcmp(id, name) < 0)
					rc = sqlite3_step(st);
				if (rc != SQLITE_ROW && rc != SQLITE_DONE)
					break;	/* cannot tell: keep the rest */
				keep = rc == SQLITE_ROW && id != NULL &&
				    strcmp(id, name) == 0;
			}
			if (!keep) {
				char path[PATH_MAX + 300];

				snprintf(path, sizeof(path), "%s/%s", dir, name);
				if (unlink(path) == 0)
					gone++;
			}
		}
		free_names(names, n);
	}
	sqlite3_finalize(st);
	return gone;
}

/* Sweeps the store's leftovers, once per process (see above). fresh: the
 * index was just created, so it names nothing: data/ is left alone (a lost
 * or misplaced meta.db must not cost every object). */
static void
sweep_once(struct local_store *s, int fresh)
{
	unsigned tmp, data = 0;
	int fd;

	if ((fd = claim_dir(s)) == -1)
		return;
	tmp = sweep_tmp(s);
	if (!fresh)
		data = sweep_data(s);
	flock(fd, LOCK_SH);	/* another process may open it now */
	if (tmp > 0 || data > 0)
		st_log_backend(ST_LOG_INFO, "local", "store '%s': removed %u "
		    "unfinished upload(s) from tmp/ and %u orphan file(s) from "
		    "data/", s->name, tmp, data);
}

/* ---------------------------------------------------------------- store */

static void local_close(void *);

static int
local_open(const config_setting_t *conf, const struct st_store_env *env,
           void **out, char *err, size_t errlen)
{
	struct local_store *s;
	const char *path = NULL;
	char sub[PATH_MAX + 16];
	int fsync_on = 1, fresh, i;

	if (st_conf_only_keys(conf, local_keys, err, errlen) == -1)
		return -1;
	if (!config_setting_lookup_string(conf, "path", &path) || path[0] == '\0') {
		snprintf(err, errlen, "a local store needs path = \"DIR\"");
		return -1;
	}
	config_setting_lookup_bool(conf, "fsync", &fsync_on);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->kind.kind = ST_KIND_BLOB;
	snprintf(s->name, sizeof(s->name), "%s", env->name);
	st_conf_path(env, path, sub, sizeof(sub));
	if (strlen(sub) >= sizeof(s->dir)) {
		snprintf(err, errlen, "path is too long");
		free(s);
		return -1;
	}
	memcpy(s->dir, sub, strlen(sub) + 1);
	if (st_conf_check_dir(s->dir, err, errlen) == -1) {
		free(s);
		return -1;
	}
	s->fsync = fsync_on;
	memcpy(s->presign_key, env->presign_key, sizeof(s->presign_key));
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	if (env->check_only)
		return 0;
	for (i = -2; i < 256; i++) {
		if (i == -2)
			snprintf(sub, sizeof(sub), "%s/tmp", s->dir);
		else if (i == -1)
			snprintf(sub, sizeof(sub), "%s/data", s->dir);
		else
			snprintf(sub, sizeof(sub), "%s/data/%02x", s->dir, i);
		if (local_mkdirs(sub, 0750) == -1) {
			snprintf(err, errlen, "cannot create %s: %s", sub,
			    strerror(errno));
			goto fail;
		}
	}
	snprintf(sub, sizeof(sub), "%s/meta.db", s->dir);
	fresh = access(sub, F_OK) == -1;
	if (db_open(s, err, errlen) == 0) {
		sweep_once(s, fresh);
		return 0;
	}
fail:
	local_close(s);
	*out = NULL;
	return -1;
}

static void
local_close(void *p)
{
	struct local_store *s = p;

	if (s == NULL)
		return;
	sqlite3_finalize(s->st_lookup);
	sqlite3_finalize(s->st_upsert);
	sqlite3_finalize(s->st_delete);
	sqlite3_finalize(s->st_scan_ge);
	sqlite3_finalize(s->st_scan_gt);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int
local_same_account(void *a, void *b)
{
	(void)a;
	(void)b;
	return 1;	/* one machine: every local store can copy to any */
}

/* ---------------------------------------------------------------- read */

static void
not_found(struct st_call *c)
{
	st_call_fail(c, ST_NOT_FOUND, NULL, "no blob '%.*s' in store '%s'",
	    (int)(c->keylen > 200 ? 200 : c->keylen), c->key, c->store_name);
}

/* Lookup and open under the lock, so that a concurrent overwrite cannot
 * unlink the file between the two. */
static int
lookup_open(struct local_store *s, struct st_call *c, const char *key,
            size_t keylen, struct row *r, int *fd)
{
	char path[PATH_MAX];
	int found;

	pthread_mutex_lock(&s->lock);
	found = db_lookup(s, c, key, keylen, r);
	if (found == 1) {
		data_path(s, r->id, path, sizeof(path));
		if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			found = -1;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void
local_get_common(struct st_call *c, int head)
{
	struct local_store *s = c->store;
	struct local_call *lc = lc_get(c);
	struct row r = { 0 };
	int found, fd = -1;

	if (lc == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	found = lookup_open(s, c, c->key, c->keylen, &r, &fd);
	if (found == 0) {
		not_found(c);
		return;
	}
	if (found < 0) {
		st_call_fail(c, ST_INTERNAL, NULL, "the store's index or data "
		    "could not be read");
		return;
	}
	lc->fd = fd;
	set_info(c, &r);
	if (c->if_match != NULL && !st_etag_match(c->if_match, r.etag, 0)) {
		st_call_fail(c, ST_PRECONDITION, NULL, "If-Match does not match "
		    "the current ETag");
		return;
	}
	if (c->if_none_match != NULL && st_etag_match(c->if_none_match, r.etag, 1)) {
		c->status = ST_NOT_MODIFIED;
		st_call_done(c);
		return;
	}
	if (!head && st_resolve_range(&c->range, r.size, &c->body_first,
	    &c->body_length) == -1) {
		st_call_fail(c, ST_RANGE, NULL, "the range is outside the object "
		    "of %llu bytes", (unsigned long long)r.size);
		return;
	}
	if (head)
		c->body_length = r.size;
	c->partial = c->range.set && !head;
	lc->pos = c->body_first;
	lc->end = c->body_first + c->body_length;
	c->status = ST_OK;
	st_call_done(c);
}

static void
local_head(struct st_call *c)
{
	local_get_common(c, 1);
}

static void
local_get(struct st_call *c)
{
	local_get_common(c, 0);
}

static int
local_get_fd(struct st_call *c, int *fd, uint64_t *offset)
{
	struct local_call *lc = c->backend_data;

	if (lc == NULL || lc->fd == -1)
		return -1;
	*fd = lc->fd;
	*offset = c->body_first;
	lc->fd = -1;	/* the core owns it now */
	return 0;
}

static long
local_read(struct st_call *c, char *buf, size_t cap)
{
	struct local_call *lc = c->backend_data;
	ssize_t n;

	if (lc->pos >= lc->end)
		return ST_EOF;
	if (cap > lc->end - lc->pos)
		cap = (size_t)(lc->end - lc->pos);
	do {
		n = pread(lc->fd, buf, cap, (off_t)lc->pos);
	} while (n == -1 && errno == EINTR);
	if (n <= 0)
		return ST_ERROR;
	lc->pos += (uint64_t)n;
	return n;
}

/* ---------------------------------------------------------------- off the loop */

/*
 * Tests only: STRATUS_TEST_SLOW_COMMIT_MS makes every job of a local blob
 * store on the I/O pool (commits of PUT, copy, DELETE) sleep that long
 * first, standing in for a slow disk, so that
 * a test can show that other requests of the same worker go on meanwhile.
 */
static void
slow_commit_for_tests(void)
{
	static long ms = -1;
	const char *v;

	if (ms < 0)
		ms = (v = getenv("STRATUS_TEST_SLOW_COMMIT_MS")) ? atol(v) : 0;
	if (ms > 0)
		usleep((useconds_t)ms * 1000);
}

struct job {
	struct st_call	*call;
	void		(*work)(struct st_call *);
};

static void
run_job(void *arg)
{
	struct job *j = arg;
	struct st_call *c = j->call;
	struct local_call *lc = c->backend_data;

	slow_commit_for_tests();
	j->work(c);		/* ends the call: done or failed */
	pthread_mutex_lock(&lc->jlock);
	lc->busy = 0;
	pthread_cond_broadcast(&lc->jdone);
	pthread_mutex_unlock(&lc->jlock);
}

/*
 * Runs work (which ends the call) on the I/O pool: fsync, renames and
 * SQLite commits never stall the worker's other connections. When no
 * pool thread can be had, the work runs here, as before.
 */
static void
off_loop(struct st_call *c, void (*work)(struct st_call *))
{
	struct local_call *lc = c->backend_data;
	struct job *j = st_call_alloc(c, sizeof(*j));

	if (j == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	j->call = c;
	j->work = work;
	lc->busy = 1;
	if (st_iopool_run(run_job, j) == -1) {
		lc->busy = 0;
		work(c);
	}
}

/* ---------------------------------------------------------------- write */

/* Early check of conditions, so that a doomed upload is refused before its
 * body is sent. The commit checks again, atomically. */
static int
early_conditions(struct st_call *c)
{
	struct local_store *s = c->store;
	struct row r = { 0 };
	int found;

	if (c->if_match == NULL && c->if_none_match == NULL)
		return 0;
	pthread_mutex_lock(&s->lock);
	found = db_lookup(s, c, c->key, c->keylen, &r);
	pthread_mutex_unlock(&s->lock);
	if (found >= 0 && write_conditions(c, found, &r) != ST_OK) {
		st_call_fail(c, ST_PRECONDITION, NULL, "%s",
		    c->if_match ? "If-Match does not match the current ETag" :
		    "the blob already exists (If-None-Match)");
		return -1;
	}
	return 0;
}

static int
open_tmp(struct st_call *c, struct local_call *lc)
{
	struct local_store *s = c->store;

	new_id(lc->id);
	snprintf(lc->tmp, sizeof(lc->tmp), "%s/tmp/%s", s->dir, lc->id);
	lc->fd = open(lc->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (lc->fd == -1) {
		lc->tmp[0] = '\0';
		st_call_fail(c, ST_INTERNAL, NULL, "cannot create an upload file: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
local_put_begin(struct st_call *c)
{
	struct local_call *lc = lc_get(c);

	if (lc == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (early_conditions(c) == -1 || open_tmp(c, lc) == -1)
		return;
	if (c->has_md5) {
		lc->md5 = EVP_MD_CTX_new();
		if (lc->md5 == NULL || !EVP_DigestInit_ex(lc->md5, EVP_md5(), NULL))
			st_call_fail(c, ST_INTERNAL, NULL, "MD5 unavailable");
	}
}

static long
local_write(struct st_call *c, const char *buf, size_t len)
{
	struct local_call *lc = c->backend_data;
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = write(lc->fd, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			st_call_fail(c, ST_INTERNAL, NULL, "cannot write the upload: %s",
			    strerror(errno));
			return ST_ERROR;
		}
		off += (size_t)n;
	}
	if (lc->md5 != NULL)
		EVP_DigestUpdate(lc->md5, buf, len);
	lc->written += len;
	return (long)len;
}

static int
md5_matches(struct st_call *c, struct local_call *lc)
{
	unsigned char got[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (lc->md5 == NULL)
		return 1;
	EVP_DigestFinal_ex(lc->md5, got, &n);
	return n == 16 && memcmp(got, c->md5, 16) == 0;
}

/* Makes the new version visible, if the conditions still hold. Returns the
 * old version's id in old (empty if none) so that its file can go. */
static enum st_status
commit_row(struct local_store *s, struct st_call *c, const char *id,
           uint64_t size, const char *content_type, const char *meta_json,
           struct row *cur)
{
	sqlite3_stmt *st = s->st_upsert;
	char etag[ID_HEX + 3];
	enum st_status status;
	int exists, rc;

	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return ST_INTERNAL;
	exists = db_lookup(s, c, c->key, c->keylen, cur);
	if (exists < 0) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return ST_INTERNAL;
	}
	if ((status = write_conditions(c, exists, cur)) != ST_OK) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return status;
	}
	if (!exists)
		cur->id[0] = '\0';
	snprintf(etag, sizeof(etag), "\"%s\"", id);
	sqlite3_bind_text(st, 1, c->key, (int)c->keylen, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
	sqlite3_bind_text(st, 4, etag, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 6, content_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, meta_json, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE ||
	    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return ST_INTERNAL;
	}
	return ST_OK;
}

/* Moves the finished temp file into data/ and commits it; shared by PUT
 * and copy. lc->tmp names the file; on success it is no longer a temp. */
static void
publish(struct st_call *c, struct local_call *lc, uint64_t size,
        const char *content_type, const char *meta_json)
{
	struct local_store *s = c->store;
	char path[PATH_MAX], dir[PATH_MAX], old[PATH_MAX];
	struct row cur = { 0 }, now = { 0 };
	enum st_status status;

	data_path(s, lc->id, path, sizeof(path));
	if (rename(lc->tmp, path) == -1) {
		st_call_fail(c, ST_INTERNAL, NULL, "cannot store the object: %s",
		    strerror(errno));
		return;
	}
	lc->tmp[0] = '\0';
	if (s->fsync) {
		snprintf(dir, sizeof(dir), "%s/data/%.2s", s->dir, lc->id);
		fsync_dir(dir);
	}
	pthread_mutex_lock(&s->lock);
	status = commit_row(s, c, lc->id, size, content_type, meta_json, &cur);
	if (status != ST_OK)
		unlink(path);
	else if (cur.id[0] != '\0') {
		data_path(s, cur.id, old, sizeof(old));
		unlink(old);
	}
	pthread_mutex_unlock(&s->lock);
	if (status == ST_PRECONDITION) {
		st_call_fail(c, status, NULL, "%s", c->if_match ?
		    "If-Match does not match the current ETag" :
		    "the blob already exists (If-None-Match)");
		return;
	}
	if (status != ST_OK) {
		st_call_fail(c, status, NULL, "the store's index could not be "
		    "updated");
		return;
	}
	snprintf(now.etag, sizeof(now.etag), "\"%s\"", lc->id);
	now.size = size;
	now.mtime = time(NULL);
	now.content_type = (char *)content_type;
	set_info(c, &now);
	c->status = ST_OK;
	st_call_done(c);
}

/*
 * The blocking part of a PUT, on the I/O pool: flush the file, move it
 * into place, commit the index. An event loop never waits for a disk.
 */
static void
put_commit(struct st_call *c)
{
	struct local_call *lc = c->backend_data;
	int fd = lc->fd, bad;

	lc->fd = -1;
	bad = ((struct local_store *)c->store)->fsync && fdatasync(fd) == -1;
	/* Closed even when the flush failed: lc->fd no longer holds it. */
	if (close(fd) == -1 || bad) {
		st_call_fail(c, ST_INTERNAL, NULL, "the upload could not be "
		    "written completely");
		return;
	}
	publish(c, lc, lc->written, c->content_type, lc->meta_json);
}

static void
local_put_end(struct st_call *c)
{
	struct local_call *lc = c->backend_data;

	if (!md5_matches(c, lc)) {
		close(lc->fd);
		lc->fd = -1;
		st_call_fail(c, ST_BAD_DIGEST, NULL, "the body does not match "
		    "Content-MD5");
		return;
	}
	if (c->content_length >= 0 && lc->written != (uint64_t)c->content_length) {
		close(lc->fd);
		lc->fd = -1;
		st_call_fail(c, ST_INTERNAL, NULL, "the upload could not be "
		    "written completely");
		return;
	}
	lc->meta_json = meta_to_json(c, c->meta, c->nmeta);
	off_loop(c, put_commit);
}

/* ---------------------------------------------------------------- delete */

static void
delete_work(struct st_call *c)
{
	struct local_store *s = c->store;
	struct row r = { 0 };
	char path[PATH_MAX];
	int found, rc = SQLITE_DONE;

	pthread_mutex_lock(&s->lock);
	found = db_lookup(s, c, c->key, c->keylen, &r);
	if (found == 1 && (c->if_match == NULL ||
	    st_etag_match(c->if_match, r.etag, 0))) {
		sqlite3_bind_text(s->st_delete, 1, c->key, (int)c->keylen,
		    SQLITE_STATIC);
		rc = sqlite3_step(s->st_delete);
		sqlite3_reset(s->st_delete);
		sqlite3_clear_bindings(s->st_delete);
		if (rc == SQLITE_DONE) {
			data_path(s, r.id, path, sizeof(path));
			unlink(path);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (found < 0 || rc != SQLITE_DONE)
		st_call_fail(c, ST_INTERNAL, NULL, "the store's index could not be "
		    "updated");
	else if (c->if_match != NULL && (found == 0 ||
	    !st_etag_match(c->if_match, r.etag, 0)))
		st_call_fail(c, ST_PRECONDITION, NULL, "If-Match does not match");
	else {
		c->status = ST_OK;
		st_call_done(c);
	}
}

static void
local_delete(struct st_call *c)
{
	if (lc_get(c) == NULL)
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
	else
		off_loop(c, delete_work);
}

/* ---------------------------------------------------------------- list */

/*
 * The cursor is base64url of a mode byte and a key: 'x' resume after the
 * key (the last item given), 'i' resume at the key (just past a common
 * prefix). Any string decodes to some position, so a forged cursor can only
 * move the listing, never break it.
 */
static const char *
make_cursor(struct st_call *c, char mode, const char *key, size_t n)
{
	unsigned char raw[ST_KEY_MAX + 2];
	char *out = st_call_alloc(c, 4 * (ST_KEY_MAX + 2) / 3 + 8);

	if (out == NULL)
		return NULL;
	raw[0] = (unsigned char)mode;
	memcpy(raw + 1, key, n);
	st_base64url(raw, n + 1, out);
	return out;
}

static int
read_cursor(const char *cursor, char *mode, char *key, size_t *n)
{
	unsigned char raw[ST_KEY_MAX + 2];
	long len = st_base64url_decode(cursor, strlen(cursor), raw, sizeof(raw));

	if (len < 1 || (raw[0] != 'x' && raw[0] != 'i'))
		return -1;
	*mode = (char)raw[0];
	*n = (size_t)len - 1;
	memcpy(key, raw + 1, *n);
	key[*n] = '\0';
	return 0;
}

/* The smallest string greater than every string starting with p. Keys are
 * UTF-8, whose bytes are never 0xff, so the last byte can be raised. */
static void
after_prefix(char *p, size_t *n)
{
	while (*n > 0 && (unsigned char)p[*n - 1] == 0xff)
		(*n)--;
	if (*n > 0)
		p[*n - 1] = (char)((unsigned char)p[*n - 1] + 1);
	p[*n] = '\0';
}

struct list_pos {
	char	 key[ST_KEY_MAX + 8];
	size_t	 len;
	int	 inclusive;
};

/* Next row at or after pos: 1 found (key copied), 0 none, -1 error. */
static int
scan_next(struct local_store *s, const struct list_pos *pos, char *key,
          size_t *keylen, uint64_t *size, char *etag, time_t *mtime)
{
	sqlite3_stmt *st = pos->inclusive ? s->st_scan_ge : s->st_scan_gt;
	int rc;

	sqlite3_bind_text(st, 1, pos->key, (int)pos->len, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, 1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*keylen = (size_t)sqlite3_column_bytes(st, 0);
		if (*keylen > ST_KEY_MAX)
			*keylen = ST_KEY_MAX;
		memcpy(key, sqlite3_column_text(st, 0), *keylen);
		key[*keylen] = '\0';
		*size = (uint64_t)sqlite3_column_int64(st, 1);
		snprintf(etag, ID_HEX + 3, "%s", sqlite3_column_text(st, 2));
		*mtime = (time_t)sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static void
local_list(struct st_call *c)
{
	struct local_store *s = c->store;
	size_t plen = strlen(c->prefix), dlen = c->delimiter ? strlen(c->delimiter) : 0;
	struct list_pos pos = { .inclusive = 1 };
	char key[ST_KEY_MAX + 8], etag[ID_HEX + 3], mode;
	unsigned given = 0;
	uint64_t size;
	time_t mtime;
	size_t keylen;
	int rc = 0;

	memcpy(pos.key, c->prefix, plen + 1);
	pos.len = plen;
	if (c->cursor != NULL) {
		if (read_cursor(c->cursor, &mode, pos.key, &pos.len) == -1) {
			st_call_fail(c, ST_BAD_REQUEST, NULL, "the cursor is not one "
			    "this store gave");
			return;
		}
		pos.inclusive = mode == 'i';
	}
	pthread_mutex_lock(&s->lock);
	while ((rc = scan_next(s, &pos, key, &keylen, &size, etag, &mtime)) == 1) {
		const char *d;

		if (keylen < plen || memcmp(key, c->prefix, plen) != 0)
			break;	/* past the prefix: the listing is complete */
		if (given == c->limit) {
			c->next_cursor = make_cursor(c, pos.inclusive ? 'i' : 'x',
			    pos.key, pos.len);
			break;
		}
		d = dlen ? memmem(key + plen, keylen - plen, c->delimiter, dlen) : NULL;
		if (d != NULL) {
			keylen = (size_t)(d - key) + dlen;
			key[keylen] = '\0';
			st_call_list_prefix(c, key);
			memcpy(pos.key, key, keylen + 1);
			pos.len = keylen;
			after_prefix(pos.key, &pos.len);
			pos.inclusive = 1;
		} else {
			st_call_list_item(c, key, size, etag, mtime);
			memcpy(pos.key, key, keylen + 1);
			pos.len = keylen;
			pos.inclusive = 0;
		}
		given++;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc < 0) {
		st_call_fail(c, ST_INTERNAL, NULL, "the store's index could not be "
		    "read");
		return;
	}
	c->status = ST_OK;
	st_call_done(c);
}

/* ---------------------------------------------------------------- copy */

/* Puts a copy of the open source file into lc->tmp: a hard link when
 * possible (data files never change), bytes otherwise. */
static int
copy_into_tmp(struct local_store *src, const struct row *r, int srcfd,
              struct st_call *c, struct local_call *lc)
{
	char from[PATH_MAX];
	off_t off = 0;
	ssize_t n;
	int bad;

	data_path(src, r->id, from, sizeof(from));
	new_id(lc->id);
	snprintf(lc->tmp, sizeof(lc->tmp), "%s/tmp/%s",
	    ((struct local_store *)c->store)->dir, lc->id);
	if (link(from, lc->tmp) == 0)
		return 0;
	lc->fd = open(lc->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (lc->fd == -1) {
		lc->tmp[0] = '\0';
		return -1;
	}
	while ((uint64_t)off < r->size) {
		n = copy_file_range(srcfd, &off, lc->fd, NULL,
		    (size_t)(r->size - (uint64_t)off), 0);
		if (n <= 0)
			return -1;
	}
	bad = fdatasync(lc->fd) == -1;
	/* Closed even when the flush failed: lc->fd no longer holds it. */
	if (close(lc->fd) == -1)
		bad = 1;
	lc->fd = -1;
	return bad ? -1 : 0;
}

static void
copy_work(struct st_call *c)
{
	struct local_store *src = c->src_store;
	struct local_call *lc = c->backend_data;
	struct row r = { 0 };
	int found, fd = -1;

	if (lc == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	found = lookup_open(src, c, c->src_key, strlen(c->src_key), &r, &fd);
	if (found <= 0) {
		st_call_fail(c, found == 0 ? ST_NOT_FOUND : ST_INTERNAL, NULL,
		    "no blob '%.200s' in store '%s' to copy from", c->src_key,
		    c->src_store_name);
		return;
	}
	if (c->max_size > 0 && r.size > c->max_size) {
		close(fd);
		st_call_fail(c, ST_TOO_LARGE, NULL, "the source is larger than "
		    "the target store's limit");
		return;
	}
	if (early_conditions(c) == -1 || copy_into_tmp(src, &r, fd, c, lc) == -1) {
		close(fd);
		if (!st_call_is_done(c))
			st_call_fail(c, ST_INTERNAL, NULL, "the copy could not be "
			    "written");
		return;
	}
	close(fd);
	publish(c, lc, r.size, r.content_type, r.meta_json);
}

/* A copy reads and writes whole files: on the I/O pool. */
static void
local_copy(struct st_call *c)
{
	if (lc_get(c) == NULL)
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
	else
		off_loop(c, copy_work);
}

/* ---------------------------------------------------------------- presign */

/* The daemon's own URLs, which it serves from this store. */
static void
local_presign(struct st_call *c)
{
	struct local_store *s = c->store;

	st_presign_daemon_url(c, s->presign_key, sizeof(s->presign_key));
}

/* ---------------------------------------------------------------- release */

static void
local_release(struct st_call *c)
{
	struct local_call *lc = c->backend_data;

	if (lc == NULL)
		return;
	pthread_mutex_lock(&lc->jlock);
	while (lc->busy)		/* a commit on the I/O pool */
		pthread_cond_wait(&lc->jdone, &lc->jlock);
	pthread_mutex_unlock(&lc->jlock);
	pthread_mutex_destroy(&lc->jlock);
	pthread_cond_destroy(&lc->jdone);
	if (lc->fd != -1)
		close(lc->fd);
	if (lc->tmp[0] != '\0')
		unlink(lc->tmp);	/* an upload that never committed */
	if (lc->md5 != NULL)
		EVP_MD_CTX_free(lc->md5);
	c->backend_data = NULL;
}

static const struct st_blob_ops local_blob_ops = {
	.head = local_head,
	.get = local_get,
	.read = local_read,
	.get_fd = local_get_fd,
	.put_begin = local_put_begin,
	.write = local_write,
	.put_end = local_put_end,
	.del = local_delete,
	.list = local_list,
	.copy = local_copy,
	.presign = local_presign,
	.release = local_release,
};

/* Each kind's store goes to its own service (local.h). */
static int
local_open_any(const config_setting_t *conf, const struct st_store_env *env,
               void **out, char *err, size_t errlen)
{
	switch (env->kind) {
	case ST_KIND_QUEUE:
		return st_local_queue_open(conf, env, out, err, errlen);
	case ST_KIND_TABLE:
		return st_local_table_open(conf, env, out, err, errlen);
	default:
		return local_open(conf, env, out, err, errlen);
	}
}

static void
local_close_any(void *p)
{
	const struct local_kind *k = p;

	if (k == NULL)
		return;
	if (k->kind == ST_KIND_QUEUE)
		st_local_queue_close(p);
	else if (k->kind == ST_KIND_TABLE)
		st_local_table_close(p);
	else
		local_close(p);
}

/* Blob copies only: queue and table handles never reach it. */
const struct st_backend st_backend_local = {
	.version = ST_BACKEND_VERSION,
	.name = "local",
	.kinds = ST_KIND_BLOB | ST_KIND_QUEUE | ST_KIND_TABLE,
	.store_open = local_open_any,
	.store_close = local_close_any,
	.same_account = local_same_account,
	.blob = &local_blob_ops,
	.queue = &st_local_queue_ops,
	.table = &st_local_table_ops,
};
