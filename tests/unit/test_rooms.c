/* test_rooms.c - unit tests of engine/rtc/rooms.c and of the signalling
 * protocol layer of web-admin/rtc_ws.c (rtc_conn_*), on a test clock.
 *
 * The media layer is replaced by a test double defined below (this file
 * only): it hands out track and return ids, endpoints and stats the test
 * sets. Every refusal is checked for its code, its message and its history
 * report (an engine subscriber counts the rtc reports); every event a user
 * gets without asking (token warnings and expiry, kick, dismiss, duplicate
 * login, timeout, cancelled operations) is checked on that user's session.
 *
 * Threads: main only.
 */
#include "engine/rtc/rooms.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/engine.h"
#include "offline.h"
#include "web-admin/rtc_ws.h"

#define APP_ID "123456781234567812345678"
#define APP_KEY "app key"
#define T0 1800000000u
#define RTC_NOT_SUPPORTED (-1918)

/* ---- the media test double (its tracks are tones in a real engine, so
 * that the rooms can change their buses) */

static struct engine *e;

static struct {
	uint32_t tracks, returns;
	int publish_rc;
	unsigned unpublished, closed;
	uint64_t track_packets, return_packets;
	struct rtc_track_spec last_track;
	struct rtc_return_spec last_return;
} fake;

int rtc_media_publish(struct rtc_media *m, const struct rtc_track_spec *spec,
		      uint32_t *track_id, uint32_t *node_id, struct rtc_endpoint *ep)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&ep->addr;

	if (fake.publish_rc)
		return fake.publish_rc;
	fake.last_track = *spec;
	*track_id = ++fake.tracks;
	if (engine_add_tone(e, "fake track", 440.0, -40.0, spec->buses, node_id) < 0)
		return -EIO;
	memset(ep, 0, sizeof(*ep));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_ANY);
	ep->port = (uint16_t)(40000 + 2 * *track_id);
	in->sin_port = htons(ep->port);
	return 0;
}

int rtc_media_unpublish(struct rtc_media *m, uint32_t track_id)
{
	fake.unpublished++;
	return 0;
}

int rtc_media_track_stats(struct rtc_media *m, uint32_t track_id, struct rtc_track_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->packets = fake.track_packets;
	return 0;
}

int rtc_media_return_open(struct rtc_media *m, const struct rtc_return_spec *spec,
			  uint32_t *return_id)
{
	fake.last_return = *spec;
	*return_id = ++fake.returns;
	return 0;
}

int rtc_media_return_close(struct rtc_media *m, uint32_t return_id)
{
	fake.closed++;
	return 0;
}

int rtc_media_return_set_source(struct rtc_media *m, uint32_t return_id,
				enum rtc_return_source source)
{
	fake.last_return.source = source;
	return 0;
}

int rtc_media_return_stats(struct rtc_media *m, uint32_t return_id, struct rtc_return_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->ssrc = 0xabc000 + return_id;
	st->packets = fake.return_packets;
	return 0;
}

/* ---- clock, sessions, reports */

static int64_t mono_ms = 1000;
static int64_t unix_s = T0;

static void test_clock(void *user, int64_t *m, int64_t *u)
{
	*m = mono_ms;
	*u = unix_s;
}

struct conn {
	char last[4096];	/* the last frame */
	char all[16384];	/* every frame, newline-separated */
	int frames;
	bool closed;
};

static void conn_send(void *user, const char *text, size_t len)
{
	struct conn *c = user;

	snprintf(c->last, sizeof(c->last), "%.*s", (int)len, text);
	if (strlen(c->all) + len + 2 < sizeof(c->all)) {
		strncat(c->all, text, len);
		strcat(c->all, "\n");
	}
	c->frames++;
}

static void conn_close(void *user)
{
	((struct conn *)user)->closed = true;
}

static const struct rooms_conn_ops ops = { conn_send, conn_close };

static int reports[2048];	/* by -code - 1000 */

static void on_notice(const struct engine_notice *n, void *user)
{
	if (n->domain == AIRMIX_DOMAIN_RTC && n->code <= -1000 && n->code > -3000 &&
	    n->level != AIRMIX_LEVEL_INFO)
		reports[-n->code - 1000]++;
}

static int reported(int code)
{
	return reports[-code - 1000];
}

static struct rooms *r;

static void make_rooms(uint32_t users, uint32_t streams, bool auto_create)
{
	struct rooms_config rc = { .app_id = APP_ID, .app_key = APP_KEY,
				   .auto_create = auto_create, .max_users = users,
				   .max_streams = streams, .signalling_timeout_ms = 5000,
				   .token_warning_s = 30 };
	char err[256];

	rooms_destroy(r);
	r = NULL;
	rooms_create(e, (struct rtc_media *)&fake, &rc, &r, err, sizeof(err));
	rooms_set_clock(r, test_clock, NULL);
}

