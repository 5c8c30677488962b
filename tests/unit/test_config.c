/*
 * test_config.c - configurations that must load, and ones that must be
 * refused with the right line and reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/confval.h"
#include "daemon/config.h"
#include "sign/hmac.h"
#include "unit.h"

struct conf_case {
	const char	*text;
	int		 line;		/* the error's line (0: none) */
	const char	*reason;	/* substring of the error; NULL: loads */
};

/* Added to a case that names no stores, since a configuration needs one. */
#define ONE_STORE "stores = ( { name = \"dflt\"; kind = \"blob\";" \
	" provider = \"local\"; path = \"dflt\"; } );\n"

/* In the test's directory (setup): a file where a directory should be. */
#define A_FILE "a-file"

#define HASH "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static const struct conf_case conf_cases[] = {
	{ "", 0, NULL },
	/* what starting would find, --check-config finds */
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"" A_FILE "\"; } );\n", 1, "is not a directory" },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"" A_FILE "/sub\"; } );\n", 1, "cannot create" },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"/dev/null/x\"; } );\n", 1, "cannot create" },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"new/deeper/still\"; } );\n", 0, NULL },
	{ "stores = ( { name = \"q1\"; kind = \"queue\"; provider = \"local\";"
	  " path = \"" A_FILE "\"; } );\n", 1, "is not a directory" },
	{ "stores = ( { name = \"t1\"; kind = \"table\"; provider = \"local\";"
	  " path = \"" A_FILE "/sub\"; } );\n", 1, "cannot create" },
	/* public_url: the base of URLs given to applications */
	{ "listen = { public_url = \"http://files.internal:8980\"; };\n", 0,
	  NULL },
	{ "listen = { public_url = \"https://files.example\"; };\n", 0, NULL },
	{ "listen = { public_url = \"HTTPS://files.example/base\"; };\n", 0,
	  NULL },
	{ "listen = {\n public_url = \"javascript:alert(1)\"; };\n", 2,
	  "http:// or https://" },
	{ "listen = { public_url = \"ftp://files.example\"; };\n", 1,
	  "public_url" },
	{ "listen = { public_url = \"files.example:8980\"; };\n", 1,
	  "public_url" },
	{ "listen = { public_url = \"http://\"; };\n", 1, "public_url" },
	{ "listen = { public_url = \"http:///x\"; };\n", 1, "public_url" },
	{ "listen = { public_url = \"http://a b\"; };\n", 1, "public_url" },
	{ "listen = { public_url = \"http://a\\nb\"; };\n", 1, "public_url" },
	{ "listen = { public_url = \"http://a/?x=1\"; };\n", 1, "public_url" },
	{ "listen = { public_url = \"http://a/#top\"; };\n", 1, "public_url" },
	{ "listen = { public_url = \"\"; };\n", 1, "public_url" },
	{ "listen = { address = \"127.0.0.1\"; port = 0; };\n"
	  "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"s1\"; } );\n", 0, NULL },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\", \"*:*:r\" ); } );\n", 0, NULL },
	{ "listen = { port = 70000; };\n", 1, "between" },
	{ "stores = ( {\n name = \"s1\";\n kind = \"blob\";\n provider = \"gcs\";"
	  " } );\n", 1, "unknown provider" },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"a\"; },\n { name = \"s1\"; kind = \"blob\";"
	  " provider = \"local\"; path = \"b\"; } );\n", 2, "twice" },
	{ "stores = ( { name = \"Bad Name\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"a\"; } );\n", 1, "name" },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\"; } );\n",
	  1, "path" },
	{ "stores = ( { name = \"s1\"; kind = \"bucket\"; provider = \"local\";"
	  " path = \"a\"; } );\n", 1, "kind" },
	{ "stores = ( { name = \"s1\"; kind = \"queue\"; provider = \"local\";"
	  " } );\n", 1, "path" },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"a\"; colour = 1; } );\n", 1, "unknown setting" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"abc\";"
	  " allow = ( \"blob:*:rw\" ); } );\n", 1, "token_sha256" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";\n"
	  " allow = ( \"blob:*:rwx\" ); } );\n", 2, "allow rule" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";\n"
	  " allow = ( \"bucket:*:r\" ); } );\n", 2, "allow rule" },
	/* per-client limits: rate (float), burst, max_uploads */
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\" );\n"
	  " rate = 0.5; burst = 3; max_uploads = 2; } );\n", 0, NULL },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\" );\n"
	  " rate = 50; } );\n", 0, NULL },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\" );\n"
	  " rate = 0; } );\n", 2, "rate must be" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\" );\n"
	  " rate = \"fast\"; } );\n", 2, "rate must be" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\" );\n"
	  " rate = 2000000.0; } );\n", 2, "rate must be" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\" );\n"
	  " burst = 5; } );\n", 1, "burst goes with rate" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\" );\n"
	  " rate = 1; burst = 0; } );\n", 2, "between" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\" );\n"
	  " max_uploads = 0; } );\n", 2, "between" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\" );\n"
	  " max_uploads = true; } );\n", 2, "whole number" },
	/* rules: every kind's rights, shorthands, and why one is refused */
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:a:get,list,put,delete,presign\","
	  " \"queue:q:send,receive,ack,admin\","
	  " \"table:t:get,query,put,delete,admin\", \"*:*:get\","
	  " \"blob:*:receive\", \"table:*:send\", \"queue:*:*\" ); } );\n",
	  0, NULL },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( ); } );\n", 0, NULL },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";\n"
	  " allow = ( \"blob:*:rw\",\n \"queue:q:get\" ); } );\n", 3,
	  "bad allow rule 'queue:q:get': 'get' is not a right of queues" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";\n"
	  " allow = ( \"*:*:get,fly\" ); } );\n", 2,
	  "'fly' is not a right of any kind" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";\n"
	  " allow = ( 7 ); } );\n", 2, "not a string" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";\n"
	  " allow = ( \"blob:*:r\" );\n token = \"x\"; } );\n", 3,
	  "unknown setting 'token'" },
	{ "clients = ( { name = \"app\"; allow = ( \"blob:*:r\" ); } );\n", 1,
	  "exactly one of token_sha256 and token_file" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " token_file = \"t\"; allow = ( \"blob:*:r\" ); } );\n", 1,
	  "exactly one of token_sha256 and token_file" },
	{ "clients = ( { name = \"app\";\n token_file = 5;"
	  " allow = ( \"blob:*:r\" ); } );\n", 2, "token_file" },
	{ "allow_anonymous = 1;\n", 1, "true or false" },
	{ "lisen = { port = 1; };\n", 1, "unknown setting 'lisen'" },
	{ "log = { level = \"loud\"; };\n", 1, "log.level" },
	{ "listen = { connection_memory = 65536; };\n", 0, NULL },
	{ "listen = { connection_memory = 16384; };\n", 1, "between" },
	{ "listen = { connection_memory = 16777217; };\n", 1, "between" },
	{ "listen = { connection_memory = 32768; };\n", 1, "four times" },
	{ "listen = { max_header_size = 32768;\n"
	  " connection_memory = 131072; };\n", 0, NULL },
	{ "listen = { max_header_size = 32768;\n"
	  " connection_memory = 131071; };\n", 2, "at least four times" },
	/* numbers: sizes with units, literals libconfig would wrap, types */
	{ "listen = { connection_memory = \"256 KiB\"; };\n", 0, NULL },
	{ "listen = { max_header_size = \"16 KiB\"; };\n", 0, NULL },
	{ "listen = {\n connection_memory = 2147483648; };\n", 2, "too large" },
	{ "listen = { threads = 4294967296; };\n", 1, "too large" },
	{ "listen = { connection_memory = \"12 parsecs\"; };\n", 1,
	  "must be a size" },
	{ "listen = { connection_memory = \"1.5 MiB\"; };\n", 1,
	  "must be a size" },
	{ "listen = { connection_memory = \"16 TiB\"; };\n", 1, "between" },
	{ "listen = { port = \"80\"; };\n", 1, "whole number" },
	{ "listen = { port = 80.0; };\n", 1, "whole number" },
	{ "listen = { port = true; };\n", 1, "whole number" },
	{ "listen = { header_timeout = 2; };\n", 0, NULL },
	{ "listen = {\n header_timeout = 0; };\n", 2, "between" },
	{ "listen = { header_timeout = 86401; };\n", 1, "between" },
	{ "listen = { header_timeout = \"10\"; };\n", 1, "whole number" },
	{ "listen = { header_timeout = 1.5; };\n", 1, "whole number" },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"a\";\n max_object_size = 5000000000; } );\n", 2,
	  "too large" },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"a\"; max_object_size = \"5 GiB\"; } );\n", 0, NULL },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"a\"; max_object_size = 5000000000L; } );\n", 0, NULL },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"a\"; max_object_size = \"1 TiB\"; } );\n", 0, NULL },
	/* unknown settings in every group */
	{ "metrics = { require_tokn = true; };\n", 1, "unknown setting" },
	{ "metrics = 1;\n", 1, "group" },
	{ "log = {\n levle = \"info\"; };\n", 2, "unknown setting 'levle'" },
	{ "retry = { max_attempts = 3;\n colour = 1; };\n", 2,
	  "unknown setting 'colour'" },
	{ "retry = { max_attempts = 0; };\n", 1, "between" },
	{ "retry = { attempt_timeout_ms = \"5\"; };\n", 1, "whole number" },
	{ "retry = { max_attempts = 3; deadline_ms = 60000; };\n", 0, NULL },
	/* a provider setting of the wrong type is refused, never a default */
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"a\";\n fsync = \"yes\"; } );\n", 2,
	  "'fsync' must be true or false" },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"s3\";"
	  " bucket = \"b\";\n path_style = 1; } );\n", 2,
	  "'path_style' must be true or false" },
	{ "stores = ( { name = \"q\"; kind = \"queue\"; provider = \"azure\";"
	  " queue = \"q\";\n endpoint = 5; } );\n", 2,
	  "'endpoint' must be a string" },
	{ "stores = ( { name = \"q\"; kind = \"queue\"; provider = \"azure\";"
	  " queue = \"q\";\n message_encoding = true; } );\n", 2,
	  "'message_encoding' must be a string" },
	{ "stores = ( { name = 5; kind = \"blob\"; provider = \"local\";"
	  " path = \"a\"; } );\n", 1, "'name' must be a string" },
	{ "credentials = { aws = {\n provider = \"aws\";\n source = 1; }; };\n",
	  3, "'source' must be a string" },
	{ "credentials = { aws = { provider = \"aws\";\n allow_http = \"no\"; }; };\n",
	  2, "'allow_http' must be true or false" },
	{ "credentials = {\n aws = 5; };\n", 2, "must be a group" },
	{ "credentials = ( 1 );\n", 1, "credentials must be a group" },
	{ "credentials = { aws = { provider = \"aws\"; source = \"env\"; }; };\n",
	  0, NULL },
};

