/* push.h - push tasks: the publish bus to an RTMP server (AAC in FLV) or an
 * Icecast server (Opus in Ogg), each task on its own thread with its own tap,
 * encoder and connection, reconnecting by itself.
 *
 * Every start, update and stop, and every connection gained or lost, is a
 * "stream_mixing.event" notice (StreamMixingEventType, with the
 * StreamMixingEventErrorCode as the code) and so a history row.
 *
 * Threads: every function here may be called from any non-RT thread; the
 * manager's mutex serialises them. Each task's own thread does the encoding
 * and the network I/O.
 */
#ifndef AIRMIX_PUSH_H
#define AIRMIX_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct engine;
struct push;

#define PUSH_TASK_ID_MAX 126	/* bytes */
#define PUSH_URL_MAX 1024
#define PUSH_TEXT_MAX 256

/* StreamMixingEventType */
enum push_event {
	PUSH_EVENT_START = 1,
	PUSH_EVENT_START_SUCCESS = 2,
	PUSH_EVENT_START_FAILED = 3,
	PUSH_EVENT_UPDATE = 4,
	PUSH_EVENT_UPDATE_SUCCESS = 5,
	PUSH_EVENT_UPDATE_FAILED = 6,
	PUSH_EVENT_STOP = 7,
	PUSH_EVENT_STOP_SUCCESS = 8,
	PUSH_EVENT_STOP_FAILED = 9,
};

/* StreamMixingEventErrorCode (domain stream_mixing) */
enum push_error {
	PUSH_ERR_OK = 0,
	PUSH_ERR_PARAM_INVALID = 1,
	PUSH_ERR_FRAME_TIMEOUT = 2,	/* server cannot be reached; retrying */
	PUSH_ERR_POSTPROCESS = 3,	/* encoder or muxer failed */
	PUSH_ERR_PUSH_CDN = 4,		/* server dropped or refused the stream; retrying */
	PUSH_ERR_UNKNOWN = 9999,
};

enum push_kind {
	PUSH_RTMP,
	PUSH_ICECAST,
};

enum push_state {
	PUSH_STATE_CONNECTING,
	PUSH_STATE_PUSHING,
	PUSH_STATE_RETRYING,	/* waiting before the next attempt */
};

struct push_config {
	uint32_t max_tasks;
	uint32_t ring_ms;		/* tap ring per task */
	uint32_t timeout_ms;		/* connect, and each send */
	uint32_t backoff_min_ms;	/* first retry delay */
	uint32_t backoff_max_ms;	/* delays double up to this, ±20 % jitter */
	uint32_t probe_ms;		/* liveness probe period while pushing, 0 = off */
};

/* What a task pushes. For RTMP: url, sample_rate, channels, bitrate_kbps,
 * profile ("" = "LC"). For Icecast: host ... description (user "" =
 * "source"), channels, bitrate_kbps; Opus always runs at 48 kHz
 * (sample_rate 0 or 48000). Numbers have no defaults here: the caller fills
 * them (the API uses 48000 Hz, 2 channels, 64 kb/s). */
struct push_params {
	enum push_kind kind;
	char url[PUSH_URL_MAX];
	int sample_rate;
	int channels;
	int bitrate_kbps;
	char profile[16];
	char codec[16];		/* "" or "AAC" (rtmp), "" or "opus" (icecast) */
	char host[PUSH_TEXT_MAX];
	int port;
	char mount[PUSH_TEXT_MAX];
	char user[PUSH_TEXT_MAX];
	char password[PUSH_TEXT_MAX];
	char name[PUSH_TEXT_MAX];
	char genre[PUSH_TEXT_MAX];
	char description[PUSH_TEXT_MAX];
	char title[PUSH_TEXT_MAX];	/* icecast "now playing" set over the API; "" = the
					 * file name of the mixing id last started on the
					 * publish bus */
};

struct push_status {
	char task_id[PUSH_TASK_ID_MAX + 1];
	struct push_params params;	/* password blanked */
	enum push_state state;
	int last_error;			/* enum push_error of the last failure, 0 when none */
	char last_message[PUSH_TEXT_MAX * 2];
	uint64_t attempts;		/* connection attempts */
	uint64_t connects;		/* successful connections */
	uint64_t bytes_sent;
	uint64_t frames_encoded;	/* at the output rate */
	uint64_t frames_dropped;	/* at the tap: the task could not keep up */
	double uptime_s;		/* of the current connection, 0 when not pushing */
	char now_playing[PUSH_TEXT_MAX];	/* icecast: the title in the stream */
};

/* Control thread. */
int push_create(struct engine *e, const struct push_config *cfg, struct push **out);
/* Control thread: stops every task (no events), frees everything. */
void push_destroy(struct push *p);

/* Each returns an enum push_error (0 = accepted) and reports the matching
 * events; msg gets the text of a failure. request (may be NULL) is stored
 * with the history rows. */
int push_start(struct push *p, const char *task_id, const struct push_params *prm,
	       const char *request, char *msg, size_t len);
/* prm holds the wanted settings (fill it from push_get_status and change
 * what the caller asks). RTMP: nothing can change while pushing. Icecast:
 * name, genre and description can (sent on the next connection), and the
 * title (sent at once, in a new Ogg stream on the same connection). */
int push_update(struct push *p, const char *task_id, const struct push_params *prm,
		const char *request, char *msg, size_t len);
int push_stop(struct push *p, const char *task_id, const char *request, char *msg, size_t len);

/* One event of a request refused before it reached the manager (the API's
 * own checks): a notice and a history row like the manager's. */
void push_report(struct push *p, const char *task_id, int event, int code, const char *request,
		 const char *msg);

/* Number of tasks; ids of the first max written to ids. */
size_t push_list(struct push *p, char (*ids)[PUSH_TASK_ID_MAX + 1], size_t max);
/* 0, or -ENOENT when no such task. */
int push_get_status(struct push *p, const char *task_id, struct push_status *st);

/* url with its secrets masked: user:password@ becomes ***@, the query
 * ?... becomes ?***, and the last path element (an RTMP stream key) of a
 * path of two or more elements becomes ***. Any thread. */
void push_redact_url(const char *url, char *out, size_t len);

/* Validate parameters (defaults filled in). PUSH_ERR_OK or
 * PUSH_ERR_PARAM_INVALID with msg. Any thread. */
int push_check_params(struct push_params *prm, char *msg, size_t len);

const char *push_event_name(int event);
const char *push_state_name(enum push_state state);

#endif
