/* test_rtc_media.c - the remote-track media layer (engine/rtc/media.c) on
 * the offline clock, fed by C senders over real UDP loopback sockets that
 * encode tones with libopus:
 *   - the API's refusals (bad specs, no port left, unknown ids);
 *   - a 1 kHz tone is in the publish bus at 1 kHz +- 1 %;
 *   - drift: two senders clocked +100 ppm and -100 ppm for 5 minutes of
 *     time-compressed audio: the buffer stays within its bounds, the
 *     end-to-end delay (measured on 20 ms gaps the senders cut into their
 *     tones every 2 s) does not grow, no audio is concealed or skipped, and
 *     the estimated drift is the senders' own;
 *   - a lossy path (10 % dropped, 5 % reordered, 2 % duplicated, garbage,
 *     a stranger on the port): the track keeps playing, PLC and FEC are
 *     counted, and the stats are exactly what the sender did;
 *   - a sender that pauses (DTX: the sequence goes on, the timestamps jump)
 *     plays comfort silence, counted, and no loss;
 *   - mix-minus returns, decoded here: the guest's own tone is absent, the
 *     host is present, the programme return carries both;
 *   - late passes (engine periods with no pass between them): the ring runs
 *     short, the audio decoded ahead grows to its cap, and then a stall that
 *     ran the bare ring out finds audio.
 * The senders are paced by the engine's frames: each engine run is followed
 * by the packets that became due and a media-thread pass (rtc_media_sync).
 *
 * Threads: main (the test, and the RT thread while engine_offline_run runs)
 * and the media thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <opus/opus.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "offline.h"
#include "engine/engine.h"
#include "engine/rtc/media.h"
#include "engine/rtc/rtp.h"

#define RATE 48000
#define PERIOD 512
#define FRAME 960
#define GAP_EVERY (2 * RATE)	/* sender samples between the starts of two gaps */
#define GAP_LEN 960

static int port_base;

/* ---- a sender ------------------------------------------------------------ */

struct sender {
	int fd;
	struct sockaddr_in to;
	OpusEncoder *enc;
	uint32_t channels;
	double ppm;		/* its clock against the engine's */
	double freq;
	double phase;
	bool gaps;
	uint64_t sample;	/* sender samples encoded */
	uint16_t seq;
	uint32_t ts, ssrc;
	/* impairments, in percent */
	int drop, reorder, dup, garbage;
	unsigned seed;
	uint8_t held[1500];
	size_t held_len;
	bool quiet_tail;	/* no impairment from now on */
	uint64_t pause_from, pause_len;	/* packets not sent (a DTX pause: seq goes on) */
	uint64_t packets_made;
	uint64_t sent, dropped, duplicated, garbage_sent, reordered;
};

static void sender_init(struct sender *s, uint16_t port, uint32_t channels, double freq,
			double ppm)
{
	int err;
	struct sockaddr_in me = { .sin_family = AF_INET };

	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s->fd, (struct sockaddr *)&me, sizeof(me));
	s->to.sin_family = AF_INET;
	s->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->to.sin_port = htons(port);
	s->channels = channels;
	s->freq = freq;
	s->ppm = ppm;
	s->enc = opus_encoder_create(RATE, (int)channels, OPUS_APPLICATION_AUDIO, &err);
	opus_encoder_ctl(s->enc, OPUS_SET_BITRATE(64000));
	opus_encoder_ctl(s->enc, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(s->enc, OPUS_SET_PACKET_LOSS_PERC(10));
	s->seq = 65000;		/* wraps early */
	s->ts = 4294000000u;	/* so do the timestamps */
	s->ssrc = 0x5eed0000u + port;
	s->seed = port;
}

static void sender_free(struct sender *s)
{
	opus_encoder_destroy(s->enc);
	close(s->fd);
}

static void send_raw(struct sender *s, const uint8_t *buf, size_t len)
{
	sendto(s->fd, buf, len, 0, (struct sockaddr *)&s->to, sizeof(s->to));
}

static void send_garbage(struct sender *s)
{
	uint8_t g[200];
	size_t len = 1 + (size_t)rand_r(&s->seed) % sizeof(g);

	for (size_t i = 0; i < len; i++)
		g[i] = (uint8_t)rand_r(&s->seed);
	send_raw(s, g, len);
	s->garbage_sent++;
}

