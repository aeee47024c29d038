/* mix.c - mixing kernels; see mix.h. Threads: the caller's (RT). */
#include "mix.h"

#include <math.h>
#include <string.h>

void dsp_gain_ramp(float *restrict dst, const float *restrict src, uint32_t n, float g0, float g1)
{
	float step;

	if (n == 0)
		return;
	step = (g1 - g0) / (float)n;
	for (uint32_t i = 0; i + 1 < n; i++)
		dst[i] = src[i] * (g0 + step * (float)(i + 1));
	dst[n - 1] = src[n - 1] * g1;
}

void dsp_gain(float *restrict dst, const float *restrict src, uint32_t n, float g)
{
	if (g == 1.0f) {
		if (dst != src)
			memcpy(dst, src, n * sizeof(*dst));
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		dst[i] = src[i] * g;
}

void dsp_mix_add(float *restrict dst, const float *restrict src, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		dst[i] += src[i];
}

void dsp_mix_add_gain(float *restrict dst, const float *restrict src, uint32_t n, float g0,
		      float g1)
{
	float step;

	if (g0 == g1) {
		if (g1 == 1.0f) {
			dsp_mix_add(dst, src, n);
		} else if (g1 != 0.0f) {
			for (uint32_t i = 0; i < n; i++)
				dst[i] += src[i] * g1;
		}
		return;
	}
	if (n == 0)
		return;
	step = (g1 - g0) / (float)n;
	for (uint32_t i = 0; i + 1 < n; i++)
		dst[i] += src[i] * (g0 + step * (float)(i + 1));
	dst[n - 1] += src[n - 1] * g1;
}

typedef float v4sf __attribute__((vector_size(16)));
typedef int32_t v4si __attribute__((vector_size(16)));

void dsp_gain_mix_meter(const float *restrict src, uint32_t n, float g, float *restrict post,
			float *restrict bus_a, float ga, float *restrict bus_b, float gb,
			float peak4[4], float sum4[4])
{
	const v4si abs_mask = { 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff };
	const v4sf gv = { g, g, g, g }, gav = { ga, ga, ga, ga }, gbv = { gb, gb, gb, gb };
	v4sf peak = { 0 }, sum = { 0 };
	uint32_t i = 0;

	for (; i + 4 <= n; i += 4) {
		v4sf x, v, a, acc;
		v4si bigger;

		memcpy(&x, src + i, sizeof(x));
		v = x * gv;	/* x * 1.0f is x: unity stays bit-exact */
		if (post)
			memcpy(post + i, &v, sizeof(v));
		if (bus_a) {
			memcpy(&acc, bus_a + i, sizeof(acc));
			acc += v * gav;
			memcpy(bus_a + i, &acc, sizeof(acc));
		}
		if (bus_b) {
			memcpy(&acc, bus_b + i, sizeof(acc));
			acc += v * gbv;
			memcpy(bus_b + i, &acc, sizeof(acc));
		}
		a = (v4sf)((v4si)v & abs_mask);
		bigger = a > peak;
		peak = (v4sf)(((v4si)a & bigger) | ((v4si)peak & ~bigger));
		sum += v * v;
	}
	memcpy(peak4, &peak, sizeof(peak));
	memcpy(sum4, &sum, sizeof(sum));
	for (; i < n; i++) {
		float v = src[i] * g, a = fabsf(v);

		if (post)
			post[i] = v;
		if (bus_a)
			bus_a[i] += v * ga;
		if (bus_b)
			bus_b[i] += v * gb;
		peak4[0] = a > peak4[0] ? a : peak4[0];
		sum4[0] += v * v;
	}
}

void dsp_interleave2(float *restrict dst, const float *restrict l, const float *restrict r,
		     uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		dst[2 * i] = l[i];
		dst[2 * i + 1] = r[i];
	}
}

void dsp_deinterleave2(float *restrict l, float *restrict r, const float *restrict src,
		       uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		l[i] = src[2 * i];
		r[i] = src[2 * i + 1];
	}
}

void dsp_clear(float *dst, uint32_t n)
{
	memset(dst, 0, n * sizeof(*dst));
}
