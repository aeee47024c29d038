/* rooms.h - RTC rooms and their users: who is in which room with which
 * token, who publishes a track and who subscribes to what
 * (reference: ../shared/reference/volc-api.md §5, §7.10).
 *
 * A signalling connection opens a session; the session joins one room as one
 * user with an AccessToken, publishes at most one track and subscribes to
 * streams ("programme" = the publish bus minus the user's own track, or
 * another user's track). The audio itself goes through the media layer
 * (media.h). Every refusal answers with an rtc ErrorCode and stores a
 * history row (engine_report, subject "room/user"); what happens to a user
 * without a request (token expiry, kick, dismiss, duplicate login, signalling
 * timeout) reaches them as an event through the session's send callback.
 *
 * Time: tokens are judged against the wall clock (unix seconds), the
 * signalling timeout against the monotonic clock; rooms_tick() runs the
 * timers and must be called often (every 100-250 ms). Tests set their own
 * clock with rooms_set_clock().
 *
 * Threads: every function on any non-RT thread, serialised by the manager's
 * mutex; the send and close callbacks are called under it and must only
 * queue (never call back into rooms).
 */
#ifndef AIRMIX_RTC_ROOMS_H
#define AIRMIX_RTC_ROOMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine/rtc/media.h"
#include "engine/rtc/token.h"
#include "engine/rtc/webrtc.h"

struct engine;
struct rooms;
struct rooms_session;

/* Limits of 3.58 (bytertc_room.h): configuration may lower them only. */
#define ROOMS_MAX_USERS 50
#define ROOMS_MAX_STREAMS 30
#define ROOMS_MAX_ROOMS 256
#define ROOMS_MAX_SUBSCRIPTIONS 32	/* per user */

/* rtc codes this layer answers with (engine/errors.c). */
enum rtc_code {
	RTC_OK = 0,
	RTC_INVALID_TOKEN = -1000,
	RTC_JOIN_ROOM_FAILED = -1001,
	RTC_NO_PUBLISH_PERMISSION = -1002,
	RTC_DUPLICATE_LOGIN = -1004,
	RTC_KICKED_OUT = -1006,
	RTC_ROOM_ID_ILLEGAL = -1007,
	RTC_TOKEN_EXPIRED = -1009,
	RTC_UPDATE_TOKEN_WITH_INVALID_TOKEN = -1010,
	RTC_ROOM_DISMISS = -1011,
	RTC_ROOM_ALREADY_EXIST = -1013,
	RTC_OVER_STREAM_SUBSCRIBE_LIMIT = -1070,
	RTC_OVER_STREAM_PUBLISH_LIMIT = -1080,
	RTC_INVALID_PARAMS = -1901,
	RTC_UPDATE_TOKEN_BEFORE_JOIN = -1902,
	RTC_REPEAT_JOIN = -1903,
	RTC_STREAM_NOT_EXIST = -1906,
	RTC_TOKEN_NO_PUBLISH_PERMISSION = -1908,
	RTC_TOKEN_NO_SUBSCRIBE_PERMISSION = -1909,
	RTC_TIME_OUT = -1921,
	RTC_PUBLISH_FAILED = -1923,
	RTC_OPERATION_CANCEL = -1924,
	RTC_UNEXPECTED_ERROR = -1927,
	RTC_TOKEN_WILL_EXPIRE = -1998,
	RTC_OVER_USER_LIMIT = -1999,
};

struct rooms_config {
	char app_id[TOKEN_APP_ID_LEN + 1];	/* "" = joining is refused */
	char app_key[512];
	bool auto_create;		/* the first join creates the room */
	uint32_t max_users;		/* visible users per room, <= 50 */
	uint32_t max_streams;		/* published tracks per room, <= 30 */
	uint32_t signalling_timeout_ms;	/* silence before TIME_OUT */
	uint32_t token_warning_s;	/* token_will_expire this long before */
	bool webrtc_enabled;		/* browser guests (webrtc_offer) */
	struct webrtc_config webrtc;
};

/* How a session talks back: send queues one JSON text frame, close asks
 * for the connection to be closed once what is queued has gone. */
struct rooms_conn_ops {
	void (*send)(void *conn, const char *text, size_t len);
	void (*close)(void *conn);
};

/* The clock: monotonic ms and unix s. */
typedef void (*rooms_clock_fn)(void *user, int64_t *mono_ms, int64_t *unix_s);

/* Control thread. media may be NULL (publish and subscribe then fail with
 * PUBLISH_FAILED / UNEXPECTED_ERROR). -EINVAL with a message when the
 * config breaks a limit. */
int rooms_create(struct engine *e, struct rtc_media *media, const struct rooms_config *cfg,
		 struct rooms **out, char *err, size_t errlen);
void rooms_destroy(struct rooms *r);
void rooms_set_clock(struct rooms *r, rooms_clock_fn fn, void *user);
const struct rooms_config *rooms_config(const struct rooms *r);

/* Is id 1..128 bytes of [A-Za-z0-9_@-]? msg says why not. */
bool rooms_id_valid(const char *id, const char *what, char *msg, size_t len);

