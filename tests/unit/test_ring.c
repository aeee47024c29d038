/* test_ring.c - unit tests of the SPSC ring (engine/ring.c): sizing, order,
 * full and empty, all-or-nothing push_n, partial pop_n, clear, wrap-around of
 * the free-running 32-bit indices, and a two-thread producer/consumer stress
 * run that must stay clean under TSan (make test-tsan).
 *
 * Threads: main; the stress test adds one producer and one consumer thread.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "engine/ring.h"

#define STRESS_RECORDS 2000000u
#define STRESS_RING 1024u
#define STRESS_MAX_BATCH 64u
#define STRESS_SECONDS 120.0

struct record {
	uint64_t seq;
	uint64_t mix;	/* a function of seq: catches torn or stale copies */
};

static uint64_t mix_of(uint64_t seq)
{
	return (seq * 0x9e3779b97f4a7c15ull) ^ 0xa5a5a5a5a5a5a5a5ull;
}

/* Any thread: xorshift32, for batch sizes. */
static uint32_t next_random(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_init(void)
{
	struct spsc_ring r;

	CHECK(spsc_ring_init(&r, 0, 4) == -EINVAL, "init refuses a count of 0");
	CHECK(spsc_ring_init(&r, 8, 0) == -EINVAL, "init refuses an element size of 0");
	CHECK(spsc_ring_init(&r, (1u << 30) + 1, 4) == -EINVAL, "init refuses more than 2^30");
	CHECK(spsc_ring_init(NULL, 8, 4) == -EINVAL, "init refuses a NULL ring");

	CHECK(spsc_ring_init(&r, 1, 4) == 0 && spsc_ring_capacity(&r) == 1, "count 1 stays 1");
	spsc_ring_free(&r);
	CHECK(spsc_ring_init(&r, 3, 4) == 0 && spsc_ring_capacity(&r) == 4, "count 3 rounds to 4");
	spsc_ring_free(&r);
	CHECK(spsc_ring_init(&r, 1000, 4) == 0 && spsc_ring_capacity(&r) == 1024,
	      "count 1000 rounds to 1024");
	spsc_ring_free(&r);
	CHECK(spsc_ring_init(&r, 1024, 4) == 0 && spsc_ring_capacity(&r) == 1024,
	      "count 1024 stays 1024");
	CHECK(spsc_ring_readable(&r) == 0 && spsc_ring_writable(&r) == 1024,
	      "a new ring is empty");
	spsc_ring_free(&r);
	CHECK(r.data == NULL, "free clears the storage pointer");
	spsc_ring_free(&r);	/* twice is harmless */
}

static void test_order_full_empty(void)
{
	struct spsc_ring r;
	uint32_t v, i, out[8];
	bool ok = true;

	CHECK(spsc_ring_init(&r, 8, sizeof(uint32_t)) == 0, "init 8 x u32");
	CHECK(!spsc_ring_pop(&r, &v), "pop from an empty ring fails");
	for (i = 0; i < 8; i++)
		ok = ok && spsc_ring_push(&r, &i);
	CHECK(ok, "8 pushes fit");
	v = 99;
	CHECK(!spsc_ring_push(&r, &v), "the 9th push is refused");
	CHECK(spsc_ring_readable(&r) == 8 && spsc_ring_writable(&r) == 0, "full: 8 readable");
	for (i = 0; i < 8; i++)
		ok = ok && spsc_ring_pop(&r, &v) && v == i;
	CHECK(ok, "pops return 0..7 in push order");
	CHECK(!spsc_ring_pop(&r, &v), "empty again after 8 pops");

	for (i = 0; i < 6; i++)
		out[i] = 100 + i;
	CHECK(spsc_ring_push_n(&r, out, 6), "push_n of 6 into 8 fits");
	CHECK(!spsc_ring_push_n(&r, out, 3), "push_n of 3 into 2 free is refused");
	CHECK(spsc_ring_readable(&r) == 6, "a refused push_n writes nothing");
	CHECK(spsc_ring_push_n(&r, out, 2), "push_n of 2 into 2 free fits");
	CHECK(spsc_ring_writable(&r) == 0, "the ring is full after that");
	CHECK(spsc_ring_push_n(&r, out, 0), "push_n of 0 into a full ring succeeds");

	memset(out, 0, sizeof(out));
	CHECK(spsc_ring_pop_n(&r, out, 4) == 4 && out[0] == 100 && out[3] == 103,
	      "pop_n of 4 returns the first 4");
	CHECK(spsc_ring_pop_n(&r, out, 8) == 4 && out[0] == 104 && out[1] == 105 &&
		      out[2] == 100 && out[3] == 101,
	      "pop_n of up to 8 returns the 4 left (partial)");
	CHECK(spsc_ring_pop_n(&r, out, 8) == 0, "pop_n on an empty ring returns 0");

	for (i = 0; i < 5; i++)
		spsc_ring_push(&r, &i);
	spsc_ring_clear(&r);
	CHECK(spsc_ring_readable(&r) == 0 && spsc_ring_writable(&r) == 8,
	      "clear empties the ring");
	v = 7;
	CHECK(spsc_ring_push(&r, &v) && spsc_ring_pop(&r, &v) && v == 7,
	      "the ring works after clear");
	spsc_ring_free(&r);
}

/* Indices start just below UINT32_MAX so that every operation crosses the
 * 32-bit wrap and the slot wrap at different moments. */
static void test_index_wrap(void)
{
	struct spsc_ring r;
	uint32_t in[5], out[5], i, round;
	uint32_t expect = 0, next = 0;
	bool ok = true, crossed = false;

	CHECK(spsc_ring_init(&r, 8, sizeof(uint32_t)) == 0, "init 8 x u32 for wrap test");
	atomic_store(&r.write, UINT32_MAX - 10);
	atomic_store(&r.read, UINT32_MAX - 10);
	CHECK(spsc_ring_readable(&r) == 0 && spsc_ring_writable(&r) == 8,
	      "empty near UINT32_MAX");

	for (round = 0; round < 40; round++) {
		uint32_t n = 1 + round % 5, got;

		for (i = 0; i < n; i++)
			in[i] = next++;
		ok = ok && spsc_ring_push_n(&r, in, n);
		ok = ok && spsc_ring_readable(&r) == n;
		got = spsc_ring_pop_n(&r, out, 5);
		ok = ok && got == n;
		for (i = 0; i < got; i++)
			ok = ok && out[i] == expect++;
		if (atomic_load(&r.write) < 100)
			crossed = true;
	}
	CHECK(crossed, "the write index wrapped past UINT32_MAX");
	CHECK(ok, "order and counts hold across the 32-bit wrap");

	/* Fill across the wrap: fill level stays right when write < read numerically. */
	atomic_store(&r.write, UINT32_MAX - 2);
	atomic_store(&r.read, UINT32_MAX - 2);
	for (i = 0; i < 8; i++)
		ok = ok && spsc_ring_push(&r, &i);
	CHECK(ok && atomic_load(&r.write) == 5, "8 pushes from UINT32_MAX-2 end at 5");
	CHECK(spsc_ring_readable(&r) == 8 && spsc_ring_writable(&r) == 0,
	      "full across the wrap: 8 readable, 0 writable");
	i = 42;
	CHECK(!spsc_ring_push(&r, &i), "a push into a ring full across the wrap is refused");
	CHECK(spsc_ring_pop_n(&r, out, 5) == 5 && out[0] == 0 && out[4] == 4,
	      "pop_n across the wrap returns the oldest first");
	spsc_ring_clear(&r);
	CHECK(spsc_ring_readable(&r) == 0 && atomic_load(&r.read) == 5,
	      "clear across the wrap moves read to write");
	spsc_ring_free(&r);
}

struct stress {
	struct spsc_ring ring;
	double deadline;
	atomic_bool stop;
	uint64_t pushed;	/* producer-owned, read after join */
	uint64_t popped;	/* consumer-owned, read after join */
	uint64_t errors;	/* consumer-owned */
	uint64_t first_bad;
	uint64_t producer_refused;
};

static void *producer(void *arg)
{
	struct stress *s = arg;
	struct record batch[STRESS_MAX_BATCH];
	uint32_t rnd = 0x12345678u;
	uint64_t seq = 0;

	while (seq < STRESS_RECORDS && !atomic_load(&s->stop)) {
		uint32_t n = 1 + next_random(&rnd) % STRESS_MAX_BATCH, i;

		if (n > STRESS_RECORDS - seq)
			n = (uint32_t)(STRESS_RECORDS - seq);
		for (i = 0; i < n; i++) {
			batch[i].seq = seq + i;
			batch[i].mix = mix_of(seq + i);
		}
		while (!spsc_ring_push_n(&s->ring, batch, n)) {
			s->producer_refused++;
			if (atomic_load(&s->stop))
				goto out_stopped;
			sched_yield();
		}
		seq += n;
	}
out_stopped:
	s->pushed = seq;
	return NULL;
}

static void *consumer(void *arg)
{
	struct stress *s = arg;
	struct record batch[STRESS_MAX_BATCH];
	uint32_t rnd = 0x9abcdef1u;
	uint64_t expect = 0;
	uint32_t polls = 0;

	while (expect < STRESS_RECORDS) {
		uint32_t max = 1 + next_random(&rnd) % STRESS_MAX_BATCH;
		uint32_t n = spsc_ring_pop_n(&s->ring, batch, max), i;

		if (n == 0) {
			/* Check the clock only now and then: it is the slow part. */
			if (++polls % 1024 == 0 && now_s() > s->deadline)
				break;
			sched_yield();
			continue;
		}
		for (i = 0; i < n; i++, expect++) {
			if (batch[i].seq != expect || batch[i].mix != mix_of(expect)) {
				if (s->errors++ == 0)
					s->first_bad = expect;
			}
		}
	}
	s->popped = expect;
	atomic_store(&s->stop, true);
	return NULL;
}

/* peek/consume: in-place spans that wrap, then release. */
static void test_peek(void)
{
	struct spsc_ring r;
	uint32_t v, na, nb, ok = 1;
	void *a, *b;

	spsc_ring_init(&r, 8, sizeof(uint32_t));
	for (v = 0; v < 6; v++)
		spsc_ring_push(&r, &v);
	for (v = 0; v < 5; v++)
		spsc_ring_pop(&r, &(uint32_t){ 0 });
	for (v = 6; v < 12; v++)
		spsc_ring_push(&r, &v);	/* 7 readable: 5..11, wrapping after 7 */
	CHECK(spsc_ring_peek(&r, 100, &a, &na, &b, &nb) == 7 && na == 3 && nb == 4,
	      "peek gives two spans across the wrap (%u + %u)", na, nb);
	for (uint32_t i = 0; i < na; i++)
		ok &= ((uint32_t *)a)[i] == 5 + i;
	for (uint32_t i = 0; i < nb; i++)
		ok &= ((uint32_t *)b)[i] == 8 + i;
	CHECK(ok, "the spans hold the elements in order");
	CHECK(spsc_ring_readable(&r) == 7, "peek does not consume");
	spsc_ring_consume(&r, 4);
	CHECK(spsc_ring_pop(&r, &v) && v == 9, "consume releases what was used");
	CHECK(spsc_ring_peek(&r, 1, &a, &na, &b, &nb) == 1 && na == 1 && nb == 0,
	      "peek honours max");
	spsc_ring_free(&r);
}

static void test_stress(void)
{
	static struct stress s;
	pthread_t prod, cons;
	double start = now_s(), secs;

	CHECK(spsc_ring_init(&s.ring, STRESS_RING, sizeof(struct record)) == 0,
	      "init stress ring");
	s.deadline = start + STRESS_SECONDS;
	atomic_init(&s.stop, false);
	CHECK(pthread_create(&cons, NULL, consumer, &s) == 0, "start consumer");
	CHECK(pthread_create(&prod, NULL, producer, &s) == 0, "start producer");
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	secs = now_s() - start;
	printf("# stress: %llu records in %.2f s, producer found the ring full %llu times\n",
	       (unsigned long long)s.popped, secs, (unsigned long long)s.producer_refused);
	CHECK(s.pushed == STRESS_RECORDS, "producer pushed all %u records (%llu)",
	      STRESS_RECORDS, (unsigned long long)s.pushed);
	CHECK(s.popped == STRESS_RECORDS, "consumer received all records, none lost (%llu)",
	      (unsigned long long)s.popped);
	CHECK(s.errors == 0, "every record arrived in order and intact (%llu bad, first at %llu)",
	      (unsigned long long)s.errors, (unsigned long long)s.first_bad);
	CHECK(spsc_ring_readable(&s.ring) == 0, "the ring is empty at the end");
	spsc_ring_free(&s.ring);
}

int main(void)
{
	test_init();
	test_order_full_empty();
	test_index_wrap();
	test_peek();
	test_stress();
	return CHECK_DONE();
}
