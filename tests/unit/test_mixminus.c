/* test_mixminus.c - the engine's mix-minus taps (engine_tap_open_minus) on
 * the offline clock: a guest's own tone cancels below -60 dBFS while the bus
 * limiter works hard and gains ramp, the other sources are there at their
 * programme level, a tap that takes nothing out is the programme bit for
 * bit, and a tap whose node goes away becomes the programme.
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

#define RATE 48000
#define MAX_PERIOD 256

/* The engine period of the scenario being run: 256, and 64, shorter than the
 * limiter look-ahead (96 frames), so the look-ahead line spans periods. */
static uint32_t period = MAX_PERIOD;
#define SECONDS 2

static struct engine *make_engine(void)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct engine *e = NULL;
	char err[256];

	offline_config(&cfg, RATE, period);
	cfg.limiter_lookahead_ms = 2.0;
	cfg.limiter_ceiling_db = -1.0;
	if (engine_create(&cfg, &opts, NULL, &e, err, sizeof(err)) < 0 ||
	    engine_start(e, err, sizeof(err)) < 0) {
		printf("# engine: %s\n", err);
		exit(1);
	}
	return e;
}

/* Amplitude of freq in x (n samples, a whole number of its cycles). */
static double tone_amplitude(const float *x, uint32_t n, uint32_t stride, double freq)
{
	double re = 0.0, im = 0.0;

	for (uint32_t i = 0; i < n; i++) {
		double ph = 2.0 * M_PI * freq * i / RATE;

		re += x[(size_t)i * stride] * cos(ph);
		im += x[(size_t)i * stride] * sin(ph);
	}
	return 2.0 * sqrt(re * re + im * im) / n;
}

static double db(double a)
{
	return 20.0 * log10(a > 1e-12 ? a : 1e-12);
}

struct capture {
	struct tap *tap;
	float *buf;		/* interleaved stereo */
	uint32_t frames;
};

static void drain(struct capture *c, uint32_t cap)
{
	uint32_t got;

	while (c->frames < cap &&
	       (got = tap_read(c->tap, c->buf + 2 * (size_t)c->frames, cap - c->frames)) > 0)
		c->frames += got;
}

/* The green-room caller's talkback return: the playout bus without the
 * caller; the engineer's talkback and the host as on playout; the
 * talkback never in the programme returns. */
static void check_talkback(const struct capture *talk, const float *play, const float *own,
			   uint32_t from, uint32_t n, int c, int part)
{
	double self = tone_amplitude(talk->buf + 2 * from + c, n, 2, 1200.0);
	double tb = tone_amplitude(talk->buf + 2 * from + c, n, 2, 660.0);
	double tb_play = tone_amplitude(play + from, n, 1, 660.0);
	double host = tone_amplitude(talk->buf + 2 * from + c, n, 2, 440.0);
	double host_play = tone_amplitude(play + from, n, 1, 440.0);
	double leak = tone_amplitude(own + 2 * from + c, n, 2, 660.0);

	CHECK(db(self) < -60.0 && fabs(db(tb) - db(tb_play)) < 0.5 &&
	      fabs(db(host) - db(host_play)) < 0.5 && db(tb) > -30.0 && db(leak) < db(tb) - 40.0,
	      "part %d ch %d: talkback: caller %.1f dBFS, engineer %.2f vs %.2f, host %.2f vs "
	      "%.2f, talkback in the programme return %.1f", part, c, db(self), db(tb),
	      db(tb_play), db(host), db(host_play), db(leak));
}

