/* api.c - the REST routes under /api/v1/.
 *
 * Each route names its method, its handler and two static tables: the JSON
 * body fields it accepts (name, type, range, required, allowed values) and the
 * query parameters it accepts. Bodies and queries are checked against those
 * tables before a handler runs, so handlers only read values that are known to
 * be present, typed and in range. Every error reply goes through api_fail(),
 * which also reports it to the engine (history row + event).
 *
 * Threads: the lws service thread only.
 */
#include "web-admin/api.h"
#include "web-admin/api_internal.h"
#include "web-admin/api_mixing.h"
#include "web-admin/api_push.h"
#include "web-admin/api_forward.h"
#include "web-admin/api_rooms.h"
#include "web-admin/api_recordings.h"
#include "web-admin/api_config.h"
#include "web-admin/api_media.h"
#include "web-admin/api_session.h"
#include "web-admin/auth.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/history.h"

#define API_REAL_PRECISION 7
#define API_HISTORY_MAX 1000
#define API_HISTORY_DEFAULT 100

static const char *const bus_names[] = { "publish", "playout", NULL };
static const char *const node_kinds[] = { "tone", NULL };

static const struct api_field node_put_fields[] = {
	{ "gain", FIELD_NUMBER, 0, ENGINE_GAIN_MAX, false, NULL },
	{ "gain_db", FIELD_NUMBER_OR_NULL, -HUGE_VAL, 12, false, NULL },
	{ "mute", FIELD_BOOL, 0, 0, false, NULL },
	{ "pan", FIELD_NUMBER, -1, 1, false, NULL },
	{ "running", FIELD_BOOL, 0, 0, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static const struct api_field node_post_fields[] = {
	{ "kind", FIELD_STRING, 1, 15, true, node_kinds },
	{ "name", FIELD_STRING, 1, ENGINE_NAME_MAX - 1, false, NULL },
	{ "frequency_hz", FIELD_NUMBER, 20, 20000, false, NULL },
	{ "level_dbfs", FIELD_NUMBER, -60, 0, false, NULL },
	{ "buses", FIELD_STRING_LIST, 1, 2, false, bus_names },
	{ NULL, 0, 0, 0, false, NULL },
};

enum history_arg {
	HA_SINCE, HA_UNTIL, HA_DOMAIN, HA_CODE, HA_SUBJECT, HA_LEVEL, HA_LIMIT, HA_OFFSET,
	HA_BEFORE_ID,
};

static const struct api_arg history_args[] = {
	[HA_SINCE] = { "since", ARG_INT, 0, INT64_MAX },
	[HA_UNTIL] = { "until", ARG_INT, 0, INT64_MAX },
	[HA_DOMAIN] = { "domain", ARG_DOMAIN, 0, 0 },
	[HA_CODE] = { "code", ARG_INT, INT32_MIN, INT32_MAX },
	[HA_SUBJECT] = { "subject", ARG_TEXT, 0, HISTORY_SUBJECT_MAX - 1 },
	[HA_LEVEL] = { "level", ARG_LEVEL, 0, 0 },
	[HA_LIMIT] = { "limit", ARG_INT, 1, API_HISTORY_MAX },
	[HA_OFFSET] = { "offset", ARG_INT, 0, INT32_MAX },
	[HA_BEFORE_ID] = { "before_id", ARG_INT, 1, INT64_MAX },
	{ NULL, 0, 0, 0 },
};

/* ---- replies */

char *api_dump(const json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(API_REAL_PRECISION));

	if (len)
		*len = s ? strlen(s) : 0;
	return s;
}

void api_reply_free(struct api_reply *rep)
{
	free(rep->body);
	rep->body = NULL;
	rep->len = 0;
	if (rep->has_file)
		close(rep->file_fd);
	rep->has_file = false;
}

/* Takes ownership of j. */
void api_reply_json(struct api_reply *rep, int status, json_t *j)
{
	api_reply_free(rep);
	rep->status = status;
	rep->content_type = "application/json";
	rep->body = j ? api_dump(j, &rep->len) : NULL;
	json_decref(j);
}

static void vfail(struct engine *e, const struct api_request *req, struct api_reply *rep,
		  enum airmix_domain domain, int code, const char *subject, const char *fmt,
		  va_list ap)
{
	const struct airmix_error_def *def = airmix_error_find(domain, code);
	char msg[HISTORY_MESSAGE_MAX];
	json_t *err;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!msg[0] && def)
		snprintf(msg, sizeof(msg), "%s", def->message);
	err = json_pack("{s:{s:s,s:i,s:s,s:o}}", "error", "domain", airmix_domain_name(domain),
			"code", code, "name", def ? def->name : "UNKNOWN",
			"message", api_text_json(msg));
	api_reply_json(rep, def ? def->http_status : 500, err);
	engine_report(e, domain, code, subject ? subject : "", req ? req->request : "", "%s", msg);
}

void api_fail(struct engine *e, const struct api_request *req, struct api_reply *rep,
	      enum airmix_domain domain, int code, const char *subject, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(e, req, rep, domain, code, subject, fmt, ap);
	va_end(ap);
}

