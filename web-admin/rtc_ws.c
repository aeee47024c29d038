/* rtc_ws.c - the RTC signalling WebSocket /rtc (rtc_ws.h).
 *
 * DESIGN
 * Every request is one JSON text frame {"id": <int>, "op": ..., fields};
 * the fields of each op are checked against a static table (type, range,
 * length, required, unknown fields refused) before rooms.c sees them, and
 * every refusal is answered {"id", "ok": false, "error": {...}} and stored
 * in the history. Events from rooms.c ({"event", "data"}) go out through the
 * same queue as replies, so a client sees them in order.
 *
 * libwebsockets side: /rtc connections are not a subprotocol of their own
 * (standard clients send none); the server's default WebSocket protocol
 * hands a connection to us at ESTABLISHED when its path is /rtc, and we keep
 * our state in the connection's opaque user data. Messages are assembled
 * from fragments up to RTC_WS_MAX_MESSAGE bytes; a longer one is drained and
 * refused. Output is a bounded queue of frames per connection, one
 * lws_write per writable callback; a client that lets RTC_WS_MAX_QUEUED
 * frames pile up is disconnected. An lws_sul timer runs rooms_tick() every
 * 100 ms on the service thread, so rooms' callbacks always run there.
 *
 * Threads: the lws service thread (and a test's or fuzzer's thread for the
 * rtc_conn_* layer); create/attach/detach/destroy on the control thread.
 */
#include "web-admin/rtc_ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/engine.h"

#define TICK_US (100 * 1000)
#define REQUEST_SHOWN 1024

/* ---- the protocol (no libwebsockets) */

enum ftype { F_STRING, F_BOOL, F_INT };

struct field {
	const char *name;
	enum ftype type;
	bool required;
	long long min, max;	/* F_INT: range; F_STRING: length */
};

struct op {
	const char *name;
	const struct field *fields;
};

static const struct field join_fields[] = {
	{ "token", F_STRING, true, 1, TOKEN_TEXT_MAX },
	{ "room", F_STRING, true, 0, 1024 },
	{ "user", F_STRING, false, 0, 1024 },	/* absent: the token's */
	{ "visible", F_BOOL, false, 0, 0 },
	{ "green_room", F_BOOL, false, 0, 0 },
	{ NULL, 0, false, 0, 0 },
};
static const struct field publish_fields[] = {
	{ "ssrc", F_INT, false, 0, UINT32_MAX },
	{ "addr", F_STRING, false, 1, 64 },
	{ "channels", F_INT, false, 1, 2 },
	{ "volume", F_INT, false, 0, 400 },
	{ NULL, 0, false, 0, 0 },
};
static const struct field subscribe_fields[] = {
	{ "stream", F_STRING, true, 1, 1024 },
	{ "addr", F_STRING, false, 1, 64 },
	{ NULL, 0, false, 0, 0 },
};
static const struct field unsubscribe_fields[] = {
	{ "stream", F_STRING, true, 1, 1024 },
	{ NULL, 0, false, 0, 0 },
};
static const struct field offer_fields[] = {
	{ "sdp", F_STRING, true, 1, WEBRTC_SDP_MAX },
	{ NULL, 0, false, 0, 0 },
};
static const struct field ice_fields[] = {
	{ "candidate", F_STRING, true, 1, WEBRTC_CANDIDATE_MAX },
	{ "mline", F_INT, true, 0, 255 },
	{ NULL, 0, false, 0, 0 },
};
static const struct field on_air_fields[] = {
	{ "on_air", F_BOOL, true, 0, 0 },
	{ NULL, 0, false, 0, 0 },
};
static const struct field token_fields[] = {
	{ "token", F_STRING, true, 1, TOKEN_TEXT_MAX },
	{ NULL, 0, false, 0, 0 },
};
static const struct field no_fields[] = {
	{ NULL, 0, false, 0, 0 },
};

static const struct op ops[] = {
	{ "join", join_fields },
	{ "leave", no_fields },
	{ "publish", publish_fields },
	{ "unpublish", no_fields },
	{ "subscribe", subscribe_fields },
	{ "unsubscribe", unsubscribe_fields },
	{ "update_token", token_fields },
	{ "webrtc_offer", offer_fields },
	{ "webrtc_ice", ice_fields },
	{ "on_air", on_air_fields },
	{ "ping", no_fields },
};

