/* webrtc.c - a browser guest's WebRTC connection over GStreamer's webrtcbin
 * (webrtc.h).
 *
 * The pipeline of one peer:
 *
 *   udpsrc (return socket, 127.0.0.1) --caps: Opus RTP, the offer's PT--> webrtcbin
 *   webrtcbin --decrypted RTP--> fakesink, a buffer probe on the way sending
 *                               each packet to the guest's track port
 *
 * webrtcbin does ICE (libnice), DTLS-SRTP, RTCP and the SDP answer; its own
 * jitter buffer is kept short (LATENCY_MS): the track's adaptive buffer,
 * FEC and PLC do the real work, as for any RTP guest.
 *
 * Why webrtcbin: it is Debian's packaged, maintained WebRTC stack
 * (gstreamer1.0-plugins-bad, over libnice and libsrtp2 with OpenSSL), and
 * it runs on threads of its own, so the daemon only hands it an offer,
 * candidates and loopback datagrams.
 *
 * Threads: the owner (rooms.c under its mutex) calls every webrtc_peer_*;
 * webrtcbin's threads call the signal and promise callbacks, the streaming
 * thread the forwarding probe. Those only take the peer's lock to queue an
 * event, or send a datagram; they never call back into the owner.
 */
#include "engine/rtc/webrtc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>
#include <netinet/in.h>
#include <nice/agent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define LATENCY_MS 20		/* webrtcbin's jitter buffer: reorders only */
#define MAX_EVENTS 256		/* queued for the owner; more = the peer fails */
#define RTP_MAX 1500
#define MAX_REMOTE_CANDIDATES 64	/* a browser gives a handful */

static const char *const needed[] = {
	"webrtcbin", "udpsrc", "fakesink", "nicesrc", "nicesink", "dtlssrtpenc", "dtlssrtpdec",
	"srtpenc", "srtpdec", "rtpbin",
};

struct queued {
	struct webrtc_event ev;
	struct queued *next;
};

struct webrtc_peer {
	GstElement *pipe, *webrtc, *udpsrc;
	GstWebRTCSessionDescription *offer;
	uint32_t channels;
	bool mono_return;
	uint8_t pt;
	int send_fd, return_fd;
	struct sockaddr_storage from, return_to, track_to;
	atomic_uint_fast32_t ssrc;
	atomic_bool forwarding;
	atomic_uint_fast64_t packets;
	unsigned remote_candidates;	/* owner thread */

	pthread_mutex_t lock;	/* the queue */
	struct queued *head, *tail;
	unsigned queued;
	bool overflowed;
};

/* ---- setup */

int webrtc_init(char *err, size_t len)
{
	GError *gerr = NULL;

	if (!gst_init_check(NULL, NULL, &gerr)) {
		snprintf(err, len, "GStreamer could not start: %s", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		GstElementFactory *f = gst_element_factory_find(needed[i]);

		if (!f) {
			snprintf(err, len, "GStreamer element %s is missing (install "
				 "gstreamer1.0-plugins-bad, gstreamer1.0-plugins-good and "
				 "gstreamer1.0-nice)", needed[i]);
			return -ENOENT;
		}
		gst_object_unref(f);
	}
	return 0;
}

/* ---- the event queue (any thread) */

static void push_event(struct webrtc_peer *p, enum webrtc_event_kind kind, unsigned mline,
		       const char *text)
{
	struct queued *q = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->queued >= MAX_EVENTS) {
		p->overflowed = true;
		goto out;
	}
	q = calloc(1, sizeof(*q));
	if (!q || !(q->ev.text = strdup(text ? text : ""))) {
		free(q);
		p->overflowed = true;
		goto out;
	}
	q->ev.kind = kind;
	q->ev.mline = mline;
	if (p->tail)
		p->tail->next = q;
	else
		p->head = q;
	p->tail = q;
	p->queued++;
out:
	pthread_mutex_unlock(&p->lock);
}

/* The oldest queued event: 1, or 0 when there is none. */
static int pop_queued(struct webrtc_peer *p, struct webrtc_event *ev)
{
	struct queued *q;

	pthread_mutex_lock(&p->lock);
	q = p->head;
	if (q) {
		p->head = q->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
	}
	pthread_mutex_unlock(&p->lock);
	if (!q)
		return 0;
	*ev = q->ev;
	free(q);
	return 1;
}

