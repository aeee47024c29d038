/* test_rtp.c - engine/rtc/rtp.c: header parse and write (CSRC, extension,
 * padding, marker, every truncation), garbage, sequence accounting across
 * the 16-bit wrap (loss, reordering, duplicates, restarts) and the RFC 3550
 * interarrival jitter.
 *
 * Threads: main only.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/rtc/rtp.h"

static void test_roundtrip(void)
{
	uint8_t payload[5] = { 1, 2, 3, 4, 5 }, ext[8] = { 9, 8, 7, 6, 5, 4, 3, 2 };
	uint8_t buf[128];
	struct rtp_packet in = {
		.marker = true,
		.payload_type = 111,
		.seq = 0xfffe,
		.timestamp = 0xdeadbeef,
		.ssrc = 0x01020304,
		.csrc_count = 2,
		.csrc = { 0xaabbccdd, 0x11223344 },
		.extension = true,
		.ext_profile = 0xbede,
		.ext = ext,
		.ext_len = sizeof(ext),
		.payload = payload,
		.payload_len = sizeof(payload),
	}, out;
	int len = rtp_write(buf, sizeof(buf), &in);

	CHECK(len == 12 + 8 + 4 + 8 + 5, "written length %d", len);
	CHECK(buf[0] == 0x92 && buf[1] == (0x80 | 111), "first bytes %02x %02x", buf[0], buf[1]);
	CHECK(rtp_parse(buf, (size_t)len, &out) == 0, "parses back");
	CHECK(out.version == 2 && out.marker && out.payload_type == 111 && out.seq == 0xfffe &&
	      out.timestamp == 0xdeadbeef && out.ssrc == 0x01020304, "fixed header fields");
	CHECK(out.csrc_count == 2 && out.csrc[0] == 0xaabbccdd && out.csrc[1] == 0x11223344,
	      "csrc list");
	CHECK(out.extension && out.ext_profile == 0xbede && out.ext_len == 8 &&
	      !memcmp(out.ext, ext, 8), "extension");
	CHECK(out.payload_len == 5 && !memcmp(out.payload, payload, 5), "payload");
	CHECK(rtp_write(buf, (size_t)len - 1, &in) == -ENOSPC, "no room: -ENOSPC");
	in.ext_len = 3;
	CHECK(rtp_write(buf, sizeof(buf), &in) == -EINVAL, "extension not in words: -EINVAL");
	/* every truncation of a valid packet with CSRCs and an extension is refused */
	{
		bool all = true;

		for (int cut = 0; cut < 12 + 8 + 4 + 8; cut++)
			all = all && rtp_parse(buf, (size_t)cut, &out) == -EBADMSG;
		CHECK(all, "every truncation inside the headers is -EBADMSG");
	}
}

static void test_padding_and_garbage(void)
{
	uint8_t buf[64] = { 0xa0, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 3 };
	struct rtp_packet p;

	CHECK(rtp_parse(buf, 18, &p) == 0 && p.padding && p.padding_len == 3 && p.payload_len == 3 &&
	      !memcmp(p.payload, "abc", 3), "padding removed");
	buf[17] = 0;
	CHECK(rtp_parse(buf, 18, &p) == -EBADMSG, "padding count 0 refused");
	buf[17] = 7;
	CHECK(rtp_parse(buf, 18, &p) == -EBADMSG, "padding longer than the payload refused");
	buf[17] = 6;
	CHECK(rtp_parse(buf, 18, &p) == 0 && p.payload_len == 0, "padding eating the whole payload");
	buf[0] = 0x40;
	CHECK(rtp_parse(buf, 18, &p) == -EPROTONOSUPPORT, "version 1 refused");
	buf[0] = 0x90;	/* extension flag, no room for it */
	CHECK(rtp_parse(buf, 14, &p) == -EBADMSG, "extension header cut short");
	buf[12] = 0xbe, buf[13] = 0xde, buf[14] = 0xff, buf[15] = 0xff;
	CHECK(rtp_parse(buf, 40, &p) == -EBADMSG, "extension length past the end");
	buf[0] = 0x8f;	/* 15 CSRCs announced */
	CHECK(rtp_parse(buf, 40, &p) == -EBADMSG, "csrc list past the end");
	CHECK(rtp_parse(NULL, 0, &p) == -EBADMSG && rtp_parse(buf, 11, &p) == -EBADMSG,
	      "NULL and short buffers refused");
	{
		/* random bytes: never a crash, every result is one of the three */
		unsigned seed = 7;
		bool sane = true;

		for (int i = 0; i < 100000; i++) {
			uint8_t g[64];
			size_t len = (size_t)(rand_r(&seed) % 64);
			int r;

			for (size_t k = 0; k < len; k++)
				g[k] = (uint8_t)rand_r(&seed);
			r = rtp_parse(g, len, &p);
			sane = sane && (r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT) &&
			       (r != 0 || (p.payload >= g && p.payload + p.payload_len <= g + len));
		}
		CHECK(sane, "100000 random datagrams parse or fail cleanly, payload inside");
	}
}

