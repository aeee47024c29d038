/* test_auth.c - unit tests of web-admin/auth.c and engine/config_edit.c.
 *
 * auth: yescrypt hashes, logins, sessions and their expiry (on a fake
 * clock), CSRF tokens, the bearer token, roles per route, the login rate
 * limit with its doubling lock-out, a new password ending old sessions, a
 * full session table, cookie parsing, and logins and checks from two
 * threads at once (for TSan). config_edit: keys replaced, added to their
 * section or a new one, comments kept, the backup, refused values leaving
 * the file as it was.
 *
 * Threads: main, plus two workers in test_threads().
 */
#include "web-admin/auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/config_edit.h"
#include "check.h"

struct fake_clock {
	int64_t mono_ms;
	int64_t unix_s;
};

static int64_t fake_mono(void *user)
{
	return ((struct fake_clock *)user)->mono_ms;
}

static int64_t fake_unix(void *user)
{
	return ((struct fake_clock *)user)->unix_s + ((struct fake_clock *)user)->mono_ms / 1000;
}

static char admin_hash[CONFIG_STR_MAX], operator_hash[CONFIG_STR_MAX];

static void make_config(struct airmix_config *cfg, const char *admin, const char *oper,
			const char *token)
{
	config_defaults(cfg);
	snprintf(cfg->http_admin_hash, sizeof(cfg->http_admin_hash), "%s", admin);
	snprintf(cfg->http_operator_hash, sizeof(cfg->http_operator_hash), "%s", oper);
	snprintf(cfg->http_token, sizeof(cfg->http_token), "%s", token);
	cfg->http_session_ttl_s = 600;
}

static struct auth *make_auth(struct fake_clock *clk, const char *admin, const char *oper,
			      const char *token)
{
	struct airmix_config cfg;
	struct auth *a = NULL;

	if (auth_create(&a))
		return NULL;
	make_config(&cfg, admin, oper, token);
	auth_configure(a, &cfg);
	if (clk)
		auth_set_clock(a, fake_mono, fake_unix, clk);
	return a;
}

/* The outcome code of one request. */
static int check(struct auth *a, enum api_method m, const char *path, const char *cookie,
		 const char *csrf, const char *authz, struct auth_result *res)
{
	struct auth_request rq = { .method = m, .path = path, .cookie = cookie, .csrf = csrf,
				   .authorization = authz };
	struct auth_result own;

	auth_check(a, &rq, res ? res : &own);
	return res ? res->code : own.code;
}

static void cookie_of(const struct auth_session_info *s, char *buf, size_t len)
{
	snprintf(buf, len, "theme=dark; %s=%s; other=1", AUTH_COOKIE, s->id);
}

static void test_hashes(void)
{
	int rc = auth_hash_password("correct horse", admin_hash, sizeof(admin_hash));

	CHECK(rc == 0 && !strncmp(admin_hash, "$y$", 3), "yescrypt hash: %.20s...", admin_hash);
	CHECK(auth_verify_password("correct horse", admin_hash), "the password matches its hash");
	CHECK(!auth_verify_password("correct horsf", admin_hash), "a wrong password does not");
	CHECK(!auth_verify_password("", admin_hash), "nor an empty one");
	CHECK(!auth_verify_password("correct horse", ""), "an empty hash matches nothing");
	CHECK(!auth_verify_password("x", "plain text"), "a non-crypt hash matches nothing");
	rc = auth_hash_password("operator pw", operator_hash, sizeof(operator_hash));
	CHECK(rc == 0 && strcmp(admin_hash, operator_hash), "a second hash, its own salt");
	{
		char again[CONFIG_STR_MAX];

		auth_hash_password("correct horse", again, sizeof(again));
		CHECK(strcmp(again, admin_hash) != 0, "the same password hashes differently (salt)");
	}
}

