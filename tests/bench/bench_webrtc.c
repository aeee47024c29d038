/* bench_webrtc.c - airmix's CPU per WebRTC guest against a plain RTP guest.
 *
 * Both variants carry the same audio: mono Opus at BITRATE, 20 ms packets,
 * one second encoded once beforehand and looped, as a browser's microphone
 * sends it; each guest also gets its mix-minus return (stereo Opus from the
 * media layer, [rtp] return settings). An engine on the internal clock
 * (period 256) mixes the tracks, as a running airmixd does.
 *   - RTP: the guests' packets go from the main thread over UDP loopback
 *     straight to their track ports (as bench_rtc); the returns go to a sink
 *     the main thread drains.
 *   - WebRTC: each guest is a GStreamer webrtcbin in a child process (so
 *     that the guests' own SRTP, ICE and pacing are not counted as airmix's)
 *     pushing the same packets through an appsrc. airmix's side is a
 *     webrtc_peer per guest, wired as rooms.c wires one: its track bound to
 *     the peer's loopback address, its return sent to the peer's return
 *     socket with the offer's payload type. Offer, answer and trickled
 *     candidates (127.0.0.1 only) cross a socketpair as length-prefixed
 *     messages.
 * The child is forked before any GLib, GStreamer or engine call (GLib is
 * not fork-safe once it has threads); each side starts GStreamer itself.
 *
 * The figure is airmix's own CPU time per second of audio: the parent
 * process but its main thread, which does the benchmark's part (signalling,
 * the RTP variant's sending, draining the sink). Each row is the median of
 * REPEATS runs of SECONDS, measured once every guest's audio and return
 * flow and WARMUP_S later. A run counts only if every track received and
 * every return sent at least half of its packets in the window and, for
 * WebRTC, every guest heard its return: otherwise the benchmark exits 1.
 * The cost of one more guest is the least-squares slope over the rows.
 *
 * Threads: parent: main (signalling, RTP sending, the sink), the clock
 * thread, the media thread, the engine's helpers and the peers' GStreamer
 * threads (airmix's share). Child: main (signalling, pacing the guests'
 * packets) and the guests' GStreamer threads, which only send messages
 * (under msg_lock) and count returned packets.
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
#include <opus/opus.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "offline.h"
#include "engine/engine.h"
#include "engine/rtc/media.h"
#include "engine/rtc/rtp.h"
#include "engine/rtc/webrtc.h"

#define RATE 48000
#define PERIOD 256
#define FRAME 960		/* 20 ms */
#define TICK_S 0.02
#define PACKETS 50		/* one second of pre-encoded audio, looped */
#define BITRATE 32000		/* a browser's mono voice */
#define PT 111
#define RTP_SSRC 1000u		/* + guest: the RTP variant's senders */
#define GUEST_SSRC 2000u	/* + guest: the WebRTC guests' senders */
#define TRACK_SSRC 5000u	/* + guest: a WebRTC guest's track */
#define SECONDS 10
#define WARMUP_S 1.0
#define SETUP_S 30.0		/* bound on connecting and first audio */
#define STOP_S 10.0		/* bound on the child's answer to a stop */
#define IO_TIMEOUT_S 5		/* bound on one message's send or receive */
#define REPEATS 3
#define ROWS 4
#define MAX_GUESTS 16
#define MSG_MAX 20000

static const uint32_t counts[ROWS] = { 1, 4, 8, 16 };

struct encoded {
	uint8_t data[PACKETS][400];
	int len[PACKETS];
};

/* ---- messages between the parent and the child */

enum msg_kind {
	MSG_START = 1,		/* parent: start `guest` guests */
	MSG_OFFER,		/* child: a guest's offer */
	MSG_ANSWER,		/* parent: the peer's answer */
	MSG_CANDIDATE,		/* both: an ICE candidate for m-line `mline` */
	MSG_STOP,		/* parent: stop the guests */
	MSG_HEARD,		/* child: uint32 return packets heard, per guest */
	MSG_FAILED,		/* child: why the guests cannot run */
	MSG_QUIT,		/* parent: exit */
};

struct msg_head {
	uint32_t len;		/* of the body that follows */
	uint16_t guest;
	uint8_t kind;
	uint8_t mline;
};

struct msg {
	struct msg_head h;
	char body[MSG_MAX + 1];	/* NUL-terminated */
};

static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;

