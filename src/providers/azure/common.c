/*
 * common.c - what the Azure queue and table services share beyond the
 * credentials (azure.h): taking a resolved credentials group into a
 * store, with the endpoint of the store's service.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/azure/azure.h"
#include "sign/azure_sign.h"

int
az_take_creds(const struct az_creds *cr, const char *endpoint,
              const char *service, char *account, size_t acap,
              struct st_az_key *key, int *has_key, char **sas,
              char *scheme_host, size_t shcap, char *base_path, size_t bpcap,
              char *err, size_t errlen)
{
	char def[160];

	snprintf(account, acap, "%s", cr->account);
	if (cr->key_b64[0] != '\0') {
		if (st_az_key_decode(key, cr->key_b64) == -1) {
			snprintf(err, errlen, "the account key is not valid base64");
			return -1;
		}
		*has_key = 1;
	} else if ((*sas = strdup(cr->sas)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (endpoint == NULL || endpoint[0] == '\0') {
		snprintf(def, sizeof(def), "https://%s.%s.core.windows.net",
		    cr->account, service);
		endpoint = def;
	}
	return az_split_endpoint(endpoint, scheme_host, shcap, base_path, bpcap,
	    err, errlen);
}