static void test_auth_off(void)
{
	struct auth *a = make_auth(NULL, "", "", "");
	struct auth_result r;
	struct auth_session_info s;
	int retry;

	CHECK(!auth_enabled(a), "no password: auth is off");
	CHECK(check(a, API_POST, "/api/v1/graph/nodes", NULL, NULL, NULL, &r) == 0 &&
	      r.role == AUTH_ADMIN, "auth off: a change without anything is allowed, as admin");
	CHECK(auth_login(a, "127.0.0.1", "admin", "", &s, &retry) == -EACCES,
	      "auth off: a login with an empty password is refused");
	auth_destroy(a);

	a = make_auth(NULL, "", "", "tok3n");
	CHECK(check(a, API_GET, "/api/v1/health", NULL, NULL, NULL, NULL) == API_UNAUTHORIZED,
	      "token only: a request without it is refused, as before");
	CHECK(check(a, API_POST, "/api/v1/graph/nodes", NULL, NULL, "Bearer tok3n", &r) == 0 &&
	      r.via_token, "token only: the right token passes");
	CHECK(check(a, API_GET, "/api/v1/graph", NULL, NULL, "Bearer tok3", NULL) ==
	      API_UNAUTHORIZED, "token only: a prefix of it does not");
	CHECK(check(a, API_GET, "/index.html", NULL, NULL, NULL, NULL) == 0,
	      "the page outside /api/ needs nothing");
	auth_destroy(a);
}

static void test_sessions(void)
{
	struct fake_clock clk = { .mono_ms = 1000000, .unix_s = 1700000000 };
	struct auth *a = make_auth(&clk, admin_hash, operator_hash, "tok3n");
	struct auth_session_info s, op, got;
	struct auth_result r;
	char cookie[256], opcookie[256], stale[256];
	int retry = 0;

	CHECK(auth_enabled(a), "a password set: auth is on");
	CHECK(check(a, API_GET, "/api/v1/health", NULL, NULL, NULL, NULL) == 0,
	      "health needs no login");
	CHECK(check(a, API_POST, "/api/v1/session", NULL, NULL, NULL, NULL) == 0,
	      "logging in needs no login");
	CHECK(check(a, API_GET, "/api/v1/graph", NULL, NULL, NULL, &r) == API_UNAUTHORIZED,
	      "a read without a session is refused: %s", r.message);
	CHECK(auth_login(a, "10.0.0.1", "admin", "wrong", &s, &retry) == -EACCES,
	      "wrong password refused");
	CHECK(auth_login(a, "10.0.0.1", "root", "correct horse", &s, &retry) == -EACCES,
	      "unknown user refused");
	CHECK(auth_login(a, "10.0.0.1", "admin", "correct horse", &s, &retry) == 0 &&
	      s.role == AUTH_ADMIN && strlen(s.id) == AUTH_ID_LEN &&
	      strlen(s.csrf) == AUTH_CSRF_LEN && strcmp(s.id, s.csrf) &&
	      s.expires_unix == fake_unix(&clk) + 600, "admin logs in: 256-bit id and csrf, "
	      "expires in the ttl");
	cookie_of(&s, cookie, sizeof(cookie));
	CHECK(auth_session_from_cookie(a, cookie, &got) == 0 && !strcmp(got.id, s.id),
	      "the session is found from a Cookie header among other cookies");
	CHECK(check(a, API_GET, "/api/v1/graph", cookie, NULL, NULL, &r) == 0 &&
	      r.has_session && r.role == AUTH_ADMIN, "a read with the session passes");
	CHECK(check(a, API_POST, "/api/v1/graph/nodes", cookie, NULL, NULL, &r) ==
	      API_CSRF_FAILED, "a change without the csrf token is refused: %s", r.message);
	CHECK(check(a, API_DELETE, "/api/v1/graph/nodes/16", cookie, s.id, NULL, NULL) ==
	      API_CSRF_FAILED, "a change with the wrong csrf token is refused");
	CHECK(check(a, API_OTHER, "/api/v1/graph/nodes/16", cookie, NULL, NULL, NULL) ==
	      API_CSRF_FAILED, "PATCH counts as a change");
	CHECK(check(a, API_PUT, "/api/v1/config", cookie, s.csrf, NULL, NULL) == 0,
	      "admin with the csrf token may change settings");
	CHECK(check(a, API_PUT, "/api/v1/config", NULL, NULL, "Bearer tok3n", &r) == 0 &&
	      r.role == AUTH_ADMIN, "the bearer token needs no csrf token and acts as admin");
	CHECK(check(a, API_PUT, "/api/v1/config", cookie, s.csrf, "Bearer nope", NULL) ==
	      API_UNAUTHORIZED, "a wrong bearer token is refused even with a session");

	CHECK(auth_login(a, "10.0.0.2", "operator", "operator pw", &op, &retry) == 0 &&
	      op.role == AUTH_OPERATOR, "operator logs in");
	cookie_of(&op, opcookie, sizeof(opcookie));
	CHECK(check(a, API_GET, "/api/v1/config", opcookie, NULL, NULL, NULL) == 0,
	      "operator reads the settings");
	CHECK(check(a, API_PUT, "/api/v1/config", opcookie, op.csrf, NULL, &r) == API_FORBIDDEN,
	      "operator may not change settings: %s", r.message);
	CHECK(check(a, API_PUT, "/api/v1/mixing/3", opcookie, op.csrf, NULL, NULL) == 0,
	      "operator may change a cart");
	CHECK(check(a, API_PUT, "/api/v1/mixing/3", opcookie, s.csrf, NULL, NULL) ==
	      API_CSRF_FAILED, "another session's csrf token does not do");
	CHECK(check(a, API_POST, "/api/v1/graph/nodes", opcookie, op.csrf, NULL, NULL) ==
	      API_FORBIDDEN, "operator may not add nodes");

	CHECK(auth_logout(a, op.id) == 0 &&
	      check(a, API_GET, "/api/v1/graph", opcookie, NULL, NULL, NULL) == API_UNAUTHORIZED,
	      "after a logout the cookie is refused");
	CHECK(auth_logout(a, op.id) == -ENOENT, "a second logout finds nothing");

	clk.mono_ms += 599 * 1000;
	CHECK(check(a, API_GET, "/api/v1/graph", cookie, NULL, NULL, NULL) == 0,
	      "a second before the ttl the session holds");
	snprintf(stale, sizeof(stale), "%s", cookie);
	clk.mono_ms += 1000;
	CHECK(check(a, API_GET, "/api/v1/graph", stale, NULL, NULL, &r) == API_UNAUTHORIZED &&
	      strstr(r.message, "expired"), "at the ttl it has expired: %s", r.message);
	CHECK(check(a, API_GET, "/api/v1/graph", AUTH_COOKIE "=", NULL, NULL, NULL) ==
	      API_UNAUTHORIZED, "an empty cookie is refused");
	auth_destroy(a);
}

