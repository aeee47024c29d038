/* drift.h - clock-drift correction for a remote track at 48 kHz: audio
 * passes through untouched, and now and then exactly one frame is slipped
 * (dropped or added) by resampling smoothly over `span` frames.
 *
 * DESIGN
 * A sender's clock differs from the engine's by tens of ppm, so a track has
 * to be played a little faster or slower than it was sent. Resampling every
 * frame at a ratio like 1.00005 costs as much as decoding the Opus packet
 * did, for a correction of a frame every 0.4 s. Instead the caller says how
 * fast the buffer should drain (a fraction: +1e-4 = consume 100 ppm more
 * than nominal) and the stage keeps a debt of frames: while it is under one
 * frame, output is the input delayed by DRIFT_LATENCY frames (a copy); when
 * it reaches one frame, the next `span` outputs read the input at positions
 * that advance by 1 + 1/span (or 1 - 1/span) each, through a 32-tap
 * windowed-sinc table with one row per phase. After `span` outputs the
 * phase is back at zero, one frame has been slipped and the copy resumes;
 * row 0 of the table is a unit impulse, so the seams are exact.
 *
 * span is a power of two from 32 to 1024 chosen from the largest
 * correction asked for (a slip running all the time corrects 1/span): at
 * the default 1000 ppm it is 512, a 0.2 % speed change (3.4 cents) during a
 * slip. A sender 50 ppm off keeps the stage resampling 2.5 % of the time.
 *
 * Threads: one thread at a time per instance (the media thread); the shared
 * table is built once, thread-safely, by the first drift_create().
 */
#ifndef AIRMIX_RTC_DRIFT_H
#define AIRMIX_RTC_DRIFT_H

#include <stdint.h>

#define DRIFT_LATENCY 16u	/* frames: half the filter */

struct drift;

/* max_fraction: the largest |correction| drift_process() will be given. */
int drift_create(uint32_t channels, double max_fraction, uint32_t max_block, struct drift **out);
void drift_destroy(struct drift *d);

/* Frames the slip length is (see above). */
uint32_t drift_span(const struct drift *d);

/* Takes n interleaved input frames (n <= max_block), adds correction * n to
 * the debt, writes the output frames to out and returns how many (at most
 * n + n / span + 1; fewer than n only while the first DRIFT_LATENCY frames
 * fill the filter). */
uint32_t drift_process(struct drift *d, const float *in, uint32_t n, double correction,
		       float *out);

/* Net frames slipped so far: positive when input was dropped. */
int64_t drift_slipped(const struct drift *d);

#endif
