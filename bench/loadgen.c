/*
 * loadgen.c - an open-loop HTTP/1.1 GET load generator at a fixed rate.
 *
 * wrk2 is not in Debian, and wrk measures closed-loop (a slow answer
 * delays the next request, hiding the very latency we want to see). This
 * sends request i at t0 + i/rate whatever happened before, over a few
 * keep-alive connections, and measures each latency from the moment the
 * request was due (so a queue behind a slow answer counts, as in wrk2).
 *
 *   loadgen -p PORT -u PATH -r RATE -d SECONDS [-c CONNS] [-w WARMUP]
 *           [-a ADDR]
 *
 * Prints one JSON object: requests, errors, achieved rate and latency
 * percentiles in microseconds. The first WARMUP seconds (default 1) are
 * sent but not counted. Only Content-Length responses are understood
 * (nginx and stratusd send them for these GETs). Stops by itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 256
#define BUFSZ (256 * 1024)

struct conn {
	int		 fd;
	int		 busy;
	int64_t		 due;		/* ns: when the request in flight was due */
	int		 counted;
	char		*buf;
	size_t		 len;
};

static const char *addr = "127.0.0.1";
static int port, nconn = 8;
static char req[2048];
static size_t reqlen;
static int64_t *lat;
static size_t nlat, caplat;
static long errors, sent, done_total;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
dial(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, one = 1;

	sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, addr, &sin.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		perror("connect");
		exit(2);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void
record(int64_t v)
{
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 65536;
		lat = realloc(lat, caplat * sizeof(*lat));
		if (lat == NULL)
			exit(3);
	}
	lat[nlat++] = v;
}

static void
send_req(struct conn *c, int64_t due, int counted)
{
	ssize_t n = write(c->fd, req, reqlen);

	if (n != (ssize_t)reqlen) {	/* small request, empty socket */
		errors++;
		return;
	}
	c->busy = 1;
	c->due = due;
	c->counted = counted;
	c->len = 0;
	sent++;
}

/* Returns 1 when a whole 200 response is in c->buf, 0 when more is
 * needed, -1 for anything else. */
static int
complete(struct conn *c)
{
	char *end, *p;
	long clen;

	c->buf[c->len] = '\0';
	if ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
		return 0;
	*end = '\0';
	p = strcasestr(c->buf, "\r\nContent-Length:");
	*end = '\r';
	if (p == NULL)
		return -1;
	clen = strtol(p + 17, NULL, 10);
	if ((size_t)(end + 4 - c->buf) + (size_t)clen > c->len)
		return 0;
	return strncmp(c->buf, "HTTP/1.1 200", 12) == 0 ? 1 : -1;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char *path = "/";
	double rate = 1000, dur = 10, warm = 1;
	struct conn conns[MAXCONN];
	struct epoll_event ev, evs[64];
	struct itimerspec its = { 0 };
	int ep, tfd, opt, i;
	int64_t t0, interval, next, end_send, hard_end;
	long backlog = 0;		/* requests due but not yet sent */
	int64_t backlog_due[4096];
	size_t bhead = 0;

	while ((opt = getopt(argc, argv, "a:p:u:r:d:c:w:")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'u': path = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'd': dur = atof(optarg); break;
		case 'c': nconn = atoi(optarg); break;
		case 'w': warm = atof(optarg); break;
		default:
			fprintf(stderr, "usage: loadgen -p PORT -u PATH -r RATE "
			    "-d SECONDS [-c CONNS] [-w WARMUP] [-a ADDR]\n");
			return 2;
		}
	}
	if (port <= 0 || rate <= 0 || nconn < 1 || nconn > MAXCONN) {
		fprintf(stderr, "loadgen: bad arguments\n");
		return 2;
	}
	prctl(PR_SET_TIMERSLACK, 1UL);	/* wake on time, not 50 us late */
	reqlen = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n"
	    "Host: %s:%d\r\nUser-Agent: stratus-loadgen\r\n\r\n", path, addr, port);
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < nconn; i++) {
		conns[i].fd = dial();
		conns[i].busy = 0;
		conns[i].buf = malloc(BUFSZ + 1);
		conns[i].len = 0;
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.u32 = 0xffffffffu;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

	interval = (int64_t)(1e9 / rate);
	t0 = now_ns() + 10000000;	/* 10 ms to settle */
	next = t0;
	end_send = t0 + (int64_t)((warm + dur) * 1e9);
	hard_end = end_send + 5000000000LL;

	for (;;) {
		int64_t now = now_ns();
		int n;

		/* Everything that is due goes out, on idle connections. */
		while (next <= now && next < end_send) {
			if (backlog < (long)(sizeof(backlog_due) / sizeof(backlog_due[0]))) {
				backlog_due[(bhead + (size_t)backlog) %
				    (sizeof(backlog_due) / sizeof(backlog_due[0]))] = next;
				backlog++;
			} else {
				errors++;	/* hopelessly behind */
			}
			next += interval;
		}
		for (i = 0; i < nconn && backlog > 0; i++) {
			if (conns[i].busy)
				continue;
			{
				int64_t due = backlog_due[bhead];

				bhead = (bhead + 1) % (sizeof(backlog_due) /
				    sizeof(backlog_due[0]));
				backlog--;
				send_req(&conns[i], due, due >= t0 +
				    (int64_t)(warm * 1e9));
			}
		}
		if (next >= end_send && backlog == 0) {
			int busy = 0;

			for (i = 0; i < nconn; i++)
				busy |= conns[i].busy;
			if (!busy || now > hard_end)
				break;
		}
		if (next < end_send) {
			its.it_value.tv_sec = next / 1000000000LL;
			its.it_value.tv_nsec = next % 1000000000LL;
			timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
		}
		n = epoll_wait(ep, evs, 64, 100);
		for (i = 0; i < n; i++) {
			uint32_t k = evs[i].data.u32;
			struct conn *c;
			ssize_t got;
			int r;

			if (k == 0xffffffffu) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
					perror("timerfd");
				continue;
			}
			c = &conns[k];
			got = read(c->fd, c->buf + c->len, BUFSZ - c->len);
			if (got <= 0) {
				if (got < 0 && errno == EAGAIN)
					continue;
				/* closed: count the request as failed, redial */
				if (c->busy)
					errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = dial();
				c->busy = 0;
				c->len = 0;
				ev.events = EPOLLIN;
				ev.data.u32 = k;
				epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
				continue;
			}
			c->len += (size_t)got;
			if (!c->busy)
				continue;
			r = complete(c);
			if (r == 0 && c->len < BUFSZ)
				continue;
			if (r == 1) {
				done_total++;
				if (c->counted)
					record(now_ns() - c->due);
			} else {
				errors++;
			}
			c->busy = 0;
			c->len = 0;
		}
	}

	{
		int64_t sum = 0;
		size_t j;
#define PCT(p) (nlat ? (double)lat[(size_t)((double)(nlat - 1) * (p))] / 1000.0 : 0.0)
		qsort(lat, nlat, sizeof(*lat), cmp64);
		for (j = 0; j < nlat; j++)
			sum += lat[j];
		printf("{\"requests\": %zu, \"errors\": %ld, \"rate\": %.1f, "
		    "\"mean_us\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, "
		    "\"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f}\n",
		    nlat, errors, (double)nlat / dur,
		    nlat ? (double)sum / (double)nlat / 1000.0 : 0.0,
		    PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999), PCT(1.0));
	}
	return errors > 0 ? 1 : 0;
}
