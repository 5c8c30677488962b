/*
 * cp.c - stratus cp: file -> blob, blob -> file, blob -> blob.
 *
 * cp takes local files and '-' as well as blobs, and tells them apart so:
 *
 *   -                             standard input or output
 *   stratus://STORE[/KEY]         a blob (or a prefix, ending in '/')
 *   /..., ./..., ../..., ~...     a local file
 *   STORE[/KEY]                   a blob when STORE is a blob store the
 *                                 token can see (GET /v1/stores) and no
 *                                 local file by that first segment exists;
 *                                 a local file when it is no store; an
 *                                 error when it could be both
 *
 * Transfers stream: an upload reads its source through libcurl's read
 * callback (a regular file with its length, anything else chunked), a
 * download writes each piece as it arrives. A download into a file goes to
 * a temporary file beside it that is renamed over the target only once the
 * whole body arrived, so an interrupted or failed download leaves the old
 * file alone. A blob -> blob copy is done by the daemon (X-Copy-Source): no
 * bytes pass through here. With -r, a local folder is walked in name
 * order, a blob prefix is listed page by page (list_blobs), and each entry
 * is copied in turn; the first failure stops the walk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"

static int recursive;

enum end_kind { END_STDIO, END_FILE, END_STORE };

struct end {
	enum end_kind kind;
	const char *arg;	/* the file path, as given */
	struct loc loc;		/* END_STORE */
};

static struct {
	const char *content_type;
	const char *meta[6];	/* "X-Meta-name: value" */
	char meta_buf[6][2200];
	int nmeta;
	int no_clobber;
} put;

/* The blob stores the token sees: asked once, for telling names apart. */
static yajl_val known_stores;
static int stores_asked;

static int
is_blob_store(const char *name, int *rc)
{
	yajl_val list;
	size_t i;

	if (!stores_asked) {
		struct req q = { "GET", "/v1/stores", { NULL }, NULL, -1, NULL };
		struct resp r;

		stores_asked = 1;
		*rc = http_do(&q, &r, 0);
		if (*rc == EXIT_OK && (known_stores = json_answer(&r)) == NULL)
			*rc = EXIT_OTHER;
		resp_free(&r);
		if (*rc != EXIT_OK)
			return 0;
	}
	list = json_get(known_stores, "stores", yajl_t_array);
	for (i = 0; list && i < list->u.array.len; i++) {
		const char *n = json_str(list->u.array.values[i], "name");
		const char *k = json_str(list->u.array.values[i], "kind");
		if (n && k && strcmp(n, name) == 0 && strcmp(k, "blob") == 0)
			return 1;
	}
	return 0;
}

static int
classify(const char *arg, struct end *e)
{
	struct stat st;
	char first[256];
	size_t n;
	int rc = EXIT_OK, store;

	memset(e, 0, sizeof(*e));
	e->arg = arg;
	if (strcmp(arg, "-") == 0) {
		e->kind = END_STDIO;
		return EXIT_OK;
	}
	if (strncmp(arg, "stratus://", 10) == 0) {
		e->kind = END_STORE;
		return parse_loc(arg, &e->loc, 0) < 0 ? EXIT_USAGE : EXIT_OK;
	}
	e->kind = END_FILE;
	if (arg[0] == '/' || arg[0] == '~' || strcmp(arg, ".") == 0 ||
	    strcmp(arg, "..") == 0 || strncmp(arg, "./", 2) == 0 ||
	    strncmp(arg, "../", 3) == 0 || parse_loc(arg, &e->loc, 1) < 0)
		return EXIT_OK;
	store = is_blob_store(e->loc.store, &rc);
	if (rc != EXIT_OK)
		return rc;
	if (!store)
		return EXIT_OK;
	n = strcspn(arg, "/");
	snprintf(first, sizeof(first), "%.*s", (int)n, arg);
	if (lstat(first, &st) == 0) {
		usage_error("'%s' is both a blob store and a local file here: "
		    "write stratus://%s or ./%s", arg, arg, arg);
		return EXIT_USAGE;
	}
	e->kind = END_STORE;
	return EXIT_OK;
}

/* The content type of a file by its extension, for the common ones (a
 * browser fetching a presigned URL cares); others are left to the
 * daemon's default, application/octet-stream. */
