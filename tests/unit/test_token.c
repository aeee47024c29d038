/* test_token.c - unit tests of engine/rtc/token.c, the Volcengine AccessToken.
 *
 * Two vectors made by other implementations of the format (appID
 * 123456781234567812345678) are reproduced byte for byte and verified; then
 * round trips, every single-bit flip of a valid token (in its text and in
 * its decoded content) refused, a table of malformed tokens each refused
 * with its own message, wrong app id and key, token expiry and the
 * per-privilege expiries.
 *
 * Threads: main only.
 */
#include "engine/rtc/token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "check.h"

#define APP_ID "123456781234567812345678"
#define APP_KEY "app key"

/* A third-party Go signer's fixture, which its authors checked against the
 * official Node generator: room_1/user_1, nonce 0x01020304, issued
 * 2026-07-23T08:00:00Z, expiring 2 h later, privileges 0..4 at that time. */
static const char vector_a[] =
	"001123456781234567812345678PAAEAwIBAMphaiDmYWoGAHJvb21fMQYAdXNlcl8xBQAAACDmYWoBACDm"
	"YWoCACDmYWoDACDmYWoEACDmYWogAH2Abc2RqGxUiKo3THh8a0VBZXtZ93pLZIvkFvs1jHOG";
/* A TypeScript implementation's fixture: key "test-app-key". */
static const char vector_b[] =
	"001123456781234567812345678RAB4VjQSALlVabC9VWkKAHNlc18wMDAwMDEKAHVzcl8wMDAwMDEFAAAAsL1V"
	"aQEAsL1VaQIAsL1VaQMAsL1VaQQAsL1VaSAAc6rmZCLFAiEotqwNHTsdhg3CcSp8yG8vCIybtxr8Aik=";

static void make(struct token *t, const char *room, const char *user, uint32_t nonce,
		 uint32_t issued, uint32_t expire)
{
	token_init(t, APP_ID, room, user, issued, expire);
	t->nonce = nonce;
	token_add_privilege(t, TOKEN_PRIV_PUBLISH_STREAM, expire);
	token_add_privilege(t, TOKEN_PRIV_SUBSCRIBE_STREAM, expire);
}

static void test_vectors(void)
{
	struct token t, p;
	char out[TOKEN_TEXT_MAX + 1], msg[256];
	int n, rc;

	make(&t, "room_1", "user_1", 0x01020304, 1784793600, 1784793600 + 7200);
	n = token_issue(&t, APP_KEY, out, sizeof(out));
	CHECK(n == (int)strlen(vector_a) && !strcmp(out, vector_a),
	      "vector A reproduced (%d chars): %s", n, out);
	rc = token_verify(vector_a, APP_ID, APP_KEY, 1784793600, &p, msg, sizeof(msg));
	CHECK(rc == TOKEN_OK && p.nonce == 0x01020304 && p.issued_at == 1784793600 &&
	      p.expire_at == 1784800800 && !strcmp(p.room, "room_1") &&
	      !strcmp(p.user, "user_1") && p.n_privs == 5 && !memcmp(&p, &t, sizeof(p)),
	      "vector A verifies and parses to the same fields: %s", msg);

	make(&t, "ses_000001", "usr_000001", 0x12345678, 1767225600, 1767226800);
	n = token_issue(&t, "test-app-key", out, sizeof(out));
	CHECK(n > 0 && !strcmp(out, vector_b), "vector B reproduced: %s", out);
	rc = token_verify(vector_b, APP_ID, "test-app-key", 1767226799, &p, msg, sizeof(msg));
	CHECK(rc == TOKEN_OK, "vector B verifies one second before expiry: %s", msg);
	rc = token_verify(vector_b, APP_ID, "test-app-key", 1767226800, &p, msg, sizeof(msg));
	CHECK(rc == TOKEN_EXPIRED && strstr(msg, "expired"), "vector B expired at expireAt: %s",
	      msg);
	rc = token_verify(vector_b, APP_ID, APP_KEY, 1767225600, &p, msg, sizeof(msg));
	CHECK(rc == TOKEN_BAD_SIGNATURE, "vector B with another key: %s", msg);
	rc = token_verify(vector_a, "123456781234567812345679", APP_KEY, 1784793600, &p, msg,
			  sizeof(msg));
	CHECK(rc == TOKEN_WRONG_APP && strstr(msg, APP_ID), "another app id: %s", msg);
}