void api_call_fail(struct call *c, enum airmix_domain domain, int code, const char *fmt, ...)
{
	char subject[32] = "";
	va_list ap;

	if (c->node_id)
		snprintf(subject, sizeof(subject), "node %" PRIu32, c->node_id);
	va_start(ap, fmt);
	vfail(c->e, c->req, c->rep, domain, code, subject, fmt, ap);
	va_end(ap);
}

/* An engine call failed: map the errno to the table. */
void api_engine_fail(struct call *c, int rc, const char *what)
{
	switch (rc) {
	case -ENOENT:
		api_call_fail(c, AIRMIX_DOMAIN_ENGINE, ENGINE_NODE_NOT_FOUND, "%s: no node %" PRIu32,
			  what, c->node_id);
		break;
	case -EAGAIN:
		api_call_fail(c, AIRMIX_DOMAIN_ENGINE, ENGINE_COMMAND_RING_FULL,
			  "%s: command ring full, try again", what);
		break;
	case -ENOSPC:
		api_call_fail(c, AIRMIX_DOMAIN_ENGINE, ENGINE_TOO_MANY_NODES, "%s: too many nodes",
			  what);
		break;
	case -ERANGE:
		api_call_fail(c, AIRMIX_DOMAIN_API, API_OUT_OF_RANGE, "%s: value out of range", what);
		break;
	case -EINVAL:
	case -EPERM:
		api_call_fail(c, AIRMIX_DOMAIN_ENGINE, ENGINE_INVALID_NODE, "%s: not allowed on node %"
			  PRIu32, what, c->node_id);
		break;
	default:
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "%s: %s", what, strerror(-rc));
		break;
	}
}

/* ---- JSON builders */

json_t *api_text_json(const char *s)
{
	json_t *j = json_string(s ? s : "");
	char *copy;
	size_t i;

	if (j)
		return j;
	/* Not UTF-8 (a query value, a library's text): keep the ASCII. */
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (i = 0; copy[i]; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *api_dbfs_json(double linear)
{
	if (!(linear > 1e-10))
		return json_null();
	return json_real(round(2000.0 * log10(linear)) / 100.0);
}

static json_t *pair_json(double l, double r)
{
	return json_pack("[f,f]", l, r);
}

static json_t *dbfs_pair_json(double l, double r)
{
	return json_pack("[o,o]", api_dbfs_json(l), api_dbfs_json(r));
}

json_t *api_node_json(const struct engine_node_info *n)
{
	json_t *j, *buses;

	j = json_pack("{s:I,s:s,s:s,s:i,s:f,s:o,s:f,s:b,s:b}", "id", (json_int_t)n->id,
		      "name", n->name, "kind", n->kind, "channels", (int)n->channels,
		      "gain", (double)n->gain, "gain_db", api_dbfs_json(n->gain),
		      "pan", (double)n->pan, "mute", n->mute, "running", n->running);
	if (!j)
		return NULL;
	if (n->id >= ENGINE_FIRST_NODE_ID) {
		buses = json_array();
		if (n->buses & ENGINE_TO_PUBLISH)
			json_array_append_new(buses, json_string("publish"));
		if (n->buses & ENGINE_TO_PLAYOUT)
			json_array_append_new(buses, json_string("playout"));
		json_object_set_new(j, "buses", buses);
	} else {
		json_object_set_new(j, "gain_reduction_db",
				    json_real(round(100.0 * n->gain_reduction_db) / 100.0));
	}
	json_object_set_new(j, "meter", json_pack("{s:o,s:o,s:o,s:o}",
		"peak", pair_json(n->peak[0], n->peak[1]),
		"rms", pair_json(n->rms[0], n->rms[1]),
		"peak_dbfs", dbfs_pair_json(n->peak[0], n->peak[1]),
		"rms_dbfs", dbfs_pair_json(n->rms[0], n->rms[1])));
	return j;
}

void api_format_time(int64_t time_us, char *buf, size_t len)
{
	time_t s = (time_t)(time_us / 1000000);
	int ms = (int)((time_us % 1000000) / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* ---- body validation */

static const char *json_type_text(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

static const char *field_type_text(enum field_type t)
{
	switch (t) {
	case FIELD_NUMBER: return "a number";
	case FIELD_INTEGER: return "an integer";
	case FIELD_NUMBER_OR_NULL: return "a number or null";
	case FIELD_BOOL: return "a boolean";
	case FIELD_STRING: return "a string";
	case FIELD_OBJECT: return "an object";
	default: return "an array of strings";
	}
}

static bool field_type_ok(enum field_type t, const json_t *v)
{
	switch (t) {
	case FIELD_NUMBER: return json_is_number(v);
	case FIELD_INTEGER: return json_is_integer(v) ||
				   (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
	case FIELD_NUMBER_OR_NULL: return json_is_number(v) || json_is_null(v);
	case FIELD_BOOL: return json_is_boolean(v);
	case FIELD_STRING: return json_is_string(v);
	case FIELD_OBJECT: return json_is_object(v);
	default: return json_is_array(v);
	}
}

static bool choice_ok(const char *const *choices, const char *s)
{
	if (!choices)
		return true;
	for (; *choices; choices++)
		if (!strcmp(*choices, s))
			return true;
	return false;
}

static void choices_text(const char *const *choices, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; *choices && used < len; choices++)
		used += snprintf(buf + used, len - used, "%s%s", used ? ", " : "", *choices);
}

static void range_text(double min, double max, char *buf, size_t len)
{
	if (isinf(min))
		snprintf(buf, len, "at most %g", max);
	else if (isinf(max))
		snprintf(buf, len, "at least %g", min);
	else
		snprintf(buf, len, "between %g and %g", min, max);
}

/* 0 when v fits f; else an error reply was made. */
static int check_value(struct call *c, const struct api_field *f, const json_t *v)
{
	char text[160];
	size_t i, n;

	if (!field_type_ok(f->type, v)) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_WRONG_TYPE, "field %s must be %s, not %s",
			  f->name, field_type_text(f->type), json_type_text(v));
		return -EINVAL;
	}
	switch (f->type) {
	case FIELD_NUMBER:
	case FIELD_INTEGER:
	case FIELD_NUMBER_OR_NULL:
		if (json_is_null(v) || (json_number_value(v) >= f->min &&
					json_number_value(v) <= f->max))
			return 0;
		range_text(f->min, f->max, text, sizeof(text));
		api_call_fail(c, AIRMIX_DOMAIN_API, API_OUT_OF_RANGE, "field %s must be %s, not %g",
			  f->name, text, json_number_value(v));
		return -ERANGE;
	case FIELD_STRING:
		n = json_string_length(v);
		if (n < f->min || n > f->max) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_OUT_OF_RANGE,
				  "field %s must be %g to %g bytes long, not %zu", f->name, f->min,
				  f->max, n);
			return -ERANGE;
		}
		if (!choice_ok(f->choices, json_string_value(v))) {
			choices_text(f->choices, text, sizeof(text));
			api_call_fail(c, AIRMIX_DOMAIN_API, API_OUT_OF_RANGE,
				  "field %s must be one of %s, not \"%s\"", f->name, text,
				  json_string_value(v));
			return -ERANGE;
		}
		return 0;
	case FIELD_STRING_LIST:
		n = json_array_size(v);
		if (n < f->min || n > f->max) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_OUT_OF_RANGE,
				  "field %s must have %g to %g items, not %zu", f->name, f->min,
				  f->max, n);
			return -ERANGE;
		}
		for (i = 0; i < n; i++) {
			const json_t *item = json_array_get(v, i);

			if (!json_is_string(item)) {
				api_call_fail(c, AIRMIX_DOMAIN_API, API_WRONG_TYPE,
					  "field %s[%zu] must be a string, not %s", f->name, i,
					  json_type_text(item));
				return -EINVAL;
			}
			if (!choice_ok(f->choices, json_string_value(item))) {
				choices_text(f->choices, text, sizeof(text));
				api_call_fail(c, AIRMIX_DOMAIN_API, API_OUT_OF_RANGE,
					  "field %s[%zu] must be one of %s, not \"%s\"", f->name,
					  i, text, json_string_value(item));
				return -ERANGE;
			}
		}
		return 0;
	default:
		return 0;
	}
}