struct rtc_conn {
	struct rooms *r;
	struct rooms_session *s;
	struct rooms_conn_ops ops;
	void *user;
};

struct rtc_conn *rtc_conn_open(struct rooms *r, const struct rooms_conn_ops *cops, void *user,
			       const char *local_host)
{
	struct rtc_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->r = r;
	c->ops = *cops;
	c->user = user;
	c->s = rooms_session_open(r, cops, user, local_host);
	if (!c->s) {
		free(c);
		return NULL;
	}
	return c;
}

void rtc_conn_close(struct rtc_conn *c)
{
	if (!c)
		return;
	rooms_session_close(c->s);
	free(c);
}

static void send_json(struct rtc_conn *c, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (text)
		c->ops.send(c->user, text, strlen(text));
	free(text);
	json_decref(j);
}

static json_t *id_json(json_int_t id, bool has_id)
{
	return has_id ? json_integer(id) : json_null();
}

static void reply_error(struct rtc_conn *c, json_int_t id, bool has_id, int code,
			const char *msg)
{
	const struct airmix_error_def *def = airmix_error_find(AIRMIX_DOMAIN_RTC, code);

	send_json(c, json_pack("{s:o,s:b,s:{s:s,s:i,s:s,s:s}}", "id", id_json(id, has_id), "ok",
			       0, "error", "domain", "rtc", "code", code, "name",
			       def ? def->name : "UNKNOWN", "message", msg));
}

/* A request the protocol layer refuses: reply and history row. */
static void refuse(struct rtc_conn *c, json_int_t id, bool has_id, const char *request,
		   const char *msg)
{
	rooms_session_report(c->s, RTC_INVALID_PARAMS, request, msg);
	reply_error(c, id, has_id, RTC_INVALID_PARAMS, msg);
}

void rtc_conn_refuse(struct rtc_conn *c, const char *why)
{
	rooms_session_touch(c->s);
	refuse(c, 0, false, "rtc (unreadable message)", why);
}

/* "rtc <message>" for the history: the token masked, an SDP offer (which
 * holds the ICE password) shown by its size only. */
static void request_text(json_t *req, char *buf, size_t len)
{
	json_t *copy = json_copy(req);
	char *text;

	json_t *sdp = copy ? json_object_get(copy, "sdp") : NULL;

	if (copy && json_object_get(copy, "token"))
		json_object_set_new(copy, "token", json_string("***"));
	if (json_is_string(sdp)) {
		char shown[48];

		snprintf(shown, sizeof(shown), "(%zu bytes)", json_string_length(sdp));
		json_object_set_new(copy, "sdp", json_string(shown));
	}
	text = copy ? json_dumps(copy, JSON_COMPACT) : NULL;
	snprintf(buf, len, "rtc %.*s", REQUEST_SHOWN, text ? text : "(out of memory)");
	free(text);
	json_decref(copy);
}

/* Checks req's members against the op's table; 0 or a message. */
static int check_fields(const struct op *op, json_t *req, char *msg, size_t len)
{
	const char *key;
	json_t *v;

	json_object_foreach(req, key, v) {
		const struct field *f = op->fields;

		if (!strcmp(key, "id") || !strcmp(key, "op"))
			continue;
		while (f->name && strcmp(f->name, key))
			f++;
		if (!f->name) {
			snprintf(msg, len, "unknown field \"%.64s\" for op %s", key, op->name);
			return -1;
		}
		if (f->type == F_STRING && (!json_is_string(v) ||
		    (long long)json_string_length(v) < f->min ||
		    (long long)json_string_length(v) > f->max ||
		    strlen(json_string_value(v)) != json_string_length(v))) {
			snprintf(msg, len, "%s must be a string of %lld to %lld bytes without NUL",
				 key, f->min, f->max);
			return -1;
		}
		if (f->type == F_BOOL && !json_is_boolean(v)) {
			snprintf(msg, len, "%s must be true or false", key);
			return -1;
		}
		if (f->type == F_INT && (!json_is_integer(v) || json_integer_value(v) < f->min ||
					 json_integer_value(v) > f->max)) {
			snprintf(msg, len, "%s must be an integer from %lld to %lld", key, f->min,
				 f->max);
			return -1;
		}
	}
	for (const struct field *f = op->fields; f->name; f++) {
		if (f->required && !json_object_get(req, f->name)) {
			snprintf(msg, len, "op %s needs %s", op->name, f->name);
			return -1;
		}
	}
	return 0;
}