/*
 * Loaded as they are (load_text adds a store to the others): with no
 * store, an empty or truncated file would take every store offline.
 */
static const struct conf_case bare_cases[] = {
	{ "listen = { port = 1;\n", 2, "syntax error" },
	{ "", 0, "no stores are configured" },
	{ "# the rest was lost\n", 0, "no stores are configured" },
	{ "listen = { port = 0; };\n", 0, "no stores are configured" },
	{ "listen = { port = 0; };\nstores = ( );\n", 2,
	  "no stores are configured" },
	{ "clients = ( { name = \"app\"; token_sha256 = \"" HASH "\";"
	  " allow = ( \"blob:*:rw\" ); } );\n", 0, "no stores are configured" },
	{ "stores = ( { name = \"s1\"; kind = \"blob\"; provider = \"local\";"
	  " path = \"s1\"; } );\n", 0, NULL },
};

/* Byte sizes as text. */
static const struct { const char *text; long long want; } bytes_cases[] = {
	{ "0", 0 }, { "512", 512 }, { "512 B", 512 }, { "512 KiB", 524288 },
	{ "64 MiB", 67108864 }, { "5 GiB", 5368709120LL },
	{ "1 TiB", 1099511627776LL }, { "1TiB", 1099511627776LL },
	{ "", -1 }, { "KiB", -1 }, { "-1 KiB", -1 }, { "1 kib", -1 },
	{ "1 KB", -1 }, { "1.5 GiB", -1 }, { "99999999999 TiB", -1 },
	{ "1 KiB x", -1 }, { " 1", -1 },
};

