/* forward.c - cross-room forwarding (forward.h).
 *
 * DESIGN
 * The forwarder keeps a fixed table of source rooms, each with up to four
 * target slots; slots are never freed while the forwarder lives, so a
 * connection can point at its slot. One mutex (recursive: libwebsockets may
 * call back from inside lws_client_connect_via_info) guards the table.
 *
 * The signalling clients run on a libwebsockets context of their own,
 * serviced by the forwarder's own thread, not on the admin server's: lws
 * resolves client host names synchronously, so a slow DNS answer or a
 * target that hangs would otherwise stall the REST API and the /rtc
 * sessions of this very daemon, and a target on this same airmixd talks to
 * the server thread like any other client. wss:// targets go through a TLS
 * client context of the forwarder's own (tls_flags says what is checked).
 * Only the forwarder thread calls into lws (and into the media layer for
 * the returns); the verbs change the table under the mutex, bump a slot's
 * generation when what it must do changed, and wake the thread with
 * lws_cancel_service() (thread-safe).
 *
 * Per slot, the thread runs: wait (backoff) -> connect -> join -> publish
 * -> live (media return open, a ping every second). Any failure drops the
 * connection and the return; RESPONSE (unreachable, server error, timeout,
 * closed) retries with a backoff doubling from backoff_min_ms to
 * backoff_max_ms; INVALID_TOKEN, REMOTE_KICKED, NOT_SUPPORT and
 * INVALID_ARGUMENT hold the slot in Failure until an update gives it a new
 * token. Pause drops every connection (the target sees the user unpublish
 * and leave); resume connects again.
 *
 * Threads: the verbs and the JSON views on any non-RT thread; the rest on
 * the forwarder thread.
 */
#include "engine/rtc/forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/rtc/rooms.h"

/* As in rooms.c: until the media layer is linked in, its functions are weak
 * references and every call is behind a check of f->media. */
#pragma weak rtc_media_return_open
#pragma weak rtc_media_return_close
#pragma weak rtc_media_return_stats

#define TICK_US (50 * 1000)
#define PING_MS 1000
#define OUT_MAX 4		/* queued frames per connection */
#define FRAME_MAX 2048
#define RX_MAX 16384
#define ID_JOIN 1
#define ID_PUBLISH 2
#define ID_TOKEN 3

enum phase {
	PH_WAIT,		/* connect when next_try_ms comes */
	PH_CONNECTING,
	PH_JOINING,
	PH_PUBLISHING,
	PH_LIVE,
	PH_HALTED,		/* a refusal: wait for an update */
};

struct slot {
	struct source *src;
	bool in_use;
	struct forward_target cfg;
	unsigned gen, conn_gen;	/* conn_gen: the generation being served */
	int state, error;
	enum phase phase;
	struct lws *wsi;
	int64_t deadline_ms, next_try_ms, next_ping_ms;
	uint32_t backoff_ms;
	bool was_live;
	bool token_update;	/* send update_token on the live connection */
	uint32_t ssrc, return_id;
	bool return_open;
	char out[OUT_MAX][LWS_PRE + FRAME_MAX];
	size_t out_len[OUT_MAX];
	unsigned out_head, out_n;
	char *rx;
	size_t rx_len;
	char tls_refusal[128];	/* why OpenSSL refused the target's certificate */
};

struct source {
	bool in_use;
	char room[RTC_ID_MAX + 1];
	char user[RTC_ID_MAX + 1];
	char track[RTC_ID_MAX + 1];
	bool paused;
	struct slot slots[FORWARD_MAX_TARGETS];
};

struct forward {
	struct engine *e;
	struct rtc_media *media;
	struct forward_config cfg;
	pthread_mutex_t lock;
	struct lws_context *ctx;
	SSL_CTX *tls;		/* for wss:// targets; lws uses it, we free it */
	lws_sorted_usec_list_t sul;
	pthread_t thread;
	bool thread_started;
	atomic_bool quit;
	bool destroying;
	struct source sources[FORWARD_MAX_SOURCES];
};

static const char *const state_names[] = { "Idle", "Success", "Failure" };
static const char *const event_names[] = { "Disconnected", "Connected", "Interrupt",
					   "DstRoomUpdated", "UnExpectAPICall" };
static const char *const event_codes[] = {
	"FORWARD_STREAM_EVENT_DISCONNECTED", "FORWARD_STREAM_EVENT_CONNECTED",
	"FORWARD_STREAM_EVENT_INTERRUPT", "FORWARD_STREAM_EVENT_DST_ROOM_UPDATED",
	"FORWARD_STREAM_EVENT_UNEXPECT_API_CALL",
};

const char *forward_state_name(int state)
{
	return state >= 0 && state <= FORWARD_STATE_FAILURE ? state_names[state] : "Unknown";
}

