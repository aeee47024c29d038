/* server.c - the libwebsockets server: one context, one vhost on
 * http_listen:http_port, an HTTP protocol for / and the REST API, and the
 * "airmix-events" WebSocket protocol (events.c), plus the service thread.
 * Any other GET outside /api/ is a file of the admin page (page.c).
 *
 * DESIGN
 * The service thread runs lws_service() until web_admin_stop() sets the stop
 * flag and wakes it with lws_cancel_service(). Every request is handled on
 * that thread: the headers are checked here (auth, route, content type,
 * body size) before any body is read; a body is collected into a buffer of
 * the announced length (never more than http_max_body) and then handed to
 * api.c. A body that is too large is refused at once from its
 * Content-Length and the connection is closed without reading it. Replies
 * are written from the writable callback: headers first, then the body in
 * chunks, one lws_write per callback. A file reply (a take's file, range
 * already resolved by the route) is streamed the same way: each writable
 * callback preads one chunk of the open fd the reply owns, so a download of
 * any size costs one chunk of memory and never blocks the service thread for
 * longer than one pread.
 *
 * WebSocket upgrades are checked in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE (path,
 * token, client limit) and refused there with a JSON error reply. A client
 * that sends no subprotocol is bound to "airmix-events", the vhost's default.
 *
 * Who may do what is auth.c's: every /api/ request and every upgrade is
 * checked from its headers (bearer token, session cookie, X-CSRF-Token, the
 * role the route needs) before its body is read. The token and the password
 * hashes can change on a config reload (SIGHUP, PUT /api/v1/config): an
 * engine subscriber hands them to auth when ENGINE_CONFIG_RELOADED is
 * reported.
 *
 * A media upload (a route with raw_body) is not collected in memory: its
 * body is written to a temporary file in the media folder as it arrives
 * (api_media.c), after the size limit was checked from Content-Length.
 *
 * With [http] tls_cert and tls_key set, the vhost speaks TLS only (HTTPS
 * and WSS); session cookies are then marked Secure.
 *
 * Threads: web_admin_start/stop on the control thread; the callbacks on the
 * service thread.
 */
#include "web-admin/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "engine/engine.h"
#include "web-admin/api.h"
#include "web-admin/media_upload.h"
#include "web-admin/auth.h"
#include "web-admin/events.h"
#include "web-admin/rtc_ws.h"
#include "web-admin/page.h"

#define ARGS_MAX 32
#define PATH_MAX_LEN 1024
#define QUERY_MAX_LEN 4096
#define REQUEST_BODY_SHOWN 1024
#define CHUNK 16384
#define EVENTS_PATH "/api/v1/events"

static const char index_html[] =
	"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>airmix</title></head>\n"
	"<body><h1>airmix is running</h1>\n"
	"<p>airmixd " AIRMIX_VERSION " &mdash; see <a href=\"/api/v1/health\">/api/v1/health</a>"
	" and <a href=\"/api/v1/graph\">/api/v1/graph</a>.</p></body></html>\n";

struct web_admin {
	struct engine *e;
	struct lws_context *ctx;
	struct events *ev;
	struct rtc_ws *rtc;		/* the /rtc signalling connections */
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	struct auth *auth;
	bool reload_subscribed;
	bool tls;
	size_t max_body;
	unsigned max_ws_clients;
	char page_root[4096];	/* the admin page's files, "" when not found */
	struct lws_protocols protocols[3];
	struct lws_protocol_vhost_options pvo_default;
	struct lws_protocol_vhost_options pvo_events;
	unsigned char scratch[LWS_PRE + CHUNK];
};

/* One HTTP transaction (lws zeroes it for each). */
struct http_session {
	enum api_method method;
	const char *method_name;
	char *path;
	char *query;		/* fragments joined with '&', token redacted */
	char *argbuf;		/* the fragments, NUL-separated */
	struct api_query_arg args[ARGS_MAX];
	size_t n_args;
	bool too_many_args;
	char *body;
	size_t body_len;
	size_t body_cap;
	bool replied;
	bool headers_sent;
	bool close_after;
	size_t sent;
	struct api_reply rep;
	char range[128];	/* the Range header, "" when there is none */
	char peer[AUTH_PEER_MAX];
	struct auth_result who;
	bool uploading;		/* a raw body goes to upload */
	struct media_upload upload;
};