START_TEST(bytes_text)
{
	uint64_t v = 0;
	int rc = st_parse_bytes(bytes_cases[_i].text, &v);

	if (bytes_cases[_i].want < 0) {
		ck_assert_msg(rc == -1, "'%s' read as %llu", bytes_cases[_i].text,
		    (unsigned long long)v);
		return;
	}
	ck_assert_msg(rc == 0 && v == (uint64_t)bytes_cases[_i].want,
	    "'%s': %d %llu", bytes_cases[_i].text, rc, (unsigned long long)v);
}
END_TEST

static char dir[] = "/tmp/stratus-test-config-XXXXXX";

static void
setup(void)
{
	char path[600];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/" A_FILE, dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
}

/* Writes text to DIR/NAME.conf (path receives it) and loads it. */
static struct st_config *
load_as_is(const char *name, const char *text, char path[512], char *err,
           size_t errlen)
{
	FILE *f;

	snprintf(path, 512, "%s/%s.conf", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	return st_config_load(path, 1, err, errlen);
}

/* The same, with a store after the text when it names none. */
static struct st_config *
load_text(const char *name, const char *text, char path[512], char *err,
          size_t errlen)
{
	char full[4096];

	if (strstr(text, "stores") != NULL)
		return load_as_is(name, text, path, err, errlen);
	snprintf(full, sizeof(full), "%s%s", text, ONE_STORE);
	return load_as_is(name, full, path, err, errlen);
}

/* The case's outcome: loaded, or refused with its line and reason. */
static void
check_case(const struct conf_case *t, int i, struct st_config *cfg,
           const char *path, const char *err)
{
	char want[600];

	if (t->reason == NULL) {
		ck_assert_msg(cfg != NULL, "case %d refused: %s", i, err);
		st_config_unref(cfg);
		return;
	}
	ck_assert_msg(cfg == NULL, "case %d loaded but should not", i);
	snprintf(want, sizeof(want), "%s:%d: ", path, t->line);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
	    "case %d: '%s' does not start with '%s'", i, err, want);
	ck_assert_msg(strstr(err, t->reason) != NULL, "case %d: '%s' lacks '%s'",
	    i, err, t->reason);
}