const char *forward_event_name(int event)
{
	return event >= 0 && event <= FORWARD_EVENT_UNEXPECT_API_CALL ? event_names[event] :
	       "Unknown";
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(struct forward *f)
{
	if (f->ctx)
		lws_cancel_service(f->ctx);
}

/* ---- notices */

static void subject_of(const struct source *src, const char *target, char *buf, size_t len)
{
	if (target && *target)
		snprintf(buf, len, "%s->%s", src->room, target);
	else
		snprintf(buf, len, "%s", src->room);
}

static void notify(struct forward *f, const char *event, int code, enum airmix_level level,
		   const char *name, const char *subject, const char *request, json_t *data,
		   const char *msg)
{
	char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
	struct engine_notice n = {
		.event = event,
		.domain = AIRMIX_DOMAIN_FORWARD_STREAM,
		.code = code,
		.level = level,
		.name = name,
		.subject = subject,
		.message = msg,
		.request = request ? request : "",
		.data_json = text,
	};

	if (f->e)
		engine_notify(f->e, &n);
	free(text);
	json_decref(data);
}

/* A ForwardStreamEvent for one target room ("" = all of them). */
static void send_event(struct forward *f, const struct source *src, const char *target,
		       int event, const char *request, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static void send_event(struct forward *f, const struct source *src, const char *target,
		       int event, const char *request, const char *fmt, ...)
{
	char msg[512], subject[2 * RTC_ID_MAX + 4];
	int used = snprintf(msg, sizeof(msg), "%s: ", forward_event_name(event));
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg + used, sizeof(msg) - (size_t)used, fmt, ap);
	va_end(ap);
	subject_of(src, target, subject, sizeof(subject));
	notify(f, "forward_stream.event", 0,
	       event == FORWARD_EVENT_UNEXPECT_API_CALL || event == FORWARD_EVENT_INTERRUPT ?
	       AIRMIX_LEVEL_WARNING : AIRMIX_LEVEL_STATE, event_codes[event], subject, request,
	       json_pack("{s:s,s:s,s:i,s:s}", "room", src->room, "target", target ? target : "",
			 "event", event, "event_name", forward_event_name(event)), msg);
}

/* Sets a slot's state and error; a notice (and history row) when either
 * changed, so that a target retried for hours leaves one row, not one per
 * attempt. */
static void set_state(struct forward *f, struct slot *s, int state, int error,
		      const char *request, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static void set_state(struct forward *f, struct slot *s, int state, int error,
		      const char *request, const char *fmt, ...)
{
	const struct airmix_error_def *def = airmix_error_find(AIRMIX_DOMAIN_FORWARD_STREAM,
							       error);
	char msg[768], subject[2 * RTC_ID_MAX + 4];
	int used;
	va_list ap;

	if (s->state == state && s->error == error)
		return;
	s->state = state;
	s->error = error;
	used = snprintf(msg, sizeof(msg), "%s: ", forward_state_name(state));
	va_start(ap, fmt);
	vsnprintf(msg + used, sizeof(msg) - (size_t)used, fmt, ap);
	va_end(ap);
	subject_of(s->src, s->cfg.room, subject, sizeof(subject));
	notify(f, "forward_stream.state", error,
	       state == FORWARD_STATE_FAILURE ? AIRMIX_LEVEL_ERROR : AIRMIX_LEVEL_STATE,
	       def ? def->name : "UNKNOWN", subject, request,
	       json_pack("{s:s,s:s,s:i,s:s,s:i}", "room", s->src->room, "target", s->cfg.room,
			 "state", state, "state_name", forward_state_name(state), "error", error),
	       msg);
}

/* ---- connections (forwarder thread) */

static void drop_return(struct forward *f, struct slot *s)
{
	if (s->return_open && f->media)
		rtc_media_return_close(f->media, s->return_id);
	s->return_open = false;
}

/* Forgets the connection (closing it asynchronously) and the return. */
static void drop_conn(struct forward *f, struct slot *s)
{
	drop_return(f, s);
	if (s->wsi) {
		lws_set_opaque_user_data(s->wsi, NULL);
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		s->wsi = NULL;
	}
	s->out_n = 0;
	free(s->rx);
	s->rx = NULL;
	s->rx_len = 0;
}

/* A failure worth retrying: Failure now, a new attempt after the backoff. */
static void retry(struct forward *f, struct slot *s, int error, const char *why)
{
	bool was_live = s->phase == PH_LIVE;

	drop_conn(f, s);
	s->phase = PH_WAIT;
	s->next_try_ms = now_ms() + s->backoff_ms;
	set_state(f, s, FORWARD_STATE_FAILURE, error, NULL, "target %s: %s; retrying in %u ms",
		  s->cfg.room, why, s->backoff_ms);
	s->backoff_ms = s->backoff_ms * 2 > f->cfg.backoff_max_ms ? f->cfg.backoff_max_ms :
			s->backoff_ms * 2;
	if (was_live)
		send_event(f, s->src, s->cfg.room, FORWARD_EVENT_DISCONNECTED, NULL,
			   "lost the target: %s", why);
}

/* A refusal: Failure until an update. */
static void halt(struct forward *f, struct slot *s, int error, const char *why)
{
	bool was_live = s->phase == PH_LIVE;

	drop_conn(f, s);
	s->phase = PH_HALTED;
	set_state(f, s, FORWARD_STATE_FAILURE, error, NULL, "target %s: %s", s->cfg.room, why);
	if (was_live)
		send_event(f, s->src, s->cfg.room, FORWARD_EVENT_DISCONNECTED, NULL,
			   "lost the target: %s", why);
}

static void queue_json(struct slot *s, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t len = text ? strlen(text) : 0;
	unsigned i = (s->out_head + s->out_n) % OUT_MAX;

	json_decref(j);
	if (!text || len > FRAME_MAX || s->out_n == OUT_MAX || !s->wsi) {
		free(text);
		return;
	}
	memcpy(s->out[i] + LWS_PRE, text, len);
	s->out_len[i] = len;
	s->out_n++;
	free(text);
	lws_callback_on_writable(s->wsi);
}

static bool is_self(const struct forward *f, const struct forward_target *t)
{
	return !t->host[0] || ((!strcmp(t->host, f->cfg.self_host) ||
				!strcmp(t->host, "127.0.0.1") || !strcmp(t->host, "localhost")) &&
			       t->port == f->cfg.self_port);
}

/* A wss:// target's certificate must be trusted (ca_file, else the system's
 * CAs) and name its host. A target given without a url is this airmixd's
 * own listener, reached at the address it bound, so its certificate, made
 * for the name the world uses, is not checked. */
static int tls_flags(const struct forward *f, const struct forward_target *t)
{
	if (t->host[0])
		return t->tls ? LCCSCF_USE_SSL : 0;
	return f->cfg.self_tls ? LCCSCF_USE_SSL | LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_INSECURE |
					 LCCSCF_ALLOW_EXPIRED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK
			       : 0;
}

static void start_connect(struct forward *f, struct slot *s)
{
	const struct forward_target *t = &s->cfg;
	const char *host = t->host[0] ? t->host : f->cfg.self_host;
	struct lws_client_connect_info ci = { 0 };
	struct lws *wsi;

	ci.context = f->ctx;
	ci.address = host;
	ci.port = t->host[0] ? t->port : f->cfg.self_port;
	ci.path = t->path[0] ? t->path : "/rtc";
	ci.host = host;
	ci.origin = host;
	ci.local_protocol_name = "airmix-forward";
	ci.ssl_connection = tls_flags(f, t);
	ci.opaque_user_data = s;
	ci.ietf_version_or_minus_one = -1;
	s->phase = PH_CONNECTING;
	s->deadline_ms = now_ms() + f->cfg.timeout_ms;
	s->wsi = NULL;
	s->tls_refusal[0] = '\0';
	wsi = lws_client_connect_via_info(&ci);
	if (s->phase != PH_CONNECTING)
		return;		/* failed inside the call: already handled */
	if (!wsi) {
		retry(f, s, FORWARD_RESPONSE, "cannot connect");
		return;
	}
	s->wsi = wsi;
}

/* The source's audio for a slot: the programme, or the track forwarded. */
static int return_spec(struct forward *f, struct slot *s, uint32_t target_track,
		       struct rtc_return_spec *rs, char *why, size_t len)
{
	struct rooms *r = f->e ? engine_rooms(f->e) : NULL;
	json_t *room, *users, *u;
	size_t i;

	rs->ssrc = s->ssrc;
	if (!s->src->track[0]) {
		/* a target on this daemon hears the programme without itself */
		rs->source = is_self(f, &s->cfg) ? RTC_RETURN_MIX_MINUS : RTC_RETURN_PROGRAMME;
		rs->track_id = is_self(f, &s->cfg) ? target_track : 0;
		return 0;
	}
	room = r ? rooms_room_json(r, s->src->room) : NULL;
	users = json_object_get(room, "users");
	rs->source = RTC_RETURN_TRACK;
	rs->track_id = 0;
	json_array_foreach(users, i, u)
		if (json_is_string(json_object_get(u, "user")) &&
		    !strcmp(json_string_value(json_object_get(u, "user")), s->src->track))
			rs->track_id = (uint32_t)json_integer_value(json_object_get(u, "track_id"));
	json_decref(room);
	if (!rs->track_id) {
		snprintf(why, len, "user %s no longer publishes in room %s", s->src->track,
			 s->src->room);
		return -1;
	}
	return 0;
}

static int parse_host(const char *host, uint16_t port, struct sockaddr_storage *a)
{
	struct sockaddr_in *in = (struct sockaddr_in *)a;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)a;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return 0;
	}
	return -1;
}

