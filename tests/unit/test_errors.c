/* test_errors.c - the error code table against the reference documents.
 *
 * Parses the seed table (../shared/reference/000_6131ac4b87b312a2.txt from
 * the repo top: $AIRMIX_TOP or the current directory) and engine/errors.h at
 * run time and checks that every ErrorCode string is in the rtc domain, that
 * the reference enums have their exact names and values, that every own code
 * declared in errors.h has a row, and that the table is consistent:
 * unique (domain, code) and names, messages lowercase without a full stop,
 * every code inside its domain's range.
 *
 * Threads: main only.
 */
#include "check.h"
#include "engine/errors.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define SEED_NAME "000_6131ac4b87b312a2.txt"
#define MAX_SEED 128

struct seed_code {
	char name[96];
	char value[96];
};

static struct seed_code seed[MAX_SEED];
static int n_seed;

static FILE *open_seed(char *path, size_t len)
{
	const char *top = getenv("AIRMIX_TOP");

	snprintf(path, len, "%s/../shared/reference/" SEED_NAME, top && top[0] ? top : ".");
	return fopen(path, "r");
}

/* Rows of the "## ErrorCode" section: | NAME | `'VALUE'` | text | */
static void parse_seed(FILE *f)
{
	char line[4096];
	int in_section = 0;

	while (fgets(line, sizeof(line), f) && n_seed < MAX_SEED) {
		char name[96], value[96];

		if (strncmp(line, "## ", 3) == 0) {
			in_section = strncmp(line, "## ErrorCode", 12) == 0;
			continue;
		}
		if (in_section &&
		    sscanf(line, " | %95[A-Z_] | `'%95[A-Z_]'` |", name, value) == 2) {
			snprintf(seed[n_seed].name, sizeof(seed[n_seed].name), "%s", name);
			snprintf(seed[n_seed].value, sizeof(seed[n_seed].value), "%s", value);
			n_seed++;
		}
	}
}

static void check_seed(void)
{
	char path[4096];
	FILE *f = open_seed(path, sizeof(path));
	int missing = 0, aliases = 0;

	CHECK(f != NULL, "seed table found at %s (set AIRMIX_TOP to the repo top)", path);
	if (!f)
		return;
	parse_seed(f);
	fclose(f);
	CHECK(n_seed == 65, "seed table has 65 ErrorCode rows (parsed %d)", n_seed);
	CHECK(n_seed > 0 && strcmp(seed[0].name, "INVALID_ENGINE") == 0 &&
	      strcmp(seed[n_seed - 1].name, "MIXING_OLD_AND_NEW_APIS") == 0,
	      "seed rows run from INVALID_ENGINE to MIXING_OLD_AND_NEW_APIS");
	for (int i = 0; i < n_seed; i++) {
		const struct airmix_error_def *d = airmix_error_by_name(seed[i].name);
		const struct airmix_error_def *v = airmix_error_by_name(seed[i].value);

		if (!d || d->domain != AIRMIX_DOMAIN_RTC || strcmp(d->name, seed[i].name) != 0) {
			printf("# seed code %s missing from the rtc domain\n", seed[i].name);
			missing++;
		}
		if (v != d) {
			printf("# seed value string %s does not resolve to %s\n", seed[i].value,
			       seed[i].name);
			aliases++;
		}
	}
	CHECK(missing == 0, "every seed ErrorCode name is in the rtc domain (%d missing)", missing);
	CHECK(aliases == 0, "every seed value string resolves by name (%d wrong)", aliases);
	CHECK(airmix_error_by_name("AUDIO_DEVICE_RECORD_FAILED") ==
	      airmix_error_by_name("AUDIO_DEVICE_TEST_FAILED"),
	      "AUDIO_DEVICE_RECORD_FAILED is an alias of AUDIO_DEVICE_TEST_FAILED");
}

struct expect {
	enum airmix_domain domain;
	int code;
	const char *name;
};

static int check_expected(const struct expect *e, size_t n, const char *what)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		const struct airmix_error_def *d = airmix_error_find(e[i].domain, e[i].code);

		if (!d || strcmp(d->name, e[i].name) != 0) {
			printf("# %s: %s %d expected %s, got %s\n", what,
			       airmix_domain_name(e[i].domain), e[i].code, e[i].name,
			       d ? d->name : "(none)");
			bad++;
		}
	}
	return bad;
}

