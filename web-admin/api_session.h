/* api_session.h - the login routes, /api/v1/session: log in (POST), who am I
 * (GET), log out (DELETE).
 *
 * Threads: the lws service thread only.
 */
#ifndef AIRMIX_WEB_API_SESSION_H
#define AIRMIX_WEB_API_SESSION_H

#include <stddef.h>

#include "web-admin/api_internal.h"

extern const struct api_route api_session_routes[];
extern const size_t api_session_route_count;

#endif
