/*
 * entity.c - reading and writing table entities (see entity.h).
 *
 * The body is parsed whole with yajl's tree parser (it is at most
 * 400 KiB), then walked once: every check of API.md's table section is
 * here, so no provider ever sees a nested value, a null, a reserved or
 * malformed name, a duplicate, or an integer beyond 2^53. Numbers are
 * judged by their text, not by what yajl made of them: "2" is an
 * integer, "2.0" and "2e0" are doubles.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "core/entity.h"
#include "core/json.h"
#include "core/validate.h"

int
st_valid_prop_name(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > ST_TABLE_NAME_MAX)
		return 0;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
	    s[0] == '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' &&
		    s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* Is a JSON number's text an integer literal (no fraction, no exponent)? */
static int
integer_text(const char *r)
{
	return strpbrk(r, ".eE") == NULL;
}

static enum st_entity_result
take_number(yajl_val v, struct st_prop *p, char *why, size_t whylen)
{
	const char *r = YAJL_GET_NUMBER(v);
	char *end;

	errno = 0;
	if (integer_text(r)) {
		long long i = strtoll(r, &end, 10);

		if (errno != 0 || *end != '\0' || i > ST_TABLE_INT_MAX ||
		    i < -ST_TABLE_INT_MAX) {
			snprintf(why, whylen, "property '%s': integers are "
			    "limited to +-2^53", p->name);
			return ST_ENTITY_INVALID;
		}
		p->type = ST_VALUE_INT;
		p->i = i;
		return ST_ENTITY_OK;
	}
	p->d = strtod(r, &end);
	if (*end != '\0' || !isfinite(p->d) || (errno == ERANGE && p->d == 0)) {
		snprintf(why, whylen, "property '%s': %s is not a number a "
		    "double can hold", p->name, r);
		return ST_ENTITY_INVALID;
	}
	p->type = ST_VALUE_DOUBLE;
	return ST_ENTITY_OK;
}

static enum st_entity_result
take_value(yajl_val v, struct st_prop *p, char *why, size_t whylen)
{
	if (YAJL_IS_STRING(v)) {
		p->type = ST_VALUE_STRING;
		p->s = YAJL_GET_STRING(v);
		p->slen = strlen(p->s);
		return ST_ENTITY_OK;
	}
	if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		p->type = ST_VALUE_BOOL;
		p->b = YAJL_IS_TRUE(v);
		return ST_ENTITY_OK;
	}
	if (YAJL_IS_NUMBER(v))
		return take_number(v, p, why, whylen);
	snprintf(why, whylen, "property '%s': values are strings, numbers or "
	    "booleans (no null, array or object)", p->name);
	return ST_ENTITY_INVALID;
}

static int
duplicate(const struct st_prop *props, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(props[i].name, name) == 0)
			return 1;
	return 0;
}

static enum st_entity_result
take_props(yajl_val obj, struct st_entity *e, char *why, size_t whylen)
{
	size_t i, n = YAJL_GET_OBJECT(obj)->len;
	enum st_entity_result r;

	if (n > ST_TABLE_PROPS_MAX) {
		snprintf(why, whylen, "an entity has at most %d properties",
		    ST_TABLE_PROPS_MAX);
		return ST_ENTITY_TOO_LARGE;
	}
	if (n > 0 && (e->props = calloc(n, sizeof(*e->props))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return ST_ENTITY_TOO_LARGE;
	}
	for (i = 0; i < n; i++) {
		const char *name = YAJL_GET_OBJECT(obj)->keys[i];
		struct st_prop *p = &e->props[i];

		if (!st_valid_prop_name(name, strlen(name)) || name[0] == '_') {
			snprintf(why, whylen, "bad property name (names match "
			    "[A-Za-z][A-Za-z0-9_]{0,254}; '_' is reserved)");
			return ST_ENTITY_INVALID;
		}
		if (duplicate(e->props, i, name)) {
			snprintf(why, whylen, "property '%s' is given twice",
			    name);
			return ST_ENTITY_INVALID;
		}
		p->name = name;
		r = take_value(YAJL_GET_OBJECT(obj)->values[i], p, why, whylen);
		if (r != ST_ENTITY_OK)
			return r;
		e->nprops++;
	}
	return ST_ENTITY_OK;
}

enum st_entity_result
st_entity_parse(const char *json, size_t len, struct st_entity *e, char *why,
                size_t whylen)
{
	enum st_entity_result r;
	yajl_val v;

	memset(e, 0, sizeof(*e));
	if (len > ST_TABLE_ENTITY_MAX) {
		snprintf(why, whylen, "an entity is at most %d bytes of JSON",
		    ST_TABLE_ENTITY_MAX);
		return ST_ENTITY_TOO_LARGE;
	}
	if (st_json_has_nul(json, len)) {
		snprintf(why, whylen, "the body must not contain NUL characters");
		return ST_ENTITY_NOT_OBJECT;
	}
	if (!st_json_shallow(json, len, ST_JSON_DEPTH_MAX)) {
		snprintf(why, whylen, "values are strings, numbers or booleans "
		    "(no nesting)");
		return ST_ENTITY_INVALID;
	}
	v = st_json_parse(json, len);
	if (v == NULL || !YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		snprintf(why, whylen, "the body must be a JSON object");
		return ST_ENTITY_NOT_OBJECT;
	}
	e->tree = v;
	if ((r = take_props(v, e, why, whylen)) != ST_ENTITY_OK)
		st_entity_free(e);
	return r;
}

void
st_entity_free(struct st_entity *e)
{
	free(e->props);
	yajl_tree_free(e->tree);
	memset(e, 0, sizeof(*e));
}

void
st_double_text(double d, char out[32])
{
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	if (strpbrk(out, ".eEni") == NULL)
		strcat(out, ".0");
}

void
st_entity_gen(yajl_gen g, const struct st_prop *props, size_t n)
{
	char num[32];
	size_t i;

	yajl_gen_map_open(g);
	for (i = 0; i < n; i++) {
		const struct st_prop *p = &props[i];

		st_json_str(g, p->name);
		switch (p->type) {
		case ST_VALUE_STRING:
			st_json_strn(g, p->s, p->slen);
			break;
		case ST_VALUE_INT:
			yajl_gen_integer(g, p->i);
			break;
		case ST_VALUE_DOUBLE:
			st_double_text(p->d, num);
			yajl_gen_number(g, num, strlen(num));
			break;
		case ST_VALUE_BOOL:
			yajl_gen_bool(g, p->b);
			break;
		}
	}
	yajl_gen_map_close(g);
}