/* ---- small helpers */


/* Engine subscriber (the thread that reloaded the config): takes the new
 * token and password hashes once the engine has applied them. */
static void reload_cb(const struct engine_notice *n, void *user)
{
	struct web_admin *w = user;

	if (n->domain != AIRMIX_DOMAIN_ENGINE || n->code != ENGINE_CONFIG_RELOADED)
		return;
	auth_configure(w->auth, engine_config(w->e));
}

static struct web_admin *server_of(struct lws *wsi)
{
	const struct lws_protocols *p = lws_get_protocol(wsi);

	return p ? p->user : NULL;
}

static const struct {
	enum lws_token_indexes token;
	enum api_method method;
	const char *name;
} methods[] = {
	{ WSI_TOKEN_GET_URI, API_GET, "GET" },
	{ WSI_TOKEN_POST_URI, API_POST, "POST" },
	{ WSI_TOKEN_PUT_URI, API_PUT, "PUT" },
	{ WSI_TOKEN_DELETE_URI, API_DELETE, "DELETE" },
	{ WSI_TOKEN_PATCH_URI, API_OTHER, "PATCH" },
	{ WSI_TOKEN_OPTIONS_URI, API_OTHER, "OPTIONS" },
	{ WSI_TOKEN_HEAD_URI, API_GET, "HEAD" },	/* a GET whose body is not sent */
};

static void method_of(struct lws *wsi, struct http_session *s)
{
	size_t i;

	s->method = API_OTHER;
	s->method_name = "OTHER";
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (lws_hdr_total_length(wsi, methods[i].token)) {
			s->method = methods[i].method;
			s->method_name = methods[i].name;
			return;
		}
	}
}

static void session_free(struct http_session *s)
{
	if (s->uploading)
		api_media_upload_abort(&s->upload);
	free(s->path);
	free(s->query);
	free(s->argbuf);
	free(s->body);
	api_reply_free(&s->rep);
	memset(s, 0, sizeof(*s));
}

/* Copies the path and the query fragments out of the header table. */
static int session_read_uri(struct lws *wsi, struct http_session *s, const char *uri,
			    size_t uri_len)
{
	char frag[QUERY_MAX_LEN];
	size_t used = 0, qused = 0, total;
	int i, n;

	s->path = strndup(uri, uri_len > PATH_MAX_LEN ? PATH_MAX_LEN : uri_len);
	total = (size_t)lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) + ARGS_MAX + 2;
	s->argbuf = malloc(total);
	s->query = malloc(total);
	if (!s->path || !s->argbuf || !s->query)
		return -ENOMEM;
	s->query[0] = '\0';
	for (i = 0; (n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS,
					       i)) >= 0; i++) {
		char *name = s->argbuf + used, *eq;

		if (!n)		/* "a=1&&b=2" */
			continue;
		/* libwebsockets hands a trailing '?' or '&' over as a last "/" */
		if (n == 1 && frag[0] == '/' &&
		    lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i + 1) < 0)
			break;
		if ((size_t)n + 1 > total - used)
			break;
		memcpy(name, frag, (size_t)n + 1);
		used += (size_t)n + 1;
		eq = strchr(name, '=');
		qused += (size_t)snprintf(s->query + qused, total - qused, "%s%s", qused ? "&" : "",
					  !strncmp(name, "token=", 6) ? "token=(redacted)" : name);
		if (qused >= total)
			qused = total - 1;
		if (s->n_args == ARGS_MAX) {
			s->too_many_args = true;
			continue;
		}
		if (eq)
			*eq = '\0';
		s->args[s->n_args].name = name;
		s->args[s->n_args].value = eq ? eq + 1 : "";
		s->n_args++;
	}
	return 0;
}

