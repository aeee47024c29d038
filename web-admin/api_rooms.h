/* api_rooms.h - the REST routes of the RTC rooms, /api/v1/rooms[/...].
 *
 * Threads: the lws service thread only.
 */
#ifndef AIRMIX_WEB_API_ROOMS_H
#define AIRMIX_WEB_API_ROOMS_H

#include <stddef.h>

#include "web-admin/api_internal.h"

extern const struct api_route api_rooms_routes[];
extern const size_t api_rooms_route_count;

#endif
