/* errors.c - the one table of every code airmix can report (DESIGN §5).
 *
 * The table is constant and never renumbered: add rows, never change a
 * (domain, code) pair or a name once it has shipped. Lookups are linear; the
 * table is small and nothing here runs on the RT thread.
 *
 * rtc domain numbering:
 *   - a seed ErrorCode string (reference/000_6131ac4b87b312a2.txt) that has a
 *     native 3.58 ErrorCode (reference/volc-api.md §5) uses that value
 *     (INVALID_TOKEN -1000, JOIN_ROOM_FAILED -1001, ...);
 *   - every other seed string gets an airmix value from -1900 downwards, in
 *     seed order (INVALID_ENGINE -1900, INVALID_PARAMS -1901, ...);
 *   - native-only room codes keep their native value (-1003, -1007, ...);
 *   - codes airmix adds to the rtc domain itself are taken from the other end
 *     of the airmix range, -1999 upwards (OVER_USER_LIMIT -1999: a join over
 *     the room's visible-user limit; 3.58 documents the limit but no code).
 * The seed row AUDIO_DEVICE_TEST_FAILED keeps its property name; its value
 * string AUDIO_DEVICE_RECORD_FAILED is accepted as an alias by name lookup.
 *
 * audio_mixing, stream_mixing and forward_stream use the reference values.
 * airmix's own domains: engine 1000..1999 (plus ENGINE_OK 0), config
 * 2000..2999, history 3000..3999, api 4000..4999, recorder 5000..5999.
 *
 * Threads: any thread may call anything here (read-only data).
 */
#include "errors.h"

#include <string.h>