static void token(char *out, const char *room, const char *user, uint32_t expire,
		  uint32_t pub_expire, bool pub, bool sub)
{
	struct token t;

	token_init(&t, APP_ID, room, user, (uint32_t)unix_s, expire);
	if (pub)
		token_add_privilege(&t, TOKEN_PRIV_PUBLISH_STREAM, pub_expire);
	if (sub)
		token_add_privilege(&t, TOKEN_PRIV_SUBSCRIBE_STREAM, 0);
	token_issue(&t, APP_KEY, out, TOKEN_TEXT_MAX + 1);
}

static char msg[512];

static int join(struct rooms_session *s, const char *room, const char *user, bool visible)
{
	char tok[TOKEN_TEXT_MAX + 1];
	struct rooms_join_req rq = { .token = tok, .room = room, .user = user, .visible = visible };
	json_t *data = NULL;
	int rc;

	token(tok, room, user, 0, 0, true, true);
	rc = rooms_join(s, &rq, "test join", &data, msg, sizeof(msg));
	json_decref(data);
	return rc;
}

static int join_with(struct rooms_session *s, const char *room, const char *user,
		     const char *tok)
{
	struct rooms_join_req rq = { .token = tok, .room = room, .user = user, .visible = true };
	json_t *data = NULL;
	int rc = rooms_join(s, &rq, "test join", &data, msg, sizeof(msg));

	json_decref(data);
	return rc;
}

static int publish(struct rooms_session *s, json_t **out)
{
	struct rooms_publish_req rq = { .channels = 2, .volume = 150, .from_set = true };
	struct sockaddr_in *in = (struct sockaddr_in *)&rq.from;
	json_t *data = NULL;
	int rc;

	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in->sin_port = htons(5004);
	rc = rooms_publish(s, &rq, "test publish", &data, msg, sizeof(msg));
	if (out)
		*out = data;
	else
		json_decref(data);
	return rc;
}

static int subscribe(struct rooms_session *s, const char *stream, bool with_addr)
{
	struct rooms_subscribe_req rq = { .stream = stream, .to_set = with_addr };
	struct sockaddr_in *in = (struct sockaddr_in *)&rq.to;
	json_t *data = NULL;
	int rc;

	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in->sin_port = htons(6000);
	rc = rooms_subscribe(s, &rq, "test subscribe", &data, msg, sizeof(msg));
	json_decref(data);
	return rc;
}

static int simple(int (*fn)(struct rooms_session *, const char *, json_t **, char *, size_t),
		  struct rooms_session *s)
{
	json_t *data = NULL;
	int rc = fn(s, "test", &data, msg, sizeof(msg));

	json_decref(data);
	return rc;
}

/* ---- tests */

static void test_ids_and_tokens(void)
{
	struct conn c = { 0 };
	struct rooms_session *s;
	char tok[TOKEN_TEXT_MAX + 1], id[RTC_ID_MAX + 2];
	int before;

	make_rooms(50, 30, true);
	s = rooms_session_open(r, &ops, &c, "127.0.0.1");
	before = reported(RTC_ROOM_ID_ILLEGAL);
	CHECK(join(s, "bad room", "u", true) == RTC_ROOM_ID_ILLEGAL &&
	      strstr(msg, "A-Z a-z 0-9 _ @ -") && reported(RTC_ROOM_ID_ILLEGAL) == before + 1,
	      "a space in the room id: ROOM_ID_ILLEGAL, reported: %s", msg);
	memset(id, 'a', sizeof(id));
	id[RTC_ID_MAX + 1] = '\0';
	CHECK(join(s, id, "u", true) == RTC_ROOM_ID_ILLEGAL && strstr(msg, "1 to 128 bytes"),
	      "a 129-byte room id: %s", msg);
	CHECK(join(s, "", "u", true) == RTC_ROOM_ID_ILLEGAL, "an empty room id");
	CHECK(join(s, "r", "u/1", true) == RTC_INVALID_PARAMS && strstr(msg, "user id"),
	      "a bad user id: INVALID_PARAMS: %s", msg);
	id[RTC_ID_MAX] = '\0';
	CHECK(join(s, id, "A-z_0@9", true) == RTC_OK, "a 128-byte room id and every kind of "
	      "character are fine");
	simple(rooms_leave, s);

	before = reported(RTC_INVALID_TOKEN);
	CHECK(join_with(s, "r", "u", "001garbage") == RTC_INVALID_TOKEN && strstr(msg, "short"),
	      "a garbage token: INVALID_TOKEN: %s", msg);
	token(tok, "other", "u", 0, 0, true, true);
	CHECK(join_with(s, "r", "u", tok) == RTC_INVALID_TOKEN &&
	      strstr(msg, "token is for room other"), "a token for another room: %s", msg);
	token(tok, "r", "v", 0, 0, true, true);
	CHECK(join_with(s, "r", "u", tok) == RTC_INVALID_TOKEN, "a token for another user");
	token(tok, "r", "u", T0 - 1, 0, true, true);
	CHECK(join_with(s, "r", "u", tok) == RTC_INVALID_TOKEN && strstr(msg, "expired"),
	      "an expired token: %s", msg);
	tok[40] ^= 1;
	CHECK(join_with(s, "r", "u", tok) == RTC_INVALID_TOKEN, "a flipped bit");
	CHECK(reported(RTC_INVALID_TOKEN) == before + 5, "each INVALID_TOKEN reported (%d)",
	      reported(RTC_INVALID_TOKEN) - before);
	rooms_session_close(s);
}

