/*
 * dynamodb.c - table stores on Amazon DynamoDB (and dynalite), the
 * "dynamodb" provider plugin.
 *
 * The JSON protocol (X-Amz-Target: DynamoDB_20120810.*, SigV4 for the
 * service dynamodb, common.c) on the provider-call engine. The table has
 * a string hash key pk and a string range key rk, on-demand billing;
 * PUT /v1/tables/T creates it and waits until it is ACTIVE.
 *
 * An item: pk, rk, the version _v (a random 128-bit hex string, new at
 * every write: the ETag), _d (the names of the properties that are
 * doubles, comma-separated, since DynamoDB keeps numbers as decimal text
 * and 2.0 comes back as 2), and the properties: strings S (the empty
 * string as NULL, which the API never sends), booleans BOOL, numbers N.
 * A property named pk or rk is stored as _pk or _rk (an application's
 * names never start with '_') and comes back as sent.
 *
 * Conditions are DynamoDB's own condition expressions, checked atomically
 * by DynamoDB: If-None-Match: * is attribute_not_exists(pk), If-Match: *
 * is attribute_exists(pk), If-Match: ETAG is _v = ETAG. A failed one is
 * ConditionalCheckFailedException: 412, nothing changed.
 *
 * Listing: Query on pk (and begins_with(rk, prefix)), in DynamoDB's order
 * (UTF-8 bytes); the cursor is the last row key given (LastEvaluatedKey's
 * rk, raw: the core wraps it in its own tagged opaque token), sent back as
 * ExclusiveStartKey. DynamoDB refuses an ExclusiveStartKey outside the
 * begins_with range, so a cursor that does not start with the prefix is
 * judged here: before the range, the listing starts at its beginning;
 * after it, the listing is over.
 *
 * Errors of DynamoDB that say one thing with one code: ValidationException
 * is an item over 400 KB (413) or a value DynamoDB cannot store (400, a
 * double out of its range); a table being deleted when PUT /v1/tables
 * asks for it is 409 with Retry-After.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>
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
#include "providers/aws/aws.h"
#include "sign/hmac.h"

#define ACTIVE_POLL_MS 250
#define ACTIVE_POLLS 240		/* a minute */

struct ddb_store {
	struct aws_svc		 svc;		/* region, endpoint, creds */
	char			 table[256];
};

static const char *const ddb_keys[] = {
	"name", "kind", "provider", "table", "region", "endpoint",
	"credentials", "allow_anonymous", "retry", ST_CONN_KEYS, NULL
};

struct ddb_call {
	struct st_pcall	*pc;
	struct st_buf	 body;
	unsigned	 polls;		/* create: DescribeTable so far */
	char		 version[33];	/* put: the new _v */
};

static const struct st_answer_code ddb_codes[] = {
	{ "ResourceNotFoundException", ST_NOT_FOUND },
	{ "ConditionalCheckFailedException", ST_PRECONDITION },
	{ "ResourceInUseException", ST_CONFLICT },
	{ "ValidationException", ST_BAD_REQUEST },
	{ "ItemCollectionSizeLimitExceededException", ST_TOO_LARGE },
	{ "AccessDeniedException", ST_FORBIDDEN },
	{ "UnrecognizedClientException", ST_FORBIDDEN },
	{ "InvalidSignatureException", ST_FORBIDDEN },
	{ "ProvisionedThroughputExceededException", ST_UNAVAILABLE },
	{ "ThrottlingException", ST_UNAVAILABLE },
	{ "RequestLimitExceeded", ST_UNAVAILABLE },
	{ "InternalServerError", ST_UNAVAILABLE },
	{ "ServiceUnavailable", ST_UNAVAILABLE },
};

static const struct st_pcall_proto ddb_proto = {
	.service = "DynamoDB",
	.sign = aws_sign_json,
	.error_code = st_pcall_code_json_type,
	.codes = ddb_codes,
	.ncodes = sizeof(ddb_codes) / sizeof(ddb_codes[0]),
	.answer_max = 16u << 20,
};

/* ---------------------------------------------------------------- requests */

