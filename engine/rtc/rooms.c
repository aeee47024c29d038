/* rooms.c - RTC rooms, their users, tokens and streams (rooms.h).
 *
 * DESIGN
 * One mutex guards everything: the rooms (a list), each room's members, and
 * the sessions (one per signalling connection). A session points at its
 * member while it is in a room; a member points back at its session. The
 * audio goes through the media layer: publishing adds a track (an engine
 * source node and a UDP endpoint), subscribing opens a return. Neither may
 * take long, so calling them under the mutex is fine.
 *
 * Pending operations: a track is pending until its first RTP packet, a
 * subscription until its return has sent its first packet; rooms_tick()
 * polls the media stats of pending ones. Leaving while one is pending is an
 * OPERATION_CANCEL (event and history row), as in the Web SDK.
 *
 * Timers, all in rooms_tick(): token_will_expire token_warning_s before the
 * token (or the publish/subscribe privilege in use) expires; at expiry the
 * user is removed (TOKEN_EXPIRED) or loses the stream
 * (TOKEN_NO_PUBLISH_PERMISSION / TOKEN_NO_SUBSCRIBE_PERMISSION); a session
 * silent for signalling_timeout_ms is a TIME_OUT: the user is removed and
 * the connection closed.
 *
 * Every error that reaches a user is also an engine report (a history row
 * with "room/user" as subject and the request that caused it).
 *
 * Threads: any non-RT thread; everything under r->lock. The session's send
 * and close callbacks are called under it.
 */
#include "engine/rtc/rooms.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"

#define RTC_NOT_CONNECTED_YET (-1907)
#define RTC_NOT_SUPPORTED (-1918)
#define RTC_ADD_TRANSCEIVER_FAILED (-1922)
#define PROGRAMME "programme"

struct sub {
	char stream[RTC_ID_MAX + 1];	/* "programme" or a user id */
	uint32_t return_id;
	uint32_t ssrc;
	bool pending;		/* no packet sent yet */
	struct sockaddr_storage to;
};

struct member {
	struct room *room;
	struct rooms_session *s;
	char user[RTC_ID_MAX + 1];
	bool visible;
	struct token tok;
	bool warned_join, warned_pub, warned_sub;
	bool publishing;
	bool pub_pending;	/* no packet received yet */
	uint32_t track_id, node_id;
	bool from_set;
	struct sockaddr_storage from;
	struct sockaddr_storage track_addr;	/* where the track listens */
	bool on_air;		/* false: the green room (playout bus only) */
	struct webrtc_peer *peer;	/* a browser guest's connection */
	struct sub subs[ROOMS_MAX_SUBSCRIPTIONS];
	unsigned n_subs;
	struct member *next;
};

struct room {
	char id[RTC_ID_MAX + 1];
	bool by_admin;		/* created by the API: stays when empty */
	struct member *members;
	unsigned visible;
	unsigned streams;
	struct room *next;
};

struct rooms_session {
	struct rooms *r;
	struct rooms_conn_ops ops;
	void *conn;
	char local_host[INET6_ADDRSTRLEN];
	int64_t last_seen_ms;
	bool timed_out;
	struct member *m;
	struct rooms_session *next;
};

struct rooms {
	struct engine *e;
	struct rtc_media *media;
	struct rooms_config cfg;
	pthread_mutex_t lock;
	rooms_clock_fn clock;
	void *clock_user;
	struct room *rooms;
	unsigned n_rooms;
	struct rooms_session *sessions;
	bool webrtc_tried, webrtc_ok;
	char webrtc_why[256];	/* why browser guests are refused */
};

/* ---- small helpers */

static void system_clock(void *user, int64_t *mono_ms, int64_t *unix_s)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	*mono_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	*unix_s = (int64_t)time(NULL);
}

static int64_t now_mono(struct rooms *r)
{
	int64_t m, u;

	r->clock(r->clock_user, &m, &u);
	return m;
}

static uint32_t now_unix(struct rooms *r)
{
	int64_t m, u;

	r->clock(r->clock_user, &m, &u);
	return (uint32_t)u;
}

bool rooms_id_valid(const char *id, const char *what, char *msg, size_t len)
{
	size_t n = id ? strnlen(id, RTC_ID_MAX + 1) : 0;

	if (n == 0 || n > RTC_ID_MAX) {
		snprintf(msg, len, "%s id must be 1 to %d bytes", what, RTC_ID_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '@' || c == '-')) {
			snprintf(msg, len, "%s id may only hold A-Z a-z 0-9 _ @ - (byte %zu is "
				 "0x%02x)", what, i, (unsigned char)c);
			return false;
		}
	}
	return true;
}

/* "room/user", "room" when there is no user yet, "" before any valid room. */
static void subject_of(const char *room, const char *user, char *buf, size_t len)
{
	bool has_room = room && room[0], has_user = user && user[0];

	snprintf(buf, len, "%s%s%s", has_room ? room : "", has_room && has_user ? "/" : "",
		 has_room && has_user ? user : "");
}

/* An engine report: a history row and an event. The table's INFO level
 * (OPERATION_CANCEL) is raised to a warning so that the row is kept. */
static void report(struct rooms *r, int code, const char *subject, const char *request,
		   const char *msg)
{
	const struct airmix_error_def *def = airmix_error_find(AIRMIX_DOMAIN_RTC, code);
	struct engine_notice n = {
		.event = "rtc.error",
		.domain = AIRMIX_DOMAIN_RTC,
		.code = code,
		.level = !def ? AIRMIX_LEVEL_ERROR : def->level == AIRMIX_LEVEL_INFO ?
			 AIRMIX_LEVEL_WARNING : def->level,
		.subject = subject,
		.request = request,
		.message = msg,
	};

	if (r->e)
		engine_notify(r->e, &n);
}

static int vfail(struct rooms *r, int code, const char *room, const char *user,
		 const char *request, char *msg, size_t len, const char *fmt, va_list ap)
{
	char subject[2 * RTC_ID_MAX + 2];

	vsnprintf(msg, len, fmt, ap);
	subject_of(room, user, subject, sizeof(subject));
	report(r, code, subject, request, msg);
	return code;
}

