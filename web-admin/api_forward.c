/* api_forward.c - cross-room forwarding over REST (engine/rtc/forward.h).
 *
 *   GET    /api/v1/forward                       every forwarding room
 *   GET    /api/v1/rooms/{room}/forward          its targets' states
 *   POST   /api/v1/rooms/{room}/forward          start {"targets": [{"room",
 *                                                "token", "url"?}], "user"?,
 *                                                "track"?}
 *   PUT    /api/v1/rooms/{room}/forward          update: the same body; targets
 *                                                added, removed, tokens renewed
 *   DELETE /api/v1/rooms/{room}/forward          stop (every target Idle)
 *   POST   /api/v1/rooms/{room}/forward/pause    pause every target
 *   POST   /api/v1/rooms/{room}/forward/resume   resume them
 *
 * The body is checked here (ForwardStreamError INVALID_ARGUMENT 1201 with a
 * history row); the forwarder judges the rest and stores its own refusals,
 * which are only answered here. A verb out of order (update, pause, resume
 * or stop before start) is the UnExpectAPICall event, answered 409 with the
 * rtc code UNEXPECTED_INVOKE_FORWARD_STREAM.
 *
 * Threads: the lws service thread only.
 */
#include "web-admin/api_forward.h"

#include <stdio.h>
#include <string.h>

#include "engine/rtc/forward.h"

#define RTC_UNEXPECTED_INVOKE_FORWARD_STREAM (-1950)

static const struct api_field any_fields[] = {
	{ API_ANY_FIELDS, FIELD_OBJECT, 0, 0, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static struct forward *forwarder(struct call *c)
{
	struct forward *f = engine_forward(c->e);

	if (!f)
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "forwarding is not running");
	return f;
}

static void bad(struct call *c, const char *msg)
{
	api_call_fail(c, AIRMIX_DOMAIN_FORWARD_STREAM, FORWARD_INVALID_ARGUMENT, "%s", msg);
}

/* Copies an optional string member of at most max bytes; 0 or -1 (answered). */
static int copy_str(struct call *c, json_t *obj, const char *name, bool required, char *out,
		    size_t size, const char *where)
{
	json_t *v = json_object_get(obj, name);
	char msg[160];

	out[0] = '\0';
	if (!v && !required)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(msg, sizeof(msg), "%s%s must be a string of at most %zu bytes", where,
			 name, size - 1);
		bad(c, msg);
		return -1;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static bool only_keys(json_t *obj, const char *const *keys, const char **unknown)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		const char *const *k = keys;

		while (*k && strcmp(*k, key))
			k++;
		if (!*k) {
			*unknown = key;
			return false;
		}
	}
	return true;
}

/* The body as a request; 0 or -1 (answered). */
static int parse_body(struct call *c, struct forward_request *rq)
{
	static const char *const top[] = { "targets", "user", "track", NULL };
	static const char *const tkeys[] = { "room", "token", "url", NULL };
	json_t *targets = json_object_get(c->body, "targets"), *t;
	const char *unknown;
	char msg[300], where[32], url[FORWARD_HOST_MAX + 80];
	size_t i;

	memset(rq, 0, sizeof(*rq));
	if (strlen(c->id_text) > RTC_ID_MAX) {
		bad(c, "the room id is longer than 128 bytes");
		return -1;
	}
	snprintf(rq->room, sizeof(rq->room), "%.*s", RTC_ID_MAX, c->id_text);
	if (!only_keys(c->body, top, &unknown)) {
		snprintf(msg, sizeof(msg), "unknown field \"%.64s\": targets, user, track",
			 unknown);
		bad(c, msg);
		return -1;
	}
	if (copy_str(c, c->body, "user", false, rq->user, sizeof(rq->user), "") ||
	    copy_str(c, c->body, "track", false, rq->track, sizeof(rq->track), ""))
		return -1;
	if (!json_is_array(targets) || json_array_size(targets) < 1 ||
	    json_array_size(targets) > FORWARD_MAX_TARGETS) {
		snprintf(msg, sizeof(msg), "targets must be a list of 1 to %d target rooms (%zu "
			 "given)", FORWARD_MAX_TARGETS, json_array_size(targets));
		bad(c, msg);
		return -1;
	}
	json_array_foreach(targets, i, t) {
		struct forward_target *ft = &rq->targets[i];

		snprintf(where, sizeof(where), "targets[%zu].", i);
		if (!json_is_object(t) || !only_keys(t, tkeys, &unknown)) {
			snprintf(msg, sizeof(msg), "%s must be an object of room, token and url",
				 where);
			bad(c, msg);
			return -1;
		}
		if (copy_str(c, t, "room", true, ft->room, sizeof(ft->room), where) ||
		    copy_str(c, t, "token", true, ft->token, sizeof(ft->token), where) ||
		    copy_str(c, t, "url", false, url, sizeof(url), where))
			return -1;
		if (url[0] && forward_parse_url(url, ft, msg, sizeof(msg)) < 0) {
			bad(c, msg);
			return -1;
		}
	}
	rq->n_targets = (unsigned)json_array_size(targets);
	return 0;
}

