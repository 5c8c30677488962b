/*
 * queue.c - the local queue service: one SQLite database (WAL) per queue
 * store, queue.db in the store's own directory.
 *
 *   meta(k, v)       "created" while the queue exists (PUT made it)
 *   messages(seq, id, body, enqueued_ms, visible_ms, dequeues, token)
 *
 * seq orders messages (AUTOINCREMENT: never reused, so a receipt can
 * never name a later message); a message is visible once visible_ms
 * (wall clock, so hidden times survive a restart) has passed. A receive
 * takes the oldest visible messages, hides them for the visibility time,
 * counts the delivery and draws a new random token. The receipt is
 * "SEQ.TOKEN": an acknowledgement or change of visibility with an older
 * token is refused (412), since the message was delivered again since.
 *
 * Every operation runs on the store's thread (lsql.c), in batches with
 * one commit each: durable sends at a fraction of an fsync each. A
 * receive with a wait that finds nothing waits there: a send to the same
 * store, or the next message becoming visible, serves it; at its
 * deadline it answers with no message.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "providers/local/local.h"
#include "providers/local/lsql.h"
#include "sign/hmac.h"

struct queue_store {
	struct local_kind kind;		/* first: ST_KIND_QUEUE */
	char		 name[64];
	struct lsql	 sql;
	int		 exists;	/* cached meta "created" */
	long long	 quiet_until;	/* wall ms: no message is visible
					 * before then (a receive found none
					 * and nothing changed since) */
	sqlite3_stmt	*st_exists, *st_create, *st_drop_meta, *st_drop_all;
	sqlite3_stmt	*st_send, *st_visible, *st_take, *st_token;
	sqlite3_stmt	*st_delete, *st_hide, *st_next_due;
};

static const char *const queue_keys[] = {
	"name", "kind", "provider", "path", "fsync", "allow_anonymous", NULL
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);"
	"CREATE TABLE IF NOT EXISTS messages("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" id TEXT NOT NULL, body BLOB NOT NULL,"
	" enqueued_ms INTEGER NOT NULL, visible_ms INTEGER NOT NULL,"
	" dequeues INTEGER NOT NULL DEFAULT 0, token INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS by_visible ON messages(visible_ms, seq);";

/* ---------------------------------------------------------------- helpers */

static int64_t
new_token(void)
{
	int64_t t = 0;

	while (t == 0)
		RAND_bytes((unsigned char *)&t, sizeof(t));
	return t & INT64_MAX;
}

static void
new_id(char out[33])
{
	unsigned char rnd[16];

	RAND_bytes(rnd, sizeof(rnd));
	st_hex(rnd, sizeof(rnd), out);
}

/* "SEQ.TOKEN" (decimal, hex): 0, or -1 when it is not one of ours. */
static int
parse_receipt(const char *r, size_t n, int64_t *seq, int64_t *token)
{
	char buf[64], *dot, *end;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, r, n);
	buf[n] = '\0';
	if ((dot = strchr(buf, '.')) == NULL || dot == buf)
		return -1;
	*dot = '\0';
	*seq = strtoll(buf, &end, 10);
	if (*end != '\0' || *seq <= 0)
		return -1;
	*token = strtoll(dot + 1, &end, 16);
	if (*end != '\0' || dot[1] == '\0' || *token <= 0)
		return -1;
	return 0;
}

static void
format_receipt(char *out, size_t cap, int64_t seq, int64_t token)
{
	snprintf(out, cap, "%" PRId64 ".%" PRIx64, seq, (uint64_t)token);
}

static int
missing(struct queue_store *s, struct st_call *c)
{
	if (s->exists)
		return 0;
	lsql_fail(c, ST_NOT_FOUND, "queue '%s' does not exist (create it "
	    "with PUT /v1/queues/%s)", s->name, s->name);
	return 1;
}