/* Bodies that hold passwords or settings never reach the history. */
static bool body_secret(const struct http_session *s)
{
	return s->path && (!strcmp(s->path, "/api/v1/session") ||
			   !strcmp(s->path, "/api/v1/config"));
}

/* "METHOD /path?query body" for the history. malloc'd. */
static char *request_text(const struct http_session *s)
{
	size_t shown = body_secret(s) ? 0 : s->body_len > REQUEST_BODY_SHOWN ?
		       REQUEST_BODY_SHOWN : s->body_len;
	size_t len = strlen(s->path ? s->path : "") + strlen(s->query ? s->query : "") +
		     shown + 32;
	char *t = malloc(len);

	if (!t)
		return NULL;
	snprintf(t, len, "%s %s%s%s%s%.*s%s", s->method_name, s->path ? s->path : "",
		 s->query && s->query[0] ? "?" : "", s->query ? s->query : "",
		 shown ? " " : "", (int)shown, shown ? s->body : "",
		 shown < s->body_len ? (shown ? "..." : " (body not shown)") : "");
	return t;
}

static void request_init(const struct http_session *s, struct api_request *req, char *text)
{
	memset(req, 0, sizeof(*req));
	req->method = s->method;
	req->method_name = s->method_name;
	req->path = s->path ? s->path : "";
	req->args = s->args;
	req->n_args = s->n_args;
	req->body = s->body;
	req->body_len = s->body_len;
	req->request = text ? text : "";
	req->range = s->range[0] ? s->range : NULL;
	req->who = &s->who;
	req->peer = s->peer;
	req->upload = s->uploading ? (struct media_upload *)&s->upload : NULL;
}

/* ---- replies */

static void reply_ready(struct lws *wsi, struct http_session *s)
{
	s->replied = true;
	lws_callback_on_writable(wsi);
}

static void fail(struct web_admin *w, struct lws *wsi, struct http_session *s,
		 int code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* An error found by the server itself (before api_handle). */
static void fail(struct web_admin *w, struct lws *wsi, struct http_session *s,
		 int code, const char *fmt, ...)
{
	struct api_request req;
	char msg[512], *text = request_text(s);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	request_init(s, &req, text);
	api_fail(w->e, &req, &s->rep, AIRMIX_DOMAIN_API, code, "", "%s", msg);
	free(text);
	reply_ready(wsi, s);
}

static void dispatch(struct web_admin *w, struct lws *wsi, struct http_session *s)
{
	struct api_server_stats stats = { .max_ws_clients = w->max_ws_clients };
	struct api_request req;
	char *text = request_text(s);

	if (s->too_many_args) {
		free(text);
		fail(w, wsi, s, API_BAD_QUERY, "too many query parameters (at most %d)", ARGS_MAX);
		return;
	}
	events_stats(w->ev, &stats);
	request_init(s, &req, text);
	req.auth = w->auth;
	req.tls = w->tls;
	api_handle(w->e, &stats, &req, &s->rep);
	if (s->uploading) {	/* the handler kept the file or it goes now */
		api_media_upload_abort(&s->upload);
		s->uploading = false;
	}
	free(text);
	reply_ready(wsi, s);
}

static int write_headers(struct web_admin *w, struct lws *wsi, struct http_session *s)
{
	unsigned char *start = w->scratch + LWS_PRE, *p = start;
	unsigned char *end = w->scratch + sizeof(w->scratch);
	const struct api_reply *r = &s->rep;

	if (lws_add_http_common_headers(wsi, (unsigned)r->status,
					r->content_type ? r->content_type : "application/json",
					r->has_file ? r->file_length : r->len, &p, end))
		return -1;
	if (r->has_file && lws_add_http_header_by_name(wsi, (const unsigned char *)"accept-ranges:",
			(const unsigned char *)"bytes", 5, &p, end))
		return -1;
	if (r->content_range[0] && lws_add_http_header_by_name(wsi,
			(const unsigned char *)"content-range:", (const unsigned char *)r->content_range,
			(int)strlen(r->content_range), &p, end))
		return -1;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end))
		return -1;
	for (size_t i = 0; s->path && strncmp(s->path, "/api/", 5) && i < page_header_count; i++)
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)page_headers[i].name,
				(const unsigned char *)page_headers[i].value,
				(int)strlen(page_headers[i].value), &p, end))
			return -1;
	if (r->allow[0] && lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
			(const unsigned char *)r->allow, (int)strlen(r->allow), &p, end))
		return -1;
	if (r->location[0] && lws_add_http_header_by_name(wsi,
			(const unsigned char *)"location:", (const unsigned char *)r->location,
			(int)strlen(r->location), &p, end))
		return -1;
	if (r->set_cookie[0] && lws_add_http_header_by_name(wsi,
			(const unsigned char *)"set-cookie:", (const unsigned char *)r->set_cookie,
			(int)strlen(r->set_cookie), &p, end))
		return -1;
	if (r->retry_after_s > 0) {
		char ra[16];

		snprintf(ra, sizeof(ra), "%d", r->retry_after_s);
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
				(const unsigned char *)ra, (int)strlen(ra), &p, end))
			return -1;
	}
	if (s->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
			(const unsigned char *)"close", 5, &p, end))
		return -1;
	return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/* The transaction is over: keep the connection for the next one, or close. */