static void scenario(uint32_t p)
{
	const uint32_t total = RATE * SECONDS;
	struct engine *e;
	struct capture own = { 0 }, other = { 0 }, whole = { 0 }, talk = { 0 };
	float *prog[2], *play[2], *outs[4];
	uint32_t guest, host, caller, engineer, done = 0;
	struct engine_node_info bus;
	float worst_gr = 0.0f;
	int ret;

	period = p;
	printf("# period %u, limiter look-ahead 2 ms\n", period);
	e = make_engine();
	prog[0] = calloc(total, sizeof(float));
	prog[1] = calloc(total, sizeof(float));
	own.buf = calloc(2 * (size_t)total, sizeof(float));
	other.buf = calloc(2 * (size_t)total, sizeof(float));
	whole.buf = calloc(2 * (size_t)total, sizeof(float));
	talk.buf = calloc(2 * (size_t)total, sizeof(float));
	play[0] = calloc(total, sizeof(float));
	play[1] = calloc(total, sizeof(float));
	/* the guest at 1 kHz, the host at 440 Hz: together far above the ceiling */
	CHECK(engine_add_tone(e, "guest", 1000.0, -3.0, ENGINE_TO_PUBLISH, &guest) == 0,
	      "guest tone");
	CHECK(engine_add_tone(e, "host", 440.0, -3.0, ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT, &host) == 0,
	      "host tone");
	/* a caller in the green room (1.2 kHz) and the engineer's talkback
	 * (660 Hz): the playout bus only */
	CHECK(engine_add_tone(e, "caller", 1200.0, -6.0, ENGINE_TO_PLAYOUT, &caller) == 0 &&
	      engine_add_tone(e, "talkback", 660.0, -6.0, ENGINE_TO_PLAYOUT, &engineer) == 0,
	      "green-room caller and talkback tones");
	CHECK(engine_set_gain(e, guest, 3.0f) == 0 && engine_set_gain(e, host, 2.0f) == 0,
	      "gains above unity");
	CHECK(engine_tap_open_minus(e, ENGINE_BUS_PUBLISH, 12345, RATE, &own.tap) == -ENOENT,
	      "a mix-minus of an unknown node is refused");
	CHECK(engine_tap_open_minus(e, ENGINE_BUS_PUBLISH, ENGINE_BUS_PLAYOUT, RATE, &own.tap) ==
	      -ENOENT, "a mix-minus of a bus is refused");
	CHECK(engine_tap_open_minus(e, 7, guest, RATE, &own.tap) == -EINVAL,
	      "a mix-minus of something that is not a bus is refused");
	ret = engine_tap_open_minus(e, ENGINE_BUS_PUBLISH, guest, RATE, &own.tap);
	CHECK(ret == 0, "mix-minus without the guest (%d)", ret);
	ret = engine_tap_open_minus(e, ENGINE_BUS_PUBLISH, host, RATE, &other.tap);
	CHECK(ret == 0, "mix-minus without the host (%d)", ret);
	ret = engine_tap_open_minus(e, ENGINE_BUS_PUBLISH, 0, RATE, &whole.tap);
	CHECK(ret == 0, "mix-minus without anyone (%d)", ret);
	ret = engine_tap_open_minus(e, ENGINE_BUS_PLAYOUT, caller, RATE, &talk.tap);
	CHECK(ret == 0, "talkback: the playout bus without the caller (%d)", ret);
	while (done < total) {
		uint32_t n = total - done >= 4 * period ? 4 * period : period;

		outs[0] = prog[0] + done;
		outs[1] = prog[1] + done;
		outs[2] = play[0] + done;
		outs[3] = play[1] + done;
		if (done == RATE / 2) {
			/* ramps: the guest moves and pans, the bus master changes */
			engine_set_gain(e, guest, 4.0f);
			engine_set_pan(e, guest, -0.5f);
			engine_set_gain(e, ENGINE_BUS_PUBLISH, 1.5f);
		}
		if (engine_offline_run(e, n, NULL, outs) < 0)
			break;
		done += n;
		drain(&own, total);
		drain(&other, total);
		drain(&whole, total);
		drain(&talk, total);
		if (engine_get_node(e, ENGINE_BUS_PUBLISH, &bus) == 0 &&
		    bus.gain_reduction_db > worst_gr)
			worst_gr = bus.gain_reduction_db;
	}
	CHECK(done == total && own.frames == total && other.frames == total &&
	      whole.frames == total && talk.frames == total,
	      "every frame reached the taps (%u %u %u %u of %u)", own.frames, other.frames,
	      whole.frames, talk.frames, total);
	CHECK(worst_gr > 6.0f, "the bus limiter worked (%.1f dB of reduction)", worst_gr);
	{
		/* the first half second and the second (after the ramps), skipping
		 * the first period of each where the sources start and ramp */
		const uint32_t spans[2][2] = { { period, RATE / 2 - period }, { RATE / 2 + period, RATE } };

		for (int s = 0; s < 2; s++) {
			uint32_t from = spans[s][0], n = (spans[s][1] - spans[s][0]) / 480 * 480;

			for (int c = 0; c < 2; c++) {
				double own_g = tone_amplitude(own.buf + 2 * from + c, n, 2, 1000.0);
				double own_h = tone_amplitude(own.buf + 2 * from + c, n, 2, 440.0);
				double prog_h = tone_amplitude(prog[c] + from, n, 1, 440.0);
				double prog_g = tone_amplitude(prog[c] + from, n, 1, 1000.0);
				double other_g = tone_amplitude(other.buf + 2 * from + c, n, 2, 1000.0);
				double other_h = tone_amplitude(other.buf + 2 * from + c, n, 2, 440.0);

				CHECK(db(own_g) < -60.0,
				      "part %d ch %d: the guest's own tone is gone from its return (%.1f dBFS, programme %.1f)",
				      s, c, db(own_g), db(prog_g));
				CHECK(fabs(db(own_h) - db(prog_h)) < 0.5 && db(own_h) > -20.0,
				      "part %d ch %d: the host is in the guest's return as in the programme (%.2f vs %.2f dBFS)",
				      s, c, db(own_h), db(prog_h));
				CHECK(db(other_h) < -60.0 && fabs(db(other_g) - db(prog_g)) < 0.5,
				      "part %d ch %d: the host's return: host %.1f dBFS, guest %.2f vs %.2f",
				      s, c, db(other_h), db(other_g), db(prog_g));
				check_talkback(&talk, play[c], own.buf, from, n, c, s);
			}
		}
	}
	{
		bool same = true;

		for (uint32_t i = 0; i < total && same; i++)
			same = whole.buf[2 * i] == prog[0][i] && whole.buf[2 * i + 1] == prog[1][i];
		CHECK(same, "a mix-minus that takes nothing out is the programme, bit for bit");
	}
	{
		/* the guest leaves: its return goes on as the whole programme */
		float l[MAX_PERIOD * 4], r[MAX_PERIOD * 4];
		float *o[4] = { l, r, NULL, NULL };
		float buf[2 * MAX_PERIOD * 4];
		uint32_t got = 0, k;

		CHECK(engine_remove_node(e, guest) == 0, "guest removed");
		engine_offline_run(e, period * 4, NULL, o);	/* the graph changes here */
		while (tap_read(own.tap, buf, period * 4) > 0)
			;
		engine_offline_run(e, period * 4, NULL, o);
		got = tap_read(own.tap, buf, period * 4);
		for (k = 0; k < got && buf[2 * k] == l[k] && buf[2 * k + 1] == r[k]; k++)
			;
		CHECK(got == period * 4 && k == got, "after the guest left its return is the programme");
	}
	engine_tap_close(e, own.tap);
	engine_tap_close(e, other.tap);
	engine_tap_close(e, whole.tap);
	engine_tap_close(e, talk.tap);
	engine_offline_run(e, period, NULL, NULL);
	CHECK_RT_CLEAN();
	engine_destroy(e);
	free(prog[0]);
	free(prog[1]);
	free(own.buf);
	free(other.buf);
	free(whole.buf);
	free(talk.buf);
	free(play[0]);
	free(play[1]);
}

int main(void)
{
	scenario(MAX_PERIOD);
	scenario(64);
	return CHECK_DONE();
}
