/* api_recordings.c - disk takes over REST.
 *
 *   GET    /api/v1/recordings             every take, oldest first
 *   POST   /api/v1/recordings             start a take: {"tracks": ["publish",
 *                                         "playout", "<node id>" or "<node name>"],
 *                                         "mix": bool, "format": "wav"|"flac",
 *                                         "bits": 16|24|32, "name": template,
 *                                         "description": text, "split_minutes":
 *                                         1..1440 (a new part, NAME-partNN, every
 *                                         N minutes on the exact frame),
 *                                         "logger": true (radio log: files cut at
 *                                         the top of each hour, or every
 *                                         "logger_period_s" of local time,
 *                                         named logger-%Y%m%d-%H%M%S-{track};
 *                                         "logger_keep_days", "logger_max_mb":
 *                                         retention, 0 = none)}
 *                                         -> 201 + the take
 *   GET    /api/v1/recordings/{id}        state, duration, files with sizes, overruns
 *   DELETE /api/v1/recordings/{id}        forget the take, delete its files
 *                                         (refused while recording)
 *   POST   /api/v1/recordings/{id}/stop   stop; waits until the files are final
 *   POST   /api/v1/recordings/{id}/markers {"label"} -> 201 + the marker: a cue
 *                                         point at the current position, listed
 *                                         with the take and kept in a CSV sidecar
 *   GET    /api/v1/recordings/{id}/files/{n}  file n of a stopped take, counted
 *                                         over every part (finished parts first,
 *                                         "file_count" in all) (audio/wav
 *                                         or audio/flac), with one byte range
 *                                         (Range: bytes=a-b, a- or -n -> 206;
 *                                         beyond the end -> 416). The file is the
 *                                         take's own: no client path reaches the
 *                                         file system.
 *
 * Track items are strings (the body tables have no mixed-type list): "publish"
 * (or "mix"), "playout", a node id in decimal, "mixing:<id>" (the node of a
 * playing mixing id), or a node's name. Errors use
 * the recorder domain (RECORDER_UNKNOWN_TRACK 404, RECORDER_INVALID_FORMAT
 * 400, RECORDER_TAKE_RUNNING 409, ...) and api-domain codes for the body's
 * shape.
 *
 * Threads: the lws service thread only.
 */
#include "web-admin/api_recordings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/mixing.h"
#include "recorder/recorder.h"
#include "web-admin/api_internal.h"

static const char *const format_names[] = { "wav", "flac", NULL };

