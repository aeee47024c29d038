/* bench_rtc.c - remote tracks and mix-minus returns at 48 kHz.
 *
 * Two loads. Stereo: N guests each send stereo 64 kb/s Opus (20 ms packets,
 * encoded once beforehand) over real UDP loopback sockets to their track
 * port, in real time; the media thread receives, binds, buffers, decodes
 * and corrects drift; the internal clock mixes them (period 256), as a
 * running airmixd does. Returns: each guest also gets a mix-minus (the
 * publish bus without itself), Opus-encoded stereo at 64 kb/s and [rtp]
 * return_complexity / return_fec, sent over UDP to a sink this benchmark
 * drains. Callers: the same with voice callers, mono 32 kb/s Opus (VOIP)
 * in and a mono 32 kb/s return ([rtp] return_channels = 1) at complexity
 * 4: the load of Janus AudioBridge's RTP callers with its defaults (a mono
 * room, its encoders at complexity 4), which the issue compares with.
 *
 * The figure is the CPU time airmix itself spends per second of audio: the
 * whole process but the main thread, which is the benchmark's (sending the
 * guests' packets, as a guest's sender runs elsewhere, and draining the
 * returns' sink); the whole process is shown too. The cost of a return is
 * the difference between the run with returns and the same run without.
 * "caller %core" is the whole cost divided by the callers, the engine's own
 * running cost included (what a bridge with n callers takes per caller).
 * Each row is the median of REPEATS runs (this VM's CPU accounting is noisy:
 * one 10 s run now and then comes out half again as costly). What one
 * more track or return costs is the least-squares slope over all rows; per
 * core is 1 / that slope. The first row, one caller, shows the engine's
 * running cost.
 *
 * Then the callers load once more against a real Janus AudioBridge, the
 * comparison the issue sets (Debian's janus 1.1.2, janus.h): the same
 * packets from the same sender loop, each caller from its own socket, which
 * also takes its return; Janus runs with its defaults and the figure is its
 * whole process, beside airmix's own cost per caller from the rows above.
 * A run where Janus sent under 90 % of its returns' packets stops the
 * benchmark: that would not be the load compared.
 *
 * Threads: main (the sender, the sink), the clock thread, the media
 * thread and the engine's helpers.
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

#include "bench.h"
#include "janus.h"
#include "offline.h"
#include "engine/engine.h"
#include "engine/rtc/media.h"
#include "engine/rtc/rtp.h"

#define RATE 48000
#define PERIOD 256
#define FRAME 960
#define PACKETS 50		/* one second of pre-encoded audio, looped */
#define SECONDS 10
#define REPEATS 3
#define ROWS 4
#define JANUS_ROWS 3		/* Janus at 1, 8 (the comparison) and 32 callers */

static const uint32_t counts[ROWS] = { 1, 8, 32, 64 };

struct encoded {
	uint8_t data[PACKETS][400];
	int len[PACKETS];
};

struct load {
	const char *name;
	int channels;		/* of the callers' streams and of their returns */
	int kbps;		/* of both */
	int application;	/* what the callers' encoders are set for */
	int complexity;		/* of the returns; -1: [rtp] return_complexity */
};

static void encode_second(struct encoded *enc, const struct load *load)
{
	int err;
	OpusEncoder *e = opus_encoder_create(RATE, load->channels, load->application, &err);
	float pcm[2 * FRAME];
	double ph = 0.0;

	opus_encoder_ctl(e, OPUS_SET_BITRATE(load->kbps * 1000));
	for (int p = 0; p < PACKETS; p++) {
		for (int i = 0; i < FRAME; i++, ph += 2 * M_PI * 440.0 / RATE) {
			/* a tone and some noise: a codec load like speech or music */
			float *f = pcm + load->channels * i;

			f[0] = 0.3f * (float)sin(ph) + 0.05f * ((float)rand() / RAND_MAX - 0.5f);
			if (load->channels == 2)
				f[1] = 0.3f * (float)sin(1.5 * ph) +
				       0.05f * ((float)rand() / RAND_MAX - 0.5f);
		}
		enc->len[p] = opus_encode_float(e, pcm, FRAME, enc->data[p], sizeof(enc->data[p]));
	}
	opus_encoder_destroy(e);
}

/* Sends SECONDS of the callers' packets in real time, caller i's from
 * from[i] to to[i], and drains what comes back on the n_sinks sockets of
 * sinks; the datagrams that came back, and their bytes in *bytes. */
