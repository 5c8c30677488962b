/*
 * rights.c - names of rights by kind, and the shorthands of allow rules.
 *
 *   blob   get (GET, HEAD)  list  put (PUT, copy target)  delete  presign
 *   queue  send  receive (receive, change visibility)  ack  admin
 *   table  get  query  put  delete  admin
 *
 * A name is one bit in each kind that has it; a rule keeps the union of
 * its names and a store of one kind sees only that kind's bits. So
 * "*:*:get" gives blob get and table get, and no queue right.
 *
 * Shorthands keep the configurations written before rights existed
 * meaning what they meant: read (r) is blob get, list and presign, queue
 * receive and ack, table get and query; write (w) is blob put, delete and
 * presign, queue send, table put and delete; rw is both; * is every right.
 * Presign stays in both because before rights, read allowed presigning a
 * GET and write a PUT (a presign still needs the right of its method).
 * On blob and table rules the old spellings receive and send mean read
 * and write; on queue rules they are the queue rights of those names.
 */
#include <string.h>

#include "daemon/config.h"
#include "daemon/rights.h"

#define K_BLOB  ST_KIND_BLOB
#define K_QUEUE ST_KIND_QUEUE
#define K_TABLE ST_KIND_TABLE

struct right_name {
	const char	*name;
	unsigned	 kinds;		/* the kinds that have it */
	unsigned	 bits;
};

/* In the order /v1/stores lists them. */
static const struct right_name names[] = {
	{ "get",	K_BLOB | K_TABLE,	ST_RIGHT_GET },
	{ "list",	K_BLOB,			ST_RIGHT_LIST },
	{ "query",	K_TABLE,		ST_RIGHT_QUERY },
	{ "put",	K_BLOB | K_TABLE,	ST_RIGHT_PUT },
	{ "delete",	K_BLOB | K_TABLE,	ST_RIGHT_DELETE },
	{ "presign",	K_BLOB,			ST_RIGHT_PRESIGN },
	{ "send",	K_QUEUE,		ST_RIGHT_SEND },
	{ "receive",	K_QUEUE,		ST_RIGHT_RECEIVE },
	{ "ack",	K_QUEUE,		ST_RIGHT_ACK },
	{ "admin",	K_QUEUE | K_TABLE,	ST_RIGHT_ADMIN },
};

#define READ_BITS  (ST_RIGHT_GET | ST_RIGHT_LIST | ST_RIGHT_QUERY | \
		    ST_RIGHT_PRESIGN | ST_RIGHT_RECEIVE | ST_RIGHT_ACK)
#define WRITE_BITS (ST_RIGHT_PUT | ST_RIGHT_DELETE | ST_RIGHT_PRESIGN | \
		    ST_RIGHT_SEND)

static const struct right_name shorthands[] = {
	{ "r",		K_BLOB | K_QUEUE | K_TABLE,	READ_BITS },
	{ "read",	K_BLOB | K_QUEUE | K_TABLE,	READ_BITS },
	{ "w",		K_BLOB | K_QUEUE | K_TABLE,	WRITE_BITS },
	{ "write",	K_BLOB | K_QUEUE | K_TABLE,	WRITE_BITS },
	{ "rw",		K_BLOB | K_QUEUE | K_TABLE,	READ_BITS | WRITE_BITS },
	{ "*",		K_BLOB | K_QUEUE | K_TABLE,	~0u },
	/* the old spellings, on blob and table rules */
	{ "receive",	K_BLOB | K_TABLE,		READ_BITS },
	{ "send",	K_BLOB | K_TABLE,		WRITE_BITS },
};

unsigned
st_rights_of_kind(unsigned kind)
{
	switch (kind) {
	case ST_KIND_BLOB:
		return ST_RIGHTS_BLOB;
	case ST_KIND_QUEUE:
		return ST_RIGHTS_QUEUE;
	case ST_KIND_TABLE:
		return ST_RIGHTS_TABLE;
	default:
		return 0;
	}
}

/* The bits of one word on kinds; 0 when no kind of the rule has it. */
static unsigned
word_bits(unsigned kinds, const char *w, size_t n)
{
	unsigned bits = 0, k;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n &&
		    strncmp(names[i].name, w, n) == 0 && (names[i].kinds & kinds))
			bits |= names[i].bits;
	/* A shorthand: its bits within each kind of the rule that has it. */
	for (i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++) {
		if (strlen(shorthands[i].name) != n ||
		    strncmp(shorthands[i].name, w, n) != 0)
			continue;
		for (k = K_BLOB; k <= K_TABLE; k <<= 1)
			if (kinds & k & shorthands[i].kinds)
				bits |= shorthands[i].bits & st_rights_of_kind(k);
	}
	return bits;
}

int
st_parse_rights(unsigned kinds, const char *list, unsigned *rights,
                const char **bad)
{
	const char *p = list;
	unsigned bits;
	size_t n;

	*rights = 0;
	if (*p == '\0')
		return -1;
	for (;;) {
		n = strcspn(p, ",");
		if (n == 0 || (bits = word_bits(kinds, p, n)) == 0) {
			if (bad != NULL)
				*bad = p;
			return -1;
		}
		*rights |= bits;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

size_t
st_rights_names(unsigned kind, unsigned bits, const char **out, size_t cap)
{
	size_t i, n = 0;

	bits &= st_rights_of_kind(kind);
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && n < cap; i++)
		if ((names[i].kinds & kind) && (names[i].bits & bits))
			out[n++] = names[i].name;
	return n;
}

const char *
st_right_name(unsigned kind, unsigned right)
{
	const char *one[1];

	return st_rights_names(kind, right, one, 1) == 1 ? one[0] : "?";
}
