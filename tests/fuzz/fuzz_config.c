/*
 * fuzz_config.c - the configuration file: any text is either loaded or
 * refused with a reason, never a crash (checked without opening stores).
 */
#include <stdio.h>
#include <unistd.h>

#include "core/registry.h"
#include "daemon/config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct st_config *cfg;
	char err[1024];
	FILE *f;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/stratus-fuzz-config-%d.conf",
		    (int)getpid());
	if ((f = fopen(path, "w")) == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	cfg = st_config_load(path, 1, err, sizeof(err));
	if (cfg != NULL)
		st_config_unref(cfg);
	else if (err[0] == '\0')
		abort();		/* refused without a reason */
	return 0;
}