static const struct api_field *find_field(const struct api_field *table, const char *name)
{
	for (; table->name; table++)
		if (!strcmp(table->name, name))
			return table;
	return NULL;
}

/* Parses and checks the body against the route's table; 0 or an error reply. */
static int check_body(struct call *c)
{
	const struct api_field *f;
	json_error_t jerr;
	const char *key;
	json_t *v;

	c->body = json_loadb(c->req->body ? c->req->body : "", c->req->body_len,
			     JSON_REJECT_DUPLICATES, &jerr);
	if (!c->body) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_BAD_JSON,
			  "invalid json at line %d column %d: %s", jerr.line, jerr.column,
			  jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(c->body)) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_WRONG_TYPE,
			  "request body must be a json object, not %s", json_type_text(c->body));
		return -EINVAL;
	}
	if (!strcmp(c->route->fields[0].name, API_ANY_FIELDS))
		return 0;
	json_object_foreach(c->body, key, v) {
		f = find_field(c->route->fields, key);
		if (!f) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_UNKNOWN_FIELD, "unknown field %s", key);
			return -EINVAL;
		}
		if (check_value(c, f, v))
			return -EINVAL;
	}
	for (f = c->route->fields; f->name; f++) {
		if (f->required && !json_object_get(c->body, f->name)) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_MISSING_FIELD,
				  "missing field %s (%s)", f->name, field_type_text(f->type));
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- query validation */

static int parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int level_from_name(const char *s)
{
	int l;

	for (l = AIRMIX_LEVEL_ERROR; l <= AIRMIX_LEVEL_INFO; l++)
		if (!strcmp(airmix_level_name((enum airmix_level)l), s))
			return l;
	return -1;
}

