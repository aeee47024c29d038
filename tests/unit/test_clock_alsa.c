/* test_clock_alsa.c - the ALSA clock backend on its own, without the engine:
 * a fake host writes a known ramp, ALSA's file plugin (over the null plugin,
 * no hardware) stores what the backend sent, and the test reads it back.
 *
 * The pcm definitions live in a private file added to ALSA's configuration
 * with ALSA_CONFIG_PATH (the system alsa.conf first, then ours). The null
 * plugin does not pace time: the clock loop runs as fast as the CPU allows,
 * so the test counts cycles rather than seconds.
 *
 * With AIRMIX_TEST_ALSA_PACED=DEVICE (set by tests/integration/test_alsa.sh,
 * which defines a device that ALSA's jack plugin paces against a private
 * jackd) only the xrun test runs: the fake host stalls one cycle for longer
 * than the device buffer, and the backend must count an xrun, recover and
 * keep the clock going in real time.
 *
 * Threads: the test's main thread drives the backend; the fake host's
 * process runs on the backend's clock thread.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "engine/clock.h"
#include "engine/config.h"

#define RATE 48000
#define PERIOD 256
#define PERIODS 3
#define STALL_US 100000
#define MARK_CYCLE 60
#define PACED_CYCLES 250

struct fake {
	uint32_t rate, period;
	int formats;
	int refuse_format;
	atomic_ulong cycles;
	atomic_ulong xruns;
	atomic_int lost;
	/* clock thread only until stop */
	uint64_t frame;
	uint64_t stall_at;	/* cycle that sleeps STALL_US; 0 = none */
	uint64_t pattern_frames;	/* inputs carry pattern() this long; 0 = silence */
	uint64_t checked;	/* input samples compared */
	struct timespec mark;	/* when cycle MARK_CYCLE began */
	uint32_t inputs_seen;
	int inputs_bad;
	int playout_wanted;
	int wrong_nframes;
};

static char dir[64];

/* Any thread: the value of frame k on the left channel; beyond +-1 every
 * 1201 frames so that clipping is covered. */
static float ramp(uint64_t k)
{
	return (float)((int)(k % 1201) - 600) / 400.0f;
}

/* Any thread: capture file sample k of channel c (S16). */
static int16_t pattern(uint64_t k, uint32_t c)
{
	return (int16_t)((int)((k * 7 + c * 1000) % 65536) - 32768);
}

static float right_of(float l)
{
	return -0.5f * l;
}

static double clip(double x)
{
	return x > 1.0 ? 1.0 : (x < -1.0 ? -1.0 : x);
}

/* Clock thread. */
static void fake_process(void *user, const struct clock_io *io)
{
	struct fake *f = user;
	float *l = io->outputs[CLOCK_OUT_PUBLISH_L];
	float *r = io->outputs[CLOCK_OUT_PUBLISH_R];

	if (io->nframes != f->period)
		f->wrong_nframes++;
	if (io->outputs[CLOCK_OUT_PLAYOUT_L] || io->outputs[CLOCK_OUT_PLAYOUT_R])
		f->playout_wanted++;
	f->inputs_seen = io->n_inputs;
	for (uint32_t c = 0; c < io->n_inputs; c++) {
		for (uint32_t i = 0; i < io->nframes; i++) {
			uint64_t k = f->frame + i;
			float want = 0.0f;

			if (f->pattern_frames && k >= f->pattern_frames)
				continue;
			if (f->pattern_frames)
				want = (float)pattern(k, c) / 32768.0f;
			if (!io->inputs[c] || io->inputs[c][i] != want)
				f->inputs_bad++;
			f->checked++;
		}
	}
	for (uint32_t i = 0; i < io->nframes; i++) {
		l[i] = ramp(f->frame + i);
		r[i] = right_of(l[i]);
	}
	f->frame += io->nframes;
	if (f->stall_at && atomic_load(&f->cycles) == f->stall_at)
		usleep(STALL_US);	/* a fake host may; the engine never does */
	if (atomic_load(&f->cycles) == MARK_CYCLE)
		clock_gettime(CLOCK_MONOTONIC, &f->mark);
	atomic_fetch_add(&f->cycles, 1);
}

static void fake_xrun(void *user, int64_t late_ns, int64_t wall_ns)
{
	struct fake *f = user;

	(void)late_ns;
	(void)wall_ns;
	atomic_fetch_add(&f->xruns, 1);
}

static int fake_format(void *user, uint32_t rate, uint32_t period)
{
	struct fake *f = user;

	f->formats++;
	f->rate = rate;
	f->period = period;
	return f->refuse_format ? -EINVAL : 0;
}

