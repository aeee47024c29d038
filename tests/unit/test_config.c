/* test_config.c - unit tests of engine/config.c and of conf/airmix.conf.
 *
 * The expected keys, types, ranges, units and live flags are written out
 * below (spec[]) independently of config.c's table, and the two are checked
 * against each other; every key then gets its bad values in a generated file
 * and through config_set(). Also: the shipped config and its documentation,
 * unknown keys and sections, duplicates, syntax errors, many errors at once,
 * the caller's config left alone on error, cross-key checks, restart
 * detection and line counting past long lines.
 *
 * Run from the top of the tree (conf/airmix.conf is read from there, or from
 * $TOP). Threads: main only.
 */
#include "engine/config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

struct spec {
	const char *section, *key, *type, *unit;
	bool live;
	double lo, hi;		/* int, double */
	const char *choices;	/* enum: comma-separated */
	bool nonempty;		/* string: "" refused */
};

static const struct spec spec[] = {
	{ "engine", "backend", "enum", "", false, 0, 0, "auto,jack,alsa,internal,offline", 0 },
	{ "engine", "sample_rate", "int", "Hz", false, 8000, 192000, NULL, 0 },
	{ "engine", "period_frames", "int", "frames", false, 16, 8192, NULL, 0 },
	{ "engine", "max_period_frames", "int", "frames", false, 64, 16384, NULL, 0 },
	{ "engine", "max_nodes", "int", "nodes", false, 16, 65536, NULL, 0 },
	{ "engine", "command_ring", "int", "records", false, 64, 65536, NULL, 0 },
	{ "engine", "event_ring", "int", "records", false, 64, 65536, NULL, 0 },
	{ "engine", "limiter_ceiling_db", "double", "dBFS", true, -20, 0, NULL, 0 },
	{ "engine", "limiter_lookahead_ms", "double", "ms", false, 0, 5, NULL, 0 },
	{ "engine", "limiter_release_ms", "double", "ms", true, 1, 2000, NULL, 0 },
	{ "engine", "meter_window_ms", "double", "ms", false, 10, 1000, NULL, 0 },
	{ "engine", "rt_priority", "int", "", false, 1, 95, NULL, 0 },
	{ "engine", "lock_memory", "bool", "", false, 0, 0, NULL, 0 },
	{ "jack", "client_name", "string", "", false, 0, 0, NULL, true },
	{ "jack", "server_name", "string", "", false, 0, 0, NULL, false },
	{ "jack", "inputs", "int", "ports", false, 0, 64, NULL, 0 },
	{ "jack", "connect_outputs", "string", "", false, 0, 0, NULL, false },
	{ "jack", "connect_inputs", "string", "", false, 0, 0, NULL, false },
	{ "jack", "reconnect_ms", "int", "ms", false, 100, 60000, NULL, 0 },
	{ "alsa", "device", "string", "", false, 0, 0, NULL, true },
	{ "alsa", "capture_device", "string", "", false, 0, 0, NULL, false },
	{ "alsa", "periods", "int", "periods", false, 2, 16, NULL, 0 },
	{ "alsa", "format", "enum", "", false, 0, 0, "S16_LE,S32_LE,FLOAT_LE", 0 },
	{ "alsa", "inputs", "int", "channels", false, 0, 64, NULL, 0 },
	{ "tone", "enabled", "bool", "", true, 0, 0, NULL, 0 },
	{ "tone", "frequency_hz", "double", "Hz", true, 20, 20000, NULL, 0 },
	{ "tone", "level_dbfs", "double", "dBFS", true, -60, 0, NULL, 0 },
	{ "tone", "buses", "enum", "", false, 0, 0, "publish,playout,both", 0 },
	{ "http", "listen", "string", "", false, 0, 0, NULL, true },
	{ "http", "port", "int", "", false, 1, 65535, NULL, 0 },
	{ "http", "token", "string", "", true, 0, 0, NULL, false },
	{ "http", "admin_password_hash", "string", "", true, 0, 0, NULL, false },
	{ "http", "operator_password_hash", "string", "", true, 0, 0, NULL, false },
	{ "http", "session_ttl_s", "int", "s", true, 60, 2592000, NULL, 0 },
	{ "http", "upload_max_mb", "int", "MB", true, 1, 65536, NULL, 0 },
	{ "http", "tls_cert", "string", "", false, 0, 0, NULL, false },
	{ "http", "tls_key", "string", "", false, 0, 0, NULL, false },
	{ "http", "max_body_bytes", "int", "bytes", false, 1024, 16777216, NULL, 0 },
	{ "http", "max_ws_clients", "int", "clients", false, 1, 4096, NULL, 0 },
	{ "http", "meter_fps", "int", "fps", false, 1, 60, NULL, 0 },
	{ "paths", "data_dir", "string", "", false, 0, 0, NULL, true },
	{ "paths", "media_dir", "string", "", false, 0, 0, NULL, false },
	{ "paths", "recordings_dir", "string", "", false, 0, 0, NULL, false },
	{ "paths", "history_db", "string", "", false, 0, 0, NULL, false },
	{ "history", "max_rows", "int", "rows", false, 0, 100000000, NULL, 0 },
	{ "history", "max_age_days", "int", "days", false, 0, 36500, NULL, 0 },
	{ "history", "queue_rows", "int", "rows", false, 16, 65536, NULL, 0 },
	{ "history", "flush_ms", "int", "ms", false, 10, 10000, NULL, 0 },
	{ "mixing", "max_ids", "int", "ids", false, 1, 1024, NULL, 0 },
	{ "mixing", "stream_ahead_ms", "int", "ms", false, 200, 10000, NULL, 0 },
	{ "recorder", "header_interval_ms", "int", "ms", false, 100, 60000, NULL, 0 },
	{ "recorder", "ring_ms", "int", "ms", false, 100, 60000, NULL, 0 },
	{ "recorder", "warn_free_mb", "int", "MB", false, 0, 16777216, NULL, 0 },
	{ "recorder", "min_free_mb", "int", "MB", false, 0, 16777216, NULL, 0 },
	{ "recorder", "name_template", "string", "", false, 0, 0, NULL, true },
	{ "push", "max_tasks", "int", "tasks", false, 1, 64, NULL, 0 },
	{ "push", "ring_ms", "int", "ms", false, 100, 60000, NULL, 0 },
	{ "push", "timeout_ms", "int", "ms", false, 500, 60000, NULL, 0 },
	{ "push", "backoff_min_ms", "int", "ms", false, 50, 60000, NULL, 0 },
	{ "push", "backoff_max_ms", "int", "ms", false, 50, 600000, NULL, 0 },
	{ "push", "probe_ms", "int", "ms", false, 0, 60000, NULL, 0 },
	{ "rtp", "bind_address", "string", "", false, 0, 0, NULL, true },
	{ "rtp", "port_min", "int", "", false, 1024, 65534, NULL, 0 },
	{ "rtp", "port_max", "int", "", false, 1025, 65535, NULL, 0 },
	{ "rtp", "jitter_min_ms", "int", "ms", false, 0, 1000, NULL, 0 },
	{ "rtp", "jitter_max_ms", "int", "ms", false, 20, 5000, NULL, 0 },
	{ "rtp", "drift_max_ppm", "int", "ppm", false, 10, 20000, NULL, 0 },
	{ "rtp", "return_bitrate_kbps", "int", "kb/s", false, 6, 510, NULL, 0 },
	{ "rtp", "return_complexity", "int", "", false, 0, 10, NULL, 0 },
	{ "rtp", "return_fec", "bool", "", false, 0, 0, NULL, 0 },
	{ "rtp", "return_channels", "int", "", false, 1, 2, NULL, 0 },
	{ "rtc", "app_id", "string", "", false, 0, 0, NULL, false },
	{ "rtc", "app_key", "string", "", false, 0, 0, NULL, false },
	{ "rtc", "auto_create_rooms", "bool", "", false, 0, 0, NULL, 0 },
	{ "rtc", "max_users", "int", "users", false, 1, 50, NULL, 0 },
	{ "rtc", "max_streams", "int", "streams", false, 1, 30, NULL, 0 },
	{ "rtc", "signalling_timeout_ms", "int", "ms", false, 1000, 600000, NULL, 0 },
	{ "rtc", "token_warning_s", "int", "s", false, 1, 3600, NULL, 0 },
	{ "rtc", "forward_enabled", "bool", "", false, 0, 0, NULL, 0 },
	{ "rtc", "forward_backoff_max_ms", "int", "ms", false, 250, 600000, NULL, 0 },
	{ "rtc", "forward_timeout_ms", "int", "ms", false, 500, 120000, NULL, 0 },
	{ "rtc", "forward_ca_file", "string", "", false, 0, 0, NULL, false },
	{ "webrtc", "enabled", "bool", "", false, 0, 0, NULL, 0 },
	{ "webrtc", "interfaces", "string", "", false, 0, 0, NULL, false },
	{ "webrtc", "stun_server", "string", "", false, 0, 0, NULL, false },
	{ "webrtc", "turn_server", "string", "", false, 0, 0, NULL, false },
	{ "log", "level", "enum", "", true, 0, 0, "error,warning,info,debug", 0 },
};
#define SPEC_COUNT (sizeof(spec) / sizeof(spec[0]))

