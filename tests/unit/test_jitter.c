/* test_jitter.c - engine/rtc/jitter.c over SpeexDSP's jitter buffer:
 * ordering, loss and the next packet for FEC, late packets, the pool and its
 * accounting (nothing leaks: ASan), the depth it keeps under jitter, and its
 * delay adaptation down to the margin, reported as adjustments.
 *
 * Threads: main only.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/rtc/jitter.h"

#define STEP 960u

static struct jitter *make(uint32_t margin, uint32_t slots)
{
	struct jitter_config cfg = { .step = STEP, .margin = margin, .slots = slots };
	struct jitter *j = NULL;

	if (jitter_create(&cfg, &j) < 0)
		return NULL;
	return j;
}

static enum jitter_put_result put(struct jitter *j, uint32_t k)
{
	uint8_t data[4] = { (uint8_t)k, (uint8_t)(k >> 8), 0xaa, 0x55 };

	return jitter_put(j, data, sizeof(data), 1000u + k * STEP, STEP, (uint16_t)k);
}

static uint32_t index_of(const struct jitter_frame *f)
{
	return f->data[0] | (uint32_t)f->data[1] << 8;
}

static void test_order_and_loss(void)
{
	struct jitter *j = make(0, 32);
	struct jitter_frame f;
	struct jitter_counters c;
	const uint32_t order[] = { 0, 2, 1, 3, 5, 6, 4, 9, 8 };	/* 7 never comes */
	size_t len = 0;
	bool in_order = true;

	CHECK(j != NULL, "created");
	CHECK(!jitter_get(j, STEP, &f), "nothing to get before the first packet");
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		CHECK(put(j, order[i]) == JITTER_PUT_OK, "put %u", order[i]);
	CHECK(jitter_count(j) == 9 && jitter_depth(j) == 10 * (int32_t)STEP,
	      "9 held, 10 frames deep before playout (%d)", jitter_depth(j));
	for (uint32_t k = 0; k < 7; k++) {
		in_order = in_order && jitter_get(j, STEP, &f) && f.kind == JITTER_FRAME &&
			   index_of(&f) == k && f.len == 4 && f.ts == 1000u + k * STEP && f.offset == 0;
		jitter_tick(j);
	}
	CHECK(in_order, "0..6 come out in order");
	CHECK(jitter_peek(j, 1000u + 8 * STEP, &len) != NULL && len == 4,
	      "the packet after the lost one can be peeked (for FEC)");
	CHECK(jitter_get(j, STEP, &f) && f.kind == JITTER_MISSING && f.ts == 1000u + 7 * STEP &&
	      f.span == STEP, "7 is missing");
	jitter_tick(j);
	CHECK(jitter_get(j, STEP, &f) && f.kind == JITTER_FRAME && index_of(&f) == 8, "then 8");
	jitter_tick(j);
	CHECK(put(j, 7) == JITTER_PUT_LATE, "7 arriving now is late");
	CHECK(put(j, 8) == JITTER_PUT_LATE, "8 again is late too");
	jitter_get_counters(j, &c);
	CHECK(c.late == 2 && c.discarded == 0, "late %llu, discarded %llu",
	      (unsigned long long)c.late, (unsigned long long)c.discarded);
	CHECK(put(j, 12) == JITTER_PUT_OK && put(j, 13) == JITTER_PUT_OK, "more ahead");
	jitter_reset(j);
	jitter_get_counters(j, &c);
	CHECK(c.discarded == 3 && jitter_count(j) == 0, "a reset gives back what was held (%llu)",
	      (unsigned long long)c.discarded);
	CHECK(put(j, 20) == JITTER_PUT_OK && jitter_get(j, STEP, &f) && index_of(&f) == 20,
	      "after a reset playout starts at the next packet");
	jitter_destroy(j);
}

static void test_pool(void)
{
	struct jitter *j = make(0, 4);
	uint8_t big[JITTER_PACKET_MAX + 1] = { 0 };
	struct jitter_counters c;

	for (uint32_t k = 0; k < 4; k++)
		put(j, k);
	CHECK(put(j, 4) == JITTER_PUT_FULL, "a full pool refuses");
	CHECK(jitter_put(j, big, sizeof(big), 5 * STEP, STEP, 5) == JITTER_PUT_TOO_BIG,
	      "an oversized payload is refused");
	jitter_get_counters(j, &c);
	CHECK(c.full == 1, "full counted");
	jitter_destroy(j);	/* held packets go back through the callback: ASan sees leaks */
}

/* Packets every STEP with arrival noise of up to `noise` samples; one get
 * and tick per STEP. Returns the depth after `frames` steps. */
static int32_t simulate(struct jitter *j, uint32_t frames, uint32_t prebuffer, uint32_t noise,
			uint64_t *missing)
{
	unsigned seed = 5;
	uint32_t next = 0;
	struct jitter_frame f;
	int32_t depth = 0;

	*missing = 0;
	for (uint32_t t = 0; t < frames + prebuffer; t++) {
		/* everything sent by now arrives, some up to noise late */
		while (next <= t) {
			uint32_t delay = noise ? (uint32_t)rand_r(&seed) % noise : 0;

			if (next * STEP + delay > t * STEP)
				break;
			put(j, next++);
		}
		if (t < prebuffer)
			continue;
		if (jitter_get(j, STEP, &f) && f.kind != JITTER_FRAME)
			(*missing)++;
		jitter_tick(j);
		depth = jitter_depth(j);
	}
	return depth;
}

static void test_adaptation(void)
{
	struct jitter_counters c;
	uint64_t missing;
	struct jitter *j = make(2 * STEP, 128);
	int32_t depth = simulate(j, 3000, 12, 0, &missing);

	jitter_get_counters(j, &c);
	/* started 12 frames deep on a network without jitter: SpeexDSP brings the
	 * depth down towards its margin, skipping whole steps, and says so */
	CHECK(depth <= (int32_t)(4 * STEP) && depth >= (int32_t)(2 * STEP),
	      "an over-deep buffer adapts down to the margin (%d samples)", depth);
	CHECK(c.adjusted > 0 && c.adjusted % STEP == 0 && c.adjusted == (int64_t)(12 * STEP) - depth,
	      "the skips are reported (%lld samples)", (long long)c.adjusted);
	jitter_destroy(j);
	j = make(STEP, 128);
	depth = simulate(j, 3000, 2, 3 * STEP, &missing);
	jitter_get_counters(j, &c);
	/* with a fixed 20 ms buffer about two packets in three would be late */
	CHECK(missing < 3000 / 20 && c.adjusted < 0,
	      "60 ms of jitter: the buffer grows (%lld samples) and few frames miss (%llu of 3000)",
	      (long long)c.adjusted, (unsigned long long)missing);
	jitter_destroy(j);
}

int main(void)
{
	test_order_and_loss();
	test_pool();
	test_adaptation();
	return CHECK_DONE();
}
