/* drift.c - clock-drift correction by occasional one-frame slips; see
 * drift.h for the design. Threads: as drift.h says. */
#include "drift.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TAPS 32u			/* 2 * DRIFT_LATENCY */
#define HISTORY (DRIFT_LATENCY - 1u)	/* frames kept before the read position */
#define PHASES 1024u			/* rows of the table: the longest span */
#define SPAN_MIN 32u
#define KAISER_BETA 7.9			/* about 80 dB; flat to 20 kHz at 48 kHz */

static float table[PHASES][TAPS];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

struct drift {
	uint32_t channels;
	uint32_t span;		/* outputs per slip */
	uint32_t stride;	/* table rows per output during a slip */
	uint32_t max_block;
	double debt;		/* frames still to slip: positive = to drop */
	int dir;		/* the slip under way: +1 drop, -1 add, 0 none */
	uint32_t remaining;	/* outputs left in it */
	int32_t phase;		/* table row of the next output */
	int64_t slipped;
	float *w;		/* HISTORY + lookahead + a block, interleaved */
	uint32_t w_len;		/* frames in w */
	uint32_t pos;		/* frame of w the next output reads at */
};

/* Zeroth-order modified Bessel function, by its series. */
static double bessel_i0(double x)
{
	double sum = 1.0, term = 1.0;

	for (int k = 1; k < 40; k++) {
		term *= (x / (2.0 * k)) * (x / (2.0 * k));
		sum += term;
	}
	return sum;
}

/* Row p holds the filter for reading at fraction p / PHASES past a frame:
 * tap j weighs the frame j - HISTORY away from the read position. Each row
 * is normalised to unit gain at DC; row 0 is the unit impulse. */
static void build_table(void)
{
	for (uint32_t p = 0; p < PHASES; p++) {
		double sum = 0.0, row[TAPS];

		for (uint32_t j = 0; j < TAPS; j++) {
			double t = (double)j - HISTORY - (double)p / PHASES;
			double r = t / DRIFT_LATENCY;
			double win = fabs(r) < 1.0 ? bessel_i0(KAISER_BETA * sqrt(1.0 - r * r)) /
							     bessel_i0(KAISER_BETA)
						   : 0.0;
			double sinc = t == 0.0 ? 1.0 : sin(M_PI * t) / (M_PI * t);

			row[j] = win * sinc;
			sum += row[j];
		}
		for (uint32_t j = 0; j < TAPS; j++)
			table[p][j] = (float)(p == 0 ? (j == HISTORY) : row[j] / sum);
	}
}

int drift_create(uint32_t channels, double max_fraction, uint32_t max_block, struct drift **out)
{
	struct drift *d;
	uint32_t span = PHASES;

	if (!channels || !max_block || !(max_fraction >= 0.0))
		return -EINVAL;
	/* a slip running all the time must correct a quarter more than asked */
	while (span > SPAN_MIN && 1.0 / span < 1.25 * max_fraction)
		span /= 2;
	pthread_once(&table_once, build_table);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->channels = channels;
	d->span = span;
	d->stride = PHASES / span;
	d->max_block = max_block;
	d->w = calloc((size_t)(HISTORY + TAPS + max_block) * channels, sizeof(float));
	if (!d->w) {
		free(d);
		return -ENOMEM;
	}
	d->w_len = HISTORY;	/* silence before the first frame */
	d->pos = HISTORY;
	*out = d;
	return 0;
}

void drift_destroy(struct drift *d)
{
	if (!d)
		return;
	free(d->w);
	free(d);
}

uint32_t drift_span(const struct drift *d)
{
	return d->span;
}

int64_t drift_slipped(const struct drift *d)
{
	return d->slipped;
}

/* One output frame read at pos + phase / PHASES. */
static void interpolate(const struct drift *d, float *y)
{
	const float *row = table[d->phase];
	const float *x = d->w + (size_t)(d->pos - HISTORY) * d->channels;

	for (uint32_t c = 0; c < d->channels; c++) {
		float acc = 0.0f;

		for (uint32_t j = 0; j < TAPS; j++)
			acc += row[j] * x[j * d->channels + c];
		y[c] = acc;
	}
}

/* Moves the read position on by 1 + dir / span. */
static void advance(struct drift *d)
{
	d->phase += d->dir * (int32_t)d->stride;
	if (d->phase >= (int32_t)PHASES) {
		d->phase -= (int32_t)PHASES;
		d->pos++;
	} else if (d->phase < 0) {
		d->phase += (int32_t)PHASES;
		d->pos--;
	}
	d->pos++;
	if (--d->remaining == 0) {
		d->slipped += d->dir;
		d->dir = 0;	/* the phase is back at 0 */
	}
}

/* The common case, no slip under way or due in this block (n frames, at
 * least a window): the output is what w holds after the read position, then
 * the block but its last DRIFT_LATENCY frames, copied straight from in; w
 * keeps the block's tail. One copy of the block instead of three. */
static uint32_t pass_through(struct drift *d, const float *in, uint32_t n, float *out)
{
	const uint32_t ch = d->channels, keep = HISTORY + DRIFT_LATENCY;
	const uint32_t ahead = d->w_len - d->pos;	/* at most DRIFT_LATENCY */
	const uint32_t produced = ahead + n - DRIFT_LATENCY;

	memcpy(out, d->w + (size_t)d->pos * ch, (size_t)ahead * ch * sizeof(float));
	memcpy(out + (size_t)ahead * ch, in, (size_t)(n - DRIFT_LATENCY) * ch * sizeof(float));
	memcpy(d->w, in + (size_t)(n - keep) * ch, (size_t)keep * ch * sizeof(float));
	d->w_len = keep;
	d->pos = HISTORY;
	return produced;
}

uint32_t drift_process(struct drift *d, const float *in, uint32_t n, double correction,
		       float *out)
{
	const uint32_t ch = d->channels;
	uint32_t produced = 0;

	if (n > d->max_block)
		n = d->max_block;
	d->debt += correction * n;
	if (!d->dir && fabs(d->debt) < 1.0 && n >= HISTORY + DRIFT_LATENCY)
		return pass_through(d, in, n, out);
	memcpy(d->w + (size_t)d->w_len * ch, in, (size_t)n * ch * sizeof(float));
	d->w_len += n;
	/* the output at pos needs DRIFT_LATENCY frames after it */
	while (d->pos + DRIFT_LATENCY < d->w_len) {
		if (!d->dir && fabs(d->debt) >= 1.0) {
			d->dir = d->debt > 0.0 ? 1 : -1;
			d->debt -= d->dir;
			d->remaining = d->span;
		}
		if (d->dir) {
			interpolate(d, out + (size_t)produced * ch);
			produced++;
			advance(d);
		} else {
			uint32_t run = d->w_len - DRIFT_LATENCY - d->pos;

			memcpy(out + (size_t)produced * ch, d->w + (size_t)d->pos * ch,
			       (size_t)run * ch * sizeof(float));
			produced += run;
			d->pos += run;
		}
	}
	/* keep the history and the lookahead for the next block */
	memmove(d->w, d->w + (size_t)(d->pos - HISTORY) * ch,
		(size_t)(d->w_len - d->pos + HISTORY) * ch * sizeof(float));
	d->w_len -= d->pos - HISTORY;
	d->pos = HISTORY;
	return produced;
}