/* Encodes and sends one 20 ms packet, through the impairments. */
static void send_packet(struct sender *s)
{
	float pcm[2 * FRAME];
	uint8_t buf[1500];
	struct rtp_packet p = {
		.payload_type = 111,
		.seq = s->seq++,
		.timestamp = s->ts,
		.ssrc = s->ssrc,
		.payload = buf + 12,
	};
	int n, len, dice = rand_r(&s->seed) % 100;

	for (int i = 0; i < FRAME; i++) {
		uint64_t k = s->sample + (uint64_t)i;
		bool gap = s->gaps && k >= GAP_EVERY / 2 && (k - GAP_EVERY / 2) % GAP_EVERY < GAP_LEN;
		float v = gap ? 0.0f : 0.5f * (float)sin(s->phase);

		s->phase += 2.0 * M_PI * s->freq / RATE;
		for (uint32_t c = 0; c < s->channels; c++)
			pcm[i * s->channels + c] = v;
	}
	s->sample += FRAME;
	s->ts += FRAME;
	n = opus_encode_float(s->enc, pcm, FRAME, buf + 12, (opus_int32)sizeof(buf) - 12);
	p.payload_len = (size_t)n;
	{
		uint8_t head[12];
		struct rtp_packet h = p;

		h.payload_len = 0;
		rtp_write(head, sizeof(head), &h);
		memcpy(buf, head, 12);
	}
	len = 12 + n;
	if (s->pause_len && s->packets_made >= s->pause_from &&
	    s->packets_made < s->pause_from + s->pause_len) {
		s->packets_made++;
		s->seq--;	/* nothing sent: the next packet takes this number */
		return;
	}
	if (s->quiet_tail || s->packets_made++ < 10)
		dice = 100;	/* the first packets and the tail always go */
	if (dice < s->drop) {
		s->dropped++;
	} else if (dice < s->drop + s->reorder && !s->held_len) {
		memcpy(s->held, buf, (size_t)len);	/* goes after the next one */
		s->held_len = (size_t)len;
		s->sent++;
		s->reordered++;
	} else {
		send_raw(s, buf, (size_t)len);
		s->sent++;
		if (dice >= 100 - s->dup && dice < 100) {
			send_raw(s, buf, (size_t)len);
			s->duplicated++;
		}
		if (s->held_len) {
			send_raw(s, s->held, s->held_len);
			s->held_len = 0;
		}
	}
	if (s->garbage && rand_r(&s->seed) % 100 < s->garbage)
		send_garbage(s);
}

/* Sends every packet whose last sample the sender has captured by engine
 * time `frames` (its clock runs ppm fast). */
static void sender_pump(struct sender *s, uint64_t frames)
{
	double own = (double)frames * (1.0 + s->ppm * 1e-6);

	while ((double)(s->sample + FRAME) <= own)
		send_packet(s);
}

/* ---- the engine and the media layer -------------------------------------- */

struct rig {
	struct engine *e;
	struct rtc_media *m;
	uint64_t frames;
};

/* return_channels: [rtp] return_channels */
static void rig_open(struct rig *r, int port_min, int port_max, int jitter_min_ms,
		     int return_channels)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	char err[256];

	memset(r, 0, sizeof(*r));
	offline_config(&cfg, RATE, PERIOD);
	cfg.rtp_port_min = port_min;
	cfg.rtp_port_max = port_max;
	cfg.rtp_jitter_min_ms = jitter_min_ms;
	cfg.rtp_return_channels = return_channels;
	if (engine_create(&cfg, &opts, NULL, &r->e, err, sizeof(err)) < 0 ||
	    engine_start(r->e, err, sizeof(err)) < 0 ||
	    rtc_media_create(r->e, &r->m, err, sizeof(err)) < 0) {
		printf("# rig: %s\n", err);
		exit(1);
	}
}

static void rig_start(struct rig *r, int port_min, int port_max, int jitter_min_ms)
{
	rig_open(r, port_min, port_max, jitter_min_ms, 2);
}

static void rig_stop(struct rig *r)
{
	rtc_media_destroy(r->m);
	engine_destroy(r->e);
}

/* One engine period, then the packets that became due, then a media pass. */
static void rig_step(struct rig *r, struct sender **senders, int n, float *const *outs)
{
	engine_offline_run(r->e, PERIOD, NULL, outs);
	r->frames += PERIOD;
	for (int i = 0; i < n; i++)
		sender_pump(senders[i], r->frames);
	rtc_media_sync(r->m);
}

static int publish(struct rig *r, uint32_t channels, uint32_t *track, uint32_t *node,
		   uint16_t *port)
{
	struct rtc_track_spec spec = { .room = "studio", .user = "guest", .channels = channels,
				       .buses = ENGINE_TO_PUBLISH, .gain = 1.0f };
	struct rtc_endpoint ep;
	int ret = rtc_media_publish(r->m, &spec, track, node, &ep);

	if (ret == 0)
		*port = ep.port;
	return ret;
}

/* Frequency by interpolated zero crossings. */
static double frequency(const float *x, uint32_t n)
{
	double first = -1.0, last = -1.0;
	int crossings = 0;

	for (uint32_t i = 1; i < n; i++) {
		if (x[i - 1] < 0.0f && x[i] >= 0.0f) {
			double t = i - 1 + (double)(-x[i - 1]) / (double)(x[i] - x[i - 1]);

			if (first < 0.0)
				first = t;
			last = t;
			crossings++;
		}
	}
	return crossings > 1 ? (crossings - 1) * (double)RATE / (last - first) : 0.0;
}

/* Amplitude of freq (a whole number of cycles in n samples, stride apart). */
static double tone_amplitude(const float *x, uint32_t n, uint32_t stride, double freq)
{
	double re = 0.0, im = 0.0;

	for (uint32_t i = 0; i < n; i++) {
		double ph = 2.0 * M_PI * freq * i / RATE;

		re += x[(size_t)i * stride] * cos(ph);
		im += x[(size_t)i * stride] * sin(ph);
	}
	return 2.0 * sqrt(re * re + im * im) / n;
}

static double db(double a)
{
	return 20.0 * log10(a > 1e-12 ? a : 1e-12);
}

/* ---- the API's refusals --------------------------------------------------- */