static void test_round_trip(void)
{
	static const char *const ids[] = { "a", "Z", "room-1_x@y", "0123456789" };
	char room[RTC_ID_MAX + 2], out[TOKEN_TEXT_MAX + 1], msg[256];
	struct token t, p;
	bool all = true;
	int n, rc;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		token_init(&t, APP_ID, ids[i], ids[(i + 1) % 4], 1000, 0);
		token_add_privilege(&t, TOKEN_PRIV_SUBSCRIBE_STREAM, 0);
		n = token_issue(&t, APP_KEY, out, sizeof(out));
		rc = token_verify(out, APP_ID, APP_KEY, 4000000000u, &p, msg, sizeof(msg));
		all &= n > 0 && rc == TOKEN_OK && !memcmp(&t, &p, sizeof(t));
	}
	CHECK(all, "round trips of several ids, expireAt 0 valid in 2096");

	memset(room, 'r', RTC_ID_MAX);
	room[RTC_ID_MAX] = '\0';
	token_init(&t, APP_ID, room, room, 1000, 2000);
	for (uint16_t k = 0; k < TOKEN_PRIVS_MAX; k++)
		token_add_privilege(&t, (uint16_t)(100 + k * 3), 1500);
	n = token_issue(&t, APP_KEY, out, sizeof(out));
	rc = token_verify(out, APP_ID, APP_KEY, 1999, &p, msg, sizeof(msg));
	CHECK(n > 0 && n <= TOKEN_TEXT_MAX && rc == TOKEN_OK && !memcmp(&t, &p, sizeof(t)),
	      "the largest token (128-byte ids, %d privileges) round trips in %d chars: %s",
	      TOKEN_PRIVS_MAX, n, msg);
	CHECK(token_add_privilege(&t, 7, 0) == -ENOSPC, "a 17th privilege is refused");

	CHECK(token_issue(&t, APP_KEY, out, 100) == -ENOSPC, "issue into a short buffer");
	room[RTC_ID_MAX] = 'r';
	room[RTC_ID_MAX + 1] = '\0';
	token_init(&t, APP_ID, "r", "u", 1, 0);
	memcpy(t.room, room, RTC_ID_MAX);	/* token_init cut it; the limit holds */
	CHECK(token_issue(&t, APP_KEY, out, sizeof(out)) > 0, "128 bytes is allowed");
	token_init(&t, "short", "r", "u", 1, 0);
	CHECK(token_issue(&t, APP_KEY, out, sizeof(out)) == -EINVAL,
	      "an app id that is not 24 characters cannot issue");
	token_init(&t, APP_ID, "", "u", 1, 0);
	CHECK(token_issue(&t, APP_KEY, out, sizeof(out)) == -EINVAL, "an empty room cannot issue");
}

/* Every single-bit flip of the text, and of the decoded content (re-encoded),
 * is refused. */
