/* test_webrtc.c - a browser guest's WebRTC connection (engine/rtc/webrtc.c)
 * against a second, real WebRTC endpoint: a GStreamer webrtcbin in this test
 * playing the guest, sending a 1 kHz Opus tone, on the loopback only.
 *
 * Checked: the offer is answered; ICE and DTLS connect with candidates
 * trickled both ways; the guest's packets reach the "track" socket with the
 * SSRC rewritten and decode to a 1 kHz tone; a return sent to the peer's
 * return socket reaches the guest, decrypted, as Opus; offers and candidates
 * that cannot be taken are refused with a message; destroying a running peer
 * is clean (ASan).
 *
 * Threads: the main thread drives both ends; GStreamer's threads run the
 * pipelines and queue the guest's candidates under guest_lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>
#include <math.h>
#include <netinet/in.h>
#include <nice/agent.h>
#include <openssl/crypto.h>
#include <opus/opus.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "engine/rtc/rtp.h"
#include "engine/rtc/webrtc.h"

#define RATE 48000
#define FRAME 960
#define TRACK_SSRC 0x1234abcdu
#define DEADLINE_S 20

static const struct webrtc_config loopback_cfg = { .interfaces = "127.0.0.1" };

/* Under ASan: GStreamer makes GLib grow its quark table, and GLib leaves the
 * first block (from its constructor) behind on purpose. GLib has no frame
 * pointers, so only the slow unwinder reaches _dl_init, which
 * tests/lib/lsan.supp suppresses. Unused without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

/* ---- the guest: a webrtcbin offering a 1 kHz tone */

struct guest {
	GstElement *pipe, *webrtc;
	pthread_mutex_t lock;
	char *offer;
	char *cands[64];
	unsigned n_cands, taken;
	atomic_int received;	/* return packets that reached the guest */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void guest_candidate(GstElement *w, guint mline, gchar *cand, gpointer user)
{
	struct guest *g = user;

	(void)w;
	(void)mline;
	pthread_mutex_lock(&g->lock);
	if (g->n_cands < 64)
		g->cands[g->n_cands++] = g_strdup(cand);
	pthread_mutex_unlock(&g->lock);
}

static void guest_offer_made(GstPromise *promise, gpointer user)
{
	struct guest *g = user;
	GstWebRTCSessionDescription *offer = NULL;
	const GstStructure *reply = gst_promise_get_reply(promise);

	gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, NULL);
	gst_promise_unref(promise);
	if (!offer)
		return;
	g_signal_emit_by_name(g->webrtc, "set-local-description", offer, NULL);
	pthread_mutex_lock(&g->lock);
	g->offer = gst_sdp_message_as_text(offer->sdp);
	pthread_mutex_unlock(&g->lock);
	gst_webrtc_session_description_free(offer);
}

static void guest_negotiate(GstElement *w, gpointer user)
{
	g_signal_emit_by_name(w, "create-offer", NULL,
			      gst_promise_new_with_change_func(guest_offer_made, user, NULL));
}

static GstPadProbeReturn guest_heard(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
	struct guest *g = user;

	(void)pad;
	(void)info;
	atomic_fetch_add(&g->received, 1);
	return GST_PAD_PROBE_OK;
}

static void guest_pad(GstElement *w, GstPad *pad, gpointer user)
{
	struct guest *g = user;
	GstElement *sink = gst_element_factory_make("fakesink", NULL);
	GstPad *sp;

	(void)w;
	if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC || !sink)
		return;
	g_object_set(sink, "sync", FALSE, "async", FALSE, NULL);
	gst_bin_add(GST_BIN(g->pipe), sink);
	gst_element_sync_state_with_parent(sink);
	sp = gst_element_get_static_pad(sink, "sink");
	gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, guest_heard, g, NULL);
	gst_pad_link(pad, sp);
	gst_object_unref(sp);
}

