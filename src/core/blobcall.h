/*
 * blobcall.h - what every blob provider's call is made of.
 *
 * A blob call has one pcall for its requests in turn (core/pcall.h), the
 * pipe its body flows through (a download, or a streamed upload:
 * core/stream.h) and, for a PUT, the body's way to the provider
 * (core/upload.h). The application's side of these is the same for every
 * provider, so it is here once: a provider's call struct begins with a
 * struct st_blobcall, and st_blobcall_read, _write and _put_end are its
 * st_blob_ops' read, write and put_end as they are.
 *
 *   new      calloc the provider's call, st_blobcall_init (admits it)
 *   ...      requests on bc.pc; the body through bc.stream and bc.put
 *   release  st_blobcall_stop (nothing of the call runs after it), the
 *            provider's own clean-up, st_blobcall_free
 */
#ifndef STRATUS_CORE_BLOBCALL_H
#define STRATUS_CORE_BLOBCALL_H

#include <stddef.h>
#include <stdint.h>

#include <stratus/backend.h>

#include "core/pcall.h"
#include "core/stream.h"
#include "core/upload.h"

struct st_blobcall {
	struct st_call		*call;
	struct st_pcall		*pc;		/* its requests, in turn */
	struct st_stream	 stream;	/* a GET's or streamed PUT's body */
	struct st_put		 put;		/* a PUT's body */
	/* a download resumed after a cut, from this byte */
	int			 resuming;
	uint64_t		 resume_first;
};

/* Makes bc (the first member of the provider's call, zeroed) the call's
 * backend_data and admits the call through the store's breaker: 0, or
 * -1 when the call has failed (circuit open, memory). Either way the
 * call is released as usual. */
int  st_blobcall_init(struct st_blobcall *, struct st_call *,
                      const struct st_pcall_proto *,
                      const struct st_pcall_target *);

/* The blob API's read, write and put_end of any provider's call. */
long st_blobcall_read(struct st_call *, char *, size_t);
long st_blobcall_write(struct st_call *, const char *, size_t);
void st_blobcall_put_end(struct st_call *);

/*
 * How a provider writes an object in an answer's headers: metadata under
 * prefix ("x-amz-meta-"); optionally, what its ETag, a metadata name
 * (lowercased, after the prefix: the API's name into out, or -1 for one
 * that is not ours) and a value become for the API. Without name_in, a
 * name is the API's as it is, up to ST_META_NAME_MAX bytes.
 */
struct st_object_headers {
	const char	*prefix;
	char		*(*etag_in)(struct st_call *, const char *);
	int		 (*name_in)(const char *, char *out, size_t cap);
	const char	*(*value_in)(struct st_call *, const char *);
};

/* The object's information (the call's info) from the headers of a HEAD,
 * GET or PUT answer: ETag, size (Content-Range's total when there is
 * one), Last-Modified, Content-Type and metadata. */
void st_blobcall_info(struct st_call *, struct st_xfer *,
                      const struct st_object_headers *);

/* A GET's answer is in: the body's length and whether it is partial (a
 * 206); its Content-Range when it is (body_first is the provider's to
 * read from it), else NULL. */
const char *st_blobcall_range(struct st_call *, struct st_xfer *);
/* A HEAD's or GET's answer has been judged good: the application gets
 * its status line now. A GET's body gets its pipe, no larger than the
 * body nor than pipe_max. */
void st_blobcall_answer(struct st_blobcall *, struct st_xfer *,
                        size_t pipe_max);

/*
 * A download that broke after its headers went to the application goes
 * on where it stopped: st_blobcall_resume is the pcall's resume hook's
 * work. It asks for the rest from the first byte not yet passed on (in
 * range_header: "Range", "x-ms-range"), pinned to the same version with
 * If-Match; -1 when there is nothing to resume (not a GET, the
 * application went away, the body is whole, no ETag to pin it to).
 *
 * st_blobcall_begun ends a HEAD's or GET's headers hook, once the
 * provider has read a first answer: ST_PCALL_BEGUN when the application
 * has its answer, else ST_PCALL_COLLECT (an error to read). The answer to
 * a resumption must go on exactly where the body stopped (a 206 from that
 * byte); anything else ends the body as broken, so that no other bytes
 * are ever spliced in. Error answers are left to the call's finish.
 */
int st_blobcall_resume(struct st_blobcall *, struct st_pcall *,
                       const char *range_header);
int st_blobcall_begun(struct st_blobcall *, struct st_pcall *);

/* Appends the application's If-Match and If-None-Match to h, a list of
 * header names and values of n entries: the new n. */
size_t st_blobcall_conditions(const struct st_call *, const char **h,
                              size_t n);

/* A PUT begins: its way (st_put_way; in parts, parts of part_size or
 * larger, so that there are at most proto->max_parts), and st_put_begin
 * on the call's pcall and pipe. The provider then opens a streamed
 * body's request, or creates the upload in parts. */
enum st_put_way st_blobcall_put(struct st_blobcall *,
                                const struct st_upload_proto *, void *arg,
                                struct st_budget *, const char *store,
                                uint64_t part_size, uint64_t threshold);

/* A copy's source fits the target store's size limit (c->info.size, from
 * the source's HEAD): 1, or 0 and the call has failed. */
int  st_blobcall_copy_fits(struct st_call *);

/* A listing is whole: the call is answered, with the provider's token
 * for the next page (NULL: the last page) as its cursor. */
void st_blobcall_listed(struct st_call *, const char *token);

/* As the call is released: the application is gone, and whatever is in
 * flight is cancelled (a PUT's parts too); nothing of the call runs
 * after it. Then, once the provider has freed what is its own,
 * st_blobcall_free frees the rest and the provider's call itself. */
void st_blobcall_stop(struct st_call *);
void st_blobcall_free(struct st_call *);

#endif
