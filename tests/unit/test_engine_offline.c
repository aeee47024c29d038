/* test_engine_offline.c - the graph on the offline clock: bit-exact sums,
 * gain ramps, pan, mute, routing, limiter ceiling, meters, taps with gaps,
 * graph publish/retire and command ordering.
 *
 * Threads: the test's main thread drives the manual offline clock and so is
 * the RT thread while engine_offline_run() runs.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "offline.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/tap.h"

#define RATE 48000
#define PERIOD 128

/* A custom source that plays a preallocated signal (mono or stereo). */
struct signal {
	const float *ch[2];
	uint32_t len, pos;
	uint32_t channels;
	int released;
};

static void signal_render(void *state, float *const *out, uint32_t n)
{
	struct signal *s = state;

	for (uint32_t c = 0; c < s->channels; c++)
		for (uint32_t i = 0; i < n; i++)
			out[c][i] = s->pos + i < s->len ? s->ch[c][s->pos + i] : 0.0f;
	s->pos += n;
}

static void signal_release(void *state)
{
	((struct signal *)state)->released = 1;
}

static struct engine *make_engine(double lookahead_ms, double ceiling_db)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct engine *e = NULL;
	char err[256];

	offline_config(&cfg, RATE, PERIOD);
	cfg.jack_inputs = 1;
	cfg.limiter_lookahead_ms = lookahead_ms;
	cfg.limiter_ceiling_db = ceiling_db;
	cfg.meter_window_ms = 1000.0 * PERIOD * 4 / RATE;	/* four periods */
	if (engine_create(&cfg, &opts, NULL, &e, err, sizeof(err)) < 0 ||
	    engine_start(e, err, sizeof(err)) < 0) {
		printf("# engine: %s\n", err);
		exit(1);
	}
	return e;
}

static float *noise(uint32_t n, float amp, unsigned seed)
{
	float *x = malloc(n * sizeof(float));

	srand(seed);
	for (uint32_t i = 0; i < n; i++)
		x[i] = amp * (2.0f * (float)rand() / (float)RAND_MAX - 1.0f);
	return x;
}

struct outs {
	float *ch[4];
	uint32_t n;
};

static void outs_alloc(struct outs *o, uint32_t n)
{
	for (int c = 0; c < 4; c++)
		o->ch[c] = calloc(n, sizeof(float));
	o->n = n;
}

static void outs_free(struct outs *o)
{
	for (int c = 0; c < 4; c++)
		free(o->ch[c]);
}

static void test_bit_exact_sum(void)
{
	const uint32_t n = PERIOD * 40;
	struct engine *e = make_engine(0.0, -1.0);
	float *a = noise(n, 0.2f, 1), *b = noise(n, 0.2f, 2), *c = noise(n, 0.2f, 3);
	struct signal sa = { { a, a }, n, 0, 1, 0 }, sb = { { b, c }, n, 0, 2, 0 };
	struct outs o;
	uint32_t ida, idb;
	int exact_l = 1, exact_r = 1, silent_playout = 1;

	outs_alloc(&o, n);
	CHECK(engine_add_custom(e, "a", "test", 1, ENGINE_TO_PUBLISH, signal_render, signal_release,
				&sa, &ida) == 0, "mono source added");
	CHECK(engine_add_custom(e, "b", "test", 2, ENGINE_TO_PUBLISH, signal_render, signal_release,
				&sb, &idb) == 0, "stereo source added");
	CHECK(engine_offline_run(e, n, NULL, o.ch) == 0, "offline run");
	for (uint32_t i = 0; i < n; i++) {
		exact_l &= o.ch[0][i] == a[i] + b[i];
		exact_r &= o.ch[1][i] == a[i] + c[i];
		silent_playout &= o.ch[2][i] == 0.0f && o.ch[3][i] == 0.0f;
	}
	CHECK(exact_l, "publish L is the bit-exact sum of its sources");
	CHECK(exact_r, "publish R is the bit-exact sum of its sources");
	CHECK(silent_playout, "sources routed to publish only leave playout silent");
	CHECK(engine_remove_node(e, ida) == 0, "remove node");
	CHECK(engine_offline_run(e, PERIOD * 2, NULL, NULL) == 0, "cycles after remove");
	engine_sync_events(e);
	CHECK(sa.released == 1, "custom state released once the graph without it ran");
	CHECK(sb.released == 0, "live node's state kept");
	engine_destroy(e);
	CHECK(sb.released == 1, "remaining state released on destroy");
	free(a);
	free(b);
	free(c);
	outs_free(&o);
}

