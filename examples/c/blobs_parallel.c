/*
 * blobs_parallel.c - many blob transfers at once with the libcurl multi
 * interface, against stratusd.
 *
 * It uploads COUNT blobs (default 50) of different sizes and contents
 * to STORE under a prefix, all in flight together on one thread, then
 * downloads them all at once and checks every byte, then deletes them.
 * Each transfer is one easy handle; the multi handle drives them all,
 * with at most MAX_CONNECTIONS connections kept alive and reused.
 *
 *   cc -o blobs_parallel blobs_parallel.c $(pkg-config --cflags --libs libcurl)
 *   STRATUS_URL=http://127.0.0.1:8980 ./blobs_parallel [STORE [COUNT]]
 *
 * STRATUS_TOKEN, when set, is sent as "Authorization: Bearer TOKEN".
 */
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX		"parallel"
#define MAX_CONNECTIONS	16

/* One blob and the state of the transfer now running for it. */
struct blob {
	char	 url[512];
	char	*data;		/* what we upload, and expect back */
	size_t	 size;
	size_t	 sent;		/* upload: bytes handed to curl so far */
	char	*got;		/* download: bytes received so far */
	size_t	 got_len;
	long	 status;	/* HTTP status of the last transfer */
};

/* The bytes of blob i: a size from 1 KiB to about 100 KiB, and contents
 * that differ from blob to blob, so that a mix-up would show. */
static void
make_contents(struct blob *b, int i)
{
	unsigned int x = 2166136261u ^ (unsigned int)i;
	size_t n;

	b->size = 1024 + (size_t)i * 2011 % (100 * 1024);
	b->data = malloc(b->size);
	if (b->data == NULL) {
		perror("malloc");
		exit(1);
	}
	for (n = 0; n < b->size; n++) {
		x = x * 1103515245u + 12345u;	/* a plain LCG is enough */
		b->data[n] = (char)(x >> 16);
	}
}

/* curl asks for the next piece of an upload body. */
static size_t
read_body(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct blob *b = arg;
	size_t n = b->size - b->sent;

	if (n > size * nmemb)
		n = size * nmemb;
	memcpy(buf, b->data + b->sent, n);
	b->sent += n;
	return n;
}

/* curl hands over a piece of a download body (or of an error's JSON). */
static size_t
write_body(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct blob *b = arg;
	size_t n = size * nmemb;
	char *p = realloc(b->got, b->got_len + n);

	if (p == NULL)
		return 0;	/* makes curl fail the transfer */
	memcpy(p + b->got_len, buf, n);
	b->got = p;
	b->got_len += n;
	return n;
}

/*
 * Runs one kind of request ("PUT", "GET" or "DELETE") for every blob at
 * once, and waits until all are done. Returns how many failed.
 */
static int
run_all(CURLM *multi, struct blob *blobs, int count, const char *method,
    struct curl_slist *headers)
{
	int i, running, failed = 0;
	CURLMsg *msg;
	int left;

	for (i = 0; i < count; i++) {
		struct blob *b = &blobs[i];
		CURL *easy = curl_easy_init();

		b->sent = 0;
		b->got_len = 0;
		b->status = 0;
		curl_easy_setopt(easy, CURLOPT_URL, b->url);
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, b);
		curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_body);
		curl_easy_setopt(easy, CURLOPT_WRITEDATA, b);
		if (strcmp(method, "PUT") == 0) {
			/* An upload with a known size: curl sends
			 * Content-Length and reads the body from us. */
			curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_body);
			curl_easy_setopt(easy, CURLOPT_READDATA, b);
			curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE,
			    (curl_off_t)b->size);
		} else if (strcmp(method, "DELETE") == 0)
			curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
		curl_multi_add_handle(multi, easy);
	}

	/* The event loop: let curl do what it can, then sleep until one of
	 * its sockets is ready (or a timeout curl needs), and again. */
	do {
		if (curl_multi_perform(multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(multi, NULL, 0, 1000, NULL);

		/* Collect the transfers that have finished. */
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			struct blob *b;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&b);
			curl_easy_getinfo(msg->easy_handle,
			    CURLINFO_RESPONSE_CODE, &b->status);
			if (msg->data.result != CURLE_OK) {
				fprintf(stderr, "%s %s: %s\n", method, b->url,
				    curl_easy_strerror(msg->data.result));
				failed++;
			} else if (b->status >= 300) {
				/* The daemon's error is JSON with a code,
				 * a message and a request id. */
				fprintf(stderr, "%s %s: %ld %.*s\n", method,
				    b->url, b->status, (int)b->got_len,
				    b->got);
				failed++;
			}
			curl_multi_remove_handle(multi, msg->easy_handle);
			curl_easy_cleanup(msg->easy_handle);
		}
	} while (running);
	return failed;
}

int
main(int argc, char **argv)
{
	const char *base = getenv("STRATUS_URL");
	const char *token = getenv("STRATUS_TOKEN");
	const char *store = argc > 1 ? argv[1] : "scratch";
	int count = argc > 2 ? atoi(argv[2]) : 50;
	struct curl_slist *headers = NULL;
	struct blob *blobs;
	size_t total = 0;
	int i, failed, same = 0;
	CURLM *multi;

	if (base == NULL)
		base = "http://127.0.0.1:8980";
	if (count < 1 || count > 10000) {
		fprintf(stderr, "usage: blobs_parallel [STORE [COUNT]]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (token != NULL && token[0] != '\0') {
		char auth[512];

		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, auth);
	}
	/* Without this, curl waits a second for "100 Continue" before
	 * sending bodies over 1 MiB; the daemon needs no such pause. */
	headers = curl_slist_append(headers, "Expect:");

	blobs = calloc((size_t)count, sizeof(*blobs));
	if (blobs == NULL) {
		perror("calloc");
		return 1;
	}
	for (i = 0; i < count; i++) {
		snprintf(blobs[i].url, sizeof(blobs[i].url),
		    "%s/v1/blobs/%s/%s/blob-%03d.bin", base, store, PREFIX, i);
		make_contents(&blobs[i], i);
		total += blobs[i].size;
	}

	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)MAX_CONNECTIONS);

	failed = run_all(multi, blobs, count, "PUT", headers);
	printf("uploaded %d blobs (%zu bytes) to %s/%s/, at most %d at a "
	    "time: %d failed\n", count, total, store, PREFIX, MAX_CONNECTIONS,
	    failed);
	if (failed == 0) {
		failed = run_all(multi, blobs, count, "GET", headers);
		for (i = 0; i < count; i++)
			if (blobs[i].status == 200 &&
			    blobs[i].got_len == blobs[i].size &&
			    memcmp(blobs[i].got, blobs[i].data,
			    blobs[i].size) == 0)
				same++;
		printf("downloaded %d blobs: %d failed, %d identical to what "
		    "was uploaded\n", count, failed, same);
		if (same != count)
			failed++;
	}
	if (failed == 0) {
		failed = run_all(multi, blobs, count, "DELETE", headers);
		printf("deleted %d blobs: %d failed\n", count, failed);
	}

	curl_multi_cleanup(multi);
	curl_slist_free_all(headers);
	for (i = 0; i < count; i++) {
		free(blobs[i].data);
		free(blobs[i].got);
	}
	free(blobs);
	curl_global_cleanup();
	return failed == 0 ? 0 : 1;
}
