/*
 * table.c - the table commands: create, put, get, rm, ls.
 *
 *   stratus table create TABLE
 *   stratus table put [--if-match ETAG | --if-none-match] TABLE PK RK [JSON|-]
 *   stratus table get TABLE PK RK
 *   stratus table rm [--if-match ETAG] TABLE PK RK
 *   stratus table ls [-p PREFIX] TABLE PK
 *
 * An entity is a flat JSON object of at most 400 KiB, read whole (from the
 * argument or standard input) and sent as it is: the daemon checks it.
 * get prints the entity's data (--json: the whole answer, with its ETag);
 * put prints the new ETag, which --if-match takes back for optimistic
 * concurrency (a stale one: exit status 4). ls pages through a partition.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "client/client.h"

#define ENTITY_MAX (400 * 1024)

static int
table_path(char *out, size_t cap, const char *table, const char *pk,
    const char *rk)
{
	snprintf(out, cap, "/v1/tables/");
	if (url_encode(out, cap, table, 0) < 0)
		goto long_;
	if (pk && (str_append(out, cap, "/") < 0 ||
	    url_encode(out, cap, pk, 0) < 0))
		goto long_;
	if (rk && (str_append(out, cap, "/") < 0 ||
	    url_encode(out, cap, rk, 0) < 0))
		goto long_;
	return 0;
long_:
	usage_error("the table name or keys are too long");
	return -1;
}

static const char *if_match;
static int if_none_match;
static char if_match_buf[300];
static const char *list_prefix = "";

static int
opt_table(int c, const char *arg)
{
	switch (c) {
	case 'i':
		/* ETags are quoted; accept one whose quotes the shell ate. */
		if (strpbrk(arg, "\r\n") || strlen(arg) > 256) {
			usage_error("--if-match: a bad ETag");
			return -1;
		}
		snprintf(if_match_buf, sizeof(if_match_buf), "If-Match: %s%s%s",
		    arg[0] == '"' || strcmp(arg, "*") == 0 ? "" : "\"", arg,
		    arg[0] == '"' || strcmp(arg, "*") == 0 ? "" : "\"");
		if_match = if_match_buf;
		return 0;
	case 'N':
		if_none_match = 1;
		return 0;
	case 'p':
		list_prefix = arg;
		return 0;
	}
	return -1;
}

static const struct option table_options[] = {
	{ "if-match", required_argument, NULL, 'i' },
	{ "if-none-match", no_argument, NULL, 'N' },
	{ "prefix", required_argument, NULL, 'p' },
	{ NULL, 0, NULL, 0 }
};

static int
args(int argc, char **argv, int want, const char *what)
{
	int i = parse_options(argc, argv, "p:", table_options, opt_table);

	if (i < 0)
		return -1;
	if (argc - i != want && !(want == 4 && argc - i == 3 &&
	    strcmp(argv[0], "put") == 0)) {
		usage_error("table %s takes %s", argv[0], what);
		return -1;
	}
	return i;
}

static int
print_answer(const struct resp *r, int data_only)
{
	yajl_val v = json_answer(r), d;

	if (v == NULL)
		return EXIT_OTHER;
	if (cli.json || !data_only) {
		json_print(v);
	} else if ((d = json_get(v, "data", yajl_t_object)) != NULL) {
		/* Pretty, for a person. */
		yajl_gen g = yajl_gen_alloc(NULL);
		const unsigned char *out;
		size_t n, k;

		yajl_gen_config(g, yajl_gen_beautify, 1);
		yajl_gen_map_open(g);
		for (k = 0; k < d->u.object.len; k++)
			jval(g, d->u.object.keys[k], d->u.object.values[k]);
		yajl_gen_map_close(g);
		yajl_gen_get_buf(g, &out, &n);
		fwrite(out, 1, n, stdout);
		yajl_gen_free(g);
	}
	yajl_tree_free(v);
	return EXIT_OK;
}

static int
table_create(int argc, char **argv)
{
	char path[PATH_CAP];
	struct req q = { "PUT", path, { NULL }, NULL, -1, NULL };
	struct resp r;
	int i = args(argc, argv, 1, "one TABLE"), rc;

	if (i < 0 || table_path(path, sizeof(path), argv[i], NULL, NULL) < 0)
		return EXIT_USAGE;
	rc = http_do(&q, &r, 0);
	if (rc == EXIT_OK) {
		if (cli.json) {
			void *g = jgen_new();
			jstr(g, "table", argv[i]);
			jstr(g, "created", r.status == 201 ? "yes" : "existed");
			json_print_gen(g);
		} else {
			printf("table %s %s\n", argv[i], r.status == 201 ?
			    "created" : "already exists");
		}
	}
	resp_free(&r);
	return rc;
}

