/* rtp.c - RTP header parse/write and receiver accounting; see rtp.h.
 * Threads: any (no state outside the caller's structs). */
#include "rtp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int rtp_parse(const uint8_t *buf, size_t len, struct rtp_packet *p)
{
	size_t off = RTP_HEADER_MIN, end = len;

	memset(p, 0, sizeof(*p));
	if (!buf || len < RTP_HEADER_MIN)
		return -EBADMSG;
	p->version = buf[0] >> 6;
	if (p->version != 2)
		return -EPROTONOSUPPORT;
	p->padding = buf[0] & 0x20;
	p->extension = buf[0] & 0x10;
	p->csrc_count = buf[0] & 0x0f;
	p->marker = buf[1] & 0x80;
	p->payload_type = buf[1] & 0x7f;
	p->seq = be16(buf + 2);
	p->timestamp = be32(buf + 4);
	p->ssrc = be32(buf + 8);
	if (len - off < 4u * p->csrc_count)
		return -EBADMSG;
	for (uint8_t i = 0; i < p->csrc_count; i++, off += 4)
		p->csrc[i] = be32(buf + off);
	if (p->extension) {
		size_t words;

		if (len - off < 4)
			return -EBADMSG;
		p->ext_profile = be16(buf + off);
		words = be16(buf + off + 2);
		off += 4;
		if (len - off < 4 * words)
			return -EBADMSG;
		p->ext = buf + off;
		p->ext_len = 4 * words;
		off += 4 * words;
	}
	if (p->padding) {
		uint8_t pad = buf[len - 1];

		/* the count includes itself and must fit after the headers */
		if (pad == 0 || pad > len - off)
			return -EBADMSG;
		p->padding_len = pad;
		end = len - pad;
	}
	p->payload = buf + off;
	p->payload_len = end - off;
	return 0;
}

int rtp_write(uint8_t *buf, size_t cap, const struct rtp_packet *p)
{
	size_t need = RTP_HEADER_MIN + 4u * p->csrc_count + p->payload_len, off = RTP_HEADER_MIN;

	if (p->csrc_count > RTP_MAX_CSRC || (p->ext_len & 3) || p->ext_len > 4u * 0xffff)
		return -EINVAL;
	if (p->extension)
		need += 4 + p->ext_len;
	if (need > cap || need > INT32_MAX)
		return -ENOSPC;
	buf[0] = (uint8_t)(2u << 6 | (p->extension ? 0x10 : 0) | p->csrc_count);
	buf[1] = (uint8_t)((p->marker ? 0x80 : 0) | (p->payload_type & 0x7f));
	put16(buf + 2, p->seq);
	put32(buf + 4, p->timestamp);
	put32(buf + 8, p->ssrc);
	for (uint8_t i = 0; i < p->csrc_count; i++, off += 4)
		put32(buf + off, p->csrc[i]);
	if (p->extension) {
		put16(buf + off, p->ext_profile);
		put16(buf + off + 2, (uint16_t)(p->ext_len / 4));
		off += 4;
		if (p->ext_len)
			memcpy(buf + off, p->ext, p->ext_len);
		off += p->ext_len;
	}
	if (p->payload_len)
		memcpy(buf + off, p->payload, p->payload_len);
	return (int)need;
}

/* ---- receiver accounting -------------------------------------------------- */

#define SEQ_MOD (1u << 16)
#define WINDOW_MASK (RTP_SEQ_WINDOW - 1u)

static void seen_set(struct rtp_seq *s, uint64_t ext)
{
	s->seen[(ext & WINDOW_MASK) / 64] |= 1ull << (ext & 63);
}

static bool seen_get(const struct rtp_seq *s, uint64_t ext)
{
	return s->seen[(ext & WINDOW_MASK) / 64] & (1ull << (ext & 63));
}

static void seen_clear(struct rtp_seq *s, uint64_t ext)
{
	s->seen[(ext & WINDOW_MASK) / 64] &= ~(1ull << (ext & 63));
}

