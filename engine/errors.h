/* errors.h - the one table of every code airmix can report (DESIGN §5).
 *
 * Codes are grouped by domain and never renumbered. The seed domains follow the
 * reference documents exactly:
 *   rtc             the Web SDK ErrorCode strings; numeric codes are the native
 *                   3.58 values where one exists (-1000 INVALID_TOKEN ...), else
 *                   airmix-assigned values in -1900..-1999 (documented in errors.c)
 *   audio_mixing    AudioMixingError 0..11
 *   stream_mixing   StreamMixingEventErrorCode 0,1,2,3,4,9999
 *   forward_stream  ForwardStreamError 0,1201..1205
 * airmix's own domains use ranges of their own:
 *   engine 1000..1999, config 2000..2999, history 3000..3999, api 4000..4999,
 *   recorder 5000..5999.
 *
 * Threads: the table is constant; any thread may read it.
 */
#ifndef AIRMIX_ERRORS_H
#define AIRMIX_ERRORS_H

#include <stddef.h>

enum airmix_domain {
	AIRMIX_DOMAIN_RTC,
	AIRMIX_DOMAIN_AUDIO_MIXING,
	AIRMIX_DOMAIN_STREAM_MIXING,
	AIRMIX_DOMAIN_FORWARD_STREAM,
	AIRMIX_DOMAIN_ENGINE,
	AIRMIX_DOMAIN_CONFIG,
	AIRMIX_DOMAIN_HISTORY,
	AIRMIX_DOMAIN_API,
	AIRMIX_DOMAIN_RECORDER,
	AIRMIX_DOMAIN_COUNT
};

/* Severity of a report; stored in the history as text. */
enum airmix_level {
	AIRMIX_LEVEL_ERROR,
	AIRMIX_LEVEL_WARNING,
	AIRMIX_LEVEL_STATE,	/* a state change, not a fault */
	AIRMIX_LEVEL_INFO,
};

/* airmix's own codes. */
enum airmix_engine_code {
	ENGINE_OK = 0,
	ENGINE_STARTED = 1000,
	ENGINE_STOPPED = 1001,
	ENGINE_XRUN = 1002,
	ENGINE_CLOCK_LOST = 1003,
	ENGINE_CLOCK_RESTORED = 1004,
	ENGINE_CLOCK_FAILED = 1005,
	ENGINE_SAMPLE_RATE_CHANGED = 1006,
	ENGINE_BUFFER_SIZE_CHANGED = 1007,
	ENGINE_COMMAND_RING_FULL = 1008,
	ENGINE_EVENT_RING_OVERFLOW = 1009,
	ENGINE_NODE_NOT_FOUND = 1010,
	ENGINE_INVALID_GAIN = 1011,
	ENGINE_INVALID_PAN = 1012,
	ENGINE_TOO_MANY_NODES = 1013,
	ENGINE_TAP_OVERRUN = 1014,
	ENGINE_CONFIG_RELOADED = 1015,
	ENGINE_RT_PRIORITY_DENIED = 1016,
	ENGINE_INVALID_NODE = 1017,
	ENGINE_PERIOD_TOO_LARGE = 1018,
	ENGINE_SOURCE_UNDERRUN = 1019,
	ENGINE_RTP_DROPPED = 1030,	/* remote tracks (engine/rtc/media.c) */
	ENGINE_RTP_SEND_FAILED = 1031,
};

enum airmix_config_code {
	CONFIG_INVALID_VALUE = 2000,
	CONFIG_UNKNOWN_KEY = 2001,
	CONFIG_UNKNOWN_SECTION = 2002,
	CONFIG_SYNTAX = 2003,
	CONFIG_FILE_UNREADABLE = 2004,
	CONFIG_RELOAD_REJECTED = 2005,
	CONFIG_NEEDS_RESTART = 2006,
	CONFIG_WRITE_FAILED = 2007,
};

enum airmix_history_code {
	HISTORY_OPEN_FAILED = 3000,
	HISTORY_WRITE_FAILED = 3001,
	HISTORY_ROWS_DROPPED = 3002,
	HISTORY_DATABASE_LOCKED = 3003,
	HISTORY_DATABASE_CORRUPT = 3004,
	HISTORY_RECOVERED = 3005,
};

enum airmix_api_code {
	API_BAD_JSON = 4000,
	API_UNKNOWN_FIELD = 4001,
	API_WRONG_TYPE = 4002,
	API_OUT_OF_RANGE = 4003,
	API_MISSING_FIELD = 4004,
	API_BODY_TOO_LARGE = 4005,
	API_NOT_FOUND = 4006,
	API_METHOD_NOT_ALLOWED = 4007,
	API_UNAUTHORIZED = 4008,
	API_BAD_QUERY = 4009,
	API_INTERNAL = 4010,
	API_UNSUPPORTED_MEDIA_TYPE = 4011,
	API_TOO_MANY_SUBSCRIBERS = 4012,
	API_FORBIDDEN = 4013,
	API_CSRF_FAILED = 4014,
	API_RATE_LIMITED = 4015,
	API_ALREADY_EXISTS = 4016,
	API_NOT_AUDIO = 4017,
};

enum airmix_recorder_code {
	RECORDER_TAKE_STARTED = 5000,
	RECORDER_TAKE_STOPPED = 5001,
	RECORDER_TAKE_NOT_FOUND = 5002,
	RECORDER_UNKNOWN_TRACK = 5003,
	RECORDER_INVALID_FORMAT = 5004,
	RECORDER_TAKE_RUNNING = 5005,
	RECORDER_NOT_RECORDING = 5006,
	RECORDER_TOO_MANY_TRACKS = 5007,
	RECORDER_OVERRUN = 5008,
	RECORDER_DISK_LOW = 5009,
	RECORDER_DISK_FULL = 5010,
	RECORDER_WRITE_FAILED = 5011,
	RECORDER_OPEN_FAILED = 5012,
	RECORDER_FILE_RECOVERED = 5013,
	RECORDER_RECOVERY_FAILED = 5014,
	RECORDER_TOO_MANY_TAKES = 5015,
	RECORDER_TOO_MANY_MARKERS = 5016,
	RECORDER_FILE_NOT_FOUND = 5017,
	RECORDER_RANGE_NOT_SATISFIABLE = 5018,
	RECORDER_LOGGER_PRUNED = 5019,
};

struct airmix_error_def {
	enum airmix_domain domain;
	int code;
	const char *name;	/* e.g. "AUDIO_MIXING_ERROR_INVALID_VOLUME" */
	enum airmix_level level;
	int http_status;	/* status used when this code answers a request */
	const char *message;	/* default text: lowercase, no full stop */
};

const char *airmix_domain_name(enum airmix_domain domain);
/* -1 when the name is unknown. */
int airmix_domain_from_name(const char *name);
const char *airmix_level_name(enum airmix_level level);

/* NULL when (domain, code) is not in the table. */
const struct airmix_error_def *airmix_error_find(enum airmix_domain domain, int code);
/* Looks a code up by its name in any domain; NULL when unknown. */
const struct airmix_error_def *airmix_error_by_name(const char *name);
size_t airmix_error_count(void);
const struct airmix_error_def *airmix_error_at(size_t index);

#endif