static void test_password_change(void)
{
	struct fake_clock clk = { .mono_ms = 5000, .unix_s = 1700000000 };
	struct auth *a = make_auth(&clk, admin_hash, operator_hash, "");
	struct auth_session_info s, op;
	struct airmix_config cfg;
	char cookie[256], opcookie[256], other[CONFIG_STR_MAX];
	int retry;

	auth_login(a, "10.0.0.1", "admin", "correct horse", &s, &retry);
	auth_login(a, "10.0.0.1", "operator", "operator pw", &op, &retry);
	cookie_of(&s, cookie, sizeof(cookie));
	cookie_of(&op, opcookie, sizeof(opcookie));
	auth_hash_password("new admin pw", other, sizeof(other));
	make_config(&cfg, other, operator_hash, "");
	auth_configure(a, &cfg);
	CHECK(check(a, API_GET, "/api/v1/graph", cookie, NULL, NULL, NULL) == API_UNAUTHORIZED,
	      "a new admin password ends the admin's sessions");
	CHECK(check(a, API_GET, "/api/v1/graph", opcookie, NULL, NULL, NULL) == 0,
	      "and leaves the operator's");
	CHECK(auth_login(a, "10.0.0.1", "admin", "correct horse", &s, &retry) == -EACCES &&
	      auth_login(a, "10.0.0.1", "admin", "new admin pw", &s, &retry) == 0,
	      "the old password is refused, the new one works");
	auth_destroy(a);
}

