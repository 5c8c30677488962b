/*
 * relay.c - bare relays, the floor under stratusd: libmicrohttpd in front,
 * libcurl (or a few lines of client) behind, and none of stratusd's work
 * (no routing, signing, logging, metrics, streaming or retries).
 * bench/run measures them beside stratusd, so that the small-request
 * figures say how much of stratusd's cost per request is its own and how
 * much its libraries take on this machine.
 *
 *   relay epoll PORT UPSTREAM THREADS   stratusd's design: each thread
 *       runs one epoll loop over its own libmicrohttpd daemon and its own
 *       curl multi handle; a request parks (MHD_suspend_connection) while
 *       curl fetches UPSTREAM/path, and is resumed with the answer.
 *   relay raw PORT UPSTREAM THREADS     as epoll, with a few lines of HTTP/1.1
 *       client instead of libcurl: keep-alive connections that stay in
 *       the epoll set, one send and one recv per exchange. It answers
 *       what an own client for provider exchanges would be worth.
 *
 * A fifth argument sets libmicrohttpd's memory per connection in bytes
 * (else 32 KiB, its own default). libmicrohttpd zeroes all of it for
 * every request; stratusd uses 128 KiB so that uploads are read 64 KiB at
 * a time, and a relay given the same shows what that costs.
 *
 * GET only; the answer is held whole in memory (it is meant for the
 * 1 KiB objects of the small-request scenario), and the raw client knows
 * only answers with a Content-Length. Not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#define MAX_BODY (1024 * 1024)	/* larger answers fail (502) */
#define MAX_FD 65536		/* curl's sockets are tracked below this */
#define POOL_DEFAULT (32 * 1024)	/* libmicrohttpd's own default */

struct upstream;

struct loop {
	int		 epfd;
	struct MHD_Daemon *mhd;
	CURLM		*multi;
	long		 curl_ms;	/* curl's timer; -1 when none */
	int		 resumed;	/* a connection came back this round */
	CURL		*spare[256];	/* easy handles to reuse */
	int		 nspare;
	int		 raw;		/* raw client instead of curl */
	/* curl's sockets as stratusd keeps them: registered while idle,
	 * so that the next exchange on a kept connection costs no
	 * epoll_ctl. Events for each: registered, and wanted by curl. */
	uint32_t	 reg[MAX_FD], want[MAX_FD];
	struct upstream	*idle;		/* raw: connections free for use */
};

struct exchange {
	struct loop	*loop;
	struct MHD_Connection *conn;
	CURL		*easy;
	struct upstream	*up;		/* raw: the connection it uses */
	char		*body;
	size_t		 len;
	long		 status;
	int		 started, done;
};

static const char *upstream;
static struct sockaddr_in upstream_addr;	/* raw */
static char upstream_host[64];

/* Appends n bytes to x's answer; -1 when it is too long. */
static int
keep_body(struct exchange *x, const char *p, size_t n)
{
	char *body;

	if (x->len + n > MAX_BODY)
		return -1;
	if ((body = realloc(x->body, x->len + n + 1)) == NULL)
		return -1;
	x->body = body;
	memcpy(x->body + x->len, p, n);
	x->len += n;
	return 0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	return keep_body(arg, p, size * n) == 0 ? size * n : 0;
}

static int on_close(void *, curl_socket_t);

/* Points easy handle h at UPSTREAM/path, answering into x. */
static CURL *
easy_for(CURL *h, struct exchange *x, const char *path)
{
	char url[2048];

	if (h == NULL)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", upstream, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* As stratusd does when the environment names no proxy: without
	 * these curl reads the proxy variables on every transfer. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "");
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, x->loop);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	return h;
}

static enum MHD_Result
answer(struct exchange *x)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(x->len, x->body,
	    MHD_RESPMEM_MUST_COPY);
	rc = MHD_queue_response(x->conn, x->status > 0 ? (unsigned)x->status :
	    502, r);
	MHD_destroy_response(r);
	return rc;
}

/* The answer is in: the parked connection goes on with it. */
static void
exchange_done(struct exchange *x, long status)
{
	x->status = status;
	x->done = 1;
	MHD_resume_connection(x->conn);
	x->loop->resumed = 1;
}

static struct exchange *
exchange_new(struct loop *loop, struct MHD_Connection *conn)
{
	struct exchange *x = calloc(1, sizeof(*x));

	if (x != NULL) {
		x->loop = loop;
		x->conn = conn;
	}
	return x;
}

static void upstream_close(struct upstream *);
static void upstream_event(struct upstream *, uint32_t);
static int raw_start(struct exchange *, const char *);