static int check_arg(struct call *c, const struct api_arg *a, struct arg_value *v,
		     const char *value)
{
	v->set = true;
	v->s = value;
	switch (a->type) {
	case ARG_INT:
		if (parse_int64(value, &v->i)) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_BAD_QUERY,
				  "parameter %s must be an integer, not \"%s\"", a->name, value);
			return -EINVAL;
		}
		if (v->i < a->min || v->i > a->max) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_BAD_QUERY,
				  "parameter %s must be between %" PRId64 " and %" PRId64
				  ", not %" PRId64, a->name, a->min, a->max, v->i);
			return -ERANGE;
		}
		return 0;
	case ARG_DOMAIN:
		v->i = airmix_domain_from_name(value);
		if (v->i < 0) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_BAD_QUERY,
				  "parameter domain: unknown domain \"%s\"", value);
			return -EINVAL;
		}
		return 0;
	case ARG_LEVEL:
		v->i = level_from_name(value);
		if (v->i < 0) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_BAD_QUERY,
				  "parameter level must be error, warning, state or info, "
				  "not \"%s\"", value);
			return -EINVAL;
		}
		return 0;
	default:
		if ((int64_t)strlen(value) > a->max) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_BAD_QUERY,
				  "parameter %s is longer than %" PRId64 " bytes", a->name, a->max);
			return -ERANGE;
		}
		return 0;
	}
}

static int check_query(struct call *c)
{
	const struct api_arg *a;
	size_t i;
	int k;

	for (i = 0; i < c->req->n_args; i++) {
		const struct api_query_arg *q = &c->req->args[i];

		a = NULL;
		for (k = 0; c->route->args && c->route->args[k].name; k++) {
			if (!strcmp(c->route->args[k].name, q->name)) {
				a = &c->route->args[k];
				break;
			}
		}
		if (!a) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_BAD_QUERY, "unknown parameter \"%s\"",
				  q->name);
			return -EINVAL;
		}
		if (c->args[k].set) {
			api_call_fail(c, AIRMIX_DOMAIN_API, API_BAD_QUERY, "parameter %s given twice",
				  q->name);
			return -EINVAL;
		}
		if (check_arg(c, a, &c->args[k], q->value))
			return -EINVAL;
	}
	return 0;
}

/* ---- handlers */

/* The last xruns: when each began (Unix microseconds, an integer: reals
 * leave with API_REAL_PRECISION digits), its own time and its wall time in
 * ms. */
static json_t *recent_xruns_json(const struct engine_status *st)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < st->n_recent_xruns; i++) {
		const struct engine_xrun *x = &st->recent_xruns[i];

		json_array_append_new(a, json_pack("{s:I,s:f,s:f}", "began_us",
						   (json_int_t)(x->began_ns / 1000),
						   "took_ms", x->took_ns * 1e-6,
						   "wall_ms", x->wall_ns * 1e-6));
	}
	return a;
}

static void get_health(struct call *c)
{
	const struct airmix_config *cfg = engine_config(c->e);
	struct history *h = engine_history(c->e);
	struct history_status hs = { .persistent = false };
	struct engine_status st;
	json_t *j;

	engine_get_status(c->e, &st);
	if (h)
		history_get_status(h, &hs);
	else
		snprintf(hs.last_error, sizeof(hs.last_error), "no history");
	j = json_pack("{s:s,s:s,s:b,s:b,s:i,s:i,s:I,s:I,s:f,s:f,s:f,s:f,s:i}",
		      "version", AIRMIX_VERSION, "clock", st.clock, "running", st.running,
		      "clock_lost", st.clock_lost, "rate", (int)st.rate, "period", (int)st.period,
		      "cycles", (json_int_t)st.cycles, "xruns", (json_int_t)st.xruns,
		      "dsp_load", (double)st.dsp_load, "dsp_load_avg", (double)st.dsp_load_avg,
		      "dsp_load_max", (double)st.dsp_load_max, "uptime_s", st.uptime_s,
		      "nodes", (int)st.nodes);
	json_object_set_new(j, "recent_xruns", recent_xruns_json(&st));
	json_object_set_new(j, "paths", json_pack("{s:s,s:s,s:s,s:s}", "data", cfg->data_dir,
		"media", cfg->media_dir, "recordings", cfg->recordings_dir,
		"history_db", cfg->history_db));
	json_object_set_new(j, "history", json_pack("{s:b,s:s,s:I,s:I}",
		"persistent", hs.persistent, "last_error", hs.last_error,
		"rows_written", (json_int_t)hs.rows_written,
		"rows_dropped", (json_int_t)hs.rows_dropped));
	json_object_set_new(j, "engine", json_pack("{s:I,s:I}",
		"command_ring_full", (json_int_t)st.command_ring_full,
		"event_overflows", (json_int_t)st.event_overflows));
	json_object_set_new(j, "web", json_pack("{s:i,s:i,s:I,s:I,s:I,s:I}",
		"ws_clients", (int)c->stats->ws_clients,
		"max_ws_clients", (int)c->stats->max_ws_clients,
		"events_sent", (json_int_t)c->stats->events_sent,
		"events_dropped", (json_int_t)c->stats->events_dropped,
		"meter_frames", (json_int_t)c->stats->meter_frames,
		"meters_skipped", (json_int_t)c->stats->meters_skipped));
	api_reply_json(c->rep, 200, j);
}