static void test_lookahead_delay(void)
{
	const uint32_t n = PERIOD * 20, delay = 48;	/* 1 ms at 48 kHz */
	struct engine *e = make_engine(1.0, -1.0);
	float *a = noise(n, 0.5f, 7);
	struct signal sa = { { a, a }, n, 0, 1, 0 };
	struct outs o;
	int exact = 1, leading_silence = 1;

	outs_alloc(&o, n);
	engine_add_custom(e, "a", "test", 1, ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT, signal_render,
			  NULL, &sa, NULL);
	engine_offline_run(e, n, NULL, o.ch);
	for (uint32_t i = 0; i < delay; i++)
		leading_silence &= o.ch[0][i] == 0.0f;
	for (uint32_t i = delay; i < n; i++)
		exact &= o.ch[0][i] == a[i - delay] && o.ch[2][i] == a[i - delay];
	CHECK(leading_silence, "limiter look-ahead starts with %u frames of silence", delay);
	CHECK(exact, "below the ceiling the limiter passes samples unchanged, delayed by 1 ms");
	engine_destroy(e);
	free(a);
	outs_free(&o);
}

static void test_gain_ramp_pan_mute(void)
{
	const uint32_t n = PERIOD * 4;
	struct engine *e = make_engine(0.0, 0.0);
	float *dc = malloc(n * 8 * sizeof(float));
	struct signal s = { { dc, dc }, n * 8, 0, 1, 0 };
	struct outs o;
	uint32_t id;
	int ramp_ok = 1, flat_ok = 1, pan_ok = 1, mute_ok = 1;
	struct engine_node_info info;

	for (uint32_t i = 0; i < n * 8; i++)
		dc[i] = 0.5f;
	outs_alloc(&o, n);
	engine_add_custom(e, "dc", "test", 1, ENGINE_TO_PUBLISH, signal_render, NULL, &s, &id);
	engine_offline_run(e, PERIOD, NULL, NULL);	/* first period ramps in from 0 */
	CHECK(engine_set_gain(e, id, 0.25f) == 0, "set gain");
	CHECK(engine_set_gain(e, id, 5.0f) == -ERANGE, "gain above +12 dB refused");
	CHECK(engine_set_gain(e, 9999, 1.0f) == -ENOENT, "gain of an unknown node refused");
	engine_offline_run(e, n, NULL, o.ch);
	for (uint32_t i = 0; i < PERIOD; i++) {
		float g = 1.0f + (0.25f - 1.0f) / PERIOD * (float)(i + 1);

		if (i == PERIOD - 1)
			g = 0.25f;
		ramp_ok &= fabsf(o.ch[0][i] - 0.5f * g) < 1e-6f;
	}
	for (uint32_t i = PERIOD; i < n; i++)
		flat_ok &= o.ch[0][i] == 0.125f && o.ch[1][i] == 0.125f;
	CHECK(ramp_ok, "gain change ramps linearly over exactly one period");
	CHECK(flat_ok, "after the ramp the gain is exact");
	engine_set_pan(e, id, -1.0f);
	engine_offline_run(e, n, NULL, o.ch);
	for (uint32_t i = PERIOD; i < n; i++)
		pan_ok &= o.ch[0][i] == 0.125f && o.ch[1][i] == 0.0f;
	CHECK(pan_ok, "pan hard left silences the right channel, keeps the left at unity");
	CHECK(engine_set_pan(e, id, 1.5f) == -ERANGE, "pan out of range refused");
	engine_set_mute(e, id, true);
	engine_offline_run(e, n, NULL, o.ch);
	for (uint32_t i = PERIOD; i < n; i++)
		mute_ok &= o.ch[0][i] == 0.0f && o.ch[1][i] == 0.0f;
	CHECK(mute_ok && o.ch[0][0] > 0.0f, "mute fades out over one period, then silence");
	CHECK(engine_get_node(e, id, &info) == 0 && info.mute && info.gain == 0.25f &&
		      info.pan == -1.0f, "node info reflects the commands");
	engine_destroy(e);
	free(dc);
	outs_free(&o);
}