static void test_bit_flips(void)
{
	unsigned char content[512], flipped[512];
	char tok[TOKEN_TEXT_MAX + 1], bad[TOKEN_TEXT_MAX + 1], msg[256];
	struct token t, p;
	size_t len, tried = 0, refused = 0, clen, ctried = 0, crefused = 0;
	int rc;

	make(&t, "studio-1", "guest_7", 42, 1000, 5000);
	token_issue(&t, APP_KEY, tok, sizeof(tok));
	len = strlen(tok);
	CHECK(token_verify(tok, APP_ID, APP_KEY, 2000, &p, msg, sizeof(msg)) == TOKEN_OK,
	      "the token to flip is valid");
	for (size_t i = 0; i < len; i++) {
		for (int b = 0; b < 8; b++) {
			memcpy(bad, tok, len + 1);
			bad[i] ^= (char)(1 << b);
			tried++;
			rc = token_verify(bad, APP_ID, APP_KEY, 2000, &p, msg, sizeof(msg));
			refused += rc == TOKEN_MALFORMED || rc == TOKEN_WRONG_APP ||
				   rc == TOKEN_BAD_SIGNATURE;
			if (rc == TOKEN_OK)
				printf("# accepted with bit %d of char %zu flipped\n", b, i);
		}
	}
	CHECK(tried == len * 8 && refused == tried, "%zu of %zu text bit flips refused", refused,
	      tried);

	clen = (size_t)EVP_DecodeBlock(content, (unsigned char *)tok + 27, (int)len - 27);
	clen -= (size_t)(tok[len - 1] == '=') + (size_t)(tok[len - 2] == '=');
	for (size_t i = 0; i < clen; i++) {
		for (int b = 0; b < 8; b++) {
			memcpy(flipped, content, clen);
			flipped[i] ^= (unsigned char)(1 << b);
			memcpy(bad, tok, 27);
			EVP_EncodeBlock((unsigned char *)bad + 27, flipped, (int)clen);
			ctried++;
			rc = token_verify(bad, APP_ID, APP_KEY, 2000, &p, msg, sizeof(msg));
			crefused += rc == TOKEN_MALFORMED || rc == TOKEN_BAD_SIGNATURE;
		}
	}
	CHECK(ctried > 600 && crefused == ctried, "%zu of %zu content bit flips refused",
	      crefused, ctried);
}

/* ---- hand-made layouts, correctly signed, so only the layout is wrong */

struct raw {
	unsigned char b[1024];
	size_t n;
};

static void raw_u16(struct raw *r, unsigned v)
{
	r->b[r->n++] = (unsigned char)v;
	r->b[r->n++] = (unsigned char)(v >> 8);
}

static void raw_u32(struct raw *r, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		r->b[r->n++] = (unsigned char)(v >> (8 * i));
}

