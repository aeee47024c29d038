/* test_push.c - the push manager without a real server: every parameter
 * limit, the event names, the masking of URL secrets, the StreamMixing
 * events of a task whose server cannot be reached (start, START_FAILED ERR_FRAME_TIMEOUT while it retries, a
 * refused update, stop, stop of an unknown task, destroy with a running
 * task); and an icecast task against a fake server here (a thread on a
 * loopback socket): its title set live (a new chained Ogg stream), the server
 * frozen (found by the liveness probe), the title sent again after the
 * reconnect. The real servers are in tests/integration/test_push*.py.
 *
 * Threads: the main thread; the task threads report through the engine's
 * notices (on_notice runs on them, guarded by notice_lock).
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "check.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "recorder/push.h"

#define MAX_SEEN 256

static pthread_mutex_t notice_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int event;
	int code;
	char task[256];
} seen[MAX_SEEN];
static int n_seen;

static void on_notice(const struct engine_notice *n, void *user)
{
	json_t *j;

	(void)user;
	if (strcmp(n->event, "stream_mixing.event") || !n->data_json)
		return;
	j = json_loads(n->data_json, 0, NULL);
	pthread_mutex_lock(&notice_lock);
	if (j && n_seen < MAX_SEEN && n->domain == AIRMIX_DOMAIN_STREAM_MIXING) {
		seen[n_seen].event = (int)json_integer_value(json_object_get(j, "event"));
		seen[n_seen].code = (int)json_integer_value(json_object_get(j, "error"));
		snprintf(seen[n_seen].task, sizeof(seen[n_seen].task), "%s",
			 json_string_value(json_object_get(j, "task_id")));
		if (seen[n_seen].code == n->code)
			n_seen++;
	}
	pthread_mutex_unlock(&notice_lock);
	json_decref(j);
}

static bool saw(const char *task, int event, int code)
{
	bool found = false;

	pthread_mutex_lock(&notice_lock);
	for (int i = 0; i < n_seen && !found; i++)
		found = seen[i].event == event && seen[i].code == code &&
			!strcmp(seen[i].task, task);
	pthread_mutex_unlock(&notice_lock);
	return found;
}

static bool wait_saw(const char *task, int event, int code, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (saw(task, event, code))
			return true;
		usleep(10000);
	}
	return saw(task, event, code);
}

static struct engine *make_engine(void)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct engine *e = NULL;
	char err[256];

	config_defaults(&cfg);
	cfg.backend = BACKEND_OFFLINE;
	cfg.sample_rate = 48000;
	cfg.period_frames = 128;
	cfg.jack_inputs = 0;
	cfg.tone_enabled = false;
	cfg.lock_memory = false;
	if (engine_create(&cfg, &opts, NULL, &e, err, sizeof(err)) < 0 ||
	    engine_start(e, err, sizeof(err)) < 0) {
		printf("# engine: %s\n", err);
		exit(1);
	}
	engine_subscribe(e, on_notice, NULL);
	return e;
}

static struct push_params rtmp(const char *url)
{
	struct push_params p = { .kind = PUSH_RTMP, .sample_rate = 48000, .channels = 2,
				 .bitrate_kbps = 64 };

	snprintf(p.url, sizeof(p.url), "%s", url);
	return p;
}

static struct push_params icecast(void)
{
	struct push_params p = { .kind = PUSH_ICECAST, .channels = 2, .bitrate_kbps = 64,
				 .port = 8000 };

	snprintf(p.host, sizeof(p.host), "127.0.0.1");
	snprintf(p.mount, sizeof(p.mount), "/live.ogg");
	snprintf(p.password, sizeof(p.password), "hackme");
	return p;
}

static int check_one(struct push_params p)
{
	char msg[256];

	return push_check_params(&p, msg, sizeof(msg));
}

static void test_limits(void)
{
	struct push_params p;
	char msg[256];
	int rates[] = { 32000, 44100, 48000 };

	for (size_t i = 0; i < 3; i++) {
		p = rtmp("rtmp://h/app/key");
		p.sample_rate = rates[i];
		CHECK(check_one(p) == PUSH_ERR_OK, "sample rate %d accepted", rates[i]);
	}
	p = rtmp("rtmps://h/app/key");
	CHECK(push_check_params(&p, msg, sizeof(msg)) == PUSH_ERR_OK && !strcmp(p.profile, "LC"),
	      "rtmps accepted, profile defaults to LC");
	CHECK(check_one(rtmp("http://h/app")) == PUSH_ERR_PARAM_INVALID, "http url refused");
	CHECK(check_one(rtmp("RTMP://h/app")) == PUSH_ERR_PARAM_INVALID, "url is case-sensitive");
	CHECK(check_one(rtmp("rtmp://h/a b")) == PUSH_ERR_PARAM_INVALID, "url with a space refused");
	p = rtmp("rtmp://h/a");
	p.sample_rate = 22050;
	CHECK(check_one(p) == PUSH_ERR_PARAM_INVALID, "22050 Hz refused");
	for (int ch = -1; ch <= 3; ch++) {
		p = rtmp("rtmp://h/a");
		p.channels = ch;
		CHECK(check_one(p) == (ch == 1 || ch == 2 ? PUSH_ERR_OK : PUSH_ERR_PARAM_INVALID),
		      "%d channels", ch);
	}
	for (int br = 31; br <= 193; br++) {
		p = rtmp("rtmp://h/a");
		p.bitrate_kbps = br;
		if (br == 31 || br == 32 || br == 192 || br == 193)
			CHECK(check_one(p) == (br >= 32 && br <= 192 ? PUSH_ERR_OK
								      : PUSH_ERR_PARAM_INVALID),
			      "%d kb/s", br);
	}
	p = rtmp("rtmp://h/a");
	snprintf(p.profile, sizeof(p.profile), "HEv2");
	CHECK(push_check_params(&p, msg, sizeof(msg)) == PUSH_ERR_PARAM_INVALID &&
	      strstr(msg, "not supported by this build"), "HEv2: %s", msg);
	p = rtmp("rtmp://h/a");
	snprintf(p.codec, sizeof(p.codec), "opus");
	CHECK(check_one(p) == PUSH_ERR_PARAM_INVALID, "rtmp is AAC only");

	p = icecast();
	CHECK(push_check_params(&p, msg, sizeof(msg)) == PUSH_ERR_OK && p.sample_rate == 48000 &&
	      !strcmp(p.user, "source"), "icecast defaults: 48 kHz, user source");
	p = icecast();
	p.sample_rate = 44100;
	CHECK(check_one(p) == PUSH_ERR_PARAM_INVALID, "icecast runs at 48 kHz only");
	p = icecast();
	p.password[0] = '\0';
	CHECK(check_one(p) == PUSH_ERR_PARAM_INVALID, "icecast needs a password");
	p = icecast();
	snprintf(p.mount, sizeof(p.mount), "live.ogg");
	CHECK(check_one(p) == PUSH_ERR_PARAM_INVALID, "mount must start with /");
	p = icecast();
	snprintf(p.name, sizeof(p.name), "a\r\nX-Evil: 1");
	CHECK(check_one(p) == PUSH_ERR_PARAM_INVALID, "no header injection through the name");
	p = icecast();
	p.port = 70000;
	CHECK(check_one(p) == PUSH_ERR_PARAM_INVALID, "port above 65535 refused");

	CHECK(!strcmp(push_event_name(PUSH_EVENT_START), "START") &&
	      !strcmp(push_event_name(PUSH_EVENT_STOP_FAILED), "STOP_FAILED") &&
	      !strcmp(push_event_name(0), "UNKNOWN") && !strcmp(push_event_name(10), "UNKNOWN"),
	      "event names");
}

static void test_redact(void)
{
	static const char *const cases[][2] = {
		{ "rtmp://h/live/secretkey", "rtmp://h/live/***" },
		{ "rtmps://h:443/app/inst/secretkey", "rtmps://h:443/app/inst/***" },
		{ "rtmp://user:pw@h:1935/live/k", "rtmp://***@h:1935/live/***" },
		{ "rtmp://h/live/k?token=abc", "rtmp://h/live/***?***" },
		{ "rtmp://h/live", "rtmp://h/live" },
		{ "rtmp://h/live/", "rtmp://h/live/" },
		{ "rtmp://h", "rtmp://h" },
		{ "rtmp://u@h?x/y", "rtmp://***@h?***" },
		{ "", "" },
	};
	char out[64], tiny[8];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		push_redact_url(cases[i][0], out, sizeof(out));
		CHECK(!strcmp(out, cases[i][1]), "redact %s -> %s (got %s)", cases[i][0],
		      cases[i][1], out);
	}
	push_redact_url("rtmp://host.example/live/secret", tiny, sizeof(tiny));
	CHECK(!strcmp(tiny, "rtmp://"), "a short buffer is cut, never overrun: %s", tiny);
}

static void test_titles(void)
{
	struct push_params p = icecast();
	char msg[256];

	snprintf(p.title, sizeof(p.title), "Morning Show – live");
	CHECK(push_check_params(&p, msg, sizeof(msg)) == PUSH_ERR_OK, "icecast title accepted");
	snprintf(p.title, sizeof(p.title), "two\nlines");
	CHECK(check_one(p) == PUSH_ERR_PARAM_INVALID, "a title of two lines refused");
	p = rtmp("rtmp://h/a/k");
	snprintf(p.title, sizeof(p.title), "x");
	CHECK(check_one(p) == PUSH_ERR_PARAM_INVALID, "a title on rtmp refused");
}

static void test_tasks(struct engine *e)
{
	struct push_config pc = { .timeout_ms = 1000, .backoff_min_ms = 50,
				  .backoff_max_ms = 200, .max_tasks = 2 };
	struct push_params p = rtmp("rtmp://127.0.0.1:1/live/x");
	char long_id[PUSH_TASK_ID_MAX + 2], ids[4][PUSH_TASK_ID_MAX + 1];
	struct push_status st;
	struct push *m = NULL;
	char msg[256];

	CHECK(push_create(e, &pc, &m) == 0, "create the manager");
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	CHECK(push_start(m, long_id, &p, NULL, msg, sizeof(msg)) == PUSH_ERR_PARAM_INVALID &&
	      saw(long_id, PUSH_EVENT_START, 0) &&
	      saw(long_id, PUSH_EVENT_START_FAILED, PUSH_ERR_PARAM_INVALID),
	      "127-byte task id: START, START_FAILED ERR_PARAM_INVALID");
	long_id[PUSH_TASK_ID_MAX] = '\0';
	CHECK(push_start(m, long_id, &p, NULL, msg, sizeof(msg)) == PUSH_ERR_OK,
	      "126-byte task id accepted");
	CHECK(push_start(m, "", &p, NULL, msg, sizeof(msg)) == PUSH_ERR_PARAM_INVALID,
	      "empty id refused beside another task");
	CHECK(push_start(m, "b", &p, NULL, msg, sizeof(msg)) == PUSH_ERR_OK, "second task");
	CHECK(push_start(m, "c", &p, NULL, msg, sizeof(msg)) == PUSH_ERR_PARAM_INVALID,
	      "max_tasks enforced: %s", msg);
	CHECK(push_list(m, ids, 4) == 2, "two tasks listed");
	CHECK(wait_saw("b", PUSH_EVENT_START_FAILED, PUSH_ERR_FRAME_TIMEOUT, 5000),
	      "unreachable server: START_FAILED ERR_FRAME_TIMEOUT");
	CHECK(push_get_status(m, "b", &st) == 0 && st.last_error == PUSH_ERR_FRAME_TIMEOUT &&
	      st.state != PUSH_STATE_PUSHING && st.connects == 0, "status: retrying, last error 2");
	p = rtmp("rtmp://127.0.0.1:1/live/y");
	CHECK(push_update(m, "b", &p, NULL, msg, sizeof(msg)) == PUSH_ERR_PARAM_INVALID &&
	      saw("b", PUSH_EVENT_UPDATE_FAILED, PUSH_ERR_PARAM_INVALID),
	      "url change refused: UPDATE_FAILED");
	CHECK(push_get_status(m, "b", &st) == 0 &&
	      !strcmp(st.params.url, "rtmp://127.0.0.1:1/live/x"), "the task keeps its url");
	CHECK(push_stop(m, "b", NULL, msg, sizeof(msg)) == PUSH_ERR_OK &&
	      saw("b", PUSH_EVENT_STOP, 0) && saw("b", PUSH_EVENT_STOP_SUCCESS, 0),
	      "stop: STOP, STOP_SUCCESS");
	CHECK(push_stop(m, "b", NULL, msg, sizeof(msg)) == PUSH_ERR_PARAM_INVALID &&
	      saw("b", PUSH_EVENT_STOP_FAILED, PUSH_ERR_PARAM_INVALID),
	      "stop of an unknown task: STOP_FAILED");
	CHECK(push_get_status(m, "b", &st) == -ENOENT, "stopped task is gone");
	push_destroy(m);	/* with the 126-byte task still retrying */
	CHECK(1, "destroy with a running task");
}

