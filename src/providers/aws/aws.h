/*
 * aws.h - what the AWS provider services share (common.c): the shared
 * credentials of a `credentials` group (creds.c, on the core credentials
 * service), and SigV4 signing of JSON-protocol requests for the
 * provider-call engine.
 */
#ifndef STRATUS_PROVIDERS_AWS_H
#define STRATUS_PROVIDERS_AWS_H

#include <stddef.h>
#include <time.h>

#include <libconfig.h>

#include <stratus/backend.h>

#include "core/conn.h"
#include "core/creds.h"
#include "core/pcall.h"
#include "core/retry.h"
#include "core/validate.h"

/* The shared credentials of the store's credentials entry
 * (env->credentials; st_creds_close them); *endpoint gets the entry's
 * endpoint, if any. NULL with a reason in err. */
struct st_creds *aws_open_creds(const struct st_store_env *,
                                const char **endpoint, char *err,
                                size_t errlen);

/* endpoint "scheme://host[:port]" (a trailing '/' dropped, no path or
 * query) into out: 0, or -1 with a reason. */
int  aws_base_endpoint(const char *endpoint, char *out, size_t cap,
                       char *err, size_t errlen);

/* What aws_sign_json signs with (the proto's signer argument). */
struct aws_signer {
	struct st_creds		*creds;
	const char		*region;
	const char		*service;	/* "sqs", "dynamodb" */
};

/*
 * Signs an attempt of pc with a snapshot of creds' current keys: sign
 * makes the SigV4 headers of its own request (arg) with them at now, and
 * they are added to the attempt. With no valid credentials the call fails
 * as credentials unavailable. 0 or -1; for any service's proto->sign.
 */
struct st_sigv4_result;
struct st_sigv4_request;
typedef int (*aws_sign_fn)(const void *arg, const struct st_creds_snap *,
                           time_t now, struct st_sigv4_result *);
int  aws_sign_attempt(struct st_pcall *, struct st_creds *, aws_sign_fn,
                      const void *arg);
/* An attempt as a SigV4 request: method, host, path, query (into q, room
 * for qcap) and headers (into h, room for hcap); payload, region, service
 * and keys are the caller's. -1 when the room is short. */
struct st_sigv4_header;
struct st_sigv4_param;
int  aws_sigv4_req(struct st_sigv4_request *, const struct st_pcall_req *,
                   struct st_sigv4_header *h, size_t hcap,
                   struct st_sigv4_param *q, size_t qcap);
/* Signs r with a snapshot's keys at now: st_sigv4_sign's answer. */
int  aws_sigv4_as(struct st_sigv4_request *, const struct st_creds_snap *,
                  time_t now, struct st_sigv4_result *);

/* The proto's sign for AWS JSON-protocol requests (POST / with a JSON
 * body): SigV4 with the body's SHA-256 as the payload hash, the service's
 * headers (Content-Type, X-Amz-Target) signed, X-Amz-Security-Token
 * added and signed when the credentials have a session token. With no
 * valid credentials the call fails as credentials unavailable. */
int  aws_sign_json(struct st_pcall *, const struct st_pcall_req *, void *);
/* What aws_sign_json adds, at a given time, into out (st_sigv4_free it):
 * for tests/sign/sigv4_driver.c. 0 or -1. */
#define ST_AWS_SIGN_HEADERS 16
int  aws_sign_json_req(const struct st_pcall_req *, const char *region,
                       const char *service, const struct st_creds_snap *,
                       time_t, struct st_sigv4_result *);

/*
 * What an SQS or DynamoDB store holds to reach its service: its region,
 * endpoint (the store's, else the credentials', else
 * https://SERVICE.REGION.amazonaws.com), credentials, signer, retry
 * policy and guard.
 */
struct aws_svc {
	char			 name[ST_STORE_NAME_MAX + 1];
	char			 region[64];
	char			 endpoint[512];
	struct st_creds		*creds;
	struct aws_signer	 signer;
	struct st_retry_policy	 retry;
	struct st_guard		*guard;
	struct st_conn		 conn;		/* CA and proxy */
};

/* Reads region, endpoint and retry from conf (the service's own keys
 * were checked by the caller), resolves the credentials and opens the
 * guard. 0, or -1 with a reason. */
int  aws_svc_open(struct aws_svc *, const config_setting_t *conf,
                  const struct st_store_env *, const char *service,
                  char *err, size_t errlen);
void aws_svc_close(struct aws_svc *);
/* The call's engine (NULL: the call has failed, circuit open). */
struct st_pcall *aws_svc_pcall(struct aws_svc *, struct st_call *,
                               const struct st_pcall_proto *);
/* Describes POST / of a JSON-protocol operation (X-Amz-Target: target)
 * with body: 0, or -1 (the call has been failed). */
int  aws_svc_post(struct aws_svc *, struct st_pcall *, struct st_call *,
                  const char *target, const char *body, size_t len);

#endif
