/* test_push.c - the push manager without a server: every parameter limit,
 * the event names, the masking of URL secrets, and the StreamMixing events of a task whose server cannot
 * be reached (start, START_FAILED ERR_FRAME_TIMEOUT while it retries, a
 * refused update, stop, stop of an unknown task, destroy with a running
 * task). The real servers are in tests/integration/test_push.py.
 *
 * Threads: the main thread; the task threads report through the engine's
 * notices (on_notice runs on them, guarded by notice_lock).
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int main(void)
{
	struct engine *e;

	test_limits();
	test_redact();
	test_titles();
	e = make_engine();
	test_tasks(e);
	engine_destroy(e);
	return CHECK_DONE();
}
