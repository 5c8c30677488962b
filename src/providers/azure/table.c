/*
 * table.c - table stores on Azure Table Storage (and Azurite).
 *
 * Each operation is one or two REST calls (OData JSON) made by the
 * provider-call engine (src/core/pcall.c), signed with Shared Key for
 * Table (a string-to-sign of its own, src/sign/azure_sign.c) or a SAS.
 *
 *   create   POST   /Tables {"TableName"}          (409: it exists)
 *   destroy  DELETE /Tables('T')                   (404: fine)
 *   put      insert only:    POST /T               (409: 412)
 *            If-Match:       PUT /T(PartitionKey='P',RowKey='R') If-Match
 *            unconditional:  POST, and on 409 a PUT with If-Match: *
 *                            (so the answer knows new from replaced)
 *   get      GET    /T(PartitionKey='P',RowKey='R')
 *   remove   DELETE /T(...) If-Match: ETAG or *
 *   query    GET    /T()?$filter=PartitionKey eq 'P' and RowKey ge 'A'
 *                   and RowKey lt 'B'&$top=N (+ the continuation)
 *
 * Values keep their JSON type: strings and booleans as they are, integers
 * as Edm.Int64 (a string on the wire: JSON numbers without a type would be
 * Int32), doubles as Edm.Double. Azure may return a whole double without
 * its type; so the names of the double properties are also kept in a
 * property of the daemon's own, _stxd, and read back from it. Names Azure
 * reserves for itself (PartitionKey, RowKey, Timestamp) are stored with a
 * leading '_' (an application's names never start with one) and come back
 * as sent. The ETag is Azure's own (W/"datetime'...'"); the core wraps it.
 *
 * Rows are in Azure's order: UTF-16 code units, which differs from UTF-8
 * byte order only for keys that mix U+E000-U+FFFF with characters above
 * U+FFFF (docs/api.md). The cursor is the continuation Azure gives,
 * "NEXTPARTITIONKEY\nNEXTROWKEY".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "core/answer.h"
#include "core/buf.h"
#include "core/entity.h"
#include "core/guard.h"
#include "core/json.h"
#include "core/pcall.h"
#include "core/retry.h"
#include "core/confval.h"
#include "providers/azure/azure.h"
#include "sign/azure_sign.h"
#include "sign/hmac.h"

#define DOUBLES_PROP "_stxd"
#define JSON_NOMETA "application/json;odata=nometadata"
#define JSON_MINIMAL "application/json;odata=minimalmetadata"

struct azt_store {
	struct az_svc	 svc;		/* first: its kind, key, endpoint */
	char		 table[64];
};

static const char *const azt_keys[] = {
	"name", "kind", "provider", "table", "credentials", "endpoint",
	"allow_anonymous", "retry", ST_CONN_KEYS, NULL
};

struct azt_call {
	struct st_pcall	*pc;
	struct st_buf	 body;		/* the entity's JSON, kept for a retry */
	int		 tries;		/* unconditional put: insert, replace */
};

/* ---------------------------------------------------------------- protocol */

static const struct st_answer_code azt_codes[] = {
	{ "TableNotFound", ST_NOT_FOUND },
	{ "ResourceNotFound", ST_NOT_FOUND },
	{ "EntityNotFound", ST_NOT_FOUND },
	{ "TableAlreadyExists", ST_CONFLICT },
	{ "TableBeingDeleted", ST_CONFLICT },
	{ "EntityAlreadyExists", ST_PRECONDITION },
	{ "UpdateConditionNotSatisfied", ST_PRECONDITION },
	{ "ConditionNotMet", ST_PRECONDITION },
	{ "PropertyValueTooLarge", ST_BAD_REQUEST },
	{ "PropertyNameTooLong", ST_BAD_REQUEST },
	{ "TooManyProperties", ST_TOO_LARGE },
	{ "EntityTooLarge", ST_TOO_LARGE },
	{ "RequestBodyTooLarge", ST_TOO_LARGE },
	{ "AuthenticationFailed", ST_FORBIDDEN },
	{ "AuthorizationFailure", ST_FORBIDDEN },
	{ "ServerBusy", ST_UNAVAILABLE },
	{ "InternalError", ST_UNAVAILABLE },
	{ "OperationTimedOut", ST_TIMEOUT },
};

