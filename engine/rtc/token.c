/* token.c - the Volcengine RTC AccessToken: parse, verify, issue (token.h).
 *
 * The layout is read strictly: the base64 must be standard, padded and
 * canonical (it is re-encoded and compared, so two texts never decode to the
 * same bytes), every length must fit exactly with nothing left over, the
 * signature must be 32 bytes and the privilege keys strictly increasing. A
 * token that is not byte for byte what a reference generator makes is
 * refused, so any change to any bit of a valid token is refused too.
 * HMAC-SHA256 and base64 come from OpenSSL; signatures are compared with
 * CRYPTO_memcmp.
 *
 * Threads: pure functions; any thread.
 */
#include "engine/rtc/token.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SIG_LEN 32
#define PREFIX_LEN (sizeof(TOKEN_VERSION) - 1 + TOKEN_APP_ID_LEN)
/* msg: 3 u32, 2 ids with u16 lengths, u16 count, privileges */
#define MSG_MAX (12 + 2 * (2 + RTC_ID_MAX) + 2 + TOKEN_PRIVS_MAX * 6)
#define CONTENT_MAX (2 + MSG_MAX + 2 + SIG_LEN)

/* ---- little-endian reader over a byte range */

struct reader {
	const unsigned char *p;
	size_t left;
};

static bool get_u16(struct reader *r, uint16_t *v)
{
	if (r->left < 2)
		return false;
	*v = (uint16_t)(r->p[0] | r->p[1] << 8);
	r->p += 2;
	r->left -= 2;
	return true;
}

static bool get_u32(struct reader *r, uint32_t *v)
{
	if (r->left < 4)
		return false;
	*v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
	     (uint32_t)r->p[3] << 24;
	r->p += 4;
	r->left -= 4;
	return true;
}

static void put_u16(unsigned char **p, uint16_t v)
{
	(*p)[0] = (unsigned char)v;
	(*p)[1] = (unsigned char)(v >> 8);
	*p += 2;
}

static void put_u32(unsigned char **p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		(*p)[i] = (unsigned char)(v >> (8 * i));
	*p += 4;
}