/* The target accepted the publish: send it the audio. */
static void go_live(struct forward *f, struct slot *s, json_t *data)
{
	const char *host = json_string_value(json_object_get(data, "host"));
	json_int_t port = json_integer_value(json_object_get(data, "port"));
	uint32_t track = (uint32_t)json_integer_value(json_object_get(data, "track_id"));
	struct rtc_return_spec rs = { 0 };
	char why[300];
	int rc;

	if (!host || port < 1 || port > 65535 || parse_host(host, (uint16_t)port, &rs.to)) {
		retry(f, s, FORWARD_RESPONSE, "the publish answer names no usable host and port");
		return;
	}
	if (!f->media) {
		retry(f, s, FORWARD_RESPONSE, "remote tracks are not running on this server");
		return;
	}
	if (return_spec(f, s, track, &rs, why, sizeof(why))) {
		retry(f, s, FORWARD_RESPONSE, why);
		return;
	}
	rc = rtc_media_return_open(f->media, &rs, &s->return_id);
	if (rc < 0) {
		snprintf(why, sizeof(why), "cannot send the audio: %s", strerror(-rc));
		retry(f, s, FORWARD_RESPONSE, why);
		return;
	}
	s->return_open = true;
	s->phase = PH_LIVE;
	s->was_live = true;
	s->backoff_ms = f->cfg.backoff_min_ms;
	s->next_ping_ms = now_ms() + PING_MS;
	set_state(f, s, FORWARD_STATE_SUCCESS, FORWARD_OK, NULL,
		  "forwarding to room %s as user %s (RTP to %s:%d, ssrc %u)", s->cfg.room,
		  s->src->user, host, (int)port, s->ssrc);
	send_event(f, s->src, s->cfg.room, FORWARD_EVENT_CONNECTED, NULL,
		   "user %s publishes in room %s", s->src->user, s->cfg.room);
}

/* The target's rtc code as a ForwardStreamError. */
static int map_code(int rtc)
{
	switch (rtc) {
	case RTC_INVALID_TOKEN:
	case RTC_UPDATE_TOKEN_WITH_INVALID_TOKEN:
	case RTC_TOKEN_EXPIRED:
		return FORWARD_INVALID_TOKEN;
	case RTC_NO_PUBLISH_PERMISSION:
	case RTC_TOKEN_NO_PUBLISH_PERMISSION:
	case RTC_OVER_STREAM_PUBLISH_LIMIT:
	case RTC_OVER_USER_LIMIT:
	case -1025:		/* ROOM_FORBIDDEN */
	case -1026:		/* USER_FORBIDDEN */
		return FORWARD_NOT_SUPPORT;
	case RTC_ROOM_ID_ILLEGAL:
	case RTC_INVALID_PARAMS:
		return FORWARD_INVALID_ARGUMENT;
	case RTC_DUPLICATE_LOGIN:
	case RTC_KICKED_OUT:
		return FORWARD_REMOTE_KICKED;
	default:
		return FORWARD_RESPONSE;
	}
}

