/*
 * confval.c - numbers, names and secret files from libconfig settings
 * (see confval.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/confval.h"

#define LINE_MAX_READ 4096

/* The setting's name, or "value" for a list element. */
static const char *
setting_name(const config_setting_t *s)
{
	const char *n = config_setting_name(s);

	return n ? n : "value";
}

static int
fail(const config_setting_t *s, char *why, size_t whylen, const char *what)
{
	snprintf(why, whylen, "'%s' %s", setting_name(s), what);
	return -1;
}

/* Reads line `line` (1-based) of file into buf; 0 or -1. */
static int
read_line(const char *file, unsigned line, char *buf, size_t cap)
{
	FILE *f = fopen(file, "r");
	unsigned n = 0;
	int rc = -1;

	if (f == NULL)
		return -1;
	while (fgets(buf, (int)cap, f) != NULL) {
		if (strchr(buf, '\n') != NULL || feof(f))
			n++;
		if (n == line) {
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

/*
 * Is the integer literal of a setting of type int too large for libconfig
 * to have read it right? The literal is found on the setting's source
 * line, after its name and '=' or ':'.
 */
static int
literal_wrapped(const config_setting_t *s)
{
	const char *file = config_setting_source_file(s);
	const char *name = config_setting_name(s), *p;
	char line[LINE_MAX_READ];
	unsigned long long v;
	size_t n;
	int base = 10, neg;

	if (config_setting_type(s) != CONFIG_TYPE_INT || file == NULL ||
	    name == NULL || read_line(file, config_setting_source_line(s),
	    line, sizeof(line)) == -1)
		return 0;
	n = strlen(name);
	for (p = line; (p = strstr(p, name)) != NULL; p += n) {
		const char *q = p + n;

		if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q != '=' && *q != ':')
			continue;
		q++;
		while (*q == ' ' || *q == '\t')
			q++;
		neg = *q == '-';
		if (*q == '-' || *q == '+')
			q++;
		if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
			base = 16;
		errno = 0;
		v = strtoull(q, NULL, base);
		return errno == ERANGE || v > (unsigned long long)INT_MAX + neg;
	}
	return 0;
}

int
st_confval_int(const config_setting_t *s, long long min, long long max,
               long long *out, char *why, size_t whylen)
{
	long long v;
	char what[160];

	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail(s, why, whylen, "must be a whole number");
	if (literal_wrapped(s))
		return fail(s, why, whylen, "is too large for a plain integer "
		    "(libconfig would wrap it): write it with an L suffix, or a "
		    "size as a string with a unit such as \"5 GiB\"");
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		snprintf(what, sizeof(what), "must be between %lld and %lld", min,
		    max);
		return fail(s, why, whylen, what);
	}
	*out = v;
	return 0;
}

int
st_parse_bytes(const char *text, uint64_t *out)
{
	static const struct { const char *unit; unsigned shift; } units[] = {
		{ "B", 0 }, { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 },
		{ "TiB", 40 },
	};
	unsigned long long v;
	const char *p = text;
	char *end;
	size_t i;

	if (!isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno != 0)
		return -1;
	while (*end == ' ')
		end++;
	if (*end == '\0') {
		*out = v;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (units[i].shift > 0 && v > (UINT64_MAX >> units[i].shift))
			return -1;
		*out = (uint64_t)v << units[i].shift;
		return 0;
	}
	return -1;
}

int
st_confval_bytes(const config_setting_t *s, uint64_t min, uint64_t max,
                 uint64_t *out, char *why, size_t whylen)
{
	char what[200];
	long long iv;
	uint64_t v;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if (st_parse_bytes(config_setting_get_string(s), &v) == -1)
			return fail(s, why, whylen, "must be a size such as "
			    "\"512 KiB\", \"64 MiB\", \"5 GiB\" (units B, KiB, "
			    "MiB, GiB, TiB) or a whole number of bytes");
	} else {
		if (st_confval_int(s, 0, LLONG_MAX, &iv, why, whylen) == -1)
			return -1;
		v = (uint64_t)iv;
	}
	if (v < min || v > max) {
		snprintf(what, sizeof(what), "must be between %llu and %llu bytes",
		    (unsigned long long)min, (unsigned long long)max);
		return fail(s, why, whylen, what);
	}
	*out = v;
	return 0;
}

