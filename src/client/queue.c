/*
 * queue.c - the queue commands: create, send, recv, ack.
 *
 *   stratus queue create QUEUE
 *   stratus queue send [-d SECONDS] QUEUE [MESSAGE|-]   (stdin by default)
 *   stratus queue recv [-n MAX] [-v SECONDS] [-w SECONDS] QUEUE
 *   stratus queue ack QUEUE RECEIPT...
 *
 * Each is one request (ack: one per receipt). A message is small (48 KiB
 * at most), so it is read whole before it is sent; the daemon judges the
 * limits and the text, the client only stops what cannot be a message.
 * recv prints each message as a header line (receipt, id, delivery count,
 * time) and its body; with --json, one JSON object per message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"

#define MESSAGE_MAX (48 * 1024)

static int
queue_path(char *out, size_t cap, const char *queue, const char *rest)
{
	snprintf(out, cap, "/v1/queues/");
	if (url_encode(out, cap, queue, 0) < 0 ||
	    str_append(out, cap, rest) < 0) {
		fprintf(stderr, "stratus: the queue name is too long\n");
		return -1;
	}
	return 0;
}

static int
queue_create(int argc, char **argv)
{
	char path[512];
	struct req q = { "PUT", path, { NULL }, NULL, -1, NULL };
	struct resp r;
	int i = parse_options(argc, argv, "", NULL, NULL), rc;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 1) {
		usage_error("queue create takes one QUEUE");
		return EXIT_USAGE;
	}
	if (queue_path(path, sizeof(path), argv[i], "") < 0)
		return EXIT_USAGE;
	rc = http_do(&q, &r, 0);
	if (rc == EXIT_OK) {
		if (cli.json) {
			void *g = jgen_new();
			jstr(g, "queue", argv[i]);
			jstr(g, "created", r.status == 201 ? "yes" : "existed");
			json_print_gen(g);
		} else {
			printf("queue %s %s\n", argv[i], r.status == 201 ?
			    "created" : "already exists");
		}
	}
	resp_free(&r);
	return rc;
}

static long send_delay;

static int
opt_send(int c, const char *arg)
{
	return c == 'd' ? parse_seconds(arg, 0, 900, &send_delay) : -1;
}

static int
queue_send(int argc, char **argv)
{
	static const struct option own[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 }
	};
	char path[512], rest[64];
	struct req q = { "POST", path, { "Content-Type: text/plain; "
	    "charset=utf-8" }, NULL, -1, NULL };
	struct body b = { NULL, 0, -1, -1 };
	struct resp r;
	char *text = NULL;
	int i = parse_options(argc, argv, "d:", own, opt_send), rc;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i < 1 || argc - i > 2) {
		usage_error("queue send takes QUEUE and a MESSAGE (or '-' or "
		    "none for standard input)");
		return EXIT_USAGE;
	}
	snprintf(rest, sizeof(rest), "/messages?delay=%ld", send_delay);
	if (queue_path(path, sizeof(path), argv[i], rest) < 0)
		return EXIT_USAGE;
	if (argc - i == 2 && strcmp(argv[i + 1], "-") != 0) {
		b.data = argv[i + 1];
		b.data_len = strlen(argv[i + 1]);
	} else {
		/* One byte over the limit, so that the daemon says 413. */
		text = read_small(STDIN_FILENO, MESSAGE_MAX + 1, &b.data_len,
		    "the message");
		if (text == NULL)
			return interrupted ? EXIT_INTERRUPTED : EXIT_USAGE;
		b.data = text;
	}
	q.body = &b;
	rc = http_do(&q, &r, 0);
	free(text);
	if (rc == EXIT_OK) {
		yajl_val v = json_answer(&r);
		if (v == NULL)
			rc = EXIT_OTHER;
		else if (cli.json)
			json_print(v);
		else
			printf("%s\n", json_str(v, "id") ? json_str(v, "id") : "");
		yajl_tree_free(v);
	}
	resp_free(&r);
	return rc;
}

