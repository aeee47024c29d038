/* ring.c - single-producer single-consumer ring; see ring.h for the design.
 *
 * Threads: push from the one producer, pop from the one consumer; both may be RT.
 */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint32_t round_up_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

int spsc_ring_init(struct spsc_ring *ring, uint32_t count, uint32_t elem_size)
{
	uint32_t n;
	size_t bytes;

	if (!ring || count == 0 || elem_size == 0 || count > (1u << 30))
		return -EINVAL;
	n = round_up_pow2(count);
	bytes = (size_t)n * elem_size;
	ring->data = calloc(1, bytes);
	if (!ring->data)
		return -ENOMEM;
	memset(ring->data, 0, bytes);	/* touch every page before RT use */
	(void)mlock(ring->data, bytes);	/* best effort: RLIMIT_MEMLOCK may refuse */
	ring->mask = n - 1;
	ring->elem_size = elem_size;
	atomic_init(&ring->write, 0);
	atomic_init(&ring->read, 0);
	return 0;
}

void spsc_ring_free(struct spsc_ring *ring)
{
	if (!ring || !ring->data)
		return;
	munlock(ring->data, (size_t)(ring->mask + 1) * ring->elem_size);
	free(ring->data);
	ring->data = NULL;
}

uint32_t spsc_ring_readable(struct spsc_ring *ring)
{
	uint32_t w = atomic_load_explicit(&ring->write, memory_order_acquire);
	uint32_t r = atomic_load_explicit(&ring->read, memory_order_acquire);

	return w - r;
}

uint32_t spsc_ring_writable(struct spsc_ring *ring)
{
	return spsc_ring_capacity(ring) - spsc_ring_readable(ring);
}

static void copy_in(struct spsc_ring *ring, uint32_t index, const unsigned char *src, uint32_t n)
{
	uint32_t cap = ring->mask + 1;
	uint32_t start = index & ring->mask;
	uint32_t first = cap - start < n ? cap - start : n;

	memcpy(ring->data + (size_t)start * ring->elem_size, src, (size_t)first * ring->elem_size);
	if (n > first)
		memcpy(ring->data, src + (size_t)first * ring->elem_size,
		       (size_t)(n - first) * ring->elem_size);
}

static void copy_out(struct spsc_ring *ring, uint32_t index, unsigned char *dst, uint32_t n)
{
	uint32_t cap = ring->mask + 1;
	uint32_t start = index & ring->mask;
	uint32_t first = cap - start < n ? cap - start : n;

	memcpy(dst, ring->data + (size_t)start * ring->elem_size, (size_t)first * ring->elem_size);
	if (n > first)
		memcpy(dst + (size_t)first * ring->elem_size, ring->data,
		       (size_t)(n - first) * ring->elem_size);
}

bool spsc_ring_push_n(struct spsc_ring *ring, const void *elems, uint32_t n)
{
	uint32_t w = atomic_load_explicit(&ring->write, memory_order_relaxed);
	uint32_t r = atomic_load_explicit(&ring->read, memory_order_acquire);

	if (n > ring->mask + 1 - (w - r))
		return false;
	copy_in(ring, w, elems, n);
	atomic_store_explicit(&ring->write, w + n, memory_order_release);
	return true;
}

uint32_t spsc_ring_pop_n(struct spsc_ring *ring, void *elems, uint32_t max)
{
	uint32_t r = atomic_load_explicit(&ring->read, memory_order_relaxed);
	uint32_t w = atomic_load_explicit(&ring->write, memory_order_acquire);
	uint32_t n = w - r;

	if (n > max)
		n = max;
	if (n == 0)
		return 0;
	copy_out(ring, r, elems, n);
	atomic_store_explicit(&ring->read, r + n, memory_order_release);
	return n;
}

uint32_t spsc_ring_peek(struct spsc_ring *ring, uint32_t max, void **a, uint32_t *na, void **b,
			uint32_t *nb)
{
	uint32_t r = atomic_load_explicit(&ring->read, memory_order_relaxed);
	uint32_t w = atomic_load_explicit(&ring->write, memory_order_acquire);
	uint32_t n = w - r < max ? w - r : max;
	uint32_t start = r & ring->mask;
	uint32_t first = ring->mask + 1 - start < n ? ring->mask + 1 - start : n;

	*a = ring->data + (size_t)start * ring->elem_size;
	*na = first;
	*b = ring->data;
	*nb = n - first;
	return n;
}

void spsc_ring_consume(struct spsc_ring *ring, uint32_t n)
{
	uint32_t r = atomic_load_explicit(&ring->read, memory_order_relaxed);

	atomic_store_explicit(&ring->read, r + n, memory_order_release);
}

void spsc_ring_clear(struct spsc_ring *ring)
{
	uint32_t w = atomic_load_explicit(&ring->write, memory_order_acquire);

	atomic_store_explicit(&ring->read, w, memory_order_release);
}
