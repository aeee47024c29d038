/* api_mixing.h - the REST routes of the audio mixing manager,
 * /api/v1/mixing[/{id}[/verb]].
 *
 * Threads: the lws service thread only.
 */
#ifndef AIRMIX_WEB_API_MIXING_H
#define AIRMIX_WEB_API_MIXING_H

#include <stddef.h>

#include "web-admin/api_internal.h"

extern const struct api_route api_mixing_routes[];
extern const size_t api_mixing_route_count;

#endif
