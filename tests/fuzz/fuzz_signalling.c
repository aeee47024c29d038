/* fuzz_signalling.c - libFuzzer harness of the /rtc signalling protocol
 * (web-admin/rtc_ws.c rtc_conn_*) and the rooms behind it
 * (engine/rtc/rooms.c), on an offline engine and a test clock.
 *
 * An input is a sequence of messages separated by newlines, fed to one
 * connection; "@TOKEN@" in a message is replaced by a valid token for room
 * "fz", user "u1", so that joins succeed and the later operations go deep.
 * After each message the clock moves on 700 ms and the timers run. The media
 * layer is a double defined here (ids, endpoints, stats). Every reply and
 * event must be JSON; nothing may crash, leak or read out of bounds.
 *
 * Threads: libFuzzer's (the engine's own threads run beside it).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/rtc/rooms.h"
#include "web-admin/rtc_ws.h"

#define APP_ID "123456781234567812345678"
#define APP_KEY "app key"
#define MESSAGE_MAX RTC_WS_MAX_MESSAGE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct engine *e;
static struct rooms *r;
static char token[TOKEN_TEXT_MAX + 1];
static int64_t mono_ms = 1000, unix_s = 1800000000;
static uint32_t next_id;

/* ---- the media double */

int rtc_media_publish(struct rtc_media *m, const struct rtc_track_spec *spec,
		      uint32_t *track_id, uint32_t *node_id, struct rtc_endpoint *ep)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&ep->addr;

	memset(ep, 0, sizeof(*ep));
	*track_id = ++next_id;
	*node_id = 1000 + next_id;
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ep->port = 40000;
	in->sin_port = htons(ep->port);
	return 0;
}

int rtc_media_unpublish(struct rtc_media *m, uint32_t track_id)
{
	return 0;
}

int rtc_media_track_stats(struct rtc_media *m, uint32_t track_id, struct rtc_track_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->packets = track_id & 1;
	return 0;
}

int rtc_media_return_open(struct rtc_media *m, const struct rtc_return_spec *spec,
			  uint32_t *return_id)
{
	*return_id = ++next_id;
	return 0;
}

int rtc_media_return_close(struct rtc_media *m, uint32_t return_id)
{
	return 0;
}

int rtc_media_return_set_source(struct rtc_media *m, uint32_t return_id,
				enum rtc_return_source source)
{
	return 0;
}

int rtc_media_return_stats(struct rtc_media *m, uint32_t return_id, struct rtc_return_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->ssrc = return_id;
	st->packets = return_id & 1;
	return 0;
}

/* ---- the harness */

static void clock_fn(void *user, int64_t *mono, int64_t *unix_now)
{
	*mono = mono_ms;
	*unix_now = unix_s;
}

static void on_send(void *user, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);

	if (!json_is_object(j))
		abort();	/* every frame we send is a JSON object */
	json_decref(j);
}

static void on_close(void *user)
{
}

static const struct rooms_conn_ops ops = { on_send, on_close };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rooms_config rc = { .app_id = APP_ID, .app_key = APP_KEY, .auto_create = true,
				   .max_users = 50, .max_streams = 30,
				   .signalling_timeout_ms = 5000, .token_warning_s = 30 };
	struct airmix_config cfg;
	struct token t;
	char err[256];

	config_defaults(&cfg);
	cfg.backend = BACKEND_OFFLINE;
	cfg.jack_inputs = 0;
	cfg.lock_memory = false;
	cfg.max_period_frames = 1024;
	if (engine_create(&cfg, NULL, NULL, &e, err, sizeof(err)) < 0 ||
	    rooms_create(e, (struct rtc_media *)&next_id, &rc, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_signalling: %s\n", err);
		abort();
	}
	rooms_set_clock(r, clock_fn, NULL);
	token_init(&t, APP_ID, "fz", "u1", (uint32_t)unix_s, (uint32_t)unix_s + 3600);
	token_add_privilege(&t, TOKEN_PRIV_PUBLISH_STREAM, 0);
	token_add_privilege(&t, TOKEN_PRIV_SUBSCRIBE_STREAM, (uint32_t)unix_s + 1800);
	token_issue(&t, APP_KEY, token, sizeof(token));
	return 0;
}

/* One message with @TOKEN@ replaced. */
static void feed(struct rtc_conn *c, const char *p, size_t n)
{
	static char buf[MESSAGE_MAX + TOKEN_TEXT_MAX + 1];
	size_t used = 0, tl = strlen(token);

	for (size_t i = 0; i < n && used + tl < sizeof(buf); i++) {
		if (n - i >= 7 && !memcmp(p + i, "@TOKEN@", 7)) {
			memcpy(buf + used, token, tl);
			used += tl;
			i += 6;
		} else {
			buf[used++] = p[i];
		}
	}
	rtc_conn_message(c, buf, used);
	mono_ms += 700;
	unix_s += 1;
	rooms_tick(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtc_conn *c = rtc_conn_open(r, &ops, NULL, "127.0.0.1");
	const char *p = (const char *)data, *end = p + size;

	if (!c)
		return 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		if (n <= MESSAGE_MAX)
			feed(c, p, n);
		else
			rtc_conn_refuse(c, "message larger than 16384 bytes");
		p += n + 1;
	}
	rtc_conn_close(c);
	unix_s = 1800000000;	/* every input starts at the same time */
	return 0;
}
