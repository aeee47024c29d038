/* clock_offline.c - runs cycles as fast as the CPU allows, for tests and
 * renders: deterministic, no timer, no xruns.
 *
 * Either the caller steps it (clock_offline_run, the engine's manual_clock
 * option used by the tests) or start() runs a thread that cycles until
 * stop(). Inputs and outputs of clock_offline_run are whole arrays that the
 * cycles walk through one period at a time.
 *
 * Threads: open/start/stop/close on the control thread; clock_offline_run on
 * the caller's thread, which acts as the RT thread for its duration.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"

struct clock_backend {
	struct clock_host host;
	uint32_t rate, period;
	uint32_t n_inputs;
	float *scratch_out[CLOCK_OUT_COUNT];
	pthread_t thread;
	bool started;
	_Atomic bool quit;
};

static int offline_open(const struct airmix_config *cfg, const struct clock_host *host,
			struct clock_backend **out, char *err, size_t errlen)
{
	struct clock_backend *b = calloc(1, sizeof(*b));
	int ret;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->host = *host;
	b->rate = (uint32_t)cfg->sample_rate;
	b->period = (uint32_t)cfg->period_frames;
	b->n_inputs = (uint32_t)cfg->jack_inputs;
	for (int o = 0; o < CLOCK_OUT_COUNT; o++) {
		b->scratch_out[o] = calloc(b->period, sizeof(float));
		if (!b->scratch_out[o]) {
			ret = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out_free;
		}
	}
	ret = host->format(host->user, b->rate, b->period);
	if (ret < 0) {
		snprintf(err, errlen, "engine refused %u Hz / %u frames", b->rate, b->period);
		goto out_free;
	}
	*out = b;
	return 0;

out_free:
	for (int o = 0; o < CLOCK_OUT_COUNT; o++)
		free(b->scratch_out[o]);
	free(b);
	return ret;
}

int clock_offline_run(struct clock_backend *b, uint32_t cycles, const float *const *inputs,
		      float *const *outputs)
{
	const float *in[CLOCK_MAX_INPUTS] = { 0 };
	float *out[CLOCK_OUT_COUNT];
	struct clock_io io = {
		.nframes = b->period,
		.n_inputs = b->n_inputs,
		.inputs = in,
		.outputs = out,
	};

	if (b->started)
		return -EBUSY;
	for (uint32_t c = 0; c < cycles; c++) {
		size_t off = (size_t)c * b->period;

		for (uint32_t i = 0; i < b->n_inputs && i < CLOCK_MAX_INPUTS; i++)
			in[i] = inputs && inputs[i] ? inputs[i] + off : NULL;
		for (int o = 0; o < CLOCK_OUT_COUNT; o++)
			out[o] = outputs && outputs[o] ? outputs[o] + off : NULL;
		b->host.process(b->host.user, &io);
	}
	return 0;
}

static void *offline_main(void *arg)
{
	struct clock_backend *b = arg;
	struct clock_io io = {
		.nframes = b->period,
		.outputs = b->scratch_out,
	};

	while (!atomic_load_explicit(&b->quit, memory_order_relaxed))
		b->host.process(b->host.user, &io);
	return NULL;
}

static int offline_start(struct clock_backend *b, char *err, size_t errlen)
{
	int ret;

	atomic_store(&b->quit, false);
	ret = pthread_create(&b->thread, NULL, offline_main, b);
	if (ret) {
		snprintf(err, errlen, "cannot start the offline thread: %s", strerror(ret));
		return -ret;
	}
	b->started = true;
	return 0;
}

static void offline_stop(struct clock_backend *b)
{
	if (!b->started)
		return;
	atomic_store(&b->quit, true);
	pthread_join(b->thread, NULL);
	b->started = false;
}

static void offline_close(struct clock_backend *b)
{
	offline_stop(b);
	for (int o = 0; o < CLOCK_OUT_COUNT; o++)
		free(b->scratch_out[o]);
	free(b);
}

static uint32_t offline_inputs(struct clock_backend *b)
{
	return b->n_inputs;
}

const struct clock_ops clock_offline_ops = {
	.name = "offline",
	.open = offline_open,
	.start = offline_start,
	.stop = offline_stop,
	.close = offline_close,
	.inputs = offline_inputs,
};
