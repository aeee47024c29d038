/* mix.h - mixing kernels: gain with a linear ramp, accumulate into a bus.
 *
 * The ops family of DESIGN §6: plain C reference versions written so that
 * the compiler vectorises them (dsp/ is built with -O3, never -ffast-math,
 * so results are bit-identical to the scalar definition). A gain of exactly
 * 1.0 with no ramp copies the input unchanged, which keeps the offline
 * backend's sums bit-exact.
 *
 * Threads: none of their own; callers' threads (the RT thread). No
 * allocation, no I/O.
 */
#ifndef AIRMIX_DSP_MIX_H
#define AIRMIX_DSP_MIX_H

#include <stdint.h>

/* dst[i] = src[i] * g, g ramping linearly from g0 towards g1 so that the last
 * sample is scaled by exactly g1. */
void dsp_gain_ramp(float *restrict dst, const float *restrict src, uint32_t n, float g0, float g1);
/* dst[i] = src[i] * g */
void dsp_gain(float *restrict dst, const float *restrict src, uint32_t n, float g);
/* dst[i] += src[i] */
void dsp_mix_add(float *restrict dst, const float *restrict src, uint32_t n);
/* dst[i] += src[i] * g, g ramping from g0 to g1 as in dsp_gain_ramp (plain add at 1) */
void dsp_mix_add_gain(float *restrict dst, const float *restrict src, uint32_t n, float g0,
		      float g1);
/* The steady-state source path in one pass: v = src * g, added to bus_a
 * (times ga) and bus_b (times gb) when they are not NULL, stored in post
 * when it is not NULL, and metered into four lanes (peak4, sum4: lane k
 * takes the samples i with i % 4 == k, the tail lane 0), exactly as
 * dsp_gain + dsp_mix_add_gain + meter_accumulate would, one pass instead of
 * four. */
void dsp_gain_mix_meter(const float *restrict src, uint32_t n, float g, float *restrict post,
			float *restrict bus_a, float ga, float *restrict bus_b, float gb,
			float peak4[4], float sum4[4]);
/* dst[2i] = l[i], dst[2i+1] = r[i] */
void dsp_interleave2(float *restrict dst, const float *restrict l, const float *restrict r,
		     uint32_t n);
/* l[i] = src[2i], r[i] = src[2i+1] */
void dsp_deinterleave2(float *restrict l, float *restrict r, const float *restrict src,
		       uint32_t n);
void dsp_clear(float *dst, uint32_t n);

#endif