static int send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Any thread: one whole message. */
static int send_msg(int fd, enum msg_kind kind, unsigned guest, unsigned mline, const void *body,
		    size_t len)
{
	struct msg_head h = { .len = (uint32_t)len, .guest = (uint16_t)guest,
			      .kind = (uint8_t)kind, .mline = (uint8_t)mline };
	int rc;

	if (len > MSG_MAX)
		return -1;
	pthread_mutex_lock(&msg_lock);
	rc = send_all(fd, &h, sizeof(h)) < 0 || send_all(fd, body, len) < 0 ? -1 : 0;
	pthread_mutex_unlock(&msg_lock);
	return rc;
}

static int send_text(int fd, enum msg_kind kind, unsigned guest, unsigned mline, const char *s)
{
	return send_msg(fd, kind, guest, mline, s, s ? strlen(s) : 0);
}

/* One whole message (the socket's timeout bounds the wait): 0, or -1 on
 * end of file, error or a malformed message. */
static int recv_msg(int fd, struct msg *m)
{
	if (recv(fd, &m->h, sizeof(m->h), MSG_WAITALL) != (ssize_t)sizeof(m->h) ||
	    m->h.len > MSG_MAX ||
	    (m->h.len && recv(fd, m->body, m->h.len, MSG_WAITALL) != (ssize_t)m->h.len))
		return -1;
	m->body[m->h.len] = '\0';
	return 0;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* ---- the audio both variants send */

static void encode_second(struct encoded *enc)
{
	int err;
	OpusEncoder *e = opus_encoder_create(RATE, 1, OPUS_APPLICATION_VOIP, &err);
	float pcm[FRAME];
	double ph = 0.0;

	opus_encoder_ctl(e, OPUS_SET_BITRATE(BITRATE));
	for (int p = 0; p < PACKETS; p++) {
		for (int i = 0; i < FRAME; i++, ph += 2 * M_PI * 220.0 / RATE)
			/* a tone and some noise: a codec load like a voice */
			pcm[i] = 0.3f * (float)sin(ph) + 0.05f * ((float)rand() / RAND_MAX - 0.5f);
		enc->len[p] = opus_encode_float(e, pcm, FRAME, enc->data[p], sizeof(enc->data[p]));
	}
	opus_encoder_destroy(e);
}

/* The sent-th packet of a guest as RTP. */
static int guest_packet(const struct encoded *enc, uint32_t sent, uint32_t ssrc, uint8_t *pkt,
			size_t cap)
{
	const int k = (int)(sent % PACKETS);
	struct rtp_packet p = {
		.payload_type = PT, .seq = (uint16_t)sent, .timestamp = sent * FRAME,
		.ssrc = ssrc, .payload = enc->data[k], .payload_len = (size_t)enc->len[k],
	};

	return rtp_write(pkt, cap, &p);
}

/* ---- the child: the WebRTC guests */

struct guest {
	GstElement *pipe, *webrtc, *src;
	unsigned id;
	int fd;
	atomic_uint heard;	/* return packets */
};

struct child {
	int fd;
	const struct encoded *enc;
	struct guest *g;
	unsigned n;
	uint32_t sent;
};

static void guest_offer_made(GstPromise *promise, gpointer user)
{
	struct guest *g = user;
	GstWebRTCSessionDescription *offer = NULL;
	const GstStructure *reply = NULL;
	gchar *text;

	if (gst_promise_wait(promise) == GST_PROMISE_RESULT_REPLIED)
		reply = gst_promise_get_reply(promise);
	if (reply)
		gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer,
				  NULL);
	gst_promise_unref(promise);
	if (!offer) {
		send_text(g->fd, MSG_FAILED, g->id, 0, "the guest made no offer");
		return;
	}
	/* the offer goes first: candidates follow set-local-description */
	text = gst_sdp_message_as_text(offer->sdp);
	send_text(g->fd, MSG_OFFER, g->id, 0, text);
	g_free(text);
	g_signal_emit_by_name(g->webrtc, "set-local-description", offer, NULL);
	gst_webrtc_session_description_free(offer);
}

static void guest_negotiate(GstElement *w, gpointer user)
{
	g_signal_emit_by_name(w, "create-offer", NULL,
			      gst_promise_new_with_change_func(guest_offer_made, user, NULL));
}

static void guest_candidate(GstElement *w, guint mline, gchar *cand, gpointer user)
{
	struct guest *g = user;

	(void)w;
	send_text(g->fd, MSG_CANDIDATE, g->id, mline, cand);
}

