/* track.c - one received remote track; see track.h for the design.
 * Threads: as track.h says for each function. */
#include "track.h"

#include <errno.h>
#include <math.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <stdlib.h>
#include <string.h>

#include "dsp/mix.h"
#include "drift.h"
#include "jitter.h"

#define STEP 960u			/* 20 ms at 48 kHz: adjustments, concealment */
#define MAX_DECODE 5760u		/* 120 ms: the longest Opus packet */
#define SLIPPED_CAP (MAX_DECODE + MAX_DECODE / 32 + 1)	/* drift_process's most */
#define JITTER_SLOTS 128u
#define MISSING_RESET 10u		/* 200 ms of nothing: resynchronise */
#define RESAMPLER_QUALITY 5		/* SpeexDSP, fixed ratio, engines not at 48 kHz */
#define SETTLE_ARRIVALS 50u		/* about a second */
#define DEPTH_SMOOTHING 0.05		/* per arrival (about 1 s at 50 packets/s) */
#define KP 0.2				/* correction per second of buffer error */
#define KI 0.01				/* per second per second */
#define DEADBAND_S 0.002		/* buffer error the proportional part ignores */
#define CONTROL_STEP 0.1		/* seconds of audio between correction updates */

enum play_state {
	STATE_WAIT,		/* nothing played yet */
	STATE_PREBUFFER,	/* (re)filling the jitter buffer to its floor */
	STATE_PLAY,
};

struct track {
	struct track_config cfg;
	struct track_out *out;
	OpusDecoder *dec;
	struct drift *drift;
	SpeexResamplerState *rs;	/* 48 kHz to the engine rate; NULL at 48 kHz */
	struct jitter *jb;
	struct rtp_seq seq;
	enum play_state state;
	uint32_t missing_run;
	bool last_was_dtx;
	uint16_t last_seq;		/* of the last packet played */
	/* drift control */
	bool have_target;
	uint32_t settle;		/* arrivals measured since playout began */
	double target;			/* samples at 48 kHz */
	double depth;			/* smoothed buffered audio, samples at 48 kHz */
	double integral;		/* fraction: the sender's clock offset */
	double correction;		/* what drift_process drains faster by */
	double since_control;		/* seconds produced since the last update */
	int64_t adjusted_seen;
	/* counters */
	uint64_t packets, dropped, plc, fec, dtx;
	double last_arrival;
	bool have_arrival;
	/* buffers */
	float *pcm;			/* MAX_DECODE frames, decoded */
	float *slipped;			/* out of the drift stage */
	float *res;			/* resampled to the engine rate */
	uint32_t res_cap;
};

/* ---- RT ------------------------------------------------------------------ */

/* Frames from the ring (interleaved) to the node's planar channels. */
static void unpack(float *const *out, uint32_t at, const float *src, uint32_t n, uint32_t ch)
{
	if (n == 0)
		return;
	if (ch == 2)
		dsp_deinterleave2(out[0] + at, out[1] + at, src, n);
	else
		memcpy(out[0] + at, src, n * sizeof(float));
}

/* The ring's frames were written on the media thread's core: ask for all
 * their cache lines at once, so their transfers overlap instead of each
 * load waiting for the one before (perf: a quarter less time in these
 * reads at 64 stereo tracks). */
static void prefetch(const float *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i += 16)
		__builtin_prefetch(p + i);
}

void track_render(void *state, float *const *out, uint32_t nframes)
{
	struct track_out *o = state;
	void *a, *b;
	uint32_t na, nb, got, ch = o->channels;

	got = spsc_ring_peek(&o->ring, nframes, &a, &na, &b, &nb);
	prefetch(a, na * ch);
	prefetch(b, nb * ch);
	unpack(out, 0, a, na, ch);
	unpack(out, na, b, nb, ch);
	spsc_ring_consume(&o->ring, got);
	if (got < nframes) {
		for (uint32_t c = 0; c < ch; c++)
			memset(out[c] + got, 0, (nframes - got) * sizeof(float));
		if (atomic_load_explicit(&o->playing, memory_order_relaxed))
			atomic_fetch_add_explicit(&o->underruns, 1, memory_order_relaxed);
	}
}

void track_out_free(void *state)
{
	struct track_out *o = state;

	if (!o)
		return;
	spsc_ring_free(&o->ring);
	free(o);
}

/* ---- create/destroy ------------------------------------------------------ */