/* A pipeline error (from the bus) becomes a FAILED event. */
static void take_bus_error(struct webrtc_peer *p)
{
	GstBus *bus = gst_element_get_bus(p->pipe);
	GstMessage *m = bus ? gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR) : NULL;
	GError *gerr = NULL;
	gchar *dbg = NULL;
	char why[512];

	if (m) {
		gst_message_parse_error(m, &gerr, &dbg);
		snprintf(why, sizeof(why), "%s: %s", GST_OBJECT_NAME(GST_MESSAGE_SRC(m)),
			 gerr ? gerr->message : "error");
		push_event(p, WEBRTC_EVENT_FAILED, 0, why);
		g_clear_error(&gerr);
		g_free(dbg);
		gst_message_unref(m);
	}
	if (bus)
		gst_object_unref(bus);
}

int webrtc_peer_next_event(struct webrtc_peer *p, struct webrtc_event *ev)
{
	bool overflowed;

	take_bus_error(p);
	pthread_mutex_lock(&p->lock);
	overflowed = p->overflowed;
	p->overflowed = false;
	pthread_mutex_unlock(&p->lock);
	if (overflowed) {
		ev->kind = WEBRTC_EVENT_FAILED;
		ev->mline = 0;
		ev->text = strdup("too many WebRTC events were waiting (or memory ran out)");
		if (ev->text)
			return 1;
	}
	return pop_queued(p, ev);
}

/* ---- the offer */

/* The Opus payload type of the one audio m-line and whether stereo is
 * offered; msg says why the offer cannot be answered. */
static int check_offer(const GstSDPMessage *sdp, uint8_t *pt, uint32_t *channels, char *msg,
		       size_t len)
{
	const GstSDPMedia *media;
	int opus = -1;

	if (gst_sdp_message_medias_len(sdp) != 1) {
		snprintf(msg, len, "the offer has %u m-lines: a guest sends one, audio",
			 gst_sdp_message_medias_len(sdp));
		return -EINVAL;
	}
	media = gst_sdp_message_get_media(sdp, 0);
	if (strcmp(gst_sdp_media_get_media(media), "audio")) {
		snprintf(msg, len, "the offer's m-line is %.32s: only audio is taken",
			 gst_sdp_media_get_media(media));
		return -EINVAL;
	}
	for (guint i = 0; opus < 0 && i < gst_sdp_media_attributes_len(media); i++) {
		const GstSDPAttribute *a = gst_sdp_media_get_attribute(media, i);
		unsigned n, clock;
		char name[16];

		if (a->key && a->value && !strcmp(a->key, "rtpmap") &&
		    sscanf(a->value, "%u %15[^/]/%u", &n, name, &clock) == 3 &&
		    !strcasecmp(name, "opus") && clock == 48000 && n >= 96 && n <= 127)
			opus = (int)n;
	}
	if (opus < 0) {
		snprintf(msg, len, "the offer carries no Opus at 48000 Hz (payload type 96..127)");
		return -EINVAL;
	}
	*pt = (uint8_t)opus;
	*channels = 1;
	for (guint i = 0; i < gst_sdp_media_attributes_len(media); i++) {
		const GstSDPAttribute *a = gst_sdp_media_get_attribute(media, i);
		unsigned n;
		int used = 0;

		if (a->key && a->value && !strcmp(a->key, "fmtp") &&
		    sscanf(a->value, "%u %n", &n, &used) == 1 && n == (unsigned)opus &&
		    strstr(a->value + used, "stereo=1"))
			*channels = 2;
	}
	return 0;
}

/* ---- sockets */

static int loopback_socket(struct sockaddr_storage *addr)
{
	struct sockaddr_in *in = (struct sockaddr_in *)addr;
	socklen_t alen = sizeof(*in);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memset(addr, 0, sizeof(*addr));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)in, sizeof(*in)) < 0 ||
	    getsockname(fd, (struct sockaddr *)in, &alen) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* ---- received RTP: to the track (the streaming thread) */