static void test_rooms_admin(void)
{
	struct conn c1 = { 0 }, c2 = { 0 };
	struct rooms_session *s1, *s2;
	json_t *j;

	make_rooms(50, 30, false);
	s1 = rooms_session_open(r, &ops, &c1, "127.0.0.1");
	s2 = rooms_session_open(r, &ops, &c2, "127.0.0.1");
	CHECK(join(s1, "studio", "a", true) == RTC_JOIN_ROOM_FAILED && strstr(msg, "does not"),
	      "no auto-create: JOIN_ROOM_FAILED: %s", msg);
	CHECK(rooms_create_room(r, "studio", "POST", msg, sizeof(msg)) == RTC_OK,
	      "the admin creates the room");
	CHECK(rooms_create_room(r, "studio", "POST", msg, sizeof(msg)) ==
	      RTC_ROOM_ALREADY_EXIST && reported(RTC_ROOM_ALREADY_EXIST) == 1,
	      "twice: ROOM_ALREADY_EXIST");
	CHECK(rooms_create_room(r, "a b", "POST", msg, sizeof(msg)) == RTC_ROOM_ID_ILLEGAL,
	      "a bad id: ROOM_ID_ILLEGAL");
	CHECK(join(s1, "studio", "a", true) == RTC_OK && join(s2, "studio", "b", true) == RTC_OK,
	      "two users join");
	CHECK(strstr(c1.last, "\"event\":\"user_joined\"") && strstr(c1.last, "\"user\":\"b\""),
	      "a hears b join: %s", c1.last);
	CHECK(join(s1, "studio", "a", true) == RTC_REPEAT_JOIN && reported(RTC_REPEAT_JOIN) == 1,
	      "join again: REPEAT_JOIN");
	j = rooms_room_json(r, "studio");
	CHECK(j && json_integer_value(json_object_get(j, "visible_users")) == 2 &&
	      json_array_size(json_object_get(j, "users")) == 2, "the room lists two users");
	json_decref(j);
	j = rooms_list_json(r);
	CHECK(json_array_size(j) == 1, "one room listed");
	json_decref(j);

	CHECK(rooms_kick(r, "studio", "b", "DELETE") == 0 && strstr(c2.last, "\"kicked\"") &&
	      strstr(c2.last, "KICKED_OUT") && reported(RTC_KICKED_OUT) == 1,
	      "kick: b hears KICKED_OUT: %s", c2.last);
	CHECK(strstr(c1.last, "user_left") && strstr(c1.last, "kicked"), "a hears b leave");
	CHECK(rooms_kick(r, "studio", "b", "DELETE") == -ENOENT, "b is gone");
	CHECK(join(s2, "studio", "b", true) == RTC_OK, "b may join again");
	CHECK(rooms_dismiss(r, "studio", "DELETE") == 0 && strstr(c1.last, "room_dismissed") &&
	      strstr(c2.last, "ROOM_DISMISS") && reported(RTC_ROOM_DISMISS) == 2,
	      "dismiss: both hear ROOM_DISMISS");
	CHECK(!rooms_room_json(r, "studio") && rooms_dismiss(r, "studio", "") == -ENOENT,
	      "the room is gone");
	CHECK(simple(rooms_leave, s1) == RTC_OK, "leave when out of a room is fine");
	rooms_session_close(s1);
	rooms_session_close(s2);
}