static void fake_lost(void *user, const char *why)
{
	struct fake *f = user;

	(void)why;
	atomic_fetch_add(&f->lost, 1);
}

static void fake_restored(void *user)
{
	(void)user;
}

static void base_config(struct airmix_config *cfg, const char *device, const char *format)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sample_rate = RATE;
	cfg->period_frames = PERIOD;
	cfg->max_period_frames = 4096;
	cfg->alsa_periods = PERIODS;
	cfg->rt_priority = 0;
	snprintf(cfg->alsa_device, sizeof(cfg->alsa_device), "%s", device);
	snprintf(cfg->alsa_format, sizeof(cfg->alsa_format), "%s", format);
}

static void write_asoundrc(void)
{
	static const char *const names[] = { "s16", "s32", "float", "duplex", "capture" };
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/asoundrc", dir);
	fp = fopen(path, "w");
	if (!fp) {
		perror(path);
		exit(1);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		fprintf(fp, "pcm.airmix_%s {\n\ttype file\n\tslave.pcm \"null\"\n"
			    "\tfile \"%s/%s.raw\"\n\tformat \"raw\"\n}\n",
			names[i], dir, names[i]);
	fprintf(fp, "pcm.airmix_infile {\n\ttype file\n\tslave.pcm \"null\"\n"
		    "\tfile \"/dev/null\"\n\tinfile \"%s/in.raw\"\n\tformat \"raw\"\n}\n", dir);
	fclose(fp);
	snprintf(path, sizeof(path), "/usr/share/alsa/alsa.conf:%s/asoundrc", dir);
	setenv("ALSA_CONFIG_PATH", path, 1);
}

static unsigned char *read_file(const char *name, size_t *len)
{
	char path[128];
	unsigned char *buf;
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), "%s/%s.raw", dir, name);
	fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	*len = buf ? fread(buf, 1, (size_t)n, fp) : 0;
	fclose(fp);
	return buf;
}

static struct clock_host fake_host(struct fake *f)
{
	struct clock_host h = {
		.user = f,
		.process = fake_process,
		.xrun = fake_xrun,
		.format = fake_format,
		.lost = fake_lost,
		.restored = fake_restored,
	};
	return h;
}

/* Open, start, let at least `cycles` cycles run (bounded: 10 s), stop. */
static int run_backend(const struct airmix_config *cfg, struct fake *f, unsigned long cycles,
		       uint32_t *inputs)
{
	struct clock_host host = fake_host(f);
	struct clock_backend *b;
	char err[256] = "";
	int r, i;

	r = clock_alsa_ops.open(cfg, &host, &b, err, sizeof(err));
	CHECK(r == 0, "open %s as %s: %s", cfg->alsa_device, cfg->alsa_format, err);
	if (r < 0)
		return r;
	*inputs = clock_alsa_ops.inputs(b);
	r = clock_alsa_ops.start(b, err, sizeof(err));
	CHECK(r == 0, "start %s: %s", cfg->alsa_device, err);
	for (i = 0; r == 0 && i < 1000 && atomic_load(&f->cycles) < cycles; i++)
		usleep(10000);
	clock_alsa_ops.stop(b);
	clock_alsa_ops.close(b);
	return r;
}

static void check_common(const struct fake *f, const char *what)
{
	CHECK(f->formats == 1 && f->rate == RATE && f->period == PERIOD,
	      "%s: format told once as %u Hz / %u frames (%d calls)", what, f->rate, f->period,
	      f->formats);
	CHECK(atomic_load(&f->cycles) >= 40, "%s: %lu cycles ran", what,
	      (unsigned long)atomic_load(&f->cycles));
	CHECK(f->wrong_nframes == 0, "%s: every cycle had %u frames", what, PERIOD);
	CHECK(f->playout_wanted == 0, "%s: playout not requested", what);
	CHECK(atomic_load(&f->xruns) == 0, "%s: no xruns", what);
	CHECK(atomic_load(&f->lost) == 0, "%s: clock never lost", what);
}

