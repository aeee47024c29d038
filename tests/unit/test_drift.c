/* test_drift.c - engine/rtc/drift.c: the copy is exact and delayed by
 * DRIFT_LATENCY, a slip drops or adds exactly one frame and the copy resumes
 * exactly after it, a tone read through continuous slipping stays clean,
 * and the slip length follows the largest correction.
 *
 * Threads: main only.
 */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "engine/rtc/drift.h"

#define RATE 48000.0
#define BLOCK 960u
#define MAX_OUT (BLOCK + BLOCK / 32 + 1)

static struct drift *make(uint32_t channels, double max)
{
	struct drift *d = NULL;

	return drift_create(channels, max, BLOCK, &d) < 0 ? NULL : d;
}

/* Runs `blocks` blocks of in (stereo) through d, with a correction at
 * block `at` only; returns the frames written to out. */
static uint32_t run(struct drift *d, const float *in, uint32_t blocks, uint32_t at,
		    double correction, float *out)
{
	uint32_t total = 0;

	for (uint32_t b = 0; b < blocks; b++)
		total += drift_process(d, in + (size_t)b * BLOCK * 2, BLOCK,
				       b == at ? correction : 0.0, out + (size_t)total * 2);
	return total;
}

static float *noise(uint32_t frames)
{
	float *x = malloc((size_t)frames * 2 * sizeof(float));

	for (uint32_t i = 0; x && i < 2 * frames; i++)
		x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
	return x;
}

static void test_copy(void)
{
	const uint32_t blocks = 10;
	struct drift *d = make(2, 1e-3);
	float *in = noise(blocks * BLOCK), *out = malloc((size_t)blocks * MAX_OUT * 2 * sizeof(float));
	uint32_t n, bad = 0;

	CHECK(d && in && out, "created");
	if (!d || !in || !out)
		goto cleanup;
	n = run(d, in, blocks, 0, 0.0, out);
	CHECK(n == blocks * BLOCK - DRIFT_LATENCY, "%u frames out of %u (latency %u)", n,
	      blocks * BLOCK, DRIFT_LATENCY);
	for (uint32_t i = 0; i < 2 * n; i++)
		bad += out[i] != in[i];
	CHECK(bad == 0, "without a correction the output is the input, bit for bit (%u differ)", bad);
	CHECK(drift_slipped(d) == 0, "nothing slipped");
cleanup:
	drift_destroy(d);
	free(in);
	free(out);
}

/* Blocks of every size from 1 frame to BLOCK, so the straight copy of a
 * whole block and the frame-by-frame path take turns: the output stays the
 * input, exactly. (test_one_slip crosses from one to the other at a slip.) */
static void test_mixed_blocks(void)
{
	const uint32_t frames = 40 * BLOCK;
	struct drift *d = make(2, 1e-3);
	float *in = noise(frames), *out = malloc((size_t)frames * 2 * 2 * sizeof(float));
	uint32_t at = 0, n = 0, bad = 0;

	CHECK(d && in && out, "created");
	if (!d || !in || !out)
		goto cleanup;
	srand(7);
	while (at < frames) {
		uint32_t k = rand() % 3 ? 1 + (uint32_t)rand() % 40 : 1 + (uint32_t)rand() % BLOCK;

		if (k > frames - at)
			k = frames - at;
		n += drift_process(d, in + (size_t)at * 2, k, 0.0, out + (size_t)n * 2);
		at += k;
	}
	for (uint32_t i = 0; i < 2 * n; i++)
		bad += out[i] != in[i];
	CHECK(n == frames - DRIFT_LATENCY, "%u frames out of %u", n, frames);
	CHECK(bad == 0, "blocks of 1 to %u frames: the output is the input (%u samples differ)",
	      BLOCK, bad);
cleanup:
	drift_destroy(d);
	free(in);
	free(out);
}

/* One slip of direction dir (+1 drops a frame, -1 adds one), of a 200 Hz
 * tone. */