/* Snapshot of every node; *out is malloc'd. */
static int list_nodes(struct engine *e, struct engine_node_info **out, size_t *n)
{
	size_t cap = 64, got;

	for (;;) {
		struct engine_node_info *infos = calloc(cap, sizeof(*infos));

		if (!infos)
			return -ENOMEM;
		got = engine_list_nodes(e, infos, cap);
		if (got <= cap) {
			*out = infos;
			*n = got;
			return 0;
		}
		free(infos);
		cap = got + 16;
	}
}

static json_t *nodes_json(struct engine *e)
{
	struct engine_node_info *infos;
	json_t *arr;
	size_t i, n;

	if (list_nodes(e, &infos, &n))
		return NULL;
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, api_node_json(&infos[i]));
	free(infos);
	return arr;
}

static void get_graph(struct call *c)
{
	struct engine_status st;
	json_t *nodes;

	engine_get_status(c->e, &st);
	nodes = nodes_json(c->e);
	if (!nodes) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "listing nodes: out of memory");
		return;
	}
	api_reply_json(c->rep, 200, json_pack("{s:i,s:i,s:o}", "rate", (int)st.rate, "period",
					  (int)st.period, "nodes", nodes));
}

static void get_nodes(struct call *c)
{
	json_t *nodes = nodes_json(c->e);

	if (!nodes) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "listing nodes: out of memory");
		return;
	}
	api_reply_json(c->rep, 200, json_pack("{s:o}", "nodes", nodes));
}

static void reply_node(struct call *c, int status)
{
	struct engine_node_info info;
	int rc = engine_get_node(c->e, c->node_id, &info);

	if (rc) {
		api_engine_fail(c, rc, "reading node");
		return;
	}
	api_reply_json(c->rep, status, api_node_json(&info));
}

static void get_node(struct call *c)
{
	reply_node(c, 200);
}

static double body_number(struct call *c, const char *name, double def)
{
	json_t *v = json_object_get(c->body, name);

	return v ? json_number_value(v) : def;
}

static void put_node(struct call *c)
{
	json_t *gain = json_object_get(c->body, "gain");
	json_t *gain_db = json_object_get(c->body, "gain_db");
	json_t *v;
	int rc = 0;

	if (!json_object_size(c->body)) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_MISSING_FIELD,
			  "give at least one of gain, gain_db, mute, pan, running");
		return;
	}
	if (gain && gain_db) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_OUT_OF_RANGE,
			  "give gain or gain_db, not both");
		return;
	}
	if (gain)
		rc = engine_set_gain(c->e, c->node_id, (float)json_number_value(gain));
	else if (gain_db)
		rc = engine_set_gain(c->e, c->node_id, json_is_null(gain_db) ? 0.0f :
				     (float)pow(10.0, json_number_value(gain_db) / 20.0));
	if (!rc && (v = json_object_get(c->body, "mute")))
		rc = engine_set_mute(c->e, c->node_id, json_is_true(v));
	if (!rc && (v = json_object_get(c->body, "pan")))
		rc = engine_set_pan(c->e, c->node_id, (float)json_number_value(v));
	if (!rc && (v = json_object_get(c->body, "running")))
		rc = engine_set_running(c->e, c->node_id, json_is_true(v));
	if (rc) {
		api_engine_fail(c, rc, "changing node");
		return;
	}
	reply_node(c, 200);
}

static void post_node(struct call *c)
{
	json_t *name = json_object_get(c->body, "name");
	json_t *buses = json_object_get(c->body, "buses");
	uint32_t mask = ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT, id = 0;
	size_t i;
	int rc;

	if (buses) {
		mask = 0;
		for (i = 0; i < json_array_size(buses); i++)
			mask |= strcmp(json_string_value(json_array_get(buses, i)), "publish") ?
				ENGINE_TO_PLAYOUT : ENGINE_TO_PUBLISH;
	}
	rc = engine_add_tone(c->e, name ? json_string_value(name) : "tone",
			     body_number(c, "frequency_hz", 1000.0),
			     body_number(c, "level_dbfs", -20.0), mask, &id);
	if (rc) {
		api_engine_fail(c, rc, "adding tone");
		return;
	}
	c->node_id = id;
	snprintf(c->rep->location, sizeof(c->rep->location), "/api/v1/graph/nodes/%" PRIu32, id);
	reply_node(c, 201);
}

static void delete_node(struct call *c)
{
	int rc;

	if (c->node_id < ENGINE_FIRST_NODE_ID) {
		struct engine_node_info info;

		if (engine_get_node(c->e, c->node_id, &info)) {
			api_engine_fail(c, -ENOENT, "deleting node");
			return;
		}
		api_call_fail(c, AIRMIX_DOMAIN_ENGINE, ENGINE_INVALID_NODE,
			  "node %" PRIu32 " is the %s bus and cannot be deleted", c->node_id,
			  info.name);
		return;
	}
	rc = engine_remove_node(c->e, c->node_id);
	if (rc) {
		api_engine_fail(c, rc, "deleting node");
		return;
	}
	api_reply_json(c->rep, 204, NULL);
}