static void test_limiter_ceiling(void)
{
	const uint32_t n = PERIOD * 200;
	const float ceiling = powf(10.0f, -1.0f / 20.0f);
	struct engine *e = make_engine(1.0, -1.0);
	struct outs o;
	uint32_t ids[4];
	float peak = 0.0f;
	int finite = 1;
	struct engine_node_info bus;

	outs_alloc(&o, n);
	/* four full-scale tones in phase: +12 dB over full scale */
	for (int k = 0; k < 4; k++) {
		CHECK(engine_add_tone(e, "hot", 997.0, 0.0, ENGINE_TO_PUBLISH, &ids[k]) == 0, "tone %d", k);
	}
	engine_set_gain(e, ids[0], 4.0f);	/* and one more at +12 dB of gain */
	engine_offline_run(e, n, NULL, o.ch);
	for (uint32_t i = 0; i < n; i++) {
		float a = fabsf(o.ch[0][i]);

		finite &= isfinite(o.ch[0][i]);
		peak = a > peak ? a : peak;
	}
	CHECK(finite, "limited output is finite");
	CHECK(peak <= ceiling, "no sample above the -1 dBFS ceiling (peak %.6f, ceiling %.6f)", peak,
	      ceiling);
	CHECK(peak > ceiling * 0.89f, "limiter does not crush the signal (peak %.4f)", peak);
	engine_get_node(e, ENGINE_BUS_PUBLISH, &bus);
	CHECK(bus.gain_reduction_db > 10.0f, "bus meter reports the gain reduction (%.1f dB)",
	      bus.gain_reduction_db);
	engine_destroy(e);
	outs_free(&o);
}

static void test_meters(void)
{
	struct engine *e = make_engine(0.0, -1.0);
	struct engine_node_info info, bus, playout;
	uint32_t id;

	engine_add_tone(e, "tone", 1000.0, -6.0, ENGINE_TO_PLAYOUT, &id);
	engine_offline_run(e, PERIOD * 40, NULL, NULL);
	engine_get_node(e, id, &info);
	engine_get_node(e, ENGINE_BUS_PUBLISH, &bus);
	engine_get_node(e, ENGINE_BUS_PLAYOUT, &playout);
	CHECK(fabsf(info.peak[0] - 0.5012f) < 0.005f && fabsf(info.peak[1] - 0.5012f) < 0.005f,
	      "peak of a -6 dBFS sine is 0.501 (%.4f, %.4f)", info.peak[0], info.peak[1]);
	CHECK(fabsf(info.rms[0] - 0.3544f) < 0.005f, "RMS of a -6 dBFS sine is 0.354 (%.4f)",
	      info.rms[0]);
	CHECK(bus.peak[0] == 0.0f && bus.rms[0] == 0.0f, "publish bus meters silence");
	CHECK(fabsf(playout.peak[0] - 0.5012f) < 0.005f, "playout bus meters the tone (%.4f)",
	      playout.peak[0]);
	engine_destroy(e);
}

