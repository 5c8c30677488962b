/*
 * queue_worker.c - a queue worker loop against stratusd: receive,
 * process, acknowledge.
 *
 * Each round asks for up to 10 messages with a long poll (the request
 * waits up to WAIT seconds for one to arrive) and hides the ones it gets
 * for 60 seconds from other workers. A message is acknowledged (deleted
 * with its receipt) only after it has been processed: if the worker dies
 * first, the message comes back when its 60 seconds are up, to this
 * worker or another one. Delivery is at least once, so processing a
 * message twice must be harmless.
 *
 * A real worker polls forever; this one stops when a poll comes back
 * empty, so that it can be run as a demonstration.
 *
 *   cc -o queue_worker queue_worker.c \
 *       $(pkg-config --cflags --libs libcurl yajl)
 *   STRATUS_URL=http://127.0.0.1:8980 ./queue_worker [QUEUE [WAIT]]
 *
 * STRATUS_TOKEN, when set, is sent as "Authorization: Bearer TOKEN".
 */
#include <curl/curl.h>
#include <yajl/yajl_tree.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	char	*data;
	size_t	 len;
};

static size_t
append(char *p, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	char *q = realloc(b->data, b->len + n + 1);

	if (q == NULL)
		return 0;
	memcpy(q + b->len, p, n);
	b->data = q;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/*
 * One request on the worker's connection (curl keeps it alive between
 * calls). The answer's body lands in *out; returns the HTTP status, or
 * -1 when there was no answer at all.
 */
static long
request(CURL *curl, const char *method, const char *url,
    struct curl_slist *headers, struct buf *out)
{
	long status = -1;
	CURLcode rc;

	out->len = 0;
	if (out->data != NULL)
		out->data[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	/* Longer than the longest long poll (20 s). */
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		fprintf(stderr, "%s %s: %s\n", method, url,
		    curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* The work itself: here, the job's text in capitals. A real worker
 * would resize the photo, send the mail, ... and return 0 on success. */
static int
process(const char *body, char *result, size_t size)
{
	size_t i;

	for (i = 0; body[i] != '\0' && i + 1 < size; i++)
		result[i] = (char)toupper((unsigned char)body[i]);
	result[i] = '\0';
	return 0;
}

static const char *
string_at(yajl_val obj, const char *name)
{
	const char *path[] = { name, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_string);

	return v != NULL ? YAJL_GET_STRING(v) : NULL;
}

int
main(int argc, char **argv)
{
	const char *base = getenv("STRATUS_URL");
	const char *token = getenv("STRATUS_TOKEN");
	const char *queue = argc > 1 ? argv[1] : "jobs";
	int wait = argc > 2 ? atoi(argv[2]) : 5;
	const char *messages_path[] = { "messages", NULL };
	struct curl_slist *headers = NULL;
	struct buf answer = { NULL, 0 };
	char url[1024], err[256], result[256];
	int done = 0, failed = 0;
	CURL *curl;

	if (base == NULL)
		base = "http://127.0.0.1:8980";
	if (wait < 0 || wait > 20) {
		fprintf(stderr, "usage: queue_worker [QUEUE [WAIT 0-20]]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	if (token != NULL && token[0] != '\0') {
		char auth[512];

		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, auth);
	}

	for (;;) {
		yajl_val root, list;
		size_t i, n;
		long status;

		/* Receive: up to 10 messages, hidden for 60 s, waiting up
		 * to WAIT s for the first one. */
		snprintf(url, sizeof(url),
		    "%s/v1/queues/%s/messages?max=10&visibility=60&wait=%d",
		    base, queue, wait);
		status = request(curl, "GET", url, headers, &answer);
		if (status != 200) {
			fprintf(stderr, "receive: %ld %s\n", status,
			    answer.data ? answer.data : "");
			failed = 1;
			break;
		}
		root = yajl_tree_parse(answer.data, err, sizeof(err));
		list = yajl_tree_get(root, messages_path, yajl_t_array);
		if (list == NULL) {
			fprintf(stderr, "receive: unexpected answer: %s\n",
			    answer.data);
			yajl_tree_free(root);
			failed = 1;
			break;
		}
		n = YAJL_GET_ARRAY(list)->len;
		if (n == 0) {
			yajl_tree_free(root);
			printf("no message for %d s: %d done, stopping\n",
			    wait, done);
			break;
		}

		for (i = 0; i < n; i++) {
			yajl_val m = YAJL_GET_ARRAY(list)->values[i];
			const char *body = string_at(m, "body");
			const char *receipt = string_at(m, "receipt");
			const char *path[] = { "dequeue_count", NULL };
			yajl_val count = yajl_tree_get(m, path,
			    yajl_t_number);

			if (body == NULL || receipt == NULL)
				continue;
			if (process(body, result, sizeof(result)) != 0)
				continue;	/* not acked: it comes back */

			/* Acknowledge: the receipt is URL-safe as it is. */
			snprintf(url, sizeof(url),
			    "%s/v1/queues/%s/messages/%s", base, queue,
			    receipt);
			status = request(curl, "DELETE", url, headers,
			    &answer);
			if (status == 204) {
				done++;
				printf("done: %s -> %s (delivery %lld)\n",
				    body, result,
				    count && YAJL_IS_INTEGER(count) ?
				    YAJL_GET_INTEGER(count) : 0LL);
			} else {
				/* 412: it was received again meanwhile (our
				 * 60 s ran out); 404: it is gone. Either way
				 * someone else has it now. */
				fprintf(stderr, "ack %s: %ld %s\n", body,
				    status, answer.data ? answer.data : "");
			}
		}
		yajl_tree_free(root);
	}

	free(answer.data);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	return failed;
}
