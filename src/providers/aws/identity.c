/*
 * identity.c - the AWS credential sources that ask a service: EC2 IMDS,
 * the container endpoint, STS, credential_process. (Not yet built.)
 */
#include <stdio.h>

#include "providers/aws/creds.h"

static int
not_yet(const char *what, char *why, size_t whylen)
{
	snprintf(why, whylen, "%s is not supported yet", what);
	return -1;
}

int
aws_fetch_imds(const struct aws_src *s, struct st_creds_snap *o, char *why,
               size_t whylen)
{
	(void)s; (void)o;
	return not_yet("imds", why, whylen);
}

int
aws_fetch_container(const struct aws_src *s, struct st_creds_snap *o,
                    char *why, size_t whylen)
{
	(void)s; (void)o;
	return not_yet("container", why, whylen);
}

int
aws_fetch_web_identity(const struct aws_src *s, struct st_creds_snap *o,
                       char *why, size_t whylen)
{
	(void)s; (void)o;
	return not_yet("web_identity", why, whylen);
}

int
aws_fetch_chain(const struct aws_src *s, struct st_creds_snap *o, char *why,
                size_t whylen)
{
	(void)s; (void)o;
	return not_yet("chain", why, whylen);
}

int
aws_assume_role(const struct aws_src *s, const struct st_creds_snap *b,
                struct st_creds_snap *o, char *why, size_t whylen)
{
	(void)s; (void)b; (void)o;
	return not_yet("role_arn", why, whylen);
}

int
aws_credential_process(const struct aws_src *s, const char *cmd,
                       struct st_creds_snap *o, char *why, size_t whylen)
{
	(void)s; (void)cmd; (void)o;
	return not_yet("credential_process", why, whylen);
}