static struct ddb_call *
ddb_call(struct st_call *c)
{
	struct ddb_store *s = c->store;
	struct ddb_call *dc = c->backend_data;

	if (dc != NULL)
		return dc;
	if ((dc = calloc(1, sizeof(*dc))) == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	if ((dc->pc = aws_svc_pcall(&s->svc, c, &ddb_proto)) == NULL) {
		free(dc);
		return NULL;
	}
	c->backend_data = dc;
	return dc;
}

/* A body: {"TableName": T, ...; the caller adds and ends it. */
static yajl_gen
begin_body(struct st_call *c)
{
	yajl_gen g = st_json_new();

	if (g == NULL) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	yajl_gen_map_open(g);
	st_json_key_str(g, "TableName", ((struct ddb_store *)c->store)->table);
	return g;
}

/* Ends the body and sends it as operation op, after delay_ms. */
static void
send_body(struct st_call *c, yajl_gen g, const char *op,
          enum st_pcall_kind kind, unsigned delay_ms, st_pcall_finish_fn fn)
{
	struct ddb_store *s = c->store;
	struct ddb_call *dc = c->backend_data;
	char amz[80];

	yajl_gen_map_close(g);
	st_buf_reset(&dc->body);
	st_json_flush(g, &dc->body);
	yajl_gen_free(g);
	snprintf(amz, sizeof(amz), "DynamoDB_20120810.%s", op);
	if (dc->body.failed) {
		st_call_fail(c, ST_INTERNAL, NULL, "out of memory");
		return;
	}
	if (aws_svc_post(&s->svc, dc->pc, c, amz, dc->body.data,
	    dc->body.len) == -1)
		return;
	st_pcall_start_after(dc->pc, delay_ms, kind, fn, c);
}


static void
done_ok(struct st_call *c)
{
	c->status = ST_OK;
	st_call_done(c);
}

/* Does a ValidationException say the item is over DynamoDB's 400 KB?
 * (DynamoDB and dynalite: "Item size has exceeded the maximum allowed
 * size"; the code alone says nothing.) */
static int
item_too_large(const struct st_pcall *pc)
{
	const char *m1[] = { "message", NULL }, *m2[] = { "Message", NULL };
	const char *code = st_pcall_code(pc);
	yajl_val v, m;
	int big = 0;

	if (code == NULL || strcmp(code, "ValidationException") != 0 ||
	    (v = st_pcall_answer_json(pc)) == NULL)
		return 0;
	if ((m = yajl_tree_get(v, m1, yajl_t_string)) == NULL)
		m = yajl_tree_get(v, m2, yajl_t_string);
	if (m != NULL && YAJL_IS_STRING(m))
		big = strcasestr(m->u.string, "size has exceeded") != NULL ||
		    strcasestr(m->u.string, "item size") != NULL;
	yajl_tree_free(v);
	return big;
}

/* A failure on an entity or listing: a missing table is said as such. */
static void
fail_entity(struct st_call *c, struct st_pcall *pc)
{
	if (item_too_large(pc)) {
		st_call_fail(c, ST_TOO_LARGE, st_pcall_code(pc), "the entity is "
		    "over DynamoDB's item size limit (400 KB with the names of "
		    "its attributes) in table '%s'",
		    ((struct ddb_store *)c->store)->svc.name);
		return;
	}
	if (st_pcall_outcome(pc) == ST_NOT_FOUND) {
		st_call_fail(c, ST_NOT_FOUND, st_pcall_code(pc), "table '%s' does "
		    "not exist (create it with PUT /v1/tables/...)",
		    ((struct ddb_store *)c->store)->svc.name);
		return;
	}
	st_pcall_fail(pc);
}

/* {"S": text} */
static void
gen_string(yajl_gen g, const char *name, const char *s, size_t n)
{
	st_json_str(g, name);
	yajl_gen_map_open(g);
	st_json_str(g, "S");
	st_json_strn(g, s, n);
	yajl_gen_map_close(g);
}

/* The key of the call's entity: {"pk": {"S"}, "rk": {"S"}}. */
static void
gen_key(yajl_gen g, const struct st_call *c)
{
	st_json_str(g, "Key");
	yajl_gen_map_open(g);
	gen_string(g, "pk", c->table.pk, c->table.pklen);
	gen_string(g, "rk", c->table.rk, c->table.rklen);
	yajl_gen_map_close(g);
}

/* ---------------------------------------------------------------- create, delete */

static void finish_describe(struct st_pcall *, void *);

static void
describe(struct st_call *c, unsigned delay_ms)
{
	yajl_gen g = begin_body(c);

	if (g != NULL)
		send_body(c, g, "DescribeTable", ST_PCALL_IDEMPOTENT, delay_ms,
		    finish_describe);
}

/* Waits until the table is ACTIVE. */
static void
finish_describe(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	struct ddb_call *dc = c->backend_data;
	const char *path[] = { "Table", "TableStatus", NULL };
	yajl_val v, status;
	int active, deleting;

	if (!st_pcall_ok(pc)) {
		st_pcall_fail(pc);
		return;
	}
	v = st_pcall_answer_json(pc);
	status = v ? yajl_tree_get(v, path, yajl_t_string) : NULL;
	active = status != NULL && strcmp(status->u.string, "ACTIVE") == 0;
	deleting = status != NULL && strcmp(status->u.string, "DELETING") == 0;
	yajl_tree_free(v);
	if (active) {
		done_ok(c);
	} else if (deleting) {
		c->retry_after = 5;
		st_call_fail(c, ST_CONFLICT, "ResourceInUseException", "table "
		    "'%s' is being deleted; try again", ((struct ddb_store *)
		    c->store)->svc.name);
	} else if (++dc->polls < ACTIVE_POLLS) {
		describe(c, ACTIVE_POLL_MS);
	} else {
		c->retry_after = 5;
		st_call_fail(c, ST_UNAVAILABLE, NULL, "table '%s' is not ACTIVE "
		    "yet", ((struct ddb_store *)c->store)->svc.name);
	}
}

static void
finish_create(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;

	if (st_pcall_ok(pc)) {
		c->table.existed = 0;
		describe(c, ACTIVE_POLL_MS);
	} else if (st_pcall_outcome(pc) == ST_CONFLICT) {
		c->table.existed = 1;	/* there already (maybe CREATING) */
		describe(c, 0);
	} else {
		st_pcall_fail(pc);
	}
}

static void
gen_attr_def(yajl_gen g, const char *name, const char *type)
{
	yajl_gen_map_open(g);
	st_json_key_str(g, "AttributeName", name);
	st_json_key_str(g, type[0] == 'S' ? "AttributeType" : "KeyType", type);
	yajl_gen_map_close(g);
}

static void
ddb_create(struct st_call *c)
{
	yajl_gen g;

	if (ddb_call(c) == NULL || (g = begin_body(c)) == NULL)
		return;
	st_json_str(g, "AttributeDefinitions");
	yajl_gen_array_open(g);
	gen_attr_def(g, "pk", "S");
	gen_attr_def(g, "rk", "S");
	yajl_gen_array_close(g);
	st_json_str(g, "KeySchema");
	yajl_gen_array_open(g);
	gen_attr_def(g, "pk", "HASH");
	gen_attr_def(g, "rk", "RANGE");
	yajl_gen_array_close(g);
	st_json_key_str(g, "BillingMode", "PAY_PER_REQUEST");
	send_body(c, g, "CreateTable", ST_PCALL_IDEMPOTENT, 0, finish_create);
}

/* A DeleteTable refused as "in use": fine when the table is already
 * being deleted (or gone), a conflict when it is being created. */
static void
finish_destroy_check(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *path[] = { "Table", "TableStatus", NULL };
	yajl_val v, status;
	int deleting;

	if (!st_pcall_ok(pc)) {
		if (st_pcall_outcome(pc) == ST_NOT_FOUND)
			done_ok(c);
		else
			st_pcall_fail(pc);
		return;
	}
	v = st_pcall_answer_json(pc);
	status = v ? yajl_tree_get(v, path, yajl_t_string) : NULL;
	deleting = status != NULL && strcmp(status->u.string, "DELETING") == 0;
	yajl_tree_free(v);
	if (deleting) {
		done_ok(c);
	} else {
		c->retry_after = 5;
		st_call_fail(c, ST_CONFLICT, "ResourceInUseException", "table "
		    "'%s' is being changed; try again", ((struct ddb_store *)
		    c->store)->svc.name);
	}
}

static void
finish_destroy(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	yajl_gen g;

	if (st_pcall_ok(pc) || st_pcall_outcome(pc) == ST_NOT_FOUND) {
		done_ok(c);
	} else if (st_pcall_outcome(pc) == ST_CONFLICT &&
	    (g = begin_body(c)) != NULL) {
		send_body(c, g, "DescribeTable", ST_PCALL_IDEMPOTENT, 0,
		    finish_destroy_check);
	} else if (!st_call_is_done(c)) {
		st_pcall_fail(pc);
	}
}

static void
ddb_destroy(struct st_call *c)
{
	yajl_gen g;

	if (ddb_call(c) == NULL || (g = begin_body(c)) == NULL)
		return;
	send_body(c, g, "DeleteTable", ST_PCALL_IDEMPOTENT, 0, finish_destroy);
}

/* ---------------------------------------------------------------- item */

/* A property's name as stored: pk and rk collide with the keys. */
static void
stored_name(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s", strcmp(name, "pk") == 0 ||
	    strcmp(name, "rk") == 0 ? "_" : "", name);
}