#define E(dom, code, name, lvl, http, msg) \
	{ AIRMIX_DOMAIN_##dom, code, name, AIRMIX_LEVEL_##lvl, http, msg }

static const struct airmix_error_def error_table[] = {
	/* ---- rtc: seed ErrorCode strings, in seed order */
	E(RTC, -1900, "INVALID_ENGINE", ERROR, 400, "the engine handle is not a valid engine"),
	E(RTC, -1901, "INVALID_PARAMS", ERROR, 400, "invalid parameters"),
	E(RTC, -1000, "INVALID_TOKEN", ERROR, 401, "token is invalid or expired"),
	E(RTC, -1001, "JOIN_ROOM_FAILED", ERROR, 500, "joining the room failed"),
	E(RTC, -1010, "UPDATE_TOKEN_WITH_INVALID_TOKEN", ERROR, 401,
	  "token update rejected: the new token is invalid"),
	E(RTC, -1902, "UPDATE_TOKEN_BEFORE_JOIN", ERROR, 409,
	  "token update before joining the room: join first"),
	E(RTC, -1903, "REPEAT_JOIN", ERROR, 409, "already joined this room"),
	E(RTC, -1904, "REPEAT_PUSH", ERROR, 409, "public stream is already being pushed"),
	E(RTC, -1905, "REPEAT_PLAY", ERROR, 409, "public stream is already being played"),
	E(RTC, -1002, "NO_PUBLISH_PERMISSION", ERROR, 403,
	  "no permission to publish: the user is invisible"),
	E(RTC, -1906, "STREAM_NOT_EXIST", ERROR, 404, "stream does not exist"),
	E(RTC, -1907, "NOT_CONNECTED_YET", ERROR, 409,
	  "not connected to the server yet: join the room first"),
	E(RTC, -1006, "KICKED_OUT", ERROR, 403, "user was kicked out of the room"),
	E(RTC, -1011, "ROOM_DISMISS", ERROR, 410, "room was dismissed: every user is out"),
	E(RTC, -1009, "TOKEN_EXPIRED", ERROR, 401,
	  "token expired while in the room: rejoin with a new token"),
	E(RTC, -1908, "TOKEN_NO_PUBLISH_PERMISSION", WARNING, 403,
	  "token publish privilege expired: update the token"),
	E(RTC, -1909, "TOKEN_NO_SUBSCRIBE_PERMISSION", WARNING, 403,
	  "token subscribe privilege expired: update the token"),
	E(RTC, -1004, "DUPLICATE_LOGIN", ERROR, 409,
	  "a user with the same id joined the room: this session was kicked"),
	E(RTC, -1910, "INVOKED_BEFORE_CAPTURE", ERROR, 409,
	  "snapshot of a local stream that is not captured"),
	E(RTC, -1911, "REPEAT_CAPTURE", ERROR, 409, "this stream is already being captured"),
	E(RTC, -1912, "GET_VIDEO_TRACK_FAILED", ERROR, 500, "video capture could not start"),
	E(RTC, -1913, "GET_AUDIO_TRACK_FAILED", ERROR, 500,
	  "audio capture could not start: no device or device busy"),
	E(RTC, -1914, "GET_SCREEN_TRACK_FAILED", ERROR, 500, "screen capture could not start"),
	E(RTC, -1915, "STREAM_TYPE_NOT_MATCH", ERROR, 409,
	  "internal capture call on a custom source stream"),
	E(RTC, -1916, "CANT_FIND_DOM", ERROR, 400, "player container does not exist"),
	E(RTC, -1917, "INVALID_DEVICE_ID", ERROR, 400, "invalid audio device id"),
	E(RTC, -1918, "NOT_SUPPORTED", ERROR, 501, "not supported on this platform"),
	E(RTC, -1919, "ICE_SERVER_WRONG", ERROR, 502, "no ice server could be allocated"),
	E(RTC, -1920, "LOAD_RESOURCES_FAILED", ERROR, 400,
	  "audio mixing resource could not be loaded: check the path"),
	E(RTC, -1921, "TIME_OUT", ERROR, 504, "no signalling reply within 60 s"),
	E(RTC, -1922, "ADD_TRANSCEIVER_FAILED", ERROR, 500, "transceiver could not be created"),
	E(RTC, -1923, "PUBLISH_FAILED", ERROR, 500, "publishing the stream failed"),
	E(RTC, -1924, "OPERATION_CANCEL", INFO, 409,
	  "operation cancelled by leaving the room; nothing to do"),
	E(RTC, -1925, "START_CLOUD_PROXY_AFTER_JOIN", ERROR, 409,
	  "cloud proxy must be started before joining the room"),
	E(RTC, -1926, "STOP_CLOUD_PROXY_BEFORE_LEAVE", ERROR, 409,
	  "cloud proxy must be stopped after leaving the room"),
	E(RTC, -1927, "UNEXPECTED_ERROR", ERROR, 500, "unexpected error"),
	E(RTC, -1928, "REPEAT_DEVICE_TEST", ERROR, 409, "device test is already running"),
	E(RTC, -1929, "AUDIO_DEVICE_TEST_FAILED", ERROR, 500,
	  "audio device recording test failed: retry"),
	E(RTC, -1930, "ALREADY_LOGIN", ERROR, 409,
	  "a user with this id is already logged in to signalling"),
	E(RTC, -1931, "LOGIN_FAILED", ERROR, 500, "signalling login failed"),
	E(RTC, -1932, "NOT_LOGIN", ERROR, 409, "not logged in to signalling: log in first"),
	E(RTC, -1933, "RTM_DUPLICATE_LOGIN", ERROR, 409,
	  "a user with the same id logged in: this session was logged out"),
	E(RTC, -1934, "RTM_TOKEN_ERROR", ERROR, 401,
	  "signalling reconnect used a bad token: log in with a new token"),
	E(RTC, -1935, "USER_MESSAGE_TIMEOUT", ERROR, 504, "user message timed out"),
	E(RTC, -1936, "USER_MESSAGE_BROKEN", ERROR, 502,
	  "user message failed: the channel was closed"),
	E(RTC, -1937, "USER_MESSAGE_NO_RECEIVER", ERROR, 404,
	  "user message has no receiver: check the user id"),
	E(RTC, -1938, "USER_MESSAGE_SEND_TO_SERVER_ERROR", ERROR, 502,
	  "message to the business server got no answer"),
	E(RTC, -1939, "USER_MESSAGE_SERVER_RESPONSE_ERROR", ERROR, 502,
	  "business server answered the message with a status other than 200"),
	E(RTC, -1940, "USER_MESSAGE_NOT_JOIN", ERROR, 409,
	  "user message before joining the room: join first"),
	E(RTC, -1941, "USER_MESSAGE_NOT_LOGIN", ERROR, 409,
	  "message outside a room before signalling login: log in first"),
	E(RTC, -1942, "USER_MESSAGE_SERVER_PARAMS_NOTSET", ERROR, 409,
	  "business server parameters are not set"),
	E(RTC, -1943, "USER_MESSAGE_UNKNOWN", ERROR, 500, "user message failed for an unknown reason"),
	E(RTC, -1944, "RECONNECT_FAILED", ERROR, 502,
	  "reconnecting to the server failed and will not be retried"),
	E(RTC, -1945, "SUBTITLE_ALREADY_ON", ERROR, 409, "subtitles are already on"),
	E(RTC, -1946, "SUBTITLE_ERR_POSTPROCESS", ERROR, 502,
	  "cloud media processing failed internally"),
	E(RTC, -1947, "SUBTITLE_ERR_CONNECTION_ERROR", ERROR, 502,
	  "connection to the third-party service failed"),
	E(RTC, -1948, "SUBTITLE_ERR_PROCESS_ERROR", ERROR, 504,
	  "cloud media processing did not answer in time"),
	E(RTC, -1949, "SUBTITLE_ERR_UNKNOWN", ERROR, 502,
	  "cloud media processing sent an unknown error code"),
	E(RTC, -1950, "UNEXPECTED_INVOKE_FORWARD_STREAM", ERROR, 409,
	  "stream forwarding call out of order"),
	E(RTC, -1025, "ROOM_FORBIDDEN", ERROR, 403, "joining the room failed: the room is banned"),
	E(RTC, -1026, "USER_FORBIDDEN", ERROR, 403, "joining the room failed: the user is banned"),
	E(RTC, -1951, "ERR_ELECTRON_IS_NULL", ERROR, 500, "electron instance not available"),
	E(RTC, -1952, "ELECTRON_DESKTOP_CAPTURER_GET_SOURCES_ERROR", ERROR, 500,
	  "electron desktop sources could not be listed"),
	E(RTC, -1953, "SET_SIMULCAST_FAILED", ERROR, 409, "simulcast could not be set"),
	E(RTC, -1954, "MIXING_OLD_AND_NEW_APIS", WARNING, 400,
	  "deprecated and current simulcast calls were mixed"),
	/* ---- rtc: native-only room codes (3.58 values) */
	E(RTC, -1003, "NO_SUBSCRIBE_PERMISSION", ERROR, 403, "no permission to subscribe"),
	E(RTC, -1007, "ROOM_ID_ILLEGAL", ERROR, 400,
	  "room id is invalid: at most 128 bytes of A-Z a-z 0-9 _ @ -"),
	E(RTC, -1013, "ROOM_ALREADY_EXIST", ERROR, 409, "room already exists"),
	E(RTC, -1014, "USER_ID_DIFFERENT", ERROR, 409,
	  "user id differs from the one this session joined with"),
	E(RTC, -1070, "OVER_STREAM_SUBSCRIBE_LIMIT", ERROR, 409,
	  "subscribed stream limit reached"),
	E(RTC, -1080, "OVER_STREAM_PUBLISH_LIMIT", ERROR, 409,
	  "published stream limit of the room reached"),
	E(RTC, -1084, "ABNORMAL_SERVER_STATUS", ERROR, 503, "server status is abnormal"),
	/* ---- rtc: airmix additions, from -1999 upwards */
	E(RTC, -1999, "OVER_USER_LIMIT", ERROR, 409, "visible user limit of the room reached"),
	E(RTC, -1998, "TOKEN_WILL_EXPIRE", WARNING, 200,
	  "the token expires soon: update it (update_token)"),

	/* ---- audio_mixing: AudioMixingError 0..11 */
	E(AUDIO_MIXING, 0, "AUDIO_MIXING_ERROR_OK", STATE, 200, "ok"),
	E(AUDIO_MIXING, 1, "AUDIO_MIXING_ERROR_PRELOAD_FAILED", ERROR, 400,
	  "preload failed: file not found or longer than 20 s"),
	E(AUDIO_MIXING, 2, "AUDIO_MIXING_ERROR_START_FAILED", ERROR, 400,
	  "start failed: file not found or cannot be opened"),
	E(AUDIO_MIXING, 3, "AUDIO_MIXING_ERROR_ID_NOT_FOUND", ERROR, 404, "mixing id not found"),
	E(AUDIO_MIXING, 4, "AUDIO_MIXING_ERROR_SET_POSITION_FAILED", ERROR, 400,
	  "position must be less than the file duration"),
	E(AUDIO_MIXING, 5, "AUDIO_MIXING_ERROR_INVALID_VOLUME", ERROR, 400,
	  "volume out of range [0, 400]"),
	E(AUDIO_MIXING, 6, "AUDIO_MIXING_ERROR_LOAD_CONFLICT", ERROR, 409,
	  "file differs from the preloaded one: unload it first"),
	E(AUDIO_MIXING, 7, "AUDIO_MIXING_ERROR_ID_TYPE_NOT_MATCH", ERROR, 400,
	  "this call does not support the stream type of this mixing id"),
	E(AUDIO_MIXING, 8, "AUDIO_MIXING_ERROR_ID_TYPE_INVALID_PITCH", ERROR, 400,
	  "pitch out of range [-12, 12]"),
	E(AUDIO_MIXING, 9, "AUDIO_MIXING_ERROR_INVALID_AUDIO_TRACK", ERROR, 400,
	  "audio track index out of range"),
	E(AUDIO_MIXING, 10, "AUDIO_MIXING_ERROR_IS_STARTING", ERROR, 409,
	  "mixing is still starting"),
	E(AUDIO_MIXING, 11, "AUDIO_MIXING_ERROR_INVALID_PLAYBACK_SPEED", ERROR, 400,
	  "playback speed out of range [50, 200]"),

	/* ---- stream_mixing: StreamMixingEventErrorCode */
	E(STREAM_MIXING, 0, "ERR_OK", STATE, 200, "ok"),
	E(STREAM_MIXING, 1, "ERR_PARAM_INVALID", ERROR, 400, "invalid push parameters"),
	E(STREAM_MIXING, 2, "ERR_FRAME_TIMEOUT", ERROR, 504,
	  "connection to the server failed; reconnecting"),
	E(STREAM_MIXING, 3, "ERR_POSTPROCESS", ERROR, 502, "mixing service failed; retry"),
	E(STREAM_MIXING, 4, "ERR_PUSH_CDN", ERROR, 502, "push to the cdn failed; retrying"),
	E(STREAM_MIXING, 9999, "ERR_UNKNOWN", ERROR, 500, "unknown push error"),

	/* ---- forward_stream: ForwardStreamError */
	E(FORWARD_STREAM, 0, "FORWARD_STREAM_ERROR_OK", STATE, 200, "ok"),
	E(FORWARD_STREAM, 1201, "FORWARD_STREAM_ERROR_INVALID_ARGUMENT", ERROR, 400,
	  "invalid forwarding argument"),
	E(FORWARD_STREAM, 1202, "FORWARD_STREAM_ERROR_INVALID_TOKEN", ERROR, 401,
	  "target room token is invalid"),
	E(FORWARD_STREAM, 1203, "FORWARD_STREAM_ERROR_RESPONSE", ERROR, 502,
	  "server error while forwarding"),
	E(FORWARD_STREAM, 1204, "FORWARD_STREAM_ERROR_REMOTE_KICKED", ERROR, 409,
	  "target room is the source room or the same user joined it"),
	E(FORWARD_STREAM, 1205, "FORWARD_STREAM_ERROR_NOT_SUPPORT", ERROR, 403,
	  "server does not allow forwarding"),

	/* ---- engine 1000..1999 */
	E(ENGINE, ENGINE_OK, "ENGINE_OK", STATE, 200, "ok"),
	E(ENGINE, ENGINE_STARTED, "ENGINE_STARTED", STATE, 200, "engine started"),
	E(ENGINE, ENGINE_STOPPED, "ENGINE_STOPPED", STATE, 200, "engine stopped"),
	E(ENGINE, ENGINE_XRUN, "ENGINE_XRUN", WARNING, 500, "xrun: a cycle missed its deadline"),
	E(ENGINE, ENGINE_CLOCK_LOST, "ENGINE_CLOCK_LOST", ERROR, 503,
	  "clock backend lost; reconnecting"),
	E(ENGINE, ENGINE_CLOCK_RESTORED, "ENGINE_CLOCK_RESTORED", STATE, 200,
	  "clock backend restored"),
	E(ENGINE, ENGINE_CLOCK_FAILED, "ENGINE_CLOCK_FAILED", ERROR, 503,
	  "clock backend could not be started"),
	E(ENGINE, ENGINE_SAMPLE_RATE_CHANGED, "ENGINE_SAMPLE_RATE_CHANGED", WARNING, 200,
	  "sample rate changed"),
	E(ENGINE, ENGINE_BUFFER_SIZE_CHANGED, "ENGINE_BUFFER_SIZE_CHANGED", INFO, 200,
	  "buffer size changed"),
	E(ENGINE, ENGINE_COMMAND_RING_FULL, "ENGINE_COMMAND_RING_FULL", ERROR, 503,
	  "command ring full: command dropped"),
	E(ENGINE, ENGINE_EVENT_RING_OVERFLOW, "ENGINE_EVENT_RING_OVERFLOW", WARNING, 500,
	  "event ring overflow: events dropped"),
	E(ENGINE, ENGINE_NODE_NOT_FOUND, "ENGINE_NODE_NOT_FOUND", ERROR, 404, "node not found"),
	E(ENGINE, ENGINE_INVALID_GAIN, "ENGINE_INVALID_GAIN", ERROR, 400, "gain out of range"),
	E(ENGINE, ENGINE_INVALID_PAN, "ENGINE_INVALID_PAN", ERROR, 400,
	  "pan out of range [-1, 1]"),
	E(ENGINE, ENGINE_TOO_MANY_NODES, "ENGINE_TOO_MANY_NODES", ERROR, 409,
	  "graph node limit reached"),
	E(ENGINE, ENGINE_TAP_OVERRUN, "ENGINE_TAP_OVERRUN", WARNING, 500,
	  "tap ring full: audio dropped for a slow reader"),
	E(ENGINE, ENGINE_CONFIG_RELOADED, "ENGINE_CONFIG_RELOADED", STATE, 200,
	  "configuration reloaded"),
	E(ENGINE, ENGINE_RT_PRIORITY_DENIED, "ENGINE_RT_PRIORITY_DENIED", WARNING, 500,
	  "real-time priority denied: running without it"),
	E(ENGINE, ENGINE_INVALID_NODE, "ENGINE_INVALID_NODE", ERROR, 400,
	  "invalid node description"),
	E(ENGINE, ENGINE_PERIOD_TOO_LARGE, "ENGINE_PERIOD_TOO_LARGE", ERROR, 400,
	  "period larger than the engine supports"),
	E(ENGINE, ENGINE_SOURCE_UNDERRUN, "ENGINE_SOURCE_UNDERRUN", WARNING, 500,
	  "source underrun: its reader fell behind, silence played"),
	E(ENGINE, ENGINE_RTP_DROPPED, "ENGINE_RTP_DROPPED", WARNING, 400,
	  "datagrams dropped on a remote track's port: not RTP/Opus, or from another source"),
	E(ENGINE, ENGINE_RTP_SEND_FAILED, "ENGINE_RTP_SEND_FAILED", ERROR, 502,
	  "a mix-minus return could not be sent"),

	/* ---- config 2000..2999 */
	E(CONFIG, CONFIG_INVALID_VALUE, "CONFIG_INVALID_VALUE", ERROR, 400, "invalid value"),
	E(CONFIG, CONFIG_UNKNOWN_KEY, "CONFIG_UNKNOWN_KEY", ERROR, 400, "unknown key"),
	E(CONFIG, CONFIG_UNKNOWN_SECTION, "CONFIG_UNKNOWN_SECTION", ERROR, 400, "unknown section"),
	E(CONFIG, CONFIG_SYNTAX, "CONFIG_SYNTAX", ERROR, 400, "syntax error"),
	E(CONFIG, CONFIG_FILE_UNREADABLE, "CONFIG_FILE_UNREADABLE", ERROR, 500,
	  "configuration file cannot be read"),
	E(CONFIG, CONFIG_RELOAD_REJECTED, "CONFIG_RELOAD_REJECTED", ERROR, 400,
	  "reload rejected: the running configuration is kept"),
	E(CONFIG, CONFIG_NEEDS_RESTART, "CONFIG_NEEDS_RESTART", WARNING, 200,
	  "changed keys take effect after a restart"),
	E(CONFIG, CONFIG_WRITE_FAILED, "CONFIG_WRITE_FAILED", ERROR, 500,
	  "configuration file cannot be written"),

	/* ---- history 3000..3999 */
	E(HISTORY, HISTORY_OPEN_FAILED, "HISTORY_OPEN_FAILED", ERROR, 500,
	  "history database cannot be opened; keeping history in memory"),
	E(HISTORY, HISTORY_WRITE_FAILED, "HISTORY_WRITE_FAILED", ERROR, 500,
	  "history rows could not be written"),
	E(HISTORY, HISTORY_ROWS_DROPPED, "HISTORY_ROWS_DROPPED", WARNING, 500,
	  "history queue full: rows dropped"),
	E(HISTORY, HISTORY_DATABASE_LOCKED, "HISTORY_DATABASE_LOCKED", WARNING, 503,
	  "history database was locked: rows were written late"),
	E(HISTORY, HISTORY_DATABASE_CORRUPT, "HISTORY_DATABASE_CORRUPT", ERROR, 500,
	  "history database is corrupt; keeping history in memory"),
	E(HISTORY, HISTORY_RECOVERED, "HISTORY_RECOVERED", STATE, 200,
	  "history database usable again"),

	/* ---- api 4000..4999 */
	E(API, API_BAD_JSON, "API_BAD_JSON", ERROR, 400, "request body is not valid json"),
	E(API, API_UNKNOWN_FIELD, "API_UNKNOWN_FIELD", ERROR, 400, "unknown field"),
	E(API, API_WRONG_TYPE, "API_WRONG_TYPE", ERROR, 400, "field has the wrong type"),
	E(API, API_OUT_OF_RANGE, "API_OUT_OF_RANGE", ERROR, 400, "value out of range"),
	E(API, API_MISSING_FIELD, "API_MISSING_FIELD", ERROR, 400, "required field missing"),
	E(API, API_BODY_TOO_LARGE, "API_BODY_TOO_LARGE", ERROR, 413, "request body too large"),
	E(API, API_NOT_FOUND, "API_NOT_FOUND", ERROR, 404, "no such resource"),
	E(API, API_METHOD_NOT_ALLOWED, "API_METHOD_NOT_ALLOWED", ERROR, 405,
	  "method not allowed on this resource"),
	E(API, API_UNAUTHORIZED, "API_UNAUTHORIZED", ERROR, 401,
	  "missing or wrong bearer token"),
	E(API, API_BAD_QUERY, "API_BAD_QUERY", ERROR, 400, "invalid query parameter"),
	E(API, API_INTERNAL, "API_INTERNAL", ERROR, 500, "internal error"),
	E(API, API_UNSUPPORTED_MEDIA_TYPE, "API_UNSUPPORTED_MEDIA_TYPE", ERROR, 415,
	  "request body must be application/json"),
	E(API, API_TOO_MANY_SUBSCRIBERS, "API_TOO_MANY_SUBSCRIBERS", ERROR, 429,
	  "too many event subscribers"),
	E(API, API_FORBIDDEN, "API_FORBIDDEN", ERROR, 403,
	  "this role may not do this: log in as admin"),
	E(API, API_CSRF_FAILED, "API_CSRF_FAILED", ERROR, 403,
	  "missing or wrong X-CSRF-Token header"),
	E(API, API_RATE_LIMITED, "API_RATE_LIMITED", WARNING, 429,
	  "too many failed logins from this address: try again later"),
	E(API, API_ALREADY_EXISTS, "API_ALREADY_EXISTS", ERROR, 409, "already exists"),
	E(API, API_NOT_AUDIO, "API_NOT_AUDIO", ERROR, 415,
	  "not an audio file libsndfile can read"),

	/* ---- recorder 5000..5999 */
	E(RECORDER, RECORDER_TAKE_STARTED, "RECORDER_TAKE_STARTED", STATE, 201, "take started"),
	E(RECORDER, RECORDER_TAKE_STOPPED, "RECORDER_TAKE_STOPPED", STATE, 200, "take stopped"),
	E(RECORDER, RECORDER_TAKE_NOT_FOUND, "RECORDER_TAKE_NOT_FOUND", ERROR, 404, "no such take"),
	E(RECORDER, RECORDER_UNKNOWN_TRACK, "RECORDER_UNKNOWN_TRACK", ERROR, 404,
	  "no such track to record"),
	E(RECORDER, RECORDER_INVALID_FORMAT, "RECORDER_INVALID_FORMAT", ERROR, 400,
	  "unsupported file format or sample width"),
	E(RECORDER, RECORDER_TAKE_RUNNING, "RECORDER_TAKE_RUNNING", ERROR, 409,
	  "take is still recording"),
	E(RECORDER, RECORDER_NOT_RECORDING, "RECORDER_NOT_RECORDING", ERROR, 409,
	  "take is not recording"),
	E(RECORDER, RECORDER_TOO_MANY_TRACKS, "RECORDER_TOO_MANY_TRACKS", ERROR, 400,
	  "too many tracks in one take"),
	E(RECORDER, RECORDER_OVERRUN, "RECORDER_OVERRUN", WARNING, 500,
	  "writer fell behind: frames dropped and replaced by silence"),
	E(RECORDER, RECORDER_DISK_LOW, "RECORDER_DISK_LOW", WARNING, 507,
	  "free space on the recordings disk is low"),
	E(RECORDER, RECORDER_DISK_FULL, "RECORDER_DISK_FULL", ERROR, 507,
	  "recordings disk is full: take stopped"),
	E(RECORDER, RECORDER_WRITE_FAILED, "RECORDER_WRITE_FAILED", ERROR, 500,
	  "writing a take failed: take stopped"),
	E(RECORDER, RECORDER_OPEN_FAILED, "RECORDER_OPEN_FAILED", ERROR, 500,
	  "cannot create a take file"),
	E(RECORDER, RECORDER_FILE_RECOVERED, "RECORDER_FILE_RECOVERED", WARNING, 200,
	  "unfinished take file recovered"),
	E(RECORDER, RECORDER_RECOVERY_FAILED, "RECORDER_RECOVERY_FAILED", ERROR, 500,
	  "unfinished take file could not be recovered"),
	E(RECORDER, RECORDER_TOO_MANY_TAKES, "RECORDER_TOO_MANY_TAKES", ERROR, 409,
	  "too many takes at once"),
	E(RECORDER, RECORDER_TOO_MANY_MARKERS, "RECORDER_TOO_MANY_MARKERS", ERROR, 409,
	  "too many markers in one take"),
	E(RECORDER, RECORDER_FILE_NOT_FOUND, "RECORDER_FILE_NOT_FOUND", ERROR, 404,
	  "no such file in the take"),
	E(RECORDER, RECORDER_RANGE_NOT_SATISFIABLE, "RECORDER_RANGE_NOT_SATISFIABLE", ERROR, 416,
	  "requested range lies beyond the end of the file"),
	E(RECORDER, RECORDER_LOGGER_PRUNED, "RECORDER_LOGGER_PRUNED", STATE, 200,
	  "logger file deleted by the retention rules"),
};

/* Extra names accepted by airmix_error_by_name(): spellings other SDKs use. */
static const struct {
	const char *alias;
	const char *name;
} error_aliases[] = {
	{ "AUDIO_MIXING_ERROR_INVALID_PITCH", "AUDIO_MIXING_ERROR_ID_TYPE_INVALID_PITCH" },
	{ "AUDIO_DEVICE_RECORD_FAILED", "AUDIO_DEVICE_TEST_FAILED" },
};

static const char *const domain_names[AIRMIX_DOMAIN_COUNT] = {
	[AIRMIX_DOMAIN_RTC] = "rtc",
	[AIRMIX_DOMAIN_AUDIO_MIXING] = "audio_mixing",
	[AIRMIX_DOMAIN_STREAM_MIXING] = "stream_mixing",
	[AIRMIX_DOMAIN_FORWARD_STREAM] = "forward_stream",
	[AIRMIX_DOMAIN_ENGINE] = "engine",
	[AIRMIX_DOMAIN_CONFIG] = "config",
	[AIRMIX_DOMAIN_HISTORY] = "history",
	[AIRMIX_DOMAIN_API] = "api",
	[AIRMIX_DOMAIN_RECORDER] = "recorder",
};

/* Any thread. "unknown" for a value outside the enum. */
const char *airmix_domain_name(enum airmix_domain domain)
{
	if ((unsigned)domain >= AIRMIX_DOMAIN_COUNT)
		return "unknown";
	return domain_names[domain];
}

/* Any thread. */
int airmix_domain_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int d = 0; d < AIRMIX_DOMAIN_COUNT; d++)
		if (strcmp(domain_names[d], name) == 0)
			return d;
	return -1;
}

