/* api_mixing.c - the audio mixing manager over REST.
 *
 *   GET    /api/v1/mixing                 every id with its state
 *   POST   /api/v1/mixing/stop_all        stopAllAudioMixing (and pause_all, resume_all)
 *   GET    /api/v1/mixing/{id}            state, file, volumes, pitch, speed, position, ...
 *   PUT    /api/v1/mixing/{id}            any of volume (+volume_type), pitch, speed,
 *                                         position_ms, dual_mono, loudness,
 *                                         progress_interval_ms, track
 *   DELETE /api/v1/mixing/{id}            unloadAudioMixing
 *   POST   /api/v1/mixing/{id}/preload    {"path"}
 *   POST   /api/v1/mixing/{id}/start      {"path", "type", "play_count", "position_ms",
 *                                          "progress_interval_ms"}
 *   POST   /api/v1/mixing/{id}/stop|pause|resume|unload
 *
 * The body tables check types only where the reference gives the range its
 * own error code (volume, pitch, speed, position, track): those values reach
 * the manager, which answers with the AudioMixingError (INVALID_VOLUME, ...),
 * emits the event and stores the row with this request. The reply carries
 * the same code with the status of the error table.
 *
 * Threads: the lws service thread only.
 */
#include "web-admin/api_mixing.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "engine/mixing.h"
#include "web-admin/api_internal.h"

#define WIDE 1e12	/* a type check only: the manager judges the range */

