/* meter.h - peak and RMS meters over fixed windows, readable from any thread.
 *
 * DESIGN
 * The RT thread accumulates the peak and the sum of squares of every sample
 * per channel (meter_accumulate) and, once a window's worth of frames has
 * gone by, publishes peak and RMS of that window into relaxed atomics
 * (meter_publish). Readers on any thread load the atomics (meter_read): the
 * values of the last complete window, never a torn or half-summed one per
 * value. No locks, nothing allocated.
 *
 * Threads: accumulate/publish on the RT thread; read on any thread.
 */
#ifndef AIRMIX_DSP_METER_H
#define AIRMIX_DSP_METER_H

#include <stdatomic.h>
#include <stdint.h>

#define METER_CHANNELS 2

struct meter {
	/* RT-owned accumulators */
	float acc_peak[METER_CHANNELS];
	double acc_sumsq[METER_CHANNELS];
	uint32_t acc_frames;
	/* published: float bits */
	_Atomic uint32_t peak_bits[METER_CHANNELS];
	_Atomic uint32_t rms_bits[METER_CHANNELS];
	_Atomic uint32_t extra_bits;	/* e.g. limiter gain reduction in dB */
	float acc_extra;		/* RT-owned: worst value in the window */
};

/* Any thread, before the meter is used by RT. */
void meter_reset(struct meter *m);
/* RT: add n frames of one channel (vector version, and the plain C
 * reference it is tested against: both give identical results). */
void meter_accumulate(struct meter *m, uint32_t channel, const float *x, uint32_t n);
void meter_accumulate_ref(struct meter *m, uint32_t channel, const float *x, uint32_t n);
/* RT: add four lanes' peaks and sums of squares (from a fused kernel that
 * meters as it goes, see dsp_gain_mix_meter) in lane order. */
void meter_fold(struct meter *m, uint32_t channel, const float peak[4], const float sum[4]);
/* RT: count n frames; publishes and restarts the window when it is full. */
void meter_advance(struct meter *m, uint32_t n, uint32_t window_frames);
/* Any thread. */
void meter_read(const struct meter *m, float peak[METER_CHANNELS], float rms[METER_CHANNELS]);
float meter_read_extra(const struct meter *m);

/* Helpers for people: dBFS of a linear value, -INFINITY for 0. */
double meter_dbfs(double linear);

#endif
