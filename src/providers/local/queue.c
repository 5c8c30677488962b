/*
 * queue.c - the local queue service: one SQLite database (WAL) per queue
 * store, queue.db in the store's own directory.
 *
 *   meta(k, v)       "created" while the queue exists (PUT made it)
 *   messages(seq, id, body, enqueued_ms, visible_ms, dequeues, token)
 *
 * seq numbers messages (AUTOINCREMENT: never reused, not even after the
 * queue is deleted and made again, so a receipt can never name a later
 * message); id is 32 random hex digits. A message is visible once
 * visible_ms (wall clock, so hidden times survive a restart) has passed:
 * a delayed send starts hidden. A receive takes the visible messages in
 * the order they became visible, and in order of sending among those
 * that became visible at once (the index by_visible: an undelayed message
 * becomes visible when it is sent, so that is plain FIFO until messages
 * are delayed or come back after their hidden time, as on Azure); it
 * hides each for the visibility time, counts the delivery and draws a new
 * random token. The receipt is "SEQ.TOKEN", SEQ in decimal and TOKEN in
 * lowercase hex, both without leading zeros; anything else is not one of
 * ours (404). An acknowledgement or change of visibility with an older
 * token is refused (412): the message was delivered again since.
 *
 * Threads: every operation runs on the store's own thread (lsql.c); an
 * operation only checks what the core should have checked, puts the call
 * in the store's line and returns, so the event loop that called it never
 * waits for SQLite or a disk. The thread runs every call in line in one
 * transaction, a savepoint each, commits once (with fsync on, one fsync
 * per batch) and only then answers the calls: an acknowledged send is on
 * disk. A receive with a wait that finds nothing stays among the store's
 * waiters (no thread is held for it); a send, a change of visibility to
 * 0, a deleted queue, or the next hidden message becoming visible runs
 * the waiters again, and at its deadline a waiter answers with no message.
 * While only waiters are there, the thread sleeps on its condition
 * variable until the nearest deadline or visible_ms: idle waiters cost no
 * CPU.
 *
 * What the thread knows without asking SQLite: whether the queue exists
 * (exists), and until when no message can be visible (quiet_until, set by
 * a receive that found none, cleared by anything that may show one sooner).
 * Both are dropped by a rollback of the batch's transaction (a failed
 * commit), which SQLite reports through the rollback hook.
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

#define ID_HEX		32
#define RECEIPT_MAX	64	/* "SEQ.TOKEN": 19 + 1 + 16 chars, NUL */