static const struct st_pcall_proto azt_proto = {
	.service = "Azure Table",
	.sign = az_svc_sign,
	.error_code = st_pcall_code_odata,
	.code_header = "x-ms-error-code",
	.codes = azt_codes,
	.ncodes = sizeof(azt_codes) / sizeof(azt_codes[0]),
	.answer_max = 16u << 20,
};

/* A key in an OData URL: 'KEY' with quotes doubled, percent-encoded. */
static void
odata_key(struct st_buf *out, const char *k, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	st_buf_adds(out, "'");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];

		if (c == '\'')
			st_buf_adds(out, "''");
		else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL)
			st_buf_add(out, &k[i], 1);
		else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			st_buf_add(out, e, 3);
		}
	}
	st_buf_adds(out, "'");
}

/* The path of the table's entity of the call: /T(PartitionKey='..',...). */
static void
entity_path(struct st_buf *out, const struct st_call *c)
{
	struct azt_store *s = c->store;

	st_buf_adds(out, s->svc.base_path);
	st_buf_adds(out, "/");
	st_buf_adds(out, s->table);
	st_buf_adds(out, "(PartitionKey=");
	odata_key(out, c->table.pk, c->table.pklen);
	st_buf_adds(out, ",RowKey=");
	odata_key(out, c->table.rk, c->table.rklen);
	st_buf_adds(out, ")");
}

/* Describes the next request; path is encoded, the query decoded. */
static int
azt_prepare(struct st_call *c, struct azt_call *tc, const char *method,
            const char *path, const struct st_pcall_pair *q, size_t nq,
            const char *accept)
{
	struct azt_store *s = c->store;

	if (az_svc_prepare(&s->svc, tc->pc, c, method, path, q, nq) == -1)
		return -1;
	if (st_pcall_header(tc->pc, "Accept", accept) == 0 &&
	    st_pcall_header(tc->pc, "DataServiceVersion", "3.0") == 0 &&
	    st_pcall_header(tc->pc, "MaxDataServiceVersion", "3.0;NetFx") == 0)
		return 0;
	st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
	return -1;
}

static struct azt_call *
azt_call(struct st_call *c)
{
	struct azt_store *s = c->store;
	struct azt_call *tc = c->backend_data;

	if (tc != NULL)
		return tc;
	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	if ((tc->pc = az_svc_pcall(&s->svc, c, &azt_proto)) == NULL) {
		free(tc);
		return NULL;
	}
	c->backend_data = tc;
	return tc;
}

static void
done_ok(struct st_call *c)
{
	c->status = ST_OK;
	st_call_done(c);
}

/* ---------------------------------------------------------------- entities */

static int
reserved(const char *name)
{
	return strcmp(name, "PartitionKey") == 0 ||
	    strcmp(name, "RowKey") == 0 || strcmp(name, "Timestamp") == 0;
}

/* The entity of a PUT as Azure JSON, with its keys. */
static int
entity_json(const struct st_call *c, struct st_buf *out)
{
	const struct st_table_part *t = &c->table;
	struct st_buf doubles = { 0 }, name = { 0 };
	yajl_gen g = st_json_new();
	char num[32];
	size_t i;
	int rc;

	if (g == NULL)
		return -1;
	yajl_gen_map_open(g);
	st_json_str(g, "PartitionKey");
	st_json_strn(g, t->pk, t->pklen);
	st_json_str(g, "RowKey");
	st_json_strn(g, t->rk, t->rklen);
	for (i = 0; i < t->nprops; i++) {
		const struct st_prop *p = &t->props[i];

		st_buf_reset(&name);
		st_buf_printf(&name, "%s%s", reserved(p->name) ? "_" : "",
		    p->name);
		st_json_strn(g, name.data, name.len);
		switch (p->type) {
		case ST_VALUE_STRING:
			st_json_strn(g, p->s, p->slen);
			break;
		case ST_VALUE_BOOL:
			yajl_gen_bool(g, p->b);
			break;
		case ST_VALUE_INT:
			snprintf(num, sizeof(num), "%lld", (long long)p->i);
			st_json_str(g, num);
			st_buf_adds(&name, "@odata.type");
			st_json_strn(g, name.data, name.len);
			st_json_str(g, "Edm.Int64");
			break;
		case ST_VALUE_DOUBLE:
			st_double_text(p->d, num);
			yajl_gen_number(g, num, strlen(num));
			st_buf_adds(&name, "@odata.type");
			st_json_strn(g, name.data, name.len);
			st_json_str(g, "Edm.Double");
			st_buf_printf(&doubles, "%s%s", doubles.len ? "," : "",
			    p->name);
			break;
		}
	}
	if (doubles.len > 0) {
		st_json_str(g, DOUBLES_PROP);
		st_json_strn(g, doubles.data, doubles.len);
	}
	yajl_gen_map_close(g);
	rc = st_json_flush(g, out);
	yajl_gen_free(g);
	st_buf_free(&doubles);
	st_buf_free(&name);
	return rc;
}

