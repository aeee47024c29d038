/* track.h - one received remote track: RTP/Opus packets in, PCM frames at
 * the engine rate out, through a ring the RT thread reads.
 *
 * DESIGN
 * The media thread hands each accepted RTP packet to track_receive(): the
 * sequence accounting (rtp.h) catches duplicates and counts losses, the
 * Opus payload's duration gives its span, and the jitter buffer (jitter.h)
 * takes it or refuses it as late. track_pump() then keeps the PCM ring
 * filled to what the engine needs next: each 20 ms step takes a frame from
 * the jitter buffer and decodes it (Opus), or, for a missing one, decodes
 * the next packet's in-band FEC when that packet is here, else conceals
 * (Opus PLC); a sender in DTX gets comfort silence. The decoded audio goes
 * through the drift stage (drift.h) and, when the engine does not run at
 * 48 kHz, a fixed-ratio SpeexDSP resampler, into the ring.
 *
 * Drift: how fast the drift stage drains the track is steered by the
 * buffered audio (jitter buffer depth plus the ring, measured at each
 * arrival and smoothed) with a PI controller around the level the buffer
 * settled at; SpeexDSP's own delay adaptations move that level, the
 * controller does not fight them. The integral is the sender's clock offset
 * against the engine clock (drift ppm), bounded by drift_max. A sender
 * 100 ppm fast or slow is absorbed by slipping a frame every 0.2 s, smoothly
 * (drift.h), without growing the delay or dropping audio.
 *
 * RT side: track_render() (an engine render callback, node kind "remote")
 * copies frames out of the ring; on underrun it plays what there is and
 * silence for the rest, and counts it once playback has begun.
 *
 * Threads: track_create/destroy/receive/pump/stats on one non-RT thread at a
 * time (the media thread, under the media lock); track_render on RT;
 * track_out_free off RT once the engine has retired the node.
 */
#ifndef AIRMIX_RTC_TRACK_H
#define AIRMIX_RTC_TRACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/ring.h"
#include "media.h"
#include "rtp.h"

#define TRACK_RTP_RATE 48000u	/* Opus RTP clock (RFC 7587) */

struct track_config {
	uint32_t rate;		/* engine rate */
	uint32_t channels;	/* 1 or 2 */
	uint32_t jitter_min;	/* samples at 48 kHz */
	uint32_t jitter_max;
	double drift_max;	/* fraction (1e-3 = 1000 ppm) */
	uint32_t ring_frames;	/* PCM ring capacity, engine frames */
};

/* What RT reads; outlives the track until the engine releases the node. */
struct track_out {
	struct spsc_ring ring;	/* interleaved frames of `channels` floats */
	uint32_t channels;
	_Atomic bool playing;	/* underruns count only while set */
	_Atomic uint64_t underruns;
};

enum track_rx {
	TRACK_RX_OK,
	TRACK_RX_DUPLICATE,
	TRACK_RX_LATE,
	TRACK_RX_DROPPED,	/* not Opus, a far sequence jump, no room */
};

struct track;

int track_create(const struct track_config *cfg, struct track **out);
/* Frees everything but the track_out (see track_output). */
void track_destroy(struct track *t);
struct track_out *track_output(struct track *t);
/* Engine callbacks (state = the track_out). */
void track_render(void *state, float *const *out, uint32_t nframes);
void track_out_free(void *state);

/* arrival: the receiver's clock in 48 kHz units (for the RFC 3550 jitter);
 * now_s: monotonic seconds. */
enum track_rx track_receive(struct track *t, const struct rtp_packet *p, uint32_t arrival,
			    double now_s);
/* Produce until the ring holds at least min_frames (engine frames). */
void track_pump(struct track *t, uint32_t min_frames);
void track_get_stats(struct track *t, double now_s, struct rtc_track_stats *st);
/* RT cycles that found the ring short while the track played. */
uint64_t track_underruns(const struct track *t);

#endif
