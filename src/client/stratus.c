/*
 * stratus.c - the `stratus` command line: options, settings, dispatch.
 *
 *   stratus [--url URL] [--unix PATH] [--token-file FILE] [--json] [-q]
 *           COMMAND [ARGS]
 *
 * Global options may come before the command or among its own options.
 * The daemon's address is --url, --unix, $STRATUS_URL or
 * $STRATUS_UNIX_SOCKET (a command-line option beats the environment), or
 * http://127.0.0.1:8980; a URL of the form unix:PATH names a Unix socket.
 * The token is read from --token-file, $STRATUS_TOKEN_FILE or
 * $STRATUS_TOKEN, in that order, and is never printed.
 *
 * Each command lives with its subsystem (blob.c, queue.c, table.c) and
 * returns an exit code from client.h; this file holds the helpers they
 * share for parsing their arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoconfig.h"
#include "client/client.h"

#define TOKEN_MAX 4096
#define DEFAULT_URL "http://127.0.0.1:8980"

struct cli cli;
volatile sig_atomic_t interrupted;

static const char *opt_url, *opt_unix, *opt_token_file;
static char url_buf[2048];

static const char usage_text[] =
"usage: stratus [options] COMMAND [ARGS]\n"
"\n"
"blobs:\n"
"  ls [-r] [STORE[/PREFIX]]         list the stores, or the blobs of a store\n"
"  cat STORE/KEY...                 write blobs to standard output\n"
"  stat STORE/KEY                   size, type, ETag, date, metadata\n"
"  rm [-r] STORE/KEY...             delete blobs (-r: every key under a prefix)\n"
"  cp [-r] SOURCE TARGET            copy file -> store, store -> file,\n"
"                                   store -> store ('-': stdin or stdout)\n"
"  presign [-m GET|PUT] [-e SECONDS] STORE/KEY\n"
"                                   a URL usable without a token\n"
"queues:\n"
"  queue create QUEUE\n"
"  queue send [-d SECONDS] QUEUE [MESSAGE|-]\n"
"  queue recv [-n MAX] [-v SECONDS] [-w SECONDS] QUEUE\n"
"  queue ack QUEUE RECEIPT...\n"
"tables:\n"
"  table create TABLE\n"
"  table put [--if-match ETAG | --if-none-match] TABLE PK RK [JSON|-]\n"
"  table get TABLE PK RK\n"
"  table rm [--if-match ETAG] TABLE PK RK\n"
"  table ls [-p PREFIX] TABLE PK\n"
"\n"
"options:\n"
"  --url URL          the daemon (default $STRATUS_URL or " DEFAULT_URL ";\n"
"                     unix:PATH for a Unix socket)\n"
"  --unix PATH        connect through this Unix socket ($STRATUS_UNIX_SOCKET)\n"
"  --token-file FILE  read the token from FILE ($STRATUS_TOKEN_FILE,\n"
"                     or the token itself in $STRATUS_TOKEN)\n"
"  --json             print JSON (one object per line) for scripts\n"
"  -q, --quiet        no progress bar\n"
"  -h, --help         this text;  -V, --version\n"
"\n"
"exit status: 0 ok, 1 usage or bad request, 2 not found, 3 denied,\n"
"4 precondition failed or conflict, 5 unavailable, 6 other error,\n"
"130 interrupted. See stratus(1).\n";

void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("stratus: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(stratus --help for the usage)\n", stderr);
}

int
parse_seconds(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		usage_error("'%s' is not a number of seconds from %ld to %ld",
		    s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

char *
read_small(int fd, size_t max, size_t *len, const char *what)
{
	char *buf = malloc(max + 1);
	size_t n = 0;

	if (buf == NULL)
		return NULL;
	for (;;) {
		ssize_t r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR && !interrupted)
			continue;
		if (r < 0 || interrupted) {
			fprintf(stderr, "stratus: cannot read %s: %s\n", what,
			    interrupted ? "interrupted" : strerror(errno));
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			fprintf(stderr, "stratus: %s is longer than %zu bytes\n",
			    what, max);
			free(buf);
			return NULL;
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* ------------------------------------------------------------ settings */

static int
read_token_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n;
	char *t;

	if (fd < 0) {
		fprintf(stderr, "stratus: cannot open the token file %s: %s\n",
		    path, strerror(errno));
		return -1;
	}
	t = read_small(fd, TOKEN_MAX, &n, "the token file");
	close(fd);
	if (t == NULL)
		return -1;
	/* The first line, without trailing blanks: `echo TOKEN > file`. */
	t[strcspn(t, "\r\n")] = '\0';
	n = strlen(t);
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		t[--n] = '\0';
	cli.token = t;
	return 0;
}

static int
valid_token(const char *t)
{
	if (*t == '\0')
		return 0;
	for (; *t; t++)
		if ((unsigned char)*t <= ' ' || *t == 0x7f)
			return 0;
	return 1;
}

