/* auth.c - password hashes, login sessions, CSRF tokens, login rate limiting
 * and the role table of the web admin (see auth.h).
 *
 * DESIGN
 * Sessions live in memory only (a restart logs everyone out): a fixed table
 * of AUTH_SESSIONS_MAX slots, each with a 256-bit random id (the cookie), its
 * own 256-bit CSRF token, the user, the role and a monotonic deadline.
 * Lookups compare the id against every slot in constant time. A full table
 * drops the session closest to its end.
 *
 * Failed logins are counted per client address in a fixed table: AUTH_FAIL_MAX
 * failures within AUTH_FAIL_WINDOW_MS lock the address out for
 * AUTH_LOCK_BASE_MS, doubled for each further lock-out up to AUTH_LOCK_MAX_MS;
 * a success or a quiet AUTH_FORGET_MS clears the address. A locked-out
 * address is refused before its password is even hashed.
 *
 * Threads: any non-RT thread; a.lock guards the tables and the copied
 * configuration. crypt_r() (tens of milliseconds by design) runs with the
 * lock released, on a copy of the hash.
 */
#include "web-admin/auth.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define PEERS_MAX 256

struct session {
	bool used;
	struct auth_session_info info;
	int64_t deadline_ms;
};

struct peer {
	char addr[AUTH_PEER_MAX];
	int failures;			/* in the current window */
	int64_t window_start_ms;
	int64_t locked_until_ms;
	int lock_level;			/* lock-outs so far */
	int64_t last_ms;
};

struct auth {
	pthread_mutex_t lock;
	char token[CONFIG_STR_MAX];
	char hash[2][CONFIG_STR_MAX];	/* [0] admin, [1] operator */
	int ttl_s;
	struct session sessions[AUTH_SESSIONS_MAX];
	struct peer peers[PEERS_MAX];
	int64_t (*mono_ms)(void *);
	int64_t (*unix_s)(void *);
	void *clock_user;
};

/* Hashed in place of a missing one: same cost, never matches "". */
static const char dummy_hash[] =
	"$y$j9T$QwZv0EoPn6BPk30gsH5nb0$1AzjMmLOYda1PajmOV9zE4G1QWio/D0C1JEOUS53St3";

static const char *const user_names[2] = { "admin", "operator" };
static const enum auth_role user_roles[2] = { AUTH_ADMIN, AUTH_OPERATOR };

/* ---- clocks */

static int64_t system_mono_ms(void *user)
{
	struct timespec ts;

	(void)user;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t system_unix_s(void *user)
{
	(void)user;
	return (int64_t)time(NULL);
}

void auth_set_clock(struct auth *a, int64_t (*mono_ms)(void *), int64_t (*unix_s)(void *),
		    void *user)
{
	pthread_mutex_lock(&a->lock);
	a->mono_ms = mono_ms ? mono_ms : system_mono_ms;
	a->unix_s = unix_s ? unix_s : system_unix_s;
	a->clock_user = user;
	pthread_mutex_unlock(&a->lock);
}

/* ---- create, configure */

int auth_create(struct auth **out)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	a->mono_ms = system_mono_ms;
	a->unix_s = system_unix_s;
	a->ttl_s = 43200;
	*out = a;
	return 0;
}

void auth_destroy(struct auth *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

void auth_configure(struct auth *a, const struct airmix_config *cfg)
{
	const char *hashes[2] = { cfg->http_admin_hash, cfg->http_operator_hash };
	size_t i;
	int u;

	pthread_mutex_lock(&a->lock);
	snprintf(a->token, sizeof(a->token), "%s", cfg->http_token);
	a->ttl_s = cfg->http_session_ttl_s;
	for (u = 0; u < 2; u++) {
		if (!strcmp(a->hash[u], hashes[u]))
			continue;
		snprintf(a->hash[u], sizeof(a->hash[u]), "%s", hashes[u]);
		for (i = 0; i < AUTH_SESSIONS_MAX; i++)	/* a new password ends old logins */
			if (a->sessions[i].used && !strcmp(a->sessions[i].info.user, user_names[u]))
				memset(&a->sessions[i], 0, sizeof(a->sessions[i]));
	}
	pthread_mutex_unlock(&a->lock);
}

static bool enabled_locked(const struct auth *a)
{
	return a->hash[0][0] || a->hash[1][0];
}

bool auth_enabled(struct auth *a)
{
	bool on;

	pthread_mutex_lock(&a->lock);
	on = enabled_locked(a);
	pthread_mutex_unlock(&a->lock);
	return on;
}

/* ---- hashes */

int auth_hash_password(const char *password, char *out, size_t len)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *h;
	int rc = 0;

	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
		return errno ? -errno : -EINVAL;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	h = crypt_r(password, salt, cd);
	if (!h || h[0] != '$')
		rc = -EINVAL;
	else if (snprintf(out, len, "%s", h) >= (int)len)
		rc = -ENOSPC;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return rc;
}