static const struct api_field preload_fields[] = {
	{ "path", FIELD_STRING, 1, PATH_MAX - 1, true, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static const struct api_field start_fields[] = {
	{ "path", FIELD_STRING, 1, PATH_MAX - 1, true, NULL },
	{ "type", FIELD_INTEGER, 0, 2, false, NULL },
	{ "play_count", FIELD_INTEGER, INT_MIN, INT_MAX, false, NULL },
	{ "position_ms", FIELD_INTEGER, 0, WIDE, false, NULL },
	{ "progress_interval_ms", FIELD_INTEGER, -WIDE, WIDE, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static const struct api_field put_fields[] = {
	{ "volume", FIELD_INTEGER, INT_MIN, INT_MAX, false, NULL },
	{ "volume_type", FIELD_INTEGER, 0, 2, false, NULL },
	{ "pitch", FIELD_INTEGER, INT_MIN, INT_MAX, false, NULL },
	{ "speed", FIELD_INTEGER, INT_MIN, INT_MAX, false, NULL },
	{ "position_ms", FIELD_INTEGER, -WIDE, WIDE, false, NULL },
	{ "dual_mono", FIELD_INTEGER, 0, 3, false, NULL },
	{ "loudness", FIELD_NUMBER, -WIDE, WIDE, false, NULL },
	{ "progress_interval_ms", FIELD_INTEGER, -WIDE, WIDE, false, NULL },
	{ "track", FIELD_INTEGER, INT_MIN, INT_MAX, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static struct mixing *manager(struct call *c)
{
	struct mixing *m = engine_mixing(c->e);

	if (!m)
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "the mixing manager is not running");
	return m;
}

static const char *file_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static json_t *info_json(const struct mixing_info *i)
{
	json_t *j = json_object();

	json_object_set_new(j, "id", json_integer(i->id));
	json_object_set_new(j, "state", json_integer(i->state));
	json_object_set_new(j, "state_name", json_string(mixing_state_name(i->state)));
	json_object_set_new(j, "last_error", json_integer(i->last_error));
	json_object_set_new(j, "last_error_name", json_string(mixing_error_name(i->last_error)));
	json_object_set_new(j, "path", api_text_json(i->path));
	json_object_set_new(j, "file", api_text_json(file_name(i->path)));
	json_object_set_new(j, "format", api_text_json(i->format));
	json_object_set_new(j, "preloaded", json_boolean(i->preloaded));
	json_object_set_new(j, "type", json_integer(i->type));
	json_object_set_new(j, "play_count", json_integer(i->play_count));
	json_object_set_new(j, "volume", json_pack("{s:i,s:i}", "playout", i->volume[0],
						     "publish", i->volume[1]));
	json_object_set_new(j, "pitch", json_integer(i->pitch));
	json_object_set_new(j, "speed", json_integer(i->speed));
	json_object_set_new(j, "dual_mono", json_integer(i->dual_mono));
	json_object_set_new(j, "loudness", i->loudness_target > 0.0 ? json_null()
								    : json_real(i->loudness_target));
	json_object_set_new(j, "loudness_measured", isfinite(i->loudness_measured)
							    ? json_real(i->loudness_measured)
							    : json_null());
	json_object_set_new(j, "duration_ms", json_integer(i->duration_ms));
	json_object_set_new(j, "position_ms", json_integer(i->position_ms));
	json_object_set_new(j, "playback_ms", json_integer(i->playback_ms));
	json_object_set_new(j, "tracks", json_integer(i->tracks));
	json_object_set_new(j, "track", json_integer(i->track));
	json_object_set_new(j, "progress_interval_ms", json_integer(i->progress_interval_ms));
	json_object_set_new(j, "underruns", json_integer((json_int_t)i->underruns));
	json_object_set_new(j, "node_id", i->node_id ? json_integer(i->node_id) : json_null());
	return j;
}

/* The manager already emitted the event and stored the row: reply only. */
static void reply_mixing_error(struct call *c, int code)
{
	const struct airmix_error_def *def = airmix_error_find(AIRMIX_DOMAIN_AUDIO_MIXING, code);

	api_reply_json(c->rep, def ? def->http_status : 400,
		       json_pack("{s:{s:s,s:i,s:s,s:o}}", "error", "domain", "audio_mixing", "code",
				 code, "name", def ? def->name : "UNKNOWN", "message",
				 api_text_json(mixing_last_message())));
}

static void reply_info(struct call *c, struct mixing *m)
{
	struct mixing_info info;

	if (mixing_get_info(m, c->mix_id, &info) < 0) {
		reply_mixing_error(c, MIXING_ID_NOT_FOUND);
		return;
	}
	api_reply_json(c->rep, 200, info_json(&info));
}

/* Reply to a mixing call's result. */
static void finish(struct call *c, struct mixing *m, int code)
{
	mixing_set_request(NULL);
	if (code != MIXING_OK)
		reply_mixing_error(c, code);
	else
		reply_info(c, m);
}

static int body_int(struct call *c, const char *name, int def)
{
	json_t *v = json_object_get(c->body, name);

	return v ? (int)json_number_value(v) : def;
}

static void get_list(struct call *c)
{
	struct mixing *m = manager(c);
	json_t *arr;
	int ids[1024], n;

	if (!m)
		return;
	n = mixing_list(m, ids, 1024);
	arr = json_array();
	for (int i = 0; i < n && i < 1024; i++) {
		struct mixing_info info;

		if (mixing_get_info(m, ids[i], &info) == 0)
			json_array_append_new(arr, info_json(&info));
	}
	api_reply_json(c->rep, 200, json_pack("{s:o,s:i}", "mixing", arr, "max_ids",
					      engine_config(c->e)->mixing_max_ids));
}

static void get_one(struct call *c)
{
	struct mixing *m = manager(c);

	if (m)
		reply_info(c, m);
}

static void post_preload(struct call *c)
{
	struct mixing *m = manager(c);

	if (!m)
		return;
	mixing_set_request(c->req->request);
	finish(c, m, mixing_preload(m, c->mix_id,
				    json_string_value(json_object_get(c->body, "path"))));
}

static void post_start(struct call *c)
{
	struct mixing *m = manager(c);
	struct mixing_start_config sc;

	if (!m)
		return;
	sc.type = body_int(c, "type", MIXING_TYPE_PLAYOUT_AND_PUBLISH);
	sc.play_count = body_int(c, "play_count", 1);
	sc.position_ms = (int64_t)json_number_value(json_object_get(c->body, "position_ms"));
	sc.progress_interval_ms =
		(int64_t)json_number_value(json_object_get(c->body, "progress_interval_ms"));
	mixing_set_request(c->req->request);
	finish(c, m, mixing_start(m, c->mix_id,
				  json_string_value(json_object_get(c->body, "path")), &sc));
}

static void verb(struct call *c, int (*fn)(struct mixing *, int))
{
	struct mixing *m = manager(c);

	if (!m)
		return;
	mixing_set_request(c->req->request);
	finish(c, m, fn(m, c->mix_id));
}

static void post_stop(struct call *c)
{
	verb(c, mixing_stop);
}

static void post_pause(struct call *c)
{
	verb(c, mixing_pause);
}

static void post_resume(struct call *c)
{
	verb(c, mixing_resume);
}

static void post_unload(struct call *c)
{
	verb(c, mixing_unload);
}

static void all(struct call *c, void (*fn)(struct mixing *))
{
	struct mixing *m = manager(c);

	if (!m)
		return;
	mixing_set_request(c->req->request);
	fn(m);
	mixing_set_request(NULL);
	get_list(c);
}

static void post_stop_all(struct call *c)
{
	all(c, mixing_stop_all);
}

static void post_pause_all(struct call *c)
{
	all(c, mixing_pause_all);
}

static void post_resume_all(struct call *c)
{
	all(c, mixing_resume_all);
}

/* PUT: each field present is one setter call, in table order; the first
 * failure answers. */
static int apply_setter(struct mixing *m, struct call *c, const char *name, json_t *v)
{
	double d = json_number_value(v);

	if (!strcmp(name, "volume"))
		return mixing_set_volume(m, c->mix_id, (int)d,
					 body_int(c, "volume_type", MIXING_TYPE_PLAYOUT_AND_PUBLISH));
	if (!strcmp(name, "pitch"))
		return mixing_set_pitch(m, c->mix_id, (int)d);
	if (!strcmp(name, "speed"))
		return mixing_set_playback_speed(m, c->mix_id, (int)d);
	if (!strcmp(name, "position_ms"))
		return mixing_set_position(m, c->mix_id, (int64_t)d);
	if (!strcmp(name, "dual_mono"))
		return mixing_set_dual_mono_mode(m, c->mix_id, (int)d);
	if (!strcmp(name, "loudness"))
		return mixing_set_loudness(m, c->mix_id, d);
	if (!strcmp(name, "progress_interval_ms"))
		return mixing_set_progress_interval(m, c->mix_id, (int64_t)d);
	if (!strcmp(name, "track"))
		return mixing_select_audio_track(m, c->mix_id, (int)d);
	return MIXING_OK;	/* volume_type goes with volume */
}

static void put_one(struct call *c)
{
	struct mixing *m = manager(c);
	int code = MIXING_OK;

	if (!m)
		return;
	if (!json_object_size(c->body)) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_MISSING_FIELD,
			      "give at least one of volume, pitch, speed, position_ms, dual_mono, "
			      "loudness, progress_interval_ms, track");
		return;
	}
	if (json_object_get(c->body, "volume_type") && !json_object_get(c->body, "volume")) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_MISSING_FIELD, "volume_type needs volume");
		return;
	}
	mixing_set_request(c->req->request);
	for (const struct api_field *f = put_fields; f->name && code == MIXING_OK; f++) {
		json_t *v = json_object_get(c->body, f->name);

		if (v)
			code = apply_setter(m, c, f->name, v);
	}
	finish(c, m, code);
}

const struct api_route api_mixing_routes[] = {
	{ "/api/v1/mixing", API_GET, NULL, NULL, get_list, API_ID_MIX },
	{ "/api/v1/mixing/stop_all", API_POST, NULL, NULL, post_stop_all, API_ID_MIX },
	{ "/api/v1/mixing/pause_all", API_POST, NULL, NULL, post_pause_all, API_ID_MIX },
	{ "/api/v1/mixing/resume_all", API_POST, NULL, NULL, post_resume_all, API_ID_MIX },
	{ "/api/v1/mixing/{id}", API_GET, NULL, NULL, get_one, API_ID_MIX },
	{ "/api/v1/mixing/{id}", API_PUT, put_fields, NULL, put_one, API_ID_MIX },
	{ "/api/v1/mixing/{id}", API_DELETE, NULL, NULL, post_unload, API_ID_MIX },
	{ "/api/v1/mixing/{id}/preload", API_POST, preload_fields, NULL, post_preload, API_ID_MIX },
	{ "/api/v1/mixing/{id}/start", API_POST, start_fields, NULL, post_start, API_ID_MIX },
	{ "/api/v1/mixing/{id}/stop", API_POST, NULL, NULL, post_stop, API_ID_MIX },
	{ "/api/v1/mixing/{id}/pause", API_POST, NULL, NULL, post_pause, API_ID_MIX },
	{ "/api/v1/mixing/{id}/resume", API_POST, NULL, NULL, post_resume, API_ID_MIX },
	{ "/api/v1/mixing/{id}/unload", API_POST, NULL, NULL, post_unload, API_ID_MIX },
};

const size_t api_mixing_route_count = sizeof(api_mixing_routes) / sizeof(api_mixing_routes[0]);