static void test_limits(void)
{
	struct conn c[6] = { 0 };
	struct rooms_session *s[6];
	char user[8];
	int n_ok = 0;

	make_rooms(3, 2, true);
	for (int i = 0; i < 6; i++)
		s[i] = rooms_session_open(r, &ops, &c[i], "127.0.0.1");
	for (int i = 0; i < 3; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		n_ok += join(s[i], "lim", user, true) == RTC_OK;
	}
	CHECK(n_ok == 3 && join(s[3], "lim", "u3", true) == RTC_OVER_USER_LIMIT &&
	      reported(RTC_OVER_USER_LIMIT) == 1, "the 4th visible user: OVER_USER_LIMIT: %s",
	      msg);
	CHECK(join(s[3], "lim", "u3", false) == RTC_OK, "an invisible user still joins");
	CHECK(publish(s[3], NULL) == RTC_NO_PUBLISH_PERMISSION && strstr(msg, "invisible"),
	      "the invisible user publishes: NO_PUBLISH_PERMISSION: %s", msg);
	CHECK(publish(s[0], NULL) == RTC_OK && publish(s[1], NULL) == RTC_OK,
	      "two streams published");
	CHECK(fake.last_track.gain == 1.5f && fake.last_track.channels == 2 &&
	      !strcmp(fake.last_track.room, "lim") && fake.last_track.from_set,
	      "the track spec carries the volume, channels, room and source");
	CHECK(publish(s[2], NULL) == RTC_OVER_STREAM_PUBLISH_LIMIT &&
	      reported(RTC_OVER_STREAM_PUBLISH_LIMIT) == 1, "a 3rd: OVER_STREAM_PUBLISH_LIMIT");
	CHECK(publish(s[0], NULL) == RTC_INVALID_PARAMS, "publishing twice is refused");
	CHECK(simple(rooms_unpublish, s[1]) == RTC_OK && publish(s[2], NULL) == RTC_OK,
	      "after an unpublish the next one fits");
	CHECK(simple(rooms_unpublish, s[1]) == RTC_STREAM_NOT_EXIST,
	      "unpublish without a track: STREAM_NOT_EXIST");
	simple(rooms_unpublish, s[2]);
	fake.publish_rc = -ENOSPC;
	CHECK(publish(s[1], NULL) == RTC_PUBLISH_FAILED && strstr(msg, "space"),
	      "a media failure: PUBLISH_FAILED: %s", msg);
	fake.publish_rc = 0;
	CHECK(publish(s[4], NULL) == -1907 && reported(-1907) >= 1,
	      "publish before join: NOT_CONNECTED_YET");
	for (int i = 0; i < 6; i++)
		rooms_session_close(s[i]);
	CHECK(!rooms_room_json(r, "lim"), "an auto-created room goes with its last user");
}

static void test_streams(void)
{
	struct conn c1 = { 0 }, c2 = { 0 }, c3 = { 0 };
	struct rooms_session *s1, *s2, *s3;
	char tok[TOKEN_TEXT_MAX + 1];
	json_t *data = NULL;
	unsigned closed;

	make_rooms(50, 30, true);
	s1 = rooms_session_open(r, &ops, &c1, "10.1.2.3");
	s2 = rooms_session_open(r, &ops, &c2, "10.1.2.3");
	s3 = rooms_session_open(r, &ops, &c3, "10.1.2.3");
	join(s1, "st", "host", true);
	join(s2, "st", "guest", true);
	CHECK(publish(s1, &data) == RTC_OK && !strcmp(json_string_value(json_object_get(data,
	      "host")), "10.1.2.3") && json_integer_value(json_object_get(data, "port")) ==
	      40000 + 2 * (json_int_t)fake.tracks, "publish answers host and port (any -> the "
	      "signalling address)");
	json_decref(data);
	CHECK(strstr(c2.last, "user_published") && strstr(c2.last, "\"host\""),
	      "guest hears host publish");
	CHECK(subscribe(s2, "nobody", true) == RTC_STREAM_NOT_EXIST &&
	      reported(RTC_STREAM_NOT_EXIST) >= 1, "an unknown stream: STREAM_NOT_EXIST");
	CHECK(subscribe(s2, "programme", false) == RTC_INVALID_PARAMS && strstr(msg, "addr"),
	      "no address to send to: %s", msg);
	CHECK(subscribe(s2, "host", true) == RTC_OK &&
	      fake.last_return.source == RTC_RETURN_TRACK &&
	      fake.last_return.track_id == fake.tracks, "guest subscribes to host's track");
	CHECK(subscribe(s2, "host", true) == RTC_INVALID_PARAMS, "twice is refused");
	CHECK(subscribe(s1, "programme", false) == RTC_OK &&
	      fake.last_return.source == RTC_RETURN_MIX_MINUS &&
	      fake.last_return.track_id == fake.tracks &&
	      ntohs(((struct sockaddr_in *)&fake.last_return.to)->sin_port) == 5004,
	      "host's programme is a mix-minus of its own track, sent to where it publishes "
	      "from");
	CHECK(subscribe(s1, "host", true) == RTC_INVALID_PARAMS, "not one's own stream");
	closed = fake.closed;
	CHECK(simple(rooms_unpublish, s1) == RTC_OK && fake.closed == closed + 1 &&
	      strstr(c2.last, "user_unpublished"), "unpublish closes the guest's subscription");
	CHECK(rooms_unsubscribe(s2, "host", "t", &data, msg, sizeof(msg)) ==
	      RTC_STREAM_NOT_EXIST, "which is gone: STREAM_NOT_EXIST");
	CHECK(rooms_unsubscribe(s1, "programme", "t", &data, msg, sizeof(msg)) == RTC_OK,
	      "unsubscribe the programme");
	json_decref(data);
	data = NULL;

	/* permissions from the token */
	token(tok, "st", "nopub", 0, 0, false, false);
	join_with(s3, "st", "nopub", tok);
	CHECK(publish(s3, NULL) == RTC_TOKEN_NO_PUBLISH_PERMISSION &&
	      reported(RTC_TOKEN_NO_PUBLISH_PERMISSION) == 1,
	      "no publish privilege: TOKEN_NO_PUBLISH_PERMISSION");
	CHECK(subscribe(s3, "programme", true) == RTC_TOKEN_NO_SUBSCRIBE_PERMISSION &&
	      reported(RTC_TOKEN_NO_SUBSCRIBE_PERMISSION) == 1,
	      "no subscribe privilege: TOKEN_NO_SUBSCRIBE_PERMISSION");

	/* update_token */
	CHECK(rooms_update_token(s3, "001x", "t", &data, msg, sizeof(msg)) ==
	      RTC_UPDATE_TOKEN_WITH_INVALID_TOKEN &&
	      reported(RTC_UPDATE_TOKEN_WITH_INVALID_TOKEN) == 1,
	      "a bad new token: UPDATE_TOKEN_WITH_INVALID_TOKEN");
	token(tok, "st", "someone", 0, 0, true, true);
	CHECK(rooms_update_token(s3, tok, "t", &data, msg, sizeof(msg)) ==
	      RTC_UPDATE_TOKEN_WITH_INVALID_TOKEN, "a token of another user");
	token(tok, "st", "nopub", 0, 0, true, true);
	CHECK(rooms_update_token(s3, tok, "t", &data, msg, sizeof(msg)) == RTC_OK &&
	      publish(s3, NULL) == RTC_OK, "a good token adds the publish privilege");
	json_decref(data);
	data = NULL;
	simple(rooms_leave, s3);
	CHECK(rooms_update_token(s3, tok, "t", &data, msg, sizeof(msg)) ==
	      RTC_UPDATE_TOKEN_BEFORE_JOIN && reported(RTC_UPDATE_TOKEN_BEFORE_JOIN) == 1,
	      "update_token out of a room: UPDATE_TOKEN_BEFORE_JOIN");
	CHECK(publish(s3, NULL) == -1907 && subscribe(s3, "programme", true) == -1907,
	      "publish and subscribe out of a room: NOT_CONNECTED_YET");

	/* duplicate login */
	CHECK(join(s3, "st", "guest", true) == RTC_OK && strstr(c2.last, "duplicate_login") &&
	      strstr(c2.last, "DUPLICATE_LOGIN") && reported(RTC_DUPLICATE_LOGIN) == 1,
	      "guest joins from another connection: the first gets DUPLICATE_LOGIN");
	CHECK(join(s2, "st", "guest2", true) == RTC_OK, "the kicked session may join again");
	rooms_session_close(s1);
	rooms_session_close(s2);
	rooms_session_close(s3);
}

