/* ring.h - single-producer single-consumer ring of fixed-size elements.
 *
 * DESIGN
 * Free-running 32-bit read and write indices; the element count is a power of
 * two so that `index & mask` finds the slot and `write - read` is the fill
 * level even across wrap-around. The producer publishes with a release store
 * of `write` after copying, the consumer with a release store of `read` after
 * copying out; each side acquires the other's index. No locks, no waiting: a
 * full ring refuses the push and the caller counts the overrun.
 *
 * Exactly one thread may push and exactly one thread may pop at a time. Where
 * several control threads produce, the owner serialises them with its own
 * (non-RT) mutex; the RT side never takes it.
 *
 * The storage is allocated, touched and mlock()ed by spsc_ring_init(), before
 * any RT thread sees the ring.
 */
#ifndef AIRMIX_RING_H
#define AIRMIX_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spsc_ring {
	alignas(64) _Atomic uint32_t write;	/* producer-owned */
	alignas(64) _Atomic uint32_t read;	/* consumer-owned */
	alignas(64) uint32_t mask;
	uint32_t elem_size;
	unsigned char *data;
};

/* Any thread, before use: count is rounded up to a power of two. -ENOMEM, -EINVAL. */
int spsc_ring_init(struct spsc_ring *ring, uint32_t count, uint32_t elem_size);
void spsc_ring_free(struct spsc_ring *ring);

/* Capacity in elements. */
static inline uint32_t spsc_ring_capacity(const struct spsc_ring *ring)
{
	return ring->mask + 1;
}

/* Consumer or producer: elements ready to read (a snapshot). */
uint32_t spsc_ring_readable(struct spsc_ring *ring);
/* Producer: free elements (a snapshot). */
uint32_t spsc_ring_writable(struct spsc_ring *ring);

/* Producer: copy n elements in, all or nothing. false when there is no room. */
bool spsc_ring_push_n(struct spsc_ring *ring, const void *elems, uint32_t n);
/* Consumer: copy up to max elements out; returns how many. */
uint32_t spsc_ring_pop_n(struct spsc_ring *ring, void *elems, uint32_t max);

static inline bool spsc_ring_push(struct spsc_ring *ring, const void *elem)
{
	return spsc_ring_push_n(ring, elem, 1);
}

static inline bool spsc_ring_pop(struct spsc_ring *ring, void *elem)
{
	return spsc_ring_pop_n(ring, elem, 1) == 1;
}

/* Consumer: up to max readable elements in place, as one or two contiguous
 * spans (the second when they wrap), without copying; then
 * spsc_ring_consume() releases what was used. Returns *na + *nb. */
uint32_t spsc_ring_peek(struct spsc_ring *ring, uint32_t max, void **a, uint32_t *na, void **b,
			uint32_t *nb);
void spsc_ring_consume(struct spsc_ring *ring, uint32_t n);

/* Consumer: drop everything currently readable. */
void spsc_ring_clear(struct spsc_ring *ring);

#endif