static long recv_max = 1, recv_visibility = 30, recv_wait;

static int
opt_recv(int c, const char *arg)
{
	switch (c) {
	case 'n':
		return parse_seconds(arg, 1, 32, &recv_max);
	case 'v':
		return parse_seconds(arg, 1, 43200, &recv_visibility);
	case 'w':
		return parse_seconds(arg, 0, 20, &recv_wait);
	}
	return -1;
}

static int
queue_recv(int argc, char **argv)
{
	static const struct option own[] = {
		{ "max", required_argument, NULL, 'n' },
		{ "visibility", required_argument, NULL, 'v' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	char path[512], rest[128];
	struct req q = { "GET", path, { NULL }, NULL, -1, NULL };
	yajl_val v, msgs;
	size_t k;
	int i = parse_options(argc, argv, "n:v:w:", own, opt_recv), rc;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 1) {
		usage_error("queue recv takes one QUEUE");
		return EXIT_USAGE;
	}
	snprintf(rest, sizeof(rest), "/messages?max=%ld&visibility=%ld&wait=%ld",
	    recv_max, recv_visibility, recv_wait);
	if (queue_path(path, sizeof(path), argv[i], rest) < 0)
		return EXIT_USAGE;
	if ((rc = http_json(&q, &v)) != EXIT_OK)
		return rc;
	msgs = json_get(v, "messages", yajl_t_array);
	for (k = 0; msgs && k < msgs->u.array.len; k++) {
		yajl_val m = msgs->u.array.values[k];
		const char *body = json_str(m, "body");
		if (cli.json) {
			json_print(m);
			continue;
		}
		printf("%sreceipt %s  id %s  delivery %lld  enqueued %s\n%s\n",
		    k ? "\n" : "", json_str(m, "receipt") ?
		    json_str(m, "receipt") : "-", json_str(m, "id") ?
		    json_str(m, "id") : "-", json_int(m, "dequeue_count", 0),
		    json_str(m, "enqueued_at") ? json_str(m, "enqueued_at") :
		    "-", body ? body : "");
	}
	yajl_tree_free(v);
	return EXIT_OK;
}

static int
queue_ack(int argc, char **argv)
{
	int i = parse_options(argc, argv, "", NULL, NULL), rc = EXIT_OK;
	char path[4096];

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i < 2) {
		usage_error("queue ack takes QUEUE and one or more RECEIPTs");
		return EXIT_USAGE;
	}
	for (int k = i + 1; k < argc && rc == EXIT_OK; k++) {
		struct req q = { "DELETE", path, { NULL }, NULL, -1, NULL };
		struct resp r;

		if (argv[k][0] == '\0') {
			usage_error("queue ack: an empty receipt");
			return EXIT_USAGE;
		}
		if (queue_path(path, sizeof(path), argv[i], "/messages/") < 0 ||
		    url_encode(path, sizeof(path), argv[k], 0) < 0) {
			usage_error("queue ack: the receipt is too long");
			return EXIT_USAGE;
		}
		rc = http_do(&q, &r, 0);
		resp_free(&r);
		if (rc == EXIT_OK && cli.json) {
			void *g = jgen_new();
			jstr(g, "queue", argv[i]);
			jstr(g, "receipt", argv[k]);
			jstr(g, "acknowledged", "ok");
			json_print_gen(g);
		}
	}
	return rc;
}

int
cmd_queue(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} sub[] = {
		{ "create", queue_create }, { "send", queue_send },
		{ "recv", queue_recv }, { "receive", queue_recv },
		{ "ack", queue_ack },
	};
	size_t i;

	if (argc < 2) {
		usage_error("queue needs create, send, recv or ack");
		return EXIT_USAGE;
	}
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		if (strcmp(argv[1], sub[i].name) == 0)
			return sub[i].fn(argc - 1, argv + 1);
	usage_error("no queue command '%s'", argv[1]);
	return EXIT_USAGE;
}