/* Any thread. */
const char *airmix_level_name(enum airmix_level level)
{
	switch (level) {
	case AIRMIX_LEVEL_ERROR:
		return "error";
	case AIRMIX_LEVEL_WARNING:
		return "warning";
	case AIRMIX_LEVEL_STATE:
		return "state";
	case AIRMIX_LEVEL_INFO:
		return "info";
	}
	return "unknown";
}

/* Any thread. */
const struct airmix_error_def *airmix_error_find(enum airmix_domain domain, int code)
{
	for (size_t i = 0; i < airmix_error_count(); i++)
		if (error_table[i].domain == domain && error_table[i].code == code)
			return &error_table[i];
	return NULL;
}

static const struct airmix_error_def *find_name(const char *name)
{
	for (size_t i = 0; i < airmix_error_count(); i++)
		if (strcmp(error_table[i].name, name) == 0)
			return &error_table[i];
	return NULL;
}

/* Any thread. */
const struct airmix_error_def *airmix_error_by_name(const char *name)
{
	const struct airmix_error_def *def;

	if (!name)
		return NULL;
	def = find_name(name);
	if (def)
		return def;
	for (size_t i = 0; i < sizeof(error_aliases) / sizeof(error_aliases[0]); i++)
		if (strcmp(error_aliases[i].alias, name) == 0)
			return find_name(error_aliases[i].name);
	return NULL;
}

/* Any thread. */
size_t airmix_error_count(void)
{
	return sizeof(error_table) / sizeof(error_table[0]);
}

/* Any thread. NULL past the end. */
const struct airmix_error_def *airmix_error_at(size_t index)
{
	if (index >= airmix_error_count())
		return NULL;
	return &error_table[index];
}