static GstPadProbeReturn guest_heard(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
	struct guest *g = user;

	(void)pad;
	(void)info;
	atomic_fetch_add(&g->heard, 1);
	return GST_PAD_PROBE_OK;
}

/* The return from airmix: counted into a fakesink. */
static void guest_pad(GstElement *w, GstPad *pad, gpointer user)
{
	struct guest *g = user;
	GstElement *sink;
	GstPad *sp;

	(void)w;
	if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
		return;
	sink = gst_element_factory_make("fakesink", NULL);
	if (!sink)
		return;
	g_object_set(sink, "sync", FALSE, "async", FALSE, NULL);
	gst_bin_add(GST_BIN(g->pipe), sink);
	gst_element_sync_state_with_parent(sink);
	sp = gst_element_get_static_pad(sink, "sink");
	gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, guest_heard, g, NULL);
	gst_pad_link(pad, sp);
	gst_object_unref(sp);
}

/* Host candidates on 127.0.0.1 only, no UPnP (as a browser). */
static void guest_loopback_only(GstElement *webrtc)
{
	GstWebRTCICE *ice = NULL;
	NiceAgent *agent = NULL;
	NiceAddress a;

	g_object_get(webrtc, "ice-agent", &ice, NULL);
	if (ice)
		g_object_get(ice, "agent", &agent, NULL);
	if (agent) {
		nice_address_init(&a);
		nice_address_set_from_string(&a, "127.0.0.1");
		nice_agent_add_local_address(agent, &a);
		g_object_set(agent, "upnp", FALSE, NULL);
		g_object_unref(agent);
	}
	if (ice)
		gst_object_unref(ice);
}

static void guest_stop(struct guest *g)
{
	if (!g->pipe)
		return;
	gst_element_set_state(g->pipe, GST_STATE_NULL);
	g_signal_handlers_disconnect_by_data(g->webrtc, g);
	gst_object_unref(g->src);
	gst_object_unref(g->webrtc);
	gst_object_unref(g->pipe);
	g->pipe = NULL;
}

static int guest_start(struct guest *g, unsigned id, int fd)
{
	GError *err = NULL;
	char desc[512];

	g->id = id;
	g->fd = fd;
	snprintf(desc, sizeof(desc),
		 "appsrc name=src is-live=true do-timestamp=true format=time max-buffers=10 "
		 "leaky-type=downstream caps=\"application/x-rtp,media=(string)audio,"
		 "encoding-name=(string)OPUS,clock-rate=(int)48000,payload=(int)%d,"
		 "ssrc=(uint)%u,encoding-params=(string)2,minptime=(string)10,"
		 "useinbandfec=(string)1\" ! webrtcbin name=w bundle-policy=max-bundle", PT,
		 GUEST_SSRC + id);
	g->pipe = gst_parse_launch(desc, &err);
	if (!g->pipe) {
		send_text(fd, MSG_FAILED, id, 0, err ? err->message : "no guest pipeline");
		g_clear_error(&err);
		return -1;
	}
	g->webrtc = gst_bin_get_by_name(GST_BIN(g->pipe), "w");
	g->src = gst_bin_get_by_name(GST_BIN(g->pipe), "src");
	guest_loopback_only(g->webrtc);
	g_signal_connect(g->webrtc, "on-negotiation-needed", G_CALLBACK(guest_negotiate), g);
	g_signal_connect(g->webrtc, "on-ice-candidate", G_CALLBACK(guest_candidate), g);
	g_signal_connect(g->webrtc, "pad-added", G_CALLBACK(guest_pad), g);
	if (gst_element_set_state(g->pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
		send_text(fd, MSG_FAILED, id, 0, "the guest's pipeline does not start");
		guest_stop(g);
		return -1;
	}
	return 0;
}

static void guest_set_answer(struct guest *g, const char *sdp)
{
	GstSDPMessage *msg = NULL;
	GstWebRTCSessionDescription *desc;

	if (gst_sdp_message_new_from_text(sdp, &msg) != GST_SDP_OK) {
		gst_sdp_message_free(msg);
		send_text(g->fd, MSG_FAILED, g->id, 0, "the answer is not SDP");
		return;
	}
	desc = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, msg);
	g_signal_emit_by_name(g->webrtc, "set-remote-description", desc, NULL);
	gst_webrtc_session_description_free(desc);
}