static void test_programme_before_publish(void)
{
	struct conn c = { 0 };
	struct rooms_session *s;
	json_t *data = NULL;
	unsigned closed;
	uint32_t first;

	make_rooms(50, 30, true);
	s = rooms_session_open(r, &ops, &c, "127.0.0.1");
	join(s, "early", "caller", true);
	CHECK(subscribe(s, "programme", true) == RTC_OK &&
	      fake.last_return.source == RTC_RETURN_MIX_MINUS && fake.last_return.track_id == 0,
	      "programme before publishing: the whole publish bus");
	first = fake.returns;
	closed = fake.closed;
	CHECK(publish(s, &data) == RTC_OK && fake.last_return.track_id == fake.tracks &&
	      ntohs(((struct sockaddr_in *)&fake.last_return.to)->sin_port) == 6000 &&
	      fake.closed == closed + 1 && json_integer_value(json_object_get(json_object_get(
	      data, "programme"), "return_id")) == first + 1,
	      "publishing reopens it without the caller's own track, same address, and says so");
	json_decref(data);
	rooms_session_close(s);
}

static void test_timers(void)
{
	struct conn c1 = { 0 }, c2 = { 0 }, c3 = { 0 };
	struct rooms_session *s1, *s2, *s3;
	char tok[TOKEN_TEXT_MAX + 1];
	int frames, cancels;

	make_rooms(50, 30, true);
	s1 = rooms_session_open(r, &ops, &c1, "127.0.0.1");
	s2 = rooms_session_open(r, &ops, &c2, "127.0.0.1");
	s3 = rooms_session_open(r, &ops, &c3, "127.0.0.1");
	token(tok, "tm", "short", (uint32_t)unix_s + 40, (uint32_t)unix_s + 35, true, true);
	CHECK(join_with(s1, "tm", "short", tok) == RTC_OK && publish(s1, NULL) == RTC_OK,
	      "a 40 s token joins and publishes (publish privilege 35 s)");
	unix_s += 5;
	frames = c1.frames;
	rooms_tick(r);
	CHECK(c1.frames == frames + 1 && strstr(c1.last, "token_will_expire") &&
	      strstr(c1.last, "publish") && reported(RTC_TOKEN_WILL_EXPIRE) == 1,
	      "31 s before the publish privilege ends: a warning: %s", c1.last);
	unix_s += 5;
	rooms_tick(r);
	CHECK(strstr(c1.last, "token_will_expire") && strstr(c1.last, "join") &&
	      reported(RTC_TOKEN_WILL_EXPIRE) == 2, "30 s before the token ends: a warning");
	frames = c1.frames;
	rooms_tick(r);
	CHECK(c1.frames == frames, "each warning once");
	unix_s += 25;
	rooms_tick(r);
	CHECK(strstr(c1.all, "TOKEN_NO_PUBLISH_PERMISSION") && fake.unpublished > 0,
	      "at 35 s the track goes: TOKEN_NO_PUBLISH_PERMISSION");
	unix_s += 5;
	mono_ms += 1000;
	rooms_tick(r);
	CHECK(strstr(c1.last, "token_expired") && strstr(c1.last, "TOKEN_EXPIRED") &&
	      reported(RTC_TOKEN_EXPIRED) == 1, "at 40 s the user is out: TOKEN_EXPIRED");
	CHECK(!rooms_room_json(r, "tm"), "and the auto room with it");

	/* pending operations cancelled by leave */
	cancels = reported(RTC_OPERATION_CANCEL);
	join(s2, "tm", "p", true);
	fake.track_packets = 0;
	fake.return_packets = 0;
	publish(s2, NULL);
	subscribe(s2, "programme", true);
	rooms_tick(r);
	CHECK(simple(rooms_leave, s2) == RTC_OK && strstr(c2.all, "OPERATION_CANCEL") &&
	      reported(RTC_OPERATION_CANCEL) == cancels + 2,
	      "leave before the first packets: two OPERATION_CANCEL");
	join(s2, "tm", "p", true);
	publish(s2, NULL);
	subscribe(s2, "programme", true);
	fake.track_packets = 5;
	fake.return_packets = 5;
	rooms_tick(r);
	simple(rooms_leave, s2);
	CHECK(reported(RTC_OPERATION_CANCEL) == cancels + 2, "once packets flowed, leaving cancels nothing");

	/* signalling timeout: s3 silent, s2 keeps talking */
	join(s3, "tm", "quiet", true);
	join(s2, "tm", "chatty", true);
	mono_ms += 3000;
	rooms_session_touch(s2);
	mono_ms += 3000;
	rooms_tick(r);
	CHECK(c3.closed && strstr(c3.last, "TIME_OUT") && reported(RTC_TIME_OUT) >= 1 &&
	      !c2.closed, "5 s of silence: TIME_OUT and the connection closed, the other stays");
	CHECK(strstr(c2.last, "user_left") && strstr(c2.last, "timeout"),
	      "the others hear the user leave");
	rooms_session_close(s1);
	rooms_session_close(s2);
	rooms_session_close(s3);
}

