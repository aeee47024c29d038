/* clock_internal.c - a timer-driven clock: the default when no JACK server
 * runs, so that airmixd works on any machine, sound card or not.
 *
 * DESIGN
 * One thread (SCHED_FIFO at cfg rt_priority when the system allows it, else
 * normal priority with a log line) sleeps until absolute deadlines one period
 * apart on CLOCK_MONOTONIC and runs a cycle at each. Inputs are silence and
 * outputs go nowhere but the engine's taps. There is no device buffer to
 * underrun: a late wake-up (a busy or virtual machine) is caught up by
 * running the missed cycles at once, so that the sample count keeps pace
 * with the wall clock for recorders and pushers, whose rings absorb the
 * short burst. Only a stall longer than CATCH_UP_MS drops cycles: that counts
 * as an xrun and the schedule restarts from now.
 *
 * Threads: open/start/stop/close on the control thread; the clock thread
 * calls host->process (the sleep is outside the engine's RT-marked code).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "log.h"

#define CATCH_UP_MS 100

struct clock_backend {
	struct clock_host host;
	uint32_t rate, period;
	int priority;
	float *out[CLOCK_OUT_COUNT];
	pthread_t thread;
	bool started;
	_Atomic bool quit;
};

static void add_ns(struct timespec *t, long long ns)
{
	long long total = t->tv_nsec + ns;

	t->tv_sec += total / 1000000000LL;
	t->tv_nsec = total % 1000000000LL;
}

static long long diff_ns(const struct timespec *a, const struct timespec *b)
{
	return (a->tv_sec - b->tv_sec) * 1000000000LL + (a->tv_nsec - b->tv_nsec);
}

static void *clock_main(void *arg)
{
	struct clock_backend *b = arg;
	const long long period_ns = (long long)b->period * 1000000000LL / b->rate;
	const long long catch_up_ns = CATCH_UP_MS * 1000000LL > 4 * period_ns
					      ? CATCH_UP_MS * 1000000LL
					      : 4 * period_ns;
	struct clock_io io = {
		.nframes = b->period,
		.outputs = b->out,
	};
	struct timespec next, now;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load_explicit(&b->quit, memory_order_relaxed)) {
		b->host.process(b->host.user, &io);
		add_ns(&next, period_ns);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (diff_ns(&now, &next) > catch_up_ns) {
			b->host.xrun(b->host.user, diff_ns(&now, &next), diff_ns(&now, &next));
			next = now;
			continue;
		}
		if (diff_ns(&now, &next) >= 0)
			continue;	/* late: catch up at once */
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	return NULL;
}

static int internal_open(const struct airmix_config *cfg, const struct clock_host *host,
			 struct clock_backend **out, char *err, size_t errlen)
{
	struct clock_backend *b = calloc(1, sizeof(*b));
	int ret;

	if (!b)
		goto out_nomem;
	b->host = *host;
	b->rate = (uint32_t)cfg->sample_rate;
	b->period = (uint32_t)cfg->period_frames;
	b->priority = cfg->rt_priority;
	for (int o = 0; o < CLOCK_OUT_COUNT; o++) {
		b->out[o] = calloc(b->period, sizeof(float));
		if (!b->out[o])
			goto out_free;
	}
	ret = host->format(host->user, b->rate, b->period);
	if (ret < 0) {
		snprintf(err, errlen, "engine refused %u Hz / %u frames", b->rate, b->period);
		for (int o = 0; o < CLOCK_OUT_COUNT; o++)
			free(b->out[o]);
		free(b);
		return ret;
	}
	*out = b;
	return 0;

out_free:
	for (int o = 0; o < CLOCK_OUT_COUNT; o++)
		free(b->out[o]);
	free(b);
out_nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

static int start_thread(struct clock_backend *b, bool realtime)
{
	pthread_attr_t attr;
	struct sched_param sp = { .sched_priority = b->priority };
	int ret;

	pthread_attr_init(&attr);
	if (realtime) {
		pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
		pthread_attr_setschedparam(&attr, &sp);
	}
	ret = pthread_create(&b->thread, &attr, clock_main, b);
	pthread_attr_destroy(&attr);
	return -ret;
}

static int internal_start(struct clock_backend *b, char *err, size_t errlen)
{
	int ret;

	atomic_store(&b->quit, false);
	ret = start_thread(b, true);
	if (ret == -EPERM) {
		log_msg(LOG_INFO, "internal clock: no permission for SCHED_FIFO %d, running at normal priority",
			b->priority);
		ret = start_thread(b, false);
	}
	if (ret < 0) {
		snprintf(err, errlen, "cannot start the clock thread: %s", strerror(-ret));
		return ret;
	}
	b->started = true;
	return 0;
}

static void internal_stop(struct clock_backend *b)
{
	if (!b->started)
		return;
	atomic_store(&b->quit, true);
	pthread_join(b->thread, NULL);
	b->started = false;
}

static void internal_close(struct clock_backend *b)
{
	internal_stop(b);
	for (int o = 0; o < CLOCK_OUT_COUNT; o++)
		free(b->out[o]);
	free(b);
}

static uint32_t internal_inputs(struct clock_backend *b)
{
	return 0;
}

const struct clock_ops clock_internal_ops = {
	.name = "internal",
	.open = internal_open,
	.start = internal_start,
	.stop = internal_stop,
	.close = internal_close,
	.inputs = internal_inputs,
};
