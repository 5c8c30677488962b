/*
 * xml.h - streaming XML for provider answers (listings, errors, uploads).
 *
 * Provider XML is flat and shallow, so a parse is a walk of element paths:
 * the callback gets "ListBucketResult/Contents/Key" and that element's
 * text when the element ends. Bytes are fed as they arrive; no tree is
 * built, so a listing of a thousand keys costs one key's worth of memory.
 */
#ifndef STRATUS_CORE_XML_H
#define STRATUS_CORE_XML_H

#include <stddef.h>

struct st_xml;

/* Called when an element ends: its path from the root (names joined by
 * '/', namespaces dropped) and its text (NUL-terminated). Return 0 to go
 * on, -1 to stop the parse with an error. */
typedef int (*st_xml_end_fn)(const char *path, const char *text, size_t len,
                             void *arg);

struct st_xml *st_xml_new(st_xml_end_fn, void *arg);
/* 0, or -1 when the XML is malformed or the callback stopped it. */
int  st_xml_feed(struct st_xml *, const char *, size_t);
int  st_xml_finish(struct st_xml *);
void st_xml_free(struct st_xml *);
/* A whole document held in memory (an error answer), in one go: 0, or -1
 * when it is malformed, the callback stopped it or memory ran out. */
int  st_xml_parse(st_xml_end_fn, void *arg, const char *, size_t);
/* An end's path below the element root ("a/b/c" below "a": "b/c"), or
 * NULL when it is not below it. */
const char *st_xml_under(const char *path, const char *root);

/* Escapes text for an XML element body into out (returns -1 on overflow). */
struct st_buf;
int st_xml_escape(struct st_buf *out, const char *text, size_t len);

#endif
