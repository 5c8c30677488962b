/*
 * fetch.h - what every credential source needs to ask a service for
 * credentials: one blocking HTTP exchange, a form, an environment
 * variable, a small file, and the wiping of what held a secret.
 *
 * Sources run on the credentials refresher thread (core/creds.h), where
 * blocking is the design: a fetch has short timeouts (3 s to connect,
 * 10 s in all), follows no redirect, speaks http and https only, keeps at
 * most 64 KiB of an answer, honours the source's connection settings
 * (CA, proxy; core/conn.h) and its plain-http rule, and gives up at once
 * when the daemon stops. Reasons never hold a secret: they name the
 * service (`what`) and say what went wrong.
 */
#ifndef STRATUS_CORE_FETCH_H
#define STRATUS_CORE_FETCH_H

#include <stddef.h>

#include "core/buf.h"
#include "core/conn.h"

/*
 * One exchange: method ("GET", "PUT", "POST"), the URL, headers as
 * "Name: value" lines (NULL-ended, or NULL), a body or NULL (a PUT with
 * none sends an empty one). direct: never through a proxy (metadata
 * endpoints are on the host). Returns the HTTP status with the answer in
 * out, or 0 with a reason in why.
 */
long  st_fetch_http(const struct st_conn *, const char *what,
                    const char *method, const char *url,
                    const char *const *headers, const char *body, int direct,
                    struct st_buf *out, char *why, size_t whylen);

/* Appends name=value to a form or query (an '&' first unless b is empty
 * or ends in '?' or '&'), the value percent-encoded (RFC 3986). */
void  st_fetch_form_add(struct st_buf *, const char *name, const char *value);

/* The variable's value, or NULL when it is unset or empty. */
const char *st_fetch_env(const char *name);

/* A small file holding one line (a token), without its trailing newline
 * or blanks; malloc'ed (st_fetch_secret_free it). NULL with a reason
 * naming it as what ("federated token file"). */
char *st_fetch_read_line(const char *path, const char *what, char *why,
                         size_t whylen);

/* Wipe, then free. */
void  st_fetch_secret_free(char *);
void  st_fetch_buf_free(struct st_buf *);

#endif