START_TEST(configs)
{
	char path[512], err[1024], name[32];
	struct st_config *cfg;

	snprintf(name, sizeof(name), "case%d", _i);
	cfg = load_text(name, conf_cases[_i].text, path, err, sizeof(err));
	check_case(&conf_cases[_i], _i, cfg, path, err);
}
END_TEST

START_TEST(bare_configs)
{
	char path[512], err[1024], name[32];
	struct st_config *cfg;

	snprintf(name, sizeof(name), "bare%d", _i);
	cfg = load_as_is(name, bare_cases[_i].text, path, err, sizeof(err));
	check_case(&bare_cases[_i], _i, cfg, path, err);
}
END_TEST

/* libmicrohttpd's memory per connection: 128 KiB, or four times the header
 * limit when that is more, unless set. */
static const struct { const char *text; size_t memory; } memory_cases[] = {
	{ "", 131072 },
	{ "listen = { max_header_size = 32768; };\n", 131072 },
	{ "listen = { max_header_size = 131072; };\n", 524288 },
	{ "listen = { max_header_size = 1048576; };\n", 4194304 },
	{ "listen = { max_header_size = 8192; connection_memory = 32768; };\n",
	  32768 },
	{ "listen = { max_header_size = 1024; connection_memory = 40000; };\n",
	  40000 },
};

START_TEST(connection_memory)
{
	char path[512], err[1024], name[32];
	struct st_config *cfg;

	snprintf(name, sizeof(name), "memory%d", _i);
	cfg = load_text(name, memory_cases[_i].text, path, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "memory case %d refused: %s", _i, err);
	ck_assert_uint_eq(cfg->listen.connection_memory, memory_cases[_i].memory);
	st_config_unref(cfg);
}
END_TEST

/* A reload against the listen settings the daemon started with: refused
 * when its headers need more connection memory than the daemon has, and
 * else the restart-only settings that differ. */
