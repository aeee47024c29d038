/* janus.h - a real Janus AudioBridge for the benchmarks that compare airmix
 * with it: Debian's janus package (1.1.2 on Debian 12), started with only
 * the AudioBridge plugin and the plain HTTP transport on a loopback port,
 * driven through its HTTP API (libcurl, jansson), its CPU read from /proc,
 * stopped by PID.
 *
 * A room is one AudioBridge room at 48 kHz with plain RTP participants (the
 * way Janus takes SIP or RTP callers): one plugin handle per caller, each
 * joined with the caller's own UDP address, so that Janus sends its mix to
 * it and takes the caller's RTP only from it (it connects the socket).
 * Everything else is Janus's default: a mono room, and per participant an
 * Opus VOIP encoder at complexity 4 and libopus's automatic bitrate.
 *
 * Threads: the benchmark's main thread.
 */
#ifndef AIRMIX_TEST_JANUS_H
#define AIRMIX_TEST_JANUS_H

#include <curl/curl.h>
#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define JANUS_BIN "/usr/bin/janus"
#define JANUS_START_S 15.0
#define JANUS_JOIN_S 15.0

struct janus {
	pid_t pid;
	char dir[64];
	char url[64];
	CURL *curl;
	uint64_t session;
	uint64_t room;
	uint32_t n;
	uint64_t *handles;
};

static size_t janus_collect(char *data, size_t size, size_t count, void *user)
{
	char **text = user;
	size_t have = *text ? strlen(*text) : 0, more = size * count;
	char *p = realloc(*text, have + more + 1);

	if (!p)
		return 0;
	memcpy(p + have, data, more);
	p[have + more] = '\0';
	*text = p;
	return more;
}

/* POSTs body (stolen) to url + path, or GETs when body is NULL; the reply's
 * JSON, or NULL when there is none within timeout_s. */
static json_t *janus_http(struct janus *j, const char *path, json_t *body, long timeout_s)
{
	char url[192], *text = NULL, *payload = NULL;
	json_t *reply = NULL;

	snprintf(url, sizeof(url), "%s%s", j->url, path);
	curl_easy_reset(j->curl);
	curl_easy_setopt(j->curl, CURLOPT_URL, url);
	curl_easy_setopt(j->curl, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(j->curl, CURLOPT_WRITEFUNCTION, janus_collect);
	curl_easy_setopt(j->curl, CURLOPT_WRITEDATA, &text);
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (!payload)
			return NULL;
		curl_easy_setopt(j->curl, CURLOPT_POSTFIELDS, payload);
	}
	if (curl_easy_perform(j->curl) == CURLE_OK && text)
		reply = json_loads(text, 0, NULL);
	free(payload);
	free(text);
	return reply;
}

/* A Janus request: {"janus": verb, "transaction": tx} with body as "body". */
static json_t *janus_request(struct janus *j, const char *path, const char *verb,
			     const char *tx, json_t *body)
{
	json_t *req = json_pack("{s:s, s:s}", "janus", verb, "transaction", tx);

	if (body)
		json_object_set_new(req, "body", body);
	return janus_http(j, path, req, 5);
}

/* The id a "success" reply carries in data.id; 0 when it failed. */
static uint64_t janus_success_id(json_t *reply)
{
	json_t *id = json_object_get(json_object_get(reply, "data"), "id");
	uint64_t v = json_is_integer(id) ? (uint64_t)json_integer_value(id) : 0;

	json_decref(reply);
	return v;
}