static void test_taps_and_gaps(void)
{
	struct engine *e = make_engine(0.0, 0.0);
	const uint32_t n = PERIOD * 64;
	float *ramp = malloc(n * sizeof(float));
	float *buf = malloc(2 * n * sizeof(float));
	struct signal s = { { ramp, ramp }, n, 0, 1, 0 };
	struct tap *tap;
	uint32_t id, got = 0, r;
	uint64_t gap, pos = 0;
	int exact = 1;

	for (uint32_t i = 0; i < n; i++)
		ramp[i] = (float)i / (float)n;
	engine_add_custom(e, "ramp", "test", 1, ENGINE_TO_PUBLISH, signal_render, NULL, &s, &id);
	CHECK(engine_tap_open(e, ENGINE_BUS_PUBLISH, 1024, &tap) == 0, "tap on the publish bus");
	/* 8 periods fit (1024 frames); 16 more periods overflow */
	engine_offline_run(e, PERIOD * 24, NULL, NULL);
	CHECK(tap_dropped_frames(tap) == PERIOD * 16, "overrun counted: %llu frames dropped",
	      (unsigned long long)tap_dropped_frames(tap));
	/* drain, then let the RT side record the gap and go on */
	while ((r = tap_read(tap, buf, n)) > 0)
		got += r;
	engine_offline_run(e, PERIOD * 8, NULL, NULL);
	gap = tap_next_gap(tap);
	while ((r = tap_read(tap, buf + 2 * got, n - got)) > 0)
		got += r;
	CHECK(gap == PERIOD * 16, "gap reported with its exact length (%llu)", (unsigned long long)gap);
	CHECK(got == PERIOD * 16, "frames kept: %u", got);
	/* the frames after the gap are the source's frames after the gap */
	for (uint32_t i = 0; i < got; i++) {
		uint64_t src = i < PERIOD * 8 ? i : i + gap;

		pos = src;
		exact &= buf[2 * i] == ramp[pos] && buf[2 * i + 1] == ramp[pos];
	}
	CHECK(exact, "tap frames land at their exact stream positions around the gap");
	engine_sync_events(e);
	engine_tap_close(e, tap);
	engine_offline_run(e, PERIOD * 2, NULL, NULL);
	engine_destroy(e);
	free(ramp);
	free(buf);
}

static void test_taps_line_up(void)
{
	struct engine *e = make_engine(0.0, 0.0);
	const uint32_t n = PERIOD * 8;
	float *ramp = malloc(n * 2 * sizeof(float));
	float *a = malloc(2 * n * sizeof(float)), *b = malloc(2 * n * sizeof(float));
	struct signal s = { { ramp, ramp }, n * 2, 0, 1, 0 };
	struct tap *taps[2];
	uint32_t id, ids[2], ga, gb;

	for (uint32_t i = 0; i < n * 2; i++)
		ramp[i] = (float)i / (float)(n * 2);
	engine_add_custom(e, "ramp", "test", 1, ENGINE_TO_PUBLISH, signal_render, NULL, &s, &id);
	engine_offline_run(e, PERIOD * 3, NULL, NULL);
	ids[0] = id;
	ids[1] = ENGINE_BUS_PUBLISH;
	CHECK(engine_tap_open_many(e, ids, 2, 4096, taps) == 0, "two taps opened together");
	engine_offline_run(e, PERIOD * 4, NULL, NULL);
	ga = tap_read(taps[0], a, n);
	gb = tap_read(taps[1], b, n);
	CHECK(ga == PERIOD * 4 && gb == ga && !memcmp(a, b, ga * 2 * sizeof(float)),
	      "taps opened together start on the same frame (%u, %u frames)", ga, gb);
	ids[1] = 9999;
	CHECK(engine_tap_open_many(e, ids, 2, 4096, taps) == -ENOENT,
	      "an unknown node refuses the whole set");
	engine_destroy(e);
	free(ramp);
	free(a);
	free(b);
}