/* ---- base64 (standard alphabet, padded, canonical) */

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Decodes s (n chars) into out; the byte count, or -1 with msg. */
static int b64_decode(const char *s, size_t n, unsigned char *out, size_t outlen, char *msg,
		      size_t len)
{
	char again[(CONTENT_MAX + 2) / 3 * 4 + 1];
	size_t pad = 0;
	int got;

	if (n == 0 || n % 4) {
		snprintf(msg, len, "token content is %zu base64 characters, not a non-zero "
			 "multiple of 4", n);
		return -1;
	}
	if (n / 4 * 3 > outlen) {
		snprintf(msg, len, "token content is too long (%zu base64 characters)", n);
		return -1;
	}
	while (pad < 2 && s[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++) {
		if (!b64_char(s[i])) {
			snprintf(msg, len, "token content has a character that is not base64 at "
				 "offset %zu", PREFIX_LEN + i);
			return -1;
		}
	}
	got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (got < 0 || (size_t)got != n / 4 * 3) {
		snprintf(msg, len, "token content is not valid base64");
		return -1;
	}
	got -= (int)pad;
	/* canonical: the unused bits before the padding must be zero */
	if (EVP_EncodeBlock((unsigned char *)again, out, got) != (int)n || memcmp(again, s, n)) {
		snprintf(msg, len, "token content is not canonical base64");
		return -1;
	}
	return got;
}

/* ---- parsing */

static int read_id(struct reader *r, const char *what, char *dst, char *msg, size_t len)
{
	uint16_t n;

	if (!get_u16(r, &n) || n > r->left) {
		snprintf(msg, len, "token message ends inside the %s id", what);
		return -1;
	}
	if (n == 0 || n > RTC_ID_MAX) {
		snprintf(msg, len, "token %s id is %u bytes, not 1..%d", what, n, RTC_ID_MAX);
		return -1;
	}
	if (memchr(r->p, '\0', n)) {
		snprintf(msg, len, "token %s id contains a NUL byte", what);
		return -1;
	}
	memcpy(dst, r->p, n);
	dst[n] = '\0';
	r->p += n;
	r->left -= n;
	return 0;
}

static int read_privileges(struct reader *r, struct token *t, char *msg, size_t len)
{
	uint16_t count;

	if (!get_u16(r, &count)) {
		snprintf(msg, len, "token message ends before the privilege count");
		return -1;
	}
	if (count > TOKEN_PRIVS_MAX) {
		snprintf(msg, len, "token has %u privileges, at most %d are accepted", count,
			 TOKEN_PRIVS_MAX);
		return -1;
	}
	for (uint16_t i = 0; i < count; i++) {
		struct token_priv *p = &t->privs[i];

		if (!get_u16(r, &p->priv) || !get_u32(r, &p->expire)) {
			snprintf(msg, len, "token message ends inside privilege %u of %u", i + 1,
				 count);
			return -1;
		}
		if (i && p->priv <= t->privs[i - 1].priv) {
			snprintf(msg, len, "token privileges are not sorted by key (%u after %u)",
				 p->priv, t->privs[i - 1].priv);
			return -1;
		}
	}
	t->n_privs = count;
	return 0;
}

static int parse_msg(const unsigned char *m, size_t n, struct token *t, char *msg, size_t len)
{
	struct reader r = { m, n };

	if (!get_u32(&r, &t->nonce) || !get_u32(&r, &t->issued_at) ||
	    !get_u32(&r, &t->expire_at)) {
		snprintf(msg, len, "token message is %zu bytes, too short for its header", n);
		return -1;
	}
	if (read_id(&r, "room", t->room, msg, len) || read_id(&r, "user", t->user, msg, len) ||
	    read_privileges(&r, t, msg, len))
		return -1;
	if (r.left) {
		snprintf(msg, len, "token message has %zu bytes after the privileges", r.left);
		return -1;
	}
	return 0;
}

/* The layout; *m / *m_len / *sig point into content. */
static int parse(const char *text, struct token *t, unsigned char *content,
		 const unsigned char **m, size_t *m_len, const unsigned char **sig, char *msg,
		 size_t len)
{
	size_t n = text ? strnlen(text, TOKEN_TEXT_MAX + 1) : 0;
	uint16_t ml, sl;
	struct reader r;
	int got;

	memset(t, 0, sizeof(*t));
	if (n == 0) {
		snprintf(msg, len, "token is empty");
		return TOKEN_MALFORMED;
	}
	if (n > TOKEN_TEXT_MAX) {
		snprintf(msg, len, "token is longer than %d characters", TOKEN_TEXT_MAX);
		return TOKEN_MALFORMED;
	}
	if (n <= PREFIX_LEN) {
		snprintf(msg, len, "token is %zu characters, too short for \"001\", a %d-character "
			 "app id and content", n, TOKEN_APP_ID_LEN);
		return TOKEN_MALFORMED;
	}
	if (memcmp(text, TOKEN_VERSION, 3)) {
		snprintf(msg, len, "token version is not %s", TOKEN_VERSION);
		return TOKEN_MALFORMED;
	}
	for (size_t i = 3; i < PREFIX_LEN; i++) {
		if (text[i] < 0x21 || text[i] > 0x7e) {
			snprintf(msg, len, "token app id has a character that is not printable "
				 "ASCII at offset %zu", i);
			return TOKEN_MALFORMED;
		}
	}
	memcpy(t->app_id, text + 3, TOKEN_APP_ID_LEN);
	t->app_id[TOKEN_APP_ID_LEN] = '\0';
	got = b64_decode(text + PREFIX_LEN, n - PREFIX_LEN, content, CONTENT_MAX + 3, msg, len);
	if (got < 0)
		return TOKEN_MALFORMED;
	r = (struct reader){ content, (size_t)got };
	if (!get_u16(&r, &ml) || ml > r.left) {
		snprintf(msg, len, "token content ends inside the message (%d bytes)", got);
		return TOKEN_MALFORMED;
	}
	*m = r.p;
	*m_len = ml;
	r.p += ml;
	r.left -= ml;
	if (!get_u16(&r, &sl) || sl != SIG_LEN || r.left != SIG_LEN) {
		snprintf(msg, len, "token signature must be exactly %d bytes at the end of the "
			 "content", SIG_LEN);
		return TOKEN_MALFORMED;
	}
	*sig = r.p;
	return parse_msg(*m, ml, t, msg, len) ? TOKEN_MALFORMED : TOKEN_OK;
}

int token_parse(const char *text, struct token *t, char *msg, size_t len)
{
	unsigned char content[CONTENT_MAX + 3];
	const unsigned char *m, *sig;
	size_t m_len;

	return parse(text, t, content, &m, &m_len, &sig, msg, len);
}

static int sign(const char *key, const unsigned char *m, size_t n, unsigned char *out)
{
	unsigned int got = 0;

	if (!HMAC(EVP_sha256(), key, (int)strlen(key), m, n, out, &got) || got != SIG_LEN)
		return -EIO;
	return 0;
}

int token_verify(const char *text, const char *app_id, const char *app_key, uint32_t now,
		 struct token *t, char *msg, size_t len)
{
	unsigned char content[CONTENT_MAX + 3], want[SIG_LEN];
	const unsigned char *m, *sig;
	size_t m_len;
	int rc = parse(text, t, content, &m, &m_len, &sig, msg, len);

	if (rc)
		return rc;
	if (strcmp(t->app_id, app_id)) {
		snprintf(msg, len, "token is for app id %s, not this server's", t->app_id);
		return TOKEN_WRONG_APP;
	}
	if (sign(app_key, m, m_len, want) || CRYPTO_memcmp(want, sig, SIG_LEN)) {
		snprintf(msg, len, "token signature does not match (wrong app key or altered "
			 "token)");
		return TOKEN_BAD_SIGNATURE;
	}
	if (t->expire_at && now >= t->expire_at) {
		snprintf(msg, len, "token expired %u s ago", now - t->expire_at);
		return TOKEN_EXPIRED;
	}
	snprintf(msg, len, "token is valid");
	return TOKEN_OK;
}

/* ---- issuing */

void token_init(struct token *t, const char *app_id, const char *room, const char *user,
		uint32_t now, uint32_t expire_at)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->app_id, sizeof(t->app_id), "%s", app_id);
	snprintf(t->room, sizeof(t->room), "%s", room);
	snprintf(t->user, sizeof(t->user), "%s", user);
	if (RAND_bytes((unsigned char *)&t->nonce, sizeof(t->nonce)) != 1)
		t->nonce = (uint32_t)now ^ 0x5a5a5a5au;
	t->issued_at = now;
	t->expire_at = expire_at;
}

