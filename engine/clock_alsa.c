/* clock_alsa.c - the ALSA clock backend: airmix drives a PCM device itself,
 * for boxes without a JACK server.
 *
 * The playback device gets the publish bus (the programme) as 2 interleaved
 * channels; the playout (monitor) bus is not wanted from the engine and not
 * sent anywhere, because a device opened here is the programme output. A
 * monitor needs JACK (or a second airmix). Optional capture from [alsa]
 * capture_device delivers [alsa] inputs channels as the engine's inputs.
 * Formats: S16_LE, S32_LE, FLOAT_LE; the rate is exactly [engine]
 * sample_rate (ALSA's own resampling is switched off, a device that cannot
 * do the rate is refused); the period and period count are the nearest the
 * device offers to [engine] period_frames and [alsa] periods; open() tells
 * the engine the negotiated format (host->format) once.
 *
 * DESIGN
 * One thread of ours, created in start() (SCHED_FIFO at [engine] rt_priority
 * when permitted, else normal priority with a line in the log), loops: read a
 * period of capture (if any), deinterleave to float, host->process, convert
 * publish L/R to the device format (clipped to [-1, 1], rounded), and write
 * it with a blocking snd_pcm_writei: the device consuming periods is what
 * clocks the loop. Every buffer is allocated in open(). Playback starts once
 * the first period is written; with capture the playback buffer is first
 * filled with silence (all but one period) so that a full period of capture
 * is available before the playback needs the next one. An xrun (-EPIPE) or a
 * suspend (-ESTRPIPE) is counted with host->xrun and recovered with
 * snd_pcm_recover; any other error (a device unplugged) ends the loop and
 * then, no longer inside a cycle, reports host->lost; there is no reopening,
 * the daemon needs a restart. Both streams are linked (snd_pcm_link) when
 * the devices allow it, so that they start and stop together.
 *
 * Threads: open/start/stop/close on the control thread; alsa_run and what
 * it calls on the backend's clock thread.
 */
#include "clock.h"
#include "config.h"
#include "log.h"

#include <alsa/asoundlib.h>
#include <endian.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALSA_PLAYBACK_CHANNELS 2

struct clock_backend {
	struct clock_host host;
	snd_pcm_t *play;
	snd_pcm_t *cap;			/* NULL = no capture */
	bool linked;
	snd_pcm_format_t format;
	size_t sample_bytes;
	unsigned int rate;
	snd_pcm_uframes_t period;
	unsigned int periods;
	uint32_t n_inputs;
	int rt_priority;

	/* Clock thread only, once started. */
	void *play_buf;			/* period x 2 channels, device format */
	void *cap_buf;			/* period x n_inputs, device format */
	float *in[CLOCK_MAX_INPUTS];
	const float *in_ptrs[CLOCK_MAX_INPUTS];
	float *out[CLOCK_OUT_COUNT];	/* publish L/R; playout NULL: not wanted */

	pthread_t thread;
	bool running;
	atomic_bool quit;
};

static const struct {
	const char *name;
	snd_pcm_format_t format;
} alsa_formats[] = {
	{ "S16_LE", SND_PCM_FORMAT_S16_LE },
	{ "S32_LE", SND_PCM_FORMAT_S32_LE },
	{ "FLOAT_LE", SND_PCM_FORMAT_FLOAT_LE },
};

/* Any thread. */
static int alsa_format_from_name(const char *name, snd_pcm_format_t *format)
{
	size_t i;

	for (i = 0; i < sizeof(alsa_formats) / sizeof(alsa_formats[0]); i++) {
		if (strcmp(alsa_formats[i].name, name) == 0) {
			*format = alsa_formats[i].format;
			return 0;
		}
	}
	return -EINVAL;
}

/* Clock thread: RT-safe sample conversions. */
static inline float alsa_clip(float x)
{
	return x > 1.0f ? 1.0f : (x < -1.0f ? -1.0f : x);
}

static void alsa_to_s16(int16_t *dst, const float *l, const float *r, uint32_t frames)
{
	uint32_t i;

	for (i = 0; i < frames; i++) {
		dst[2 * i] = (int16_t)htole16((uint16_t)(int16_t)lrintf(alsa_clip(l[i]) * 32767.0f));
		dst[2 * i + 1] =
			(int16_t)htole16((uint16_t)(int16_t)lrintf(alsa_clip(r[i]) * 32767.0f));
	}
}