static void forward_bytes(struct webrtc_peer *p, const uint8_t *data, size_t size)
{
	uint8_t pkt[RTP_MAX];
	uint32_t ssrc = (uint32_t)atomic_load(&p->ssrc);

	if (size < 12 || size > sizeof(pkt) || (data[0] >> 6) != 2)
		return;
	memcpy(pkt, data, size);
	pkt[8] = (uint8_t)(ssrc >> 24);
	pkt[9] = (uint8_t)(ssrc >> 16);
	pkt[10] = (uint8_t)(ssrc >> 8);
	pkt[11] = (uint8_t)ssrc;
	if (sendto(p->send_fd, pkt, size, MSG_DONTWAIT, (struct sockaddr *)&p->track_to,
		   sizeof(struct sockaddr_in)) == (ssize_t)size)
		atomic_fetch_add(&p->packets, 1);
}

static gboolean forward_one(GstBuffer **buf, guint idx, gpointer user)
{
	GstMapInfo map;

	(void)idx;
	if (gst_buffer_map(*buf, &map, GST_MAP_READ)) {
		forward_bytes(user, map.data, map.size);
		gst_buffer_unmap(*buf, &map);
	}
	return TRUE;
}

static GstPadProbeReturn on_rtp(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
	struct webrtc_peer *p = user;

	(void)pad;
	if (!atomic_load(&p->forwarding))
		return GST_PAD_PROBE_OK;
	if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
		GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);

		forward_one(&buf, 0, p);
	} else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
		gst_buffer_list_foreach(GST_PAD_PROBE_INFO_BUFFER_LIST(info), forward_one, p);
	}
	return GST_PAD_PROBE_OK;
}

/* A stream from the browser: into a fakesink, seen by the probe. */
static void on_pad_added(GstElement *webrtc, GstPad *pad, gpointer user)
{
	struct webrtc_peer *p = user;
	GstElement *sink;
	GstPad *sinkpad;

	(void)webrtc;
	if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
		return;
	sink = gst_element_factory_make("fakesink", NULL);
	if (!sink) {
		push_event(p, WEBRTC_EVENT_FAILED, 0, "no fakesink for the guest's audio");
		return;
	}
	g_object_set(sink, "sync", FALSE, "async", FALSE, NULL);
	gst_bin_add(GST_BIN(p->pipe), sink);
	gst_element_sync_state_with_parent(sink);
	sinkpad = gst_element_get_static_pad(sink, "sink");
	gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, on_rtp,
			  p, NULL);
	if (gst_pad_link(pad, sinkpad) != GST_PAD_LINK_OK)
		push_event(p, WEBRTC_EVENT_FAILED, 0, "the guest's audio could not be linked");
	gst_object_unref(sinkpad);
}

/* ---- the return */

static GstCaps *return_caps(const struct webrtc_peer *p)
{
	/* no fmtp fields: they would have to equal the offer's to match it */
	return gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "audio",
				   "encoding-name", G_TYPE_STRING, "OPUS", "clock-rate", G_TYPE_INT,
				   48000, "payload", G_TYPE_INT, (int)p->pt, NULL);
}

/* udpsrc on the return socket, not started yet: it is linked once the
 * offer has made the transceiver it feeds. */
static int make_return(struct webrtc_peer *p, char *msg, size_t len)
{
	GSocket *sock = g_socket_new_from_fd(p->return_fd, NULL);
	GstCaps *caps = return_caps(p);
	GstWebRTCRTPTransceiver *trans = NULL;

	if (!sock || !caps) {
		snprintf(msg, len, "the return socket could not be given to GStreamer");
		if (sock)
			g_object_unref(sock);
		if (caps)
			gst_caps_unref(caps);
		return -EIO;
	}
	p->return_fd = -1;	/* the GSocket owns it now */
	g_object_set(p->udpsrc, "socket", sock, "close-socket", TRUE, "caps", caps, NULL);
	gst_element_set_locked_state(p->udpsrc, TRUE);
	g_signal_emit_by_name(p->webrtc, "add-transceiver",
			      GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV, caps, &trans);
	if (trans)
		gst_object_unref(trans);
	g_object_unref(sock);
	gst_caps_unref(caps);
	return 0;
}

/* After the offer (webrtcbin's thread): its audio transceiver becomes
 * sendrecv and the return feeds it. */