static void test_rate_limit(void)
{
	struct fake_clock clk = { .mono_ms = 1000, .unix_s = 1700000000 };
	struct auth *a = make_auth(&clk, admin_hash, "", "");
	struct auth_session_info s;
	int i, rc = 0, retry = 0;

	for (i = 0; i < AUTH_FAIL_MAX; i++)
		rc |= auth_login(a, "10.0.0.9", "admin", "guess", &s, &retry) != -EACCES;
	CHECK(!rc, "%d wrong passwords are refused one by one", AUTH_FAIL_MAX);
	rc = auth_login(a, "10.0.0.9", "admin", "correct horse", &s, &retry);
	CHECK(rc == -EAGAIN && retry == AUTH_LOCK_BASE_MS / 1000,
	      "then the address is locked out, even for the right password (retry %d s)", retry);
	CHECK(auth_login(a, "10.0.0.10", "admin", "correct horse", &s, &retry) == 0,
	      "another address is not");
	clk.mono_ms += 30000;
	rc = auth_login(a, "10.0.0.9", "admin", "guess", &s, &retry);
	CHECK(rc == -EAGAIN && retry == 30, "half way, 30 s are left (%d)", retry);
	clk.mono_ms += 30001;
	for (i = 0, rc = 0; i < AUTH_FAIL_MAX; i++)
		rc |= auth_login(a, "10.0.0.9", "admin", "guess", &s, &retry) != -EACCES;
	rc = auth_login(a, "10.0.0.9", "admin", "guess", &s, &retry);
	CHECK(rc == -EAGAIN && retry == 2 * AUTH_LOCK_BASE_MS / 1000,
	      "after the lock-out, 5 more failures lock it out twice as long (%d s)", retry);
	clk.mono_ms += 2 * AUTH_LOCK_BASE_MS + 1;
	CHECK(auth_login(a, "10.0.0.9", "admin", "correct horse", &s, &retry) == 0,
	      "once it is over the right password works");
	for (i = 0, rc = 0; i < AUTH_FAIL_MAX - 1; i++)
		rc |= auth_login(a, "10.0.0.9", "admin", "guess", &s, &retry) != -EACCES;
	CHECK(!rc && auth_login(a, "10.0.0.9", "admin", "guess", &s, &retry) == -EACCES,
	      "a success cleared the count: 5 more tries before the next lock-out");
	clk.mono_ms += AUTH_FAIL_WINDOW_MS + 1;
	for (i = 0, rc = 0; i < AUTH_FAIL_MAX - 1; i++)
		rc |= auth_login(a, "10.0.0.9", "admin", "guess", &s, &retry) != -EACCES;
	CHECK(!rc, "failures older than the window do not count");
	auth_destroy(a);
}

