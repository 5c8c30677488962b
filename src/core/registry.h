/*
 * registry.h - the table of backends, by provider name.
 */
#ifndef STRATUS_CORE_REGISTRY_H
#define STRATUS_CORE_REGISTRY_H

#include <stratus/backend.h>

/* Loads every shared-object backend found in dir (may be NULL); built-in
 * backends are always there. Call once at start. Returns 0, or -1 with a
 * reason in err when a file there is not a valid backend. */
int st_registry_load(const char *dir, char *err, size_t errlen);
const struct st_backend *st_registry_find(const char *provider);
/* 0 when b has the mandatory operations of each kind it declares; else
 * -1 with the first one missing in err. */
int st_registry_check(const struct st_backend *b, char *err, size_t errlen);
/* Comma-separated names of the known providers, for error messages. */
const char *st_registry_names(void);
void st_registry_unload(void);

extern const struct st_backend st_backend_local;

#endif
