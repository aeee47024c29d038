/* tap.h - a copy of a bus or a node's output for a reader thread.
 *
 * DESIGN
 * The RT thread pushes each cycle's stereo frames, interleaved, into an SPSC
 * ring. It never waits: when the ring lacks room for the whole cycle it drops
 * the cycle and adds its length to a pending gap. The next cycle that fits
 * first records the gap (at which stream position, how long) on a small gap
 * ring, then pushes its frames. The reader asks tap_next_gap() before each
 * read and reads no further than the next recorded gap, so it can write
 * silence of exactly the dropped length at exactly the right place: a
 * recording's timeline never shifts.
 *
 * Threads: tap_rt_write on the RT thread; tap_read, tap_next_gap,
 * tap_readable and tap_dropped_frames on the one reader thread (counters on
 * any thread); create/destroy on the control thread.
 */
#ifndef AIRMIX_TAP_H
#define AIRMIX_TAP_H

#include <stdatomic.h>
#include <stdint.h>

#include "ring.h"

struct tap_gap {
	uint64_t at;		/* frames pushed before the gap */
	uint64_t frames;	/* frames dropped */
};

struct tap {
	uint32_t source_id;
	struct spsc_ring frames;	/* elements: one stereo frame (2 floats) */
	struct spsc_ring gaps;		/* elements: struct tap_gap */
	/* RT-owned */
	uint64_t pushed;	/* frames pushed */
	uint64_t pending_gap;	/* frames dropped since the last push */
	/* reader-owned */
	uint64_t popped;
	/* shared counters */
	_Atomic uint64_t dropped;
	_Atomic uint32_t overrun_reported;	/* set by RT, cleared by the event thread */
	/* mix-minus taps (tap_create_minus): the publish bus without one node's
	 * contribution. RT-owned buffers, allocated at creation. */
	uint32_t minus_id;	/* the node taken out; 0 = a plain tap */
	float *own[2];		/* its contribution to the bus this cycle */
	float *delay[2];	/* the look-ahead line: the last delay_len frames of
				 * own[], oldest first */
	uint32_t delay_len;
};

/* Control thread. */
struct tap *tap_create(uint32_t source_id, uint32_t frames);
/* A mix-minus tap of bus (ENGINE_BUS_PUBLISH or ENGINE_BUS_PLAYOUT: its
 * source_id) without node minus_id (see rt.c), with buffers for periods up
 * to max_period. */
struct tap *tap_create_minus(uint32_t bus, uint32_t minus_id, uint32_t frames,
			     uint32_t max_period);
void tap_destroy(struct tap *tap);

/* RT: returns 0, or 1 when this cycle was dropped (an overrun). */
int tap_rt_write(struct tap *tap, const float *interleaved, uint32_t n);

#endif
