/*
 * registry.c - where provider names become backends.
 *
 * The local store is built in. Other providers are shared objects in the
 * backend directory (default $(pkglibdir)/backends, or $STRATUS_BACKEND_DIR,
 * which the tests use to load backends from the build tree). Each exports
 * one `struct st_backend` named ST_BACKEND_SYMBOL, whose version must equal
 * ours: a backend built against another interface is refused, not guessed at.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "core/registry.h"

#define MAX_BACKENDS 16

static const struct st_backend *backends[MAX_BACKENDS] = { &st_backend_local };
static size_t nbackends = 1;
static void *handles[MAX_BACKENDS];
static size_t nhandles;
static char names[256];

/*
 * A backend must have the operations of every kind it declares: the core
 * calls them without looking. Optional blob operations (get_fd, copy,
 * presign) may be NULL; the core then answers or works around them.
 */
int
st_registry_check(const struct st_backend *b, char *err, size_t errlen)
{
	const struct st_blob_ops *bo = b->blob;
	const struct st_queue_ops *q = b->queue;
	const struct st_table_ops *t = b->table;
	const char *missing = NULL;

	if (b->name == NULL || b->store_open == NULL || b->store_close == NULL ||
	    (b->kinds & ~(unsigned)(ST_KIND_BLOB | ST_KIND_QUEUE | ST_KIND_TABLE)) ||
	    b->kinds == 0)
		missing = "name, kinds, store_open or store_close";
	else if ((b->kinds & ST_KIND_BLOB) && (bo == NULL || !bo->head ||
	    !bo->get || !bo->read || !bo->put_begin || !bo->write ||
	    !bo->put_end || !bo->del || !bo->list || !bo->release))
		missing = "a blob operation";
	else if ((b->kinds & ST_KIND_QUEUE) && (q == NULL || !q->create ||
	    !q->destroy || !q->send || !q->receive || !q->ack ||
	    !q->visibility || !q->release))
		missing = "a queue operation";
	else if ((b->kinds & ST_KIND_TABLE) && (t == NULL || !t->create ||
	    !t->destroy || !t->put || !t->get || !t->remove || !t->query ||
	    !t->release))
		missing = "a table operation";
	if (missing == NULL)
		return 0;
	snprintf(err, errlen, "backend '%s' lacks %s", b->name ? b->name : "?",
	    missing);
	return -1;
}

static int
load_one(const char *path, char *err, size_t errlen)
{
	const struct st_backend *b;
	void *h;

	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, dlerror());
		return -1;
	}
	b = dlsym(h, ST_BACKEND_SYMBOL);
	if (b == NULL || b->version != ST_BACKEND_VERSION) {
		snprintf(err, errlen, "%s: no backend of interface version %d",
		    path, ST_BACKEND_VERSION);
		dlclose(h);
		return -1;
	}
	if (st_registry_check(b, err, errlen) == -1) {
		dlclose(h);
		return -1;
	}
	if (st_registry_find(b->name) != NULL || nbackends == MAX_BACKENDS) {
		dlclose(h);	/* the same backend twice (.so and .so.0) */
		return 0;
	}
	backends[nbackends++] = b;
	handles[nhandles++] = h;
	return 0;
}

int
st_registry_load(const char *dir, char *err, size_t errlen)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (dir == NULL || (d = opendir(dir)) == NULL)
		return 0;	/* no plugins installed: the local store only */
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char path[4096];
		size_t n = strlen(de->d_name);

		if (n < 4 || strcmp(de->d_name + n - 3, ".so") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		rc = load_one(path, err, errlen);
	}
	closedir(d);
	return rc;
}

const struct st_backend *
st_registry_find(const char *provider)
{
	size_t i;

	for (i = 0; i < nbackends; i++)
		if (strcmp(backends[i]->name, provider) == 0)
			return backends[i];
	return NULL;
}

const char *
st_registry_names(void)
{
	size_t i, off = 0;

	names[0] = '\0';
	for (i = 0; i < nbackends && off < sizeof(names); i++)
		off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
		    i ? ", " : "", backends[i]->name);
	return names;
}

void
st_registry_unload(void)
{
	while (nhandles > 0)
		dlclose(handles[--nhandles]);
	nbackends = 1;
}
