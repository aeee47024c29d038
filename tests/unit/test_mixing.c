/* test_mixing.c - the audio mixing manager on the offline clock: every state
 * transition and error code of the reference, in order, with the history
 * rows; sample-exact playback, volume, loops, seeks and routing; pitch and
 * speed; resampled files; bad files; a stalled reader.
 *
 * Threads: the main thread steps the manual offline clock (acting as the RT
 * thread); the manager's worker runs beside it and mixing_sync() makes the
 * rings full before each stretch of cycles, so results are deterministic.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "offline.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/history.h"
#include "engine/mixing.h"

#define RATE 48000
#define PERIOD 128

static char dir[256];

/* ---- fixtures ------------------------------------------------------------ */

struct seen {
	int id, state, error;
};

static struct seen events[256];
static int n_events;
static int failed_events;
static int all_events;

static void on_notice(const struct engine_notice *n, void *user)
{
	struct seen s = { 0 };

	if (strcmp(n->event, "audio_mixing.state") || !n->data_json || n_events == 256)
		return;
	if (sscanf(n->data_json, "{\"id\":%d,\"state\":%d", &s.id, &s.state) != 2)
		return;
	s.error = n->code;
	failed_events += s.state == MIXING_FAILED;
	all_events++;
	events[n_events++] = s;
}

struct rig {
	struct engine *e;
	struct history *h;
	struct mixing *m;
};

static void rig_open(struct rig *r, uint32_t max_ids)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct history_config hc = { .path = "", .queue_rows = 4096, .flush_ms = 20 };
	struct mixing_config mc = { .max_ids = max_ids, .stream_ahead_ms = 2000,
				    .preload_max_s = 20.0, .media_dirs = { dir, NULL } };
	char err[256];

	offline_config(&cfg, RATE, PERIOD);
	cfg.limiter_lookahead_ms = 0.0;
	cfg.limiter_ceiling_db = 0.0;
	if (history_open(&hc, &r->h) < 0 || engine_create(&cfg, &opts, r->h, &r->e, err, sizeof(err)) < 0 ||
	    engine_start(r->e, err, sizeof(err)) < 0 || mixing_create(r->e, &mc, &r->m) < 0) {
		printf("# rig: %s\n", err);
		exit(1);
	}
	engine_subscribe(r->e, on_notice, NULL);
	n_events = 0;
	failed_events = 0;
	all_events = 0;
}

static void rig_close(struct rig *r)
{
	mixing_destroy(r->m);
	engine_destroy(r->e);
	history_close(r->h);
}

/* Run n frames (multiple of PERIOD) in stretches of at most 1 s, filling the
 * rings before each. out: four channels or NULL. */
static void run(struct rig *r, uint32_t n, float **out)
{
	uint32_t done = 0;

	while (done < n) {
		uint32_t k = n - done > RATE ? RATE : n - done;
		float *o[4];

		for (int c = 0; c < 4; c++)
			o[c] = out && out[c] ? out[c] + done : NULL;
		mixing_sync(r->m);
		engine_offline_run(r->e, k, NULL, o);
		mixing_sync(r->m);
		done += k;
	}
	engine_sync_events(r->e);
}

static float **outs(uint32_t n)
{
	float **o = calloc(4, sizeof(float *));

	for (int c = 0; c < 4; c++)
		o[c] = calloc(n, sizeof(float));
	return o;
}

static void outs_free(float **o)
{
	for (int c = 0; c < 4; c++)
		free(o[c]);
	free(o);
}

/* Writes a float WAV (or another format) of a sine, or of noise if freq is 0. */
static void write_file(const char *name, int format, uint32_t rate, int channels, double seconds,
		       double freq, float amp)
{
	char path[512];
	SF_INFO info = { .samplerate = (int)rate, .channels = channels, .format = format };
	sf_count_t n = (sf_count_t)(seconds * rate);
	float *buf = malloc((size_t)n * channels * sizeof(float));
	SNDFILE *f;

	srand(42);
	for (sf_count_t i = 0; i < n; i++)
		for (int c = 0; c < channels; c++)
			buf[i * channels + c] = freq > 0 ? amp * (float)sin(2 * M_PI * freq * i / rate + c)
							 : amp * (2.0f * rand() / (float)RAND_MAX - 1.0f);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = sf_open(path, SFM_WRITE, &info);
	if (!f) {
		printf("# cannot write %s: %s\n", path, sf_strerror(NULL));
		exit(1);
	}
	sf_writef_float(f, buf, n);
	sf_close(f);
	free(buf);
}

static float *read_wav(const char *name, sf_count_t *frames)
{
	char path[512];
	SF_INFO info = { 0 };
	SNDFILE *f;
	float *buf;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = sf_open(path, SFM_READ, &info);
	buf = malloc((size_t)info.frames * 2 * sizeof(float));
	sf_readf_float(f, buf, info.frames);
	sf_close(f);
	*frames = info.frames;
	return buf;
}