static const struct api_field start_fields[] = {
	{ "tracks", FIELD_STRING_LIST, 1, RECORDER_MAX_TRACKS, false, NULL },
	{ "mix", FIELD_BOOL, 0, 0, false, NULL },
	{ "format", FIELD_STRING, 1, 8, false, format_names },
	{ "bits", FIELD_INTEGER, 16, 32, false, NULL },
	{ "name", FIELD_STRING, 1, 255, false, NULL },
	{ "description", FIELD_STRING, 0, 255, false, NULL },
	{ "split_minutes", FIELD_INTEGER, 1, 1440, false, NULL },
	{ "logger", FIELD_BOOL, 0, 0, false, NULL },
	{ "logger_period_s", FIELD_INTEGER, 2, 86400, false, NULL },
	{ "logger_keep_days", FIELD_INTEGER, 0, 36500, false, NULL },
	{ "logger_max_mb", FIELD_INTEGER, 0, 1099511627776.0, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static const struct api_field marker_fields[] = {
	{ "label", FIELD_STRING, 0, RECORDER_LABEL_MAX - 1, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static struct recorder *recorder_of(struct call *c)
{
	struct recorder *r = engine_recorder(c->e);

	if (!r)
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "the recorder is not running");
	return r;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static json_t *marker_json(const struct take_info *t, uint32_t i)
{
	const struct take_marker *m = &t->markers[i];

	return json_pack("{s:i,s:I,s:f,s:I,s:o}", "index", (int)i, "frame", (json_int_t)m->frame,
			 "seconds", t->rate ? (double)m->frame / t->rate : 0.0, "time_us",
			 (json_int_t)m->time_us, "label", api_text_json(m->label));
}

static json_t *take_json(const struct take_info *t)
{
	json_t *files = json_array(), *markers = json_array(), *j = json_object();

	for (uint32_t i = 0; i < t->n_files; i++) {
		const struct take_file *f = &t->files[i];

		json_array_append_new(files, json_pack(
			"{s:i,s:o,s:i,s:o,s:o,s:I,s:I,s:I}", "index", (int)i, "track",
			api_text_json(f->track), "node_id", (int)f->node_id, "path",
			api_text_json(f->path), "name", api_text_json(base_name(f->path)), "bytes",
			(json_int_t)f->bytes, "frames", (json_int_t)f->frames, "dropped_frames",
			(json_int_t)f->dropped_frames));
	}
	json_object_set_new(j, "id", json_integer(t->id));
	json_object_set_new(j, "state", json_string(recorder_state_name(t->state)));
	json_object_set_new(j, "started_us", json_integer(t->started_us));
	json_object_set_new(j, "stopped_us", t->stopped_us ? json_integer(t->stopped_us)
							   : json_null());
	json_object_set_new(j, "rate", json_integer(t->rate));
	json_object_set_new(j, "frames", json_integer((json_int_t)t->frames));
	json_object_set_new(j, "seconds", json_real(t->seconds));
	json_object_set_new(j, "format", json_string(recorder_format_name(t->format)));
	json_object_set_new(j, "bits", json_integer(t->bits));
	json_object_set_new(j, "overrun_frames", json_integer((json_int_t)t->overrun_frames));
	json_object_set_new(j, "split_minutes", t->split_frames && t->rate && !t->logger ?
			    json_integer((json_int_t)(t->split_frames / t->rate / 60)) : json_null());
	json_object_set_new(j, "part", t->part ? json_integer(t->part) : json_null());
	json_object_set_new(j, "logger", json_boolean(t->logger));
	json_object_set_new(j, "logger_period_s", t->logger && t->rate ?
			    json_integer((json_int_t)(t->split_frames / t->rate)) : json_null());
	json_object_set_new(j, "file_count", json_integer(t->n_all_files));
	if (t->error_code) {
		const struct airmix_error_def *def =
			airmix_error_find(AIRMIX_DOMAIN_RECORDER, t->error_code);

		json_object_set_new(j, "error", json_pack("{s:i,s:s,s:o}", "code", t->error_code,
							  "name", def ? def->name : "UNKNOWN",
							  "message", api_text_json(t->error)));
	} else {
		json_object_set_new(j, "error", json_null());
	}
	json_object_set_new(j, "files", files);
	for (uint32_t i = 0; i < t->n_markers; i++)
		json_array_append_new(markers, marker_json(t, i));
	json_object_set_new(j, "markers", markers);
	json_object_set_new(j, "markers_path", t->markers_path[0] ? api_text_json(t->markers_path)
								  : json_null());
	return j;
}

static void fail_rc(struct call *c, int rc)
{
	const char *why = recorder_last_error();

	api_call_fail(c, AIRMIX_DOMAIN_RECORDER, recorder_error_code(rc), "%s",
		      why[0] ? why : strerror(-rc));
}

static void reply_take(struct call *c, struct recorder *r, int id, int status)
{
	struct take_info *info = malloc(sizeof(*info));

	if (!info) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "out of memory");
		return;
	}
	if (recorder_get(r, id, info) < 0)
		api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_TAKE_NOT_FOUND, "no take %d", id);
	else
		api_reply_json(c->rep, status, take_json(info));
	free(info);
}

/* The node of a playing mixing id, "mixing:<id>". */
static int mixing_node(struct call *c, const char *text, uint32_t *id)
{
	struct mixing *m = engine_mixing(c->e);
	struct mixing_info info;
	char *end;
	long v = strtol(text, &end, 10);

	if (!m || text[0] < '0' || text[0] > '9' || *end || v > INT32_MAX ||
	    mixing_get_info(m, (int)v, &info) < 0 || !info.node_id)
		return -ENOENT;
	*id = info.node_id;
	return 0;
}

/* "publish", "mix", "playout", a decimal node id, "mixing:<id>" or a node
 * name. */
static int track_id(struct call *c, const char *name, uint32_t *id)
{
	struct engine_node_info *nodes;
	char *end;
	unsigned long v;
	size_t n;
	int ret = -ENOENT;

	if (!strcmp(name, "publish") || !strcmp(name, "mix")) {
		*id = ENGINE_BUS_PUBLISH;
		return 0;
	}
	if (!strcmp(name, "playout")) {
		*id = ENGINE_BUS_PLAYOUT;
		return 0;
	}
	if (!strncmp(name, "mixing:", 7))
		return mixing_node(c, name + 7, id);
	v = strtoul(name, &end, 10);
	if (name[0] >= '0' && name[0] <= '9' && !*end && v <= UINT32_MAX) {
		*id = (uint32_t)v;
		return 0;
	}
	n = engine_list_nodes(c->e, NULL, 0);
	nodes = calloc(n ? n : 1, sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	n = engine_list_nodes(c->e, nodes, n);
	for (size_t i = 0; i < n && ret; i++) {
		if (!strcmp(nodes[i].name, name)) {
			*id = nodes[i].id;
			ret = 0;
		}
	}
	free(nodes);
	return ret;
}

static void get_list(struct call *c)
{
	struct recorder *r = recorder_of(c);
	struct take_info *info;
	int ids[RECORDER_MAX_TAKES];
	size_t n;
	json_t *arr;

	if (!r)
		return;
	info = malloc(sizeof(*info));
	if (!info) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "out of memory");
		return;
	}
	n = recorder_list(r, ids, RECORDER_MAX_TAKES);
	arr = json_array();
	for (size_t i = 0; i < n && i < RECORDER_MAX_TAKES; i++)
		if (recorder_get(r, ids[i], info) == 0)
			json_array_append_new(arr, take_json(info));
	free(info);
	api_reply_json(c->rep, 200, json_pack("{s:o}", "recordings", arr));
}

