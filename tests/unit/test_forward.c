/* test_forward.c - the forwarder (engine/rtc/forward.c) against a scripted
 * /rtc server on 127.0.0.1, with a real media layer on an offline engine.
 *
 * The fake server (its own libwebsockets context and thread) answers by the
 * target room named in the join: "ok" joins and publishes (the publish reply
 * names a UDP socket of this test, which must then receive RTP with the
 * SSRC the forwarder published), "badtoken" refuses the join with
 * INVALID_TOKEN, "nopub" the publish with TOKEN_NO_PUBLISH_PERMISSION,
 * "silent" never answers, "kick" sends duplicate_login after publishing.
 * Checked: states and errors per target (1202, 1203 by timeout, 1204,
 * 1205), that refusals are not retried and timeouts are retried within the
 * backoff bounds, the notices, update (token renewed on a live target with
 * update_token, a target removed -> Idle), pause (the connection goes),
 * resume (a new join), calls out of order, bad arguments, url parsing, and
 * destroy with connections open (ASan, TSan).
 *
 * Threads: the test's main thread, the forwarder's, the fake server's, the
 * media thread.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/rtc/forward.h"
#include "engine/rtc/media.h"
#include "engine/rtc/rooms.h"
#include "tests/lib/check.h"
#include "tests/lib/offline.h"

#define N_ROOMS 5
static const char *const room_names[N_ROOMS] = { "ok", "badtoken", "nopub", "silent", "kick" };

/* ---- the fake /rtc server */

struct conn {
	char out[4][1024 + LWS_PRE];
	size_t out_len[4];
	unsigned n_out;
	int room;		/* index into room_names, -1 before join */
	bool kick_sent;
};

static struct {
	struct lws_context *ctx;
	pthread_t thread;
	atomic_bool quit;
	int port;
	uint16_t udp_port;
	pthread_mutex_t lock;
	int joins[N_ROOMS];
	int open[N_ROOMS];
	int updates;
	char update_token[64];
	uint32_t ssrc;		/* published by "ok" */
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int room_index(const char *name)
{
	for (int i = 0; name && i < N_ROOMS; i++)
		if (!strcmp(name, room_names[i]))
			return i;
	return -1;
}

static void queue(struct lws *wsi, struct conn *c, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	size_t len = strlen(text);

	if (c->n_out < 4 && len < 1024) {
		memcpy(c->out[c->n_out] + LWS_PRE, text, len);
		c->out_len[c->n_out++] = len;
	}
	free(text);
	json_decref(j);
	lws_callback_on_writable(wsi);
}

static json_t *refusal(json_int_t id, int code)
{
	return json_pack("{s:I,s:b,s:{s:s,s:i,s:s,s:s}}", "id", id, "ok", 0, "error", "domain",
			 "rtc", "code", code, "name", "X", "message", "refused by the script");
}

static void on_request(struct lws *wsi, struct conn *c, json_t *req)
{
	json_int_t id = json_integer_value(json_object_get(req, "id"));
	const char *op = json_string_value(json_object_get(req, "op"));

	if (!op)
		return;
	pthread_mutex_lock(&srv.lock);
	if (!strcmp(op, "join")) {
		c->room = room_index(json_string_value(json_object_get(req, "room")));
		if (c->room >= 0) {
			srv.joins[c->room]++;
			srv.open[c->room]++;
		}
	}
	if (!strcmp(op, "update_token")) {
		srv.updates++;
		snprintf(srv.update_token, sizeof(srv.update_token), "%s",
			 json_string_value(json_object_get(req, "token")));
	}
	if (!strcmp(op, "publish") && c->room == 0)
		srv.ssrc = (uint32_t)json_integer_value(json_object_get(req, "ssrc"));
	pthread_mutex_unlock(&srv.lock);
	if (c->room < 0 || !strcmp(room_names[c->room], "silent"))
		return;
	if (!strcmp(op, "join") && c->room == 1) {
		queue(wsi, c, refusal(id, RTC_INVALID_TOKEN));
	} else if (!strcmp(op, "publish") && c->room == 2) {
		queue(wsi, c, refusal(id, RTC_TOKEN_NO_PUBLISH_PERMISSION));
	} else if (!strcmp(op, "publish")) {
		queue(wsi, c, json_pack("{s:I,s:b,s:{s:i,s:s,s:i}}", "id", id, "ok", 1, "data",
					"track_id", 7, "host", "127.0.0.1", "port",
					(int)srv.udp_port));
		if (!strcmp(room_names[c->room], "kick") && !c->kick_sent) {
			c->kick_sent = true;
			queue(wsi, c, json_pack("{s:s,s:{s:s}}", "event", "duplicate_login", "data",
						"room", "kick"));
		}
	} else {
		queue(wsi, c, json_pack("{s:I,s:b,s:{}}", "id", id, "ok", 1, "data"));
	}
}

static int srv_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	struct conn *c = user;
	json_t *req;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof(*c));
		c->room = -1;
		break;
	case LWS_CALLBACK_RECEIVE:
		req = json_loadb(in, len, 0, NULL);
		if (req)
			on_request(wsi, c, req);
		json_decref(req);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!c->n_out)
			break;
		if (lws_write(wsi, (unsigned char *)c->out[0] + LWS_PRE, c->out_len[0],
			      LWS_WRITE_TEXT) < (int)c->out_len[0])
			return -1;
		memmove(c->out[0], c->out[1], sizeof(c->out[0]) * 3);
		memmove(c->out_len, c->out_len + 1, sizeof(c->out_len[0]) * 3);
		if (--c->n_out)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLOSED:
		pthread_mutex_lock(&srv.lock);
		if (c->room >= 0)
			srv.open[c->room]--;
		pthread_mutex_unlock(&srv.lock);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols srv_protocols[] = {
	{ "rtc", srv_cb, sizeof(struct conn), 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void *srv_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&srv.quit))
		lws_service(srv.ctx, 0);
	return NULL;
}