static const struct mixing_start_config once_publish = { MIXING_TYPE_PUBLISH, 1, 0, 0 };

/* ---- the table of transitions -------------------------------------------- */

static int expect_events(const char *what, const struct seen *want, int n_want)
{
	int ok = n_events == n_want;

	for (int i = 0; ok && i < n_want; i++)
		ok = events[i].id == want[i].id && events[i].state == want[i].state &&
		     events[i].error == want[i].error;
	CHECK(ok, "%s: events in order", what);
	if (!ok) {
		for (int i = 0; i < n_events; i++)
			printf("#   got  (%d, %s, %s)\n", events[i].id, mixing_state_name(events[i].state),
			       mixing_error_name(events[i].error));
		for (int i = 0; i < n_want; i++)
			printf("#   want (%d, %s, %s)\n", want[i].id, mixing_state_name(want[i].state),
			       mixing_error_name(want[i].error));
	}
	n_events = 0;
	return ok;
}

#define EXPECT(what, ...)                                                        \
	do {                                                                     \
		static const struct seen want_[] = { __VA_ARGS__ };              \
		expect_events(what, want_, (int)(sizeof(want_) / sizeof(want_[0]))); \
	} while (0)

static void test_transitions(void)
{
	struct rig r;
	struct mixing_start_config loop = { MIXING_TYPE_PLAYOUT_AND_PUBLISH, 0, 0, 52 };
	struct mixing_info info;

	rig_open(&r, 64);
	CHECK(mixing_preload(r.m, 1, "clip.wav") == MIXING_OK, "preload");
	EXPECT("preload", { 1, MIXING_PRELOADED, 0 });
	CHECK(mixing_preload(r.m, 2, "long21.wav") == MIXING_PRELOAD_FAILED, "preload of a 21 s clip");
	EXPECT("preload 21 s", { 2, MIXING_FAILED, MIXING_PRELOAD_FAILED });
	CHECK(mixing_start(r.m, 1, "music.wav", &once_publish) == MIXING_LOAD_CONFLICT,
	      "start of another file on a preloaded id");
	EXPECT("load conflict", { 1, MIXING_FAILED, MIXING_LOAD_CONFLICT });
	CHECK(mixing_start(r.m, 1, "clip.wav", &loop) == MIXING_OK, "start the preloaded clip");
	EXPECT("start preloaded", { 1, MIXING_PLAYING, 0 });
	mixing_get_info(r.m, 1, &info);
	CHECK(info.progress_interval_ms == 60, "progress interval 52 ms rounds up to 60");
	run(&r, PERIOD * 8, NULL);
	CHECK(mixing_start(r.m, 3, "music.wav", &loop) == MIXING_OK, "start a second id");
	CHECK(mixing_start(r.m, 3, "music.wav", &loop) == MIXING_OK, "restart the same id");
	EXPECT("restart", { 3, MIXING_PLAYING, 0 }, { 3, MIXING_STOPPED, 0 }, { 3, MIXING_PLAYING, 0 });
	CHECK(mixing_pause(r.m, 3) == MIXING_OK && mixing_resume(r.m, 3) == MIXING_OK, "pause, resume");
	EXPECT("pause/resume", { 3, MIXING_PAUSED, 0 }, { 3, MIXING_PLAYING, 0 });
	CHECK(mixing_set_volume(r.m, 3, 401, MIXING_TYPE_PUBLISH) == MIXING_INVALID_VOLUME, "volume 401");
	CHECK(mixing_set_volume(r.m, 3, -1, MIXING_TYPE_PUBLISH) == MIXING_INVALID_VOLUME, "volume -1");
	CHECK(mixing_set_pitch(r.m, 3, 13) == MIXING_INVALID_PITCH, "pitch 13");
	CHECK(mixing_set_playback_speed(r.m, 3, 49) == MIXING_INVALID_PLAYBACK_SPEED, "speed 49");
	CHECK(mixing_set_playback_speed(r.m, 3, 201) == MIXING_INVALID_PLAYBACK_SPEED, "speed 201");
	CHECK(mixing_set_position(r.m, 3, 10000) == MIXING_SET_POSITION_FAILED, "seek past the end");
	CHECK(mixing_set_position(r.m, 3, 3000) == MIXING_SET_POSITION_FAILED, "seek at the end");
	CHECK(mixing_select_audio_track(r.m, 3, 1) == MIXING_INVALID_AUDIO_TRACK, "track 1 of 1");
	EXPECT("invalid setters", { 3, MIXING_FAILED, MIXING_INVALID_VOLUME },
	       { 3, MIXING_FAILED, MIXING_INVALID_VOLUME }, { 3, MIXING_FAILED, MIXING_INVALID_PITCH },
	       { 3, MIXING_FAILED, MIXING_INVALID_PLAYBACK_SPEED },
	       { 3, MIXING_FAILED, MIXING_INVALID_PLAYBACK_SPEED },
	       { 3, MIXING_FAILED, MIXING_SET_POSITION_FAILED },
	       { 3, MIXING_FAILED, MIXING_SET_POSITION_FAILED },
	       { 3, MIXING_FAILED, MIXING_INVALID_AUDIO_TRACK });
	mixing_get_info(r.m, 3, &info);
	CHECK(info.state == MIXING_PLAYING && info.volume[1] == 100,
	      "an invalid setter reports and keeps playing at the old value");
	CHECK(mixing_set_volume(r.m, 99, 50, 2) == MIXING_ID_NOT_FOUND, "volume of an unknown id");
	CHECK(mixing_pause(r.m, 99) == MIXING_ID_NOT_FOUND, "pause of an unknown id");
	CHECK(mixing_stop(r.m, 3) == MIXING_OK, "stop");
	CHECK(mixing_set_playback_speed(r.m, 3, 100) == MIXING_ID_NOT_FOUND, "speed after stop");
	CHECK(mixing_set_pitch(r.m, 3, 0) == MIXING_ID_NOT_FOUND, "pitch after stop");
	CHECK(mixing_get_current_position(r.m, 3) == -MIXING_ID_NOT_FOUND, "position after stop");
	EXPECT("unknown and stopped ids", { 99, MIXING_FAILED, MIXING_ID_NOT_FOUND },
	       { 99, MIXING_FAILED, MIXING_ID_NOT_FOUND }, { 3, MIXING_STOPPED, 0 },
	       { 3, MIXING_FAILED, MIXING_ID_NOT_FOUND }, { 3, MIXING_FAILED, MIXING_ID_NOT_FOUND },
	       { 3, MIXING_FAILED, MIXING_ID_NOT_FOUND });
	CHECK(mixing_start(r.m, 4, "missing.wav", &once_publish) == MIXING_START_FAILED, "missing file");
	CHECK(mixing_start(r.m, 4, "subdir", &once_publish) == MIXING_START_FAILED, "a directory");
	CHECK(mixing_start(r.m, 4, "text.wav", &once_publish) == MIXING_START_FAILED, "text named .wav");
	CHECK(mixing_start(r.m, 4, "truncated.wav", &once_publish) == MIXING_START_FAILED, "truncated WAV");
	CHECK(mixing_start(r.m, 4, "../etc/passwd", &once_publish) == MIXING_START_FAILED, "path with ..");
	CHECK(mixing_start(r.m, 4, "/etc/passwd", &once_publish) == MIXING_START_FAILED, "path outside media");
	CHECK(mixing_start(r.m, 4, "escape.wav", &once_publish) == MIXING_START_FAILED, "symlink out of media");
	CHECK(mixing_preload(r.m, 5, "truncated.wav") == MIXING_PRELOAD_FAILED, "preload of a truncated WAV");
	EXPECT("bad files", { 4, MIXING_FAILED, MIXING_START_FAILED }, { 4, MIXING_FAILED, MIXING_START_FAILED },
	       { 4, MIXING_FAILED, MIXING_START_FAILED }, { 4, MIXING_FAILED, MIXING_START_FAILED },
	       { 4, MIXING_FAILED, MIXING_START_FAILED }, { 4, MIXING_FAILED, MIXING_START_FAILED },
	       { 4, MIXING_FAILED, MIXING_START_FAILED }, { 5, MIXING_FAILED, MIXING_PRELOAD_FAILED });
	CHECK(mixing_unload(r.m, 1) == MIXING_OK, "unload a playing clip");
	EXPECT("unload", { 1, MIXING_STOPPED, 0 });
	{
		struct history_filter f = { .domain = AIRMIX_DOMAIN_AUDIO_MIXING, .limit = 100 };
		struct history_row rows[100];
		size_t n = 0;
		int64_t total = 0;
		int failed = 0, truncated_msg = 0, text_msg = 0;

		history_sync(r.h, 2000);
		history_query(r.h, &f, rows, 100, &n, &total, NULL, 0);
		for (size_t i = 0; i < n; i++) {
			failed += rows[i].level == AIRMIX_LEVEL_ERROR;
			truncated_msg |= strstr(rows[i].message, "truncated.wav: ") != NULL;
			text_msg |= strstr(rows[i].message, "text.wav: ") != NULL;
		}
		CHECK(total == all_events, "every state change and error is a history row (%lld of %d)",
		      (long long)total, all_events);
		CHECK(failed == failed_events, "every failure is an error row (%d of %d)", failed,
		      failed_events);
		CHECK(truncated_msg && text_msg, "bad files' rows carry the decoder's message");
	}
	rig_close(&r);
}

