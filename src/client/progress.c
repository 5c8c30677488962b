/*
 * progress.c - the progress bar of large transfers, on a terminal only.
 *
 * One line on stderr, redrawn in place with a carriage return at most ten
 * times a second:
 *
 *   big.iso  [=======>        ]  47%  240.0/512.0 MiB  85.3 MiB/s  00:03 left
 *
 * and, when the transfer is done, a final line that stays:
 *
 *   big.iso  [================] 100%  512.0 MiB  81.9 MiB/s  in 00:06
 *
 * Of a body of unknown length (a pipe) only the bytes and the rate are
 * shown. There is no bar when stderr is not a terminal (scripts, logs, CI),
 * with -q, or for transfers under PROGRESS_MIN bytes (of a body of unknown
 * length: until PROGRESS_MIN bytes or a second have gone by). The rate is the mean
 * since the start: steady and honest for the transfers a bar is for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"

#define PROGRESS_MIN (1LL << 20)
#define REDRAW_NS 100000000LL

struct progress {
	char label[64];
	long long total;	/* -1: unknown */
	long long done;
	long long start_ns, last_ns;
	int width;		/* the terminal's columns */
	int drawn;
};

static long long
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct progress *
progress_new(const char *label, long long total)
{
	struct progress *p;
	struct winsize ws;
	const char *slash;

	if (cli.quiet || !isatty(STDERR_FILENO))
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	slash = strrchr(label, '/');
	if (slash && slash[1])
		label = slash + 1;
	snprintf(p->label, sizeof(p->label), "%s", label);
	if (strlen(label) >= sizeof(p->label))
		memcpy(p->label + sizeof(p->label) - 4, "...", 4);
	p->total = total;
	p->start_ns = now_ns();
	p->width = 80;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		p->width = ws.ws_col;
	return p;
}

/* "512.0 MiB", "980 B" */
static void
human(char *out, size_t n, double bytes)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = 0;

	while (bytes >= 1024 && u < 5) {
		bytes /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%.0f B", bytes);
	else
		snprintf(out, n, "%.1f %s", bytes, unit[u]);
}

static void
clock_text(char *out, size_t n, long long s)
{
	if (s >= 3600)
		snprintf(out, n, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60,
		    s % 60);
	else
		snprintf(out, n, "%02lld:%02lld", s / 60, s % 60);
}

static void
draw(struct progress *p, int final)
{
	char tail[256], done[32], total[32], rate[32], t[32];
	double secs = (double)(now_ns() - p->start_ns) / 1e9;
	double bps = secs > 0.001 ? (double)p->done / secs : 0;
	int n, room;

	human(done, sizeof(done), (double)p->done);
	human(rate, sizeof(rate), bps);
	if (p->total > 0) {
		int pct = (int)(p->done * 100 / p->total);
		int cells = 16, fill = (int)(p->done * cells / p->total), i;
		char bar[32];

		for (i = 0; i < cells; i++)
			bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
		bar[cells] = '\0';
		human(total, sizeof(total), (double)p->total);
		if (final) {
			clock_text(t, sizeof(t), (long long)(secs + 0.5));
			n = snprintf(tail, sizeof(tail), "[%s] %3d%%  %s  %s/s  "
			    "in %s", bar, pct, total, rate, t);
		} else {
			if (bps > 0)
				clock_text(t, sizeof(t), (long long)(
				    (double)(p->total - p->done) / bps + 0.5));
			else
				snprintf(t, sizeof(t), "--:--");
			/* "227.9/300.0 MiB": one unit when both share it. */
			const char *du = strchr(done, ' '), *tu = strchr(total, ' ');
			int one = du && tu && strcmp(du, tu) == 0;
			n = snprintf(tail, sizeof(tail), "[%s] %3d%%  %.*s/%s  "
			    "%s/s  %s left", bar, pct, one ? (int)(du - done) :
			    (int)strlen(done), done, total, rate, t);
		}
	} else {
		clock_text(t, sizeof(t), (long long)(secs + 0.5));
		n = snprintf(tail, sizeof(tail), "%s  %s/s  %s%s", done, rate,
		    final ? "in " : "", t);
	}
	if (n < 0)
		return;
	/* One line that never wraps (a wrapped line cannot be redrawn): the
	 * label gives way first, then the end of the figures. */
	room = p->width - 1 - n - 2;
	if (room < 4) {
		if (n > p->width - 1)
			tail[p->width - 1] = '\0';
		fprintf(stderr, "\r%-*s%s", p->width - 1, tail,
		    final ? "\n" : "");
	} else if ((int)strlen(p->label) <= room) {
		fprintf(stderr, "\r%s  %-*s%s", p->label,
		    p->width - 3 - (int)strlen(p->label), tail,
		    final ? "\n" : "");
	} else {
		/* Pads over what a longer previous line left. */
		fprintf(stderr, "\r%.*s...  %-*s%s", room - 3, p->label, n,
		    tail, final ? "\n" : "");
	}
	fflush(stderr);
	p->drawn = 1;
}

/* Large enough to be worth a bar? */
static int
worth_it(const struct progress *p, long long t)
{
	if (p->total >= 0)
		return p->total >= PROGRESS_MIN;
	return p->done >= PROGRESS_MIN ||
	    (p->done > 0 && t - p->start_ns >= 1000000000LL);
}

void
progress_update(struct progress *p, long long done, long long total)
{
	long long t;

	if (p == NULL)
		return;
	p->done = done;
	if (total >= 0 && p->total < 0)
		p->total = total;
	t = now_ns();
	if (!p->drawn && !worth_it(p, t))
		return;
	if (p->drawn && t - p->last_ns < REDRAW_NS)
		return;
	p->last_ns = t;
	draw(p, 0);
}

void
progress_end(struct progress *p, int ok)
{
	if (p == NULL)
		return;
	if (ok && (p->drawn || worth_it(p, now_ns()))) {
		if (p->total >= 0)
			p->done = p->total;
		draw(p, 1);
	} else if (p->drawn) {
		/* Keep how far it got in sight, above the error message. */
		fputc('\n', stderr);
	}
	free(p);
}