/* A JSON string's text ("" for anything else). */
static const char *
str_of(yajl_val v)
{
	const char *s = YAJL_IS_STRING(v) ? v->u.string : NULL;

	return s != NULL ? s : "";
}

/* Is name one of the comma-separated list? */
static int
listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	return 0;
}

/* The type Azure annotated a property with, or NULL. */
static const char *
annotation(yajl_val obj, const char *name)
{
	char key[300];
	const char *path[] = { key, NULL };
	yajl_val v;

	snprintf(key, sizeof(key), "%s@odata.type", name);
	v = yajl_tree_get(obj, path, yajl_t_string);
	return v ? str_of(v) : NULL;
}

/* One property of Azure's JSON into the call; skips Azure's own. */
static int
add_prop(struct st_call *c, yajl_val obj, const char *name, yajl_val v,
         const char *doubles)
{
	const char *type = annotation(obj, name), *user = name;
	struct st_prop p;

	if (strchr(name, '@') != NULL || strncmp(name, "odata.", 6) == 0 ||
	    reserved(name) || strcmp(name, DOUBLES_PROP) == 0)
		return 0;
	if (name[0] == '_' && reserved(name + 1))
		user = name + 1;
	memset(&p, 0, sizeof(p));
	p.name = user;
	if (YAJL_IS_STRING(v) && type != NULL && strcmp(type, "Edm.Int64") == 0) {
		p.type = ST_VALUE_INT;
		p.i = strtoll(str_of(v), NULL, 10);
	} else if (YAJL_IS_STRING(v) && (type == NULL ||
	    strcmp(type, "Edm.String") == 0)) {
		p.type = ST_VALUE_STRING;
		p.s = str_of(v);
		p.slen = strlen(p.s);
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		p.type = ST_VALUE_BOOL;
		p.b = YAJL_IS_TRUE(v);
	} else if (YAJL_IS_NUMBER(v)) {
		const char *text = YAJL_GET_NUMBER(v);

		if ((type != NULL && strcmp(type, "Edm.Double") == 0) ||
		    listed(doubles, user) || strpbrk(text, ".eE") != NULL) {
			p.type = ST_VALUE_DOUBLE;
			p.d = strtod(text, NULL);
		} else {
			p.type = ST_VALUE_INT;
			p.i = strtoll(text, NULL, 10);
		}
	} else {
		return 0;		/* a type the API has no use for */
	}
	return st_call_table_prop(c, &p);
}

/* An entity of Azure's JSON into the call's answer; *used is the ETag
 * given with it (its odata.etag, else the answer's header). */
static int
add_entity(struct st_call *c, yajl_val obj, const char *etag_header,
           const char **used)
{
	const char *rk_path[] = { "RowKey", NULL };
	const char *etag_path[] = { "odata.etag", NULL };
	const char *dbl_path[] = { DOUBLES_PROP, NULL };
	yajl_val rk = yajl_tree_get(obj, rk_path, yajl_t_string);
	yajl_val etag = yajl_tree_get(obj, etag_path, yajl_t_string);
	yajl_val dbl = yajl_tree_get(obj, dbl_path, yajl_t_string);
	const char *e = etag ? str_of(etag) : etag_header;
	size_t i;

	if (!YAJL_IS_OBJECT(obj) || rk == NULL || e == NULL)
		return -1;
	if (used != NULL)
		*used = e;
	if (st_call_table_row(c, str_of(rk),
	    strlen(str_of(rk)), e) == -1)
		return -1;
	for (i = 0; i < YAJL_GET_OBJECT(obj)->len; i++)
		if (add_prop(c, obj, YAJL_GET_OBJECT(obj)->keys[i],
		    YAJL_GET_OBJECT(obj)->values[i],
		    dbl ? str_of(dbl) : "") == -1)
			return -1;
	return 0;
}


