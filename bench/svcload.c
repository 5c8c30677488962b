/*
 * svcload.c - a closed-loop load generator for the queue and table APIs.
 *
 * CONNS keep-alive connections each run one scenario over and over for
 * SECONDS, as fast as the daemon answers, and the program prints one JSON
 * object: operations, errors, the rate, and percentiles of the operation
 * latency (and, for queue receives, of the time from send to receive,
 * read from the timestamp every sent message carries).
 *
 *   svcload -p PORT -s SCENARIO -n NAME -d SECONDS [-c CONNS] [-t TOKEN]
 *
 * Scenarios, NAME being the queue or table store:
 *   send      POST /v1/queues/NAME/messages (201)
 *   recvack   GET .../messages?max=1&wait=1, then DELETE .../messages/
 *             RECEIPT: one operation; an empty receive is counted apart
 *   get       GET /v1/tables/NAME/p/rK for K in 0..99 (200)
 *   cput      on a row of its own per connection: GET (keep the ETag),
 *             then PUT with If-Match (200): one operation
 *
 * Only Content-Length answers are understood (the daemon sends them for
 * these). Stops by itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 256
#define BUFSZ (64 * 1024)

enum scenario { SC_SEND, SC_RECVACK, SC_GET, SC_CPUT };

struct conn {
	int		 fd;
	int		 id;
	int		 step;		/* 0: first request of the op, 1: second */
	int64_t		 op_start;
	char		 in[BUFSZ];
	size_t		 inlen;
	char		 arg[4096];	/* receipt or ETag for the second step */
	unsigned	 k;
};

static enum scenario sc;
static const char *name, *token;
static int port, nconn = 32, seconds = 10;
static int64_t *lat, *e2e;
static size_t nlat, caplat, ne2e, cape2e;
static long ops, errors, empty;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
keep(int64_t **v, size_t *n, size_t *cap, int64_t x)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 65536;
		if ((*v = realloc(*v, *cap * sizeof(**v))) == NULL)
			exit(1);
	}
	(*v)[(*n)++] = x;
}

static void
send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) <= 0) {
			perror("write");
			exit(1);
		}
		p += w;
		n -= (size_t)w;
	}
}

static void
request(struct conn *c, const char *method, const char *path,
        const char *extra, const char *body)
{
	char buf[8192];
	int n;

	n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "%s%s%s%sContent-Length: %zu\r\n\r\n%s", method, path,
	    token ? "Authorization: Bearer " : "", token ? token : "",
	    token ? "\r\n" : "", extra, body ? strlen(body) : 0,
	    body ? body : "");
	send_all(c->fd, buf, (size_t)n);
}

/* Starts step 0 of the connection's next operation. */
static void
begin(struct conn *c)
{
	char path[512], body[128];

	c->op_start = now_ns();
	c->step = 0;
	switch (sc) {
	case SC_SEND:
		snprintf(path, sizeof(path), "/v1/queues/%s/messages", name);
		snprintf(body, sizeof(body), "t%lld", (long long)now_ns());
		request(c, "POST", path, "", body);
		break;
	case SC_RECVACK:
		snprintf(path, sizeof(path), "/v1/queues/%s/messages?max=1&"
		    "visibility=60&wait=1", name);
		request(c, "GET", path, "", NULL);
		break;
	case SC_GET:
		snprintf(path, sizeof(path), "/v1/tables/%s/p/r%u", name,
		    c->k++ % 100);
		request(c, "GET", path, "", NULL);
		break;
	case SC_CPUT:
		snprintf(path, sizeof(path), "/v1/tables/%s/c/w%d", name, c->id);
		request(c, "GET", path, "", NULL);
		break;
	}
}

/* A complete answer in c->in: its status, body and length; 0 when not
 * whole yet. */
static size_t
whole(struct conn *c, int *status, const char **body, size_t *bodylen)
{
	char *end, *cl;
	size_t hlen, blen = 0;

	c->in[c->inlen] = '\0';
	if ((end = strstr(c->in, "\r\n\r\n")) == NULL)
		return 0;
	hlen = (size_t)(end - c->in) + 4;
	if ((cl = strcasestr(c->in, "\r\nContent-Length:")) != NULL && cl < end)
		blen = strtoul(cl + 17, NULL, 10);
	if (c->inlen < hlen + blen)
		return 0;
	*status = atoi(c->in + 9);
	*body = c->in + hlen;
	*bodylen = blen;
	return hlen + blen;
}

