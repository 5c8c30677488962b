/*
 * azure_sign.h - Azure Storage (Blob service) request signing:
 * Shared Key authorization headers, and service SAS and user delegation
 * SAS tokens for a blob.
 *
 * Plain functions over caller-owned buffers; no global state. Every
 * function returns 0 on success and -1 on bad input or an allocation
 * failure; nothing here ever prints or logs, and the key never reaches an
 * output other than through HMAC.
 *
 * Reference: the Python SDK installed with Debian's python3-azure
 * (azure-storage-blob 12.15, SharedKeyCredentialPolicy and
 * generate_blob_sas), checked by tests/sign/azure_diff.py. Where that SDK
 * reads an input it never produces itself differently from the documented
 * service rules, the service rules win (see the notes per function).
 */
#ifndef STRATUS_SIGN_AZURE_SIGN_H
#define STRATUS_SIGN_AZURE_SIGN_H

#include <stddef.h>
#include <time.h>

#include "core/buf.h"

/* The signed version (sv) of a SAS when none is given: the SDK's own. */
#define ST_AZ_SAS_VERSION "2021-12-02"
/* Decoded account keys are 64 bytes; anything up to this is accepted. */
#define ST_AZ_KEY_MAX 256

/* A decoded account key. Clear it with st_az_key_clear when done. */
struct st_az_key {
	unsigned char	bytes[ST_AZ_KEY_MAX];
	size_t		len;
};

/* A name/value pair: a query parameter (decoded) or a header. */
struct st_az_pair {
	const char	*name;
	const char	*value;
};

/* One request to sign with Shared Key. */
struct st_az_request {
	const char		*method;	/* "GET", "PUT", ... as sent */
	const char		*account;	/* storage account name */
	/* The URL path exactly as sent: percent-encoded, starting with '/',
	 * no query (e.g. from st_az_blob_path). */
	const char		*path;
	const struct st_az_pair	*query;		/* decoded, repeats allowed */
	size_t			 nquery;
	const struct st_az_pair	*headers;	/* names in any case */
	size_t			 nheaders;
};

/*
 * Decodes a base64 account key (standard alphabet, padded, no
 * whitespace). -1 on anything else, on an empty key or one longer than
 * ST_AZ_KEY_MAX bytes; key is then left cleared.
 */
int  st_az_key_decode(struct st_az_key *key, const char *b64);
void st_az_key_clear(struct st_az_key *key);

/*
 * Appends to out the string-to-sign of a Shared Key request:
 *
 *   VERB \n Content-Encoding \n Content-Language \n Content-Length \n
 *   Content-MD5 \n Content-Type \n Date \n If-Modified-Since \n If-Match \n
 *   If-None-Match \n If-Unmodified-Since \n Range \n
 *   x-ms-* headers ("name:value\n" each) /account/path [\nname:values]...
 *
 * - Standard headers are matched case-insensitively; a missing one is an
 *   empty line; Content-Length "0" is an empty line.
 * - x-ms-* headers: names lowercased, values verbatim (no trimming or
 *   folding of whitespace, as the SDK), empty values kept ("name:"), in the
 *   service's header order (the SDK's _storage_header_sort table: '-'
 *   sorts first, then the other token symbols, then digits, then letters).
 * - Query: names lowercased, sorted bytewise; a name given more than once
 *   has its values sorted bytewise and joined with ','.
 * - Header names must be HTTP tokens and appear at most once (in any
 *   case); values may not hold CR, LF or NUL; query names must be
 *   non-empty and neither names nor values may hold CR or LF.
 */
int st_az_string_to_sign(const struct st_az_request *req, struct st_buf *out);

/*
 * Signs req: appends "SharedKey account:signature" (the Authorization
 * header's value) to auth and, when sts is not NULL, the string-to-sign
 * to sts.
 */
int st_az_shared_key(const struct st_az_request *req,
                     const struct st_az_key *key,
                     struct st_buf *auth, struct st_buf *sts);

/*
 * Shared Key for the Table service, a shorter string-to-sign:
 *
 *   VERB \n Content-MD5 \n Content-Type \n x-ms-date \n /account/path
 *   [?comp=VALUE]
 *
 * (standard headers matched case-insensitively, a missing one an empty
 * line; the path as sent, encoded; only the comp query parameter is
 * signed). Appends "SharedKey account:signature" to auth and, when sts is
 * not NULL, the string-to-sign to sts. Checked against the Azure SDK's
 * SharedKeyCredentialPolicy (azure-data-tables) by tests/sign.
 */
