/* webrtc.h - one browser guest's WebRTC connection: ICE, DTLS-SRTP and the
 * SDP answer by GStreamer's webrtcbin, audio handed to the ordinary RTP
 * track and return on loopback.
 *
 * A guest's browser offers one audio m-line with Opus. The peer answers it
 * and then does two things only:
 *   - every RTP packet webrtcbin decrypts is sent, with its SSRC rewritten
 *     to the one the track was published with, from a loopback socket of the
 *     peer to the guest's track port, where the jitter buffer, decoding,
 *     drift correction, stats and stems of any remote track take over;
 *   - the guest's mix-minus return, sent by the media layer as RTP/Opus to
 *     the peer's loopback return socket, goes into webrtcbin, which encrypts
 *     it and sends it to the browser.
 * RTCP (receiver and sender reports) is webrtcbin's. Loss is left to the
 * track's jitter buffer, FEC and PLC: nothing is retransmitted.
 *
 * Events (the answer, local ICE candidates, state changes, failures) are
 * queued by webrtcbin's threads and taken with webrtc_peer_next_event() by
 * the owner, which polls (rooms.c, every rooms tick).
 *
 * Threads: webrtc_init and every webrtc_peer_* function on one owner thread
 * at a time (rooms.c calls them under its mutex); GStreamer's own threads
 * run the pipeline and only queue events and send datagrams.
 */
#ifndef AIRMIX_RTC_WEBRTC_H
#define AIRMIX_RTC_WEBRTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define WEBRTC_SERVER_MAX 512
#define WEBRTC_INTERFACES_MAX 512
#define WEBRTC_SDP_MAX 16000	/* an offer of one audio m-line has a few kB */
#define WEBRTC_CANDIDATE_MAX 512

struct webrtc_peer;

struct webrtc_config {
	/* addresses ICE gathers host candidates on, comma-separated literals;
	 * "" = every interface but loopback (libnice's choice) */
	char interfaces[WEBRTC_INTERFACES_MAX];
	char stun_server[WEBRTC_SERVER_MAX];	/* stun://host:port or "" */
	char turn_server[WEBRTC_SERVER_MAX];	/* turn(s)://user:pass@host:port or "" */
	bool mono_return;	/* [rtp] return_channels = 1: the answer says so */
};

/* Loads GStreamer and checks that every element a peer needs is there.
 * Once per process; -ENOENT with a message naming what is missing. */
int webrtc_init(char *err, size_t len);

/* Checks the offer (one audio m-line carrying Opus) and builds the peer's
 * pipeline (not yet running). -EINVAL with msg for an offer this cannot
 * answer, another negative errno when the pipeline cannot be built. */
int webrtc_peer_create(const struct webrtc_config *cfg, const char *offer_sdp,
		       struct webrtc_peer **out, char *msg, size_t len);

/* What the offer asked for and where the peer's loopback sockets are:
 * from = the address its RTP reaches the track from, return_to = where
 * the guest's return must be sent. */
struct webrtc_peer_info {
	uint32_t channels;		/* 2 when the guest offered stereo */
	uint8_t payload_type;		/* the offer's Opus payload type */
	struct sockaddr_storage from;
	struct sockaddr_storage return_to;
};
void webrtc_peer_info(const struct webrtc_peer *p, struct webrtc_peer_info *info);

/* Starts the pipeline: received RTP goes to track_to with SSRC ssrc; the
 * answer is made and arrives as an event. */
int webrtc_peer_start(struct webrtc_peer *p, const struct sockaddr_storage *track_to,
		      uint32_t ssrc, char *msg, size_t len);

/* A remote ICE candidate ("candidate:..." as the browser gives it) for
 * m-line mline. -EINVAL with msg when it is not one. */
int webrtc_peer_add_ice(struct webrtc_peer *p, unsigned mline, const char *candidate, char *msg,
			size_t len);

enum webrtc_event_kind {
	WEBRTC_EVENT_ANSWER,	/* text: the answer's SDP */
	WEBRTC_EVENT_CANDIDATE,	/* text: a local candidate, mline its m-line */
	WEBRTC_EVENT_STATE,	/* text: the ICE connection state ("connected", ...) */
	WEBRTC_EVENT_FAILED,	/* text: why the connection is lost for good */
};

struct webrtc_event {
	enum webrtc_event_kind kind;
	unsigned mline;
	char *text;		/* the caller frees it */
};

/* Takes the oldest queued event: 1, or 0 when there is none. */
int webrtc_peer_next_event(struct webrtc_peer *p, struct webrtc_event *ev);

/* Packets handed to the track so far. */
uint64_t webrtc_peer_packets(const struct webrtc_peer *p);

/* Stops the pipeline and frees everything (NULL is fine). */
void webrtc_peer_destroy(struct webrtc_peer *p);

#endif
