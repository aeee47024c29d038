/* mixminus.h - one return to a remote guest: read a tap (the publish bus
 * without the guest's own track, one track, or the whole programme),
 * Opus-encode it at 48 kHz in 20 ms frames, stereo or folded to mono, and
 * packetise it as RTP
 * (RFC 3550, RFC 7587).
 *
 * DESIGN
 * The RT thread fills the tap (engine_tap_open_minus / engine_tap_open);
 * mixminus_pump() runs on the media thread, never on RT: it reads whole
 * frames, resamples to 48 kHz when the engine runs at another rate
 * (SpeexDSP), encodes (bitrate, complexity and in-band FEC from [rtp]) and
 * hands each packet to the caller's send function. Frames the tap dropped
 * (the media thread fell behind) are skipped in the RTP timestamps, as a
 * sender's pause would be, and counted.
 *
 * Threads: one non-RT thread at a time per return (the media thread, under
 * the media lock; benchmarks).
 */
#ifndef AIRMIX_RTC_MIXMINUS_H
#define AIRMIX_RTC_MIXMINUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media.h"

struct tap;
struct mixminus;

struct mixminus_config {
	uint32_t rate;		/* engine rate (the tap's) */
	int bitrate;		/* bits per second */
	int complexity;		/* 0..10 */
	bool fec;
	uint32_t channels;	/* 2, or 1: (left + right) / 2 */
	uint32_t ssrc;
	uint8_t payload_type;
};

/* Sends one RTP packet; returns 0 or -errno (counted, never retried). */
typedef int (*mixminus_send_fn)(void *user, const uint8_t *packet, size_t len);

int mixminus_create(const struct mixminus_config *cfg, struct tap *tap, struct mixminus **out);
void mixminus_destroy(struct mixminus *mm);
/* Reads tap from now on (the caller closes the old one); the encoder, the
 * sequence and the timestamps go on. */
void mixminus_set_tap(struct mixminus *mm, struct tap *tap);
/* Encodes and sends every whole frame the tap holds, at most max_packets.
 * Returns the packets sent. */
int mixminus_pump(struct mixminus *mm, mixminus_send_fn send, void *user, int max_packets);
void mixminus_get_stats(const struct mixminus *mm, struct rtc_return_stats *st);
/* Sends that failed so far. */
uint64_t mixminus_send_errors(const struct mixminus *mm);

#endif
