/*
 * relay.c - the floor of the libraries: a bare libmicrohttpd + libcurl
 * relay, with none of stratusd (no routing, signing, logging, metrics,
 * streaming or retries). bench/run measures it beside stratusd, so that
 * the small-request figures say how much of stratusd's cost per request
 * is its own and how much the two libraries take on this machine.
 *
 *   relay epoll PORT UPSTREAM THREADS   stratusd's design: each thread
 *       runs one epoll loop over its own libmicrohttpd daemon and its own
 *       curl multi handle; a request parks (MHD_suspend_connection) while
 *       curl fetches UPSTREAM/path, and is resumed with the answer.
 *   relay tpc PORT UPSTREAM             a thread per connection, each with
 *       its own easy handle, blocking in curl_easy_perform.
 *
 * GET and HEAD only; the answer is held whole in memory (it is meant for
 * the 1 KiB objects of the small-request scenario). Not installed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#define MAX_BODY (1024 * 1024)	/* larger answers fail (502) */

struct loop {
	int		 epfd;
	struct MHD_Daemon *mhd;
	CURLM		*multi;
	long		 curl_ms;	/* curl's timer; -1 when none */
	int		 resumed;	/* a connection came back this round */
	CURL		*spare[256];	/* easy handles to reuse */
	int		 nspare;
};

struct exchange {
	struct loop	*loop;
	struct MHD_Connection *conn;
	CURL		*easy;
	char		*body;
	size_t		 len;
	long		 status;
	int		 started, done;
};

static const char *upstream;

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct exchange *x = arg;
	char *body;

	n *= size;
	if (x->len + n > MAX_BODY)
		return 0;
	if ((body = realloc(x->body, x->len + n)) == NULL)
		return 0;
	x->body = body;
	memcpy(x->body + x->len, p, n);
	x->len += n;
	return n;
}

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

static void
on_done(void *cls, struct MHD_Connection *c, void **ctx,
        enum MHD_RequestTerminationCode why)
{
	struct exchange *x = *ctx;

	(void)cls; (void)c; (void)why;
	if (x == NULL)
		return;
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
	x->easy = easy_for(loop->nspare > 0 ? loop->spare[--loop->nspare] :
	    curl_easy_init(), x, url);
	if (x->easy == NULL)
		return MHD_NO;
	x->started = 1;
	curl_multi_add_handle(loop->multi, x->easy);
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static int
on_socket(CURL *e, curl_socket_t s, int what, void *cls, void *sp)
{
	struct loop *loop = cls;
	struct epoll_event ev = { 0 };

	(void)e;
	ev.data.fd = s;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, s, NULL);
		curl_multi_assign(loop->multi, s, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) |
	    (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (sp == NULL) {
		epoll_ctl(loop->epfd, EPOLL_CTL_ADD, s, &ev);
		curl_multi_assign(loop->multi, s, loop);
	} else {
		epoll_ctl(loop->epfd, EPOLL_CTL_MOD, s, &ev);
	}
	return 0;
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

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE,
		    &x->status);
		x->done = 1;
		MHD_resume_connection(x->conn);
		loop->resumed = 1;
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
	int mhd_fd;

	info = MHD_get_daemon_info(loop->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	mhd_fd = info->epoll_fd;
	ev.data.fd = mhd_fd;
	epoll_ctl(loop->epfd, EPOLL_CTL_ADD, mhd_fd, &ev);
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
			int bits = 0;

			if (evs[i].data.fd == mhd_fd)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				bits |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				bits |= CURL_CSELECT_OUT;
			curl_run(loop, evs[i].data.fd, bits);
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
run_epoll(int port, int threads)
{
	pthread_t t;
	int i;

	for (i = 0; i < threads; i++) {
		struct loop *loop = calloc(1, sizeof(*loop));

		loop->epfd = epoll_create1(EPOLL_CLOEXEC);
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
		    MHD_OPTION_END);
		if (loop->mhd == NULL) {
			fprintf(stderr, "relay: MHD_start_daemon failed\n");
			exit(1);
		}
		pthread_create(&t, NULL, loop_main, loop);
	}
}

/* ---------------------------------------------------------------- tpc */

static __thread CURL *thread_easy;

static enum MHD_Result
on_request_tpc(void *cls, struct MHD_Connection *conn, const char *url,
               const char *method, const char *version, const char *data,
               size_t *size, void **ctx)
{
	struct exchange *x = *ctx;

	(void)cls; (void)method; (void)version; (void)data;
	if (x == NULL) {
		*ctx = x = exchange_new(NULL, conn);
		return x != NULL ? MHD_YES : MHD_NO;
	}
	if (*size > 0) {
		*size = 0;
		return MHD_YES;
	}
	/* The easy handle stays with the thread, and so does its
	 * connection to the upstream. */
	if (thread_easy == NULL)
		thread_easy = curl_easy_init();
	else
		curl_easy_reset(thread_easy);
	if (easy_for(thread_easy, x, url) == NULL)
		return MHD_NO;
	x->easy = thread_easy;
	curl_easy_perform(x->easy);
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	x->easy = NULL;
	return answer(x);
}

static void
run_tpc(int port)
{
	if (MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
	    on_request_tpc, NULL,
	    MHD_OPTION_LISTEN_SOCKET, listen_on(port),
	    MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
	    MHD_OPTION_END) == NULL) {
		fprintf(stderr, "relay: MHD_start_daemon failed\n");
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	int port;

	if (argc < 4) {
		fprintf(stderr, "usage: relay epoll|tpc PORT UPSTREAM [THREADS]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	port = atoi(argv[2]);
	upstream = argv[3];
	if (strcmp(argv[1], "epoll") == 0)
		run_epoll(port, argc > 4 ? atoi(argv[4]) : 2);
	else
		run_tpc(port);
	for (;;)
		pause();
}