static json_t *history_row_json(const struct history_row *r)
{
	char when[40];

	api_format_time(r->time_us, when, sizeof(when));
	return json_pack("{s:I,s:I,s:s,s:s,s:i,s:o,s:s,s:o,s:o,s:o}", "id", (json_int_t)r->id,
			 "time_us", (json_int_t)r->time_us, "time", when,
			 "domain", airmix_domain_name(r->domain), "code", r->code,
			 "name", api_text_json(r->name), "level", airmix_level_name(r->level),
			 "subject", api_text_json(r->subject), "message", api_text_json(r->message),
			 "request", api_text_json(r->request));
}

/* The history rows the query parameters ask for (limit_default when no
 * limit is given); *rows is malloc'd. An error reply otherwise. */
static int query_history(struct call *c, uint32_t limit_default, struct history_filter *f,
			 struct history_row **rows, size_t *n, int64_t *total)
{
	struct history *h = engine_history(c->e);
	struct arg_value *a = c->args;
	char errbuf[256] = "";
	int rc;

	if (!h) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "history is not available");
		return -ENOENT;
	}
	memset(f, 0, sizeof(*f));
	f->since_us = a[HA_SINCE].set ? a[HA_SINCE].i : 0;
	f->until_us = a[HA_UNTIL].set ? a[HA_UNTIL].i : 0;
	f->domain = a[HA_DOMAIN].set ? (int)a[HA_DOMAIN].i : -1;
	f->has_code = a[HA_CODE].set;
	f->code = (int)a[HA_CODE].i;
	f->subject = a[HA_SUBJECT].set ? a[HA_SUBJECT].s : NULL;
	f->level = a[HA_LEVEL].set ? a[HA_LEVEL].s : NULL;
	f->limit = a[HA_LIMIT].set ? (uint32_t)a[HA_LIMIT].i : limit_default;
	f->offset = a[HA_OFFSET].set ? (uint32_t)a[HA_OFFSET].i : 0;
	f->before_id = a[HA_BEFORE_ID].set ? a[HA_BEFORE_ID].i : 0;
	*rows = calloc(f->limit, sizeof(**rows));
	if (!*rows) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "history query: out of memory");
		return -ENOMEM;
	}
	rc = history_query(h, f, *rows, f->limit, n, total, errbuf, sizeof(errbuf));
	if (rc) {
		free(*rows);
		api_call_fail(c, AIRMIX_DOMAIN_HISTORY, HISTORY_OPEN_FAILED, "history query: %s",
			  errbuf[0] ? errbuf : strerror(-rc));
		return rc;
	}
	return 0;
}

static void get_history(struct call *c)
{
	struct history_filter f;
	struct history_row *rows;
	size_t i, n = 0;
	int64_t total = 0;
	json_t *arr;

	if (query_history(c, API_HISTORY_DEFAULT, &f, &rows, &n, &total))
		return;
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, history_row_json(&rows[i]));
	api_reply_json(c->rep, 200, json_pack("{s:I,s:o,s:o}", "total", (json_int_t)total,
		"rows", arr, "next_before_id",
		n == f.limit ? json_integer(rows[n - 1].id) : json_null()));
	free(rows);
}

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line
 * end, quotes doubled. A leading = + - @ gets a ' so that a spreadsheet
 * shows it as text instead of running it as a formula. */
static void csv_field(FILE *f, const char *v, bool last)
{
	bool quote = strpbrk(v, ",\"\r\n") != NULL;
	bool formula = v[0] && strchr("=+-@", v[0]);

	if (quote)
		fputc('"', f);
	if (formula)
		fputc('\'', f);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', f);
		fputc(*v, f);
	}
	if (quote)
		fputc('"', f);
	fputs(last ? "\r\n" : ",", f);
}

/* GET /api/v1/history.csv: the rows /api/v1/history gives for the same
 * parameters (up to 1000 by default), as CSV with a header line. */
static void get_history_csv(struct call *c)
{
	struct history_filter f;
	struct history_row *rows;
	char when[40], num[24], *buf = NULL;
	size_t i, n = 0, len = 0;
	int64_t total = 0;
	FILE *out;

	if (query_history(c, API_HISTORY_MAX, &f, &rows, &n, &total))
		return;
	out = open_memstream(&buf, &len);
	if (!out) {
		free(rows);
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "csv: out of memory");
		return;
	}
	fputs("id,time,time_us,domain,code,name,level,subject,message,request\r\n", out);
	for (i = 0; i < n; i++) {
		const struct history_row *r = &rows[i];

		fprintf(out, "%" PRId64 ",", r->id);
		api_format_time(r->time_us, when, sizeof(when));
		fprintf(out, "%s,%" PRId64 ",", when, r->time_us);
		csv_field(out, airmix_domain_name(r->domain), false);
		snprintf(num, sizeof(num), "%d", r->code);
		fprintf(out, "%s,", num);
		csv_field(out, r->name, false);
		csv_field(out, airmix_level_name(r->level), false);
		csv_field(out, r->subject, false);
		csv_field(out, r->message, false);
		csv_field(out, r->request, true);
	}
	free(rows);
	if (fclose(out) || !buf) {
		free(buf);
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "csv: out of memory");
		return;
	}
	api_reply_free(c->rep);
	c->rep->status = 200;
	c->rep->content_type = "text/csv; charset=utf-8";
	c->rep->body = buf;
	c->rep->len = len;
}

