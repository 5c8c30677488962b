/*
 * blob.c - blob names, listings, and the commands that are one request
 * per blob: ls, cat, stat, rm, presign. (cp, which moves bytes, is cp.c.)
 *
 * A blob is named STORE/KEY on the command line, optionally written
 * stratus://STORE/KEY; a key ending in '/' names a folder (a prefix).
 * Keys are percent-encoded into the request path here, once. A listing is
 * paged through 1000 keys at a time: each page is parsed, handed entry by
 * entry to a callback (print, delete, copy, download), and freed before
 * the next is asked for, so that memory does not grow with the store.
 * cat streams each blob to standard output as it arrives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "client/client.h"

/* ------------------------------------------------------------ names */

static int
store_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (i > 0 && (c == '_' || c == '-'));
		if (!ok)
			return 0;
	}
	return 1;
}

int
parse_loc(const char *arg, struct loc *l, int quiet)
{
	const char *s = arg, *slash;
	size_t n;

	if (strncmp(s, "stratus://", 10) == 0)
		s += 10;
	slash = strchr(s, '/');
	n = slash ? (size_t)(slash - s) : strlen(s);
	if (!store_name_ok(s, n)) {
		if (!quiet)
			usage_error("'%s' is not STORE/KEY (a store name is "
			    "[a-z0-9][a-z0-9_-]*)", arg);
		return -1;
	}
	memcpy(l->store, s, n);
	l->store[n] = '\0';
	l->key = slash ? slash + 1 : "";
	return 0;
}

int
blob_path(char *out, size_t cap, const char *store, const char *key)
{
	snprintf(out, cap, "/v1/blobs/%s/", store);
	if (url_encode(out, cap, key, 1) < 0) {
		fprintf(stderr, "stratus: the key is too long\n");
		return -1;
	}
	return 0;
}

const char *
base_name(const char *s)
{
	const char *slash = strrchr(s, '/');
	return slash ? slash + 1 : s;
}

void
folder(char *out, size_t cap, const char *key)
{
	size_t n = strlen(key);
	snprintf(out, cap, "%s%s", key, n && key[n - 1] != '/' ? "/" : "");
}

/* ------------------------------------------------------------ listing */

int
list_blobs(const char *store, const char *prefix, int delimit, item_fn on_item,
    prefix_fn on_prefix, void *ctx)
{
	char *cursor = NULL;
	int rc = EXIT_OK;

	do {
		char path[PATH_CAP];
		struct req q = { "GET", path, { NULL }, NULL, -1, NULL };
		yajl_val v, items, prefixes;
		const char *next;
		size_t i;

		snprintf(path, sizeof(path), "/v1/blobs/%s?prefix=", store);
		if (url_encode(path, sizeof(path), prefix, 0) < 0 ||
		    (delimit && str_append(path, sizeof(path),
		    "&delimiter=%2F") < 0) ||
		    (cursor && (str_append(path, sizeof(path), "&cursor=") < 0 ||
		    url_encode(path, sizeof(path), cursor, 0) < 0))) {
			fprintf(stderr, "stratus: the prefix is too long\n");
			rc = EXIT_USAGE;
			break;
		}
		free(cursor);
		cursor = NULL;
		if ((rc = http_json(&q, &v)) != EXIT_OK)
			break;
		prefixes = json_get(v, "prefixes", yajl_t_array);
		items = json_get(v, "items", yajl_t_array);
		for (i = 0; on_prefix && prefixes && rc == EXIT_OK &&
		    i < prefixes->u.array.len; i++) {
			yajl_val p = prefixes->u.array.values[i];
			if (YAJL_IS_STRING(p))
				rc = on_prefix(ctx, YAJL_GET_STRING(p));
		}
		for (i = 0; items && rc == EXIT_OK && i < items->u.array.len;
		    i++) {
			if (interrupted)
				rc = EXIT_INTERRUPTED;
			else
				rc = on_item(ctx, store, items->u.array.values[i]);
		}
		next = json_str(v, "next_cursor");
		if (rc == EXIT_OK && next && (cursor = strdup(next)) == NULL)
			rc = EXIT_OTHER;
		yajl_tree_free(v);
	} while (rc == EXIT_OK && cursor);
	free(cursor);
	return rc;
}

/* ------------------------------------------------------------ ls */

static int
print_item(void *ctx, const char *store, yajl_val item)
{
	const char *key = json_str(item, "key");

	if (key == NULL)
		return EXIT_OK;
	if (cli.json) {
		json_print(item);
		return EXIT_OK;
	}
	printf("%12lld  %-20s  %s\n", json_int(item, "size", 0),
	    json_str(item, "last_modified") ? json_str(item, "last_modified") :
	    "-", key);
	return EXIT_OK;
}

