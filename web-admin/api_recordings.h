/* api_recordings.h - the REST routes of the recorder,
 * /api/v1/recordings[/{id}[/stop]].
 *
 * Threads: the lws service thread only.
 */
#ifndef AIRMIX_WEB_API_RECORDINGS_H
#define AIRMIX_WEB_API_RECORDINGS_H

#include <stddef.h>

#include "web-admin/api_internal.h"

extern const struct api_route api_recordings_routes[];
extern const size_t api_recordings_route_count;

#endif
