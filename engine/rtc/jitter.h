/* jitter.h - the adaptive jitter buffer of one remote track: SpeexDSP's
 * JitterBuffer (<speex/speex_jitter.h>) over a preallocated packet pool.
 *
 * DESIGN
 * SpeexDSP orders packets by RTP timestamp, tells late from lost and adapts
 * its delay to the arrival statistics it sees: it drops or inserts whole
 * steps when the network's jitter changes. It is told to keep at least
 * `margin` samples of safety on top of that (JITTER_BUFFER_SET_MARGIN).
 * It holds pointers into our pool (a destroy callback returns them), so a
 * put copies the payload once and never allocates; a packet SpeexDSP throws
 * away unplayed comes back through the callback and is counted.
 *
 * On top: late packets (wholly before the playout point) are refused and
 * counted here, jitter_peek() finds the packet that follows a lost one (for
 * Opus in-band FEC), and jitter_depth() tells how much audio is buffered
 * ahead of the playout point (for the drift controller in track.c).
 * Timestamps are RTP timestamps (48 kHz for Opus), compared modulo 2^32.
 *
 * Threads: one thread at a time (the media thread; tests; the fuzzer).
 */
#ifndef AIRMIX_RTC_JITTER_H
#define AIRMIX_RTC_JITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JITTER_PACKET_MAX 1500	/* largest payload kept */

struct jitter;

struct jitter_config {
	uint32_t step;		/* delay adjustments and concealment, samples (20 ms) */
	uint32_t margin;	/* safety kept on top of the measured jitter, samples */
	uint32_t slots;		/* packets held at most */
};

enum jitter_put_result {
	JITTER_PUT_OK,
	JITTER_PUT_LATE,	/* wholly before the playout point: dropped */
	JITTER_PUT_FULL,	/* no slot free: dropped */
	JITTER_PUT_TOO_BIG,	/* payload above JITTER_PACKET_MAX: dropped */
};

enum jitter_kind {
	JITTER_FRAME,		/* a packet: data/len, its ts and span, offset */
	JITTER_MISSING,		/* nothing for [ts, ts + span): conceal */
	JITTER_INSERT,		/* the buffer grows: conceal span samples */
};

struct jitter_frame {
	enum jitter_kind kind;
	uint32_t ts;
	uint32_t span;
	int32_t offset;		/* JITTER_FRAME: packet start - playout point */
	uint16_t seq;
	const uint8_t *data;	/* valid until the next jitter_get */
	size_t len;
};

struct jitter_counters {
	uint64_t late;		/* refused by jitter_put */
	uint64_t discarded;	/* accepted and thrown away unplayed */
	uint64_t full;
	int64_t adjusted;	/* samples the playout point was moved by adaptation */
};

int jitter_create(const struct jitter_config *cfg, struct jitter **out);
void jitter_destroy(struct jitter *j);
/* Forget every packet; the next jitter_get starts at the oldest put after. */
void jitter_reset(struct jitter *j);

enum jitter_put_result jitter_put(struct jitter *j, const uint8_t *data, size_t len, uint32_t ts,
				  uint32_t span, uint16_t seq);
/* The next span samples; the first call (and the first after a reset) starts
 * at the oldest packet held. Returns false when nothing was ever put. */
bool jitter_get(struct jitter *j, uint32_t span, struct jitter_frame *f);
/* After each jitter_get: lets SpeexDSP adapt its delay. Returns the samples
 * the playout point moved by (positive: audio skipped, negative: to insert). */
int32_t jitter_tick(struct jitter *j);
/* A held packet that starts at ts, or NULL. */
const uint8_t *jitter_peek(struct jitter *j, uint32_t ts, size_t *len);

bool jitter_started(const struct jitter *j);
/* Samples held ahead of the playout point (newest packet end - point);
 * before the first jitter_get, from the oldest packet held. */
int32_t jitter_depth(const struct jitter *j);
uint32_t jitter_pointer(const struct jitter *j);
/* Packets held. */
uint32_t jitter_count(const struct jitter *j);
void jitter_get_counters(const struct jitter *j, struct jitter_counters *c);

#endif
