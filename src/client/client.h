/*
 * client.h - what the parts of the `stratus` command line share.
 *
 * The client is a plain libcurl program: one easy handle per request, the
 * body streamed through read and write callbacks, never a whole object in
 * memory. stratus.c parses the global options and dispatches a command to
 * blob.c, cp.c, queue.c or table.c; http.c speaks HTTP to the daemon and turns
 * its answers into exit codes; progress.c draws the progress bar.
 */
#ifndef STRATUS_CLIENT_H
#define STRATUS_CLIENT_H

#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <yajl/yajl_tree.h>

/* Exit codes: documented in stratus(1); scripts rely on them. */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,		/* bad command line, or input refused (400) */
	EXIT_NOTFOUND = 2,	/* 404: no such blob, store, entity, receipt */
	EXIT_DENIED = 3,	/* 401, 403 */
	EXIT_PRECOND = 4,	/* 412, 409 */
	EXIT_UNAVAIL = 5,	/* daemon unreachable, 503, 504 */
	EXIT_OTHER = 6,		/* anything else: 5xx, a short body, local I/O */
	EXIT_INTERRUPTED = 130	/* SIGINT or SIGTERM: the transfer was aborted */
};

/* Global settings, from options and the environment. */
struct cli {
	const char *url;	/* base URL, without a trailing '/' */
	const char *unix_path;	/* or NULL: TCP */
	char *token;		/* or NULL: anonymous; never printed */
	int json;		/* --json: machine-readable output */
	int quiet;		/* -q: no progress bar */
};
extern struct cli cli;

/* Set by the SIGINT/SIGTERM handler; every transfer callback checks it. */
extern volatile sig_atomic_t interrupted;

/* ---------------------------------------------------------------- http.c */

/* Where a request body comes from: memory, or a file descriptor (a known
 * length, or -1 for chunked). */
struct body {
	const char *data;
	size_t data_len;
	int fd;			/* -1: data */
	long long len;		/* from fd: -1 unknown (chunked) */
};

struct progress;

struct req {
	const char *method;	/* GET HEAD PUT POST DELETE PATCH */
	const char *path;	/* encoded, from "/v1/..." with any query */
	const char *headers[8];	/* extra "Name: value" lines, NULL-ended */
	struct body *body;	/* or NULL */
	int out_fd;		/* stream a 2xx body here; -1: keep it in memory */
	struct progress *progress;	/* or NULL */
};

struct resp {
	long status;		/* 0: no HTTP answer (see err) */
	char request_id[80];
	char etag[256];
	char content_type[256];
	char last_modified[64];
	long long content_length;	/* -1: none */
	char meta[2304];	/* "name: value\n" of each X-Meta-* header */
	size_t meta_len;
	char *body;		/* in-memory body, NUL-terminated */
	size_t len, cap;
	int too_big;		/* the in-memory body went over its cap */
	int write_failed;	/* out_fd refused bytes (errno in write_errno) */
	int write_errno;
	char err[256];		/* transport error text */
};

int  http_init(void);
void http_cleanup(void);
/* Sends one request. Returns an exit code: EXIT_OK for a 2xx answer;
 * otherwise it has printed what went wrong (the daemon's message and
 * request id) unless quiet_status equals the status. */
int  http_do(const struct req *, struct resp *, long quiet_status);
void resp_free(struct resp *);
/* The exit code for an HTTP status. */
int  status_exit(long status);
/* Prints "stratus: WHAT: message (request id ...)" for an error answer. */
void report_error(const char *what, const struct resp *);

/* Appends s to out, percent-encoding every byte but A-Z a-z 0-9 - . _ ~
 * (and '/' when keep_slash). Returns -1 (out unchanged) when out is too
 * small. */
int  url_encode(char *out, size_t outlen, const char *s, int keep_slash);

/* Appends s to out as it is; -1 (out unchanged) when it does not fit. */
int  str_append(char *out, size_t outlen, const char *s);

/* Parses an in-memory JSON answer; prints an error and returns NULL when
 * it is not JSON. */
yajl_val json_answer(const struct resp *);
/* Sends q and parses its JSON answer into *out: EXIT_OK, or the exit
 * code of what went wrong (*out NULL). */
int  http_json(const struct req *, yajl_val *out);
const char *json_str(yajl_val, const char *key);	/* or NULL */
long long json_int(yajl_val, const char *key, long long dflt);
yajl_val json_get(yajl_val, const char *key, yajl_type);

/* ----------------------------------------------------------- progress.c */

/* Makes a bar for a transfer of total bytes (-1: not known yet) when
 * stderr is a terminal and -q was not given; NULL otherwise (then every
 * call below does nothing). It is drawn only once the transfer shows to be
 * large (a known total of 1 MiB or more; else 1 MiB done or 1 s gone). */
struct progress *progress_new(const char *label, long long total);
/* done bytes so far; total when it became known (-1: still unknown). */
void progress_update(struct progress *, long long done, long long total);
/* Draws the final line (ok), or ends the line where it stopped (failed). */
void progress_end(struct progress *, int ok);

/* ---------------------------------------------------------------- output */

/* Writes a yajl value as compact JSON and a newline on stdout. */
void json_print(yajl_val);
void json_print_gen(void *yajl_gen_handle);	/* and frees it */
void *jgen_new(void);
void jstr(void *g, const char *key, const char *value);	/* NULL -> null */
void jint(void *g, const char *key, long long value);
void jval(void *g, const char *key, yajl_val);	/* a copy of a parsed value */

/* ---------------------------------------------------------------- blob.c */

#define PATH_CAP 8192	/* an encoded request path: 1024-byte keys, x3 */

struct loc {
	char store[64];
	const char *key;	/* into the argument; "" for none */
};

/* STORE[/KEY] or stratus://STORE[/KEY]; -1 (and a message unless quiet)
 * when the store part is not a store name. */
int  parse_loc(const char *arg, struct loc *, int quiet);
/* /v1/blobs/STORE/KEY, the key percent-encoded; -1 when too long. */
int  blob_path(char *out, size_t cap, const char *store, const char *key);
const char *base_name(const char *path);	/* after the last '/' */
/* "dir" -> "dir/"; "" and "dir/" unchanged: a prefix naming a folder. */
void folder(char *out, size_t cap, const char *key);

typedef int (*item_fn)(void *ctx, const char *store, yajl_val item);
typedef int (*prefix_fn)(void *ctx, const char *prefix);
/* Pages through a listing, calling on_item for each key and on_prefix (if
 * not NULL) for each common prefix (delimit: '/'). Stops at the first
 * error and returns it. */
int  list_blobs(const char *store, const char *prefix, int delimit,
         item_fn on_item, prefix_fn on_prefix, void *ctx);

/* ---------------------------------------------------------------- commands */

int cmd_ls(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_presign(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_table(int argc, char **argv);

/* stratus.c: shared command-line helpers. */
/* Resolves the address and token (once); an exit code. */
int  ready(void);
/* getopt_long over a command's own options plus the global ones, which
 * may come anywhere; handle(c, optarg) takes the command's own (-1: a
 * usage error, already printed). Returns the index of the first operand,
 * or -1. */
int  parse_options(int argc, char **argv, const char *shortopts,
         const struct option *own, int (*handle)(int, const char *));
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int  parse_seconds(const char *s, long lo, long hi, long *out);
/* Reads at most max bytes of fd (stdin) into a malloc'd buffer; *len set.
 * NULL (and a message) when it is longer or unreadable. */
char *read_small(int fd, size_t max, size_t *len, const char *what);

#endif
