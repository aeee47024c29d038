/* limiter.c - look-ahead peak limiter; see limiter.h for the design.
 * Threads: init off RT, process on RT. */
#include "limiter.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

void limiter_init(struct limiter *lim, float ceiling_linear, uint32_t lookahead_frames,
		  float release_coef)
{
	memset(lim, 0, sizeof(*lim));
	lim->ceiling = ceiling_linear;
	lim->lookahead = lookahead_frames > LIMITER_MAX_LOOKAHEAD ? LIMITER_MAX_LOOKAHEAD
								  : lookahead_frames;
	lim->release_coef = release_coef;
	lim->held = 1.0f;
	lim->min_gain = 1.0f;
	lim->need_ones = lim->held_ones = LIMITER_MAX_LOOKAHEAD + 1;
	for (uint32_t i = 0; i <= LIMITER_MAX_LOOKAHEAD; i++) {
		lim->need[i] = 1.0f;
		lim->held_hist[i] = 1.0f;
	}
}

float limiter_release_coef(double release_ms, uint32_t rate)
{
	if (release_ms <= 0.0 || rate == 0)
		return 1.0f;
	return (float)(1.0 - exp(-1.0 / (release_ms * 0.001 * rate)));
}

static float window_min(const float *v, uint32_t len)
{
	float m = v[0];

	for (uint32_t i = 1; i < len; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static float window_mean(const float *v, uint32_t len)
{
	float s = 0.0f;

	for (uint32_t i = 0; i < len; i++)
		s += v[i];
	return s / (float)len;
}

/* Counts a run of 1.0 entries, up to len. */
static uint32_t count_ones(uint32_t run, float v, uint32_t len)
{
	if (v != 1.0f)
		return 0;
	return run < len ? run + 1 : len;
}

static float clampf(float x, float c)
{
	return x > c ? c : (x < -c ? -c : x);
}

void limiter_process(struct limiter *lim, float *l, float *r, uint32_t n)
{
	limiter_process_gains(lim, l, r, n, NULL);
}

/* Nothing over the ceiling in this block. */
static bool block_below(const float *l, const float *r, uint32_t n, float c)
{
	int over = 0;

	for (uint32_t i = 0; i < n; i++)
		over |= (fabsf(l[i]) > c) | (fabsf(r[i]) > c);
	return !over;
}

/* The usual case: unity gain for a whole window and nothing over the ceiling
 * in the block, so every gain stays 1 and the block is only delayed. Gives
 * exactly what the per-sample loop gives in that state. */
static bool process_unity(struct limiter *lim, float *l, float *r, uint32_t n, float *gains)
{
	const uint32_t len = lim->lookahead + 1;
	uint32_t pos = lim->pos;

	if (lim->need_ones < len || lim->held_ones < len || lim->held != 1.0f ||
	    !block_below(l, r, n, lim->ceiling))
		return false;
	if (len > 1) {
		for (uint32_t i = 0; i < n; i++) {
			const uint32_t slot = pos;
			float out_l, out_r;

			pos = slot + 1 == len ? 0 : slot + 1;
			out_l = lim->delay[0][pos];
			out_r = lim->delay[1][pos];
			lim->delay[0][slot] = l[i];
			lim->delay[1][slot] = r[i];
			l[i] = out_l;
			r[i] = out_r;
		}
	}
	lim->pos = pos;
	if (gains)
		for (uint32_t i = 0; i < n; i++)
			gains[i] = 1.0f;
	return true;
}

void limiter_process_gains(struct limiter *lim, float *l, float *r, uint32_t n, float *gains)
{
	const uint32_t len = lim->lookahead + 1;
	const float c = lim->ceiling;

	if (process_unity(lim, l, r, n, gains))
		return;
	for (uint32_t i = 0; i < n; i++) {
		float in_l = l[i], in_r = r[i];
		float a = fmaxf(fabsf(in_l), fabsf(in_r));
		float need = a > c ? c / a : 1.0f;
		uint32_t slot = lim->pos;
		float m, g, out_l, out_r;

		lim->need[slot] = need;
		lim->need_ones = count_ones(lim->need_ones, need, len);
		m = lim->need_ones >= len ? 1.0f : window_min(lim->need, len);
		/* hold the minimum, recover towards it with the release */
		lim->held = m < lim->held ? m : lim->held + (m - lim->held) * lim->release_coef;
		if (lim->held > m)
			lim->held = m;
		lim->held_hist[slot] = lim->held;
		lim->held_ones = count_ones(lim->held_ones, lim->held, len);
		/* below the ceiling for a whole window (most of the time): unity */
		g = lim->held_ones >= len ? 1.0f : window_mean(lim->held_hist, len);
		if (g < lim->min_gain)
			lim->min_gain = g;
		/* delay line: the oldest sample leaves, the new one enters */
		lim->pos = slot + 1 == len ? 0 : slot + 1;
		out_l = lim->delay[0][lim->pos];
		out_r = lim->delay[1][lim->pos];
		lim->delay[0][slot] = in_l;
		lim->delay[1][slot] = in_r;
		if (len == 1) {
			out_l = in_l;
			out_r = in_r;
		}
		l[i] = g == 1.0f ? out_l : clampf(out_l * g, c);
		r[i] = g == 1.0f ? out_r : clampf(out_r * g, c);
		if (gains)
			gains[i] = g;
	}
}