static void test_publish_retire_and_ordering(void)
{
	struct engine *e = make_engine(0.0, 0.0);
	struct engine_node_info info;
	uint32_t keep, id;
	size_t count, before = engine_list_nodes(e, NULL, 0);
	int ok = 1;

	engine_add_tone(e, "keep", 440.0, -20.0, ENGINE_TO_PUBLISH, &keep);
	for (int round = 0; round < 500; round++) {
		ok &= engine_add_tone(e, "churn", 100.0 + round, -30.0, ENGINE_TO_PLAYOUT, &id) == 0;
		ok &= engine_set_gain(e, id, 0.5f) == 0;
		if (round % 3)
			engine_offline_run(e, PERIOD, NULL, NULL);
		ok &= engine_remove_node(e, id) == 0;
		ok &= engine_set_gain(e, id, 0.5f) == -ENOENT;
	}
	CHECK(ok, "500 add/command/remove rounds with cycles in between");
	for (int k = 1; k <= 100; k++)
		engine_set_gain(e, keep, (float)k / 100.0f);
	engine_offline_run(e, PERIOD, NULL, NULL);
	engine_get_node(e, keep, &info);
	CHECK(info.gain == 1.0f, "commands apply in order: the last gain wins");
	count = engine_list_nodes(e, NULL, 0);
	CHECK(count == before + 1, "only the kept source was added (%zu nodes)", count);
	engine_destroy(e);
}

static void test_bus_sends(void)
{
	const uint32_t n = PERIOD * 4;
	struct engine *e = make_engine(0.0, 0.0);
	float *dc = malloc(n * 2 * sizeof(float));
	struct signal s = { { dc, dc }, n * 2, 0, 1, 0 };
	struct outs o;
	uint32_t id;
	int ok = 1;

	for (uint32_t i = 0; i < n * 2; i++)
		dc[i] = 0.25f;
	outs_alloc(&o, n);
	engine_add_custom(e, "dc", "test", 1, ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT, signal_render,
			  NULL, &s, &id);
	CHECK(engine_set_bus_gain(e, id, ENGINE_TO_PUBLISH, 2.0f) == 0, "publish send gain set");
	CHECK(engine_set_bus_gain(e, id, ENGINE_TO_PUBLISH, 4.5f) == -ERANGE, "send gain above 4 refused");
	engine_offline_run(e, n, NULL, o.ch);
	for (uint32_t i = PERIOD; i < n; i++)
		ok &= o.ch[0][i] == 0.5f && o.ch[2][i] == 0.25f;
	CHECK(ok, "a send gain changes one bus only, after a one-period ramp");
	CHECK(o.ch[0][0] > 0.25f && o.ch[0][0] < 0.5f, "send gain ramps in");
	engine_destroy(e);
	free(dc);
	outs_free(&o);
}

static void collect(const struct engine_notice *n, void *user)
{
	int *started = user;

	if (n->domain == AIRMIX_DOMAIN_ENGINE && n->code == ENGINE_STOPPED)
		(*started)++;
}

static void test_notices(void)
{
	struct engine *e = make_engine(0.0, 0.0);
	int stopped = 0;

	CHECK(engine_subscribe(e, collect, &stopped) == 0, "subscribe");
	engine_report(e, AIRMIX_DOMAIN_ENGINE, ENGINE_STOPPED, "test", NULL, "reported by the test");
	CHECK(stopped == 1, "subscriber receives a report");
	engine_unsubscribe(e, collect, &stopped);
	engine_report(e, AIRMIX_DOMAIN_ENGINE, ENGINE_STOPPED, "test", NULL, "after unsubscribe");
	CHECK(stopped == 1, "no report after unsubscribe");
	engine_destroy(e);
}

int main(void)
{
	test_bit_exact_sum();
	test_lookahead_delay();
	test_gain_ramp_pan_mute();
	test_limiter_ceiling();
	test_meters();
	test_taps_and_gaps();
	test_taps_line_up();
	test_publish_retire_and_ordering();
	test_bus_sends();
	test_notices();
	CHECK_RT_CLEAN();
	return CHECK_DONE();
}