/* Every guest's next packet into its webrtcbin. */
static void child_send(struct child *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		GstBuffer *buf = gst_buffer_new_allocate(NULL, 512, NULL);
		GstMapInfo map;
		GstFlowReturn ret;
		int len = -1;

		if (gst_buffer_map(buf, &map, GST_MAP_WRITE)) {
			len = guest_packet(c->enc, c->sent, GUEST_SSRC + i, map.data, map.size);
			gst_buffer_unmap(buf, &map);
		}
		if (len > 0) {
			gst_buffer_set_size(buf, len);
			g_signal_emit_by_name(c->g[i].src, "push-buffer", buf, &ret);
		}
		gst_buffer_unref(buf);
	}
	c->sent++;
}

static void child_stop(struct child *c)
{
	uint32_t heard[MAX_GUESTS];

	for (unsigned i = 0; i < c->n; i++) {
		guest_stop(&c->g[i]);
		heard[i] = atomic_load(&c->g[i].heard);
	}
	send_msg(c->fd, MSG_HEARD, c->n, 0, heard, c->n * sizeof(heard[0]));
	free(c->g);
	c->g = NULL;
	c->n = 0;
}

/* n guests; those before a failure run (and are stopped as usual). */
static void child_start(struct child *c, unsigned n)
{
	free(c->g);
	c->g = NULL;
	if (n > MAX_GUESTS || !(c->g = calloc(n, sizeof(*c->g)))) {
		send_text(c->fd, MSG_FAILED, 0, 0, "too many guests");
		return;
	}
	c->sent = 0;
	for (c->n = 0; c->n < n && guest_start(&c->g[c->n], c->n, c->fd) == 0; c->n++)
		;
}

/* One message from the parent: 1 to go on, 0 to quit. */
static int child_take(struct child *c, const struct msg *m)
{
	bool known = m->h.guest < c->n && c->g[m->h.guest].pipe;

	switch (m->h.kind) {
	case MSG_START:
		if (!c->n)
			child_start(c, m->h.guest);
		break;
	case MSG_ANSWER:
		if (known)
			guest_set_answer(&c->g[m->h.guest], m->body);
		break;
	case MSG_CANDIDATE:
		if (known)
			g_signal_emit_by_name(c->g[m->h.guest].webrtc, "add-ice-candidate",
					      (guint)m->h.mline, m->body);
		break;
	case MSG_STOP:
		child_stop(c);
		break;
	default:
		return 0;
	}
	return 1;
}

/* The child's life: until MSG_QUIT or the parent's end of the socket. */
static int child_main(int fd, const struct encoded *enc)
{
	struct child c = { .fd = fd, .enc = enc };
	struct msg *m = malloc(sizeof(*m));
	double next = bench_now(CLOCK_MONOTONIC);
	GError *gerr = NULL;
	bool go = true;

	if (!m || !gst_init_check(NULL, NULL, &gerr)) {
		g_clear_error(&gerr);
		free(m);
		return 1;
	}
	while (go) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double wait = next - bench_now(CLOCK_MONOTONIC);

		if (poll(&pfd, 1, wait > 0.0 ? (int)(wait * 1000.0) + 1 : 0) > 0)
			go = recv_msg(fd, m) == 0 && child_take(&c, m);
		if (bench_now(CLOCK_MONOTONIC) < next)
			continue;
		if (c.n)
			child_send(&c);
		next += TICK_S;
		if (next < bench_now(CLOCK_MONOTONIC) - 1.0)
			next = bench_now(CLOCK_MONOTONIC);	/* fell far behind */
	}
	if (c.n)
		child_stop(&c);
	free(m);
	return 0;
}

/* ---- the parent: airmix and its end of each guest */

struct end {
	struct webrtc_peer *peer;	/* WebRTC only */
	struct sockaddr_storage track_to;
	uint32_t track, ret;
	bool connected;
	uint64_t packets0, returned0;	/* at the window's start */
};

struct run {
	bool webrtc;
	const struct encoded *enc;
	uint32_t n;
	int child, out, sink;
	struct engine *e;
	struct rtc_media *m;
	struct sockaddr_storage sink_addr;
	struct end g[MAX_GUESTS];
	uint32_t sent;
	struct msg msg;
	uint32_t heard[MAX_GUESTS];	/* the child's report at the end */
	unsigned n_heard;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench_webrtc: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static int loopback_socket(struct sockaddr_storage *addr)
{
	struct sockaddr_in *in = (struct sockaddr_in *)addr;
	socklen_t len = sizeof(*in);
	uint32_t rbuf = 4 << 20;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(addr, 0, sizeof(*addr));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && (bind(fd, (struct sockaddr *)in, sizeof(*in)) < 0 ||
			getsockname(fd, (struct sockaddr *)in, &len) < 0)) {
		close(fd);
		return -1;
	}
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rbuf, sizeof(rbuf));
	return fd;
}