static void test_api(void)
{
	struct rig r;
	struct rtc_track_spec spec = { .room = "studio", .user = "guest", .channels = 1,
				       .buses = ENGINE_TO_PUBLISH, .gain = 1.0f };
	struct rtc_return_spec rs = { .source = RTC_RETURN_MIX_MINUS };
	struct rtc_track_stats st;
	struct rtc_return_stats rst;
	uint32_t id[3], node, ret_id;
	struct rtc_endpoint ep;
	int ret;

	rig_start(&r, port_base, port_base + 3, 40);	/* two even ports */
	spec.channels = 3;
	CHECK(rtc_media_publish(r.m, &spec, id, &node, &ep) == -EINVAL, "3 channels refused");
	spec.channels = 2;
	spec.gain = 4.5f;
	CHECK(rtc_media_publish(r.m, &spec, id, &node, &ep) == -EINVAL, "gain 4.5 refused");
	spec.gain = 1.0f;
	spec.room[0] = '\0';
	CHECK(rtc_media_publish(r.m, &spec, id, &node, &ep) == -EINVAL, "empty room refused");
	snprintf(spec.room, sizeof(spec.room), "studio");
	ret = rtc_media_publish(r.m, &spec, &id[0], &node, &ep);
	CHECK(ret == 0 && ep.port == port_base && ep.addr.ss_family == AF_INET,
	      "first track on port %u (%d)", ep.port, ret);
	ret = rtc_media_publish(r.m, &spec, &id[1], NULL, &ep);
	CHECK(ret == 0 && ep.port == port_base + 2, "second track on the next even port %u",
	      ep.port);
	CHECK(rtc_media_publish(r.m, &spec, &id[2], NULL, &ep) == -ENOSPC, "no port left: -ENOSPC");
	{
		struct engine_node_info info;

		CHECK(engine_get_node(r.e, node, &info) == 0 && !strcmp(info.kind, "remote") &&
		      info.channels == 2, "the track is a remote source node (%s)", info.kind);
	}
	CHECK(rtc_media_track_stats(r.m, id[0], &st) == 0 && st.packets == 0 && !st.receiving,
	      "stats of a silent track");
	CHECK(rtc_media_track_stats(r.m, 999, &st) == -ENOENT, "stats of an unknown track");
	CHECK(rtc_media_unpublish(r.m, 999) == -ENOENT, "unpublish an unknown track");
	rs.track_id = 999;
	inet_pton(AF_INET, "127.0.0.1", &((struct sockaddr_in *)&rs.to)->sin_addr);
	rs.to.ss_family = AF_INET;
	((struct sockaddr_in *)&rs.to)->sin_port = htons(9);
	CHECK(rtc_media_return_open(r.m, &rs, &ret_id) == -ENOENT, "return of an unknown track");
	rs.track_id = id[0];
	rs.source = (enum rtc_return_source)7;
	CHECK(rtc_media_return_open(r.m, &rs, &ret_id) == -EINVAL, "unknown return source");
	rs.source = RTC_RETURN_MIX_MINUS;
	((struct sockaddr_in *)&rs.to)->sin_port = 0;
	CHECK(rtc_media_return_open(r.m, &rs, &ret_id) == -EINVAL, "return to port 0");
	((struct sockaddr_in *)&rs.to)->sin_port = htons(9);
	rs.ssrc = 1234;
	CHECK(rtc_media_return_open(r.m, &rs, &ret_id) == 0 &&
	      rtc_media_return_stats(r.m, ret_id, &rst) == 0 && rst.ssrc == 1234,
	      "a return opens with the SSRC asked for");
	CHECK(rtc_media_unpublish(r.m, id[0]) == 0, "unpublish while its return runs");
	rig_step(&r, NULL, 0, NULL);
	CHECK(rtc_media_return_close(r.m, ret_id) == 0 && rtc_media_return_close(r.m, ret_id) == -ENOENT,
	      "close the return, twice");
	ret = rtc_media_publish(r.m, &spec, &id[2], NULL, &ep);
	CHECK(ret == 0 && ep.port == port_base, "the freed port is used again (%u)", ep.port);
	rig_stop(&r);	/* destroys what is still published */
}

/* ---- a 1 kHz tone in the publish bus -------------------------------------- */

static void test_tone(void)
{
	struct rig r;
	struct sender s, *ss = &s;
	uint32_t track, node, n = 4 * RATE / PERIOD * PERIOD;
	uint16_t port;
	float *l = calloc(n, sizeof(float)), *rr = calloc(n, sizeof(float));
	float *outs[4] = { NULL, NULL, NULL, NULL };
	struct rtc_track_stats st;
	uint64_t plc_at_1s = 0;
	double f;

	rig_start(&r, port_base, port_base + 99, 40);
	CHECK(publish(&r, 1, &track, &node, &port) == 0, "publish a mono track");
	sender_init(&s, port, 1, 1000.0, 0.0);
	for (uint32_t done = 0; done < n; done += PERIOD) {
		outs[0] = l + done;
		outs[1] = rr + done;
		rig_step(&r, &ss, 1, outs);
		if (done == RATE / PERIOD * PERIOD && rtc_media_track_stats(r.m, track, &st) == 0)
			plc_at_1s = st.plc_frames;
	}
	f = frequency(l + RATE, 2 * RATE);
	CHECK(fabs(f - 1000.0) < 10.0, "the publish bus carries the tone at %.2f Hz", f);
	CHECK(db(tone_amplitude(l + RATE, 2 * RATE, 1, 1000.0)) > -9.0,
	      "at about its level (%.1f dBFS)", db(tone_amplitude(l + RATE, 2 * RATE, 1, 1000.0)));
	CHECK(rtc_media_track_stats(r.m, track, &st) == 0 && st.packets == s.sent && st.lost == 0 &&
	      st.dropped == 0 && st.underruns == 0 && st.receiving && st.plc_frames == plc_at_1s &&
	      plc_at_1s <= 3,
	      "clean stats: %llu/%llu packets, lost %llu, underruns %llu, plc %llu (start-up)",
	      (unsigned long long)st.packets, (unsigned long long)s.sent,
	      (unsigned long long)st.lost, (unsigned long long)st.underruns,
	      (unsigned long long)st.plc_frames);
	CHECK(st.buffer_ms >= 20.0 && st.buffer_ms <= 400.0 && st.delay_ms > 0.0,
	      "buffer %.1f ms, delay %.1f ms", st.buffer_ms, st.delay_ms);
	sender_free(&s);
	rig_stop(&r);
	free(l);
	free(rr);
}