static void test_protocol(void)
{
	static char big[RTC_WS_MAX_MESSAGE + 16];
	struct conn c = { 0 };
	struct rtc_conn *rc;
	char tok[TOKEN_TEXT_MAX + 1], text[2048];
	const struct {
		const char *req, *want;
	} bad[] = {
		{ "not json", "not JSON" },
		{ "[1,2]", "must be a JSON object" },
		{ "{\"op\":\"ping\"}", "id must be an integer" },
		{ "{\"id\":\"1\",\"op\":\"ping\"}", "id must be an integer" },
		{ "{\"id\":1,\"op\":\"dance\"}", "op must be one of" },
		{ "{\"id\":1,\"op\":7}", "op must be one of" },
		{ "{\"id\":1,\"op\":\"ping\",\"x\":1}", "unknown field \\\"x\\\"" },
		{ "{\"id\":1,\"op\":\"join\",\"room\":\"r\",\"user\":\"u\"}", "needs token" },
		{ "{\"id\":1,\"op\":\"join\",\"token\":5,\"room\":\"r\",\"user\":\"u\"}",
		  "token must be a string" },
		{ "{\"id\":1,\"op\":\"publish\",\"volume\":401}", "volume must be an integer from 0" },
		{ "{\"id\":1,\"op\":\"publish\",\"volume\":1.5}", "volume must be an integer" },
		{ "{\"id\":1,\"op\":\"publish\",\"channels\":3}", "channels must be" },
		{ "{\"id\":1,\"op\":\"publish\",\"addr\":\"1.2.3.4\"}", "addr must be" },
		{ "{\"id\":1,\"op\":\"subscribe\",\"stream\":\"x\",\"addr\":\"[::1]:0\"}",
		  "addr must be" },
		{ "{\"id\":1,\"op\":\"join\",\"visible\":1,\"token\":\"t\",\"room\":\"r\","
		  "\"user\":\"u\"}", "visible must be true or false" },
		{ "{\"id\":1,\"id\":2,\"op\":\"ping\"}", "not JSON" },
	};
	int before = reported(RTC_INVALID_PARAMS), all = 0;

	make_rooms(50, 30, true);
	rc = rtc_conn_open(r, &ops, &c, "127.0.0.1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rtc_conn_message(rc, bad[i].req, strlen(bad[i].req));
		if (strstr(c.last, "\"ok\":false") && strstr(c.last, "INVALID_PARAMS") &&
		    strstr(c.last, bad[i].want))
			all++;
		else
			printf("# %s -> %s\n", bad[i].req, c.last);
	}
	CHECK(all == (int)(sizeof(bad) / sizeof(bad[0])) &&
	      reported(RTC_INVALID_PARAMS) == before + all,
	      "%d malformed requests answered INVALID_PARAMS and reported", all);
	rtc_conn_refuse(rc, "message larger than 16384 bytes");
	CHECK(strstr(c.last, "larger than 16384") && strstr(c.last, "\"id\":null"),
	      "an oversize message is refused: %s", c.last);
	memset(big, ' ', sizeof(big) - 1);
	rtc_conn_message(rc, big, sizeof(big) - 1);
	CHECK(strstr(c.last, "not JSON"), "blanks only");
	rtc_conn_message(rc, "{\"id\":7,\"op\":\"ping\"}", 20);
	CHECK(strstr(c.last, "\"id\":7") && strstr(c.last, "\"ok\":true") &&
	      strstr(c.last, "pong"), "ping: %s", c.last);
	token(tok, "proto", "u1", 0, 0, true, true);
	snprintf(text, sizeof(text), "{\"id\":8,\"op\":\"join\",\"token\":\"%s\",\"room\":"
		 "\"proto\",\"user\":\"u1\"}", tok);
	rtc_conn_message(rc, text, strlen(text));
	CHECK(strstr(c.last, "\"id\":8") && strstr(c.last, "\"ok\":true") &&
	      strstr(c.last, "\"room\":\"proto\""), "join over the protocol: %s", c.last);
	snprintf(text, sizeof(text), "{\"id\":9,\"op\":\"publish\",\"addr\":\"127.0.0.1:5555\","
		 "\"ssrc\":1234,\"channels\":1,\"volume\":0}");
	rtc_conn_message(rc, text, strlen(text));
	CHECK(strstr(c.last, "\"ok\":true") && strstr(c.last, "\"track_id\"") &&
	      strstr(c.last, "\"source\":\"127.0.0.1:5555\"") && fake.last_track.ssrc == 1234 && fake.last_track.channels == 1 &&
	      fake.last_track.gain == 0.0f, "publish over the protocol: %s", c.last);
	snprintf(text, sizeof(text), "{\"id\":10,\"op\":\"join\",\"token\":\"x\","
		 "\"room\":\"p\",\"user\":\"u\"}");
	rtc_conn_message(rc, text, strlen(text));
	CHECK(strstr(c.last, "REPEAT_JOIN") && strstr(c.last, "\"code\":-1903"),
	      "an rtc error carries its code and name: %s", c.last);
	snprintf(text, sizeof(text), "{\"id\":11,\"op\":\"subscribe\",\"stream\":"
		 "\"programme\"}");
	rtc_conn_message(rc, text, strlen(text));
	CHECK(strstr(c.last, "\"ok\":true") && strstr(c.last, "\"return_id\"") &&
	      strstr(c.last, "\"ssrc\""), "subscribe to the programme: %s", c.last);
	rtc_conn_message(rc, "{\"id\":12,\"op\":\"leave\"}", 22);
	CHECK(strstr(c.last, "\"left\":true"), "leave: %s", c.last);
	rtc_conn_close(rc);
}

