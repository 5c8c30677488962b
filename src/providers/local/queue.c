/* queue.c - placeholder while the local queue service is written. */
#include <stdio.h>

#include "providers/local/local.h"

int
st_local_queue_open(const config_setting_t *conf, const struct st_store_env *env,
                   void **store, char *err, size_t errlen)
{
	(void)conf;
	(void)env;
	*store = NULL;
	snprintf(err, errlen, "local queues are not built yet");
	return -1;
}

void
st_local_queue_close(void *store)
{
	(void)store;
}

const struct st_queue_ops st_local_queue_ops;