int st_az_table_shared_key(const struct st_az_request *req,
                           const struct st_az_key *key,
                           struct st_buf *auth, struct st_buf *sts);

/*
 * Percent-encodes a blob name for a URL path as the SDK does
 * (quote(name, safe='~/')): A-Z a-z 0-9 - . _ ~ and '/' stay, every other
 * byte becomes %XX (uppercase hex), UTF-8 byte by byte. Appends to out.
 */
int st_az_encode_blob_name(struct st_buf *out, const char *name, size_t len);

/*
 * Appends the URL path of a blob, "/container/encoded-blob", or of a
 * container ("/container", blob NULL or ""), or of the account ("/",
 * container NULL or "").
 */
int st_az_blob_path(struct st_buf *out, const char *container,
                    const char *blob);

/*
 * Appends "name=value&name=value..." in the given order, each name and
 * value percent-encoded with only A-Z a-z 0-9 - . _ ~ left as they are, so
 * that the service decodes exactly the pairs that were signed.
 */
int st_az_query_string(struct st_buf *out, const struct st_az_pair *q,
                       size_t n);

/* A service SAS for one blob (signed resource "b"). */
struct st_az_sas {
	/* Any of "racwdxytmei", in any order, each at most once: the token
	 * carries them in that canonical order. Required unless identifier
	 * is set. */
	const char	*permissions;
	time_t		 start;		/* 0: none (valid from when received) */
	time_t		 expiry;	/* required unless identifier is set */
	const char	*protocol;	/* NULL, "https" or "https,http" */
	const char	*ip;		/* NULL, "a.b.c.d" or "a.b.c.d-e.f.g.h" */
	const char	*identifier;	/* si: a stored access policy, or NULL */
	const char	*version;	/* sv; NULL: ST_AZ_SAS_VERSION; >= 2020-12-06 */
	const char	*encryption_scope;	/* ses */
	/* Response header overrides (rscc, rscd, rsce, rscl, rsct). */
	const char	*cache_control;
	const char	*content_disposition;
	const char	*content_encoding;
	const char	*content_language;
	const char	*content_type;
};

/*
 * Appends the SAS query string (no leading '?') for the blob
 * container/blob (raw names, not encoded) to query, in the SDK's order:
 * st se sp sip spr sv si sr rscc rscd rsce rscl rsct ses sig, each value
 * encoded as the SDK does (quote(v, safe='/')). NULL or "" fields are
 * left out, as the SDK does. When sts is not NULL the string-to-sign is
 * appended to it.
 */
int st_az_blob_sas(const struct st_az_key *key, const char *account,
                   const char *container, const char *blob,
                   const struct st_az_sas *sas,
                   struct st_buf *query, struct st_buf *sts);

/* What Get User Delegation Key answered, as it answered it (the times
 * in its ISO 8601 form); its Value, decoded, is the signing key. */
struct st_az_udk {
	const char	*oid;		/* SignedOid: skoid */
	const char	*tid;		/* SignedTid: sktid */
	const char	*start;		/* SignedStart: skt */
	const char	*expiry;	/* SignedExpiry: ske */
	const char	*service;	/* SignedService: sks ("b") */
	const char	*version;	/* SignedVersion: skv */
};

/*
 * A user delegation SAS for one blob, signed with a user delegation key
 * (for a store that holds a bearer token, not the account key). The
 * string-to-sign is that of versions 2020-12-06 and later:
 *
 *   sp st se /blob/account/container/blob skoid sktid skt ske sks skv
 *   saoid suoid scid sip spr sv sr snapshot ses rscc rscd rsce rscl rsct
 *
 * (saoid, suoid, scid and the snapshot empty), one per line. The query
 * is that of st_az_blob_sas, without si (a stored access policy cannot
 * be used) and with skoid sktid skt ske sks skv before sig. expiry and
 * permissions are required. Checked by tests/unit/test_azure_sign.c
 * against a vector computed with Python's hmac, and end to end against
 * Azurite (tests/integration/test_azure_identity.py).
 */
int st_az_blob_sas_udk(const struct st_az_key *key,
                       const struct st_az_udk *udk, const char *account,
                       const char *container, const char *blob,
                       const struct st_az_sas *sas, struct st_buf *query,
                       struct st_buf *sts);

#endif