static int finish(struct lws *wsi, struct http_session *s)
{
	bool close_after = s->close_after;

	session_free(s);
	if (close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The next chunk of the body into the scratch buffer: from memory, or a
 * pread of the reply's file. -1 when the file cannot be read (it shrank). */
static int body_chunk(struct web_admin *w, const struct http_session *s, size_t chunk)
{
	if (!s->rep.has_file) {
		memcpy(w->scratch + LWS_PRE, s->rep.body + s->sent, chunk);
		return 0;
	}
	return pread(s->rep.file_fd, w->scratch + LWS_PRE, chunk,
		     (off_t)(s->rep.file_offset + s->sent)) == (ssize_t)chunk ? 0 : -1;
}

static int http_writable(struct web_admin *w, struct lws *wsi, struct http_session *s)
{
	uint64_t total = s->rep.has_file ? s->rep.file_length : s->rep.len;
	size_t chunk;
	bool last;

	if (!s->replied)
		return 0;
	if (!s->headers_sent) {
		s->headers_sent = true;
		if (write_headers(w, wsi, s))
			return -1;
		if (!total || !strcmp(s->method_name, "HEAD"))
			return finish(wsi, s);
		lws_callback_on_writable(wsi);
		return 0;
	}
	chunk = total - s->sent > CHUNK ? CHUNK : (size_t)(total - s->sent);
	last = s->sent + chunk == total;
	if (body_chunk(w, s, chunk))
		return -1;	/* headers are out: closing is all that is left */
	if (lws_write(wsi, w->scratch + LWS_PRE, chunk,
		      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)chunk)
		return -1;
	s->sent += chunk;
	if (last)
		return finish(wsi, s);
	lws_callback_on_writable(wsi);
	return 0;
}

/* ---- request checks */

/* The auth check of a request (or an upgrade, which may carry ?token=). */
static void check_auth(struct web_admin *w, struct lws *wsi, enum api_method method,
		       const char *path, bool allow_query_token, struct auth_result *res)
{
	char cookie[1024], csrf[AUTH_CSRF_LEN + 8], authz[CONFIG_STR_MAX + 16];
	char arg[CONFIG_STR_MAX + 8];
	struct auth_request rq = { .method = method, .path = path };

	if (lws_hdr_copy(wsi, cookie, sizeof(cookie), WSI_TOKEN_HTTP_COOKIE) > 0)
		rq.cookie = cookie;
	if (lws_hdr_custom_copy(wsi, csrf, sizeof(csrf), "x-csrf-token:", 13) >= 0)
		rq.csrf = csrf;
	if (lws_hdr_copy(wsi, authz, sizeof(authz), WSI_TOKEN_HTTP_AUTHORIZATION) > 0)
		rq.authorization = authz;
	if (allow_query_token)
		rq.query_token = lws_get_urlarg_by_name(wsi, "token=", arg, sizeof(arg));
	auth_check(w->auth, &rq, res);
}

static bool content_type_json(struct lws *wsi, char *shown, size_t len)
{
	char ct[128];
	int n = lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE);

	snprintf(shown, len, "%s", n > 0 ? ct : "");
	if (n == 0)
		return true;	/* no content type: take it as JSON */
	if (n < 0 || strncasecmp(ct, "application/json", 16))
		return false;
	return ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ';
}

/* -1 when there is no usable Content-Length. */
static long long content_length(struct lws *wsi)
{
	char cl[32], *end;
	long long v;

	if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
		return -1;
	v = strtoll(cl, &end, 10);
	return (*end || v < 0) ? -1 : v;
}

/* A raw body (a media upload): checked from the headers, then streamed to a
 * temporary file as it arrives. An error is answered at once and the
 * connection closed without reading the body. */
static int begin_upload(struct web_admin *w, struct lws *wsi, struct http_session *s)
{
	struct api_request req;
	char *text = request_text(s);
	int rc;

	request_init(s, &req, text);
	rc = api_media_upload_begin(w->e, &req, content_length(wsi), &s->upload, &s->rep);
	free(text);
	if (rc) {
		s->close_after = true;
		reply_ready(wsi, s);
		return 0;
	}
	s->uploading = true;
	return 0;
}

/* Headers are in: decide now, or get ready for the body. 0, or -1 to close. */
static int on_http(struct web_admin *w, struct lws *wsi, struct http_session *s,
		   const char *uri, size_t uri_len)
{
	bool takes_body = false, raw_body = false;
	char ct[128];
	long long len;
	int rc;

	session_free(s);
	method_of(wsi, s);
	if (session_read_uri(wsi, s, uri, uri_len))
		return -1;
	if (lws_hdr_copy(wsi, s->range, sizeof(s->range), WSI_TOKEN_HTTP_RANGE) < 0)
		s->range[0] = '\0';	/* longer than any single range: ignored */
	if (s->method == API_GET && strncmp(s->path, "/api/", 5) &&
	    page_reply(w->page_root, s->path, &s->rep) == 0) {
		reply_ready(wsi, s);
		return 0;
	}
	if (!strcmp(s->path, "/") && s->method == API_GET) {	/* no page files */
		s->rep.status = 200;
		s->rep.content_type = "text/html; charset=utf-8";
		s->rep.body = strdup(index_html);
		s->rep.len = s->rep.body ? strlen(index_html) : 0;
		reply_ready(wsi, s);
		return 0;
	}
	if (!strcmp(s->path, "/favicon.ico")) {	/* browsers ask for it: not an error */
		s->rep.status = 204;
		reply_ready(wsi, s);
		return 0;
	}
	lws_get_peer_simple(wsi, s->peer, sizeof(s->peer));
	check_auth(w, wsi, s->method, s->path, false, &s->who);
	if (s->who.code) {
		fail(w, wsi, s, s->who.code, "%s", s->who.message);
		return 0;
	}
	rc = api_route_lookup(s->path, s->method, &takes_body, &raw_body);
	if (rc == -ENOENT && !strcmp(s->path, EVENTS_PATH)) {
		fail(w, wsi, s, API_NOT_FOUND, "%s is a websocket: connect with Upgrade: websocket",
		     EVENTS_PATH);
		return 0;
	}
	if (!rc && raw_body)
		return begin_upload(w, wsi, s);
	if (rc || !takes_body) {	/* api_handle answers 404 and 405 itself */
		dispatch(w, wsi, s);
		return 0;
	}
	if (!content_type_json(wsi, ct, sizeof(ct))) {
		fail(w, wsi, s, API_UNSUPPORTED_MEDIA_TYPE,
		     "content type must be application/json, not %s", ct);
		return 0;
	}
	len = content_length(wsi);
	if (len < 0) {
		s->close_after = true;
		fail(w, wsi, s, API_BAD_JSON,
		     "a json body with a content-length header is required");
		return 0;
	}
	if ((size_t)len > w->max_body) {
		s->close_after = true;
		fail(w, wsi, s, API_BODY_TOO_LARGE, "request body of %lld bytes is larger than "
		     "max_body_bytes %zu", len, w->max_body);
		return 0;
	}
	s->body_cap = (size_t)len;
	s->body = malloc(s->body_cap + 1);
	if (!s->body)
		return -1;
	s->body[0] = '\0';
	/* lws delivers no body callbacks for an empty PUT, only for an empty POST */
	if (!len && s->method != API_POST)
		dispatch(w, wsi, s);
	return 0;
}

static void on_body(struct web_admin *w, struct lws *wsi, struct http_session *s,
		    const char *in, size_t len)
{
	if (s->uploading && !s->replied) {
		api_media_upload_write(&s->upload, in, len);
		return;
	}
	if (s->replied || !s->body)
		return;
	if (len > s->body_cap - s->body_len) {
		s->close_after = true;
		fail(w, wsi, s, API_BODY_TOO_LARGE, "request body is longer than its "
		     "content-length of %zu bytes", s->body_cap);
		return;
	}
	memcpy(s->body + s->body_len, in, len);
	s->body_len += len;
	s->body[s->body_len] = '\0';
}

/* ---- WebSocket upgrade */

/* Writes a whole JSON error reply at once (the upgrade path cannot wait for
 * a writable callback). */
static int refuse_upgrade(struct web_admin *w, struct lws *wsi, int code, const char *msg)
{
	struct http_session s = { .method = API_GET, .method_name = "GET" };
	unsigned char *start = w->scratch + LWS_PRE, *p = start;
	unsigned char *end = w->scratch + sizeof(w->scratch);
	struct api_request req;
	char uri[PATH_MAX_LEN], clen[24], *text;
	int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);

	s.path = n > 0 ? uri : "";
	s.query = "";
	text = request_text(&s);
	request_init(&s, &req, text);
	api_fail(w->e, &req, &s.rep, AIRMIX_DOMAIN_API, code, "", "%s", msg);
	free(text);
	snprintf(clen, sizeof(clen), "%zu", s.rep.len);
	/* lws would write "HTTP/1.0" here: the request version is not parsed yet */
	p += lws_snprintf((char *)p, (size_t)(end - p), "HTTP/1.1 %d %s\r\n", s.rep.status,
			  s.rep.status == 401 ? "Unauthorized" : s.rep.status == 404 ?
			  "Not Found" : s.rep.status == 429 ? "Too Many Requests" :
			  s.rep.status == 403 ? "Forbidden" : "Error");
	if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
					 (const unsigned char *)"application/json", 16, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
					 (const unsigned char *)clen, (int)strlen(clen), &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
					 (const unsigned char *)"close", 5, &p, end) ||
	    lws_finalize_http_header(wsi, &p, end) ||
	    (size_t)(end - p) < s.rep.len) {
		api_reply_free(&s.rep);
		return -1;
	}
	memcpy(p, s.rep.body, s.rep.len);
	p += s.rep.len;
	n = lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP);
	api_reply_free(&s.rep);
	return n == (int)(p - start) ? 1 : -1;
}