int track_create(const struct track_config *cfg, struct track **out)
{
	struct jitter_config jc = { .step = STEP, .margin = cfg->jitter_min, .slots = JITTER_SLOTS };
	struct track *t;
	int err = 0, ret = -ENOMEM;

	if ((cfg->channels != 1 && cfg->channels != 2) || cfg->rate < 8000 || cfg->rate > 192000 ||
	    !cfg->ring_frames)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	rtp_seq_init(&t->seq);
	t->out = calloc(1, sizeof(*t->out));
	if (!t->out || spsc_ring_init(&t->out->ring, cfg->ring_frames,
				      cfg->channels * sizeof(float)) < 0)
		goto out_fail;
	t->out->channels = cfg->channels;
	t->res_cap = (uint32_t)((double)MAX_DECODE * cfg->rate / TRACK_RTP_RATE * 1.1) + 64;
	t->pcm = calloc((size_t)MAX_DECODE * cfg->channels, sizeof(float));
	t->slipped = calloc((size_t)SLIPPED_CAP * cfg->channels, sizeof(float));
	t->res = calloc((size_t)t->res_cap * cfg->channels, sizeof(float));
	if (!t->pcm || !t->slipped || !t->res)
		goto out_fail;
	t->dec = opus_decoder_create(TRACK_RTP_RATE, (int)cfg->channels, &err);
	if (!t->dec || err != OPUS_OK) {
		ret = -EINVAL;
		goto out_fail;
	}
	ret = drift_create(cfg->channels, cfg->drift_max, MAX_DECODE, &t->drift);
	if (ret < 0)
		goto out_fail;
	ret = -ENOMEM;
	if (cfg->rate != TRACK_RTP_RATE) {
		t->rs = speex_resampler_init(cfg->channels, TRACK_RTP_RATE, cfg->rate,
					     RESAMPLER_QUALITY, &err);
		if (!t->rs)
			goto out_fail;
		speex_resampler_skip_zeros(t->rs);
	}
	ret = jitter_create(&jc, &t->jb);
	if (ret < 0)
		goto out_fail;
	*out = t;
	return 0;

out_fail:
	track_out_free(t->out);
	t->out = NULL;
	track_destroy(t);
	return ret;
}

void track_destroy(struct track *t)
{
	if (!t)
		return;
	jitter_destroy(t->jb);
	drift_destroy(t->drift);
	if (t->rs)
		speex_resampler_destroy(t->rs);
	if (t->dec)
		opus_decoder_destroy(t->dec);
	free(t->pcm);
	free(t->slipped);
	free(t->res);
	free(t);
}

struct track_out *track_output(struct track *t)
{
	return t->out;
}

/* ---- receive ------------------------------------------------------------- */

static uint32_t ring_frames(struct track *t)
{
	return spsc_ring_readable(&t->out->ring);
}

/* Buffered audio ahead of the playout point, at 48 kHz. */
static double buffered(struct track *t)
{
	return jitter_depth(t->jb) + (double)ring_frames(t) * TRACK_RTP_RATE / t->cfg.rate;
}

/* The level the controller holds is where the smoothed depth settled in
 * the first second of playout (arrivals come in bursts: one sample of it
 * could be a peak or a trough). */
static void measure(struct track *t)
{
	double d = buffered(t);

	if (!t->settle) {
		t->depth = d;
		t->have_target = false;
	} else {
		t->depth += (d - t->depth) * DEPTH_SMOOTHING;
	}
	if (t->settle < SETTLE_ARRIVALS && ++t->settle == SETTLE_ARRIVALS) {
		t->target = t->depth;
		t->have_target = true;
	}
}

enum track_rx track_receive(struct track *t, const struct rtp_packet *p, uint32_t arrival,
			    double now_s)
{
	int span;
	enum jitter_put_result put;

	span = p->payload_len ? opus_packet_get_nb_samples(p->payload, (opus_int32)p->payload_len,
							   TRACK_RTP_RATE)
			      : OPUS_INVALID_PACKET;
	if (span <= 0 || (uint32_t)span > MAX_DECODE) {
		t->dropped++;
		return TRACK_RX_DROPPED;
	}
	switch (rtp_seq_update(&t->seq, p->seq)) {
	case RTP_SEQ_DUPLICATE:
		return TRACK_RX_DUPLICATE;
	case RTP_SEQ_BAD:
		t->dropped++;
		return TRACK_RX_DROPPED;
	case RTP_SEQ_NEW:
		break;
	}
	t->packets++;
	t->last_arrival = now_s;
	t->have_arrival = true;
	rtp_jitter_update(&t->seq, arrival, p->timestamp);
	put = jitter_put(t->jb, p->payload, p->payload_len, p->timestamp, (uint32_t)span, p->seq);
	if (put == JITTER_PUT_LATE)
		return TRACK_RX_LATE;
	if (put != JITTER_PUT_OK) {
		t->dropped++;
		return TRACK_RX_DROPPED;
	}
	if (t->state == STATE_PLAY)
		measure(t);
	return TRACK_RX_OK;
}