static int guest_start(struct guest *g)
{
	GError *err = NULL;
	GstWebRTCICE *ice = NULL;
	NiceAgent *agent = NULL;
	NiceAddress a;

	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	g->pipe = gst_parse_launch("audiotestsrc is-live=true freq=1000 volume=0.3 ! "
				   "audioconvert ! audioresample ! opusenc ! rtpopuspay pt=111 ! "
				   "application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! "
				   "webrtcbin name=w bundle-policy=max-bundle", &err);
	if (!g->pipe) {
		printf("# guest pipeline: %s\n", err ? err->message : "?");
		g_clear_error(&err);
		return -1;
	}
	g->webrtc = gst_bin_get_by_name(GST_BIN(g->pipe), "w");
	g_object_get(g->webrtc, "ice-agent", &ice, NULL);
	g_object_get(ice, "agent", &agent, NULL);
	nice_address_init(&a);
	nice_address_set_from_string(&a, "127.0.0.1");
	nice_agent_add_local_address(agent, &a);
	g_object_unref(agent);
	gst_object_unref(ice);
	g_signal_connect(g->webrtc, "on-negotiation-needed", G_CALLBACK(guest_negotiate), g);
	g_signal_connect(g->webrtc, "on-ice-candidate", G_CALLBACK(guest_candidate), g);
	g_signal_connect(g->webrtc, "pad-added", G_CALLBACK(guest_pad), g);
	return gst_element_set_state(g->pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE ?
	       -1 : 0;
}

static void guest_stop(struct guest *g)
{
	gst_element_set_state(g->pipe, GST_STATE_NULL);
	gst_object_unref(g->webrtc);
	gst_object_unref(g->pipe);
	for (unsigned i = 0; i < g->n_cands; i++)
		g_free(g->cands[i]);
	g_free(g->offer);
	pthread_mutex_destroy(&g->lock);
}

static char *guest_wait_offer(struct guest *g)
{
	char *offer = NULL;

	for (double end = now_s() + DEADLINE_S; !offer && now_s() < end; usleep(10000)) {
		pthread_mutex_lock(&g->lock);
		offer = g->offer ? g_strdup(g->offer) : NULL;
		pthread_mutex_unlock(&g->lock);
	}
	return offer;
}

static void guest_set_answer(struct guest *g, const char *sdp)
{
	GstSDPMessage *msg = NULL;
	GstWebRTCSessionDescription *desc;

	gst_sdp_message_new_from_text(sdp, &msg);
	desc = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, msg);
	g_signal_emit_by_name(g->webrtc, "set-remote-description", desc, NULL);
	gst_webrtc_session_description_free(desc);
}

/* ---- the "track": a UDP socket where the peer sends the guest's RTP */

static int udp_socket(struct sockaddr_storage *addr)
{
	struct sockaddr_in *in = (struct sockaddr_in *)addr;
	socklen_t len = sizeof(*in);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	memset(addr, 0, sizeof(*addr));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)in, sizeof(*in));
	getsockname(fd, (struct sockaddr *)in, &len);
	return fd;
}

/* Zero crossings per second of a mono signal: twice the tone's frequency. */
static double tone_hz(const float *pcm, size_t n)
{
	size_t crossings = 0;

	for (size_t i = 1; i < n; i++)
		crossings += (pcm[i - 1] < 0.0f) != (pcm[i] < 0.0f);
	return (double)crossings / 2.0 / ((double)n / RATE);
}

struct track_rx {
	unsigned packets, bad_ssrc;
	uint8_t pt;
	OpusDecoder *dec;
	float pcm[RATE * 4];
	size_t frames;
	struct sockaddr_storage from;
};

static void track_read(int fd, struct track_rx *rx)
{
	uint8_t buf[2048];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t n;

	while ((n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
			     &flen)) > 0) {
		struct rtp_packet p;
		float out[FRAME * 6];
		int got;

		if (rtp_parse(buf, (size_t)n, &p) < 0)
			continue;
		rx->packets++;
		rx->from = from;
		rx->pt = p.payload_type;
		if (p.ssrc != TRACK_SSRC)
			rx->bad_ssrc++;
		got = opus_decode_float(rx->dec, p.payload, (opus_int32)p.payload_len, out,
					FRAME * 6, 0);
		for (int i = 0; i < got && rx->frames < RATE * 4; i++)
			rx->pcm[rx->frames++] = out[i];
	}
}

/* ---- the return: a 440 Hz Opus stream into the peer */

static void send_return(int fd, const struct sockaddr_storage *to, OpusEncoder *enc,
			uint16_t seq, uint8_t pt)
{
	float pcm[2 * FRAME];
	uint8_t payload[400], pkt[512];
	int len;

	for (int i = 0; i < FRAME; i++)
		pcm[2 * i] = pcm[2 * i + 1] =
			0.3f * (float)sin(2 * M_PI * 440.0 * (seq * FRAME + i) / RATE);
	len = opus_encode_float(enc, pcm, FRAME, payload, sizeof(payload));
	if (len > 0) {
		struct rtp_packet p = { .payload_type = pt, .seq = seq,
					.timestamp = (uint32_t)seq * FRAME, .ssrc = 777,
					.payload = payload, .payload_len = (size_t)len };
		int n = rtp_write(pkt, sizeof(pkt), &p);

		sendto(fd, pkt, (size_t)n, 0, (const struct sockaddr *)to,
		       sizeof(struct sockaddr_in));
	}
}

/* ---- the checks */