static void raw_bytes(struct raw *r, const void *p, size_t n)
{
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

static void raw_id(struct raw *r, const char *id, size_t n)
{
	raw_u16(r, (unsigned)n);
	raw_bytes(r, id, n);
}

/* msg -> "001" + app + base64(u16 ‖ msg ‖ u16 32 ‖ hmac ‖ extra). */
static void wrap(const struct raw *m, size_t sig_len, size_t extra, char *out)
{
	struct raw c = { .n = 0 };
	unsigned char sig[32];
	unsigned int sl = 0;

	HMAC(EVP_sha256(), APP_KEY, 7, m->b, m->n, sig, &sl);
	raw_u16(&c, (unsigned)m->n);
	raw_bytes(&c, m->b, m->n);
	raw_u16(&c, (unsigned)sig_len);
	raw_bytes(&c, sig, sig_len);
	memset(c.b + c.n, 0, extra);
	c.n += extra;
	memcpy(out, "001" APP_ID, 27);
	EVP_EncodeBlock((unsigned char *)out + 27, c.b, (int)c.n);
}

static void header(struct raw *m)
{
	m->n = 0;
	raw_u32(m, 1);
	raw_u32(m, 1000);
	raw_u32(m, 0);
}

static void expect_malformed(const char *what, const char *tok, const char *want)
{
	struct token p;
	char msg[256] = "";
	int rc = token_verify(tok, APP_ID, APP_KEY, 2000, &p, msg, sizeof(msg));

	CHECK(rc == TOKEN_MALFORMED && strstr(msg, want), "%s: %s", what, msg);
}

static void test_malformed(void)
{
	static char big[TOKEN_TEXT_MAX + 8];
	char tok[2048], good[TOKEN_TEXT_MAX + 1], id[200];
	struct raw m;
	struct token t;

	make(&t, "r", "u", 1, 1000, 0);
	token_issue(&t, APP_KEY, good, sizeof(good));

	expect_malformed("NULL", NULL, "token is empty");
	expect_malformed("empty", "", "token is empty");
	memset(big, 'A', sizeof(big) - 1);
	expect_malformed("too long", big, "longer than 1024");
	expect_malformed("too short", "001" APP_ID, "too short");
	snprintf(tok, sizeof(tok), "002%s", good + 3);
	expect_malformed("version 002", tok, "version is not 001");
	snprintf(tok, sizeof(tok), "%s", good);
	tok[10] = ' ';
	expect_malformed("a space in the app id", tok, "not printable ASCII at offset 10");
	snprintf(tok, sizeof(tok), "%sA", good);
	expect_malformed("base64 length", tok, "not a non-zero multiple of 4");
	snprintf(tok, sizeof(tok), "%s", good);
	tok[30] = '-';
	expect_malformed("url-safe base64", tok, "not base64 at offset 30");
	snprintf(tok, sizeof(tok), "%s", good);
	tok[strlen(tok) - 5] = '=';
	expect_malformed("padding inside", tok, "not base64");
	snprintf(tok, sizeof(tok), "%s", good);
	tok[strlen(tok) - 1] = '\0';
	tok[strlen(tok) - 1] = '\0';
	strcat(tok, "\n\n");
	expect_malformed("trailing newlines", tok, "not base64");

	/* non-canonical: the bits under the padding are not zero */
	header(&m);
	raw_id(&m, "r", 1);
	raw_id(&m, "u", 1);
	raw_u16(&m, 0);
	wrap(&m, 32, 0, tok);
	if (tok[strlen(tok) - 1] == '=') {
		char *last = tok + strlen(tok) - (tok[strlen(tok) - 2] == '=' ? 3 : 2);

		*last = *last == 'A' ? 'B' : (char)(*last ^ 1);
		expect_malformed("non-canonical padding bits", tok, "not canonical");
	}

	wrap(&m, 32, 3, tok);
	expect_malformed("bytes after the signature", tok, "exactly 32 bytes at the end");
	wrap(&m, 31, 0, tok);
	expect_malformed("a 31-byte signature", tok, "exactly 32 bytes");

	m.n = 10;
	wrap(&m, 32, 0, tok);
	expect_malformed("a short header", tok, "too short for its header");

	header(&m);
	raw_u16(&m, 5);
	raw_bytes(&m, "ab", 2);
	wrap(&m, 32, 0, tok);
	expect_malformed("room length past the end", tok, "ends inside the room id");

	header(&m);
	raw_id(&m, "", 0);
	raw_id(&m, "u", 1);
	raw_u16(&m, 0);
	wrap(&m, 32, 0, tok);
	expect_malformed("empty room", tok, "room id is 0 bytes");

	memset(id, 'x', sizeof(id));
	header(&m);
	raw_id(&m, "r", 1);
	raw_id(&m, id, 129);
	raw_u16(&m, 0);
	wrap(&m, 32, 0, tok);
	expect_malformed("129-byte user", tok, "user id is 129 bytes");

	header(&m);
	raw_id(&m, "a\0b", 3);
	raw_id(&m, "u", 1);
	raw_u16(&m, 0);
	wrap(&m, 32, 0, tok);
	expect_malformed("NUL in the room", tok, "room id contains a NUL");

	header(&m);
	raw_id(&m, "r", 1);
	raw_id(&m, "u", 1);
	wrap(&m, 32, 0, tok);
	expect_malformed("no privilege count", tok, "before the privilege count");

	header(&m);
	raw_id(&m, "r", 1);
	raw_id(&m, "u", 1);
	raw_u16(&m, 17);
	wrap(&m, 32, 0, tok);
	expect_malformed("17 privileges", tok, "17 privileges");

	header(&m);
	raw_id(&m, "r", 1);
	raw_id(&m, "u", 1);
	raw_u16(&m, 2);
	raw_u16(&m, 4);
	raw_u32(&m, 0);
	wrap(&m, 32, 0, tok);
	expect_malformed("privilege count past the end", tok, "inside privilege 2 of 2");

	header(&m);
	raw_id(&m, "r", 1);
	raw_id(&m, "u", 1);
	raw_u16(&m, 2);
	raw_u16(&m, 4);
	raw_u32(&m, 0);
	raw_u16(&m, 0);
	raw_u32(&m, 0);
	wrap(&m, 32, 0, tok);
	expect_malformed("unsorted privileges", tok, "not sorted by key (0 after 4)");

	header(&m);
	raw_id(&m, "r", 1);
	raw_id(&m, "u", 1);
	raw_u16(&m, 2);
	raw_u16(&m, 4);
	raw_u32(&m, 0);
	raw_u16(&m, 4);
	raw_u32(&m, 0);
	wrap(&m, 32, 0, tok);
	expect_malformed("a repeated privilege", tok, "not sorted by key (4 after 4)");

	header(&m);
	raw_id(&m, "r", 1);
	raw_id(&m, "u", 1);
	raw_u16(&m, 0);
	raw_u16(&m, 0);
	wrap(&m, 32, 0, tok);
	expect_malformed("bytes after the privileges", tok, "2 bytes after the privileges");

	/* the same layout, well formed, passes: the checks above are the only fault */
	header(&m);
	raw_id(&m, "r", 1);
	raw_id(&m, "u", 1);
	raw_u16(&m, 0);
	wrap(&m, 32, 0, tok);
	CHECK(token_verify(tok, APP_ID, APP_KEY, 2000, &t, id, sizeof(id)) == TOKEN_OK,
	      "the hand-made layout itself is valid: %s", id);
	CHECK(token_parse(tok, &t, id, sizeof(id)) == TOKEN_OK && t.n_privs == 0,
	      "token_parse reads it");
}

static void test_privileges(void)
{
	struct token t;
	uint32_t e = 99;

	token_init(&t, APP_ID, "r", "u", 1000, 0);
	token_add_privilege(&t, TOKEN_PRIV_PUBLISH_STREAM, 0);
	CHECK(t.n_privs == 4 && t.privs[0].priv == 0 && t.privs[3].priv == 3,
	      "PublishStream adds PublishAudio, PublishVideo and PublishData");
	CHECK(token_can_publish(&t, 4000000000u, &e) && e == 0, "publish never expires");
	CHECK(!token_can_subscribe(&t, 1000, NULL), "no subscribe privilege");

	token_init(&t, APP_ID, "r", "u", 1000, 3000);
	token_add_privilege(&t, TOKEN_PRIV_PUBLISH_STREAM, 1500);
	token_add_privilege(&t, TOKEN_PRIV_SUBSCRIBE_STREAM, 0);
	CHECK(token_can_publish(&t, 1499, &e) && e == 1500, "publish until 1500");
	CHECK(!token_can_publish(&t, 1500, NULL), "publish expired at 1500");
	CHECK(token_can_subscribe(&t, 2999, &e) && e == 3000,
	      "subscribe 0 (never) is bounded by expireAt 3000");
	CHECK(!token_can_subscribe(&t, 3000, NULL), "subscribe ends with the token");

	token_init(&t, APP_ID, "r", "u", 1000, 2000);
	token_add_privilege(&t, TOKEN_PRIV_PUBLISH_AUDIO, 5000);
	CHECK(token_can_publish(&t, 1999, &e) && e == 2000,
	      "PublishAudio alone publishes; its later expiry is cut to expireAt");
	CHECK(token_privilege_expiry(&t, TOKEN_PRIV_PUBLISH_AUDIO, &e) && e == 2000 &&
	      !token_privilege_expiry(&t, TOKEN_PRIV_PUBLISH_VIDEO, &e), "privilege expiry");
	token_add_privilege(&t, TOKEN_PRIV_PUBLISH_AUDIO, 1200);
	CHECK(t.n_privs == 1 && token_can_publish(&t, 1100, &e) && e == 1200,
	      "adding a privilege again replaces its expiry");
	CHECK(!strcmp(token_result_text(TOKEN_BAD_SIGNATURE), "bad signature"), "result text");
}

int main(void)
{
	test_vectors();
	test_round_trip();
	test_bit_flips();
	test_malformed();
	test_privileges();
	return CHECK_DONE();
}