static void post_start(struct call *c)
{
	struct recorder *r = recorder_of(c);
	json_t *tracks = json_object_get(c->body, "tracks"), *v;
	uint32_t ids[RECORDER_MAX_TRACKS];
	const char *format = json_string_value(json_object_get(c->body, "format"));
	struct take_request req = {
		.tracks = ids,
		.mix = json_is_true(json_object_get(c->body, "mix")),
		.format = format && !strcmp(format, "flac") ? RECORDER_FORMAT_FLAC
							    : RECORDER_FORMAT_WAV,
		.bits = (v = json_object_get(c->body, "bits")) ? (int)json_number_value(v) : 24,
		.name_template = json_string_value(json_object_get(c->body, "name")),
		.description = json_string_value(json_object_get(c->body, "description")),
		.request = c->req->request,
	};
	struct engine_status st;
	int id, rc;

	if (!r)
		return;
	req.logger = json_is_true(json_object_get(c->body, "logger"));
	req.logger_period_s = (uint32_t)json_integer_value(json_object_get(c->body,
									   "logger_period_s"));
	req.logger_keep_days = (uint32_t)json_integer_value(json_object_get(c->body,
									    "logger_keep_days"));
	req.logger_max_mb = (uint64_t)json_integer_value(json_object_get(c->body, "logger_max_mb"));
	if ((v = json_object_get(c->body, "split_minutes"))) {
		engine_get_status(c->e, &st);
		req.split_frames = (uint64_t)json_integer_value(v) * 60 *
				   (st.rate ? st.rate : (uint32_t)engine_config(c->e)->sample_rate);
	}
	if (!tracks) {
		ids[req.n_tracks++] = ENGINE_BUS_PUBLISH;
	}
	for (size_t i = 0; i < json_array_size(tracks); i++) {
		const char *name = json_string_value(json_array_get(tracks, i));

		if (track_id(c, name, &ids[req.n_tracks]) < 0) {
			api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_UNKNOWN_TRACK,
				      "tracks[%zu]: no node \"%s\" to record", i, name);
			return;
		}
		req.n_tracks++;
	}
	rc = recorder_start(r, &req, &id);
	if (rc < 0) {
		fail_rc(c, rc);
		return;
	}
	snprintf(c->rep->location, sizeof(c->rep->location), "/api/v1/recordings/%d", id);
	reply_take(c, r, id, 201);
}

static void get_one(struct call *c)
{
	struct recorder *r = recorder_of(c);

	if (r)
		reply_take(c, r, c->mix_id, 200);
}

static void post_stop(struct call *c)
{
	struct recorder *r = recorder_of(c);
	int rc;

	if (!r)
		return;
	rc = recorder_stop(r, c->mix_id);
	if (rc == -ENOENT)
		api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_TAKE_NOT_FOUND, "no take %d",
			      c->mix_id);
	else if (rc < 0)
		fail_rc(c, rc);
	else
		reply_take(c, r, c->mix_id, 200);
}

static void post_marker(struct call *c)
{
	struct recorder *r = recorder_of(c);
	const char *label = json_string_value(json_object_get(c->body, "label"));
	struct take_info *info;
	uint64_t frame;
	int rc;

	if (!r)
		return;
	rc = recorder_mark(r, c->mix_id, label ? label : "", &frame);
	if (rc == -ENOENT) {
		api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_TAKE_NOT_FOUND, "no take %d",
			      c->mix_id);
		return;
	}
	if (rc < 0) {
		fail_rc(c, rc);
		return;
	}
	info = malloc(sizeof(*info));
	if (!info || recorder_get(r, c->mix_id, info) < 0 || !info->n_markers) {
		free(info);
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "marker added at frame %llu",
			      (unsigned long long)frame);
		return;
	}
	api_reply_json(c->rep, 201, marker_json(info, info->n_markers - 1));
	free(info);
}

static void delete_one(struct call *c)
{
	struct recorder *r = recorder_of(c);
	int rc;

	if (!r)
		return;
	rc = recorder_delete(r, c->mix_id);
	if (rc == -ENOENT)
		api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_TAKE_NOT_FOUND, "no take %d",
			      c->mix_id);
	else if (rc == -EBUSY)
		api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_TAKE_RUNNING,
			      "take %d is still recording: stop it first", c->mix_id);
	else
		api_reply_json(c->rep, 200, json_pack("{s:i,s:b}", "id", c->mix_id, "deleted", 1));
}