static int fail(struct rooms_session *s, int code, const char *request, char *msg, size_t len,
		const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A refused request: msg, a history row with the session's room/user. */
static int fail(struct rooms_session *s, int code, const char *request, char *msg, size_t len,
		const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(s->r, code, s->m ? s->m->room->id : "", s->m ? s->m->user : "", request, msg,
		   len, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail_at(struct rooms *r, int code, const char *room, const char *user,
		   const char *request, char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));

/* A refused request for a room/user the session is not in (yet). */
static int fail_at(struct rooms *r, int code, const char *room, const char *user,
		   const char *request, char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(r, code, room, user, request, msg, len, fmt, ap);
	va_end(ap);
	return rc;
}

static json_t *error_json(int code, const char *msg)
{
	const struct airmix_error_def *def = airmix_error_find(AIRMIX_DOMAIN_RTC, code);

	return json_pack("{s:s,s:i,s:s,s:s}", "domain", "rtc", "code", code, "name",
			 def ? def->name : "UNKNOWN", "message", msg);
}

/* Sends {"event": name, "data": data} to a session (takes data). */
static void send_event(struct rooms_session *s, const char *name, json_t *data)
{
	json_t *j = json_pack("{s:s,s:o}", "event", name, "data", data ? data : json_object());
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (text && s && !s->timed_out)
		s->ops.send(s->conn, text, strlen(text));
	free(text);
	json_decref(j);
}

/* An error that reaches a member without a request: event and history. */
static void member_error(struct member *m, const char *event, int code, const char *request,
			 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void member_error(struct member *m, const char *event, int code, const char *request,
			 const char *fmt, ...)
{
	char msg[512], subject[2 * RTC_ID_MAX + 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	subject_of(m->room->id, m->user, subject, sizeof(subject));
	report(m->s->r, code, subject, request, msg);
	send_event(m->s, event, json_pack("{s:s,s:s,s:o}", "room", m->room->id, "user", m->user,
					  "error", error_json(code, msg)));
}

static void broadcast(struct room *room, const struct member *except, const char *name,
		      json_t *data)
{
	for (struct member *o = room->members; o; o = o->next)
		if (o != except)
			send_event(o->s, name, json_deep_copy(data));
	json_decref(data);
}

/* An INFO notice for the admin's event stream (not stored). */
static void notice(struct rooms *r, const char *event, const struct member *m)
{
	char subject[2 * RTC_ID_MAX + 2];
	struct engine_notice n = {
		.event = event,
		.domain = AIRMIX_DOMAIN_RTC,
		.code = 0,
		.level = AIRMIX_LEVEL_INFO,
		.name = event,
		.subject = subject,
		.message = event,
	};

	subject_of(m->room->id, m->user, subject, sizeof(subject));
	if (r->e)
		engine_notify(r->e, &n);
}

static struct room *find_room(struct rooms *r, const char *id)
{
	for (struct room *room = r->rooms; room; room = room->next)
		if (!strcmp(room->id, id))
			return room;
	return NULL;
}

static struct member *find_member(struct room *room, const char *user)
{
	for (struct member *m = room->members; m; m = m->next)
		if (!strcmp(m->user, user))
			return m;
	return NULL;
}

static struct room *add_room(struct rooms *r, const char *id, bool by_admin)
{
	struct room *room;

	if (r->n_rooms >= ROOMS_MAX_ROOMS || !(room = calloc(1, sizeof(*room))))
		return NULL;
	snprintf(room->id, sizeof(room->id), "%s", id);
	room->by_admin = by_admin;
	room->next = r->rooms;
	r->rooms = room;
	r->n_rooms++;
	return room;
}

static void free_room(struct rooms *r, struct room *room)
{
	for (struct room **p = &r->rooms; *p; p = &(*p)->next) {
		if (*p == room) {
			*p = room->next;
			r->n_rooms--;
			free(room);
			return;
		}
	}
}

/* ---- streams */

static void close_sub(struct rooms *r, struct member *m, unsigned i)
{
	if (r->media)
		rtc_media_return_close(r->media, m->subs[i].return_id);
	m->subs[i] = m->subs[--m->n_subs];
}

static int find_sub(const struct member *m, const char *stream)
{
	for (unsigned i = 0; i < m->n_subs; i++)
		if (!strcmp(m->subs[i].stream, stream))
			return (int)i;
	return -1;
}

/* The member's track goes: its subscribers lose it, everyone hears of it. */
static void stop_track(struct rooms *r, struct member *m, const char *reason)
{
	if (!m->publishing)
		return;
	if (m->peer) {
		int i = find_sub(m, PROGRAMME);

		if (i >= 0)
			close_sub(r, m, (unsigned)i);	/* it went to the peer */
		webrtc_peer_destroy(m->peer);
		m->peer = NULL;
	}
	if (r->media)
		rtc_media_unpublish(r->media, m->track_id);
	for (struct member *o = m->room->members; o; o = o->next) {
		int i = find_sub(o, m->user);

		if (i >= 0)
			close_sub(r, o, (unsigned)i);
	}
	m->publishing = false;
	m->pub_pending = false;
	m->room->streams--;
	broadcast(m->room, NULL, "user_unpublished", json_pack("{s:s,s:s,s:I,s:s}", "room",
		  m->room->id, "user", m->user, "track_id", (json_int_t)m->track_id, "reason",
		  reason));
}

static void close_subs(struct rooms *r, struct member *m)
{
	while (m->n_subs)
		close_sub(r, m, m->n_subs - 1);
}

/* Leaving with something pending: OPERATION_CANCEL for each. Returns how many. */
static int cancel_pending(struct member *m, const char *request)
{
	int n = 0;

	if (m->publishing && m->pub_pending) {
		member_error(m, "error", RTC_OPERATION_CANCEL, request,
			     "publish cancelled by leaving before its first packet arrived");
		n++;
	}
	for (unsigned i = 0; i < m->n_subs; i++) {
		if (!m->subs[i].pending)
			continue;
		member_error(m, "error", RTC_OPERATION_CANCEL, request,
			     "subscribe to %s cancelled by leaving before it started",
			     m->subs[i].stream);
		n++;
	}
	return n;
}

/* The member leaves its room (the session stays). */
static void remove_member(struct rooms *r, struct member *m, const char *reason)
{
	struct room *room = m->room;

	stop_track(r, m, reason);
	close_subs(r, m);
	for (struct member **p = &room->members; *p; p = &(*p)->next) {
		if (*p == m) {
			*p = m->next;
			break;
		}
	}
	if (m->visible) {
		room->visible--;
		broadcast(room, NULL, "user_left", json_pack("{s:s,s:s,s:s}", "room", room->id,
			  "user", m->user, "reason", reason));
	}
	notice(r, "rtc.user_left", m);
	m->s->m = NULL;
	free(m);
	if (!room->members && !room->by_admin)
		free_room(r, room);
}

/* ---- create / destroy */

/* Browser guests need GStreamer's WebRTC elements, loaded at the first
 * offer (a daemon that never sees one never loads them): without them
 * only browser guests are refused (RTP guests still join), and the
 * history says why. */
static void start_webrtc(struct rooms *r)
{
	char why[200];

	if (r->webrtc_tried)
		return;
	r->webrtc_tried = true;
	if (!r->cfg.webrtc_enabled) {
		snprintf(r->webrtc_why, sizeof(r->webrtc_why),
			 "browser guests are turned off ([webrtc] enabled = false)");
		return;
	}
	if (webrtc_init(why, sizeof(why)) < 0) {
		snprintf(r->webrtc_why, sizeof(r->webrtc_why), "browser guests cannot be taken: %s",
			 why);
		report(r, RTC_NOT_SUPPORTED, "webrtc", "startup", r->webrtc_why);
		return;
	}
	r->webrtc_ok = true;
}

int rooms_create(struct engine *e, struct rtc_media *media, const struct rooms_config *cfg,
		 struct rooms **out, char *err, size_t errlen)
{
	struct rooms *r;

	if (cfg->max_users < 1 || cfg->max_users > ROOMS_MAX_USERS ||
	    cfg->max_streams < 1 || cfg->max_streams > ROOMS_MAX_STREAMS) {
		snprintf(err, errlen, "rooms: max_users must be 1..%d and max_streams 1..%d "
			 "(the limits of the reference; they can only be lowered)",
			 ROOMS_MAX_USERS, ROOMS_MAX_STREAMS);
		return -EINVAL;
	}
	if (cfg->app_id[0] && strlen(cfg->app_id) != TOKEN_APP_ID_LEN) {
		snprintf(err, errlen, "rooms: app_id must be %d characters", TOKEN_APP_ID_LEN);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "rooms: out of memory");
		return -ENOMEM;
	}
	r->e = e;
	r->media = media;
	r->cfg = *cfg;
	r->clock = system_clock;
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

void rooms_destroy(struct rooms *r)
{
	if (!r)
		return;
	while (r->sessions)
		rooms_session_close(r->sessions);
	while (r->rooms)
		free_room(r, r->rooms);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void rooms_set_clock(struct rooms *r, rooms_clock_fn fn, void *user)
{
	pthread_mutex_lock(&r->lock);
	r->clock = fn ? fn : system_clock;
	r->clock_user = user;
	pthread_mutex_unlock(&r->lock);
}

const struct rooms_config *rooms_config(const struct rooms *r)
{
	return &r->cfg;
}

/* ---- sessions */

struct rooms_session *rooms_session_open(struct rooms *r, const struct rooms_conn_ops *ops,
					 void *conn, const char *local_host)
{
	struct rooms_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->r = r;
	s->ops = *ops;
	s->conn = conn;
	snprintf(s->local_host, sizeof(s->local_host), "%s", local_host ? local_host : "");
	pthread_mutex_lock(&r->lock);
	s->last_seen_ms = now_mono(r);
	s->next = r->sessions;
	r->sessions = s;
	pthread_mutex_unlock(&r->lock);
	return s;
}

/* A user whose connection closed without a leave: a history row says who
 * and how. */
static void dropped(struct rooms *r, const struct member *m)
{
	char subject[2 * RTC_ID_MAX + 2], msg[512];
	struct engine_notice n = {
		.event = "rtc.user_dropped",
		.domain = AIRMIX_DOMAIN_RTC,
		.level = AIRMIX_LEVEL_WARNING,
		.name = "USER_DROPPED",
		.subject = subject,
		.request = "connection closed",
		.message = msg,
	};

	subject_of(m->room->id, m->user, subject, sizeof(subject));
	snprintf(msg, sizeof(msg), "user %s left room %s without saying so: their %s connection "
		 "closed%s", m->user, m->room->id, m->peer ? "browser (WebRTC)" : "signalling",
		 m->publishing ? ", their track is gone" : "");
	if (r->e)
		engine_notify(r->e, &n);
}

void rooms_session_close(struct rooms_session *s)
{
	struct rooms *r;

	if (!s)
		return;
	r = s->r;
	pthread_mutex_lock(&r->lock);
	s->timed_out = true;	/* nothing more is sent on a closed connection */
	if (s->m) {
		cancel_pending(s->m, "connection closed");
		dropped(r, s->m);
		remove_member(r, s->m, "dropped");
	}
	for (struct rooms_session **p = &r->sessions; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	free(s);
}

void rooms_session_touch(struct rooms_session *s)
{
	pthread_mutex_lock(&s->r->lock);
	s->last_seen_ms = now_mono(s->r);
	pthread_mutex_unlock(&s->r->lock);
}

void rooms_session_report(struct rooms_session *s, int code, const char *request,
			  const char *msg)
{
	char subject[2 * RTC_ID_MAX + 2];

	pthread_mutex_lock(&s->r->lock);
	subject_of(s->m ? s->m->room->id : "", s->m ? s->m->user : "", subject,
		   sizeof(subject));
	report(s->r, code, subject, request, msg);
	pthread_mutex_unlock(&s->r->lock);
}

/* ---- join, leave, update_token */

static json_t *users_of(const struct room *room, const struct member *except)
{
	json_t *arr = json_array();

	for (const struct member *o = room->members; o; o = o->next)
		if (o != except && o->visible)
			json_array_append_new(arr, json_pack("{s:s,s:b}", "user", o->user,
							     "publishing", o->publishing));
	return arr;
}

/* Checks a token for room/user; 0 or a message. */
static int check_token(struct rooms *r, const char *text, const char *room, const char *user,
		       struct token *t, char *msg, size_t len)
{
	char why[256];

	if (!r->cfg.app_id[0]) {
		snprintf(msg, len, "this server has no [rtc] app_id: tokens cannot be verified");
		return -1;
	}
	if (token_verify(text, r->cfg.app_id, r->cfg.app_key, now_unix(r), t, why,
			 sizeof(why)) != TOKEN_OK) {
		snprintf(msg, len, "%s", why);
		return -1;
	}
	if (strcmp(t->room, room) || strcmp(t->user, user)) {
		snprintf(msg, len, "token is for room %s user %s, not room %s user %s", t->room,
			 t->user, room, user);
		return -1;
	}
	return 0;
}

/* The same user id in the room from another session: that one is kicked. */
static void kick_duplicate(struct rooms *r, struct member *old, const char *request)
{
	member_error(old, "duplicate_login", RTC_DUPLICATE_LOGIN, request,
		     "user %s joined room %s again from another connection", old->user,
		     old->room->id);
	remove_member(r, old, "duplicate_login");
}


/* stun://host:port and turn://user:pass@host:port as RTCIceServer objects
 * for the browser (the config has checked their form). */
static json_t *ice_servers_json(const struct webrtc_config *w)
{
	json_t *arr = json_array();
	char user[WEBRTC_SERVER_MAX], pass[WEBRTC_SERVER_MAX], host[WEBRTC_SERVER_MAX];
	char url[WEBRTC_SERVER_MAX + 8];

	if (w->stun_server[0] && sscanf(w->stun_server, "stun://%511s", host) == 1) {
		snprintf(url, sizeof(url), "stun:%s", host);
		json_array_append_new(arr, json_pack("{s:s}", "urls", url));
	}
	if (w->turn_server[0] &&
	    (sscanf(w->turn_server, "turn://%511[^:]:%511[^@]@%511s", user, pass, host) == 3 ||
	     sscanf(w->turn_server, "turns://%511[^:]:%511[^@]@%511s", user, pass, host) == 3)) {
		snprintf(url, sizeof(url), "%s:%s", strncmp(w->turn_server, "turns:", 6) ? "turn" :
			 "turns", host);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "urls", url, "username",
						     user, "credential", pass));
	}
	return arr;
}

static int join_locked(struct rooms_session *s, const struct rooms_join_req *rq,
		       const char *request, json_t **data, char *msg, size_t len)
{
	struct rooms *r = s->r;
	struct room *room;
	struct member *m, *old;
	struct token t;
	char why[512], token_user[sizeof(t.user)];
	const char *user = rq->user;

	if (s->m)
		return fail(s, RTC_REPEAT_JOIN, request, msg, len,
			    "already in room %s as %s: leave first", s->m->room->id, s->m->user);
	if (!rooms_id_valid(rq->room, "room", why, sizeof(why)))
		return fail_at(r, RTC_ROOM_ID_ILLEGAL, "", "", request, msg, len, "%s", why);
	if (!user) {	/* the token's user: a guest's link carries only the token */
		if (token_parse(rq->token, &t, why, sizeof(why)) != TOKEN_OK)
			return fail_at(r, RTC_INVALID_TOKEN, rq->room, "", request, msg, len,
				       "%s", why);
		snprintf(token_user, sizeof(token_user), "%s", t.user);
		user = token_user;
	}
	if (!rooms_id_valid(user, "user", why, sizeof(why)))
		return fail_at(r, RTC_INVALID_PARAMS, rq->room, "", request, msg, len, "%s", why);
	if (check_token(r, rq->token, rq->room, user, &t, why, sizeof(why)))
		return fail_at(r, RTC_INVALID_TOKEN, rq->room, user, request, msg, len, "%s",
			       why);
	room = find_room(r, rq->room);
	if (!room && !r->cfg.auto_create)
		return fail_at(r, RTC_JOIN_ROOM_FAILED, rq->room, t.user, request, msg, len,
			       "room %s does not exist (rooms are created by the admin API)",
			       rq->room);
	old = room ? find_member(room, t.user) : NULL;
	if (rq->visible && room && room->visible - (old && old->visible) >= r->cfg.max_users)
		return fail_at(r, RTC_OVER_USER_LIMIT, rq->room, t.user, request, msg, len,
			       "room %s already holds %u visible users (max_users)", rq->room,
			       r->cfg.max_users);
	if (!room && !(room = add_room(r, rq->room, false)))
		return fail_at(r, RTC_JOIN_ROOM_FAILED, rq->room, t.user, request, msg, len,
			       "no room can be added: %d rooms at most", ROOMS_MAX_ROOMS);
	m = calloc(1, sizeof(*m));
	if (!m) {
		if (!room->members && !room->by_admin)
			free_room(r, room);
		return fail_at(r, RTC_JOIN_ROOM_FAILED, rq->room, t.user, request, msg, len,
			       "out of memory");
	}
	if (old) {
		bool keep = room->by_admin;

		room->by_admin = true;	/* the room outlives its only member here */
		kick_duplicate(r, old, request);
		room->by_admin = keep;
	}
	m->room = room;
	m->s = s;
	snprintf(m->user, sizeof(m->user), "%s", t.user);
	m->visible = rq->visible;
	m->on_air = !rq->green_room;
	m->tok = t;
	m->next = room->members;
	room->members = m;
	s->m = m;
	if (m->visible) {
		room->visible++;
		broadcast(room, m, "user_joined", json_pack("{s:s,s:s}", "room", room->id, "user",
							    m->user));
	}
	notice(r, "rtc.user_joined", m);
	*data = json_pack("{s:s,s:s,s:b,s:b,s:I,s:o,s:{s:b,s:o}}", "room", room->id, "user",
			  m->user, "visible", m->visible, "on_air", m->on_air, "expire_at",
			  (json_int_t)t.expire_at, "users", users_of(room, m), "webrtc",
			  "enabled", r->cfg.webrtc_enabled, "ice_servers", ice_servers_json(&r->cfg.webrtc));
	return RTC_OK;
}

int rooms_join(struct rooms_session *s, const struct rooms_join_req *rq, const char *request,
	       json_t **data, char *msg, size_t len)
{
	int rc;

	pthread_mutex_lock(&s->r->lock);
	rc = join_locked(s, rq, request, data, msg, len);
	pthread_mutex_unlock(&s->r->lock);
	return rc;
}

int rooms_leave(struct rooms_session *s, const char *request, json_t **data, char *msg,
		size_t len)
{
	int cancelled = 0;
	bool was_in = false;

	pthread_mutex_lock(&s->r->lock);
	if (s->m) {
		was_in = true;
		cancelled = cancel_pending(s->m, request);
		remove_member(s->r, s->m, "quit");
	}
	pthread_mutex_unlock(&s->r->lock);
	*data = json_pack("{s:b,s:i}", "left", was_in, "cancelled", cancelled);
	return RTC_OK;
}

static int update_token_locked(struct rooms_session *s, const char *token, const char *request,
			       json_t **data, char *msg, size_t len)
{
	struct member *m = s->m;
	struct token t;
	char why[512];

	if (!m)
		return fail(s, RTC_UPDATE_TOKEN_BEFORE_JOIN, request, msg, len,
			    "update_token before join: join a room first");
	if (check_token(s->r, token, m->room->id, m->user, &t, why, sizeof(why)))
		return fail(s, RTC_UPDATE_TOKEN_WITH_INVALID_TOKEN, request, msg, len, "%s", why);
	m->tok = t;
	m->warned_join = m->warned_pub = m->warned_sub = false;
	*data = json_pack("{s:I}", "expire_at", (json_int_t)t.expire_at);
	return RTC_OK;
}

int rooms_update_token(struct rooms_session *s, const char *token, const char *request,
		       json_t **data, char *msg, size_t len)
{
	int rc;

	pthread_mutex_lock(&s->r->lock);
	rc = update_token_locked(s, token, request, data, msg, len);
	pthread_mutex_unlock(&s->r->lock);
	return rc;
}

/* ---- publish, subscribe */

static void addr_text(const struct sockaddr_storage *a, char *host, size_t len, uint16_t *port)
{
	const void *in = a->ss_family == AF_INET6 ?
		(const void *)&((const struct sockaddr_in6 *)a)->sin6_addr :
		(const void *)&((const struct sockaddr_in *)a)->sin_addr;

	if (!inet_ntop(a->ss_family == AF_INET6 ? AF_INET6 : AF_INET, in, host, (socklen_t)len))
		snprintf(host, len, "?");
	*port = ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port :
		      ((const struct sockaddr_in *)a)->sin_port);
}

static bool addr_any(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)a)->sin6_addr);
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
}

