/*
 * main.c - stratusd: arguments, signals, reload and shutdown.
 *
 * The main thread does no request work. It loads the configuration, starts
 * the HTTP server (whose threads answer requests) and then waits for
 * signals with sigwait(): SIGHUP reloads stores and tokens, SIGTERM and
 * SIGINT stop gracefully (stop accepting, let requests in flight finish
 * for up to 10 s, exit 0). Signals are blocked in every other thread, so
 * no handler ever runs in the middle of request code.
 *
 * Under systemd it also says READY, RELOADING and STOPPING, and, when the
 * unit sets WatchdogSec=, pings the watchdog four times per interval as
 * long as every worker thread still turns its loop (a wedged worker stops
 * the pings, and systemd restarts the service).
 */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "core/clock.h"
#include "core/creds.h"
#include "core/iopool.h"
#include "core/registry.h"
#include "core/transfer.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/server.h"
#include "sign/hmac.h"

#define GRACE_SECONDS 10

static void
notify(const char *state)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

/* The watchdog's tick in ms (a quarter of WatchdogSec=), 0 without one. */
static long long
watchdog_tick_ms(void)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 4000)
		return (long long)(usec / 4000);
#endif
	return 0;
}

static void
watchdog_ping(void)
{
	if (st_server_responsive())
		notify("WATCHDOG=1");
}

/* systemd 253 and later want the time of a reload's start with it. */
static void
notify_reloading(void)
{
	char msg[64];
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify(msg);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: stratusd [--config FILE] [--check-config]\n"
	    "       stratusd token new NAME [KIND:STORE:RIGHTS...]\n"
	    "       stratusd --version | --help\n"
	    "\n"
	    "  -c, --config FILE    configuration (default %s/stratus.conf)\n"
	    "  -t, --check-config   validate the configuration and exit\n"
	    "  -b, --backend-dir D  where provider plugins are (default %s,\n"
	    "                       or $STRATUS_BACKEND_DIR)\n"
	    "  -V, --version        print the version and exit\n"
	    "  -h, --help           print this help and exit\n"
	    "\n"
	    "token new prints a new random token once, then the client entry\n"
	    "(its SHA-256 and allow rules) to paste into the configuration.\n"
	    "\n"
	    "Logs go to stderr, one JSON object per line. SIGHUP reloads the\n"
	    "stores and tokens; SIGTERM stops after requests in flight finish.\n",
	    STRATUS_SYSCONFDIR, STRATUS_BACKEND_DIR);
}

#define TOKEN_USAGE "usage: stratusd token new NAME [KIND:STORE:RIGHTS...]\n"

/*
 * stratusd token new NAME [RULE...]: a new token (32 random bytes,
 * base64url), shown only here, and the client entry that holds its
 * SHA-256. Nothing is written anywhere; a bad name or rule is exit 2.
 */
static int
token_new(int argc, char **argv)
{
	unsigned char raw[32], digest[ST_SHA256_LEN];
	char token[48], hex[2 * ST_SHA256_LEN + 1], why[160];
	struct st_rule rule;
	const char *name;
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(TOKEN_USAGE, stdout);
			return 0;
		}
	if (argc < 3 || strcmp(argv[1], "new") != 0) {
		fputs(TOKEN_USAGE, stderr);
		return 2;
	}
	name = argv[2];
	if (name[0] == '\0' || strlen(name) > 63 || name[0] == '-' ||
	    strpbrk(name, "\"\\") != NULL) {
		fprintf(stderr, "stratusd: a client name is 1 to 63 characters, "
		    "without '\"' or '\\', not starting with '-'\n");
		return 2;
	}
	for (i = 0; name[i] != '\0'; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
			fprintf(stderr, "stratusd: a client name has no control "
			    "characters\n");
			return 2;
		}
	for (i = 3; i < argc; i++)
		if (st_parse_rule_why(argv[i], &rule, why, sizeof(why)) == -1) {
			fprintf(stderr, "stratusd: bad rule '%s': %s "
			    "(KIND:STORE:RIGHTS, e.g. blob:photos:get,list)\n",
			    argv[i], why);
			return 2;
		}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		fprintf(stderr, "stratusd: no random bytes for a token\n");
		return 1;
	}
	st_base64url(raw, sizeof(raw), token);
	st_sha256(token, strlen(token), digest);
	st_hex(digest, sizeof(digest), hex);
	printf("%s\n\n"
	    "# The token above is shown only this once: give it to the\n"
	    "# application. Paste this entry into the clients list of\n"
	    "# stratus.conf (it keeps only the SHA-256), then reload (SIGHUP).\n"
	    "{ name = \"%s\";\n  token_sha256 = \"%s\";\n  allow = (",
	    token, name, hex);
	for (i = 3; i < argc; i++)
		printf("%s \"%s\"", i > 3 ? "," : "", argv[i]);
	printf(" ); }\n");
	st_wipe(raw, sizeof(raw));
	st_wipe(token, sizeof(token));
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