static char dir[64];
static char path[128];		/* the generated file */
static char conf[512];		/* conf/airmix.conf */

static void write_text(const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

static int load_text(const char *text, struct airmix_config *cfg, struct config_errors *errs)
{
	write_text(text);
	return config_load(path, cfg, errs);
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static const struct config_key_info *key_info(const char *section, const char *key)
{
	for (size_t i = 0; i < config_key_count(); i++) {
		const struct config_key_info *k = config_key_at(i);

		if (!strcmp(k->section, section) && !strcmp(k->key, key))
			return k;
	}
	return NULL;
}

static void show_errors(const struct config_errors *errs)
{
	for (int i = 0; i < errs->count && i < 32; i++)
		printf("#   %s\n", errs->items[i].text);
}

/* Every key's text equal in a and b. */
static bool same_values(const struct airmix_config *a, const struct airmix_config *b)
{
	char ta[CONFIG_STR_MAX], tb[CONFIG_STR_MAX];
	bool same = true;

	for (size_t i = 0; i < config_key_count(); i++) {
		const struct config_key_info *k = config_key_at(i);

		config_get_text(a, k->section, k->key, ta, sizeof(ta));
		config_get_text(b, k->section, k->key, tb, sizeof(tb));
		if (strcmp(ta, tb)) {
			printf("# %s.%s: \"%s\" != \"%s\"\n", k->section, k->key, ta, tb);
			same = false;
		}
	}
	return same;
}

static void test_table_matches_spec(void)
{
	CHECK(config_key_count() == SPEC_COUNT, "%zu keys in the table, %zu in the spec",
	      config_key_count(), SPEC_COUNT);
	for (size_t i = 0; i < SPEC_COUNT; i++) {
		const struct spec *s = &spec[i];
		const struct config_key_info *k = key_info(s->section, s->key);

		CHECK(k, "[%s] %s is in the table", s->section, s->key);
		if (!k)
			continue;
		CHECK(!strcmp(k->type, s->type) && !strcmp(k->unit, s->unit) &&
		      k->live == s->live && k->doc && *k->doc && k->def,
		      "[%s] %s: type %s, unit \"%s\", %s, documented", s->section, s->key,
		      k->type, k->unit, k->live ? "live" : "restart");
	}
	CHECK(config_key_at(config_key_count()) == NULL, "config_key_at past the end is NULL");
}

static void test_defaults(void)
{
	struct airmix_config c, d;
	struct config_errors errs;
	bool all = true;

	config_defaults(&c);
	CHECK(c.backend == BACKEND_AUTO && c.sample_rate == 48000 && c.period_frames == 256 &&
	      c.max_period_frames == 8192 && c.max_nodes == 4096 && c.command_ring == 1024 &&
	      c.event_ring == 4096 && c.rt_priority == 70 && c.lock_memory,
	      "[engine] integer and bool defaults");
	CHECK(c.limiter_ceiling_db == -1.0 && c.limiter_lookahead_ms == 1.0 &&
	      c.limiter_release_ms == 50 && c.meter_window_ms == 50, "[engine] double defaults");
	CHECK(!strcmp(c.jack_client_name, "airmix") && !c.jack_server_name[0] &&
	      c.jack_inputs == 2 && !c.jack_connect_outputs[0] && !c.jack_connect_inputs[0] &&
	      c.jack_reconnect_ms == 1000, "[jack] defaults");
	CHECK(!strcmp(c.alsa_device, "default") && !c.alsa_capture_device[0] &&
	      c.alsa_periods == 2 && !strcmp(c.alsa_format, "S16_LE") && c.alsa_inputs == 0,
	      "[alsa] defaults");
	CHECK(!c.tone_enabled && c.tone_frequency_hz == 1000 && c.tone_level_dbfs == -18 &&
	      !strcmp(c.tone_buses, "publish"), "[tone] defaults");
	CHECK(!strcmp(c.http_listen, "127.0.0.1") && c.http_port == 8080 && !c.http_token[0] &&
	      c.http_max_body == 65536 && c.http_max_ws_clients == 256 && c.http_meter_fps == 20,
	      "[http] defaults");
	CHECK(!strcmp(c.data_dir, "var") && !c.media_dir[0] && !c.recordings_dir[0] &&
	      !c.history_db[0], "[paths] defaults");
	CHECK(c.history_max_rows == 100000 && c.history_max_age_days == 90 &&
	      c.history_queue_rows == 4096 && c.history_flush_ms == 200, "[history] defaults");
	CHECK(!strcmp(c.log_level, "info") && !c.source_path[0], "[log] default, no source");

	/* every key's documented default text parses to the built-in default */
	for (size_t i = 0; i < config_key_count(); i++) {
		const struct config_key_info *k = config_key_at(i);

		d = c;
		if (config_set(&d, k->section, k->key, k->def, "default", &errs) ||
		    memcmp(&c, &d, sizeof(c))) {
			printf("# [%s] %s default \"%s\" does not round-trip\n", k->section,
			       k->key, k->def);
			all = false;
		}
	}
	CHECK(all, "every default text parses to the built-in default");
}

static void test_shipped_config(void)
{
	struct airmix_config c, d;
	struct config_errors errs;
	int rc;

	config_defaults(&d);
	memset(&c, 0, sizeof(c));
	rc = config_load(conf, &c, &errs);
	show_errors(&errs);
	CHECK(rc == 0 && errs.count == 0, "%s loads without errors (rc %d, %d errors)", conf, rc,
	      errs.count);
	CHECK(same_values(&c, &d), "%s equals the defaults", conf);
	CHECK(!strcmp(c.source_path, conf), "source_path is the file");
}

/* The comment block above a key line in conf/airmix.conf. */
struct doc_key {
	char section[32], key[64], doc[1024];
	bool commented;
};

static int read_doc_keys(struct doc_key *out, int most)
{
	char line[1024], section[32] = "", doc[1024] = "";
	int n = 0;
	FILE *f = fopen(conf, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && n < most) {
		char key[64], *s = line;
		bool commented = false;
		int len = 0;

		if (sscanf(line, "[%31[^]]]", section) == 1) {
			doc[0] = '\0';
			continue;
		}
		if (*s == '#') {
			commented = true;
			s++;
			while (*s == ' ')
				s++;
		}
		if (sscanf(s, "%63[a-z0-9_] =%n", key, &len) == 1 && len > 0) {
			struct doc_key *d = &out[n++];

			snprintf(d->section, sizeof(d->section), "%s", section);
			snprintf(d->key, sizeof(d->key), "%s", key);
			snprintf(d->doc, sizeof(d->doc), "%s", doc);
			d->commented = commented;
			doc[0] = '\0';
		} else if (commented) {
			strncat(doc, line, sizeof(doc) - strlen(doc) - 1);
		} else {
			doc[0] = '\0';
		}
	}
	fclose(f);
	return n;
}

static void test_shipped_docs(void)
{
	static struct doc_key dk[256];
	int n = read_doc_keys(dk, 256);
	bool all_in_table = true, all_in_file = true, all_docs = true;

	CHECK(n > 0, "%s lists keys (%d)", conf, n);
	for (int i = 0; i < n; i++) {
		if (!key_info(dk[i].section, dk[i].key)) {
			printf("# %s: [%s] %s is not in the table\n", conf, dk[i].section,
			       dk[i].key);
			all_in_table = false;
		}
	}
	for (size_t i = 0; i < SPEC_COUNT; i++) {
		const struct spec *s = &spec[i];
		const struct doc_key *d = NULL;
		char want[128];

		for (int j = 0; j < n && !d; j++)
			if (!strcmp(dk[j].section, s->section) && !strcmp(dk[j].key, s->key))
				d = &dk[j];
		if (!d) {
			printf("# [%s] %s is missing from %s\n", s->section, s->key, conf);
			all_in_file = false;
			continue;
		}
		if (!strstr(d->doc, s->live ? "; live." : "; restart.") ||
		    !strstr(d->doc, "Default ")) {
			printf("# [%s] %s: doc does not say \"Default\" and \"%s\"\n", s->section,
			       s->key, s->live ? "live" : "restart");
			all_docs = false;
		}
		if (s->lo != s->hi) {
			snprintf(want, sizeof(want), "range %.15g..%.15g", s->lo, s->hi);
			if (!strstr(d->doc, want) || (*s->unit && !strstr(d->doc, s->unit))) {
				printf("# [%s] %s: doc lacks \"%s\" or the unit \"%s\"\n",
				       s->section, s->key, want, s->unit);
				all_docs = false;
			}
		}
	}
	CHECK(all_in_table, "every key in %s is in the table", conf);
	CHECK(all_in_file, "every key in the table is in %s", conf);
	CHECK(all_docs, "each key's comment gives its default, range, unit, live/restart");
}

/* One bad value of one key: refused in a file with the key's line, and by
 * config_set() with the caller's location; the config untouched. want is a
 * part of the message. */
static void expect_bad(const struct spec *s, const char *value, const char *want)
{
	struct airmix_config before, c;
	struct config_errors errs;
	char text[2048], prefix[256];
	int rc;

	snprintf(text, sizeof(text), "# line 1\n[%s]\n%s = %s\n", s->section, s->key, value);
	memset(&before, 0x5a, sizeof(before));
	c = before;
	rc = load_text(text, &c, &errs);
	snprintf(prefix, sizeof(prefix), "%s:3: %s: ", path, s->key);
	CHECK(rc == -EINVAL && errs.count == 1 && starts_with(errs.items[0].text, prefix) &&
	      strstr(errs.items[0].text, want) && !memcmp(&before, &c, sizeof(c)),
	      "[%s] %s = \"%.40s\" refused in a file: %s", s->section, s->key, value,
	      errs.count ? errs.items[0].text : "(no error)");

	if (strlen(value) > 300)
		return;		/* the file's line limit spoke; config_set is tested apart */
	config_defaults(&c);
	before = c;
	rc = config_set(&c, s->section, s->key, value, "--test", &errs);
	snprintf(prefix, sizeof(prefix), "--test: %s: ", s->key);
	CHECK(rc == -EINVAL && errs.count == 1 && starts_with(errs.items[0].text, prefix) &&
	      strstr(errs.items[0].text, want) && !memcmp(&before, &c, sizeof(c)),
	      "[%s] %s = \"%.40s\" refused by config_set: %s", s->section, s->key, value,
	      errs.count ? errs.items[0].text : "(no error)");
}

/* A value each string key takes: most take anything; an app id has 24
 * characters, the WebRTC keys have forms of their own (test_cross_checks). */
static const char *good_string(const char *key)
{
	if (!strcmp(key, "app_id"))
		return "123456781234567812345678";
	if (!strcmp(key, "interfaces"))
		return "127.0.0.1, ::1";
	if (!strcmp(key, "stun_server"))
		return "stun://stun.example.org:3478";
	if (!strcmp(key, "turn_server"))
		return "turns://studio:s3cret@turn.example.org:5349";
	return "\"localhost\"";
}

static void expect_good(const struct spec *s, const char *value)
{
	struct airmix_config c;
	struct config_errors errs;
	char text[512], got[CONFIG_STR_MAX];
	int rc;

	/* the smallest period, so that any max_period_frames fits; a TLS key
	 * with its partner */
	snprintf(text, sizeof(text), "%s[%s]\n%s%s = %s\n",
		 strcmp(s->key, "period_frames") ? "[engine]\nperiod_frames = 16\n" : "",
		 s->section, !strcmp(s->key, "tls_cert") ? "tls_key = /k.pem\n" :
		 !strcmp(s->key, "tls_key") ? "tls_cert = /c.pem\n" : "", s->key, value);
	rc = load_text(text, &c, &errs);
	show_errors(&errs);
	config_get_text(&c, s->section, s->key, got, sizeof(got));
	CHECK(rc == 0, "[%s] %s = %s accepted (reads back %s)", s->section, s->key, value, got);
}

static void range_msg(const struct spec *s, const char *value, char *buf, size_t len)
{
	snprintf(buf, len, "%s is out of range %.15g..%.15g%s%s", value, s->lo, s->hi,
		 *s->unit ? " " : "", s->unit);
}

static void test_bad_values(void)
{
	char v[64], want[256], long_value[601];

	memset(long_value, 'x', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	for (size_t i = 0; i < SPEC_COUNT; i++) {
		const struct spec *s = &spec[i];

		if (!strcmp(s->type, "int")) {
			snprintf(v, sizeof(v), "%d", (int)s->lo);
			expect_good(s, v);
			snprintf(v, sizeof(v), "%d", (int)s->hi);
			expect_good(s, v);
			snprintf(v, sizeof(v), "%d", (int)s->lo - 1);
			range_msg(s, v, want, sizeof(want));
			expect_bad(s, v, want);
			snprintf(v, sizeof(v), "%d", (int)s->hi + 1);
			range_msg(s, v, want, sizeof(want));
			expect_bad(s, v, want);
			expect_bad(s, "99999999999999999999", "is out of range");
			expect_bad(s, "abc", "\"abc\" is not an integer");
			expect_bad(s, "12x", "\"12x\" is not an integer");
			expect_bad(s, "1.5", "\"1.5\" is not an integer");
			expect_bad(s, "", "\"\" is not an integer");
		} else if (!strcmp(s->type, "double")) {
			snprintf(v, sizeof(v), "%g", s->lo);
			expect_good(s, v);
			snprintf(v, sizeof(v), "%g", s->hi);
			expect_good(s, v);
			snprintf(v, sizeof(v), "%g", s->lo - 0.5);
			range_msg(s, v, want, sizeof(want));
			expect_bad(s, v, want);
			snprintf(v, sizeof(v), "%g", s->hi + 0.5);
			range_msg(s, v, want, sizeof(want));
			expect_bad(s, v, want);
			expect_bad(s, "abc", "\"abc\" is not a number");
			expect_bad(s, "1.5x", "\"1.5x\" is not a number");
			expect_bad(s, "inf", "\"inf\" is not a finite number");
			expect_bad(s, "nan", "\"nan\" is not a finite number");
			expect_bad(s, "", "\"\" is not a number");
		} else if (!strcmp(s->type, "bool")) {
			expect_good(s, "yes");
			expect_good(s, "Off");
			expect_bad(s, "maybe", "\"maybe\" is not a boolean");
			expect_bad(s, "2", "\"2\" is not a boolean");
			expect_bad(s, "", "\"\" is not a boolean");
		} else if (!strcmp(s->type, "enum")) {
			char choices[128], *save, *c;

			snprintf(choices, sizeof(choices), "%s", s->choices);
			for (c = strtok_r(choices, ",", &save); c; c = strtok_r(NULL, ",", &save))
				expect_good(s, c);
			snprintf(want, sizeof(want), "\"bogus\" is not one of %s", s->choices);
			for (c = want; (c = strchr(c, ',')); c += 2) {
				memmove(c + 1, c, strlen(c) + 1);
				c[1] = ' ';
			}
			expect_bad(s, "bogus", want);
			expect_bad(s, "", "\"\" is not one of");
		} else if (strstr(s->key, "password_hash")) {
			expect_good(s, "\"$y$j9T$salt$hash\"");
			expect_good(s, "$6$rounds=5000$x$y");
			expect_bad(s, "\"localhost\"", "not a crypt(3) password hash");
			expect_bad(s, "\"$y$a b\"", "not a crypt(3) password hash");
			expect_bad(s, long_value, "line is too long (");
		} else {
			expect_good(s, good_string(s->key));
			expect_bad(s, long_value, "line is too long (");
			if (s->nonempty)
				expect_bad(s, "\"\"", "value must not be empty");
		}
	}
}

/* Strings longer than their buffer, through config_set (a file line cannot
 * carry them). */
static void test_long_strings(void)
{
	static char value[CONFIG_STR_MAX + 1];
	struct airmix_config c, before;
	struct config_errors errs;
	char prefix[128];
	int rc;

	memset(value, 'y', CONFIG_STR_MAX);
	value[CONFIG_STR_MAX] = '\0';
	for (size_t i = 0; i < SPEC_COUNT; i++) {
		if (strcmp(spec[i].type, "string"))
			continue;
		config_defaults(&c);
		before = c;
		rc = config_set(&c, spec[i].section, spec[i].key, value, "api", &errs);
		snprintf(prefix, sizeof(prefix), "api: %s: value is too long (%d characters",
			 spec[i].key, CONFIG_STR_MAX);
		CHECK(rc == -EINVAL && errs.count == 1 && starts_with(errs.items[0].text, prefix) &&
		      !memcmp(&c, &before, sizeof(c)), "[%s] %s: %d characters refused: %s",
		      spec[i].section, spec[i].key, CONFIG_STR_MAX,
		      errs.count ? errs.items[0].text : "(no error)");
	}
	config_defaults(&c);
	value[CONFIG_STR_MAX - 1] = '\0';
	rc = config_set(&c, "jack", "connect_outputs", value, "api", &errs);
	CHECK(rc == 0 && strlen(c.jack_connect_outputs) == CONFIG_STR_MAX - 1,
	      "a string of %d characters fits", CONFIG_STR_MAX - 1);
	value[200] = '\0';
	rc = config_set(&c, "paths", "data_dir", value, "api", &errs);
	CHECK(rc == 0, "data_dir of 200 characters fits");
}

/* Load text expecting exactly the given error lines, in order. */
static void expect_errors(const char *what, const char *text, const char *const *want, int n)
{
	struct airmix_config c, before;
	struct config_errors errs;
	char line[1024];
	bool ok;
	int rc;

	memset(&before, 0xa5, sizeof(before));
	c = before;
	rc = load_text(text, &c, &errs);
	ok = rc == -EINVAL && errs.count == n && !memcmp(&c, &before, sizeof(c));
	for (int i = 0; ok && i < n && i < 32; i++) {
		snprintf(line, sizeof(line), "%s:%s", path, want[i]);
		ok = !strcmp(errs.items[i].text, line);
	}
	if (!ok) {
		printf("# rc %d, want:\n", rc);
		for (int i = 0; i < n; i++)
			printf("#   %s:%s\n", path, want[i]);
		printf("# got:\n");
		show_errors(&errs);
	}
	CHECK(ok, "%s", what);
}

static void test_file_errors(void)
{
	static const char *const unknown_key[] = {
		"2: sampel_rate: unknown key \"sampel_rate\" in [engine]",
	};
	static const char *const unknown_section[] = { "3: unknown section [foo]" };
	static const char *const duplicate[] = {
		"5: sample_rate: duplicate key, first set on line 2",
	};
	static const char *const no_equals[] = {
		"2: syntax error: expected \"key = value\", \"[section]\" or a comment",
	};
	static const char *const no_bracket[] = {
		"1: syntax error: \"]\" missing in section header",
	};
	static const char *const before_section[] = {
		"1: sample_rate: key appears before any [section]",
	};
	static const char *const no_name[] = {
		"2: syntax error: key name missing before \"=\"",
	};
	static const char *const typo_section[] = {
		"2: unknown section [engnie]",
		"5: sample_rate: 2 is out of range 8000..192000 Hz",
	};

	expect_errors("unknown key", "[engine]\nsampel_rate = 48000\n", unknown_key, 1);
	expect_errors("unknown section reported once, at its header",
		      "[engine]\nsample_rate = 44100\n[foo]\nbar = 1\nbaz = 2\n", unknown_section,
		      1);
	expect_errors("duplicate key names the first line",
		      "[engine]\nsample_rate = 44100\n\n[engine]\nsample_rate = 48000\n", duplicate,
		      1);
	expect_errors("line without =", "[engine]\nsample_rate 48000\n", no_equals, 1);
	expect_errors("section without ]", "[engine\nsample_rate = 48000\n", no_bracket, 1);
	expect_errors("key before any section", "sample_rate = 48000\n", before_section, 1);
	expect_errors("key name missing", "[engine]\n= 5\n", no_name, 1);
	expect_errors("keys after an unknown section are skipped, the next section is read",
		      "[engine]\n[engnie]\nsample_rate = 1\n[engine]\nsample_rate = 2\n",
		      typo_section, 2);
}

/* Many problems in one file: every one reported, in file order. */
static void test_many_errors(void)
{
	static const char *const many[] = {
		"2: sample_rate: 7999 is out of range 8000..192000 Hz",
		"3: backend: \"jackd\" is not one of auto, jack, alsa, internal, offline",
		"4: this is wrong: unknown key \"this is wrong\" in [engine]",
		"6: syntax error: expected \"key = value\", \"[section]\" or a comment",
		"7: unknown section [nope]",
		"10: port: \"80a\" is not an integer",
		"12: admin_password_hash: admin_password_hash is required when listen is not a "
		"loopback address: set it with airmixctl passwd",
		"14: sample_rate: duplicate key, first set on line 2",
	};
	struct airmix_config c, before;
	struct config_errors errs;
	char text[4096] = "[engine]\n", line[64], want[256];
	int rc;

	expect_errors("every error in a file is reported, in order",
		      "[engine]\n"
		      "sample_rate = 7999\n"
		      "backend = jackd\n"
		      "this is wrong = 1\n"
		      "period_frames = 128\n"
		      "just words\n"
		      "[nope]\n"
		      "x = 1\n"
		      "[http]\n"
		      "port = 80a\n"
		      "listen = 0.0.0.0\n"
		      "admin_password_hash = \"\"\n"
		      "[engine]\n"
		      "sample_rate = 48000\n",
		      many, 8);

	/* 40 errors: all counted, the first 32 kept */
	for (int i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "bad_%d = 1\n", i);
		strcat(text, line);
	}
	memset(&before, 0x33, sizeof(before));
	c = before;
	rc = load_text(text, &c, &errs);
	snprintf(want, sizeof(want), "%s:33: bad_31: unknown key \"bad_31\" in [engine]", path);
	CHECK(rc == -EINVAL && errs.count == 40 && !strcmp(errs.items[31].text, want) &&
	      !memcmp(&c, &before, sizeof(c)), "40 errors counted, 32 kept (%d, last kept %s)",
	      errs.count, errs.items[31].text);
}

/* [webrtc]: interface addresses and server URLs are checked for form. */
static void test_webrtc_servers(void)
{
	static const char *const bad[][3] = {
		{ "interfaces", "127.0.0.1, eth0", "\"eth0\" is not an IPv4 or IPv6 address" },
		{ "interfaces", "localhost", "\"localhost\" is not an IPv4 or IPv6 address" },
		{ "stun_server", "stun.example.org:3478", "a STUN server is stun://host:port" },
		{ "stun_server", "stun://host", "a STUN server is stun://host:port" },
		{ "stun_server", "stun://host:70000", "a STUN server is stun://host:port" },
		{ "stun_server", "stun://u:p@host:3478", "a STUN server is stun://host:port" },
		{ "turn_server", "turn://host:3478", "a TURN server is turn://user:password@" },
		{ "turn_server", "turn://:p@host:3478", "a TURN server is turn://user:password@" },
		{ "turn_server", "stun://u:p@host:3478", "a TURN server is turn://user:password@" },
	};
	struct airmix_config c;
	struct config_errors errs;
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[webrtc]\n%s = %s\n", bad[i][0], bad[i][1]);
		CHECK(load_text(text, &c, &errs) == -EINVAL && errs.count == 1 &&
		      strstr(errs.items[0].text, bad[i][2]), "[webrtc] %s = %s is refused: %s",
		      bad[i][0], bad[i][1], errs.count ? errs.items[0].text : "(accepted)");
	}
	CHECK(load_text("[webrtc]\ninterfaces = 192.0.2.2,127.0.0.1\nstun_server = "
			"stun://[2001:db8::1]:3478\nturn_server = turn://a:b@turn:3478\n", &c,
			&errs) == 0 && !strcmp(c.webrtc_interfaces, "192.0.2.2,127.0.0.1"),
	      "good [webrtc] addresses and servers are taken");
}

static void test_cross_checks(void)
{
	static const char *const period_later[] = {
		"3: period_frames: period_frames (512) must not be larger than "
		"max_period_frames (256)",
	};
	static const char *const max_later[] = {
		"3: max_period_frames: period_frames (512) must not be larger than "
		"max_period_frames (256)",
	};
	static const char *const bad_listen[] = {
		"2: listen: \"example.com\" is not an IPv4 or IPv6 address or localhost",
	};
	static const char *const short_app_id[] = {
		"2: app_id: \"abc\" is 3 characters: an app id has 24 (empty refuses joins)",
	};
	static const char *const no_token[] = {
		"2: listen: admin_password_hash is required when listen is not a loopback "
		"address: set it with airmixctl passwd",
	};
	static const char *const bad_hash[] = {
		"2: admin_password_hash: not a crypt(3) password hash: set it with airmixctl passwd",
	};
	static const char *const tls_half[] = {
		"2: tls_cert: tls_cert and tls_key go together: set both or neither",
	};
	struct airmix_config c;
	struct config_errors errs;
	int rc;

	expect_errors("period_frames > max_period_frames, reported at the later key",
		      "[engine]\nmax_period_frames = 256\nperiod_frames = 512\n", period_later, 1);
	expect_errors("period_frames > max_period_frames, the other order",
		      "[engine]\nperiod_frames = 512\nmax_period_frames = 256\n", max_later, 1);
	expect_errors("listen must be an address", "[http]\nlisten = example.com\n", bad_listen,
		      1);
	expect_errors("password required off loopback", "[http]\nlisten = 0.0.0.0\n", no_token,
		      1);
	expect_errors("password required off loopback (IPv6 any)", "[http]\nlisten = ::\n",
		      no_token, 1);
	expect_errors("a token alone is not enough off loopback",
		      "[http]\nlisten = 0.0.0.0\ntoken = s3cret\n", (const char *const[]){
		      "2: listen: admin_password_hash is required when listen is not a loopback "
		      "address: set it with airmixctl passwd" }, 1);
	expect_errors("a password hash must look like one", "[http]\nadmin_password_hash = "
		      "secret word\n", bad_hash, 1);
	expect_errors("tls_cert without tls_key", "[http]\ntls_cert = /c.pem\n", tls_half, 1);
	rc = load_text("[http]\ntls_cert = /c.pem\ntls_key = /k.pem\n", &c, &errs);
	CHECK(rc == 0 && !strcmp(c.http_tls_key, "/k.pem"), "tls_cert with tls_key is accepted");
	rc = load_text("[http]\nlisten = 0.0.0.0\nadmin_password_hash = \"$y$j9T$salt$hash\"\n",
		       &c, &errs);
	CHECK(rc == 0 && !strcmp(c.http_admin_hash, "$y$j9T$salt$hash"),
	      "0.0.0.0 with a password hash is accepted");
	rc = load_text("[http]\nlisten = ::1\n", &c, &errs);
	CHECK(rc == 0 && !strcmp(c.http_listen, "::1"), "::1 needs no token");
	rc = load_text("[http]\nlisten = localhost\n", &c, &errs);
	CHECK(rc == 0, "localhost needs no token");
	rc = load_text("[http]\nlisten = 127.0.0.2\n", &c, &errs);
	CHECK(rc == 0, "127.0.0.2 is loopback");
	rc = load_text("[engine]\nperiod_frames = 8192\nmax_period_frames = 8192\n", &c, &errs);
	CHECK(rc == 0 && c.period_frames == 8192, "period_frames == max_period_frames is fine");
	rc = load_text("[engine]\nperiod_frames = abc\nmax_period_frames = 64\n", &c, &errs);
	CHECK(rc == -EINVAL && errs.count == 1, "a refused value is not cross-checked again (%d)",
	      errs.count);
	expect_errors("an rtc app id has 24 characters", "[rtc]\napp_id = abc\n", short_app_id,
		      1);
	rc = load_text("[rtc]\napp_id = 123456781234567812345678\n", &c, &errs);
	CHECK(rc == 0 && strlen(c.rtc_app_id) == 24, "a 24-character app id is accepted");
	rc = load_text("[rtc]\nmax_users = 51\n", &c, &errs);
	CHECK(rc == -EINVAL && strstr(errs.items[0].text, "51 is out of range 1..50 users"),
	      "more users than the reference allows is refused: %s", errs.items[0].text);	test_webrtc_servers();
}

static void test_config_set(void)
{
	struct airmix_config c, before;
	struct config_errors errs;
	int rc;

	config_defaults(&c);
	rc = config_set(&c, "engine", "backend", "offline", "--backend", &errs);
	CHECK(rc == 0 && c.backend == BACKEND_OFFLINE && errs.count == 0, "set backend offline");
	rc = config_set(&c, "engine", "sample_rate", "\"44100\"", "api", &errs);
	CHECK(rc == 0 && c.sample_rate == 44100, "quoted number accepted");
	rc = config_set(&c, "alsa", "format", "float_le", "api", &errs);
	CHECK(rc == 0 && !strcmp(c.alsa_format, "FLOAT_LE"), "enum matched without case, stored "
	      "as spelled in the table");
	before = c;
	rc = config_set(&c, "engine", "sample_rate", "7999", "--rate", &errs);
	CHECK(rc == -EINVAL && errs.count == 1 &&
	      !strcmp(errs.items[0].text, "--rate: sample_rate: 7999 is out of range 8000..192000 Hz")
	      && !memcmp(&c, &before, sizeof(c)), "bad value refused, config untouched: %s",
	      errs.items[0].text);
	rc = config_set(&c, "engine", "nope", "1", "api", &errs);
	CHECK(rc == -ENOENT && errs.count == 1 &&
	      !strcmp(errs.items[0].text, "api: nope: unknown key \"nope\" in [engine]"),
	      "unknown key: %s", errs.items[0].text);
	rc = config_set(&c, "engine", "period_frames", "16384", "api", &errs);
	CHECK(rc == -EINVAL && !memcmp(&c, &before, sizeof(c)),
	      "period_frames above its own range refused");
	rc = config_set(&c, "engine", "max_period_frames", "128", "api", &errs);
	CHECK(rc == -EINVAL && errs.count == 1 &&
	      !strcmp(errs.items[0].text, "api: max_period_frames: period_frames (256) must not "
		      "be larger than max_period_frames (128)") && !memcmp(&c, &before, sizeof(c)),
	      "cross check through config_set: %s", errs.items[0].text);
	rc = config_set(&c, "http", "listen", "0.0.0.0", "api", &errs);
	CHECK(rc == -EINVAL && strstr(errs.items[0].text, "admin_password_hash is required"),
	      "listen off loopback without a password refused");
	rc = config_set(&c, "http", "admin_password_hash", "$y$j9T$s$h", "api", &errs) ||
	     config_set(&c, "http", "listen", "0.0.0.0", "api", &errs);
	CHECK(rc == 0 && !strcmp(c.http_listen, "0.0.0.0"), "password first, then listen");
	rc = config_set(&c, "http", "admin_password_hash", "", "api", &errs);
	CHECK(rc == -EINVAL && !strcmp(c.http_admin_hash, "$y$j9T$s$h") &&
	      !strcmp(errs.items[0].text, "api: admin_password_hash: admin_password_hash is "
		      "required when listen is not a loopback address: set it with airmixctl "
		      "passwd"), "the password cannot be emptied while listen is public");
	rc = config_set(&c, "engine", "lock_memory", "off", NULL, NULL);
	CHECK(rc == 0 && !c.lock_memory, "NULL where and errs are allowed");
}

static void test_restart_needed(void)
{
	struct airmix_config a, a2, b;
	struct config_errors errs;
	char buf[256];
	bool all = true;
	int n;

	config_defaults(&a);
	b = a;
	CHECK(config_restart_needed(&a, &b, buf, sizeof(buf)) == 0 && !buf[0], "same: none");
	config_set(&b, "engine", "limiter_ceiling_db", "-3", "t", &errs);
	config_set(&b, "tone", "enabled", "on", "t", &errs);
	config_set(&b, "log", "level", "debug", "t", &errs);
	CHECK(config_restart_needed(&a, &b, buf, sizeof(buf)) == 0, "live keys need no restart");
	config_set(&b, "engine", "sample_rate", "44100", "t", &errs);
	config_set(&b, "http", "port", "9090", "t", &errs);
	n = config_restart_needed(&a, &b, buf, sizeof(buf));
	CHECK(n == 2 && !strcmp(buf, "engine.sample_rate, http.port"), "two restart keys: %d %s",
	      n, buf);
	n = config_restart_needed(&a, &b, buf, 8);
	CHECK(n == 2 && strlen(buf) == 7, "short buffer: still counted, text cut (%s)", buf);

	/* each key alone: a restart exactly when the key is not live */
	for (size_t i = 0; i < SPEC_COUNT; i++) {
		const struct spec *s = &spec[i];
		char v[64];

		b = a;
		if (!strcmp(s->type, "int") || !strcmp(s->type, "double"))
			snprintf(v, sizeof(v), "%.15g", s->hi);
		else if (!strcmp(s->type, "bool"))
			snprintf(v, sizeof(v), "%s", !strcmp(key_info(s->section, s->key)->def, "true") ?
				 "false" : "true");
		else if (!strcmp(s->type, "enum"))
			snprintf(v, sizeof(v), "%.*s", (int)strcspn(strchr(s->choices, ',') + 1, ","),
				 strchr(s->choices, ',') + 1);
		else
			snprintf(v, sizeof(v), "/changed");
		if (!strcmp(s->key, "period_frames"))
			snprintf(v, sizeof(v), "512");
		if (!strcmp(s->key, "listen"))
			snprintf(v, sizeof(v), "::1");
		if (!strcmp(s->key, "app_id") || !strcmp(s->key, "interfaces") ||
		    strstr(s->key, "_server"))
			snprintf(v, sizeof(v), "%s", good_string(s->key));
		if (!strcmp(s->key, "max_users") || !strcmp(s->key, "max_streams") ||
		    !strcmp(s->key, "return_channels"))
			snprintf(v, sizeof(v), "%.15g", s->lo);	/* the default is the top */
		if (strstr(s->key, "password_hash"))
			snprintf(v, sizeof(v), "$y$j9T$s$h");
		if (!strncmp(s->key, "tls_", 4)) {	/* the partner is set on both sides */
			snprintf(b.http_tls_cert, sizeof(b.http_tls_cert), "/c.pem");
			snprintf(b.http_tls_key, sizeof(b.http_tls_key), "/k.pem");
			a2 = a;
			snprintf(a2.http_tls_cert, sizeof(a2.http_tls_cert), "%s", b.http_tls_cert);
			snprintf(a2.http_tls_key, sizeof(a2.http_tls_key), "%s", b.http_tls_key);
		} else {
			a2 = a;
		}
		if (config_set(&b, s->section, s->key, v, "t", &errs)) {
			show_errors(&errs);
			all = false;
			continue;
		}
		n = config_restart_needed(&a2, &b, buf, sizeof(buf));
		if (n != (s->live ? 0 : 1)) {
			printf("# [%s] %s = %s: restart count %d\n", s->section, s->key, v, n);
			all = false;
		}
	}
	CHECK(all, "every key alone: restart needed exactly when not live");
}

static void test_line_counting(void)
{
	static char text[8192];
	static const char *const after_long[] = { "6: sample_rate: \"fast\" is not an integer" };
	static const char *const long_key[] = {
		"3: connect_outputs: line is too long (318 characters, at most 198)",
		"5: period_frames: 1 is out of range 16..8192 frames",
	};
	static const char *const long_junk[] = {
		"2: syntax error: line is too long (300 characters, at most 198)",
	};
	struct airmix_config c;
	struct config_errors errs;
	char c301[302], c1100[1101], r300[301];
	int rc;

	memset(c301, 'c', sizeof(c301) - 1);
	c301[0] = '#';
	c301[sizeof(c301) - 1] = '\0';
	memset(c1100, 'c', sizeof(c1100) - 1);
	c1100[0] = '#';
	c1100[sizeof(c1100) - 1] = '\0';
	memset(r300, 'r', sizeof(r300) - 1);
	r300[sizeof(r300) - 1] = '\0';

	/* the ";" line ends in "= 2": read in pieces it would look like a key */
	snprintf(text, sizeof(text), "[engine]\n%s\n; %s = 2\n\n%s\nsample_rate = fast\n", c301,
		 c1100, c1100);
	expect_errors("line numbers right after 301- and 1100-character comment lines", text,
		      after_long, 1);
	snprintf(text, sizeof(text), "[jack]\n# ok\nconnect_outputs = %s\n[engine]\n"
		 "period_frames = 1\n", r300);
	expect_errors("a key line too long for inih is an error with its key and line", text,
		      long_key, 2);
	snprintf(text, sizeof(text), "[jack]\n%s\n", r300);
	expect_errors("a long line without = is a syntax error", text, long_junk, 1);

	rc = load_text("\xEF\xBB\xBF[engine]\r\n  sample_rate = 44100 ; inline comment\r\n"
		       "\tbackend = \"offline\"\r\n[http]\r\ntoken = a;b\r\n", &c, &errs);
	show_errors(&errs);
	CHECK(rc == 0 && c.sample_rate == 44100 && c.backend == BACKEND_OFFLINE &&
	      !strcmp(c.http_token, "a;b"), "BOM, CRLF, indentation, quotes, inline comments");
	rc = load_text("", &c, &errs);
	CHECK(rc == 0 && c.sample_rate == 48000, "an empty file gives the defaults");

	/* a header with a long comment after it still opens its section */
	snprintf(text, sizeof(text), "[http]\n[ engine ] ; %s\nsample_rate = 7999\n", r300);
	rc = load_text(text, &c, &errs);
	CHECK(rc == -EINVAL && errs.count == 1 && strstr(errs.items[0].text, ":3: sample_rate: "),
	      "long comment after a section header: %s", errs.items[0].text);
}

/* Random lines made of INI pieces and junk bytes: never a crash (the ASan
 * build watches memory), and errors exactly when refused. */
static void test_garbage(void)
{
	static const char *const pieces[] = {
		"[engine]", "[http]", "[", "]", "sample_rate", "token", "listen", " = ", "=", ":",
		";", "#", "\"", "48000", "0.0.0.0", "\r", "\t", "\xEF\xBB\xBF", "\xff", "\n",
		"\n", "\n", "period_frames", "max_period_frames", "1e999", "-", "0x10",
	};
	struct airmix_config c;
	struct config_errors errs;
	unsigned seed = 12345;
	bool consistent = true;
	static char text[4096];

	for (int round = 0; round < 2000; round++) {
		size_t used = 0;
		int n;

		seed = seed * 1103515245u + 12345u;
		n = (int)(seed >> 16) % 60;
		for (int i = 0; i < n && used + 256 < sizeof(text); i++) {
			const char *piece;

			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 40 == 0) {
				memset(text + used, 'z', 250);
				used += 250;
				continue;
			}
			piece = pieces[(seed >> 16) % (sizeof(pieces) / sizeof(pieces[0]))];
			memcpy(text + used, piece, strlen(piece));
			used += strlen(piece);
		}
		text[used] = '\0';
		config_defaults(&c);
		n = load_text(text, &c, &errs);
		if ((n == 0) != (errs.count == 0) || (n != 0 && n != -EINVAL)) {
			printf("# round %d: rc %d with %d errors\n", round, n, errs.count);
			consistent = false;
		}
	}
	CHECK(consistent, "2000 random files: no crash, refused exactly when errors are given");
}