static void test_roles(void)
{
	static const struct {
		enum api_method m;
		const char *path;
		enum auth_role need;
	} cases[] = {
		{ API_POST, "/api/v1/session", AUTH_NONE },
		{ API_GET, "/api/v1/session", AUTH_NONE },
		{ API_DELETE, "/api/v1/session", AUTH_OPERATOR },
		{ API_GET, "/api/v1/health", AUTH_NONE },
		{ API_GET, "/api/v1/config", AUTH_OPERATOR },
		{ API_PUT, "/api/v1/config", AUTH_ADMIN },
		{ API_POST, "/api/v1/mixing/1/start", AUTH_OPERATOR },
		{ API_POST, "/api/v1/mixing/stop_all", AUTH_OPERATOR },
		{ API_POST, "/api/v1/mixingx", AUTH_ADMIN },
		{ API_POST, "/api/v1/recordings", AUTH_OPERATOR },
		{ API_DELETE, "/api/v1/recordings/2", AUTH_OPERATOR },
		{ API_POST, "/api/v1/media", AUTH_OPERATOR },
		{ API_DELETE, "/api/v1/media/a.wav", AUTH_OPERATOR },
		{ API_PUT, "/api/v1/graph/nodes/17", AUTH_OPERATOR },
		{ API_POST, "/api/v1/graph/nodes", AUTH_ADMIN },
		{ API_DELETE, "/api/v1/graph/nodes/17", AUTH_ADMIN },
		{ API_POST, "/api/v1/cdn/main", AUTH_ADMIN },
		{ API_PUT, "/api/v1/rooms/r1/users/u1", AUTH_OPERATOR },
		{ API_PUT, "/api/v1/rooms/{id}/users/{n}", AUTH_OPERATOR },
		{ API_PUT, "/api/v1/rooms/r1/forward", AUTH_ADMIN },
		{ API_PUT, "/api/v1/rooms/r1/users/u1/x", AUTH_ADMIN },
		{ API_DELETE, "/api/v1/rooms/r1/users/u1", AUTH_ADMIN },
		{ API_POST, "/api/v1/rooms/r1/tokens", AUTH_ADMIN },
		{ API_PUT, "/api/v1/graph/nodes/", AUTH_ADMIN },
		{ API_PUT, "/api/v1/graph/nodes/{id}", AUTH_OPERATOR },
		{ API_POST, "/api/v1/mixing", AUTH_OPERATOR },
		{ API_POST, "/api/v1/recordings/{id}/files/{n}", AUTH_OPERATOR },
		{ API_POST, "/api/v1/whatever/new", AUTH_ADMIN },
	};
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum auth_role got = auth_route_role(cases[i].m, cases[i].path);

		if (got != cases[i].need) {
			printf("# %d %s: %s, want %s\n", cases[i].m, cases[i].path,
			       auth_role_name(got), auth_role_name(cases[i].need));
			bad++;
		}
	}
	CHECK(!bad, "role table: %zu routes, unknown changes need the admin", i);
}

static void test_full_table(void)
{
	struct fake_clock clk = { .mono_ms = 1000, .unix_s = 1700000000 };
	struct auth *a = make_auth(&clk, admin_hash, "", "");
	struct auth_session_info first, s;
	char cookie[256];
	int i, retry, rc = 0;

	rc |= auth_login(a, "10.1.0.1", "admin", "correct horse", &first, &retry);
	for (i = 1; i < AUTH_SESSIONS_MAX; i++) {
		clk.mono_ms += 10;
		rc |= auth_login(a, "10.1.0.1", "admin", "correct horse", &s, &retry);
	}
	cookie_of(&first, cookie, sizeof(cookie));
	CHECK(!rc && check(a, API_GET, "/api/v1/graph", cookie, NULL, NULL, NULL) == 0,
	      "%d sessions fit", AUTH_SESSIONS_MAX);
	clk.mono_ms += 10;
	auth_login(a, "10.1.0.1", "admin", "correct horse", &s, &retry);
	CHECK(check(a, API_GET, "/api/v1/graph", cookie, NULL, NULL, NULL) == API_UNAUTHORIZED,
	      "one more drops the oldest");
	cookie_of(&s, cookie, sizeof(cookie));
	CHECK(check(a, API_GET, "/api/v1/graph", cookie, NULL, NULL, NULL) == 0,
	      "and the new one works");
	auth_destroy(a);
}

/* ---- two threads at once */

struct worker {
	struct auth *a;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct auth_session_info s;
	char cookie[256];
	int retry;

	for (int i = 0; i < 4; i++) {
		if (auth_login(w->a, "10.2.0.1", "admin", "correct horse", &s, &retry)) {
			w->failures++;
			continue;
		}
		cookie_of(&s, cookie, sizeof(cookie));
		for (int k = 0; k < 200; k++)
			w->failures += check(w->a, API_PUT, "/api/v1/mixing/1", cookie, s.csrf, NULL,
					     NULL) != 0;
		w->failures += auth_logout(w->a, s.id) != 0;
	}
	return NULL;
}