/* "a.b.c.d:port" or "[v6]:port" into a; 0 or -1. */
static int parse_addr(const char *text, struct sockaddr_storage *a)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(text, ':');
	struct sockaddr_in *in = (struct sockaddr_in *)a;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)a;
	size_t hl;
	char *end;
	long port;

	if (!colon || colon == text)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return -1;
	hl = (size_t)(colon - text);
	if (text[0] == '[') {
		if (hl < 3 || text[hl - 1] != ']' || hl - 2 >= sizeof(host))
			return -1;
		memcpy(host, text + 1, hl - 2);
		host[hl - 2] = '\0';
	} else {
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, text, hl);
		host[hl] = '\0';
	}
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1 && text[0] != '[') {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 && text[0] == '[') {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -1;
}

static const char *str(json_t *req, const char *name)
{
	return json_string_value(json_object_get(req, name));
}

static long long num(json_t *req, const char *name, long long def)
{
	json_t *v = json_object_get(req, name);

	return v ? json_integer_value(v) : def;
}

/* Runs a validated request; the rtc code, data and msg. */
static int execute(struct rtc_conn *c, const char *op, json_t *req, const char *request,
		   json_t **data, char *msg, size_t len)
{
	struct rooms_session *s = c->s;

	if (!strcmp(op, "join")) {
		json_t *vis = json_object_get(req, "visible");
		struct rooms_join_req rq = { str(req, "token"), str(req, "room"), str(req, "user"),
					     vis ? json_is_true(vis) : true,
					     json_is_true(json_object_get(req, "green_room")) };

		return rooms_join(s, &rq, request, data, msg, len);
	}
	if (!strcmp(op, "leave"))
		return rooms_leave(s, request, data, msg, len);
	if (!strcmp(op, "publish")) {
		struct rooms_publish_req rq = { .ssrc = (uint32_t)num(req, "ssrc", 0),
			.channels = (uint32_t)num(req, "channels", 2),
			.volume = (int)num(req, "volume", 100) };

		if (str(req, "addr")) {
			if (parse_addr(str(req, "addr"), &rq.from))
				return -EINVAL;
			rq.from_set = true;
		}
		return rooms_publish(s, &rq, request, data, msg, len);
	}
	if (!strcmp(op, "unpublish"))
		return rooms_unpublish(s, request, data, msg, len);
	if (!strcmp(op, "subscribe")) {
		struct rooms_subscribe_req rq = { .stream = str(req, "stream") };

		if (str(req, "addr")) {
			if (parse_addr(str(req, "addr"), &rq.to))
				return -EINVAL;
			rq.to_set = true;
		}
		return rooms_subscribe(s, &rq, request, data, msg, len);
	}
	if (!strcmp(op, "unsubscribe"))
		return rooms_unsubscribe(s, str(req, "stream"), request, data, msg, len);
	if (!strcmp(op, "update_token"))
		return rooms_update_token(s, str(req, "token"), request, data, msg, len);
	if (!strcmp(op, "webrtc_offer"))
		return rooms_webrtc_offer(s, str(req, "sdp"), request, data, msg, len);
	if (!strcmp(op, "webrtc_ice"))
		return rooms_webrtc_ice(s, (unsigned)num(req, "mline", 0), str(req, "candidate"),
					request, data, msg, len);
	if (!strcmp(op, "on_air"))
		return rooms_on_air(s, json_is_true(json_object_get(req, "on_air")), request, data,
				    msg, len);
	*data = json_pack("{s:b}", "pong", 1);
	return RTC_OK;
}