struct queue_store {
	struct local_kind kind;		/* first: ST_KIND_QUEUE */
	char		 name[64];
	struct lsql	 sql;
	int		 exists;	/* 1, 0; -1: read meta again */
	long long	 quiet_until;	/* wall ms: no message is visible
					 * before then (a receive found none
					 * and nothing changed since); 0 for
					 * unknown, LLONG_MAX: none hidden */
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

/* A random token in 1..INT64_MAX, or 0 when there is no randomness. */
static int64_t
new_token(void)
{
	uint64_t t = 0;
	int tries;

	for (tries = 0; tries < 4 && t == 0; tries++) {
		if (RAND_bytes((unsigned char *)&t, sizeof(t)) != 1)
			return 0;
		t &= (uint64_t)INT64_MAX;
	}
	return (int64_t)t;
}

static int
new_id(char out[ID_HEX + 1])
{
	unsigned char rnd[ID_HEX / 2];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	st_hex(rnd, sizeof(rnd), out);
	return 0;
}

static void
format_receipt(char *out, size_t cap, int64_t seq, int64_t token)
{
	snprintf(out, cap, "%" PRId64 ".%" PRIx64, seq, (uint64_t)token);
}

/* Digits of one base only, then a number in 1..INT64_MAX. */
static int
parse_part(const char *p, size_t n, int base, int64_t *v)
{
	const char *digits = base == 10 ? "0123456789" : "0123456789abcdef";
	char buf[24];
	unsigned long long x;
	size_t i;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	for (i = 0; i < n; i++)
		if (p[i] == '\0' || strchr(digits, p[i]) == NULL)
			return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	x = strtoull(buf, NULL, base);
	if (x == 0 || x > (unsigned long long)INT64_MAX)
		return -1;
	*v = (int64_t)x;
	return 0;
}

/* "SEQ.TOKEN" exactly as format_receipt writes it: 0, or -1 when it is
 * not one of ours (a leading zero, a sign, upper case, a space...). */
static int
parse_receipt(const char *r, size_t n, int64_t *seq, int64_t *token)
{
	char again[RECEIPT_MAX];
	const char *dot;

	if (r == NULL || n == 0 || n >= sizeof(again) ||
	    (dot = memchr(r, '.', n)) == NULL)
		return -1;
	if (parse_part(r, (size_t)(dot - r), 10, seq) == -1 ||
	    parse_part(dot + 1, n - (size_t)(dot - r) - 1, 16, token) == -1)
		return -1;
	format_receipt(again, sizeof(again), *seq, *token);
	return strlen(again) == n && memcmp(again, r, n) == 0 ? 0 : -1;
}

static int
read_exists(struct queue_store *s)
{
	int rc = sqlite3_step(s->st_exists);

	s->exists = rc == SQLITE_ROW;
	lsql_done_stmt(s->st_exists);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return 0;
	s->exists = -1;
	return -1;
}

/* Fails the call unless the queue exists: 1 failed, 0 it exists. */
static int
missing(struct queue_store *s, struct st_call *c)
{
	if (s->exists < 0 && read_exists(s) == -1) {
		lsql_fail(c, ST_INTERNAL, "the database of queue '%s' could "
		    "not be read", s->name);
		return 1;
	}
	if (s->exists)
		return 0;
	lsql_fail(c, ST_NOT_FOUND, "queue '%s' does not exist (create it "
	    "with PUT /v1/queues/%s)", s->name, s->name);
	return 1;
}

static int
step_done(struct queue_store *s, struct st_call *c, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	lsql_done_stmt(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	lsql_fail(c, ST_INTERNAL, "the database of queue '%s' failed: %s",
	    s->name, sqlite3_errstr(rc));
	return -1;
}

/* Something may be visible sooner than quiet_until said: waiters look. */
static void
changed(struct queue_store *s)
{
	s->quiet_until = 0;
	lsql_poke(&s->sql);
}

/* SQLite's rollback hook, on the store's thread: the batch's transaction
 * is undone (a failed commit), so what was learnt in it is forgotten. */
static void
rolled_back(void *arg)
{
	struct queue_store *s = arg;

	s->exists = -1;
	changed(s);
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

/* ---------------------------------------------------------------- operations */

static void
do_create(struct queue_store *s, struct st_call *c)
{
	if (s->exists < 0 && read_exists(s) == -1) {
		lsql_fail(c, ST_INTERNAL, "the database of queue '%s' could "
		    "not be read", s->name);
		return;
	}
	c->queue.existed = s->exists;
	if (!s->exists && step_done(s, c, s->st_create) == 0)
		s->exists = 1;
}

/* Every message goes; waiting receives are answered (404) at once. */
static void
do_destroy(struct queue_store *s, struct st_call *c)
{
	if (step_done(s, c, s->st_drop_all) == 0 &&
	    step_done(s, c, s->st_drop_meta) == 0) {
		s->exists = 0;
		changed(s);
	}
}

static void
do_send(struct queue_store *s, struct st_call *c)
{
	long long now = lsql_wall_ms();
	char id[ID_HEX + 1];

	if (missing(s, c))
		return;
	if (new_id(id) == -1) {
		lsql_fail(c, ST_INTERNAL, "no randomness for a message id");
		return;
	}
	sqlite3_bind_text(s->st_send, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s->st_send, 2, c->queue.body, (int)c->queue.bodylen,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s->st_send, 3, now);
	sqlite3_bind_int64(s->st_send, 4, now +
	    (long long)c->queue.delay * 1000);
	if (step_done(s, c, s->st_send) == -1)
		return;
	if ((c->queue.id = st_call_strdup(c, id)) == NULL) {
		lsql_fail(c, ST_INTERNAL, "out of memory");
		return;
	}
	changed(s);
}

/* Hands out the message st_visible is on: hidden again, counted, a new
 * token. 0, or -1 with the call failed (its savepoint is then undone). */
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
	char receipt[RECEIPT_MAX];

	if (token == 0) {
		lsql_fail(c, ST_INTERNAL, "no randomness for a receipt");
		return -1;
	}
	format_receipt(receipt, sizeof(receipt), seq, token);
	if (st_call_queue_message(c, id ? id : "", receipt, body ? body : "",
	    len, count, (time_t)(enq / 1000)) == -1) {
		lsql_fail(c, ST_INTERNAL, "out of memory");
		return -1;
	}
	sqlite3_bind_int64(s->st_take, 1, now +
	    (long long)c->queue.visibility * 1000);
	sqlite3_bind_int64(s->st_take, 2, token);
	sqlite3_bind_int64(s->st_take, 3, seq);
	return step_done(s, c, s->st_take);
}

/*
 * Takes up to max visible messages. The rows taken leave the range the
 * statement scans (visible_ms goes from <= now to > now, visibility being
 * at least 1 s), so it never meets one of them twice.
 */
static int
do_receive(struct queue_store *s, struct st_call *c)
{
	long long now = lsql_wall_ms();
	sqlite3_stmt *v = s->st_visible;
	int rc = SQLITE_DONE;

	if (missing(s, c))
		return LSQL_DONE;
	/* Many waiting receives are run again after each send: once one
	 * found nothing, the others need not look until something changes
	 * or the next hidden message shows. */
	if (now >= s->quiet_until) {
		sqlite3_bind_int64(v, 1, now);
		sqlite3_bind_int64(v, 2, c->queue.max);
		while ((rc = sqlite3_step(v)) == SQLITE_ROW)
			if (take_one(s, c, now) == -1)
				break;
		lsql_done_stmt(v);
		if (c->status != ST_OK)
			return LSQL_DONE;
		if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
			lsql_fail(c, ST_INTERNAL, "the database of queue '%s' "
			    "failed: %s", s->name, sqlite3_errstr(rc));
			return LSQL_DONE;
		}
		if (st_call_queue_count(c) == 0)
			s->quiet_until = next_visible(s, now);
	}
	return st_call_queue_count(c) == 0 && c->queue.wait > 0 ? LSQL_WAIT :
	    LSQL_DONE;
}

/* Whether the receipt names a message with this very token: 1 it does;
 * 0 the call failed (malformed or unknown: 404, stale: 412, error). */
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
		lsql_fail(c, ST_INTERNAL, "the database of queue '%s' failed: "
		    "%s", s->name, sqlite3_errstr(rc));
		return 0;
	}
	if (rc == SQLITE_DONE) {
		lsql_fail(c, ST_NOT_FOUND, "the message of this receipt is "
		    "gone from queue '%s'", s->name);
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
	step_done(s, c, s->st_delete);
}