static void
on_done(void *cls, struct MHD_Connection *c, void **ctx,
        enum MHD_RequestTerminationCode why)
{
	struct exchange *x = *ctx;

	(void)cls; (void)c; (void)why;
	if (x == NULL)
		return;
	if (x->up != NULL)		/* gone mid-answer: not reusable */
		upstream_close(x->up);
	if (x->easy != NULL) {
		struct loop *loop = x->loop;

		curl_multi_remove_handle(loop->multi, x->easy);
		curl_easy_reset(x->easy);
		if (loop->nspare < 256)
			loop->spare[loop->nspare++] = x->easy;
		else
			curl_easy_cleanup(x->easy);
	}
	free(x->body);
	free(x);
	*ctx = NULL;
}

/* ---------------------------------------------------------------- epoll */

static enum MHD_Result
on_request_epoll(void *cls, struct MHD_Connection *conn, const char *url,
                 const char *method, const char *version, const char *data,
                 size_t *size, void **ctx)
{
	struct loop *loop = cls;
	struct exchange *x = *ctx;

	(void)method; (void)version; (void)data;
	if (x == NULL) {
		*ctx = x = exchange_new(loop, conn);
		return x != NULL ? MHD_YES : MHD_NO;
	}
	if (*size > 0) {
		*size = 0;
		return MHD_YES;
	}
	if (x->done)
		return answer(x);
	if (x->started)
		return MHD_YES;
	if (loop->raw) {
		if (raw_start(x, url) == -1)
			return MHD_NO;
	} else {
		x->easy = easy_for(loop->nspare > 0 ?
		    loop->spare[--loop->nspare] : curl_easy_init(), x, url);
		if (x->easy == NULL)
			return MHD_NO;
		curl_multi_add_handle(loop->multi, x->easy);
	}
	x->started = 1;
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static int
on_socket(CURL *e, curl_socket_t s, int what, void *cls, void *sp)
{
	struct loop *loop = cls;
	struct epoll_event ev = { 0 };

	(void)e; (void)sp;
	if (s < 0 || s >= MAX_FD)
		abort();
	loop->want[s] = what == CURL_POLL_REMOVE ? 0 :
	    (what & CURL_POLL_IN ? EPOLLIN : 0) |
	    (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (loop->want[s] == 0 || loop->reg[s] == loop->want[s])
		return 0;
	ev.events = loop->want[s];
	ev.data.u64 = (uint64_t)s + 1;	/* never NULL */
	epoll_ctl(loop->epfd, loop->reg[s] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s,
	    &ev);
	loop->reg[s] = loop->want[s];
	return 0;
}

/* The kernel drops a closed socket from the epoll set. */
static int
on_close(void *cls, curl_socket_t s)
{
	struct loop *loop = cls;

	if (s >= 0 && s < MAX_FD)
		loop->reg[s] = loop->want[s] = 0;
	return close(s);
}

static int
on_timer(CURLM *m, long ms, void *cls)
{
	(void)m;
	((struct loop *)cls)->curl_ms = ms;
	return 0;
}

static void
collect(struct loop *loop)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(loop->multi, &left)) != NULL) {
		struct exchange *x;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE,
		    &status);
		exchange_done(x, status);
	}
}

static void
curl_run(struct loop *loop, curl_socket_t s, int bits)
{
	int running;

	/* A timer is spent once it fired; curl sets the next one. */
	if (s == CURL_SOCKET_TIMEOUT)
		loop->curl_ms = -1;
	curl_multi_socket_action(loop->multi, s, bits, &running);
	collect(loop);
}