static inline int32_t alsa_s32(float x)
{
	/* 1.0 * 2^31 does not fit: compute in double and clamp. */
	long long v = llrint((double)alsa_clip(x) * 2147483648.0);

	return v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

static void alsa_to_s32(int32_t *dst, const float *l, const float *r, uint32_t frames)
{
	uint32_t i;

	for (i = 0; i < frames; i++) {
		dst[2 * i] = (int32_t)htole32((uint32_t)alsa_s32(l[i]));
		dst[2 * i + 1] = (int32_t)htole32((uint32_t)alsa_s32(r[i]));
	}
}

static inline uint32_t alsa_float_bits(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	return htole32(u);
}

static void alsa_to_float(uint32_t *dst, const float *l, const float *r, uint32_t frames)
{
	uint32_t i;

	for (i = 0; i < frames; i++) {
		dst[2 * i] = alsa_float_bits(alsa_clip(l[i]));
		dst[2 * i + 1] = alsa_float_bits(alsa_clip(r[i]));
	}
}

/* Clock thread: publish L/R -> play_buf. */
static void alsa_interleave(struct clock_backend *b)
{
	const float *l = b->out[CLOCK_OUT_PUBLISH_L];
	const float *r = b->out[CLOCK_OUT_PUBLISH_R];
	uint32_t n = (uint32_t)b->period;

	switch (b->format) {
	case SND_PCM_FORMAT_S16_LE:
		alsa_to_s16(b->play_buf, l, r, n);
		break;
	case SND_PCM_FORMAT_S32_LE:
		alsa_to_s32(b->play_buf, l, r, n);
		break;
	default:
		alsa_to_float(b->play_buf, l, r, n);
		break;
	}
}

/* Clock thread: cap_buf -> in[] as float. */
static void alsa_deinterleave(struct clock_backend *b)
{
	uint32_t n = (uint32_t)b->period, ch = b->n_inputs, i, c;
	const int16_t *s16 = b->cap_buf;
	const int32_t *s32 = b->cap_buf;
	const uint32_t *f32 = b->cap_buf;
	float x;
	uint32_t u;

	for (i = 0; i < n; i++) {
		for (c = 0; c < ch; c++) {
			switch (b->format) {
			case SND_PCM_FORMAT_S16_LE:
				x = (float)(int16_t)le16toh((uint16_t)s16[i * ch + c]) / 32768.0f;
				break;
			case SND_PCM_FORMAT_S32_LE:
				x = (float)((double)(int32_t)le32toh((uint32_t)s32[i * ch + c]) /
					    2147483648.0);
				break;
			default:
				u = le32toh(f32[i * ch + c]);
				memcpy(&x, &u, sizeof(x));
				break;
			}
			b->in[c][i] = x;
		}
	}
}

/* Control thread: hw and sw params for one stream. *period in: wanted,
 * out: what the device took. */
static int alsa_configure(snd_pcm_t *pcm, const char *what, const char *device,
			  snd_pcm_format_t format, unsigned int channels, unsigned int rate,
			  snd_pcm_uframes_t *period, unsigned int *periods, char *err,
			  size_t errlen)
{
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	unsigned int lo = 0, hi = 0;
	int dir = 0, r;

	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
	r = snd_pcm_hw_params_any(pcm, hw);
	if (r < 0)
		goto out_fail;
	r = snd_pcm_hw_params_set_rate_resample(pcm, hw, 0);
	if (r < 0)
		goto out_fail;
	r = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED);
	if (r < 0) {
		snprintf(err, errlen, "alsa %s device %s: no interleaved access", what, device);
		return r;
	}
	r = snd_pcm_hw_params_set_format(pcm, hw, format);
	if (r < 0) {
		snprintf(err, errlen, "alsa %s device %s: format %s not supported", what, device,
			 snd_pcm_format_name(format));
		return r;
	}
	r = snd_pcm_hw_params_set_channels(pcm, hw, channels);
	if (r < 0) {
		snprintf(err, errlen, "alsa %s device %s: %u channels not supported", what, device,
			 channels);
		return r;
	}
	r = snd_pcm_hw_params_set_rate(pcm, hw, rate, 0);
	if (r < 0) {
		snd_pcm_hw_params_get_rate_min(hw, &lo, &dir);
		snd_pcm_hw_params_get_rate_max(hw, &hi, &dir);
		snprintf(err, errlen, "alsa %s device %s cannot run at %u Hz (it offers %u..%u Hz)",
			 what, device, rate, lo, hi);
		return r;
	}
	r = snd_pcm_hw_params_set_period_size_near(pcm, hw, period, &dir);
	if (r < 0)
		goto out_fail;
	r = snd_pcm_hw_params_set_periods_near(pcm, hw, periods, &dir);
	if (r < 0)
		goto out_fail;
	r = snd_pcm_hw_params(pcm, hw);
	if (r < 0)
		goto out_fail;
	snd_pcm_hw_params_get_period_size(hw, period, &dir);
	snd_pcm_hw_params_get_periods(hw, periods, &dir);

	r = snd_pcm_sw_params_current(pcm, sw);
	if (r < 0)
		goto out_fail;
	r = snd_pcm_sw_params_set_start_threshold(pcm, sw, *period);
	if (r < 0)
		goto out_fail;
	r = snd_pcm_sw_params_set_avail_min(pcm, sw, *period);
	if (r < 0)
		goto out_fail;
	r = snd_pcm_sw_params(pcm, sw);
	if (r < 0)
		goto out_fail;
	return 0;

out_fail:
	snprintf(err, errlen, "alsa %s device %s: parameters refused: %s", what, device,
		 snd_strerror(r));
	return r;
}

