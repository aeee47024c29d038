/* recorder.h - disk takes: any set of graph outputs recorded to one file per
 * track, lined up to the sample, crash-safe.
 *
 * DESIGN
 * A take opens one tap per track with a single engine_tap_open_many() call,
 * so every track starts on the same cycle. One writer thread per take drains
 * the taps into libsndfile files: before each read it asks tap_next_gap() and
 * writes silence of exactly the dropped length, so an overrun (a slow disk)
 * never shifts the timeline; overruns are counted and reported (rate-limited).
 * Files are written as NAME.part; on a timer the writer makes each header
 * valid (SFC_UPDATE_HEADER_NOW) and calls fdatasync(), and a clean stop
 * finalises the header and renames NAME.part to NAME (never over an existing
 * file). recorder_recover() repairs and renames the .part files a crash left.
 * Free space is checked before and during a take; below the floor, or on a
 * write error, the take stops cleanly with an error row.
 *
 * WAV is written as RF64 with automatic downgrade: a plain WAV (with a BWF
 * bext chunk; its WAVE_FORMAT_EXTENSIBLE fmt chunk is made plain PCM or IEEE
 * float when the file is final) up to 4 GiB, RF64 beyond. FLAC is 16 or 24
 * bit.
 *
 * Split: with split_frames, every track closes its file and opens the next
 * part (NAME-partNN, the template's time fields at the cut) when its stream
 * position reaches a multiple of split_frames, so part k of every track
 * holds exactly frames [k*split, (k+1)*split) of the take: the parts
 * concatenate to the unsplit take, sample for sample. A finished part is
 * final (renamed) at once.
 *
 * Stopping: every track ends at the same stream position (the furthest one
 * the writer saw when asked to stop), so all files of a take have the same
 * length.
 *
 * Threads: every public function may be called from any non-RT thread; the
 * writer threads are internal. Never from the RT thread.
 */
#ifndef AIRMIX_RECORDER_H
#define AIRMIX_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

#define RECORDER_MAX_TRACKS 16
#define RECORDER_MAX_TAKES 64
#define RECORDER_PATH_MAX 1024
#define RECORDER_MAX_MARKERS 128
#define RECORDER_LABEL_MAX 64

struct recorder;

struct recorder_config {
	const char *dir;		/* recordings directory (must exist) */
	const char *name_template;	/* strftime fields and {track}; NULL = default */
	uint32_t header_interval_ms;	/* 0 = 1000 */
	uint32_t ring_ms;		/* tap ring per track; 0 = 4000 */
	uint64_t warn_free_mb;
	uint64_t min_free_mb;		/* 0 = record until a write fails */
};

enum recorder_format {
	RECORDER_FORMAT_WAV,		/* WAV/BWF, RF64 beyond 4 GiB */
	RECORDER_FORMAT_FLAC,
};

struct take_request {
	const uint32_t *tracks;		/* node ids: ENGINE_BUS_PUBLISH, _PLAYOUT, sources */
	uint32_t n_tracks;
	bool mix;			/* add the publish bus as a stem if not listed */
	enum recorder_format format;
	int bits;			/* 16, 24; 32 = float (WAV only) */
	const char *name_template;	/* NULL = the recorder's */
	const char *description;	/* BWF description; NULL = "airmix take N" */
	const char *request;		/* stored with the history rows; NULL = none */
	uint64_t split_frames;		/* a new part every this many frames; 0 = one file */
	/* Logger mode (radio): split_frames is ignored; parts are cut when the
	 * local time of day is a multiple of logger_period_s (3600: the top of
	 * each hour; the first part is shorter, then every part is exactly
	 * period_s * rate frames), files are named logger-%Y%m%d-%H%M%S-{track}
	 * at the cut, and after each cut the files named logger-* in the
	 * directory older than keep_days, then the oldest beyond max_mb in all,
	 * are deleted (one RECORDER_LOGGER_PRUNED row each). */
	bool logger;
	uint32_t logger_period_s;	/* 0 = 3600 */
	uint32_t logger_keep_days;	/* 0 = no age limit */
	uint64_t logger_max_mb;		/* 0 = no size limit */
};

enum take_state {
	TAKE_RECORDING,
	TAKE_STOPPED,			/* stopped on request */
	TAKE_FAILED,			/* stopped by a disk or write error; files valid */
};