/* ---- sessions (the signalling layer) */

/* peer: where the connection comes from; local_host: the address it reached
 * (announced as the UDP host when the media layer listens on any address). */
struct rooms_session *rooms_session_open(struct rooms *r, const struct rooms_conn_ops *ops,
					 void *conn, const char *local_host);
/* The connection is gone: the user leaves (pending operations cancelled). */
void rooms_session_close(struct rooms_session *s);

/* Each operation answers RTC_OK with its reply data in *data (the caller
 * owns it; may stay NULL), or an rtc code with msg; refusals are already
 * stored in the history with request. */
struct rooms_join_req {
	const char *token, *room, *user;	/* user NULL: the token's */
	bool visible;
	bool green_room;	/* joins off air: heard on playout, not in the programme */
};
int rooms_join(struct rooms_session *s, const struct rooms_join_req *rq, const char *request,
	       json_t **data, char *msg, size_t len);
int rooms_leave(struct rooms_session *s, const char *request, json_t **data, char *msg,
		size_t len);

struct rooms_publish_req {
	uint32_t ssrc;		/* 0 = the first seen */
	bool from_set;
	struct sockaddr_storage from;
	uint32_t channels;	/* 1 or 2 */
	int volume;		/* 0..400 */
};
int rooms_publish(struct rooms_session *s, const struct rooms_publish_req *rq,
		  const char *request, json_t **data, char *msg, size_t len);
int rooms_unpublish(struct rooms_session *s, const char *request, json_t **data, char *msg,
		    size_t len);

struct rooms_subscribe_req {
	const char *stream;	/* "programme" or a user id */
	bool to_set;
	struct sockaddr_storage to;
	uint8_t payload_type;	/* 0 = 111 */
};
int rooms_subscribe(struct rooms_session *s, const struct rooms_subscribe_req *rq,
		    const char *request, json_t **data, char *msg, size_t len);
int rooms_unsubscribe(struct rooms_session *s, const char *stream, const char *request,
		      json_t **data, char *msg, size_t len);
int rooms_update_token(struct rooms_session *s, const char *token, const char *request,
		       json_t **data, char *msg, size_t len);
/* A browser guest: the SDP offer of its one audio m-line. The user
 * publishes (the RTP goes through a WebRTC peer, webrtc.h) and, when the
 * token allows, subscribes to the programme over the same connection. The
 * answer, local ICE candidates and state changes follow as events
 * (webrtc_answer, webrtc_ice, webrtc_state). */
int rooms_webrtc_offer(struct rooms_session *s, const char *sdp, const char *request,
		       json_t **data, char *msg, size_t len);
/* A remote ICE candidate of the browser guest. */
int rooms_webrtc_ice(struct rooms_session *s, unsigned mline, const char *candidate,
		     const char *request, json_t **data, char *msg, size_t len);
/* The user goes on air (their track feeds the programme) or back to the
 * green room (heard on the playout bus only); everyone hears of it (event
 * "on_air"). */
int rooms_on_air(struct rooms_session *s, bool on_air, const char *request, json_t **data,
		 char *msg, size_t len);
/* Any message from the client: it is alive (resets the signalling timeout). */
void rooms_session_touch(struct rooms_session *s);
/* Reports a signalling error (a message that could not be understood) with
 * the session's room/user as subject. */
void rooms_session_report(struct rooms_session *s, int code, const char *request,
			  const char *msg);

/* Timers: warnings, expiries, timeouts, pending operations. */
void rooms_tick(struct rooms *r);

/* ---- administration (REST, airmixctl) */

/* 0, RTC_ROOM_ID_ILLEGAL, RTC_ROOM_ALREADY_EXIST, RTC_INVALID_PARAMS (full). */
int rooms_create_room(struct rooms *r, const char *room, const char *request, char *msg,
		      size_t len);
/* A JSON array of rooms (id, users, streams); NULL when out of memory. */
json_t *rooms_list_json(struct rooms *r);
/* One room with its users and their tracks' live stats; NULL = no room. */
json_t *rooms_room_json(struct rooms *r, const char *room);
json_t *rooms_users_json(struct rooms *r, const char *room);
/* Everyone out with ROOM_DISMISS, the room removed. -ENOENT = no room. */
int rooms_dismiss(struct rooms *r, const char *room, const char *request);
/* The user out with KICKED_OUT. -ENOENT = no such room or user. */
int rooms_kick(struct rooms *r, const char *room, const char *user, const char *request);
/* The engineer puts a user on air or back to the green room. -ENOENT. */
int rooms_set_on_air(struct rooms *r, const char *room, const char *user, bool on_air,
		     const char *request);
/* The engine node of the user's track; -ENOENT no user, -ENODATA not
 * publishing. */
int rooms_user_node(struct rooms *r, const char *room, const char *user, uint32_t *node_id);
/* Issues a token for room/user with the configured app id and key, expiring
 * in expire_s (0 = never). -EINVAL with msg. */
int rooms_issue_token(struct rooms *r, const char *room, const char *user, uint32_t expire_s,
		      bool publish, bool subscribe, char *out, size_t outlen, char *msg,
		      size_t len);

#endif
