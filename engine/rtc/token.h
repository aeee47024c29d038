/* token.h - the Volcengine RTC AccessToken: parse, verify, issue
 * (reference: ../shared/reference/volc-api.md §5 "AccessToken format").
 *
 *   token   = "001" ‖ appId (24 chars) ‖ base64(content)   standard, padded
 *   content = u16 len ‖ msg ‖ u16 len ‖ HMAC-SHA256(appKey, msg)
 *   msg     = u32 nonce ‖ u32 issuedAt ‖ u32 expireAt ‖ u16 len ‖ roomId ‖
 *             u16 len ‖ userId ‖ u16 count ‖ count × (u16 privilege, u32 expire)
 * All integers little-endian; the privilege map sorted by key. expireAt 0 =
 * the token never expires; a privilege's expire 0 = that privilege never
 * expires (while the token lives).
 *
 * Threads: pure functions; any thread.
 */
#ifndef AIRMIX_RTC_TOKEN_H
#define AIRMIX_RTC_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/rtc/media.h"	/* RTC_ID_MAX */

#define TOKEN_VERSION "001"
#define TOKEN_APP_ID_LEN 24
#define TOKEN_PRIVS_MAX 16	/* privilege entries a token may carry */
#define TOKEN_TEXT_MAX 1024	/* longest token text accepted, characters */

enum token_privilege {
	TOKEN_PRIV_PUBLISH_STREAM = 0,	/* implies 1, 2 and 3 */
	TOKEN_PRIV_PUBLISH_AUDIO = 1,
	TOKEN_PRIV_PUBLISH_VIDEO = 2,
	TOKEN_PRIV_PUBLISH_DATA = 3,
	TOKEN_PRIV_SUBSCRIBE_STREAM = 4,
};

struct token_priv {
	uint16_t priv;
	uint32_t expire;	/* unix s, 0 = never */
};

struct token {
	char app_id[TOKEN_APP_ID_LEN + 1];
	uint32_t nonce;
	uint32_t issued_at;	/* unix s */
	uint32_t expire_at;	/* unix s, 0 = never */
	char room[RTC_ID_MAX + 1];
	char user[RTC_ID_MAX + 1];
	uint16_t n_privs;
	struct token_priv privs[TOKEN_PRIVS_MAX];	/* sorted by priv, unique */
};

/* Why a token was refused. */
enum token_result {
	TOKEN_OK = 0,
	TOKEN_MALFORMED = -1,	/* not a token: layout, base64, lengths */
	TOKEN_WRONG_APP = -2,	/* another app id */
	TOKEN_BAD_SIGNATURE = -3,
	TOKEN_EXPIRED = -4,	/* expireAt passed */
};

/* Parses text into t without checking the signature. Returns TOKEN_OK or
 * TOKEN_MALFORMED with a message in msg. */
int token_parse(const char *text, struct token *t, char *msg, size_t len);

/* Parses and verifies text for app_id/app_key at unix time now: layout, app
 * id, HMAC (compared in constant time) and expireAt. Returns TOKEN_OK or a
 * negative enum token_result, with a message in msg. t is filled whenever
 * the layout was readable. */
int token_verify(const char *text, const char *app_id, const char *app_key, uint32_t now,
		 struct token *t, char *msg, size_t len);

/* Starts a token (random nonce, issued now, no privileges). */
void token_init(struct token *t, const char *app_id, const char *room, const char *user,
		uint32_t now, uint32_t expire_at);
/* Adds or replaces a privilege; PublishStream also sets 1, 2 and 3 to the
 * same expiry. -ENOSPC when the map is full. */
int token_add_privilege(struct token *t, uint16_t priv, uint32_t expire);

/* Serialises and signs t into out (NUL-terminated). Returns the length, or
 * -EINVAL (bad app id, id too long), -ENOSPC (out too small), -EIO (crypto). */
int token_issue(const struct token *t, const char *app_key, char *out, size_t outlen);

/* The expiry of a privilege: true when t carries it, with *expire the first
 * moment it is no longer valid (0 = never: neither the privilege nor the
 * token expires). */
bool token_privilege_expiry(const struct token *t, uint16_t priv, uint32_t *expire);
/* Can the holder publish (PublishStream or PublishAudio) / subscribe at now? */
bool token_can_publish(const struct token *t, uint32_t now, uint32_t *expire);
bool token_can_subscribe(const struct token *t, uint32_t now, uint32_t *expire);

const char *token_result_text(int result);

#endif