static int
step_done(struct st_call *c, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	lsql_done_stmt(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	lsql_fail(c, ST_INTERNAL, "the queue's database failed");
	return -1;
}

static long long next_visible(struct queue_store *, long long);

/* ---------------------------------------------------------------- operations */

static void
do_create(struct queue_store *s, struct st_call *c)
{
	c->queue.existed = s->exists;
	if (!s->exists && step_done(c, s->st_create) == 0)
		s->exists = 1;
}

static void
do_destroy(struct queue_store *s, struct st_call *c)
{
	if (step_done(c, s->st_drop_all) == 0 &&
	    step_done(c, s->st_drop_meta) == 0)
		s->exists = 0;
}

static void
do_send(struct queue_store *s, struct st_call *c)
{
	long long now = lsql_wall_ms();
	char id[33];

	if (missing(s, c))
		return;
	new_id(id);
	sqlite3_bind_text(s->st_send, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s->st_send, 2, c->queue.body, (int)c->queue.bodylen,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s->st_send, 3, now);
	sqlite3_bind_int64(s->st_send, 4, now + (long long)c->queue.delay * 1000);
	if (step_done(c, s->st_send) == -1)
		return;
	c->queue.id = st_call_strdup(c, id);
	s->quiet_until = 0;
	lsql_poke(&s->sql);
}

/* Hands out one visible message: hidden again, counted, a new token. */
static int
take_one(struct queue_store *s, struct st_call *c, long long now)
{
	sqlite3_stmt *v = s->st_visible;
	int64_t seq = sqlite3_column_int64(v, 0), token = new_token();
	const char *id = (const char *)sqlite3_column_text(v, 1);
	const void *body = sqlite3_column_blob(v, 2);
	size_t len = (size_t)sqlite3_column_bytes(v, 2);
	long long enq = sqlite3_column_int64(v, 3);
	unsigned count = (unsigned)sqlite3_column_int64(v, 4) + 1;
	char receipt[64];

	format_receipt(receipt, sizeof(receipt), seq, token);
	if (st_call_queue_message(c, id ? id : "", receipt, body ? body : "",
	    len, count, (time_t)(enq / 1000)) == -1)
		return -1;
	sqlite3_bind_int64(s->st_take, 1, now +
	    (long long)c->queue.visibility * 1000);
	sqlite3_bind_int64(s->st_take, 2, token);
	sqlite3_bind_int64(s->st_take, 3, seq);
	return step_done(c, s->st_take);
}

static int
do_receive(struct queue_store *s, struct st_call *c)
{
	long long now = lsql_wall_ms();
	sqlite3_stmt *v = s->st_visible;
	int rc;

	if (missing(s, c))
		return LSQL_DONE;
	/* Many waiting receives are run again after each send: once one
	 * found nothing, the others need not look until something changes
	 * or the next hidden message shows. */
	if (now >= s->quiet_until) {
		sqlite3_bind_int64(v, 1, now);
		sqlite3_bind_int64(v, 2, c->queue.max - st_call_queue_count(c));
		while ((rc = sqlite3_step(v)) == SQLITE_ROW)
			if (take_one(s, c, now) == -1)
				break;
		lsql_done_stmt(v);
		if (c->status != ST_OK)
			return LSQL_DONE;
		if (st_call_queue_count(c) == 0)
			s->quiet_until = next_visible(s, now);
	}
	return st_call_queue_count(c) == 0 && c->queue.wait > 0 ? LSQL_WAIT :
	    LSQL_DONE;
}

/* The current token of the receipt's message: 1 found, 0 not, -1 error;
 * and the call's outcome for a receipt that is unknown or stale. */
static int
check_receipt(struct queue_store *s, struct st_call *c, int64_t *seq)
{
	int64_t token, current;
	int rc;

	if (missing(s, c))
		return 0;
	if (parse_receipt(c->queue.receipt, c->queue.receiptlen, seq,
	    &token) == -1) {
		lsql_fail(c, ST_NOT_FOUND, "no such receipt in queue '%s'",
		    s->name);
		return 0;
	}
	sqlite3_bind_int64(s->st_token, 1, *seq);
	rc = sqlite3_step(s->st_token);
	current = rc == SQLITE_ROW ? sqlite3_column_int64(s->st_token, 0) : 0;
	lsql_done_stmt(s->st_token);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		lsql_fail(c, ST_INTERNAL, "the queue's database failed");
		return -1;
	}
	if (rc == SQLITE_DONE) {
		lsql_fail(c, ST_NOT_FOUND, "the message of this receipt is gone "
		    "from queue '%s'", s->name);
		return 0;
	}
	if (current != token) {
		lsql_fail(c, ST_PRECONDITION, "the receipt is stale: the "
		    "message was received again since");
		return 0;
	}
	return 1;
}

