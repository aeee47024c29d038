/* bench.h - small helpers the benchmarks share: clocks, pacing to real
 * time, a cheap noise source for the graph, and the resident set size.
 *
 * Threads: any; bench_noise_render on the thread that runs the cycles.
 */
#ifndef AIRMIX_TEST_BENCH_H
#define AIRMIX_TEST_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Seconds on a clock (CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, ...). */
static inline double bench_now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sleeps until t seconds on CLOCK_MONOTONIC. */
static inline void bench_sleep_until(double t)
{
	struct timespec ts = { (time_t)t, (long)((t - (double)(time_t)t) * 1e9) };

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* White noise at about -20 dBFS from a linear congruential generator: a
 * render callback for a mono source whose state is a struct bench_noise. */
struct bench_noise {
	uint32_t x;
};

static inline void bench_noise_render(void *state, float *const *out, uint32_t n)
{
	struct bench_noise *s = state;

	for (uint32_t i = 0; i < n; i++) {
		s->x = s->x * 1664525u + 1013904223u;
		out[0][i] = (float)(int32_t)s->x * (0.1f / 2147483648.0f);
	}
}

/* Resident set size in MB, from /proc/self/statm. */
static inline double bench_rss_mb(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

#endif