static void
gen_item(yajl_gen g, const struct st_call *c, const char *version)
{
	const struct st_table_part *t = &c->table;
	struct st_buf doubles = { 0 };
	char name[ST_TABLE_NAME_MAX + 2], num[32];
	size_t i;

	st_json_str(g, "Item");
	yajl_gen_map_open(g);
	gen_string(g, "pk", t->pk, t->pklen);
	gen_string(g, "rk", t->rk, t->rklen);
	gen_string(g, "_v", version, strlen(version));
	for (i = 0; i < t->nprops; i++) {
		const struct st_prop *p = &t->props[i];

		stored_name(p->name, name, sizeof(name));
		st_json_str(g, name);
		yajl_gen_map_open(g);
		switch (p->type) {
		case ST_VALUE_STRING:
			if (p->slen == 0) {	/* DynamoDB may refuse "" */
				st_json_str(g, "NULL");
				yajl_gen_bool(g, 1);
			} else {
				st_json_str(g, "S");
				st_json_strn(g, p->s, p->slen);
			}
			break;
		case ST_VALUE_BOOL:
			st_json_str(g, "BOOL");
			yajl_gen_bool(g, p->b);
			break;
		case ST_VALUE_INT:
			snprintf(num, sizeof(num), "%lld", (long long)p->i);
			st_json_key_str(g, "N", num);
			break;
		case ST_VALUE_DOUBLE:
			st_double_text(p->d, num);
			st_json_key_str(g, "N", num);
			st_buf_printf(&doubles, "%s%s", doubles.len ? "," : "",
			    p->name);
			break;
		}
		yajl_gen_map_close(g);
	}
	if (doubles.len > 0)
		gen_string(g, "_d", doubles.data, doubles.len);
	yajl_gen_map_close(g);
	st_buf_free(&doubles);
}