/* ---------------------------------------------------------------- create, delete */

static void
finish_create(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *code = st_pcall_code(pc);

	if (st_pcall_ok(pc)) {
		c->table.existed = 0;
		done_ok(c);
	} else if (code != NULL && strcmp(code, "TableAlreadyExists") == 0) {
		c->table.existed = 1;
		done_ok(c);
	} else {
		if (code != NULL && strcmp(code, "TableBeingDeleted") == 0)
			c->retry_after = 30;
		st_pcall_fail(pc);
	}
}

static void
azt_create(struct st_call *c)
{
	struct azt_store *s = c->store;
	struct azt_call *tc = azt_call(c);
	struct st_buf path = { 0 };

	if (tc == NULL)
		return;
	st_buf_printf(&path, "%s/Tables", s->svc.base_path);
	st_buf_printf(&tc->body, "{\"TableName\":\"%s\"}", s->table);
	if (azt_prepare(c, tc, "POST", path.data, NULL, 0, JSON_NOMETA) == 0 &&
	    st_pcall_header(tc->pc, "Content-Type", "application/json") == 0 &&
	    st_pcall_header(tc->pc, "Prefer", "return-no-content") == 0 &&
	    st_pcall_body(tc->pc, tc->body.data, tc->body.len) == 0)
		st_pcall_start(tc->pc, ST_PCALL_IDEMPOTENT, finish_create, c);
	st_buf_free(&path);
}

static void
finish_destroy(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;

	if (st_pcall_ok(pc) || st_pcall_outcome(pc) == ST_NOT_FOUND)
		done_ok(c);
	else
		st_pcall_fail(pc);
}

static void
azt_destroy(struct st_call *c)
{
	struct azt_store *s = c->store;
	struct azt_call *tc = azt_call(c);
	struct st_buf path = { 0 };

	if (tc == NULL)
		return;
	st_buf_printf(&path, "%s/Tables('%s')", s->svc.base_path, s->table);
	if (azt_prepare(c, tc, "DELETE", path.data, NULL, 0, JSON_NOMETA) == 0)
		st_pcall_start(tc->pc, ST_PCALL_IDEMPOTENT, finish_destroy, c);
	st_buf_free(&path);
}

/* ---------------------------------------------------------------- put */

static void put_replace(struct st_call *, const char *if_match);
static void put_insert(struct st_call *);

/* A missing table is a 404 of its own: not a failed condition. */
static int
table_missing(struct st_pcall *pc)
{
	const char *code = st_pcall_code(pc);

	return code != NULL && strcmp(code, "TableNotFound") == 0;
}

static void
written(struct st_call *c, struct st_pcall *pc, int existed)
{
	const char *etag = st_pcall_header_value(pc, "ETag");

	if (etag == NULL) {
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "Azure answered a write "
		    "without an ETag");
		return;
	}
	c->table.etag = st_call_strdup(c, etag);
	c->table.existed = existed;
	done_ok(c);
}

static void
finish_insert(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *code = st_pcall_code(pc);

	if (st_pcall_ok(pc)) {
		written(c, pc, 0);
	} else if (!c->table.if_none_match && code != NULL &&
	    strcmp(code, "EntityAlreadyExists") == 0) {
		put_replace(c, "*");	/* it is there: replace it */
	} else if (table_missing(pc)) {
		st_call_fail(c, ST_NOT_FOUND, "TableNotFound", "table '%s' does "
		    "not exist (create it with PUT /v1/tables/...)",
		    ((struct azt_store *)c->store)->svc.name);
	} else {
		st_pcall_fail(pc);
	}
}

