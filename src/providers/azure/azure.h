/*
 * azure.h - what the Azure provider's services share (one plugin, the
 * "azure" provider, serving blob stores (src/backends/azure_blob.c),
 * queue stores (queue.c) and table stores (table.c)): credentials from a `credentials` group,
 * endpoints per service, and the kind every store handle begins with.
 */
#ifndef STRATUS_PROVIDERS_AZURE_H
#define STRATUS_PROVIDERS_AZURE_H

#include <stddef.h>

#include <libconfig.h>

#include <stratus/backend.h>

#define AZ_VERSION "2021-12-02"		/* x-ms-version, as the SAS's sv */

/* The emulator's published account and key (UseDevelopmentStorage=true). */
#define AZ_DEV_ACCOUNT "devstoreaccount1"
#define AZ_DEV_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

/* What a credentials group resolves to. */
struct az_creds {
	char	account[64];
	char	key_b64[512];
	char	sas[4096];
	char	endpoint[512];		/* blob: the group's or the string's */
	char	queue_endpoint[512];	/* from a connection string */
	char	table_endpoint[512];
};

/* Resolves the store's `credentials = "NAME"` from the top-level group. */
int  az_load_creds(const config_setting_t *conf, const struct st_store_env *,
                   struct az_creds *, char *err, size_t errlen);
/* endpoint "scheme://host[:port][/path]" into its two parts. */
int  az_split_endpoint(const char *endpoint, char *scheme_host, size_t shcap,
                       char *base_path, size_t bpcap, char *err, size_t errlen);
/* An HTTP date of now, for x-ms-date. */
void az_http_date(char *out, size_t cap);

/* Takes the key (or SAS) and the endpoint of a resolved credentials group
 * into a store: endpoint is the store's own, or the connection string's
 * for the service ("queue", "table"), or empty for the account's default
 * https://ACCOUNT.SERVICE.core.windows.net. 0, or -1 with a reason. */
struct st_az_key;
int  az_take_creds(const struct az_creds *, const char *endpoint,
                   const char *service, char *account, size_t acap,
                   struct st_az_key *key, int *has_key, char **sas,
                   char *scheme_host, size_t shcap, char *base_path,
                   size_t bpcap, char *err, size_t errlen);

/* The queue service (queue.c). */
int  az_queue_open(const config_setting_t *, const struct st_store_env *,
                   void **store, char *err, size_t errlen);
void az_queue_close(void *store);
extern const struct st_queue_ops az_queue_ops;

/* The table service (table.c). */
int  az_table_open(const config_setting_t *, const struct st_store_env *,
                   void **store, char *err, size_t errlen);
void az_table_close(void *store);
extern const struct st_table_ops az_table_ops;

#endif
