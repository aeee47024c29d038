/* api_push.h - the REST routes of the CDN push tasks, /api/v1/cdn[/{task_id}].
 *
 * Threads: the lws service thread only.
 */
#ifndef AIRMIX_WEB_API_PUSH_H
#define AIRMIX_WEB_API_PUSH_H

#include <stddef.h>

#include "web-admin/api_internal.h"

extern const struct api_route api_push_routes[];
extern const size_t api_push_route_count;

#endif