#define RTC(c, n) { AIRMIX_DOMAIN_RTC, c, n }
#define AM(c, n) { AIRMIX_DOMAIN_AUDIO_MIXING, c, "AUDIO_MIXING_ERROR_" n }
#define SM(c, n) { AIRMIX_DOMAIN_STREAM_MIXING, c, n }
#define FW(c, n) { AIRMIX_DOMAIN_FORWARD_STREAM, c, "FORWARD_STREAM_ERROR_" n }
#define OWN(dom, id) { AIRMIX_DOMAIN_##dom, id, #id }

static void check_reference_enums(void)
{
	static const struct expect native[] = {
		RTC(-1000, "INVALID_TOKEN"), RTC(-1001, "JOIN_ROOM_FAILED"),
		RTC(-1002, "NO_PUBLISH_PERMISSION"), RTC(-1003, "NO_SUBSCRIBE_PERMISSION"),
		RTC(-1004, "DUPLICATE_LOGIN"), RTC(-1006, "KICKED_OUT"),
		RTC(-1007, "ROOM_ID_ILLEGAL"), RTC(-1009, "TOKEN_EXPIRED"),
		RTC(-1010, "UPDATE_TOKEN_WITH_INVALID_TOKEN"), RTC(-1011, "ROOM_DISMISS"),
		RTC(-1013, "ROOM_ALREADY_EXIST"), RTC(-1014, "USER_ID_DIFFERENT"),
		RTC(-1025, "ROOM_FORBIDDEN"), RTC(-1026, "USER_FORBIDDEN"),
		RTC(-1070, "OVER_STREAM_SUBSCRIBE_LIMIT"), RTC(-1080, "OVER_STREAM_PUBLISH_LIMIT"),
		RTC(-1084, "ABNORMAL_SERVER_STATUS"),
	};
	static const struct expect mixing[] = {
		AM(0, "OK"), AM(1, "PRELOAD_FAILED"), AM(2, "START_FAILED"), AM(3, "ID_NOT_FOUND"),
		AM(4, "SET_POSITION_FAILED"), AM(5, "INVALID_VOLUME"), AM(6, "LOAD_CONFLICT"),
		AM(7, "ID_TYPE_NOT_MATCH"), AM(8, "ID_TYPE_INVALID_PITCH"),
		AM(9, "INVALID_AUDIO_TRACK"), AM(10, "IS_STARTING"),
		AM(11, "INVALID_PLAYBACK_SPEED"),
	};
	static const struct expect stream[] = {
		SM(0, "ERR_OK"), SM(1, "ERR_PARAM_INVALID"), SM(2, "ERR_FRAME_TIMEOUT"),
		SM(3, "ERR_POSTPROCESS"), SM(4, "ERR_PUSH_CDN"), SM(9999, "ERR_UNKNOWN"),
	};
	static const struct expect forward[] = {
		FW(0, "OK"), FW(1201, "INVALID_ARGUMENT"), FW(1202, "INVALID_TOKEN"),
		FW(1203, "RESPONSE"), FW(1204, "REMOTE_KICKED"), FW(1205, "NOT_SUPPORT"),
	};
	const struct airmix_error_def *pitch = airmix_error_by_name("AUDIO_MIXING_ERROR_INVALID_PITCH");
	const struct airmix_error_def *over = airmix_error_by_name("OVER_USER_LIMIT");

#define N(a) (sizeof(a) / sizeof((a)[0]))
	CHECK(check_expected(native, N(native), "native") == 0,
	      "rtc codes with a native 3.58 value use it");
	CHECK(check_expected(mixing, N(mixing), "audio_mixing") == 0,
	      "AudioMixingError 0..11 present with exact names");
	CHECK(check_expected(stream, N(stream), "stream_mixing") == 0,
	      "StreamMixingEventErrorCode 0,1,2,3,4,9999 present with exact names");
	CHECK(check_expected(forward, N(forward), "forward_stream") == 0,
	      "ForwardStreamError 0,1201..1205 present with exact names");
	CHECK(pitch && pitch->domain == AIRMIX_DOMAIN_AUDIO_MIXING && pitch->code == 8,
	      "AUDIO_MIXING_ERROR_INVALID_PITCH finds code 8");
	CHECK(over && over->domain == AIRMIX_DOMAIN_RTC && over->code <= -1900 &&
	      over->code >= -1999, "OVER_USER_LIMIT in the airmix rtc range (%d)",
	      over ? over->code : 0);
	CHECK(airmix_error_find(AIRMIX_DOMAIN_RTC, -1900) ==
	      airmix_error_by_name("INVALID_ENGINE"), "first seed code without a native value is -1900");
	CHECK(airmix_error_find(AIRMIX_DOMAIN_AUDIO_MIXING, 12) == NULL, "audio_mixing 12 unknown");
	CHECK(airmix_error_by_name("NO_SUCH_CODE") == NULL, "unknown name gives NULL");
	CHECK(airmix_error_by_name(NULL) == NULL, "NULL name gives NULL");
}