static int
settings(void)
{
	const char *url = opt_url, *sock = opt_unix, *env;
	size_t n;

	if (url == NULL && sock == NULL) {
		sock = getenv("STRATUS_UNIX_SOCKET");
		if (sock && *sock == '\0')
			sock = NULL;
	}
	if (url == NULL && opt_unix == NULL) {
		url = getenv("STRATUS_URL");
		if (url && *url == '\0')
			url = NULL;
	}
	if (url && strncmp(url, "unix:", 5) == 0) {
		sock = url + 5;
		url = NULL;
	}
	if (sock && *sock == '\0') {
		usage_error("an empty Unix socket path");
		return EXIT_USAGE;
	}
	if (url == NULL)
		url = sock ? "http://localhost" : DEFAULT_URL;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		usage_error("the daemon URL must start with http://, https:// "
		    "or unix: ('%s')", url);
		return EXIT_USAGE;
	}
	n = strlen(url);
	if (n >= sizeof(url_buf)) {
		usage_error("the daemon URL is too long");
		return EXIT_USAGE;
	}
	memcpy(url_buf, url, n + 1);
	while (n > 0 && url_buf[n - 1] == '/')
		url_buf[--n] = '\0';
	cli.url = url_buf;
	cli.unix_path = sock;

	if (opt_token_file) {
		if (read_token_file(opt_token_file) < 0)
			return EXIT_USAGE;
	} else if ((env = getenv("STRATUS_TOKEN_FILE")) && *env) {
		if (read_token_file(env) < 0)
			return EXIT_USAGE;
	} else if ((env = getenv("STRATUS_TOKEN")) && *env) {
		cli.token = strdup(env);
		if (cli.token == NULL)
			return EXIT_OTHER;
	}
	if (cli.token && !valid_token(cli.token)) {
		/* Say what is wrong, never what the token is. */
		fprintf(stderr, "stratus: the token is empty or holds spaces or "
		    "control characters\n");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------ signals */

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a read of a slow pipe must return at once. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A closed stdout (stratus cat | head) is a write error, not a
	 * silent death in the middle of a transfer. */
	signal(SIGPIPE, SIG_IGN);
}

/* ------------------------------------------------------------ dispatch */

enum { OPT_URL = 1000, OPT_UNIX, OPT_TOKEN_FILE, OPT_JSON };

static const struct option global_options[] = {
	{ "url", required_argument, NULL, OPT_URL },
	{ "unix", required_argument, NULL, OPT_UNIX },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int
global_option(int c, const char *arg)
{
	switch (c) {
	case OPT_URL: opt_url = arg; return 1;
	case OPT_UNIX: opt_unix = arg; return 1;
	case OPT_TOKEN_FILE: opt_token_file = arg; return 1;
	case OPT_JSON: cli.json = 1; return 1;
	case 'q': cli.quiet = 1; return 1;
	}
	return 0;
}

int
parse_options(int argc, char **argv, const char *shortopts,
    const struct option *own, int (*handle)(int, const char *))
{
	struct option all[32];
	char optstring[64];
	size_t n = 0, i;
	int c;

	for (i = 0; own && own[i].name && n < 24; i++)
		all[n++] = own[i];
	for (i = 0; global_options[i].name; i++)
		if (global_options[i].val >= OPT_URL || global_options[i].val == 'q')
			all[n++] = global_options[i];
	memset(&all[n], 0, sizeof(all[n]));
	snprintf(optstring, sizeof(optstring), ":q%s", shortopts);
	optind = 0;
	while ((c = getopt_long(argc, argv, optstring, all, NULL)) != -1) {
		if (c == '?' || c == ':') {
			if (c == ':')
				usage_error("%s: option '%s' needs a value",
				    argv[0], argv[optind - 1]);
			else if (optopt)
				usage_error("%s: unknown option '-%c'", argv[0],
				    optopt);
			else
				usage_error("%s: unknown option '%s'", argv[0],
				    argv[optind - 1]);
			return -1;
		}
		if (global_option(c, optarg))
			continue;
		if (handle == NULL || handle(c, optarg) < 0)
			return -1;
	}
	return optind;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "ls", cmd_ls }, { "cat", cmd_cat }, { "stat", cmd_stat },
	{ "rm", cmd_rm }, { "cp", cmd_cp }, { "presign", cmd_presign },
	{ "queue", cmd_queue }, { "table", cmd_table },
};

static int
run(int argc, char **argv)
{
	int c;
	size_t i;

	while ((c = getopt_long(argc, argv, "+:qhV", global_options,
	    NULL)) != -1) {
		if (global_option(c, optarg))
			continue;
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'V':
			printf("stratus %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		case ':':
			usage_error("option '%s' needs a value", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0)
			return commands[i].fn(argc - optind, argv + optind);
	}
	usage_error("no command '%s'", argv[optind]);
	return EXIT_USAGE;
}

int
ready(void)
{
	static int done = -1;

	if (done < 0)
		done = settings();
	return done;
}

int
main(int argc, char **argv)
{
	int rc;

	catch_signals();
	if (http_init() != 0) {
		fprintf(stderr, "stratus: cannot start libcurl\n");
		return EXIT_OTHER;
	}
	rc = run(argc, argv);
	http_cleanup();
	if (cli.token) {
		explicit_bzero(cli.token, strlen(cli.token));
		free(cli.token);
	}
	if (fflush(stdout) != 0 && rc == EXIT_OK) {
		fprintf(stderr, "stratus: cannot write the output: %s\n",
		    strerror(errno));
		rc = EXIT_OTHER;
	}
	return rc;
}
