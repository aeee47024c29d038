/* api_session.c - the login routes, /api/v1/session.
 *
 * POST {"user": "admin"|"operator", "password": "..."} logs in: 200 with
 * {"user", "role", "csrf", "expires", "expires_unix", "ttl_s", "auth": true}
 * and the session cookie (HttpOnly, SameSite=Strict, Path=/, Max-Age, and
 * Secure under TLS); 401 for a wrong user or password; 429 with Retry-After
 * when the address is locked out (auth.c counts the failures). GET says who
 * the caller is (the same object without setting a cookie, {"role": "admin",
 * "auth": false} when no password is set, 401 when not logged in). DELETE
 * ends the session and clears the cookie.
 *
 * The request text of these routes never reaches the history with its body
 * (server.c leaves it out): it holds the password.
 *
 * Threads: the lws service thread only.
 */
#include "web-admin/api_session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "web-admin/auth.h"

static const char *const user_choices[] = { "admin", "operator", NULL };

static const struct api_field login_fields[] = {
	{ "user", FIELD_STRING, 1, 15, true, user_choices },
	{ "password", FIELD_STRING, 0, 1024, true, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static void set_cookie(struct call *c, const char *id, int max_age)
{
	snprintf(c->rep->set_cookie, sizeof(c->rep->set_cookie),
		 "%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d%s", AUTH_COOKIE, id,
		 max_age, c->req->tls ? "; Secure" : "");
}

static json_t *session_json(const struct auth_session_info *s)
{
	char when[40];

	api_format_time(s->expires_unix * 1000000, when, sizeof(when));
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:i,s:b}", "user", s->user,
			 "role", auth_role_name(s->role), "csrf", s->csrf, "expires", when,
			 "expires_unix", (json_int_t)s->expires_unix, "ttl_s", s->ttl_s,
			 "auth", 1);
}

static void post_login(struct call *c)
{
	const char *user = json_string_value(json_object_get(c->body, "user"));
	const char *password = json_string_value(json_object_get(c->body, "password"));
	struct auth_session_info s;
	int retry = 0, rc;

	if (!c->req->auth) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "logins are not available");
		return;
	}
	rc = auth_login(c->req->auth, c->req->peer, user, password, &s, &retry);
	if (rc == -EAGAIN) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_RATE_LIMITED,
			      "too many failed logins from %s: try again in %d s", c->req->peer,
			      retry);
		c->rep->retry_after_s = retry;
		return;
	}
	if (rc == -EACCES) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_UNAUTHORIZED,
			      "wrong user or password for %s from %s%s", user, c->req->peer,
			      auth_enabled(c->req->auth) ? "" :
			      " (no password is set: the API needs no login)");
		return;
	}
	if (rc) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "login: %s", strerror(-rc));
		return;
	}
	api_reply_json(c->rep, 200, session_json(&s));
	set_cookie(c, s.id, s.ttl_s);
}

static void get_session(struct call *c)
{
	const struct auth_result *who = c->req->who;

	if (who && who->has_session) {
		api_reply_json(c->rep, 200, session_json(&who->session));
		return;
	}
	if (who && who->via_token) {
		api_reply_json(c->rep, 200, json_pack("{s:s,s:s,s:s,s:b,s:b}", "user", "token",
			       "role", "admin", "csrf", "", "auth", 1, "via_token", 1));
		return;
	}
	if (!c->req->auth || !auth_enabled(c->req->auth)) {
		api_reply_json(c->rep, 200, json_pack("{s:s,s:s,s:s,s:b}", "user", "admin",
			       "role", "admin", "csrf", "", "auth", 0));
		return;
	}
	api_call_fail(c, AIRMIX_DOMAIN_API, API_UNAUTHORIZED, "not logged in");
}

static void delete_session(struct call *c)
{
	const struct auth_result *who = c->req->who;

	if (who && who->has_session && c->req->auth)
		auth_logout(c->req->auth, who->session.id);
	api_reply_json(c->rep, 204, NULL);
	set_cookie(c, "", 0);
}

const struct api_route api_session_routes[] = {
	{ "/api/v1/session", API_POST, login_fields, NULL, post_login, API_ID_TEXT },
	{ "/api/v1/session", API_GET, NULL, NULL, get_session, API_ID_TEXT },
	{ "/api/v1/session", API_DELETE, NULL, NULL, delete_session, API_ID_TEXT },
};

const size_t api_session_route_count = sizeof(api_session_routes) /
				       sizeof(api_session_routes[0]);
