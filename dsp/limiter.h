/* limiter.h - linked stereo look-ahead peak limiter for the buses.
 *
 * DESIGN
 * Output sample t is input sample t-L (L = look-ahead frames) times a gain
 * g(t). For every input sample the gain it needs is r = min(1, ceiling/|x|)
 * (the louder channel decides, so the stereo image stays put). A running
 * minimum of r over the last L+1 samples, held with an exponential release,
 * is smoothed by a moving average of the same length; every term of that
 * average covers sample t-L, so g(t) <= r(t-L) and no sample leaves above the
 * ceiling — the attack is a linear fade over L samples instead of a click. A
 * final clamp catches float rounding. With nothing above the ceiling the gain
 * is exactly 1 and the output is the input delayed by L, bit for bit.
 * L = 0 gives an instantaneous limiter with the same release.
 *
 * Threads: limiter_init off RT (it allocates); limiter_process on the RT
 * thread only.
 */
#ifndef AIRMIX_DSP_LIMITER_H
#define AIRMIX_DSP_LIMITER_H

#include <stdint.h>

#define LIMITER_MAX_LOOKAHEAD 1024

struct limiter {
	float ceiling;		/* linear */
	float release_coef;	/* per sample, 0..1 */
	uint32_t lookahead;	/* frames */
	uint32_t pos;		/* ring position */
	float held;		/* min-hold with release */
	float delay[2][LIMITER_MAX_LOOKAHEAD + 1];
	float need[LIMITER_MAX_LOOKAHEAD + 1];	/* required gains, last L+1 */
	float held_hist[LIMITER_MAX_LOOKAHEAD + 1];	/* held values, last L+1 */
	float min_gain;		/* smallest gain since the last read (for meters) */
	/* how many of the newest need / held_hist entries are 1.0 in a row:
	 * at L+1 or more the window is all 1.0 and is not scanned */
	uint32_t need_ones, held_ones;
};

/* Off RT. lookahead is clamped to LIMITER_MAX_LOOKAHEAD. */
void limiter_init(struct limiter *lim, float ceiling_linear, uint32_t lookahead_frames,
		  float release_coef);
/* Release coefficient for a time constant of release_ms at rate. */
float limiter_release_coef(double release_ms, uint32_t rate);
/* RT: process n frames of two channels in place. */
void limiter_process(struct limiter *lim, float *l, float *r, uint32_t n);
/* The same, and the gain applied to each output frame into gains (n): the
 * mix-minus taps take a node's delayed contribution out at that gain. */
void limiter_process_gains(struct limiter *lim, float *l, float *r, uint32_t n, float *gains);

#endif
