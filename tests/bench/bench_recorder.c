/* bench_recorder.c - stems recorded in parallel to this machine's disk at
 * 48000 Hz / 24-bit WAV, on the offline clock paced to real time.
 *
 * For N stems (N noise sources on the publish bus), takes of up to 16 tracks
 * each (a take's limit) plus one take of the mix record AUDIO_SECONDS of
 * audio while the main thread runs the graph one period at a time and
 * sleeps to stay on the wall clock, as a sound card would; the writers are
 * never waited for, so a writer that falls behind shows as overruns. Figures
 * per row: overrun frames (the target is zero), the disk rate, and the
 * writers' CPU per stem: the process CPU time minus the main (clock)
 * thread's, per second of audio and per stem (the engine's event and history
 * threads are counted too; they are idle here).
 *
 * Threads: the main thread drives the clock (it is the RT thread inside
 * engine_offline_run()); the recorder's writer threads run beside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/config.h"
#include "bench.h"
#include "offline.h"
#include "engine/engine.h"
#include "recorder/recorder.h"

#define RATE 48000
#define PERIOD 256
#define AUDIO_SECONDS 5
#define MAX_STEMS 256
#define TARGET_STEMS 64

static char dir[64];

struct row {
	uint64_t overrun;
	double mb_per_s;
	double cpu_per_stem;	/* writer CPU seconds per second of audio, per stem */
	int ok;
};

static struct engine *make_engine(void)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct engine *e = NULL;
	char err[256];

	offline_config(&cfg, RATE, PERIOD);
	if (engine_create(&cfg, &opts, NULL, &e, err, sizeof(err)) < 0 ||
	    engine_start(e, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: %s\n", err);
		return NULL;
	}
	return e;
}

static struct row run_row(int stems)
{
	struct row res = { 0 };
	struct engine *e = make_engine();
	struct recorder *r = NULL;
	struct recorder_config rc = { .dir = dir, .name_template = "b%H%M%S-{track}",
				      .header_interval_ms = 1000, .ring_ms = 4000 };
	static struct bench_noise noise[MAX_STEMS];
	uint32_t ids[MAX_STEMS];
	int takes[MAX_STEMS / RECORDER_MAX_TRACKS + 2], n_takes = 0;
	uint64_t bytes = 0;
	double t0, cpu0, main0, start;

	if (!e || recorder_create(e, &rc, &r) < 0)
		goto out;
	for (int i = 0; i < stems; i++) {
		char name[32];

		noise[i].x = (uint32_t)i * 7919u + 1;
		snprintf(name, sizeof(name), "stem%03d", i);
		if (engine_add_custom(e, name, "bench", 1, ENGINE_TO_PUBLISH, bench_noise_render, NULL,
				      &noise[i], &ids[i]) < 0)
			goto out;
	}
	for (int i = 0; i <= stems; i += RECORDER_MAX_TRACKS) {	/* the last: the mix */
		int n = stems - i < RECORDER_MAX_TRACKS ? stems - i : RECORDER_MAX_TRACKS;
		struct take_request req = {
			.tracks = n ? &ids[i] : (uint32_t[]){ ENGINE_BUS_PUBLISH },
			.n_tracks = n ? (uint32_t)n : 1, .mix = n < RECORDER_MAX_TRACKS && n,
			.format = RECORDER_FORMAT_WAV, .bits = 24,
		};

		if (recorder_start(r, &req, &takes[n_takes]) < 0) {
			fprintf(stderr, "bench: take: %s\n", recorder_last_error());
			goto out;
		}
		n_takes++;
		if (req.mix)
			break;
	}
	t0 = start = bench_now(CLOCK_MONOTONIC);
	cpu0 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
	main0 = bench_now(CLOCK_THREAD_CPUTIME_ID);
	for (uint64_t done = 0; done < (uint64_t)RATE * AUDIO_SECONDS; done += PERIOD) {
		engine_offline_run(e, PERIOD, NULL, NULL);
		bench_sleep_until(start + (double)(done + PERIOD) / RATE);
	}
	for (int k = 0; k < n_takes; k++)
		recorder_stop(r, takes[k]);
	{
		double cpu = bench_now(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
		double main_cpu = bench_now(CLOCK_THREAD_CPUTIME_ID) - main0;
		double wall = bench_now(CLOCK_MONOTONIC) - t0;
		struct take_info *info = malloc(sizeof(*info));

		for (int k = 0; info && k < n_takes; k++) {
			if (recorder_get(r, takes[k], info) < 0)
				continue;
			res.overrun += info->overrun_frames;
			for (uint32_t f = 0; f < info->n_files; f++)
				bytes += info->files[f].bytes;
		}
		for (int k = 0; k < n_takes; k++)
			recorder_delete(r, takes[k]);
		free(info);
		res.mb_per_s = (double)bytes / (1 << 20) / wall;
		res.cpu_per_stem = (cpu - main_cpu) / AUDIO_SECONDS / (stems + 1);
		res.ok = 1;
	}
out:
	recorder_destroy(r);
	engine_destroy(e);
	return res;
}

int main(void)
{
	static const int sizes[] = { 16, 64, 128, 256 };
	int best = 0;
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/airmix-bench-rec-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	printf("bench_recorder: N stems + the mix, 48000 Hz / 24-bit WAV, %d s of audio paced to "
	       "real time, disk %s\n", AUDIO_SECONDS, dir);
	printf("%8s %12s %10s %22s\n", "stems", "overruns", "MB/s", "writer CPU per stem");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct row row = run_row(sizes[i]);

		if (!row.ok) {
			printf("%8d failed to run\n", sizes[i]);
			continue;
		}
		printf("%8d %12llu %10.1f %14.2f ms/s (%.3f %%)\n", sizes[i],
		       (unsigned long long)row.overrun, row.mb_per_s, row.cpu_per_stem * 1e3,
		       row.cpu_per_stem * 100);
		if (!row.overrun && sizes[i] > best)
			best = sizes[i];
	}
	printf("most stems (+ the mix) recorded with zero overruns: %d (target >= %d: %s)\n", best,
	       TARGET_STEMS, best >= TARGET_STEMS ? "met" : "NOT met");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: cannot remove %s\n", dir);
	return 0;
}
