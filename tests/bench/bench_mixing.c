/* bench_mixing.c - file players at 48000 Hz / 128 frames: plain 48 kHz
 * files, resampled 44.1 kHz files and pitch-shifted files.
 *
 * Two figures per row. The RT cycle: p50/p99/max of the time of one cycle
 * as a fraction of the period budget, with the rings full (what the clock
 * thread pays per player). The reader: the CPU time the mixing manager
 * spends decoding, resampling or stretching per second of audio; together
 * with the cycles it gives the players one core carries in all.
 *
 * Threads: the main thread only: the manager runs without its worker
 * (manual) and mixing_sync() fills the rings between stretches of cycles.
 */
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/mixing.h"

#define RATE 48000
#define PERIOD 128
#define AUDIO_SECONDS 2
#define FILL_CYCLES 32	/* about 85 ms of audio between fills */

static char dir[64];

static double now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void write_file(const char *name, uint32_t rate, double seconds)
{
	char path[128];
	SF_INFO info = { .samplerate = (int)rate, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16 };
	sf_count_t n = (sf_count_t)(seconds * rate);
	short *buf = malloc((size_t)n * 2 * sizeof(short));
	SNDFILE *f;

	for (sf_count_t i = 0; i < n; i++)
		buf[2 * i] = buf[2 * i + 1] = (short)(8000 * sin(2 * M_PI * 330 * i / rate));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = sf_open(path, SFM_WRITE, &info);
	sf_writef_short(f, buf, n);
	sf_close(f);
	free(buf);
}

struct result {
	double p50, p99, max;	/* cycle time / budget */
	double per_core;	/* players one core carries, reader and cycles together */
};

static struct result run(const char *file, int n, int pitch)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct mixing_config mc = { .max_ids = (uint32_t)n, .stream_ahead_ms = 200,
				    .preload_max_s = 20.0, .media_dirs = { dir, NULL }, .manual = true };
	struct mixing_start_config sc = { MIXING_TYPE_PUBLISH, 0, 0, 0 };
	const uint32_t cycles = AUDIO_SECONDS * RATE / PERIOD;
	double *times = malloc(cycles * sizeof(double));
	double budget = (double)PERIOD / RATE, reader = 0.0, rt = 0.0;
	struct engine *e = NULL;
	struct mixing *m = NULL;
	struct result r;
	char err[256];

	config_defaults(&cfg);
	cfg.backend = BACKEND_OFFLINE;
	cfg.sample_rate = RATE;
	cfg.period_frames = PERIOD;
	cfg.max_nodes = n + 16;
	cfg.jack_inputs = 0;
	cfg.lock_memory = false;
	if (engine_create(&cfg, &opts, NULL, &e, err, sizeof(err)) < 0 ||
	    engine_start(e, err, sizeof(err)) < 0 || mixing_create(e, &mc, &m) < 0) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	for (int i = 0; i < n; i++) {
		if (mixing_start(m, i, file, &sc) != MIXING_OK || (pitch && mixing_set_pitch(m, i, pitch))) {
			fprintf(stderr, "bench: cannot start player %d\n", i);
			exit(1);
		}
	}
	engine_offline_run(e, PERIOD, NULL, NULL);	/* takes the flushes of the pitch changes */
	for (uint32_t c = 0; c < cycles; c++) {
		double t0;

		if (c % FILL_CYCLES == 0) {
			t0 = now(CLOCK_THREAD_CPUTIME_ID);
			mixing_sync(m);
			reader += now(CLOCK_THREAD_CPUTIME_ID) - t0;
		}
		t0 = now(CLOCK_MONOTONIC);
		engine_offline_run(e, PERIOD, NULL, NULL);
		times[c] = now(CLOCK_MONOTONIC) - t0;
		rt += times[c];
		times[c] /= budget;
	}
	qsort(times, cycles, sizeof(double), bench_by_double);
	r.p50 = times[cycles / 2];
	r.p99 = times[cycles * 99 / 100];
	r.max = times[cycles - 1];
	r.per_core = n * AUDIO_SECONDS / (reader + rt);
	mixing_destroy(m);
	engine_destroy(e);
	free(times);
	return r;
}

/* One kind of source over growing N; returns the players per core at the
 * largest N and prints the largest N whose p99 stays under half the budget. */
static double sweep(const char *label, const char *file, int pitch, const int *ns)
{
	double per_core = 0.0;
	int best = 0;

	for (; *ns; ns++) {
		struct result r = run(file, *ns, pitch);

		printf("%-26s %6d %8.3f %8.3f %8.3f %10.0f\n", label, *ns, r.p50, r.p99, r.max,
		       r.per_core);
		fflush(stdout);
		per_core = r.per_core;
		if (r.p99 < 0.5)
			best = *ns;
	}
	printf("%-26s largest N tried with RT p99 < 50%% of the budget: %d\n", label, best);
	return per_core;
}

int main(void)
{
	static const int plain_n[] = { 250, 500, 1000, 2000, 0 };
	static const int resampled_n[] = { 125, 250, 500, 0 };
	static const int pitched_n[] = { 2, 4, 0 };
	double plain, resampled, pitched;
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/airmix-bench-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	write_file("plain.wav", 48000, AUDIO_SECONDS + 2.0);
	write_file("cd.wav", 44100, AUDIO_SECONDS + 2.0);
	printf("bench_mixing: file players at %d Hz / %d frames, %d s of audio per row\n", RATE,
	       PERIOD, AUDIO_SECONDS);
	printf("RT cycle time as a fraction of the %.3f ms period (rings full); per core = players\n"
	       "one core carries with the reader's decoding/resampling/stretching included\n",
	       1000.0 * PERIOD / RATE);
	printf("%-26s %6s %8s %8s %8s %10s\n", "source", "N", "p50", "p99", "max", "per core");
	plain = sweep("48 kHz WAV, plain", "plain.wav", 0, plain_n);
	resampled = sweep("44.1 kHz WAV, resampled", "cd.wav", 0, resampled_n);
	pitched = sweep("44.1 kHz WAV, pitch +3", "cd.wav", 3, pitched_n);
	printf("plain players per core (reader + RT): %.0f\n", plain);
	printf("resampled stereo players per core (reader + RT): %.0f (target >= 500: %s)\n",
	       resampled, resampled >= 500 ? "met" : "not met");
	printf("pitch-shifted players per core (reader + RT): %.0f\n", pitched);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