/* Sample c of frame k of a stereo file, as a number in the device scale. */
static double sample_at(const unsigned char *buf, const char *format, uint64_t k, int c)
{
	size_t bytes = strcmp(format, "S16_LE") ? 4 : 2;
	const unsigned char *s = buf + (k * 2 + (uint64_t)c) * bytes;
	uint32_t u = (uint32_t)s[0] | (uint32_t)s[1] << 8;
	float x;

	if (bytes == 2)
		return (int16_t)u;
	u |= (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
	if (!strcmp(format, "S32_LE"))
		return (int32_t)u;
	memcpy(&x, &u, sizeof(x));
	return x;
}

/* The ramp value in the device scale: full scale 32767 for S16 (symmetric),
 * 2^31 clamped to INT32_MAX for S32, 1.0 for float. */
static double expected(const char *format, double x)
{
	double v;

	if (!strcmp(format, "S16_LE"))
		return round(clip(x) * 32767.0);
	if (!strcmp(format, "S32_LE")) {
		v = round(clip(x) * 2147483648.0);
		return v > 2147483647.0 ? 2147483647.0 : v;
	}
	return (float)clip(x);
}

/* Mismatches between the file (from frame skip on) and the ramp; integer
 * formats may differ by one step of rounding. */
static unsigned long compare(const char *format, uint64_t skip, uint64_t frames,
			     const unsigned char *buf)
{
	double tol = strcmp(format, "FLOAT_LE") ? 1.0 : 0.0;
	unsigned long bad = 0;

	for (uint64_t k = 0; k < frames; k++) {
		float l = ramp(k);

		if (fabs(sample_at(buf, format, skip + k, 0) - expected(format, l)) > tol)
			bad++;
		if (fabs(sample_at(buf, format, skip + k, 1) - expected(format, right_of(l))) > tol)
			bad++;
	}
	return bad;
}

static void test_format(const char *name, const char *format, size_t bytes, int rt_priority)
{
	struct airmix_config cfg;
	struct fake f = { 0 };
	char device[32];
	unsigned char *buf;
	uint32_t inputs = 99;
	size_t len = 0;
	uint64_t frames;

	snprintf(device, sizeof(device), "airmix_%s", name);
	base_config(&cfg, device, format);
	cfg.rt_priority = rt_priority;
	if (run_backend(&cfg, &f, 40, &inputs) < 0)
		return;
	check_common(&f, format);
	CHECK(inputs == 0 && f.inputs_seen == 0, "%s: no inputs without capture", format);
	buf = read_file(name, &len);
	frames = atomic_load(&f.cycles) * (uint64_t)PERIOD;
	CHECK(buf && len == frames * 2 * bytes, "%s: file holds every frame: %zu bytes for %llu "
	      "frames", format, len, (unsigned long long)frames);
	if (buf && len == frames * 2 * bytes) {
		unsigned long bad = compare(format, 0, frames, buf);

		CHECK(bad == 0, "%s: every sample is the clipped ramp (%lu wrong)", format, bad);
	}
	free(buf);
}

static void test_duplex(void)
{
	struct airmix_config cfg;
	struct fake f = { 0 };
	unsigned char *buf;
	uint32_t inputs = 0;
	size_t len = 0, i, silent = (PERIODS - 1) * PERIOD * 4;
	int zeros = 1;

	base_config(&cfg, "airmix_duplex", "S16_LE");
	snprintf(cfg.alsa_capture_device, sizeof(cfg.alsa_capture_device), "null");
	cfg.alsa_inputs = 2;
	if (run_backend(&cfg, &f, 40, &inputs) < 0)
		return;
	check_common(&f, "duplex");
	CHECK(inputs == 2 && f.inputs_seen == 2, "duplex: 2 capture inputs (%u, seen %u)", inputs,
	      f.inputs_seen);
	CHECK(f.inputs_bad == 0, "duplex: capture from null delivered silence (%d bad)",
	      f.inputs_bad);
	buf = read_file("duplex", &len);
	CHECK(buf && len == silent + atomic_load(&f.cycles) * PERIOD * 4,
	      "duplex: file holds %d periods of silence, then every cycle (%zu bytes)",
	      PERIODS - 1, len);
	for (i = 0; buf && i < silent && i < len; i++)
		zeros &= buf[i] == 0;
	CHECK(buf && zeros, "duplex: playback primed with silence");
	if (buf && len == silent + atomic_load(&f.cycles) * PERIOD * 4) {
		unsigned long bad = compare("S16_LE", (PERIODS - 1) * PERIOD,
					    atomic_load(&f.cycles) * PERIOD, buf);

		CHECK(bad == 0, "duplex: ramp after the silence (%lu wrong)", bad);
	}
	free(buf);
}

/* Capture through the file plugin's infile: known S16 samples must arrive
 * as the engine's inputs, deinterleaved and scaled by 1/32768. */
static void test_capture_file(void)
{
	const uint64_t frames = 200 * PERIOD;
	struct airmix_config cfg;
	struct fake f = { .pattern_frames = frames };
	char path[128];
	uint32_t inputs = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/in.raw", dir);
	fp = fopen(path, "wb");
	for (uint64_t k = 0; fp && k < frames; k++) {
		for (uint32_t c = 0; c < 2; c++) {
			uint16_t v = (uint16_t)pattern(k, c);
			unsigned char le[2] = { (unsigned char)(v & 0xff), (unsigned char)(v >> 8) };

			fwrite(le, 1, 2, fp);
		}
	}
	CHECK(fp && fclose(fp) == 0, "capture file written");
	base_config(&cfg, "airmix_capture", "S16_LE");
	snprintf(cfg.alsa_capture_device, sizeof(cfg.alsa_capture_device), "airmix_infile");
	cfg.alsa_inputs = 2;
	if (run_backend(&cfg, &f, 40, &inputs) < 0)
		return;
	check_common(&f, "capture");
	CHECK(f.checked >= 40 * PERIOD * 2, "capture: %llu input samples compared",
	      (unsigned long long)f.checked);
	CHECK(f.inputs_bad == 0, "capture: every input sample is the file's (%d wrong)",
	      f.inputs_bad);
}

static void test_refusals(void)
{
	struct airmix_config cfg;
	struct fake f = { 0 };
	struct clock_host host = fake_host(&f);
	struct clock_backend *b = NULL;
	char err[256] = "";
	int r;

	base_config(&cfg, "airmix_no_such_pcm", "S16_LE");
	r = clock_alsa_ops.open(&cfg, &host, &b, err, sizeof(err));
	CHECK(r < 0 && strstr(err, "airmix_no_such_pcm"), "unknown device refused: %s", err);

	base_config(&cfg, "airmix_s16", "U8");
	err[0] = '\0';
	r = clock_alsa_ops.open(&cfg, &host, &b, err, sizeof(err));
	CHECK(r == -EINVAL && strstr(err, "U8"), "unknown format refused: %s", err);

	base_config(&cfg, "airmix_s16", "S16_LE");
	f.refuse_format = 1;
	err[0] = '\0';
	r = clock_alsa_ops.open(&cfg, &host, &b, err, sizeof(err));
	CHECK(r < 0 && strstr(err, "engine cannot run"), "format refused by the host: %s", err);

	base_config(&cfg, "airmix_s16", "S16_LE");
	snprintf(cfg.alsa_capture_device, sizeof(cfg.alsa_capture_device), "null");
	cfg.alsa_inputs = CLOCK_MAX_INPUTS + 1;
	f.refuse_format = 0;
	err[0] = '\0';
	r = clock_alsa_ops.open(&cfg, &host, &b, err, sizeof(err));
	CHECK(r == -EINVAL && strstr(err, "inputs"), "too many capture inputs refused: %s", err);
}

/* Against a device that consumes in real time: one stalled cycle is an
 * xrun, recovered, and the clock runs on at the device's pace. */
static void test_paced_xrun(const char *device)
{
	struct airmix_config cfg;
	struct fake f = { .stall_at = 20 };
	struct timespec end;
	uint32_t inputs = 0;
	double s;

	base_config(&cfg, device, "S16_LE");
	cfg.alsa_periods = 2;
	if (run_backend(&cfg, &f, PACED_CYCLES, &inputs) < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &end);
	s = (double)(end.tv_sec - f.mark.tv_sec) + (double)(end.tv_nsec - f.mark.tv_nsec) / 1e9;
	CHECK(atomic_load(&f.cycles) >= PACED_CYCLES, "paced: clock ran on after the stall "
	      "(%lu cycles)", (unsigned long)atomic_load(&f.cycles));
	CHECK(atomic_load(&f.xruns) >= 1, "paced: the stall was counted as an xrun (%lu)",
	      (unsigned long)atomic_load(&f.xruns));
	CHECK(atomic_load(&f.lost) == 0, "paced: recovered without losing the clock");
	/* From MARK_CYCLE on, real time: (cycles - MARK_CYCLE) periods. */
	double want = (double)(atomic_load(&f.cycles) - MARK_CYCLE) * PERIOD / RATE;
	CHECK(s > 0.7 * want && s < 1.5 * want, "paced: %.2f s for %.2f s of audio", s, want);
}

int main(void)
{
	const char *paced = getenv("AIRMIX_TEST_ALSA_PACED");
	char cmd[128];

	if (paced) {
		test_paced_xrun(paced);
		return CHECK_DONE();
	}

	snprintf(dir, sizeof(dir), "/tmp/airmix-alsa.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	write_asoundrc();
	test_format("s16", "S16_LE", 2, 0);
	test_format("s32", "S32_LE", 4, 0);
	test_format("float", "FLOAT_LE", 4, 10);
	test_duplex();
	test_capture_file();
	test_refusals();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return CHECK_DONE();
}
