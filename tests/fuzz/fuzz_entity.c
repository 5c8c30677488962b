/*
 * fuzz_entity.c - every table entity body the API takes: parse, check,
 * write back, and parse what was written (it must read the same).
 */
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "core/entity.h"
#include "core/json.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_entity e, again;
	struct st_buf out = { 0 };
	char why[256];
	yajl_gen g;
	size_t i;

	if (st_entity_parse((const char *)data, size, &e, why,
	    sizeof(why)) != ST_ENTITY_OK)
		return 0;
	g = st_json_new();
	st_entity_gen(g, e.props, e.nprops);
	st_json_flush(g, &out);
	yajl_gen_free(g);
	if (st_entity_parse(out.data, out.len, &again, why, sizeof(why)) !=
	    ST_ENTITY_OK || again.nprops != e.nprops)
		abort();		/* what we write, we must read */
	for (i = 0; i < e.nprops; i++)
		if (again.props[i].type != e.props[i].type)
			abort();	/* a value changed its type */
	st_entity_free(&again);
	st_entity_free(&e);
	st_buf_free(&out);
	return 0;
}
