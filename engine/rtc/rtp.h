/* rtp.h - RTP packets (RFC 3550 §5.1): parse and write the fixed header,
 * CSRC list, header extension and padding; and a receiver's sequence and
 * jitter accounting (RFC 3550 §6.4.1, A.1, A.8) across 16-bit sequence wrap.
 *
 * Pure functions and plain structs: no allocation, no I/O, no globals.
 * Threads: whoever calls (the media thread, tests, fuzzers).
 */
#ifndef AIRMIX_RTC_RTP_H
#define AIRMIX_RTC_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTP_HEADER_MIN 12
#define RTP_MAX_CSRC 15

struct rtp_packet {
	uint8_t version;
	bool padding;
	bool extension;
	bool marker;
	uint8_t payload_type;
	uint16_t seq;
	uint32_t timestamp;
	uint32_t ssrc;
	uint8_t csrc_count;
	uint32_t csrc[RTP_MAX_CSRC];
	uint16_t ext_profile;		/* when extension */
	const uint8_t *ext;		/* extension data (words * 4 bytes) */
	size_t ext_len;
	const uint8_t *payload;		/* into the parsed buffer */
	size_t payload_len;		/* padding removed */
	uint8_t padding_len;
};

/* Parses len bytes. Returns 0, or -EBADMSG (truncated, a bad padding count,
 * an extension longer than the packet) or -EPROTONOSUPPORT (version not 2).
 * A zero-length payload is valid. */
int rtp_parse(const uint8_t *buf, size_t len, struct rtp_packet *p);

/* Writes the header of p (version 2, no padding; CSRCs and the extension
 * when set) and then p->payload. Returns the length, or -ENOSPC. */
int rtp_write(uint8_t *buf, size_t cap, const struct rtp_packet *p);

/* A receiver's view of one source's sequence numbers (RFC 3550 A.1, minus
 * the probation: a track is bound before its first packet). */
#define RTP_SEQ_WINDOW 1024	/* duplicates are recognised this far back */
#define RTP_MAX_DROPOUT 3000
#define RTP_MAX_MISORDER 100

struct rtp_seq {
	bool started;
	uint16_t max_seq;
	uint32_t cycles;	/* count of wraps, shifted by 16 */
	uint32_t base_seq;
	uint32_t bad_seq;
	uint64_t received;	/* distinct packets accepted */
	uint64_t epoch_received;	/* since the first packet or the last restart */
	uint64_t lost_before;	/* lost in epochs before the last restart */
	uint64_t duplicates;
	uint64_t restarts;	/* large jumps taken as a restarted sender */
	uint64_t seen[RTP_SEQ_WINDOW / 64];	/* by extended seq, relative to max */
	/* jitter (A.8), in timestamp units */
	bool have_transit;
	int32_t transit;
	double jitter;
};

enum rtp_seq_result {
	RTP_SEQ_NEW,		/* in order or filling a gap */
	RTP_SEQ_DUPLICATE,	/* seen already: drop */
	RTP_SEQ_BAD,		/* a far jump; a second one in a row restarts */
};

void rtp_seq_init(struct rtp_seq *s);
/* Accounts seq; returns what it was. */
enum rtp_seq_result rtp_seq_update(struct rtp_seq *s, uint16_t seq);
/* Highest extended sequence number seen. */
uint64_t rtp_seq_extended_max(const struct rtp_seq *s);
/* Packets expected (from the first to the highest) and never received. */
uint64_t rtp_seq_expected(const struct rtp_seq *s);
uint64_t rtp_seq_lost(const struct rtp_seq *s);
/* Interarrival jitter: arrival in timestamp units (the receiver's clock at
 * the media rate), ts the packet's RTP timestamp. */
void rtp_jitter_update(struct rtp_seq *s, uint32_t arrival, uint32_t ts);

#endif