/* ---- a fake icecast server on 127.0.0.1: takes a source, answers GETs,
 * and can be frozen (stops accepting and reading, as a SIGSTOPped server
 * whose kernel still queues connections) */

#define SINK_CLIENTS 16

struct sink {
	int lfd, port;
	pthread_t thread;
	atomic_bool stop, frozen;
	pthread_mutex_t lock;		/* the counters */
	int sources;			/* source connections taken */
	int heads;			/* OpusHead seen: one per Ogg stream */
	char title[64];			/* text to look for in the stream */
	int titles;			/* times the title was seen */
	struct {
		int fd;
		bool source;
		size_t got;
		char head[1024];
	} c[SINK_CLIENTS];
};

static void sink_scan(struct sink *s, const char *buf, size_t n)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i + 8 <= n; i++)
		if (!memcmp(buf + i, "OpusHead", 8))
			s->heads++;
	if (s->title[0] && memmem(buf, n, s->title, strlen(s->title)))
		s->titles++;
	pthread_mutex_unlock(&s->lock);
}

/* Headers of a request read: answer it. */
static void sink_answer(struct sink *s, int i)
{
	static const char ok[] = "HTTP/1.0 200 OK\r\n\r\n";
	bool source = strncmp(s->c[i].head, "GET ", 4) != 0;

	if (write(s->c[i].fd, ok, sizeof(ok) - 1) < 0 || !source) {
		close(s->c[i].fd);
		s->c[i].fd = -1;
		return;
	}
	s->c[i].source = true;
	pthread_mutex_lock(&s->lock);
	s->sources++;
	pthread_mutex_unlock(&s->lock);
}

