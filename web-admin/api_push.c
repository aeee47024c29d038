/* api_push.c - CDN push tasks over REST.
 *
 *   GET    /api/v1/cdn               every task with its status and counters
 *   POST   /api/v1/cdn/{task_id}     start: RTMP {"url", "sample_rate", "channels",
 *                                    "bitrate_kbps", "profile"} or Icecast {"icecast":
 *                                    {"host", "port", "mount", "user", "password", "name",
 *                                    "genre", "description"}, "channels", "bitrate_kbps"}
 *   PUT    /api/v1/cdn/{task_id}     update (the same fields; RTMP: nothing may change
 *                                    while pushing; Icecast: name, genre, description,
 *                                    and "title", the "now playing" text: "" hands it
 *                                    back to the mixing file names)
 *   GET    /api/v1/cdn/{task_id}     status and counters
 *   DELETE /api/v1/cdn/{task_id}     stop
 *
 * Task ids are text (at most 126 bytes); the segment "_" names the empty id
 * "" (allowed when it is the only task), so a task cannot be called "_".
 * The body tables check JSON types only: the push manager judges the values
 * and answers with a StreamMixingEventErrorCode (domain stream_mixing), after
 * emitting the event and storing the history row with this request; the
 * reply carries that code.
 *
 * Secrets never leave: the icecast password is masked in the history's copy
 * of the request and never shown; URLs (the RTMP stream key, any
 * user:password@, any query) go out through push_redact_url, in replies and
 * in the history.
 *
 * Threads: the lws service thread only.
 */
#include "web-admin/api_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recorder/push.h"
#include "web-admin/api_internal.h"

#define WIDE 1e12	/* a type check only: the manager judges the range */
#define MAX_LIST 64

static const struct api_field push_fields[] = {
	{ "url", FIELD_STRING, 0, 65536, false, NULL },
	{ "sample_rate", FIELD_INTEGER, -WIDE, WIDE, false, NULL },
	{ "channels", FIELD_INTEGER, -WIDE, WIDE, false, NULL },
	{ "bitrate_kbps", FIELD_INTEGER, -WIDE, WIDE, false, NULL },
	{ "profile", FIELD_STRING, 0, 65536, false, NULL },
	{ "codec", FIELD_STRING, 0, 65536, false, NULL },
	{ "icecast", FIELD_OBJECT, 0, 0, false, NULL },
	{ "title", FIELD_STRING, 0, 65536, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static struct push *manager(struct call *c)
{
	struct push *p = engine_push(c->e);

	if (!p)
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "push tasks are not running");
	return p;
}

static const char *task_id(struct call *c)
{
	return strcmp(c->id_text, "_") ? c->id_text : "";
}

/* The manager already emitted the event and stored the row: reply only. */
static void reply_push_error(struct call *c, int status, int code, const char *msg)
{
	const struct airmix_error_def *def = airmix_error_find(AIRMIX_DOMAIN_STREAM_MIXING, code);

	api_reply_json(c->rep, status ? status : def ? def->http_status : 400,
		       json_pack("{s:{s:s,s:i,s:s,s:o}}", "error", "domain", "stream_mixing",
				 "code", code, "name", def ? def->name : "ERR_UNKNOWN", "message",
				 api_text_json(msg)));
}

static json_t *url_json(const char *url)
{
	char safe[PUSH_URL_MAX + 16];

	push_redact_url(url, safe, sizeof(safe));
	return api_text_json(safe);
}

/* The request for the history, with the icecast password and the url's
 * secrets masked (malloc'd; NULL when out of memory). */
static char *redacted_request(struct call *c)
{
	json_t *copy = json_deep_copy(c->body);
	json_t *ice = json_object_get(copy, "icecast");
	json_t *url = json_object_get(copy, "url");
	char *body, *text = NULL;

	if (json_is_object(ice) && json_object_get(ice, "password"))
		json_object_set_new(ice, "password", json_string("***"));
	if (json_is_string(url))
		json_object_set_new(copy, "url", url_json(json_string_value(url)));
	body = copy ? api_dump(copy, NULL) : NULL;
	json_decref(copy);
	if (body && asprintf(&text, "%s %s %s", c->req->method_name, c->req->path, body) < 0)
		text = NULL;
	free(body);
	return text;
}

static json_t *status_json(const struct push_status *s)
{
	const struct push_params *p = &s->params;
	const struct airmix_error_def *def =
		airmix_error_find(AIRMIX_DOMAIN_STREAM_MIXING, s->last_error);
	json_t *j = json_object();

	json_object_set_new(j, "task_id", api_text_json(s->task_id));
	json_object_set_new(j, "kind", json_string(p->kind == PUSH_RTMP ? "rtmp" : "icecast"));
	json_object_set_new(j, "state", json_string(push_state_name(s->state)));
	if (p->kind == PUSH_RTMP) {
		json_object_set_new(j, "url", url_json(p->url));
		json_object_set_new(j, "profile", api_text_json(p->profile));
	} else {
		json_object_set_new(j, "icecast", json_pack("{s:o,s:i,s:o,s:o,s:o,s:o,s:o}",
			"host", api_text_json(p->host), "port", p->port,
			"mount", api_text_json(p->mount), "user", api_text_json(p->user),
			"name", api_text_json(p->name), "genre", api_text_json(p->genre),
			"description", api_text_json(p->description)));
		json_object_set_new(j, "title", api_text_json(p->title));
		json_object_set_new(j, "now_playing", api_text_json(s->now_playing));
	}
	json_object_set_new(j, "codec", json_string(p->kind == PUSH_RTMP ? "aac" : "opus"));
	json_object_set_new(j, "sample_rate", json_integer(p->sample_rate));
	json_object_set_new(j, "channels", json_integer(p->channels));
	json_object_set_new(j, "bitrate_kbps", json_integer(p->bitrate_kbps));
	json_object_set_new(j, "last_error", json_integer(s->last_error));
	json_object_set_new(j, "last_error_name", json_string(def ? def->name : "ERR_UNKNOWN"));
	json_object_set_new(j, "last_message", api_text_json(s->last_message));
	json_object_set_new(j, "attempts", json_integer((json_int_t)s->attempts));
	json_object_set_new(j, "connects", json_integer((json_int_t)s->connects));
	json_object_set_new(j, "bytes_sent", json_integer((json_int_t)s->bytes_sent));
	json_object_set_new(j, "frames_encoded", json_integer((json_int_t)s->frames_encoded));
	json_object_set_new(j, "frames_dropped", json_integer((json_int_t)s->frames_dropped));
	json_object_set_new(j, "uptime_s", json_real(s->uptime_s));
	return j;
}

static void reply_status(struct call *c, struct push *p, int status)
{
	struct push_status st;

	if (push_get_status(p, task_id(c), &st) < 0) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_NOT_FOUND, "no push task \"%s\"",
			      task_id(c));
		return;
	}
	api_reply_json(c->rep, status, status_json(&st));
}

