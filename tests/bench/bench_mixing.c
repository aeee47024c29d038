/* bench_mixing.c - file players per core at 48000 Hz / 128 frames: plain
 * 48 kHz files, resampled 44.1 kHz files and pitch-shifted files.
 *
 * The offline clock runs the graph while the mixing manager decodes ahead;
 * the process's CPU time over the audio time gives the cores used, and so the
 * players one core carries (decoding, resampling or stretching, plus the RT
 * cycle). The RT cycle alone is timed too, as p99 per-cycle time over the
 * period budget.
 *
 * Threads: the main thread steps the clock and fills the rings
 * (mixing_sync); the manager's worker runs beside it.
 */
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/config.h"
#include "engine/engine.h"
#include "engine/mixing.h"

#define RATE 48000
#define PERIOD 128
#define AUDIO_SECONDS 4

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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Runs n players of file (pitch semitones) and prints one row. Returns
 * players per core. */
static double run(const char *label, const char *file, int n, int pitch)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct mixing_config mc = { .max_ids = (uint32_t)n, .stream_ahead_ms = 500,
				    .preload_max_s = 20.0, .media_dirs = { dir, NULL } };
	struct mixing_start_config sc = { MIXING_TYPE_PUBLISH, 0, 0, 0 };
	const uint32_t cycles = AUDIO_SECONDS * RATE / PERIOD;
	double *times = malloc(cycles * sizeof(double));
	struct engine *e = NULL;
	struct mixing *m = NULL;
	double cpu0, cpu1, per_core, budget = (double)PERIOD / RATE;
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
		if (mixing_start(m, i, file, &sc) != MIXING_OK) {
			fprintf(stderr, "bench: cannot start player %d\n", i);
			exit(1);
		}
		if (pitch)
			mixing_set_pitch(m, i, pitch);
	}
	mixing_sync(m);
	cpu0 = now(CLOCK_PROCESS_CPUTIME_ID);
	for (uint32_t c = 0; c < cycles; c++) {
		double t0;

		if (c % 16 == 0)
			mixing_sync(m);	/* decode on this thread: counted in the CPU time */
		t0 = now(CLOCK_MONOTONIC);
		engine_offline_run(e, PERIOD, NULL, NULL);
		times[c] = (now(CLOCK_MONOTONIC) - t0) / budget;
	}
	cpu1 = now(CLOCK_PROCESS_CPUTIME_ID);
	qsort(times, cycles, sizeof(double), cmp_double);
	per_core = n * AUDIO_SECONDS / (cpu1 - cpu0);
	printf("%-28s %6d %10.3f %10.3f %10.3f %12.0f\n", label, n, times[cycles / 2],
	       times[cycles * 99 / 100], times[cycles - 1], per_core);
	fflush(stdout);
	mixing_destroy(m);
	engine_destroy(e);
	free(times);
	return per_core;
}

int main(void)
{
	double plain, resampled, pitched;
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/airmix-bench-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	write_file("plain.wav", 48000, 6.0);
	write_file("cd.wav", 44100, 6.0);
	printf("bench_mixing: file players at %d Hz / %d frames, %d s of audio each run\n", RATE,
	       PERIOD, AUDIO_SECONDS);
	printf("(RT cycle time as a fraction of the %.3f ms period; players per core = players x audio time / CPU time)\n",
	       1000.0 * PERIOD / RATE);
	printf("%-28s %6s %10s %10s %10s %12s\n", "source", "N", "p50", "p99", "max", "per core");
	plain = run("48 kHz WAV, plain", "plain.wav", 200, 0);
	resampled = run("44.1 kHz WAV, resampled", "cd.wav", 200, 0);
	pitched = run("44.1 kHz WAV, pitch +3", "cd.wav", 8, 3);
	printf("plain players per core: %.0f\n", plain);
	printf("resampled stereo players per core: %.0f (target >= 500: %s)\n", resampled,
	       resampled >= 500 ? "met" : "not met");
	printf("pitch-shifted players per core: %.0f\n", pitched);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