static void get_errors(struct call *c)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < airmix_error_count(); i++) {
		const struct airmix_error_def *d = airmix_error_at(i);

		json_array_append_new(arr, json_pack("{s:s,s:i,s:s,s:s,s:i,s:s}",
			"domain", airmix_domain_name(d->domain), "code", d->code,
			"name", d->name, "level", airmix_level_name(d->level),
			"http_status", d->http_status, "message", d->message));
	}
	api_reply_json(c->rep, 200, json_pack("{s:o}", "errors", arr));
}

/* ---- routing */

static void get_routes(struct call *c);

static const struct api_route routes[] = {
	{ "/api/v1/health", API_GET, NULL, NULL, get_health, API_ID_NODE },
	{ "/api/v1/graph", API_GET, NULL, NULL, get_graph, API_ID_NODE },
	{ "/api/v1/graph/nodes", API_GET, NULL, NULL, get_nodes, API_ID_NODE },
	{ "/api/v1/graph/nodes", API_POST, node_post_fields, NULL, post_node, API_ID_NODE },
	{ "/api/v1/graph/nodes/{id}", API_GET, NULL, NULL, get_node, API_ID_NODE },
	{ "/api/v1/graph/nodes/{id}", API_PUT, node_put_fields, NULL, put_node, API_ID_NODE },
	{ "/api/v1/graph/nodes/{id}", API_DELETE, NULL, NULL, delete_node, API_ID_NODE },
	{ "/api/v1/history", API_GET, NULL, history_args, get_history, API_ID_NODE },
	{ "/api/v1/history.csv", API_GET, NULL, history_args, get_history_csv, API_ID_NODE },
	{ "/api/v1/routes", API_GET, NULL, NULL, get_routes, API_ID_NODE },
	{ "/api/v1/errors", API_GET, NULL, NULL, get_errors, API_ID_NODE },
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Does tail (a pattern after its {id}) match path? A "{n}" in it matches one
 * segment, given in *n. */
static bool tail_match(const char *tail, const char *path, const char **n, size_t *n_len)
{
	const char *hole = strstr(tail, "{n}");
	size_t pre;

	if (!hole)
		return !strcmp(tail, path);
	pre = (size_t)(hole - tail);
	if (strncmp(tail, path, pre))
		return false;
	*n = path + pre;
	*n_len = strcspn(*n, "/");
	return *n_len > 0 && !strcmp(*n + *n_len, hole + 3);
}

/* Does path match pattern? *seg gets the {id} segment and *n the {n} one
 * (not NUL-terminated). */
static bool path_match(const char *pattern, const char *path, const char **seg, size_t *seg_len,
		       const char **n, size_t *n_len)
{
	const char *hole = strstr(pattern, "{id}");
	size_t pre;

	if (!hole)
		return !strcmp(pattern, path);
	pre = (size_t)(hole - pattern);
	if (strncmp(pattern, path, pre))
		return false;
	*seg = path + pre;
	*seg_len = strcspn(*seg, "/");
	return *seg_len > 0 && tail_match(hole + 4, *seg + *seg_len, n, n_len);
}

static const char *method_name(enum api_method m)
{
	switch (m) {
	case API_GET: return "GET";
	case API_POST: return "POST";
	case API_PUT: return "PUT";
	case API_DELETE: return "DELETE";
	default: return "OTHER";
	}
}

/* Every route table: the core routes here, then each module's. */
static const struct {
	const struct api_route *routes;
	const size_t *count;
} tables[] = {
	{ routes, &(const size_t){ N_ROUTES } },
	{ api_mixing_routes, &api_mixing_route_count },
	{ api_recordings_routes, &api_recordings_route_count },
	{ api_push_routes, &api_push_route_count },
	{ api_rooms_routes, &api_rooms_route_count },
	{ api_forward_routes, &api_forward_route_count },
	{ api_session_routes, &api_session_route_count },
	{ api_media_routes, &api_media_route_count },
	{ api_config_routes, &api_config_route_count },
};

/* Every route with the role it needs (GET /api/v1/routes): what the page
 * and the security tests enumerate. */
static void get_routes(struct call *c)
{
	json_t *arr = json_array();
	size_t i, t;

	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (i = 0; i < *tables[t].count; i++) {
			const struct api_route *r = &tables[t].routes[i];

			json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:b,s:b}",
				"method", method_name(r->method), "path", r->pattern,
				"role", auth_role_name(auth_route_role(r->method, r->pattern)),
				"json_body", r->fields && !api_route_raw_body(r),
				"raw_body", api_route_raw_body(r)));
		}
	}
	api_reply_json(c->rep, 200, json_pack("{s:o}", "routes", arr));
}

