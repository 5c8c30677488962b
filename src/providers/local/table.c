/* table.c - placeholder while the local table service is written. */
#include <stdio.h>

#include "providers/local/local.h"

int
st_local_table_open(const config_setting_t *conf, const struct st_store_env *env,
                   void **store, char *err, size_t errlen)
{
	(void)conf;
	(void)env;
	*store = NULL;
	snprintf(err, errlen, "local tables are not built yet");
	return -1;
}

void
st_local_table_close(void *store)
{
	(void)store;
}

const struct st_table_ops st_local_table_ops;