static void test_id_limit(void)
{
	struct rig r;
	int ok = 1;

	rig_open(&r, 4);
	for (int id = 0; id < 4; id++)
		ok &= mixing_preload(r.m, id, "clip.wav") == MIXING_OK;
	CHECK(ok, "four ids fit a limit of four");
	CHECK(mixing_preload(r.m, 4, "clip.wav") == MIXING_PRELOAD_FAILED, "a fifth id is refused");
	CHECK(mixing_start(r.m, 5, "clip.wav", &once_publish) == MIXING_START_FAILED, "also for start");
	mixing_unload(r.m, 0);
	CHECK(mixing_preload(r.m, 4, "clip.wav") == MIXING_OK, "after an unload there is room again");
	rig_close(&r);
}

/* ---- sample-exact -------------------------------------------------------- */

static void test_bit_exact_and_volume(void)
{
	struct rig r;
	sf_count_t frames;
	float *src = read_wav("music.wav", &frames);
	uint32_t n = (uint32_t)(frames / PERIOD + 4) * PERIOD;
	float **o = outs(n);
	int exact = 1, half = 1, silent_playout = 1, tail = 1;

	rig_open(&r, 64);
	CHECK(mixing_start(r.m, 7, "music.wav", &once_publish) == MIXING_OK, "start music");
	run(&r, n, o);
	for (sf_count_t i = 0; i < frames; i++) {
		exact &= o[0][i] == src[2 * i] && o[1][i] == src[2 * i + 1];
		silent_playout &= o[2][i] == 0.0f && o[3][i] == 0.0f;
	}
	for (uint32_t i = (uint32_t)frames; i < n; i++)
		tail &= o[0][i] == 0.0f;
	CHECK(exact, "a 48 kHz file at volume 100 is bit-identical on the publish bus");
	CHECK(silent_playout, "type publish reaches only the publish bus");
	CHECK(tail, "silence after the end");
	EXPECT("played once", { 7, MIXING_PLAYING, 0 }, { 7, MIXING_FINISHED, 0 });

	CHECK(mixing_preload(r.m, 8, "clip.wav") == MIXING_OK, "preload");
	CHECK(mixing_set_volume(r.m, 8, 50, MIXING_TYPE_PLAYOUT_AND_PUBLISH) == MIXING_OK,
	      "volume 50 before start");
	{
		struct mixing_start_config c = { MIXING_TYPE_PLAYOUT, 1, 0, 0 };
		sf_count_t cf;
		float *clip = read_wav("clip.wav", &cf);

		CHECK(mixing_start(r.m, 8, "clip.wav", &c) == MIXING_OK, "start clip on playout");
		run(&r, n, o);
		for (sf_count_t i = 0; i < cf; i++) {
			half &= o[2][i] == clip[2 * i] * 0.5f && o[3][i] == clip[2 * i + 1] * 0.5f;
			silent_playout &= o[0][i] == 0.0f;
		}
		CHECK(half, "volume 50 halves every sample");
		CHECK(silent_playout, "type playout reaches only the playout bus");
		free(clip);
	}
	rig_close(&r);
	outs_free(o);
	free(src);
}