static int
print_prefix(void *ctx, const char *prefix)
{
	if (cli.json) {
		void *g = jgen_new();
		jstr(g, "prefix", prefix);
		json_print_gen(g);
	} else {
		printf("%12s  %-20s  %s\n", "DIR", "", prefix);
	}
	return EXIT_OK;
}

static int
list_stores(void)
{
	struct req q = { "GET", "/v1/stores", { NULL }, NULL, -1, NULL };
	yajl_val v, stores;
	size_t i, j;
	int rc;

	if ((rc = http_json(&q, &v)) != EXIT_OK)
		return rc;
	stores = json_get(v, "stores", yajl_t_array);
	for (i = 0; stores && i < stores->u.array.len; i++) {
		yajl_val s = stores->u.array.values[i], rights;
		if (cli.json) {
			json_print(s);
			continue;
		}
		printf("%-24s %-6s %-10s", json_str(s, "name") ?
		    json_str(s, "name") : "?", json_str(s, "kind") ?
		    json_str(s, "kind") : "?", json_str(s, "provider") ?
		    json_str(s, "provider") : "?");
		rights = json_get(s, "rights", yajl_t_array);
		for (j = 0; rights && j < rights->u.array.len; j++)
			if (YAJL_IS_STRING(rights->u.array.values[j]))
				printf("%s%s", j ? "," : " ",
				    YAJL_GET_STRING(rights->u.array.values[j]));
		putchar('\n');
	}
	yajl_tree_free(v);
	return EXIT_OK;
}

static int recursive;

static int
opt_recursive(int c, const char *arg)
{
	if (c == 'r') {
		recursive = 1;
		return 0;
	}
	return -1;
}

static const struct option recursive_options[] = {
	{ "recursive", no_argument, NULL, 'r' },
	{ NULL, 0, NULL, 0 }
};

int
cmd_ls(int argc, char **argv)
{
	struct loc l;
	int i = parse_options(argc, argv, "r", recursive_options, opt_recursive);

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i > 1) {
		usage_error("ls takes one STORE[/PREFIX]");
		return EXIT_USAGE;
	}
	if (i == argc)
		return list_stores();
	if (parse_loc(argv[i], &l, 0) < 0)
		return EXIT_USAGE;
	return list_blobs(l.store, l.key, !recursive, print_item, print_prefix,
	    NULL);
}

/* ------------------------------------------------------------ cat */

int
cmd_cat(int argc, char **argv)
{
	int i = parse_options(argc, argv, "", NULL, NULL), rc = EXIT_OK;

	if (i < 0)
		return EXIT_USAGE;
	if (i == argc) {
		usage_error("cat needs STORE/KEY");
		return EXIT_USAGE;
	}
	for (; i < argc && rc == EXIT_OK; i++) {
		char path[PATH_CAP];
		struct req q = { "GET", path, { NULL }, NULL, STDOUT_FILENO, NULL };
		struct resp r;
		struct loc l;

		if (parse_loc(argv[i], &l, 0) < 0 || !*l.key) {
			if (!*l.key)
				usage_error("'%s': cat needs a key", argv[i]);
			return EXIT_USAGE;
		}
		if (blob_path(path, sizeof(path), l.store, l.key) < 0)
			return EXIT_USAGE;
		fflush(stdout);
		rc = http_do(&q, &r, 0);
		resp_free(&r);
	}
	return rc;
}

/* ------------------------------------------------------------ stat */

int
cmd_stat(int argc, char **argv)
{
	int i = parse_options(argc, argv, "", NULL, NULL), rc;
	char path[PATH_CAP];
	struct req q = { "HEAD", path, { NULL }, NULL, -1, NULL };
	struct resp r;
	struct loc l;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 1 || parse_loc(argv[i], &l, 0) < 0 || !*l.key) {
		usage_error("stat takes one STORE/KEY");
		return EXIT_USAGE;
	}
	if (blob_path(path, sizeof(path), l.store, l.key) < 0)
		return EXIT_USAGE;
	if ((rc = http_do(&q, &r, 0)) != EXIT_OK) {
		resp_free(&r);
		return rc;
	}
	if (cli.json) {
		yajl_gen g = jgen_new();
		char *line, *save = NULL;

		jstr(g, "store", l.store);
		jstr(g, "key", l.key);
		jint(g, "size", r.content_length);
		jstr(g, "content_type", r.content_type);
		jstr(g, "etag", r.etag);
		jstr(g, "last_modified", r.last_modified);
		yajl_gen_string(g, (const unsigned char *)"metadata", 8);
		yajl_gen_map_open(g);
		for (line = strtok_r(r.meta, "\n", &save); line;
		    line = strtok_r(NULL, "\n", &save)) {
			char *v = strstr(line, ": ");
			if (v == NULL)
				continue;
			*v = '\0';
			jstr(g, line, v + 2);
		}
		yajl_gen_map_close(g);
		json_print_gen(g);
	} else {
		printf("store:         %s\nkey:           %s\n"
		    "size:          %lld\ncontent-type:  %s\n"
		    "etag:          %s\nlast-modified: %s\n", l.store, l.key,
		    r.content_length, r.content_type, r.etag, r.last_modified);
		if (r.meta_len) {
			char *line, *save = NULL;
			for (line = strtok_r(r.meta, "\n", &save); line;
			    line = strtok_r(NULL, "\n", &save))
				printf("meta:          %s\n", line);
		}
	}
	resp_free(&r);
	return EXIT_OK;
}