/* The forwarder already stored the row: answer only. */
static void answer(struct call *c, struct forward *f, int rc, const char *msg, int ok_status)
{
	const struct airmix_error_def *def;
	json_t *j;

	if (rc == 0) {
		j = forward_json(f, c->id_text);
		api_reply_json(c->rep, ok_status, j ? j : json_pack("{s:o,s:b,s:[]}", "room",
			       api_text_json(c->id_text), "paused", 0, "targets"));
		return;
	}
	if (rc < 0)
		def = airmix_error_find(AIRMIX_DOMAIN_RTC, RTC_UNEXPECTED_INVOKE_FORWARD_STREAM);
	else
		def = airmix_error_find(AIRMIX_DOMAIN_FORWARD_STREAM, rc);
	api_reply_json(c->rep, def ? def->http_status : 400,
		       json_pack("{s:{s:s,s:i,s:s,s:o}}", "error", "domain",
				 rc < 0 ? "rtc" : "forward_stream", "code",
				 rc < 0 ? RTC_UNEXPECTED_INVOKE_FORWARD_STREAM : rc, "name",
				 def ? def->name : "UNKNOWN", "message", api_text_json(msg)));
}

static void start_or_update(struct call *c, bool update)
{
	struct forward *f = forwarder(c);
	struct forward_request rq;
	char msg[512];
	int rc;

	if (!f || parse_body(c, &rq) < 0)
		return;
	rc = update ? forward_update(f, &rq, c->req->request, msg, sizeof(msg)) :
	     forward_start(f, &rq, c->req->request, msg, sizeof(msg));
	answer(c, f, rc, msg, update ? 200 : 201);
}

static void post_forward(struct call *c)
{
	start_or_update(c, false);
}

static void put_forward(struct call *c)
{
	start_or_update(c, true);
}

static void delete_forward(struct call *c)
{
	struct forward *f = forwarder(c);
	char msg[512];

	if (f)
		answer(c, f, forward_stop(f, c->id_text, c->req->request, msg, sizeof(msg)), msg,
		       200);
}

static void post_pause(struct call *c)
{
	struct forward *f = forwarder(c);
	char msg[512];

	if (f)
		answer(c, f, forward_pause(f, c->id_text, c->req->request, msg, sizeof(msg)),
		       msg, 200);
}

static void post_resume(struct call *c)
{
	struct forward *f = forwarder(c);
	char msg[512];

	if (f)
		answer(c, f, forward_resume(f, c->id_text, c->req->request, msg, sizeof(msg)),
		       msg, 200);
}

static void get_forward(struct call *c)
{
	struct forward *f = forwarder(c);
	json_t *j = f ? forward_json(f, c->id_text) : NULL;

	if (!f)
		return;
	api_reply_json(c->rep, 200, j ? j : json_pack("{s:o,s:b,s:[]}", "room",
		       api_text_json(c->id_text), "paused", 0, "targets"));
}

static void get_list(struct call *c)
{
	struct forward *f = forwarder(c);

	if (f)
		api_reply_json(c->rep, 200, json_pack("{s:o}", "forward", forward_list_json(f)));
}

const struct api_route api_forward_routes[] = {
	{ "/api/v1/forward", API_GET, NULL, NULL, get_list, API_ID_TEXT },
	{ "/api/v1/rooms/{id}/forward", API_GET, NULL, NULL, get_forward, API_ID_TEXT },
	{ "/api/v1/rooms/{id}/forward", API_POST, any_fields, NULL, post_forward, API_ID_TEXT },
	{ "/api/v1/rooms/{id}/forward", API_PUT, any_fields, NULL, put_forward, API_ID_TEXT },
	{ "/api/v1/rooms/{id}/forward", API_DELETE, NULL, NULL, delete_forward, API_ID_TEXT },
	{ "/api/v1/rooms/{id}/forward/pause", API_POST, NULL, NULL, post_pause, API_ID_TEXT },
	{ "/api/v1/rooms/{id}/forward/resume", API_POST, NULL, NULL, post_resume,
	  API_ID_TEXT },
};
const size_t api_forward_route_count = sizeof(api_forward_routes) /
				       sizeof(api_forward_routes[0]);