static void
do_ack(struct queue_store *s, struct st_call *c)
{
	int64_t seq;

	if (check_receipt(s, c, &seq) != 1)
		return;
	sqlite3_bind_int64(s->st_delete, 1, seq);
	step_done(c, s->st_delete);
}

static void
do_visibility(struct queue_store *s, struct st_call *c)
{
	int64_t seq, token = new_token();
	char receipt[64];

	if (check_receipt(s, c, &seq) != 1)
		return;
	sqlite3_bind_int64(s->st_hide, 1, lsql_wall_ms() +
	    (long long)c->queue.visibility * 1000);
	sqlite3_bind_int64(s->st_hide, 2, token);
	sqlite3_bind_int64(s->st_hide, 3, seq);
	if (step_done(c, s->st_hide) == -1)
		return;
	format_receipt(receipt, sizeof(receipt), seq, token);
	c->queue.new_receipt = st_call_strdup(c, receipt);
	s->quiet_until = 0;		/* it may show sooner than it would */
	if (c->queue.visibility == 0)
		lsql_poke(&s->sql);
}

/* On the store's thread, inside a batch (lsql.h). */
static int
queue_run(void *store, struct st_call *c, long long now, long long deadline)
{
	struct queue_store *s = store;

	(void)now;
	(void)deadline;
	switch (c->op) {
	case ST_OP_QUEUE_CREATE:
		do_create(s, c);
		break;
	case ST_OP_QUEUE_DELETE:
		do_destroy(s, c);
		break;
	case ST_OP_QUEUE_SEND:
		do_send(s, c);
		break;
	case ST_OP_QUEUE_RECEIVE:
		return do_receive(s, c);
	case ST_OP_QUEUE_ACK:
		do_ack(s, c);
		break;
	case ST_OP_QUEUE_VISIBILITY:
		do_visibility(s, c);
		break;
	default:
		lsql_fail(c, ST_NOT_SUPPORTED, "not a queue operation");
		break;
	}
	return LSQL_DONE;
}

/* When (wall ms) the next hidden message becomes visible; LLONG_MAX
 * when none is hidden. */
static long long
next_visible(struct queue_store *s, long long now)
{
	long long at = LLONG_MAX;

	sqlite3_bind_int64(s->st_next_due, 1, now);
	if (sqlite3_step(s->st_next_due) == SQLITE_ROW &&
	    sqlite3_column_type(s->st_next_due, 0) != SQLITE_NULL)
		at = sqlite3_column_int64(s->st_next_due, 0);
	lsql_done_stmt(s->st_next_due);
	return at;
}

/* In how many ms waiting receives may find a message. */
static long long
queue_next_due(void *store)
{
	struct queue_store *s = store;
	long long now = lsql_wall_ms(), at = next_visible(s, now);

	return at == LLONG_MAX ? -1 : at - now;
}

/* ---------------------------------------------------------------- ops */

static void
submit(struct st_call *c)
{
	struct queue_store *s = c->store;

	lsql_submit(&s->sql, c, c->op == ST_OP_QUEUE_RECEIVE ? c->queue.wait : 0);
}

static void
queue_release(struct st_call *c)
{
	struct queue_store *s = c->store;

	if (s != NULL)
		lsql_release(&s->sql, c);
}

const struct st_queue_ops st_local_queue_ops = {
	.create = submit,
	.destroy = submit,
	.send = submit,
	.receive = submit,
	.ack = submit,
	.visibility = submit,
	.release = queue_release,
};