static void get_list(struct call *c)
{
	char ids[MAX_LIST][PUSH_TASK_ID_MAX + 1];
	struct push *p = manager(c);
	struct push_status st;
	json_t *arr;
	size_t n;

	if (!p)
		return;
	n = push_list(p, ids, MAX_LIST);
	arr = json_array();
	for (size_t i = 0; i < n && i < MAX_LIST; i++)
		if (push_get_status(p, ids[i], &st) == 0)
			json_array_append_new(arr, status_json(&st));
	api_reply_json(c->rep, 200, json_pack("{s:o}", "tasks", arr));
}

static void get_one(struct call *c)
{
	struct push *p = manager(c);

	if (p)
		reply_status(c, p, 200);
}

static void copy_text(char *dst, size_t len, json_t *v)
{
	snprintf(dst, len, "%s", json_string_value(v));
}

/* Icecast members into prm; 0, or a message in msg. */
static int read_icecast(json_t *ice, struct push_params *prm, char *msg, size_t len)
{
	struct {
		const char *name;
		char *dst;
	} texts[] = {
		{ "host", prm->host }, { "mount", prm->mount }, { "user", prm->user },
		{ "password", prm->password }, { "name", prm->name }, { "genre", prm->genre },
		{ "description", prm->description },
	};
	const char *key;
	json_t *v;

	prm->kind = PUSH_ICECAST;
	json_object_foreach(ice, key, v) {
		size_t i;

		if (!strcmp(key, "port")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 65535) {
				snprintf(msg, len, "icecast port must be between 1 and 65535");
				return -1;
			}
			prm->port = (int)json_integer_value(v);
			continue;
		}
		for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
			if (!strcmp(key, texts[i].name))
				break;
		if (i == sizeof(texts) / sizeof(texts[0])) {
			snprintf(msg, len, "unknown icecast field %s", key);
			return -1;
		}
		if (!json_is_string(v) || json_string_length(v) >= PUSH_TEXT_MAX) {
			snprintf(msg, len, "icecast %s must be a string of at most %d bytes", key,
				 PUSH_TEXT_MAX - 1);
			return -1;
		}
		copy_text(texts[i].dst, PUSH_TEXT_MAX, v);
	}
	return 0;
}

static int body_int(struct call *c, const char *name, int def)
{
	json_t *v = json_object_get(c->body, name);
	double d = v ? json_number_value(v) : def;

	return d < -1e9 ? -1000000000 : d > 1e9 ? 1000000000 : (int)d;
}

