/*
 * blob_api.h - the blob endpoints of API.md.
 */
#ifndef STRATUS_DAEMON_BLOB_API_H
#define STRATUS_DAEMON_BLOB_API_H

#include "daemon/server.h"

/* Does this blob request carry a daemon-presigned signature? */
int st_blob_api_is_presigned(struct st_req *);
/* /v1/blobs/STORE[/KEY]: every method. */
enum MHD_Result st_blob_api_start(struct st_req *);
/* POST /v1/presign */
enum MHD_Result st_blob_api_presign_start(struct st_req *);

#endif
