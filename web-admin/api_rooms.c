/* api_rooms.c - RTC rooms over REST.
 *
 *   GET    /api/v1/rooms                       every room (users, streams)
 *   POST   /api/v1/rooms                       create {"room"}
 *   GET    /api/v1/rooms/{room}                the room, its users and their
 *                                              tracks' live stats
 *   DELETE /api/v1/rooms/{room}                dismiss: everyone out (ROOM_DISMISS)
 *   POST   /api/v1/rooms/{room}/tokens         issue a token {"user", "expire_s",
 *                                              "publish", "subscribe"}
 *   GET    /api/v1/rooms/{room}/users          the users
 *   PUT    /api/v1/rooms/{room}/users/{user}   the user's track {"volume" 0..400,
 *                                              "mute", "pan", "buses"}; "on_air":
 *                                              false = the green room (playout
 *                                              only), true = in the programme
 *   DELETE /api/v1/rooms/{room}/users/{user}   kick (KICKED_OUT)
 *
 * The rooms manager reports its own refusals (history row with the room/user
 * as subject): those are only answered here. The rtc code's HTTP status
 * comes from the error table.
 *
 * Threads: the lws service thread only.
 */
#include "web-admin/api_rooms.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/rtc/rooms.h"
#include "web-admin/api_internal.h"

#define WIDE 1e12	/* a type check only: the handler judges the range */
#define EXPIRE_MAX_S (366 * 86400)

static const char *const bus_names[] = { "publish", "playout", NULL };

