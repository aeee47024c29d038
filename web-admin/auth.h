/* auth.h - who may use the web admin: password hashes, login sessions with
 * their CSRF tokens, login rate limiting, and the role each route needs.
 *
 * Two users, each with a role: "admin" (everything) and "operator" (reads
 * everything; changes carts/mixing, recordings, media and volumes only). A
 * password is a crypt(3) yescrypt hash in the config ([http]
 * admin_password_hash, operator_password_hash). The bearer token of [http]
 * token acts as admin and needs no CSRF token (it is not a cookie).
 *
 * Without any password hash, auth is "off": the API behaves as before
 * (open, or the token alone when one is set); only a loopback listener is
 * allowed then (config.c refuses the rest).
 *
 * Threads: every function may be called from any non-RT thread: the service
 * thread checks requests and logs in, the thread that reloads the config
 * calls auth_configure(). One mutex guards the state; password hashing runs
 * outside it.
 */
#ifndef AIRMIX_WEB_AUTH_H
#define AIRMIX_WEB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/config.h"
#include "web-admin/api.h"

#define AUTH_COOKIE "airmix_session"
#define AUTH_ID_LEN 64			/* hex characters of a session id (256 bits) */
#define AUTH_CSRF_LEN 64		/* hex characters of a CSRF token */
#define AUTH_PEER_MAX 64
#define AUTH_SESSIONS_MAX 128		/* the oldest session goes when full */
#define AUTH_FAIL_MAX 5			/* failed logins per window ... */
#define AUTH_FAIL_WINDOW_MS 60000	/* ... lock the address out */
#define AUTH_LOCK_BASE_MS 60000		/* first lock-out, doubled for each further one */
#define AUTH_LOCK_MAX_MS 3600000
#define AUTH_FORGET_MS 3600000		/* a quiet hour resets an address */

enum auth_role {
	AUTH_NONE = 0,
	AUTH_OPERATOR = 1,
	AUTH_ADMIN = 2,
};

struct auth;

struct auth_session_info {
	char id[AUTH_ID_LEN + 1];
	char csrf[AUTH_CSRF_LEN + 1];
	char user[16];			/* "admin", "operator" */
	enum auth_role role;
	int64_t expires_unix;		/* wall clock, seconds */
	int ttl_s;
};

/* What the server knows of a request before its body. Strings may be NULL. */
struct auth_request {
	enum api_method method;
	const char *path;
	const char *cookie;		/* the Cookie header */
	const char *csrf;		/* the X-CSRF-Token header */
	const char *authorization;	/* the Authorization header */
	const char *query_token;	/* ?token= (WebSocket upgrades only) */
};

struct auth_result {
	int code;			/* 0, API_UNAUTHORIZED, API_CSRF_FAILED, API_FORBIDDEN */
	char message[160];
	enum auth_role role;		/* who is asking: AUTH_ADMIN when auth is off */
	bool via_token;
	bool has_session;
	struct auth_session_info session;
};

int auth_create(struct auth **out);
void auth_destroy(struct auth *a);

/* Takes the token, the hashes and the session lifetime of cfg. Sessions of a
 * user whose hash changed (or was removed) end. */
void auth_configure(struct auth *a, const struct airmix_config *cfg);

/* True when a password is set: logins are needed. */
bool auth_enabled(struct auth *a);

/* Milliseconds of a monotonic clock and seconds of the wall clock; tests
 * replace them. NULL restores the system clocks. */
void auth_set_clock(struct auth *a, int64_t (*mono_ms)(void *), int64_t (*unix_s)(void *),
		    void *user);

/* Checks a request's credentials, its CSRF token and the role the route
 * needs. res->code is 0 when it may go on. */
void auth_check(struct auth *a, const struct auth_request *rq, struct auth_result *res);

/* A login from peer. 0 and *out filled; -EACCES for a wrong user or
 * password; -EAGAIN when peer is locked out (*retry_after_s set);
 * -ENOMEM. */
int auth_login(struct auth *a, const char *peer, const char *user, const char *password,
	       struct auth_session_info *out, int *retry_after_s);

/* Ends the session with this id; -ENOENT when there is none. */
int auth_logout(struct auth *a, const char *id);

/* The session named by a Cookie header; -ENOENT when none is valid. */
int auth_session_from_cookie(struct auth *a, const char *cookie, struct auth_session_info *out);

/* The role a route needs: AUTH_OPERATOR or AUTH_ADMIN (AUTH_NONE: public
 * when auth is on). */
enum auth_role auth_route_role(enum api_method method, const char *path);
const char *auth_role_name(enum auth_role role);

/* A yescrypt hash of password into out ("$y$..."); -errno on failure. */
int auth_hash_password(const char *password, char *out, size_t len);
/* Does password match hash (any crypt(3) method)? Constant time in the
 * comparison. */
bool auth_verify_password(const char *password, const char *hash);

#endif