/* What "programme" is for a member: on air the publish bus without them; in
 * the green room the playout bus without them (what the engineer hears,
 * talkback included). */
static enum rtc_return_source programme_source(const struct member *m)
{
	return m->on_air ? RTC_RETURN_MIX_MINUS : RTC_RETURN_TALKBACK;
}

/* A programme subscription opened before the member published carries
 * their own voice: it is reopened without it, and the publish reply gives
 * the new return (data["programme"]). */
static void reopen_programme(struct rooms *r, struct member *m, json_t *data)
{
	struct rtc_return_spec spec = { .source = programme_source(m) };
	struct rtc_return_stats st = { 0 };
	int i = find_sub(m, PROGRAMME);
	struct sub *sub;
	uint32_t id;

	if (i < 0)
		return;
	sub = &m->subs[i];
	spec.track_id = m->track_id;
	spec.to = sub->to;
	if (rtc_media_return_open(r->media, &spec, &id) < 0)
		return;		/* the old return keeps going */
	rtc_media_return_close(r->media, sub->return_id);
	rtc_media_return_stats(r->media, id, &st);
	sub->return_id = id;
	sub->ssrc = st.ssrc;
	sub->pending = true;
	json_object_set_new(data, "programme", json_pack("{s:I,s:I}", "return_id",
			    (json_int_t)id, "ssrc", (json_int_t)st.ssrc));
}