static void test_loops_and_seek(void)
{
	struct rig r;
	sf_count_t frames;
	float *src = read_wav("clip.wav", &frames);
	uint32_t n = (uint32_t)(frames * 3 / PERIOD + 8) * PERIOD;
	float **o = outs(n);
	struct mixing_start_config three = { MIXING_TYPE_PUBLISH, 3, 0, 0 };
	int exact = 1, after = 1;
	int64_t pos, played;

	rig_open(&r, 64);
	CHECK(mixing_start(r.m, 9, "clip.wav", &three) == MIXING_OK, "start with play_count 3");
	run(&r, n, o);
	for (sf_count_t i = 0; i < 3 * frames; i++)
		exact &= o[0][i] == src[2 * (i % frames)];
	for (uint32_t i = (uint32_t)(3 * frames); i < n; i++)
		after &= o[0][i] == 0.0f;
	CHECK(exact, "play_count 3 plays the file three times back to back");
	CHECK(after, "and exactly three durations: silence after");
	EXPECT("three passes", { 9, MIXING_PLAYING, 0 }, { 9, MIXING_FINISHED, 0 });

	CHECK(mixing_start(r.m, 10, "music.wav", &three) == MIXING_OK, "start music");
	run(&r, PERIOD * 100, NULL);
	CHECK(mixing_set_position(r.m, 10, 1500) == MIXING_OK, "seek to 1500 ms");
	run(&r, PERIOD, NULL);	/* the flush happens at this cycle start */
	run(&r, PERIOD * 10, NULL);
	pos = mixing_get_current_position(r.m, 10);
	CHECK(pos >= 1500 && pos <= 1500 + 1000 * PERIOD * 11 / RATE + 3,
	      "after a seek the position is where it was sent (%lld ms)", (long long)pos);
	played = mixing_get_playback_duration(r.m, 10);
	CHECK(played >= 1000 * PERIOD * 100 / RATE && played <= 1000 * PERIOD * 112 / RATE,
	      "playback duration excludes the seek (%lld ms)", (long long)played);
	CHECK(mixing_get_duration(r.m, 10) == 3000, "duration of a 3 s file is 3000 ms");
	rig_close(&r);
	outs_free(o);
	free(src);
}

