/*
 * creds.h - the AWS credential sources (creds.c reads a group's settings
 * and the local sources; identity.c speaks to IMDS, the container
 * endpoint, STS and credential_process).
 */
#ifndef STRATUS_PROVIDERS_AWS_CREDS_H
#define STRATUS_PROVIDERS_AWS_CREDS_H

#include <stddef.h>

#include "core/conn.h"
#include "core/creds.h"

enum aws_src_kind {
	AWS_SRC_ENV,
	AWS_SRC_PROFILE,
	AWS_SRC_STATIC,
	AWS_SRC_IMDS,
	AWS_SRC_CONTAINER,
	AWS_SRC_WEB_IDENTITY,
	AWS_SRC_CHAIN
};

/* A group's settings, checked once at load. */
struct aws_src {
	enum aws_src_kind	 kind;
	char			*profile;	/* "default" unless said */
	char			 access_key_id[ST_CREDS_ID_MAX];  /* static */
	char			*secret_file;	/* static, absolute */
	char			*token_file;	/* static, or NULL */
	char			*role_arn;	/* AssumeRole on top, or NULL */
	char			*external_id;
	char			*session_name;
	char			*region;	/* for STS, or NULL */
	struct st_conn		 conn;		/* CA and proxy of its endpoints */
};

/* The base credentials of a source kind (role_arn not applied): 0, or
 * -1 with a reason. */
int aws_fetch_base(const struct aws_src *, enum aws_src_kind,
                   struct st_creds_snap *, char *why, size_t whylen);

/* identity.c */
int aws_fetch_imds(const struct aws_src *, struct st_creds_snap *,
                   char *why, size_t whylen);
int aws_fetch_container(const struct aws_src *, struct st_creds_snap *,
                        char *why, size_t whylen);
int aws_fetch_web_identity(const struct aws_src *, struct st_creds_snap *,
                           char *why, size_t whylen);
int aws_fetch_chain(const struct aws_src *, struct st_creds_snap *,
                    char *why, size_t whylen);
int aws_assume_role(const struct aws_src *, const struct st_creds_snap *base,
                    struct st_creds_snap *, char *why, size_t whylen);
int aws_credential_process(const struct aws_src *, const char *command,
                           struct st_creds_snap *, char *why, size_t whylen);

#endif