static void check_own_codes(void)
{
	static const struct expect own[] = {
		OWN(ENGINE, ENGINE_OK), OWN(ENGINE, ENGINE_STARTED), OWN(ENGINE, ENGINE_STOPPED),
		OWN(ENGINE, ENGINE_XRUN), OWN(ENGINE, ENGINE_CLOCK_LOST),
		OWN(ENGINE, ENGINE_CLOCK_RESTORED), OWN(ENGINE, ENGINE_CLOCK_FAILED),
		OWN(ENGINE, ENGINE_SAMPLE_RATE_CHANGED), OWN(ENGINE, ENGINE_BUFFER_SIZE_CHANGED),
		OWN(ENGINE, ENGINE_COMMAND_RING_FULL), OWN(ENGINE, ENGINE_EVENT_RING_OVERFLOW),
		OWN(ENGINE, ENGINE_NODE_NOT_FOUND), OWN(ENGINE, ENGINE_INVALID_GAIN),
		OWN(ENGINE, ENGINE_INVALID_PAN), OWN(ENGINE, ENGINE_TOO_MANY_NODES),
		OWN(ENGINE, ENGINE_TAP_OVERRUN), OWN(ENGINE, ENGINE_CONFIG_RELOADED),
		OWN(ENGINE, ENGINE_RT_PRIORITY_DENIED), OWN(ENGINE, ENGINE_INVALID_NODE),
		OWN(ENGINE, ENGINE_PERIOD_TOO_LARGE), OWN(ENGINE, ENGINE_SOURCE_UNDERRUN),
		OWN(ENGINE, ENGINE_RTP_DROPPED), OWN(ENGINE, ENGINE_RTP_SEND_FAILED),
		OWN(CONFIG, CONFIG_INVALID_VALUE), OWN(CONFIG, CONFIG_UNKNOWN_KEY),
		OWN(CONFIG, CONFIG_UNKNOWN_SECTION), OWN(CONFIG, CONFIG_SYNTAX),
		OWN(CONFIG, CONFIG_FILE_UNREADABLE), OWN(CONFIG, CONFIG_RELOAD_REJECTED),
		OWN(CONFIG, CONFIG_NEEDS_RESTART),
		OWN(HISTORY, HISTORY_OPEN_FAILED), OWN(HISTORY, HISTORY_WRITE_FAILED),
		OWN(HISTORY, HISTORY_ROWS_DROPPED), OWN(HISTORY, HISTORY_DATABASE_LOCKED),
		OWN(HISTORY, HISTORY_DATABASE_CORRUPT), OWN(HISTORY, HISTORY_RECOVERED),
		OWN(API, API_BAD_JSON), OWN(API, API_UNKNOWN_FIELD), OWN(API, API_WRONG_TYPE),
		OWN(API, API_OUT_OF_RANGE), OWN(API, API_MISSING_FIELD),
		OWN(API, API_BODY_TOO_LARGE), OWN(API, API_NOT_FOUND),
		OWN(API, API_METHOD_NOT_ALLOWED), OWN(API, API_UNAUTHORIZED),
		OWN(API, API_BAD_QUERY), OWN(API, API_INTERNAL),
		OWN(API, API_UNSUPPORTED_MEDIA_TYPE), OWN(API, API_TOO_MANY_SUBSCRIBERS),
		OWN(API, API_FORBIDDEN), OWN(API, API_CSRF_FAILED), OWN(API, API_RATE_LIMITED),
		OWN(API, API_ALREADY_EXISTS), OWN(API, API_NOT_AUDIO),
		OWN(CONFIG, CONFIG_WRITE_FAILED),
	};
	static const struct {
		const char *name;
		int http;
	} statuses[] = {
		{ "API_BAD_JSON", 400 }, { "API_UNKNOWN_FIELD", 400 }, { "API_WRONG_TYPE", 400 },
		{ "API_OUT_OF_RANGE", 400 }, { "API_MISSING_FIELD", 400 }, { "API_BAD_QUERY", 400 },
		{ "API_NOT_FOUND", 404 }, { "API_METHOD_NOT_ALLOWED", 405 },
		{ "API_UNAUTHORIZED", 401 }, { "API_BODY_TOO_LARGE", 413 },
		{ "API_UNSUPPORTED_MEDIA_TYPE", 415 }, { "API_TOO_MANY_SUBSCRIBERS", 429 },
		{ "API_INTERNAL", 500 }, { "AUDIO_MIXING_ERROR_INVALID_VOLUME", 400 },
		{ "AUDIO_MIXING_ERROR_ID_NOT_FOUND", 404 }, { "AUDIO_MIXING_ERROR_LOAD_CONFLICT", 409 },
		{ "AUDIO_MIXING_ERROR_IS_STARTING", 409 }, { "ENGINE_NODE_NOT_FOUND", 404 },
		{ "ENGINE_INVALID_GAIN", 400 }, { "ENGINE_INVALID_PAN", 400 },
		{ "ENGINE_COMMAND_RING_FULL", 503 }, { "CONFIG_INVALID_VALUE", 400 },
	};
	static const struct {
		const char *name;
		enum airmix_level level;
	} levels[] = {
		{ "ENGINE_STARTED", AIRMIX_LEVEL_STATE }, { "ENGINE_STOPPED", AIRMIX_LEVEL_STATE },
		{ "ENGINE_CLOCK_RESTORED", AIRMIX_LEVEL_STATE },
		{ "ENGINE_CONFIG_RELOADED", AIRMIX_LEVEL_STATE },
		{ "ENGINE_XRUN", AIRMIX_LEVEL_WARNING }, { "ENGINE_CLOCK_LOST", AIRMIX_LEVEL_ERROR },
		{ "HISTORY_ROWS_DROPPED", AIRMIX_LEVEL_WARNING },
	};
	int bad = 0;

	CHECK(check_expected(own, N(own), "own") == 0, "every own enum value is in the table");
	for (size_t i = 0; i < N(statuses); i++) {
		const struct airmix_error_def *d = airmix_error_by_name(statuses[i].name);

		if (!d || d->http_status != statuses[i].http) {
			printf("# %s: http %d, expected %d\n", statuses[i].name,
			       d ? d->http_status : -1, statuses[i].http);
			bad++;
		}
	}
	CHECK(bad == 0, "http statuses as documented (%d wrong)", bad);
	bad = 0;
	for (size_t i = 0; i < N(levels); i++) {
		const struct airmix_error_def *d = airmix_error_by_name(levels[i].name);

		if (!d || d->level != levels[i].level) {
			printf("# %s: wrong level\n", levels[i].name);
			bad++;
		}
	}
	CHECK(bad == 0, "levels as documented (%d wrong)", bad);
}

