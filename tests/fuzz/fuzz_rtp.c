/* fuzz_rtp.c - libFuzzer harness of the RTP parser and the jitter buffer
 * (engine/rtc/rtp.c, engine/rtc/jitter.c).
 *
 * The input is a run of datagrams, each a length byte and that many bytes.
 * Each one is parsed; what parses must write back (without its padding) and
 * parse again to the same fields, goes through the sequence accounting, and
 * is put into a jitter buffer with a span taken from its first payload byte;
 * the buffer is read and ticked between datagrams as the input's bits say.
 * Nothing may crash, leak or read out of bounds (ASan), and the pool's count
 * never passes its size.
 *
 * Threads: libFuzzer's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/rtc/jitter.h"
#include "engine/rtc/rtp.h"

#define SLOTS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const struct rtp_packet *p)
{
	uint8_t buf[2048];
	struct rtp_packet q;
	int len = rtp_write(buf, sizeof(buf), p);

	if (len < 0)
		abort();	/* a parsed packet (padding dropped) always fits */
	if (rtp_parse(buf, (size_t)len, &q) != 0 || q.seq != p->seq ||
	    q.timestamp != p->timestamp || q.ssrc != p->ssrc ||
	    q.payload_type != p->payload_type || q.marker != p->marker ||
	    q.csrc_count != p->csrc_count || q.ext_len != p->ext_len ||
	    q.payload_len != p->payload_len || memcmp(q.payload, p->payload, p->payload_len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jitter_config cfg = { .step = 960, .margin = 960, .slots = SLOTS };
	struct jitter *j = NULL;
	struct rtp_seq seq;
	size_t off = 0;

	if (jitter_create(&cfg, &j) < 0)
		return 0;
	rtp_seq_init(&seq);
	while (off < size) {
		size_t len = data[off++];
		struct rtp_packet p;
		struct jitter_frame f;

		if (len > size - off)
			len = size - off;
		if (rtp_parse(data + off, len, &p) == 0) {
			roundtrip(&p);
			if (rtp_seq_update(&seq, p.seq) == RTP_SEQ_NEW) {
				uint32_t span = p.payload_len ? 120u * (1u + p.payload[0] % 48) : 960;

				jitter_put(j, p.payload, p.payload_len, p.timestamp, span, p.seq);
			}
			rtp_jitter_update(&seq, (uint32_t)off * 37u, p.timestamp);
			(void)rtp_seq_lost(&seq);
		}
		if (len && (data[off] & 1)) {
			jitter_get(j, 960, &f);
			jitter_tick(j);
			(void)jitter_depth(j);
		}
		if (jitter_count(j) > SLOTS)
			abort();
		off += len;
	}
	jitter_destroy(j);
	return 0;
}
