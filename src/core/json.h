/*
 * json.h - small helpers over yajl's generator, and the error body.
 *
 * Every JSON the daemon writes goes through yajl, so escaping is never
 * done by hand.
 */
#ifndef STRATUS_CORE_JSON_H
#define STRATUS_CORE_JSON_H

#include <stdint.h>
#include <yajl/yajl_gen.h>

#include "core/buf.h"

yajl_gen st_json_new(void);
void st_json_str(yajl_gen, const char *);
void st_json_strn(yajl_gen, const char *, size_t);
void st_json_key_str(yajl_gen, const char *key, const char *value); /* NULL -> null */
void st_json_key_int(yajl_gen, const char *key, long long value);
void st_json_key_uint(yajl_gen, const char *key, uint64_t value);
void st_json_key_bool(yajl_gen, const char *key, int value);
/* Appends what g has generated so far to out, and clears g. */
int  st_json_flush(yajl_gen, struct st_buf *out);

/* Does a JSON text hold a NUL, raw or as the escape \u0000? yajl's tree
 * parser keeps strings NUL-terminated, so either would cut a value short. */
int st_json_has_nul(const char *, size_t);

/*
 * Parses len bytes of JSON (not NUL-terminated) into a tree (yajl_tree_free
 * it), or NULL when the text is not JSON or nests deeper than
 * ST_JSON_DEPTH_MAX. yajl builds any depth and frees a tree recursively, so
 * a few hundred KiB of '[' would exhaust a thread's stack: every tree the
 * daemon parses, from an application or from a provider, comes from here.
 * DynamoDB nests documents 32 deep and wraps them in a few more levels.
 */
#define ST_JSON_DEPTH_MAX 64
struct yajl_val_s;
struct yajl_val_s *st_json_parse(const char *, size_t);
/* Is the nesting of a JSON text at most max (strings skipped)? */
int st_json_shallow(const char *, size_t, unsigned max);

/* {"error":{"code","message","store","provider_code","request_id"}} */
int st_json_error(struct st_buf *out, const char *code, const char *message,
                  const char *store, const char *provider_code,
                  const char *request_id);

#endif