static int
table_put(int argc, char **argv)
{
	char path[PATH_CAP];
	struct req q = { "PUT", path, { "Content-Type: application/json" },
	    NULL, -1, NULL };
	struct body b = { NULL, 0, -1, -1 };
	struct resp r;
	char *text = NULL;
	int i = args(argc, argv, 4, "TABLE PK RK and a JSON object (or '-')");
	int rc;

	if (i < 0 || table_path(path, sizeof(path), argv[i], argv[i + 1],
	    argv[i + 2]) < 0)
		return EXIT_USAGE;
	if (if_match && if_none_match) {
		usage_error("table put: --if-match or --if-none-match, not both");
		return EXIT_USAGE;
	}
	if (argc - i == 4 && strcmp(argv[i + 3], "-") != 0) {
		b.data = argv[i + 3];
		b.data_len = strlen(argv[i + 3]);
	} else {
		text = read_small(STDIN_FILENO, ENTITY_MAX + 1, &b.data_len,
		    "the entity");
		if (text == NULL)
			return interrupted ? EXIT_INTERRUPTED : EXIT_USAGE;
		b.data = text;
	}
	q.body = &b;
	if (if_match)
		q.headers[1] = if_match;
	else if (if_none_match)
		q.headers[1] = "If-None-Match: *";
	rc = http_do(&q, &r, 0);
	free(text);
	if (rc == EXIT_OK) {
		if (cli.json)
			rc = print_answer(&r, 0);
		else
			printf("%s\n", r.etag);
	}
	resp_free(&r);
	return rc;
}

static int
table_get(int argc, char **argv)
{
	char path[PATH_CAP];
	struct req q = { "GET", path, { NULL }, NULL, -1, NULL };
	struct resp r;
	int i = args(argc, argv, 3, "TABLE PK RK"), rc;

	if (i < 0 || table_path(path, sizeof(path), argv[i], argv[i + 1],
	    argv[i + 2]) < 0)
		return EXIT_USAGE;
	rc = http_do(&q, &r, 0);
	if (rc == EXIT_OK)
		rc = print_answer(&r, 1);
	resp_free(&r);
	return rc;
}

static int
table_rm(int argc, char **argv)
{
	char path[PATH_CAP];
	struct req q = { "DELETE", path, { NULL }, NULL, -1, NULL };
	struct resp r;
	int i = args(argc, argv, 3, "TABLE PK RK"), rc;

	if (i < 0 || table_path(path, sizeof(path), argv[i], argv[i + 1],
	    argv[i + 2]) < 0)
		return EXIT_USAGE;
	q.headers[0] = if_match;
	rc = http_do(&q, &r, 0);
	resp_free(&r);
	if (rc == EXIT_OK && cli.json) {
		void *g = jgen_new();
		jstr(g, "table", argv[i]);
		jstr(g, "pk", argv[i + 1]);
		jstr(g, "rk", argv[i + 2]);
		jstr(g, "deleted", "ok");
		json_print_gen(g);
	}
	return rc;
}

/* /v1/tables/T/PK?prefix=P[&cursor=C] */
static int
list_path(char *out, size_t cap, const char *table, const char *pk,
    const char *cursor)
{
	if (table_path(out, cap, table, pk, NULL) < 0)
		return -1;
	if (str_append(out, cap, "?prefix=") < 0 ||
	    url_encode(out, cap, list_prefix, 0) < 0 ||
	    (cursor && (str_append(out, cap, "&cursor=") < 0 ||
	    url_encode(out, cap, cursor, 0) < 0)))
		goto long_;
	return 0;
long_:
	fprintf(stderr, "stratus: the prefix or cursor is too long\n");
	return -1;
}

static int
table_ls(int argc, char **argv)
{
	char path[PATH_CAP], *cursor = NULL;
	int i = args(argc, argv, 2, "TABLE PK"), rc = EXIT_OK;

	if (i < 0)
		return EXIT_USAGE;
	do {
		struct req q = { "GET", path, { NULL }, NULL, -1, NULL };
		struct resp r;
		yajl_val v, items;
		const char *next;
		size_t k;

		if (list_path(path, sizeof(path), argv[i], argv[i + 1],
		    cursor) < 0) {
			rc = EXIT_USAGE;
			break;
		}
		free(cursor);
		cursor = NULL;
		rc = http_do(&q, &r, 0);
		v = rc == EXIT_OK ? json_answer(&r) : NULL;
		resp_free(&r);
		if (rc != EXIT_OK || v == NULL) {
			rc = rc != EXIT_OK ? rc : EXIT_OTHER;
			break;
		}
		items = json_get(v, "items", yajl_t_array);
		for (k = 0; items && k < items->u.array.len; k++) {
			yajl_val it = items->u.array.values[k];
			if (cli.json) {
				json_print(it);
			} else {
				printf("%s\t", json_str(it, "rk") ?
				    json_str(it, "rk") : "");
				json_print(json_get(it, "data", yajl_t_object));
			}
		}
		next = json_str(v, "next_cursor");
		if (next && (cursor = strdup(next)) == NULL)
			rc = EXIT_OTHER;
		yajl_tree_free(v);
	} while (rc == EXIT_OK && cursor && !interrupted);
	free(cursor);
	return interrupted ? EXIT_INTERRUPTED : rc;
}

int
cmd_table(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} sub[] = {
		{ "create", table_create }, { "put", table_put },
		{ "get", table_get }, { "rm", table_rm }, { "ls", table_ls },
	};
	size_t i;

	if (argc < 2) {
		usage_error("table needs create, put, get, rm or ls");
		return EXIT_USAGE;
	}
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		if (strcmp(argv[1], sub[i].name) == 0)
			return sub[i].fn(argc - 1, argv + 1);
	usage_error("no table command '%s'", argv[1]);
	return EXIT_USAGE;
}
