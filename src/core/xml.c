/*
 * xml.c - the expat wrapper behind st_xml.
 *
 * The parser keeps the current path and the current element's text in two
 * bounded buffers. Text beyond 64 KiB in one element, or a path deeper than
 * 1 KiB, is refused: no provider answer we read needs either, and a hostile
 * or broken endpoint must not make us grow without bound. Entities other
 * than the predefined ones are refused too (no DTD processing).
 */
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "core/buf.h"
#include "core/xml.h"

#define TEXT_MAX (96 * 1024)	/* a queue message: 64 KiB of base64 */
#define PATH_MAX_LEN 1024

struct st_xml {
	XML_Parser	 parser;
	st_xml_end_fn	 fn;
	void		*arg;
	char		 path[PATH_MAX_LEN];
	size_t		 pathlen;
	struct st_buf	 text;
	int		 failed;
};

static const char *
local_name(const char *name)
{
	const char *sep = strrchr(name, '|');	/* namespace separator */

	return sep ? sep + 1 : name;
}

static void XMLCALL
on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
	struct st_xml *x = data;
	const char *n = local_name(name);
	size_t len = strlen(n);

	(void)attrs;
	if (x->failed)
		return;
	if (x->pathlen + len + 2 > sizeof(x->path)) {
		x->failed = 1;
		XML_StopParser(x->parser, XML_FALSE);
		return;
	}
	if (x->pathlen > 0)
		x->path[x->pathlen++] = '/';
	memcpy(x->path + x->pathlen, n, len + 1);
	x->pathlen += len;
	st_buf_reset(&x->text);
}

static void XMLCALL
on_end(void *data, const XML_Char *name)
{
	struct st_xml *x = data;
	char *slash;

	(void)name;
	if (x->failed)
		return;
	if (x->fn(x->path, x->text.data ? x->text.data : "", x->text.len,
	    x->arg) == -1) {
		x->failed = 1;
		XML_StopParser(x->parser, XML_FALSE);
		return;
	}
	st_buf_reset(&x->text);
	slash = strrchr(x->path, '/');
	x->pathlen = slash ? (size_t)(slash - x->path) : 0;
	x->path[x->pathlen] = '\0';
}

static void XMLCALL
on_text(void *data, const XML_Char *s, int len)
{
	struct st_xml *x = data;

	if (x->failed)
		return;
	if (x->text.len + (size_t)len > TEXT_MAX || st_buf_add(&x->text, s,
	    (size_t)len) == -1) {
		x->failed = 1;
		XML_StopParser(x->parser, XML_FALSE);
	}
}

static void XMLCALL
on_entity_decl(void *data, const XML_Char *name, int is_param,
               const XML_Char *value, int value_length, const XML_Char *base,
               const XML_Char *system_id, const XML_Char *public_id,
               const XML_Char *notation)
{
	struct st_xml *x = data;

	(void)name; (void)is_param; (void)value; (void)value_length;
	(void)base; (void)system_id; (void)public_id; (void)notation;
	x->failed = 1;
	XML_StopParser(x->parser, XML_FALSE);
}

struct st_xml *
st_xml_new(st_xml_end_fn fn, void *arg)
{
	struct st_xml *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	if ((x->parser = XML_ParserCreateNS("UTF-8", '|')) == NULL) {
		free(x);
		return NULL;
	}
	x->fn = fn;
	x->arg = arg;
	XML_SetUserData(x->parser, x);
	XML_SetElementHandler(x->parser, on_start, on_end);
	XML_SetCharacterDataHandler(x->parser, on_text);
	XML_SetEntityDeclHandler(x->parser, on_entity_decl);
	return x;
}

int
st_xml_feed(struct st_xml *x, const char *p, size_t n)
{
	if (x->failed)
		return -1;
	if (XML_Parse(x->parser, p, (int)n, XML_FALSE) != XML_STATUS_OK)
		x->failed = 1;
	return x->failed ? -1 : 0;
}

int
st_xml_finish(struct st_xml *x)
{
	if (x->failed)
		return -1;
	if (XML_Parse(x->parser, "", 0, XML_TRUE) != XML_STATUS_OK)
		x->failed = 1;
	return x->failed ? -1 : 0;
}

void
st_xml_free(struct st_xml *x)
{
	if (x == NULL)
		return;
	XML_ParserFree(x->parser);
	st_buf_free(&x->text);
	free(x);
}

int
st_xml_parse(st_xml_end_fn fn, void *arg, const char *p, size_t n)
{
	struct st_xml *x = st_xml_new(fn, arg);
	int rc;

	if (x == NULL)
		return -1;
	rc = st_xml_feed(x, p, n) == -1 ? -1 : st_xml_finish(x);
	st_xml_free(x);
	return rc;
}

int
st_xml_escape(struct st_buf *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&': st_buf_adds(out, "&amp;"); break;
		case '<': st_buf_adds(out, "&lt;"); break;
		case '>': st_buf_adds(out, "&gt;"); break;
		case '"': st_buf_adds(out, "&quot;"); break;
		case '\'': st_buf_adds(out, "&apos;"); break;
		default: st_buf_add(out, &s[i], 1); break;
		}
	}
	return out->failed ? -1 : 0;
}

const char *
st_xml_under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (strncmp(path, root, n) != 0 || path[n] != '/')
		return NULL;
	return path + n + 1;
}
