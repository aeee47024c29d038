/* bench.h - small helpers the benchmarks share: clocks, pacing to real
 * time, a cheap noise source for the graph, the resident set size, and
 * the median and slope the per-track benchmarks report.
 *
 * Threads: any; bench_noise_render on the thread that runs the cycles.
 */
#ifndef AIRMIX_TEST_BENCH_H
#define AIRMIX_TEST_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* What a run cost: CPU seconds per audio second, airmix's own (every thread
 * but the benchmark's) and the whole process's. */
struct bench_cost {
	double airmix;
	double process;
};

/* qsort order of struct bench_cost by airmix's own cost. */
static inline int bench_by_airmix(const void *a, const void *b)
{
	const struct bench_cost *x = a, *y = b;

	return (x->airmix > y->airmix) - (x->airmix < y->airmix);
}

/* qsort order of doubles. */
static inline int bench_by_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of n values (sorts them). */
static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(v[0]), bench_by_double);
	return v[n / 2];
}

/* Least-squares slope of y over x: what one more track costs. */
static inline double bench_slope(const double *x, const double *y, int n)
{
	double mx = 0.0, my = 0.0, sxy = 0.0, sxx = 0.0;

	for (int i = 0; i < n; i++) {
		mx += x[i] / n;
		my += y[i] / n;
	}
	for (int i = 0; i < n; i++) {
		sxy += (x[i] - mx) * (y[i] - my);
		sxx += (x[i] - mx) * (x[i] - mx);
	}
	return sxx > 0.0 ? sxy / sxx : 0.0;
}

#endif