static void
finish_replace(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	struct azt_call *tc = c->backend_data;

	if (st_pcall_ok(pc)) {
		written(c, pc, 1);
	} else if (table_missing(pc)) {
		st_call_fail(c, ST_NOT_FOUND, "TableNotFound", "table '%s' does "
		    "not exist", ((struct azt_store *)c->store)->svc.name);
	} else if (c->table.if_match == NULL && st_pcall_outcome(pc) ==
	    ST_NOT_FOUND && ++tc->tries < 3) {
		/* Deleted between our insert and replace: insert again. */
		put_insert(c);
	} else if (st_pcall_outcome(pc) == ST_NOT_FOUND) {
		st_call_fail(c, ST_PRECONDITION, st_pcall_code(pc), "If-Match: "
		    "the entity does not exist");
	} else {
		st_pcall_fail(pc);
	}
}

static void
put_replace(struct st_call *c, const char *if_match)
{
	struct azt_call *tc = c->backend_data;
	struct st_buf path = { 0 };

	entity_path(&path, c);
	if (azt_prepare(c, tc, "PUT", path.data, NULL, 0, JSON_NOMETA) == 0 &&
	    st_pcall_header(tc->pc, "Content-Type", "application/json") == 0 &&
	    st_pcall_header(tc->pc, "If-Match", if_match) == 0 &&
	    st_pcall_body(tc->pc, tc->body.data, tc->body.len) == 0)
		st_pcall_start(tc->pc, ST_PCALL_IDEMPOTENT, finish_replace, c);
	st_buf_free(&path);
}

static void
put_insert(struct st_call *c)
{
	struct azt_store *s = c->store;
	struct azt_call *tc = c->backend_data;
	struct st_buf path = { 0 };

	st_buf_printf(&path, "%s/%s", s->svc.base_path, s->table);
	if (azt_prepare(c, tc, "POST", path.data, NULL, 0, JSON_NOMETA) == 0 &&
	    st_pcall_header(tc->pc, "Content-Type", "application/json") == 0 &&
	    st_pcall_header(tc->pc, "Prefer", "return-no-content") == 0 &&
	    st_pcall_body(tc->pc, tc->body.data, tc->body.len) == 0)
		st_pcall_start(tc->pc, ST_PCALL_NOT_IDEMPOTENT, finish_insert, c);
	st_buf_free(&path);
}

static void
azt_put(struct st_call *c)
{
	struct azt_call *tc = azt_call(c);

	if (tc == NULL)
		return;
	if (entity_json(c, &tc->body) == -1) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (c->table.if_match != NULL)
		put_replace(c, c->table.if_match);
	else
		put_insert(c);
}

/* ---------------------------------------------------------------- get, remove */

static void
finish_get(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *etag = NULL;
	yajl_val v;

	if (!st_pcall_ok(pc)) {
		if (table_missing(pc))
			st_call_fail(c, ST_NOT_FOUND, "TableNotFound", "table "
			    "'%s' does not exist",
			    ((struct azt_store *)c->store)->svc.name);
		else
			st_pcall_fail(pc);
		return;
	}
	v = st_pcall_answer_json(pc);
	if (v == NULL || add_entity(c, v, st_pcall_header_value(pc, "ETag"),
	    &etag) == -1) {
		yajl_tree_free(v);
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "Azure answered an "
		    "entity that could not be read");
		return;
	}
	c->table.etag = st_call_strdup(c, etag);
	yajl_tree_free(v);
	done_ok(c);
}

static void
azt_get(struct st_call *c)
{
	struct azt_call *tc = azt_call(c);
	struct st_buf path = { 0 };

	if (tc == NULL)
		return;
	entity_path(&path, c);
	if (azt_prepare(c, tc, "GET", path.data, NULL, 0, JSON_MINIMAL) == 0)
		st_pcall_start(tc->pc, ST_PCALL_IDEMPOTENT, finish_get, c);
	st_buf_free(&path);
}

static void
finish_remove(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;

	if (st_pcall_ok(pc))
		done_ok(c);
	else if (st_pcall_outcome(pc) == ST_NOT_FOUND && !table_missing(pc) &&
	    c->table.if_match == NULL)
		done_ok(c);		/* deleting what is not there */
	else if (st_pcall_outcome(pc) == ST_NOT_FOUND && !table_missing(pc))
		st_call_fail(c, ST_PRECONDITION, st_pcall_code(pc), "If-Match: "
		    "the entity does not exist");
	else
		st_pcall_fail(pc);
}

