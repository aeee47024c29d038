/* server.h - the libwebsockets server: REST under /api/v1/, the event
 * WebSocket /api/v1/events, and the admin page at / (page.c).
 *
 * Threads: web_admin_start/stop on the control thread; everything else runs
 * on the server's own lws service thread, which talks to the engine only
 * through the engine API.
 */
#ifndef AIRMIX_WEB_SERVER_H
#define AIRMIX_WEB_SERVER_H

#include <stddef.h>

struct engine;
struct web_admin;

/* Starts listening on cfg http_listen:http_port. Refuses a non-loopback
 * listener without a bearer token. err gets the reason. */
int web_admin_start(struct engine *e, struct web_admin **out, char *err, size_t errlen);
void web_admin_stop(struct web_admin *w);

#endif