static const char *
guess_type(const char *name)
{
	static const struct {
		const char *ext, *header;
	} types[] = {
		{ "html", "Content-Type: text/html; charset=utf-8" },
		{ "htm", "Content-Type: text/html; charset=utf-8" },
		{ "css", "Content-Type: text/css; charset=utf-8" },
		{ "js", "Content-Type: text/javascript; charset=utf-8" },
		{ "json", "Content-Type: application/json" },
		{ "txt", "Content-Type: text/plain; charset=utf-8" },
		{ "md", "Content-Type: text/markdown; charset=utf-8" },
		{ "csv", "Content-Type: text/csv; charset=utf-8" },
		{ "xml", "Content-Type: application/xml" },
		{ "svg", "Content-Type: image/svg+xml" },
		{ "png", "Content-Type: image/png" },
		{ "jpg", "Content-Type: image/jpeg" },
		{ "jpeg", "Content-Type: image/jpeg" },
		{ "gif", "Content-Type: image/gif" },
		{ "webp", "Content-Type: image/webp" },
		{ "pdf", "Content-Type: application/pdf" },
		{ "zip", "Content-Type: application/zip" },
		{ "gz", "Content-Type: application/gzip" },
		{ "tar", "Content-Type: application/x-tar" },
		{ "wasm", "Content-Type: application/wasm" },
		{ "mp4", "Content-Type: video/mp4" },
	};
	const char *dot = strrchr(base_name(name), '.');
	size_t i;

	if (dot == NULL || dot[1] == '\0')
		return NULL;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot + 1, types[i].ext) == 0)
			return types[i].header;
	return NULL;
}

static void
add_put_headers(struct req *q, const char *key)
{
	int h = 0, i;
	const char *type = put.content_type ? put.content_type :
	    guess_type(key);

	while (q->headers[h])
		h++;
	if (type && h < 7)
		q->headers[h++] = type;
	if (put.no_clobber && h < 7)
		q->headers[h++] = "If-None-Match: *";
	for (i = 0; i < put.nmeta && h < 7; i++)
		q->headers[h++] = put.meta[i];
}

static void
print_put(const struct resp *r)
{
	yajl_val v;

	if (!cli.json)
		return;
	if ((v = json_answer(r)) != NULL) {
		json_print(v);
		yajl_tree_free(v);
	}
}

/* Uploads fd (a file, a pipe, stdin) to store/key. */
static int
upload_fd(int fd, const char *label, const char *store, const char *key)
{
	char path[PATH_CAP];
	struct req q = { "PUT", path, { NULL }, NULL, -1, NULL };
	struct body b = { NULL, 0, fd, -1 };
	struct resp r;
	struct stat st;
	int rc;

	if (!*key || key[strlen(key) - 1] == '/') {
		usage_error("'%s': give the blob a key", label);
		return EXIT_USAGE;
	}
	if (blob_path(path, sizeof(path), store, key) < 0)
		return EXIT_USAGE;
	/* A regular file has a length: sent with Content-Length (from where
	 * stdin stands). Pipes and devices are sent chunked. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t at = lseek(fd, 0, SEEK_CUR);
		b.len = (long long)st.st_size - (at > 0 ? (long long)at : 0);
		if (b.len < 0)
			b.len = 0;
	}
	q.body = &b;
	add_put_headers(&q, key);
	q.progress = progress_new(key, b.len);	/* its last segment */
	rc = http_do(&q, &r, 0);
	progress_end(q.progress, rc == EXIT_OK);
	if (rc == EXIT_OK)
		print_put(&r);
	resp_free(&r);
	return rc;
}

static int
upload_file(const char *file, const char *store, const char *key)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		fprintf(stderr, "stratus: cannot open %s: %s\n", file,
		    strerror(errno));
		return EXIT_NOTFOUND;
	}
	rc = upload_fd(fd, file, store, key);
	close(fd);
	return rc;
}

/* Uploads every regular file under dir, in name order, as prefix + the
 * path below dir. Symbolic links to files are followed, to directories
 * not (no loops). */