/* Every "PREFIX_NAME = NUMBER," in errors.h (airmix's own enums) must be in
 * the table under that name and number, so that a code added to the header
 * without a table row fails here. */
static void check_header_enums(void)
{
	static const struct {
		const char *prefix;
		enum airmix_domain domain;
	} own[] = {
		{ "ENGINE_", AIRMIX_DOMAIN_ENGINE }, { "CONFIG_", AIRMIX_DOMAIN_CONFIG },
		{ "HISTORY_", AIRMIX_DOMAIN_HISTORY }, { "API_", AIRMIX_DOMAIN_API },
		{ "RECORDER_", AIRMIX_DOMAIN_RECORDER },
	};
	const char *top = getenv("AIRMIX_TOP");
	char path[4096], line[512];
	int found = 0, missing = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/engine/errors.h", top && top[0] ? top : ".");
	f = fopen(path, "r");
	CHECK(f != NULL, "errors.h found at %s", path);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char name[128];
		int code;

		if (sscanf(line, " %127[A-Z_] = %d ,", name, &code) != 2)
			continue;
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
			const struct airmix_error_def *d;

			if (strncmp(name, own[i].prefix, strlen(own[i].prefix)) != 0)
				continue;
			found++;
			d = airmix_error_find(own[i].domain, code);
			if (!d || strcmp(d->name, name) != 0) {
				printf("# %s = %d from errors.h is not in the table\n", name, code);
				missing++;
			}
		}
	}
	fclose(f);
	CHECK(found >= 46, "errors.h declares %d own codes", found);
	CHECK(missing == 0, "every own code in errors.h has a table row (%d missing)", missing);
}

static void check_domains(void)
{
	static const char *const names[AIRMIX_DOMAIN_COUNT] = {
		"rtc", "audio_mixing", "stream_mixing", "forward_stream", "engine",
		"config", "history", "api", "recorder",
	};
	int bad = 0;

	for (int d = 0; d < AIRMIX_DOMAIN_COUNT; d++)
		if (strcmp(airmix_domain_name(d), names[d]) != 0 ||
		    airmix_domain_from_name(names[d]) != d)
			bad++;
	CHECK(bad == 0, "domain names round-trip");
	CHECK(airmix_domain_from_name("nope") == -1, "unknown domain name gives -1");
	CHECK(airmix_domain_from_name(NULL) == -1, "NULL domain name gives -1");
	CHECK(strcmp(airmix_level_name(AIRMIX_LEVEL_ERROR), "error") == 0 &&
	      strcmp(airmix_level_name(AIRMIX_LEVEL_WARNING), "warning") == 0 &&
	      strcmp(airmix_level_name(AIRMIX_LEVEL_STATE), "state") == 0 &&
	      strcmp(airmix_level_name(AIRMIX_LEVEL_INFO), "info") == 0, "level names");
}