static int publish_locked(struct rooms_session *s, const struct rooms_publish_req *rq,
			  const char *request, json_t **data, char *msg, size_t len)
{
	struct rooms *r = s->r;
	struct member *m = s->m;
	struct rtc_track_spec spec = { 0 };
	struct rtc_endpoint ep = { 0 };
	char host[INET6_ADDRSTRLEN];
	uint16_t port;
	int rc;

	if (!m)
		return fail(s, RTC_NOT_CONNECTED_YET, request, msg, len,
			    "publish before join: join a room first");
	if (!m->visible)
		return fail(s, RTC_NO_PUBLISH_PERMISSION, request, msg, len,
			    "user %s joined invisible and cannot publish", m->user);
	if (!token_can_publish(&m->tok, now_unix(r), NULL))
		return fail(s, RTC_TOKEN_NO_PUBLISH_PERMISSION, request, msg, len,
			    "the token carries no valid publish privilege: update it");
	if (m->publishing)
		return fail(s, RTC_INVALID_PARAMS, request, msg, len,
			    "already publishing track %u: unpublish first", m->track_id);
	if (rq->volume < 0 || rq->volume > 400 || (rq->channels != 1 && rq->channels != 2))
		return fail(s, RTC_INVALID_PARAMS, request, msg, len,
			    "volume must be 0..400 and channels 1 or 2");
	if (m->room->streams >= r->cfg.max_streams)
		return fail(s, RTC_OVER_STREAM_PUBLISH_LIMIT, request, msg, len,
			    "room %s already has %u published streams (max_streams)",
			    m->room->id, r->cfg.max_streams);
	if (!r->media)
		return fail(s, RTC_PUBLISH_FAILED, request, msg, len,
			    "remote tracks are not running on this server");
	snprintf(spec.room, sizeof(spec.room), "%s", m->room->id);
	snprintf(spec.user, sizeof(spec.user), "%s", m->user);
	spec.ssrc = rq->ssrc;
	spec.from_set = rq->from_set;
	spec.from = rq->from;
	spec.channels = rq->channels;
	spec.buses = m->on_air ? ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT : ENGINE_TO_PLAYOUT;
	spec.gain = (float)rq->volume / 100.0f;
	rc = rtc_media_publish(r->media, &spec, &m->track_id, &m->node_id, &ep);
	if (rc < 0)
		return fail(s, RTC_PUBLISH_FAILED, request, msg, len, "publishing failed: %s",
			    strerror(-rc));
	m->publishing = true;
	m->pub_pending = true;
	m->from_set = rq->from_set;
	m->from = rq->from;
	m->track_addr = ep.addr;
	m->room->streams++;
	addr_text(&ep.addr, host, sizeof(host), &port);
	if (addr_any(&ep.addr) && s->local_host[0])
		snprintf(host, sizeof(host), "%s", s->local_host);
	broadcast(m->room, m, "user_published", json_pack("{s:s,s:s,s:I}", "room", m->room->id,
		  "user", m->user, "track_id", (json_int_t)m->track_id));
	*data = json_pack("{s:I,s:I,s:s,s:i,s:I}", "track_id", (json_int_t)m->track_id,
			  "node_id", (json_int_t)m->node_id, "host", host, "port", (int)ep.port,
			  "ssrc", (json_int_t)rq->ssrc);
	if (rq->from_set) {
		char from[INET6_ADDRSTRLEN + 8];

		addr_text(&rq->from, host, sizeof(host), &port);
		snprintf(from, sizeof(from), rq->from.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
			 host, port);
		json_object_set_new(*data, "source", json_string(from));
	} else {
		json_object_set_new(*data, "source", json_null());	/* the first sender */
	}
	reopen_programme(r, m, *data);
	return RTC_OK;
}