static int
upload_tree(const char *dir, const char *store, const char *prefix)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort), i, rc = EXIT_OK;

	if (n < 0) {
		fprintf(stderr, "stratus: cannot read %s: %s\n", dir,
		    strerror(errno));
		return EXIT_OTHER;
	}
	for (i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char file[PATH_MAX], key[2048];
		struct stat st, lst;

		if (rc != EXIT_OK || strcmp(name, ".") == 0 ||
		    strcmp(name, "..") == 0)
			continue;
		if (interrupted) {
			rc = EXIT_INTERRUPTED;
			continue;
		}
		if ((size_t)snprintf(file, sizeof(file), "%s/%s", dir, name) >=
		    sizeof(file) || (size_t)snprintf(key, sizeof(key), "%s%s",
		    prefix, name) >= sizeof(key)) {
			fprintf(stderr, "stratus: %s/%s: name too long\n", dir,
			    name);
			rc = EXIT_USAGE;
			continue;
		}
		if (stat(file, &st) < 0 || lstat(file, &lst) < 0)
			continue;	/* gone, or a dangling link */
		if (S_ISDIR(st.st_mode) && S_ISDIR(lst.st_mode)) {
			if (str_append(key, sizeof(key), "/") < 0) {
				fprintf(stderr, "stratus: %s: name too long\n",
				    file);
				rc = EXIT_USAGE;
				continue;
			}
			rc = upload_tree(file, store, key);
		} else if (S_ISREG(st.st_mode)) {
			rc = upload_file(file, store, key);
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* Downloads store/key into fd. */
static int
download_fd(int fd, const char *label, const char *store, const char *key)
{
	char path[PATH_CAP];
	struct req q = { "GET", path, { NULL }, NULL, fd, NULL };
	struct resp r;
	int rc;

	if (blob_path(path, sizeof(path), store, key) < 0)
		return EXIT_USAGE;
	q.progress = fd != STDOUT_FILENO || !isatty(STDOUT_FILENO) ?
	    progress_new(label, -1) : NULL;
	rc = http_do(&q, &r, 0);
	progress_end(q.progress, rc == EXIT_OK);
	resp_free(&r);
	return rc;
}

static int
make_parents(const char *file)
{
	char dir[PATH_MAX];
	char *p;

	snprintf(dir, sizeof(dir), "%s", file);
	for (p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
			fprintf(stderr, "stratus: cannot make %s: %s\n", dir,
			    strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return 0;
}

/* Downloads store/key into the file `file`, through a temporary file
 * beside it that replaces it only when complete. */
static int
download_file(const char *store, const char *key, const char *file)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(file, '/');
	struct stat st;
	mode_t mask;
	int fd, rc;

	if (stat(file, &st) == 0 && !S_ISREG(st.st_mode)) {
		/* /dev/null, a FIFO, a terminal: written to as it is. */
		if ((fd = open(file, O_WRONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "stratus: cannot open %s: %s\n", file,
			    strerror(errno));
			return EXIT_OTHER;
		}
		rc = download_fd(fd, key, store, key);
		close(fd);
		return rc;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%.*s.%s.stratus-XXXXXX",
	    slash ? (int)(slash - file + 1) : 0, file,
	    slash ? slash + 1 : file) >= sizeof(tmp)) {
		fprintf(stderr, "stratus: %s: name too long\n", file);
		return EXIT_USAGE;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		fprintf(stderr, "stratus: cannot write in the folder of %s: %s\n",
		    file, strerror(errno));
		return EXIT_OTHER;
	}
	mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask);
	rc = download_fd(fd, key, store, key);
	if (close(fd) < 0 && rc == EXIT_OK) {
		fprintf(stderr, "stratus: cannot write %s: %s\n", file,
		    strerror(errno));
		rc = EXIT_OTHER;
	}
	if (rc == EXIT_OK && rename(tmp, file) < 0) {
		fprintf(stderr, "stratus: cannot rename into %s: %s\n", file,
		    strerror(errno));
		rc = EXIT_OTHER;
	}
	if (rc != EXIT_OK)
		unlink(tmp);
	else if (cli.json) {
		void *g = jgen_new();
		jstr(g, "store", store);
		jstr(g, "key", key);
		jstr(g, "file", file);
		json_print_gen(g);
	}
	return rc;
}

/* A key turned into a relative path: refused when a segment would climb
 * out of the target folder (the daemon refuses such keys too). */
static int
safe_relative(const char *rel)
{
	const char *s = rel;

	if (*s == '\0' || *s == '/')
		return 0;
	while (*s) {
		size_t n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n;
		if (*s == '/')
			s++;
	}
	return 1;
}

struct tree_ctx {
	const char *prefix;	/* of the source keys */
	const char *target;	/* folder, or destination store's prefix */
	const char *to_store;	/* store -> store: the destination store */
};

static int copy_blob(const char *from_store, const char *from_key,
    const char *to_store, const char *to_key);

static int
tree_item(void *arg, const char *store, yajl_val item)
{
	struct tree_ctx *t = arg;
	const char *key = json_str(item, "key"), *rel;
	char dst[PATH_MAX];

	if (key == NULL || strncmp(key, t->prefix, strlen(t->prefix)) != 0)
		return EXIT_OK;
	rel = key + strlen(t->prefix);
	if (t->to_store) {
		snprintf(dst, sizeof(dst), "%s%s", t->target, rel);
		return copy_blob(store, key, t->to_store, dst);
	}
	if (!safe_relative(rel)) {
		fprintf(stderr, "stratus: skipped '%s': not a safe file name\n",
		    key);
		return EXIT_OK;
	}
	if ((size_t)snprintf(dst, sizeof(dst), "%s/%s", t->target, rel) >=
	    sizeof(dst)) {
		fprintf(stderr, "stratus: '%s': name too long\n", key);
		return EXIT_USAGE;
	}
	if (make_parents(dst) < 0)
		return EXIT_OTHER;
	return download_file(store, key, dst);
}

static int
copy_blob(const char *from_store, const char *from_key, const char *to_store,
    const char *to_key)
{
	char path[PATH_CAP], source[PATH_CAP];
	struct req q = { "PUT", path, { source }, NULL, -1, NULL };
	struct resp r;
	int rc;

	if (blob_path(path, sizeof(path), to_store, to_key) < 0)
		return EXIT_USAGE;
	snprintf(source, sizeof(source), "X-Copy-Source: %s/", from_store);
	if (url_encode(source, sizeof(source), from_key, 1) < 0)
		return EXIT_USAGE;
	if (put.no_clobber)
		q.headers[1] = "If-None-Match: *";
	rc = http_do(&q, &r, 0);
	if (rc == EXIT_OK)
		print_put(&r);
	resp_free(&r);
	return rc;
}

static int
opt_cp(int c, const char *arg)
{
	switch (c) {
	case 'r':
		recursive = 1;
		return 0;
	case 't': {
		static char ct[320];
		if ((size_t)snprintf(ct, sizeof(ct), "Content-Type: %s", arg) >=
		    sizeof(ct) || strpbrk(arg, "\r\n")) {
			usage_error("cp: a bad content type");
			return -1;
		}
		put.content_type = ct;
		return 0;
	}
	case 'm': {
		const char *eq = strchr(arg, '=');
		int n = put.nmeta;
		if (eq == NULL || eq == arg || n >= 6 || strlen(arg) > 2100 ||
		    strspn(arg, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
		    (size_t)(eq - arg) || strpbrk(eq, "\r\n")) {
			usage_error("cp: --meta NAME=VALUE, NAME of "
			    "[A-Za-z0-9_-], at most 6");
			return -1;
		}
		snprintf(put.meta_buf[n], sizeof(put.meta_buf[n]),
		    "X-Meta-%.*s: %s", (int)(eq - arg), arg, eq + 1);
		put.meta[put.nmeta++] = put.meta_buf[n];
		return 0;
	}
	case 'n':
		put.no_clobber = 1;
		return 0;
	}
	return -1;
}

int
cmd_cp(int argc, char **argv)
{
	static const struct option own[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ "content-type", required_argument, NULL, 't' },
		{ "meta", required_argument, NULL, 'm' },
		{ "no-clobber", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	int i = parse_options(argc, argv, "rt:m:n", own, opt_cp), rc;
	struct end src, dst;
	struct stat st;
	char key[2048], file[PATH_MAX];

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 2) {
		usage_error("cp takes SOURCE and TARGET");
		return EXIT_USAGE;
	}
	if ((rc = classify(argv[i], &src)) != EXIT_OK ||
	    (rc = classify(argv[i + 1], &dst)) != EXIT_OK)
		goto out;
	rc = EXIT_USAGE;
	if (src.kind != END_STORE && dst.kind != END_STORE) {
		struct stat ls;
		/* Most likely a store name mistyped: say which. */
		if (src.kind == END_FILE && lstat(src.arg, &ls) < 0 &&
		    parse_loc(src.arg, &src.loc, 1) == 0) {
			fprintf(stderr, "stratus: cp: '%s': no such file, and no "
			    "blob store '%s' (stratus ls lists them)\n",
			    src.arg, src.loc.store);
			rc = EXIT_NOTFOUND;
			goto out;
		}
		usage_error("cp: one side must be a blob (STORE/KEY); "
		    "'%s' and '%s' are local", src.arg, dst.arg);
		goto out;
	}
	if (recursive && (src.kind == END_STDIO || dst.kind == END_STDIO)) {
		usage_error("cp -r: '-' cannot be a folder");
		goto out;
	}

	if (dst.kind == END_STORE && src.kind != END_STORE) {
		/* file or stdin -> store */
		const char *k = dst.loc.key;
		if (recursive) {
			if (stat(src.arg, &st) < 0 || !S_ISDIR(st.st_mode)) {
				usage_error("cp -r: '%s' is not a folder", src.arg);
				goto out;
			}
			folder(key, sizeof(key), k);
			rc = upload_tree(src.arg, dst.loc.store, key);
			goto out;
		}
		if (src.kind == END_STDIO) {
			rc = upload_fd(STDIN_FILENO, "stdin", dst.loc.store, k);
			goto out;
		}
		if (stat(src.arg, &st) == 0 && S_ISDIR(st.st_mode)) {
			usage_error("cp: '%s' is a folder (cp -r)", src.arg);
			goto out;
		}
		if (!*k || k[strlen(k) - 1] == '/') {
			snprintf(key, sizeof(key), "%s%s", k, base_name(src.arg));
			k = key;
		}
		rc = upload_file(src.arg, dst.loc.store, k);
		goto out;
	}

	if (src.kind == END_STORE && dst.kind != END_STORE) {
		/* store -> file or stdout */
		const char *f = dst.arg;
		if (recursive) {
			struct tree_ctx t = { key, dst.arg, NULL };
			folder(key, sizeof(key), src.loc.key);
			if (mkdir(dst.arg, 0777) < 0 && errno != EEXIST) {
				fprintf(stderr, "stratus: cannot make %s: %s\n",
				    dst.arg, strerror(errno));
				rc = EXIT_OTHER;
				goto out;
			}
			rc = list_blobs(src.loc.store, key, 0, tree_item, NULL,
			    &t);
			goto out;
		}
		if (!*src.loc.key) {
			usage_error("cp: '%s' needs a key (or cp -r)", src.arg);
			goto out;
		}
		if (dst.kind == END_STDIO) {
			rc = download_fd(STDOUT_FILENO, src.loc.key,
			    src.loc.store, src.loc.key);
			goto out;
		}
		if ((stat(f, &st) == 0 && S_ISDIR(st.st_mode)) ||
		    f[strlen(f) - 1] == '/') {
			snprintf(file, sizeof(file), "%s%s%s", f,
			    f[strlen(f) - 1] == '/' ? "" : "/",
			    base_name(src.loc.key));
			f = file;
		}
		rc = download_file(src.loc.store, src.loc.key, f);
		goto out;
	}

	/* store -> store: a copy by the daemon, no bytes through here */
	if (recursive) {
		char from[2048];
		struct tree_ctx t = { from, key, dst.loc.store };
		folder(from, sizeof(from), src.loc.key);
		folder(key, sizeof(key), dst.loc.key);
		rc = list_blobs(src.loc.store, from, 0, tree_item, NULL, &t);
		goto out;
	}
	if (!*src.loc.key) {
		usage_error("cp: '%s' needs a key (or cp -r)", src.arg);
		goto out;
	}
	{
		const char *k = dst.loc.key;
		if (!*k || k[strlen(k) - 1] == '/') {
			snprintf(key, sizeof(key), "%s%s", k,
			    base_name(src.loc.key));
			k = key;
		}
		rc = copy_blob(src.loc.store, src.loc.key, dst.loc.store, k);
	}
out:
	yajl_tree_free(known_stores);
	known_stores = NULL;
	return rc;
}