static int in_seed_native(int code)
{
	static const int native[] = { -1000, -1001, -1002, -1003, -1004, -1006, -1007, -1009,
				      -1010, -1011, -1013, -1014, -1025, -1026, -1070, -1080,
				      -1084 };

	for (size_t i = 0; i < N(native); i++)
		if (native[i] == code)
			return 1;
	return 0;
}

static int code_in_range(const struct airmix_error_def *d)
{
	int c = d->code;

	switch (d->domain) {
	case AIRMIX_DOMAIN_RTC:
		return in_seed_native(c) || (c <= -1900 && c >= -1999);
	case AIRMIX_DOMAIN_AUDIO_MIXING:
		return c >= 0 && c <= 11;
	case AIRMIX_DOMAIN_STREAM_MIXING:
		return (c >= 0 && c <= 4) || c == 9999;
	case AIRMIX_DOMAIN_FORWARD_STREAM:
		return c == 0 || (c >= 1201 && c <= 1205);
	case AIRMIX_DOMAIN_ENGINE:
		return c == 0 || (c >= 1000 && c <= 1999);
	case AIRMIX_DOMAIN_CONFIG:
		return c >= 2000 && c <= 2999;
	case AIRMIX_DOMAIN_HISTORY:
		return c >= 3000 && c <= 3999;
	case AIRMIX_DOMAIN_API:
		return c >= 4000 && c <= 4999;
	case AIRMIX_DOMAIN_RECORDER:
		return c >= 5000 && c <= 5999;
	default:
		return 0;
	}
}

static void check_table(void)
{
	size_t n = airmix_error_count();
	int dup_code = 0, dup_name = 0, bad_msg = 0, bad_range = 0, bad_ok = 0, bad_http = 0;

	CHECK(n >= 144, "table has %zu rows (seed, reference enums and own codes)", n);
	CHECK(airmix_error_at(n) == NULL, "airmix_error_at past the end gives NULL");
	for (size_t i = 0; i < n; i++) {
		const struct airmix_error_def *a = airmix_error_at(i);
		size_t len = a->message ? strlen(a->message) : 0;

		for (size_t j = i + 1; j < n; j++) {
			const struct airmix_error_def *b = airmix_error_at(j);

			if (a->domain == b->domain && a->code == b->code) {
				printf("# duplicate %s %d\n", airmix_domain_name(a->domain), a->code);
				dup_code++;
			}
			if (strcmp(a->name, b->name) == 0) {
				printf("# duplicate name %s\n", a->name);
				dup_name++;
			}
		}
		if (!len || !islower((unsigned char)a->message[0]) || a->message[len - 1] == '.' ||
		    !a->name[0]) {
			printf("# message of %s: \"%s\"\n", a->name, a->message ? a->message : "");
			bad_msg++;
		}
		if (!code_in_range(a)) {
			printf("# %s %d outside its range\n", a->name, a->code);
			bad_range++;
		}
		if (a->code == 0 && a->level != AIRMIX_LEVEL_STATE && a->level != AIRMIX_LEVEL_INFO) {
			printf("# ok code %s is not state/info\n", a->name);
			bad_ok++;
		}
		if (a->http_status < 200 || a->http_status > 599) {
			printf("# %s http status %d\n", a->name, a->http_status);
			bad_http++;
		}
		if (airmix_error_find(a->domain, a->code) != a || airmix_error_by_name(a->name) != a)
			dup_code++;
	}
	CHECK(dup_code == 0, "(domain, code) unique and found (%d problems)", dup_code);
	CHECK(dup_name == 0, "names unique (%d duplicates)", dup_name);
	CHECK(bad_msg == 0, "messages lowercase first, no full stop (%d bad)", bad_msg);
	CHECK(bad_range == 0, "every code inside its domain range (%d outside)", bad_range);
	CHECK(bad_ok == 0, "ok codes are state or info (%d bad)", bad_ok);
	CHECK(bad_http == 0, "http statuses are valid (%d bad)", bad_http);
}

int main(void)
{
	check_domains();
	check_seed();
	check_reference_enums();
	check_own_codes();
	check_header_enums();
	check_table();
	return CHECK_DONE();
}
