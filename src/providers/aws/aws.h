/*
 * aws.h - what the AWS provider services share (common.c): credentials
 * from a `credentials` group, and SigV4 signing of JSON-protocol requests
 * for the provider-call engine.
 */
#ifndef STRATUS_PROVIDERS_AWS_H
#define STRATUS_PROVIDERS_AWS_H

#include <stddef.h>

#include <libconfig.h>

#include <stratus/backend.h>

#include "core/pcall.h"

struct aws_creds {
	char	 key_id[256];
	char	 secret[256];
	char	*token;			/* session token, or NULL */
};

/* Resolves the store's `credentials = "NAME"` (source env, profile or
 * static); *endpoint gets the group's endpoint, if any. 0 or -1. */
int  aws_load_creds(const config_setting_t *conf, const struct st_store_env *,
                    struct aws_creds *, const char **endpoint, char *err,
                    size_t errlen);
void aws_creds_clear(struct aws_creds *);

/* endpoint "scheme://host[:port]" (a trailing '/' dropped, no path or
 * query) into out: 0, or -1 with a reason. */
int  aws_base_endpoint(const char *endpoint, char *out, size_t cap,
                       char *err, size_t errlen);

/* What aws_sign_json signs with (the proto's signer argument). */
struct aws_signer {
	const struct aws_creds	*creds;
	const char		*region;
	const char		*service;	/* "sqs", "dynamodb" */
};

/* The proto's sign for AWS JSON-protocol requests (POST / with a JSON
 * body): SigV4 with the body's SHA-256 as the payload hash. */
int  aws_sign_json(struct st_pcall *, const struct st_pcall_req *, void *);

#endif