void rtc_conn_message(struct rtc_conn *c, const char *text, size_t len)
{
	char request[REQUEST_SHOWN + 64], msg[512];
	json_error_t jerr;
	json_t *req, *idv, *opv, *data = NULL;
	const struct op *op = NULL;
	json_int_t id = 0;
	int rc;

	rooms_session_touch(c->s);
	req = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(req)) {
		snprintf(msg, sizeof(msg), req ? "a request must be a JSON object" :
			 "not JSON: %s at line %d column %d", jerr.text, jerr.line, jerr.column);
		snprintf(request, sizeof(request), "rtc %.*s", (int)(len > 200 ? 200 : len), text);
		refuse(c, 0, false, request, msg);
		json_decref(req);
		return;
	}
	request_text(req, request, sizeof(request));
	idv = json_object_get(req, "id");
	opv = json_object_get(req, "op");
	if (!json_is_integer(idv)) {
		refuse(c, 0, false, request, "id must be an integer");
		goto out;
	}
	id = json_integer_value(idv);
	for (size_t i = 0; opv && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (json_is_string(opv) && !strcmp(json_string_value(opv), ops[i].name))
			op = &ops[i];
	if (!op) {
		refuse(c, id, true, request, "op must be one of join, leave, publish, unpublish, "
		       "subscribe, unsubscribe, update_token, webrtc_offer, webrtc_ice, on_air, "
		       "ping");
		goto out;
	}
	if (check_fields(op, req, msg, sizeof(msg))) {
		refuse(c, id, true, request, msg);
		goto out;
	}
	rc = execute(c, op->name, req, request, &data, msg, sizeof(msg));
	if (rc == -EINVAL)
		refuse(c, id, true, request, "addr must be \"a.b.c.d:port\" or \"[v6]:port\"");
	else if (rc)
		reply_error(c, id, true, rc, msg);
	else
		send_json(c, json_pack("{s:I,s:b,s:o}", "id", id, "ok", 1, "data",
				       data ? data : json_object()));
out:
	json_decref(req);
}

/* ---- libwebsockets glue */

struct out_frame {
	struct out_frame *next;
	size_t len;
	unsigned char buf[];	/* LWS_PRE, then the text */
};

struct client {
	struct rtc_ws *w;
	struct lws *wsi;
	struct rtc_conn *conn;
	struct out_frame *head, *tail;
	unsigned queued;
	bool closing;
	char *rx;		/* the message being assembled */
	size_t rx_len;
	bool rx_too_long;
};

struct rtc_ws {
	struct engine *e;
	struct lws_context *ctx;
	lws_sorted_usec_list_t sul;
	bool attached;
	unsigned clients;
};

static void client_send(void *user, const char *text, size_t len)
{
	struct client *cl = user;
	struct out_frame *f;

	if (cl->closing)
		return;
	if (cl->queued >= RTC_WS_MAX_QUEUED || !(f = malloc(sizeof(*f) + LWS_PRE + len))) {
		cl->closing = true;	/* too slow a reader: disconnect */
		lws_callback_on_writable(cl->wsi);
		return;
	}
	f->next = NULL;
	f->len = len;
	memcpy(f->buf + LWS_PRE, text, len);
	if (cl->tail)
		cl->tail->next = f;
	else
		cl->head = f;
	cl->tail = f;
	cl->queued++;
	lws_callback_on_writable(cl->wsi);
}

static void client_close(void *user)
{
	struct client *cl = user;

	cl->closing = true;
	lws_callback_on_writable(cl->wsi);
}

static const struct rooms_conn_ops client_ops = { client_send, client_close };

static void free_client(struct client *cl)
{
	while (cl->head) {
		struct out_frame *f = cl->head;

		cl->head = f->next;
		free(f);
	}
	free(cl->rx);
	free(cl);
}

static void local_host(struct lws *wsi, char *host, size_t len)
{
	struct sockaddr_storage a;
	socklen_t al = sizeof(a);

	host[0] = '\0';
	if (getsockname(lws_get_socket_fd(wsi), (struct sockaddr *)&a, &al) < 0)
		return;
	if (a.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a)->sin6_addr, host, (socklen_t)len);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, host, (socklen_t)len);
}

static bool is_rtc_path(struct lws *wsi)
{
	char uri[64];

	return lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0 &&
	       !strcmp(uri, RTC_WS_PATH);
}