/* Largest magnitude in x[0..n). */
static float peak(const float *x, uint32_t n)
{
	float m = 0.0f;

	for (uint32_t i = 0; i < n; i++)
		m = fmaxf(m, fabsf(x[i]));
	return m;
}

/* Largest step between neighbouring samples of x[0..n). */
static float largest_step(const float *x, uint32_t n)
{
	float m = 0.0f;

	for (uint32_t i = 1; i < n; i++)
		m = fmaxf(m, fabsf(x[i] - x[i - 1]));
	return m;
}

/* A seek or a speed change in mid-sine: the old position fades out over the
 * flush cycle and the new one fades in, so no sample jumps by more than the
 * sine's own steepest step, and the gap between them lasts under a period. */
static void test_flush_declick(void)
{
	const float sine_step = (float)(2 * M_PI * 440 / RATE * 0.5);
	struct rig r;
	uint32_t n = PERIOD * 60;
	float **o = outs(n);

	rig_open(&r, 64);
	CHECK(mixing_start(r.m, 11, "sine48.wav", &once_publish) == MIXING_OK, "start a sine");
	for (int k = 0; k < 2; k++) {
		uint32_t quiet = 0, run_len = 0;
		float step;

		run(&r, PERIOD * 50, o);
		if (k == 0)
			CHECK(mixing_set_position(r.m, 11, 1000) == MIXING_OK, "seek to 1000 ms");
		else
			CHECK(mixing_set_playback_speed(r.m, 11, 150) == MIXING_OK, "speed 150");
		/* the flush cycle, then the refill (made before the next stretch) */
		run(&r, PERIOD, (float *[4]){ o[0] + PERIOD * 50, o[1] + PERIOD * 50, NULL, NULL });
		run(&r, PERIOD * 9, (float *[4]){ o[0] + PERIOD * 51, o[1] + PERIOD * 51, NULL,
						  NULL });
		step = largest_step(o[0] + PERIOD * 40, PERIOD * 20);
		for (uint32_t i = PERIOD * 40; i < n; i++) {
			run_len = fabsf(o[0][i]) < 1e-6f ? run_len + 1 : 0;
			quiet = run_len > quiet ? run_len : quiet;
		}
		CHECK(step <= sine_step * 1.2f,
		      "%s: no click (largest step %.4f, the sine's own %.4f)",
		      k ? "speed change" : "seek", step, sine_step);
		CHECK(quiet < PERIOD, "%s: the gap lasts %u frames", k ? "speed change" : "seek",
		      quiet);
	}
	rig_close(&r);
	outs_free(o);
}

/* Pause and resume in mid-sine fade out and in: no sample jumps by more
 * than the sine's own steepest step. */
static void test_pause_declick(void)
{
	const float sine_step = (float)(2 * M_PI * 440 / RATE * 0.5);
	struct rig r;
	uint32_t n = PERIOD * 70;
	float **o = outs(n);
	float step;

	rig_open(&r, 64);
	CHECK(mixing_start(r.m, 12, "sine48.wav", &once_publish) == MIXING_OK, "start a sine");
	run(&r, PERIOD * 50, o);
	CHECK(mixing_pause(r.m, 12) == MIXING_OK, "pause");
	run(&r, PERIOD * 10, (float *[4]){ o[0] + PERIOD * 50, o[1] + PERIOD * 50, NULL, NULL });
	CHECK(mixing_resume(r.m, 12) == MIXING_OK, "resume");
	run(&r, PERIOD * 10, (float *[4]){ o[0] + PERIOD * 60, o[1] + PERIOD * 60, NULL, NULL });
	step = largest_step(o[0] + PERIOD * 40, PERIOD * 30);
	CHECK(step <= sine_step * 1.2f, "pause and resume: no click (largest step %.4f, the "
	      "sine's own %.4f)", step, sine_step);
	CHECK(peak(o[0] + PERIOD * 52, PERIOD * 8) == 0.0f &&
	      peak(o[0] + PERIOD * 62, PERIOD * 8) > 0.4f,
	      "silent while paused, the sine again after the resume");
	rig_close(&r);
	outs_free(o);
}