/* The condition of a write or delete, from If-Match / If-None-Match. */
static void
gen_condition(yajl_gen g, const struct st_call *c)
{
	const char *im = c->table.if_match;

	if (c->table.if_none_match) {
		st_json_key_str(g, "ConditionExpression",
		    "attribute_not_exists(pk)");
	} else if (im != NULL && strcmp(im, "*") == 0) {
		st_json_key_str(g, "ConditionExpression", "attribute_exists(pk)");
	} else if (im != NULL) {
		st_json_key_str(g, "ConditionExpression", "#v = :v");
		st_json_str(g, "ExpressionAttributeNames");
		yajl_gen_map_open(g);
		st_json_key_str(g, "#v", "_v");
		yajl_gen_map_close(g);
		st_json_str(g, "ExpressionAttributeValues");
		yajl_gen_map_open(g);
		gen_string(g, ":v", im, strlen(im));
		yajl_gen_map_close(g);
	}
}

static void
finish_put(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	struct ddb_call *dc = c->backend_data;
	const char *path[] = { "Attributes", NULL };
	yajl_val v;

	if (!st_pcall_ok(pc)) {
		fail_entity(c, pc);
		return;
	}
	v = st_pcall_answer_json(pc);
	c->table.existed = v != NULL && yajl_tree_get(v, path,
	    yajl_t_object) != NULL;
	yajl_tree_free(v);
	c->table.etag = st_call_strdup(c, dc->version);
	done_ok(c);
}