/* ---- playout ------------------------------------------------------------- */

static void push(struct track *t, const float *frames, uint32_t n)
{
	if (n && !spsc_ring_push_n(&t->out->ring, frames, n))
		t->dropped++;	/* cannot happen while pump fills to below capacity */
}

/* n decoded frames through the drift stage and, when the engine is not at
 * 48 kHz, the resampler, into the ring. */
static void emit(struct track *t, const float *pcm, uint32_t n)
{
	t->since_control += (double)n / TRACK_RTP_RATE;
	n = drift_process(t->drift, pcm, n, t->correction, t->slipped);
	if (!t->rs) {
		push(t, t->slipped, n);
		return;
	}
	pcm = t->slipped;
	while (n) {
		spx_uint32_t in_len = n, out_len = t->res_cap;

		speex_resampler_process_interleaved_float(t->rs, pcm, &in_len, t->res, &out_len);
		push(t, t->res, out_len);
		if (!in_len && !out_len)
			break;
		pcm += (size_t)in_len * t->cfg.channels;
		n -= in_len;
	}
}

static void emit_silence(struct track *t, uint32_t n)
{
	memset(t->pcm, 0, (size_t)n * t->cfg.channels * sizeof(float));
	emit(t, t->pcm, n);
}

/* Decodes (data NULL: conceals) n frames into t->pcm; on error, silence. */
static uint32_t decode(struct track *t, const uint8_t *data, size_t len, uint32_t n, int fec)
{
	int got = opus_decode_float(t->dec, data, (opus_int32)len, t->pcm, (int)n, fec);

	if (got < 0) {
		memset(t->pcm, 0, (size_t)n * t->cfg.channels * sizeof(float));
		return n;
	}
	return (uint32_t)got;
}

/* Conceal n frames (in STEP pieces: Opus conceals at most 120 ms at once). */
static void conceal(struct track *t, uint32_t n)
{
	while (n) {
		uint32_t k = n > STEP ? STEP : n;

		/* Opus wants multiples of 2.5 ms; round up and keep k */
		decode(t, NULL, 0, (k + 119) / 120 * 120, 0);
		emit(t, t->pcm, k);
		t->plc++;
		n -= k;
	}
}

static void play_frame(struct track *t, const struct jitter_frame *f)
{
	uint32_t got, skip = 0;

	if (f->offset > 0)
		conceal(t, (uint32_t)f->offset);	/* a gap before the packet */
	else if (f->offset < 0)
		skip = (uint32_t)-f->offset;		/* already played up to here */
	got = decode(t, f->data, f->len, MAX_DECODE, 0);
	t->last_seq = f->seq;
	t->last_was_dtx = f->len <= 2;
	if (t->last_was_dtx)
		t->dtx++;
	if (skip < got)
		emit(t, t->pcm + (size_t)skip * t->cfg.channels, got - skip);
	t->missing_run = 0;
}

/* Nothing at the playout point: the sender paused (DTX: comfort silence;
 * no sequence number is missing after the last packet played), or a packet
 * was lost (FEC from the next one, else PLC). */
static void play_missing(struct track *t, const struct jitter_frame *f)
{
	size_t len = 0;
	const uint8_t *next = jitter_peek(t->jb, f->ts + f->span, &len);

	if (!next && (t->last_was_dtx || (uint16_t)(t->seq.max_seq - t->last_seq) <= 1)) {
		emit_silence(t, f->span);
		t->dtx++;
	} else if (next && len && (next[0] >> 3) < 16 && f->span % 120 == 0 &&
		   f->span <= MAX_DECODE && decode(t, next, len, f->span, 1) == f->span) {
		/* only SILK and hybrid packets (TOC config < 16) carry LBRR */
		emit(t, t->pcm, f->span);
		t->fec++;
	} else {
		conceal(t, f->span);
	}
	t->missing_run++;
}

static void control(struct track *t)
{
	struct jitter_counters jc;
	double err, band, max = t->cfg.drift_max, dt = t->since_control;

	jitter_get_counters(t->jb, &jc);
	if (jc.adjusted != t->adjusted_seen) {
		/* SpeexDSP moved the playout point: the level moves with it */
		t->target -= (double)(jc.adjusted - t->adjusted_seen);
		t->depth -= (double)(jc.adjusted - t->adjusted_seen);
		t->adjusted_seen = jc.adjusted;
	}
	if (!t->have_target || dt < CONTROL_STEP)
		return;
	t->since_control = 0.0;
	err = (t->depth - t->target) / TRACK_RTP_RATE;
	/* within the noise of the depth nothing moves, so a steady sender is
	 * not slipped back and forth; beyond it, a PI controller on the
	 * excess (the integral converges to the sender's clock offset) */
	band = copysign(fmax(0.0, fabs(err) - DEADBAND_S), err);
	t->integral += KI * band * dt;
	t->integral = fmax(-max, fmin(max, t->integral));
	t->correction = fmax(-max, fmin(max, KP * band + t->integral));
}