static void test_one_slip(int dir)
{
	const uint32_t blocks = 4, start = BLOCK - DRIFT_LATENCY;
	const double w = 2.0 * M_PI * 200.0 / RATE;
	struct drift *d = make(2, 1e-3);
	float *in = malloc((size_t)blocks * BLOCK * 2 * sizeof(float));
	float *out = malloc((size_t)blocks * MAX_OUT * 2 * sizeof(float));
	uint32_t n, span, after = 0;
	double during = 0.0;

	CHECK(d && in && out, "created");
	if (!d || !in || !out)
		goto cleanup;
	for (uint32_t i = 0; i < blocks * BLOCK; i++) {
		in[2 * i] = (float)(0.5 * sin(w * i));
		in[2 * i + 1] = (float)(0.25 * cos(w * i));
	}
	span = drift_span(d);
	/* a debt of exactly one frame at the second block: the slip begins
	 * with that block's first output */
	n = run(d, in, blocks, 1, dir / (double)BLOCK, out);
	CHECK(drift_slipped(d) == dir, "%+d: slipped %lld", dir, (long long)drift_slipped(d));
	CHECK(n == blocks * BLOCK - DRIFT_LATENCY - (uint32_t)dir, "%+d: %u frames out", dir, n);
	/* during it the read position moves by 1 + dir / span a frame */
	for (uint32_t k = start; k <= start + span; k++) {
		double pos = start + (k - start) * (1.0 + dir / (double)span);

		during = fmax(during, fabs(out[2 * k] - 0.5 * sin(w * pos)));
		during = fmax(during, fabs(out[2 * k + 1] - 0.25 * cos(w * pos)));
	}
	/* after it, output k is input k + dir, exactly */
	for (uint32_t k = start + span; k < n; k++)
		for (uint32_t c = 0; c < 2; c++)
			after += out[2 * k + c] != in[2 * (k + (uint32_t)dir) + c];
	CHECK(during < 1e-4, "%+d: over the %u frames of the slip the tone is read smoothly "
	      "(largest error %.2g)", dir, span, during);
	CHECK(after == 0, "%+d: the %u frames after the slip are the input moved by one (%u differ)",
	      dir, n - start - span, after);
cleanup:
	drift_destroy(d);
	free(in);
	free(out);
}

/* A tone read at a steady ratio 1 + 1/span (a slip all the time): the
 * output is a tone at f * (1 + 1/span); the residual after fitting it is
 * the stage's noise and distortion. */
static double tone_snr_db(double f)
{
	const uint32_t blocks = 50;
	struct drift *d = make(2, 1e-3);
	float *in = malloc((size_t)blocks * BLOCK * 2 * sizeof(float));
	float *out = malloc((size_t)blocks * MAX_OUT * 2 * sizeof(float));
	double snr = 0.0;
	uint32_t n = 0;

	if (!d || !in || !out)
		goto cleanup;
	for (uint32_t i = 0; i < blocks * BLOCK; i++)
		in[2 * i] = in[2 * i + 1] = (float)(0.5 * sin(2.0 * M_PI * f * i / RATE));
	for (uint32_t b = 0; b < blocks; b++)
		n += drift_process(d, in + (size_t)b * BLOCK * 2, BLOCK, 2.0 / drift_span(d),
				   out + (size_t)n * 2);
	{
		const double w = 2.0 * M_PI * f * (1.0 + 1.0 / drift_span(d)) / RATE;
		const uint32_t from = 4096, to = n - 64;
		double ss = 0, cc = 0, sc = 0, ys = 0, yc = 0, a, b, det, err = 0, sig = 0;

		/* least squares y = a sin(wk) + b cos(wk) */
		for (uint32_t k = from; k < to; k++) {
			double s = sin(w * k), c = cos(w * k);

			ss += s * s;
			cc += c * c;
			sc += s * c;
			ys += out[2 * k] * s;
			yc += out[2 * k] * c;
		}
		det = ss * cc - sc * sc;
		a = (ys * cc - yc * sc) / det;
		b = (yc * ss - ys * sc) / det;
		for (uint32_t k = from; k < to; k++) {
			double fit = a * sin(w * k) + b * cos(w * k);

			err += (out[2 * k] - fit) * (out[2 * k] - fit);
			sig += fit * fit;
		}
		snr = 10.0 * log10(sig / (err + 1e-30));
	}
cleanup:
	drift_destroy(d);
	free(in);
	free(out);
	return snr;
}

static void test_quality(void)
{
	double low = tone_snr_db(1000.0), high = tone_snr_db(15000.0);

	CHECK(low > 80.0, "1 kHz through continuous slipping: %.1f dB signal to noise+distortion",
	      low);
	CHECK(high > 60.0, "15 kHz through continuous slipping: %.1f dB", high);
}

static void test_span(void)
{
	const struct {
		double max;
		uint32_t span;
	} cases[] = { { 1e-4, 1024 }, { 5e-4, 1024 }, { 1e-3, 512 }, { 5e-3, 128 }, { 2e-2, 32 } };
	struct drift *d = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		d = make(1, cases[i].max);
		CHECK(d && drift_span(d) == cases[i].span, "%.0f ppm: slips of %u frames (%u)",
		      cases[i].max * 1e6, cases[i].span, d ? drift_span(d) : 0);
		drift_destroy(d);
	}
	CHECK(drift_create(0, 1e-3, BLOCK, &d) < 0 && drift_create(2, -1.0, BLOCK, &d) < 0 &&
	      drift_create(2, 1e-3, 0, &d) < 0, "bad arguments are refused");
}

int main(void)
{
	test_copy();
	test_mixed_blocks();
	test_one_slip(1);
	test_one_slip(-1);
	test_quality();
	test_span();
	return CHECK_DONE();
}
