/*
 * fuzz_answers.c - what providers answer, as the daemon reads it: error
 * codes in XML (S3, Azure Blob and Queue), in AWS JSON (SQS, DynamoDB)
 * and in OData JSON (Azure Table), times in headers and listings, and
 * the streaming XML reader under them all, fed in two pieces.
 */
#include <stdio.h>

#include "core/answer.h"
#include "core/pcall.h"
#include "core/xml.h"
#include "fuzz.h"

static int
count_end(const char *path, const char *text, size_t len, void *arg)
{
	size_t *n = arg;

	(void)path;
	(void)text;
	*n += len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char code[64];
	char *copy;
	struct st_xml *x;
	size_t n = 0;

	st_pcall_code_xml(p, size, code, sizeof(code));
	st_pcall_code_json_type(p, size, code, sizeof(code));
	st_pcall_code_odata(p, size, code, sizeof(code));
	if ((x = st_xml_new(count_end, &n)) != NULL) {
		if (st_xml_feed(x, p, size / 2) == 0 &&
		    st_xml_feed(x, p + size / 2, size - size / 2) == 0)
			st_xml_finish(x);
		st_xml_free(x);
	}
	if ((copy = malloc(size + 1)) != NULL) {
		memcpy(copy, data, size);
		copy[size] = '\0';
		st_answer_time(copy);
		free(copy);
	}
	return 0;
}
