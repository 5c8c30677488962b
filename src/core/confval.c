/*
 * confval.c - numbers from libconfig settings (see confval.h).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