static void
azt_remove(struct st_call *c)
{
	struct azt_call *tc = azt_call(c);
	struct st_buf path = { 0 };

	if (tc == NULL)
		return;
	entity_path(&path, c);
	if (azt_prepare(c, tc, "DELETE", path.data, NULL, 0, JSON_NOMETA) == 0 &&
	    st_pcall_header(tc->pc, "If-Match", c->table.if_match ?
	    c->table.if_match : "*") == 0)
		st_pcall_start(tc->pc, ST_PCALL_IDEMPOTENT, finish_remove, c);
	st_buf_free(&path);
}

/* ---------------------------------------------------------------- query */

/* An OData string literal: 'text' with quotes doubled. */
static void
odata_literal(struct st_buf *out, const char *s, size_t n)
{
	size_t i;

	st_buf_adds(out, "'");
	for (i = 0; i < n; i++) {
		if (s[i] == '\'')
			st_buf_adds(out, "''");
		else
			st_buf_add(out, &s[i], 1);
	}
	st_buf_adds(out, "'");
}

/* The least string above every string that starts with prefix, in UTF-16
 * order: the prefix with its last character raised by one (0 when there
 * is no such bound). */
static size_t
prefix_upper(const char *prefix, size_t n, char *out, size_t cap)
{
	size_t last = n;

	if (n == 0 || n >= cap)
		return 0;
	memcpy(out, prefix, n);
	while (last > 0 && ((unsigned char)out[last - 1] & 0xc0) == 0x80)
		last--;		/* the start of the last character */
	if (last == 0)
		return 0;
	last--;
	if ((unsigned char)out[last] < 0x7e && n - last == 1) {
		out[last]++;
		return n;
	}
	/* A multibyte last character: raising its last byte keeps it valid
	 * UTF-8 unless that byte is 0xbf; then no bound (filter only). */
	if ((unsigned char)out[n - 1] < 0xbf && n - last > 1) {
		out[n - 1]++;
		return n;
	}
	return 0;
}

static void
finish_query(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *npk = st_pcall_header_value(pc,
	    "x-ms-continuation-NextPartitionKey");
	const char *nrk = st_pcall_header_value(pc,
	    "x-ms-continuation-NextRowKey");
	const char *value_path[] = { "value", NULL };
	yajl_val v, list;
	size_t i;

	if (!st_pcall_ok(pc)) {
		if (table_missing(pc) || st_pcall_outcome(pc) == ST_NOT_FOUND)
			st_call_fail(c, ST_NOT_FOUND, "TableNotFound", "table "
			    "'%s' does not exist",
			    ((struct azt_store *)c->store)->svc.name);
		else
			st_pcall_fail(pc);
		return;
	}
	v = st_pcall_answer_json(pc);
	list = v ? yajl_tree_get(v, value_path, yajl_t_array) : NULL;
	if (list == NULL) {
		yajl_tree_free(v);
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "Azure answered a query "
		    "that could not be read");
		return;
	}
	st_call_table_reset(c);
	for (i = 0; i < YAJL_GET_ARRAY(list)->len; i++) {
		yajl_val e = YAJL_GET_ARRAY(list)->values[i];
		const char *rk_path[] = { "RowKey", NULL };
		yajl_val rk = yajl_tree_get(e, rk_path, yajl_t_string);

		/* Only rows of the prefix (a bound may be missing). */
		if (rk == NULL || strncmp(str_of(rk), c->table.prefix,
		    c->table.prefixlen) != 0)
			continue;
		if (add_entity(c, e, NULL, NULL) == -1) {
			yajl_tree_free(v);
			st_call_fail(c, ST_PROVIDER_ERROR, NULL, "Azure answered "
			    "an entity that could not be read");
			return;
		}
	}
	yajl_tree_free(v);
	if (npk != NULL && nrk != NULL) {
		struct st_buf cur = { 0 };

		st_buf_printf(&cur, "%s\n%s", npk, nrk);
		c->table.next_cursor = st_call_strdup(c, cur.data);
		st_buf_free(&cur);
	}
	done_ok(c);
}