/* Control thread. */
static void alsa_free(struct clock_backend *b)
{
	uint32_t i;

	if (b->cap) {
		if (b->linked)
			snd_pcm_unlink(b->cap);
		snd_pcm_close(b->cap);
	}
	if (b->play)
		snd_pcm_close(b->play);
	for (i = 0; i < b->n_inputs; i++)
		free(b->in[i]);
	free(b->out[CLOCK_OUT_PUBLISH_L]);
	free(b->out[CLOCK_OUT_PUBLISH_R]);
	free(b->play_buf);
	free(b->cap_buf);
	free(b);
}

/* Control thread: capture stream, same format, rate and period. */
static int alsa_open_capture(struct clock_backend *b, const struct airmix_config *cfg,
			     char *err, size_t errlen)
{
	snd_pcm_uframes_t period = b->period;
	unsigned int periods = b->periods;
	int r;

	r = snd_pcm_open(&b->cap, cfg->alsa_capture_device, SND_PCM_STREAM_CAPTURE, 0);
	if (r < 0) {
		b->cap = NULL;
		snprintf(err, errlen, "alsa capture device %s cannot be opened: %s",
			 cfg->alsa_capture_device, snd_strerror(r));
		return r;
	}
	r = alsa_configure(b->cap, "capture", cfg->alsa_capture_device, b->format, b->n_inputs,
			   b->rate, &period, &periods, err, errlen);
	if (r < 0)
		return r;
	if (period != b->period) {
		snprintf(err, errlen,
			 "alsa capture device %s: period %lu frames differs from playback's %lu",
			 cfg->alsa_capture_device, (unsigned long)period,
			 (unsigned long)b->period);
		return -EINVAL;
	}
	b->linked = snd_pcm_link(b->cap, b->play) == 0;
	if (!b->linked)
		log_msg(LOG_INFO, "alsa: capture and playback cannot be linked; started apart");
	return 0;
}

/* Control thread: every buffer the clock thread uses. */
static int alsa_alloc_buffers(struct clock_backend *b)
{
	size_t n = b->period;
	uint32_t i;

	b->play_buf = calloc(n * ALSA_PLAYBACK_CHANNELS, b->sample_bytes);
	b->out[CLOCK_OUT_PUBLISH_L] = calloc(n, sizeof(float));
	b->out[CLOCK_OUT_PUBLISH_R] = calloc(n, sizeof(float));
	if (!b->play_buf || !b->out[CLOCK_OUT_PUBLISH_L] || !b->out[CLOCK_OUT_PUBLISH_R])
		return -ENOMEM;
	if (!b->n_inputs)
		return 0;
	b->cap_buf = calloc(n * b->n_inputs, b->sample_bytes);
	if (!b->cap_buf)
		return -ENOMEM;
	for (i = 0; i < b->n_inputs; i++) {
		b->in[i] = calloc(n, sizeof(float));
		if (!b->in[i])
			return -ENOMEM;
		b->in_ptrs[i] = b->in[i];
	}
	return 0;
}

