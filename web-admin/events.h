/* events.h - the WebSocket event and meter stream /api/v1/events
 * (subprotocol "airmix-events").
 *
 * Threads: events_create/attach/detach/destroy on the control thread;
 * events_notice_cb on whichever thread the engine reports from (it only copies
 * into a bounded inbox under a short mutex); everything else on the lws
 * service thread.
 */
#ifndef AIRMIX_WEB_EVENTS_H
#define AIRMIX_WEB_EVENTS_H

#include <stddef.h>

#include <libwebsockets.h>

#include "web-admin/api.h"

#define EVENTS_PROTOCOL "airmix-events"

struct events;

/* Control thread: allocate everything the stream needs. */
int events_create(struct engine *e, struct events **out);
/* Control thread, after the lws context exists and before the service
 * thread runs: subscribe to the engine and start the meter timer. */
void events_attach(struct events *ev, struct lws_context *ctx,
		   const struct lws_protocols *protocol);
/* Control thread, after the service thread has stopped and before the lws
 * context is destroyed: unsubscribe from the engine. */
void events_detach(struct events *ev);
void events_destroy(struct events *ev);

/* Service thread. */
unsigned events_clients(const struct events *ev);
void events_stats(struct events *ev, struct api_server_stats *st);
size_t events_session_size(void);
/* The protocol callback, called by the server's callback for everything but
 * the upgrade check. */
int events_callback(struct events *ev, struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len);

#endif