/* ---- a sender that pauses (DTX) ----------------------------------------------- */

static void test_pause(void)
{
	struct rig r;
	struct sender s, *ss = &s;
	uint32_t track, node, n = 5 * RATE / PERIOD * PERIOD;
	uint16_t port;
	float *l = calloc(n, sizeof(float));
	float *outs[4] = { NULL, NULL, NULL, NULL };
	struct rtc_track_stats st;
	uint64_t plc_at_1s = 0;

	rig_start(&r, port_base, port_base + 99, 40);
	CHECK(publish(&r, 1, &track, &node, &port) == 0, "publish a track that will pause");
	sender_init(&s, port, 1, 1000.0, 0.0);
	s.pause_from = 100;	/* 2 s in, 1 s of nothing: the sequence goes on after it */
	s.pause_len = 50;
	for (uint32_t done = 0; done < n; done += PERIOD) {
		outs[0] = l + done;
		rig_step(&r, &ss, 1, outs);
		if (done == RATE / PERIOD * PERIOD && rtc_media_track_stats(r.m, track, &st) == 0)
			plc_at_1s = st.plc_frames;
	}
	/* after 200 ms of nothing playout starts again like at first (the jitter
	 * buffer's start-up may conceal a frame or two, as at 1 s) */
	CHECK(rtc_media_track_stats(r.m, track, &st) == 0 && st.lost == 0 && st.dtx_frames >= 5 &&
	      st.plc_frames <= 2 * plc_at_1s + 1 && st.underruns == 0,
	      "a pause is comfort silence, not loss: lost %llu, dtx %llu, plc %llu (%llu at 1 s), "
	      "underruns %llu", (unsigned long long)st.lost, (unsigned long long)st.dtx_frames,
	      (unsigned long long)st.plc_frames, (unsigned long long)plc_at_1s,
	      (unsigned long long)st.underruns);
	CHECK(db(tone_amplitude(l + (2 * RATE + RATE / 2), RATE / 4, 1, 1000.0)) < -60.0 &&
	      db(tone_amplitude(l + 4 * RATE, RATE / 2, 1, 1000.0)) > -9.0,
	      "silent in the pause (%.1f dBFS), the tone again after it (%.1f dBFS)",
	      db(tone_amplitude(l + (2 * RATE + RATE / 2), RATE / 4, 1, 1000.0)),
	      db(tone_amplitude(l + 4 * RATE, RATE / 2, 1, 1000.0)));
	sender_free(&s);
	rig_stop(&r);
	free(l);
}

/* ---- drift ----------------------------------------------------------------- */

/* Finds the 20 ms gaps in a track's output, block by block (1 ms). */
struct gap_finder {
	double ppm;
	double level;		/* RMS of the tone */
	float block[48];
	uint32_t fill;
	uint64_t pos;		/* engine frames seen */
	bool in_gap;
	int found;
	double delay[200];	/* ms, per gap */
};

static void gap_feed(struct gap_finder *g, const float *x, uint32_t n, uint32_t stride)
{
	for (uint32_t i = 0; i < n; i++) {
		g->block[g->fill++] = x[(size_t)i * stride];
		if (g->fill < 48)
			continue;
		double sum = 0.0;

		for (int k = 0; k < 48; k++)
			sum += (double)g->block[k] * g->block[k];
		sum = sqrt(sum / 48);
		g->fill = 0;
		if (!g->in_gap && sum < 0.1 * g->level && g->pos > RATE && g->found < 200) {
			/* gap k starts at sender sample (k + 1/2) * GAP_EVERY */
			uint64_t start = g->pos + i + 1 - 48;
			double k = floor(((double)start * (1.0 + g->ppm * 1e-6) - GAP_EVERY / 2) /
					 GAP_EVERY + 0.5);
			double sent = (k * GAP_EVERY + GAP_EVERY / 2) / (1.0 + g->ppm * 1e-6);

			g->delay[g->found++] = ((double)start - sent) * 1000.0 / RATE;
			g->in_gap = true;
		} else if (g->in_gap && sum > 0.5 * g->level) {
			g->in_gap = false;
		}
	}
	g->pos += n;
}

