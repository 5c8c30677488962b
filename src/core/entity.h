/*
 * entity.h - table entities as the API writes them: a flat JSON object of
 * strings, numbers and booleans, read and checked once, and written back
 * with each value's type kept (an integer stays an integer, 2.0 stays a
 * double).
 */
#ifndef STRATUS_CORE_ENTITY_H
#define STRATUS_CORE_ENTITY_H

#include <stddef.h>

#include <yajl/yajl_gen.h>

#include <stratus/backend.h>

enum st_entity_result {
	ST_ENTITY_OK,
	ST_ENTITY_NOT_OBJECT,	/* 400 invalid_json */
	ST_ENTITY_INVALID,	/* 400 invalid_entity */
	ST_ENTITY_TOO_LARGE	/* 413 payload_too_large */
};

struct st_entity {
	struct st_prop	*props;
	size_t		 nprops;
	void		*tree;		/* the parsed JSON the strings live in */
};

/* Reads and checks one entity from a JSON text; why says what is wrong. */
enum st_entity_result st_entity_parse(const char *json, size_t len,
                                      struct st_entity *, char *why,
                                      size_t whylen);
void st_entity_free(struct st_entity *);

/* Writes the properties as one JSON object. */
void st_entity_gen(yajl_gen, const struct st_prop *, size_t n);

/* The shortest text that reads back as exactly d and as a double ("2.0",
 * "0.1", "1e+300"); out holds 32 bytes. */
void st_double_text(double d, char out[32]);

/* Property names of the API: [A-Za-z_][A-Za-z0-9_]{0,254}; reserved
 * (starting with '_') ones are refused where an application sends them. */
int st_valid_prop_name(const char *, size_t);

#endif