static void
new_version(char out[33])
{
	unsigned char rnd[16];

	RAND_bytes(rnd, sizeof(rnd));
	st_hex(rnd, sizeof(rnd), out);
}

/*
 * PutItem with a condition is sent again only when DynamoDB surely did
 * not act (not idempotent): a put whose answer was lost fails, though
 * it may have been written, and a retry of it would then see its own
 * version and fail the condition.
 */
static void
ddb_put(struct st_call *c)
{
	struct ddb_call *dc;
	yajl_gen g;

	if ((dc = ddb_call(c)) == NULL || (g = begin_body(c)) == NULL)
		return;
	new_version(dc->version);
	gen_item(g, c, dc->version);
	gen_condition(g, c);
	st_json_key_str(g, "ReturnValues", "ALL_OLD");
	send_body(c, g, "PutItem", ST_PCALL_NOT_IDEMPOTENT, 0, finish_put);
}

/* ---------------------------------------------------------------- get, remove */

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

/* One stored attribute into a property; 0 skipped, -1 damaged. */
static int
add_attr(struct st_call *c, const char *name, yajl_val v, const char *dbl)
{
	const char *user = name;
	struct st_prop p;
	yajl_val x;

	if (strcmp(name, "pk") == 0 || strcmp(name, "rk") == 0 ||
	    strcmp(name, "_v") == 0 || strcmp(name, "_d") == 0)
		return 0;
	if (strcmp(name, "_pk") == 0 || strcmp(name, "_rk") == 0)
		user = name + 1;
	if (!YAJL_IS_OBJECT(v) || v->u.object.len != 1)
		return -1;
	memset(&p, 0, sizeof(p));
	p.name = user;
	x = v->u.object.values[0];
	switch (v->u.object.keys[0][0]) {
	case 'S':
		if (!YAJL_IS_STRING(x))
			return -1;
		p.type = ST_VALUE_STRING;
		p.s = x->u.string;
		p.slen = strlen(p.s);
		break;
	case 'N':
		if (strcmp(v->u.object.keys[0], "NULL") == 0) {
			p.type = ST_VALUE_STRING;	/* our empty string */
			p.s = "";
			break;
		}
		if (!YAJL_IS_STRING(x))
			return -1;
		if (listed(dbl, user) || strpbrk(x->u.string, ".eE")) {
			p.type = ST_VALUE_DOUBLE;
			p.d = strtod(x->u.string, NULL);
		} else {
			p.type = ST_VALUE_INT;
			p.i = strtoll(x->u.string, NULL, 10);
			if (p.i > ST_TABLE_INT_MAX || p.i < -ST_TABLE_INT_MAX) {
				/* another writer's: beyond the API's integers */
				p.type = ST_VALUE_DOUBLE;
				p.d = strtod(x->u.string, NULL);
			}
		}
		break;
	case 'B':
		if (strcmp(v->u.object.keys[0], "BOOL") != 0 ||
		    !(YAJL_IS_TRUE(x) || YAJL_IS_FALSE(x)))
			return 0;	/* binary: nothing the API has */
		p.type = ST_VALUE_BOOL;
		p.b = YAJL_IS_TRUE(x);
		break;
	default:
		return 0;		/* lists, maps, sets: not the API's */
	}
	if (p.type == ST_VALUE_DOUBLE && !isfinite(p.d))
		return -1;		/* not a number DynamoDB keeps */
	return st_call_table_prop(c, &p);
}

static const char *
item_string(yajl_val item, const char *name)
{
	const char *path[] = { name, "S", NULL };
	yajl_val v = yajl_tree_get(item, path, yajl_t_string);

	return v != NULL ? v->u.string : NULL;
}

