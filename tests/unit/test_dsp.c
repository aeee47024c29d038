/* test_dsp.c - the DSP kernels against their definitions: gain ramps,
 * mixing, interleaving, meters, and the limiter's ceiling and transparency.
 *
 * Threads: main thread only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dsp/limiter.h"
#include "dsp/meter.h"
#include "dsp/mix.h"

#define N 1000

static float frand(void)
{
	return 2.0f * (float)rand() / (float)RAND_MAX - 1.0f;
}

static void test_mix(void)
{
	static float a[N], b[N], d[N], e[N], il[2 * N];
	int ramp_ok = 1, gain_ok = 1, add_ok = 1, il_ok = 1;

	for (int i = 0; i < N; i++) {
		a[i] = frand();
		b[i] = frand();
	}
	dsp_gain_ramp(d, a, N, 0.2f, 0.8f);
	for (int i = 0; i < N - 1; i++)
		ramp_ok &= d[i] == a[i] * (0.2f + (0.8f - 0.2f) / N * (float)(i + 1));
	CHECK(ramp_ok && d[N - 1] == a[N - 1] * 0.8f, "ramp follows its definition, ends on the target");
	dsp_gain(d, a, N, 1.0f);
	CHECK(memcmp(d, a, sizeof(a)) == 0, "unity gain copies bit for bit");
	dsp_gain(d, a, N, 0.5f);
	for (int i = 0; i < N; i++)
		gain_ok &= d[i] == a[i] * 0.5f;
	CHECK(gain_ok, "constant gain");
	memcpy(d, a, sizeof(a));
	dsp_mix_add(d, b, N);
	for (int i = 0; i < N; i++)
		add_ok &= d[i] == a[i] + b[i];
	CHECK(add_ok, "mix adds exactly");
	dsp_interleave2(il, a, b, N);
	for (int i = 0; i < N; i++)
		il_ok &= il[2 * i] == a[i] && il[2 * i + 1] == b[i];
	CHECK(il_ok, "interleave");
	memset(d, 0, sizeof(d));
	memset(e, 0, sizeof(e));
	dsp_deinterleave2(d, e, il, N);
	CHECK(!memcmp(d, a, sizeof(a)) && !memcmp(e, b, sizeof(b)), "deinterleave undoes interleave");
}

static void test_meter(void)
{
	static float x[4800];
	struct meter m;
	float peak[2], rms[2];

	for (int i = 0; i < 4800; i++)
		x[i] = 0.5f * sinf(2.0f * (float)M_PI * 100.0f * (float)i / 48000.0f);
	meter_reset(&m);
	meter_accumulate(&m, 0, x, 2400);
	meter_accumulate(&m, 1, x, 2400);
	meter_advance(&m, 2400, 4800);
	meter_read(&m, peak, rms);
	CHECK(peak[0] == 0.0f, "nothing published before the window is full");
	meter_accumulate(&m, 0, x + 2400, 2400);
	meter_accumulate(&m, 1, x + 2400, 2400);
	meter_advance(&m, 2400, 4800);
	meter_read(&m, peak, rms);
	CHECK(fabsf(peak[0] - 0.5f) < 1e-4f, "peak %.5f", peak[0]);
	CHECK(fabsf(rms[0] - 0.5f / sqrtf(2.0f)) < 1e-4f, "rms %.5f", rms[0]);
	CHECK(isinf(meter_dbfs(0.0)) && fabs(meter_dbfs(1.0)) < 1e-12, "dBFS conversion");
}

static void test_meter_versions(void)
{
	static float x[1031];
	int same = 1;

	for (int i = 0; i < 1031; i++)
		x[i] = (i % 97 == 0 ? 4.0f : 1.0f) * frand();
	for (uint32_t n = 0; n <= 1031; n += 7) {
		struct meter a, b;

		meter_reset(&a);
		meter_reset(&b);
		meter_accumulate(&a, 1, x, n);
		meter_accumulate_ref(&b, 1, x, n);
		meter_accumulate(&a, 1, x + 3, n / 2);
		meter_accumulate_ref(&b, 1, x + 3, n / 2);
		same &= a.acc_peak[1] == b.acc_peak[1] && a.acc_sumsq[1] == b.acc_sumsq[1];
	}
	CHECK(same, "vector meter equals the reference bit for bit at every length");
}

/* The fused steady-state kernel against the passes it replaces. */
static void test_fused(void)
{
	static float src[131], post[131], ref_post[131];
	static float a[131], b[131], ref_a[131], ref_b[131];
	const float gains[][3] = { { 1.0f, 1.0f, 1.0f }, { 0.7f, 1.0f, 0.5f }, { 2.5f, 0.3f, 4.0f } };
	int same = 1;

	for (int i = 0; i < 131; i++)
		src[i] = frand();
	for (size_t k = 0; k < sizeof(gains) / sizeof(gains[0]); k++) {
		struct meter m, ref;
		float peak4[4], sum4[4];
		const float g = gains[k][0], ga = gains[k][1], gb = gains[k][2];

		for (int i = 0; i < 131; i++)
			a[i] = ref_a[i] = b[i] = ref_b[i] = 0.1f * (float)i;
		meter_reset(&m);
		meter_reset(&ref);
		dsp_gain_mix_meter(src, 131, g, post, a, ga, b, gb, peak4, sum4);
		meter_fold(&m, 0, peak4, sum4);
		dsp_gain(ref_post, src, 131, g);
		dsp_mix_add_gain(ref_a, ref_post, 131, ga, ga);
		dsp_mix_add_gain(ref_b, ref_post, 131, gb, gb);
		meter_accumulate_ref(&ref, 0, ref_post, 131);
		same &= !memcmp(post, ref_post, sizeof(post)) && !memcmp(a, ref_a, sizeof(a)) &&
			!memcmp(b, ref_b, sizeof(b)) && m.acc_peak[0] == ref.acc_peak[0] &&
			m.acc_sumsq[0] == ref.acc_sumsq[0];
	}
	CHECK(same, "fused gain+mix+meter equals gain, mix and meter done apart, bit for bit");
}