static void
reload(const char *path)
{
	struct st_config *cfg;
	char err[1024], changed[256];

	notify_reloading();
	cfg = st_config_load(path, 0, err, sizeof(err));
	if (cfg != NULL && st_config_check_reload(st_server_listen(),
	    st_server_systemd_sockets(), cfg, err, sizeof(err), changed,
	    sizeof(changed)) == -1) {
		st_config_unref(cfg);
		cfg = NULL;
	}
	if (cfg == NULL) {
		st_log_msg(ST_LOG_ERROR, "reload failed", "error", err);
	} else {
		st_log_set_level(cfg->log_level);
		st_server_swap_config(cfg);
		st_log_msg(ST_LOG_INFO, "reloaded", "config", path);
		/* Said after "reloaded": the rest of the file took effect. */
		if (changed[0] != '\0')
			st_log_msg(ST_LOG_WARN, "needs a restart", "settings",
			    changed);
	}
	notify("READY=1");
}

static int
serve(const char *path)
{
	struct st_config *cfg;
	sigset_t set;
	char err[1024];
	long long tick = watchdog_tick_ms(), next = 0, left;
	struct timespec wait;
	int sig;

	if ((cfg = st_config_load(path, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		st_log_msg(ST_LOG_ERROR, "bad configuration", "error", err);
		return 1;
	}
	st_log_set_level(cfg->log_level);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (st_server_start(cfg, err, sizeof(err)) == -1) {
		st_log_msg(ST_LOG_ERROR, "cannot start", "error", err);
		return 1;
	}
	st_log_msg(ST_LOG_INFO, "ready", "version", PACKAGE_VERSION);
	notify("READY=1");
	if (tick > 0) {
		notify("WATCHDOG=1");
		(void)st_server_responsive();	/* pokes them for the next tick */
		next = st_now_ms() + tick;
	}
	for (;;) {
		if (tick > 0) {
			if ((left = next - st_now_ms()) <= 0) {
				watchdog_ping();
				next = st_now_ms() + tick;
				continue;
			}
			wait.tv_sec = left / 1000;
			wait.tv_nsec = left % 1000 * 1000000;
			if ((sig = sigtimedwait(&set, NULL, &wait)) == -1)
				continue;	/* EAGAIN: time to ping; EINTR */
		} else if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(path);
			continue;
		}
		/* Ready says "stopping" before the log line does: whoever
		 * acts on the line sees the state it announces. */
		st_server_begin_stop();
		st_log_msg(ST_LOG_INFO, "stopping", "signal",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT");
		notify("STOPPING=1");
		st_server_stop(GRACE_SECONDS);
		st_log_msg(ST_LOG_INFO, "stopped", NULL, NULL);
		return 0;
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "backend-dir", required_argument, NULL, 'b' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = STRATUS_SYSCONFDIR "/stratus.conf";
	const char *backend_dir = getenv("STRATUS_BACKEND_DIR");
	int check = 0, ch, rc;
	char err[1024];

	/* Stream buffers (1 MiB pipes, 8 MiB parts) are above glibc's mmap
	 * threshold, so every request would map, fault in and unmap fresh
	 * pages. Keeping them in the heap lets them be reused. */
	mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
	/* libcurl takes and frees a 128 KiB receive buffer for every
	 * exchange. At glibc's default trim threshold (128 KiB) a worker's
	 * heap then gives those pages back and faults them in again every
	 * few hundred requests, and page faults are dear in a VM. The peak
	 * RSS does not change: the pages are in use while a request runs. */
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	st_log_init();

	/* "+": options end at the first other word (a command's arguments
	 * are its own). */
	while ((ch = getopt_long(argc, argv, "+c:tb:Vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 't': check = 1; break;
		case 'b': backend_dir = optarg; break;
		case 'V': printf("stratusd %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc && strcmp(argv[optind], "token") == 0)
		return token_new(argc - optind, argv + optind);
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (backend_dir == NULL)
		backend_dir = STRATUS_BACKEND_DIR;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (st_registry_load(backend_dir, err, sizeof(err)) == -1) {
		fprintf(stderr, "stratusd: %s\n", err);
		return 1;
	}
	if (check) {
		struct st_config *cfg = st_config_load(path, 1, err, sizeof(err));

		if (cfg == NULL) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		printf("%s: configuration OK (%zu stores, %zu clients)\n", path,
		    cfg->nstores, cfg->nclients);
		st_config_unref(cfg);
		return 0;
	}
	rc = serve(path);
	st_iopool_shutdown();		/* every request has ended: no job left */
	st_creds_shutdown();		/* before the plugins of its sources go */
	st_transfer_shutdown();
	st_registry_unload();
	curl_global_cleanup();
	return rc;
}
