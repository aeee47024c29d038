/* tap.c - RT-to-reader copies of graph outputs; see tap.h for the design.
 * Threads: as tap.h says for each function. */
#include "tap.h"

#include <stdlib.h>

#include "dsp/limiter.h"
#include "engine.h"

struct tap *tap_create(uint32_t source_id, uint32_t frames)
{
	struct tap *tap = calloc(1, sizeof(*tap));

	if (!tap)
		return NULL;
	tap->source_id = source_id;
	if (spsc_ring_init(&tap->frames, frames, 2 * sizeof(float)) < 0)
		goto out_free_tap;
	if (spsc_ring_init(&tap->gaps, 256, sizeof(struct tap_gap)) < 0)
		goto out_free_frames;
	atomic_init(&tap->dropped, 0);
	atomic_init(&tap->overrun_reported, 0);
	return tap;

out_free_frames:
	spsc_ring_free(&tap->frames);
out_free_tap:
	free(tap);
	return NULL;
}

struct tap *tap_create_minus(uint32_t bus, uint32_t minus_id, uint32_t frames,
			     uint32_t max_period)
{
	struct tap *tap = tap_create(bus, frames);

	if (!tap)
		return NULL;
	tap->minus_id = minus_id;
	for (int c = 0; c < 2; c++) {
		tap->own[c] = calloc(max_period, sizeof(float));
		tap->delay[c] = calloc(LIMITER_MAX_LOOKAHEAD, sizeof(float));
		if (!tap->own[c] || !tap->delay[c]) {
			tap_destroy(tap);
			return NULL;
		}
	}
	return tap;
}

void tap_destroy(struct tap *tap)
{
	if (!tap)
		return;
	for (int c = 0; c < 2; c++) {
		free(tap->own[c]);
		free(tap->delay[c]);
	}
	spsc_ring_free(&tap->gaps);
	spsc_ring_free(&tap->frames);
	free(tap);
}

int tap_rt_write(struct tap *tap, const float *interleaved, uint32_t n)
{
	if (tap->pending_gap) {
		struct tap_gap gap = { .at = tap->pushed, .frames = tap->pending_gap };

		/* the gap record must go first; without room for both, drop again */
		if (spsc_ring_writable(&tap->frames) < n || !spsc_ring_push(&tap->gaps, &gap))
			goto drop;
		tap->pending_gap = 0;
	}
	if (!spsc_ring_push_n(&tap->frames, interleaved, n))
		goto drop;
	tap->pushed += n;
	return 0;

drop:
	tap->pending_gap += n;
	atomic_fetch_add_explicit(&tap->dropped, n, memory_order_relaxed);
	atomic_store_explicit(&tap->overrun_reported, 1, memory_order_relaxed);
	return 1;
}

static uint64_t frames_before_next_gap(struct tap *tap, uint64_t want)
{
	struct tap_gap gap;
	uint32_t r = atomic_load_explicit(&tap->gaps.read, memory_order_relaxed);

	if (spsc_ring_readable(&tap->gaps) == 0)
		return want;
	gap = *(struct tap_gap *)(tap->gaps.data + (size_t)(r & tap->gaps.mask) * tap->gaps.elem_size);
	return gap.at - tap->popped < want ? gap.at - tap->popped : want;
}

uint64_t tap_next_gap(struct tap *tap)
{
	struct tap_gap gap;
	uint32_t r = atomic_load_explicit(&tap->gaps.read, memory_order_relaxed);

	if (spsc_ring_readable(&tap->gaps) == 0)
		return 0;
	gap = *(struct tap_gap *)(tap->gaps.data + (size_t)(r & tap->gaps.mask) * tap->gaps.elem_size);
	if (gap.at != tap->popped)
		return 0;
	spsc_ring_pop(&tap->gaps, &gap);
	return gap.frames;
}

uint32_t tap_read(struct tap *tap, float *interleaved, uint32_t max_frames)
{
	uint32_t n = (uint32_t)frames_before_next_gap(tap, max_frames);

	n = spsc_ring_pop_n(&tap->frames, interleaved, n);
	tap->popped += n;
	return n;
}

uint32_t tap_readable(struct tap *tap)
{
	return spsc_ring_readable(&tap->frames);
}

uint64_t tap_dropped_frames(struct tap *tap)
{
	return atomic_load_explicit(&tap->dropped, memory_order_relaxed);
}