static int free_port(int type, int *fd_out)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, type, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return ntohs(a.sin_port);
}

static int srv_start(int *udp_fd)
{
	struct lws_context_creation_info info = { 0 };

	srv.port = free_port(SOCK_STREAM, NULL);
	srv.udp_port = (uint16_t)free_port(SOCK_DGRAM, udp_fd);
	info.port = srv.port;
	info.iface = "127.0.0.1";
	info.protocols = srv_protocols;
	info.gid = -1;
	info.uid = -1;
	srv.ctx = lws_create_context(&info);
	if (!srv.ctx || pthread_create(&srv.thread, NULL, srv_main, NULL))
		return -1;
	return 0;
}

static void srv_stop(void)
{
	atomic_store(&srv.quit, true);
	lws_cancel_service(srv.ctx);
	pthread_join(srv.thread, NULL);
	lws_context_destroy(srv.ctx);
}

static int srv_get(const int *counter)
{
	int v;

	pthread_mutex_lock(&srv.lock);
	v = *counter;
	pthread_mutex_unlock(&srv.lock);
	return v;
}

/* ---- notices */

static struct {
	pthread_mutex_t lock;
	int success, connected, interrupt, unexpected, idle, updated;
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_notice(const struct engine_notice *n, void *user)
{
	(void)user;
	if (n->domain != AIRMIX_DOMAIN_FORWARD_STREAM)
		return;
	pthread_mutex_lock(&seen.lock);
	if (!strcmp(n->event, "forward_stream.state") && strstr(n->message, "Success:"))
		seen.success++;
	if (!strcmp(n->event, "forward_stream.state") && strstr(n->message, "Idle:"))
		seen.idle++;
	if (!strcmp(n->name, "FORWARD_STREAM_EVENT_CONNECTED"))
		seen.connected++;
	if (!strcmp(n->name, "FORWARD_STREAM_EVENT_INTERRUPT"))
		seen.interrupt++;
	if (!strcmp(n->name, "FORWARD_STREAM_EVENT_UNEXPECT_API_CALL"))
		seen.unexpected++;
	if (!strcmp(n->name, "FORWARD_STREAM_EVENT_DST_ROOM_UPDATED"))
		seen.updated++;
	pthread_mutex_unlock(&seen.lock);
}

static int seen_get(const int *counter)
{
	int v;

	pthread_mutex_lock(&seen.lock);
	v = *counter;
	pthread_mutex_unlock(&seen.lock);
	return v;
}

/* ---- helpers */

static struct engine *e;
static struct rtc_media *media;
static struct forward *fw;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs the offline engine a period at a time (so returns have audio to
 * send) for up to seconds, or until done() holds. */
static bool run_until(bool (*done)(void), double seconds)
{
	double end = now_s() + seconds;

	while (now_s() < end) {
		if (done && done())
			return true;
		engine_offline_run(e, 256, NULL, NULL);
		usleep(5000);
	}
	return done ? done() : true;
}

/* The target's state and error from forward_json; -1 when absent. */
static int target(const char *src, const char *room, int *error)
{
	json_t *j = forward_json(fw, src), *t;
	int state = -1;
	size_t i;

	json_array_foreach(json_object_get(j, "targets"), i, t)
		if (!strcmp(json_string_value(json_object_get(t, "room")), room)) {
			state = (int)json_integer_value(json_object_get(t, "state"));
			if (error)
				*error = (int)json_integer_value(json_object_get(t, "error"));
		}
	json_decref(j);
	return state;
}

static bool is(const char *room, int state, int error)
{
	int err = -1;

	return target("src", room, &err) == state && err == error;
}

static bool ok_live(void) { return is("ok", FORWARD_STATE_SUCCESS, 0); }
static bool all_failed(void)
{
	return is("badtoken", FORWARD_STATE_FAILURE, FORWARD_INVALID_TOKEN) &&
	       is("nopub", FORWARD_STATE_FAILURE, FORWARD_NOT_SUPPORT) &&
	       is("silent", FORWARD_STATE_FAILURE, FORWARD_RESPONSE);
}
static bool token_updated(void) { return srv_get(&srv.updates) > 0; }
static bool ok_closed(void) { return srv_get(&srv.open[0]) == 0; }
static bool ok_rejoined(void) { return srv_get(&srv.joins[0]) >= 2 && ok_live(); }
static bool kicked(void) { return is("kick", FORWARD_STATE_FAILURE, FORWARD_REMOTE_KICKED); }

static void set_target(struct forward_target *t, const char *room, const char *token)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->room, sizeof(t->room), "%s", room);
	snprintf(t->token, sizeof(t->token), "%s", token);
	snprintf(t->host, sizeof(t->host), "127.0.0.1");
	t->port = (uint16_t)srv.port;
	snprintf(t->path, sizeof(t->path), "/rtc");
}