static const struct {
	const char *started, *next;
	int systemd;		/* the sockets came from systemd */
	int rc;
	const char *want;	/* the changed list, or a part of the error */
} reload_cases[] = {
	{ "", "", 0, 0, "" },
	{ "", "listen = { max_header_size = 32768; };\n", 0, 0, "" },
	{ "", "listen = { max_header_size = 65536; };\n", 0, -1,
	  "needs 262144 bytes of connection memory, and the daemon started "
	  "with 131072" },
	{ "", "listen = { port = 1; threads = 2; idle_timeout = 5; };\n", 0, 0,
	  "listen.port listen.threads listen.idle_timeout" },
	{ "listen = { unix = \"/tmp/s.sock\"; unix_mode = 0x180; };\n", "", 0,
	  0, "listen.unix listen.unix_mode" },
	{ "", "listen = { address = \"::1\"; max_connections = 9; };\n", 0, 0,
	  "listen.address listen.max_connections" },
	{ "", "listen = { connection_memory = 65536; };\n", 0, 0,
	  "listen.connection_memory" },
	{ "", "listen = { header_timeout = 3; };\n", 0, 0,
	  "listen.header_timeout" },
	{ "listen = { max_header_size = 65536; };\n",
	  "listen = { max_header_size = 65536; };\n", 0, 0, "" },
	/* the mode of a socket file that is not there */
	{ "", "listen = { unix_mode = 0x180; };\n", 0, 0, "" },
	/* with systemd's sockets, where to listen is not compared */
	{ "", "listen = { port = 1; unix = \"/tmp/s.sock\"; threads = 2; };\n",
	  1, 0, "listen.threads" },
};

START_TEST(reload_check)
{
	char path[512], err[1024], changed[256], name[32];
	struct st_config *a, *b;
	int rc;

	snprintf(name, sizeof(name), "started%d", _i);
	a = load_text(name, reload_cases[_i].started, path, err, sizeof(err));
	ck_assert_msg(a != NULL, "reload case %d: %s", _i, err);
	snprintf(name, sizeof(name), "next%d", _i);
	b = load_text(name, reload_cases[_i].next, path, err, sizeof(err));
	ck_assert_msg(b != NULL, "reload case %d: %s", _i, err);
	err[0] = '\0';
	rc = st_config_check_reload(&a->listen, reload_cases[_i].systemd, b,
	    err, sizeof(err), changed, sizeof(changed));
	ck_assert_int_eq(rc, reload_cases[_i].rc);
	if (rc == 0)
		ck_assert_str_eq(changed, reload_cases[_i].want);
	else
		ck_assert_msg(strstr(err, reload_cases[_i].want) != NULL,
		    "reload case %d: '%s'", _i, err);
	st_config_unref(a);
	st_config_unref(b);
}
END_TEST