/* An item into the call's answer; *etag its version. */
static int
add_item(struct st_call *c, yajl_val item, const char **etag)
{
	const char *rk = item_string(item, "rk");
	const char *ver = item_string(item, "_v");
	const char *dbl = item_string(item, "_d");
	size_t i;

	if (!YAJL_IS_OBJECT(item) || rk == NULL || ver == NULL ||
	    st_call_table_row(c, rk, strlen(rk), ver) == -1)
		return -1;
	for (i = 0; i < item->u.object.len; i++)
		if (add_attr(c, item->u.object.keys[i], item->u.object.values[i],
		    dbl ? dbl : "") == -1)
			return -1;
	if (etag != NULL)
		*etag = ver;
	return 0;
}

static void
finish_get(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *path[] = { "Item", NULL }, *etag = NULL;
	yajl_val v, item;

	if (!st_pcall_ok(pc)) {
		fail_entity(c, pc);
		return;
	}
	v = st_pcall_answer_json(pc);
	if (v == NULL || !YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "DynamoDB answered a "
		    "read that could not be read");
		return;
	}
	item = yajl_tree_get(v, path, yajl_t_object);
	if (item == NULL) {
		yajl_tree_free(v);
		st_call_fail(c, ST_NOT_FOUND, NULL, "no entity with these keys "
		    "in table '%s'", ((struct ddb_store *)c->store)->svc.name);
		return;
	}
	if (add_item(c, item, &etag) == -1) {
		yajl_tree_free(v);
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "DynamoDB answered an "
		    "item that could not be read");
		return;
	}
	c->table.etag = st_call_strdup(c, etag);
	yajl_tree_free(v);
	done_ok(c);
}

static void
ddb_get(struct st_call *c)
{
	yajl_gen g;

	if (ddb_call(c) == NULL || (g = begin_body(c)) == NULL)
		return;
	gen_key(g, c);
	st_json_key_bool(g, "ConsistentRead", 1);
	send_body(c, g, "GetItem", ST_PCALL_IDEMPOTENT, 0, finish_get);
}

static void
finish_remove(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;

	if (st_pcall_ok(pc))
		done_ok(c);
	else
		fail_entity(c, pc);
}

static void
ddb_remove(struct st_call *c)
{
	yajl_gen g;

	if (ddb_call(c) == NULL || (g = begin_body(c)) == NULL)
		return;
	gen_key(g, c);
	gen_condition(g, c);
	send_body(c, g, "DeleteItem", c->table.if_match ?
	    ST_PCALL_NOT_IDEMPOTENT : ST_PCALL_IDEMPOTENT, 0, finish_remove);
}

/* ---------------------------------------------------------------- query */

static void
finish_query(struct st_pcall *pc, void *arg)
{
	struct st_call *c = arg;
	const char *items_path[] = { "Items", NULL };
	const char *last_path[] = { "LastEvaluatedKey", NULL };
	yajl_val v, items, last;
	const char *rk;
	size_t i;

	if (!st_pcall_ok(pc)) {
		fail_entity(c, pc);
		return;
	}
	v = st_pcall_answer_json(pc);
	items = v ? yajl_tree_get(v, items_path, yajl_t_array) : NULL;
	if (items == NULL) {
		yajl_tree_free(v);
		st_call_fail(c, ST_PROVIDER_ERROR, NULL, "DynamoDB answered a "
		    "query that could not be read");
		return;
	}
	st_call_table_reset(c);
	for (i = 0; i < items->u.array.len; i++)
		if (add_item(c, items->u.array.values[i], NULL) == -1) {
			yajl_tree_free(v);
			st_call_fail(c, ST_PROVIDER_ERROR, NULL, "DynamoDB "
			    "answered an item that could not be read");
			return;
		}
	last = yajl_tree_get(v, last_path, yajl_t_object);
	if (last != NULL && (rk = item_string(last, "rk")) != NULL)
		c->table.next_cursor = st_call_strdup(c, rk);
	yajl_tree_free(v);
	done_ok(c);
}