/* A start in mid-file fades in as a seek does: out of the silence before
 * it, no sample jumps by more than the sine's own steepest step (at 1 ms
 * the 440 Hz sine is at 0.37 of its peak). */
static void test_start_declick(void)
{
	const float sine_step = (float)(2 * M_PI * 440 / RATE * 0.5);
	const struct mixing_start_config at_1ms = { MIXING_TYPE_PUBLISH, 1, 1, 0 };
	struct rig r;
	uint32_t n = PERIOD * 14;
	float **o = outs(n);
	float step;

	rig_open(&r, 64);
	run(&r, PERIOD * 4, o);
	CHECK(mixing_start(r.m, 14, "sine48.wav", &at_1ms) == MIXING_OK, "start a sine at 1 ms");
	run(&r, PERIOD * 10, (float *[4]){ o[0] + PERIOD * 4, o[1] + PERIOD * 4, NULL, NULL });
	step = largest_step(o[0], n);
	CHECK(step <= sine_step * 1.2f, "no click (largest step %.4f, the sine's own %.4f)", step,
	      sine_step);
	CHECK(peak(o[0], PERIOD * 4) == 0.0f && peak(o[0] + PERIOD * 8, PERIOD * 6) > 0.4f,
	      "silence, then the sine");
	rig_close(&r);
	outs_free(o);
}

/* End of the sound: the last sample that is not silence. */
static uint32_t last_sound(const float *x, uint32_t n)
{
	uint32_t end = 0;

	for (uint32_t i = 0; i < n; i++)
		if (fabsf(x[i]) > 1e-4f)
			end = i + 1;
	return end;
}

struct stopper {
	struct mixing *m;
	int id;
	int ret;
	atomic_bool done;
};

static void *stop_thread(void *arg)
{
	struct stopper *s = arg;

	if (s->id)
		s->ret = mixing_stop(s->m, s->id);
	else
		mixing_stop_all(s->m);
	atomic_store(&s->done, true);
	return NULL;
}

/* Runs engine cycles into o from frame *at, a millisecond apart, until the
 * stopper is done (at most 10); the cycles run. */
static uint32_t cycles_while_stopping(struct rig *r, struct stopper *s, float **o, uint32_t *at)
{
	const struct timespec ms = { .tv_sec = 0, .tv_nsec = 1000000 };
	uint32_t cycles = 0;

	while (!atomic_load(&s->done) && cycles < 10) {
		nanosleep(&ms, NULL);
		engine_offline_run(r->e, PERIOD, NULL,
				   (float *[4]){ o[0] + *at, o[1] + *at, NULL, NULL });
		*at += PERIOD;
		cycles++;
	}
	return cycles;
}

/* A stop in mid-sine fades out before the node goes: the stop returns after
 * the RT cycle that played the fade (run here while it waits), and no
 * sample jumps by more than the sine's own steepest step. */
static void test_stop_declick(void)
{
	const float sine_step = (float)(2 * M_PI * 440 / RATE * 0.5);
	struct rig r;
	uint32_t n = PERIOD * 70, at = PERIOD * 50, cycles;
	float **o = outs(n);
	struct stopper s = { .id = 13, .ret = -1 };
	pthread_t th;
	float step;

	rig_open(&r, 64);
	s.m = r.m;
	CHECK(mixing_start(r.m, 13, "sine48.wav", &once_publish) == MIXING_OK, "start a sine");
	run(&r, at, o);
	CHECK(pthread_create(&th, NULL, stop_thread, &s) == 0, "stop from another thread");
	/* the engine's cycles, as a running clock gives them, while the stop
	 * waits (not through run(): the stop holds the mixing lock) */
	cycles = cycles_while_stopping(&r, &s, o, &at);
	pthread_join(th, NULL);
	run(&r, n - at, (float *[4]){ o[0] + at, o[1] + at, NULL, NULL });
	CHECK(s.ret == MIXING_OK && cycles < 10, "stopped within %u cycles", cycles);
	step = largest_step(o[0] + PERIOD * 40, PERIOD * 30);
	CHECK(step <= sine_step * 1.2f, "stop: no click (largest step %.4f, the sine's own %.4f)",
	      step, sine_step);
	CHECK(peak(o[0] + at, n - at) == 0.0f && peak(o[0] + PERIOD * 40, PERIOD * 10) > 0.4f,
	      "the sine until the stop, silence after it");
	rig_close(&r);
	outs_free(o);
}

/* Stop all of three sines: they fade out in the same cycle (one after the
 * other, the last would end two cycles after the first began), so the call
 * waits about one cycle, not one for each id, and nothing clicks. */