static void start_play(struct track *t)
{
	struct jitter_counters jc;

	jitter_get_counters(t->jb, &jc);
	t->adjusted_seen = jc.adjusted;
	t->state = STATE_PLAY;
	t->missing_run = 0;
	t->have_target = false;
	t->settle = 0;
}

/* One step of playout; false when there is nothing to play (yet). */
static bool step(struct track *t)
{
	struct jitter_frame f;

	if (t->state != STATE_PLAY) {
		if (!jitter_count(t->jb) || jitter_depth(t->jb) < (int32_t)(t->cfg.jitter_min + STEP))
			return false;
		start_play(t);
	}
	if (!jitter_get(t->jb, STEP, &f))
		return false;
	switch (f.kind) {
	case JITTER_FRAME:
		play_frame(t, &f);
		break;
	case JITTER_MISSING:
		play_missing(t, &f);
		break;
	case JITTER_INSERT:
		conceal(t, f.span);
		break;
	}
	jitter_tick(t->jb);
	control(t);
	/* 200 ms of nothing, or far behind (a burst after a stall): start again
	 * from the next packets */
	if (t->missing_run >= MISSING_RESET || jitter_depth(t->jb) > (int32_t)t->cfg.jitter_max) {
		jitter_reset(t->jb);
		t->state = STATE_PREBUFFER;
	}
	return true;
}

void track_pump(struct track *t, uint32_t min_frames)
{
	uint32_t cap = spsc_ring_capacity(&t->out->ring);
	uint32_t need = (uint32_t)((double)SLIPPED_CAP * t->cfg.rate / TRACK_RTP_RATE * 1.01) + 16;
	uint32_t have;

	if (min_frames + need > cap)
		min_frames = cap > need ? cap - need : 0;
	for (int guard = 0; guard < 64 && ring_frames(t) < min_frames; guard++) {
		if (step(t))
			continue;
		/* between talk spurts (or after a stall) keep the engine fed with
		 * silence; before the first packet RT plays silence by itself */
		have = ring_frames(t);
		if (t->state == STATE_PREBUFFER && have < min_frames) {
			uint32_t n = (uint32_t)((double)(min_frames - have) * TRACK_RTP_RATE /
						t->cfg.rate) + 1;

			emit_silence(t, n < MAX_DECODE ? n : MAX_DECODE);
			continue;
		}
		break;
	}
	/* underruns count from the first audio in the ring, never in the
	 * moment between starting to play and pushing it */
	if (t->state == STATE_PLAY && !atomic_load_explicit(&t->out->playing, memory_order_relaxed))
		atomic_store_explicit(&t->out->playing, true, memory_order_relaxed);
}

uint64_t track_underruns(const struct track *t)
{
	return atomic_load_explicit(&t->out->underruns, memory_order_relaxed);
}

void track_get_stats(struct track *t, double now_s, struct rtc_track_stats *st)
{
	struct jitter_counters jc;
	int latency = DRIFT_LATENCY + (t->rs ? speex_resampler_get_output_latency(t->rs) *
						  TRACK_RTP_RATE / t->cfg.rate : 0);

	jitter_get_counters(t->jb, &jc);
	memset(st, 0, sizeof(*st));
	st->packets = t->packets;
	st->lost = rtp_seq_lost(&t->seq);
	st->late = jc.late;
	st->duplicates = t->seq.duplicates;
	st->dropped = t->dropped;
	st->jitter_ms = t->seq.jitter * 1000.0 / TRACK_RTP_RATE;
	st->buffer_ms = t->state == STATE_PLAY ? jitter_depth(t->jb) * 1000.0 / TRACK_RTP_RATE : 0.0;
	st->delay_ms = t->state == STATE_PLAY
			       ? (t->depth * 1000.0 / TRACK_RTP_RATE +
				  latency * 1000.0 / TRACK_RTP_RATE)
			       : 0.0;
	st->plc_frames = t->plc;
	st->fec_frames = t->fec;
	st->dtx_frames = t->dtx;
	st->underruns = atomic_load_explicit(&t->out->underruns, memory_order_relaxed);
	st->drift_ppm = t->integral * 1e6;
	st->receiving = t->have_arrival && now_s - t->last_arrival < 1.0;
}