static int confirm_upgrade(struct web_admin *w, struct lws *wsi, const char *what)
{
	char uri[PATH_MAX_LEN], msg[160];
	struct auth_result who;

	if (!what || strcasecmp(what, "websocket"))
		return -1;	/* no h2c */
	/* guests prove who they are with an RTC AccessToken when they join,
	 * not with the admin's credentials */
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0 &&
	    !strcmp(uri, RTC_WS_PATH))
		return rtc_ws_clients(w->rtc) < w->max_ws_clients ? 0 :
		       refuse_upgrade(w, wsi, API_TOO_MANY_SUBSCRIBERS,
				      "too many rtc signalling clients (max_ws_clients)");
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
	    strcmp(uri, EVENTS_PATH)) {
		snprintf(msg, sizeof(msg), "no websocket at %.64s (use %s)", uri, EVENTS_PATH);
		return refuse_upgrade(w, wsi, API_NOT_FOUND, msg);
	}
	check_auth(w, wsi, API_GET, EVENTS_PATH, true, &who);
	if (who.code)
		return refuse_upgrade(w, wsi, who.code, who.message);
	if (events_clients(w->ev) >= w->max_ws_clients) {
		snprintf(msg, sizeof(msg), "too many event subscribers (max_ws_clients %u)",
			 w->max_ws_clients);
		return refuse_upgrade(w, wsi, API_TOO_MANY_SUBSCRIBERS, msg);
	}
	return 0;
}

