/* mixing.h - the audio mixing manager: clips and music files played under
 * integer mixing ids with the Volcengine IAudioMixingManager semantics
 * (reference: ../shared/reference/volc-api.md §1, §1b, §2, §7).
 *
 * Every call answers synchronously with an AudioMixingError code (0 = OK,
 * 1..11) and, like the reference, also emits the matching
 * onAudioMixingStateChanged event ("audio_mixing.state": id, state, error)
 * through the engine's notices; errors also land in the history. Getters
 * return >= 0 or a negative AudioMixingError.
 *
 * Threads: every function on any non-RT thread (serialised by the manager's
 * mutex). The manager runs one worker thread that decodes ahead into each
 * player's ring, applies pitch and speed, and reports progress, finishes and
 * underruns; the RT thread only copies from the rings (see mixing.c).
 */
#ifndef AIRMIX_MIXING_H
#define AIRMIX_MIXING_H

#include <stdbool.h>
#include <stdint.h>

struct engine;
struct mixing;

enum mixing_state {
	MIXING_PRELOADED = 0,
	MIXING_PLAYING = 1,
	MIXING_PAUSED = 2,
	MIXING_STOPPED = 3,
	MIXING_FAILED = 4,
	MIXING_FINISHED = 5,
};

enum mixing_error {
	MIXING_OK = 0,
	MIXING_PRELOAD_FAILED = 1,
	MIXING_START_FAILED = 2,
	MIXING_ID_NOT_FOUND = 3,
	MIXING_SET_POSITION_FAILED = 4,
	MIXING_INVALID_VOLUME = 5,
	MIXING_LOAD_CONFLICT = 6,
	MIXING_ID_TYPE_NOT_MATCH = 7,
	MIXING_INVALID_PITCH = 8,
	MIXING_INVALID_AUDIO_TRACK = 9,
	MIXING_IS_STARTING = 10,
	MIXING_INVALID_PLAYBACK_SPEED = 11,
};

/* AudioMixingType */
enum mixing_type {
	MIXING_TYPE_PLAYOUT = 0,
	MIXING_TYPE_PUBLISH = 1,
	MIXING_TYPE_PLAYOUT_AND_PUBLISH = 2,
};

enum mixing_dual_mono {
	MIXING_DUAL_MONO_AUTO = 0,
	MIXING_DUAL_MONO_L = 1,
	MIXING_DUAL_MONO_R = 2,
	MIXING_DUAL_MONO_MIX = 3,
};

/* AudioMixingConfig */
struct mixing_start_config {
	int type;			/* enum mixing_type */
	int play_count;			/* <= 0 infinite, 1 once, N times */
	int64_t position_ms;		/* start offset */
	int64_t progress_interval_ms;	/* rounded up to a multiple of 10; <= 0 off */
};

struct mixing_config {
	uint32_t max_ids;		/* concurrent ids (loaded or playing) */
	uint32_t stream_ahead_ms;	/* reader look-ahead for streamed files */
	double preload_max_s;		/* 20 s in the reference */
	const char *media_dirs[4];	/* NULL-terminated; paths are confined to these */
	bool manual;			/* no worker thread: mixing_sync() fills (benchmarks) */
};

struct mixing_info {
	int id;
	int state;			/* enum mixing_state */
	int last_error;			/* enum mixing_error of the last failure, 0 if none */
	char path[4096];
	char format[32];
	bool preloaded;
	int type;
	int play_count;
	int volume[2];			/* percent: playout, publish */
	int pitch;
	int speed;
	int dual_mono;
	double loudness_target;		/* LUFS; > 0 = off */
	double loudness_measured;	/* LUFS of the file, when measured */
	int64_t duration_ms;
	int64_t position_ms;
	int64_t playback_ms;
	int tracks;
	int track;
	int64_t progress_interval_ms;
	uint64_t underruns;
	uint32_t node_id;		/* graph node while playing, else 0 */
};

/* Control thread, after the engine started (needs its rate). */
int mixing_create(struct engine *e, const struct mixing_config *cfg, struct mixing **out);
void mixing_destroy(struct mixing *m);

int mixing_preload(struct mixing *m, int id, const char *path);
int mixing_unload(struct mixing *m, int id);
int mixing_start(struct mixing *m, int id, const char *path, const struct mixing_start_config *c);
int mixing_stop(struct mixing *m, int id);
int mixing_pause(struct mixing *m, int id);
int mixing_resume(struct mixing *m, int id);
void mixing_stop_all(struct mixing *m);
void mixing_pause_all(struct mixing *m);
void mixing_resume_all(struct mixing *m);

int mixing_set_volume(struct mixing *m, int id, int volume, int type);
int mixing_set_pitch(struct mixing *m, int id, int semitones);
int mixing_set_playback_speed(struct mixing *m, int id, int percent);
int mixing_set_position(struct mixing *m, int id, int64_t position_ms);
int mixing_set_dual_mono_mode(struct mixing *m, int id, int mode);
int mixing_set_loudness(struct mixing *m, int id, double lufs);
int mixing_set_progress_interval(struct mixing *m, int id, int64_t interval_ms);
int mixing_select_audio_track(struct mixing *m, int id, int track);

/* >= 0, or -MIXING_ID_NOT_FOUND. */
int64_t mixing_get_duration(struct mixing *m, int id);
int64_t mixing_get_current_position(struct mixing *m, int id);
int64_t mixing_get_playback_duration(struct mixing *m, int id);
int mixing_get_audio_track_count(struct mixing *m, int id);

int mixing_get_info(struct mixing *m, int id, struct mixing_info *out);
/* Ids in use, ascending; returns the count (may exceed max). */
int mixing_list(struct mixing *m, int *ids, int max);

/* The request text (method, path, body) that events emitted by the calling
 * thread's next mixing calls carry into the history; NULL to clear. */
void mixing_set_request(const char *request);

/* Tests on the offline clock: wait until every playing id's ring is full (or
 * its file ended), so that the next cycles are deterministic. */
void mixing_sync(struct mixing *m);

/* The message of the last event a mixing call on this thread emitted (the
 * text for a synchronous error reply). */
const char *mixing_last_message(void);

/* Tests: the worker sleeps ms at its next pass, as a stalled disk would. */
void mixing_debug_stall(struct mixing *m, int ms);

/* Text of states and errors. */
const char *mixing_state_name(int state);
const char *mixing_error_name(int error);

#endif
