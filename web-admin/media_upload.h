/* media_upload.h - a media upload in progress: the body of POST
 * /api/v1/media, streamed by the server into a temporary file in the media
 * folder, then checked and named by api_media.c's handler.
 *
 * Threads: the lws service thread only.
 */
#ifndef AIRMIX_WEB_MEDIA_UPLOAD_H
#define AIRMIX_WEB_MEDIA_UPLOAD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "web-admin/api.h"

#define MEDIA_NAME_MAX 200
#define MEDIA_LIST_MAX 4096

/* One upload in progress; owned by the HTTP transaction. */
struct media_upload {
	int fd;				/* the temporary file, when fd_open */
	bool fd_open;
	char tmp[PATH_MAX];		/* its path, "" when there is none */
	char name[MEDIA_NAME_MAX + 1];
	uint64_t expected;		/* Content-Length */
	uint64_t received;
	int error;			/* first write error (-errno), 0 */
};

/* Checks the name (?name=), the size (content_length, -1 when the header is
 * missing) against [http] upload_max_mb and that the name is free, then
 * opens the temporary file. 0, or an error reply in rep. */
int api_media_upload_begin(struct engine *e, const struct api_request *req,
			   long long content_length, struct media_upload *u,
			   struct api_reply *rep);
/* Appends a piece of the body; an error is kept for the handler. */
void api_media_upload_write(struct media_upload *u, const void *buf, size_t len);
/* Closes and removes the temporary file if it is still there. */
void api_media_upload_abort(struct media_upload *u);

/* Is name acceptable for a media file (no path, no dot file, a known audio
 * extension)? NULL when it is, else what is wrong. */
const char *api_media_name_problem(const char *name);

#endif