/* ---- the HTTP protocol callback (service thread) */

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			 void *in, size_t len)
{
	struct web_admin *w = server_of(wsi);
	struct http_session *s = user;

	if (!w)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(w, wsi, s, in, len);
	case LWS_CALLBACK_HTTP_BODY:
		on_body(w, wsi, s, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!s->replied)
			dispatch(w, wsi, s);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_writable(w, wsi, s);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(w, wsi, in);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (s)
			session_free(s);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* ---- the WebSocket protocol callback (service thread)
 *
 * New connections are bound to the vhost's default protocol, which is this
 * one, until lws sees their request: so the upgrade check arrives here. */

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	struct web_admin *w = server_of(wsi);

	if (!w)
		return 0;
	if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE)
		return confirm_upgrade(w, wsi, in);
	if (reason == LWS_CALLBACK_ESTABLISHED) {
		int rc = rtc_ws_callback(w->rtc, wsi, reason, in, len);

		if (rc != 1)	/* 1: not an /rtc connection */
			return rc;
	} else if (rtc_ws_owns(wsi)) {
		return rtc_ws_callback(w->rtc, wsi, reason, in, len);
	}
	return events_callback(w->ev, wsi, reason, user, in, len);
}

/* ---- service thread and start/stop (control thread) */

static void *service_main(void *arg)
{
	struct web_admin *w = arg;

	while (!atomic_load(&w->stop)) {
		if (lws_service(w->ctx, 0) < 0) {
			fprintf(stderr, "airmixd: web admin: lws_service failed, "
				"the server stopped\n");
			break;
		}
	}
	return NULL;
}