static void test_drift(void)
{
	const double ppm[2] = { 100.0, -100.0 };
	const uint32_t seconds = 300;
	struct rig r;
	struct sender s[2], *ss[2] = { &s[0], &s[1] };
	struct gap_finder gf[2];
	struct tap *tap[2];
	uint32_t track[2], node[2];
	uint16_t port[2];
	float buf[2 * 2048];
	double buf_min[2] = { 1e9, 1e9 }, buf_max[2] = { 0, 0 };
	uint64_t plc_at_60[2] = { 0, 0 }, underruns_at_60[2] = { 0, 0 };
	struct rtc_track_stats st;

	rig_start(&r, port_base, port_base + 99, 40);
	for (int i = 0; i < 2; i++) {
		CHECK(publish(&r, 1, &track[i], &node[i], &port[i]) == 0, "publish track %d", i);
		sender_init(&s[i], port[i], 1, 1000.0, ppm[i]);
		s[i].gaps = true;
		CHECK(engine_tap_open(r.e, node[i], 4096, &tap[i]) == 0, "tap of track %d", i);
		memset(&gf[i], 0, sizeof(gf[i]));
		gf[i].ppm = ppm[i];
		gf[i].level = 0.5 / sqrt(2.0);
	}
	for (uint32_t step = 0; step < seconds * (RATE / PERIOD); step++) {
		rig_step(&r, ss, 2, NULL);
		for (int i = 0; i < 2; i++) {
			uint32_t got;

			while ((got = tap_read(tap[i], buf, 2048)) > 0)
				gap_feed(&gf[i], buf, got, 2);
			if (step % (RATE / PERIOD) || step < 10 * (RATE / PERIOD))
				continue;
			rtc_media_track_stats(r.m, track[i], &st);
			buf_min[i] = fmin(buf_min[i], st.delay_ms);
			buf_max[i] = fmax(buf_max[i], st.delay_ms);
			if (step == 60 * (RATE / PERIOD)) {
				plc_at_60[i] = st.plc_frames;
				underruns_at_60[i] = st.underruns;
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		double early = 0.0, late = 0.0, lo = 1e9, hi = -1e9;
		int n_early = 0, n_late = 0;

		rtc_media_track_stats(r.m, track[i], &st);
		for (int k = 0; k < gf[i].found; k++) {
			double t = (k + 0.5) * 2.0;	/* about when, in seconds */

			if (t >= 60.0) {
				lo = fmin(lo, gf[i].delay[k]);
				hi = fmax(hi, gf[i].delay[k]);
			}
			if (t >= 60.0 && t < 120.0)
				early += gf[i].delay[k], n_early++;
			if (t >= 240.0)
				late += gf[i].delay[k], n_late++;
		}
		early /= n_early ? n_early : 1;
		late /= n_late ? n_late : 1;
		CHECK(gf[i].found >= 140, "%+.0f ppm: %d gaps found in %u s", ppm[i], gf[i].found,
		      seconds);
		CHECK(n_early && n_late && fabs(late - early) < 4.0,
		      "%+.0f ppm: end-to-end delay %.1f ms at 1-2 min, %.1f ms at 4-5 min", ppm[i],
		      early, late);
		CHECK(hi - lo < 8.0, "%+.0f ppm: delay within %.1f..%.1f ms after the first minute",
		      ppm[i], lo, hi);
		CHECK(buf_min[i] > 20.0 && buf_max[i] < 400.0,
		      "%+.0f ppm: buffered %.1f..%.1f ms, within jitter_min..jitter_max", ppm[i],
		      buf_min[i], buf_max[i]);
		CHECK(st.plc_frames == plc_at_60[i] && st.underruns == underruns_at_60[i] &&
		      st.underruns == 0 && st.lost == 0,
		      "%+.0f ppm: nothing concealed or short after the first minute (plc %llu, underruns %llu)",
		      ppm[i], (unsigned long long)st.plc_frames, (unsigned long long)st.underruns);
		CHECK(fabs(st.drift_ppm - ppm[i]) < 25.0, "%+.0f ppm: estimated drift %+.1f ppm",
		      ppm[i], st.drift_ppm);
		engine_tap_close(r.e, tap[i]);
		sender_free(&s[i]);
	}
	rig_stop(&r);
}

/* ---- a lossy path -------------------------------------------------------- */

static void test_lossy(void)
{
	struct rig r;
	struct sender s, stranger, *ss = &s;
	uint32_t track, node, n = 30 * RATE / PERIOD * PERIOD;
	uint16_t port;
	float *l = calloc(n, sizeof(float));
	float *outs[4] = { NULL, NULL, NULL, NULL };
	struct rtc_track_stats st;
	uint64_t strangers = 0, underruns_at_1s = 0;

	rig_start(&r, port_base, port_base + 99, 60);
	CHECK(publish(&r, 2, &track, &node, &port) == 0, "publish a stereo track");
	sender_init(&s, port, 2, 1000.0, 0.0);
	sender_init(&stranger, port, 2, 440.0, 0.0);
	stranger.ssrc = s.ssrc;	/* the right SSRC from the wrong address */
	s.drop = 10;
	s.reorder = 5;
	s.dup = 2;
	s.garbage = 3;
	for (uint32_t done = 0; done < n; done += PERIOD) {
		outs[0] = l + done;
		if (done + PERIOD >= n - RATE / 2)
			s.quiet_tail = true;
		if (done % (50 * PERIOD) == 0 && done > RATE) {
			stranger.sample = s.sample;
			send_packet(&stranger);
			strangers++;
		}
		rig_step(&r, &ss, 1, outs);
		if (done == RATE) {
			rtc_media_track_stats(r.m, track, &st);
			underruns_at_1s = st.underruns;
		}
	}
	rig_step(&r, &ss, 1, NULL);
	CHECK(rtc_media_track_stats(r.m, track, &st) == 0, "stats");
	CHECK(st.packets == s.sent, "packets %llu = sent %llu", (unsigned long long)st.packets,
	      (unsigned long long)s.sent);
	CHECK(st.lost == s.dropped && s.dropped > 100, "lost %llu = dropped by the path %llu",
	      (unsigned long long)st.lost, (unsigned long long)s.dropped);
	CHECK(st.duplicates == s.duplicated && s.duplicated > 10, "duplicates %llu = %llu",
	      (unsigned long long)st.duplicates, (unsigned long long)s.duplicated);
	CHECK(st.dropped == s.garbage_sent + strangers && strangers > 10,
	      "dropped %llu = garbage %llu + strangers %llu", (unsigned long long)st.dropped,
	      (unsigned long long)s.garbage_sent, (unsigned long long)strangers);
	CHECK(s.reordered > 20 && st.late <= s.reordered, "reordered %llu, late %llu",
	      (unsigned long long)s.reordered, (unsigned long long)st.late);
	CHECK(st.fec_frames > 0 && st.plc_frames > 0 &&
	      st.fec_frames + st.plc_frames >= s.dropped - st.late,
	      "concealed: fec %llu, plc %llu for %llu lost", (unsigned long long)st.fec_frames,
	      (unsigned long long)st.plc_frames, (unsigned long long)s.dropped);
	CHECK(st.underruns == underruns_at_1s && st.receiving, "kept playing (underruns %llu)",
	      (unsigned long long)st.underruns);
	{
		double f = frequency(l + RATE, n - 2 * RATE);
		double a = tone_amplitude(l + 2 * RATE, 26 * RATE, 1, 1000.0);

		CHECK(fabs(f - 1000.0) < 10.0 && db(a) > -12.0,
		      "the tone plays on through the losses: %.2f Hz, %.1f dBFS", f, db(a));
	}
	sender_free(&s);
	sender_free(&stranger);
	rig_stop(&r);
	free(l);
}

/* ---- mix-minus returns ----------------------------------------------------- */

struct listener {
	int fd;
	struct sockaddr_storage addr;
	OpusDecoder *dec;
	float *pcm;		/* interleaved stereo */
	uint32_t frames, cap;
	uint64_t packets;
	uint32_t ssrc;
	bool bad;
	uint32_t mono_packets;	/* Opus packets coded in one channel */
};

static void listener_init(struct listener *ls, uint32_t cap)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&ls->addr;
	socklen_t len = sizeof(*a);
	int err;

	memset(ls, 0, sizeof(*ls));
	ls->fd = socket(AF_INET, SOCK_DGRAM, 0);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(ls->fd, (struct sockaddr *)a, sizeof(*a));
	getsockname(ls->fd, (struct sockaddr *)a, &len);
	ls->dec = opus_decoder_create(RATE, 2, &err);
	ls->cap = cap;
	ls->pcm = calloc(2 * (size_t)cap, sizeof(float));
}

static void listener_drain(struct listener *ls)
{
	uint8_t buf[2048];
	ssize_t n;
	struct rtp_packet p;

	while ((n = recv(ls->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		int got;

		if (rtp_parse(buf, (size_t)n, &p) < 0 || p.payload_type != 111 ||
		    (ls->packets && p.ssrc != ls->ssrc)) {
			ls->bad = true;
			continue;
		}
		ls->ssrc = p.ssrc;
		ls->packets++;
		ls->mono_packets += opus_packet_get_nb_channels(p.payload) == 1;
		if (ls->frames + 5760 > ls->cap)
			continue;
		got = opus_decode_float(ls->dec, p.payload, (opus_int32)p.payload_len,
					ls->pcm + 2 * (size_t)ls->frames, 5760, 0);
		if (got > 0)
			ls->frames += (uint32_t)got;
	}
}

static void listener_free(struct listener *ls)
{
	opus_decoder_destroy(ls->dec);
	close(ls->fd);
	free(ls->pcm);
}

/* The guest goes to the green room: its return switches to the playout bus
 * without itself, on the same stream (SSRC, sequence), and carries the
 * engineer's talkback, which the programme does not. */
static void test_talkback(struct rig *r, struct sender *s, struct listener *mine,
			  uint32_t ret_mine)
{
	struct rtc_return_stats before, after;
	uint32_t talk, from = mine->frames;

	CHECK(rtc_media_return_set_source(r->m, ret_mine, RTC_RETURN_PROGRAMME) == -EINVAL &&
	      rtc_media_return_set_source(r->m, 999, RTC_RETURN_TALKBACK) == -ENOENT,
	      "a return switches only between mix-minus and talkback, of a return that exists");
	CHECK(engine_add_tone(r->e, "talkback", 660.0, -12.0, ENGINE_TO_PLAYOUT, &talk) == 0,
	      "the engineer's talkback on the playout bus");
	rtc_media_return_stats(r->m, ret_mine, &before);
	CHECK(rtc_media_return_set_source(r->m, ret_mine, RTC_RETURN_TALKBACK) == 0,
	      "the guest's return becomes the talkback");
	for (uint32_t done = 0; done < 3 * RATE; done += PERIOD) {
		rig_step(r, &s, 1, NULL);
		listener_drain(mine);
	}
	rtc_media_return_stats(r->m, ret_mine, &after);
	CHECK(after.ssrc == before.ssrc && after.packets >= before.packets + 140 && !mine->bad &&
	      mine->ssrc == before.ssrc, "the same stream goes on (%llu -> %llu packets)",
	      (unsigned long long)before.packets, (unsigned long long)after.packets);
	if (mine->frames >= from + 2 * RATE) {
		uint32_t at = mine->frames - RATE;
		double tb = tone_amplitude(mine->pcm + 2 * at, RATE, 2, 660.0);
		double self = tone_amplitude(mine->pcm + 2 * at, RATE, 2, 1000.0);

		CHECK(fabs(db(tb) - (-12.0)) < 1.5 && db(self) < -60.0,
		      "the talkback is in it (%.1f dBFS), the guest is not (%.1f dBFS)", db(tb),
		      db(self));
	} else {
		CHECK(false, "the talkback decodes (%u frames)", mine->frames - from);
	}
}

static void test_mixminus(void)
{
	struct rig r;
	struct sender s, *ss = &s;
	struct listener mine, prog;
	struct rtc_return_spec rs = { .source = RTC_RETURN_MIX_MINUS };
	struct rtc_return_stats rst;
	uint32_t track, node, host, ret_mine, ret_prog, n = 4 * RATE;
	uint16_t port;

	rig_start(&r, port_base, port_base + 99, 40);
	CHECK(publish(&r, 1, &track, &node, &port) == 0, "publish the guest");
	CHECK(engine_add_tone(r.e, "host", 440.0, -12.0, ENGINE_TO_PUBLISH, &host) == 0,
	      "the host in the programme");
	sender_init(&s, port, 1, 1000.0, 0.0);
	listener_init(&mine, 8 * RATE);
	listener_init(&prog, 8 * RATE);
	rs.track_id = track;
	rs.to = mine.addr;
	CHECK(rtc_media_return_open(r.m, &rs, &ret_mine) == 0, "the guest's mix-minus");
	rs.source = RTC_RETURN_PROGRAMME;
	rs.track_id = 0;
	rs.to = prog.addr;
	rs.payload_type = 111;
	CHECK(rtc_media_return_open(r.m, &rs, &ret_prog) == 0, "a programme return");
	for (uint32_t done = 0; done < n; done += PERIOD) {
		rig_step(&r, &ss, 1, NULL);
		listener_drain(&mine);
		listener_drain(&prog);
	}
	CHECK(rtc_media_return_stats(r.m, ret_mine, &rst) == 0 && rst.packets == mine.packets &&
	      rst.ssrc == mine.ssrc && !mine.bad && mine.packets >= 190,
	      "%llu return packets sent, %llu received, all RTP/Opus from one SSRC",
	      (unsigned long long)rst.packets, (unsigned long long)mine.packets);
	CHECK(rst.bytes > rst.packets * 12 && rst.dropped_frames == 0, "%llu bytes, no drops",
	      (unsigned long long)rst.bytes);
	{
		/* one second from the middle, a whole number of both tones' cycles */
		uint32_t from = 2 * RATE, len = RATE;
		double g_mine = tone_amplitude(mine.pcm + 2 * from, len, 2, 1000.0);
		double h_mine = tone_amplitude(mine.pcm + 2 * from, len, 2, 440.0);
		double g_prog = tone_amplitude(prog.pcm + 2 * from, len, 2, 1000.0);
		double h_prog = tone_amplitude(prog.pcm + 2 * from, len, 2, 440.0);

		CHECK(mine.frames >= 3 * RATE && prog.frames >= 3 * RATE, "decoded %u and %u frames",
		      mine.frames, prog.frames);
		CHECK(db(g_mine) < -60.0, "the guest's own voice is absent from its return (%.1f dBFS)",
		      db(g_mine));
		CHECK(fabs(db(h_mine) - (-12.0)) < 1.5, "the host is in it (%.1f dBFS)", db(h_mine));
		CHECK(db(g_prog) > -9.0 && fabs(db(h_prog) - (-12.0)) < 1.5,
		      "the programme return has both (guest %.1f, host %.1f dBFS)", db(g_prog),
		      db(h_prog));
	}
	test_talkback(&r, &s, &mine, ret_mine);
	CHECK(rtc_media_return_close(r.m, ret_mine) == 0 && rtc_media_return_close(r.m, ret_prog) == 0,
	      "returns closed");
	listener_free(&mine);
	listener_free(&prog);
	sender_free(&s);
	rig_stop(&r);
}

/* [rtp] return_channels = 1: the return is coded in one channel, the
 * programme folded down ((L + R) / 2: a source panned hard left comes 6 dB
 * down), and the guest is still cancelled out of it. */
static void test_mono_return(void)
{
	struct rig r;
	struct sender s, *ss = &s;
	struct listener mine;
	struct rtc_return_spec rs = { .source = RTC_RETURN_MIX_MINUS };
	uint32_t track, node, host, left, ret;
	uint16_t port;

	rig_open(&r, port_base, port_base + 99, 40, 1);
	CHECK(publish(&r, 1, &track, &node, &port) == 0 &&
	      engine_add_tone(r.e, "host", 440.0, -12.0, ENGINE_TO_PUBLISH, &host) == 0 &&
	      engine_add_tone(r.e, "left", 2000.0, -12.0, ENGINE_TO_PUBLISH, &left) == 0 &&
	      engine_set_pan(r.e, left, -1.0f) == 0, "a guest, a host and a source panned left");
	sender_init(&s, port, 1, 1000.0, 0.0);
	listener_init(&mine, 8 * RATE);
	rs.track_id = track;
	rs.to = mine.addr;
	CHECK(rtc_media_return_open(r.m, &rs, &ret) == 0, "the guest's mono mix-minus");
	for (uint32_t done = 0; done < 3 * RATE; done += PERIOD) {
		rig_step(&r, &ss, 1, NULL);
		listener_drain(&mine);
	}
	CHECK(mine.packets >= 140 && mine.mono_packets == mine.packets && !mine.bad,
	      "%u of %llu packets coded mono", mine.mono_packets,
	      (unsigned long long)mine.packets);
	if (mine.frames >= 2 * RATE) {
		const float *x = mine.pcm + 2 * (size_t)RATE;
		double h = tone_amplitude(x, RATE, 2, 440.0), l = tone_amplitude(x, RATE, 2, 2000.0);
		double g = tone_amplitude(x, RATE, 2, 1000.0), r_h = tone_amplitude(x + 1, RATE, 2, 440.0);

		CHECK(fabs(db(h) - (-12.0)) < 1.5 && fabs(db(r_h) - db(h)) < 0.1,
		      "the host in both ears alike (%.1f, %.1f dBFS)", db(h), db(r_h));
		CHECK(fabs(db(l) - (-18.0)) < 1.5, "the left-panned source folded down 6 dB (%.1f dBFS)",
		      db(l));
		CHECK(db(g) < -60.0, "the guest's own voice is absent (%.1f dBFS)", db(g));
	} else {
		CHECK(false, "the mono return decodes (%u frames)", mine.frames);
	}
	CHECK(rtc_media_return_close(r.m, ret) == 0, "return closed");
	listener_free(&mine);
	sender_free(&s);
	rig_stop(&r);
}

/* ---- a late media thread ------------------------------------------------- */

/* Engine periods with no pass between them: what the tracks see when the
 * media thread is held off the CPU. With the rig_step after it, a stall of
 * n periods is n + 1 periods without a pass. */
static void stall(struct rig *r, int periods, float *const *outs)
{
	for (int k = 0; k < periods; k++) {
		engine_offline_run(r->e, PERIOD, NULL, outs);
		r->frames += PERIOD;
	}
}

/* Stalls of 9 periods run the ring short; each late pass decodes 5 ms
 * more ahead, up to 20 ms more. At that, 4 periods without a pass (43 ms:
 * more than the bare ring's 2 periods and 10 ms hold after a pass most of
 * the time, a packet's 20 ms above that at most) find audio every time. */
static void test_late_passes(void)
{
	struct rig r;
	struct sender s, *ss = &s;
	float *l = calloc(PERIOD, sizeof(float)), *rr = calloc(PERIOD, sizeof(float));
	float *outs[4] = { l, rr, NULL, NULL };
	struct rtc_track_stats st = { 0 };
	uint32_t track, node;
	uint16_t port;
	double base_ms = (2.0 * PERIOD + RATE / 100) * 1000.0 / RATE;
	uint64_t short_at_cap = 0;
	int stalls = 0;

	rig_start(&r, port_base, port_base + 99, 40);
	CHECK(publish(&r, 1, &track, &node, &port) == 0, "publish a track");
	sender_init(&s, port, 1, 1000.0, 0.0);
	for (int i = 0; i < RATE / PERIOD; i++)
		rig_step(&r, &ss, 1, outs);
	CHECK(rtc_media_track_stats(r.m, track, &st) == 0 && st.underruns == 0 &&
	      fabs(st.ahead_ms - base_ms) < 0.01,
	      "on time: no underrun, %.1f ms decoded ahead (two periods and 10 ms)", st.ahead_ms);
	/* a pass of the media thread's own may slip into a stall: bounded retries */
	while (stalls < 30 && st.ahead_ms < base_ms + 19.99) {
		stall(&r, 8, outs);
		stalls++;
		for (int i = 0; i < RATE / PERIOD / 4; i++)
			rig_step(&r, &ss, 1, outs);
		rtc_media_track_stats(r.m, track, &st);
	}
	CHECK(st.underruns > 0 && fabs(st.ahead_ms - base_ms - 20.0) < 0.01,
	      "after %d stalls of 9 periods without a pass (%llu short cycles): %.1f ms ahead, 20 ms more", stalls,
	      (unsigned long long)st.underruns, st.ahead_ms);
	stall(&r, 8, outs);
	for (int i = 0; i < RATE / PERIOD / 4; i++)
		rig_step(&r, &ss, 1, outs);
	rtc_media_track_stats(r.m, track, &st);
	CHECK(st.ahead_ms < base_ms + 20.01, "and no more (%.1f ms)", st.ahead_ms);
	short_at_cap = st.underruns;
	for (int k = 0; k < 8; k++) {
		stall(&r, 3, outs);
		for (int i = 0; i < RATE / PERIOD / 4; i++)
			rig_step(&r, &ss, 1, outs);
	}
	rtc_media_track_stats(r.m, track, &st);
	CHECK(st.underruns == short_at_cap && st.lost == 0,
	      "eight times 4 periods without a pass: no cycle short (%llu more), nothing lost",
	      (unsigned long long)(st.underruns - short_at_cap));
	sender_free(&s);
	rig_stop(&r);
	free(l);
	free(rr);
}

int main(int argc, char **argv)
{
	/* a port range of our own, even, away from the default */
	port_base = 20000 + 2 * (int)((unsigned)getpid() % 4000);
	test_api();
	test_tone();
	test_pause();
	test_lossy();
	test_mixminus();
	test_mono_return();
	test_late_passes();
	if (argc < 2 || strcmp(argv[1], "--quick"))
		test_drift();
	CHECK_RT_CLEAN();
	return CHECK_DONE();
}
