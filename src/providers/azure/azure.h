/*
 * azure.h - what the Azure provider's services share (one plugin, the
 * "azure" provider, serving blob stores (blob.c), queue stores
 * (queue.c) and table stores (table.c)): credentials from a `credentials`
 * group (creds.c: a key, a SAS, or bearer tokens from identity.c),
 * endpoints per service, and the kind every store handle begins with.
 */
#ifndef STRATUS_PROVIDERS_AZURE_H
#define STRATUS_PROVIDERS_AZURE_H

#include <stddef.h>
#include <time.h>

#include <libconfig.h>

#include <stratus/backend.h>

#include "core/conn.h"
#include "core/creds.h"
#include "core/pcall.h"
#include "core/retry.h"
#include "core/validate.h"
#include "sign/azure_sign.h"

/* x-ms-version, as the SAS's sv; bearer tokens need 2017-11-09 or later,
 * user delegation SAS 2018-11-09 or later. */
#define AZ_VERSION "2021-12-02"

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
	/* Bearer tokens (a group with a source), or NULL; the caller owns
	 * it (st_creds_close). */
	struct st_creds	*token;
};

/* Reads the store's credentials entry, env->credentials (creds.c). */
int  az_load_creds(const struct st_store_env *, struct az_creds *, char *err,
                   size_t errlen);
/* endpoint "scheme://host[:port][/path]" into its two parts. */
int  az_split_endpoint(const char *endpoint, char *scheme_host, size_t shcap,
                       char *base_path, size_t bpcap, char *err, size_t errlen);
/* An HTTP date of now, for x-ms-date. */
void az_http_date(char *out, size_t cap);
/* Appends "Bearer TOKEN", the group's current token, to out (wipe it
 * when done); *until (may be NULL) gets the moment after which it is no
 * longer handed out. 0, or -1 with why: none valid now (credentials
 * unavailable). */
int  az_bearer(struct st_creds *, struct st_buf *out, time_t *until,
               char *why, size_t whylen);

/*
 * What a queue or table store holds to reach its service; the first
 * member of both stores (its kind first of all, as every store handle of
 * this plugin).
 */
struct az_svc {
	unsigned		 kind;		/* ST_KIND_QUEUE or _TABLE */
	char			 name[ST_STORE_NAME_MAX + 1];
	char			 account[64];
	char			 scheme_host[512];
	char			 base_path[256];	/* "" or "/ACCOUNT" */
	int			 has_key;
	struct st_az_key	 key;
	char			*sas;		/* query, no '?'; or NULL */
	struct st_creds		*token;		/* bearer tokens, or NULL */
	int			 table_key;	/* Shared Key for Table */
	struct st_retry_policy	 retry;
	struct st_guard		*guard;
	struct st_conn		 conn;		/* CA and proxy */
};

/* Fills svc for a store of kind: the retry policy, the credentials, and
 * the endpoint (the store's own, else the connection string's for the
 * service ("queue", "table"), else https://ACCOUNT.SERVICE.core.windows.
 * net). 0, or -1 with a reason. */
int  az_svc_open(struct az_svc *, const config_setting_t *conf,
                 const struct st_store_env *, unsigned kind,
                 const char *service, char *err, size_t errlen);
void az_svc_close(struct az_svc *);
/* The proto's sign: x-ms-date, and Shared Key (blob/queue or table
 * variant), or a bearer token, unless the store has a SAS. signer is the
 * struct az_svc. */
int  az_svc_sign(struct st_pcall *, const struct st_pcall_req *, void *);
/* Describes the next request of pc: path is complete (base path first)
 * and encoded, the query decoded; adds the SAS, x-ms-version and the
 * request id. 0, or -1 (the call has been failed). */
int  az_svc_prepare(struct az_svc *, struct st_pcall *, struct st_call *,
                    const char *method, const char *path,
                    const struct st_pcall_pair *q, size_t nq);
/* The call's engine, made at its first operation: NULL when the call
 * has failed (circuit open, memory). */
struct st_pcall *az_svc_pcall(struct az_svc *, struct st_call *,
                              const struct st_pcall_proto *);

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
