/* api_internal.h - what the route modules of the REST API share: the
 * validation tables, the per-request call, the route table entry and the
 * reply helpers. Only web-admin/api*.c include it.
 *
 * Threads: the lws service thread only.
 */
#ifndef AIRMIX_WEB_API_INTERNAL_H
#define AIRMIX_WEB_API_INTERNAL_H

#include "web-admin/api.h"

/* ---- validation tables */

enum field_type {
	FIELD_NUMBER,
	FIELD_INTEGER,		/* a number without a fraction */
	FIELD_NUMBER_OR_NULL,
	FIELD_BOOL,
	FIELD_STRING,		/* min/max: length */
	FIELD_STRING_LIST,	/* min/max: item count; items from choices */
	FIELD_OBJECT,		/* a JSON object; the handler checks its members */
};

struct api_field {
	const char *name;
	enum field_type type;
	double min;
	double max;
	bool required;
	const char *const *choices;	/* NULL = any string */
};

enum arg_type {
	ARG_INT,		/* min/max */
	ARG_DOMAIN,		/* a domain name */
	ARG_LEVEL,		/* a level name */
	ARG_TEXT,		/* any text, max bytes */
};

struct api_arg {
	const char *name;
	enum arg_type type;
	int64_t min;
	int64_t max;
};

#define ARGS_MAX 12

struct arg_value {
	bool set;
	int64_t i;
	const char *s;
};

/* One call: the request, the reply and what validation found. */
struct call {
	struct engine *e;
	const struct api_server_stats *stats;
	const struct api_request *req;
	struct api_reply *rep;
	const struct api_route *route;
	json_t *body;		/* validated object, or NULL */
	uint32_t node_id;	/* routes with a node {id} */
	int mix_id;		/* routes with a mixing {id} */
	int n;			/* routes with a second segment {n}, an index from 0 */
	char id_text[256];	/* routes with a text {id}: the url-decoded segment */
	char n_text[256];	/* API_ID_TEXT_PAIR routes: the {n} segment */
	struct arg_value args[ARGS_MAX];
};

enum api_id_kind {
	API_ID_NODE,		/* a graph node id, uint32 > 0 */
	API_ID_MIX,		/* a mixing id, int >= 0 */
	API_ID_TEXT,		/* any segment of at most 255 bytes, in id_text */
	API_ID_TEXT_PAIR,	/* {id} and {n} both such text, in id_text and n_text */
};

struct api_route {
	const char *pattern;	/* "{id}", and a later "{n}", match one path segment */
	enum api_method method;
	const struct api_field *fields;	/* body table; NULL = no body */
	const struct api_arg *args;	/* query table; NULL = no parameters */
	void (*handler)(struct call *c);
	enum api_id_kind id_kind;	/* what {id} names */
};

/* A body table whose only entry is named API_ANY_FIELDS takes any JSON
 * object: the handler checks its members. One named API_RAW_BODY says that
 * the body is no JSON but a file the server streams to disk (req->upload). */
#define API_ANY_FIELDS "*"
#define API_RAW_BODY "<raw>"
bool api_route_raw_body(const struct api_route *r);

void api_reply_json(struct api_reply *rep, int status, json_t *j);	/* takes j */
void api_call_fail(struct call *c, enum airmix_domain domain, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* An engine call failed with a negative errno: the matching error reply. */
void api_engine_fail(struct call *c, int rc, const char *what);

#endif