/* The cursor starts with the prefix: DynamoDB takes it. */
static int
cursor_in_range(const struct st_table_part *t)
{
	return strncmp(t->cursor, t->prefix, t->prefixlen) == 0;
}

/* The cursor sorts after every row key with the prefix (UTF-8 bytes):
 * the listing is over. One before them all is as no cursor. */
static int
cursor_after_range(const struct st_table_part *t)
{
	size_t n = strlen(t->cursor);
	int cmp;

	if (t->prefixlen == 0 || cursor_in_range(t))
		return 0;
	cmp = memcmp(t->cursor, t->prefix, n < t->prefixlen ? n :
	    t->prefixlen);
	return cmp > 0;
}

static void
ddb_query(struct st_call *c)
{
	const struct st_table_part *t = &c->table;
	yajl_gen g;

	if (ddb_call(c) == NULL)
		return;
	if (t->cursor != NULL && cursor_after_range(t)) {
		done_ok(c);		/* nothing after it within the prefix */
		return;
	}
	if ((g = begin_body(c)) == NULL)
		return;
	st_json_key_str(g, "KeyConditionExpression", t->prefixlen > 0 ?
	    "pk = :pk AND begins_with(rk, :p)" : "pk = :pk");
	st_json_str(g, "ExpressionAttributeValues");
	yajl_gen_map_open(g);
	gen_string(g, ":pk", t->pk, t->pklen);
	if (t->prefixlen > 0)
		gen_string(g, ":p", t->prefix, t->prefixlen);
	yajl_gen_map_close(g);
	st_json_key_uint(g, "Limit", t->limit);
	st_json_key_bool(g, "ConsistentRead", 1);
	if (t->cursor != NULL && t->cursor[0] != '\0' &&
	    cursor_in_range(t)) {
		st_json_str(g, "ExclusiveStartKey");
		yajl_gen_map_open(g);
		gen_string(g, "pk", t->pk, t->pklen);
		gen_string(g, "rk", t->cursor, strlen(t->cursor));
		yajl_gen_map_close(g);
	}
	send_body(c, g, "Query", ST_PCALL_IDEMPOTENT, 0, finish_query);
}

static void
ddb_release(struct st_call *c)
{
	struct ddb_call *dc = c->backend_data;

	if (dc == NULL)
		return;
	st_pcall_free(dc->pc);
	st_buf_free(&dc->body);
	free(dc);
	c->backend_data = NULL;
}

static const struct st_table_ops ddb_table_ops = {
	.create = ddb_create,
	.destroy = ddb_destroy,
	.put = ddb_put,
	.get = ddb_get,
	.remove = ddb_remove,
	.query = ddb_query,
	.release = ddb_release,
};

/* ---------------------------------------------------------------- store */

/* 3 to 255 of A-Z a-z 0-9 _ - . */
static int
valid_table(const char *t)
{
	size_t n = strlen(t);

	return n >= 3 && n <= 255 && strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_-.") == n;
}

static void ddb_close(void *);

static int
ddb_open(const config_setting_t *conf, const struct st_store_env *env,
         void **out, char *err, size_t errlen)
{
	const char *table = NULL;
	struct ddb_store *s;

	*out = NULL;
	if (st_conf_only_keys(conf, ddb_keys, err, errlen) == -1)
		return -1;
	if (!config_setting_lookup_string(conf, "table", &table) ||
	    !valid_table(table)) {
		snprintf(err, errlen, "a dynamodb store needs table = \"NAME\" "
		    "(3 to 255 of A-Z a-z 0-9 _ - .)");
		return -1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(s->table, sizeof(s->table), "%s", table);
	if (aws_svc_open(&s->svc, conf, env, "dynamodb", err, errlen) == -1) {
		ddb_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

static void
ddb_close(void *p)
{
	struct ddb_store *s = p;

	if (s == NULL)
		return;
	aws_svc_close(&s->svc);
	free(s);
}

const struct st_backend stratus_backend = {
	.version = ST_BACKEND_VERSION,
	.name = "dynamodb",
	.kinds = ST_KIND_TABLE,
	.store_open = ddb_open,
	.store_close = ddb_close,
	.table = &ddb_table_ops,
};