int rooms_publish(struct rooms_session *s, const struct rooms_publish_req *rq,
		  const char *request, json_t **data, char *msg, size_t len)
{
	int rc;

	pthread_mutex_lock(&s->r->lock);
	rc = publish_locked(s, rq, request, data, msg, len);
	pthread_mutex_unlock(&s->r->lock);
	return rc;
}

int rooms_unpublish(struct rooms_session *s, const char *request, json_t **data, char *msg,
		    size_t len)
{
	int rc = RTC_OK;

	pthread_mutex_lock(&s->r->lock);
	if (!s->m) {
		rc = fail(s, RTC_NOT_CONNECTED_YET, request, msg, len,
			  "unpublish before join: join a room first");
	} else if (!s->m->publishing) {
		rc = fail(s, RTC_STREAM_NOT_EXIST, request, msg, len,
			  "user %s is not publishing", s->m->user);
	} else {
		*data = json_pack("{s:I}", "track_id", (json_int_t)s->m->track_id);
		stop_track(s->r, s->m, "unpublish");
	}
	pthread_mutex_unlock(&s->r->lock);
	return rc;
}

static int subscribe_locked(struct rooms_session *s, const struct rooms_subscribe_req *rq,
			    const char *request, json_t **data, char *msg, size_t len)
{
	struct rooms *r = s->r;
	struct member *m = s->m, *target = NULL;
	struct rtc_return_spec spec = { 0 };
	struct rtc_return_stats st = { 0 };
	struct sub *sub;
	char why[256];
	int rc;

	if (!m)
		return fail(s, RTC_NOT_CONNECTED_YET, request, msg, len,
			    "subscribe before join: join a room first");
	if (!token_can_subscribe(&m->tok, now_unix(r), NULL))
		return fail(s, RTC_TOKEN_NO_SUBSCRIBE_PERMISSION, request, msg, len,
			    "the token carries no valid subscribe privilege: update it");
	if (strcmp(rq->stream, PROGRAMME) && !rooms_id_valid(rq->stream, "stream", why,
							      sizeof(why)))
		return fail(s, RTC_INVALID_PARAMS, request, msg, len,
			    "%s (or \"programme\")", why);
	if (find_sub(m, rq->stream) >= 0)
		return fail(s, RTC_INVALID_PARAMS, request, msg, len,
			    "already subscribed to %s", rq->stream);
	if (m->n_subs >= ROOMS_MAX_SUBSCRIPTIONS)
		return fail(s, RTC_OVER_STREAM_SUBSCRIBE_LIMIT, request, msg, len,
			    "%d subscriptions at most", ROOMS_MAX_SUBSCRIPTIONS);
	if (strcmp(rq->stream, PROGRAMME)) {
		target = find_member(m->room, rq->stream);
		if (target == m)
			return fail(s, RTC_INVALID_PARAMS, request, msg, len,
				    "subscribe to programme to hear the mix: your own stream "
				    "cannot be subscribed");
		if (!target || !target->publishing || !target->visible)
			return fail(s, RTC_STREAM_NOT_EXIST, request, msg, len,
				    "no stream %s in room %s", rq->stream, m->room->id);
	}
	if (!rq->to_set && !m->from_set)
		return fail(s, RTC_INVALID_PARAMS, request, msg, len,
			    "give addr \"ip:port\" to send to (or publish with addr first)");
	if (!r->media)
		return fail(s, RTC_UNEXPECTED_ERROR, request, msg, len,
			    "remote tracks are not running on this server");
	spec.source = target ? RTC_RETURN_TRACK : programme_source(m);
	spec.track_id = target ? target->track_id : m->publishing ? m->track_id : 0;
	spec.to = rq->to_set ? rq->to : m->from;
	spec.payload_type = rq->payload_type;
	sub = &m->subs[m->n_subs];
	rc = rtc_media_return_open(r->media, &spec, &sub->return_id);
	if (rc < 0)
		return fail(s, RTC_UNEXPECTED_ERROR, request, msg, len,
			    "the return could not be opened: %s", strerror(-rc));
	rtc_media_return_stats(r->media, sub->return_id, &st);
	snprintf(sub->stream, sizeof(sub->stream), "%s", rq->stream);
	sub->ssrc = st.ssrc;
	sub->pending = true;
	sub->to = spec.to;
	m->n_subs++;
	*data = json_pack("{s:s,s:I,s:I}", "stream", rq->stream, "return_id",
			  (json_int_t)sub->return_id, "ssrc", (json_int_t)sub->ssrc);
	return RTC_OK;
}