static void *
loop_main(void *arg)
{
	struct loop *loop = arg;
	const union MHD_DaemonInfo *info;
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];

	/* The daemon's epoll set is marked NULL, curl's sockets by their
	 * descriptor plus one, the raw client's connections by their struct. */
	info = MHD_get_daemon_info(loop->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	ev.data.ptr = NULL;
	epoll_ctl(loop->epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev);
	for (;;) {
		MHD_UNSIGNED_LONG_LONG mhd_ms;
		long wait = -1;
		int i, n;

		if (MHD_get_timeout(loop->mhd, &mhd_ms) == MHD_YES)
			wait = mhd_ms > 60000 ? 60000 : (long)mhd_ms;
		if (loop->curl_ms >= 0 && (wait < 0 || loop->curl_ms < wait))
			wait = loop->curl_ms;
		n = epoll_wait(loop->epfd, evs, 64, (int)wait);
		for (i = 0; i < n; i++) {
			curl_socket_t fd;
			int bits = 0;

			if (evs[i].data.ptr == NULL)
				continue;
			if (loop->raw) {
				upstream_event(evs[i].data.ptr, evs[i].events);
				continue;
			}
			fd = (curl_socket_t)(evs[i].data.u64 - 1);
			if (loop->want[fd] == 0) {	/* idle: curl is not asking */
				epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
				loop->reg[fd] = 0;
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				bits |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				bits |= CURL_CSELECT_OUT;
			curl_run(loop, fd, bits);
		}
		if (n == 0 && loop->curl_ms >= 0)
			curl_run(loop, CURL_SOCKET_TIMEOUT, 0);
		/* New requests add transfers, which curl starts at once;
		 * answers resume connections, which MHD_run serves. */
		do {
			loop->resumed = 0;
			MHD_run(loop->mhd);
			if (loop->curl_ms == 0)
				curl_run(loop, CURL_SOCKET_TIMEOUT, 0);
		} while (loop->resumed);
	}
	return NULL;
}

static int
listen_on(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), on = 1;

	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, 1024) == -1) {
		perror("relay: listen");
		exit(1);
	}
	return fd;
}

static void
run_epoll(int port, int threads, int raw, size_t pool)
{
	pthread_t t;
	int i;

	for (i = 0; i < threads; i++) {
		struct loop *loop = calloc(1, sizeof(*loop));

		loop->epfd = epoll_create1(EPOLL_CLOEXEC);
		loop->raw = raw;
		loop->curl_ms = -1;
		loop->multi = curl_multi_init();
		curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
		curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
		curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, on_timer);
		curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
		loop->mhd = MHD_start_daemon(MHD_USE_EPOLL |
		    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, 0, NULL, NULL,
		    on_request_epoll, loop,
		    MHD_OPTION_LISTEN_SOCKET, listen_on(port),
		    MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
		    MHD_OPTION_END);
		if (loop->mhd == NULL) {
			fprintf(stderr, "relay: MHD_start_daemon failed\n");
			exit(1);
		}
		pthread_create(&t, NULL, loop_main, loop);
	}
}

/* ---------------------------------------------------------------- raw */

struct upstream {
	int		 fd;
	struct loop	*loop;
	struct upstream	*next;		/* in loop->idle */
	struct exchange	*x;		/* NULL while idle */
	char		 out[2048];	/* the request, until it has left */
	size_t		 outlen;
	char		 head[8192];	/* the answer's status line, headers */
	size_t		 headlen;
	size_t		 want;		/* body bytes still to come */
	long		 status;
	int		 in_body;
};

static void
upstream_close(struct upstream *u)
{
	struct upstream **pp;

	for (pp = &u->loop->idle; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	if (u->x != NULL)
		u->x->up = NULL;
	close(u->fd);			/* leaves the epoll set with it */
	free(u);
}

static struct upstream *
upstream_open(struct loop *loop)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	struct upstream *u = calloc(1, sizeof(*u));

	if (u == NULL)
		return NULL;
	u->loop = loop;
	u->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ev.data.ptr = u;
	if (u->fd == -1 ||
	    (connect(u->fd, (struct sockaddr *)&upstream_addr,
	    sizeof(upstream_addr)) == -1 && errno != EINPROGRESS) ||
	    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, u->fd, &ev) == -1) {
		if (u->fd != -1)
			close(u->fd);
		free(u);
		return NULL;
	}
	return u;
}

/* Ends u's exchange with status and hands its connection back to MHD. */
static void
exchange_end(struct upstream *u, long status)
{
	struct exchange *x = u->x;

	u->x = NULL;
	u->headlen = u->want = 0;
	u->in_body = 0;
	if (x == NULL)
		return;
	x->up = NULL;
	exchange_done(x, status);
}

static void
upstream_fail(struct upstream *u)
{
	exchange_end(u, 502);
	upstream_close(u);
}

/* For an exchange that has not been parked yet: no resume. */
static void
upstream_abandon(struct upstream *u)
{
	if (u->x != NULL) {
		u->x->up = NULL;
		u->x = NULL;
	}
	upstream_close(u);
}

/* Sends what is left of the request; until connected, EPOLLOUT says when. */
static int
upstream_flush(struct upstream *u)
{
	while (u->outlen > 0) {
		ssize_t n = send(u->fd, u->out, u->outlen, MSG_NOSIGNAL);

		if (n == -1)
			return errno == EAGAIN || errno == ENOTCONN ? 0 : -1;
		memmove(u->out, u->out + n, u->outlen - (size_t)n);
		u->outlen -= (size_t)n;
	}
	return 0;
}