static int link_return(struct webrtc_peer *p, char *why, size_t len)
{
	GstWebRTCRTPTransceiver *trans = NULL;
	GstCaps *caps = return_caps(p);
	GstPad *src = gst_element_get_static_pad(p->udpsrc, "src"), *sink = NULL;
	int rc = -EIO;

	g_signal_emit_by_name(p->webrtc, "get-transceiver", 0, &trans);
	if (!trans) {
		snprintf(why, len, "the offer made no transceiver");
		goto out;
	}
	g_object_set(trans, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV,
		     "codec-preferences", caps, NULL);
	sink = gst_element_request_pad_simple(p->webrtc, "sink_0");
	if (!src || !sink || gst_pad_link(src, sink) != GST_PAD_LINK_OK) {
		snprintf(why, len, "the return could not be linked into webrtcbin");
		goto out;
	}
	gst_element_set_locked_state(p->udpsrc, FALSE);
	if (!gst_element_sync_state_with_parent(p->udpsrc)) {
		snprintf(why, len, "the return's udpsrc could not start");
		goto out;
	}
	rc = 0;
out:
	if (trans)
		gst_object_unref(trans);
	if (src)
		gst_object_unref(src);
	if (sink)
		gst_object_unref(sink);
	gst_caps_unref(caps);
	return rc;
}

/* ---- signalling callbacks (webrtcbin's threads) */

static void on_ice_candidate(GstElement *webrtc, guint mline, gchar *candidate, gpointer user)
{
	(void)webrtc;
	push_event(user, WEBRTC_EVENT_CANDIDATE, mline, candidate);
}