/* ---------------------------------------------------------------- files */

const config_setting_t *
st_conf_unknown_member(const config_setting_t *g, const char *const *allowed)
{
	int i, n = config_setting_length(g);

	if (!config_setting_is_group(g))
		return NULL;
	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const char *const *a;

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, name) == 0)
				break;
		if (*a == NULL)
			return s;
	}
	return NULL;
}

int
st_conf_only_keys(const config_setting_t *g, const char *const *allowed,
                  char *err, size_t errlen)
{
	const config_setting_t *s = st_conf_unknown_member(g, allowed);

	if (s == NULL)
		return 0;
	snprintf(err, errlen, "unknown setting '%s'", config_setting_name(s));
	return -1;
}

void
st_conf_path(const struct st_store_env *env, const char *name, char *out,
             size_t cap)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");

	if (name[0] == '/') {
		snprintf(out, cap, "%s", name);
		return;
	}
	if (creds != NULL && creds[0] != '\0') {
		snprintf(out, cap, "%s/%s", creds, name);
		if (access(out, F_OK) == 0)
			return;
	}
	snprintf(out, cap, "%s/%s", env->config_dir, name);
}

/* The nearest directory above path that exists, into up. */
static int
existing_parent(const char *path, char *up, size_t cap, struct stat *st)
{
	char *slash;

	if (snprintf(up, cap, "%s", path) >= (int)cap)
		return -1;
	for (;;) {
		if ((slash = strrchr(up, '/')) == NULL)
			snprintf(up, cap, ".");
		else if (slash == up)
			up[1] = '\0';		/* the root */
		else
			*slash = '\0';
		if (stat(up, st) == 0)
			return 0;
		if (errno != ENOENT || slash == NULL || slash == up)
			return -1;
	}
}

int
st_conf_check_dir(const char *dir, char *err, size_t errlen)
{
	char up[PATH_MAX];
	struct stat st;

	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "path %s is not a directory", dir);
			return -1;
		}
		if (access(dir, W_OK | X_OK) == -1) {
			snprintf(err, errlen, "path %s is not writable: %s", dir,
			    strerror(errno));
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (existing_parent(dir, up, sizeof(up), &st) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot create %s: %s is not a directory",
		    dir, up);
		return -1;
	}
	if (access(up, W_OK | X_OK) == -1) {
		snprintf(err, errlen, "cannot create %s: %s: %s", dir, up,
		    strerror(errno));
		return -1;
	}
	return 0;
}

long
st_read_secret_file(const char *path, char *buf, size_t cap, char *err,
                    size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "cannot open secret file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "secret file %s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "secret file %s is accessible by group or "
		    "others (mode %o): chmod 600 it", path,
		    (unsigned)(st.st_mode & 0777));
		close(fd);
		return -1;
	}
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0 || (size_t)n == cap - 1) {
		snprintf(err, errlen, "secret file %s is unreadable or too large",
		    path);
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return n;
}

int
st_conf_read_secret(const struct st_store_env *env, const char *file,
                    char *out, size_t cap, char *err, size_t errlen)
{
	char path[PATH_MAX];

	st_conf_path(env, file, path, sizeof(path));
	return st_read_secret_file(path, out, cap, err, errlen) < 0 ? -1 : 0;
}

int
st_conf_size(const config_setting_t *conf, const char *name, uint64_t min,
             uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const config_setting_t *s = config_setting_get_member(conf, name);
	char why[400];

	if (s == NULL)
		return 0;
	if (st_confval_bytes(s, min, max, out, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "line %d: %s",
		    (int)config_setting_source_line(s), why);
		return -1;
	}
	return 0;
}

int
st_conf_opt_string(const config_setting_t *g, const char *name,
                   const char **out, char *err, size_t errlen)
{
	const config_setting_t *v = config_setting_get_member(g, name);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (config_setting_type(v) != CONFIG_TYPE_STRING) {
		snprintf(err, errlen, "line %d: %s must be a string",
		    (int)config_setting_source_line(v), name);
		return -1;
	}
	*out = config_setting_get_string(v);
	return 0;
}
