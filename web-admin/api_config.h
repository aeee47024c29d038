/* api_config.h - the settings over REST: GET /api/v1/config (every key with
 * its value, type, range, choices, unit, default and whether it applies live)
 * and PUT /api/v1/config (save keys to the config file and apply them).
 *
 * Threads: the lws service thread only.
 */
#ifndef AIRMIX_WEB_API_CONFIG_H
#define AIRMIX_WEB_API_CONFIG_H

#include <stddef.h>

#include "web-admin/api_internal.h"

extern const struct api_route api_config_routes[];
extern const size_t api_config_route_count;

#endif