/* The route for path and method (*found), or -ENOENT / -EOPNOTSUPP. */
static int route_find(const char *path, enum api_method method, char *allow, size_t allow_len,
		      const char **seg, size_t *seg_len, const char **n, size_t *n_len,
		      const struct api_route **found)
{
	unsigned methods = 0;
	size_t i, t, used = 0;

	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (i = 0; i < *tables[t].count; i++) {
			const struct api_route *r = &tables[t].routes[i];

			if (!path_match(r->pattern, path, seg, seg_len, n, n_len))
				continue;
			if (r->method == method) {
				*found = r;
				return 0;
			}
			methods |= r->method;
		}
	}
	if (!methods)
		return -ENOENT;
	if (allow) {
		allow[0] = '\0';
		for (i = API_GET; i < API_OTHER; i <<= 1)
			if ((methods & i) && used < allow_len)
				used += snprintf(allow + used, allow_len - used, "%s%s",
						 used ? ", " : "", method_name(i));
	}
	return -EOPNOTSUPP;
}

bool api_route_raw_body(const struct api_route *r)
{
	return r->fields && r->fields[0].name && !strcmp(r->fields[0].name, API_RAW_BODY);
}

int api_route_lookup(const char *path, enum api_method method, bool *takes_body,
		     bool *raw_body)
{
	const struct api_route *r;
	const char *seg, *n;
	size_t seg_len, n_len;
	int ret = route_find(path, method, NULL, 0, &seg, &seg_len, &n, &n_len, &r);

	if (ret < 0)
		return ret;
	*raw_body = api_route_raw_body(r);
	*takes_body = r->fields != NULL && !*raw_body;
	return 0;
}

/* A path segment as a decimal number in [min, max]; -ENOENT otherwise (the
 * segment then names nothing). */
static int parse_decimal(const char *seg, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!len || len > 10)
		return -ENOENT;
	for (i = 0; i < len; i++) {
		if (seg[i] < '0' || seg[i] > '9')
			return -ENOENT;
		v = v * 10 + (uint64_t)(seg[i] - '0');
	}
	if (v < min || v > max)
		return -ENOENT;
	*out = v;
	return 0;
}

/* Mixing ids (and indexes) are decimal ints >= 0. */
static int parse_mix_id(const char *seg, size_t len, int *id)
{
	uint64_t v;
	int ret = parse_decimal(seg, len, 0, INT32_MAX, &v);

	if (ret == 0)
		*id = (int)v;
	return ret;
}

/* Node ids are decimal uint32 > 0. */
static int parse_node_id(const char *seg, size_t len, uint32_t *id)
{
	uint64_t v;
	int ret = parse_decimal(seg, len, 1, UINT32_MAX, &v);

	if (ret == 0)
		*id = (uint32_t)v;
	return ret;
}

void api_handle(struct engine *e, const struct api_server_stats *stats,
		const struct api_request *req, struct api_reply *rep)
{
	struct call c = { .e = e, .stats = stats, .req = req, .rep = rep };
	const char *seg = NULL, *n = NULL;
	size_t seg_len = 0, n_len = 0;
	int r;

	memset(rep, 0, sizeof(*rep));
	r = route_find(req->path, req->method, rep->allow, sizeof(rep->allow), &seg, &seg_len,
		       &n, &n_len, &c.route);
	if (r == -ENOENT) {
		api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_NOT_FOUND, "", "no route %s",
			 req->path);
		return;
	}
	if (r == -EOPNOTSUPP) {
		api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_METHOD_NOT_ALLOWED, "",
			 "method %s not allowed on %s (allowed: %s)", req->method_name,
			 req->path, rep->allow);
		return;
	}
	if (seg && c.route->id_kind == API_ID_MIX && parse_mix_id(seg, seg_len, &c.mix_id)) {
		api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_NOT_FOUND, "",
			 "no mixing id %.*s: ids are integers from 0", (int)seg_len, seg);
		return;
	}
	if (n && c.route->id_kind == API_ID_TEXT_PAIR) {
		if (n_len >= sizeof(c.n_text)) {
			api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_NOT_FOUND, "",
				 "no item %.40s...: ids are at most %zu bytes", n,
				 sizeof(c.n_text) - 1);
			return;
		}
		memcpy(c.n_text, n, n_len);
		c.n_text[n_len] = '\0';
	} else if (n && parse_mix_id(n, n_len, &c.n)) {
		api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_NOT_FOUND, "",
			 "no item %.*s: indexes are integers from 0", (int)n_len, n);
		return;
	}
	if (seg && c.route->id_kind == API_ID_NODE && parse_node_id(seg, seg_len, &c.node_id)) {
		api_fail(e, req, rep, AIRMIX_DOMAIN_ENGINE, ENGINE_NODE_NOT_FOUND, "",
			 "no node %.*s", (int)seg_len, seg);
		return;
	}
	if (seg && (c.route->id_kind == API_ID_TEXT || c.route->id_kind == API_ID_TEXT_PAIR)) {
		if (seg_len >= sizeof(c.id_text)) {
			api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_NOT_FOUND, "",
				 "no item %.40s...: ids are at most %zu bytes", seg,
				 sizeof(c.id_text) - 1);
			return;
		}
		memcpy(c.id_text, seg, seg_len);
		c.id_text[seg_len] = '\0';
	}
	if (check_query(&c))
		goto out;
	if (c.route->fields && !api_route_raw_body(c.route) && check_body(&c))
		goto out;
	c.route->handler(&c);
out:
	json_decref(c.body);
}
