/* api_forward.h - the REST routes of cross-room forwarding,
 * /api/v1/rooms/{room}/forward[/...] and /api/v1/forward.
 *
 * Threads: the lws service thread only.
 */
#ifndef AIRMIX_WEB_API_FORWARD_H
#define AIRMIX_WEB_API_FORWARD_H

#include <stddef.h>

#include "web-admin/api_internal.h"

extern const struct api_route api_forward_routes[];
extern const size_t api_forward_route_count;

#endif