static void refused_offers(void)
{
	static const char *const bad[][2] = {
		{ "not SDP", "hello" },
		{ "two m-lines",
		  "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
		  "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
		  "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n" },
		{ "video", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
			   "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n" },
		{ "no Opus", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
			     "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct webrtc_peer *p = (struct webrtc_peer *)1;
		char msg[256] = "";
		int rc = webrtc_peer_create(&loopback_cfg, bad[i][1], &p, msg, sizeof(msg));

		CHECK(rc == -EINVAL && !p && msg[0], "an offer with %s is refused: %s", bad[i][0],
		      msg);
	}
}

static void refused_candidates(struct webrtc_peer *p)
{
	char msg[256] = "";

	CHECK(webrtc_peer_add_ice(p, 1, "candidate:1 1 UDP 1 127.0.0.1 9 typ host", msg,
				  sizeof(msg)) == -EINVAL && msg[0],
	      "a candidate for m-line 1 is refused: %s", msg);
	msg[0] = '\0';
	CHECK(webrtc_peer_add_ice(p, 0, "a=candidate:1", msg, sizeof(msg)) == -EINVAL && msg[0],
	      "a candidate without \"candidate:\" is refused: %s", msg);
	msg[0] = '\0';
	CHECK(webrtc_peer_add_ice(p, 0, "candidate:1\n1 UDP", msg, sizeof(msg)) == -EINVAL &&
	      msg[0], "a candidate with a control byte is refused: %s", msg);
}

/* A guest cannot pile up candidates: 64 are taken, the next is refused. */
static void too_many_candidates(const char *offer)
{
	struct webrtc_peer *p = NULL;
	char msg[256] = "", cand[128];
	int taken = 0;

	if (webrtc_peer_create(&loopback_cfg, offer, &p, msg, sizeof(msg)) < 0) {
		CHECK(false, "a second peer from the offer: %s", msg);
		return;
	}
	for (int i = 0; i < 64; i++) {
		snprintf(cand, sizeof(cand), "candidate:%d 1 UDP 2122252543 127.0.0.1 %d typ host",
			 i, 40000 + i);
		taken += webrtc_peer_add_ice(p, 0, cand, msg, sizeof(msg)) == 0;
	}
	msg[0] = '\0';
	CHECK(taken == 64 && webrtc_peer_add_ice(p, 0, cand, msg, sizeof(msg)) == -EINVAL &&
	      strstr(msg, "more than 64"), "64 candidates are taken, the 65th refused: %s", msg);
	webrtc_peer_destroy(p);
}

/* With [rtp] return_channels = 1 the answer tells the guest the return is
 * mono (sprop-stereo=0). */
static void mono_answer(const char *offer, const struct sockaddr_storage *track_to)
{
	static const struct webrtc_config mono_cfg = { .interfaces = "127.0.0.1",
						       .mono_return = true };
	struct webrtc_peer *p = NULL;
	char msg[256] = "";
	bool mono = false, answered = false;

	if (webrtc_peer_create(&mono_cfg, offer, &p, msg, sizeof(msg)) < 0 ||
	    webrtc_peer_start(p, track_to, TRACK_SSRC, msg, sizeof(msg)) < 0) {
		CHECK(false, "a peer with mono returns: %s", msg);
		webrtc_peer_destroy(p);
		return;
	}
	for (double end = now_s() + DEADLINE_S; !answered && now_s() < end; usleep(2000)) {
		struct webrtc_event ev;

		while (webrtc_peer_next_event(p, &ev)) {
			if (ev.kind == WEBRTC_EVENT_ANSWER) {
				answered = true;
				mono = strstr(ev.text, "sprop-stereo=0") != NULL;
			}
			free(ev.text);
		}
	}
	CHECK(answered && mono, "mono returns: the answer says sprop-stereo=0");
	webrtc_peer_destroy(p);
}

/* Runs both ends until the guest's audio and the return flowed. */
static void connect_and_flow(struct guest *g, struct webrtc_peer *p, int track_fd,
			     struct track_rx *rx)
{
	struct webrtc_peer_info info;
	OpusEncoder *enc = opus_encoder_create(RATE, 2, OPUS_APPLICATION_AUDIO, NULL);
	int ret_fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool answered = false, connected = false, failed = false;
	double end = now_s() + DEADLINE_S, next_return = 0.0;
	uint16_t seq = 0;
	char msg[256];

	webrtc_peer_info(p, &info);
	for (; now_s() < end && !failed; usleep(2000)) {
		struct webrtc_event ev;

		while (webrtc_peer_next_event(p, &ev)) {
			if (ev.kind == WEBRTC_EVENT_ANSWER) {
				answered = strstr(ev.text, "a=sendrecv") != NULL &&
					   strstr(ev.text, "sprop-stereo=1") != NULL;
				printf("# answer is %s\n", answered ? "sendrecv" : "not sendrecv");
				if (getenv("SHOW_SDP"))
					printf("%s\n", ev.text);
				guest_set_answer(g, ev.text);
			} else if (ev.kind == WEBRTC_EVENT_CANDIDATE) {
				g_signal_emit_by_name(g->webrtc, "add-ice-candidate", ev.mline,
						      ev.text);
			} else if (ev.kind == WEBRTC_EVENT_STATE) {
				printf("# ice %s\n", ev.text);
				connected |= !strcmp(ev.text, "connected") ||
					     !strcmp(ev.text, "completed");
			} else {
				printf("# failed: %s\n", ev.text);
				failed = true;
			}
			free(ev.text);
		}
		pthread_mutex_lock(&g->lock);
		while (g->taken < g->n_cands) {
			msg[0] = '\0';
			if (webrtc_peer_add_ice(p, 0, g->cands[g->taken], msg, sizeof(msg)) < 0)
				printf("# candidate refused: %s\n", msg);
			g->taken++;
		}
		pthread_mutex_unlock(&g->lock);
		track_read(track_fd, rx);
		if (connected && now_s() >= next_return) {
			send_return(ret_fd, &info.return_to, enc, seq++, info.payload_type);
			next_return = now_s() + 0.02;
		}
		if (rx->frames >= RATE * 2 && atomic_load(&g->received) >= 25)
			break;
	}
	CHECK(answered, "the offer is answered sendrecv, with a stereo return");
	CHECK(connected && !failed, "ICE connects on the loopback");
	opus_encoder_destroy(enc);
	close(ret_fd);
}

int main(void)
{
	struct guest g;
	struct webrtc_peer *p = NULL;
	struct webrtc_peer_info info;
	struct sockaddr_storage track_addr;
	static struct track_rx rx;
	char err[256] = "", msg[256] = "", *offer;
	int track_fd, rc;

	/* as airmixd does (engine/main.c): GStreamer's DTLS threads may outlive
	 * OpenSSL's exit-time cleanup */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
	rc = webrtc_init(err, sizeof(err));
	CHECK(rc == 0, "GStreamer and its WebRTC elements are there %s", err);
	if (rc < 0)
		return CHECK_DONE();
	refused_offers();
	CHECK(guest_start(&g) == 0, "the guest's webrtcbin runs");
	offer = guest_wait_offer(&g);
	CHECK(offer != NULL, "the guest makes an offer");
	if (!offer)
		return CHECK_DONE();
	if (getenv("SHOW_SDP"))
		printf("%s\n", offer);
	rc = webrtc_peer_create(&loopback_cfg, offer, &p, msg, sizeof(msg));
	CHECK(rc == 0, "the guest's offer is taken %s", msg);
	track_fd = udp_socket(&track_addr);
	too_many_candidates(offer);
	mono_answer(offer, &track_addr);
	g_free(offer);
	if (rc < 0)
		return CHECK_DONE();
	webrtc_peer_info(p, &info);
	CHECK(info.payload_type == 111 && info.channels == 1,
	      "Opus payload type 111, mono (pt %u, %u channels)", info.payload_type,
	      info.channels);
	refused_candidates(p);
	rx.dec = opus_decoder_create(RATE, 1, NULL);
	CHECK(webrtc_peer_start(p, &track_addr, TRACK_SSRC, msg, sizeof(msg)) == 0,
	      "the peer starts %s", msg);
	connect_and_flow(&g, p, track_fd, &rx);
	CHECK(rx.packets >= 50 && rx.bad_ssrc == 0,
	      "the guest's RTP reaches the track with its SSRC rewritten (%u packets, %u with "
	      "another SSRC)", rx.packets, rx.bad_ssrc);
	CHECK(rx.packets && !memcmp(&((struct sockaddr_in *)&rx.from)->sin_port,
				   &((struct sockaddr_in *)&info.from)->sin_port, 2),
	      "it comes from the peer's announced loopback address");
	CHECK(webrtc_peer_packets(p) >= rx.packets, "the peer counts what it handed over (%llu)",
	      (unsigned long long)webrtc_peer_packets(p));
	if (rx.frames > RATE) {
		double hz = tone_hz(rx.pcm + RATE / 2, rx.frames - RATE / 2);

		CHECK(fabs(hz - 1000.0) < 10.0, "the guest's audio decodes to 1 kHz (%.1f Hz)", hz);
	} else {
		CHECK(false, "the guest's audio decodes (%zu frames)", rx.frames);
	}
	CHECK(atomic_load(&g.received) >= 25, "the return reaches the guest decrypted (%d packets)",
	      atomic_load(&g.received));
	webrtc_peer_destroy(p);
	CHECK(true, "a running peer is destroyed");
	guest_stop(&g);
	opus_decoder_destroy(rx.dec);
	close(track_fd);
	return CHECK_DONE();
}
