/*
 * creds.h - the Azure token sources (creds.c reads a group's settings and
 * opens it on the core credentials service; identity.c asks Microsoft
 * Entra ID, the instance metadata service or the App Service identity
 * endpoint for OAuth2 bearer tokens).
 */
#ifndef STRATUS_PROVIDERS_AZURE_CREDS_H
#define STRATUS_PROVIDERS_AZURE_CREDS_H

#include <stddef.h>

#include <libconfig.h>

#include <stratus/backend.h>

#include "core/conn.h"
#include "core/creds.h"

/* The resource every token is asked for: Azure Storage. */
#define AZ_TOKEN_SCOPE		"https://storage.azure.com/.default"
#define AZ_TOKEN_RESOURCE	"https://storage.azure.com"
#define AZ_AUTHORITY_DEFAULT	"https://login.microsoftonline.com/"

enum az_src_kind {
	AZ_SRC_CLIENT_SECRET,
	AZ_SRC_WORKLOAD_IDENTITY,
	AZ_SRC_MANAGED_IDENTITY
};

/* A token group's settings, checked once at load. A NULL string is left
 * to the environment when the source reads one (workload_identity). */
struct az_src {
	enum az_src_kind	 kind;
	char			*tenant_id;
	char			*client_id;
	char			*secret_file;	/* client_secret, absolute */
	char			*token_file;	/* workload_identity, absolute */
	char			*authority;	/* "https://host/" (ends in '/') */
	struct st_conn		 conn;		/* CA and proxy of its endpoints */
};

/* The shared bearer tokens of credentials group g named name, whose
 * `source` is set (st_creds_close them). NULL with a reason in err. */
struct st_creds *az_open_token(const config_setting_t *g, const char *name,
                               const struct st_store_env *, char *err,
                               size_t errlen);

/* Whether s is a tenant or client id as Entra ID names them: a GUID or a
 * domain name (letters, digits, '-', '.'), 1 to 128 characters. */
int  az_id_ok(const char *s);

/* identity.c: a fresh token for AZ_TOKEN_SCOPE in out->token, its expiry
 * in out->expires. 0, or -1 with a reason (never a secret). */
int  az_fetch_client_secret(const struct az_src *, struct st_creds_snap *,
                            char *why, size_t whylen);
int  az_fetch_workload_identity(const struct az_src *, struct st_creds_snap *,
                                char *why, size_t whylen);
int  az_fetch_managed_identity(const struct az_src *, struct st_creds_snap *,
                               char *why, size_t whylen);

#endif
