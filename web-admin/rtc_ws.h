/* rtc_ws.h - the RTC signalling WebSocket /rtc: JSON requests from guests'
 * clients (join, leave, publish, unpublish, subscribe, unsubscribe,
 * update_token, ping), replies and room events, on the admin's
 * libwebsockets server. The protocol is in README.md ("RTC signalling").
 *
 * Two layers: rtc_conn_* understand one complete text message and need no
 * libwebsockets (the fuzz harness and tests drive them directly); rtc_ws_*
 * are the libwebsockets glue (framing, the 16 KiB message limit, the output
 * queue, the timer that runs rooms_tick()).
 *
 * Threads: rtc_ws_create/attach/detach/destroy on the control thread; every
 * other function on the lws service thread (or the test's thread).
 */
#ifndef AIRMIX_WEB_RTC_WS_H
#define AIRMIX_WEB_RTC_WS_H

#include <stddef.h>

#include <libwebsockets.h>

#include "engine/rtc/rooms.h"

#define RTC_WS_PATH "/rtc"
#define RTC_WS_MAX_MESSAGE 16384	/* bytes of one request */
#define RTC_WS_MAX_QUEUED 256		/* frames waiting for a slow client */

struct rtc_conn;
struct rtc_ws;

/* One signalling connection on rooms r; replies and events go out through
 * ops. NULL when out of memory. */
struct rtc_conn *rtc_conn_open(struct rooms *r, const struct rooms_conn_ops *ops, void *user,
			       const char *local_host);
/* One complete text message: validated, executed, answered. */
void rtc_conn_message(struct rtc_conn *c, const char *text, size_t len);
/* A message that could not be taken (too large, binary): answered with
 * INVALID_PARAMS and reported. */
void rtc_conn_refuse(struct rtc_conn *c, const char *why);
/* The connection is gone: the user leaves. */
void rtc_conn_close(struct rtc_conn *c);

int rtc_ws_create(struct engine *e, struct rtc_ws **out);
void rtc_ws_attach(struct rtc_ws *w, struct lws_context *ctx);
void rtc_ws_detach(struct rtc_ws *w);
void rtc_ws_destroy(struct rtc_ws *w);
unsigned rtc_ws_clients(const struct rtc_ws *w);
/* Is this connection an /rtc one (set at LWS_CALLBACK_ESTABLISHED)? */
bool rtc_ws_owns(struct lws *wsi);
/* The callback for /rtc connections; ESTABLISHED decides by the path and
 * returns 1 when the connection is not /rtc (then nothing was done). */
int rtc_ws_callback(struct rtc_ws *w, struct lws *wsi, enum lws_callback_reasons reason,
		    void *in, size_t len);

#endif