static void on_refusal(struct forward *f, struct slot *s, json_t *err, const char *what)
{
	int rtc = (int)json_integer_value(json_object_get(err, "code"));
	const char *name = json_string_value(json_object_get(err, "name"));
	const char *text = json_string_value(json_object_get(err, "message"));
	int code = map_code(rtc);
	char why[600];

	snprintf(why, sizeof(why), "%s refused: %s %d: %s", what, name ? name : "?", rtc,
		 text ? text : "");
	if (code == FORWARD_RESPONSE)
		retry(f, s, code, why);
	else
		halt(f, s, code, why);
}

static void on_reply(struct forward *f, struct slot *s, json_int_t id, json_t *msg)
{
	bool ok = json_is_true(json_object_get(msg, "ok"));
	json_t *err = json_object_get(msg, "error");

	if (id == ID_JOIN && s->phase == PH_JOINING) {
		if (!ok) {
			on_refusal(f, s, err, "join");
			return;
		}
		s->phase = PH_PUBLISHING;
		s->deadline_ms = now_ms() + f->cfg.timeout_ms;
		queue_json(s, json_pack("{s:i,s:s,s:I,s:i}", "id", ID_PUBLISH, "op", "publish",
					"ssrc", (json_int_t)s->ssrc, "channels", 2));
	} else if (id == ID_PUBLISH && s->phase == PH_PUBLISHING) {
		if (!ok)
			on_refusal(f, s, err, "publish");
		else
			go_live(f, s, json_object_get(msg, "data"));
	} else if (id == ID_TOKEN && !ok) {
		on_refusal(f, s, err, "update_token");
	}
}

static void on_event(struct forward *f, struct slot *s, const char *name, json_t *data)
{
	int code = (int)json_integer_value(json_object_get(json_object_get(data, "error"),
							   "code"));

	if (!strcmp(name, "duplicate_login")) {
		send_event(f, s->src, s->cfg.room, FORWARD_EVENT_INTERRUPT, NULL,
			   "user %s joined room %s from elsewhere", s->src->user, s->cfg.room);
		halt(f, s, FORWARD_REMOTE_KICKED, "the same user id joined the target room");
	} else if (!strcmp(name, "kicked")) {
		halt(f, s, FORWARD_REMOTE_KICKED, "the target room kicked the forwarding user");
	} else if (!strcmp(name, "token_expired") ||
		   (!strcmp(name, "error") && code == RTC_TOKEN_NO_PUBLISH_PERMISSION)) {
		halt(f, s, FORWARD_INVALID_TOKEN, "the token or its publish privilege expired in "
		     "the target room: update it");
	} else if (!strcmp(name, "room_dismissed")) {
		retry(f, s, FORWARD_RESPONSE, "the target room was dismissed");
	} else if (!strcmp(name, "error") && code == RTC_TIME_OUT) {
		retry(f, s, FORWARD_RESPONSE, "the target timed the session out");
	}
}

static void on_message(struct forward *f, struct slot *s, const char *text, size_t len)
{
	json_t *msg = json_loadb(text, len, 0, NULL);
	json_t *id = json_object_get(msg, "id");
	json_t *ev = json_object_get(msg, "event");

	if (json_is_string(ev))
		on_event(f, s, json_string_value(ev), json_object_get(msg, "data"));
	else if (json_is_integer(id))
		on_reply(f, s, json_integer_value(id), msg);
	else
		retry(f, s, FORWARD_RESPONSE, "the target answered something that is not rtc "
		      "signalling");
	json_decref(msg);
}

static void on_receive(struct forward *f, struct slot *s, struct lws *wsi, const char *in,
		       size_t len)
{
	char *bigger;

	if (s->rx_len + len > RX_MAX || !(bigger = realloc(s->rx, s->rx_len + len + 1))) {
		retry(f, s, FORWARD_RESPONSE, "the target sent a message too large");
		return;
	}
	s->rx = bigger;
	memcpy(s->rx + s->rx_len, in, len);
	s->rx_len += len;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return;
	bigger = s->rx;
	len = s->rx_len;
	s->rx = NULL;
	s->rx_len = 0;
	on_message(f, s, bigger, len);
	free(bigger);
}

static void on_established(struct forward *f, struct slot *s)
{
	uint32_t ssrc = 0;

	while (!ssrc && getrandom(&ssrc, sizeof(ssrc), 0) == sizeof(ssrc))
		;
	s->ssrc = ssrc ? ssrc : 0x41524d58;
	s->phase = PH_JOINING;
	s->deadline_ms = now_ms() + f->cfg.timeout_ms;
	queue_json(s, json_pack("{s:i,s:s,s:s,s:s,s:s}", "id", ID_JOIN, "op", "join", "token",
				s->cfg.token, "room", s->cfg.room, "user", s->src->user));
}

static int on_writable(struct slot *s, struct lws *wsi)
{
	unsigned i = s->out_head;

	if (!s->out_n)
		return 0;
	if (lws_write(wsi, (unsigned char *)s->out[i] + LWS_PRE, s->out_len[i],
		      LWS_WRITE_TEXT) < (int)s->out_len[i])
		return -1;
	s->out_head = (s->out_head + 1) % OUT_MAX;
	s->out_n--;
	if (s->out_n)
		lws_callback_on_writable(wsi);
	return 0;
}

/* A certificate check's verdict (preverify_ok, with the X509_STORE_CTX):
 * lws would only report "SSL err 1", so remember why OpenSSL refused. */