struct take_file {
	uint32_t node_id;
	char track[ENGINE_NAME_MAX];	/* publish, playout or the node's name */
	char path[RECORDER_PATH_MAX];	/* NAME.part while recording */
	uint64_t bytes;
	uint64_t frames;
	uint64_t dropped_frames;	/* overruns, written as silence */
};

/* A cue point: the take's stream position when it was added. */
struct take_marker {
	uint64_t frame;
	int64_t time_us;		/* wall clock */
	char label[RECORDER_LABEL_MAX];
};

struct take_info {
	int id;
	enum take_state state;
	int64_t started_us;		/* wall clock */
	int64_t stopped_us;		/* 0 while recording */
	uint32_t rate;
	uint64_t frames;		/* written to every file so far */
	double seconds;
	enum recorder_format format;
	int bits;
	uint64_t overrun_frames;	/* most dropped on any track */
	int error_code;			/* recorder code that stopped it, 0 = none */
	char error[256];
	uint64_t split_frames;		/* 0 = not split; logger: the period's frames */
	bool logger;			/* a logger take (see take_request) */
	uint32_t part;			/* current part, from 1 (split takes) */
	uint32_t n_files;		/* files of the current part: one per track */
	struct take_file files[RECORDER_MAX_TRACKS];
	uint32_t n_all_files;		/* finished parts' files + the current ones */
	char markers_path[RECORDER_PATH_MAX];	/* sidecar CSV, "" until a marker */
	uint32_t n_markers;
	struct take_marker markers[RECORDER_MAX_MARKERS];
};

int recorder_create(struct engine *e, const struct recorder_config *cfg, struct recorder **out);
/* Stops every take (files finalised) and frees. */
void recorder_destroy(struct recorder *r);

/* Starts a take. 0 and *take_id, or: -ENOENT unknown track, -EINVAL bad
 * format/bits/template, -E2BIG too many tracks, -EBUSY too many takes,
 * -ENOSPC below the free-space floor, -EIO a file could not be created. The
 * failure is also reported (history row) with req->request. */
int recorder_start(struct recorder *r, const struct take_request *req, int *take_id);
/* Stops a take and waits until its files are final. -ENOENT, -EALREADY. */
int recorder_stop(struct recorder *r, int take_id);
int recorder_get(struct recorder *r, int take_id, struct take_info *out);
/* Ids of the takes, oldest first; returns how many exist (may exceed max). */
size_t recorder_list(struct recorder *r, int *ids, size_t max);
/* Adds a marker at the take's current position (what the writer has
 * written, within one writer pass of now) and rewrites the sidecar
 * NAME.markers.csv beside the first file (frame,seconds,time_us,label).
 * -ENOENT, -EALREADY not recording, -EOVERFLOW full, -EIO sidecar. */
int recorder_mark(struct recorder *r, int take_id, const char *label, uint64_t *frame);
/* File index of every file the take wrote, finished parts first (in the
 * order they were finished), then files[] of the current part: its path
 * into path. -ENOENT no take, -ERANGE no such file. */
int recorder_file_path(struct recorder *r, int take_id, uint32_t index, char *path, size_t len);
/* Forgets a take and deletes its files (and markers). -ENOENT, -EBUSY while
 * recording. */
int recorder_delete(struct recorder *r, int take_id);

/* Why the last call on this thread failed ("" when it did not say). */
const char *recorder_last_error(void);
/* The recorder code for a negative errno from the calls above. */
int recorder_error_code(int rc);
const char *recorder_state_name(enum take_state s);
const char *recorder_format_name(enum recorder_format f);

/* Start-up, before any take: repairs every *.part in dir (header made to
 * cover all whole frames on disk), renames it to its final name (never over
 * an existing file) and reports a row for each. e may be NULL (no rows).
 * Returns the number of files recovered, or a negative errno. */
int recorder_recover(const char *dir, struct engine *e);

/* Tests: wait until the writers have written everything the taps hold (and,
 * with headers, made the headers valid and synced). 0 or -ETIMEDOUT. */
int recorder_sync(struct recorder *r, bool headers, int timeout_ms);
/* Tests: the writers of running takes sleep ms before their next pass. */
void recorder_debug_stall(struct recorder *r, uint32_t ms);

#endif