static void
azt_query(struct st_call *c)
{
	struct azt_store *s = c->store;
	struct azt_call *tc = azt_call(c);
	struct st_buf path = { 0 }, filter = { 0 };
	struct st_pcall_pair q[4];
	char top[16], upper[ST_TABLE_KEY_MAX + 1], npk[1024], nrk[1024];
	const char *nl;
	size_t nq = 0, un;

	if (tc == NULL)
		return;
	st_buf_adds(&filter, "PartitionKey eq ");
	odata_literal(&filter, c->table.pk, c->table.pklen);
	if (c->table.prefixlen > 0) {
		st_buf_adds(&filter, " and RowKey ge ");
		odata_literal(&filter, c->table.prefix, c->table.prefixlen);
		if ((un = prefix_upper(c->table.prefix, c->table.prefixlen,
		    upper, sizeof(upper))) > 0) {
			st_buf_adds(&filter, " and RowKey lt ");
			odata_literal(&filter, upper, un);
		}
	}
	st_buf_add(&filter, "", 1);
	snprintf(top, sizeof(top), "%u", c->table.limit);
	q[nq].name = "$filter";
	q[nq++].value = filter.data;
	q[nq].name = "$top";
	q[nq++].value = top;
	if (c->table.cursor != NULL) {
		nl = strchr(c->table.cursor, '\n');
		if (nl == NULL || (size_t)(nl - c->table.cursor) >= sizeof(npk) ||
		    strlen(nl + 1) >= sizeof(nrk)) {
			st_call_fail(c, ST_BAD_REQUEST, NULL, "not a cursor of this "
			    "table");
			st_buf_free(&filter);
			return;
		}
		snprintf(npk, sizeof(npk), "%.*s", (int)(nl - c->table.cursor),
		    c->table.cursor);
		snprintf(nrk, sizeof(nrk), "%s", nl + 1);
		q[nq].name = "NextPartitionKey";
		q[nq++].value = npk;
		q[nq].name = "NextRowKey";
		q[nq++].value = nrk;
	}
	st_buf_printf(&path, "%s/%s()", s->svc.base_path, s->table);
	if (azt_prepare(c, tc, "GET", path.data, q, nq, JSON_MINIMAL) == 0)
		st_pcall_start(tc->pc, ST_PCALL_IDEMPOTENT, finish_query, c);
	st_buf_free(&path);
	st_buf_free(&filter);
}

static void
azt_release(struct st_call *c)
{
	struct azt_call *tc = c->backend_data;

	if (tc == NULL)
		return;
	st_pcall_free(tc->pc);
	st_buf_free(&tc->body);
	free(tc);
	c->backend_data = NULL;
}

const struct st_table_ops az_table_ops = {
	.create = azt_create,
	.destroy = azt_destroy,
	.put = azt_put,
	.get = azt_get,
	.remove = azt_remove,
	.query = azt_query,
	.release = azt_release,
};

/* ---------------------------------------------------------------- store */

/* 3 to 63 letters and digits, starting with a letter. */
static int
valid_table(const char *t)
{
	size_t n = strlen(t), i;

	if (n < 3 || n > 63 || !((t[0] >= 'a' && t[0] <= 'z') ||
	    (t[0] >= 'A' && t[0] <= 'Z')))
		return 0;
	for (i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' &&
		    t[i] <= 'Z') || (t[i] >= '0' && t[i] <= '9')))
			return 0;
	return 1;
}

int
az_table_open(const config_setting_t *conf, const struct st_store_env *env,
              void **out, char *err, size_t errlen)
{
	const char *table = NULL;
	struct azt_store *s;

	*out = NULL;
	if (st_conf_only_keys(conf, azt_keys, err, errlen) == -1)
		return -1;
	if (!config_setting_lookup_string(conf, "table", &table) ||
	    !valid_table(table)) {
		snprintf(err, errlen, "an azure table store needs table = \"NAME\" "
		    "(3 to 63 letters and digits, starting with a letter)");
		return -1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(s->table, sizeof(s->table), "%s", table);
	if (az_svc_open(&s->svc, conf, env, ST_KIND_TABLE, "table", err,
	    errlen) == -1) {
		az_table_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

void
az_table_close(void *p)
{
	struct azt_store *s = p;

	if (s == NULL)
		return;
	az_svc_close(&s->svc);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}