static void note_cert_refusal(struct slot *s, X509_STORE_CTX *store, size_t preverify_ok)
{
	if (s && !preverify_ok)
		snprintf(s->tls_refusal, sizeof(s->tls_refusal), "%s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct forward *f = lws_context_user(lws_get_context(wsi));
	struct slot *s = lws_get_opaque_user_data(wsi);
	int ret = 0;
	char why[300];

	if (!f)
		return 0;
	pthread_mutex_lock(&f->lock);
	if (f->destroying)
		goto out;
	if (reason == LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION) {
		note_cert_refusal(s, user, len);
		goto out;	/* 0: OpenSSL's verdict stands */
	}
	if (reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR) {
		if (s && (s->wsi == wsi || (!s->wsi && s->phase == PH_CONNECTING))) {
			s->wsi = NULL;
			if (s->tls_refusal[0])
				snprintf(why, sizeof(why), "cannot reach the target: its TLS "
					 "certificate is refused: %s", s->tls_refusal);
			else
				snprintf(why, sizeof(why), "cannot reach the target: %.200s",
					 in ? (const char *)in : "connection failed");
			retry(f, s, FORWARD_RESPONSE, why);
		}
		goto out;
	}
	if (!s || (s->wsi && s->wsi != wsi)) {
		ret = reason == LWS_CALLBACK_CLIENT_CLOSED ? 0 : (s ? -1 : 0);
		goto out;
	}
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->wsi = wsi;
		on_established(f, s);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		on_receive(f, s, wsi, in, len);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		ret = on_writable(s, wsi);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		s->wsi = NULL;
		if (s->phase != PH_HALTED && s->phase != PH_WAIT)
			retry(f, s, FORWARD_RESPONSE, "the target closed the connection");
		break;
	default:
		break;
	}
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

/* What one slot must do now. */
static void serve_slot(struct forward *f, struct slot *s, int64_t now)
{
	bool wanted = s->src->in_use && s->in_use && !s->src->paused;

	if (!wanted || s->conn_gen != s->gen) {
		drop_conn(f, s);
		if (s->conn_gen != s->gen) {
			s->conn_gen = s->gen;
			s->phase = PH_WAIT;
			s->next_try_ms = now;
			s->backoff_ms = f->cfg.backoff_min_ms;
		}
		if (!wanted) {
			if (s->phase != PH_HALTED)
				s->phase = PH_WAIT;
			return;
		}
	}
	switch (s->phase) {
	case PH_WAIT:
		if (now >= s->next_try_ms)
			start_connect(f, s);
		break;
	case PH_CONNECTING:
	case PH_JOINING:
	case PH_PUBLISHING:
		if (now > s->deadline_ms)
			retry(f, s, FORWARD_RESPONSE, "no answer in time");
		break;
	case PH_LIVE:
		if (s->token_update) {
			s->token_update = false;
			queue_json(s, json_pack("{s:i,s:s,s:s}", "id", ID_TOKEN, "op",
						"update_token", "token", s->cfg.token));
		}
		if (now >= s->next_ping_ms) {
			s->next_ping_ms = now + PING_MS;
			queue_json(s, json_pack("{s:i,s:s}", "id", 0, "op", "ping"));
		}
		break;
	case PH_HALTED:
		break;
	}
}

static void serve_all(struct forward *f)
{
	int64_t now = now_ms();

	pthread_mutex_lock(&f->lock);
	for (unsigned i = 0; i < FORWARD_MAX_SOURCES; i++)
		for (unsigned j = 0; j < FORWARD_MAX_TARGETS; j++)
			serve_slot(f, &f->sources[i].slots[j], now);
	pthread_mutex_unlock(&f->lock);
}

static void tick(lws_sorted_usec_list_t *sul)
{
	struct forward *f = lws_container_of(sul, struct forward, sul);

	serve_all(f);
	lws_sul_schedule(f->ctx, 0, &f->sul, tick, TICK_US);
}

static int protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		       void *in, size_t len)
{
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		struct forward *f = lws_context_user(lws_get_context(wsi));

		if (f && !atomic_load(&f->quit))
			serve_all(f);
		return 0;
	}
	return callback(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{ "airmix-forward", protocol_cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void *thread_main(void *arg)
{
	struct forward *f = arg;

	lws_sul_schedule(f->ctx, 0, &f->sul, tick, TICK_US);
	while (!atomic_load(&f->quit))
		if (lws_service(f->ctx, 0) < 0)
			break;
	return NULL;
}

/* The TLS client context of wss:// targets: ca_file's CAs, else the
 * system's. Ours, not lws's: libwebsockets 4.1.6 loses track of the one it
 * makes once another TLS context (the admin server's) starts after it, and
 * never frees it. */
static SSL_CTX *client_tls(const struct forward_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *tls = SSL_CTX_new(TLS_client_method());

	if (!tls) {
		snprintf(err, errlen, "cannot create the forwarder's TLS context: out of memory");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION);
	if (!cfg->ca_file[0]) {
		SSL_CTX_set_default_verify_paths(tls);	/* absent paths are no error */
		ERR_clear_error();
		return tls;
	}
	if (SSL_CTX_load_verify_locations(tls, cfg->ca_file, NULL) != 1) {
		snprintf(err, errlen, "forward_ca_file %s is not a file of PEM certificates",
			 cfg->ca_file);
		ERR_clear_error();
		SSL_CTX_free(tls);
		return NULL;
	}
	return tls;
}

int forward_create(struct engine *e, struct rtc_media *media, const struct forward_config *cfg,
		   struct forward **out, char *err, size_t errlen)
{
	struct lws_context_creation_info info = { 0 };
	pthread_mutexattr_t ma;
	struct forward *f;
	int rc = -ENOMEM;

	if (cfg->backoff_min_ms < 1 || cfg->backoff_max_ms < cfg->backoff_min_ms ||
	    cfg->timeout_ms < 100) {
		snprintf(err, errlen, "forward backoff and timeout must be positive and ordered");
		return -EINVAL;
	}
	if (cfg->ca_file[0] && access(cfg->ca_file, R_OK) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot read forward_ca_file %s: %s", cfg->ca_file,
			 strerror(-rc));
		return rc;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	f->e = e;
	f->media = media;
	f->cfg = *cfg;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&f->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	for (unsigned i = 0; i < FORWARD_MAX_SOURCES; i++)
		for (unsigned j = 0; j < FORWARD_MAX_TARGETS; j++)
			f->sources[i].slots[j].src = &f->sources[i];
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = f;
	info.gid = -1;
	info.uid = -1;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;	/* wss:// targets */
	f->tls = client_tls(cfg, err, errlen);
	if (!f->tls) {
		rc = -EINVAL;
		goto out_free;
	}
	info.provided_client_ssl_ctx = f->tls;
	f->ctx = lws_create_context(&info);
	if (!f->ctx) {
		snprintf(err, errlen, "cannot create the forwarder's websocket context");
		goto out_tls;
	}
	if (pthread_create(&f->thread, NULL, thread_main, f) != 0) {
		snprintf(err, errlen, "cannot start the forwarder thread");
		goto out_ctx;
	}
	f->thread_started = true;
	*out = f;
	return 0;

out_ctx:
	lws_context_destroy(f->ctx);
out_tls:
	SSL_CTX_free(f->tls);
out_free:
	pthread_mutex_destroy(&f->lock);
	free(f);
	return rc;
}

void forward_destroy(struct forward *f)
{
	if (!f)
		return;
	atomic_store(&f->quit, true);
	lws_cancel_service(f->ctx);
	if (f->thread_started)
		pthread_join(f->thread, NULL);
	pthread_mutex_lock(&f->lock);
	f->destroying = true;
	for (unsigned i = 0; i < FORWARD_MAX_SOURCES; i++)
		for (unsigned j = 0; j < FORWARD_MAX_TARGETS; j++) {
			struct slot *s = &f->sources[i].slots[j];

			drop_return(f, s);
			free(s->rx);
			s->rx = NULL;
		}
	pthread_mutex_unlock(&f->lock);
	lws_context_destroy(f->ctx);
	SSL_CTX_free(f->tls);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* ---- the verbs (any non-RT thread) */

int forward_parse_url(const char *url, struct forward_target *t, char *msg, size_t len)
{
	bool tls = !strncmp(url, "wss://", 6);
	const char *host, *end;
	size_t hl;
	long port = tls ? 443 : 80;

	if (!tls && strncmp(url, "ws://", 5)) {
		snprintf(msg, len, "url must be ws://host[:port][/path] or wss://...");
		return -1;
	}
	host = url + (tls ? 6 : 5);
	end = host + strcspn(host, ":/");
	hl = (size_t)(end - host);
	if (hl < 1 || hl > FORWARD_HOST_MAX) {
		snprintf(msg, len, "url needs a host of 1 to %d characters", FORWARD_HOST_MAX);
		return -1;
	}
	for (const char *c = host; c < end; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-')) {
			snprintf(msg, len, "url host may only hold letters, digits, '.' and '-'");
			return -1;
		}
	if (*end == ':') {
		char *e2;

		port = strtol(end + 1, &e2, 10);
		if (e2 == end + 1 || port < 1 || port > 65535 || (*e2 && *e2 != '/')) {
			snprintf(msg, len, "url port must be 1..65535");
			return -1;
		}
		end = e2;
	}
	if (*end && (strlen(end) >= sizeof(t->path) || strpbrk(end, " \t\r\n?#"))) {
		snprintf(msg, len, "url path must be shorter than %zu characters, without "
			 "spaces, query or fragment", sizeof(t->path));
		return -1;
	}
	memcpy(t->host, host, hl);
	t->host[hl] = '\0';
	t->port = (uint16_t)port;
	snprintf(t->path, sizeof(t->path), "%s", *end ? end : "/rtc");
	t->tls = tls;
	return 0;
}

static struct source *find_source(struct forward *f, const char *room)
{
	for (unsigned i = 0; i < FORWARD_MAX_SOURCES; i++)
		if (f->sources[i].in_use && !strcmp(f->sources[i].room, room))
			return &f->sources[i];
	return NULL;
}

/* A refusal of a whole request: history row, the code. */
static int refuse(struct forward *f, int code, const char *room, const char *request,
		  char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int refuse(struct forward *f, int code, const char *room, const char *request,
		  char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	if (f->e)
		engine_report(f->e, AIRMIX_DOMAIN_FORWARD_STREAM, code, room, request, "%s", msg);
	return code;
}

/* A verb out of order: the UnExpectAPICall event. */
static int unexpected(struct forward *f, const char *room, const char *verb,
		      const char *request, char *msg, size_t len)
{
	struct source dummy = { .in_use = false };

	snprintf(dummy.room, sizeof(dummy.room), "%s", room);
	snprintf(msg, len, "%s while room %s forwards nothing: start first", verb, room);
	send_event(f, &dummy, "", FORWARD_EVENT_UNEXPECT_API_CALL, request, "%s", msg);
	return -1;
}

/* The same room at the same url: a change of scheme (ws:// to wss://) is
 * a new target, so that the token never goes on in the clear. */
static bool same_target(const struct forward_target *a, const struct forward_target *b)
{
	return !strcmp(a->room, b->room) && !strcmp(a->host, b->host) && a->port == b->port &&
	       !strcmp(a->path, b->path) && a->tls == b->tls;
}

/* Checks a request's ids and targets; 0 or the code (already reported). */
static int check_request(struct forward *f, const struct forward_request *rq,
			 const char *request, char *msg, size_t len)
{
	char why[300];

	if (!rooms_id_valid(rq->room, "room", why, sizeof(why)) ||
	    (rq->user[0] && !rooms_id_valid(rq->user, "user", why, sizeof(why))) ||
	    (rq->track[0] && !rooms_id_valid(rq->track, "track", why, sizeof(why))))
		return refuse(f, FORWARD_INVALID_ARGUMENT, rq->room, request, msg, len, "%s", why);
	if (rq->n_targets < 1 || rq->n_targets > FORWARD_MAX_TARGETS)
		return refuse(f, FORWARD_INVALID_ARGUMENT, rq->room, request, msg, len,
			      "%u target rooms: 1 to %d", rq->n_targets, FORWARD_MAX_TARGETS);
	for (unsigned i = 0; i < rq->n_targets; i++) {
		const struct forward_target *t = &rq->targets[i];

		if (!rooms_id_valid(t->room, "target room", why, sizeof(why)))
			return refuse(f, FORWARD_INVALID_ARGUMENT, rq->room, request, msg, len,
				      "%s", why);
		if (!t->token[0])
			return refuse(f, FORWARD_INVALID_ARGUMENT, rq->room, request, msg, len,
				      "target room %s has no token", t->room);
		for (unsigned j = 0; j < i; j++)
			if (same_target(t, &rq->targets[j]))
				return refuse(f, FORWARD_INVALID_ARGUMENT, rq->room, request, msg,
					      len, "target room %s is named twice", t->room);
		if (is_self(f, t) && !strcmp(t->room, rq->room))
			return refuse(f, FORWARD_REMOTE_KICKED, rq->room, request, msg, len,
				      "target room %s is the source room", t->room);
	}
	if (!f->cfg.enabled)
		return refuse(f, FORWARD_NOT_SUPPORT, rq->room, request, msg, len,
			      "forwarding is disabled on this server ([rtc] forward_enabled)");
	return 0;
}

/* Does the source room exist, and does the forwarded user publish? */
static int check_source(struct forward *f, const struct forward_request *rq,
			const char *request, char *msg, size_t len)
{
	struct rooms *r = f->e ? engine_rooms(f->e) : NULL;
	json_t *room = r ? rooms_room_json(r, rq->room) : NULL;
	json_t *users = json_object_get(room, "users"), *u;
	bool found = !rq->track[0];
	size_t i;

	if (!room)
		return refuse(f, FORWARD_INVALID_ARGUMENT, rq->room, request, msg, len,
			      "no room %s on this server", rq->room);
	json_array_foreach(users, i, u)
		if (rq->track[0] && !strcmp(json_string_value(json_object_get(u, "user")) ?: "",
					    rq->track) &&
		    json_is_true(json_object_get(u, "publishing")))
			found = true;
	json_decref(room);
	if (!found)
		return refuse(f, FORWARD_INVALID_ARGUMENT, rq->room, request, msg, len,
			      "user %s does not publish in room %s", rq->track, rq->room);
	return 0;
}

static void fill_slot(struct slot *s, const struct forward_target *t)
{
	s->in_use = true;
	s->cfg = *t;
	s->gen++;
	s->state = FORWARD_STATE_IDLE;
	s->error = FORWARD_OK;
	s->phase = PH_WAIT;
}

int forward_start(struct forward *f, const struct forward_request *rq, const char *request,
		  char *msg, size_t len)
{
	struct source *src = NULL;
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = check_request(f, rq, request, msg, len);
	if (rc)
		goto out;
	if (find_source(f, rq->room)) {
		rc = refuse(f, FORWARD_INVALID_ARGUMENT, rq->room, request, msg, len,
			    "room %s already forwards: update or stop it", rq->room);
		goto out;
	}
	rc = check_source(f, rq, request, msg, len);
	if (rc)
		goto out;
	for (unsigned i = 0; i < FORWARD_MAX_SOURCES && !src; i++)
		if (!f->sources[i].in_use)
			src = &f->sources[i];
	if (!src) {
		rc = refuse(f, FORWARD_NOT_SUPPORT, rq->room, request, msg, len,
			    "%d rooms forward already", FORWARD_MAX_SOURCES);
		goto out;
	}
	src->in_use = true;
	src->paused = false;
	snprintf(src->room, sizeof(src->room), "%s", rq->room);
	snprintf(src->user, sizeof(src->user), "%s",
		 rq->user[0] ? rq->user : rq->track[0] ? rq->track : rq->room);
	snprintf(src->track, sizeof(src->track), "%s", rq->track);
	for (unsigned i = 0; i < FORWARD_MAX_TARGETS; i++) {
		src->slots[i].in_use = false;
		if (i < rq->n_targets)
			fill_slot(&src->slots[i], &rq->targets[i]);
	}
	snprintf(msg, len, "forwarding room %s to %u room(s)", rq->room, rq->n_targets);
out:
	pthread_mutex_unlock(&f->lock);
	wake(f);
	return rc;
}

/* A slot that stops: Idle. */
static void release_slot(struct forward *f, struct slot *s, const char *request,
			 const char *why)
{
	s->in_use = false;
	s->gen++;
	s->phase = PH_WAIT;
	set_state(f, s, FORWARD_STATE_IDLE, FORWARD_OK, request, "%s", why);
}

int forward_update(struct forward *f, const struct forward_request *rq, const char *request,
		   char *msg, size_t len)
{
	struct source *src;
	int rc;

	pthread_mutex_lock(&f->lock);
	src = find_source(f, rq->room);
	if (!src) {
		rc = unexpected(f, rq->room, "update", request, msg, len);
		goto out;
	}
	rc = check_request(f, rq, request, msg, len);
	if (rc)
		goto out;
	/* targets no longer named stop; kept ones take the new token */
	for (unsigned i = 0; i < FORWARD_MAX_TARGETS; i++) {
		struct slot *s = &src->slots[i];
		const struct forward_target *t = NULL;

		for (unsigned j = 0; s->in_use && j < rq->n_targets; j++)
			if (same_target(&s->cfg, &rq->targets[j]))
				t = &rq->targets[j];
		if (!s->in_use)
			continue;
		if (!t) {
			release_slot(f, s, request, "removed from the targets");
			send_event(f, src, s->cfg.room, FORWARD_EVENT_DST_ROOM_UPDATED, request,
				   "room %s removed", s->cfg.room);
		} else if (strcmp(t->token, s->cfg.token)) {
			snprintf(s->cfg.token, sizeof(s->cfg.token), "%s", t->token);
			if (s->phase == PH_LIVE)
				s->token_update = true;
			else
				s->gen++;	/* failed or connecting: again with it */
		}
	}
	for (unsigned j = 0; j < rq->n_targets; j++) {
		struct slot *free_slot = NULL;
		bool known = false;

		for (unsigned i = 0; i < FORWARD_MAX_TARGETS; i++) {
			struct slot *s = &src->slots[i];

			if (s->in_use && same_target(&s->cfg, &rq->targets[j]))
				known = true;
			else if (!s->in_use && !free_slot)
				free_slot = s;
		}
		if (known || !free_slot)
			continue;
		fill_slot(free_slot, &rq->targets[j]);
		send_event(f, src, free_slot->cfg.room, FORWARD_EVENT_DST_ROOM_UPDATED, request,
			   "room %s added", free_slot->cfg.room);
	}
	snprintf(msg, len, "room %s forwards to %u room(s)", rq->room, rq->n_targets);
out:
	pthread_mutex_unlock(&f->lock);
	wake(f);
	return rc;
}

int forward_stop(struct forward *f, const char *room, const char *request, char *msg,
		 size_t len)
{
	struct source *src;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	src = find_source(f, room);
	if (!src) {
		rc = unexpected(f, room, "stop", request, msg, len);
		goto out;
	}
	for (unsigned i = 0; i < FORWARD_MAX_TARGETS; i++)
		if (src->slots[i].in_use)
			release_slot(f, &src->slots[i], request, "forwarding stopped");
	src->in_use = false;
	snprintf(msg, len, "room %s forwards nothing now", room);
out:
	pthread_mutex_unlock(&f->lock);
	wake(f);
	return rc;
}

static int set_paused(struct forward *f, const char *room, bool paused, const char *request,
		      char *msg, size_t len)
{
	struct source *src;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	src = find_source(f, room);
	if (!src) {
		rc = unexpected(f, room, paused ? "pause" : "resume", request, msg, len);
		goto out;
	}
	if (src->paused != paused) {
		src->paused = paused;
		for (unsigned i = 0; i < FORWARD_MAX_TARGETS; i++) {
			struct slot *s = &src->slots[i];

			if (!s->in_use)
				continue;
			s->gen++;	/* the connection goes; resume makes a new one */
			if (paused) {
				if (s->phase == PH_LIVE)
					send_event(f, src, s->cfg.room,
						   FORWARD_EVENT_DISCONNECTED, request, "paused");
				set_state(f, s, FORWARD_STATE_IDLE, FORWARD_OK, request,
					  "paused");
			}
		}
	}
	snprintf(msg, len, "room %s forwarding %s", room, paused ? "paused" : "resumed");
out:
	pthread_mutex_unlock(&f->lock);
	wake(f);
	return rc;
}

int forward_pause(struct forward *f, const char *room, const char *request, char *msg,
		  size_t len)
{
	return set_paused(f, room, true, request, msg, len);
}

int forward_resume(struct forward *f, const char *room, const char *request, char *msg,
		   size_t len)
{
	return set_paused(f, room, false, request, msg, len);
}

/* ---- views */

static json_t *slot_json(struct forward *f, const struct slot *s)
{
	const struct airmix_error_def *def = airmix_error_find(AIRMIX_DOMAIN_FORWARD_STREAM,
							       s->error);
	char url[FORWARD_HOST_MAX + 96];
	json_t *j;
	struct rtc_return_stats st;

	if (s->cfg.host[0])
		snprintf(url, sizeof(url), "%s://%s:%u%s", s->cfg.tls ? "wss" : "ws", s->cfg.host,
			 s->cfg.port, s->cfg.path);
	else
		snprintf(url, sizeof(url), "%s://%s:%u/rtc", f->cfg.self_tls ? "wss" : "ws",
			 f->cfg.self_host, f->cfg.self_port);
	j = json_pack("{s:s,s:s,s:i,s:s,s:i,s:s,s:b}", "room", s->cfg.room, "url", url, "state",
		      s->state, "state_name", forward_state_name(s->state), "error", s->error,
		      "error_name", def ? def->name : "UNKNOWN", "connected",
		      s->phase == PH_LIVE);
	if (j && s->return_open && f->media &&
	    rtc_media_return_stats(f->media, s->return_id, &st) == 0)
		json_object_set_new(j, "return", json_pack("{s:I,s:I,s:I,s:I}", "ssrc",
			(json_int_t)st.ssrc, "packets", (json_int_t)st.packets, "bytes",
			(json_int_t)st.bytes, "dropped_frames", (json_int_t)st.dropped_frames));
	return j;
}

static json_t *source_json(struct forward *f, const struct source *src)
{
	json_t *targets = json_array();

	for (unsigned i = 0; i < FORWARD_MAX_TARGETS; i++)
		if (src->slots[i].in_use)
			json_array_append_new(targets, slot_json(f, &src->slots[i]));
	return json_pack("{s:s,s:s,s:s,s:b,s:o}", "room", src->room, "user", src->user, "track",
			 src->track, "paused", src->paused, "targets", targets);
}

json_t *forward_json(struct forward *f, const char *room)
{
	struct source *src;
	json_t *j = NULL;

	pthread_mutex_lock(&f->lock);
	src = find_source(f, room);
	if (src)
		j = source_json(f, src);
	pthread_mutex_unlock(&f->lock);
	return j;
}

json_t *forward_list_json(struct forward *f)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&f->lock);
	for (unsigned i = 0; i < FORWARD_MAX_SOURCES; i++)
		if (f->sources[i].in_use)
			json_array_append_new(arr, source_json(f, &f->sources[i]));
	pthread_mutex_unlock(&f->lock);
	return arr;
}