/* ------------------------------------------------------------ rm */

static int
delete_one(const char *store, const char *key)
{
	char path[PATH_CAP];
	struct req q = { "DELETE", path, { NULL }, NULL, -1, NULL };
	struct resp r;
	int rc;

	if (blob_path(path, sizeof(path), store, key) < 0)
		return EXIT_USAGE;
	rc = http_do(&q, &r, 0);
	resp_free(&r);
	if (rc == EXIT_OK && cli.json) {
		void *g = jgen_new();
		jstr(g, "store", store);
		jstr(g, "key", key);
		jstr(g, "deleted", "ok");
		json_print_gen(g);
	}
	return rc;
}

static int
delete_item(void *ctx, const char *store, yajl_val item)
{
	const char *key = json_str(item, "key");
	return key ? delete_one(store, key) : EXIT_OK;
}

int
cmd_rm(int argc, char **argv)
{
	int i = parse_options(argc, argv, "r", recursive_options, opt_recursive);
	int rc = EXIT_OK;

	if (i < 0)
		return EXIT_USAGE;
	if (i == argc) {
		usage_error("rm needs STORE/KEY");
		return EXIT_USAGE;
	}
	for (; i < argc && rc == EXIT_OK; i++) {
		struct loc l;
		char prefix[2048];

		if (parse_loc(argv[i], &l, 0) < 0)
			return EXIT_USAGE;
		if (!recursive) {
			if (!*l.key) {
				usage_error("'%s': rm needs a key (rm -r "
				    "STORE/PREFIX for many)", argv[i]);
				return EXIT_USAGE;
			}
			rc = delete_one(l.store, l.key);
			continue;
		}
		folder(prefix, sizeof(prefix), l.key);
		rc = list_blobs(l.store, prefix, 0, delete_item, NULL, NULL);
		/* "rm -r store/a.txt" also removes the key a.txt itself. */
		if (rc == EXIT_OK && *l.key && l.key[strlen(l.key) - 1] != '/')
			rc = delete_one(l.store, l.key);
	}
	return rc;
}

/* ------------------------------------------------------------ presign */

static const char *presign_method = "GET";
static long presign_expires = 900;

static int
opt_presign(int c, const char *arg)
{
	switch (c) {
	case 'm':
		if (strcasecmp(arg, "GET") == 0)
			presign_method = "GET";
		else if (strcasecmp(arg, "PUT") == 0)
			presign_method = "PUT";
		else {
			usage_error("presign: the method is GET or PUT");
			return -1;
		}
		return 0;
	case 'e':
		return parse_seconds(arg, 1, 604800, &presign_expires);
	}
	return -1;
}

int
cmd_presign(int argc, char **argv)
{
	static const struct option own[] = {
		{ "method", required_argument, NULL, 'm' },
		{ "expires", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	int i = parse_options(argc, argv, "m:e:", own, opt_presign), rc;
	struct req q = { "POST", "/v1/presign", { "Content-Type: "
	    "application/json" }, NULL, -1, NULL };
	struct body b = { NULL, 0, -1, -1 };
	const unsigned char *json;
	struct loc l;
	yajl_gen g;
	yajl_val v, hdrs;
	size_t n, k;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 1 || parse_loc(argv[i], &l, 0) < 0 || !*l.key) {
		usage_error("presign takes one STORE/KEY");
		return EXIT_USAGE;
	}
	g = jgen_new();
	jstr(g, "store", l.store);
	jstr(g, "key", l.key);
	jstr(g, "method", presign_method);
	jint(g, "expires_in", presign_expires);
	yajl_gen_map_close(g);
	yajl_gen_get_buf(g, &json, &n);
	b.data = (const char *)json;
	b.data_len = n;
	q.body = &b;
	rc = http_json(&q, &v);
	yajl_gen_free(g);
	if (rc != EXIT_OK)
		return rc;
	if (cli.json) {
		json_print(v);
	} else {
		printf("%s\n", json_str(v, "url") ? json_str(v, "url") : "");
		hdrs = json_get(v, "headers", yajl_t_object);
		for (k = 0; hdrs && k < hdrs->u.object.len; k++)
			if (YAJL_IS_STRING(hdrs->u.object.values[k]))
				fprintf(stderr, "stratus: send with the URL: "
				    "%s: %s\n", hdrs->u.object.keys[k],
				    YAJL_GET_STRING(hdrs->u.object.values[k]));
	}
	yajl_tree_free(v);
	return EXIT_OK;
}