static int on_established(struct rtc_ws *w, struct lws *wsi)
{
	struct rooms *r = engine_rooms(w->e);
	struct client *cl;
	char host[INET6_ADDRSTRLEN];

	if (!r)
		return -1;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -1;
	cl->w = w;
	cl->wsi = wsi;
	local_host(wsi, host, sizeof(host));
	cl->conn = rtc_conn_open(r, &client_ops, cl, host);
	if (!cl->conn) {
		free(cl);
		return -1;
	}
	lws_set_opaque_user_data(wsi, cl);
	w->clients++;
	return 0;
}

static void on_receive(struct client *cl, const char *in, size_t len)
{
	bool last = lws_is_final_fragment(cl->wsi) && !lws_remaining_packet_payload(cl->wsi);

	if (cl->closing)
		return;		/* timed out or too slow: only the queue drains */
	if (!cl->rx_too_long && cl->rx_len + len > RTC_WS_MAX_MESSAGE) {
		cl->rx_too_long = true;
		free(cl->rx);
		cl->rx = NULL;
		cl->rx_len = 0;
	}
	if (!cl->rx_too_long) {
		char *bigger = realloc(cl->rx, cl->rx_len + len + 1);

		if (!bigger) {
			cl->rx_too_long = true;
		} else {
			cl->rx = bigger;
			memcpy(cl->rx + cl->rx_len, in, len);
			cl->rx_len += len;
		}
	}
	if (!last)
		return;
	if (cl->rx_too_long)
		rtc_conn_refuse(cl->conn, "message larger than 16384 bytes");
	else if (lws_frame_is_binary(cl->wsi))
		rtc_conn_refuse(cl->conn, "binary frames are not understood: send JSON text");
	else
		rtc_conn_message(cl->conn, cl->rx ? cl->rx : "", cl->rx_len);
	free(cl->rx);
	cl->rx = NULL;
	cl->rx_len = 0;
	cl->rx_too_long = false;
}

static int on_writable(struct client *cl)
{
	struct out_frame *f = cl->head;

	if (!f)
		return cl->closing ? -1 : 0;
	if (lws_write(cl->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT) < (int)f->len)
		return -1;
	cl->head = f->next;
	if (!cl->head)
		cl->tail = NULL;
	cl->queued--;
	free(f);
	if (cl->head || cl->closing)
		lws_callback_on_writable(cl->wsi);
	return 0;
}

bool rtc_ws_owns(struct lws *wsi)
{
	return lws_get_opaque_user_data(wsi) != NULL;
}

int rtc_ws_callback(struct rtc_ws *w, struct lws *wsi, enum lws_callback_reasons reason,
		    void *in, size_t len)
{
	struct client *cl = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		if (!is_rtc_path(wsi))
			return 1;
		return on_established(w, wsi);
	case LWS_CALLBACK_RECEIVE:
		if (cl)
			on_receive(cl, in, len);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return cl ? on_writable(cl) : 0;
	case LWS_CALLBACK_CLOSED:
		if (cl) {
			lws_set_opaque_user_data(wsi, NULL);
			rtc_conn_close(cl->conn);
			free_client(cl);
			w->clients--;
		}
		return 0;
	default:
		return 0;
	}
}

static void tick(lws_sorted_usec_list_t *sul)
{
	struct rtc_ws *w = lws_container_of(sul, struct rtc_ws, sul);
	struct rooms *r = engine_rooms(w->e);

	if (r)
		rooms_tick(r);
	lws_sul_schedule(w->ctx, 0, &w->sul, tick, TICK_US);
}

int rtc_ws_create(struct engine *e, struct rtc_ws **out)
{
	struct rtc_ws *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->e = e;
	*out = w;
	return 0;
}

void rtc_ws_attach(struct rtc_ws *w, struct lws_context *ctx)
{
	w->ctx = ctx;
	w->attached = true;
	lws_sul_schedule(ctx, 0, &w->sul, tick, TICK_US);
}

void rtc_ws_detach(struct rtc_ws *w)
{
	if (w->attached)
		lws_sul_cancel(&w->sul);
	w->attached = false;
}

void rtc_ws_destroy(struct rtc_ws *w)
{
	free(w);
}

unsigned rtc_ws_clients(const struct rtc_ws *w)
{
	return w->clients;
}