static void log_emit(int level, const char *line)
{
	fprintf(stderr, "airmixd: lws %s: %s", level == LLL_ERR ? "error" : "warning", line);
}

static int create_context(struct web_admin *w, const struct airmix_config *cfg, char *err,
			  size_t errlen)
{
	struct lws_context_creation_info info;
	bool v6 = strchr(cfg->http_listen, ':') != NULL;

	w->protocols[0] = (struct lws_protocols){ .name = "http", .callback = http_callback,
		.per_session_data_size = sizeof(struct http_session), .user = w };
	w->protocols[1] = (struct lws_protocols){ .name = EVENTS_PROTOCOL,
		.callback = ws_callback, .per_session_data_size = events_session_size(),
		.rx_buffer_size = 1024, .user = w };
	w->pvo_default = (struct lws_protocol_vhost_options){ .name = "default", .value = "1" };
	w->pvo_events = (struct lws_protocol_vhost_options){ .options = &w->pvo_default,
		.name = EVENTS_PROTOCOL, .value = "" };

	memset(&info, 0, sizeof(info));
	info.port = cfg->http_port;
	info.iface = strcasecmp(cfg->http_listen, "localhost") ? cfg->http_listen : "127.0.0.1";
	if (!strcmp(info.iface, "0.0.0.0") || !strcmp(info.iface, "::"))
		info.iface = NULL;
	info.protocols = w->protocols;
	info.pvo = &w->pvo_events;
	info.user = w;
	info.server_string = "airmixd/" AIRMIX_VERSION;
	info.options = v6 ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6;
	info.timeout_secs = 10;
	if (cfg->http_tls_cert[0]) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->http_tls_cert;
		info.ssl_private_key_filepath = cfg->http_tls_key;
		/* HTTP/1.1 only: over HTTP/2 libwebsockets 4.1.6 stalls the
		 * file replies (the page's files) part way */
		info.alpn = "http/1.1";
		w->tls = true;
	}
	lws_set_log_level(LLL_ERR | LLL_WARN, log_emit);
	w->ctx = lws_create_context(&info);
	if (!w->ctx) {
		snprintf(err, errlen, "cannot listen on %s port %d: address in use or not "
			 "available%s", cfg->http_listen, cfg->http_port, w->tls ?
			 ", or the TLS certificate and key do not load" : "");
		return -EADDRINUSE;
	}
	return 0;
}

