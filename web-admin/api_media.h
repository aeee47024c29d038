/* api_media.h - the media folder over REST: upload (POST /api/v1/media?name=,
 * the file as the raw request body), list (GET /api/v1/media) and delete
 * (DELETE /api/v1/media/{name}).
 *
 * An upload is streamed by the server into a temporary file in the media
 * folder (api_media_upload_begin/_write), then the route's handler checks it
 * with libsndfile and links it under its name, never over an existing file.
 *
 * Threads: the lws service thread only.
 */
#ifndef AIRMIX_WEB_API_MEDIA_H
#define AIRMIX_WEB_API_MEDIA_H

#include <stddef.h>

#include "web-admin/api_internal.h"
#include "web-admin/media_upload.h"

extern const struct api_route api_media_routes[];
extern const size_t api_media_route_count;

#endif