bool auth_verify_password(const char *password, const char *hash)
{
	struct crypt_data *cd;
	const char *h;
	bool ok = false;
	size_t n = strlen(hash);

	if (!n || hash[0] != '$')
		return false;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return false;
	h = crypt_r(password, hash, cd);
	if (h && h[0] == '$' && strlen(h) == n)
		ok = CRYPTO_memcmp(h, hash, n) == 0;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* ---- tokens and sessions */

static int random_hex(char *out, size_t hex_len)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t i;

	if (hex_len / 2 > sizeof(raw) || RAND_bytes(raw, (int)(hex_len / 2)) != 1)
		return -EIO;
	for (i = 0; i < hex_len / 2; i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[hex_len] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* Constant time for equal lengths; want is the secret. */
static bool secret_equal(const char *want, const char *given, size_t glen)
{
	size_t wlen = strlen(want);

	if (!wlen || wlen != glen)
		return false;
	return CRYPTO_memcmp(want, given, wlen) == 0;
}

/* The live session with this id, or NULL. Every slot is compared. */
static struct session *session_find_locked(struct auth *a, const char *id, size_t len)
{
	int64_t now = a->mono_ms(a->clock_user);
	struct session *found = NULL;
	size_t i;

	for (i = 0; i < AUTH_SESSIONS_MAX; i++) {
		struct session *s = &a->sessions[i];

		if (s->used && s->deadline_ms <= now) {
			memset(s, 0, sizeof(*s));	/* expired: gone for good */
			continue;
		}
		if (s->used && secret_equal(s->info.id, id, len))
			found = s;
	}
	return found;
}

/* The value of the AUTH_COOKIE cookie in a Cookie header, or NULL. */
static const char *cookie_value(const char *cookie, size_t *len)
{
	const char *p = cookie;
	size_t name_len = strlen(AUTH_COOKIE);

	while (p && *p) {
		p += strspn(p, " \t;");
		if (!strncmp(p, AUTH_COOKIE, name_len) && p[name_len] == '=') {
			p += name_len + 1;
			*len = strcspn(p, "; \t");
			return p;
		}
		p = strchr(p, ';');
	}
	return NULL;
}

int auth_session_from_cookie(struct auth *a, const char *cookie, struct auth_session_info *out)
{
	struct session *s;
	const char *id;
	size_t len = 0;
	int rc = -ENOENT;

	id = cookie ? cookie_value(cookie, &len) : NULL;
	if (!id)
		return -ENOENT;
	pthread_mutex_lock(&a->lock);
	s = session_find_locked(a, id, len);
	if (s) {
		*out = s->info;
		rc = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

static int session_new_locked(struct auth *a, int user, struct auth_session_info *out)
{
	int64_t now = a->mono_ms(a->clock_user);
	struct session *slot = NULL;
	size_t i;

	for (i = 0; i < AUTH_SESSIONS_MAX; i++) {
		struct session *s = &a->sessions[i];

		if (!s->used || s->deadline_ms <= now) {
			slot = s;
			break;
		}
		if (!slot || s->deadline_ms < slot->deadline_ms)
			slot = s;	/* full: the one closest to its end goes */
	}
	memset(slot, 0, sizeof(*slot));
	if (random_hex(slot->info.id, AUTH_ID_LEN) || random_hex(slot->info.csrf, AUTH_CSRF_LEN))
		return -EIO;
	snprintf(slot->info.user, sizeof(slot->info.user), "%s", user_names[user]);
	slot->info.role = user_roles[user];
	slot->info.ttl_s = a->ttl_s;
	slot->info.expires_unix = a->unix_s(a->clock_user) + a->ttl_s;
	slot->deadline_ms = now + (int64_t)a->ttl_s * 1000;
	slot->used = true;
	*out = slot->info;
	return 0;
}

int auth_logout(struct auth *a, const char *id)
{
	struct session *s;
	int rc = -ENOENT;

	pthread_mutex_lock(&a->lock);
	s = session_find_locked(a, id, strlen(id));
	if (s) {
		memset(s, 0, sizeof(*s));
		rc = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* ---- rate limiting */

static struct peer *peer_get_locked(struct auth *a, const char *addr, int64_t now)
{
	struct peer *oldest = NULL;
	size_t i;

	for (i = 0; i < PEERS_MAX; i++) {
		struct peer *p = &a->peers[i];

		if (p->addr[0] && now - p->last_ms > AUTH_FORGET_MS && p->locked_until_ms <= now)
			memset(p, 0, sizeof(*p));
		if (p->addr[0] && !strcmp(p->addr, addr))
			return p;
	}
	for (i = 0; i < PEERS_MAX; i++) {
		struct peer *p = &a->peers[i];

		if (!p->addr[0]) {
			oldest = p;
			break;
		}
		if (p->locked_until_ms <= now && (!oldest || p->last_ms < oldest->last_ms))
			oldest = p;
	}
	if (!oldest)
		return NULL;	/* every slot locked out: refuse rather than forget one */
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
	oldest->window_start_ms = now;
	return oldest;
}

static void peer_failed_locked(struct peer *p, int64_t now)
{
	int64_t lock_ms;

	if (now - p->window_start_ms > AUTH_FAIL_WINDOW_MS) {
		p->window_start_ms = now;
		p->failures = 0;
	}
	p->last_ms = now;
	if (++p->failures < AUTH_FAIL_MAX)
		return;
	lock_ms = AUTH_LOCK_BASE_MS;
	for (int i = 0; i < p->lock_level && lock_ms < AUTH_LOCK_MAX_MS; i++)
		lock_ms *= 2;
	if (lock_ms > AUTH_LOCK_MAX_MS)
		lock_ms = AUTH_LOCK_MAX_MS;
	p->locked_until_ms = now + lock_ms;
	p->lock_level++;
	p->failures = 0;
	p->window_start_ms = now;
}

/* ---- login */

static int user_index(const char *user)
{
	for (int u = 0; u < 2; u++)
		if (user && !strcmp(user, user_names[u]))
			return u;
	return -1;
}

int auth_login(struct auth *a, const char *peer, const char *user, const char *password,
	       struct auth_session_info *out, int *retry_after_s)
{
	char hash[CONFIG_STR_MAX] = "";
	int u = user_index(user), rc;
	struct peer *p;
	bool ok;
	int64_t now;

	pthread_mutex_lock(&a->lock);
	now = a->mono_ms(a->clock_user);
	p = peer_get_locked(a, peer ? peer : "", now);
	if (!p || p->locked_until_ms > now) {
		*retry_after_s = p ? (int)((p->locked_until_ms - now + 999) / 1000) :
			     (int)(AUTH_LOCK_BASE_MS / 1000);
		pthread_mutex_unlock(&a->lock);
		return -EAGAIN;
	}
	if (u >= 0)
		memcpy(hash, a->hash[u], sizeof(hash));
	pthread_mutex_unlock(&a->lock);

	/* hash even for an unknown user or no password, so timing tells nothing */
	ok = auth_verify_password(password ? password : "",
				  hash[0] ? hash : dummy_hash) && hash[0];
	OPENSSL_cleanse(hash, sizeof(hash));

	pthread_mutex_lock(&a->lock);
	now = a->mono_ms(a->clock_user);
	p = peer_get_locked(a, peer ? peer : "", now);
	if (!ok) {
		if (p)
			peer_failed_locked(p, now);
		rc = -EACCES;
	} else {
		if (p)
			memset(p, 0, sizeof(*p));	/* a success clears the address */
		rc = session_new_locked(a, u, out);
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* ---- roles */

/* What an operator may change; every other change needs the admin. GET is
 * open to both. In a pattern '*' is one path segment and a final "**" any
 * further ones (or none). */
static const struct {
	const char *pattern;
	unsigned methods;
} operator_may[] = {
	{ "/api/v1/session", API_POST | API_DELETE },
	{ "/api/v1/mixing/**", API_POST | API_PUT | API_DELETE },
	{ "/api/v1/recordings/**", API_POST | API_PUT | API_DELETE },
	{ "/api/v1/media/**", API_POST | API_DELETE },
	{ "/api/v1/graph/nodes/*", API_PUT },		/* gain, mute, pan of a node */
	{ "/api/v1/rooms/*/users/*", API_PUT },		/* volume, mute of a guest */
};

static bool pattern_match(const char *pattern, const char *path)
{
	while (*pattern) {
		if (!strcmp(pattern, "/**"))
			return *path == '\0' || *path == '/';
		if (*pattern == '*') {
			size_t seg = strcspn(path, "/");

			if (!seg)
				return false;
			pattern++;
			path += seg;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return *path == '\0';
}

enum auth_role auth_route_role(enum api_method method, const char *path)
{
	size_t i;

	if ((method == API_POST || method == API_GET) && !strcmp(path, "/api/v1/session"))
		return AUTH_NONE;
	if (method == API_GET && !strcmp(path, "/api/v1/health"))
		return AUTH_NONE;
	if (method == API_GET)
		return AUTH_OPERATOR;
	for (i = 0; i < sizeof(operator_may) / sizeof(operator_may[0]); i++)
		if ((operator_may[i].methods & method) && pattern_match(operator_may[i].pattern, path))
			return AUTH_OPERATOR;
	return AUTH_ADMIN;
}

const char *auth_role_name(enum auth_role role)
{
	switch (role) {
	case AUTH_ADMIN: return "admin";
	case AUTH_OPERATOR: return "operator";
	default: return "none";
	}
}

/* ---- the request check */

static void deny(struct auth_result *res, int code, const char *msg)
{
	res->code = code;
	snprintf(res->message, sizeof(res->message), "%s", msg);
}

static bool changes_state(enum api_method m)
{
	return m != API_GET;	/* POST, PUT, DELETE, and PATCH & co (API_OTHER) */
}

/* The bearer token, from the header or (upgrades) the query. 1 when it is
 * right, 0 when none was given, -1 when a wrong one was. */
static int check_token(const struct auth *a, const struct auth_request *rq)
{
	const char *h = rq->authorization;

	if (h && *h) {
		if (strncasecmp(h, "Bearer ", 7))
			return -1;
		return secret_equal(a->token, h + 7, strlen(h + 7)) ? 1 : -1;
	}
	if (rq->query_token)
		return secret_equal(a->token, rq->query_token, strlen(rq->query_token)) ? 1 : -1;
	return 0;
}

void auth_check(struct auth *a, const struct auth_request *rq, struct auth_result *res)
{
	enum auth_role need = auth_route_role(rq->method, rq->path);
	struct session *s = NULL;
	const char *id;
	size_t len = 0;
	int tok;

	memset(res, 0, sizeof(*res));
	if (strncmp(rq->path, "/api/", 5)) {
		res->role = AUTH_NONE;	/* the page itself */
		return;
	}
	pthread_mutex_lock(&a->lock);
	tok = check_token(a, rq);
	if (tok > 0) {
		res->role = AUTH_ADMIN;
		res->via_token = true;
		goto out;
	}
	if (tok < 0) {
		deny(res, API_UNAUTHORIZED, "wrong bearer token");
		goto out;
	}
	if (!enabled_locked(a)) {	/* no password: as open as the token allows */
		if (a->token[0])
			deny(res, API_UNAUTHORIZED, "missing bearer token");
		res->role = AUTH_ADMIN;
		goto out;
	}
	id = rq->cookie ? cookie_value(rq->cookie, &len) : NULL;
	s = id ? session_find_locked(a, id, len) : NULL;
	if (s) {
		res->has_session = true;
		res->session = s->info;
		res->role = s->info.role;
	}
	if (need == AUTH_NONE)
		goto out;	/* log in, who am I, health */
	if (!s) {
		deny(res, API_UNAUTHORIZED, id ? "session expired or unknown: log in again" :
		     "not logged in: log in or send the bearer token");
		goto out;
	}
	if (changes_state(rq->method) &&
	    !(rq->csrf && secret_equal(s->info.csrf, rq->csrf, strlen(rq->csrf)))) {
		deny(res, API_CSRF_FAILED, rq->csrf ? "wrong X-CSRF-Token header" :
		     "missing X-CSRF-Token header: a change made with a session cookie needs "
		     "the session's csrf token");
		goto out;
	}
	if (res->role < need) {
		char msg[160];

		snprintf(msg, sizeof(msg), "the %s role may not do this: it needs %s",
			 auth_role_name(res->role), auth_role_name(need));
		deny(res, API_FORBIDDEN, msg);
	}
out:
	pthread_mutex_unlock(&a->lock);
}