int rooms_subscribe(struct rooms_session *s, const struct rooms_subscribe_req *rq,
		    const char *request, json_t **data, char *msg, size_t len)
{
	int rc;

	pthread_mutex_lock(&s->r->lock);
	rc = subscribe_locked(s, rq, request, data, msg, len);
	pthread_mutex_unlock(&s->r->lock);
	return rc;
}

int rooms_unsubscribe(struct rooms_session *s, const char *stream, const char *request,
		      json_t **data, char *msg, size_t len)
{
	int rc = RTC_OK, i;

	pthread_mutex_lock(&s->r->lock);
	if (!s->m) {
		rc = fail(s, RTC_NOT_CONNECTED_YET, request, msg, len,
			  "unsubscribe before join: join a room first");
	} else if ((i = find_sub(s->m, stream)) < 0) {
		rc = fail(s, RTC_STREAM_NOT_EXIST, request, msg, len,
			  "not subscribed to %.128s", stream);
	} else {
		*data = json_pack("{s:I}", "return_id", (json_int_t)s->m->subs[i].return_id);
		close_sub(s->r, s->m, (unsigned)i);
	}
	pthread_mutex_unlock(&s->r->lock);
	return rc;
}

/* ---- browser guests (WebRTC) and the green room */

/* Where the peer sends the guest's RTP: the track's socket, on the
 * loopback when it listens on every address. */
static int track_target(const struct member *m, struct sockaddr_storage *to)
{
	struct sockaddr_in *in = (struct sockaddr_in *)to;

	*to = m->track_addr;
	if (to->ss_family != AF_INET)
		return -EAFNOSUPPORT;
	if (in->sin_addr.s_addr == htonl(INADDR_ANY))
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return 0;
}

static uint32_t random_ssrc(void)
{
	uint32_t v = 0;

	while (!v)
		v = (uint32_t)random() ^ ((uint32_t)random() << 16);
	return v;
}

/* The peer is made, the track published from it, the programme returned to
 * it (when the token allows), and then the peer starts. */
static int webrtc_offer_locked(struct rooms_session *s, const char *sdp, const char *request,
			       json_t **data, char *msg, size_t len)
{
	struct rooms *r = s->r;
	struct member *m = s->m;
	struct webrtc_peer *peer = NULL;
	struct webrtc_peer_info info;
	struct rooms_publish_req pub = { .from_set = true, .volume = 100 };
	struct rooms_subscribe_req sub = { .stream = PROGRAMME, .to_set = true };
	struct sockaddr_storage to;
	json_t *sub_data = NULL;
	char why[512];
	int rc;

	if (!m)
		return fail(s, RTC_NOT_CONNECTED_YET, request, msg, len,
			    "webrtc_offer before join: join a room first");
	start_webrtc(r);
	if (!r->webrtc_ok)
		return fail(s, RTC_NOT_SUPPORTED, request, msg, len, "%s", r->webrtc_why);
	if (m->publishing)
		return fail(s, RTC_INVALID_PARAMS, request, msg, len,
			    "already publishing track %u: unpublish first", m->track_id);
	if (find_sub(m, PROGRAMME) >= 0)
		return fail(s, RTC_INVALID_PARAMS, request, msg, len,
			    "already subscribed to the programme over RTP: unsubscribe first");
	rc = webrtc_peer_create(&r->cfg.webrtc, sdp, &peer, why, sizeof(why));
	if (rc < 0)
		return fail(s, rc == -EINVAL ? RTC_INVALID_PARAMS : RTC_ADD_TRANSCEIVER_FAILED,
			    request, msg, len, "%s", why);
	webrtc_peer_info(peer, &info);
	pub.ssrc = random_ssrc();
	pub.from = info.from;
	pub.channels = info.channels;
	rc = publish_locked(s, &pub, request, data, msg, len);
	if (rc != RTC_OK) {
		webrtc_peer_destroy(peer);
		return rc;
	}
	m->peer = peer;
	if (track_target(m, &to) < 0) {
		json_decref(*data);
		*data = NULL;
		stop_track(r, m, "webrtc_failed");
		return fail(s, RTC_PUBLISH_FAILED, request, msg, len,
			    "browser guests need [rtp] bind_address to be an IPv4 address");
	}
	if (token_can_subscribe(&m->tok, now_unix(r), NULL)) {
		sub.to = info.return_to;
		sub.payload_type = info.payload_type;
		if (subscribe_locked(s, &sub, request, &sub_data, why, sizeof(why)) == RTC_OK)
			json_object_set_new(*data, "programme", sub_data);
	}
	if (webrtc_peer_start(peer, &to, pub.ssrc, why, sizeof(why)) < 0) {
		json_decref(*data);
		*data = NULL;
		stop_track(r, m, "webrtc_failed");
		return fail(s, RTC_PUBLISH_FAILED, request, msg, len, "%s", why);
	}
	json_object_set_new(*data, "on_air", json_boolean(m->on_air));
	return RTC_OK;
}

int rooms_webrtc_offer(struct rooms_session *s, const char *sdp, const char *request,
		       json_t **data, char *msg, size_t len)
{
	int rc;

	pthread_mutex_lock(&s->r->lock);
	rc = webrtc_offer_locked(s, sdp, request, data, msg, len);
	pthread_mutex_unlock(&s->r->lock);
	return rc;
}

int rooms_webrtc_ice(struct rooms_session *s, unsigned mline, const char *candidate,
		     const char *request, json_t **data, char *msg, size_t len)
{
	char why[256];
	int rc = RTC_OK;

	pthread_mutex_lock(&s->r->lock);
	if (!s->m || !s->m->peer)
		rc = fail(s, RTC_INVALID_PARAMS, request, msg, len,
			  "an ICE candidate before webrtc_offer: send the offer first");
	else if (webrtc_peer_add_ice(s->m->peer, mline, candidate, why, sizeof(why)) < 0)
		rc = fail(s, RTC_INVALID_PARAMS, request, msg, len, "%s", why);
	else
		*data = json_object();
	pthread_mutex_unlock(&s->r->lock);
	return rc;
}

/* On air: the track feeds the programme and the guest hears the programme
 * without themselves; in the green room the track feeds the playout bus
 * only (the engineer hears the guest, the audience does not) and the guest
 * hears the playout bus without themselves: the engineer's talkback. */