static void test_threads(void)
{
	struct auth *a = make_auth(NULL, admin_hash, "", "");
	struct worker w[2] = { { .a = a }, { .a = a } };
	struct airmix_config cfg;
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	make_config(&cfg, admin_hash, "", "late token");
	auth_configure(a, &cfg);	/* a reload meanwhile */
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK(w[0].failures == 0 && w[1].failures == 0, "two threads log in, check and log out "
	      "while the config is reloaded (%d, %d failures)", w[0].failures, w[1].failures);
	auth_destroy(a);
}

/* ---- config_edit */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);

	if (f && buf)
		buf[fread(buf, 1, 65535, f)] = '\0';
	if (f)
		fclose(f);
	return buf;
}

static void test_config_edit(void)
{
	char dir[] = "/tmp/airmix-test-auth.XXXXXX", path[128], bak[140], err[512];
	const char *before = "# top comment\n[engine]\n# rate\nsample_rate = 44100\n\n"
			     "[http]\nport = 9000 ; inline\n\n[log]\nlevel = info\n";
	struct config_edit ok[] = {
		{ "engine", "sample_rate", "48000" },
		{ "http", "token", "  spaced  " },
		{ "http", "admin_password_hash", "$y$j9T$salt$hash" },
		{ "tone", "enabled", "true" },
	};
	struct config_edit bad[] = { { "engine", "sample_rate", "7" } };
	struct config_edit comment[] = { { "http", "token", "a ;b" } };
	struct airmix_config cfg;
	struct config_errors errs;
	struct stat st;
	char *text;
	bool good;
	FILE *f;
	int rc;

	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/airmix.conf", dir);
	snprintf(bak, sizeof(bak), "%s.bak", path);
	f = fopen(path, "w");
	fputs(before, f);
	fclose(f);
	chmod(path, 0640);
	rc = config_file_set(path, ok, 4, err, sizeof(err));
	text = slurp(path);
	CHECK(rc == 0, "four keys saved: %s", rc ? err : "ok");
	good = strstr(text, "# top comment\n[engine]\n# rate\nsample_rate = 48000\n") &&
	       strstr(text, "port = 9000 ; inline\ntoken = \"  spaced  \"\n"
			    "admin_password_hash = $y$j9T$salt$hash\n") &&
	       strstr(text, "[tone]\nenabled = true\n");
	if (!good)
		printf("# the file:\n%s", text);
	CHECK(good, "replaced in place, added to its section, a new section at the end, comments "
	      "kept");
	free(text);
	text = slurp(bak);
	CHECK(!strcmp(text, before), "the old file is the backup");
	free(text);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "the mode is kept (%o)",
	      st.st_mode & 0777);
	config_defaults(&cfg);
	rc = config_load(path, &cfg, &errs);
	CHECK(rc == 0 && cfg.sample_rate == 48000 && !strcmp(cfg.http_token, "  spaced  ") &&
	      cfg.tone_enabled, "the new file loads with the new values");

	text = slurp(path);
	rc = config_file_set(path, bad, 1, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "sample_rate"), "a bad value is refused: %s", err);
	rc = config_file_set(path, comment, 1, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "comment"), "a value with \" ;\" is refused: %s", err);
	{
		char *after = slurp(path);

		CHECK(!strcmp(text, after), "and the file is as it was");
		free(after);
	}
	free(text);

	snprintf(path, sizeof(path), "%s/new.conf", dir);
	rc = config_file_set(path, ok + 2, 1, err, sizeof(err));
	text = slurp(path);
	CHECK(rc == 0 && !strcmp(text, "\n[http]\nadmin_password_hash = $y$j9T$salt$hash\n") &&
	      stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	      "a missing file is created with its section, mode 600");
	free(text);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	CHECK(system(err) == 0, "temporary folder removed");
}

int main(void)
{
	test_hashes();
	test_auth_off();
	test_sessions();
	test_password_change();
	test_rate_limit();
	test_roles();
	test_full_table();
	test_threads();
	test_config_edit();
	return CHECK_DONE();
}
