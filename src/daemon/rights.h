/*
 * rights.h - the rights a client may have on a store, by kind, and how an
 * allow rule "KIND:STORE:RIGHTS" spells them (the bits are in config.h).
 */
#ifndef STRATUS_DAEMON_RIGHTS_H
#define STRATUS_DAEMON_RIGHTS_H

#include <stddef.h>

/* Every right a store of kind (ST_KIND_*) has. */
unsigned st_rights_of_kind(unsigned kind);

/* A comma-separated RIGHTS list for a rule on kinds (ST_KIND_* set) into
 * bits: 0, or -1 naming in bad (if not NULL) the first word that no kind
 * of the rule has. */
int st_parse_rights(unsigned kinds, const char *list, unsigned *rights,
                    const char **bad);

/* The names of the rights in bits for kind, in the documented order:
 * the count written to names (at most cap). */
size_t st_rights_names(unsigned kind, unsigned bits, const char **names,
                       size_t cap);
/* The name of one right of kind, for messages. */
const char *st_right_name(unsigned kind, unsigned right);

#endif