static void test_misc(void)
{
	struct airmix_config c;
	struct config_errors errs;
	char buf[CONFIG_STR_MAX];
	int rc;

	rc = config_load("/nonexistent/airmix.conf", &c, &errs);
	CHECK(rc == -ENOENT && errs.count == 1 &&
	      starts_with(errs.items[0].text, "/nonexistent/airmix.conf: cannot open: "),
	      "missing file: %s", errs.items[0].text);
	rc = config_load(dir, &c, &errs);
	CHECK(rc < 0 && errs.count == 1, "a directory is refused: %s", errs.items[0].text);

	config_defaults(&c);
	CHECK(config_get_text(&c, "engine", "limiter_ceiling_db", buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "-1"), "get double: %s", buf);
	CHECK(config_get_text(&c, "engine", "backend", buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "auto"), "get enum: %s", buf);
	CHECK(config_get_text(&c, "engine", "lock_memory", buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "true"), "get bool: %s", buf);
	CHECK(config_get_text(&c, "jack", "client_name", buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "airmix"), "get string: %s", buf);
	CHECK(config_get_text(&c, "engine", "nope", buf, sizeof(buf)) == -ENOENT, "get unknown");
	CHECK(config_get_text(&c, "engine", "sample_rate", buf, 3) == -ENOSPC, "get, short buffer");
	config_set(&c, "tone", "frequency_hz", "997.1", "t", &errs);
	CHECK(config_get_text(&c, "tone", "frequency_hz", buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "997.1"), "get double, shortest text: %s", buf);

	config_defaults(&c);
	config_resolve_paths(&c);
	CHECK(!strcmp(c.media_dir, "var/media") && !strcmp(c.recordings_dir, "var/recordings") &&
	      !strcmp(c.history_db, "var/history.db"), "paths under the default data_dir");
	config_defaults(&c);
	config_set(&c, "paths", "data_dir", "/srv/airmix/", "t", &errs);
	config_set(&c, "paths", "media_dir", "/media/clips", "t", &errs);
	config_resolve_paths(&c);
	CHECK(!strcmp(c.media_dir, "/media/clips") &&
	      !strcmp(c.recordings_dir, "/srv/airmix/recordings") &&
	      !strcmp(c.history_db, "/srv/airmix/history.db"), "paths: set ones kept, no //");

	CHECK(!strcmp(config_backend_name(BACKEND_AUTO), "auto") &&
	      !strcmp(config_backend_name(BACKEND_JACK), "jack") &&
	      !strcmp(config_backend_name(BACKEND_ALSA), "alsa") &&
	      !strcmp(config_backend_name(BACKEND_INTERNAL), "internal") &&
	      !strcmp(config_backend_name(BACKEND_OFFLINE), "offline") &&
	      !strcmp(config_backend_name(99), "unknown") &&
	      !strcmp(config_backend_name(-1), "unknown"), "backend names");
}

/* conf/airmix.conf: under $TOP, else the working directory, else two levels
 * above this binary (BUILD/tests/test_config). */
static void find_conf(void)
{
	const char *top = getenv("TOP");
	char exe[400];
	ssize_t n;

	if (top && *top) {
		snprintf(conf, sizeof(conf), "%s/conf/airmix.conf", top);
		return;
	}
	snprintf(conf, sizeof(conf), "conf/airmix.conf");
	if (access(conf, R_OK) == 0)
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	for (int up = 0; up < 3; up++) {
		char *slash = strrchr(exe, '/');

		if (slash)
			*slash = '\0';
	}
	snprintf(conf, sizeof(conf), "%s/conf/airmix.conf", exe);
}

int main(void)
{
	find_conf();
	snprintf(dir, sizeof(dir), "/tmp/airmix-test-config.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/t.conf", dir);

	test_table_matches_spec();
	test_defaults();
	test_shipped_config();
	test_shipped_docs();
	test_bad_values();
	test_long_strings();
	test_file_errors();
	test_many_errors();
	test_cross_checks();
	test_config_set();
	test_restart_needed();
	test_line_counting();
	test_garbage();
	test_misc();

	unlink(path);
	rmdir(dir);
	return CHECK_DONE();
}