static void test_limiter(uint32_t lookahead)
{
	static float l[48000], r[48000], l0[48000], r0[48000];
	struct limiter *lim = malloc(sizeof(*lim));
	const float ceiling = 0.5f;
	float peak = 0.0f;
	int exact = 1;

	/* bursts up to +12 dB over the ceiling between quiet passages */
	for (int i = 0; i < 48000; i++) {
		float env = (i / 4000) % 2 ? 2.0f : 0.1f;

		l[i] = l0[i] = env * frand();
		r[i] = r0[i] = env * frand();
	}
	limiter_init(lim, ceiling, lookahead, limiter_release_coef(50.0, 48000));
	for (int off = 0; off < 48000; off += 128)
		limiter_process(lim, l + off, r + off, 128);
	for (int i = 0; i < 48000; i++) {
		peak = fmaxf(peak, fmaxf(fabsf(l[i]), fabsf(r[i])));
	}
	CHECK(peak <= ceiling, "look-ahead %u: no sample above the ceiling (peak %.6f)", lookahead, peak);
	/* the quiet first passage is untouched (delayed by the look-ahead) */
	for (uint32_t i = lookahead; i < 3000; i++)
		exact &= l[i] == l0[i - lookahead] && r[i] == r0[i - lookahead];
	CHECK(exact, "look-ahead %u: below the ceiling the output is the input, delayed", lookahead);
	free(lim);
}

/* A block below the ceiling in a unity window takes a shortcut; a block with
 * one peak takes the per-sample way all through. Blocks of 1 and 7 frames
 * cut the same signal elsewhere, so both ways meet the same samples. */
static void test_limiter_blocks(uint32_t lookahead)
{
	static float l[3][24000], r[3][24000], g[3][24000];
	static const uint32_t block[3] = { 256, 1, 7 };
	struct limiter *lim = malloc(sizeof(*lim));
	int same = 1;

	for (int i = 0; i < 24000; i++) {
		/* quiet, with a lone peak now and then and a loud burst */
		float v = (i % 3001 == 100 || (i > 12000 && i < 14000)) ? 1.5f : 0.2f;

		l[0][i] = l[1][i] = l[2][i] = v * frand();
		r[0][i] = r[1][i] = r[2][i] = v * frand();
	}
	for (int k = 0; k < 3; k++) {
		limiter_init(lim, 0.5f, lookahead, limiter_release_coef(20.0, 48000));
		for (uint32_t off = 0; off < 24000; off += block[k]) {
			uint32_t n = 24000 - off < block[k] ? 24000 - off : block[k];

			limiter_process_gains(lim, l[k] + off, r[k] + off, n, g[k] + off);
		}
	}
	for (int k = 1; k < 3; k++)
		same &= !memcmp(l[0], l[k], sizeof(l[0])) && !memcmp(r[0], r[k], sizeof(r[0])) &&
			!memcmp(g[0], g[k], sizeof(g[0]));
	CHECK(same, "look-ahead %u: output and gains the same in blocks of 256, 1 and 7, bit for "
	      "bit", lookahead);
	free(lim);
}

int main(void)
{
	test_mix();
	test_meter();
	test_meter_versions();
	test_fused();
	test_limiter(0);
	test_limiter(48);
	test_limiter(240);
	test_limiter_blocks(0);
	test_limiter_blocks(48);
	return CHECK_DONE();
}