static int set_on_air(struct rooms *r, struct member *m, bool on_air)
{
	uint32_t buses = on_air ? ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT : ENGINE_TO_PLAYOUT;
	int i = find_sub(m, PROGRAMME);

	if (m->on_air == on_air)
		return 0;
	if (m->publishing && r->e && engine_set_buses(r->e, m->node_id, buses) < 0)
		return -EIO;
	m->on_air = on_air;
	if (i >= 0 && r->media)
		rtc_media_return_set_source(r->media, m->subs[i].return_id, programme_source(m));
	broadcast(m->room, NULL, "on_air", json_pack("{s:s,s:s,s:b}", "room", m->room->id,
		  "user", m->user, "on_air", on_air));
	notice(r, on_air ? "rtc.user_on_air" : "rtc.user_green_room", m);
	return 0;
}

int rooms_on_air(struct rooms_session *s, bool on_air, const char *request, json_t **data,
		 char *msg, size_t len)
{
	int rc = RTC_OK;

	pthread_mutex_lock(&s->r->lock);
	if (!s->m)
		rc = fail(s, RTC_NOT_CONNECTED_YET, request, msg, len,
			  "on_air before join: join a room first");
	else if (set_on_air(s->r, s->m, on_air) < 0)
		rc = fail(s, RTC_UNEXPECTED_ERROR, request, msg, len,
			  "the track's buses could not be changed");
	else
		*data = json_pack("{s:b}", "on_air", on_air);
	pthread_mutex_unlock(&s->r->lock);
	return rc;
}

int rooms_set_on_air(struct rooms *r, const char *id, const char *user, bool on_air,
		     const char *request)
{
	struct room *room;
	struct member *m = NULL;
	int rc = -ENOENT;

	(void)request;
	pthread_mutex_lock(&r->lock);
	room = find_room(r, id);
	if (room)
		m = find_member(room, user);
	if (m)
		rc = set_on_air(r, m, on_air);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* The peer's events to its guest; a failed connection loses the track. */
static void tick_peer(struct rooms *r, struct member *m)
{
	struct webrtc_event ev;
	bool failed = false;

	while (m->peer && !failed && webrtc_peer_next_event(m->peer, &ev)) {
		switch (ev.kind) {
		case WEBRTC_EVENT_ANSWER:
			send_event(m->s, "webrtc_answer", json_pack("{s:s}", "sdp", ev.text));
			break;
		case WEBRTC_EVENT_CANDIDATE:
			send_event(m->s, "webrtc_ice", json_pack("{s:s,s:i}", "candidate", ev.text,
								 "mline", (int)ev.mline));
			break;
		case WEBRTC_EVENT_STATE:
			send_event(m->s, "webrtc_state", json_pack("{s:s}", "state", ev.text));
			if (!strcmp(ev.text, "failed")) {
				member_error(m, "error", RTC_PUBLISH_FAILED, "webrtc",
					     "the browser connection failed: ICE found no path "
					     "between the guest and this server");
				failed = true;
			}
			break;
		case WEBRTC_EVENT_FAILED:
			member_error(m, "error", RTC_PUBLISH_FAILED, "webrtc",
				     "the browser connection failed: %s", ev.text);
			failed = true;
			break;
		}
		free(ev.text);
	}
	if (failed)
		stop_track(r, m, "webrtc_failed");
}

/* ---- timers */

/* Warns once, token_warning_s before expire (0 = never). */
static void maybe_warn(struct member *m, bool *warned, const char *privilege, uint32_t expire,
		       uint32_t now)
{
	uint32_t warn = m->s->r->cfg.token_warning_s;

	if (*warned || !expire || now + warn < expire)
		return;
	*warned = true;
	member_error(m, "token_will_expire", RTC_TOKEN_WILL_EXPIRE, "",
		     "the %s privilege of the token expires in %u s: update_token", privilege,
		     expire > now ? expire - now : 0);
}

/* One member's token; false when the member was removed. */
static bool tick_token(struct rooms *r, struct member *m, uint32_t now)
{
	uint32_t e;

	if (m->tok.expire_at && now >= m->tok.expire_at) {
		member_error(m, "token_expired", RTC_TOKEN_EXPIRED, "",
			     "the token expired while in room %s", m->room->id);
		remove_member(r, m, "token_expired");
		return false;
	}
	maybe_warn(m, &m->warned_join, "join", m->tok.expire_at, now);
	if (m->publishing) {
		if (!token_can_publish(&m->tok, now, &e)) {
			member_error(m, "error", RTC_TOKEN_NO_PUBLISH_PERMISSION, "",
				     "the publish privilege expired: the track is removed");
			stop_track(r, m, "token_expired");
		} else {
			maybe_warn(m, &m->warned_pub, "publish", e, now);
		}
	}
	if (m->n_subs) {
		if (!token_can_subscribe(&m->tok, now, &e)) {
			member_error(m, "error", RTC_TOKEN_NO_SUBSCRIBE_PERMISSION, "",
				     "the subscribe privilege expired: subscriptions are closed");
			close_subs(r, m);
		} else {
			maybe_warn(m, &m->warned_sub, "subscribe", e, now);
		}
	}
	return true;
}

static void tick_pending(struct rooms *r, struct member *m)
{
	struct rtc_track_stats ts;
	struct rtc_return_stats rs;

	if (!r->media)
		return;
	if (m->publishing && m->pub_pending &&
	    rtc_media_track_stats(r->media, m->track_id, &ts) == 0 && ts.packets)
		m->pub_pending = false;
	for (unsigned i = 0; i < m->n_subs; i++)
		if (m->subs[i].pending &&
		    rtc_media_return_stats(r->media, m->subs[i].return_id, &rs) == 0 &&
		    rs.packets)
			m->subs[i].pending = false;
}

static void tick_timeouts(struct rooms *r, int64_t mono)
{
	for (struct rooms_session *s = r->sessions; s; s = s->next) {
		if (s->timed_out || mono - s->last_seen_ms < r->cfg.signalling_timeout_ms)
			continue;
		if (s->m) {
			member_error(s->m, "error", RTC_TIME_OUT, "",
				     "no signalling from the client for %u ms",
				     r->cfg.signalling_timeout_ms);
			remove_member(r, s->m, "timeout");
		} else {
			report(r, RTC_TIME_OUT, "", "", "no signalling from the client");
			send_event(s, "error", json_pack("{s:o}", "error", error_json(RTC_TIME_OUT,
				   "no signalling from the client")));
		}
		s->ops.close(s->conn);
		s->timed_out = true;
	}
}

void rooms_tick(struct rooms *r)
{
	int64_t mono, unix_s;
	struct room *room, *next_room;

	pthread_mutex_lock(&r->lock);
	r->clock(r->clock_user, &mono, &unix_s);
	tick_timeouts(r, mono);
	for (room = r->rooms; room; room = next_room) {
		struct member *m = room->members, *next;

		next_room = room->next;
		/* removing the last member of an auto room frees the room: the
		 * loop has then already read next (NULL) */
		for (; m; m = next) {
			next = m->next;
			tick_peer(r, m);
			if (tick_token(r, m, (uint32_t)unix_s))
				tick_pending(r, m);
		}
	}
	pthread_mutex_unlock(&r->lock);
}

/* ---- administration */

int rooms_create_room(struct rooms *r, const char *id, const char *request, char *msg,
		      size_t len)
{
	struct room *room;
	char why[256];
	int rc = RTC_OK;

	pthread_mutex_lock(&r->lock);
	if (!rooms_id_valid(id, "room", why, sizeof(why)))
		rc = fail_at(r, RTC_ROOM_ID_ILLEGAL, "", "", request, msg, len, "%s", why);
	else if ((room = find_room(r, id)) && room->by_admin)
		rc = fail_at(r, RTC_ROOM_ALREADY_EXIST, id, "", request, msg, len,
			     "room %s already exists", id);
	else if (room)
		room->by_admin = true;	/* an auto room becomes permanent */
	else if (!add_room(r, id, true))
		rc = fail_at(r, RTC_INVALID_PARAMS, id, "", request, msg, len,
			     "no room can be added: %d rooms at most", ROOMS_MAX_ROOMS);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static json_t *member_json(struct rooms *r, const struct member *m)
{
	json_t *j = json_pack("{s:s,s:b,s:b,s:b,s:s,s:I}", "user", m->user, "visible",
			      m->visible, "publishing", m->publishing, "on_air", m->on_air,
			      "transport", m->peer ? "webrtc" : "rtp", "expire_at",
			      (json_int_t)m->tok.expire_at);
	json_t *subs = json_array();
	struct rtc_track_stats st;

	if (m->publishing) {
		json_object_set_new(j, "track_id", json_integer(m->track_id));
		json_object_set_new(j, "node_id", json_integer(m->node_id));
		json_object_set_new(j, "pending", json_boolean(m->pub_pending));
		if (r->media && rtc_media_track_stats(r->media, m->track_id, &st) == 0)
			json_object_set_new(j, "stats", json_pack(
				"{s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:f,s:f,s:b}",
				"packets", (json_int_t)st.packets, "lost", (json_int_t)st.lost,
				"late", (json_int_t)st.late, "duplicates",
				(json_int_t)st.duplicates, "dropped", (json_int_t)st.dropped,
				"jitter_ms", st.jitter_ms, "buffer_ms", st.buffer_ms, "delay_ms",
				st.delay_ms, "plc_frames", (json_int_t)st.plc_frames, "fec_frames",
				(json_int_t)st.fec_frames, "dtx_frames", (json_int_t)st.dtx_frames,
				"underruns", (json_int_t)st.underruns, "drift_ppm", st.drift_ppm,
				"ahead_ms", st.ahead_ms, "receiving", st.receiving));
	}
	if (m->peer)	/* what the browser connection handed to the track */
		json_object_set_new(j, "webrtc_packets",
				    json_integer((json_int_t)webrtc_peer_packets(m->peer)));
	for (unsigned i = 0; i < m->n_subs; i++)
		json_array_append_new(subs, json_pack("{s:s,s:I,s:I,s:b}", "stream",
			m->subs[i].stream, "return_id", (json_int_t)m->subs[i].return_id, "ssrc",
			(json_int_t)m->subs[i].ssrc, "pending", m->subs[i].pending));
	json_object_set_new(j, "subscriptions", subs);
	return j;
}

static json_t *room_json(struct rooms *r, const struct room *room, bool with_users)
{
	json_t *j = json_pack("{s:s,s:i,s:i,s:b}", "room", room->id, "visible_users",
			      (int)room->visible, "streams", (int)room->streams, "by_admin",
			      room->by_admin);
	json_t *users = json_array();
	int n = 0;

	for (const struct member *m = room->members; m; m = m->next, n++)
		if (with_users)
			json_array_append_new(users, member_json(r, m));
	json_object_set_new(j, "users_total", json_integer(n));
	if (with_users)
		json_object_set_new(j, "users", users);
	else
		json_decref(users);
	return j;
}

json_t *rooms_list_json(struct rooms *r)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&r->lock);
	for (struct room *room = r->rooms; room; room = room->next)
		json_array_append_new(arr, room_json(r, room, false));
	pthread_mutex_unlock(&r->lock);
	return arr;
}

