/* fuzz_token.c - libFuzzer harness of the AccessToken parser and verifier
 * (engine/rtc/token.c).
 *
 * Each input is a token text. Whatever parses must re-issue, with the same
 * fields and the harness's key, into a token that verifies and parses back
 * to the same fields; nothing may crash or read out of bounds (ASan).
 *
 * Threads: libFuzzer's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/rtc/token.h"

#define APP_ID "123456781234567812345678"
#define APP_KEY "app key"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[TOKEN_TEXT_MAX + 64], again[TOKEN_TEXT_MAX + 1], msg[256];
	struct token t, u;
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;

	memcpy(text, data, n);
	text[n] = '\0';
	token_verify(text, APP_ID, APP_KEY, 1800000000u, &t, msg, sizeof(msg));
	if (token_parse(text, &t, msg, sizeof(msg)) != TOKEN_OK)
		return 0;
	/* the app id of a parsed token may be any 24 printable characters */
	if (token_issue(&t, APP_KEY, again, sizeof(again)) < 0)
		abort();
	if (token_verify(again, t.app_id, APP_KEY, t.expire_at ? t.expire_at - 1 : 0, &u, msg,
			 sizeof(msg)) != TOKEN_OK || memcmp(&t, &u, sizeof(t)))
		abort();
	return 0;
}