/* Control thread. */
static int alsa_open(const struct airmix_config *cfg, const struct clock_host *host,
		     struct clock_backend **out, char *err, size_t errlen)
{
	struct clock_backend *b;
	int r;

	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->host = *host;
	b->rate = (unsigned int)cfg->sample_rate;
	b->period = (snd_pcm_uframes_t)cfg->period_frames;
	b->periods = cfg->alsa_periods > 1 ? (unsigned int)cfg->alsa_periods : 2;
	b->rt_priority = cfg->rt_priority;
	if (alsa_format_from_name(cfg->alsa_format, &b->format) < 0) {
		snprintf(err, errlen, "alsa format %s unknown (S16_LE, S32_LE or FLOAT_LE)",
			 cfg->alsa_format);
		r = -EINVAL;
		goto out_free;
	}
	b->sample_bytes = (size_t)snd_pcm_format_physical_width(b->format) / 8;
	if (cfg->alsa_capture_device[0]) {
		if (cfg->alsa_inputs < 1 || cfg->alsa_inputs > CLOCK_MAX_INPUTS) {
			snprintf(err, errlen, "alsa inputs %d out of range 1..%d", cfg->alsa_inputs,
				 CLOCK_MAX_INPUTS);
			r = -EINVAL;
			goto out_free;
		}
		b->n_inputs = (uint32_t)cfg->alsa_inputs;
	}

	r = snd_pcm_open(&b->play, cfg->alsa_device, SND_PCM_STREAM_PLAYBACK, 0);
	if (r < 0) {
		b->play = NULL;
		snprintf(err, errlen, "alsa device %s cannot be opened: %s", cfg->alsa_device,
			 snd_strerror(r));
		goto out_free;
	}
	r = alsa_configure(b->play, "playback", cfg->alsa_device, b->format,
			   ALSA_PLAYBACK_CHANNELS, b->rate, &b->period, &b->periods, err, errlen);
	if (r < 0)
		goto out_free;
	if (b->n_inputs) {
		r = alsa_open_capture(b, cfg, err, errlen);
		if (r < 0)
			goto out_free;
	}
	r = alsa_alloc_buffers(b);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	r = host->format(host->user, b->rate, (uint32_t)b->period);
	if (r < 0) {
		snprintf(err, errlen, "engine cannot run at %u Hz / %lu frames", b->rate,
			 (unsigned long)b->period);
		goto out_free;
	}
	*out = b;
	return 0;

out_free:
	alsa_free(b);
	return r;
}

/* Clock thread: write one period of play_buf, whole. */
static int alsa_write(struct clock_backend *b, const void *buf)
{
	const char *p = buf;
	snd_pcm_uframes_t left = b->period;
	snd_pcm_sframes_t n;

	while (left) {
		n = snd_pcm_writei(b->play, p, left);
		if (n < 0)
			return (int)n;
		left -= (snd_pcm_uframes_t)n;
		p += (size_t)n * ALSA_PLAYBACK_CHANNELS * b->sample_bytes;
	}
	return 0;
}

/* Clock thread: read one period into cap_buf, whole. */
static int alsa_read(struct clock_backend *b)
{
	char *p = b->cap_buf;
	snd_pcm_uframes_t left = b->period;
	snd_pcm_sframes_t n;

	while (left) {
		n = snd_pcm_readi(b->cap, p, left);
		if (n < 0)
			return (int)n;
		left -= (snd_pcm_uframes_t)n;
		p += (size_t)n * b->n_inputs * b->sample_bytes;
	}
	return 0;
}

/* Clock thread: with capture, queue all but one period of silence so that
 * playback has a buffer to play while the first capture period fills. */
