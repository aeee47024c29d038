/* media.h - remote tracks: RTP/Opus in over UDP (RFC 3550, RFC 7587), a
 * jitter buffer, Opus decode with in-band FEC and PLC, and drift-steered
 * resampling into the engine clock; and returns: a mix-minus of the publish
 * bus (or one track) Opus-encoded and sent back as RTP.
 *
 * The contract between the rooms/signalling layer (engine/rtc/rooms.c,
 * web-admin/rtc_ws.c) and the media layer (engine/rtc/media.c and friends).
 * Rooms decide who may publish and subscribe; media moves the audio.
 *
 * Each published track is an engine source node (kind "remote"), so volume,
 * mute, pan and buses go through the engine's node API (engine_set_gain ...),
 * and a take can record it as a stem. RT only copies fixed-size PCM frames
 * from the track's ring (silence on underrun, counted); packet parsing,
 * jitter, decoding, resampling and encoding run on the media thread(s).
 *
 * Threads: every function here may be called from any non-RT thread; the
 * media layer's own mutex serialises them.
 */
#ifndef AIRMIX_RTC_MEDIA_H
#define AIRMIX_RTC_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct engine;
struct rtc_media;

#define RTC_ID_MAX 128		/* room and user ids, bytes */

/* One publisher's track. Packets are bound to it by SSRC and source
 * address: ssrc 0 latches the first SSRC seen from the source address;
 * from_set false latches the first source address that sends to the port
 * (with the SSRC, if given). Anything else arriving on the port is dropped
 * and counted. */
struct rtc_track_spec {
	char room[RTC_ID_MAX + 1];
	char user[RTC_ID_MAX + 1];
	uint32_t ssrc;
	bool from_set;
	struct sockaddr_storage from;
	uint32_t channels;	/* 1 or 2: what the node mixes (Opus decodes to it) */
	uint32_t buses;		/* ENGINE_TO_* mask */
	float gain;		/* 0..4 (volume / 100) */
};

/* Where packets for a track must be sent. */
struct rtc_endpoint {
	struct sockaddr_storage addr;	/* host and UDP port on this box */
	uint16_t port;
};

struct rtc_track_stats {
	uint64_t packets;	/* accepted for this track */
	uint64_t lost;		/* never arrived (gaps in the sequence) */
	uint64_t late;		/* arrived after their playout time */
	uint64_t duplicates;
	uint64_t dropped;	/* wrong SSRC/source, malformed, wrong payload type */
	double jitter_ms;	/* RFC 3550 interarrival jitter */
	double buffer_ms;	/* jitter buffer depth now */
	double delay_ms;	/* arrival to playout, averaged */
	uint64_t plc_frames;
	uint64_t fec_frames;
	uint64_t dtx_frames;
	uint64_t underruns;	/* RT cycles that found the ring short */
	double drift_ppm;	/* sender clock against the engine clock */
	double ahead_ms;	/* decoded ahead of the engine, for every track: two
				 * periods, 10 ms, and up to 20 ms more while the
				 * media thread has been late (underruns) */
	bool receiving;		/* a packet within the last second */
};

/* What a return carries. */
enum rtc_return_source {
	RTC_RETURN_MIX_MINUS,	/* the publish bus minus the subscriber's own track */
	RTC_RETURN_TRACK,	/* one track as it is mixed */
	RTC_RETURN_PROGRAMME,	/* the whole publish bus */
	RTC_RETURN_TALKBACK,	/* the playout bus minus the subscriber's own track:
				 * what the engineer hears, for a guest in the green room */
};

struct rtc_return_spec {
	enum rtc_return_source source;
	uint32_t track_id;	/* MIX_MINUS: the subscriber's own track (0 = none:
				 * the whole programme); TRACK: the track sent */
	struct sockaddr_storage to;
	uint32_t ssrc;		/* 0 = random */
	uint8_t payload_type;	/* 0 = 111 */
};

struct rtc_return_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t dropped_frames;	/* the tap ring was full */
	uint32_t ssrc;
};

/* Creates the media layer on the engine, with its settings from the engine's
 * config ([rtp] section). Returns 0 or -errno; err gets a message. */
int rtc_media_create(struct engine *e, struct rtc_media **out, char *err, size_t errlen);
void rtc_media_destroy(struct rtc_media *m);

/* Adds a track: a source node in the graph and a UDP endpoint to send to.
 * Returns 0, -EINVAL (bad spec), -ENOSPC (no port or node left), -errno. */
int rtc_media_publish(struct rtc_media *m, const struct rtc_track_spec *spec,
		      uint32_t *track_id, uint32_t *node_id, struct rtc_endpoint *ep);
int rtc_media_unpublish(struct rtc_media *m, uint32_t track_id);
int rtc_media_track_stats(struct rtc_media *m, uint32_t track_id, struct rtc_track_stats *st);

/* Starts a return to spec->to. Returns 0 and its id, or -errno. */
int rtc_media_return_open(struct rtc_media *m, const struct rtc_return_spec *spec,
			  uint32_t *return_id);
int rtc_media_return_close(struct rtc_media *m, uint32_t return_id);
/* The return carries source from now on (MIX_MINUS <-> TALKBACK for a guest
 * going on air or back to the green room): same encoder, SSRC and sequence,
 * so the listener's decoder goes on. -ENOENT, -EINVAL. */
int rtc_media_return_set_source(struct rtc_media *m, uint32_t return_id,
				enum rtc_return_source source);
int rtc_media_return_stats(struct rtc_media *m, uint32_t return_id, struct rtc_return_stats *st);

/* Waits until the media thread has made a whole pass (read the sockets,
 * topped up the tracks, sent the returns) that began after this call: for
 * tests and benchmarks on the offline clock. */
void rtc_media_sync(struct rtc_media *m);

#endif