static void test_config(void)
{
	struct rooms_config rc = { .app_id = APP_ID, .app_key = APP_KEY, .auto_create = true,
				   .max_users = 51, .max_streams = 30,
				   .signalling_timeout_ms = 1000, .token_warning_s = 30 };
	struct rooms *x = NULL;
	char err[256], out[TOKEN_TEXT_MAX + 1];
	struct token t;

	CHECK(rooms_create(e, NULL, &rc, &x, err, sizeof(err)) == -EINVAL && strstr(err, "1..50"),
	      "max_users 51 refused: %s", err);
	rc.max_users = 50;
	rc.max_streams = 31;
	CHECK(rooms_create(e, NULL, &rc, &x, err, sizeof(err)) == -EINVAL, "max_streams 31");
	rc.max_streams = 30;
	snprintf(rc.app_id, sizeof(rc.app_id), "short");
	CHECK(rooms_create(e, NULL, &rc, &x, err, sizeof(err)) == -EINVAL && strstr(err, "24"),
	      "a short app id: %s", err);
	make_rooms(50, 30, true);
	CHECK(rooms_issue_token(r, "room", "guest", 60, true, false, out, sizeof(out), err,
				sizeof(err)) == 0 &&
	      token_verify(out, APP_ID, APP_KEY, (uint32_t)unix_s, &t, err, sizeof(err)) == 0 &&
	      t.expire_at == unix_s + 60 && token_can_publish(&t, (uint32_t)unix_s, NULL) &&
	      !token_can_subscribe(&t, (uint32_t)unix_s, NULL), "the admin issues a token");
	CHECK(rooms_issue_token(r, "ro om", "guest", 60, true, true, out, sizeof(out), err,
				sizeof(err)) == -EINVAL && strstr(err, "room id"),
	      "not for a bad room id: %s", err);
}