static int engine_up(struct run *r, int port_base)
{
	struct airmix_config cfg;
	struct engine_options opts = { 0 };
	char err[256];

	offline_config(&cfg, RATE, PERIOD);
	cfg.backend = BACKEND_INTERNAL;
	cfg.rtp_port_min = port_base;
	cfg.rtp_port_max = port_base + 2 * (int)r->n + 2;
	if (engine_create(&cfg, &opts, NULL, &r->e, err, sizeof(err)) < 0 ||
	    engine_start(r->e, err, sizeof(err)) < 0 ||
	    rtc_media_create(r->e, &r->m, err, sizeof(err)) < 0)
		return fail("%s", err);
	r->out = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	r->sink = loopback_socket(&r->sink_addr);
	if (r->out < 0 || r->sink < 0)
		return fail("no UDP sockets: %s", strerror(errno));
	return 0;
}

/* A guest's track and mix-minus return, as rooms.c makes them: from is
 * where its packets come from (NULL: the first sender), the return goes to
 * return_to with payload type pt. */
static int add_track(struct run *r, unsigned i, const struct sockaddr_storage *from,
		     uint32_t channels, uint32_t ssrc, const struct sockaddr_storage *return_to,
		     uint8_t pt)
{
	struct rtc_track_spec spec = { .channels = channels, .buses = ENGINE_TO_PUBLISH,
				       .gain = 0.1f, .ssrc = ssrc, .from_set = from != NULL };
	struct rtc_return_spec rs = { .source = RTC_RETURN_MIX_MINUS, .to = *return_to,
				      .payload_type = pt };
	struct sockaddr_in *in = (struct sockaddr_in *)&r->g[i].track_to;
	struct rtc_endpoint ep;
	uint32_t node;

	snprintf(spec.room, sizeof(spec.room), "bench");
	snprintf(spec.user, sizeof(spec.user), "guest%u", i);
	if (from)
		spec.from = *from;
	if (rtc_media_publish(r->m, &spec, &r->g[i].track, &node, &ep) < 0)
		return fail("cannot publish track %u", i);
	r->g[i].track_to = ep.addr;
	if (in->sin_addr.s_addr == htonl(INADDR_ANY))
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rs.track_id = r->g[i].track;
	if (rtc_media_return_open(r->m, &rs, &r->g[i].ret) < 0)
		return fail("cannot open the return of guest %u", i);
	return 0;
}

static int rtp_guests(struct run *r)
{
	for (unsigned i = 0; i < r->n; i++)
		if (add_track(r, i, NULL, 1, RTP_SSRC + i, &r->sink_addr, PT) < 0)
			return -1;
	return 0;
}

/* A guest's offer: its peer, track and return, and the peer started. */
static int take_offer(struct run *r, unsigned i, const char *sdp)
{
	static const struct webrtc_config cfg = { .interfaces = "127.0.0.1" };
	struct webrtc_peer_info info;
	char msg[256];

	if (i >= r->n || r->g[i].peer)
		return fail("an offer for guest %u, unexpected", i);
	if (webrtc_peer_create(&cfg, sdp, &r->g[i].peer, msg, sizeof(msg)) < 0)
		return fail("guest %u's offer: %s", i, msg);
	webrtc_peer_info(r->g[i].peer, &info);
	if (add_track(r, i, &info.from, info.channels, TRACK_SSRC + i, &info.return_to,
		      info.payload_type) < 0)
		return -1;
	if (webrtc_peer_start(r->g[i].peer, &r->g[i].track_to, TRACK_SSRC + i, msg,
			      sizeof(msg)) < 0)
		return fail("guest %u's peer: %s", i, msg);
	return 0;
}