static void sink_read(struct sink *s, int i)
{
	char buf[4096];
	ssize_t n = read(s->c[i].fd, buf, sizeof(buf));

	if (n <= 0) {
		close(s->c[i].fd);
		s->c[i].fd = -1;
		return;
	}
	if (s->c[i].source) {
		sink_scan(s, buf, (size_t)n);
		return;
	}
	for (ssize_t k = 0; k < n && s->c[i].got + 1 < sizeof(s->c[i].head); k++)
		s->c[i].head[s->c[i].got++] = buf[k];
	s->c[i].head[s->c[i].got] = '\0';
	if (strstr(s->c[i].head, "\r\n\r\n")) {
		char *body = strstr(s->c[i].head, "\r\n\r\n") + 4;

		sink_answer(s, i);
		if (s->c[i].fd >= 0 && *body)
			sink_scan(s, body, strlen(body));
	}
}

static void *sink_main(void *arg)
{
	struct sink *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd[SINK_CLIENTS + 1];
		int n = 0, map[SINK_CLIENTS + 1];

		if (atomic_load(&s->frozen)) {
			usleep(10000);
			continue;
		}
		pfd[n] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		map[n++] = -1;
		for (int i = 0; i < SINK_CLIENTS; i++)
			if (s->c[i].fd >= 0) {
				pfd[n] = (struct pollfd){ .fd = s->c[i].fd, .events = POLLIN };
				map[n++] = i;
			}
		if (poll(pfd, (nfds_t)n, 20) <= 0)
			continue;
		for (int k = 1; k < n; k++)
			if (pfd[k].revents)
				sink_read(s, map[k]);
		if (pfd[0].revents & POLLIN) {
			int fd = accept(s->lfd, NULL, NULL), i;

			for (i = 0; fd >= 0 && i < SINK_CLIENTS && s->c[i].fd >= 0; i++)
				;
			if (fd >= 0 && i == SINK_CLIENTS) {
				close(fd);
			} else if (fd >= 0) {
				memset(&s->c[i], 0, sizeof(s->c[i]));
				s->c[i].fd = fd;
			}
		}
	}
	return NULL;
}