/* lws only says that the context failed: name an unreadable file first. */
static int tls_files_readable(const struct airmix_config *cfg, char *err, size_t errlen)
{
	const char *files[2] = { cfg->http_tls_cert, cfg->http_tls_key };

	for (int i = 0; i < 2; i++) {
		FILE *f = files[i][0] ? fopen(files[i], "r") : NULL;

		if (files[i][0] && !f) {
			int rc = -errno;

			snprintf(err, errlen, "cannot read %s %s: %s", i ? "tls_key" : "tls_cert",
				 files[i], strerror(-rc));
			return rc;
		}
		if (f)
			fclose(f);
	}
	return 0;
}

int web_admin_start(struct engine *e, struct web_admin **out, char *err, size_t errlen)
{
	const struct airmix_config *cfg = engine_config(e);
	struct web_admin *w;
	int rc;

	if (!config_is_loopback(cfg->http_listen) && !cfg->http_admin_hash[0]) {
		snprintf(err, errlen, "refusing to listen on %s without a password: set [http] "
			 "admin_password_hash with airmixctl passwd, or listen on a loopback "
			 "address", cfg->http_listen);
		return -EINVAL;
	}
	rc = tls_files_readable(cfg, err, errlen);
	if (rc)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w || auth_create(&w->auth)) {
		free(w);
		snprintf(err, errlen, "web admin: out of memory");
		return -ENOMEM;
	}
	w->e = e;
	auth_configure(w->auth, cfg);
	w->max_body = (size_t)cfg->http_max_body;
	w->max_ws_clients = (unsigned)cfg->http_max_ws_clients;
	if (page_find_root(w->page_root, sizeof(w->page_root)))
		fprintf(stderr, "airmixd: web admin: the page's files are not in web-admin/www nor "
			"in %s/share/airmix/web: / shows a placeholder\n", AIRMIX_PREFIX);
	rc = events_create(e, &w->ev);
	if (rc == 0 && (rc = rtc_ws_create(e, &w->rtc)))
		events_destroy(w->ev);
	if (rc) {
		snprintf(err, errlen, "web admin: out of memory");
		goto out_free;
	}
	rc = create_context(w, cfg, err, errlen);
	if (rc)
		goto out_events;
	events_attach(w->ev, w->ctx, &w->protocols[1]);
	rtc_ws_attach(w->rtc, w->ctx);
	w->reload_subscribed = engine_subscribe(e, reload_cb, w) == 0;
	rc = -pthread_create(&w->thread, NULL, service_main, w);
	if (rc) {
		snprintf(err, errlen, "web admin: cannot start the service thread: %s",
			 strerror(-rc));
		goto out_context;
	}
	w->thread_started = true;
	*out = w;
	return 0;

out_context:
	if (w->reload_subscribed)
		engine_unsubscribe(e, reload_cb, w);
	events_detach(w->ev);
	rtc_ws_detach(w->rtc);
	lws_context_destroy(w->ctx);
out_events:
	events_destroy(w->ev);
	rtc_ws_destroy(w->rtc);
out_free:
	auth_destroy(w->auth);
	free(w);
	return rc;
}

void web_admin_stop(struct web_admin *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	lws_cancel_service(w->ctx);
	if (w->thread_started)
		pthread_join(w->thread, NULL);
	if (w->reload_subscribed)
		engine_unsubscribe(w->e, reload_cb, w);
	events_detach(w->ev);
	rtc_ws_detach(w->rtc);
	lws_context_destroy(w->ctx);
	events_destroy(w->ev);
	rtc_ws_destroy(w->rtc);
	auth_destroy(w->auth);
	free(w);
}