/* Reads RTP datagrams from the fake target's UDP socket for up to 3 s:
 * how many carried ssrc. */
static int rtp_with_ssrc(int fd, uint32_t ssrc)
{
	unsigned char buf[2048];
	int n = 0;
	double end = now_s() + 3.0;

	while (now_s() < end && n < 20) {
		ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (len >= 12 && (buf[0] >> 6) == 2 &&
		    ((uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 |
		     buf[11]) == ssrc)
			n++;
		if (len < 0) {
			engine_offline_run(e, 256, NULL, NULL);
			usleep(2000);
		}
	}
	return n;
}

/* ---- the tests */

static void test_urls(void)
{
	struct forward_target t;
	char msg[256];
	static const char *const bad[] = { "http://x", "ws://", "ws://:80", "ws://a b",
					   "ws://h:0", "ws://h:65536", "ws://h:12x", "ws://h/p?q",
					   "wss://", "wss:/h", "https://h" };

	CHECK(forward_parse_url("ws://studio-2.example:8080/rtc", &t, msg, sizeof(msg)) == 0 &&
	      !strcmp(t.host, "studio-2.example") && t.port == 8080 && !strcmp(t.path, "/rtc"),
	      "url with host, port and path");
	CHECK(forward_parse_url("ws://10.0.0.2", &t, msg, sizeof(msg)) == 0 && t.port == 80 &&
	      !strcmp(t.path, "/rtc") && !t.tls, "url defaults: port 80, path /rtc");
	CHECK(forward_parse_url("wss://hq.example", &t, msg, sizeof(msg)) == 0 && t.port == 443 &&
	      !strcmp(t.host, "hq.example") && !strcmp(t.path, "/rtc") && t.tls,
	      "wss:// url: TLS, port 443 by default");
	CHECK(forward_parse_url("wss://hq.example:8443/x", &t, msg, sizeof(msg)) == 0 &&
	      t.port == 8443 && !strcmp(t.path, "/x") && t.tls, "wss:// url with port and path");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(forward_parse_url(bad[i], &t, msg, sizeof(msg)) < 0 && msg[0],
		      "url %s refused: %s", bad[i], msg);
}

static void test_arguments(void)
{
	struct forward_request rq = { .room = "src" };
	char msg[256];

	for (unsigned i = 0; i < FORWARD_MAX_TARGETS; i++)
		set_target(&rq.targets[i], room_names[i], "t");
	rq.n_targets = FORWARD_MAX_TARGETS + 1;	/* a count the API never passes */
	CHECK(forward_start(fw, &rq, "test", msg, sizeof(msg)) == FORWARD_INVALID_ARGUMENT,
	      "5 targets: INVALID_ARGUMENT (%s)", msg);
	rq.n_targets = 0;
	CHECK(forward_start(fw, &rq, "test", msg, sizeof(msg)) == FORWARD_INVALID_ARGUMENT,
	      "no target: INVALID_ARGUMENT");
	rq.n_targets = 1;
	snprintf(rq.targets[0].room, sizeof(rq.targets[0].room), "bad room");
	CHECK(forward_start(fw, &rq, "test", msg, sizeof(msg)) == FORWARD_INVALID_ARGUMENT,
	      "a bad target id: INVALID_ARGUMENT (%s)", msg);
	set_target(&rq.targets[0], "ok", "t");
	set_target(&rq.targets[1], "ok", "t2");
	rq.n_targets = 2;
	CHECK(forward_start(fw, &rq, "test", msg, sizeof(msg)) == FORWARD_INVALID_ARGUMENT,
	      "a target twice: INVALID_ARGUMENT (%s)", msg);
	set_target(&rq.targets[0], "src", "t");
	rq.targets[0].host[0] = '\0';
	rq.n_targets = 1;
	CHECK(forward_start(fw, &rq, "test", msg, sizeof(msg)) == FORWARD_REMOTE_KICKED,
	      "the source room on this server: REMOTE_KICKED (%s)", msg);
	set_target(&rq.targets[0], "ok", "t");
	snprintf(rq.room, sizeof(rq.room), "nosuchroom");
	CHECK(forward_start(fw, &rq, "test", msg, sizeof(msg)) == FORWARD_INVALID_ARGUMENT,
	      "a source room that does not exist: INVALID_ARGUMENT (%s)", msg);
	snprintf(rq.room, sizeof(rq.room), "src");
	snprintf(rq.track, sizeof(rq.track), "nobody");
	CHECK(forward_start(fw, &rq, "test", msg, sizeof(msg)) == FORWARD_INVALID_ARGUMENT,
	      "a track nobody publishes: INVALID_ARGUMENT (%s)", msg);
	CHECK(forward_pause(fw, "src", "test", msg, sizeof(msg)) == -1 &&
	      forward_resume(fw, "src", "test", msg, sizeof(msg)) == -1 &&
	      forward_stop(fw, "src", "test", msg, sizeof(msg)) == -1 &&
	      forward_update(fw, &rq, "test", msg, sizeof(msg)) == -1 &&
	      seen_get(&seen.unexpected) == 4, "pause, resume, stop, update before start: "
	      "UnExpectAPICall (%d)", seen_get(&seen.unexpected));
	CHECK(forward_json(fw, "src") == NULL, "nothing forwards yet");
}

static void test_forwarding(int udp_fd)
{
	struct forward_request rq = { .room = "src", .user = "fwd" };
	char msg[256];
	int silent_joins;
	double t0;

	for (unsigned i = 0; i < 4; i++)
		set_target(&rq.targets[i], room_names[i], "token-1");
	rq.n_targets = 4;
	t0 = now_s();
	CHECK(forward_start(fw, &rq, "test", msg, sizeof(msg)) == 0, "start: %s", msg);
	CHECK(forward_start(fw, &rq, "test", msg, sizeof(msg)) == FORWARD_INVALID_ARGUMENT,
	      "start twice: INVALID_ARGUMENT");
	CHECK(run_until(ok_live, 5), "ok: Success in %.0f ms", (now_s() - t0) * 1e3);
	CHECK(rtp_with_ssrc(udp_fd, srv.ssrc) >= 10, "the target receives RTP with the "
	      "published SSRC %u", srv.ssrc);
	CHECK(run_until(all_failed, 5), "badtoken 1202, nopub 1205, silent 1203 (timeout)");
	silent_joins = srv_get(&srv.joins[3]);
	run_until(NULL, 1.5);
	CHECK(srv_get(&srv.joins[1]) == 1 && srv_get(&srv.joins[2]) == 1,
	      "refusals are not retried (%d, %d joins)", srv_get(&srv.joins[1]),
	      srv_get(&srv.joins[2]));
	CHECK(srv_get(&srv.joins[3]) > silent_joins && srv_get(&srv.joins[3]) <= silent_joins + 4,
	      "the silent target is retried within the backoff (%d -> %d joins in 1.5 s)",
	      silent_joins, srv_get(&srv.joins[3]));
	CHECK(seen_get(&seen.success) == 1 && seen_get(&seen.connected) == 1,
	      "one Success state and one Connected event");

	/* update: a new token for the live target, silent and nopub removed */
	set_target(&rq.targets[0], "ok", "token-2");
	rq.n_targets = 2;
	CHECK(forward_update(fw, &rq, "test", msg, sizeof(msg)) == 0, "update: %s", msg);
	CHECK(run_until(token_updated, 3), "the live target gets update_token");
	pthread_mutex_lock(&srv.lock);
	CHECK(!strcmp(srv.update_token, "token-2"), "with the new token (%s)", srv.update_token);
	pthread_mutex_unlock(&srv.lock);
	CHECK(target("src", "silent", NULL) == -1 && target("src", "nopub", NULL) == -1 &&
	      seen_get(&seen.idle) == 2 && seen_get(&seen.updated) == 2,
	      "removed targets: gone, Idle and DstRoomUpdated (%d, %d)", seen_get(&seen.idle),
	      seen_get(&seen.updated));
	silent_joins = srv_get(&srv.joins[3]);
	run_until(NULL, 0.6);
	CHECK(srv_get(&srv.joins[3]) == silent_joins, "a removed target is not tried again");

	/* pause and resume */
	CHECK(forward_pause(fw, "src", "test", msg, sizeof(msg)) == 0, "pause");
	CHECK(run_until(ok_closed, 3), "paused: the target's connection is closed");
	CHECK(is("ok", FORWARD_STATE_IDLE, 0), "paused: Idle");
	CHECK(forward_resume(fw, "src", "test", msg, sizeof(msg)) == 0, "resume");
	CHECK(run_until(ok_rejoined, 5), "resumed: joined again, Success");

	/* the same user id logs in at the target */
	set_target(&rq.targets[1], "kick", "token-1");
	CHECK(forward_update(fw, &rq, "test", msg, sizeof(msg)) == 0, "update adds kick");
	CHECK(run_until(kicked, 5), "duplicate login at the target: REMOTE_KICKED");
	CHECK(seen_get(&seen.interrupt) == 1, "and the Interrupt event");
	CHECK(ok_live(), "the other target keeps forwarding");
}

int main(void)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct rooms_config rc = { .max_users = 50, .max_streams = 30,
				   .signalling_timeout_ms = 60000, .token_warning_s = 30 };
	struct forward_config fc = { .enabled = true, .backoff_min_ms = 50, .backoff_max_ms = 200,
				     .timeout_ms = 300, .self_host = "127.0.0.1", .self_port = 9 };
	struct rooms *rooms = NULL;
	char err[256];
	int udp_fd = -1;

	lws_set_log_level(LLL_ERR, NULL);
	offline_config(&cfg, 48000, 256);
	cfg.rtp_port_min = 43100;
	cfg.rtp_port_max = 43199;
	if (srv_start(&udp_fd) < 0 || engine_create(&cfg, &opts, NULL, &e, err, sizeof(err)) < 0 ||
	    engine_start(e, err, sizeof(err)) < 0 ||
	    rtc_media_create(e, &media, err, sizeof(err)) < 0 ||
	    rooms_create(e, media, &rc, &rooms, err, sizeof(err)) < 0 ||
	    forward_create(e, media, &fc, &fw, err, sizeof(err)) < 0) {
		printf("# setup: %s\n", err);
		return 1;
	}
	engine_set_rooms(e, rooms);
	engine_subscribe(e, on_notice, NULL);
	CHECK(rooms_create_room(rooms, "src", "test", err, sizeof(err)) == 0, "room src");

	test_urls();
	test_arguments();
	test_forwarding(udp_fd);

	forward_destroy(fw);	/* with connections open */
	engine_unsubscribe(e, on_notice, NULL);
	engine_set_rooms(e, NULL);
	rooms_destroy(rooms);
	rtc_media_destroy(media);
	engine_destroy(e);
	srv_stop();
	close(udp_fd);
	CHECK_RT_CLEAN();
	return CHECK_DONE();
}