json_t *rooms_room_json(struct rooms *r, const char *id)
{
	struct room *room;
	json_t *j = NULL;

	pthread_mutex_lock(&r->lock);
	room = find_room(r, id);
	if (room)
		j = room_json(r, room, true);
	pthread_mutex_unlock(&r->lock);
	return j;
}

json_t *rooms_users_json(struct rooms *r, const char *id)
{
	json_t *j = rooms_room_json(r, id), *users;

	if (!j)
		return NULL;
	users = json_incref(json_object_get(j, "users"));
	json_decref(j);
	return users;
}

int rooms_dismiss(struct rooms *r, const char *id, const char *request)
{
	struct room *room;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	room = find_room(r, id);
	if (!room) {
		rc = -ENOENT;
	} else {
		room->by_admin = true;	/* freed below, not by the last removal */
		while (room->members) {
			struct member *m = room->members;

			member_error(m, "room_dismissed", RTC_ROOM_DISMISS, request,
				     "room %s was dismissed by the admin", room->id);
			remove_member(r, m, "room_dismissed");
		}
		free_room(r, room);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int rooms_kick(struct rooms *r, const char *id, const char *user, const char *request)
{
	struct room *room;
	struct member *m = NULL;

	pthread_mutex_lock(&r->lock);
	room = find_room(r, id);
	if (room)
		m = find_member(room, user);
	if (m) {
		member_error(m, "kicked", RTC_KICKED_OUT, request,
			     "kicked out of room %s by the admin", room->id);
		remove_member(r, m, "kicked");
	}
	pthread_mutex_unlock(&r->lock);
	return m ? 0 : -ENOENT;
}

int rooms_user_node(struct rooms *r, const char *id, const char *user, uint32_t *node_id)
{
	struct room *room;
	struct member *m = NULL;
	int rc = -ENOENT;

	pthread_mutex_lock(&r->lock);
	room = find_room(r, id);
	if (room)
		m = find_member(room, user);
	if (m && !m->publishing)
		rc = -ENODATA;
	else if (m) {
		*node_id = m->node_id;
		rc = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int rooms_issue_token(struct rooms *r, const char *room, const char *user, uint32_t expire_s,
		      bool publish, bool subscribe, char *out, size_t outlen, char *msg,
		      size_t len)
{
	uint32_t now, expire;
	struct token t;
	int n;

	if (!r->cfg.app_id[0]) {
		snprintf(msg, len, "this server has no [rtc] app_id and app_key to sign with");
		return -EINVAL;
	}
	if (!rooms_id_valid(room, "room", msg, len) || !rooms_id_valid(user, "user", msg, len))
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	now = now_unix(r);
	pthread_mutex_unlock(&r->lock);
	expire = expire_s ? now + expire_s : 0;
	token_init(&t, r->cfg.app_id, room, user, now, expire);
	if (publish)
		token_add_privilege(&t, TOKEN_PRIV_PUBLISH_STREAM, expire);
	if (subscribe)
		token_add_privilege(&t, TOKEN_PRIV_SUBSCRIBE_STREAM, expire);
	n = token_issue(&t, r->cfg.app_key, out, outlen);
	if (n < 0) {
		snprintf(msg, len, "the token could not be issued: %s", strerror(-n));
		return n;
	}
	return 0;
}