/* Status and Content-Length from a complete head; -1 without them. */
static int
parse_head(struct upstream *u)
{
	const char *line = strstr(u->head, "\r\n");

	if (strncmp(u->head, "HTTP/1.", 7) != 0 || line == NULL)
		return -1;
	u->status = strtol(u->head + 9, NULL, 10);
	for (; line != NULL; line = strstr(line + 2, "\r\n")) {
		if (strncasecmp(line + 2, "content-length:", 15) == 0) {
			u->want = strtoul(line + 17, NULL, 10);
			return 0;
		}
	}
	return -1;
}

/* Takes n bytes of the answer; -1 when it is not one we understand. */
static int
upstream_take(struct upstream *u, const char *p, size_t n)
{
	if (!u->in_body) {
		size_t room = sizeof(u->head) - 1 - u->headlen, take, used;
		char *end;

		take = n < room ? n : room;
		memcpy(u->head + u->headlen, p, take);
		u->head[u->headlen + take] = '\0';
		if ((end = strstr(u->head, "\r\n\r\n")) == NULL) {
			u->headlen += take;
			return take == n ? 0 : -1;
		}
		used = (size_t)(end + 4 - u->head) - u->headlen;
		if (parse_head(u) == -1)
			return -1;
		u->in_body = 1;
		p += used;
		n -= used;
	}
	if (n > u->want || keep_body(u->x, p, n) == -1)
		return -1;
	u->want -= n;
	if (u->want == 0) {
		struct loop *loop = u->loop;

		exchange_end(u, u->status);
		u->next = loop->idle;
		loop->idle = u;
	}
	return 0;
}

static void
upstream_event(struct upstream *u, uint32_t events)
{
	char buf[65536];
	ssize_t n;

	if ((events & EPOLLOUT) && upstream_flush(u) == -1) {
		upstream_fail(u);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	/* An idle connection that the server closed, or that has bytes
	 * nobody asked for, is of no more use. (There is no retry: a request
	 * sent on a connection closed in that instant gets a 502.) */
	if (u->x == NULL) {
		upstream_close(u);
		return;
	}
	/* Edge-triggered: read until it would block or the answer is
	 * whole. */
	while (u->x != NULL) {
		n = recv(u->fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0 || upstream_take(u, buf, (size_t)n) == -1) {
			upstream_fail(u);
			return;
		}
	}
}

/* Sends GET url on an idle connection, or a new one. */
static int
raw_start(struct exchange *x, const char *url)
{
	struct loop *loop = x->loop;
	struct upstream *u = loop->idle;
	int len;

	if (u != NULL)
		loop->idle = u->next;
	else if ((u = upstream_open(loop)) == NULL)
		return -1;
	len = snprintf(u->out, sizeof(u->out), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "\r\n", url, upstream_host);
	u->x = x;
	x->up = u;
	if (len < 0 || (size_t)len >= sizeof(u->out)) {
		upstream_abandon(u);
		return -1;
	}
	u->outlen = (size_t)len;
	if (upstream_flush(u) == -1) {
		upstream_abandon(u);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned long pool = POOL_DEFAULT;
	int port, up_port;

	if (argc < 4) {
		fprintf(stderr, "usage: relay epoll|raw PORT UPSTREAM "
		    "[THREADS [CONNECTION_MEMORY]]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	port = atoi(argv[2]);
	upstream = argv[3];
	if (sscanf(upstream, "http://%63[^:/]:%d", upstream_host, &up_port) != 2) {
		fprintf(stderr, "relay: UPSTREAM is http://IPV4:PORT\n");
		return 2;
	}
	upstream_addr.sin_family = AF_INET;
	upstream_addr.sin_port = htons((unsigned short)up_port);
	if (inet_pton(AF_INET, upstream_host, &upstream_addr.sin_addr) != 1) {
		fprintf(stderr, "relay: UPSTREAM is http://IPV4:PORT\n");
		return 2;
	}
	if (strcmp(argv[1], "epoll") != 0 && strcmp(argv[1], "raw") != 0) {
		fprintf(stderr, "relay: mode is epoll or raw\n");
		return 2;
	}
	if (argc > 5) {
		char *end;

		errno = 0;
		pool = strtoul(argv[5], &end, 10);
		if (errno != 0 || end == argv[5] || *end != '\0' ||
		    pool < 4096) {
			fprintf(stderr, "relay: CONNECTION_MEMORY is a number "
			    "of bytes, 4096 or more\n");
			return 2;
		}
	}
	run_epoll(port, argc > 4 ? atoi(argv[4]) : 2,
	    strcmp(argv[1], "raw") == 0, (size_t)pool);
	for (;;)
		pause();
}
