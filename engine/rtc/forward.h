/* forward.h - cross-room forwarding: a room's programme (the publish bus) or
 * one user's track forwarded into up to 4 target rooms, on this airmixd or
 * another (reference: ../shared/reference/volc-api.md §4).
 *
 * For each target the forwarder is a signalling client of the target's /rtc
 * WebSocket (ws://, or wss:// with the certificate checked): it joins the
 * target room with the target's token (made for the target room and the
 * forwarding user id), publishes with the SSRC it will send with, and opens
 * a media return (media.h) that Opus-encodes the audio and sends it as RTP
 * to the port the target's answer names.
 *
 * Per target: ForwardStreamState Idle 0 / Success 1 / Failure 2 with a
 * ForwardStreamError (0, 1201..1205), and ForwardStreamEvents (Disconnected
 * 0, Connected 1, Interrupt 2, DstRoomUpdated 3, UnExpectAPICall 4), each a
 * "forward_stream.state" / "forward_stream.event" notice (an event and a
 * history row in the forward_stream domain).
 *
 * Threads: every function on any non-RT thread; the forwarder's mutex
 * serialises them against its own client thread (one libwebsockets context).
 */
#ifndef AIRMIX_RTC_FORWARD_H
#define AIRMIX_RTC_FORWARD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/rtc/media.h"
#include "engine/rtc/token.h"

struct engine;
struct forward;

#define FORWARD_MAX_TARGETS 4	/* "recommend <= 4" (bytertc_room.h) */
#define FORWARD_MAX_SOURCES 16	/* source rooms forwarding at once */
#define FORWARD_HOST_MAX 253

enum forward_state {
	FORWARD_STATE_IDLE = 0,
	FORWARD_STATE_SUCCESS = 1,
	FORWARD_STATE_FAILURE = 2,
};

enum forward_event {
	FORWARD_EVENT_DISCONNECTED = 0,
	FORWARD_EVENT_CONNECTED = 1,
	FORWARD_EVENT_INTERRUPT = 2,
	FORWARD_EVENT_DST_ROOM_UPDATED = 3,
	FORWARD_EVENT_UNEXPECT_API_CALL = 4,
};

enum forward_error {
	FORWARD_OK = 0,
	FORWARD_INVALID_ARGUMENT = 1201,
	FORWARD_INVALID_TOKEN = 1202,
	FORWARD_RESPONSE = 1203,
	FORWARD_REMOTE_KICKED = 1204,
	FORWARD_NOT_SUPPORT = 1205,
};

/* One target: the room, its token, and where its airmixd listens
 * (host[0] == '\0': this airmixd). */
struct forward_target {
	char room[RTC_ID_MAX + 1];
	char token[TOKEN_TEXT_MAX + 1];
	char host[FORWARD_HOST_MAX + 1];
	uint16_t port;
	char path[64];		/* "/rtc" */
	bool tls;		/* wss://: the certificate must be trusted for host */
};

/* What a source room forwards. user: the id the forwarder joins the targets
 * as ("" = track, else the source room id); track: the user whose track is
 * forwarded ("" = the programme). */
struct forward_request {
	char room[RTC_ID_MAX + 1];
	char user[RTC_ID_MAX + 1];
	char track[RTC_ID_MAX + 1];
	struct forward_target targets[FORWARD_MAX_TARGETS];
	unsigned n_targets;
};

struct forward_config {
	bool enabled;			/* false: start answers NOT_SUPPORT */
	uint32_t backoff_min_ms;	/* first reconnect delay, doubling */
	uint32_t backoff_max_ms;	/* up to this */
	uint32_t timeout_ms;		/* connect or answer within this */
	char self_host[FORWARD_HOST_MAX + 1];	/* this airmixd's /rtc */
	uint16_t self_port;
	bool self_tls;			/* this airmixd serves HTTPS and WSS */
	char ca_file[512];		/* PEM CAs wss:// targets are checked
					 * against; "" = the system's */
};

/* Control thread. media may be NULL (every target then fails with
 * RESPONSE). Starts the client thread. */
int forward_create(struct engine *e, struct rtc_media *media, const struct forward_config *cfg,
		   struct forward **out, char *err, size_t errlen);
void forward_destroy(struct forward *f);

/* Parses "ws://host[:port][/path]" or "wss://..." into t (host, port: 80
 * or 443 by default, path, tls); 0 or -1 with msg. */
int forward_parse_url(const char *url, struct forward_target *t, char *msg, size_t len);

/* The verbs. Each returns a ForwardStreamError (0 = accepted; the targets
 * then connect in the background) or -1 for a call out of order
 * (UnExpectAPICall: already an event and a history row); msg says why.
 * Refusals are stored in the history with request. */
int forward_start(struct forward *f, const struct forward_request *rq, const char *request,
		  char *msg, size_t len);
int forward_update(struct forward *f, const struct forward_request *rq, const char *request,
		   char *msg, size_t len);
int forward_stop(struct forward *f, const char *room, const char *request, char *msg,
		 size_t len);
int forward_pause(struct forward *f, const char *room, const char *request, char *msg,
		  size_t len);
int forward_resume(struct forward *f, const char *room, const char *request, char *msg,
		   size_t len);

/* {"room", "user", "track", "paused", "targets": [{"room", "url", "state",
 * "state_name", "error", "error_name", "connected", "return": {...}}]};
 * NULL when the room forwards nothing. */
json_t *forward_json(struct forward *f, const char *room);
/* Every forwarding source room, as above. */
json_t *forward_list_json(struct forward *f);

const char *forward_state_name(int state);
const char *forward_event_name(int event);

#endif
