/*
 * auth.c - bearer tokens and allow rules.
 *
 * The configuration holds only SHA-256 digests of tokens, so a leaked
 * configuration does not leak tokens. A presented token is hashed and
 * compared with every client's digest in constant time, all of them, so
 * that timing says nothing about which client (if any) nearly matched.
 */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "daemon/auth.h"
#include "daemon/rights.h"
#include "sign/hmac.h"

enum st_auth_result
st_auth_identify(const struct st_config *cfg, const char *authorization,
                 const struct st_client **client)
{
	unsigned char digest[ST_SHA256_LEN];
	const char *token;
	size_t i;

	*client = NULL;
	if (authorization == NULL)
		return ST_AUTH_ANONYMOUS;
	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return ST_AUTH_BAD;
	token = authorization + 7;
	while (*token == ' ')
		token++;
	if (*token == '\0')
		return ST_AUTH_BAD;
	st_sha256(token, strlen(token), digest);
	for (i = 0; i < cfg->nclients; i++)
		if (CRYPTO_memcmp(digest, cfg->clients[i].token_sha256,
		    sizeof(digest)) == 0)
			*client = &cfg->clients[i];
	OPENSSL_cleanse(digest, sizeof(digest));
	return *client != NULL ? ST_AUTH_CLIENT : ST_AUTH_BAD;
}

unsigned
st_auth_perms(const struct st_config *cfg, const struct st_client *client,
              int anonymous, const struct st_store *store)
{
	unsigned perms = 0;
	size_t i;

	if (anonymous) {
		int allowed = store->allow_anonymous >= 0 ?
		    store->allow_anonymous : cfg->allow_anonymous;

		return allowed ? st_rights_of_kind(store->kind) : 0;
	}
	if (client == NULL)
		return 0;
	for (i = 0; i < client->nrules; i++) {
		const struct st_rule *r = &client->rules[i];

		if (!(r->kinds & store->kind))
			continue;
		if (strcmp(r->store, "*") != 0 && strcmp(r->store, store->name) != 0)
			continue;
		perms |= r->perms;
	}
	return perms & st_rights_of_kind(store->kind);
}