/* One message from the child. */
static int take_child_msg(struct run *r)
{
	struct msg *m = &r->msg;
	unsigned i;
	char why[256];

	if (recv_msg(r->child, m) < 0)
		return fail("the guests' process is gone or garbled");
	i = m->h.guest;
	switch (m->h.kind) {
	case MSG_OFFER:
		return take_offer(r, i, m->body);
	case MSG_CANDIDATE:
		if (i >= r->n || !r->g[i].peer)
			return fail("a candidate for guest %u before its offer", i);
		if (webrtc_peer_add_ice(r->g[i].peer, m->h.mline, m->body, why, sizeof(why)) < 0)
			return fail("guest %u's candidate: %s", i, why);
		return 0;
	case MSG_FAILED:
		return fail("guest %u: %s", i, m->body);
	default:
		return fail("message %u from the guests' process", m->h.kind);
	}
}

/* Each peer's events: answers and candidates to the child. */
static int pump_peers(struct run *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		struct webrtc_event ev;
		int rc = 0;

		while (r->g[i].peer && rc == 0 && webrtc_peer_next_event(r->g[i].peer, &ev)) {
			if (ev.kind == WEBRTC_EVENT_ANSWER)
				rc = send_text(r->child, MSG_ANSWER, i, 0, ev.text);
			else if (ev.kind == WEBRTC_EVENT_CANDIDATE)
				rc = send_text(r->child, MSG_CANDIDATE, i, ev.mline, ev.text);
			else if (ev.kind == WEBRTC_EVENT_STATE && !strcmp(ev.text, "failed"))
				rc = fail("guest %u: ICE failed", i);
			else if (ev.kind == WEBRTC_EVENT_STATE)
				r->g[i].connected |= !strcmp(ev.text, "connected") ||
						     !strcmp(ev.text, "completed");
			else
				rc = fail("guest %u: %s", i, ev.text);
			free(ev.text);
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Signalling until `until` (CLOCK_MONOTONIC seconds). */
static int serve_child(struct run *r, double until)
{
	for (double left; (left = until - bench_now(CLOCK_MONOTONIC)) > 0.0;) {
		struct pollfd pfd = { .fd = r->child, .events = POLLIN };
		int n = poll(&pfd, 1, (int)(left * 1000.0) + 1);

		if (n > 0 && take_child_msg(r) < 0)
			return -1;
		if (pump_peers(r) < 0)
			return -1;
	}
	return 0;
}

/* The RTP variant's guests: every packet of one tick. */
static void send_rtp(struct run *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		uint8_t pkt[512];
		int len = guest_packet(r->enc, r->sent, RTP_SSRC + i, pkt, sizeof(pkt));

		if (len > 0)
			sendto(r->out, pkt, (size_t)len, 0, (struct sockaddr *)&r->g[i].track_to,
			       sizeof(struct sockaddr_in));
	}
	r->sent++;
}

/* The first guest not yet connected, its track receiving and its return
 * sent (*what says which is missing), or -1 when every guest's audio flows. */
static int not_flowing(struct run *r, const char **what)
{
	for (uint32_t i = 0; i < r->n; i++) {
		struct rtc_track_stats ts = { 0 };
		struct rtc_return_stats rs = { 0 };

		rtc_media_track_stats(r->m, r->g[i].track, &ts);
		rtc_media_return_stats(r->m, r->g[i].ret, &rs);
		*what = r->webrtc && !r->g[i].peer ? "no offer" :
			r->webrtc && !r->g[i].connected ? "ICE not connected" :
			!ts.packets ? "no packet on its track" :
			!rs.packets ? "no return sent" : NULL;
		if (*what)
			return (int)i;
	}
	return -1;
}

/* Real time in 20 ms ticks until `until`, or until the audio flows when
 * setting up (-1 when it does not by then). */
static int pace(struct run *r, double until, bool setup)
{
	const char *what = NULL;
	char buf[2048];
	int i;

	for (double next = bench_now(CLOCK_MONOTONIC); next < until; next += TICK_S) {
		if (!r->webrtc)
			send_rtp(r);
		while (recv(r->sink, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		if (!r->webrtc)
			bench_sleep_until(next + TICK_S);
		else if (serve_child(r, next + TICK_S) < 0)
			return -1;
		if (setup && not_flowing(r, &what) < 0)
			return 0;
	}
	if (!setup || (i = not_flowing(r, &what)) < 0)
		return 0;
	return fail("%s guest %d: %s after %.0f s", r->webrtc ? "WebRTC" : "RTP", i, what,
		    SETUP_S);
}

/* The tracks' and returns' packets now. */
static void snapshot(struct run *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		struct rtc_track_stats ts = { 0 };
		struct rtc_return_stats rs = { 0 };

		rtc_media_track_stats(r->m, r->g[i].track, &ts);
		rtc_media_return_stats(r->m, r->g[i].ret, &rs);
		r->g[i].packets0 = ts.packets;
		r->g[i].returned0 = rs.packets;
	}
}

/* Did every guest's audio and return really flow in the window? */
static int check_window(struct run *r)
{
	const uint64_t least = (uint64_t)(SECONDS / TICK_S / 2);

	for (uint32_t i = 0; i < r->n; i++) {
		struct rtc_track_stats ts = { 0 };
		struct rtc_return_stats rs = { 0 };
		uint64_t in, back;

		rtc_media_track_stats(r->m, r->g[i].track, &ts);
		rtc_media_return_stats(r->m, r->g[i].ret, &rs);
		in = ts.packets - r->g[i].packets0;
		back = rs.packets - r->g[i].returned0;
		if (in < least || back < least)
			return fail("%s guest %u: %llu packets in, %llu returned in %d s (at "
				    "least %llu each expected)", r->webrtc ? "WebRTC" : "RTP", i,
				    (unsigned long long)in, (unsigned long long)back, SECONDS,
				    (unsigned long long)least);
	}
	return 0;
}

/* The child stops its guests (airmix's side is gone by then) and tells
 * what each heard of its return; late signalling is dropped. */
static int stop_guests(struct run *r)
{
	double end = bench_now(CLOCK_MONOTONIC) + STOP_S, left;
	struct msg *m = &r->msg;

	if (send_text(r->child, MSG_STOP, 0, 0, "") < 0)
		return fail("the guests' process does not listen");
	while ((left = end - bench_now(CLOCK_MONOTONIC)) > 0.0) {
		struct pollfd pfd = { .fd = r->child, .events = POLLIN };

		if (poll(&pfd, 1, (int)(left * 1000.0) + 1) <= 0)
			continue;
		if (recv_msg(r->child, m) < 0)
			return fail("the guests' process is gone or garbled");
		if (m->h.kind == MSG_HEARD && m->h.len <= sizeof(r->heard) &&
		    m->h.len % sizeof(r->heard[0]) == 0) {
			memcpy(r->heard, m->body, m->h.len);
			r->n_heard = m->h.len / sizeof(r->heard[0]);
			return 0;
		}
	}
	return fail("the guests did not stop within %.0f s", STOP_S);
}

/* Every WebRTC guest received its return, decrypted. */
static int check_heard(const struct run *r)
{
	if (r->n_heard != r->n)
		return fail("%u of %u WebRTC guests reported", r->n_heard, r->n);
	for (uint32_t i = 0; i < r->n; i++)
		if (!r->heard[i])
			return fail("WebRTC guest %u never heard its return", i);
	return 0;
}

static void run_down(struct run *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		webrtc_peer_destroy(r->g[i].peer);
	rtc_media_destroy(r->m);
	engine_destroy(r->e);
	if (r->out >= 0)
		close(r->out);
	if (r->sink >= 0)
		close(r->sink);
}

/* One run of n guests: airmix's cost per second of audio, or -1. */
static int run_once(const struct encoded *enc, int child, uint32_t n, bool webrtc,
		    int port_base, struct bench_cost *cost)
{
	static struct run r;
	double t0, main0;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.webrtc = webrtc;
	r.enc = enc;
	r.n = n;
	r.child = child;
	r.out = r.sink = -1;
	if (engine_up(&r, port_base) < 0)
		goto out;
	if (webrtc ? send_text(child, MSG_START, n, 0, "") : rtp_guests(&r))
		goto out;
	if (pace(&r, bench_now(CLOCK_MONOTONIC) + SETUP_S, true) < 0 ||
	    pace(&r, bench_now(CLOCK_MONOTONIC) + WARMUP_S, false) < 0)
		goto out;
	snapshot(&r);
	t0 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
	main0 = bench_now(CLOCK_THREAD_CPUTIME_ID);
	if (pace(&r, bench_now(CLOCK_MONOTONIC) + SECONDS, false) < 0)
		goto out;
	cost->process = (bench_now(CLOCK_PROCESS_CPUTIME_ID) - t0) / SECONDS;
	cost->airmix = cost->process - (bench_now(CLOCK_THREAD_CPUTIME_ID) - main0) / SECONDS;
	if (check_window(&r) < 0)
		goto out;
	rc = 0;
out:
	run_down(&r);
	if (webrtc && (stop_guests(&r) < 0 || (rc == 0 && check_heard(&r) < 0)))
		rc = -1;
	return rc;
}

/* The median of REPEATS runs, by airmix's own cost. */
static int median_run(const struct encoded *enc, int child, uint32_t n, bool webrtc,
		      int port_base, struct bench_cost *median)
{
	struct bench_cost runs[REPEATS];

	for (int i = 0; i < REPEATS; i++)
		if (run_once(enc, child, n, webrtc, port_base, &runs[i]) < 0)
			return -1;
	qsort(runs, REPEATS, sizeof(runs[0]), bench_by_airmix);
	*median = runs[REPEATS / 2];
	return 0;
}

static void print_header(void)
{
	struct airmix_config cfg;

	config_defaults(&cfg);
	printf("# guests send mono %d kb/s Opus in 20 ms packets (the same for both); each gets "
	       "a mix-minus return,\n# stereo %d kb/s Opus, complexity %d, FEC %s; 48 kHz, "
	       "period %d\n", BITRATE / 1000, cfg.rtp_return_bitrate_kbps,
	       cfg.rtp_return_complexity, cfg.rtp_return_fec ? "on" : "off", PERIOD);
	printf("# RTP: plain UDP loopback; WebRTC: webrtcbin guests in a child process, "
	       "ICE + DTLS-SRTP on 127.0.0.1\n");
	printf("# airmix's own CPU per second of audio (the process but the benchmark's main "
	       "thread);\n# each row: the median of %d runs of %d s\n", REPEATS, SECONDS);
	printf("%8s %12s %14s   %s\n", "guests", "RTP %core", "WebRTC %core",
	       "(whole process: RTP / WebRTC)");
}

/* The rows, both variants each: 0, or -1 when a run failed. */
static int bench(const struct encoded *enc, int child)
{
	double xs[ROWS], rtp[ROWS], web[ROWS], s_rtp, s_web;
	int base = 36000 + 2 * (int)((unsigned)getpid() % 1000);

	print_header();
	for (int c = 0; c < ROWS; c++) {
		struct bench_cost a, b;

		if (median_run(enc, child, counts[c], false, base, &a) < 0 ||
		    median_run(enc, child, counts[c], true, base, &b) < 0)
			return -1;
		xs[c] = counts[c];
		rtp[c] = a.airmix;
		web[c] = b.airmix;
		printf("%8u %11.2f%% %13.2f%%   (%.2f%% / %.2f%%)\n", counts[c], 100.0 * a.airmix,
		       100.0 * b.airmix, 100.0 * a.process, 100.0 * b.process);
		fflush(stdout);
	}
	s_rtp = bench_slope(xs, rtp, ROWS);
	s_web = bench_slope(xs, web, ROWS);
	printf("# one more RTP guest: %.3f %% of a core (%.0f per core)\n", 100.0 * s_rtp,
	       s_rtp > 0.0 ? 1.0 / s_rtp : 0.0);
	printf("# one more WebRTC guest: %.3f %% of a core (%.0f per core)\n", 100.0 * s_web,
	       s_web > 0.0 ? 1.0 / s_web : 0.0);
	printf("# WebRTC / RTP per guest: %.2f\n", s_rtp > 0.0 ? s_web / s_rtp : 0.0);
	return 0;
}

/* Tells the child to quit and waits for it, a bounded time. */
static int reap(pid_t pid, int fd)
{
	int status = 0;

	send_text(fd, MSG_QUIT, 0, 0, "");
	close(fd);
	for (int i = 0; i < 100; i++, usleep(100000)) {
		if (waitpid(pid, &status, WNOHANG) != pid)
			continue;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return 0;
		return fail("the guests' process ended with status %d", status);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return fail("the guests' process did not quit: killed");
}

int main(void)
{
	static struct encoded enc;
	char err[256];
	int sv[2], rc = 1;
	pid_t pid;

	encode_second(&enc);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fail("socketpair: %s", strerror(errno));
		return 1;
	}
	set_timeouts(sv[0]);
	set_timeouts(sv[1]);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fail("fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(child_main(sv[1], &enc));
	}
	close(sv[1]);
	if (webrtc_init(err, sizeof(err)) < 0)
		fail("%s", err);
	else if (bench(&enc, sv[0]) == 0)
		rc = 0;
	if (reap(pid, sv[0]) < 0)
		rc = 1;
	return rc;
}