/* The body over prm (the defaults, or the running settings); 0 or msg. */
static int read_body(struct call *c, struct push_params *prm, char *msg, size_t len)
{
	json_t *url = json_object_get(c->body, "url");
	json_t *ice = json_object_get(c->body, "icecast");
	json_t *profile = json_object_get(c->body, "profile");
	json_t *codec = json_object_get(c->body, "codec");
	json_t *title = json_object_get(c->body, "title");

	if (url && ice) {
		snprintf(msg, len, "give url (rtmp) or icecast, not both");
		return -1;
	}
	if (url) {
		if (json_string_length(url) >= PUSH_URL_MAX) {
			snprintf(msg, len, "url must be at most %d bytes", PUSH_URL_MAX - 1);
			return -1;
		}
		prm->kind = PUSH_RTMP;
		copy_text(prm->url, sizeof(prm->url), url);
	}
	if (ice && read_icecast(ice, prm, msg, len))
		return -1;
	if (profile) {
		if (json_string_length(profile) >= sizeof(prm->profile)) {
			snprintf(msg, len, "profile must be LC, HEv1 or HEv2");
			return -1;
		}
		copy_text(prm->profile, sizeof(prm->profile), profile);
	}
	if (codec) {
		if (json_string_length(codec) >= sizeof(prm->codec)) {
			snprintf(msg, len, "codec must be AAC (rtmp) or opus (icecast)");
			return -1;
		}
		copy_text(prm->codec, sizeof(prm->codec), codec);
	}
	if (title) {
		if (json_string_length(title) >= sizeof(prm->title)) {
			snprintf(msg, len, "title must be at most %zu bytes", sizeof(prm->title) - 1);
			return -1;
		}
		copy_text(prm->title, sizeof(prm->title), title);
	}
	prm->sample_rate = body_int(c, "sample_rate", prm->sample_rate);
	prm->channels = body_int(c, "channels", prm->channels);
	prm->bitrate_kbps = body_int(c, "bitrate_kbps", prm->bitrate_kbps);
	return 0;
}

/* Checks the body into prm and starts the task; the code and msg. */
static int start(struct call *c, struct push *p, const char *request, char *msg, size_t len)
{
	struct push_params prm = { .sample_rate = 48000, .channels = 2, .bitrate_kbps = 64 };

	if (!json_object_get(c->body, "url") && !json_object_get(c->body, "icecast")) {
		snprintf(msg, len, "give url (rtmp) or icecast");
	} else if (!read_body(c, &prm, msg, len)) {
		return push_start(p, task_id(c), &prm, request, msg, len);
	}
	push_report(p, task_id(c), PUSH_EVENT_START, PUSH_ERR_OK, request, "start pushing");
	push_report(p, task_id(c), PUSH_EVENT_START_FAILED, PUSH_ERR_PARAM_INVALID, request, msg);
	return PUSH_ERR_PARAM_INVALID;
}

static void post_start(struct call *c)
{
	struct push *p = manager(c);
	char msg[512] = "", *request;
	int code;

	if (!p)
		return;
	request = redacted_request(c);
	code = start(c, p, request ? request : "", msg, sizeof(msg));
	free(request);
	if (code)
		reply_push_error(c, 0, code, msg);
	else
		reply_status(c, p, 201);
}

static void put_one(struct call *c)
{
	struct push *p = manager(c);
	struct push_status st;
	char msg[512] = "", *request;
	int code;

	if (!p)
		return;
	if (push_get_status(p, task_id(c), &st) < 0) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_NOT_FOUND, "no push task \"%s\"",
			      task_id(c));
		return;
	}
	request = redacted_request(c);
	if (read_body(c, &st.params, msg, sizeof(msg))) {
		push_report(p, task_id(c), PUSH_EVENT_UPDATE, PUSH_ERR_OK, request, "update");
		push_report(p, task_id(c), PUSH_EVENT_UPDATE_FAILED, PUSH_ERR_PARAM_INVALID, request,
			    msg);
		code = PUSH_ERR_PARAM_INVALID;
	} else {
		code = push_update(p, task_id(c), &st.params, request, msg, sizeof(msg));
	}
	free(request);
	if (code)
		reply_push_error(c, 0, code, msg);
	else
		reply_status(c, p, 200);
}

static void delete_one(struct call *c)
{
	struct push *p = manager(c);
	char msg[512] = "";
	int code;

	if (!p)
		return;
	code = push_stop(p, task_id(c), c->req->request, msg, sizeof(msg));
	if (code) {
		reply_push_error(c, 404, code, msg);
		return;
	}
	api_reply_json(c->rep, 200, json_pack("{s:o,s:b}", "task_id", api_text_json(task_id(c)),
					      "stopped", 1));
}

const struct api_route api_push_routes[] = {
	{ "/api/v1/cdn", API_GET, NULL, NULL, get_list, API_ID_TEXT },
	{ "/api/v1/cdn/{id}", API_GET, NULL, NULL, get_one, API_ID_TEXT },
	{ "/api/v1/cdn/{id}", API_POST, push_fields, NULL, post_start, API_ID_TEXT },
	{ "/api/v1/cdn/{id}", API_PUT, push_fields, NULL, put_one, API_ID_TEXT },
	{ "/api/v1/cdn/{id}", API_DELETE, NULL, NULL, delete_one, API_ID_TEXT },
};

const size_t api_push_route_count = sizeof(api_push_routes) / sizeof(api_push_routes[0]);