/* Copies the JSON string value of "key" from body into out. */
static int
json_str(const char *body, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p, *q;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if ((p = strstr(body, pat)) == NULL)
		return -1;
	p += strlen(pat);
	if ((q = strchr(p, '"')) == NULL || (size_t)(q - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

static void
finish_op(struct conn *c, int ok)
{
	if (ok) {
		ops++;
		keep(&lat, &nlat, &caplat, now_ns() - c->op_start);
	} else {
		errors++;
	}
}

/* The second step, or the end of the operation, after an answer. */
static void
answered(struct conn *c, int status, const char *body)
{
	char path[4400], hdr[4200], b[64];
	const char *etag;

	switch (sc) {
	case SC_SEND:
	case SC_GET:
		finish_op(c, status == (sc == SC_SEND ? 201 : 200));
		break;
	case SC_RECVACK:
		if (c->step == 1) {
			finish_op(c, status == 204);
			break;
		}
		if (status != 200) {
			finish_op(c, 0);
			break;
		}
		if (json_str(body, "receipt", c->arg, sizeof(c->arg)) == -1) {
			empty++;
			break;
		}
		if (json_str(body, "body", b, sizeof(b)) == 0 && b[0] == 't')
			keep(&e2e, &ne2e, &cape2e, now_ns() - atoll(b + 1));
		snprintf(path, sizeof(path), "/v1/queues/%s/messages/%s", name,
		    c->arg);
		c->step = 1;
		request(c, "DELETE", path, "", NULL);
		return;
	case SC_CPUT:
		if (c->step == 1) {
			finish_op(c, status == 200 || status == 201);
			break;
		}
		snprintf(path, sizeof(path), "/v1/tables/%s/c/w%d", name, c->id);
		hdr[0] = '\0';
		if (status == 200 && (etag = strcasestr(c->in, "\r\nETag: ")) !=
		    NULL) {
			size_t n = strcspn(etag + 8, "\r");

			snprintf(hdr, sizeof(hdr), "If-Match: %.*s\r\n", (int)n,
			    etag + 8);
		}
		c->step = 1;
		request(c, "PUT", path, hdr, "{\"n\":1,\"s\":\"value\"}");
		return;
	}
	begin(c);
}

static void
readable(struct conn *c)
{
	const char *body;
	size_t used, bodylen;
	ssize_t n;
	int status;

	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
	if (n <= 0) {
		fprintf(stderr, "connection %d closed\n", c->id);
		exit(1);
	}
	c->inlen += (size_t)n;
	while ((used = whole(c, &status, &body, &bodylen)) > 0) {
		char *end = c->in + (body - c->in) + bodylen, saved = *end;

		*end = '\0';		/* the body alone, for json_str */
		answered(c, status, body);
		*end = saved;
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
}

static int
connect_to(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		perror("connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(int64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	return (double)v[(size_t)(p * (double)(n - 1))] / 1000.0;
}

int
main(int argc, char **argv)
{
	static struct conn conns[MAXCONN];
	struct epoll_event ev, evs[64];
	int64_t start, end;
	int opt, ep, i, n;
	const char *s = "send";

	while ((opt = getopt(argc, argv, "p:s:n:d:c:t:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 's': s = optarg; break;
		case 'n': name = optarg; break;
		case 'd': seconds = atoi(optarg); break;
		case 'c': nconn = atoi(optarg); break;
		case 't': token = optarg; break;
		default: return 2;
		}
	}
	if (strcmp(s, "send") == 0) sc = SC_SEND;
	else if (strcmp(s, "recvack") == 0) sc = SC_RECVACK;
	else if (strcmp(s, "get") == 0) sc = SC_GET;
	else if (strcmp(s, "cput") == 0) sc = SC_CPUT;
	else return 2;
	if (port == 0 || name == NULL || nconn < 1 || nconn > MAXCONN)
		return 2;
	ep = epoll_create1(0);
	start = now_ns();
	end = start + (int64_t)seconds * 1000000000;
	for (i = 0; i < nconn; i++) {
		conns[i].fd = connect_to();
		conns[i].id = i;
		ev.events = EPOLLIN;
		ev.data.ptr = &conns[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
		begin(&conns[i]);
	}
	while (now_ns() < end) {
		n = epoll_wait(ep, evs, 64, 100);
		for (i = 0; i < n; i++)
			readable(evs[i].data.ptr);
	}
	end = now_ns();
	qsort(lat, nlat, sizeof(*lat), cmp);
	qsort(e2e, ne2e, sizeof(*e2e), cmp);
	printf("{\"scenario\":\"%s\",\"conns\":%d,\"seconds\":%.2f,\"ops\":%ld,"
	    "\"errors\":%ld,\"empty\":%ld,\"rate\":%.1f,\"p50_us\":%.1f,"
	    "\"p99_us\":%.1f,\"e2e_p50_us\":%.1f,\"e2e_p99_us\":%.1f}\n", s,
	    nconn, (double)(end - start) / 1e9, ops, errors, empty,
	    (double)ops * 1e9 / (double)(end - start), pct(lat, nlat, 0.5),
	    pct(lat, nlat, 0.99), pct(e2e, ne2e, 0.5), pct(e2e, ne2e, 0.99));
	return 0;
}