/* ---------------------------------------------------------------- store */

static int
prepare_all(struct queue_store *s)
{
	struct lsql *l = &s->sql;

	return lsql_prepare(l, "SELECT v FROM meta WHERE k = 'created'",
	    &s->st_exists) ||
	    lsql_prepare(l, "INSERT OR REPLACE INTO meta VALUES ('created', 1)",
	    &s->st_create) ||
	    lsql_prepare(l, "DELETE FROM meta WHERE k = 'created'",
	    &s->st_drop_meta) ||
	    lsql_prepare(l, "DELETE FROM messages", &s->st_drop_all) ||
	    lsql_prepare(l, "INSERT INTO messages(id, body, enqueued_ms, "
	    "visible_ms) VALUES (?, ?, ?, ?)", &s->st_send) ||
	    lsql_prepare(l, "SELECT seq, id, body, enqueued_ms, dequeues FROM "
	    "messages WHERE visible_ms <= ? ORDER BY visible_ms, seq LIMIT ?",
	    &s->st_visible) ||
	    lsql_prepare(l, "UPDATE messages SET visible_ms = ?, dequeues = "
	    "dequeues + 1, token = ? WHERE seq = ?", &s->st_take) ||
	    lsql_prepare(l, "SELECT token FROM messages WHERE seq = ?",
	    &s->st_token) ||
	    lsql_prepare(l, "DELETE FROM messages WHERE seq = ?",
	    &s->st_delete) ||
	    lsql_prepare(l, "UPDATE messages SET visible_ms = ?, token = ? "
	    "WHERE seq = ?", &s->st_hide) ||
	    lsql_prepare(l, "SELECT MIN(visible_ms) FROM messages WHERE "
	    "visible_ms > ?", &s->st_next_due) ? -1 : 0;
}

static int
read_exists(struct queue_store *s)
{
	int rc = sqlite3_step(s->st_exists);

	s->exists = rc == SQLITE_ROW;
	lsql_done_stmt(s->st_exists);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
st_local_queue_open(const config_setting_t *conf,
                    const struct st_store_env *env, void **out, char *err,
                    size_t errlen)
{
	struct queue_store *s;
	char dir[PATH_MAX - 32], path[PATH_MAX];
	int fsync_on;

	*out = NULL;
	err[0] = '\0';
	if (lsql_store_settings(conf, env, queue_keys, dir, sizeof(dir),
	    &fsync_on, err, errlen) == -1)
		return -1;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->kind.kind = ST_KIND_QUEUE;
	snprintf(s->name, sizeof(s->name), "%s", env->name);
	*out = s;
	if (env->check_only)
		return 0;
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	s->sql.store = s;
	s->sql.run = queue_run;
	s->sql.next_due = queue_next_due;
	if (lsql_open(&s->sql, path, fsync_on, schema, err, errlen) == 0 &&
	    prepare_all(s) == 0 && read_exists(s) == 0 &&
	    lsql_start(&s->sql, err, errlen) == 0)
		return 0;
	if (err[0] == '\0')
		snprintf(err, errlen, "cannot prepare %s: %s", path,
		    sqlite3_errmsg(s->sql.db));
	st_local_queue_close(s);
	*out = NULL;
	return -1;
}

void
st_local_queue_close(void *p)
{
	struct queue_store *s = p;

	if (s == NULL)
		return;
	lsql_stop(&s->sql);		/* before the statements go */
	sqlite3_finalize(s->st_exists);
	sqlite3_finalize(s->st_create);
	sqlite3_finalize(s->st_drop_meta);
	sqlite3_finalize(s->st_drop_all);
	sqlite3_finalize(s->st_send);
	sqlite3_finalize(s->st_visible);
	sqlite3_finalize(s->st_take);
	sqlite3_finalize(s->st_token);
	sqlite3_finalize(s->st_delete);
	sqlite3_finalize(s->st_hide);
	sqlite3_finalize(s->st_next_due);
	lsql_close(&s->sql);
	free(s);
}