/* One range of "bytes=a-b", "bytes=a-" or "bytes=-n" against a file of size
 * bytes: 1 and [*first, *last], 0 to send the whole file (no header, or one
 * this does not serve: several ranges, another unit, a bad number; RFC 9110
 * lets a server ignore those), -1 unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	unsigned long long a = 0, b = 0;
	char *end;

	if (!h || strncmp(h, "bytes=", 6) || strchr(h, ','))
		return 0;
	h += 6;
	if (*h == '-') {	/* the last n bytes */
		if (h[1] < '0' || h[1] > '9')
			return 0;
		b = strtoull(h + 1, &end, 10);
		if (*end)
			return 0;
		if (!b || !size)
			return -1;
		*first = b < size ? size - b : 0;
		*last = size - 1;
		return 1;
	}
	if (*h < '0' || *h > '9')
		return 0;
	a = strtoull(h, &end, 10);
	if (*end != '-')
		return 0;
	h = end + 1;
	b = UINT64_MAX;
	if (*h) {
		if (*h < '0' || *h > '9')
			return 0;
		b = strtoull(h, &end, 10);
		if (*end || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = b < size - 1 ? b : size - 1;
	return 1;
}

static void get_file(struct call *c)
{
	struct recorder *r = recorder_of(c);
	struct take_info *info;
	struct api_reply *rep = c->rep;
	uint64_t first = 0, last = 0;
	char path[RECORDER_PATH_MAX];
	struct stat st;
	int fd, ranged;

	if (!r)
		return;
	info = malloc(sizeof(*info));
	if (!info) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "out of memory");
		return;
	}
	if (recorder_get(r, c->mix_id, info) < 0) {
		api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_TAKE_NOT_FOUND, "no take %d",
			      c->mix_id);
		goto out;
	}
	if (info->state == TAKE_RECORDING) {
		api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_TAKE_RUNNING,
			      "take %d is still recording: stop it first", c->mix_id);
		goto out;
	}
	if (recorder_file_path(r, c->mix_id, (uint32_t)c->n, path, sizeof(path)) < 0) {
		api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_FILE_NOT_FOUND,
			      "take %d has %u files: no file %d", c->mix_id, info->n_all_files,
			      c->n);
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_FILE_NOT_FOUND,
			      "file %d of take %d (%s) is gone", c->n, c->mix_id,
			      base_name(path));
		goto out;
	}
	ranged = parse_range(c->req->range, (uint64_t)st.st_size, &first, &last);
	if (ranged < 0) {
		close(fd);
		api_call_fail(c, AIRMIX_DOMAIN_RECORDER, RECORDER_RANGE_NOT_SATISFIABLE,
			      "range %s is beyond the %lld bytes of %s", c->req->range,
			      (long long)st.st_size, base_name(path));
		snprintf(rep->content_range, sizeof(rep->content_range), "bytes */%lld",
			 (long long)st.st_size);
		goto out;
	}
	api_reply_free(rep);
	rep->status = ranged ? 206 : 200;
	rep->content_type = info->format == RECORDER_FORMAT_FLAC ? "audio/flac" : "audio/wav";
	rep->has_file = true;
	rep->file_fd = fd;
	rep->file_offset = ranged ? first : 0;
	rep->file_length = ranged ? last - first + 1 : (uint64_t)st.st_size;
	if (ranged)
		snprintf(rep->content_range, sizeof(rep->content_range), "bytes %llu-%llu/%lld",
			 (unsigned long long)first, (unsigned long long)last,
			 (long long)st.st_size);
out:
	free(info);
}

const struct api_route api_recordings_routes[] = {
	{ "/api/v1/recordings", API_GET, NULL, NULL, get_list, API_ID_MIX },
	{ "/api/v1/recordings", API_POST, start_fields, NULL, post_start, API_ID_MIX },
	{ "/api/v1/recordings/{id}", API_GET, NULL, NULL, get_one, API_ID_MIX },
	{ "/api/v1/recordings/{id}", API_DELETE, NULL, NULL, delete_one, API_ID_MIX },
	{ "/api/v1/recordings/{id}/stop", API_POST, NULL, NULL, post_stop, API_ID_MIX },
	{ "/api/v1/recordings/{id}/markers", API_POST, marker_fields, NULL, post_marker,
	  API_ID_MIX },
	{ "/api/v1/recordings/{id}/files/{n}", API_GET, NULL, NULL, get_file, API_ID_MIX },
};

const size_t api_recordings_route_count =
	sizeof(api_recordings_routes) / sizeof(api_recordings_routes[0]);
