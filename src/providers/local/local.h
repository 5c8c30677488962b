/*
 * local.h - the local provider's three services, built into the daemon.
 *
 * One backend, "local", serves every kind: blob stores (blob.c, files
 * plus SQLite), queues (queue.c) and tables (table.c), each
 * a SQLite database in WAL mode in the store's own directory. The
 * backend's store_open hands each kind to its service; every store handle
 * begins with its kind so that store_close can do the same.
 */
#ifndef STRATUS_PROVIDERS_LOCAL_H
#define STRATUS_PROVIDERS_LOCAL_H

#include <stddef.h>
#include <sys/types.h>

#include <libconfig.h>

#include <stratus/backend.h>

/* The first member of every local store handle. */
struct local_kind {
	unsigned kind;		/* ST_KIND_* */
};

/* mkdir -p: path and its missing parents; -1 with errno. */
int  local_mkdirs(const char *path, mode_t mode);

int  st_local_queue_open(const config_setting_t *, const struct st_store_env *,
                         void **store, char *err, size_t errlen);
void st_local_queue_close(void *store);
extern const struct st_queue_ops st_local_queue_ops;

int  st_local_table_open(const config_setting_t *, const struct st_store_env *,
                         void **store, char *err, size_t errlen);
void st_local_table_close(void *store);
extern const struct st_table_ops st_local_table_ops;

#endif
