/* bench_rtc.c - remote tracks and mix-minus returns at 48 kHz.
 *
 * Received tracks: N guests each send stereo 64 kb/s Opus (20 ms packets,
 * encoded once beforehand) over real UDP loopback sockets to their track
 * port; the media thread receives, binds, buffers, decodes and resamples
 * them; the offline clock mixes them (period 256). Returns: each guest also
 * gets a mix-minus (the publish bus without itself), Opus-encoded stereo at
 * [rtp] return_bitrate_kbps / return_complexity with FEC, sent over UDP to a
 * sink this benchmark drains.
 *
 * The figure is CPU time of the whole process (every thread: the sender,
 * the mixing, the media thread, the sink) per second of audio, so it is an
 * upper bound: sending and draining the sockets are counted too. The cost of
 * a return is the difference between the run with returns and the same run
 * without. Per core = 1 / (CPU fraction per track).
 *
 * Threads: main (the sender, the offline clock, the sink) and the media
 * thread.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <opus/opus.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "offline.h"
#include "engine/engine.h"
#include "engine/rtc/media.h"
#include "engine/rtc/rtp.h"

#define RATE 48000
#define PERIOD 256
#define FRAME 960
#define PACKETS 50		/* one second of pre-encoded audio, looped */
#define SECONDS 10

struct encoded {
	uint8_t data[PACKETS][400];
	int len[PACKETS];
};

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void encode_second(struct encoded *enc)
{
	int err;
	OpusEncoder *e = opus_encoder_create(RATE, 2, OPUS_APPLICATION_AUDIO, &err);
	float pcm[2 * FRAME];
	double ph = 0.0;

	opus_encoder_ctl(e, OPUS_SET_BITRATE(64000));
	for (int p = 0; p < PACKETS; p++) {
		for (int i = 0; i < FRAME; i++, ph += 2 * M_PI * 440.0 / RATE) {
			/* a tone and some noise: a codec load like speech or music */
			pcm[2 * i] = 0.3f * (float)sin(ph) + 0.05f * ((float)rand() / RAND_MAX - 0.5f);
			pcm[2 * i + 1] = 0.3f * (float)sin(1.5 * ph) + 0.05f * ((float)rand() / RAND_MAX - 0.5f);
		}
		enc->len[p] = opus_encode_float(e, pcm, FRAME, enc->data[p], sizeof(enc->data[p]));
	}
	opus_encoder_destroy(e);
}

/* One run: n guests, with or without their returns. Returns CPU seconds per
 * audio second. */
static double run(const struct encoded *enc, uint32_t n, bool returns, int port_base)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct engine *e = NULL;
	struct rtc_media *m = NULL;
	struct sockaddr_in *to = calloc(n, sizeof(*to));
	int out = socket(AF_INET, SOCK_DGRAM, 0), sink = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_storage sink_addr = { 0 };
	socklen_t slen = sizeof(struct sockaddr_in);
	uint32_t sent = 0, id, rbuf = 8 << 20;
	uint64_t frames = 0;
	double t0, cpu;
	char err[256], buf[2048];

	offline_config(&cfg, RATE, PERIOD);
	cfg.rtp_port_min = port_base;
	cfg.rtp_port_max = port_base + 2 * (int)n + 2;
	if (engine_create(&cfg, &opts, NULL, &e, err, sizeof(err)) < 0 ||
	    engine_start(e, err, sizeof(err)) < 0 || rtc_media_create(e, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	((struct sockaddr_in *)&sink_addr)->sin_family = AF_INET;
	((struct sockaddr_in *)&sink_addr)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(sink, (struct sockaddr *)&sink_addr, sizeof(struct sockaddr_in));
	getsockname(sink, (struct sockaddr *)&sink_addr, &slen);
	setsockopt(sink, SOL_SOCKET, SO_RCVBUF, &rbuf, sizeof(rbuf));
	for (uint32_t i = 0; i < n; i++) {
		struct rtc_track_spec spec = { .channels = 2, .buses = ENGINE_TO_PUBLISH, .gain = 0.1f };
		struct rtc_endpoint ep;
		uint32_t node;

		snprintf(spec.room, sizeof(spec.room), "bench");
		snprintf(spec.user, sizeof(spec.user), "guest%u", i);
		if (rtc_media_publish(m, &spec, &id, &node, &ep) < 0) {
			fprintf(stderr, "bench: cannot publish track %u\n", i);
			exit(1);
		}
		to[i] = *(struct sockaddr_in *)&ep.addr;
		if (returns) {
			struct rtc_return_spec rs = { .source = RTC_RETURN_MIX_MINUS, .track_id = id,
						      .to = sink_addr };

			if (rtc_media_return_open(m, &rs, &id) < 0) {
				fprintf(stderr, "bench: cannot open return %u\n", i);
				exit(1);
			}
		}
	}
	t0 = cpu_now();
	while (frames < (uint64_t)SECONDS * RATE) {
		engine_offline_run(e, PERIOD, NULL, NULL);
		frames += PERIOD;
		/* every packet whose 20 ms are over, for every guest */
		while ((uint64_t)(sent + 1) * FRAME <= frames) {
			for (uint32_t i = 0; i < n; i++) {
				uint8_t pkt[512];
				const int k = (int)(sent % PACKETS);
				struct rtp_packet p = {
					.payload_type = 111, .seq = (uint16_t)sent,
					.timestamp = sent * FRAME, .ssrc = 1000 + i,
					.payload = enc->data[k], .payload_len = (size_t)enc->len[k],
				};
				int len = rtp_write(pkt, sizeof(pkt), &p);

				sendto(out, pkt, (size_t)len, 0, (struct sockaddr *)&to[i], sizeof(to[i]));
			}
			sent++;
		}
		rtc_media_sync(m);
		while (recv(sink, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
	cpu = cpu_now() - t0;
	{
		struct rtc_track_stats st;

		if (rtc_media_track_stats(m, 1, &st) == 0 && (st.underruns > 2 || st.lost))
			printf("# warning: track 1: %llu underruns, %llu lost\n",
			       (unsigned long long)st.underruns, (unsigned long long)st.lost);
	}
	rtc_media_destroy(m);
	engine_destroy(e);
	close(out);
	close(sink);
	free(to);
	return cpu / SECONDS;
}

int main(void)
{
	static struct encoded enc;
	const uint32_t counts[] = { 8, 32, 64 };
	struct airmix_config cfg;
	int base = 30000 + 2 * (int)((unsigned)getpid() % 2000);

	config_defaults(&cfg);
	encode_second(&enc);
	printf("# remote tracks: stereo 64 kb/s Opus in, 48 kHz, period %d; returns: stereo %d kb/s "
	       "Opus, complexity %d, FEC %s\n", PERIOD, cfg.rtp_return_bitrate_kbps,
	       cfg.rtp_return_complexity, cfg.rtp_return_fec ? "on" : "off");
	printf("# CPU of the whole process (sender, mixing, media thread, sink) per second of audio\n");
	printf("%8s %14s %12s %14s %12s %14s\n", "callers", "track %core", "tracks/core",
	       "return %core", "returns/core", "caller %core");
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		uint32_t n = counts[c];
		double in = run(&enc, n, false, base);
		double both = run(&enc, n, true, base);
		double per_track = in / n, per_return = (both - in) / n;

		printf("%8u %13.3f%% %12.0f %13.3f%% %12.0f %13.3f%%\n", n, 100.0 * per_track,
		       1.0 / per_track, 100.0 * per_return, per_return > 0 ? 1.0 / per_return : 0.0,
		       100.0 * (per_track + per_return));
		fflush(stdout);
	}
	return 0;
}