/* Keeps the totals of earlier epochs (a restarted sender starts a new one). */
static void epoch_start(struct rtp_seq *s, uint16_t seq)
{
	s->base_seq = seq;
	s->max_seq = seq;
	s->cycles = 0;
	s->bad_seq = SEQ_MOD + 1;
	memset(s->seen, 0, sizeof(s->seen));
	seen_set(s, seq);
}

void rtp_seq_init(struct rtp_seq *s)
{
	memset(s, 0, sizeof(*s));
}

uint64_t rtp_seq_extended_max(const struct rtp_seq *s)
{
	return (uint64_t)s->cycles + s->max_seq;
}

/* Per-epoch counts: expected from base to max, received in this epoch. */
static uint64_t epoch_expected(const struct rtp_seq *s)
{
	return s->started ? rtp_seq_extended_max(s) - s->base_seq + 1 : 0;
}

enum rtp_seq_result rtp_seq_update(struct rtp_seq *s, uint16_t seq)
{
	uint16_t udelta = (uint16_t)(seq - s->max_seq);
	uint64_t max_ext = rtp_seq_extended_max(s), ext;

	if (!s->started) {
		s->started = true;
		epoch_start(s, seq);
		s->received = 1;
		s->epoch_received = 1;
		return RTP_SEQ_NEW;
	}
	if (udelta == 0) {
		s->duplicates++;
		return RTP_SEQ_DUPLICATE;
	}
	if (udelta < RTP_MAX_DROPOUT) {
		/* ahead, perhaps with a gap: clear the window slots passed over */
		uint64_t clear = udelta < RTP_SEQ_WINDOW ? udelta : RTP_SEQ_WINDOW;

		for (uint64_t i = 1; i <= clear; i++)
			seen_clear(s, max_ext + i);
		if (seq < s->max_seq)
			s->cycles += SEQ_MOD;
		s->max_seq = seq;
		seen_set(s, max_ext + udelta);
		s->received++;
		s->epoch_received++;
		return RTP_SEQ_NEW;
	}
	if (udelta <= SEQ_MOD - RTP_MAX_MISORDER) {
		/* a far jump: believe it when the next packet follows it */
		if (seq != s->bad_seq) {
			s->bad_seq = (seq + 1u) & (SEQ_MOD - 1);
			return RTP_SEQ_BAD;
		}
		s->restarts++;
		s->lost_before = rtp_seq_lost(s);
		epoch_start(s, seq);
		s->received++;
		s->epoch_received = 1;
		return RTP_SEQ_NEW;
	}
	/* behind the highest: reordered or duplicated */
	if (max_ext < SEQ_MOD - udelta) {
		s->received++;	/* before extended seq 0: nothing to place it against */
		return RTP_SEQ_NEW;
	}
	ext = max_ext - (SEQ_MOD - udelta);
	if (ext < s->base_seq) {
		s->base_seq = (uint32_t)ext;	/* older than the first packet seen */
	} else if (SEQ_MOD - udelta < RTP_SEQ_WINDOW) {
		if (seen_get(s, ext)) {
			s->duplicates++;
			return RTP_SEQ_DUPLICATE;
		}
	}
	if (SEQ_MOD - udelta < RTP_SEQ_WINDOW)
		seen_set(s, ext);
	s->received++;
	s->epoch_received++;
	return RTP_SEQ_NEW;
}

uint64_t rtp_seq_expected(const struct rtp_seq *s)
{
	return epoch_expected(s);
}

uint64_t rtp_seq_lost(const struct rtp_seq *s)
{
	uint64_t expected = epoch_expected(s);

	return s->lost_before + (expected > s->epoch_received ? expected - s->epoch_received : 0);
}

void rtp_jitter_update(struct rtp_seq *s, uint32_t arrival, uint32_t ts)
{
	int32_t transit = (int32_t)(arrival - ts);

	if (s->have_transit) {
		/* the difference modulo 2^32, read as signed */
		int64_t d = (int32_t)((uint32_t)transit - (uint32_t)s->transit);

		s->jitter += ((double)(d < 0 ? -d : d) - s->jitter) / 16.0;
	}
	s->transit = transit;
	s->have_transit = true;
}