static void
do_visibility(struct queue_store *s, struct st_call *c)
{
	int64_t seq, token;
	char receipt[RECEIPT_MAX];

	if (check_receipt(s, c, &seq) != 1)
		return;
	if ((token = new_token()) == 0) {
		lsql_fail(c, ST_INTERNAL, "no randomness for a receipt");
		return;
	}
	sqlite3_bind_int64(s->st_hide, 1, lsql_wall_ms() +
	    (long long)c->queue.visibility * 1000);
	sqlite3_bind_int64(s->st_hide, 2, token);
	sqlite3_bind_int64(s->st_hide, 3, seq);
	if (step_done(s, c, s->st_hide) == -1)
		return;
	format_receipt(receipt, sizeof(receipt), seq, token);
	if ((c->queue.new_receipt = st_call_strdup(c, receipt)) == NULL) {
		lsql_fail(c, ST_INTERNAL, "out of memory");
		return;
	}
	/* It may show sooner than quiet_until said, or at once. */
	s->quiet_until = 0;
	if (c->queue.visibility == 0)
		changed(s);
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

/* On the store's thread, under the line's lock, while receives wait: in
 * how many ms one of them may find a message (-1: none hidden). What
 * quiet_until knows saves a query; a time already past runs the waiters,
 * which look again. */
static long long
queue_next_due(void *store)
{
	struct queue_store *s = store;
	long long now = lsql_wall_ms(), at = s->quiet_until;

	if (at == 0)
		at = next_visible(s, now);
	if (at == LLONG_MAX)
		return -1;
	return at > now ? at - now : 0;
}

/* ---------------------------------------------------------------- ops */

/* What the core checks already, checked again: a call out of range is
 * answered at once rather than trusted with the database. */
static int
request_fits(const struct st_call *c)
{
	const struct st_queue_part *q = &c->queue;

	switch (c->op) {
	case ST_OP_QUEUE_SEND:
		return q->body != NULL && q->bodylen >= 1 &&
		    q->bodylen <= ST_QUEUE_BODY_MAX &&
		    q->delay <= ST_QUEUE_DELAY_MAX;
	case ST_OP_QUEUE_RECEIVE:
		return q->max >= 1 && q->max <= ST_QUEUE_RECEIVE_MAX &&
		    q->visibility >= 1 &&
		    q->visibility <= ST_QUEUE_VISIBILITY_MAX &&
		    q->wait <= ST_QUEUE_WAIT_MAX;
	case ST_OP_QUEUE_VISIBILITY:
		if (q->visibility > ST_QUEUE_VISIBILITY_MAX)
			return 0;
		/* FALLTHROUGH */
	case ST_OP_QUEUE_ACK:
		return q->receipt != NULL &&
		    q->receiptlen <= ST_QUEUE_RECEIPT_MAX;
	default:
		return 1;
	}
}

static void
submit(struct st_call *c)
{
	struct queue_store *s = c->store;

	if (s->sql.db == NULL) {	/* opened to check a configuration */
		st_call_fail(c, ST_UNAVAILABLE, NULL, "queue '%s' is not open",
		    s->name);
		return;
	}
	if (!request_fits(c)) {
		st_call_fail(c, ST_BAD_REQUEST, NULL, "message, receipt or "
		    "times out of range for queue '%s'", s->name);
		return;
	}
	lsql_submit(&s->sql, c, c->op == ST_OP_QUEUE_RECEIVE ?
	    c->queue.wait : 0);
}

/*
 * Completion and release (lsql.c keeps the protocol; all its steps are
 * under the line's lock):
 *
 *  - A call is in exactly one place: the line, the waiters, or the batch
 *    the store's thread is running; then it is done.
 *  - The thread answers a call (st_call_done) only after the batch's
 *    commit, and marks it done only when the whole batch is settled.
 *  - Release, called exactly once at the end of every call (also when the
 *    application left while the receive waited): a call still in line or
 *    waiting is taken out, and is then never run nor answered; a call in
 *    the running batch is waited for until the batch is settled.
 *
 * So once release returns nothing in the store touches the call again,
 * and a call is answered at most once. A done hook must not release the
 * call itself (it runs on the store's thread, inside the batch): the core
 * releases from its own thread.
 */
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
	s->exists = -1;
	snprintf(s->name, sizeof(s->name), "%s", env->name);
	*out = s;
	if (env->check_only)
		return 0;
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	s->sql.store = s;
	s->sql.run = queue_run;
	s->sql.next_due = queue_next_due;
	if (lsql_open(&s->sql, path, fsync_on, schema, err, errlen) == 0 &&
	    prepare_all(s) == 0 && read_exists(s) == 0) {
		sqlite3_rollback_hook(s->sql.db, rolled_back, s);
		if (lsql_start(&s->sql, err, errlen) == 0)
			return 0;
	}
	if (err[0] == '\0')
		snprintf(err, errlen, "cannot prepare %s: %s", path,
		    sqlite3_errmsg(s->sql.db));
	st_local_queue_close(s);
	*out = NULL;
	return -1;
}

/* Stops the thread first: calls still in line or waiting are failed
 * (ST_UNAVAILABLE) by lsql_close, after the statements are gone. */
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