static uint64_t stream(const struct encoded *enc, uint32_t n, const int *from,
		       const struct sockaddr_in *to, const int *sinks, uint32_t n_sinks,
		       uint64_t *bytes)
{
	struct timespec next;
	uint64_t back = 0;
	char buf[2048];
	ssize_t got;

	*bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (uint32_t sent = 0; sent < (uint32_t)SECONDS * RATE / FRAME; sent++) {
		const int k = (int)(sent % PACKETS);

		for (uint32_t i = 0; i < n; i++) {
			uint8_t pkt[512];
			struct rtp_packet p = {
				.payload_type = 111, .seq = (uint16_t)sent,
				.timestamp = sent * FRAME, .ssrc = 1000 + i,
				.payload = enc->data[k], .payload_len = (size_t)enc->len[k],
			};
			int len = rtp_write(pkt, sizeof(pkt), &p);

			sendto(from[i], pkt, (size_t)len, 0, (const struct sockaddr *)&to[i],
			       sizeof(to[i]));
		}
		for (uint32_t s = 0; s < n_sinks; s++)
			while ((got = recv(sinks[s], buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
				back++;
				*bytes += (uint64_t)got;
			}
		next.tv_nsec += 1000000000L / (RATE / FRAME);
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return back;
}

/* One run: n guests, with or without their returns. */
static struct bench_cost run(const struct load *load, const struct encoded *enc, uint32_t n,
			     bool returns, int port_base)
{
	struct airmix_config cfg;
	struct engine_options opts = { 0 };
	struct engine *e = NULL;
	struct rtc_media *m = NULL;
	struct sockaddr_in *to = calloc(n, sizeof(*to));
	int *from = calloc(n, sizeof(*from));
	int out = socket(AF_INET, SOCK_DGRAM, 0), sink = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_storage sink_addr = { 0 };
	socklen_t slen = sizeof(struct sockaddr_in);
	uint32_t id, rbuf = 8 << 20;
	uint64_t bytes;
	double t0, main0;
	struct bench_cost cost;
	char err[256];

	offline_config(&cfg, RATE, PERIOD);
	cfg.backend = BACKEND_INTERNAL;
	cfg.rtp_port_min = port_base;
	cfg.rtp_port_max = port_base + 2 * (int)n + 2;
	cfg.rtp_return_channels = load->channels;
	cfg.rtp_return_bitrate_kbps = load->kbps;
	if (load->complexity >= 0)
		cfg.rtp_return_complexity = load->complexity;
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
		struct rtc_track_spec spec = { .channels = (uint32_t)load->channels,
					       .buses = ENGINE_TO_PUBLISH, .gain = 0.1f };
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
	for (uint32_t i = 0; i < n; i++)
		from[i] = out;
	t0 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
	main0 = bench_now(CLOCK_THREAD_CPUTIME_ID);
	stream(enc, n, from, to, &sink, 1, &bytes);
	cost.process = (bench_now(CLOCK_PROCESS_CPUTIME_ID) - t0) / SECONDS;
	cost.airmix = cost.process - (bench_now(CLOCK_THREAD_CPUTIME_ID) - main0) / SECONDS;
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
	free(from);
	free(to);
	return cost;
}

/* The median of REPEATS runs, by airmix's own cost. */
static struct bench_cost median_run(const struct load *load, const struct encoded *enc,
				    uint32_t n, bool returns, int port_base)
{
	struct bench_cost runs[REPEATS];

	for (int r = 0; r < REPEATS; r++)
		runs[r] = run(load, enc, n, returns, port_base);
	qsort(runs, REPEATS, sizeof(runs[0]), bench_by_airmix);
	return runs[REPEATS / 2];
}

/* Runs a load at every count; per_caller: airmix's own cost per caller with
 * returns, by count. */
static void bench_load(const struct load *load, struct encoded *enc, int default_complexity,
		       bool fec, int base, double *per_caller)
{
	double xs[ROWS], in_cost[ROWS], ret_cost[ROWS], track, ret;

	encode_second(enc, load);
	printf("# %s: Opus in, 48 kHz, period %d; returns: the same, complexity %d, FEC %s\n",
	       load->name, PERIOD, load->complexity >= 0 ? load->complexity : default_complexity,
	       fec ? "on" : "off");
	printf("%8s %12s %14s %12s %16s\n", "callers", "in %core", "+returns %core",
	       "caller %core", "(process/caller)");
	for (int c = 0; c < ROWS; c++) {
		uint32_t n = counts[c];
		struct bench_cost in = median_run(load, enc, n, false, base);
		struct bench_cost both = median_run(load, enc, n, true, base);

		xs[c] = n;
		in_cost[c] = in.airmix;
		ret_cost[c] = both.airmix - in.airmix;
		per_caller[c] = both.airmix / n;
		printf("%8u %11.2f%% %13.2f%% %11.3f%% %15.3f%%\n", n, 100.0 * in.airmix,
		       100.0 * both.airmix, 100.0 * per_caller[c], 100.0 * both.process / n);
		fflush(stdout);
	}
	track = bench_slope(xs, in_cost, ROWS);
	ret = bench_slope(xs, ret_cost, ROWS);
	printf("# %s: one more received track: %.3f %% of a core (%.0f per core)\n", load->name,
	       100.0 * track, track > 0.0 ? 1.0 / track : 0.0);
	printf("# %s: one more mix-minus return: %.3f %% of a core (%.0f per core)\n", load->name,
	       100.0 * ret, ret > 0.0 ? 1.0 / ret : 0.0);
}

/* One run of n callers against Janus: its whole process's CPU per second of
 * audio (the callers are this benchmark's main thread, as against airmix);
 * *packet_bytes: the mean size of its returns' datagrams. */
static double run_janus(struct janus *j, const struct encoded *enc, uint32_t n, uint64_t room,
			double *packet_bytes)
{
	int *fds = calloc(n, sizeof(*fds));
	uint16_t *mine = calloc(n, sizeof(*mine)), *theirs = calloc(n, sizeof(*theirs));
	struct sockaddr_in *to = calloc(n, sizeof(*to));
	uint64_t back, bytes, expected = (uint64_t)n * SECONDS * (RATE / FRAME);
	double c0, cost;
	char err[256];

	for (uint32_t i = 0; i < n; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t alen = sizeof(a);

		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		bind(fds[i], (struct sockaddr *)&a, sizeof(a));
		getsockname(fds[i], (struct sockaddr *)&a, &alen);
		mine[i] = ntohs(a.sin_port);
	}
	if (janus_room_open(j, room, n, mine, theirs, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: %s\n", err);
		janus_stop(j);
		exit(1);
	}
	for (uint32_t i = 0; i < n; i++)
		to[i] = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(theirs[i]),
					      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	c0 = janus_cpu_s(j);
	back = stream(enc, n, fds, to, fds, n, &bytes);
	*packet_bytes = back ? (double)bytes / (double)back : 0.0;
	cost = (janus_cpu_s(j) - c0) / SECONDS;
	janus_room_close(j);
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	free(mine);
	free(theirs);
	free(to);
	if (back < expected * 9 / 10) {
		/* a Janus that does not mix and send is not the load compared */
		fprintf(stderr, "bench: Janus sent %llu of the %llu packets of its %u returns\n",
			(unsigned long long)back, (unsigned long long)expected, n);
		janus_stop(j);
		exit(1);
	}
	return cost;
}

/* The callers load against Janus AudioBridge at the first JANUS_ROWS counts,
 * beside airmix's per-caller cost on the same load, and what one more
 * caller costs each. */
static void bench_janus(const struct encoded *enc, int base, const double *airmix_per_caller)
{
	struct janus j;
	char err[256];
	uint64_t room = 1000;
	double xs[JANUS_ROWS], janus[JANUS_ROWS], airmix[JANUS_ROWS], slope_janus, slope_airmix;

	if (janus_start(&j, base + 4096, base + 20000, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	printf("# Janus AudioBridge (Debian's janus 1.1.2), the callers load: the same packets "
	       "from the same senders,\n# plain RTP participants in a 48 kHz room with Janus's "
	       "defaults (per caller an Opus VOIP encoder,\n# complexity 4, automatic bitrate); "
	       "Janus's whole process; each row the median of %d runs of %d s\n",
	       REPEATS, SECONDS);
	printf("%8s %14s %20s %14s %12s\n", "callers", "Janus %core", "Janus caller %core",
	       "airmix/Janus", "its packets");
	for (int c = 0; c < JANUS_ROWS; c++) {
		double runs[REPEATS], sizes[REPEATS], cost;
		uint32_t n = counts[c];

		for (int r = 0; r < REPEATS; r++)
			runs[r] = run_janus(&j, enc, n, room++, &sizes[r]);
		cost = bench_median(runs, REPEATS);
		xs[c] = n;
		janus[c] = cost;
		airmix[c] = airmix_per_caller[c] * n;
		printf("%8u %13.2f%% %19.3f%% %14.2f %10.0f B\n", n, 100.0 * cost, 100.0 * cost / n,
		       airmix_per_caller[c] / (cost / n), bench_median(sizes, REPEATS));
		fflush(stdout);
	}
	janus_stop(&j);
	slope_janus = bench_slope(xs, janus, JANUS_ROWS);
	slope_airmix = bench_slope(xs, airmix, JANUS_ROWS);
	printf("# one more caller (slope over these rows): Janus %.3f %% of a core, airmix %.3f %% "
	       "(%.2f of Janus's)\n", 100.0 * slope_janus, 100.0 * slope_airmix,
	       slope_janus > 0.0 ? slope_airmix / slope_janus : 0.0);
}

int main(void)
{
	static const struct load loads[] = {
		{ "stereo 64 kb/s", 2, 64, OPUS_APPLICATION_AUDIO, -1 },
		{ "callers, mono 32 kb/s", 1, 32, OPUS_APPLICATION_VOIP, 4 },
	};
	static struct encoded enc;
	struct airmix_config cfg;
	double per_caller[ROWS];
	int base = 30000 + 2 * (int)((unsigned)getpid() % 2000);

	config_defaults(&cfg);
	printf("# airmix's own CPU per second of audio (the media thread, the engine's threads, "
	       "the mixing cycles);\n# in brackets the whole process, with the benchmark's "
	       "senders and sink\n");
	printf("# each row: the median of %d runs of %d s\n", REPEATS, SECONDS);
	for (size_t l = 0; l < sizeof(loads) / sizeof(loads[0]); l++)
		bench_load(&loads[l], &enc, cfg.rtp_return_complexity, cfg.rtp_return_fec, base,
			   per_caller);
	/* enc and per_caller now hold the callers load's */
	bench_janus(&enc, base, per_caller);
	return 0;
}