/* A guest's link carries only the token: the user comes from it. A green
 * room guest publishes to the playout bus only until put on air (by
 * themselves or the engineer), everyone hearing of it. Without WebRTC (off
 * in this config) an offer is refused with NOT_SUPPORTED, a candidate
 * before any offer with INVALID_PARAMS; a dropped connection is a history
 * row. */
static void test_green_room(void)
{
	struct conn c1 = { 0 }, c2 = { 0 };
	struct rooms_session *s1, *s2;
	char tok[TOKEN_TEXT_MAX + 1];
	struct rooms_join_req rq = { .token = tok, .room = "green", .visible = true,
				     .green_room = true };
	json_t *data = NULL;
	int before;

	make_rooms(50, 30, true);
	s1 = rooms_session_open(r, &ops, &c1, "127.0.0.1");
	s2 = rooms_session_open(r, &ops, &c2, "127.0.0.1");
	join(s2, "green", "engineer", true);
	token(tok, "green", "guest7", 0, 0, true, true);
	CHECK(rooms_join(s1, &rq, "test join", &data, msg, sizeof(msg)) == RTC_OK &&
	      !strcmp(json_string_value(json_object_get(data, "user")), "guest7") &&
	      json_is_false(json_object_get(data, "on_air")) &&
	      json_is_array(json_object_get(json_object_get(data, "webrtc"), "ice_servers")),
	      "a join without user takes the token's, off air, with the ICE servers");
	json_decref(data);
	CHECK(publish(s1, NULL) == RTC_OK && fake.last_track.buses == ENGINE_TO_PLAYOUT,
	      "in the green room the track feeds the playout bus only (buses %#x)",
	      fake.last_track.buses);
	CHECK(subscribe(s1, "programme", true) == RTC_OK &&
	      fake.last_return.source == RTC_RETURN_TALKBACK,
	      "in the green room the programme return is the talkback (playout minus self)");
	data = NULL;
	CHECK(rooms_on_air(s1, true, "test on_air", &data, msg, sizeof(msg)) == RTC_OK &&
	      strstr(c2.last, "\"on_air\"") && strstr(c2.last, "guest7"),
	      "going on air is announced to the room: %s", c2.last);
	CHECK(fake.last_return.source == RTC_RETURN_MIX_MINUS,
	      "on air the return becomes the programme without the guest");
	json_decref(data);
	CHECK(rooms_set_on_air(r, "green", "guest7", false, "test") == 0 &&
	      strstr(c1.last, "\"on_air\":false"), "the engineer sends the guest back: %s",
	      c1.last);
	CHECK(rooms_set_on_air(r, "green", "nobody", true, "test") == -ENOENT,
	      "no such user: -ENOENT");
	data = NULL;
	before = reported(RTC_NOT_SUPPORTED);
	CHECK(rooms_webrtc_offer(s2, "v=0\r\n", "test offer", &data, msg, sizeof(msg)) ==
	      RTC_NOT_SUPPORTED && strstr(msg, "[webrtc] enabled = false") &&
	      reported(RTC_NOT_SUPPORTED) == before + 1,
	      "WebRTC turned off: an offer is refused and recorded: %s", msg);
	CHECK(rooms_webrtc_ice(s2, 0, "candidate:1 1 udp 1 127.0.0.1 9 typ host", "test ice",
			       &data, msg, sizeof(msg)) == RTC_INVALID_PARAMS,
	      "a candidate before an offer is refused: %s", msg);
	rooms_session_close(s1);
	CHECK(strstr(c2.last, "user_left") && strstr(c2.last, "dropped"),
	      "a closed connection is a user_left with reason dropped: %s", c2.last);
	rooms_session_close(s2);
}

int main(void)
{
	struct airmix_config cfg;
	char err[256];

	offline_config(&cfg, 48000, 256);
	if (engine_create(&cfg, NULL, NULL, &e, err, sizeof(err)) < 0) {
		printf("engine: %s\n", err);
		return 1;
	}
	engine_subscribe(e, on_notice, NULL);
	test_ids_and_tokens();
	test_rooms_admin();
	test_limits();
	test_streams();
	test_programme_before_publish();
	test_timers();
	test_protocol();
	test_green_room();
	test_config();
	rooms_destroy(r);
	engine_destroy(e);
	return CHECK_DONE();
}