static int janus_write(const char *dir, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* A link in the config folder to one of Janus's modules, which Debian
 * installs under /usr/lib/<multiarch>/janus. */
static int janus_link_module(const struct janus *j, const char *module)
{
	char pattern[96], path[128];
	glob_t g;
	int rc;

	snprintf(pattern, sizeof(pattern), "/usr/lib/*/janus/%s", module);
	if (glob(pattern, 0, NULL, &g) != 0) {
		fprintf(stderr, "janus: no %s: is the janus package installed?\n", pattern);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", j->dir, module);
	rc = symlink(g.gl_pathv[0], path);
	globfree(&g);
	return rc;
}

/* The config folder: janus.jcfg, the HTTP transport on http_port, the
 * AudioBridge with its RTP participants on rtp_min.., and folders holding
 * only those two modules. */
static int janus_configure(const struct janus *j, int http_port, int rtp_min)
{
	char text[1024], path[128];

	snprintf(text, sizeof(text),
		 "general: {\n\tconfigs_folder = \"%s\"\n\tplugins_folder = \"%s/plugins\"\n"
		 "\ttransports_folder = \"%s/transports\"\n\tevents_folder = \"%s/none\"\n"
		 "\tloggers_folder = \"%s/none\"\n\tdebug_level = 2\n\tsession_timeout = 0\n}\n"
		 "nat: {\n\tice_enforce_list = \"lo\"\n}\n",
		 j->dir, j->dir, j->dir, j->dir, j->dir);
	if (janus_write(j->dir, "janus.jcfg", text) < 0)
		return -1;
	snprintf(text, sizeof(text),
		 "general: {\n\tjson = \"plain\"\n\tbase_path = \"/janus\"\n\thttp = true\n"
		 "\tport = %d\n\tip = \"127.0.0.1\"\n\thttps = false\n}\n"
		 "admin: {\n\tadmin_http = false\n}\n", http_port);
	if (janus_write(j->dir, "janus.transport.http.jcfg", text) < 0)
		return -1;
	snprintf(text, sizeof(text),
		 "general: {\n\tlocal_ip = \"127.0.0.1\"\n\trtp_port_range = \"%d-%d\"\n}\n",
		 rtp_min, rtp_min + 999);
	if (janus_write(j->dir, "janus.plugin.audiobridge.jcfg", text) < 0)
		return -1;
	for (int k = 0; k < 3; k++) {
		static const char *const sub[] = { "plugins", "transports", "none" };

		snprintf(path, sizeof(path), "%s/%s", j->dir, sub[k]);
		if (mkdir(path, 0700) < 0)
			return -1;
	}
	if (janus_link_module(j, "plugins/libjanus_audiobridge.so") < 0)
		return -1;
	return janus_link_module(j, "transports/libjanus_http.so");
}

/* Removes what janus_configure wrote, and Janus's log. */
static void janus_remove_dir(const struct janus *j)
{
	static const char *const files[] = {
		"plugins/libjanus_audiobridge.so", "transports/libjanus_http.so", "janus.jcfg",
		"janus.transport.http.jcfg", "janus.plugin.audiobridge.jcfg", "log",
	};
	static const char *const dirs[] = { "plugins", "transports", "none", "" };
	char path[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", j->dir, files[i]);
		unlink(path);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", j->dir, dirs[i]);
		rmdir(path);
	}
}

static void janus_stop(struct janus *j)
{

	if (j->pid > 0) {
		kill(j->pid, SIGTERM);
		for (int i = 0; i < 50 && waitpid(j->pid, NULL, WNOHANG) == 0; i++)
			usleep(100 * 1000);
		if (kill(j->pid, 0) == 0) {
			kill(j->pid, SIGKILL);
			waitpid(j->pid, NULL, 0);
		}
		j->pid = 0;
	}
	if (j->curl)
		curl_easy_cleanup(j->curl);
	j->curl = NULL;
	if (j->dir[0])
		janus_remove_dir(j);
	j->dir[0] = '\0';
}

/* Starts Janus (its log in <dir>/log) and waits until its API answers;
 * 0, or -1 with why in err. */
static int janus_start(struct janus *j, int http_port, int rtp_min, char *err, size_t len)
{
	char conf[96], log[96];
	double until = bench_now(CLOCK_MONOTONIC) + JANUS_START_S;

	memset(j, 0, sizeof(*j));
	if (access(JANUS_BIN, X_OK) < 0) {
		snprintf(err, len, "%s: not installed (debian/deps.sh bench installs it)", JANUS_BIN);
		return -1;
	}
	snprintf(j->dir, sizeof(j->dir), "/tmp/airmix-janus-XXXXXX");
	if (!mkdtemp(j->dir) || janus_configure(j, http_port, rtp_min) < 0) {
		snprintf(err, len, "cannot write Janus's config in %s: %s", j->dir, strerror(errno));
		goto fail;
	}
	snprintf(j->url, sizeof(j->url), "http://127.0.0.1:%d/janus", http_port);
	j->curl = curl_easy_init();
	snprintf(conf, sizeof(conf), "%s/janus.jcfg", j->dir);
	snprintf(log, sizeof(log), "%s/log", j->dir);
	fflush(stdout);		/* or the child's freopen writes it twice */
	j->pid = fork();
	if (j->pid == 0) {
		/* a benchmark killed outright must not leave Janus running */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() == 1)
			_exit(127);
		if (!freopen(log, "w", stdout) || dup2(fileno(stdout), STDERR_FILENO) < 0)
			_exit(127);
		execl(JANUS_BIN, "janus", "-F", j->dir, "-C", conf, "-o", (char *)NULL);
		_exit(127);
	}
	while (j->pid > 0 && j->curl && bench_now(CLOCK_MONOTONIC) < until) {
		json_t *reply = janus_request(j, "", "info", "info", NULL);

		if (reply) {
			json_decref(reply);
			return 0;
		}
		if (waitpid(j->pid, NULL, WNOHANG) == j->pid) {
			j->pid = 0;
			break;
		}
		usleep(100 * 1000);
	}
	snprintf(err, len, "Janus did not answer on %s within %.0f s (its log: %s)", j->url,
		 JANUS_START_S, log);
	j->dir[0] = '\0';	/* keep the log */
fail:
	janus_stop(j);
	return -1;
}

/* Collects the "joined" events of the n joins from the session's long poll:
 * the port Janus takes caller i's RTP on, by the join's transaction. */
static int janus_collect_joins(struct janus *j, uint16_t *janus_ports)
{
	char path[64];
	uint32_t joined = 0;
	double until = bench_now(CLOCK_MONOTONIC) + JANUS_JOIN_S;

	snprintf(path, sizeof(path), "/%llu?maxev=64", (unsigned long long)j->session);
	while (joined < j->n && bench_now(CLOCK_MONOTONIC) < until) {
		json_t *events = janus_http(j, path, NULL, 5);
		size_t k;
		json_t *ev;

		json_array_foreach(events, k, ev) {
			const char *tx = json_string_value(json_object_get(ev, "transaction"));
			json_t *data = json_object_get(json_object_get(ev, "plugindata"), "data");
			json_t *port = json_object_get(json_object_get(data, "rtp"), "port");
			unsigned i;

			if (tx && sscanf(tx, "join%u", &i) == 1 && i < j->n && json_is_integer(port)) {
				janus_ports[i] = (uint16_t)json_integer_value(port);
				joined++;
			}
		}
		json_decref(events);
	}
	return joined == j->n ? 0 : -1;
}

/* Opens room `room` with n plain RTP callers at caller_ports (127.0.0.1);
 * janus_ports: where each is to send. 0, or -1 with why in err. */
static int janus_room_open(struct janus *j, uint64_t room, uint32_t n,
			   const uint16_t *caller_ports, uint16_t *janus_ports, char *err, size_t len)
{
	char path[96], tx[32];
	const char *what;
	json_t *reply;

	j->room = room;
	j->n = n;
	j->handles = calloc(n, sizeof(*j->handles));
	j->session = janus_success_id(janus_request(j, "", "create", "session", NULL));
	snprintf(path, sizeof(path), "/%llu", (unsigned long long)j->session);
	for (uint32_t i = 0; j->handles && j->session && i < n; i++) {
		json_t *req = json_pack("{s:s, s:s, s:s}", "janus", "attach", "plugin",
					"janus.plugin.audiobridge", "transaction", "attach");

		j->handles[i] = janus_success_id(janus_http(j, path, req, 5));
		if (!j->handles[i])
			break;
	}
	if (!j->handles || !j->session || (n && !j->handles[n - 1])) {
		snprintf(err, len, "Janus: cannot create a session and %u handles", n);
		return -1;
	}
	snprintf(path, sizeof(path), "/%llu/%llu", (unsigned long long)j->session,
		 (unsigned long long)j->handles[0]);
	reply = janus_request(j, path, "message", "room",
			      json_pack("{s:s, s:I, s:i, s:b}", "request", "create", "room",
					(json_int_t)room, "sampling_rate", 48000,
					"allow_rtp_participants", 1));
	what = json_string_value(json_object_get(
		json_object_get(json_object_get(reply, "plugindata"), "data"), "audiobridge"));
	if (!what || strcmp(what, "created")) {
		json_decref(reply);
		snprintf(err, len, "Janus: cannot create room %llu", (unsigned long long)room);
		return -1;
	}
	json_decref(reply);
	for (uint32_t i = 0; i < n; i++) {
		json_t *body = json_pack("{s:s, s:I, s:{s:s, s:i, s:i}}", "request", "join", "room",
					 (json_int_t)room, "rtp", "ip", "127.0.0.1", "port",
					 (int)caller_ports[i], "payload_type", 111);

		snprintf(path, sizeof(path), "/%llu/%llu", (unsigned long long)j->session,
			 (unsigned long long)j->handles[i]);
		snprintf(tx, sizeof(tx), "join%u", i);
		json_decref(janus_request(j, path, "message", tx, body));
	}
	if (janus_collect_joins(j, janus_ports) < 0) {
		snprintf(err, len, "Janus: not all %u callers joined room %llu within %.0f s", n,
			 (unsigned long long)room, JANUS_JOIN_S);
		return -1;
	}
	return 0;
}

/* Destroys the room (its mixer thread with it) and the session. */
static void janus_room_close(struct janus *j)
{
	char path[96];

	if (j->session && j->handles && j->handles[0]) {
		snprintf(path, sizeof(path), "/%llu/%llu", (unsigned long long)j->session,
			 (unsigned long long)j->handles[0]);
		json_decref(janus_request(j, path, "message", "destroy",
					  json_pack("{s:s, s:I}", "request", "destroy", "room",
						    (json_int_t)j->room)));
	}
	if (j->session) {
		snprintf(path, sizeof(path), "/%llu", (unsigned long long)j->session);
		json_decref(janus_request(j, path, "destroy", "bye", NULL));
	}
	free(j->handles);
	j->handles = NULL;
	j->session = 0;
}

/* Janus's CPU time in seconds so far, every thread (from /proc/PID/stat). */
static double janus_cpu_s(const struct janus *j)
{
	char path[64], buf[1024], *p;
	unsigned long utime = 0, stime = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)j->pid);
	f = fopen(path, "r");
	if (!f)
		return 0.0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
			 &stime) != 2)
		return 0.0;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

#endif