static void test_stop_all_declick(void)
{
	const float sine_step = (float)(2 * M_PI * 440 / RATE * 0.5);
	struct rig r;
	uint32_t n = PERIOD * 70, at = PERIOD * 50, cycles, fade = 50;
	float **o = outs(n);
	struct stopper s = { .id = 0 };
	pthread_t th;
	float step, steady;

	rig_open(&r, 64);
	s.m = r.m;
	for (int id = 15; id <= 17; id++)
		CHECK(mixing_start(r.m, id, "sine48.wav", &once_publish) == MIXING_OK, "start sine %d",
		      id);
	run(&r, at, o);
	CHECK(pthread_create(&th, NULL, stop_thread, &s) == 0, "stop all from another thread");
	cycles = cycles_while_stopping(&r, &s, o, &at);
	pthread_join(th, NULL);
	run(&r, n - at, (float *[4]){ o[0] + at, o[1] + at, NULL, NULL });
	steady = peak(o[0] + PERIOD * 40, PERIOD * 10);
	while (fade < 70 && peak(o[0] + fade * PERIOD, PERIOD) > 0.99f * steady)
		fade++;
	CHECK(cycles < 10 && fade < 70 && last_sound(o[0], n) <= (fade + 1) * PERIOD,
	      "all three faded out in cycle %u, the call returned after %u", fade - 50, cycles);
	step = largest_step(o[0] + PERIOD * 40, PERIOD * 30);
	CHECK(step <= 3 * sine_step * 1.2f, "no click (largest step %.4f, the three sines' own "
	      "%.4f)", step, 3 * sine_step);
	CHECK(peak(o[0] + at, n - at) == 0.0f, "silence after");
	rig_close(&r);
	outs_free(o);
}

/* ---- pitch, speed, rates ------------------------------------------------- */

/* Frequency by counting rising zero crossings with linear interpolation. */
static double frequency(const float *x, uint32_t n)
{
	double first = -1, last = -1;
	int count = 0;

	for (uint32_t i = 1; i < n; i++) {
		if (x[i - 1] < 0.0f && x[i] >= 0.0f) {
			double t = i - 1 + x[i - 1] / (double)(x[i - 1] - x[i]);

			if (first < 0)
				first = t;
			last = t;
			count++;
		}
	}
	return count > 1 ? (count - 1) * (double)RATE / (last - first) : 0.0;
}

static void play_and_measure(const char *file, int pitch, int speed, double *freq, uint32_t *len)
{
	struct rig r;
	uint32_t n = RATE * 8;
	float **o = outs(n);

	rig_open(&r, 64);
	mixing_start(r.m, 1, file, &once_publish);
	if (pitch)
		mixing_set_pitch(r.m, 1, pitch);
	if (speed != 100)
		mixing_set_playback_speed(r.m, 1, speed);
	if (pitch || speed != 100)
		run(&r, PERIOD, NULL);	/* RT takes the flush; the refill follows */
	run(&r, n, o);
	*len = last_sound(o[0], n);

	*freq = frequency(o[0] + RATE / 2, *len > RATE ? *len - RATE : 0);
	rig_close(&r);
	outs_free(o);
}

static void test_pitch_speed_rates(void)
{
	double f;
	uint32_t len;
	const uint32_t dur = RATE * 3;	/* the 440 Hz files last 3 s */

	play_and_measure("sine48.wav", 12, 100, &f, &len);
	CHECK(fabs(f / 880.0 - 1.0) < 0.01, "pitch +12 doubles 440 Hz (%.2f Hz)", f);
	CHECK(abs((int)len - (int)dur) <= PERIOD, "and the duration stays (%u frames)", len);
	play_and_measure("sine48.wav", -12, 100, &f, &len);
	CHECK(fabs(f / 220.0 - 1.0) < 0.01, "pitch -12 halves 440 Hz (%.2f Hz)", f);
	CHECK(abs((int)len - (int)dur) <= PERIOD, "and the duration stays (%u frames)", len);
	play_and_measure("sine48.wav", 0, 200, &f, &len);
	CHECK(fabs(f / 440.0 - 1.0) < 0.01, "speed 200 keeps the pitch (%.2f Hz)", f);
	CHECK(abs((int)len - (int)dur / 2) <= PERIOD, "and halves the duration (%u frames)", len);
	play_and_measure("sine44.wav", 0, 100, &f, &len);
	CHECK(fabs(f / 440.0 - 1.0) < 0.005, "a 44.1 kHz file plays at its pitch (%.2f Hz)", f);
	CHECK(abs((int)len - (int)dur) <= PERIOD, "and its length (%u frames)", len);
	play_and_measure("sine22.wav", 0, 100, &f, &len);
	CHECK(fabs(f / 440.0 - 1.0) < 0.005, "a 22.05 kHz file plays at its pitch (%.2f Hz)", f);
	CHECK(abs((int)len - (int)dur) <= PERIOD, "and its length (%u frames)", len);
}

