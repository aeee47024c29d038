/* api.h - the REST routes under /api/v1/: request validation from static
 * parameter tables, JSON replies and error replies.
 *
 * The server (server.c) turns an HTTP request into a struct api_request and
 * sends back whatever struct api_reply says; this module knows nothing of
 * libwebsockets. Every error reply is also reported to the engine
 * (engine_report), which stores a history row and emits an event.
 *
 * Threads: everything here runs on the lws service thread; it reaches the
 * engine only through the engine API.
 */
#ifndef AIRMIX_WEB_API_H
#define AIRMIX_WEB_API_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/engine.h"

enum api_method {
	API_GET = 1,
	API_POST = 2,
	API_PUT = 4,
	API_DELETE = 8,
	API_OTHER = 16,		/* HEAD, OPTIONS, PATCH: never routed */
};

struct api_query_arg {
	const char *name;
	const char *value;
};

struct auth;
struct auth_result;
struct media_upload;

struct api_request {
	enum api_method method;
	const char *method_name;	/* as sent: "GET", "PATCH", ... */
	const char *path;	/* url-decoded, without the query */
	const struct api_query_arg *args;
	size_t n_args;
	const char *body;	/* NUL-terminated; NULL when there is none */
	size_t body_len;
	const char *request;	/* "METHOD /path?query body" for reports */
	const char *range;	/* the Range header, NULL when there is none */
	struct auth *auth;	/* sessions and logins (auth.h); NULL in unit tests */
	const struct auth_result *who;	/* the server's auth check; NULL = admin */
	const char *peer;	/* the client's address, "" when unknown */
	bool tls;		/* the request came over TLS */
	struct media_upload *upload;	/* a raw-body route's body, already on disk */
};

struct api_reply {
	int status;
	char *body;		/* malloc'd; NULL for an empty body */
	size_t len;
	const char *content_type;
	char allow[64];		/* 405: value of the Allow header */
	char location[64];	/* 201: value of the Location header */
	char content_range[64];	/* 206, 416: value of the Content-Range header */
	char set_cookie[256];	/* value of a Set-Cookie header, "" for none */
	int retry_after_s;	/* 429: value of the Retry-After header, 0 for none */
	/* A file reply: the server streams file_length bytes of file_fd from
	 * file_offset as the body (body stays NULL) with Accept-Ranges: bytes,
	 * and api_reply_free() closes the fd. */
	bool has_file;
	int file_fd;
	uint64_t file_offset;
	uint64_t file_length;
};

/* Counters of the server, shown in the health reply. */
struct api_server_stats {
	unsigned ws_clients;
	unsigned max_ws_clients;
	uint64_t events_sent;
	uint64_t events_dropped;
	uint64_t meter_frames;
	uint64_t meters_skipped;	/* meter frames slow clients did not get */
};

/* Service thread: does a route exist for path and method? 0 when it does
 * (*takes_body says whether it reads a JSON body, *raw_body whether its body
 * is a file streamed to disk: a media upload), -ENOENT when no route has
 * this path, -EOPNOTSUPP when the path exists but not for this method. */
int api_route_lookup(const char *path, enum api_method method, bool *takes_body,
		     bool *raw_body);

/* Service thread: answer a request. rep is filled in (status, body); the
 * caller frees it with api_reply_free(). */
void api_handle(struct engine *e, const struct api_server_stats *stats,
		const struct api_request *req, struct api_reply *rep);

/* Service thread: fill rep with an error reply for (domain, code), status
 * from the error table, and report it to the engine with req->request. */
void api_fail(struct engine *e, const struct api_request *req, struct api_reply *rep,
	      enum airmix_domain domain, int code, const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

void api_reply_free(struct api_reply *rep);

/* Helpers shared with the event stream (any thread). */
/* A JSON string; bytes that are not UTF-8 become '?'. */
json_t *api_text_json(const char *s);
json_t *api_dbfs_json(double linear);		/* 20 log10, null for silence */
json_t *api_node_json(const struct engine_node_info *n);
/* "2026-11-25T22:10:30.123Z" */
void api_format_time(int64_t time_us, char *buf, size_t len);
/* json_dumps with the precision used for every reply; malloc'd. */
char *api_dump(const json_t *j, size_t *len);

#endif