static int sink_start(struct sink *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	for (int i = 0; i < SINK_CLIENTS; i++)
		s->c[i].fd = -1;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(s->lfd, 16) || getsockname(s->lfd, (struct sockaddr *)&a, &len))
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->thread, NULL, sink_main, s) ? -1 : 0;
}

static void sink_stop(struct sink *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	for (int i = 0; i < SINK_CLIENTS; i++)
		if (s->c[i].fd >= 0)
			close(s->c[i].fd);
	close(s->lfd);
	pthread_mutex_destroy(&s->lock);
}

static int sink_get(struct sink *s, const int *field)
{
	int v;

	pthread_mutex_lock(&s->lock);
	v = *field;
	pthread_mutex_unlock(&s->lock);
	return v;
}

/* Runs the clock (512 frames every 10 ms, about real time) until cond or ms. */
static bool run_until(struct engine *e, bool (*cond)(void *), void *arg, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (cond(arg))
			return true;
		engine_offline_run(e, 512, NULL, NULL);
		usleep(10000);
	}
	return cond(arg);
}

struct probe_ctx {
	struct push *m;
	struct sink *s;
	const char *title;
	int min;
};

static bool pushing_bytes(void *arg)
{
	struct probe_ctx *c = arg;
	struct push_status st;

	return !push_get_status(c->m, "ice", &st) && st.state == PUSH_STATE_PUSHING &&
	       st.bytes_sent > 0 && (uint64_t)c->min <= st.connects;
}