/* ---- loudness ------------------------------------------------------------ */

static void test_loudness(void)
{
	struct rig r;
	struct mixing_info info;
	uint32_t n = PERIOD * 200;
	float **o = outs(n);
	double ratio;

	rig_open(&r, 64);
	/* sine48.wav: a 0.5 (-6 dBFS) mono 440 Hz sine measured as one channel:
	 * -6 dB, -3 dB for a sine, -0.7 dB of K-weighting at 440 Hz: -9.7 LUFS */
	mixing_start(r.m, 1, "sine48.wav", &once_publish);
	CHECK(mixing_set_loudness(r.m, 1, -15.0) == MIXING_OK, "set loudness -15 LUFS");
	for (int i = 0; i < 300; i++) {
		mixing_get_info(r.m, 1, &info);
		if (isfinite(info.loudness_measured))
			break;
		usleep(10000);
	}
	CHECK(fabs(info.loudness_measured + 9.7) < 0.3, "the file measures -9.7 LUFS (%.2f)",
	      info.loudness_measured);
	run(&r, n, o);
	ratio = 20.0 * log10(peak(o[0] + n / 2, n / 2) / 0.5 + 1e-12);
	CHECK(fabs(ratio - (-15.0 - info.loudness_measured)) < 0.1,
	      "the gain brings it to the target (%.2f dB)", ratio);
	CHECK(mixing_set_loudness(r.m, 1, -100.0) == MIXING_OK, "below -70 is taken as -70");
	mixing_get_info(r.m, 1, &info);
	CHECK(info.loudness_target == -70.0, "clamped to -70 LUFS");
	rig_close(&r);
	outs_free(o);
}

/* ---- a reader that stalls ------------------------------------------------ */

static void test_stalled_reader(void)
{
	struct rig r;
	struct mixing_info info;

	rig_open(&r, 64);
	mixing_start(r.m, 1, "music.wav", &once_publish);
	usleep(50000);	/* the worker fills its 2 s ... */
	mixing_debug_stall(r.m, 1500);
	usleep(50000);	/* ... and then sleeps */
	/* 3 s of cycles, more than is queued, while the reader sleeps: RT must not wait */
	CHECK(engine_offline_run(r.e, RATE * 3, NULL, NULL) == 0, "cycles run while the reader stalls");
	mixing_get_info(r.m, 1, &info);
	CHECK(info.underruns > 0, "an empty ring counts underruns (%llu)", (unsigned long long)info.underruns);
	usleep(1700000);	/* the worker wakes and reports */
	engine_sync_events(r.e);
	history_sync(r.h, 2000);
	{
		struct history_filter f = { .domain = AIRMIX_DOMAIN_ENGINE, .code = ENGINE_SOURCE_UNDERRUN,
					    .has_code = true, .limit = 10 };
		struct history_row rows[10];
		size_t n = 0;
		int64_t total = 0;

		history_query(r.h, &f, rows, 10, &n, &total, NULL, 0);
		CHECK(total >= 1, "the underrun is a history row");
	}
	rig_close(&r);
}

/* ---- set-up -------------------------------------------------------------- */

static void make_media(void)
{
	char path[512], cmd[1024];
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/airmix-mixing-XXXXXX");
	if (!mkdtemp(dir))
		exit(1);
	write_file("music.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 2, 3.0, 0, 0.4f);
	write_file("clip.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 2, 0.5, 0, 0.4f);
	write_file("long21.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, RATE, 1, 21.0, 100, 0.1f);
	write_file("sine48.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, 3.0, 440, 0.5f);
	write_file("sine44.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 44100, 1, 3.0, 440, 0.5f);
	write_file("sine22.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 1, 3.0, 440, 0.5f);
	write_file("truncated.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, RATE, 2, 2.0, 0, 0.4f);
	snprintf(path, sizeof(path), "%s/truncated.wav", dir);
	if (truncate(path, 100000) < 0)
		exit(1);
	snprintf(path, sizeof(path), "%s/text.wav", dir);
	f = fopen(path, "w");
	fputs("this is not audio at all, just text\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/subdir", dir);
	mkdir(path, 0755);
	snprintf(cmd, sizeof(cmd), "%s/escape.wav", dir);
	if (symlink("/tmp", cmd) < 0)
		exit(1);
}

static void remove_media(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

int main(void)
{
	make_media();
	test_transitions();
	test_id_limit();
	test_bit_exact_and_volume();
	test_loops_and_seek();
	test_flush_declick();
	test_pause_declick();
	test_stop_declick();
	test_stop_all_declick();
	test_start_declick();
	test_pitch_speed_rates();
	test_loudness();
	test_stalled_reader();
	remove_media();
	CHECK_RT_CLEAN();
	return CHECK_DONE();
}