static void on_ice_state(GObject *webrtc, GParamSpec *spec, gpointer user)
{
	static const char *const names[] = {
		"new", "checking", "connected", "completed", "failed", "disconnected", "closed",
	};
	GstWebRTCICEConnectionState st;

	(void)spec;
	g_object_get(webrtc, "ice-connection-state", &st, NULL);
	push_event(user, WEBRTC_EVENT_STATE, 0,
		   (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown");
}

static void reply_error(GstPromise *promise, const char *what, char *why, size_t len)
{
	const GstStructure *reply = gst_promise_get_reply(promise);
	GError *gerr = NULL;

	if (reply && gst_structure_has_field(reply, "error"))
		gst_structure_get(reply, "error", G_TYPE_ERROR, &gerr, NULL);
	snprintf(why, len, "%s: %s", what, gerr ? gerr->message : "no answer");
	g_clear_error(&gerr);
}

/* The answer's Opus parameters: in-band FEC from the guest, stereo from
 * the guest when they offered it, and whether the return is stereo (RFC 7587
 * §7). */
static void set_answer_fmtp(const struct webrtc_peer *p, GstSDPMessage *sdp)
{
	GstSDPMedia *media = (GstSDPMedia *)gst_sdp_message_get_media(sdp, 0);
	char value[128];
	GstSDPAttribute attr;

	if (!media)
		return;
	snprintf(value, sizeof(value), "%u minptime=10;useinbandfec=1;sprop-stereo=%d;stereo=%d",
		 p->pt, !p->mono_return, p->channels == 2);
	for (guint i = 0; i < gst_sdp_media_attributes_len(media); i++) {
		const GstSDPAttribute *a = gst_sdp_media_get_attribute(media, i);
		unsigned n;

		if (a->key && a->value && !strcmp(a->key, "fmtp") &&
		    sscanf(a->value, "%u", &n) == 1 && n == p->pt) {
			gst_sdp_attribute_set(&attr, "fmtp", value);
			gst_sdp_media_replace_attribute(media, i, &attr);
			return;
		}
	}
	gst_sdp_media_add_attribute(media, "fmtp", value);
}

static void on_answer(GstPromise *promise, gpointer user)
{
	struct webrtc_peer *p = user;
	GstWebRTCSessionDescription *answer = NULL;
	const GstStructure *reply;
	gchar *text;
	char why[512];

	if (gst_promise_wait(promise) == GST_PROMISE_RESULT_REPLIED &&
	    (reply = gst_promise_get_reply(promise)) && gst_structure_has_field(reply, "answer"))
		gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer,
				  NULL);
	if (!answer) {
		reply_error(promise, "the answer could not be made", why, sizeof(why));
		push_event(p, WEBRTC_EVENT_FAILED, 0, why);
		gst_promise_unref(promise);
		return;
	}
	gst_promise_unref(promise);
	set_answer_fmtp(p, answer->sdp);
	g_signal_emit_by_name(p->webrtc, "set-local-description", answer, NULL);
	text = gst_sdp_message_as_text(answer->sdp);
	push_event(p, WEBRTC_EVENT_ANSWER, 0, text);
	g_free(text);
	gst_webrtc_session_description_free(answer);
}

static void on_offer_set(GstPromise *promise, gpointer user)
{
	struct webrtc_peer *p = user;
	const GstStructure *reply = gst_promise_get_reply(promise);
	char why[512];

	if (reply && gst_structure_has_field(reply, "error")) {
		reply_error(promise, "the offer was refused", why, sizeof(why));
		push_event(p, WEBRTC_EVENT_FAILED, 0, why);
		gst_promise_unref(promise);
		return;
	}
	gst_promise_unref(promise);
	if (link_return(p, why, sizeof(why)) < 0) {
		push_event(p, WEBRTC_EVENT_FAILED, 0, why);
		return;
	}
	g_signal_emit_by_name(p->webrtc, "create-answer", NULL,
			      gst_promise_new_with_change_func(on_answer, p, NULL));
}

/* ---- the pipeline */

/* libnice's agent: no UPnP (it would search the LAN for a router at every
 * guest and hold up gathering), host candidates only on the configured
 * addresses. */
static int configure_agent(struct webrtc_peer *p, const char *list, char *msg, size_t len)
{
	GstWebRTCICE *ice = NULL;
	NiceAgent *agent = NULL;
	char copy[WEBRTC_INTERFACES_MAX], *save = NULL;
	int rc = 0;

	g_object_get(p->webrtc, "ice-agent", &ice, NULL);
	if (ice && g_object_class_find_property(G_OBJECT_GET_CLASS(ice), "agent"))
		g_object_get(ice, "agent", &agent, NULL);
	if (!agent) {
		snprintf(msg, len, "webrtcbin's ICE agent is not libnice: it cannot be set up");
		rc = -ENOTSUP;
		goto out;
	}
	g_object_set(agent, "upnp", FALSE, NULL);
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *a = strtok_r(copy, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
		NiceAddress addr;

		nice_address_init(&addr);
		if (!nice_address_set_from_string(&addr, a) ||
		    !nice_agent_add_local_address(agent, &addr)) {
			snprintf(msg, len, "interface address %.64s cannot be used", a);
			rc = -EINVAL;
			goto out;
		}
	}
out:
	if (agent)
		g_object_unref(agent);
	if (ice)
		gst_object_unref(ice);
	return rc;
}

static int build_pipeline(struct webrtc_peer *p, const struct webrtc_config *cfg, char *msg,
			  size_t len)
{
	p->pipe = gst_pipeline_new(NULL);
	p->webrtc = gst_element_factory_make("webrtcbin", NULL);
	p->udpsrc = gst_element_factory_make("udpsrc", NULL);
	if (!p->pipe || !p->webrtc || !p->udpsrc) {
		snprintf(msg, len, "GStreamer's webrtcbin or udpsrc could not be made");
		if (p->webrtc)
			gst_object_unref(p->webrtc);
		if (p->udpsrc)
			gst_object_unref(p->udpsrc);
		p->webrtc = p->udpsrc = NULL;
		return -ENOENT;
	}
	gst_bin_add_many(GST_BIN(p->pipe), p->udpsrc, p->webrtc, NULL);
	g_object_set(p->webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, "latency",
		     (guint)LATENCY_MS, NULL);
	if (cfg->stun_server[0])
		g_object_set(p->webrtc, "stun-server", cfg->stun_server, NULL);
	if (cfg->turn_server[0])
		g_object_set(p->webrtc, "turn-server", cfg->turn_server, NULL);
	g_signal_connect(p->webrtc, "on-ice-candidate", G_CALLBACK(on_ice_candidate), p);
	g_signal_connect(p->webrtc, "notify::ice-connection-state", G_CALLBACK(on_ice_state), p);
	g_signal_connect(p->webrtc, "pad-added", G_CALLBACK(on_pad_added), p);
	if (configure_agent(p, cfg->interfaces, msg, len) < 0)
		return -EINVAL;
	return make_return(p, msg, len);
}

int webrtc_peer_create(const struct webrtc_config *cfg, const char *offer_sdp,
		       struct webrtc_peer **out, char *msg, size_t len)
{
	struct webrtc_peer *p = calloc(1, sizeof(*p));
	GstSDPMessage *sdp = NULL;
	int rc = -ENOMEM;

	msg[0] = '\0';
	if (!p)
		goto fail;
	p->send_fd = p->return_fd = -1;
	p->mono_return = cfg->mono_return;
	pthread_mutex_init(&p->lock, NULL);
	rc = -EINVAL;
	if (strlen(offer_sdp) > WEBRTC_SDP_MAX) {
		snprintf(msg, len, "the offer is longer than %d bytes", WEBRTC_SDP_MAX);
		goto fail;
	}
	if (strncmp(offer_sdp, "v=0", 3) ||
	    gst_sdp_message_new_from_text(offer_sdp, &sdp) != GST_SDP_OK || !sdp) {
		snprintf(msg, len, "the offer is not SDP (it starts with v=0)");
		goto fail;
	}
	rc = check_offer(sdp, &p->pt, &p->channels, msg, len);
	if (rc < 0)
		goto fail;
	p->offer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
	sdp = NULL;		/* the description owns it */
	if ((p->send_fd = loopback_socket(&p->from)) < 0 ||
	    (p->return_fd = loopback_socket(&p->return_to)) < 0) {
		rc = p->send_fd < 0 ? p->send_fd : p->return_fd;
		snprintf(msg, len, "loopback sockets for the guest: %s", strerror(-rc));
		goto fail;
	}
	rc = build_pipeline(p, cfg, msg, len);
	if (rc < 0)
		goto fail;
	*out = p;
	return 0;
fail:
	if (sdp)
		gst_sdp_message_free(sdp);
	webrtc_peer_destroy(p);
	*out = NULL;
	return rc;
}

void webrtc_peer_info(const struct webrtc_peer *p, struct webrtc_peer_info *info)
{
	info->channels = p->channels;
	info->payload_type = p->pt;
	info->from = p->from;
	info->return_to = p->return_to;
}

int webrtc_peer_start(struct webrtc_peer *p, const struct sockaddr_storage *track_to,
		      uint32_t ssrc, char *msg, size_t len)
{
	p->track_to = *track_to;
	atomic_store(&p->ssrc, ssrc);
	atomic_store(&p->forwarding, true);
	if (gst_element_set_state(p->pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
		snprintf(msg, len, "the WebRTC pipeline could not start");
		return -EIO;
	}
	g_signal_emit_by_name(p->webrtc, "set-remote-description", p->offer,
			      gst_promise_new_with_change_func(on_offer_set, p, NULL));
	return 0;
}

int webrtc_peer_add_ice(struct webrtc_peer *p, unsigned mline, const char *candidate, char *msg,
			size_t len)
{
	size_t n = strlen(candidate);

	if (mline != 0) {
		snprintf(msg, len, "m-line %u does not exist: the guest's offer has one, 0", mline);
		return -EINVAL;
	}
	if (p->remote_candidates >= MAX_REMOTE_CANDIDATES) {
		snprintf(msg, len, "more than %d ICE candidates from one guest",
			 MAX_REMOTE_CANDIDATES);
		return -EINVAL;
	}
	if (n > WEBRTC_CANDIDATE_MAX || strncmp(candidate, "candidate:", 10)) {
		snprintf(msg, len, "an ICE candidate starts with \"candidate:\" and has at most %d "
			 "bytes", WEBRTC_CANDIDATE_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (candidate[i] < 0x20 || candidate[i] > 0x7e) {
			snprintf(msg, len, "the ICE candidate holds a control or non-ASCII byte");
			return -EINVAL;
		}
	}
	g_signal_emit_by_name(p->webrtc, "add-ice-candidate", mline, candidate);
	p->remote_candidates++;
	return 0;
}

uint64_t webrtc_peer_packets(const struct webrtc_peer *p)
{
	return (uint64_t)atomic_load(&p->packets);
}

void webrtc_peer_destroy(struct webrtc_peer *p)
{
	struct webrtc_event ev;

	if (!p)
		return;
	if (p->pipe) {
		atomic_store(&p->forwarding, false);
		gst_element_set_state(p->pipe, GST_STATE_NULL);
		if (p->webrtc)
			g_signal_handlers_disconnect_by_data(p->webrtc, p);
		gst_object_unref(p->pipe);
		while (pop_queued(p, &ev))
			free(ev.text);
	}
	if (p->offer)
		gst_webrtc_session_description_free(p->offer);
	if (p->send_fd >= 0)
		close(p->send_fd);
	if (p->return_fd >= 0)
		close(p->return_fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
