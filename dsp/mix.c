/* mix.c - mixing kernels; see mix.h. Threads: the caller's (RT). */
#include "mix.h"

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

void dsp_interleave2(float *restrict dst, const float *restrict l, const float *restrict r,
		     uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		dst[2 * i] = l[i];
		dst[2 * i + 1] = r[i];
	}
}

void dsp_clear(float *dst, uint32_t n)
{
	memset(dst, 0, n * sizeof(*dst));
}