START_TEST(missing_file)
{
	char err[512];

	ck_assert_ptr_null(st_config_load("/nonexistent/stratus.conf", 1, err,
	    sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/stratus.conf:0:"));
}
END_TEST

START_TEST(secret_file_modes)
{
	char path[512], buf[64], err[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/secret", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("s3cr3t-value\n", f);
	fclose(f);
	chmod(path, 0644);
	ck_assert_int_eq(st_read_secret_file(path, buf, sizeof(buf), err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "group or others"));
	ck_assert_ptr_null(strstr(err, "s3cr3t"));
	chmod(path, 0600);
	ck_assert_int_eq(st_read_secret_file(path, buf, sizeof(buf), err,
	    sizeof(err)), 12);
	ck_assert_str_eq(buf, "s3cr3t-value");
}
END_TEST

/*
 * token_file: a file (in the configuration's directory, or in
 * $CREDENTIALS_DIRECTORY) holding the token; the client gets its SHA-256.
 */
static const struct token_case {
	const char	*content;	/* NULL: no file */
	unsigned	 mode;
	int		 in_creds;	/* the file is in DIR/creds */
	int		 creds_env;	/* CREDENTIALS_DIRECTORY=DIR/creds */
	int		 absolute;	/* token_file names it by its full path */
	const char	*token;		/* loads, with this token; NULL: refused */
	const char	*reason;	/* ...with this reason, on line 2 */
} token_cases[] = {
	{ "secret-a\n", 0600, 0, 0, 0, "secret-a", NULL },
	{ "secret-b", 0400, 0, 0, 0, "secret-b", NULL },
	{ "secret-c\r\n", 0600, 0, 0, 1, "secret-c", NULL },
	{ "AbC_-x.~+/=\n", 0600, 0, 0, 0, "AbC_-x.~+/=", NULL },
	{ "secret-d\n", 0640, 0, 0, 0, NULL, "group or others" },
	{ "secret-e\n", 0604, 0, 0, 0, NULL, "group or others" },
	{ NULL, 0, 0, 0, 0, NULL, "cannot open" },
	{ "", 0600, 0, 0, 0, NULL, "is empty" },
	{ "\n", 0600, 0, 0, 0, NULL, "is empty" },
	{ "two words\n", 0600, 0, 0, 0, NULL, "spaces or control" },
	{ "line-1\nline-2\n", 0600, 0, 0, 0, NULL, "spaces or control" },
	{ "tab\there\n", 0600, 0, 0, 0, NULL, "spaces or control" },
	/* systemd's LoadCredential=: looked up there first */
	{ "from-creds\n", 0600, 1, 1, 0, "from-creds", NULL },
	{ "from-creds\n", 0644, 1, 1, 0, NULL, "group or others" },
	/* not there: next to the configuration */
	{ "next-to-conf\n", 0600, 0, 1, 0, "next-to-conf", NULL },
	/* without the variable, the directory is not looked in */
	{ "from-creds\n", 0600, 1, 0, 0, NULL, "cannot open" },
};

START_TEST(token_file)
{
	const struct token_case *t = &token_cases[_i];
	char path[512], file[600], creds[512], text[1200], err[1024], want[600];
	char name[32];
	unsigned char digest[ST_SHA256_LEN];
	struct st_config *cfg;
	FILE *f;

	snprintf(creds, sizeof(creds), "%s/creds", dir);
	mkdir(creds, 0700);
	snprintf(name, sizeof(name), "token%d", _i);
	snprintf(file, sizeof(file), "%s/%s", t->in_creds ? creds : dir, name);
	if (t->content != NULL) {
		f = fopen(file, "w");
		ck_assert_ptr_nonnull(f);
		fputs(t->content, f);
		fclose(f);
		chmod(file, t->mode);
	}
	if (t->creds_env)
		setenv("CREDENTIALS_DIRECTORY", creds, 1);
	snprintf(text, sizeof(text), "clients = ( { name = \"app\";\n"
	    " token_file = \"%s\"; allow = ( \"blob:*:get\" ); } );\n",
	    t->absolute ? file : name);
	cfg = load_text(name, text, path, err, sizeof(err));
	unsetenv("CREDENTIALS_DIRECTORY");
	if (t->token != NULL) {
		ck_assert_msg(cfg != NULL, "token case %d refused: %s", _i, err);
		ck_assert_uint_eq(cfg->nclients, 1);
		st_sha256(t->token, strlen(t->token), digest);
		ck_assert_msg(memcmp(cfg->clients[0].token_sha256, digest,
		    sizeof(digest)) == 0, "token case %d: another digest", _i);
		st_config_unref(cfg);
		return;
	}
	ck_assert_msg(cfg == NULL, "token case %d loaded but should not", _i);
	snprintf(want, sizeof(want), "%s:2: client 'app': token_file: ", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
	    "token case %d: '%s' does not start with '%s'", _i, err, want);
	ck_assert_msg(strstr(err, t->reason) != NULL, "token case %d: '%s' "
	    "lacks '%s'", _i, err, t->reason);
	/* The reason never shows what the file holds. */
	if (t->content != NULL && strlen(t->content) > 3)
		ck_assert_msg(strstr(err, t->content) == NULL, "token case %d: "
		    "'%s' shows the token", _i, err);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_add_loop_test(tc, bytes_text, 0,
	    sizeof(bytes_cases) / sizeof(bytes_cases[0]));
	tcase_add_loop_test(tc, configs, 0,
	    (int)(sizeof(conf_cases) / sizeof(conf_cases[0])));
	tcase_add_loop_test(tc, bare_configs, 0,
	    (int)(sizeof(bare_cases) / sizeof(bare_cases[0])));
	tcase_add_loop_test(tc, connection_memory, 0,
	    (int)(sizeof(memory_cases) / sizeof(memory_cases[0])));
	tcase_add_loop_test(tc, reload_check, 0,
	    (int)(sizeof(reload_cases) / sizeof(reload_cases[0])));
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, secret_file_modes);
	tcase_add_loop_test(tc, token_file, 0,
	    (int)(sizeof(token_cases) / sizeof(token_cases[0])));
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(config_suite)