static int set_privilege(struct token *t, uint16_t priv, uint32_t expire)
{
	uint16_t i = 0;

	while (i < t->n_privs && t->privs[i].priv < priv)
		i++;
	if (i < t->n_privs && t->privs[i].priv == priv) {
		t->privs[i].expire = expire;
		return 0;
	}
	if (t->n_privs == TOKEN_PRIVS_MAX)
		return -ENOSPC;
	memmove(&t->privs[i + 1], &t->privs[i], (t->n_privs - i) * sizeof(t->privs[0]));
	t->privs[i] = (struct token_priv){ priv, expire };
	t->n_privs++;
	return 0;
}

int token_add_privilege(struct token *t, uint16_t priv, uint32_t expire)
{
	int rc = set_privilege(t, priv, expire);

	for (uint16_t p = TOKEN_PRIV_PUBLISH_AUDIO;
	     rc == 0 && priv == TOKEN_PRIV_PUBLISH_STREAM && p <= TOKEN_PRIV_PUBLISH_DATA; p++)
		rc = set_privilege(t, p, expire);
	return rc;
}

static void put_id(unsigned char **p, const char *id)
{
	size_t n = strlen(id);

	put_u16(p, (uint16_t)n);
	memcpy(*p, id, n);
	*p += n;
}

int token_issue(const struct token *t, const char *app_key, char *out, size_t outlen)
{
	unsigned char content[CONTENT_MAX], *m = content + 2, *p = m;
	size_t room_len = strlen(t->room), user_len = strlen(t->user), n;
	int b64;

	if (strlen(t->app_id) != TOKEN_APP_ID_LEN || !room_len || room_len > RTC_ID_MAX ||
	    !user_len || user_len > RTC_ID_MAX || t->n_privs > TOKEN_PRIVS_MAX)
		return -EINVAL;
	put_u32(&p, t->nonce);
	put_u32(&p, t->issued_at);
	put_u32(&p, t->expire_at);
	put_id(&p, t->room);
	put_id(&p, t->user);
	put_u16(&p, t->n_privs);
	for (uint16_t i = 0; i < t->n_privs; i++) {
		put_u16(&p, t->privs[i].priv);
		put_u32(&p, t->privs[i].expire);
	}
	n = (size_t)(p - m);
	content[0] = (unsigned char)n;
	content[1] = (unsigned char)(n >> 8);
	put_u16(&p, SIG_LEN);
	if (sign(app_key, m, n, p))
		return -EIO;
	p += SIG_LEN;
	n = (size_t)(p - content);
	if (outlen < PREFIX_LEN + (n + 2) / 3 * 4 + 1)
		return -ENOSPC;
	memcpy(out, TOKEN_VERSION, 3);
	memcpy(out + 3, t->app_id, TOKEN_APP_ID_LEN);
	b64 = EVP_EncodeBlock((unsigned char *)out + PREFIX_LEN, content, (int)n);
	return (int)PREFIX_LEN + b64;
}

/* ---- privileges */

bool token_privilege_expiry(const struct token *t, uint16_t priv, uint32_t *expire)
{
	for (uint16_t i = 0; i < t->n_privs; i++) {
		uint32_t e = t->privs[i].expire;

		if (t->privs[i].priv != priv)
			continue;
		if (!e || (t->expire_at && t->expire_at < e))
			e = t->expire_at;
		*expire = e;
		return true;
	}
	return false;
}

static bool valid(const struct token *t, uint16_t priv, uint32_t now, uint32_t *expire)
{
	uint32_t e = 0;

	if (!token_privilege_expiry(t, priv, &e) || (e && now >= e))
		return false;
	if (expire)
		*expire = e;
	return true;
}

bool token_can_publish(const struct token *t, uint32_t now, uint32_t *expire)
{
	return valid(t, TOKEN_PRIV_PUBLISH_AUDIO, now, expire) ||
	       valid(t, TOKEN_PRIV_PUBLISH_STREAM, now, expire);
}

bool token_can_subscribe(const struct token *t, uint32_t now, uint32_t *expire)
{
	return valid(t, TOKEN_PRIV_SUBSCRIBE_STREAM, now, expire);
}

const char *token_result_text(int result)
{
	switch (result) {
	case TOKEN_OK: return "valid";
	case TOKEN_MALFORMED: return "malformed";
	case TOKEN_WRONG_APP: return "wrong app id";
	case TOKEN_BAD_SIGNATURE: return "bad signature";
	case TOKEN_EXPIRED: return "expired";
	default: return "unknown";
	}
}