static int alsa_prefill(struct clock_backend *b)
{
	unsigned int i;
	int r;

	if (!b->cap)
		return 0;
	memset(b->play_buf, 0, b->period * ALSA_PLAYBACK_CHANNELS * b->sample_bytes);
	for (i = 0; i + 1 < b->periods; i++) {
		r = alsa_write(b, b->play_buf);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Clock thread: after an xrun or a suspend on pcm. 0 when running again. */
static int alsa_recover(struct clock_backend *b, snd_pcm_t *pcm, int err)
{
	if (err != -EPIPE && err != -ESTRPIPE)
		return err;
	b->host.xrun(b->host.user, 0, 0);
	err = snd_pcm_recover(pcm, err, 1);
	if (err < 0 || !b->cap)
		return err;
	/* Duplex: bring both streams back in step (a linked pair moves as one). */
	snd_pcm_drop(b->play);
	if (!b->linked)
		snd_pcm_drop(b->cap);
	err = snd_pcm_prepare(b->play);
	if (err == 0 && !b->linked)
		err = snd_pcm_prepare(b->cap);
	return err < 0 ? err : alsa_prefill(b);
}

/* Clock thread: one period in, engine, one period out. */
static int alsa_cycle(struct clock_backend *b, const struct clock_io *io)
{
	int r;

	if (b->cap) {
		r = alsa_read(b);
		if (r < 0)
			return alsa_recover(b, b->cap, r);
		alsa_deinterleave(b);
	}
	b->host.process(b->host.user, io);
	alsa_interleave(b);
	r = alsa_write(b, b->play_buf);
	if (r < 0)
		return alsa_recover(b, b->play, r);
	return 0;
}

/* Clock thread. */
static void *alsa_run(void *arg)
{
	struct clock_backend *b = arg;
	struct clock_io io = {
		.nframes = (uint32_t)b->period,
		.n_inputs = b->n_inputs,
		.inputs = b->in_ptrs,
		.outputs = b->out,
	};
	char why[160];
	int r = alsa_prefill(b);

	while (r == 0 && !atomic_load_explicit(&b->quit, memory_order_relaxed))
		r = alsa_cycle(b, &io);
	if (r < 0) {
		snprintf(why, sizeof(why), "alsa device failed: %s", snd_strerror(r));
		b->host.lost(b->host.user, why);
	}
	return NULL;
}

/* Control thread: the clock thread, SCHED_FIFO when allowed. */
static int alsa_spawn(struct clock_backend *b)
{
	struct sched_param sp = { .sched_priority = b->rt_priority };
	pthread_attr_t attr;
	int r;

	if (b->rt_priority > 0) {
		pthread_attr_init(&attr);
		pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
		pthread_attr_setschedparam(&attr, &sp);
		r = pthread_create(&b->thread, &attr, alsa_run, b);
		pthread_attr_destroy(&attr);
		if (r == 0)
			return 0;
		log_msg(LOG_INFO, "alsa: SCHED_FIFO priority %d refused (%s), running at normal "
			"priority", b->rt_priority, strerror(r));
	}
	return pthread_create(&b->thread, NULL, alsa_run, b);
}

/* Control thread. */
static int alsa_start(struct clock_backend *b, char *err, size_t errlen)
{
	int r;

	r = snd_pcm_prepare(b->play);
	if (r == 0 && b->cap && !b->linked)
		r = snd_pcm_prepare(b->cap);
	if (r < 0) {
		snprintf(err, errlen, "alsa prepare failed: %s", snd_strerror(r));
		return r;
	}
	atomic_store(&b->quit, false);
	r = alsa_spawn(b);
	if (r) {
		snprintf(err, errlen, "alsa clock thread: %s", strerror(r));
		return -r;
	}
	b->running = true;
	return 0;
}

/* Control thread: returns within about one buffer of the device. */
static void alsa_stop(struct clock_backend *b)
{
	if (!b->running)
		return;
	atomic_store(&b->quit, true);
	pthread_join(b->thread, NULL);
	b->running = false;
	snd_pcm_drop(b->play);
	if (b->cap && !b->linked)
		snd_pcm_drop(b->cap);
}

/* Control thread. */
static void alsa_close(struct clock_backend *b)
{
	if (!b)
		return;
	alsa_stop(b);
	alsa_free(b);
}

/* Any thread: fixed after open. */
static uint32_t alsa_inputs(struct clock_backend *b)
{
	return b->n_inputs;
}

const struct clock_ops clock_alsa_ops = {
	"alsa", alsa_open, alsa_start, alsa_stop, alsa_close, alsa_inputs,
};