static bool title_seen(void *arg)
{
	struct probe_ctx *c = arg;
	struct push_status st;

	return !push_get_status(c->m, "ice", &st) && !strcmp(st.now_playing, c->title) &&
	       sink_get(c->s, &c->s->titles) >= c->min;
}

static bool frozen_found(void *arg)
{
	(void)arg;
	return saw("ice", PUSH_EVENT_START_FAILED, PUSH_ERR_FRAME_TIMEOUT);
}

/* A connected icecast task: its title live (a chained Ogg stream), a frozen
 * server found by the liveness probe, the title sent again on reconnect. */
static void test_probe_and_title(struct engine *e)
{
	struct push_config pc = { .timeout_ms = 1000, .backoff_min_ms = 50,
				  .backoff_max_ms = 200, .max_tasks = 2, .probe_ms = 200 };
	struct push_params p = icecast();
	struct probe_ctx c = { .title = "Sink Title", .min = 1 };
	struct push_status st;
	struct push *m = NULL;
	struct sink s;
	char msg[256];
	int64_t t0;
	int heads;

	if (sink_start(&s) < 0) {
		CHECK(0, "fake icecast server: %s", strerror(errno));
		return;
	}
	snprintf(s.title, sizeof(s.title), "%s", c.title);
	p.port = s.port;
	c.s = &s;
	CHECK(push_create(e, &pc, &m) == 0, "create the manager");
	c.m = m;
	CHECK(push_start(m, "ice", &p, NULL, msg, sizeof(msg)) == PUSH_ERR_OK, "icecast task");
	CHECK(run_until(e, pushing_bytes, &c, 5000), "pushing to the fake server");
	heads = sink_get(&s, &s.heads);
	CHECK(push_get_status(m, "ice", &st) == 0, "status");
	snprintf(st.params.title, sizeof(st.params.title), "%s", c.title);
	CHECK(push_update(m, "ice", &st.params, NULL, msg, sizeof(msg)) == PUSH_ERR_OK,
	      "title set while pushing");
	CHECK(run_until(e, title_seen, &c, 5000), "now playing, and the title in the stream");
	CHECK(sink_get(&s, &s.heads) > heads && sink_get(&s, &s.sources) == 1,
	      "a new Ogg stream on the same connection (%d heads, %d sources)",
	      sink_get(&s, &s.heads), sink_get(&s, &s.sources));
	atomic_store(&s.frozen, true);
	t0 = (int64_t)time(NULL);
	CHECK(run_until(e, frozen_found, NULL, 5000) && time(NULL) - t0 <= 3,
	      "frozen server: START_FAILED ERR_FRAME_TIMEOUT within probe + timeout");
	atomic_store(&s.frozen, false);
	c.min = 2;
	CHECK(run_until(e, pushing_bytes, &c, 8000), "back after the thaw");
	CHECK(run_until(e, title_seen, &c, 5000), "the title sent again on the new connection");
	push_destroy(m);
	sink_stop(&s);
}

int main(void)
{
	struct engine *e;

	test_limits();
	test_redact();
	test_titles();
	e = make_engine();
	test_tasks(e);
	test_probe_and_title(e);
	engine_destroy(e);
	return CHECK_DONE();
}
