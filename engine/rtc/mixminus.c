/* mixminus.c - Opus/RTP returns from a tap; see mixminus.h.
 * Threads: one non-RT thread at a time per return. */
#include "mixminus.h"

#include <errno.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "rtp.h"

#define OPUS_RATE 48000u
#define FRAME 960u			/* 20 ms at 48 kHz */
#define MAX_PAYLOAD 1500
#define READ_CHUNK 480u			/* engine frames read at a time */

struct mixminus {
	struct mixminus_config cfg;
	struct tap *tap;
	OpusEncoder *enc;
	SpeexResamplerState *rs;	/* engine rate -> 48 kHz, NULL when equal */
	float in[2 * READ_CHUNK];
	float frame[2 * (FRAME + READ_CHUNK * 2)];	/* 48 kHz, being filled */
	float mono[FRAME];				/* a mono return's frame */
	uint32_t have;			/* frames in frame[] */
	uint16_t seq;
	uint32_t ts;
	bool started;
	uint64_t packets, bytes, send_errors;
	uint64_t skipped;		/* engine frames the tap dropped */
	uint64_t dropped_before;	/* by the taps read before this one */
};

int mixminus_create(const struct mixminus_config *cfg, struct tap *tap, struct mixminus **out)
{
	struct mixminus *mm;
	int err = 0;

	if (!tap || cfg->rate < 8000 || cfg->rate > 192000 || cfg->complexity < 0 ||
	    cfg->complexity > 10 || cfg->bitrate < 6000 || cfg->bitrate > 510000 ||
	    (cfg->channels != 1 && cfg->channels != 2))
		return -EINVAL;
	mm = calloc(1, sizeof(*mm));
	if (!mm)
		return -ENOMEM;
	mm->cfg = *cfg;
	mm->tap = tap;
	mm->seq = (uint16_t)(cfg->ssrc * 2654435761u >> 16);
	mm->ts = cfg->ssrc * 40503u;
	mm->enc = opus_encoder_create(OPUS_RATE, (int)cfg->channels, OPUS_APPLICATION_AUDIO, &err);
	if (!mm->enc || err != OPUS_OK)
		goto out_fail;
	opus_encoder_ctl(mm->enc, OPUS_SET_BITRATE(cfg->bitrate));
	opus_encoder_ctl(mm->enc, OPUS_SET_COMPLEXITY(cfg->complexity));
	opus_encoder_ctl(mm->enc, OPUS_SET_INBAND_FEC(cfg->fec ? 1 : 0));
	/* FEC is only spent when the encoder expects some loss */
	opus_encoder_ctl(mm->enc, OPUS_SET_PACKET_LOSS_PERC(cfg->fec ? 10 : 0));
	if (cfg->rate != OPUS_RATE) {
		mm->rs = speex_resampler_init(2, cfg->rate, OPUS_RATE, 4, &err);
		if (!mm->rs)
			goto out_fail;
		speex_resampler_skip_zeros(mm->rs);
	}
	*out = mm;
	return 0;

out_fail:
	mixminus_destroy(mm);
	return -ENOMEM;
}

void mixminus_destroy(struct mixminus *mm)
{
	if (!mm)
		return;
	if (mm->enc)
		opus_encoder_destroy(mm->enc);
	if (mm->rs)
		speex_resampler_destroy(mm->rs);
	free(mm);
}

/* The frame as the encoder takes it: stereo as is, or folded to mono. */
static const float *encoder_input(struct mixminus *mm)
{
	if (mm->cfg.channels == 2)
		return mm->frame;
	for (uint32_t i = 0; i < FRAME; i++)
		mm->mono[i] = 0.5f * (mm->frame[2 * i] + mm->frame[2 * i + 1]);
	return mm->mono;
}

/* Encodes the full frame[] and sends it. */
static int send_frame(struct mixminus *mm, mixminus_send_fn send, void *user)
{
	uint8_t packet[RTP_HEADER_MIN + MAX_PAYLOAD];
	struct rtp_packet p = {
		.marker = !mm->started,
		.payload_type = mm->cfg.payload_type,
		.seq = mm->seq,
		.timestamp = mm->ts,
		.ssrc = mm->cfg.ssrc,
		.payload = packet + RTP_HEADER_MIN,
	};
	opus_int32 n = opus_encode_float(mm->enc, encoder_input(mm), (int)FRAME,
					 packet + RTP_HEADER_MIN, MAX_PAYLOAD);
	int len;

	mm->ts += FRAME;
	if (n < 0)
		return (int)n;
	p.payload_len = (size_t)n;
	/* the header goes in front of the payload already in place */
	{
		uint8_t head[RTP_HEADER_MIN];
		struct rtp_packet h = p;

		h.payload_len = 0;
		len = rtp_write(head, sizeof(head), &h);
		if (len != RTP_HEADER_MIN)
			return -EINVAL;
		memcpy(packet, head, RTP_HEADER_MIN);
	}
	len = RTP_HEADER_MIN + (int)n;
	mm->seq++;
	mm->started = true;
	if (send(user, packet, (size_t)len) < 0) {
		mm->send_errors++;
		return 0;
	}
	mm->packets++;
	mm->bytes += (uint64_t)len;
	return 1;
}

/* Adds engine-rate frames to frame[] (resampled when needed). */
static void add_input(struct mixminus *mm, const float *in, uint32_t n)
{
	if (!mm->rs) {
		memcpy(mm->frame + 2 * (size_t)mm->have, in, (size_t)n * 2 * sizeof(float));
		mm->have += n;
		return;
	}
	while (n) {
		spx_uint32_t in_len = n, out_len = (uint32_t)(sizeof(mm->frame) / sizeof(float) / 2) -
						       mm->have;

		speex_resampler_process_interleaved_float(mm->rs, in, &in_len,
							  mm->frame + 2 * (size_t)mm->have, &out_len);
		mm->have += out_len;
		in += 2 * (size_t)in_len;
		n -= in_len;
		if (!in_len)
			break;
	}
}

int mixminus_pump(struct mixminus *mm, mixminus_send_fn send, void *user, int max_packets)
{
	int sent = 0;

	while (sent < max_packets) {
		uint64_t gap = tap_next_gap(mm->tap);
		uint32_t want, got;

		if (gap) {
			/* a hole in the tap: the receiver hears a pause */
			mm->skipped += gap;
			mm->ts += (uint32_t)(gap * OPUS_RATE / mm->cfg.rate);
			mm->have = 0;
		}
		if (mm->have >= FRAME) {
			sent += send_frame(mm, send, user);
			mm->have -= FRAME;
			memmove(mm->frame, mm->frame + 2 * FRAME, (size_t)mm->have * 2 * sizeof(float));
			continue;
		}
		want = mm->rs ? READ_CHUNK : FRAME - mm->have;
		if (want > READ_CHUNK)
			want = READ_CHUNK;
		if (tap_readable(mm->tap) < want)
			break;
		got = tap_read(mm->tap, mm->in, want);
		if (!got)
			break;
		add_input(mm, mm->in, got);
	}
	return sent;
}

void mixminus_set_tap(struct mixminus *mm, struct tap *tap)
{
	mm->dropped_before += tap_dropped_frames(mm->tap);
	mm->tap = tap;
}

void mixminus_get_stats(const struct mixminus *mm, struct rtc_return_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->packets = mm->packets;
	st->bytes = mm->bytes;
	st->dropped_frames = mm->dropped_before + tap_dropped_frames(mm->tap);
	st->ssrc = mm->cfg.ssrc;
}

uint64_t mixminus_send_errors(const struct mixminus *mm)
{
	return mm->send_errors;
}