static void test_sequence(void)
{
	struct rtp_seq s;
	uint16_t seq = 65500;

	rtp_seq_init(&s);
	for (int i = 0; i < 100; i++, seq++)
		if (i % 10 != 3)	/* lose one in ten */
			rtp_seq_update(&s, seq);
	CHECK(s.received == 90 && rtp_seq_lost(&s) == 10 && rtp_seq_expected(&s) == 100,
	      "across the wrap: 90 received, 10 lost (got %llu, %llu)",
	      (unsigned long long)s.received, (unsigned long long)rtp_seq_lost(&s));
	CHECK(rtp_seq_extended_max(&s) == 65536u + (uint16_t)(seq - 1u), "extended max counts the wrap");
	/* a late arrival of a lost one fills its gap */
	CHECK(rtp_seq_update(&s, (uint16_t)(65500 + 3)) == RTP_SEQ_NEW && rtp_seq_lost(&s) == 9,
	      "a reordered packet is not lost");
	CHECK(rtp_seq_update(&s, (uint16_t)(65500 + 3)) == RTP_SEQ_DUPLICATE,
	      "the same one again is a duplicate");
	CHECK(rtp_seq_update(&s, (uint16_t)(seq - 1)) == RTP_SEQ_DUPLICATE && s.duplicates == 2,
	      "the newest again is a duplicate");
	/* a far jump is believed only when the next packet follows it */
	CHECK(rtp_seq_update(&s, (uint16_t)(seq + 20000)) == RTP_SEQ_BAD, "a far jump is suspect");
	CHECK(rtp_seq_update(&s, seq) == RTP_SEQ_NEW, "the stream goes on");
	CHECK(rtp_seq_update(&s, (uint16_t)(seq + 30000)) == RTP_SEQ_BAD &&
	      rtp_seq_update(&s, (uint16_t)(seq + 30001)) == RTP_SEQ_NEW && s.restarts == 1,
	      "two in a row: the sender restarted");
	CHECK(rtp_seq_lost(&s) == 9, "losses before the restart are kept (%llu)",
	      (unsigned long long)rtp_seq_lost(&s));
	{
		/* a long run with 5 % reordering by 3 and 2 % duplicates: exact counts */
		struct rtp_seq r;
		unsigned seed = 3;
		uint64_t sent = 0, dups = 0, lost = 0;
		uint16_t q = 60000;
		uint16_t held[4];
		int n_held = 0;

		rtp_seq_init(&r);
		for (int i = 0; i < 200000; i++, q++) {
			int dice = rand_r(&seed) % 100;

			if (i > 0 && dice < 10) {
				lost++;
				continue;
			}
			if (i > 0 && dice < 15 && n_held < 4) {
				held[n_held++] = q;	/* sent a little later */
				continue;
			}
			rtp_seq_update(&r, q);
			sent++;
			if (dice >= 98) {
				rtp_seq_update(&r, q);
				dups++;
			}
			if (n_held && rand_r(&seed) % 3 == 0) {
				rtp_seq_update(&r, held[--n_held]);
				sent++;
			}
		}
		while (n_held)
			rtp_seq_update(&r, held[--n_held]), sent++;
		CHECK(r.received == sent && r.duplicates == dups && rtp_seq_lost(&r) == lost,
		      "lossy run: received %llu/%llu, duplicates %llu/%llu, lost %llu/%llu",
		      (unsigned long long)r.received, (unsigned long long)sent,
		      (unsigned long long)r.duplicates, (unsigned long long)dups,
		      (unsigned long long)rtp_seq_lost(&r), (unsigned long long)lost);
	}
}

static void test_jitter(void)
{
	struct rtp_seq s;
	double expect = 0.0;
	uint32_t ts = 4000000000u, arrival = 17;
	unsigned seed = 11;
	int32_t last_transit = 0;

	rtp_seq_init(&s);
	/* packets every 960 timestamp units, arriving with +-200 units of noise;
	 * the formula is recomputed here independently (RFC 3550 A.8) */
	for (int i = 0; i < 2000; i++) {
		int32_t noise = rand_r(&seed) % 401 - 200;
		uint32_t at = arrival + (uint32_t)(i * 960) + (uint32_t)noise;
		int32_t transit = (int32_t)(at - ts);

		if (i > 0)
			expect += (fabs((double)(transit - last_transit)) - expect) / 16.0;
		last_transit = transit;
		rtp_jitter_update(&s, at, ts);
		ts += 960;	/* wraps past 2^32 on the way */
	}
	CHECK(fabs(s.jitter - expect) < 1e-9 && s.jitter > 50.0 && s.jitter < 300.0,
	      "interarrival jitter %.3f (expected %.3f)", s.jitter, expect);
	rtp_seq_init(&s);
	for (int i = 0; i < 100; i++)
		rtp_jitter_update(&s, 5 + (uint32_t)i * 960, 7 + (uint32_t)i * 960);
	CHECK(s.jitter == 0.0, "a perfectly regular stream has no jitter");
}

int main(void)
{
	test_roundtrip();
	test_padding_and_garbage();
	test_sequence();
	test_jitter();
	return CHECK_DONE();
}