static const struct api_field room_fields[] = {
	{ "room", FIELD_STRING, 0, 1024, true, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static const struct api_field token_fields[] = {
	{ "user", FIELD_STRING, 0, 1024, true, NULL },
	{ "expire_s", FIELD_INTEGER, 0, EXPIRE_MAX_S, false, NULL },
	{ "publish", FIELD_BOOL, 0, 0, false, NULL },
	{ "subscribe", FIELD_BOOL, 0, 0, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static const struct api_field user_fields[] = {
	{ "volume", FIELD_INTEGER, -WIDE, WIDE, false, NULL },
	{ "mute", FIELD_BOOL, 0, 0, false, NULL },
	{ "pan", FIELD_NUMBER, -1, 1, false, NULL },
	{ "buses", FIELD_STRING_LIST, 1, 2, false, bus_names },
	{ "on_air", FIELD_BOOL, 0, 0, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static struct rooms *manager(struct call *c)
{
	struct rooms *r = engine_rooms(c->e);

	if (!r)
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "rtc rooms are not running");
	return r;
}

/* The rooms manager already stored the row: answer only. */
static void reply_rtc(struct call *c, int code, const char *msg)
{
	const struct airmix_error_def *def = airmix_error_find(AIRMIX_DOMAIN_RTC, code);

	api_reply_json(c->rep, def ? def->http_status : 400,
		       json_pack("{s:{s:s,s:i,s:s,s:o}}", "error", "domain", "rtc", "code", code,
				 "name", def ? def->name : "UNKNOWN", "message",
				 api_text_json(msg)));
}

static void no_room(struct call *c)
{
	api_call_fail(c, AIRMIX_DOMAIN_API, API_NOT_FOUND, "no room %s", c->id_text);
}

static void get_list(struct call *c)
{
	struct rooms *r = manager(c);

	if (r)
		api_reply_json(c->rep, 200, json_pack("{s:o}", "rooms", rooms_list_json(r)));
}

static void post_room(struct call *c)
{
	struct rooms *r = manager(c);
	const char *id = json_string_value(json_object_get(c->body, "room"));
	char msg[512];
	int code;

	if (!r)
		return;
	code = rooms_create_room(r, id, c->req->request, msg, sizeof(msg));
	if (code) {
		reply_rtc(c, code, msg);
		return;
	}
	snprintf(c->rep->location, sizeof(c->rep->location), "/api/v1/rooms/%.40s", id);
	api_reply_json(c->rep, 201, rooms_room_json(r, id));
}

static void get_room(struct call *c)
{
	struct rooms *r = manager(c);
	json_t *j = r ? rooms_room_json(r, c->id_text) : NULL;

	if (j)
		api_reply_json(c->rep, 200, j);
	else if (r)
		no_room(c);
}

static void delete_room(struct call *c)
{
	struct rooms *r = manager(c);

	if (!r)
		return;
	if (rooms_dismiss(r, c->id_text, c->req->request) < 0) {
		no_room(c);
		return;
	}
	api_reply_json(c->rep, 200, json_pack("{s:o,s:b}", "room", api_text_json(c->id_text),
					      "dismissed", 1));
}

static bool body_bool(struct call *c, const char *name, bool def)
{
	json_t *v = json_object_get(c->body, name);

	return v ? json_is_true(v) : def;
}

static void post_token(struct call *c)
{
	struct rooms *r = manager(c);
	const char *user = json_string_value(json_object_get(c->body, "user"));
	json_t *exp = json_object_get(c->body, "expire_s");
	uint32_t expire_s = exp ? (uint32_t)json_integer_value(exp) : 3600;
	char tok[TOKEN_TEXT_MAX + 1], msg[256];

	if (!r)
		return;
	if (rooms_issue_token(r, c->id_text, user, expire_s, body_bool(c, "publish", true),
			      body_bool(c, "subscribe", true), tok, sizeof(tok), msg,
			      sizeof(msg)) < 0) {
		api_call_fail(c, AIRMIX_DOMAIN_RTC, RTC_INVALID_PARAMS, "%s", msg);
		return;
	}
	api_reply_json(c->rep, 201, json_pack("{s:s,s:o,s:o,s:i}", "token", tok, "room",
					      api_text_json(c->id_text), "user",
					      api_text_json(user), "expire_s", (int)expire_s));
}

static void get_users(struct call *c)
{
	struct rooms *r = manager(c);
	json_t *users = r ? rooms_users_json(r, c->id_text) : NULL;

	if (users)
		api_reply_json(c->rep, 200, json_pack("{s:o}", "users", users));
	else if (r)
		no_room(c);
}

static uint32_t bus_mask(json_t *list)
{
	uint32_t mask = 0;
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		mask |= strcmp(json_string_value(v), "publish") ? ENGINE_TO_PLAYOUT :
			ENGINE_TO_PUBLISH;
	return mask;
}

/* The user's track node, or an error answered. */
static int user_node(struct call *c, struct rooms *r, uint32_t *node)
{
	int rc = rooms_user_node(r, c->id_text, c->n_text, node);

	if (rc == -ENODATA)
		api_call_fail(c, AIRMIX_DOMAIN_RTC, RTC_STREAM_NOT_EXIST,
			      "user %s in room %s is not publishing", c->n_text, c->id_text);
	else if (rc < 0)
		api_call_fail(c, AIRMIX_DOMAIN_API, API_NOT_FOUND, "no user %s in room %s",
			      c->n_text, c->id_text);
	return rc;
}

/* On air or back to the green room; 0, or -1 with the error answered. */
static int put_on_air(struct call *c, struct rooms *r, bool on_air)
{
	int rc = rooms_set_on_air(r, c->id_text, c->n_text, on_air, c->req->request);

	if (rc == -ENOENT)
		api_call_fail(c, AIRMIX_DOMAIN_API, API_NOT_FOUND, "no user %s in room %s",
			      c->n_text, c->id_text);
	else if (rc < 0)
		api_engine_fail(c, rc, "moving the user on or off air");
	return rc < 0 ? -1 : 0;
}

static void put_user(struct call *c)
{
	struct rooms *r = manager(c);
	json_t *vol = json_object_get(c->body, "volume"), *v;
	json_t *air = json_object_get(c->body, "on_air");
	struct engine_node_info ni;
	uint32_t node = 0;
	int rc = 0;

	if (!r)
		return;
	if (vol && (json_integer_value(vol) < 0 || json_integer_value(vol) > 400)) {
		api_call_fail(c, AIRMIX_DOMAIN_RTC, RTC_INVALID_PARAMS,
			      "volume %lld is out of range [0, 400]",
			      (long long)json_integer_value(vol));
		return;
	}
	if (air && put_on_air(c, r, json_is_true(air)) < 0)
		return;
	if (air && json_object_size(c->body) == 1) {	/* a user not publishing yet too */
		api_reply_json(c->rep, 200, json_pack("{s:s,s:s,s:O}", "room", c->id_text, "user",
						      c->n_text, "on_air", air));
		return;
	}
	if (user_node(c, r, &node) < 0)
		return;
	if (vol)
		rc = engine_set_gain(c->e, node, (float)json_integer_value(vol) / 100.0f);
	if (!rc && (v = json_object_get(c->body, "mute")))
		rc = engine_set_mute(c->e, node, json_is_true(v));
	if (!rc && (v = json_object_get(c->body, "pan")))
		rc = engine_set_pan(c->e, node, (float)json_number_value(v));
	if (!rc && (v = json_object_get(c->body, "buses")))
		rc = engine_set_buses(c->e, node, bus_mask(v));
	if (!rc)
		rc = engine_get_node(c->e, node, &ni);
	if (rc) {
		api_engine_fail(c, rc, "changing the user's track");
		return;
	}
	api_reply_json(c->rep, 200, api_node_json(&ni));
}

static void delete_user(struct call *c)
{
	struct rooms *r = manager(c);

	if (!r)
		return;
	if (rooms_kick(r, c->id_text, c->n_text, c->req->request) < 0) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_NOT_FOUND, "no user %s in room %s",
			      c->n_text, c->id_text);
		return;
	}
	api_reply_json(c->rep, 200, json_pack("{s:o,s:o,s:b}", "room", api_text_json(c->id_text),
					      "user", api_text_json(c->n_text), "kicked", 1));
}

const struct api_route api_rooms_routes[] = {
	{ "/api/v1/rooms", API_GET, NULL, NULL, get_list, API_ID_TEXT },
	{ "/api/v1/rooms", API_POST, room_fields, NULL, post_room, API_ID_TEXT },
	{ "/api/v1/rooms/{id}", API_GET, NULL, NULL, get_room, API_ID_TEXT },
	{ "/api/v1/rooms/{id}", API_DELETE, NULL, NULL, delete_room, API_ID_TEXT },
	{ "/api/v1/rooms/{id}/tokens", API_POST, token_fields, NULL, post_token, API_ID_TEXT },
	{ "/api/v1/rooms/{id}/users", API_GET, NULL, NULL, get_users, API_ID_TEXT },
	{ "/api/v1/rooms/{id}/users/{n}", API_PUT, user_fields, NULL, put_user,
	  API_ID_TEXT_PAIR },
	{ "/api/v1/rooms/{id}/users/{n}", API_DELETE, NULL, NULL, delete_user,
	  API_ID_TEXT_PAIR },
};

const size_t api_rooms_route_count = sizeof(api_rooms_routes) / sizeof(api_rooms_routes[0]);
